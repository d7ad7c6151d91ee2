#!/usr/bin/python3
"""Resource limits and Update: Create's limit options become the scope's systemd properties
(MemoryMax, CPUWeight, CPUQuotaPerSecUSec, TasksMax, IOWeight); Inspect and Top show them; bad
values are InvalidArgs and create nothing; Update changes them live on a running container (same
leader, no restart) or at the next start, and environment and command at the next start; a bad
Update changes nothing; Update needs org.containers.manage; the values survive a daemon restart.
The throwaway systemd cannot enforce the limits (its v1 controllers are read-only): the tests
read the unit's properties."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (BUS, MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, TEST_USER,  # noqa: E402
                     container_path, gdbus_error, gv_str, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)
C = CONTAINER_IFACE
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
PROPS = ["MemoryMax", "CPUWeight", "CPUQuotaPerSecUSec", "TasksMax", "IOWeight"]
U64MAX = 2**64 - 1
SLEEPER = ["sh", "-c", "echo X=$X; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


def gvopts(opts):
    """{'k': <type value>}: values are (gvariant type, python value)."""
    if not opts:
        return "@a{sv} {}"
    parts = []
    for k, (t, v) in opts.items():
        if t == "as":
            val = "@as [" + ", ".join(gv_str(x) for x in v) + "]"
        elif t == "a{ss}":
            val = "@a{ss} {" + ", ".join("%s: %s" % (gv_str(a), gv_str(b)) for a, b in v.items()) + "}"
        elif t == "s":
            val = gv_str(v)
        elif t == "b":
            val = "true" if v else "false"
        else:
            val = "%s %d" % ({"t": "uint64", "u": "uint32"}[t], v)
        parts.append("%s: <%s>" % (gv_str(k), val))
    return "{" + ", ".join(parts) + "}"


def create(name, opts, env=None, start=True):
    o = {"command": ("as", SLEEPER), "start": ("b", start)}
    o.update(opts)
    envtext = "@a{ss} {" + ", ".join("%s: %s" % (gv_str(a), gv_str(b)) for a, b in (env or {}).items()) + "}"
    r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                 "'busybox'", gv_str(name), envtext, gvopts(o), check=False)
    return r.ok, gdbus_error(r), r.stdout + r.stderr


def update(name, opts, user=None):
    r = sb.gdbus("--object-path", container_path(name), "--method", C + ".Update", gvopts(opts),
                 user=user, check=False)
    return r.ok, gdbus_error(r), r.stdout + r.stderr


def unit_props(name):
    out = sb.run(["systemctl", "show"] + ["-p" + p for p in PROPS] + ["container-%s.scope" % name]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def inspect(name):
    return {k: v["data"] for k, v in sb.call(container_path(name), C, "Inspect")[0].items()}


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def config(name):
    return sb.run(["cat", "/var/lib/containers-manager/containers/%s/config.json" % name]).stdout


def logs(name):
    return sb.call(container_path(name), C, "Logs", "a{sv}", "0")[0]["stdout"]


def wait_state(name, states, timeout=30):
    return wait_for(lambda: prop(name, "State") in states, timeout, what="%s to be %s" % (name, "/".join(states)))


def restart(name):
    sb.call(container_path(name), C, "Stop", timeout=60)
    sb.call(container_path(name), C, "Start", timeout=60)
    wait_state(name, ("running",))


LIMITS = {"memory_max": ("t", 268435456), "cpu_weight": ("t", 500), "cpu_quota_percent": ("u", 50),
          "tasks_max": ("t", 64), "io_weight": ("t", 300)}
EXPECTED = {"MemoryMax": "268435456", "CPUWeight": "500", "CPUQuotaPerSecUSec": "500ms",
            "TasksMax": "64", "IOWeight": "300"}


def t_create_limits():
    ok, err, out = create("lim", LIMITS)
    if not ok:
        return "Create with limits: %s" % out
    ok, err, out = create("plain", {})
    if not ok:
        return "Create without limits: %s" % out
    wait_state("lim", ("running",))
    wait_state("plain", ("running",))
    got, plain = unit_props("lim"), unit_props("plain")
    if got != EXPECTED:
        return "container-lim.scope: %r, expected %r" % (got, EXPECTED)
    if plain.get("MemoryMax") != "infinity" or plain.get("CPUQuotaPerSecUSec") != "infinity" or \
            plain.get("CPUWeight") not in ("[not set]", "100") or plain.get("TasksMax") == "64":
        return "container-plain.scope has limits: %r" % plain
    return True


tap.check("Create's limits are the scope's properties (and a container without them has systemd's defaults)",
          t_create_limits)


def t_inspect():
    i, p = inspect("lim"), inspect("plain")
    want = {"MemoryMax": 268435456, "CPUWeight": 500, "CPUQuotaPerSecUSec": 500000, "TasksMax": 64, "IOWeight": 300}
    got = {k: i.get(k) for k in want}
    if got != want:
        return "Inspect of lim: %r, expected %r" % (got, want)
    if any(k in p for k in want):
        return "Inspect of plain shows limits: %r" % {k: p[k] for k in want if k in p}
    top = sb.call(container_path("lim"), C, "Top")[0]
    tgot = {k: top.get(k, {}).get("data") for k in LIMITS}
    twant = {k: v for k, (t, v) in LIMITS.items()}
    if tgot != twant:
        return "Top of lim: %r, expected %r" % (tgot, twant)
    return True


tap.check("Inspect shows the limits as the scope's properties, Top by their option names", t_inspect)


def t_create_bad():
    bad = [("memory_max", ("t", 0)), ("cpu_weight", ("t", 0)), ("cpu_weight", ("t", 10001)),
           ("io_weight", ("t", 0)), ("io_weight", ("t", 20000)), ("cpu_quota_percent", ("u", 0)),
           ("tasks_max", ("t", 0)), ("memory_max", ("s", "1G")), ("cpu_quota_percent", ("t", 50)),
           ("memory_limit", ("t", 1000))]
    for i, (k, v) in enumerate(bad):
        name = "bad%d" % i
        ok, err, out = create(name, {k: v})
        if ok or err != INVALID or k not in out:
            return "Create with %s=%r: %s %s" % (k, v, err, out)
        if name in sb.list_containers():
            return "Create with %s=%r made %s" % (k, v, name)
    ok, err, out = create("badrange", {"cpu_weight": ("t", 10001)})
    if "1..10000" not in out:
        return "the error does not say the range: %s" % out
    return True


tap.check("bad limits (0, weights out of 1..10000, wrong types, unknown options): InvalidArgs naming "
          "the option, nothing created", t_create_bad)


def t_update_live():
    leader = prop("lim", "Leader")
    ok, err, out = update("lim", {"memory_max": ("t", 536870912), "tasks_max": ("t", 32),
                                  "cpu_weight": ("t", U64MAX)})
    if not ok:
        return "Update: %s" % out
    got = unit_props("lim")
    want = dict(EXPECTED, MemoryMax="536870912", TasksMax="32", CPUWeight="[not set]")
    if got != want:
        return "after Update the scope has %r, expected %r" % (got, want)
    if prop("lim", "Leader") != leader or prop("lim", "State") != "running":
        return "the container restarted: leader %r -> %r, %s" % (leader, prop("lim", "Leader"), prop("lim", "State"))
    i = inspect("lim")
    if i.get("MemoryMax") != 536870912 or i.get("TasksMax") != 32 or "CPUWeight" in i:
        return "Inspect after Update: %r" % {k: i.get(k) for k in PROPS}
    return True


tap.check("Update of a running container changes its scope's properties live (same leader); "
          "UINT64_MAX removes a limit", t_update_live)


def t_update_bad():
    before, props = config("lim"), unit_props("lim")
    for opts in ({"memory_max": ("t", 1000000), "cpu_weight": ("t", 0)},
                 {"tasks_max": ("t", 10), "io_weight": ("t", 10001)},
                 {"tasks_max": ("t", 10), "bogus": ("t", 1)},
                 {"tasks_max": ("u", 10)},
                 {"memory_max": ("t", 1000000), "command": ("as", [])},
                 {"tasks_max": ("t", 10), "environment": ("a{ss}", {"1BAD": "x"})}):
        ok, err, out = update("lim", opts)
        if ok or err != INVALID:
            return "Update %r: %s %s" % (opts, err, out)
    if config("lim") != before:
        return "config.json changed by a bad Update"
    if unit_props("lim") != props:
        return "the scope changed: %r -> %r" % (props, unit_props("lim"))
    return True


tap.check("a bad Update is InvalidArgs and changes nothing (config.json, the scope's properties)", t_update_bad)


def t_update_stopped():
    ok, err, out = create("cold", {"tasks_max": ("t", 64)}, env={"X": "old"}, start=False)
    if not ok:
        return "Create: %s" % out
    ok, err, out = update("cold", {"tasks_max": ("t", 16), "environment": ("a{ss}", {"X": "new"}),
                                   "command": ("as", ["sh", "-c", "echo Y=$X; trap 'exit 0' TERM; "
                                                      "while :; do sleep 1 & wait $!; done"])})
    if not ok:
        return "Update: %s" % out
    sb.call(container_path("cold"), C, "Start", timeout=60)
    wait_state("cold", ("running",))
    if unit_props("cold").get("TasksMax") != "16":
        return "TasksMax at start: %r" % unit_props("cold")
    wait_for(lambda: "Y=new" in logs("cold"), 20, what="the new command's output")
    if "X=" in logs("cold"):
        return "the old command ran: %r" % logs("cold")
    return True


tap.check("Update of a stopped container: limits, environment and command apply at its next start",
          t_update_stopped)


def start_monitor():
    sb.run("rm -f /run/cm-mon.log /run/cm-mon.pid")
    p = sb.popen("echo $$ > /run/cm-mon.pid; exec stdbuf -oL gdbus monitor --system "
                 "--dest %s > /run/cm-mon.log 2>&1" % BUS)
    wait_for(lambda: sb.run("test -s /run/cm-mon.log", check=False).ok, 10, what="gdbus monitor")
    return p


def stop_monitor(p):
    sb.run("kill $(cat /run/cm-mon.pid)", check=False)
    p.wait(timeout=10)
    return sb.run("cat /run/cm-mon.log", check=False).stdout


def t_update_env_running():
    mon = start_monitor()
    try:
        ok, err, out = update("plain", {"environment": ("a{ss}", {"X": "later"})})
        if ok:
            try:
                wait_for(lambda: "'Environment'" in sb.run("cat /run/cm-mon.log", check=False).stdout, 5,
                         what="PropertiesChanged of Environment")
            except TimeoutError:
                pass
    finally:
        log = stop_monitor(mon)
    if not ok:
        return "Update: %s" % out
    if "PropertiesChanged" not in log or "'Environment'" not in log:
        return "no PropertiesChanged for Environment: %s" % log[-2000:]
    if "X=later" not in inspect("plain").get("Environment", []):
        return "Inspect's Environment: %r" % inspect("plain").get("Environment")
    if "X=later" in logs("plain"):
        return "applied before a restart"
    restart("plain")
    wait_for(lambda: "X=later" in logs("plain"), 20, what="the new environment after a restart")
    return True


tap.check("Update of a running container's environment: PropertiesChanged at once, applied at its next start",
          t_update_env_running)


def t_polkit():
    props = unit_props("lim")
    ok, err, out = update("lim", {"tasks_max": ("t", 8)}, user=TEST_USER)
    if ok or err not in DENIED:
        return "Update as %s: %s %s" % (TEST_USER, err, out)
    if unit_props("lim") != props:
        return "a denied Update changed the scope"
    rules = "/etc/polkit-1/rules.d/50-cm-limits.rules"
    sb.write_file(rules, """
polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.manage" && subject.user == "%s")
        return polkit.Result.YES;
});
""" % TEST_USER)
    try:
        wait_for(lambda: update("lim", {"tasks_max": ("t", 8)}, user=TEST_USER)[0], 10, what="a granted Update")
    finally:
        sb.run(["rm", "-f", rules])
    if unit_props("lim").get("TasksMax") != "8":
        return "granted Update: %r" % unit_props("lim")
    return True


tap.check("Update needs org.containers.manage: denied to a user, allowed by a rule", t_polkit)


def t_daemon_restart():
    want = unit_props("lim")
    sb.run(["systemctl", "restart", "containers-manager.service"])
    wait_for(lambda: sb.unit_active("containers-manager.service") == "active", 20, what="daemon restarted")
    i = inspect("lim")
    if i.get("MemoryMax") != 536870912 or i.get("TasksMax") != 8 or i.get("IOWeight") != 300:
        return "Inspect after a daemon restart: %r" % {k: i.get(k) for k in PROPS}
    restart("lim")
    if unit_props("lim") != want:
        return "after a restart of the container: %r, expected %r" % (unit_props("lim"), want)
    return True


tap.check("the limits are kept over a daemon restart and given to the next scope", t_daemon_restart)

sb.stop()
sys.exit(tap.done())
