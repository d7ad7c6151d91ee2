/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <inttypes.h>

#include "limit.h"
#include "util.h"

static const struct {
        const char *option;
        const char *property;
        uint64_t min, max;
        uint64_t scale;         /* property value = value * scale */
} limit_table[_LIMIT_MAX] = {
        [LIMIT_MEMORY_MAX]        = { "memory_max",        "MemoryMax",          1, UINT64_MAX - 1, 1 },
        [LIMIT_CPU_WEIGHT]        = { "cpu_weight",        "CPUWeight",          1, 10000,          1 },
        /* 100% is one CPU: a second of CPU time each second. */
        [LIMIT_CPU_QUOTA_PERCENT] = { "cpu_quota_percent", "CPUQuotaPerSecUSec", 1, UINT32_MAX - 1, 10000 },
        [LIMIT_TASKS_MAX]         = { "tasks_max",         "TasksMax",           1, UINT64_MAX - 1, 1 },
        [LIMIT_IO_WEIGHT]         = { "io_weight",         "IOWeight",           1, 10000,          1 },
};

void limits_init(ContainerLimits *l) {
        assert(l);
        for (LimitType t = 0; t < _LIMIT_MAX; t++)
                l->value[t] = LIMIT_UNSET;
}

const char *limit_option(LimitType t) {
        return t >= 0 && t < _LIMIT_MAX ? limit_table[t].option : NULL;
}

const char *limit_property(LimitType t) {
        return t >= 0 && t < _LIMIT_MAX ? limit_table[t].property : NULL;
}

uint64_t limit_property_value(LimitType t, uint64_t value) {
        if (t < 0 || t >= _LIMIT_MAX || value == LIMIT_UNSET)
                return UINT64_MAX;
        return value * limit_table[t].scale;
}

void limit_options_init(LimitOptions *o, const ContainerLimits *current) {
        assert(o);
        assert(current);
        for (LimitType t = 0; t < _LIMIT_MAX; t++)
                o->t[t] = current->value[t];
        o->cpu_quota_percent = current->value[LIMIT_CPU_QUOTA_PERCENT] == LIMIT_UNSET ? UINT32_MAX :
                (uint32_t) current->value[LIMIT_CPU_QUOTA_PERCENT];
}

int limit_options_to_limits(const LimitOptions *o, ContainerLimits *ret, sd_bus_error *error) {
        ContainerLimits l;

        assert(o);
        assert(ret);
        for (LimitType t = 0; t < _LIMIT_MAX; t++) {
                uint64_t v = o->t[t];

                if (t == LIMIT_CPU_QUOTA_PERCENT)
                        v = o->cpu_quota_percent == UINT32_MAX ? LIMIT_UNSET : o->cpu_quota_percent;
                if (v != LIMIT_UNSET && (v < limit_table[t].min || v > limit_table[t].max))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' must be in %" PRIu64 "..%" PRIu64
                                                 " (or %s for no limit), not %" PRIu64,
                                                 limit_table[t].option, limit_table[t].min, limit_table[t].max,
                                                 t == LIMIT_CPU_QUOTA_PERCENT ? "4294967295" : "18446744073709551615", v);
                l.value[t] = v;
        }
        *ret = l;
        return 0;
}
