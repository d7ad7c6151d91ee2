/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* snapshot create|restore|rm|list, and commit (a container's files as a new image). */

#include <stdio.h>
#include <string.h>

#include "containerctl.h"
#include "pager.h"
#include "table.h"
#include "verbs.h"

static bool arg_stateful;

static int snapshot_list(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_table_ Table *t = table_new("NAME", "CREATED", NULL);
        _cleanup_free_ char *what = NULL;
        const char *snap;
        uint64_t created;
        int r;

        if (!t || asprintf(&what, "Failed to list the snapshots of container %s", name) < 0)
                return log_oom();
        r = bus_call_container(bus, name, "ListSnapshots", &reply, what, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(st)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(st)", &snap, &created)) > 0)
                if ((r = table_add_string(t, CELL_STRING, snap)) < 0 ||
                    (r = table_add_uint(t, CELL_TIMESTAMP, created)) < 0)
                        break;
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        pager_open();
        return table_print(t, "snapshot");
}

static int run_snapshot(sd_bus *bus, char **args, int n) {
        _cleanup_free_ char *what = NULL;
        const char *sub = args[0], *name = args[1], *snap = n > 2 ? args[2] : NULL;

        if (strcmp(sub, "list") == 0) {
                if (snap) {
                        fprintf(stderr, "snapshot list: too many arguments.\n");
                        return -EUSAGE;
                }
                return snapshot_list(bus, name);
        }
        if (!snap) {
                fprintf(stderr, "snapshot %s: containerctl snapshot %s NAME SNAPSHOT\n", sub, sub);
                return -EUSAGE;
        }
        if (strcmp(sub, "create") == 0) {
                if (asprintf(&what, "Failed to snapshot container %s as %s", name, snap) < 0)
                        return log_oom();
                if (arg_stateful)
                        return bus_call_container(bus, name, "CreateSnapshot", NULL, what, "sa{sv}", snap, 1,
                                                  "stateful", "b", 1);
                return bus_call_container(bus, name, "CreateSnapshot", NULL, what, "sa{sv}", snap, 0);
        }
        if (strcmp(sub, "restore") == 0) {
                if (asprintf(&what, "Failed to restore container %s from snapshot %s", name, snap) < 0)
                        return log_oom();
                return bus_call_container(bus, name, "RestoreSnapshot", NULL, what, "s", snap);
        }
        if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0) {
                if (asprintf(&what, "Failed to remove snapshot %s of container %s", snap, name) < 0)
                        return log_oom();
                return bus_call_container(bus, name, "RemoveSnapshot", NULL, what, "s", snap);
        }
        fprintf(stderr, "Unknown snapshot command '%s': create, restore, rm or list.\n", sub);
        return -EUSAGE;
}

static const struct option snapshot_options[] = {
        { "stateful", no_argument, NULL, ARG_VERB_BASE },
        {}
};

static int snapshot_option(int c, const char *arg) {
        if (c == ARG_VERB_BASE) {
                arg_stateful = true;
                return 0;
        }
        return -EINVAL;
}

const Verb verb_snapshot = {
        .name = "snapshot", .synopsis = "create|restore|rm|list NAME [SNAPSHOT]",
        .summary = "Snapshots of a container's files and configuration",
        .options_help = "     --stateful          create: checkpoint the processes too (CRIU)\n",
        .min_args = 2, .max_args = 3, .options = snapshot_options, .option = snapshot_option,
        .run = run_snapshot,
};

static int run_commit(sd_bus *bus, char **args, int n) {
        _cleanup_free_ char *what = NULL;
        int r;

        if (asprintf(&what, "Failed to commit container %s as image %s", args[0], args[1]) < 0)
                return log_oom();
        r = bus_call_container(bus, args[0], "Commit", NULL, what, "sa{sv}", args[1], 0);
        if (r >= 0 && !arg_quiet)
                printf("%s\n", args[1]);
        return r;
}

const Verb verb_commit = {
        .name = "commit", .synopsis = "NAME IMAGE", .summary = "Make an image of a container's current files",
        .min_args = 2, .max_args = 2, .run = run_commit,
};
