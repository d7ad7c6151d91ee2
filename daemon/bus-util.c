/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include "bus-util.h"
#include "errors.h"
#include "util.h"

int bus_check_name(const char *kind, const char *name, sd_bus_error *error) {
        if (name_is_valid(name))
                return 0;
        return sd_bus_error_setf(error, CM_ERROR_INVALID_NAME,
                                 "Invalid %s name '%s': use 1-%d letters, digits, '-', '_' or '.', "
                                 "starting with a letter or digit", kind, name, NAME_MAX_LEN);
}

/* For a name a container is about to get (Create, Rename, ImportContainer): no dots. */
int bus_check_new_container_name(const char *name, sd_bus_error *error) {
        int r;

        r = bus_check_name("container", name, error);
        if (r < 0)
                return r;
        if (container_name_is_new_valid(name))
                return 0;
        return sd_bus_error_setf(error, CM_ERROR_INVALID_NAME,
                                 "Invalid container name '%s': new container names may not contain '.' "
                                 "(it would shadow DNS names); use letters, digits, '-' or '_'", name);
}

bool bus_sender_is_root(sd_bus_message *msg) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;

        return sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds) >= 0 &&
               sd_bus_creds_get_euid(creds, &uid) >= 0 && uid == 0;
}

int bus_find_by_name(const char *path, const char *prefix, GHashTable *table, void **found) {
        g_autofree char *name = NULL;
        void *object;
        int r;

        r = sd_bus_path_decode(path, prefix, &name);
        if (r <= 0)
                return r;
        object = g_hash_table_lookup(table, name);
        if (!object)
                return 0;
        *found = object;
        return 1;
}

int bus_enumerate_names(const char *prefix, GHashTable *table, char ***nodes) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        GHashTableIter it;
        const char *name;

        g_hash_table_iter_init(&it, table);
        while (g_hash_table_iter_next(&it, (void **) &name, NULL)) {
                g_autofree char *p = NULL;
                if (sd_bus_path_encode(prefix, name, &p) >= 0)
                        g_strv_builder_add(b, p);
        }
        /* sd-bus frees the array with free(): GLib uses the system allocator. */
        *nodes = g_strv_builder_end(b);
        return 1;
}

int bus_check_fd(int fd, bool write, const char *what, sd_bus_error *error) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot use the %s%sdescriptor: %m", what ?: "", what ? " " : "");
        if ((flags & O_PATH) || (flags & O_ACCMODE) == (write ? O_RDONLY : O_WRONLY))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The %s%sdescriptor is not open for %s",
                                         what ?: "", what ? " " : "", write ? "writing" : "reading");
        return 0;
}
