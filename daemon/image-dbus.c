/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translates bus calls on /org/containers/Manager/image/<name>. */
#include "bus-util.h"
#include "image-dbus.h"

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
        SD_BUS_PROPERTY("Environment", "as", property_get_strv, offsetof(Image, environment), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("WorkingDirectory", "s", property_get_string_or_empty, offsetof(Image, working_directory), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END
};
