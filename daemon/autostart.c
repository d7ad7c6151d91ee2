/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Autostart: container@NAME.service enabled for the containers with autostart, ordered by
 * drop-ins after those of higher autostart_priority (see autostart.h). Like scope.c, it talks
 * to systemd, but to its unit-file API; never with a blocking call. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autostart.h"
#include "container.h"
#include "log.h"
#include "store.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_IFACE "org.freedesktop.systemd1.Manager"

char *autostart_unit_name(const char *container_name) {
        g_autofree char *e = unit_name_escape_component(container_name);
        return g_strdup_printf("container@%s.service", e);
}

typedef struct AutostartCall {
        Manager *manager;
        char **enable;          /* unit names */
        char **disable;
        bool enabled_new;       /* the enable made a link: undo it if the disable fails */
        AutostartCallback cb;
        void *userdata;
} AutostartCall;

static void autostart_call_free(AutostartCall *a) {
        if (!a)
                return;
        g_strfreev(a->enable);
        g_strfreev(a->disable);
        g_free(a);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(AutostartCall *, autostart_call_free);

/* Runs the callback and ends the operation begun with the call. */
static void autostart_call_finish(AutostartCall *a, const sd_bus_error *error) {
        Manager *m = a->manager;

        if (a->cb)
                a->cb(m, error, a->userdata);
        autostart_call_free(a);
        manager_operation_end(m);
}

static int read_changes(sd_bus_message *reply, bool *ret_changed) {
        const char *type, *path, *source;
        bool changed = false;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(sss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(sss)", &type, &path, &source)) > 0)
                changed = true;
        if (r < 0)
                return r;
        *ret_changed = changed;
        return sd_bus_message_exit_container(reply);
}

static int call_unit_files(Manager *m, const char *method, char **units, sd_bus_message_handler_t cb, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        int r;

        if (!m->bus)
                return -ENOTCONN;
        r = sd_bus_message_new_method_call(m->bus, &msg, SD_DEST, SD_PATH, SD_IFACE, method);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(msg, units);
        if (r < 0)
                return r;
        /* Neither runtime nor force: a file in the way is an error, not overwritten. */
        r = sd_bus_message_append(msg, "t", (uint64_t) 0);
        if (r < 0)
                return r;
        return sd_bus_call_async(m->bus, NULL, msg, cb, userdata, 0);
}

static int on_undo_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_warning("Cannot undo the enabling of a container unit: %s", e->message ?: e->name);
        return 0;
}

static void autostart_call_fail(AutostartCall *a, const sd_bus_error *e) {
        if (a->enable && a->disable && a->enabled_new)
                (void) call_unit_files(a->manager, "DisableUnitFilesWithFlags", a->enable, on_undo_reply, NULL);
        autostart_call_finish(a, e);
}

static int on_disable_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AutostartCall *a = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                autostart_call_fail(a, e);
        else
                autostart_call_finish(a, NULL);
        return 0;
}

static void autostart_call_disable(AutostartCall *a) {
        int r;

        r = call_unit_files(a->manager, "DisableUnitFilesWithFlags", a->disable, on_disable_reply, a);
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                (void) sd_bus_error_set_errnof(&e, r, "Cannot ask systemd to disable %s: %m", a->disable[0]);
                autostart_call_fail(a, &e);
        }
}

static int on_enable_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AutostartCall *a = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int carries_install_info;

        if (e) {
                autostart_call_finish(a, e);
                return 0;
        }
        /* (b carries_install_info, a(sss) changes): no change means it was enabled already. */
        if (sd_bus_message_read(reply, "b", &carries_install_info) >= 0)
                (void) read_changes(reply, &a->enabled_new);
        if (a->disable) {
                autostart_call_disable(a);
                return 0;
        }
        autostart_call_finish(a, NULL);
        return 0;
}

static char **unit_strv(const char *container_name) {
        char **v = g_new0(char *, 2);

        v[0] = autostart_unit_name(container_name);
        return v;
}

/* Takes enable and disable (unit names, NULL or not empty). */
static int links_async(Manager *m, char **enable, char **disable, AutostartCallback cb, void *userdata) {
        _cleanup_(autostart_call_freep) AutostartCall *a = g_new0(AutostartCall, 1);
        int r;

        assert(enable || disable);
        a->manager = m;
        a->cb = cb;
        a->userdata = userdata;
        a->enable = enable;
        a->disable = disable;
        if (a->enable)
                r = call_unit_files(m, "EnableUnitFilesWithFlags", a->enable, on_enable_reply, a);
        else
                r = call_unit_files(m, "DisableUnitFilesWithFlags", a->disable, on_disable_reply, a);
        if (r < 0)
                return r; /* the lists go with a */
        manager_operation_begin(m);
        TAKE_PTR(a);
        return 0;
}

int autostart_link_async(Manager *m, const char *enable, const char *disable, AutostartCallback cb, void *userdata) {
        assert(m);
        assert(enable || disable);
        return links_async(m, enable ? unit_strv(enable) : NULL, disable ? unit_strv(disable) : NULL, cb, userdata);
}

/* ---- order drop-ins ------------------------------------------------------------------------ */

typedef struct Peer {
        const char *name;
        int32_t priority;
} Peer;

static gint peer_compare(gconstpointer x, gconstpointer y) {
        const Peer *a = x, *b = y;

        if (a->priority != b->priority)
                return a->priority > b->priority ? -1 : 1;
        return strcmp(a->name, b->name);
}

char *autostart_order_dropin(GHashTable *containers, const char *name, bool autostart, int32_t priority) {
        g_autoptr(GArray) higher = g_array_new(false, false, sizeof(Peer));
        GHashTableIter it;
        Container *c;
        GString *s;

        if (!autostart)
                return NULL;
        g_hash_table_iter_init(&it, containers);
        while (g_hash_table_iter_next(&it, NULL, (void **) &c))
                if (c->policy.autostart && c->policy.autostart_priority > priority && !streq(c->name, name))
                        g_array_append_val(higher, ((Peer) { c->name, c->policy.autostart_priority }));
        if (higher->len == 0)
                return NULL;
        g_array_sort(higher, peer_compare);

        s = g_string_new(NULL);
        g_string_append_printf(s, "# Written by containers-manager: container '%s' has autostart_priority %d;\n"
                                  "# at boot it starts after the autostart containers of higher priority.\n"
                                  "[Unit]\n", name, priority);
        for (guint i = 0; i < higher->len; i++) {
                g_autofree char *unit = autostart_unit_name(g_array_index(higher, Peer, i).name);
                g_string_append_printf(s, "After=%s\n", unit);
        }
        return g_string_free(s, false);
}

/* "container@X" + suffix (".service", ".service.d"), not the template itself. */
static bool is_instance_entry(const char *fn, const char *suffix) {
        return g_str_has_prefix(fn, "container@") && g_str_has_suffix(fn, suffix) &&
                strlen(fn) > strlen("container@") + strlen(suffix);
}

int autostart_write_dropins(Manager *m) {
        g_autoptr(GHashTable) wanted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GDir) d = NULL;
        GHashTableIter it;
        Container *c;
        const char *fn;
        char *dir, *content;
        bool changed = false;
        int r;

        g_hash_table_iter_init(&it, m->containers);
        while (g_hash_table_iter_next(&it, NULL, (void **) &c)) {
                char *text = autostart_order_dropin(m->containers, c->name, c->policy.autostart,
                                                    c->policy.autostart_priority);
                g_autofree char *esc = unit_name_escape_component(c->name);

                if (text)
                        g_hash_table_insert(wanted, g_strdup_printf("container@%s.service.d", esc), text);
        }

        /* Ours that are no longer wanted. */
        d = g_dir_open(m->unit_dir, 0, NULL);
        while (d && (fn = g_dir_read_name(d))) {
                g_autofree char *path = NULL;

                if (!is_instance_entry(fn, ".service.d") || g_hash_table_contains(wanted, fn))
                        continue;
                path = g_build_filename(m->unit_dir, fn, AUTOSTART_DROPIN_NAME, NULL);
                if (unlink(path) < 0) {
                        if (errno != ENOENT)
                                log_warning_errno(-errno, "Cannot remove %s", path);
                        continue;
                }
                changed = true;
                g_autofree char *parent = g_build_filename(m->unit_dir, fn, NULL);
                (void) rmdir(parent); /* only if nothing else is in it */
        }

        g_hash_table_iter_init(&it, wanted);
        while (g_hash_table_iter_next(&it, (void **) &dir, (void **) &content)) {
                g_autofree char *parent = g_build_filename(m->unit_dir, dir, NULL);
                g_autofree char *path = g_build_filename(parent, AUTOSTART_DROPIN_NAME, NULL);
                g_autofree char *old = NULL;

                if (g_file_get_contents(path, &old, NULL, NULL) && streq(old, content))
                        continue;
                r = mkdir_p(parent, 0755);
                if (r >= 0)
                        r = store_write_file_atomic(path, content, strlen(content), 0644);
                if (r < 0) {
                        log_warning_errno(r, "Cannot write %s", path);
                        continue;
                }
                changed = true;
        }
        return changed;
}

typedef struct RefreshCall {
        Manager *manager;
        AutostartCallback cb;
        void *userdata;
} RefreshCall;

static int on_reload_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        RefreshCall *rc = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        Manager *m = rc->manager;

        if (e)
                log_warning("systemd did not reload after a change of container units: %s", e->message ?: e->name);
        if (rc->cb)
                rc->cb(m, NULL, rc->userdata);
        g_free(rc);
        manager_operation_end(m);
        return 0;
}

int autostart_refresh_async(Manager *m, bool force_reload, AutostartCallback cb, void *userdata) {
        RefreshCall *rc;
        int r;

        assert(m);
        r = autostart_write_dropins(m);
        if (r == 0 && !force_reload) {
                if (cb)
                        cb(m, NULL, userdata);
                return 0;
        }
        if (!m->bus)
                return -ENOTCONN;
        rc = g_new(RefreshCall, 1);
        *rc = (RefreshCall) { m, cb, userdata };
        r = sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_IFACE, "Reload", on_reload_reply, rc, NULL);
        if (r < 0) {
                g_free(rc);
                return r;
        }
        manager_operation_begin(m);
        return 0;
}

static void on_forgotten(Manager *m, const sd_bus_error *error, void *userdata) {
        g_autofree char *name = userdata;
        int r;

        if (error)
                log_warning("Cannot disable the autostart unit of removed container %s: %s (done at the next start)",
                            name, error->message ?: error->name);
        r = autostart_refresh_async(m, !error, NULL, NULL);
        if (r < 0)
                log_warning_errno(r, "Cannot ask systemd to reload");
}

void autostart_forget(Manager *m, const char *name) {
        char *n = g_strdup(name);
        int r;

        r = autostart_link_async(m, NULL, name, on_forgotten, n);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask systemd to disable the autostart unit of %s", name);
                g_free(n);
        }
}

/* ---- start-up ------------------------------------------------------------------------------ */

static void on_reconcile_disabled(Manager *m, const sd_bus_error *error, void *userdata) {
        int r;

        if (error)
                log_warning("Cannot disable stale container units: %s", error->message ?: error->name);
        r = autostart_refresh_async(m, true, NULL, NULL);
        if (r < 0)
                log_warning_errno(r, "Cannot ask systemd to reload");
}

static void on_reconcile_enabled(Manager *m, const sd_bus_error *error, void *userdata) {
        char **disable = userdata;
        int r;

        if (error)
                log_warning("Cannot enable the units of autostart containers: %s", error->message ?: error->name);
        if (disable) {
                r = links_async(m, NULL, disable, on_reconcile_disabled, NULL);
                if (r >= 0)
                        return;
                log_warning_errno(r, "Cannot ask systemd to disable stale container units");
        }
        on_reconcile_disabled(m, NULL, NULL);
}

static GPtrArray *strv_array_new(void) {
        return g_ptr_array_new_with_free_func(g_free);
}

static char **strv_array_steal(GPtrArray *a) {
        if (a->len == 0)
                return NULL;
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_steal(a, NULL);
}

int autostart_reconcile(Manager *m) {
        g_autoptr(GHashTable) linked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GHashTable) wanted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GPtrArray) enable = strv_array_new(), disable = strv_array_new();
        g_autofree char *wants_dir = g_build_filename(m->unit_dir, "multi-user.target.wants", NULL);
        g_autoptr(GDir) d = NULL;
        GHashTableIter it;
        Container *c;
        const char *fn;
        char *unit;
        int r;

        assert(m);
        g_hash_table_iter_init(&it, m->containers);
        while (g_hash_table_iter_next(&it, NULL, (void **) &c))
                if (c->policy.autostart)
                        g_hash_table_add(wanted, autostart_unit_name(c->name));

        /* Links of container@ instances in any .wants directory: systemd's, made by an enable. */
        d = g_dir_open(m->unit_dir, 0, NULL);
        while (d && (fn = g_dir_read_name(d))) {
                g_autofree char *dir = NULL;
                g_autoptr(GDir) w = NULL;
                const char *link;

                if (!g_str_has_suffix(fn, ".wants"))
                        continue;
                dir = g_build_filename(m->unit_dir, fn, NULL);
                w = g_dir_open(dir, 0, NULL);
                while (w && (link = g_dir_read_name(w)))
                        if (is_instance_entry(link, ".service")) {
                                if (streq(fn, "multi-user.target.wants"))
                                        g_hash_table_add(linked, g_strdup(link));
                                if (!g_hash_table_contains(wanted, link) &&
                                    !g_ptr_array_find_with_equal_func(disable, link, g_str_equal, NULL))
                                        g_ptr_array_add(disable, g_strdup(link));
                        }
        }
        g_hash_table_iter_init(&it, wanted);
        while (g_hash_table_iter_next(&it, (void **) &unit, NULL))
                if (!g_hash_table_contains(linked, unit))
                        g_ptr_array_add(enable, g_strdup(unit));

        if (enable->len == 0 && disable->len == 0) {
                /* Nothing to ask systemd but maybe a drop-in to write (no Reload otherwise). */
                r = autostart_refresh_async(m, false, NULL, NULL);
                return r;
        }
        for (guint i = 0; i < enable->len; i++)
                log_info("Enabling %s: its container has autostart.", (char *) enable->pdata[i]);
        for (guint i = 0; i < disable->len; i++)
                log_info("Disabling %s: no container of that name has autostart.", (char *) disable->pdata[i]);
        if (enable->len > 0) {
                char **dis = strv_array_steal(disable);

                r = links_async(m, strv_array_steal(enable), NULL, on_reconcile_enabled, dis);
                if (r < 0)
                        g_strfreev(dis);
                return r;
        }
        return links_async(m, NULL, strv_array_steal(disable), on_reconcile_disabled, NULL);
}
