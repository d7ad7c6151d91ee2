/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "recipe.h"

static Recipe *parse_ok(const char *text) {
        Recipe *r = NULL;
        g_autofree char *error = NULL;

        g_assert_cmpint(recipe_parse(text, strlen(text), "Run.yaml", &r, &error), ==, 0);
        g_assert_null(error);
        g_assert_nonnull(r);
        return r;
}

/* Asserts the errno and the whole message, and that ret is left alone on failure. */
static void parse_bad_sized(const char *text, size_t size, int expected_r, const char *expected_error) {
        Recipe *sentinel = (Recipe *) 0x1, *r = sentinel;
        g_autofree char *error = NULL;

        g_assert_cmpint(recipe_parse(text, size, "Run.yaml", &r, &error), ==, expected_r);
        g_assert_true(r == sentinel);
        g_assert_nonnull(error);
        if (expected_error)
                g_assert_cmpstr(error, ==, expected_error);
        g_test_message("%s", error);
}

static void parse_bad(const char *text, int expected_r, const char *expected_error) {
        parse_bad_sized(text, strlen(text), expected_r, expected_error);
}

static void test_seed_example(void) {
        _cleanup_(recipe_freep) Recipe *r = parse_ok("Base: exis-python\nCommand: python -m mybackend\n");

        g_assert_cmpstr(r->base, ==, "exis-python");
        g_assert_cmpstrv(r->command, ((const char *const[]) { "python", "-m", "mybackend", NULL }));
        g_assert_nonnull(r->environment);
        g_assert_null(r->environment[0]);
        g_assert_cmpstr(r->working_directory, ==, "/app");
}

static void test_issue_example(void) {
        _cleanup_(recipe_freep) Recipe *r = parse_ok("Base: busybox\n"
                                                     "Command: sh -c 'echo hello from $NAME'\n"
                                                     "Environment:\n"
                                                     "  NAME: world\n");

        g_assert_cmpstr(r->base, ==, "busybox");
        g_assert_cmpstrv(r->command, ((const char *const[]) { "sh", "-c", "echo hello from $NAME", NULL }));
        g_assert_cmpstrv(r->environment, ((const char *const[]) { "NAME=world", NULL }));
        g_assert_cmpstr(r->working_directory, ==, "/app");
}

static void test_list_command(void) {
        _cleanup_(recipe_freep) Recipe *r = parse_ok("# a comment\n"
                                                     "Base: host\n"
                                                     "Command:\n"
                                                     "  - python3\n"
                                                     "  - -c\n"
                                                     "  - print('a b')\n"
                                                     "  - 8080\n"
                                                     "  - ''\n"
                                                     "Environment:\n"
                                                     "  ZED: 1\n"
                                                     "  ALPHA: true\n"
                                                     "  EMPTY:\n"
                                                     "  TILDE: ~\n"
                                                     "  QUOTED_NULL: 'null'\n"
                                                     "  _X: a=b\n"
                                                     "WorkingDirectory: /srv/my app/\n");

        g_assert_cmpstr(r->base, ==, "host");
        g_assert_cmpstrv(r->command, ((const char *const[]) { "python3", "-c", "print('a b')", "8080", "", NULL }));
        /* File order, scalars verbatim, YAML nulls as empty values. */
        g_assert_cmpstrv(r->environment, ((const char *const[]) {
                "ZED=1", "ALPHA=true", "EMPTY=", "TILDE=", "QUOTED_NULL=null", "_X=a=b", NULL }));
        g_assert_cmpstr(r->working_directory, ==, "/srv/my app/");
}

static void test_flow_and_tags(void) {
        _cleanup_(recipe_freep) Recipe *a = NULL, *b = NULL, *c = NULL;

        a = parse_ok("%YAML 1.1\n---\n{Base: busybox, Command: [sh, -c, \"exit 0\"], Environment: {A: b}}\n...\n");
        g_assert_cmpstrv(a->command, ((const char *const[]) { "sh", "-c", "exit 0", NULL }));
        g_assert_cmpstrv(a->environment, ((const char *const[]) { "A=b", NULL }));

        b = parse_ok("Base: !!str busybox\nCommand: !!seq [ ! true ]\nEnvironment: !!map {N: !!int 3, M: !!null ''}\n");
        g_assert_cmpstrv(b->command, ((const char *const[]) { "true", NULL }));
        g_assert_cmpstrv(b->environment, ((const char *const[]) { "N=3", "M=", NULL }));

        /* Shell-like splitting: quotes, escapes, comments; UTF-8 passes through. */
        c = parse_ok("Base: busybox\nCommand: echo \"a  b\" c\\ d 'é' # comment\nEnvironment:\n");
        g_assert_cmpstrv(c->command, ((const char *const[]) { "echo", "a  b", "c d", "é", NULL }));
        g_assert_null(c->environment[0]);
}

static void test_rejections(void) {
        /* keys */
        parse_bad("Base: busybox\nCommand: sh\nFoo: bar\n", -EBADMSG, "Run.yaml:3:1: unknown key 'Foo'");
        parse_bad("base: busybox\nCommand: sh\n", -EBADMSG, "Run.yaml:1:1: unknown key 'base'");
        parse_bad("Base: busybox\nCommand: sh\nBase: host\n", -EBADMSG, "Run.yaml:3:1: duplicate key 'Base'");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment:\n  A: 1\n  B: 2\n  A: 3\n", -EBADMSG,
                  "Run.yaml:6:3: duplicate key 'A'");
        parse_bad("Base: busybox\nCommand: sh\nFoo: {x: 1, x: 2}\n", -EBADMSG, "Run.yaml:3:13: duplicate key 'x'");
        parse_bad("Base: busybox\nCommand: sh\n[a]: b\n", -EBADMSG, "Run.yaml:3:1: mapping keys must be strings, not a list");
        parse_bad("Command: sh\n", -EBADMSG, "Run.yaml:1:1: missing required key 'Base'");
        parse_bad("\n\nBase: busybox\n", -EBADMSG, "Run.yaml:3:1: missing required key 'Command'");

        /* types */
        parse_bad("Base: busybox\nCommand: {a: b}\n", -EBADMSG,
                  "Run.yaml:2:10: Command must be a string or a list of strings, not a mapping");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment: [1, 2]\n", -EBADMSG,
                  "Run.yaml:3:14: Environment must be a mapping, not a list");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment: FOO=bar\n", -EBADMSG,
                  "Run.yaml:3:14: Environment must be a mapping, not a string");
        parse_bad("Base: [x]\nCommand: sh\n", -EBADMSG, "Run.yaml:1:7: Base must be a string, not a list");
        parse_bad("Base:\nCommand: sh\n", -EBADMSG, "Run.yaml:1:6: Base must be a string, not null");
        parse_bad("Base: ../etc\nCommand: sh\n", -EBADMSG, "Run.yaml:1:7: invalid Base name '../etc'");
        parse_bad("Base: busybox\nCommand:\n  - sh\n  - [x]\n", -EBADMSG,
                  "Run.yaml:4:5: Command list items must be strings, not a list");
        parse_bad("Base: busybox\nCommand: [sh, ~]\n", -EBADMSG, "Run.yaml:2:15: Command list items must be strings, not null");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment:\n  A: [1]\n", -EBADMSG,
                  "Run.yaml:4:6: value of environment variable 'A' must be a scalar, not a list");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment:\n  1A: x\n", -EBADMSG,
                  "Run.yaml:4:3: invalid environment variable name '1A'");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment:\n  A=B: x\n", -EBADMSG,
                  "Run.yaml:4:3: invalid environment variable name 'A=B'");
        /* line breaks would become lines of LXC configuration of their own */
        parse_bad("Base: busybox\nCommand: sh\nEnvironment:\n  A: \"x\\nlxc.mount.entry = / h none bind 0 0\"\n", -EBADMSG,
                  "Run.yaml:4:6: invalid value for environment variable 'A'");
        parse_bad("Base: busybox\nCommand: sh\nWorkingDirectory: \"/app\\nlxc.x = y\"\n", -EBADMSG,
                  "Run.yaml:3:19: WorkingDirectory must not contain control characters: '/app\\nlxc.x = y'");
        parse_bad("Base: busybox\nCommand: sh\nWorkingDirectory: app\n", -EBADMSG,
                  "Run.yaml:3:19: WorkingDirectory must be an absolute path: 'app'");
        parse_bad("Base: busybox\nCommand: sh\nWorkingDirectory: /app/../etc\n", -EBADMSG,
                  "Run.yaml:3:19: WorkingDirectory must not contain '..': '/app/../etc'");
        parse_bad("Base: busybox\nCommand: sh\nWorkingDirectory: [/]\n", -EBADMSG,
                  "Run.yaml:3:19: WorkingDirectory must be a string, not a list");

        /* empty commands */
        parse_bad("Base: busybox\nCommand: ''\n", -EBADMSG, "Run.yaml:2:10: Command is empty");
        parse_bad("Base: busybox\nCommand: '   '\n", -EBADMSG, "Run.yaml:2:10: Command is empty");
        parse_bad("Base: busybox\nCommand: []\n", -EBADMSG, "Run.yaml:2:10: Command is empty");
        parse_bad("Base: busybox\nCommand:\n", -EBADMSG, "Run.yaml:2:9: Command must be a string or a list of strings, not null");
        parse_bad("Base: busybox\nCommand: \"''\"\n", -EBADMSG, "Run.yaml:2:10: Command's program name is empty");
        parse_bad("Base: busybox\nCommand: sh -c 'oops\n", -EBADMSG,
                  "Run.yaml:2:10: cannot split Command into words: unmatched quote or trailing backslash");

        /* document shape */
        parse_bad("", -EBADMSG, "Run.yaml:1:1: file is empty, expected a mapping");
        parse_bad("# only a comment\n", -EBADMSG, "Run.yaml:2:1: file is empty, expected a mapping");
        parse_bad("just a string\n", -EBADMSG, "Run.yaml:1:1: expected a mapping at the top level");
        parse_bad("- Base: busybox\n", -EBADMSG, "Run.yaml:1:1: expected a mapping at the top level");
        parse_bad("Base: busybox\nCommand: sh\n---\nBase: host\n", -EBADMSG, "Run.yaml:3:1: only one YAML document is allowed");
        parse_bad("Base: busybox\nCommand: sh\n...\n---\n", -EBADMSG, "Run.yaml:4:1: only one YAML document is allowed");

        /* tags */
        parse_bad("Base: !foo busybox\nCommand: sh\n", -EBADMSG, "Run.yaml:1:7: unsupported tag '!foo'");
        parse_bad("Base: busybox\nCommand: !!binary c2g=\n", -EBADMSG, "Run.yaml:2:10: unsupported tag 'tag:yaml.org,2002:binary'");
        parse_bad("Base: busybox\nCommand: !!map [sh]\n", -EBADMSG, "Run.yaml:2:10: unsupported tag 'tag:yaml.org,2002:map'");
        parse_bad("!!python/object:os.system\nBase: busybox\nCommand: sh\n", -EBADMSG, NULL);

        /* anchors are inert, aliases are refused */
        parse_bad("Base: &b busybox\nCommand: *b\n", -ELOOP, "Run.yaml:2:10: aliases are not supported");
        parse_bad("Base: busybox\nCommand: sh\n<<: *x\n", -ELOOP, NULL);

        /* bytes */
        parse_bad("Base: busybox\nCommand: \"sh\\0x\"\n", -EBADMSG, "Run.yaml:2:10: strings must not contain NUL bytes");
        parse_bad("Base: busybox\nCommand: caf\xc3\n", -EBADMSG, "Run.yaml:2:14: invalid trailing UTF-8 octet (byte 0x0A)");
        parse_bad("Base: busybox\nCommand: \xff\n", -EBADMSG, "Run.yaml:2:10: invalid leading UTF-8 octet (byte 0xFF)");
        parse_bad_sized("Base: busybox\0\nCommand: sh\n", 26, -EBADMSG, "Run.yaml:1:14: control characters are not allowed (byte 0x00)");
        /* UTF-16 with a BOM is not sniffed: the file must be UTF-8. */
        parse_bad_sized("\xff\xfe" "B\0a\0", 6, -EBADMSG, NULL);

        /* syntax */
        parse_bad("Base: busybox\nCommand: [sh\n", -EBADMSG, NULL);
        parse_bad("Base: busybox\n Command: sh\n", -EBADMSG, NULL);
}

static void test_error_is_quoted(void) {
        g_autofree char *error = NULL, *text = NULL, *longkey = g_strnfill(1000, 'k');
        Recipe *r = NULL;

        /* Control characters are escaped, long names cut short. */
        parse_bad("Base: busybox\nCommand: sh\n\"a\\nb\\e\": x\n", -EBADMSG, "Run.yaml:3:1: unknown key 'a\\nb\\033'");
        parse_bad("Base: busybox\nCommand: sh\nCafé: x\n", -EBADMSG, "Run.yaml:3:1: unknown key 'Café'");
        parse_bad("Base: busybox\nCommand: sh\nEnvironment: {É: x}\n", -EBADMSG,
                  "Run.yaml:3:15: invalid environment variable name 'É'");
        /* tag URIs are %-decoded: libyaml refuses invalid UTF-8 there itself */
        parse_bad("Base: !<%C3%A9> x\nCommand: sh\n", -EBADMSG, "Run.yaml:1:7: unsupported tag 'é'");
        parse_bad("Base: !<%FF%C3> x\nCommand: sh\n", -EBADMSG,
                  "Run.yaml:1:9: while parsing a tag found an incorrect leading UTF-8 octet");
        {
                g_autofree char *accents = g_strnfill(100, 'a'), *key = NULL, *doc = NULL, *err = NULL;
                Recipe *none = NULL;

                /* cut at a character boundary: 'a' then 'é' (2 bytes) repeated */
                key = g_strjoinv("é", (char *[]) { accents, accents, NULL });
                doc = g_strdup_printf("Base: busybox\nCommand: sh\na%s: x\n", key);
                g_assert_cmpint(recipe_parse(doc, strlen(doc), "Run.yaml", &none, &err), ==, -EBADMSG);
                g_assert_true(g_utf8_validate(err, -1, NULL));
                g_assert_true(g_str_has_suffix(err, "...'"));
        }
        text = g_strdup_printf("Base: busybox\nCommand: sh\n%s: x\n", longkey);
        g_assert_cmpint(recipe_parse(text, strlen(text), "sub/Run.yaml", &r, &error), ==, -EBADMSG);
        g_assert_null(r);
        g_assert_true(g_str_has_prefix(error, "sub/Run.yaml:3:1: unknown key 'kkkk"));
        g_assert_true(g_str_has_suffix(error, "kkk...'"));
        g_assert_cmpuint(strlen(error), <, 120);

        /* NULL ret_error is allowed; data need not be NUL-terminated. */
        g_assert_cmpint(recipe_parse("Foo: x", 6, NULL, &r, NULL), ==, -EBADMSG);
        g_assert_null(r);
        {
                _cleanup_(recipe_freep) Recipe *ok = NULL;
                g_assert_cmpint(recipe_parse("Base: bb\nCommand: sh\nGARBAGE", 21, NULL, &ok, NULL), ==, 0);
                g_assert_cmpstr(ok->base, ==, "bb");
        }
        g_assert_null(recipe_free(NULL));
}

static void test_cap_size(void) {
        static const char head[] = "Base: busybox\nCommand: sh\n#";
        g_autofree char *buf = g_malloc(RECIPE_SIZE_MAX + 2);
        _cleanup_(recipe_freep) Recipe *r = NULL;

        memset(buf, 'x', RECIPE_SIZE_MAX + 1);
        memcpy(buf, head, strlen(head));
        buf[RECIPE_SIZE_MAX - 1] = '\n';

        /* exactly at the cap: fine */
        g_assert_cmpint(recipe_parse(buf, RECIPE_SIZE_MAX, "Run.yaml", &r, NULL), ==, 0);
        g_assert_cmpstr(r->base, ==, "busybox");

        parse_bad_sized(buf, RECIPE_SIZE_MAX + 1, -EFBIG, "Run.yaml: file too large (65537 bytes, maximum 65536)");
}

static char *nested(unsigned depth, const char *inner) {
        GString *s = g_string_new("Base: busybox\nCommand: sh\nFoo: ");

        for (unsigned i = 0; i < depth; i++)
                g_string_append_c(s, '[');
        g_string_append(s, inner);
        for (unsigned i = 0; i < depth; i++)
                g_string_append_c(s, ']');
        g_string_append_c(s, '\n');
        return g_string_free(s, false);
}

static void test_cap_depth(void) {
        /* Top-level mapping is level 1, so 15 brackets reach the cap and are parsed fully
         * (then refused as an unknown key); one more is refused for its depth. */
        g_autofree char *at_cap = nested(RECIPE_DEPTH_MAX - 1, "x");
        g_autofree char *past_cap = nested(RECIPE_DEPTH_MAX, "x");
        g_autofree char *blocks = NULL;
        GString *s = g_string_new("Base: busybox\nCommand: sh\nEnvironment:\n");

        parse_bad(at_cap, -EBADMSG, "Run.yaml:3:1: unknown key 'Foo'");
        parse_bad(past_cap, -ELOOP, "Run.yaml:3:21: nesting too deep (maximum 16)");

        /* block style too */
        for (unsigned i = 1; i <= RECIPE_DEPTH_MAX; i++)
                g_string_append_printf(s, "%*sK%u:\n", (int) (2 * i), "", i);
        blocks = g_string_free(s, false);
        parse_bad(blocks, -ELOOP, "Run.yaml:19:33: nesting too deep (maximum 16)");
}

static void time_deep(unsigned depth, int expected_r) {
        g_autofree char *text = g_malloc(depth + 1);
        uint64_t t0, t;

        memset(text, '[', depth);
        text[depth] = 0;
        t0 = now_usec(CLOCK_MONOTONIC);
        parse_bad(text, expected_r, NULL);
        t = now_usec(CLOCK_MONOTONIC) - t0;
        g_test_message("%u-deep '[[[...' refused (%s) in %.3f ms", depth, strerror(-expected_r), (double) t / USEC_PER_MSEC);
        g_assert_cmpuint(t, <, USEC_PER_SEC);
}

static void test_cap_depth_fast(void) {
        /* Small enough for the size cap: refused by the depth cap, without reading on. */
        time_deep(RECIPE_SIZE_MAX - 1, -EBADMSG);       /* top level must be a mapping: first event */
        time_deep(200000, -EFBIG);
        {
                g_autofree char *text = g_strnfill(RECIPE_SIZE_MAX - 32, '[');
                g_autofree char *doc = g_strconcat("Base: busybox\nFoo: ", text, NULL);
                uint64_t t0 = now_usec(CLOCK_MONOTONIC), t;

                parse_bad(doc, -ELOOP, "Run.yaml:2:21: nesting too deep (maximum 16)");
                t = now_usec(CLOCK_MONOTONIC) - t0;
                g_test_message("%zu-deep nesting under a key refused in %.3f ms", strlen(text), (double) t / USEC_PER_MSEC);
                g_assert_cmpuint(t, <, USEC_PER_SEC);
        }
}

static char *command_list(unsigned n_items) {
        GString *s = g_string_new("Base: busybox\nCommand: [");

        for (unsigned i = 0; i < n_items; i++)
                g_string_append(s, i ? ",a" : "a");
        g_string_append(s, "]\n");
        return g_string_free(s, false);
}

static void test_cap_nodes(void) {
        /* mapping + Base key/value + Command key + sequence = 5 nodes besides the items */
        g_autofree char *at_cap = command_list(RECIPE_NODES_MAX - 5);
        g_autofree char *past_cap = command_list(RECIPE_NODES_MAX - 4);
        _cleanup_(recipe_freep) Recipe *r = parse_ok(at_cap);
        g_autofree char *expected = g_strdup_printf("Run.yaml:2:%u: too many nodes (maximum 4096)", 11 + 2 * (RECIPE_NODES_MAX - 5));
        GString *env = g_string_new("Base: busybox\nCommand: sh\nEnvironment:\n");
        g_autofree char *envs = NULL;

        g_assert_cmpuint(g_strv_length(r->command), ==, RECIPE_NODES_MAX - 5);
        parse_bad(past_cap, -E2BIG, expected);

        for (unsigned i = 0; i < RECIPE_NODES_MAX / 2; i++)
                g_string_append_printf(env, "  V%u: x\n", i);
        envs = g_string_free(env, false);
        parse_bad(envs, -E2BIG, NULL);
}

static void test_cap_aliases(void) {
        /* A billion laughs never gets past the first alias. */
        parse_bad("Base: busybox\nCommand: sh\n"
                  "Foo:\n"
                  "  a: &a [x, x, x, x, x, x, x, x, x]\n"
                  "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
                  -ELOOP, "Run.yaml:5:10: aliases are not supported");
        g_assert_cmpuint(RECIPE_ALIASES_MAX, ==, 0);
}

/* recipe_load */

static int tmp_dir(char **ret_path) {
        g_autofree char *path = g_dir_make_tmp("test-recipe-XXXXXX", NULL);
        int fd;

        g_assert_nonnull(path);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        *ret_path = TAKE_PTR(path);
        return fd;
}

static void write_file(const char *dir, const char *name, const char *text) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static void load_bad(int dir_fd, const char *relpath, int expected_r, const char *expected_error) {
        Recipe *sentinel = (Recipe *) 0x1, *r = sentinel;
        g_autofree char *error = NULL;

        g_assert_cmpint(recipe_load(dir_fd, relpath, &r, &error), ==, expected_r);
        g_assert_true(r == sentinel);
        g_assert_nonnull(error);
        if (expected_error)
                g_assert_cmpstr(error, ==, expected_error);
        g_test_message("%s", error);
}

static void test_load(void) {
        g_autofree char *dir = NULL, *outside = NULL, *sub = NULL, *p = NULL;
        _cleanup_close_ int fd = -1, outside_fd = -1;

        fd = tmp_dir(&dir);
        outside_fd = tmp_dir(&outside);
        sub = g_build_filename(dir, "sub", NULL);
        g_assert_cmpint(mkdir(sub, 0755), ==, 0);

        write_file(dir, "Run.yaml", "Base: busybox\nCommand: [true]\n");
        write_file(dir, "sub/Run.yaml", "Base: host\nCommand: [true]\n");
        write_file(dir, "bad.yaml", "Base: busybox\nCommand: true\nX: 1\n");
        write_file(outside, "Run.yaml", "Base: outside\nCommand: [true]\n");

        {
                _cleanup_(recipe_freep) Recipe *a = NULL, *b = NULL, *c = NULL;
                g_autofree char *error = NULL;

                g_assert_cmpint(recipe_load(fd, "Run.yaml", &a, &error), ==, 0);
                g_assert_null(error);
                g_assert_cmpstr(a->base, ==, "busybox");
                g_assert_cmpint(recipe_load(fd, "sub/Run.yaml", &b, NULL), ==, 0);
                g_assert_cmpstr(b->base, ==, "host");
                g_assert_cmpint(recipe_load(fd, "./sub//./Run.yaml", &c, NULL), ==, 0);
                g_assert_cmpstr(c->base, ==, "host");
        }

        /* parse errors name the relative path */
        load_bad(fd, "bad.yaml", -EBADMSG, "bad.yaml:3:1: unknown key 'X'");
        load_bad(fd, "missing.yaml", -ENOENT, "missing.yaml: No such file or directory");
        load_bad(fd, "", -EINVAL, NULL);

        /* escapes */
        p = g_build_filename(outside, "Run.yaml", NULL);
        load_bad(fd, p, -EXDEV, NULL);
        load_bad(fd, "../Run.yaml", -EXDEV, "../Run.yaml: path must be relative and stay inside the source directory");
        load_bad(fd, "sub/../Run.yaml", -EXDEV, NULL);
        load_bad(fd, "sub/..", -EXDEV, NULL);

        /* symlinks: final component, intermediate component, pointing inside or out */
        g_assert_cmpint(symlinkat("Run.yaml", fd, "link.yaml"), ==, 0);
        g_assert_cmpint(symlinkat(p, fd, "out.yaml"), ==, 0);
        g_assert_cmpint(symlinkat("sub", fd, "linkdir"), ==, 0);
        g_assert_cmpint(symlinkat(outside, fd, "outdir"), ==, 0);
        load_bad(fd, "link.yaml", -ELOOP, "link.yaml: path must not contain symbolic links");
        load_bad(fd, "out.yaml", -ELOOP, NULL);
        load_bad(fd, "linkdir/Run.yaml", -ELOOP, NULL);
        load_bad(fd, "outdir/Run.yaml", -ELOOP, NULL);

        /* not regular files */
        load_bad(fd, "sub", -EISDIR, "sub: is a directory");
        load_bad(fd, ".", -EISDIR, NULL);
        g_assert_cmpint(mkfifoat(fd, "fifo", 0600), ==, 0);
        load_bad(fd, "fifo", -EBADFD, "fifo: not a regular file");      /* and does not block */
        load_bad(fd, "sub/Run.yaml/x", -ENOTDIR, NULL);

        /* too big: refused from fstat(), a sparse 1 GiB file is never read */
        {
                _cleanup_close_ int big = openat(fd, "big.yaml", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                g_assert_cmpint(big, >=, 0);
                g_assert_cmpint(ftruncate(big, 1024 * 1024 * 1024), ==, 0);
        }
        load_bad(fd, "big.yaml", -EFBIG, "big.yaml: file too large (maximum 65536 bytes)");

        /* the same refusals from the component-by-component fallback */
        for (int try_openat2 = 0; try_openat2 <= 1; try_openat2++) {
                static const struct {
                        const char *path;
                        int r;
                } cases[] = {
                        { "../Run.yaml",      -EXDEV   },
                        { "/etc/passwd",      -EXDEV   },
                        { "sub/../Run.yaml",  -EXDEV   },
                        { "link.yaml",        -ELOOP   },
                        { "out.yaml",         -ELOOP   },
                        { "linkdir/Run.yaml", -ELOOP   },
                        { "outdir/Run.yaml",  -ELOOP   },
                        { "missing",          -ENOENT  },
                        { "sub/Run.yaml/x",   -ENOTDIR },
                        { "",                 -EINVAL  },
                };

                for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                        g_assert_cmpint(recipe_open_beneath(fd, cases[i].path, try_openat2), ==, cases[i].r);
                for (const char *const *ok = (const char *const[]) { "Run.yaml", "sub/Run.yaml", "./sub/Run.yaml", "sub//Run.yaml", NULL }; *ok; ok++) {
                        _cleanup_close_ int f = recipe_open_beneath(fd, *ok, try_openat2);
                        g_assert_cmpint(f, >=, 0);
                }
        }

        g_assert_cmpint(rm_rf(dir), ==, 0);
        g_assert_cmpint(rm_rf(outside), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/recipe/seed-example", test_seed_example);
        g_test_add_func("/recipe/issue-example", test_issue_example);
        g_test_add_func("/recipe/list-command", test_list_command);
        g_test_add_func("/recipe/flow-and-tags", test_flow_and_tags);
        g_test_add_func("/recipe/rejections", test_rejections);
        g_test_add_func("/recipe/error-quoting", test_error_is_quoted);
        g_test_add_func("/recipe/cap/size", test_cap_size);
        g_test_add_func("/recipe/cap/depth", test_cap_depth);
        g_test_add_func("/recipe/cap/depth-fast", test_cap_depth_fast);
        g_test_add_func("/recipe/cap/nodes", test_cap_nodes);
        g_test_add_func("/recipe/cap/aliases", test_cap_aliases);
        g_test_add_func("/recipe/load", test_load);
        return g_test_run();
}
