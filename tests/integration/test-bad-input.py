#!/usr/bin/python3
"""Bad input gets a named error and changes nothing (List() is the same after each failure)."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, LOOP,  # noqa: E402
                     busctl_create_args, gv_env, gv_str, gv_opts, gdbus_error, container_path, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, stop_timeout=5)
C = CONTAINER_IFACE
E = "org.containers.Error."
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

# a running one and a stopped one to aim at
try:
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "run1", {"GREETING": "x"},
                                                {"command": ["sh", "-c", LOOP]})))
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "idle1", {},
                                                {"start": False,
                                                 "command": ["sh", "-c", LOOP]})))
    baseline = sb.list_containers()
    assert baseline["run1"]["state"] == "running" and baseline["idle1"]["state"] == "created", \
        baseline
    tap.ok(True, "setup: run1 running, idle1 created")
except Exception as e:
    tap.bail("setup failed: %s" % e)
    sb.stop()
    sys.exit(1)


def unchanged():
    now = sb.list_containers()
    return now == baseline or ("List changed: %s" % now)


def gdbus_manager(method, *args):
    return sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + "." + method,
                    *args, check=False)


def expect_create_error(name, image="busybox", env=None, opts=None, want=E + "InvalidName"):
    """gdbus gives the error name; busctl only its message, so check it fails too."""
    opts = {"start": False} if opts is None else opts
    r = gdbus_manager("Create", gv_str(image), gv_str(name), gv_env(env or {}), gv_opts(opts))
    if r.ok or gdbus_error(r) != want:
        return "gdbus: want %s, got rc=%d %s" % (want, r.returncode, r.stderr.strip())
    b = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "Create",
                  *busctl_create_args(image, name, env, opts), check=False)
    if b.ok:
        return "busctl call succeeded: %s" % b.stdout
    return unchanged()


BAD_NAMES = [("empty", ""), ("'.'", "."), ("'..'", ".."), ("'a/b'", "a/b"),
             ("'-x'", "-x"), ("65 bytes", "a" * 65), ("space", "a b"), ("newline", "a\nb")]
for label, n in BAD_NAMES:
    tap.check("Create with name %s -> InvalidName, nothing changed" % label,
              expect_create_error, n)


def t_invalid_utf8():
    # busctl and gdbus (GVariant) refuse to build a message with non-UTF-8 in an 's'; a raw
    # client can send one, and dbus-daemon itself then drops the sender's connection before
    # the daemon sees anything.  Either that or an error reply is fine; nothing may change.
    r = sb.run(["/usr/bin/python3", sandbox.HELPER_DIR + "/rawbus.py",
                b"bad\xff\xfename".hex()])
    out = json.loads(r.stdout)
    tap.diag("invalid UTF-8 name: %s" % out)
    if out["result"] == "return":
        return "Create with invalid UTF-8 succeeded"
    if out["result"] == "error" and out["error"] not in (E + "InvalidName", INVALID_ARGS):
        return "unexpected error %s" % out
    # the same raw client with a valid name must get through (proves the client is right)
    ok = json.loads(sb.run(["/usr/bin/python3", sandbox.HELPER_DIR + "/rawbus.py",
                            b"a/b".hex()]).stdout)
    if ok != {"result": "error", "error": E + "InvalidName"}:
        return "raw client control call: %s" % ok
    return unchanged()


tap.check("Create with an invalid UTF-8 name is refused, nothing changed", t_invalid_utf8)

tap.check("Create with an existing name -> ContainerExists",
          expect_create_error, "run1", want=E + "ContainerExists")
tap.check("Create from an unknown image -> NoSuchImage",
          expect_create_error, "newone", "no-such-image", want=E + "NoSuchImage")
tap.check("Create with an environment value holding a line break (LXC configuration "
          "injection) -> InvalidArgs, nothing changed",
          expect_create_error, "newone",
          env={"A": "x\nlxc.mount.entry = / host none bind 0 0"}, want=INVALID_ARGS)
tap.check("Create with an invalid environment variable name -> InvalidArgs",
          expect_create_error, "newone", env={"1A": "x"}, want=INVALID_ARGS)
tap.check("Create with an unknown option key -> InvalidArgs",
          expect_create_error, "newone", opts={"start": False, "colour": "blue"},
          want=INVALID_ARGS)
tap.check("Create with start of the wrong type (s) -> InvalidArgs",
          expect_create_error, "newone", opts={"start": "yes"}, want=INVALID_ARGS)
tap.check("Create with command of the wrong type (s) -> InvalidArgs",
          expect_create_error, "newone", opts={"start": False, "command": "sh"},
          want=INVALID_ARGS)
tap.check("Create with ephemeral of the wrong type (u) -> InvalidArgs",
          expect_create_error, "newone", opts={"start": False, "ephemeral": 1},
          want=INVALID_ARGS)


def expect_container_error(name, method, want):
    r = sb.gdbus("--object-path", container_path(name), "--method", C + "." + method,
                 check=False)
    if r.ok or gdbus_error(r) != want:
        return "gdbus %s on %s: want %s, got rc=%d %s" % (method, name, want, r.returncode,
                                                          r.stderr.strip())
    b = sb.busctl("call", BUS, container_path(name), C, method, check=False)
    if b.ok:
        return "busctl %s succeeded" % method
    return unchanged()


tap.check("Start on a running container -> AlreadyRunning",
          expect_container_error, "run1", "Start", E + "AlreadyRunning")
tap.check("Stop on a never-started container -> NotRunning",
          expect_container_error, "idle1", "Stop", E + "NotRunning")


def t_stop_stopped():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "stp", {},
                                                {"command": ["sh", "-c", LOOP]})))
    sb.call(container_path("stp"), C, "Stop")
    wait_for(lambda: sb.get_property(container_path("stp"), C, "State") == "stopped", 20,
             what="stopped")
    global baseline
    baseline = sb.list_containers()
    return expect_container_error("stp", "Stop", E + "NotRunning")


tap.check("Stop on a stopped container -> NotRunning", t_stop_stopped)


def t_unknown_names():
    for method in ("GetContainer", "Remove"):
        r = gdbus_manager(method, "nope")
        if gdbus_error(r) != E + "NoSuchContainer":
            return "%s: %s" % (method, r.stderr)
    r = gdbus_manager("GetImage", "nope")
    if gdbus_error(r) != E + "NoSuchImage":
        return "GetImage: %s" % r.stderr
    return unchanged()


tap.check("GetContainer/Remove of an unknown name -> NoSuchContainer, GetImage -> NoSuchImage",
          t_unknown_names)


def t_unknown_object():
    # no such object at all: the fallback must not invent one
    b = sb.busctl("call", BUS, container_path("ghost"), C, "Start", check=False)
    if b.ok:
        return "Start on a missing container succeeded"
    r = sb.gdbus("--object-path", container_path("ghost"), "--method", C + ".Start",
                 check=False)
    if gdbus_error(r) not in (E + "NoSuchContainer", "org.freedesktop.DBus.Error.UnknownObject",
                              "org.freedesktop.DBus.Error.UnknownMethod"):
        return r.stderr
    return unchanged()


tap.check("a method on a container object that does not exist fails", t_unknown_object)


def t_wrong_signature():
    b = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "Create", "ss", "busybox", "x",
                  check=False)
    if b.ok:
        return "Create with signature ss succeeded"
    return unchanged()


tap.check("Create with the wrong signature fails, nothing changed", t_wrong_signature)


BROKEN_BASE = """{
  "Name": "broken",
  "Description": "a base whose mount source does not exist: LXC cannot start it",
  "Busybox": "/bin/busybox",
  "Mounts": ["/nonexistent-cm-test mnt none ro,bind 0 0"]
}
"""


def t_start_failure():
    # a base LXC cannot start: the daemon reads base definitions when it starts
    sb.write_file("/usr/share/containers-manager/bases/broken.json", BROKEN_BASE)
    sb.run(["systemctl", "restart", "containers-manager.service"])
    try:
        r = gdbus_manager("Create", gv_str("broken"), gv_str("brk"), gv_env({}),
                          gv_opts({"command": ["true"]}))
        if r.ok or gdbus_error(r) != E + "StartFailed":
            return "want StartFailed, got rc=%d %s" % (r.returncode, r.stderr.strip())
        # the reason LXC gave is in the message (its log goes with the container)
        if "nonexistent-cm-test" not in r.stderr and "No such file" not in r.stderr:
            return "the error does not say why: %s" % r.stderr.strip()
        if sb.unit_active("container-brk.scope") == "active":
            return "the scope is still there"
        if sb.run(["test", "-e", "/var/lib/containers-manager/containers/brk"], check=False).ok:
            return "the container's directory is left behind"
        return unchanged()
    finally:
        sb.run(["rm", "-f", "/usr/share/containers-manager/bases/broken.json"])


tap.check("a Create whose start fails -> StartFailed with LXC's reason, nothing left behind",
          t_start_failure)


def t_still_serving():
    return sb.get_property(container_path("run1"), C, "State") == "running" and unchanged()


tap.check("after all that the daemon still serves and run1 still runs", t_still_serving)



# ---- names with dots: refused for new containers, existing ones keep working ---------------

for n in ("a.b", "example.com", "localhost."):
    tap.check("Create with name %r (would shadow a DNS name) -> InvalidName, nothing changed" % n,
              expect_create_error, n)


def gdbus_container(name, method, *args):
    return sb.gdbus("--object-path", container_path(name), "--method", C + "." + method,
                    *args, check=False)


def t_dotted_existing():
    # a container an earlier release let have a dot: its directory says its name
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "dotold", {},
                                                {"start": False, "command": ["sh", "-c", LOOP]})))
    sb.run(["systemctl", "stop", "containers-manager.service"])
    sb.run(["mv", "/var/lib/containers-manager/containers/dotold",
            "/var/lib/containers-manager/containers/old.dot"])
    sb.run(["systemctl", "reset-failed", "containers-manager.service"], check=False)
    sb.run(["systemctl", "start", "containers-manager.service"])
    try:
        if "old.dot" not in sb.list_containers():
            return "old.dot not loaded: %s" % list(sb.list_containers())
        r = gdbus_container("old.dot", "Start")
        if not r.ok:
            return "Start old.dot: %s" % r.stderr
        if sb.get_property(container_path("old.dot"), C, "State") != "running":
            return "old.dot not running"
        r = gdbus_container("old.dot", "Stop")
        if not r.ok:
            return "Stop old.dot: %s" % r.stderr
        # a new name with a dot: refused for Rename too; without one, fine
        r = gdbus_container("old.dot", "Rename", gv_str("new.dot"))
        if r.ok or gdbus_error(r) != E + "InvalidName":
            return "Rename to new.dot: rc=%d %s" % (r.returncode, r.stderr)
        # ImportContainer under a dotted name: refused before the stream is read
        sb.write_file("/var/tmp/empty.tar", "")
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
            sb.write_file(sandbox.HELPER_DIR + "/imageclient.py", f.read(), mode=0o755)
        out = sb.run(["/usr/bin/python3", sandbox.HELPER_DIR + "/imageclient.py",
                      "import-container", "imp.dot", "/var/tmp/empty.tar"]).stdout.split()
        if out[:2] != ["error", E + "InvalidName"]:
            return "ImportContainer imp.dot: %s" % out
        if "imp.dot" in sb.list_containers():
            return "imp.dot created"
        r = gdbus_manager("Remove", gv_str("old.dot"))
        if not r.ok:
            return "Remove old.dot: %s" % r.stderr
        return unchanged()
    finally:
        sb.mcall("Remove", "s", "old.dot", check=False)


tap.check("a container that already has a dot in its name loads, starts, stops and is removed; "
          "Rename and ImportContainer to a dotted name -> InvalidName", t_dotted_existing)



# ---- a total cap on what an import unpacks ([Transfers] ImportMaxBytes=) ------------------

CONF = "/etc/containers-manager/containers-manager.conf"
# an OCI layout with two gzip layers of 700 KiB of zeros each: a few KiB on the wire, each
# layer under a 1 MiB cap, together over it
MAKE_OCI = r"""
import gzip, hashlib, io, json, tarfile

blobs = {}
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return "sha256:" + d, len(data)

layers, diff_ids = [], []
for n in ("one", "two"):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        i = tarfile.TarInfo("big-" + n)
        i.size = 700 * 1024
        t.addfile(i, io.BytesIO(b"\0" * i.size))
    diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    d, size = blob(gzip.compress(raw.getvalue()))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size})
cd, csize = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
md, msize = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                        "digest": cd, "size": csize},
                             "layers": layers}).encode())
index = json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": msize}]}).encode()
with tarfile.open("/var/tmp/capped-oci.tar", "w") as t:
    def add(name, data):
        i = tarfile.TarInfo(name)
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    add("index.json", index)
    for d, data in blobs.items():
        add("blobs/sha256/" + d, data)
"""


def image_client(*args):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
        sb.write_file(sandbox.HELPER_DIR + "/imageclient.py", f.read(), mode=0o755)
    return sb.run(["/usr/bin/python3", sandbox.HELPER_DIR + "/imageclient.py"] + list(args),
                  timeout=300).stdout.split(None, 2)


def images():
    return [i[0] for i in sb.mcall("Images")[0]]


def t_import_cap():
    sb.run(["/usr/bin/python3", "-c", MAKE_OCI])
    sb.write_file(CONF, "[Transfers]\nImportMaxBytes=1M\n")
    sb.run(["systemctl", "reset-failed", "containers-manager.service"], check=False)
    sb.run(["systemctl", "restart", "containers-manager.service"])
    try:
        r = image_client("import", "capbig", "/var/tmp/capped-oci.tar")
        if r[:2] != ["error", E + "InvalidArchive"] or "1048576" not in r[2]:
            return "ImportImage of 1.4 MiB of layers with a cap of 1 MiB: %s" % r
        tap.diag("ImportImage: %s" % " ".join(r))
        if "capbig" in images():
            return "capbig was imported"
    finally:
        sb.run(["rm", "-f", CONF])
        sb.run(["systemctl", "reset-failed", "containers-manager.service"], check=False)
        sb.run(["systemctl", "restart", "containers-manager.service"])
    # the archive itself is good: under the default cap (16 GiB) it imports
    r = image_client("import", "capok", "/var/tmp/capped-oci.tar")
    if r[0] != "ok":
        return "ImportImage with the default cap: %s" % r
    sb.mcall("RemoveImage", "s", "capok", check=False)
    return unchanged()


tap.check("ImportImage whose layers unpack to more than [Transfers] ImportMaxBytes= (each layer "
          "under it) -> InvalidArchive naming the cap, nothing imported; under the default it "
          "imports", t_import_cap)

for n in ("run1", "idle1", "stp"):
    sb.mcall("Remove", "s", n, check=False)
sb.stop()
sys.exit(tap.done())
