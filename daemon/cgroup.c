/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "cgroup.h"
#include "util.h"

const char *cgroup_process_root(void) {
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
                return "/sys/fs/cgroup";
        if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0)
                return "/sys/fs/cgroup/unified";
        return "/sys/fs/cgroup/systemd";
}

static void collect_pids(const char *dir, const char *skip_prefix, GArray *pids, unsigned depth) {
        g_autofree char *procs = g_build_filename(dir, "cgroup.procs", NULL);
        g_autofree char *text = NULL;
        g_autoptr(GDir) d = NULL;
        const char *fn;

        if (g_file_get_contents(procs, &text, NULL, NULL)) {
                g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
                for (char **l = lines; *l; l++) {
                        pid_t pid = (pid_t) g_ascii_strtoll(*l, NULL, 10);
                        if (pid > 0)
                                g_array_append_val(pids, pid);
                }
        }
        if (depth >= 16)
                return;
        d = g_dir_open(dir, 0, NULL);
        while (d && (fn = g_dir_read_name(d))) {
                g_autofree char *sub = NULL;

                if (depth == 0 && skip_prefix && g_str_has_prefix(fn, skip_prefix))
                        continue;
                sub = g_build_filename(dir, fn, NULL);
                if (g_file_test(sub, G_FILE_TEST_IS_DIR))
                        collect_pids(sub, NULL, pids, depth + 1);
        }
}

void cgroup_collect_pids(const char *dir, GArray *pids) {
        assert(dir);
        assert(pids);
        collect_pids(dir, NULL, pids, 0);
}

void cgroup_collect_pids_except(const char *dir, const char *skip_prefix, GArray *pids) {
        assert(dir);
        assert(pids);
        collect_pids(dir, skip_prefix, pids, 0);
}

int cgroup_pid_unified_path(pid_t pid, char **ret) {
        g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int) pid), *text = NULL;
        g_auto(GStrv) lines = NULL;

        assert(pid > 0);
        assert(ret);
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) < 0 &&
            access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) < 0)
                return -EOPNOTSUPP;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -ESRCH;
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                /* "0::/path", relative to our cgroup namespace: the hierarchy's root as we see it. */
                if (g_str_has_prefix(*l, "0::/") && !strstr(*l, "/..")) {
                        *ret = g_build_filename(cgroup_process_root(), *l + 3, NULL);
                        return 0;
                }
        return -ENOENT;
}

int cgroup_set_frozen(const char *dir, bool frozen) {
        g_autofree char *path = g_build_filename(dir, "cgroup.freeze", NULL);
        _cleanup_close_ int fd = -1;

        assert(dir);
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? -EOPNOTSUPP : -errno;
        return loop_write(fd, frozen ? "1" : "0", 1);
}

int cgroup_is_frozen(const char *dir) {
        g_autofree char *path = g_build_filename(dir, "cgroup.events", NULL), *text = NULL;
        const char *p;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -ENOENT;
        p = strstr(text, "frozen ");
        if (!p || (p != text && p[-1] != '\n'))
                return -EBADMSG;
        return p[7] == '1';
}

static bool path_startswith(const char *path, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

int cgroup_kill_recursive(const char *dir, int sig) {
        g_autoptr(GArray) pids = g_array_new(false, false, sizeof(pid_t));
        int n = 0;

        assert(dir);
        assert(sig > 0);
        cgroup_collect_pids(dir, pids);
        for (guint i = 0; i < pids->len; i++) {
                pid_t pid = g_array_index(pids, pid_t, i);
                /* Through a pidfd: a pid reused since the list was read is not hit. The pidfd
                 * refers to the process found in the cgroup, checked once more through it. */
                _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
                g_autofree char *path = NULL;

                if (pidfd < 0)
                        continue;
                if (cgroup_pid_unified_path(pid, &path) < 0 || !path_startswith(path, dir))
                        continue;
                if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) >= 0)
                        n++;
        }
        return n;
}
