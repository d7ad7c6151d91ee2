/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A method call that streams through a descriptor (ExportImage, ImportContainer, ...): the
 * call goes out asynchronously while we copy src to dst (one of them is the pipe the service
 * holds the other end of), showing progress, until the reply has come and src is drained. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "progress.h"

/* Set from a signal handler: transfer_call() gives up (-ECANCELED) at its next turn. */
#include <signal.h>
extern volatile sig_atomic_t transfer_interrupted;

/* m: the call, with its fd argument appended; its reference is taken (sd-bus holds a copy of
 * the descriptor while the message lives: it must go once sent, or src never ends). dst is
 * closed when src ends. total: bytes expected from src, 0 if unknown. ret_reply may be NULL. */
int transfer_call(sd_bus *bus, sd_bus_message *m, int src, int dst, uint64_t total, Progress *p,
                  sd_bus_message **ret_reply, const char *what);

/* verb-transfer.c: the streams export and import make, shared with migrate. out_fd and in_fd
 * are closed when done. */
int export_to_fd(sd_bus *bus, const char *name, bool image, bool with_image, const char *compression,
                 int out_fd, const char *title);
int import_from_fd(sd_bus *bus, const char *name, bool image, const char *base, const char *image_name,
                   int in_fd, uint64_t total, const char *title);
