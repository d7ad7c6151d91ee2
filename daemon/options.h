/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* One entry per accepted key of an a{sv} option dictionary. out points to:
 * "b" bool, "s" char* (g_free), "as" char** (g_strfreev), "u" uint32_t, "t" uint64_t,
 * "a{ss}" char** of "K=V" (checked as bus_read_environment() does), "ay" GBytes* (g_bytes_unref),
 * "a(sqq)" GPtrArray* of OptionSqq* (g_ptr_array_unref frees them), "aas" GPtrArray* of char**
 * (g_ptr_array_unref frees them), "i" int32_t. */
typedef struct OptionSpec {
        const char *key;
        const char *type;
        void *out;
} OptionSpec;

/* Reads an a{sv} at the current position. Unknown keys, wrong types and repeated keys
 * fail with InvalidArgs naming the key; outputs are only written when everything is valid. */
typedef struct OptionSqq {
        char *s;
        uint16_t q[2];
} OptionSqq;

int bus_read_options(sd_bus_message *msg, const OptionSpec *specs, sd_bus_error *error);

/* Reads an a{ss} environment into a "K=V" strv, rejecting invalid names. */
int bus_read_environment(sd_bus_message *msg, char ***ret, sd_bus_error *error);
