/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "container.h"

/* Registers a container that just started with systemd-machined (class container, its leader,
 * its root as the host reaches it, its veth), so that machinectl list and status show it.
 * Asynchronous; a failure is logged and never fails the start. machined forgets the machine by
 * itself when the container's scope goes. */
void machine_register(Container *c);
