/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "containerctl.h"
#include "progress.h"
#include "terminal.h"

void progress_begin(Progress *p, const char *title) {
        *p = (Progress) {
                .title = strdup(title),
                .tty = stderr_on_tty() && !arg_quiet,
                .fraction = -1,
                .started = now_usec(CLOCK_MONOTONIC),
                .last_decile = -1,
        };
}

static void progress_clear(Progress *p) {
        if (p->tty && p->drawn) {
                fputs("\r\x1b[K", stderr);
                p->drawn = false;
        }
}

static void progress_draw(Progress *p) {
        char tail[64] = "", b[32], t[32];
        unsigned width = columns(), bar;
        double f = p->fraction;

        if (p->total > 0)
                f = (double) p->bytes / (double) p->total;
        if (p->bytes > 0) {
                uint64_t el = now_usec(CLOCK_MONOTONIC) - p->started;
                uint64_t rate = el > 0 ? p->bytes * 1000000 / el : 0;
                snprintf(tail, sizeof tail, " %s %s/s", format_bytes(b, sizeof b, p->bytes),
                         format_bytes(t, sizeof t, rate));
        }
        if (f > 1)
                f = 1;
        fputs("\r\x1b[K", stderr);
        bar = width > 60 ? 30 : 10;
        fprintf(stderr, "%s%s%s [", ansi_highlight(), p->title, ansi_normal());
        for (unsigned i = 0; i < bar; i++) {
                if (f < 0)      /* unknown: a moving block */
                        fputs(((p->bytes / 65536) % bar) == i ? "#" : " ", stderr);
                else
                        fputs(i < (unsigned) (f * bar + 0.5) ? "#" : "-", stderr);
        }
        if (f >= 0)
                fprintf(stderr, "] %3d%%%s", (int) (f * 100), tail);
        else
                fprintf(stderr, "]%s", tail);
        fflush(stderr);
        p->drawn = true;
}

static void progress_plain(Progress *p) {
        double f = p->fraction;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        char b[32];

        if (arg_quiet)
                return;
        if (p->total > 0)
                f = (double) p->bytes / (double) p->total;
        if (f >= 0) {
                int d = (int) (f * 10);
                if (d > 10)
                        d = 10;
                if (d != p->last_decile) {
                        p->last_decile = d;
                        fprintf(stderr, "%s: %d%%\n", p->title, d * 10);
                }
        } else if (p->bytes > 0 && now - p->last_plain >= 5 * UINT64_C(1000000)) {
                p->last_plain = now;
                fprintf(stderr, "%s: %s\n", p->title, format_bytes(b, sizeof b, p->bytes));
        }
}

void progress_set_fraction(Progress *p, double fraction) {
        p->fraction = fraction;
        if (p->tty)
                progress_draw(p);
        else
                progress_plain(p);
}

void progress_set_bytes(Progress *p, uint64_t bytes, uint64_t total) {
        p->bytes = bytes;
        p->total = total;
        if (p->tty)
                progress_draw(p);
        else
                progress_plain(p);
}

void progress_log(Progress *p, const char *line) {
        if (arg_quiet)
                return;
        progress_clear(p);
        fprintf(stderr, "%s\n", line);
        if (p->tty)
                progress_draw(p);
}

void progress_end(Progress *p, bool success) {
        char b[32];

        if (p->tty) {
                if (success && p->fraction >= 0)
                        p->fraction = 1;
                if (success && p->total)
                        p->bytes = p->total;
                progress_draw(p);
                fputc('\n', stderr);
        } else if (success && !arg_quiet && p->bytes > 0)
                fprintf(stderr, "%s: %s done\n", p->title, format_bytes(b, sizeof b, p->bytes));
        free(p->title);
        p->title = NULL;
}
