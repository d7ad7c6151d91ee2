/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Copies of overlayfs layers, for snapshots and Commit: run in forked workers (they block). */
typedef enum CopyFlags {
        /* Commit: only the xattrs a layer needs as a lower layer (overlay whiteouts and opaque
         * directories keep their meaning; origin/impure bookkeeping of the old upper is dropped). */
        COPY_LAYER_XATTRS_ONLY = 1 << 0,
        /* Ids outside [id_base, id_base + id_count) become 65534 (nobody) container-side. */
        COPY_SHIFT_IDS = 1 << 1,
        /* Export: whiteouts become empty ".wh.NAME" files and opaque directories get a
         * ".wh..wh..opq" file (as OCI layers say them), so that a plain tar can carry them;
         * no trusted.overlay.* xattrs. */
        COPY_OCI_WHITEOUTS = 1 << 2,
} CopyFlags;

typedef struct CopyOptions {
        CopyFlags flags;
        uint32_t id_base;       /* with COPY_SHIFT_IDS: subtracted from every owner */
        uint32_t id_count;
} CopyOptions;

/* Copies the directory tree src to dst (which must not exist) preserving modes, owners
 * (shifted if asked), timestamps, xattrs, symlinks, hard links, device nodes (overlay
 * whiteouts are char 0/0), fifos; file data through reflinks (FICLONE) where the file system
 * has them, else copy_file_range. Never follows symlinks. -errno, *ret_message (g_free) says
 * which path failed. */
int copy_tree(const char *src, const char *dst, const CopyOptions *opts, char **ret_message);

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* Whether a stat result is an overlayfs whiteout. */
#define IS_WHITEOUT(st) (S_ISCHR((st)->st_mode) && (st)->st_rdev == 0)
