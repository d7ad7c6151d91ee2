#!/usr/bin/python3
"""Hostile images, archives and state: the attacks of issue 19's configuration injection
replayed as an attacker would, through the bus against the installed service. A line break in
an OCI image's WorkingDir, in our own archive's manifest.json, in an exported container's
container.json or in a state file used to become settings of its own in LXC's configuration
(a pre-start hook run as host root, an id map cleared); each now fails with a named error,
leaves nothing behind and runs nothing on the host."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, HELPER_DIR, busctl_create_args, container_path, wait_for)  # noqa: E402

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
C = CONTAINER_IFACE
E = "org.containers.Error."
STATE = "/var/lib/containers-manager"
HELPERS = HELPER_DIR
PWNED = "/var/tmp/cm-pwned"
# What an attacker puts after the line break: a hook that runs as host root before the start.
INJECT = "/\nlxc.hook.pre-start = /bin/sh -c 'echo hook > %s'" % PWNED

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
    sb.write_file(HELPERS + "/imageclient.py", f.read(), mode=0o755)
CLIENT = ["/usr/bin/python3", HELPERS + "/imageclient.py"]

# Rewrites what an archive says about the working directory, keeping every digest right, so
# that only the value itself can be refused. kind: oci (an OCI layout tar: the config blob, its
# manifest and index.json), manifest (our image archive's manifest.json), container (an
# exported container's container.json).
REWRITE = r"""
import hashlib, io, json, sys, tarfile
src, dst, kind, wd = sys.argv[1:5]
members = {}
with tarfile.open(src) as t:
    for m in t.getmembers():
        if m.isfile():
            members[m.name[2:] if m.name.startswith("./") else m.name] = t.extractfile(m).read()
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    members["blobs/sha256/" + d] = data
    return "sha256:" + d
if kind == "oci":
    index = json.loads(members["index.json"])
    mdesc = index["manifests"][0]
    man = json.loads(members["blobs/sha256/" + mdesc["digest"].split(":")[1]])
    cfg = json.loads(members["blobs/sha256/" + man["config"]["digest"].split(":")[1]])
    cfg["config"]["WorkingDir"] = wd
    data = json.dumps(cfg).encode()
    man["config"]["digest"], man["config"]["size"] = blob(data), len(data)
    data = json.dumps(man).encode()
    mdesc["digest"], mdesc["size"] = blob(data), len(data)
    members["index.json"] = json.dumps(index).encode()
else:
    f = "manifest.json" if kind == "manifest" else "container.json"
    doc = json.loads(members[f])
    doc["WorkingDirectory"] = wd
    members[f] = json.dumps(doc).encode()
with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
    for name, body in members.items():
        ti = tarfile.TarInfo(name)
        ti.size = len(body)
        ti.mode = 0o644
        t.addfile(ti, io.BytesIO(body))
"""
sb.write_file(HELPERS + "/rewrite.py", REWRITE, mode=0o755)

UMOCI = r"""
set -e
cd /var/tmp && rm -rf hoci bundle hoci.tar
umoci init --layout hoci
umoci new --image hoci:t
umoci unpack --image hoci:t bundle
mkdir -p bundle/rootfs/data
echo one > bundle/rootfs/data/one
umoci repack --image hoci:t bundle
umoci config --image hoci:t --config.cmd sleep --config.cmd 1000
tar -C hoci -cf hoci.tar .
"""


def client(*args):
    r = sb.run(CLIENT + list(args), check=False, timeout=300)
    line = (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]
    return line.split(" ", 2)


def rewrite(src, dst, kind, wd):
    sb.run(["/usr/bin/python3", HELPERS + "/rewrite.py", src, dst, kind, wd])


def images():
    return [i[0] for i in sb.mcall("Images")[0]]


def containers():
    return [c[0] for c in sb.mcall("List")[0]]


def pwned():
    """Whether an injected hook ran since the last call (each attack starts afresh)."""
    ran = sb.run(["test", "-e", PWNED], check=False).ok
    sb.run(["rm", "-f", PWNED])
    return ran


def create(image, name, **opts):
    return sb.mcall(*(["Create"] + busctl_create_args(image, name, {}, opts)), check=False)


def refused(r, what):
    """An import answer that must be InvalidArchive naming no injected text; '' when it is."""
    if r[:2] != ["error", E + "InvalidArchive"]:
        return "%s: %s" % (what, " ".join(r))
    if "hook" in r[2] or "\n" in r[2]:
        return "%s: the message repeats the injected text: %r" % (what, r[2])
    tap.diag("%s: %s" % (what, r[2][:160]))
    return ""


def t_oci():
    if not sb.run(["sh", "-c", "command -v umoci"], check=False).ok:
        return "umoci is not installed (apt-get install umoci)"
    sb.run(["sh", "-c", UMOCI])
    # the same layout with a harmless working directory imports and runs: the rewrite is sound
    rewrite("/var/tmp/hoci.tar", "/var/tmp/hoci-ok.tar", "oci", "/tmp")
    r = client("import", "hoci-ok", "/var/tmp/hoci-ok.tar")
    if r[0] != "ok":
        return "the untampered control: %s" % r
    rewrite("/var/tmp/hoci.tar", "/var/tmp/hoci-bad.tar", "oci", INJECT)
    r = client("import", "hoci-bad", "/var/tmp/hoci-bad.tar")
    why = refused(r, "ImportImage")
    if not why and "hoci-bad" in images():
        why = "the image was imported"
    if r[0] == "ok":
        # today's code: show what the image does to the host
        create("hoci-bad", "hoci-bad-c")
        wait_for(lambda: pwned() or True, 5)
        why += "; its start ran the injected hook on the host: %s" % pwned()
    return not why or why


tap.check("ImportImage of an OCI image whose WorkingDir carries LXC settings after a line break: "
          "InvalidArchive, no image, no hook run", t_oci)


def t_manifest():
    create("busybox", "h-src", command=["sleep", "1000"], start=False)
    sb.call(container_path("h-src"), C, "Commit", "sa{sv}", "h-img", "0")
    r = client("export", "h-img", "/var/tmp/h-img.tar")
    if r[0] != "ok":
        return "export: %s" % r
    rewrite("/var/tmp/h-img.tar", "/var/tmp/h-img-bad.tar", "manifest", INJECT)
    r = client("import", "h-img-bad", "/var/tmp/h-img-bad.tar")
    why = refused(r, "ImportImage")
    if r[0] == "ok":
        create("h-img-bad", "h-img-bad-c")
        why += "; its start ran the injected hook on the host: %s" % pwned()
    return not why or why


tap.check("ImportImage of our own archive whose manifest.json WorkingDirectory carries LXC settings: "
          "InvalidArchive", t_manifest)


def t_container_json():
    r = client("export-container", "h-src", "/var/tmp/h-src.tar", "--no-image")
    if r[0] != "ok":
        return "export: %s" % r
    rewrite("/var/tmp/h-src.tar", "/var/tmp/h-src-bad.tar", "container", INJECT)
    r = client("import-container", "h-bad", "/var/tmp/h-src-bad.tar")
    why = refused(r, "ImportContainer")
    if not why and "h-bad" in containers():
        why = "the container was imported"
    if r[0] == "ok":
        sb.call(container_path("h-bad"), C, "Start", check=False)
        why += "; its start ran the injected hook on the host: %s" % pwned()
    return not why or why


tap.check("ImportContainer whose container.json WorkingDirectory carries LXC settings: "
          "InvalidArchive, no container", t_container_json)


def t_state():
    # a state file that holds such a value (written by a release before the check, or by hand):
    # refused when read, never turned into configuration
    create("busybox", "h-state", command=["sleep", "1000"], start=False)
    sb.run(["systemctl", "stop", "containers-manager.service"])
    path = os.path.join(sb.statedir, "containers", "h-state", "config.json")
    import json
    with open(path) as f:
        doc = json.load(f)
    doc["WorkingDirectory"] = INJECT
    with open(path, "w") as f:
        json.dump(doc, f)
    r = sb.call(container_path("h-state"), C, "Start", check=False)
    started = isinstance(r, list)
    why = []
    if started:
        why.append("Start of the poisoned container succeeded")
    if pwned():
        why.append("the injected hook ran on the host")
    if "h-state" in containers():
        why.append("the poisoned container is listed")
    log = sb.run(["journalctl", "-b", "-u", "containers-manager.service", "--no-pager", "-o", "cat"]).stdout
    if "h-state: its state holds a working directory" not in log:
        why.append("the journal does not say why it was refused")
    return not why or "; ".join(why)


tap.check("a state file whose WorkingDirectory carries LXC settings: refused when read (the journal "
          "says why), its start runs nothing", t_state)


def t_checks():
    create("busybox", "h-run", command=["sleep", "1000"])
    out = sb.call(container_path("h-run"), C, "Inspect")[0]
    checks = out["ConfinementChecks"]["data"]
    want = ["lxc-config-readback", "id-map", "capability-bounding-set", "no_new_privs"]
    if checks[:4] != want:
        return "ConfinementChecks: %s" % checks
    # the JSON twin the monitor compared against holds each line of the file, in order
    import json
    d = "/run/containers-manager/lxc/h-run"
    text = sb.run(["cat", d + "/config"]).stdout.splitlines()
    twin = json.loads(sb.run(["cat", d + "/config.json"]).stdout)["Settings"]
    lines = [l for l in text if not l.startswith("#")]
    return lines == ["%s = %s" % (k, v) for k, v in twin] or (lines, twin)


tap.check("a running container's Inspect lists the checks its start passed; the configuration "
          "file is line for line its JSON twin", t_checks)


def t_nothing_ran():
    log = sb.run(["journalctl", "-b", "--no-pager", "-o", "cat"]).stdout
    return "hook > /var/tmp" not in log or "the journal shows an injected hook"


tap.check("no injected hook shows in the journal", t_nothing_ran)

tap.done()
