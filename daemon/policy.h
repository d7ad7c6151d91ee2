/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-bus.h>

/* A container's lifecycle policy (Create and Update options; DESIGN.md "Lifecycle policy"):
 * start at boot, commands run at each start before its command, and what happens when its
 * payload ends without a Stop. */
typedef enum RestartPolicy {
        RESTART_NO,
        RESTART_ON_FAILURE,     /* a non-zero exit status or a signal */
        RESTART_ALWAYS,         /* any end that no Stop, Remove or failed start asked for */
        _RESTART_POLICY_MAX,
        _RESTART_POLICY_INVALID = -EINVAL,
} RestartPolicy;

const char *restart_policy_to_string(RestartPolicy p);
RestartPolicy restart_policy_from_string(const char *s);

#define RESTART_MAX_DEFAULT 5u          /* restarts a minute */
#define RESTART_MAX_LIMIT 1000u
#define STARTUP_COMMANDS_MAX 64u

typedef struct ContainerPolicy {
        bool autostart;                 /* container@NAME.service enabled */
        int32_t autostart_priority;     /* higher starts first at boot; default 0 */
        GPtrArray *startup_commands;    /* char** (argv) each, in order; NULL: none */
        RestartPolicy restart;
        uint32_t restart_max;           /* restarts within a minute before it gives up */
} ContainerPolicy;

void policy_init(ContainerPolicy *p);
void policy_done(ContainerPolicy *p);
/* A deep copy (startup commands included). */
void policy_copy(ContainerPolicy *dst, const ContainerPolicy *src);
bool policy_equal(const ContainerPolicy *a, const ContainerPolicy *b);
bool policy_has_startup_commands(const ContainerPolicy *p);

/* Where bus_read_options() puts the options: fill it with policy_options_init() first (the
 * current values, so that what is not given stays as it is), release with policy_options_done(). */
typedef struct PolicyOptions {
        bool autostart;
        int32_t autostart_priority;
        GPtrArray *startup_commands;    /* owned */
        char *restart;                  /* owned */
        uint32_t restart_max;
} PolicyOptions;

#define POLICY_OPTION_SPECS(o)                                                          \
        { "autostart", "b", &(o)->autostart },                                         \
        { "autostart_priority", "i", &(o)->autostart_priority },                       \
        { "startup_commands", "aas", &(o)->startup_commands },                         \
        { "restart", "s", &(o)->restart },                                             \
        { "restart_max", "u", &(o)->restart_max }

void policy_options_init(PolicyOptions *o, const ContainerPolicy *current);
void policy_options_done(PolicyOptions *o);
/* Checks every value (InvalidArgs naming the option); ret (initialized) is replaced on success,
 * untouched on failure. */
int policy_options_to_policy(const PolicyOptions *o, ContainerPolicy *ret, sd_bus_error *error);
