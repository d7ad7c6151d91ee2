/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containers-manager-startup REPORT_FD K N1 WORD... COMMAND... (see startup-protocol.h)
 *
 * The container's init runs it, from a descriptor its monitor inherited (it is no file of the
 * container's): it runs the container's startup commands one after the other under the
 * container's confinement, environment and working directory, then becomes the container's
 * command. Linked statically: the container may have no C library, or another one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "startup-protocol.h"

static int report_fd = -1;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
        char buf[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n > 0 && (size_t) n < sizeof(buf))
                (void) !write(report_fd, buf, (size_t) n);
}

/* Only stdin, stdout, stderr and the report pipe stay; nothing we were handed reaches a command
 * (the helper's own descriptor, anything else the monitor had), and the report pipe is closed
 * by every exec. */
static int close_inherited(void) {
        if (report_fd > 3 && close_range(3, (unsigned) report_fd - 1, 0) < 0)
                return -errno;
        if (close_range((unsigned) report_fd + 1, UINT_MAX, 0) < 0)
                return -errno;
        if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        return 0;
}

/* Runs one startup command to its end; 0 when it succeeded, else reported as FAIL. */
static int run_command(int index, char **argv, int len) {
        int p[2], status, err = 0;
        pid_t pid;
        ssize_t n;

        /* Tells us whether the exec failed, and why (EOF: it succeeded). */
        if (pipe2(p, O_CLOEXEC) < 0) {
                report("FAIL %d exec %d\n", index, errno);
                return -1;
        }
        pid = fork();
        if (pid < 0) {
                report("FAIL %d exec %d\n", index, errno);
                return -1;
        }
        if (pid == 0) {
                close(p[0]);
                argv[len] = NULL; /* our copy of the argument vector only */
                execvp(argv[0], argv);
                err = errno;
                (void) !write(p[1], &err, sizeof(err));
                _exit(127);
        }
        close(p[1]);
        do
                n = read(p[0], &err, sizeof(err));
        while (n < 0 && errno == EINTR);
        close(p[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        report("FAIL %d exec %d\n", index, errno);
                        return -1;
                }
        if (n == sizeof(err)) {
                report("FAIL %d exec %d\n", index, err);
                return -1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                report("OK %d\n", index);
                return 0;
        }
        if (WIFSIGNALED(status))
                report("FAIL %d signal %d\n", index, WTERMSIG(status));
        else
                report("FAIL %d exit %d\n", index, WIFEXITED(status) ? WEXITSTATUS(status) : 255);
        return -1;
}

int main(int argc, char *argv[]) {
        char **cmd[STARTUP_COMMANDS_LIMIT], **main_argv = NULL;
        int len[STARTUP_COMMANDS_LIMIT], k;
        char *end;
        long fd;

        if (argc < 4) {
                fprintf(stderr, "containers-manager-startup: started by containers-managerd, not meant to be run by hand\n");
                return 127;
        }
        fd = strtol(argv[1], &end, 10);
        if (*end || fd < 3 || fd > INT_MAX || fcntl((int) fd, F_GETFD) < 0) {
                fprintf(stderr, "containers-manager-startup: bad report descriptor '%s'\n", argv[1]);
                return 127;
        }
        report_fd = (int) fd;
        if (close_inherited() < 0) {
                report("FAIL 0 exec %d\n", errno);
                return 127;
        }
        k = startup_args_parse(argv + 2, cmd, len, STARTUP_COMMANDS_LIMIT, &main_argv);
        if (k < 0) {
                report("FAIL 0 exec %d\n", EINVAL);
                return 127;
        }
        for (int i = 0; i < k; i++)
                if (run_command(i + 1, cmd[i], len[i]) < 0)
                        return 1;
        /* Last words before the container's command: the start worker now waits for it to run. */
        report("DONE\n");
        execvp(main_argv[0], main_argv);
        fprintf(stderr, "Failed to exec \"%s\": %s\n", main_argv[0], strerror(errno));
        return 127;
}
