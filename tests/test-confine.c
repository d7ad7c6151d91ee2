/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* confine_apply(): what a confined worker can no longer do, and what it still can. Each case
 * runs in a forked child, since confinement cannot be undone. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <linux/bpf.h>
#include <linux/sched.h>

#include "confine.h"
#include "util.h"

static uint64_t status_mask(const char *key) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        g_assert_true(g_file_get_contents("/proc/self/status", &text, NULL, NULL));
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, key) && (*l)[strlen(key)] == ':')
                        return g_ascii_strtoull(*l + strlen(key) + 1, NULL, 16);
        g_assert_not_reached();
}

/* Runs f in a child and asserts it exited with 0 (g_assert in the child aborts it). */
static void in_child(void (*f)(void *), void *data) {
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                f(data);
                _exit(EXIT_SUCCESS);
        }
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                g_error("the confined child failed (status 0x%x)", status);
}

#define assert_eperm(call) do {                                                 \
                errno = 0;                                                      \
                long _r = (long) (call);                                        \
                if (_r != -1 || errno != EPERM)                                 \
                        g_error("%s: %ld (%s), want EPERM", #call, _r, g_strerror(errno)); \
        } while (0)

static void child_denied(void *data) {
        const char *dir = data;
        g_autofree char *mnt = g_build_filename(dir, "mnt", NULL);
        union bpf_attr attr = {};
        struct clone_args ca = { .exit_signal = SIGCHLD };
        char name[256];
        int p[2];

        g_assert_cmpint(mkdir(mnt, 0755), ==, 0);
        g_assert_cmpint(gethostname(name, sizeof(name)), ==, 0);
        g_assert_cmpint(confine_apply(CONFINE_CAPS_STORE), ==, 0);

        assert_eperm(mount("none", mnt, "tmpfs", 0, NULL));
        assert_eperm(umount2("/", MNT_DETACH));
        assert_eperm(unshare(CLONE_NEWUSER));
        assert_eperm(unshare(CLONE_NEWNS));
        assert_eperm(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0));
        assert_eperm(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, NULL, NULL, 0));
        assert_eperm(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
        assert_eperm(syscall(SYS_io_uring_setup, 1, NULL));
        assert_eperm(syscall(SYS_keyctl, 0, 0, 0, 0, 0));
        assert_eperm(syscall(SYS_ptrace, 0, 0, NULL, NULL));
        assert_eperm(syscall(SYS_init_module, NULL, 0, ""));
        assert_eperm(syscall(SYS_kexec_load, 0, 0, NULL, 0));
        assert_eperm(syscall(SYS_setns, 0, 0));
        assert_eperm(sethostname(name, strlen(name)));
        /* clone3() hides its flags: refused as if the kernel had none, so callers fall back */
        errno = 0;
        g_assert_cmpint(syscall(SYS_clone3, &ca, sizeof(ca)), ==, -1);
        g_assert_cmpint(errno, ==, ENOSYS);

        /* the capabilities are gone for good */
        g_assert_cmpuint(status_mask("CapEff") & ~CONFINE_CAPS_STORE, ==, 0);
        g_assert_cmpuint(status_mask("CapPrm") & ~CONFINE_CAPS_STORE, ==, 0);
        g_assert_cmpuint(status_mask("CapBnd") & ~CONFINE_CAPS_STORE, ==, 0);
        g_assert_cmpuint(status_mask("CapInh"), ==, 0);
        g_assert_cmpuint(status_mask("CapAmb"), ==, 0);
        g_assert_cmpuint(status_mask("CapEff") & CONFINE_CAP(CAP_SYS_ADMIN), ==, 0);
        g_assert_cmpuint(status_mask("NoNewPrivs"), ==, 1);
        g_assert_cmpuint(status_mask("Seccomp"), ==, 2);

        /* what workers still do: files, pipes, children (fork, posix_spawn, exec) */
        g_assert_cmpint(pipe(p), ==, 0);
        g_assert_cmpint(write(p[1], "x", 1), ==, 1);
        {
                g_autofree char *out = NULL;
                int status = -1;
                const char *argv[] = { "/bin/sh", "-c", "echo spawned", NULL };
                g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, 0, NULL, NULL, &out, NULL, &status, NULL));
                g_assert_cmpint(status, ==, 0);
                g_assert_cmpstr(out, ==, "spawned\n");
        }
        {
                pid_t pid = fork();
                int status;
                g_assert_cmpint(pid, >=, 0);
                if (pid == 0)
                        _exit(7);
                g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
                g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 7);
        }
}

static void test_denied(void) {
        g_autofree char *dir = g_dir_make_tmp("cm-test-confine-XXXXXX", NULL);

        if (geteuid() != 0) {
                g_test_skip("needs root");
                return;
        }
        in_child(child_denied, dir);
        (void) rm_rf(dir);
}

static void child_store(void *data) {
        const char *dir = data;
        _cleanup_close_ int dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC), sub = -1;
        struct stat st;

        g_assert_cmpint(dfd, >=, 0);
        g_assert_cmpint(mkdirat(dfd, "opaque", 0755), ==, 0);
        g_assert_cmpint(mkdirat(dfd, "plain", 0755), ==, 0);
        g_assert_cmpint(confine_opaque_helper_start(), ==, 0);
        g_assert_cmpint(confine_apply(CONFINE_CAPS_STORE), ==, 0);

        /* owners, modes and whiteouts as an archive says */
        g_assert_cmpint(mknodat(dfd, "whiteout", S_IFCHR | 0, makedev(0, 0)), ==, 0);
        g_assert_cmpint(fchownat(dfd, "whiteout", 1000, 1000, AT_SYMLINK_NOFOLLOW), ==, 0);
        g_assert_cmpint(fstatat(dfd, "whiteout", &st, AT_SYMLINK_NOFOLLOW), ==, 0);
        g_assert_true(S_ISCHR(st.st_mode) && st.st_uid == 1000);

        /* the opaque mark: not by itself (no CAP_SYS_ADMIN), through the helper */
        sub = openat(dfd, "plain", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(sub, >=, 0);
        assert_eperm(fsetxattr(sub, "trusted.overlay.opaque", "y", 1, 0));
        close(sub);
        sub = openat(dfd, "opaque", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(sub, >=, 0);
        g_assert_cmpint(confine_set_opaque(sub), ==, 0);
        /* (reading a trusted xattr needs CAP_SYS_ADMIN too: the parent checks it) */
        /* only directories */
        close(sub);
        sub = openat(dfd, "whiteout", O_PATH | O_CLOEXEC | O_NOFOLLOW);
        g_assert_cmpint(sub, >=, 0);
        g_assert_cmpint(confine_set_opaque(sub), <, 0);
}

static void test_store(void) {
        g_autofree char *dir = g_dir_make_tmp("cm-test-confine-XXXXXX", NULL);
        _cleanup_close_ int fd = -1;

        if (geteuid() != 0) {
                g_test_skip("needs root");
                return;
        }
        fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        if (fsetxattr(fd, "trusted.test", "1", 1, 0) < 0) {
                g_test_skip("no trusted xattrs here");
                (void) rm_rf(dir);
                return;
        }
        in_child(child_store, dir);
        {
                g_autofree char *opaque = g_build_filename(dir, "opaque", NULL), *plain = g_build_filename(dir, "plain", NULL);
                char v[4] = {};
                g_assert_cmpint(getxattr(opaque, "trusted.overlay.opaque", v, sizeof(v)), ==, 1);
                g_assert_cmpint(v[0], ==, 'y');
                g_assert_cmpint(getxattr(plain, "trusted.overlay.opaque", v, sizeof(v)), <, 0);
        }
        (void) rm_rf(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/confine/denied", test_denied);
        g_test_add_func("/confine/store", test_store);
        return g_test_run();
}
