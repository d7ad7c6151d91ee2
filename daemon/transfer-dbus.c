/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.containers.Manager: images and containers that move: ExportImage, ImportImage, ExportContainer, ImportContainer, PullImage. */
#include <fcntl.h>

#include "build.h"
#include "bus-util.h"
#include "errors.h"
#include "image.h"
#include "manager-dbus.h"
#include "options.h"
#include "container.h"
#include "polkit.h"
#include "transfer.h"

/* Takes the message's reference. */
static void reply_transfer(Manager *m, Image *image, int error, const char *message, void *userdata) {
        sd_bus_message *msg = userdata;

        if (error == -EBADMSG)
                (void) sd_bus_reply_method_errorf(msg, CM_ERROR_INVALID_ARCHIVE, "%s", message ?: "Invalid archive");
        else if (error == -ENOENT)
                (void) sd_bus_reply_method_errorf(msg, CM_ERROR_NO_SUCH_BASE, "%s", message ?: "No such base");
        else if (error < 0)
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "%s", message ?: g_strerror(-error));
        else if (image) {
                g_autofree char *path = image_object_path(image);
                (void) sd_bus_reply_method_return(msg, "o", path);
        } else
                (void) sd_bus_reply_method_return(msg, NULL);
        sd_bus_message_unref(msg);
}

/* What every fd method here starts with: (s name, h fd, a{sv} options), the name checked as
 * kind's, the descriptor open the way the method uses it. */
static int read_name_fd_options(sd_bus_message *msg, const char *kind, bool write, const OptionSpec *specs,
                                const char **ret_name, int *ret_fd, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(msg, "sh", ret_name, ret_fd);
        if (r < 0)
                return r;
        r = bus_read_options(msg, specs, error);
        if (r < 0)
                return r;
        r = bus_check_name(kind, *ret_name, error);
        if (r < 0)
                return r;
        return bus_check_fd(*ret_fd, write, NULL, error);
}

static int check_compression(const char *compression, sd_bus_error *error) {
        if (compression && !STR_IN_SET(compression, "none", "gzip", "zstd"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid compression '%s': none, gzip or zstd", compression);
        return 0;
}

static int method_export_image(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *compression = NULL;
        const OptionSpec specs[] = {
                { "compression", "s", &compression },
                {},
        };
        const char *name;
        Image *i;
        int fd, r;

        r = read_name_fd_options(msg, "image", true, specs, &name, &fd, error);
        if (r < 0)
                return r;
        r = check_compression(compression, error);
        if (r < 0)
                return r;
        i = manager_get_image(m, name);
        if (!i)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "No image '%s'", name);

        const char *details[] = { "image", name, "verb", "export", NULL };
        r = polkit_check(m, msg, CM_ACTION_BUILD, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = transfer_export_image(m, i, fd, compression, reply_transfer, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

static int method_import_image(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *base = NULL;
        const OptionSpec specs[] = {
                { "base", "s", &base },
                {},
        };
        const char *name;
        int fd, r;

        r = read_name_fd_options(msg, "image", false, specs, &name, &fd, error);
        if (r < 0)
                return r;
        if (base) {
                Image *b = manager_get_image(m, base);
                if (!b || !b->is_base)
                        return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_BASE, "No base '%s'", base);
        }

        const char *details[] = { "image", name, "verb", "import", NULL };
        r = polkit_check(m, msg, CM_ACTION_BUILD, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = transfer_import_image(m, name, fd, base, reply_transfer, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

static int method_export_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *compression = NULL;
        bool include_image = true;
        const OptionSpec specs[] = {
                { "image", "b", &include_image },
                { "compression", "s", &compression },
                {},
        };
        const char *name;
        Container *c;
        int fd, r;

        r = read_name_fd_options(msg, "container", true, specs, &name, &fd, error);
        if (r < 0)
                return r;
        r = check_compression(compression, error);
        if (r < 0)
                return r;
        c = manager_get_container(m, name);
        if (!c)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_CONTAINER, "No container '%s'", name);

        const char *details[] = { "container", name, "image", c->image, "verb", "export", NULL };
        r = polkit_check(m, msg, CM_ACTION_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (include_image) {
                /* A base is on every installation: an archive never carries it (ImageIncluded false). */
                Image *i = manager_get_image(m, c->image);
                include_image = !i || !i->is_base;
        }
        r = transfer_export_container(m, c, fd, include_image, compression, reply_transfer, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

static void reply_container(Manager *m, Container *c, int error, const char *error_name, const char *message, void *userdata) {
        sd_bus_message *msg = userdata;

        if (!c || error < 0)
                (void) sd_bus_reply_method_errorf(msg, error_name ?: SD_BUS_ERROR_FAILED, "%s", message ?: g_strerror(-error));
        else {
                g_autofree char *path = container_object_path(c);
                (void) sd_bus_reply_method_return(msg, "o", path);
        }
        sd_bus_message_unref(msg);
}

static int method_import_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        Manager *m = userdata;
        g_autofree char *image = NULL;
        const OptionSpec specs[] = {
                { "image", "s", &image },
                {},
        };
        const char *name;
        int fd, allow_image, r;

        r = read_name_fd_options(msg, "container", false, specs, &name, &fd, error);
        if (r < 0)
                return r;
        r = bus_check_new_container_name(name, error);
        if (r < 0)
                return r;
        if (image) {
                r = bus_check_name("image", image, error);
                if (r < 0)
                        return r;
        }

        const char *details[] = { "container", name, "verb", "import", NULL };
        r = polkit_check(m, msg, CM_ACTION_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        /* A stream may carry an image too, which needs build as ImportImage does. Whether it
         * does shows only in the stream: asked now (never prompting: a stream without an image
         * needs nothing more), the worker refuses an image before anything is written. */
        const char *build_details[] = { "container", name, "image", image ?: "", "verb", "import", NULL };
        allow_image = polkit_check_full(m, msg, CM_ACTION_BUILD, build_details, false, &denied);
        if (allow_image == 0)
                return 1;

        r = transfer_import_container(m, name, fd, image, allow_image > 0, reply_container, sd_bus_message_ref(msg), error);
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

/* As Build: returns a build object (org.containers.Build) at once; Wait() replies when done. */
static int method_pull_image(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *base = NULL, *path = NULL;
        int tls_verify = true;
        const OptionSpec specs[] = {
                { "tls_verify", "b", &tls_verify },
                { "base", "s", &base },
                {},
        };
        const char *name, *reference;
        Build *b;
        int r;

        r = sd_bus_message_read(msg, "ss", &name, &reference);
        if (r < 0)
                return r;
        r = bus_read_options(msg, specs, error);
        if (r < 0)
                return r;
        r = bus_check_name("image", name, error);
        if (r < 0)
                return r;
        if (manager_get_image(m, name) || manager_build_pending_for(m, name))
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_EXISTS, "Image '%s' already exists or is being built", name);
        if (!transfer_reference_is_valid(reference))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid reference: HOST[:PORT]/NAME[:TAG|@sha256:DIGEST] without a transport or credentials");
        if (base) {
                Image *bi = manager_get_image(m, base);
                if (!bi || !bi->is_base)
                        return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_BASE, "No base '%s'", base);
        }

        const char *details[] = { "image", name, "verb", "pull", "reference", reference, NULL };
        r = polkit_check(m, msg, CM_ACTION_BUILD, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = build_start(m, &(BuildOptions) {
                .name = name,
                .url = reference,
                .pull = true,
                .tls_verify = tls_verify,
                .base = base,
        }, &b);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot start the pull: %m");
        path = build_object_path(b);
        return sd_bus_reply_method_return(msg, "o", path);
}

const sd_bus_vtable manager_transfer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ExportImage", SD_BUS_ARGS("s", name, "h", out, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_export_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportImage", SD_BUS_ARGS("s", name, "h", in, "a{sv}", options), SD_BUS_RESULT("o", image),
                                method_import_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PullImage", SD_BUS_ARGS("s", name, "s", reference, "a{sv}", options), SD_BUS_RESULT("o", build),
                                method_pull_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExportContainer", SD_BUS_ARGS("s", name, "h", out, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_export_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportContainer", SD_BUS_ARGS("s", name, "h", in, "a{sv}", options), SD_BUS_RESULT("o", container),
                                method_import_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
