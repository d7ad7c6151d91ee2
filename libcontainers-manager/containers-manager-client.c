/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ContainersManagerClient: one connection to the system bus, the service's object manager
 * (containers, images and builds as typed objects that come and go with the service's
 * InterfacesAdded/Removed) and a proxy for the manager object itself. */

#include "containers-manager-client.h"

/* Longer than any single call the service makes a client wait for (Stop: 10 s then SIGKILL;
 * Build.Wait: as long as the build); GDBus's 25 s default would cut them off. */
#define CALL_TIMEOUT_MSEC (10 * 60 * 1000)
/* A service that cannot start is not asked again sooner than this. */
#define REACTIVATE_INTERVAL_USEC (5 * G_USEC_PER_SEC)

/**
 * SECTION:containers-manager-client
 * @title: ContainersManagerClient
 * @short_description: The entry point: the service's objects as typed GObjects
 *
 * A #ContainersManagerClient connects to the system bus, asks the containers-manager
 * service (starting it by D-Bus activation if needed) for every container, image and build,
 * and keeps that view current from the service's signals while the thread-default main
 * context it was made in runs. Containers are #ContainersManagerContainer proxies, images
 * #ContainersManagerImage and builds #ContainersManagerBuild; their properties follow the
 * service (#GObject::notify) and their methods are the bus methods (e.g.
 * containers_manager_container_call_stop_sync()). The manager's own methods (Create, Build,
 * List, ...) are on containers_manager_client_get_manager().
 *
 * The service exits when idle while its containers keep running. So that the view does not
 * empty meanwhile, the client starts the service again (by D-Bus activation) when it leaves
 * the bus, unless #ContainersManagerClient:reactivate is %FALSE: objects then go when the
 * service goes and come back with its next start.
 */

struct _ContainersManagerClient {
        GObject parent_instance;
        GDBusConnection *connection;
        GDBusObjectManager *object_manager;
        ContainersManagerManager *manager;
        gboolean reactivate;
        gint64 last_reactivation_usec;
        guint reactivate_source;
        GCancellable *cancellable;      /* for the client's own calls; cancelled on dispose */
};

enum {
        PROP_0,
        PROP_CONNECTION,
        PROP_OBJECT_MANAGER,
        PROP_MANAGER,
        PROP_REACTIVATE,
        N_PROPS,
};
static GParamSpec *props[N_PROPS];

static void initable_iface_init(GInitableIface *iface);
static void async_initable_iface_init(GAsyncInitableIface *iface);

G_DEFINE_TYPE_WITH_CODE(ContainersManagerClient, containers_manager_client, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(G_TYPE_INITABLE, initable_iface_init)
                        G_IMPLEMENT_INTERFACE(G_TYPE_ASYNC_INITABLE, async_initable_iface_init))

static void containers_manager_client_dispose(GObject *object) {
        ContainersManagerClient *self = CONTAINERS_MANAGER_CLIENT(object);

        g_cancellable_cancel(self->cancellable);
        g_clear_handle_id(&self->reactivate_source, g_source_remove);
        if (self->object_manager)
                g_signal_handlers_disconnect_by_data(self->object_manager, self);
        G_OBJECT_CLASS(containers_manager_client_parent_class)->dispose(object);
}

static void containers_manager_client_finalize(GObject *object) {
        ContainersManagerClient *self = CONTAINERS_MANAGER_CLIENT(object);

        g_clear_object(&self->cancellable);
        g_clear_object(&self->manager);
        g_clear_object(&self->object_manager);
        g_clear_object(&self->connection);
        G_OBJECT_CLASS(containers_manager_client_parent_class)->finalize(object);
}

static void containers_manager_client_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
        ContainersManagerClient *self = CONTAINERS_MANAGER_CLIENT(object);

        switch (prop_id) {
        case PROP_CONNECTION:
                g_value_set_object(value, self->connection);
                break;
        case PROP_OBJECT_MANAGER:
                g_value_set_object(value, self->object_manager);
                break;
        case PROP_MANAGER:
                g_value_set_object(value, self->manager);
                break;
        case PROP_REACTIVATE:
                g_value_set_boolean(value, self->reactivate);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static void containers_manager_client_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec) {
        ContainersManagerClient *self = CONTAINERS_MANAGER_CLIENT(object);

        switch (prop_id) {
        case PROP_CONNECTION:
                g_set_object(&self->connection, g_value_get_object(value));
                break;
        case PROP_REACTIVATE:
                self->reactivate = g_value_get_boolean(value);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static void containers_manager_client_class_init(ContainersManagerClientClass *klass) {
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = containers_manager_client_dispose;
        object_class->finalize = containers_manager_client_finalize;
        object_class->get_property = containers_manager_client_get_property;
        object_class->set_property = containers_manager_client_set_property;

        /**
         * ContainersManagerClient:connection:
         *
         * The bus connection; the system bus unless given at construction.
         */
        props[PROP_CONNECTION] = g_param_spec_object("connection", "Connection", "The D-Bus connection",
                                                     G_TYPE_DBUS_CONNECTION,
                                                     G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
        /**
         * ContainersManagerClient:object-manager:
         *
         * The #GDBusObjectManager of the service's containers, images and builds.
         */
        props[PROP_OBJECT_MANAGER] = g_param_spec_object("object-manager", "Object manager",
                                                         "The service's object manager",
                                                         G_TYPE_DBUS_OBJECT_MANAGER,
                                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * ContainersManagerClient:manager:
         *
         * The proxy of the manager object (Create, Build, List, ...).
         */
        props[PROP_MANAGER] = g_param_spec_object("manager", "Manager", "The manager object",
                                                  CONTAINERS_MANAGER_TYPE_MANAGER,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * ContainersManagerClient:reactivate:
         *
         * Whether the client starts the service again when it leaves the bus (an idle exit,
         * a restart), so that its containers, images and builds stay in view.
         */
        props[PROP_REACTIVATE] = g_param_spec_boolean("reactivate", "Reactivate",
                                                      "Start the service again when it exits",
                                                      TRUE,
                                                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        g_object_class_install_properties(object_class, N_PROPS, props);
}

static void containers_manager_client_init(ContainersManagerClient *self) {
        self->reactivate = TRUE;
        self->cancellable = g_cancellable_new();
}

/* Every proxy the client hands out waits as long as the service may take. */
static void tune_object(GDBusObject *object) {
        GList *ifaces = g_dbus_object_get_interfaces(object);

        for (GList *l = ifaces; l; l = l->next)
                if (G_IS_DBUS_PROXY(l->data))
                        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(l->data), CALL_TIMEOUT_MSEC);
        g_list_free_full(ifaces, g_object_unref);
}

static void on_interface_added(GDBusObjectManager *om, GDBusObject *object, GDBusInterface *iface, gpointer user_data) {
        if (G_IS_DBUS_PROXY(iface))
                g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(iface), CALL_TIMEOUT_MSEC);
}

static void on_object_added(GDBusObjectManager *om, GDBusObject *object, gpointer user_data) {
        tune_object(object);
}

static void on_service_started(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;

        /* The object manager notices the new owner by itself and loads the objects again. */
        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
        if (!reply && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                g_debug("could not start %s again: %s", CONTAINERS_MANAGER_BUS_NAME, error->message);
}

static void start_service(ContainersManagerClient *self) {
        self->last_reactivation_usec = g_get_monotonic_time();
        g_dbus_connection_call(self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "StartServiceByName",
                               g_variant_new("(su)", CONTAINERS_MANAGER_BUS_NAME, 0), G_VARIANT_TYPE("(u)"),
                               G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable, on_service_started, NULL);
}

static gboolean on_reactivate_timeout(gpointer user_data) {
        ContainersManagerClient *self = user_data;
        g_autofree gchar *owner = g_dbus_object_manager_client_get_name_owner(
                        G_DBUS_OBJECT_MANAGER_CLIENT(self->object_manager));

        self->reactivate_source = 0;
        if (!owner && self->reactivate)
                start_service(self);
        return G_SOURCE_REMOVE;
}

static void on_name_owner(GObject *om, GParamSpec *pspec, gpointer user_data) {
        ContainersManagerClient *self = user_data;
        g_autofree gchar *owner = g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(om));
        gint64 wait;

        if (owner || !self->reactivate || self->reactivate_source)
                return;
        /* At once after an idle exit; a service that keeps failing is not hammered. */
        wait = self->last_reactivation_usec + REACTIVATE_INTERVAL_USEC - g_get_monotonic_time();
        if (wait <= 0)
                start_service(self);
        else
                self->reactivate_source = g_timeout_add((guint) (wait / 1000) + 1, on_reactivate_timeout, self);
}

static void client_setup(ContainersManagerClient *self) {
        GList *objects = g_dbus_object_manager_get_objects(self->object_manager);

        for (GList *l = objects; l; l = l->next)
                tune_object(l->data);
        g_list_free_full(objects, g_object_unref);
        g_signal_connect(self->object_manager, "object-added", G_CALLBACK(on_object_added), self);
        g_signal_connect(self->object_manager, "interface-added", G_CALLBACK(on_interface_added), self);
        g_signal_connect(self->object_manager, "notify::name-owner", G_CALLBACK(on_name_owner), self);
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(self->manager), CALL_TIMEOUT_MSEC);
}

static gboolean initable_init(GInitable *initable, GCancellable *cancellable, GError **error) {
        ContainersManagerClient *self = CONTAINERS_MANAGER_CLIENT(initable);

        if (!self->connection) {
                self->connection = g_bus_get_sync(G_BUS_TYPE_SYSTEM, cancellable, error);
                if (!self->connection)
                        return FALSE;
        }
        /* Without DO_NOT_AUTO_START: the first client starts the service by activation. */
        self->object_manager = containers_manager_object_manager_client_new_sync(
                        self->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                        CONTAINERS_MANAGER_BUS_NAME, CONTAINERS_MANAGER_OBJECT_PATH, cancellable, error);
        if (!self->object_manager)
                return FALSE;
        self->manager = containers_manager_manager_proxy_new_sync(
                        self->connection, G_DBUS_PROXY_FLAGS_NONE,
                        CONTAINERS_MANAGER_BUS_NAME, CONTAINERS_MANAGER_OBJECT_PATH, cancellable, error);
        if (!self->manager)
                return FALSE;
        client_setup(self);
        return TRUE;
}

static void initable_iface_init(GInitableIface *iface) {
        iface->init = initable_init;
}

static void on_manager_proxy(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GTask) task = user_data;
        ContainersManagerClient *self = g_task_get_source_object(task);
        GError *error = NULL;

        self->manager = containers_manager_manager_proxy_new_finish(res, &error);
        if (!self->manager) {
                g_task_return_error(task, error);
                return;
        }
        client_setup(self);
        g_task_return_boolean(task, TRUE);
}

static void on_object_manager(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GTask) task = user_data;
        ContainersManagerClient *self = g_task_get_source_object(task);
        GCancellable *cancellable;
        GError *error = NULL;

        self->object_manager = containers_manager_object_manager_client_new_finish(res, &error);
        if (!self->object_manager) {
                g_task_return_error(task, error);
                return;
        }
        /* the cancellable first: the order in which arguments are evaluated is unspecified */
        cancellable = g_task_get_cancellable(task);
        containers_manager_manager_proxy_new(self->connection, G_DBUS_PROXY_FLAGS_NONE,
                                             CONTAINERS_MANAGER_BUS_NAME, CONTAINERS_MANAGER_OBJECT_PATH,
                                             cancellable, on_manager_proxy, g_steal_pointer(&task));
}

static void on_bus(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GTask) task = user_data;
        ContainersManagerClient *self = g_task_get_source_object(task);
        GCancellable *cancellable;
        GError *error = NULL;

        self->connection = g_bus_get_finish(res, &error);
        if (!self->connection) {
                g_task_return_error(task, error);
                return;
        }
        cancellable = g_task_get_cancellable(task);
        containers_manager_object_manager_client_new(self->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                     CONTAINERS_MANAGER_BUS_NAME, CONTAINERS_MANAGER_OBJECT_PATH,
                                                     cancellable, on_object_manager, g_steal_pointer(&task));
}

static void async_initable_init_async(GAsyncInitable *initable, int io_priority, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data) {
        ContainersManagerClient *self = CONTAINERS_MANAGER_CLIENT(initable);
        GTask *task = g_task_new(initable, cancellable, callback, user_data);

        g_task_set_source_tag(task, async_initable_init_async);
        if (self->connection)
                containers_manager_object_manager_client_new(self->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                             CONTAINERS_MANAGER_BUS_NAME, CONTAINERS_MANAGER_OBJECT_PATH,
                                                             cancellable, on_object_manager, task);
        else
                g_bus_get(G_BUS_TYPE_SYSTEM, cancellable, on_bus, task);
}

static gboolean async_initable_init_finish(GAsyncInitable *initable, GAsyncResult *res, GError **error) {
        return g_task_propagate_boolean(G_TASK(res), error);
}

static void async_initable_iface_init(GAsyncInitableIface *iface) {
        iface->init_async = async_initable_init_async;
        iface->init_finish = async_initable_init_finish;
}

/**
 * containers_manager_client_new:
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the client is ready
 * @user_data: data for @callback
 *
 * Connects to the system bus and loads the service's objects asynchronously; finish with
 * containers_manager_client_new_finish().
 */
void containers_manager_client_new(GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data) {
        g_async_initable_new_async(CONTAINERS_MANAGER_TYPE_CLIENT, G_PRIORITY_DEFAULT, cancellable,
                                   callback, user_data, NULL);
}

/**
 * containers_manager_client_new_finish:
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the client, or %NULL with @error set.
 */
ContainersManagerClient *containers_manager_client_new_finish(GAsyncResult *res, GError **error) {
        g_autoptr(GObject) source = g_async_result_get_source_object(res);
        GObject *object = g_async_initable_new_finish(G_ASYNC_INITABLE(source), res, error);

        return object ? CONTAINERS_MANAGER_CLIENT(object) : NULL;
}

/**
 * containers_manager_client_new_sync:
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Connects to the system bus and loads the service's objects (starting the service if it
 * is not running). The view is kept current from the thread-default main context of the
 * caller.
 *
 * Returns: (transfer full): the client, or %NULL with @error set.
 */
ContainersManagerClient *containers_manager_client_new_sync(GCancellable *cancellable, GError **error) {
        return g_initable_new(CONTAINERS_MANAGER_TYPE_CLIENT, cancellable, error, NULL);
}

/**
 * containers_manager_client_new_for_connection_sync:
 * @connection: a #GDBusConnection (a private bus in tests, for example)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * As containers_manager_client_new_sync(), on @connection instead of the system bus.
 *
 * Returns: (transfer full): the client, or %NULL with @error set.
 */
ContainersManagerClient *containers_manager_client_new_for_connection_sync(GDBusConnection *connection,
                                                                           GCancellable *cancellable,
                                                                           GError **error) {
        g_return_val_if_fail(G_IS_DBUS_CONNECTION(connection), NULL);
        return g_initable_new(CONTAINERS_MANAGER_TYPE_CLIENT, cancellable, error, "connection", connection, NULL);
}

/**
 * containers_manager_client_get_connection:
 * @client: a #ContainersManagerClient
 *
 * Returns: (transfer none): the bus connection.
 */
GDBusConnection *containers_manager_client_get_connection(ContainersManagerClient *client) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return client->connection;
}

/**
 * containers_manager_client_get_object_manager:
 * @client: a #ContainersManagerClient
 *
 * Its #GDBusObjectManager::object-added and #GDBusObjectManager::object-removed signals say
 * when containers, images and builds come and go.
 *
 * Returns: (transfer none): the object manager.
 */
GDBusObjectManager *containers_manager_client_get_object_manager(ContainersManagerClient *client) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return client->object_manager;
}

/**
 * containers_manager_client_get_manager:
 * @client: a #ContainersManagerClient
 *
 * Returns: (transfer none): the manager object's proxy (Create, Build, List, Images, ...).
 */
ContainersManagerManager *containers_manager_client_get_manager(ContainersManagerClient *client) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return client->manager;
}

typedef gpointer (*InterfaceGetter)(ContainersManagerObject *object);

/* The objects that have the interface @get returns, in path order; transfer full. */
static GList *collect(ContainersManagerClient *client, InterfaceGetter get) {
        GList *objects = g_dbus_object_manager_get_objects(client->object_manager);
        GList *ret = NULL;

        for (GList *l = objects; l; l = l->next) {
                gpointer iface = get(CONTAINERS_MANAGER_OBJECT(l->data));
                if (iface)
                        ret = g_list_prepend(ret, iface);
        }
        g_list_free_full(objects, g_object_unref);
        return g_list_reverse(ret);
}

/**
 * containers_manager_client_get_containers:
 * @client: a #ContainersManagerClient
 *
 * Returns: (transfer full) (element-type ContainersManagerContainer): every container.
 */
GList *containers_manager_client_get_containers(ContainersManagerClient *client) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return collect(client, (InterfaceGetter) containers_manager_object_get_container);
}

/**
 * containers_manager_client_get_images:
 * @client: a #ContainersManagerClient
 *
 * Returns: (transfer full) (element-type ContainersManagerImage): every image (bases too).
 */
GList *containers_manager_client_get_images(ContainersManagerClient *client) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return collect(client, (InterfaceGetter) containers_manager_object_get_image);
}

/**
 * containers_manager_client_get_builds:
 * @client: a #ContainersManagerClient
 *
 * Returns: (transfer full) (element-type ContainersManagerBuild): every build the service
 * still has (running ones and finished ones it keeps for a while).
 */
GList *containers_manager_client_get_builds(ContainersManagerClient *client) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return collect(client, (InterfaceGetter) containers_manager_object_get_build);
}

static gpointer get_for_path(ContainersManagerClient *client, const gchar *object_path, InterfaceGetter get) {
        g_autoptr(GDBusObject) object = NULL;

        if (!object_path || !g_variant_is_object_path(object_path))
                return NULL;
        object = g_dbus_object_manager_get_object(client->object_manager, object_path);
        return object ? get(CONTAINERS_MANAGER_OBJECT(object)) : NULL;
}

/**
 * containers_manager_client_get_container_for_path:
 * @client: a #ContainersManagerClient
 * @object_path: a container's object path (as Create and GetContainer return)
 *
 * Returns: (transfer full) (nullable): the container, or %NULL if there is none there.
 */
ContainersManagerContainer *containers_manager_client_get_container_for_path(ContainersManagerClient *client,
                                                                             const gchar *object_path) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return get_for_path(client, object_path, (InterfaceGetter) containers_manager_object_get_container);
}

/**
 * containers_manager_client_get_image_for_path:
 * @client: a #ContainersManagerClient
 * @object_path: an image's object path
 *
 * Returns: (transfer full) (nullable): the image, or %NULL if there is none there.
 */
ContainersManagerImage *containers_manager_client_get_image_for_path(ContainersManagerClient *client,
                                                                     const gchar *object_path) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return get_for_path(client, object_path, (InterfaceGetter) containers_manager_object_get_image);
}

/**
 * containers_manager_client_get_build_for_path:
 * @client: a #ContainersManagerClient
 * @object_path: a build's object path (as the manager's Build returns)
 *
 * A build made by a call that just returned may not be here before the service's
 * InterfacesAdded signal was dispatched: call containers_manager_client_settle() first.
 *
 * Returns: (transfer full) (nullable): the build, or %NULL if there is none there.
 */
ContainersManagerBuild *containers_manager_client_get_build_for_path(ContainersManagerClient *client,
                                                                     const gchar *object_path) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        return get_for_path(client, object_path, (InterfaceGetter) containers_manager_object_get_build);
}

typedef const gchar *(*NameGetter)(gpointer iface);

static gpointer find_by_name(GList *list, const gchar *name, NameGetter get_name) {
        gpointer ret = NULL;

        for (GList *l = list; l; l = l->next)
                if (!ret && g_strcmp0(get_name(l->data), name) == 0)
                        ret = g_object_ref(l->data);
        g_list_free_full(list, g_object_unref);
        return ret;
}

/**
 * containers_manager_client_get_container:
 * @client: a #ContainersManagerClient
 * @name: a container's name
 *
 * Returns: (transfer full) (nullable): the container called @name, or %NULL.
 */
ContainersManagerContainer *containers_manager_client_get_container(ContainersManagerClient *client,
                                                                    const gchar *name) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        g_return_val_if_fail(name, NULL);
        return find_by_name(containers_manager_client_get_containers(client), name,
                            (NameGetter) containers_manager_container_get_name);
}

/**
 * containers_manager_client_get_image:
 * @client: a #ContainersManagerClient
 * @name: an image's name
 *
 * Returns: (transfer full) (nullable): the image called @name, or %NULL.
 */
ContainersManagerImage *containers_manager_client_get_image(ContainersManagerClient *client, const gchar *name) {
        g_return_val_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client), NULL);
        g_return_val_if_fail(name, NULL);
        return find_by_name(containers_manager_client_get_images(client), name,
                            (NameGetter) containers_manager_image_get_name);
}

/**
 * containers_manager_client_settle:
 * @client: a #ContainersManagerClient
 *
 * Dispatches what the service said before the last reply (objects added and removed,
 * properties changed), so that the view agrees with the calls made so far. Iterates the
 * thread-default main context without blocking.
 */
void containers_manager_client_settle(ContainersManagerClient *client) {
        GMainContext *context = g_main_context_get_thread_default();

        g_return_if_fail(CONTAINERS_MANAGER_IS_CLIENT(client));
        while (g_main_context_iteration(context, FALSE))
                ;
}
