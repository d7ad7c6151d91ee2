/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "bus-util.h"
#include "errors.h"
#include "limit.h"
#include "options.h"
#include "policy.h"
#include "util.h"

/* Builds a sealed message carrying one a{sv} (and an a{ss} before it when env is set),
 * without any connection: the parser only reads messages. */
static sd_bus_message *make_message(sd_bus *bus, const char *types, ...) {
        sd_bus_message *m = NULL;
        va_list ap;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, "org.example", "/", "org.example", "X"), >=, 0);
        va_start(ap, types);
        g_assert_cmpint(sd_bus_message_appendv(m, types, ap), >=, 0);
        va_end(ap);
        g_assert_cmpint(sd_bus_message_seal(m, 1, 0), >=, 0);
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
        return m;
}

/* A bus over one end of a socketpair: enough to make messages, no daemon needed. */
static sd_bus *new_bus(void) {
        sd_bus *bus = NULL;
        int fds[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
        g_assert_cmpint(sd_bus_new(&bus), >=, 0);
        g_assert_cmpint(sd_bus_set_fd(bus, fds[0], fds[0]), >=, 0);
        g_assert_cmpint(sd_bus_start(bus), >=, 0);
        close(fds[1]);
        return bus;
}

static void test_options_ok(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = new_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_auto(GStrv) command = NULL;
        bool start = true, ephemeral = false;

        m = make_message(bus, "a{sv}", 2, "start", "b", 0, "command", "as", 2, "echo", "hi");
        g_assert_cmpint(bus_read_options(m, (const OptionSpec[]) {
                { "start", "b", &start },
                { "command", "as", &command },
                { "ephemeral", "b", &ephemeral },
                {}
        }, &e), ==, 0);
        g_assert_false(start);
        g_assert_false(ephemeral);
        g_assert_cmpuint(g_strv_length(command), ==, 2);
        g_assert_cmpstr(command[1], ==, "hi");
}

static void expect_invalid(const char *types, const char *expect_in_message, ...) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = new_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_auto(GStrv) command = NULL;
        bool start = true;
        va_list ap;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, "org.example", "/", "org.example", "X"), >=, 0);
        va_start(ap, expect_in_message);
        g_assert_cmpint(sd_bus_message_appendv(m, types, ap), >=, 0);
        va_end(ap);
        g_assert_cmpint(sd_bus_message_seal(m, 1, 0), >=, 0);
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);

        g_assert_cmpint(bus_read_options(m, (const OptionSpec[]) {
                { "start", "b", &start },
                { "command", "as", &command },
                {}
        }, &e), ==, -EINVAL);
        g_assert_true(sd_bus_error_has_name(&e, SD_BUS_ERROR_INVALID_ARGS));
        g_assert_nonnull(strstr(e.message, expect_in_message));
        /* nothing was written */
        g_assert_true(start);
        g_assert_null(command);
}

static void test_options_invalid(void) {
        expect_invalid("a{sv}", "Unknown option 'bogus'", 1, "bogus", "b", 1);
        expect_invalid("a{sv}", "Option 'start' must be of type 'b', not 's'", 1, "start", "s", "yes");
        expect_invalid("a{sv}", "Option 'command' must be of type 'as', not 's'", 1, "command", "s", "echo");
        expect_invalid("a{sv}", "given more than once", 2, "start", "b", 0, "start", "b", 0);
        /* a valid key followed by a bad one: the first is not applied either */
        expect_invalid("a{sv}", "Unknown option", 2, "start", "b", 0, "x", "u", 1);
}

static void test_environment(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = new_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *bad = NULL, *dup = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_auto(GStrv) env = NULL;

        m = make_message(bus, "a{ss}", 2, "A", "1", "GREETING", "hello world");
        g_assert_cmpint(bus_read_environment(m, &env, &e), ==, 0);
        g_assert_cmpstr(env[0], ==, "A=1");
        g_assert_cmpstr(env[1], ==, "GREETING=hello world");
        g_assert_null(env[2]);

        bad = make_message(bus, "a{ss}", 1, "BAD-NAME", "x");
        g_clear_pointer(&env, g_strfreev);
        g_assert_cmpint(bus_read_environment(bad, &env, &e), ==, -EINVAL);
        g_assert_nonnull(strstr(e.message, "BAD-NAME"));
        g_assert_null(env);
        sd_bus_error_free(&e);

        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *nl = NULL;
                nl = make_message(bus, "a{ss}", 1, "A", "x\nlxc.mount.entry = / host none bind 0 0");
                g_assert_cmpint(bus_read_environment(nl, &env, &e), ==, -EINVAL);
                g_assert_nonnull(strstr(e.message, "'A' contains a line break"));
                g_assert_null(env);
                sd_bus_error_free(&e);
        }

        dup = make_message(bus, "a{ss}", 2, "A", "1", "A", "2");
        g_assert_cmpint(bus_read_environment(dup, &env, &e), ==, -EINVAL);
        g_assert_nonnull(strstr(e.message, "more than once"));
}

/* The types Exec's options need: a{ss} (checked like an environment) and ay. */
static void test_options_env_bytes(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = new_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *bad = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_auto(GStrv) env = NULL;
        g_autoptr(GBytes) input = NULL;
        const uint8_t data[] = { 'h', 0, 0xff };
        const uint8_t *p;
        size_t size;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, "org.example", "/", "org.example", "X"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "{sv}", "environment", "a{ss}", 2, "A", "1", "B", "x y"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", "stdin"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'v', "ay"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_array(m, 'y', data, sizeof(data)), >=, 0);
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_seal(m, 1, 0), >=, 0);
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
        g_assert_cmpint(bus_read_options(m, (const OptionSpec[]) {
                { "environment", "a{ss}", &env },
                { "stdin", "ay", &input },
                {}
        }, &e), ==, 0);
        g_assert_cmpuint(g_strv_length(env), ==, 2);
        g_assert_cmpstr(env[1], ==, "B=x y");
        p = g_bytes_get_data(input, &size);
        g_assert_cmpuint(size, ==, sizeof(data));
        g_assert_cmpint(memcmp(p, data, size), ==, 0);

        /* a bad name inside the option: InvalidArgs naming it, nothing written */
        g_clear_pointer(&env, g_strfreev);
        bad = make_message(bus, "a{sv}", 1, "environment", "a{ss}", 1, "NO=PE", "x");
        g_assert_cmpint(bus_read_options(bad, (const OptionSpec[]) {
                { "environment", "a{ss}", &env },
                {}
        }, &e), ==, -EINVAL);
        g_assert_true(sd_bus_error_has_name(&e, SD_BUS_ERROR_INVALID_ARGS));
        g_assert_nonnull(strstr(e.message, "NO=PE"));
        g_assert_null(env);
}

static void test_check_name(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        g_assert_cmpint(bus_check_name("container", "web", &e), ==, 0);
        g_assert_false(sd_bus_error_is_set(&e));
        g_assert_cmpint(bus_check_name("image", "-x", &e), ==, -EINVAL);
        g_assert_true(sd_bus_error_has_name(&e, "org.containers.Error.InvalidName"));
        g_assert_nonnull(strstr(e.message, "image name '-x'"));
}

/* Limits: what is not given keeps its current value; the largest value of the type removes a
 * limit; 0 and out-of-range weights are refused naming the option and the range. */
static void test_limits(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = new_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *bad = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        ContainerLimits cur, l;
        LimitOptions o;

        limits_init(&cur);
        cur.value[LIMIT_TASKS_MAX] = 64;
        cur.value[LIMIT_IO_WEIGHT] = 300;
        limit_options_init(&o, &cur);
        m = make_message(bus, "a{sv}", 3, "cpu_quota_percent", "u", 50, "memory_max", "t", (uint64_t) 1 << 30,
                         "io_weight", "t", UINT64_MAX);
        g_assert_cmpint(bus_read_options(m, (const OptionSpec[]) { LIMIT_OPTION_SPECS(&o), {} }, &e), ==, 0);
        g_assert_cmpint(limit_options_to_limits(&o, &l, &e), ==, 0);
        g_assert_cmpuint(l.value[LIMIT_MEMORY_MAX], ==, (uint64_t) 1 << 30);
        g_assert_cmpuint(l.value[LIMIT_CPU_QUOTA_PERCENT], ==, 50);
        g_assert_cmpuint(l.value[LIMIT_TASKS_MAX], ==, 64);
        g_assert_cmpuint(l.value[LIMIT_IO_WEIGHT], ==, LIMIT_UNSET);
        g_assert_cmpuint(l.value[LIMIT_CPU_WEIGHT], ==, LIMIT_UNSET);
        g_assert_cmpuint(limit_property_value(LIMIT_CPU_QUOTA_PERCENT, 50), ==, 500000);
        g_assert_cmpuint(limit_property_value(LIMIT_IO_WEIGHT, LIMIT_UNSET), ==, UINT64_MAX);
        g_assert_cmpstr(limit_property(LIMIT_CPU_QUOTA_PERCENT), ==, "CPUQuotaPerSecUSec");

        limit_options_init(&o, &cur);
        bad = make_message(bus, "a{sv}", 1, "cpu_weight", "t", (uint64_t) 10001);
        g_assert_cmpint(bus_read_options(bad, (const OptionSpec[]) { LIMIT_OPTION_SPECS(&o), {} }, &e), ==, 0);
        l = cur;
        g_assert_cmpint(limit_options_to_limits(&o, &l, &e), <, 0);
        g_assert_true(sd_bus_error_has_name(&e, SD_BUS_ERROR_INVALID_ARGS));
        g_assert_nonnull(strstr(e.message, "cpu_weight"));
        g_assert_nonnull(strstr(e.message, "1..10000"));
        g_assert_cmpuint(l.value[LIMIT_TASKS_MAX], ==, 64);     /* untouched */
        sd_bus_error_free(&e);

        limit_options_init(&o, &cur);
        o.t[LIMIT_MEMORY_MAX] = 0;
        g_assert_cmpint(limit_options_to_limits(&o, &l, &e), <, 0);
        g_assert_nonnull(strstr(e.message, "memory_max"));
}

/* Policy: aas and i options; what is not given keeps its current value; bad values are refused
 * naming the option, and the policy is untouched. */
static void test_policy(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = new_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *bad = NULL, *empty = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(policy_done) ContainerPolicy cur = {}, p = {};
        _cleanup_(policy_options_done) PolicyOptions o = {};

        policy_init(&cur);
        policy_init(&p);
        cur.restart_max = 7;
        policy_options_init(&o, &cur);
        m = make_message(bus, "a{sv}", 3, "startup_commands", "aas", 2, 2, "mkdir", "/x", 1, "true",
                         "autostart_priority", "i", -5, "restart", "s", "on-failure");
        g_assert_cmpint(bus_read_options(m, (const OptionSpec[]) { POLICY_OPTION_SPECS(&o), {} }, &e), ==, 0);
        g_assert_cmpint(policy_options_to_policy(&o, &p, &e), ==, 0);
        g_assert_cmpint(p.autostart_priority, ==, -5);
        g_assert_cmpint(p.restart, ==, RESTART_ON_FAILURE);
        g_assert_cmpuint(p.restart_max, ==, 7);
        g_assert_false(p.autostart);
        g_assert_cmpuint(p.startup_commands->len, ==, 2);
        g_assert_cmpstr(((char **) p.startup_commands->pdata[0])[1], ==, "/x");
        g_assert_cmpstr(((char **) p.startup_commands->pdata[1])[0], ==, "true");
        g_assert_false(policy_equal(&p, &cur));
        {
                _cleanup_(policy_done) ContainerPolicy copy = {};
                policy_copy(&copy, &p);
                g_assert_true(policy_equal(&copy, &p));
        }

        /* an empty command, a bad restart, restart_max 0: refused, p untouched */
        FOREACH_STRING(what, "empty", "restart", "max") {
                _cleanup_(policy_options_done) PolicyOptions q = {};
                policy_options_init(&q, &cur);
                if (streq(what, "empty"))
                        bad = make_message(bus, "a{sv}", 1, "startup_commands", "aas", 1, 0);
                else if (streq(what, "restart"))
                        bad = make_message(bus, "a{sv}", 1, "restart", "s", "sometimes");
                else
                        bad = make_message(bus, "a{sv}", 1, "restart_max", "u", 0);
                g_assert_cmpint(bus_read_options(bad, (const OptionSpec[]) { POLICY_OPTION_SPECS(&q), {} }, &e), ==, 0);
                g_assert_cmpint(policy_options_to_policy(&q, &p, &e), <, 0);
                g_assert_true(sd_bus_error_has_name(&e, SD_BUS_ERROR_INVALID_ARGS));
                g_assert_nonnull(strstr(e.message, streq(what, "empty") ? "startup_commands" :
                                        streq(what, "restart") ? "'restart'" : "restart_max"));
                g_assert_cmpint(p.restart, ==, RESTART_ON_FAILURE);
                sd_bus_error_free(&e);
                bad = sd_bus_message_unref(bad);
        }

        /* an empty list of commands is none */
        {
                _cleanup_(policy_options_done) PolicyOptions q = {};
                policy_options_init(&q, &p);
                empty = make_message(bus, "a{sv}", 1, "startup_commands", "aas", 0);
                g_assert_cmpint(bus_read_options(empty, (const OptionSpec[]) { POLICY_OPTION_SPECS(&q), {} }, &e), ==, 0);
                g_assert_cmpint(policy_options_to_policy(&q, &p, &e), ==, 0);
                g_assert_false(policy_has_startup_commands(&p));
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        /* as the daemon does: our error names map to errno values */
        g_assert_cmpint(sd_bus_error_add_map(cm_error_map), >=, 0);
        g_test_add_func("/options/ok", test_options_ok);
        g_test_add_func("/options/invalid", test_options_invalid);
        g_test_add_func("/options/environment", test_environment);
        g_test_add_func("/options/check-name", test_check_name);
        g_test_add_func("/options/environment-and-bytes", test_options_env_bytes);
        g_test_add_func("/options/limits", test_limits);
        g_test_add_func("/options/policy", test_policy);
        return g_test_run();
}
