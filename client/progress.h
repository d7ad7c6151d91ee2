/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Progress of long operations (build, import, export, migrate) on stderr: a bar redrawn in
 * place on a terminal (log lines scroll above it), plain lines otherwise ("NN%" at most every
 * 10%, or bytes every few seconds when the total is unknown). Quiet with --quiet. */

#include <stdbool.h>
#include <stdint.h>

typedef struct Progress {
        char *title;
        bool tty, drawn;
        double fraction;        /* < 0: unknown */
        uint64_t bytes, total;  /* total 0: unknown */
        uint64_t started, last_plain;
        int last_decile;
} Progress;

void progress_begin(Progress *p, const char *title);
void progress_set_fraction(Progress *p, double fraction);
void progress_set_bytes(Progress *p, uint64_t bytes, uint64_t total);
/* A log line, printed above the bar. */
void progress_log(Progress *p, const char *line);
void progress_end(Progress *p, bool success);
