/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "manager.h"

/* Each unprivileged container gets a slot of 65536 host uids and gids of its own (container ids
 * 0..65535), taken from a block the daemon owns. The block lies above useradd's default
 * SUB_UID_MAX and is recorded for root in /etc/subuid and /etc/subgid so that no user is
 * ever given the same ids. */
#define IDMAP_SLOT_SIZE 65536U
/* Between systemd's container range (nspawn -U, machined: 0x00080000..0x6FFFFFFF) and its
 * foreign range (0x7FFE0000..0x7FFEFFFF), below 2^31 (see systemd's docs/UIDS-GIDS.md). */
#define IDMAP_DEFAULT_START 0x70000000U
#define IDMAP_DEFAULT_SIZE (4094U * IDMAP_SLOT_SIZE)
/* useradd hands out subordinate ids up to SUB_UID_MAX, 600100000 by default. */
#define IDMAP_MIN_START 600100000U

#define CONFIG_FILE_DEFAULT "/etc/containers-manager/containers-manager.conf"

/* Reads [IdMap] Start= and Size= from the configuration file; a missing file or section means
 * the defaults. Invalid values fail with -EINVAL and a message, ret untouched. */
int idmap_block_load(const char *path, IdBlock *ret, char **ret_message);
bool idmap_block_is_valid(const IdBlock *b);

/* Whether the block may be used on this host: 65536-aligned, clear of systemd's ranges
 * (DynamicUser, nspawn/machined containers, foreign images) and of every range another user
 * than root holds in the subuid and subgid files (paths, NULL: not read). -EADDRINUSE (or
 * -EINVAL when misaligned, -EIO when a file cannot be read) with a message naming the
 * overlap. */
int idmap_block_check(const IdBlock *b, const char *subuid_path, const char *subgid_path, char **ret_message);

/* The lowest slot of the block whose range [start, start + 65536) meets no range of a key of
 * used (a set of GUINT_TO_POINTER shifts, aligned or not): -ENOSPC when none is left. */
int idmap_block_find_free(const IdBlock *b, GHashTable *used, uint32_t *ret_shift);

/* Returns the text of an /etc/subuid-style file with "user:start:size" added, or NULL when
 * that exact entry is already there. */
char *idmap_subid_text_add(const char *text, const char *user, uint32_t start, uint32_t size);

/* Makes sure path lists root's entry for the block (atomically rewritten when it does not). */
int idmap_subid_file_ensure(const char *path, const IdBlock *b);

/* Slot bookkeeping on the manager: one container per slot, ever; slots are ranges of
 * 65536 ids and never overlap. manager_allocate_uid_shift() fails with -EADDRNOTAVAIL when the
 * block failed idmap_block_check() (m->id_block_problem says why). */
int manager_claim_uid_shift(Manager *m, Container *c);
int manager_allocate_uid_shift(Manager *m, uint32_t *ret_shift);
void manager_release_uid_shift(Manager *m, Container *c);
