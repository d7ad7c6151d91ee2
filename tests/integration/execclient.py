#!/usr/bin/python3
"""An ExecWithFds() and OpenShell() client for the tests (busctl and gdbus cannot pass file
descriptors).  Runs inside the sandbox with /usr/bin/python3 and gi.  Prints one line per
event, flushed, each with the seconds since the start ("@1.23"), so a test can order them.

usage:
  execclient.py fds OBJECT_PATH [--timeout USEC] [--read-end] [--stdin TEXT] [--stdin-ctty] -- COMMAND...
      pipes for stdout and stderr (and stdin with TEXT, else /dev/null; --stdin-ctty: a PTY
      that is the client's controlling terminal); prints
      "out LINE" / "err LINE" as they arrive, then "status N" or "error NAME MESSAGE".
  execclient.py shell OBJECT_PATH USER [--input TEXT] [--close-after LINE] [-- COMMAND...]
      OpenShell; prints "pty PATH", writes TEXT (backslash escapes allowed) into the master,
      then "tty LINE" for every line the shell writes until it ends ("eof"); with
      --close-after, closes the master 2 s after LINE was seen, prints "closed", and stays
      connected to the bus for 30 s (so a test sees the shell end with the master alone).
"""

import os
import sys
import threading
import time

from gi.repository import Gio, GLib

T0 = time.monotonic()
CTTY = object()
BUS = "org.containers.Manager"
IFACE = "org.containers.Container"


def say(*words):
    print(*words, "@%.2f" % (time.monotonic() - T0), flush=True)


def pump(fd, tag, done):
    pending = b""
    with os.fdopen(fd, "rb", buffering=0) as f:
        while True:
            try:
                chunk = f.read(65536)
            except OSError:     # a PTY whose other side is gone: EIO
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                say(tag, line.decode(errors="replace").rstrip("\r"))
    if pending:
        say(tag, pending.decode(errors="replace").rstrip("\r"))
    done.set()


def error_of(e):
    return Gio.DBusError.get_remote_error(e) or "?", e.message


def cmd_fds(bus, path, args):
    opts, stdin_text, read_end = {}, None, False
    while args and args[0] != "--":
        a = args.pop(0)
        if a == "--timeout":
            opts["timeout"] = GLib.Variant("t", int(args.pop(0)))
        elif a == "--stdin":
            stdin_text = args.pop(0)
        elif a == "--read-end":
            read_end = True
        elif a == "--stdin-ctty":
            stdin_text = CTTY
        else:
            raise SystemExit("unknown argument %r" % a)
    command = args[1:]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    if stdin_text is CTTY:
        # a terminal that is our own controlling terminal, as a shell's stdin would be
        master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)
        if os.getpid() == os.getpgrp() and os.fork() != 0:
            _, status = os.wait()
            sys.exit(os.waitstatus_to_exitcode(status))
        os.setsid()
        in_r = os.open(name, os.O_RDWR)     # without O_NOCTTY: it becomes ours
    elif stdin_text is not None:
        in_r, in_w = os.pipe()
        os.write(in_w, stdin_text.encode())
        os.close(in_w)
    else:
        in_r = os.open("/dev/null", os.O_RDONLY)
    fds = Gio.UnixFDList.new()
    i_in = fds.append(in_r)
    i_out = fds.append(out_r if read_end else out_w)
    i_err = fds.append(err_w)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    done_out, done_err = threading.Event(), threading.Event()
    if not read_end:
        threading.Thread(target=pump, args=(out_r, "out", done_out), daemon=True).start()
    threading.Thread(target=pump, args=(err_r, "err", done_err), daemon=True).start()
    try:
        reply, _ = bus.call_with_unix_fd_list_sync(
            BUS, path, IFACE, "ExecWithFds",
            GLib.Variant("(ashhha{sv})", (command, i_in, i_out, i_err, opts)),
            GLib.VariantType("(i)"), Gio.DBusCallFlags.NONE, 120000, fds, None)
    except GLib.Error as e:
        say("error", *error_of(e))
        return
    finally:
        # the list holds copies of what it sent: only the service may keep the write ends
        for fd in fds.steal_fds():
            os.close(fd)
    done_out.wait(10)
    done_err.wait(10)
    say("status", reply.unpack()[0])


def cmd_shell(bus, path, args):
    user = args.pop(0)
    text, close_after, command = None, None, []
    while args:
        a = args.pop(0)
        if a == "--input":
            text = args.pop(0).encode().decode("unicode_escape")
        elif a == "--close-after":
            close_after = args.pop(0)
        elif a == "--":
            command = args
            break
        else:
            raise SystemExit("unknown argument %r" % a)
    try:
        reply, fdlist = bus.call_with_unix_fd_list_sync(
            BUS, path, IFACE, "OpenShell", GLib.Variant("(sasa{ss})", (user, command, {})),
            GLib.VariantType("(hs)"), Gio.DBusCallFlags.NONE, 60000, None, None)
    except GLib.Error as e:
        say("error", *error_of(e))
        return
    idx, pty_path = reply.unpack()
    master = fdlist.steal_fds()[idx]
    say("pty", pty_path, "tty" if os.isatty(master) else "notty")
    if text:
        os.write(master, text.encode())
    pending = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:     # EIO: the slave side is closed, the shell ended
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.decode(errors="replace").rstrip("\r")
            say("tty", line)
            if close_after is not None and line == close_after:
                time.sleep(2)   # for the test to see what runs before the close
                os.close(master)
                say("closed")
                time.sleep(30)
                return
    os.close(master)
    say("eof")


def main():
    args = sys.argv[1:]
    verb, path = args.pop(0), args.pop(0)
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    if verb == "fds":
        cmd_fds(bus, path, args)
    elif verb == "shell":
        cmd_shell(bus, path, args)
    else:
        raise SystemExit("unknown verb %r" % verb)


if __name__ == "__main__":
    main()
