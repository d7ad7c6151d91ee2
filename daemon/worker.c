/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "worker.h"

struct Worker {
        Manager *manager;
        pid_t pid;
        int fd;
        GByteArray *output;
        sd_event_source *io_source;
        sd_event_source *child_source;
        bool eof;
        bool exited;
        int status;
        WorkerLine line;
        WorkerDone done;
        void *userdata;
};

static Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->io_source);
        sd_event_source_disable_unref(w->child_source);
        if (w->fd >= 0)
                close(w->fd);
        g_byte_array_unref(w->output);
        manager_operation_end(w->manager);
        g_free(w);
        return NULL;
}

static void worker_maybe_done(Worker *w) {
        if (!w->eof || !w->exited)
                return;
        w->done(w, (const char *) w->output->data, w->output->len, w->status, w->userdata);
        worker_free(w);
}

static void worker_flush_lines(Worker *w, bool eof) {
        guint start = 0;

        for (guint i = 0; i < w->output->len; i++)
                if (w->output->data[i] == '\n') {
                        g_autofree char *l = g_strndup((const char *) w->output->data + start, i - start);
                        w->line(w, l, w->userdata);
                        start = i + 1;
                }
        if (eof && start < w->output->len) {
                g_autofree char *l = g_strndup((const char *) w->output->data + start, w->output->len - start);
                w->line(w, l, w->userdata);
                start = w->output->len;
        }
        g_byte_array_remove_range(w->output, 0, start);
}

static int on_worker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        uint8_t buf[65536];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n > 0) {
                        g_byte_array_append(w->output, buf, (guint) n);
                        if (w->line)
                                worker_flush_lines(w, false);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                break; /* EOF or error */
        }
        w->io_source = sd_event_source_disable_unref(w->io_source);
        if (w->line)
                worker_flush_lines(w, true);
        w->eof = true;
        worker_maybe_done(w);
        return 0;
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;

        w->exited = true;
        w->status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        w->child_source = sd_event_source_disable_unref(w->child_source);
        worker_maybe_done(w);
        return 0;
}

int worker_spawn(Manager *m, const char *name, WorkerFunc func, void *data, WorkerDone done, void *userdata, Worker **ret) {
        return worker_spawn_lines(m, name, func, data, NULL, done, userdata, ret);
}

int worker_spawn_lines(Manager *m, const char *name, WorkerFunc func, void *data, WorkerLine line,
                       WorkerDone done, void *userdata, Worker **ret) {
        Worker *w;
        int p[2], r;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;

        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t ss;

                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                /* Don't outlive the daemon: nobody would read our result. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) rename_process(name);
                close(p[0]);
                _exit(func(p[1], data));
        }
        close(p[1]);

        w = g_new0(Worker, 1);
        w->manager = m;
        w->pid = pid;
        w->fd = p[0];
        w->output = g_byte_array_new();
        w->line = line;
        w->done = done;
        w->userdata = userdata;
        manager_operation_begin(m);

        (void) fcntl(w->fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(m->event, &w->io_source, w->fd, EPOLLIN, on_worker_io, w);
        if (r >= 0)
                r = sd_event_add_child(m->event, &w->child_source, pid, WEXITED, on_worker_exit, w);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                worker_free(w);
                return r;
        }
        if (ret)
                *ret = w;
        return 0;
}

Worker *worker_cancel(Worker *w) {
        if (!w)
                return NULL;
        if (!w->exited) {
                (void) kill(w->pid, SIGKILL);
                /* Reap it here: its child source goes away with the worker. */
                (void) waitpid(w->pid, NULL, 0);
        }
        return worker_free(w);
}

void worker_terminate(Worker *w) {
        if (w && !w->exited)
                (void) kill(w->pid, SIGTERM);
}

pid_t worker_get_pid(Worker *w) {
        return w->pid;
}
