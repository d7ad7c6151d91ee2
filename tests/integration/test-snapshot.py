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
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, TEST_USER,  # noqa: E402
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


def t_commit_exists():
    ok, err, text = gcall("s1", "Commit", "s1-image", "@a{sv} {}")
    if err != E + "ImageExists":
        return text
    ok, err, text = gcall("s1", "Commit", "busybox", "@a{sv} {}")
    return err == E + "ImageExists" or text


tap.check("Commit to a taken name: ImageExists", t_commit_exists)


def t_remove():
    sb.mcall("Remove", "s", "s1")
    wait_for(lambda: "s1" not in sb.list_containers(), 20, what="s1 removed")
    wait_for(lambda: not sb.run(["test", "-e", STATE + "/containers/s1"], check=False).ok, 20,
             what="its directory to go")
    return True


tap.check("Remove takes the snapshots with the container", t_remove)

sys.exit(tap.done())
