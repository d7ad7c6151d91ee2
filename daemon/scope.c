/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "container.h"
#include "log.h"
#include "scope.h"

#define SD_DEST  "org.freedesktop.systemd1"
#define SD_PATH  "/org/freedesktop/systemd1"
#define SD_IFACE "org.freedesktop.systemd1.Manager"
#define SLICE    "containers.slice"

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *job, *unit, *result;
        Container *c;
        uint32_t id;

        if (sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        c = manager_find_container_by_unit(m, unit);
        if (!c || c->state != CONTAINER_STARTING || c->worker <= 0 || m->test_ignore_scope_jobs)
                return 0;
        /* The reply to StartTransientUnit may still be on its way; the unit name identifies the job. */
        if (c->scope_job && !streq(c->scope_job, job))
                return 0;
        container_scope_job_done(c, result, NULL);
        return 0;
}

/* Signals can be stale, and during daemon-reload systemd sends UnitRemoved for every unit it is
 * about to load again: ask for the unit's state itself before believing a scope is gone, and
 * ask asynchronously (a signal callback must not wait for systemd). */
typedef struct GoneQuery {
        Manager *manager;
        char *name;
        char *unit;
} GoneQuery;

static void gone_query_free(GoneQuery *q) {
        if (!q)
                return;
        manager_operation_end(q->manager);
        g_free(q->name);
        g_free(q->unit);
        g_free(q);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(GoneQuery *, gone_query_free);

static void gone_query_conclude(GoneQuery *q, bool gone) {
        Container *c = manager_get_container(q->manager, q->name);

        /* By the time systemd answers the container may be gone, or another of its name here;
         * one still being adopted is settled by the answer to adoption's own query. */
        if (gone && c && streq(c->unit, q->unit) && container_has_payload(c) && !manager_is_adopting(q->manager, c))
                container_scope_gone(c);
}

static int on_gone_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(gone_query_freep) GoneQuery *q = userdata;
        const char *state;

        if (sd_bus_message_is_method_error(reply, NULL))
                return 0; /* can't tell now: the next signal, or the end of a reload, will */
        if (sd_bus_message_read(reply, "v", "s", &state) < 0)
                return 0;
        gone_query_conclude(q, STR_IN_SET(state, "inactive", "failed"));
        return 0;
}

static int on_gone_unit(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(gone_query_freep) GoneQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        int r;

        if (e) {
                if (sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit"))
                        gone_query_conclude(q, true);
                return 0;
        }
        if (sd_bus_message_read(reply, "o", &path) < 0)
                return 0;
        r = sd_bus_call_method_async(q->manager->bus, NULL, SD_DEST, path, "org.freedesktop.DBus.Properties", "Get",
                                     on_gone_state, q, "ss", "org.freedesktop.systemd1.Unit", "ActiveState");
        if (r >= 0)
                TAKE_PTR(q);
        return 0;
}

int scope_check_gone_async(Manager *m, Container *c) {
        GoneQuery *q;
        int r;

        assert(m);
        assert(c);

        q = g_new(GoneQuery, 1);
        *q = (GoneQuery) { .manager = m, .name = g_strdup(c->name), .unit = g_strdup(c->unit) };
        manager_operation_begin(m);
        /* GetUnit, not the unit's path: that would load a unit that is gone, and say "inactive". */
        r = sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "GetUnit", on_gone_unit, q, "s", c->unit);
        if (r < 0)
                gone_query_free(q);
        return r;
}

static void check_scope_gone(Manager *m, Container *c) {
        /* Adoption asked systemd before this signal was read: its answer covers it. */
        if (manager_is_adopting(m, c))
                return;
        /* A container still starting is settled by its worker; only ask systemd about the rest. */
        if (c->state == CONTAINER_STARTING)
                container_scope_gone(c);
        else if (container_has_payload(c))
                (void) scope_check_gone_async(m, c);
}

static int on_reloading(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        g_autoptr(GList) containers = NULL;
        int active;

        if (sd_bus_message_read(msg, "b", &active) < 0 || active)
                return 0;
        /* The reload is over: a scope that ended meanwhile sent no signal we could trust. */
        containers = g_hash_table_get_values(m->containers);
        for (GList *l = containers; l; l = l->next) {
                Container *c = l->data;
                if (container_has_payload(c))
                        (void) scope_check_gone_async(m, c);
        }
        return 0;
}

static int on_unit_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *unit, *path;
        Container *c;

        if (sd_bus_message_read(msg, "so", &unit, &path) < 0)
                return 0;
        c = manager_find_container_by_unit(m, unit);
        if (c)
                check_scope_gone(m, c);
        return 0;
}

static int on_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        g_autofree char *unit = NULL;
        const char *iface, *prop, *value = NULL;
        Container *c;
        int r;

        if (sd_bus_path_decode(sd_bus_message_get_path(msg), SD_PATH "/unit", &unit) <= 0)
                return 0;
        c = manager_find_container_by_unit(m, unit);
        if (!c)
                return 0;

        r = sd_bus_message_read(msg, "s", &iface);
        if (r < 0)
                return 0;
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return 0;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                if (sd_bus_message_read(msg, "s", &prop) < 0)
                        return 0;
                if (streq(prop, "ActiveState")) {
                        if (sd_bus_message_read(msg, "v", "s", &value) < 0)
                                return 0;
                } else if (sd_bus_message_skip(msg, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(msg) < 0)
                        return 0;
        }
        if (value && (streq(value, "inactive") || streq(value, "failed")))
                check_scope_gone(m, c);
        return 0;
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        g_autoptr(GList) containers = g_hash_table_get_values(m->containers);

        /* A scope that ended after adoption looked at it but before systemd had our Subscribe
         * sent no signal we could hear: look once more, now that every later end is heard. */
        for (GList *l = containers; l; l = l->next) {
                Container *c = l->data;
                if (container_has_payload(c))
                        (void) scope_check_gone_async(m, c);
        }
        return 0;
}

/* A scope only ever gets the start job we ask for; any job on a running one is a stop someone
 * else asked for (machinectl terminate, systemctl stop). JobNew comes before the scope ends. */
static int on_job_new(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *job, *unit;
        Container *c;
        uint32_t id;

        if (sd_bus_message_read(msg, "uos", &id, &job, &unit) < 0)
                return 0;
        c = manager_find_container_by_unit(m, unit);
        if (c)
                container_scope_stop_requested(c);
        return 0;
}

int scope_subscribe(Manager *m) {
        int r;

        /* Floating: it lives as long as the bus connection. */
        r = sd_bus_match_signal_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "JobNew", on_job_new, NULL, m);
        if (r < 0)
                return r;

        r = sd_bus_match_signal_async(m->bus, &m->match_job_removed, SD_DEST, SD_PATH, SD_IFACE,
                                      "JobRemoved", on_job_removed, NULL, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(m->bus, &m->match_unit_removed, SD_DEST, SD_PATH, SD_IFACE,
                                      "UnitRemoved", on_unit_removed, NULL, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(m->bus, &m->match_reloading, SD_DEST, SD_PATH, SD_IFACE,
                                      "Reloading", on_reloading, NULL, m);
        if (r < 0)
                return r;
        /* Without a subscriber systemd does not send JobRemoved and UnitRemoved. */
        return sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "Subscribe", on_subscribed, m, NULL);
}

static int on_start_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Container *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *job;

        if (e) {
                log_error("Failed to start scope %s: %s", c->unit, e->message);
                container_scope_job_done(c, "failed", e->message);
                return 0;
        }
        if (sd_bus_message_read(reply, "o", &job) >= 0 && c->state == CONTAINER_STARTING && c->worker > 0) {
                g_free(c->scope_job);
                c->scope_job = g_strdup(job);
        }
        return 0;
}

int scope_watch(Manager *m, Container *c) {
        g_autofree char *path = NULL, *match = NULL;
        int r;

        /* One match per container's unit, not one for every unit of the system: the daemon
         * is not woken by the property changes of units that are none of its business. */
        if (c->unit_match)
                return 0;
        r = sd_bus_path_encode(SD_PATH "/unit", c->unit, &path);
        if (r < 0)
                return r;
        match = g_strdup_printf("type='signal',sender='" SD_DEST "',path='%s',"
                                "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                                "arg0='org.freedesktop.systemd1.Unit'", path);
        return sd_bus_add_match_async(m->bus, &c->unit_match, match, on_properties_changed, NULL, m);
}

/* The limits as (sv) properties: only those set (a new scope has systemd's defaults), or all of
 * them, the unset ones as UINT64_MAX (no limit, the default weight), to change a running one. */
static int append_limits(sd_bus_message *msg, const ContainerLimits *l, bool all) {
        int r;

        for (LimitType t = 0; t < _LIMIT_MAX; t++) {
                if (!all && l->value[t] == LIMIT_UNSET)
                        continue;
                r = sd_bus_message_append(msg, "(sv)", limit_property(t), "t", limit_property_value(t, l->value[t]));
                if (r < 0)
                        return r;
        }
        return 0;
}

int scope_start_transient(Manager *m, Container *c, pid_t pid, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        g_autofree char *description = g_strdup_printf("Container %s", c->name);
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, SD_DEST, SD_PATH, SD_IFACE, "StartTransientUnit");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "ss", c->unit, "fail");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'a', "(sv)");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "(sv)(sv)(sv)(sv)(sv)",
                                  "Description", "s", description,
                                  "Slice", "s", SLICE,
                                  "Delegate", "b", 1,
                                  "CollectMode", "s", "inactive-or-failed",
                                  "PIDs", "au", 1, (uint32_t) pid);
        if (r < 0)
                return r;
        r = append_limits(msg, &c->limits, false);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "a(sa(sv))", 0);
        if (r < 0)
                return r;

        return sd_bus_call_async(m->bus, ret_slot, msg, on_start_reply, c, 0);
}

int scope_stop(Manager *m, const char *unit) {
        return sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "StopUnit", NULL, NULL,
                                        "ss", unit, "replace");
}

static int on_start_unit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_warning("Cannot start %s: %s", (const char *) userdata, e->message ?: e->name);
        return 0;
}

int systemd_start_unit(Manager *m, const char *unit) {
        /* unit is a constant of the caller's (it outlives the call). */
        return sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "StartUnit", on_start_unit_reply,
                                        (void *) unit, "ss", unit, "replace");
}

int scope_kill(Manager *m, const char *unit, int signo) {
        return sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "KillUnit", NULL, NULL,
                                        "ssi", unit, "all", (int32_t) signo);
}

/* ActiveState through GetUnit (not the unit's path: that would load a unit that is gone and
 * say "inactive") and then Get, both asynchronous: start-up adoption must not wait for systemd
 * on the loop (fifty running containers were a hundred round trips in a row). */
typedef struct StateQuery {
        Manager *manager;
        ScopeStateCallback callback;
        void *userdata;
} StateQuery;

static void state_query_conclude(StateQuery *q, int error, const char *state) {
        manager_operation_end(q->manager);
        q->callback(q->manager, error, state, q->userdata);
        g_free(q);
}

static int reply_errno(const sd_bus_error *e) {
        if (sd_bus_error_has_names(e, "org.freedesktop.systemd1.NoSuchUnit", SD_BUS_ERROR_UNKNOWN_OBJECT))
                return -ENOENT;
        return -sd_bus_error_get_errno(e) ?: -EIO;
}

static int on_state_value(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        StateQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *state;
        int r;

        if (e)
                r = reply_errno(e);
        else
                r = sd_bus_message_read(reply, "v", "s", &state);
        state_query_conclude(q, MIN(r, 0), r >= 0 ? state : NULL);
        return 0;
}

static int on_state_unit(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        StateQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        int r;

        if (e) {
                state_query_conclude(q, reply_errno(e), NULL);
                return 0;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_call_method_async(q->manager->bus, NULL, SD_DEST, path, "org.freedesktop.DBus.Properties",
                                             "Get", on_state_value, q, "ss", "org.freedesktop.systemd1.Unit",
                                             "ActiveState");
        if (r < 0)
                state_query_conclude(q, r, NULL);
        return 0;
}

int scope_get_active_state_async(Manager *m, const char *unit, ScopeStateCallback cb, void *userdata) {
        StateQuery *q;
        int r;

        assert(m);
        assert(unit);
        assert(cb);

        q = g_new(StateQuery, 1);
        *q = (StateQuery) { .manager = m, .callback = cb, .userdata = userdata };
        r = sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "GetUnit", on_state_unit, q, "s", unit);
        if (r < 0) {
                g_free(q);
                return r;
        }
        manager_operation_begin(m);
        return 0;
}

typedef struct AccountingQuery {
        Manager *manager;
        ScopeAccountingCallback callback;
        void *userdata;
} AccountingQuery;

static int parse_accounting(sd_bus_message *reply, ScopeAccounting *ret) {
        ScopeAccounting a = { .cpu_nsec = UINT64_MAX, .memory_bytes = UINT64_MAX, .tasks = UINT64_MAX };
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *s;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        goto fail;
                if (streq(name, "ControlGroup")) {
                        r = sd_bus_message_read(reply, "v", "s", &s);
                        if (r >= 0)
                                SWAP_FREE(a.control_group, g_strdup(s));
                } else if (streq(name, "CPUUsageNSec"))
                        r = sd_bus_message_read(reply, "v", "t", &a.cpu_nsec);
                else if (streq(name, "MemoryCurrent"))
                        r = sd_bus_message_read(reply, "v", "t", &a.memory_bytes);
                else if (streq(name, "TasksCurrent"))
                        r = sd_bus_message_read(reply, "v", "t", &a.tasks);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;
        *ret = a;
        return 0;

fail:
        g_free(a.control_group);
        return r;
}

static int on_accounting_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        g_autofree AccountingQuery *q = userdata;
        ScopeAccounting a = {};
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        manager_operation_end(q->manager);
        if (e)
                r = sd_bus_error_has_names(e, "org.freedesktop.systemd1.NoSuchUnit", SD_BUS_ERROR_UNKNOWN_OBJECT) ?
                        -ENOENT : -sd_bus_error_get_errno(e);
        else
                r = parse_accounting(reply, &a);
        q->callback(q->manager, r < 0 ? r : 0, r < 0 ? NULL : &a, q->userdata);
        return 0;
}

int scope_get_accounting_async(Manager *m, const char *unit, ScopeAccountingCallback cb, void *userdata) {
        g_autofree char *path = NULL;
        AccountingQuery *q;
        int r;

        assert(m);
        assert(unit);
        assert(cb);

        /* A unit's object path follows from its name: no GetUnit round trip. */
        r = sd_bus_path_encode(SD_PATH "/unit", unit, &path);
        if (r < 0)
                return r;
        q = g_new(AccountingQuery, 1);
        *q = (AccountingQuery) { .manager = m, .callback = cb, .userdata = userdata };
        r = sd_bus_call_method_async(m->bus, NULL, SD_DEST, path, "org.freedesktop.DBus.Properties", "GetAll",
                                     on_accounting_reply, q, "s", "org.freedesktop.systemd1.Scope");
        if (r < 0) {
                g_free(q);
                return r;
        }
        manager_operation_begin(m);
        return 0;
}

int scope_set_limits_async(Manager *m, const char *unit, const ContainerLimits *l,
                           sd_bus_message_handler_t cb, void *userdata, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, SD_DEST, SD_PATH, SD_IFACE, "SetUnitProperties");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "sb", unit, 1);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'a', "(sv)");
        if (r < 0)
                return r;
        r = append_limits(msg, l, true);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;
        return sd_bus_call_async(m->bus, ret_slot, msg, cb, userdata, 0);
}
