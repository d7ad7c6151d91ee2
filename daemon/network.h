/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>
#include <glib.h>

#include "lxc-config.h"
#include "manager.h"

#define NETWORK_DEFAULT_BRIDGE "cm0"
#define NETWORK_DEFAULT_SUBNET "10.89.0.0/16"
/* The service's own nftables table: created, rewritten and deleted by it alone. */
#define NETWORK_NFT_TABLE "containers-manager"
/* dnsmasq on the bridge's address with the containers' names (units/). */
#define NETWORK_DNS_UNIT "containers-manager-dns.service"

typedef enum NetworkMode {
        NETWORK_NONE,           /* loopback only */
        NETWORK_BRIDGE,         /* one veth on the bridge, an address of the subnet */
        _NETWORK_MODE_MAX,
        _NETWORK_MODE_INVALID = -EINVAL,
} NetworkMode;

const char *network_mode_to_string(NetworkMode m) _pure_;
NetworkMode network_mode_from_string(const char *s) _pure_;

typedef struct PortForward {
        char protocol[4];       /* "tcp" or "udp" */
        uint16_t host_port;
        uint16_t container_port;
} PortForward;

typedef struct Network {
        char *bridge;
        uint32_t subnet;        /* host byte order, the network's own address */
        unsigned prefix;
        GHashTable *addresses;  /* GUINT_TO_POINTER(ipv4) -> Container* (not owned) */
        GHashTable *macs;       /* "xx:xx:xx:xx:xx:xx" (not owned) -> Container* */
        GHashTable *ports;      /* "tcp/8080" (owned) -> Container* */
        /* The nft worker running now, and whether the rules changed since it was started. */
        bool sync_running;
        bool sync_again;
        bool dns_started;       /* asked systemd for the DNS unit (since the daemon started) */
} Network;

Network *network_new(void);
Network *network_free(Network *n);

/* Reads the [Network] section (Bridge=, Subnet=) of the configuration file; a missing file or
 * section leaves the defaults. */
int network_config_load(Network *n, const char *path, char **ret_message);

uint32_t network_gateway(const Network *n);
uint32_t network_broadcast(const Network *n);
char *network_ipv4_to_string(uint32_t a);

/* What a container is given: the mode and, for a bridge, its allocations. */
typedef struct NetworkAssignment {
        NetworkMode mode;
        uint32_t ipv4_address;
        char *mac_address;
        GArray *ports;          /* PortForward */
} NetworkAssignment;

void network_assignment_clear(NetworkAssignment *a);

/* What Create asked for, checked against the configuration and the allocations in use:
 * InvalidArgs, AddressInUse or PortInUse on failure; on success the address and MAC are chosen
 * when not given. Nothing is claimed: network_assignment_apply() then network_claim(). */
int network_assign(Manager *m, const char *mode, const char *ipv4, const char *mac,
                   GPtrArray *ports, NetworkAssignment *ret, sd_bus_error *error);
/* Before a start: PortInUse when a socket of the host holds one of the container's published
 * ports (a TCP listener, a bound UDP socket). */
int network_check_host_ports(const Container *c, sd_bus_error *error);

/* Moves the assignment into the container. */
void network_assignment_apply(NetworkAssignment *a, Container *c);

/* Records the container's allocations as taken (-EADDRINUSE and nothing taken on a conflict). */
int network_claim(Network *n, Container *c);
void network_release(Network *n, Container *c);

/* The lxc.net.0.* lines for the container, and the file the monitor reads to prepare the host. */
int network_write_lxc_config(Manager *m, Container *c, const char *lxc_dir, LxcConfig *cfg);

/* Rewrites the ruleset file from the allocations and, where the bridge exists, loads it with
 * nft in a worker (one at a time; a change meanwhile runs it again). */
void network_sync(Manager *m);

/* A bridged container runs: the resolver on the bridge is wanted. */
void network_container_started(Container *c);

/* In the monitor, before LXC starts a bridged container: the published ports bound (held, never
 * listening, until the monitor ends), the bridge (with the gateway's address, forwarding on) and
 * the service's nftables tables. Slow work, never on the loop. */
int network_host_prepare(const char *lxc_dir, char **ret_message);

/* Inspect's entries: Network, Addresses, MACAddress, Bridge, Ports a(sqq). */
int network_inspect_append(sd_bus_message *reply, const Container *c);

/* "10.89.0.2", for Addresses; an empty list for none. */
char **network_container_addresses(const Container *c);
