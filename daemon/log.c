/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int log_internal(int level, int error, const char *format, ...) {
        g_autofree char *text = NULL, *line = NULL;
        int saved = errno;
        va_list ap;

        error = error < 0 ? -error : error;
        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        if (error != 0)
                line = g_strdup_printf("<%d>%s: %s\n", level, text, g_strerror(error));
        else
                line = g_strdup_printf("<%d>%s\n", level, text);
        /* One write: lines of concurrent writers (workers share the stream) never interleave. */
        (void) loop_write(STDERR_FILENO, line, strlen(line));
        errno = saved;
        return -error;
}
