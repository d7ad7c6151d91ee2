/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "manager.h"

/* Slow work (reading the journal, fetching sources) runs in a forked child so the bus loop
 * never waits. The child writes its result to a pipe; the parent collects it without
 * blocking and hands it over once the child has exited. */
typedef struct Worker Worker;

/* Runs in the child: write the result to fd, return an exit status. */
typedef int (*WorkerFunc)(int fd, void *data);
/* Runs in the parent: output is everything the child wrote, status its exit status
 * (or 128+signal). Called once; the Worker is freed right after. */
typedef void (*WorkerDone)(Worker *w, const char *output, size_t size, int status, void *userdata);

/* Runs in the parent for each complete line the child writes, as it arrives (without the
 * newline). Workers with a line callback don't collect their output for done. */
typedef void (*WorkerLine)(Worker *w, const char *line, void *userdata);

/* A worker may start later than asked (queued behind the cap): data must stay valid until it
 * has ended. With data_free, the worker owns data and frees it then (after done, or when
 * cancelled). keep_fd (or -1): a descriptor the child also gets, as WORKER_KEEP_FD (the
 * caller keeps its own; the worker holds a copy until it forks). */
#define WORKER_RESULT_FD 3
#define WORKER_KEEP_FD 4
int worker_spawn_full(Manager *m, const char *name, WorkerFunc func, void *data, GDestroyNotify data_free,
                      int keep_fd, WorkerLine line, WorkerDone done, void *userdata, Worker **ret);
/* The same with several descriptors: keep_fds[i] becomes WORKER_KEEP_FD + i in the child. */
#define WORKER_KEEP_FDS_MAX 8
typedef enum WorkerFlags {
        /* Starts at once and takes no slot of max_workers: for workers that live as long as a
         * client wants (a shell), which must not keep Top, Logs or builds waiting. Whoever
         * spawns them caps them itself. */
        WORKER_UNCAPPED = 1 << 0,
} WorkerFlags;
int worker_spawn_fds(Manager *m, const char *name, WorkerFunc func, void *data, GDestroyNotify data_free,
                     const int *keep_fds, size_t n_keep_fds, WorkerFlags flags, WorkerLine line, WorkerDone done,
                     void *userdata, Worker **ret);
int worker_spawn(Manager *m, const char *name, WorkerFunc func, void *data, WorkerDone done, void *userdata, Worker **ret);
int worker_spawn_lines(Manager *m, const char *name, WorkerFunc func, void *data, WorkerLine line,
                       WorkerDone done, void *userdata, Worker **ret);
/* A worker that runs a program instead of a function: argv[0] (an absolute path) is exec'd
 * through posix_spawn(), so the daemon is not forked; it gets the result pipe as
 * WORKER_RESULT_FD and nothing else. For work repeated at a high rate (Top). */
int worker_spawn_exec(Manager *m, char **argv, WorkerDone done, void *userdata, Worker **ret);
/* Asks the child to stop (SIGTERM) without waiting; done is called when it has exited. */
void worker_terminate(Worker *w);
/* Nobody wants the result: done is never called, w must not be used any more. The child gets
 * SIGTERM, then SIGKILL after a grace time, and is reaped by the event loop. */
void worker_cancel(Worker *w);
pid_t worker_get_pid(Worker *w);
/* At exit: SIGKILL to every worker still running; frees them all without calling done. */
void manager_workers_free_all(Manager *m);
