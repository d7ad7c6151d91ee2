/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* What a fuzz target asserts: a failed CHECK() is a crash libFuzzer keeps as a crasher, and
 * fails the corpus replay in `meson test`. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                \
        do {                                                                    \
                if (!(x)) {                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n",            \
                                __FILE__, __LINE__, #x);                        \
                        abort();                                                \
                }                                                               \
        } while (0)
