/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "autostart.h"
#include "log.h"
#include "errors.h"
#include "idmap.h"
#include "network.h"
#include "manager-dbus.h"
#include "manager.h"
#include "scope.h"

static int parse_seconds_env(const char *name, uint64_t *usec) {
        const char *v = getenv(name);
        char *end;
        double d;

        if (!v)
                return 0;
        d = g_ascii_strtod(v, &end);
        if (end == v || *end || d < 0) {
                log_warning("Ignoring invalid %s=%s", name, v);
                return -EINVAL;
        }
        *usec = (uint64_t) (d * USEC_PER_SEC);
        return 0;
}

static int parse_uint_env(const char *name, uint64_t *ret) {
        const char *v = getenv(name);
        guint64 u;

        if (!v)
                return 0;
        if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT64, &u, NULL)) {
                log_warning("Ignoring invalid %s=%s", name, v);
                return -EINVAL;
        }
        *ret = u;
        return 0;
}

/* Calls that never start anything in flight: still answered while the daemon drains. */
static bool call_is_harmless(sd_bus_message *msg) {
        const char *iface = sd_bus_message_get_interface(msg), *member = sd_bus_message_get_member(msg);

        if (!iface || g_str_has_prefix(iface, "org.freedesktop.DBus."))
                return true;
        return streq(iface, MANAGER_BUS_NAME) && member &&
                STR_IN_SET(member, "List", "Images", "GetContainer", "GetImage");
}

static int bus_filter(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;

        /* Only calls to us are activity: systemd's JobRemoved and UnitRemoved for every unit of
         * a busy host must not keep the daemon from exiting. What concerns our containers
         * starts or ends an operation, and that counts by itself. */
        if (!sd_bus_message_is_method_call(msg, NULL, NULL))
                return 0;
        if (m->draining && !call_is_harmless(msg)) {
                /* The name is released and we are on our way out: nothing half-done. A retry
                 * activates a fresh instance. */
                (void) sd_bus_reply_method_errorf(msg, CM_ERROR_SHUTTING_DOWN,
                                                  "containers-manager is exiting after being idle; call again");
                return 1;
        }
        manager_note_activity(m);
        return 0;
}

static int on_drained(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        /* What was queued for us before the release: answered (the draining way), then gone.
         * (From an event source of its own: sd_bus_process() cannot run inside a bus callback.) */
        while (sd_bus_process(m->bus, NULL) > 0)
                ;
        return sd_event_exit(m->event, 0);
}

static int on_name_released(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (e)
                log_warning("Cannot release the bus name: %s", e->message ?: e->name);
        r = sd_event_add_defer(m->event, NULL, on_drained, m);
        if (r < 0)
                return sd_event_exit(m->event, 0);
        return 0;
}

/* Exits once nothing has happened for idle_timeout and nothing is in flight. Running
 * containers don't count: systemd holds them, and we adopt them again on the next call. */
static int on_idle_check(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (!manager_is_idle(m) || now < m->last_activity_usec + m->idle_timeout_usec) {
                uint64_t next = MAX(now, m->last_activity_usec) + m->idle_timeout_usec;
                (void) sd_event_source_set_time(s, next);
                return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }

        log_info("Idle for %" G_GUINT64_FORMAT "s, exiting.", m->idle_timeout_usec / USEC_PER_SEC);
        /* Give the name back first: later calls activate a fresh instance. Calls already queued
         * for us are answered below: read-only ones as usual, the rest with ShuttingDown,
         * since nothing started now would be finished. */
        m->draining = true;
        if (m->test_drain_delay_usec > 0)
                /* Test hook only: calls sent now queue up unread, as if they had crossed the
                 * release on the wire (once it is released the bus refuses them itself). */
                (void) usleep(m->test_drain_delay_usec);
        /* Asynchronously like every other call: calls that arrive until the bus confirms are
         * answered by the loop, the draining way. */
        r = sd_bus_release_name_async(m->bus, NULL, MANAGER_BUS_NAME, on_name_released, m);
        if (r < 0) {
                log_warning_errno(r, "Cannot release the bus name");
                return sd_event_exit(sd_event_source_get_event(s), 0);
        }
        return 0;
}

static int on_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        uint32_t result = 0;

        if (e) {
                log_error("Cannot own %s: %s", MANAGER_BUS_NAME, e->message ?: e->name);
                (void) sd_event_exit(m->event, EXIT_FAILURE);
                return 0;
        }
        /* A reply that is no error may still say someone else has it (the synchronous call turned
         * that into -EEXIST for us). */
        r = sd_bus_message_read(reply, "u", &result);
        if (r < 0 || !IN_SET(result, 1 /* primary owner */, 4 /* already owner */)) {
                log_error("Cannot own %s: %s", MANAGER_BUS_NAME,
                          r < 0 ? "bad reply" : result == 3 ? "it has another owner" : "queued behind another owner");
                (void) sd_event_exit(m->event, EXIT_FAILURE);
                return 0;
        }
        /* Units of autostart containers as their policies say, asked of systemd asynchronously. */
        r = autostart_reconcile(m);
        if (r < 0)
                log_warning_errno(r, "Cannot reconcile the autostart units");

        /* Only now: the name is ours, so nothing here delays a client, and none of it on the loop. */
        r = manager_start_background_work(m);
        if (r < 0)
                log_warning_errno(r, "Cannot start the start-up clean-up");
        log_info("containers-manager %s running: %u containers, %u images.", PACKAGE_VERSION,
                g_hash_table_size(m->containers), g_hash_table_size(m->images));
        return 0;
}

/* Every container is adopted (systemd answered, through the loop): the objects go on the bus
 * and the name is asked for, asynchronously too. */
static void on_adopted(Manager *m) {
        int r;

        r = manager_bus_register(m);
        if (r >= 0)
                r = sd_bus_request_name_async(m->bus, NULL, MANAGER_BUS_NAME, 0, on_name_acquired, m);
        if (r >= 0) {
                manager_note_activity(m);
                if (m->idle_timeout_usec > 0)
                        r = sd_event_add_time(m->event, &m->idle_source, CLOCK_MONOTONIC,
                                              now_usec(CLOCK_MONOTONIC) + m->idle_timeout_usec, 0, on_idle_check, m);
        }
        if (r < 0) {
                log_error_errno(r, "Cannot go on the bus");
                (void) sd_event_exit(m->event, EXIT_FAILURE);
        }
}

static void help(void) {
        printf("containers-managerd [--help] [--version]\n\n"
               "Builds and runs containers for the local machine, driven over the system bus\n"
               "as org.containers.Manager. Usually started by D-Bus activation.\n\n"
               "Environment:\n"
               "  CONTAINERS_MANAGER_IDLE_TIMEOUT_SEC  exit after this long without activity (default 30, 0: never)\n"
               "  CONTAINERS_MANAGER_STOP_TIMEOUT_SEC  grace period before a stop is forced (default 10)\n"
               "  CONTAINERS_MANAGER_START_TIMEOUT_SEC  a start that has not run by then fails (default 120)\n"
               "  CONTAINERS_MANAGER_BUILD_TIMEOUT_SEC  longest a build may fetch (default 600)\n"
               "  CONTAINERS_MANAGER_BUILD_MAX_BYTES   most a build may download (default 256 MiB)\n"
               "  CONTAINERS_MANAGER_BUILD_MAX_FILES   most files a checkout may have (default 100000)\n"
               "  CONTAINERS_MANAGER_BUILD_RETENTION_SEC  how long finished builds stay visible (default 600)\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, "hV", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case 'V':
                        puts(PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_FAILURE;
                }
        if (optind < argc) {
                fprintf(stderr, "This program takes no arguments.\n");
                return EXIT_FAILURE;
        }

        umask(0022);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&event);
        if (r < 0)
                goto fail;
        r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r < 0)
                goto fail;

        r = manager_new(event, STATE_DIR, RUNTIME_DIR, getenv("CONTAINERS_MANAGER_BASES_DIR") ?: BASES_DIR, &m);
        if (r < 0)
                goto fail;
        (void) parse_seconds_env("CONTAINERS_MANAGER_IDLE_TIMEOUT_SEC", &m->idle_timeout_usec);
        (void) parse_seconds_env("CONTAINERS_MANAGER_STOP_TIMEOUT_SEC", &m->stop_timeout_usec);
        (void) parse_seconds_env("CONTAINERS_MANAGER_BUILD_TIMEOUT_SEC", &m->build_timeout_usec);
        (void) parse_seconds_env("CONTAINERS_MANAGER_BUILD_RETENTION_SEC", &m->build_retention_usec);
        (void) parse_uint_env("CONTAINERS_MANAGER_BUILD_MAX_BYTES", &m->build_max_bytes);
        (void) parse_uint_env("CONTAINERS_MANAGER_BUILD_MAX_FILES", &m->build_max_files);
        (void) parse_seconds_env("CONTAINERS_MANAGER_TEST_DRAIN_DELAY_SEC", &m->test_drain_delay_usec);
        (void) parse_seconds_env("CONTAINERS_MANAGER_TEST_TOP_DELAY_SEC", &m->test_top_delay_usec);
        (void) parse_seconds_env("CONTAINERS_MANAGER_TEST_START_DELAY_SEC", &m->test_start_delay_usec);
        (void) parse_seconds_env("CONTAINERS_MANAGER_START_TIMEOUT_SEC", &m->start_timeout_usec);
        m->test_ignore_scope_jobs = getenv("CONTAINERS_MANAGER_TEST_IGNORE_SCOPE_JOBS") != NULL;

        r = mkdir_p(m->state_dir, 0700);
        if (r >= 0)
                r = mkdir_p(m->runtime_dir, 0700);
        if (r < 0) {
                log_error_errno(r, "Cannot create state directories");
                return EXIT_FAILURE;
        }

        {
                g_autofree char *msg = NULL;
                r = idmap_block_load(CONFIG_FILE_DEFAULT, &m->id_block, &msg);
                if (r < 0)
                        log_warning("%s; using the default block of %u ids from %u.", msg,
                                m->id_block.size, m->id_block.start);
        }
        {
                g_autofree char *msg = NULL;
                r = size_caps_load(CONFIG_FILE_DEFAULT, &m->size_caps, &msg);
                if (r < 0)
                        log_warning("%s; every size cap is %" PRIu64 " bytes.", msg, SIZE_CAP_DEFAULT);
        }
        {
                g_autofree char *msg = NULL;
                r = network_config_load(m->network, CONFIG_FILE_DEFAULT, &msg);
                if (r < 0)
                        log_warning("%s; using bridge %s and subnet %s.", msg, NETWORK_DEFAULT_BRIDGE, NETWORK_DEFAULT_SUBNET);
        }
        {
                g_autofree char *msg = NULL;
                r = idmap_block_check(&m->id_block, "/etc/subuid", "/etc/subgid", &msg);
                if (r < 0) {
                        log_error("%s: no unprivileged container will start or be created until it is "
                                  "moved (" CONFIG_FILE_DEFAULT ", [IdMap]).", msg);
                        m->id_block_problem = TAKE_PTR(msg);
                }
        }
        /* Reserve the block for root, so that useradd never hands these ids to a user. */
        FOREACH_STRING(f, "/etc/subuid", "/etc/subgid") {
                if (m->id_block_problem)
                        break;
                r = idmap_subid_file_ensure(f, &m->id_block);
                if (r < 0)
                        log_warning_errno(r, "Cannot record the id block in %s", f);
        }

        r = manager_load(m);
        if (r < 0)
                goto fail;

        r = sd_bus_default_system(&m->bus);
        if (r < 0) {
                log_error_errno(r, "Cannot connect to the system bus");
                return EXIT_FAILURE;
        }
        r = sd_bus_error_add_map(cm_error_map);
        if (r < 0)
                goto fail;
        r = sd_bus_attach_event(m->bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto fail;
        r = sd_bus_add_filter(m->bus, NULL, bus_filter, m);
        if (r < 0)
                goto fail;

        /* Hear about our scopes before looking at them, so no change slips between. */
        r = scope_subscribe(m);
        if (r < 0)
                goto fail;
        r = manager_adopt(m, on_adopted);
        if (r < 0)
                goto fail;

        r = sd_event_loop(event);
        if (r < 0)
                goto fail;
        return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;

fail:
        log_error_errno(r, "Failed");
        return EXIT_FAILURE;
}
