#!/usr/bin/python3
"""A client of the file methods for the tests (busctl and gdbus cannot pass file descriptors,
and a loop of calls is quicker from one process).  Runs inside the sandbox with /usr/bin/python3
and gi.  Prints one JSON object per command.

usage: filesclient.py OBJECT_PATH COMMAND ARGS...
  get-fd PATH OUTFILE         GetFileFd, the pipe's data written to OUTFILE
  put-fd PATH INFILE [OPTS]   PutFileFd with INFILE opened read-only; OPTS: JSON {"mode": 420, ...}
  put-fd-hold PATH            PutFileFd from a pipe kept open: prints {"sent": true}, then
                              waits for a line on stdin, writes it to the pipe, closes it and
                              prints the call's outcome
  put-fd-wronly PATH          PutFileFd with a descriptor open for writing only (refused)
  get-fd-stream PATH          GetFileFd, the pipe read to its end: size and sha256
  get PATH                    GetFile: size and sha256 of the data
  put-size PATH N             PutFile of N bytes (b"x" * N)
  hammer PATH N MARKER        N rounds of GetFile and PutFile on PATH: counts outcomes, and
                              whether any data holding MARKER came back
  put-archive PATH TARFILE [OPTS]  PutArchive of TARFILE (opened read-only) into directory PATH
  get-archive PATH OUTFILE    GetArchive of PATH into OUTFILE (opened for writing)
  get-archive-pipe PATH       GetArchive of PATH into a pipe read meanwhile: size and sha256
  nul-path                    GetFile with a path holding a NUL byte, over a raw connection
                              (GVariant refuses to build such a string)
"""

import hashlib
import json
import os
import sys
import threading

from gi.repository import Gio, GLib

BUS = "org.containers.Manager"
IFACE = "org.containers.Container"


def variant_opts(opts):
    out = {}
    for k, v in opts.items():
        out[k] = GLib.Variant("b", v) if isinstance(v, bool) else GLib.Variant("u", v)
    return out


def ay(data):
    return GLib.Variant.new_from_bytes(GLib.VariantType("ay"), GLib.Bytes.new(data), True)


def put_args(path, data):
    return GLib.Variant.new_tuple(GLib.Variant("s", path), ay(data), GLib.Variant("a{sv}", {}))


def error_of(e):
    return {"result": "error", "error": Gio.DBusError.get_remote_error(e), "message": e.message}


def call(bus, path, method, sig, args, fds=None):
    body = GLib.Variant(sig, args) if sig else args
    if fds is not None:
        return bus.call_with_unix_fd_list_sync(BUS, path, IFACE, method, body,
                                               None, Gio.DBusCallFlags.NONE, 120000, fds, None)
    return bus.call_sync(BUS, path, IFACE, method, body, None,
                         Gio.DBusCallFlags.NONE, 120000, None)


def get_fd(bus, path, fpath, out):
    try:
        ret, fds = call(bus, path, "GetFileFd", "(s)", (fpath,), Gio.UnixFDList.new())
    except GLib.Error as e:
        return error_of(e)
    idx, info = ret.unpack()
    fd = fds.get(idx)
    for x in fds.steal_fds():
        os.close(x)
    h = hashlib.sha256()
    n = 0
    sink = open(out, "wb") if out else None
    with os.fdopen(fd, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            if sink:
                sink.write(chunk)
    if sink:
        sink.close()
    return {"result": "ok", "info": info, "bytes": n, "sha256": h.hexdigest()}


def put_fd(bus, path, fpath, fd, opts):
    fds = Gio.UnixFDList.new()
    idx = fds.append(fd)
    try:
        call(bus, path, "PutFileFd", "(sha{sv})", (fpath, idx, variant_opts(opts)), fds)
    except GLib.Error as e:
        return error_of(e)
    finally:
        for x in fds.steal_fds():
            os.close(x)
    return {"result": "ok"}


def nul_path(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import socket
    import rawbus
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/run/dbus/system_bus_socket")
    s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    if not s.recv(4096).startswith(b"OK"):
        raise SystemExit("auth failed")
    s.sendall(b"BEGIN\r\n")
    s.sendall(rawbus.message(1, "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello",
                             "org.freedesktop.DBus", "", b""))
    try:
        while rawbus.read_msg(s).get(5) != 1:
            pass
        body = rawbus.M()
        body.string(b"/etc/pass\0wd")
        s.sendall(rawbus.message(2, path, IFACE, "GetFile", BUS, "s", bytes(body.b)))
        while True:
            r = rawbus.read_msg(s)
            if r.get(5) == 2:
                return {"result": "error" if r["type"] == 3 else "return", "error": r.get(4)}
    except (EOFError, ConnectionResetError):
        return {"result": "disconnected"}


def main():
    path, cmd, *args = sys.argv[1:]
    if cmd == "nul-path":
        print(json.dumps(nul_path(path)), flush=True)
        return
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    if cmd == "get-fd":
        out = get_fd(bus, path, args[0], args[1])
    elif cmd == "get-fd-stream":
        out = get_fd(bus, path, args[0], None)
    elif cmd == "put-fd":
        opts = json.loads(args[2]) if len(args) > 2 else {}
        fd = os.open(args[1], os.O_RDONLY)
        out = put_fd(bus, path, args[0], fd, opts)
        os.close(fd)
    elif cmd == "put-archive":
        opts = json.loads(args[2]) if len(args) > 2 else {}
        fd = os.open(args[1], os.O_RDONLY)
        fds = Gio.UnixFDList.new()
        idx = fds.append(fd)
        os.close(fd)
        try:
            call(bus, path, "PutArchive", "(sha{sv})", (args[0], idx, variant_opts(opts)), fds)
            out = {"result": "ok"}
        except GLib.Error as e:
            out = error_of(e)
    elif cmd in ("get-archive", "get-archive-pipe"):
        if cmd == "get-archive":
            r, w = None, os.open(args[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        else:
            r, w = os.pipe()
        fds = Gio.UnixFDList.new()
        idx = fds.append(w)
        os.close(w)
        h = hashlib.sha256()
        got = [0]

        def drain():
            with os.fdopen(r, "rb") as f:
                while True:
                    chunk = f.read(1 << 16)
                    if not chunk:
                        break
                    h.update(chunk)
                    got[0] += len(chunk)
        t = threading.Thread(target=drain) if r is not None else None
        if t:
            t.start()
        try:
            call(bus, path, "GetArchive", "(sh)", (args[0], idx), fds)
            out = {"result": "ok"}
        except GLib.Error as e:
            out = error_of(e)
        finally:
            for x in fds.steal_fds():
                os.close(x)
        if t:
            t.join()
            out.update(bytes=got[0], sha256=h.hexdigest())
    elif cmd == "put-fd-wronly":
        fd = os.open("/dev/null", os.O_WRONLY)
        out = put_fd(bus, path, args[0], fd, {})
        os.close(fd)
    elif cmd == "put-fd-hold":
        r, w = os.pipe()
        result = {}

        def run():
            result.update(put_fd(bus, path, args[0], r, {}))
        t = threading.Thread(target=run)
        t.start()
        print(json.dumps({"sent": True}), flush=True)
        line = sys.stdin.readline()
        os.close(r)
        os.write(w, line.encode())
        os.close(w)
        t.join()
        out = result
    elif cmd == "get":
        try:
            ret = call(bus, path, "GetFile", "(s)", (args[0],))
        except GLib.Error as e:
            out = error_of(e)
        else:
            # unpack() would make a list of ints, one per byte
            data = ret.get_child_value(0).get_data_as_bytes().get_data()
            info = ret.get_child_value(1).unpack()
            out = {"result": "ok", "info": info, "bytes": len(data),
                   "sha256": hashlib.sha256(data).hexdigest()}
    elif cmd == "put-size":
        data = b"x" * int(args[1])
        try:
            call(bus, path, "PutFile", None, put_args(args[0], data))
            out = {"result": "ok"}
        except GLib.Error as e:
            out = error_of(e)
    elif cmd == "hammer":
        fpath, n, marker = args[0], int(args[1]), args[2].encode()
        counts = {}
        leaked = []
        for i in range(n):
            for method in ("GetFile", "PutFile"):
                try:
                    if method == "GetFile":
                        data = call(bus, path, "GetFile", "(s)", (fpath,)).get_child_value(0) \
                            .get_data_as_bytes().get_data()
                        if marker in data:
                            leaked.append(data[:200].decode(errors="replace"))
                    else:
                        call(bus, path, "PutFile", None,
                             put_args(fpath, b"written-by-put %d\n" % i))
                    key = method + " ok"
                except GLib.Error as e:
                    key = method + " " + (Gio.DBusError.get_remote_error(e) or e.message)
                counts[key] = counts.get(key, 0) + 1
        out = {"result": "ok", "counts": counts, "leaked": leaked}
    else:
        raise SystemExit("unknown command %r" % cmd)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
