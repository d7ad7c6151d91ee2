/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manifest.json of ExportImage's stream, checked before anything of it is used. */
#include <errno.h>
#include <stdarg.h>

#include "transfer-manifest.h"

bool transfer_digest_is_valid(const char *d) {
        if (!d || !g_str_has_prefix(d, "sha256:") || strlen(d) != 7 + 64)
                return false;
        for (const char *p = d + 7; *p; p++)
                if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
                        return false;
        return true;
}

int transfer_bad(char **ret_message, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (ret_message) {
                /* Messages quote what the archive holds: never a line break or an escape of its own. */
                g_autofree char *text = g_strdup_vprintf(fmt, ap);
                *ret_message = text_make_safe(text, 1024);
        }
        va_end(ap);
        return -EBADMSG;
}

bool json_strv_member_ok(JsonObject *o, const char *key, bool required) {
        JsonNode *n = json_object_get_member(o, key);
        JsonArray *a;

        if (!n)
                return !required;
        if (!JSON_NODE_HOLDS_ARRAY(n))
                return false;
        a = json_node_get_array(n);
        if (required && json_array_get_length(a) == 0)
                return false;
        for (guint k = 0; k < json_array_get_length(a); k++) {
                JsonNode *e = json_array_get_element(a, k);
                if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
                        return false;
        }
        return true;
}

const char *json_string_member(JsonObject *o, const char *key) {
        JsonNode *n = json_object_get_member(o, key);
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(n);
}

int transfer_manifest_check(const char *text, size_t size, char **ret_message) {
        g_autoptr(JsonParser) p = json_parser_new();
        JsonObject *o;
        JsonNode *n;
        JsonArray *layers;
        const char *s;

        if (size > 1024 * 1024)
                return transfer_bad(ret_message, "manifest.json is too large");
        if (!json_parser_load_from_data(p, text, size, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
                return transfer_bad(ret_message, "manifest.json is not a JSON object");
        o = json_node_get_object(json_parser_get_root(p));
        n = json_object_get_member(o, "FormatVersion");
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
            json_node_get_int(n) != TRANSFER_FORMAT_VERSION)
                return transfer_bad(ret_message, "manifest.json: FormatVersion is not %d", TRANSFER_FORMAT_VERSION);
        s = json_string_member(o, "Base");
        if (!s || !name_is_valid(s))
                return transfer_bad(ret_message, "manifest.json: invalid Base");
        if (!json_strv_member_ok(o, "Command", true))
                return transfer_bad(ret_message, "manifest.json: Command must be a non-empty list of strings");
        if (!json_strv_member_ok(o, "Environment", false))
                return transfer_bad(ret_message, "manifest.json: Environment must be a list of strings");
        n = json_object_get_member(o, "Environment");
        for (guint k = 0; n && k < json_array_get_length(json_node_get_array(n)); k++) {
                const char *e = json_array_get_string_element(json_node_get_array(n), k);
                if (!env_assignment_is_valid(e))
                        return transfer_bad(ret_message, "manifest.json: environment entry %u is not NAME=VALUE without control characters", k + 1);
        }
        s = json_string_member(o, "WorkingDirectory");
        if (!container_path_is_valid(s))
                return transfer_bad(ret_message, "manifest.json: WorkingDirectory must be an absolute path without '..' and control characters");
        n = json_object_get_member(o, "Layers");
        if (!n || !JSON_NODE_HOLDS_ARRAY(n))
                return transfer_bad(ret_message, "manifest.json: no Layers");
        layers = json_node_get_array(n);
        if (json_array_get_length(layers) == 0 || json_array_get_length(layers) > TRANSFER_MAX_LAYERS)
                return transfer_bad(ret_message, "manifest.json: 1 to %d layers", TRANSFER_MAX_LAYERS);
        for (guint k = 0; k < json_array_get_length(layers); k++) {
                JsonNode *e = json_array_get_element(layers, k);
                g_autofree char *want = g_strdup_printf("layers/%u.tar", k);
                if (!JSON_NODE_HOLDS_OBJECT(e))
                        return transfer_bad(ret_message, "manifest.json: layer %u is not an object", k);
                s = json_string_member(json_node_get_object(e), "File");
                if (!s || !streq(s, want))
                        return transfer_bad(ret_message, "manifest.json: layer %u must be in %s", k, want);
                s = json_string_member(json_node_get_object(e), "Digest");
                if (!transfer_digest_is_valid(s))
                        return transfer_bad(ret_message, "manifest.json: layer %u has no valid sha256 Digest", k);
        }
        return 0;
}

