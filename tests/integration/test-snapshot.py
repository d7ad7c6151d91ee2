#!/usr/bin/python3
"""Snapshots, Commit, ExportImage and ImportImage: a snapshot of a stopped or running container
brings its files back as they were (changed files, files deleted after it, files deleted before
it staying deleted: overlayfs whiteouts survive the copy); errors are named and change nothing;
unprivileged callers need org.containers.manage; snapshots go with the container. Commit makes
an image whose containers see the committed files, command and environment. An exported image
imports under another name and runs; tampered archives are refused and leave nothing."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, TEST_USER, HELPER_DIR,  # noqa: E402
                     busctl_create_args, container_path, gdbus_error, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)
C = CONTAINER_IFACE
E = "org.containers.Error."
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
STATE = "/var/lib/containers-manager"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def create(image, name, env=None, command=None, start=True):
    opts = {"start": start}
    if command:
        opts["command"] = command
    sb.mcall(*(["Create"] + busctl_create_args(image, name, env or {}, opts)))


def sh(name, script):
    """Runs script in the running container; (exit status, stdout)."""
    r = sb.call(container_path(name), C, "Exec", "asa{sv}", "3", "sh", "-c", script, "0")
    return r[0], bytes(r[1]).decode()


def ccall(name, method, sig="", *args, user=None):
    """busctl call on a container; (ok, error name, text)."""
    argv = ["call", BUS, container_path(name), C, method]
    if sig:
        argv.append(sig)
    r = sb.busctl(*(argv + list(args)), user=user, check=False)
    err = None
    if not r.ok:
        import re
        m = re.search(r"(org\.[A-Za-z0-9_.]+)", r.stderr)
        # busctl prints the message, not always the name: map the ones we know
        err = m.group(1) if m else r.stderr.strip()
    return r.ok, err, r.stdout + r.stderr


def gcall(name, method, *args, user=None):
    r = sb.gdbus("--object-path", container_path(name), "--method", C + "." + method, *args,
                 user=user, check=False)
    return r.ok, gdbus_error(r), r.stdout + r.stderr


def snapshots(name):
    return [s[0] for s in sb.call(container_path(name), C, "ListSnapshots")[0]]


def stop(name):
    sb.call(container_path(name), C, "Stop")
    wait_for(lambda: prop(name, "State") in ("stopped", "failed"), 20, what=name + " stopped")


def start(name):
    sb.call(container_path(name), C, "Start")


if sb is None:
    sys.exit(tap.done())

# ---- snapshots of a running container ----------------------------------------------------

create("busybox", "s1", {"GREETING": "hello"}, SLEEPER)


def t_snapshot_running():
    rc, out = sh("s1", "mkdir -p /data && echo one > /data/a && echo b > /data/b && rm /etc/hosts && echo ok")
    assert rc == 0, out
    gcall("s1", "CreateSnapshot", "before", "@a{sv} {}")
    ok, err, text = gcall("s1", "CreateSnapshot", "before2", "@a{sv} {}")
    assert ok, text
    assert prop("s1", "State") == "running", "not thawed after the snapshot: " + prop("s1", "State")
    return snapshots("s1") == ["before", "before2"] or snapshots("s1")


tap.check("CreateSnapshot of a running container; it runs again after; ListSnapshots lists it",
          t_snapshot_running)


def t_restore_while_running():
    ok, err, text = gcall("s1", "RestoreSnapshot", "before")
    return err == E + "AlreadyRunning" or text


tap.check("RestoreSnapshot while running: AlreadyRunning", t_restore_while_running)


def t_restore():
    rc, out = sh("s1", "echo two > /data/a && rm /data/b /etc/group && echo c > /data/c")
    assert rc == 0, out
    stop("s1")
    ok, err, text = gcall("s1", "RestoreSnapshot", "before")
    assert ok, text
    start("s1")
    rc, out = sh("s1", "cat /data/a; ls /data; test -e /etc/group && echo group; test -e /etc/hosts && echo hosts; true")
    want = "one\na\nb\ngroup\n"
    return out == want or "got %r, want %r" % (out, want)


tap.check("RestoreSnapshot: a changed file as it was, deleted files back, one deleted before "
          "stays deleted, a new one gone", t_restore)

# ---- a stopped container ------------------------------------------------------------------


def t_snapshot_stopped():
    sh("s1", "echo three > /data/a")
    stop("s1")
    ok, err, text = gcall("s1", "CreateSnapshot", "stopped", "@a{sv} {}")
    assert ok, text
    start("s1")
    sh("s1", "echo four > /data/a")
    stop("s1")
    ok, err, text = gcall("s1", "RestoreSnapshot", "stopped")
    assert ok, text
    start("s1")
    rc, out = sh("s1", "cat /data/a")
    return out == "three\n" or out


tap.check("a snapshot of a stopped container restores", t_snapshot_stopped)


def t_list_times():
    snaps = sb.call(container_path("s1"), C, "ListSnapshots")[0]
    names = [s[0] for s in snaps]
    times = [s[1] for s in snaps]
    assert names == ["before", "before2", "stopped"], names
    return (all(t > 0 for t in times) and times == sorted(times)) or times


tap.check("ListSnapshots: names and creation times, oldest first", t_list_times)


def t_errors():
    bad = []
    for args, want in [
            (("CreateSnapshot", "before", "@a{sv} {}"), E + "SnapshotExists"),
            (("CreateSnapshot", "../x", "@a{sv} {}"), E + "InvalidName"),
            (("CreateSnapshot", "", "@a{sv} {}"), E + "InvalidName"),
            (("CreateSnapshot", "x", "{'bogus': <true>}"), "org.freedesktop.DBus.Error.InvalidArgs"),
            (("RestoreSnapshot", "nope"), E + "NoSuchSnapshot"),
            (("RemoveSnapshot", "nope"), E + "NoSuchSnapshot"),
            (("RemoveSnapshot", "a/b"), E + "InvalidName")]:
        ok, err, text = gcall("s1", *args)
        if err != want:
            bad.append("%s: %s (want %s)" % (args, text.strip(), want))
    if snapshots("s1") != ["before", "before2", "stopped"]:
        bad.append("snapshots changed: %s" % snapshots("s1"))
    return not bad or "\n".join(bad)


tap.check("bad names, duplicates, missing snapshots, unknown options: named errors, nothing changed",
          t_errors)


def t_stateful():
    ok, err, text = gcall("s1", "CreateSnapshot", "live", "{'stateful': <true>}")
    if err != "org.freedesktop.DBus.Error.NotSupported":
        return text
    if "criu" not in text.lower():
        return "no reason given: " + text
    tap.diag("stateful: " + text.strip().splitlines()[-1][:300])
    return "live" not in snapshots("s1") or snapshots("s1")


tap.check("stateful: NotSupported with CRIU's reason (or that criu is missing)", t_stateful)


def t_remove_snapshot():
    ok, err, text = gcall("s1", "RemoveSnapshot", "before2")
    assert ok, text
    return snapshots("s1") == ["before", "stopped"] or snapshots("s1")


tap.check("RemoveSnapshot", t_remove_snapshot)

# ---- polkit ------------------------------------------------------------------------------


def t_denied():
    ok, err, text = gcall("s1", "CreateSnapshot", "user", "@a{sv} {}", user=TEST_USER)
    if err not in DENIED:
        return text
    ok, err2, text2 = gcall("s1", "RemoveSnapshot", "before", user=TEST_USER)
    if err2 not in DENIED:
        return text2
    ok, err3, text3 = gcall("s1", "Commit", "userimage", "@a{sv} {}", user=TEST_USER)
    if err3 not in DENIED:
        return text3
    snaps = snapshots("s1")
    return (snaps == ["before", "stopped"] and "userimage" not in images()) or snaps


def images():
    return [i[0] for i in sb.mcall("Images")[0]]


tap.check("the unprivileged user is refused CreateSnapshot, RemoveSnapshot, Commit; nothing changes",
          t_denied)

RULES = """polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.manage" && subject.user == "%s") {
        return polkit.Result.YES;
    }
});
""" % TEST_USER


def t_granted():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-snapshot.rules", RULES)

    def made():
        ok, err, text = gcall("s1", "CreateSnapshot", "user", "@a{sv} {}", user=TEST_USER)
        if ok:
            return True
        if err not in DENIED:
            raise RuntimeError(text)
        return False
    wait_for(made, 15, interval=0.5, what="the rules file to take effect")
    ok, err, text = gcall("s1", "RemoveSnapshot", "user", user=TEST_USER)
    assert ok, text
    sb.run(["rm", "-f", "/etc/polkit-1/rules.d/50-cm-snapshot.rules"])
    return True


tap.check("a rules file granting org.containers.manage lets the user snapshot", t_granted)

# ---- Commit -------------------------------------------------------------------------------


def t_commit():
    sh("s1", "echo committed > /data/a")
    r = sb.call(container_path("s1"), C, "Commit", "sa{sv}", "s1-image", "0")
    assert r[0].startswith(MANAGER_PATH + "/image/"), r
    assert "s1-image" in images(), images()
    create("s1-image", "c1")
    rc, out = sh("c1", "cat /data/a; test -e /etc/hosts && echo hosts; echo $GREETING; "
                 "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done | grep -c '^sh -c trap'")
    want = "committed\nhello\n1\n"
    return out == want or "got %r, want %r" % (out, want)


tap.check("Commit: a container of the new image sees the files (not the deleted ones), "
          "the environment and the command", t_commit)


def t_commit_owner():
    rc, out = sh("s1", "touch /data/owned && chown 1234:4321 /data/owned && echo ok")
    assert rc == 0, out
    sb.call(container_path("s1"), C, "Commit", "sa{sv}", "s1-owned", "0")
    st = sb.run(["stat", "-c", "%u:%g", STATE + "/images/s1-owned/layer/data/owned"]).stdout.strip()
    create("s1-owned", "c2")
    rc, out = sh("c2", "stat -c %u:%g /data/owned")
    return (st == "1234:4321" and out.strip() == "1234:4321") or "layer %s, in container %s" % (st, out)


tap.check("Commit: the new layer holds container-side owners; a container sees them", t_commit_owner)


def t_opaque():
    create("s1-image", "op", command=SLEEPER)
    rc, out = sh("op", "rm -rf /data && mkdir /data && echo n > /data/n && ls /data")
    assert out == "n\n", out
    ok, err, text = gcall("op", "CreateSnapshot", "opq", "@a{sv} {}")
    assert ok, text
    sh("op", "rm /data/n")
    stop("op")
    ok, err, text = gcall("op", "RestoreSnapshot", "opq")
    assert ok, text
    start("op")
    rc, out = sh("op", "ls /data")
    if out != "n\n":
        return "after restore /data has %r (an opaque directory lost?)" % out
    sb.call(container_path("op"), C, "Commit", "sa{sv}", "op-image", "0")
    create("op-image", "op2", command=SLEEPER)
    rc, out = sh("op2", "ls /data")
    return out == "n\n" or "a container of the commit sees %r in /data" % out


tap.check("a directory removed and made again (opaque in overlayfs) hides the image's files after "
          "a restore and in a commit", t_opaque)


def t_commit_exists():
    ok, err, text = gcall("s1", "Commit", "s1-image", "@a{sv} {}")
    if err != E + "ImageExists":
        return text
    ok, err, text = gcall("s1", "Commit", "busybox", "@a{sv} {}")
    return err == E + "ImageExists" or text


tap.check("Commit to a taken name: ImageExists", t_commit_exists)


# ---- ExportImage / ImportImage --------------------------------------------------------------

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
    sb.write_file(HELPER_DIR + "/imageclient.py", f.read(), mode=0o755)
CLIENT = ["/usr/bin/python3", HELPER_DIR + "/imageclient.py"]

# Rewrites an exported archive into a bad one: kind is "flip" (a changed byte in a layer),
# "dotdot" / "device" (a layer with such an entry, its digest made to match), "outer-dotdot".
TAMPER = r"""
import hashlib, io, json, sys, tarfile
src, dst, kind = sys.argv[1:4]
members = {}
with tarfile.open(src) as t:
    for m in t.getmembers():
        if m.isfile():
            members[m.name.lstrip("./")] = t.extractfile(m).read()
man = json.loads(members["manifest.json"])
top = "layers/%d.tar" % (len(man["Layers"]) - 1)
data = members[top]
if kind == "flip":
    data = bytearray(data)
    data[1000] ^= 1
    data = bytes(data)
elif kind == "flip-data":
    # a byte of a file's data: still a good tar, another digest
    assert b"dee\n" in data
    data = data.replace(b"dee\n", b"dex\n", 1)
elif kind in ("dotdot", "device"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        if kind == "dotdot":
            ti = tarfile.TarInfo("../../evil")
            ti.size = 4
            t.addfile(ti, io.BytesIO(b"evil"))
        else:
            ti = tarfile.TarInfo("dev/evil")
            ti.type = tarfile.CHRTYPE
            ti.devmajor, ti.devminor = 1, 3
            t.addfile(ti)
    data = buf.getvalue()
members[top] = data
if kind == "extra":
    # a layer the manifest does not list
    members["layers/%d.tar" % len(man["Layers"])] = data
elif kind == "missing":
    # a layer the manifest lists, left out
    del members["layers/0.tar"]
elif kind == "size":
    # the right digest, another size
    man["Layers"][0]["Size"] += 512
for l in man["Layers"]:
    if l["File"] == top and kind not in ("flip", "flip-data"):
        l["Digest"] = "sha256:" + hashlib.sha256(data).hexdigest()
        l["Size"] = len(data)
members["manifest.json"] = json.dumps(man).encode()
with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
    for name, body in members.items():
        ti = tarfile.TarInfo(name)
        ti.size = len(body)
        t.addfile(ti, io.BytesIO(body))
    if kind == "outer-dotdot":
        ti = tarfile.TarInfo("../evil")
        ti.size = 4
        t.addfile(ti, io.BytesIO(b"evil"))
print(len(man["Layers"]))
"""
sb.write_file(HELPER_DIR + "/tamper.py", TAMPER, mode=0o755)


def client(*args, user=None):
    r = sb.run(CLIENT + list(args), user=user, check=False, timeout=300)
    line = (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]
    return line.split(" ", 2)


def t_export_import():
    create("s1-image", "c3", command=SLEEPER)
    rc, out = sh("c3", "echo dee > /data/d && rm /data/b && echo ok")
    assert rc == 0, out
    sb.call(container_path("c3"), C, "Commit", "sa{sv}", "c3-image", "0")
    r = client("export", "c3-image", "/var/tmp/c3.tar")
    assert r[0] == "ok", r
    r = client("import", "moved", "/var/tmp/c3.tar")
    assert r[0] == "ok" and r[1].startswith(MANAGER_PATH + "/image/"), r
    create("moved", "m1")
    rc, out = sh("m1", "cat /data/a /data/d; ls /data; test -e /etc/hosts && echo hosts; echo $GREETING; "
                 "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done | grep -c '^sh -c trap'")
    want = "committed\ndee\na\nd\nhello\n1\n"
    return out == want or "got %r, want %r" % (out, want)


tap.check("ExportImage of a committed image (two layers) -> ImportImage under another name: a "
          "container of it runs with the files, whiteouts, environment and command", t_export_import)


def t_export_format():
    out = sb.run(["/usr/bin/python3", "-c", "import tarfile, json, sys; t = tarfile.open(sys.argv[1]); "
                  "m = json.load(t.extractfile('./manifest.json' if './manifest.json' in t.getnames() else 'manifest.json')); "
                  "print(m['FormatVersion'], m['Base'], len(m['Layers']), m['Layers'][0]['Digest'][:7]); "
                  "l = tarfile.open(fileobj=t.extractfile([n for n in t.getnames() if n.endswith('layers/1.tar')][0])); "
                  "print(sorted((i.name.lstrip('./'), i.uid) for i in l.getmembers() if 'data/' in i.name))",
                  "/var/tmp/c3.tar"]).stdout.splitlines()
    want0 = "1 busybox 2 sha256:"
    if out[0] != want0:
        return "manifest: %r" % out[0]
    # the top layer: the new file, the whiteout of /data/b as OCI writes it, container-side owners
    return ("('data/.wh.b', 0)" in out[1] and "('data/d', 0)" in out[1]) or out[1]


tap.check("the archive: manifest (version, base by name, layers with sha256), layers as tars "
          "with .wh. whiteouts and container-side owners", t_export_format)


def t_old_layout():
    # The layout of the previous release: tar_pack() of a directory ("./", "./layers/",
    # "./layers/0.tar", ...), here as GNU tar writes a directory, manifest.json anywhere.
    sb.run(["sh", "-c", "rm -rf /var/tmp/oldl && mkdir /var/tmp/oldl && tar -C /var/tmp/oldl -xf /var/tmp/c3.tar && "
            "cd /var/tmp/oldl && { echo ./manifest.json; find . ! -name manifest.json; } | "
            "tar -cf /var/tmp/old-layout.tar --no-recursion -T - && rm -rf /var/tmp/oldl"])
    names = sb.run(["tar", "-tf", "/var/tmp/old-layout.tar"]).stdout.split()
    if names[0] != "./manifest.json" or "./layers/0.tar" not in names:
        return "the repacked archive lists %r" % names
    r = client("import", "old-layout", "/var/tmp/old-layout.tar")
    if r[0] != "ok":
        return "import: %r" % r
    create("old-layout", "old-layout-c")
    rc, out = sh("old-layout-c", "cat /data/d")
    sb.call(container_path("old-layout-c"), C, "Stop")
    sb.mcall("Remove", "s", "old-layout-c")
    sb.mcall("RemoveImage", "s", "old-layout")
    return out == "dee\n" or "a container of it sees %r" % out


tap.check("an archive in the previous release's layout (./ names, directory entries, the manifest "
          "first) imports", t_old_layout)


def leftovers():
    names = set(sb.run(["ls", "-A", STATE + "/images"]).stdout.split())
    return sorted(n for n in names if n not in images()) + \
        [p for p in ("/var/lib/evil", STATE + "/evil", STATE + "/images/evil") if sb.run(["test", "-e", p], check=False).ok]


def t_compressed():
    bad = []
    for comp, magic in (("gzip", "1f8b"), ("zstd", "28b52ffd")):
        path = "/var/tmp/c3.tar." + comp
        r = client("export", "c3-image", path, "--compression", comp)
        if r[0] != "ok":
            bad.append("%s export: %s" % (comp, r))
            continue
        head = sb.run(["sh", "-c", "od -An -tx1 -N4 %s | tr -d ' \\n'" % path]).stdout
        if not head.startswith(magic):
            bad.append("%s: the file starts with %s" % (comp, head))
        name = "moved-" + comp
        r = client("import", name, path)
        if r[0] != "ok":
            bad.append("%s import: %s" % (comp, r))
            continue
        create(name, name + "-c")
        rc, out = sh(name + "-c", "cat /data/d")
        if out != "dee\n":
            bad.append("%s: a container sees %r" % (comp, out))
    r = client("export", "c3-image", "/var/tmp/x.tar", "--compression", "lzma")
    if r[:2] != ["error", "org.freedesktop.DBus.Error.InvalidArgs"]:
        bad.append("compression lzma: %s" % r)
    sb.run(["sh", "-c", "head -c $(( $(stat -c %s /var/tmp/c3.tar.zstd) / 2 )) /var/tmp/c3.tar.zstd "
            "> /var/tmp/cut.tar.zstd"])
    r = client("import", "cut", "/var/tmp/cut.tar.zstd")
    if r[:2] != ["error", E + "InvalidArchive"]:
        bad.append("a truncated zstd stream: %s" % r)
    if "cut" in images() or leftovers():
        bad.append("left behind: %s %s" % (images(), leftovers()))
    return not bad or "\n".join(bad)


tap.check("ExportImage compression gzip and zstd (detected on import), InvalidArgs for another, "
          "a truncated compressed stream refused", t_compressed)


def t_tampered():
    bad = []
    for kind in ("flip", "flip-data", "dotdot", "device", "outer-dotdot", "extra", "missing", "size"):
        sb.run(["/usr/bin/python3", HELPER_DIR + "/tamper.py", "/var/tmp/c3.tar", "/var/tmp/bad.tar", kind])
        r = client("import", "bad-" + kind, "/var/tmp/bad.tar")
        if r[:2] != ["error", E + "InvalidArchive"]:
            bad.append("%s: %s" % (kind, " ".join(r)))
        else:
            tap.diag("%s: %s" % (kind, r[2][:200]))
        if "bad-" + kind in images():
            bad.append("%s: the image exists" % kind)
    lo = leftovers()
    if lo:
        bad.append("left behind: %s" % lo)
    return not bad or "\n".join(bad)


tap.check("tampered archives (a changed header byte, a changed data byte, a ../ entry in a layer or outside, a device node, a "
          "layer the manifest does not list, a listed one missing, a wrong size): InvalidArchive, "
          "no image, nothing left behind", t_tampered)


def t_transfer_errors():
    bad = []
    r = client("import", "moved", "/var/tmp/c3.tar")
    if r[:2] != ["error", E + "ImageExists"]:
        bad.append("import to a taken name: %s" % r)
    r = client("export", "nope", "/var/tmp/x.tar")
    if r[:2] != ["error", E + "NoSuchImage"]:
        bad.append("export of a missing image: %s" % r)
    r = client("export", "moved", "/var/tmp/x.tar", "--bogus-option")
    if r[:2] != ["error", "org.freedesktop.DBus.Error.InvalidArgs"]:
        bad.append("unknown option: %s" % r)
    sb.run(["sh", "-c", "echo 'not a tar' > /var/tmp/junk.tar"])
    r = client("import", "junk", "/var/tmp/junk.tar")
    if r[:2] != ["error", E + "InvalidArchive"]:
        bad.append("junk: %s" % r)
    sb.run(["chmod", "644", "/var/tmp/c3.tar"])
    r = client("export", "moved", "/var/tmp/user.tar", user=TEST_USER)
    if r[:2] != ["error", DENIED[0]] and r[:2] != ["error", DENIED[1]]:
        bad.append("unprivileged export: %s" % r)
    r = client("import", "user-import", "/var/tmp/c3.tar", user=TEST_USER)
    if r[:2] != ["error", DENIED[0]] and r[:2] != ["error", DENIED[1]]:
        bad.append("unprivileged import: %s" % r)
    if "user-import" in images() or "junk" in images() or leftovers():
        bad.append("left behind: %s %s" % (images(), leftovers()))
    return not bad or "\n".join(bad)


tap.check("ImageExists, NoSuchImage, unknown options, junk input, polkit org.containers.build "
          "refused for the unprivileged user", t_transfer_errors)


# ---- OCI image layouts made by umoci -----------------------------------------------------------

UMOCI = r"""
set -e
cd /var/tmp && rm -rf oci bundle oci.tar
umoci init --layout oci
umoci new --image oci:t
umoci unpack --image oci:t bundle
mkdir -p bundle/rootfs/data
echo one > bundle/rootfs/data/one
echo gone > bundle/rootfs/data/gone
umoci repack --image oci:t bundle
rm -rf bundle
umoci unpack --image oci:t bundle
rm bundle/rootfs/data/gone
echo two > bundle/rootfs/data/two
umoci repack --image oci:t bundle
umoci config --image oci:t --config.entrypoint sh --config.cmd -c \
    --config.cmd 'trap "exit 0" TERM; while :; do sleep 1; done' \
    --config.env OCIVAR=fromoci --config.workingdir /data
tar -C oci -cf oci.tar .
"""


def t_oci():
    if not sb.run(["sh", "-c", "command -v umoci"], check=False).ok:
        return "umoci is not installed (apt-get install umoci)"
    sb.run(["sh", "-c", UMOCI])
    r = client("import", "ocimg", "/var/tmp/oci.tar")
    assert r[0] == "ok", r
    create("ocimg", "o1")
    rc, out = sh("o1", "pwd; ls /data; cat /data/one /data/two; echo $OCIVAR; "
                 "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done | grep -c '^sh -c trap'")
    want = "/data\none\ntwo\none\ntwo\nfromoci\n1\n"
    return out == want or "got %r, want %r" % (out, want)


tap.check("ImportImage of an OCI layout written by umoci (two layers, a whiteout, Entrypoint+Cmd, "
          "Env, WorkingDir): a container of it runs", t_oci)


def t_oci_tampered():
    sb.run(["sh", "-c", "cd /var/tmp && rm -rf bad && cp -a oci bad && "
            "f=$(ls -S bad/blobs/sha256 | head -1) && chmod u+w bad/blobs/sha256/$f && "
            "printf x | dd of=bad/blobs/sha256/$f bs=1 seek=20 conv=notrunc 2>/dev/null && "
            "tar -C bad -cf bad.tar ."])
    r = client("import", "ocibad", "/var/tmp/bad.tar")
    if r[:2] != ["error", E + "InvalidArchive"]:
        return " ".join(r)
    tap.diag("oci: " + r[2][:200])
    return ("ocibad" not in images() and not leftovers()) or leftovers()


tap.check("an OCI layout with a changed blob: InvalidArchive, nothing left", t_oci_tampered)


def t_skopeo():
    if not sb.run(["sh", "-c", "command -v skopeo"], check=False).ok:
        return "skopeo is not installed (apt-get install skopeo)"
    sb.run(["sh", "-c", "cd /var/tmp && rm -f d.tar oa.tar && "
            "skopeo --insecure-policy copy oci:/var/tmp/oci:t docker-archive:/var/tmp/d.tar:t:latest && "
            "skopeo --insecure-policy copy oci:/var/tmp/oci:t oci-archive:/var/tmp/oa.tar:t"])
    bad = []
    for fmt, name, path in (("docker-archive", "dockimg", "/var/tmp/d.tar"), ("oci-archive", "ociarch", "/var/tmp/oa.tar")):
        r = client("import", name, path)
        if r[0] != "ok":
            bad.append("%s: %s" % (fmt, r))
            continue
        create(name, name + "-c")
        rc, out = sh(name + "-c", "pwd; ls /data; echo $OCIVAR")
        if out != "/data\none\ntwo\nfromoci\n":
            bad.append("%s: got %r" % (fmt, out))
    return not bad or "\n".join(bad)


tap.check("ImportImage of the same image as skopeo's docker-archive and oci-archive", t_skopeo)


REGISTRY = """version: 0.1
storage:
  filesystem:
    rootdirectory: /var/tmp/registry
http:
  addr: 127.0.0.1:5000
"""


def t_pull():
    if not sb.run(["sh", "-c", "command -v docker-registry && command -v skopeo"], check=False).ok:
        return "docker-registry or skopeo is not installed (apt-get install docker-registry skopeo)"
    sb.write_file("/var/tmp/registry.yml", REGISTRY)
    sb.run(["systemd-run", "--unit=cm-test-registry", "docker-registry", "serve", "/var/tmp/registry.yml"])

    def pushed():
        return sb.run(["skopeo", "copy", "--dest-tls-verify=false", "oci:/var/tmp/oci:t",
                       "docker://127.0.0.1:5000/cm/t:latest"], check=False).ok
    wait_for(pushed, 20, interval=0.5, what="the registry to take the image")
    build = sb.mcall("PullImage", "ssa{sv}", "pulled", "127.0.0.1:5000/cm/t:latest", "1", "tls_verify", "b", "false")[0]
    ok, log = sb.call(build, "org.containers.Build", "Wait")
    if not ok:
        return "the pull failed: %s" % log
    create("pulled", "p1")
    rc, out = sh("p1", "pwd; ls /data; echo $OCIVAR")
    if out != "/data\none\ntwo\nfromoci\n":
        return "a container of the pulled image: %r" % out
    bad = []
    r = sb.mcall("PullImage", "ssa{sv}", "cred", "user:secret@127.0.0.1:5000/cm/t", "0", check=False)
    if not isinstance(r, sandbox.Result) or "Invalid reference" not in r.stderr:
        bad.append("credentials in a reference: %r" % (r,))
    build = sb.mcall("PullImage", "ssa{sv}", "missing", "127.0.0.1:5000/cm/nope:latest", "1", "tls_verify", "b", "false")[0]
    ok, log = sb.call(build, "org.containers.Build", "Wait")
    if ok or "missing" in images() or leftovers():
        bad.append("a missing image: %s %s %s" % (ok, images(), leftovers()))
    r = sb.mcall("PullImage", "ssa{sv}", "pulled", "127.0.0.1:5000/cm/t:latest", "0", check=False)
    if not isinstance(r, sandbox.Result) or "already exists" not in r.stderr:
        bad.append("a taken name: %r" % (r,))
    # the registry speaks plain HTTP: without tls_verify false the error says what to do
    build = sb.mcall("PullImage", "ssa{sv}", "tls", "127.0.0.1:5000/cm/t:latest", "0")[0]
    ok, log = sb.call(build, "org.containers.Build", "Wait")
    if ok or "tls_verify false" not in log[-1] or "--no-tls-verify" not in log[-1]:
        bad.append("no hint at tls_verify: %s %r" % (ok, log[-1:]))
    return not bad or "\n".join(bad)


tap.check("PullImage from a registry (Debian's docker-registry on loopback, the image pushed by "
          "skopeo): a build-like job, Wait, a container of it runs; credentials refused; a missing "
          "image fails and leaves nothing", t_pull)


def t_parent_in_use():
    # m1 runs on "moved"; an image committed from it stacks on moved's layers
    sb.call(container_path("m1"), C, "Commit", "sa{sv}", "m1-image", "0")
    sb.mcall("Remove", "s", "m1")
    wait_for(lambda: "m1" not in sb.list_containers(), 20, what="m1 removed")
    r = sb.mcall("RemoveImage", "s", "moved", check=False)
    if not isinstance(r, sandbox.Result) or "ImageInUse" not in r.stderr and "m1-image" not in r.stderr:
        return "RemoveImage of a parent: %r" % (r,)
    create("m1-image", "m2")
    rc, out = sh("m2", "cat /data/d")
    if out != "dee\n":
        return "a container of the child: %r" % out
    sb.mcall("Remove", "s", "m2")
    wait_for(lambda: "m2" not in sb.list_containers(), 20, what="m2 removed")
    sb.mcall("RemoveImage", "s", "m1-image")
    sb.mcall("RemoveImage", "s", "moved")
    return ("moved" not in images() and not sb.run(["test", "-e", STATE + "/images/moved"], check=False).ok) or images()


tap.check("a committed image stacks on its parent's layers: the parent cannot be removed before it",
          t_parent_in_use)


# ---- ExportContainer / ImportContainer --------------------------------------------------------


def inspect(name):
    return sb.call(container_path(name), C, "Inspect")[0]


def t_export_container():
    create("c3-image", "mig", {"MIG": "yes"}, SLEEPER)
    rc, out = sh("mig", "echo moved > /data/mig && chown 777:888 /data/mig && rm /data/a && echo ok")
    assert rc == 0, out
    r = client("export-container", "mig", "/var/tmp/mig.tar")
    if r[:2] != ["error", E + "AlreadyRunning"]:
        return "export of a running container: %s" % r
    stop("mig")
    r = client("export-container", "mig", "/var/tmp/mig.tar")
    assert r[0] == "ok", r
    r = client("export-container", "mig", "/var/tmp/mig-noimage.tar", "--no-image")
    assert r[0] == "ok", r
    r = client("import-container", "mig2", "/var/tmp/mig.tar", "--image", "mig-image")
    assert r[0] == "ok" and r[1] == container_path("mig2"), r
    assert "mig-image" in images(), images()
    start("mig2")
    rc, out = sh("mig2", "cat /data/mig /data/d; stat -c %u:%g /data/mig; test -e /data/a && echo a; echo $MIG")
    want = "moved\ndee\n777:888\nyes\n"
    if out != want:
        return "got %r, want %r" % (out, want)
    s1, s2 = inspect("mig")["UidShift"]["data"], inspect("mig2")["UidShift"]["data"]
    host = sb.run(["stat", "-c", "%u", STATE + "/containers/mig2/upper/data/mig"]).stdout.strip()
    return (s1 != s2 and host == str(s2 + 777)) or "slots %s %s, host owner %s" % (s1, s2, host)


tap.check("ExportContainer (refused while running) -> ImportContainer under another name: the files, "
          "owners (shifted into a fresh slot), whiteouts, environment; its image imported too",
          t_export_container)


def t_import_container_more():
    bad = []
    r = client("import-container", "mig3", "/var/tmp/mig.tar")
    if r[:2] != ["error", E + "ImageExists"]:
        bad.append("carried image under a taken name: %s" % r)
    r = client("import-container", "mig2", "/var/tmp/mig-noimage.tar")
    if r[:2] != ["error", E + "ContainerExists"]:
        bad.append("a taken container name: %s" % r)
    r = client("import-container", "mig4", "/var/tmp/mig-noimage.tar")
    if r[0] != "ok":
        bad.append("without its image: %s" % r)
    else:
        start("mig4")
        rc, out = sh("mig4", "cat /data/mig; echo $MIG")
        if out != "moved\nyes\n" or inspect("mig4")["Image"]["data"] != "c3-image":
            bad.append("mig4: %r on %s" % (out, inspect("mig4")["Image"]["data"]))
    for kind in ("flip", "outer-dotdot"):
        sb.run(["/usr/bin/python3", HELPER_DIR + "/tamper.py", "/var/tmp/mig.tar", "/var/tmp/badmig.tar", kind])
        r = client("import-container", "mig5", "/var/tmp/badmig.tar", "--image", "mig5-image")
        if r[:2] != ["error", E + "InvalidArchive"]:
            bad.append("%s: %s" % (kind, r))
    if "mig3" in sb.list_containers() or "mig5" in sb.list_containers() or "mig5-image" in images() or leftovers():
        bad.append("left behind: %s %s %s" % (list(sb.list_containers()), images(), leftovers()))
    r = client("export-container", "mig", "/var/tmp/user-mig.tar", user=TEST_USER)
    if r[:2] != ["error", DENIED[0]] and r[:2] != ["error", DENIED[1]]:
        bad.append("unprivileged export: %s" % r)
    return not bad or "\n".join(bad)


tap.check("ImportContainer: ImageExists, ContainerExists, an archive without its image uses the "
          "one here, tampered archives refused with nothing left, polkit", t_import_container_more)


def t_remove():
    sb.mcall("Remove", "s", "s1")
    wait_for(lambda: "s1" not in sb.list_containers(), 20, what="s1 removed")
    wait_for(lambda: not sb.run(["test", "-e", STATE + "/containers/s1"], check=False).ok, 20,
             what="its directory to go")
    return True


tap.check("Remove takes the snapshots with the container", t_remove)

sys.exit(tap.done())
