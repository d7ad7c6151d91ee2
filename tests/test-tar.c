/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "tar.h"
#include "util.h"

#define MTIME_BASE 1500000000
#define LONG_DIR_LEN 120

/* ---- trees on disk ---- */

static char *tmpdir_new(void) {
        char *d = g_dir_make_tmp("cm-test-tar-XXXXXX", NULL);
        g_assert_nonnull(d);
        return d;
}

static void tmpdir_free(char *d) {
        g_assert_cmpint(rm_rf(d), ==, 0);
        g_free(d);
}
typedef char char_tmpdir;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(char_tmpdir, tmpdir_free)

static unsigned fd_count(void) {
        g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
        unsigned n = 0;

        g_assert_nonnull(d);
        while (g_dir_read_name(d))
                n++;
        return n;
}

static void file_write(const char *dir, const char *rel, const char *content, mode_t mode) {
        g_autofree char *p = g_build_filename(dir, rel, NULL);

        g_assert_true(g_file_set_contents(p, content, -1, NULL));
        g_assert_cmpint(chmod(p, mode), ==, 0);
}

static void dir_make(const char *dir, const char *rel, mode_t mode) {
        g_autofree char *p = g_build_filename(dir, rel, NULL);

        g_assert_cmpint(mkdir(p, mode), ==, 0);
        g_assert_cmpint(chmod(p, mode), ==, 0);
}

static void link_make(const char *dir, const char *rel, const char *target) {
        g_autofree char *p = g_build_filename(dir, rel, NULL);
        g_assert_cmpint(symlink(target, p), ==, 0);
}

static void mtime_set(const char *dir, const char *rel, time_t t) {
        g_autofree char *p = g_build_filename(dir, rel, NULL);
        const struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };

        g_assert_cmpint(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), ==, 0);
}

static bool path_exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static gint name_compare(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* One line per entry: what an unpacked copy must reproduce. Directories' link counts differ
 * with their subdirectories only, so they are left out. */
static void list_into(GString *out, const char *root, const char *rel) {
        g_autofree char *dir = g_build_filename(root, rel, NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *n;

        g_assert_nonnull(d);
        while ((n = g_dir_read_name(d)))
                g_ptr_array_add(names, g_strdup(n));
        g_ptr_array_sort(names, name_compare);

        for (guint i = 0; i < names->len; i++) {
                g_autofree char *r = *rel ? g_build_filename(rel, names->pdata[i], NULL) : g_strdup(names->pdata[i]);
                g_autofree char *p = g_build_filename(root, r, NULL);
                g_autofree char *extra = NULL;
                struct stat st;

                g_assert_cmpint(lstat(p, &st), ==, 0);
                if (S_ISLNK(st.st_mode))
                        extra = g_file_read_link(p, NULL);
                else if (S_ISREG(st.st_mode)) {
                        g_autofree char *data = NULL;
                        gsize len;

                        g_assert_true(g_file_get_contents(p, &data, &len, NULL));
                        extra = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *) data, len);
                }
                g_string_append_printf(out, "%s type=%o mode=%04o uid=%u gid=%u size=%jd mtime=%jd",
                                       r, st.st_mode & S_IFMT, st.st_mode & 07777, st.st_uid, st.st_gid,
                                       S_ISDIR(st.st_mode) ? (intmax_t) 0 : (intmax_t) st.st_size,
                                       (intmax_t) st.st_mtim.tv_sec);
                if (!S_ISDIR(st.st_mode))
                        g_string_append_printf(out, " nlink=%ju", (uintmax_t) st.st_nlink);
                g_string_append_printf(out, " %s\n", extra ?: "");
                if (S_ISDIR(st.st_mode))
                        list_into(out, root, r);
        }
}

static char *tree_list(const char *root) {
        GString *out = g_string_new(NULL);
        struct stat st;

        g_assert_cmpint(lstat(root, &st), ==, 0);
        g_string_append_printf(out, ". mode=%04o mtime=%jd\n", st.st_mode & 07777, (intmax_t) st.st_mtim.tv_sec);
        list_into(out, root, "");
        return g_string_free(out, false);
}

/* Lists the children of root only (its own mode and time are not the archive's). */
static char *tree_list_children(const char *root) {
        GString *out = g_string_new(NULL);
        list_into(out, root, "");
        return g_string_free(out, false);
}

/* nested dirs, a 206-character path (ustar prefix), a 150-character name and link target (pax),
 * a symlink, a hard link, an empty file, modes 0700/0644/0600/0755/0555, mtimes */
static void tree_build(const char *dir) {
        g_autofree char *long_dir = g_strnfill(LONG_DIR_LEN, 'd');
        g_autofree char *long_file = g_strnfill(80, 'f');
        g_autofree char *longer = g_strnfill(150, 'g');
        g_autofree char *target = g_strconcat("a/", longer, NULL);
        g_autofree char *p = NULL, *q = NULL, *hard = NULL;
        const char *order[] = { "tree/a/b/c/deep", "tree/a/b/c", "tree/a/b", "tree/a/file", "tree/a/hard",
                                "tree/a", "tree/empty", "tree/link", "tree/longlink", "tree/ro", "tree/exe" };
        time_t t = MTIME_BASE;

        dir_make(dir, "tree", 0755);
        dir_make(dir, "tree/a", 0700);
        dir_make(dir, "tree/a/b", 0755);
        dir_make(dir, "tree/a/b/c", 0750);
        file_write(dir, "tree/a/b/c/deep", "deep\n", 0644);
        file_write(dir, "tree/a/file", "hello\n", 0644);
        hard = g_build_filename(dir, "tree/a/hard", NULL);
        p = g_build_filename(dir, "tree/a/file", NULL);
        g_assert_cmpint(link(p, hard), ==, 0);
        file_write(dir, "tree/empty", "", 0600);
        file_write(dir, "tree/exe", "#!/bin/sh\n", 0755);
        dir_make(dir, "tree/ro", 0755);
        link_make(dir, "tree/link", "a/file");
        link_make(dir, "tree/longlink", target);

        q = g_build_filename("tree", long_dir, NULL);
        dir_make(dir, q, 0755);
        g_free(p);
        p = g_build_filename(q, long_file, NULL);
        g_assert_cmpuint(strlen(p), ==, 206);
        file_write(dir, p, "long path\n", 0644);
        mtime_set(dir, p, t++);
        mtime_set(dir, q, t++);
        g_free(p);
        p = g_build_filename("tree/a", longer, NULL);
        file_write(dir, p, "long name\n", 0644);
        mtime_set(dir, p, t++);

        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                mtime_set(dir, order[i], t++);
        g_free(p);
        p = g_build_filename(dir, "tree/ro", NULL);
        g_assert_cmpint(chmod(p, 0555), ==, 0);
        mtime_set(dir, "tree", t++);
}

/* ---- archives in memory ---- */

static int memfd_from(const void *data, size_t size) {
        int fd = memfd_create("archive", MFD_CLOEXEC);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(loop_write(fd, data, size), ==, 0);
        g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
        return fd;
}

static GBytes *fd_slurp(int fd) {
        GByteArray *a = g_byte_array_new();
        char buf[4096];
        ssize_t n;

        g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                g_byte_array_append(a, (guint8 *) buf, (guint) n);
        g_assert_cmpint(n, ==, 0);
        return g_byte_array_free_to_bytes(a);
}

static GBytes *pack(const char *root, const char *path) {
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
        g_autofree char *message = NULL;

        g_assert_cmpint(root_fd, >=, 0);
        g_assert_cmpint(tar_pack(root_fd, path, out, &message), ==, 0);
        g_assert_null(message);
        return fd_slurp(out);
}

typedef struct Feed {
        int fd;
        GBytes *data;
} Feed;

/* Writes in odd small pieces, so the reader sees short reads. */
static gpointer feed_thread(gpointer p) {
        Feed *f = p;
        gsize size;
        const char *data = g_bytes_get_data(f->data, &size);
        static const size_t pieces[] = { 7, 1000, 3, 511, 4096, 1 };

        for (size_t off = 0, i = 0; off < size; i++) {
                size_t n = MIN(pieces[i % ELEMENTSOF(pieces)], size - off);
                if (loop_write(f->fd, data + off, n) < 0)
                        break; /* the reader stopped early */
                off += n;
        }
        close(f->fd);
        g_bytes_unref(f->data);
        g_free(f);
        return NULL;
}

static int unpack_full(GBytes *archive, const char *root, const char *path, const TarLimits *limits, bool through_pipe,
                       char **ret_message) {
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int in = -1;
        GThread *thread = NULL;
        gsize size;
        const void *data = g_bytes_get_data(archive, &size);
        int r;

        g_assert_cmpint(root_fd, >=, 0);
        if (through_pipe) {
                int pipefd[2];
                Feed *f = g_new0(Feed, 1);

                g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
                in = pipefd[0];
                f->fd = pipefd[1];
                f->data = g_bytes_ref(archive);
                thread = g_thread_new("feed", feed_thread, f);
        } else
                in = memfd_from(data, size);

        r = tar_unpack(in, root_fd, path, limits, ret_message);
        closep(&in);
        if (thread)
                g_thread_join(thread);
        return r;
}

static int unpack(GBytes *archive, const char *root, const char *path, char **ret_message) {
        return unpack_full(archive, root, path, NULL, false, ret_message);
}

static void run_tar(char **argv, char **ret_stdout) {
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) e = NULL;
        int status;

        g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &e));
        g_assert_no_error(e);
        if (!g_spawn_check_wait_status(status, NULL) || !isempty(err))
                g_error("%s failed: %s", argv[0], err);
        g_assert_cmpstr(err, ==, "");
        if (ret_stdout)
                *ret_stdout = TAKE_PTR(out);
}

static char *bytes_to_file(GBytes *b, const char *dir, const char *name) {
        char *p = g_build_filename(dir, name, NULL);
        gsize size;
        const char *data = g_bytes_get_data(b, &size);

        g_assert_true(g_file_set_contents(p, data, (gssize) size, NULL));
        return p;
}

/* ---- round trips ---- */

static void test_round_trip(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new(), dst2 = tmpdir_new();
        g_autofree char *src_tree = NULL, *dst_tree = NULL, *a = NULL, *b = NULL;
        g_autoptr(GBytes) archive = NULL, whole = NULL;
        g_autofree char *message = NULL;
        unsigned fds = fd_count();

        tree_build(src);
        src_tree = g_build_filename(src, "tree", NULL);
        dst_tree = g_build_filename(dst, "tree", NULL);

        archive = pack(src, "/tree");
        g_assert_cmpuint(g_bytes_get_size(archive) % 10240, ==, 0);
        g_assert_cmpint(unpack_full(archive, dst, "/", NULL, true, &message), ==, 0);
        g_assert_null(message);
        a = tree_list(src_tree);
        b = tree_list(dst_tree);
        g_assert_cmpstr(a, ==, b);
        {
                g_autofree char *top = tree_list_children(dst);
                g_assert_true(g_str_has_prefix(top, "tree "));
                g_assert_null(strstr(top, ".tar-unpack"));
        }

        /* "/": entries "./..." */
        whole = pack(src, "/");
        g_assert_cmpint(unpack(whole, dst2, "/", &message), ==, 0);
        g_clear_pointer(&b, g_free);
        g_clear_pointer(&a, g_free);
        a = tree_list_children(src);
        b = tree_list_children(dst2);
        g_assert_cmpstr(a, ==, b);

        /* a single file, and a file packed under its basename */
        {
                g_autoptr(GBytes) one = pack(src, "/tree/a/file");
                g_autoptr(char_tmpdir) d = tmpdir_new();
                g_autofree char *content = NULL, *p = g_build_filename(d, "file", NULL);

                g_assert_cmpint(unpack(one, d, "/", &message), ==, 0);
                g_assert_true(g_file_get_contents(p, &content, NULL, NULL));
                g_assert_cmpstr(content, ==, "hello\n");
        }
        g_assert_cmpuint(fd_count(), ==, fds);
}

static void test_gnu_tar_reads_ours(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new(), work = tmpdir_new();
        g_autoptr(GBytes) archive = NULL;
        g_autofree char *file = NULL, *listing = NULL, *a = NULL, *b = NULL, *src_tree = NULL, *dst_tree = NULL;
        g_autofree char *long_dir = g_strnfill(LONG_DIR_LEN, 'd');

        tree_build(src);
        archive = pack(src, "/tree");
        file = bytes_to_file(archive, work, "ours.tar");

        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-tvf", file, NULL }, &listing);
        g_assert_nonnull(strstr(listing, "tree/a/hard link to tree/a/file"));
        g_assert_nonnull(strstr(listing, long_dir));
        g_assert_nonnull(strstr(listing, "drwx------"));

        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-C", dst, (char *) "-xpf", file, NULL }, NULL);
        src_tree = g_build_filename(src, "tree", NULL);
        dst_tree = g_build_filename(dst, "tree", NULL);
        a = tree_list(src_tree);
        b = tree_list(dst_tree);
        g_assert_cmpstr(a, ==, b);
}

typedef enum Writer {
        WRITER_GNU,
        WRITER_BUSYBOX,
        WRITER_PYTHON,
} Writer;

/* Python's tarfile, in one of its formats, adding dir (as arcname) recursively. */
static const char python_script[] =
        "import sys, tarfile\n"
        "fmt = getattr(tarfile, sys.argv[1])\n"
        "with tarfile.open(sys.argv[2], 'w', format=fmt) as t:\n"
        "    t.add(sys.argv[3], arcname=sys.argv[4])\n";

static void archive_write(Writer w, const char *format, const char *file, const char *dir, const char *name) {
        g_autofree char *fmt = g_strconcat("--format=", format, NULL);

        switch (w) {
        case WRITER_GNU:
                run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-C", (char *) dir, fmt, (char *) "-cf",
                                     (char *) file, (char *) name, NULL }, NULL);
                break;
        case WRITER_BUSYBOX:
                run_tar((char *[]) { (char *) "/usr/bin/busybox", (char *) "tar", (char *) "-C", (char *) dir,
                                     (char *) "-cf", (char *) file, (char *) name, NULL }, NULL);
                break;
        case WRITER_PYTHON: {
                g_autofree char *path = g_build_filename(dir, name, NULL);

                run_tar((char *[]) { (char *) "/usr/bin/python3", (char *) "-c", (char *) python_script,
                                     (char *) format, (char *) file, path,
                                     (char *) name, NULL }, NULL);
                break;
        }
        }
}

static void unpack_foreign_archive(Writer w, const char *format, bool dot) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new(), work = tmpdir_new();
        g_autofree char *file = g_build_filename(work, "foreign.tar", NULL);
        g_autofree char *src_tree = g_build_filename(src, "tree", NULL);
        g_autofree char *dst_tree = g_build_filename(dst, "tree", NULL);
        g_autofree char *message = NULL, *a = NULL, *b = NULL, *data = NULL;
        g_autoptr(GBytes) archive = NULL;
        gsize size;

        tree_build(src);
        if (dot)
                archive_write(w, format, file, src_tree, ".");
        else
                archive_write(w, format, file, src, "tree");
        g_assert_true(g_file_get_contents(file, &data, &size, NULL));
        archive = g_bytes_new_take(g_steal_pointer(&data), size);

        if (dot) {
                g_assert_cmpint(mkdir(dst_tree, 0711), ==, 0);
                if (unpack_full(archive, dst, "/tree", NULL, true, &message) < 0)
                        g_error("unpack: %s", message);
                a = tree_list_children(src_tree);
                b = tree_list_children(dst_tree);
        } else {
                g_assert_cmpint(unpack_full(archive, dst, "/", NULL, true, &message), ==, 0);
                a = tree_list(src_tree);
                b = tree_list(dst_tree);
        }
        g_assert_null(message);
        g_assert_cmpstr(a, ==, b);
}

static void test_gnu_tar_gnu_format(void) {
        unpack_foreign_archive(WRITER_GNU, "gnu", false);
        unpack_foreign_archive(WRITER_GNU, "gnu", true);
}

static void test_gnu_tar_pax_format(void) {
        unpack_foreign_archive(WRITER_GNU, "pax", false);
        unpack_foreign_archive(WRITER_GNU, "pax", true);
}

static void test_busybox_tar(void) {
        if (!g_file_test("/usr/bin/busybox", G_FILE_TEST_IS_EXECUTABLE)) {
                g_test_skip("no busybox");
                return;
        }
        unpack_foreign_archive(WRITER_BUSYBOX, NULL, false);
}

static void test_python_tarfile(void) {
        if (!g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE)) {
                g_test_skip("no python3");
                return;
        }
        unpack_foreign_archive(WRITER_PYTHON, "PAX_FORMAT", false);
        unpack_foreign_archive(WRITER_PYTHON, "GNU_FORMAT", false);
        unpack_foreign_archive(WRITER_PYTHON, "GNU_FORMAT", true);
}

/* Fifos travel (type '6'), as GNU tar writes and reads them. */
static void test_pack_fifo(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new(), gnu = tmpdir_new(), work = tmpdir_new();
        g_autofree char *fifo = g_build_filename(src, "d/fifo", NULL);
        g_autofree char *file = NULL, *listing = NULL, *message = NULL, *a = NULL, *b = NULL, *c = NULL;
        g_autofree char *src_d = g_build_filename(src, "d", NULL), *dst_d = g_build_filename(dst, "d", NULL);
        g_autofree char *gnu_d = g_build_filename(gnu, "d", NULL), *unpacked = g_build_filename(dst, "d/fifo", NULL);
        g_autoptr(GBytes) archive = NULL;
        struct stat st;

        dir_make(src, "d", 0755);
        file_write(src, "d/f", "x", 0644);
        g_assert_cmpint(mkfifo(fifo, 0640), ==, 0);
        g_assert_cmpint(chmod(fifo, 0640), ==, 0);
        mtime_set(src, "d/fifo", MTIME_BASE);
        mtime_set(src, "d/f", MTIME_BASE);
        mtime_set(src, "d", MTIME_BASE);
        archive = pack(src, "/d");
        file = bytes_to_file(archive, work, "a.tar");
        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-tf", file, NULL }, &listing);
        g_assert_cmpstr(listing, ==, "d/\nd/f\nd/fifo\n");

        g_assert_cmpint(unpack_full(archive, dst, "/", NULL, true, &message), ==, 0);
        g_assert_null(message);
        g_assert_cmpint(lstat(unpacked, &st), ==, 0);
        g_assert_true(S_ISFIFO(st.st_mode));
        g_assert_cmpint(st.st_mode & 07777, ==, 0640);
        a = tree_list(src_d);
        b = tree_list(dst_d);
        g_assert_cmpstr(a, ==, b);

        /* GNU tar makes the same fifo of our archive */
        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-C", gnu, (char *) "-xf", file, NULL }, NULL);
        c = tree_list(gnu_d);
        g_assert_cmpstr(a, ==, c);
}

/* A socket in the tree is left out. */
static void test_pack_skips_socket(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), work = tmpdir_new();
        g_autofree char *sock = g_build_filename(src, "d/sock", NULL), *file = NULL, *listing = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_autoptr(GBytes) archive = NULL;

        dir_make(src, "d", 0755);
        file_write(src, "d/f", "x", 0644);
        g_assert_cmpint(sfd, >=, 0);
        g_assert_cmpuint(strlen(sock), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock);
        g_assert_cmpint(bind(sfd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        archive = pack(src, "/d");
        file = bytes_to_file(archive, work, "a.tar");
        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-tf", file, NULL }, &listing);
        g_assert_cmpstr(listing, ==, "d/\nd/f\n");
}

/* Times before 1970 travel in pax headers, as GNU tar reads them. */
static void test_old_mtime(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new(), work = tmpdir_new();
        g_autofree char *p = g_build_filename(dst, "old", NULL), *file = NULL, *listing = NULL;
        const struct timespec ts[2] = { { .tv_sec = -86400 }, { .tv_sec = -86400 } };
        g_autoptr(GBytes) archive = NULL;
        g_autofree char *message = NULL;
        struct stat st;

        file_write(src, "old", "1969", 0644);
        {
                g_autofree char *q = g_build_filename(src, "old", NULL);
                g_assert_cmpint(utimensat(AT_FDCWD, q, ts, 0), ==, 0);
        }
        archive = pack(src, "/old");
        g_assert_cmpint(unpack(archive, dst, "/", &message), ==, 0);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mtim.tv_sec, ==, -86400);

        file = bytes_to_file(archive, work, "old.tar");
        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-tvf", file, NULL }, &listing);
        g_assert_nonnull(strstr(listing, " 1969-12-3"));
}

static void test_pack_errors(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new();
        _cleanup_close_ int root_fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
        g_autofree char *message = NULL;

        g_assert_cmpint(tar_pack(root_fd, "/missing", out, &message), ==, -ENOENT);
        g_assert_nonnull(strstr(message, "/missing"));
        g_clear_pointer(&message, g_free);
        g_assert_cmpint(tar_pack(root_fd, "relative", out, &message), ==, -EINVAL);
        g_clear_pointer(&message, g_free);
        g_assert_cmpint(tar_pack(root_fd, "/a/../b", out, &message), ==, -EINVAL);
        g_assert_nonnull(message);
        g_clear_pointer(&message, g_free);

        /* the reader went away: EPIPE (SIGPIPE is ignored, as in the daemon) */
        file_write(src, "f", "data", 0644);
        {
                _cleanup_close_ int rd = -1, wr = -1;
                int pipefd[2];

                g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
                rd = pipefd[0];
                wr = pipefd[1];
                closep(&rd);
                g_assert_cmpint(tar_pack(root_fd, "/f", wr, &message), ==, -EPIPE);
                g_assert_nonnull(strstr(message, "cannot write"));
        }
}

/* The path itself a symlink: stored as the link, not what it points to. */
static void test_pack_top_symlink(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new();
        g_autofree char *p = g_build_filename(dst, "l", NULL), *target = NULL;
        g_autoptr(GBytes) archive = NULL;
        g_autofree char *message = NULL;

        dir_make(src, "d", 0755);
        file_write(src, "d/f", "x", 0644);
        link_make(src, "l", "d");
        archive = pack(src, "/l");
        g_assert_cmpint(unpack(archive, dst, "/", &message), ==, 0);
        target = g_file_read_link(p, NULL);
        g_assert_cmpstr(target, ==, "d");
}

/* ---- archives built byte by byte ---- */

static void tar_header(GByteArray *a, const char *name, char type, unsigned mode, uint64_t size, const char *link) {
        char h[512] = {};
        unsigned sum = 0;

        memcpy(h, name, MIN(strlen(name), 100));
        snprintf(h + 100, 8, "%07o", mode);
        snprintf(h + 108, 8, "%07o", 0);
        snprintf(h + 116, 8, "%07o", 0);
        snprintf(h + 124, 12, "%011llo", (unsigned long long) size);
        snprintf(h + 136, 12, "%011o", 1600000000);
        h[156] = type;
        if (link)
                memcpy(h + 157, link, MIN(strlen(link), 100));
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        for (size_t i = 0; i < sizeof(h); i++)
                sum += (unsigned char) h[i];
        snprintf(h + 148, 8, "%06o", sum);
        g_byte_array_append(a, (guint8 *) h, sizeof(h));
}

static void tar_data(GByteArray *a, const void *data, size_t size) {
        static const char zeros[512];

        g_byte_array_append(a, data, (guint) size);
        g_byte_array_append(a, (const guint8 *) zeros, (guint) ((512 - size % 512) % 512));
}

static void tar_file(GByteArray *a, const char *name, const char *content) {
        tar_header(a, name, '0', 0644, strlen(content), NULL);
        tar_data(a, content, strlen(content));
}

static void tar_pax(GByteArray *a, char type, const char *key, const char *value, size_t value_len) {
        g_autoptr(GString) rec = g_string_new(NULL);
        size_t base = strlen(key) + value_len + 3, len = base + 1;

        while (base + (size_t) snprintf(NULL, 0, "%zu", len) != len)
                len = base + (size_t) snprintf(NULL, 0, "%zu", len);
        g_string_append_printf(rec, "%zu %s=", len, key);
        g_string_append_len(rec, value, (gssize) value_len);
        g_string_append_c(rec, '\n');
        tar_header(a, "././@PaxHeader", type, 0644, rec->len, NULL);
        tar_data(a, rec->str, rec->len);
}

/* Sets a numeric field of the last header in GNU's base-256 and fixes the checksum. */
static void tar_last_base256(GByteArray *a, size_t offset, size_t width, uint64_t v) {
        guint8 *h = a->data + a->len - 512;
        unsigned sum = 0;

        memset(h + offset, 0, width);
        h[offset] = 0x80;
        for (size_t i = 0; i < 8 && i < width - 1; i++)
                h[offset + width - 1 - i] = (guint8) (v >> (8 * i));
        memset(h + 148, ' ', 8);
        for (size_t i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *) h + 148, 8, "%06o", sum);
}

static void tar_end(GByteArray *a) {
        static const char zeros[1024];
        g_byte_array_append(a, (const guint8 *) zeros, sizeof(zeros));
}

typedef struct Hostile {
        const char *what;
        int error;
        const char *entry;      /* the message must name it */
        TarLimits limits;
        void (*build)(GByteArray *a);
        bool truncated;         /* no end marker */
} Hostile;

static void build_dotdot(GByteArray *a) {
        tar_file(a, "good", "fine");
        tar_file(a, "../x", "evil");
}

static void build_absolute(GByteArray *a) {
        tar_file(a, "good", "fine");
        tar_file(a, "/etc/x", "evil");
}

static void build_dotdot_inner(GByteArray *a) {
        tar_header(a, "a/", '5', 0755, 0, NULL);
        tar_file(a, "a/../../x", "evil");
}

static char escape_name[64];

static void build_symlink_parent(GByteArray *a) {
        g_autofree char *name = g_strconcat("l/etc/", escape_name, NULL);

        tar_header(a, "l", '2', 0777, 0, "/");
        tar_file(a, name, "evil");
}

static void build_symlink_parent_dir(GByteArray *a) {
        g_autofree char *name = g_strconcat("l/", escape_name, NULL);

        tar_header(a, "d/", '5', 0755, 0, NULL);
        tar_header(a, "l", '2', 0777, 0, "d");
        tar_file(a, name, "through a link of the archive itself");
}

static void build_hardlink_passwd(GByteArray *a) {
        tar_header(a, "h", '1', 0644, 0, "/etc/passwd");
}

static void build_hardlink_later(GByteArray *a) {
        tar_header(a, "h", '1', 0644, 0, "f");
        tar_file(a, "f", "later");
}

static void build_hardlink_existing(GByteArray *a) {
        tar_header(a, "h", '1', 0644, 0, "existing");
}

static void build_hardlink_dotdot(GByteArray *a) {
        tar_file(a, "f", "x");
        tar_header(a, "h", '1', 0644, 0, "sub/../../f");
}

static void build_chardev(GByteArray *a) {
        tar_file(a, "good", "fine");
        tar_header(a, "null", '3', 0666, 0, NULL);
}

static void build_blockdev(GByteArray *a) {
        tar_header(a, "sda", '4', 0660, 0, NULL);
}

static void build_fifo_with_data(GByteArray *a) {
        tar_header(a, "pipe", '6', 0644, 4, NULL);
        tar_data(a, "data", 4);
}

static void build_bad_checksum(GByteArray *a) {
        tar_file(a, "good", "fine");
        tar_file(a, "corrupt", "data");
        a->data[a->len - 1024 + 300] ^= 0x20; /* the uname field */
}

static void build_truncated_data(GByteArray *a) {
        char data[1000];

        memset(data, 'x', sizeof(data));
        tar_file(a, "good", "fine");
        tar_header(a, "short", '0', 0644, sizeof(data), NULL);
        g_byte_array_append(a, (guint8 *) data, 600);
}

static void build_truncated_header(GByteArray *a) {
        tar_file(a, "good", "fine");
        tar_file(a, "cut", "x");
        g_byte_array_set_size(a, a->len - 512 - 300);
}

static void build_no_end(GByteArray *a) {
        tar_file(a, "last", "fine");
}

static void build_pax_dotdot(GByteArray *a) {
        tar_pax(a, 'x', "path", "a/../../x", strlen("a/../../x"));
        tar_file(a, "innocent", "evil");
}

static void build_pax_nul(GByteArray *a) {
        tar_pax(a, 'x', "path", "x\0y", 3);
        tar_file(a, "innocent", "evil");
}

static void build_gnu_longname(GByteArray *a) {
        const char *name = "../longname";

        tar_header(a, "././@LongLink", 'L', 0644, strlen(name) + 1, NULL);
        tar_data(a, name, strlen(name) + 1);
        tar_file(a, "innocent", "evil");
}

static void build_empty_name(GByteArray *a) {
        tar_file(a, "", "nameless");
}

static void build_dot_file(GByteArray *a) {
        tar_file(a, ".", "a file over the target");
}

static void build_over_long(GByteArray *a) {
        g_autofree char *n = g_strnfill(300, 'n');
        tar_pax(a, 'x', "path", n, strlen(n));
        tar_file(a, "innocent", "x");
}

static void build_too_deep(GByteArray *a) {
        g_autoptr(GString) n = g_string_new(NULL);

        for (int i = 0; i < 300; i++)
                g_string_append(n, "a/");
        g_string_append(n, "deep");
        tar_pax(a, 'x', "path", n->str, n->len);
        tar_file(a, "innocent", "x");
}

static void build_three(GByteArray *a) {
        tar_file(a, "one", "1");
        tar_file(a, "two", "2");
        tar_file(a, "three", "3");
}

static void build_eleven_bytes(GByteArray *a) {
        tar_file(a, "small", "12345");
        tar_file(a, "big", "123456");
}

static void build_file_under_file(GByteArray *a) {
        tar_file(a, "f", "x");
        tar_file(a, "f/g", "y");
}

static void build_utf8_name(GByteArray *a) {
        tar_header(a, "caf\xc3\xa9/\x01", '3', 0644, 0, NULL);
}

static void build_latin1_name(GByteArray *a) {
        tar_header(a, "caf\xe9", '3', 0644, 0, NULL);
}

static void build_sparse(GByteArray *a) {
        tar_header(a, "sparse", 'S', 0644, 0, NULL);
}

static const Hostile hostile[] = {
        { "dotdot",            -EBADMSG, "../x",          {}, build_dotdot },
        { "absolute",          -EBADMSG, "/etc/x",        {}, build_absolute },
        { "dotdot-inner",      -EBADMSG, "a/../../x",     {}, build_dotdot_inner },
        { "symlink-parent",    -EBADMSG, "l/etc/",        {}, build_symlink_parent },
        { "symlink-own-dir",   -EBADMSG, "l/",            {}, build_symlink_parent_dir },
        { "hardlink-passwd",   -EBADMSG, "'h'",           {}, build_hardlink_passwd },
        { "hardlink-later",    -EBADMSG, "'h'",           {}, build_hardlink_later },
        { "hardlink-existing", -EBADMSG, "'h'",           {}, build_hardlink_existing },
        { "hardlink-dotdot",   -EBADMSG, "'h'",           {}, build_hardlink_dotdot },
        { "chardev",           -EBADMSG, "null",          {}, build_chardev },
        { "blockdev",          -EBADMSG, "sda",           {}, build_blockdev },
        { "fifo-with-data",    -EBADMSG, "pipe",          {}, build_fifo_with_data },
        { "bad-checksum",      -EBADMSG, "corrupt",       {}, build_bad_checksum },
        { "truncated-data",    -EBADMSG, "short",         {}, build_truncated_data, true },
        { "truncated-header",  -EBADMSG, "good",          {}, build_truncated_header, true },
        { "no-end-marker",     -EBADMSG, "last",          {}, build_no_end, true },
        { "pax-dotdot",        -EBADMSG, "a/../../x",     {}, build_pax_dotdot },
        { "pax-nul",           -EBADMSG, "'x'",           {}, build_pax_nul },
        { "gnu-longname",      -EBADMSG, "../longname",   {}, build_gnu_longname },
        { "empty-name",        -EBADMSG, "''",            {}, build_empty_name },
        { "dot-file",          -EBADMSG, "'.'",           {}, build_dot_file },
        { "over-long",         -EBADMSG, "nnnn",          {}, build_over_long },
        { "too-deep",          -EBADMSG, "a/a/a/",        {}, build_too_deep },
        { "file-under-file",   -EBADMSG, "f/g",           {}, build_file_under_file },
        { "utf8-name",         -EBADMSG, "caf\xc3\xa9/\\001", {}, build_utf8_name },
        { "latin1-name",       -EBADMSG, "caf\\351",     {}, build_latin1_name },
        { "sparse",            -EBADMSG, "sparse",        {}, build_sparse },
        { "max-entries",       -EFBIG,   "three",         { .max_entries = 2 }, build_three },
        { "max-bytes",         -EFBIG,   "big",           { .max_bytes = 10 }, build_eleven_bytes },
};

static void target_populate(const char *target) {
        dir_make(target, "dir", 0755);
        file_write(target, "dir/inner", "inner", 0640);
        file_write(target, "existing", "keep", 0644);
        file_write(target, "x", "old x", 0644);
        file_write(target, "good", "old good", 0644);
        mtime_set(target, "dir/inner", MTIME_BASE);
        mtime_set(target, "dir", MTIME_BASE);
        mtime_set(target, "existing", MTIME_BASE);
        mtime_set(target, ".", MTIME_BASE);
}

static void test_hostile(gconstpointer data) {
        const Hostile *h = data;
        g_autoptr(char_tmpdir) root = tmpdir_new();
        g_autofree char *target = g_build_filename(root, "target", NULL);
        g_autofree char *before = NULL, *after = NULL, *message = NULL, *host = NULL;
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GBytes) archive = NULL;
        unsigned fds = fd_count();

        g_snprintf(escape_name, sizeof(escape_name), "cm-test-tar-escape-%d", (int) getpid());
        host = g_build_filename("/etc", escape_name, NULL);
        g_assert_cmpint(mkdir(target, 0755), ==, 0);
        target_populate(target);
        before = tree_list(target);

        h->build(a);
        if (!h->truncated)
                tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));
        for (int pipe = 0; pipe <= 1; pipe++) {
                g_clear_pointer(&message, g_free);
                g_assert_cmpint(unpack_full(archive, root, "/target", &h->limits, pipe, &message), ==, h->error);
                g_assert_nonnull(message);
                if (g_test_verbose())
                        g_printerr("%s: %s\n", h->what, message);
                g_assert_true(g_utf8_validate(message, -1, NULL));
                if (!strstr(message, h->entry))
                        g_error("%s: message '%s' does not name '%s'", h->what, message, h->entry);

                g_clear_pointer(&after, g_free);
                after = tree_list(target);
                g_assert_cmpstr(before, ==, after);
                g_assert_false(path_exists(host));
        }
        g_assert_cmpuint(fd_count(), ==, fds);
}

/* pax records override the header (this entry's over the global ones), GNU base-256 numbers */
static void test_extended_fields(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new();
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GBytes) archive = NULL;
        g_autofree char *message = NULL, *content = NULL, *long_name = g_strnfill(200, 'p');
        g_autofree char *p = NULL;
        struct stat st;

        /* a global mtime, then one entry overriding it, name and size from pax */
        tar_pax(a, 'g', "mtime", "1234567890.5", strlen("1234567890.5"));
        tar_pax(a, 'x', "path", long_name, strlen(long_name));
        tar_pax(a, 'x', "size", "5", 1);
        tar_header(a, "truncated-name", '0', 0640, 0, NULL);
        tar_data(a, "fives", 5);
        tar_header(a, "global-time", '0', 0644, 0, NULL);
        /* base-256 size */
        tar_header(a, "base256", '0', 0644, 0, NULL);
        tar_last_base256(a, 124, 12, 3);
        tar_data(a, "abc", 3);
        tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));

        g_assert_cmpint(unpack(archive, root, "/", &message), ==, 0);
        g_assert_null(message);
        p = g_build_filename(root, long_name, NULL);
        g_assert_true(g_file_get_contents(p, &content, NULL, NULL));
        g_assert_cmpstr(content, ==, "fives");
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0640);
        g_assert_cmpint(st.st_mtim.tv_sec, ==, 1234567890);
        g_assert_cmpint(st.st_mtim.tv_nsec, ==, 500000000);
        g_free(p);
        p = g_build_filename(root, "global-time", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mtim.tv_sec, ==, 1234567890);
        g_free(p);
        g_free(content);
        p = g_build_filename(root, "base256", NULL);
        g_assert_true(g_file_get_contents(p, &content, NULL, NULL));
        g_assert_cmpstr(content, ==, "abc");
}

/* As deep as names may go: unpacked, packed and unpacked again, with descriptors to spare. */
static void test_deepest(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new(), again = tmpdir_new();
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GString) n = g_string_new(NULL);
        g_autoptr(GBytes) archive = NULL, repacked = NULL;
        g_autofree char *message = NULL, *p = NULL;

        for (int i = 0; i < 255; i++)
                g_string_append(n, "a/");
        g_string_append(n, "deep");
        tar_pax(a, 'x', "path", n->str, n->len);
        tar_file(a, "ignored", "bottom");
        tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));
        g_assert_cmpint(unpack(archive, root, "/", &message), ==, 0);

        repacked = pack(root, "/");
        g_assert_cmpint(unpack(repacked, again, "/", &message), ==, 0);
        p = g_build_filename(again, n->str, NULL);
        g_assert_true(path_exists(p));
}

/* ---- what an unpack changes ---- */

static void test_merge_and_replace(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new();
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GBytes) archive = NULL;
        g_autofree char *message = NULL, *content = NULL, *p = NULL;
        struct stat st;

        dir_make(root, "d", 0755);
        file_write(root, "d/old", "old", 0644);
        file_write(root, "d/same", "before", 0644);
        file_write(root, "f", "a file", 0644);
        dir_make(root, "x", 0755);
        file_write(root, "x/inner", "inner", 0644);
        link_make(root, "hostlink", "/etc");

        tar_header(a, "d/", '5', 0750, 0, NULL);
        tar_file(a, "d/same", "after");
        tar_file(a, "d/new", "new");
        tar_header(a, "f/", '5', 0700, 0, NULL);
        tar_file(a, "f/inner", "now a directory");
        tar_file(a, "x", "now a file");
        tar_file(a, "hostlink/cm-test-tar-x", "must not reach /etc");
        tar_file(a, "implied/parent/file", "parents made 0755");
        tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));

        g_assert_cmpint(unpack(archive, root, "/", &message), ==, 0);
        g_assert_null(message);

#define CONTENT(rel, expect)                                                    \
        do {                                                                    \
                g_free(p);                                                      \
                g_free(content);                                                \
                content = NULL;                                                 \
                p = g_build_filename(root, rel, NULL);                          \
                g_assert_true(g_file_get_contents(p, &content, NULL, NULL));    \
                g_assert_cmpstr(content, ==, expect);                           \
        } while (0)
        CONTENT("d/old", "old");
        CONTENT("d/same", "after");
        CONTENT("d/new", "new");
        CONTENT("f/inner", "now a directory");
        CONTENT("x", "now a file");
        CONTENT("hostlink/cm-test-tar-x", "must not reach /etc");
        CONTENT("implied/parent/file", "parents made 0755");
#undef CONTENT
        g_assert_false(path_exists("/etc/cm-test-tar-x"));
        g_free(p);
        p = g_build_filename(root, "d", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0750);
        g_free(p);
        p = g_build_filename(root, "implied/parent", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0755);
        g_free(p);
        p = g_build_filename(root, "hostlink", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_true(S_ISDIR(st.st_mode));
        {
                g_autofree char *all = tree_list_children(root);
                g_assert_null(strstr(all, ".tar-unpack"));
        }
}

static void test_modes_and_ownership(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new(), back = tmpdir_new();
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GBytes) archive = NULL, repacked = NULL;
        g_autofree char *message = NULL, *p = NULL;
        TarLimits keep = { .keep_ownership = true };
        struct stat st;

        tar_header(a, "suid", '0', 04755, 0, NULL);
        tar_header(a, "sticky/", '5', 01777, 0, NULL);
        tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));

        g_assert_cmpint(unpack(archive, root, "/", &message), ==, 0);
        p = g_build_filename(root, "suid", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0755);
        g_assert_cmpint(st.st_mtim.tv_sec, ==, 1600000000);
        g_free(p);
        p = g_build_filename(root, "sticky", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 01777);

        if (geteuid() != 0) {
                g_test_skip("keeping ownership needs root");
                return;
        }
        /* an id over ustar's 7 octal digits travels in a pax header */
        g_free(p);
        p = g_build_filename(root, "suid", NULL);
        if (lchown(p, 3000000, 4000000) < 0) {
                g_test_skip("ids over 2097151 are not mapped here");
                return;
        }
        g_assert_cmpint(chmod(p, 04755), ==, 0);
        repacked = pack(root, "/suid");
        g_assert_cmpint(unpack_full(repacked, back, "/", &keep, false, &message), ==, 0);
        g_free(p);
        p = g_build_filename(back, "suid", NULL);
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_uid, ==, 3000000);
        g_assert_cmpint(st.st_gid, ==, 4000000);
        g_assert_cmpint(st.st_mode & 07777, ==, 04755);
}

/* root_fd is a subdirectory with links to the host's / and /etc in it: neither pack nor
 * unpack may reach outside it. */
static void test_root_escape(void) {
        g_autoptr(char_tmpdir) tmp = tmpdir_new(), dst = tmpdir_new();
        g_autofree char *root = g_build_filename(tmp, "root", NULL);
        g_autofree char *name = g_strdup_printf("cm-test-tar-escape-%d", (int) getpid());
        g_autofree char *host = g_build_filename("/etc", name, NULL);
        g_autofree char *inside = NULL, *message = NULL, *content = NULL, *p = NULL;
        g_autofree char *host_passwd = NULL;
        g_autoptr(GBytes) whole = NULL, one = NULL, via_link = NULL;
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GBytes) archive = NULL;
        gsize whole_size;
        const char *whole_data;

        g_assert_cmpint(mkdir(root, 0755), ==, 0);
        dir_make(root, "etc", 0755);
        file_write(root, "etc/passwd", "inside the container\n", 0644);
        link_make(root, "link", "/");
        link_make(root, "hostetc", "/etc");
        g_assert_true(g_file_get_contents("/etc/passwd", &host_passwd, NULL, NULL));

        /* pack: links are stored, never followed; paths resolve inside root */
        whole = pack(root, "/");
        whole_data = g_bytes_get_data(whole, &whole_size);
        g_assert_null(memmem(whole_data, whole_size, host_passwd, MIN(strlen(host_passwd), 32)));
        g_assert_cmpint(unpack(whole, dst, "/", &message), ==, 0);
        p = g_build_filename(dst, "link", NULL);
        inside = g_file_read_link(p, NULL);
        g_assert_cmpstr(inside, ==, "/");

        for (int i = 0; i < 2; i++) {
                g_autoptr(char_tmpdir) d = tmpdir_new();
                g_autofree char *f = g_build_filename(d, "passwd", NULL);
                g_autoptr(GBytes) b = pack(root, i == 0 ? "/hostetc/passwd" : "/link/link/etc/passwd");

                g_assert_cmpint(unpack(b, d, "/", &message), ==, 0);
                g_free(content);
                g_assert_true(g_file_get_contents(f, &content, NULL, NULL));
                g_assert_cmpstr(content, ==, "inside the container\n");
        }

        /* unpack: the target resolves inside root, so does nothing outside */
        tar_file(a, name, "written inside");
        tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));
        FOREACH_STRING(target, "/hostetc", "/link/etc", "/link/hostetc/") {
                g_autofree char *in = g_build_filename(root, "etc", name, NULL);

                g_assert_cmpint(unpack(archive, root, target, &message), ==, 0);
                g_assert_true(path_exists(in));
                g_assert_false(path_exists(host));
                g_assert_cmpint(unlink(in), ==, 0);
        }
        /* a name through a link of the target: the staged directory replaces the link */
        a = g_byte_array_new();
        {
                g_autofree char *n = g_strconcat("hostetc/", name, NULL);
                tar_file(a, n, "evil");
        }
        tar_end(a);
        g_bytes_unref(archive);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));
        g_assert_cmpint(unpack(archive, root, "/link", &message), ==, 0);
        g_assert_false(path_exists(host));
}

/* An existing mount point under the target can neither be merged into nor replaced (rename()
 * does not cross mounts): refused before anything moved. */
static void test_mount_point(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new();
        g_autofree char *m = g_build_filename(root, "m", NULL), *before = NULL, *after = NULL;
        g_autofree char *message = NULL;

        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                g_test_skip("mounting needs root");
                return;
        }
        dir_make(root, "d", 0755);
        dir_make(root, "m", 0755);
        g_assert_cmpint(mount("tmpfs", m, "tmpfs", 0, "mode=0755"), ==, 0);
        before = tree_list(root);

        for (int replace = 0; replace <= 1; replace++) {
                g_autoptr(GByteArray) a = g_byte_array_new();
                g_autoptr(GBytes) archive = NULL;

                tar_file(a, "d/x", "would land first");
                tar_file(a, replace ? "m" : "m/y", "m");
                tar_end(a);
                archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));
                g_clear_pointer(&message, g_free);
                g_assert_cmpint(unpack(archive, root, "/", &message), ==, -EXDEV);
                g_assert_nonnull(strstr(message, "'m'"));
                g_clear_pointer(&after, g_free);
                after = tree_list(root);
                g_assert_cmpstr(before, ==, after);
        }
        g_assert_cmpint(umount(m), ==, 0);
}

/* A writer that keeps its end of the pipe open after the archive does not hold up the unpack. */
static void test_open_writer(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new();
        g_autoptr(GByteArray) a = g_byte_array_new();
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int rd = -1, wr = -1;
        g_autofree char *message = NULL;
        int pipefd[2];
        uint64_t start;

        tar_file(a, "f", "x");
        tar_end(a);
        g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
        rd = pipefd[0];
        wr = pipefd[1];
        g_assert_cmpint(loop_write(wr, a->data, a->len), ==, 0);
        start = now_usec(CLOCK_MONOTONIC);
        g_assert_cmpint(tar_unpack(rd, root_fd, "/", NULL, &message), ==, 0);
        g_assert_cmpuint(now_usec(CLOCK_MONOTONIC) - start, <, 5 * USEC_PER_SEC);
}

static void test_path_errors(void) {
        g_autoptr(char_tmpdir) root = tmpdir_new();
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GBytes) archive = NULL;
        g_autofree char *message = NULL;

        tar_file(a, "f", "x");
        tar_end(a);
        archive = g_byte_array_free_to_bytes(g_steal_pointer(&a));
        g_assert_cmpint(unpack(archive, root, "/missing", &message), ==, -ENOENT);
        g_assert_nonnull(strstr(message, "/missing"));
        g_clear_pointer(&message, g_free);
        g_assert_cmpint(unpack(archive, root, "relative", &message), ==, -EINVAL);
        g_clear_pointer(&message, g_free);
        g_assert_cmpint(unpack(archive, root, "/x/..", &message), ==, -EINVAL);
        g_clear_pointer(&message, g_free);
        file_write(root, "file", "", 0644);
        g_assert_cmpint(unpack(archive, root, "/file", &message), ==, -ENOTDIR);
}

/* ---- archives of archives ---- */

static char *sha256_of(const void *data, size_t size) {
        g_autofree char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
        return g_strconcat("sha256:", hex, NULL);
}

/* layers/0.tar (tree), layers/1.tar (a single file's tree), manifest.json last */
static GBytes *nested_write(const char *src, char **ret_digest0, uint64_t *ret_size0) {
        _cleanup_close_ int root_fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
        _cleanup_(tar_writer_freep) TarWriter *w = NULL;
        g_autofree char *message = NULL, *d1 = NULL;
        uint64_t s1;

        g_assert_cmpint(root_fd, >=, 0);
        w = tar_writer_new(out);
        g_assert_cmpint(tar_writer_add_tree(w, "layers/0.tar", root_fd, "/tree", ret_digest0, ret_size0, &message), ==, 0);
        g_assert_cmpint(tar_writer_add_tree(w, "layers/1.tar", root_fd, "/tree/a/b", &d1, &s1, &message), ==, 0);
        g_assert_cmpint(tar_writer_add_data(w, "manifest.json", "{}\n", 3, &message), ==, 0);
        g_assert_cmpint(tar_writer_finish(w, &message), ==, 0);
        g_assert_null(message);
        return fd_slurp(out);
}

static void test_nested(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), dst = tmpdir_new(), gnu = tmpdir_new(), work = tmpdir_new();
        g_autofree char *digest0 = NULL, *file = NULL, *listing = NULL, *inner = NULL, *message = NULL;
        g_autofree char *a = NULL, *b = NULL, *src_tree = NULL, *dst_tree = NULL, *got = NULL;
        g_autoptr(GBytes) archive = NULL, plain = NULL;
        _cleanup_(tar_reader_freep) TarReader *r = NULL;
        _cleanup_close_ int in = -1, dst_fd = -1;
        const char *name;
        char type, buf[16];
        uint64_t size0 = 0, size;
        gsize len;
        unsigned fds;

        tree_build(src);
        fds = fd_count();
        archive = nested_write(src, &digest0, &size0);
        g_assert_cmpuint(g_bytes_get_size(archive) % 10240, ==, 0);

        /* GNU tar sees three files; the first is byte for byte what tar_pack() writes */
        file = bytes_to_file(archive, work, "outer.tar");
        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-tf", file, NULL }, &listing);
        g_assert_cmpstr(listing, ==, "layers/0.tar\nlayers/1.tar\nmanifest.json\n");
        run_tar((char *[]) { (char *) "/usr/bin/tar", (char *) "-C", gnu, (char *) "-xf", file, NULL }, NULL);
        inner = g_build_filename(gnu, "layers/0.tar", NULL);
        g_assert_true(g_file_get_contents(inner, &got, &len, NULL));
        g_assert_cmpuint(len, ==, size0);
        {
                g_autofree char *d = sha256_of(got, len);
                g_assert_cmpstr(d, ==, digest0);
        }
        plain = pack(src, "/tree");
        g_assert_cmpmem(g_bytes_get_data(plain, NULL), g_bytes_get_size(plain), got, len);

        /* read back entry by entry: the first unpacked, the second skipped, the third read */
        in = memfd_from(g_bytes_get_data(archive, NULL), g_bytes_get_size(archive));
        dst_fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_assert_cmpint(tar_reader_new(in, NULL, &r), ==, 0);
        g_assert_cmpint(tar_reader_next(r, &name, &type, &size, &message), ==, 1);
        g_assert_cmpstr(name, ==, "layers/0.tar");
        g_assert_cmpint(type, ==, '0');
        g_assert_cmpuint(size, ==, size0);
        {
                g_autofree char *d = NULL;
                g_assert_cmpint(tar_reader_unpack(r, dst_fd, "/", NULL, &d, &message), ==, 0);
                g_assert_null(message);
                g_assert_cmpstr(d, ==, digest0);
        }
        g_assert_cmpint(tar_reader_next(r, &name, &type, &size, &message), ==, 1);
        g_assert_cmpstr(name, ==, "layers/1.tar");
        g_assert_cmpint(tar_reader_next(r, &name, &type, &size, &message), ==, 1);
        g_assert_cmpstr(name, ==, "manifest.json");
        g_assert_cmpuint(size, ==, 3);
        g_assert_cmpint(tar_reader_read(r, buf, sizeof(buf), &message), ==, 3);
        g_assert_cmpmem(buf, 3, "{}\n", 3);
        g_assert_cmpint(tar_reader_read(r, buf, sizeof(buf), &message), ==, 0);
        g_assert_cmpint(tar_reader_next(r, &name, &type, &size, &message), ==, 0);
        g_assert_cmpint(tar_reader_next(r, &name, &type, &size, &message), ==, 0);
        g_assert_null(message);
        src_tree = g_build_filename(src, "tree", NULL);
        dst_tree = g_build_filename(dst, "tree", NULL);
        a = tree_list(src_tree);
        b = tree_list(dst_tree);
        g_assert_cmpstr(a, ==, b);
        r = tar_reader_free(r);
        closep(&in);
        closep(&dst_fd);
        g_assert_cmpuint(fd_count(), ==, fds);
}

/* What the previous release wrote: tar_pack() of a directory, names "./layers/0.tar", with
 * directory entries; a changed byte gives another digest. */
static void test_nested_old_layout(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new(), out = tmpdir_new(), dst = tmpdir_new();
        g_autofree char *layers = g_build_filename(out, "layers", NULL), *layer = g_build_filename(out, "layers/0.tar", NULL);
        g_autofree char *message = NULL, *want = NULL, *d = NULL;
        g_autoptr(GBytes) inner = NULL, outer = NULL;
        _cleanup_(tar_reader_freep) TarReader *r = NULL;
        _cleanup_close_ int in = -1, dst_fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_autoptr(GString) seen = g_string_new(NULL);
        const char *name;
        char type;
        uint64_t size;
        int k;

        tree_build(src);
        inner = pack(src, "/tree");
        want = sha256_of(g_bytes_get_data(inner, NULL), g_bytes_get_size(inner));
        g_assert_cmpint(mkdir(layers, 0700), ==, 0);
        g_assert_true(g_file_set_contents(layer, g_bytes_get_data(inner, NULL), (gssize) g_bytes_get_size(inner), NULL));
        file_write(out, "manifest.json", "{}", 0600);
        outer = pack(out, "/");
        in = memfd_from(g_bytes_get_data(outer, NULL), g_bytes_get_size(outer));
        g_assert_cmpint(tar_reader_new(in, NULL, &r), ==, 0);
        while ((k = tar_reader_next(r, &name, &type, &size, &message)) > 0) {
                g_string_append_printf(seen, "%s %c\n", name, type);
                if (streq(name, "layers/0.tar")) {
                        g_assert_cmpint(tar_reader_unpack(r, dst_fd, "/", NULL, &d, &message), ==, 0);
                        g_assert_cmpstr(d, ==, want);
                }
        }
        g_assert_cmpint(k, ==, 0);
        g_assert_cmpstr(seen->str, ==, " 5\nlayers 5\nlayers/0.tar 0\nmanifest.json 0\n");

        /* one byte changed inside a file's data: still a good tar, another digest */
        {
                g_autoptr(GByteArray) bad = g_byte_array_new();
                g_autoptr(char_tmpdir) dst2 = tmpdir_new();
                _cleanup_close_ int in2 = -1, dst2_fd = open(dst2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                g_autofree char *d2 = NULL;
                _cleanup_(tar_reader_freep) TarReader *r2 = NULL;
                const guint8 *data = g_bytes_get_data(outer, NULL);
                guint8 *hit;

                g_byte_array_append(bad, data, (guint) g_bytes_get_size(outer));
                hit = memmem(bad->data, bad->len, "hello\n", 6);
                g_assert_nonnull(hit);
                hit[0] = 'j';
                in2 = memfd_from(bad->data, bad->len);
                g_assert_cmpint(tar_reader_new(in2, NULL, &r2), ==, 0);
                while ((k = tar_reader_next(r2, &name, &type, &size, &message)) > 0)
                        if (streq(name, "layers/0.tar"))
                                g_assert_cmpint(tar_reader_unpack(r2, dst2_fd, "/", NULL, &d2, &message), ==, 0);
                g_assert_cmpint(k, ==, 0);
                g_assert_nonnull(d2);
                g_assert_cmpstr(d2, !=, want);
        }
}

/* The outer stream ends inside a nested archive, or the nested one lacks its end marker. */
static void test_nested_truncated(void) {
        g_autoptr(char_tmpdir) src = tmpdir_new();
        g_autofree char *digest0 = NULL;
        g_autoptr(GBytes) archive = NULL;
        uint64_t size0;

        tree_build(src);
        archive = nested_write(src, &digest0, &size0);
        for (int cut = 0; cut < 2; cut++) {
                g_autoptr(char_tmpdir) dst = tmpdir_new();
                _cleanup_(tar_reader_freep) TarReader *r = NULL;
                _cleanup_close_ int in = -1, dst_fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                g_autofree char *message = NULL, *d = NULL, *left = NULL;
                const char *name;
                char type;
                uint64_t size;

                /* cut 0: in the middle of layers/0.tar; cut 1: the outer header says the
                 * nested archive is shorter than it is (its end marker left out) */
                if (cut == 0)
                        in = memfd_from(g_bytes_get_data(archive, NULL), 512 + size0 / 2);
                else {
                        g_autoptr(GByteArray) a = g_byte_array_new();
                        const guint8 *data = g_bytes_get_data(archive, NULL);
                        g_byte_array_append(a, data, 512);
                        tar_header(a, "layers/0.tar", '0', 0644, 1024, NULL);
                        g_byte_array_remove_index(a, 0);
                        g_byte_array_remove_range(a, 0, 511);
                        g_byte_array_append(a, data + 512, 1024);
                        tar_end(a);
                        in = memfd_from(a->data, a->len);
                }
                g_assert_cmpint(tar_reader_new(in, NULL, &r), ==, 0);
                g_assert_cmpint(tar_reader_next(r, &name, &type, &size, &message), ==, 1);
                g_assert_cmpint(tar_reader_unpack(r, dst_fd, "/", NULL, &d, &message), ==, -EBADMSG);
                g_assert_null(d);
                g_assert_nonnull(message);
                if (g_test_verbose())
                        g_printerr("cut %d: %s\n", cut, message);
                g_assert_nonnull(strstr(message, "truncated") ?: strstr(message, "end marker"));
                left = tree_list_children(dst);
                g_assert_cmpstr(left, ==, "");
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        /* a feeding thread sees EPIPE when an unpack stops early */
        signal(SIGPIPE, SIG_IGN);

        g_test_add_func("/tar/round-trip", test_round_trip);
        g_test_add_func("/tar/gnu-tar-reads-ours", test_gnu_tar_reads_ours);
        g_test_add_func("/tar/gnu-tar-gnu-format", test_gnu_tar_gnu_format);
        g_test_add_func("/tar/gnu-tar-pax-format", test_gnu_tar_pax_format);
        g_test_add_func("/tar/busybox-tar", test_busybox_tar);
        g_test_add_func("/tar/python-tarfile", test_python_tarfile);
        g_test_add_func("/tar/pack-fifo", test_pack_fifo);
        g_test_add_func("/tar/pack-skips-socket", test_pack_skips_socket);
        g_test_add_func("/tar/nested", test_nested);
        g_test_add_func("/tar/nested-old-layout", test_nested_old_layout);
        g_test_add_func("/tar/nested-truncated", test_nested_truncated);
        g_test_add_func("/tar/pack-errors", test_pack_errors);
        g_test_add_func("/tar/pack-top-symlink", test_pack_top_symlink);
        g_test_add_func("/tar/old-mtime", test_old_mtime);
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                g_autofree char *name = g_strconcat("/tar/hostile/", hostile[i].what, NULL);
                g_test_add_data_func(name, &hostile[i], test_hostile);
        }
        g_test_add_func("/tar/extended-fields", test_extended_fields);
        g_test_add_func("/tar/deepest", test_deepest);
        g_test_add_func("/tar/merge-and-replace", test_merge_and_replace);
        g_test_add_func("/tar/modes-and-ownership", test_modes_and_ownership);
        g_test_add_func("/tar/root-escape", test_root_escape);
        g_test_add_func("/tar/path-errors", test_path_errors);
        g_test_add_func("/tar/open-writer", test_open_writer);
        g_test_add_func("/tar/mount-point", test_mount_point);
        return g_test_run();
}
