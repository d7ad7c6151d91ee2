#!/usr/bin/python3
"""A FollowLogs() client for the tests (busctl and gdbus cannot pass file descriptors).  Runs
inside the sandbox with /usr/bin/python3 and gi.

usage: followlogs.py OBJECT_PATH [--lines N] [--read-end] [--bogus-option]
  Makes a pipe, passes its write end (--read-end: its read end, which the service must refuse)
  to org.containers.Container.FollowLogs, and prints, one per line and flushed:
    "reply PID" (this process, so a test can kill it) or "error NAME MESSAGE",
    then every line that arrives through the pipe, then "EOF" when the writer closed.
"""

import os
import sys

from gi.repository import Gio, GLib


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    opts = {}
    give_read_end = False
    while args:
        a = args.pop(0)
        if a == "--lines":
            opts["lines"] = GLib.Variant("u", int(args.pop(0)))
        elif a == "--read-end":
            give_read_end = True
        elif a == "--bogus-option":
            opts["follow"] = GLib.Variant("b", True)
        else:
            raise SystemExit("unknown argument %r" % a)

    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    r, w = os.pipe()
    fds = Gio.UnixFDList.new()
    idx = fds.append(r if give_read_end else w)
    try:
        bus.call_with_unix_fd_list_sync(
            "org.containers.Manager", path, "org.containers.Container", "FollowLogs",
            GLib.Variant("(ha{sv})", (idx, opts)), None, Gio.DBusCallFlags.NONE, 60000, fds,
            None)
    except GLib.Error as e:
        print("error", Gio.DBusError.get_remote_error(e), e.message, flush=True)
        return
    finally:
        # the list holds copies of what it sent: only the service may keep the write end open
        for fd in fds.steal_fds():
            os.close(fd)
    os.close(w)
    print("reply", os.getpid(), flush=True)
    with os.fdopen(r, "rb", buffering=0) as f:
        pending = b""
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                sys.stdout.write(line.decode(errors="replace") + "\n")
            sys.stdout.flush()
    print("EOF", flush=True)


if __name__ == "__main__":
    main()
