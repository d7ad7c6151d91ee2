/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The connection (local system bus, or a remote one over SSH with -H) and calls that report
 * their errors the same way everywhere: what failed, the error's text, its name. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "containerctl.h"
#include "terminal.h"

int log_oom(void) {
        fprintf(stderr, "Out of memory.\n");
        return -ENOMEM;
}

int log_error_errno(int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs(ansi_red(), stderr);
        vfprintf(stderr, fmt, ap);
        fputs(ansi_normal(), stderr);
        fputc('\n', stderr);
        va_end(ap);
        return r < 0 ? r : -r;
}

int log_usage(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return -EUSAGE;
}

int bus_connect(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        if (arg_host)
                r = sd_bus_open_system_remote(&bus, arg_host);
        else
                r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus%s%s: %s",
                                       arg_host ? " of " : "", arg_host ?: "", strerror(-r));
        /* Interactive authorization only when someone can answer: a terminal, and not refused. */
        (void) sd_bus_set_allow_interactive_authorization(bus, arg_ask_password && isatty(STDIN_FILENO));
        *ret = bus;
        return 0;
}

int bus_log_error(const sd_bus_error *error, int r, const char *what, ...) {
        va_list ap;
        char *w = NULL;

        va_start(ap, what);
        if (vasprintf(&w, what, ap) < 0)
                w = NULL;
        va_end(ap);
        if (error && sd_bus_error_is_set(error))
                fprintf(stderr, "%s%s: %s (%s)%s\n", ansi_red(), w ?: what, error->message ?: "",
                        error->name, ansi_normal());
        else
                fprintf(stderr, "%s%s: %s%s\n", ansi_red(), w ?: what, strerror(r < 0 ? -r : r), ansi_normal());
        free(w);
        return r < 0 ? r : -EIO;
}

int bus_message_new_call(sd_bus *bus, sd_bus_message **ret, const char *path, const char *iface,
                         const char *member) {
        int r = sd_bus_message_new_method_call(bus, ret, BUS_NAME, path, iface, member);
        if (r < 0)
                return log_error_errno(r, "Failed to create a bus message: %s", strerror(-r));
        return 0;
}

int bus_call_message(sd_bus *bus, sd_bus_message *m, sd_bus_message **reply, const char *what, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        char *w = NULL;
        int r;

        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, reply);
        if (r < 0) {
                va_start(ap, what);
                if (vasprintf(&w, what, ap) < 0)
                        w = NULL;
                va_end(ap);
                r = bus_log_error(&error, r, "%s", w ?: what);
                free(w);
        } else
                r = 0;
        sd_bus_error_free(&error);
        return r;
}

static int bus_callv(sd_bus *bus, const char *path, const char *iface, const char *member,
                     sd_bus_message **reply, const char *what, const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_message_new_call(bus, &m, path, iface, member);
        if (r < 0)
                return r;
        if (types) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        }
        return bus_call_message(bus, m, reply, "%s", what);
}

int bus_call(sd_bus *bus, const char *path, const char *iface, const char *member,
             sd_bus_message **reply, const char *what, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_callv(bus, path, iface, member, reply, what, types, ap);
        va_end(ap);
        return r;
}

int bus_container_path(sd_bus *bus, const char *name, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *what = NULL;
        const char *path;
        int r;

        if (asprintf(&what, "Failed to find container %s", name) < 0)
                return log_oom();
        r = bus_call(bus, MANAGER_PATH, MANAGER_IFACE, "GetContainer", &reply, what, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the reply: %s", strerror(-r));
        *ret = strdup(path);
        return *ret ? 0 : log_oom();
}

int bus_call_container(sd_bus *bus, const char *name, const char *member, sd_bus_message **reply,
                       const char *what, const char *types, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        /* The path is sd_bus_path_encode(name); asking the manager gives NoSuchContainer
         * instead of UnknownObject for a container that is not there. */
        r = bus_container_path(bus, name, &path);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = bus_callv(bus, path, CONTAINER_IFACE, member, reply, what, types, ap);
        va_end(ap);
        return r;
}

int bus_append_env(sd_bus_message *m, char **env) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (char **e = env; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                _cleanup_free_ char *k = NULL;
                const char *v;

                if (eq) {
                        k = strndup(*e, (size_t) (eq - *e));
                        v = eq + 1;
                } else {
                        /* NAME alone: its value here, as podman -e NAME does */
                        k = strdup(*e);
                        v = getenv(*e);
                        if (!v)
                                continue;
                }
                if (!k)
                        return -ENOMEM;
                r = sd_bus_message_append(m, "{ss}", k, v);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* One {sv} entry of an option dictionary whose value is an "as" or (from NAME=VALUE strings) an "a{ss}". */
static int append_option(sd_bus_message *m, const char *key, const char *type, char **v) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', type);
        if (r >= 0)
                r = strcmp(type, "as") == 0 ? sd_bus_message_append_strv(m, v) : bus_append_env(m, v);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int bus_append_option_strv(sd_bus_message *m, const char *key, char **strv) {
        return append_option(m, key, "as", strv);
}

int bus_append_option_env(sd_bus_message *m, const char *key, char **env) {
        return append_option(m, key, "a{ss}", env);
}
