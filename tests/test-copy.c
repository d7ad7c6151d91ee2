/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* copy_tree(): what snapshots and Commit rely on. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "copy.h"
#include "util.h"

static char *tmpdir_new(void) {
        char *d = g_dir_make_tmp("cm-test-copy-XXXXXX", NULL);
        g_assert_nonnull(d);
        return d;
}

static char *path(const char *dir, const char *rel) {
        return g_build_filename(dir, rel, NULL);
}

static void write_file(const char *dir, const char *rel, const char *text, mode_t mode) {
        g_autofree char *p = path(dir, rel);
        g_assert_true(g_file_set_contents(p, text, -1, NULL));
        g_assert_cmpint(chmod(p, mode), ==, 0);
}

static char *read_file(const char *dir, const char *rel) {
        g_autofree char *p = path(dir, rel);
        char *text = NULL;
        g_assert_true(g_file_get_contents(p, &text, NULL, NULL));
        return text;
}

static void make_tree(const char *src) {
        g_autofree char *sub = path(src, "dir"), *slink = path(src, "dir/link"), *hard = path(src, "dir/hard");
        g_autofree char *file = path(src, "file"), *fifo = path(src, "fifo");
        struct timespec ts[2] = { { .tv_sec = 1500000000 }, { .tv_sec = 1500000000 } };

        g_assert_cmpint(mkdir(sub, 0750), ==, 0);
        write_file(src, "file", "hello", 0640);
        write_file(src, "dir/exec", "#!/bin/sh\n", 0755);
        g_assert_cmpint(symlink("../file", slink), ==, 0);
        g_assert_cmpint(link(file, hard), ==, 0);
        g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
        g_assert_cmpint(utimensat(AT_FDCWD, file, ts, 0), ==, 0);
}

static void test_plain(void) {
        g_autofree char *top = tmpdir_new(), *src = path(top, "src"), *dst = path(top, "dst");
        g_autofree char *text = NULL, *target = NULL, *f = NULL, *h = NULL, *l = NULL, *x = NULL, *fifo = NULL;
        g_autofree char *message = NULL;
        struct stat a, b;

        g_assert_cmpint(mkdir(src, 0711), ==, 0);
        make_tree(src);
        g_assert_cmpint(copy_tree(src, dst, NULL, &message), ==, 0);
        g_assert_null(message);

        text = read_file(dst, "file");
        g_assert_cmpstr(text, ==, "hello");
        f = path(dst, "file");
        h = path(dst, "dir/hard");
        l = path(dst, "dir/link");
        x = path(dst, "dir/exec");
        fifo = path(dst, "fifo");
        g_assert_cmpint(lstat(f, &a), ==, 0);
        g_assert_cmpint(a.st_mode & 07777, ==, 0640);
        g_assert_cmpint(a.st_mtim.tv_sec, ==, 1500000000);
        g_assert_cmpint(lstat(h, &b), ==, 0);
        g_assert_cmpint(a.st_ino, ==, b.st_ino);   /* still one file */
        g_assert_cmpint(a.st_nlink, ==, 2);
        target = g_file_read_link(l, NULL);
        g_assert_cmpstr(target, ==, "../file");
        g_assert_cmpint(lstat(x, &a), ==, 0);
        g_assert_cmpint(a.st_mode & 07777, ==, 0755);
        g_assert_cmpint(lstat(fifo, &a), ==, 0);
        g_assert_true(S_ISFIFO(a.st_mode));
        g_assert_cmpint(lstat(dst, &a), ==, 0);
        g_assert_cmpint(a.st_mode & 07777, ==, 0711);

        /* the destination must not exist */
        g_assert_cmpint(copy_tree(src, dst, NULL, &message), ==, -EEXIST);
        g_assert_nonnull(message);
        g_assert_cmpint(rm_rf(top), ==, 0);
}

static void test_overlay_and_ids(void) {
        g_autofree char *top = tmpdir_new(), *src = path(top, "src"), *dst = path(top, "dst"), *oci = path(top, "oci");
        g_autofree char *wh = NULL, *opq = NULL, *owned = NULL, *p = NULL, *message = NULL;
        CopyOptions shift = { .flags = COPY_SHIFT_IDS | COPY_LAYER_XATTRS_ONLY, .id_base = 100000, .id_count = 65536 };
        CopyOptions export = { .flags = COPY_OCI_WHITEOUTS };
        char v[4] = {};
        struct stat st;

        if (geteuid() != 0) {
                g_test_skip("whiteouts, trusted xattrs and owners need root");
                return;
        }
        g_assert_cmpint(mkdir(src, 0755), ==, 0);
        wh = path(src, "gone");
        if (mknod(wh, S_IFCHR | 0, makedev(0, 0)) < 0) {
                g_test_skip("no mknod here");
                g_assert_cmpint(rm_rf(top), ==, 0);
                return;
        }
        opq = path(src, "opaque");
        g_assert_cmpint(mkdir(opq, 0755), ==, 0);
        if (setxattr(opq, "trusted.overlay.opaque", "y", 1, 0) < 0 ||
            setxattr(opq, "trusted.overlay.origin", "xx", 2, 0) < 0) {
                g_test_skip("no trusted xattrs on this file system");
                g_assert_cmpint(rm_rf(top), ==, 0);
                return;
        }
        write_file(src, "opaque/owned", "x", 04755);
        owned = path(src, "opaque/owned");
        g_assert_cmpint(lchown(owned, 100000 + 1234, 100000 + 4321), ==, 0);
        g_assert_cmpint(chmod(owned, 04755), ==, 0);
        g_assert_cmpint(lchown(opq, 5, 5), ==, 0); /* outside the slot: nobody */

        g_assert_cmpint(copy_tree(src, dst, &shift, &message), ==, 0);
        p = path(dst, "gone");
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_true(IS_WHITEOUT(&st));
        g_free(p);
        p = path(dst, "opaque");
        g_assert_cmpint(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), ==, 1);
        g_assert_cmpint(v[0], ==, 'y');
        g_assert_cmpint(getxattr(p, "trusted.overlay.origin", v, sizeof(v)), ==, -1);  /* bookkeeping dropped */
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_uid, ==, 65534);
        g_free(p);
        p = path(dst, "opaque/owned");
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_cmpint(st.st_uid, ==, 1234);
        g_assert_cmpint(st.st_gid, ==, 4321);
        g_assert_cmpint(st.st_mode & 07777, ==, 04755);   /* setuid kept after the chown */

        /* export: whiteouts as OCI writes them */
        g_assert_cmpint(copy_tree(dst, oci, &export, &message), ==, 0);
        g_free(p);
        p = path(oci, ".wh.gone");
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_assert_true(S_ISREG(st.st_mode));
        g_free(p);
        p = path(oci, "opaque/.wh..wh..opq");
        g_assert_cmpint(lstat(p, &st), ==, 0);
        g_free(p);
        p = path(oci, "opaque");
        g_assert_cmpint(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), ==, -1);
        g_assert_cmpint(rm_rf(top), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/copy/plain", test_plain);
        g_test_add_func("/copy/overlay-and-ids", test_overlay_and_ids);
        return g_test_run();
}
