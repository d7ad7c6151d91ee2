/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "container.h"
#include "image.h"

typedef struct RuntimeWorker {
        pid_t pid;
        int go_fd;      /* write one byte once the worker sits in its scope; close to abort */
        int status_fd;  /* the worker answers "OK <leader pid>", "EXITED" or "ERR <errno> <message>" */
} RuntimeWorker;

/* Writes the LXC configuration for the container's next start. */
/* LXC's configuration and its JSON twin (lxc-config.h); a refused value is -EINVAL with a message. */
int runtime_write_config(Container *c, Image *image, char **ret_message);

/* The root file system spec the container's next start would use, built in memory: nothing
 * is written (for the file methods on a container that does not run). */
struct RootfsSpec;
int runtime_rootfs_spec(Container *c, Image *image, struct RootfsSpec **ret);

/* What confines the container on this host: "userns", "seccomp", "no_new_privs", ... */
char **runtime_confinement(const Container *c);
/* What each start checks before it answers (the start fails on any difference). */
char **runtime_start_checks(const Container *c);

/* Forks the worker that will start the container once it has been moved into its scope. */
int runtime_spawn(Container *c, char **argv, RuntimeWorker *ret);

/* Parses a worker's answer: 0 when the container runs (leader set), 1 when it ran and
 * already ended, negative errno (and a message) when it could not be started. */
int runtime_parse_status(const char *text, pid_t *ret_leader, char **ret_message);

/* For adoption: the payload's init pid if LXC says the container runs. */
int runtime_get_leader(Manager *m, const char *name, pid_t *ret_leader);

/* Converts a wait status into the exit status users see (128+signal when killed). */
int runtime_exit_status_from_wait(int wait_status);

/* The container's monitor (the program containers-manager-monitor): runs in the scope, opens the
 * journal streams, runs the payload under LXC until it ends, records its exit status. With
 * startup_report_fd >= 0, argv is in startup-protocol.h's form (startup commands, then the
 * command) and the helper reports on that descriptor. */
_Noreturn void runtime_monitor_main(const char *name, const char *unit, const char *lxcpath,
                                    const char *runtime_dir, int startup_report_fd, char **argv);

/* Runs func(payload) in a process inside the running container name (its namespaces, cgroup and
 * confinement, as root of the container), with the given descriptors as its stdin, stdout and
 * stderr; the process is a child of the caller. -ESRCH: the container does not run. */
typedef int (*RuntimeAttachFunc)(void *payload);
int runtime_attach(const char *lxcpath, const char *name, RuntimeAttachFunc func, void *payload,
                   int stdin_fd, int stdout_fd, int stderr_fd, pid_t *ret_pid);

/* What the payload's /proc must show once it runs. */
typedef struct PayloadExpect {
        bool userns;
        unsigned uid_shift;
        bool seccomp;
        uint64_t dropped;       /* capability bits that must not be in the bounding set */
} PayloadExpect;

/* The bits of a "name name ..." drop list as lxc.cap.drop takes it; -EINVAL for an unknown name. */
int runtime_capability_mask(const char *list, uint64_t *ret);
/* After the start: the payload's id maps, capability bounding set, no_new_privs and seccomp mode
 * as the kernel reports them. -ESRCH when it is gone, -EPERM with a message naming the difference. */
int runtime_verify_payload(pid_t pid, const PayloadExpect *e, char **ret_message);
/* Whether what liblxc reads from lxcpath/name/config is exactly what its JSON twin says (the
 * monitor's check before a start): 0, or -EPERM naming the first key that differs. */
int runtime_verify_config_at(const char *lxcpath, const char *name, char **ret_message);
