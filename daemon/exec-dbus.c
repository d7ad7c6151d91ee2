/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Container: Exec, ExecWithFds and OpenShell. Each call is a session: a worker
 * (exec.c) that attaches to the container and waits for the command, and a watch on the
 * caller, whose departure ends the command. */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bus-util.h"
#include "container-dbus.h"
#include "errors.h"
#include "exec.h"
#include "image.h"
#include "options.h"
#include "polkit.h"
#include "worker.h"

/* Short enough to be the whole comm: `pgrep -x cm-exec` finds them. */
#define EXEC_WORKER_NAME "cm-exec"
/* Sessions may live as long as their callers want (shells): they take no slot of the workers'
 * cap (Top, Logs and builds never wait behind them) and have this cap of their own. */
#define EXEC_MAX_SESSIONS 128

typedef struct ExecSession {
        Manager *manager;
        ExecRequest *request;
        sd_bus_message *msg;    /* the call, until it is answered */
        sd_bus_track *track;    /* the caller: when it leaves, the command goes */
        Worker *worker;
        int shell_fd;           /* OpenShell: where the PTY's master comes from */
        sd_event_source *shell_source;
        bool counted;           /* in manager->n_exec_sessions */
} ExecSession;

static void exec_session_free(gpointer p) {
        ExecSession *s = p;

        if (!s)
                return;
        if (s->msg)
                /* Only when the worker never ran (the daemon exits): the call gets an answer. */
                (void) sd_bus_reply_method_errorf(s->msg, CM_ERROR_SHUTTING_DOWN, "containers-manager is exiting");
        sd_bus_message_unref(s->msg);
        sd_bus_track_unref(s->track);
        sd_event_source_disable_unref(s->shell_source);
        if (s->shell_fd >= 0)
                close(s->shell_fd);
        exec_request_free(s->request);
        if (s->counted && s->manager->n_exec_sessions > 0)
                s->manager->n_exec_sessions--;
        g_free(s);
}

static int session_worker(int fd, void *data) {
        const ExecSession *s = data;
        return exec_worker(fd, s->request);
}

/* The named error for what a worker reports. */
static void reply_error(sd_bus_message *msg, int error, const char *message) {
        const char *name;

        switch (error) {
        case EXEC_ERROR_NOT_RUNNING:
                name = CM_ERROR_NOT_RUNNING;
                break;
        case EXEC_ERROR_NO_SUCH_USER:
                name = CM_ERROR_NO_SUCH_USER;
                break;
        case EXEC_ERROR_TOO_LARGE:
                name = CM_ERROR_OUTPUT_TOO_LARGE;
                break;
        case EXEC_ERROR_NO_DIRECTORY:
                name = SD_BUS_ERROR_INVALID_ARGS;
                break;
        default:
                /* Not an errno-derived name: an EPERM here must not read as polkit's AccessDenied. */
                name = SD_BUS_ERROR_FAILED;
                break;
        }
        (void) sd_bus_reply_method_errorf(msg, name, "%s", message);
}

static void session_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        ExecSession *s = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = TAKE_PTR(s->msg);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(exec_result_clear) ExecResult res = {};
        const void *data;
        size_t len;
        int r;

        /* The session itself goes with the worker (its data). */
        s->worker = NULL;
        if (!msg)
                return; /* OpenShell: answered long ago */
        if (exec_result_parse(output, size, &res) < 0) {
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "The command's worker failed (status %d)", status);
                return;
        }
        if (res.error < 0) {
                reply_error(msg, res.error, res.message);
                return;
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "i", (int32_t) res.exit_status);
        if (r >= 0 && s->request->mode == EXEC_CAPTURE) {
                data = g_bytes_get_data(res.out, &len);
                r = sd_bus_message_append_array(reply, 'y', data, len);
                if (r >= 0) {
                        data = g_bytes_get_data(res.err, &len);
                        r = sd_bus_message_append_array(reply, 'y', data, len);
                }
        }
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) sd_bus_reply_method_errnof(msg, r, "Cannot send the command's result: %m");
}

static int on_client_gone(sd_bus_track *track, void *userdata) {
        ExecSession *s = userdata;

        /* Nobody to answer: the worker kills the command and the session goes with it. */
        s->msg = sd_bus_message_unref(s->msg);
        if (s->worker)
                worker_cancel(TAKE_PTR(s->worker));
        return 0;
}

static int on_shell_ready(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ExecSession *s = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = TAKE_PTR(s->msg);
        g_autofree char *path = NULL, *message = NULL;
        _cleanup_close_ int master = -1;
        int r;

        r = exec_shell_receive(fd, &master, &path, &message);
        if (r == -EAGAIN) {
                s->msg = TAKE_PTR(msg);
                return 0;
        }
        s->shell_source = sd_event_source_disable_unref(s->shell_source);
        close(TAKE_FD(s->shell_fd));
        if (!msg)
                return 0;
        if (r < 0) {
                reply_error(msg, r, message);
                /* The worker has ended or ends now; its result goes nowhere. */
                return 0;
        }
        /* The reply holds its own copy: closing ours leaves the caller the only one. */
        (void) sd_bus_reply_method_return(msg, "hs", master, path);
        return 0;
}

static int session_start(Container *c, sd_bus_message *msg, ExecRequest *req, const int *fds, size_t n_fds,
                         sd_bus_error *error) {
        Manager *m = c->manager;
        ExecSession *s;
        int sock[2] = { -1, -1 }, r;

        if (m->n_exec_sessions >= EXEC_MAX_SESSIONS)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "Too many commands running in containers (%u); try again later", m->n_exec_sessions);
        s = g_new0(ExecSession, 1);
        s->manager = m;
        s->request = req;
        s->shell_fd = -1;
        r = sd_bus_track_new(sd_bus_message_get_bus(msg), &s->track, on_client_gone, s);
        if (r >= 0)
                r = sd_bus_track_add_sender(s->track, msg);
        if (r >= 0 && req->mode == EXEC_SHELL) {
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sock) < 0)
                        r = -errno;
                else {
                        s->shell_fd = sock[0];
                        fds = &sock[1];
                        n_fds = 1;
                        r = sd_event_add_io(m->event, &s->shell_source, s->shell_fd, EPOLLIN, on_shell_ready, s);
                }
        }
        if (r >= 0)
                r = worker_spawn_fds(m, EXEC_WORKER_NAME, session_worker, s, exec_session_free, fds, n_fds,
                                     WORKER_UNCAPPED, NULL, session_done, s, &s->worker);
        if (sock[1] >= 0)
                close(sock[1]);
        if (r < 0) {
                s->request = NULL; /* the caller's still */
                exec_session_free(s);
                return sd_bus_error_set_errnof(error, r, "Cannot start the command in '%s': %m", c->name);
        }
        s->msg = sd_bus_message_ref(msg);
        s->counted = true;
        m->n_exec_sessions++;
        return 1;
}

/* Polkit, then the state (which may have changed while polkit was asked). 1: go on; 0: the
 * question is pending (the call comes back); < 0: refused. */
static int exec_authorize(Container *c, sd_bus_message *msg, const char *verb, sd_bus_error *error) {
        const char *details[7];
        int r;

        r = polkit_check(c->manager, msg, CM_ACTION_EXEC, container_polkit_details(c, verb, details), error);
        if (r <= 0)
                return r;
        /* Nothing else is running: starting, stopping, frozen, ... */
        if (c->state != CONTAINER_RUNNING)
                return sd_bus_error_setf(error, CM_ERROR_NOT_RUNNING, "Container '%s' is not running (%s)",
                                         c->name, container_state_to_string(c->state));
        return 1;
}

static int read_command(sd_bus_message *msg, bool may_be_empty, char ***ret, sd_bus_error *error) {
        g_auto(GStrv) argv = NULL;
        int r;

        r = sd_bus_message_read_strv(msg, &argv);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Malformed command: %s", g_strerror(-r));
        if (!may_be_empty && (!argv || !argv[0]))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The command is empty");
        if (argv && argv[0] && isempty(argv[0]))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The command's program name is empty");
        *ret = TAKE_PTR(argv);
        return 0;
}

static int check_user(const char *user, sd_bus_error *error) {
        if (user && (strchr(user, ':') || strchr(user, '\n') || strlen(user) > 256))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid user name '%s'", user);
        return 0;
}

static int check_directory(const char *dir, sd_bus_error *error) {
        if (dir && !g_path_is_absolute(dir))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The working directory must be an absolute path, not '%s'", dir);
        return 0;
}

static ExecRequest *request_new(Container *c, ExecMode mode) {
        ExecRequest *req = g_new0(ExecRequest, 1);
        Image *image = manager_get_image(c->manager, c->image);

        req->mode = mode;
        req->lxcpath = manager_lxc_path(c->manager);
        req->container = g_strdup(c->name);
        req->container_environment = exec_container_environment(c);
        req->default_directory = g_strdup(c->working_directory ?: (image ? image->working_directory : NULL) ?: "/");
        req->max_output = EXEC_MAX_OUTPUT;
        return req;
}

/* The options both Exec and ExecWithFds take (stdin only for Exec). */
typedef struct ExecOptions {
        char **environment;
        char *working_directory;
        char *user;
        GBytes *input;
        uint64_t timeout_usec;
} ExecOptions;

static void exec_options_clear(ExecOptions *o) {
        g_strfreev(o->environment);
        g_free(o->working_directory);
        g_free(o->user);
        if (o->input)
                g_bytes_unref(o->input);
}

static int read_exec_options(sd_bus_message *msg, bool with_stdin, ExecOptions *o, sd_bus_error *error) {
        int r;

        if (with_stdin)
                r = bus_read_options(msg, (const OptionSpec[]) {
                        { "environment", "a{ss}", &o->environment },
                        { "working_directory", "s", &o->working_directory },
                        { "user", "s", &o->user },
                        { "stdin", "ay", &o->input },
                        { "timeout", "t", &o->timeout_usec },
                        {}
                }, error);
        else
                r = bus_read_options(msg, (const OptionSpec[]) {
                        { "environment", "a{ss}", &o->environment },
                        { "working_directory", "s", &o->working_directory },
                        { "user", "s", &o->user },
                        { "timeout", "t", &o->timeout_usec },
                        {}
                }, error);
        if (r < 0)
                return r;
        r = check_user(o->user, error);
        if (r >= 0)
                r = check_directory(o->working_directory, error);
        return r;
}

static void request_take_options(ExecRequest *req, ExecOptions *o) {
        req->environment = TAKE_PTR(o->environment);
        req->working_directory = TAKE_PTR(o->working_directory);
        req->user = TAKE_PTR(o->user);
        req->input = TAKE_PTR(o->input);
        req->timeout_usec = o->timeout_usec;
}

static int method_exec(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(exec_options_clear) ExecOptions o = {};
        _cleanup_(exec_request_freep) ExecRequest *req = NULL;
        g_auto(GStrv) argv = NULL;
        Container *c = userdata;
        int r;

        r = read_command(msg, false, &argv, error);
        if (r >= 0)
                r = read_exec_options(msg, true, &o, error);
        if (r < 0)
                return r;
        r = exec_authorize(c, msg, "exec", error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = request_new(c, EXEC_CAPTURE);
        req->argv = TAKE_PTR(argv);
        request_take_options(req, &o);
        r = session_start(c, msg, req, NULL, 0, error);
        if (r >= 0)
                TAKE_PTR(req);
        return r;
}

static int method_exec_with_fds(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(exec_options_clear) ExecOptions o = {};
        _cleanup_(exec_request_freep) ExecRequest *req = NULL;
        g_auto(GStrv) argv = NULL;
        Container *c = userdata;
        int fds[3], r;

        r = read_command(msg, false, &argv, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "hhh", &fds[0], &fds[1], &fds[2]);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Malformed descriptors: %s", g_strerror(-r));
        r = read_exec_options(msg, false, &o, error);
        if (r >= 0)
                r = bus_check_fd(fds[0], false, "stdin", error);
        if (r >= 0)
                r = bus_check_fd(fds[1], true, "stdout", error);
        if (r >= 0)
                r = bus_check_fd(fds[2], true, "stderr", error);
        if (r < 0)
                return r;
        r = exec_authorize(c, msg, "exec", error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = request_new(c, EXEC_FDS);
        req->argv = TAKE_PTR(argv);
        request_take_options(req, &o);
        r = session_start(c, msg, req, fds, 3, error);
        if (r >= 0)
                TAKE_PTR(req);
        return r;
}

static int method_open_shell(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(exec_request_freep) ExecRequest *req = NULL;
        g_auto(GStrv) argv = NULL, env = NULL;
        Container *c = userdata;
        const char *user;
        int r;

        r = sd_bus_message_read(msg, "s", &user);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Malformed user: %s", g_strerror(-r));
        r = check_user(user, error);
        if (r >= 0)
                r = read_command(msg, true, &argv, error);
        if (r >= 0)
                r = bus_read_environment(msg, &env, error);
        if (r < 0)
                return r;
        r = exec_authorize(c, msg, "shell", error);
        if (r <= 0)
                return r < 0 ? r : 1;

        req = request_new(c, EXEC_SHELL);
        req->argv = TAKE_PTR(argv);
        req->environment = TAKE_PTR(env);
        req->user = g_strdup(user);
        r = session_start(c, msg, req, NULL, 0, error);
        if (r >= 0)
                TAKE_PTR(req);
        return r;
}

const sd_bus_vtable container_exec_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Exec",
                                SD_BUS_ARGS("as", command, "a{sv}", options),
                                SD_BUS_RESULT("i", exit_status, "ay", stdout, "ay", stderr),
                                method_exec, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExecWithFds",
                                SD_BUS_ARGS("as", command, "h", stdin, "h", stdout, "h", stderr, "a{sv}", options),
                                SD_BUS_RESULT("i", exit_status),
                                method_exec_with_fds, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenShell",
                                SD_BUS_ARGS("s", user, "as", command, "a{ss}", environment),
                                SD_BUS_RESULT("h", pty, "s", pty_path),
                                method_open_shell, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
