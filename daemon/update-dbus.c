/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container.Update(a{sv}): changes a container's limits, lifecycle policy,
 * environment and command.
 * All or nothing: every option is checked, then polkit asked, then (for a container that runs)
 * systemd changes the scope's limits; only once systemd said yes does the container take the
 * new values, written once. If systemd says no, nothing changes and the reply carries its text.
 * Environment and command take effect at the next start; limits at once when it runs.
 * A change of autostart asks systemd to enable or disable the unit first (autostart.c): if it
 * refuses, nothing changes; a later step that fails undoes it. */
#include "autostart.h"
#include "container-dbus.h"
#include "errors.h"
#include "log.h"
#include "limit.h"
#include "options.h"
#include "polkit.h"
#include "scope.h"
#include "store.h"

typedef struct UpdateCall {
        Manager *manager;
        sd_bus_message *msg;
        char *name;
        char id[33];            /* the container must still be this one when systemd answers */
        ContainerLimits limits;
        char **environment;     /* NULL: not given */
        char **command;         /* NULL: not given */
        ContainerPolicy policy; /* the whole policy after the update */
        bool autostart_changed; /* the unit was enabled or disabled: undone if a later step fails */
        bool order_changed;     /* autostart or its priority changed: drop-ins to rewrite */
        sd_bus_slot *slot;
} UpdateCall;

static void update_call_free(UpdateCall *u) {
        if (!u)
                return;
        sd_bus_slot_unref(u->slot);
        sd_bus_message_unref(u->msg);
        g_free(u->name);
        g_strfreev(u->environment);
        g_strfreev(u->command);
        policy_done(&u->policy);
        g_free(u);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(UpdateCall *, update_call_free);

/* Gives the container the new values and writes its config; on a failed write it keeps the
 * old ones. */
static int update_apply(Container *c, UpdateCall *u) {
        ContainerLimits old_limits = c->limits;
        ContainerPolicy old_policy = c->policy;
        char **old_environment = c->environment, **old_command = c->command;
        int r;

        c->limits = u->limits;
        c->policy = u->policy;
        if (u->environment)
                c->environment = u->environment;
        if (u->command)
                c->command = u->command;
        r = store_save_container(c);
        if (r < 0) {
                c->limits = old_limits;
                c->policy = old_policy;
                c->environment = old_environment;
                c->command = old_command;
                return r;
        }
        if ((u->environment || u->command) && c->manager->bus) {
                g_autofree char *path = container_object_path(c);
                /* Update is what changes them: the properties say so. */
                (void) sd_bus_emit_properties_changed(c->manager->bus, path, "org.containers.Container",
                                                      u->environment ? "Environment" : "Command",
                                                      u->environment && u->command ? "Command" : NULL, NULL);
        }
        /* The container owns the new policy now; u gets the old one to free. */
        u->policy = old_policy;
        if (u->environment) {
                g_strfreev(old_environment);
                u->environment = NULL;
        }
        if (u->command) {
                g_strfreev(old_command);
                u->command = NULL;
        }
        return 0;
}

static Container *update_container(UpdateCall *u) {
        Container *c = manager_get_container(u->manager, u->name);

        return c && streq(c->id, u->id) ? c : NULL;
}

/* Answers with the error (or success), and ends the call. */
static void update_done(UpdateCall *u, const sd_bus_error *error) {
        Container *c = update_container(u);

        if (c)
                c->update_pending = false;
        if (error)
                (void) sd_bus_reply_method_error(u->msg, error);
        else
                (void) sd_bus_reply_method_return(u->msg, NULL);
        update_call_free(u);
}

static void update_undo_autostart(UpdateCall *u) {
        if (!u->autostart_changed)
                return;
        /* Best effort; a daemon start reconciles the unit with the policy anyway. */
        (void) autostart_link_async(u->manager, u->policy.autostart ? NULL : u->name,
                                    u->policy.autostart ? u->name : NULL, NULL, NULL);
}

static void on_update_refreshed(Manager *m, const sd_bus_error *error, void *userdata) {
        update_done(userdata, NULL);
}

static void update_finish(UpdateCall *u) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Container *c = update_container(u);
        bool order_changed = u->order_changed;
        int r;

        if (!c) {
                update_undo_autostart(u);
                (void) sd_bus_error_setf(&e, CM_ERROR_NO_SUCH_CONTAINER, "Container '%s' was removed during the update", u->name);
                return update_done(u, &e);
        }
        r = update_apply(c, u);
        if (r < 0) {
                update_undo_autostart(u);
                (void) sd_bus_error_set_errnof(&e, r, "Cannot write the configuration of '%s' (nothing changed): %m", c->name);
                return update_done(u, &e);
        }
        if (order_changed) {
                r = autostart_refresh_async(u->manager, u->autostart_changed, on_update_refreshed, u);
                if (r >= 0)
                        return;
                log_warning_errno(r, "Cannot ask systemd to reload");
        }
        update_done(u, NULL);
}

static int on_set_limits_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UpdateCall *u = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        Container *c = update_container(u);

        u->slot = sd_bus_slot_unref(u->slot);
        if (c && e) {
                log_error("Cannot change the limits of %s: %s", c->unit, e->message);
                update_undo_autostart(u);
                (void) sd_bus_error_setf(&err, SD_BUS_ERROR_FAILED, "systemd refused the limits of %s (nothing changed): %s",
                                         c->unit, e->message);
                update_done(u, &err);
                return 0;
        }
        update_finish(u);
        return 0;
}

static void update_step_limits(UpdateCall *u) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Container *c = update_container(u);
        int r;

        if (c && container_has_payload(c) && memcmp(&u->limits, &c->limits, sizeof(u->limits)) != 0) {
                r = scope_set_limits_async(c->manager, c->unit, &u->limits, on_set_limits_reply, u, &u->slot);
                if (r >= 0)
                        return;
                update_undo_autostart(u);
                (void) sd_bus_error_set_errnof(&e, r, "Cannot ask systemd to change %s: %m", c->unit);
                return update_done(u, &e);
        }
        update_finish(u);
}

static void on_update_linked(Manager *m, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        UpdateCall *u = userdata;

        if (error) {
                g_autofree char *unit = autostart_unit_name(u->name);

                (void) sd_bus_error_setf(&e, CM_ERROR_AUTOSTART_FAILED, "systemd refused to %s %s (nothing changed): %s",
                                         u->policy.autostart ? "enable" : "disable", unit, error->message ?: error->name);
                return update_done(u, &e);
        }
        u->autostart_changed = true;
        update_step_limits(u);
}

static int method_update(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(update_call_freep) UpdateCall *u = NULL;
        g_auto(GStrv) environment = NULL, command = NULL;
        Container *c = userdata;
        LimitOptions lo;
        ContainerLimits limits;
        _cleanup_(policy_options_done) PolicyOptions po = {};
        _cleanup_(policy_done) ContainerPolicy policy = {};
        const char *details[7];
        int r;

        /* Limits and policy not given stay as they are. */
        limit_options_init(&lo, &c->limits);
        policy_options_init(&po, &c->policy);
        r = bus_read_options(msg, (const OptionSpec[]) {
                LIMIT_OPTION_SPECS(&lo),
                POLICY_OPTION_SPECS(&po),
                { "environment", "a{ss}", &environment },
                { "command", "as", &command },
                {}
        }, error);
        if (r < 0)
                return r;
        r = limit_options_to_limits(&lo, &limits, error);
        if (r < 0)
                return r;
        policy_init(&policy);
        r = policy_options_to_policy(&po, &policy, error);
        if (r < 0)
                return r;
        if (command && !command[0])
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'command' must not be empty");
        for (char **a = command; a && *a; a++)
                if (!g_utf8_validate(*a, -1, NULL))
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'command' is not valid UTF-8");

        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details(c, "update", details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (c->update_pending)
                return sd_bus_error_setf(error, CM_ERROR_BUSY, "Container '%s' is being updated", c->name);
        if (c->state == CONTAINER_STARTING)
                /* Its scope is being made with the limits it has now. */
                return sd_bus_error_setf(error, CM_ERROR_BUSY, "Container '%s' is starting", c->name);

        u = g_new0(UpdateCall, 1);
        u->manager = c->manager;
        u->msg = sd_bus_message_ref(msg);
        u->name = g_strdup(c->name);
        memcpy(u->id, c->id, sizeof(u->id));
        u->limits = limits;
        u->policy = policy;
        policy_init(&policy);
        u->environment = TAKE_PTR(environment);
        u->command = TAKE_PTR(command);
        u->order_changed = u->policy.autostart != c->policy.autostart ||
                u->policy.autostart_priority != c->policy.autostart_priority;

        /* From here on every step answers the call itself. */
        c->update_pending = true;
        if (u->policy.autostart != c->policy.autostart) {
                r = autostart_link_async(c->manager, u->policy.autostart ? c->name : NULL,
                                         u->policy.autostart ? NULL : c->name, on_update_linked, u);
                if (r < 0) {
                        c->update_pending = false;
                        return sd_bus_error_set_errnof(error, r, "Cannot ask systemd to change %s: %m", c->name);
                }
                TAKE_PTR(u); /* the callback's now */
                return 1;
        }
        update_step_limits(TAKE_PTR(u));
        return 1;
}

const sd_bus_vtable container_update_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Update", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                method_update, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
