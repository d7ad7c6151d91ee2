/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containers-manager-monitor NAME UNIT LXCPATH RUNTIME_DIR -- COMMAND...
 *
 * Started by the daemon's start worker inside container-<NAME>.scope; not for people to run.
 * It stays in the scope as LXC's monitor until the container's command ends. */
#include <stdio.h>

#include "runtime.h"
#include "util.h"

int main(int argc, char *argv[]) {
        if (argc < 7 || !streq(argv[5], "--") || !name_is_valid(argv[1])) {
                fprintf(stderr, "usage: %s NAME UNIT LXCPATH RUNTIME_DIR -- COMMAND...\n"
                        "(started by containers-managerd, not meant to be run by hand)\n", argv[0]);
                return 2;
        }
        runtime_monitor_main(argv[1], argv[2], argv[3], argv[4], argv + 6);
}
