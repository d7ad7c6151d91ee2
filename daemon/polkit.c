/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that talks to polkit. Modelled on systemd's bus-polkit.c: the first time a
 * method call needs authorization we send CheckAuthorization asynchronously and remember the
 * call; when polkit answers we put the very same message back into the read queue with
 * sd_bus_enqueue_for_read(), the handler runs again and finds the answer here. */
#include <stdio.h>

#include "bus-util.h"
#include "polkit.h"

typedef struct AsyncPolkitQuery {
        Manager *manager;
        sd_bus_message *request;
        sd_bus_slot *slot;
        char *action;
        bool done;
        bool authorized;
        bool challenge;
        char *error_name;       /* set when polkit itself failed */
        char *error_message;
} AsyncPolkitQuery;

static void async_polkit_query_free(AsyncPolkitQuery *q) {
        if (!q)
                return;
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->request);
        g_free(q->action);
        g_free(q->error_name);
        g_free(q->error_message);
        g_free(q);
}

static void async_polkit_query_destroy(gpointer p) {
        async_polkit_query_free(p);
}

GHashTable *polkit_registry_new(void) {
        return g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, async_polkit_query_destroy);
}

void polkit_registry_free(GHashTable *registry) {
        if (registry)
                g_hash_table_unref(registry);
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AsyncPolkitQuery *q = userdata;
        const sd_bus_error *e;
        int authorized, challenge, r;

        q->done = true;
        q->slot = sd_bus_slot_unref(q->slot);
        manager_operation_end(q->manager);

        e = sd_bus_message_get_error(reply);
        if (e) {
                /* No polkit, or polkit failed: that means deny. */
                q->error_name = g_strdup(e->name);
                q->error_message = g_strdup(e->message);
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r >= 0) {
                        q->authorized = authorized;
                        q->challenge = challenge;
                } else
                        q->error_name = g_strdup(SD_BUS_ERROR_ACCESS_DENIED);
        }

        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0) {
                fprintf(stderr, "<3>Cannot re-dispatch a call after polkit answered: %s\n", g_strerror(-r));
                g_hash_table_remove(q->manager->polkit_registry, q->request);
        }
        return 0;
}

static int check_result(AsyncPolkitQuery *q, const char *action, sd_bus_error *error) {
        if (!streq(q->action, action))
                /* One method asking for two actions is not something we do. */
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Conflicting authorization queries");
        if (q->authorized)
                return 1;
        if (q->error_name)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authorization for %s could not be checked (%s), denying", action, q->error_name);
        if (q->challenge)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication is required for %s", action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized to perform %s", action);
}

int polkit_check(Manager *m, sd_bus_message *msg, const char *action, const char **details, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        AsyncPolkitQuery *q;
        int r;

        q = g_hash_table_lookup(m->polkit_registry, msg);
        if (q) {
                if (!q->done)
                        return 0;
                r = check_result(q, action, error);
                g_hash_table_remove(m->polkit_registry, msg);
                return r;
        }

        /* root needs no permission. */
        if (bus_sender_is_root(msg))
                return 1;

        r = sd_bus_message_new_method_call(sd_bus_message_get_bus(msg), &pk,
                                           "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority",
                                           "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(pk, "(sa{sv})s", "system-bus-name", 1, "name", "s", sd_bus_message_get_sender(msg), action);
        if (r >= 0)
                r = sd_bus_message_open_container(pk, 'a', "{ss}");
        for (const char **d = details; r >= 0 && d && d[0] && d[1]; d += 2)
                r = sd_bus_message_append(pk, "{ss}", d[0], d[1]);
        if (r >= 0)
                r = sd_bus_message_close_container(pk);
        if (r >= 0)
                r = sd_bus_message_append(pk, "us", (uint32_t) !!sd_bus_message_get_allow_interactive_authorization(msg), "");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot build the authorization query: %m");

        q = g_new0(AsyncPolkitQuery, 1);
        q->manager = m;
        q->request = sd_bus_message_ref(msg);
        q->action = g_strdup(action);

        /* Interactive authentication can take as long as a person needs. */
        r = sd_bus_call_async(sd_bus_message_get_bus(msg), &q->slot, pk, on_check_authorization, q, 0);
        if (r < 0) {
                async_polkit_query_free(q);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot ask polkit, denying");
        }
        g_hash_table_insert(m->polkit_registry, msg, q);
        manager_operation_begin(m);
        return 0;
}
