/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containers-manager-monitor NAME UNIT LXCPATH RUNTIME_DIR [--startup-report=FD] -- COMMAND...
 *
 * Started by the daemon's start worker inside container-<NAME>.scope; not for people to run.
 * It stays in the scope as LXC's monitor until the container's command ends. */
#include <limits.h>
#include <stdio.h>

#include "runtime.h"
#include "util.h"

int main(int argc, char *argv[]) {
        int report_fd = -1, first = 5;

        /* With startup commands: --startup-report=FD (the pipe the startup helper reports on). */
        if (argc > 5 && g_str_has_prefix(argv[5], "--startup-report=")) {
                gint64 v;

                report_fd = g_ascii_string_to_signed(argv[5] + strlen("--startup-report="), 10, 3, INT_MAX, &v, NULL) ?
                        (int) v : -2;
                first = 6;
        }
        if (argc < first + 2 || report_fd == -2 || !streq(argv[first], "--") || !name_is_valid(argv[1])) {
                fprintf(stderr, "usage: %s NAME UNIT LXCPATH RUNTIME_DIR [--startup-report=FD] -- COMMAND...\n"
                        "(started by containers-managerd, not meant to be run by hand)\n", argv[0]);
                return 2;
        }
        runtime_monitor_main(argv[1], argv[2], argv[3], argv[4], report_fd, argv + first + 1);
}
