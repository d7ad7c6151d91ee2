/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The arguments of containers-manager-startup, the static helper that runs a container's startup
 * commands inside it before its command (no GLib: it is linked statically and runs in the
 * container):
 *
 *     HELPER REPORT_FD K  N1 WORD... N2 WORD... (K times)  COMMAND...
 *
 * It reports on REPORT_FD one line per startup command ("OK <i>", or "FAIL <i> exit|signal|exec
 * <value>", i from 1) and "DONE" just before it execs COMMAND; the start worker reads them. */

#include <errno.h>
#include <stdlib.h>

#define STARTUP_COMMANDS_LIMIT 64

/* Splits args (what follows HELPER REPORT_FD) into the startup commands (cmd[i], len[i] words
 * each) and the main command. Returns K, or -EINVAL when args are not in this form. */
static inline int startup_args_parse(char **args, char **cmd[], int len[], int max, char ***ret_main) {
        char *end;
        long k;
        int i = 0;

        if (!args || !args[0])
                return -EINVAL;
        k = strtol(args[0], &end, 10);
        if (*end || k < 0 || k > max)
                return -EINVAL;
        args++;
        for (; i < k; i++) {
                long n;

                if (!args[0])
                        return -EINVAL;
                n = strtol(args[0], &end, 10);
                if (*end || n < 1 || n > 4096)
                        return -EINVAL;
                for (long j = 1; j <= n; j++)
                        if (!args[j])
                                return -EINVAL;
                cmd[i] = args + 1;
                len[i] = (int) n;
                args += n + 1;
        }
        if (!args[0])
                return -EINVAL; /* no main command */
        *ret_main = args;
        return (int) k;
}
