/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Manager: images and containers that move: ExportImage, ImportImage, ExportContainer, ImportContainer, PullImage. */
#include "manager-dbus.h"

const sd_bus_vtable manager_transfer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_VTABLE_END
};
