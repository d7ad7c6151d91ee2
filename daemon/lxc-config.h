/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>

/* LXC's configuration of one container as the daemon means it: a list of settings, each a key
 * from a fixed list and a value checked on its own (never text joined first and checked after),
 * written as LXC's config file and, beside it, as JSON. From the JSON the monitor builds the same
 * configuration again through liblxc's set_config_item() and compares it, key by key, with what
 * liblxc read from the file before it starts anything (runtime-lxc.c). */
typedef struct LxcConfig LxcConfig;

LxcConfig *lxc_config_new(void);
void lxc_config_free(LxcConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LxcConfig, lxc_config_free)

/* A value that is not safe text, or a key not on the list, is remembered: lxc_config_check()
 * and lxc_config_write() then refuse the whole configuration. */
void lxc_config_add(LxcConfig *cfg, const char *key, const char *value);
void lxc_config_addf(LxcConfig *cfg, const char *key, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* 0, or -EINVAL naming the first refused key (never its value) in *ret_message. */
int lxc_config_check(const LxcConfig *cfg, char **ret_message);
/* The JSON twin: {"Settings": [[key, value], ...]}, and back (-EBADMSG for anything else,
 * a key not on the list or a value that is not safe included). */
char *lxc_config_to_json(const LxcConfig *cfg);
int lxc_config_from_json(const char *text, size_t size, LxcConfig **ret);
size_t lxc_config_size(const LxcConfig *cfg);
void lxc_config_get(const LxcConfig *cfg, size_t i, const char **ret_key, const char **ret_value);
/* The text of the config file (for tests). */
char *lxc_config_to_text(const LxcConfig *cfg, const char *comment);

bool lxc_config_key_is_allowed(const char *key);
