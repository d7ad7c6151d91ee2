/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for LXC's configuration as the daemon writes it (lxc-config.c: json-glib and
 * util.c only, so tests/fuzz/run-fuzzer --target lxc-config builds it with clang). Whatever a
 * value holds, the file that comes out has exactly the settings that went in: one line each,
 * each with the key it was given. The input is used twice: as a value (a working directory, an
 * environment entry, as an image or archive would give them) and as a JSON twin, as the monitor
 * reads it. Linked with fuzz-standalone.c it replays the corpus in `meson test`. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lxc-config.h"
#include "util.h"
#include "fuzz-check.h"

/* The file's lines must be the settings, in order, and nothing else. */
static void check_text(const LxcConfig *cfg) {
        g_autofree char *text = lxc_config_to_text(cfg, "fuzz");
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        size_t n = 0;

        for (char **l = lines; *l; l++) {
                const char *key, *value;
                g_autofree char *want = NULL;

                if (**l == 0 || **l == '#')
                        continue;
                CHECK(n < lxc_config_size(cfg));
                lxc_config_get(cfg, n, &key, &value);
                CHECK(lxc_config_key_is_allowed(key));
                want = g_strdup_printf("%s = %s", key, value);
                CHECK(strcmp(*l, want) == 0);
                n++;
        }
        CHECK(n == lxc_config_size(cfg));
}

/* The JSON twin gives back the same settings. */
static void check_twin(const LxcConfig *cfg) {
        g_autofree char *json = lxc_config_to_json(cfg);
        g_autoptr(LxcConfig) back = NULL;

        CHECK(lxc_config_from_json(json, strlen(json), &back) == 0);
        CHECK(lxc_config_size(back) == lxc_config_size(cfg));
        for (size_t i = 0; i < lxc_config_size(cfg); i++) {
                const char *k1, *v1, *k2, *v2;
                lxc_config_get(cfg, i, &k1, &v1);
                lxc_config_get(back, i, &k2, &v2);
                CHECK(strcmp(k1, k2) == 0 && strcmp(v1, v2) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *value = g_strndup((const char *) data, size);
        g_autofree char *env = g_strconcat("A=", value, NULL);
        g_autoptr(LxcConfig) parsed = NULL;

        {
                g_autoptr(LxcConfig) cfg = lxc_config_new();

                lxc_config_add(cfg, "lxc.uts.name", "c1");
                /* what the imports let through is what the configuration takes */
                if (container_path_is_valid(value)) {
                        lxc_config_add(cfg, "lxc.init.cwd", value);
                        CHECK(lxc_config_check(cfg, NULL) == 0);
                }
                if (env_assignment_is_valid(env)) {
                        lxc_config_add(cfg, "lxc.environment", env);
                        CHECK(lxc_config_check(cfg, NULL) == 0);
                }
                /* and whatever the value, taken or refused, no line of its own */
                lxc_config_add(cfg, "lxc.rootfs.path", value);
                if (lxc_config_check(cfg, NULL) == 0) {
                        check_text(cfg);
                        check_twin(cfg);
                }
        }
        if (lxc_config_from_json(value, size, &parsed) == 0) {
                CHECK(lxc_config_check(parsed, NULL) == 0);
                check_text(parsed);
                check_twin(parsed);
        }
        return 0;
}
