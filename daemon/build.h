/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"
#include "worker.h"

typedef enum BuildState {
        BUILD_RUNNING,
        BUILD_SUCCEEDED,
        BUILD_FAILED,
        BUILD_CANCELLED,
        _BUILD_STATE_MAX,
        _BUILD_STATE_INVALID = -EINVAL,
} BuildState;

const char *build_state_to_string(BuildState s) _pure_;
BuildState build_state_from_string(const char *s) _pure_;

typedef struct Build {
        Manager *manager;
        unsigned id;

        char *name;             /* of the image it makes */
        char *url;
        char *branch;           /* NULL: the remote's default branch */
        char *subdir;
        char *run_file;
        bool allow_local;       /* file:// and paths: only for root callers */
        bool pull;              /* PullImage: url is a registry reference, fetched by skopeo */
        bool tls_verify;
        char *base;             /* a pull: the base its layers sit on */

        BuildState state;
        double progress;
        char *commit;
        GPtrArray *log;         /* char*, every line so far */
        char *error;
        char *error_name;
        uint64_t started_usec;
        uint64_t finished_usec;

        char *tmpdir;           /* state_dir/images/.build-<id>-XXXXXX, renamed into place on success */
        Worker *worker;
        bool worker_done;       /* the worker said DONE */
        GPtrArray *waiters;     /* sd_bus_message*: Wait() calls */
        sd_event_source *expire_source;
} Build;

typedef struct BuildOptions {
        const char *name;
        const char *url;
        const char *branch;
        const char *subdir;
        const char *run_file;
        bool allow_local;
        bool pull;
        bool tls_verify;
        const char *base;
} BuildOptions;

/* Starts a build in a worker process; the Build is owned by the manager. */
int build_start(Manager *m, const BuildOptions *o, Build **ret);
int build_cancel(Build *b);
Build *build_free(Build *b);
char *build_object_path(const Build *b);
/* Whether a running build will make an image of this name. */
bool manager_build_pending_for(Manager *m, const char *name);

/* Checks a relative path given over the bus (subdir, run_file): no "..", not absolute. */
bool build_relative_path_is_valid(const char *p);
