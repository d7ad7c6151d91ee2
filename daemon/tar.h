/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* A small POSIX tar reader and writer for the forked workers (file transfer, export and
 * import). Both functions may block; neither forks. */

typedef struct TarLimits {
        uint64_t max_bytes;     /* total size of the entries' data; 0: no limit */
        uint64_t max_entries;   /* 0: no limit */
        bool keep_ownership;    /* apply the archive's numeric uid/gid (fchownat); else the caller's ids */
        uint64_t *total_bytes;  /* the entries' data of every archive of one operation (may be NULL) */
        uint64_t max_total_bytes;       /* caps *total_bytes; 0: no cap */
} TarLimits;

/* Writes the file or the directory tree at path (an absolute path resolved inside root_fd with
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS); symlinks inside the tree are stored as links,
 * never followed) to out_fd as a POSIX tar stream (ustar, with pax extended headers for long
 * names/link targets and sizes over ustar's limits). Entry names are relative: the basename of
 * path, then its contents ("." contents for path "/"). Regular files, directories, symlinks,
 * hard links (files with st_nlink > 1 seen twice), fifos (type '6'); devices and sockets are skipped.
 * Numeric uid/gid, mode (07777) and mtime as the calling process sees them. -errno, and
 * *ret_message (g_free) saying what failed. */
int tar_pack(int root_fd, const char *path, int out_fd, char **ret_message);

/* Reads a tar stream from in_fd (ustar, pax 'x'/'g' headers, GNU 'L'/'K' long names, as GNU
 * tar, busybox tar, Python's tarfile and our tar_pack write) and creates its entries under the
 * existing directory path (resolved inside root_fd as above). Refused with -EBADMSG and a
 * message naming the entry: absolute names, any ".." component, empty names, NUL-holding or
 * over-long names, device nodes, sockets, hard links whose target is not an earlier entry
 * of the same archive, any entry whose parent path goes through a symlink (even a symlink the
 * archive made itself: every parent is resolved beneath the target directory with
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), bad checksums, truncated streams, sizes or counts
 * beyond limits (-EFBIG). Symlink entries themselves may point anywhere (they are resolved
 * inside the container later, as any link there is). Atomic as a whole: entries are first
 * extracted into a new hidden staging directory inside path; only when the whole stream was
 * good are the staged top-level entries moved into place (a new name: renameat; a directory over
 * an existing directory: merged recursively; anything else replaces the existing entry); on any
 * failure the staging directory is removed and nothing under path has changed (an existing
 * mount point the archive would merge into or replace: -EXDEV, found before anything moves;
 * the moves themselves are one rename each, not one for all). Modes from the
 * archive (setuid/setgid bits kept only with keep_ownership), mtimes restored.
 * limits may be NULL: no limits, the caller's ids. After the end marker, in_fd is read on only
 * while more arrives within 100 ms (a writer's record padding), not to its end. */
int tar_unpack(int in_fd, int root_fd, const char *path, const TarLimits *limits, char **ret_message);

/* Writing an archive of archives (ExportImage's stream) with every byte produced once. */
typedef struct TarWriter TarWriter;
TarWriter *tar_writer_new(int out_fd);
TarWriter *tar_writer_free(TarWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(TarWriter *, tar_writer_free);
/* A regular file name (0644, owner 0) holding data. */
int tar_writer_add_data(TarWriter *w, const char *name, const void *data, size_t size, char **ret_message);
/* A regular file name holding tar_pack()'s archive of path inside root_fd, written straight into
 * the stream: a first pass over the metadata finds its size, the second writes it and hashes it
 * on the way (*ret_digest "sha256:<hex>", *ret_size). A tree that changes between the passes
 * fails with -EAGAIN (the stream is then unusable). */
int tar_writer_add_tree(TarWriter *w, const char *name, int root_fd, const char *path, char **ret_digest,
                        uint64_t *ret_size, char **ret_message);
/* The end marker and record padding. */
int tar_writer_finish(TarWriter *w, char **ret_message);

/* Reading an archive entry by entry, with limits as tar_unpack() applies them to the entries
 * and their data (keep_ownership unused). */
typedef struct TarReader TarReader;
int tar_reader_new(int in_fd, const TarLimits *limits, TarReader **ret);
TarReader *tar_reader_free(TarReader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(TarReader *, tar_reader_free);
/* 1: the next entry: its name normalized (relative, no "." or empty components, refused with
 * -EBADMSG as tar_unpack() refuses names; "" for "./"), type ('0' for regular files, '5'
 * directories, else as in the header) and data size; valid until the next call, which skips
 * what was not read of the data. 0: the end marker was read. -errno and *ret_message. */
int tar_reader_next(TarReader *r, const char **ret_name, char *ret_type, uint64_t *ret_size, char **ret_message);
/* Up to size bytes of the current entry's data; 0 at its end; -EBADMSG if the stream ends first. */
ssize_t tar_reader_read(TarReader *r, void *buf, size_t size, char **ret_message);
/* The current entry's data is an archive: unpacked as tar_unpack() does (staged, atomic), and
 * all of the entry's data hashed on the way (*ret_digest "sha256:<hex>"). */
int tar_reader_unpack(TarReader *r, int root_fd, const char *path, const TarLimits *limits, char **ret_digest,
                      char **ret_message);
