/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <inttypes.h>
#include <systemd/sd-bus.h>


/* Resource limits of a container's scope (Create and Update options), passed to systemd as
 * the scope's properties. */
typedef enum LimitType {
        LIMIT_MEMORY_MAX,
        LIMIT_CPU_WEIGHT,
        LIMIT_CPU_QUOTA_PERCENT,
        LIMIT_TASKS_MAX,
        LIMIT_IO_WEIGHT,
        _LIMIT_MAX,
} LimitType;

/* UINT64_MAX: not set (systemd's default: no limit, the default weight). */
#define LIMIT_UNSET UINT64_MAX

typedef struct ContainerLimits {
        uint64_t value[_LIMIT_MAX];
} ContainerLimits;

void limits_init(ContainerLimits *l);

const char *limit_option(LimitType t);          /* "memory_max" */
const char *limit_property(LimitType t);        /* systemd's: "MemoryMax" */
/* The value of the systemd property (UINT64_MAX when unset: "infinity", or the default weight). */
uint64_t limit_property_value(LimitType t, uint64_t value);

/* Where bus_read_options() puts the options: fill it with limit_options_init() first (the
 * current values, so that what is not given stays as it is). cpu_quota_percent is a "u". */
typedef struct LimitOptions {
        uint64_t t[_LIMIT_MAX];
        uint32_t cpu_quota_percent;
} LimitOptions;

#define LIMIT_OPTION_SPECS(o)                                                           \
        { "memory_max", "t", &(o)->t[LIMIT_MEMORY_MAX] },                              \
        { "cpu_weight", "t", &(o)->t[LIMIT_CPU_WEIGHT] },                              \
        { "cpu_quota_percent", "u", &(o)->cpu_quota_percent },                         \
        { "tasks_max", "t", &(o)->t[LIMIT_TASKS_MAX] },                                \
        { "io_weight", "t", &(o)->t[LIMIT_IO_WEIGHT] }

void limit_options_init(LimitOptions *o, const ContainerLimits *current);
/* Checks the ranges (InvalidArgs naming the option and its range); the largest value of the
 * type (t: UINT64_MAX, u: UINT32_MAX) means "no limit". ret untouched on failure. */
int limit_options_to_limits(const LimitOptions *o, ContainerLimits *ret, sd_bus_error *error);
