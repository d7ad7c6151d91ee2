/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migrate NAME [USER@]HOST: stop the container here, export it into `ssh HOST containerctl
 * import - NAME`, start it there (through the target's bus over SSH, as -H does) and remove it
 * here only once it runs there. Any failure before that leaves the container here as it was
 * (started again if it ran), and what was imported there is removed. */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerctl.h"
#include "transfer.h"
#include "verbs.h"

static void on_signal(int sig) {
        transfer_interrupted = 1;
}

static int spawn_ssh_import(const char *host, const char *name, bool with_image, int stdin_fd, pid_t *ret) {
        pid_t pid = fork();

        if (pid < 0)
                return log_error_errno(-errno, "Failed to fork: %m");
        if (pid == 0) {
                if (dup2(stdin_fd, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
                        _exit(127);
                /* our interruption is ours to handle: the import ends when its input does */
                signal(SIGINT, SIG_IGN);
                setpgid(0, 0);
                /* the remote containerctl does the import on its own host's bus */
                execlp("ssh", "ssh", "-xT", "-o", "BatchMode=yes", "--", host,
                       "containerctl", "--quiet", "--no-ask-password", "import", "-", name, (char *) NULL);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

static int wait_pid(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int get_state(sd_bus *bus, const char *path, char **ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_get_property_string(bus, BUS_NAME, path, CONTAINER_IFACE, "State", &error, ret);
        if (r < 0)
                r = bus_log_error(&error, r, "Failed to read the container's state");
        sd_bus_error_free(&error);
        return r;
}

static int run_migrate(sd_bus *bus, char **args, int n) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *remote = NULL;
        _cleanup_free_ char *path = NULL, *state = NULL, *image = NULL, *rpath = NULL, *rstate = NULL, *title = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *name = args[0], *host = args[1];
        bool was_running, with_image, imported = false;
        pid_t pid = 0;
        int fds[2], r;

        r = bus_container_path(bus, name, &path);
        if (r < 0)
                return r;
        r = get_state(bus, path, &state);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(bus, BUS_NAME, path, CONTAINER_IFACE, "Image", &error, &image);
        if (r < 0) {
                r = bus_log_error(&error, r, "Failed to read the container's image");
                sd_bus_error_free(&error);
                return r;
        }

        r = sd_bus_open_system_remote(&remote, host);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus of %s: %s", host, strerror(-r));
        (void) sd_bus_set_allow_interactive_authorization(remote, false);

        /* the target must not have the container; its image travels unless the target has it */
        r = sd_bus_call_method(remote, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetContainer", &error, NULL, "s", name);
        if (r >= 0) {
                fprintf(stderr, "%s already has a container %s.\n", host, name);
                return -EEXIST;
        }
        if (!sd_bus_error_has_name(&error, "org.containers.Error.NoSuchContainer")) {
                r = bus_log_error(&error, r, "Failed to ask %s about container %s", host, name);
                sd_bus_error_free(&error);
                return r;
        }
        sd_bus_error_free(&error);
        r = sd_bus_call_method(remote, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetImage", &error, NULL, "s", image);
        with_image = r < 0;
        sd_bus_error_free(&error);

        /* from here on, Ctrl-C (or SIGTERM, SIGHUP) is a failure like any other: undone */
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);

        was_running = strcmp(state, "running") == 0 || strcmp(state, "frozen") == 0;
        if (was_running) {
                if (!arg_quiet)
                        fprintf(stderr, "Stopping %s here...\n", name);
                r = bus_call(bus, path, CONTAINER_IFACE, "Stop", NULL, "Failed to stop the container", NULL);
                if (r < 0)
                        return r;
        }
        if (transfer_interrupted) {
                r = log_error_errno(-ECANCELED, "Interrupted.");
                goto undo;
        }

        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = log_error_errno(-errno, "Failed to make a pipe: %m");
                goto undo;
        }
        r = spawn_ssh_import(host, name, with_image, fds[0], &pid);
        close(fds[0]);
        if (r < 0) {
                close(fds[1]);
                goto undo;
        }
        if (asprintf(&title, "Sending %s to %s", name, host) < 0) {
                close(fds[1]);
                r = log_oom();
                goto undo;
        }
        r = export_to_fd(bus, name, false, with_image, NULL, fds[1], title);
        int status = wait_pid(pid);
        if (r < 0)
                goto undo;
        if (status != 0) {
                r = log_error_errno(-EIO, "The import on %s failed (status %d).", host, status);
                goto undo;
        }
        imported = true;
        if (transfer_interrupted) {
                r = log_error_errno(-ECANCELED, "Interrupted.");
                goto undo;
        }

        r = sd_bus_call_method(remote, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetContainer", &error, NULL, "s", name);
        if (r >= 0) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *p;
                sd_bus_error_free(&error);
                r = sd_bus_call_method(remote, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetContainer", &error, &reply, "s", name);
                if (r >= 0 && sd_bus_message_read(reply, "o", &p) >= 0)
                        rpath = strdup(p);
        }
        if (r < 0 || !rpath) {
                r = bus_log_error(&error, r < 0 ? r : -ENOMEM, "Failed to find the imported container on %s", host);
                goto undo;
        }
        if (was_running) {
                if (!arg_quiet)
                        fprintf(stderr, "Starting %s on %s...\n", name, host);
                r = sd_bus_call_method(remote, BUS_NAME, rpath, CONTAINER_IFACE, "Start", &error, NULL, NULL);
                if (r < 0) {
                        r = bus_log_error(&error, r, "Failed to start container %s on %s", name, host);
                        goto undo;
                }
                r = get_state(remote, rpath, &rstate);
                if (r < 0)
                        goto undo;
                if (strcmp(rstate, "running") != 0) {
                        r = log_error_errno(-EIO, "Container %s is %s on %s, not running.", name, rstate, host);
                        goto undo;
                }
        }
        if (transfer_interrupted) {
                r = log_error_errno(-ECANCELED, "Interrupted.");
                goto undo;
        }
        /* it runs there: only now does it go here */
        r = bus_call(bus, MANAGER_PATH, MANAGER_IFACE, "Remove", NULL, "Failed to remove the container here after migrating it", "s", name);
        if (r < 0)
                return r;
        if (!arg_quiet)
                fprintf(stderr, "Container %s now %s on %s.\n", name, was_running ? "runs" : "is", host);
        return 0;

undo:
        sd_bus_error_free(&error);
        if (imported) {
                if (sd_bus_call_method(remote, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Remove", &error, NULL, "s", name) < 0)
                        fprintf(stderr, "Could not remove the copy on %s: %s\n", host, error.message ?: "");
                sd_bus_error_free(&error);
        }
        if (was_running) {
                if (sd_bus_call_method(bus, BUS_NAME, path, CONTAINER_IFACE, "Start", &error, NULL, NULL) < 0)
                        fprintf(stderr, "Could not start %s here again: %s\n", name, error.message ?: "");
                else if (!arg_quiet)
                        fprintf(stderr, "Container %s runs here again.\n", name);
                sd_bus_error_free(&error);
        }
        return r;
}

const Verb verb_migrate = {
        .name = "migrate", .synopsis = "NAME [USER@]HOST", .summary = "Move a container to another host over SSH",
        .options_help = NULL,
        .min_args = 2, .max_args = 2, .run = run_migrate,
};
