/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"
#include "transfer-manifest.h"

/* Images that move: our own tar format, written and read by workers.
 *
 * The stream is a tar with manifest.json and layers/N.tar (N = 0 the lowest): each layer a
 * nested tar of container-side ids, whiteouts as OCI writes them (".wh.NAME" files,
 * ".wh..wh..opq" for opaque directories). The manifest: FormatVersion (1), Name, Base (a base
 * referenced by name, never exported), Command, Environment, WorkingDirectory, Provenance,
 * Created, Layers [{File, Digest "sha256:<hex>", Size}]. */
#define TRANSFER_MAX_BYTES (UINT64_C(16) << 30)
#define TRANSFER_MAX_ENTRIES UINT64_C(1000000)

/* done: error 0, or -errno with message; for imports, the new image (registered, ImageNew sent). */
typedef void (*TransferDone)(Manager *m, Image *image, int error, const char *message, void *userdata);

/* Writes image name to out_fd (the caller keeps its copy of the descriptor); compression NULL
 * or "none", "gzip", "zstd" (through the tool of that name). Imports detect it. */
int transfer_export_image(Manager *m, Image *i, int out_fd, const char *compression, TransferDone done, void *userdata,
                          sd_bus_error *error);
/* Reads in_fd into a new image called name: our format, or an OCI image layout in a tar (as
 * skopeo's oci-archive, `tar -C layout -c .` of umoci's or skopeo's oci: directories, podman save
 * --format oci-archive write it), whose layers are put on oci_base (NULL: busybox).
 * -EBADMSG (InvalidArchive) for a bad archive, -ENOENT (NoSuchBase) for a base this host
 * lacks. Nothing is left on failure. */
int transfer_import_image(Manager *m, const char *name, int in_fd, const char *oci_base, TransferDone done, void *userdata,
                          sd_bus_error *error);

/* A container (not running) with its writable layer (container-side ids) and configuration, and
 * unless include_image is false its image, in the same stream format (container.json,
 * upper.tar, plus manifest.json and layers/ of its image). */
int transfer_export_container(Manager *m, Container *c, int out_fd, bool include_image, const char *compression,
                              TransferDone done, void *userdata, sd_bus_error *error);
/* Creates container name (not started, a fresh id slot) from such a stream; the image it
 * carries is imported as image_name (NULL: its name in the archive: ImageExists if taken), else
 * the image it names must exist here; an archive with an image is refused (AccessDenied, before
 * anything is written) unless allow_image. done gets the container through ret_container. */
typedef void (*TransferContainerDone)(Manager *m, Container *c, int error, const char *error_name, const char *message,
                                      void *userdata);
int transfer_import_container(Manager *m, const char *name, int in_fd, const char *image_name, bool allow_image,
                              TransferContainerDone done, void *userdata, sd_bus_error *error);

/* PullImage's worker (a Build with pull set: data is the Build): skopeo copies the reference
 * into an OCI layout, which is imported as ImportImage imports one, into the build's tmpdir.
 * Speaks the build worker's line protocol (LOG, PROGRESS, COMMIT, FAIL, DONE). */
int transfer_pull_worker(int fd, void *data);
/* A registry reference skopeo may take after docker://, without credentials. */
bool transfer_reference_is_valid(const char *ref);

