/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bridge, the containers' addresses, MACs and published ports, and the service's own
 * nftables table. The daemon only decides and writes files; processes that touch the host's
 * network (ip, nft) run in workers or in the container's monitor, never on the event loop. */
#include <arpa/inet.h>
#include <signal.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/filter.h>

#include "container.h"
#include "errors.h"
#include "log.h"
#include "network.h"
#include "options.h"
#include "scope.h"
#include "store.h"
#include "worker.h"

static const char *const network_mode_table[_NETWORK_MODE_MAX] = {
        [NETWORK_NONE] = "none",
        [NETWORK_BRIDGE] = "bridge",
};

const char *network_mode_to_string(NetworkMode m) {
        return m >= 0 && m < _NETWORK_MODE_MAX ? network_mode_table[m] : NULL;
}

NetworkMode network_mode_from_string(const char *s) {
        for (int i = 0; s && i < _NETWORK_MODE_MAX; i++)
                if (streq(network_mode_table[i], s))
                        return i;
        return _NETWORK_MODE_INVALID;
}

static int parse_subnet(const char *s, uint32_t *ret_net, unsigned *ret_prefix) {
        g_autofree char *addr = NULL;
        const char *slash = s ? strchr(s, '/') : NULL;
        struct in_addr in;
        guint64 prefix;
        uint32_t a, mask;

        if (!slash)
                return -EINVAL;
        addr = g_strndup(s, slash - s);
        if (inet_pton(AF_INET, addr, &in) != 1)
                return -EINVAL;
        /* At least the gateway and one container; at most a /8. */
        if (!g_ascii_string_to_unsigned(slash + 1, 10, 8, 30, &prefix, NULL))
                return -EINVAL;
        a = ntohl(in.s_addr);
        mask = ~(uint32_t) 0 << (32 - prefix);
        if (a & ~mask)
                return -EINVAL;
        *ret_net = a;
        *ret_prefix = (unsigned) prefix;
        return 0;
}

static bool bridge_name_is_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

Network *network_new(void) {
        Network *n = g_new0(Network, 1);

        n->bridge = g_strdup(NETWORK_DEFAULT_BRIDGE);
        assert_se(parse_subnet(NETWORK_DEFAULT_SUBNET, &n->subnet, &n->prefix) >= 0);
        n->addresses = g_hash_table_new(g_direct_hash, g_direct_equal);
        n->macs = g_hash_table_new(g_str_hash, g_str_equal);
        n->ports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        return n;
}

Network *network_free(Network *n) {
        if (!n)
                return NULL;
        g_free(n->bridge);
        g_hash_table_unref(n->addresses);
        g_hash_table_unref(n->macs);
        g_hash_table_unref(n->ports);
        g_free(n);
        return NULL;
}

int network_config_load(Network *n, const char *path, char **ret_message) {
        g_autoptr(GKeyFile) kf = NULL;
        g_autofree char *bridge = NULL, *subnet = NULL;
        uint32_t net = n->subnet;
        unsigned prefix = n->prefix;
        int r;

        assert(n);
        assert(path);

        r = key_file_load_optional(path, &kf, ret_message);
        if (r <= 0)
                return r;
        bridge = g_key_file_get_value(kf, "Network", "Bridge", NULL);
        subnet = g_key_file_get_value(kf, "Network", "Subnet", NULL);
        if (bridge && !bridge_name_is_valid(g_strstrip(bridge))) {
                if (ret_message)
                        *ret_message = g_strdup_printf("%s: [Network] Bridge=%s is not a valid interface name", path, bridge);
                return -EINVAL;
        }
        if (subnet && parse_subnet(g_strstrip(subnet), &net, &prefix) < 0) {
                if (ret_message)
                        *ret_message = g_strdup_printf("%s: [Network] Subnet=%s is not an IPv4 network address/prefix "
                                                       "(prefix 8..30, host bits zero)", path, subnet);
                return -EINVAL;
        }
        if (bridge)
                SWAP_FREE(n->bridge, g_steal_pointer(&bridge));
        n->subnet = net;
        n->prefix = prefix;
        return 0;
}

uint32_t network_gateway(const Network *n) {
        return n->subnet + 1;
}

uint32_t network_broadcast(const Network *n) {
        return n->subnet | ~(~(uint32_t) 0 << (32 - n->prefix));
}

char *network_ipv4_to_string(uint32_t a) {
        return g_strdup_printf("%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static char *subnet_to_string(const Network *n) {
        g_autofree char *a = network_ipv4_to_string(n->subnet);
        return g_strdup_printf("%s/%u", a, n->prefix);
}

static char *port_key(const char *protocol, uint16_t port) {
        return g_strdup_printf("%s/%u", protocol, port);
}

/* The local address and owner of a socket of the host that holds the port ("127.0.0.1:7777
 * (uid 0)", "*:53 (uid 0)"), from /proc/net: for messages only. The process would take a walk
 * through every /proc/PID/fd: `ss -lptn` tells it. */
static char *host_port_holder(const char *protocol, uint16_t port) {
        FOREACH_STRING(family, "", "6") {
                g_autofree char *path = g_strdup_printf("/proc/net/%s%s", protocol, family);
                g_autofree char *text = NULL;
                g_auto(GStrv) lines = NULL;

                if (!g_file_get_contents(path, &text, NULL, NULL))
                        continue;
                lines = g_strsplit(text, "\n", -1);
                for (char **l = lines + (lines[0] ? 1 : 0); *l; l++) {
                        char local[33], buf[INET6_ADDRSTRLEN] = "?";
                        unsigned lport, state, uid;
                        size_t len;

                        /* "0: 0100007F:1E61 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 ..."
                         * (0A: LISTEN, 07: a bound UDP socket), addresses as the kernel has them */
                        if (sscanf(*l, " %*u: %32[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %u",
                                   local, &lport, &state, &uid) != 4 ||
                            lport != port || state != (streq(protocol, "tcp") ? 0x0Au : 0x07u))
                                continue;
                        len = strlen(local);
                        if (len == 8) {
                                struct in_addr in = { .s_addr = (uint32_t) strtoul(local, NULL, 16) };
                                if (in.s_addr == 0)
                                        return g_strdup_printf("*:%u (uid %u)", port, uid);
                                (void) inet_ntop(AF_INET, &in, buf, sizeof(buf));
                                return g_strdup_printf("%s:%u (uid %u)", buf, port, uid);
                        }
                        if (len == 32) {
                                struct in6_addr in6;
                                for (int i = 0; i < 4; i++) {
                                        char word[9];
                                        uint32_t w;
                                        memcpy(word, local + 8 * i, 8);
                                        word[8] = 0;
                                        w = (uint32_t) strtoul(word, NULL, 16);
                                        memcpy(&in6.s6_addr[4 * i], &w, 4);
                                }
                                (void) inet_ntop(AF_INET6, &in6, buf, sizeof(buf));
                                return g_strdup_printf("[%s]:%u (uid %u)", buf, port, uid);
                        }
                }
        }
        return NULL;
}

/* Every packet for the socket dropped. */
static int socket_drop_all(int fd) {
        struct sock_filter none[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
        struct sock_fprog prog = { .len = 1, .filter = none };

        return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

/* A socket of the protocol bound to 0.0.0.0:port, with SO_REUSEADDR where reuse; -errno. */
static int host_port_bind(const char *protocol, uint16_t port, bool reuse) {
        bool tcp = streq(protocol, "tcp");
        _cleanup_close_ int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(INADDR_ANY),
        };
        int one = 1;

        if (fd < 0)
                return -errno;
        if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* Opens a socket bound to 0.0.0.0:port of the protocol, so that no other socket of the host
 * can bind an IPv4 address (nor an IPv6 one that takes IPv4 too) on the port. Bound, never
 * listening, without SO_REUSEADDR: with it, another socket with it could bind beside and
 * listen. Only when a TCP port still has connections that ended (TIME_WAIT, which refuse that
 * bind for a minute) and no listener: SO_REUSEADDR and a listener that drops every packet, which
 * holds the port as firmly. -EADDRINUSE when something on the host has it. */
static int host_port_hold(const char *protocol, uint16_t port) {
        bool tcp = streq(protocol, "tcp");
        _cleanup_close_ int fd = host_port_bind(protocol, port, false);

        if (fd >= 0) {
                /* Datagrams the DNAT rules do not take (broadcasts) are dropped, not queued. */
                if (!tcp)
                        (void) socket_drop_all(fd);
                return TAKE_FD(fd);
        }
        if (fd != -EADDRINUSE || !tcp)
                return fd;

        fd = host_port_bind(protocol, port, true);
        if (fd < 0)
                return fd;
        if (socket_drop_all(fd) < 0 || listen(fd, 1) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* Whether a socket of the host holds the port: a TCP listener or a bound UDP socket on any
 * IPv4 address, or an IPv6 one that takes IPv4 too. One bind, no waiting: fine on the loop.
 * For TCP with SO_REUSEADDR, so that a connection's TIME_WAIT does not count. */
static int host_port_busy(const char *protocol, uint16_t port) {
        _cleanup_close_ int fd = host_port_bind(protocol, port, streq(protocol, "tcp"));

        if (fd == -EADDRINUSE)
                return 1;
        return fd < 0 ? fd : 0;
}

static int host_port_error(sd_bus_error *error, const char *protocol, uint16_t port) {
        g_autofree char *holder = host_port_holder(protocol, port);

        return sd_bus_error_setf(error, CM_ERROR_PORT_IN_USE, "Host port %s/%u is in use on the host%s%s", protocol, port,
                                 holder ? ": a socket is bound to " : "", holder ?: "");
}

int network_check_host_ports(const Container *c, sd_bus_error *error) {
        for (guint i = 0; c->network == NETWORK_BRIDGE && c->ports && i < c->ports->len; i++) {
                const PortForward *f = &g_array_index(c->ports, PortForward, i);
                int r = host_port_busy(f->protocol, f->host_port);
                if (r > 0)
                        return host_port_error(error, f->protocol, f->host_port);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Cannot check host port %s/%u: %m", f->protocol, f->host_port);
        }
        return 0;
}

/* "02:00:5e:10:00:01": six hex pairs, unicast, not all zero. Lower case on return. */
static int parse_mac(const char *s, char **ret) {
        unsigned b[6];
        int n = 0;

        if (!s || strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != 6 || n != 17)
                return -EINVAL;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
                        return -EINVAL;
        if (b[0] & 1)
                return -EADDRNOTAVAIL;  /* multicast (or broadcast) */
        if ((b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0)
                return -EINVAL;
        *ret = g_ascii_strdown(s, -1);
        return 0;
}

/* A MAC some interface of the host has now (ours are in n->macs already). */
static bool mac_on_host(const char *mac) {
        g_autoptr(GDir) d = g_dir_open("/sys/class/net", 0, NULL);
        const char *fn;

        while (d && (fn = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename("/sys/class/net", fn, "address", NULL);
                g_autofree char *v = NULL;
                if (g_file_get_contents(path, &v, NULL, NULL) && streq(g_strstrip(v), mac))
                        return true;
        }
        return false;
}

static char *random_mac(Network *n) {
        for (;;) {
                uint8_t b[6];
                char *mac;

                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (uint8_t) g_random_int_range(0, 256);
                /* Locally administered, unicast. */
                b[0] = (b[0] & 0xfc) | 0x02;
                mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
                if (!g_hash_table_contains(n->macs, mac) && !mac_on_host(mac))
                        return mac;
                g_free(mac);
        }
}

void network_assignment_clear(NetworkAssignment *a) {
        if (!a)
                return;
        g_clear_pointer(&a->mac_address, g_free);
        g_clear_pointer(&a->ports, g_array_unref);
}

void network_assignment_apply(NetworkAssignment *a, Container *c) {
        c->network = a->mode;
        c->ipv4_address = a->ipv4_address;
        SWAP_FREE(c->mac_address, g_steal_pointer(&a->mac_address));
        if (c->ports)
                g_array_unref(c->ports);
        c->ports = g_steal_pointer(&a->ports);
}

int network_assign(Manager *m, const char *mode, const char *ipv4, const char *mac,
                   GPtrArray *ports, NetworkAssignment *ret, sd_bus_error *error) {
        Network *n = m->network;
        NetworkMode nm = NETWORK_BRIDGE;
        g_autofree char *mac_norm = NULL;
        g_autoptr(GArray) forwards = NULL;
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        uint32_t address = 0;
        int r;

        assert(m);
        assert(ret);

        if (mode) {
                nm = network_mode_from_string(mode);
                if (nm < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'network' must be 'bridge' or 'none', not '%s'", mode);
        }
        if (nm == NETWORK_NONE) {
                if (ipv4 || mac || (ports && ports->len > 0))
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "Options 'ipv4_address', 'mac_address' and 'ports' need network 'bridge'");
                *ret = (NetworkAssignment) { .mode = NETWORK_NONE };
                return 0;
        }

        if (ipv4) {
                struct in_addr in;
                g_autofree char *subnet = subnet_to_string(n);

                if (inet_pton(AF_INET, ipv4, &in) != 1)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'ipv4_address': '%s' is not an IPv4 address", ipv4);
                address = ntohl(in.s_addr);
                if ((address & (~(uint32_t) 0 << (32 - n->prefix))) != n->subnet ||
                    address == n->subnet || address == network_broadcast(n))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'ipv4_address': %s is not a host address of the subnet %s", ipv4, subnet);
                if (address == network_gateway(n))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'ipv4_address': %s is the gateway (the host on bridge %s)", ipv4, n->bridge);
                if (g_hash_table_contains(n->addresses, GUINT_TO_POINTER(address)))
                        return sd_bus_error_setf(error, CM_ERROR_ADDRESS_IN_USE,
                                                 "Address %s is in use by another container", ipv4);
        }
        if (mac) {
                r = parse_mac(mac, &mac_norm);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 r == -EADDRNOTAVAIL ? "Option 'mac_address': %s is a multicast address"
                                                                     : "Option 'mac_address': '%s' is not a MAC address (xx:xx:xx:xx:xx:xx)",
                                                 mac);
                if (g_hash_table_contains(n->macs, mac_norm) || mac_on_host(mac_norm))
                        return sd_bus_error_setf(error, CM_ERROR_ADDRESS_IN_USE, "MAC address %s is in use", mac_norm);
        }
        for (guint i = 0; ports && i < ports->len; i++) {
                const OptionSqq *p = g_ptr_array_index(ports, i);
                PortForward f = { .host_port = p->q[0], .container_port = p->q[1] };
                char *key;

                if (!streq(p->s, "tcp") && !streq(p->s, "udp"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'ports': protocol must be 'tcp' or 'udp', not '%s'", p->s);
                if (f.host_port == 0 || f.container_port == 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'ports': port 0 in %s %u -> %u", p->s, f.host_port, f.container_port);
                key = port_key(p->s, f.host_port);
                if (!g_hash_table_add(seen, key))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'ports': host port %s given more than once", key);
                if (g_hash_table_contains(n->ports, key))
                        return sd_bus_error_setf(error, CM_ERROR_PORT_IN_USE,
                                                 "Host port %s is published by another container", key);
                r = host_port_busy(p->s, f.host_port);
                if (r > 0)
                        return host_port_error(error, p->s, f.host_port);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Cannot check host port %s: %m", key);
                g_strlcpy(f.protocol, p->s, sizeof(f.protocol));
                if (!forwards)
                        forwards = g_array_new(false, true, sizeof(PortForward));
                g_array_append_val(forwards, f);
        }

        if (address == 0) {
                /* The lowest free one after the gateway. */
                for (uint32_t a = network_gateway(n) + 1; a < network_broadcast(n); a++)
                        if (!g_hash_table_contains(n->addresses, GUINT_TO_POINTER(a))) {
                                address = a;
                                break;
                        }
                if (address == 0) {
                        g_autofree char *subnet = subnet_to_string(n);
                        return sd_bus_error_setf(error, CM_ERROR_ADDRESS_IN_USE, "Every address of %s is in use", subnet);
                }
        }
        if (!mac_norm)
                mac_norm = random_mac(n);

        *ret = (NetworkAssignment) {
                .mode = NETWORK_BRIDGE,
                .ipv4_address = address,
                .mac_address = g_steal_pointer(&mac_norm),
                .ports = g_steal_pointer(&forwards),
        };
        return 0;
}

int network_claim(Network *n, Container *c) {
        assert(n);
        assert(c);

        if (c->network != NETWORK_BRIDGE)
                return 0;
        if (c->ipv4_address == 0 || !c->mac_address ||
            g_hash_table_contains(n->addresses, GUINT_TO_POINTER(c->ipv4_address)) ||
            g_hash_table_contains(n->macs, c->mac_address))
                return -EADDRINUSE;
        for (guint i = 0; c->ports && i < c->ports->len; i++) {
                const PortForward *f = &g_array_index(c->ports, PortForward, i);
                g_autofree char *key = port_key(f->protocol, f->host_port);
                if (g_hash_table_contains(n->ports, key))
                        return -EADDRINUSE;
        }
        g_hash_table_insert(n->addresses, GUINT_TO_POINTER(c->ipv4_address), c);
        g_hash_table_insert(n->macs, c->mac_address, c);
        for (guint i = 0; c->ports && i < c->ports->len; i++) {
                const PortForward *f = &g_array_index(c->ports, PortForward, i);
                g_hash_table_insert(n->ports, port_key(f->protocol, f->host_port), c);
        }
        return 0;
}

void network_release(Network *n, Container *c) {
        assert(n);
        assert(c);

        if (c->network != NETWORK_BRIDGE || c->network_conflict)
                return;
        if (g_hash_table_lookup(n->addresses, GUINT_TO_POINTER(c->ipv4_address)) == c)
                g_hash_table_remove(n->addresses, GUINT_TO_POINTER(c->ipv4_address));
        if (c->mac_address && g_hash_table_lookup(n->macs, c->mac_address) == c)
                g_hash_table_remove(n->macs, c->mac_address);
        for (guint i = 0; c->ports && i < c->ports->len; i++) {
                const PortForward *f = &g_array_index(c->ports, PortForward, i);
                g_autofree char *key = port_key(f->protocol, f->host_port);
                if (g_hash_table_lookup(n->ports, key) == c)
                        g_hash_table_remove(n->ports, key);
        }
}

char **network_container_addresses(const Container *c) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        if (c->network == NETWORK_BRIDGE && c->ipv4_address != 0) {
                g_autofree char *a = network_ipv4_to_string(c->ipv4_address);
                g_strv_builder_add(b, a);
        }
        return g_strv_builder_end(b);
}

static char *ruleset_path(Manager *m) {
        return g_build_filename(m->runtime_dir, "network.nft", NULL);
}

/* The veth's host end of a container: named after its id, which renames keep. */
static char *veth_name(const Container *c) {
        return g_strdup_printf("vcm%.10s", c->id);
}

/* The whole tables, replaced in one transaction: "table {}" makes the delete succeed on a host
 * that has none yet. With no bridged container left, only the deletes.
 *
 * Two tables of the same name:
 * - ip: the published ports (DNAT), outbound NAT, and the host's side of the bridge: from a
 *   container the host answers only DNS on the gateway, pings of the gateway and what belongs to
 *   a connection it made; nothing with a loopback address from the bridge gets past prerouting.
 * - bridge: each container's veth sends only its own MAC, IPv4 from its own address and ARP
 *   for its own MAC and address (as Incus's security.mac_filtering and ipv4_filtering); no IPv6
 *   (the network has none) nor other frame types. A veth of ours with no chain sends nothing. */
static char *ruleset_build(Manager *m) {
        Network *n = m->network;
        g_autoptr(GString) s = g_string_new(NULL);
        g_autoptr(GString) dnat = g_string_new(NULL);
        g_autoptr(GString) vmap = g_string_new(NULL);
        g_autoptr(GString) veths = g_string_new(NULL);
        g_autofree char *subnet = subnet_to_string(n);
        g_autofree char *gateway = network_ipv4_to_string(network_gateway(n));
        GHashTableIter it;
        Container *c;
        bool any = false;

        g_string_append(s, "# Generated by containers-manager; rewritten whenever its containers change.\n"
                        "table ip " NETWORK_NFT_TABLE " {}\n"
                        "delete table ip " NETWORK_NFT_TABLE "\n"
                        "table bridge " NETWORK_NFT_TABLE " {}\n"
                        "delete table bridge " NETWORK_NFT_TABLE "\n");
        g_hash_table_iter_init(&it, m->containers);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *) &c)) {
                g_autofree char *a = NULL, *veth = NULL, *mac = NULL;

                if (c->network != NETWORK_BRIDGE || c->network_conflict)
                        continue;
                any = true;
                /* Text from the state files goes into the ruleset only as what it must be; a
                 * container with a bad one gets no chain, and its veth sends nothing. */
                if (parse_mac(c->mac_address, &mac) < 0 || strspn(c->id, "0123456789abcdef") < 10) {
                        log_warning("Container %s: bad MAC address or id in its state, its veth is cut off", c->name);
                        continue;
                }
                a = network_ipv4_to_string(c->ipv4_address);
                for (guint i = 0; c->ports && i < c->ports->len; i++) {
                        const PortForward *f = &g_array_index(c->ports, PortForward, i);
                        /* Any of the host's own addresses, 127.0.0.1 included. */
                        g_string_append_printf(dnat, "\t\tfib daddr type local %s dport %u dnat to %s:%u\n",
                                               f->protocol, f->host_port, a, f->container_port);
                }
                veth = veth_name(c);
                g_string_append_printf(vmap, "%s\"%s\" : jump %s", vmap->len > 0 ? ", " : "", veth, veth);
                g_string_append_printf(veths,
                                       "\tchain %s {\n"
                                       "\t\tether saddr != %s drop\n"
                                       "\t\tether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
                                       "arp saddr ether %s arp saddr ip %s accept\n"
                                       "\t\tether type ip ip saddr %s accept\n"
                                       "\t\tdrop\n"
                                       "\t}\n",
                                       veth, mac, mac, a, a);
        }
        if (!any)
                return g_string_free(g_steal_pointer(&s), false);

        g_string_append_printf(s,
                        "table ip " NETWORK_NFT_TABLE " {\n"
                        /* Before conntrack and NAT: a loopback address never comes from the
                         * bridge (route_localnet is on for the published ports' sake). */
                        "\tchain raw {\n\t\ttype filter hook prerouting priority raw; policy accept;\n"
                        "\t\tiifname \"%s\" ip daddr 127.0.0.0/8 drop\n"
                        "\t\tiifname \"%s\" ip saddr 127.0.0.0/8 drop\n"
                        "\t}\n"
                        "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n%s\t}\n"
                        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n%s\t}\n"
                        /* The host itself, from a container: published ports were translated
                         * already and are forwarded, never delivered here. */
                        "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
                        "\t\tiifname \"%s\" jump from_bridge\n"
                        "\t}\n"
                        "\tchain from_bridge {\n"
                        "\t\tct state established,related accept\n"
                        "\t\tip daddr %s udp dport 53 accept\n"
                        "\t\tip daddr %s tcp dport 53 accept\n"
                        "\t\tip daddr %s icmp type echo-request accept\n"
                        "\t\tdrop\n"
                        "\t}\n"
                        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                        /* Outbound: the containers appear as the host. */
                        "\t\tip saddr %s oifname != \"%s\" masquerade\n"
                        /* 127.0.0.1:PORT forwarded to the bridge (route_localnet): replies must
                         * come back to an address the container can reach. */
                        "\t\toifname \"%s\" ip saddr 127.0.0.0/8 masquerade\n"
                        /* A container reaching a published port of the host's address: hairpin. */
                        "\t\toifname \"%s\" ip saddr %s ct status dnat masquerade\n"
                        "\t}\n"
                        "}\n",
                        n->bridge, n->bridge, dnat->str, dnat->str, n->bridge, gateway, gateway, gateway,
                        subnet, n->bridge, n->bridge, n->bridge, subnet);
        g_string_append_printf(s,
                        "table bridge " NETWORK_NFT_TABLE " {\n"
                        "\tchain prerouting {\n\t\ttype filter hook prerouting priority filter; policy accept;\n"
                        "%s%s%s"
                        "\t\tiifname \"vcm*\" drop\n"
                        "\t}\n"
                        "%s"
                        "}\n",
                        vmap->len > 0 ? "\t\tiifname vmap { " : "", vmap->str, vmap->len > 0 ? " }\n" : "",
                        veths->str);
        return g_string_free(g_steal_pointer(&s), false);
}

static int run_program(char **argv, int output_fd, char **ret_output) {
        g_autoptr(GError) e = NULL;
        g_autofree char *out = NULL;
        int status;

        /* Output to our caller's fd (a worker's pipe) or collected for an error message. */
        if (output_fd >= 0) {
                pid_t pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0) {
                        if (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0)
                                _exit(127);
                        execvp(argv[0], argv);
                        _exit(127);
                }
                if (waitpid(pid, &status, 0) < 0)
                        return -errno;
                return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
        }
        if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                          NULL, NULL, NULL, &out, &status, &e)) {
                if (ret_output)
                        *ret_output = g_strdup(e->message);
                return -ENOENT;
        }
        if (!g_spawn_check_wait_status(status, NULL)) {
                if (ret_output)
                        *ret_output = g_strdup_printf("%s failed: %s", argv[0], g_strchomp(out ?: g_strdup("")));
                return -EIO;
        }
        return 0;
}

/* Loads the ruleset file with nft, one loader at a time (the daemon's worker and starting
 * monitors), and records what was loaded: a start skips the load when the table is current.
 * Unless force, nothing is done when the record matches the file. */
static int ruleset_load(const char *path, bool force, int output_fd, char **ret_output) {
        g_autofree char *lock = g_strdup_printf("%s.lock", path);
        g_autofree char *stamp = g_strdup_printf("%s.loaded", path);
        g_autofree char *text = NULL, *loaded = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *argv[] = { (char *) "nft", (char *) "-f", (char *) path, NULL };
        int r;

        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
                return -errno;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -ENOENT;
        if (!force && g_file_get_contents(stamp, &loaded, NULL, NULL) && streq(text, loaded))
                return 0;
        (void) unlink(stamp);
        /* Whatever nft reads is at least as new as text: a record that lags only costs a load. */
        r = run_program(argv, output_fd, ret_output);
        if (r < 0)
                return r;
        return store_write_file_atomic(stamp, text, strlen(text), 0600);
}

static int nft_worker(int fd, void *data) {
        return ruleset_load(data, true, fd, NULL) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static void nft_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        Manager *m = userdata;

        m->network->sync_running = false;
        if (status != 0)
                log_warning("nft failed to load the %s table (status %d): %.*s", NETWORK_NFT_TABLE, status,
                            (int) MIN(size, 512), output ?: "");
        if (m->network->sync_again) {
                m->network->sync_again = false;
                network_sync(m);
        }
}

/* The resolver's files: its configuration, the containers' names, the containers' resolv.conf. */
static int dns_files_write(Manager *m) {
        Network *n = m->network;
        g_autofree char *dir = g_build_filename(m->runtime_dir, "dns", NULL);
        g_autofree char *hosts_dir = g_build_filename(dir, "hosts.d", NULL);
        g_autofree char *hosts = g_build_filename(hosts_dir, "containers", NULL);
        g_autofree char *hosts_tmp = g_build_filename(dir, "hosts.new", NULL);
        g_autofree char *conf = g_build_filename(dir, "dnsmasq.conf", NULL);
        g_autofree char *resolv = g_build_filename(dir, "resolv.conf", NULL);
        g_autofree char *gateway = network_ipv4_to_string(network_gateway(n));
        g_autoptr(GString) h = g_string_new("# Generated by containers-manager: its containers on the bridge.\n");
        g_autofree char *c_text = NULL, *r_text = NULL;
        GHashTableIter it;
        Container *c;
        int r;

        r = mkdir_p(hosts_dir, 0755);
        if (r >= 0 && (chmod(dir, 0755) < 0 || chmod(hosts_dir, 0755) < 0))
                r = -errno;
        if (r < 0)
                return r;
        g_hash_table_iter_init(&it, m->containers);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *) &c)) {
                g_autofree char *a = NULL;
                if (c->network != NETWORK_BRIDGE || c->network_conflict)
                        continue;
                a = network_ipv4_to_string(c->ipv4_address);
                g_string_append_printf(h, "%s %s\n", a, c->name);
        }
        /* dnsmasq watches hosts.d and reads every file that appears there (and forgets the
         * records of one that changes): the file is written beside it and moved in whole. */
        r = store_write_file_atomic(hosts_tmp, h->str, h->len, 0644);
        if (r >= 0 && rename(hosts_tmp, hosts) < 0)
                r = -errno;
        if (r < 0)
                return r;
        /* Only on the bridge's address, never on the host's other interfaces. */
        c_text = g_strdup_printf("# Generated by containers-manager.\n"
                                 "listen-address=%s\n"
                                 "bind-interfaces\n"
                                 "except-interface=lo\n"
                                 "no-hosts\n"
                                 "hostsdir=%s\n"
                                 "domain-needed\n"
                                 "pid-file=%s/dnsmasq.pid\n",
                                 gateway, hosts_dir, dir);
        r = store_write_file_atomic(conf, c_text, strlen(c_text), 0644);
        if (r < 0)
                return r;
        r_text = g_strdup_printf("# Generated by containers-manager: the resolver on bridge %s.\nnameserver %s\n",
                                 n->bridge, gateway);
        return store_write_file_atomic(resolv, r_text, strlen(r_text), 0644);
}

void network_container_started(Container *c) {
        Manager *m = c->manager;

        if (c->network != NETWORK_BRIDGE || m->network->dns_started || !m->bus)
                return;
        if (systemd_start_unit(m, NETWORK_DNS_UNIT) >= 0)
                m->network->dns_started = true;
}

void network_sync(Manager *m) {
        Network *n = m->network;
        g_autofree char *path = ruleset_path(m);
        g_autofree char *text = NULL;
        int r;

        r = dns_files_write(m);
        if (r < 0)
                log_warning_errno(r, "Cannot write the resolver's files");

        /* Always current: a start loads it itself, while a worker may still be on an old one. */
        text = ruleset_build(m);
        r = store_write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0) {
                log_warning_errno(r, "Cannot write %s", path);
                return;
        }
        if (n->sync_running) {
                n->sync_again = true;
                return;
        }
        /* No bridge yet: the first bridged start creates it and loads this file. */
        if (if_nametoindex(n->bridge) == 0 || !m->event)
                return;
        r = worker_spawn_full(m, "containers-manager nft", nft_worker, g_steal_pointer(&path), g_free, -1,
                              NULL, nft_done, m, NULL);
        if (r < 0) {
                log_warning_errno(r, "Cannot start nft");
                return;
        }
        n->sync_running = true;
}

int network_write_lxc_config(Manager *m, Container *c, const char *lxc_dir, LxcConfig *cfg) {
        Network *n = m->network;
        g_autofree char *host = g_build_filename(lxc_dir, "network.conf", NULL);
        g_autofree char *ruleset = ruleset_path(m);
        g_autofree char *address = NULL, *gateway = NULL, *broadcast = NULL;
        g_autoptr(GKeyFile) kf = NULL;
        g_autofree char *text = NULL;
        gsize len;

        if (c->network != NETWORK_BRIDGE) {
                /* A network namespace of its own with only loopback, and that up. */
                lxc_config_add(cfg, "lxc.net.0.type", "empty");
                lxc_config_add(cfg, "lxc.net.0.flags", "up");
                (void) unlink(host);
                return 0;
        }
        if (c->network_conflict)
                return -EADDRINUSE;

        address = network_ipv4_to_string(c->ipv4_address);
        gateway = network_ipv4_to_string(network_gateway(n));
        broadcast = network_ipv4_to_string(network_broadcast(n));
        /* Started by root, LXC creates the veth pair itself, also for a container in a user
         * namespace, and moves one end into it. The broadcast is given: LXC's own guess is
         * 0.0.255.255. The host end is named after the container's id, which renames keep. */
        lxc_config_add(cfg, "lxc.net.0.type", "veth");
        lxc_config_add(cfg, "lxc.net.0.link", n->bridge);
        lxc_config_add(cfg, "lxc.net.0.flags", "up");
        lxc_config_add(cfg, "lxc.net.0.name", "eth0");
        lxc_config_addf(cfg, "lxc.net.0.veth.pair", "vcm%.10s", c->id);
        lxc_config_add(cfg, "lxc.net.0.hwaddr", c->mac_address);
        lxc_config_addf(cfg, "lxc.net.0.ipv4.address", "%s/%u %s", address, n->prefix, broadcast);
        lxc_config_add(cfg, "lxc.net.0.ipv4.gateway", gateway);
        /* The resolver on the bridge; read-only, owned by host root. */
        lxc_config_addf(cfg, "lxc.mount.entry", "%s/dns/resolv.conf etc/resolv.conf none bind,ro,create=file 0 0",
                        m->runtime_dir);

        /* For the monitor: what the host needs before LXC can plug the veth in. */
        kf = g_key_file_new();
        g_key_file_set_string(kf, "Network", "Bridge", n->bridge);
        {
                g_autofree char *gw = g_strdup_printf("%s/%u", gateway, n->prefix);
                g_key_file_set_string(kf, "Network", "Gateway", gw);
        }
        g_key_file_set_string(kf, "Network", "Broadcast", broadcast);
        g_key_file_set_string(kf, "Network", "Address", address);
        g_key_file_set_string(kf, "Network", "Ruleset", ruleset);
        {
                /* Held by the monitor while the container runs. */
                g_autoptr(GStrvBuilder) b = g_strv_builder_new();
                g_auto(GStrv) ports = NULL;
                for (guint i = 0; c->ports && i < c->ports->len; i++) {
                        const PortForward *f = &g_array_index(c->ports, PortForward, i);
                        g_autofree char *key = port_key(f->protocol, f->host_port);
                        g_strv_builder_add(b, key);
                }
                ports = g_strv_builder_end(b);
                g_key_file_set_string_list(kf, "Network", "Ports", (const char * const *) ports, g_strv_length(ports));
        }
        text = g_key_file_to_data(kf, &len, NULL);
        return store_write_file_atomic(host, text, len, 0600);
}

static int write_sysctl(const char *path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return loop_write(fd, "1\n", 2);
}

/* Up, with the gateway's address: nothing for ip to do (two ioctls instead of two programs). */
static bool bridge_is_ready(const char *bridge, const char *gateway_prefix) {
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_autofree char *gateway = g_strndup(gateway_prefix, strcspn(gateway_prefix, "/"));
        struct ifreq ifr = {};
        char have[INET_ADDRSTRLEN];

        if (fd < 0 || strlen(bridge) >= sizeof(ifr.ifr_name))
                return false;
        strncpy(ifr.ifr_name, bridge, sizeof(ifr.ifr_name) - 1);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
                return false;
        ifr.ifr_addr.sa_family = AF_INET;
        if (ioctl(fd, SIOCGIFADDR, &ifr) < 0 ||
            !inet_ntop(AF_INET, &((struct sockaddr_in *) &ifr.ifr_addr)->sin_addr, have, sizeof(have)))
                return false;
        return streq(have, gateway);
}

/* The host has a neighbour (ARP) entry for the address. */
static bool neighbour_known(const char *address) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents("/proc/net/arp", &text, NULL, NULL))
                return true;    /* cannot tell: flush */
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, address) && (*l)[strlen(address)] == ' ')
                        return true;
        return false;
}

int network_host_prepare(const char *lxc_dir, char **ret_message) {
        g_autofree char *path = g_build_filename(lxc_dir, "network.conf", NULL);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) e = NULL;
        g_autofree char *bridge = NULL, *gateway = NULL, *broadcast = NULL, *ruleset = NULL, *address = NULL;
        g_autofree char *out = NULL;
        g_auto(GStrv) ports = NULL;
        bool made = false;
        int r;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;       /* loopback only */
                *ret_message = g_strdup_printf("Cannot read %s: %s", path, e->message);
                return -EINVAL;
        }
        bridge = g_key_file_get_string(kf, "Network", "Bridge", NULL);
        gateway = g_key_file_get_string(kf, "Network", "Gateway", NULL);
        broadcast = g_key_file_get_string(kf, "Network", "Broadcast", NULL);
        ruleset = g_key_file_get_string(kf, "Network", "Ruleset", NULL);
        address = g_key_file_get_string(kf, "Network", "Address", NULL);
        if (!bridge_name_is_valid(bridge) || !gateway || !broadcast || !ruleset || !address) {
                *ret_message = g_strdup_printf("%s is incomplete", path);
                return -EINVAL;
        }

        /* The published ports, held until this process (the container's monitor) ends: nothing
         * on the host takes them while the container runs. The descriptors are left open on
         * purpose; close-on-exec, so the payload never has them. */
        ports = g_key_file_get_string_list(kf, "Network", "Ports", NULL, NULL);
        for (char **p = ports; p && *p; p++) {
                const char *slash = strchr(*p, '/');
                g_autofree char *protocol = slash ? g_strndup(*p, slash - *p) : NULL;
                guint64 port;

                if (!protocol || (!streq(protocol, "tcp") && !streq(protocol, "udp")) ||
                    !g_ascii_string_to_unsigned(slash + 1, 10, 1, UINT16_MAX, &port, NULL)) {
                        *ret_message = g_strdup_printf("%s: bad port '%s'", path, *p);
                        return -EINVAL;
                }
                r = host_port_hold(protocol, (uint16_t) port);
                if (r == -EADDRINUSE) {
                        g_autofree char *holder = host_port_holder(protocol, (uint16_t) port);
                        *ret_message = g_strdup_printf("Host port %s is in use on the host%s%s", *p,
                                                       holder ? ": a socket is bound to " : "", holder ?: "");
                        return r;
                }
                if (r < 0) {
                        *ret_message = g_strdup_printf("Cannot hold host port %s: %s", *p, g_strerror(-r));
                        return r;
                }
        }

        if (if_nametoindex(bridge) == 0) {
                made = true;
                /* A MAC of its own: else the bridge takes the lowest of its ports' and changes it
                 * as containers come and go, under the containers' neighbour entries for the
                 * gateway. Two starts may race here: whoever loses the add finds the bridge made. */
                g_autofree char *mac = g_strdup_printf("02:%02x:%02x:%02x:%02x:%02x", g_random_int_range(0, 256),
                                                       g_random_int_range(0, 256), g_random_int_range(0, 256),
                                                       g_random_int_range(0, 256), g_random_int_range(0, 256));
                char *add[] = { (char *) "ip", (char *) "link", (char *) "add", bridge, (char *) "address", mac,
                                (char *) "type", (char *) "bridge", NULL };
                (void) run_program(add, -1, NULL);
                if (if_nametoindex(bridge) == 0) {
                        *ret_message = g_strdup_printf("Cannot create bridge %s", bridge);
                        return -EIO;
                }
        }
        if (made || !bridge_is_ready(bridge, gateway)) {
                char *addr[] = { (char *) "ip", (char *) "address", (char *) "replace", gateway, (char *) "broadcast",
                                 broadcast, (char *) "dev", bridge, NULL };
                char *up[] = { (char *) "ip", (char *) "link", (char *) "set", bridge, (char *) "up", NULL };
                r = run_program(addr, -1, &out);
                if (r >= 0)
                        r = run_program(up, -1, &out);
                if (r < 0) {
                        *ret_message = g_strdup_printf("Cannot set up bridge %s: %s", bridge, out ?: g_strerror(-r));
                        return r;
                }
        }
        if (neighbour_known(address)) {
                /* The address may have been a removed container's, with another MAC: the host
                 * must not keep sending to that one until its neighbour entry goes stale. */
                char *flush[] = { (char *) "ip", (char *) "neigh", (char *) "flush", (char *) "to", address,
                                  (char *) "dev", bridge, NULL };
                (void) run_program(flush, -1, NULL);
        }
        {
                /* Forwarding only once a bridge exists; 127.0.0.1:PORT may be forwarded onto it
                 * (route_localnet; the raw chain drops any loopback address from the bridge). */
                g_autofree char *localnet = g_strdup_printf("/proc/sys/net/ipv4/conf/%s/route_localnet", bridge);
                FOREACH_STRING(p, "/proc/sys/net/ipv4/ip_forward", localnet) {
                        r = write_sysctl(p);
                        if (r < 0) {
                                *ret_message = g_strdup_printf("Cannot write %s: %s", p, g_strerror(-r));
                                return r;
                        }
                }
        }
        {
                /* After a reboot (a bridge made now) always; else only when the daemon's last
                 * rules are not loaded yet. */
                r = ruleset_load(ruleset, made, -1, &out);
                if (r < 0) {
                        *ret_message = g_strdup_printf("Cannot load the nftables table %s from %s: %s", NETWORK_NFT_TABLE,
                                                       ruleset, out ?: g_strerror(-r));
                        return r;
                }
        }
        return 0;
}

int network_inspect_append(sd_bus_message *reply, const Container *c) {
        g_auto(GStrv) addresses = network_container_addresses(c);
        int r;

        r = sd_bus_message_append(reply, "{sv}", "Network", "s", network_mode_to_string(c->network));
        if (r < 0 || c->network != NETWORK_BRIDGE)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}", "MACAddress", "s", c->mac_address ?: "",
                                  "Bridge", "s", c->manager->network->bridge);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "Addresses");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, addresses);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "Ports");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a(sqq)");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sqq)");
        for (guint i = 0; r >= 0 && c->ports && i < c->ports->len; i++) {
                const PortForward *f = &g_array_index(c->ports, PortForward, i);
                r = sd_bus_message_append(reply, "(sqq)", f->protocol, f->host_port, f->container_port);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}
