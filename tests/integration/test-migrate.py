#!/usr/bin/python3
"""Two hosts: two throwaway systemds with the service, joined by a veth pair of their own (no
other route between them). A container made on the first (files written into it, an
environment, owners inside) is exported there, its stream goes across the link to the second,
which imports it and runs it with the same files, owners and environment on a slot of its own
(its image, the busybox base, is on both hosts: --no-image; images travelling inside a container
export are tested in test-snapshot.py)."""

import os
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, HELPER_DIR, busctl_create_args, container_path,  # noqa: E402
                     wait_for)

tap = sandbox.Tap()
a = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
b = sandbox.Sandbox(stage=a.stage, idle_timeout=0, stop_timeout=5)
try:
    b.start()
except Exception as e:
    tap.bail("second sandbox: %s" % e)
    a.stop()
    sys.exit(1)
C = CONTAINER_IFACE
PORT = 9411
ADDR = {"a": "192.168.241.1", "b": "192.168.241.2"}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
    client_py = f.read()
for sb in (a, b):
    sb.write_file(HELPER_DIR + "/imageclient.py", client_py, mode=0o755)
CLIENT = ["/usr/bin/python3", HELPER_DIR + "/imageclient.py"]

# The link: a veth pair made on the host, one end moved into each sandbox's network namespace.
LINK = "cmmig%d" % os.getpid()


def t_link():
    subprocess.run(["ip", "link", "add", LINK + "a", "type", "veth", "peer", "name", LINK + "b"], check=True)
    for side, sb in (("a", a), ("b", b)):
        subprocess.run(["ip", "link", "set", LINK + side, "netns", str(sb.pid1)], check=True)
        sb.run(["ip", "addr", "add", ADDR[side] + "/24", "dev", LINK + side])
        sb.run(["ip", "link", "set", LINK + side, "up"])
    r = a.run(["busybox", "ping", "-c", "1", "-W", "5", ADDR["b"]], check=False)
    return r.ok or "no route from a to b: %r" % r


tap.check("two sandboxes joined by a veth pair of their own", t_link)


def sh(sb, name, script):
    out = sb.call(container_path(name), C, "Exec", "asa{sv}", "3", "sh", "-c", script, "0")
    return out[0], bytes(out[1]).decode()


def t_migrate():
    a.mcall(*(["Create"] + busctl_create_args("busybox", "traveller", {"GREETING": "from a"},
                                               {"command": ["sleep", "100000"], "network": "none"})))
    rc, out = sh(a, "traveller", "mkdir -p /srv && echo 'made on a' > /srv/note && chown 1000:1000 /srv/note "
                                 "&& mkfifo -m 620 /srv/pipe && chown 1000:1000 /srv/pipe && rm /etc/hostname; echo ok")
    if rc != 0:
        return "writing on a: %r" % out
    a.call(container_path("traveller"), C, "Stop")
    # Its image is the busybox base, which every host has: only the container travels.
    r = a.run(CLIENT + ["export-container", "traveller", "/var/tmp/traveller.tar", "--no-image"]).stdout.split()
    if r[:1] != ["ok"]:
        return "export on a: %r" % r

    # Across the link only: b listens, a sends; neither sees the other's files.
    recv = ("import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            "s.bind(('%s', %d)); s.listen(1); c, _ = s.accept(); f = open('/var/tmp/in.tar', 'wb')\n"
            "while True:\n    d = c.recv(65536)\n    if not d: break\n    f.write(d)\nf.close()" % (ADDR["b"], PORT))
    listener = b.popen(["/usr/bin/python3", "-c", recv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    send = ("import socket, time\nfor i in range(50):\n    try:\n        s = socket.create_connection(('%s', %d)); break\n"
            "    except OSError: time.sleep(0.2)\ns.sendfile(open('/var/tmp/traveller.tar', 'rb')); s.close()"
            % (ADDR["b"], PORT))
    a.run(["/usr/bin/python3", "-c", send], timeout=120)
    listener.wait(timeout=60)
    size_a = a.run(["stat", "-c", "%s", "/var/tmp/traveller.tar"]).stdout.strip()
    size_b = b.run(["stat", "-c", "%s", "/var/tmp/in.tar"]).stdout.strip()
    if size_a != size_b:
        return "the stream arrived cut: %s of %s bytes" % (size_b, size_a)

    r = b.run(CLIENT + ["import-container", "traveller", "/var/tmp/in.tar"]).stdout.split()
    if r[:2] != ["ok", container_path("traveller")]:
        return "import on b: %r" % r
    b.call(container_path("traveller"), C, "Start")
    rc, out = sh(b, "traveller", "cat /srv/note; stat -c %u:%g /srv/note; test -e /etc/hostname && echo hostname; "
                                 "echo $GREETING; test -p /srv/pipe && echo fifo; stat -c %u:%g:%a /srv/pipe")
    want = "made on a\n1000:1000\nfrom a\nfifo\n1000:1000:620\n"
    if out != want:
        return "on b: %r, want %r" % (out, want)
    shift = b.get_property(container_path("traveller"), C, "UidShift")
    owner = b.run(["stat", "-c", "%u", "/var/lib/containers-manager/containers/traveller/upper/srv/note"]).stdout.strip()
    if owner != str(shift + 1000):
        return "on b's disk the file is owned by %s, not its slot's %d" % (owner, shift + 1000)
    tap.diag("%s bytes crossed the link; b runs it on slot %d" % (size_a, shift))
    return True


tap.check("a container exported on a, streamed across the link, imported and run on b: same files "
          "(a fifo too), owners (on b's own slot), deletions and environment", t_migrate)

link_gone = subprocess.run(["ip", "link", "del", LINK + "a"], stderr=subprocess.DEVNULL)
b.stop()
a.stop()
sys.exit(tap.done())
