#!/usr/bin/python3
"""What people and programs watch: container output in journald, Logs(), Top(), Inspect(),
PropertiesChanged for every transition, ObjectManager signals seen by a GLib client, and the
structured lifecycle entries in the journal."""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, TEST_USER, busctl_create_args,  # noqa: E402
                     container_path, gdbus_error, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, stop_timeout=5)
C = CONTAINER_IFACE

# Writes numbered lines to stdout and stderr, then keeps running.
CHATTY = ("i=0; while [ $i -lt 5 ]; do i=$((i+1)); echo \"out $i\"; echo \"err $i\" >&2; done; "
          "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")


def create(name, command, env=None, **opts):
    o = {"command": command}
    o.update(opts)
    return sb.mcall(*(["Create"] + busctl_create_args("busybox", name, env or {}, o)))


def logs(name, user=None, check=True, **opts):
    args = [str(len(opts))]
    for k, v in opts.items():
        args += [k, "u" if k == "lines" else "t", str(v)]
    res = sb.call(container_path(name), C, "Logs", "a{sv}", *args, user=user, check=check)
    if not check and not isinstance(res, list):
        return res
    return res[0]


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def t_journal():
    create("chatty", ["sh", "-c", CHATTY])
    text = wait_for(lambda: (lambda t: t if "out 5" in t and "err 5" in t else None)(
        sb.journal("container-chatty.scope")), 10, what="lines in journalctl -u")
    # each stream keeps its order
    outs = [l for l in text.splitlines() if l.startswith("out ")]
    if outs != ["out %d" % i for i in range(1, 6)]:
        return "stdout lines out of order: %r" % outs
    fields = sb.run(["journalctl", "--no-pager", "-o", "json", "-u", "container-chatty.scope",
                     "_TRANSPORT=stdout"]).stdout
    entries = [json.loads(l) for l in fields.splitlines() if l.strip()]
    prios = {e["MESSAGE"]: e.get("PRIORITY") for e in entries}
    if prios.get("out 1") != "6" or prios.get("err 1") != "3":
        return "PRIORITY of stdout/stderr: %r / %r" % (prios.get("out 1"), prios.get("err 1"))
    if any(e.get("SYSLOG_IDENTIFIER") != "chatty" for e in entries):
        return "SYSLOG_IDENTIFIER is not the container name"
    return True


tap.check("journalctl -u container-<name>.scope shows the output, stdout PRIORITY 6, "
          "stderr 3, the name in SYSLOG_IDENTIFIER", t_journal)


def t_logs_split():
    out = logs("chatty")
    if out["stdout"] != "".join("out %d\n" % i for i in range(1, 6)):
        return "stdout: %r" % out["stdout"]
    if out["stderr"] != "".join("err %d\n" % i for i in range(1, 6)):
        return "stderr: %r" % out["stderr"]
    return True


tap.check("Logs() returns stdout and stderr apart, in order", t_logs_split)


def t_logs_lines():
    out = logs("chatty", lines=3)
    got = out["stdout"].splitlines() + out["stderr"].splitlines()
    # stdout and stderr are two streams: journald orders their lines as it receives them, so
    # "the last 3" are the last 3 entries journalctl shows for the scope
    last = sb.run(["journalctl", "--no-pager", "-q", "-o", "cat", "-n", "3", "-u",
                   "container-chatty.scope", "_TRANSPORT=stdout"]).stdout.splitlines()
    if len(got) != 3 or sorted(got) != sorted(last):
        return "lines=3 gave %r, journalctl -n 3 shows %r" % (out, last)
    return True


tap.check("Logs(lines=3) returns the last 3 lines of both streams together", t_logs_lines)


def t_logs_since():
    create("since", ["sh", "-c", "echo before; sleep 2; echo after; sleep 1000"])
    wait_for(lambda: "after" in logs("since")["stdout"], 10, what="'after'")
    entries = [json.loads(l) for l in sb.run(
        ["journalctl", "--no-pager", "-o", "json", "-u", "container-since.scope",
         "_TRANSPORT=stdout"]).stdout.splitlines() if l.strip()]
    t_after = int([e for e in entries if e["MESSAGE"] == "after"][0]["__REALTIME_TIMESTAMP"])
    out = logs("since", since=t_after)
    if out["stdout"] != "after\n":
        return "since=<time of 'after'> gave %r" % out["stdout"]
    out = logs("since", since=t_after + 60 * 10**6)
    if out["stdout"] or out["stderr"]:
        return "since=future gave %r" % out
    return True


tap.check("Logs(since=usec) returns only later lines", t_logs_since)


def t_logs_recreated():
    sb.call(container_path("since"), C, "Stop")
    sb.mcall("Remove", "s", "since")
    create("since", ["sh", "-c", "sleep 1000"])
    time.sleep(0.5)
    out = logs("since")
    if out["stdout"] or out["stderr"]:
        return "a re-created container shows old lines: %r" % out
    # the old lines are still in the journal: it is Logs that keeps them apart
    if "before" not in sb.journal("container-since.scope"):
        return "old lines are not in the journal at all (test is vacuous)"
    return True


tap.check("a container re-created under the same name starts with empty Logs()",
          t_logs_recreated)


def t_logs_after_stop():
    sb.call(container_path("chatty"), C, "Stop")
    out = logs("chatty")
    return "out 5" in out["stdout"] or "after Stop: %r" % out


tap.check("Logs() works after the container stopped", t_logs_after_stop)


def t_fast_writer():
    n = 60000
    # journald's rate limit lifted for this container (by default it is held to journald's)
    create("flood", ["sh", "-c", "i=0; while [ $i -lt %d ]; do echo \"flood $i\"; i=$((i+1)); "
                     "done; echo done >&2; exec sleep 1000" % n], log_rate_limit_burst=0)
    wait_for(lambda: "done" in logs("flood", lines=0)["stderr"], 60, interval=0.5, what="the last line")
    out = logs("flood", lines=0)["stdout"].splitlines()
    if out != ["flood %d" % i for i in range(n)]:
        return "Logs has %d of %d lines (first missing: %r)" % (
            len(out), n, next((i for i in range(n) if i >= len(out) or out[i] != "flood %d" % i), None))
    have = int(sb.run("journalctl -q -o cat -u container-flood.scope _TRANSPORT=stdout | wc -l").stdout)
    if have != n + 1:
        return "journalctl -u has %d lines" % have
    sb.mcall("Remove", "s", "flood")
    return True


tap.check("a container with log_rate_limit_burst=0 that writes 60,000 lines at once loses none "
          "to journald's rate limit",
          t_fast_writer)


def t_short_lived_writers():
    # A line written by a process that exits at once (cat) used to reach the journal without
    # _SYSTEMD_UNIT: journald could no longer look up the writer's cgroup. The streams now
    # name the scope in their header, as PID 1 does for services.
    missing = []
    for i in range(12):
        n = "short%d" % i
        create(n, ["sh", "-c", "cat /etc/hosts; echo after-cat; exec sleep 1000"])
        out = wait_for(lambda: (lambda o: o if "after-cat" in o else None)(logs(n)["stdout"]),
                       10, interval=0.1, what="after-cat")
        jc = sb.journal("container-%s.scope" % n)
        if "localhost" not in out or "localhost" not in jc:
            missing.append(n)
        sb.mcall("Remove", "s", n)
    return not missing or "cat's output is missing in %s" % missing


tap.check("lines from processes that exit at once are attributed to the scope "
          "(Logs and journalctl -u)", t_short_lived_writers)


def t_logs_bad_option():
    res = sb.gdbus("--object-path", container_path("chatty"), "--method", C + ".Logs",
                   "{'lines': <'ten'>}", check=False)
    if res.ok or gdbus_error(res) != "org.freedesktop.DBus.Error.InvalidArgs":
        return "lines as a string: %s %s" % (gdbus_error(res), res.stderr)
    res = sb.gdbus("--object-path", container_path("chatty"), "--method", C + ".Logs",
                   "{'follow': <true>}", check=False)
    if res.ok or gdbus_error(res) != "org.freedesktop.DBus.Error.InvalidArgs":
        return "unknown option: %s %s" % (gdbus_error(res), res.stderr)
    return True


tap.check("Logs() rejects unknown options and wrong types with InvalidArgs", t_logs_bad_option)


def t_logs_polkit():
    res = logs("chatty", user=TEST_USER, check=False)
    if isinstance(res, dict):
        return "an unprivileged user read the logs"
    sb.write_file("/etc/polkit-1/rules.d/50-cm-logs.rules", """
polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.logs" && subject.user == "%s")
        return polkit.Result.YES;
});
""" % TEST_USER)
    try:
        out = wait_for(lambda: (lambda r: r if isinstance(r, dict) else None)(
            logs("chatty", user=TEST_USER, check=False)), 10, what="granted Logs")
        if "out 5" not in out["stdout"]:
            return "granted user got %r" % out
        # the grant is for logs only
        res = sb.call(container_path("chatty"), C, "Start", user=TEST_USER, check=False)
        if isinstance(res, list):
            return "org.containers.logs also allowed Start"
    finally:
        sb.run(["rm", "-f", "/etc/polkit-1/rules.d/50-cm-logs.rules"])
    return True


tap.check("Logs() needs org.containers.logs: refused for a user, allowed by a rules file",
          t_logs_polkit)


def t_top():
    create("busy", ["sh", "-c", "sleep 1000 & sleep 1001 & wait"])
    info = sb.call(container_path("busy"), C, "Top")[0]
    procs = info["processes"]["data"]
    cmds = [p[6] for p in procs]
    if not any(c.startswith("sleep 1000") for c in cmds) or not any(
            c.startswith("sleep 1001") for c in cmds):
        return "processes: %r" % cmds
    # the scope also holds LXC's monitor, ours: not among what runs inside (as machinectl and
    # podman show it)
    if any("containers-manager-monitor" in c for c in cmds):
        return "the monitor is listed: %r" % cmds
    leader = prop("busy", "Leader")
    lead = [p for p in procs if p[0] == leader]
    if not lead or lead[0][1] != 1:
        return "the leader is not PID 1 inside: %r" % lead
    if info["memory_bytes"]["data"] <= 0 or any(p[4] <= 0 for p in procs):
        return "memory: %r" % info["memory_bytes"]
    if info["tasks"]["data"] < 3:
        return "tasks: %r" % info["tasks"]
    if info["source"]["data"] != "proc":
        return "this sandbox has no accounting, yet source is %r" % info["source"]
    if any(p[2] != "root" for p in procs):
        return "users: %r" % [p[2] for p in procs]
    tap.diag("Top: %d processes, %d bytes, %d tasks, cpu %d ns" % (
        len(procs), info["memory_bytes"]["data"], info["tasks"]["data"],
        info["cpu_usage_nsec"]["data"]))
    return True


tap.check("Top() lists the scope's processes (pid, pid inside, user, cpu, rss, command) "
          "with non-zero memory, from /proc when systemd has no accounting", t_top)


def t_top_not_running():
    res = sb.gdbus("--object-path", container_path("chatty"), "--method", C + ".Top", check=False)
    return gdbus_error(res) == "org.containers.Error.NotRunning" or res.stderr


tap.check("Top() of a stopped container is NotRunning", t_top_not_running)


def t_inspect():
    info = sb.call(container_path("busy"), C, "Inspect")[0]
    want = {"Name": "busy", "Image": "busybox", "State": "running",
            "Unit": "container-busy.scope", "WorkingDirectory": "/"}
    for k, v in want.items():
        if info.get(k, {}).get("data") != v:
            return "%s: %r" % (k, info.get(k))
    for k in ("Leader", "CreatedTimestamp", "StartedTimestamp", "Command", "Environment",
              "RootDirectory", "ExitStatus", "FinishedTimestamp"):
        if k not in info:
            return "Inspect lacks %s" % k
    if info["Leader"]["data"] <= 1 or info["StartedTimestamp"]["data"] < info["CreatedTimestamp"]["data"]:
        return "Leader/timestamps: %r" % info
    return True


tap.check("Inspect() returns name, image, state, unit, leader, command, environment, "
          "working directory, root, timestamps, exit status", t_inspect)


def monitor(path, seconds):
    """gdbus monitor on one object for a few seconds; returns the Popen (stdout is a pipe).
    It ends by itself (timeout), line-buffered so nothing is lost when it is stopped."""
    import subprocess
    p = sb.popen(["timeout", str(seconds), "stdbuf", "-oL", "gdbus", "monitor", "--system",
                  "--dest", sandbox.BUS, "--object-path", path],
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.7)  # let it subscribe
    return p


def states_seen(p):
    out, _ = p.communicate(timeout=30)
    return re.findall(r"'State': <'([a-z]+)'>", out)


def t_properties_changed():
    create("ex3", ["sh", "-c", "sleep 0.5; exit 3"], start=False)
    path = container_path("ex3")
    p = monitor(path, 4)
    t0 = time.monotonic()
    sb.call(path, C, "Start")
    wait_for(lambda: prop("ex3", "State") == "failed", 10, interval=0.05, what="failed")
    took = time.monotonic() - t0
    seen = states_seen(p)
    if seen != ["starting", "running", "failed"]:
        return "PropertiesChanged State sequence: %r" % seen
    if prop("ex3", "ExitStatus") != 3:
        return "ExitStatus %r" % prop("ex3", "ExitStatus")
    tap.diag("exit 3 seen as failed %.2fs after Start (the payload sleeps 0.5s)" % took)
    if took > 3:
        return "failed only after %.1fs" % took
    return True


tap.check("exit status 3 ends 'failed' with ExitStatus 3; a monitoring client sees "
          "starting, running, failed", t_properties_changed)


def t_properties_changed_stop():
    path = container_path("busy")
    p = monitor(path, 3)
    sb.call(path, C, "Stop")
    seen = states_seen(p)
    return seen == ["stopping", "stopped"] or "Stop sequence: %r" % seen


tap.check("Stop is seen as stopping, stopped", t_properties_changed_stop)


OM_WATCHER = r"""
import sys
from gi.repository import Gio, GLib
loop = GLib.MainLoop()
om = Gio.DBusObjectManagerClient.new_for_bus_sync(
    Gio.BusType.SYSTEM, Gio.DBusObjectManagerClientFlags.NONE,
    "org.containers.Manager", "/org/containers/Manager", None, None, None)
print("ready", len(om.get_objects()), flush=True)
want = sys.argv[1]
def added(om, obj):
    if obj.get_object_path() == want:
        st = obj.get_interface("org.containers.Container").get_cached_property("State")
        print("added", obj.get_object_path(), st.unpack() if st else None, flush=True)
def removed(om, obj):
    if obj.get_object_path() == want:
        print("removed", obj.get_object_path(), flush=True)
        loop.quit()
om.connect("object-added", added)
om.connect("object-removed", removed)
GLib.timeout_add_seconds(30, loop.quit)
loop.run()
"""


def t_object_manager():
    import subprocess
    sb.write_file("/usr/local/lib/cm-tests/om-watch.py", OM_WATCHER)
    path = container_path("omtest")
    p = sb.popen(["/usr/bin/python3", "/usr/local/lib/cm-tests/om-watch.py", path],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    if not first.startswith("ready"):
        p.kill()
        return "watcher did not start: %r %r" % (first, p.stderr.read())
    create("omtest", ["sleep", "1000"])
    sb.mcall("Remove", "s", "omtest")
    out, err = p.communicate(timeout=40)
    lines = out.splitlines()
    if not any(l.startswith("added " + path) for l in lines) or \
            not any(l.startswith("removed " + path) for l in lines):
        return "GDBusObjectManagerClient saw: %r %r" % (lines, err[-500:])
    return True


tap.check("a GLib GDBusObjectManagerClient sees a container appear and disappear",
          t_object_manager)


def t_lifecycle_journal():
    out = sb.run(["journalctl", "--no-pager", "-o", "json", "CONTAINER=ex3"]).stdout
    entries = [json.loads(l) for l in out.splitlines() if l.strip()]
    ids = [e.get("MESSAGE_ID") for e in entries]
    msgs = [e.get("MESSAGE") for e in entries]
    # created, started, failed: three distinct ids of ours
    if len(set(ids)) < 3 or None in ids:
        return "journalctl CONTAINER=ex3: %r" % msgs
    if not any("exit status 3" in m for m in msgs):
        return "no entry tells the exit status: %r" % msgs
    sb.mcall("Remove", "s", "ex3")
    out = sb.run(["journalctl", "--no-pager", "-o", "cat", "CONTAINER=ex3"]).stdout
    return "removed" in out or "no 'removed' entry: %r" % out


tap.check("lifecycle events are journal entries with MESSAGE_ID and CONTAINER= "
          "(journalctl CONTAINER=ex3)", t_lifecycle_journal)

sb.stop()
sys.exit(tap.done())
