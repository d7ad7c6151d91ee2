#!/usr/bin/python3
"""A tiny raw D-Bus client that can put bytes that are not UTF-8 into an 's' argument
(busctl, gdbus and GVariant all refuse to build such a message).  Runs inside the sandbox.

usage: rawbus.py HEXNAME
  calls org.containers.Manager.Create("busybox", <bytes.fromhex(HEXNAME)>, {}, {"start": false})
  and prints one JSON object: {"result": "return"|"error"|"disconnected", "error": name}
"""

import json
import os
import socket
import struct
import sys


class M:
    def __init__(self):
        self.b = bytearray()

    def align(self, n):
        while len(self.b) % n:
            self.b.append(0)

    def byte(self, v):
        self.b.append(v)

    def u32(self, v):
        self.align(4)
        self.b += struct.pack("<I", v)

    def string(self, raw):          # raw: bytes, not checked for UTF-8 on purpose
        self.u32(len(raw))
        self.b += raw + b"\0"

    def sig(self, s):
        self.b.append(len(s))
        self.b += s.encode() + b"\0"

    def boolean(self, v):
        self.u32(1 if v else 0)


def message(serial, path, iface, member, dest, signature, body):
    h = M()
    h.byte(ord("l")); h.byte(1); h.byte(0); h.byte(1)
    h.u32(len(body)); h.u32(serial)
    fields = M()

    def field(code, t, val):
        fields.align(8)
        fields.byte(code)
        fields.sig(t)
        if t == "g":
            fields.sig(val)
        else:
            fields.string(val.encode())
    field(1, "o", path)
    if iface:
        field(2, "s", iface)
    field(3, "s", member)
    if dest:
        field(6, "s", dest)
    if signature:
        field(8, "g", signature)
    # fields array length counts from the first (8-aligned) element
    h.u32(len(fields.b))
    h.align(8)          # array of structs: elements 8-aligned (header is 16 bytes: ok)
    h.b += fields.b
    h.align(8)
    return bytes(h.b) + body


def read_msg(sock):
    def recv_exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data
    fixed = recv_exact(16)
    mtype = fixed[1]
    body_len, _serial, flen = struct.unpack("<III", fixed[4:16])
    pad = (8 - (16 + flen) % 8) % 8
    rest = recv_exact(flen + pad + body_len)
    fields = rest[:flen]
    # pull out ERROR_NAME (4) and REPLY_SERIAL (5)
    out = {"type": mtype}
    i = 0
    while i < len(fields):
        while i % 8:
            i += 1
        if i >= len(fields):
            break
        code = fields[i]; i += 1
        slen = fields[i]; t = fields[i + 1:i + 1 + slen].decode(); i += 2 + slen
        if t in ("s", "o"):
            while i % 4:
                i += 1
            n = struct.unpack("<I", fields[i:i + 4])[0]; i += 4
            val = fields[i:i + n].decode(errors="replace"); i += n + 1
        elif t == "g":
            n = fields[i]; val = fields[i + 1:i + 1 + n].decode(); i += n + 2
        elif t == "u":
            while i % 4:
                i += 1
            val = struct.unpack("<I", fields[i:i + 4])[0]; i += 4
        else:
            break
        out[code] = val
    return out


def main():
    name = bytes.fromhex(sys.argv[1])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/run/dbus/system_bus_socket")
    s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    if not s.recv(4096).startswith(b"OK"):
        raise SystemExit("auth failed")
    s.sendall(b"BEGIN\r\n")
    s.sendall(message(1, "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello",
                      "org.freedesktop.DBus", "", b""))
    while True:
        r = read_msg(s)
        if r.get(5) == 1:
            break
    body = M()
    body.string(b"busybox")
    body.string(name)
    body.u32(0)                    # a{ss}: empty
    body.align(8)
    opts = M()                     # a{sv} {"start": <false>}; offsets relative to body start
    opts.b = bytearray(len(body.b) + 4)  # placeholder for where the array content begins
    opts.align(8)
    start = len(opts.b)
    opts.string(b"start")
    opts.sig("b")
    opts.boolean(False)
    content = bytes(opts.b[start:])
    body.u32(len(content))
    body.align(8)
    body.b += content
    s.sendall(message(2, "/org/containers/Manager", "org.containers.Manager", "Create",
                      "org.containers.Manager", "ssa{ss}a{sv}", bytes(body.b)))
    try:
        while True:
            r = read_msg(s)
            if r.get(5) == 2:
                break
    except (EOFError, ConnectionResetError):
        print(json.dumps({"result": "disconnected"}))
        return
    if r["type"] == 3:
        print(json.dumps({"result": "error", "error": r.get(4)}))
    else:
        print(json.dumps({"result": "return"}))


if __name__ == "__main__":
    main()
