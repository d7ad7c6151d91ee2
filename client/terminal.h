/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Colour and terminal state: colour only when stdout was a terminal when we started (before
 * any pager), never with NO_COLOR, SYSTEMD_COLORS=0 or TERM=dumb. */

#include <stdbool.h>

void terminal_init(void);
bool colors_enabled(void);
bool on_tty(void);              /* stdout was a terminal at start */
bool stderr_on_tty(void);
unsigned columns(void);

const char *ansi_highlight(void);
const char *ansi_underline(void);
const char *ansi_normal(void);
const char *ansi_green(void);
const char *ansi_red(void);
const char *ansi_yellow(void);
const char *ansi_grey(void);
/* The colour a container or build state is shown in. */
const char *state_color(const char *state);
