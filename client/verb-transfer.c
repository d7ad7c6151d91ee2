/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* export and import: a container (default) or an image (--image) as a tar stream, to or from a
 * file or stdout/stdin, through a pipe we relay with progress. import --image also reads OCI
 * layouts and archives and docker-archives. */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerctl.h"
#include "transfer.h"
#include "verbs.h"

static bool arg_image, arg_with_image = true;
static const char *arg_compression, *arg_base, *arg_image_name;

enum { ARG_IMAGE = ARG_VERB_BASE, ARG_NO_IMAGE, ARG_COMPRESSION, ARG_BASE, ARG_IMAGE_NAME };

static const struct option transfer_options[] = {
        { "image",       no_argument,       NULL, ARG_IMAGE       },
        { "no-image",    no_argument,       NULL, ARG_NO_IMAGE    },
        { "compression", required_argument, NULL, ARG_COMPRESSION },
        { "base",        required_argument, NULL, ARG_BASE        },
        { "as-image",    required_argument, NULL, ARG_IMAGE_NAME  },
        {}
};

static int transfer_option(int c, const char *arg) {
        switch (c) {
        case ARG_IMAGE: arg_image = true; return 0;
        case ARG_NO_IMAGE: arg_with_image = false; return 0;
        case ARG_COMPRESSION: arg_compression = arg; return 0;
        case ARG_BASE: arg_base = arg; return 0;
        case ARG_IMAGE_NAME: arg_image_name = arg; return 0;
        }
        return -EINVAL;
}

/* Exports into out_fd (closed when done). */
int export_to_fd(sd_bus *bus, const char *name, bool image, bool with_image, const char *compression,
                 int out_fd, const char *title) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int rfd = -1;
        _cleanup_free_ char *what = NULL;
        Progress p;
        int fds[2], r;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to make a pipe: %m");
        rfd = fds[0];
        r = bus_message_new_call(bus, &m, MANAGER_PATH, MANAGER_IFACE, image ? "ExportImage" : "ExportContainer");
        if (r >= 0)
                r = sd_bus_message_append(m, "sh", name, fds[1]);
        close(fds[1]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && compression)
                r = sd_bus_message_append(m, "{sv}", "compression", "s", compression);
        if (r >= 0 && !image && !with_image)
                r = sd_bus_message_append(m, "{sv}", "image", "b", 0);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                close(out_fd);
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        }
        if (asprintf(&what, "Failed to export %s %s", image ? "image" : "container", name) < 0) {
                close(out_fd);
                return log_oom();
        }
        progress_begin(&p, title);
        return transfer_call(bus, TAKE_PTR(m), rfd, out_fd, 0, &p, NULL, what);
}

static int run_export(sd_bus *bus, char **args, int n) {
        _cleanup_free_ char *title = NULL;
        int out_fd, r;

        if (n > 1 && strcmp(args[1], "-") != 0) {
                out_fd = open(args[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (out_fd < 0)
                        return log_error_errno(-errno, "Failed to open %s: %m", args[1]);
        } else {
                if (isatty(STDOUT_FILENO)) {
                        fprintf(stderr, "Refusing to write an archive to a terminal: redirect stdout or name a file.\n");
                        return -EUSAGE;
                }
                out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
                if (out_fd < 0)
                        return log_error_errno(-errno, "Failed to duplicate stdout: %m");
        }
        if (asprintf(&title, "Exporting %s", args[0]) < 0)
                return log_oom();
        r = export_to_fd(bus, args[0], arg_image, arg_with_image, arg_compression, out_fd, title);
        if (r < 0 && n > 1 && strcmp(args[1], "-") != 0)
                (void) unlink(args[1]);
        return r;
}

const Verb verb_export = {
        .name = "export", .synopsis = "NAME [FILE]", .summary = "Write a stopped container (or an image) as a tar archive",
        .options_help = "     --image             NAME is an image\n"
                        "     --no-image          Leave the container's image out (the target has it)\n"
                        "     --compression=none|gzip|zstd\n"
                        "Without FILE (or with -), the archive goes to stdout.\n",
        .min_args = 1, .max_args = 2, .options = transfer_options, .option = transfer_option,
        .flags = VERB_FDS, .run = run_export,
};

/* Imports from in_fd (closed when done); total: its size if known. */
int import_from_fd(sd_bus *bus, const char *name, bool image, const char *base, const char *image_name,
                   int in_fd, uint64_t total, const char *title) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *what = NULL;
        _cleanup_close_ int src = in_fd;
        Progress p;
        int fds[2], r;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to make a pipe: %m");
        r = bus_message_new_call(bus, &m, MANAGER_PATH, MANAGER_IFACE, image ? "ImportImage" : "ImportContainer");
        if (r >= 0)
                r = sd_bus_message_append(m, "sh", name, fds[0]);
        close(fds[0]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && image && base)
                r = sd_bus_message_append(m, "{sv}", "base", "s", base);
        if (r >= 0 && !image && image_name)
                r = sd_bus_message_append(m, "{sv}", "image", "s", image_name);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                close(fds[1]);
                return log_error_errno(r, "Failed to build the call: %s", strerror(-r));
        }
        if (asprintf(&what, "Failed to import %s %s", image ? "image" : "container", name) < 0) {
                close(fds[1]);
                return log_oom();
        }
        progress_begin(&p, title);
        return transfer_call(bus, TAKE_PTR(m), src, fds[1], total, &p, NULL, what);
}

static int run_import(sd_bus *bus, char **args, int n) {
        _cleanup_free_ char *title = NULL;
        uint64_t total = 0;
        struct stat st;
        int in_fd;

        if (strcmp(args[0], "-") != 0) {
                in_fd = open(args[0], O_RDONLY | O_CLOEXEC);
                if (in_fd < 0)
                        return log_error_errno(-errno, "Failed to open %s: %m", args[0]);
        } else {
                in_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
                if (in_fd < 0)
                        return log_error_errno(-errno, "Failed to duplicate stdin: %m");
        }
        if (fstat(in_fd, &st) >= 0 && S_ISREG(st.st_mode))
                total = (uint64_t) st.st_size;
        if (asprintf(&title, "Importing %s", args[1]) < 0)
                return log_oom();
        int r = import_from_fd(bus, args[1], arg_image, arg_base, arg_image_name, in_fd, total, title);
        if (r >= 0 && !arg_quiet)
                printf("%s\n", args[1]);
        return r;
}

const Verb verb_import = {
        .name = "import", .synopsis = "FILE|- NAME", .summary = "Make a container (or an image) from an archive",
        .options_help = "     --image             An image (ours, an OCI layout or archive, a docker-archive)\n"
                        "     --base=BASE         --image of an OCI archive: the base under its layers (default busybox)\n"
                        "     --as-image=IMAGE    A container's archive: import the image it carries as IMAGE\n",
        .min_args = 2, .max_args = 2, .options = transfer_options, .option = transfer_option,
        .flags = VERB_FDS, .run = run_import,
};
