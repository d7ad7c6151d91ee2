/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "journal.h"

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

int journal_read_logs(const LogQuery *q, GString *out, GString *err) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        g_autofree char *match = g_strdup_printf("_SYSTEMD_UNIT=%s", q->unit);
        int r;

        /* Not SD_JOURNAL_SYSTEM: an unprivileged container writes as its slot's uid, and
         * journald keeps such lines in user-<uid>.journal. The unit match below selects. */
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                return r;
        /* Only what the payload wrote through its streams: not systemd's or our own messages
         * about the unit. */
        r = sd_journal_add_match(j, match, 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_TRANSPORT=stdout", 0);
        if (r < 0)
                return r;
        sd_journal_set_data_threshold(j, 0);

        if (q->lines > 0) {
                uint64_t n = 0;

                r = sd_journal_seek_tail(j);
                if (r < 0)
                        return r;
                /* Walk back N entries (still newer than since), then read forward from there. */
                while (n < q->lines && (r = sd_journal_previous(j)) > 0) {
                        uint64_t t;
                        if (sd_journal_get_realtime_usec(j, &t) >= 0 && t < q->since_usec) {
                                r = sd_journal_next(j);
                                break;
                        }
                        n++;
                }
                if (r < 0)
                        return r;
                if (n == 0)
                        return 0;
                /* We stand on the oldest entry we want: read it, then go forward. */
                r = 1;
        } else {
                r = sd_journal_seek_realtime_usec(j, q->since_usec);
                if (r < 0)
                        return r;
                r = sd_journal_next(j);
        }

        for (; r > 0; r = sd_journal_next(j)) {
                const char *msg, *prio;
                size_t msg_len, prio_len;
                uint64_t t;

                if (sd_journal_get_realtime_usec(j, &t) < 0 || t < q->since_usec)
                        continue;
                if (entry_field(j, "MESSAGE", &msg, &msg_len) < 0)
                        continue;
                if (entry_field(j, "PRIORITY", &prio, &prio_len) < 0)
                        continue;
                /* stderr is opened with PRIORITY 3, stdout with 6. */
                GString *s = prio_len == 1 && prio[0] <= '3' ? err : out;
                g_string_append_len(s, msg, (gssize) msg_len);
                g_string_append_c(s, '\n');
        }
        return r;
}

int journal_logs_serialize(int fd, const GString *out, const GString *err) {
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
        return r;
}

int journal_logs_deserialize(const char *data, size_t size, char **ret_out, char **ret_err) {
        uint64_t a, b;

        if (size < sizeof(a))
                return -EBADMSG;
        memcpy(&a, data, sizeof(a));
        if (a > size - sizeof(a) || size - sizeof(a) - a < sizeof(b))
                return -EBADMSG;
        memcpy(&b, data + sizeof(a) + a, sizeof(b));
        if (b != size - 2 * sizeof(a) - a)
                return -EBADMSG;
        *ret_out = g_strndup(data + sizeof(a), a);
        *ret_err = g_strndup(data + 2 * sizeof(a) + a, b);
        return 0;
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

int journal_unit_rate_limit_set(const char *unit, uint64_t interval_usec, unsigned burst) {
        g_autofree char *interval_path = g_strdup_printf(UNITS_STATE_DIR "/log-rate-limit-interval:%s", unit);
        g_autofree char *burst_path = g_strdup_printf(UNITS_STATE_DIR "/log-rate-limit-burst:%s", unit);
        char value[32];
        int r;

        r = mkdir_p(UNITS_STATE_DIR, 0755);
        if (r < 0)
                return r;
        snprintf(value, sizeof(value), "%" G_GUINT64_FORMAT, interval_usec);
        r = symlink_atomic(value, interval_path);
        if (r < 0)
                return r;
        snprintf(value, sizeof(value), "%u", burst);
        return symlink_atomic(value, burst_path);
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
