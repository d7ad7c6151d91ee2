/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>

/* Cleanup helpers in the style of systemd's, built on public headers only. */
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _ptr_ = (p);       \
                (p) = NULL;                      \
                _ptr_;                           \
        })

#define TAKE_FD(fd)                              \
        ({                                       \
                int _fd_ = (fd);                 \
                (fd) = -1;                       \
                _fd_;                            \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)            \
        static inline void func##p(type *p) {              \
                if (*p)                                    \
                        func(*p);                          \
        }

/* An assert that keeps its side effects under NDEBUG. */
#define assert_se(expr)                                                         \
        do {                                                                    \
                if (!(expr))                                                    \
                        abort();                                                \
        } while (0)

#define FOREACH_STRING(x, ...)                                                  \
        for (const char *const *_l_ = (const char *const[]) { __VA_ARGS__, NULL }, *x; (x = *_l_); _l_++)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)

#define IN_SET(x, ...)                                                          \
        ({                                                                      \
                bool _found = false;                                            \
                const __typeof__(x) _v = (x);                                   \
                const __typeof__(x) _a[] = { __VA_ARGS__ };                     \
                for (size_t _i = 0; _i < ELEMENTSOF(_a); _i++)                  \
                        if (_a[_i] == _v) {                                     \
                                _found = true;                                  \
                                break;                                          \
                        }                                                       \
                _found;                                                         \
        })

#define STR_IN_SET(x, ...) g_strv_contains((const char *const[]) { __VA_ARGS__, NULL }, (x))

#define SWAP_FREE(p, v)                          \
        do {                                     \
                char *_new_ = (v);               \
                g_free(p);                       \
                (p) = _new_;                     \
        } while (0)

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline void strv_freep(char ***p) {
        g_strfreev(*p);
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)

static inline bool isempty(const char *s) {
        return !s || !*s;
}

/* String tables per enum, with lookup both ways. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                  \
        const char *name##_to_string(type i) {                                  \
                if (i < 0 || (size_t) i >= ELEMENTSOF(name##_table))             \
                        return NULL;                                            \
                return name##_table[i];                                         \
        }                                                                       \
        type name##_from_string(const char *s) {                                \
                if (!s)                                                         \
                        return (type) -EINVAL;                                  \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)          \
                        if (name##_table[i] && streq(name##_table[i], s))       \
                                return (type) i;                                \
                return (type) -EINVAL;                                          \
        }

uint64_t now_usec(int clock);

#define NAME_MAX_LEN 64
bool name_is_valid(const char *name);
bool container_name_is_new_valid(const char *name);
bool env_name_is_valid(const char *s);
bool env_assignment_is_valid(const char *s);
/* Text from an image, an archive, a state file or a caller that may reach LXC's configuration, a
 * unit property or a generated file: valid UTF-8, no control character (a tab only where
 * allow_tab), at most max bytes. Nothing that can start a line of its own. */
#define TEXT_VALUE_MAX (128U * 1024U)
bool text_is_safe(const char *s, size_t max, bool allow_tab);
/* A copy of untrusted text fit for a message or a log line: valid UTF-8, each control character
 * replaced with '?', cut at max bytes with "...". */
char *text_make_safe(const char *s, size_t max);
/* A path inside a container (a working directory): absolute, no "..", safe text, at most PATH_MAX. */
bool container_path_is_valid(const char *p);
/* Whether any '/'-separated component of path is "..". */
bool path_has_dotdot(const char *path);
/* write() all of buf, retrying on EINTR and short writes. */
int loop_write(int fd, const void *buf, size_t size);

/* Merges "K=V" lists: a later K replaces an earlier one, at the earlier one's place. */
char **env_merge(char **const *lists, size_t n);

/* The configuration file at path into *ret: 1 when read, 0 when there is none (*ret empty), -EINVAL
 * with "PATH: why" in *ret_message when it cannot be read or parsed. */
int key_file_load_optional(const char *path, GKeyFile **ret, char **ret_message);

int rename_process(const char *name);
int mkdir_p(const char *path, mode_t mode);
int rm_rf(const char *path);
char *unit_name_escape_component(const char *s);
char *container_unit_name(const char *container_name);

/* The names in the directory dir_fd ("." and ".." left out), sorted. */
int dir_list_sorted(int dir_fd, GPtrArray **ret);
