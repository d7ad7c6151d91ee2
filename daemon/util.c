/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

uint64_t now_usec(int clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Container and image names end up in file names, unit names, LXC names and
 * object paths, so keep them to a conservative, portable set. */
bool name_is_valid(const char *name) {
        size_t n;

        if (isempty(name))
                return false;
        n = strlen(name);
        if (n > NAME_MAX_LEN)
                return false;
        if (!g_ascii_isalnum(name[0]))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!g_ascii_isalnum(c) && !strchr("-_.", c))
                        return false;
        }
        return true;
}

/* A container's name is its host name, its machine's name (nss-mymachines resolves it on the
 * host) and the name other containers resolve it by: with a dot it could shadow a DNS name.
 * Names given to new containers have none; containers that already have one keep it. */
bool container_name_is_new_valid(const char *name) {
        return name_is_valid(name) && !strchr(name, '.');
}

bool env_name_is_valid(const char *s) {
        if (isempty(s) || g_ascii_isdigit(s[0]))
                return false;
        for (const char *c = s; *c; c++)
                if (!g_ascii_isalnum(*c) && *c != '_')
                        return false;
        return true;
}

bool env_assignment_is_valid(const char *s) {
        g_autofree char *name = NULL;
        const char *eq;

        if (!s || !g_utf8_validate(s, -1, NULL))
                return false;
        eq = strchr(s, '=');
        if (!eq)
                return false;
        name = g_strndup(s, eq - s);
        if (!env_name_is_valid(name))
                return false;
        /* A value becomes one line of LXC's configuration: a line break would start another. */
        return text_is_safe(eq + 1, TEXT_VALUE_MAX, true);
}

bool text_is_safe(const char *s, size_t max, bool allow_tab) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n > max || !g_utf8_validate(s, n, NULL))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];
                if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f)
                        return false;
        }
        /* C1 controls (U+0080..U+009F) are no line breaks for LXC but are for some terminals. */
        for (const char *u = s; *u; u = g_utf8_next_char(u)) {
                gunichar ch = g_utf8_get_char(u);
                if (ch >= 0x80 && ch <= 0x9f)
                        return false;
        }
        return true;
}

char *text_make_safe(const char *s, size_t max) {
        g_autofree char *valid = g_utf8_make_valid(s ?: "", -1);
        g_autoptr(GString) out = g_string_new(NULL);

        for (const char *u = valid; *u; u = g_utf8_next_char(u)) {
                gunichar ch = g_utf8_get_char(u);
                if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && ch <= 0x9f))
                        g_string_append_c(out, '?');
                else
                        g_string_append_len(out, u, g_utf8_next_char(u) - u);
        }
        if (out->len > max && max >= 3) {
                /* Cut at a character's start, so that it stays UTF-8. */
                const char *end = g_utf8_find_prev_char(out->str, out->str + max - 3 + 1);
                g_string_truncate(out, end ? (gsize) (end - out->str) : 0);
                g_string_append(out, "...");
        }
        return g_string_free(g_steal_pointer(&out), false);
}

bool container_path_is_valid(const char *p) {
        return p && p[0] == '/' && text_is_safe(p, PATH_MAX - 1, false) && !path_has_dotdot(p);
}

int key_file_load_optional(const char *path, GKeyFile **ret, char **ret_message) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) e = NULL;
        bool loaded;

        assert(path);
        assert(ret);

        loaded = g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e);
        if (!loaded && !g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                if (ret_message)
                        *ret_message = g_strdup_printf("%s: %s", path, e->message);
                return -EINVAL;
        }
        *ret = TAKE_PTR(kf);
        return loaded;
}

int mkdir_p(const char *path, mode_t mode) {
        if (g_mkdir_with_parents(path, mode) < 0)
                return -errno;
        return 0;
}

static int rm_rf_one(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftwbuf) {
        if (remove(fpath) < 0 && errno != ENOENT)
                return -1;
        return 0;
}

int rm_rf(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        /* FTW_PHYS: never follow symlinks out of the tree, FTW_MOUNT: stay on one file system. */
        if (nftw(path, rm_rf_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

/* systemd's unit name escaping for one component: '/' -> '-', other specials -> \xNN. */
char *unit_name_escape_component(const char *s) {
        GString *out = g_string_new(NULL);

        for (const char *p = s; *p; p++) {
                char c = *p;
                if (c == '/')
                        g_string_append_c(out, '-');
                else if (g_ascii_isalnum(c) || c == '_' || c == ':' || (c == '.' && p != s))
                        g_string_append_c(out, c);
                else
                        g_string_append_printf(out, "\\x%02x", (unsigned char) c);
        }
        return g_string_free(out, false);
}

char *container_unit_name(const char *container_name) {
        g_autofree char *e = unit_name_escape_component(container_name);
        return g_strdup_printf("container-%s.scope", e);
}

/* What `ps` and Top show for our forked helpers, instead of the daemon's own command line.
 * The same trick as systemd's rename_process(): point the kernel at a new argument area. */
int rename_process(const char *name) {
        size_t l = strlen(name);
        char *p;

        (void) prctl(PR_SET_NAME, name);
        p = mmap(NULL, l + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        memcpy(p, name, l + 1);
        if (prctl(PR_SET_MM, PR_SET_MM_ARG_START, (unsigned long) p, 0, 0) < 0 ||
            prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long) p + l + 1, 0, 0) < 0)
                return -errno;
        return 0;
}

bool path_has_dotdot(const char *path) {
        g_auto(GStrv) parts = g_strsplit(path, "/", -1);

        for (char **c = parts; *c; c++)
                if (streq(*c, ".."))
                        return true;
        return false;
}

int loop_write(int fd, const void *buf, size_t size) {
        const char *p = buf;

        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

char **env_merge(char **const *lists, size_t n) {
        g_autoptr(GHashTable) index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GPtrArray) out = g_ptr_array_new();

        /* Later lists win; each variable keeps the place where it first appeared. */
        for (size_t i = 0; i < n; i++)
                for (char **e = lists[i]; e && *e; e++) {
                        char *key = g_strndup(*e, strcspn(*e, "="));
                        gpointer at;

                        if (g_hash_table_lookup_extended(index, key, NULL, &at)) {
                                out->pdata[GPOINTER_TO_UINT(at)] = *e;
                                g_free(key);
                        } else {
                                g_hash_table_insert(index, key, GUINT_TO_POINTER(out->len));
                                g_ptr_array_add(out, *e);
                        }
                }
        g_ptr_array_add(out, NULL);
        return g_strdupv((char **) out->pdata);
}

static gint name_compare(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int dir_list_sorted(int dir_fd, GPtrArray **ret) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        DIR *d;
        int fd;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        rewinddir(d);
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        int r = -errno;
                        closedir(d);
                        if (r < 0)
                                return r;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                g_ptr_array_add(names, g_strdup(de->d_name));
        }
        g_ptr_array_sort(names, name_compare);
        *ret = g_steal_pointer(&names);
        return 0;
}
