#!/usr/bin/python3
"""Freeze, Thaw, Kill and Rename: a frozen container is frozen in the kernel (cgroup v2's
freezer on its payload cgroup), says so in State with PropertiesChanged, stays frozen over a
daemon restart and stops at once when asked (thawed first); Kill reaches the leader or every
process of the payload, never the monitor; Rename moves the object, the directory and the unit
and keeps the logs and the journal history; each needs org.containers.manage, and bad input is a
named error that changes nothing."""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, LOOP, TEST_USER, HELPER_DIR,  # noqa: E402
                     busctl_create_args, container_path, gdbus_error, wait_for)

STOP_TIMEOUT = 20
tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=STOP_TIMEOUT)
C = CONTAINER_IFACE
E = "org.containers.Error."
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
# Writes a line every 0.2 s; no trap: SIGTERM ends it with 143.
TICKER = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def gcall(name, method, *args, user=None):
    """gdbus call; (ok, error name or None, output)."""
    r = sb.gdbus("--object-path", container_path(name), "--method", C + "." + method, *args,
                 user=user, check=False)
    return r.ok, gdbus_error(r), r.stdout + r.stderr


def create(name, command, start=True):
    sb.mcall(*(["Create"] + busctl_create_args("busybox", name, {},
                                                {"command": command, "start": start})))


def payload_cgroup(name):
    leader = prop(name, "Leader")
    line = [l for l in sb.run(["cat", "/proc/%d/cgroup" % leader]).stdout.splitlines()
            if l.startswith("0::")][0]
    root = "/sys/fs/cgroup/unified" if sb.run(["test", "-e", "/sys/fs/cgroup/unified/cgroup.controllers"],
                                              check=False).ok else "/sys/fs/cgroup"
    return root + line[3:]


def kernel_frozen(cg):
    ev = sb.run(["cat", cg + "/cgroup.events"]).stdout
    return "frozen 1" in ev.splitlines()


def log_lines(name):
    out = sb.call(container_path(name), C, "Logs", "a{sv}", "0")[0]
    return out["stdout"].count("\n")


def wait_state(name, states, timeout=30):
    return wait_for(lambda: prop(name, "State") in states, timeout,
                    what="%s to be %s" % (name, "/".join(states)))


def restart_daemon():
    sb.run(["systemctl", "restart", "containers-manager.service"])
    wait_for(lambda: sb.unit_active("containers-manager.service") == "active", 20, what="daemon restarted")


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "followlogs.py")) as f:
    sb.write_file(HELPER_DIR + "/followlogs.py", f.read(), mode=0o755)

# ---- Freeze / Thaw ------------------------------------------------------------------------

create("ice", ["sh", "-c", TICKER])
wait_for(lambda: log_lines("ice") >= 2, 20, what="ice to write")


def t_freeze():
    mon = sb.popen(["timeout", "4", "gdbus", "monitor", "--system", "--dest", BUS, "--object-path", container_path("ice")],
                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        ok, err, out = gcall("ice", "Freeze")
        if not ok:
            return "Freeze: %s" % out
        if prop("ice", "State") != "frozen":
            return "State %r after Freeze returned" % prop("ice", "State")
        if not kernel_frozen(payload_cgroup("ice")):
            return "the kernel does not say frozen 1"
        time.sleep(0.5)
    finally:
        # gdbus monitor ends by timeout(1) inside the sandbox: its output is complete then.
        seen = mon.communicate(timeout=30)[0]
    if "'State': <'frozen'>" not in seen:
        return "no PropertiesChanged with State frozen; monitor saw %r" % seen[-800:]
    return True


tap.check("Freeze: State 'frozen' with PropertiesChanged, cgroup.events says frozen 1", t_freeze)


def t_frozen_is_frozen():
    before = log_lines("ice")
    time.sleep(1.5)
    after = log_lines("ice")
    if after != before:
        return "a frozen container wrote %d lines" % (after - before)
    ok, err, out = gcall("ice", "Freeze")
    if not ok or prop("ice", "State") != "frozen":
        return "a second Freeze: %s" % out
    return True


tap.check("a frozen container does nothing; Freeze again is fine (idempotent)", t_frozen_is_frozen)


def t_frozen_over_restart():
    restart_daemon()
    if prop("ice", "State") != "frozen":
        return "after a daemon restart State is %r" % prop("ice", "State")
    if not kernel_frozen(payload_cgroup("ice")):
        return "the restart thawed it"
    return True


tap.check("a daemon restart keeps a frozen container frozen (and says so)", t_frozen_over_restart)


def t_thaw():
    ok, err, out = gcall("ice", "Thaw")
    if not ok:
        return "Thaw: %s" % out
    if prop("ice", "State") != "running":
        return "State %r after Thaw" % prop("ice", "State")
    if kernel_frozen(payload_cgroup("ice")):
        return "still frozen in the kernel"
    before = log_lines("ice")
    wait_for(lambda: log_lines("ice") > before, 10, what="ice to write again")
    ok, err, out = gcall("ice", "Thaw")
    return ok or "a second Thaw: %s" % out


tap.check("Thaw: running again, writes again; Thaw again is fine", t_thaw)


def t_stop_frozen():
    # init.lxc can lose a SIGTERM that reaches it frozen; the stop thaws first, every time.
    for i in range(6):
        ok, err, out = gcall("ice", "Freeze")
        if not ok:
            return "round %d: Freeze: %s" % (i, out)
        t = time.monotonic()
        ok, err, out = gcall("ice", "Stop")
        took = time.monotonic() - t
        if not ok:
            return "round %d: Stop: %s" % (i, out)
        if took > STOP_TIMEOUT / 2:
            return "round %d: Stop of a frozen container took %.1f s (the grace time)" % (i, took)
        if prop("ice", "ExitStatus") != 143:
            return "round %d: exit status %r, not 143 (SIGTERM)" % (i, prop("ice", "ExitStatus"))
        ok, err, out = gcall("ice", "Start")
        if not ok:
            return "round %d: Start: %s" % (i, out)
    return True


tap.check("Stop of a frozen container thaws it and stops it at once (SIGTERM, 143), 6 times",
          t_stop_frozen)


def t_freeze_not_running():
    create("cold", ["sh", "-c", TICKER], start=False)
    for m in ("Freeze", "Thaw"):
        ok, err, out = gcall("cold", m)
        if ok or err != E + "NotRunning":
            return "%s on a created container: %s %s" % (m, err, out)
    return prop("cold", "State") == "created" or "state changed"


tap.check("Freeze/Thaw of a container that does not run: NotRunning", t_freeze_not_running)

# ---- Kill ---------------------------------------------------------------------------------


def t_kill_bad():
    for args, want in ((("'bogus'", "15"), "org.freedesktop.DBus.Error.InvalidArgs"),
                       (("'all'", "0"), "org.freedesktop.DBus.Error.InvalidArgs"),
                       (("'all'", "99"), "org.freedesktop.DBus.Error.InvalidArgs"),
                       (("'leader'", "65"), "org.freedesktop.DBus.Error.InvalidArgs")):
        ok, err, out = gcall("ice", "Kill", *args)
        if ok or err != want:
            return "Kill %s: %s %s" % (args, err, out)
    ok, err, out = gcall("cold", "Kill", "'all'", "9")
    if ok or err != E + "NotRunning":
        return "Kill of a created container: %s" % out
    return prop("ice", "State") == "running" or "ice changed"


tap.check("Kill: bad whom or signal InvalidArgs, a container that does not run NotRunning", t_kill_bad)


def t_kill_leader():
    ok, err, out = gcall("ice", "Kill", "'leader'", "15")
    if not ok:
        return "Kill leader: %s" % out
    wait_state("ice", ("stopped", "failed"))
    return prop("ice", "ExitStatus") == 143 or "exit status %r" % prop("ice", "ExitStatus")


tap.check("Kill('leader', SIGTERM) ends the container (exit status 143)", t_kill_leader)


def t_kill_all():
    # The payload's own child ignores SIGTERM from its parent's point of view: only a signal
    # to every process reaches it. The monitor must live on to record the exit status.
    create("many", ["sh", "-c", "sleep 1000 & sleep 1001 & wait"])
    wait_for(lambda: prop("many", "State") == "running", 20, what="many to run")
    cg = payload_cgroup("many")
    wait_for(lambda: len(sb.run(["cat", cg + "/cgroup.procs"]).stdout.split()) >= 4, 10,
             what="the sleeps to start")
    ok, err, out = gcall("many", "Kill", "'all'", "9")
    if not ok:
        return "Kill all: %s" % out
    wait_state("many", ("stopped", "failed"))
    if prop("many", "ExitStatus") == -1:
        return "no exit status recorded: the monitor was killed too"
    left = sb.run(["pgrep", "-f", "sleep 100[01]"], check=False).stdout.split()
    return not left or "processes left: %s" % left


tap.check("Kill('all', SIGKILL) reaches every payload process, not the monitor", t_kill_all)

# ---- Rename -------------------------------------------------------------------------------


def t_rename_errors():
    gcall("ice", "Start")
    wait_state("ice", ("running",))
    ok, err, out = gcall("ice", "Rename", "'ice2'")
    if ok or err != E + "AlreadyRunning":
        return "Rename of a running container: %s %s" % (err, out)
    ok, err, out = gcall("cold", "Rename", "'many'")
    if ok or err != E + "ContainerExists":
        return "Rename onto an existing name: %s %s" % (err, out)
    for bad in ("'a/b'", "''", "'-x'", "'.hidden'", "'%s'" % ("x" * 300)):
        ok, err, out = gcall("cold", "Rename", bad)
        if ok or err != E + "InvalidName":
            return "Rename to %s: %s %s" % (bad, err, out)
    if prop("cold", "Name") != "cold" or not sb.run(["test", "-d", "/var/lib/containers-manager/containers/cold"],
                                                    check=False).ok:
        return "a refused Rename changed something"
    return True


tap.check("Rename: AlreadyRunning, ContainerExists, InvalidName; nothing changes", t_rename_errors)

state = {}


def t_rename():
    gcall("ice", "Stop")
    state["id"] = prop("ice", "Id")
    # A FollowLogs stream of the old name ends (EOF) with the rename: it follows the old unit.
    follower = sb.popen(["/usr/bin/python3", HELPER_DIR + "/followlogs.py", container_path("ice")],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = follower.stdout.readline()
    if not first.startswith("reply"):
        return "FollowLogs: %r" % first
    mon = sb.popen(["timeout", "4", "gdbus", "monitor", "--system", "--dest", BUS],
                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        ok, err, out = gcall("ice", "Rename", "'glacier'")
        time.sleep(0.5)
    finally:
        # gdbus monitor ends by timeout(1) inside the sandbox: its output is complete then.
        seen = mon.communicate(timeout=30)[0]
    if not ok:
        return "Rename: %s" % out
    try:
        rest = follower.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        follower.kill()
        return "the old name's FollowLogs stream did not end with the rename"
    if "EOF" not in rest:
        return "FollowLogs after the rename: %r" % rest
    if prop("glacier", "Name") != "glacier" or prop("glacier", "Id") != state["id"]:
        return "the renamed object: Name %r Id %r" % (prop("glacier", "Name"), prop("glacier", "Id"))
    ok, err, out = gcall("ice", "Inspect")
    if ok:
        return "the old object path still answers"
    for want in ("ContainerRemoved ('ice'", "ContainerNew ('glacier'", "InterfacesRemoved",
                 "InterfacesAdded"):
        if want not in seen:
            return "no %s signal; saw %r" % (want, seen[-1000:])
    d = "/var/lib/containers-manager/containers/"
    if sb.run(["test", "-e", d + "ice"], check=False).ok or not sb.run(["test", "-d", d + "glacier"], check=False).ok:
        return "state directory not renamed: %s" % sb.run(["ls", d]).stdout
    return True


tap.check("Rename: new object path with the same Id, old path gone, signals, directory moved, the old "
          "name's FollowLogs stream ended", t_rename)


def t_rename_logs():
    out = sb.call(container_path("glacier"), C, "Logs", "a{sv}", "0")[0]["stdout"]
    if "tick 0" not in out:
        return "the renamed container's logs lost its lines: %r" % out[-300:]
    n = out.count("\n")
    ok, err, o = gcall("glacier", "Start")
    if not ok:
        return "Start: %s" % o
    if prop("glacier", "Unit") != "container-glacier.scope" or sb.unit_active("container-glacier.scope") != "active":
        return "runs in %r" % prop("glacier", "Unit")
    wait_for(lambda: log_lines("glacier") > n + 2, 20, what="new lines under the new name")
    # A new container under the old name has none of them, and they are not its.
    create("ice", ["sh", "-c", "echo I am the new ice"])
    wait_for(lambda: "new ice" in sb.call(container_path("ice"), C, "Logs", "a{sv}", "0")[0]["stdout"], 20,
             what="the new ice's line")
    new_ice = sb.call(container_path("ice"), C, "Logs", "a{sv}", "0")[0]["stdout"]
    if "tick" in new_ice:
        return "a new container under the old name shows the renamed one's lines: %r" % new_ice[:300]
    glacier = sb.call(container_path("glacier"), C, "Logs", "a{sv}", "0")[0]["stdout"]
    if "new ice" in glacier:
        return "the renamed container shows the new ice's lines"
    return True


tap.check("Logs follow a rename; a new container under the old name shares nothing", t_rename_logs)


def t_rename_history():
    restart_daemon()
    info = {k: v["data"] for k, v in sb.call(container_path("glacier"), C, "Inspect")[0].items()}
    if info.get("FormerNames") != ["ice"]:
        return "Inspect FormerNames %r" % info.get("FormerNames")
    hist = sb.run(["journalctl", "-o", "cat", "CONTAINER_ID=" + state["id"]]).stdout
    for want in ("Container ice created", "Container ice frozen", "Container ice renamed to glacier",
                 "Container glacier started"):
        if want not in hist:
            return "journal history by CONTAINER_ID lacks %r: %r" % (want, hist[-800:])
    return True


tap.check("after a daemon restart: FormerNames in Inspect; journalctl CONTAINER_ID= has the whole history",
          t_rename_history)


def t_rename_interrupted():
    # Rename renames the directory, then rewrites config.json: a crash in between leaves the
    # new directory with the old name inside. The daemon finishes it, nothing is lost.
    d = "/var/lib/containers-manager/containers/"
    sb.run(["systemctl", "stop", "containers-manager.service"])
    sb.run(["mv", d + "cold", d + "warm"])
    sb.run(["systemctl", "start", "containers-manager.service"])
    names = sb.list_containers()
    if "warm" not in names or "cold" in names:
        return "after an interrupted rename: %s" % sorted(names)
    info = {k: v["data"] for k, v in sb.call(container_path("warm"), C, "Inspect")[0].items()}
    return info.get("FormerNames") == ["cold"] or "FormerNames %r" % info.get("FormerNames")


tap.check("a rename cut short by a crash is finished at the next start", t_rename_interrupted)

# ---- polkit -------------------------------------------------------------------------------


def t_polkit():
    gcall("glacier", "Stop")
    gcall("glacier", "Start")
    wait_state("glacier", ("running",))
    for m, args in (("Freeze", ()), ("Thaw", ()), ("Kill", ("'all'", "15")), ("Rename", ("'x'",))):
        ok, err, out = gcall("glacier", m, *args, user=TEST_USER)
        if ok or err not in DENIED:
            return "%s as %s: %s %s" % (m, TEST_USER, err, out)
    if prop("glacier", "State") != "running":
        return "a denied call changed the state to %r" % prop("glacier", "State")
    rules = "/etc/polkit-1/rules.d/50-cm-control.rules"
    sb.write_file(rules, """
polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.manage" && subject.user == "%s")
        return polkit.Result.YES;
});
""" % TEST_USER)
    try:
        wait_for(lambda: gcall("glacier", "Freeze", user=TEST_USER)[0], 10, what="a granted Freeze")
        if prop("glacier", "State") != "frozen":
            return "granted Freeze: %r" % prop("glacier", "State")
        ok, err, out = gcall("glacier", "Thaw", user=TEST_USER)
        if not ok or prop("glacier", "State") != "running":
            return "granted Thaw: %s" % out
        ok, err, out = gcall("glacier", "Kill", "'leader'", "15", user=TEST_USER)
        if not ok:
            return "granted Kill: %s" % out
        wait_state("glacier", ("stopped", "failed"))
        ok, err, out = gcall("glacier", "Rename", "'berg'", user=TEST_USER)
        if not ok or prop("berg", "Name") != "berg":
            return "granted Rename: %s" % out
    finally:
        sb.run(["rm", "-f", rules])
    return True


tap.check("Freeze, Thaw, Kill, Rename need org.containers.manage: denied to a user, allowed by a rule",
          t_polkit)

def t_stop_and_remove_survive_a_crash():
    # A Stop and a Remove under way (their payloads ignore SIGTERM: the grace time runs) when the
    # daemon is killed: the next daemon finishes them, it does not adopt them as running.
    stubborn = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
    create("stubborn", stubborn)
    create("doomed", stubborn)
    calls = [sb.popen(["busctl", "call", BUS, container_path("stubborn"), C, "Stop"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             sb.popen(["busctl", "call", BUS, MANAGER_PATH, MANAGER_IFACE, "Remove", "s", "doomed"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    wait_for(lambda: prop("stubborn", "State") == "stopping" and prop("doomed", "State") == "stopping", 10,
             what="both to be stopping")
    sb.run(["systemctl", "kill", "-s", "KILL", "containers-manager.service"])
    for p in calls:
        p.wait(timeout=30)
    sb.run(["systemctl", "start", "containers-manager.service"])
    t = time.monotonic()
    wait_for(lambda: prop("stubborn", "State") in ("stopped", "failed"), STOP_TIMEOUT + 15,
             what="stubborn to be stopped by the new daemon")
    wait_for(lambda: "doomed" not in sb.list_containers(), STOP_TIMEOUT + 15, what="doomed to be removed")
    if sb.unit_active("container-stubborn.scope") == "active" or sb.unit_active("container-doomed.scope") == "active":
        return "a scope still runs"
    tap.diag("finished %.1f s after the restart (grace time %d s)" % (time.monotonic() - t, STOP_TIMEOUT))
    return True


tap.check("a Stop and a Remove under way when the daemon is killed are finished by the next one",
          t_stop_and_remove_survive_a_crash)

sb.stop()
sys.exit(tap.done())
