/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* build and pull: Build() and PullImage() return a job object at once (org.containers.Build);
 * its LogMessage signals are printed as they come and its Progress drives the bar, until Wait()
 * replies. Ctrl-C cancels the job. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerctl.h"
#include "progress.h"
#include "verbs.h"

static const char *arg_name, *arg_branch, *arg_subdir, *arg_run_file;

typedef struct BuildState {
        char *path;             /* NULL until Build() replied */
        Progress progress;
        bool done, success;
        sd_bus_error error;
        char *last_line;        /* the last log line printed: a failure's message ends the log */
} BuildState;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
        interrupted = 1;
}

static int on_log(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BuildState *s = userdata;
        const char *line;

        if (!s->path || strcmp(sd_bus_message_get_path(m), s->path) != 0)
                return 0;
        if (sd_bus_message_read(m, "s", &line) >= 0) {
                progress_log(&s->progress, line);
                free(s->last_line);
                s->last_line = strdup(line);
        }
        return 0;
}

static int on_properties(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BuildState *s = userdata;
        const char *iface, *key;
        double d;
        int r;

        if (!s->path || strcmp(sd_bus_message_get_path(m), s->path) != 0)
                return 0;
        if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, BUILD_IFACE) != 0)
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if (sd_bus_message_read(m, "s", &key) < 0)
                        return 0;
                if (strcmp(key, "Progress") == 0 && sd_bus_message_read(m, "v", "d", &d) >= 0)
                        progress_set_fraction(&s->progress, d);
                else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                r = sd_bus_message_exit_container(m);
        }
        return 0;
}

static int on_wait(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BuildState *s = userdata;
        int success;

        s->done = true;
        if (sd_bus_message_is_method_error(m, NULL))
                sd_bus_error_copy(&s->error, sd_bus_message_get_error(m));
        else if (sd_bus_message_read(m, "b", &success) >= 0)
                s->success = success;
        return 0;
}

static char *name_from_url(const char *url) {
        const char *e = url + strlen(url);
        while (e > url && e[-1] == '/')
                e--;
        const char *b = e;
        while (b > url && b[-1] != '/' && b[-1] != ':')
                b--;
        size_t n = (size_t) (e - b);
        if (n > 4 && strncmp(e - 4, ".git", 4) == 0)
                n -= 4;
        return n ? strndup(b, n) : NULL;
}

static int follow_job(sd_bus *bus, BuildState *sp, const char *path, const char *name, const char *title,
                      const char *doing);

static int subscribe(sd_bus *bus, BuildState *s, sd_bus_slot **log_slot, sd_bus_slot **prop_slot) {
        int r;

        r = sd_bus_match_signal(bus, log_slot, NULL, NULL, BUILD_IFACE, "LogMessage", on_log, s);
        if (r >= 0)
                r = sd_bus_match_signal(bus, prop_slot, NULL, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_properties, s);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to the job's signals: %s", strerror(-r));
        return 0;
}

static int run_build(sd_bus *bus, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *log_slot = NULL, *prop_slot = NULL;
        _cleanup_free_ char *name = NULL, *title = NULL;
        BuildState s = { .error = SD_BUS_ERROR_NULL };
        const char *path;
        int r;

        name = arg_name ? strdup(arg_name) : name_from_url(args[0]);
        if (!name) {
                fprintf(stderr, "build: no image name: pass --name=NAME\n");
                return -EUSAGE;
        }
        r = subscribe(bus, &s, &log_slot, &prop_slot);
        if (r < 0)
                return r;

        r = bus_message_new_call(bus, &m, MANAGER_PATH, MANAGER_IFACE, "Build");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", name, args[0]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_branch)
                r = sd_bus_message_append(m, "{sv}", "branch", "s", arg_branch);
        if (r >= 0 && arg_subdir)
                r = sd_bus_message_append(m, "{sv}", "subdir", "s", arg_subdir);
        if (r >= 0 && arg_run_file)
                r = sd_bus_message_append(m, "{sv}", "run_file", "s", arg_run_file);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, &reply, "Failed to build image %s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        if (asprintf(&title, "Building %s", name) < 0)
                return log_oom();
        return follow_job(bus, &s, path, name, title, "build");
}

/* Prints a job's (build's or pull's) log and progress until Wait() replies; Ctrl-C cancels it. */
static int follow_job(sd_bus *bus, BuildState *sp, const char *path, const char *name, const char *title,
                      const char *doing) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *wait_slot = NULL;
        int r;

        sp->path = strdup(path);
        if (!sp->path)
                return log_oom();
        progress_begin(&sp->progress, title);

        r = sd_bus_call_method_async(bus, &wait_slot, BUS_NAME, sp->path, BUILD_IFACE, "Wait", on_wait, sp, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to wait for the job: %s", strerror(-r));

        struct sigaction sa = { .sa_handler = on_sigint }, old;
        sigaction(SIGINT, &sa, &old);
        while (!sp->done) {
                if (interrupted == 1) {
                        interrupted = 2;
                        progress_log(&sp->progress, "Cancelling...");
                        (void) sd_bus_call_method_async(bus, NULL, BUS_NAME, sp->path, BUILD_IFACE, "Cancel",
                                                        NULL, NULL, NULL);
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        break;
        }
        sigaction(SIGINT, &old, NULL);
        /* signals that came before Wait's reply are still queued: print them */
        while (sd_bus_process(bus, NULL) > 0)
                ;
        progress_end(&sp->progress, sp->done && sp->success);

        if (!sp->done)
                r = log_error_errno(r, "Lost the connection while waiting: %s", strerror(-r));
        else if (sd_bus_error_is_set(&sp->error))
                r = bus_log_error(&sp->error, -EIO, "Failed to %s image %s", doing, name);
        else if (!sp->success) {
                _cleanup_free_ char *error = NULL, *error_name = NULL;
                (void) sd_bus_get_property_string(bus, BUS_NAME, sp->path, BUILD_IFACE, "Error", NULL, &error);
                (void) sd_bus_get_property_string(bus, BUS_NAME, sp->path, BUILD_IFACE, "ErrorName", NULL, &error_name);
                sd_bus_error e = { .name = error_name && *error_name ? error_name : "org.containers.Error.BuildFailed",
                                   .message = error && *error ? error : (interrupted ? "cancelled" : "build failed") };
                /* The job's log ends with its error, printed already: not twice. */
                if (error && sp->last_line && strcmp(error, sp->last_line) == 0)
                        e.message = "see the last line above";
                r = bus_log_error(&e, -EIO, "Failed to %s image %s", doing, name);
        } else {
                if (!arg_quiet)
                        printf("%s\n", name);
                r = 0;
        }
        free(sp->path);
        free(sp->last_line);
        sd_bus_error_free(&sp->error);
        return r;
}

enum { ARG_BRANCH = ARG_VERB_BASE, ARG_SUBDIR, ARG_RUN_FILE };

static const struct option build_options[] = {
        { "name",     required_argument, NULL, 'n'          },
        { "branch",   required_argument, NULL, ARG_BRANCH   },
        { "subdir",   required_argument, NULL, ARG_SUBDIR   },
        { "run-file", required_argument, NULL, ARG_RUN_FILE },
        {}
};

static int build_option(int c, const char *arg) {
        switch (c) {
        case 'n': arg_name = arg; return 0;
        case ARG_BRANCH: arg_branch = arg; return 0;
        case ARG_SUBDIR: arg_subdir = arg; return 0;
        case ARG_RUN_FILE: arg_run_file = arg; return 0;
        }
        return -EINVAL;
}

const Verb verb_build = {
        .name = "build", .synopsis = "URL", .summary = "Build an image from a git repository with a Run.yaml",
        .options_help = "  -n --name=NAME         The image's name (default: the repository's)\n"
                        "     --branch=BRANCH     A branch other than the default\n"
                        "     --subdir=DIR        The project's folder inside the repository\n"
                        "     --run-file=FILE     Instead of Run.yaml\n"
                        "Ctrl-C cancels the build.\n",
        .min_args = 1, .max_args = 1, .short_options = "n:", .options = build_options,
        .option = build_option, .run = run_build,
};

/* ---- pull ----------------------------------------------------------------------------- */

static const char *arg_pull_base;
static int arg_tls_verify = -1;

static int run_pull(sd_bus *bus, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *log_slot = NULL, *prop_slot = NULL;
        _cleanup_free_ char *title = NULL;
        BuildState s = { .error = SD_BUS_ERROR_NULL };
        const char *path;
        int r;

        r = subscribe(bus, &s, &log_slot, &prop_slot);
        if (r < 0)
                return r;
        r = bus_message_new_call(bus, &m, MANAGER_PATH, MANAGER_IFACE, "PullImage");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", args[1], args[0]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_pull_base)
                r = sd_bus_message_append(m, "{sv}", "base", "s", arg_pull_base);
        if (r >= 0 && arg_tls_verify >= 0)
                r = sd_bus_message_append(m, "{sv}", "tls_verify", "b", arg_tls_verify);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, &reply, "Failed to pull %s as image %s", args[0], args[1]);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        if (asprintf(&title, "Pulling %s", args[1]) < 0)
                return log_oom();
        return follow_job(bus, &s, path, args[1], title, "pull");
}

enum { ARG_BASE = ARG_VERB_BASE + 10, ARG_NO_TLS_VERIFY };

static const struct option pull_options[] = {
        { "base",          required_argument, NULL, ARG_BASE          },
        { "no-tls-verify", no_argument,       NULL, ARG_NO_TLS_VERIFY },
        {}
};

static int pull_option(int c, const char *arg) {
        switch (c) {
        case ARG_BASE: arg_pull_base = arg; return 0;
        case ARG_NO_TLS_VERIFY: arg_tls_verify = 0; return 0;
        }
        return -EINVAL;
}

const Verb verb_pull = {
        .name = "pull", .synopsis = "HOST[:PORT]/NAME[:TAG|@DIGEST] IMAGE",
        .summary = "Pull an image from a registry (through skopeo)",
        .options_help = "     --base=BASE         The base under its layers (default busybox)\n"
                        "     --no-tls-verify     Accept a registry without a valid certificate\n"
                        "Ctrl-C cancels the pull.\n",
        .min_args = 2, .max_args = 2, .options = pull_options, .option = pull_option, .run = run_pull,
};
