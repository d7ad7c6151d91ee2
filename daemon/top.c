/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "cgroup.h"
#include "top.h"
#include "util.h"

static void top_process_free(gpointer p) {
        TopProcess *t = p;

        if (!t)
                return;
        g_free(t->user);
        g_free(t->cmdline);
        g_free(t);
}

void top_info_clear(TopInfo *t) {
        if (t->processes)
                g_ptr_array_unref(t->processes);
        *t = (TopInfo) {};
}

int top_parse_stat(const char *stat, uint64_t *ret_ticks) {
        unsigned long long utime, stime;
        const char *p;

        /* The command name may contain anything, including ') ': skip to the last ')'. */
        p = stat ? strrchr(stat, ')') : NULL;
        if (!p)
                return -EBADMSG;
        /* fields after comm: state(3) ... utime(14) stime(15) */
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -EBADMSG;
        *ret_ticks = utime + stime;
        return 0;
}

/* At most max bytes of a file, never more: what a process puts in its argument area is its own
 * business and may be huge. Sets *ret_cut when there was more. */
static int read_bounded(const char *path, size_t max, char **ret, size_t *ret_len, bool *ret_cut) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        g_autofree char *buf = NULL;
        size_t len = 0;
        ssize_t n;

        if (fd < 0)
                return -errno;
        buf = g_malloc(max + 2);
        /* One byte more than we keep: whether anything was left out. */
        while (len < max + 1) {
                n = read(fd, buf + len, max + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        *ret_cut = len > max;
        if (*ret_cut)
                len = max;
        buf[len] = 0;
        *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The command line, cut at TOP_CMDLINE_MAX bytes (with TOP_CUT_MARK) and valid UTF-8. */
static char *read_cmdline(pid_t pid, bool *ret_cut) {
        g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int) pid);
        g_autofree char *data = NULL, *valid = NULL;
        const char *end = NULL;
        size_t len = 0;
        bool cut = false;

        *ret_cut = false;
        if (read_bounded(path, TOP_CMDLINE_MAX, &data, &len, &cut) < 0 || len == 0) {
                g_autofree char *comm_path = g_strdup_printf("/proc/%d/comm", (int) pid);
                g_autofree char *comm = NULL;
                size_t n;
                if (read_bounded(comm_path, 64, &comm, &n, &cut) < 0)
                        return g_strdup("");
                return g_strdup_printf("[%s]", g_strchomp(comm));
        }
        for (size_t i = 0; i + 1 < len; i++)
                if (data[i] == 0)
                        data[i] = ' ';
        if (cut)
                for (size_t i = 0; i < len; i++)
                        if (data[i] == 0)
                                data[i] = ' ';
        valid = g_utf8_make_valid(data, -1);
        if (strlen(valid) > TOP_CMDLINE_MAX) {
                /* Invalid bytes became U+FFFD, three bytes each: cut again, on a character. */
                cut = true;
                g_utf8_validate(valid, TOP_CMDLINE_MAX, &end);
                valid[end - valid] = 0;
        }
        *ret_cut = cut;
        if (cut)
                return g_strconcat(valid, TOP_CUT_MARK, NULL);
        return TAKE_PTR(valid);
}

static int read_process(pid_t pid, long ticks_per_sec, uid_t shift, uint32_t n_ids, TopProcess **ret) {
        g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", (int) pid);
        g_autofree char *status_path = g_strdup_printf("/proc/%d/status", (int) pid);
        g_autofree char *stat = NULL, *status = NULL;
        g_auto(GStrv) lines = NULL;
        TopProcess *t;
        uint64_t ticks;

        /* A process may exit while we look: that's not an error, just one process fewer. */
        if (!g_file_get_contents(stat_path, &stat, NULL, NULL) ||
            !g_file_get_contents(status_path, &status, NULL, NULL))
                return -ESRCH;
        if (top_parse_stat(stat, &ticks) < 0)
                return -EBADMSG;

        t = g_new0(TopProcess, 1);
        t->pid = pid;
        t->ns_pid = pid;
        t->cpu_nsec = ticks * (1000000000ULL / (uint64_t) ticks_per_sec);
        lines = g_strsplit(status, "\n", -1);
        for (char **l = lines; *l; l++) {
                if (g_str_has_prefix(*l, "Uid:"))
                        t->uid = (uid_t) g_ascii_strtoull(*l + 4, NULL, 10);
                else if (g_str_has_prefix(*l, "Threads:"))
                        t->threads = g_ascii_strtoull(*l + 8, NULL, 10);
                else if (g_str_has_prefix(*l, "VmRSS:"))
                        t->rss_bytes = g_ascii_strtoull(*l + 6, NULL, 10) * 1024;
                else if (g_str_has_prefix(*l, "NSpid:")) {
                        /* The last field is the pid in the innermost namespace. */
                        g_auto(GStrv) f = g_strsplit_set(g_strstrip(*l + 6), " \t", -1);
                        guint n = g_strv_length(f);
                        if (n > 0)
                                t->ns_pid = (pid_t) g_ascii_strtoll(f[n - 1], NULL, 10);
                }
        }
        if (n_ids > 0 && t->uid >= shift && t->uid - shift < n_ids) {
                /* The container's own processes: ids as the container knows them. Its names
                 * live in its own /etc/passwd, which a root service does not parse. */
                t->uid -= shift;
                t->user = t->uid == 0 ? g_strdup("root") : g_strdup_printf("%u", (unsigned) t->uid);
        } else {
                struct passwd pw, *result = NULL;
                char buf[1024];
                if (getpwuid_r(t->uid, &pw, buf, sizeof(buf), &result) == 0 && result)
                        t->user = g_strdup(pw.pw_name);
                else
                        t->user = g_strdup_printf("%u", (unsigned) t->uid);
        }
        *ret = t;
        return 0;
}

static gint compare_pid(gconstpointer a, gconstpointer b) {
        const TopProcess *x = *(const TopProcess *const *) a, *y = *(const TopProcess *const *) b;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

int top_collect(const char *cgroup, uid_t shift, uint32_t n_ids, TopInfo *ret) {
        g_autoptr(GArray) pids = g_array_new(false, false, sizeof(pid_t));
        g_autofree char *dir = NULL;
        long ticks = sysconf(_SC_CLK_TCK);
        size_t text = 0;
        TopInfo t = {};

        if (isempty(cgroup) || cgroup[0] != '/' || strstr(cgroup, ".."))
                return -EINVAL;
        dir = g_build_filename(cgroup_process_root(), cgroup, NULL);
        if (access(dir, F_OK) < 0)
                return -errno;
        if (ticks <= 0)
                ticks = 100;

        /* What runs inside, as machinectl and podman show it: not LXC's monitor, which is ours
         * (the scope holds lxc.monitor.NAME beside lxc.payload.NAME). */
        cgroup_collect_pids_except(dir, "lxc.monitor.", pids);
        t.processes = g_ptr_array_new_with_free_func(top_process_free);
        for (guint i = 0; i < pids->len; i++) {
                TopProcess *p;
                if (read_process(g_array_index(pids, pid_t, i), ticks, shift, n_ids, &p) < 0)
                        continue;
                t.cpu_nsec += p->cpu_nsec;
                t.memory_bytes += p->rss_bytes;
                t.tasks += MAX(p->threads, 1);
                g_ptr_array_add(t.processes, p);
        }
        g_ptr_array_sort(t.processes, compare_pid);
        /* The totals are of all of them; the list is bounded (see top.h). */
        if (t.processes->len > TOP_PROCESSES_MAX) {
                g_ptr_array_set_size(t.processes, TOP_PROCESSES_MAX);
                t.truncated = true;
        }
        for (guint i = 0; i < t.processes->len; i++) {
                TopProcess *p = t.processes->pdata[i];
                bool cut = false;

                if (text >= TOP_TEXT_MAX) {
                        p->cmdline = g_strdup(TOP_CUT_MARK);
                        t.truncated = true;
                        continue;
                }
                p->cmdline = read_cmdline(p->pid, &cut);
                t.truncated = t.truncated || cut;
                text += strlen(p->cmdline) + strlen(p->user ?: "");
        }
        *ret = t;
        return 0;
}

/* One line of totals, then one line per process; the user and the command line escaped, so a
 * process cannot forge lines of its own. */
char *top_info_serialize(const TopInfo *t) {
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %d\n",
                               t->cpu_nsec, t->memory_bytes, t->tasks, (int) t->truncated);
        for (guint i = 0; t->processes && i < t->processes->len; i++) {
                const TopProcess *p = t->processes->pdata[i];
                g_autofree char *user = g_strescape(p->user ?: "", NULL), *cmd = g_strescape(p->cmdline ?: "", NULL);

                g_string_append_printf(s, "%d %d %u %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s %s\n",
                                       (int) p->pid, (int) p->ns_pid, (unsigned) p->uid, p->cpu_nsec, p->rss_bytes,
                                       p->threads, user[0] ? user : "\"\"", cmd);
        }
        return g_string_free(s, false);
}

int top_info_deserialize(const char *text, size_t size, TopInfo *ret) {
        g_autofree char *copy = g_strndup(text, size);
        g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
        g_autoptr(GPtrArray) procs = g_ptr_array_new_with_free_func(top_process_free);
        TopInfo t = {};
        int truncated = 0;

        if (!lines[0] || sscanf(lines[0], "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %d",
                                &t.cpu_nsec, &t.memory_bytes, &t.tasks, &truncated) != 4)
                return -EBADMSG;
        t.truncated = truncated != 0;
        for (char **l = lines + 1; *l; l++) {
                g_auto(GStrv) f = NULL;
                TopProcess *p;

                if (!**l)
                        continue;
                f = g_strsplit(*l, " ", 8);
                if (g_strv_length(f) != 8)
                        return -EBADMSG;
                p = g_new0(TopProcess, 1);
                g_ptr_array_add(procs, p);
                p->pid = (pid_t) g_ascii_strtoll(f[0], NULL, 10);
                p->ns_pid = (pid_t) g_ascii_strtoll(f[1], NULL, 10);
                p->uid = (uid_t) g_ascii_strtoull(f[2], NULL, 10);
                p->cpu_nsec = g_ascii_strtoull(f[3], NULL, 10);
                p->rss_bytes = g_ascii_strtoull(f[4], NULL, 10);
                p->threads = g_ascii_strtoull(f[5], NULL, 10);
                p->user = streq(f[6], "\"\"") ? g_strdup("") : g_strcompress(f[6]);
                p->cmdline = g_strcompress(f[7]);
        }
        t.processes = TAKE_PTR(procs);
        *ret = t;
        return 0;
}
