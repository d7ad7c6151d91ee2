/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <json-glib/json-glib.h>

#include "container.h"
#include "image.h"

/* Every write is atomic: temporary file, fsync, rename, fsync of the directory. */
int store_write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);
int store_write_json(const char *path, JsonNode *node);
int store_read_json(const char *path, JsonNode **ret);
/* A string array member: written as key: [..]; read back as a strv (non-strings skipped). */
void store_json_add_strv(JsonBuilder *b, const char *key, char **v);
char **store_json_get_strv(JsonObject *o, const char *key);

/* What a container is (persistent) and what it does now (runtime). */
int store_save_container(Container *c);
/* Writes the container's config.json into dir (Create writes into a hidden directory first). */
int store_save_container_in(Container *c, const char *dir);
int store_save_container_runtime(Container *c);
int store_remove_container_runtime(Container *c);
int store_load_container(Manager *m, const char *name, Container **ret);
int store_load_container_runtime(Container *c);

/* Written by the container's monitor process when its payload ends. */
int store_write_exit_status(const char *runtime_dir, const char *name, int wait_status);
int store_read_exit_status(const char *runtime_dir, const char *name, int *ret_wait_status, uint64_t *ret_usec);
int store_remove_exit_status(const char *runtime_dir, const char *name);

/* A built image's metadata: dir/image.json. */
int store_save_image(const Image *i, const char *dir);
int store_load_image(Manager *m, const char *dir, Image **ret);

char *store_container_config_path(Manager *m, const char *name);
char *store_container_runtime_path(Manager *m, const char *name);
