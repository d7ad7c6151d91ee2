/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containers-manager-top CGROUP SHIFT N_IDS DELAY_USEC
 *
 * Started by the daemon for Top, with its result pipe as fd 3 and nothing else open but stdin,
 * stdout and stderr; not for people to run. A small program the daemon execs (through
 * posix_spawn, so the daemon is never forked): the processes of CGROUP, serialized as
 * top_info_serialize() has them, on fd 3. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "top.h"
#include "util.h"
#include "worker.h"

int main(int argc, char *argv[]) {
        g_autofree char *text = NULL;
        uint64_t shift, n_ids, delay;
        TopInfo t = {};
        int r;

        if (argc != 5 ||
            !g_ascii_string_to_unsigned(argv[2], 10, 0, UINT32_MAX, &shift, NULL) ||
            !g_ascii_string_to_unsigned(argv[3], 10, 0, UINT32_MAX, &n_ids, NULL) ||
            !g_ascii_string_to_unsigned(argv[4], 10, 0, UINT64_MAX, &delay, NULL)) {
                fprintf(stderr, "usage: %s CGROUP SHIFT N_IDS DELAY_USEC\n"
                        "(started by containers-managerd, not meant to be run by hand)\n", argv[0]);
                return 2;
        }
        /* Don't outlive the daemon: nobody would read our result. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
                return EXIT_FAILURE;

        if (delay > 0)
                (void) usleep(delay);   /* test hook: a Top that takes long */
        r = top_collect(argv[1], (uid_t) shift, (uint32_t) n_ids, &t);
        if (r < 0)
                return EXIT_FAILURE;
        text = top_info_serialize(&t);
        top_info_clear(&t);
        return loop_write(WORKER_RESULT_FD, text, strlen(text)) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
