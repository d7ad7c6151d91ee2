/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <sys/types.h>

#include "container.h"

/* Running commands inside a running container: Exec (output captured), ExecWithFds (the
 * caller's descriptors) and OpenShell (a PTY allocated inside the container). The work is done
 * by a worker (worker.c) that attaches to the container through liblxc (runtime_attach()); the
 * command runs in a session of its own, so the worker can kill all of it. */

/* Per stream, for Exec: more is OutputTooLarge (the fd form has no limit). */
#define EXEC_MAX_OUTPUT ((uint64_t) 16 * 1024 * 1024)
/* Both streams together: the reply must stay below the bus's 32 MiB message limit (a message
 * over it makes dbus-daemon drop our connection). */
#define EXEC_MAX_REPLY_OUTPUT ((uint64_t) 32 * 1024 * 1024 - 256 * 1024)

typedef enum ExecMode {
        EXEC_CAPTURE,   /* stdin from the request, stdout and stderr collected */
        EXEC_FDS,       /* stdin, stdout, stderr: the worker's WORKER_KEEP_FD, +1, +2 */
        EXEC_SHELL,     /* a PTY; its master goes out through the socket at WORKER_KEEP_FD */
} ExecMode;

/* Errors a worker reports (negative errno values in its result). */
#define EXEC_ERROR_NOT_RUNNING  (-EHOSTDOWN)    /* the container does not run (any more) */
#define EXEC_ERROR_NO_SUCH_USER (-ESRCH)
#define EXEC_ERROR_TOO_LARGE    (-E2BIG)
#define EXEC_ERROR_NO_DIRECTORY (-ENOENT)       /* the working directory cannot be entered */

typedef struct ExecRequest {
        ExecMode mode;
        char *lxcpath;
        char *container;
        char **argv;                    /* EXEC_SHELL: may be empty, for the user's login shell */
        char **container_environment;   /* "K=V": the container's own, below the user's variables */
        char **environment;             /* "K=V": the caller's, over everything */
        char *user;                     /* name or number inside the container; NULL or "": root */
        char *working_directory;        /* NULL: default_directory (shells: the user's home) */
        char *default_directory;
        GBytes *input;                  /* EXEC_CAPTURE: the command's stdin (NULL: empty) */
        uint64_t timeout_usec;          /* 0: none; then SIGKILL */
        uint64_t max_output;            /* EXEC_CAPTURE, per stream */
} ExecRequest;

void exec_request_free(ExecRequest *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ExecRequest *, exec_request_free);

/* The environment a command in the container starts from: as its payload's (runtime-lxc.c). */
char **exec_container_environment(Container *c);

/* The worker (a WorkerFunc body): attaches, runs, waits, writes the result to fd. Returns the
 * worker's exit status. */
int exec_worker(int fd, const ExecRequest *req);

/* What a worker wrote. */
typedef struct ExecResult {
        int error;              /* < 0: the command did not run to its end; see message */
        char *message;
        int exit_status;        /* as a shell reports it */
        GBytes *out;            /* EXEC_CAPTURE */
        GBytes *err;
} ExecResult;

void exec_result_clear(ExecResult *r);
int exec_result_parse(const void *buf, size_t size, ExecResult *ret);

/* For EXEC_SHELL: what the worker sends through its socket once the PTY is there ("OK <path>"
 * with the master attached) or when it cannot be ("ERR <errno> <message>"). */
int exec_shell_receive(int sock, int *ret_master, char **ret_path, char **ret_message);

/* Looks a user up in a passwd file (name, or a number, which needs no entry) and its groups in
 * a group file; pure parsing, never NSS: these are the container's files. */
typedef struct ExecUser {
        uid_t uid;
        gid_t gid;
        char *name;     /* NULL for a number without an entry */
        char *home;
        char *shell;
} ExecUser;

void exec_user_clear(ExecUser *u);
int exec_user_lookup(FILE *passwd, const char *user, ExecUser *ret);
int exec_user_groups(FILE *group, const char *name, gid_t primary, GArray **ret);
