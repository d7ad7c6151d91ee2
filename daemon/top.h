/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

typedef struct TopProcess {
        pid_t pid;              /* on the host */
        pid_t ns_pid;           /* inside the container's PID namespace */
        uid_t uid;
        char *user;
        uint64_t cpu_nsec;
        uint64_t rss_bytes;
        uint64_t threads;
        char *cmdline;
} TopProcess;

typedef struct TopInfo {
        uint64_t cpu_nsec;
        uint64_t memory_bytes;
        uint64_t tasks;
        GPtrArray *processes;   /* TopProcess*, sorted by pid */
        bool truncated;         /* processes left out or command lines cut (the limits below) */
} TopInfo;

/* Top is open to every user: its reply is bounded whatever the processes do. Each command
 * line is read up to TOP_CMDLINE_MAX bytes (never the whole of /proc/PID/cmdline) and cut
 * with TOP_CUT_MARK; at most TOP_PROCESSES_MAX processes (the lowest pids) are listed; once the
 * command lines and user names listed reach TOP_TEXT_MAX bytes, the rest show TOP_CUT_MARK
 * alone. The totals count every process. */
#define TOP_CMDLINE_MAX 4096
#define TOP_PROCESSES_MAX 1024
#define TOP_TEXT_MAX (1024 * 1024)
#define TOP_CUT_MARK "..."


void top_info_clear(TopInfo *t);

/* Reads the processes of a cgroup (e.g. "/containers.slice/container-web.scope") and all
 * its children from the cgroup file system and /proc; totals are the sums over them.
 * Processes whose uid lies in shift..shift+n_ids-1 are shown with container-side ids. */
int top_collect(const char *cgroup, uid_t shift, uint32_t n_ids, TopInfo *ret);

/* For a worker to hand its result over a pipe. */
char *top_info_serialize(const TopInfo *t);
int top_info_deserialize(const char *text, size_t size, TopInfo *ret);

/* Parses one /proc/<pid>/stat line: utime + stime in clock ticks. */
int top_parse_stat(const char *stat, uint64_t *ret_ticks);
