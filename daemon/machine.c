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
        /* The reply handler's name outlives a Remove: the slot owns a copy. */
        (void) sd_bus_slot_set_userdata(slot, g_strdup(c->name));
        (void) sd_bus_slot_set_destroy_callback(slot, g_free);
        (void) sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
}
