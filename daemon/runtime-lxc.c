/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that talks to liblxc. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <lxc/lxccontainer.h>

#include "config.h"
#include "idmap.h"
#include "journal.h"
#include "lxc-config.h"
#include "network.h"
#include "rootfs.h"
#include "runtime.h"
#include "startup-protocol.h"
#include "store.h"

/* A privileged container keeps LXC's system-container profile (module loading, kexec,
 * open_by_handle_at); every other one gets the service's own (data/containers-manager.seccomp),
 * or, created with 'nesting', the same without the user namespace and mount rules. */
#define LXC_SECCOMP_PROFILE "/usr/share/lxc/config/common.seccomp"
#define CAP_DROP_PRIVILEGED "mac_admin mac_override sys_time sys_module sys_rawio sys_boot"
/* net_raw: no raw or packet sockets (ARP spoofing on the bridge). mknod needs no entry: in a
 * user namespace the kernel refuses device nodes whatever the capabilities. */
#define CAP_DROP_UNPRIVILEGED CAP_DROP_PRIVILEGED " sys_admin net_admin net_raw syslog sys_ptrace audit_control"

/* Where the monitor leaves its reason when it cannot assemble the root (for the start worker). */
static char *start_error_path(const char *lxcpath, const char *name) {
        return g_build_filename(lxcpath, name, "start-error", NULL);
}

static void lxc_container_putp(struct lxc_container **c) {
        if (*c)
                lxc_container_put(*c);
}

static bool apparmor_enabled(void) {
        g_autofree char *v = NULL;

        return g_file_get_contents("/sys/module/apparmor/parameters/enabled", &v, NULL, NULL) && v[0] == 'Y';
}

static const char *seccomp_profile(const Container *c, const char **ret_name) {
        if (c->privileged) {
                *ret_name = "lxc-common";
                return LXC_SECCOMP_PROFILE;
        }
        *ret_name = c->nesting ? "nesting" : "containers-manager";
        return c->nesting ? SECCOMP_NESTING_PROFILE : SECCOMP_PROFILE;
}

/* Our own profiles are installed with the service: if one is missing the start fails (LXC cannot
 * open it) rather than run the container without it. */
static bool seccomp_available(const Container *c) {
        const char *name;

        if (access("/proc/sys/kernel/seccomp/actions_avail", F_OK) < 0)
                return false;
        return !c->privileged || access(seccomp_profile(c, &name), R_OK) == 0;
}

char **runtime_confinement(const Container *c) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        if (!c->privileged)
                g_strv_builder_add_many(b, "userns", "idmapped-layers", NULL);
        if (seccomp_available(c)) {
                const char *name;
                (void) seccomp_profile(c, &name);
                g_autofree char *v = g_strconcat("seccomp:", name, NULL);
                g_strv_builder_add(b, v);
        }
        g_strv_builder_add_many(b, "no_new_privs", "capability-drop", "read-only-host-binds", NULL);
        if (apparmor_enabled())
                g_strv_builder_add(b, "apparmor");
        return g_strv_builder_end(b);
}

char **runtime_start_checks(const Container *c) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        /* runtime_verify_config(), then runtime_verify_payload() */
        g_strv_builder_add_many(b, "lxc-config-readback", "id-map", "capability-bounding-set", "no_new_privs", NULL);
        if (seccomp_available(c))
                g_strv_builder_add(b, "seccomp");
        return g_strv_builder_end(b);
}

/* What the monitor needs to assemble the root: layers, the slot, the host paths to share. */
static int build_rootfs_spec(Container *c, Image *image, Image *base, const char *dir, const char *cdir,
                             char **env, const char *cwd, RootfsSpec **ret) {
        g_autoptr(RootfsSpec) spec = rootfs_spec_new();
        g_autoptr(GStrvBuilder) lower = g_strv_builder_new();
        int r;

        spec->stage = g_build_filename(dir, "stage", NULL);
        spec->upper = g_build_filename(cdir, "upper", NULL);
        spec->work = g_build_filename(cdir, "work", NULL);
        /* For the monitor to find the command in the root before LXC runs it. */
        spec->cwd = g_strdup(cwd);
        for (char **e = env; e && *e; e++)
                if (g_str_has_prefix(*e, "PATH="))
                        SWAP_FREE(spec->path, g_strdup(*e + 5));
        /* Layers, top first: the application, then its base. */
        if (image != base) {
                g_auto(GStrv) layers = image_lower_layers(image);
                if (!layers)
                        return -ENOENT; /* a parent image is gone */
                g_strv_builder_addv(lower, (const char **) layers);
        }
        g_strv_builder_add(lower, base->rootfs);
        spec->lower = g_strv_builder_end(lower);
        if (!c->privileged) {
                spec->uid_shift = c->uid_shift;
                spec->id_count = IDMAP_SLOT_SIZE;
        }
        for (char **e = base->mounts; e && *e; e++) {
                RootfsBind *b;
                r = rootfs_bind_parse(*e, &b);
                if (r < 0)
                        return r;
                g_ptr_array_add(spec->binds, b);
        }
        *ret = TAKE_PTR(spec);
        return 0;
}

static int write_rootfs_spec(Container *c, Image *image, Image *base, const char *dir, const char *cdir,
                             char **env, const char *cwd) {
        g_autoptr(RootfsSpec) spec = NULL;
        g_autofree char *path = g_build_filename(dir, "rootfs.json", NULL);
        int r;

        r = build_rootfs_spec(c, image, base, dir, cdir, env, cwd, &spec);
        if (r < 0)
                return r;
        r = mkdir_p(spec->stage, 0711);
        if (r >= 0)
                r = mkdir_p(spec->upper, 0755);
        if (r >= 0)
                r = mkdir_p(spec->work, 0700);
        if (r < 0)
                return r;
        /* The root of the container's own layer belongs to its root. */
        if (!c->privileged && chown(spec->upper, c->uid_shift, c->uid_shift) < 0)
                return -errno;
        return rootfs_spec_save(spec, path);
}

int runtime_rootfs_spec(Container *c, Image *image, RootfsSpec **ret) {
        g_autofree char *lxcpath = manager_lxc_path(c->manager);
        g_autofree char *cdir = manager_container_dir(c->manager, c->name);
        g_autofree char *dir = g_build_filename(lxcpath, c->name, NULL);
        Image *base = image_get_base(image);

        assert(ret);

        if (!base)
                return -ENOENT;
        if (c->slot_conflict)
                return -EADDRINUSE;
        /* The same spec as write_rootfs_spec() saves at each start (PATH and the working
         * directory only serve to find the command: not needed here). */
        return build_rootfs_spec(c, image, base, dir, cdir, NULL, "/", ret);
}

/* Everything LXC is told about the container, as a list of checked settings (lxc-config.h). */
static int build_lxc_config(Container *c, Image *image, Image *base, const char *dir, char **env, const char *cwd,
                            LxcConfig *cfg) {
        Manager *m = c->manager;
        int r;

        lxc_config_add(cfg, "lxc.uts.name", c->name);
        /* The monitor mounts the overlay of the container's writable layer on the image there
         * (creating a container copies nothing). */
        lxc_config_addf(cfg, "lxc.rootfs.path", "dir:%s/stage/root", dir);
        if (!c->privileged) {
                lxc_config_addf(cfg, "lxc.idmap", "u 0 %u %u", c->uid_shift, IDMAP_SLOT_SIZE);
                lxc_config_addf(cfg, "lxc.idmap", "g 0 %u %u", c->uid_shift, IDMAP_SLOT_SIZE);
        }
        r = network_write_lxc_config(m, c, dir, cfg);
        if (r < 0)
                return r;
        /* Build the monitor/payload cgroups inside the scope we were started in. */
        lxc_config_add(cfg, "lxc.cgroup.relative", "1");
        lxc_config_add(cfg, "lxc.mount.auto", "proc:mixed sys:ro");
        lxc_config_add(cfg, "lxc.autodev", "1");
        lxc_config_add(cfg, "lxc.tty.max", "0");
        lxc_config_add(cfg, "lxc.pty.max", "16");
        lxc_config_add(cfg, "lxc.console.path", "none");
        /* init.lxc, the payload's PID 1, moves its own stderr to /dev/console once the payload
         * runs; without one, its complaints (on every stop: pids.max of a cgroup v1 hierarchy the
         * container does not have) would land in the container's stderr. The payload's streams
         * are its own. */
        lxc_config_add(cfg, "lxc.mount.entry", "/dev/null dev/console none bind,create=file 0 0");
        lxc_config_add(cfg, "lxc.no_new_privs", "1");
        /* An application container has no business mounting, configuring its network or
         * reading the kernel log (as Podman and Docker have it): without CAP_SYS_ADMIN it can
         * neither mount a fresh proc or sysfs nor remount what LXC set up. A privileged
         * container is root's explicit choice and keeps what LXC keeps for system containers. */
        lxc_config_add(cfg, "lxc.cap.drop", c->privileged ? CAP_DROP_PRIVILEGED : CAP_DROP_UNPRIVILEGED);
        /* Without CAP_NET_RAW, ping needs ICMP datagram sockets: allowed to every group of the
         * container (as Podman and Docker do; the kernel refuses gids its namespace lacks). Not
         * lxc.sysctl: LXC writes those after proc:mixed made /proc/sys read-only. The pre-mount
         * hook runs the host's /bin/sh in the container's namespaces before its root is set up;
         * its text is ours alone (and the monitor checks that it is what liblxc read). */
        if (!c->privileged)
                lxc_config_addf(cfg, "lxc.hook.pre-mount", "/bin/sh -c 'echo 0 %u >/proc/sys/net/ipv4/ping_group_range'",
                                IDMAP_SLOT_SIZE - 1);
        /* Where the kernel has AppArmor, LXC's own profile for the container; else nothing to set. */
        lxc_config_add(cfg, "lxc.apparmor.profile", apparmor_enabled() ? "generated" : "unconfined");
        /* allow_nesting: load it even when the service itself runs under a seccomp filter (a
         * unit's SystemCallFilter=, systemd-nspawn), where LXC would otherwise skip it silently. */
        if (seccomp_available(c)) {
                const char *name;
                lxc_config_add(cfg, "lxc.seccomp.profile", seccomp_profile(c, &name));
                lxc_config_add(cfg, "lxc.seccomp.allow_nesting", "1");
        }
        lxc_config_addf(cfg, "lxc.log.file", "%s/lxc.log", dir);
        lxc_config_add(cfg, "lxc.log.level", "WARN");
        for (char **e = env; e && *e; e++)
                lxc_config_add(cfg, "lxc.environment", *e);
        lxc_config_add(cfg, "lxc.init.cwd", cwd);
        return 0;
}

int runtime_write_config(Container *c, Image *image, char **ret_message) {
        Manager *m = c->manager;
        g_autofree char *lxcpath = manager_lxc_path(m);
        g_autofree char *cdir = manager_container_dir(m, c->name);
        g_autofree char *dir = g_build_filename(lxcpath, c->name, NULL);
        g_autofree char *config = g_build_filename(dir, "config", NULL);
        g_autofree char *config_json = g_build_filename(dir, "config.json", NULL);
        g_autofree char *comment = g_strdup_printf("Generated by containers-manager for '%s'; rewritten at every start.", c->name);
        g_autofree char *name_env = g_strdup_printf("CONTAINER_NAME=%s", c->name);
        g_autoptr(LxcConfig) cfg = lxc_config_new();
        g_autofree char *json = NULL, *text = NULL;
        g_auto(GStrv) env = NULL;
        Image *base = image_get_base(image);
        const char *cwd = c->working_directory ?: image->working_directory ?: "/";
        int r;

        if (!base)
                return -ENOENT;
        if (c->slot_conflict)
                return -EADDRINUSE;
        /* Checked when they came in and when the state was read; once more, as they are used. */
        if (!container_path_is_valid(cwd)) {
                *ret_message = g_strdup("The working directory is not an absolute path without '..' and control characters");
                return -EINVAL;
        }

        /* Create's environment wins over the image's, the image's over its base's. */
        env = env_merge((char **const[]) {
                        (char *[]) { (char *) "container=lxc", NULL },
                        base->environment,
                        image != base ? image->environment : NULL,
                        c->environment,
                        (char *[]) { name_env, NULL },
                }, 5);

        r = mkdir_p(dir, 0711);
        if (r < 0)
                return r;
        /* LXC sets the root up from inside the container's user namespace, where host-owned
         * directories are "other": the way down to it must be searchable (never listable). */
        FOREACH_STRING(p, m->runtime_dir, lxcpath, dir)
                if (chmod(p, 0711) < 0)
                        return -errno;
        r = build_lxc_config(c, image, base, dir, env, cwd, cfg);
        if (r < 0)
                return r;
        /* Each value was checked on its own as it was added: none can start a line of its own. */
        r = lxc_config_check(cfg, ret_message);
        if (r < 0)
                return r;
        r = write_rootfs_spec(c, image, base, dir, cdir, env, cwd);
        if (r < 0)
                return r;
        /* The twin first: a config file is never newer than what the monitor compares it with. */
        json = lxc_config_to_json(cfg);
        r = store_write_file_atomic(config_json, json, strlen(json), 0600);
        if (r < 0)
                return r;
        text = lxc_config_to_text(cfg, comment);
        return store_write_file_atomic(config, text, strlen(text), 0600);
}

static int journal_stream(const char *identifier, const char *unit, int priority, int target) {
        int fd = journal_stream_open(identifier, unit, priority);

        if (fd < 0) {
                /* No journal: keep the output rather than fail the start. */
                fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
        }
        if (fd != target) {
                if (dup2(fd, target) < 0)
                        return -errno;
                close(fd);
        }
        return 0;
}

/* GLib 2.74 has no g_strv_builder_take(). */
static void strv_builder_add_take(GStrvBuilder *b, char *s) {
        g_strv_builder_add(b, s);
        g_free(s);
}

/* A startup command as the messages name it: its words, on one line, not too long. */
static char *startup_command_text(char **argv, int len) {
        g_autoptr(GString) s = g_string_new(NULL);

        for (int i = 0; i < len && argv[i]; i++) {
                if (i > 0)
                        g_string_append_c(s, ' ');
                g_string_append(s, argv[i]);
        }
        for (gsize i = 0; i < s->len; i++)
                if ((unsigned char) s->str[i] < 0x20)
                        s->str[i] = ' ';
        if (s->len > 160) {
                g_string_truncate(s, 157);
                g_string_append(s, "...");
        }
        return g_utf8_make_valid(s->str, -1);
}

/* With startup commands, argv is in startup-protocol.h's form: each of their programs must be in
 * the root as the command's is, and LXC gets the helper (from a descriptor we open here and the
 * container's init inherits, so nothing is put into the container's files) in front of it. */
static int startup_prepare(const RootfsSpec *spec, int report_fd, char **argv, char ***ret_argv, char **ret_message) {
        char **cmd[STARTUP_COMMANDS_LIMIT], **main_argv = NULL;
        int len[STARTUP_COMMANDS_LIMIT], k, r, helper;
        g_autoptr(GStrvBuilder) b = NULL;

        k = startup_args_parse(argv, cmd, len, STARTUP_COMMANDS_LIMIT, &main_argv);
        if (k < 0) {
                *ret_message = g_strdup("Malformed startup command arguments");
                return k;
        }
        for (int i = 0; i < k; i++) {
                g_autofree char *why = NULL;

                r = rootfs_find_program(spec, cmd[i][0], &why);
                if (r < 0) {
                        g_autofree char *text = startup_command_text(cmd[i], len[i]);
                        *ret_message = g_strdup_printf("Startup command %d '%s' cannot be run: %s", i + 1, text, why);
                        return r;
                }
        }
        r = rootfs_find_program(spec, main_argv[0], ret_message);
        if (r < 0)
                return r;
        /* No O_CLOEXEC: LXC hands what we hold to the container's init, which runs the helper
         * through /proc/self/fd; the helper closes it before it runs anything. */
        helper = open(STARTUP_HELPER_PATH, O_RDONLY);
        if (helper < 0) {
                r = -errno;
                *ret_message = g_strdup_printf("Cannot open the startup helper %s: %s", STARTUP_HELPER_PATH, g_strerror(-r));
                return r;
        }
        b = g_strv_builder_new();
        strv_builder_add_take(b, g_strdup_printf("/proc/self/fd/%d", helper));
        strv_builder_add_take(b, g_strdup_printf("%d", report_fd));
        g_strv_builder_addv(b, (const char **) argv);
        *ret_argv = g_strv_builder_end(b);
        return 0;
}

/* One item as liblxc has it (NULL where it has none). */
static char *lxc_item(struct lxc_container *lc, const char *key) {
        int n = lc->get_config_item(lc, key, NULL, 0);
        char *buf;

        if (n < 0)
                return NULL;
        buf = g_malloc0((size_t) n + 1);
        if (n > 0 && lc->get_config_item(lc, key, buf, n + 1) != n) {
                g_free(buf);
                return NULL;
        }
        return buf;
}

/* The keys liblxc knows under prefix (NULL: the top-level ones), one a line. */
static char **lxc_keys(struct lxc_container *lc, const char *prefix) {
        int n = lc->get_keys(lc, prefix, NULL, 0);
        g_autofree char *buf = NULL;

        if (n <= 0)
                return g_new0(char *, 1);
        buf = g_malloc0((size_t) n + 1);
        if (lc->get_keys(lc, prefix, buf, n + 1) != n)
                return g_new0(char *, 1);
        return g_strsplit(g_strstrip(buf), "\n", -1);
}

static bool lxc_items_differ(struct lxc_container *have, struct lxc_container *want, const char *key) {
        g_autofree char *a = lxc_item(have, key), *b = lxc_item(want, key);
        return !streq_ptr(a, b);
}

static int verify_failed(const char *key, char **ret_message) {
        *ret_message = g_strdup_printf("LXC's configuration differs from the one containers-manager wrote at %s: "
                                       "refusing to start", key);
        return -EPERM;
}

/* What liblxc read from the config file must be exactly what the daemon meant: the settings of
 * its JSON twin, applied through set_config_item() to an empty container of our own here, and
 * compared for every key liblxc knows, each network's keys included. A line that smuggled in a
 * setting of its own (a hook, an id map, a mount, an include) differs somewhere. The log keys
 * are left out: setting them opens the log file, and they confine nothing. */
static int runtime_verify_config(struct lxc_container *lc, const char *lxc_dir, char **ret_message) {
        g_autofree char *json = g_build_filename(lxc_dir, "config.json", NULL);
        g_autofree char *none = g_build_filename(lxc_dir, "verify.none", NULL);
        _cleanup_(lxc_container_putp) struct lxc_container *want = NULL;
        g_autoptr(LxcConfig) cfg = NULL;
        g_auto(GStrv) keys = NULL, types = NULL;
        g_autofree char *nets = NULL, *text = NULL;
        gsize size;
        int r;

        if (!g_file_get_contents(json, &text, &size, NULL))
                r = -ENOENT;
        else
                r = lxc_config_from_json(text, size, &cfg);
        if (r < 0) {
                *ret_message = g_strdup_printf("Cannot read the intended configuration %s: %s", json, g_strerror(-r));
                return r;
        }
        want = lxc_container_new("verify", none);
        if (!want) {
                *ret_message = g_strdup("Cannot make LXC's reference configuration");
                return -ENOMEM;
        }
        for (size_t i = 0; i < lxc_config_size(cfg); i++) {
                const char *k, *v;

                lxc_config_get(cfg, i, &k, &v);
                if (g_str_has_prefix(k, "lxc.log."))
                        continue;
                if (!want->set_config_item(want, k, v)) {
                        *ret_message = g_strdup_printf("LXC refuses the intended setting %s", k);
                        return -EINVAL;
                }
        }
        keys = lxc_keys(lc, NULL);
        if (!keys[0]) {
                *ret_message = g_strdup("LXC lists no configuration keys");
                return -EIO;
        }
        for (char **k = keys; *k; k++) {
                if (isempty(*k) || g_str_has_prefix(*k, "lxc.log."))
                        continue;
                if (lxc_items_differ(lc, want, *k))
                        return verify_failed(*k, ret_message);
        }
        /* Families whose members liblxc does not list: each read on its own, or as the whole
         * family (cgroup, prlimit, sysctl and proc answer with every member they hold). */
        FOREACH_STRING(k, "lxc.namespace.share.cgroup", "lxc.namespace.share.ipc", "lxc.namespace.share.mnt",
                       "lxc.namespace.share.net", "lxc.namespace.share.pid", "lxc.namespace.share.time",
                       "lxc.namespace.share.user", "lxc.namespace.share.uts", "lxc.cgroup", "lxc.cgroup2",
                       "lxc.prlimit", "lxc.sysctl", "lxc.proc")
                if (lxc_items_differ(lc, want, k))
                        return verify_failed(k, ret_message);
        /* "lxc.net" is the list of the networks' types (compared above): then each one's keys. */
        nets = lxc_item(lc, "lxc.net");
        types = g_strsplit(g_strstrip(nets ?: g_strdup("")), "\n", -1);
        for (guint i = 0; types[i] && *types[i]; i++) {
                g_autofree char *prefix = g_strdup_printf("lxc.net.%u", i);
                g_auto(GStrv) sub = lxc_keys(lc, prefix);

                for (char **k = sub; *k; k++) {
                        g_autofree char *key = g_strdup_printf("%s.%s", prefix, *k);
                        if (!isempty(*k) && lxc_items_differ(lc, want, key))
                                return verify_failed(key, ret_message);
                }
        }
        return 0;
}

int runtime_verify_config_at(const char *lxcpath, const char *name, char **ret_message) {
        _cleanup_(lxc_container_putp) struct lxc_container *lc = lxc_container_new(name, lxcpath);
        g_autofree char *lxc_dir = g_build_filename(lxcpath, name, NULL);

        if (!lc) {
                *ret_message = g_strdup("LXC cannot read the container's configuration");
                return -EINVAL;
        }
        return runtime_verify_config(lc, lxc_dir, ret_message);
}

/* Runs in the scope. Becomes LXC's monitor and stays until the payload ends,
 * then records its exit status for the daemon (which may have restarted meanwhile). */
_Noreturn void runtime_monitor_main(const char *name, const char *unit, const char *lxcpath, const char *runtime_dir,
                                    int startup_report_fd, char **argv) {
        _cleanup_(lxc_container_putp) struct lxc_container *lc = NULL;
        g_auto(GStrv) helper_argv = NULL;
        int devnull;
        bool ok;

        (void) setsid();
        {
                g_autofree char *title = g_strdup_printf("containers-manager monitor %s", name);
                (void) rename_process(title);
        }
        devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0 && devnull != STDIN_FILENO) {
                dup2(devnull, STDIN_FILENO);
                close(devnull);
        }
        /* stdout and stderr become journal streams opened from inside the scope, so
         * journald attributes every line to container-<name>.scope. */
        if (journal_stream(name, unit, LOG_INFO, STDOUT_FILENO) < 0 ||
            journal_stream(name, unit, LOG_ERR, STDERR_FILENO) < 0)
                _exit(EXIT_FAILURE);

        /* Before anything is done on the host for it: is this the configuration we wrote? */
        lc = lxc_container_new(name, lxcpath);
        if (!lc)
                _exit(EXIT_FAILURE);
        {
                g_autofree char *lxc_dir = g_build_filename(lxcpath, name, NULL);
                g_autofree char *message = NULL;

                if (runtime_verify_config(lc, lxc_dir, &message) < 0) {
                        g_autofree char *error_path = start_error_path(lxcpath, name);
                        (void) store_write_file_atomic(error_path, message, strlen(message), 0600);
                        (void) store_write_exit_status(runtime_dir, name, 255 << 8);
                        _exit(EXIT_FAILURE);
                }
        }
        {
                g_autofree char *spec_path = g_build_filename(lxcpath, name, "rootfs.json", NULL);
                g_autofree char *error_path = start_error_path(lxcpath, name);
                g_autoptr(RootfsSpec) spec = NULL;
                g_autofree char *message = NULL;
                int r;

                g_autofree char *lxc_dir = g_build_filename(lxcpath, name, NULL);

                /* The bridge and the nftables table, before LXC plugs the veth in. */
                r = network_host_prepare(lxc_dir, &message);
                if (r >= 0) {
                        r = rootfs_spec_load(spec_path, &spec);
                        if (r < 0)
                                message = g_strdup_printf("Cannot read %s: %s", spec_path, g_strerror(-r));
                        else
                                r = rootfs_setup(spec, &message);
                }
                if (r >= 0 && startup_report_fd >= 0)
                        r = startup_prepare(spec, startup_report_fd, argv, &helper_argv, &message);
                else if (r >= 0)
                        /* Else LXC's init fails to exec it, and all anyone sees is exit status 255. */
                        r = rootfs_find_program(spec, argv[0], &message);
                if (r < 0) {
                        /* For the start worker, which says why the start failed. */
                        (void) store_write_file_atomic(error_path, message, strlen(message), 0600);
                        (void) store_write_exit_status(runtime_dir, name, 255 << 8);
                        _exit(EXIT_FAILURE);
                }
        }

        lc->want_daemonize(lc, false);
        (void) store_remove_exit_status(runtime_dir, name);
        ok = lc->start(lc, 1, helper_argv ?: argv);
        (void) store_write_exit_status(runtime_dir, name, ok ? lc->error_num : (255 << 8));
        _exit(ok ? EXIT_SUCCESS : EXIT_FAILURE);
}

/* The first ERROR line of LXC's log for the container, without LXC's prefix. */
static char *lxc_log_last_error(const char *lxcpath, const char *name) {
        g_autofree char *path = g_build_filename(lxcpath, name, "lxc.log", NULL);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        lines = g_strsplit(text, "\n", -1);
        /* The first error is the cause; the ones after it are LXC unwinding. */
        for (guint i = 1; i <= g_strv_length(lines); i++) {
                const char *l = lines[i - 1], *m;
                if (!strstr(l, " ERROR "))
                        continue;
                /* "lxc NAME DATE ERROR module - file:func:line - message" */
                m = g_strrstr(l, " - ");
                return g_utf8_make_valid(m ? m + 3 : l, -1);
        }
        return NULL;
}

/* What the monitor wrote when it could not assemble the container's root. */
static char *read_start_error(const char *lxcpath, const char *name) {
        g_autofree char *path = start_error_path(lxcpath, name);
        char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        return text;
}

static void report(int fd, const char *fmt, ...) _printf_(2, 3);
static void report(int fd, const char *fmt, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        (void) !write(fd, text, strlen(text));
}

/* What the startup helper said so far (startup-protocol.h): 1 once it ran them all, 0 while it
 * is still at it, -1 when one failed (ret_message says which and how). */
static int startup_read_report(int fd, GString *buf, GPtrArray *commands, char **ret_message) {
        char chunk[256];
        ssize_t n;
        char *nl;

        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
                g_string_append_len(buf, chunk, n);
        while ((nl = strchr(buf->str, '\n'))) {
                g_autofree char *line = g_strndup(buf->str, nl - buf->str);
                char kind[16];
                int i, v;

                g_string_erase(buf, 0, nl - buf->str + 1);
                if (streq(line, "DONE"))
                        return 1;
                if (sscanf(line, "FAIL %d %15s %d", &i, kind, &v) != 3)
                        continue; /* "OK <i>" */
                if (i < 1 || !commands || (guint) i > commands->len) {
                        *ret_message = g_strdup_printf("The startup helper failed: %s", g_strerror(v));
                        return -1;
                }
                {
                        char **argv = commands->pdata[i - 1];
                        g_autofree char *text = startup_command_text(argv, (int) g_strv_length(argv));

                        if (streq(kind, "exit"))
                                *ret_message = g_strdup_printf("Startup command %d '%s' failed with exit status %d", i, text, v);
                        else if (streq(kind, "signal"))
                                *ret_message = g_strdup_printf("Startup command %d '%s' was killed by signal %d (SIG%s)",
                                                               i, text, v, sigabbrev_np(v) ?: "?");
                        else
                                *ret_message = g_strdup_printf("Startup command %d '%s' could not be run: %s", i, text, g_strerror(v));
                }
                return -1;
        }
        return 0;
}

static const char *const capability_names[] = {
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
        "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
        "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
        "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
        "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
        "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};

/* The bits of a "name name ..." drop list as lxc.cap.drop takes it; -EINVAL for a name we do not know. */
int runtime_capability_mask(const char *list, uint64_t *ret) {
        g_auto(GStrv) names = g_strsplit(list, " ", -1);
        uint64_t mask = 0;

        for (char **n = names; *n; n++) {
                size_t i;

                if (!**n)
                        continue;
                for (i = 0; i < ELEMENTSOF(capability_names); i++)
                        if (streq(capability_names[i], *n))
                                break;
                if (i >= ELEMENTSOF(capability_names))
                        return -EINVAL;
                mask |= UINT64_C(1) << i;
        }
        *ret = mask;
        return 0;
}

static int read_id_map(pid_t pid, const char *which, unsigned *ret_inside, unsigned *ret_outside, unsigned *ret_count) {
        g_autofree char *path = g_strdup_printf("/proc/%d/%s", (int) pid, which);
        g_autofree char *text = NULL;
        unsigned a, b, c;
        int n = 0;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -ESRCH;
        /* Exactly one line. */
        if (sscanf(text, "%u %u %u %n", &a, &b, &c, &n) != 3 || text[n] != 0)
                return -EBADMSG;
        *ret_inside = a;
        *ret_outside = b;
        *ret_count = c;
        return 0;
}

/* After the start: the payload's id map, capability bounding set, no_new_privs and seccomp mode
 * as the kernel reports them. -ESRCH when it is already gone (the caller sees it end), -EPERM
 * with a message naming the difference. */
int runtime_verify_payload(pid_t pid, const PayloadExpect *e, char **ret_message) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int) pid);
        g_autofree char *status = NULL;
        unsigned long long capbnd = 0;
        int nnp = -1, seccomp = -1;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents(path, &status, NULL, NULL))
                return -ESRCH;
        lines = g_strsplit(status, "\n", -1);
        for (char **l = lines; *l; l++) {
                (void) sscanf(*l, "CapBnd: %llx", &capbnd);
                (void) sscanf(*l, "NoNewPrivs: %d", &nnp);
                (void) sscanf(*l, "Seccomp: %d", &seccomp);
        }
        if (capbnd & e->dropped) {
                *ret_message = g_strdup_printf("the payload's capability bounding set %016llx holds dropped capabilities (%016llx)",
                                               capbnd, (unsigned long long) (capbnd & e->dropped));
                return -EPERM;
        }
        if (nnp != 1) {
                *ret_message = g_strdup("the payload runs without no_new_privs");
                return -EPERM;
        }
        if (e->seccomp && seccomp != 2) {
                *ret_message = g_strdup_printf("the payload runs in seccomp mode %d, not under a filter", seccomp);
                return -EPERM;
        }
        FOREACH_STRING(which, "uid_map", "gid_map") {
                unsigned inside, outside, count;
                int r = read_id_map(pid, which, &inside, &outside, &count);

                if (r == -ESRCH)
                        return r;
                if (r < 0 ||
                    (e->userns && (inside != 0 || outside != e->uid_shift || count != IDMAP_SLOT_SIZE)) ||
                    (!e->userns && (inside != 0 || outside != 0 || count != UINT32_MAX))) {
                        *ret_message = g_strdup_printf("the payload's %s is not the one intended (0 %u %u)", which,
                                                       e->userns ? e->uid_shift : 0, e->userns ? IDMAP_SLOT_SIZE : UINT32_MAX);
                        return -EPERM;
                }
        }
        return 0;
}

static _Noreturn void worker_main(int go_fd, int status_fd, const char *name, const char *unit, const char *lxcpath,
                                  const char *runtime_dir, char **argv, GPtrArray *startup, uint64_t timeout_usec,
                                  uint64_t test_delay_usec, const PayloadExpect *expect) {
        _cleanup_(lxc_container_putp) struct lxc_container *lc = NULL;
        g_autoptr(GString) startup_buf = g_string_new(NULL);
        int rp[2] = { -1, -1 }, startup_state = 1;
        uint64_t deadline;
        pid_t monitor;
        char go;

        /* Wait until the daemon has moved us into the container's scope; EOF means give up. */
        if (read(go_fd, &go, 1) != 1)
                _exit(EXIT_FAILURE);
        {
                g_autofree char *error_path = start_error_path(lxcpath, name);
                (void) unlink(error_path);
        }
        if (test_delay_usec > 0)
                /* Test hook: a start that takes long, to race Stop, Remove and crashes against. */
                (void) usleep(test_delay_usec);

        if (startup && startup->len > 0) {
                /* The startup helper's report pipe: its write end goes down to the container's init
                 * (so without O_CLOEXEC there), we read the other one until "DONE" or "FAIL". */
                if (pipe2(rp, O_CLOEXEC | O_NONBLOCK) < 0 || fcntl(rp[1], F_SETFL, 0) < 0) {
                        report(status_fd, "ERR %d cannot make the startup report pipe\n", errno);
                        _exit(EXIT_FAILURE);
                }
                startup_state = 0;
        }

        monitor = fork();
        if (monitor < 0) {
                report(status_fd, "ERR %d fork failed\n", errno);
                _exit(EXIT_FAILURE);
        }
        if (monitor == 0) {
                g_autoptr(GStrvBuilder) b = g_strv_builder_new();
                g_auto(GStrv) args = NULL;
                int report_fd = -1;

                close(status_fd);
                close(go_fd);
                /* Its own program, so ps, systemctl status and Top name it for what it is and it
                 * carries none of the daemon's memory for the container's lifetime. */
                g_strv_builder_add_many(b, "containers-manager-monitor", name, unit, lxcpath, runtime_dir, NULL);
                if (rp[1] >= 0) {
                        close(rp[0]);
                        report_fd = fcntl(rp[1], F_DUPFD, 3);
                        if (report_fd < 0)
                                _exit(EXIT_FAILURE);
                        strv_builder_add_take(b, g_strdup_printf("--startup-report=%d", report_fd));
                }
                g_strv_builder_add(b, "--");
                if (report_fd >= 0) {
                        /* startup-protocol.h's form: K, then each as N and its N words, then the command. */
                        strv_builder_add_take(b, g_strdup_printf("%u", startup->len));
                        for (guint i = 0; i < startup->len; i++) {
                                char **cmd = startup->pdata[i];
                                strv_builder_add_take(b, g_strdup_printf("%u", g_strv_length(cmd)));
                                g_strv_builder_addv(b, (const char **) cmd);
                        }
                }
                g_strv_builder_addv(b, (const char **) argv);
                args = g_strv_builder_end(b);
                (void) execv(MONITOR_PATH, args);
                /* Not installed (running from a build tree): be the monitor ourselves. */
                runtime_monitor_main(name, unit, lxcpath, runtime_dir, report_fd, args + (report_fd >= 0 ? 7 : 6));
        }
        if (rp[1] >= 0)
                close(rp[1]);

        lc = lxc_container_new(name, lxcpath);
        if (!lc) {
                report(status_fd, "ERR %d cannot load LXC container\n", ENOMEM);
                _exit(EXIT_FAILURE);
        }

        /* The daemon's start timeout (startup commands included) decides and says why; this is
         * only for a daemon that is gone. 0: none, as for the daemon. */
        deadline = timeout_usec > 0 ? now_usec(CLOCK_MONOTONIC) + timeout_usec + 10 * USEC_PER_SEC : UINT64_MAX;
        for (;;) {
                g_autofree char *startup_error = NULL;
                int status;

                if (startup_state == 0)
                        startup_state = startup_read_report(rp[0], startup_buf, startup, &startup_error);
                if (startup_state < 0) {
                        /* The helper ends after a failure, and the container with it; whatever is left
                         * goes with the scope (the daemon stops it on this answer). */
                        report(status_fd, "ERR %d %s\n", EIO, startup_error);
                        _exit(EXIT_FAILURE);
                }
                if (waitpid(monitor, &status, WNOHANG) == monitor) {
                        /* It may have had its last words just before the container ended. */
                        if (startup_state == 0 &&
                            startup_read_report(rp[0], startup_buf, startup, &startup_error) < 0) {
                                report(status_fd, "ERR %d %s\n", EIO, startup_error);
                                _exit(EXIT_FAILURE);
                        }
                        /* A payload that ends at once may be gone before we saw it run. */
                        if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SUCCESS && startup_state > 0)
                                report(status_fd, "EXITED\n");
                        else {
                                /* Our monitor's own reason (no such program, a mount), else the
                                 * first error of LXC's log, which goes with a container whose
                                 * Create fails: say what it says. */
                                g_autofree char *ours = read_start_error(lxcpath, name);
                                g_autofree char *why = ours ? NULL : lxc_log_last_error(lxcpath, name);
                                if (ours)
                                        report(status_fd, "ERR %d %s\n", EIO, ours);
                                else if (startup_state == 0)
                                        report(status_fd, "ERR %d the container ended while its startup commands ran\n", EIO);
                                else
                                        report(status_fd, "ERR %d LXC failed to start the container%s%s\n",
                                               EIO, why ? ": " : "", why ?: "");
                        }
                        _exit(EXIT_FAILURE);
                }
                /* With startup commands, running means the helper has become the command. */
                if (startup_state > 0 && lc->is_running(lc) && streq_ptr(lc->state(lc), "RUNNING")) {
                        pid_t pid = lc->init_pid(lc);
                        if (pid > 0) {
                                g_autofree char *why = NULL;
                                int r = runtime_verify_payload(pid, expect, &why);

                                if (r == -EPERM) {
                                        /* The daemon stops the scope, and the payload with it, on this answer. */
                                        (void) kill(monitor, SIGKILL);
                                        report(status_fd, "ERR %d confinement check failed: %s\n", EPERM, why);
                                        _exit(EXIT_FAILURE);
                                }
                                if (r >= 0) {
                                        report(status_fd, "OK %d\n", (int) pid);
                                        _exit(EXIT_SUCCESS);
                                }
                                /* Gone already: the monitor's end says how. */
                        }
                }
                if (now_usec(CLOCK_MONOTONIC) > deadline) {
                        (void) kill(monitor, SIGKILL);
                        report(status_fd, "ERR %d timed out waiting for the container to run%s\n", ETIMEDOUT,
                               startup_state == 0 ? " (its startup commands had not finished)" : "");
                        _exit(EXIT_FAILURE);
                }
                usleep(2000);
        }
}

int runtime_spawn(Container *c, char **argv, RuntimeWorker *ret) {
        g_autofree char *lxcpath = manager_lxc_path(c->manager);
        int go[2], status[2];
        pid_t pid;

        if (pipe2(go, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(status, O_CLOEXEC | O_NONBLOCK) < 0) {
                int r = -errno;
                close(go[0]);
                close(go[1]);
                return r;
        }

        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(go[0]); close(go[1]); close(status[0]); close(status[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t ss;
                int go_fd, status_fd;

                /* Leave the daemon's world behind: default signals, only our two pipes. */
                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                for (int sig = 1; sig < _NSIG; sig++)
                        if (sig != SIGKILL && sig != SIGSTOP)
                                signal(sig, SIG_DFL);

                /* Park our two pipes at 3 and 4 and close everything else (the bus, the event loop). */
                go_fd = fcntl(go[0], F_DUPFD_CLOEXEC, 100);
                status_fd = fcntl(status[1], F_DUPFD_CLOEXEC, 100);
                if (go_fd < 0 || status_fd < 0 ||
                    dup3(go_fd, 3, O_CLOEXEC) < 0 || dup3(status_fd, 4, O_CLOEXEC) < 0)
                        _exit(EXIT_FAILURE);
                (void) close_range(5, ~0U, 0);
                (void) fcntl(4, F_SETFL, 0);
                {
                        g_autofree char *title = g_strdup_printf("containers-manager start %s", c->name);
                        (void) rename_process(title);
                }
                {
                        PayloadExpect expect = {
                                .userns = !c->privileged,
                                .uid_shift = c->uid_shift,
                                .seccomp = seccomp_available(c),
                        };
                        if (runtime_capability_mask(c->privileged ? CAP_DROP_PRIVILEGED : CAP_DROP_UNPRIVILEGED,
                                                    &expect.dropped) < 0)
                                _exit(EXIT_FAILURE);
                        worker_main(3, 4, c->name, c->unit, lxcpath, c->manager->runtime_dir, argv,
                                    c->policy.startup_commands, c->manager->start_timeout_usec,
                                    c->manager->test_start_delay_usec, &expect);
                }
        }

        close(go[0]);
        close(status[1]);
        *ret = (RuntimeWorker) {
                .pid = pid,
                .go_fd = go[1],
                .status_fd = status[0],
        };
        return 0;
}

int runtime_parse_status(const char *text, pid_t *ret_leader, char **ret_message) {
        int pid, err, n = 0;

        if (!text)
                return -EPROTO;
        if (sscanf(text, "OK %d", &pid) == 1 && pid > 0) {
                *ret_leader = pid;
                if (ret_message)
                        *ret_message = NULL;
                return 0;
        }
        if (g_str_has_prefix(text, "EXITED")) {
                *ret_leader = 0;
                if (ret_message)
                        *ret_message = NULL;
                return 1;
        }
        if (sscanf(text, "ERR %d %n", &err, &n) == 1 && err > 0 && n > 0) {
                if (ret_message)
                        *ret_message = g_strchomp(g_strdup(text + n));
                return -err;
        }
        if (ret_message)
                *ret_message = g_strdup("the start worker ended without an answer");
        return -EPROTO;
}

int runtime_get_leader(Manager *m, const char *name, pid_t *ret_leader) {
        g_autofree char *lxcpath = manager_lxc_path(m);
        _cleanup_(lxc_container_putp) struct lxc_container *lc = lxc_container_new(name, lxcpath);
        pid_t pid;

        if (!lc)
                return -ENOMEM;
        if (!lc->is_running(lc))
                return -ESRCH;
        pid = lc->init_pid(lc);
        if (pid <= 0)
                return -ESRCH;
        *ret_leader = pid;
        return 0;
}

int runtime_exit_status_from_wait(int wait_status) {
        if (WIFEXITED(wait_status))
                return WEXITSTATUS(wait_status);
        if (WIFSIGNALED(wait_status))
                return 128 + WTERMSIG(wait_status);
        return 255;
}

int runtime_attach(const char *lxcpath, const char *name, RuntimeAttachFunc func, void *payload,
                   int stdin_fd, int stdout_fd, int stderr_fd, pid_t *ret_pid) {
        _cleanup_(lxc_container_putp) struct lxc_container *lc = NULL;
        lxc_attach_options_t options = LXC_ATTACH_OPTIONS_DEFAULT;
        /* LXC sets up no environment of its own for us: func builds the whole one. */
        char *empty_env[] = { NULL };
        pid_t pid = 0;

        assert(lxcpath);
        assert(name);
        assert(func);
        assert(ret_pid);

        lc = lxc_container_new(name, lxcpath);
        if (!lc)
                return -ENOMEM;
        if (!lc->is_running(lc))
                return -ESRCH;
        /* The container's namespaces, cgroup, capability bounding set, no_new_privs, seccomp
         * and LSM profile, as lxc-attach gives them: LXC_ATTACH_DEFAULT. Root of the container
         * (func changes to the user it was asked for). */
        options.env_policy = LXC_ATTACH_CLEAR_ENV;
        options.extra_env_vars = empty_env;
        options.initial_cwd = (char *) "/";
        options.uid = 0;
        options.gid = 0;
        options.stdin_fd = stdin_fd;
        options.stdout_fd = stdout_fd;
        options.stderr_fd = stderr_fd;
        options.log_fd = -EBADF;
        if (lc->attach(lc, func, payload, &options, &pid) < 0 || pid <= 0)
                return lc->is_running(lc) ? -EIO : -ESRCH;
        *ret_pid = pid;
        return 0;
}
