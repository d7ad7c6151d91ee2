/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "journal.h"

void journal_container_event(const Container *c, const char *message_id, int priority, const char *format, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);

        (void) sd_journal_send("MESSAGE=%s", text,
                               "MESSAGE_ID=%s", message_id,
                               "PRIORITY=%d", priority,
                               "CONTAINER=%s", c->name,
                               "IMAGE=%s", c->image ?: "",
                               "CONTAINER_UNIT=%s", c->unit ?: "",
                               NULL);
}
