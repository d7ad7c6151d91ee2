/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "limit.h"
#include "policy.h"
#include "manager.h"

typedef enum ContainerState {
        CONTAINER_CREATED,
        CONTAINER_STARTING,
        CONTAINER_RUNNING,
        CONTAINER_STOPPING,
        CONTAINER_STOPPED,
        CONTAINER_FAILED,
        CONTAINER_FROZEN,       /* running, every process of its payload frozen (cgroup v2 freezer) */
        _CONTAINER_STATE_MAX,
        _CONTAINER_STATE_INVALID = -EINVAL,
} ContainerState;

const char *container_state_to_string(ContainerState s) _pure_;
ContainerState container_state_from_string(const char *s) _pure_;

typedef void (*ContainerDoneCallback)(Container *c, int error, const char *message, void *userdata);

/* A name the container had before a Rename(): its logs up to then are under that unit. */
typedef struct FormerName {
        char *name;
        uint64_t until_usec;    /* realtime of the rename */
} FormerName;

struct Container {
        Manager *manager;

        char *name;
        char id[33];            /* 128 random bits in hex, for its whole life (renames included) */
        GArray *former_names;   /* FormerName, oldest first; NULL: never renamed */
        char *image;
        char **command;
        char **environment;     /* the environment given to Create, "K=V" */
        char *working_directory;
        bool ephemeral;
        uint64_t created_usec;

        /* Unprivileged (the default): its own user namespace, container ids 0..65535 mapped to
         * host ids uid_shift.. (a slot of the manager's block, kept until Remove). */
        bool privileged;
        bool legacy;            /* made by a release before user namespaces: runs privileged */
        bool nesting;           /* may make user namespaces (and mount in them): runs containers */
        uint32_t uid_shift;
        bool slot_conflict;     /* its stored slot is another container's too: it does not start */

        /* Network (network.c): the mode, and the allocations kept until Remove. */
        int network;            /* NetworkMode */
        uint32_t ipv4_address;  /* host byte order; 0: none */
        char *mac_address;      /* "xx:xx:xx:xx:xx:xx"; NULL: none */
        GArray *ports;          /* PortForward; NULL: none */
        bool network_conflict;  /* its stored address, MAC or port is another container's too */

        /* journald's rate limit for its scope (Create options); unset: journald's own limits. */
        bool log_rate_limit_interval_set;
        uint64_t log_rate_limit_interval_usec;  /* 0: no limit */
        bool log_rate_limit_burst_set;
        uint32_t log_rate_limit_burst;          /* 0: no limit */

        /* Its scope's resource limits (Create and Update options): systemd properties at each
         * start, changed live by Update while it runs. */
        ContainerLimits limits;
        bool update_pending;    /* an Update waits for systemd's answer: another one is Busy */

        /* Lifecycle policy (Create and Update options): autostart, startup commands, restart. */
        ContainerPolicy policy;
        uint32_t restart_count; /* restarts by the policy since the last start through the bus */
        GArray *restart_times;  /* uint64_t CLOCK_REALTIME of the policy's restarts in the last minute */
        sd_event_source *restart_timer; /* the policy's next try (back-off) */
        uint64_t restart_at_usec;       /* CLOCK_REALTIME of that try */
        bool restart_in_progress;       /* this start is the policy's: a failure schedules the next try */
        bool restart_pending_loaded;    /* the runtime state says a try was due when the daemon went away */

        ContainerState state;
        char *unit;
        pid_t leader;
        uint64_t started_usec;
        uint64_t finished_usec;
        int exit_status;        /* -1 while unknown */

        /* Starting: the worker we forked waits on go_fd until its scope exists. */
        pid_t worker;
        int go_fd;
        int status_fd;
        sd_event_source *worker_source;
        char *status_buf;
        char *scope_job;
        sd_bus_slot *scope_slot;
        sd_bus_slot *unit_match;        /* PropertiesChanged of our scope */
        char *start_error;
        bool scope_gone_early;  /* the scope ended before the worker reported */
        bool removing;          /* Remove() is waiting for the stop (persisted: Target "removed") */
        bool stop_requested;    /* Stop() (or Remove()) asked for it to end (persisted: Target "stopped"): a
                                 * daemon killed meanwhile finishes the stop at its next start */
        bool stop_after_start;  /* Stop (or Remove) came while starting: stop once it runs */
        bool stop_from_outside; /* systemd stops its scope on someone else's word: an ordinary stop */
        bool scope_refused;     /* systemd refused our StartTransientUnit: the unit of that name is not ours */
        sd_event_source *start_timer;
        struct MachineWait *machine_wait;       /* the new scope waits for machined to let the old machine go */
        bool machine_registered;                /* we asked machined to register it: it may still hold it */

        sd_event_source *stop_timer;   /* SIGTERM again each second, SIGKILL at stop_deadline_usec */
        uint64_t stop_deadline_usec;    /* CLOCK_MONOTONIC */
        struct FreezeRequest *freeze_pending; /* Freeze/Thaw waiting for the kernel's word (owned) */
        struct TopRequest *top_pending; /* a Top on its way: later callers share its answer (not owned) */
        GPtrArray *waiters;     /* ContainerWaiter*: who waits for the next stable state */
        GPtrArray *followers;   /* Worker*: FollowLogs() streams, killed when it is removed */
        /* File methods at work (files-dbus.c): on a container that does not run they mount its
         * upper and work directories, and in a running one they keep its mount namespace (and
         * so that mount) alive even after it stops: a start must not mount them a second time. */
        unsigned offline_file_ops;
};

int container_new(Manager *m, const char *name, Container **ret);
Container *container_free(Container *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Container *, container_free);

char *container_object_path(const Container *c);
bool container_is_active(const Container *c);
/* Running, stopping or frozen: its payload's processes exist. */
bool container_has_payload(const Container *c);

/* The callback runs once the container is running (or failed to start) / stopped. */
int container_start(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error);
int container_stop(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error);
int container_restart(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error);

/* Freezes or thaws every process of the payload (not the monitor); the callback runs once the
 * kernel says it is done. Idempotent; an opposite request cancels a pending one. */
int container_set_frozen(Container *c, bool frozen, ContainerDoneCallback cb, void *userdata, sd_bus_error *error);

/* Called by scope.c when systemd reports on the container's scope. */
/* result: the job's result ("done", "failed", ...); message: systemd's own error text, if any. */
void container_scope_job_done(Container *c, const char *result, const char *message);
void container_scope_gone(Container *c);
/* systemd got a job for the running container's scope that is not ours: someone else stops it. */
void container_scope_stop_requested(Container *c);

/* Gives the container a new random id. */
void container_new_id(Container *c);

/* Records that the container was called old_name until now (for its logs). */
void container_add_former_name(Container *c, const char *old_name, uint64_t until_usec);

/* The restart policy keeps the daemon from exiting on idle: it has to see the payload end. */
bool container_restart_policy_watching(const Container *c);

/* Adopts a running container after a daemon restart, in two steps around systemd's answer
 * (asked asynchronously by the caller): begin loads what we wrote down and returns 1 when the
 * scope's ActiveState is needed (the container then hears about its scope), 0 when it is
 * settled already; finish gets the ActiveState (or a negative errno, -ENOENT: no such unit) and
 * returns 1 if the container runs. */
int container_adopt_begin(Container *c);
int container_adopt_finish(Container *c, int error, const char *active);

void container_set_state(Container *c, ContainerState s);
