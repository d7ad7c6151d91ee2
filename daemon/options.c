/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "options.h"
#include "util.h"

typedef union OptionValue {
        int b;
        char *s;
        char **as;
        uint32_t u;
        uint64_t t;
        GBytes *ay;
        GPtrArray *sqq;
        GPtrArray *aas;
        int32_t i;
} OptionValue;

static void option_sqq_free(void *p) {
        OptionSqq *o = p;

        g_free(o->s);
        g_free(o);
}

static int read_sqq_array(sd_bus_message *msg, GPtrArray **ret) {
        g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(option_sqq_free);
        const char *s;
        uint16_t q0, q1;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "(sqq)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(msg, "(sqq)", &s, &q0, &q1)) > 0) {
                OptionSqq *o = g_new0(OptionSqq, 1);
                o->s = g_strdup(s);
                o->q[0] = q0;
                o->q[1] = q1;
                g_ptr_array_add(a, o);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&a);
        return 0;
}

static int read_aas(sd_bus_message *msg, GPtrArray **ret) {
        g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "as");
        if (r < 0)
                return r;
        for (;;) {
                char **l = NULL;

                r = sd_bus_message_at_end(msg, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                r = sd_bus_message_read_strv(msg, &l);
                if (r < 0)
                        return r;
                /* sd-bus reads an empty array as NULL */
                g_ptr_array_add(a, l ?: g_new0(char *, 1));
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&a);
        return 0;
}

static void option_value_clear(const char *type, OptionValue *v) {
        if (streq(type, "s"))
                g_free(v->s);
        else if (streq(type, "as") || streq(type, "a{ss}"))
                g_strfreev(v->as);
        else if (streq(type, "ay") && v->ay)
                g_bytes_unref(v->ay);
        else if (streq(type, "a(sqq)") && v->sqq)
                g_ptr_array_unref(v->sqq);
        else if (streq(type, "aas") && v->aas)
                g_ptr_array_unref(v->aas);
}

int bus_read_options(sd_bus_message *msg, const OptionSpec *specs, sd_bus_error *error) {
        size_t n = 0;
        int r;

        while (specs[n].key)
                n++;

        g_autofree OptionValue *values = g_new0(OptionValue, n ?: 1);
        g_autofree bool *seen = g_new0(bool, n ?: 1);

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                goto fail_read;

        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *contents;
                size_t i;
                char type;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        goto fail_read;
                for (i = 0; i < n; i++)
                        if (streq(specs[i].key, key))
                                break;
                if (i >= n) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                        goto fail;
                }
                if (seen[i]) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' given more than once", key);
                        goto fail;
                }
                r = sd_bus_message_peek_type(msg, &type, &contents);
                if (r < 0)
                        goto fail_read;
                if (!streq(contents, specs[i].type)) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                              "Option '%s' must be of type '%s', not '%s'", key, specs[i].type, contents);
                        goto fail;
                }
                r = sd_bus_message_enter_container(msg, 'v', contents);
                if (r < 0)
                        goto fail_read;
                if (streq(contents, "as")) {
                        r = sd_bus_message_read_strv(msg, &values[i].as);
                        /* sd-bus reads an empty array as NULL: given, it is an empty list. */
                        if (r >= 0 && !values[i].as)
                                values[i].as = g_new0(char *, 1);
                } else if (streq(contents, "a{ss}")) {
                        /* Its own checks and messages (names, line breaks, repeats). */
                        r = bus_read_environment(msg, &values[i].as, error);
                        if (r < 0)
                                goto fail;
                } else if (streq(contents, "ay")) {
                        const void *p;
                        size_t size;
                        r = sd_bus_message_read_array(msg, 'y', &p, &size);
                        if (r >= 0)
                                values[i].ay = g_bytes_new(p, size);
                } else if (streq(contents, "a(sqq)"))
                        r = read_sqq_array(msg, &values[i].sqq);
                else if (streq(contents, "aas"))
                        r = read_aas(msg, &values[i].aas);
                else if (streq(contents, "s")) {
                        const char *s;
                        r = sd_bus_message_read(msg, "s", &s);
                        if (r >= 0)
                                values[i].s = g_strdup(s);
                } else
                        r = sd_bus_message_read_basic(msg, contents[0], &values[i]);
                if (r < 0)
                        goto fail_read;
                seen[i] = true;
                r = sd_bus_message_exit_container(msg);
                if (r >= 0)
                        r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        goto fail_read;
        }
        if (r < 0)
                goto fail_read;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                goto fail_read;

        for (size_t i = 0; i < n; i++) {
                if (!seen[i])
                        continue;
                if (streq(specs[i].type, "b"))
                        *(bool *) specs[i].out = values[i].b;
                else if (streq(specs[i].type, "s")) {
                        g_free(*(char **) specs[i].out);
                        *(char **) specs[i].out = values[i].s;
                } else if (streq(specs[i].type, "as") || streq(specs[i].type, "a{ss}")) {
                        g_strfreev(*(char ***) specs[i].out);
                        *(char ***) specs[i].out = values[i].as;
                } else if (streq(specs[i].type, "ay")) {
                        if (*(GBytes **) specs[i].out)
                                g_bytes_unref(*(GBytes **) specs[i].out);
                        *(GBytes **) specs[i].out = values[i].ay;
                } else if (streq(specs[i].type, "a(sqq)")) {
                        if (*(GPtrArray **) specs[i].out)
                                g_ptr_array_unref(*(GPtrArray **) specs[i].out);
                        *(GPtrArray **) specs[i].out = values[i].sqq;
                } else if (streq(specs[i].type, "aas")) {
                        if (*(GPtrArray **) specs[i].out)
                                g_ptr_array_unref(*(GPtrArray **) specs[i].out);
                        *(GPtrArray **) specs[i].out = values[i].aas;
                } else if (streq(specs[i].type, "i"))
                        *(int32_t *) specs[i].out = values[i].i;
                else if (streq(specs[i].type, "u"))
                        *(uint32_t *) specs[i].out = values[i].u;
                else if (streq(specs[i].type, "t"))
                        *(uint64_t *) specs[i].out = values[i].t;
        }
        return 0;

fail_read:
        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Malformed option dictionary: %s", g_strerror(-r));
fail:
        for (size_t i = 0; i < n; i++)
                option_value_clear(specs[i].type, &values[i]);
        return r;
}

int bus_read_environment(sd_bus_message *msg, char ***ret, sd_bus_error *error) {
        GStrvBuilder *b = g_strv_builder_new();
        g_autoptr(GHashTable) keys = g_hash_table_new(g_str_hash, g_str_equal);
        const char *k, *v;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{ss}");
        while (r >= 0 && (r = sd_bus_message_read(msg, "{ss}", &k, &v)) > 0) {
                g_autofree char *assignment = g_strdup_printf("%s=%s", k, v);

                if (!env_name_is_valid(k)) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid environment variable name '%s'", k);
                        break;
                }
                /* sd-bus strings are valid UTF-8: what is left to refuse is a line break */
                if (!env_assignment_is_valid(assignment)) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                              "The value of environment variable '%s' contains a line break", k);
                        break;
                }
                if (!g_hash_table_add(keys, (char *) k)) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Environment variable '%s' given more than once", k);
                        break;
                }
                g_strv_builder_add(b, assignment);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(msg);
        if (r < 0) {
                g_strv_builder_unref(b);
                if (!sd_bus_error_is_set(error))
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Malformed environment: %s", g_strerror(-r));
                return r;
        }
        *ret = g_strv_builder_end(b);
        g_strv_builder_unref(b);
        return 0;
}
