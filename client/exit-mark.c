/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exit mark of exec -t: found in the terminal's output and taken out of it. */

#include <stdlib.h>
#include <string.h>

#include "containerctl.h"
#include "exit-mark.h"

int exit_mark_filter(char *pending, size_t *n_pending, const char *data, size_t n, int out_fd) {
        static const size_t mark_len = sizeof(EXIT_MARK) - 1;
        char buf[EXIT_MARK_PENDING_MAX + EXIT_MARK_CHUNK_MAX];
        size_t len = 0;
        int status = -1;

        memcpy(buf, pending, *n_pending);
        len = *n_pending;
        memcpy(buf + len, data, n);
        len += n;
        *n_pending = 0;

        size_t out = 0, i = 0;
        while (i < len) {
                if (buf[i] != '\x1b') {
                        i++;
                        continue;
                }
                size_t avail = len - i;
                if (avail < mark_len) {
                        if (memcmp(buf + i, EXIT_MARK, avail) == 0) {
                                /* maybe a mark: keep it for the next read */
                                (void) write_all(out_fd, buf + out, i - out);
                                memcpy(pending, buf + i, avail);
                                *n_pending = avail;
                                return -1;
                        }
                        i++;
                        continue;
                }
                if (memcmp(buf + i, EXIT_MARK, mark_len) != 0) {
                        i++;
                        continue;
                }
                char *bel = memchr(buf + i + mark_len, '\a', len - i - mark_len);
                if (!bel) {
                        if (len - i < 64) {
                                (void) write_all(out_fd, buf + out, i - out);
                                memcpy(pending, buf + i, len - i);
                                *n_pending = len - i;
                                return -1;
                        }
                        i++;
                        continue;
                }
                (void) write_all(out_fd, buf + out, i - out);
                status = atoi(buf + i + mark_len);
                i = out = (size_t) (bel - buf) + 1;
        }
        (void) write_all(out_fd, buf + out, len - out);
        return status;
}
