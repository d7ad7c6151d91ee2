/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Limits the parser enforces itself: libyaml has none, and its parse time grows
 * quadratically with nesting. A real Run.yaml is a few hundred bytes, 2 levels deep. */
#define RECIPE_SIZE_MAX (64U * 1024U)  /* bytes; -EFBIG */
#define RECIPE_DEPTH_MAX 16U           /* nested mappings/sequences; -ELOOP */
#define RECIPE_ALIASES_MAX 0U          /* Run.yaml needs no aliases; -ELOOP */
#define RECIPE_NODES_MAX 4096U         /* scalars + mappings + sequences; -E2BIG */

#define RECIPE_WORKING_DIRECTORY_DEFAULT "/app"

typedef struct Recipe {
        char *base;
        char **command;          /* argv, never empty */
        char **environment;      /* "K=V", in file order, never NULL */
        char *working_directory; /* absolute; default "/app" */
} Recipe;

Recipe *recipe_free(Recipe *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Recipe *, recipe_free);

/* Parses a Run.yaml held in memory (need not be NUL-terminated). On failure returns
 * -EBADMSG, or -EFBIG/-ELOOP/-E2BIG for the caps above, and sets *ret_error (if not
 * NULL; g_free) to "filename:line:col: message" (1-based), or "filename: message" when
 * no position applies (file too large). ret and ret_error are untouched on success/failure
 * respectively. */
int recipe_parse(const char *data, size_t size, const char *filename, Recipe **ret, char **ret_error);

/* Opens relpath strictly beneath dir_fd, then reads and parses it. Refuses absolute paths
 * and ".." components (-EXDEV), symlinks at any component (-ELOOP), directories (-EISDIR)
 * and other non-regular files (-EBADFD), and files larger than RECIPE_SIZE_MAX (-EFBIG)
 * before reading them. *ret_error is set on every failure. */
int recipe_load(int dir_fd, const char *relpath, Recipe **ret, char **ret_error);

/* The open step of recipe_load(), exported so the tests can exercise both the openat2()
 * path and the component-by-component fallback used where openat2() is unavailable.
 * Returns an O_RDONLY|O_CLOEXEC fd or a negative errno. */
int recipe_open_beneath(int dir_fd, const char *relpath, bool try_openat2);
