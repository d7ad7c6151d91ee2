/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inspect (a container's or an image's Inspect()) and top (Top()). */

#include <stdio.h>
#include <string.h>

#include "containerctl.h"
#include "json.h"
#include "pager.h"
#include "table.h"
#include "terminal.h"
#include "verbs.h"

static bool arg_image;

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "Key: value" per member, as machinectl show does; lists space-separated. */
static void print_object_text(JsonObject *o) {
        g_autoptr(GList) members = json_object_get_members(o);
        char buf[64];

        for (GList *l = members; l; l = l->next) {
                const char *k = l->data;
                JsonNode *v = json_object_get_member(o, k);

                printf("%s%s:%s ", ansi_highlight(), k, ansi_normal());
                if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING) {
                        const char *s = json_node_get_string(v);
                        printf("%s%s%s\n", strcmp(k, "State") == 0 ? state_color(s) : "", s,
                               strcmp(k, "State") == 0 && *state_color(s) ? ansi_normal() : "");
                } else if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_INT64 &&
                           (ends_with(k, "Timestamp"))) {
                        gint64 t = json_node_get_int(v);
                        printf("%s\n", t > 0 ? format_timestamp(buf, sizeof buf, (uint64_t) t) : "-");
                } else if (JSON_NODE_HOLDS_ARRAY(v)) {
                        JsonArray *a = json_node_get_array(v);
                        for (guint i = 0; i < json_array_get_length(a); i++) {
                                JsonNode *e = json_array_get_element(a, i);
                                if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                                        printf("%s%s", i ? " " : "", json_node_get_string(e));
                                else {
                                        g_autofree char *s = json_to_string(e, false);
                                        printf("%s%s", i ? " " : "", s);
                                }
                        }
                        putchar('\n');
                } else {
                        g_autofree char *s = json_to_string(v, false);
                        printf("%s\n", s);
                }
        }
}

/* The image's Inspect(): its properties, with the environment's values when we may see them. */
static int image_properties(sd_bus *bus, const char *name, JsonNode **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *props = NULL;
        _cleanup_free_ char *what = NULL;
        const char *path;
        int r;

        if (asprintf(&what, "Failed to find image %s", name) < 0)
                return log_oom();
        r = bus_call(bus, MANAGER_PATH, MANAGER_IFACE, "GetImage", &reply, what, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        r = bus_call(bus, path, IMAGE_IFACE, "Inspect", &props, what, NULL);
        if (r < 0)
                return r;
        return json_from_bus_message(props, ret);
}

static int run_inspect(sd_bus *bus, char **args, int n) {
        int ret = 0, r;
        g_autoptr(JsonArray) all = json_array_new();

        for (char **a = args; *a; a++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_free_ char *what = NULL;
                JsonNode *node = NULL;

                if (arg_image)
                        r = image_properties(bus, *a, &node);
                else {
                        if (asprintf(&what, "Failed to inspect container %s", *a) < 0)
                                return log_oom();
                        r = bus_call_container(bus, *a, "Inspect", &reply, what, NULL);
                        if (r >= 0)
                                r = json_from_bus_message(reply, &node);
                }
                if (r < 0) {
                        if (ret == 0)
                                ret = r;
                        continue;
                }
                json_array_add_element(all, node);
        }
        pager_open();
        if (arg_json != JSON_OFF) {
                /* one name: its object; several: an array of them */
                g_autoptr(JsonNode) root = NULL;
                if (json_array_get_length(all) == 1)
                        root = json_node_copy(json_array_get_element(all, 0));
                else
                        root = json_node_init_array(json_node_alloc(), all);
                if (json_array_get_length(all) > 0)
                        json_print(root);
                return ret;
        }
        for (guint i = 0; i < json_array_get_length(all); i++) {
                if (i > 0)
                        putchar('\n');
                print_object_text(json_node_get_object(json_array_get_element(all, i)));
        }
        return ret;
}

static const struct option inspect_options[] = {
        { "image", no_argument, NULL, 'i' },
        {}
};

static int inspect_option(int c, const char *arg) {
        if (c == 'i') {
                arg_image = true;
                return 0;
        }
        return -EINVAL;
}

const Verb verb_inspect = {
        .name = "inspect", .synopsis = "NAME...", .summary = "Show everything about containers (or images)",
        .options_help = "  -i --image             NAME is an image\n",
        .min_args = 1, .max_args = VERB_ANY, .short_options = "i", .options = inspect_options,
        .option = inspect_option, .run = run_inspect,
};

static int run_top(sd_bus *bus, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *what = NULL;
        uint64_t cpu = 0, mem = 0, tasks = 0;
        const char *key, *source = "";
        char b1[32], b2[32];
        int truncated = false, r;

        if (asprintf(&what, "Failed to get the processes of container %s", args[0]) < 0)
                return log_oom();
        r = bus_call_container(bus, args[0], "Top", &reply, what, NULL);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                g_autoptr(JsonNode) node = NULL;
                r = json_from_bus_message(reply, &node);
                if (r < 0)
                        return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
                return json_print(node);
        }
        t = table_new("PID", "CPID", "USER", "CPU", "RSS", "THREADS", "COMMAND", NULL);
        if (!t)
                return log_oom();
        table_set_align_right(t, 0);
        table_set_align_right(t, 1);
        table_set_align_right(t, 3);
        table_set_align_right(t, 4);
        table_set_align_right(t, 5);
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        break;
                if (strcmp(key, "cpu_usage_nsec") == 0)
                        r = sd_bus_message_read(reply, "v", "t", &cpu);
                else if (strcmp(key, "memory_bytes") == 0)
                        r = sd_bus_message_read(reply, "v", "t", &mem);
                else if (strcmp(key, "tasks") == 0)
                        r = sd_bus_message_read(reply, "v", "t", &tasks);
                else if (strcmp(key, "source") == 0)
                        r = sd_bus_message_read(reply, "v", "s", &source);
                else if (strcmp(key, "truncated") == 0)
                        r = sd_bus_message_read(reply, "v", "b", &truncated);
                else if (strcmp(key, "processes") == 0) {
                        uint32_t pid, cpid;
                        const char *user, *cmdline;
                        uint64_t cpu_ns, rss, threads;

                        r = sd_bus_message_enter_container(reply, 'v', "a(uusttts)");
                        if (r >= 0)
                                r = sd_bus_message_enter_container(reply, 'a', "(uusttts)");
                        while (r >= 0 && (r = sd_bus_message_read(reply, "(uusttts)", &pid, &cpid, &user,
                                                                  &cpu_ns, &rss, &threads, &cmdline)) > 0) {
                                if ((r = table_add_uint(t, CELL_UINT, pid)) < 0 ||
                                    (r = table_add_uint(t, CELL_UINT, cpid)) < 0 ||
                                    (r = table_add_string(t, CELL_STRING, user)) < 0 ||
                                    (r = table_add_uint(t, CELL_TIMESPAN, cpu_ns / 1000)) < 0 ||
                                    (r = table_add_uint(t, CELL_BYTES, rss)) < 0 ||
                                    (r = table_add_uint(t, CELL_UINT, threads)) < 0 ||
                                    (r = table_add_string(t, CELL_STRING, cmdline)) < 0)
                                        break;
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        pager_open();
        if (arg_legend)
                printf("%sCPU:%s %s  %sMemory:%s %s  %sTasks:%s %" PRIu64 "  (from %s)\n\n",
                       ansi_highlight(), ansi_normal(), format_timespan(b1, sizeof b1, cpu / 1000),
                       ansi_highlight(), ansi_normal(), format_bytes(b2, sizeof b2, mem),
                       ansi_highlight(), ansi_normal(), tasks, source);
        r = table_print(t, NULL);
        if (r >= 0 && truncated && arg_legend)
                printf("\n(Command lines cut at 4 KiB or processes left out: the service bounds its answer.)\n");
        return r;
}

const Verb verb_top = {
        .name = "top", .synopsis = "NAME", .summary = "Show a running container's processes and usage",
        .min_args = 1, .max_args = 1, .run = run_top,
};
