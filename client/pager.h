/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Long output goes through a pager on a terminal, as systemd's tools do: $SYSTEMD_PAGER,
 * then $PAGER, then less (LESS=FRSXMK: quits at once when it fits one screen), then more.
 * Nothing with --no-pager, an empty or "cat" pager, or when stdout is not a terminal. */

void pager_open(void);
void pager_close(void);
