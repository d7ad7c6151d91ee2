/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>

#include "size-caps.h"
#include "util.h"

int size_parse(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        g_autofree char *digits = NULL;
        guint64 v;
        unsigned shift = 0;
        size_t n;

        if (isempty(s))
                return -EINVAL;
        n = strlen(s);
        if (strchr(suffixes, g_ascii_toupper(s[n - 1]))) {
                shift = 10 * (unsigned) (strchr(suffixes, g_ascii_toupper(s[n - 1])) - suffixes + 1);
                n--;
        }
        digits = g_strndup(s, n);
        if (!g_ascii_string_to_unsigned(digits, 10, 1, UINT64_MAX >> shift, &v, NULL))
                return -EINVAL;
        *ret = v << shift;
        return 0;
}

int size_caps_load(const char *path, SizeCaps *ret, char **ret_message) {
        static const struct {
                const char *key;
                size_t offset;
        } keys[] = {
                { "ImportMaxBytes",     offsetof(SizeCaps, import_max_bytes) },
                { "PutArchiveMaxBytes", offsetof(SizeCaps, put_archive_max_bytes) },
                { "PullMaxBytes",       offsetof(SizeCaps, pull_max_bytes) },
        };
        g_autoptr(GKeyFile) kf = NULL;
        SizeCaps caps = SIZE_CAPS_DEFAULT;
        int r;

        assert(path);
        assert(ret);

        r = key_file_load_optional(path, &kf, ret_message);
        if (r < 0)
                return r;
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                g_autofree char *v = g_key_file_get_value(kf, "Transfers", keys[i].key, NULL);

                if (!v)
                        continue;
                if (size_parse(g_strstrip(v), (uint64_t *) ((uint8_t *) &caps + keys[i].offset)) < 0) {
                        if (ret_message)
                                *ret_message = g_strdup_printf("%s: [Transfers] %s=%s is not a size above 0 "
                                                               "(bytes, or with a K, M, G or T suffix)",
                                                               path, keys[i].key, v);
                        return -EINVAL;
                }
        }
        *ret = caps;
        return 0;
}
