/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <systemd/sd-bus.h>

#include "build.h"
#include "container.h"
#include "runtime.h"
#include "size-caps.h"
#include "util.h"

static void test_name_is_valid(void) {
        static const char *const good[] = { "web", "a", "web-1", "my_app.v2", "0abc", NULL };
        static const char *const bad[] = { "", ".", "..", "/", "a/b", "-x", "_x", ".hidden", "a b", "a\n", "wéb", "a:b", "a\\b", NULL };
        char longest[NAME_MAX_LEN + 2];

        for (const char *const *s = good; *s; s++)
                g_assert_true(name_is_valid(*s));
        for (const char *const *s = bad; *s; s++)
                g_assert_false(name_is_valid(*s));
        g_assert_false(name_is_valid(NULL));
        g_assert_false(name_is_valid("\xff\xfe"));

        memset(longest, 'a', sizeof(longest));
        longest[NAME_MAX_LEN] = 0;
        g_assert_true(name_is_valid(longest));
        longest[NAME_MAX_LEN] = 'a';
        longest[NAME_MAX_LEN + 1] = 0;
        g_assert_false(name_is_valid(longest));
}

static void test_container_name_is_new_valid(void) {
        /* New containers: no dots (a name with one shadows a DNS name, for every container and,
         * through nss-mymachines, on the host). Existing ones load: name_is_valid() still holds. */
        FOREACH_STRING(s, "web", "web-1", "my_app", "0abc")
                g_assert_true(container_name_is_new_valid(s));
        FOREACH_STRING(s, "example.com", "my_app.v2", "localhost.", "a.b.c", "", "-x", "a/b") {
                g_assert_false(container_name_is_new_valid(s));
        }
        g_assert_false(container_name_is_new_valid(NULL));
        g_assert_true(name_is_valid("example.com"));
        g_assert_true(name_is_valid("my_app.v2"));
}

static void test_size_caps(void) {
        g_autofree char *path = NULL, *msg = NULL;
        SizeCaps caps = SIZE_CAPS_DEFAULT;
        uint64_t v;
        int fd;

        g_assert_cmpint(size_parse("1234", &v), ==, 0);
        g_assert_cmpuint(v, ==, 1234);
        g_assert_cmpint(size_parse("1M", &v), ==, 0);
        g_assert_cmpuint(v, ==, 1048576);
        g_assert_cmpint(size_parse("16g", &v), ==, 0);
        g_assert_cmpuint(v, ==, UINT64_C(16) << 30);
        FOREACH_STRING(bad, "", "0", "-1", "1.5G", "G", "1P", "16 G", "99999999999T")
                g_assert_cmpint(size_parse(bad, &v), ==, -EINVAL);

        /* No file: 16 GiB each. */
        g_assert_cmpint(size_caps_load("/nonexistent/cm.conf", &caps, NULL), ==, 0);
        g_assert_cmpuint(caps.import_max_bytes, ==, UINT64_C(16) << 30);
        g_assert_cmpuint(caps.put_archive_max_bytes, ==, UINT64_C(16) << 30);
        g_assert_cmpuint(caps.pull_max_bytes, ==, UINT64_C(16) << 30);

        fd = g_file_open_tmp("cm-caps-XXXXXX", &path, NULL);
        g_assert_cmpint(fd, >=, 0);
        close(fd);
        g_assert_true(g_file_set_contents(path, "[IdMap]\nStart=1\n[Transfers]\nImportMaxBytes=2G\nPullMaxBytes = 512M\n", -1, NULL));
        g_assert_cmpint(size_caps_load(path, &caps, NULL), ==, 0);
        g_assert_cmpuint(caps.import_max_bytes, ==, UINT64_C(2) << 30);
        g_assert_cmpuint(caps.pull_max_bytes, ==, UINT64_C(512) << 20);
        g_assert_cmpuint(caps.put_archive_max_bytes, ==, UINT64_C(16) << 30);
        /* An invalid value: refused, named, caps as they were. */
        g_assert_true(g_file_set_contents(path, "[Transfers]\nPutArchiveMaxBytes=lots\n", -1, NULL));
        g_assert_cmpint(size_caps_load(path, &caps, &msg), ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "PutArchiveMaxBytes=lots"));
        g_assert_cmpuint(caps.import_max_bytes, ==, UINT64_C(2) << 30);
        (void) unlink(path);
}

static void test_env_assignment(void) {
        g_assert_true(env_assignment_is_valid("A=b"));
        g_assert_true(env_assignment_is_valid("_X1="));
        g_assert_true(env_assignment_is_valid("A=b=c"));
        g_assert_false(env_assignment_is_valid("=b"));
        g_assert_false(env_assignment_is_valid("1A=b"));
        g_assert_false(env_assignment_is_valid("A-B=c"));
        g_assert_false(env_assignment_is_valid("AB"));
        g_assert_false(env_assignment_is_valid("A=\xff"));
        /* a line break would start a line of LXC configuration of its own */
        g_assert_false(env_assignment_is_valid("A=x\nlxc.mount.entry = / host none bind 0 0"));
        g_assert_false(env_assignment_is_valid("A=x\r"));
        g_assert_true(env_assignment_is_valid("A=tab\tand spaces"));
}

static void test_env_name_and_paths(void) {
        g_assert_true(env_name_is_valid("PATH"));
        g_assert_true(env_name_is_valid("_x1"));
        g_assert_false(env_name_is_valid(""));
        g_assert_false(env_name_is_valid("1A"));
        g_assert_false(env_name_is_valid("A=B"));
        g_assert_false(env_name_is_valid(NULL));

        g_assert_true(path_has_dotdot(".."));
        g_assert_true(path_has_dotdot("a/../b"));
        g_assert_true(path_has_dotdot("/app/.."));
        g_assert_false(path_has_dotdot("a..b/c"));
        g_assert_false(path_has_dotdot("/app"));
}

static void test_unit_name(void) {
        g_autofree char *a = container_unit_name("web");
        g_autofree char *b = container_unit_name("my-web.1");
        g_autofree char *c = container_unit_name("a_b");

        g_assert_cmpstr(a, ==, "container-web.scope");
        /* systemd escapes '-' inside a component, as machined does for machine-*.scope */
        g_assert_cmpstr(b, ==, "container-my\\x2dweb.1.scope");
        g_assert_cmpstr(c, ==, "container-a_b.scope");
}

static void test_path_encoding(void) {
        static const char *const names[] = { "web", "my-web.1", "0abc", "a_b", NULL };

        for (const char *const *n = names; *n; n++) {
                g_autofree char *path = NULL, *back = NULL;

                g_assert_cmpint(sd_bus_path_encode("/org/containers/Manager/container", *n, &path), >=, 0);
                g_assert_true(sd_bus_object_path_is_valid(path));
                g_assert_cmpint(sd_bus_path_decode(path, "/org/containers/Manager/container", &back), >, 0);
                g_assert_cmpstr(back, ==, *n);
        }
}

static void test_container_state_table(void) {
        for (ContainerState s = 0; s < _CONTAINER_STATE_MAX; s++) {
                const char *name = container_state_to_string(s);
                g_assert_nonnull(name);
                g_assert_cmpint(container_state_from_string(name), ==, s);
        }
        g_assert_cmpstr(container_state_to_string(CONTAINER_RUNNING), ==, "running");
        g_assert_cmpint(container_state_from_string("bogus"), ==, -EINVAL);
        g_assert_cmpint(container_state_from_string(NULL), ==, -EINVAL);
        g_assert_null(container_state_to_string(_CONTAINER_STATE_MAX));
        g_assert_null(container_state_to_string(-1));
}

static void test_runtime_status(void) {
        g_autofree char *msg = NULL;
        pid_t pid = 0;

        g_assert_cmpint(runtime_parse_status("OK 1234\n", &pid, NULL), ==, 0);
        g_assert_cmpint(pid, ==, 1234);
        pid = 77;
        g_assert_cmpint(runtime_parse_status("EXITED\n", &pid, NULL), ==, 1);
        g_assert_cmpint(pid, ==, 0);
        g_assert_cmpint(runtime_parse_status("ERR 5 LXC failed\n", &pid, &msg), ==, -5);
        g_assert_cmpstr(msg, ==, "LXC failed");
        g_clear_pointer(&msg, g_free);
        g_assert_cmpint(runtime_parse_status(NULL, &pid, &msg), ==, -EPROTO);
        g_clear_pointer(&msg, g_free);
        g_assert_cmpint(runtime_parse_status("garbage", &pid, &msg), ==, -EPROTO);
        g_clear_pointer(&msg, g_free);
        g_assert_cmpint(runtime_parse_status("OK -3", &pid, &msg), ==, -EPROTO);

        g_assert_cmpint(runtime_exit_status_from_wait(3 << 8), ==, 3);
        g_assert_cmpint(runtime_exit_status_from_wait(0), ==, 0);
        g_assert_cmpint(runtime_exit_status_from_wait(9), ==, 128 + 9);
}

static void test_build_state_table(void) {
        for (BuildState s = 0; s < _BUILD_STATE_MAX; s++)
                g_assert_cmpint(build_state_from_string(build_state_to_string(s)), ==, s);
        g_assert_cmpstr(build_state_to_string(BUILD_CANCELLED), ==, "cancelled");
        g_assert_cmpint(build_state_from_string("done"), ==, -EINVAL);
}

static void test_build_relative_path(void) {
        static const char *const good[] = { "app", "a/b", "Run.yaml", "deploy/Run.prod.yaml", "a..b", NULL };
        static const char *const bad[] = { "", "/etc", "..", "../x", "a/../b", "a/..", "a\nb", NULL };

        for (const char *const *p = good; *p; p++)
                g_assert_true(build_relative_path_is_valid(*p));
        for (const char *const *p = bad; *p; p++)
                g_assert_false(build_relative_path_is_valid(*p));
        g_assert_false(build_relative_path_is_valid(NULL));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/util/name-is-valid", test_name_is_valid);
        g_test_add_func("/util/container-name-is-new-valid", test_container_name_is_new_valid);
        g_test_add_func("/util/size-caps", test_size_caps);
        g_test_add_func("/util/env-assignment", test_env_assignment);
        g_test_add_func("/util/env-name-and-paths", test_env_name_and_paths);
        g_test_add_func("/util/unit-name", test_unit_name);
        g_test_add_func("/util/path-encoding", test_path_encoding);
        g_test_add_func("/container/state-table", test_container_state_table);
        g_test_add_func("/runtime/status", test_runtime_status);
        g_test_add_func("/build/state-table", test_build_state_table);
        g_test_add_func("/build/relative-path", test_build_relative_path);
        return g_test_run();
}
