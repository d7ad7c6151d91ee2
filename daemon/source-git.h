/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Fetching build sources with libgit2. This is the only file that includes <git2.h>.
 *
 * source_git_fetch() blocks and is meant for forked build workers, never for the daemon's
 * event loop. The libgit2 work itself runs in a child process of the caller, so a stalled
 * server, a slow DNS lookup or a huge checkout can always be cut off at the deadline. */

#define SOURCE_GIT_MAX_BYTES_DEFAULT (UINT64_C(256) * 1024 * 1024)
#define SOURCE_GIT_TIMEOUT_USEC_DEFAULT (UINT64_C(10) * 60 * 1000000)
#define SOURCE_GIT_MAX_FILES_DEFAULT UINT64_C(100000)
#define SOURCE_GIT_URL_MAX 4096
#define SOURCE_GIT_BRANCH_MAX 255

typedef struct SourceGitLimits {
        uint64_t max_bytes;      /* received pack bytes; 0: SOURCE_GIT_MAX_BYTES_DEFAULT */
        uint64_t timeout_usec;   /* whole fetch and checkout; 0: SOURCE_GIT_TIMEOUT_USEC_DEFAULT */
        uint64_t max_files;      /* files (and symlinks) in the checkout; 0: SOURCE_GIT_MAX_FILES_DEFAULT */
        bool refuse_local_hosts; /* http(s): the host looked up first (source_git_check_host_resolved()), no redirects */
} SourceGitLimits;

/* Called in the calling process, in order, with fractions that never decrease; the last call
 * of a successful fetch has fraction 1.0. `line` is one line of plain text without newline. */
typedef void (*SourceGitProgress)(const char *line, double fraction, void *userdata);

/* Fetches `branch` (NULL: the remote's default branch) of `url` into `dest`, which must not
 * exist (its parent must), checks out the branch head and removes dest/.git. Only that one
 * branch is fetched (shallow where libgit2 supports it: 1.7 and later). No submodules, no
 * credentials, no prompts, no ssh. `limits` may be NULL for the defaults. `allow_local`:
 * whether file:// URLs and absolute paths are allowed (root callers only).
 *
 * On success returns 0 and the full hex commit id in *ret_commit (free with g_free()). On
 * failure nothing is left of what this call created (an existing `dest` is left alone),
 * *ret_commit is untouched, *ret_error (if not NULL) says what went wrong (free with
 * g_free()), and the return value is:
 *   -EINVAL     bad URL or branch name (as the validators below)
 *   -EEXIST     dest exists
 *   -ENOENT     branch not found, or the repository is empty
 *   -EFBIG      more than limits->max_bytes received
 *   -E2BIG      more than limits->max_files in the tree
 *   -ETIMEDOUT  the deadline passed
 *   -EACCES     the server wants credentials
 *   -EPERM      refuse_local_hosts: the host resolves to a loopback or link-local address
 *   -EIO        anything else (libgit2's message) */
int source_git_fetch(
                const char *url,
                const char *branch,
                bool allow_local,
                const char *dest,
                const SourceGitLimits *limits,
                SourceGitProgress progress,
                void *userdata,
                char **ret_commit,
                char **ret_error);

/* Validation without network, for the bus layer. http:// and https:// always; file:///path
 * and absolute paths only with allow_local. Rejects credentials in the URL, ssh (also the
 * scp-like user@host:path form), git://, ext:: and other transports, control characters,
 * spaces, non-ASCII bytes and URLs longer than SOURCE_GIT_URL_MAX. Returns 0, or -EINVAL
 * with *ret_error (if not NULL, free with g_free()) saying what is wrong. */
int source_git_validate_url(const char *url, bool allow_local, char **ret_error);
/* For callers other than root: -EPERM and a message naming the address when the host of an
 * http(s) URL is "localhost" (or under .localhost) or a literal loopback, link-local or "this
 * host" address (127.0.0.0/8, 169.254.0.0/16, 0.0.0.0/8, ::1, fe80::/10, ::, IPv4-mapped
 * forms; any notation getaddrinfo() takes without a lookup: no blocking, for the bus layer).
 * The resolved form also looks the name up (blocks: fetch workers only); source_git_fetch()
 * does so before connecting with limits->refuse_local_hosts (-EPERM). Not http(s): 0. */
int source_git_check_host_literal(const char *url, char **ret_error);
int source_git_check_host_resolved(const char *url, char **ret_error);

/* git check-ref-format --branch rules (libgit2's check of "refs/heads/<branch>"), plus no
 * leading '-' and no "HEAD". Returns 0 or -EINVAL with *ret_error as above. */
int source_git_validate_branch(const char *branch, char **ret_error);
