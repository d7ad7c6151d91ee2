/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Tables for list-like output, after systemd's format-table: typed cells, columns aligned to
 * their widest cell, an underlined header and a summary line unless --no-legend, colour on a
 * terminal; with --json the same rows as an array of objects keyed by the lower-cased column
 * names, each value with its type (numbers stay numbers, timestamps are usec). */

#include <stdbool.h>
#include <stdint.h>

typedef enum CellType {
        CELL_STRING,
        CELL_STATE,             /* a string shown in its state's colour */
        CELL_UINT,
        CELL_INT,
        CELL_BOOL,
        CELL_TIMESTAMP,         /* usec realtime; text: a date, 0: "-" */
        CELL_TIMESPAN,          /* usec; text: "3min 2s", 0: "-" */
        CELL_BYTES,             /* text: "1.2M" */
        CELL_STRV,              /* text: joined by ", " */
} CellType;

typedef struct Table Table;

Table *table_new(const char *first_column, ...);   /* column names, NULL-terminated */
void table_free(Table *t);
static inline void table_freep(Table **t) { if (*t) table_free(*t); }
#define _cleanup_table_ __attribute__((cleanup(table_freep)))

/* Appends one cell to the current row (rows fill left to right). */
int table_add_string(Table *t, CellType type, const char *s);
int table_add_uint(Table *t, CellType type, uint64_t u);
int table_add_int(Table *t, int64_t i);
int table_add_bool(Table *t, bool b);
int table_add_strv(Table *t, char **l);
/* Right-align a column (numbers). */
void table_set_align_right(Table *t, unsigned column);
size_t table_rows(Table *t);
/* Sorts the rows by a column's text. */
void table_sort(Table *t, unsigned column);
/* Prints it (text or JSON, after arg_json); with noun ("container"), a summary after it:
 * "1 container listed.", "3 containers listed." */
int table_print(Table *t, const char *noun);
