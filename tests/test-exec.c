/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure parts of exec.c (users and groups from the container's files, the worker's result)
 * and worker.c's several kept descriptors. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "exec.h"
#include "worker.h"

static const char PASSWD[] =
        "root:x:0:0:root:/root:/bin/sh\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "alice:x:1001:1002:Alice:/home/alice:/bin/ash\n"
        "noshell:x:1005:1005::/:\n"
        "big:x:70000:70000::/:/bin/sh\n";

static const char GROUP[] =
        "root:x:0:\n"
        "staff:x:1002:\n"
        "extra:x:1003:bob,alice\n"
        "other:x:1004:bob\n"
        "huge:x:80000:alice\n";

static FILE *memfile(const char *text) {
        FILE *f = fmemopen((void *) text, strlen(text), "r");
        g_assert_nonnull(f);
        return f;
}

static void test_user_lookup(void) {
        FILE *f = memfile(PASSWD);
        ExecUser u = {};

        g_assert_cmpint(exec_user_lookup(f, "alice", &u), ==, 0);
        g_assert_cmpuint(u.uid, ==, 1001);
        g_assert_cmpuint(u.gid, ==, 1002);
        g_assert_cmpstr(u.name, ==, "alice");
        g_assert_cmpstr(u.home, ==, "/home/alice");
        g_assert_cmpstr(u.shell, ==, "/bin/ash");
        exec_user_clear(&u);

        /* a number finds its entry... */
        g_assert_cmpint(exec_user_lookup(f, "1001", &u), ==, 0);
        g_assert_cmpstr(u.name, ==, "alice");
        exec_user_clear(&u);
        g_assert_cmpint(exec_user_lookup(f, "0", &u), ==, 0);
        g_assert_cmpstr(u.name, ==, "root");
        g_assert_cmpstr(u.home, ==, "/root");
        exec_user_clear(&u);

        /* ...or stands for itself, in a group of its own number */
        g_assert_cmpint(exec_user_lookup(f, "4242", &u), ==, 0);
        g_assert_cmpuint(u.uid, ==, 4242);
        g_assert_cmpuint(u.gid, ==, 4242);
        g_assert_null(u.name);
        g_assert_cmpstr(u.shell, ==, "/bin/sh");
        exec_user_clear(&u);

        /* an empty shell field is /bin/sh */
        g_assert_cmpint(exec_user_lookup(f, "noshell", &u), ==, 0);
        g_assert_cmpstr(u.shell, ==, "/bin/sh");
        exec_user_clear(&u);

        /* unknown names, ids outside the container's 0..65535, nonsense */
        FOREACH_STRING(bad, "bob", "", "70000", "big", "65536", "4294967296", "-1", "1x", "ALICE")
                g_assert_cmpint(exec_user_lookup(f, bad, &u), ==, -ESRCH);
        fclose(f);

        /* no passwd at all: numbers only */
        g_assert_cmpint(exec_user_lookup(NULL, "root", &u), ==, -ESRCH);
        g_assert_cmpint(exec_user_lookup(NULL, "0", &u), ==, 0);
        g_assert_cmpuint(u.uid, ==, 0);
        exec_user_clear(&u);
}

static void test_user_groups(void) {
        FILE *f = memfile(GROUP);
        g_autoptr(GArray) g = NULL, none = NULL;

        g_assert_cmpint(exec_user_groups(f, "alice", 1002, &g), ==, 0);
        g_assert_cmpuint(g->len, ==, 2);
        g_assert_cmpuint(g_array_index(g, gid_t, 0), ==, 1002);
        g_assert_cmpuint(g_array_index(g, gid_t, 1), ==, 1003);   /* not 80000: outside the container */
        fclose(f);

        g_assert_cmpint(exec_user_groups(NULL, NULL, 7, &none), ==, 0);
        g_assert_cmpuint(none->len, ==, 1);
        g_assert_cmpuint(g_array_index(none, gid_t, 0), ==, 7);
}

static void test_result_parse(void) {
        ExecResult r = {};
        char junk[64] = {};

        g_assert_cmpint(exec_result_parse("", 0, &r), ==, -EBADMSG);
        g_assert_cmpint(exec_result_parse(junk, 8, &r), ==, -EBADMSG);
        /* a header of kind 0 */
        g_assert_cmpint(exec_result_parse(junk, sizeof(junk), &r), ==, -EBADMSG);
}

/* ---- worker_spawn_fds: the child gets exactly its result pipe and the kept descriptors ---- */

static int fds_worker(int fd, void *data) {
        char line[64];
        int n;

        /* 4, 5, 6 are ours, 7 is not */
        for (int i = 0; i < 3; i++) {
                n = snprintf(line, sizeof(line), "fd%d\n", WORKER_KEEP_FD + i);
                if (write(WORKER_KEEP_FD + i, line, n) != n)
                        return 10 + i;
        }
        if (fcntl(WORKER_KEEP_FD + 3, F_GETFD) >= 0 || errno != EBADF)
                return 20;
        return write(fd, "done", 4) == 4 ? 0 : 30;
}

static void fds_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        int *result = userdata;

        g_assert_cmpint(status, ==, 0);
        g_assert_cmpuint(size, ==, 4);
        g_assert_cmpint(memcmp(output, "done", 4), ==, 0);
        *result = 1;
}

static void test_worker_fds(void) {
        g_autofree char *dir = g_dir_make_tmp("cm-test-exec-XXXXXX", NULL);
        sd_event *event = NULL;
        Manager *m = NULL;
        int p[3][2], keep[3], result = 0;
        sigset_t ss;

        /* as main.c does: sd-event watches children through SIGCHLD */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        g_assert_cmpint(sigprocmask(SIG_BLOCK, &ss, NULL), ==, 0);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(manager_new(event, dir, dir, dir, &m), ==, 0);
        for (int i = 0; i < 3; i++) {
                g_assert_cmpint(pipe2(p[i], O_CLOEXEC), ==, 0);
                keep[i] = p[i][1];
        }
        g_assert_cmpint(worker_spawn_fds(m, "test-fds", fds_worker, NULL, NULL, keep, 3, 0, NULL, fds_done, &result, NULL), ==, 0);
        /* the worker holds copies: ours can go at once */
        for (int i = 0; i < 3; i++)
                close(p[i][1]);
        while (!result)
                g_assert_cmpint(sd_event_run(event, 5 * USEC_PER_SEC), >, 0);
        for (int i = 0; i < 3; i++) {
                char buf[16] = {}, want[16];
                ssize_t n = read(p[i][0], buf, sizeof(buf) - 1);
                snprintf(want, sizeof(want), "fd%d\n", WORKER_KEEP_FD + i);
                g_assert_cmpint(n, ==, (ssize_t) strlen(want));
                g_assert_cmpstr(buf, ==, want);
                /* and nobody else holds the write end */
                g_assert_cmpint(read(p[i][0], buf, sizeof(buf)), ==, 0);
                close(p[i][0]);
        }
        manager_free(m);
        sd_event_unref(event);
        (void) rm_rf(dir);
}

static int quick_worker(int fd, void *data) {
        return write(fd, "done", 4) == 4 ? 0 : 1;
}

/* With no slot free, a capped worker waits; an uncapped one runs at once. */
static void test_worker_uncapped(void) {
        g_autofree char *dir = g_dir_make_tmp("cm-test-exec-XXXXXX", NULL);
        sd_event *event = NULL;
        Manager *m = NULL;
        int result = 0, never = 0;
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        g_assert_cmpint(sigprocmask(SIG_BLOCK, &ss, NULL), ==, 0);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(manager_new(event, dir, dir, dir, &m), ==, 0);
        m->max_workers = 0;
        g_assert_cmpint(worker_spawn_fds(m, "test-queued", quick_worker, NULL, NULL, NULL, 0, 0, NULL, fds_done, &never, NULL), ==, 0);
        g_assert_cmpint(worker_spawn_fds(m, "test-uncapped", quick_worker, NULL, NULL, NULL, 0, WORKER_UNCAPPED, NULL,
                                         fds_done, &result, NULL), ==, 0);
        while (!result)
                g_assert_cmpint(sd_event_run(event, 5 * USEC_PER_SEC), >, 0);
        g_assert_cmpint(never, ==, 0);
        g_assert_cmpuint(m->n_workers, ==, 0);
        g_assert_cmpuint(g_queue_get_length(&m->worker_queue), ==, 1);
        manager_free(m);        /* frees the queued one without running it */
        g_assert_cmpint(never, ==, 0);
        sd_event_unref(event);
        (void) rm_rf(dir);
}

/* ---- worker_spawn_exec: a program exec'd without forking us, with what a forked worker gets ---- */

static void exec_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        char **result = userdata;

        g_assert_cmpint(status, ==, 0);
        *result = g_strndup(output, size);
}

static void test_worker_exec(void) {
        g_autofree char *dir = g_dir_make_tmp("cm-test-exec-XXXXXX", NULL);
        g_autofree char *result = NULL;
        sd_event *event = NULL;
        Manager *m = NULL;
        int p[2], stray;
        sigset_t ss;
        /* Its blocked and ignored signals, read by the shell itself before it runs anything
         * (builtins only: dash blocks every signal around the vfork() of a child, so a child that
         * read /proc/$$/status would see that mask, not the one the worker gave it); then which
         * descriptors above the result pipe it has (stat, not a directory listing, which would
         * open one; exec, not a redirection that would save stdout at 10). */
        char *argv[] = { (char *) "/bin/sh", (char *) "-c",
                         (char *) "exec >&3; while read -r l; do case $l in SigBlk:*|SigIgn:*) echo \"$l\";; esac; "
                                  "done </proc/$$/status; "
                                  "for i in $(seq 4 200); do [ -e /proc/$$/fd/$i ] && echo open $i; done; echo done",
                         NULL };

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        g_assert_cmpint(sigprocmask(SIG_BLOCK, &ss, NULL), ==, 0);
        g_assert_true(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(manager_new(event, dir, dir, dir, &m), ==, 0);
        /* a descriptor of ours without O_CLOEXEC must not reach it either */
        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        stray = fcntl(p[1], F_DUPFD, 40);
        g_assert_cmpint(stray, >=, 40);

        g_assert_cmpint(worker_spawn_exec(m, argv, exec_done, &result, NULL), ==, 0);
        while (!result)
                g_assert_cmpint(sd_event_run(event, 5 * USEC_PER_SEC), >, 0);
        /* Nothing blocked, nothing of the 31 standard signals ignored (SIGPIPE was, here); glibc
         * keeps its two internal real-time signals to itself, as with fork(). */
        {
                unsigned long long ign;
                if (!g_str_has_prefix(result, "SigBlk:\t0000000000000000\nSigIgn:\t"))
                        g_error("the helper said: %s", result);
                ign = g_ascii_strtoull(result + strlen("SigBlk:\t0000000000000000\nSigIgn:\t"), NULL, 16);
                g_assert_cmphex(ign & 0x7fffffffULL, ==, 0);
                g_assert_true(g_str_has_suffix(result, "\ndone\n"));
                g_assert_null(strstr(result, "open"));
        }

        close(stray);
        close(p[0]);
        close(p[1]);
        g_assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
        manager_free(m);
        sd_event_unref(event);
        (void) rm_rf(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/exec/user-lookup", test_user_lookup);
        g_test_add_func("/exec/user-groups", test_user_groups);
        g_test_add_func("/exec/result-parse", test_result_parse);
        g_test_add_func("/exec/worker-fds", test_worker_fds);
        g_test_add_func("/exec/worker-uncapped", test_worker_uncapped);
        g_test_add_func("/exec/worker-exec", test_worker_exec);
        return g_test_run();
}
