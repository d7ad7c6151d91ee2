/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container: the network properties (Addresses, MACAddress) and GetAddresses. */
#include "container-dbus.h"

const sd_bus_vtable container_network_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_VTABLE_END
};
