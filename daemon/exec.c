/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Commands inside a running container: the worker that attaches and waits, and the process
 * inside the container that becomes the command. */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include "exec.h"
#include "image.h"
#include "runtime.h"
#include "worker.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* A command that ended may have left something behind that still holds its output (a
 * background job): read what comes for this long, then reply. */
#define EXEC_DRAIN_USEC (500 * USEC_PER_MSEC)
#define EXEC_ID_MAX 65535       /* a container's ids: 0..65535 */

enum {
        RESULT_STATUS = 1,
        RESULT_ERROR = 2,
};

typedef struct ResultHeader {
        uint32_t kind;
        int32_t value;          /* exit status, or negative errno */
        uint64_t len1;          /* stdout, or the message */
        uint64_t len2;          /* stderr */
} ResultHeader;

/* What the process in the container reports when it cannot become the command. */
typedef struct ChildError {
        int32_t error;
        char message[512];
} ChildError;

typedef struct ExecChild {
        const ExecRequest *req;
        int error_fd;
        int shell_fd;   /* where the PTY's master goes: OpenShell's, or the worker's relay */
        int stdio[3];   /* EXEC_FDS: the caller's descriptors, made 0, 1, 2 by the child itself */
        int drop[3];    /* EXEC_FDS: the caller's terminals, closed first: never the command's */
        bool pty;       /* EXEC_FDS with a terminal: a PTY of its own in the container */
        bool has_termios, has_winsize;
        struct termios termios; /* the caller's terminal's, for the PTY to start with */
        struct winsize winsize;
} ExecChild;

/* A relay between the caller's terminals and the command's PTY (EXEC_FDS): the caller's terminal
 * is never the container's, and what the command does to its terminal (TIOCSTI, TIOCSCTTY,
 * vhangup...) stays in its own PTY. */
#define RELAY_BUFFER 65536
typedef struct Relay {
        int master;             /* the command's PTY (ours, non-blocking); -1 when it is gone */
        int in;                 /* the caller's terminal we read (stdin), or -1 */
        int out;                /* the caller's terminal we write (stdout or stderr), or -1 */
        bool in_owned, out_owned;
        uint8_t to_master[RELAY_BUFFER], to_out[RELAY_BUFFER];
        size_t to_master_len, to_out_len;
} Relay;

/* The caller's terminal as it was before the relay made it raw: put back when the worker ends. */
static int saved_terminal_fd = -1;
static struct termios saved_terminal;

void exec_request_free(ExecRequest *r) {
        if (!r)
                return;
        g_free(r->lxcpath);
        g_free(r->container);
        g_strfreev(r->argv);
        g_strfreev(r->container_environment);
        g_strfreev(r->environment);
        g_free(r->user);
        g_free(r->working_directory);
        g_free(r->default_directory);
        if (r->input)
                g_bytes_unref(r->input);
        g_free(r);
}

char **exec_container_environment(Container *c) {
        g_autofree char *name_env = g_strdup_printf("CONTAINER_NAME=%s", c->name);
        Image *image = manager_get_image(c->manager, c->image);
        Image *base = image ? image_get_base(image) : NULL;

        return env_merge((char **const[]) {
                        (char *[]) { (char *) "container=lxc", NULL },
                        base ? base->environment : NULL,
                        image && image != base ? image->environment : NULL,
                        c->environment,
                        (char *[]) { name_env, NULL },
                }, 5);
}

void exec_user_clear(ExecUser *u) {
        g_clear_pointer(&u->name, g_free);
        g_clear_pointer(&u->home, g_free);
        g_clear_pointer(&u->shell, g_free);
}

static bool parse_id(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (!s || !g_ascii_isdigit(s[0]))
                return false;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v > UINT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

int exec_user_lookup(FILE *passwd, const char *user, ExecUser *ret) {
        struct passwd *pw;
        uint32_t id = 0;
        bool numeric;

        assert(user);
        assert(ret);

        numeric = parse_id(user, &id);
        if (numeric && id > EXEC_ID_MAX)
                return -ESRCH;
        if (!numeric && isempty(user))
                return -ESRCH;
        if (passwd) {
                rewind(passwd);
                while ((pw = fgetpwent(passwd)))
                        if (numeric ? pw->pw_uid == id : streq_ptr(pw->pw_name, user)) {
                                if (pw->pw_uid > EXEC_ID_MAX || pw->pw_gid > EXEC_ID_MAX)
                                        return -ESRCH;
                                *ret = (ExecUser) {
                                        .uid = pw->pw_uid,
                                        .gid = pw->pw_gid,
                                        .name = g_strdup(pw->pw_name),
                                        .home = g_strdup(isempty(pw->pw_dir) ? "/" : pw->pw_dir),
                                        .shell = g_strdup(isempty(pw->pw_shell) ? "/bin/sh" : pw->pw_shell),
                                };
                                return 0;
                        }
        }
        if (!numeric)
                return -ESRCH;
        /* A number with no entry is a user all the same (as in podman exec --user), in a group of
         * its own number rather than root's. */
        *ret = (ExecUser) {
                .uid = id,
                .gid = id,
                .home = g_strdup("/"),
                .shell = g_strdup("/bin/sh"),
        };
        return 0;
}

int exec_user_groups(FILE *group, const char *name, gid_t primary, GArray **ret) {
        g_autoptr(GArray) gids = g_array_new(false, false, sizeof(gid_t));
        struct group *gr;

        g_array_append_val(gids, primary);
        if (group && name) {
                rewind(group);
                while ((gr = fgetgrent(group))) {
                        if (gr->gr_gid == primary || gr->gr_gid > EXEC_ID_MAX)
                                continue;
                        for (char **m = gr->gr_mem; m && *m; m++)
                                if (streq(*m, name)) {
                                        g_array_append_val(gids, gr->gr_gid);
                                        break;
                                }
                }
        }
        *ret = TAKE_PTR(gids);
        return 0;
}

/* ---- inside the container ------------------------------------------------------------- */

/* A file the container's root controls: a FIFO or a device there must not block us. */
static FILE *open_regular(const char *path) {
        struct stat st;
        FILE *f;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return NULL;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return NULL;
        }
        f = fdopen(fd, "r");
        if (!f)
                close(fd);
        return f;
}

static _Noreturn void child_fail(const ExecChild *x, int error, const char *fmt, ...) _printf_(3, 4);
static _Noreturn void child_fail(const ExecChild *x, int error, const char *fmt, ...) {
        ChildError e = { .error = error };
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(e.message, sizeof(e.message), fmt, ap);
        va_end(ap);
        (void) loop_write(x->error_fd, &e, sizeof(e));
        _exit(EXIT_FAILURE);
}

static int send_master(int sock, int master, const char *path) {
        g_autofree char *text = g_strdup_printf("OK %s", path);
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = text, .iov_len = strlen(text) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);

        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* A PTY of the container's own devpts (as machined's openpt_in_namespace()): the master goes
 * to the caller, the slave becomes our controlling terminal and stdio. */
static void child_setup_pty(const ExecChild *x, const ExecUser *u) {
        _cleanup_close_ int master = -1, slave = -1;
        char path[64];

        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                child_fail(x, -errno, "Cannot allocate a PTY in the container: %m");
        if (unlockpt(master) < 0 || ptsname_r(master, path, sizeof(path)) != 0)
                child_fail(x, -errno, "Cannot set up the PTY in the container: %m");
        slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                child_fail(x, -errno, "Cannot open %s in the container: %m", path);
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
                child_fail(x, -errno, "Cannot make %s the controlling terminal: %m", path);
        /* ExecWithFds: the caller's terminal's settings and size, before the command looks. */
        if (x->has_termios)
                (void) tcsetattr(slave, TCSANOW, &x->termios);
        if (x->has_winsize)
                (void) ioctl(slave, TIOCSWINSZ, &x->winsize);
        /* The user's own terminal, as login(1) leaves it. */
        (void) fchown(slave, u->uid, (gid_t) -1);
        (void) fchmod(slave, 0620);
        if (send_master(x->shell_fd, master, path) < 0)
                _exit(EXIT_FAILURE);
        if (dup2(slave, STDIN_FILENO) < 0 || dup2(slave, STDOUT_FILENO) < 0 || dup2(slave, STDERR_FILENO) < 0)
                _exit(EXIT_FAILURE);
}

static char **child_environment(const ExecRequest *req, const ExecUser *u) {
        g_autofree char *home = g_strdup_printf("HOME=%s", u->home);
        g_autofree char *shell = g_strdup_printf("SHELL=%s", u->shell);
        g_autofree char *user = u->name ? g_strdup_printf("USER=%s", u->name) : NULL;
        g_autofree char *logname = u->name ? g_strdup_printf("LOGNAME=%s", u->name) : NULL;

        return env_merge((char **const[]) {
                        (char *[]) { (char *) "PATH=" DEFAULT_PATH, NULL },
                        req->mode == EXEC_SHELL ? (char *[]) { (char *) "TERM=vt220", NULL } : NULL,
                        req->container_environment,
                        (char *[]) { home, shell, user, logname, NULL },
                        req->environment,
                }, 5);
}

/* Runs in the container (its namespaces, cgroup and confinement, as its root): becomes the
 * user and then the command, or reports why it cannot. */
static int exec_child_main(void *payload) {
        const ExecChild *x = payload;
        const ExecRequest *req = x->req;
        _cleanup_(exec_user_clear) ExecUser u = {};
        g_autoptr(GArray) groups = NULL;
        g_auto(GStrv) env = NULL;
        const char *cwd;
        sigset_t ss;
        int r;

        /* The caller's terminals are not the container's, not even until exec. */
        for (int i = 0; i < 3; i++)
                if (x->drop[i] >= 0)
                        (void) close(x->drop[i]);

        /* The worker's blocked and ignored signals are not the command's. */
        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        /* A session of its own: the worker kills the whole of it (timeout, caller gone). LXC
         * made one already when the caller's stdin is a terminal. */
        if (setsid() < 0 && getsid(0) != getpid())
                child_fail(x, -errno, "setsid() failed: %m");

        {
                /* The container's files, never the host's: we are in its mount namespace. */
                FILE *passwd = open_regular("/etc/passwd");
                FILE *group = open_regular("/etc/group");

                r = exec_user_lookup(passwd, isempty(req->user) ? "0" : req->user, &u);
                if (r >= 0)
                        r = exec_user_groups(group, u.name, u.gid, &groups);
                if (passwd)
                        fclose(passwd);
                if (group)
                        fclose(group);
                if (r == -ESRCH)
                        child_fail(x, EXEC_ERROR_NO_SUCH_USER, "No user '%s' in container '%s'", req->user, req->container);
                if (r < 0)
                        child_fail(x, r, "Cannot look up user '%s' in container '%s'", req->user ?: "root", req->container);
        }

        if (req->mode == EXEC_SHELL || x->pty)
                child_setup_pty(x, &u);
        for (int i = 0; i < 3; i++)
                if (x->stdio[i] >= 0 && dup2(x->stdio[i], i) < 0)
                        child_fail(x, -errno, "Cannot set up the command's descriptors: %m");

        if (setgroups(groups->len, (gid_t *) groups->data) < 0 && setgroups(0, NULL) < 0)
                child_fail(x, -errno, "Cannot set the groups of user '%s': %m", req->user ?: "root");
        if (setresgid(u.gid, u.gid, u.gid) < 0 || setresuid(u.uid, u.uid, u.uid) < 0)
                child_fail(x, -errno, "Cannot become user '%s': %m", req->user ?: "root");

        cwd = req->working_directory ?: req->mode == EXEC_SHELL ? u.home : req->default_directory ?: "/";
        if (chdir(cwd) < 0) {
                if (req->working_directory)
                        child_fail(x, EXEC_ERROR_NO_DIRECTORY, "Cannot enter working directory '%s' in container '%s': %m",
                                   cwd, req->container);
                /* A home or default directory that is not there: as login(1), start in /. */
                (void) chdir("/");
        }

        env = child_environment(req, &u);
        /* Dies with its worker, whatever kills that (the daemon's end, SIGKILL): set after the
         * uid change, which clears it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);

        environ = env;
        if (!req->argv || !req->argv[0]) {
                /* The login shell: "-sh" for /bin/sh. */
                const char *shell = access(u.shell, X_OK) == 0 ? u.shell : "/bin/sh";
                g_autofree char *base = g_path_get_basename(shell);
                g_autofree char *arg0 = g_strdup_printf("-%s", base);

                execl(shell, arg0, NULL);
                r = errno;
                fprintf(stderr, "%s: %s\n", shell, g_strerror(r));
        } else {
                execvp(req->argv[0], req->argv);
                r = errno;
                fprintf(stderr, "%s: %s\n", req->argv[0], g_strerror(r));
        }
        /* As a shell says it: 127 not found, 126 found but not runnable. */
        _exit(r == ENOENT || r == ENOTDIR ? 127 : 126);
}

/* ---- the worker ------------------------------------------------------------------------ */

static int write_result(int fd, uint32_t kind, int32_t value, const void *a, size_t alen, const void *b, size_t blen) {
        ResultHeader h = { .kind = kind, .value = value, .len1 = alen, .len2 = blen };
        int r;

        r = loop_write(fd, &h, sizeof(h));
        if (r >= 0 && alen > 0)
                r = loop_write(fd, a, alen);
        if (r >= 0 && blen > 0)
                r = loop_write(fd, b, blen);
        return r;
}

static int write_error(int fd, int error, const char *message) {
        return write_result(fd, RESULT_ERROR, error, message, strlen(message), NULL, 0);
}

static void shell_send_error(int sock, int error, const char *message) {
        g_autofree char *text = g_strdup_printf("ERR %d %s", -error, message);
        (void) send(sock, text, strlen(text), MSG_NOSIGNAL);
}

static void kill_command(pid_t pid, int sig) {
        /* The session the command made (its pid is the group's id), and the command itself in
         * case it did not get that far. */
        (void) kill(-pid, sig);
        (void) kill(pid, sig);
}

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static void append_read(int *fd, GByteArray *buf, uint64_t max, const GByteArray *other, bool *over) {
        uint8_t chunk[65536];
        ssize_t n;

        for (;;) {
                n = read(*fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        close(TAKE_FD(*fd));
                        return;
                }
                /* Both streams go into one reply, which the bus must still accept. */
                if (buf->len + (uint64_t) n > max || buf->len + other->len + (uint64_t) n > EXEC_MAX_REPLY_OUTPUT) {
                        *over = true;
                        return;
                }
                g_byte_array_append(buf, chunk, (guint) n);
        }
}

/* A description of the caller's terminal of our own, non-blocking (that flag is the file
 * description's: setting it on the one the caller passed would change the caller's too), so
 * that a terminal nobody reads never blocks the worker. A PTY's master cannot be opened again
 * (that would make a new PTY): then the passed one, used only after poll(). */
static int reopen_terminal(int fd, bool *ret_owned) {
        g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
        unsigned n;
        int nfd;

        *ret_owned = false;
        if (ioctl(fd, TIOCGPTN, &n) >= 0)
                return fd;
        nfd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (nfd < 0)
                return fd;
        *ret_owned = true;
        return nfd;
}

static void relay_close_in(Relay *x) {
        if (x->in_owned)
                (void) close(x->in);
        x->in = -1;
}

static void relay_close_out(Relay *x) {
        if (x->out_owned)
                (void) close(x->out);
        x->out = -1;
        x->to_out_len = 0;
}

static void relay_free(Relay *x) {
        if (!x)
                return;
        relay_close_in(x);
        relay_close_out(x);
        if (x->master >= 0)
                (void) close(x->master);
        g_free(x);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Relay *, relay_free);

/* One step of the relay after poll(): moves what can be moved without blocking. */
static void relay_step(Relay *x, short in_ev, short master_ev, short out_ev) {
        ssize_t n;

        if (x->in >= 0 && x->to_master_len < sizeof(x->to_master) && (in_ev & (POLLIN | POLLHUP | POLLERR))) {
                n = read(x->in, x->to_master + x->to_master_len, sizeof(x->to_master) - x->to_master_len);
                if (n > 0)
                        x->to_master_len += (size_t) n;
                else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        relay_close_in(x);      /* EOF, or the caller's terminal hung up */
        }
        if (x->master >= 0 && x->to_master_len > 0 && (master_ev & (POLLOUT | POLLHUP | POLLERR))) {
                n = write(x->master, x->to_master, x->to_master_len);
                if (n > 0) {
                        memmove(x->to_master, x->to_master + n, x->to_master_len - (size_t) n);
                        x->to_master_len -= (size_t) n;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR)
                        x->to_master_len = 0;
        }
        if (x->master >= 0 && x->to_out_len < sizeof(x->to_out) && (master_ev & (POLLIN | POLLHUP | POLLERR))) {
                n = read(x->master, x->to_out + x->to_out_len, sizeof(x->to_out) - x->to_out_len);
                if (n > 0) {
                        if (x->out >= 0)
                                x->to_out_len += (size_t) n;
                        /* else: no terminal to show it (the command's output goes elsewhere) */
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                        /* EIO: nothing holds the PTY any more */
                        close(TAKE_FD(x->master));
                        x->to_master_len = 0;
                }
        }
        if (x->out >= 0 && x->to_out_len > 0 && (out_ev & (POLLOUT | POLLHUP | POLLERR))) {
                /* A blocking description (a passed master): little at a time. */
                n = write(x->out, x->to_out, x->out_owned ? x->to_out_len : MIN(x->to_out_len, (size_t) 256));
                if (n > 0) {
                        memmove(x->to_out, x->to_out + n, x->to_out_len - (size_t) n);
                        x->to_out_len -= (size_t) n;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR)
                        relay_close_out(x);
        }
}

static int exec_worker_run(int fd, const ExecRequest *req) {
        _cleanup_close_ int sigfd = -1, pidfd = -1, in_w = -1, out_r = -1, err_r = -1, relay_sock = -1;
        _cleanup_(relay_freep) Relay *relay = NULL;
        int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, error_p[2] = { -1, -1 };
        int pty_p[2] = { -1, -1 }, tty[3] = { -1, -1, -1 };
        g_autoptr(GByteArray) out = g_byte_array_new(), err = g_byte_array_new();
        int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, shell_fd = -1;
        const uint8_t *input = NULL;
        size_t input_size = 0, input_done = 0;
        uint64_t deadline = UINT64_MAX, drain_deadline = UINT64_MAX;
        bool exited = false, over = false, timed_out = false;
        ExecChild child = { .req = req, .stdio = { -1, -1, -1 }, .drop = { -1, -1, -1 } };
        ChildError ce = {};
        int wstatus = 0, r;
        sigset_t ss;
        pid_t pid;
        ssize_t n;

        /* What we hold must not reach the command: it would keep our result pipe (and the
         * daemon waiting) open. */
        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        (void) signal(SIGPIPE, SIG_IGN);
        /* SIGTERM is how the daemon cancels us (the caller left): the command goes too. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sigfd < 0)
                return write_error(fd, -errno, "signalfd() failed") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        if (pipe2(error_p, O_CLOEXEC) < 0)
                return write_error(fd, -errno, "pipe2() failed") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        switch (req->mode) {
        case EXEC_CAPTURE:
                if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0)
                        return write_error(fd, -errno, "pipe2() failed") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                stdin_fd = in_p[0];
                stdout_fd = out_p[1];
                stderr_fd = err_p[1];
                in_w = in_p[1];
                out_r = out_p[0];
                err_r = err_p[0];
                if (req->input)
                        input = g_bytes_get_data(req->input, &input_size);
                break;
        case EXEC_FDS:
                /* Not through LXC: given a terminal as stdin it would make it the command's
                 * controlling terminal (and fail when it is the caller's). The child puts them
                 * in place itself; the command gets them as they are. */
                for (int i = 0; i < 3; i++) {
                        (void) fcntl(WORKER_KEEP_FD + i, F_SETFD, FD_CLOEXEC);
                        if (isatty(WORKER_KEEP_FD + i)) {
                                /* A terminal is never handed over: the command gets a PTY of
                                 * its own and we relay (as lxc-attach and machinectl shell). */
                                tty[i] = child.drop[i] = WORKER_KEEP_FD + i;
                                child.pty = true;
                        } else
                                child.stdio[i] = WORKER_KEEP_FD + i;    /* pipes, files: as they are */
                }
                if (child.pty) {
                        int t = tty[0] >= 0 ? tty[0] : tty[1] >= 0 ? tty[1] : tty[2];

                        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pty_p) < 0)
                                return write_error(fd, -errno, "socketpair() failed") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                        relay_sock = pty_p[0];
                        child.has_termios = tcgetattr(t, &child.termios) >= 0;
                        child.has_winsize = ioctl(t, TIOCGWINSZ, &child.winsize) >= 0;
                }
                stdin_fd = stdout_fd = stderr_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                break;
        case EXEC_SHELL:
                shell_fd = WORKER_KEEP_FD;
                (void) fcntl(shell_fd, F_SETFD, FD_CLOEXEC);
                /* Replaced by the PTY; until then nothing of the daemon's. */
                stdin_fd = stdout_fd = stderr_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                break;
        }
        child.error_fd = error_p[1];
        child.shell_fd = child.pty ? pty_p[1] : shell_fd;

        r = runtime_attach(req->lxcpath, req->container, exec_child_main, &child, stdin_fd, stdout_fd, stderr_fd, &pid);
        /* The command's ends are the command's now. */
        close(error_p[1]);
        if (pty_p[1] >= 0)
                close(pty_p[1]);
        if (req->mode == EXEC_CAPTURE) {
                close(in_p[0]);
                close(out_p[1]);
                close(err_p[1]);
        } else {
                if (req->mode == EXEC_FDS)
                        for (int i = 0; i < 3; i++)
                                if (tty[i] < 0)
                                        close(WORKER_KEEP_FD + i);
                if (stdin_fd >= 0)
                        close(stdin_fd);
        }
        if (r < 0) {
                g_autofree char *message = r == -ESRCH ?
                        g_strdup_printf("Container '%s' is not running", req->container) :
                        g_strdup_printf("Cannot attach to container '%s': %s", req->container, g_strerror(-r));
                close(error_p[0]);
                r = r == -ESRCH ? EXEC_ERROR_NOT_RUNNING : r;
                if (shell_fd >= 0)
                        shell_send_error(shell_fd, r, message);
                return write_error(fd, r, message) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        /* EOF: the command runs (exec closed the pipe); a record: it could not. A cancel may
         * come meanwhile. */
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = error_p[0], .events = POLLIN },
                        { .fd = sigfd, .events = POLLIN },
                };

                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents) {
                        kill_command(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return EXIT_FAILURE;
                }
                if (p[0].revents)
                        break;
        }
        do
                n = read(error_p[0], &ce, sizeof(ce));
        while (n < 0 && errno == EINTR);
        close(error_p[0]);
        if (n == (ssize_t) sizeof(ce)) {
                ce.message[sizeof(ce.message) - 1] = 0;
                (void) waitpid(pid, NULL, 0);
                if (shell_fd >= 0)
                        shell_send_error(shell_fd, ce.error, ce.message);
                return write_error(fd, ce.error < 0 ? ce.error : -EIO, ce.message) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (shell_fd >= 0)
                close(TAKE_FD(shell_fd));
        if (relay_sock >= 0) {
                /* The master was sent before exec(): it is there. */
                g_autofree char *path = NULL, *message = NULL;
                int master = -1;

                relay = g_new0(Relay, 1);
                relay->in = relay->out = -1;
                r = exec_shell_receive(relay_sock, &master, &path, &message);
                if (r < 0) {
                        kill_command(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return write_error(fd, r, message ?: "The command's terminal did not come") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                }
                (void) fcntl(master, F_SETFL, O_NONBLOCK);
                relay->master = master;
                if (tty[0] >= 0) {
                        struct termios raw;

                        relay->in = reopen_terminal(tty[0], &relay->in_owned);
                        /* Keys go to the command's terminal as typed: it echoes and edits
                         * lines (as the caller's did), lxc-attach's way. Put back at the end. */
                        if (tcgetattr(tty[0], &saved_terminal) >= 0) {
                                raw = saved_terminal;
                                cfmakeraw(&raw);
                                if (tcsetattr(tty[0], TCSANOW, &raw) >= 0)
                                        saved_terminal_fd = tty[0];
                        }
                }
                if (tty[1] >= 0 || tty[2] >= 0)
                        relay->out = reopen_terminal(tty[1] >= 0 ? tty[1] : tty[2], &relay->out_owned);
        }

        pidfd = pidfd_open_(pid);
        if (pidfd < 0) {
                kill_command(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return write_error(fd, -errno, "pidfd_open() failed") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (req->timeout_usec > 0 && req->timeout_usec < UINT64_MAX / 2)
                deadline = now_usec(CLOCK_MONOTONIC) + req->timeout_usec;
        if (in_w >= 0) {
                (void) fcntl(in_w, F_SETFL, O_NONBLOCK);
                if (input_size == 0)
                        close(TAKE_FD(in_w));
        }
        if (out_r >= 0)
                (void) fcntl(out_r, F_SETFL, O_NONBLOCK);
        if (err_r >= 0)
                (void) fcntl(err_r, F_SETFL, O_NONBLOCK);

        for (;;) {
                struct pollfd p[8];
                int np = 0, timeout_ms = -1, i_sig, i_pid = -1, i_in = -1, i_out = -1, i_err = -1;
                int i_rin = -1, i_rmaster = -1, i_rout = -1;
                uint64_t now = now_usec(CLOCK_MONOTONIC), until = MIN(deadline, drain_deadline);

                if (exited && out_r < 0 && err_r < 0 &&
                    (!relay || (relay->master < 0 && (relay->out < 0 || relay->to_out_len == 0))))
                        break;
                if (exited && now >= drain_deadline)
                        break;
                if (!timed_out && now >= deadline) {
                        /* Its time is up: all of it goes; its status says so (128+9). */
                        timed_out = true;
                        kill_command(pid, SIGKILL);
                        deadline = UINT64_MAX;
                        continue;
                }
                if (until != UINT64_MAX)
                        timeout_ms = (int) MIN((until - now + 999) / 1000, (uint64_t) INT_MAX);

                i_sig = np;
                p[np++] = (struct pollfd) { .fd = sigfd, .events = POLLIN };
                if (!exited) {
                        i_pid = np;
                        p[np++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                }
                if (in_w >= 0) {
                        i_in = np;
                        p[np++] = (struct pollfd) { .fd = in_w, .events = POLLOUT };
                }
                if (out_r >= 0) {
                        i_out = np;
                        p[np++] = (struct pollfd) { .fd = out_r, .events = POLLIN };
                }
                if (err_r >= 0) {
                        i_err = np;
                        p[np++] = (struct pollfd) { .fd = err_r, .events = POLLIN };
                }
                if (relay && relay->in >= 0 && relay->to_master_len < sizeof(relay->to_master) && !exited) {
                        i_rin = np;
                        p[np++] = (struct pollfd) { .fd = relay->in, .events = POLLIN };
                }
                /* Only when there is room or something to write: a master whose PTY is closed
                 * reports POLLHUP whatever was asked, which must not spin while out is full. */
                if (relay && relay->master >= 0 &&
                    (relay->to_out_len < sizeof(relay->to_out) || relay->to_master_len > 0)) {
                        i_rmaster = np;
                        p[np++] = (struct pollfd) {
                                .fd = relay->master,
                                .events = (relay->to_out_len < sizeof(relay->to_out) ? POLLIN : 0) |
                                          (relay->to_master_len > 0 ? POLLOUT : 0),
                        };
                }
                if (relay && relay->out >= 0 && relay->to_out_len > 0) {
                        i_rout = np;
                        p[np++] = (struct pollfd) { .fd = relay->out, .events = POLLOUT };
                }
                if (poll(p, np, timeout_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        kill_command(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return write_error(fd, -errno, "poll() failed") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                }
                if (p[i_sig].revents) {
                        /* Cancelled: nobody wants the answer, and the command must not outlive
                         * the call. */
                        kill_command(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return EXIT_FAILURE;
                }
                if (i_in >= 0 && p[i_in].revents) {
                        n = write(in_w, input + input_done, input_size - input_done);
                        if (n > 0)
                                input_done += (size_t) n;
                        if ((n < 0 && errno != EAGAIN && errno != EINTR) || input_done >= input_size)
                                close(TAKE_FD(in_w));
                }
                if (relay)
                        relay_step(relay, i_rin >= 0 ? p[i_rin].revents : 0, i_rmaster >= 0 ? p[i_rmaster].revents : 0,
                                   i_rout >= 0 ? p[i_rout].revents : 0);
                if (i_out >= 0 && p[i_out].revents)
                        append_read(&out_r, out, req->max_output, err, &over);
                if (i_err >= 0 && p[i_err].revents)
                        append_read(&err_r, err, req->max_output, out, &over);
                if (over) {
                        kill_command(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        g_autofree char *message = g_strdup_printf(
                                "The command wrote more than %" G_GUINT64_FORMAT " bytes to a stream (or more than %"
                                G_GUINT64_FORMAT " to both) and was killed; ExecWithFds has no limit",
                                req->max_output, EXEC_MAX_REPLY_OUTPUT);
                        return write_error(fd, EXEC_ERROR_TOO_LARGE, message) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                }
                if (i_pid >= 0 && p[i_pid].revents) {
                        if (waitpid(pid, &wstatus, WNOHANG) == pid) {
                                exited = true;
                                drain_deadline = now_usec(CLOCK_MONOTONIC) + EXEC_DRAIN_USEC;
                                deadline = UINT64_MAX;
                                if (in_w >= 0)
                                        close(TAKE_FD(in_w));
                        }
                }
        }

        r = write_result(fd, RESULT_STATUS, runtime_exit_status_from_wait(wstatus), out->data, out->len, err->data, err->len);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int exec_worker(int fd, const ExecRequest *req) {
        int r;

        r = exec_worker_run(fd, req);
        if (saved_terminal_fd >= 0)
                (void) tcsetattr(saved_terminal_fd, TCSANOW, &saved_terminal);
        return r;
}

/* ---- the daemon's side ----------------------------------------------------------------- */

void exec_result_clear(ExecResult *r) {
        g_clear_pointer(&r->message, g_free);
        g_clear_pointer(&r->out, g_bytes_unref);
        g_clear_pointer(&r->err, g_bytes_unref);
}

int exec_result_parse(const void *buf, size_t size, ExecResult *ret) {
        const uint8_t *p = buf;
        ResultHeader h;

        if (size < sizeof(h))
                return -EBADMSG;
        memcpy(&h, p, sizeof(h));
        p += sizeof(h);
        size -= sizeof(h);
        if (h.len1 > size || h.len2 > size - h.len1)
                return -EBADMSG;
        switch (h.kind) {
        case RESULT_STATUS:
                *ret = (ExecResult) {
                        .exit_status = h.value,
                        .out = g_bytes_new(p, h.len1),
                        .err = g_bytes_new(p + h.len1, h.len2),
                };
                return 0;
        case RESULT_ERROR:
                if (h.value >= 0)
                        return -EBADMSG;
                *ret = (ExecResult) {
                        .error = h.value,
                        .message = g_utf8_make_valid((const char *) p, (gssize) h.len1),
                };
                return 0;
        default:
                return -EBADMSG;
        }
}

int exec_shell_receive(int sock, int *ret_master, char **ret_path, char **ret_message) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        char text[1024];
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        int master = -1, error = 0, consumed = 0;
        ssize_t n;

        n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int *fds = (int *) CMSG_DATA(c);
                        for (size_t i = 0; i < k; i++) {
                                if (master < 0)
                                        master = fds[i];
                                else
                                        close(fds[i]);
                        }
                }
        text[n] = 0;
        if (n > 3 && g_str_has_prefix(text, "OK ") && master >= 0 && isatty(master)) {
                *ret_master = master;
                *ret_path = g_strdup(text + 3);
                *ret_message = NULL;
                return 0;
        }
        if (master >= 0)
                close(master);
        if (sscanf(text, "ERR %d %n", &error, &consumed) == 1 && error > 0 && consumed > 0) {
                *ret_message = g_utf8_make_valid(text + consumed, -1);
                return -error;
        }
        *ret_message = g_strdup(n == 0 ? "the shell ended before its terminal was ready" : "unexpected answer from the shell's worker");
        return -EPROTO;
}
