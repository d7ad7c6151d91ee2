/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for tar_unpack(): every input is extracted into a directory that holds one
 * file already. A refused archive must leave exactly that; an accepted one must pack again and
 * unpack again. Nothing may appear outside the target. Linked with fuzz-standalone.c it is
 * a plain program that runs every file named on the command line (directories: every file in
 * them), so the corpus and the regressions run in `meson test`. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tar.h"
#include "util.h"
#include "fuzz-check.h"

static char *top;               /* holds target/ and copy/, nothing else */
static int top_fd = -1;

static unsigned entries_of(const char *rel) {
        g_autofree char *p = g_build_filename(top, rel, NULL);
        g_autoptr(GDir) d = g_dir_open(p, 0, NULL);
        unsigned n = 0;

        CHECK(d);
        while (g_dir_read_name(d))
                n++;
        return n;
}

static unsigned fd_count(void) {
        g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
        unsigned n = 0;

        CHECK(d);
        while (g_dir_read_name(d))
                n++;
        return n;
}

static void dir_reset(const char *rel) {
        g_autofree char *p = g_build_filename(top, rel, NULL);

        CHECK(rm_rf(p) == 0);
        CHECK(mkdir(p, 0755) == 0);
}

static void cleanup(void) {
        closep(&top_fd);
        (void) rm_rf(top);
        g_clear_pointer(&top, g_free);
}

static void setup(void) {
        g_autofree char *keep = NULL;

        if (top)
                return;
        top = g_dir_make_tmp("fuzz-tar-XXXXXX", NULL);
        CHECK(top);
        CHECK(atexit(cleanup) == 0);
        top_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(top_fd >= 0);
        dir_reset("target");
        dir_reset("copy");
        keep = g_build_filename(top, "target", "keep", NULL);
        CHECK(g_file_set_contents(keep, "keep", -1, NULL));
}

static int memfd_from(const void *data, size_t size) {
        int fd = memfd_create("archive", MFD_CLOEXEC);

        CHECK(fd >= 0);
        CHECK(loop_write(fd, data, size) == 0);
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

static void check_target_unchanged(void) {
        g_autofree char *keep = g_build_filename(top, "target", "keep", NULL);
        g_autofree char *content = NULL;

        CHECK(entries_of("target") == 1);
        CHECK(g_file_get_contents(keep, &content, NULL, NULL));
        CHECK(streq(content, "keep"));
}

/* What was unpacked packs ("/" of it: names as deep as the archive's) and unpacks again. */
static void check_repack(void) {
        const TarLimits limits = { .max_entries = 4096 };
        g_autofree char *target = g_build_filename(top, "target", NULL);
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
        _cleanup_close_ int target_fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_autofree char *message = NULL;
        int r;

        CHECK(out >= 0);
        CHECK(target_fd >= 0);
        r = tar_pack(target_fd, "/", out, &message);
        if (r < 0)
                fprintf(stderr, "pack: %s\n", message);
        CHECK(r == 0);
        CHECK(lseek(out, 0, SEEK_SET) == 0);
        r = tar_unpack(out, top_fd, "/copy", &limits, &message);
        if (r < 0)
                fprintf(stderr, "unpack of our own archive: %s\n", message);
        CHECK(r == 0);
        CHECK(entries_of("copy") == entries_of("target"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const TarLimits limits = { .max_bytes = 1024 * 1024, .max_entries = 256 };
        g_autofree char *message = NULL;
        _cleanup_close_ int in = -1;
        unsigned fds;
        int r;

        setup();
        fds = fd_count();
        in = memfd_from(data, size);
        r = tar_unpack(in, top_fd, "/target", &limits, &message);
        closep(&in);
        CHECK(fd_count() == fds);
        CHECK(entries_of("") == 2);     /* target and copy: nothing beside them */

        if (r < 0) {
                CHECK(IN_SET(r, -EBADMSG, -EFBIG, -ENAMETOOLONG));
                CHECK(message);
                CHECK(g_utf8_validate(message, -1, NULL));
                check_target_unchanged();
                return 0;
        }

        CHECK(r == 0);
        CHECK(!message);
        check_repack();
        CHECK(fd_count() == fds);
        dir_reset("target");
        dir_reset("copy");
        {
                g_autofree char *keep = g_build_filename(top, "target", "keep", NULL);
                CHECK(g_file_set_contents(keep, "keep", -1, NULL));
        }
        return 0;
}
