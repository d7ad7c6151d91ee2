/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main() of the fuzz targets built as plain programs (meson's fuzz-*-corpus tests): runs every
 * file named on the command line (directories: every file in them) through the target's
 * LLVMFuzzerTestOneInput(). tests/fuzz/run-fuzzer builds the targets with libFuzzer's own main. */
#include <stdint.h>
#include <stdio.h>
#include <glib.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        g_autofree char *data = NULL;
        g_autoptr(GError) e = NULL;
        gsize size;

        if (!g_file_get_contents(path, &data, &size, &e)) {
                fprintf(stderr, "%s: %s\n", path, e->message);
                return -EIO;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) data, size);
        return 0;
}

int main(int argc, char *argv[]) {
        unsigned n = 0;
        int r = 0;

        for (int i = 1; i < argc; i++) {
                g_autoptr(GDir) d = NULL;
                const char *name;

                if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
                        if (run_file(argv[i]) < 0)
                                r = -EIO;
                        n++;
                        continue;
                }
                d = g_dir_open(argv[i], 0, NULL);
                if (!d) {
                        fprintf(stderr, "%s: cannot open directory\n", argv[i]);
                        r = -EIO;
                        continue;
                }
                while ((name = g_dir_read_name(d))) {
                        g_autofree char *path = NULL;

                        if (name[0] == '.')
                                continue;
                        path = g_build_filename(argv[i], name, NULL);
                        if (run_file(path) < 0)
                                r = -EIO;
                        n++;
                }
        }

        printf("%u inputs checked\n", n);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
