/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcontainers-manager: the one header to include. */
#pragma once

#define CONTAINERS_MANAGER_INSIDE
#include <libcontainers-manager/containers-manager-generated.h>
#include <libcontainers-manager/containers-manager-client.h>
#undef CONTAINERS_MANAGER_INSIDE
