/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* escape-probe: runs inside a container and tries, one after the other, what a container must
 * not be able to do to its host. Linked statically so that it runs on any base (busybox has no
 * libc). One line per attempt:
 *     PROBE <name> blocked <how>
 *     PROBE <name> ESCAPED <what happened>
 * The integration test (tests/integration/test-security.py) reads these lines and also checks
 * the host side. Arguments: host PIDs that must be out of reach (signals, ptrace). */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int n_escaped;

static void result(const char *name, int escaped, const char *fmt, ...) {
        va_list ap;

        printf("PROBE %s %s ", name, escaped ? "ESCAPED" : "blocked");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        n_escaped += !!escaped;
}

/* Every read-only mount of a real file system (host binds, idmapped layers): remount it
 * writable and write to it. */
static void probe_remount(void) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        int tried = 0;

        if (!f) {
                result("remount-ro-binds", 0, "cannot read mountinfo (%s)", strerror(errno));
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                char point[1024], opts[512], fstype[64];
                const char *sep = strstr(line, " - ");

                if (!sep || sscanf(line, "%*d %*d %*s %*s %1023s %511s", point, opts) != 2 ||
                    sscanf(sep + 3, "%63s", fstype) != 1)
                        continue;
                if (strncmp(opts, "ro", 2) != 0 || (opts[2] != ',' && opts[2] != 0))
                        continue;
                /* Kernel file systems are for the proc and sys probes below; a tmpfs (LXC's
                 * boot_id, /dev) is the container's own, not the host's. */
                if (!strcmp(fstype, "proc") || !strcmp(fstype, "sysfs") || !strncmp(fstype, "cgroup", 6) ||
                    !strcmp(fstype, "tmpfs"))
                        continue;
                tried++;
                if (mount(NULL, point, NULL, MS_REMOUNT | MS_BIND, NULL) == 0) {
                        char p[1100];
                        int fd;
                        snprintf(p, sizeof(p), "%s/.cm-escape-probe", point);
                        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        result("remount-ro-binds", 1, "%s (%s) remounted writable%s", point, fstype,
                               fd >= 0 ? ", file written" : "");
                        if (fd >= 0)
                                close(fd);
                } else
                        result("remount-ro-binds", 0, "%s (%s): %s", point, fstype, strerror(errno));
        }
        fclose(f);
        if (!tried)
                result("remount-ro-binds", 0, "no read-only bind in this container");
}

static const char *const standard_devices[] = {
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", NULL
};

static int is_standard(const char *name) {
        for (const char *const *s = standard_devices; *s; s++)
                if (!strcmp(*s, name))
                        return 1;
        return 0;
}

static void probe_devices(void) {
        static const struct { const char *name; mode_t type; unsigned maj, min; } nodes[] = {
                { "block-sda", S_IFBLK, 8, 0 },
                { "char-mem", S_IFCHR, 1, 1 },
                { "char-kmsg", S_IFCHR, 1, 11 },
        };

        for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
                char path[64];
                snprintf(path, sizeof(path), "/.cm-probe-%s", nodes[i].name);
                (void) unlink(path);
                if (mknod(path, nodes[i].type | 0600, makedev(nodes[i].maj, nodes[i].min)) < 0) {
                        result("mknod", 0, "%s: %s", nodes[i].name, strerror(errno));
                        continue;
                }
                /* Created at all is an escape: the node now lies in the container's layer on the
                 * host's storage, where any host process may open it. */
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                result("mknod", 1, "%s created%s%s", nodes[i].name, fd >= 0 ? " and opened" : ", open: ",
                       fd >= 0 ? "" : strerror(errno));
                if (fd >= 0)
                        close(fd);
                (void) unlink(path);
        }

        /* Only the standard nodes in /dev, and nothing else of the host's there to open. */
        FILE *p = popen("ls /dev", "re");
        char name[256];
        int extra = 0;
        while (p && fgets(name, sizeof(name), p)) {
                struct stat st;
                char path[300];
                name[strcspn(name, "\n")] = 0;
                snprintf(path, sizeof(path), "/dev/%s", name);
                if (lstat(path, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) || is_standard(name))
                        continue;
                int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                        result("extra-devices", 1, "/dev/%s can be opened", name);
                        close(fd);
                        extra++;
                }
        }
        if (p)
                pclose(p);
        if (!extra)
                result("extra-devices", 0, "only standard device nodes can be opened");
}

static void probe_mount_kernel_fs(void) {
        static const char *const fs[] = { "proc", "sysfs" };

        for (size_t i = 0; i < 2; i++) {
                char dir[64];
                snprintf(dir, sizeof(dir), "/.cm-probe-%s", fs[i]);
                (void) mkdir(dir, 0755);
                if (mount(fs[i], dir, fs[i], 0, NULL) == 0) {
                        /* Mounted: it only counts as contained if nothing of the host can be changed through it. */
                        char p[128];
                        snprintf(p, sizeof(p), "%s/%s", dir, i == 0 ? "sys/kernel/printk" : "kernel/mm/transparent_hugepage/enabled");
                        int fd = open(p, O_WRONLY | O_CLOEXEC);
                        result(i == 0 ? "mount-proc" : "mount-sysfs", 1, "mounted %s writable%s", fs[i],
                               fd >= 0 ? " and a host setting is open for writing" : "");
                        if (fd >= 0)
                                close(fd);
                        (void) umount2(dir, MNT_DETACH);
                } else
                        result(i == 0 ? "mount-proc" : "mount-sysfs", 0, "%s: %s", fs[i], strerror(errno));
                (void) rmdir(dir);
        }
}

static void probe_write(const char *name, const char *path) {
        char value[256] = "";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        /* Write back what is there: if this ever succeeded, it changed nothing. */
        if (fd >= 0) {
                n = read(fd, value, sizeof(value) - 1);
                value[n > 0 ? n : 0] = 0;
                close(fd);
        }
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
                result(name, 0, "%s: open: %s", path, strerror(errno));
                return;
        }
        n = write(fd, value, strlen(value));
        result(name, n >= 0, "%s: write: %s", path, n >= 0 ? "succeeded" : strerror(errno));
        close(fd);
}

static void probe_syscalls(void) {
        long r;

        r = syscall(SYS_init_module, NULL, 0UL, "");
        result("init_module", r == 0 || (errno != EPERM), "init_module: %s", r == 0 ? "succeeded" : strerror(errno));
        r = syscall(SYS_finit_module, -1, "", 0);
        result("finit_module", r == 0 || (errno != EPERM), "finit_module: %s", r == 0 ? "succeeded" : strerror(errno));
        r = syscall(SYS_delete_module, "cm_probe_no_such_module", O_NONBLOCK);
        result("delete_module", r == 0 || (errno != EPERM), "delete_module: %s", r == 0 ? "succeeded" : strerror(errno));
        /* No segments, no flags: unloads a loaded crash kernel if permitted. */
        r = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL);
        result("kexec_load", r == 0 || errno != EPERM, "kexec_load: %s", r == 0 ? "succeeded" : strerror(errno));
        r = syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 2UL /* KEXEC_FILE_UNLOAD */);
        result("kexec_file_load", r == 0 || errno != EPERM, "kexec_file_load: %s", r == 0 ? "succeeded" : strerror(errno));

        /* A real handle where a file system gives one (overlayfs does not), else a made-up one:
         * either way the call must be refused for want of permission, before the handle is read. */
        struct { unsigned int bytes; int type; unsigned char h[128]; } fh = { .bytes = 128 };
        int mount_id, got = 0, mfd;
        static const char *const paths[] = { "/dev", "/tmp", "/proc", "/" };
        for (size_t i = 0; i < 4 && !got; i++) {
                fh.bytes = 128;
                got = name_to_handle_at(AT_FDCWD, paths[i], (struct file_handle *) &fh, &mount_id, 0) == 0;
        }
        if (!got) {
                fh.bytes = 8;
                fh.type = 1;
        }
        mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = open_by_handle_at(mfd, (struct file_handle *) &fh, O_RDONLY | O_CLOEXEC);
        result("open_by_handle_at", fd >= 0 || errno != EPERM, "open_by_handle_at (%s handle): %s",
               got ? "real" : "made-up", fd >= 0 ? "succeeded" : strerror(errno));
        if (fd >= 0)
                close(fd);
        if (mfd >= 0)
                close(mfd);
}

static void probe_kmsg(void) {
        char buf[64];
        int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t n = read(fd, buf, sizeof(buf));
                result("kmsg", n > 0, "/dev/kmsg opened, read: %s", n > 0 ? "got the host's kernel log" : strerror(errno));
                close(fd);
        } else
                result("kmsg", 0, "/dev/kmsg: %s", strerror(errno));
}

static void probe_host_pids(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                pid_t pid = (pid_t) atoi(argv[i]);
                if (pid <= 1)
                        continue;
                /* Signal 0: whether it could be signalled at all. */
                int r = kill(pid, 0);
                result("signal-host", r == 0, "kill(%d, 0): %s", (int) pid, r == 0 ? "reachable" : strerror(errno));
                long p = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
                result("ptrace-host", p == 0, "ptrace(ATTACH, %d): %s", (int) pid, p == 0 ? "attached" : strerror(errno));
                if (p == 0)
                        (void) ptrace(PTRACE_DETACH, pid, NULL, NULL);
        }
}

int main(int argc, char **argv) {
        probe_remount();
        probe_devices();
        probe_mount_kernel_fs();
        probe_write("write-proc-sys", "/proc/sys/kernel/printk");
        probe_write("write-sysrq", "/proc/sysrq-trigger");
        probe_write("write-sys", "/sys/kernel/mm/transparent_hugepage/enabled");
        probe_write("write-sys-module", "/sys/module/printk/parameters/time");
        probe_syscalls();
        probe_kmsg();
        probe_host_pids(argc, argv);
        printf("PROBE-DONE %d escaped\n", n_escaped);
        fflush(stdout);
        return n_escaped ? 1 : 0;
}
