/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verb lookup, the verb list for --help, and argument parsing shared by every verb. */

#include <stdio.h>
#include <string.h>

#include "containerctl.h"
#include "terminal.h"
#include "verbs.h"

static const Verb *const verbs[] = {
        &verb_list, &verb_images,
        &verb_create, &verb_run, &verb_start, &verb_stop, &verb_restart, &verb_rm, &verb_rmi,
        &verb_inspect, &verb_logs, &verb_top,
        &verb_exec, &verb_shell, &verb_cp,
        &verb_build, &verb_pull,
        &verb_freeze, &verb_thaw, &verb_kill, &verb_rename, &verb_update,
        &verb_snapshot, &verb_commit, &verb_export, &verb_import, &verb_migrate,
};

const struct option global_options[] = {
        { "help",            no_argument,       NULL, 'h'                 },
        { "version",         no_argument,       NULL, ARG_VERSION         },
        { "host",            required_argument, NULL, 'H'                 },
        { "quiet",           no_argument,       NULL, 'q'                 },
        { "json",            required_argument, NULL, ARG_JSON            },
        { "no-legend",       no_argument,       NULL, ARG_NO_LEGEND       },
        { "no-pager",        no_argument,       NULL, ARG_NO_PAGER        },
        { "no-ask-password", no_argument,       NULL, ARG_NO_ASK_PASSWORD },
        {}
};

const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i]->name, name) == 0)
                        return verbs[i];
        return NULL;
}

void verbs_help(void) {
        printf("%scontainerctl [OPTIONS...] COMMAND ...%s\n\n"
               "Build, run and manage containers of containers-manager (org.containers.Manager).\n\n"
               "%sCommands:%s\n", ansi_highlight(), ansi_normal(), ansi_underline(), ansi_normal());
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char head[80];
                snprintf(head, sizeof head, "%s %s", verbs[i]->name, verbs[i]->synopsis);
                printf("  %-40s %s\n", head, verbs[i]->summary);
        }
        printf("\n%sOptions:%s\n"
               "  -h --help               Show this help (COMMAND --help: that command's)\n"
               "     --version            Show package version\n"
               "  -H --host=[USER@]HOST   Operate on a remote host (over SSH)\n"
               "  -q --quiet              Say less\n"
               "     --json=pretty|short|off\n"
               "                          Print JSON\n"
               "     --no-legend          Leave out column headers and the summary line\n"
               "     --no-pager           Do not pipe output into a pager\n"
               "     --no-ask-password    Do not ask for authorization interactively\n"
               "\nSee the containerctl(1) man page for details.\n", ansi_underline(), ansi_normal());
}

void verb_help(const Verb *v) {
        printf("%scontainerctl [OPTIONS...] %s %s%s\n\n%s.\n", ansi_highlight(), v->name,
               v->synopsis, ansi_normal(), v->summary);
        if (v->options_help)
                printf("\n%sOptions:%s\n%s", ansi_underline(), ansi_normal(), v->options_help);
        printf("\nGlobal options (-H, --json, --no-legend, --no-pager, --no-ask-password) apply too;\n"
               "see containerctl --help.\n");
}

static int merge_options(const Verb *v, struct option **ret_long, char **ret_short) {
        size_t n_global = ELEMENTSOF(global_options) - 1, n_verb = 0;
        struct option *l;
        char *s;

        for (const struct option *o = v->options; o && o->name; o++)
                n_verb++;
        l = calloc(n_global + n_verb + 1, sizeof(struct option));
        if (!l)
                return -ENOMEM;
        memcpy(l, global_options, n_global * sizeof(struct option));
        if (n_verb)
                memcpy(l + n_global, v->options, n_verb * sizeof(struct option));
        if (asprintf(&s, "+%s%s", GLOBAL_SHORT_OPTIONS, v->short_options ?: "") < 0) {
                free(l);
                return -ENOMEM;
        }
        *ret_long = l;
        *ret_short = s;
        return 0;
}

int verb_parse_args(const Verb *v, int argc, char **argv, char ***ret_args, int *ret_n_positional,
                    bool *ret_help) {
        _cleanup_free_ struct option *longopts = NULL;
        _cleanup_free_ char *shortopts = NULL;
        _cleanup_strv_free_ char **args = NULL;
        unsigned n_pos = 0;
        bool dashdash = false;
        int r;

        r = merge_options(v, &longopts, &shortopts);
        if (r < 0)
                return log_oom();

        *ret_help = false;
        optind = 0;     /* GNU getopt: start afresh, main() used it */
        opterr = 1;
        while (optind < argc || optind == 0) {
                int c;

                if (!dashdash) {
                        c = getopt_long(argc, argv, shortopts, longopts, NULL);
                        if (c == '?')
                                return -EINVAL;
                        if (c == 'h') {
                                *ret_help = true;
                                return 0;
                        }
                        if (c >= 0) {
                                r = global_option(c, optarg);
                                if (r == -ENOENT)
                                        r = v->option ? v->option(c, optarg) : -EINVAL;
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (optind > 1 && strcmp(argv[optind - 1], "--") == 0)
                                dashdash = true;
                        if (optind >= argc)
                                break;
                }
                /* a positional; once they are all there, a command verb takes the rest */
                if ((v->flags & VERB_COMMAND) && n_pos >= v->max_args) {
                        for (; optind < argc; optind++)
                                if (strv_push(&args, argv[optind]) < 0)
                                        return log_oom();
                        break;
                }
                if (n_pos >= v->max_args) {
                        fprintf(stderr, "%s: too many arguments (\"%s\").\n", v->name, argv[optind]);
                        return -EINVAL;
                }
                if (strv_push(&args, argv[optind++]) < 0)
                        return log_oom();
                n_pos++;
        }
        if (n_pos < v->min_args) {
                fprintf(stderr, "%s: too few arguments: containerctl %s %s\n", v->name, v->name,
                        v->synopsis);
                return -EINVAL;
        }
        if (!args && !(args = calloc(1, sizeof(char *))))
                return log_oom();
        *ret_args = TAKE_PTR(args);
        *ret_n_positional = (int) n_pos;
        return 0;
}
