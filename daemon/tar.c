/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/openat2.h>

#include "tar.h"
#include "util.h"


#define BLOCK_SIZE 512
#define RECORD_SIZE (20 * BLOCK_SIZE)   /* what GNU tar pads an archive to */
#define COPY_CHUNK (64 * 1024)
#define META_SIZE_MAX (1024 * 1024)     /* data of one pax or GNU long-name header */
#define META_RUN_MAX 16                 /* such headers before one entry */
#define DRAIN_MAX (1024 * 1024)         /* read after the end marker, so a writer sees no EPIPE */
#define DRAIN_WAIT_MSEC 100
#define QUOTE_MAX 200                   /* of a name quoted back in a message */
/* Components of a name: extraction, the merge and the cleanup hold a descriptor or two per
 * level, which must stay well below the usual limit of 1024. */
#define DEPTH_MAX 256

typedef struct UstarHeader {
        char name[100];
        char mode[8];
        char uid[8];
        char gid[8];
        char size[12];
        char mtime[12];
        char chksum[8];
        char typeflag;
        char linkname[100];
        char magic[6];
        char version[2];
        char uname[32];
        char gname[32];
        char devmajor[8];
        char devminor[8];
        char prefix[155];
        char pad[12];
} UstarHeader;
_Static_assert(sizeof(UstarHeader) == BLOCK_SIZE, "a tar header is one block");

/* SHA-256 of the streams that carry layers (GLib's: the design's dependencies have no other). */
typedef GChecksum Sha256;

static Sha256 *sha256_new(void) {
        return g_checksum_new(G_CHECKSUM_SHA256);
}

static void sha256_update(Sha256 *c, const void *data, size_t size) {
        g_checksum_update(c, data, (gssize) size);
}

static char *sha256_finish(Sha256 *c) {
        return g_strconcat("sha256:", g_checksum_get_string(c), NULL);
}

static void sha256_free(Sha256 *c) {
        g_checksum_free(c);
}

static size_t padding_of(uint64_t size) {
        return (BLOCK_SIZE - size % BLOCK_SIZE) % BLOCK_SIZE;
}

/* Archive names are arbitrary bytes; messages go out as D-Bus strings (UTF-8): control
 * characters and bytes of names that are not UTF-8 are escaped. */
static char *quote_name(const char *name) {
        g_autofree char *cut = NULL, *e = NULL;
        char high[129];

        for (int i = 0; i < 128; i++)
                high[i] = (char) (0x80 + i);
        high[128] = 0;
        cut = g_strndup(name ? name : "", QUOTE_MAX);
        /* Cut inside a character: escape it all rather than end in half a character. */
        e = g_strescape(cut, g_utf8_validate(cut, -1, NULL) ? high : NULL);

        return g_strdup_printf("'%s'%s", e, name && strlen(name) > QUOTE_MAX ? "..." : "");
}

/* Sets *message once (the first failure is the one worth reporting) and returns r. */
_printf_(4, 5)
static int fail(char **message, int r, const char *name, const char *fmt, ...) {
        g_autofree char *what = NULL, *q = NULL;
        va_list ap;

        assert(r < 0);
        if (*message)
                return r;
        va_start(ap, fmt);
        what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (name) {
                q = quote_name(name);
                *message = g_strdup_printf("%s: %s", q, what);
        } else
                *message = TAKE_PTR(what);
        return r;
}

static int openat2_fd(int dir_fd, const char *path, int flags, uint64_t resolve) {
        struct open_how how = {
                /* openat2() refuses O_PATH with any flag that has no meaning for it */
                .flags = (uint64_t) flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY),
                .resolve = resolve,
        };
        long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));

        return fd < 0 ? -errno : (int) fd;
}

/* The caller's view of a container: absolute paths, links resolved as inside it. */
static int open_in_root(int root_fd, const char *path, int flags) {
        return openat2_fd(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* The archive's view of the staging directory: no link is followed, not even the last
 * (ELOOP). */
static int open_beneath(int dir_fd, const char *path, int flags) {
        return openat2_fd(dir_fd, path, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

/* Splits an absolute path into its components without empty and "." ones; refuses "..". */
static int path_split(const char *path, char ***ret) {
        g_auto(GStrv) parts = NULL;
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

        if (!path || path[0] != '/' || path_has_dotdot(path))
                return -EINVAL;
        parts = g_strsplit(path, "/", -1);
        for (char **c = parts; *c; c++)
                if (!isempty(*c) && !streq(*c, "."))
                        g_ptr_array_add(out, g_strdup(*c));
        g_ptr_array_add(out, NULL);
        *ret = (char **) g_ptr_array_free(g_steal_pointer(&out), false);
        return 0;
}

static ssize_t loop_read(int fd, void *buf, size_t size) {
        char *p = buf;
        size_t done = 0;

        while (done < size) {
                ssize_t n = read(fd, p + done, size - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

/* Removes everything inside dir_fd, never following a link. */
static int rm_rf_children_at(int dir_fd) {
        g_autoptr(GPtrArray) names = NULL;
        int r, ret = 0;

        r = dir_list_sorted(dir_fd, &names);
        if (r < 0)
                return r;
        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                _cleanup_close_ int fd = -1;

                if (unlinkat(dir_fd, name, 0) >= 0 || errno == ENOENT)
                        continue;
                if (errno != EISDIR) {
                        ret = ret ?: -errno;
                        continue;
                }
                fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        ret = ret ?: -errno;
                        continue;
                }
                /* A read-only directory of the archive must not keep its contents. */
                (void) fchmod(fd, 0700);
                r = rm_rf_children_at(fd);
                if (r < 0)
                        ret = ret ?: r;
                else if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
                        ret = ret ?: -errno;
        }
        return ret;
}

/* ---- writing ---- */

typedef struct TarEntry {
        const char *name;       /* as stored: a directory's ends in '/' */
        const char *linkname;   /* symlinks and hard links */
        char type;
        mode_t mode;
        uint64_t uid, gid, size;
        int64_t mtime;
} TarEntry;

typedef struct Packer {
        int out_fd;             /* -1: only count the bytes (the size of a nested archive) */
        uint64_t offset;
        Sha256 *sum;            /* of every byte written, when set */
        GHashTable *inodes;     /* "dev:ino" → archive name of the first sighting, for hard links */
        char *message;
} Packer;

static void packer_done(Packer *p) {
        if (p->inodes)
                g_hash_table_unref(p->inodes);
        if (p->sum)
                sha256_free(p->sum);
        g_free(p->message);
}

static int packer_write(Packer *p, const void *buf, size_t size) {
        if (p->out_fd >= 0) {
                int r = loop_write(p->out_fd, buf, size);
                if (r < 0)
                        return fail(&p->message, r, NULL, "cannot write the archive: %s", g_strerror(-r));
                if (p->sum)
                        sha256_update(p->sum, buf, size);
        }
        p->offset += size;
        return 0;
}

static int packer_write_zeros(Packer *p, size_t size) {
        static const char zeros[BLOCK_SIZE];
        int r;

        if (p->out_fd < 0) {
                p->offset += size;
                return 0;
        }
        while (size > 0) {
                size_t n = MIN(size, sizeof(zeros));
                r = packer_write(p, zeros, n);
                if (r < 0)
                        return r;
                size -= n;
        }
        return 0;
}

/* width-1 octal digits and a NUL; false when the value does not fit (pax carries it then). */
static bool octal_put(char *field, size_t width, uint64_t v) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%0*" PRIo64, (int) width - 1, v);

        if (n < 0 || (size_t) n > width - 1) {
                memset(field, '0', width - 1);
                field[width - 1] = 0;
                return false;
        }
        memcpy(field, buf, width);
        return true;
}

static unsigned header_sum(const UstarHeader *h, bool as_signed) {
        const unsigned char *u = (const unsigned char *) h;
        const signed char *s = (const signed char *) h;
        int sum = 0;

        for (size_t i = 0; i < BLOCK_SIZE; i++) {
                bool in_chksum = i >= offsetof(UstarHeader, chksum) && i < offsetof(UstarHeader, chksum) + sizeof(h->chksum);
                sum += in_chksum ? ' ' : as_signed ? s[i] : u[i];
        }
        return (unsigned) sum;
}

static void header_finish(UstarHeader *h) {
        char buf[16];

        memcpy(h->magic, "ustar", 6);
        memcpy(h->version, "00", 2);
        snprintf(buf, sizeof(buf), "%06o", header_sum(h, false) & 0777777);
        memcpy(h->chksum, buf, 6);
        h->chksum[6] = 0;
        h->chksum[7] = ' ';
}

/* ustar splits a long name at a '/' into prefix (155) and name (100). */
static bool ustar_set_name(UstarHeader *h, const char *name) {
        size_t len = strlen(name);

        if (len <= sizeof(h->name)) {
                memcpy(h->name, name, len);
                return true;
        }
        for (size_t i = MIN(len - 1, sizeof(h->prefix)); i > 0; i--) {
                if (name[i] != '/')
                        continue;
                if (len - i - 1 > sizeof(h->name) || len - i - 1 == 0)
                        return false;
                memcpy(h->prefix, name, i);
                memcpy(h->name, name + i + 1, len - i - 1);
                return true;
        }
        return false;
}

static void pax_add(GString *s, const char *key, const char *value) {
        /* The record's length counts its own digits. */
        size_t base = strlen(key) + strlen(value) + 3, len = base + 1;

        for (;;) {
                size_t digits = (size_t) snprintf(NULL, 0, "%zu", len);
                if (base + digits == len)
                        break;
                len = base + digits;
        }
        g_string_append_printf(s, "%zu %s=%s\n", len, key, value);
}

static int write_pax_header(Packer *p, const TarEntry *e, const GString *pax) {
        UstarHeader h = {};
        int r;

        memcpy(h.name, "././@PaxHeader", sizeof("././@PaxHeader") - 1);
        octal_put(h.mode, sizeof(h.mode), 0644);
        octal_put(h.uid, sizeof(h.uid), 0);
        octal_put(h.gid, sizeof(h.gid), 0);
        octal_put(h.size, sizeof(h.size), pax->len);
        octal_put(h.mtime, sizeof(h.mtime), e->mtime < 0 ? 0 : (uint64_t) e->mtime);
        h.typeflag = 'x';
        header_finish(&h);
        r = packer_write(p, &h, sizeof(h));
        if (r < 0)
                return r;
        r = packer_write(p, pax->str, pax->len);
        if (r < 0)
                return r;
        return packer_write_zeros(p, padding_of(pax->len));
}

static int write_header(Packer *p, const TarEntry *e) {
        g_autoptr(GString) pax = g_string_new(NULL);
        UstarHeader h = {};
        char num[32];
        int r;

        if (!ustar_set_name(&h, e->name)) {
                memcpy(h.name, e->name, sizeof(h.name));
                pax_add(pax, "path", e->name);
        }
        if (e->linkname) {
                size_t len = strlen(e->linkname);
                memcpy(h.linkname, e->linkname, MIN(len, sizeof(h.linkname)));
                if (len > sizeof(h.linkname))
                        pax_add(pax, "linkpath", e->linkname);
        }
        octal_put(h.mode, sizeof(h.mode), e->mode & 07777);
        if (!octal_put(h.uid, sizeof(h.uid), e->uid)) {
                snprintf(num, sizeof(num), "%" PRIu64, e->uid);
                pax_add(pax, "uid", num);
        }
        if (!octal_put(h.gid, sizeof(h.gid), e->gid)) {
                snprintf(num, sizeof(num), "%" PRIu64, e->gid);
                pax_add(pax, "gid", num);
        }
        if (!octal_put(h.size, sizeof(h.size), e->size)) {
                snprintf(num, sizeof(num), "%" PRIu64, e->size);
                pax_add(pax, "size", num);
        }
        if (e->mtime < 0 || !octal_put(h.mtime, sizeof(h.mtime), (uint64_t) e->mtime)) {
                octal_put(h.mtime, sizeof(h.mtime), 0);
                snprintf(num, sizeof(num), "%" PRIi64, e->mtime);
                pax_add(pax, "mtime", num);
        }
        h.typeflag = e->type;
        if (pax->len > 0) {
                r = write_pax_header(p, e, pax);
                if (r < 0)
                        return r;
        }
        header_finish(&h);
        return packer_write(p, &h, sizeof(h));
}

static TarEntry entry_from_stat(const char *name, char type, const struct stat *st) {
        return (TarEntry) {
                .name = name,
                .type = type,
                .mode = st->st_mode & 07777,
                .uid = st->st_uid,
                .gid = st->st_gid,
                .mtime = st->st_mtim.tv_sec,
        };
}

/* Exactly size bytes: a file that shrank meanwhile is padded with zeros, one that grew cut. */
static int copy_file_data(Packer *p, int fd, const char *archive_name, uint64_t size) {
        g_autofree char *buf = g_malloc(COPY_CHUNK);
        uint64_t left = size;
        int r;

        while (left > 0) {
                ssize_t n = read(fd, buf, MIN(left, (uint64_t) COPY_CHUNK));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(&p->message, -errno, archive_name, "cannot read: %s", g_strerror(errno));
                }
                if (n == 0)
                        break;
                r = packer_write(p, buf, (size_t) n);
                if (r < 0)
                        return r;
                left -= (uint64_t) n;
        }
        r = packer_write_zeros(p, left);
        if (r < 0)
                return r;
        return packer_write_zeros(p, padding_of(size));
}

static int pack_regular(Packer *p, int dir_fd, const char *name, const char *archive_name, const struct stat *st) {
        _cleanup_close_ int fd = -1;
        g_autofree char *key = NULL;
        const char *first;
        struct stat fst;
        TarEntry e;
        int r;

        key = g_strdup_printf("%ju:%ju", (uintmax_t) st->st_dev, (uintmax_t) st->st_ino);
        first = st->st_nlink > 1 ? g_hash_table_lookup(p->inodes, key) : NULL;
        if (first) {
                e = entry_from_stat(archive_name, '1', st);
                e.linkname = first;
                return write_header(p, &e);
        }

        if (p->out_fd < 0) {
                /* Counting: the size the stat says, as the real pass will see it. */
                if (st->st_nlink > 1)
                        g_hash_table_insert(p->inodes, TAKE_PTR(key), g_strdup(archive_name));
                e = entry_from_stat(archive_name, '0', st);
                e.size = (uint64_t) st->st_size;
                r = write_header(p, &e);
                if (r < 0)
                        return r;
                return packer_write_zeros(p, e.size + padding_of(e.size));
        }

        /* O_NONBLOCK: should a fifo have taken the file's place, do not hang on it. */
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return fail(&p->message, -errno, archive_name, "cannot open: %s", g_strerror(errno));
        if (fstat(fd, &fst) < 0)
                return fail(&p->message, -errno, archive_name, "cannot stat: %s", g_strerror(errno));
        if (!S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino || fst.st_dev != st->st_dev)
                return fail(&p->message, -EAGAIN, archive_name, "changed while being archived");

        if (fst.st_nlink > 1)
                g_hash_table_insert(p->inodes, TAKE_PTR(key), g_strdup(archive_name));
        e = entry_from_stat(archive_name, '0', &fst);
        e.size = (uint64_t) fst.st_size;
        r = write_header(p, &e);
        if (r < 0)
                return r;
        return copy_file_data(p, fd, archive_name, e.size);
}

static int pack_symlink(Packer *p, int dir_fd, const char *name, const char *archive_name, const struct stat *st) {
        char target[PATH_MAX + 1];
        TarEntry e;
        ssize_t n;

        n = readlinkat(dir_fd, name, target, sizeof(target));
        if (n < 0)
                return fail(&p->message, -errno, archive_name, "cannot read the link: %s", g_strerror(errno));
        if ((size_t) n >= sizeof(target))
                return fail(&p->message, -ENAMETOOLONG, archive_name, "link target too long");
        target[n] = 0;
        e = entry_from_stat(archive_name, '2', st);
        e.linkname = target;
        return write_header(p, &e);
}

static int pack_at(Packer *p, int dir_fd, const char *name, const char *archive_name);

static int pack_directory(Packer *p, int dir_fd, const char *name, const char *archive_name) {
        g_autoptr(GPtrArray) children = NULL;
        g_autofree char *header_name = g_strconcat(archive_name, "/", NULL);
        _cleanup_close_ int fd = -1;
        struct stat st;
        TarEntry e;
        int r;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(&p->message, -errno, archive_name, "cannot open the directory: %s", g_strerror(errno));
        if (fstat(fd, &st) < 0)
                return fail(&p->message, -errno, archive_name, "cannot stat: %s", g_strerror(errno));
        e = entry_from_stat(header_name, '5', &st);
        r = write_header(p, &e);
        if (r < 0)
                return r;

        r = dir_list_sorted(fd, &children);
        if (r < 0)
                return fail(&p->message, r, archive_name, "cannot list the directory: %s", g_strerror(-r));
        for (guint i = 0; i < children->len; i++) {
                const char *child = children->pdata[i];
                g_autofree char *child_name = g_strconcat(archive_name, "/", child, NULL);

                r = pack_at(p, fd, child, child_name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pack_at(Packer *p, int dir_fd, const char *name, const char *archive_name) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                /* Gone since the directory was listed: as if it had never been there. */
                if (errno == ENOENT && !streq(name, "."))
                        return 0;
                return fail(&p->message, -errno, archive_name, "cannot stat: %s", g_strerror(errno));
        }
        switch (st.st_mode & S_IFMT) {
        case S_IFREG:
                return pack_regular(p, dir_fd, name, archive_name, &st);
        case S_IFLNK:
                return pack_symlink(p, dir_fd, name, archive_name, &st);
        case S_IFDIR:
                return pack_directory(p, dir_fd, name, archive_name);
        case S_IFIFO: {
                TarEntry e = entry_from_stat(archive_name, '6', &st);
                return write_header(p, &e);
        }
        default:
                return 0; /* devices, sockets */
        }
}

static int pack_end(Packer *p) {
        int r = packer_write_zeros(p, 2 * BLOCK_SIZE);
        if (r < 0)
                return r;
        return packer_write_zeros(p, (RECORD_SIZE - p->offset % RECORD_SIZE) % RECORD_SIZE);
}

/* The tree at path (inside root_fd) and the end marker, through p. */
static int pack_tree(Packer *p, int root_fd, const char *path) {
        g_auto(GStrv) parts = NULL;
        g_autofree char *parent = NULL;
        _cleanup_close_ int dir_fd = -1;
        const char *name;
        struct stat st;
        guint n;
        int r;

        r = path_split(path, &parts);
        if (r < 0)
                return fail(&p->message, r, path, "not an absolute path without '..'");
        n = g_strv_length(parts);
        if (n == 0) {
                parent = g_strdup("/");
                name = ".";
        } else {
                g_autofree char *joined = NULL;
                char *last = parts[n - 1];

                parts[n - 1] = NULL;
                joined = g_strjoinv("/", parts);
                parts[n - 1] = last;
                parent = g_strconcat("/", joined, NULL);
                name = last;
        }
        dir_fd = open_in_root(root_fd, parent, O_PATH | O_DIRECTORY);
        if (dir_fd < 0)
                return fail(&p->message, dir_fd, path, "cannot open: %s", g_strerror(-dir_fd));
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(&p->message, -errno, path, "cannot stat: %s", g_strerror(errno));
        r = pack_at(p, dir_fd, name, name);
        if (r < 0)
                return r;
        return pack_end(p);
}

int tar_pack(int root_fd, const char *path, int out_fd, char **ret_message) {
        _cleanup_(packer_done) Packer p = {
                .out_fd = out_fd,
                .inodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        int r;

        assert(root_fd >= 0);
        assert(out_fd >= 0);

        r = pack_tree(&p, root_fd, path);
        if (r < 0 && ret_message)
                *ret_message = TAKE_PTR(p.message);
        return r;
}

/* ---- reading ---- */

typedef struct PaxFields {
        char *path;
        char *linkpath;
        bool has_size, has_uid, has_gid, has_mtime;
        uint64_t size, uid, gid;
        struct timespec mtime;
} PaxFields;

static void pax_fields_clear(PaxFields *f) {
        g_free(f->path);
        g_free(f->linkpath);
        *f = (PaxFields) {};
}

typedef struct Entry {
        char *name;             /* as in the archive */
        char *linkname;
        char type;
        mode_t mode;
        uint64_t uid, gid, size;
        struct timespec mtime;
} Entry;

static void entry_clear(Entry *e) {
        g_free(e->name);
        g_free(e->linkname);
        *e = (Entry) {};
}

typedef struct DirMeta {
        bool explicit;          /* an entry of the archive; else made as a missing parent */
        mode_t mode;
        uint64_t uid, gid;
        struct timespec mtime;
} DirMeta;

typedef struct TarReader TarReader;
static ssize_t tar_reader_read_raw(TarReader *r, void *buf, size_t size);

typedef struct Unpacker {
        int in_fd;
        TarReader *parent;      /* when set, the archive is the data of the parent's current entry */
        Sha256 *sum;            /* of every byte read, when set */
        int target_fd;
        int staging_fd;
        char *staging_name;
        TarLimits limits;
        uint64_t bytes, entries;
        PaxFields global;
        GHashTable *files;      /* normalized names of the non-directories made: hard link targets */
        GHashTable *dirs;       /* normalized name → DirMeta */
        char *message;
} Unpacker;

static void unpacker_done(Unpacker *u) {
        closep(&u->target_fd);
        closep(&u->staging_fd);
        g_free(u->staging_name);
        pax_fields_clear(&u->global);
        if (u->files)
                g_hash_table_unref(u->files);
        if (u->dirs)
                g_hash_table_unref(u->dirs);
        g_free(u->message);
}

static ssize_t input_read(Unpacker *u, void *buf, size_t size) {
        ssize_t n;

        n = u->parent ? tar_reader_read_raw(u->parent, buf, size) : loop_read(u->in_fd, buf, size);
        if (n > 0 && u->sum)
                sha256_update(u->sum, buf, (size_t) n);
        return n;
}

static mode_t unpacker_mode_mask(const Unpacker *u) {
        return u->limits.keep_ownership ? 07777 : 01777;
}

/* 1: a full block; 0: end of stream before its first byte; -EBADMSG: ends inside. */
static int read_block(Unpacker *u, void *buf, const char *what) {
        ssize_t n = input_read(u, buf, BLOCK_SIZE);

        if (n < 0)
                return fail(&u->message, (int) n, NULL, "cannot read the archive: %s", g_strerror((int) -n));
        if (n == 0)
                return 0;
        if (n < BLOCK_SIZE)
                return fail(&u->message, -EBADMSG, what, "archive truncated inside a header");
        return 1;
}

static int skip_bytes(Unpacker *u, uint64_t size, const char *name) {
        char buf[BLOCK_SIZE];

        while (size > 0) {
                size_t want = MIN(size, (uint64_t) sizeof(buf));
                ssize_t n = input_read(u, buf, want);
                if (n < 0)
                        return fail(&u->message, (int) n, NULL, "cannot read the archive: %s", g_strerror((int) -n));
                if ((size_t) n < want)
                        return fail(&u->message, -EBADMSG, name, "archive truncated inside the data");
                size -= want;
        }
        return 0;
}

/* Octal (leading spaces, ending at a space or NUL) or GNU's base-256 for big values. */
static int number_parse(const char *field, size_t width, uint64_t *ret) {
        const unsigned char *f = (const unsigned char *) field;
        uint64_t v = 0;
        size_t i = 0;

        if (f[0] == 0x80) {
                for (i = 1; i < width; i++) {
                        if (v >> 56)
                                return -ERANGE;
                        v = (v << 8) | f[i];
                }
                *ret = v;
                return 0;
        }
        if (f[0] & 0x80)
                return -ERANGE; /* negative base-256 */
        while (i < width && f[i] == ' ')
                i++;
        for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
                if (v >> 60)
                        return -ERANGE;
                v = v * 8 + (f[i] - '0');
        }
        for (; i < width; i++)
                if (f[i] != ' ' && f[i] != 0)
                        return -EINVAL;
        *ret = v;
        return 0;
}

static int decimal_parse(const char *s, uint64_t *ret) {
        char *end;
        guint64 v;

        if (!g_ascii_isdigit(s[0]))
                return -EINVAL;
        errno = 0;
        v = g_ascii_strtoull(s, &end, 10);
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* pax times: decimal seconds, maybe negative, with an optional fraction. */
static int pax_time_parse(const char *s, struct timespec *ret) {
        bool negative = s[0] == '-';
        g_autofree char *secs = g_strndup(s + negative, strcspn(s + negative, "."));
        const char *frac = s + negative + strlen(secs);
        uint64_t v;
        long ns = 0;
        int r;

        r = decimal_parse(secs, &v);
        if (r < 0 || v > INT64_MAX / 2)
                return -EINVAL;
        if (*frac == '.') {
                long scale = 100000000;
                for (frac++; *frac; frac++) {
                        if (!g_ascii_isdigit(*frac))
                                return -EINVAL;
                        ns += (*frac - '0') * scale;
                        scale /= 10;
                }
        }
        if (!negative)
                *ret = (struct timespec) { .tv_sec = (time_t) v, .tv_nsec = ns };
        else if (ns == 0)
                *ret = (struct timespec) { .tv_sec = -(time_t) v };
        else
                *ret = (struct timespec) { .tv_sec = -(time_t) v - 1, .tv_nsec = 1000000000L - ns };
        return 0;
}

static int pax_record_apply(Unpacker *u, PaxFields *f, const char *key, const char *value, size_t value_len) {
        bool is_name = streq(key, "path") || streq(key, "linkpath");
        int r = 0;

        if (is_name && strlen(value) != value_len)
                return fail(&u->message, -EBADMSG, value, "name holds a NUL byte");
        if (streq(key, "path"))
                SWAP_FREE(f->path, g_strdup(value));
        else if (streq(key, "linkpath"))
                SWAP_FREE(f->linkpath, g_strdup(value));
        else if (streq(key, "size")) {
                r = decimal_parse(value, &f->size);
                f->has_size = true;
        } else if (streq(key, "uid")) {
                r = decimal_parse(value, &f->uid);
                f->has_uid = true;
        } else if (streq(key, "gid")) {
                r = decimal_parse(value, &f->gid);
                f->has_gid = true;
        } else if (streq(key, "mtime")) {
                r = pax_time_parse(value, &f->mtime);
                f->has_mtime = true;
        } else if (g_str_has_prefix(key, "GNU.sparse."))
                return fail(&u->message, -EBADMSG, f->path, "sparse files are not supported");
        /* atime, ctime, uname, gname, charset, comment, xattrs: not kept */
        if (r < 0)
                return fail(&u->message, -EBADMSG, f->path, "bad pax value for '%s'", key);
        return 0;
}

static int pax_parse(Unpacker *u, const char *data, size_t size, PaxFields *f) {
        size_t pos = 0;
        int r;

        while (pos < size) {
                const char *rec = data + pos, *sp, *eq;
                g_autofree char *key = NULL, *value = NULL;
                uint64_t len = 0;
                size_t i;

                for (i = 0; pos + i < size && g_ascii_isdigit(rec[i]) && i < 20; i++)
                        len = len * 10 + (uint64_t) (rec[i] - '0');
                if (i == 0 || pos + i >= size || rec[i] != ' ' || len > size - pos || len <= i + 1)
                        return fail(&u->message, -EBADMSG, NULL, "malformed pax header");
                if (rec[len - 1] != '\n')
                        return fail(&u->message, -EBADMSG, NULL, "malformed pax record");
                sp = rec + i;
                eq = memchr(sp + 1, '=', rec + len - 1 - (sp + 1));
                if (!eq || eq == sp + 1)
                        return fail(&u->message, -EBADMSG, NULL, "malformed pax record");
                key = g_strndup(sp + 1, eq - (sp + 1));
                value = g_malloc(rec + len - 1 - (eq + 1) + 1);
                memcpy(value, eq + 1, rec + len - 1 - (eq + 1));
                value[rec + len - 1 - (eq + 1)] = 0;
                r = pax_record_apply(u, f, key, value, rec + len - 1 - (eq + 1));
                if (r < 0)
                        return r;
                pos += len;
        }
        return 0;
}

static bool header_is_zero(const UstarHeader *h) {
        const char *b = (const char *) h;

        for (size_t i = 0; i < BLOCK_SIZE; i++)
                if (b[i])
                        return false;
        return true;
}

static char *header_name(const UstarHeader *h) {
        g_autofree char *name = g_strndup(h->name, sizeof(h->name));

        /* Only POSIX ustar has a prefix; GNU keeps other fields there. */
        if (memcmp(h->magic, "ustar", 6) == 0 && h->prefix[0])
                return g_strdup_printf("%.*s/%s", (int) sizeof(h->prefix), h->prefix, name);
        return TAKE_PTR(name);
}

static int header_verify(Unpacker *u, const UstarHeader *h) {
        uint64_t stored;
        g_autofree char *name = header_name(h);

        if (number_parse(h->chksum, sizeof(h->chksum), &stored) < 0 ||
            (stored != header_sum(h, false) && stored != header_sum(h, true)))
                return fail(&u->message, -EBADMSG, name, "bad header checksum");
        return 0;
}

static int header_number(Unpacker *u, const UstarHeader *h, const char *field, size_t width, const char *what, uint64_t *ret) {
        if (number_parse(field, width, ret) < 0) {
                g_autofree char *name = header_name(h);
                return fail(&u->message, -EBADMSG, name, "bad %s field", what);
        }
        return 0;
}

/* Reads the data of a pax or GNU long-name header. */
static int meta_read(Unpacker *u, const UstarHeader *h, char **ret, size_t *ret_size) {
        g_autofree char *name = header_name(h);
        g_autofree char *data = NULL;
        uint64_t size;
        ssize_t n;
        int r;

        r = header_number(u, h, h->size, sizeof(h->size), "size", &size);
        if (r < 0)
                return r;
        if (size > META_SIZE_MAX)
                return fail(&u->message, -EFBIG, name, "extended header too large");
        data = g_malloc(size + 1);
        n = input_read(u, data, size);
        if (n < 0)
                return fail(&u->message, (int) n, NULL, "cannot read the archive: %s", g_strerror((int) -n));
        if ((uint64_t) n < size)
                return fail(&u->message, -EBADMSG, name, "archive truncated inside an extended header");
        data[size] = 0;
        r = skip_bytes(u, padding_of(size), name);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(data);
        *ret_size = size;
        return 0;
}

/* Builds the entry from its header, the pax fields (this entry's over the global ones) and
 * GNU long names. */
static int entry_from_header(Unpacker *u, const UstarHeader *h, const PaxFields *local,
                             char *long_name, char *long_link, Entry *e) {
        const PaxFields *layers[] = { local, &u->global };
        uint64_t mode, mtime;
        int r;

        e->type = h->typeflag;
        e->name = local->path ? g_strdup(local->path) : u->global.path ? g_strdup(u->global.path) :
                  long_name ? g_strdup(long_name) : header_name(h);
        e->linkname = local->linkpath ? g_strdup(local->linkpath) : u->global.linkpath ? g_strdup(u->global.linkpath) :
                      long_link ? g_strdup(long_link) : g_strndup(h->linkname, sizeof(h->linkname));

        if ((r = header_number(u, h, h->mode, sizeof(h->mode), "mode", &mode)) < 0 ||
            (r = header_number(u, h, h->uid, sizeof(h->uid), "uid", &e->uid)) < 0 ||
            (r = header_number(u, h, h->gid, sizeof(h->gid), "gid", &e->gid)) < 0 ||
            (r = header_number(u, h, h->size, sizeof(h->size), "size", &e->size)) < 0 ||
            (r = header_number(u, h, h->mtime, sizeof(h->mtime), "mtime", &mtime)) < 0)
                return r;
        e->mode = (mode_t) (mode & 07777);
        e->mtime = (struct timespec) { .tv_sec = (time_t) MIN(mtime, (uint64_t) INT64_MAX) };

        for (int i = ELEMENTSOF(layers) - 1; i >= 0; i--) {
                if (layers[i]->has_size)
                        e->size = layers[i]->size;
                if (layers[i]->has_uid)
                        e->uid = layers[i]->uid;
                if (layers[i]->has_gid)
                        e->gid = layers[i]->gid;
                if (layers[i]->has_mtime)
                        e->mtime = layers[i]->mtime;
        }
        return 0;
}

/* The entry's name (or a hard link's target: what) relative to the target: no empty or "."
 * components; refuses absolute names, "..", over-long names and components. "" for the
 * target directory itself. */
static int name_normalize(Unpacker *u, const char *name, const char *entry, const char *what, char **ret) {
        g_auto(GStrv) parts = NULL;
        g_autoptr(GPtrArray) out = g_ptr_array_new();

        if (isempty(name))
                return fail(&u->message, -EBADMSG, entry, "empty %s", what);
        if (strlen(name) >= PATH_MAX)
                return fail(&u->message, -EBADMSG, entry, "%s too long", what);
        if (name[0] == '/')
                return fail(&u->message, -EBADMSG, entry, "absolute %s", what);
        parts = g_strsplit(name, "/", -1);
        for (char **c = parts; *c; c++) {
                if (isempty(*c) || streq(*c, "."))
                        continue;
                if (streq(*c, ".."))
                        return fail(&u->message, -EBADMSG, entry, "%s contains '..'", what);
                if (strlen(*c) > NAME_MAX)
                        return fail(&u->message, -EBADMSG, entry, "%s has a component over %d bytes", what, NAME_MAX);
                g_ptr_array_add(out, *c);
        }
        if (out->len > DEPTH_MAX)
                return fail(&u->message, -EBADMSG, entry, "%s has more than %d components", what, DEPTH_MAX);
        g_ptr_array_add(out, NULL);
        *ret = g_strjoinv("/", (char **) out->pdata);
        return 0;
}

static const char *name_base(const char *norm) {
        const char *slash = strrchr(norm, '/');
        return slash ? slash + 1 : norm;
}

static char *name_parent(const char *norm) {
        const char *slash = strrchr(norm, '/');
        return slash ? g_strndup(norm, slash - norm) : NULL;
}

static int parent_error(Unpacker *u, int r, const char *entry) {
        if (r == -ELOOP)
                return fail(&u->message, -EBADMSG, entry, "parent path goes through a symbolic link");
        if (r == -ENOTDIR)
                return fail(&u->message, -EBADMSG, entry, "parent path is not a directory");
        if (r == -EXDEV)
                return fail(&u->message, -EBADMSG, entry, "parent path leaves the target directory");
        return fail(&u->message, r, entry, "cannot open the parent directory: %s", g_strerror(-r));
}

/* Makes the missing directories of parent, one component at a time, never through a link. */
static int parents_make(Unpacker *u, const char *parent, const char *entry) {
        g_auto(GStrv) parts = g_strsplit(parent, "/", -1);
        g_autoptr(GString) sofar = g_string_new(NULL);
        _cleanup_close_ int cur = fcntl(u->staging_fd, F_DUPFD_CLOEXEC, 3);

        if (cur < 0)
                return fail(&u->message, -errno, entry, "cannot duplicate a descriptor: %s", g_strerror(errno));
        for (char **c = parts; *c; c++) {
                int fd;

                if (sofar->len > 0)
                        g_string_append_c(sofar, '/');
                g_string_append(sofar, *c);
                if (mkdirat(cur, *c, 0700) >= 0) {
                        DirMeta *m = g_new0(DirMeta, 1);
                        m->mode = 0755;
                        g_hash_table_replace(u->dirs, g_strdup(sofar->str), m);
                } else if (errno != EEXIST)
                        return fail(&u->message, -errno, entry, "cannot make the parent directory: %s", g_strerror(errno));
                fd = open_beneath(cur, *c, O_RDONLY | O_DIRECTORY);
                if (fd < 0)
                        return parent_error(u, fd, entry);
                closep(&cur);
                cur = fd;
        }
        return 0;
}

/* A staged directory (NULL: the staging directory itself), or -errno. */
static int staged_dir_open(Unpacker *u, const char *rel) {
        int fd;

        if (rel)
                return open_beneath(u->staging_fd, rel, O_RDONLY | O_DIRECTORY);
        fd = fcntl(u->staging_fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -errno : fd;
}

/* The directory the entry goes into, made if missing. */
static int parent_open(Unpacker *u, const char *norm, const char *entry) {
        g_autofree char *parent = name_parent(norm);
        int fd, r;

        fd = staged_dir_open(u, parent);
        if (fd == -ENOENT && parent) {
                r = parents_make(u, parent, entry);
                if (r < 0)
                        return r;
                fd = staged_dir_open(u, parent);
        }
        return fd < 0 ? parent_error(u, fd, entry) : fd;
}

/* Removes what an earlier entry of the same name left, unless it is a directory. */
static int room_make(Unpacker *u, int parent_fd, const char *norm, const char *entry) {
        const char *base = name_base(norm);
        struct stat st;

        if (fstatat(parent_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return fail(&u->message, -errno, entry, "cannot stat: %s", g_strerror(errno));
        }
        if (S_ISDIR(st.st_mode))
                return fail(&u->message, -EBADMSG, entry, "would replace a directory of the archive");
        if (unlinkat(parent_fd, base, 0) < 0)
                return fail(&u->message, -errno, entry, "cannot replace: %s", g_strerror(errno));
        g_hash_table_remove(u->files, norm);
        return 0;
}

static int owner_apply(Unpacker *u, int dir_fd, const char *base, uint64_t uid, uint64_t gid, int flags, const char *entry) {
        if (!u->limits.keep_ownership)
                return 0;
        if (uid >= UINT32_MAX || gid >= UINT32_MAX)
                return fail(&u->message, -EBADMSG, entry, "uid or gid out of range");
        if (fchownat(dir_fd, base, (uid_t) uid, (gid_t) gid, flags) < 0)
                return fail(&u->message, -errno, entry, "cannot change the owner: %s", g_strerror(errno));
        return 0;
}

static int data_copy(Unpacker *u, int fd, uint64_t size, const char *entry) {
        g_autofree char *buf = g_malloc(COPY_CHUNK);
        uint64_t left = size;
        int r;

        while (left > 0) {
                size_t want = MIN(left, (uint64_t) COPY_CHUNK);
                ssize_t n = input_read(u, buf, want);

                if (n < 0)
                        return fail(&u->message, (int) n, NULL, "cannot read the archive: %s", g_strerror((int) -n));
                if ((size_t) n < want)
                        return fail(&u->message, -EBADMSG, entry, "archive truncated inside the data");
                r = loop_write(fd, buf, want);
                if (r < 0)
                        return fail(&u->message, r, entry, "cannot write: %s", g_strerror(-r));
                left -= want;
        }
        return skip_bytes(u, padding_of(size), entry);
}

/* The entry's data counted against the archive's cap and the operation's. */
static int count_data(Unpacker *u, uint64_t size, const char *name) {
        const TarLimits *l = &u->limits;

        if (l->max_bytes > 0 && size > l->max_bytes - u->bytes)
                return fail(&u->message, -EFBIG, name, "archive holds more than %" PRIu64 " bytes", l->max_bytes);
        if (l->total_bytes && l->max_total_bytes > 0 &&
            (*l->total_bytes > l->max_total_bytes || size > l->max_total_bytes - *l->total_bytes))
                return fail(&u->message, -EFBIG, name, "more than %" PRIu64 " bytes in all", l->max_total_bytes);
        u->bytes += size;
        if (l->total_bytes)
                *l->total_bytes += size;
        return 0;
}

static int unpack_regular(Unpacker *u, const Entry *e, const char *norm) {
        const struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, e->mtime };
        _cleanup_close_ int parent_fd = -1, fd = -1;
        const char *base = name_base(norm);
        int r;

        r = count_data(u, e->size, e->name);
        if (r < 0)
                return r;

        parent_fd = parent_open(u, norm, e->name);
        if (parent_fd < 0)
                return parent_fd;
        r = room_make(u, parent_fd, norm, e->name);
        if (r < 0)
                return r;
        fd = openat(parent_fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return fail(&u->message, -errno, e->name, "cannot create: %s", g_strerror(errno));
        r = data_copy(u, fd, e->size, e->name);
        if (r < 0)
                return r;
        /* chown before chmod: chown clears the setuid and setgid bits. */
        r = owner_apply(u, fd, "", e->uid, e->gid, AT_EMPTY_PATH, e->name);
        if (r < 0)
                return r;
        if (fchmod(fd, e->mode & unpacker_mode_mask(u)) < 0 || futimens(fd, times) < 0)
                return fail(&u->message, -errno, e->name, "cannot set mode or time: %s", g_strerror(errno));
        g_hash_table_add(u->files, g_strdup(norm));
        return 0;
}

static int unpack_symlink(Unpacker *u, const Entry *e, const char *norm) {
        const struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, e->mtime };
        _cleanup_close_ int parent_fd = -1;
        const char *base = name_base(norm);
        int r;

        if (isempty(e->linkname))
                return fail(&u->message, -EBADMSG, e->name, "symbolic link with an empty target");
        if (strlen(e->linkname) >= PATH_MAX)
                return fail(&u->message, -EBADMSG, e->name, "symbolic link target too long");
        parent_fd = parent_open(u, norm, e->name);
        if (parent_fd < 0)
                return parent_fd;
        r = room_make(u, parent_fd, norm, e->name);
        if (r < 0)
                return r;
        if (symlinkat(e->linkname, parent_fd, base) < 0)
                return fail(&u->message, -errno, e->name, "cannot create the link: %s", g_strerror(errno));
        r = owner_apply(u, parent_fd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW, e->name);
        if (r < 0)
                return r;
        if (utimensat(parent_fd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(&u->message, -errno, e->name, "cannot set the time: %s", g_strerror(errno));
        g_hash_table_add(u->files, g_strdup(norm));
        return 0;
}

static int unpack_fifo(Unpacker *u, const Entry *e, const char *norm) {
        const struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, e->mtime };
        _cleanup_close_ int parent_fd = -1;
        const char *base = name_base(norm);
        int r;

        if (e->size != 0)
                return fail(&u->message, -EBADMSG, e->name, "fifo with data");
        parent_fd = parent_open(u, norm, e->name);
        if (parent_fd < 0)
                return parent_fd;
        r = room_make(u, parent_fd, norm, e->name);
        if (r < 0)
                return r;
        if (mkfifoat(parent_fd, base, 0600) < 0)
                return fail(&u->message, -errno, e->name, "cannot make the fifo: %s", g_strerror(errno));
        r = owner_apply(u, parent_fd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW, e->name);
        if (r < 0)
                return r;
        /* The staging directory is ours alone: the name is still the fifo just made. */
        if (fchmodat(parent_fd, base, e->mode & unpacker_mode_mask(u), 0) < 0 ||
            utimensat(parent_fd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(&u->message, -errno, e->name, "cannot set mode or time: %s", g_strerror(errno));
        g_hash_table_add(u->files, g_strdup(norm));
        return 0;
}

static int unpack_hardlink(Unpacker *u, const Entry *e, const char *norm) {
        g_autofree char *target = NULL, *target_parent = NULL;
        _cleanup_close_ int parent_fd = -1, target_parent_fd = -1;
        int r;

        if (isempty(e->linkname))
                return fail(&u->message, -EBADMSG, e->name, "hard link with an empty target");
        r = name_normalize(u, e->linkname, e->name, "hard link target", &target);
        if (r < 0)
                return r;
        if (streq(target, norm) || !g_hash_table_contains(u->files, target)) {
                g_autofree char *q = quote_name(e->linkname);
                return fail(&u->message, -EBADMSG, e->name, "hard link to %s, which is not an earlier entry of the archive", q);
        }
        target_parent = name_parent(target);
        target_parent_fd = staged_dir_open(u, target_parent);
        if (target_parent_fd < 0)
                return parent_error(u, target_parent_fd, e->name);
        parent_fd = parent_open(u, norm, e->name);
        if (parent_fd < 0)
                return parent_fd;
        r = room_make(u, parent_fd, norm, e->name);
        if (r < 0)
                return r;
        if (linkat(target_parent_fd, name_base(target), parent_fd, name_base(norm), 0) < 0)
                return fail(&u->message, -errno, e->name, "cannot create the hard link: %s", g_strerror(errno));
        g_hash_table_add(u->files, g_strdup(norm));
        return 0;
}

static int unpack_directory(Unpacker *u, const Entry *e, const char *norm) {
        _cleanup_close_ int parent_fd = -1;
        const char *base = name_base(norm);
        DirMeta *m;

        parent_fd = parent_open(u, norm, e->name);
        if (parent_fd < 0)
                return parent_fd;
        /* 0700 while it fills; its own mode once every entry is in. */
        if (mkdirat(parent_fd, base, 0700) < 0) {
                struct stat st;

                if (errno != EEXIST)
                        return fail(&u->message, -errno, e->name, "cannot make the directory: %s", g_strerror(errno));
                if (fstatat(parent_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return fail(&u->message, -errno, e->name, "cannot stat: %s", g_strerror(errno));
                if (!S_ISDIR(st.st_mode)) {
                        if (unlinkat(parent_fd, base, 0) < 0 || mkdirat(parent_fd, base, 0700) < 0)
                                return fail(&u->message, -errno, e->name, "cannot replace: %s", g_strerror(errno));
                        g_hash_table_remove(u->files, norm);
                }
        }
        m = g_new0(DirMeta, 1);
        *m = (DirMeta) { .explicit = true, .mode = e->mode, .uid = e->uid, .gid = e->gid, .mtime = e->mtime };
        g_hash_table_replace(u->dirs, g_strdup(norm), m);
        return 0;
}

static int unpack_entry(Unpacker *u, const Entry *e) {
        g_autofree char *norm = NULL;
        char type = e->type;
        int r;

        if (u->limits.max_entries > 0 && ++u->entries > u->limits.max_entries)
                return fail(&u->message, -EFBIG, e->name, "archive holds more than %" PRIu64 " entries", u->limits.max_entries);
        r = name_normalize(u, e->name, e->name, "name", &norm);
        if (r < 0)
                return r;
        /* Pre-POSIX archives mark directories by a trailing slash only. */
        if (IN_SET(type, '\0', '0') && g_str_has_suffix(e->name, "/"))
                type = '5';
        if (IN_SET(type, '1', '2', '5') && e->size != 0)
                return fail(&u->message, -EBADMSG, e->name, "link or directory with data");
        if (isempty(norm) && type != '5')
                return fail(&u->message, -EBADMSG, e->name, "names the target directory itself");
        if (strncmp(norm, u->staging_name, strcspn(norm, "/")) == 0 && strcspn(norm, "/") == strlen(u->staging_name))
                return fail(&u->message, -EBADMSG, e->name, "uses the name of the staging directory");

        switch (type) {
        case '0':
        case '\0':
        case '7':
                return unpack_regular(u, e, norm);
        case '1':
                return unpack_hardlink(u, e, norm);
        case '2':
                return unpack_symlink(u, e, norm);
        case '5':
                /* "." or "./": the target itself, which keeps its mode and owner */
                return isempty(norm) ? 0 : unpack_directory(u, e, norm);
        case '3':
        case '4':
                return fail(&u->message, -EBADMSG, e->name, "device nodes are not allowed");
        case '6':
                return unpack_fifo(u, e, norm);
        case 'S':
                return fail(&u->message, -EBADMSG, e->name, "sparse files are not supported");
        default:
                if (g_ascii_isprint(type))
                        return fail(&u->message, -EBADMSG, e->name, "unsupported entry type '%c'", type);
                return fail(&u->message, -EBADMSG, e->name, "unsupported entry type 0x%02x", (unsigned char) type);
        }
}

/* After the end marker a writer may still be sending record padding (GNU tar: up to 10 KiB);
 * read what keeps coming, but never wait long for a writer that keeps its end open. */
static void stream_drain(Unpacker *u) {
        char buf[BLOCK_SIZE];
        size_t total = 0;

        if (u->parent)
                return; /* the caller reads the rest of the entry */
        while (total < DRAIN_MAX) {
                struct pollfd pfd = { .fd = u->in_fd, .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, DRAIN_WAIT_MSEC) <= 0)
                        break;
                n = read(u->in_fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                total += (size_t) n;
        }
}

/* 1: the next entry (pax and GNU long-name headers applied) in *e; 0: the end marker. */
static int read_entry(Unpacker *u, const char *previous, Entry *e) {
        _cleanup_(pax_fields_clear) PaxFields local = {};
        g_autofree char *long_name = NULL, *long_link = NULL;
        unsigned meta_run = 0;
        int r;

        for (;;) {
                g_autofree char *data = NULL;
                UstarHeader h;
                size_t size = 0;

                r = read_block(u, &h, previous);
                if (r < 0)
                        return r;
                if (r == 0)
                        return fail(&u->message, -EBADMSG, previous, "archive ends without its end marker");
                if (header_is_zero(&h)) {
                        if (meta_run > 0)
                                return fail(&u->message, -EBADMSG, NULL, "extended header without an entry");
                        return 0;
                }
                r = header_verify(u, &h);
                if (r < 0)
                        return r;

                if (IN_SET(h.typeflag, 'x', 'g', 'L', 'K')) {
                        if (++meta_run > META_RUN_MAX)
                                return fail(&u->message, -EBADMSG, NULL, "too many extended headers in a row");
                        r = meta_read(u, &h, &data, &size);
                        if (r < 0)
                                return r;
                        if (h.typeflag == 'x')
                                r = pax_parse(u, data, size, &local);
                        else if (h.typeflag == 'g')
                                r = pax_parse(u, data, size, &u->global);
                        else if (h.typeflag == 'L')
                                SWAP_FREE(long_name, g_strndup(data, size));
                        else
                                SWAP_FREE(long_link, g_strndup(data, size));
                        if (r < 0)
                                return r;
                        continue;
                }

                r = entry_from_header(u, &h, &local, long_name, long_link, e);
                if (r < 0)
                        return r;
                return 1;
        }
}

static int unpack_stream(Unpacker *u) {
        g_autofree char *previous = NULL;
        int r;

        for (;;) {
                _cleanup_(entry_clear) Entry e = {};

                r = read_entry(u, previous, &e);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = unpack_entry(u, &e);
                if (r < 0)
                        return r;
                SWAP_FREE(previous, TAKE_PTR(e.name));
        }
        stream_drain(u);
        return 0;
}

static mode_t dir_meta_mode(const Unpacker *u, const DirMeta *m) {
        return m->explicit ? m->mode & unpacker_mode_mask(u) : m->mode;
}

/* writable: keep the owner's write bit for now. Without it (and without CAP_DAC_OVERRIDE)
 * rename() cannot move the directory to another parent: it has to update "..". */
static int dir_meta_apply(Unpacker *u, int fd, const DirMeta *m, bool writable, const char *entry) {
        const struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, m->mtime };
        mode_t mode = dir_meta_mode(u, m) | (writable ? S_IWUSR : 0);
        int r;

        if (!m->explicit) {
                if (fchmod(fd, mode) < 0)
                        return fail(&u->message, -errno, entry, "cannot set the mode: %s", g_strerror(errno));
                return 0;
        }
        r = owner_apply(u, fd, "", m->uid, m->gid, AT_EMPTY_PATH, entry);
        if (r < 0)
                return r;
        if (fchmod(fd, mode) < 0 || futimens(fd, times) < 0)
                return fail(&u->message, -errno, entry, "cannot set mode or time: %s", g_strerror(errno));
        return 0;
}

static gint depth_compare(gconstpointer a, gconstpointer b) {
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t dx = 0, dy = 0;

        for (const char *p = x; *p; p++)
                dx += *p == '/';
        for (const char *p = y; *p; p++)
                dy += *p == '/';
        return dx > dy ? -1 : dx < dy ? 1 : strcmp(x, y);
}

/* Modes and times of the staged directories, deepest first: a parent's mtime changes with
 * each child made in it, and a read-only one would refuse them. */
static int dirs_finish(Unpacker *u) {
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        GHashTableIter it;
        gpointer key;
        int r;

        g_hash_table_iter_init(&it, u->dirs);
        while (g_hash_table_iter_next(&it, &key, NULL))
                g_ptr_array_add(names, key);
        g_ptr_array_sort(names, depth_compare);
        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                _cleanup_close_ int fd = open_beneath(u->staging_fd, name, O_RDONLY | O_DIRECTORY);

                if (fd < 0)
                        return fail(&u->message, fd, name, "cannot open: %s", g_strerror(-fd));
                r = dir_meta_apply(u, fd, g_hash_table_lookup(u->dirs, name), true, name);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* After the move: the directories of the archive without the owner's write bit get it taken
 * away. The one step that can fail after the target changed; it does not, for directories
 * that are the caller's own. */
static int dirs_make_read_only(Unpacker *u) {
        GHashTableIter it;
        gpointer key, value;

        g_hash_table_iter_init(&it, u->dirs);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                const DirMeta *m = value;
                _cleanup_close_ int fd = -1;

                if (dir_meta_mode(u, m) & S_IWUSR)
                        continue;
                fd = open_beneath(u->target_fd, key, O_RDONLY | O_DIRECTORY);
                if (fd < 0)
                        return fail(&u->message, fd, key, "cannot open: %s", g_strerror(-fd));
                if (fchmod(fd, dir_meta_mode(u, m)) < 0)
                        return fail(&u->message, -errno, key, "cannot set the mode: %s", g_strerror(errno));
        }
        return 0;
}

static int move_into(Unpacker *u, int from_fd, int to_fd, const char *name, const char *rel);

/* A staged directory over an existing one: its entries move in, then its mode and times. */
static int dir_merge(Unpacker *u, int from_fd, int to_fd, const char *name, const char *rel) {
        _cleanup_close_ int src = -1, dst = -1;
        g_autoptr(GPtrArray) children = NULL;
        const DirMeta *m;
        int r;

        src = openat(from_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (src < 0)
                return fail(&u->message, -errno, rel, "cannot open: %s", g_strerror(errno));
        dst = openat(to_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dst < 0)
                return fail(&u->message, -errno, rel, "cannot open the existing directory: %s", g_strerror(errno));
        /* The staged directory goes away; a read-only mode of the archive must not keep its
         * entries from moving out of it. */
        (void) fchmod(src, 0700);
        r = dir_list_sorted(src, &children);
        if (r < 0)
                return fail(&u->message, r, rel, "cannot list: %s", g_strerror(-r));
        for (guint i = 0; i < children->len; i++) {
                g_autofree char *child_rel = g_strconcat(rel, "/", children->pdata[i], NULL);

                r = move_into(u, src, dst, children->pdata[i], child_rel);
                if (r < 0)
                        return r;
        }
        m = g_hash_table_lookup(u->dirs, rel);
        if (m && m->explicit)
                return dir_meta_apply(u, dst, m, false, rel);
        return 0;
}

/* Puts the staged entry name of from_fd in place in to_fd. What it replaces ends up in the
 * staging directory (RENAME_EXCHANGE), removed with it. */
static int move_into(Unpacker *u, int from_fd, int to_fd, const char *name, const char *rel) {
        struct stat staged, existing;

        if (renameat2(from_fd, name, to_fd, name, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EEXIST)
                return fail(&u->message, -errno, rel, "cannot move into place: %s", g_strerror(errno));
        if (fstatat(from_fd, name, &staged, AT_SYMLINK_NOFOLLOW) < 0 ||
            fstatat(to_fd, name, &existing, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(&u->message, -errno, rel, "cannot stat: %s", g_strerror(errno));
        if (S_ISDIR(staged.st_mode) && S_ISDIR(existing.st_mode))
                return dir_merge(u, from_fd, to_fd, name, rel);
        if (!S_ISDIR(staged.st_mode) && !S_ISDIR(existing.st_mode)) {
                if (renameat(from_fd, name, to_fd, name) < 0)
                        return fail(&u->message, -errno, rel, "cannot replace: %s", g_strerror(errno));
                return 0;
        }
        if (renameat2(from_fd, name, to_fd, name, RENAME_EXCHANGE) < 0)
                return fail(&u->message, -errno, rel, "cannot replace: %s", g_strerror(errno));
        return 0;
}

static bool is_mount_root(const struct statx *stx, dev_t staging_dev) {
        if (stx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return stx->stx_attributes & STATX_ATTR_MOUNT_ROOT;
        return makedev(stx->stx_dev_major, stx->stx_dev_minor) != staging_dev; /* kernel < 5.8 */
}

/* Before anything moves: each rename of the commit must stay on one mount. An existing entry
 * that is a mount point can neither be replaced (EBUSY) nor merged into (EXDEV); finding that
 * out halfway would leave part of the archive in place. */
static int commit_check(Unpacker *u, int from_fd, int to_fd, const char *prefix, dev_t staging_dev) {
        g_autoptr(GPtrArray) names = NULL;
        int r;

        r = dir_list_sorted(from_fd, &names);
        if (r < 0)
                return fail(&u->message, r, prefix, "cannot list: %s", g_strerror(-r));
        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                g_autofree char *rel = prefix ? g_strconcat(prefix, "/", name, NULL) : g_strdup(name);
                _cleanup_close_ int src = -1, dst = -1;
                struct statx stx;
                struct stat st;

                if (statx(to_fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return fail(&u->message, -errno, rel, "cannot stat: %s", g_strerror(errno));
                }
                if (is_mount_root(&stx, staging_dev))
                        return fail(&u->message, -EXDEV, rel, "is a mount point: unpack into it on its own");
                if (!S_ISDIR(stx.stx_mode))
                        continue;
                if (fstatat(from_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return fail(&u->message, -errno, rel, "cannot stat: %s", g_strerror(errno));
                if (!S_ISDIR(st.st_mode))
                        continue;
                src = openat(from_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                dst = openat(to_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (src < 0 || dst < 0)
                        return fail(&u->message, -errno, rel, "cannot open: %s", g_strerror(errno));
                r = commit_check(u, src, dst, rel, staging_dev);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int staging_check(Unpacker *u) {
        struct stat st;

        if (fstat(u->staging_fd, &st) < 0)
                return fail(&u->message, -errno, NULL, "cannot stat the staging directory: %s", g_strerror(errno));
        return commit_check(u, u->staging_fd, u->target_fd, NULL, st.st_dev);
}

static int staging_commit(Unpacker *u) {
        g_autoptr(GPtrArray) names = NULL;
        int r;

        r = dir_list_sorted(u->staging_fd, &names);
        if (r < 0)
                return fail(&u->message, r, NULL, "cannot list the staging directory: %s", g_strerror(-r));
        for (guint i = 0; i < names->len; i++) {
                r = move_into(u, u->staging_fd, u->target_fd, names->pdata[i], names->pdata[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int staging_create(Unpacker *u) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                g_autofree char *name = g_strdup_printf(".tar-unpack-%08x", g_random_int());

                if (mkdirat(u->target_fd, name, 0700) < 0) {
                        if (errno == EEXIST)
                                continue;
                        return fail(&u->message, -errno, NULL, "cannot make the staging directory: %s", g_strerror(errno));
                }
                u->staging_name = TAKE_PTR(name);
                u->staging_fd = open_beneath(u->target_fd, u->staging_name, O_RDONLY | O_DIRECTORY);
                if (u->staging_fd < 0)
                        return fail(&u->message, u->staging_fd, NULL, "cannot open the staging directory: %s",
                                    g_strerror(-u->staging_fd));
                return 0;
        }
        return fail(&u->message, -EEXIST, NULL, "cannot make the staging directory");
}

static void staging_remove(Unpacker *u) {
        if (!u->staging_name)
                return;
        if (u->staging_fd >= 0)
                (void) rm_rf_children_at(u->staging_fd);
        (void) unlinkat(u->target_fd, u->staging_name, AT_REMOVEDIR);
}

/* The archive u reads, unpacked into path inside root_fd through a staging directory. */
static int unpack_into(Unpacker *u, int root_fd, const char *path) {
        bool committed = false;
        struct stat before;
        int r;

        if (!path || path[0] != '/' || path_has_dotdot(path))
                return fail(&u->message, -EINVAL, path, "not an absolute path without '..'");
        u->target_fd = open_in_root(root_fd, path, O_RDONLY | O_DIRECTORY);
        if (u->target_fd < 0)
                return fail(&u->message, u->target_fd, path, "cannot open the directory: %s", g_strerror(-u->target_fd));
        if (fstat(u->target_fd, &before) < 0)
                return fail(&u->message, -errno, path, "cannot stat: %s", g_strerror(errno));

        r = staging_create(u);
        if (r >= 0)
                r = unpack_stream(u);
        if (r >= 0)
                r = dirs_finish(u);
        if (r >= 0)
                r = staging_check(u);
        if (r >= 0) {
                r = staging_commit(u);
                committed = true;
        }
        if (r >= 0)
                r = dirs_make_read_only(u);
        staging_remove(u);
        if (r < 0 && !committed) {
                /* The staging directory came and went: the target's times stay as they were. */
                const struct timespec times[2] = { before.st_atim, before.st_mtim };
                (void) futimens(u->target_fd, times);
        }
        return r;
}

static Unpacker unpacker_make(int in_fd, const TarLimits *limits) {
        return (Unpacker) {
                .in_fd = in_fd,
                .target_fd = -1,
                .staging_fd = -1,
                .limits = limits ? *limits : (TarLimits) {},
                .files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                .dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
}

int tar_unpack(int in_fd, int root_fd, const char *path, const TarLimits *limits, char **ret_message) {
        _cleanup_(unpacker_done) Unpacker u = unpacker_make(in_fd, limits);
        int r;

        assert(in_fd >= 0);
        assert(root_fd >= 0);

        r = unpack_into(&u, root_fd, path);
        if (r < 0 && ret_message)
                *ret_message = TAKE_PTR(u.message);
        return r;
}

/* ---- an enclosing archive, entry by entry ---- */

struct TarReader {
        Unpacker u;             /* reads the headers; its limits count the entries and their data */
        Entry entry;
        char *name;             /* the entry's name normalized: no "./", no empty components */
        uint64_t left;          /* of the current entry's data */
        size_t padding;         /* after it */
        bool end;
};

int tar_reader_new(int in_fd, const TarLimits *limits, TarReader **ret) {
        TarReader *r;

        assert(in_fd >= 0);
        assert(ret);

        r = g_new0(TarReader, 1);
        r->u = unpacker_make(in_fd, limits);
        *ret = r;
        return 0;
}

TarReader *tar_reader_free(TarReader *r) {
        if (!r)
                return NULL;
        unpacker_done(&r->u);
        entry_clear(&r->entry);
        g_free(r->name);
        g_free(r);
        return NULL;
}

/* Data of the current entry, as the nested Unpacker wants it: a short read only at its end. */
static ssize_t tar_reader_read_raw(TarReader *r, void *buf, size_t size) {
        ssize_t n;

        size = MIN(size, r->left);
        if (size == 0)
                return 0;
        n = loop_read(r->u.in_fd, buf, size);
        if (n < 0)
                return fail(&r->u.message, (int) n, NULL, "cannot read the archive: %s", g_strerror((int) -n));
        if ((size_t) n < size)
                return fail(&r->u.message, -EBADMSG, r->entry.name, "archive truncated inside the data");
        r->left -= (uint64_t) n;
        return n;
}

ssize_t tar_reader_read(TarReader *r, void *buf, size_t size, char **ret_message) {
        ssize_t n;

        assert(r);
        n = tar_reader_read_raw(r, buf, size);
        if (n < 0 && ret_message)
                *ret_message = TAKE_PTR(r->u.message);
        return n;
}

/* What the caller left of the current entry, and its padding. */
static int reader_skip(TarReader *r) {
        char buf[COPY_CHUNK];

        while (r->left > 0) {
                ssize_t n = tar_reader_read_raw(r, buf, sizeof(buf));
                if (n < 0)
                        return (int) n;
        }
        if (r->padding > 0) {
                size_t pad = r->padding;
                r->padding = 0;
                return skip_bytes(&r->u, pad, r->entry.name);
        }
        return 0;
}

int tar_reader_next(TarReader *r, const char **ret_name, char *ret_type, uint64_t *ret_size, char **ret_message) {
        g_autofree char *previous = NULL, *norm = NULL;
        Unpacker *u;
        int k;

        assert(r);
        u = &r->u;
        if (r->end)
                return 0;
        k = reader_skip(r);
        if (k < 0)
                goto fail;
        previous = TAKE_PTR(r->entry.name);
        entry_clear(&r->entry);
        k = read_entry(u, previous, &r->entry);
        if (k < 0)
                goto fail;
        if (k == 0) {
                r->end = true;
                stream_drain(u);
                return 0;
        }
        if (u->limits.max_entries > 0 && ++u->entries > u->limits.max_entries) {
                k = fail(&u->message, -EFBIG, r->entry.name, "archive holds more than %" PRIu64 " entries", u->limits.max_entries);
                goto fail;
        }
        k = count_data(u, r->entry.size, r->entry.name);
        if (k < 0)
                goto fail;
        k = name_normalize(u, r->entry.name, r->entry.name, "name", &norm);
        if (k < 0)
                goto fail;
        if (IN_SET(r->entry.type, '\0', '0') && g_str_has_suffix(r->entry.name, "/"))
                r->entry.type = '5';
        if (IN_SET(r->entry.type, '1', '2', '3', '4', '5', '6')) {
                /* no data, whatever the size field says (GNU tar does the same for links) */
                if (r->entry.size != 0) {
                        k = fail(&u->message, -EBADMSG, r->entry.name, "entry of type '%c' with data", r->entry.type);
                        goto fail;
                }
        }
        r->left = r->entry.size;
        r->padding = padding_of(r->entry.size);
        SWAP_FREE(r->name, TAKE_PTR(norm));
        *ret_name = r->name;
        *ret_type = IN_SET(r->entry.type, '\0', '7') ? '0' : r->entry.type;
        *ret_size = r->entry.size;
        return 1;

fail:
        if (ret_message)
                *ret_message = TAKE_PTR(u->message);
        return k;
}

int tar_reader_unpack(TarReader *r, int root_fd, const char *path, const TarLimits *limits, char **ret_digest,
                      char **ret_message) {
        _cleanup_(unpacker_done) Unpacker u = unpacker_make(-1, limits);
        int k;

        assert(r);
        assert(root_fd >= 0);

        u.parent = r;
        u.sum = sha256_new();
        k = unpack_into(&u, root_fd, path);
        if (k >= 0) {
                /* The digest covers the whole entry: whatever follows the nested end marker too. */
                char buf[COPY_CHUNK];
                ssize_t n;

                while ((n = input_read(&u, buf, sizeof(buf))) > 0)
                        ;
                if (n < 0)
                        k = (int) n;
        }
        if (k >= 0 && ret_digest)
                *ret_digest = sha256_finish(u.sum);
        sha256_free(TAKE_PTR(u.sum));
        if (k < 0 && ret_message)
                *ret_message = TAKE_PTR(r->u.message) ?: TAKE_PTR(u.message);
        return k;
}

/* ---- writing an enclosing archive ---- */

struct TarWriter {
        Packer p;
};

TarWriter *tar_writer_new(int out_fd) {
        TarWriter *w;

        assert(out_fd >= 0);
        w = g_new0(TarWriter, 1);
        w->p = (Packer) { .out_fd = out_fd };
        return w;
}

TarWriter *tar_writer_free(TarWriter *w) {
        if (!w)
                return NULL;
        packer_done(&w->p);
        g_free(w);
        return NULL;
}

static int writer_header(TarWriter *w, const char *name, uint64_t size) {
        TarEntry e = {
                .name = name,
                .type = '0',
                .mode = 0644,
                .size = size,
                .mtime = (int64_t) (g_get_real_time() / G_USEC_PER_SEC),
        };

        return write_header(&w->p, &e);
}

int tar_writer_add_data(TarWriter *w, const char *name, const void *data, size_t size, char **ret_message) {
        int r;

        assert(w);
        assert(name);

        r = writer_header(w, name, size);
        if (r >= 0)
                r = packer_write(&w->p, data, size);
        if (r >= 0)
                r = packer_write_zeros(&w->p, padding_of(size));
        if (r < 0 && ret_message)
                *ret_message = TAKE_PTR(w->p.message);
        return r;
}

int tar_writer_add_tree(TarWriter *w, const char *name, int root_fd, const char *path, char **ret_digest,
                        uint64_t *ret_size, char **ret_message) {
        _cleanup_(packer_done) Packer count = {
                .out_fd = -1,
                .inodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        _cleanup_(packer_done) Packer inner = {
                .out_fd = w->p.out_fd,
                .sum = sha256_new(),
                .inodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        int r;

        assert(w);
        assert(name);
        assert(root_fd >= 0);

        /* A tar header carries the size before the data: a first pass over the metadata counts
         * it, the second writes the nested archive straight into the stream. */
        r = pack_tree(&count, root_fd, path);
        if (r < 0)
                goto finish;
        r = writer_header(w, name, count.offset);
        if (r < 0)
                goto finish;
        r = pack_tree(&inner, root_fd, path);
        w->p.offset += inner.offset;
        if (r < 0)
                goto finish;
        if (inner.offset != count.offset) {
                r = fail(&inner.message, -EAGAIN, path, "changed while being archived");
                goto finish;
        }
        r = packer_write_zeros(&w->p, padding_of(inner.offset));
        if (r < 0)
                goto finish;
        if (ret_digest)
                *ret_digest = sha256_finish(inner.sum);
        if (ret_size)
                *ret_size = inner.offset;

finish:
        if (r < 0 && ret_message)
                *ret_message = TAKE_PTR(count.message) ?: TAKE_PTR(inner.message) ?: TAKE_PTR(w->p.message);
        return r;
}

int tar_writer_finish(TarWriter *w, char **ret_message) {
        int r;

        assert(w);
        r = pack_end(&w->p);
        if (r < 0 && ret_message)
                *ret_message = TAKE_PTR(w->p.message);
        return r;
}
