/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "errors.h"

/* One table, registered once with sd_bus_error_add_map(): it lets
 * sd_bus_error_set_errno() and clients map our names to errno values. */
const sd_bus_error_map cm_error_map[] = {
        SD_BUS_ERROR_MAP(CM_ERROR_NO_SUCH_CONTAINER, ENXIO),
        SD_BUS_ERROR_MAP(CM_ERROR_NO_SUCH_IMAGE, ENOENT),
        SD_BUS_ERROR_MAP(CM_ERROR_CONTAINER_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(CM_ERROR_IMAGE_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(CM_ERROR_IMAGE_IN_USE, EBUSY),
        SD_BUS_ERROR_MAP(CM_ERROR_INVALID_NAME, EINVAL),
        SD_BUS_ERROR_MAP(CM_ERROR_INVALID_RUN_FILE, EBADMSG),
        SD_BUS_ERROR_MAP(CM_ERROR_BUILD_FAILED, EIO),
        SD_BUS_ERROR_MAP(CM_ERROR_NOT_RUNNING, ESRCH),
        SD_BUS_ERROR_MAP(CM_ERROR_ALREADY_RUNNING, EALREADY),
        SD_BUS_ERROR_MAP(CM_ERROR_NO_SUCH_BASE, ENOENT),
        SD_BUS_ERROR_MAP(CM_ERROR_START_FAILED, EIO),
        SD_BUS_ERROR_MAP(CM_ERROR_NO_ID_SLOT, ENOSPC),
        SD_BUS_ERROR_MAP(CM_ERROR_SHUTTING_DOWN, ESHUTDOWN),
        SD_BUS_ERROR_MAP_END
};
