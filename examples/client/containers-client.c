/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An example client of libcontainers-manager (the same program is in Python and GJS beside it).
 *
 *   containers-client list                  every container and image
 *   containers-client watch NAME STATE      print NAME's state changes until it is STATE
 *   containers-client start|stop NAME
 *   containers-client build NAME URL [BRANCH]   build an image, printing progress and log lines
 *
 * Errors print "error NAME MESSAGE" (NAME: the D-Bus error name) and exit 1. */

#include <stdio.h>
#include <string.h>
#include <libcontainers-manager/containers-manager.h>

static int fail(GError *error) {
        g_autofree gchar *name = g_dbus_error_get_remote_error(error);

        g_dbus_error_strip_remote_error(error);
        printf("error %s %s\n", name ? name : "-", error->message);
        return 1;
}

static int list(ContainersManagerClient *client) {
        GList *containers = containers_manager_client_get_containers(client);
        GList *images = containers_manager_client_get_images(client);

        for (GList *l = containers; l; l = l->next) {
                ContainersManagerContainer *c = l->data;
                printf("container %s %s %s\n", containers_manager_container_get_name(c),
                       containers_manager_container_get_image(c), containers_manager_container_get_state(c));
        }
        for (GList *l = images; l; l = l->next) {
                ContainersManagerImage *i = l->data;
                printf("image %s %s\n", containers_manager_image_get_name(i), containers_manager_image_get_base(i));
        }
        g_list_free_full(containers, g_object_unref);
        g_list_free_full(images, g_object_unref);
        return 0;
}

typedef struct {
        GMainLoop *loop;
        const gchar *target;
        const gchar *path;      /* the build being followed */
        gboolean success;
} Watch;

static void on_state(ContainersManagerContainer *c, GParamSpec *pspec, Watch *w) {
        const gchar *state = containers_manager_container_get_state(c);

        printf("state %s\n", state);
        fflush(stdout);
        if (g_strcmp0(state, w->target) == 0)
                g_main_loop_quit(w->loop);
}

static int watch(ContainersManagerClient *client, const gchar *name, const gchar *target) {
        g_autoptr(ContainersManagerContainer) c = containers_manager_client_get_container(client, name);
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        Watch w = { .loop = loop, .target = target };

        if (!c) {
                printf("error org.containers.Error.NoSuchContainer %s\n", name);
                return 1;
        }
        g_signal_connect(c, "notify::state", G_CALLBACK(on_state), &w);
        printf("watching %s %s\n", name, containers_manager_container_get_state(c));
        fflush(stdout);
        if (g_strcmp0(containers_manager_container_get_state(c), target) != 0)
                g_main_loop_run(loop);
        return 0;
}

static int start_stop(ContainersManagerClient *client, const gchar *verb, const gchar *name) {
        g_autoptr(ContainersManagerContainer) c = containers_manager_client_get_container(client, name);
        g_autoptr(GError) error = NULL;
        gboolean ok;

        if (!c) {
                printf("error org.containers.Error.NoSuchContainer %s\n", name);
                return 1;
        }
        if (strcmp(verb, "start") == 0)
                ok = containers_manager_container_call_start_sync(c, NULL, &error);
        else
                ok = containers_manager_container_call_stop_sync(c, NULL, &error);
        if (!ok)
                return fail(error);
        containers_manager_client_settle(client);
        printf("%s %s\n", name, containers_manager_container_get_state(c));
        return 0;
}

static void on_progress(ContainersManagerBuild *b, GParamSpec *pspec, Watch *w) {
        printf("progress %.2f\n", containers_manager_build_get_progress(b));
        fflush(stdout);
}

static void on_log(ContainersManagerBuild *b, const gchar *line, Watch *w) {
        printf("log %s\n", line);
        fflush(stdout);
}

static void on_completed(ContainersManagerBuild *b, gboolean success, const gchar *message, Watch *w) {
        printf("completed %s %s\n", success ? "true" : "false", message);
        w->success = success;
        g_main_loop_quit(w->loop);
}

/* The build object comes with the service's InterfacesAdded, which is dispatched (in order,
 * before its LogMessage signals) once the main loop runs. */
static void on_object_added(GDBusObjectManager *om, GDBusObject *object, Watch *w) {
        g_autoptr(ContainersManagerBuild) b = NULL;

        if (g_strcmp0(g_dbus_object_get_object_path(object), w->path) != 0)
                return;
        b = containers_manager_object_get_build(CONTAINERS_MANAGER_OBJECT(object));
        if (!b)
                return;
        g_signal_connect(b, "notify::progress", G_CALLBACK(on_progress), w);
        g_signal_connect(b, "log-message", G_CALLBACK(on_log), w);
        g_signal_connect(b, "completed", G_CALLBACK(on_completed), w);
}

static int build(ContainersManagerClient *client, const gchar *name, const gchar *url, const gchar *branch) {
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *path = NULL;
        GVariantDict opts;
        Watch w = { .loop = loop };

        g_variant_dict_init(&opts, NULL);
        if (branch)
                g_variant_dict_insert(&opts, "branch", "s", branch);
        if (!containers_manager_manager_call_build_sync(containers_manager_client_get_manager(client), name, url,
                                                        g_variant_dict_end(&opts), &path, NULL, &error))
                return fail(error);
        printf("build %s\n", path);
        w.path = path;
        g_signal_connect(containers_manager_client_get_object_manager(client), "object-added",
                         G_CALLBACK(on_object_added), &w);
        g_main_loop_run(loop);
        return w.success ? 0 : 1;
}

int main(int argc, char *argv[]) {
        g_autoptr(ContainersManagerClient) client = NULL;
        g_autoptr(GError) error = NULL;

        if (argc < 2) {
                fprintf(stderr, "usage: %s list | watch NAME STATE | start NAME | stop NAME | build NAME URL [BRANCH]\n", argv[0]);
                return 2;
        }
        client = containers_manager_client_new_sync(NULL, &error);
        if (!client)
                return fail(error);
        if (strcmp(argv[1], "list") == 0)
                return list(client);
        if (strcmp(argv[1], "watch") == 0 && argc == 4)
                return watch(client, argv[2], argv[3]);
        if ((strcmp(argv[1], "start") == 0 || strcmp(argv[1], "stop") == 0) && argc == 3)
                return start_stop(client, argv[1], argv[2]);
        if (strcmp(argv[1], "build") == 0 && (argc == 4 || argc == 5))
                return build(client, argv[2], argv[3], argc == 5 ? argv[4] : NULL);
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
}
