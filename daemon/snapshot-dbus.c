/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container: snapshots and Commit. */
#include "container-dbus.h"

const sd_bus_vtable container_snapshot_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_VTABLE_END
};
