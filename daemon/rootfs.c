/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A container's root, assembled by its monitor in a private mount namespace: idmapped read-only
 * copies of the shared image layers (open_tree + mount_setattr(MOUNT_ATTR_IDMAP) +
 * move_mount), an overlay with the container's own writable layer on top, and host paths bound
 * read-only, nosuid, nodev. These mounts belong to the host's user namespace, so once LXC moves
 * the container into a user namespace of its own they are locked: it cannot make them writable. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/openat2.h>
#include <json-glib/json-glib.h>

#include "rootfs.h"
#include "store.h"
#include "util.h"

void rootfs_bind_free(RootfsBind *b) {
        if (!b)
                return;
        g_free(b->source);
        g_free(b->target);
        g_free(b);
}

static void rootfs_bind_destroy(gpointer p) {
        rootfs_bind_free(p);
}

RootfsSpec *rootfs_spec_new(void) {
        RootfsSpec *s = g_new0(RootfsSpec, 1);
        s->binds = g_ptr_array_new_with_free_func(rootfs_bind_destroy);
        return s;
}

RootfsSpec *rootfs_spec_free(RootfsSpec *s) {
        if (!s)
                return NULL;
        g_free(s->stage);
        g_strfreev(s->lower);
        g_free(s->upper);
        g_free(s->work);
        g_free(s->path);
        g_free(s->cwd);
        g_ptr_array_unref(s->binds);
        g_free(s);
        return NULL;
}

char *rootfs_spec_root(const RootfsSpec *s) {
        return g_build_filename(s->stage, "root", NULL);
}

static bool relative_path_is_safe(const char *p) {
        return !isempty(p) && p[0] != '/' && !path_has_dotdot(p) && g_utf8_validate(p, -1, NULL);
}

int rootfs_bind_parse(const char *line, RootfsBind **ret) {
        g_auto(GStrv) fields = g_strsplit_set(line, " \t", -1);
        g_autoptr(GPtrArray) f = g_ptr_array_new();
        g_auto(GStrv) opts = NULL;
        RootfsBind *b;
        bool bind = false;

        assert(line);
        assert(ret);

        for (char **x = fields; *x; x++)
                if (**x)
                        g_ptr_array_add(f, *x);
        if (f->len < 4 || f->len > 6)
                return -EINVAL;
        const char *source = f->pdata[0], *target = f->pdata[1], *options = f->pdata[3];
        while (*target == '/')
                target++;
        if (!g_path_is_absolute(source) || path_has_dotdot(source) || !relative_path_is_safe(target))
                return -EINVAL;

        b = g_new0(RootfsBind, 1);
        opts = g_strsplit(options, ",", -1);
        for (char **o = opts; *o; o++) {
                if (streq(*o, "bind"))
                        bind = true;
                else if (streq(*o, "optional"))
                        b->optional = true;
                else if (streq(*o, "create=file"))
                        b->create_file = true;
                else if (STR_IN_SET(*o, "ro", "create=dir", "nosuid", "nodev"))
                        ; /* read-only, nosuid and nodev are what every bind gets */
                else {
                        rootfs_bind_free(b);
                        return -EINVAL;
                }
        }
        if (!bind) {
                rootfs_bind_free(b);
                return -EINVAL;
        }
        b->source = g_strdup(source);
        b->target = g_strdup(target);
        *ret = b;
        return 0;
}

static void add_member_string(JsonBuilder *b, const char *key, const char *value) {
        json_builder_set_member_name(b, key);
        json_builder_add_string_value(b, value);
}

int rootfs_spec_save(const RootfsSpec *s, const char *path) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        add_member_string(b, "Stage", s->stage);
        store_json_add_strv(b, "Lower", s->lower);
        add_member_string(b, "Upper", s->upper);
        add_member_string(b, "Work", s->work);
        add_member_string(b, "Path", s->path);
        add_member_string(b, "WorkingDirectory", s->cwd);
        json_builder_set_member_name(b, "UidShift");
        json_builder_add_int_value(b, s->uid_shift);
        json_builder_set_member_name(b, "IdCount");
        json_builder_add_int_value(b, s->id_count);
        json_builder_set_member_name(b, "Binds");
        json_builder_begin_array(b);
        for (guint i = 0; i < s->binds->len; i++) {
                const RootfsBind *bind = s->binds->pdata[i];
                json_builder_begin_object(b);
                add_member_string(b, "Source", bind->source);
                add_member_string(b, "Target", bind->target);
                json_builder_set_member_name(b, "Optional");
                json_builder_add_boolean_value(b, bind->optional);
                json_builder_set_member_name(b, "File");
                json_builder_add_boolean_value(b, bind->create_file);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return store_write_json(path, root);
}

static char *dup_member(JsonObject *o, const char *key) {
        return g_strdup(json_object_get_string_member_with_default(o, key, NULL));
}

int rootfs_spec_load(const char *path, RootfsSpec **ret) {
        g_autoptr(RootfsSpec) s = rootfs_spec_new();
        g_autoptr(JsonNode) root = NULL;
        JsonObject *o;
        JsonArray *a;
        int r;

        r = store_read_json(path, &root);
        if (r < 0)
                return r;
        o = json_node_get_object(root);
        s->stage = dup_member(o, "Stage");
        s->upper = dup_member(o, "Upper");
        s->work = dup_member(o, "Work");
        s->path = dup_member(o, "Path");
        s->cwd = dup_member(o, "WorkingDirectory");
        s->uid_shift = (uint32_t) json_object_get_int_member_with_default(o, "UidShift", 0);
        s->id_count = (uint32_t) json_object_get_int_member_with_default(o, "IdCount", 0);
        s->lower = store_json_get_strv(o, "Lower");
        a = json_object_has_member(o, "Binds") ? json_object_get_array_member(o, "Binds") : NULL;
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
                JsonObject *bo = json_array_get_object_element(a, i);
                RootfsBind *b = g_new0(RootfsBind, 1);

                b->source = dup_member(bo, "Source");
                b->target = dup_member(bo, "Target");
                b->optional = json_object_get_boolean_member_with_default(bo, "Optional", false);
                b->create_file = json_object_get_boolean_member_with_default(bo, "File", false);
                g_ptr_array_add(s->binds, b);
                if (!b->source || !relative_path_is_safe(b->target))
                        return -EBADMSG;
        }
        if (!s->stage || !s->upper || !s->work || !s->lower[0])
                return -EBADMSG;
        *ret = TAKE_PTR(s);
        return 0;
}

static int write_file(const char *path, const char *text) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return loop_write(fd, text, strlen(text));
}

int userns_fd_new(uint32_t shift, uint32_t count) {
        g_autofree char *map = g_strdup_printf("0 %u %u\n", shift, count);
        int pipefd[2], fd = -1, r = 0;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        /* A child in a fresh user namespace that only waits for us to read its mapping. */
        pid = (pid_t) syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                char c;
                close(pipefd[1]);
                (void) !read(pipefd[0], &c, 1);
                _exit(EXIT_SUCCESS);
        }
        close(pipefd[0]);

        FOREACH_STRING(f, "uid_map", "gid_map") {
                g_autofree char *p = g_strdup_printf("/proc/%d/%s", (int) pid, f);
                r = write_file(p, map);
                if (r < 0)
                        break;
        }
        if (r >= 0) {
                g_autofree char *p = g_strdup_printf("/proc/%d/ns/user", (int) pid);
                fd = open(p, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = -errno;
        }
        close(pipefd[1]);
        (void) waitpid(pid, NULL, 0);
        return r < 0 ? r : fd;
}

static int fail(char **ret_message, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_message, int r, const char *fmt, ...) {
        g_autofree char *what = NULL;
        va_list ap;

        va_start(ap, fmt);
        what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (ret_message)
                *ret_message = g_strdup_printf("%s: %s", what, g_strerror(-r));
        return r;
}

/* overlayfs takes ':' and ',' as separators in its options. */
static bool overlay_path_ok(const char *p) {
        return !strpbrk(p, ":,\\");
}

static int openat_in_root(int root_fd, const char *path, uint64_t flags) {
        struct open_how how = {
                .flags = flags | O_CLOEXEC,
                /* Links resolve as inside the container's root, never to the host. */
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

static int bind_host_path(int root_fd, const RootfsBind *b, uint32_t shift, bool mapped, char **ret_message) {
        g_autofree char *parent = g_path_get_dirname(b->target), *base = g_path_get_basename(b->target);
        _cleanup_close_ int pfd = -1, tfd = -1, sfd = -1;
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        };
        struct stat st, tst;

        if (stat(b->source, &st) < 0) {
                if (errno == ENOENT && b->optional)
                        return 0;
                return fail(ret_message, -errno, "Cannot share %s", b->source);
        }
        if (S_ISDIR(st.st_mode) == b->create_file)
                return fail(ret_message, -EINVAL, "Cannot share %s as a %s", b->source, b->create_file ? "file" : "directory");

        pfd = openat_in_root(root_fd, parent, O_PATH | O_DIRECTORY);
        if (pfd < 0)
                return fail(ret_message, pfd, "Cannot open /%s in the container", parent);
        tfd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0 && errno == ENOENT) {
                int r = 0;
                if (b->create_file) {
                        int fd = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                        if (fd < 0)
                                r = -errno;
                        else
                                close(fd);
                } else if (mkdirat(pfd, base, 0755) < 0)
                        r = -errno;
                if (r < 0)
                        return fail(ret_message, r, "Cannot create /%s in the container", b->target);
                /* A mount point the container's root owns, like everything else it has. */
                if (mapped)
                        (void) fchownat(pfd, base, shift, shift, AT_SYMLINK_NOFOLLOW);
                tfd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        if (tfd < 0)
                return fail(ret_message, -errno, "Cannot open /%s in the container", b->target);
        if (fstat(tfd, &tst) < 0)
                return fail(ret_message, -errno, "Cannot stat /%s in the container", b->target);
        if (S_ISLNK(tst.st_mode))
                return fail(ret_message, -ELOOP, "/%s in the container is a symbolic link", b->target);
        if (S_ISDIR(tst.st_mode) != S_ISDIR(st.st_mode))
                return fail(ret_message, S_ISDIR(st.st_mode) ? -ENOTDIR : -EISDIR,
                            "/%s in the container does not match %s", b->target, b->source);

        sfd = open_tree(AT_FDCWD, b->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (sfd < 0)
                return fail(ret_message, -errno, "Cannot clone %s", b->source);
        if (mount_setattr(sfd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return fail(ret_message, -errno, "Cannot make %s read-only", b->source);
        if (move_mount(sfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return fail(ret_message, -errno, "Cannot mount %s on /%s", b->source, b->target);
        return 0;
}

int rootfs_setup(const RootfsSpec *s, char **ret_message) {
        g_autofree char *root = rootfs_spec_root(s), *options = NULL;
        g_autoptr(GString) lowerdir = g_string_new(NULL);
        _cleanup_close_ int userns = -1, root_fd = -1;
        bool mapped = s->id_count > 0;
        int i = 0;

        assert(s);

        if (unshare(CLONE_NEWNS) < 0)
                return fail(ret_message, -errno, "Cannot make a mount namespace");
        /* Nothing we mount may propagate back to the host. */
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return fail(ret_message, -errno, "Cannot make the mount namespace a slave");
        if (mount("tmpfs", s->stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=64k") < 0)
                return fail(ret_message, -errno, "Cannot mount a tmpfs on %s", s->stage);
        if (mkdir(root, 0755) < 0)
                return fail(ret_message, -errno, "Cannot create %s", root);

        if (mapped) {
                userns = userns_fd_new(s->uid_shift, s->id_count);
                if (userns < 0)
                        return fail(ret_message, userns, "Cannot make a user namespace for the id mapping");
        }

        for (char **l = s->lower; *l; l++, i++) {
                g_autofree char *dir = NULL;
                _cleanup_close_ int fd = -1;
                struct mount_attr attr = {
                        .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
                        .userns_fd = (uint64_t) userns,
                };

                if (!overlay_path_ok(*l))
                        return fail(ret_message, -EINVAL, "Layer path %s", *l);
                if (!mapped) {
                        g_string_append_printf(lowerdir, "%s%s", lowerdir->len ? ":" : "", *l);
                        continue;
                }
                /* The shared layer stays root-owned on disk; this copy shows it as the slot's. */
                dir = g_strdup_printf("%s/l%d", s->stage, i);
                if (mkdir(dir, 0700) < 0)
                        return fail(ret_message, -errno, "Cannot create %s", dir);
                fd = open_tree(AT_FDCWD, *l, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (fd < 0)
                        return fail(ret_message, -errno, "Cannot clone layer %s", *l);
                if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                        return fail(ret_message, -errno, "Cannot idmap layer %s", *l);
                if (move_mount(fd, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return fail(ret_message, -errno, "Cannot mount layer %s", *l);
                g_string_append_printf(lowerdir, "%s%s", lowerdir->len ? ":" : "", dir);
        }

        if (!overlay_path_ok(s->upper) || !overlay_path_ok(s->work))
                return fail(ret_message, -EINVAL, "Layer path %s", s->upper);
        options = g_strdup_printf("lowerdir=%s,upperdir=%s,workdir=%s", lowerdir->str, s->upper, s->work);
        if (mount("overlay", root, "overlay", MS_NODEV, options) < 0)
                return fail(ret_message, -errno, "Cannot mount the overlay (%s)", options);

        root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return fail(ret_message, -errno, "Cannot open %s", root);
        for (guint b = 0; b < s->binds->len; b++) {
                int r = bind_host_path(root_fd, s->binds->pdata[b], s->uid_shift, mapped, ret_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_executable(int root_fd, const char *path) {
        _cleanup_close_ int fd = openat_in_root(root_fd, path, O_PATH);
        struct stat st;

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        return (st.st_mode & 0111) ? 0 : -EACCES;
}

int rootfs_find_program(const RootfsSpec *s, const char *argv0, char **ret_message) {
        g_autofree char *root = rootfs_spec_root(s);
        _cleanup_close_ int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int r = -ENOENT;

        assert(s);
        assert(argv0);

        if (root_fd < 0)
                return fail(ret_message, -errno, "Cannot open %s", root);
        if (strchr(argv0, '/')) {
                g_autofree char *p = argv0[0] == '/' ? g_strdup(argv0) : g_build_filename(s->cwd ?: "/", argv0, NULL);
                r = check_executable(root_fd, p);
        } else {
                g_auto(GStrv) dirs = g_strsplit(s->path ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ":", -1);
                for (char **d = dirs; *d && r < 0; d++) {
                        g_autofree char *p = g_build_filename(**d ? *d : ".", argv0, NULL);
                        int k = check_executable(root_fd, p);
                        /* As execvp(): a match that cannot be run is remembered, the search goes on. */
                        if (k == 0 || r == -ENOENT)
                                r = k;
                }
        }
        if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
                return fail(ret_message, -ENOENT, "No program '%s' in the container (PATH=%s, working directory %s)",
                            argv0, s->path ?: "", s->cwd ?: "/");
        if (r < 0)
                return fail(ret_message, r, "Program '%s' in the container cannot be run", argv0);
        return 0;
}
