/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translates bus calls on /org/containers/Manager/container/<name> to container.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>

#include "autostart.h"
#include "config.h"
#include "bus-util.h"
#include "cgroup.h"
#include "container-dbus.h"
#include "network.h"
#include "errors.h"
#include "idmap.h"
#include "image.h"
#include "journal.h"
#include "options.h"
#include "polkit.h"
#include "runtime.h"
#include "scope.h"
#include "top.h"
#include "worker.h"

#define CONTAINER_IFACE "org.containers.Container"
#define CONTAINER_PREFIX "/org/containers/Manager/container"

int container_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found, sd_bus_error *error) {
        Manager *m = userdata;
        return bus_find_by_name(path, CONTAINER_PREFIX, m->containers, found);
}

int container_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        return bus_enumerate_names(CONTAINER_PREFIX, m->containers, nodes);
}

void container_emit_changed(Container *c) {
        g_autofree char *path = container_object_path(c);

        if (!c->manager->bus || !path)
                return;
        (void) sd_bus_emit_properties_changed(c->manager->bus, path, CONTAINER_IFACE,
                                              "State", "Leader", "StartedTimestamp", "FinishedTimestamp", "ExitStatus",
                                              "RestartCount", NULL);
}

const char **container_polkit_details(Container *c, const char *verb, const char *buf[static 7]) {
        buf[0] = "container";
        buf[1] = c->name;
        buf[2] = "image";
        buf[3] = c->image;
        buf[4] = "verb";
        buf[5] = verb;
        buf[6] = NULL;
        return buf;
}

const char **container_polkit_details_with(Container *c, const char *verb, const char *key, const char *value,
                                           const char *buf[static 9]) {
        container_polkit_details(c, verb, buf);
        buf[6] = key;
        buf[7] = value;
        buf[8] = NULL;
        return buf;
}

/* Finishes a deferred Start/Stop/Restart; a container that went away is NoSuchContainer, any
 * other failure failed_name with what went wrong. Takes the message's reference. */
static void reply_when_done(sd_bus_message *msg, Container *c, int error, const char *message,
                            const char *failed_name, const char *what) {
        if (error < 0)
                (void) sd_bus_reply_method_errorf(msg, error == -ECANCELED ? CM_ERROR_NO_SUCH_CONTAINER : failed_name,
                                                  "Container '%s'%s: %s", c->name, what, message ?: g_strerror(-error));
        else
                (void) sd_bus_reply_method_return(msg, NULL);
        sd_bus_message_unref(msg);
}

/* Start and Restart: once the container runs (or could not be started). */
static void reply_when_started(Container *c, int error, const char *message, void *userdata) {
        reply_when_done(userdata, c, error, message, CM_ERROR_START_FAILED, "");
}

/* Stop: a stop that fails is not a failed start. */
static void reply_when_stopped(Container *c, int error, const char *message, void *userdata) {
        reply_when_done(userdata, c, error, message, SD_BUS_ERROR_FAILED, " did not stop");
}

typedef int (*ContainerVerb)(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error);

static int method_verb(sd_bus_message *msg, Container *c, const char *verb, ContainerVerb fn,
                       ContainerDoneCallback reply, sd_bus_error *error) {
        const char *details[7];
        int r;

        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details(c, verb, details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = fn(c, reply, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

static int method_start(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_verb(msg, userdata, "start", container_start, reply_when_started, error);
}

static int method_stop(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_verb(msg, userdata, "stop", container_stop, reply_when_stopped, error);
}

static int method_restart(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_verb(msg, userdata, "restart", container_restart, reply_when_started, error);
}

static int container_freeze(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        return container_set_frozen(c, true, cb, userdata, error);
}

static int container_thaw(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        return container_set_frozen(c, false, cb, userdata, error);
}

/* Freeze and Thaw: once the kernel says so. */
static void reply_when_frozen(Container *c, int error, const char *message, void *userdata) {
        reply_when_done(userdata, c, error, message, SD_BUS_ERROR_FAILED, " was not frozen");
}

static void reply_when_thawed(Container *c, int error, const char *message, void *userdata) {
        reply_when_done(userdata, c, error, message, SD_BUS_ERROR_FAILED, " was not thawed");
}

static int method_freeze(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_verb(msg, userdata, "freeze", container_freeze, reply_when_frozen, error);
}

static int method_thaw(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_verb(msg, userdata, "thaw", container_thaw, reply_when_thawed, error);
}

/* As machined's KillMachine: "leader" is the payload's init, "all" every process of its payload
 * (not the monitor, which must live to record how the payload ended). */
static int method_kill(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_autofree char *cgroup = NULL;
        const char *details[7], *whom;
        int32_t signo;
        int r;

        r = sd_bus_message_read(msg, "si", &whom, &signo);
        if (r < 0)
                return r;
        if (!STR_IN_SET(whom, "leader", "all"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid whom '%s': 'leader' or 'all'", whom);
        if (signo <= 0 || signo >= _NSIG)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid signal %" PRIi32, signo);

        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details(c, "kill", details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (!container_has_payload(c) || c->leader <= 0)
                return sd_bus_error_setf(error, CM_ERROR_NOT_RUNNING, "Container '%s' is not running (%s)",
                                         c->name, container_state_to_string(c->state));
        if (streq(whom, "leader")) {
                if (kill(c->leader, signo) < 0)
                        return sd_bus_error_set_errnof(error, errno, "Cannot signal the leader of '%s': %m", c->name);
                return sd_bus_reply_method_return(msg, NULL);
        }
        r = cgroup_pid_unified_path(c->leader, &cgroup);
        if (r >= 0)
                r = cgroup_kill_recursive(cgroup, signo);
        else if (r == -EOPNOTSUPP)
                /* No unified hierarchy to find the payload's processes in: all the scope's. */
                r = scope_kill(c->manager, c->unit, signo);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot signal the processes of '%s': %m", c->name);
        return sd_bus_reply_method_return(msg, NULL);
}

/* Rename of a container with autostart: container@NEW.service is enabled and container@OLD
 * disabled first; if systemd refuses, or the rename then fails, the units are as before. */
typedef struct RenameAutostart {
        sd_bus_message *msg;
        char *name, *new_name;
        char id[33];
} RenameAutostart;

static void rename_autostart_free(RenameAutostart *ra) {
        sd_bus_message_unref(ra->msg);
        g_free(ra->name);
        g_free(ra->new_name);
        g_free(ra);
}

static void on_rename_refreshed(Manager *m, const sd_bus_error *error, void *userdata) {
        RenameAutostart *ra = userdata;

        (void) sd_bus_reply_method_return(ra->msg, NULL);
        rename_autostart_free(ra);
}

static void on_rename_moved(Manager *m, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        RenameAutostart *ra = userdata;
        Container *c = manager_get_container(m, ra->name);
        int r;

        if (error) {
                g_autofree char *unit = autostart_unit_name(ra->new_name), *old = autostart_unit_name(ra->name);
                (void) sd_bus_reply_method_errorf(ra->msg, CM_ERROR_AUTOSTART_FAILED,
                                                  "systemd refused to enable %s and disable %s (nothing changed): %s",
                                                  unit, old, error->message ?: error->name);
                return rename_autostart_free(ra);
        }
        if (!c || !streq(c->id, ra->id))
                r = sd_bus_error_setf(&e, CM_ERROR_NO_SUCH_CONTAINER, "Container '%s' was removed meanwhile", ra->name);
        else
                r = manager_rename_container(m, c, ra->new_name, &e);
        if (r < 0) {
                (void) autostart_link_async(m, c ? ra->name : NULL, ra->new_name, NULL, NULL);
                (void) sd_bus_reply_method_error(ra->msg, &e);
                return rename_autostart_free(ra);
        }
        r = autostart_refresh_async(m, true, on_rename_refreshed, ra);
        if (r < 0)
                on_rename_refreshed(m, NULL, ra);
}

static int rename_move_autostart(Container *c, sd_bus_message *msg, const char *new_name, sd_bus_error *error) {
        RenameAutostart *ra = g_new0(RenameAutostart, 1);
        int r;

        ra->msg = sd_bus_message_ref(msg);
        ra->name = g_strdup(c->name);
        ra->new_name = g_strdup(new_name);
        memcpy(ra->id, c->id, sizeof(ra->id));
        r = autostart_link_async(c->manager, new_name, c->name, on_rename_moved, ra);
        if (r < 0) {
                rename_autostart_free(ra);
                return sd_bus_error_set_errnof(error, r, "Cannot ask systemd to move the unit of '%s': %m", c->name);
        }
        return 1;
}

static int method_rename(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *new_name, *details[9];
        int r;

        r = sd_bus_message_read(msg, "s", &new_name);
        if (r < 0)
                return r;
        r = bus_check_new_container_name(new_name, error);
        if (r < 0)
                return r;

        r = polkit_check(c->manager, msg, CM_ACTION_MANAGE,
                         container_polkit_details_with(c, "rename", "new_name", new_name, details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = manager_rename_container_check(c->manager, c, new_name, error);
        if (r < 0)
                return r;
        if (r == 0 && c->policy.autostart)
                return rename_move_autostart(c, msg, new_name, error);
        r = manager_rename_container(c->manager, c, new_name, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

int append_strv_variant(sd_bus_message *reply, const char *key, char **v) {
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, v);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* "K=V" -> "K": what everyone may see of a container's environment. */
char **environment_names(char **env) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        for (char **e = env; e && *e; e++) {
                g_autofree char *name = g_strndup(*e, strcspn(*e, "="));
                g_strv_builder_add(b, name);
        }
        return g_strv_builder_end(b);
}

/* The lifecycle policy: Autostart, AutostartPriority, StartupCommands, Restart, RestartMax,
 * RestartCount. */
static int policy_inspect_append(sd_bus_message *reply, const Container *c) {
        const ContainerPolicy *p = &c->policy;
        int r;

        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}",
                                  "Autostart", "b", p->autostart,
                                  "AutostartPriority", "i", p->autostart_priority,
                                  "Restart", "s", restart_policy_to_string(p->restart),
                                  "RestartMax", "u", p->restart_max,
                                  "RestartCount", "u", c->restart_count);
        if (r >= 0 && c->restart_timer)
                r = sd_bus_message_append(reply, "{sv}", "RestartScheduledTimestamp", "t", c->restart_at_usec);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "StartupCommands");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "aas");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "as");
        for (guint i = 0; r >= 0 && p->startup_commands && i < p->startup_commands->len; i++)
                r = sd_bus_message_append_strv(reply, p->startup_commands->pdata[i]);
        for (int k = 0; r >= 0 && k < 3; k++)
                r = sd_bus_message_close_container(reply);
        return r;
}

int bus_container_method_inspect_append(sd_bus_message *reply, Container *c, bool show_secrets) {
        g_auto(GStrv) confinement = runtime_confinement(c), checks = runtime_start_checks(c), names = NULL;
        Image *image = manager_get_image(c->manager, c->image);
        g_autofree char *path = container_object_path(c);
        g_autofree char *root = g_build_filename(c->manager->state_dir, "containers", c->name, "upper", NULL);
        char **command = c->command && c->command[0] ? c->command : image ? image->command : NULL;
        const char *wd = c->working_directory ?: image ? image->working_directory : "/";
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "Name", "s", c->name,
                                  "Image", "s", c->image,
                                  "State", "s", container_state_to_string(c->state),
                                  "Unit", "s", c->unit,
                                  "Leader", "u", (uint32_t) c->leader,
                                  "ObjectPath", "o", path,
                                  "WorkingDirectory", "s", wd ?: "/",
                                  "RootDirectory", "s", root,
                                  "Ephemeral", "b", c->ephemeral,
                                  "CreatedTimestamp", "t", c->created_usec,
                                  "StartedTimestamp", "t", c->started_usec,
                                  "FinishedTimestamp", "t", c->finished_usec);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}", "ExitStatus", "i", (int32_t) c->exit_status, "Id", "s", c->id);
        if (r >= 0 && c->former_names) {
                g_auto(GStrv) former = g_new0(char *, c->former_names->len + 1);
                for (guint i = 0; i < c->former_names->len; i++)
                        former[i] = g_strdup(g_array_index(c->former_names, FormerName, i).name);
                r = append_strv_variant(reply, "FormerNames", former);
        }
        if (r >= 0 && image && !image->is_base)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}",
                                          "ImageUrl", "s", image->url ?: "",
                                          "ImageBranch", "s", image->branch ?: "",
                                          "ImageCommit", "s", image->commit ?: "",
                                          "ImageBase", "s", image->base ?: "");
        if (r >= 0 && c->start_error)
                r = sd_bus_message_append(reply, "{sv}", "Error", "s", c->start_error);
        /* Only what Create set: otherwise journald's own limits apply, whatever they are. */
        if (r >= 0 && c->log_rate_limit_interval_set)
                r = sd_bus_message_append(reply, "{sv}", "LogRateLimitIntervalUSec", "t", c->log_rate_limit_interval_usec);
        if (r >= 0 && c->log_rate_limit_burst_set)
                r = sd_bus_message_append(reply, "{sv}", "LogRateLimitBurst", "u", c->log_rate_limit_burst);
        /* Only the limits that are set (systemd's defaults otherwise), as the scope's properties
         * say them: CPUQuotaPerSecUSec is cpu_quota_percent * 10000. */
        for (LimitType t = 0; r >= 0 && t < _LIMIT_MAX; t++)
                if (c->limits.value[t] != LIMIT_UNSET)
                        r = sd_bus_message_append(reply, "{sv}", limit_property(t), "t",
                                                  limit_property_value(t, c->limits.value[t]));
        if (r >= 0)
                r = append_strv_variant(reply, "Command", command);
        if (r >= 0)
                r = policy_inspect_append(reply, c);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}",
                                          "Privileged", "b", c->privileged,
                                          "Nesting", "b", c->nesting,
                                          "UidShift", "u", c->privileged ? 0 : c->uid_shift,
                                          "EnvironmentValuesShown", "b", show_secrets);
        if (r >= 0 && c->legacy)
                r = sd_bus_message_append(reply, "{sv}", "PrivilegedReason", "s",
                                          "created by a release without user namespaces: its files are owned by host root");
        if (r >= 0)
                r = append_strv_variant(reply, "Confinement", confinement);
        if (r >= 0)
                /* A container runs only if its start passed these. */
                r = append_strv_variant(reply, "ConfinementChecks", checks);
        if (r >= 0)
                r = network_inspect_append(reply, c);
        if (r >= 0) {
                /* Values can be secrets: only for callers allowed to manage the container. */
                if (!show_secrets)
                        names = environment_names(c->environment);
                r = append_strv_variant(reply, "Environment", show_secrets ? c->environment : names);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int method_inspect(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        Container *c = userdata;
        const char *details[7];
        int r, allowed;

        /* Open to everyone; the environment's values only to those who may manage it. Never
         * prompts: a denial just means names only. */
        allowed = polkit_check_full(c->manager, msg, CM_ACTION_MANAGE, container_polkit_details(c, "inspect", details), false, &denied);
        if (allowed == 0)
                return 1;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = bus_container_method_inspect_append(reply, c, allowed > 0);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int logs_worker(int fd, void *data) {
        const LogQuery *q = data;
        g_autoptr(GString) out = g_string_new(NULL), err = g_string_new(NULL);
        uint64_t left_out = 0;
        int r;

        r = journal_read_logs(q, out, err, &left_out);
        if (r < 0)
                return EXIT_FAILURE;
        return journal_logs_serialize(fd, out, err, left_out) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static void logs_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;
        g_autofree char *out = NULL, *err = NULL, *note = NULL;
        uint64_t left_out = 0;

        if (status != 0 || journal_logs_deserialize(output, size, &out, &err, &left_out) < 0) {
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "Cannot read the journal");
                return;
        }
        /* The worker made every line valid; a reply with invalid UTF-8 would kill our bus. */
        if (!g_utf8_validate(out, -1, NULL))
                SWAP_FREE(out, g_utf8_make_valid(out, -1));
        if (!g_utf8_validate(err, -1, NULL))
                SWAP_FREE(err, g_utf8_make_valid(err, -1));
        if (left_out == 0) {
                (void) sd_bus_reply_method_return(msg, "a{ss}", 2, "stdout", out, "stderr", err);
                return;
        }
        note = g_strdup_printf("%" G_GUINT64_FORMAT " earlier lines left out: a reply holds at most %" G_GUINT64_FORMAT
                               " bytes; ask for fewer lines, or a later 'since', or use FollowLogs()",
                               left_out, journal_logs_max_reply_bytes());
        (void) sd_bus_reply_method_return(msg, "a{ss}", 3, "stdout", out, "stderr", err, "truncated", note);
}

static int method_logs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *details[7];
        uint32_t lines = JOURNAL_LOGS_DEFAULT_LINES;
        uint64_t since = 0;
        LogQuery *q;
        int r;

        r = bus_read_options(msg, (const OptionSpec[]) {
                { "lines", "u", &lines },
                { "since", "t", &since },
                {}
        }, error);
        if (r < 0)
                return r;

        r = polkit_check(c->manager, msg, CM_ACTION_LOGS, container_polkit_details(c, "logs", details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* Never show what an earlier container of the same name wrote. */
        q = log_query_new(c, since, lines, journal_logs_max_reply_bytes() - JOURNAL_LOGS_REPLY_OVERHEAD);
        /* The worker owns the query: it may start later, when others are done. */
        r = worker_spawn_full(c->manager, "containers-manager logs", logs_worker, q, log_query_free, -1, NULL,
                              logs_done, sd_bus_message_ref(msg), NULL);
        if (r < 0) {
                log_query_free(q);
                sd_bus_message_unref(msg);
                return sd_bus_error_set_errnof(error, r, "Cannot read logs: %m");
        }
        return 1;
}

static int method_follow_logs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        const char *details[7];
        uint32_t lines = 0;
        int fd, r;

        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = bus_read_options(msg, (const OptionSpec[]) {
                { "lines", "u", &lines },
                {}
        }, error);
        if (r < 0)
                return r;
        r = bus_check_fd(fd, true, NULL, error);
        if (r < 0)
                return r;

        r = polkit_check(c->manager, msg, CM_ACTION_LOGS, container_polkit_details(c, "logs", details), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* The journal is read in a process of its own: sd_journal_wait() and a slow reader
         * would otherwise stall the bus loop. The reply goes at once; the lines follow. */
        r = journal_follower_start(c, fd, lines);
        if (r == -EUSERS)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "Too many FollowLogs() streams (%u); try again later", JOURNAL_FOLLOWERS_MAX);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot follow the logs of '%s': %m", c->name);
        return sd_bus_reply_method_return(msg, NULL);
}

/* Top is open to every user: nothing of it may run on the loop. systemd's figures are asked for
 * asynchronously, then a helper program (containers-manager-top, top-helper.c) walks the cgroup
 * and /proc (and NSS for user names). Calls for
 * a container that arrive meanwhile wait for the same answer: fifty clients polling Top cost one
 * worker at a time, not fifty forks. */
typedef struct TopRequest {
        Manager *manager;
        GPtrArray *msgs;        /* sd_bus_message*: everyone waiting for this answer */
        char *name;
        char *unit;
        uid_t shift;
        uint32_t n_ids;
        uint64_t delay_usec;    /* test hook: a Top that takes long */
        ScopeAccounting accounting;
        ContainerLimits limits; /* as they were when it was asked */
} TopRequest;

static void message_unref(gpointer m) {
        sd_bus_message_unref(m);
}

static void top_request_free(TopRequest *q) {
        Container *c;

        if (!q)
                return;
        c = manager_get_container(q->manager, q->name);
        if (c && c->top_pending == q)
                c->top_pending = NULL;
        g_ptr_array_unref(q->msgs);
        g_free(q->name);
        g_free(q->unit);
        g_free(q->accounting.control_group);
        g_free(q);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(TopRequest *, top_request_free);

static void top_reply_errorf(TopRequest *q, const char *name, int error, const char *fmt, ...) _printf_(4, 5);
static void top_reply_errorf(TopRequest *q, const char *name, int error, const char *fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (name)
                (void) sd_bus_error_set(&e, name, text);
        else
                (void) sd_bus_error_set_errnof(&e, error, "%s", text);
        for (guint i = 0; i < q->msgs->len; i++)
                (void) sd_bus_reply_method_error(q->msgs->pdata[i], &e);
}

static int top_reply(sd_bus_message *msg, TopInfo *t, const ScopeAccounting *a, const ContainerLimits *l) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *source = "proc";
        int r;

        /* systemd's accounting when the host has it; the sums over /proc otherwise. */
        if (a->cpu_nsec != UINT64_MAX && a->memory_bytes != UINT64_MAX) {
                t->cpu_nsec = a->cpu_nsec;
                t->memory_bytes = a->memory_bytes;
                source = "systemd";
        }
        if (a->tasks != UINT64_MAX)
                t->tasks = a->tasks;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}",
                                          "cpu_usage_nsec", "t", t->cpu_nsec,
                                          "memory_bytes", "t", t->memory_bytes,
                                          "tasks", "t", t->tasks,
                                          "source", "s", source,
                                          /* processes left out or command lines cut (top.h) */
                                          "truncated", "b", t->truncated);
        /* The limits that are set, by their option names (the values as given). */
        for (LimitType k = 0; r >= 0 && k < _LIMIT_MAX; k++)
                if (l->value[k] != LIMIT_UNSET)
                        r = sd_bus_message_append(reply, "{sv}", limit_option(k), "t", l->value[k]);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "processes");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a(uusttts)");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(uusttts)");
        for (guint i = 0; r >= 0 && i < t->processes->len; i++) {
                TopProcess *p = g_ptr_array_index(t->processes, i);
                r = sd_bus_message_append(reply, "(uusttts)", (uint32_t) p->pid, (uint32_t) p->ns_pid, p->user,
                                          p->cpu_nsec, p->rss_bytes, p->threads, p->cmdline);
        }
        for (int k = 0; r >= 0 && k < 4; k++)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static void top_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        _cleanup_(top_request_freep) TopRequest *q = userdata;
        TopInfo t = {};
        int r;

        if (status != 0 || top_info_deserialize(output, size, &t) < 0) {
                top_reply_errorf(q, SD_BUS_ERROR_FAILED, 0, "Cannot read the processes of %s", q->unit);
                return;
        }
        for (guint i = 0; i < q->msgs->len; i++) {
                r = top_reply(q->msgs->pdata[i], &t, &q->accounting, &q->limits);
                if (r < 0)
                        (void) sd_bus_reply_method_errnof(q->msgs->pdata[i], r, "Cannot send Top's answer: %m");
        }
        top_info_clear(&t);
}

static void top_on_accounting(Manager *m, int error, ScopeAccounting *a, void *userdata) {
        _cleanup_(top_request_freep) TopRequest *q = userdata;
        int r;

        if (error == -ENOENT) {
                top_reply_errorf(q, CM_ERROR_NOT_RUNNING, 0, "Container '%s' is not running", q->name);
                return;
        }
        if (error < 0) {
                top_reply_errorf(q, NULL, error, "Cannot look up %s: %s", q->unit, g_strerror(-error));
                return;
        }
        q->accounting = *a;
        {
                g_autofree char *shift = g_strdup_printf("%u", (unsigned) q->shift);
                g_autofree char *n_ids = g_strdup_printf("%u", q->n_ids);
                g_autofree char *delay = g_strdup_printf("%" PRIu64, q->delay_usec);
                char *argv[] = { (char *) TOP_HELPER_PATH, q->accounting.control_group ?: (char *) "", shift, n_ids,
                                 delay, NULL };

                /* An exec'd helper, not a fork of the daemon: Top is what clients poll. */
                r = worker_spawn_exec(m, argv, top_done, q, NULL);
        }
        if (r < 0) {
                top_reply_errorf(q, NULL, r, "Cannot fork for Top: %s", g_strerror(-r));
                return;
        }
        TAKE_PTR(q); /* the worker's now */
}

static int method_top(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(top_request_freep) TopRequest *q = NULL;
        Container *c = userdata;
        int r;

        if (!container_has_payload(c))
                return sd_bus_error_setf(error, CM_ERROR_NOT_RUNNING, "Container '%s' is not running (%s)",
                                         c->name, container_state_to_string(c->state));

        if (c->top_pending) {
                /* One is on its way: this caller gets the same answer. */
                g_ptr_array_add(c->top_pending->msgs, sd_bus_message_ref(msg));
                return 1;
        }

        q = g_new0(TopRequest, 1);
        q->manager = c->manager;
        q->msgs = g_ptr_array_new_with_free_func(message_unref);
        g_ptr_array_add(q->msgs, sd_bus_message_ref(msg));
        q->name = g_strdup(c->name);
        q->unit = g_strdup(c->unit);
        q->shift = c->uid_shift;
        q->n_ids = c->privileged ? 0 : IDMAP_SLOT_SIZE;
        q->delay_usec = c->manager->test_top_delay_usec;
        q->limits = c->limits;
        r = scope_get_accounting_async(c->manager, c->unit, top_on_accounting, q);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot ask systemd about %s: %m", c->unit);
        c->top_pending = TAKE_PTR(q);
        return 1;
}

static int method_image(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_reply_method_return(msg, "s", c->image);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "s", container_state_to_string(c->state));
}

static int property_get_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "s", c->id);
}

static int property_get_leader(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) c->leader);
}

static int property_get_command(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        Image *image = manager_get_image(c->manager, c->image);
        return sd_bus_message_append_strv(reply, c->command && c->command[0] ? c->command : image ? image->command : NULL);
}

static int property_get_environment(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        g_auto(GStrv) names = environment_names(c->environment);
        /* Properties reach everyone (GetManagedObjects too): names only, values through Inspect. */
        return sd_bus_message_append_strv(reply, names);
}

static int property_get_uid_shift(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "u", c->privileged ? 0 : c->uid_shift);
}

static int property_get_privileged(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "b", c->privileged);
}

static int property_get_ephemeral(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Container *c = userdata;
        return sd_bus_message_append(reply, "b", c->ephemeral);
}

const sd_bus_vtable container_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Container, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Id", "s", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Image", "s", NULL, offsetof(Container, image), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Unit", "s", NULL, offsetof(Container, unit), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Leader", "u", property_get_leader, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CreatedTimestamp", "t", NULL, offsetof(Container, created_usec), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartedTimestamp", "t", NULL, offsetof(Container, started_usec), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FinishedTimestamp", "t", NULL, offsetof(Container, finished_usec), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ExitStatus", "i", NULL, offsetof(Container, exit_status), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Environment", "as", property_get_environment, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Privileged", "b", property_get_privileged, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("UidShift", "u", property_get_uid_shift, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Command", "as", property_get_command, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Ephemeral", "b", property_get_ephemeral, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RestartCount", "u", NULL, offsetof(Container, restart_count), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Start", NULL, NULL, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Stop", NULL, NULL, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Restart", NULL, NULL, method_restart, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Inspect", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info), method_inspect, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Logs", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{ss}", logs), method_logs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FollowLogs", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_NO_RESULT, method_follow_logs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Top", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info), method_top, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Freeze", NULL, NULL, method_freeze, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Thaw", NULL, NULL, method_thaw, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Kill", SD_BUS_ARGS("s", whom, "i", signal), SD_BUS_NO_RESULT, method_kill, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rename", SD_BUS_ARGS("s", new_name), SD_BUS_NO_RESULT, method_rename, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Image", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", image), method_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
