/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* startup_args_parse(): the arguments the start worker gives the startup helper. */
#include <glib.h>

#include "startup-protocol.h"

#define N_MAX 4

static int parse(const char *const *args, char **cmd[], int len[], char ***ret_main) {
        return startup_args_parse((char **) args, cmd, len, N_MAX, ret_main);
}

static void test_valid(void) {
        const char *args[] = { "2", "1", "true", "3", "sh", "-c", "exit 3", "httpd", "-f", NULL };
        char **cmd[N_MAX], **main_argv = NULL;
        int len[N_MAX];

        g_assert_cmpint(parse(args, cmd, len, &main_argv), ==, 2);
        g_assert_cmpint(len[0], ==, 1);
        g_assert_cmpstr(cmd[0][0], ==, "true");
        g_assert_cmpint(len[1], ==, 3);
        g_assert_cmpstr(cmd[1][0], ==, "sh");
        g_assert_cmpstr(cmd[1][2], ==, "exit 3");
        g_assert_true(main_argv == (char **) args + 7);
        g_assert_cmpstr(main_argv[1], ==, "-f");
        g_assert_null(main_argv[2]);
}

static void test_none(void) {
        /* "0" and the command: what a count of zero means (the worker never sends it, though). */
        const char *args[] = { "0", "sleep", "1", NULL };
        char **cmd[N_MAX], **main_argv = NULL;
        int len[N_MAX];

        g_assert_cmpint(parse(args, cmd, len, &main_argv), ==, 0);
        g_assert_cmpstr(main_argv[0], ==, "sleep");
}

static void test_malformed(void) {
        const char *const bad[][8] = {
                { NULL },
                { "x", "sleep", NULL },                 /* not a count */
                { "-1", "sleep", NULL },
                { "5", "1", "a", "1", "b", NULL },      /* over the limit */
                { "1", "0", "sleep", NULL },            /* an empty command */
                { "1", "3", "sh", "-c", NULL },         /* fewer words than said */
                { "1", "1", "true", NULL },             /* no main command */
                { "2", "1", "true", NULL },             /* a command missing */
                { "1", "1x", "true", "sleep", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                char **cmd[N_MAX], **main_argv = NULL;
                int len[N_MAX];

                g_assert_cmpint(parse(bad[i], cmd, len, &main_argv), ==, -EINVAL);
                g_assert_null(main_argv);
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/startup-protocol/valid", test_valid);
        g_test_add_func("/startup-protocol/none", test_none);
        g_test_add_func("/startup-protocol/malformed", test_malformed);
        return g_test_run();
}
