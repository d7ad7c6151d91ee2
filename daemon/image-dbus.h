/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "image.h"

extern const sd_bus_vtable image_vtable[];

int image_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error);
int image_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);

void image_send_new(Image *i);
void image_send_removed(Image *i);
