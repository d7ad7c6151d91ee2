/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Translates bus calls on /org/containers/Manager to manager.c and container.c. */
#include "autostart.h"
#include "build-dbus.h"
#include "build.h"
#include "container-dbus.h"
#include "container.h"
#include "source-git.h"
#include "store.h"
#include "errors.h"
#include "image-dbus.h"
#include "image.h"
#include "limit.h"
#include "log.h"
#include "manager-dbus.h"
#include "network.h"
#include "bus-util.h"
#include "options.h"
#include "polkit.h"

static void reply_create_done(Container *c, int error, const char *message, void *userdata) {
        sd_bus_message *msg = userdata;
        Manager *m = c->manager;

        if (error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                (void) sd_bus_error_setf(&e, CM_ERROR_START_FAILED, "Container '%s' failed to start: %s",
                                         c->name, message ?: g_strerror(-error));
                if (error != -ECANCELED && !c->removing)
                        /* A Create that fails changes nothing: take the container back, then answer. */
                        (void) manager_remove_container_deferred(m, c, msg, &e);
                else
                        (void) sd_bus_reply_method_error(msg, &e);
                sd_bus_message_unref(msg);
                return;
        }
        g_autofree char *path = container_object_path(c);
        (void) sd_bus_reply_method_return(msg, "o", path);
        sd_bus_message_unref(msg);
}

/* Create's options that are not manager_create_container()'s own: written with the rest. */
typedef struct CreateOptions {
        NetworkAssignment *net;
        uint64_t log_interval;  /* UINT64_MAX: not given */
        uint32_t log_burst;     /* UINT32_MAX: not given */
        const ContainerLimits *limits;
        const ContainerPolicy *policy;
        bool nesting;
} CreateOptions;

static void configure_created(Container *c, void *userdata) {
        const CreateOptions *o = userdata;

        network_assignment_apply(o->net, c);
        c->log_rate_limit_interval_set = o->log_interval != UINT64_MAX;
        c->log_rate_limit_interval_usec = o->log_interval;
        c->log_rate_limit_burst_set = o->log_burst != UINT32_MAX;
        c->log_rate_limit_burst = o->log_burst;
        c->limits = *o->limits;
        c->nesting = o->nesting;
        policy_done(&c->policy);
        policy_copy(&c->policy, o->policy);
}

/* The last step of Create: start the container (the reply comes once it runs) or reply now. */
static int create_finish(Container *c, sd_bus_message *msg, bool start, sd_bus_error *error) {
        int r;

        if (start) {
                r = container_start(c, reply_create_done, sd_bus_message_ref(msg), error);
                if (r < 0) {
                        sd_bus_message_unref(msg);
                        (void) manager_remove_container(c->manager, c);
                        return r;
                }
                return 1;
        }

        g_autofree char *path = container_object_path(c);
        return sd_bus_reply_method_return(msg, "o", path);
}

/* Create with autostart: its unit is enabled before the container starts or is announced as
 * made; if systemd refuses, the container goes again and the error carries systemd's text. */
typedef struct CreateAutostart {
        sd_bus_message *msg;
        char *name;
        char id[33];
        bool start;
} CreateAutostart;

static void create_autostart_free(CreateAutostart *ca) {
        sd_bus_message_unref(ca->msg);
        g_free(ca->name);
        g_free(ca);
}

static Container *create_autostart_container(Manager *m, CreateAutostart *ca) {
        Container *c = manager_get_container(m, ca->name);

        if (c && streq(c->id, ca->id))
                return c;
        (void) sd_bus_reply_method_errorf(ca->msg, CM_ERROR_NO_SUCH_CONTAINER,
                                          "Container '%s' was removed while it was being created", ca->name);
        return NULL;
}

static void on_create_refreshed(Manager *m, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        CreateAutostart *ca = userdata;
        Container *c = create_autostart_container(m, ca);
        int r;

        if (c) {
                r = create_finish(c, ca->msg, ca->start, &e);
                if (r < 0) {
                        if (!sd_bus_error_is_set(&e))
                                (void) sd_bus_error_set_errno(&e, r);
                        (void) sd_bus_reply_method_error(ca->msg, &e);
                }
        }
        create_autostart_free(ca);
}

static void on_create_enabled(Manager *m, const sd_bus_error *error, void *userdata) {
        CreateAutostart *ca = userdata;
        Container *c = create_autostart_container(m, ca);
        int r;

        if (!c)
                return create_autostart_free(ca);
        if (error) {
                g_autofree char *unit = autostart_unit_name(ca->name);

                c->policy.autostart = false; /* nothing to disable on the way out */
                (void) manager_remove_container(m, c);
                (void) sd_bus_reply_method_errorf(ca->msg, CM_ERROR_AUTOSTART_FAILED,
                                                  "systemd refused to enable %s, so container '%s' was not created: %s",
                                                  unit, ca->name, error->message ?: error->name);
                return create_autostart_free(ca);
        }
        r = autostart_refresh_async(m, true, on_create_refreshed, ca);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask systemd to reload");
                on_create_refreshed(m, NULL, ca);
        }
}

static int create_enable_autostart(Container *c, sd_bus_message *msg, bool start, sd_bus_error *error) {
        CreateAutostart *ca = g_new0(CreateAutostart, 1);
        int r;

        ca->msg = sd_bus_message_ref(msg);
        ca->name = g_strdup(c->name);
        memcpy(ca->id, c->id, sizeof(ca->id));
        ca->start = start;
        r = autostart_link_async(c->manager, c->name, NULL, on_create_enabled, ca);
        if (r < 0) {
                create_autostart_free(ca);
                c->policy.autostart = false;
                (void) manager_remove_container(c->manager, c);
                return sd_bus_error_set_errnof(error, r, "Cannot ask systemd to enable the unit of '%s': %m", c->name);
        }
        return 1;
}

static int method_create(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_auto(GStrv) environment = NULL, command = NULL;
        const char *image, *name;
        bool start = true, ephemeral = false, privileged = false, nesting = false;
        /* The largest values stand for "not given" (bus_read_options() does not say). */
        uint64_t log_interval = UINT64_MAX;
        uint32_t log_burst = UINT32_MAX;
        g_autofree char *network = NULL, *ipv4_address = NULL, *mac_address = NULL;
        g_autoptr(GPtrArray) ports = NULL;
        _cleanup_(network_assignment_clear) NetworkAssignment net = {};
        ContainerLimits no_limits, limits;
        LimitOptions limit_options;
        _cleanup_(policy_done) ContainerPolicy policy = {};
        _cleanup_(policy_options_done) PolicyOptions policy_options = {};
        Container *c;
        int r;

        limits_init(&no_limits);
        limit_options_init(&limit_options, &no_limits);
        policy_init(&policy);
        policy_options_init(&policy_options, &policy);
        r = sd_bus_message_read(msg, "ss", &image, &name);
        if (r < 0)
                return r;
        r = bus_read_environment(msg, &environment, error);
        if (r < 0)
                return r;
        r = bus_read_options(msg, (const OptionSpec[]) {
                { "start", "b", &start },
                { "command", "as", &command },
                { "ephemeral", "b", &ephemeral },
                { "privileged", "b", &privileged },
                { "nesting", "b", &nesting },
                { "log_rate_limit_interval_usec", "t", &log_interval },
                { "log_rate_limit_burst", "u", &log_burst },
                { "network", "s", &network },
                { "ipv4_address", "s", &ipv4_address },
                { "mac_address", "s", &mac_address },
                { "ports", "a(sqq)", &ports },
                LIMIT_OPTION_SPECS(&limit_options),
                POLICY_OPTION_SPECS(&policy_options),
                {}
        }, error);
        if (r < 0)
                return r;
        r = limit_options_to_limits(&limit_options, &limits, error);
        if (r < 0)
                return r;
        r = policy_options_to_policy(&policy_options, &policy, error);
        if (r < 0)
                return r;

        r = bus_check_new_container_name(name, error);
        if (r < 0)
                return r;
        if (manager_get_container(m, name))
                return sd_bus_error_setf(error, CM_ERROR_CONTAINER_EXISTS, "Container '%s' already exists", name);
        Image *img = manager_get_image(m, image);
        if (!img)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "No image '%s'", image);
        if (command && !command[0])
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'command' must not be empty");
        for (char **a = command; a && *a; a++)
                if (!g_utf8_validate(*a, -1, NULL))
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'command' is not valid UTF-8");
        if ((!command || !command[0]) && (!img->command || !img->command[0]))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Image '%s' has no command: pass option 'command'", image);

        /* Checked again after polkit answered, right before the container takes them. */
        r = network_assign(m, network, ipv4_address, mac_address, ports, &net, error);
        if (r < 0)
                return r;

        const char *details[] = { "container", name, "image", image, "verb", "create", NULL };
        r = polkit_check(m, msg, CM_ACTION_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (privileged || nesting) {
                /* Root on the host in all but name (privileged), or the kernel's user namespace
                 * code open to the container (nesting): asked for separately, every time. */
                r = polkit_check(m, msg, CM_ACTION_PRIVILEGED, details, error);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }

        {
                CreateOptions o = {
                        .net = &net,
                        .log_interval = log_interval,
                        .log_burst = log_burst,
                        .limits = &limits,
                        .policy = &policy,
                        .nesting = nesting,
                };
                r = manager_create_container(m, image, name, environment, command, ephemeral, privileged,
                                             configure_created, &o, &c, error);
                if (r < 0)
                        return r;
        }
        assert_se(network_claim(m->network, c) >= 0);
        if (c->network == NETWORK_BRIDGE)
                network_sync(m);

        if (c->policy.autostart)
                return create_enable_autostart(c, msg, start, error);
        return create_finish(c, msg, start, error);
}

static int method_list(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        g_autoptr(GList) values = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssso)");
        if (r < 0)
                return r;
        values = g_hash_table_get_values(m->containers);
        for (GList *l = values; l; l = l->next) {
                Container *c = l->data;
                g_autofree char *path = container_object_path(c);

                r = sd_bus_message_append(reply, "(ssso)", c->name, c->image, container_state_to_string(c->state), path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int lookup_container(Manager *m, sd_bus_message *msg, Container **ret, sd_bus_error *error) {
        const char *name;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_check_name("container", name, error);
        if (r < 0)
                return r;
        *ret = manager_get_container(m, name);
        if (!*ret)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_CONTAINER, "No container '%s'", name);
        return 0;
}

static int method_get_container(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Container *c;
        int r;

        r = lookup_container(userdata, msg, &c, error);
        if (r < 0)
                return r;
        g_autofree char *path = container_object_path(c);
        return sd_bus_reply_method_return(msg, "o", path);
}

static void reply_remove_done(Container *c, int error, const char *message, void *userdata) {
        sd_bus_message *msg = userdata;

        if (error < 0) {
                c->removing = false;
                (void) store_save_container_runtime(c);
                if (c->policy.autostart)
                        /* The Remove disabled it first: it stays, so does its unit. */
                        (void) autostart_link_async(c->manager, c->name, NULL, NULL, NULL);
                (void) sd_bus_reply_method_errorf(msg, CM_ERROR_START_FAILED, "Cannot stop container '%s': %s",
                                                  c->name, message ?: g_strerror(-error));
                sd_bus_message_unref(msg);
                return;
        }
        (void) manager_remove_container_deferred(c->manager, c, msg, NULL);
        sd_bus_message_unref(msg);
}

static int remove_continue(Container *c, sd_bus_message *msg, sd_bus_error *error);

/* Remove of a container with autostart: its unit is disabled first; if systemd refuses,
 * nothing changes. */
typedef struct RemoveAutostart {
        sd_bus_message *msg;
        char *name;
        char id[33];
} RemoveAutostart;

static void on_remove_disabled(Manager *m, const sd_bus_error *error, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        RemoveAutostart *ra = userdata;
        Container *c = manager_get_container(m, ra->name);
        int r;

        if (!c || !streq(c->id, ra->id))
                (void) sd_bus_error_setf(&e, CM_ERROR_NO_SUCH_CONTAINER, "No container '%s'", ra->name);
        else if (error) {
                g_autofree char *unit = autostart_unit_name(ra->name);
                (void) sd_bus_error_setf(&e, CM_ERROR_AUTOSTART_FAILED, "systemd refused to disable %s (nothing changed): %s",
                                         unit, error->message ?: error->name);
        } else if (c->removing)
                (void) sd_bus_error_setf(&e, CM_ERROR_NO_SUCH_CONTAINER, "Container '%s' is being removed", c->name);
        else {
                r = remove_continue(c, ra->msg, &e);
                if (r < 0 && !sd_bus_error_is_set(&e))
                        (void) sd_bus_error_set_errno(&e, r);
        }
        if (sd_bus_error_is_set(&e))
                (void) sd_bus_reply_method_error(ra->msg, &e);
        sd_bus_message_unref(ra->msg);
        g_free(ra->name);
        g_free(ra);
}

static int remove_disable_autostart(Container *c, sd_bus_message *msg, sd_bus_error *error) {
        RemoveAutostart *ra = g_new0(RemoveAutostart, 1);
        int r;

        ra->msg = sd_bus_message_ref(msg);
        ra->name = g_strdup(c->name);
        memcpy(ra->id, c->id, sizeof(ra->id));
        r = autostart_link_async(c->manager, NULL, c->name, on_remove_disabled, ra);
        if (r < 0) {
                sd_bus_message_unref(ra->msg);
                g_free(ra->name);
                g_free(ra);
                return sd_bus_error_set_errnof(error, r, "Cannot ask systemd to disable the unit of '%s': %m", c->name);
        }
        return 1;
}

static int method_remove(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        Container *c;
        int r;

        r = lookup_container(m, msg, &c, error);
        if (r < 0)
                return r;

        const char *details[] = { "container", c->name, "image", c->image, "verb", "remove", NULL };
        r = polkit_check(m, msg, CM_ACTION_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (c->removing)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_CONTAINER, "Container '%s' is being removed", c->name);
        if (c->policy.autostart)
                return remove_disable_autostart(c, msg, error);
        return remove_continue(c, msg, error);
}

static int remove_continue(Container *c, sd_bus_message *msg, sd_bus_error *error) {
        Manager *m = c->manager;
        int r;

        if (container_is_active(c)) {
                r = container_stop(c, reply_remove_done, sd_bus_message_ref(msg), error);
                if (r < 0) {
                        sd_bus_message_unref(msg);
                        return r;
                }
                c->removing = true;
                (void) store_save_container_runtime(c);
                return 1;
        }

        r = manager_remove_container(m, c);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot remove container: %m");
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_images(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        g_autoptr(GList) values = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssssto)");
        if (r < 0)
                return r;
        values = g_hash_table_get_values(m->images);
        for (GList *l = values; l; l = l->next) {
                Image *i = l->data;
                g_autofree char *path = image_object_path(i);

                r = sd_bus_message_append(reply, "(ssssto)", i->name, i->base ?: "", i->url ?: "", i->commit ?: "",
                                          i->created_usec, path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_image(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name;
        Image *i;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_check_name("image", name, error);
        if (r < 0)
                return r;
        i = manager_get_image(m, name);
        if (!i)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "No image '%s'", name);
        g_autofree char *path = image_object_path(i);
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_build(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *branch = NULL, *subdir = NULL, *run_file = NULL, *url_error = NULL;
        const char *name, *url;
        bool root;
        Build *b;
        int r;

        r = sd_bus_message_read(msg, "ss", &name, &url);
        if (r < 0)
                return r;
        r = bus_read_options(msg, (const OptionSpec[]) {
                { "branch", "s", &branch },
                { "subdir", "s", &subdir },
                { "run_file", "s", &run_file },
                {}
        }, error);
        if (r < 0)
                return r;

        r = bus_check_name("image", name, error);
        if (r < 0)
                return r;
        if (manager_get_image(m, name) || manager_build_pending_for(m, name))
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_EXISTS, "Image '%s' already exists or is being built", name);

        /* A root service must not read a private repository on a user's behalf. */
        root = bus_sender_is_root(msg);
        if (source_git_validate_url(url, root, &url_error) < 0) {
                if (!root && source_git_validate_url(url, true, NULL) >= 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Only root may build from file:// URLs and local paths ('%s')", url);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid URL: %s", url_error);
        }
        /* Nor fetch from this machine's loopback or a link-local address (a cloud's metadata
         * service) for someone else: literal hosts here, the name looked up in the worker. */
        if (!root) {
                g_autofree char *e = NULL;
                if (source_git_check_host_literal(url, &e) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Only root may build from '%s': %s", url, e);
        }
        if (!isempty(branch)) {
                g_autofree char *e = NULL;
                if (source_git_validate_branch(branch, &e) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid branch: %s", e);
        }
        if (subdir && !build_relative_path_is_valid(subdir))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'subdir' must be a relative path inside the repository without '..', not '%s'", subdir);
        if (run_file && !build_relative_path_is_valid(run_file))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'run_file' must be a relative path inside the project without '..', not '%s'", run_file);

        const char *details[] = { "image", name, "verb", "build", NULL };
        r = polkit_check(m, msg, CM_ACTION_BUILD, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = build_start(m, &(BuildOptions) {
                .name = name,
                .url = url,
                .branch = branch,
                .subdir = subdir,
                .run_file = run_file,
                .allow_local = root,
        }, &b);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot start the build: %m");

        g_autofree char *path = build_object_path(b);
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_remove_image(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        g_autofree char *dir = NULL;
        const char *name;
        Image *i;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = bus_check_name("image", name, error);
        if (r < 0)
                return r;
        i = manager_get_image(m, name);
        if (!i)
                return sd_bus_error_setf(error, CM_ERROR_NO_SUCH_IMAGE, "No image '%s'", name);
        if (i->is_base)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Image '%s' is a base shipped with the package", name);

        const char *details[] = { "image", name, "verb", "remove", NULL };
        r = polkit_check(m, msg, CM_ACTION_BUILD, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        Container *user = image_in_use(i);
        if (user)
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_IN_USE, "Image '%s' is used by container '%s'", name, user->name);
        Image *child = image_child(i);
        if (child)
                return sd_bus_error_setf(error, CM_ERROR_IMAGE_IN_USE, "Image '%s' holds the lower layers of image '%s'", name, child->name);

        dir = manager_image_dir(m, name);
        r = manager_remove_tree(m, dir);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot remove image '%s': %m", name);

        image_send_removed(i);
        g_hash_table_remove(m->images, name);
        return sd_bus_reply_method_return(msg, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Create",
                                SD_BUS_ARGS("s", image, "s", name, "a{ss}", environment, "a{sv}", options),
                                SD_BUS_RESULT("o", container),
                                method_create, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("List", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssso)", containers),
                                method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Remove", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                                method_remove, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetContainer", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", container),
                                method_get_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Images", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssssto)", images),
                                method_images, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetImage", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", image),
                                method_get_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Build", SD_BUS_ARGS("s", name, "s", url, "a{sv}", options), SD_BUS_RESULT("o", build),
                                method_build, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveImage", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                                method_remove_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ContainerNew", SD_BUS_ARGS("s", name, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ContainerRemoved", SD_BUS_ARGS("s", name, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ImageNew", SD_BUS_ARGS("s", name, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ImageRemoved", SD_BUS_ARGS("s", name, "o", path), 0),
        SD_BUS_VTABLE_END
};

void manager_send_container_new(Manager *m, Container *c) {
        g_autofree char *path = container_object_path(c);

        if (!m->bus || !path)
                return;
        (void) sd_bus_emit_signal(m->bus, MANAGER_PATH, MANAGER_IFACE, "ContainerNew", "so", c->name, path);
        (void) sd_bus_emit_object_added(m->bus, path);
}

void manager_send_container_removed(Manager *m, Container *c) {
        g_autofree char *path = container_object_path(c);

        if (!m->bus || !path)
                return;
        (void) sd_bus_emit_object_removed(m->bus, path);
        (void) sd_bus_emit_signal(m->bus, MANAGER_PATH, MANAGER_IFACE, "ContainerRemoved", "so", c->name, path);
}

#define FOREACH_VTABLE(v, ...) \
        for (const sd_bus_vtable *const *_v_ = (const sd_bus_vtable *const[]) { __VA_ARGS__, NULL }, *v; (v = *_v_); _v_++)

int manager_bus_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, MANAGER_PATH, MANAGER_IFACE, manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(m->bus, NULL, MANAGER_PATH, MANAGER_IFACE, manager_transfer_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_manager(m->bus, NULL, MANAGER_PATH);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, MANAGER_PATH "/container", "org.containers.Container",
                                       container_vtable, container_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, MANAGER_PATH "/container", "org.containers.Container",
                                       container_exec_vtable, container_object_find, m);
        if (r < 0)
                return r;
        FOREACH_VTABLE(v, container_files_vtable, container_network_vtable, container_snapshot_vtable,
                          container_update_vtable) {
                r = sd_bus_add_fallback_vtable(m->bus, NULL, MANAGER_PATH "/container", "org.containers.Container",
                                               v, container_object_find, m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_add_node_enumerator(m->bus, NULL, MANAGER_PATH "/container", container_node_enumerator, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, MANAGER_PATH "/image", "org.containers.Image",
                                       image_vtable, image_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, NULL, MANAGER_PATH "/image", image_node_enumerator, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, MANAGER_PATH "/build", "org.containers.Build",
                                       build_vtable, build_object_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, MANAGER_PATH "/build", build_node_enumerator, m);
}
