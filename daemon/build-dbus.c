/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translates bus calls on /org/containers/Manager/build/_<id> to build.c. */
#include "build-dbus.h"
#include "polkit.h"

#define BUILD_IFACE "org.containers.Build"
#define BUILD_PREFIX "/org/containers/Manager/build"

int build_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error) {
        Manager *m = userdata;
        const char *e;
        char *end;
        unsigned long id;
        Build *b;

        if (!g_str_has_prefix(path, BUILD_PREFIX "/_"))
                return 0;
        e = path + strlen(BUILD_PREFIX "/_");
        if (!g_ascii_isdigit(*e))
                return 0;
        errno = 0;
        id = strtoul(e, &end, 10);
        if (errno || *end || id == 0 || id > UINT_MAX)
                return 0;
        b = g_hash_table_lookup(m->builds, GUINT_TO_POINTER((unsigned) id));
        if (!b)
                return 0;
        *found = b;
        return 1;
}

int build_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        GStrvBuilder *sb = g_strv_builder_new();
        GHashTableIter it;
        Build *b;

        g_hash_table_iter_init(&it, m->builds);
        while (g_hash_table_iter_next(&it, NULL, (void **) &b)) {
                g_autofree char *p = build_object_path(b);
                g_strv_builder_add(sb, p);
        }
        *nodes = g_strv_builder_end(sb);
        g_strv_builder_unref(sb);
        return 1;
}

void build_send_new(Build *b) {
        g_autofree char *path = build_object_path(b);
        if (b->manager->bus)
                (void) sd_bus_emit_object_added(b->manager->bus, path);
}

void build_send_removed(Build *b) {
        g_autofree char *path = build_object_path(b);
        if (b->manager->bus)
                (void) sd_bus_emit_object_removed(b->manager->bus, path);
}

void build_send_changed(Build *b) {
        g_autofree char *path = build_object_path(b);
        if (b->manager->bus)
                (void) sd_bus_emit_properties_changed(b->manager->bus, path, BUILD_IFACE,
                                                      "State", "Progress", "Commit", "Error", "ErrorName", "Log", NULL);
}

void build_send_progress(Build *b) {
        g_autofree char *path = build_object_path(b);
        if (b->manager->bus)
                (void) sd_bus_emit_properties_changed(b->manager->bus, path, BUILD_IFACE, "Progress", NULL);
}

void build_send_log_message(Build *b, const char *line) {
        g_autofree char *path = build_object_path(b);
        if (!b->manager->bus)
                return;
        (void) sd_bus_emit_signal(b->manager->bus, path, BUILD_IFACE, "LogMessage", "s", line);
        /* Log grows with every line: announce that it changed, not all of it each time. */
        (void) sd_bus_emit_properties_changed(b->manager->bus, path, BUILD_IFACE, "Log", NULL);
}

void build_send_completed(Build *b, bool success, const char *message) {
        g_autofree char *path = build_object_path(b);
        if (b->manager->bus)
                (void) sd_bus_emit_signal(b->manager->bus, path, BUILD_IFACE, "Completed", "bs", success, message ?: "");
}

int build_reply_wait(Build *b, sd_bus_message *msg) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "b", b->state == BUILD_SUCCEEDED);
        if (r < 0)
                return r;
        g_ptr_array_add(b->log, NULL);
        r = sd_bus_message_append_strv(reply, (char **) b->log->pdata);
        g_ptr_array_remove_index(b->log, b->log->len - 1);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_wait(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Build *b = userdata;

        if (b->state != BUILD_RUNNING)
                return build_reply_wait(b, msg);
        g_ptr_array_add(b->waiters, sd_bus_message_ref(msg));
        return 1;
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Build *b = userdata;
        const char *details[] = { "image", b->name, "verb", "cancel", NULL };
        int r;

        r = polkit_check(b->manager, msg, CM_ACTION_BUILD, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (b->state != BUILD_RUNNING)
                return sd_bus_error_setf(error, "org.containers.Error.NotRunning", "Build %u already %s",
                                         b->id, build_state_to_string(b->state));
        r = build_cancel(b);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot cancel build %u: %m", b->id);
        return sd_bus_reply_method_return(msg, NULL);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Build *b = userdata;
        return sd_bus_message_append(reply, "s", build_state_to_string(b->state));
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char **s = userdata;
        return sd_bus_message_append(reply, "s", *s ?: "");
}

static int property_get_progress(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Build *b = userdata;
        return sd_bus_message_append(reply, "d", b->progress);
}

static int property_get_log(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Build *b = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        for (guint i = 0; r >= 0 && i < b->log->len; i++)
                r = sd_bus_message_append(reply, "s", g_ptr_array_index(b->log, i));
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

const sd_bus_vtable build_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Build, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Url", "s", NULL, offsetof(Build, url), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Branch", "s", property_get_string, offsetof(Build, branch), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Subdir", "s", property_get_string, offsetof(Build, subdir), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RunFile", "s", NULL, offsetof(Build, run_file), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "d", property_get_progress, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Commit", "s", property_get_string, offsetof(Build, commit), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Log", "as", property_get_log, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Error", "s", property_get_string, offsetof(Build, error), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ErrorName", "s", property_get_string, offsetof(Build, error_name), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StartedTimestamp", "t", NULL, offsetof(Build, started_usec), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("FinishedTimestamp", "t", NULL, offsetof(Build, finished_usec), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_SIGNAL_WITH_ARGS("LogMessage", SD_BUS_ARGS("s", line), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Completed", SD_BUS_ARGS("b", success, "s", message), 0),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Wait", SD_BUS_NO_ARGS, SD_BUS_RESULT("b", success, "as", log), method_wait, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
