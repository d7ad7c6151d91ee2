/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <json-glib/json-glib.h>

#include "util.h"

/* The checks of our archives' JSON that need nothing of the daemon: linked by the manifest fuzz
 * target on its own. */

#define TRANSFER_FORMAT_VERSION 1
#define TRANSFER_MAX_LAYERS 64

/* "sha256:" and 64 lower-case hex digits. */
bool transfer_digest_is_valid(const char *d);
/* Sets *ret_message (if ret_message) and returns -EBADMSG: the archive is bad. */
int transfer_bad(char **ret_message, const char *fmt, ...) _printf_(2, 3);
/* A member that is a list of strings (non-empty if required; absent is fine unless required). */
bool json_strv_member_ok(JsonObject *o, const char *key, bool required);
/* A string member, or NULL (absent or another type). */
const char *json_string_member(JsonObject *o, const char *key);

/* Checks a manifest; -EBADMSG and *ret_message if it is bad. */
int transfer_manifest_check(const char *text, size_t size, char **ret_message);
