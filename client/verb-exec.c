/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec and shell.
 *
 * exec without -t: ExecWithFds() with our own stdin (or /dev/null without -i), stdout and
 * stderr; the reply is the command's exit status, which becomes ours.
 *
 * exec -t and shell: OpenShell() gives the master of a PTY inside the container whose slave
 * is the command's controlling terminal (so Ctrl-C, Ctrl-Z and job control work there). Our
 * terminal goes raw and we relay both ways; the window size is copied to the master at start
 * and on every SIGWINCH. OpenShell() does not report how the command ended, so exec -t wraps
 * the command in /bin/sh, which prints its status as a private OSC escape sequence after it
 * ends; the relay takes that sequence out of the stream and exits with the status. */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "containerctl.h"
#include "exit-mark.h"
#include "verbs.h"

static bool arg_interactive, arg_tty;
static const char *arg_user, *arg_workdir;
static char **arg_exec_env;


static volatile sig_atomic_t got_winch;

static void on_winch(int sig) {
        got_winch = 1;
}

static void copy_winsize(int master) {
        struct winsize ws;

        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) >= 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0)
                (void) ioctl(master, TIOCSWINSZ, &ws);
}

static int pty_relay(int master, bool want_status) {
        struct termios saved, raw;
        bool restore = false, stdin_eof = false;
        struct sigaction sa = { .sa_handler = on_winch }, old_sa;
        char pending[EXIT_MARK_PENDING_MAX];
        size_t n_pending = 0;
        int status = -1;

        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) >= 0) {
                raw = saved;
                cfmakeraw(&raw);
                if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) >= 0)
                        restore = true;
        }
        sigaction(SIGWINCH, &sa, &old_sa);
        copy_winsize(master);

        for (;;) {
                struct pollfd pfd[2] = {
                        { .fd = master, .events = POLLIN },
                        { .fd = stdin_eof ? -1 : STDIN_FILENO, .events = POLLIN },
                };
                char buf[8192];
                ssize_t k;

                if (got_winch) {
                        got_winch = 0;
                        copy_winsize(master);
                }
                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents) {
                        k = read(master, buf, sizeof buf);
                        if (k <= 0) {
                                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                                        continue;
                                break;          /* EIO: the command and its terminal are gone */
                        }
                        if (want_status) {
                                int s = exit_mark_filter(pending, &n_pending, buf, (size_t) k, STDOUT_FILENO);
                                if (s >= 0)
                                        status = s;
                        } else
                                (void) write_all(STDOUT_FILENO, buf, (size_t) k);
                }
                if (pfd[1].revents) {
                        k = read(STDIN_FILENO, buf, sizeof buf);
                        if (k <= 0) {
                                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                                        continue;
                                /* our input ended: end the command's (Ctrl-D at a line start) */
                                stdin_eof = true;
                                (void) write_all(master, "\x04", 1);
                                continue;
                        }
                        if (write_all(master, buf, (size_t) k) < 0)
                                break;
                }
        }
        if (n_pending)
                (void) write_all(STDOUT_FILENO, pending, n_pending);
        if (restore)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        sigaction(SIGWINCH, &old_sa, NULL);
        return status;
}

static int open_shell(sd_bus *bus, const char *name, const char *user, char **command, bool want_status) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const char *pty_path;
        int master, r;

        r = bus_container_path(bus, name, &path);
        if (r < 0)
                return r;
        r = bus_message_new_call(bus, &m, path, CONTAINER_IFACE, "OpenShell");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", user ?: "");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, command);
        if (r >= 0) {
                /* the terminal is ours: its type too, unless -e says otherwise */
                _cleanup_strv_free_ char **env = NULL;
                const char *term = getenv("TERM");
                bool has_term = false;
                for (char **e = arg_exec_env; e && *e; e++) {
                        has_term = has_term || strncmp(*e, "TERM=", 5) == 0;
                        if (strv_push(&env, *e) < 0)
                                return log_oom();
                }
                if (!has_term && term && *term) {
                        _cleanup_free_ char *t = NULL;
                        if (asprintf(&t, "TERM=%s", term) < 0 || strv_push(&env, t) < 0)
                                return log_oom();
                }
                r = bus_append_env(m, env);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, &reply, "Failed to open a terminal in container %s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "hs", &master, &pty_path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        master = fcntl(master, F_DUPFD_CLOEXEC, 3);
        if (master < 0)
                return log_error_errno(-errno, "Failed to take the terminal: %m");
        if (!want_status && !arg_quiet && isatty(STDIN_FILENO))
                fprintf(stderr, "Connected to container %s. Exit the shell to leave.\n", name);
        r = pty_relay(master, want_status);
        close(master);
        if (!want_status) {
                if (!arg_quiet && isatty(STDIN_FILENO))
                        fprintf(stderr, "\nConnection to container %s terminated.\n", name);
                return 0;
        }
        if (r < 0)
                return log_error_errno(-EIO, "The terminal closed before the command's status came.");
        return r;
}

static int exec_fds(sd_bus *bus, const char *name, char **command) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int null_fd = -1;
        int32_t status;
        int r;

        r = bus_container_path(bus, name, &path);
        if (r < 0)
                return r;
        if (!arg_interactive) {
                null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null_fd < 0)
                        return log_error_errno(-errno, "Failed to open /dev/null: %m");
        }
        r = bus_message_new_call(bus, &m, path, CONTAINER_IFACE, "ExecWithFds");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, command);
        if (r >= 0)
                r = sd_bus_message_append(m, "hhh", arg_interactive ? STDIN_FILENO : null_fd,
                                          STDOUT_FILENO, STDERR_FILENO);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_exec_env)
                r = bus_append_option_env(m, "environment", arg_exec_env);
        if (r >= 0 && arg_user)
                r = sd_bus_message_append(m, "{sv}", "user", "s", arg_user);
        if (r >= 0 && arg_workdir)
                r = sd_bus_message_append(m, "{sv}", "working_directory", "s", arg_workdir);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, &reply, "Failed to run a command in container %s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "i", &status);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        return status < 0 ? 255 : status > 255 ? 255 : status;
}

static int run_exec(sd_bus *bus, char **args, int n) {
        _cleanup_strv_free_ char **wrapped = NULL;
        char **command = args + 1;

        if (!*command) {
                fprintf(stderr, "exec: no command given.\n");
                return -EUSAGE;
        }
        if (!arg_tty)
                return exec_fds(bus, args[0], command);

        if (strv_push(&wrapped, "/bin/sh") < 0 || strv_push(&wrapped, "-c") < 0)
                return log_oom();
        if (arg_workdir) {
                _cleanup_free_ char *s = NULL;
                if (asprintf(&s, "cd \"$0\" || exit 126; %s", WRAPPER) < 0 || strv_push(&wrapped, s) < 0 ||
                    strv_push(&wrapped, arg_workdir) < 0)
                        return log_oom();
        } else if (strv_push(&wrapped, WRAPPER) < 0 || strv_push(&wrapped, "sh") < 0)
                return log_oom();
        for (char **c = command; *c; c++)
                if (strv_push(&wrapped, *c) < 0)
                        return log_oom();
        return open_shell(bus, args[0], arg_user, wrapped, true);
}

static int run_shell(sd_bus *bus, char **args, int n) {
        const char *name = args[0];
        const char *user = n > 1 ? args[1] : arg_user;

        /* as machinectl shell: NAME, or USER@NAME */
        _cleanup_free_ char *u = NULL;
        const char *at = strchr(name, '@');
        if (at && n == 1) {
                u = strndup(name, (size_t) (at - name));
                if (!u)
                        return log_oom();
                user = u;
                name = at + 1;
        }
        return open_shell(bus, name, user, args + n, false);
}

static const struct option exec_options[] = {
        { "interactive", no_argument,       NULL, 'i' },
        { "tty",         no_argument,       NULL, 't' },
        { "user",        required_argument, NULL, 'u' },
        { "workdir",     required_argument, NULL, 'w' },
        { "env",         required_argument, NULL, 'e' },
        {}
};

static int exec_option(int c, const char *arg) {
        switch (c) {
        case 'i':
                arg_interactive = true;
                return 0;
        case 't':
                arg_tty = true;
                return 0;
        case 'u':
                arg_user = arg;
                return 0;
        case 'w':
                arg_workdir = arg;
                return 0;
        case 'e':
                return strv_push(&arg_exec_env, arg) < 0 ? log_oom() : 0;
        }
        return -EINVAL;
}

const Verb verb_exec = {
        .name = "exec", .synopsis = "NAME COMMAND...", .summary = "Run a command in a running container",
        .options_help = "  -i --interactive       Pass standard input (else /dev/null)\n"
                        "  -t --tty               A terminal of its own in the container (Ctrl-C, resize)\n"
                        "  -u --user=USER         A user of the container (name or number; default root)\n"
                        "  -w --workdir=DIR       Run it in DIR\n"
                        "  -e --env=NAME=VALUE    Set an environment variable\n"
                        "The exit status is the command's.\n",
        .min_args = 1, .max_args = 1, .flags = VERB_COMMAND | VERB_FDS,
        .short_options = "itu:w:e:", .options = exec_options, .option = exec_option, .run = run_exec,
};

const Verb verb_shell = {
        .name = "shell", .synopsis = "[USER@]NAME [USER [COMMAND...]]",
        .summary = "Open a login shell (or COMMAND) on a terminal in a container",
        .options_help = "  -u --user=USER         Whose shell (default root)\n"
                        "  -e --env=NAME=VALUE    Set an environment variable\n",
        .min_args = 1, .max_args = 2, .flags = VERB_COMMAND | VERB_FDS,
        .short_options = "u:e:", .options = exec_options, .option = exec_option, .run = run_shell,
};
