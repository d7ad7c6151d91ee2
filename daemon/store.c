/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <arpa/inet.h>

#include "log.h"
#include "network.h"
#include "store.h"

static int fsync_directory_of(const char *path) {
        g_autofree char *dir = g_path_get_dirname(path);
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int store_write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        g_autofree char *tmp = g_strdup_printf("%s.tmpXXXXXX", path);
        _cleanup_close_ int fd = -1;
        int r;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        r = loop_write(fd, data, size);
        if (r < 0)
                goto fail;
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return fsync_directory_of(path);

fail:
        (void) unlink(tmp);
        return r;
}

int store_write_json(const char *path, JsonNode *node) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree char *text = NULL;
        gsize len;

        json_generator_set_root(gen, node);
        json_generator_set_pretty(gen, true);
        text = json_generator_to_data(gen, &len);
        return store_write_file_atomic(path, text, len, 0644);
}

int store_read_json(const char *path, JsonNode **ret) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) e = NULL;

        if (!json_parser_load_from_file(parser, path, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return -ENOENT;
                return -EBADMSG;
        }
        if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
                return -EBADMSG;
        *ret = json_node_copy(json_parser_get_root(parser));
        return 0;
}

char *store_container_config_path(Manager *m, const char *name) {
        return g_build_filename(m->state_dir, "containers", name, "config.json", NULL);
}

char *store_container_runtime_path(Manager *m, const char *name) {
        return g_build_filename(m->runtime_dir, "containers", name, "state.json", NULL);
}

void store_json_add_strv(JsonBuilder *b, const char *key, char **v) {
        json_builder_set_member_name(b, key);
        json_builder_begin_array(b);
        for (char **s = v; s && *s; s++)
                json_builder_add_string_value(b, *s);
        json_builder_end_array(b);
}

char **store_json_get_strv(JsonObject *o, const char *key) {
        JsonArray *a = json_object_has_member(o, key) ? json_object_get_array_member(o, key) : NULL;
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        for (guint k = 0; a && k < json_array_get_length(a); k++) {
                const char *s = json_node_get_string(json_array_get_element(a, k));
                if (s)
                        g_strv_builder_add(b, s);
        }
        return g_strv_builder_end(b);
}

int store_save_container(Container *c) {
        g_autofree char *dir = manager_container_dir(c->manager, c->name);
        return store_save_container_in(c, dir);
}

static void save_network(JsonBuilder *b, const Container *c) {
        json_builder_set_member_name(b, "Network");
        json_builder_add_string_value(b, network_mode_to_string(c->network));
        if (c->network != NETWORK_BRIDGE)
                return;
        {
                g_autofree char *a = network_ipv4_to_string(c->ipv4_address);
                json_builder_set_member_name(b, "IPv4Address");
                json_builder_add_string_value(b, a);
        }
        json_builder_set_member_name(b, "MACAddress");
        json_builder_add_string_value(b, c->mac_address);
        json_builder_set_member_name(b, "Ports");
        json_builder_begin_array(b);
        for (guint i = 0; c->ports && i < c->ports->len; i++) {
                const PortForward *f = &g_array_index(c->ports, PortForward, i);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "Protocol");
                json_builder_add_string_value(b, f->protocol);
                json_builder_set_member_name(b, "HostPort");
                json_builder_add_int_value(b, f->host_port);
                json_builder_set_member_name(b, "ContainerPort");
                json_builder_add_int_value(b, f->container_port);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
}

/* "Limits": {"MemoryMax": N, ...}, only the limits that are set (absent: none). The values are
 * written as JSON's signed integers: their bits round-trip. */
static void save_limits(JsonBuilder *b, const ContainerLimits *l) {
        bool any = false;

        for (LimitType t = 0; t < _LIMIT_MAX; t++)
                any = any || l->value[t] != LIMIT_UNSET;
        if (!any)
                return;
        json_builder_set_member_name(b, "Limits");
        json_builder_begin_object(b);
        for (LimitType t = 0; t < _LIMIT_MAX; t++)
                if (l->value[t] != LIMIT_UNSET) {
                        json_builder_set_member_name(b, limit_property(t));
                        json_builder_add_int_value(b, (gint64) l->value[t]);
                }
        json_builder_end_object(b);
}

static int load_limits(Container *c, JsonObject *o) {
        JsonObject *l;

        limits_init(&c->limits);
        if (!json_object_has_member(o, "Limits"))
                return 0;
        l = json_object_get_object_member(o, "Limits");
        if (!l)
                return -EBADMSG;
        for (LimitType t = 0; t < _LIMIT_MAX; t++)
                if (json_object_has_member(l, limit_property(t))) {
                        uint64_t v = (uint64_t) json_object_get_int_member(l, limit_property(t));
                        if (v == 0)
                                return -EBADMSG;
                        c->limits.value[t] = v;
                }
        return 0;
}

/* "Policy": {"Autostart": b, "AutostartPriority": i, "StartupCommands": [[...]], "Restart": s,
 * "RestartMax": u}; absent: the defaults (no autostart, no startup commands, no restart). */
static void save_policy(JsonBuilder *b, const ContainerPolicy *p) {
        ContainerPolicy defaults;

        policy_init(&defaults);
        if (policy_equal(p, &defaults))
                return;
        json_builder_set_member_name(b, "Policy");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "Autostart");
        json_builder_add_boolean_value(b, p->autostart);
        json_builder_set_member_name(b, "AutostartPriority");
        json_builder_add_int_value(b, p->autostart_priority);
        json_builder_set_member_name(b, "StartupCommands");
        json_builder_begin_array(b);
        for (guint i = 0; p->startup_commands && i < p->startup_commands->len; i++) {
                json_builder_begin_array(b);
                for (char **a = p->startup_commands->pdata[i]; a && *a; a++)
                        json_builder_add_string_value(b, *a);
                json_builder_end_array(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "Restart");
        json_builder_add_string_value(b, restart_policy_to_string(p->restart));
        json_builder_set_member_name(b, "RestartMax");
        json_builder_add_int_value(b, p->restart_max);
        json_builder_end_object(b);
}

static int load_policy(Container *c, JsonObject *o) {
        JsonObject *p;
        JsonArray *cmds;
        gint64 v;

        policy_done(&c->policy);
        if (!json_object_has_member(o, "Policy"))
                return 0;
        p = json_object_get_object_member(o, "Policy");
        if (!p)
                return -EBADMSG;
        c->policy.autostart = json_object_get_boolean_member_with_default(p, "Autostart", false);
        v = json_object_get_int_member_with_default(p, "AutostartPriority", 0);
        if (v < INT32_MIN || v > INT32_MAX)
                return -EBADMSG;
        c->policy.autostart_priority = (int32_t) v;
        c->policy.restart = restart_policy_from_string(json_object_get_string_member_with_default(p, "Restart", "no"));
        if (c->policy.restart < 0)
                return -EBADMSG;
        v = json_object_get_int_member_with_default(p, "RestartMax", RESTART_MAX_DEFAULT);
        if (v < 1 || v > RESTART_MAX_LIMIT)
                return -EBADMSG;
        c->policy.restart_max = (uint32_t) v;
        cmds = json_object_has_member(p, "StartupCommands") ? json_object_get_array_member(p, "StartupCommands") : NULL;
        for (guint i = 0; cmds && i < json_array_get_length(cmds); i++) {
                JsonArray *a = json_array_get_array_element(cmds, i);
                GStrvBuilder *sb;

                if (!a || json_array_get_length(a) == 0)
                        return -EBADMSG;
                sb = g_strv_builder_new();
                for (guint k = 0; k < json_array_get_length(a); k++) {
                        const char *arg = json_array_get_string_element(a, k);
                        if (!arg) {
                                g_strv_builder_unref(sb);
                                return -EBADMSG;
                        }
                        g_strv_builder_add(sb, arg);
                }
                if (!c->policy.startup_commands)
                        c->policy.startup_commands = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
                g_ptr_array_add(c->policy.startup_commands, g_strv_builder_end(sb));
                g_strv_builder_unref(sb);
        }
        return 0;
}

int store_save_container_in(Container *c, const char *dir) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *path = g_build_filename(dir, "config.json", NULL);
        int r;

        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "Name");
        json_builder_add_string_value(b, c->name);
        json_builder_set_member_name(b, "Id");
        json_builder_add_string_value(b, c->id);
        if (c->former_names) {
                json_builder_set_member_name(b, "FormerNames");
                json_builder_begin_array(b);
                for (guint i = 0; i < c->former_names->len; i++) {
                        const FormerName *f = &g_array_index(c->former_names, FormerName, i);
                        json_builder_begin_object(b);
                        json_builder_set_member_name(b, "Name");
                        json_builder_add_string_value(b, f->name);
                        json_builder_set_member_name(b, "Until");
                        json_builder_add_int_value(b, (gint64) f->until_usec);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
        }
        json_builder_set_member_name(b, "Image");
        json_builder_add_string_value(b, c->image);
        store_json_add_strv(b, "Command", c->command);
        store_json_add_strv(b, "Environment", c->environment);
        json_builder_set_member_name(b, "WorkingDirectory");
        json_builder_add_string_value(b, c->working_directory);
        json_builder_set_member_name(b, "Ephemeral");
        json_builder_add_boolean_value(b, c->ephemeral);
        json_builder_set_member_name(b, "Created");
        json_builder_add_int_value(b, (gint64) c->created_usec);
        json_builder_set_member_name(b, "Privileged");
        json_builder_add_boolean_value(b, c->privileged);
        if (c->legacy) {
                json_builder_set_member_name(b, "Legacy");
                json_builder_add_boolean_value(b, true);
        }
        if (c->nesting) {
                json_builder_set_member_name(b, "Nesting");
                json_builder_add_boolean_value(b, true);
        }
        if (!c->privileged) {
                json_builder_set_member_name(b, "UidShift");
                json_builder_add_int_value(b, c->uid_shift);
        }
        save_network(b, c);
        /* Absent: journald's own limits (the option was not given). */
        if (c->log_rate_limit_interval_set) {
                json_builder_set_member_name(b, "LogRateLimitIntervalUSec");
                json_builder_add_int_value(b, (gint64) c->log_rate_limit_interval_usec);
        }
        if (c->log_rate_limit_burst_set) {
                json_builder_set_member_name(b, "LogRateLimitBurst");
                json_builder_add_int_value(b, c->log_rate_limit_burst);
        }
        save_limits(b, &c->limits);
        save_policy(b, &c->policy);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        return store_write_json(path, root);
}

/* Absent (a release without networking): loopback only, as it had. */
static int load_network(Container *c, JsonObject *o) {
        const char *mode = json_object_get_string_member_with_default(o, "Network", NULL);
        const char *address, *mac;
        JsonNode *n;
        struct in_addr in;

        if (!mode) {
                c->network = NETWORK_NONE;
                return 0;
        }
        c->network = network_mode_from_string(mode);
        if (c->network < 0)
                return -EBADMSG;
        if (c->network != NETWORK_BRIDGE)
                return 0;
        address = json_object_get_string_member_with_default(o, "IPv4Address", NULL);
        mac = json_object_get_string_member_with_default(o, "MACAddress", NULL);
        if (!address || inet_pton(AF_INET, address, &in) != 1 || !mac)
                return -EBADMSG;
        c->ipv4_address = ntohl(in.s_addr);
        c->mac_address = g_strdup(mac);
        n = json_object_get_member(o, "Ports");
        if (n && JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        JsonObject *p = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
                        const char *proto = p ? json_object_get_string_member_with_default(p, "Protocol", "") : "";
                        gint64 host = p ? json_object_get_int_member_with_default(p, "HostPort", 0) : 0;
                        gint64 cont = p ? json_object_get_int_member_with_default(p, "ContainerPort", 0) : 0;
                        PortForward f = { .host_port = (uint16_t) host, .container_port = (uint16_t) cont };

                        if ((!streq(proto, "tcp") && !streq(proto, "udp")) || host <= 0 || host > 65535 || cont <= 0 || cont > 65535)
                                return -EBADMSG;
                        g_strlcpy(f.protocol, proto, sizeof(f.protocol));
                        if (!c->ports)
                                c->ports = g_array_new(false, true, sizeof(PortForward));
                        g_array_append_val(c->ports, f);
                }
        }
        return 0;
}

static int load_former_names(Container *c, JsonObject *o) {
        JsonNode *n = json_object_get_member(o, "FormerNames");
        JsonArray *a;

        if (!n)
                return 0;
        if (!JSON_NODE_HOLDS_ARRAY(n))
                return -EBADMSG;
        a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonNode *e = json_array_get_element(a, i);
                JsonObject *f = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
                const char *name = f ? json_object_get_string_member_with_default(f, "Name", NULL) : NULL;
                gint64 until = f ? json_object_get_int_member_with_default(f, "Until", -1) : -1;

                if (!name_is_valid(name) || until < 0)
                        return -EBADMSG;
                container_add_former_name(c, name, (uint64_t) until);
        }
        return 0;
}

static bool env_list_is_valid(char **env) {
        for (char **e = env; e && *e; e++)
                if (!env_assignment_is_valid(*e))
                        return false;
        return true;
}

int store_load_container(Manager *m, const char *name, Container **ret) {
        g_autofree char *path = store_container_config_path(m, name);
        g_autoptr(JsonNode) root = NULL;
        _cleanup_(container_freep) Container *c = NULL;
        const char *stored_name, *id;
        bool save = false;
        JsonObject *o;
        int r;

        r = store_read_json(path, &root);
        if (r < 0)
                return r;
        o = json_node_get_object(root);
        stored_name = json_object_get_string_member_with_default(o, "Name", NULL);
        if (!name_is_valid(stored_name))
                return -EBADMSG;

        r = container_new(m, name, &c);
        if (r < 0)
                return r;
        r = load_former_names(c, o);
        if (r < 0)
                return r;
        if (!streq(stored_name, name)) {
                /* A Rename() renames the directory, then rewrites this file: a crash in between
                 * leaves the new directory with the old name inside. The directory says. */
                container_add_former_name(c, stored_name, now_usec(CLOCK_REALTIME));
                save = true;
        }
        id = json_object_get_string_member_with_default(o, "Id", NULL);
        if (id && strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32)
                memcpy(c->id, id, sizeof(c->id));
        else {
                /* Made by a release without ids: it gets one now, for good. */
                container_new_id(c);
                save = true;
        }
        c->image = g_strdup(json_object_get_string_member_with_default(o, "Image", NULL));
        if (!c->image)
                return -EBADMSG;
        c->command = store_json_get_strv(o, "Command");
        c->environment = store_json_get_strv(o, "Environment");
        c->working_directory = g_strdup(json_object_get_string_member_with_default(o, "WorkingDirectory", NULL));
        /* Checked again here, not only when they came in: the file may be older than the check. */
        if ((c->working_directory && !container_path_is_valid(c->working_directory)) ||
            !env_list_is_valid(c->environment)) {
                log_error("Container %s: its state holds a working directory or environment entry with control "
                          "characters or '..'; refusing it", name);
                return -EBADMSG;
        }
        c->ephemeral = json_object_get_boolean_member_with_default(o, "Ephemeral", false);
        c->created_usec = (uint64_t) json_object_get_int_member_with_default(o, "Created", 0);
        if (!json_object_has_member(o, "Privileged")) {
                /* Written by a release without user namespaces: its writable layer is owned by host
                 * root. It runs on as it did, privileged, and says so in Inspect. */
                c->privileged = true;
                c->legacy = true;
        } else {
                c->privileged = json_object_get_boolean_member_with_default(o, "Privileged", true);
                c->legacy = json_object_get_boolean_member_with_default(o, "Legacy", false);
        }
        c->nesting = json_object_get_boolean_member_with_default(o, "Nesting", false);
        if (!c->privileged) {
                gint64 shift = json_object_get_int_member_with_default(o, "UidShift", 0);
                /* An invalid slot is caught by manager_claim_uid_shift(): listed, never started. */
                c->uid_shift = shift > 0 && shift <= UINT32_MAX ? (uint32_t) shift : 0;
        }
        if (json_object_has_member(o, "LogRateLimitIntervalUSec")) {
                c->log_rate_limit_interval_set = true;
                c->log_rate_limit_interval_usec = (uint64_t) json_object_get_int_member(o, "LogRateLimitIntervalUSec");
        }
        if (json_object_has_member(o, "LogRateLimitBurst")) {
                gint64 burst = json_object_get_int_member(o, "LogRateLimitBurst");
                if (burst < 0 || burst > UINT32_MAX)
                        return -EBADMSG;
                c->log_rate_limit_burst_set = true;
                c->log_rate_limit_burst = (uint32_t) burst;
        }
        r = load_limits(c, o);
        if (r < 0)
                return r;
        r = load_policy(c, o);
        if (r < 0)
                return r;
        r = load_network(c, o);
        if (r < 0)
                return r;
        c->state = CONTAINER_CREATED;

        if (save) {
                r = store_save_container(c);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int store_save_container_runtime(Container *c) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *path = store_container_runtime_path(c->manager, c->name);
        g_autofree char *dir = g_path_get_dirname(path);
        int r;

        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "State");
        json_builder_add_string_value(b, container_state_to_string(c->state));
        json_builder_set_member_name(b, "Unit");
        json_builder_add_string_value(b, c->unit);
        json_builder_set_member_name(b, "Leader");
        json_builder_add_int_value(b, c->leader);
        json_builder_set_member_name(b, "Started");
        json_builder_add_int_value(b, (gint64) c->started_usec);
        json_builder_set_member_name(b, "Finished");
        json_builder_add_int_value(b, (gint64) c->finished_usec);
        json_builder_set_member_name(b, "ExitStatus");
        json_builder_add_int_value(b, c->exit_status);
        /* Where the last call asked it to go, for a daemon that dies before it gets there. */
        if (c->removing || c->stop_requested) {
                json_builder_set_member_name(b, "Target");
                json_builder_add_string_value(b, c->removing ? "removed" : "stopped");
        } else if (c->restart_timer || c->restart_in_progress) {
                /* Its restart policy is bringing it back. */
                json_builder_set_member_name(b, "Target");
                json_builder_add_string_value(b, "running");
        }
        json_builder_set_member_name(b, "RestartCount");
        json_builder_add_int_value(b, c->restart_count);
        json_builder_set_member_name(b, "RestartTimes");
        json_builder_begin_array(b);
        for (guint i = 0; i < c->restart_times->len; i++)
                json_builder_add_int_value(b, (gint64) g_array_index(c->restart_times, uint64_t, i));
        json_builder_end_array(b);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        return store_write_json(path, root);
}

int store_load_container_runtime(Container *c) {
        g_autofree char *path = store_container_runtime_path(c->manager, c->name);
        g_autoptr(JsonNode) root = NULL;
        JsonObject *o;
        ContainerState s;
        int r;

        r = store_read_json(path, &root);
        if (r < 0)
                return r;
        o = json_node_get_object(root);
        s = container_state_from_string(json_object_get_string_member_with_default(o, "State", NULL));
        if (s < 0)
                return -EBADMSG;
        c->state = s;
        g_free(c->unit);
        c->unit = g_strdup(json_object_get_string_member_with_default(o, "Unit", NULL));
        c->leader = (pid_t) json_object_get_int_member_with_default(o, "Leader", 0);
        c->started_usec = (uint64_t) json_object_get_int_member_with_default(o, "Started", 0);
        c->finished_usec = (uint64_t) json_object_get_int_member_with_default(o, "Finished", 0);
        c->exit_status = (int) json_object_get_int_member_with_default(o, "ExitStatus", -1);
        {
                const char *target = json_object_get_string_member_with_default(o, "Target", "");
                c->removing = streq(target, "removed");
                c->stop_requested = c->removing || streq(target, "stopped");
                c->restart_pending_loaded = streq(target, "running");
        }
        {
                gint64 n = json_object_get_int_member_with_default(o, "RestartCount", 0);
                JsonArray *times = json_object_has_member(o, "RestartTimes") ?
                        json_object_get_array_member(o, "RestartTimes") : NULL;

                c->restart_count = n >= 0 && n <= UINT32_MAX ? (uint32_t) n : 0;
                g_array_set_size(c->restart_times, 0);
                for (guint i = 0; times && i < json_array_get_length(times); i++) {
                        uint64_t t = (uint64_t) json_array_get_int_element(times, i);
                        g_array_append_val(c->restart_times, t);
                }
        }
        return 0;
}

int store_remove_container_runtime(Container *c) {
        g_autofree char *path = store_container_runtime_path(c->manager, c->name);
        g_autofree char *dir = g_path_get_dirname(path);

        return rm_rf(dir);
}

static char *exit_status_path(const char *runtime_dir, const char *name) {
        return g_build_filename(runtime_dir, "containers", name, "exit-status", NULL);
}

int store_write_exit_status(const char *runtime_dir, const char *name, int wait_status) {
        g_autofree char *path = exit_status_path(runtime_dir, name);
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *text = NULL;
        int r;

        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        text = g_strdup_printf("%d %" G_GUINT64_FORMAT "\n", wait_status, now_usec(CLOCK_REALTIME));
        return store_write_file_atomic(path, text, strlen(text), 0644);
}

int store_read_exit_status(const char *runtime_dir, const char *name, int *ret_wait_status, uint64_t *ret_usec) {
        g_autofree char *path = exit_status_path(runtime_dir, name);
        g_autofree char *text = NULL;
        guint64 usec;
        int status;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -ENOENT;
        if (sscanf(text, "%d %" G_GUINT64_FORMAT, &status, &usec) != 2)
                return -EBADMSG;
        *ret_wait_status = status;
        if (ret_usec)
                *ret_usec = usec;
        return 0;
}

int store_remove_exit_status(const char *runtime_dir, const char *name) {
        g_autofree char *path = exit_status_path(runtime_dir, name);

        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static void add_string(JsonBuilder *b, const char *key, const char *value) {
        json_builder_set_member_name(b, key);
        json_builder_add_string_value(b, value ?: "");
}

int store_save_image(const Image *i, const char *dir) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *path = g_build_filename(dir, "image.json", NULL);

        json_builder_begin_object(b);
        add_string(b, "Name", i->name);
        add_string(b, "Base", i->base);
        store_json_add_strv(b, "Command", i->command);
        store_json_add_strv(b, "Environment", i->environment);
        add_string(b, "WorkingDirectory", i->working_directory);
        add_string(b, "Url", i->url);
        add_string(b, "Branch", i->branch);
        add_string(b, "Subdir", i->subdir);
        add_string(b, "Commit", i->commit);
        add_string(b, "RunDigest", i->run_digest);
        if (i->parent)
                add_string(b, "Parent", i->parent);
        if (i->provenance)
                add_string(b, "Provenance", i->provenance);
        if (i->layers) {
                /* Relative to the image's directory. */
                g_autoptr(GStrvBuilder) rel = g_strv_builder_new();
                g_auto(GStrv) v = NULL;
                for (char **l = i->layers; *l; l++) {
                        g_autofree char *bn = g_path_get_basename(*l), *dn = g_path_get_dirname(*l);
                        g_autofree char *dbn = g_path_get_basename(dn);
                        /* "layer" or "layers/N" */
                        g_autofree char *r = streq(dbn, "layers") ? g_strdup_printf("layers/%s", bn) : g_strdup(bn);
                        g_strv_builder_add(rel, r);
                }
                v = g_strv_builder_end(rel);
                store_json_add_strv(b, "Layers", v);
        }
        json_builder_set_member_name(b, "Created");
        json_builder_add_int_value(b, (gint64) i->created_usec);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        return store_write_json(path, root);
}

static char *get_string(JsonObject *o, const char *key) {
        const char *s = json_object_get_string_member_with_default(o, key, "");
        return isempty(s) ? NULL : g_strdup(s);
}

int store_load_image(Manager *m, const char *dir, Image **ret) {
        g_autofree char *path = g_build_filename(dir, "image.json", NULL);
        g_autoptr(JsonNode) root = NULL;
        _cleanup_(image_freep) Image *i = NULL;
        JsonObject *o;
        int r;

        r = store_read_json(path, &root);
        if (r < 0)
                return r;
        o = json_node_get_object(root);

        i = g_new0(Image, 1);
        i->manager = m;
        i->name = get_string(o, "Name");
        i->base = get_string(o, "Base");
        i->command = store_json_get_strv(o, "Command");
        i->environment = store_json_get_strv(o, "Environment");
        i->working_directory = get_string(o, "WorkingDirectory");
        i->url = get_string(o, "Url");
        i->branch = get_string(o, "Branch");
        i->subdir = get_string(o, "Subdir");
        i->commit = get_string(o, "Commit");
        i->run_digest = get_string(o, "RunDigest");
        i->created_usec = (uint64_t) json_object_get_int_member_with_default(o, "Created", 0);
        i->parent = get_string(o, "Parent");
        i->provenance = get_string(o, "Provenance");
        {
                g_auto(GStrv) rel = store_json_get_strv(o, "Layers");
                g_autoptr(GStrvBuilder) abs = g_strv_builder_new();
                if (!rel || !rel[0])
                        g_strv_builder_add(abs, "layer");
                for (char **l = rel; l && *l; l++) {
                        const char *n = *l + 7;
                        if (!streq(*l, "layer") && !(g_str_has_prefix(*l, "layers/") && *n && !strchr(n, '/') && n[0] != '.'))
                                return -EBADMSG;
                }
                i->layers = g_strv_builder_end(abs);
                if (rel && rel[0]) {
                        g_strfreev(i->layers);
                        i->layers = g_new0(char *, g_strv_length(rel) + 1);
                        for (guint k = 0; rel[k]; k++)
                                i->layers[k] = g_build_filename(dir, rel[k], NULL);
                } else {
                        g_free(i->layers[0]);
                        i->layers[0] = g_build_filename(dir, "layer", NULL);
                }
        }
        i->layer = g_strdup(i->layers[0]);
        if ((i->parent && !name_is_valid(i->parent)) || !name_is_valid(i->name) || !name_is_valid(i->base) || !i->command || !i->command[0] ||
            !container_path_is_valid(i->working_directory) || !env_list_is_valid(i->environment)) {
                log_error("Image in %s: invalid name, command, working directory or environment; refusing it", dir);
                return -EBADMSG;
        }

        *ret = TAKE_PTR(i);
        return 0;
}
