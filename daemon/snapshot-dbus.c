/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container: snapshots and Commit. */
#include "bus-util.h"
#include "container-dbus.h"
#include "errors.h"
#include "image.h"
#include "options.h"
#include "polkit.h"
#include "snapshot.h"

/* Takes the message's reference. */
static void reply_done(Container *c, int error, const char *message, void *userdata) {
        sd_bus_message *msg = userdata;

        if (error == -EOPNOTSUPP)
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_NOT_SUPPORTED, "Stateful snapshots are not supported here: %s",
                                                  message ?: "");
        else if (error < 0)
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "%s", message ?: g_strerror(-error));
        else
                (void) sd_bus_reply_method_return(msg, NULL);
        sd_bus_message_unref(msg);
}

static int method_create_snapshot(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *name, *details[9];
        int stateful = false;
        const OptionSpec specs[] = {
                { "stateful", "b", &stateful },
                {},
        };
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_read_options(msg, specs, error);
        if (r < 0)
                return r;
        r = bus_check_name("snapshot", name, error);
        if (r < 0)
                return r;
        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details_with(c, "snapshot", "snapshot", name, details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (stateful)
                /* CRIU decides whether a checkpoint is possible; its own words go back to the caller. */
                r = snapshot_check_criu(c, reply_done, sd_bus_message_ref(msg), error);
        else
                r = snapshot_create(c, name, reply_done, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

static int method_restore_snapshot(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *name, *details[9];
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_check_name("snapshot", name, error);
        if (r < 0)
                return r;
        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details_with(c, "restore-snapshot", "snapshot", name, details), error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = snapshot_restore(c, name, reply_done, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

static int method_remove_snapshot(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *name, *details[9];
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_check_name("snapshot", name, error);
        if (r < 0)
                return r;
        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details_with(c, "remove-snapshot", "snapshot", name, details), error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = snapshot_remove(c, name, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_list_snapshots(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Container *c = userdata;
        g_autoptr(GArray) list = NULL;
        int r;

        r = snapshot_list(c, &list);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot list snapshots: %m");
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(st)");
        for (guint i = 0; r >= 0 && i < list->len; i++) {
                SnapshotInfo *s = &g_array_index(list, SnapshotInfo, i);
                r = sd_bus_message_append(reply, "(st)", s->name, s->created_usec);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static void reply_committed(Container *c, Image *image, int error, const char *message, void *userdata) {
        sd_bus_message *msg = userdata;

        if (error < 0)
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "Commit failed: %s", message ?: g_strerror(-error));
        else {
                g_autofree char *path = image_object_path(image);
                (void) sd_bus_reply_method_return(msg, "o", path);
        }
        sd_bus_message_unref(msg);
}

static int method_commit(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *name, *details[9];
        const OptionSpec specs[] = { {} };
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_read_options(msg, specs, error);
        if (r < 0)
                return r;
        r = bus_check_name("image", name, error);
        if (r < 0)
                return r;
        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details_with(c, "commit", "new_image", name, details), error);
        if (r <= 0)
                return r < 0 ? r : 1;
        /* It makes an image, which every user sees and anyone allowed to Create may use. */
        const char *build_details[] = { "image", name, "verb", "commit", "container", c->name, NULL };
        r = polkit_check(c->manager, msg, CM_ACTION_BUILD, build_details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = container_commit(c, name, reply_committed, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

const sd_bus_vtable container_snapshot_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("CreateSnapshot", SD_BUS_ARGS("s", name, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_create_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RestoreSnapshot", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                                method_restore_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveSnapshot", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                                method_remove_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSnapshots", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(st)", snapshots),
                                method_list_snapshots, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Commit", SD_BUS_ARGS("s", image, "a{sv}", options), SD_BUS_RESULT("o", image),
                                method_commit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
