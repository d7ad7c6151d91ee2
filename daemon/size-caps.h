/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Total caps on what a caller may make the service read or write in one operation, from
 * [Transfers] of the configuration file:
 *   ImportMaxBytes=     ImportImage/ImportContainer: the stream's entries (decompressed), and
 *                       again the data of all the layers it unpacks
 *   PutArchiveMaxBytes= PutArchive: the data of all the archive's entries
 *   PullMaxBytes=       PullImage: what skopeo downloads, and again what its layers unpack to
 * Values in bytes, or with a K, M, G or T suffix (powers of 1024). */
#define SIZE_CAP_DEFAULT (UINT64_C(16) << 30)

typedef struct SizeCaps {
        uint64_t import_max_bytes;
        uint64_t put_archive_max_bytes;
        uint64_t pull_max_bytes;
} SizeCaps;

#define SIZE_CAPS_DEFAULT ((SizeCaps) {                 \
        .import_max_bytes = SIZE_CAP_DEFAULT,          \
        .put_archive_max_bytes = SIZE_CAP_DEFAULT,     \
        .pull_max_bytes = SIZE_CAP_DEFAULT,            \
})

/* "1234", "512K", "16G": -EINVAL for anything else, 0 or an overflow. */
int size_parse(const char *s, uint64_t *ret);

/* A missing file or section: the defaults. An invalid value: -EINVAL and a message, ret as it
 * was. */
int size_caps_load(const char *path, SizeCaps *ret, char **ret_message);
