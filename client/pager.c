/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerctl.h"
#include "pager.h"
#include "terminal.h"

static pid_t pager_pid;
static int saved_stdout = -1;

void pager_open(void) {
        const char *pager;
        int fds[2];

        if (pager_pid > 0 || !arg_pager || !on_tty())
                return;
        pager = getenv("SYSTEMD_PAGER");
        if (!pager)
                pager = getenv("PAGER");
        if (pager && (pager[strspn(pager, " \t")] == '\0' || strcmp(pager, "cat") == 0))
                return;
        fflush(stdout);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;
        pager_pid = fork();
        if (pager_pid < 0) {
                pager_pid = 0;
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (pager_pid == 0) {
                dup2(fds[0], STDIN_FILENO);
                setenv("LESS", getenv("SYSTEMD_LESS") ?: "FRSXMK", 1);
                if (!getenv("LESSCHARSET"))
                        setenv("LESSCHARSET", "utf-8", 1);
                if (pager) {
                        execl("/bin/sh", "sh", "-c", pager, (char *) NULL);
                        _exit(127);
                }
                execlp("less", "less", (char *) NULL);
                execlp("more", "more", (char *) NULL);
                /* no pager at all: pass the text through */
                char buf[4096];
                ssize_t n;
                while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
                        if (write(STDOUT_FILENO, buf, (size_t) n) != n)
                                break;
                _exit(0);
        }
        close(fds[0]);
        saved_stdout = dup(STDOUT_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[1]);
        /* the user quitting the pager early is no error of ours */
        signal(SIGPIPE, SIG_DFL);
        atexit(pager_close);
}

void pager_close(void) {
        if (pager_pid <= 0)
                return;
        fflush(stdout);
        dup2(saved_stdout, STDOUT_FILENO);
        close(saved_stdout);
        saved_stdout = -1;
        while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}
