/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON output (--json=short|pretty) through json-glib, and the conversion of bus replies to
 * JSON: dictionaries become objects, arrays arrays, structs arrays, variants their value,
 * byte arrays strings when they are text. */

#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

int json_print(JsonNode *root);
/* Reads one complete value of the message's next type. */
int json_from_bus_message(sd_bus_message *m, JsonNode **ret);
