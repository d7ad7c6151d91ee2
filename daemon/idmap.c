/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

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
        g_autoptr(GKeyFile) kf = NULL;
        IdBlock b = { .start = IDMAP_DEFAULT_START, .size = IDMAP_DEFAULT_SIZE };
        int r;

        assert(path);
        assert(ret);

        r = key_file_load_optional(path, &kf, ret_message);
        if (r < 0)
                return r;
        if (r == 0) {
                *ret = b;
                return 0;
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

static bool ranges_overlap(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
        return a < b + b_size && b < a + a_size;
}

static const struct {
        uint32_t first, last;
        const char *what;
} systemd_ranges[] = {
        { 61184U,      65519U,      "systemd's DynamicUser= range" },
        { 60001U,      60513U,      "systemd-homed's range" },
        { 60578U,      60705U,      "systemd's greeter range" },
        { 524288U,     1879048191U, "systemd's container range (systemd-nspawn -U, systemd-machined)" },
        { 2147352576U, 2147418111U, "systemd's foreign UID range" },
};

static int check_subid_file(const IdBlock *b, const char *path, char **ret_message) {
        g_autofree char *text = NULL;
        g_autoptr(GError) e = NULL;
        g_auto(GStrv) lines = NULL;

        if (!path)
                return 0;
        if (!g_file_get_contents(path, &text, NULL, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                *ret_message = g_strdup_printf("cannot read %s: %s", path, e->message);
                return -EIO;
        }
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++) {
                g_auto(GStrv) f = NULL;
                guint64 start, count;

                g_strstrip(*l);
                if (**l == '\0' || **l == '#')
                        continue;
                f = g_strsplit(*l, ":", -1);
                if (g_strv_length(f) != 3 ||
                    !g_ascii_string_to_unsigned(f[1], 10, 0, UINT32_MAX, &start, NULL) ||
                    !g_ascii_string_to_unsigned(f[2], 10, 0, UINT32_MAX, &count, NULL))
                        continue;       /* shadow's tools skip such lines too */
                /* root's entries are the daemon's own (this block, or an earlier one). */
                if (streq(f[0], "root") || streq(f[0], "0"))
                        continue;
                if (count > 0 && ranges_overlap(b->start, b->size, start, count)) {
                        *ret_message = g_strdup_printf("the id block %u-%u ([IdMap] Start=%u Size=%u) overlaps "
                                                       "user %s's range %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT " in %s",
                                                       b->start, b->start + b->size - 1, b->start, b->size,
                                                       f[0], start, start + count - 1, path);
                        return -EADDRINUSE;
                }
        }
        return 0;
}

int idmap_block_check(const IdBlock *b, const char *subuid_path, const char *subgid_path, char **ret_message) {
        g_autofree char *msg = NULL;
        int r;

        assert(b);

        if (b->start % IDMAP_SLOT_SIZE != 0) {
                msg = g_strdup_printf("the id block's start %u ([IdMap] Start=) is not a multiple of %u",
                                      b->start, IDMAP_SLOT_SIZE);
                r = -EINVAL;
                goto fail;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(systemd_ranges); i++)
                if (ranges_overlap(b->start, b->size, systemd_ranges[i].first,
                                   (uint64_t) systemd_ranges[i].last - systemd_ranges[i].first + 1)) {
                        msg = g_strdup_printf("the id block %u-%u ([IdMap] Start=%u Size=%u) overlaps %s %u-%u",
                                              b->start, b->start + b->size - 1, b->start, b->size,
                                              systemd_ranges[i].what, systemd_ranges[i].first, systemd_ranges[i].last);
                        r = -EADDRINUSE;
                        goto fail;
                }
        r = check_subid_file(b, subuid_path, &msg);
        if (r >= 0)
                r = check_subid_file(b, subgid_path, &msg);
        if (r >= 0)
                return 0;
fail:
        if (ret_message)
                *ret_message = TAKE_PTR(msg);
        return r;
}

static int compare_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

int idmap_block_find_free(const IdBlock *b, GHashTable *used, uint32_t *ret_shift) {
        g_autofree uint32_t *starts = NULL;
        GHashTableIter it;
        gpointer key;
        size_t n = 0, i = 0;

        assert(b);
        assert(used);
        assert(ret_shift);

        /* Slots taken earlier may lie anywhere (an earlier block, not aligned with this one):
         * walk the candidates and the used starts, both in order. */
        starts = g_new(uint32_t, g_hash_table_size(used) + 1);
        g_hash_table_iter_init(&it, used);
        while (g_hash_table_iter_next(&it, &key, NULL))
                starts[n++] = GPOINTER_TO_UINT(key);
        qsort(starts, n, sizeof(uint32_t), compare_u32);

        for (uint64_t s = b->start; s + IDMAP_SLOT_SIZE <= (uint64_t) b->start + b->size; s += IDMAP_SLOT_SIZE) {
                /* Used slots that end before this candidate begins matter no more. */
                while (i < n && (uint64_t) starts[i] + IDMAP_SLOT_SIZE <= s)
                        i++;
                if (i >= n || !ranges_overlap(s, IDMAP_SLOT_SIZE, starts[i], IDMAP_SLOT_SIZE)) {
                        *ret_shift = (uint32_t) s;
                        return 0;
                }
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
        GHashTableIter it;
        gpointer key;

        assert(m);
        assert(c);

        if (c->privileged)
                return 0;
        if (c->uid_shift < IDMAP_MIN_START ||
            (uint64_t) c->uid_shift + IDMAP_SLOT_SIZE > (uint64_t) UINT32_MAX)
                return -EINVAL;
        /* Ranges, not starts: a slot that begins inside another one shares its ids. */
        g_hash_table_iter_init(&it, m->uid_shifts);
        while (g_hash_table_iter_next(&it, &key, (gpointer *) &other))
                if (other != c && ranges_overlap(c->uid_shift, IDMAP_SLOT_SIZE, GPOINTER_TO_UINT(key), IDMAP_SLOT_SIZE))
                        return -EADDRINUSE;
        g_hash_table_insert(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift), c);
        return 0;
}

int manager_allocate_uid_shift(Manager *m, uint32_t *ret_shift) {
        assert(m);
        if (m->id_block_problem)
                return -EADDRNOTAVAIL;
        return idmap_block_find_free(&m->id_block, m->uid_shifts, ret_shift);
}

void manager_release_uid_shift(Manager *m, Container *c) {
        assert(m);
        assert(c);

        if (!c->privileged && g_hash_table_lookup(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift)) == c)
                g_hash_table_remove(m->uid_shifts, GUINT_TO_POINTER(c->uid_shift));
}
