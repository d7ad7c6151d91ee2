/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <systemd/sd-bus.h>

/* InvalidName, with the rules in the message, unless name is a valid container/image name.
 * kind is "container" or "image". */
int bus_check_name(const char *kind, const char *name, sd_bus_error *error);
int bus_check_new_container_name(const char *name, sd_bus_error *error);

/* InvalidArgs unless fd (passed by a caller) is open for writing (write) or for reading, and is
 * not an O_PATH descriptor. what names it in the message ("stdin"), or NULL. */
int bus_check_fd(int fd, bool write, const char *what, sd_bus_error *error);

/* Whether the caller is root (who needs no polkit and may build from local paths). */
bool bus_sender_is_root(sd_bus_message *msg);

/* For objects kept by name in a hash table and served at <prefix>/<sd_bus_path_encode(name)>:
 * the find and node-enumerator halves of a fallback vtable. */
int bus_find_by_name(const char *path, const char *prefix, GHashTable *table, void **found);
int bus_enumerate_names(const char *prefix, GHashTable *table, char ***nodes);
