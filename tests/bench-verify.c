/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the confinement checks of a start cost (bench/confinement-check runs it): the monitor's
 * read-back of LXC's configuration (runtime_verify_config_at(), which loads the file with liblxc
 * as the monitor does anyway, plus the reference it builds and compares) and the start worker's
 * look at the payload's /proc (runtime_verify_payload()), each as CPU time per call over N calls.
 * Prints figures; asserts nothing about them. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include <glib.h>

#include "lxc-config.h"
#include "runtime.h"
#include "util.h"

static double cpu_ms(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

static double wall_ms(void) {
        return now_usec(CLOCK_MONOTONIC) / 1e3;
}

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 200;
        g_autofree char *lxcpath = g_dir_make_tmp("cm-bench-verify-XXXXXX", NULL);
        g_autofree char *dir = g_build_filename(lxcpath, "c1", NULL);
        g_autoptr(LxcConfig) cfg = lxc_config_new();
        g_autofree char *text = NULL, *json = NULL, *p1 = NULL, *p2 = NULL;
        PayloadExpect e = { .userns = false, .seccomp = false };
        double c0, w0;
        pid_t child;

        g_mkdir_with_parents(dir, 0700);
        lxc_config_add(cfg, "lxc.uts.name", "c1");
        lxc_config_addf(cfg, "lxc.rootfs.path", "dir:%s/stage/root", dir);
        lxc_config_add(cfg, "lxc.idmap", "u 0 1000000000 65536");
        lxc_config_add(cfg, "lxc.idmap", "g 0 1000000000 65536");
        lxc_config_add(cfg, "lxc.net.0.type", "veth");
        lxc_config_add(cfg, "lxc.net.0.link", "cm0");
        lxc_config_add(cfg, "lxc.net.0.flags", "up");
        lxc_config_add(cfg, "lxc.net.0.ipv4.address", "10.89.0.2/16 10.89.255.255");
        lxc_config_add(cfg, "lxc.cgroup.relative", "1");
        lxc_config_add(cfg, "lxc.mount.auto", "proc:mixed sys:ro");
        lxc_config_add(cfg, "lxc.mount.entry", "/dev/null dev/console none bind,create=file 0 0");
        lxc_config_add(cfg, "lxc.no_new_privs", "1");
        lxc_config_add(cfg, "lxc.cap.drop", "mac_admin mac_override sys_time sys_module sys_rawio sys_boot sys_admin");
        lxc_config_add(cfg, "lxc.seccomp.profile", "/usr/share/lxc/config/common.seccomp");
        for (int i = 0; i < 8; i++)
                lxc_config_addf(cfg, "lxc.environment", "VAR%d=value", i);
        lxc_config_add(cfg, "lxc.init.cwd", "/");
        text = lxc_config_to_text(cfg, NULL);
        json = lxc_config_to_json(cfg);
        p1 = g_build_filename(dir, "config", NULL);
        p2 = g_build_filename(dir, "config.json", NULL);
        g_file_set_contents(p1, text, -1, NULL);
        g_file_set_contents(p2, json, -1, NULL);

        c0 = cpu_ms(), w0 = wall_ms();
        for (int i = 0; i < n; i++) {
                g_autofree char *m = NULL;
                if (runtime_verify_config_at(lxcpath, "c1", &m) < 0) {
                        fprintf(stderr, "verify failed: %s\n", m);
                        return 1;
                }
        }
        printf("config read-back (load + reference + compare): %.3f ms CPU, %.3f ms wall per call (%d calls)\n",
               (cpu_ms() - c0) / n, (wall_ms() - w0) / n, n);

        child = fork();
        if (child == 0) {
                (void) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                pause();
                _exit(0);
        }
        usleep(100000);
        c0 = cpu_ms(), w0 = wall_ms();
        for (int i = 0; i < n; i++) {
                g_autofree char *m = NULL;
                (void) runtime_verify_payload(child, &e, &m);
        }
        printf("payload /proc check:                           %.3f ms CPU, %.3f ms wall per call (%d calls)\n",
               (cpu_ms() - c0) / n, (wall_ms() - w0) / n, n);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        (void) rm_rf(lxcpath);
        return 0;
}
