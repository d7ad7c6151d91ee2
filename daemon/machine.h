/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "container.h"

/* Registers a container that just started with systemd-machined (class container, its leader,
 * its root as the host reaches it, its veth), so that machinectl list and status show it.
 * Asynchronous; a failure is logged and never fails the start. machined forgets the machine by
 * itself when the container's scope goes. */
void machine_register(Container *c);

/* systemd-machined lets a machine go some time after its unit ended, and as it does it stops the
 * unit by name (StopUnit): a new scope of the same name started before that would be stopped
 * with it. machine_wait_released() returns 0 when machined holds no machine we registered under
 * the container's name (start at once), or 1 and calls done(c) later, once machined said it let
 * it go (MachineRemoved, or GetMachine knows none) or after MACHINE_WAIT_USEC at most. */
typedef struct MachineWait MachineWait;
#define MACHINE_WAIT_USEC (5 * USEC_PER_SEC)
int machine_wait_released(Container *c, void (*done)(Container *c), MachineWait **ret);
MachineWait *machine_wait_free(MachineWait *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(MachineWait *, machine_wait_free);
