/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the manifest check of ImportImage (transfer_manifest_check). Built
 * with -DFUZZ_STANDALONE it is a plain program that runs every file named on the command line
 * (directories: every file in them), so the corpus runs in `meson test`. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

#include "transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                \
        do {                                                                    \
                if (!(x)) {                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n",            \
                                __FILE__, __LINE__, #x);                        \
                        abort();                                                \
                }                                                               \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *text = g_strndup((const char *) data, size), *error = NULL;
        int r;

        r = transfer_manifest_check(text, size, &error);
        if (r < 0) {
                CHECK(r == -EBADMSG);
                CHECK(error);
                return 0;
        }
        CHECK(r == 0);
        CHECK(!error);
        return 0;
}

#ifdef FUZZ_STANDALONE
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
#endif
