/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "containerctl.h"
#include "transfer.h"

volatile sig_atomic_t transfer_interrupted;

typedef struct CallState {
        bool done;
        sd_bus_message *reply;
        sd_bus_error error;
} CallState;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CallState *s = userdata;

        s->done = true;
        if (sd_bus_message_is_method_error(m, NULL))
                sd_bus_error_copy(&s->error, sd_bus_message_get_error(m));
        else
                s->reply = sd_bus_message_ref(m);
        return 0;
}

int transfer_call(sd_bus *bus, sd_bus_message *m, int src, int dst, uint64_t total, Progress *p,
                  sd_bus_message **ret_reply, const char *what) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        CallState s = { .error = SD_BUS_ERROR_NULL };
        static char buf[256 * 1024];
        size_t have = 0, off = 0;
        uint64_t bytes = 0, last_shown = 0;
        bool src_eof = false;
        int r;

        /* a reader or writer that goes away is an error to report, not a signal to die of */
        signal(SIGPIPE, SIG_IGN);
        (void) fcntl(src, F_SETFL, fcntl(src, F_GETFL) | O_NONBLOCK);
        (void) fcntl(dst, F_SETFL, fcntl(dst, F_GETFL) | O_NONBLOCK);

        r = sd_bus_call_async(bus, &slot, m, on_reply, &s, CALL_TIMEOUT_USEC);
        sd_bus_message_unref(m);
        if (r < 0)
                return log_error_errno(r, "%s: %s", what, strerror(-r));

        for (;;) {
                struct pollfd pfd[3];
                nfds_t n = 0;
                int ib = -1, is = -1, id = -1;
                uint64_t timeout_usec;

                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        r = log_error_errno(r, "%s: %s", what, strerror(-r));
                        goto finish;
                }
                if (r > 0)
                        continue;
                /* finished: the reply is there, and nothing more will come from src (an error
                 * reply means the service stopped reading or writing: stop too) */
                if (s.done && (src_eof || sd_bus_error_is_set(&s.error)) && have == off)
                        break;

                pfd[n] = (struct pollfd) { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) };
                ib = (int) n++;
                if (!src_eof && have == off) {
                        pfd[n] = (struct pollfd) { .fd = src, .events = POLLIN };
                        is = (int) n++;
                }
                if (have > off && dst >= 0) {
                        pfd[n] = (struct pollfd) { .fd = dst, .events = POLLOUT };
                        id = (int) n++;
                }
                (void) sd_bus_get_timeout(bus, &timeout_usec);
                r = poll(pfd, n, s.done ? 200 : 1000);
                if (transfer_interrupted) {
                        r = log_error_errno(-ECANCELED, "%s: interrupted.", what);
                        goto finish;
                }
                if (r < 0 && errno != EINTR) {
                        r = log_error_errno(-errno, "%s: poll: %m", what);
                        goto finish;
                }
                if (is >= 0 && pfd[is].revents) {
                        ssize_t k = read(src, buf, sizeof buf);
                        if (k < 0 && errno != EAGAIN && errno != EINTR) {
                                r = log_error_errno(-errno, "%s: read: %m", what);
                                goto finish;
                        }
                        if (k == 0) {
                                src_eof = true;
                                if (dst >= 0 && have == off) {
                                        /* the other side sees the end */
                                        close(dst);
                                        dst = -1;
                                }
                        } else if (k > 0) {
                                have = (size_t) k;
                                off = 0;
                        }
                }
                if (id >= 0 && pfd[id].revents) {
                        ssize_t k = write(dst, buf + off, have - off);
                        if (k < 0 && errno != EAGAIN && errno != EINTR) {
                                if (errno == EPIPE) {
                                        /* the reader gave up: its reply says why */
                                        have = off = 0;
                                        src_eof = true;
                                        close(dst);
                                        dst = -1;
                                        continue;
                                }
                                r = log_error_errno(-errno, "%s: write: %m", what);
                                goto finish;
                        }
                        if (k > 0) {
                                off += (size_t) k;
                                bytes += (uint64_t) k;
                                if (off == have)
                                        have = off = 0;
                                if (src_eof && have == off && dst >= 0) {
                                        close(dst);
                                        dst = -1;
                                }
                        }
                }
                if (p && bytes - last_shown >= 256 * 1024) {
                        last_shown = bytes;
                        progress_set_bytes(p, bytes, total);
                }
                (void) ib;
        }
        if (p && !sd_bus_error_is_set(&s.error))
                progress_set_bytes(p, bytes, total);
        if (sd_bus_error_is_set(&s.error)) {
                if (p)
                        progress_end(p, false);
                r = bus_log_error(&s.error, -EIO, "%s", what);
                goto finish;
        }
        if (p)
                progress_end(p, true);
        if (ret_reply)
                *ret_reply = TAKE_PTR(s.reply);
        r = 0;
finish:
        if (dst >= 0)
                close(dst);
        sd_bus_message_unref(s.reply);
        sd_bus_error_free(&s.error);
        return r;
}
