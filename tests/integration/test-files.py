#!/usr/bin/python3
"""Files in a container: GetFile, PutFile, GetFileFd, PutFileFd, ListDirectory, MakeDirectory
and RemovePath on a running, a stopped and a never-started container; ownership in container
ids; PutFile atomic; the errors; paths that try to leave the container's root (links to the
host's files, a container swapping a directory for a link to / while the calls loop); the
org.containers.exec polkit action, denied and granted."""

import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, HELPER_DIR, TEST_USER, busctl_create_args,  # noqa: E402
                     container_path, gdbus_error, gv_opts, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
C = CONTAINER_IFACE
U = TEST_USER
E = "org.containers.Error."
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
STATE = "/var/lib/containers-manager/containers"
HOST_MARKER = "HOST-MARKER-must-never-be-read"

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "filesclient.py")) as f:
    sb.write_file(HELPER_DIR + "/filesclient.py", f.read(), mode=0o755)


def client(name, *args, user=None, input=None):
    r = sb.run(["/usr/bin/python3", HELPER_DIR + "/filesclient.py", container_path(name)]
               + [str(a) for a in args], user=user, check=False, input=input, timeout=300)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("filesclient %s: rc=%d %s %s" % (args, r.returncode, r.stdout, r.stderr))


def create(name, command, start=True, wait=True, **opts):
    opts = dict(opts, command=["sh", "-c", command], start=start)
    sb.mcall(*(["Create"] + busctl_create_args("busybox", name, {}, opts)))
    if start and wait:
        wait_for(lambda: state(name) == "running", 30, what="%s running" % name)


def state(name):
    return sb.get_property(container_path(name), C, "State")


def call(name, method, sig="", *args, user=None):
    """busctl call: the decoded data, or the failed Result."""
    return sb.call(container_path(name), C, method, sig, *args, user=user, check=False)


def gcall(name, method, *args, user=None):
    """gdbus call (for the error's name): the Result."""
    return sb.gdbus("--object-path", container_path(name), "--method", C + "." + method,
                    *args, user=user, check=False)


def gstr(s):
    return sandbox.gv_str(s)


def gbytes(data):
    return "[" + ", ".join("byte %d" % b for b in data) + "]" if data else "@ay []"


def get(name, path):
    r = call(name, "GetFile", "s", path)
    if not isinstance(r, list):
        raise RuntimeError("GetFile %s %s: %s" % (name, path, r.stderr.strip()))
    return bytes(r[0]), {k: v["data"] for k, v in r[1].items()}


def put(name, path, data, **opts):
    a = ["PutFile", "saya{sv}", path, str(len(data))] + [str(b) for b in data]
    a.append(str(len(opts)))
    for k, v in opts.items():
        a += [k] + sandbox.busctl_variant(v)
    r = call(name, *a)
    if not isinstance(r, list):
        raise RuntimeError("PutFile %s %s: %s" % (name, path, r.stderr.strip()))


def listdir(name, path):
    r = call(name, "ListDirectory", "s", path)
    if not isinstance(r, list):
        raise RuntimeError("ListDirectory %s %s: %s" % (name, path, r.stderr.strip()))
    return {e[0]: {"mode": e[1], "uid": e[2], "gid": e[3], "size": e[4], "mtime": e[5]}
            for e in r[0]}


def expect_error(want, name, method, *args, user=None):
    r = gcall(name, method, *args, user=user)
    got = None if r.ok else gdbus_error(r)
    if isinstance(want, str):
        want = (want,)
    if got not in want:
        return "%s%s: want %s, got %s (%s)" % (method, args, "/".join(want), got,
                                               (r.stdout + r.stderr).strip()[-300:])
    return True


def uid_shift(name):
    return sb.get_property(container_path(name), C, "UidShift")


def host_stat(name, path):
    """stat of a file in the container's writable layer, from the host."""
    out = sb.run(["stat", "-c", "%u %g %a %i", STATE + "/" + name + "/upper" + path]).stdout.split()
    return {"uid": int(out[0]), "gid": int(out[1]), "mode": int(out[2], 8), "ino": int(out[3])}


# ---- the containers -------------------------------------------------------------------

SETUP = ("echo container-shadow > /etc/shadow; ln -s /etc/shadow /x; "
         "ln -s ../../../../../etc/shadow /y; ln -s /proc/1/root/etc/shadow /z; "
         "mkdir -p /data /home/u; echo hello > /data/f; chown 1000:1000 /home/u; "
         "dd if=/dev/zero of=/big bs=1 count=0 seek=70M 2>/dev/null; ")
LOOP = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"

# the host's own files, which no call may ever read or change
sb.write_file("/etc/shadow-marker", HOST_MARKER + "\n")
sb.write_file("/file", HOST_MARKER + "\n")
sb.write_file("/d/file", HOST_MARKER + "\n")


def t_setup():
    create("run1", SETUP + LOOP)
    create("stop1", SETUP + "true", wait=False)
    wait_for(lambda: state("stop1") == "stopped", 30, what="stop1 stopped")
    create("new1", "cat /hello-from-files; " + LOOP, start=False)
    return True


if not tap.check("containers: running, stopped, never started", t_setup):
    tap.bail("no containers")
    sb.stop()
    sys.exit(1)


# ---- every method, on each kind of container ----------------------------------------------

def t_get(name):
    data, info = get(name, "/data/f")
    assert data == b"hello\n", data
    assert info["size"] == 6 and info["mode"] == 0o100644 and info["uid"] == 0, info
    assert abs(info["mtime"] / 1e6 - time.time()) < 600, info
    return True


def t_put_get(name):
    put(name, "/data/g", b"new data\n", mode=0o640, make_parents=True)
    data, info = get(name, "/data/g")
    assert data == b"new data\n" and info["mode"] == 0o100640, (data, info)
    return True


def t_list(name):
    d = listdir(name, "/data")
    assert set(d) >= {"f", "g"}, d
    assert d["f"]["size"] == 6 and d["f"]["mode"] == 0o100644, d
    root = listdir(name, "/")
    assert root["x"]["mode"] & 0o170000 == 0o120000, root["x"]     # links are listed as links
    return True


def t_mkdir_remove(name):
    r = call(name, "MakeDirectory", "sa{sv}", "/m/n/o", "2", "make_parents", "b", "true",
             "mode", "u", "0700")
    assert isinstance(r, list), r
    d = listdir(name, "/m/n")
    assert d["o"]["mode"] == 0o40700, d
    put(name, "/m/n/o/file", b"x")
    r = expect_error("System.Error.ENOTEMPTY", name, "RemovePath", "'/m'", "@a{sv} {}")
    assert r is True, r
    r = call(name, "RemovePath", "sa{sv}", "/m", "1", "recursive", "b", "true")
    assert isinstance(r, list), r
    assert "m" not in listdir(name, "/"), listdir(name, "/")
    put(name, "/data/gone", b"x")
    call(name, "RemovePath", "sa{sv}", "/data/gone", "0")
    assert "gone" not in listdir(name, "/data")
    return True


def t_fd(name):
    sb.run(["sh", "-c", "head -c 3000000 /dev/urandom > /var/tmp/in-%s" % name])
    want = sb.run(["sha256sum", "/var/tmp/in-%s" % name]).stdout.split()[0]
    r = client(name, "put-fd", "/data/big-in", "/var/tmp/in-%s" % name, json.dumps({"mode": 0o600, "uid": 7}))
    assert r == {"result": "ok"}, r
    r = client(name, "get-fd", "/data/big-in", "/var/tmp/out-%s" % name)
    assert r["result"] == "ok" and r["bytes"] == 3000000 and r["sha256"] == want, r
    assert r["info"]["mode"] == 0o100600 and r["info"]["uid"] == 7 and r["info"]["size"] == 3000000, r
    r = client(name, "get-fd", "/nope", "/dev/null")
    assert r["result"] == "error" and r["error"] == E + "NoSuchFile", r
    # a file of any size goes through the descriptor forms (this one is over GetFile's limit)
    r = client(name, "get-fd-stream", "/big")
    assert r["result"] == "ok" and r["bytes"] == 70 * 1024 * 1024, r
    return True


for kind, name in (("running", "run1"), ("stopped", "stop1"), ("never-started", "new1")):
    if name != "new1":
        tap.check("GetFile on a %s container: data and info (mode, uid, size, mtime)" % kind, t_get, name)
    tap.check("PutFile then GetFile on a %s container" % kind, t_put_get, name)
    if name != "new1":
        tap.check("ListDirectory on a %s container" % kind, t_list, name)
    tap.check("MakeDirectory (mode, make_parents) and RemovePath (recursive) on a %s container" % kind,
              t_mkdir_remove, name)
    if name != "new1":
        tap.check("PutFileFd and GetFileFd (3 MB, 70 MiB sparse) on a %s container" % kind, t_fd, name)


def t_reply_limit():
    # the system bus drops a sender whose message is over 32 MiB: GetFile stays below that
    sb.run(["sh", "-c", "head -c 31457280 /dev/urandom > /var/tmp/30m"])
    want = sb.run(["sha256sum", "/var/tmp/30m"]).stdout.split()[0]
    r = client("run1", "put-fd", "/data/30m", "/var/tmp/30m")
    assert r == {"result": "ok"}, r
    r = client("run1", "get", "/data/30m")
    assert r["result"] == "ok" and r["sha256"] == want, r
    sb.run(["sh", "-c", "head -c 34603008 /dev/zero > /var/tmp/33m"])
    r = client("run1", "put-fd", "/data/33m", "/var/tmp/33m")
    assert r == {"result": "ok"}, r
    r = client("run1", "get", "/data/33m")
    assert r["result"] == "error" and r["error"] == E + "FileTooLarge", r
    call("run1", "RemovePath", "sa{sv}", "/data/30m", "0")
    call("run1", "RemovePath", "sa{sv}", "/data/33m", "0")
    return get("run1", "/data/f")[0] == b"hello\n"


tap.check("GetFile of 30 MiB works, of 33 MiB is FileTooLarge, the service stays on the bus",
          t_reply_limit)


def t_never_started_runs():
    put("new1", "/hello-from-files", b"put before the first start\n")
    assert "hello-from-files" in listdir("new1", "/")
    sb.call(container_path("new1"), C, "Start")
    wait_for(lambda: state("new1") == "running", 30, what="new1 running")
    data, _ = get("new1", "/hello-from-files")
    assert data == b"put before the first start\n", data
    out = sb.call(container_path("new1"), C, "Logs", "a{sv}", "0")[0]["stdout"]
    return "put before the first start" in out or out


tap.check("a file put into a never-started container is there when it runs", t_never_started_runs)


def t_no_mounts_left():
    m = sb.run(["findmnt", "-rn", "-o", "TARGET"]).stdout
    assert "files-stage" not in m, m
    locks = sb.run("ls -A /run/containers-manager/files-locks 2>/dev/null || true").stdout.strip()
    return not locks or "lock files left: %s" % locks


tap.check("nothing of the offline work stays mounted in the host's namespace, no lock file stays",
          t_no_mounts_left)


def t_frozen():
    # the processes are frozen, not their namespaces: files can be read and written
    create("frz", LOOP)
    try:
        sb.call(container_path("frz"), C, "Freeze")
        assert state("frz") == "frozen", state("frz")
        put("frz", "/while-frozen", b"cold\n")
        assert get("frz", "/while-frozen")[0] == b"cold\n"
        assert "while-frozen" in listdir("frz", "/")
        assert state("frz") == "frozen", state("frz")
    finally:
        sb.mcall("Remove", "s", "frz", check=False)
    return True


tap.check("file methods on a frozen container work and leave it frozen", t_frozen)


def t_namespaces():
    # what the container's own processes see, written down by its command at start; the file
    # methods must see the same: its UTS, network, PID and cgroup namespaces, not the host's
    create("nsv", "hostname > /seen-hostname; ls /proc/sys/net/ipv4/conf > /seen-conf; "
           "cat /proc/self/cgroup > /seen-cgroup; echo done > /seen-done; " + LOOP)
    try:
        def seen():
            r = call("nsv", "GetFile", "s", "/seen-done")
            return isinstance(r, list) and bytes(r[0]) == b"done\n"
        wait_for(seen, 30, what="the container's own view")
        host_name = sb.run(["cat", "/proc/sys/kernel/hostname"]).stdout.strip()
        name = get("nsv", "/seen-hostname")[0].decode().strip()
        assert name != host_name, (name, host_name)
        r = call("nsv", "GetFile", "s", "/proc/sys/kernel/hostname")
        assert isinstance(r, list), "GetFile /proc/sys/kernel/hostname: %s" % r.stderr.strip()
        got = bytes(r[0]).decode().strip()
        assert got == name, "hostname: the container's is %r, GetFile says %r (the host's is %r)" % (
            name, got, host_name)
        conf = set(get("nsv", "/seen-conf")[0].decode().split())
        got = set(listdir("nsv", "/proc/sys/net/ipv4/conf"))
        assert got == conf, "/proc/sys/net/ipv4/conf: the container's %s, ListDirectory %s" % (conf, got)
        r = call("nsv", "GetFile", "s", "/proc/net/dev")
        assert isinstance(r, list), "GetFile /proc/net/dev: %s" % r.stderr.strip()
        devs = {line.split(":")[0].strip() for line in bytes(r[0]).decode().splitlines()[2:]}
        assert devs == conf - {"all", "default"}, (devs, conf)
        cg = get("nsv", "/seen-cgroup")[0]
        r = call("nsv", "GetFile", "s", "/proc/self/cgroup")
        assert isinstance(r, list), "GetFile /proc/self/cgroup: %s" % r.stderr.strip()
        assert bytes(r[0]) == cg, "cgroup: the container's %r, GetFile's %r" % (cg, bytes(r[0]))
    finally:
        sb.mcall("Remove", "s", "nsv", check=False)
    return True


tap.check("a running container's file methods see its namespaces: hostname, /proc/sys/net, "
          "/proc/net/dev, /proc/self/cgroup", t_namespaces)


def t_renamed():
    create("ren1", "true", start=False)
    put("ren1", "/before-rename", b"x")
    sb.call(container_path("ren1"), C, "Rename", "s", "ren2")
    try:
        assert get("ren2", "/before-rename")[0] == b"x"
        put("ren2", "/after-rename", b"y")
        # no count of file work left behind by the rename: it starts
        r = sb.gdbus("--object-path", container_path("ren2"), "--method", C + ".Start", check=False)
        assert r.ok, r
    finally:
        sb.mcall("Remove", "s", "ren2", check=False)
        sb.mcall("Remove", "s", "ren1", check=False)
    return True


tap.check("file methods before and after a Rename; the renamed container starts", t_renamed)


# ---- ownership in container ids -------------------------------------------------------

def t_ownership(name):
    put(name, "/home/u/owned", b"mine\n", uid=1000, gid=1001, mode=0o600)
    shift = uid_shift(name)
    st = host_stat(name, "/home/u/owned")
    assert shift >= 65536, shift
    assert st["uid"] == shift + 1000 and st["gid"] == shift + 1001 and st["mode"] == 0o600, (shift, st)
    d = listdir(name, "/home/u")
    assert d["owned"]["uid"] == 1000 and d["owned"]["gid"] == 1001, d
    # what the container itself made: its ids too
    assert listdir(name, "/home")["u"]["uid"] == 1000, listdir(name, "/home")
    # a new file without uid/gid belongs to the container's root
    put(name, "/home/u/rootfile", b"r")
    st = host_stat(name, "/home/u/rootfile")
    assert st["uid"] == shift and st["gid"] == shift, (shift, st)
    return True


tap.check("ownership in container ids on a running container (uid 1000 is UidShift+1000 on the host)",
          t_ownership, "run1")
tap.check("ownership in container ids on a stopped container", t_ownership, "stop1")


def t_privileged():
    # no user namespace: container ids are host ids (the explicit exception, for root)
    create("priv1", "echo priv > /p; " + LOOP, privileged=True)
    try:
        for when in ("running", "stopped"):
            put("priv1", "/owned-" + when, b"x", uid=1000, gid=1001)
            st = host_stat("priv1", "/owned-" + when)
            assert st["uid"] == 1000 and st["gid"] == 1001, (when, st)
            assert listdir("priv1", "/")["owned-" + when]["uid"] == 1000
            assert get("priv1", "/p")[0] == b"priv\n", when
            if when == "running":
                sb.call(container_path("priv1"), C, "Stop")
                wait_for(lambda: state("priv1") == "stopped", 30, what="priv1 stopped")
    finally:
        sb.mcall("Remove", "s", "priv1", check=False)
    return True


tap.check("a privileged container, running and stopped: ids are host ids", t_privileged)


def t_permissions():
    # the container's own rules: its root may not write a file of a read-only layer's mount,
    # and may not give a file to an id outside its slot
    r = expect_error(INVALID_ARGS, "run1", "PutFile", "'/data/f'", "@ay []", "{'uid': <uint32 70000>}")
    assert r is True, r
    r = expect_error(INVALID_ARGS, "run1", "PutFile", "'/data/f'", "@ay []", "{'mode': <uint32 4607>}")
    return r


tap.check("PutFile refuses ids outside the container's slot and mode bits beyond 07777", t_permissions)


# ---- PutFile is atomic ------------------------------------------------------------------

def t_atomic(name):
    r = client(name, "put-size", "/data/atomic", 2000000)
    assert r == {"result": "ok"}, r
    before = host_stat(name, "/data/atomic")
    put(name, "/data/atomic", b"short\n")
    data, info = get(name, "/data/atomic")
    assert data == b"short\n" and info["size"] == 6, (data[:50], info)
    after = host_stat(name, "/data/atomic")
    assert after["ino"] != before["ino"], (before, after)     # a new file renamed over the name
    # replacing keeps mode and owner unless told
    put(name, "/data/owned", b"1", uid=1000, mode=0o604)
    put(name, "/data/owned", b"2")
    d = listdir(name, "/data")
    assert d["owned"]["uid"] == 1000 and d["owned"]["mode"] == 0o100604, d["owned"]
    leftovers = [n for n in d if n.startswith(".#")]
    assert not leftovers, leftovers
    # a failed put leaves nothing behind either
    assert expect_error(INVALID_ARGS, name, "PutFile", "'/data'", "@ay []", "@a{sv} {}") is True
    leftovers = [n for n in listdir(name, "/") if n.startswith(".#")]
    return not leftovers or leftovers


tap.check("PutFile replaces an existing file whole (new inode), keeps its owner, leaves no temp file",
          t_atomic, "run1")


def t_atomic_reader():
    # a reader inside the container never sees a file half written
    create("atomic1", "while :; do c=$(cat /f 2>/dev/null); case \"$c\" in ''|A*A|B*B) ;; "
           "*) echo TORN >> /torn;; esac; done")
    for c in "AB":
        sb.run(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' %s > /var/tmp/%s" % (c, c)])
    for i in range(20):
        r = client("atomic1", "put-fd", "/f", "/var/tmp/" + "AB"[i % 2])
        assert r == {"result": "ok"}, r
    torn = call("atomic1", "GetFile", "s", "/torn")
    sb.mcall("Remove", "s", "atomic1", check=False)
    return not isinstance(torn, list) or ("torn reads: %d" % bytes(torn[0]).count(b"TORN"))


tap.check("a reader in the container never sees a PutFileFd half done", t_atomic_reader)


# ---- errors -----------------------------------------------------------------------------

ERRORS = [
    ("relative path", INVALID_ARGS, "GetFile", "'etc/passwd'"),
    ("empty path", INVALID_ARGS, "GetFile", "''"),
    ("path over PATH_MAX", INVALID_ARGS, "GetFile", gstr("/" + "a" * 5000)),
    ("missing file", E + "NoSuchFile", "GetFile", "'/no/such/file'"),
    ("missing directory", E + "NoSuchFile", "ListDirectory", "'/no/such'"),
    ("file as directory", E + "NotADirectory", "GetFile", "'/data/f/x'"),
    ("ListDirectory of a file", E + "NotADirectory", "ListDirectory", "'/data/f'"),
    ("GetFile of a directory", INVALID_ARGS, "GetFile", "'/data'"),
    ("GetFile over the size limit (70 MiB sparse file)", E + "FileTooLarge", "GetFile", "'/big'"),
    ("PutFile in a missing directory", E + "NoSuchFile", "PutFile", "'/no/dir/f'", "@ay []", "@a{sv} {}"),
    ("PutFile with an unknown option", INVALID_ARGS, "PutFile", "'/data/h'", "@ay []", "{'colour': <'blue'>}"),
    ("MakeDirectory with an unknown option", INVALID_ARGS, "MakeDirectory", "'/q'", "{'parents': <true>}"),
    ("MakeDirectory of an existing directory", "org.freedesktop.DBus.Error.FileExists",
     "MakeDirectory", "'/data'", "@a{sv} {}"),
    ("RemovePath of /", INVALID_ARGS, "RemovePath", "'/'", "@a{sv} {}"),
    ("RemovePath of a missing file", E + "NoSuchFile", "RemovePath", "'/nothing'", "@a{sv} {}"),
    ("RemovePath with an unknown option", INVALID_ARGS, "RemovePath", "'/data/f'", "{'force': <true>}"),
]
for name in ("run1", "stop1"):
    for label, want, method, *args in ERRORS:
        tap.check("%s (%s) -> %s" % (label, name, want.split(".")[-1]), expect_error, want, name, method, *args)


def t_unknown_container():
    r = sb.gdbus("--object-path", container_path("nope"), "--method", C + ".GetFile", "'/etc/passwd'",
                 check=False)
    return not r.ok or r


tap.check("GetFile on a container that does not exist fails", t_unknown_container)


def t_nul(name):
    r = client(name, "nul-path")
    tap.diag("path with a NUL byte: %s" % r)
    if r["result"] == "return":
        return "GetFile with a NUL in the path succeeded"
    if r["result"] == "error" and r["error"] != INVALID_ARGS:
        return "unexpected error %s" % r
    get(name, "/data/f")        # still answering
    return True


tap.check("a path holding a NUL byte never reaches a file (refused on the bus)", t_nul, "run1")


def t_wronly_fd():
    r = client("run1", "put-fd-wronly", "/data/w")
    return (r["result"] == "error" and r["error"] == INVALID_ARGS) or r


tap.check("PutFileFd with a descriptor not open for reading -> InvalidArgs", t_wronly_fd)


# ---- links and swaps that lead out of the root ------------------------------------------

def t_links(name):
    data, _ = get(name, "/x")
    assert data == b"container-shadow\n", data
    data, _ = get(name, "/y")
    assert data == b"container-shadow\n", data
    r = gcall(name, "GetFile", "'/z'")      # /proc/1/root: a magic link, never followed
    assert not r.ok and HOST_MARKER not in r.stdout, r
    # a link whose target does not exist in the container: NoSuchFile, not the host's file
    r = gcall(name, "GetFile", "'/etc/shadow-marker'")
    assert gdbus_error(r) == E + "NoSuchFile", r
    # a link swapped in for the name is replaced, its target untouched
    put(name, "/x", b"replaced\n")
    d = listdir(name, "/")
    assert d["x"]["mode"] & 0o170000 == 0o100000, d["x"]
    assert get(name, "/etc/shadow")[0] == b"container-shadow\n"
    return True


tap.check("links to /etc/shadow give the container's file, never the host's (running)", t_links, "run1")
tap.check("links to /etc/shadow give the container's file, never the host's (stopped)", t_links, "stop1")


def t_link_missing_target():
    create("link1", "ln -s /etc/shadow-marker /m; ln -s /file /n; " + LOOP)
    for p in ("/m", "/n", "/m/x"):
        r = gcall("link1", "GetFile", gstr(p))
        assert HOST_MARKER not in r.stdout, r
        assert gdbus_error(r) in (E + "NoSuchFile", E + "NotADirectory"), (p, r)
    sb.mcall("Remove", "s", "link1", check=False)
    return True


tap.check("a container-made link to a host-only path is NoSuchFile", t_link_missing_target)


def host_unchanged():
    for p in ("/file", "/d/file", "/etc/shadow-marker"):
        got = sb.run(["cat", p]).stdout
        if got != HOST_MARKER + "\n":
            return "host %s changed: %r" % (p, got[:100])
    stray = sb.run(["sh", "-c", "ls -a / /d | grep '^\\.#' || true"]).stdout.strip()
    return not stray or ("temp files on the host: %s" % stray)


SWAP = ("mkdir -p /d; echo container-d-file > /d/file; echo container-root-file > /file; "
        "while :; do mv /d /d.real; ln -s / /d; rm /d; mv /d.real /d; done")


def t_hostile_swap():
    create("hostile", SWAP)
    r = client("hostile", "hammer", "/d/file", 150, "HOST-MARKER")
    tap.diag("swap loop: %s" % r["counts"])
    alive = state("hostile") == "running"
    sb.mcall("Remove", "s", "hostile", check=False)
    if r["leaked"]:
        return "host data came back: %s" % r["leaked"][:3]
    if not alive:
        return "the swapping container stopped: the test proves nothing"
    if r["counts"].get("GetFile ok", 0) == 0 or r["counts"].get("PutFile ok", 0) == 0:
        return "no call got through: %s" % r["counts"]
    return host_unchanged()


tap.check("a container swapping a directory for a link to / while GetFile/PutFile loop: "
          "the host's files are never read or written", t_hostile_swap)


def t_hostile_dotdot():
    # ".." climbs no higher than the container's root either
    data, _ = get("run1", "/data/../../../../etc/shadow")
    assert data == b"container-shadow\n", data
    put("run1", "/../../data/../../file", b"from put\n")
    assert get("run1", "/file")[0] == b"from put\n"
    return host_unchanged()


tap.check("'..' in paths stays inside the root; the host's files unchanged", t_hostile_dotdot)


# ---- archives ------------------------------------------------------------------------

MAKE_TARS = r"""
import io, tarfile
def tar(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = e.get("type", tarfile.REGTYPE)
            info.uid, info.gid, info.mode = e.get("uid", 0), e.get("gid", 0), e.get("mode", 0o644)
            info.linkname = e.get("link", "")
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
tar("/var/tmp/good.tar", [
    {"name": "dir", "type": tarfile.DIRTYPE, "mode": 0o755, "uid": 1000, "gid": 1000},
    {"name": "dir/a", "data": b"archived a\n", "uid": 1000, "gid": 1001, "mode": 0o600},
    {"name": "dir/sub", "type": tarfile.DIRTYPE, "mode": 0o700},
    {"name": "dir/sub/b", "data": b"b" * 100000},
    {"name": "dir/shadow", "type": tarfile.SYMTYPE, "link": "/etc/shadow"},
])
tar("/var/tmp/dotdot.tar", [{"name": "ok", "data": b"x"}, {"name": "../../../evil", "data": b"HOST-MARKER evil"}])
tar("/var/tmp/absolute.tar", [{"name": "ok", "data": b"x"}, {"name": "/evil", "data": b"HOST-MARKER evil"}])
tar("/var/tmp/device.tar", [{"name": "ok", "data": b"x"}, {"name": "null", "type": tarfile.CHRTYPE}])
tar("/var/tmp/through-link.tar", [{"name": "ok", "data": b"x"}, {"name": "out/evil", "data": b"HOST-MARKER evil"}])
with open("/var/tmp/good.tar", "rb") as f:
    good = f.read()
with open("/var/tmp/truncated.tar", "wb") as f:
    f.write(good[:1536])
"""


def t_make_tars():
    sb.run(["/usr/bin/python3", "-c", MAKE_TARS])
    return True


def t_put_archive(name):
    r = call(name, "MakeDirectory", "sa{sv}", "/srv/in", "1", "make_parents", "b", "true")
    assert isinstance(r, list), r
    r = client(name, "put-archive", "/srv/in", "/var/tmp/good.tar")
    assert r == {"result": "ok"}, r
    data, info = get(name, "/srv/in/dir/a")
    assert data == b"archived a\n" and info["uid"] == 1000 and info["gid"] == 1001, (data, info)
    assert info["mode"] == 0o100600, info
    shift = uid_shift(name)
    st = host_stat(name, "/srv/in/dir/a")
    assert st["uid"] == shift + 1000 and st["gid"] == shift + 1001, (shift, st)
    d = listdir(name, "/srv/in/dir")
    assert d["shadow"]["mode"] & 0o170000 == 0o120000, d
    assert d["sub"]["mode"] == 0o40700, d
    assert get(name, "/srv/in/dir/shadow")[0] == b"container-shadow\n"   # the container's, through its link
    return True


def t_bad_archives(name):
    call(name, "MakeDirectory", "sa{sv}", "/srv/bad", "1", "make_parents", "b", "true")
    before = listdir(name, "/srv/bad")
    for t in ("dotdot", "absolute", "device", "truncated"):
        r = client(name, "put-archive", "/srv/bad", "/var/tmp/%s.tar" % t)
        assert r["result"] == "error" and r["error"] == E + "InvalidArchive", (t, r)
        after = listdir(name, "/srv/bad")
        assert after == before, (t, before, after)        # nothing half-extracted
    r = client(name, "put-archive", "/nowhere", "/var/tmp/good.tar")
    assert r["result"] == "error" and r["error"] == E + "NoSuchFile", r
    r = client(name, "put-archive", "/srv/bad", "/var/tmp/good.tar", json.dumps({"owner": 1}))
    assert r["result"] == "error" and r["error"] == INVALID_ARGS, r
    assert sb.run(["sh", "-c", "ls /evil /srv/evil 2>/dev/null || true"]).stdout.strip() == ""
    return host_unchanged()


def t_archive_through_link():
    create("tarlink", "mkdir -p /t; ln -s / /t/out; " + LOOP)
    try:
        # the archive's "out" directory replaces the link (or the archive is refused): never
        # is anything written where the link points
        r = client("tarlink", "put-archive", "/t", "/var/tmp/through-link.tar")
        assert r["result"] == "ok" or r.get("error") == E + "InvalidArchive", r
        r = gcall("tarlink", "GetFile", "'/evil'")
        assert gdbus_error(r) == E + "NoSuchFile", r
        out = listdir("tarlink", "/t")["out"]
        assert out["mode"] & 0o170000 in (0o040000, 0o120000), out
    finally:
        sb.mcall("Remove", "s", "tarlink", check=False)
    return host_unchanged()


def t_get_archive(name):
    r = client(name, "get-archive", "/srv/in/dir", "/var/tmp/out-%s.tar" % name)
    assert r == {"result": "ok"}, r
    out = sb.run(["/usr/bin/python3", "-c", """
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = {i.name: [i.uid, i.gid, i.mode, i.size, i.issym() and i.linkname] for i in t.getmembers()}
    a = t.extractfile("dir/a").read().decode()
print(json.dumps([m, a]))
""", "/var/tmp/out-%s.tar" % name]).stdout
    members, a = json.loads(out)
    assert a == "archived a\n", a
    assert members["dir/a"][:3] == [1000, 1001, 0o600], members
    assert members["dir/shadow"][4] == "/etc/shadow", members
    assert "dir/sub/b" in members and members["dir/sub/b"][3] == 100000, members
    r = client(name, "get-archive-pipe", "/srv/in")
    assert r["result"] == "ok" and r["bytes"] > 100000, r
    r = client(name, "get-archive", "/nope", "/var/tmp/nope.tar")
    assert r["result"] == "error" and r["error"] == E + "NoSuchFile", r
    return True


if tap.check("tar archives made on the host (good, '..', absolute, device, truncated, through a link)",
             t_make_tars):
    for kind, name in (("running", "run1"), ("stopped", "stop1")):
        tap.check("PutArchive on a %s container: files, modes, container ids, links kept" % kind,
                  t_put_archive, name)
        tap.check("PutArchive of '..', absolute, device and truncated archives on a %s container: "
                  "InvalidArchive, nothing extracted" % kind, t_bad_archives, name)
        tap.check("GetArchive on a %s container: into a file and into a pipe" % kind, t_get_archive, name)
    tap.check("PutArchive of 'out/evil' where the container made out -> /: nothing written through the link",
              t_archive_through_link)

    def t_never_started_fd_and_archives():
        create("new2", LOOP, start=False)
        try:
            sb.run(["sh", "-c", "head -c 500000 /dev/urandom > /var/tmp/in-new2"])
            want = sb.run(["sha256sum", "/var/tmp/in-new2"]).stdout.split()[0]
            r = client("new2", "put-fd", "/blob", "/var/tmp/in-new2")
            assert r == {"result": "ok"}, r
            r = client("new2", "get-fd-stream", "/blob")
            assert r["result"] == "ok" and r["sha256"] == want, r
            r = client("new2", "put-archive", "/", "/var/tmp/good.tar")
            assert r == {"result": "ok"}, r
            assert listdir("new2", "/dir")["a"]["uid"] == 1000, listdir("new2", "/dir")
            r = client("new2", "get-archive-pipe", "/dir")
            assert r["result"] == "ok" and r["bytes"] > 100000, r
            assert state("new2") == "created", state("new2")
        finally:
            sb.mcall("Remove", "s", "new2", check=False)
        return True

    tap.check("GetFileFd, PutFileFd, PutArchive, GetArchive on a never-started container",
              t_never_started_fd_and_archives)


# ---- busy while starting; a start waits for offline work -------------------------------

def worker_running():
    """Whether the daemon has a child: the file worker (nothing else runs in these tests)."""
    return sb.run(["pgrep", "-P", str(sb.daemon_pid())], check=False).ok


def hold_put(name):
    """A PutFileFd on name whose data does not come until .communicate(): the worker waits."""
    p = subprocess.Popen(sb.nsenter_argv(["/usr/bin/python3", HELPER_DIR + "/filesclient.py",
                                          container_path(name), "put-fd-hold", "/held"]),
                         env=sandbox.BASE_ENV, text=True, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = p.stdout.readline()
        assert "sent" in line, line
        wait_for(worker_running, 30, what="the file worker for %s" % name)
    except Exception:
        p.kill()
        p.wait()
        raise
    time.sleep(0.5)     # the worker now has the container's root, reading the pipe
    return p


def t_worker_cgroup():
    # while it works, the file worker is in the cgroup of the container's leader, not the daemon's
    create("cgw", LOOP)
    p = hold_put("cgw")
    try:
        leader = int(sb.get_property(container_path("cgw"), C, "Leader"))
        mine = sb.run(["cat", "/proc/%d/cgroup" % sb.daemon_pid()]).stdout
        want = sb.run(["cat", "/proc/%d/cgroup" % leader]).stdout
        assert want != mine, (want, mine)
        got = []

        def in_leader_cgroup():
            workers = sb.run(["pgrep", "-P", str(sb.daemon_pid())]).stdout.split()
            got[:] = [sb.run(["cat", "/proc/%s/cgroup" % w], check=False).stdout for w in workers]
            return got and all(g == want for g in got)
        try:
            wait_for(in_leader_cgroup, 15, what="the worker in the leader's cgroup")
        except TimeoutError:
            return "the leader's cgroup %r, the daemon's %r, the workers' %r" % (want, mine, got)
        out, _ = p.communicate("held data\n", timeout=60)
        assert '"ok"' in out, out
        assert get("cgw", "/held")[0] == b"held data\n"
    finally:
        if p.poll() is None:
            p.kill()
        sb.mcall("Remove", "s", "cgw", check=False)
    return True


tap.check("the file worker of a running container works in the container's cgroup", t_worker_cgroup)


def t_worker_stopped():
    # the container's root sees the worker's child in its PID namespace and may stop it
    # (SIGSTOP): the worker then kills it, so that no worker slot stays taken while the
    # container runs
    create("stp", "while :; do for p in /proc/[0-9]*; do "
                  "[ \"$(cat $p/comm 2>/dev/null)\" = containers-mana ] && kill -STOP ${p#/proc/}; "
                  "done; sleep 0.2; done")
    p = hold_put("stp")
    try:
        wait_for(lambda: not worker_running(), 30, what="the stopped file worker to end")
        out, _ = p.communicate("late\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        sb.mcall("Remove", "s", "stp", check=False)
    return '"ok"' not in out or out


tap.check("a file worker the container stops is killed: the call fails, the worker ends", t_worker_stopped)


def t_start_busy():
    p = hold_put("stop1")
    r = sb.gdbus("--object-path", container_path("stop1"), "--method", C + ".Start", check=False)
    busy = gdbus_error(r)
    # a second offline call waits for the first: the overlay is never mounted twice at once
    second = subprocess.Popen(sb.nsenter_argv(["busctl", "--system", "call", sandbox.BUS,
                                               container_path("stop1"), C, "GetFile", "s", "/held"]),
                              env=sandbox.BASE_ENV, text=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    waited = second.poll() is None
    try:
        out, _ = p.communicate("held data\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        if second.poll() is None and not waited:
            second.kill()
    assert json.loads(out.strip().splitlines()[-1]) == {"result": "ok"}, out
    sout, serr = second.communicate(timeout=60)
    assert waited, "the second call did not wait: %s %s" % (sout, serr)
    assert second.returncode == 0 and "104 101 108 100" in sout, (sout, serr)   # "held"
    if busy != E + "Busy":
        return "Start during PutFileFd on stopped stop1: %s" % (r.stderr or "succeeded")
    # once the work is done it starts (its command ends at once: it is stopped again after)
    r = sb.gdbus("--object-path", container_path("stop1"), "--method", C + ".Start", check=False)
    wait_for(lambda: state("stop1") == "stopped", 30, what="stop1 stopped")
    return r.ok or "stop1 did not start afterwards: %s" % r.stderr


tap.check("Start is refused with Busy while a file method works on the stopped container; "
          "a second file call waits for the first", t_start_busy)


def t_start_busy_running():
    create("busy2", LOOP)
    p = hold_put("busy2")
    try:
        sb.call(container_path("busy2"), C, "Stop")
        wait_for(lambda: state("busy2") == "stopped", 30, what="busy2 stopped")
        # its worker was in the container's PID namespace and cgroup: it ended with them, and
        # holds neither the old mount namespace nor the layers any more
        out, _ = p.communicate("held data\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    errors = []

    def started():
        r = sb.gdbus("--object-path", container_path("busy2"), "--method", C + ".Start", check=False)
        if r.ok:
            return True
        errors.append(gdbus_error(r))
        # Busy only until the daemon has reaped the worker
        assert errors[-1] == E + "Busy", r
        return False
    try:
        wait_for(started, 30, what="busy2 to start")
    finally:
        sb.mcall("Remove", "s", "busy2", check=False)
    return '"ok"' not in out or "the call went on after the container stopped: %s" % out


tap.check("a file call in a running container that stops ends with it; Start works then",
          t_start_busy_running)


# ---- polkit ---------------------------------------------------------------------------

def t_denied():
    for method, args in (("GetFile", ["'/data/f'"]), ("ListDirectory", ["'/'"]),
                         ("PutFile", ["'/data/u'", "@ay []", "@a{sv} {}"]),
                         ("MakeDirectory", ["'/u'", "@a{sv} {}"]),
                         ("RemovePath", ["'/data/f'", "@a{sv} {}"])):
        r = expect_error(DENIED, "run1", method, *args, user=U)
        if r is not True:
            return r
    r = client("run1", "get-fd", "/data/f", "/dev/null", user=U)
    if r["result"] != "error" or r["error"] not in DENIED:
        return "GetFileFd: %s" % r
    r = client("run1", "put-archive", "/data", "/var/tmp/good.tar", user=U)
    if r["result"] != "error" or r["error"] not in DENIED:
        return "PutArchive: %s" % r
    r = client("run1", "get-archive", "/data", "/dev/null", user=U)
    if r["result"] != "error" or r["error"] not in DENIED:
        return "GetArchive: %s" % r
    d = listdir("run1", "/data")
    return ("u" not in d and "f" in d) or d


tap.check("the unprivileged user is refused every file method (org.containers.exec)", t_denied)

RULES = """polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.exec" && subject.user == "%s") {
        return polkit.Result.YES;
    }
});
""" % U


def t_granted():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-files.rules", RULES)
    wait_for(lambda: gcall("run1", "GetFile", "'/data/f'", user=U).ok, 15, what="the rule to take effect")
    r = gcall("run1", "PutFile", "'/data/by-user'", gbytes(b"u\n"), gv_opts({"uid": 1000}), user=U)
    assert r.ok, r
    r = client("run1", "get-fd", "/data/by-user", "/dev/null", user=U)
    assert r["result"] == "ok" and r["bytes"] == 2, r
    return listdir("run1", "/data")["by-user"]["uid"] == 1000


tap.check("with a rule granting org.containers.exec the user may use them", t_granted)



# ---- a total cap on PutArchive ([Transfers] PutArchiveMaxBytes=) --------------------------

CONF = "/etc/containers-manager/containers-manager.conf"
MAKE_BIG_TAR = r"""
import io, tarfile
with tarfile.open("/var/tmp/capped.tar", "w") as t:
    for n in ("one", "two"):     # 600 KiB each: each under the cap, together over it
        i = tarfile.TarInfo("capped/" + n)
        i.size = 600 * 1024
        t.addfile(i, io.BytesIO(b"\0" * i.size))
"""


def restart_daemon():
    sb.run(["systemctl", "reset-failed", "containers-manager.service"], check=False)
    sb.run(["systemctl", "restart", "containers-manager.service"])


def t_put_archive_cap():
    sb.run(["/usr/bin/python3", "-c", MAKE_BIG_TAR])
    sb.write_file(CONF, "[Transfers]\nPutArchiveMaxBytes=1M\n")
    restart_daemon()
    try:
        wait_for(lambda: state("stop1") in ("stopped", "created"), 30, what="stop1 loaded")
        call("stop1", "MakeDirectory", "sa{sv}", "/srv/cap", "1", "make_parents", "b", "true")
        r = client("stop1", "put-archive", "/srv/cap", "/var/tmp/capped.tar")
        if r.get("result") != "error" or r.get("error") != E + "FileTooLarge":
            return "PutArchive of 1.2 MiB with a cap of 1 MiB: %s" % r
        tap.diag("PutArchive: %s" % r)
        if "1048576" not in json.dumps(r):
            return "the message does not say the cap: %s" % r
        if listdir("stop1", "/srv/cap"):
            return "something was unpacked: %s" % listdir("stop1", "/srv/cap")
    finally:
        sb.run(["rm", "-f", CONF])
        restart_daemon()
    # without the cap (16 GiB by default) the same archive goes in
    wait_for(lambda: state("stop1") in ("stopped", "created"), 30, what="stop1 loaded")
    r = client("stop1", "put-archive", "/srv/cap", "/var/tmp/capped.tar")
    if r != {"result": "ok"}:
        return "PutArchive with the default cap: %s" % r
    return sorted(listdir("stop1", "/srv/cap/capped")) == ["one", "two"] or \
        listdir("stop1", "/srv/cap/capped")


tap.check("PutArchive over [Transfers] PutArchiveMaxBytes= (two entries under it, together over "
          "it) -> FileTooLarge naming the cap, nothing unpacked; under the default cap it goes in",
          t_put_archive_cap)

for n in ("run1", "stop1", "new1"):
    sb.mcall("Remove", "s", n, check=False)
sb.stop()
sys.exit(tap.done())
