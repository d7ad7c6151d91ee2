/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "terminal.h"

static bool stdout_tty, stderr_tty, colors;
static unsigned cols = 80;

void terminal_init(void) {
        const char *e;
        struct winsize ws = {};

        stdout_tty = isatty(STDOUT_FILENO);
        stderr_tty = isatty(STDERR_FILENO);
        colors = stdout_tty;
        e = getenv("SYSTEMD_COLORS");
        if (e && *e)
                colors = strcmp(e, "0") != 0 && strcmp(e, "false") != 0 && strcmp(e, "no") != 0;
        if (getenv("NO_COLOR"))
                colors = false;
        e = getenv("TERM");
        if (!e || strcmp(e, "dumb") == 0)
                colors = false;
        if (ioctl(stdout_tty ? STDOUT_FILENO : STDERR_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0)
                cols = ws.ws_col;
        else if ((e = getenv("COLUMNS")) && atoi(e) > 0)
                cols = (unsigned) atoi(e);
}

bool colors_enabled(void) { return colors; }
bool on_tty(void) { return stdout_tty; }
bool stderr_on_tty(void) { return stderr_tty; }
unsigned columns(void) { return cols; }

#define ANSI(name, seq) const char *name(void) { return colors ? seq : ""; }
ANSI(ansi_highlight, "\x1b[0;1;39m")
ANSI(ansi_underline, "\x1b[0;4m")
ANSI(ansi_normal, "\x1b[0m")
ANSI(ansi_green, "\x1b[0;32m")
ANSI(ansi_red, "\x1b[0;1;31m")
ANSI(ansi_yellow, "\x1b[0;1;33m")
ANSI(ansi_grey, "\x1b[0;38;5;245m")

const char *state_color(const char *state) {
        if (!state)
                return "";
        if (strcmp(state, "running") == 0 || strcmp(state, "succeeded") == 0)
                return ansi_green();
        if (strcmp(state, "failed") == 0)
                return ansi_red();
        if (strcmp(state, "frozen") == 0 || strcmp(state, "starting") == 0 ||
            strcmp(state, "stopping") == 0)
                return ansi_yellow();
        return "";
}
