/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "container.h"

/* Our own MESSAGE_IDs, so `journalctl MESSAGE_ID=...` or `journalctl CONTAINER=web` tells the story. */
#define CM_MESSAGE_CONTAINER_CREATED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a01"
#define CM_MESSAGE_CONTAINER_STARTED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a02"
#define CM_MESSAGE_CONTAINER_STOPPED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a03"
#define CM_MESSAGE_CONTAINER_FAILED  "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a04"
#define CM_MESSAGE_CONTAINER_REMOVED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a05"
#define CM_MESSAGE_CONTAINER_FROZEN  "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a06"
#define CM_MESSAGE_CONTAINER_THAWED  "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a07"
#define CM_MESSAGE_CONTAINER_RENAMED "7d6f3b1f0e5a4c3e9a1b2c3d4e5f6a08"

void journal_container_event(const Container *c, const char *message_id, int priority, const char *format, ...)
        _printf_(4, 5);

typedef struct LogQuery {
        char *unit;             /* _SYSTEMD_UNIT of the container's scope */
        char **former_units;    /* its units under names it had before a Rename() ... */
        uint64_t *former_until; /* ... each up to this time (realtime): a later container of that name is another's */
        uint64_t since_usec;    /* realtime; entries before are not shown */
        uint64_t lines;         /* the last N lines of stdout and stderr together; 0: all */
        uint64_t max_bytes;     /* stdout and stderr together at most this many bytes; 0: no cap */
} LogQuery;

/* The query for c's lines (all its names) since since_usec (never before it was created). */
LogQuery *log_query_new(const Container *c, uint64_t since_usec, uint64_t lines, uint64_t max_bytes);
void log_query_free(gpointer q);

/* Logs() without "lines" returns this many: a reply must stay small even for a chatty container. */
#define JOURNAL_LOGS_DEFAULT_LINES 1000
/* No Logs() reply is bigger than this (the system bus refuses messages over 32 MiB by default). */
#define JOURNAL_LOGS_MAX_REPLY_BYTES (16U * 1024U * 1024U)
/* What the reply's header, keys and "truncated" note may take of that. */
#define JOURNAL_LOGS_REPLY_OVERHEAD 4096U

/* The cap on a Logs() reply: JOURNAL_LOGS_MAX_REPLY_BYTES, or less if the daemon's environment has
 * CONTAINERS_MANAGER_LOGS_MAX_BYTES (the tests lower it; it is never raised above the default). */
uint64_t journal_logs_max_reply_bytes(void);

/* Reads a container's output back from the journal: lines its payload wrote to stdout
 * (PRIORITY 6) and stderr (PRIORITY 3) through the scope's journal streams, in order. With a
 * byte cap the newest lines are kept; ret_left_out says how many older ones were cut for it.
 * Lines that are not valid UTF-8 are made valid here, so the cap counts what is sent. */
int journal_read_logs(const LogQuery *q, GString *out, GString *err, uint64_t *ret_left_out);

/* The wire format a log worker writes: two length-prefixed blobs and the count of lines left out. */
int journal_logs_serialize(int fd, const GString *out, const GString *err, uint64_t left_out);
int journal_logs_deserialize(const char *data, size_t size, char **ret_out, char **ret_err, uint64_t *ret_left_out);

/* FollowLogs(): the stream written to the caller's descriptor is one record per journal entry,
 * "stdout " or "stderr " followed by the line and "\n" (a newline inside an entry, which the
 * stream transport never produces, is written as a space). */
#define JOURNAL_FOLLOW_PREFIX_STDOUT "stdout "
#define JOURNAL_FOLLOW_PREFIX_STDERR "stderr "

/* Runs in a follower process: writes the last q->lines entries (0: none) newer than
 * q->since_usec, then every new one as journald receives it, to fd, until the reader goes
 * away (returns 0) or an error (a negative errno). Never returns otherwise. */
int journal_follow_logs(const LogQuery *q, int fd);

/* Starts a follower process for c writing to a copy of fd, counted as an operation (the daemon
 * does not exit on idle while one runs). It holds only that descriptor and the journal's. */
int journal_follower_start(Container *c, int fd, uint64_t lines);
/* Kills c's followers (their readers see EOF); done when c is removed. NULL-safe. */
void journal_followers_kill(Container *c);

/* journald rate-limits each unit (10000 lines in 30 s by default, the burst scaled up with free
 * disk space). Services change that with LogRateLimitIntervalSec=/LogRateLimitBurst=, which PID 1
 * hands to journald as symlinks in /run/systemd/units/ (systemd's private interface between PID 1
 * and journald, stable since v240); scopes have no such setting, so we write the same files for a
 * container's scope when its Create options ask for it, and remove them when it stops. Without
 * them, journald applies its own limits to a container like to every other unit. */
int journal_unit_rate_limit_set(const char *unit, bool set_interval, uint64_t interval_usec, bool set_burst, uint32_t burst);
int journal_unit_rate_limit_clear(const char *unit);
/* Writes the files for c's options, or removes stale ones when it has none. */
int journal_container_rate_limit_apply(const Container *c);

/* Opens a journal stream, as PID 1 does for a service's stdout: the header names the unit, so
 * journald attributes lines to it even when the process that wrote them has already exited
 * (it then cannot look up the writer's cgroup). Returns the fd or a negative errno. */
int journal_stream_open(const char *identifier, const char *unit, int priority);
