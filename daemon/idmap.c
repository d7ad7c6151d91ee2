/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "container.h"
#include "idmap.h"
#include "store.h"

bool idmap_block_is_valid(const IdBlock *b) {
        return b->size >= IDMAP_SLOT_SIZE &&
                b->size % IDMAP_SLOT_SIZE == 0 &&
                b->start >= IDMAP_MIN_START &&
                (uint64_t) b->start + b->size <= (uint64_t) UINT32_MAX; /* (uid_t) -1 is never an id */
}

static int keyfile_get_u32(GKeyFile *kf, const char *key, uint32_t *value, char **ret_message) {
        g_autofree char *v = g_key_file_get_value(kf, "IdMap", key, NULL);
        guint64 u;

        if (!v)
                return 0;
        g_strstrip(v);
        if (!g_ascii_string_to_unsigned(v, 10, 0, UINT32_MAX, &u, NULL)) {
                *ret_message = g_strdup_printf("[IdMap] %s=%s is not a number below 2^32", key, v);
                return -EINVAL;
        }
        *value = (uint32_t) u;
        return 0;
}

int idmap_block_load(const char *path, IdBlock *ret, char **ret_message) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) e = NULL;
        IdBlock b = { .start = IDMAP_DEFAULT_START, .size = IDMAP_DEFAULT_SIZE };
        int r;

        assert(path);
        assert(ret);

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                        *ret = b;
                        return 0;
                }
                if (ret_message)
                        *ret_message = g_strdup_printf("%s: %s", path, e->message);
                return -EINVAL;
        }

        g_autofree char *msg = NULL;
        r = keyfile_get_u32(kf, "Start", &b.start, &msg);
        if (r >= 0)
                r = keyfile_get_u32(kf, "Size", &b.size, &msg);
        if (r >= 0 && !idmap_block_is_valid(&b)) {
                msg = g_strdup_printf("[IdMap] Start=%u Size=%u: the block must start at %u or above, be a "
                                      "non-zero multiple of %u ids and end below 2^32",
                                      b.start, b.size, IDMAP_MIN_START, IDMAP_SLOT_SIZE);
                r = -EINVAL;
        }
        if (r < 0) {
                if (ret_message)
                        *ret_message = g_strdup_printf("%s: %s", path, msg);
                return r;
        }
        *ret = b;
        return 0;
}

int idmap_block_find_free(const IdBlock *b, GHashTable *used, uint32_t *ret_shift) {
        assert(b);
        assert(used);
        assert(ret_shift);

        for (uint64_t s = b->start; s + IDMAP_SLOT_SIZE <= (uint64_t) b->start + b->size; s += IDMAP_SLOT_SIZE)
                if (!g_hash_table_contains(used, GUINT_TO_POINTER((guint) s))) {
                        *ret_shift = (uint32_t) s;
                        return 0;
                }
        return -ENOSPC;
}

char *idmap_subid_text_add(const char *text, const char *user, uint32_t start, uint32_t size) {
        g_autofree char *entry = g_strdup_printf("%s:%u:%u", user, start, size);
        g_auto(GStrv) lines = g_strsplit(text ?: "", "\n", -1);
        GString *s;

        for (char **l = lines; *l; l++)
                if (streq(g_strstrip(*l), entry))
                        return NULL;

        s = g_string_new(text ?: "");
        if (s->len > 0 && s->str[s->len - 1] != '\n')
                g_string_append_c(s, '\n');
        g_string_append_printf(s, "%s\n", entry);
        return g_string_free(s, false);
}

int idmap_subid_file_ensure(const char *path, const IdBlock *b) {
        g_autofree char *text = NULL, *updated = NULL;
        g_autoptr(GError) e = NULL;

        if (!g_file_get_contents(path, &text, NULL, &e) && !g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                return -EIO;
        updated = idmap_subid_text_add(text, "root", b->start, b->size);
        if (!updated)
                return 0;
        return store_write_file_atomic(path, updated, strlen(updated), 0644);
}

int manager_claim_uid_shift(Manager *m, Container *c) {
        Container *other;

        assert(m);
        assert(c);

        if (c->privileged)
                return 0;
        if (c->uid_shift < IDMAP_MIN_START ||
            (uint64_t) c->uid_shift + IDMAP_SLOT_SIZE > (uint64_t) UINT32_MAX)
                return -EINVAL;
        other = g_hash_table_lookup(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift));
        if (other && other != c)
                return -EADDRINUSE;
        g_hash_table_insert(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift), c);
        return 0;
}

int manager_allocate_uid_shift(Manager *m, uint32_t *ret_shift) {
        assert(m);
        return idmap_block_find_free(&m->id_block, m->uid_shifts, ret_shift);
}

void manager_release_uid_shift(Manager *m, Container *c) {
        assert(m);
        assert(c);

        if (!c->privileged && g_hash_table_lookup(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift)) == c)
                g_hash_table_remove(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift));
}
