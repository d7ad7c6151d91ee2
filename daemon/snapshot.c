/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Snapshots and Commit: copies of a container's writable layer made in workers, with the
 * container frozen meanwhile if it runs (so the copy is one moment of its files). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <json-glib/json-glib.h>

#include "copy.h"
#include "errors.h"
#include "image.h"
#include "image-dbus.h"
#include "log.h"
#include "snapshot.h"
#include "store.h"
#include "worker.h"

#define SNAPSHOT_JSON "snapshot.json"

typedef enum OpKind {
        OP_CREATE,
        OP_RESTORE,
        OP_COMMIT,
        OP_CRIU,
} OpKind;

typedef struct SnapshotOp {
        Manager *manager;
        OpKind kind;
        char *container;        /* by name: the container may go while we copy */
        char *name;             /* snapshot or image */
        bool thaw_after;
        SnapshotDone done;
        CommitDone commit_done;
        void *userdata;

        /* For the worker (plain data: it runs in a forked child). */
        char *src;
        char *dst;              /* the hidden directory the copy goes to */
        char *final;            /* its name once complete */
        char *meta;             /* snapshot.json text */
        CopyOptions copy;
        Image *image;           /* Commit: what image.json says */

        int error;
        char *message;
} SnapshotOp;

static GHashTable *busy; /* container names with an operation under way */

static void snapshot_op_free(SnapshotOp *op) {
        if (!op)
                return;
        g_free(op->container);
        g_free(op->name);
        g_free(op->src);
        g_free(op->dst);
        g_free(op->final);
        g_free(op->meta);
        image_free(op->image);
        g_free(op->message);
        g_free(op);
}

bool snapshot_busy(Container *c) {
        return busy && g_hash_table_contains(busy, c->name);
}

void snapshot_mark_busy(const char *container, bool b) {
        if (!busy)
                busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (b)
                g_hash_table_add(busy, g_strdup(container));
        else
                g_hash_table_remove(busy, container);
}

static void set_busy(SnapshotOp *op, bool b) {
        snapshot_mark_busy(op->container, b);
}

char *snapshot_dir(Container *c, const char *name) {
        g_autofree char *cdir = manager_container_dir(c->manager, c->name);
        return g_build_filename(cdir, "snapshots", name, NULL);
}

bool snapshot_exists(Container *c, const char *name) {
        g_autofree char *dir = snapshot_dir(c, name), *meta = g_build_filename(dir, SNAPSHOT_JSON, NULL);
        return access(meta, F_OK) == 0;
}

void snapshot_info_clear(SnapshotInfo *i) {
        g_clear_pointer(&i->name, g_free);
}

static gint compare_info(gconstpointer a, gconstpointer b) {
        const SnapshotInfo *x = a, *y = b;
        if (x->created_usec != y->created_usec)
                return x->created_usec < y->created_usec ? -1 : 1;
        return strcmp(x->name, y->name);
}

int snapshot_list(Container *c, GArray **ret) {
        g_autofree char *top = snapshot_dir(c, "");
        g_autoptr(GArray) a = g_array_new(false, true, sizeof(SnapshotInfo));
        g_autoptr(GDir) d = NULL;
        const char *fn;

        g_array_set_clear_func(a, (GDestroyNotify) snapshot_info_clear);
        d = g_dir_open(top, 0, NULL);
        while (d && (fn = g_dir_read_name(d))) {
                g_autofree char *meta = g_build_filename(top, fn, SNAPSHOT_JSON, NULL);
                g_autoptr(JsonNode) root = NULL;
                SnapshotInfo info = {};

                if (fn[0] == '.' || store_read_json(meta, &root) < 0 || !JSON_NODE_HOLDS_OBJECT(root))
                        continue;
                info.name = g_strdup(fn);
                info.created_usec = (uint64_t) json_object_get_int_member_with_default(json_node_get_object(root), "Created", 0);
                g_array_append_val(a, info);
        }
        g_array_sort(a, compare_info);
        *ret = TAKE_PTR(a);
        return 0;
}

static char *snapshot_meta_json(Container *c, uint64_t created) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "Created");
        json_builder_add_int_value(b, (gint64) created);
        json_builder_set_member_name(b, "WasRunning");
        json_builder_add_boolean_value(b, container_has_payload(c));
        store_json_add_strv(b, "Command", c->command);
        store_json_add_strv(b, "Environment", c->environment);
        if (c->working_directory) {
                json_builder_set_member_name(b, "WorkingDirectory");
                json_builder_add_string_value(b, c->working_directory);
        }
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return json_to_string(root, true);
}

/* ---- in the worker ---- */

static int report(int fd, int r, const char *fmt, ...) _printf_(3, 4);
static int report(int fd, int r, const char *fmt, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        (void) loop_write(fd, text, strlen(text));
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int copy_upper(SnapshotOp *op, const char *to, char **message) {
        if (access(op->src, F_OK) < 0 && errno == ENOENT) {
                /* Never started: nothing written yet. */
                if (mkdir(to, 0755) < 0)
                        return -errno;
                if (op->kind != OP_COMMIT && chown(to, op->copy.id_base, op->copy.id_base) < 0)
                        return -errno;
                return 0;
        }
        return copy_tree(op->src, to, &op->copy, message);
}

static int snapshot_worker(int fd, void *data) {
        SnapshotOp *op = data;
        g_autofree char *message = NULL, *parent = g_path_get_dirname(op->final);
        int r;

        (void) umask(0022);
        /* One level only: a container removed meanwhile must not get its directory back. */
        if (mkdir(parent, 0700) < 0 && errno != EEXIST)
                return report(fd, -errno, "Cannot create %s: %m", parent);
        (void) rm_rf(op->dst);

        if (op->kind == OP_CREATE || op->kind == OP_COMMIT) {
                g_autofree char *to = g_build_filename(op->dst, op->kind == OP_COMMIT ? "layer" : "upper", NULL);

                if (mkdir(op->dst, 0700) < 0)
                        return report(fd, -errno, "Cannot create %s: %m", op->dst);
                r = copy_upper(op, to, &message);
                if (r >= 0 && op->kind == OP_CREATE) {
                        g_autofree char *meta = g_build_filename(op->dst, SNAPSHOT_JSON, NULL);
                        r = store_write_file_atomic(meta, op->meta, strlen(op->meta), 0600);
                } else if (r >= 0) {
                        /* The layer is shared from now on: root's, read-only like a build's. */
                        if (chmod(op->dst, 0755) < 0)
                                r = -errno;
                        if (r >= 0)
                                r = store_save_image(op->image, op->dst);
                }
                if (r >= 0 && renameat2(AT_FDCWD, op->dst, AT_FDCWD, op->final, RENAME_NOREPLACE) < 0)
                        r = -errno;
                if (r < 0) {
                        (void) rm_rf(op->dst);
                        return report(fd, r, "%s", message ?: g_strerror(-r));
                }
                return EXIT_SUCCESS;
        }

        /* Restore: copy next to the upper, then swap them. */
        {
                g_autofree char *old = g_strdup_printf("%s.old", op->dst);

                r = copy_upper(op, op->dst, &message);
                if (r < 0) {
                        (void) rm_rf(op->dst);
                        return report(fd, r, "%s", message ?: g_strerror(-r));
                }
                (void) rm_rf(old);
                if (rename(op->final, old) < 0 && errno != ENOENT) {
                        r = -errno;
                        (void) rm_rf(op->dst);
                        return report(fd, r, "Cannot move %s away: %s", op->final, g_strerror(-r));
                }
                if (rename(op->dst, op->final) < 0) {
                        r = -errno;
                        (void) rename(old, op->final);
                        (void) rm_rf(op->dst);
                        return report(fd, r, "Cannot move %s into place: %s", op->dst, g_strerror(-r));
                }
                (void) rm_rf(old);
                return EXIT_SUCCESS;
        }
}

static int criu_worker(int fd, void *data) {
        const char *argv[] = { "criu", "check", NULL };
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) e = NULL;
        int status;

        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &e))
                return report(fd, -ENOENT, "criu is not installed on this host (%s)", e->message);
        if (g_spawn_check_wait_status(status, NULL))
                return report(fd, 0, "criu check passed, but checkpointing through liblxc is not implemented yet");
        g_strstrip(err);
        g_strstrip(out);
        return report(fd, -EOPNOTSUPP, "criu check failed: %s", !isempty(err) ? err : !isempty(out) ? out : "no reason given");
}

/* ---- back in the daemon ---- */

static void op_finish(SnapshotOp *op) {
        Container *c = manager_get_container(op->manager, op->container);
        Image *image = NULL;

        set_busy(op, false);
        if (op->kind == OP_COMMIT && op->error >= 0) {
                int r = store_load_image(op->manager, op->final, &image);
                if (r < 0) {
                        op->error = r;
                        SWAP_FREE(op->message, g_strdup_printf("Cannot read the new image: %s", g_strerror(-r)));
                        (void) manager_remove_tree(op->manager, op->final);
                } else {
                        g_hash_table_insert(op->manager->images, image->name, image);
                        image_send_new(image);
                }
        }
        if (op->kind == OP_RESTORE && op->error >= 0 && c) {
                /* The configuration as it was, too. */
                g_autofree char *meta = g_build_filename(op->src, "..", SNAPSHOT_JSON, NULL);
                g_autoptr(JsonNode) root = NULL;
                if (store_read_json(meta, &root) >= 0 && JSON_NODE_HOLDS_OBJECT(root)) {
                        JsonObject *o = json_node_get_object(root);
                        g_strfreev(c->command);
                        c->command = store_json_get_strv(o, "Command");
                        g_strfreev(c->environment);
                        c->environment = store_json_get_strv(o, "Environment");
                        SWAP_FREE(c->working_directory,
                                  g_strdup(json_object_get_string_member_with_default(o, "WorkingDirectory", NULL)));
                        (void) store_save_container(c);
                }
        }
        if (op->commit_done)
                op->commit_done(c, image, op->error, op->message, op->userdata);
        else if (op->done)
                op->done(c, op->error, op->message, op->userdata);
        manager_operation_end(op->manager);
        snapshot_op_free(op);
}

static void on_thawed(Container *c, int error, const char *message, void *userdata) {
        SnapshotOp *op = userdata;

        if (error < 0)
                log_warning_errno(error, "Cannot thaw %s after its snapshot: %s", op->container, message ?: "");
        op_finish(op);
}

static void on_worker_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        SnapshotOp *op = userdata;
        Container *c = manager_get_container(op->manager, op->container);

        if (status != 0) {
                op->error = op->kind == OP_CRIU ? -EOPNOTSUPP : -EIO;
                op->message = size > 0 ? g_strndup(output, size) : g_strdup_printf("worker failed (%d)", status);
        } else if (op->kind == OP_CRIU) {
                op->error = -EOPNOTSUPP;
                op->message = g_strndup(output, size);
        }
        if (op->thaw_after && c && c->state == CONTAINER_FROZEN) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                if (container_set_frozen(c, false, on_thawed, op, &e) >= 0)
                        return;
                log_warning("Cannot thaw %s after its snapshot: %s", op->container, e.message);
        }
        op_finish(op);
}

static int op_spawn(SnapshotOp *op) {
        if (op->kind == OP_CRIU)
                return worker_spawn_full(op->manager, "containers-manager criu", criu_worker, op, NULL, -1, NULL,
                                         on_worker_done, op, NULL);
        return worker_spawn_full(op->manager, "containers-manager snapshot", snapshot_worker, op, NULL, -1, NULL,
                                 on_worker_done, op, NULL);
}

static void on_frozen(Container *c, int error, const char *message, void *userdata) {
        SnapshotOp *op = userdata;
        int r;

        if (error < 0) {
                op->error = error;
                op->message = g_strdup_printf("Cannot freeze '%s' for the copy: %s", op->container, message ?: g_strerror(-error));
                op_finish(op);
                return;
        }
        r = op_spawn(op);
        if (r < 0) {
                op->error = r;
                op->message = g_strdup_printf("Cannot start the copy: %s", g_strerror(-r));
                on_worker_done(NULL, NULL, 0, 0, op); /* thaws, then finishes */
        }
}

static int op_start(Container *c, SnapshotOp *op, sd_bus_error *error) {
        int r;

        if (snapshot_busy(c)) {
                snapshot_op_free(op);
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Container '%s' has a snapshot or commit under way", c->name);
        }
        if (op->kind != OP_CRIU && IN_SET(c->state, CONTAINER_STARTING, CONTAINER_STOPPING)) {
                snapshot_op_free(op);
                return sd_bus_error_setf(error, CM_ERROR_ALREADY_RUNNING, "Container '%s' is %s: try again once it is not",
                                         c->name, container_state_to_string(c->state));
        }
        manager_operation_begin(op->manager);
        set_busy(op, true);
        if (op->kind != OP_CRIU && c->state == CONTAINER_RUNNING) {
                op->thaw_after = true;
                r = container_set_frozen(c, true, on_frozen, op, error);
        } else {
                r = op_spawn(op);
                if (r < 0)
                        sd_bus_error_set_errnof(error, r, "Cannot start the copy: %m");
        }
        if (r < 0) {
                set_busy(op, false);
                manager_operation_end(op->manager);
                snapshot_op_free(op);
                return r;
        }
        return 0;
}

static SnapshotOp *op_new(Container *c, OpKind kind, const char *name) {
        SnapshotOp *op = g_new0(SnapshotOp, 1);
        g_autofree char *cdir = manager_container_dir(c->manager, c->name);

        op->manager = c->manager;
        op->kind = kind;
        op->container = g_strdup(c->name);
        op->name = g_strdup(name);
        op->src = g_build_filename(cdir, "upper", NULL);
        op->copy.id_base = c->uid_shift;
        return op;
}

int snapshot_create(Container *c, const char *name, SnapshotDone cb, void *userdata, sd_bus_error *error) {
        g_autofree char *top = snapshot_dir(c, "");
        SnapshotOp *op;

        assert(c);
        assert(name);
        if (snapshot_exists(c, name))
                return sd_bus_error_setf(error, CM_ERROR_SNAPSHOT_EXISTS, "Container '%s' has a snapshot '%s' already", c->name, name);
        op = op_new(c, OP_CREATE, name);
        op->final = snapshot_dir(c, name);
        op->dst = g_strdup_printf("%s/.%s.tmp", top, name);
        op->meta = snapshot_meta_json(c, now_usec(CLOCK_REALTIME));
        op->done = cb;
        op->userdata = userdata;
        /* A snapshot left half-made by a crash, never listed: make room. */
        (void) rm_rf(op->final);
        return op_start(c, op, error);
}

int snapshot_restore(Container *c, const char *name, SnapshotDone cb, void *userdata, sd_bus_error *error) {
        g_autofree char *dir = NULL, *cdir = manager_container_dir(c->manager, c->name);
        SnapshotOp *op;

        assert(c);
        assert(name);
        if (!snapshot_exists(c, name))
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_SNAPSHOT, "Container '%s' has no snapshot '%s'", c->name, name);
        if (container_is_active(c) || c->removing)
                return sd_bus_error_setf(error, CM_ERROR_ALREADY_RUNNING, "Container '%s' is %s: stop it first",
                                         c->name, c->removing ? "being removed" : container_state_to_string(c->state));
        dir = snapshot_dir(c, name);
        op = op_new(c, OP_RESTORE, name);
        g_free(op->src);
        op->src = g_build_filename(dir, "upper", NULL);
        op->final = g_build_filename(cdir, "upper", NULL);
        op->dst = g_build_filename(cdir, ".upper-restore", NULL);
        op->done = cb;
        op->userdata = userdata;
        return op_start(c, op, error);
}

int snapshot_remove(Container *c, const char *name, sd_bus_error *error) {
        g_autofree char *dir = NULL;
        int r;

        if (!snapshot_exists(c, name))
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_SNAPSHOT, "Container '%s' has no snapshot '%s'", c->name, name);
        if (snapshot_busy(c))
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Container '%s' has a snapshot or commit under way", c->name);
        dir = snapshot_dir(c, name);
        r = manager_remove_tree(c->manager, dir);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot remove snapshot '%s': %m", name);
        return 0;
}

int snapshot_check_criu(Container *c, SnapshotDone cb, void *userdata, sd_bus_error *error) {
        SnapshotOp *op = op_new(c, OP_CRIU, "criu");

        op->done = cb;
        op->userdata = userdata;
        return op_start(c, op, error);
}

int container_commit(Container *c, const char *name, CommitDone cb, void *userdata, sd_bus_error *error) {
        Manager *m = c->manager;
        Image *from = manager_get_image(m, c->image), *base;
        g_autofree char *when = NULL, *dir = NULL, *images = NULL;
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        char **env_lists[2];
        SnapshotOp *op;
        Image *i;

        assert(c);
        assert(name);
        if (manager_get_image(m, name))
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_EXISTS, "Image '%s' already exists", name);
        if (!from || !(base = image_get_base(from)))
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "The image of container '%s' (%s) is gone", c->name, c->image);
        if (!c->command && !from->command)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Container '%s' has no command to commit", c->name);

        op = op_new(c, OP_COMMIT, name);
        dir = manager_image_dir(m, name);
        op->final = g_strdup(dir);
        images = g_path_get_dirname(dir);
        op->dst = g_strdup_printf("%s/.commit-%s", images, name);
        if (!c->privileged && !c->legacy) {
                /* The upper is the slot's; a layer holds container-side ids, idmapped at start. */
                op->copy.flags = COPY_SHIFT_IDS;
                op->copy.id_count = 65536;
        }
        op->copy.flags |= COPY_LAYER_XATTRS_ONLY;

        when = g_date_time_format_iso8601(now);
        i = op->image = g_new0(Image, 1);
        i->manager = m;
        i->name = g_strdup(name);
        i->base = g_strdup(base->name);
        i->parent = from != base ? g_strdup(from->name) : NULL;
        i->provenance = g_strdup_printf("committed from container %s (image %s) at %s", c->name, c->image, when);
        i->command = g_strdupv(c->command ?: from->command);
        env_lists[0] = from->environment;
        env_lists[1] = c->environment;
        i->environment = env_merge(env_lists, 2);
        i->working_directory = g_strdup(c->working_directory ?: from->working_directory ?: "/");
        i->created_usec = now_usec(CLOCK_REALTIME);
        i->url = g_strdup(from->url);
        i->commit = g_strdup(from->commit);
        i->layers = g_new0(char *, 2);
        i->layers[0] = g_build_filename(dir, "layer", NULL);
        op->commit_done = cb;
        op->userdata = userdata;
        return op_start(c, op, error);
}
