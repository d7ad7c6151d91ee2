/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

struct Image {
        Manager *manager;

        char *name;
        char *description;
        char *base;             /* NULL for a base itself */
        char *url;
        char *commit;
        uint64_t created_usec;
        bool is_base;

        /* How to assemble a base's root file system. */
        char *busybox;          /* assemble from this static busybox */
        char **symlinks;        /* "path=target" pairs created in the root */
        char **requires;        /* host paths that must exist for the base to be usable */

        char *rootfs;           /* assembled lower layer, NULL until assembled */
        char **mounts;          /* extra lxc.mount.entry lines */
        char **command;         /* default command (NULL for a base) */
        char **environment;     /* default environment, "K=V" */
        char *working_directory;
};

Image *image_free(Image *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(Image *, image_free);

char *image_object_path(const Image *i);

/* Parses one base definition (a JSON file shipped in BASES_DIR). */
int image_load_base(Manager *m, const char *path, Image **ret, GError **error);
int manager_load_bases(Manager *m);

/* Makes sure the base's root file system exists under the state directory. */
int image_assemble(Image *i);
bool image_is_usable(const Image *i);
