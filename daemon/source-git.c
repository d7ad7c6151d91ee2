/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <git2.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "source-git.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_repository *, git_repository_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_remote *, git_remote_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_object *, git_object_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree *, git_tree_free);

/* The parent gives the child this long after the deadline to report its own, more precise
 * error before it is killed. */
#define WATCHDOG_GRACE_USEC (1 * USEC_PER_SEC)

/* How the fetch is split into one 0..1 progress value. */
#define FRACTION_RECEIVE 0.70
#define FRACTION_DELTAS 0.10
#define FRACTION_CHECKOUT 0.20

_printf_(3, 4)
static int fail(char **ret_error, int r, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, format);
                *ret_error = g_strdup_vprintf(format, ap);
                va_end(ap);
        }
        return r;
}

static void libgit2_init_once(void) {
        static gsize initialized = 0;

        if (g_once_init_enter(&initialized)) {
                (void) git_libgit2_init();
                g_once_init_leave(&initialized, 1);
        }
}

static bool scheme_char(char c) {
        return g_ascii_isalnum(c) || strchr("+.-", c);
}

/* Length of a leading "scheme" followed by `sep`, or 0. */
static size_t scheme_length(const char *url, const char *sep) {
        size_t n = 0;

        if (!g_ascii_isalpha(url[0]))
                return 0;
        while (url[n] && scheme_char(url[n]))
                n++;
        return g_str_has_prefix(url + n, sep) ? n : 0;
}

static int validate_http_authority(const char *a, size_t n, char **ret_error) {
        const char *end = a + n, *port = NULL;

        if (memchr(a, '@', n))
                return fail(ret_error, -EINVAL,
                            "credentials in the URL are not allowed (only public repositories can be fetched)");
        if (n == 0)
                return fail(ret_error, -EINVAL, "URL has no host");

        if (a[0] == '[') {
                const char *close = memchr(a, ']', n);

                if (!close || close == a + 1)
                        return fail(ret_error, -EINVAL, "invalid IPv6 address in URL");
                for (const char *p = a + 1; p < close; p++)
                        if (!g_ascii_isxdigit(*p) && !strchr(":.", *p))
                                return fail(ret_error, -EINVAL, "invalid IPv6 address in URL");
                if (close + 1 < end) {
                        if (close[1] != ':')
                                return fail(ret_error, -EINVAL, "unexpected characters after the IPv6 address in URL");
                        port = close + 2;
                }
        } else {
                const char *colon = memchr(a, ':', n);
                size_t host_len = colon ? (size_t) (colon - a) : n;

                if (host_len == 0)
                        return fail(ret_error, -EINVAL, "URL has no host");
                for (size_t i = 0; i < host_len; i++)
                        if (!g_ascii_isalnum(a[i]) && !strchr("-._", a[i]))
                                return fail(ret_error, -EINVAL, "invalid character '%c' in the URL's host name", a[i]);
                if (colon)
                        port = colon + 1;
        }

        if (port) {
                unsigned long v = 0;

                if (port == end)
                        return fail(ret_error, -EINVAL, "URL has an empty port");
                for (const char *p = port; p < end; p++) {
                        if (!g_ascii_isdigit(*p))
                                return fail(ret_error, -EINVAL, "URL has an invalid port");
                        v = v * 10 + (unsigned long) (*p - '0');
                        if (v > 65535)
                                return fail(ret_error, -EINVAL, "URL has an invalid port");
                }
                if (v == 0)
                        return fail(ret_error, -EINVAL, "URL has an invalid port");
        }
        return 0;
}

/* Loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10) and "this host"
 * (0.0.0.0/8, ::), also written as IPv4-mapped IPv6 addresses. */
static bool address_is_local(const struct sockaddr *sa) {
        if (sa->sa_family == AF_INET) {
                uint32_t a = ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr);
                return (a >> 24) == 127 || (a >> 24) == 0 || (a >> 16) == 0xA9FEU;
        }
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

                if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a))
                        return true;
                if (IN6_IS_ADDR_V4MAPPED(a)) {
                        struct sockaddr_in v4 = { .sin_family = AF_INET };
                        memcpy(&v4.sin_addr, a->s6_addr + 12, 4);
                        return address_is_local((const struct sockaddr *) &v4);
                }
                return false;
        }
        return true;    /* not an address git would connect to over the network */
}

static char *address_to_string(const struct sockaddr *sa) {
        char buf[INET6_ADDRSTRLEN] = "?";

        if (sa->sa_family == AF_INET)
                (void) inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, sizeof(buf));
        else if (sa->sa_family == AF_INET6)
                (void) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, sizeof(buf));
        return g_strdup(buf);
}

/* The host of an http:// or https:// URL (without the brackets of an IPv6 address), or NULL. */
static char *url_host(const char *url) {
        const char *a;
        size_t n;

        if (!g_str_has_prefix(url, "https://") && !g_str_has_prefix(url, "http://"))
                return NULL;
        a = strstr(url, "://") + 3;
        n = strcspn(a, "/?#");
        if (a[0] == '[') {
                const char *close = memchr(a, ']', n);
                return close ? g_strndup(a + 1, close - a - 1) : NULL;
        }
        return g_strndup(a, strcspn(a, ":/?#"));
}

/* host resolved with flags (AI_NUMERICHOST: only a literal, without a lookup): -EPERM and a
 * message when any of its addresses is local. 0 when it is not, or cannot be resolved (git
 * then fails on its own). */
static int check_host(const char *host, int flags, char **ret_error) {
        const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = flags };
        struct addrinfo *res = NULL;
        int r = 0;

        if (getaddrinfo(host, NULL, &hints, &res) != 0)
                return 0;
        for (struct addrinfo *i = res; i; i = i->ai_next)
                if (address_is_local(i->ai_addr)) {
                        g_autofree char *a = address_to_string(i->ai_addr);
                        r = fail(ret_error, -EPERM, "the URL's host %s is %s, a loopback, link-local or unspecified address: "
                                 "only root may build from there", host, a);
                        break;
                }
        freeaddrinfo(res);
        return r;
}

int source_git_check_host_literal(const char *url, char **ret_error) {
        g_autofree char *host = url_host(url);
        size_t n;

        if (!host)
                return 0;
        n = strlen(host);
        if (g_ascii_strcasecmp(host, "localhost") == 0 || g_ascii_strcasecmp(host, "localhost.") == 0 ||
            (n > strlen(".localhost") && g_ascii_strcasecmp(host + n - strlen(".localhost"), ".localhost") == 0) ||
            (n > strlen(".localhost.") && g_ascii_strcasecmp(host + n - strlen(".localhost."), ".localhost.") == 0))
                return fail(ret_error, -EPERM, "the URL's host %s is this machine's loopback: only root may build from there", host);
        return check_host(host, AI_NUMERICHOST, ret_error);
}

int source_git_check_host_resolved(const char *url, char **ret_error) {
        g_autofree char *host = url_host(url);
        int r;

        r = source_git_check_host_literal(url, ret_error);
        if (r < 0 || !host)
                return r;
        return check_host(host, 0, ret_error);
}

int source_git_validate_url(const char *url, bool allow_local, char **ret_error) {
        static const char local_denied[] =
                "local repositories (file:// URLs and paths) may only be used by root; use an http:// or https:// URL";
        size_t n;

        if (isempty(url))
                return fail(ret_error, -EINVAL, "URL is empty");
        n = strlen(url);
        if (n > SOURCE_GIT_URL_MAX)
                return fail(ret_error, -EINVAL, "URL is longer than %d bytes", SOURCE_GIT_URL_MAX);

        /* "<transport>::<address>" runs remote helpers (ext:: runs any command). */
        n = scheme_length(url, "::");
        if (n > 0 && n < 32)
                return fail(ret_error, -EINVAL, "the '%.*s::' transport is not allowed; use an http:// or https:// URL",
                            (int) n, url);

        for (const char *p = url; *p; p++) {
                unsigned char c = (unsigned char) *p;

                if (c < 0x20 || c == 0x7f)
                        return fail(ret_error, -EINVAL, "URL contains a control character at position %zu", (size_t) (p - url));
                if (c == ' ')
                        return fail(ret_error, -EINVAL, "URL contains a space (write it as %%20)");
                if (c >= 0x80)
                        return fail(ret_error, -EINVAL, "URL contains non-ASCII characters (percent-encode them)");
        }

        if (g_str_has_prefix(url, "https://") || g_str_has_prefix(url, "http://")) {
                const char *a = strstr(url, "://") + 3;
                return validate_http_authority(a, strcspn(a, "/?#"), ret_error);
        }

        if (g_str_has_prefix(url, "file://")) {
                if (!allow_local)
                        return fail(ret_error, -EINVAL, local_denied);
                if (url[strlen("file://")] != '/')
                        return fail(ret_error, -EINVAL, "file:// URLs must name an absolute path on this machine (file:///path)");
                return 0;
        }

        if (url[0] == '/') {
                if (!allow_local)
                        return fail(ret_error, -EINVAL, local_denied);
                return 0;
        }

        n = scheme_length(url, "://");
        if (n > 0 && n < 32)
                return fail(ret_error, -EINVAL, "URL scheme '%.*s' is not supported; use an http:// or https:// URL",
                            (int) n, url);

        /* scp-like ssh syntax: [user@]host:path */
        if (strchr(url, ':') && strcspn(url, ":") < strcspn(url, "/"))
                return fail(ret_error, -EINVAL, "ssh URLs are not supported; use an http:// or https:// URL");

        return fail(ret_error, -EINVAL, "not a URL%s; use an http:// or https:// URL",
                    allow_local ? " or an absolute path" : "");
}

int source_git_validate_branch(const char *branch, char **ret_error) {
        g_autofree char *ref = NULL;
        int valid = 0;

        if (isempty(branch))
                return fail(ret_error, -EINVAL, "branch name is empty");
        if (strlen(branch) > SOURCE_GIT_BRANCH_MAX)
                return fail(ret_error, -EINVAL, "branch name is longer than %d bytes", SOURCE_GIT_BRANCH_MAX);
        for (const char *p = branch; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return fail(ret_error, -EINVAL, "branch name contains a control character");
        if (!g_utf8_validate(branch, -1, NULL))
                return fail(ret_error, -EINVAL, "branch name is not valid UTF-8");
        if (branch[0] == '-')
                return fail(ret_error, -EINVAL, "branch name '%s' starts with '-'", branch);
        /* git reads these two as HEAD. */
        if (STR_IN_SET(branch, "HEAD", "@"))
                return fail(ret_error, -EINVAL, "'%s' is not a branch name", branch);

        libgit2_init_once();
        ref = g_strconcat("refs/heads/", branch, NULL);
        if (git_reference_name_is_valid(&valid, ref) < 0 || !valid)
                return fail(ret_error, -EINVAL, "'%s' is not a valid branch name", branch);
        return 0;
}

static void limits_normalize(const SourceGitLimits *in, SourceGitLimits *out) {
        *out = in ? *in : (SourceGitLimits) {};
        if (out->max_bytes == 0)
                out->max_bytes = SOURCE_GIT_MAX_BYTES_DEFAULT;
        if (out->timeout_usec == 0)
                out->timeout_usec = SOURCE_GIT_TIMEOUT_USEC_DEFAULT;
        if (out->max_files == 0)
                out->max_files = SOURCE_GIT_MAX_FILES_DEFAULT;
}

/* ASCII only (g_format_size() puts a no-break space in). */
static char *format_bytes(uint64_t n) {
        if (n < 1024)
                return g_strdup_printf("%" PRIu64 " B", n);
        if (n < 1024 * 1024)
                return g_strdup_printf("%.1f KiB", (double) n / 1024);
        if (n < UINT64_C(1024) * 1024 * 1024)
                return g_strdup_printf("%.1f MiB", (double) n / (1024 * 1024));
        return g_strdup_printf("%.1f GiB", (double) n / (1024 * 1024 * 1024));
}

static char *format_timeout(uint64_t usec) {
        if (usec % USEC_PER_SEC == 0)
                return g_strdup_printf("%" PRIu64 " s", usec / USEC_PER_SEC);
        return g_strdup_printf("%.1f s", (double) usec / USEC_PER_SEC);
}

/* ---- the child: all libgit2 work happens here ----
 *
 * It reports to the parent over a pipe, one record per line:
 *   P<fraction> <text>    progress
 *   C<commit>             success
 *   E<errno> <text>       failure */

typedef struct FetchChild {
        const char *url;
        const char *dest;
        int fd;
        SourceGitLimits limits;
        uint64_t deadline;      /* CLOCK_MONOTONIC */

        int abort_reason;       /* set by a callback that cancelled the operation */
        char *abort_message;

        double fraction;        /* last reported */
        int phase;              /* 0 receive, 1 deltas, 2 checkout */
        int last_percent;
        uint64_t last_line_usec;
        uint64_t files;
} FetchChild;

static void child_write(FetchChild *c, const char *record) {
        g_autofree char *line = g_strdup(record);
        size_t n;

        /* One record is one line, whatever libgit2 or the server put in a message. */
        for (char *q = line; *q; q++)
                if ((unsigned char) *q < 0x20 || *q == 0x7f)
                        *q = ' ';
        n = strlen(line);
        line[n++] = '\n';      /* replaces the NUL: write() takes a length */
        if (loop_write(c->fd, line, n) < 0)
                _exit(EXIT_FAILURE);    /* the parent is gone */
}

_printf_(3, 4)
static void child_progress(FetchChild *c, double fraction, const char *format, ...) {
        g_autofree char *text = NULL, *record = NULL;
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        va_list ap;

        /* Never go backwards, even if libgit2's counters do. */
        if (fraction < c->fraction)
                fraction = c->fraction;
        if (fraction > 1.0)
                fraction = 1.0;
        c->fraction = fraction;
        c->last_line_usec = now_usec(CLOCK_MONOTONIC);

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        record = g_strconcat("P", g_ascii_formatd(buf, sizeof(buf), "%.4f", fraction), " ", text, NULL);
        child_write(c, record);
}

/* A line per 10 %, and in between at most one a second, so that a log stays readable. */
static bool child_should_report(FetchChild *c, int phase, int percent) {
        if (phase != c->phase) {
                c->phase = phase;
                c->last_percent = -1;
        }
        if (percent == c->last_percent)
                return false;
        if (c->last_percent < 0 || percent / 10 != c->last_percent / 10 || percent == 100 ||
            now_usec(CLOCK_MONOTONIC) >= c->last_line_usec + USEC_PER_SEC) {
                c->last_percent = percent;
                return true;
        }
        return false;
}

static int child_abort(FetchChild *c, int reason, char *message) {
        if (c->abort_reason == 0) {
                c->abort_reason = reason;
                c->abort_message = message;
        } else
                g_free(message);
        return -1;
}

static int child_check_deadline(FetchChild *c) {
        g_autofree char *t = NULL;

        if (now_usec(CLOCK_MONOTONIC) < c->deadline)
                return 0;
        t = format_timeout(c->limits.timeout_usec);
        return child_abort(c, -ETIMEDOUT, g_strdup_printf("timed out after %s", t));
}

static int on_transfer_progress(const git_indexer_progress *stats, void *userdata) {
        FetchChild *c = userdata;
        int percent;

        if (stats->received_bytes > c->limits.max_bytes)
                return child_abort(c, -EFBIG, g_strdup_printf("repository too large: more than %" PRIu64 " bytes",
                                                              c->limits.max_bytes));
        if (child_check_deadline(c) < 0)
                return -1;
        if (stats->total_objects == 0)
                return 0;

        if (c->phase == 0) {
                percent = (int) ((uint64_t) stats->received_objects * 100 / stats->total_objects);
                if (child_should_report(c, 0, percent)) {
                        g_autofree char *size = format_bytes(stats->received_bytes);
                        child_progress(c, FRACTION_RECEIVE * stats->received_objects / stats->total_objects,
                                       "Received %d%% (%u/%u objects, %s)", percent,
                                       stats->received_objects, stats->total_objects, size);
                }
                /* Once everything is received, go on to deltas in this same call. */
                if (stats->received_objects < stats->total_objects)
                        return 0;
        }
        if (stats->total_deltas == 0)
                return 0;

        percent = (int) ((uint64_t) stats->indexed_deltas * 100 / stats->total_deltas);
        if (child_should_report(c, 1, percent))
                child_progress(c, FRACTION_RECEIVE + FRACTION_DELTAS * stats->indexed_deltas / stats->total_deltas,
                               "Resolved deltas %d%% (%u/%u)", percent, stats->indexed_deltas, stats->total_deltas);
        return 0;
}

static int on_sideband(const char *str, int len, void *userdata) {
        /* The server's own chatter is not worth a log line; only keep an eye on the clock. */
        return child_check_deadline(userdata);
}

static int on_credentials(git_credential **out, const char *url, const char *username_from_url,
                          unsigned int allowed_types, void *userdata) {
        FetchChild *c = userdata;

        /* Never ask anyone for anything: fail at the first 401. */
        return child_abort(c, -EACCES,
                           g_strdup_printf("%s requires authentication; only public repositories can be fetched", c->url));
}

static int on_certificate_check(git_cert *cert, int valid, const char *host, void *userdata) {
        /* Keep libgit2's (OpenSSL's) verdict. */
        return GIT_PASSTHROUGH;
}

static int count_files(const char *root, const git_tree_entry *entry, void *userdata) {
        FetchChild *c = userdata;

        if (git_tree_entry_type(entry) == GIT_OBJECT_TREE)
                return 0;
        if (++c->files > c->limits.max_files)
                return child_abort(c, -E2BIG, g_strdup_printf("too many files: more than %" PRIu64,
                                                              c->limits.max_files));
        return 0;
}

static int on_checkout_notify(git_checkout_notify_t why, const char *path, const git_diff_file *baseline,
                              const git_diff_file *target, const git_diff_file *workdir, void *userdata) {
        return child_check_deadline(userdata);
}

static void on_checkout_progress(const char *path, size_t completed, size_t total, void *userdata) {
        FetchChild *c = userdata;
        int percent;

        if (total == 0)
                return;
        percent = (int) ((uint64_t) completed * 100 / total);
        if (child_should_report(c, 2, percent))
                child_progress(c, FRACTION_RECEIVE + FRACTION_DELTAS + FRACTION_CHECKOUT * completed / total,
                               "Checking out %d%% (%zu/%zu files)", percent, completed, total);
}

static void child_setup_libgit2(void) {
        /* Hermetic: no system, global or XDG git config (url.*.insteadOf could turn an
         * http URL into ssh), and no safe.directory ownership check on local sources, which
         * root reads on a root caller's explicit request anyway. */
        static const int levels[] = {
                GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_PROGRAMDATA,
        };

        libgit2_init_once();
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                (void) git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "");
        (void) git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
}

static void child_set_callbacks(FetchChild *c, git_remote_callbacks *cb) {
        cb->credentials = on_credentials;
        cb->certificate_check = on_certificate_check;
        cb->transfer_progress = on_transfer_progress;
        cb->sideband_progress = on_sideband;
        cb->payload = c;
}

/* Returns 0 with the commit id, or a negative errno with a message. */
static int child_fetch(FetchChild *c, const char *branch, char **ret_commit, char **ret_error) {
        git_remote_connect_options connect_opts = GIT_REMOTE_CONNECT_OPTIONS_INIT;
        git_fetch_options fetch_opts = GIT_FETCH_OPTIONS_INIT;
        git_checkout_options checkout_opts = GIT_CHECKOUT_OPTIONS_INIT;
        _cleanup_(git_repository_freep) git_repository *repo = NULL;
        _cleanup_(git_remote_freep) git_remote *remote = NULL;
        _cleanup_(git_object_freep) git_object *commit = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        g_autofree char *default_branch = NULL, *ref = NULL, *refspec = NULL;
        const git_remote_head **heads = NULL;
        const git_oid *oid = NULL;
        char sha[GIT_OID_HEXSZ + 1];
        git_strarray refspecs;
        size_t n_heads = 0;
        int r;

        child_setup_libgit2();

        /* What the name resolves to now: a name that points at this machine's loopback or at
         * a link-local address (a cloud's metadata service) is refused for callers but root.
         * libgit2 resolves it again to connect (not pinned: see the README). */
        if (c->limits.refuse_local_hosts) {
                r = source_git_check_host_resolved(c->url, ret_error);
                if (r < 0)
                        return r;
        }

        r = git_repository_init(&repo, c->dest, /* is_bare= */ false);
        if (r < 0)
                return -EIO;
        r = git_remote_create_anonymous(&remote, repo, c->url);
        if (r < 0)
                return -EIO;

        child_set_callbacks(c, &connect_opts.callbacks);
        /* A redirect could lead anywhere, the loopback included: root's fetches only. */
        connect_opts.follow_redirects = c->limits.refuse_local_hosts ? GIT_REMOTE_REDIRECT_NONE : GIT_REMOTE_REDIRECT_INITIAL;
        r = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &connect_opts);
        if (r < 0)
                return -EIO;

        if (!branch) {
                git_buf buf = GIT_BUF_INIT;

                r = git_remote_default_branch(&buf, remote);
                if (r >= 0 && g_str_has_prefix(buf.ptr, "refs/heads/"))
                        default_branch = g_strdup(buf.ptr + strlen("refs/heads/"));
                git_buf_dispose(&buf);
                if (!default_branch)
                        return fail(ret_error, -ENOENT, "%s has no default branch (is the repository empty?)", c->url);
                branch = default_branch;
                child_progress(c, 0.0, "Default branch is '%s'", branch);
        }

        r = git_remote_ls(&heads, &n_heads, remote);
        if (r < 0)
                return -EIO;
        ref = g_strconcat("refs/heads/", branch, NULL);
        for (size_t i = 0; i < n_heads; i++)
                if (streq(heads[i]->name, ref)) {
                        oid = &heads[i]->oid;
                        break;
                }
        if (!oid)
                return fail(ret_error, -ENOENT, "branch '%s' not found in %s", branch, c->url);

        /* Only that branch, into a name of our own; nothing else of the remote is wanted. */
        refspec = g_strdup_printf("+%s:refs/remotes/origin/%s", ref, branch);
        refspecs = (git_strarray) { .strings = &refspec, .count = 1 };
        child_set_callbacks(c, &fetch_opts.callbacks);
        fetch_opts.follow_redirects = GIT_REMOTE_REDIRECT_INITIAL;
        fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
        fetch_opts.depth = 1;
#endif
        r = git_remote_download(remote, &refspecs, &fetch_opts);
        if (r < 0)
                return -EIO;
        (void) git_remote_disconnect(remote);

        r = git_object_lookup(&commit, repo, oid, GIT_OBJECT_ANY);
        if (r >= 0) {
                git_object *peeled = NULL;

                r = git_object_peel(&peeled, commit, GIT_OBJECT_COMMIT);
                git_object_free(commit);
                commit = peeled;
        }
        if (r < 0)
                return -EIO;

        /* Count before writing anything, so a too big tree leaves nothing behind to race with. */
        r = git_commit_tree(&tree, (git_commit *) commit);
        if (r < 0)
                return -EIO;
        r = git_tree_walk(tree, GIT_TREEWALK_PRE, count_files, c);
        if (r < 0)
                return -EIO;

        checkout_opts.checkout_strategy = GIT_CHECKOUT_FORCE;
        checkout_opts.notify_flags = GIT_CHECKOUT_NOTIFY_UPDATED;
        checkout_opts.notify_cb = on_checkout_notify;
        checkout_opts.notify_payload = c;
        checkout_opts.progress_cb = on_checkout_progress;
        checkout_opts.progress_payload = c;
        r = git_checkout_tree(repo, commit, &checkout_opts);
        if (r < 0)
                return -EIO;

        git_oid_tostr(sha, sizeof(sha), git_object_id(commit));
        *ret_commit = g_strdup(sha);
        return 0;
}

__attribute__((noreturn))
static void child_run(FetchChild *c, const char *branch) {
        g_autofree char *commit = NULL, *error = NULL, *record = NULL;
        int r;

        r = child_fetch(c, branch, &commit, &error);
        if (r >= 0) {
                record = g_strconcat("C", commit, NULL);
                child_write(c, record);
                _exit(EXIT_SUCCESS);
        }

        /* A callback's reason beats libgit2's "callback returned -1". */
        if (c->abort_reason != 0) {
                r = c->abort_reason;
                g_free(error);
                error = TAKE_PTR(c->abort_message);
        } else if (!error) {
                const git_error *e = git_error_last();
                error = g_strdup(e && e->message ? e->message : "unknown libgit2 error");
        }
        record = g_strdup_printf("E%d %s", -r, error);
        child_write(c, record);
        _exit(EXIT_FAILURE);
}

/* ---- the parent: watchdog and relay ---- */

typedef struct FetchParent {
        SourceGitProgress progress;
        void *userdata;
        char *commit;
        char *error;
        int error_code;
} FetchParent;

static void fetch_parent_done(FetchParent *p) {
        g_free(p->commit);
        g_free(p->error);
}

static void parent_handle_record(FetchParent *p, const char *record) {
        switch (record[0]) {

        case 'P': {
                char *end = NULL;
                double fraction = g_ascii_strtod(record + 1, &end);

                if (end && *end == ' ' && p->progress)
                        p->progress(end + 1, fraction, p->userdata);
                break;
        }

        case 'C':
                if (strlen(record + 1) == GIT_OID_HEXSZ && !p->commit)
                        p->commit = g_strdup(record + 1);
                break;

        case 'E': {
                char *end = NULL;
                long v = strtol(record + 1, &end, 10);

                if (end && *end == ' ' && v > 0 && v < 4096 && !p->error) {
                        p->error_code = (int) -v;
                        p->error = g_strdup(end + 1);
                }
                break;
        }
        }
}

/* Reads records until EOF or the deadline. Returns 0 at EOF, -ETIMEDOUT, or another errno. */
static int parent_relay(FetchParent *p, int fd, uint64_t deadline) {
        g_autoptr(GString) buf = g_string_new(NULL);

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                char chunk[4096];
                char *nl;
                ssize_t n;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&pfd, 1, (int) MIN((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (uint64_t) INT_MAX));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        continue;

                n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (IN_SET(errno, EINTR, EAGAIN))
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return 0;
                g_string_append_len(buf, chunk, n);

                while ((nl = memchr(buf->str, '\n', buf->len))) {
                        *nl = 0;
                        parent_handle_record(p, buf->str);
                        g_string_erase(buf, 0, nl - buf->str + 1);
                }
        }
}

static int wait_child(pid_t pid, int *ret_status) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_status = status;
        return 0;
}

int source_git_fetch(
                const char *url,
                const char *branch,
                bool allow_local,
                const char *dest,
                const SourceGitLimits *limits,
                SourceGitProgress progress,
                void *userdata,
                char **ret_commit,
                char **ret_error) {

        _cleanup_(fetch_parent_done) FetchParent p = { .progress = progress, .userdata = userdata };
        FetchChild c = {};
        _cleanup_close_ int read_fd = -1, write_fd = -1;
        g_autofree char *dot_git = NULL, *t = NULL;
        uint64_t start;
        int fds[2], status = 0;
        pid_t parent_pid, pid;
        bool child_ok;
        int r;

        g_return_val_if_fail(dest, -EINVAL);
        g_return_val_if_fail(ret_commit, -EINVAL);

        r = source_git_validate_url(url, allow_local, ret_error);
        if (r < 0)
                return r;
        if (branch) {
                r = source_git_validate_branch(branch, ret_error);
                if (r < 0)
                        return r;
        }

        c.url = url;
        c.dest = dest;
        c.last_percent = -1;
        limits_normalize(limits, &c.limits);
        start = now_usec(CLOCK_MONOTONIC);
        c.deadline = start + c.limits.timeout_usec;

        if (mkdir(dest, 0755) < 0) {
                if (errno == EEXIST)
                        return fail(ret_error, -EEXIST, "destination %s already exists", dest);
                r = -errno;
                return fail(ret_error, r, "cannot create %s: %s", dest, g_strerror(-r));
        }

        if (progress) {
                g_autofree char *line = g_strdup_printf("Fetching %s (%s)", url, branch ?: "default branch");
                progress(line, 0.0, userdata);
        }

        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = -errno;
                (void) rm_rf(dest);
                return fail(ret_error, r, "cannot create a pipe: %s", g_strerror(-r));
        }
        read_fd = fds[0];
        write_fd = fds[1];

        parent_pid = getpid();
        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) rm_rf(dest);
                return fail(ret_error, r, "cannot fork: %s", g_strerror(-r));
        }
        if (pid == 0) {
                /* Die with the caller (a cancelled build worker is SIGKILLed). */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent_pid)
                        _exit(EXIT_FAILURE);
                /* A server that hangs up is an error to report, not a reason to die silently. */
                (void) signal(SIGPIPE, SIG_IGN);
                c.fd = write_fd;
                child_run(&c, branch);
        }

        close(TAKE_FD(write_fd));
        r = parent_relay(&p, read_fd, c.deadline + WATCHDOG_GRACE_USEC);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        /* If it cannot be waited for (SIGCHLD ignored by the caller), trust its records. */
        child_ok = wait_child(pid, &status) < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0);

        if (r == -ETIMEDOUT) {
                t = format_timeout(c.limits.timeout_usec);
                r = fail(ret_error, -ETIMEDOUT, "timed out after %s", t);
        } else if (r < 0)
                r = fail(ret_error, r, "lost the fetch worker: %s", g_strerror(-r));
        else if (p.commit && child_ok)
                r = 0;
        else if (p.error)
                r = fail(ret_error, p.error_code, "%s", p.error);
        else if (WIFSIGNALED(status))
                r = fail(ret_error, -EIO, "fetch worker killed by signal %s", strsignal(WTERMSIG(status)));
        else
                r = fail(ret_error, -EIO, "fetch worker failed without a message");

        if (r >= 0) {
                dot_git = g_build_filename(dest, ".git", NULL);
                r = rm_rf(dot_git);
                if (r < 0)
                        r = fail(ret_error, r, "cannot remove %s: %s", dot_git, g_strerror(-r));
        }
        if (r < 0) {
                (void) rm_rf(dest);
                return r;
        }

        if (progress) {
                g_autofree char *line = g_strdup_printf("Checked out %s", p.commit);
                progress(line, 1.0, userdata);
        }
        *ret_commit = TAKE_PTR(p.commit);
        return 0;
}
