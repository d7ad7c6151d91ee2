/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the manifest check of ImportImage (transfer_manifest_check, transfer-manifest.c:
 * json-glib and util.c only, so tests/fuzz/run-fuzzer --target manifest builds it with clang). Built
 * linked with fuzz-standalone.c it is a plain program that runs every file named on the command line
 * (directories: every file in them), so the corpus runs in `meson test`. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

#include "transfer-manifest.h"
#include "fuzz-check.h"

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
