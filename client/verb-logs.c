/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* logs: Logs() once, or FollowLogs() into a pipe we read until the container is removed or we
 * are interrupted. stdout lines go to stdout, stderr lines to stderr. */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerctl.h"
#include "pager.h"
#include "verbs.h"

static bool arg_follow;
static long arg_lines = -1;
static uint64_t arg_since;

static int follow(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t n = 0;
        int fds[2], r;

        r = bus_container_path(bus, name, &path);
        if (r < 0)
                return r;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to make a pipe: %m");
        r = bus_message_new_call(bus, &m, path, CONTAINER_IFACE, "FollowLogs");
        if (r >= 0) {
                r = sd_bus_message_append(m, "h", fds[1]);
                if (r >= 0)
                        r = sd_bus_message_append(m, "a{sv}", 1, "lines", "u", (uint32_t) (arg_lines < 0 ? 10 : arg_lines));
                if (r < 0)
                        r = log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        }
        if (r >= 0)
                r = bus_call_message(bus, m, NULL, "Failed to follow the logs of container %s", name);
        close(fds[1]);
        sd_bus_message_unref(TAKE_PTR(m));
        if (r < 0) {
                close(fds[0]);
                return r;
        }
        f = fdopen(fds[0], "r");
        if (!f)
                return log_oom();
        while (getline(&line, &n, f) > 0) {
                if (strncmp(line, "stderr ", 7) == 0) {
                        fputs(line + 7, stderr);
                        fflush(stderr);
                } else {
                        fputs(strncmp(line, "stdout ", 7) == 0 ? line + 7 : line, stdout);
                        fflush(stdout);
                }
        }
        return 0;
}

static int run_logs(sd_bus *bus, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const char *key, *value;
        int r;

        if (arg_follow)
                return follow(bus, args[0]);

        r = bus_container_path(bus, args[0], &path);
        if (r < 0)
                return r;
        r = bus_message_new_call(bus, &m, path, CONTAINER_IFACE, "Logs");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_lines >= 0)
                r = sd_bus_message_append(m, "{sv}", "lines", "u", (uint32_t) arg_lines);
        if (r >= 0 && arg_since > 0)
                r = sd_bus_message_append(m, "{sv}", "since", "t", arg_since);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, &reply, "Failed to get the logs of container %s", args[0]);
        if (r < 0)
                return r;
        pager_open();
        r = sd_bus_message_enter_container(reply, 'a', "{ss}");
        while (r >= 0 && (r = sd_bus_message_read(reply, "{ss}", &key, &value)) > 0) {
                if (strcmp(key, "stdout") == 0)
                        fputs(value, stdout);
                else if (strcmp(key, "stderr") == 0)
                        fputs(value, stderr);
                else if (strcmp(key, "truncated") == 0 && !arg_quiet)
                        fprintf(stderr, "(%s)\n", value);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        return 0;
}

static const struct option logs_options[] = {
        { "follow", no_argument,       NULL, 'f' },
        { "lines",  required_argument, NULL, 'n' },
        { "since",  required_argument, NULL, 'S' },
        {}
};

static int logs_option(int c, const char *arg) {
        char *end;

        switch (c) {
        case 'f':
                arg_follow = true;
                return 0;
        case 'n':
                arg_lines = strtol(arg, &end, 10);
                if (*end || arg_lines < 0 || arg_lines > UINT32_MAX) {
                        fprintf(stderr, "Invalid number of lines: %s\n", arg);
                        return -EINVAL;
                }
                return 0;
        case 'S':
                /* seconds since the epoch, or @usec as the bus speaks */
                arg_since = arg[0] == '@' ? strtoull(arg + 1, &end, 10) : strtoull(arg, &end, 10) * 1000000;
                if (*end) {
                        fprintf(stderr, "Invalid time (seconds since the epoch, or @USEC): %s\n", arg);
                        return -EINVAL;
                }
                return 0;
        }
        return -EINVAL;
}

const Verb verb_logs = {
        .name = "logs", .synopsis = "NAME", .summary = "Show a container's output (-f: follow it live)",
        .options_help = "  -f --follow            Keep printing new lines as they come\n"
                        "  -n --lines=N           The last N lines (default 1000, 10 with -f; 0: all, with -f none)\n"
                        "  -S --since=SECONDS     Only lines since then (seconds since the epoch, or @USEC)\n",
        .min_args = 1, .max_args = 1, .short_options = "fn:S:", .options = logs_options,
        .option = logs_option, .flags = VERB_FDS, .run = run_logs,
};
