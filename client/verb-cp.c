/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cp: copies between the host and a container, either way; NAME:PATH names the container side.
 * Into an existing directory the source keeps its name; otherwise it takes the destination's.
 * Trees travel as tar through a pipe (PutArchive / GetArchive, tar on our side); "-" as the
 * host side is a tar stream on stdin or stdout. Ownership inside is the container's (ids as
 * `ls -n` in it shows them). */

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerctl.h"
#include "verbs.h"

/* NAME:PATH with an absolute PATH; "./a:b" is a host path. */
static bool split_container(const char *s, char **ret_name, const char **ret_path) {
        const char *colon = strchr(s, ':');

        if (!colon || colon == s || colon[1] != '/' || strchr(s, '/') < colon)
                return false;
        *ret_name = strndup(s, (size_t) (colon - s));
        *ret_path = colon + 1;
        return *ret_name != NULL;
}

/* tar's --transform renaming the top entry FROM to TO (and everything below it), both taken
 * literally: a sed expression with the special characters escaped. */
static char *rename_transform(const char *from, const char *to) {
        size_t n = 32 + 2 * (strlen(from) + strlen(to));
        char *s = malloc(n), *p;

        if (!s)
                return NULL;
        p = stpcpy(s, "--transform=s,^");
        for (const char *c = from; *c; c++) {
                if (strchr("\\.*[]^$,", *c))
                        *p++ = '\\';
                *p++ = *c;
        }
        /* the entry itself or what is below it, never a longer name that starts the same */
        p = stpcpy(p, "\\($\\|/\\),");
        for (const char *c = to; *c; c++) {
                if (strchr("\\&,", *c))
                        *p++ = '\\';
                *p++ = *c;
        }
        p = stpcpy(p, "\\1,");
        return s;
}

/* With stderr_fd >= 0, tar's complaints go there, for wait_tar() to show only when they matter. */
static int spawn_tar(char *const argv[], int stdin_fd, int stdout_fd, int stderr_fd, pid_t *ret) {
        pid_t pid = fork();

        if (pid < 0)
                return log_error_errno(-errno, "Failed to fork: %m");
        if (pid == 0) {
                if (stdin_fd >= 0 && dup2(stdin_fd, STDIN_FILENO) < 0)
                        _exit(127);
                if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0)
                        _exit(127);
                if (stderr_fd >= 0 && dup2(stderr_fd, STDERR_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

/* With stderr_fd >= 0 (spawn_tar's), what tar said is shown unless quiet: after a failed
 * GetArchive tar only saw an empty stream, and the call's own error says what went wrong. */
static int wait_tar(pid_t pid, int stderr_fd, bool quiet) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (quiet)
                return -EIO;
        if (stderr_fd >= 0 && lseek(stderr_fd, 0, SEEK_SET) == 0) {
                char buf[4096];
                ssize_t n;
                while ((n = read(stderr_fd, buf, sizeof(buf))) > 0)
                        (void) !write(STDERR_FILENO, buf, n);
        }
        return log_error_errno(-EIO, "tar failed (status %d).", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Is PATH a directory in the container? */
static int container_is_dir(sd_bus *bus, const char *cpath, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, cpath, CONTAINER_IFACE, "ListDirectory", &error, &reply, "s", path);
        if (r >= 0)
                return 1;
        if (sd_bus_error_has_names(&error, "org.containers.Error.NotADirectory", "org.containers.Error.NoSuchFile")) {
                sd_bus_error_free(&error);
                return 0;
        }
        r = bus_log_error(&error, r, "Failed to look at %s in the container", path);
        sd_bus_error_free(&error);
        return r;
}

static int copy_in(sd_bus *bus, const char *src, const char *name, const char *dest) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *cpath = NULL, *s1 = NULL, *s2 = NULL, *d1 = NULL, *d2 = NULL, *xform = NULL;
        _cleanup_close_ int rfd = -1;
        const char *target;
        pid_t pid = 0;
        int fds[2], r, is_dir;
        bool from_stdin = strcmp(src, "-") == 0;

        r = bus_container_path(bus, name, &cpath);
        if (r < 0)
                return r;
        is_dir = from_stdin ? 1 : container_is_dir(bus, cpath, dest);
        if (is_dir < 0)
                return is_dir;
        if (!from_stdin && access(src, F_OK) < 0)
                return log_error_errno(-errno, "Cannot copy %s: %m", src);

        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to make a pipe: %m");
        rfd = fds[0];
        if (from_stdin) {
                close(fds[1]);
                rfd = dup(STDIN_FILENO);
                close(fds[0]);
                target = dest;
        } else {
                s1 = strdup(src);
                s2 = strdup(src);
                d1 = strdup(dest);
                d2 = strdup(dest);
                if (!s1 || !s2 || !d1 || !d2)
                        return log_oom();
                const char *dir = dirname(s1), *base = basename(s2);
                /* into a directory: as it is; else under the destination's own name */
                target = is_dir ? dest : dirname(d1);
                if (!is_dir && !(xform = rename_transform(base, basename(d2))))
                        return log_oom();
                char *argv[10];
                size_t k = 0;
                argv[k++] = (char *) "tar";
                argv[k++] = (char *) "--owner=0";     /* root's inside, as docker cp makes them */
                argv[k++] = (char *) "--group=0";
                argv[k++] = (char *) "-C";
                argv[k++] = (char *) dir;
                argv[k++] = (char *) "-c";
                if (xform)
                        argv[k++] = xform;
                argv[k++] = (char *) base;
                argv[k] = NULL;
                r = spawn_tar(argv, -1, fds[1], -1, &pid);
                close(fds[1]);
                if (r < 0)
                        return r;
        }
        r = bus_message_new_call(bus, &m, cpath, CONTAINER_IFACE, "PutArchive");
        if (r >= 0)
                r = sd_bus_message_append(m, "sha{sv}", target, rfd, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        rfd = -1;
        closep(&fds[0]);
        r = bus_call_message(bus, m, NULL, "Failed to copy %s into container %s", src, name);
        if (pid > 0) {
                int k = wait_tar(pid, -1, false);
                if (r >= 0)
                        r = k;
        }
        return r;
}

static int copy_out(sd_bus *bus, const char *name, const char *src, const char *dest) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *cpath = NULL, *d1 = NULL, *d2 = NULL, *s1 = NULL, *strip = NULL;
        _cleanup_close_ int tar_err = -1;
        struct stat st;
        pid_t pid = 0;
        int fds[2], r, wfd;
        bool to_stdout = strcmp(dest, "-") == 0;
        const char *dir;

        r = bus_container_path(bus, name, &cpath);
        if (r < 0)
                return r;
        if (to_stdout)
                wfd = STDOUT_FILENO;
        else {
                bool into = stat(dest, &st) >= 0 && S_ISDIR(st.st_mode);
                d1 = strdup(dest);
                s1 = strdup(src);
                if (!d1 || !s1)
                        return log_oom();
                if (into)
                        dir = dest;
                else {
                        /* a new name: unpack in its parent, renaming the top entry */
                        dir = dirname(d1);
                        d2 = strdup(dest);
                        if (!d2 || !(strip = rename_transform(basename(s1), basename(d2))))
                                return log_oom();
                }
                if (pipe2(fds, O_CLOEXEC) < 0)
                        return log_error_errno(-errno, "Failed to make a pipe: %m");
                char *argv[] = { (char *) "tar", (char *) "--no-same-owner", (char *) "-C", (char *) dir,
                                 (char *) "-x", strip, NULL };
                tar_err = memfd_create("tar-stderr", MFD_CLOEXEC);
                if (tar_err < 0)
                        return log_error_errno(-errno, "Failed to make a memfd: %m");
                r = spawn_tar(argv, fds[0], -1, tar_err, &pid);
                close(fds[0]);
                if (r < 0) {
                        close(fds[1]);
                        return r;
                }
                wfd = fds[1];
        }
        r = bus_message_new_call(bus, &m, cpath, CONTAINER_IFACE, "GetArchive");
        if (r >= 0)
                r = sd_bus_message_append(m, "sh", src, wfd);
        if (!to_stdout)
                close(wfd);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, NULL, "Failed to copy %s out of container %s", src, name);
        sd_bus_message_unref(TAKE_PTR(m));
        if (pid > 0) {
                int k = wait_tar(pid, tar_err, r < 0);
                if (r >= 0)
                        r = k;
        }
        return r;
}

static int run_cp(sd_bus *bus, char **args, int n) {
        _cleanup_free_ char *src_name = NULL, *dst_name = NULL;
        const char *src_path, *dst_path;
        bool src_in = split_container(args[0], &src_name, &src_path);
        bool dst_in = split_container(args[1], &dst_name, &dst_path);

        if (src_in == dst_in) {
                fprintf(stderr, "cp: exactly one side must be a container: NAME:/PATH\n");
                return -EUSAGE;
        }
        if (dst_in)
                return copy_in(bus, args[0], dst_name, dst_path);
        return copy_out(bus, src_name, src_path, args[1]);
}

const Verb verb_cp = {
        .name = "cp", .synopsis = "SRC DEST", .summary = "Copy files between the host and a container (NAME:/PATH)",
        .options_help = NULL,
        .min_args = 2, .max_args = 2, .flags = VERB_FDS, .run = run_cp,
};
