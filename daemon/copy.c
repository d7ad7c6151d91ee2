/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tree copies for snapshots and Commit. overlayfs records deletions in an upper layer as
 * character devices 0/0 (whiteouts) and directories that hide the layers below with the
 * trusted.overlay.opaque xattr: both must survive a copy, or deleted files come back. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <linux/fs.h>

#include "copy.h"
#include "util.h"

typedef struct CopyState {
        const CopyOptions *opts;
        const char *dst;        /* the top of the copy */
        GHashTable *inodes;     /* "dev:ino" -> absolute path of the first copy (hard links) */
        char **message;
} CopyState;

static int fail(CopyState *s, int r, const char *what, const char *path) {
        if (s->message && !*s->message)
                *s->message = g_strdup_printf("%s %s: %s", what, isempty(path) ? "." : path, g_strerror(-r));
        return r;
}

static uint32_t map_id(const CopyState *s, uint32_t id) {
        if (!(s->opts->flags & COPY_SHIFT_IDS))
                return id;
        if (id < s->opts->id_base || id - s->opts->id_base >= s->opts->id_count)
                return 65534;
        return id - s->opts->id_base;
}

static bool keep_xattr(const CopyState *s, const char *name) {
        if (s->opts->flags & COPY_OCI_WHITEOUTS)
                return !g_str_has_prefix(name, "trusted.overlay.");
        if (!(s->opts->flags & COPY_LAYER_XATTRS_ONLY))
                return true;
        if (!g_str_has_prefix(name, "trusted.overlay."))
                return true;
        return STR_IN_SET(name, "trusted.overlay.opaque", "trusted.overlay.redirect");
}

/* xattrs through /proc/self/fd of O_PATH descriptors: works for symlinks and devices too. The
 * path is a magic link: the calls that follow it reach the inode (the l* ones would stop at
 * the link and see nothing). */
static int copy_xattrs(CopyState *s, int sfd, int dfd, const char *rel) {
        g_autofree char *sp = g_strdup_printf("/proc/self/fd/%d", sfd), *dp = g_strdup_printf("/proc/self/fd/%d", dfd);
        g_autofree char *list = NULL;
        ssize_t n;

        n = listxattr(sp, NULL, 0);
        if (n < 0)
                return IN_SET(errno, ENOTSUP, ENODATA) ? 0 : fail(s, -errno, "Cannot list xattrs of", rel);
        if (n == 0)
                return 0;
        list = g_malloc(n);
        n = listxattr(sp, list, n);
        if (n < 0)
                return fail(s, -errno, "Cannot list xattrs of", rel);
        for (char *name = list; name < list + n; name += strlen(name) + 1) {
                g_autofree char *value = NULL;
                ssize_t v;

                if (!keep_xattr(s, name))
                        continue;
                v = getxattr(sp, name, NULL, 0);
                if (v < 0)
                        continue;
                value = g_malloc(v + 1);
                v = getxattr(sp, name, value, v);
                if (v < 0)
                        continue;
                if (setxattr(dp, name, value, v, 0) < 0 && errno != ENOTSUP && errno != EPERM)
                        return fail(s, -errno, "Cannot set xattr on", rel);
        }
        return 0;
}

static int copy_data(int in, int out) {
        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n == 0)
                        return 0;
                if (n > 0)
                        continue;
                if (errno == EINTR)
                        continue;
                if (!IN_SET(errno, EXDEV, EINVAL, ENOSYS, EOPNOTSUPP))
                        return -errno;
                break;
        }
        /* No copy_file_range between these: plain read/write from where we are. */
        for (;;) {
                char buf[65536];
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                int r = loop_write(out, buf, n);
                if (r < 0)
                        return r;
        }
}

/* Owner, mode and times last: chown clears setuid bits, writing moves mtime. */
static int copy_meta(CopyState *s, int dirfd, const char *name, const struct stat *st, int sfd, const char *rel) {
        _cleanup_close_ int dfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        int r;

        if (dfd < 0)
                return fail(s, -errno, "Cannot open", rel);
        if (fchownat(dfd, "", map_id(s, st->st_uid), map_id(s, st->st_gid), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                return fail(s, -errno, "Cannot chown", rel);
        r = copy_xattrs(s, sfd, dfd, rel);
        if (r < 0)
                return r;
        if (!S_ISLNK(st->st_mode) && fchmodat(dirfd, name, st->st_mode & 07777, 0) < 0)
                return fail(s, -errno, "Cannot chmod", rel);
        if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(s, -errno, "Cannot set times of", rel);
        return 0;
}

static int copy_dir_contents(CopyState *s, int sdir, int ddir, const char *rel);

static int copy_entry(CopyState *s, int sdir, int ddir, const char *name, const char *rel) {
        _cleanup_close_ int sfd = openat(sdir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        int r;

        if (sfd < 0)
                return fail(s, -errno, "Cannot open", rel);
        if (fstat(sfd, &st) < 0)
                return fail(s, -errno, "Cannot stat", rel);

        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
                g_autofree char *key = g_strdup_printf("%lu:%lu", (unsigned long) st.st_dev, (unsigned long) st.st_ino);
                const char *first = g_hash_table_lookup(s->inodes, key);
                if (first) {
                        if (linkat(AT_FDCWD, first, ddir, name, 0) < 0)
                                return fail(s, -errno, "Cannot link", rel);
                        return 0;
                }
        }

        if ((s->opts->flags & COPY_OCI_WHITEOUTS) && IS_WHITEOUT(&st)) {
                g_autofree char *wh = g_strconcat(WHITEOUT_PREFIX, name, NULL);
                _cleanup_close_ int fd = openat(ddir, wh, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return fail(s, -errno, "Cannot create", rel);
                return 0;
        }

        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int in = -1, out = -1;
                if (mkdirat(ddir, name, 0700) < 0)
                        return fail(s, -errno, "Cannot create", rel);
                in = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                out = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (in < 0 || out < 0)
                        return fail(s, -errno, "Cannot open", rel);
                r = copy_dir_contents(s, in, out, rel);
                if (r < 0)
                        return r;
                if (s->opts->flags & COPY_OCI_WHITEOUTS) {
                        char v[2] = {};
                        if (fgetxattr(in, "trusted.overlay.opaque", v, 1) == 1 && v[0] == 'y') {
                                _cleanup_close_ int fd = openat(out, WHITEOUT_OPAQUE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                                if (fd < 0)
                                        return fail(s, -errno, "Cannot create opaque marker in", rel);
                        }
                }
        } else if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1;
                if (in < 0)
                        return fail(s, -errno, "Cannot read", rel);
                out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (out < 0)
                        return fail(s, -errno, "Cannot create", rel);
                r = copy_data(in, out);
                if (r < 0)
                        return fail(s, r, "Cannot copy", rel);
        } else if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
                if (n < 0)
                        return fail(s, -errno, "Cannot read link", rel);
                target[n] = 0;
                if (symlinkat(target, ddir, name) < 0)
                        return fail(s, -errno, "Cannot create link", rel);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
                if (mknodat(ddir, name, st.st_mode & (S_IFMT | 0777), st.st_rdev) < 0)
                        return fail(s, -errno, "Cannot create node", rel);
        } else
                return 0; /* sockets mean nothing without their listener */

        r = copy_meta(s, ddir, name, &st, sfd, rel);
        if (r < 0)
                return r;
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
                g_hash_table_insert(s->inodes,
                                    g_strdup_printf("%lu:%lu", (unsigned long) st.st_dev, (unsigned long) st.st_ino),
                                    g_build_filename(s->dst, rel, NULL));
        return 0;
}

static int copy_dir_contents(CopyState *s, int sdir, int ddir, const char *rel) {
        _cleanup_close_ int fd = dup(sdir);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (fd < 0)
                return fail(s, -errno, "Cannot read", rel);
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return fail(s, -errno, "Cannot read", rel);
        while ((errno = 0, de = readdir(d))) {
                g_autofree char *sub = NULL;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                sub = isempty(rel) ? g_strdup(de->d_name) : g_strdup_printf("%s/%s", rel, de->d_name);
                r = copy_entry(s, sdir, ddir, de->d_name, sub);
                if (r < 0)
                        break;
        }
        if (r >= 0 && errno != 0)
                r = fail(s, -errno, "Cannot read", rel);
        closedir(d);
        return r;
}

int copy_tree(const char *src, const char *dst, const CopyOptions *opts, char **ret_message) {
        g_autoptr(GHashTable) inodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autofree char *sparent = g_path_get_dirname(src), *sname = g_path_get_basename(src);
        g_autofree char *dparent = g_path_get_dirname(dst), *dname = g_path_get_basename(dst);
        _cleanup_close_ int sdir = -1, ddir = -1, in = -1, out = -1;
        CopyOptions none = {};
        CopyState s = { .opts = opts ?: &none, .dst = dst, .inodes = inodes, .message = ret_message };
        struct stat st;
        int r;

        assert(src);
        assert(dst);

        sdir = open(sparent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ddir = open(dparent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (sdir < 0 || ddir < 0)
                return fail(&s, -errno, "Cannot open", sdir < 0 ? sparent : dparent);
        if (fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(&s, -errno, "Cannot stat", src);
        if (!S_ISDIR(st.st_mode))
                return fail(&s, -ENOTDIR, "Cannot copy", src);
        if (mkdirat(ddir, dname, 0700) < 0)
                return fail(&s, -errno, "Cannot create", dst);
        in = openat(sdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        out = openat(ddir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0 || out < 0)
                return fail(&s, -errno, "Cannot open", in < 0 ? src : dst);
        r = copy_dir_contents(&s, in, out, "");
        if (r < 0)
                return r;
        {
                _cleanup_close_ int sfd = openat(sdir, sname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0)
                        return fail(&s, -errno, "Cannot open", src);
                return copy_meta(&s, ddir, dname, &st, sfd, "");
        }
}
