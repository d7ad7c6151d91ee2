/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* list: List(), then the properties of the running containers, pipelined; images: one
 * GetManagedObjects round trip gives every image with the properties the columns need. */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "containerctl.h"
#include "pager.h"
#include "table.h"
#include "verbs.h"

typedef struct ContainerRow {
        const char *name, *image, *state;
        char **addresses;
        uint64_t started;
} ContainerRow;

typedef struct ImageRow {
        const char *name, *base, *url, *commit;
        uint64_t created;
        int is_base;
} ImageRow;

/* Reads one a{sv} of properties, keeping those a row needs. */
static int read_container_props(sd_bus_message *m, ContainerRow *row) {
        const char *key;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Name") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->name);
                else if (strcmp(key, "Image") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->image);
                else if (strcmp(key, "State") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->state);
                else if (strcmp(key, "StartedTimestamp") == 0)
                        r = sd_bus_message_read(m, "v", "t", &row->started);
                else if (strcmp(key, "Addresses") == 0) {
                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &row->addresses);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_image_props(sd_bus_message *m, ImageRow *row) {
        const char *key;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Name") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->name);
                else if (strcmp(key, "Base") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->base);
                else if (strcmp(key, "Url") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->url);
                else if (strcmp(key, "Commit") == 0)
                        r = sd_bus_message_read(m, "v", "s", &row->commit);
                else if (strcmp(key, "CreatedTimestamp") == 0)
                        r = sd_bus_message_read(m, "v", "t", &row->created);
                else if (strcmp(key, "IsBase") == 0)
                        r = sd_bus_message_read(m, "v", "b", &row->is_base);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

typedef int (*ObjectFn)(sd_bus_message *m, const char *iface, void *userdata);

/* Walks GetManagedObjects' a{oa{sa{sv}}}, calling fn for each interface's properties. */
static int for_each_managed_object(sd_bus *bus, ObjectFn fn, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path, *iface;
        int r;

        r = bus_call(bus, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                     &reply, "Failed to list objects", NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                goto fail;
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        goto fail;
                r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                if (r < 0)
                        goto fail;
                while ((r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        r = sd_bus_message_read(reply, "s", &iface);
                        if (r < 0)
                                goto fail;
                        r = fn(reply, iface, userdata);
                        if (r < 0)
                                goto fail;
                        r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                goto fail;
                }
                if (r < 0)
                        goto fail;
                r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;
        return 0;
fail:
        return log_error_errno(r, "Failed to parse the object list: %s", strerror(-r));
}

static bool arg_all = true;

/* A running container's properties, asked for all at once (pipelined GetAll calls): List()
 * has the rest. Stopped containers show no address or uptime, as machinectl list does. */
typedef struct RowQuery {
        ContainerRow row;
        char *name, *image, *state, *path;
        sd_bus_slot *slot;
        bool pending;
        sd_bus_message *reply;
} RowQuery;

static int on_getall(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RowQuery *q = userdata;

        q->pending = false;
        if (!sd_bus_message_is_method_error(m, NULL))
                q->reply = sd_bus_message_ref(m);
        return 0;
}

static bool is_up(const char *state) {
        return strcmp(state, "running") == 0 || strcmp(state, "frozen") == 0;
}

static int run_list(sd_bus *bus, char **args, int n) {
        _cleanup_table_ Table *t = table_new("NAME", "IMAGE", "STATE", "ADDRESS", "UPTIME", NULL);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ RowQuery *q = NULL;
        size_t n_q = 0, allocated = 0, pending = 0;
        const char *name, *image, *state, *path;
        uint64_t now = now_usec(CLOCK_REALTIME);
        int r;

        if (!t)
                return log_oom();
        r = bus_call(bus, MANAGER_PATH, MANAGER_IFACE, "List", &reply, "Failed to list containers", NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssso)", &name, &image, &state, &path)) > 0) {
                if (!arg_all && !is_up(state))
                        continue;
                if (n_q == allocated) {
                        allocated = allocated ? allocated * 2 : 64;
                        RowQuery *nq = realloc(q, allocated * sizeof(RowQuery));
                        if (!nq)
                                return log_oom();
                        q = nq;
                }
                q[n_q] = (RowQuery) { .name = (char *) name, .image = (char *) image, .state = (char *) state,
                                      .path = (char *) path };
                n_q++;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the container list: %s", strerror(-r));
        for (size_t i = 0; i < n_q; i++) {
                if (!is_up(q[i].state))
                        continue;
                r = sd_bus_call_method_async(bus, &q[i].slot, BUS_NAME, q[i].path, "org.freedesktop.DBus.Properties",
                                             "GetAll", on_getall, &q[i], "s", CONTAINER_IFACE);
                if (r < 0)
                        return log_error_errno(r, "Failed to ask for properties: %s", strerror(-r));
                q[i].pending = true;
                pending++;
        }
        while (pending > 0) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to read replies: %s", strerror(-r));
                pending = 0;
                for (size_t i = 0; i < n_q; i++)
                        pending += q[i].pending;
                if (pending > 0 && r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0 && r != -EINTR)
                        return log_error_errno(r, "Failed to wait for replies: %s", strerror(-r));
        }
        for (size_t i = 0; i < n_q; i++) {
                ContainerRow row = {};

                /* a container that went away meanwhile has no properties: shown as listed */
                if (q[i].reply)
                        (void) read_container_props(q[i].reply, &row);
                if ((r = table_add_string(t, CELL_STRING, q[i].name)) < 0 ||
                    (r = table_add_string(t, CELL_STRING, q[i].image)) < 0 ||
                    (r = table_add_string(t, CELL_STATE, q[i].state)) < 0 ||
                    (r = table_add_strv(t, is_up(q[i].state) ? row.addresses : NULL)) < 0 ||
                    (r = table_add_uint(t, CELL_TIMESPAN, is_up(q[i].state) && row.started > 0 && now > row.started ?
                                                          now - row.started : 0)) < 0) {
                        strv_freep(&row.addresses);
                        return log_oom();
                }
                strv_freep(&row.addresses);
                sd_bus_message_unref(q[i].reply);
                sd_bus_slot_unref(q[i].slot);
        }
        table_sort(t, 0);
        pager_open();
        return table_print(t, "container");
}

static int image_row(sd_bus_message *m, const char *iface, void *userdata) {
        Table *t = userdata;
        ImageRow row = {};
        int r;

        if (strcmp(iface, IMAGE_IFACE) != 0)
                return sd_bus_message_skip(m, "a{sv}");
        r = read_image_props(m, &row);
        if (r < 0)
                return r;
        if ((r = table_add_string(t, CELL_STRING, row.name)) < 0 ||
            (r = table_add_string(t, CELL_STRING, row.is_base ? "(base)" : row.base)) < 0 ||
            (r = table_add_string(t, CELL_STRING, row.url && *row.url ? row.url : "-")) < 0 ||
            (r = table_add_string(t, CELL_STRING, row.commit && *row.commit ? row.commit : "-")) < 0)
                return r;
        return table_add_uint(t, CELL_TIMESTAMP, row.created);
}

static int run_images(sd_bus *bus, char **args, int n) {
        _cleanup_table_ Table *t = table_new("NAME", "BASE", "SOURCE", "COMMIT", "CREATED", NULL);
        int r;

        if (!t)
                return log_oom();
        r = for_each_managed_object(bus, image_row, t);
        if (r < 0)
                return r;
        table_sort(t, 0);
        pager_open();
        return table_print(t, "image");
}

enum { ARG_RUNNING = ARG_VERB_BASE };

static const struct option list_options[] = {
        { "all",     no_argument, NULL, 'a'         },
        { "running", no_argument, NULL, ARG_RUNNING },
        {}
};

static int list_option(int c, const char *arg) {
        switch (c) {
        case 'a':
                arg_all = true;
                return 0;
        case ARG_RUNNING:
                arg_all = false;
                return 0;
        }
        return -EINVAL;
}

const Verb verb_list = {
        .name = "list", .synopsis = "", .summary = "List containers",
        .options_help = "  -a --all       Every container (the default)\n"
                        "     --running   Only running (and frozen) ones\n",
        .max_args = 0, .short_options = "a", .options = list_options, .option = list_option,
        .run = run_list,
};

const Verb verb_images = {
        .name = "images", .synopsis = "", .summary = "List images (built, imported, committed, and the bases)",
        .max_args = 0, .run = run_images,
};
