/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* How a container's root file system is put together at each start. The daemon writes it
 * beside LXC's configuration; the monitor, already in the container's scope, builds the root
 * from it in a private mount namespace and hands LXC the result. Nothing of it is ever
 * mounted in the host's namespace, and it all goes away with the monitor. */
typedef struct RootfsBind {
        char *source;           /* host path */
        char *target;           /* path inside the container, relative to its root */
        bool optional;          /* skip when the source does not exist */
        bool create_file;       /* create the target as an empty file (else as a directory) */
} RootfsBind;

typedef struct RootfsSpec {
        char *stage;            /* an empty directory on the host: a private tmpfs goes there */
        char **lower;           /* read-only layers, top first */
        char *upper;            /* the container's writable layer */
        char *work;             /* overlayfs' work directory, next to upper */
        uint32_t uid_shift;     /* host id of container id 0 */
        uint32_t id_count;      /* 0: privileged, no mapping */
        GPtrArray *binds;       /* RootfsBind*: host paths shared read-only, nosuid, nodev */
        char *path;             /* the container's PATH, to find its command */
        char *cwd;              /* its working directory */
} RootfsSpec;

RootfsSpec *rootfs_spec_new(void);
RootfsSpec *rootfs_spec_free(RootfsSpec *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RootfsSpec, rootfs_spec_free)

/* Parses an lxc.mount.entry-style line of a base definition ("/usr usr none ro,bind 0 0"):
 * only read-only bind mounts of host paths are accepted. */
int rootfs_bind_parse(const char *line, RootfsBind **ret);
void rootfs_bind_free(RootfsBind *b);

int rootfs_spec_save(const RootfsSpec *s, const char *path);
int rootfs_spec_load(const char *path, RootfsSpec **ret);

/* The directory under stage where the container's root appears (what LXC is given). */
char *rootfs_spec_root(const RootfsSpec *s);

/* In the calling process: a private mount namespace (slave to the host's, so nothing
 * propagates back), a tmpfs on stage, the lower layers as read-only mounts (idmapped to the
 * slot unless privileged), the overlay with upper, and the binds. On error, *ret_message says
 * which step failed. */
int rootfs_setup(const RootfsSpec *s, char **ret_message);

/* After rootfs_setup(): whether argv0 names an executable file in the container's root, found
 * as execvp() inside would (PATH for a bare name, cwd for a relative path), links resolved in
 * the root. -ENOENT/-EACCES with *ret_message naming the program otherwise. */
int rootfs_find_program(const RootfsSpec *s, const char *argv0, char **ret_message);

/* A user namespace fd whose mapping sends container id 0..count-1 to host shift..: the
 * idmapping for MOUNT_ATTR_IDMAP. */
int userns_fd_new(uint32_t shift, uint32_t count);
