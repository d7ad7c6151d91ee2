/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#define CM_ERROR_NO_SUCH_CONTAINER "org.containers.Error.NoSuchContainer"
#define CM_ERROR_NO_SUCH_IMAGE     "org.containers.Error.NoSuchImage"
#define CM_ERROR_CONTAINER_EXISTS  "org.containers.Error.ContainerExists"
#define CM_ERROR_IMAGE_EXISTS      "org.containers.Error.ImageExists"
#define CM_ERROR_IMAGE_IN_USE      "org.containers.Error.ImageInUse"
#define CM_ERROR_INVALID_NAME      "org.containers.Error.InvalidName"
#define CM_ERROR_INVALID_RUN_FILE  "org.containers.Error.InvalidRunFile"
#define CM_ERROR_BUILD_FAILED      "org.containers.Error.BuildFailed"
#define CM_ERROR_NOT_RUNNING       "org.containers.Error.NotRunning"
#define CM_ERROR_ALREADY_RUNNING   "org.containers.Error.AlreadyRunning"
#define CM_ERROR_NO_SUCH_BASE      "org.containers.Error.NoSuchBase"
#define CM_ERROR_START_FAILED      "org.containers.Error.StartFailed"
#define CM_ERROR_NO_ID_SLOT        "org.containers.Error.NoIdSlot"
#define CM_ERROR_SHUTTING_DOWN     "org.containers.Error.ShuttingDown"
#define CM_ERROR_NO_SUCH_FILE      "org.containers.Error.NoSuchFile"
#define CM_ERROR_NOT_A_DIRECTORY   "org.containers.Error.NotADirectory"
#define CM_ERROR_FILE_TOO_LARGE    "org.containers.Error.FileTooLarge"
#define CM_ERROR_OUTPUT_TOO_LARGE  "org.containers.Error.OutputTooLarge"
#define CM_ERROR_NO_SUCH_USER      "org.containers.Error.NoSuchUser"
#define CM_ERROR_INVALID_ARCHIVE   "org.containers.Error.InvalidArchive"
#define CM_ERROR_BUSY              "org.containers.Error.Busy"
#define CM_ERROR_ADDRESS_IN_USE    "org.containers.Error.AddressInUse"
#define CM_ERROR_PORT_IN_USE       "org.containers.Error.PortInUse"
#define CM_ERROR_SNAPSHOT_EXISTS   "org.containers.Error.SnapshotExists"
#define CM_ERROR_NO_SUCH_SNAPSHOT  "org.containers.Error.NoSuchSnapshot"
#define CM_ERROR_AUTOSTART_FAILED  "org.containers.Error.AutostartFailed"

extern const sd_bus_error_map cm_error_map[];
