/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd-machined: running containers are registered machines. */
#include <net/if.h>

#include "log.h"
#include "machine.h"
#include "network.h"

static int register_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_warning("Container %s: systemd-machined did not register it: %s", (const char *) userdata,
                            e->message ?: e->name);
        return 0;
}

void machine_register(Container *c) {
        Manager *m = c->manager;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        sd_bus_slot *slot = NULL;
        g_autofree char *root = NULL;
        uint8_t id[16];
        int32_t ifindex = 0;
        int r;

        if (!m->bus || c->leader <= 0)
                return;
        for (size_t i = 0; i < sizeof(id); i++)
                id[i] = (uint8_t) (g_ascii_xdigit_value(c->id[2 * i]) << 4 | g_ascii_xdigit_value(c->id[2 * i + 1]));
        /* Its root as the host reaches it, for as long as it is registered (it runs). */
        root = g_strdup_printf("/proc/%d/root", (int) c->leader);
        if (c->network == NETWORK_BRIDGE) {
                g_autofree char *veth = g_strdup_printf("vcm%.10s", c->id);
                ifindex = (int32_t) if_nametoindex(veth);
        }

        r = sd_bus_message_new_method_call(m->bus, &msg, "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                           "org.freedesktop.machine1.Manager", "RegisterMachineWithNetwork");
        if (r >= 0)
                r = sd_bus_message_append(msg, "s", c->name);
        if (r >= 0)
                r = sd_bus_message_append_array(msg, 'y', id, sizeof(id));
        if (r >= 0)
                r = sd_bus_message_append(msg, "ssus", "containers-manager", "container", (uint32_t) c->leader, root);
        if (r >= 0)
                r = sd_bus_message_append_array(msg, 'i', &ifindex, ifindex > 0 ? sizeof(ifindex) : 0);
        if (r >= 0)
                r = sd_bus_call_async(m->bus, &slot, msg, register_reply, NULL, 0);
        if (r < 0) {
                log_warning_errno(r, "Container %s: cannot ask systemd-machined to register it", c->name);
                return;
        }
        c->machine_registered = true;
        /* The reply handler's name outlives a Remove: the slot owns a copy. */
        (void) sd_bus_slot_set_userdata(slot, g_strdup(c->name));
        (void) sd_bus_slot_set_destroy_callback(slot, g_free);
        (void) sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
}

struct MachineWait {
        Container *container;
        void (*done)(Container *c);
        sd_bus_slot *match;             /* MachineRemoved */
        sd_bus_slot *call;              /* GetMachine */
        sd_event_source *timer;
};

MachineWait *machine_wait_free(MachineWait *w) {
        if (!w)
                return NULL;
        sd_bus_slot_unref(w->match);
        sd_bus_slot_unref(w->call);
        sd_event_source_disable_unref(w->timer);
        g_free(w);
        return NULL;
}

/* Once: the wait ends (the container's pointer to it is cleared before done() runs). */
static void wait_finish(MachineWait *w, bool released) {
        Container *c = w->container;
        void (*done)(Container *c) = w->done;

        if (released)
                c->machine_registered = false;
        else
                log_warning("Container %s: systemd-machined still holds its machine after %" PRIu64 " s; starting anyway.",
                            c->name, (uint64_t) (MACHINE_WAIT_USEC / USEC_PER_SEC));
        machine_wait_free(TAKE_PTR(c->machine_wait));
        done(c);
}

static int on_machine_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        MachineWait *w = userdata;
        const char *name;

        if (sd_bus_message_read(msg, "s", &name) < 0 || !streq(name, w->container->name))
                return 0;
        wait_finish(w, true);
        return 0;
}

static int on_get_machine(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MachineWait *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        w->call = sd_bus_slot_unref(w->call);
        /* NoSuchMachine (or no machined at all): nothing to wait for. Else MachineRemoved says. */
        if (e)
                wait_finish(w, true);
        return 0;
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        wait_finish(userdata, false);
        return 0;
}

int machine_wait_released(Container *c, void (*done)(Container *c), MachineWait **ret) {
        Manager *m = c->manager;
        _cleanup_(machine_wait_freep) MachineWait *w = NULL;
        int r;

        assert(done);
        assert(ret);
        if (!m->bus || !c->machine_registered)
                return 0;

        w = g_new0(MachineWait, 1);
        w->container = c;
        w->done = done;
        /* The signal first, then the question: whichever says so first ends the wait. */
        r = sd_bus_match_signal_async(m->bus, &w->match, "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                      "org.freedesktop.machine1.Manager", "MachineRemoved",
                                      on_machine_removed, NULL, w);
        if (r >= 0)
                r = sd_bus_call_method_async(m->bus, &w->call, "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                             "org.freedesktop.machine1.Manager", "GetMachine",
                                             on_get_machine, w, "s", c->name);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &w->timer, CLOCK_MONOTONIC, MACHINE_WAIT_USEC, 0,
                                               on_wait_timeout, w);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 1;
}
