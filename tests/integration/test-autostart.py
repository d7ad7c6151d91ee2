#!/usr/bin/python3
"""Autostart: a container with autostart has container@NAME.service enabled (Create option or
Update; false disables it; Remove disables it; Rename moves it); a systemd that refuses is
AutostartFailed with its text and changes nothing; bad values are InvalidArgs and change
nothing; a daemon start reconciles the links with the containers.  Then the throwaway systemd is
shut down and the same tree booted again: exactly the autostart containers run, started in the
order of autostart_priority (higher first), and a Stop through the bus is not undone."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS,  # noqa: E402
                     container_path, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)
C = CONTAINER_IFACE
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
FAILED = "org.containers.Error.AutostartFailed"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
WANTS = "/etc/systemd/system/multi-user.target.wants"
DROPIN = "50-containers-manager-order.conf"


def esc(name):
    return sb.run(["systemd-escape", name]).stdout.strip()


def unit(name):
    return "container@%s.service" % esc(name)


def busctl_opts(opts):
    """{'key': (signature, value)} -> busctl arguments of an a{sv}."""
    a = [str(len(opts))]
    for k, (t, v) in opts.items():
        a += [k, t]
        if t == "as":
            a += [str(len(v))] + list(v)
        elif t == "b":
            a.append("true" if v else "false")
        else:
            a.append(str(v))
    return a


def create(name, opts, start=False):
    o = {"command": ("as", SLEEPER), "start": ("b", start)}
    o.update(opts)
    res = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "Create", "ssa{ss}a{sv}", "busybox", name, "0",
                    *busctl_opts(o), check=False)
    return res


def update(name, opts):
    return sb.busctl("call", BUS, container_path(name), C, "Update", "a{sv}", *busctl_opts(opts), check=False)


def gdbus_err(res):
    return sandbox.gdbus_error(res)


def is_enabled(name):
    return sb.run(["systemctl", "is-enabled", unit(name)], check=False).stdout.strip()


def inspect(name):
    return {k: v["data"] for k, v in sb.call(container_path(name), C, "Inspect")[0].items()}


def after(name):
    # systemctl quotes a name with a backslash: "container@mid\\x2d1.service"
    words = sb.run(["systemctl", "show", "-P", "After", unit(name)]).stdout.split()
    return [w.strip('"').replace("\\\\", "\\") for w in words]


def config(name):
    return sb.run(["cat", "/var/lib/containers-manager/containers/%s/config.json" % name]).stdout


def check_enabled(names, want):
    got = {n: is_enabled(n) for n in names}
    bad = {n: s for n, s in got.items() if s != want}
    return "is-enabled: %r (expected %s)" % (bad, want) if bad else True


# priority:    hi 10 > mid-1, mid2 5 > lo -3; plain and later ones have no autostart
AUTO = {"hi": 10, "mid-1": 5, "mid2": 5, "lo": -3}


def t_create():
    for name, prio in AUTO.items():
        res = create(name, {"autostart": ("b", True), "autostart_priority": ("i", prio)})
        if not res.ok:
            return "Create %s: %s" % (name, res.stderr)
    res = create("plain", {}, start=True)
    if not res.ok:
        return "Create plain: %s" % res.stderr
    r = check_enabled(AUTO, "enabled")
    if r is not True:
        return r
    if is_enabled("plain") != "disabled":
        return "container@plain.service: %s" % is_enabled("plain")
    for name, prio in AUTO.items():
        i = inspect(name)
        if i.get("Autostart") is not True or i.get("AutostartPriority") != prio:
            return "Inspect of %s: Autostart %r, AutostartPriority %r" % (name, i.get("Autostart"), i.get("AutostartPriority"))
    link = sb.run(["readlink", os.path.join(WANTS, unit("mid-1"))], check=False).stdout.strip()
    if not link.endswith("/container@.service"):
        return "the link of %s points to %r" % (unit("mid-1"), link)
    return True


tap.check("Create with autostart enables container@NAME.service (a name with '-' escaped as "
          "systemd-escape does); without it the unit stays disabled", t_create)


def t_order():
    want = {
        "hi": set(),
        "mid-1": {unit("hi")},
        "mid2": {unit("hi")},
        "lo": {unit("hi"), unit("mid-1"), unit("mid2")},
    }
    for name, units in want.items():
        got = {u for u in after(name) if u.startswith("container@")}
        if got != units:
            return "After= of %s: %r, expected %r" % (unit(name), sorted(got), sorted(units))
    out = sb.run(["systemctl", "cat", unit("lo")]).stdout
    if DROPIN not in out:
        return "systemctl cat %s shows no %s:\n%s" % (unit("lo"), DROPIN, out)
    if sb.run(["test", "-e", "/etc/systemd/system/%s.d/%s" % (unit("hi"), DROPIN)], check=False).ok:
        return "the highest priority has an order drop-in"
    return True


tap.check("the order is systemd's: After= the autostart units of higher priority (drop-ins the "
          "daemon writes and systemd has reloaded), none between equal priorities", t_order)


def t_bad():
    before = {n: config(n) for n in ("plain", "hi")}
    for name, opts in (("bad1", {"autostart": ("b", True), "autostart_priority": ("u", 5)}),
                       ("bad2", {"autostart": ("b", True), "autostart_priority": ("s", "high")}),
                       ("bad3", {"autostart": ("s", "yes")}),
                       ("bad4", {"autostart": ("b", True), "autostart_prio": ("i", 1)})):
        r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create", "'busybox'",
                     "'%s'" % name, "@a{ss} {}", gv(opts), check=False)
        if r.ok or gdbus_err(r) != INVALID:
            return "Create %s %r: %s %s" % (name, opts, gdbus_err(r), r.stdout + r.stderr)
        if name in sb.list_containers():
            return "Create %s made it" % name
        if is_enabled(name) != "disabled":
            return "Create %s: its unit is %s" % (name, is_enabled(name))
    for name, opts in (("plain", {"autostart": ("b", True), "autostart_priority": ("u", 5)}),
                       ("plain", {"autostart": ("i", 1)}),
                       ("hi", {"autostart": ("b", False), "autostart_priority": ("t", 1)})):
        r = sb.gdbus("--object-path", container_path(name), "--method", C + ".Update", gv(opts), check=False)
        if r.ok or gdbus_err(r) != INVALID:
            return "Update %s %r: %s %s" % (name, opts, gdbus_err(r), r.stdout + r.stderr)
    if {n: config(n) for n in before} != before:
        return "a bad Update changed config.json"
    if is_enabled("plain") != "disabled" or is_enabled("hi") != "enabled":
        return "a bad Update changed the units: plain %s, hi %s" % (is_enabled("plain"), is_enabled("hi"))
    return True


def gv(opts):
    parts = []
    for k, (t, v) in opts.items():
        if t == "b":
            val = "true" if v else "false"
        elif t == "s":
            val = "'%s'" % v
        else:
            val = "%s %d" % ({"i": "int32", "u": "uint32", "t": "uint64"}[t], v)
        parts.append("'%s': <%s>" % (k, val))
    return "{" + ", ".join(parts) + "}"


tap.check("bad values (autostart_priority of a wrong type, autostart not a boolean, an unknown "
          "option): InvalidArgs, nothing created, enabled or changed", t_bad)


def t_update():
    if not create("tog", {}).ok:
        return "Create tog failed"
    r = update("tog", {"autostart": ("b", True), "autostart_priority": ("i", 7)})
    if not r.ok:
        return "Update autostart true: %s" % r.stderr
    if is_enabled("tog") != "enabled" or inspect("tog").get("Autostart") is not True:
        return "after Update true: %s, Inspect %r" % (is_enabled("tog"), inspect("tog").get("Autostart"))
    # priority 7: between hi and mid: mid-1 now starts after it too
    if unit("tog") not in after("mid-1") or unit("hi") not in after("tog"):
        return "After= not rewritten: mid-1 %r, tog %r" % (after("mid-1"), after("tog"))
    r = update("tog", {"autostart": ("b", False)})
    if not r.ok:
        return "Update autostart false: %s" % r.stderr
    if is_enabled("tog") != "disabled" or inspect("tog").get("Autostart") is not False:
        return "after Update false: %s" % is_enabled("tog")
    if unit("tog") in after("mid-1"):
        return "mid-1 still starts after tog: %r" % after("mid-1")
    # the priority alone: lo moves above hi
    r = update("lo", {"autostart_priority": ("i", 20)})
    if not r.ok or unit("lo") not in after("hi") or any(u.startswith("container@") for u in after("lo")):
        return "Update of lo's priority: %s; hi after %r, lo after %r" % (r.stderr, after("hi"), after("lo"))
    r = update("lo", {"autostart_priority": ("i", -3)})
    if not r.ok or unit("hi") not in after("lo"):
        return "Update of lo's priority back: %s, lo after %r" % (r.stderr, after("lo"))
    return True


tap.check("Update toggles autostart (enabled, then disabled) and a new priority rewrites the order",
          t_update)


def t_refused():
    # a file where systemd wants to put the link: enable refuses (no force)
    sb.write_file(os.path.join(WANTS, "container@blocked.service"), "not a link\n")
    try:
        r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create", "'busybox'",
                     "'blocked'", "@a{ss} {}",
                     "{'autostart': <true>, 'start': <true>, 'command': <['sleep', '1000']>}", check=False)
        if r.ok or gdbus_err(r) != FAILED:
            return "Create with a blocked link: %s %s" % (gdbus_err(r), r.stdout + r.stderr)
        tap.diag("Create refused: " + r.stderr.strip().splitlines()[-1])
        if "blocked" in sb.list_containers():
            return "the container is left behind"
        if not create("blocked", {}).ok:
            return "Create blocked without autostart failed"
        before = config("blocked")
        r = sb.gdbus("--object-path", container_path("blocked"), "--method", C + ".Update",
                     "{'autostart': <true>}", check=False)
        if r.ok or gdbus_err(r) != FAILED or "container@blocked.service" not in r.stderr:
            return "Update with a blocked link: %s %s" % (gdbus_err(r), r.stdout + r.stderr)
        if config("blocked") != before or inspect("blocked").get("Autostart") is not False:
            return "a refused Update changed the policy"
    finally:
        sb.run(["rm", "-f", os.path.join(WANTS, "container@blocked.service")])
    r = update("blocked", {"autostart": ("b", True)})
    if not r.ok or is_enabled("blocked") != "enabled":
        return "Update once the way is free: %s %s" % (r.stderr, is_enabled("blocked"))
    return True


tap.check("systemd refusing the link (a file in its way): Create is AutostartFailed with systemd's "
          "text and leaves no container; Update is AutostartFailed and changes nothing", t_refused)


def t_remove():
    if is_enabled("blocked") != "enabled":
        return "before Remove: %s" % is_enabled("blocked")
    r = sb.mcall("Remove", "s", "blocked", check=False)
    if not isinstance(r, list):
        return "Remove: %s" % r.stderr
    if is_enabled("blocked") != "disabled":
        return "after Remove: %s" % is_enabled("blocked")
    return True


tap.check("Remove disables the unit", t_remove)


def t_rename():
    if not create("old", {"autostart": ("b", True), "autostart_priority": ("i", 1)}).ok:
        return "Create old failed"
    sb.write_file(os.path.join(WANTS, "container@taken.service"), "not a link\n")
    try:
        r = sb.gdbus("--object-path", container_path("old"), "--method", C + ".Rename", "'taken'", check=False)
        if r.ok or gdbus_err(r) != FAILED:
            return "Rename with the new name's link blocked: %s %s" % (gdbus_err(r), r.stdout + r.stderr)
        if "old" not in sb.list_containers() or "taken" in sb.list_containers() or is_enabled("old") != "enabled":
            return "a refused Rename changed something: %r, old %s" % (sorted(sb.list_containers()), is_enabled("old"))
    finally:
        sb.run(["rm", "-f", os.path.join(WANTS, "container@taken.service")])
    r = sb.busctl("call", BUS, container_path("old"), C, "Rename", "s", "re-named", check=False)
    if not r.ok:
        return "Rename: %s" % r.stderr
    if is_enabled("old") != "disabled" or is_enabled("re-named") != "enabled":
        return "after Rename: old %s, re-named %s" % (is_enabled("old"), is_enabled("re-named"))
    if unit("hi") not in after("re-named") or unit("re-named") not in after("lo"):
        return "order after Rename: re-named after %r, lo after %r" % (after("re-named"), after("lo"))
    if sb.run(["test", "-e", "/etc/systemd/system/%s.d/%s" % (unit("old"), DROPIN)], check=False).ok:
        return "the old name's drop-in is left"
    return True


tap.check("Rename moves it: the old name's unit disabled, the new one's enabled, the order kept; "
          "systemd refusing the new link is AutostartFailed and changes nothing", t_rename)
AUTO["re-named"] = 1


def t_reconcile():
    sb.run(["systemctl", "stop", "containers-manager.service"])
    sb.run(["systemctl", "disable", unit("hi")])
    sb.run(["ln", "-sf", "/usr/lib/systemd/system/container@.service", os.path.join(WANTS, "container@ghost.service")])
    sb.run(["ln", "-sf", "/usr/lib/systemd/system/container@.service", os.path.join(WANTS, unit("plain"))])
    sb.mcall("List")        # activates the daemon
    wait_for(lambda: is_enabled("hi") == "enabled" and is_enabled("ghost") == "disabled"
             and is_enabled("plain") == "disabled", timeout=20, what="the daemon to reconcile the links")
    return True


tap.check("a daemon start reconciles: an autostart container's unit enabled again, links of a "
          "container that does not exist or has no autostart removed", t_reconcile)


def started(name):
    return sb.get_property(container_path(name), C, "StartedTimestamp")


def active_enter(name):
    return int(sb.run(["systemctl", "show", "-P", "ActiveEnterTimestampMonotonic", unit(name)]).stdout.strip() or 0)


def t_reboot():
    sb.reboot()
    states = {n: v["state"] for n, v in sb.list_containers().items()}
    want = {n: ("running" if n in AUTO else "not running") for n in states}
    got = {n: ("running" if s == "running" else "not running") for n, s in states.items()}
    if got != want:
        return "after the reboot: %r (expected autostart ones running: %s)" % (states, sorted(AUTO))
    for n in AUTO:
        if sb.unit_active(unit(n)) != "active":
            return "%s is %s" % (unit(n), sb.unit_active(unit(n)))
    tap.diag("after the reboot: %r" % states)
    return True


tap.check("after a shutdown and a boot of the same state, exactly the autostart containers run "
          "(their units active)", t_reboot)


def t_boot_order():
    prio = {"hi": 10, "mid-1": 5, "mid2": 5, "re-named": 1, "lo": -3}
    enter = {n: active_enter(n) for n in prio}
    start = {n: started(n) for n in prio}
    tap.diag("ActiveEnterTimestampMonotonic: %r" % enter)
    tap.diag("StartedTimestamp: %r" % start)
    for a in prio:
        for b in prio:
            if prio[a] > prio[b]:
                if not enter[a] < enter[b]:
                    return "%s (priority %d) active at %d, not before %s (%d) at %d" % (
                        a, prio[a], enter[a], b, prio[b], enter[b])
                if not start[a] <= start[b]:
                    return "%s (priority %d) started at %d, after %s (%d) at %d" % (
                        a, prio[a], start[a], b, prio[b], start[b])
    return True


tap.check("the boot started them in the order of autostart_priority, higher first "
          "(units' ActiveEnterTimestampMonotonic and the containers' StartedTimestamp)", t_boot_order)


def t_stop_kept():
    if sb.get_property(container_path("hi"), C, "State") != "running":
        return "hi does not run"
    r = sb.call(container_path("hi"), C, "Stop", check=False, timeout=60)
    if not isinstance(r, list):
        return "Stop: %s" % r.stderr
    time.sleep(3)
    state = sb.get_property(container_path("hi"), C, "State")
    if state == "running":
        return "hi runs again after a Stop"
    tap.diag("after Stop: container %s, %s %s (the unit says what was asked at boot)"
             % (state, unit("hi"), sb.unit_active(unit("hi"))))
    return True


tap.check("a Stop through the bus is not undone by autostart", t_stop_kept)

sb.stop()
sys.exit(tap.done())
