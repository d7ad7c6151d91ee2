/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

#include "container.h"
#include "image.h"
#include "store.h"

typedef struct Fixture {
        char *dir;
        Manager *m;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autofree char *state = NULL, *run = NULL;

        f->dir = g_dir_make_tmp("cm-test-store-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        state = g_build_filename(f->dir, "state", NULL);
        run = g_build_filename(f->dir, "run", NULL);
        g_assert_cmpint(manager_new(NULL, state, run, SOURCE_ROOT "/data/bases", &f->m), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        manager_free(f->m);
        g_assert_cmpint(rm_rf(f->dir), ==, 0);
        g_free(f->dir);
}

static guint count_entries(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        guint n = 0;

        while (d && g_dir_read_name(d))
                n++;
        return n;
}

static void test_atomic_write(Fixture *f, gconstpointer data) {
        g_autofree char *path = g_build_filename(f->dir, "file", NULL);
        g_autofree char *text = NULL;
        struct stat st;

        g_assert_cmpint(store_write_file_atomic(path, "one", 3, 0600), ==, 0);
        g_assert_cmpint(store_write_file_atomic(path, "second", 6, 0644), ==, 0);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        g_assert_cmpstr(text, ==, "second");
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0644);
        /* no temporary file is left behind */
        g_assert_cmpuint(count_entries(f->dir), ==, 1);

        /* a directory that doesn't exist fails cleanly */
        g_autofree char *bad = g_build_filename(f->dir, "nope", "file", NULL);
        g_assert_cmpint(store_write_file_atomic(bad, "x", 1, 0644), ==, -ENOENT);
}

static void test_container_roundtrip(Fixture *f, gconstpointer data) {
        _cleanup_(container_freep) Container *c = NULL, *back = NULL;
        char *env[] = { "A=1", "B=two words", NULL };
        char *cmd[] = { "sh", "-c", "echo $A", NULL };

        g_assert_cmpint(container_new(f->m, "web", &c), ==, 0);
        c->image = g_strdup("busybox");
        c->environment = g_strdupv(env);
        c->command = g_strdupv(cmd);
        c->ephemeral = true;
        c->created_usec = 1234567;
        g_assert_cmpint(store_save_container(c), ==, 0);

        g_assert_cmpint(store_load_container(f->m, "web", &back), ==, 0);
        g_assert_cmpstr(back->name, ==, "web");
        g_assert_cmpstr(back->image, ==, "busybox");
        g_assert_cmpstr(back->unit, ==, "container-web.scope");
        g_assert_true(g_strv_equal((const char *const *) back->environment, (const char *const *) env));
        g_assert_true(g_strv_equal((const char *const *) back->command, (const char *const *) cmd));
        g_assert_true(back->ephemeral);
        g_assert_cmpuint(back->created_usec, ==, 1234567);
        g_assert_cmpint(back->state, ==, CONTAINER_CREATED);

        /* runtime state */
        c->state = CONTAINER_RUNNING;
        c->leader = 4242;
        c->started_usec = 99;
        c->exit_status = 3;
        g_assert_cmpint(store_save_container_runtime(c), ==, 0);
        g_assert_cmpint(store_load_container_runtime(back), ==, 0);
        g_assert_cmpint(back->state, ==, CONTAINER_RUNNING);
        g_assert_cmpint(back->leader, ==, 4242);
        g_assert_cmpuint(back->started_usec, ==, 99);
        g_assert_cmpint(back->exit_status, ==, 3);
        g_assert_cmpint(store_remove_container_runtime(c), ==, 0);
        g_assert_cmpint(store_load_container_runtime(back), ==, -ENOENT);
}

static void test_corrupt_state(Fixture *f, gconstpointer data) {
        g_autofree char *dir = g_build_filename(f->m->state_dir, "containers", "bad", NULL);
        g_autofree char *path = g_build_filename(dir, "config.json", NULL);
        Container *c = NULL;

        g_assert_cmpint(store_load_container(f->m, "missing", &c), ==, -ENOENT);
        g_assert_cmpint(mkdir_p(dir, 0700), ==, 0);
        g_assert_true(g_file_set_contents(path, "{ not json", -1, NULL));
        g_assert_cmpint(store_load_container(f->m, "bad", &c), ==, -EBADMSG);
        /* a file that names another container is not taken */
        g_assert_true(g_file_set_contents(path, "{\"Name\": \"other\", \"Image\": \"busybox\"}", -1, NULL));
        g_assert_cmpint(store_load_container(f->m, "bad", &c), ==, -EBADMSG);
        g_assert_null(c);
}

static void test_exit_status(Fixture *f, gconstpointer data) {
        int status = 0;
        uint64_t usec = 0;

        g_assert_cmpint(store_read_exit_status(f->m->runtime_dir, "web", &status, &usec), ==, -ENOENT);
        g_assert_cmpint(store_write_exit_status(f->m->runtime_dir, "web", 3 << 8), ==, 0);
        g_assert_cmpint(store_read_exit_status(f->m->runtime_dir, "web", &status, &usec), ==, 0);
        g_assert_cmpint(status, ==, 3 << 8);
        g_assert_cmpuint(usec, >, 0);
        g_assert_cmpint(store_remove_exit_status(f->m->runtime_dir, "web"), ==, 0);
        g_assert_cmpint(store_read_exit_status(f->m->runtime_dir, "web", &status, &usec), ==, -ENOENT);
}

static void test_load_skips_partial_creates(Fixture *f, gconstpointer data) {
        _cleanup_(container_freep) Container *c = NULL;
        g_autofree char *partial = g_build_filename(f->m->state_dir, "containers", ".web2.abcdef", NULL);

        g_assert_cmpint(container_new(f->m, "web", &c), ==, 0);
        c->image = g_strdup("busybox");
        g_assert_cmpint(store_save_container(c), ==, 0);
        g_assert_cmpint(mkdir_p(partial, 0700), ==, 0);

        g_assert_cmpint(manager_load(f->m), ==, 0);
        g_assert_nonnull(manager_get_container(f->m, "web"));
        g_assert_cmpuint(g_hash_table_size(f->m->containers), ==, 1);
        /* the interrupted create is cleaned away */
        g_assert_false(g_file_test(partial, G_FILE_TEST_EXISTS));
        /* the shipped bases are there */
        g_assert_nonnull(manager_get_image(f->m, "busybox"));
        g_assert_nonnull(manager_get_image(f->m, "host"));
}

static void test_base_definitions(Fixture *f, gconstpointer data) {
        g_autofree char *path = g_build_filename(f->dir, "bad.json", NULL);
        g_autoptr(GError) e = NULL;
        Image *i = NULL;

        g_assert_true(g_file_set_contents(path, "{\"Name\": \"x\", \"Bogus\": 1}", -1, NULL));
        g_assert_cmpint(image_load_base(f->m, path, &i, &e), ==, -EINVAL);
        g_assert_nonnull(strstr(e->message, "Bogus"));
        g_clear_error(&e);
        g_assert_true(g_file_set_contents(path, "{\"Name\": \"../x\"}", -1, NULL));
        g_assert_cmpint(image_load_base(f->m, path, &i, &e), ==, -EINVAL);
        g_assert_null(i);
}

static void test_busybox_assembly(Fixture *f, gconstpointer data) {
        Image *i;
        g_autofree char *sh = NULL, *bb = NULL, *target = NULL;

        g_assert_cmpint(manager_load(f->m), ==, 0);
        i = manager_get_image(f->m, "busybox");
        g_assert_nonnull(i);
        if (!image_is_usable(i)) {
                g_test_skip("no /bin/busybox on this machine");
                return;
        }
        g_assert_cmpint(image_assemble(i), ==, 0);
        bb = g_build_filename(i->rootfs, "bin", "busybox", NULL);
        sh = g_build_filename(i->rootfs, "bin", "sh", NULL);
        g_assert_true(g_file_test(bb, G_FILE_TEST_IS_EXECUTABLE));
        target = g_file_read_link(sh, NULL);
        g_assert_cmpstr(target, ==, "/bin/busybox");
        /* assembling again is a no-op */
        g_assert_cmpint(image_assemble(i), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/store/atomic-write", test_atomic_write);
        ADD("/store/container-roundtrip", test_container_roundtrip);
        ADD("/store/corrupt-state", test_corrupt_state);
        ADD("/store/exit-status", test_exit_status);
        ADD("/store/load-skips-partial-creates", test_load_skips_partial_creates);
        ADD("/image/base-definitions", test_base_definitions);
        ADD("/image/busybox-assembly", test_busybox_assembly);
        return g_test_run();
}
