/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ContainersManagerClient against a stand-in service on a private bus (GTestDBus): the
 * generated skeletons and an object manager server play org.containers.Manager in a thread of
 * their own, so that the client's _sync calls can be answered. */

#include "containers-manager-client.h"

#define CONTAINER_PATH CONTAINERS_MANAGER_OBJECT_PATH "/container/web"
#define IMAGE_PATH CONTAINERS_MANAGER_OBJECT_PATH "/image/hello"
#define BUILD_PATH CONTAINERS_MANAGER_OBJECT_PATH "/build/_1"

typedef struct {
        GMainContext *context;
        GMainLoop *loop;
        GThread *thread;
        gchar *address;
        GDBusConnection *connection;
        GDBusObjectManagerServer *om;
        ContainersManagerManager *manager;
        ContainersManagerContainer *web;
        GMutex lock;
        GCond ready;
        gboolean up;
} Service;

static gboolean on_stop(ContainersManagerContainer *c, GDBusMethodInvocation *inv, gpointer user_data) {
        if (g_strcmp0(containers_manager_container_get_state(c), "running") != 0) {
                g_dbus_method_invocation_return_dbus_error(inv, "org.containers.Error.NotRunning", "not running");
                return TRUE;
        }
        containers_manager_container_set_state(c, "stopped");
        g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(c));
        containers_manager_container_complete_stop(c, inv);
        return TRUE;
}

static gboolean on_create(ContainersManagerManager *m, GDBusMethodInvocation *inv, const gchar *image,
                          const gchar *name, GVariant *env, GVariant *options, gpointer user_data) {
        g_dbus_method_invocation_return_dbus_error(inv, "org.containers.Error.NoSuchImage", image);
        return TRUE;
}

static gpointer service_thread(gpointer data) {
        Service *s = data;
        g_autoptr(ContainersManagerObjectSkeleton) object = NULL;
        g_autoptr(GVariant) reply = NULL;

        g_main_context_push_thread_default(s->context);
        s->connection = g_dbus_connection_new_for_address_sync(
                        s->address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, NULL);
        g_assert_nonnull(s->connection);

        s->om = g_dbus_object_manager_server_new(CONTAINERS_MANAGER_OBJECT_PATH);
        s->web = containers_manager_container_skeleton_new();
        containers_manager_container_set_name(s->web, "web");
        containers_manager_container_set_image(s->web, "busybox");
        containers_manager_container_set_state(s->web, "running");
        g_signal_connect(s->web, "handle-stop", G_CALLBACK(on_stop), NULL);
        object = containers_manager_object_skeleton_new(CONTAINER_PATH);
        containers_manager_object_skeleton_set_container(object, s->web);
        g_dbus_object_manager_server_export(s->om, G_DBUS_OBJECT_SKELETON(object));
        g_dbus_object_manager_server_set_connection(s->om, s->connection);

        s->manager = containers_manager_manager_skeleton_new();
        g_signal_connect(s->manager, "handle-create", G_CALLBACK(on_create), NULL);
        g_assert_true(g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(s->manager), s->connection,
                                                       CONTAINERS_MANAGER_OBJECT_PATH, NULL));
        reply = g_dbus_connection_call_sync(s->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                            "org.freedesktop.DBus", "RequestName",
                                            g_variant_new("(su)", CONTAINERS_MANAGER_BUS_NAME, 0),
                                            G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
        g_assert_nonnull(reply);

        g_mutex_lock(&s->lock);
        s->up = TRUE;
        g_cond_signal(&s->ready);
        g_mutex_unlock(&s->lock);
        g_main_loop_run(s->loop);

        g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(s->manager));
        g_dbus_object_manager_server_set_connection(s->om, NULL);
        g_clear_object(&s->om);
        g_clear_object(&s->web);
        g_clear_object(&s->manager);
        g_dbus_connection_close_sync(s->connection, NULL, NULL);
        g_clear_object(&s->connection);
        g_main_context_pop_thread_default(s->context);
        return NULL;
}

static void service_start(Service *s, const gchar *address) {
        s->context = g_main_context_new();
        s->loop = g_main_loop_new(s->context, FALSE);
        s->address = g_strdup(address);
        g_mutex_init(&s->lock);
        g_cond_init(&s->ready);
        s->thread = g_thread_new("service", service_thread, s);
        g_mutex_lock(&s->lock);
        while (!s->up)
                g_cond_wait(&s->ready, &s->lock);
        g_mutex_unlock(&s->lock);
}

static gboolean quit_loop(gpointer data) {
        g_main_loop_quit(data);
        return G_SOURCE_REMOVE;
}

static void service_stop(Service *s) {
        g_main_context_invoke(s->context, quit_loop, s->loop);
        g_thread_join(s->thread);
        g_main_loop_unref(s->loop);
        g_main_context_unref(s->context);
        g_free(s->address);
        g_mutex_clear(&s->lock);
        g_cond_clear(&s->ready);
}

/* Changes to the stand-in service, made in its thread. */
static gboolean add_image_and_build(gpointer data) {
        Service *s = data;
        g_autoptr(ContainersManagerObjectSkeleton) io = containers_manager_object_skeleton_new(IMAGE_PATH);
        g_autoptr(ContainersManagerObjectSkeleton) bo = containers_manager_object_skeleton_new(BUILD_PATH);
        g_autoptr(ContainersManagerImage) image = containers_manager_image_skeleton_new();
        g_autoptr(ContainersManagerBuild) build = containers_manager_build_skeleton_new();

        containers_manager_image_set_name(image, "hello");
        containers_manager_image_set_base(image, "busybox");
        containers_manager_object_skeleton_set_image(io, image);
        containers_manager_build_set_name(build, "hello");
        containers_manager_build_set_state(build, "succeeded");
        containers_manager_object_skeleton_set_build(bo, build);
        g_dbus_object_manager_server_export(s->om, G_DBUS_OBJECT_SKELETON(io));
        g_dbus_object_manager_server_export(s->om, G_DBUS_OBJECT_SKELETON(bo));
        return G_SOURCE_REMOVE;
}

static gboolean remove_web(gpointer data) {
        Service *s = data;

        g_assert_true(g_dbus_object_manager_server_unexport(s->om, CONTAINER_PATH));
        return G_SOURCE_REMOVE;
}

static gboolean timed_out(gpointer data) {
        *(gboolean *) data = TRUE;
        return G_SOURCE_REMOVE;
}

/* Runs the main context until cond(client) holds; fails after 10 s. */
static void wait_until(ContainersManagerClient *client, gboolean (*cond)(ContainersManagerClient *)) {
        gboolean expired = FALSE;
        guint id = g_timeout_add_seconds(10, timed_out, &expired);

        while (!cond(client) && !expired)
                g_main_context_iteration(NULL, TRUE);
        g_assert_false(expired);
        g_source_remove(id);
}

static gboolean has_image(ContainersManagerClient *client) {
        g_autoptr(ContainersManagerImage) i = containers_manager_client_get_image(client, "hello");
        return i != NULL;
}

static gboolean has_build(ContainersManagerClient *client) {
        g_autoptr(ContainersManagerBuild) b = containers_manager_client_get_build_for_path(client, BUILD_PATH);
        return b != NULL;
}

static gboolean web_gone(ContainersManagerClient *client) {
        g_autoptr(ContainersManagerContainer) c = containers_manager_client_get_container(client, "web");
        return c == NULL;
}

static void on_client_ready(GObject *source, GAsyncResult *res, gpointer user_data) {
        ContainersManagerClient **ret = user_data;
        g_autoptr(GError) error = NULL;

        *ret = containers_manager_client_new_finish(res, &error);
        g_assert_no_error(error);
}

static void test_client(void) {
        g_autoptr(GTestDBus) bus = g_test_dbus_new(G_TEST_DBUS_NONE);
        g_autoptr(GDBusConnection) connection = NULL;
        g_autoptr(ContainersManagerClient) client = NULL;
        g_autoptr(ContainersManagerContainer) web = NULL;
        g_autoptr(ContainersManagerContainer) none = NULL;
        g_autoptr(ContainersManagerContainer) by_path = NULL;
        g_autoptr(ContainersManagerBuild) build = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *remote = NULL;
        g_autofree gchar *path = NULL;
        GList *list;
        Service s = { 0 };

        g_test_dbus_up(bus);
        service_start(&s, g_test_dbus_get_bus_address(bus));
        connection = g_dbus_connection_new_for_address_sync(
                        g_test_dbus_get_bus_address(bus), G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
        g_assert_no_error(error);

        client = containers_manager_client_new_for_connection_sync(connection, NULL, &error);
        g_assert_no_error(error);
        g_object_set(client, "reactivate", FALSE, NULL);
        g_assert_true(containers_manager_client_get_connection(client) == connection);

        /* the async constructor sees the same */
        {
                g_autoptr(ContainersManagerClient) async_client = NULL;
                g_autoptr(ContainersManagerContainer) c = NULL;

                g_async_initable_new_async(CONTAINERS_MANAGER_TYPE_CLIENT, G_PRIORITY_DEFAULT, NULL,
                                           on_client_ready, &async_client, "connection", connection,
                                           "reactivate", FALSE, NULL);
                while (!async_client)
                        g_main_context_iteration(NULL, TRUE);
                c = containers_manager_client_get_container(async_client, "web");
                g_assert_nonnull(c);
                g_assert_nonnull(containers_manager_client_get_manager(async_client));
        }

        /* the container the service had, by name and by path */
        list = containers_manager_client_get_containers(client);
        g_assert_cmpuint(g_list_length(list), ==, 1);
        g_list_free_full(list, g_object_unref);
        web = containers_manager_client_get_container(client, "web");
        g_assert_nonnull(web);
        g_assert_cmpstr(containers_manager_container_get_image(web), ==, "busybox");
        g_assert_cmpstr(containers_manager_container_get_state(web), ==, "running");
        by_path = containers_manager_client_get_container_for_path(client, CONTAINER_PATH);
        g_assert_true(by_path == web);
        none = containers_manager_client_get_container(client, "nope");
        g_assert_null(none);
        g_assert_null(containers_manager_client_get_image_for_path(client, "not a path"));
        g_assert_null(containers_manager_client_get_images(client));

        /* a call, and the property change it made, seen after settle() */
        g_assert_true(containers_manager_container_call_stop_sync(web, NULL, &error));
        g_assert_no_error(error);
        containers_manager_client_settle(client);
        g_assert_cmpstr(containers_manager_container_get_state(web), ==, "stopped");

        /* errors carry their D-Bus names */
        g_assert_false(containers_manager_container_call_stop_sync(web, NULL, &error));
        remote = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(remote, ==, "org.containers.Error.NotRunning");
        g_clear_error(&error);
        g_clear_pointer(&remote, g_free);
        g_assert_false(containers_manager_manager_call_create_sync(
                        containers_manager_client_get_manager(client), "nothing", "x",
                        g_variant_new("a{ss}", NULL), g_variant_new("a{sv}", NULL), &path, NULL, &error));
        remote = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(remote, ==, "org.containers.Error.NoSuchImage");
        g_assert_null(path);

        /* objects that come and go */
        g_main_context_invoke(s.context, add_image_and_build, &s);
        wait_until(client, has_image);
        wait_until(client, has_build);
        list = containers_manager_client_get_images(client);
        g_assert_cmpuint(g_list_length(list), ==, 1);
        g_assert_cmpstr(containers_manager_image_get_base(list->data), ==, "busybox");
        g_list_free_full(list, g_object_unref);
        build = containers_manager_client_get_build_for_path(client, BUILD_PATH);
        g_assert_nonnull(build);
        g_assert_cmpstr(containers_manager_build_get_state(build), ==, "succeeded");
        list = containers_manager_client_get_builds(client);
        g_assert_cmpuint(g_list_length(list), ==, 1);
        g_list_free_full(list, g_object_unref);

        g_main_context_invoke(s.context, remove_web, &s);
        wait_until(client, web_gone);
        g_assert_null(containers_manager_client_get_containers(client));

        g_clear_object(&client);
        service_stop(&s);
        g_dbus_connection_close_sync(connection, NULL, NULL);
        g_test_dbus_down(bus);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/client/objects-calls-errors", test_client);
        return g_test_run();
}
