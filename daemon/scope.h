/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "limit.h"
#include "manager.h"

/* The only module that talks to systemd. */
int scope_subscribe(Manager *m);
/* Hears about changes of the container's scope (idempotent; the slot lives in the Container). */
int scope_watch(Manager *m, Container *c);
int scope_start_transient(Manager *m, Container *c, pid_t pid, sd_bus_slot **ret_slot);
/* SetUnitProperties(unit, runtime, every limit), asynchronously: cb gets systemd's reply. */
int scope_set_limits_async(Manager *m, const char *unit, const ContainerLimits *l,
                           sd_bus_message_handler_t cb, void *userdata, sd_bus_slot **ret_slot);
int scope_kill(Manager *m, const char *unit, int signo);
/* StartUnit(unit, "replace"), asynchronously; a failure is logged. */
int systemd_start_unit(Manager *m, const char *unit);
/* Stops the unit (asynchronously): also ends a scope that holds no process any more. */
int scope_stop(Manager *m, const char *unit);
/* The unit's ActiveState, asked asynchronously: cb gets 0 and the state (valid during the call),
 * or a negative errno (-ENOENT: systemd has no such unit). */
typedef void (*ScopeStateCallback)(Manager *m, int error, const char *state, void *userdata);
int scope_get_active_state_async(Manager *m, const char *unit, ScopeStateCallback cb, void *userdata);

typedef struct ScopeAccounting {
        char *control_group;    /* e.g. "/containers.slice/container-web.scope" */
        uint64_t cpu_nsec;      /* UINT64_MAX where systemd has no accounting */
        uint64_t memory_bytes;
        uint64_t tasks;
} ScopeAccounting;

/* What systemd knows of the scope, asked asynchronously: cb gets 0 and the figures (its to
 * free: control_group), or a negative errno (-ENOENT: no such unit). */
typedef void (*ScopeAccountingCallback)(Manager *m, int error, ScopeAccounting *a, void *userdata);
int scope_get_accounting_async(Manager *m, const char *unit, ScopeAccountingCallback cb, void *userdata);

/* Asks systemd, asynchronously, whether the container's scope is still there; if it is gone
 * (no such unit, or inactive/failed), container_scope_gone() runs for the container of that
 * name, if it still exists by then. */
int scope_check_gone_async(Manager *m, Container *c);
