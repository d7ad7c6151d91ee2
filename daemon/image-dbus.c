/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translates bus calls on /org/containers/Manager/image/<name>. */
#include "bus-util.h"
#include "container-dbus.h"
#include "image-dbus.h"
#include "polkit.h"

#define IMAGE_PREFIX "/org/containers/Manager/image"

int image_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error) {
        Manager *m = userdata;
        return bus_find_by_name(path, IMAGE_PREFIX, m->images, found);
}

int image_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        return bus_enumerate_names(IMAGE_PREFIX, m->images, nodes);
}

static int property_get_string_or_empty(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char **s = userdata;
        return sd_bus_message_append(reply, "s", *s ?: "");
}

static int property_get_strv(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char ***v = userdata;
        return sd_bus_message_append_strv(reply, *v);
}

static int property_get_usable(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Image *i = userdata;
        return sd_bus_message_append(reply, "b", image_is_usable(i));
}

static int property_get_is_base(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Image *i = userdata;
        return sd_bus_message_append(reply, "b", i->is_base);
}

static int property_get_environment(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Image *i = userdata;
        g_auto(GStrv) names = environment_names(i->environment);
        /* As a container's: properties reach everyone (GetManagedObjects too), and a Commit
         * copies a container's environment here. Names only; values through Inspect. */
        return sd_bus_message_append_strv(reply, names);
}

static int append_string(sd_bus_message *reply, const char *key, const char *value) {
        return sd_bus_message_append(reply, "{sv}", key, "s", value ?: "");
}

static int method_inspect(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        g_autofree char *object = NULL;
        g_auto(GStrv) names = NULL;
        Image *i = userdata;
        const char *details[] = { "image", i->name, "verb", "inspect", NULL };
        int allowed, r;

        /* Open to everyone; the environment's values only to those who may manage containers
         * or build images (never prompting: a denial just means names only). */
        allowed = polkit_check_full(i->manager, msg, CM_ACTION_MANAGE, details, false, &denied);
        if (allowed == 0)
                return 1;
        if (allowed < 0) {
                sd_bus_error_free(&denied);
                allowed = polkit_check_full(i->manager, msg, CM_ACTION_BUILD, details, false, &denied);
                if (allowed == 0)
                        return 1;
        }
        if (allowed < 0)
                names = environment_names(i->environment);
        object = image_object_path(i);

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_string(reply, "Name", i->name);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "ObjectPath", "o", object);
        if (r >= 0)
                r = append_string(reply, "Description", i->description);
        if (r >= 0)
                r = append_string(reply, "Base", i->base);
        if (r >= 0)
                r = append_string(reply, "Url", i->url);
        if (r >= 0)
                r = append_string(reply, "Branch", i->branch);
        if (r >= 0)
                r = append_string(reply, "Subdir", i->subdir);
        if (r >= 0)
                r = append_string(reply, "Commit", i->commit);
        if (r >= 0)
                r = append_string(reply, "RunFileDigest", i->run_digest);
        if (r >= 0)
                r = append_string(reply, "WorkingDirectory", i->working_directory);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}",
                                          "CreatedTimestamp", "t", i->created_usec,
                                          "IsBase", "b", i->is_base,
                                          "Usable", "b", image_is_usable(i),
                                          "EnvironmentValuesShown", "b", allowed > 0);
        if (r >= 0)
                r = append_strv_variant(reply, "Command", i->command);
        if (r >= 0)
                r = append_strv_variant(reply, "Environment", allowed > 0 ? i->environment : names);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

void image_send_new(Image *i) {
        g_autofree char *path = image_object_path(i);
        sd_bus *bus = i->manager->bus;

        if (!bus || !path)
                return;
        (void) sd_bus_emit_signal(bus, "/org/containers/Manager", "org.containers.Manager", "ImageNew", "so", i->name, path);
        (void) sd_bus_emit_object_added(bus, path);
}

void image_send_removed(Image *i) {
        g_autofree char *path = image_object_path(i);
        sd_bus *bus = i->manager->bus;

        if (!bus || !path)
                return;
        (void) sd_bus_emit_object_removed(bus, path);
        (void) sd_bus_emit_signal(bus, "/org/containers/Manager", "org.containers.Manager", "ImageRemoved", "so", i->name, path);
}

const sd_bus_vtable image_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Image, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Description", "s", property_get_string_or_empty, offsetof(Image, description), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Base", "s", property_get_string_or_empty, offsetof(Image, base), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Url", "s", property_get_string_or_empty, offsetof(Image, url), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Branch", "s", property_get_string_or_empty, offsetof(Image, branch), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Subdir", "s", property_get_string_or_empty, offsetof(Image, subdir), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Commit", "s", property_get_string_or_empty, offsetof(Image, commit), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RunFileDigest", "s", property_get_string_or_empty, offsetof(Image, run_digest), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreatedTimestamp", "t", NULL, offsetof(Image, created_usec), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("IsBase", "b", property_get_is_base, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Usable", "b", property_get_usable, 0, 0),
        SD_BUS_PROPERTY("Command", "as", property_get_strv, offsetof(Image, command), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Environment", "as", property_get_environment, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("WorkingDirectory", "s", property_get_string_or_empty, offsetof(Image, working_directory), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Inspect", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info), method_inspect, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
