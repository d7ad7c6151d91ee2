/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "container.h"

/* Snapshots of a container's writable layer and configuration, kept in
 * containers/NAME/snapshots/SNAP/{upper,snapshot.json} (gone with the container), and Commit.
 * Copies run in workers; a running container is frozen for them and thawed after (unless it
 * was frozen already). The callbacks run once, with the container possibly gone (c NULL). */
typedef void (*SnapshotDone)(Container *c, int error, const char *message, void *userdata);
typedef void (*CommitDone)(Container *c, Image *image, int error, const char *message, void *userdata);

typedef struct SnapshotInfo {
        char *name;
        uint64_t created_usec;
} SnapshotInfo;

char *snapshot_dir(Container *c, const char *name);
bool snapshot_exists(Container *c, const char *name);
/* Sorted by creation time. */
int snapshot_list(Container *c, GArray **ret);
void snapshot_info_clear(SnapshotInfo *i);
/* Whether a snapshot or commit of c is under way (one at a time per container). */
bool snapshot_busy(Container *c);
/* For other copies into a container's layer (ImportContainer): Start is refused meanwhile. */
void snapshot_mark_busy(const char *container, bool busy);

int snapshot_create(Container *c, const char *name, SnapshotDone cb, void *userdata, sd_bus_error *error);
int snapshot_restore(Container *c, const char *name, SnapshotDone cb, void *userdata, sd_bus_error *error);
int snapshot_remove(Container *c, const char *name, sd_bus_error *error);
/* Runs `criu check`; cb gets 0 when it passes, else -EOPNOTSUPP and CRIU's own words. */
int snapshot_check_criu(Container *c, SnapshotDone cb, void *userdata, sd_bus_error *error);

/* A new image `image`: the container's image's layers (referenced) plus a copy of its
 * writable layer with container-side owners, its command, environment, working directory. */
int container_commit(Container *c, const char *image, CommitDone cb, void *userdata, sd_bus_error *error);
