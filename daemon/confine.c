/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Less privilege for workers that parse what strangers wrote: no_new_privs, a capability set cut
 * down to what writing the store needs, and a seccomp filter written by hand in classic BPF (no
 * libseccomp): the kernel interfaces a parser bug would be used to reach are refused. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include "confine.h"
#include "util.h"

#if defined(__x86_64__)
#  define CONFINE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#  define CONFINE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* Everything here is refused with EPERM. Each is a way into the kernel or out of the process that
 * unpacking a tar, decompressing, reading JSON or fetching git objects never takes. */
static const int denied_syscalls[] = {
        /* filesystems and the mount table */
        __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot,
#ifdef __NR_open_tree
        __NR_open_tree, __NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick,
#endif
#ifdef __NR_mount_setattr
        __NR_mount_setattr,
#endif
        __NR_open_by_handle_at, __NR_quotactl,
#ifdef __NR_quotactl_fd
        __NR_quotactl_fd,
#endif
        __NR_swapon, __NR_swapoff, __NR_acct,
        /* namespaces */
        __NR_unshare, __NR_setns,
        /* other processes */
        __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
#ifdef __NR_pidfd_getfd
        __NR_pidfd_getfd,
#endif
#ifdef __NR_process_madvise
        __NR_process_madvise,
#endif
        /* the kernel itself */
        __NR_kexec_load,
#ifdef __NR_kexec_file_load
        __NR_kexec_file_load,
#endif
        __NR_init_module, __NR_finit_module, __NR_delete_module,
        __NR_bpf, __NR_perf_event_open, __NR_userfaultfd,
        __NR_keyctl, __NR_add_key, __NR_request_key,
#ifdef __NR_io_uring_setup
        __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
        __NR_reboot, __NR_syslog, __NR_vhangup,
        __NR_settimeofday, __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex,
        __NR_sethostname, __NR_setdomainname, __NR_fanotify_init,
#ifdef __NR_iopl
        __NR_iopl, __NR_ioperm,
#endif
#ifdef __NR_lookup_dcookie
        __NR_lookup_dcookie,
#endif
#ifdef __NR_uselib
        __NR_uselib,
#endif
};

#define CLONE_NEW_ANY (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                       CLONE_NEWPID | CLONE_NEWNET)

#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

int confine_seccomp(void) {
#ifndef CONFINE_AUDIT_ARCH
        return -EOPNOTSUPP;
#else
        /* The low half of the first argument (clone()'s flags; CLONE_NEW* are all in it). */
        const uint32_t arg0 = offsetof(struct seccomp_data, args[0]) + (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0);
        struct sock_filter f[2 * G_N_ELEMENTS(denied_syscalls) + 16];
        struct sock_fprog prog = { .filter = f };
        size_t n = 0;

        /* Numbers mean something else under another ABI: look at the architecture first. */
        f[n++] = (struct sock_filter) LOAD(offsetof(struct seccomp_data, arch));
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CONFINE_AUDIT_ARCH, 1, 0);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_KILL_PROCESS);
        f[n++] = (struct sock_filter) LOAD(offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
        /* x32 shares the architecture value and marks its numbers with this bit. */
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_KILL_PROCESS);
#endif
        for (size_t i = 0; i < G_N_ELEMENTS(denied_syscalls); i++) {
                f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) denied_syscalls[i], 0, 1);
                f[n++] = (struct sock_filter) RET(SECCOMP_RET_ERRNO | EPERM);
        }
        /* clone(): a new process or thread is fine, a new namespace is not. */
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
        f[n++] = (struct sock_filter) LOAD(arg0);
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEW_ANY, 0, 1);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_ERRNO | EPERM);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_ALLOW);
#ifdef __NR_clone3
        /* Its flags are behind a pointer, out of the filter's sight: ENOSYS makes glibc (and Go)
         * fall back to clone(). */
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_ERRNO | ENOSYS);
#endif
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_ALLOW);
        assert(n <= G_N_ELEMENTS(f));
        prog.len = (unsigned short) n;

        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
                return -errno;
        return 0;
#endif
}

static int drop_capabilities(uint64_t keep) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        uint64_t permitted;

        /* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
        for (int c = 0; c < 64; c++) {
                int r = prctl(PR_CAPBSET_READ, (unsigned long) c, 0, 0, 0);
                if (r < 0 && errno == EINVAL)
                        break; /* past the kernel's last capability */
                if (r < 0)
                        return -errno;
                if (r > 0 && !(keep & CONFINE_CAP(c)) && prctl(PR_CAPBSET_DROP, (unsigned long) c, 0, 0, 0) < 0)
                        return -errno;
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        permitted = ((uint64_t) d[1].permitted << 32 | d[0].permitted) & keep;
        d[0].effective = d[0].permitted = (uint32_t) permitted;
        d[1].effective = d[1].permitted = (uint32_t) (permitted >> 32);
        d[0].inheritable = d[1].inheritable = 0;
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

int confine_apply(uint64_t keep) {
        int r;

        /* Nothing it execs (a decompressor, skopeo) gains privileges through set-id bits or file
         * capabilities; and it lets an unprivileged process install the filter. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        r = drop_capabilities(keep);
        if (r < 0)
                return r;
        r = confine_seccomp();
        if (r == -EOPNOTSUPP)
                return 0; /* an architecture the filter does not know: the capabilities are gone at least */
        return r;
}

/* ---- the helper that marks directories opaque ---- */

static int opaque_helper_fd = -1;

static int set_opaque(int dir_fd) {
        struct stat st;

        if (fstat(dir_fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (fsetxattr(dir_fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                return -errno;
        return 0;
}

static _Noreturn void opaque_helper_serve(int sock) {
        for (;;) {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                char byte;
                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                struct cmsghdr *c;
                int32_t answer = -EBADMSG;
                int fd = -1;
                ssize_t n;

                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(n == 0 ? EXIT_SUCCESS : EXIT_FAILURE); /* the worker is done */
                c = CMSG_FIRSTHDR(&mh);
                if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                    c->cmsg_len == CMSG_LEN(sizeof(int))) {
                        memcpy(&fd, CMSG_DATA(c), sizeof(int));
                        answer = set_opaque(fd);
                        close(fd);
                }
                if (send(sock, &answer, sizeof(answer), MSG_NOSIGNAL) != sizeof(answer))
                        _exit(EXIT_FAILURE);
        }
}

int confine_opaque_helper_start(void) {
        pid_t parent = getpid(), pid;
        int sv[2];

        if (opaque_helper_fd >= 0)
                return 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                /* Nothing of the worker's but the socket: not its input, not its result pipe. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(EXIT_FAILURE);
                if (dup2(sv[1], 3) < 0)
                        _exit(EXIT_FAILURE);
                (void) close_range(4, ~0U, 0);
                if (confine_apply(CONFINE_CAP(CAP_SYS_ADMIN)) < 0)
                        _exit(EXIT_FAILURE);
                opaque_helper_serve(3);
        }
        close(sv[1]);
        opaque_helper_fd = sv[0];
        return 0;
}

int confine_set_opaque(int dir_fd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char byte = 'o';
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *c;
        int32_t answer;
        ssize_t n;

        if (opaque_helper_fd < 0)
                return set_opaque(dir_fd);

        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &dir_fd, sizeof(int));
        while (sendmsg(opaque_helper_fd, &mh, MSG_NOSIGNAL) < 0)
                if (errno != EINTR)
                        return -errno;
        do
                n = recv(opaque_helper_fd, &answer, sizeof(answer), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n != sizeof(answer))
                return -EPIPE; /* the helper is gone */
        return answer;
}
