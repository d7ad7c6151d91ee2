/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <yaml.h>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif

#include "recipe.h"

/* Resolving aliases is not implemented: any alias is refused. */
_Static_assert(RECIPE_ALIASES_MAX == 0, "alias resolution not implemented");

/* Longest user-supplied string quoted back in an error message. */
#define QUOTE_MAX 64

typedef enum NodeType {
        NODE_SCALAR,
        NODE_SEQUENCE,
        NODE_MAPPING,
} NodeType;

/* The document is read into this small tree first (bounded by the caps), so that
 * validation can look at whole mappings and report positions. */
typedef struct Node {
        NodeType type;
        yaml_mark_t mark;
        char *value;         /* scalars: NUL-free, valid UTF-8 */
        bool null;           /* scalars: plain "", "~", "null" or tagged !!null */
        GPtrArray *children; /* sequences: items; mappings: key, value, key, value, ... */
} Node;

typedef struct Parser {
        yaml_parser_t yaml;
        bool yaml_initialized;
        const char *filename;
        const char *data;
        size_t size;
        unsigned n_nodes;
        char *error;
} Parser;

static void node_free(Node *n) {
        if (!n)
                return;
        g_free(n->value);
        if (n->children)
                g_ptr_array_unref(n->children);
        g_free(n);
}

static void node_freep(Node **n) {
        node_free(*n);
}

static void node_free_void(void *n) {
        node_free(n);
}

static void parser_done(Parser *p) {
        if (p->yaml_initialized)
                yaml_parser_delete(&p->yaml);
        g_free(p->error);
}

Recipe *recipe_free(Recipe *r) {
        if (!r)
                return NULL;
        g_free(r->base);
        g_strfreev(r->command);
        g_strfreev(r->environment);
        g_free(r->working_directory);
        g_free(r);
        return NULL;
}

/* A printable, bounded copy of a user-supplied string for error messages: control
 * characters escaped, UTF-8 kept readable (tags may decode to invalid UTF-8: escaped). */
static char *quote(const char *s) {
        char high[128 + 1] = {};
        g_autofree char *e = NULL;
        const char *cut;

        if (g_utf8_validate(s, -1, NULL))
                for (size_t i = 0; i < 128; i++)
                        high[i] = (char) (0x80 + i);
        e = g_strescape(s, high);

        if (strlen(e) <= QUOTE_MAX)
                return TAKE_PTR(e);
        cut = e + QUOTE_MAX;
        while (cut > e && ((unsigned char) *cut & 0xC0) == 0x80) /* not inside a character */
                cut--;
        return g_strdup_printf("%.*s...", (int) (cut - e), e);
}

static const char *node_type_name(const Node *n) {
        if (n->type == NODE_MAPPING)
                return "a mapping";
        if (n->type == NODE_SEQUENCE)
                return "a list";
        return n->null ? "null" : "a string";
}

/* Records the first error only: it is the one nearest the cause. */
_printf_(4, 5)
static int parser_error_at(Parser *p, int r, const yaml_mark_t *mark, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        if (p->error)
                return r;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);

        if (mark)
                p->error = g_strdup_printf("%s:%zu:%zu: %s", p->filename, mark->line + 1, mark->column + 1, msg);
        else
                p->error = g_strdup_printf("%s: %s", p->filename, msg);
        return r;
}

/* libyaml's reader errors carry only a byte offset; turn it into a position. */
static yaml_mark_t mark_from_offset(const Parser *p, size_t offset) {
        yaml_mark_t m = { .index = offset };
        size_t line_start = 0;

        offset = MIN(offset, p->size);
        for (size_t i = 0; i < offset; i++)
                if (p->data[i] == '\n') {
                        m.line++;
                        line_start = i + 1;
                }
        m.column = offset - line_start;
        return m;
}

static int parser_yaml_error(Parser *p) {
        yaml_parser_t *y = &p->yaml;
        yaml_mark_t m;

        switch (y->error) {
        case YAML_MEMORY_ERROR:
                return parser_error_at(p, -ENOMEM, NULL, "out of memory");
        case YAML_READER_ERROR:
                m = mark_from_offset(p, y->problem_offset);
                if (y->problem_value >= 0)
                        return parser_error_at(p, -EBADMSG, &m, "%s (byte 0x%02X)",
                                               y->problem ?: "invalid input", (unsigned) y->problem_value);
                return parser_error_at(p, -EBADMSG, &m, "%s", y->problem ?: "invalid input");
        case YAML_SCANNER_ERROR:
        case YAML_PARSER_ERROR:
                if (y->context)
                        return parser_error_at(p, -EBADMSG, &y->problem_mark, "%s %s",
                                               y->context, y->problem ?: "syntax error");
                return parser_error_at(p, -EBADMSG, &y->problem_mark, "%s", y->problem ?: "syntax error");
        default:
                return parser_error_at(p, -EBADMSG, NULL, "YAML error");
        }
}

static int parser_next(Parser *p, yaml_event_t *ret) {
        if (!yaml_parser_parse(&p->yaml, ret))
                return parser_yaml_error(p);
        return 0;
}

static bool tag_is_allowed(const char *tag, NodeType type) {
        if (!tag || streq(tag, "!"))
                return true;
        if (type == NODE_MAPPING)
                return streq(tag, YAML_MAP_TAG);
        if (type == NODE_SEQUENCE)
                return streq(tag, YAML_SEQ_TAG);
        return STR_IN_SET(tag, YAML_STR_TAG, YAML_INT_TAG, YAML_FLOAT_TAG, YAML_BOOL_TAG, YAML_NULL_TAG);
}

static bool scalar_is_null(const yaml_event_t *e) {
        const char *tag = (const char *) e->data.scalar.tag;
        const char *v = (const char *) e->data.scalar.value;

        if (tag)
                return streq(tag, YAML_NULL_TAG);
        if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        return STR_IN_SET(v, "", "~", "null", "Null", "NULL");
}

static int read_node(Parser *p, yaml_event_t *e, unsigned depth, Node **ret);

static int read_children(Parser *p, Node *n, unsigned depth) {
        g_autoptr(GHashTable) keys = NULL;
        yaml_event_type_t end = n->type == NODE_MAPPING ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
        int r;

        if (n->type == NODE_MAPPING)
                keys = g_hash_table_new(g_str_hash, g_str_equal);

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};
                _cleanup_(node_freep) Node *child = NULL;
                bool is_key;

                r = parser_next(p, &e);
                if (r < 0)
                        return r;
                if (e.type == end)
                        return 0;

                r = read_node(p, &e, depth, &child);
                if (r < 0)
                        return r;

                /* Keys sit at even positions in a mapping's children. */
                is_key = keys && n->children->len % 2 == 0;
                if (is_key) {
                        g_autofree char *q = NULL;

                        if (child->type != NODE_SCALAR)
                                return parser_error_at(p, -EBADMSG, &child->mark, "mapping keys must be strings, not %s",
                                                       node_type_name(child));
                        if (!g_hash_table_add(keys, child->value)) {
                                q = quote(child->value);
                                return parser_error_at(p, -EBADMSG, &child->mark, "duplicate key '%s'", q);
                        }
                }
                g_ptr_array_add(n->children, TAKE_PTR(child));
        }
}

static int read_node(Parser *p, yaml_event_t *e, unsigned depth, Node **ret) {
        _cleanup_(node_freep) Node *n = NULL;
        const char *tag;
        int r;

        if (e->type == YAML_ALIAS_EVENT)
                return parser_error_at(p, -ELOOP, &e->start_mark, "aliases are not supported");
        if (!IN_SET(e->type, YAML_SCALAR_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT))
                return parser_error_at(p, -EBADMSG, &e->start_mark, "unexpected YAML event");

        if (++p->n_nodes > RECIPE_NODES_MAX)
                return parser_error_at(p, -E2BIG, &e->start_mark, "too many nodes (maximum %u)", RECIPE_NODES_MAX);

        n = g_new0(Node, 1);
        n->mark = e->start_mark;

        if (e->type == YAML_SCALAR_EVENT) {
                const char *v = (const char *) e->data.scalar.value;
                size_t len = e->data.scalar.length;

                n->type = NODE_SCALAR;
                tag = (const char *) e->data.scalar.tag;
                if (memchr(v, 0, len))
                        return parser_error_at(p, -EBADMSG, &n->mark, "strings must not contain NUL bytes");
                if (!g_utf8_validate(v, (gssize) len, NULL))
                        return parser_error_at(p, -EBADMSG, &n->mark, "invalid UTF-8");
                n->value = g_strndup(v, len);
                n->null = scalar_is_null(e);
        } else {
                n->type = e->type == YAML_MAPPING_START_EVENT ? NODE_MAPPING : NODE_SEQUENCE;
                tag = (const char *) (n->type == NODE_MAPPING ? e->data.mapping_start.tag : e->data.sequence_start.tag);
                /* Refuse here, before pulling another event: libyaml's cost grows with nesting. */
                if (depth + 1 > RECIPE_DEPTH_MAX)
                        return parser_error_at(p, -ELOOP, &n->mark, "nesting too deep (maximum %u)", RECIPE_DEPTH_MAX);
        }

        if (!tag_is_allowed(tag, n->type)) {
                g_autofree char *q = quote(tag);
                return parser_error_at(p, -EBADMSG, &n->mark, "unsupported tag '%s'", q);
        }

        if (n->type != NODE_SCALAR) {
                n->children = g_ptr_array_new_with_free_func(node_free_void);
                r = read_children(p, n, depth + 1);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(n);
        return 0;
}

/* Reads exactly one document whose root is a mapping. */
static int read_document(Parser *p, Node **ret) {
        _cleanup_(node_freep) Node *root = NULL;
        bool started = false;
        int r;

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t e = {};

                r = parser_next(p, &e);
                if (r < 0)
                        return r;

                switch (e.type) {
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (started)
                                return parser_error_at(p, -EBADMSG, &e.start_mark, "only one YAML document is allowed");
                        started = true;
                        break;
                case YAML_STREAM_END_EVENT:
                        if (!root)
                                return parser_error_at(p, -EBADMSG, &e.start_mark, "file is empty, expected a mapping");
                        *ret = TAKE_PTR(root);
                        return 0;
                default:
                        if (root)
                                return parser_error_at(p, -EBADMSG, &e.start_mark, "unexpected YAML event");
                        if (e.type != YAML_MAPPING_START_EVENT)
                                return parser_error_at(p, -EBADMSG, &e.start_mark, "expected a mapping at the top level");
                        r = read_node(p, &e, 0, &root);
                        if (r < 0)
                                return r;
                }
        }
}

static int expect_string(Parser *p, const char *key, const Node *v) {
        if (v->type != NODE_SCALAR || v->null)
                return parser_error_at(p, -EBADMSG, &v->mark, "%s must be a string, not %s", key, node_type_name(v));
        return 0;
}

static int parse_base(Parser *p, const Node *v, char **ret) {
        g_autofree char *q = NULL;
        int r;

        r = expect_string(p, "Base", v);
        if (r < 0)
                return r;
        if (!name_is_valid(v->value)) {
                q = quote(v->value);
                return parser_error_at(p, -EBADMSG, &v->mark, "invalid Base name '%s'", q);
        }
        *ret = g_strdup(v->value);
        return 0;
}

static int parse_command(Parser *p, const Node *v, char ***ret) {
        g_auto(GStrv) argv = NULL;

        if (v->type == NODE_SCALAR && !v->null) {
                g_autoptr(GError) e = NULL;

                if (!g_shell_parse_argv(v->value, NULL, &argv, &e)) {
                        if (g_error_matches(e, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING))
                                return parser_error_at(p, -EBADMSG, &v->mark, "Command is empty");
                        /* not e->message: it quotes the whole command, newlines and all */
                        return parser_error_at(p, -EBADMSG, &v->mark, "cannot split Command into words: %s",
                                               g_error_matches(e, G_SHELL_ERROR, G_SHELL_ERROR_BAD_QUOTING) ?
                                               "unmatched quote or trailing backslash" : "invalid shell syntax");
                }
        } else if (v->type == NODE_SEQUENCE) {
                g_autoptr(GStrvBuilder) b = g_strv_builder_new();

                for (guint i = 0; i < v->children->len; i++) {
                        const Node *item = g_ptr_array_index(v->children, i);

                        if (item->type != NODE_SCALAR || item->null)
                                return parser_error_at(p, -EBADMSG, &item->mark,
                                                       "Command list items must be strings, not %s", node_type_name(item));
                        g_strv_builder_add(b, item->value);
                }
                argv = g_strv_builder_end(b);
        } else
                return parser_error_at(p, -EBADMSG, &v->mark, "Command must be a string or a list of strings, not %s",
                                       node_type_name(v));

        if (!argv || !argv[0])
                return parser_error_at(p, -EBADMSG, &v->mark, "Command is empty");
        if (isempty(argv[0]))
                return parser_error_at(p, -EBADMSG, &v->mark, "Command's program name is empty");

        *ret = TAKE_PTR(argv);
        return 0;
}

static int parse_environment(Parser *p, const Node *v, char ***ret) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        if (v->type == NODE_SCALAR && v->null) {
                /* "Environment:" with nothing under it */
                *ret = g_new0(char *, 1);
                return 0;
        }
        if (v->type != NODE_MAPPING)
                return parser_error_at(p, -EBADMSG, &v->mark, "Environment must be a mapping, not %s", node_type_name(v));

        for (guint i = 0; i + 1 < v->children->len; i += 2) {
                const Node *k = g_ptr_array_index(v->children, i), *val = g_ptr_array_index(v->children, i + 1);
                g_autofree char *assignment = NULL, *q = NULL;

                if (!env_name_is_valid(k->value)) {
                        q = quote(k->value);
                        return parser_error_at(p, -EBADMSG, &k->mark, "invalid environment variable name '%s'", q);
                }
                if (val->type != NODE_SCALAR) {
                        q = quote(k->value);
                        return parser_error_at(p, -EBADMSG, &val->mark, "value of environment variable '%s' must be a scalar, not %s",
                                               q, node_type_name(val));
                }
                assignment = g_strconcat(k->value, "=", val->null ? "" : val->value, NULL);
                if (!env_assignment_is_valid(assignment)) {
                        q = quote(k->value);
                        return parser_error_at(p, -EBADMSG, &val->mark, "invalid value for environment variable '%s'", q);
                }
                g_strv_builder_add(b, assignment);
        }

        *ret = g_strv_builder_end(b);
        return 0;
}

static int parse_working_directory(Parser *p, const Node *v, char **ret) {
        g_autofree char *q = NULL;
        int r;

        r = expect_string(p, "WorkingDirectory", v);
        if (r < 0)
                return r;

        q = quote(v->value);
        for (const char *c = v->value; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return parser_error_at(p, -EBADMSG, &v->mark, "WorkingDirectory must not contain control characters: '%s'", q);
        if (v->value[0] != '/')
                return parser_error_at(p, -EBADMSG, &v->mark, "WorkingDirectory must be an absolute path: '%s'", q);
        if (strlen(v->value) >= PATH_MAX)
                return parser_error_at(p, -EBADMSG, &v->mark, "WorkingDirectory is too long");
        if (path_has_dotdot(v->value))
                return parser_error_at(p, -EBADMSG, &v->mark, "WorkingDirectory must not contain '..': '%s'", q);

        *ret = g_strdup(v->value);
        return 0;
}

static int recipe_from_tree(Parser *p, const Node *root, Recipe **ret) {
        _cleanup_(recipe_freep) Recipe *recipe = g_new0(Recipe, 1);
        int r;

        for (guint i = 0; i + 1 < root->children->len; i += 2) {
                const Node *k = g_ptr_array_index(root->children, i), *v = g_ptr_array_index(root->children, i + 1);

                /* Duplicates were refused while reading, so each field is set at most once. */
                if (streq(k->value, "Base"))
                        r = parse_base(p, v, &recipe->base);
                else if (streq(k->value, "Command"))
                        r = parse_command(p, v, &recipe->command);
                else if (streq(k->value, "Environment"))
                        r = parse_environment(p, v, &recipe->environment);
                else if (streq(k->value, "WorkingDirectory"))
                        r = parse_working_directory(p, v, &recipe->working_directory);
                else {
                        g_autofree char *q = quote(k->value);
                        r = parser_error_at(p, -EBADMSG, &k->mark, "unknown key '%s'", q);
                }
                if (r < 0)
                        return r;
        }

        if (!recipe->base)
                return parser_error_at(p, -EBADMSG, &root->mark, "missing required key 'Base'");
        if (!recipe->command)
                return parser_error_at(p, -EBADMSG, &root->mark, "missing required key 'Command'");
        if (!recipe->environment)
                recipe->environment = g_new0(char *, 1);
        if (!recipe->working_directory)
                recipe->working_directory = g_strdup(RECIPE_WORKING_DIRECTORY_DEFAULT);

        *ret = TAKE_PTR(recipe);
        return 0;
}

int recipe_parse(const char *data, size_t size, const char *filename, Recipe **ret, char **ret_error) {
        _cleanup_(parser_done) Parser p = {
                .filename = filename ?: "Run.yaml",
                .data = data ?: "",
                .size = data ? size : 0,
        };
        _cleanup_(node_freep) Node *root = NULL;
        int r;

        if (p.size > RECIPE_SIZE_MAX)
                r = parser_error_at(&p, -EFBIG, NULL, "file too large (%zu bytes, maximum %u)", p.size, RECIPE_SIZE_MAX);
        else if (!yaml_parser_initialize(&p.yaml))
                r = parser_error_at(&p, -ENOMEM, NULL, "out of memory");
        else {
                p.yaml_initialized = true;
                yaml_parser_set_input_string(&p.yaml, (const unsigned char *) p.data, p.size);
                /* No BOM sniffing into UTF-16: the file is UTF-8 or invalid. */
                yaml_parser_set_encoding(&p.yaml, YAML_UTF8_ENCODING);

                r = read_document(&p, &root);
                if (r >= 0)
                        r = recipe_from_tree(&p, root, ret);
        }

        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(p.error);
        return r;
}

/* Fallback for kernels (or seccomp sandboxes) without openat2(): one component at a time,
 * never following a symlink. */
static int open_beneath_walk(int dir_fd, const char *relpath) {
        g_auto(GStrv) parts = g_strsplit(relpath, "/", -1);
        _cleanup_close_ int cur = -1;
        char **last = NULL;
        int fd;

        for (char **c = parts; *c; c++)
                if (!isempty(*c) && !streq(*c, "."))
                        last = c;
        if (!last)
                return -EISDIR; /* names dir_fd itself */

        for (char **c = parts; c != last; c++) {
                struct stat st;

                if (isempty(*c) || streq(*c, "."))
                        continue;
                /* O_PATH|O_NOFOLLOW opens a symlink itself, which fstat() then reveals */
                fd = openat(cur >= 0 ? cur : dir_fd, *c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                closep(&cur);
                cur = fd;
                if (fstat(cur, &st) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode))
                        return -ELOOP;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }

        fd = openat(cur >= 0 ? cur : dir_fd, *last, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fd;
}

int recipe_open_beneath(int dir_fd, const char *relpath, bool try_openat2) {
        if (isempty(relpath))
                return -EINVAL;
        /* RESOLVE_BENEATH alone would allow "a/../b"; refuse any ".." outright. */
        if (relpath[0] == '/' || path_has_dotdot(relpath))
                return -EXDEV;

#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
        if (try_openat2) {
                struct open_how how = {
                        .flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                };
                long fd = syscall(SYS_openat2, dir_fd, relpath, &how, sizeof(how));

                if (fd >= 0)
                        return (int) fd;
                /* ENOSYS: kernel < 5.6; EPERM: seccomp filters that predate openat2() */
                if (!IN_SET(errno, ENOSYS, EPERM))
                        return -errno;
        }
#endif
        return open_beneath_walk(dir_fd, relpath);
}

static const char *load_error_message(int r) {
        switch (r) {
        case -EXDEV:
                return "path must be relative and stay inside the source directory";
        case -ELOOP:
                return "path must not contain symbolic links";
        case -EISDIR:
                return "is a directory";
        case -EBADFD:
                return "not a regular file";
        default:
                return g_strerror(-r);
        }
}

int recipe_load(int dir_fd, const char *relpath, Recipe **ret, char **ret_error) {
        _cleanup_close_ int fd = -1;
        g_autofree char *buf = NULL, *q = NULL;
        struct stat st;
        size_t n = 0;
        int r;

        fd = recipe_open_beneath(dir_fd, relpath, true);
        if (fd < 0) {
                r = fd;
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EBADFD;
                goto fail;
        }
        if (st.st_size > (off_t) RECIPE_SIZE_MAX) {
                r = -EFBIG;
                goto fail;
        }

        /* One byte more than the cap, in case the file grew since fstat(). */
        buf = g_malloc(RECIPE_SIZE_MAX + 1);
        while (n < RECIPE_SIZE_MAX + 1) {
                ssize_t k = read(fd, buf + n, RECIPE_SIZE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > RECIPE_SIZE_MAX) {
                r = -EFBIG;
                goto fail;
        }

        return recipe_parse(buf, n, relpath, ret, ret_error);

fail:
        if (ret_error) {
                q = quote(relpath ?: "");
                if (r == -EFBIG)
                        *ret_error = g_strdup_printf("%s: file too large (maximum %u bytes)", q, RECIPE_SIZE_MAX);
                else
                        *ret_error = g_strdup_printf("%s: %s", q, load_error_message(r));
        }
        return r;
}
