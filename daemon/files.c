/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Files of a container, read and written by a forked worker that first becomes the container's
 * root: in a running container's namespaces (all of them) and cgroup, or in a private mount
 * namespace with the root assembled as a start would, then in a user namespace of the
 * container's slot.
 * Either way the container's own ids and permission rules apply, and every path is resolved
 * with openat2(RESOLVE_IN_ROOT) from the root: a link or ".." can never lead out of it. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/openat2.h>

#include "files.h"
#include "tar.h"
#include "worker.h"

#define COPY_BUFFER_SIZE (128U * 1024U)

FileRequest *file_request_new(FileOp op, const char *path) {
        FileRequest *r;

        assert(op >= 0 && op < _FILE_OP_MAX);
        assert(path);

        r = g_new0(FileRequest, 1);
        r->op = op;
        r->path = g_strdup(path);
        return r;
}

void file_request_free(FileRequest *r) {
        if (!r)
                return;
        g_free(r->path);
        if (r->data)
                g_bytes_unref(r->data);
        g_free(r->target.unit);
        g_free(r->target.lock_path);
        rootfs_spec_free(r->target.spec);
        g_free(r);
}

int files_path_normalize(const char *path, char **ret) {
        g_autoptr(GString) s = g_string_new(NULL);
        g_auto(GStrv) parts = NULL;

        assert(ret);

        if (isempty(path) || path[0] != '/' || strlen(path) >= PATH_MAX || !g_utf8_validate(path, -1, NULL))
                return -EINVAL;
        parts = g_strsplit(path, "/", -1);
        for (char **p = parts; *p; p++) {
                if (**p == 0 || streq(*p, "."))
                        continue;
                g_string_append_c(s, '/');
                g_string_append(s, *p);
        }
        if (s->len == 0)
                g_string_append_c(s, '/');
        *ret = g_string_free(TAKE_PTR(s), false);
        return 0;
}

/* ---- in the worker ---------------------------------------------------------------------- */

static int reply_errorf(FileReply *reply, int error, const char *fmt, ...) _printf_(3, 4);
static int reply_errorf(FileReply *reply, int error, const char *fmt, ...) {
        g_autofree char *what = NULL;
        va_list ap;

        va_start(ap, fmt);
        what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        reply->error = error;
        (void) g_snprintf(reply->message, sizeof(reply->message), "%s: %s", what, g_strerror(-error));
        return error;
}

/* The same for messages that say it all: no errno text after them. */
static int reply_failf(FileReply *reply, int error, const char *fmt, ...) _printf_(3, 4);
static int reply_failf(FileReply *reply, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) g_vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
        va_end(ap);
        reply->error = error;
        return error;
}

static int open_in_root(int root_fd, const char *path, uint64_t flags, uint64_t resolve) {
        struct open_how how = {
                .flags = flags | O_CLOEXEC | O_NOCTTY,
                .mode = 0,
                /* Links and ".." resolve as inside the container's root, never to the host. */
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve,
        };

        /* The kernel answers EAGAIN when a rename raced a ".." on the way: try again. */
        for (int i = 0; i < 32; i++) {
                int fd = (int) syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}

/* Opens the directory path, creating what is missing of it when make is set. */
static int open_dir(int root_fd, const char *path, bool make, FileReply *reply) {
        g_autofree char *parent = NULL, *base = NULL;
        _cleanup_close_ int pfd = -1;
        int fd;

        fd = open_in_root(root_fd, path, O_DIRECTORY | O_RDONLY, 0);
        if (fd >= 0 || fd != -ENOENT || !make || streq(path, "/")) {
                if (fd < 0)
                        return reply_errorf(reply, fd, "Cannot open directory %s", path);
                return fd;
        }
        parent = g_path_get_dirname(path);
        base = g_path_get_basename(path);
        pfd = open_dir(root_fd, parent, true, reply);
        if (pfd < 0)
                return pfd;
        if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
                return reply_errorf(reply, -errno, "Cannot create directory %s", path);
        fd = open_in_root(root_fd, path, O_DIRECTORY | O_RDONLY, 0);
        if (fd < 0)
                return reply_errorf(reply, fd, "Cannot open directory %s", path);
        return fd;
}

/* The directory that holds path's last component, and that component. */
static int open_parent(int root_fd, const char *path, bool make, char **ret_name, FileReply *reply) {
        g_autofree char *parent = NULL, *base = NULL;
        int fd;

        if (streq(path, "/"))
                return reply_failf(reply, -EINVAL, "The root directory itself cannot be changed");
        base = g_path_get_basename(path);
        if (streq(base, ".."))
                return reply_failf(reply, -EINVAL, "%s does not name an entry of a directory", path);
        parent = g_path_get_dirname(path);
        fd = open_dir(root_fd, parent, make, reply);
        if (fd < 0)
                return fd;
        *ret_name = TAKE_PTR(base);
        return fd;
}

static void info_from_stat(const struct stat *st, FileInfo *ret) {
        *ret = (FileInfo) {
                .mode = st->st_mode,
                .uid = st->st_uid,
                .gid = st->st_gid,
                .size = st->st_size,
                .mtime_usec = (uint64_t) st->st_mtim.tv_sec * USEC_PER_SEC + (uint64_t) st->st_mtim.tv_nsec / 1000,
        };
}

/* A regular file of the container, opened for reading. */
static int open_regular(int root_fd, const char *path, FileInfo *ret_info, FileReply *reply) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int flags;

        /* O_NONBLOCK: a FIFO must not hang us before fstat() says what it is. */
        fd = open_in_root(root_fd, path, O_RDONLY | O_NONBLOCK, 0);
        if (fd < 0)
                return reply_errorf(reply, fd, "Cannot open %s", path);
        if (fstat(fd, &st) < 0)
                return reply_errorf(reply, -errno, "Cannot stat %s", path);
        if (S_ISDIR(st.st_mode))
                return reply_failf(reply, -EISDIR, "%s is a directory, not a regular file", path);
        if (!S_ISREG(st.st_mode))
                return reply_failf(reply, -EINVAL, "%s is not a regular file", path);
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return reply_errorf(reply, -errno, "Cannot read %s", path);
        info_from_stat(&st, ret_info);
        return TAKE_FD(fd);
}

static int op_get(int root_fd, const FileRequest *r, FileReply *reply, GByteArray *payload) {
        _cleanup_close_ int fd = -1;
        g_autofree uint8_t *buf = g_malloc(COPY_BUFFER_SIZE);

        fd = open_regular(root_fd, r->path, &reply->info, reply);
        if (fd < 0)
                return fd;
        if (reply->info.size > FILES_MAX_REPLY_BYTES)
                return reply_failf(reply, -EFBIG, "%s has %" G_GUINT64_FORMAT " bytes, more than one reply holds (%u); use GetFileFd()",
                                    r->path, reply->info.size, FILES_MAX_REPLY_BYTES);
        for (;;) {
                ssize_t n = read(fd, buf, COPY_BUFFER_SIZE);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return reply_errorf(reply, -errno, "Cannot read %s", r->path);
                if (n == 0)
                        break;
                /* It may grow while we read. */
                if (payload->len + (size_t) n > FILES_MAX_REPLY_BYTES)
                        return reply_failf(reply, -EFBIG, "%s grew beyond what one reply holds (%u bytes); use GetFileFd()",
                                            r->path, FILES_MAX_REPLY_BYTES);
                g_byte_array_append(payload, buf, (guint) n);
        }
        reply->info.size = payload->len;
        return 0;
}

/* The fd methods wait this long for the other side to give or take more data: a caller that
 * goes quiet must not hold the worker (and, for a container that does not run, its Start)
 * for ever. */
#define STREAM_IDLE_TIMEOUT_MSEC (60 * 1000)

static int wait_fd(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };

        for (;;) {
                int n = poll(&p, 1, STREAM_IDLE_TIMEOUT_MSEC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                /* Readable, writable, or an error or hang-up that read()/write() will report. */
                return n == 0 ? -ETIMEDOUT : 0;
        }
}

static int copy_fd(int in, int out) {
        g_autofree uint8_t *buf = g_malloc(COPY_BUFFER_SIZE);

        for (;;) {
                ssize_t n;
                size_t done = 0;
                int k;

                k = wait_fd(in, POLLIN);
                if (k < 0)
                        return k;
                n = read(in, buf, COPY_BUFFER_SIZE);
                if (n < 0 && IN_SET(errno, EINTR, EAGAIN))
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                while (done < (size_t) n) {
                        ssize_t w = write(out, buf + done, (size_t) n - done);
                        if (w < 0 && errno == EAGAIN) {
                                k = wait_fd(out, POLLOUT);
                                if (k < 0)
                                        return k;
                                continue;
                        }
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -errno;
                        done += (size_t) w;
                }
        }
}

/* Writes to a descriptor of the caller's (which we may not make non-blocking: its flags are
 * the caller's too) without ever blocking for long: a socket with MSG_DONTWAIT, a pipe no more
 * than PIPE_BUF bytes at a time once poll() says it has room. */
static int write_to_caller(int fd, const uint8_t *buf, size_t n) {
        size_t done = 0;

        while (done < n) {
                ssize_t w;
                int k = wait_fd(fd, POLLOUT);
                if (k < 0)
                        return k;
                w = send(fd, buf + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno == ENOTSOCK)
                        w = write(fd, buf + done, MIN(n - done, (size_t) PIPE_BUF));
                if (w < 0 && IN_SET(errno, EAGAIN, EINTR))
                        continue;
                if (w < 0)
                        return -errno;
                done += (size_t) w;
        }
        return 0;
}

static int copy_to_caller(int in, int out) {
        g_autofree uint8_t *buf = g_malloc(COPY_BUFFER_SIZE);

        for (;;) {
                ssize_t n = read(in, buf, COPY_BUFFER_SIZE);
                int k;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                k = write_to_caller(out, buf, (size_t) n);
                if (k < 0)
                        return k;
        }
}

/* The tar code reads and writes plain blocking descriptors: it gets one end of a pipe, and a
 * pump process of ours copies between the other end and the caller's descriptor, giving up
 * after STREAM_IDLE_TIMEOUT_MSEC without progress (the archive then ends early: an incomplete
 * one is refused as a whole, a reader sees a short stream). The pump exits with the errno. */
static int pump_start(int caller_fd, bool from_caller, pid_t *ret_pid) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int k = -errno;
                close(p[0]);
                close(p[1]);
                return k;
        }
        if (pid == 0) {
                int k;
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (from_caller) {
                        close(p[0]);
                        k = copy_fd(caller_fd, p[1]);
                } else {
                        close(p[1]);
                        k = copy_to_caller(p[0], caller_fd);
                }
                _exit(MIN(-k, 255));
        }
        /* Only the pump holds the caller's descriptor now: a reader sees EOF once it ends. */
        close(caller_fd);
        *ret_pid = pid;
        if (from_caller) {
                close(p[1]);
                return p[0];
        }
        close(p[0]);
        return p[1];
}

/* The pump's errno once it has ended; with stop, a pump still at work is killed (0). */
static int pump_wait(pid_t pid, bool stop) {
        int status;

        if (stop) {
                pid_t k = waitpid(pid, &status, WNOHANG);
                if (k == 0) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return 0;
                }
                if (k < 0)
                        return -errno;
        } else
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return -errno;
        if (WIFEXITED(status))
                return -WEXITSTATUS(status);
        return -EPIPE;
}

static int op_put_archive(int root_fd, const FileRequest *r, FileReply *reply) {
        /* As root of the container: the archive's ids are the container's, applied as they are. */
        const TarLimits limits = { .keep_ownership = true, .max_bytes = r->max_bytes };
        g_autofree char *message = NULL;
        pid_t pump;
        int in, k, p;

        in = pump_start(WORKER_KEEP_FD, true, &pump);
        if (in < 0)
                return reply_errorf(reply, in, "Cannot read the archive");
        k = tar_unpack(in, root_fd, r->path, &limits, &message);
        close(in);
        /* Whatever the caller still sends after the archive's end is not ours to wait for. */
        p = pump_wait(pump, true);
        if (k < 0 && p == -ETIMEDOUT)
                return reply_errorf(reply, p, "The archive for %s stopped coming", r->path);
        if (k < 0) {
                reply->error = k;
                (void) g_strlcpy(reply->message, message ?: "Cannot unpack the archive", sizeof(reply->message));
                return k;
        }
        return 0;
}

static int op_get_archive(int root_fd, const FileRequest *r, FileReply *reply) {
        g_autofree char *message = NULL;
        pid_t pump;
        int out, k, p;

        out = pump_start(WORKER_KEEP_FD, false, &pump);
        if (out < 0)
                return reply_errorf(reply, out, "Cannot write the archive");
        k = tar_pack(root_fd, r->path, out, &message);
        close(out);
        /* The reply says the archive was delivered: wait until the pump has written it all. */
        p = pump_wait(pump, false);
        if (k < 0 && p == -ETIMEDOUT)
                return reply_errorf(reply, p, "The archive of %s was not read", r->path);
        if (k < 0) {
                reply->error = k;
                (void) g_strlcpy(reply->message, message ?: "Cannot pack the archive", sizeof(reply->message));
                return k;
        }
        if (p < 0)
                return reply_errorf(reply, p, "Cannot write the archive of %s", r->path);
        return 0;
}

/* Writes a temporary file in the target directory, then renames it over the name: readers see
 * the old file or the new one, never half of it. */
static int op_put(int root_fd, const FileRequest *r, int in_fd, FileReply *reply) {
        _cleanup_close_ int pfd = -1, fd = -1;
        g_autofree char *name = NULL, *tmp = NULL;
        uint32_t mode = 0644, uid = 0, gid = 0;
        struct stat old;
        int k;

        pfd = open_parent(root_fd, r->path, r->make_parents, &name, reply);
        if (pfd < 0)
                return pfd;
        /* Replacing a file keeps its mode and owner unless told otherwise. */
        if (fstatat(pfd, name, &old, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (S_ISDIR(old.st_mode))
                        return reply_errorf(reply, -EISDIR, "Cannot replace %s", r->path);
                if (S_ISREG(old.st_mode)) {
                        mode = old.st_mode & 07777;
                        uid = old.st_uid;
                        gid = old.st_gid;
                }
        }
        if (r->mode_set)
                mode = r->mode;
        if (r->uid_set)
                uid = r->uid;
        if (r->gid_set)
                gid = r->gid;

        for (int i = 0; fd < 0; i++) {
                SWAP_FREE(tmp, g_strdup_printf(".#cm-put-%08x", g_random_int()));
                fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && (errno != EEXIST || i > 16))
                        return reply_errorf(reply, -errno, "Cannot create a file in the directory of %s", r->path);
        }

        if (r->data)
                k = loop_write(fd, g_bytes_get_data(r->data, NULL), g_bytes_get_size(r->data));
        else
                k = copy_fd(in_fd, fd);
        if (k < 0) {
                reply_errorf(reply, k, "Cannot write %s", r->path);
                goto fail;
        }
        /* Owner first: a chown clears the set-id bits. */
        if (fchown(fd, uid, gid) < 0) {
                reply_errorf(reply, -errno, "Cannot give %s to %u:%u", r->path, uid, gid);
                goto fail;
        }
        if (fchmod(fd, mode) < 0) {
                reply_errorf(reply, -errno, "Cannot set the mode of %s", r->path);
                goto fail;
        }
        if (fsync(fd) < 0) {
                reply_errorf(reply, -errno, "Cannot write %s", r->path);
                goto fail;
        }
        if (renameat(pfd, tmp, pfd, name) < 0) {
                reply_errorf(reply, -errno, "Cannot replace %s", r->path);
                goto fail;
        }
        (void) fsync(pfd);
        return 0;

fail:
        (void) unlinkat(pfd, tmp, 0);
        return reply->error;
}

static bool name_is_utf8(const char *name) {
        return g_utf8_validate(name, -1, NULL);
}

static int op_list(int root_fd, const FileRequest *r, FileReply *reply, GByteArray *payload) {
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;

        fd = open_in_root(root_fd, r->path, O_RDONLY, 0);
        if (fd < 0)
                return reply_errorf(reply, fd, "Cannot open %s", r->path);
        {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return reply_errorf(reply, -errno, "Cannot stat %s", r->path);
                if (!S_ISDIR(st.st_mode))
                        return reply_errorf(reply, -ENOTDIR, "Cannot list %s", r->path);
        }
        d = fdopendir(fd);
        if (!d)
                return reply_errorf(reply, -errno, "Cannot list %s", r->path);
        fd = -1; /* the DIR's now */
        while ((errno = 0, de = readdir(d))) {
                FileEntry e = {};
                struct stat st;
                size_t len = strlen(de->d_name);

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                /* A bus string must be UTF-8: such names cannot be reported. */
                if (!name_is_utf8(de->d_name))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile */
                info_from_stat(&st, &e.info);
                e.name_len = (uint32_t) len;
                /* Each entry costs about 40 bytes in the reply besides its name. */
                if (payload->len + sizeof(e) + len + 64 > FILES_MAX_REPLY_BYTES) {
                        closedir(d);
                        return reply_failf(reply, -EFBIG, "%s has more entries than one reply holds", r->path);
                }
                g_byte_array_append(payload, (const uint8_t *) &e, sizeof(e));
                g_byte_array_append(payload, (const uint8_t *) de->d_name, (guint) len);
                reply->n_entries++;
        }
        if (errno != 0) {
                int k = -errno;
                closedir(d);
                return reply_errorf(reply, k, "Cannot list %s", r->path);
        }
        closedir(d);
        return 0;
}

static int op_mkdir(int root_fd, const FileRequest *r, FileReply *reply) {
        _cleanup_close_ int pfd = -1;
        g_autofree char *name = NULL;
        struct stat st;

        if (r->make_parents && streq(r->path, "/"))
                return 0;
        pfd = open_parent(root_fd, r->path, r->make_parents, &name, reply);
        if (pfd < 0)
                return pfd;
        if (mkdirat(pfd, name, r->mode_set ? r->mode : 0755) >= 0) {
                /* mkdir() applies our umask: the mode asked for is the mode given. */
                if (r->mode_set) {
                        _cleanup_close_ int dfd = openat(pfd, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        if (dfd < 0 || fchmod(dfd, r->mode) < 0)
                                return reply_errorf(reply, -errno, "Cannot set the mode of %s", r->path);
                }
                return 0;
        }
        if (errno == EEXIST && r->make_parents && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode))
                return 0; /* as mkdir -p */
        return reply_errorf(reply, -errno, "Cannot create directory %s", r->path);
}

/* Removes everything below dir_fd. Entries are opened with O_NOFOLLOW relative to their
 * directory: a link swapped in for a directory is removed as a link, never followed. */
static int remove_contents(int dir_fd, const char *path, FileReply *reply) {
        int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (dup_fd < 0)
                return reply_errorf(reply, -errno, "Cannot list %s", path);
        d = fdopendir(dup_fd);
        if (!d) {
                close(dup_fd);
                return reply_errorf(reply, -errno, "Cannot list %s", path);
        }
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                g_autofree char *sub = NULL;
                _cleanup_close_ int fd = -1;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                sub = g_build_filename(path, de->d_name, NULL);
                if (unlinkat(dirfd(d), de->d_name, 0) >= 0 || errno == ENOENT)
                        continue;
                if (errno != EISDIR && errno != EPERM) {
                        r = reply_errorf(reply, -errno, "Cannot remove %s", sub);
                        break;
                }
                fd = openat(dirfd(d), de->d_name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = reply_errorf(reply, -errno, "Cannot remove %s", sub);
                        break;
                }
                r = remove_contents(fd, sub, reply);
                if (r >= 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        r = reply_errorf(reply, -errno, "Cannot remove %s", sub);
        }
        if (r >= 0 && errno != 0)
                r = reply_errorf(reply, -errno, "Cannot list %s", path);
        closedir(d);
        return r;
}

static int op_remove(int root_fd, const FileRequest *r, FileReply *reply) {
        _cleanup_close_ int pfd = -1;
        g_autofree char *name = NULL;
        struct stat st;

        pfd = open_parent(root_fd, r->path, false, &name, reply);
        if (pfd < 0)
                return pfd;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return reply_errorf(reply, -errno, "Cannot remove %s", r->path);
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(pfd, name, 0) < 0)
                        return reply_errorf(reply, -errno, "Cannot remove %s", r->path);
                return 0;
        }
        if (r->recursive) {
                _cleanup_close_ int fd = openat(pfd, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                int k;

                if (fd < 0)
                        return reply_errorf(reply, -errno, "Cannot remove %s", r->path);
                k = remove_contents(fd, r->path, reply);
                if (k < 0)
                        return k;
        }
        if (unlinkat(pfd, name, AT_REMOVEDIR) < 0)
                return reply_errorf(reply, -errno, "Cannot remove %s", r->path);
        return 0;
}

static int become_root(FileReply *reply) {
        /* Container root: uid and gid 0 of the namespace we are in, no supplementary groups. */
        if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                return reply_errorf(reply, -errno, "Cannot become the container's root");
        return 0;
}

static char *read_proc_at(int proc_fd, pid_t pid, const char *what) {
        g_autofree char *path = pid > 0 ? g_strdup_printf("%d/%s", (int) pid, what) : g_strdup_printf("self/%s", what);
        _cleanup_close_ int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
        char buf[4096];
        ssize_t n;

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return NULL;
        return g_strndup(buf, n);
}

/* Whether the container holds our child: stopped (SIGSTOP, which its root may send to a process
 * of its PID namespace and user) or moved out of our cgroup (into one it froze). */
static bool child_held(int proc_fd, pid_t pid, const char *own_cgroups) {
        g_autofree char *stat = read_proc_at(proc_fd, pid, "stat"), *cgroups = read_proc_at(proc_fd, pid, "cgroup");
        const char *p = stat ? strrchr(stat, ')') : NULL;

        if (!p || !cgroups)
                return false; /* gone: waitid() says so */
        if (p[1] == ' ' && IN_SET(p[2], 'T', 't'))
                return true;
        return own_cgroups && !streq(cgroups, own_cgroups);
}

/* The worker ends here once its child works inside the container: it waits for it and passes
 * on how it ended. Nothing else of ours stays open, so the caller sees the end of the data when
 * the child is done. The container's processes can see and signal the child, not us: a child
 * they stop or move is killed, so that it cannot hold a worker slot for as long as the
 * container runs. proc_fd: the host's /proc. */
static _Noreturn void wait_in_container(pid_t pid, int proc_fd) {
        g_autofree char *own = NULL;
        int pidfd;

        (void) close_range(WORKER_RESULT_FD, proc_fd - 1, 0);
        (void) close_range(proc_fd + 1, ~0U, 0);
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        own = read_proc_at(proc_fd, 0, "cgroup");
        for (;;) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                siginfo_t si = {};

                if (waitid(P_PID, pid, &si, WEXITED | WNOHANG) < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(EXIT_FAILURE);
                }
                if (si.si_pid == pid)
                        _exit(si.si_code == CLD_EXITED ? si.si_status : EXIT_FAILURE);
                if (pidfd < 0 || poll(&pfd, 1, 1000) == 0)
                        if (child_held(proc_fd, pid, own))
                                (void) kill(pid, SIGKILL);
        }
}

static bool cgroup_file_has(int dfd, const char *name, const char *what) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char buf[512];
        ssize_t n;

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        return strstr(buf, what);
}

/* Where the hierarchy of a /proc/PID/cgroup line ("0::" for the unified one, "N:name=systemd:"
 * or "N:cpu,cpuacct:" for v1) is mounted, by systemd's layout. NULL: not mounted there. */
static char *cgroup_mount_dir(const char *controllers) {
        char *dir;

        if (isempty(controllers)) {
                if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
                        return g_strdup("/sys/fs/cgroup");
                dir = g_strdup("/sys/fs/cgroup/unified");
        } else {
                /* Only the unified hierarchy: a v1 line is stale. */
                if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
                        return NULL;
                dir = g_strconcat("/sys/fs/cgroup/",
                                  g_str_has_prefix(controllers, "name=") ? controllers + 5 : controllers, NULL);
        }
        if (access(dir, F_OK) < 0) {
                g_free(dir);
                return NULL;
        }
        return dir;
}

/* Joins the cgroups the leader is in (its payload cgroup, under the container's scope, in each
 * hierarchy) while we are still host root: the container's limits and accounting then cover the
 * work done for it, and a Stop ends it. Not when the payload is frozen or freezing: we would
 * freeze with it. */
static int join_leader_cgroup(const FileTarget *t, const char *cgroups, const char *needle, FileReply *reply) {
        g_auto(GStrv) lines = g_strsplit(cgroups, "\n", -1), ours = NULL;
        g_autofree char *own = NULL;
        int k;

        if (!g_file_get_contents("/proc/self/cgroup", &own, NULL, NULL))
                return reply_errorf(reply, -errno, "Cannot read our own cgroups");
        ours = g_strsplit(own, "\n", -1);
        for (int pass = 0; pass < 2; pass++)
                for (char **l = lines; *l; l++) {
                        g_auto(GStrv) f = g_strsplit(*l, ":", 3);
                        g_autofree char *mount = NULL, *dir = NULL, *slashed = NULL;
                        _cleanup_close_ int dfd = -1, procs = -1;

                        if (g_strv_length(f) != 3 || f[2][0] != '/')
                                continue;
                        /* Where we are already (v1 controllers both at their root, often
                         * mounted read-only): nothing to do. */
                        if (pass == 1 && g_strv_contains((const char * const *) ours, *l))
                                continue;
                        mount = cgroup_mount_dir(f[1]);
                        if (!mount)
                                continue;
                        slashed = g_strconcat(f[2], "/", NULL);
                        if (strstr(slashed, "/../") || (!streq(f[2], "/") && !strstr(slashed, needle)))
                                return reply_failf(reply, -ESRCH, "Process %d is not in %s", (int) t->leader, t->unit);
                        dir = g_strconcat(mount, f[2], NULL);
                        dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
                        if (dfd < 0)
                                return reply_errorf(reply, -errno, "Cannot open the cgroup of process %d", (int) t->leader);
                        /* First pass: only look whether the unified one is frozen. */
                        if (pass == 0) {
                                if (isempty(f[1]) && (cgroup_file_has(dfd, "cgroup.freeze", "1") ||
                                                      cgroup_file_has(dfd, "cgroup.events", "frozen 1")))
                                        return 0;
                                continue;
                        }
                        procs = openat(dfd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                        k = procs < 0 ? -errno : loop_write(procs, "0", 1);
                        if (k < 0)
                                return reply_errorf(reply, k, "Cannot join the cgroup of process %d", (int) t->leader);
                }
        return 0;
}

/* A running container: every namespace of its leader (the user namespace unless privileged)
 * and its cgroup, as the container's own processes have them, so that /proc, /proc/sys/net,
 * /dev/shm are the container's. Joining a PID namespace takes effect for children only: the
 * work is done by a child, which is in it, and this process waits for it. */
static int enter_running(const FileTarget *t, FileReply *reply) {
        _cleanup_close_ int pidfd = -1, proc_fd = -1;
        g_autofree char *cgroup_path = g_strdup_printf("/proc/%d/cgroup", (int) t->leader);
        g_autofree char *cgroups = NULL, *needle = g_strdup_printf("/%s/", t->unit);
        int fd, k;
        pid_t pid;

        pidfd = (int) syscall(SYS_pidfd_open, t->leader, 0);
        if (pidfd < 0)
                return reply_failf(reply, -ESRCH, "The container's leader %d is gone", (int) t->leader);
        /* The pidfd pins the process: if it is still alive after this look, it is the
         * container's init, not a process that got its number since. */
        if (!g_file_get_contents(cgroup_path, &cgroups, NULL, NULL) || !strstr(cgroups, needle))
                return reply_failf(reply, -ESRCH, "Process %d is not in %s", (int) t->leader, t->unit);
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return reply_failf(reply, -ESRCH, "The container's leader %d is gone", (int) t->leader);

        k = join_leader_cgroup(t, cgroups, needle, reply);
        if (k < 0)
                return k;
        /* The host's, to watch our child from outside the container's mount namespace. */
        proc_fd = open("/proc", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (proc_fd < 0)
                return reply_errorf(reply, -errno, "Cannot open /proc");
        /* All at once through the pidfd (Linux 5.8); the user namespace first, which then owns
         * the others (every container has all of them of its own: runtime-lxc.c keeps or
         * shares none with the host, which the container's root could not join). */
        if (setns(pidfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP |
                         (t->privileged ? 0 : CLONE_NEWUSER)) < 0)
                return reply_errorf(reply, -errno, "Cannot enter the namespaces of process %d", (int) t->leader);
        if (become_root(reply) < 0)
                return reply->error;
        /* Changing ids made us dumpable again if fs.suid_dumpable is 1; our child will be
         * visible to the container's processes, and holds a copy of the daemon's memory. */
        (void) prctl(PR_SET_DUMPABLE, 0);

        pid = fork();
        if (pid < 0)
                return reply_errorf(reply, -errno, "Cannot start a process in the container");
        if (pid > 0)
                wait_in_container(pid, proc_fd);
        /* Nothing of the host's in the container. */
        close(TAKE_FD(proc_fd));
        /* Our parent is outside the container's PID namespace, so getppid() says 0 while it
         * lives; after it died we would have the container's init as parent. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != 0)
                _exit(EXIT_FAILURE);
        fd = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return reply_errorf(reply, -errno, "Cannot open the container's root");
        return fd;
}

/* A container that does not run: its root, assembled in our private mount namespace as the
 * monitor does at start, then a user namespace that maps the slot, as the payload has. */
static int enter_offline(const FileTarget *t, FileReply *reply) {
        const RootfsSpec *s = t->spec;
        g_autofree char *root = rootfs_spec_root(s), *message = NULL, *lock_dir = g_path_get_dirname(t->lock_path);
        _cleanup_close_ int fd = -1, userns = -1;
        int k, lock_fd;

        /* One at a time per container: overlayfs only warns when the same upper and work
         * directories are mounted twice, and then "accessing files from both mounts will
         * result in undefined behavior". Held (never closed) until we exit. */
        k = mkdir_p(lock_dir, 0700);
        if (k < 0)
                return reply_errorf(reply, k, "Cannot create %s", lock_dir);
        lock_fd = open(t->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock_fd < 0)
                return reply_errorf(reply, -errno, "Cannot open %s", t->lock_path);
        while (flock(lock_fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return reply_errorf(reply, -errno, "Cannot lock %s", t->lock_path);

        /* A container that never ran has no writable layer yet: made as its start makes it. */
        if (access(s->upper, F_OK) < 0) {
                k = mkdir_p(s->upper, 0755);
                if (k < 0)
                        return reply_errorf(reply, k, "Cannot create %s", s->upper);
                if (!t->privileged && chown(s->upper, t->uid_shift, t->uid_shift) < 0)
                        return reply_errorf(reply, -errno, "Cannot give %s to the container", s->upper);
        }
        FOREACH_STRING(d, s->work, s->stage) {
                k = mkdir_p(d, 0700);
                if (k < 0)
                        return reply_errorf(reply, k, "Cannot create %s", d);
        }
        k = rootfs_setup(s, &message);
        if (k < 0) {
                reply->error = k;
                (void) g_strlcpy(reply->message, message ?: "Cannot assemble the container's root", sizeof(reply->message));
                return k;
        }
        fd = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return reply_errorf(reply, -errno, "Cannot open %s", root);
        if (!t->privileged) {
                userns = userns_fd_new(t->uid_shift, s->id_count);
                if (userns < 0)
                        return reply_errorf(reply, userns, "Cannot make a user namespace for the container's ids");
                if (setns(userns, CLONE_NEWUSER) < 0)
                        return reply_errorf(reply, -errno, "Cannot enter the container's user namespace");
        }
        if (become_root(reply) < 0)
                return reply->error;
        return TAKE_FD(fd);
}

static int enter_container(const FileTarget *t, FileReply *reply) {
        /* Nobody may ptrace or read the memory of a process that holds host resources. */
        (void) prctl(PR_SET_DUMPABLE, 0);
        umask(0022);
        return t->leader > 0 ? enter_running(t, reply) : enter_offline(t, reply);
}

static int write_fd_header(int fd, const FileReply *reply) {
        g_autofree char *line = NULL;

        if (reply->error < 0) {
                g_autofree char *msg = g_strdelimit(g_strdup(reply->message), "\n", ' ');
                line = g_strdup_printf("ERR %d %s\n", -reply->error, msg);
        } else
                line = g_strdup_printf("OK %u %u %u %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
                                       reply->info.mode, reply->info.uid, reply->info.gid,
                                       reply->info.size, reply->info.mtime_usec);
        return loop_write(fd, line, strlen(line));
}

/* GetFileFd: the header on the result pipe as soon as the file is open (the reply goes then),
 * the data into the caller's pipe. */
static int op_get_fd(int root_fd, int fd, const FileRequest *r, FileReply *reply) {
        _cleanup_close_ int in = open_regular(root_fd, r->path, &reply->info, reply);
        int k;

        if (write_fd_header(fd, reply) < 0 || in < 0)
                return EXIT_FAILURE;
        (void) close(fd);
        /* Our own pipe (the daemon closed its copy): non-blocking, so a reader that stops
         * reading times out instead of holding us. */
        {
                int flags = fcntl(WORKER_KEEP_FD, F_GETFL);
                if (flags < 0 || fcntl(WORKER_KEEP_FD, F_SETFL, flags | O_NONBLOCK) < 0)
                        return EXIT_FAILURE;
        }
        k = copy_fd(in, WORKER_KEEP_FD);
        return k < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int files_worker(int fd, void *data) {
        const FileRequest *r = data;
        FileReply reply = {};
        _cleanup_close_ int root_fd = -1;

        assert(r);

        /* A reader that goes away makes write() fail, not kill us before we report. */
        (void) signal(SIGPIPE, SIG_IGN);
        root_fd = enter_container(&r->target, &reply);
        if (root_fd < 0) {
                if (r->op == FILE_OP_GET_FD)
                        (void) write_fd_header(fd, &reply);
                else
                        (void) loop_write(fd, &reply, sizeof(reply));
                return EXIT_FAILURE;
        }
        return files_run_in_root(root_fd, fd, r);
}

int files_run_in_root(int root_fd, int fd, const FileRequest *r) {
        g_autoptr(GByteArray) payload = g_byte_array_new();
        FileReply reply = {};

        assert(root_fd >= 0);
        assert(fd >= 0);
        assert(r);

        switch (r->op) {
        case FILE_OP_GET:
                (void) op_get(root_fd, r, &reply, payload);
                break;
        case FILE_OP_GET_FD:
                return op_get_fd(root_fd, fd, r, &reply);
        case FILE_OP_PUT:
                (void) op_put(root_fd, r, -1, &reply);
                break;
        case FILE_OP_PUT_FD:
                (void) op_put(root_fd, r, WORKER_KEEP_FD, &reply);
                break;
        case FILE_OP_LIST:
                (void) op_list(root_fd, r, &reply, payload);
                break;
        case FILE_OP_MKDIR:
                (void) op_mkdir(root_fd, r, &reply);
                break;
        case FILE_OP_REMOVE:
                (void) op_remove(root_fd, r, &reply);
                break;
        case FILE_OP_PUT_ARCHIVE:
                (void) op_put_archive(root_fd, r, &reply);
                break;
        case FILE_OP_GET_ARCHIVE:
                (void) op_get_archive(root_fd, r, &reply);
                break;
        default:
                reply_errorf(&reply, -EOPNOTSUPP, "Operation %d", (int) r->op);
        }

        if (reply.error < 0)
                g_byte_array_set_size(payload, 0);
        reply.payload_size = payload->len;
        if (loop_write(fd, &reply, sizeof(reply)) < 0 || loop_write(fd, payload->data, payload->len) < 0)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}

/* ---- in the daemon ------------------------------------------------------------------------ */

int files_reply_parse(const void *output, size_t size, FileReply *ret, const uint8_t **ret_payload) {
        FileReply reply;

        assert(ret);
        assert(ret_payload);

        if (!output || size < sizeof(reply))
                return -EBADMSG;
        memcpy(&reply, output, sizeof(reply));
        if (reply.payload_size != size - sizeof(reply) || reply.error > 0)
                return -EBADMSG;
        reply.message[sizeof(reply.message) - 1] = 0;
        {
                /* Cut where a long path was: a bus string must be UTF-8 to the end. */
                const char *end;
                if (!g_utf8_validate(reply.message, -1, &end))
                        reply.message[end - reply.message] = 0;
        }
        *ret = reply;
        *ret_payload = (const uint8_t *) output + sizeof(reply);
        return 0;
}

int files_fd_header_parse(const char *line, FileInfo *ret_info, int *ret_error, char **ret_message) {
        FileInfo info = {};
        int err = 0, n = 0;

        assert(line);
        assert(ret_info);
        assert(ret_error);
        assert(ret_message);

        if (sscanf(line, "OK %u %u %u %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
                   &info.mode, &info.uid, &info.gid, &info.size, &info.mtime_usec) == 5) {
                *ret_info = info;
                *ret_error = 0;
                *ret_message = NULL;
                return 0;
        }
        if (sscanf(line, "ERR %d %n", &err, &n) == 1 && err > 0 && n > 0) {
                *ret_error = -err;
                *ret_message = g_utf8_make_valid(line + n, -1);
                return 0;
        }
        return -EBADMSG;
}
