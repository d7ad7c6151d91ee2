#!/usr/bin/python3
"""An example client of libcontainers-manager through GObject Introspection (the same
program is in C and GJS beside it).

  containers-client.py list                  every container and image
  containers-client.py watch NAME STATE      print NAME's state changes until it is STATE
  containers-client.py start|stop NAME
  containers-client.py build NAME URL [BRANCH]   build an image, printing progress and log lines

Errors print "error NAME MESSAGE" (NAME: the D-Bus error name) and exit 1.
"""

import sys

import gi
gi.require_version("ContainersManager", "1.0")
from gi.repository import ContainersManager as CM, Gio, GLib  # noqa: E402


def out(*words):
    print(*words, flush=True)


def fail(e):
    name = Gio.DBusError.get_remote_error(e) or "-"
    # the message without its "GDBus.Error:NAME: " prefix (Gio.DBusError.strip_remote_error()
    # would strip a copy: PyGObject converts GErrors)
    out("error", name, e.message.replace("GDBus.Error:%s: " % name, "", 1))
    return 1


def container(client, name):
    c = client.get_container(name)
    if c is None:
        out("error", "org.containers.Error.NoSuchContainer", name)
        sys.exit(1)
    return c


def list_(client):
    for c in client.get_containers():
        out("container", c.props.name, c.props.image, c.props.state)
    for i in client.get_images():
        out("image", i.props.name, i.props.base)
    return 0


def watch(client, name, target):
    c = container(client, name)
    loop = GLib.MainLoop()

    def on_state(c, _pspec):
        out("state", c.props.state)
        if c.props.state == target:
            loop.quit()

    c.connect("notify::state", on_state)
    out("watching", name, c.props.state)
    if c.props.state != target:
        loop.run()
    return 0


def start_stop(client, verb, name):
    c = container(client, name)
    try:
        if verb == "start":
            c.call_start_sync(None)
        else:
            c.call_stop_sync(None)
    except GLib.Error as e:
        return fail(e)
    client.settle()
    out(name, c.props.state)
    return 0


def build(client, name, url, branch=None):
    opts = {"branch": GLib.Variant("s", branch)} if branch else {}
    try:
        path = client.get_manager().call_build_sync(name, url, GLib.Variant("a{sv}", opts), None)
    except GLib.Error as e:
        return fail(e)
    out("build", path)
    loop = GLib.MainLoop()
    result = {}

    def on_completed(_b, success, message):
        out("completed", "true" if success else "false", message)
        result["success"] = success
        loop.quit()

    # The build object comes with the service's InterfacesAdded, dispatched (in order, before
    # its LogMessage signals) once the main loop runs.
    def on_added(_om, obj):
        b = obj.get_build() if obj.get_object_path() == path else None
        if b is None:
            return
        b.connect("notify::progress", lambda b, _p: out("progress", "%.2f" % b.props.progress))
        b.connect("log-message", lambda _b, line: out("log", line))
        b.connect("completed", on_completed)

    client.get_object_manager().connect("object-added", on_added)
    loop.run()
    return 0 if result.get("success") else 1


def main(argv):
    try:
        client = CM.Client.new_sync(None)
    except GLib.Error as e:
        return fail(e)
    if argv[:1] == ["list"]:
        return list_(client)
    if argv[:1] == ["watch"] and len(argv) == 3:
        return watch(client, argv[1], argv[2])
    if argv[:1] in (["start"], ["stop"]) and len(argv) == 2:
        return start_stop(client, argv[0], argv[1])
    if argv[:1] == ["build"] and len(argv) in (3, 4):
        return build(client, *argv[1:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
