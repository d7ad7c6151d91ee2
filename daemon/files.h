/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

#include "rootfs.h"
#include "util.h"

/* A reply must fit the system bus's message limit (dbus-daemon: 32 MiB, and it drops the
 * connection of a sender that goes over it): GetFile and ListDirectory stay below this. */
#define FILES_MAX_REPLY_BYTES (32U * 1024U * 1024U - 64U * 1024U)

typedef enum FileOp {
        FILE_OP_GET,
        FILE_OP_GET_FD,
        FILE_OP_PUT,
        FILE_OP_PUT_FD,
        FILE_OP_LIST,
        FILE_OP_MKDIR,
        FILE_OP_REMOVE,
        FILE_OP_PUT_ARCHIVE,
        FILE_OP_GET_ARCHIVE,
        _FILE_OP_MAX,
} FileOp;

/* Where the container's root is found. */
typedef struct FileTarget {
        pid_t leader;           /* > 0: it runs; its namespaces are joined */
        char *unit;             /* its scope: the leader must still be in it */
        RootfsSpec *spec;       /* leader == 0: the root is assembled as a start would */
        char *lock_path;        /* leader == 0: held while the root is mounted */
        bool privileged;        /* no user namespace */
        uint32_t uid_shift;
} FileTarget;

typedef struct FileRequest {
        FileOp op;
        char *path;             /* absolute, normalized (files_path_normalize()) */
        GBytes *data;           /* FILE_OP_PUT */
        uint32_t mode, uid, gid;
        bool mode_set, uid_set, gid_set;
        bool make_parents;
        bool recursive;
        uint64_t max_bytes;     /* FILE_OP_PUT_ARCHIVE: the data of all entries at most (0: no cap) */
        FileTarget target;
} FileRequest;

typedef struct FileInfo {
        uint32_t mode, uid, gid;
        uint64_t size;
        uint64_t mtime_usec;
} FileInfo;

/* What a worker writes first to its result pipe; the payload follows (GetFile: the data;
 * ListDirectory: FileEntry records, each followed by its name). */
typedef struct FileReply {
        int32_t error;          /* 0 or a negative errno */
        uint32_t n_entries;
        FileInfo info;
        uint64_t payload_size;
        char message[512];      /* what failed, when error < 0 */
} FileReply;

typedef struct FileEntry {
        FileInfo info;
        uint32_t name_len;
} FileEntry;

FileRequest *file_request_new(FileOp op, const char *path);
void file_request_free(FileRequest *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(FileRequest *, file_request_free);

/* Checks a path given by a client and returns it without empty and "." components ("/" for
 * the root). -EINVAL: empty, relative, too long, not UTF-8. ".." stays: it is resolved inside
 * the root like everything else. */
int files_path_normalize(const char *path, char **ret);

/* The worker, run in a forked child (worker.c): enters the container (its namespaces when it
 * runs, else a private mount namespace with its root assembled and its user namespace), does
 * r->op with every path resolved inside the root, writes a FileReply (and payload) to fd.
 * FILE_OP_GET_FD streams into WORKER_KEEP_FD after a one-line header on fd ("OK mode uid gid
 * size mtime" or "ERR errno message"); FILE_OP_PUT_FD reads WORKER_KEEP_FD to its end;
 * FILE_OP_PUT_ARCHIVE unpacks the tar read from WORKER_KEEP_FD into the directory path,
 * FILE_OP_GET_ARCHIVE writes path as a tar to WORKER_KEEP_FD. */
int files_worker(int fd, void *data);
/* The same once in the container: root_fd is its root. (For the unit tests: on a directory.) */
int files_run_in_root(int root_fd, int fd, const FileRequest *r);

/* Splits a worker's output: the header, and the payload after it. */
int files_reply_parse(const void *output, size_t size, FileReply *ret, const uint8_t **ret_payload);

/* Parses a FILE_OP_GET_FD header line. */
int files_fd_header_parse(const char *line, FileInfo *ret_info, int *ret_error, char **ret_message);
