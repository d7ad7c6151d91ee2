/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

#define CM_ACTION_MANAGE "org.containers.manage"
#define CM_ACTION_BUILD  "org.containers.build"
#define CM_ACTION_LOGS   "org.containers.logs"
#define CM_ACTION_PRIVILEGED "org.containers.privileged"
#define CM_ACTION_EXEC   "org.containers.exec"

/* Asks polkit whether the sender of msg may do action. Returns 1 if allowed, 0 if the
 * question is pending (the message is dispatched again once polkit answers: the handler
 * must return 1 and do nothing else), or a negative errno with error set when denied.
 * details: NULL-terminated key, value, key, value, ... list. */
int polkit_check(Manager *m, sd_bus_message *msg, const char *action, const char **details, sd_bus_error *error);
/* The same; interactive=false never asks the person (for checks that only decide how much
 * to show, like Inspect's environment values). */
int polkit_check_full(Manager *m, sd_bus_message *msg, const char *action, const char **details, bool interactive,
                      sd_bus_error *error);
unsigned polkit_registry_size(GHashTable *registry);

void polkit_registry_free(GHashTable *registry);
GHashTable *polkit_registry_new(void);
