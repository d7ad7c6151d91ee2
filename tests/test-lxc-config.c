/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LXC's configuration as a list of checked settings (lxc-config.h), the monitor's read-back of
 * what liblxc made of the file (runtime_verify_config_at()), and the check of a payload's /proc
 * after a start (runtime_verify_payload()). The injections are those of issue 19. */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "lxc-config.h"
#include "runtime.h"
#include "util.h"

static void test_refused_values(void) {
        const char *bad[] = {
                "/\nlxc.hook.pre-start = /bin/sh",
                "/\rlxc.idmap =",
                "/a\x1b[2J",
                "/a\x7f",
                "/a\xc2\x85next",       /* U+0085, NEXT LINE */
                "/a\tb",                /* a tab: only the environment may have one */
                "/a\xff",               /* not UTF-8 */
                "",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(LxcConfig) cfg = lxc_config_new();
                g_autofree char *message = NULL;

                lxc_config_add(cfg, "lxc.uts.name", "c1");
                lxc_config_add(cfg, "lxc.init.cwd", bad[i]);
                g_assert_cmpint(lxc_config_check(cfg, &message), ==, -EINVAL);
                /* named by its key, never by what it holds */
                g_assert_nonnull(strstr(message, "lxc.init.cwd"));
                g_assert_null(strstr(message, "hook"));
                g_assert_null(strchr(message, '\n'));
        }
}

static void test_refused_keys(void) {
        FOREACH_STRING(key, "lxc.hook.pre-start", "lxc.include", "lxc.idmap ", "lxc.net.1.type", "LXC.IDMAP", "") {
                g_autoptr(LxcConfig) cfg = lxc_config_new();
                g_autofree char *message = NULL;

                lxc_config_add(cfg, key, "x");
                g_assert_cmpint(lxc_config_check(cfg, &message), ==, -EINVAL);
        }
}

static void test_environment(void) {
        g_autoptr(LxcConfig) cfg = lxc_config_new();
        g_autofree char *text = NULL;

        lxc_config_add(cfg, "lxc.environment", "A=with\ttab");
        lxc_config_add(cfg, "lxc.environment", "B=x");
        g_assert_cmpint(lxc_config_check(cfg, NULL), ==, 0);
        text = lxc_config_to_text(cfg, "c");
        g_assert_cmpstr(text, ==, "# c\nlxc.environment = A=with\ttab\nlxc.environment = B=x\n");
        lxc_config_add(cfg, "lxc.environment", "C=\nlxc.hook.start = /x");
        g_assert_cmpint(lxc_config_check(cfg, NULL), ==, -EINVAL);
}

static void test_twin(void) {
        g_autoptr(LxcConfig) cfg = lxc_config_new(), back = NULL, bad = NULL;
        g_autofree char *json = NULL;
        const char *k, *v;

        lxc_config_add(cfg, "lxc.init.cwd", "/app");
        lxc_config_add(cfg, "lxc.environment", "A=\"quoted\"\tand tab");
        json = lxc_config_to_json(cfg);
        g_assert_cmpint(lxc_config_from_json(json, strlen(json), &back), ==, 0);
        g_assert_cmpuint(lxc_config_size(back), ==, 2);
        lxc_config_get(back, 1, &k, &v);
        g_assert_cmpstr(k, ==, "lxc.environment");
        g_assert_cmpstr(v, ==, "A=\"quoted\"\tand tab");
        /* a twin is held to the same rules as the settings it records */
        FOREACH_STRING(text, "{\"Settings\": [[\"lxc.hook.pre-start\", \"/x\"]]}",
                       "{\"Settings\": [[\"lxc.init.cwd\", \"/\\nlxc.idmap =\"]]}",
                       "{\"Settings\": [[\"lxc.init.cwd\"]]}",
                       "{\"Settings\": [[\"lxc.init.cwd\", 1]]}",
                       "[]", "")
                g_assert_cmpint(lxc_config_from_json(text, strlen(text), &bad), ==, -EBADMSG);
}

static void test_validators(void) {
        g_assert_true(container_path_is_valid("/app"));
        g_assert_true(container_path_is_valid("/"));
        g_assert_false(container_path_is_valid("app"));
        g_assert_false(container_path_is_valid("/a/../b"));
        g_assert_false(container_path_is_valid("/a\nb"));
        g_assert_false(container_path_is_valid(NULL));
        g_assert_true(env_assignment_is_valid("A=b\tc"));
        g_assert_false(env_assignment_is_valid("A=b\nlxc.idmap ="));
        g_assert_false(env_assignment_is_valid("A=b\r"));
        g_assert_false(env_assignment_is_valid("A=\x1b"));
        {
                g_autofree char *long_value = g_strnfill(TEXT_VALUE_MAX + 1, 'x');
                g_autofree char *e = g_strconcat("A=", long_value, NULL);
                g_assert_false(env_assignment_is_valid(e));
        }
        {
                g_autofree char *safe = text_make_safe("a\nb\x1b\xc2\x85" "c\xff", 100);
                g_assert_cmpstr(safe, ==, "a?b??c\xef\xbf\xbd");
        }
        {
                g_autofree char *cut = text_make_safe("0123456789abcdef", 10);
                g_assert_cmpstr(cut, ==, "0123456...");
        }
}

/* A realistic configuration, written as the daemon writes it. */
static void write_config(const char *lxcpath, const char *name) {
        g_autofree char *dir = g_build_filename(lxcpath, name, NULL);
        g_autofree char *config = g_build_filename(dir, "config", NULL);
        g_autofree char *json = g_build_filename(dir, "config.json", NULL);
        g_autoptr(LxcConfig) cfg = lxc_config_new();
        g_autofree char *text = NULL, *twin = NULL;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
        lxc_config_add(cfg, "lxc.uts.name", name);
        lxc_config_addf(cfg, "lxc.rootfs.path", "dir:%s/stage/root", dir);
        lxc_config_add(cfg, "lxc.idmap", "u 0 1000000000 65536");
        lxc_config_add(cfg, "lxc.idmap", "g 0 1000000000 65536");
        lxc_config_add(cfg, "lxc.net.0.type", "veth");
        lxc_config_add(cfg, "lxc.net.0.link", "cm0");
        lxc_config_add(cfg, "lxc.net.0.flags", "up");
        lxc_config_add(cfg, "lxc.net.0.name", "eth0");
        lxc_config_add(cfg, "lxc.net.0.veth.pair", "vcm0123456789");
        lxc_config_add(cfg, "lxc.net.0.hwaddr", "02:00:00:00:00:01");
        lxc_config_add(cfg, "lxc.net.0.ipv4.address", "10.89.0.2/16 10.89.255.255");
        lxc_config_add(cfg, "lxc.net.0.ipv4.gateway", "10.89.0.1");
        lxc_config_add(cfg, "lxc.cgroup.relative", "1");
        lxc_config_add(cfg, "lxc.mount.auto", "proc:mixed sys:ro");
        lxc_config_add(cfg, "lxc.autodev", "1");
        lxc_config_add(cfg, "lxc.mount.entry", "/dev/null dev/console none bind,create=file 0 0");
        lxc_config_add(cfg, "lxc.no_new_privs", "1");
        lxc_config_add(cfg, "lxc.cap.drop", "mac_admin sys_admin net_raw");
        lxc_config_add(cfg, "lxc.apparmor.profile", "unconfined");
        lxc_config_add(cfg, "lxc.seccomp.profile", "/usr/share/lxc/config/common.seccomp");
        lxc_config_addf(cfg, "lxc.log.file", "%s/lxc.log", dir);
        lxc_config_add(cfg, "lxc.log.level", "WARN");
        lxc_config_add(cfg, "lxc.environment", "PATH=/usr/bin:/bin");
        lxc_config_add(cfg, "lxc.init.cwd", "/app");
        g_assert_cmpint(lxc_config_check(cfg, NULL), ==, 0);
        text = lxc_config_to_text(cfg, "test");
        twin = lxc_config_to_json(cfg);
        g_assert_true(g_file_set_contents(json, twin, -1, NULL));
        g_assert_true(g_file_set_contents(config, text, -1, NULL));
}

static void test_verify_config(void) {
        g_autofree char *lxcpath = g_dir_make_tmp("cm-test-lxc-XXXXXX", NULL);
        g_autofree char *config = g_build_filename(lxcpath, "c1", "config", NULL);
        g_autofree char *message = NULL;
        /* Each appended to an otherwise intact file, as a line break in a value used to. */
        const char *injected[] = {
                "lxc.hook.pre-start = /bin/sh -c 'touch /pwned'",
                "lxc.hook.start-host = /bin/true",
                "lxc.idmap =",
                "lxc.idmap = u 0 0 4294967295",
                "lxc.cap.drop =",
                "lxc.seccomp.profile =",
                "lxc.no_new_privs = 0",
                "lxc.mount.entry = / host none rbind,create=dir 0 0",
                "lxc.net.0.script.up = /bin/true",
                "lxc.net.1.type = empty",
                "lxc.namespace.share.net = 1",
                "lxc.apparmor.profile = unconfined\nlxc.apparmor.allow_nesting = 1",
                "lxc.init.uid = 0\nlxc.rootfs.path = dir:/",
                "lxc.environment = LD_PRELOAD=/x",
                "lxc.namespace.share.user = /proc/1/ns/user",
                "lxc.cgroup2.devices.allow = a",
                "lxc.sysctl.kernel.core_pattern = |/pwn",
                "lxc.prlimit.nofile = 1",
                "lxc.proc.oom_score_adj = -1000",
        };

        write_config(lxcpath, "c1");
        g_assert_cmpint(runtime_verify_config_at(lxcpath, "c1", &message), ==, 0);
        g_assert_null(message);

        for (size_t i = 0; i < G_N_ELEMENTS(injected); i++) {
                g_autofree char *text = NULL, *bad = NULL, *why = NULL;

                write_config(lxcpath, "c1");
                g_assert_true(g_file_get_contents(config, &text, NULL, NULL));
                bad = g_strdup_printf("%s%s\n", text, injected[i]);
                g_assert_true(g_file_set_contents(config, bad, -1, NULL));
                g_assert_cmpint(runtime_verify_config_at(lxcpath, "c1", &why), ==, -EPERM);
                g_assert_nonnull(strstr(why, "refusing to start"));
                g_test_message("%s: %s", injected[i], why);
        }
        (void) rm_rf(lxcpath);
}

static void test_capability_mask(void) {
        uint64_t mask = 0;

        g_assert_cmpint(runtime_capability_mask("sys_admin net_admin net_raw", &mask), ==, 0);
        g_assert_cmphex(mask, ==, (UINT64_C(1) << 21) | (UINT64_C(1) << 12) | (UINT64_C(1) << 13));
        g_assert_cmpint(runtime_capability_mask("mac_admin", &mask), ==, 0);
        g_assert_cmphex(mask, ==, UINT64_C(1) << 33);
        g_assert_cmpint(runtime_capability_mask("sys_admin bogus", &mask), ==, -EINVAL);
}

/* A child that sets no_new_privs (or not) and waits. */
static pid_t child(bool nnp) {
        int p[2];
        char c;
        pid_t pid;

        g_assert_cmpint(pipe(p), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                if (nnp)
                        (void) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                (void) !write(p[1], "x", 1);
                pause();
                _exit(0);
        }
        close(p[1]);
        g_assert_cmpint(read(p[0], &c, 1), ==, 1);
        close(p[0]);
        return pid;
}

static void reap(pid_t pid) {
        kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

static void test_verify_payload(void) {
        g_autofree char *map = NULL;
        pid_t with = child(true), without = child(false);
        PayloadExpect e = { .userns = false };
        char *why = NULL;

        if (!g_file_get_contents("/proc/self/uid_map", &map, NULL, NULL) || !g_str_has_suffix(g_strstrip(map), "4294967295")) {
                reap(with);
                reap(without);
                g_test_skip("not in the initial user namespace");
                return;
        }
        g_assert_cmpint(runtime_verify_payload(with, &e, &why), ==, 0);

        g_assert_cmpint(runtime_verify_payload(without, &e, &why), ==, -EPERM);
        g_assert_nonnull(strstr(why, "no_new_privs"));
        g_clear_pointer(&why, g_free);

        /* capabilities that our bounding set still has, expected dropped */
        g_assert_cmpint(runtime_capability_mask("chown kill", &e.dropped), ==, 0);
        g_assert_cmpint(runtime_verify_payload(with, &e, &why), ==, -EPERM);
        g_assert_nonnull(strstr(why, "bounding set"));
        g_clear_pointer(&why, g_free);
        e.dropped = 0;

        e.seccomp = true;
        g_assert_cmpint(runtime_verify_payload(with, &e, &why), ==, -EPERM);
        g_assert_nonnull(strstr(why, "seccomp"));
        g_clear_pointer(&why, g_free);
        e.seccomp = false;

        /* a user namespace on a slot was intended; the payload has the host's ids */
        e.userns = true;
        e.uid_shift = 1000000000;
        g_assert_cmpint(runtime_verify_payload(with, &e, &why), ==, -EPERM);
        g_assert_nonnull(strstr(why, "uid_map"));
        g_clear_pointer(&why, g_free);

        reap(with);
        reap(without);
        /* gone: not a difference, the caller sees it end */
        g_assert_cmpint(runtime_verify_payload(with, &e, &why), ==, -ESRCH);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/lxc-config/refused-values", test_refused_values);
        g_test_add_func("/lxc-config/refused-keys", test_refused_keys);
        g_test_add_func("/lxc-config/environment", test_environment);
        g_test_add_func("/lxc-config/validators", test_validators);
        g_test_add_func("/lxc-config/json-twin", test_twin);
        g_test_add_func("/lxc-config/verify-config", test_verify_config);
        g_test_add_func("/runtime/capability-mask", test_capability_mask);
        g_test_add_func("/runtime/verify-payload", test_verify_payload);
        return g_test_run();
}
