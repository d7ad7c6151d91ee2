/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The global options: their values, and parsing them (before the verb or after it). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "containerctl.h"
#include "verbs.h"

const char *arg_host;
JsonMode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_pager = true;
bool arg_ask_password = true;
bool arg_quiet;

int global_option(int c, const char *arg) {
        switch (c) {
        case ARG_VERSION:
                printf("containerctl %s\n", PACKAGE_VERSION);
                exit(EXIT_SUCCESS);
        case 'H':
                arg_host = arg;
                return 0;
        case 'q':
                arg_quiet = true;
                return 0;
        case ARG_JSON:
                if (strcmp(arg, "short") == 0)
                        arg_json = JSON_SHORT;
                else if (strcmp(arg, "pretty") == 0)
                        arg_json = JSON_PRETTY;
                else if (strcmp(arg, "off") == 0)
                        arg_json = JSON_OFF;
                else if (strcmp(arg, "help") == 0) {
                        puts("short\npretty\noff");
                        exit(EXIT_SUCCESS);
                } else {
                        fprintf(stderr, "Unknown argument to --json=: %s (short, pretty or off)\n", arg);
                        return -EINVAL;
                }
                return 0;
        case ARG_NO_LEGEND:
                arg_legend = false;
                return 0;
        case ARG_NO_PAGER:
                arg_pager = false;
                return 0;
        case ARG_NO_ASK_PASSWORD:
                arg_ask_password = false;
                return 0;
        }
        return -ENOENT;
}
