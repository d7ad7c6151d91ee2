# SPDX-License-Identifier: LGPL-2.1-or-later
"""An Apache libcloud container driver for containers-manager, the local machine's container
service on the D-Bus system bus (through libcontainers-manager's GObject Introspection API).

    from libcloud.container.providers import get_driver, set_driver
    set_driver("containers_manager", "containers_manager.libcloud", "ContainersManagerDriver")
    drv = get_driver("containers_manager")()
    img = drv.install_image("/srv/app.tar")     # an ExportImage archive, or a git URL to build
    c = drv.deploy_container("web", img, parameters={"env": {"A": "1"}}, start=True)
    drv.list_containers(); drv.stop_container(c); drv.destroy_container(c)

There is no key, secret, host or port: the service is the local one, and polkit decides what
the calling user may do (a refusal raises libcloud's InvalidCredsError). Every other error of
the service raises ContainersManagerError, a LibcloudError that carries the D-Bus error name
(e.g. "org.containers.Error.NoSuchContainer") in .error_name.
"""

import json
import os
import re

import gi
gi.require_version("ContainersManager", "1.0")
from gi.repository import ContainersManager, Gio, GLib  # noqa: E402

from libcloud.common.types import InvalidCredsError, LibcloudError  # noqa: E402
from libcloud.container.base import Container, ContainerDriver, ContainerImage  # noqa: E402
from libcloud.container.types import ContainerState  # noqa: E402

__all__ = ["ContainersManagerDriver", "ContainersManagerError"]

# The service's states (org.containers.Container.State) in libcloud's terms.
STATES = {
    "created": ContainerState.STOPPED,      # never started: start_container() starts it
    "starting": ContainerState.PENDING,
    "running": ContainerState.RUNNING,
    "stopping": ContainerState.PENDING,
    "stopped": ContainerState.STOPPED,
    "failed": ContainerState.ERROR,
    "frozen": ContainerState.PAUSED,
}

DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
          "org.freedesktop.PolicyKit1.Error.NotAuthorized")

# Create options deploy_container() passes on, with their D-Bus types.
CREATE_OPTIONS = {"command": "as", "ephemeral": "b", "working_directory": "s",
                  "privileged": "b", "network": "s", "address": "s"}

URL = re.compile(r"^(https?|git|ssh|file)://")


class ContainersManagerError(LibcloudError):
    """An error the service returned; error_name is its D-Bus name."""

    def __init__(self, value, driver=None, error_name=None):
        super().__init__(value, driver)
        self.error_name = error_name


class ContainersManagerDriver(ContainerDriver):
    """libcloud's ContainerDriver on the local containers-manager service."""

    type = "containers_manager"
    name = "containers-manager"
    website = None     # a local service: nothing to point at
    supports_clusters = False

    def __init__(self, key=None, secret=None, secure=False, host=None, port=None,
                 connection=None, **kwargs):
        """key, secret, secure, host and port are accepted for libcloud's sake and unused:
        the service is on this machine's system bus. connection: a Gio.DBusConnection to use
        instead (a private bus, for example)."""
        # No BaseDriver.__init__: it would make an HTTP connection object we never use.
        self.key, self.secret, self.secure = key, secret, secure
        self.host, self.port = host, port
        self.connection = None
        self.region = self.api_version = None
        try:
            if connection is not None:
                self.client = ContainersManager.Client.new_for_connection_sync(connection, None)
            else:
                self.client = ContainersManager.Client.new_sync(None)
        except GLib.Error as e:
            raise self._error(e)
        self.manager = self.client.get_manager()

    # ---- errors and conversions ----------------------------------------------------------

    def _error(self, e):
        name = Gio.DBusError.get_remote_error(e)
        # (Gio.DBusError.strip_remote_error() would strip a copy: PyGObject converts GErrors)
        message = e.message
        if name and message.startswith("GDBus.Error:%s: " % name):
            message = message[len("GDBus.Error:%s: " % name):]
        if name in DENIED:
            return InvalidCredsError("%s: %s" % (name, message), driver=self)
        return ContainersManagerError("%s: %s" % (name or "error", message), driver=self,
                                      error_name=name)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except GLib.Error as e:
            raise self._error(e)

    def _to_image(self, i, path=None):
        url = i.props.url or ""
        return ContainerImage(
            id=i.props.name, name=i.props.name,
            path=path or url or i.props.name,
            version=(i.props.commit or "")[:12] or None,
            driver=self,
            extra={"object_path": i.get_object_path(), "base": i.props.base, "url": url,
                   "branch": i.props.branch, "commit": i.props.commit,
                   "created": i.props.created_timestamp, "is_base": i.props.is_base,
                   "description": i.props.description,
                   "command": list(i.props.command or [])})

    def _image_named(self, name):
        i = self.client.get_image(name)
        if i is not None:
            return self._to_image(i)
        return ContainerImage(id=name, name=name, path=name, version=None, driver=self)

    def _to_container(self, c):
        state = c.props.state
        addresses = [a.split("/")[0] for a in (c.props.addresses or [])]
        return Container(
            id=c.props.id or c.props.name, name=c.props.name,
            image=self._image_named(c.props.image),
            state=STATES.get(state, ContainerState.UNKNOWN),
            ip_addresses=addresses, driver=self,
            extra={"object_path": c.get_object_path(), "state": state, "unit": c.props.unit,
                   "leader": c.props.leader, "exit_status": c.props.exit_status,
                   "created": c.props.created_timestamp, "started": c.props.started_timestamp,
                   "command": list(c.props.command or []),
                   "environment": list(c.props.environment or []),
                   "ephemeral": c.props.ephemeral, "privileged": c.props.privileged,
                   "mac_address": c.props.macaddress})

    def _proxy(self, container):
        """The container's proxy: by the object path it was listed with, else by id or name."""
        self.client.settle()
        path = getattr(container, "extra", {}).get("object_path")
        c = self.client.get_container_for_path(path) if path else None
        if c is None:
            c = self._find(getattr(container, "id", container)) or \
                self._find(getattr(container, "name", container))
        if c is None:
            raise ContainersManagerError("org.containers.Error.NoSuchContainer: no container %s"
                                         % getattr(container, "name", container), driver=self,
                                         error_name="org.containers.Error.NoSuchContainer")
        return c

    def _find(self, key):
        if not key:
            return None
        for c in self.client.get_containers():
            if c.props.id == key or c.props.name == key:
                return c
        return None

    # ---- images ----------------------------------------------------------------------------

    def list_images(self):
        """Every image, bases (busybox, host, ...) included (extra["is_base"])."""
        self.client.settle()
        return [self._to_image(i) for i in self.client.get_images()]

    def install_image(self, path, ex_name=None, ex_branch=None, ex_subdir=None):
        """Installs an image from a local archive (as ExportImage writes it, or an OCI
        archive) through ImportImage, or builds one from a git repository when path is a URL
        (http(s)://, git://, ssh://, file://). The image's name is ex_name, else the file or
        repository name without its extensions ("/srv/app.tar.gz" -> "app")."""
        name = ex_name or self._name_from(path)
        if URL.match(path):
            return self._build(name, path, ex_branch, ex_subdir)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise LibcloudError("cannot open %s: %s" % (path, e.strerror), driver=self)
        fds = Gio.UnixFDList.new()
        try:
            idx = fds.append(fd)
        finally:
            os.close(fd)
        obj, _ = self._call(self.manager.call_import_image_sync, name, GLib.Variant("h", idx),
                            GLib.Variant("a{sv}", {}), fds, None)
        self.client.settle()
        i = self.client.get_image_for_path(obj) or self.client.get_image(name)
        return self._to_image(i, path=path) if i else self._image_named(name)

    @staticmethod
    def _name_from(path):
        base = os.path.basename(path.rstrip("/"))
        for ext in (".git", ".tar", ".tgz", ".gz", ".zst", ".xz", ".oci"):
            if base.endswith(ext) and len(base) > len(ext):
                base = base[:-len(ext)]
        if base.endswith(".tar"):
            base = base[:-len(".tar")]
        return base

    def _build(self, name, url, branch=None, subdir=None):
        opts = {}
        if branch:
            opts["branch"] = GLib.Variant("s", branch)
        if subdir:
            opts["subdir"] = GLib.Variant("s", subdir)
        path = self._call(self.manager.call_build_sync, name, url, GLib.Variant("a{sv}", opts), None)
        # Build.Wait replies when the build ends: a plain call on the object, no signals needed.
        build = ContainersManager.BuildProxy.new_sync(
            self.client.get_connection(), Gio.DBusProxyFlags.DO_NOT_LOAD_PROPERTIES,
            ContainersManager.BUS_NAME, path, None)
        build.set_default_timeout(GLib.MAXINT)
        success, log = self._call(build.call_wait_sync, None)
        if not success:
            error = self._call(build.get_connection().call_sync, ContainersManager.BUS_NAME, path,
                               "org.freedesktop.DBus.Properties", "GetAll",
                               GLib.Variant("(s)", ("org.containers.Build",)),
                               GLib.VariantType("(a{sv})"), Gio.DBusCallFlags.NONE, -1, None)
            props = error.unpack()[0]
            raise ContainersManagerError("%s: %s" % (props.get("ErrorName") or "build failed",
                                                     props.get("Error") or "\n".join(log)),
                                         driver=self, error_name=props.get("ErrorName") or None)
        self.client.settle()
        i = self.client.get_image(name)
        return self._to_image(i) if i else self._image_named(name)

    # ---- containers ------------------------------------------------------------------------

    def list_containers(self, image=None, cluster=None):
        """Every container, or those of image (a ContainerImage or an image name)."""
        self.client.settle()
        want = getattr(image, "name", image)
        return [self._to_container(c) for c in self.client.get_containers()
                if want is None or c.props.image == want]

    def get_container(self, id):
        """The container with this id (the service's Id) or name."""
        self.client.settle()
        c = self._find(id)
        if c is None:
            raise ContainersManagerError("org.containers.Error.NoSuchContainer: no container %s"
                                         % id, driver=self,
                                         error_name="org.containers.Error.NoSuchContainer")
        return self._to_container(c)

    def deploy_container(self, name, image, cluster=None, parameters=None, start=True):
        """Creates (and by default starts) a container of image. parameters: a dict, or the
        same as a JSON string, with "env" (or "environment": a dict of strings), "command"
        (a list, or a string run with sh -c), and Create's options ephemeral, working_directory,
        privileged, network, address. Unknown keys raise LibcloudError."""
        if isinstance(parameters, str):
            try:
                parameters = json.loads(parameters) if parameters.strip() else {}
            except ValueError as e:
                raise LibcloudError("parameters are not JSON: %s" % e, driver=self)
        parameters = dict(parameters or {})
        env = parameters.pop("env", None) or parameters.pop("environment", None) or {}
        opts = {"start": GLib.Variant("b", bool(start))}
        for key, value in parameters.items():
            if key not in CREATE_OPTIONS:
                raise LibcloudError("unknown parameter %r (known: env, %s)"
                                    % (key, ", ".join(sorted(CREATE_OPTIONS))), driver=self)
            if key == "command" and isinstance(value, str):
                value = ["sh", "-c", value]
            opts[key] = GLib.Variant(CREATE_OPTIONS[key], value)
        image_name = getattr(image, "name", image)
        path = self._call(self.manager.call_create_sync, image_name, name,
                          GLib.Variant("a{ss}", {str(k): str(v) for k, v in env.items()}),
                          GLib.Variant("a{sv}", opts), None)
        self.client.settle()
        c = self.client.get_container_for_path(path)
        if c is None:
            raise ContainersManagerError("container %s was created but not seen" % name,
                                         driver=self)
        return self._to_container(c)

    def start_container(self, container):
        c = self._proxy(container)
        self._call(c.call_start_sync, None)
        self.client.settle()
        return self._to_container(c)

    def stop_container(self, container):
        c = self._proxy(container)
        self._call(c.call_stop_sync, None)
        self.client.settle()
        return self._to_container(c)

    def restart_container(self, container):
        c = self._proxy(container)
        self._call(c.call_restart_sync, None)
        self.client.settle()
        return self._to_container(c)

    def destroy_container(self, container):
        """Removes the container (stopping it first if it runs). True once it is gone."""
        c = self._proxy(container)
        self._call(self.manager.call_remove_sync, c.props.name, None)
        self.client.settle()
        return True

    def ex_inspect(self, container):
        """The service's Inspect() of the container as a dict (environment values only for
        callers polkit allows org.containers.manage)."""
        c = self._proxy(container)
        return self._call(c.call_inspect_sync, None).unpack()

    def ex_remove_image(self, image):
        """Removes an image (ImageInUse while a container uses it). True once it is gone."""
        self._call(self.manager.call_remove_image_sync, getattr(image, "name", image), None)
        self.client.settle()
        return True
