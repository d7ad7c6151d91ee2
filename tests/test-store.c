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
        c->limits.value[LIMIT_MEMORY_MAX] = UINT64_MAX - 1;     /* beyond int64: the bits round-trip */
        c->limits.value[LIMIT_CPU_QUOTA_PERCENT] = 250;
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
        g_assert_cmpuint(back->limits.value[LIMIT_MEMORY_MAX], ==, UINT64_MAX - 1);
        g_assert_cmpuint(back->limits.value[LIMIT_CPU_QUOTA_PERCENT], ==, 250);
        g_assert_cmpuint(back->limits.value[LIMIT_TASKS_MAX], ==, LIMIT_UNSET);

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
        /* a name that no container can have is not taken */
        g_assert_true(g_file_set_contents(path, "{\"Name\": \"../other\", \"Image\": \"busybox\"}", -1, NULL));
        g_assert_cmpint(store_load_container(f->m, "bad", &c), ==, -EBADMSG);
        g_assert_null(c);
}

/* Rename() renames the directory, then rewrites config.json: after a crash in between the
 * directory's name wins, the old one becomes a former name, and the file is made whole. */
static void test_interrupted_rename(Fixture *f, gconstpointer data) {
        g_autofree char *dir = g_build_filename(f->m->state_dir, "containers", "new", NULL);
        g_autofree char *path = g_build_filename(dir, "config.json", NULL);
        g_autofree char *text = NULL;
        _cleanup_(container_freep) Container *c = NULL, *again = NULL;

        g_assert_cmpint(mkdir_p(dir, 0700), ==, 0);
        g_assert_true(g_file_set_contents(path, "{\"Name\": \"old\", \"Image\": \"busybox\", \"Privileged\": false, "
                                          "\"UidShift\": 1000079872}", -1, NULL));
        g_assert_cmpint(store_load_container(f->m, "new", &c), ==, 0);
        g_assert_cmpstr(c->name, ==, "new");
        g_assert_nonnull(c->former_names);
        g_assert_cmpuint(c->former_names->len, ==, 1);
        g_assert_cmpstr(g_array_index(c->former_names, FormerName, 0).name, ==, "old");
        /* a file without an Id (an older release) got one, for good */
        g_assert_cmpuint(strlen(c->id), ==, 32);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        g_assert_nonnull(strstr(text, "\"Name\":\"new\"") ?: strstr(text, "\"Name\" : \"new\""));

        g_assert_cmpint(store_load_container(f->m, "new", &again), ==, 0);
        g_assert_cmpstr(again->id, ==, c->id);
        g_assert_cmpuint(again->former_names->len, ==, 1);
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
        /* the interrupted create is not removed on the way to the bus name: it is left for the
         * start-up worker (manager_start_background_work()) */
        g_assert_true(g_file_test(partial, G_FILE_TEST_EXISTS));
        g_assert_cmpuint(f->m->leftovers->len, ==, 1);
        g_assert_cmpstr(f->m->leftovers->pdata[0], ==, partial);
        /* the shipped bases are there */
        g_assert_nonnull(manager_get_image(f->m, "busybox"));
        g_assert_nonnull(manager_get_image(f->m, "host"));

        /* exis-python extends host: host's mounts and symlinks first, then its own */
        Image *py = manager_get_image(f->m, "exis-python");
        g_assert_nonnull(py);
        g_assert_null(py->extends);
        g_assert_true(g_strv_contains((const char *const *) py->mounts, "/usr usr none ro,bind 0 0"));
        g_assert_true(g_strv_contains((const char *const *) py->symlinks, "bin=usr/bin"));
        g_assert_true(g_strv_contains((const char *const *) py->symlinks, "opt/exis-python/bin/python=/usr/bin/python3"));
        g_assert_true(g_strv_contains((const char *const *) py->requires, "/usr/bin/python3"));
        /* One PATH (exis-python's, in host's place), not host's and then its own. */
        guint n_path = 0;
        for (char **e = py->environment; *e; e++)
                if (g_str_has_prefix(*e, "PATH=")) {
                        n_path++;
                        g_assert_true(g_str_has_prefix(*e, "PATH=/opt/exis-python/bin:"));
                }
        g_assert_cmpuint(n_path, ==, 1);
}

static void test_image_roundtrip(Fixture *f, gconstpointer data) {
        char *cmd[] = { "python", "-m", "app", NULL };
        char *env[] = { "A=1", NULL };
        Image i = {
                .name = "hello", .base = "busybox", .command = cmd, .environment = env,
                .working_directory = "/app", .url = "https://example.org/x.git", .branch = "main",
                .commit = "0123456789abcdef0123456789abcdef01234567", .run_digest = "ab", .created_usec = 42,
        };
        _cleanup_(image_freep) Image *back = NULL;
        g_autofree char *layer = NULL;

        g_assert_cmpint(store_save_image(&i, f->dir), ==, 0);
        g_assert_cmpint(store_load_image(f->m, f->dir, &back), ==, 0);
        g_assert_cmpstr(back->name, ==, "hello");
        g_assert_cmpstr(back->base, ==, "busybox");
        g_assert_true(g_strv_equal((const char *const *) back->command, (const char *const *) cmd));
        g_assert_cmpstr(back->branch, ==, "main");
        g_assert_null(back->subdir);
        g_assert_cmpstr(back->commit, ==, i.commit);
        g_assert_cmpuint(back->created_usec, ==, 42);
        g_assert_false(back->is_base);
        layer = g_build_filename(f->dir, "layer", NULL);
        g_assert_cmpstr(back->layer, ==, layer);
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

static void test_remove_tree(Fixture *f, gconstpointer data) {
        g_autofree char *dir = g_build_filename(f->m->state_dir, "containers", "web", "upper", "deep", NULL);
        g_autofree char *top = g_build_filename(f->m->state_dir, "containers", "web", NULL);
        g_autofree char *file = g_build_filename(dir, "f", NULL);

        g_assert_cmpint(mkdir_p(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(file, "x", -1, NULL));
        g_assert_cmpint(manager_remove_tree(f->m, top), ==, 0);
        g_assert_false(g_file_test(top, G_FILE_TEST_EXISTS));
        /* without an event loop nothing is left for later either */
        g_assert_cmpuint(count_entries(f->m->state_dir), ==, 1); /* containers/ */
        g_assert_cmpint(manager_remove_tree(f->m, top), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/store/atomic-write", test_atomic_write);
        ADD("/store/container-roundtrip", test_container_roundtrip);
        ADD("/store/corrupt-state", test_corrupt_state);
        ADD("/store/interrupted-rename", test_interrupted_rename);
        ADD("/store/exit-status", test_exit_status);
        ADD("/store/load-skips-partial-creates", test_load_skips_partial_creates);
        ADD("/image/base-definitions", test_base_definitions);
        ADD("/image/roundtrip", test_image_roundtrip);
        ADD("/store/remove-tree", test_remove_tree);
        ADD("/image/busybox-assembly", test_busybox_assembly);
        return g_test_run();
}
