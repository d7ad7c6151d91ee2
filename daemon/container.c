/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <syslog.h>

#include <systemd/sd-id128.h>

#include "cgroup.h"
#include "log.h"
#include "container.h"
#include "container-dbus.h"
#include "errors.h"
#include "image.h"
#include "journal.h"
#include "machine.h"
#include "network.h"
#include "runtime.h"
#include "scope.h"
#include "snapshot.h"
#include "store.h"

static const char *const container_state_table[_CONTAINER_STATE_MAX] = {
        [CONTAINER_CREATED] = "created",
        [CONTAINER_STARTING] = "starting",
        [CONTAINER_RUNNING] = "running",
        [CONTAINER_STOPPING] = "stopping",
        [CONTAINER_STOPPED] = "stopped",
        [CONTAINER_FAILED] = "failed",
        [CONTAINER_FROZEN] = "frozen",
};
DEFINE_STRING_TABLE_LOOKUP(container_state, ContainerState);

typedef enum WaiterGoal {
        GOAL_RUNNING,
        GOAL_STOPPED,
        GOAL_RESTART,   /* stopped, then started again */
} WaiterGoal;

typedef struct ContainerWaiter {
        WaiterGoal goal;
        ContainerDoneCallback callback;
        void *userdata;
} ContainerWaiter;

/* Freeze/Thaw: the kernel freezes a cgroup asynchronously and says so in cgroup.events. */
#define FREEZE_TIMEOUT_USEC (10 * USEC_PER_SEC)

typedef struct FreezeRequest {
        bool frozen;            /* the goal */
        char *cgroup;           /* the payload's cgroup directory */
        GPtrArray *waiters;     /* ContainerWaiter* */
        sd_event_source *events_source;
        sd_event_source *timer;
} FreezeRequest;

/* Answers everyone waiting for a Freeze/Thaw (error 0: done) and forgets the request. */
static void freeze_request_finish(Container *c, int error, const char *message) {
        FreezeRequest *q = TAKE_PTR(c->freeze_pending);

        if (!q)
                return;
        sd_event_source_disable_unref(q->events_source);
        sd_event_source_disable_unref(q->timer);
        for (guint i = 0; i < q->waiters->len; i++) {
                ContainerWaiter *w = g_ptr_array_index(q->waiters, i);
                w->callback(c, error, message, w->userdata);
        }
        g_ptr_array_unref(q->waiters);
        g_free(q->cgroup);
        g_free(q);
}

int container_new(Manager *m, const char *name, Container **ret) {
        Container *c;

        if (!name_is_valid(name))
                return -EINVAL;

        c = g_new0(Container, 1);
        c->manager = m;
        c->name = g_strdup(name);
        c->unit = container_unit_name(name);
        c->state = CONTAINER_CREATED;
        c->exit_status = -1;
        limits_init(&c->limits);
        policy_init(&c->policy);
        c->go_fd = -1;
        c->status_fd = -1;
        c->waiters = g_ptr_array_new_with_free_func(g_free);
        c->restart_times = g_array_new(false, false, sizeof(uint64_t));
        *ret = c;
        return 0;
}

void container_new_id(Container *c) {
        sd_id128_t id;

        if (sd_id128_randomize(&id) < 0)
                /* Only without a kernel random source; unique enough among one host's containers. */
                id = (sd_id128_t) { .qwords = { g_random_int() ^ now_usec(CLOCK_REALTIME), (uint64_t) g_random_int() << 32 | g_random_int() } };
        (void) sd_id128_to_string(id, c->id);
}

static void former_name_clear(gpointer p) {
        g_free(((FormerName *) p)->name);
}

void container_add_former_name(Container *c, const char *old_name, uint64_t until_usec) {
        FormerName f = { .name = g_strdup(old_name), .until_usec = until_usec };

        assert(c);
        assert(old_name);
        if (!c->former_names) {
                c->former_names = g_array_new(false, false, sizeof(FormerName));
                g_array_set_clear_func(c->former_names, former_name_clear);
        }
        g_array_append_val(c->former_names, f);
}

static void container_release_worker(Container *c) {
        c->start_timer = sd_event_source_disable_unref(c->start_timer);
        c->machine_wait = machine_wait_free(c->machine_wait);
        c->worker_source = sd_event_source_disable_unref(c->worker_source);
        c->scope_slot = sd_bus_slot_unref(c->scope_slot);
        if (c->go_fd >= 0)
                close(TAKE_FD(c->go_fd));
        if (c->status_fd >= 0)
                close(TAKE_FD(c->status_fd));
        g_clear_pointer(&c->scope_job, g_free);
        c->worker = 0;
}

Container *container_free(Container *c) {
        if (!c)
                return NULL;

        /* Waiters that never got an answer: tell them, so no bus call hangs. */
        for (guint i = 0; i < c->waiters->len; i++) {
                ContainerWaiter *w = g_ptr_array_index(c->waiters, i);
                w->callback(c, -ECANCELED, "Container went away", w->userdata);
        }
        g_ptr_array_unref(c->waiters);

        freeze_request_finish(c, -ECANCELED, "Container went away");
        container_release_worker(c);
        journal_followers_kill(c);
        c->unit_match = sd_bus_slot_unref(c->unit_match);
        c->stop_timer = sd_event_source_disable_unref(c->stop_timer);
        c->start_timer = sd_event_source_disable_unref(c->start_timer);
        c->restart_timer = sd_event_source_disable_unref(c->restart_timer);
        g_array_unref(c->restart_times);
        g_free(c->start_error);
        if (c->former_names)
                g_array_unref(c->former_names);
        g_free(c->name);
        g_free(c->image);
        g_strfreev(c->command);
        g_strfreev(c->environment);
        g_free(c->working_directory);
        g_free(c->mac_address);
        if (c->ports)
                g_array_unref(c->ports);
        g_free(c->unit);
        policy_done(&c->policy);
        g_free(c);
        return NULL;
}

char *container_object_path(const Container *c) {
        char *p = NULL;

        if (sd_bus_path_encode("/org/containers/Manager/container", c->name, &p) < 0)
                return NULL;
        return p;
}

bool container_is_active(const Container *c) {
        return IN_SET(c->state, CONTAINER_STARTING, CONTAINER_RUNNING, CONTAINER_STOPPING, CONTAINER_FROZEN);
}

bool container_has_payload(const Container *c) {
        return IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_STOPPING, CONTAINER_FROZEN);
}

void container_set_state(Container *c, ContainerState s) {
        if (c->state == s)
                return;
        c->state = s;
        container_emit_changed(c);
}

static void add_waiter_to(GPtrArray *waiters, WaiterGoal goal, ContainerDoneCallback cb, void *userdata) {
        ContainerWaiter *w;

        if (!cb)
                return;
        w = g_new(ContainerWaiter, 1);
        *w = (ContainerWaiter) { .goal = goal, .callback = cb, .userdata = userdata };
        g_ptr_array_add(waiters, w);
}

static void add_waiter(Container *c, WaiterGoal goal, ContainerDoneCallback cb, void *userdata) {
        add_waiter_to(c->waiters, goal, cb, userdata);
}

static int container_start_internal(Container *c, sd_bus_error *error);

/* The kernel froze or thawed the payload as asked: the container says so. */
static void freeze_reached(Container *c) {
        bool frozen = c->freeze_pending->frozen;

        /* A thaw for a stop: the container is stopping, not running. */
        if (c->state != CONTAINER_STOPPING) {
                container_set_state(c, frozen ? CONTAINER_FROZEN : CONTAINER_RUNNING);
                (void) store_save_container_runtime(c);
        }
        journal_container_event(c, frozen ? CM_MESSAGE_CONTAINER_FROZEN : CM_MESSAGE_CONTAINER_THAWED, LOG_INFO,
                                "Container %s %s.", c->name, frozen ? "frozen" : "thawed");
        freeze_request_finish(c, 0, NULL);
}

static int on_cgroup_events(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Container *c = userdata;
        FreezeRequest *q = c->freeze_pending;

        if (q && cgroup_is_frozen(q->cgroup) == q->frozen)
                freeze_reached(c);
        return 0;
}

static int on_freeze_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;
        FreezeRequest *q = c->freeze_pending;
        g_autofree char *message = NULL;

        if (q->frozen)
                /* Never left half-frozen: what did freeze runs again. */
                (void) cgroup_set_frozen(q->cgroup, false);
        message = g_strdup_printf("its processes did not %s within %" G_GUINT64_FORMAT " s",
                                  q->frozen ? "freeze" : "thaw", FREEZE_TIMEOUT_USEC / USEC_PER_SEC);
        freeze_request_finish(c, -ETIMEDOUT, message);
        return 0;
}

/* Asks the kernel to freeze or thaw the payload; cb once it did (or could not). */
static int freeze_request_start(Container *c, bool frozen, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        g_autofree char *cgroup = NULL, *events = NULL;
        FreezeRequest *q;
        int r;

        r = c->leader > 0 ? cgroup_pid_unified_path(c->leader, &cgroup) : -ESRCH;
        if (r == -EOPNOTSUPP)
                return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                         "Freezing needs the unified cgroup hierarchy (cgroup v2), which this host does not have");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot find the cgroup of '%s': %m", c->name);
        r = cgroup_set_frozen(cgroup, frozen);
        if (r == -EOPNOTSUPP)
                return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED, "This kernel has no cgroup freezer (cgroup.freeze)");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot %s '%s': %m", frozen ? "freeze" : "thaw", c->name);

        q = g_new0(FreezeRequest, 1);
        q->frozen = frozen;
        q->cgroup = TAKE_PTR(cgroup);
        q->waiters = g_ptr_array_new_with_free_func(g_free);
        c->freeze_pending = q;
        add_waiter_to(q->waiters, GOAL_RUNNING, cb, userdata);

        events = g_build_filename(q->cgroup, "cgroup.events", NULL);
        r = sd_event_add_inotify(c->manager->event, &q->events_source, events, IN_MODIFY, on_cgroup_events, c);
        if (r >= 0)
                r = sd_event_add_time_relative(c->manager->event, &q->timer, CLOCK_MONOTONIC, FREEZE_TIMEOUT_USEC, 0,
                                               on_freeze_timeout, c);
        if (r < 0) {
                (void) cgroup_set_frozen(q->cgroup, !frozen);
                freeze_request_finish(c, r, "Cannot watch the cgroup's events");
                return 0;
        }
        /* It may be done already (nothing ran), before inotify was watching. */
        if (cgroup_is_frozen(q->cgroup) == frozen)
                freeze_reached(c);
        return 0;
}

int container_set_frozen(Container *c, bool frozen, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        assert(c);
        if (!IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_FROZEN))
                return sd_bus_error_setf(error, CM_ERROR_NOT_RUNNING, "Container '%s' is not running (%s)",
                                         c->name, container_state_to_string(c->state));
        if (c->freeze_pending && c->freeze_pending->frozen == frozen) {
                add_waiter_to(c->freeze_pending->waiters, GOAL_RUNNING, cb, userdata);
                return 0;
        }
        /* The opposite was asked last: the earlier request ends unanswered by the kernel. */
        freeze_request_finish(c, -EINTR, frozen ? "Freeze() came before it was thawed" : "Thaw() came before it was frozen");
        if ((c->state == CONTAINER_FROZEN) == frozen) {
                if (cb)
                        cb(c, 0, NULL, userdata);
                return 0;
        }
        return freeze_request_start(c, frozen, cb, userdata, error);
}

/* Answers everyone whose goal the container just reached or can no longer reach. */
static void notify_waiters(Container *c) {
        g_autoptr(GPtrArray) pending = c->waiters;
        bool running = c->state == CONTAINER_RUNNING;
        bool down = IN_SET(c->state, CONTAINER_STOPPED, CONTAINER_FAILED, CONTAINER_CREATED);
        bool restart = false;

        c->waiters = g_ptr_array_new_with_free_func(g_free);

        for (guint i = 0; i < pending->len; i++) {
                ContainerWaiter *w = g_ptr_array_index(pending, i);

                if (w->goal == GOAL_RESTART && down && c->removing)
                        /* A Remove came between the stop and the start of a Restart: it wins. */
                        w->callback(c, -ECANCELED, "Container is being removed", w->userdata);
                else if (w->goal == GOAL_RESTART && down) {
                        w->goal = GOAL_RUNNING;
                        restart = true;
                        add_waiter(c, w->goal, w->callback, w->userdata);
                } else if (w->goal == GOAL_RUNNING && running)
                        w->callback(c, 0, NULL, w->userdata);
                else if (w->goal == GOAL_RUNNING && down)
                        w->callback(c, -EIO, c->start_error ?: "Container exited while starting", w->userdata);
                else if (w->goal == GOAL_STOPPED && down)
                        w->callback(c, 0, NULL, w->userdata);
                else
                        add_waiter(c, w->goal, w->callback, w->userdata);
        }

        if (restart) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                if (container_start_internal(c, &e) < 0) {
                        g_free(c->start_error);
                        c->start_error = g_strdup(e.message);
                        notify_waiters(c);
                }
        }
}

/* Restart policy: back-off doubles from RESTART_BACKOFF_MIN_USEC with each restart within the
 * last minute, up to RESTART_BACKOFF_MAX_USEC; restart_max restarts within a minute and it gives up. */
#define RESTART_WINDOW_USEC (60 * USEC_PER_SEC)
#define RESTART_BACKOFF_MIN_USEC (500 * USEC_PER_MSEC)
#define RESTART_BACKOFF_MAX_USEC (30 * USEC_PER_SEC)

static void restart_schedule(Container *c);

bool container_restart_policy_watching(const Container *c) {
        return c->restart_timer || c->restart_in_progress ||
                (c->policy.restart != RESTART_NO && container_is_active(c) && !c->stop_requested && !c->removing);
}

/* Forgets restarts older than a minute; returns how many are left. */
static unsigned restarts_in_window(Container *c) {
        uint64_t now = now_usec(CLOCK_REALTIME);
        guint keep = 0;

        for (guint i = 0; i < c->restart_times->len; i++) {
                uint64_t t = g_array_index(c->restart_times, uint64_t, i);
                if (t <= now && now - t < RESTART_WINDOW_USEC)
                        g_array_index(c->restart_times, uint64_t, keep++) = t;
        }
        g_array_set_size(c->restart_times, keep);
        return keep;
}

static void restart_cancel(Container *c) {
        c->restart_timer = sd_event_source_disable_unref(c->restart_timer);
        c->restart_at_usec = 0;
}

static void restart_now(Container *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t now = now_usec(CLOCK_REALTIME);

        restart_cancel(c);
        if (container_is_active(c) || c->removing || c->stop_requested || c->policy.restart == RESTART_NO)
                return;
        g_array_append_val(c->restart_times, now);
        c->restart_count++;
        c->restart_in_progress = true;
        log_notice("Container %s: restarting it (restart policy '%s', restart %u).",
                   c->name, restart_policy_to_string(c->policy.restart), c->restart_count);
        if (container_start_internal(c, &e) < 0) {
                c->restart_in_progress = false;
                SWAP_FREE(c->start_error, g_strdup(e.message));
                journal_container_event(c, CM_MESSAGE_CONTAINER_FAILED, LOG_ERR,
                                        "Container %s failed to start: %s", c->name, c->start_error);
                container_emit_changed(c);
                restart_schedule(c);
        }
}

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        restart_now(userdata);
        return 0;
}

/* The payload ended (or a restart failed) with no Stop or Remove asked for: try again after
 * the back-off, or give up once restart_max restarts happened within a minute. */
static void restart_schedule(Container *c) {
        unsigned n = restarts_in_window(c);
        uint64_t delay;
        int r;

        restart_cancel(c);
        if (n >= c->policy.restart_max) {
                SWAP_FREE(c->start_error,
                          g_strdup_printf("restart policy '%s' gave up after %u restarts within a minute (restart_max %u)",
                                          restart_policy_to_string(c->policy.restart), n, c->policy.restart_max));
                journal_container_event(c, CM_MESSAGE_CONTAINER_FAILED, LOG_ERR, "Container %s: %s.", c->name, c->start_error);
                (void) store_save_container_runtime(c);
                if (c->ephemeral && !c->removing)
                        /* It ended for good: as any ephemeral container that ends. */
                        (void) manager_remove_container_deferred(c->manager, c, NULL, NULL);
                return;
        }
        delay = MIN(RESTART_BACKOFF_MIN_USEC << MIN(n, 10u), RESTART_BACKOFF_MAX_USEC);
        r = sd_event_add_time_relative(c->manager->event, &c->restart_timer, CLOCK_MONOTONIC, delay, 0,
                                       on_restart_timer, c);
        if (r < 0) {
                log_warning_errno(r, "Container %s: cannot arm the restart timer", c->name);
                return;
        }
        c->restart_at_usec = now_usec(CLOCK_REALTIME) + delay;
        log_info("Container %s: restart in %" PRIu64 " ms (restart policy '%s').",
                 c->name, delay / USEC_PER_MSEC, restart_policy_to_string(c->policy.restart));
        (void) store_save_container_runtime(c);
}

/* After the payload ended: does the policy bring it back? Never after a Stop, a Remove or a
 * stop of its scope by someone else (systemctl stop). */
static bool restart_wanted(const Container *c, bool requested) {
        if (requested || c->stop_from_outside || c->stop_requested || c->removing)
                return false;
        switch (c->policy.restart) {
        case RESTART_ALWAYS:
                return true;
        case RESTART_ON_FAILURE:
                return c->exit_status != 0;
        default:
                return false;
        }
}

static void container_finish_start(Container *c, pid_t leader, const char *error_message) {
        Manager *m = c->manager;
        bool policy_start = c->restart_in_progress;

        container_release_worker(c);
        manager_operation_end(m);
        c->restart_in_progress = false;

        if (!error_message) {
                c->leader = leader;
                c->started_usec = now_usec(CLOCK_REALTIME);
                c->finished_usec = 0;
                g_clear_pointer(&c->start_error, g_free);
                c->stop_from_outside = false;
                container_set_state(c, CONTAINER_RUNNING);
                machine_register(c);
                network_container_started(c);
                (void) store_save_container_runtime(c);
                if (leader > 0)
                        journal_container_event(c, CM_MESSAGE_CONTAINER_STARTED, LOG_INFO,
                                                "Container %s started in %s, leader PID %d.", c->name, c->unit, (int) leader);
                else
                        /* Its command ended before the start worker saw it run. */
                        journal_container_event(c, CM_MESSAGE_CONTAINER_STARTED, LOG_INFO,
                                                "Container %s started in %s; its command ended at once.", c->name, c->unit);
                notify_waiters(c);
                if (c->scope_gone_early)
                        container_scope_gone(c);
                else if (c->stop_after_start && c->state == CONTAINER_RUNNING) {
                        /* A Stop or Remove waited for the start: now it can be done. */
                        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                        c->stop_after_start = false;
                        if (container_stop(c, NULL, NULL, &e) < 0)
                                log_warning("Cannot stop %s after its start: %s", c->name, e.message);
                }
                return;
        } else {
                c->stop_after_start = false;
                /* error_message may be c->start_error itself: copy before freeing. */
                SWAP_FREE(c->start_error, g_strdup(error_message));
                c->leader = 0;
                c->finished_usec = now_usec(CLOCK_REALTIME);
                container_set_state(c, CONTAINER_FAILED);
                (void) store_save_container_runtime(c);
                (void) journal_unit_rate_limit_clear(c->unit);
                /* Whatever LXC left running in the scope goes with it, and so does the scope,
                 * even an empty one (its start worker may have died before systemd moved it). */
                if (!c->scope_refused) {
                        (void) scope_kill(m, c->unit, SIGKILL);
                        (void) scope_stop(m, c->unit);
                }
                /* c->start_error, not error_message: that may be the string just replaced. */
                journal_container_event(c, CM_MESSAGE_CONTAINER_FAILED, LOG_ERR,
                                        "Container %s failed to start: %s", c->name, c->start_error);
                /* A try of the restart policy that failed is a try: the next one after the back-off. */
                if (policy_start && !c->stop_requested && !c->removing)
                        restart_schedule(c);
        }
        notify_waiters(c);
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Container *c = userdata;
        g_autofree char *message = NULL;
        char buf[512];
        ssize_t n;
        pid_t leader = 0;
        int r;

        n = c->status_fd >= 0 ? read(c->status_fd, buf, sizeof(buf) - 1) : -1;
        buf[n > 0 ? n : 0] = 0;

        r = runtime_parse_status(n > 0 ? buf : NULL, &leader, &message);
        if (r == 1)
                /* It ran and ended already: running, then at once whatever it ended as. */
                c->scope_gone_early = true;
        if (r < 0 && c->start_error)
                /* systemd refused the scope: that is the better explanation. */
                container_finish_start(c, 0, c->start_error);
        else
                container_finish_start(c, leader, r < 0 ? (message ?: "start failed") : NULL);
        return 0;
}

void container_scope_job_done(Container *c, const char *result, const char *message) {
        if (c->go_fd < 0)
                return;
        if (streq(result, "done")) {
                /* The worker now sits in the scope: let it start LXC. */
                if (write(c->go_fd, "1", 1) != 1) {
                        g_free(c->start_error);
                        c->start_error = g_strdup("could not signal the start worker");
                }
        } else {
                g_free(c->start_error);
                /* systemd's own words where it gave any: then it refused our StartTransientUnit, and
                 * a unit of that name, if any, is somebody else's; leave it alone. */
                c->scope_refused = message != NULL;
                c->start_error = message ?
                        g_strdup_printf("systemd could not create %s: %s", c->unit, message) :
                        g_strdup_printf("systemd could not create %s (job result '%s')", c->unit, result);
        }
        /* Closing after "go" is harmless; without "go" it makes the worker give up. */
        close(TAKE_FD(c->go_fd));
}

/* Neither systemd's job nor the worker answered in time: give up on this start. */
static int on_start_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;

        c->start_timer = sd_event_source_disable_unref(c->start_timer);
        if (c->state != CONTAINER_STARTING)
                return 0;
        SWAP_FREE(c->start_error, g_strdup_printf("timed out after %" G_GUINT64_FORMAT " s waiting for %s to start%s",
                                                  c->manager->start_timeout_usec / USEC_PER_SEC, c->unit,
                                                  policy_has_startup_commands(&c->policy) ?
                                                  " (its startup commands included)" : ""));
        log_warning("Container %s: %s.", c->name, c->start_error);
        /* The worker's exit (reaped by the loop, in on_worker_exit()) finishes the start as failed. */
        if (c->worker > 0)
                (void) kill(c->worker, SIGKILL);
        (void) scope_kill(c->manager, c->unit, SIGKILL);
        (void) scope_stop(c->manager, c->unit);
        return 0;
}

/* After machine_wait_released(): machined let the machine of the last run go, the scope can be made. */
static void start_scope(Container *c) {
        int r;

        if (c->state != CONTAINER_STARTING || c->worker <= 0)
                return;
        r = scope_start_transient(c->manager, c, c->worker, &c->scope_slot);
        if (r < 0) {
                SWAP_FREE(c->start_error, g_strdup_printf("Cannot ask systemd for a scope: %s", g_strerror(-r)));
                /* Its exit (on_worker_exit()) finishes the start as failed. */
                (void) kill(c->worker, SIGKILL);
        }
}

static int container_start_internal(Container *c, sd_bus_error *error) {
        Manager *m = c->manager;
        RuntimeWorker w;
        Image *image;
        char **argv;
        int r;

        image = manager_get_image(m, c->image);
        if (!image)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "Image '%s' of container '%s' does not exist", c->image, c->name);
        r = image_assemble(image);
        if (r < 0)
                return sd_bus_error_setf(error, CM_ERROR_START_FAILED, "Image '%s' cannot be assembled on this host: %s", image->name, g_strerror(-r));

        argv = c->command && c->command[0] ? c->command : image->command;
        if (!argv || !argv[0])
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Container '%s' has no command", c->name);
        if (!c->privileged && m->id_block_problem)
                return sd_bus_error_setf(error, CM_ERROR_START_FAILED, "Container '%s' cannot start: %s",
                                         c->name, m->id_block_problem);

        /* A published port never shadows a host's socket; the monitor then holds them. */
        r = network_check_host_ports(c, error);
        if (r < 0)
                return r;

        {
                g_autofree char *why = NULL;

                r = runtime_write_config(c, image, &why);
                if (r < 0 && why)
                        return sd_bus_error_setf(error, CM_ERROR_START_FAILED, "Container '%s': %s", c->name, why);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Cannot write the LXC configuration of '%s': %m", c->name);
        }

        /* On disk before systemd hears of the scope: a daemon killed from here on finds it at its
         * next start and settles it (container_adopt_begin() and _finish()). */
        {
                ContainerState old = c->state;

                c->state = CONTAINER_STARTING;
                r = store_save_container_runtime(c);
                c->state = old;
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Cannot save the state of '%s': %m", c->name);
        }

        r = runtime_spawn(c, argv, &w);
        if (r < 0) {
                (void) store_save_container_runtime(c);
                return sd_bus_error_set_errnof(error, r, "Cannot fork the start worker: %m");
        }
        c->worker = w.pid;
        c->go_fd = w.go_fd;
        c->status_fd = w.status_fd;
        g_clear_pointer(&c->start_error, g_free);

        r = sd_event_add_child(m->event, &c->worker_source, w.pid, WEXITED, on_worker_exit, c);
        if (r >= 0 && m->start_timeout_usec > 0)
                r = sd_event_add_time_relative(m->event, &c->start_timer, CLOCK_MONOTONIC, m->start_timeout_usec, 0,
                                               on_start_timeout, c);
        if (r >= 0)
                r = scope_watch(m, c);
        if (r >= 0) {
                r = machine_wait_released(c, start_scope, &c->machine_wait);
                if (r == 0)
                        r = scope_start_transient(m, c, w.pid, &c->scope_slot);
        }
        if (r < 0) {
                container_release_worker(c);
                /* It has not been told to go; killed, it is gone at once: the wait is no wait. */
                (void) kill(w.pid, SIGKILL);
                (void) waitpid(w.pid, NULL, 0);
                (void) store_save_container_runtime(c);
                return sd_bus_error_set_errnof(error, r, "Cannot ask systemd for a scope: %m");
        }

        /* Last, so that no failure above leaves the files behind, and still before the payload's
         * streams connect (the worker waits for its scope), so journald's first look sees them. */
        r = journal_container_rate_limit_apply(c);
        if (r < 0)
                log_warning_errno(r, "Cannot set journald's rate limit for %s", c->unit);

        manager_operation_begin(m);
        c->stop_requested = false;
        c->leader = 0;
        c->exit_status = -1;
        c->scope_gone_early = false;
        c->scope_refused = false;
        container_set_state(c, CONTAINER_STARTING);
        (void) store_save_container_runtime(c);
        return 0;
}

int container_start(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        int r;

        if (c->state == CONTAINER_STARTING) {
                add_waiter(c, GOAL_RUNNING, cb, userdata);
                return 0;
        }
        if (container_has_payload(c))
                return sd_bus_error_setf(error, CM_ERROR_ALREADY_RUNNING, "Container '%s' is already %s",
                                         c->name, container_state_to_string(c->state));
        if (c->offline_file_ops > 0)
                return sd_bus_error_setf(error, CM_ERROR_BUSY, "Container '%s' has file operations in progress", c->name);
        /* A copy of its writable layer (or a restore into it) is under way. */
        if (snapshot_busy(c))
                return sd_bus_error_setf(error, CM_ERROR_BUSY, "Container '%s' has a snapshot, restore or commit under way",
                                         c->name);

        r = container_start_internal(c, error);
        if (r < 0)
                return r;
        /* Started on request: the restart policy starts counting again. */
        restart_cancel(c);
        g_array_set_size(c->restart_times, 0);
        c->restart_count = 0;
        add_waiter(c, GOAL_RUNNING, cb, userdata);
        return 0;
}

/* init.lxc loses a SIGTERM that lands between its last look at what it caught and its next
 * wait() (seen after a thaw: 1 stop in 10 under load waited the whole grace time). Until the
 * grace time is up the SIGTERM is sent again each second; init.lxc acts on the first it sees and
 * ignores the rest, so the payload still gets exactly one. */
#define STOP_RESEND_USEC USEC_PER_SEC

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Container *c = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (now < c->stop_deadline_usec) {
                if (c->leader > 0)
                        (void) kill(c->leader, SIGTERM);
                (void) sd_event_source_set_time(s, MIN(now + STOP_RESEND_USEC, c->stop_deadline_usec));
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        c->stop_timer = sd_event_source_disable_unref(c->stop_timer);
        log_notice("Container %s did not stop in time, killing it.", c->name);
        if (c->leader > 0)
                (void) kill(c->leader, SIGKILL);
        (void) scope_kill(c->manager, c->unit, SIGKILL);
        /* If the scope ended where we could not hear it (before systemd had our Subscribe),
         * no signal will ever say so: ask. */
        (void) scope_check_gone_async(c->manager, c);
        return 0;
}

/* Graceful first: init.lxc forwards SIGTERM to the payload; SIGKILL after the grace time. */
static int container_stop_signal(Container *c) {
        Manager *m = c->manager;

        if (c->leader <= 0 || kill(c->leader, SIGTERM) < 0)
                (void) scope_kill(m, c->unit, SIGTERM);
        c->stop_deadline_usec = now_usec(CLOCK_MONOTONIC) + m->stop_timeout_usec;
        return sd_event_add_time_relative(m->event, &c->stop_timer, CLOCK_MONOTONIC,
                                          MIN(STOP_RESEND_USEC, m->stop_timeout_usec), 0, on_stop_timeout, c);
}

/* init.lxc can lose a SIGTERM that arrives while it is frozen: the signal goes once it runs. */
static void stop_when_thawed(Container *c, int error, const char *message, void *userdata) {
        int r;

        /* Not when it ended meanwhile (ESRCH) or is being freed (ECANCELED). */
        if (IN_SET(error, -ESRCH, -ECANCELED) || c->state != CONTAINER_STOPPING || c->stop_timer)
                return;
        r = container_stop_signal(c);
        if (r < 0) {
                log_warning("Container %s: cannot arm the stop timer: %s; killing it.", c->name, g_strerror(-r));
                (void) scope_kill(c->manager, c->unit, SIGKILL);
        }
}

int container_stop(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        Manager *m = c->manager;
        int r;

        if (c->state == CONTAINER_STOPPING) {
                add_waiter(c, GOAL_STOPPED, cb, userdata);
                return 0;
        }
        if (c->state == CONTAINER_STARTING) {
                /* Not half-way: the start finishes (or fails), then the stop is done, then the
                 * caller hears. */
                c->stop_after_start = true;
                c->stop_requested = true;
                (void) store_save_container_runtime(c);
                add_waiter(c, GOAL_STOPPED, cb, userdata);
                return 0;
        }
        if (c->restart_timer) {
                /* Between two tries of its restart policy: the Stop ends the policy's tries. */
                restart_cancel(c);
                (void) store_save_container_runtime(c);
                container_emit_changed(c);
                if (cb)
                        cb(c, 0, NULL, userdata);
                return 0;
        }
        if (!IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_FROZEN))
                return sd_bus_error_setf(error, CM_ERROR_NOT_RUNNING, "Container '%s' is not running (%s)",
                                         c->name, container_state_to_string(c->state));

        if (c->state == CONTAINER_FROZEN || c->freeze_pending) {
                /* A frozen payload would sit on SIGTERM: thaw it, then stop it. */
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                freeze_request_finish(c, -EINTR, "the container is being stopped");
                r = freeze_request_start(c, false, stop_when_thawed, NULL, &e);
                if (r < 0)
                        log_warning("Container %s: %s; stopping it frozen.", c->name, e.message);
        }
        if (!c->freeze_pending) {
                r = container_stop_signal(c);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Cannot arm the stop timer: %m");
        }

        manager_operation_begin(m);
        c->stop_requested = true;
        container_set_state(c, CONTAINER_STOPPING);
        (void) store_save_container_runtime(c);
        add_waiter(c, GOAL_STOPPED, cb, userdata);
        return 0;
}

int container_restart(Container *c, ContainerDoneCallback cb, void *userdata, sd_bus_error *error) {
        int r;

        if (container_has_payload(c)) {
                r = container_stop(c, NULL, NULL, error);
                if (r < 0)
                        return r;
                add_waiter(c, GOAL_RESTART, cb, userdata);
                return 0;
        }
        return container_start(c, cb, userdata, error);
}

void container_scope_stop_requested(Container *c) {
        if (IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_FROZEN))
                c->stop_from_outside = true;
}

/* The scope is gone: the payload ended, by itself or because we stopped it. */
void container_scope_gone(Container *c) {
        Manager *m = c->manager;
        bool requested;
        int wait_status;
        uint64_t usec;

        if (c->state == CONTAINER_STARTING && c->go_fd < 0 && !c->start_error) {
                /* The payload ended before the worker's answer was read: finish that first. */
                c->scope_gone_early = true;
                return;
        }
        if (!container_has_payload(c))
                return;
        freeze_request_finish(c, -ESRCH, "the container ended");
        requested = c->state == CONTAINER_STOPPING;
        bool restart;
        if (requested) {
                c->stop_timer = sd_event_source_disable_unref(c->stop_timer);
                manager_operation_end(m);
        }

        if (store_read_exit_status(m->runtime_dir, c->name, &wait_status, &usec) >= 0) {
                c->exit_status = runtime_exit_status_from_wait(wait_status);
                c->finished_usec = usec;
        } else {
                c->exit_status = -1;
                c->finished_usec = now_usec(CLOCK_REALTIME);
        }
        c->leader = 0;
        (void) journal_unit_rate_limit_clear(c->unit);
        restart = restart_wanted(c, requested);
        c->stop_requested = false;

        if (requested || c->stop_from_outside || c->exit_status == 0) {
                c->stop_from_outside = false;
                container_set_state(c, CONTAINER_STOPPED);
                journal_container_event(c, CM_MESSAGE_CONTAINER_STOPPED, LOG_INFO,
                                        "Container %s stopped (exit status %d).", c->name, c->exit_status);
        } else {
                container_set_state(c, CONTAINER_FAILED);
                journal_container_event(c, CM_MESSAGE_CONTAINER_FAILED, LOG_WARNING,
                                        "Container %s failed (exit status %d).", c->name, c->exit_status);
        }
        (void) store_save_container_runtime(c);

        notify_waiters(c);

        if (restart && !container_is_active(c) && !c->removing)
                restart_schedule(c);
        else if (c->ephemeral && !c->removing && IN_SET(c->state, CONTAINER_STOPPED, CONTAINER_FAILED))
                (void) manager_remove_container_deferred(m, c, NULL, NULL);
}

static void removal_after_stop(Container *c, int error, const char *message, void *userdata) {
        if (error >= 0 && c->removing)
                (void) manager_remove_container_deferred(c->manager, c, NULL, NULL);
}

static void container_resume_stop(Container *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        log_info("Container %s: the %s asked for before the restart goes on.", c->name, c->removing ? "removal" : "stop");
        if (container_stop(c, removal_after_stop, NULL, &e) < 0)
                log_warning("Container %s: cannot stop it: %s", c->name, e.message);
}

/* What a container that does not run still had under way when we died: a Remove that had got past
 * the stop is finished now, a try of its restart policy that was due goes on. */
static void container_adopt_settle(Container *c) {
        if (c->removing && !container_is_active(c))
                (void) manager_remove_container_deferred(c->manager, c, NULL, NULL);
        else if (c->restart_pending_loaded && !container_is_active(c) && !c->restart_timer)
                restart_schedule(c);
        c->restart_pending_loaded = false;
}

int container_adopt_begin(Container *c) {
        int r;

        r = store_load_container_runtime(c);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0)
                /* It ran under an earlier daemon, which may have registered it: the next start asks. */
                c->machine_registered = true;
        if (r == -ENOENT || !container_is_active(c)) {
                container_adopt_settle(c);
                return 0;
        }
        r = scope_watch(c->manager, c);
        if (r < 0)
                return r;
        return 1;
}

static int container_adopt_state(Container *c, int r, const char *active);

int container_adopt_finish(Container *c, int error, const char *active) {
        int r = container_adopt_state(c, error, active);

        if (r >= 0)
                container_adopt_settle(c);
        return r;
}

static int container_adopt_state(Container *c, int r, const char *active) {
        Manager *m = c->manager;
        pid_t leader;

        if (r >= 0 && STR_IN_SET(active, "active", "activating", "deactivating") &&
            runtime_get_leader(m, c->name, &leader) >= 0) {
                g_autofree char *cgroup = NULL;

                c->leader = leader;
                /* Frozen stays frozen: the kernel's word, not what we wrote down. */
                c->state = cgroup_pid_unified_path(leader, &cgroup) >= 0 && cgroup_is_frozen(cgroup) > 0 ?
                        CONTAINER_FROZEN : CONTAINER_RUNNING;
                (void) store_save_container_runtime(c);
                if (c->stop_requested)
                        /* A Stop or Remove was under way when we died: it goes on. */
                        container_resume_stop(c);
                return 1;
        }

        if (c->state == CONTAINER_STARTING) {
                /* We died while it was starting: whatever got as far as the scope goes with it
                 * (its start worker waits for a word from us that will never come, or LXC is
                 * half-way), and the container says what happened. */
                if (r >= 0 && !STR_IN_SET(active, "inactive", "failed")) {
                        (void) scope_kill(m, c->unit, SIGKILL);
                        /* It may hold nothing at all (the worker died before it was moved in):
                         * a kill does not end an empty scope, a stop does. */
                        (void) scope_stop(m, c->unit);
                }
                c->state = CONTAINER_FAILED;
                c->leader = 0;
                c->finished_usec = now_usec(CLOCK_REALTIME);
                SWAP_FREE(c->start_error, g_strdup("containers-manager was restarted while the container was starting"));
                (void) store_save_container_runtime(c);
                journal_container_event(c, CM_MESSAGE_CONTAINER_FAILED, LOG_WARNING,
                                        "Container %s failed to start: %s.", c->name, c->start_error);
                return 0;
        }

        /* It ended while we were away. */
        c->state = CONTAINER_RUNNING;
        container_scope_gone(c);
        return 0;
}
