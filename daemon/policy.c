/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>

#include "policy.h"
#include "util.h"

static const char *const restart_policy_table[_RESTART_POLICY_MAX] = {
        [RESTART_NO] = "no",
        [RESTART_ON_FAILURE] = "on-failure",
        [RESTART_ALWAYS] = "always",
};

const char *restart_policy_to_string(RestartPolicy p) {
        return p >= 0 && p < _RESTART_POLICY_MAX ? restart_policy_table[p] : NULL;
}

RestartPolicy restart_policy_from_string(const char *s) {
        for (RestartPolicy p = 0; s && p < _RESTART_POLICY_MAX; p++)
                if (streq(restart_policy_table[p], s))
                        return p;
        return _RESTART_POLICY_INVALID;
}

void policy_init(ContainerPolicy *p) {
        assert(p);
        *p = (ContainerPolicy) {
                .restart = RESTART_NO,
                .restart_max = RESTART_MAX_DEFAULT,
        };
}

void policy_done(ContainerPolicy *p) {
        if (!p)
                return;
        if (p->startup_commands)
                g_ptr_array_unref(p->startup_commands);
        policy_init(p);
}

static GPtrArray *commands_copy(const GPtrArray *a) {
        GPtrArray *copy;

        if (!a || a->len == 0)
                return NULL;
        copy = g_ptr_array_new_full(a->len, (GDestroyNotify) g_strfreev);
        for (guint i = 0; i < a->len; i++)
                g_ptr_array_add(copy, g_strdupv(a->pdata[i]));
        return copy;
}

void policy_copy(ContainerPolicy *dst, const ContainerPolicy *src) {
        assert(dst);
        assert(src);
        *dst = *src;
        dst->startup_commands = commands_copy(src->startup_commands);
}

bool policy_has_startup_commands(const ContainerPolicy *p) {
        return p && p->startup_commands && p->startup_commands->len > 0;
}

bool policy_equal(const ContainerPolicy *a, const ContainerPolicy *b) {
        guint na = a->startup_commands ? a->startup_commands->len : 0;
        guint nb = b->startup_commands ? b->startup_commands->len : 0;

        if (a->autostart != b->autostart || a->autostart_priority != b->autostart_priority ||
            a->restart != b->restart || a->restart_max != b->restart_max || na != nb)
                return false;
        for (guint i = 0; i < na; i++)
                if (!g_strv_equal((const char *const *) a->startup_commands->pdata[i],
                                  (const char *const *) b->startup_commands->pdata[i]))
                        return false;
        return true;
}

void policy_options_init(PolicyOptions *o, const ContainerPolicy *current) {
        assert(o);
        assert(current);
        *o = (PolicyOptions) {
                .autostart = current->autostart,
                .autostart_priority = current->autostart_priority,
                .startup_commands = commands_copy(current->startup_commands),
                .restart = g_strdup(restart_policy_to_string(current->restart)),
                .restart_max = current->restart_max,
        };
}

void policy_options_done(PolicyOptions *o) {
        if (!o)
                return;
        if (o->startup_commands)
                g_ptr_array_unref(o->startup_commands);
        g_free(o->restart);
        *o = (PolicyOptions) {};
}

int policy_options_to_policy(const PolicyOptions *o, ContainerPolicy *ret, sd_bus_error *error) {
        RestartPolicy restart;

        assert(o);
        assert(ret);
        restart = restart_policy_from_string(o->restart);
        if (restart < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'restart' must be 'no', 'on-failure' or 'always', not '%s'",
                                         o->restart ?: "");
        if (o->restart_max < 1 || o->restart_max > RESTART_MAX_LIMIT)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'restart_max' must be in 1..%u, not %u", RESTART_MAX_LIMIT, o->restart_max);
        if (o->startup_commands && o->startup_commands->len > STARTUP_COMMANDS_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'startup_commands' allows at most %u commands, not %u",
                                         STARTUP_COMMANDS_MAX, o->startup_commands->len);
        for (guint i = 0; o->startup_commands && i < o->startup_commands->len; i++) {
                char **argv = o->startup_commands->pdata[i];

                if (!argv || !argv[0] || !argv[0][0])
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'startup_commands': command %u is empty", i + 1);
        }

        policy_done(ret);
        *ret = (ContainerPolicy) {
                .autostart = o->autostart,
                .autostart_priority = o->autostart_priority,
                .startup_commands = commands_copy(o->startup_commands),
                .restart = restart,
                .restart_max = o->restart_max,
        };
        return 0;
}
