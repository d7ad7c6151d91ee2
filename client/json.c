/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "containerctl.h"
#include "json.h"

int json_print(JsonNode *root) {
        g_autoptr(JsonGenerator) g = json_generator_new();
        g_autofree char *s = NULL;

        json_generator_set_root(g, root);
        json_generator_set_pretty(g, arg_json == JSON_PRETTY);
        json_generator_set_indent(g, 2);
        s = json_generator_to_data(g, NULL);
        puts(s);
        return 0;
}

static JsonNode *node_for_basic(char type, const void *p) {
        JsonNode *n = json_node_new(JSON_NODE_VALUE);

        switch (type) {
        case 'y': json_node_set_int(n, *(const uint8_t *) p); break;
        case 'b': json_node_set_boolean(n, *(const int *) p); break;
        case 'n': json_node_set_int(n, *(const int16_t *) p); break;
        case 'q': json_node_set_int(n, *(const uint16_t *) p); break;
        case 'i': json_node_set_int(n, *(const int32_t *) p); break;
        case 'u': json_node_set_int(n, *(const uint32_t *) p); break;
        case 'x': json_node_set_int(n, *(const int64_t *) p); break;
        case 't': json_node_set_int(n, (gint64) *(const uint64_t *) p); break;
        case 'd': json_node_set_double(n, *(const double *) p); break;
        case 'h': json_node_set_int(n, *(const int *) p); break;
        default: json_node_set_string(n, *(const char *const *) p); break;    /* s, o, g */
        }
        return n;
}

static int read_bytes_as_string(sd_bus_message *m, JsonNode **ret) {
        const void *data;
        size_t size;
        int r;

        r = sd_bus_message_read_array(m, 'y', &data, &size);
        if (r < 0)
                return r;
        g_autofree char *s = g_utf8_make_valid(data ?: "", (gssize) size);
        *ret = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(*ret, s);
        return 0;
}

int json_from_bus_message(sd_bus_message *m, JsonNode **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r <= 0)
                return r < 0 ? r : -ENXIO;

        if (type == SD_BUS_TYPE_ARRAY && strcmp(contents, "y") == 0)
                return read_bytes_as_string(m, ret);

        if (type == SD_BUS_TYPE_ARRAY && contents[0] == '{') {
                JsonObject *o = json_object_new();
                /* "{sv}" -> "sv" */
                g_autofree char *entry = g_strndup(contents + 1, strlen(contents) - 2);
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        goto fail_obj;
                while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry)) > 0) {
                        JsonNode *k = NULL, *v = NULL;
                        r = json_from_bus_message(m, &k);
                        if (r < 0)
                                goto fail_obj;
                        r = json_from_bus_message(m, &v);
                        if (r < 0) {
                                json_node_unref(k);
                                goto fail_obj;
                        }
                        if (json_node_get_value_type(k) == G_TYPE_STRING)
                                json_object_set_member(o, json_node_get_string(k), v);
                        else {
                                g_autofree char *ks = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(k));
                                json_object_set_member(o, ks, v);
                        }
                        json_node_unref(k);
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                goto fail_obj;
                }
                if (r < 0)
                        goto fail_obj;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail_obj;
                *ret = json_node_init_object(json_node_alloc(), o);
                json_object_unref(o);
                return 0;
        fail_obj:
                json_object_unref(o);
                return r;
        }

        if (type == SD_BUS_TYPE_ARRAY || type == SD_BUS_TYPE_STRUCT || type == SD_BUS_TYPE_VARIANT) {
                JsonArray *a = json_array_new();
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        goto fail_arr;
                for (;;) {
                        JsonNode *n = NULL;
                        r = sd_bus_message_at_end(m, false);
                        if (r < 0)
                                goto fail_arr;
                        if (r > 0)
                                break;
                        r = json_from_bus_message(m, &n);
                        if (r < 0)
                                goto fail_arr;
                        json_array_add_element(a, n);
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail_arr;
                if (type == SD_BUS_TYPE_VARIANT) {
                        /* a variant is its value */
                        *ret = json_array_get_length(a) > 0 ? json_node_copy(json_array_get_element(a, 0)) :
                                                              json_node_new(JSON_NODE_NULL);
                        json_array_unref(a);
                        return 0;
                }
                *ret = json_node_init_array(json_node_alloc(), a);
                json_array_unref(a);
                return 0;
        fail_arr:
                json_array_unref(a);
                return r;
        }

        union {
                uint8_t y; int b; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x;
                uint64_t t; double d; const char *s;
        } v;
        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        *ret = node_for_basic(type, &v);
        return 0;
}
