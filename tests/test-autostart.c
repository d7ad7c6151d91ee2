/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The order drop-ins of autostart (no bus, no systemd: a directory stands in for /etc/systemd/system). */
#include "autostart.h"
#include "container.h"

typedef struct Fixture {
        char *dir;
        Manager *m;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autofree char *state = NULL, *run = NULL;

        f->dir = g_dir_make_tmp("cm-test-autostart-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        state = g_build_filename(f->dir, "state", NULL);
        run = g_build_filename(f->dir, "run", NULL);
        g_assert_cmpint(manager_new(NULL, state, run, SOURCE_ROOT "/data/bases", &f->m), ==, 0);
        g_free(f->m->unit_dir);
        f->m->unit_dir = g_build_filename(f->dir, "units", NULL);
        g_assert_cmpint(mkdir_p(f->m->unit_dir, 0755), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        manager_free(f->m);
        g_assert_cmpint(rm_rf(f->dir), ==, 0);
        g_free(f->dir);
}

static Container *add(Fixture *f, const char *name, bool autostart, int32_t priority) {
        Container *c = NULL;

        g_assert_cmpint(container_new(f->m, name, &c), ==, 0);
        c->policy.autostart = autostart;
        c->policy.autostart_priority = priority;
        g_hash_table_insert(f->m->containers, c->name, c);
        return c;
}

static char *dropin(Fixture *f, const char *unit) {
        g_autofree char *path = g_build_filename(f->m->unit_dir, unit, AUTOSTART_DROPIN_NAME, NULL);
        char *text = NULL;

        return g_file_get_contents(path, &text, NULL, NULL) ? text : NULL;
}

static void test_unit_name(Fixture *f, gconstpointer data) {
        g_autofree char *a = autostart_unit_name("web"), *b = autostart_unit_name("my-web.1");

        g_assert_cmpstr(a, ==, "container@web.service");
        g_assert_cmpstr(b, ==, "container@my\\x2dweb.1.service");
}

static void test_order(Fixture *f, gconstpointer data) {
        g_autofree char *hi = NULL, *mid = NULL, *lo = NULL, *plain = NULL;

        add(f, "hi", true, 10);
        add(f, "mid-a", true, 5);
        add(f, "mid-b", true, 5);
        add(f, "lo", true, -3);
        add(f, "plain", false, 100);    /* no autostart: orders nothing, is ordered after nothing */

        hi = autostart_order_dropin(f->m->containers, "hi", true, 10);
        g_assert_null(hi);
        mid = autostart_order_dropin(f->m->containers, "mid-a", true, 5);
        g_assert_nonnull(mid);
        g_assert_nonnull(strstr(mid, "[Unit]\nAfter=container@hi.service\n"));
        g_assert_null(strstr(mid, "mid\\x2db")); /* equal priorities: no order between them */
        lo = autostart_order_dropin(f->m->containers, "lo", true, -3);
        g_assert_nonnull(strstr(lo, "After=container@hi.service\nAfter=container@mid\\x2da.service\n"
                                    "After=container@mid\\x2db.service\n"));
        g_assert_null(strstr(lo, "plain"));
        plain = autostart_order_dropin(f->m->containers, "plain", false, 100);
        g_assert_null(plain);
}

static void test_write(Fixture *f, gconstpointer data) {
        g_autofree char *lo = NULL, *mid = NULL, *stray = NULL, *other = NULL, *keep = NULL;
        Container *c;

        add(f, "hi", true, 10);
        c = add(f, "lo", true, 0);
        g_assert_cmpint(autostart_write_dropins(f->m), >, 0);
        lo = dropin(f, "container@lo.service.d");
        g_assert_nonnull(lo);
        g_assert_nonnull(strstr(lo, "After=container@hi.service\n"));
        g_assert_null(dropin(f, "container@hi.service.d"));
        /* unchanged: nothing written */
        g_assert_cmpint(autostart_write_dropins(f->m), ==, 0);

        /* a stale one of ours goes with its directory; a user's own drop-in stays */
        stray = g_build_filename(f->m->unit_dir, "container@gone.service.d", NULL);
        g_assert_cmpint(mkdir_p(stray, 0755), ==, 0);
        keep = g_build_filename(f->m->unit_dir, "container@lo.service.d", "user.conf", NULL);
        g_assert_true(g_file_set_contents(keep, "[Unit]\n", -1, NULL));
        other = g_build_filename(stray, AUTOSTART_DROPIN_NAME, NULL);
        g_assert_true(g_file_set_contents(other, "[Unit]\nAfter=x.service\n", -1, NULL));
        c->policy.autostart = false;
        g_assert_cmpint(autostart_write_dropins(f->m), >, 0);
        g_assert_false(g_file_test(stray, G_FILE_TEST_EXISTS));
        g_assert_null(dropin(f, "container@lo.service.d"));
        g_assert_true(g_file_test(keep, G_FILE_TEST_EXISTS));

        /* priorities swapped: the other one gets the drop-in */
        c->policy.autostart = true;
        c->policy.autostart_priority = 20;
        g_assert_cmpint(autostart_write_dropins(f->m), >, 0);
        mid = dropin(f, "container@hi.service.d");
        g_assert_nonnull(strstr(mid, "After=container@lo.service\n"));
        g_assert_null(dropin(f, "container@lo.service.d"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/autostart/unit-name", test_unit_name);
        ADD("/autostart/order", test_order);
        ADD("/autostart/write", test_write);
        return g_test_run();
}
