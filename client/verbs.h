/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The verb table: one entry per verb, its synopsis, its options and the function that runs it.
 * Every verb accepts the global options too (containerctl inspect web --json), and --help. */

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef enum VerbFlags {
        VERB_NO_BUS = 1 << 0,       /* runs without a connection (it makes its own) */
        VERB_COMMAND = 1 << 1,      /* after max_args positionals, the rest is a command, verbatim */
        VERB_FDS = 1 << 2,          /* passes file descriptors: with -H it runs on the host over ssh */
} VerbFlags;

typedef struct Verb {
        const char *name;
        const char *synopsis;          /* after "containerctl VERB" */
        const char *summary;           /* one line for the verb list */
        const char *options_help;      /* the verb's own options, for VERB --help */
        unsigned min_args, max_args;   /* positionals (the command not counted) */
        VerbFlags flags;
        const char *short_options;     /* the verb's own; -h and -H are global */
        const struct option *options;
        int (*option)(int c, const char *arg);   /* < 0: error already said */
        /* args: the positionals, then (VERB_COMMAND) the command; NULL-terminated */
        int (*run)(sd_bus *bus, char **args, int n_positional);
} Verb;

#define VERB_ANY UINT_MAX

/* Each verb family's file defines its entries; verbs.c lists them all. */
extern const Verb verb_list, verb_images;
extern const Verb verb_create, verb_run, verb_start, verb_stop, verb_restart, verb_rm, verb_rmi,
        verb_freeze, verb_thaw, verb_kill, verb_rename, verb_update;
extern const Verb verb_inspect, verb_top;
extern const Verb verb_logs;
extern const Verb verb_exec, verb_shell;
extern const Verb verb_cp;
extern const Verb verb_build, verb_pull;
extern const Verb verb_snapshot, verb_commit;
extern const Verb verb_export, verb_import;
extern const Verb verb_migrate;

const Verb *verb_find(const char *name);
void verbs_help(void);
void verb_help(const Verb *v);
/* Parses argv (argv[0] is the verb) into positionals and command; handles global options
 * and --help (then *ret_help is true). */
int verb_parse_args(const Verb *v, int argc, char **argv, char ***ret_args, int *ret_n_positional,
                    bool *ret_help);
/* Set by global option parsing when the option is one of them: shared by main() and verbs. */
int global_option(int c, const char *arg);
extern const struct option global_options[];
#define GLOBAL_SHORT_OPTIONS "hH:q"

/* Values of long-only global options. */
enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_NO_PAGER,
        ARG_NO_ASK_PASSWORD,
        ARG_VERB_BASE = 0x200,       /* verbs number their long-only options from here */
};
