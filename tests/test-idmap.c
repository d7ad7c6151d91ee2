/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Id slots, the configuration of the block, /etc/subuid entries and the root's bind list:
 * the parts of the security model that need no root. */
#include <glib/gstdio.h>

#include "container.h"
#include "idmap.h"
#include "manager.h"
#include "rootfs.h"

static char *write_temp(const char *text) {
        g_autoptr(GError) e = NULL;
        char *path = NULL;
        int fd = g_file_open_tmp("cm-idmap-XXXXXX", &path, &e);

        g_assert_no_error(e);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        close(fd);
        return path;
}

static void test_block_load(void) {
        IdBlock b = { 1, 1 };
        g_autofree char *msg = NULL, *good = NULL, *low = NULL, *odd = NULL, *wrap = NULL, *junk = NULL;

        /* No file: the defaults, above useradd's SUB_UID_MAX. */
        g_assert_cmpint(idmap_block_load("/nonexistent/cm.conf", &b, NULL), ==, 0);
        g_assert_cmpuint(b.start, ==, IDMAP_DEFAULT_START);
        g_assert_cmpuint(b.size, ==, IDMAP_DEFAULT_SIZE);
        g_assert_true(idmap_block_is_valid(&b));
        g_assert_cmpuint(b.start, >=, 600100000U);

        good = write_temp("[IdMap]\nStart=2000000000\nSize=131072\n");
        g_assert_cmpint(idmap_block_load(good, &b, NULL), ==, 0);
        g_assert_cmpuint(b.start, ==, 2000000000U);
        g_assert_cmpuint(b.size, ==, 2 * IDMAP_SLOT_SIZE);

        /* Invalid blocks are refused and leave ret as it was. */
        low = write_temp("[IdMap]\nStart=100000\n");
        g_assert_cmpint(idmap_block_load(low, &b, &msg), ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "600100000"));
        g_assert_cmpuint(b.start, ==, 2000000000U);
        g_clear_pointer(&msg, g_free);
        odd = write_temp("[IdMap]\nSize=70000\n");
        g_assert_cmpint(idmap_block_load(odd, &b, &msg), ==, -EINVAL);
        g_clear_pointer(&msg, g_free);
        wrap = write_temp("[IdMap]\nStart=4294901760\nSize=65536\n");
        g_assert_cmpint(idmap_block_load(wrap, &b, &msg), ==, -EINVAL);
        g_clear_pointer(&msg, g_free);
        junk = write_temp("[IdMap]\nStart=lots\n");
        g_assert_cmpint(idmap_block_load(junk, &b, &msg), ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "Start=lots"));

        FOREACH_STRING(p, good, low, odd, wrap, junk)
                (void) g_unlink(p);
}

static void test_find_free(void) {
        IdBlock b = { .start = 2000000000U, .size = 3 * IDMAP_SLOT_SIZE };
        g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
        uint32_t s = 0;

        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_assert_cmpuint(s, ==, 2000000000U);
        g_hash_table_add(used, GUINT_TO_POINTER(s));
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_assert_cmpuint(s, ==, 2000000000U + IDMAP_SLOT_SIZE);
        g_hash_table_add(used, GUINT_TO_POINTER(s));
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_hash_table_add(used, GUINT_TO_POINTER(s));
        /* Exhausted: an error, and s untouched. */
        s = 7;
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, -ENOSPC);
        g_assert_cmpuint(s, ==, 7);
        /* A freed slot is the next one handed out. */
        g_hash_table_remove(used, GUINT_TO_POINTER(2000000000U + IDMAP_SLOT_SIZE));
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_assert_cmpuint(s, ==, 2000000000U + IDMAP_SLOT_SIZE);
}

static void test_find_free_ranges(void) {
        IdBlock b = { .start = 0x70000000U, .size = 4 * IDMAP_SLOT_SIZE };
        g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
        uint32_t s = 0;

        /* A slot of an earlier block, half a slot off: it takes ids of the first two slots. */
        g_hash_table_add(used, GUINT_TO_POINTER(0x70000000U + IDMAP_SLOT_SIZE / 2));
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_assert_cmpuint(s, ==, 0x70000000U + 2 * IDMAP_SLOT_SIZE);
        /* One ending exactly where a slot begins leaves it free; one ending a single id in takes it. */
        g_hash_table_remove_all(used);
        g_hash_table_add(used, GUINT_TO_POINTER(0x70000000U - IDMAP_SLOT_SIZE));
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_assert_cmpuint(s, ==, 0x70000000U);
        g_hash_table_add(used, GUINT_TO_POINTER(0x70000000U - IDMAP_SLOT_SIZE + 1));
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, 0);
        g_assert_cmpuint(s, ==, 0x70000000U + IDMAP_SLOT_SIZE);
        /* Misaligned slots over the whole block: nothing left. */
        for (uint32_t u = 0x70000000U + 1; u < 0x70000000U + 4 * IDMAP_SLOT_SIZE; u += IDMAP_SLOT_SIZE)
                g_hash_table_add(used, GUINT_TO_POINTER(u));
        s = 7;
        g_assert_cmpint(idmap_block_find_free(&b, used, &s), ==, -ENOSPC);
        g_assert_cmpuint(s, ==, 7);
}

static void test_block_check(void) {
        IdBlock def = { .start = IDMAP_DEFAULT_START, .size = IDMAP_DEFAULT_SIZE };
        IdBlock b = { .start = 0x78000000U, .size = 16 * IDMAP_SLOT_SIZE };
        g_autofree char *msg = NULL;
        g_autofree char *users = write_temp("alice:100000:65536\n"
                                            "# a comment\n"
                                            "\n"
                                            "root:1000000000:268435456\n"   /* the daemon's earlier block */
                                            "0:2013265920:65536\n"          /* root by number */
                                            "broken line\n"
                                            "bob:200000:65536\n");
        g_autofree char *groups_bad = write_temp("alice:100000:65536\n"
                                                 "mallory:2013331456:10\n");  /* 0x78000000 + 65536 */
        g_autofree char *users_edge = write_temp("carol:2012217344:1048576\n"     /* ends at 0x78000000 - 1 */
                                                 "dave:2014314496:65536\n");      /* begins at the block's end */

        /* The default block is clear of systemd's ranges, and aligned. */
        g_assert_cmpint(idmap_block_check(&def, NULL, NULL, &msg), ==, 0);
        g_assert_null(msg);
        g_assert_cmpuint(def.start % IDMAP_SLOT_SIZE, ==, 0);
        g_assert_true(idmap_block_is_valid(&def));
        g_assert_cmpint(idmap_block_check(&b, users, users, NULL), ==, 0);
        g_assert_cmpint(idmap_block_check(&b, users_edge, "/nonexistent/subgid", NULL), ==, 0);

        /* Another user's range in subgid, named with the user and the range. */
        g_assert_cmpint(idmap_block_check(&b, users, groups_bad, &msg), ==, -EADDRINUSE);
        g_test_message("%s", msg);
        g_assert_nonnull(strstr(msg, "mallory"));
        g_assert_nonnull(strstr(msg, "2013331456-2013331465"));
        g_assert_nonnull(strstr(msg, groups_bad));
        g_clear_pointer(&msg, g_free);
        g_assert_cmpint(idmap_block_check(&b, groups_bad, NULL, &msg), ==, -EADDRINUSE);
        g_clear_pointer(&msg, g_free);

        /* Not aligned on a slot: the block of the finding, moved by half a slot. */
        b.start += IDMAP_SLOT_SIZE / 2;
        g_assert_cmpint(idmap_block_check(&b, NULL, NULL, &msg), ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "multiple of 65536"));
        g_clear_pointer(&msg, g_free);

        /* systemd's ranges: the containers of nspawn/machined (the old default block lay in
         * it), DynamicUser=, foreign images. */
        b = (IdBlock) { .start = 0x3B9A0000U, .size = 4096 * IDMAP_SLOT_SIZE };
        g_assert_cmpint(idmap_block_check(&b, NULL, NULL, &msg), ==, -EADDRINUSE);
        g_assert_nonnull(strstr(msg, "container range"));
        g_assert_nonnull(strstr(msg, "524288-1879048191"));
        g_clear_pointer(&msg, g_free);
        b = (IdBlock) { .start = 0x6FFF0000U, .size = 2 * IDMAP_SLOT_SIZE };
        g_assert_cmpint(idmap_block_check(&b, NULL, NULL, &msg), ==, -EADDRINUSE);
        g_clear_pointer(&msg, g_free);
        b = (IdBlock) { .start = 0, .size = IDMAP_SLOT_SIZE };
        g_assert_cmpint(idmap_block_check(&b, NULL, NULL, &msg), ==, -EADDRINUSE);
        g_assert_nonnull(strstr(msg, "DynamicUser"));
        g_clear_pointer(&msg, g_free);
        b = (IdBlock) { .start = 0x7FF00000U, .size = 16 * IDMAP_SLOT_SIZE };
        g_assert_cmpint(idmap_block_check(&b, NULL, NULL, &msg), ==, -EADDRINUSE);
        g_assert_nonnull(strstr(msg, "foreign"));
        g_clear_pointer(&msg, g_free);

        FOREACH_STRING(p, users, groups_bad, users_edge)
                (void) g_unlink(p);
}

static void test_claim(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(container_freep) Container *a = NULL, *b = NULL, *p = NULL;
        uint32_t s;

        g_assert_cmpint(manager_new(NULL, "/nonexistent", "/nonexistent", "/nonexistent", &m), ==, 0);
        g_assert_cmpint(container_new(m, "a", &a), ==, 0);
        g_assert_cmpint(container_new(m, "b", &b), ==, 0);
        g_assert_cmpint(container_new(m, "p", &p), ==, 0);

        g_assert_cmpint(manager_allocate_uid_shift(m, &a->uid_shift), ==, 0);
        g_assert_cmpint(manager_claim_uid_shift(m, a), ==, 0);
        g_assert_cmpint(manager_claim_uid_shift(m, a), ==, 0);   /* idempotent */
        g_assert_cmpint(manager_allocate_uid_shift(m, &s), ==, 0);
        g_assert_cmpuint(s, ==, a->uid_shift + IDMAP_SLOT_SIZE);

        /* Never two containers on one slot, never a slot inside useradd's range. */
        b->uid_shift = a->uid_shift;
        g_assert_cmpint(manager_claim_uid_shift(m, b), ==, -EADDRINUSE);
        /* Nor on a slot that begins inside another one, on either side. */
        b->uid_shift = a->uid_shift + IDMAP_SLOT_SIZE / 2;
        g_assert_cmpint(manager_claim_uid_shift(m, b), ==, -EADDRINUSE);
        b->uid_shift = a->uid_shift - 1;
        g_assert_cmpint(manager_claim_uid_shift(m, b), ==, -EADDRINUSE);
        b->uid_shift = 100000;
        g_assert_cmpint(manager_claim_uid_shift(m, b), ==, -EINVAL);
        /* Privileged containers have no slot. */
        p->privileged = true;
        g_assert_cmpint(manager_claim_uid_shift(m, p), ==, 0);
        g_assert_cmpuint(g_hash_table_size(m->uid_shifts), ==, 1);

        manager_release_uid_shift(m, b);        /* not its slot: nothing happens */
        g_assert_cmpuint(g_hash_table_size(m->uid_shifts), ==, 1);
        manager_release_uid_shift(m, a);
        g_assert_cmpuint(g_hash_table_size(m->uid_shifts), ==, 0);
        g_assert_cmpint(manager_allocate_uid_shift(m, &s), ==, 0);
        g_assert_cmpuint(s, ==, a->uid_shift);

        /* A block that failed its check hands out nothing. */
        m->id_block_problem = g_strdup("overlaps user mallory's range");
        g_assert_cmpint(manager_allocate_uid_shift(m, &s), ==, -EADDRNOTAVAIL);
}

static void test_subid_text(void) {
        g_autofree char *t1 = NULL, *t2 = NULL, *t3 = NULL, *path = NULL, *text = NULL;
        IdBlock b = { .start = 1000000000U, .size = 65536 };

        t1 = idmap_subid_text_add("", "root", 1000000000U, 65536);
        g_assert_cmpstr(t1, ==, "root:1000000000:65536\n");
        /* Already there: nothing to write. */
        g_assert_null(idmap_subid_text_add(t1, "root", 1000000000U, 65536));
        /* Other entries are kept; a missing final newline is added. */
        t2 = idmap_subid_text_add("alice:100000:65536", "root", 1000000000U, 65536);
        g_assert_cmpstr(t2, ==, "alice:100000:65536\nroot:1000000000:65536\n");
        t3 = idmap_subid_text_add("root:100000:65536\n", "root", 1000000000U, 65536);
        g_assert_cmpstr(t3, ==, "root:100000:65536\nroot:1000000000:65536\n");

        path = write_temp("alice:100000:65536\n");
        g_assert_cmpint(idmap_subid_file_ensure(path, &b), ==, 0);
        g_assert_cmpint(idmap_subid_file_ensure(path, &b), ==, 0);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        g_assert_cmpstr(text, ==, "alice:100000:65536\nroot:1000000000:65536\n");
        (void) g_unlink(path);
}

static void test_bind_parse(void) {
        RootfsBind *b = NULL;

        g_assert_cmpint(rootfs_bind_parse("/usr usr none ro,bind 0 0", &b), ==, 0);
        g_assert_cmpstr(b->source, ==, "/usr");
        g_assert_cmpstr(b->target, ==, "usr");
        g_assert_false(b->optional);
        g_assert_false(b->create_file);
        rootfs_bind_free(b);
        g_assert_cmpint(rootfs_bind_parse("/etc/ld.so.cache /etc/ld.so.cache none ro,bind,optional,create=file 0 0", &b), ==, 0);
        g_assert_cmpstr(b->target, ==, "etc/ld.so.cache");
        g_assert_true(b->optional);
        g_assert_true(b->create_file);
        rootfs_bind_free(b);

        b = NULL;
        FOREACH_STRING(bad,
                       "/usr usr none ro 0 0",                  /* not a bind */
                       "proc proc proc ro 0 0",
                       "/usr ../usr none ro,bind 0 0",          /* out of the root */
                       "usr usr none ro,bind 0 0",              /* relative host path */
                       "/usr usr none ro,bind,idmap=container 0 0",     /* would let it remount rw */
                       "/usr usr none rw,bind 0 0",
                       "/usr",
                       "/ / none ro,bind 0 0") {
                g_assert_cmpint(rootfs_bind_parse(bad, &b), ==, -EINVAL);
                g_assert_null(b);
        }
}

static void test_spec_roundtrip(void) {
        g_autoptr(RootfsSpec) s = rootfs_spec_new(), t = NULL;
        g_autofree char *path = write_temp("");
        RootfsBind *b = NULL;

        s->stage = g_strdup("/run/x/stage");
        s->lower = g_strsplit("/l/app:/l/base", ":", -1);
        s->upper = g_strdup("/c/upper");
        s->work = g_strdup("/c/work");
        s->uid_shift = 1000065536U;
        s->id_count = IDMAP_SLOT_SIZE;
        g_assert_cmpint(rootfs_bind_parse("/usr usr none ro,bind 0 0", &b), ==, 0);
        g_ptr_array_add(s->binds, b);
        g_assert_cmpint(rootfs_spec_save(s, path), ==, 0);
        g_assert_cmpint(rootfs_spec_load(path, &t), ==, 0);
        g_assert_cmpstr(t->stage, ==, s->stage);
        g_assert_cmpstrv(t->lower, s->lower);
        g_assert_cmpstr(t->upper, ==, "/c/upper");
        g_assert_cmpuint(t->uid_shift, ==, 1000065536U);
        g_assert_cmpuint(t->id_count, ==, IDMAP_SLOT_SIZE);
        g_assert_cmpuint(t->binds->len, ==, 1);
        g_assert_cmpstr(((RootfsBind *) t->binds->pdata[0])->target, ==, "usr");
        (void) g_unlink(path);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/idmap/block-load", test_block_load);
        g_test_add_func("/idmap/find-free", test_find_free);
        g_test_add_func("/idmap/find-free-ranges", test_find_free_ranges);
        g_test_add_func("/idmap/block-check", test_block_check);
        g_test_add_func("/idmap/claim", test_claim);
        g_test_add_func("/idmap/subid-text", test_subid_text);
        g_test_add_func("/rootfs/bind-parse", test_bind_parse);
        g_test_add_func("/rootfs/spec-roundtrip", test_spec_roundtrip);
        return g_test_run();
}
