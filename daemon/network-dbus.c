/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container: the network properties (Addresses, MACAddress) and GetAddresses. */
#include <sys/socket.h>

#include "container-dbus.h"
#include "container.h"
#include "network.h"

static int property_get_addresses(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_auto(GStrv) addresses = network_container_addresses(c);

        return sd_bus_message_append_strv(reply, addresses);
}

static int property_get_mac_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;

        return sd_bus_message_append(reply, "s", c->network == NETWORK_BRIDGE && c->mac_address ? c->mac_address : "");
}

/* As machined's GetAddresses: (family, address bytes), here the allocation, running or not. */
static int method_get_addresses(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Container *c = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(iay)");
        if (r < 0)
                return r;
        if (c->network == NETWORK_BRIDGE && c->ipv4_address != 0) {
                uint8_t b[4] = {
                        c->ipv4_address >> 24, (c->ipv4_address >> 16) & 0xff,
                        (c->ipv4_address >> 8) & 0xff, c->ipv4_address & 0xff,
                };
                r = sd_bus_message_open_container(reply, 'r', "iay");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "i", (int32_t) AF_INET);
                if (r >= 0)
                        r = sd_bus_message_append_array(reply, 'y', b, sizeof(b));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Allocations are made at Create and kept until Remove: they never change. */
const sd_bus_vtable container_network_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Addresses", "as", property_get_addresses, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MACAddress", "s", property_get_mac_address, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("GetAddresses", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(iay)", addresses),
                                method_get_addresses, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
