/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <glib.h>

#include "size-caps.h"
#include "util.h"

typedef struct Manager Manager;
typedef struct Container Container;
typedef struct Image Image;
typedef void (*ManagerAdopted)(Manager *m);

/* The host ids the daemon hands out to containers (see idmap.h). */
typedef struct IdBlock {
        uint32_t start;
        uint32_t size;  /* a multiple of IDMAP_SLOT_SIZE */
} IdBlock;

struct Manager {
        sd_event *event;
        sd_bus *bus;

        char *state_dir;    /* persistent: containers, assembled bases */
        char *runtime_dir;  /* volatile: what runs now, LXC's own files */
        char *bases_dir;    /* read-only base definitions shipped with the package */
        char *unit_dir;     /* where systemd keeps enabled units and our order drop-ins (autostart.c) */

        GHashTable *containers; /* name -> Container*, owned */
        GHashTable *units;      /* scope unit name -> Container* (not owned): systemd's signals name units */
        GHashTable *images;     /* name -> Image*, owned */
        GPtrArray *leftovers;   /* char*: trees found at start-up that are no one's (removed in a worker) */
        GHashTable *polkit_registry; /* sd_bus_message* -> AsyncPolkitQuery* */
        IdBlock id_block;
        char *id_block_problem; /* why the block may not be used (idmap_block_check()): no unprivileged start */
        GHashTable *uid_shifts; /* GUINT_TO_POINTER(shift) -> Container* (not owned): slots in use */
        struct Network *network;        /* the bridge, its allocations and the nftables table */
        GHashTable *builds;     /* id -> Build*, owned */
        unsigned last_build_id;

        uint64_t build_max_bytes;       /* 0: the fetcher's defaults */
        SizeCaps size_caps;             /* imports, PutArchive, pulls ([Transfers]) */
        uint64_t build_timeout_usec;
        uint64_t build_max_files;
        uint64_t build_retention_usec;  /* how long finished builds stay visible */

        uint64_t idle_timeout_usec; /* 0: never exit on idle */
        uint64_t stop_timeout_usec;
        uint64_t start_timeout_usec;    /* a start that has not run by then fails (0: never) */
        bool test_ignore_scope_jobs;    /* test hook: never hear that a scope's job finished */
        uint64_t test_start_delay_usec; /* test hook: the start worker waits this long in the scope */
        uint64_t last_activity_usec;
        sd_event_source *idle_source;
        bool draining;                  /* the bus name is released: exiting */
        uint64_t test_drain_delay_usec; /* test hook: wait this long between release and exit */
        uint64_t test_top_delay_usec;   /* test hook: Top's worker sleeps this long */
        unsigned n_operations; /* in flight: starts, stops, polkit queries */

        GHashTable *workers;    /* Worker* set: every worker, running or queued (owned by worker.c) */
        GQueue worker_queue;    /* Worker*: waiting for a slot */
        unsigned n_workers;     /* running now */
        unsigned max_workers;
        unsigned n_exec_sessions;       /* Exec, ExecWithFds, OpenShell running (exec-dbus.c) */

        GHashTable *adopting;   /* names whose adoption at start-up waits for systemd's answer */
        ManagerAdopted adopted; /* runs once every answer is in */

        sd_bus_slot *match_job_removed;
        sd_bus_slot *match_unit_removed;
        sd_bus_slot *match_reloading;
};

int manager_new(sd_event *event, const char *state_dir, const char *runtime_dir, const char *bases_dir, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads bases, images and containers from disk; does not need a bus. */
int manager_load(Manager *m);
/* After the bus name is ours: a worker removes the leftovers manager_load() found and assembles
 * the bases that are not yet (so the first Start does not do it on the loop). */
int manager_start_background_work(Manager *m);
/* Needs m->bus: asks systemd which containers still run and adopts them. Asynchronous: the
 * questions go out at once and done runs from the loop once every answer is in (at once if
 * there is nothing to ask). */
int manager_adopt(Manager *m, ManagerAdopted done);
/* Whether the container's adoption waits for systemd's answer. */
bool manager_is_adopting(Manager *m, Container *c);

Container *manager_get_container(Manager *m, const char *name);
Image *manager_get_image(Manager *m, const char *name);
Container *manager_find_container_by_unit(Manager *m, const char *unit);

/* Runs on the new container before it is first written: whatever it sets is on disk from the
 * start (a crash never leaves a container without its options). */
typedef void (*ContainerConfigure)(Container *c, void *userdata);

int manager_create_container(
                Manager *m,
                const char *image,
                const char *name,
                char **environment,
                char **command,
                bool ephemeral,
                bool privileged,
                ContainerConfigure configure,
                void *configure_userdata,
                Container **ret,
                sd_bus_error *error);
int manager_remove_container(Manager *m, Container *c);
/* Renames a container that does not run: its directory, its object, its unit from the next start
 * on; its logs so far stay its own. Named errors in error; nothing changed on failure. */
int manager_rename_container(Manager *m, Container *c, const char *new_name, sd_bus_error *error);
/* Whether manager_rename_container() would go ahead: 0 if so, 1 for the same name (nothing to
 * do), or a named error. */
int manager_rename_container_check(Manager *m, Container *c, const char *new_name, sd_bus_error *error);
/* The same from the next iteration of the event loop, for code running inside the container's
 * own callbacks, which must not free it under their feet. reply_to (if not NULL) is answered
 * once it is gone: with reply_error if that is set, else with success. */
int manager_remove_container_deferred(Manager *m, Container *c, sd_bus_message *reply_to, const sd_bus_error *reply_error);
/* Removes a directory below state_dir: renamed away now, deleted by a worker. */
int manager_remove_tree(Manager *m, const char *path);

void manager_operation_begin(Manager *m);
void manager_operation_end(Manager *m);
bool manager_is_idle(Manager *m);
void manager_note_activity(Manager *m);

char *manager_container_dir(Manager *m, const char *name);
char *manager_lxc_path(Manager *m);
