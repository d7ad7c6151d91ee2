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

typedef struct LogQuery {
        char *unit;             /* _SYSTEMD_UNIT of the container's scope */
        uint64_t since_usec;    /* realtime; entries before are not shown */
        uint64_t lines;         /* the last N lines of stdout and stderr together; 0: all */
} LogQuery;

/* Reads a container's output back from the journal: lines its payload wrote to stdout
 * (PRIORITY 6) and stderr (PRIORITY 3) through the scope's journal streams, in order. */
int journal_read_logs(const LogQuery *q, GString *out, GString *err);

/* The wire format a log worker writes: two length-prefixed blobs. */
int journal_logs_serialize(int fd, const GString *out, const GString *err);
int journal_logs_deserialize(const char *data, size_t size, char **ret_out, char **ret_err);

/* journald rate-limits each unit (10000 lines in 30 s by default, scaled by free disk space).
 * Services lift that with LogRateLimitIntervalSec=, which PID 1 hands to journald as symlinks in
 * /run/systemd/units/; scopes have no such setting, so we write the same files for a
 * container's scope: everything a container writes reaches the journal. */
int journal_unit_rate_limit_set(const char *unit, uint64_t interval_usec, unsigned burst);
int journal_unit_rate_limit_clear(const char *unit);

/* Opens a journal stream, as PID 1 does for a service's stdout: the header names the unit, so
 * journald attributes lines to it even when the process that wrote them has already exited
 * (it then cannot look up the writer's cgroup). Returns the fd or a negative errno. */
int journal_stream_open(const char *identifier, const char *unit, int priority);
