/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <libcontainers-manager/containers-manager-generated.h>

G_BEGIN_DECLS

/**
 * CONTAINERS_MANAGER_BUS_NAME:
 *
 * The well-known name of the service on the system bus.
 */
#define CONTAINERS_MANAGER_BUS_NAME "org.containers.Manager"
/**
 * CONTAINERS_MANAGER_OBJECT_PATH:
 *
 * The path of the manager object, where the object manager is served too.
 */
#define CONTAINERS_MANAGER_OBJECT_PATH "/org/containers/Manager"

#define CONTAINERS_MANAGER_TYPE_CLIENT (containers_manager_client_get_type())
G_DECLARE_FINAL_TYPE(ContainersManagerClient, containers_manager_client, CONTAINERS_MANAGER, CLIENT, GObject)

void containers_manager_client_new(GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
ContainersManagerClient *containers_manager_client_new_finish(GAsyncResult *res, GError **error);
ContainersManagerClient *containers_manager_client_new_sync(GCancellable *cancellable, GError **error);
ContainersManagerClient *containers_manager_client_new_for_connection_sync(GDBusConnection *connection,
                                                                           GCancellable *cancellable,
                                                                           GError **error);

GDBusConnection *containers_manager_client_get_connection(ContainersManagerClient *client);
GDBusObjectManager *containers_manager_client_get_object_manager(ContainersManagerClient *client);
ContainersManagerManager *containers_manager_client_get_manager(ContainersManagerClient *client);

GList *containers_manager_client_get_containers(ContainersManagerClient *client);
GList *containers_manager_client_get_images(ContainersManagerClient *client);
GList *containers_manager_client_get_builds(ContainersManagerClient *client);

ContainersManagerContainer *containers_manager_client_get_container(ContainersManagerClient *client,
                                                                    const gchar *name);
ContainersManagerImage *containers_manager_client_get_image(ContainersManagerClient *client,
                                                            const gchar *name);
ContainersManagerContainer *containers_manager_client_get_container_for_path(ContainersManagerClient *client,
                                                                             const gchar *object_path);
ContainersManagerImage *containers_manager_client_get_image_for_path(ContainersManagerClient *client,
                                                                     const gchar *object_path);
ContainersManagerBuild *containers_manager_client_get_build_for_path(ContainersManagerClient *client,
                                                                     const gchar *object_path);

void containers_manager_client_settle(ContainersManagerClient *client);

G_END_DECLS
