/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A polkit text agent for the duration of a call, as systemctl does: when containerctl runs on
 * a terminal, talks to the local bus and may ask, pkttyagent registers for our session, so
 * polkit can ask for a password instead of refusing with InteractiveAuthorizationRequired. */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerctl.h"

#define PKTTYAGENT "/usr/bin/pkttyagent"

static pid_t agent_pid;

void polkit_agent_open_if_enabled(void) {
        int pipe_fds[2];
        char notify[16];

        if (agent_pid > 0 || !arg_ask_password || arg_host || geteuid() == 0)
                return;
        if (!isatty(STDIN_FILENO) || access(PKTTYAGENT, X_OK) < 0)
                return;
        if (pipe2(pipe_fds, 0) < 0)
                return;
        agent_pid = fork();
        if (agent_pid < 0) {
                agent_pid = 0;
                close(pipe_fds[0]);
                close(pipe_fds[1]);
                return;
        }
        if (agent_pid == 0) {
                close(pipe_fds[0]);
                snprintf(notify, sizeof notify, "%d", pipe_fds[1]);
                execl(PKTTYAGENT, PKTTYAGENT, "--notify-fd", notify, "--fallback", (char *) NULL);
                _exit(127);
        }
        close(pipe_fds[1]);
        /* it closes the descriptor once it is registered */
        struct pollfd p = { .fd = pipe_fds[0], .events = POLLIN };
        (void) poll(&p, 1, 5000);
        close(pipe_fds[0]);
        atexit(polkit_agent_close);
}

void polkit_agent_close(void) {
        if (agent_pid <= 0)
                return;
        kill(agent_pid, SIGTERM);
        kill(agent_pid, SIGCONT);
        (void) waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
}
