/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <glib.h>

/* The hierarchy that tracks processes: unified (v2), the hybrid's unified, or name=systemd. */
const char *cgroup_process_root(void);

/* Appends the pids of the cgroup directory dir and of all its children to pids (pid_t). */
void cgroup_collect_pids(const char *dir, GArray *pids);
/* The same, leaving out the child cgroups of dir whose names start with skip_prefix. */
void cgroup_collect_pids_except(const char *dir, const char *skip_prefix, GArray *pids);

/* The directory of pid's cgroup on the unified hierarchy (for a container's leader: its payload
 * cgroup). -EOPNOTSUPP where there is no unified hierarchy. */
int cgroup_pid_unified_path(pid_t pid, char **ret);

/* cgroup v2's freezer: asks for frozen (or thawed); the kernel reports the outcome in
 * cgroup.events ("frozen 1"), which cgroup_is_frozen() reads. */
int cgroup_set_frozen(const char *dir, bool frozen);
int cgroup_is_frozen(const char *dir);

/* Sends sig to every process of dir and its children. Returns how many got it, or -errno. */
int cgroup_kill_recursive(const char *dir, int sig);
