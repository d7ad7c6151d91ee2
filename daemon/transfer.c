/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ExportImage and ImportImage: everything slow happens in a worker; an import is unpacked into
 * a hidden directory under images/ (removed at start-up if a crash leaves it) and renamed into
 * place only when every digest, path, owner and size was right. */
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <dirent.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <linux/openat2.h>
#include <json-glib/json-glib.h>

#include "build.h"
#include "confine.h"
#include "copy.h"
#include "errors.h"
#include "image.h"
#include "image-dbus.h"
#include "store.h"
#include "tar.h"
#include "transfer.h"
#include "transfer-manifest.h"
#include "snapshot.h"
#include "worker.h"

#define EXIT_INVALID 3  /* the worker's word for "the archive is bad" */
#define EXIT_NO_BASE 4
#define EXIT_IMAGE_EXISTS 5
#define EXIT_IMAGE_DENIED 6     /* ImportContainer: an image without org.containers.build */

typedef struct TransferOp {
        Manager *manager;
        bool import;
        char *name;
        char *tmp;              /* images/.export-N or .import-N */
        char *final;            /* images/NAME (import) */
        char **layers;          /* export: bottom first */
        char *base;
        char **command;
        char **environment;
        char *working_directory;
        char *provenance;
        char *oci_base;         /* import: the base an OCI image's layers sit on */
        char *compression;      /* export: NULL, "gzip" or "zstd" */

        /* ExportContainer / ImportContainer */
        char *upper;            /* export: the container's writable layer */
        uint32_t uid_shift;
        bool shift;             /* its ids are a slot's: shift them to container-side */
        char *container_name;
        char *container_image;
        char **container_command;
        char **container_environment;
        char *container_wd;
        char *image_name;       /* import: the name for the image the archive carries */
        bool allow_image;       /* import: the caller may install that image (build) */
        TransferContainerDone container_done;
        uint64_t created_usec;
        TransferDone done;
        void *userdata;

        /* import and pull: the stream's entries, and again the data all layers unpack to, are
         * capped at max_bytes ([Transfers] of the configuration file) */
        uint64_t max_bytes;
        uint64_t unpacked_bytes;
} TransferOp;

static uint64_t op_max_bytes(const TransferOp *op) {
        return op->max_bytes > 0 ? op->max_bytes : TRANSFER_MAX_BYTES;
}

static void transfer_op_free(void *p) {
        TransferOp *op = p;

        if (!op)
                return;
        g_free(op->name);
        g_free(op->tmp);
        g_free(op->final);
        g_strfreev(op->layers);
        g_free(op->base);
        g_strfreev(op->command);
        g_strfreev(op->environment);
        g_free(op->working_directory);
        g_free(op->provenance);
        g_free(op->oci_base);
        g_free(op->compression);
        g_free(op->upper);
        g_free(op->container_name);
        g_free(op->container_image);
        g_strfreev(op->container_command);
        g_strfreev(op->container_environment);
        g_free(op->container_wd);
        g_free(op->image_name);
        g_free(op);
}

static int report(int fd, int status, const char *fmt, ...) _printf_(3, 4);
static int report(int fd, int status, const char *fmt, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        (void) loop_write(fd, text, strlen(text));
        return status;
}

static int safe_close_fd(int fd) {
        if (fd >= 0)
                close(fd);
        return -1;
}

static int sha256_fd(int fd, char **ret) {
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        char buf[65536];

        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                g_checksum_update(sum, (const guchar *) buf, n);
        }
        *ret = g_strconcat("sha256:", g_checksum_get_string(sum), NULL);
        return 0;
}

/* Runs tool (gzip or zstd) with args between in_fd and out_fd; returns its pid. */
static pid_t spawn_filter(const char *tool, const char *arg, int in_fd, int out_fd) {
        pid_t pid = fork();

        if (pid != 0)
                return pid < 0 ? -errno : pid;
        if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        execlp(tool, tool, arg, "-q", NULL);
        _exit(127);
}

/* Reads what a decompressor still has after the tar's end (padding), so that it can finish and
 * say whether the stream was whole; gives up after max bytes. */
static void drain_fd(int fd, size_t max) {
        char buf[65536];
        size_t total = 0;

        while (total < max) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                total += k;
        }
}

static int wait_filter(pid_t pid) {
        int status;

        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EBADMSG;
}

/* The archive as it arrives, decompressed when it starts with gzip's or zstd's magic: a feeder
 * child writes what we peeked plus the rest into the decompressor. *ret_fd is then a pipe. */
static int open_decompressed(int in_fd, int *ret_fd, pid_t *ret_feeder, pid_t *ret_filter) {
        unsigned char magic[4];
        const char *tool = NULL;
        ssize_t n = 0;
        int a[2], b[2];
        pid_t feeder, filter;

        while (n < 4) {
                ssize_t k = read(in_fd, magic + n, 4 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += k;
        }
        if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
                tool = "gzip";
        else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
                tool = "zstd";
        /* A plain archive in a file: read it directly, no feeder. */
        if (!tool && lseek(in_fd, -n, SEEK_CUR) >= 0) {
                int fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                *ret_feeder = 0;
                *ret_filter = 0;
                return 0;
        }
        if (pipe2(a, O_CLOEXEC) < 0)
                return -errno;
        if (tool && pipe2(b, O_CLOEXEC) < 0) {
                close(a[0]);
                close(a[1]);
                return -errno;
        }
        feeder = fork();
        if (feeder < 0)
                return -errno;
        if (feeder == 0) {
                char buf[65536];
                close(a[0]);
                if (loop_write(a[1], magic, n) < 0)
                        _exit(1);
                for (;;) {
                        ssize_t k = read(in_fd, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                _exit(k < 0);
                        if (loop_write(a[1], buf, k) < 0)
                                _exit(0); /* the reader stopped: it knows why */
                }
        }
        close(a[1]);
        *ret_feeder = feeder;
        *ret_filter = 0;
        if (!tool) {
                *ret_fd = a[0];
                return 0;
        }
        filter = spawn_filter(tool, "-dc", a[0], b[1]);
        close(a[0]);
        close(b[1]);
        if (filter < 0) {
                close(b[0]);
                return filter;
        }
        *ret_filter = filter;
        *ret_fd = b[0];
        return 0;
}

/* Whether a layer holds whiteouts or opaque directories (then it is staged with them spelled as
 * .wh. files); most built and imported layers hold none and are packed as they are. */
static int layer_has_overlay_marks(int dir_fd) {
        _cleanup_close_ int dfd = dup(dir_fd);
        struct dirent *de;
        DIR *d;
        int r = 0;
        char v[2];

        if (dfd < 0)
                return -errno;
        if (fgetxattr(dir_fd, "trusted.overlay.opaque", v, 1) == 1)
                return 1;
        d = fdopendir(TAKE_FD(dfd));
        if (!d)
                return -errno;
        while (r == 0 && (de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (IS_WHITEOUT(&st) || g_str_has_prefix(de->d_name, WHITEOUT_PREFIX))
                        r = 1;
                else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sfd = openat(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sfd < 0 ? -errno : layer_has_overlay_marks(sfd);
                }
        }
        closedir(d);
        return r;
}

/* ---- export ---- */

/* A layer's tree as layers/N.tar or upper.tar of the stream: straight from the layer when it
 * has no overlay marks, else from a staged copy with them spelled as OCI does (and, for a
 * container's layer, its owners shifted to container-side ids). */
static int export_tree(TarWriter *w, const char *entry, const char *dir, const char *stage, const CopyOptions *copy,
                       bool force_copy, char **ret_digest, uint64_t *ret_size, char **ret_message) {
        _cleanup_close_ int fd = -1;
        bool staged;
        int r;

        if (force_copy)
                staged = true;
        else {
                _cleanup_close_ int lfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = lfd < 0 ? -errno : layer_has_overlay_marks(lfd);
                if (r < 0) {
                        *ret_message = g_strdup_printf("Cannot read %s: %s", dir, g_strerror(-r));
                        return r;
                }
                staged = r > 0;
        }
        if (staged) {
                /* A plain tar cannot hold whiteouts (device nodes): spell them as OCI does. */
                if (access(dir, F_OK) < 0 && errno == ENOENT)
                        r = mkdir(stage, 0755) < 0 ? -errno : 0;
                else
                        r = copy_tree(dir, stage, copy, ret_message);
                if (r < 0)
                        return r;
        }
        fd = open(staged ? stage : dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = tar_writer_add_tree(w, entry, fd, "/", ret_digest, ret_size, ret_message);
        if (staged)
                (void) rm_rf(stage);
        return r;
}

static char *export_manifest(TransferOp *op, char **digests, const uint64_t *sizes) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "FormatVersion");
        json_builder_add_int_value(b, TRANSFER_FORMAT_VERSION);
        json_builder_set_member_name(b, "Name");
        json_builder_add_string_value(b, op->name);
        json_builder_set_member_name(b, "Base");
        json_builder_add_string_value(b, op->base);
        store_json_add_strv(b, "Command", op->command);
        store_json_add_strv(b, "Environment", op->environment);
        json_builder_set_member_name(b, "WorkingDirectory");
        json_builder_add_string_value(b, op->working_directory);
        json_builder_set_member_name(b, "Provenance");
        json_builder_add_string_value(b, op->provenance ?: "");
        json_builder_set_member_name(b, "Created");
        json_builder_add_int_value(b, (gint64) op->created_usec);
        json_builder_set_member_name(b, "Layers");
        json_builder_begin_array(b);
        for (guint k = 0; digests[k]; k++) {
                g_autofree char *rel = g_strdup_printf("layers/%u.tar", k);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "File");
                json_builder_add_string_value(b, rel);
                json_builder_set_member_name(b, "Digest");
                json_builder_add_string_value(b, digests[k]);
                json_builder_set_member_name(b, "Size");
                json_builder_add_int_value(b, (gint64) sizes[k]);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return json_to_string(root, true);
}

static char *export_container_json(TransferOp *op) {
        g_autoptr(JsonBuilder) cb = json_builder_new();
        g_autoptr(JsonNode) croot = NULL;

        json_builder_begin_object(cb);
        json_builder_set_member_name(cb, "FormatVersion");
        json_builder_add_int_value(cb, TRANSFER_FORMAT_VERSION);
        json_builder_set_member_name(cb, "Name");
        json_builder_add_string_value(cb, op->container_name);
        json_builder_set_member_name(cb, "Image");
        json_builder_add_string_value(cb, op->container_image);
        if (op->container_command)
                store_json_add_strv(cb, "Command", op->container_command);
        store_json_add_strv(cb, "Environment", op->container_environment);
        if (op->container_wd) {
                json_builder_set_member_name(cb, "WorkingDirectory");
                json_builder_add_string_value(cb, op->container_wd);
        }
        json_builder_set_member_name(cb, "ImageIncluded");
        json_builder_add_boolean_value(cb, op->layers != NULL);
        json_builder_end_object(cb);
        croot = json_builder_get_root(cb);
        return json_to_string(croot, true);
}

/* The stream: container.json (containers), layers/N.tar, upper.tar (containers), then
 * manifest.json with the layers' digests, which are known only once they are written. */
static int export_stream(TransferOp *op, int out_fd, char **ret_message) {
        _cleanup_(tar_writer_freep) TarWriter *w = tar_writer_new(out_fd);
        g_auto(GStrv) digests = NULL;
        g_autofree uint64_t *sizes = NULL;
        guint n = op->layers ? g_strv_length(op->layers) : 0;
        int r;

        if (op->upper) {
                g_autofree char *ctext = export_container_json(op);
                r = tar_writer_add_data(w, "container.json", ctext, strlen(ctext), ret_message);
                if (r < 0)
                        return r;
        }
        digests = g_new0(char *, n + 1);
        sizes = g_new0(uint64_t, n + 1);
        for (guint k = 0; k < n; k++) {
                g_autofree char *stage = g_strdup_printf("%s/stage-%u", op->tmp, k), *entry = g_strdup_printf("layers/%u.tar", k);
                CopyOptions copy = { .flags = COPY_OCI_WHITEOUTS };
                g_autofree char *m = NULL;

                r = export_tree(w, entry, op->layers[k], stage, &copy, false, &digests[k], &sizes[k], &m);
                if (r < 0) {
                        *ret_message = g_strdup_printf("Cannot pack layer %u: %s", k, m ?: g_strerror(-r));
                        return r;
                }
        }
        if (op->upper) {
                /* The container's own layer, owners container-side, whiteouts as .wh. files. */
                g_autofree char *stage = g_build_filename(op->tmp, "stage-upper", NULL), *m = NULL;
                CopyOptions copy = { .flags = COPY_OCI_WHITEOUTS | (op->shift ? COPY_SHIFT_IDS : 0), .id_base = op->uid_shift, .id_count = 65536 };

                r = export_tree(w, "upper.tar", op->upper, stage, &copy, true, NULL, NULL, &m);
                if (r < 0) {
                        *ret_message = g_strdup_printf("Cannot pack the container's layer: %s", m ?: g_strerror(-r));
                        return r;
                }
        }
        if (op->layers) {
                g_autofree char *manifest = export_manifest(op, digests, sizes);
                r = tar_writer_add_data(w, "manifest.json", manifest, strlen(manifest), ret_message);
                if (r < 0)
                        return r;
        }
        return tar_writer_finish(w, ret_message);
}

static int export_worker(int fd, void *data) {
        TransferOp *op = data;
        g_autofree char *message = NULL;
        int r;

        (void) umask(0077);
        if (mkdir(op->tmp, 0700) < 0)
                return report(fd, 1, "Cannot create %s: %m", op->tmp);
        if (op->compression) {
                int p[2];
                pid_t filter;

                if (pipe2(p, O_CLOEXEC) < 0)
                        return report(fd, 1, "Cannot make a pipe: %m");
                filter = spawn_filter(op->compression, "-c", p[0], WORKER_KEEP_FD);
                close(p[0]);
                if (filter < 0) {
                        close(p[1]);
                        return report(fd, 1, "Cannot run %s: %s", op->compression, g_strerror(-filter));
                }
                r = export_stream(op, p[1], &message);
                close(p[1]);
                if (wait_filter(filter) < 0 && r >= 0)
                        return report(fd, 1, "%s failed", op->compression);
        } else
                r = export_stream(op, WORKER_KEEP_FD, &message);
        (void) rm_rf(op->tmp);
        if (r < 0)
                return report(fd, 1, "Cannot write the archive: %s", message ?: g_strerror(-r));
        return 0;
}

/* ---- import ---- */

static int open_beneath(int dir_fd, const char *path, int flags) {
        struct open_how how = {
                .flags = flags | O_CLOEXEC | O_NOFOLLOW,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

/* OCI whiteout files back to overlayfs whiteouts; owners must be container-side ids. */
static int import_fix_tree(int dir_fd, const char *rel, char **ret_message) {
        g_autoptr(GPtrArray) names = NULL;
        int r;

        r = dir_list_sorted(dir_fd, &names);
        if (r < 0)
                return r;

        for (guint k = 0; k < names->len; k++) {
                const char *name = names->pdata[k];
                g_autofree char *sub = g_strdup_printf("%s/%s", rel, name);
                struct stat st;

                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (st.st_uid > 65535 || st.st_gid > 65535)
                        return transfer_bad(ret_message, "%s: owner %u:%u is not a container id", sub, st.st_uid, st.st_gid);
                if (streq(name, WHITEOUT_OPAQUE)) {
                        if (!S_ISREG(st.st_mode))
                                return transfer_bad(ret_message, "%s: not a file", sub);
                        if (unlinkat(dir_fd, name, 0) < 0)
                                return -errno;
                        r = confine_set_opaque(dir_fd);
                        if (r < 0)
                                return r;
                } else if (g_str_has_prefix(name, WHITEOUT_PREFIX)) {
                        const char *target = name + strlen(WHITEOUT_PREFIX);
                        if (!S_ISREG(st.st_mode) || isempty(target) || streq(target, ".") || streq(target, ".."))
                                return transfer_bad(ret_message, "%s: not a whiteout", sub);
                        if (faccessat(dir_fd, target, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                                return transfer_bad(ret_message, "%s: whiteout of an entry the layer also has", sub);
                        if (unlinkat(dir_fd, name, 0) < 0 || mknodat(dir_fd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
                                return -errno;
                } else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sfd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sfd < 0)
                                return -errno;
                        r = import_fix_tree(sfd, sub, ret_message);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}


/* ---- OCI image layouts (skopeo, umoci, podman save --format oci-archive) ---- */

#define OCI_JSON_MAX (4 * 1024 * 1024)

/* Reads blobs/sha256/<hex> of the layout after checking its digest; JSON blobs only. */
static int oci_read_blob(int in_fd, const char *digest, JsonParser *parser, char **ret_message) {
        g_autofree char *path = NULL, *got = NULL, *text = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (!transfer_digest_is_valid(digest))
                return transfer_bad(ret_message, "OCI: digest '%s' is not a sha256 digest", digest ?: "");
        path = g_strdup_printf("blobs/sha256/%s", digest + 7);
        fd = open_beneath(in_fd, path, O_RDONLY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return transfer_bad(ret_message, "OCI: blob %s is missing", path);
        if (st.st_size > OCI_JSON_MAX)
                return transfer_bad(ret_message, "OCI: blob %s is too large for JSON", path);
        r = sha256_fd(fd, &got);
        if (r < 0)
                return r;
        if (!streq(got, digest))
                return transfer_bad(ret_message, "OCI: blob %s has digest %s", path, got);
        text = g_malloc0(st.st_size + 1);
        if (pread(fd, text, st.st_size, 0) != st.st_size)
                return -EIO;
        if (!json_parser_load_from_data(parser, text, st.st_size, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
                return transfer_bad(ret_message, "OCI: blob %s is not a JSON object", path);
        return 0;
}

static JsonObject *object_member(JsonObject *o, const char *key) {
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;
        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *array_member(JsonObject *o, const char *key) {
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;
        return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* Finds the image manifest an index points to: the linux/amd64 one, else the only one. */
static int oci_find_manifest(int in_fd, JsonObject *index, unsigned depth, JsonParser **ret, char **ret_message) {
        JsonArray *ms = array_member(index, "manifests");
        JsonObject *pick = NULL;
        g_autoptr(JsonParser) p = json_parser_new();
        const char *mt;
        int r;

        if (!ms || json_array_get_length(ms) == 0)
                return transfer_bad(ret_message, "OCI: the index lists no manifests");
        for (guint k = 0; k < json_array_get_length(ms); k++) {
                JsonNode *n = json_array_get_element(ms, k);
                JsonObject *m = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
                JsonObject *plat = object_member(m, "platform");
                if (!m)
                        continue;
                if (!pick)
                        pick = m;
                if (plat && streq_ptr(json_string_member(plat, "os"), "linux") &&
                    streq_ptr(json_string_member(plat, "architecture"), "amd64")) {
                        pick = m;
                        break;
                }
        }
        if (!pick)
                return transfer_bad(ret_message, "OCI: the index lists no manifests");
        r = oci_read_blob(in_fd, json_string_member(pick, "digest"), p, ret_message);
        if (r < 0)
                return r;
        mt = json_string_member(pick, "mediaType") ?: json_string_member(json_node_get_object(json_parser_get_root(p)), "mediaType");
        if (mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list"))) {
                if (depth > 2)
                        return transfer_bad(ret_message, "OCI: indexes nested too deep");
                return oci_find_manifest(in_fd, json_node_get_object(json_parser_get_root(p)), depth + 1, ret, ret_message);
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* Unpacks one layer blob, decompressing it through gzip or zstd (in a child) when it says so. */
static int oci_unpack_layer(int blob_fd, const char *media_type, int dir_fd, const TarLimits *limits, char **ret_message) {
        const char *tool = NULL;
        int pipefd[2], status, r;
        pid_t pid;

        if (g_str_has_suffix(media_type, "+gzip") || g_str_has_suffix(media_type, ".tar.gzip") || g_str_has_suffix(media_type, ".tar.gz"))
                tool = "gzip";
        else if (g_str_has_suffix(media_type, "+zstd"))
                tool = "zstd";
        else if (!g_str_has_suffix(media_type, "layer.v1.tar") && !g_str_has_suffix(media_type, "rootfs.diff.tar"))
                return transfer_bad(ret_message, "OCI: layer media type '%s' is not supported", media_type);
        if (lseek(blob_fd, 0, SEEK_SET) < 0)
                return -errno;
        if (!tool)
                return tar_unpack(blob_fd, dir_fd, "/", limits, ret_message);

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                if (dup2(blob_fd, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execlp(tool, tool, "-dc", NULL);
                _exit(127);
        }
        close(pipefd[1]);
        r = tar_unpack(pipefd[0], dir_fd, "/", limits, ret_message);
        if (r >= 0)
                drain_fd(pipefd[0], 1024 * 1024);
        close(pipefd[0]);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        if (waitpid(pid, &status, 0) < 0)
                return r < 0 ? r : -errno;
        if (r >= 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
                /* tar_unpack's staging is already in place: the caller removes the whole image. */
                return transfer_bad(ret_message, "OCI: %s could not decompress the layer (status %d)", tool, status);
        }
        return r;
}

static char **json_strv(JsonObject *o, const char *key, bool *ok) {
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;

        if (n && !JSON_NODE_HOLDS_NULL(n) && !json_strv_member_ok(o, key, false))
                *ok = false;
        return n && JSON_NODE_HOLDS_ARRAY(n) ? store_json_get_strv(o, key) : NULL;
}

/* The OCI/docker config's Entrypoint + Cmd, Env and WorkingDir. */
static int import_image_config(JsonObject *top, Image *i, char **ret_message) {
        g_auto(GStrv) entrypoint = NULL, cmd = NULL, env = NULL;
        JsonObject *cfg;
        bool ok = true;

        cfg = object_member(top, "config");
        entrypoint = json_strv(cfg, "Entrypoint", &ok);
        cmd = json_strv(cfg, "Cmd", &ok);
        env = json_strv(cfg, "Env", &ok);
        if (!ok)
                return transfer_bad(ret_message, "OCI: Entrypoint, Cmd and Env must be lists of strings");
        for (guint k = 0; env && env[k]; k++)
                if (!env_assignment_is_valid(env[k]))
                        return transfer_bad(ret_message, "OCI: environment entry %u is not NAME=VALUE without control characters", k + 1);
        {
                g_autoptr(GStrvBuilder) b = g_strv_builder_new();
                if (entrypoint)
                        g_strv_builder_addv(b, (const char **) entrypoint);
                if (cmd)
                        g_strv_builder_addv(b, (const char **) cmd);
                i->command = g_strv_builder_end(b);
        }
        if (!i->command[0])
                return transfer_bad(ret_message, "OCI: the image has neither Entrypoint nor Cmd");
        i->environment = TAKE_PTR(env);
        {
                const char *wd = json_string_member(cfg, "WorkingDir");
                if (!isempty(wd) && !container_path_is_valid(wd))
                        return transfer_bad(ret_message, "OCI: WorkingDir is not an absolute path without '..' and control characters");
                i->working_directory = g_strdup(isempty(wd) ? "/" : wd);
        }

        return 0;
}

/* One layer file: its digest checked, unpacked (decompressed as its media type says) into
 * layers_dir/k, whiteouts made overlayfs'. */
static int import_layer(int in_fd, const char *path, const char *digest, const char *mt, const char *layers_dir, guint k,
                        const TarLimits *limits, char **ret_message) {
        g_autofree char *got = NULL, *dir = g_strdup_printf("%s/%u", layers_dir, k);
        _cleanup_close_ int lfd = -1, dfd = -1;
        struct stat st;
        int r;

        lfd = open_beneath(in_fd, path, O_RDONLY);
        if (lfd < 0 || fstat(lfd, &st) < 0 || !S_ISREG(st.st_mode))
                return transfer_bad(ret_message, "Layer %s is missing from the archive", path);
        r = sha256_fd(lfd, &got);
        if (r < 0)
                return r;
        if (!streq(got, digest))
                return transfer_bad(ret_message, "Layer %s has digest %s, not %s", path, got, digest);
        if (mkdir(dir, 0755) < 0)
                return -errno;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = oci_unpack_layer(lfd, mt, dfd, limits, ret_message);
        if (r < 0) {
                g_autofree char *msg = TAKE_PTR(*ret_message);
                *ret_message = g_strdup_printf("Layer %s: %s", path, msg ?: g_strerror(-r));
                return r == -ENOSPC || r == -EIO ? r : -EBADMSG;
        }
        r = import_fix_tree(dfd, path, ret_message);
        if (r < 0)
                return r;
        if (chmod(dir, 0755) < 0 || chown(dir, 0, 0) < 0)
                return -errno;
        return 0;
}

static int import_oci(TransferOp *op, int in_fd, const char *layers_dir, Image *i, const TarLimits *limits,
                      char **ret_message) {
        g_autoptr(JsonParser) index = json_parser_new(), manifest = NULL, config = json_parser_new();
        g_autoptr(GStrvBuilder) layer_paths = g_strv_builder_new();
        _cleanup_close_ int ifd = open_beneath(in_fd, "index.json", O_RDONLY);
        g_autofree char *text = NULL;
        JsonObject *m;
        JsonArray *layers;
        struct stat st;
        guint n;
        int r;

        if (ifd < 0 || fstat(ifd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > OCI_JSON_MAX)
                return transfer_bad(ret_message, "OCI: no index.json");
        text = g_malloc0(st.st_size + 1);
        if (read(ifd, text, st.st_size) != st.st_size)
                return -EIO;
        if (!json_parser_load_from_data(index, text, st.st_size, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(index)))
                return transfer_bad(ret_message, "OCI: index.json is not a JSON object");
        r = oci_find_manifest(in_fd, json_node_get_object(json_parser_get_root(index)), 0, &manifest, ret_message);
        if (r < 0)
                return r;
        m = json_node_get_object(json_parser_get_root(manifest));
        r = oci_read_blob(in_fd, json_string_member(object_member(m, "config"), "digest"), config, ret_message);
        if (r < 0)
                return r;
        r = import_image_config(json_node_get_object(json_parser_get_root(config)), i, ret_message);
        if (r < 0)
                return r;

        layers = array_member(m, "layers");
        n = layers ? json_array_get_length(layers) : 0;
        if (n == 0 || n > TRANSFER_MAX_LAYERS)
                return transfer_bad(ret_message, "OCI: 1 to %d layers", TRANSFER_MAX_LAYERS);
        for (guint k = 0; k < n; k++) {
                JsonNode *ln = json_array_get_element(layers, k);
                JsonObject *l = JSON_NODE_HOLDS_OBJECT(ln) ? json_node_get_object(ln) : NULL;
                const char *digest = json_string_member(l, "digest"), *mt = json_string_member(l, "mediaType");
                g_autofree char *path = NULL;

                if (!transfer_digest_is_valid(digest) || !mt)
                        return transfer_bad(ret_message, "OCI: layer %u has no valid digest or media type", k);
                path = g_strdup_printf("blobs/sha256/%s", digest + 7);
                r = import_layer(in_fd, path, digest, mt, layers_dir, k, limits, ret_message);
                if (r < 0)
                        return r;
        }
        for (guint k = n; k > 0; k--) {
                g_autofree char *l = g_strdup_printf("%s/layers/%u", op->final, k - 1);
                g_strv_builder_add(layer_paths, l);
        }
        i->layers = g_strv_builder_end(layer_paths);
        i->base = g_strdup(op->oci_base);
        {
                g_autoptr(GDateTime) now = g_date_time_new_now_utc();
                g_autofree char *when = g_date_time_format_iso8601(now);
                i->provenance = g_strdup_printf("imported as %s from an OCI image (%s) at %s, on base %s", op->name,
                                                json_string_member(object_member(m, "config"), "digest"), when, op->oci_base);
        }
        return 0;
}

/* docker-archive (docker save, podman save's default, skopeo's docker-archive:): manifest.json is
 * [{Config, RepoTags, Layers}]; the config's name is its own sha256 and its rootfs.diff_ids are
 * the sha256 of each (uncompressed) layer: every file is checked against them. */
static int import_docker(TransferOp *op, int in_fd, const char *text, size_t size, const char *layers_dir, Image *i,
                         const TarLimits *limits, char **ret_message) {
        g_autoptr(JsonParser) mp = json_parser_new(), config = json_parser_new();
        g_autoptr(GStrvBuilder) layer_paths = g_strv_builder_new();
        g_autofree char *hex = NULL, *want = NULL;
        const char *config_path;
        JsonNode *root, *first;
        JsonObject *entry, *rootfs;
        JsonArray *layers, *diff_ids;
        guint n;
        int r;

        if (!json_parser_load_from_data(mp, text, size, NULL))
                return transfer_bad(ret_message, "docker-archive: manifest.json is not JSON");
        root = json_parser_get_root(mp);
        if (!JSON_NODE_HOLDS_ARRAY(root) || json_array_get_length(json_node_get_array(root)) == 0)
                return transfer_bad(ret_message, "docker-archive: manifest.json lists no image");
        first = json_array_get_element(json_node_get_array(root), 0);
        entry = JSON_NODE_HOLDS_OBJECT(first) ? json_node_get_object(first) : NULL;
        config_path = json_string_member(entry, "Config");
        if (!config_path)
                return transfer_bad(ret_message, "docker-archive: no Config");
        /* "<hex>.json" (docker) or "blobs/sha256/<hex>" (newer docker, podman). */
        if (g_str_has_prefix(config_path, "blobs/sha256/"))
                hex = g_strdup(config_path + 13);
        else if (g_str_has_suffix(config_path, ".json") && !strchr(config_path, '/'))
                hex = g_strndup(config_path, strlen(config_path) - 5);
        want = g_strconcat("sha256:", hex ?: "", NULL);
        if (!transfer_digest_is_valid(want))
                return transfer_bad(ret_message, "docker-archive: cannot verify config '%s' (its name is not its digest)", config_path);
        {
                g_autofree char *got = NULL, *ctext = NULL;
                _cleanup_close_ int cfd = open_beneath(in_fd, config_path, O_RDONLY);
                struct stat st;

                if (cfd < 0 || fstat(cfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > OCI_JSON_MAX)
                        return transfer_bad(ret_message, "docker-archive: config %s is missing or too large", config_path);
                r = sha256_fd(cfd, &got);
                if (r < 0)
                        return r;
                if (!streq(got, want))
                        return transfer_bad(ret_message, "docker-archive: config %s has digest %s", config_path, got);
                ctext = g_malloc0(st.st_size + 1);
                if (pread(cfd, ctext, st.st_size, 0) != st.st_size)
                        return -EIO;
                if (!json_parser_load_from_data(config, ctext, st.st_size, NULL) ||
                    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(config)))
                        return transfer_bad(ret_message, "docker-archive: config %s is not a JSON object", config_path);
        }
        r = import_image_config(json_node_get_object(json_parser_get_root(config)), i, ret_message);
        if (r < 0)
                return r;

        layers = array_member(entry, "Layers");
        rootfs = object_member(json_node_get_object(json_parser_get_root(config)), "rootfs");
        diff_ids = array_member(rootfs, "diff_ids");
        n = layers ? json_array_get_length(layers) : 0;
        if (n == 0 || n > TRANSFER_MAX_LAYERS)
                return transfer_bad(ret_message, "docker-archive: 1 to %d layers", TRANSFER_MAX_LAYERS);
        if (!diff_ids || json_array_get_length(diff_ids) != n)
                return transfer_bad(ret_message, "docker-archive: the config's rootfs.diff_ids do not match the layers");
        for (guint k = 0; k < n; k++) {
                JsonNode *ln = json_array_get_element(layers, k), *dn = json_array_get_element(diff_ids, k);
                const char *path = JSON_NODE_HOLDS_VALUE(ln) && json_node_get_value_type(ln) == G_TYPE_STRING ?
                                   json_node_get_string(ln) : NULL;
                const char *digest = JSON_NODE_HOLDS_VALUE(dn) && json_node_get_value_type(dn) == G_TYPE_STRING ?
                                     json_node_get_string(dn) : NULL;

                if (!path || !transfer_digest_is_valid(digest))
                        return transfer_bad(ret_message, "docker-archive: layer %u has no path or no valid diff_id", k);
                r = import_layer(in_fd, path, digest, "application/vnd.docker.image.rootfs.diff.tar", layers_dir, k, limits,
                                 ret_message);
                if (r < 0)
                        return r;
        }
        for (guint k = n; k > 0; k--) {
                g_autofree char *l = g_strdup_printf("%s/layers/%u", op->final, k - 1);
                g_strv_builder_add(layer_paths, l);
        }
        i->layers = g_strv_builder_end(layer_paths);
        i->base = g_strdup(op->oci_base);
        {
                g_autoptr(GDateTime) now = g_date_time_new_now_utc();
                g_autofree char *when = g_date_time_format_iso8601(now);
                i->provenance = g_strdup_printf("imported as %s from a docker-archive (%s) at %s, on base %s", op->name,
                                                want, when, op->oci_base);
        }
        return 0;
}

/* What the stream held, as it went by: our layers and the container's layer unpacked (into
 * image/layers/N and upper), their digests, the small JSON files; anything else (OCI image
 * layouts, docker-archive) written to in/ as it is. */
typedef struct ImportState {
        char *manifest;         /* manifest.json (NUL-terminated) */
        size_t manifest_size;
        char *container;        /* container.json */
        size_t container_size;
        char *digests[TRANSFER_MAX_LAYERS];     /* of layers/N.tar */
        uint64_t sizes[TRANSFER_MAX_LAYERS];
        bool any_layer;
        bool upper;             /* upper.tar */
} ImportState;

static void import_state_done(ImportState *s) {
        g_free(s->manifest);
        g_free(s->container);
        for (guint k = 0; k < TRANSFER_MAX_LAYERS; k++)
                g_free(s->digests[k]);
}

#define JSON_FILE_MAX (1024 * 1024)

/* "layers/N.tar" (N decimal, no leading zero) of our format. */
static bool layer_index(const char *name, guint *ret) {
        const char *p;
        guint64 v;
        char *end;

        if (!g_str_has_prefix(name, "layers/") || !g_str_has_suffix(name, ".tar"))
                return false;
        p = name + strlen("layers/");
        if (!g_ascii_isdigit(p[0]) || (p[0] == '0' && p[1] != '.'))
                return false;
        v = g_ascii_strtoull(p, &end, 10);
        if (!streq(end, ".tar") || v >= TRANSFER_MAX_LAYERS)
                return false;
        *ret = (guint) v;
        return true;
}

static int read_json_entry(TarReader *reader, const char *name, char type, uint64_t size, char **ret, size_t *ret_size,
                           char **ret_message) {
        g_autofree char *text = NULL;
        ssize_t n;

        if (*ret)
                return transfer_bad(ret_message, "%s is in the archive twice", name);
        if (type != '0' || size > JSON_FILE_MAX)
                return transfer_bad(ret_message, "%s is not a small file", name);
        text = g_malloc0(size + 1);
        n = tar_reader_read(reader, text, size, ret_message);
        if (n < 0)
                return (int) n;
        *ret = TAKE_PTR(text);
        *ret_size = (size_t) n;
        return 0;
}

/* A directory (made if missing) of in/, one component at a time, never through a link. */
static int spill_dir(int in_fd, const char *rel, char **ret_message) {
        g_auto(GStrv) parts = g_strsplit(rel, "/", -1);
        _cleanup_close_ int cur = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);

        if (cur < 0)
                return -errno;
        for (char **c = parts; *c; c++) {
                int fd;

                if (mkdirat(cur, *c, 0755) < 0 && errno != EEXIST)
                        return -errno;
                fd = open_beneath(cur, *c, O_RDONLY | O_DIRECTORY);
                if (fd < 0)
                        return transfer_bad(ret_message, "%s: not a directory", rel);
                close(cur);
                cur = fd;
        }
        return 0;
}

static int spill_file(TarReader *reader, int in_fd, const char *name, char type, char **ret_message) {
        g_autofree char *parent = g_path_get_dirname(name), *base = g_path_get_basename(name);
        g_autofree char *buf = NULL;
        _cleanup_close_ int dir_fd = -1, fd = -1;
        int r;

        /* docker-archive's legacy symlinks (<id>/layer.tar): the manifest names the files, and
         * nothing here is ever read through a link anyway. */
        if (type == '2')
                return 0;
        if (type != '0')
                return transfer_bad(ret_message, "%s: only files, directories and symbolic links are expected in an image archive", name);
        if (!streq(parent, ".")) {
                r = spill_dir(in_fd, parent, ret_message);
                if (r < 0)
                        return r;
                dir_fd = open_beneath(in_fd, parent, O_RDONLY | O_DIRECTORY);
        } else
                dir_fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
        if (dir_fd < 0)
                return transfer_bad(ret_message, "%s: bad parent directory", name);
        fd = openat(dir_fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return errno == EEXIST ? transfer_bad(ret_message, "%s is in the archive twice", name) : -errno;
        buf = g_malloc(65536);
        for (;;) {
                ssize_t n = tar_reader_read(reader, buf, 65536, ret_message);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return 0;
                r = loop_write(fd, buf, n);
                if (r < 0)
                        return r;
        }
}

/* A nested archive unpacked into dir (made here), its whiteouts made overlayfs'. */
static int import_nested(TarReader *reader, const char *name, const char *dir, const TarLimits *limits, char **ret_digest,
                         char **ret_message) {
        g_autofree char *m = NULL;
        _cleanup_close_ int dfd = -1;
        int r;

        if (mkdir(dir, 0755) < 0)
                return -errno;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = tar_reader_unpack(reader, dfd, "/", limits, ret_digest, &m);
        if (r < 0) {
                *ret_message = g_strdup_printf("%s: %s", name, m ?: g_strerror(-r));
                return r;
        }
        r = import_fix_tree(dfd, name, ret_message);
        if (r < 0)
                return r;
        if (chmod(dir, 0755) < 0 || chown(dir, 0, 0) < 0)
                return -errno;
        return 0;
}

static int import_entry(TransferOp *op, ImportState *s, TarReader *reader, const char *name, char type, uint64_t size,
                        int in_fd, char **ret_message) {
        TarLimits inner = { .max_bytes = op_max_bytes(op), .max_entries = TRANSFER_MAX_ENTRIES, .keep_ownership = true,
                            .total_bytes = &op->unpacked_bytes, .max_total_bytes = op_max_bytes(op) };
        guint k;

        if (type == '5')
                return isempty(name) || streq(name, "layers") ? 0 : spill_dir(in_fd, name, ret_message);
        if (layer_index(name, &k)) {
                g_autofree char *dir = g_strdup_printf("%s/image/layers/%u", op->tmp, k);
                if (type != '0' || s->digests[k])
                        return transfer_bad(ret_message, "%s is in the archive twice or not a file", name);
                s->any_layer = true;
                s->sizes[k] = size;
                return import_nested(reader, name, dir, &inner, &s->digests[k], ret_message);
        }
        if (streq(name, "upper.tar")) {
                g_autofree char *dir = g_build_filename(op->tmp, "upper", NULL);
                if (type != '0' || s->upper)
                        return transfer_bad(ret_message, "%s is in the archive twice or not a file", name);
                s->upper = true;
                return import_nested(reader, name, dir, &inner, NULL, ret_message);
        }
        if (streq(name, "manifest.json"))
                return read_json_entry(reader, name, type, size, &s->manifest, &s->manifest_size, ret_message);
        if (streq(name, "container.json"))
                return read_json_entry(reader, name, type, size, &s->container, &s->container_size, ret_message);
        return spill_file(reader, in_fd, name, type, ret_message);
}

/* Reads the stream (decompressed if need be) once, from the start to its end marker. */
static int import_stream(TransferOp *op, ImportState *s, char **ret_message) {
        g_autofree char *in = g_build_filename(op->tmp, "in", NULL), *img = g_build_filename(op->tmp, "image", NULL);
        g_autofree char *layers_dir = g_build_filename(img, "layers", NULL);
        TarLimits outer = { .max_bytes = op_max_bytes(op), .max_entries = 4096 };
        _cleanup_(tar_reader_freep) TarReader *reader = NULL;
        _cleanup_close_ int in_fd = -1, stream = -1;
        pid_t feeder = 0, filter = 0;
        int r;

        if (mkdir(op->tmp, 0700) < 0 || mkdir(in, 0700) < 0 || mkdir(img, 0755) < 0 || mkdir(layers_dir, 0755) < 0)
                return -errno;
        in_fd = open(in, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (in_fd < 0)
                return -errno;
        r = open_decompressed(WORKER_KEEP_FD, &stream, &feeder, &filter);
        if (r < 0)
                return r;
        r = tar_reader_new(stream, &outer, &reader);
        while (r >= 0) {
                const char *name;
                uint64_t size;
                char type;

                r = tar_reader_next(reader, &name, &type, &size, ret_message);
                if (r <= 0)
                        break;
                r = import_entry(op, s, reader, name, type, size, in_fd, ret_message);
        }
        if (r >= 0 && filter > 0)
                drain_fd(stream, 1024 * 1024);
        reader = tar_reader_free(reader);
        stream = safe_close_fd(stream);
        if (filter > 0) {
                if (r < 0)
                        (void) kill(filter, SIGKILL);
                if (wait_filter(filter) < 0 && r >= 0)
                        r = transfer_bad(ret_message, "The compressed stream is corrupt");
        }
        if (feeder > 0) {
                (void) kill(feeder, SIGKILL);
                (void) waitpid(feeder, NULL, 0);
        }
        if (r < 0)
                return r == -ENOSPC || r == -EIO ? r : -EBADMSG;
        return 0;
}

/* Our format: every layer the manifest names was in the stream with its digest, and nothing
 * else was. */
static int import_check_layers(const ImportState *s, JsonArray *layers, char **ret_message) {
        guint n = json_array_get_length(layers);

        for (guint k = 0; k < TRANSFER_MAX_LAYERS; k++) {
                JsonObject *l = k < n ? json_array_get_object_element(layers, k) : NULL;
                const char *file = l ? json_object_get_string_member(l, "File") : NULL;
                const char *want = l ? json_object_get_string_member(l, "Digest") : NULL;
                JsonNode *size = l ? json_object_get_member(l, "Size") : NULL;

                if (!l) {
                        if (s->digests[k])
                                return transfer_bad(ret_message, "Layer layers/%u.tar is not in the manifest", k);
                        continue;
                }
                if (!s->digests[k])
                        return transfer_bad(ret_message, "Layer %s is missing from the archive", file);
                if (!streq(s->digests[k], want))
                        return transfer_bad(ret_message, "Layer %s: digest %s, the manifest says %s", file, s->digests[k], want);
                if (size && (!JSON_NODE_HOLDS_VALUE(size) || json_node_get_value_type(size) != G_TYPE_INT64 ||
                             json_node_get_int(size) < 0 || (uint64_t) json_node_get_int(size) != s->sizes[k]))
                        return transfer_bad(ret_message, "Layer %s: %" PRIu64 " bytes, not the manifest's Size", file, s->sizes[k]);
        }
        return 0;
}

/* The image the stream carried (or, for PullImage, the OCI layout in in/), checked, saved and
 * renamed into place. */
static int import_image_part(TransferOp *op, const ImportState *s, char **ret_message) {
        g_autofree char *in = g_build_filename(op->tmp, "in", NULL), *img = g_build_filename(op->tmp, "image", NULL);
        g_autofree char *layers_dir = g_build_filename(img, "layers", NULL);
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GStrvBuilder) layer_paths = g_strv_builder_new();
        _cleanup_(image_freep) Image *i = NULL;
        _cleanup_close_ int in_fd = -1;
        TarLimits inner = { .max_bytes = op_max_bytes(op), .max_entries = TRANSFER_MAX_ENTRIES, .keep_ownership = true,
                            .total_bytes = &op->unpacked_bytes, .max_total_bytes = op_max_bytes(op) };
        JsonObject *o;
        JsonArray *layers;
        guint n;
        int r;

        if ((mkdir(img, 0755) < 0 && errno != EEXIST) || (mkdir(layers_dir, 0755) < 0 && errno != EEXIST))
                return -errno;
        in_fd = open(in, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (in_fd < 0)
                return -errno;

        if (faccessat(in_fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0 || (s->manifest && s->manifest[strspn(s->manifest, " \t\r\n")] == '[')) {
                if (s->any_layer)
                        return transfer_bad(ret_message, "The archive mixes layers/N.tar with an OCI or docker image");
                i = g_new0(Image, 1);
                i->manager = op->manager;
                i->name = g_strdup(op->name);
                i->created_usec = now_usec(CLOCK_REALTIME);
                if (faccessat(in_fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        r = import_oci(op, in_fd, layers_dir, i, &inner, ret_message);
                else
                        r = import_docker(op, in_fd, s->manifest, s->manifest_size, layers_dir, i, &inner, ret_message);
                if (r < 0)
                        return r;
                goto save;
        }

        if (!s->manifest)
                return transfer_bad(ret_message, "The archive has no manifest.json (is it one that ExportImage wrote?)");
        r = transfer_manifest_check(s->manifest, s->manifest_size, ret_message);
        if (r < 0)
                return r;
        if (!json_parser_load_from_data(parser, s->manifest, (gssize) s->manifest_size, NULL))
                return -EBADMSG;
        o = json_node_get_object(json_parser_get_root(parser));
        layers = json_object_get_array_member(o, "Layers");
        n = json_array_get_length(layers);
        r = import_check_layers(s, layers, ret_message);
        if (r < 0)
                return r;
        for (guint k = n; k > 0; k--) {
                g_autofree char *l = g_strdup_printf("%s/layers/%u", op->final, k - 1);
                g_strv_builder_add(layer_paths, l);
        }

        i = g_new0(Image, 1);
        i->manager = op->manager;
        i->name = g_strdup(op->name);
        i->base = g_strdup(json_object_get_string_member(o, "Base"));
        i->command = store_json_get_strv(o, "Command");
        i->environment = store_json_get_strv(o, "Environment");
        i->working_directory = g_strdup(json_object_get_string_member(o, "WorkingDirectory"));
        {
                g_autoptr(GDateTime) now = g_date_time_new_now_utc();
                g_autofree char *when = g_date_time_format_iso8601(now);
                const char *was = json_object_get_string_member_with_default(o, "Provenance", "");
                const char *from = json_object_get_string_member_with_default(o, "Name", "");
                i->provenance = g_strdup_printf("imported as %s (exported as %s) at %s%s%s", op->name,
                                                isempty(from) ? "?" : from, when, isempty(was) ? "" : "; ", was);
        }
        i->created_usec = now_usec(CLOCK_REALTIME);
        i->layers = g_strv_builder_end(layer_paths);
save:
        r = store_save_image(i, img);
        if (r < 0)
                return r;
        if (renameat2(AT_FDCWD, img, AT_FDCWD, op->final, RENAME_NOREPLACE) < 0)
                return -errno;
        return 0;
}

/* Before the first byte of an archive or of a registry's answer is read: host root still (the
 * store is root's), but with only the capabilities writing trees takes, no way to gain more, and
 * the kernel's riskier interfaces closed (confine.h); the helper marks opaque directories. */
static int transfer_confine(bool opaque) {
        int r = opaque ? confine_opaque_helper_start() : 0;

        if (r >= 0)
                r = confine_apply(CONFINE_CAPS_STORE);
        return r;
}

static int import_worker_inner(TransferOp *op, char **ret_message) {
        _cleanup_(import_state_done) ImportState s = {};
        int r;

        r = import_stream(op, &s, ret_message);
        if (r < 0)
                return r;
        return import_image_part(op, &s, ret_message);
}

static int import_worker(int fd, void *data) {
        TransferOp *op = data;
        g_autofree char *message = NULL;
        int r;

        r = transfer_confine(true);
        if (r < 0)
                return report(fd, 1, "Cannot confine the import: %s", g_strerror(-r));
        (void) umask(0022);
        r = import_worker_inner(op, &message);
        (void) rm_rf(op->tmp);
        if (r == -EBADMSG || r == -EFBIG)
                return report(fd, EXIT_INVALID, "%s", message ?: "Invalid archive");
        if (r < 0)
                return report(fd, 1, "%s%s%s", message ?: "", message ? ": " : "", g_strerror(-r));
        return 0;
}

/* ---- in the daemon ---- */

static void on_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        TransferOp *op = userdata;
        g_autofree char *message = size > 0 ? g_strndup(output, size) : NULL;
        Image *i = NULL;
        int r = 0;

        if (status == EXIT_INVALID)
                r = -EBADMSG;
        else if (status != 0)
                r = -EIO;
        if (op->import && r >= 0) {
                r = store_load_image(op->manager, op->final, &i);
                if (r >= 0 && !image_get_base(i)) {
                        SWAP_FREE(message, g_strdup_printf("No base '%s' on this host", i->base));
                        image_free(i);
                        i = NULL;
                        r = -ENOENT;
                }
                if (r < 0) {
                        (void) manager_remove_tree(op->manager, op->final);
                        if (!message)
                                message = g_strdup_printf("Cannot read the imported image: %s", g_strerror(-r));
                } else {
                        g_hash_table_insert(op->manager->images, i->name, i);
                        image_send_new(i);
                }
        }
        if (!op->import)
                (void) manager_remove_tree(op->manager, op->tmp);
        if (op->container_name && !op->import)
                snapshot_mark_busy(op->container_name, false);
        op->done(op->manager, i, r, message, op->userdata);
        manager_operation_end(op->manager);
}

static char *tmp_path(Manager *m, const char *what) {
        static unsigned counter;
        return g_strdup_printf("%s/images/.%s-%d-%u", m->state_dir, what, (int) getpid(), ++counter);
}

int transfer_export_image(Manager *m, Image *i, int out_fd, const char *compression, TransferDone done, void *userdata,
                          sd_bus_error *error) {
        g_auto(GStrv) top_first = NULL;
        TransferOp *op;
        guint n;
        int r;

        if (i->is_base)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Image '%s' is a base shipped with the package: not exported", i->name);
        top_first = image_lower_layers(i);
        if (!top_first)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "An image below '%s' is gone", i->name);
        op = g_new0(TransferOp, 1);
        op->manager = m;
        op->name = g_strdup(i->name);
        op->tmp = tmp_path(m, "export");
        op->compression = isempty(compression) || streq(compression, "none") ? NULL : g_strdup(compression);
        n = g_strv_length(top_first);
        op->layers = g_new0(char *, n + 1);
        for (guint k = 0; k < n; k++)
                op->layers[k] = g_strdup(top_first[n - 1 - k]);
        op->base = g_strdup(i->base);
        op->command = g_strdupv(i->command);
        op->environment = g_strdupv(i->environment);
        op->working_directory = g_strdup(i->working_directory);
        op->provenance = g_strdup(i->provenance ?: i->url);
        op->created_usec = i->created_usec;
        op->done = done;
        op->userdata = userdata;
        {
                g_autofree char *dir = g_build_filename(m->state_dir, "images", NULL);
                (void) mkdir_p(dir, 0700);
        }
        manager_operation_begin(m);
        r = worker_spawn_full(m, "containers-manager export", export_worker, op, transfer_op_free, out_fd, NULL, on_done, op, NULL);
        if (r < 0) {
                manager_operation_end(m);
                return sd_bus_error_set_errnof(error, r, "Cannot start the export: %m");
        }
        return 0;
}

int transfer_import_image(Manager *m, const char *name, int in_fd, const char *oci_base, TransferDone done, void *userdata,
                          sd_bus_error *error) {
        TransferOp *op;
        int r;

        if (manager_get_image(m, name))
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_EXISTS, "Image '%s' already exists", name);
        op = g_new0(TransferOp, 1);
        op->manager = m;
        op->import = true;
        op->max_bytes = m->size_caps.import_max_bytes;
        op->name = g_strdup(name);
        op->tmp = tmp_path(m, "import");
        op->final = manager_image_dir(m, name);
        op->oci_base = g_strdup(oci_base ?: "busybox");
        op->done = done;
        op->userdata = userdata;
        {
                g_autofree char *dir = g_build_filename(m->state_dir, "images", NULL);
                (void) mkdir_p(dir, 0700);
        }
        manager_operation_begin(m);
        r = worker_spawn_full(m, "containers-manager import", import_worker, op, transfer_op_free, in_fd, NULL, on_done, op, NULL);
        if (r < 0) {
                manager_operation_end(m);
                return sd_bus_error_set_errnof(error, r, "Cannot start the import: %m");
        }
        return 0;
}

/* ---- containers ---- */

static int import_container_inner(TransferOp *op, GString *out, char **ret_message) {
        _cleanup_(import_state_done) ImportState s = {};
        g_autoptr(JsonParser) parser = json_parser_new();
        const char *image, *wd;
        JsonObject *o;
        JsonNode *n;
        int r;

        r = import_stream(op, &s, ret_message);
        if (r < 0)
                return r;
        if (!s.container)
                return transfer_bad(ret_message, "The archive has no container.json (is it one that ExportContainer wrote?)");
        if (!json_parser_load_from_data(parser, s.container, (gssize) s.container_size, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
                return transfer_bad(ret_message, "container.json is not a JSON object");
        o = json_node_get_object(json_parser_get_root(parser));
        n = json_object_get_member(o, "FormatVersion");
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
            json_node_get_int(n) != TRANSFER_FORMAT_VERSION)
                return transfer_bad(ret_message, "container.json: FormatVersion is not %d", TRANSFER_FORMAT_VERSION);
        image = json_string_member(o, "Image");
        if (!image || !name_is_valid(image))
                return transfer_bad(ret_message, "container.json: invalid Image");
        if (!json_strv_member_ok(o, "Command", false) || !json_strv_member_ok(o, "Environment", false))
                return transfer_bad(ret_message, "container.json: Command and Environment must be lists of strings");
        {
                g_auto(GStrv) env = store_json_get_strv(o, "Environment");
                for (guint k = 0; env && env[k]; k++)
                        if (!env_assignment_is_valid(env[k]))
                                return transfer_bad(ret_message, "container.json: environment entry %u is not NAME=VALUE without control characters", k + 1);
        }
        wd = json_string_member(o, "WorkingDirectory");
        if (wd && !container_path_is_valid(wd))
                return transfer_bad(ret_message, "container.json: WorkingDirectory must be an absolute path without '..' and control characters");
        if (!s.upper)
                return transfer_bad(ret_message, "The archive has no upper.tar");

        if (s.manifest && !op->allow_image) {
                *ret_message = g_strdup_printf("The archive carries image '%s': installing it needs org.containers.build",
                                               op->image_name ?: image);
                return -EACCES;
        }
        if (s.manifest) {
                const char *name = op->image_name ?: image;
                SWAP_FREE(op->name, g_strdup(name));
                SWAP_FREE(op->final, g_build_filename(op->manager->state_dir, "images", name, NULL));
                if (access(op->final, F_OK) == 0) {
                        *ret_message = g_strdup_printf("Image '%s' already exists (ImportContainer's option image names another)", name);
                        return -EEXIST;
                }
                r = import_image_part(op, &s, ret_message);
                if (r < 0)
                        return r;
        }
        g_string_append_printf(out, "%s\n%d\n%s", s.manifest ? op->name : image, s.manifest != NULL, s.container);
        return 0;
}

static int import_container_worker(int fd, void *data) {
        TransferOp *op = data;
        g_autoptr(GString) out = g_string_new(NULL);
        g_autofree char *message = NULL;
        int r;

        r = transfer_confine(true);
        if (r < 0) {
                (void) rm_rf(op->tmp);
                return report(fd, 1, "Cannot confine the import: %s", g_strerror(-r));
        }
        (void) umask(0022);
        r = import_container_inner(op, out, &message);
        if (r < 0) {
                (void) rm_rf(op->tmp);
                /* An image imported before the failure goes too: nothing is left. */
                if (op->final && r != -EEXIST)
                        (void) rm_rf(op->final);
                if (r == -EBADMSG || r == -EFBIG)
                        return report(fd, EXIT_INVALID, "%s", message ?: "Invalid archive");
                if (r == -EEXIST)
                        return report(fd, EXIT_IMAGE_EXISTS, "%s", message);
                if (r == -EACCES && message)
                        return report(fd, EXIT_IMAGE_DENIED, "%s", message);
                return report(fd, 1, "%s%s%s", message ?: "", message ? ": " : "", g_strerror(-r));
        }
        (void) loop_write(fd, out->str, out->len);
        return 0;
}

/* Phase 2: the container exists (its slot is known): shift the layer's owners into the slot
 * and move it into place. */
static int shift_tree(int dir_fd, uint32_t shift) {
        g_autoptr(GPtrArray) names = NULL;
        int r;

        r = dir_list_sorted(dir_fd, &names);
        if (r < 0)
                return r;
        for (guint k = 0; k < names->len; k++) {
                const char *name = names->pdata[k];
                struct stat st;

                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (fchownat(dir_fd, name, st.st_uid + shift, st.st_gid + shift, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                /* chown clears setuid/setgid bits: put them back. */
                if (!S_ISLNK(st.st_mode) && (st.st_mode & 06000) && fchmodat(dir_fd, name, st.st_mode & 07777, 0) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sfd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sfd < 0)
                                return -errno;
                        r = shift_tree(sfd, shift);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int place_upper_worker(int fd, void *data) {
        TransferOp *op = data;
        g_autofree char *upper = g_build_filename(op->tmp, "upper", NULL);
        _cleanup_close_ int ufd = -1;
        int r;

        r = transfer_confine(false);
        if (r < 0)
                return report(fd, 1, "Cannot confine the import: %s", g_strerror(-r));
        ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ufd < 0)
                return report(fd, 1, "Cannot open %s: %m", upper);
        if (op->shift) {
                r = shift_tree(ufd, op->uid_shift);
                if (r >= 0 && fchown(ufd, op->uid_shift, op->uid_shift) < 0)
                        r = -errno;
        }
        if (r >= 0 && renameat2(AT_FDCWD, upper, AT_FDCWD, op->upper, RENAME_NOREPLACE) < 0)
                r = -errno;
        (void) rm_rf(op->tmp);
        if (r < 0)
                return report(fd, 1, "Cannot put the container's layer in place: %s", g_strerror(-r));
        return 0;
}

static void on_placed(Worker *w, const char *output, size_t size, int status, void *userdata) {
        TransferOp *op = userdata;
        Container *c = manager_get_container(op->manager, op->container_name);

        snapshot_mark_busy(op->container_name, false);
        if (status != 0) {
                g_autofree char *message = size > 0 ? g_strndup(output, size) : g_strdup("worker failed");
                if (c)
                        (void) manager_remove_container(op->manager, c);
                op->container_done(op->manager, NULL, -EIO, NULL, message, op->userdata);
        } else
                op->container_done(op->manager, c, c ? 0 : -ENOENT, c ? NULL : "org.containers.Error.NoSuchContainer",
                                   c ? NULL : "The container was removed meanwhile", op->userdata);
        manager_operation_end(op->manager);
        transfer_op_free(op);
}

/* The imported working directory is written with the rest of the container. */
static void configure_imported(Container *c, void *userdata) {
        const char *wd = userdata;
        if (wd)
                SWAP_FREE(c->working_directory, g_strdup(wd));
}

static void on_container_unpacked(Worker *w, const char *output, size_t size, int status, void *userdata) {
        TransferOp *op = userdata;
        Manager *m = op->manager;
        g_autofree char *text = g_strndup(output, size);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        g_auto(GStrv) lines = NULL, command = NULL, env = NULL;
        Container *c = NULL;
        Image *i;
        JsonObject *o;
        int r;

        if (status != 0) {
                const char *name = status == EXIT_INVALID ? CM_ERROR_INVALID_ARCHIVE :
                                   status == EXIT_IMAGE_EXISTS ? CM_ERROR_IMAGE_EXISTS :
                                   status == EXIT_IMAGE_DENIED ? SD_BUS_ERROR_ACCESS_DENIED : SD_BUS_ERROR_FAILED;
                op->container_done(m, NULL, -EIO, name, text, op->userdata);
                goto finish;
        }
        lines = g_strsplit(text, "\n", 3);
        if (g_strv_length(lines) < 3 || !json_parser_load_from_data(parser, lines[2], -1, NULL)) {
                op->container_done(m, NULL, -EIO, SD_BUS_ERROR_FAILED, "The import worker said nothing sensible", op->userdata);
                goto cleanup;
        }
        o = json_node_get_object(json_parser_get_root(parser));
        if (streq(lines[1], "1")) {
                g_autofree char *dir = manager_image_dir(m, lines[0]);
                r = store_load_image(m, dir, &i);
                if (r >= 0 && (manager_get_image(m, i->name) || !image_get_base(i))) {
                        const char *why = manager_get_image(m, i->name) ? CM_ERROR_IMAGE_EXISTS : CM_ERROR_NO_SUCH_BASE;
                        g_autofree char *msg = g_strdup_printf("Image '%s': %s", i->name,
                                                               streq(why, CM_ERROR_IMAGE_EXISTS) ? "exists already" : "its base is not on this host");
                        if (streq(why, CM_ERROR_NO_SUCH_BASE))
                                (void) manager_remove_tree(m, dir);
                        image_free(i);
                        op->container_done(m, NULL, -EIO, why, msg, op->userdata);
                        goto cleanup;
                }
                if (r < 0) {
                        (void) manager_remove_tree(m, dir);
                        op->container_done(m, NULL, r, SD_BUS_ERROR_FAILED, "Cannot read the imported image", op->userdata);
                        goto cleanup;
                }
                g_hash_table_insert(m->images, i->name, i);
                image_send_new(i);
        }
        command = json_object_has_member(o, "Command") ? store_json_get_strv(o, "Command") : NULL;
        env = store_json_get_strv(o, "Environment");
        r = manager_create_container(m, lines[0], op->container_name, env, command && command[0] ? command : NULL, false, false,
                                     configure_imported, (void *) json_object_get_string_member_with_default(o, "WorkingDirectory", NULL),
                                     &c, &error);
        if (r < 0) {
                op->container_done(m, NULL, r, error.name, error.message, op->userdata);
                goto cleanup;
        }
        {
                g_autofree char *cdir = manager_container_dir(m, c->name);
                g_free(op->upper);
                op->upper = g_build_filename(cdir, "upper", NULL);
        }
        op->shift = !c->privileged;
        op->uid_shift = c->uid_shift;
        snapshot_mark_busy(c->name, true);
        r = worker_spawn_full(m, "containers-manager import", place_upper_worker, op, NULL, -1, NULL, on_placed, op, NULL);
        if (r < 0) {
                snapshot_mark_busy(c->name, false);
                (void) manager_remove_container(m, c);
                op->container_done(m, NULL, r, SD_BUS_ERROR_FAILED, "Cannot start the worker", op->userdata);
                goto cleanup;
        }
        return; /* op lives on */

cleanup:
        (void) manager_remove_tree(m, op->tmp);
finish:
        manager_operation_end(m);
        transfer_op_free(op);
}

int transfer_export_container(Manager *m, Container *c, int out_fd, bool include_image, const char *compression,
                              TransferDone done, void *userdata, sd_bus_error *error) {
        g_autofree char *cdir = manager_container_dir(m, c->name);
        Image *i = manager_get_image(m, c->image);
        TransferOp *op;
        int r;

        if (container_is_active(c) || c->removing || snapshot_busy(c))
                return sd_bus_error_setf(error, CM_ERROR_ALREADY_RUNNING, "Container '%s' is %s: stop it first",
                                         c->name, c->removing ? "being removed" : snapshot_busy(c) ? "being copied" :
                                         container_state_to_string(c->state));
        if (include_image && (!i || i->is_base))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Image '%s' of container '%s' is %s: export with image false", c->image, c->name,
                                         i ? "a base shipped with the package" : "gone");
        op = g_new0(TransferOp, 1);
        op->manager = m;
        op->tmp = tmp_path(m, "export");
        op->compression = isempty(compression) || streq(compression, "none") ? NULL : g_strdup(compression);
        if (include_image) {
                g_auto(GStrv) top_first = image_lower_layers(i);
                guint n;
                if (!top_first) {
                        transfer_op_free(op);
                        return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "An image below '%s' is gone", i->name);
                }
                n = g_strv_length(top_first);
                op->layers = g_new0(char *, n + 1);
                for (guint k = 0; k < n; k++)
                        op->layers[k] = g_strdup(top_first[n - 1 - k]);
                op->name = g_strdup(i->name);
                op->base = g_strdup(i->base);
                op->command = g_strdupv(i->command);
                op->environment = g_strdupv(i->environment);
                op->working_directory = g_strdup(i->working_directory);
                op->provenance = g_strdup(i->provenance ?: i->url);
                op->created_usec = i->created_usec;
        }
        op->upper = g_build_filename(cdir, "upper", NULL);
        op->shift = !c->privileged && !c->legacy;
        op->uid_shift = c->uid_shift;
        op->container_name = g_strdup(c->name);
        op->container_image = g_strdup(c->image);
        op->container_command = g_strdupv(c->command);
        op->container_environment = g_strdupv(c->environment);
        op->container_wd = g_strdup(c->working_directory);
        op->done = done;
        op->userdata = userdata;
        {
                g_autofree char *dir = g_build_filename(m->state_dir, "images", NULL);
                (void) mkdir_p(dir, 0700);
        }
        /* No Start while its layer is read. */
        snapshot_mark_busy(c->name, true);
        op->import = false;
        manager_operation_begin(m);
        r = worker_spawn_full(m, "containers-manager export", export_worker, op, transfer_op_free, out_fd, NULL, on_done, op, NULL);
        if (r < 0) {
                snapshot_mark_busy(c->name, false);
                manager_operation_end(m);
                return sd_bus_error_set_errnof(error, r, "Cannot start the export: %m");
        }
        return 0;
}

int transfer_import_container(Manager *m, const char *name, int in_fd, const char *image_name, bool allow_image,
                              TransferContainerDone done, void *userdata, sd_bus_error *error) {
        TransferOp *op;
        int r;

        if (manager_get_container(m, name))
                return sd_bus_error_setf(error, CM_ERROR_CONTAINER_EXISTS, "Container '%s' already exists", name);
        if (image_name && manager_get_image(m, image_name))
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_EXISTS, "Image '%s' already exists", image_name);
        op = g_new0(TransferOp, 1);
        op->manager = m;
        op->import = true;
        op->max_bytes = m->size_caps.import_max_bytes;
        op->tmp = tmp_path(m, "import");
        op->container_name = g_strdup(name);
        op->image_name = g_strdup(image_name);
        op->allow_image = allow_image;
        op->oci_base = g_strdup("busybox");
        op->container_done = done;
        op->userdata = userdata;
        {
                g_autofree char *dir = g_build_filename(m->state_dir, "images", NULL);
                (void) mkdir_p(dir, 0700);
        }
        manager_operation_begin(m);
        /* op is freed by the last callback (it lives across two workers). */
        r = worker_spawn_full(m, "containers-manager import", import_container_worker, op, NULL, in_fd, NULL,
                              on_container_unpacked, op, NULL);
        if (r < 0) {
                manager_operation_end(m);
                transfer_op_free(op);
                return sd_bus_error_set_errnof(error, r, "Cannot start the import: %m");
        }
        return 0;
}

/* ---- PullImage ---- */

bool transfer_reference_is_valid(const char *ref) {
        const char *slash;

        if (isempty(ref) || strlen(ref) > 512 || ref[0] == '-' || strstr(ref, "://"))
                return false;
        for (const char *p = ref; *p; p++)
                if (!g_ascii_isalnum(*p) && !strchr("._-/:@+", *p))
                        return false;
        /* user:password@host/... : never credentials in a reference (they would land in logs). */
        slash = strchr(ref, '/');
        if (slash && memchr(ref, '@', slash - ref))
                return false;
        return true;
}

static void pull_line(int fd, const char *kind, const char *text) {
        g_autofree char *line = g_strdup_printf("%s %s\n", kind, text);
        for (char *p = line; p[0] && p[1]; p++)
                if (*p == '\n')
                        *p = ' ';
        (void) loop_write(fd, line, strlen(line));
}

/* The pull worker is a process of its own: nftw() has no userdata. */
static uint64_t tree_bytes_sum;

static int tree_bytes_add(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_F)
                tree_bytes_sum += (uint64_t) st->st_size;
        return 0;
}

static uint64_t tree_bytes(const char *path) {
        tree_bytes_sum = 0;
        (void) nftw(path, tree_bytes_add, 16, FTW_PHYS);
        return tree_bytes_sum;
}

/* skopeo copies into dir (its temporary files there too); what it has written is looked at
 * every 100 ms, and over max_bytes it is killed: -EFBIG. Its stderr in *ret_err. */
static int pull_run_skopeo(const char *dir, char **argv, uint64_t max_bytes, char **ret_err) {
        g_autofree char *err_path = g_build_filename(dir, "skopeo.err", NULL);
        _cleanup_close_ int pidfd = -1;
        int status, r = 0;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                int n = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (e < 0 || n < 0 || dup2(n, STDIN_FILENO) < 0 || dup2(n, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                (void) setenv("TMPDIR", dir, 1);
                execvp(argv[0], argv);
                _exit(127);
        }
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        for (;;) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };

                /* Woken when it ends; else each 100 ms (without a pidfd, poll() just waits). */
                if (poll(pidfd >= 0 ? &p : NULL, pidfd >= 0 ? 1 : 0, 100) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        /* What came between the last look and its end counts too. */
                        if (tree_bytes(dir) > max_bytes)
                                r = -EFBIG;
                        pid = 0;
                        break;
                }
                if (tree_bytes(dir) > max_bytes) {
                        r = -EFBIG;
                        break;
                }
        }
        if (r < 0 && pid > 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, &status, 0);
        }
        (void) g_file_get_contents(err_path, ret_err, NULL, NULL);
        (void) unlink(err_path);
        if (r < 0)
                return r;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return -ENOENT;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

int transfer_pull_worker(int fd, void *data) {
        Build *b = data; /* our copy of the daemon's memory, taken at fork() */
        TransferOp op = {
                .manager = b->manager,
                .import = true,
                .name = b->name,
                .final = b->tmpdir,
                .oci_base = b->base ?: (char *) "busybox",
                .max_bytes = b->manager->size_caps.pull_max_bytes,
        };
        g_autofree char *tmp = g_strdup_printf("%s/images/.pull-%u-%d", b->manager->state_dir, b->id, (int) getpid());
        g_autofree char *src = g_strconcat("docker://", b->url, NULL), *dst = NULL, *err = NULL;
        g_autofree char *message = NULL, *tls = g_strdup_printf("--src-tls-verify=%s", b->tls_verify ? "true" : "false");
        int r;

        r = transfer_confine(true);
        if (r < 0) {
                g_autofree char *l = g_strdup_printf("org.containers.Error.BuildFailed Cannot confine the pull: %s", g_strerror(-r));
                pull_line(fd, "FAIL", l);
                return 1;
        }
        (void) umask(0022);
        op.tmp = tmp;
        (void) rm_rf(tmp);
        if (mkdir(tmp, 0700) < 0) {
                pull_line(fd, "FAIL", "org.containers.Error.BuildFailed Cannot create a temporary directory");
                return 1;
        }
        dst = g_strdup_printf("oci:%s/in:latest", tmp);
        {
                g_autofree char *l = g_strdup_printf("Pulling %s through skopeo", b->url);
                pull_line(fd, "LOG", l);
        }
        const char *argv[] = { "skopeo", "copy", "--quiet", tls, src, dst, NULL };
        r = pull_run_skopeo(tmp, (char **) argv, op_max_bytes(&op), &err);
        if (r == -ENOENT) {
                pull_line(fd, "FAIL", "org.containers.Error.BuildFailed skopeo cannot be run (is it installed?)");
                (void) rm_rf(tmp);
                return 1;
        }
        if (r == -EFBIG) {
                g_autofree char *l = g_strdup_printf(CM_ERROR_INVALID_ARCHIVE " The pull downloaded more than %" PRIu64 " bytes "
                                                     "(PullMaxBytes= in [Transfers] of the configuration file): stopped",
                                                     op_max_bytes(&op));
                pull_line(fd, "FAIL", l);
                (void) rm_rf(tmp);
                return 1;
        }
        if (r < 0) {
                /* Once, as the job's error (which ends its log too); with a hint where skopeo
                 * met a registry that speaks plain HTTP. */
                g_autofree char *why = err ? text_make_safe(g_strstrip(g_strdelimit(err, "\r\n", ' ')), 4096)
                                           : g_strdup(g_strerror(-r));
                g_autofree char *l = g_strdup_printf("org.containers.Error.BuildFailed skopeo failed: %s%s", why,
                                                     b->tls_verify && strstr(why, "HTTP response to HTTPS client") ?
                                                     " (a registry without TLS: pull with the option tls_verify false, "
                                                     "containerctl pull --no-tls-verify)" : "");
                pull_line(fd, "FAIL", l);
                (void) rm_rf(tmp);
                return 1;
        }
        pull_line(fd, "PROGRESS", "0.6");
        pull_line(fd, "LOG", "Fetched; checking and unpacking the layers");

        /* The import renames its result to the build's tmpdir, which build.c installs. */
        (void) rmdir(b->tmpdir);
        {
                ImportState none = {};
                r = import_image_part(&op, &none, &message);
        }
        (void) rm_rf(tmp);
        if (r < 0) {
                g_autofree char *l = g_strdup_printf("%s %s", r == -EBADMSG || r == -EFBIG ? CM_ERROR_INVALID_ARCHIVE : "org.containers.Error.BuildFailed",
                                                     message ?: g_strerror(-r));
                (void) mkdir(b->tmpdir, 0755);
                pull_line(fd, "FAIL", l);
                return 1;
        }
        pull_line(fd, "PROGRESS", "1");
        (void) loop_write(fd, "DONE\n", 5);
        return 0;
}
