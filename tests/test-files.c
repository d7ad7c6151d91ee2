/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The file methods' logic on a directory standing in for a container's root: paths checked,
 * links and ".." kept inside the root, PutFile atomic, the worker's output parsed back. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "files.h"

static void test_path_normalize(void) {
        static const char *const cases[][2] = {
                { "/", "/" },
                { "//", "/" },
                { "/a", "/a" },
                { "/a/", "/a" },
                { "/a//b/./c/", "/a/b/c" },
                { "/./.", "/" },
                { "/a/../b", "/a/../b" },      /* ".." is resolved inside the root, not here */
        };
        static const char *const bad[] = { "", "a", "./a", "a/b", "\xff", NULL };
        g_autofree char *long_path = NULL;
        char *out = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                g_assert_cmpint(files_path_normalize(cases[i][0], &out), ==, 0);
                g_assert_cmpstr(out, ==, cases[i][1]);
                g_free(out);
        }
        for (const char *const *b = bad; *b; b++) {
                out = NULL;
                g_assert_cmpint(files_path_normalize(*b, &out), ==, -EINVAL);
                g_assert_null(out);
        }
        g_assert_cmpint(files_path_normalize(NULL, &out), ==, -EINVAL);
        long_path = g_strnfill(PATH_MAX, 'a');
        long_path[0] = '/';
        g_assert_cmpint(files_path_normalize(long_path, &out), ==, -EINVAL);
}

static void test_fd_header(void) {
        g_autofree char *message = NULL;
        FileInfo info;
        int error;

        g_assert_cmpint(files_fd_header_parse("OK 33188 1000 1001 6 1700000000000000", &info, &error, &message), ==, 0);
        g_assert_cmpint(error, ==, 0);
        g_assert_cmpuint(info.mode, ==, 33188);
        g_assert_cmpuint(info.uid, ==, 1000);
        g_assert_cmpuint(info.gid, ==, 1001);
        g_assert_cmpuint(info.size, ==, 6);
        g_assert_cmpuint(info.mtime_usec, ==, 1700000000000000ULL);
        g_assert_null(message);
        g_assert_cmpint(files_fd_header_parse("ERR 2 Cannot open /x: No such file", &info, &error, &message), ==, 0);
        g_assert_cmpint(error, ==, -ENOENT);
        g_assert_cmpstr(message, ==, "Cannot open /x: No such file");
        g_assert_cmpint(files_fd_header_parse("nonsense", &info, &error, &message), ==, -EBADMSG);
        g_assert_cmpint(files_fd_header_parse("ERR -3 x", &info, &error, &message), ==, -EBADMSG);
}

typedef struct Root {
        char *outside;  /* a directory that stands for the host */
        char *root;     /* the container's root, inside it */
        int root_fd;
} Root;

static void root_setup(Root *r) {
        g_autofree char *tmpl = g_build_filename(g_get_tmp_dir(), "test-files-XXXXXX", NULL);

        r->outside = g_mkdtemp(g_steal_pointer(&tmpl));
        g_assert_nonnull(r->outside);
        r->root = g_build_filename(r->outside, "root", NULL);
        g_assert_cmpint(mkdir_p(r->root, 0755), ==, 0);
        r->root_fd = open(r->root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(r->root_fd, >=, 0);
}

static void root_teardown(Root *r) {
        close(r->root_fd);
        g_assert_cmpint(rm_rf(r->outside), ==, 0);
        g_free(r->outside);
        g_free(r->root);
}

static void write_host(const Root *r, const char *rel, const char *text) {
        g_autofree char *p = g_build_filename(r->outside, rel, NULL);
        g_autofree char *dir = g_path_get_dirname(p);
        g_assert_cmpint(mkdir_p(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static char *read_host(const Root *r, const char *rel) {
        g_autofree char *p = g_build_filename(r->outside, rel, NULL);
        char *text = NULL;
        if (!g_file_get_contents(p, &text, NULL, NULL))
                return NULL;
        return text;
}

/* Runs one request on the root, returns the reply (and the payload). */
static FileReply run(const Root *root, FileRequest *req, GBytes **ret_payload) {
        int fd = memfd_create("reply", MFD_CLOEXEC);
        const uint8_t *payload;
        FileReply reply;
        struct stat st;
        void *map;

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(files_run_in_root(root->root_fd, fd, req), ==, EXIT_SUCCESS);
        g_assert_cmpint(fstat(fd, &st), ==, 0);
        map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        g_assert_true(map != MAP_FAILED);
        g_assert_cmpint(files_reply_parse(map, st.st_size, &reply, &payload), ==, 0);
        if (ret_payload)
                *ret_payload = g_bytes_new(payload, reply.payload_size);
        munmap(map, st.st_size);
        close(fd);
        file_request_free(req);
        return reply;
}

static FileRequest *put_request(const char *path, const char *text) {
        FileRequest *req = file_request_new(FILE_OP_PUT, path);

        req->data = g_bytes_new(text, strlen(text));
        /* Unit tests may run as anybody: give the file to ourselves. */
        req->uid_set = req->gid_set = true;
        req->uid = getuid();
        req->gid = getgid();
        return req;
}

static void test_get_stays_inside(void) {
        g_autoptr(GBytes) data = NULL;
        Root r;
        FileReply reply;

        root_setup(&r);
        write_host(&r, "secret", "host secret\n");
        write_host(&r, "root/etc/shadow", "container shadow\n");
        g_assert_cmpint(symlinkat("/etc/shadow", r.root_fd, "abs"), ==, 0);
        g_assert_cmpint(symlinkat("../../../../etc/shadow", r.root_fd, "rel"), ==, 0);
        g_assert_cmpint(symlinkat("../secret", r.root_fd, "up"), ==, 0);
        g_assert_cmpint(symlinkat("/proc/self/root/etc/passwd", r.root_fd, "magic"), ==, 0);
        g_assert_cmpint(symlinkat("/", r.root_fd, "d"), ==, 0);

        FOREACH_STRING(p, "/abs", "/rel", "/../etc/shadow", "/d/d/etc/shadow") {
                reply = run(&r, file_request_new(FILE_OP_GET, p), &data);
                g_assert_cmpint(reply.error, ==, 0);
                g_assert_cmpmem(g_bytes_get_data(data, NULL), g_bytes_get_size(data), "container shadow\n", 17);
                g_assert_cmpuint(reply.info.size, ==, 17);
                g_assert_true(S_ISREG(reply.info.mode));
                g_clear_pointer(&data, g_bytes_unref);
        }
        /* "../secret" from the root is "/secret" of the root: not there. */
        reply = run(&r, file_request_new(FILE_OP_GET, "/up"), NULL);
        g_assert_cmpint(reply.error, ==, -ENOENT);
        reply = run(&r, file_request_new(FILE_OP_GET, "/magic"), NULL);
        g_assert_cmpint(reply.error, <, 0);
        reply = run(&r, file_request_new(FILE_OP_GET, "/etc"), NULL);
        g_assert_cmpint(reply.error, ==, -EISDIR);
        reply = run(&r, file_request_new(FILE_OP_GET, "/etc/shadow/x"), NULL);
        g_assert_cmpint(reply.error, ==, -ENOTDIR);
        root_teardown(&r);
}

static void test_put_stays_inside(void) {
        g_autofree char *host = NULL, *inside = NULL, *link_target = NULL, *link_path = NULL;
        g_autoptr(GBytes) data = NULL;
        FileRequest *req;
        FileReply reply;
        struct stat st;
        Root r;

        root_setup(&r);
        write_host(&r, "secret", "host secret\n");
        g_assert_cmpint(symlinkat("/", r.root_fd, "d"), ==, 0);
        g_assert_cmpint(symlinkat("../secret", r.root_fd, "up"), ==, 0);

        /* Through a link to "/": the root's file. */
        reply = run(&r, put_request("/d/secret", "via d\n"), NULL);
        g_assert_cmpint(reply.error, ==, 0);
        inside = read_host(&r, "root/secret");
        g_assert_cmpstr(inside, ==, "via d\n");
        /* A link at the name is replaced, its target never written. */
        reply = run(&r, put_request("/up", "replaced\n"), NULL);
        g_assert_cmpint(reply.error, ==, 0);
        g_assert_cmpint(fstatat(r.root_fd, "up", &st, AT_SYMLINK_NOFOLLOW), ==, 0);
        g_assert_true(S_ISREG(st.st_mode));
        host = read_host(&r, "secret");
        g_assert_cmpstr(host, ==, "host secret\n");

        /* make_parents, mode; replacing keeps the mode; no temp file stays. */
        req = put_request("/a/b/c", "abc");
        req->make_parents = true;
        req->mode_set = true;
        req->mode = 0640;
        reply = run(&r, req, NULL);
        g_assert_cmpint(reply.error, ==, 0);
        reply = run(&r, put_request("/a/b/c", "x"), NULL);
        g_assert_cmpint(reply.error, ==, 0);
        g_assert_cmpint(fstatat(r.root_fd, "a/b/c", &st, 0), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0640);
        g_assert_cmpint(st.st_size, ==, 1);
        reply = run(&r, file_request_new(FILE_OP_LIST, "/a/b"), &data);
        g_assert_cmpint(reply.error, ==, 0);
        g_assert_cmpuint(reply.n_entries, ==, 1);
        g_assert_cmpuint(g_bytes_get_size(data), ==, sizeof(FileEntry) + 1);

        /* Without make_parents a missing directory is an error; "/" and ".." are no names. */
        reply = run(&r, put_request("/x/y", "x"), NULL);
        g_assert_cmpint(reply.error, ==, -ENOENT);
        reply = run(&r, put_request("/", "x"), NULL);
        g_assert_cmpint(reply.error, ==, -EINVAL);
        reply = run(&r, put_request("/a/..", "x"), NULL);
        g_assert_cmpint(reply.error, ==, -EINVAL);
        /* A directory is not replaced. */
        reply = run(&r, put_request("/a", "x"), NULL);
        g_assert_cmpint(reply.error, ==, -EISDIR);
        link_path = g_build_filename(r.root, "d", NULL);
        link_target = g_file_read_link(link_path, NULL);
        g_assert_cmpstr(link_target, ==, "/");
        root_teardown(&r);
}

static void test_remove_stays_inside(void) {
        g_autofree char *host = NULL;
        FileRequest *req;
        FileReply reply;
        Root r;

        root_setup(&r);
        write_host(&r, "keep/file", "keep\n");
        write_host(&r, "root/dir/sub/file", "x");
        g_assert_cmpint(symlinkat(r.outside, r.root_fd, "dir/host"), ==, 0);
        g_assert_cmpint(symlinkat("/", r.root_fd, "dir/sub/root"), ==, 0);

        reply = run(&r, file_request_new(FILE_OP_REMOVE, "/dir"), NULL);
        g_assert_cmpint(reply.error, ==, -ENOTEMPTY);
        req = file_request_new(FILE_OP_REMOVE, "/dir");
        req->recursive = true;
        reply = run(&r, req, NULL);
        g_assert_cmpint(reply.error, ==, 0);
        g_assert_cmpint(faccessat(r.root_fd, "dir", F_OK, AT_SYMLINK_NOFOLLOW), ==, -1);
        host = read_host(&r, "keep/file");
        g_assert_cmpstr(host, ==, "keep\n");
        reply = run(&r, file_request_new(FILE_OP_REMOVE, "/dir"), NULL);
        g_assert_cmpint(reply.error, ==, -ENOENT);

        req = file_request_new(FILE_OP_MKDIR, "/m/n");
        req->make_parents = true;
        reply = run(&r, req, NULL);
        g_assert_cmpint(reply.error, ==, 0);
        reply = run(&r, file_request_new(FILE_OP_MKDIR, "/m/n"), NULL);
        g_assert_cmpint(reply.error, ==, -EEXIST);
        root_teardown(&r);
}

static void test_reply_parse(void) {
        FileReply reply = { .error = -ENOENT, .payload_size = 3 };
        g_autofree uint8_t *buf = g_malloc(sizeof(reply) + 3);
        const uint8_t *payload;
        FileReply out;

        memcpy(buf, &reply, sizeof(reply));
        memcpy(buf + sizeof(reply), "abc", 3);
        g_assert_cmpint(files_reply_parse(buf, sizeof(reply) + 3, &out, &payload), ==, 0);
        g_assert_cmpint(out.error, ==, -ENOENT);
        g_assert_cmpmem(payload, 3, "abc", 3);
        /* Short, or a payload that does not match its size: refused. */
        g_assert_cmpint(files_reply_parse(buf, sizeof(reply) + 2, &out, &payload), ==, -EBADMSG);
        g_assert_cmpint(files_reply_parse(buf, 10, &out, &payload), ==, -EBADMSG);
        g_assert_cmpint(files_reply_parse(NULL, 0, &out, &payload), ==, -EBADMSG);

        /* A message cut in the middle of a character ends before it. */
        memset(reply.message, 'a', sizeof(reply.message));
        reply.message[sizeof(reply.message) - 2] = '\xc3';   /* the last byte kept: half of "é" */
        reply.payload_size = 0;
        memcpy(buf, &reply, sizeof(reply));
        g_assert_cmpint(files_reply_parse(buf, sizeof(reply), &out, &payload), ==, 0);
        g_assert_cmpuint(strlen(out.message), ==, sizeof(out.message) - 2);
        g_assert_true(g_utf8_validate(out.message, -1, NULL));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/files/path-normalize", test_path_normalize);
        g_test_add_func("/files/fd-header", test_fd_header);
        g_test_add_func("/files/reply-parse", test_reply_parse);
        g_test_add_func("/files/get-stays-inside", test_get_stays_inside);
        g_test_add_func("/files/put-stays-inside", test_put_stays_inside);
        g_test_add_func("/files/remove-stays-inside", test_remove_stays_inside);
        return g_test_run();
}
