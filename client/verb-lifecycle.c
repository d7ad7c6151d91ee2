/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* create, run, start, stop, restart, rm, rmi, freeze, thaw, kill, rename, update: the verbs that
 * change a container's (or image's) life, one method call each. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerctl.h"
#include "verbs.h"

/* ---- create / run / update options ---------------------------------------------------- */

typedef struct Port {
        char proto[4];
        uint16_t host, container;
} Port;

static char **arg_env;
static bool arg_env_given;
static Port *arg_ports;
static size_t arg_n_ports;
static const char *arg_network, *arg_ip, *arg_mac, *arg_restart;
static int arg_ephemeral = -1, arg_privileged = -1, arg_nesting = -1, arg_autostart = -1;
static int64_t arg_memory = -1, arg_cpu_weight = -1, arg_cpu_quota = -1, arg_tasks_max = -1,
               arg_io_weight = -1, arg_restart_max = -1;

enum {
        ARG_NETWORK = ARG_VERB_BASE,
        ARG_IP,
        ARG_MAC,
        ARG_EPHEMERAL,
        ARG_PRIVILEGED,
        ARG_NESTING,
        ARG_MEMORY,
        ARG_CPU_WEIGHT,
        ARG_CPU_QUOTA,
        ARG_TASKS_MAX,
        ARG_IO_WEIGHT,
        ARG_AUTOSTART,
        ARG_RESTART,
        ARG_RESTART_MAX,
        ARG_SIGNAL,
        ARG_KILL_WHOM,
};

static const struct option create_options[] = {
        { "env",         required_argument, NULL, 'e'            },
        { "publish",     required_argument, NULL, 'p'            },
        { "network",     required_argument, NULL, ARG_NETWORK    },
        { "ip",          required_argument, NULL, ARG_IP         },
        { "mac",         required_argument, NULL, ARG_MAC        },
        { "ephemeral",   no_argument,       NULL, ARG_EPHEMERAL  },
        { "rm",          no_argument,       NULL, ARG_EPHEMERAL  },
        { "privileged",  no_argument,       NULL, ARG_PRIVILEGED },
        { "nesting",     no_argument,       NULL, ARG_NESTING    },
        { "memory",      required_argument, NULL, ARG_MEMORY     },
        { "cpu-weight",  required_argument, NULL, ARG_CPU_WEIGHT },
        { "cpu-quota",   required_argument, NULL, ARG_CPU_QUOTA  },
        { "tasks-max",   required_argument, NULL, ARG_TASKS_MAX  },
        { "io-weight",   required_argument, NULL, ARG_IO_WEIGHT  },
        { "autostart",   optional_argument, NULL, ARG_AUTOSTART  },
        { "restart",     required_argument, NULL, ARG_RESTART    },
        { "restart-max", required_argument, NULL, ARG_RESTART_MAX },
        {}
};

#define LIMITS_HELP                                                                             \
        "     --memory=SIZE       MemoryMax (K, M, G suffixes; \"infinity\": none)\n"           \
        "     --cpu-weight=N      CPUWeight, 1..10000\n"                                         \
        "     --cpu-quota=PERCENT CPU quota, 100 is one CPU\n"                                   \
        "     --tasks-max=N       TasksMax\n"                                                    \
        "     --io-weight=N       IOWeight, 1..10000\n"                                          \
        "     --autostart[=BOOL]  Start it when the system boots\n"                              \
        "     --restart=POLICY    no, on-failure or always\n"                                    \
        "     --restart-max=N     Restarts a minute at most\n"

#define CREATE_HELP                                                                             \
        "  -e --env=NAME=VALUE    Set an environment variable (NAME alone: its value here)\n"  \
        "  -p --publish=[PROTO/]HOST:CONTAINER\n"                                                \
        "                         Publish a port (tcp unless PROTO says udp)\n"                  \
        "     --network=bridge|none\n"                                                           \
        "     --ip=ADDRESS        A static IPv4 address on the bridge\n"                         \
        "     --mac=ADDRESS       A MAC address for its veth\n"                                  \
        "     --ephemeral, --rm   Remove the container when it stops\n"                          \
        "     --privileged        No user namespace (needs org.containers.privileged)\n"         \
        "     --nesting           User namespaces inside, to run containers in it\n"            \
        "                         (needs org.containers.privileged)\n"                          \
        LIMITS_HELP

static int parse_number(const char *s, const char *what, bool sizes, int64_t *ret) {
        uint64_t v;

        if (strcmp(s, "infinity") == 0) {
                *ret = INT64_MAX;       /* "no limit": UINT64_MAX (or UINT32_MAX) on the bus */
                return 0;
        }
        /* sizes take K, M, G, T suffixes; counts and weights are plain numbers */
        if ((!sizes && strspn(s, "0123456789") != strlen(s)) || parse_size(s, &v) < 0 || v > INT64_MAX - 1) {
                fprintf(stderr, "Invalid %s: %s\n", what, s);
                return -EINVAL;
        }
        *ret = (int64_t) v;
        return 0;
}

static int parse_port(const char *s, Port *ret) {
        Port p = { .proto = "tcp" };
        const char *colon, *slash;
        char *end;
        unsigned long h, c;

        slash = strchr(s, '/');
        if (slash && (strncmp(s, "tcp/", 4) == 0 || strncmp(s, "udp/", 4) == 0)) {
                memcpy(p.proto, s, 3);
                s += 4;
                slash = strchr(s, '/');
        }
        colon = strchr(s, ':');
        if (!colon)
                goto fail;
        h = strtoul(s, &end, 10);
        if (end != colon || h == 0 || h > 65535)
                goto fail;
        c = strtoul(colon + 1, &end, 10);
        if (c == 0 || c > 65535)
                goto fail;
        if (*end == '/' && (strcmp(end + 1, "tcp") == 0 || strcmp(end + 1, "udp") == 0))
                memcpy(p.proto, end + 1, 3);
        else if (*end)
                goto fail;
        p.host = (uint16_t) h;
        p.container = (uint16_t) c;
        *ret = p;
        return 0;
fail:
        fprintf(stderr, "Invalid port mapping '%s': want [tcp/|udp/]HOST:CONTAINER[/tcp|/udp]\n", s);
        return -EINVAL;
}

static int parse_bool(const char *s) {
        if (!s || strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "on") == 0)
                return 1;
        if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
                return 0;
        return -EINVAL;
}

static int create_option(int c, const char *arg) {
        int r;

        switch (c) {
        case 'e':
                arg_env_given = true;
                return strv_push(&arg_env, arg) < 0 ? log_oom() : 0;
        case 'p': {
                Port *n = realloc(arg_ports, (arg_n_ports + 1) * sizeof(Port));
                if (!n)
                        return log_oom();
                arg_ports = n;
                r = parse_port(arg, &arg_ports[arg_n_ports]);
                if (r < 0)
                        return r;
                arg_n_ports++;
                return 0;
        }
        case ARG_NETWORK:
                arg_network = arg;
                return 0;
        case ARG_IP:
                arg_ip = arg;
                return 0;
        case ARG_MAC:
                arg_mac = arg;
                return 0;
        case ARG_EPHEMERAL:
                arg_ephemeral = 1;
                return 0;
        case ARG_PRIVILEGED:
                arg_privileged = 1;
                return 0;
        case ARG_NESTING:
                arg_nesting = 1;
                return 0;
        case ARG_MEMORY:
                return parse_number(arg, "memory size", true, &arg_memory);
        case ARG_CPU_WEIGHT:
                return parse_number(arg, "CPU weight", false, &arg_cpu_weight);
        case ARG_CPU_QUOTA:
                return parse_number(arg, "CPU quota", false, &arg_cpu_quota);
        case ARG_TASKS_MAX:
                return parse_number(arg, "tasks limit", false, &arg_tasks_max);
        case ARG_IO_WEIGHT:
                return parse_number(arg, "IO weight", false, &arg_io_weight);
        case ARG_AUTOSTART:
                arg_autostart = parse_bool(arg);
                if (arg_autostart < 0) {
                        fprintf(stderr, "Invalid boolean: %s\n", arg);
                        return -EINVAL;
                }
                return 0;
        case ARG_RESTART:
                arg_restart = arg;
                return 0;
        case ARG_RESTART_MAX:
                return parse_number(arg, "restart count", false, &arg_restart_max);
        }
        return -EINVAL;
}

static int append_limit(sd_bus_message *m, const char *key, int64_t v, bool u32) {
        if (v < 0)
                return 0;
        if (u32)
                return sd_bus_message_append(m, "{sv}", key, "u", v == INT64_MAX ? UINT32_MAX : (uint32_t) v);
        return sd_bus_message_append(m, "{sv}", key, "t", v == INT64_MAX ? UINT64_MAX : (uint64_t) v);
}

/* The a{sv} shared by Create and Update (Update knows limits, policy, environment, command). */
static int append_options(sd_bus_message *m, bool create, int start, char **command) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (start >= 0 && (r = sd_bus_message_append(m, "{sv}", "start", "b", start)) < 0)
                return r;
        if (command && *command && (r = bus_append_option_strv(m, "command", command)) < 0)
                return r;
        if (!create && arg_env_given && (r = bus_append_option_env(m, "environment", arg_env)) < 0)
                return r;
        if (create) {
                if (arg_ephemeral > 0 && (r = sd_bus_message_append(m, "{sv}", "ephemeral", "b", 1)) < 0)
                        return r;
                if (arg_privileged > 0 && (r = sd_bus_message_append(m, "{sv}", "privileged", "b", 1)) < 0)
                        return r;
                if (arg_nesting > 0 && (r = sd_bus_message_append(m, "{sv}", "nesting", "b", 1)) < 0)
                        return r;
                if (arg_network && (r = sd_bus_message_append(m, "{sv}", "network", "s", arg_network)) < 0)
                        return r;
                if (arg_ip && (r = sd_bus_message_append(m, "{sv}", "ipv4_address", "s", arg_ip)) < 0)
                        return r;
                if (arg_mac && (r = sd_bus_message_append(m, "{sv}", "mac_address", "s", arg_mac)) < 0)
                        return r;
                if (arg_n_ports > 0) {
                        r = sd_bus_message_open_container(m, 'e', "sv");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "s", "ports");
                        if (r >= 0)
                                r = sd_bus_message_open_container(m, 'v', "a(sqq)");
                        if (r >= 0)
                                r = sd_bus_message_open_container(m, 'a', "(sqq)");
                        for (size_t i = 0; r >= 0 && i < arg_n_ports; i++)
                                r = sd_bus_message_append(m, "(sqq)", arg_ports[i].proto, arg_ports[i].host,
                                                          arg_ports[i].container);
                        for (int k = 0; r >= 0 && k < 3; k++)
                                r = sd_bus_message_close_container(m);
                        if (r < 0)
                                return r;
                }
        }
        if ((r = append_limit(m, "memory_max", arg_memory, false)) < 0 ||
            (r = append_limit(m, "cpu_weight", arg_cpu_weight, false)) < 0 ||
            (r = append_limit(m, "cpu_quota_percent", arg_cpu_quota, true)) < 0 ||
            (r = append_limit(m, "tasks_max", arg_tasks_max, false)) < 0 ||
            (r = append_limit(m, "io_weight", arg_io_weight, false)) < 0 ||
            (r = append_limit(m, "restart_max", arg_restart_max, true)) < 0)
                return r;
        if (arg_autostart >= 0 && (r = sd_bus_message_append(m, "{sv}", "autostart", "b", arg_autostart)) < 0)
                return r;
        if (arg_restart && (r = sd_bus_message_append(m, "{sv}", "restart", "s", arg_restart)) < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int do_create(sd_bus *bus, char **args, bool start) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = bus_message_new_call(bus, &m, MANAGER_PATH, MANAGER_IFACE, "Create");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", args[0], args[1]);
        if (r >= 0)
                r = bus_append_env(m, arg_env);
        if (r >= 0)
                r = append_options(m, true, start, args + 2);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        r = bus_call_message(bus, m, &reply, "Failed to %s container %s", start ? "run" : "create", args[1]);
        if (r < 0)
                return r;
        if (!arg_quiet)
                printf("%s\n", args[1]);
        return 0;
}

static int run_create(sd_bus *bus, char **args, int n) {
        return do_create(bus, args, false);
}

static int run_run(sd_bus *bus, char **args, int n) {
        return do_create(bus, args, true);
}

const Verb verb_create = {
        .name = "create", .synopsis = "IMAGE NAME [COMMAND...]",
        .summary = "Create a container from an image (not started)",
        .options_help = CREATE_HELP,
        .min_args = 2, .max_args = 2, .flags = VERB_COMMAND,
        .short_options = "e:p:", .options = create_options, .option = create_option, .run = run_create,
};

const Verb verb_run = {
        .name = "run", .synopsis = "IMAGE NAME [COMMAND...]",
        .summary = "Create a container and start it (replies once it runs)",
        .options_help = CREATE_HELP,
        .min_args = 2, .max_args = 2, .flags = VERB_COMMAND,
        .short_options = "e:p:", .options = create_options, .option = create_option, .run = run_run,
};

/* ---- one method per container, for each name given ----------------------------------- */

static int for_each_container(sd_bus *bus, char **names, const char *member, const char *doing) {
        int ret = 0;

        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *what = NULL;
                int r;

                if (asprintf(&what, "Failed to %s container %s", doing, *n) < 0)
                        return log_oom();
                r = bus_call_container(bus, *n, member, NULL, what, NULL);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

#define SIMPLE_VERB(v, member, doing, text)                                                    \
        static int run_##v(sd_bus *bus, char **args, int n) {                                  \
                return for_each_container(bus, args, member, doing);                          \
        }                                                                                      \
        const Verb verb_##v = {                                                                \
                .name = #v, .synopsis = "NAME...", .summary = text,                            \
                .min_args = 1, .max_args = VERB_ANY, .run = run_##v,                           \
        }

SIMPLE_VERB(start, "Start", "start", "Start containers (replies once they run)");
SIMPLE_VERB(stop, "Stop", "stop", "Stop containers (SIGTERM, then SIGKILL after the grace time)");
SIMPLE_VERB(restart, "Restart", "restart", "Restart containers");
SIMPLE_VERB(freeze, "Freeze", "freeze", "Freeze every process of containers");
SIMPLE_VERB(thaw, "Thaw", "thaw", "Thaw frozen containers");

/* Calls a manager method taking one name for each name given; the first failure is the result,
 * every name is tried. */
static int manager_call_each(sd_bus *bus, char **names, const char *method, const char *failure) {
        int ret = 0;

        for (char **a = names; *a; a++) {
                _cleanup_free_ char *what = NULL;
                int r;

                if (asprintf(&what, "%s %s", failure, *a) < 0)
                        return log_oom();
                r = bus_call(bus, MANAGER_PATH, MANAGER_IFACE, method, NULL, what, "s", *a);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

static int run_rm(sd_bus *bus, char **args, int n) {
        return manager_call_each(bus, args, "Remove", "Failed to remove container");
}

const Verb verb_rm = {
        .name = "rm", .synopsis = "NAME...", .summary = "Remove containers (stopped first if they run)",
        .min_args = 1, .max_args = VERB_ANY, .run = run_rm,
};

static int run_rmi(sd_bus *bus, char **args, int n) {
        return manager_call_each(bus, args, "RemoveImage", "Failed to remove image");
}

const Verb verb_rmi = {
        .name = "rmi", .synopsis = "IMAGE...", .summary = "Remove images (not while a container uses them)",
        .min_args = 1, .max_args = VERB_ANY, .run = run_rmi,
};

/* ---- kill ---------------------------------------------------------------------------- */

static int arg_signal = SIGTERM;
static const char *arg_kill_whom = "all";

static const struct option kill_options[] = {
        { "signal",   required_argument, NULL, 's'          },
        { "kill-whom", required_argument, NULL, ARG_KILL_WHOM },
        {}
};

static int kill_option(int c, const char *arg) {
        switch (c) {
        case 's': {
                char *end;
                const char *s = strncmp(arg, "SIG", 3) == 0 ? arg + 3 : arg;
                long v = strtol(arg, &end, 10);

                if (*end == 0 && v > 0 && v <= 64) {
                        arg_signal = (int) v;
                        return 0;
                }
                for (int i = 1; i < 65; i++) {
                        const char *abbrev = sigabbrev_np(i);
                        if (abbrev && strcmp(abbrev, s) == 0) {
                                arg_signal = i;
                                return 0;
                        }
                }
                fprintf(stderr, "Unknown signal: %s\n", arg);
                return -EINVAL;
        }
        case ARG_KILL_WHOM:
                arg_kill_whom = arg;
                return 0;
        }
        return -EINVAL;
}

static int run_kill(sd_bus *bus, char **args, int n) {
        int ret = 0;

        for (char **a = args; *a; a++) {
                _cleanup_free_ char *what = NULL;
                int r;

                if (asprintf(&what, "Failed to kill container %s", *a) < 0)
                        return log_oom();
                r = bus_call_container(bus, *a, "Kill", NULL, what, "si", arg_kill_whom, arg_signal);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

const Verb verb_kill = {
        .name = "kill", .synopsis = "NAME...", .summary = "Send a signal to a container's processes",
        .options_help = "  -s --signal=SIGNAL     Which signal (name or number; default TERM)\n"
                        "     --kill-whom=WHOM    leader or all (the default)\n",
        .min_args = 1, .max_args = VERB_ANY, .short_options = "s:", .options = kill_options,
        .option = kill_option, .run = run_kill,
};

/* ---- rename, update ------------------------------------------------------------------ */

static int run_rename(sd_bus *bus, char **args, int n) {
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "Failed to rename container %s to %s", args[0], args[1]) < 0)
                return log_oom();
        return bus_call_container(bus, args[0], "Rename", NULL, what, "s", args[1]);
}

const Verb verb_rename = {
        .name = "rename", .synopsis = "NAME NEW-NAME", .summary = "Rename a container (not while it runs)",
        .min_args = 2, .max_args = 2, .run = run_rename,
};

static int run_update(sd_bus *bus, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = bus_container_path(bus, args[0], &path);
        if (r < 0)
                return r;
        r = bus_message_new_call(bus, &m, path, CONTAINER_IFACE, "Update");
        if (r < 0)
                return r;
        r = append_options(m, false, -1, args + 1);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        return bus_call_message(bus, m, NULL, "Failed to update container %s", args[0]);
}

const Verb verb_update = {
        .name = "update", .synopsis = "NAME [COMMAND...]",
        .summary = "Change limits (live), policy, environment or command (next start)",
        .options_help = "  -e --env=NAME=VALUE    The whole new environment (repeat the option)\n" LIMITS_HELP,
        .min_args = 1, .max_args = 1, .flags = VERB_COMMAND,
        .short_options = "e:", .options = create_options, .option = create_option, .run = run_update,
};
