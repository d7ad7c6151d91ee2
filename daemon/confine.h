/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <linux/capability.h>

/* Confinement for a forked worker before it reads untrusted data (archives, image configs, git
 * objects): it stays host root, which the store needs, but loses what no parser needs. */

#define CONFINE_CAP(c) (UINT64_C(1) << (c))
/* What writing trees into the store takes: owners and modes as the archive says, device nodes
 * (overlayfs whiteouts), directories of any owner. */
#define CONFINE_CAPS_STORE                                                                      \
        (CONFINE_CAP(CAP_CHOWN) | CONFINE_CAP(CAP_DAC_OVERRIDE) | CONFINE_CAP(CAP_DAC_READ_SEARCH) | \
         CONFINE_CAP(CAP_FOWNER) | CONFINE_CAP(CAP_FSETID) | CONFINE_CAP(CAP_MKNOD))

/* In this order: no_new_privs; every capability not in keep leaves the bounding set; the
 * effective and permitted sets become keep, the inheritable and ambient ones empty; then a
 * seccomp filter (confine_seccomp()). Irreversible, for the calling process and what it forks
 * or execs. Returns 0 or -errno (the process may be half confined then: it should exit). */
int confine_apply(uint64_t keep);

/* The seccomp filter alone: mount and the new mount API, pivot_root, chroot, unshare, setns,
 * clone() with any CLONE_NEW* flag (clone3() says ENOSYS: its flags cannot be seen, and the C
 * library falls back to clone()), ptrace and other processes' memory, kexec, modules, bpf,
 * perf_event_open, keyrings, io_uring, userfaultfd, open_by_handle_at, reboot, swap, clocks,
 * host names, quotas, acct, syslog, ioperm/iopl: EPERM. A system call of another architecture
 * (i386 or x32 on x86-64) kills the process. -EOPNOTSUPP on architectures it does not know. */
int confine_seccomp(void);

/* overlayfs marks an opaque directory with the trusted.overlay.opaque xattr, which needs
 * CAP_SYS_ADMIN, which a confined worker no longer has. Before confining itself, a worker that
 * must write them starts a helper: a child that keeps CAP_SYS_ADMIN (only that, behind the same
 * seccomp filter) and does nothing but set that xattr on directories sent to it. */
int confine_opaque_helper_start(void);
/* Sets trusted.overlay.opaque=y on the directory dir_fd: through the helper once one was started
 * (this process), directly otherwise. 0 or -errno. */
int confine_set_opaque(int dir_fd);
