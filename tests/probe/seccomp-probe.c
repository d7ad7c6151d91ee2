/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* seccomp-probe: runs inside a container and makes, one after the other, the system calls its
 * seccomp profile and capability drop list are there to refuse (data/containers-manager.seccomp).
 * Each in a child of its own, so that a call that works (a new user namespace, a personality)
 * changes nothing for the next one. Linked statically so that it runs on any base. One line each:
 *     PROBE <name> ok|<ERRNO NAME> <what was tried>
 * and "PROBE-DONE" at the end; tests/integration/test-seccomp.py compares them with what the
 * profile answers (its errno, often not the one the kernel gives a container without it). */

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define NOWHERE "/cm-seccomp-probe-nonexistent"

static const char *errname(int e) {
        switch (e) {
        case EPERM: return "EPERM";
        case ENOSYS: return "ENOSYS";
        case EACCES: return "EACCES";
        case EINVAL: return "EINVAL";
        case EBADF: return "EBADF";
        case ENOENT: return "ENOENT";
        case ENOKEY: return "ENOKEY";
        case EOPNOTSUPP: return "EOPNOTSUPP";
        case EAFNOSUPPORT: return "EAFNOSUPPORT";
        case E2BIG: return "E2BIG";
        case EFAULT: return "EFAULT";
        default: return "EOTHER";
        }
}

static void report(const char *name, long r, int e, const char *what) {
        printf("PROBE %s %s %s%s%s\n", name, r >= 0 ? "ok" : errname(e), what,
               r < 0 ? ": " : "", r < 0 ? strerror(e) : "");
        fflush(stdout);
}

/* What each probe tries; runs in a child, returns the call's result with errno set. */
static long do_unshare_user(void) { return unshare(CLONE_NEWUSER); }

static long do_clone_newuser(void) {
        long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0L, NULL, NULL, 0L);
        if (r == 0)
                _exit(0);
        return r;
}

static long do_clone3_newuser(void) {
        struct clone_args a = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
        long r = syscall(SYS_clone3, &a, sizeof(a));
        if (r == 0)
                _exit(0);
        return r;
}

/* What a user namespace gives: CAP_SYS_ADMIN over a mount namespace of its own. */
static long do_userns_mount(void) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return -1;
        return mount("none", "/tmp", "tmpfs", 0, NULL);
}

static long do_io_uring_setup(void) {
        unsigned char params[120] = {}; /* struct io_uring_params, all zero */
        return syscall(SYS_io_uring_setup, 4, params);
}
static long do_io_uring_enter(void) { return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0); }
static long do_io_uring_register(void) { return syscall(SYS_io_uring_register, -1, 0, NULL, 0); }
static long do_af_packet(void) { return socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)); }
static long do_af_packet_dgram(void) { return socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)); }
static long do_raw_ip(void) { return socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP); }
static long do_mount(void) { return mount("none", NOWHERE, "tmpfs", 0, NULL); }
static long do_umount2(void) { return umount2(NOWHERE, 0); }
static long do_pivot_root(void) { return syscall(SYS_pivot_root, NOWHERE, NOWHERE); }
static long do_open_tree(void) { return syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLOEXEC); }
static long do_move_mount(void) { return syscall(SYS_move_mount, -1, "", -1, "", 0); }
static long do_fsopen(void) { return syscall(SYS_fsopen, "tmpfs", 0); }
static long do_fsconfig(void) { return syscall(SYS_fsconfig, -1, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0); }
static long do_fsmount(void) { return syscall(SYS_fsmount, -1, 0, 0); }
static long do_fspick(void) { return syscall(SYS_fspick, AT_FDCWD, "/", 0); }
static long do_mount_setattr(void) { return syscall(SYS_mount_setattr, -1, "", 0, NULL, 0); }
static long do_keyctl(void) { return syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL); }
static long do_add_key(void) {
        return syscall(SYS_add_key, "user", "cm-seccomp-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
}
static long do_request_key(void) { return syscall(SYS_request_key, "user", "cm-seccomp-probe-absent", NULL, 0); }
/* No such command: the kernel answers EINVAL if the call reaches it. */
static long do_bpf(void) { return syscall(SYS_bpf, 0x7fff, NULL, 0); }

static long do_perf_event_open(void) {
        struct perf_event_attr a = {
                .type = PERF_TYPE_SOFTWARE,
                .size = sizeof(a),
                .config = PERF_COUNT_SW_TASK_CLOCK,
                .exclude_kernel = 1,
                .exclude_hv = 1,
        };
        return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0UL);
}

static long do_userfaultfd(void) { return syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY); }
static long do_personality_norandom(void) { return personality(ADDR_NO_RANDOMIZE); }
static long do_personality_query(void) { return personality(0xffffffff); }

static long do_setns(void) {
        int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        return fd < 0 ? -1 : setns(fd, 0);
}

static long do_name_to_handle_at(void) {
        struct { unsigned int bytes; int type; unsigned char h[128]; } fh = { .bytes = 128 };
        int mount_id;
        return name_to_handle_at(AT_FDCWD, "/proc/self/exe", (struct file_handle *) &fh, &mount_id, 0);
}

static long do_clock_settime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return clock_settime(CLOCK_REALTIME, &ts);
}

static long do_swapon(void) { return syscall(SYS_swapon, NOWHERE, 0); }
static long do_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); }
static long do_acct(void) { return syscall(SYS_acct, NULL); }

/* An ordinary program's calls keep working: a thread-less fork, a pipe, a socket. */
static long do_ordinary(void) {
        int p[2];
        if (pipe(p) < 0)
                return -1;
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0)
                _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
        char c;
        int st;
        if (read(p[0], &c, 1) != 1 || waitpid(pid, &st, 0) != pid || st != 0)
                return -1;
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return s;
}

static const struct {
        const char *name;
        long (*fn)(void);
        const char *what;
} probes[] = {
        { "unshare-user", do_unshare_user, "unshare(CLONE_NEWUSER)" },
        { "clone-newuser", do_clone_newuser, "clone(CLONE_NEWUSER)" },
        { "clone3-newuser", do_clone3_newuser, "clone3(CLONE_NEWUSER)" },
        { "userns-mount", do_userns_mount, "unshare(CLONE_NEWUSER|CLONE_NEWNS), mount tmpfs on /tmp" },
        { "io_uring_setup", do_io_uring_setup, "io_uring_setup(4)" },
        { "io_uring_enter", do_io_uring_enter, "io_uring_enter(-1)" },
        { "io_uring_register", do_io_uring_register, "io_uring_register(-1)" },
        { "af_packet", do_af_packet, "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)" },
        { "af_packet-dgram", do_af_packet_dgram, "socket(AF_PACKET, SOCK_DGRAM, ETH_P_ARP)" },
        { "raw-ip", do_raw_ip, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)" },
        { "mount", do_mount, "mount tmpfs on " NOWHERE },
        { "umount2", do_umount2, "umount2(" NOWHERE ")" },
        { "pivot_root", do_pivot_root, "pivot_root" },
        { "open_tree", do_open_tree, "open_tree(/)" },
        { "move_mount", do_move_mount, "move_mount(-1)" },
        { "fsopen", do_fsopen, "fsopen(tmpfs)" },
        { "fsconfig", do_fsconfig, "fsconfig(-1, CREATE)" },
        { "fsmount", do_fsmount, "fsmount(-1)" },
        { "fspick", do_fspick, "fspick(/)" },
        { "mount_setattr", do_mount_setattr, "mount_setattr(-1)" },
        { "keyctl", do_keyctl, "keyctl(JOIN_SESSION_KEYRING)" },
        { "add_key", do_add_key, "add_key(user, process keyring)" },
        { "request_key", do_request_key, "request_key(user)" },
        { "bpf", do_bpf, "bpf(no such command)" },
        { "perf_event_open", do_perf_event_open, "perf_event_open(task clock, self)" },
        { "userfaultfd", do_userfaultfd, "userfaultfd(UFFD_USER_MODE_ONLY)" },
        { "personality-norandom", do_personality_norandom, "personality(ADDR_NO_RANDOMIZE)" },
        { "personality-query", do_personality_query, "personality(0xffffffff)" },
        { "setns", do_setns, "setns(own net namespace)" },
        { "name_to_handle_at", do_name_to_handle_at, "name_to_handle_at(/proc/self/exe)" },
        { "clock_settime", do_clock_settime, "clock_settime(CLOCK_REALTIME, now)" },
        { "swapon", do_swapon, "swapon" },
        { "reboot", do_reboot, "reboot(bad magic)" },
        { "acct", do_acct, "acct(NULL)" },
        { "ordinary", do_ordinary, "fork, pipe, TCP socket" },
};

/* How many filters confine it (LXC's stacked on whatever the service runs under): a diagnostic. */
static void report_filters(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];

        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "Seccomp_filters:", 16) == 0)
                        printf("STATUS Seccomp_filters %d\n", atoi(line + 16));
        if (f)
                fclose(f);
}

int main(int argc, char **argv) {
        report_filters();
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
                int st;
                fflush(stdout);
                pid_t pid = fork();
                if (pid < 0) {
                        printf("PROBE %s EOTHER fork: %s\n", probes[i].name, strerror(errno));
                        continue;
                }
                if (pid == 0) {
                        errno = 0;
                        long r = probes[i].fn();
                        report(probes[i].name, r, errno, probes[i].what);
                        _exit(0);
                }
                (void) waitpid(pid, &st, 0);
        }
        printf("PROBE-DONE\n");
        fflush(stdout);
        return 0;
}
