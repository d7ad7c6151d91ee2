/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "lxc-config.h"
#include "util.h"

struct LxcConfig {
        GPtrArray *keys;
        GPtrArray *values;
        char *refused;          /* the first key refused, and why */
};

/* Every key the daemon writes; anything else is a bug or an attack. */
static const char *const allowed_keys[] = {
        "lxc.uts.name",
        "lxc.rootfs.path",
        "lxc.idmap",
        "lxc.net.0.type",
        "lxc.net.0.flags",
        "lxc.net.0.link",
        "lxc.net.0.name",
        "lxc.net.0.veth.pair",
        "lxc.net.0.hwaddr",
        "lxc.net.0.ipv4.address",
        "lxc.net.0.ipv4.gateway",
        "lxc.cgroup.relative",
        "lxc.mount.auto",
        "lxc.mount.entry",
        "lxc.autodev",
        "lxc.tty.max",
        "lxc.pty.max",
        "lxc.console.path",
        "lxc.no_new_privs",
        "lxc.cap.drop",
        "lxc.apparmor.profile",
        "lxc.seccomp.profile",
        "lxc.seccomp.allow_nesting",
        "lxc.hook.pre-mount",   /* our own ping_group_range line only (runtime-lxc.c) */
        "lxc.log.file",
        "lxc.log.level",
        "lxc.environment",
        "lxc.init.cwd",
};

bool lxc_config_key_is_allowed(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(allowed_keys); i++)
                if (streq(allowed_keys[i], key))
                        return true;
        return false;
}

LxcConfig *lxc_config_new(void) {
        LxcConfig *cfg = g_new0(LxcConfig, 1);

        cfg->keys = g_ptr_array_new_with_free_func(g_free);
        cfg->values = g_ptr_array_new_with_free_func(g_free);
        return cfg;
}

void lxc_config_free(LxcConfig *cfg) {
        if (!cfg)
                return;
        g_ptr_array_unref(cfg->keys);
        g_ptr_array_unref(cfg->values);
        g_free(cfg->refused);
        g_free(cfg);
}

void lxc_config_add(LxcConfig *cfg, const char *key, const char *value) {
        if (cfg->refused)
                return;
        if (!key || !lxc_config_key_is_allowed(key)) {
                cfg->refused = g_strdup_printf("'%s' is not a key containers-manager writes", key ?: "");
                return;
        }
        /* One line each: no line break, no other control character (a tab only in the environment,
         * whose values may hold one), not empty for anything but the environment. */
        if (!text_is_safe(value, TEXT_VALUE_MAX, streq(key, "lxc.environment")) || isempty(value)) {
                cfg->refused = g_strdup_printf("the value for %s is empty, too long or holds control characters", key);
                return;
        }
        g_ptr_array_add(cfg->keys, g_strdup(key));
        g_ptr_array_add(cfg->values, g_strdup(value));
}

void lxc_config_addf(LxcConfig *cfg, const char *key, const char *fmt, ...) {
        g_autofree char *value = NULL;
        va_list ap;

        va_start(ap, fmt);
        value = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        lxc_config_add(cfg, key, value);
}

int lxc_config_check(const LxcConfig *cfg, char **ret_message) {
        if (!cfg->refused)
                return 0;
        if (ret_message)
                *ret_message = g_strdup_printf("Refusing to write LXC's configuration: %s", cfg->refused);
        return -EINVAL;
}

size_t lxc_config_size(const LxcConfig *cfg) {
        return cfg->keys->len;
}

void lxc_config_get(const LxcConfig *cfg, size_t i, const char **ret_key, const char **ret_value) {
        assert(i < cfg->keys->len);
        *ret_key = cfg->keys->pdata[i];
        *ret_value = cfg->values->pdata[i];
}

char *lxc_config_to_text(const LxcConfig *cfg, const char *comment) {
        g_autoptr(GString) s = g_string_new(NULL);

        if (comment)
                g_string_append_printf(s, "# %s\n", comment);
        for (guint i = 0; i < cfg->keys->len; i++)
                g_string_append_printf(s, "%s = %s\n", (char *) cfg->keys->pdata[i], (char *) cfg->values->pdata[i]);
        return g_string_free(g_steal_pointer(&s), false);
}

char *lxc_config_to_json(const LxcConfig *cfg) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "Settings");
        json_builder_begin_array(b);
        for (guint i = 0; i < cfg->keys->len; i++) {
                json_builder_begin_array(b);
                json_builder_add_string_value(b, cfg->keys->pdata[i]);
                json_builder_add_string_value(b, cfg->values->pdata[i]);
                json_builder_end_array(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        return json_generator_to_data(gen, NULL);
}

int lxc_config_from_json(const char *text, size_t size, LxcConfig **ret) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(LxcConfig) cfg = lxc_config_new();
        JsonNode *root, *n;
        JsonArray *a;

        if (!json_parser_load_from_data(parser, text, size, NULL))
                return -EBADMSG;
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return -EBADMSG;
        n = json_object_get_member(json_node_get_object(root), "Settings");
        if (!n || !JSON_NODE_HOLDS_ARRAY(n))
                return -EBADMSG;
        a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonNode *e = json_array_get_element(a, i);
                JsonArray *kv;

                if (!JSON_NODE_HOLDS_ARRAY(e) || json_array_get_length(kv = json_node_get_array(e)) != 2)
                        return -EBADMSG;
                for (guint k = 0; k < 2; k++) {
                        JsonNode *v = json_array_get_element(kv, k);
                        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
                                return -EBADMSG;
                }
                lxc_config_add(cfg, json_array_get_string_element(kv, 0), json_array_get_string_element(kv, 1));
        }
        if (cfg->refused)
                return -EBADMSG;
        *ret = TAKE_PTR(cfg);
        return 0;
}
