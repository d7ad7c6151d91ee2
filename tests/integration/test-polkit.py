#!/usr/bin/python3
"""Authorization through the real polkitd: root may, an unprivileged user may not (and the
refused call changes nothing) until a rules file grants org.containers.manage; read-only
calls are open to the user all along."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, LOOP, TEST_USER,  # noqa: E402
                     busctl_create_args, gv_env, gv_opts, gdbus_error, container_path, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, stop_timeout=5)
C = CONTAINER_IFACE
U = TEST_USER
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")


def state(name):
    return sb.get_property(container_path(name), C, "State")


def t_root_create():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "r1", {"GREETING": "r"},
                                                {"command": ["sh", "-c", LOOP]})))
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "r2", {},
                                                {"start": False,
                                                 "command": ["sh", "-c", LOOP]})))
    return state("r1") == "running" and state("r2") == "created"


if not tap.check("root may Create (r1 running, r2 created)", t_root_create):
    tap.bail("cannot continue without containers")
    sb.stop()
    sys.exit(1)
baseline = sb.list_containers()


def unchanged():
    now = sb.list_containers()
    return now == baseline or ("List changed: %s" % now)


def refused(res):
    return not res.ok and gdbus_error(res) in DENIED


def user_gdbus(path, method, *args):
    return sb.gdbus("--object-path", path, "--method", method, *args, user=U, check=False)


def t_user_create_refused():
    opts = {"start": False, "command": ["true"]}   # valid, so only polkit can refuse it
    r = user_gdbus(MANAGER_PATH, MANAGER_IFACE + ".Create", "busybox", "u1", gv_env({}),
                   gv_opts(opts))
    if not refused(r):
        return "gdbus Create as %s: rc=%d %s" % (U, r.returncode, r.stderr)
    b = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "Create",
                  *busctl_create_args("busybox", "u1", {}, opts), user=U,
                  check=False)
    if b.ok:
        return "busctl Create as %s succeeded" % U
    tap.diag("busctl says: %s" % b.stderr.strip())
    return unchanged()


tap.check("unprivileged Create is refused (gdbus and busctl), nothing changed",
          t_user_create_refused)


def t_user_verb_refused(name, verb, want_state):
    r = user_gdbus(container_path(name), C + "." + verb)
    if not refused(r):
        return "%s as %s: rc=%d %s" % (verb, U, r.returncode, r.stderr)
    b = sb.busctl("call", BUS, container_path(name), C, verb, user=U, check=False)
    if b.ok:
        return "busctl %s as %s succeeded" % (verb, U)
    if state(name) != want_state:
        return "state is now %s" % state(name)
    return unchanged()


tap.check("unprivileged Start is refused, still created", t_user_verb_refused, "r2", "Start",
          "created")
tap.check("unprivileged Stop is refused, still running", t_user_verb_refused, "r1", "Stop",
          "running")
tap.check("unprivileged Restart is refused, still running", t_user_verb_refused, "r1",
          "Restart", "running")


def t_user_remove_refused():
    r = user_gdbus(MANAGER_PATH, MANAGER_IFACE + ".Remove", "r1")
    if not refused(r):
        return "Remove as %s: rc=%d %s" % (U, r.returncode, r.stderr)
    leader = sb.get_property(container_path("r1"), C, "Leader")
    if not sb.run(["test", "-d", "/proc/%d" % leader], check=False).ok:
        return "r1's leader is gone"
    return unchanged()


tap.check("unprivileged Remove is refused, r1 still there and running", t_user_remove_refused)


def t_user_reads():
    lst = sb.list_containers(user=U)
    assert lst == baseline, lst
    imgs = sb.mcall("Images", user=U)[0]
    assert {"busybox", "host"} <= {i[0] for i in imgs}, imgs
    assert sb.mcall("GetContainer", "s", "r1", user=U)[0] == container_path("r1")
    d = sb.call(container_path("r1"), C, "Inspect", user=U)[0]
    assert d, d
    assert sb.get_property(container_path("r1"), C, "State", user=U) == "running"
    r = user_gdbus(MANAGER_PATH, MANAGER_IFACE + ".List")
    assert r.ok and "'r1'" in r.stdout, r
    r = user_gdbus(container_path("r1"), C + ".Inspect")
    return r.ok or r


tap.check("List/Images/GetContainer/Inspect/properties work for the unprivileged user",
          t_user_reads)

RULES = """polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.manage" && subject.user == "%s") {
        return polkit.Result.YES;
    }
});
""" % U


def t_grant():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-test.rules", RULES)
    # polkitd reloads rules on inotify; poll until a harmless allowed call goes through
    def created():
        r = user_gdbus(MANAGER_PATH, MANAGER_IFACE + ".Create", "busybox", "u1",
                       gv_env({"GREETING": "u"}), gv_opts({"command": ["sh", "-c", LOOP]}))
        if r.ok:
            return True
        if gdbus_error(r) not in DENIED:
            raise RuntimeError(r.stderr)
        time.sleep(0.5)
        return False
    wait_for(created, 15, what="rules file to take effect")
    return state("u1") == "running" or state("u1")


tap.check("with a rules file granting org.containers.manage the user may Create", t_grant)


def t_user_allowed():
    sb.call(container_path("r1"), C, "Stop", user=U)
    wait_for(lambda: state("r1") == "stopped", 20, what="r1 stopped")
    sb.busctl("call", BUS, container_path("r2"), C, "Start", user=U)
    assert state("r2") == "running", state("r2")
    sb.call(container_path("r2"), C, "Restart", user=U)
    wait_for(lambda: state("r2") == "running", 20, what="r2 running")
    sb.mcall("Remove", "s", "r1", user=U)
    sb.mcall("Remove", "s", "u1", user=U)
    lst = sb.list_containers()
    return set(lst) == {"r2"} or lst


tap.check("then the user may Stop, Start, Restart and Remove", t_user_allowed)

sb.mcall("Remove", "s", "r2", check=False)
sb.stop()
sys.exit(tap.done())
