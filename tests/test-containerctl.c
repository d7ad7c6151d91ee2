/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerctl's pure logic, without a bus: argument parsing, the exit mark of exec -t (split
 * anywhere across reads), tables as text and JSON, and the formatting helpers. */

#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "containerctl.h"
#include "exit-mark.h"
#include "table.h"
#include "verbs.h"

/* Runs fn with stdout going to a temporary file; returns what it wrote. */
static char *capture_stdout(void (*fn)(void *), void *userdata) {
        char path[] = "/tmp/test-containerctl.XXXXXX";
        int fd = mkstemp(path), saved;
        gchar *text = NULL;

        g_assert_cmpint(fd, >=, 0);
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        dup2(fd, STDOUT_FILENO);
        fn(userdata);
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        close(fd);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        unlink(path);
        return text;
}

static void test_parse_command_verb(void) {
        char *argv[] = { "run", "busybox", "web", "-e", "A=b", "-p", "8080:80", "sh", "-c", "echo -x", NULL };
        _cleanup_strv_free_ char **args = NULL;
        bool help;
        int n;

        g_assert_cmpint(verb_parse_args(verb_find("run"), 10, argv, &args, &n, &help), ==, 0);
        g_assert_false(help);
        g_assert_cmpint(n, ==, 2);
        /* options between the positionals and the command are options; the command is verbatim */
        g_assert_cmpstr(args[0], ==, "busybox");
        g_assert_cmpstr(args[1], ==, "web");
        g_assert_cmpstr(args[2], ==, "sh");
        g_assert_cmpstr(args[3], ==, "-c");
        g_assert_cmpstr(args[4], ==, "echo -x");
        g_assert_null(args[5]);
}

static void test_parse_exec_and_globals(void) {
        char *argv[] = { "exec", "-it", "web", "--", "ls", "-l", NULL };
        char *argv2[] = { "inspect", "web", "--json=pretty", "--no-legend", "db", NULL };
        _cleanup_strv_free_ char **args = NULL, **args2 = NULL;
        bool help;
        int n;

        g_assert_cmpint(verb_parse_args(verb_find("exec"), 6, argv, &args, &n, &help), ==, 0);
        g_assert_cmpint(n, ==, 1);
        g_assert_cmpstr(args[0], ==, "web");
        g_assert_cmpstr(args[1], ==, "ls");
        g_assert_cmpstr(args[2], ==, "-l");
        g_assert_null(args[3]);

        arg_json = JSON_OFF;
        arg_legend = true;
        g_assert_cmpint(verb_parse_args(verb_find("inspect"), 5, argv2, &args2, &n, &help), ==, 0);
        g_assert_cmpint(n, ==, 2);
        g_assert_cmpint(arg_json, ==, JSON_PRETTY);
        g_assert_false(arg_legend);
        arg_json = JSON_OFF;
        arg_legend = true;
}

static void test_parse_errors(void) {
        char *too_many[] = { "rename", "a", "b", "c", NULL };
        char *too_few[] = { "rename", "a", NULL };
        char *unknown[] = { "list", "--frobnicate", NULL };
        char *help_argv[] = { "stop", "--help", NULL };
        char **args = NULL;
        bool help;
        int n;

        opterr = 0;
        g_assert_cmpint(verb_parse_args(verb_find("rename"), 4, too_many, &args, &n, &help), <, 0);
        g_assert_cmpint(verb_parse_args(verb_find("rename"), 2, too_few, &args, &n, &help), <, 0);
        g_assert_cmpint(verb_parse_args(verb_find("list"), 2, unknown, &args, &n, &help), <, 0);
        g_assert_cmpint(verb_parse_args(verb_find("stop"), 2, help_argv, &args, &n, &help), ==, 0);
        g_assert_true(help);
        g_assert_null(verb_find("frobnicate"));
}

typedef struct Filtered {
        const char *chunks[4];
        char *out;
        int status;
} Filtered;

static void run_filter(void *userdata) {
        Filtered *f = userdata;
        char pending[EXIT_MARK_PENDING_MAX];
        size_t n_pending = 0;

        f->status = -1;
        for (size_t i = 0; i < 4 && f->chunks[i]; i++) {
                int s = exit_mark_filter(pending, &n_pending, f->chunks[i], strlen(f->chunks[i]), STDOUT_FILENO);
                if (s >= 0)
                        f->status = s;
        }
        if (n_pending)
                write_all(STDOUT_FILENO, pending, n_pending);
}

static void test_exit_mark(void) {
        const char *stream = "hello\r\n\x1b[1mbold\x1b[0m\x1b]777;cm-exit=42\abye";
        const size_t len = strlen(stream);

        /* split at every place, the mark included */
        for (size_t cut = 0; cut <= len; cut++) {
                g_autofree char *a = g_strndup(stream, cut), *b = g_strdup(stream + cut);
                Filtered f = { .chunks = { a, b } };
                g_autofree char *out = capture_stdout(run_filter, &f);

                g_assert_cmpstr(out, ==, "hello\r\n\x1b[1mbold\x1b[0mbye");
                g_assert_cmpint(f.status, ==, 42);
        }
        /* something that only starts like the mark, or never ends, passes through */
        Filtered g = { .chunks = { "a\x1b]777;cm-ex", "it?\x1b", "]2;title\a" } };
        g_autofree char *out = capture_stdout(run_filter, &g);
        g_assert_cmpstr(out, ==, "a\x1b]777;cm-exit?\x1b]2;title\a");
        g_assert_cmpint(g.status, ==, -1);
        Filtered h = { .chunks = { "x\x1b]777;cm-exit=1" } };
        g_autofree char *out2 = capture_stdout(run_filter, &h);
        g_assert_cmpstr(out2, ==, "x\x1b]777;cm-exit=1");
        g_assert_cmpint(h.status, ==, -1);
}

static void print_table(void *userdata) {
        Table *t = userdata;
        g_assert_cmpint(table_print(t, "thing"), ==, 0);
}

static void test_table(void) {
        _cleanup_table_ Table *t = table_new("NAME", "STATE", "UPTIME", "ADDRESS", NULL);
        char *addresses[] = { "10.89.0.2", NULL };

        g_assert_nonnull(t);
        g_assert_cmpint(table_add_string(t, CELL_STRING, "web"), ==, 0);
        g_assert_cmpint(table_add_string(t, CELL_STATE, "running"), ==, 0);
        g_assert_cmpint(table_add_uint(t, CELL_TIMESPAN, UINT64_C(125) * 1000000), ==, 0);
        g_assert_cmpint(table_add_strv(t, addresses), ==, 0);
        g_assert_cmpint(table_add_string(t, CELL_STRING, "a-long-name"), ==, 0);
        g_assert_cmpint(table_add_string(t, CELL_STATE, "stopped"), ==, 0);
        g_assert_cmpint(table_add_uint(t, CELL_TIMESPAN, 0), ==, 0);
        g_assert_cmpint(table_add_strv(t, NULL), ==, 0);
        table_sort(t, 0);
        g_assert_cmpint(table_rows(t), ==, 2);

        g_autofree char *text = capture_stdout(print_table, t);
        g_assert_cmpstr(text, ==,
                        "NAME        STATE   UPTIME  ADDRESS\n"
                        "a-long-name stopped -       -\n"
                        "web         running 2min 5s 10.89.0.2\n"
                        "\n"
                        "2 things listed.\n");
        arg_legend = false;
        g_autofree char *bare = capture_stdout(print_table, t);
        g_assert_cmpstr(bare, ==, "a-long-name stopped -       -\nweb         running 2min 5s 10.89.0.2\n");
        arg_legend = true;

        arg_json = JSON_SHORT;
        g_autofree char *json = capture_stdout(print_table, t);
        arg_json = JSON_OFF;
        g_assert_cmpstr(json, ==,
                        "[{\"name\":\"a-long-name\",\"state\":\"stopped\",\"uptime\":0,\"address\":[]},"
                        "{\"name\":\"web\",\"state\":\"running\",\"uptime\":125000000,\"address\":[\"10.89.0.2\"]}]\n");

        /* one of a kind: no plural */
        _cleanup_table_ Table *one = table_new("NAME", NULL);
        g_assert_cmpint(table_add_string(one, CELL_STRING, "web"), ==, 0);
        g_autofree char *single = capture_stdout(print_table, one);
        g_assert_cmpstr(single, ==, "NAME\nweb\n\n1 thing listed.\n");
}

static void test_formats(void) {
        char buf[64];
        uint64_t v;

        g_assert_cmpstr(format_timespan(buf, sizeof buf, 0), ==, "-");
        g_assert_cmpstr(format_timespan(buf, sizeof buf, 1500), ==, "1ms");
        g_assert_cmpstr(format_timespan(buf, sizeof buf, UINT64_C(3) * 1000000), ==, "3s");
        g_assert_cmpstr(format_timespan(buf, sizeof buf, UINT64_C(90061) * 1000000), ==, "1d 1h");
        g_assert_cmpstr(format_bytes(buf, sizeof buf, 512), ==, "512B");
        g_assert_cmpstr(format_bytes(buf, sizeof buf, 1536), ==, "1.5K");
        g_assert_cmpstr(format_bytes(buf, sizeof buf, UINT64_C(3) << 30), ==, "3.0G");
        g_assert_cmpint(parse_size("100M", &v), ==, 0);
        g_assert_cmpuint(v, ==, UINT64_C(100) << 20);
        g_assert_cmpint(parse_size("7", &v), ==, 0);
        g_assert_cmpuint(v, ==, 7);
        g_assert_cmpint(parse_size("-1", &v), <, 0);
        g_assert_cmpint(parse_size("1X", &v), <, 0);
        g_assert_cmpint(parse_size("99999999999999T", &v), <, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/containerctl/parse/command-verb", test_parse_command_verb);
        g_test_add_func("/containerctl/parse/exec-and-globals", test_parse_exec_and_globals);
        g_test_add_func("/containerctl/parse/errors", test_parse_errors);
        g_test_add_func("/containerctl/exit-mark", test_exit_mark);
        g_test_add_func("/containerctl/table", test_table);
        g_test_add_func("/containerctl/formats", test_formats);
        return g_test_run();
}
