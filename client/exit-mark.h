/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* exec -t runs the command under /bin/sh (WRAPPER), which prints the command's exit status as a
 * private OSC sequence, EXIT_MARK N BEL, after it ends: OpenShell() does not say how it ended. */

#include <stddef.h>

#define EXIT_MARK "\x1b]777;cm-exit="
#define WRAPPER "trap : INT QUIT TSTP; \"$@\"; s=$?; printf '\\033]777;cm-exit=%d\\007' \"$s\"; exit \"$s\""

#define EXIT_MARK_PENDING_MAX 128     /* what may be held back between reads */
#define EXIT_MARK_CHUNK_MAX 8192      /* the most data one call may be given */

/* Writes data to out_fd with the mark taken out. pending (EXIT_MARK_PENDING_MAX bytes) holds a
 * tail that may be the start of a mark split across reads; the caller writes it out at the
 * end. Returns the status once a whole mark was seen, else -1. */
int exit_mark_filter(char *pending, size_t *n_pending, const char *data, size_t n, int out_fd);
