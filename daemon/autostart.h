/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <systemd/sd-bus.h>

#include "manager.h"

/* Autostart the systemd way: a container with autostart has its container@NAME.service enabled
 * (multi-user.target wants it), and one with autostart_priority below another autostart
 * container's gets a drop-in container@NAME.service.d/50-containers-manager-order.conf that
 * orders it After= every autostart container of higher priority. Unit files are systemd's
 * (EnableUnitFilesWithFlags, DisableUnitFilesWithFlags, Reload), asked asynchronously. */

#define AUTOSTART_UNIT_DIR "/etc/systemd/system"
#define AUTOSTART_DROPIN_NAME "50-containers-manager-order.conf"

/* "container@<escaped name>.service": %I in the unit gives the name back. */
char *autostart_unit_name(const char *container_name);

/* error is NULL on success, else systemd's answer (or ours, when the call could not be made). */
typedef void (*AutostartCallback)(Manager *m, const sd_bus_error *error, void *userdata);

/* Enables container@enable.service, then disables container@disable.service (either may be
 * NULL; both: a rename). A failed disable undoes the enable (unless it was enabled before).
 * cb (may be NULL) runs once systemd answered; it is not called when this fails. */
int autostart_link_async(Manager *m, const char *enable, const char *disable, AutostartCallback cb, void *userdata);

/* Rewrites the order drop-ins from the containers' policies as they are now, then asks systemd
 * to Reload if a drop-in changed or force_reload; cb (may be NULL) runs after that (a Reload
 * that fails is logged, not passed on: the links are made). cb may run before this returns. */
int autostart_refresh_async(Manager *m, bool force_reload, AutostartCallback cb, void *userdata);

/* Writes the drop-ins the containers need into m->unit_dir and removes ours that no container
 * needs (a directory left empty goes too); >0 if anything changed on disk. */
int autostart_write_dropins(Manager *m);

/* Disables the unit of a container that goes away and rewrites the drop-ins; errors logged. */
void autostart_forget(Manager *m, const char *name);

/* At start: enables the units of autostart containers that are not, disables container@ links
 * of containers that do not exist or have no autostart, rewrites the drop-ins; errors logged. */
int autostart_reconcile(Manager *m);

/* The order drop-in of container name with policy (autostart, priority) among containers
 * (name -> Container*), or NULL when it needs none. */
char *autostart_order_dropin(GHashTable *containers, const char *name, bool autostart, int32_t priority);
