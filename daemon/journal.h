/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "container.h"

/* Our own MESSAGE_IDs, so `journalctl MESSAGE_ID=...` or `journalctl CONTAINER=web` tells the story. */
#define CM_MESSAGE_CONTAINER_CREATED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a01"
#define CM_MESSAGE_CONTAINER_STARTED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a02"
#define CM_MESSAGE_CONTAINER_STOPPED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a03"
#define CM_MESSAGE_CONTAINER_FAILED  "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a04"
#define CM_MESSAGE_CONTAINER_REMOVED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a05"

void journal_container_event(const Container *c, const char *message_id, int priority, const char *format, ...)
        _printf_(4, 5);
