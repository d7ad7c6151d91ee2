/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that talks to polkit. Modelled on systemd's bus-polkit.c: the first time a
 * method call needs authorization we send CheckAuthorization asynchronously and remember the
 * call; when polkit answers we put the very same message back into the read queue with
 * sd_bus_enqueue_for_read(), the handler runs again and finds the answer here. A handler may
 * ask for several actions (Create of a privileged container needs two): each answer is kept
 * with the query until the re-dispatched call is done, then an idle-priority defer frees it,
 * whether or not the handler got as far as asking again. */
#include <stdio.h>

#include "bus-util.h"
#include "log.h"
#include "polkit.h"

typedef struct PolkitAnswer {
        char *action;
        char *details;          /* the details asked with, flattened: an answer is for exactly those */
        bool interactive;
        bool authorized;
        bool challenge;
        char *error_name;       /* set when polkit itself failed */
} PolkitAnswer;

typedef struct AsyncPolkitQuery {
        Manager *manager;
        sd_bus_message *request;
        sd_bus_slot *slot;      /* the CheckAuthorization in flight */
        PolkitAnswer *pending;
        GPtrArray *answers;     /* PolkitAnswer* */
        sd_event_source *defer; /* frees the query once the re-dispatched call is done */
} AsyncPolkitQuery;

static void polkit_answer_free(PolkitAnswer *a) {
        if (!a)
                return;
        g_free(a->action);
        g_free(a->details);
        g_free(a->error_name);
        g_free(a);
}

static void polkit_answer_destroy(gpointer p) {
        polkit_answer_free(p);
}

static void async_polkit_query_free(AsyncPolkitQuery *q) {
        if (!q)
                return;
        if (q->slot)
                manager_operation_end(q->manager);
        sd_bus_slot_unref(q->slot);
        sd_event_source_disable_unref(q->defer);
        sd_bus_message_unref(q->request);
        polkit_answer_free(q->pending);
        g_ptr_array_unref(q->answers);
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

unsigned polkit_registry_size(GHashTable *registry) {
        return registry ? g_hash_table_size(registry) : 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        AsyncPolkitQuery *q = userdata;

        g_hash_table_remove(q->manager->polkit_registry, q->request);
        return 0;
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AsyncPolkitQuery *q = userdata;
        PolkitAnswer *a = TAKE_PTR(q->pending);
        const sd_bus_error *e;
        int authorized, challenge, r;

        q->slot = sd_bus_slot_unref(q->slot);
        manager_operation_end(q->manager);

        e = sd_bus_message_get_error(reply);
        if (e)
                /* No polkit, or polkit failed: that means deny. */
                a->error_name = g_strdup(e->name);
        else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r >= 0) {
                        a->authorized = authorized;
                        a->challenge = challenge;
                } else
                        a->error_name = g_strdup(SD_BUS_ERROR_ACCESS_DENIED);
        }
        g_ptr_array_add(q->answers, a);

        /* Lowest priority: runs after the re-dispatched call below has been handled. */
        if (!q->defer && q->manager->event) {
                r = sd_event_add_defer(q->manager->event, &q->defer, on_defer, q);
                if (r >= 0)
                        r = sd_event_source_set_priority(q->defer, SD_EVENT_PRIORITY_IDLE);
                if (r >= 0)
                        r = sd_event_source_set_enabled(q->defer, SD_EVENT_ONESHOT);
                if (r < 0)
                        q->defer = sd_event_source_disable_unref(q->defer);
        }

        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0) {
                /* The caller must still get an answer. */
                log_error_errno(r, "Cannot re-dispatch a call after polkit answered");
                (void) sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_FAILED,
                                                  "Cannot resume the call after authorization: %s", g_strerror(-r));
                g_hash_table_remove(q->manager->polkit_registry, q->request);
        }
        return 0;
}

static int answer_to_result(const PolkitAnswer *a, sd_bus_error *error) {
        if (a->authorized)
                return 1;
        if (a->error_name)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authorization for %s could not be checked (%s), denying", a->action, a->error_name);
        if (a->challenge && a->interactive)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication is required for %s", a->action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized to perform %s", a->action);
}

static char *details_flatten(const char **details) {
        g_autoptr(GString) s = g_string_new(NULL);

        for (const char **d = details; d && d[0] && d[1]; d += 2)
                g_string_append_printf(s, "%s=%s%c", d[0], d[1], 0x1f);
        return g_string_free(TAKE_PTR(s), false);
}

static int send_query(AsyncPolkitQuery *q, const char *action, const char **details, char *flat, bool interactive) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        sd_bus_message *msg = q->request;
        int r;

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
                r = sd_bus_message_append(pk, "us", (uint32_t) interactive, "");
        if (r < 0) {
                g_free(flat);
                return r;
        }

        q->pending = g_new0(PolkitAnswer, 1);
        q->pending->action = g_strdup(action);
        q->pending->details = flat;
        q->pending->interactive = interactive;
        /* Interactive authentication can take as long as a person needs. */
        r = sd_bus_call_async(sd_bus_message_get_bus(msg), &q->slot, pk, on_check_authorization, q, 0);
        if (r < 0) {
                g_clear_pointer(&q->pending, polkit_answer_free);
                return r;
        }
        manager_operation_begin(q->manager);
        return 0;
}

int polkit_check_full(Manager *m, sd_bus_message *msg, const char *action, const char **details, bool interactive,
                      sd_bus_error *error) {
        g_autofree char *flat = NULL;
        AsyncPolkitQuery *q;
        bool created = false;
        int r;

        assert(m);
        assert(msg);
        assert(action);

        /* root needs no permission. */
        if (bus_sender_is_root(msg))
                return 1;

        interactive = interactive && sd_bus_message_get_allow_interactive_authorization(msg);
        flat = details_flatten(details);

        q = g_hash_table_lookup(m->polkit_registry, msg);
        if (q) {
                if (q->slot)
                        return 0;
                for (guint i = 0; i < q->answers->len; i++) {
                        const PolkitAnswer *a = q->answers->pdata[i];
                        /* An answer counts only for the very question it answered. */
                        if (streq(a->action, action) && streq(a->details, flat) && a->interactive == interactive)
                                return answer_to_result(a, error);
                }
                /* A further question for the same call: keep the query until it is answered too. */
                q->defer = sd_event_source_disable_unref(q->defer);
        } else {
                q = g_new0(AsyncPolkitQuery, 1);
                q->manager = m;
                q->request = sd_bus_message_ref(msg);
                q->answers = g_ptr_array_new_with_free_func(polkit_answer_destroy);
                created = true;
        }

        r = send_query(q, action, details, TAKE_PTR(flat), interactive);
        if (r < 0) {
                if (created)
                        async_polkit_query_free(q);
                else
                        g_hash_table_remove(m->polkit_registry, msg);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot ask polkit (%s), denying", g_strerror(-r));
        }
        if (created)
                g_hash_table_insert(m->polkit_registry, msg, q);
        return 0;
}

int polkit_check(Manager *m, sd_bus_message *msg, const char *action, const char **details, sd_bus_error *error) {
        return polkit_check_full(m, msg, action, details, true, error);
}
