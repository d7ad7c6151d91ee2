/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "containerctl.h"
#include "json.h"
#include "table.h"
#include "terminal.h"

typedef struct Cell {
        CellType type;
        char *text;             /* what a terminal shows */
        uint64_t u;
        int64_t i;
        char **strv;
} Cell;

struct Table {
        char **columns;
        unsigned n_columns;
        bool *right;
        Cell *cells;
        size_t n_cells, allocated;
};

Table *table_new(const char *first_column, ...) {
        Table *t = calloc(1, sizeof(Table));
        va_list ap;

        if (!t)
                return NULL;
        va_start(ap, first_column);
        for (const char *c = first_column; c; c = va_arg(ap, const char *))
                if (strv_push(&t->columns, c) < 0) {
                        va_end(ap);
                        table_free(t);
                        return NULL;
                }
        va_end(ap);
        t->n_columns = (unsigned) strv_length(t->columns);
        t->right = calloc(t->n_columns, sizeof(bool));
        if (!t->right) {
                table_free(t);
                return NULL;
        }
        return t;
}

void table_free(Table *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_cells; i++) {
                free(t->cells[i].text);
                strv_freep(&t->cells[i].strv);
        }
        free(t->cells);
        strv_freep(&t->columns);
        free(t->right);
        free(t);
}

static Cell *table_new_cell(Table *t) {
        if (t->n_cells == t->allocated) {
                size_t n = t->allocated ? t->allocated * 2 : 64;
                Cell *c = realloc(t->cells, n * sizeof(Cell));
                if (!c)
                        return NULL;
                t->cells = c;
                t->allocated = n;
        }
        t->cells[t->n_cells] = (Cell) {};
        return &t->cells[t->n_cells++];
}

int table_add_string(Table *t, CellType type, const char *s) {
        Cell *c = table_new_cell(t);
        if (!c)
                return -ENOMEM;
        c->type = type;
        c->text = strdup(s ?: "");
        return c->text ? 0 : -ENOMEM;
}

int table_add_uint(Table *t, CellType type, uint64_t u) {
        char buf[64];
        Cell *c = table_new_cell(t);

        if (!c)
                return -ENOMEM;
        c->type = type;
        c->u = u;
        switch (type) {
        case CELL_TIMESTAMP:
                format_timestamp(buf, sizeof buf, u);
                break;
        case CELL_TIMESPAN:
                format_timespan(buf, sizeof buf, u);
                break;
        case CELL_BYTES:
                format_bytes(buf, sizeof buf, u);
                break;
        default:
                c->type = CELL_UINT;
                snprintf(buf, sizeof buf, "%" PRIu64, u);
        }
        c->text = strdup(buf);
        return c->text ? 0 : -ENOMEM;
}

int table_add_int(Table *t, int64_t i) {
        char buf[32];
        Cell *c = table_new_cell(t);

        if (!c)
                return -ENOMEM;
        c->type = CELL_INT;
        c->i = i;
        snprintf(buf, sizeof buf, "%" PRIi64, i);
        c->text = strdup(buf);
        return c->text ? 0 : -ENOMEM;
}

int table_add_bool(Table *t, bool b) {
        Cell *c = table_new_cell(t);

        if (!c)
                return -ENOMEM;
        c->type = CELL_BOOL;
        c->u = b;
        c->text = strdup(b ? "yes" : "no");
        return c->text ? 0 : -ENOMEM;
}

int table_add_strv(Table *t, char **l) {
        size_t len = 1;
        Cell *c = table_new_cell(t);

        if (!c)
                return -ENOMEM;
        c->type = CELL_STRV;
        for (char **i = l; i && *i; i++) {
                if (strv_push(&c->strv, *i) < 0)
                        return -ENOMEM;
                len += strlen(*i) + 2;
        }
        c->text = calloc(1, len + 1);
        if (!c->text)
                return -ENOMEM;
        for (char **i = l; i && *i; i++) {
                if (i != l)
                        strcat(c->text, ", ");
                strcat(c->text, *i);
        }
        if (!l || !*l)
                strcpy(c->text, "-");
        return 0;
}

void table_set_align_right(Table *t, unsigned column) {
        if (column < t->n_columns)
                t->right[column] = true;
}

size_t table_rows(Table *t) {
        return t->n_cells / t->n_columns;
}

static unsigned sort_column;

static int row_compare(const void *a, const void *b) {
        const Cell *x = a, *y = b;
        return strcmp(x[sort_column].text, y[sort_column].text);
}

void table_sort(Table *t, unsigned column) {
        sort_column = column;
        qsort(t->cells, table_rows(t), t->n_columns * sizeof(Cell), row_compare);
}

static char *json_key(const char *column) {
        char *k = strdup(column);
        for (char *p = k; p && *p; p++)
                *p = (char) (*p == ' ' ? '_' : tolower((unsigned char) *p));
        return k;
}

static int table_print_json(Table *t) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        size_t rows = table_rows(t);

        json_builder_begin_array(b);
        for (size_t r = 0; r < rows; r++) {
                json_builder_begin_object(b);
                for (unsigned c = 0; c < t->n_columns; c++) {
                        Cell *cell = &t->cells[r * t->n_columns + c];
                        _cleanup_free_ char *k = json_key(t->columns[c]);

                        json_builder_set_member_name(b, k);
                        switch (cell->type) {
                        case CELL_UINT:
                        case CELL_BYTES:
                        case CELL_TIMESPAN:
                        case CELL_TIMESTAMP:
                                json_builder_add_int_value(b, (gint64) cell->u);
                                break;
                        case CELL_INT:
                                json_builder_add_int_value(b, cell->i);
                                break;
                        case CELL_BOOL:
                                json_builder_add_boolean_value(b, cell->u);
                                break;
                        case CELL_STRV:
                                json_builder_begin_array(b);
                                for (char **i = cell->strv; i && *i; i++)
                                        json_builder_add_string_value(b, *i);
                                json_builder_end_array(b);
                                break;
                        default:
                                json_builder_add_string_value(b, cell->text);
                        }
                }
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        return json_print(root);
}

int table_print(Table *t, const char *noun) {
        size_t rows = table_rows(t);
        _cleanup_free_ size_t *width = NULL;

        if (arg_json != JSON_OFF)
                return table_print_json(t);

        width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return log_oom();
        for (unsigned c = 0; c < t->n_columns; c++)
                width[c] = arg_legend ? strlen(t->columns[c]) : 0;
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t l = strlen(t->cells[i].text);
                if (l > width[i % t->n_columns])
                        width[i % t->n_columns] = l;
        }

        if (arg_legend && rows > 0) {
                for (unsigned c = 0; c < t->n_columns; c++) {
                        bool last = c + 1 == t->n_columns;
                        printf("%s%*s%s%s", ansi_underline(),
                               t->right[c] ? (int) width[c] : -(int) (last ? 0 : width[c]),
                               t->columns[c], ansi_normal(), last ? "\n" : " ");
                }
        }
        for (size_t r = 0; r < rows; r++)
                for (unsigned c = 0; c < t->n_columns; c++) {
                        Cell *cell = &t->cells[r * t->n_columns + c];
                        bool last = c + 1 == t->n_columns;
                        const char *on = cell->type == CELL_STATE ? state_color(cell->text) : "";

                        printf("%s%*s%s%s", on,
                               t->right[c] ? (int) width[c] : -(int) (last ? 0 : width[c]),
                               cell->text, *on ? ansi_normal() : "", last ? "\n" : " ");
                }
        if (arg_legend && noun) {
                if (rows > 0)
                        putchar('\n');
                printf("%zu %s%s listed.\n", rows, noun, rows == 1 ? "" : "s");
        }
        return 0;
}
