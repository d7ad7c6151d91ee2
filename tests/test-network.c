/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* network.c without a host network: the configuration, the checks of Create's options, the
 * allocations, and the a(sqq) option type. */
#include <sys/socket.h>

#include "container.h"
#include "errors.h"
#include "network.h"
#include "options.h"

static void test_mode_table(void) {
        for (int i = 0; i < _NETWORK_MODE_MAX; i++)
                g_assert_cmpint(network_mode_from_string(network_mode_to_string(i)), ==, i);
        g_assert_cmpint(network_mode_from_string("host"), ==, _NETWORK_MODE_INVALID);
        g_assert_cmpint(network_mode_from_string(NULL), ==, _NETWORK_MODE_INVALID);
        g_assert_null(network_mode_to_string(_NETWORK_MODE_MAX));
}

static int load(Network *n, const char *text, char **ret_message) {
        g_autofree char *path = NULL;
        int fd = g_file_open_tmp("cm-test-network-XXXXXX", &path, NULL);
        int r;

        g_assert_cmpint(fd, >=, 0);
        close(fd);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        r = network_config_load(n, path, ret_message);
        unlink(path);
        return r;
}

static void test_config(void) {
        Network *n = network_new();
        g_autofree char *a = NULL, *msg = NULL;

        g_assert_cmpstr(n->bridge, ==, "cm0");
        a = network_ipv4_to_string(network_gateway(n));
        g_assert_cmpstr(a, ==, "10.89.0.1");
        g_clear_pointer(&a, g_free);
        a = network_ipv4_to_string(network_broadcast(n));
        g_assert_cmpstr(a, ==, "10.89.255.255");
        g_clear_pointer(&a, g_free);

        g_assert_cmpint(network_config_load(n, "/nonexistent/containers-manager.conf", NULL), ==, 0);
        g_assert_cmpint(load(n, "[IdMap]\nStart=1000000000\n", NULL), ==, 0);
        g_assert_cmpstr(n->bridge, ==, "cm0");

        g_assert_cmpint(load(n, "[Network]\nBridge=br-test\nSubnet=192.168.50.0/24\n", NULL), ==, 0);
        g_assert_cmpstr(n->bridge, ==, "br-test");
        a = network_ipv4_to_string(network_broadcast(n));
        g_assert_cmpstr(a, ==, "192.168.50.255");

        /* host bits set, a prefix too long or too short, a name too long: refused, nothing changed */
        FOREACH_STRING(bad, "[Network]\nSubnet=192.168.50.1/24\n", "[Network]\nSubnet=10.0.0.0/31\n",
                       "[Network]\nSubnet=10.0.0.0/7\n", "[Network]\nSubnet=10.0.0.0\n",
                       "[Network]\nBridge=a-very-long-bridge-name\n", "[Network]\nBridge=a/b\n") {
                g_clear_pointer(&msg, g_free);
                g_assert_cmpint(load(n, bad, &msg), ==, -EINVAL);
                g_assert_nonnull(msg);
                g_assert_cmpstr(n->bridge, ==, "br-test");
                g_assert_cmpuint(n->prefix, ==, 24);
        }
        network_free(n);
}

typedef struct Fixture {
        char *dir;
        Manager *m;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autofree char *state = NULL, *run = NULL;

        f->dir = g_dir_make_tmp("cm-test-network-XXXXXX", NULL);
        state = g_build_filename(f->dir, "state", NULL);
        run = g_build_filename(f->dir, "run", NULL);
        g_assert_cmpint(manager_new(NULL, state, run, SOURCE_ROOT "/data/bases", &f->m), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        manager_free(f->m);
        g_assert_cmpint(rm_rf(f->dir), ==, 0);
        g_free(f->dir);
}

static GPtrArray *ports(const char *proto, uint16_t host, uint16_t container) {
        GPtrArray *a = g_ptr_array_new();
        OptionSqq *o = g_new0(OptionSqq, 1);

        /* Freed by the test (the parser's free function is private to options.c). */
        o->s = g_strdup(proto);
        o->q[0] = host;
        o->q[1] = container;
        g_ptr_array_add(a, o);
        return a;
}

static void ports_free(GPtrArray *a) {
        for (guint i = 0; i < a->len; i++) {
                OptionSqq *o = g_ptr_array_index(a, i);
                g_free(o->s);
                g_free(o);
        }
        g_ptr_array_unref(a);
}

/* Assigns and claims, as Create does; returns the error's name or NULL. */
static const char *assign(Fixture *f, const char *name, const char *mode, const char *ipv4, const char *mac,
                          GPtrArray *p, Container **ret) {
        static char error_name[128];
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(network_assignment_clear) NetworkAssignment a = {};
        Container *c = NULL;

        if (network_assign(f->m, mode, ipv4, mac, p, &a, &e) < 0) {
                g_strlcpy(error_name, e.name, sizeof(error_name));
                return error_name;
        }
        g_assert_cmpint(container_new(f->m, name, &c), ==, 0);
        container_new_id(c);
        network_assignment_apply(&a, c);
        g_assert_cmpint(network_claim(f->m->network, c), ==, 0);
        g_hash_table_insert(f->m->containers, c->name, c);
        if (ret)
                *ret = c;
        return NULL;
}

static void test_assign(Fixture *f, gconstpointer data) {
        Container *web = NULL, *b = NULL, *none = NULL;
        g_auto(GStrv) addresses = NULL;
        GPtrArray *p;
        unsigned first;

        p = ports("tcp", 8080, 80);
        g_assert_null(assign(f, "web", NULL, "10.89.0.20", NULL, p, &web));
        ports_free(p);
        g_assert_cmpint(web->network, ==, NETWORK_BRIDGE);
        addresses = network_container_addresses(web);
        g_assert_cmpstr(addresses[0], ==, "10.89.0.20");
        g_assert_null(addresses[1]);
        /* random: locally administered unicast */
        g_assert_nonnull(web->mac_address);
        g_assert_cmpuint(strlen(web->mac_address), ==, 17);
        first = (unsigned) g_ascii_strtoull(web->mac_address, NULL, 16);
        g_assert_cmpuint(first & 3, ==, 2);

        g_assert_null(assign(f, "b", "bridge", NULL, "02:00:00:00:00:0A", NULL, &b));
        g_assert_cmpstr(b->mac_address, ==, "02:00:00:00:00:0a");
        g_clear_pointer(&addresses, g_strfreev);
        addresses = network_container_addresses(b);
        g_assert_cmpstr(addresses[0], ==, "10.89.0.2");      /* the lowest free one */

        g_assert_null(assign(f, "none", "none", NULL, NULL, NULL, &none));
        g_assert_cmpint(none->network, ==, NETWORK_NONE);
        g_clear_pointer(&addresses, g_strfreev);
        addresses = network_container_addresses(none);
        g_assert_null(addresses[0]);

        g_assert_cmpstr(assign(f, "x", NULL, "10.89.0.20", NULL, NULL, NULL), ==, CM_ERROR_ADDRESS_IN_USE);
        g_assert_cmpstr(assign(f, "x", NULL, NULL, "02:00:00:00:00:0a", NULL, NULL), ==, CM_ERROR_ADDRESS_IN_USE);
        FOREACH_STRING(bad, "10.90.0.1", "10.89.0.1", "10.89.0.0", "10.89.255.255", "10.89.0", "x", "10.89.0.300")
                g_assert_cmpstr(assign(f, "x", NULL, bad, NULL, NULL, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);
        FOREACH_STRING(bad, "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:00:00:00:00",
                       "02-00-00-00-00-01", "02:00:00:00:00:0g", "02:00:00:00:00:010")
                g_assert_cmpstr(assign(f, "x", NULL, NULL, bad, NULL, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpstr(assign(f, "x", "host", NULL, NULL, NULL, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpstr(assign(f, "x", "none", "10.89.0.30", NULL, NULL, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);

        p = ports("tcp", 8080, 81);
        g_assert_cmpstr(assign(f, "x", NULL, NULL, NULL, p, NULL), ==, CM_ERROR_PORT_IN_USE);
        ports_free(p);
        p = ports("udp", 8080, 81);      /* another protocol, another port */
        g_assert_null(assign(f, "u", NULL, NULL, NULL, p, NULL));
        ports_free(p);
        FOREACH_STRING(proto, "sctp", "TCP", "") {
                p = ports(proto, 9000, 80);
                g_assert_cmpstr(assign(f, "x", NULL, NULL, NULL, p, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);
                ports_free(p);
        }
        p = ports("tcp", 0, 80);
        g_assert_cmpstr(assign(f, "x", NULL, NULL, NULL, p, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);
        ports_free(p);
        p = ports("tcp", 9000, 80);
        {
                GPtrArray *again = ports("tcp", 9000, 81);
                g_ptr_array_add(p, g_ptr_array_steal_index(again, 0));
                g_ptr_array_unref(again);
        }
        g_assert_cmpstr(assign(f, "x", NULL, NULL, NULL, p, NULL), ==, SD_BUS_ERROR_INVALID_ARGS);
        ports_free(p);

        /* A claim that conflicts takes nothing; a release frees everything. */
        g_assert_cmpint(network_claim(f->m->network, web), ==, -EADDRINUSE);
        network_release(f->m->network, web);
        g_assert_null(assign(f, "web2", NULL, "10.89.0.20", web->mac_address, NULL, NULL));
        p = ports("tcp", 8080, 80);
        g_assert_null(assign(f, "web3", NULL, NULL, NULL, p, NULL));
        ports_free(p);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/network/mode-table", test_mode_table);
        g_test_add_func("/network/config", test_config);
        g_test_add("/network/assign", Fixture, NULL, fixture_setup, test_assign, fixture_teardown);
        return g_test_run();
}
