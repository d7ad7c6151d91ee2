/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forked workers, one shape for every slow job: the child starts with default signals, only
 * its result pipe (as fd 3) and the descriptors it was given to keep (4, 5, ...), and dies with
 * the daemon; at most manager->max_workers run at once and the rest wait in a queue; a
 * cancelled one gets SIGTERM, then SIGKILL after a grace time, through its pidfd, and is reaped
 * by the event loop, never by a blocking waitpid(). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "worker.h"
#include "log.h"

#define WORKER_KILL_GRACE_USEC (5 * USEC_PER_SEC)

struct Worker {
        Manager *manager;
        char *name;
        WorkerFunc func;
        char **argv;            /* instead of func: a program to exec, without forking the daemon */
        void *data;
        GDestroyNotify data_free;
        int *keep_fds;          /* our copies of the descriptors the child gets as WORKER_KEEP_FD.. */
        size_t n_keep_fds;
        pid_t pid;              /* 0 while queued */
        int fd;
        GByteArray *output;
        sd_event_source *io_source;
        sd_event_source *child_source;
        sd_event_source *kill_timer;
        bool queued;
        bool uncapped;          /* not counted against max_workers (its caller has a cap of its own) */
        bool cancelled;         /* nobody wants the result: reaped, then freed */
        bool eof;
        bool exited;
        int status;
        WorkerLine line;
        WorkerDone done;
        void *userdata;
};

static void worker_start_queued(Manager *m);

static void worker_close_keep_fds(Worker *w) {
        for (size_t i = 0; i < w->n_keep_fds; i++)
                if (w->keep_fds[i] >= 0)
                        close(w->keep_fds[i]);
        g_clear_pointer(&w->keep_fds, g_free);
        w->n_keep_fds = 0;
}

static Worker *worker_free(Worker *w) {
        Manager *m;

        if (!w)
                return NULL;
        m = w->manager;
        if (w->queued)
                g_queue_remove(&m->worker_queue, w);
        else if (w->pid > 0 && !w->uncapped && m->n_workers > 0)
                m->n_workers--;
        g_hash_table_remove(m->workers, w);
        sd_event_source_disable_unref(w->io_source);
        sd_event_source_disable_unref(w->child_source);
        sd_event_source_disable_unref(w->kill_timer);
        if (w->fd >= 0)
                close(w->fd);
        worker_close_keep_fds(w);
        if (w->data_free)
                w->data_free(w->data);
        g_byte_array_unref(w->output);
        g_strfreev(w->argv);
        g_free(w->name);
        manager_operation_end(m);
        g_free(w);
        /* A slot is free: the next queued worker may start. */
        worker_start_queued(m);
        return NULL;
}

static void worker_maybe_done(Worker *w) {
        if (!w->eof || !w->exited)
                return;
        if (!w->cancelled)
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
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        worker_maybe_done(w);
        return 0;
}

static _Noreturn void worker_child(int fd, const int *keep_fds, size_t n_keep_fds, WorkerFunc func, void *data,
                                   const char *name) {
        int parked[n_keep_fds + 1];
        sigset_t ss;

        /* Leave the daemon's world behind: default signals, no bus socket, no other worker's
         * pipe or another start's descriptors; only our result pipe and the kept descriptors,
         * at fixed numbers. */
        sigemptyset(&ss);
        sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        /* All come from F_DUPFD_CLOEXEC/pipe2 at 3 or above: park them high first, so that
         * moving one to its number cannot overwrite another. */
        fd = fcntl(fd, F_DUPFD, 100);
        if (fd < 0)
                _exit(EXIT_FAILURE);
        for (size_t i = 0; i < n_keep_fds; i++) {
                parked[i] = fcntl(keep_fds[i], F_DUPFD, 100);
                if (parked[i] < 0)
                        _exit(EXIT_FAILURE);
        }
        if (dup2(fd, WORKER_RESULT_FD) < 0)
                _exit(EXIT_FAILURE);
        for (size_t i = 0; i < n_keep_fds; i++)
                if (dup2(parked[i], WORKER_KEEP_FD + (int) i) < 0)
                        _exit(EXIT_FAILURE);
        (void) close_range(WORKER_KEEP_FD + (unsigned) n_keep_fds, ~0U, 0);
        /* Don't outlive the daemon: nobody would read our result. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
                _exit(EXIT_FAILURE);
        (void) rename_process(name);
        _exit(func(WORKER_RESULT_FD, data));
}

/* posix_spawn() is clone(CLONE_VM|CLONE_VFORK) + exec in glibc: unlike fork(), it copies
 * none of the daemon's page tables and leaves its pages writable, so the loop pays for neither
 * the copy nor the copy-on-write faults after it (costly here: each is a TLB shootdown). The
 * child gets what a forked worker gets: default signals, an empty mask, the result pipe as
 * WORKER_RESULT_FD and nothing else above stderr. */
static int worker_exec(Worker *w, int fd, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t all, none;
        pid_t pid;
        int r;

        assert(w->n_keep_fds == 0);

        (void) sigfillset(&all);
        (void) sigemptyset(&none);
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                (void) posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* A dup2 onto itself clears O_CLOEXEC (glibc >= 2.29), so fd == 3 works too. */
        r = posix_spawn_file_actions_adddup2(&fa, fd, WORKER_RESULT_FD);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_RESULT_FD + 1);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawn(&pid, w->argv[0], &fa, &attr, w->argv, environ);
        (void) posix_spawnattr_destroy(&attr);
        (void) posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}

static int worker_fork(Worker *w) {
        Manager *m = w->manager;
        int p[2], r;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;

        if (w->argv) {
                r = worker_exec(w, p[1], &pid);
                if (r < 0) {
                        close(p[0]);
                        close(p[1]);
                        return r;
                }
        } else {
                pid = fork();
                if (pid < 0) {
                        r = -errno;
                        close(p[0]);
                        close(p[1]);
                        return r;
                }
                if (pid == 0) {
                        close(p[0]);
                        worker_child(p[1], w->keep_fds, w->n_keep_fds, w->func, w->data, w->name);
                }
        }
        close(p[1]);
        worker_close_keep_fds(w);

        w->pid = pid;
        w->fd = p[0];
        (void) fcntl(w->fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(m->event, &w->io_source, w->fd, EPOLLIN, on_worker_io, w);
        if (r >= 0)
                r = sd_event_add_child(m->event, &w->child_source, pid, WEXITED, on_worker_exit, w);
        if (r < 0) {
                /* Nothing watches it yet: this is the one place we wait, for a child we just killed. */
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                w->pid = 0;
                return r;
        }
        if (!w->uncapped)
                m->n_workers++;
        return 0;
}

static void worker_start_queued(Manager *m) {
        while (m->n_workers < m->max_workers && !g_queue_is_empty(&m->worker_queue)) {
                Worker *w = g_queue_pop_head(&m->worker_queue);
                int r;

                w->queued = false;
                r = worker_fork(w);
                if (r < 0) {
                        log_error_errno(r, "Cannot start queued worker '%s'", w->name);
                        /* Report it as a failed worker, from the loop as always. */
                        w->eof = w->exited = true;
                        w->status = EXIT_FAILURE;
                        worker_maybe_done(w);
                }
        }
}

int worker_spawn(Manager *m, const char *name, WorkerFunc func, void *data, WorkerDone done, void *userdata, Worker **ret) {
        return worker_spawn_full(m, name, func, data, NULL, -1, NULL, done, userdata, ret);
}

int worker_spawn_lines(Manager *m, const char *name, WorkerFunc func, void *data, WorkerLine line,
                       WorkerDone done, void *userdata, Worker **ret) {
        return worker_spawn_full(m, name, func, data, NULL, -1, line, done, userdata, ret);
}

int worker_spawn_full(Manager *m, const char *name, WorkerFunc func, void *data, GDestroyNotify data_free,
                      int keep_fd, WorkerLine line, WorkerDone done, void *userdata, Worker **ret) {
        return worker_spawn_fds(m, name, func, data, data_free, keep_fd >= 0 ? &keep_fd : NULL, keep_fd >= 0 ? 1 : 0,
                                0, line, done, userdata, ret);
}

static int worker_spawn_internal(Manager *m, const char *name, WorkerFunc func, char **argv, void *data,
                                 GDestroyNotify data_free, const int *keep_fds, size_t n_keep_fds, WorkerFlags flags,
                                 WorkerLine line, WorkerDone done, void *userdata, Worker **ret) {
        Worker *w;
        int r;

        assert(m);
        assert(m->event);
        assert(!!func != !!argv);
        assert(!argv || n_keep_fds == 0);
        assert(done);
        assert(n_keep_fds == 0 || keep_fds);
        assert(n_keep_fds <= WORKER_KEEP_FDS_MAX);

        w = g_new0(Worker, 1);
        w->manager = m;
        w->keep_fds = g_new(int, n_keep_fds ?: 1);
        for (size_t i = 0; i < n_keep_fds; i++) {
                w->keep_fds[i] = fcntl(keep_fds[i], F_DUPFD_CLOEXEC, 3);
                if (w->keep_fds[i] < 0) {
                        r = -errno;
                        worker_close_keep_fds(w);
                        g_free(w);
                        return r;
                }
                w->n_keep_fds = i + 1;
        }
        w->name = g_strdup(name);
        w->func = func;
        w->argv = g_strdupv(argv);
        w->data = data;
        w->fd = -1;
        w->output = g_byte_array_new();
        w->line = line;
        w->done = done;
        w->userdata = userdata;
        w->uncapped = flags & WORKER_UNCAPPED;

        if (!w->uncapped && m->n_workers >= m->max_workers) {
                /* Over the cap: it waits its turn (and counts as work in flight meanwhile). */
                w->queued = true;
                g_queue_push_tail(&m->worker_queue, w);
        } else {
                r = worker_fork(w);
                if (r < 0) {
                        /* Not ours yet: the caller still owns data. */
                        worker_close_keep_fds(w);
                        g_byte_array_unref(w->output);
                        g_strfreev(w->argv);
                        g_free(w->name);
                        g_free(w);
                        return r;
                }
        }
        w->data_free = data_free;
        g_hash_table_add(m->workers, w);
        manager_operation_begin(m);
        if (ret)
                *ret = w;
        return 0;
}

int worker_spawn_fds(Manager *m, const char *name, WorkerFunc func, void *data, GDestroyNotify data_free,
                     const int *keep_fds, size_t n_keep_fds, WorkerFlags flags, WorkerLine line, WorkerDone done,
                     void *userdata, Worker **ret) {
        assert(func);
        return worker_spawn_internal(m, name, func, NULL, data, data_free, keep_fds, n_keep_fds, flags, line, done,
                                     userdata, ret);
}

int worker_spawn_exec(Manager *m, char **argv, WorkerDone done, void *userdata, Worker **ret) {
        assert(argv && argv[0]);
        return worker_spawn_internal(m, argv[0], NULL, argv, NULL, NULL, NULL, 0, 0, NULL, done, userdata, ret);
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        if (w->child_source)
                (void) sd_event_source_send_child_signal(w->child_source, SIGKILL, NULL, 0);
        return 0;
}

void worker_cancel(Worker *w) {
        if (!w)
                return;
        if (w->queued || w->exited || !w->child_source) {
                w->cancelled = true;
                if (w->queued || w->exited)
                        worker_free(w);
                return;
        }
        /* Nobody waits for the result any more; the loop reaps the child and frees the rest. */
        w->cancelled = true;
        w->io_source = sd_event_source_disable_unref(w->io_source);
        w->eof = true;
        (void) sd_event_source_send_child_signal(w->child_source, SIGTERM, NULL, 0);
        if (sd_event_add_time_relative(w->manager->event, &w->kill_timer, CLOCK_MONOTONIC,
                                       WORKER_KILL_GRACE_USEC, 0, on_kill_timer, w) < 0)
                (void) sd_event_source_send_child_signal(w->child_source, SIGKILL, NULL, 0);
}

void worker_terminate(Worker *w) {
        if (w && !w->queued && !w->exited && w->child_source)
                (void) sd_event_source_send_child_signal(w->child_source, SIGTERM, NULL, 0);
}

pid_t worker_get_pid(Worker *w) {
        return w->pid;
}

void manager_workers_free_all(Manager *m) {
        GHashTableIter it;
        Worker *w;

        /* At exit: start nothing more, kill what runs (PR_SET_PDEATHSIG would too), free all. */
        m->max_workers = 0;
        for (;;) {
                g_hash_table_iter_init(&it, m->workers);
                if (!g_hash_table_iter_next(&it, (void **) &w, NULL))
                        break;
                if (w->pid > 0 && !w->exited)
                        (void) kill(w->pid, SIGKILL);
                worker_free(w);
        }
}
