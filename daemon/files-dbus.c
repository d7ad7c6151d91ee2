/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container: the file methods (GetFile, PutFile, ListDirectory, ...). Each call
 * is checked, authorized (org.containers.exec), then done by a forked worker (files.c): nothing
 * of the container's file system is touched from the daemon's loop or with its credentials. */
#include <fcntl.h>
#include <limits.h>

#include "bus-util.h"
#include "container-dbus.h"
#include "errors.h"
#include "files.h"
#include "idmap.h"
#include "image.h"
#include "options.h"
#include "polkit.h"
#include "runtime.h"
#include "worker.h"

/* One call on its way: who gets the answer, and which container's count of file work to give
 * back (looked up again by name: the container may be removed meanwhile). */
typedef struct FileCall {
        Manager *manager;
        sd_bus_message *msg;
        FileOp op;
        Container *container;   /* identity only, never dereferenced without a look-up */
        char id[33];            /* its id: a Rename() changes its name, never this */
        char *lock_path;        /* the offline lock file the worker takes, if any */
        bool counted;           /* in the container's offline_file_ops */
        bool replied;
        int read_fd;            /* GetFileFd: the pipe's end for the caller */
} FileCall;

static void bus_message_unref(gpointer m) {
        sd_bus_message_unref(m);
}

static void file_call_free(FileCall *call) {
        if (!call)
                return;
        if (call->counted) {
                Container *found = NULL, *c;
                GHashTableIter it;

                g_hash_table_iter_init(&it, call->manager->containers);
                while (g_hash_table_iter_next(&it, NULL, (void **) &c))
                        if (c == call->container && streq(c->id, call->id))
                                found = c;
                if (found && found->offline_file_ops > 0)
                        found->offline_file_ops--;
                /* No worker of this container is left (each is counted from before it is queued
                 * until it has exited) or it is gone: nobody holds or waits for the lock. */
                if (call->lock_path && (!found || found->offline_file_ops == 0))
                        (void) unlink(call->lock_path);
        }
        g_free(call->lock_path);
        sd_bus_message_unref(call->msg);
        if (call->read_fd >= 0)
                close(call->read_fd);
        g_free(call);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(FileCall *, file_call_free);

static const char *const file_op_verbs[_FILE_OP_MAX] = {
        [FILE_OP_GET] = "get-file",
        [FILE_OP_GET_FD] = "get-file",
        [FILE_OP_PUT] = "put-file",
        [FILE_OP_PUT_FD] = "put-file",
        [FILE_OP_LIST] = "list-directory",
        [FILE_OP_MKDIR] = "make-directory",
        [FILE_OP_REMOVE] = "remove-path",
        [FILE_OP_PUT_ARCHIVE] = "put-archive",
        [FILE_OP_GET_ARCHIVE] = "get-archive",
};

static int reply_file_error(sd_bus_message *msg, int error, const char *message) {
        switch (error) {
        case -ENOENT:
                return sd_bus_reply_method_errorf(msg, CM_ERROR_NO_SUCH_FILE, "%s", message);
        case -ENOTDIR:
                return sd_bus_reply_method_errorf(msg, CM_ERROR_NOT_A_DIRECTORY, "%s", message);
        case -EFBIG:
                return sd_bus_reply_method_errorf(msg, CM_ERROR_FILE_TOO_LARGE, "%s", message);
        case -EINVAL:
        case -EISDIR:
                return sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_INVALID_ARGS, "%s", message);
        case -ESRCH:
                return sd_bus_reply_method_errorf(msg, CM_ERROR_NOT_RUNNING, "%s", message);
        case -EBADMSG:
                return sd_bus_reply_method_errorf(msg, CM_ERROR_INVALID_ARCHIVE, "%s", message);
        default:
                return sd_bus_reply_method_errnof(msg, -error, "%s", message);
        }
}

static int read_path(sd_bus_message *msg, char **ret, sd_bus_error *error) {
        const char *path;
        int r;

        r = sd_bus_message_read(msg, "s", &path);
        if (r < 0)
                return r;
        /* D-Bus strings cannot hold NUL: sd-bus and dbus-daemon refuse such a message. */
        if (files_path_normalize(path, ret) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Path '%s' is not valid: it must be absolute, not empty, and shorter than %d bytes",
                                         strlen(path) > 256 ? "..." : path, PATH_MAX);
        return 0;
}

static int check_mode(uint32_t mode, sd_bus_error *error) {
        if (mode != UINT32_MAX && (mode & ~07777U))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Mode 0%o has bits besides the permissions (07777)", mode);
        return 0;
}

static int check_id(Container *c, const char *what, uint32_t id, sd_bus_error *error) {
        if (id == UINT32_MAX)
                return 0;
        if (!c->privileged && id >= IDMAP_SLOT_SIZE)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%s %u is not an id of the container (0..%u)", what, id, IDMAP_SLOT_SIZE - 1);
        return 0;
}

/* Where the worker finds the container's root, by its state. */
static int target_init(Container *c, FileTarget *t, sd_bus_error *error) {
        Manager *m = c->manager;
        Image *image;
        int r;

        t->privileged = c->privileged;
        t->uid_shift = c->uid_shift;
        switch (c->state) {
        case CONTAINER_RUNNING:
        case CONTAINER_FROZEN:
                /* Frozen processes still have their namespaces: entering them wakes nothing. */
                if (c->leader <= 0)
                        return sd_bus_error_setf(error, CM_ERROR_BUSY, "Container '%s' is ending", c->name);
                t->leader = c->leader;
                t->unit = g_strdup(c->unit);
                return 0;
        case CONTAINER_CREATED:
        case CONTAINER_STOPPED:
        case CONTAINER_FAILED:
                break;
        default:
                /* Starting or stopping: its root is being mounted or unmounted. */
                return sd_bus_error_setf(error, CM_ERROR_BUSY, "Container '%s' is %s: try again when it is running or stopped",
                                         c->name, container_state_to_string(c->state));
        }

        image = manager_get_image(m, c->image);
        if (!image)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "Image '%s' of container '%s' does not exist", c->image, c->name);
        /* As a start does: a base is assembled once, on first use. */
        r = image_assemble(image);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Image '%s' cannot be assembled on this host: %m", image->name);
        r = runtime_rootfs_spec(c, image, &t->spec);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot put together the root of '%s': %m", c->name);
        /* Any empty directory does: ours is mounted over in the worker's own mount namespace. */
        SWAP_FREE(t->spec->stage, g_build_filename(m->runtime_dir, "files-stage", NULL));
        /* By id: a Rename() must not give the next call another lock. */
        t->lock_path = g_strdup_printf("%s/files-locks/%s.lock", m->runtime_dir, c->id);
        return 0;
}

static int authorize(sd_bus_message *msg, Container *c, FileOp op, sd_bus_error *error) {
        const char *details[] = {
                "container", c->name,
                "image", c->image,
                "verb", file_op_verbs[op],
                NULL,
        };
        return polkit_check(c->manager, msg, CM_ACTION_EXEC, details, error);
}

static void files_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        _cleanup_(file_call_freep) FileCall *call = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const uint8_t *payload;
        FileReply fr;
        int r;

        if (call->replied)
                return;
        if (files_reply_parse(output, size, &fr, &payload) < 0) {
                (void) sd_bus_reply_method_errorf(call->msg, SD_BUS_ERROR_FAILED, "The file worker failed (status %d)", status);
                return;
        }
        if (fr.error < 0) {
                (void) reply_file_error(call->msg, fr.error, fr.message);
                return;
        }

        r = sd_bus_message_new_method_return(call->msg, &reply);
        if (r >= 0 && call->op == FILE_OP_GET) {
                r = sd_bus_message_append_array(reply, 'y', payload, fr.payload_size);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "a{sv}", 5,
                                                  "mode", "u", fr.info.mode,
                                                  "uid", "u", fr.info.uid,
                                                  "gid", "u", fr.info.gid,
                                                  "size", "t", fr.info.size,
                                                  "mtime", "t", fr.info.mtime_usec);
        } else if (r >= 0 && call->op == FILE_OP_LIST) {
                size_t off = 0;

                r = sd_bus_message_open_container(reply, 'a', "(suuutt)");
                for (uint32_t i = 0; r >= 0 && i < fr.n_entries; i++) {
                        FileEntry e;
                        g_autofree char *name = NULL;

                        if (off + sizeof(e) > fr.payload_size) {
                                r = -EBADMSG;
                                break;
                        }
                        memcpy(&e, payload + off, sizeof(e));
                        off += sizeof(e);
                        if (e.name_len > fr.payload_size - off) {
                                r = -EBADMSG;
                                break;
                        }
                        name = g_strndup((const char *) payload + off, e.name_len);
                        off += e.name_len;
                        r = sd_bus_message_append(reply, "(suuutt)", name, e.info.mode, e.info.uid, e.info.gid,
                                                  e.info.size, e.info.mtime_usec);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) sd_bus_reply_method_errnof(call->msg, -r, "Cannot send the answer: %m");
}

/* GetFileFd: the worker's first line says whether the file could be opened; the caller gets
 * the pipe then, while the worker streams into it. */
static void files_fd_line(Worker *w, const char *line, void *userdata) {
        FileCall *call = userdata;
        g_autofree char *message = NULL;
        FileInfo info;
        int error, r;

        if (call->replied)
                return;
        call->replied = true;
        if (files_fd_header_parse(line, &info, &error, &message) < 0) {
                (void) sd_bus_reply_method_errorf(call->msg, SD_BUS_ERROR_FAILED, "The file worker answered nonsense");
                return;
        }
        if (error < 0) {
                (void) reply_file_error(call->msg, error, message);
                return;
        }
        r = sd_bus_reply_method_return(call->msg, "ha{sv}", call->read_fd, 5,
                                       "mode", "u", info.mode,
                                       "uid", "u", info.uid,
                                       "gid", "u", info.gid,
                                       "size", "t", info.size,
                                       "mtime", "t", info.mtime_usec);
        if (r < 0)
                (void) sd_bus_reply_method_errnof(call->msg, -r, "Cannot send the answer: %m");
        /* sd-bus sent a copy: ours must go, or the caller never sees the end of the data. */
        close(TAKE_FD(call->read_fd));
}

static void files_fd_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        _cleanup_(file_call_freep) FileCall *call = userdata;

        if (!call->replied)
                (void) sd_bus_reply_method_errorf(call->msg, SD_BUS_ERROR_FAILED, "The file worker failed (status %d)", status);
}

static void file_request_destroy(gpointer r) {
        file_request_free(r);
}

/* Authorized and validated: find the root and start the worker. Takes req. */
static int files_run(sd_bus_message *msg, Container *c, FileRequest *req, int keep_fd, int read_fd, sd_bus_error *error) {
        _cleanup_(file_request_freep) FileRequest *r_owned = req;
        _cleanup_(file_call_freep) FileCall *call = NULL;
        g_autofree char *title = NULL;
        int r;

        r = target_init(c, &req->target, error);
        if (r < 0)
                return r;

        call = g_new0(FileCall, 1);
        call->manager = c->manager;
        call->msg = sd_bus_message_ref(msg);
        call->op = req->op;
        call->container = c;
        memcpy(call->id, c->id, sizeof(call->id));
        call->read_fd = read_fd;

        title = g_strdup_printf("containers-manager files %s", c->name);
        r = worker_spawn_full(c->manager, title, files_worker, req, file_request_destroy, keep_fd,
                              req->op == FILE_OP_GET_FD ? files_fd_line : NULL,
                              req->op == FILE_OP_GET_FD ? files_fd_done : files_done, call, NULL);
        if (r < 0) {
                call->read_fd = -1; /* the caller's to close */
                return sd_bus_error_set_errnof(error, r, "Cannot fork the file worker: %m");
        }
        TAKE_PTR(r_owned);
        /* Counted from here: a Start now would mount the same layers a second time. That goes
         * for work in a running container too: the worker keeps the container's mount namespace,
         * and with it the overlay, alive after the container stops. */
        call->counted = true;
        c->offline_file_ops++;
        call->lock_path = g_strdup(req->target.lock_path);
        TAKE_PTR(call);
        return 1;
}

/* The methods that take a path and nothing else. */
static int run_path_only(sd_bus_message *msg, Container *c, FileOp op, sd_bus_error *error) {
        g_autofree char *path = NULL;
        int r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, op, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return files_run(msg, c, file_request_new(op, path), -1, -1, error);
}

static int method_get_file(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return run_path_only(msg, userdata, FILE_OP_GET, error);
}

static int method_get_file_fd(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        int p[2], r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, FILE_OP_GET_FD, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* A pipe, never a descriptor of the container's file system: the caller could walk
         * out of the container's root from one of those (openat(fd, "..")), or keep it. */
        if (pipe2(p, O_CLOEXEC) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot make a pipe: %m");
        r = files_run(msg, c, file_request_new(FILE_OP_GET_FD, path), p[1], p[0], error);
        close(p[1]); /* the worker has its own copy */
        if (r < 0)
                close(p[0]);
        return r;
}

typedef struct PutOptions {
        uint32_t mode, uid, gid;
        bool make_parents;
} PutOptions;

static int read_put_options(sd_bus_message *msg, Container *c, PutOptions *o, sd_bus_error *error) {
        int r;

        *o = (PutOptions) { .mode = UINT32_MAX, .uid = UINT32_MAX, .gid = UINT32_MAX };
        r = bus_read_options(msg, (const OptionSpec[]) {
                { "mode", "u", &o->mode },
                { "uid", "u", &o->uid },
                { "gid", "u", &o->gid },
                { "make_parents", "b", &o->make_parents },
                {}
        }, error);
        if (r >= 0)
                r = check_mode(o->mode, error);
        if (r >= 0)
                r = check_id(c, "uid", o->uid, error);
        if (r >= 0)
                r = check_id(c, "gid", o->gid, error);
        return r;
}

static void put_options_apply(const PutOptions *o, FileRequest *req) {
        req->mode_set = o->mode != UINT32_MAX;
        req->mode = o->mode;
        req->uid_set = o->uid != UINT32_MAX;
        req->uid = o->uid;
        req->gid_set = o->gid != UINT32_MAX;
        req->gid = o->gid;
        req->make_parents = o->make_parents;
}

static int method_put_file(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        FileRequest *req;
        const void *data;
        size_t size;
        PutOptions o;
        int r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(msg, 'y', &data, &size);
        if (r < 0)
                return r;
        r = read_put_options(msg, c, &o, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, FILE_OP_PUT, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = file_request_new(FILE_OP_PUT, path);
        put_options_apply(&o, req);
        /* The data stays in the message (the worker is a fork: it sees the same memory). */
        req->data = g_bytes_new_with_free_func(data, size, bus_message_unref, sd_bus_message_ref(msg));
        return files_run(msg, c, req, -1, -1, error);
}

static int method_put_file_fd(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        FileRequest *req;
        PutOptions o;
        int fd, r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = read_put_options(msg, c, &o, error);
        if (r < 0)
                return r;
        r = bus_check_fd(fd, false, NULL, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, FILE_OP_PUT_FD, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = file_request_new(FILE_OP_PUT_FD, path);
        put_options_apply(&o, req);
        return files_run(msg, c, req, fd, -1, error);
}

static int method_list_directory(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return run_path_only(msg, userdata, FILE_OP_LIST, error);
}

static int method_make_directory(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        uint32_t mode = UINT32_MAX;
        bool make_parents = false;
        FileRequest *req;
        int r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = bus_read_options(msg, (const OptionSpec[]) {
                { "mode", "u", &mode },
                { "make_parents", "b", &make_parents },
                {}
        }, error);
        if (r < 0)
                return r;
        r = check_mode(mode, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, FILE_OP_MKDIR, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = file_request_new(FILE_OP_MKDIR, path);
        req->mode_set = mode != UINT32_MAX;
        req->mode = mode;
        req->make_parents = make_parents;
        return files_run(msg, c, req, -1, -1, error);
}

static int method_remove_path(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        bool recursive = false;
        FileRequest *req;
        int r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = bus_read_options(msg, (const OptionSpec[]) {
                { "recursive", "b", &recursive },
                {}
        }, error);
        if (r < 0)
                return r;
        if (streq(path, "/"))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The root directory cannot be removed");
        r = authorize(msg, c, FILE_OP_REMOVE, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = file_request_new(FILE_OP_REMOVE, path);
        req->recursive = recursive;
        return files_run(msg, c, req, -1, -1, error);
}

static int method_put_archive(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        int fd, r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = bus_read_options(msg, (const OptionSpec[]) { {} }, error);
        if (r < 0)
                return r;
        r = bus_check_fd(fd, false, NULL, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, FILE_OP_PUT_ARCHIVE, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        FileRequest *req = file_request_new(FILE_OP_PUT_ARCHIVE, path);
        /* Over the cap: FileTooLarge, nothing unpacked (tar_unpack() stages the whole archive). */
        req->max_bytes = c->manager->size_caps.put_archive_max_bytes;
        return files_run(msg, c, req, fd, -1, error);
}

static int method_get_archive(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *path = NULL;
        int fd, r;

        r = read_path(msg, &path, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = bus_check_fd(fd, true, NULL, error);
        if (r < 0)
                return r;
        r = authorize(msg, c, FILE_OP_GET_ARCHIVE, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return files_run(msg, c, file_request_new(FILE_OP_GET_ARCHIVE, path), fd, -1, error);
}

const sd_bus_vtable container_files_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("GetFile", SD_BUS_ARGS("s", path), SD_BUS_RESULT("ay", data, "a{sv}", info),
                                method_get_file, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PutFile", SD_BUS_ARGS("s", path, "ay", data, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_put_file, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetFileFd", SD_BUS_ARGS("s", path), SD_BUS_RESULT("h", fd, "a{sv}", info),
                                method_get_file_fd, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PutFileFd", SD_BUS_ARGS("s", path, "h", fd, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_put_file_fd, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDirectory", SD_BUS_ARGS("s", path), SD_BUS_RESULT("a(suuutt)", entries),
                                method_list_directory, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MakeDirectory", SD_BUS_ARGS("s", path, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_make_directory, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemovePath", SD_BUS_ARGS("s", path, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_remove_path, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PutArchive", SD_BUS_ARGS("s", path, "h", tar, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_put_archive, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetArchive", SD_BUS_ARGS("s", path, "h", out), SD_BUS_NO_RESULT,
                                method_get_archive, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
