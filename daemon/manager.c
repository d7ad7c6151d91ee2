/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "autostart.h"
#include "build.h"
#include "log.h"
#include "container.h"
#include "errors.h"
#include "idmap.h"
#include "image.h"
#include "journal.h"
#include "manager-dbus.h"
#include "network.h"
#include "bus-util.h"
#include "polkit.h"
#include "scope.h"
#include "store.h"
#include "worker.h"

static void container_destroy(gpointer p) {
        Container *c = p;

        if (g_hash_table_lookup(c->manager->units, c->unit) == c)
                g_hash_table_remove(c->manager->units, c->unit);
        container_free(c);
}

/* The one way in: by name, and by unit for systemd's signals. */
static void manager_add_container(Manager *m, Container *c) {
        g_hash_table_insert(m->containers, c->name, c);
        g_hash_table_insert(m->units, c->unit, c);
}

static void image_destroy(gpointer p) {
        image_free(p);
}

static void build_destroy(gpointer p) {
        build_free(p);
}

int manager_new(sd_event *event, const char *state_dir, const char *runtime_dir, const char *bases_dir, Manager **ret) {
        Manager *m = g_new0(Manager, 1);

        m->event = event ? sd_event_ref(event) : NULL;
        m->state_dir = g_strdup(state_dir);
        m->runtime_dir = g_strdup(runtime_dir);
        m->bases_dir = g_strdup(bases_dir);
        m->unit_dir = g_strdup(AUTOSTART_UNIT_DIR);
        m->containers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, container_destroy);
        m->units = g_hash_table_new(g_str_hash, g_str_equal);
        m->adopting = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        m->leftovers = g_ptr_array_new_with_free_func(g_free);
        m->images = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, image_destroy);
        m->polkit_registry = polkit_registry_new();
        m->uid_shifts = g_hash_table_new(g_direct_hash, g_direct_equal);
        m->network = network_new();
        m->workers = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_queue_init(&m->worker_queue);
        m->max_workers = 16;
        m->id_block = (IdBlock) { .start = IDMAP_DEFAULT_START, .size = IDMAP_DEFAULT_SIZE };
        m->size_caps = SIZE_CAPS_DEFAULT;
        m->builds = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, build_destroy);
        m->build_retention_usec = 10 * 60 * USEC_PER_SEC;
        m->idle_timeout_usec = 30 * USEC_PER_SEC;
        m->start_timeout_usec = 120 * USEC_PER_SEC;
        m->stop_timeout_usec = 10 * USEC_PER_SEC;
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Builds first: a running one removes its temporary directory. */
        g_hash_table_unref(m->builds);
        polkit_registry_free(m->polkit_registry);
        g_hash_table_unref(m->containers);
        g_hash_table_unref(m->units);
        g_hash_table_unref(m->adopting);
        g_ptr_array_unref(m->leftovers);
        g_hash_table_unref(m->images);
        g_hash_table_unref(m->uid_shifts);
        g_free(m->id_block_problem);
        network_free(m->network);
        manager_workers_free_all(m);
        g_hash_table_unref(m->workers);
        g_queue_clear(&m->worker_queue);
        sd_bus_slot_unref(m->match_job_removed);
        sd_bus_slot_unref(m->match_unit_removed);
        sd_bus_slot_unref(m->match_reloading);
        sd_event_source_disable_unref(m->idle_source);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        g_free(m->state_dir);
        g_free(m->runtime_dir);
        g_free(m->bases_dir);
        g_free(m->unit_dir);
        g_free(m);
        return NULL;
}

char *manager_container_dir(Manager *m, const char *name) {
        return g_build_filename(m->state_dir, "containers", name, NULL);
}

char *manager_lxc_path(Manager *m) {
        return g_build_filename(m->runtime_dir, "lxc", NULL);
}

Container *manager_get_container(Manager *m, const char *name) {
        return name ? g_hash_table_lookup(m->containers, name) : NULL;
}

Image *manager_get_image(Manager *m, const char *name) {
        return name ? g_hash_table_lookup(m->images, name) : NULL;
}

Container *manager_find_container_by_unit(Manager *m, const char *unit) {
        return unit ? g_hash_table_lookup(m->units, unit) : NULL;
}

static int load_containers(Manager *m) {
        g_autofree char *dir = g_build_filename(m->state_dir, "containers", NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *fn;

        if (!d)
                return 0;
        while ((fn = g_dir_read_name(d))) {
                Container *c = NULL;
                int r;

                if (fn[0] == '.') {
                        /* A Create or Rename that was interrupted before it was complete. */
                        g_ptr_array_add(m->leftovers, g_build_filename(dir, fn, NULL));
                        continue;
                }
                if (!name_is_valid(fn))
                        continue;
                r = store_load_container(m, fn, &c);
                if (r < 0) {
                        log_warning_errno(r, "Ignoring container %s: cannot read its state", fn);
                        continue;
                }
                r = manager_claim_uid_shift(m, c);
                if (r < 0) {
                        /* Never two containers on one slot: keep it listed, refuse to start it. */
                        log_error("Container %s: its id slot %u is %s; it will not start.", fn, c->uid_shift,
                                r == -EADDRINUSE ? "also another container's" : "invalid");
                        c->slot_conflict = true;
                }
                r = network_claim(m->network, c);
                if (r < 0) {
                        /* As with slots: never two containers on one address, MAC or port. */
                        log_error("Container %s: its address, MAC or a published port is also another container's; "
                                  "it will not start.", fn);
                        c->network_conflict = true;
                }
                manager_add_container(m, c);
        }
        return 0;
}

int manager_load(Manager *m) {
        int r;

        r = manager_load_bases(m);
        if (r < 0)
                log_warning_errno(r, "Cannot read base definitions from %s", m->bases_dir);
        (void) manager_load_images(m);
        {
                /* Trees removed just before a crash (manager_remove_tree() renames them first). */
                g_autofree char *lxcpath = manager_lxc_path(m);
                FOREACH_STRING(dir, m->state_dir, lxcpath) {
                        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
                        const char *fn;
                        while (d && (fn = g_dir_read_name(d)))
                                if (g_str_has_prefix(fn, ".removed-"))
                                        g_ptr_array_add(m->leftovers, g_build_filename(dir, fn, NULL));
                }
        }
        r = load_containers(m);
        /* The rules as the allocations say (loaded now if the bridge exists). */
        network_sync(m);
        return r;
}

typedef struct BackgroundWork {
        Manager *manager;
        char **leftovers;
} BackgroundWork;

static void background_work_free(gpointer p) {
        BackgroundWork *w = p;
        g_strfreev(w->leftovers);
        g_free(w);
}

static int background_worker(int fd, void *data) {
        BackgroundWork *w = data;
        GHashTableIter it;
        Image *image;
        int r, ret = EXIT_SUCCESS;

        for (char **p = w->leftovers; *p; p++) {
                r = rm_rf(*p);
                if (r < 0) {
                        log_warning_errno(r, "Cannot remove %s", *p);
                        ret = EXIT_FAILURE;
                }
        }
        g_hash_table_iter_init(&it, w->manager->images);
        while (g_hash_table_iter_next(&it, NULL, (void **) &image))
                if (image->is_base && image_is_usable(image)) {
                        r = image_assemble(image);
                        if (r < 0) {
                                log_warning_errno(r, "Cannot assemble base %s", image->name);
                                ret = EXIT_FAILURE;
                        }
                }
        return ret;
}

static void background_done(Worker *worker, const char *output, size_t size, int status, void *userdata) {
        if (status != 0)
                log_warning("Start-up clean-up or base assembly failed (exit status %d); a Start assembles what it needs.", status);
}

int manager_start_background_work(Manager *m) {
        BackgroundWork *w = g_new(BackgroundWork, 1);
        int r;

        g_ptr_array_add(m->leftovers, NULL);
        w->manager = m;
        w->leftovers = (char **) g_ptr_array_steal(m->leftovers, NULL);
        r = worker_spawn_full(m, "containers-manager cleanup", background_worker, w, background_work_free, -1, NULL,
                              background_done, NULL, NULL);
        if (r < 0)
                background_work_free(w);
        return r;
}

bool manager_is_adopting(Manager *m, Container *c) {
        return g_hash_table_contains(m->adopting, c->name);
}

static void manager_adopt_maybe_done(Manager *m) {
        ManagerAdopted done = m->adopted;

        if (g_hash_table_size(m->adopting) > 0 || !done)
                return;
        m->adopted = NULL;
        done(m);
}

typedef struct AdoptQuery {
        char *name;
        char *unit;
} AdoptQuery;

static void on_adopt_state(Manager *m, int error, const char *state, void *userdata) {
        g_autofree AdoptQuery *q = userdata;
        g_autofree char *name = q->name, *unit = q->unit;
        Container *c = manager_get_container(m, name);
        int r;

        /* Nothing but adoption changes a container that is being adopted (no bus object yet;
         * scope.c leaves it alone), so it is still the one we asked about. */
        g_hash_table_remove(m->adopting, name);
        if (c && streq(c->unit, unit)) {
                r = container_adopt_finish(c, error, state);
                if (r < 0)
                        log_warning_errno(r, "Cannot adopt container %s", name);
                else if (r > 0)
                        log_info("Adopted running container %s (leader %d).", name, (int) c->leader);
        }
        manager_adopt_maybe_done(m);
}

int manager_adopt(Manager *m, ManagerAdopted done) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter it;
        const char *name;

        assert(m);
        assert(done);
        assert(!m->adopted);

        /* Adoption may remove ephemeral containers that ended meanwhile: iterate over a copy. */
        g_hash_table_iter_init(&it, m->containers);
        while (g_hash_table_iter_next(&it, (void **) &name, NULL))
                g_ptr_array_add(names, g_strdup(name));

        /* Every question to systemd goes out at once; the answers come back through the loop. */
        m->adopted = done;
        for (guint i = 0; i < names->len; i++) {
                Container *c = manager_get_container(m, names->pdata[i]);
                AdoptQuery *q;
                int r;

                if (!c)
                        continue;
                r = container_adopt_begin(c);
                if (r > 0) {
                        q = g_new(AdoptQuery, 1);
                        *q = (AdoptQuery) { .name = g_strdup(c->name), .unit = g_strdup(c->unit) };
                        r = scope_get_active_state_async(m, c->unit, on_adopt_state, q);
                        if (r >= 0) {
                                g_hash_table_add(m->adopting, g_strdup(c->name));
                                continue;
                        }
                        g_free(q->name);
                        g_free(q->unit);
                        g_free(q);
                        /* Cannot even ask: what adoption did when systemd could not answer. */
                        r = container_adopt_finish(c, r, NULL);
                }
                if (r < 0)
                        log_warning_errno(r, "Cannot adopt container %s", c->name);
        }
        manager_adopt_maybe_done(m);
        return 0;
}

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
                sd_bus_error *error) {

        _cleanup_(container_freep) Container *c = NULL;
        g_autofree char *dir = NULL, *tmp = NULL, *parent = NULL;
        int r;

        r = bus_check_new_container_name(name, error);
        if (r < 0)
                return r;
        /* Checked again after polkit answered: the name may have been taken meanwhile. */
        if (manager_get_container(m, name))
                return sd_bus_error_setf(error, CM_ERROR_CONTAINER_EXISTS, "Container '%s' already exists", name);
        if (!manager_get_image(m, image))
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "No image '%s'", image);

        r = container_new(m, name, &c);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot create container '%s': %m", name);
        c->image = g_strdup(image);
        c->environment = g_strdupv(environment);
        c->command = g_strdupv(command);
        c->ephemeral = ephemeral;
        c->created_usec = now_usec(CLOCK_REALTIME);
        container_new_id(c);
        c->privileged = privileged;
        if (!privileged) {
                r = manager_allocate_uid_shift(m, &c->uid_shift);
                if (r == -EADDRNOTAVAIL)
                        return sd_bus_error_setf(error, CM_ERROR_NO_ID_SLOT, "No id slot for container '%s': %s",
                                                 name, m->id_block_problem);
                if (r < 0)
                        return sd_bus_error_setf(error, CM_ERROR_NO_ID_SLOT,
                                                 "No free id slot for container '%s': all %u slots of %u ids from %u are in use",
                                                 name, m->id_block.size / IDMAP_SLOT_SIZE, IDMAP_SLOT_SIZE, m->id_block.start);
        }

        if (configure)
                configure(c, configure_userdata);

        /* Write the whole container under a hidden name, then rename it into place: a crash
         * in between leaves nothing that load_containers() would pick up. */
        dir = manager_container_dir(m, name);
        parent = g_path_get_dirname(dir);
        r = mkdir_p(parent, 0700);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot create %s: %m", parent);
        (void) rm_rf(dir); /* leftovers of a container of that name we no longer know */
        tmp = g_strdup_printf("%s/.%s.XXXXXX", parent, name);
        if (!g_mkdtemp_full(tmp, 0700))
                return sd_bus_error_set_errnof(error, errno, "Cannot create %s: %m", tmp);
        r = store_save_container_in(c, tmp);
        if (r >= 0 && rename(tmp, dir) < 0)
                r = -errno;
        if (r < 0) {
                (void) rm_rf(tmp);
                return sd_bus_error_set_errnof(error, r, "Cannot save container '%s': %m", name);
        }

        (void) store_remove_container_runtime(c);
        assert_se(manager_claim_uid_shift(m, c) >= 0);
        manager_add_container(m, c);
        manager_send_container_new(m, c);
        journal_container_event(c, CM_MESSAGE_CONTAINER_CREATED, LOG_INFO,
                                "Container %s created from image %s.", c->name, c->image);
        *ret = TAKE_PTR(c);
        return 0;
}

static int rm_rf_worker(int fd, void *data) {
        return rm_rf(data) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static void rm_rf_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        g_free(userdata);
}

int manager_remove_tree(Manager *m, const char *path) {
        g_autofree char *trash = NULL;

        if (access(path, F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;
        /* Gone at once by a rename (for good, even after a crash: start-up clears .removed-*),
         * deleted in the background: a big writable layer must not stall the bus loop. */
        {
                /* On the same file system as path (the state or the runtime directory), where
                 * manager_load() looks for leftovers. */
                g_autofree char *parent = g_path_get_dirname(path);
                const char *where = g_str_has_prefix(path, m->runtime_dir) ? parent : m->state_dir;
                trash = g_strdup_printf("%s/.removed-%u", where, g_random_int());
        }
        if (rename(path, trash) < 0)
                return rm_rf(path);
        if (!m->event || worker_spawn(m, "containers-manager rm", rm_rf_worker, trash, rm_rf_done, trash, NULL) < 0)
                return rm_rf(trash);
        TAKE_PTR(trash);
        return 0;
}

int manager_remove_container(Manager *m, Container *c) {
        g_autofree char *dir = manager_container_dir(m, c->name);
        g_autofree char *lxcdir = NULL, *lxcpath = manager_lxc_path(m);
        bool bridged;
        int r;

        lxcdir = g_build_filename(lxcpath, c->name, NULL);
        journal_container_event(c, CM_MESSAGE_CONTAINER_REMOVED, LOG_INFO, "Container %s removed.", c->name);

        /* Config first: once it is gone the container is gone, even if the rest fails. */
        {
                g_autofree char *config = store_container_config_path(m, c->name);
                if (unlink(config) < 0 && errno != ENOENT)
                        return -errno;
        }
        manager_send_container_removed(m, c);
        if (c->policy.autostart && m->bus)
                /* Its unit goes with it (a Remove disabled it already: then a no-op). */
                autostart_forget(m, c->name);
        r = manager_remove_tree(m, dir);
        if (r < 0)
                log_warning_errno(r, "Cannot remove %s", dir);
        (void) store_remove_container_runtime(c);
        (void) manager_remove_tree(m, lxcdir);
        /* Its files went with its directory: the slot may serve another container now. */
        manager_release_uid_shift(m, c);
        bridged = c->network == NETWORK_BRIDGE;
        network_release(m->network, c);
        g_hash_table_remove(m->containers, c->name);
        if (bridged)
                network_sync(m);
        return 0;
}

int manager_rename_container_check(Manager *m, Container *c, const char *new_name, sd_bus_error *error) {
        int r;

        assert(m);
        assert(c);
        assert(new_name);
        r = bus_check_new_container_name(new_name, error);
        if (r < 0)
                return r;
        if (streq(new_name, c->name))
                return 1;
        if (manager_get_container(m, new_name))
                return sd_bus_error_setf(error, CM_ERROR_CONTAINER_EXISTS, "Container '%s' already exists", new_name);
        if (container_is_active(c) || c->removing)
                return sd_bus_error_setf(error, CM_ERROR_ALREADY_RUNNING, "Container '%s' is %s: stop it first",
                                         c->name, c->removing ? "being removed" : container_state_to_string(c->state));
        return 0;
}

int manager_rename_container(Manager *m, Container *c, const char *new_name, sd_bus_error *error) {
        g_autofree char *old_name = NULL, *old_dir = NULL, *new_dir = NULL, *lxcpath = manager_lxc_path(m);
        g_autofree char *old_lxc = NULL;
        uint64_t now = now_usec(CLOCK_REALTIME);
        int r;

        r = manager_rename_container_check(m, c, new_name, error);
        if (r != 0)
                return r < 0 ? r : 0;

        old_dir = manager_container_dir(m, c->name);
        new_dir = manager_container_dir(m, new_name);
        (void) rm_rf(new_dir); /* leftovers of a container of that name we no longer know */
        /* The directory first, then its config: load_containers() finishes a rename cut short
         * in between (the directory's name wins). */
        if (renameat2(AT_FDCWD, old_dir, AT_FDCWD, new_dir, RENAME_NOREPLACE) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot rename %s: %m", old_dir);

        old_name = g_strdup(c->name);
        /* They follow the old unit: their readers see EOF and may follow the new name. */
        journal_followers_kill(c);
        manager_send_container_removed(m, c);
        (void) store_remove_container_runtime(c);
        old_lxc = g_build_filename(lxcpath, old_name, NULL);
        (void) manager_remove_tree(m, old_lxc); /* written again at the next start, under the new name */

        g_hash_table_steal(m->containers, c->name);
        if (g_hash_table_lookup(m->units, c->unit) == c)
                g_hash_table_remove(m->units, c->unit);
        container_add_former_name(c, old_name, now);
        SWAP_FREE(c->name, g_strdup(new_name));
        SWAP_FREE(c->unit, container_unit_name(new_name));
        manager_add_container(m, c);

        r = store_save_container(c);
        if (r < 0)
                log_warning("Cannot save container %s after its rename: %s (done at the next start)",
                        c->name, g_strerror(-r));
        (void) store_save_container_runtime(c);
        manager_send_container_new(m, c);
        if (c->network == NETWORK_BRIDGE)
                network_sync(m);        /* its name on the bridge's resolver */
        journal_container_event(c, CM_MESSAGE_CONTAINER_RENAMED, LOG_INFO, "Container %s renamed to %s.", old_name, c->name);
        return 0;
}

typedef struct PendingRemoval {
        Manager *manager;
        char *name;
        sd_bus_message *reply_to;       /* answered once the container is gone */
        sd_bus_error reply_error;       /* set: answer with this error instead of success */
        sd_event_source *source;
} PendingRemoval;

static void pending_removal_free(PendingRemoval *p) {
        sd_event_source_disable_unref(p->source);
        sd_bus_message_unref(p->reply_to);
        sd_bus_error_free(&p->reply_error);
        g_free(p->name);
        g_free(p);
}

static void pending_removal_run(PendingRemoval *p) {
        Manager *m = p->manager;
        Container *c = manager_get_container(m, p->name);
        int r = 0;

        if (c)
                r = manager_remove_container(m, c);
        if (p->reply_to) {
                if (sd_bus_error_is_set(&p->reply_error))
                        (void) sd_bus_reply_method_error(p->reply_to, &p->reply_error);
                else if (r < 0)
                        (void) sd_bus_reply_method_errnof(p->reply_to, r, "Cannot remove container '%s': %m", p->name);
                else
                        (void) sd_bus_reply_method_return(p->reply_to, NULL);
        }
        manager_operation_end(m);
}

static int on_pending_removal(sd_event_source *s, void *userdata) {
        PendingRemoval *p = userdata;

        pending_removal_run(p);
        pending_removal_free(p);
        return 0;
}

int manager_remove_container_deferred(Manager *m, Container *c, sd_bus_message *reply_to, const sd_bus_error *reply_error) {
        PendingRemoval *p = g_new0(PendingRemoval, 1);
        int r;

        p->manager = m;
        p->name = g_strdup(c->name);
        p->reply_to = reply_to ? sd_bus_message_ref(reply_to) : NULL;
        if (reply_error)
                (void) sd_bus_error_copy(&p->reply_error, reply_error);
        c->removing = true;
        (void) store_save_container_runtime(c);
        manager_operation_begin(m);

        r = m->event ? sd_event_add_defer(m->event, &p->source, on_pending_removal, p) : -ENXIO;
        if (r < 0) {
                /* No loop to come back to: remove it now. */
                pending_removal_run(p);
                pending_removal_free(p);
        }
        return 0;
}

void manager_operation_begin(Manager *m) {
        m->n_operations++;
}

void manager_operation_end(Manager *m) {
        if (m->n_operations > 0)
                m->n_operations--;
        manager_note_activity(m);
}

bool manager_is_idle(Manager *m) {
        GHashTableIter i;
        gpointer v;

        if (m->n_operations > 0 || g_hash_table_size(m->polkit_registry) > 0)
                return false;
        /* A container whose restart policy watches it: only a daemon that runs sees it end. */
        g_hash_table_iter_init(&i, m->containers);
        while (g_hash_table_iter_next(&i, NULL, &v))
                if (container_restart_policy_watching(v))
                        return false;
        return true;
}

void manager_note_activity(Manager *m) {
        m->last_activity_usec = now_usec(CLOCK_MONOTONIC);
}
