/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "container.h"

extern const sd_bus_vtable container_vtable[];
/* More methods of org.containers.Container, one vtable per concern (exec-dbus.c, files-dbus.c). */
extern const sd_bus_vtable container_exec_vtable[];
extern const sd_bus_vtable container_files_vtable[];
extern const sd_bus_vtable container_update_vtable[];
extern const sd_bus_vtable container_network_vtable[];
extern const sd_bus_vtable container_snapshot_vtable[];

int container_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error);
int container_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);

/* polkit's details for a call on c: container, image, verb (NULL-terminated in buf); the _with
 * form adds one more key and value (the name of a snapshot, a new name). */
const char **container_polkit_details(Container *c, const char *verb, const char *buf[static 7]);
const char **container_polkit_details_with(Container *c, const char *verb, const char *key, const char *value,
                                           const char *buf[static 9]);

/* Emits PropertiesChanged for everything a state change touches. */
void container_emit_changed(Container *c);

/* "K=V" -> "K": what everyone may see of an environment (a container's, an image's). */
char **environment_names(char **env);
/* One {sv} entry of an a{sv} being written: key, an "as" variant. */
int append_strv_variant(sd_bus_message *reply, const char *key, char **v);

int bus_container_method_inspect_append(sd_bus_message *reply, Container *c, bool show_secrets);
