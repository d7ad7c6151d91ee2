/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerctl: the command line of containers-manager. main() reads the global options, finds
 * the verb, lets it parse its own arguments, connects (locally or with -H over SSH) and runs it.
 * Exit status: 0 on success, 1 when a call failed (the error's text and name on stderr), 2 for
 * bad usage; exec and run -i pass the command's own status through. */

#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerctl.h"
#include "pager.h"
#include "terminal.h"
#include "verbs.h"

/* Descriptors cannot cross sd-bus's SSH transport: a verb that passes them runs as containerctl
 * on the host itself, through ssh, with the same arguments less -H (a terminal when we have
 * one, so exec -t and shell work; the exit status comes back). */
static int run_over_ssh(int argc, char *argv[]) {
        _cleanup_free_ char *cmd = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&cmd, &len);
        bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);

        if (!f)
                return log_oom();
        fputs("containerctl", f);
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-H") == 0 || strcmp(a, "--host") == 0) {
                        i++;
                        continue;
                }
                if (strncmp(a, "--host=", 7) == 0 || (strncmp(a, "-H", 2) == 0 && a[2]))
                        continue;
                if (strcmp(a, "--") == 0) {
                        /* from here on everything is verbatim */
                        for (; i < argc; i++) {
                                fputs(" '", f);
                                for (const char *c = argv[i]; *c; c++)
                                        *c == '\'' ? fputs("'\\''", f) : fputc(*c, f);
                                fputc('\'', f);
                        }
                        break;
                }
                fputs(" '", f);
                for (const char *c = a; *c; c++)
                        *c == '\'' ? fputs("'\\''", f) : fputc(*c, f);
                fputc('\'', f);
        }
        if (fclose(f) != 0)
                return log_oom();
        fflush(stdout);
        execlp("ssh", "ssh", "-x", tty ? "-t" : "-T", "-q", "--", arg_host, cmd, (char *) NULL);
        return log_error_errno(-errno, "Failed to run ssh: %m");
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_strv_free_ char **args = NULL;
        const Verb *verb;
        bool help;
        int n_pos, r;

        setlocale(LC_ALL, "");
        terminal_init();
        /* a reader that goes away (containerctl logs | head) ends us quietly */
        signal(SIGPIPE, SIG_DFL);

        for (;;) {
                int c = getopt_long(argc, argv, "+" GLOBAL_SHORT_OPTIONS, global_options, NULL);
                if (c < 0)
                        break;
                if (c == 'h') {
                        verbs_help();
                        return EXIT_SUCCESS;
                }
                if (c == '?' || global_option(c, optarg) < 0)
                        return 2;
        }
        if (optind >= argc) {
                /* as machinectl: no verb lists */
                verb = verb_find("list");
                argv[--optind] = (char *) "list";
        } else {
                verb = verb_find(argv[optind]);
                if (!verb) {
                        fprintf(stderr, "Unknown command verb '%s'; see containerctl --help.\n", argv[optind]);
                        return 2;
                }
        }

        r = verb_parse_args(verb, argc - optind, argv + optind, &args, &n_pos, &help);
        if (r < 0)
                return 2;
        if (help) {
                verb_help(verb);
                return EXIT_SUCCESS;
        }

        if (arg_host && (verb->flags & VERB_FDS))
                return run_over_ssh(argc, argv) < 0 ? EXIT_FAILURE : 0;

        if (!(verb->flags & VERB_NO_BUS)) {
                r = bus_connect(&bus);
                if (r < 0)
                        return EXIT_FAILURE;
                polkit_agent_open_if_enabled();
        }
        r = verb->run(bus, args, n_pos);
        pager_close();
        if (r == -EUSAGE)
                return 2;
        if (r < 0)
                return EXIT_FAILURE;
        return r;       /* a verb may pass a command's exit status through */
}
