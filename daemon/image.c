/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

#include "container.h"
#include "log.h"
#include "image.h"
#include "store.h"

Image *image_free(Image *i) {
        if (!i)
                return NULL;
        g_free(i->name);
        g_free(i->description);
        g_free(i->base);
        g_free(i->url);
        g_free(i->commit);
        g_free(i->busybox);
        g_free(i->extends);
        g_strfreev(i->symlinks);
        g_strfreev(i->requires);
        g_free(i->rootfs);
        g_free(i->layer);
        g_strfreev(i->layers);
        g_free(i->parent);
        g_free(i->provenance);
        g_free(i->branch);
        g_free(i->subdir);
        g_free(i->run_digest);
        g_strfreev(i->mounts);
        g_strfreev(i->command);
        g_strfreev(i->environment);
        g_free(i->working_directory);
        g_free(i);
        return NULL;
}

char *image_object_path(const Image *i) {
        char *p = NULL;

        if (sd_bus_path_encode("/org/containers/Manager/image", i->name, &p) < 0)
                return NULL;
        return p;
}

static char **json_strv(JsonObject *o, const char *key, GError **error) {
        JsonArray *a;
        g_autoptr(GStrvBuilder) b = NULL;

        if (!json_object_has_member(o, key))
                return NULL;
        a = json_object_get_array_member(o, key);
        if (!a) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' must be a list of strings", key);
                return NULL;
        }
        b = g_strv_builder_new();
        for (guint k = 0; k < json_array_get_length(a); k++) {
                const char *s = json_node_get_string(json_array_get_element(a, k));
                if (!s) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' must be a list of strings", key);
                        return NULL;
                }
                g_strv_builder_add(b, s);
        }
        return g_strv_builder_end(b) ? : NULL;
}

int image_load_base(Manager *m, const char *path, Image **ret, GError **error) {
        static const char *const known[] = {
                "Name", "Description", "Extends", "Busybox", "Symlinks", "Requires", "Mounts", "Environment",
                "WorkingDirectory", NULL,
        };
        g_autoptr(JsonParser) parser = json_parser_new();
        _cleanup_(image_freep) Image *i = NULL;
        JsonObject *o;
        GError *e = NULL;

        if (!json_parser_load_from_file(parser, path, error))
                return -EINVAL;
        if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a JSON object", path);
                return -EINVAL;
        }
        o = json_node_get_object(json_parser_get_root(parser));

        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next)
                if (!g_strv_contains(known, l->data)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: unknown key '%s'", path, (char *) l->data);
                        return -EINVAL;
                }

        i = g_new0(Image, 1);
        i->manager = m;
        i->is_base = true;
        i->name = g_strdup(json_object_get_string_member_with_default(o, "Name", NULL));
        if (!name_is_valid(i->name)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: missing or invalid Name", path);
                return -EINVAL;
        }
        i->description = g_strdup(json_object_get_string_member_with_default(o, "Description", ""));
        i->busybox = g_strdup(json_object_get_string_member_with_default(o, "Busybox", NULL));
        i->extends = g_strdup(json_object_get_string_member_with_default(o, "Extends", NULL));
        i->working_directory = g_strdup(json_object_get_string_member_with_default(o, "WorkingDirectory", "/"));

        i->symlinks = json_strv(o, "Symlinks", &e);
        if (!e)
                i->requires = json_strv(o, "Requires", &e);
        if (!e)
                i->mounts = json_strv(o, "Mounts", &e);
        if (!e)
                i->environment = json_strv(o, "Environment", &e);
        if (e) {
                g_propagate_prefixed_error(error, e, "%s: ", path);
                return -EINVAL;
        }

        i->rootfs = g_build_filename(m->state_dir, "bases", i->name, "rootfs", NULL);
        *ret = TAKE_PTR(i);
        return 0;
}

int manager_load_bases(Manager *m) {
        g_autoptr(GDir) d = NULL;
        const char *fn;

        d = g_dir_open(m->bases_dir, 0, NULL);
        if (!d)
                return -errno ?: -ENOENT;

        while ((fn = g_dir_read_name(d))) {
                g_autofree char *path = NULL;
                g_autoptr(GError) e = NULL;
                Image *i = NULL;

                if (!g_str_has_suffix(fn, ".json"))
                        continue;
                path = g_build_filename(m->bases_dir, fn, NULL);
                if (image_load_base(m, path, &i, &e) < 0) {
                        log_warning("Ignoring base definition: %s", e ? e->message : path);
                        continue;
                }
                if (g_hash_table_contains(m->images, i->name)) {
                        log_warning("Ignoring duplicate base '%s' in %s", i->name, path);
                        image_free(i);
                        continue;
                }
                g_hash_table_insert(m->images, i->name, i);
        }
        return manager_resolve_base_extends(m);
}

static char **strv_concat(char **a, char **b) {
        GStrvBuilder *sb = g_strv_builder_new();
        char **r;

        if (a)
                g_strv_builder_addv(sb, (const char **) a);
        if (b)
                g_strv_builder_addv(sb, (const char **) b);
        r = g_strv_builder_end(sb);
        g_strv_builder_unref(sb);
        return r;
}

/* A base that extends another gets the other's definitions first, then its own (so its
 * environment wins). One level only: a base extends a base that extends nothing. */
int manager_resolve_base_extends(Manager *m) {
        g_autoptr(GPtrArray) bad = g_ptr_array_new();
        GHashTableIter it;
        Image *i;

        g_hash_table_iter_init(&it, m->images);
        while (g_hash_table_iter_next(&it, NULL, (void **) &i)) {
                Image *p;

                if (!i->is_base || !i->extends)
                        continue;
                p = manager_get_image(m, i->extends);
                if (!p || !p->is_base || p->extends || p == i) {
                        log_warning("Ignoring base %s: it extends '%s', which is not a plain base", i->name, i->extends);
                        g_ptr_array_add(bad, i->name);
                        continue;
                }
#define MERGE(field) do { char **merged = strv_concat(p->field, i->field); g_strfreev(i->field); i->field = merged; } while (0)
                MERGE(symlinks);
                MERGE(requires);
                MERGE(mounts);
#undef MERGE
                {
                        /* One PATH, not the parent's and then ours. */
                        char **merged = env_merge((char **const[]) { p->environment, i->environment }, 2);
                        g_strfreev(i->environment);
                        i->environment = merged;
                }
                if (!i->busybox)
                        i->busybox = g_strdup(p->busybox);
                g_clear_pointer(&i->extends, g_free);
        }
        for (guint k = 0; k < bad->len; k++)
                g_hash_table_remove(m->images, bad->pdata[k]);
        return 0;
}

char *manager_image_dir(Manager *m, const char *name) {
        return g_build_filename(m->state_dir, "images", name, NULL);
}

int manager_load_images(Manager *m) {
        g_autofree char *dir = g_build_filename(m->state_dir, "images", NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *fn;

        if (!d)
                return 0;
        while ((fn = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename(dir, fn, NULL);
                Image *i = NULL;
                int r;

                if (fn[0] == '.') {
                        /* A build or removal that was interrupted: never a complete image. */
                        (void) rm_rf(path);
                        continue;
                }
                if (!name_is_valid(fn))
                        continue;
                r = store_load_image(m, path, &i);
                if (r < 0 || !streq(i->name, fn) || g_hash_table_contains(m->images, i->name)) {
                        log_warning("Ignoring image in %s: %s", path, r < 0 ? g_strerror(-r) : "name clash");
                        image_free(i);
                        continue;
                }
                g_hash_table_insert(m->images, i->name, i);
        }
        return 0;
}

Image *image_get_base(Image *i) {
        if (i->is_base)
                return i;
        Image *b = manager_get_image(i->manager, i->base);
        return b && b->is_base ? b : NULL;
}

char **image_lower_layers(Image *i) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        unsigned depth = 0;

        for (Image *x = i; x && !x->is_base; depth++) {
                if (depth > 64) /* a loop of parents, written by hand */
                        return NULL;
                for (char **l = x->layers; l && *l; l++)
                        g_strv_builder_add(b, *l);
                if (!x->layers && x->layer)
                        g_strv_builder_add(b, x->layer);
                if (!x->parent)
                        break;
                x = manager_get_image(i->manager, x->parent);
                if (!x || x->is_base)
                        return NULL;
        }
        return g_strv_builder_end(b);
}

Image *image_child(Image *i) {
        GHashTableIter it;
        Image *x;

        g_hash_table_iter_init(&it, i->manager->images);
        while (g_hash_table_iter_next(&it, NULL, (void **) &x))
                if (streq_ptr(x->parent, i->name))
                        return x;
        return NULL;
}

Container *image_in_use(Image *i) {
        GHashTableIter it;
        Container *c;

        g_hash_table_iter_init(&it, i->manager->containers);
        while (g_hash_table_iter_next(&it, NULL, (void **) &c))
                if (streq(c->image, i->name))
                        return c;
        return NULL;
}

bool image_is_usable(const Image *i) {
        if (!i->is_base) {
                Image *base = image_get_base((Image *) i);
                return base && image_is_usable(base);
        }
        for (char **r = i->requires; r && *r; r++)
                if (access(*r, F_OK) < 0)
                        return false;
        if (i->busybox && access(i->busybox, X_OK) < 0)
                return false;
        return true;
}

static int write_text(const char *root, const char *rel, const char *text) {
        g_autofree char *p = g_build_filename(root, rel, NULL);
        return store_write_file_atomic(p, text, strlen(text), 0644);
}

/* The skeleton every base shares: mount points and a minimal /etc. */
static int assemble_skeleton(const char *root) {
        static const char *const dirs[] = { "proc", "sys", "dev", "tmp", "run", "var/tmp", "etc", "root", "usr", NULL };
        int r;

        for (const char *const *d = dirs; *d; d++) {
                g_autofree char *p = g_build_filename(root, *d, NULL);
                r = mkdir_p(p, 0755);
                if (r < 0)
                        return r;
        }
        r = write_text(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        if (r >= 0)
                r = write_text(root, "etc/group", "root:x:0:\nnogroup:x:65534:\n");
        if (r >= 0)
                r = write_text(root, "etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
        return r;
}

static int assemble_busybox(const char *root, const char *busybox) {
        g_autofree char *out = NULL, *bin = NULL, *dst = NULL, *contents = NULL;
        g_auto(GStrv) applets = NULL;
        const char *argv[] = { busybox, "--list-full", NULL };
        gsize size;
        int status, r;

        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status, NULL) ||
            !g_spawn_check_wait_status(status, NULL))
                return -ENOEXEC;

        bin = g_build_filename(root, "bin", NULL);
        r = mkdir_p(bin, 0755);
        if (r < 0)
                return r;
        if (!g_file_get_contents(busybox, &contents, &size, NULL))
                return -EIO;
        dst = g_build_filename(bin, "busybox", NULL);
        r = store_write_file_atomic(dst, contents, size, 0755);
        if (r < 0)
                return r;

        applets = g_strsplit(out, "\n", -1);
        for (char **a = applets; *a; a++) {
                g_autofree char *link = NULL, *dir = NULL;

                if (isempty(*a) || strstr(*a, "..") || (*a)[0] == '/')
                        continue;
                link = g_build_filename(root, *a, NULL);
                if (access(link, F_OK) == 0)
                        continue;
                dir = g_path_get_dirname(link);
                r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
                if (symlink("/bin/busybox", link) < 0)
                        return -errno;
        }
        return 0;
}

/* Assembles into a temporary directory and renames it into place, so an
 * interrupted assembly never leaves a half-made base behind. */
int image_assemble(Image *i) {
        g_autofree char *parent = NULL, *tmp = NULL;
        int r;

        if (!i->is_base) {
                Image *base = image_get_base(i);
                return base ? image_assemble(base) : -ENOENT;
        }
        if (access(i->rootfs, F_OK) == 0)
                return 0;
        if (!image_is_usable(i))
                return -ENOENT;

        parent = g_path_get_dirname(i->rootfs);
        r = mkdir_p(parent, 0755);
        if (r < 0)
                return r;
        tmp = g_strdup_printf("%s/.rootfs-XXXXXX", parent);
        if (!g_mkdtemp_full(tmp, 0755))
                return -errno;

        r = assemble_skeleton(tmp);
        if (r >= 0 && i->busybox)
                r = assemble_busybox(tmp, i->busybox);
        for (char **s = i->symlinks; r >= 0 && s && *s; s++) {
                g_auto(GStrv) kv = g_strsplit(*s, "=", 2);
                g_autofree char *link = NULL;

                if (!kv[0] || !kv[1] || strstr(kv[0], "..")) {
                        r = -EINVAL;
                        break;
                }
                link = g_build_filename(tmp, kv[0], NULL);
                (void) rm_rf(link);
                {
                        g_autofree char *parent_dir = g_path_get_dirname(link);
                        r = mkdir_p(parent_dir, 0755);
                }
                if (r >= 0 && symlink(kv[1], link) < 0)
                        r = -errno;
        }
        if (r >= 0 && rename(tmp, i->rootfs) < 0)
                /* Assembled meanwhile by another process (the start-up worker): that one is as good. */
                r = IN_SET(errno, ENOTEMPTY, EEXIST) && access(i->rootfs, F_OK) == 0 ? 0 : -errno;
        if (r < 0 || access(tmp, F_OK) == 0)
                (void) rm_rf(tmp);
        return r;
}
