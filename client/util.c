/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers: string lists, sizes, times. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "containerctl.h"

size_t strv_length(char **l) {
        size_t n = 0;
        for (; l && l[n]; n++)
                ;
        return n;
}

int strv_push(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **nl = realloc(*l, (n + 2) * sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[n] = strdup(s);
        nl[n + 1] = NULL;
        return nl[n] ? 0 : -ENOMEM;
}

int parse_size(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;
        uint64_t mul = 1;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *s == '-')
                return -EINVAL;
        switch (*end) {
        case 'K': case 'k': mul = UINT64_C(1) << 10; end++; break;
        case 'M': case 'm': mul = UINT64_C(1) << 20; end++; break;
        case 'G': case 'g': mul = UINT64_C(1) << 30; end++; break;
        case 'T': case 't': mul = UINT64_C(1) << 40; end++; break;
        }
        if (*end == 'B')
                end++;
        if (*end || (v && UINT64_MAX / mul < v))
                return -EINVAL;
        *ret = v * mul;
        return 0;
}

uint64_t now_usec(int clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

char *format_timestamp(char *buf, size_t n, uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (usec == 0 || usec == UINT64_MAX || !localtime_r(&t, &tm) ||
            strftime(buf, n, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(buf, n, "-");
        return buf;
}

char *format_timespan(char *buf, size_t n, uint64_t usec) {
        static const struct { const char *suffix; uint64_t usec; } units[] = {
                { "d", UINT64_C(86400000000) }, { "h", UINT64_C(3600000000) },
                { "min", UINT64_C(60000000) }, { "s", UINT64_C(1000000) },
        };
        size_t l = 0;
        int shown = 0;

        if (usec == 0 || usec == UINT64_MAX) {
                snprintf(buf, n, "-");
                return buf;
        }
        if (usec < 1000000) {
                snprintf(buf, n, "%" PRIu64 "ms", usec / 1000);
                return buf;
        }
        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(units) && shown < 2; i++) {
                uint64_t k = usec / units[i].usec;
                if (k == 0 && shown == 0)
                        continue;
                usec -= k * units[i].usec;
                if (k == 0)
                        break;
                l += (size_t) snprintf(buf + l, n > l ? n - l : 0, "%s%" PRIu64 "%s", shown ? " " : "", k, units[i].suffix);
                shown++;
        }
        return buf;
}

char *format_bytes(char *buf, size_t n, uint64_t bytes) {
        static const char suffix[] = "KMGTPE";
        double v = (double) bytes;
        int i = -1;

        if (bytes == UINT64_MAX) {
                snprintf(buf, n, "-");
                return buf;
        }
        while (v >= 1024 && i < 5) {
                v /= 1024;
                i++;
        }
        if (i < 0)
                snprintf(buf, n, "%" PRIu64 "B", bytes);
        else
                snprintf(buf, n, "%.1f%c", v, suffix[i]);
        return buf;
}

int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void) poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}
