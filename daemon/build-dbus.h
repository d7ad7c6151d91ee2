/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "build.h"

extern const sd_bus_vtable build_vtable[];

int build_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error);
int build_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);

void build_send_new(Build *b);
void build_send_removed(Build *b);
void build_send_changed(Build *b);
void build_send_progress(Build *b);
void build_send_log_message(Build *b, const char *line);
void build_send_completed(Build *b, bool success, const char *message);
int build_reply_wait(Build *b, sd_bus_message *msg);
