/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the Run.yaml parser. Linked with fuzz-standalone.c it is a plain
 * program that runs every file named on the command line (directories: every file in
 * them) through the same checks, so the corpus and the regressions run in `meson test`. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

#include "recipe.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        g_autofree char *error = NULL;
        int r;

        r = recipe_parse((const char *) data, size, "fuzz.yaml", &recipe, &error);
        if (r < 0) {
                CHECK(IN_SET(r, -EBADMSG, -EFBIG, -ELOOP, -E2BIG, -ENOMEM));
                CHECK(!recipe);
                CHECK(error);
                CHECK(g_str_has_prefix(error, "fuzz.yaml:"));
                CHECK(g_utf8_validate(error, -1, NULL));
                return 0;
        }

        /* What the rest of the daemon relies on. */
        CHECK(r == 0);
        CHECK(!error);
        CHECK(recipe);
        CHECK(name_is_valid(recipe->base));
        CHECK(recipe->command && recipe->command[0] && recipe->command[0][0]);
        for (char **s = recipe->command; *s; s++)
                CHECK(g_utf8_validate(*s, -1, NULL));
        CHECK(recipe->environment);
        for (char **s = recipe->environment; *s; s++)
                CHECK(env_assignment_is_valid(*s));
        CHECK(recipe->working_directory && recipe->working_directory[0] == '/');
        CHECK(!strstr(recipe->working_directory, "/../") && !g_str_has_suffix(recipe->working_directory, "/.."));
        return 0;
}
