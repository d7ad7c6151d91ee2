/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "log.h"
#include "worker.h"

void journal_container_event(const Container *c, const char *message_id, int priority, const char *format, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);

        (void) sd_journal_send("MESSAGE=%s", text,
                               "MESSAGE_ID=%s", message_id,
                               "PRIORITY=%d", priority,
                               "CONTAINER=%s", c->name,
                               "CONTAINER_ID=%s", c->id,
                               "IMAGE=%s", c->image ?: "",
                               "CONTAINER_UNIT=%s", c->unit ?: "",
                               NULL);
}

static int entry_field(sd_journal *j, const char *field, const char **ret, size_t *ret_len) {
        const void *data;
        size_t len, flen = strlen(field);
        int r;

        r = sd_journal_get_data(j, field, &data, &len);
        if (r < 0)
                return r;
        if (len < flen + 1)
                return -EBADMSG;
        *ret = (const char *) data + flen + 1;
        *ret_len = len - flen - 1;
        return 0;
}

uint64_t journal_logs_max_reply_bytes(void) {
        const char *e = getenv("CONTAINERS_MANAGER_LOGS_MAX_BYTES");
        guint64 v;

        /* Only ever lower: above the default a reply could hit the bus's own message limit. */
        if (e && g_ascii_string_to_unsigned(e, 10, JOURNAL_LOGS_REPLY_OVERHEAD + 1, JOURNAL_LOGS_MAX_REPLY_BYTES, &v, NULL))
                return v;
        return JOURNAL_LOGS_MAX_REPLY_BYTES;
}

static int add_unit_match(sd_journal *j, const char *unit) {
        g_autofree char *match = g_strdup_printf("_SYSTEMD_UNIT=%s", unit);
        return sd_journal_add_match(j, match, 0);
}

static int open_unit_journal(const LogQuery *q, sd_journal **ret) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        int r;

        /* Not SD_JOURNAL_SYSTEM: an unprivileged container writes as its slot's uid, and
         * journald keeps such lines in user-<uid>.journal. The unit match below selects. */
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                return r;
        /* Only what the payload wrote through its streams: not systemd's or our own messages
         * about the unit. Matches on one field are alternatives. */
        r = add_unit_match(j, q->unit);
        for (char **u = q->former_units; r >= 0 && u && *u; u++)
                r = add_unit_match(j, *u);
        if (r >= 0)
                r = sd_journal_add_match(j, "_TRANSPORT=stdout", 0);
        if (r < 0)
                return r;
        sd_journal_set_data_threshold(j, 0);
        *ret = TAKE_PTR(j);
        return 0;
}

/* The current entry's line and whether it came from stderr (opened with PRIORITY 3, stdout 6). */
static int entry_line(sd_journal *j, const char **ret_msg, size_t *ret_len, bool *ret_is_err) {
        const char *msg, *prio;
        size_t msg_len, prio_len;
        int r;

        r = entry_field(j, "MESSAGE", &msg, &msg_len);
        if (r >= 0)
                r = entry_field(j, "PRIORITY", &prio, &prio_len);
        if (r < 0)
                return r;
        *ret_msg = msg;
        *ret_len = msg_len;
        *ret_is_err = prio_len == 1 && prio[0] <= '3';
        return 0;
}

/* Whether the current entry (written at t) is the container's: under a former name only until
 * the rename (a container created later under that name is another). */
static bool entry_is_ours(sd_journal *j, const LogQuery *q, uint64_t t) {
        const char *unit;
        size_t len;

        if (!q->former_units)
                return true;
        if (entry_field(j, "_SYSTEMD_UNIT", &unit, &len) < 0)
                return false;
        if (strlen(q->unit) == len && memcmp(unit, q->unit, len) == 0)
                return true;
        for (size_t i = 0; q->former_units[i]; i++)
                if (strlen(q->former_units[i]) == len && memcmp(unit, q->former_units[i], len) == 0 && t < q->former_until[i])
                        return true;
        return false;
}

/* Walks back from the end over at most `lines` entries (0: all) not older than since_usec and
 * leaves the journal on the oldest of them. Returns how many, or a negative errno. */
static int64_t seek_last_lines(sd_journal *j, const LogQuery *q) {
        int64_t n = 0;
        int r;

        r = sd_journal_seek_tail(j);
        if (r < 0)
                return r;
        while ((q->lines == 0 || (uint64_t) n < q->lines) && (r = sd_journal_previous(j)) > 0) {
                uint64_t t = 0;
                if (sd_journal_get_realtime_usec(j, &t) >= 0 && t < q->since_usec) {
                        r = sd_journal_next(j);
                        break;
                }
                if (entry_is_ours(j, q, t))
                        n++;
        }
        if (r < 0)
                return r;
        return n;
}

static void line_free(gpointer p) {
        g_free(p);
}

int journal_read_logs(const LogQuery *q, GString *out, GString *err, uint64_t *ret_left_out) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(line_free);
        uint64_t n = 0, left_out = 0, bytes = 0;
        bool cut = false;
        int r;

        assert(q && q->unit && out && err);

        r = open_unit_journal(q, &j);
        if (r < 0)
                return r;
        r = sd_journal_seek_tail(j);
        if (r < 0)
                return r;

        /* Backwards from the newest line, so that a cut keeps the newest ones; once the cap is
         * reached only count what is left out. Each kept line: 'o' or 'e', the text, '\n'. */
        while ((q->lines == 0 || n < q->lines) && (r = sd_journal_previous(j)) > 0) {
                g_autofree char *valid = NULL;
                const char *msg;
                size_t len;
                bool is_err;
                uint64_t t;
                char *l;

                if (sd_journal_get_realtime_usec(j, &t) < 0)
                        continue;
                if (t < q->since_usec)
                        break;
                if (!entry_is_ours(j, q, t) || entry_line(j, &msg, &len, &is_err) < 0)
                        continue;
                n++;
                if (cut) {
                        left_out++;
                        continue;
                }
                if (!g_utf8_validate_len(msg, len, NULL)) {
                        valid = g_utf8_make_valid(msg, (gssize) len);
                        msg = valid;
                        len = strlen(valid);
                }
                if (q->max_bytes > 0 && bytes + len + 1 > q->max_bytes) {
                        cut = true;
                        left_out++;
                        continue;
                }
                l = g_malloc(len + 2);
                l[0] = is_err ? 'e' : 'o';
                memcpy(l + 1, msg, len);
                l[len + 1] = '\n';
                bytes += len + 1;
                g_ptr_array_add(kept, l);
        }
        if (r < 0)
                return r;

        for (guint i = kept->len; i > 0; i--) {
                const char *l = kept->pdata[i - 1];
                const char *nl = strchr(l + 1, '\n');
                g_string_append_len(l[0] == 'e' ? err : out, l + 1, nl - l);
        }
        if (ret_left_out)
                *ret_left_out = left_out;
        return 0;
}

int journal_logs_serialize(int fd, const GString *out, const GString *err, uint64_t left_out) {
        uint64_t n;
        int r;

        n = out->len;
        r = loop_write(fd, &n, sizeof(n));
        if (r >= 0)
                r = loop_write(fd, out->str, out->len);
        n = err->len;
        if (r >= 0)
                r = loop_write(fd, &n, sizeof(n));
        if (r >= 0)
                r = loop_write(fd, err->str, err->len);
        if (r >= 0)
                r = loop_write(fd, &left_out, sizeof(left_out));
        return r;
}

int journal_logs_deserialize(const char *data, size_t size, char **ret_out, char **ret_err, uint64_t *ret_left_out) {
        uint64_t a, b, left_out;

        if (size < sizeof(a))
                return -EBADMSG;
        memcpy(&a, data, sizeof(a));
        if (a > size - sizeof(a) || size - sizeof(a) - a < sizeof(b))
                return -EBADMSG;
        memcpy(&b, data + sizeof(a) + a, sizeof(b));
        if (b != size - 3 * sizeof(a) - a)
                return -EBADMSG;
        memcpy(&left_out, data + 2 * sizeof(a) + a + b, sizeof(left_out));
        *ret_out = g_strndup(data + sizeof(a), a);
        *ret_err = g_strndup(data + 2 * sizeof(a) + a, b);
        *ret_left_out = left_out;
        return 0;
}

/* write() all of buf to a descriptor that may be non-blocking (its flags are the caller's: we
 * do not change them under its feet). -EPIPE: the reader went away. */
static int write_all(int fd, const char *buf, size_t size) {
        while (size > 0) {
                ssize_t k = write(fd, buf, size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };

                        if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                return -errno;
                        if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
                                return -EPIPE;
                        continue;
                }
                if (k < 0)
                        return errno == ECONNRESET ? -EPIPE : -errno;
                buf += k;
                size -= (size_t) k;
        }
        return 0;
}

static void append_record(GString *s, sd_journal *j) {
        const char *msg;
        size_t len;
        bool is_err;

        if (entry_line(j, &msg, &len, &is_err) < 0)
                return;
        g_string_append(s, is_err ? JOURNAL_FOLLOW_PREFIX_STDERR : JOURNAL_FOLLOW_PREFIX_STDOUT);
        for (size_t i = 0; i < len; i++)
                g_string_append_c(s, msg[i] == '\n' ? ' ' : msg[i]);
        g_string_append_c(s, '\n');
}

int journal_follow_logs(const LogQuery *q, int fd) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        g_autoptr(GString) buf = g_string_new(NULL);
        bool on_entry = false;
        int64_t n = 0;
        int jfd, r;

        assert(q && q->unit && fd >= 0);

        r = open_unit_journal(q, &j);
        if (r < 0)
                return r;
        /* Before reading anything: from here on, every change to the journal files wakes us. */
        jfd = sd_journal_get_fd(j);
        if (jfd < 0)
                return jfd;

        if (q->lines > 0) {
                n = seek_last_lines(j, q);
                if (n < 0)
                        return (int) n;
                on_entry = n > 0;
        }
        if (n == 0) {
                /* Everything from since_usec on: nothing is there yet, it is all still to come. */
                r = sd_journal_seek_realtime_usec(j, q->since_usec);
                if (r < 0)
                        return r;
        }

        /* on_entry: the journal stands on an entry not written yet. */
        for (;;) {
                if (!on_entry) {
                        r = sd_journal_next(j);
                        if (r < 0)
                                return r;
                        on_entry = r > 0;
                }
                if (on_entry) {
                        uint64_t t;

                        on_entry = false;
                        if (sd_journal_get_realtime_usec(j, &t) >= 0 && t >= q->since_usec && entry_is_ours(j, q, t))
                                append_record(buf, j);
                        if (buf->len < 65536)
                                continue;
                }

                /* Caught up, or a batch is full: hand it over, then look for more. */
                if (buf->len > 0) {
                        r = write_all(fd, buf->str, buf->len);
                        if (r == -EPIPE)
                                return 0;
                        if (r < 0)
                                return r;
                        g_string_truncate(buf, 0);
                        continue;
                }

                /* Nothing new: sleep until journald writes or the reader goes away. */
                for (;;) {
                        struct pollfd p[2] = {
                                { .fd = jfd, .events = (short) sd_journal_get_events(j) },
                                /* Nothing to ask for: POLLERR (a pipe's reader closed) and
                                 * POLLHUP (a socket's peer closed) come anyway. */
                                { .fd = fd, .events = 0 },
                        };
                        uint64_t until;
                        int timeout = -1;

                        if (sd_journal_get_timeout(j, &until) >= 0 && until != UINT64_MAX) {
                                uint64_t now = now_usec(CLOCK_MONOTONIC);
                                timeout = until > now ? (int) MIN((until - now + 999) / 1000, (uint64_t) INT_MAX) : 0;
                        }
                        if (poll(p, 2, timeout) < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL))
                                return 0;
                        break;
                }
                r = sd_journal_process(j);
                if (r < 0)
                        return r;
        }
}

#define UNITS_STATE_DIR "/run/systemd/units"

static int symlink_atomic(const char *target, const char *path) {
        g_autofree char *tmp = g_strdup_printf("%s.cm-%u", path, g_random_int());

        if (symlink(target, tmp) < 0)
                return -errno;
        if (rename(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

int journal_unit_rate_limit_set(const char *unit, bool set_interval, uint64_t interval_usec, bool set_burst, uint32_t burst) {
        g_autofree char *interval_path = g_strdup_printf(UNITS_STATE_DIR "/log-rate-limit-interval:%s", unit);
        g_autofree char *burst_path = g_strdup_printf(UNITS_STATE_DIR "/log-rate-limit-burst:%s", unit);
        char value[32];
        int r;

        assert(unit);

        r = mkdir_p(UNITS_STATE_DIR, 0755);
        if (r < 0)
                return r;
        /* A value not given is journald's: no file (not a leftover of an earlier setting). */
        if (set_interval) {
                snprintf(value, sizeof(value), "%" G_GUINT64_FORMAT, interval_usec);
                r = symlink_atomic(value, interval_path);
        } else if (unlink(interval_path) < 0 && errno != ENOENT)
                r = -errno;
        if (r < 0)
                return r;
        if (set_burst) {
                snprintf(value, sizeof(value), "%" PRIu32, burst);
                r = symlink_atomic(value, burst_path);
        } else if (unlink(burst_path) < 0 && errno != ENOENT)
                r = -errno;
        if (r < 0) {
                (void) journal_unit_rate_limit_clear(unit);
                return r;
        }
        return 0;
}

int journal_container_rate_limit_apply(const Container *c) {
        assert(c);

        if (!c->log_rate_limit_interval_set && !c->log_rate_limit_burst_set)
                return journal_unit_rate_limit_clear(c->unit);
        return journal_unit_rate_limit_set(c->unit,
                                           c->log_rate_limit_interval_set, c->log_rate_limit_interval_usec,
                                           c->log_rate_limit_burst_set, c->log_rate_limit_burst);
}

int journal_unit_rate_limit_clear(const char *unit) {
        g_autofree char *interval_path = g_strdup_printf(UNITS_STATE_DIR "/log-rate-limit-interval:%s", unit);
        g_autofree char *burst_path = g_strdup_printf(UNITS_STATE_DIR "/log-rate-limit-burst:%s", unit);
        int r = 0;

        if (unlink(interval_path) < 0 && errno != ENOENT)
                r = -errno;
        if (unlink(burst_path) < 0 && errno != ENOENT)
                r = -errno;
        return r;
}

int journal_stream_open(const char *identifier, const char *unit, int priority) {
        static const struct sockaddr_un sa = {
                .sun_family = AF_UNIX,
                .sun_path = "/run/systemd/journal/stdout",
        };
        g_autofree char *header = NULL;
        _cleanup_close_ int fd = -1;
        int sndbuf = 8 * 1024 * 1024;
        int r;

        if (priority < 0 || priority > 7 || strchr(identifier, '\n') || strchr(unit, '\n'))
                return -EINVAL;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (shutdown(fd, SHUT_RD) < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

        /* identifier, unit, priority, level prefix, forward to syslog, kmsg, console */
        header = g_strdup_printf("%s\n%s\n%i\n0\n0\n0\n0\n", identifier, unit, priority);
        r = loop_write(fd, header, strlen(header));
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* Short enough to be the whole comm (15 characters): `pgrep -x cm-follow-logs` finds them. */
#define FOLLOWER_NAME "cm-follow-logs"

void log_query_free(gpointer p) {
        LogQuery *q = p;

        if (!q)
                return;
        g_free(q->unit);
        g_strfreev(q->former_units);
        g_free(q->former_until);
        g_free(q);
}

LogQuery *log_query_new(const Container *c, uint64_t since_usec, uint64_t lines, uint64_t max_bytes) {
        LogQuery *q;

        assert(c);
        q = g_new(LogQuery, 1);
        *q = (LogQuery) {
                .unit = g_strdup(c->unit),
                .since_usec = MAX(since_usec, c->created_usec),
                .lines = lines,
                .max_bytes = max_bytes,
        };
        if (c->former_names && c->former_names->len > 0) {
                guint n = c->former_names->len;

                q->former_units = g_new0(char *, n + 1);
                q->former_until = g_new(uint64_t, n);
                for (guint i = 0; i < n; i++) {
                        const FormerName *f = &g_array_index(c->former_names, FormerName, i);
                        q->former_units[i] = container_unit_name(f->name);
                        q->former_until[i] = f->until_usec;
                }
        }
        return q;
}

static int follow_worker(int pipe_fd, void *data) {
        const LogQuery *q = data;
        int r;

        /* The worker gave us the caller's descriptor as WORKER_KEEP_FD and closed everything
         * else but stdio. Put it at 3, over our own result pipe: the parent only waits for us
         * to exit. */
        if (dup2(WORKER_KEEP_FD, 3) < 0)
                return EXIT_FAILURE;
        if (close_range(4, UINT_MAX, 0) < 0)
                return EXIT_FAILURE;
        /* A reader that goes away is the normal end: EPIPE, not death by signal. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = journal_follow_logs(q, 3);
        if (r < 0) {
                log_warning_errno(r, "Cannot follow the logs of %s", q->unit);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static void follower_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        Container *c = userdata;

        /* The reader went away (or the journal failed): it is no longer the container's. */
        if (c->followers)
                g_ptr_array_remove_fast(c->followers, w);
}

int journal_follower_start(Container *c, int fd, uint64_t lines) {
        Worker *w = NULL;
        LogQuery *q;
        int r;

        assert(c);
        assert(fd >= 0);

        /* Never lines of an earlier container of the same name; without history only what is
         * written from now on. */
        q = log_query_new(c, lines > 0 ? 0 : now_usec(CLOCK_REALTIME), lines, 0);
        /* The worker owns the query (it may start later, queued) and a copy of fd. */
        r = worker_spawn_full(c->manager, FOLLOWER_NAME, follow_worker, q, log_query_free, fd, NULL,
                              follower_done, c, &w);
        if (r < 0) {
                log_query_free(q);
                return r;
        }
        if (!c->followers)
                c->followers = g_ptr_array_new();
        g_ptr_array_add(c->followers, w);
        return 0;
}

void journal_followers_kill(Container *c) {
        g_autoptr(GPtrArray) followers = NULL;

        if (!c || !c->followers)
                return;
        followers = TAKE_PTR(c->followers);
        for (guint i = 0; i < followers->len; i++)
                (void) worker_cancel(followers->pdata[i]);
}
