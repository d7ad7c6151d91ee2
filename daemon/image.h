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

        char *extends;          /* a base this one builds on (its definitions come first) */

        /* How to assemble a base's root file system. */
        char *busybox;          /* assemble from this static busybox */
        char **symlinks;        /* "path=target" pairs created in the root */
        char **requires;        /* host paths that must exist for the base to be usable */

        char *rootfs;           /* a base's assembled root file system */
        char *layer;            /* a built image's application layer (the checkout at its working directory) */
        char **layers;          /* all of its own layers, top first (layers[0] == layer) */
        char *parent;           /* a committed image: the image whose layers lie below its own (referenced) */
        char *provenance;       /* "committed from container X at T", "imported at T"; may be NULL */
        char *branch;
        char *subdir;
        char *run_digest;       /* sha256 of the Run.yaml it was built from */
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
int manager_resolve_base_extends(Manager *m);

/* Built images live in state_dir/images/<name>/ (image.json and layer/). */
char *manager_image_dir(Manager *m, const char *name);
int manager_load_images(Manager *m);
/* The base a built image sits on (or the image itself for a base). */
Image *image_get_base(Image *i);
/* Every layer below a container of this image, top first, without the base's root file system;
 * NULL when a parent image is missing. */
char **image_lower_layers(Image *i);
/* An image committed on top of this one, or NULL. */
Image *image_child(Image *i);
/* A container created from this image, or NULL. */
Container *image_in_use(Image *i);

/* Makes sure the base's root file system exists under the state directory. */
int image_assemble(Image *i);
bool image_is_usable(const Image *i);
