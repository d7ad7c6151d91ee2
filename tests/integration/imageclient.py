#!/usr/bin/python3
"""An ExportImage/ImportImage client for the tests (busctl and gdbus cannot pass file
descriptors). Runs inside the sandbox with /usr/bin/python3 and gi.

usage: imageclient.py export NAME FILE [--bogus-option] [--compression gzip|zstd|...]
       imageclient.py import NAME FILE
       imageclient.py export-container NAME FILE [--no-image]
       imageclient.py import-container NAME FILE [--image IMAGE]
Prints "ok" (export) or "ok OBJECT_PATH" (import), or "error NAME MESSAGE".
"""

import os
import sys

from gi.repository import Gio, GLib


def main():
    verb, name, path = sys.argv[1:4]
    opts = {}
    rest = sys.argv[4:]
    if "--bogus-option" in rest:
        opts["format"] = GLib.Variant("s", "zstd")
    if "--compression" in rest:
        opts["compression"] = GLib.Variant("s", rest[rest.index("--compression") + 1])
    if "--no-image" in rest:
        opts["image"] = GLib.Variant("b", False)
    if "--image" in rest:
        opts["image"] = GLib.Variant("s", rest[rest.index("--image") + 1])
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    sig = "(sha{sv})"
    if verb.startswith("export"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        method = "ExportContainer" if verb == "export-container" else "ExportImage"
    else:
        fd = os.open(path, os.O_RDONLY)
        method = "ImportContainer" if verb == "import-container" else "ImportImage"
    fds = Gio.UnixFDList.new()
    idx = fds.append(fd)
    os.close(fd)
    try:
        reply, _ = bus.call_with_unix_fd_list_sync(
            "org.containers.Manager", "/org/containers/Manager", "org.containers.Manager", method,
            GLib.Variant(sig, (name, idx, opts)), None, Gio.DBusCallFlags.NONE, 600000, fds, None)
    except GLib.Error as e:
        print("error", Gio.DBusError.get_remote_error(e), e.message.replace("\n", " "), flush=True)
        return
    out = reply.unpack()
    print("ok", *out, flush=True)


if __name__ == "__main__":
    main()
