/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

#define MANAGER_BUS_NAME "org.containers.Manager"
#define MANAGER_PATH     "/org/containers/Manager"
#define MANAGER_IFACE    "org.containers.Manager"

/* Registers the manager, the ObjectManager and the fallback vtables for containers and images. */
int manager_bus_register(Manager *m);

void manager_send_container_new(Manager *m, Container *c);
void manager_send_container_removed(Manager *m, Container *c);

/* More methods of org.containers.Manager, one vtable per concern: images and containers that
 * move (transfer-dbus.c). */
extern const sd_bus_vtable manager_transfer_vtable[];
