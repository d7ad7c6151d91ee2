#!/usr/bin/python3
"""Restart policy (Create/Update options restart, restart_max): a payload that ends is brought
back after a back-off that doubles, RestartCount counts the tries (property and Inspect), and
after restart_max restarts within a minute the policy gives up and says so; 'on-failure' leaves
a clean exit alone, 'no' never restarts; a Stop through the bus is never undone, not even one
that lands between two tries; a daemon killed in between keeps the policy going; the daemon
does not exit on idle while a policy watches a container; bad values are InvalidArgs and change
nothing."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, MANAGER_IFACE, MANAGER_PATH, busctl_create_args,  # noqa: E402
                     container_path, gdbus_error, gv_env, gv_opts, gv_str, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)
C = CONTAINER_IFACE
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


def create(name, cmd, opts=None, check=True):
    o = {"command": cmd}
    o.update(opts or {})
    return sb.mcall("Create", *busctl_create_args("busybox", name, opts=o), check=check)


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def inspect(name):
    return {k: v["data"] for k, v in sb.call(container_path(name), C, "Inspect")[0].items()}


def gdbus_create(name, opts):
    r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create", "'busybox'",
                 gv_str(name), gv_env({}), gv_opts(opts), check=False)
    return gdbus_error(r)


def gdbus_update(name, opts):
    r = sb.gdbus("--object-path", container_path(name), "--method", C + ".Update", gv_opts(opts), check=False)
    return gdbus_error(r)


def starts(name):
    """How many times the payload printed its start line."""
    return sb.journal("container-%s.scope" % name).count("run-%s" % name)


def t_on_failure_gives_up():
    create("crash", ["sh", "-c", "echo run-crash; sleep 0.3; exit 3"], {"restart": "on-failure", "restart_max": 2})
    t0 = time.monotonic()
    i = wait_for(lambda: (lambda i: i if "gave up" in i.get("Error", "") else None)(inspect("crash")),
                 timeout=60, what="the policy to give up")
    took = time.monotonic() - t0
    if i["RestartCount"] != 2:
        return "RestartCount %r, expected 2" % i["RestartCount"]
    if i["State"] != "failed" or i["ExitStatus"] != 3:
        return "state %s exit %s" % (i["State"], i["ExitStatus"])
    n = wait_for(lambda: starts("crash") >= 3 and starts("crash"), timeout=10, what="three runs in the logs")
    if n != 3:
        return "%d runs in the logs, expected 3" % n
    # back-off 0.5 s then 1 s, plus three runs of 0.3 s
    if took < 1.5:
        return "gave up after %.1f s: no back-off" % took
    time.sleep(2)
    if prop("crash", "State") != "failed" or prop("crash", "RestartCount") != 2:
        return "it went on after giving up"
    return None


def t_always_restarts_clean_exit():
    create("clean", ["sh", "-c", "echo run-clean; sleep 0.3"], {"restart": "always", "restart_max": 1})
    wait_for(lambda: "gave up" in inspect("clean").get("Error", ""), timeout=30, what="the policy to give up")
    return None if prop("clean", "RestartCount") == 1 and prop("clean", "State") == "stopped" else \
        "count %r state %r" % (prop("clean", "RestartCount"), prop("clean", "State"))


def t_on_failure_leaves_clean_exit():
    create("done", ["sh", "-c", "echo run-done"], {"restart": "on-failure"})
    wait_for(lambda: prop("done", "State") == "stopped", timeout=30, what="stopped")
    time.sleep(1.5)
    i = inspect("done")
    return None if i["RestartCount"] == 0 and i["State"] == "stopped" and starts("done") == 1 else repr(i)


def t_no_policy_never_restarts():
    create("plain", ["sh", "-c", "echo run-plain; exit 4"])
    wait_for(lambda: prop("plain", "State") == "failed", timeout=30, what="failed")
    time.sleep(1.5)
    i = inspect("plain")
    if i["Restart"] != "no" or i["RestartMax"] != 5:
        return "defaults: %r" % i
    return None if i["RestartCount"] == 0 and starts("plain") == 1 else repr(i)


def t_stop_not_undone():
    create("svc", SLEEPER, {"restart": "always"})
    sb.call(container_path("svc"), C, "Stop")
    time.sleep(2)
    i = inspect("svc")
    return None if i["State"] == "stopped" and i["RestartCount"] == 0 else repr(i)


def t_stop_between_tries():
    create("flap", ["sh", "-c", "echo run-flap; exit 1"], {"restart": "on-failure", "restart_max": 10})
    # after two tries the back-off is 2 s: a Stop then lands between two tries
    wait_for(lambda: prop("flap", "RestartCount") >= 2, timeout=30, what="two restarts")
    wait_for(lambda: "RestartScheduledTimestamp" in inspect("flap"), timeout=10, what="a scheduled try")
    sb.call(container_path("flap"), C, "Stop")
    n = prop("flap", "RestartCount")
    if "RestartScheduledTimestamp" in inspect("flap"):
        return "still scheduled after Stop"
    time.sleep(5)
    return None if prop("flap", "RestartCount") == n else "restarted after Stop: %r" % inspect("flap")


def t_start_resets_count():
    sb.call(container_path("crash"), C, "Start", check=False)
    wait_for(lambda: prop("crash", "RestartCount") == 0 or None, timeout=5, what="count reset")
    # it crashes again and the policy starts over (two more restarts)
    wait_for(lambda: "gave up" in inspect("crash").get("Error", "") and prop("crash", "RestartCount") == 2,
             timeout=60, what="the policy to give up again")
    return None


def t_daemon_killed_keeps_policy():
    create("phoenix", ["sh", "-c", "echo run-phoenix; sleep 4; exit 1"], {"restart": "on-failure", "restart_max": 3})
    wait_for(lambda: prop("phoenix", "State") == "running", timeout=30, what="running")
    pid = sb.daemon_pid()
    sb.run(["kill", "-KILL", str(pid)])
    wait_for(lambda: sb.daemon_pid() != pid, timeout=30, what="the daemon to go")
    # the next daemon (bus activation) adopts it and sees it end
    wait_for(lambda: prop("phoenix", "RestartCount") >= 1, timeout=40, what="a restart by the new daemon")
    return None


def t_daemon_killed_during_backoff():
    create("backoff", ["sh", "-c", "echo run-backoff; exit 1"], {"restart": "on-failure", "restart_max": 8})
    wait_for(lambda: prop("backoff", "RestartCount") >= 3, timeout=30, what="three restarts")
    wait_for(lambda: "RestartScheduledTimestamp" in inspect("backoff"), timeout=10, what="a scheduled try")
    n = prop("backoff", "RestartCount")
    pid = sb.daemon_pid()
    sb.run(["kill", "-KILL", str(pid)])
    wait_for(lambda: sb.daemon_pid() != pid, timeout=30, what="the daemon to go")
    wait_for(lambda: prop("backoff", "RestartCount") > n, timeout=40, what="the next try by the new daemon")
    sb.call(container_path("backoff"), C, "Stop", check=False)
    return None


def t_update_policy():
    create("later", ["sh", "-c", "echo run-later; sleep 0.5; exit 2"], {"start": False})
    e = gdbus_update("later", {"restart": "sometimes", "restart_max": 3})
    if e != INVALID:
        return "bad restart: %r" % e
    e = gdbus_update("later", {"restart_max": 0})
    if e != INVALID:
        return "restart_max 0: %r" % e
    if inspect("later")["Restart"] != "no":
        return "a bad Update changed it"
    sb.call(container_path("later"), C, "Update", "a{sv}", "2", "restart", "s", "on-failure", "restart_max", "u", "1")
    sb.call(container_path("later"), C, "Start")
    wait_for(lambda: "gave up" in inspect("later").get("Error", ""), timeout=30, what="the policy to give up")
    return None if prop("later", "RestartCount") == 1 else repr(inspect("later"))


def t_bad_create():
    for opts in ({"restart": "sometimes"}, {"restart_max": 0}, {"restart": "always", "restart_max": 1001}):
        o = {"command": SLEEPER}
        o.update(opts)
        e = gdbus_create("bad", o)
        if e != INVALID:
            return "%r: %r" % (opts, e)
    return None if "bad" not in sb.list_containers() else "a container was left behind"


def t_ephemeral_removed_after_giving_up():
    create("eph", ["sh", "-c", "echo run-eph; exit 1"], {"restart": "on-failure", "restart_max": 1, "ephemeral": True})
    wait_for(lambda: "eph" not in sb.list_containers(), timeout=30, what="the ephemeral container to go")
    n = starts("eph")
    return None if n == 2 else "%d runs, expected 2 (one restart)" % n


def t_restart_right_after_start():
    # systemd-machined lets the machine of the last run go some time after its scope ended, and
    # stops the unit of that name as it does: a scope of the same name started before that was
    # stopped with it (1 Restart in 25 failed with StartFailed "start failed"). The daemon now
    # waits for machined's word before it makes the new scope.
    create("quick", SLEEPER)
    path = container_path("quick")
    for i in range(30):
        sb.call(path, C, "Stop", check=False)
        r = sb.call(path, C, "Start", check=False)
        if hasattr(r, "ok") and not r.ok:
            return "Start %d: %s" % (i, r.stderr.strip())
        r = sb.call(path, C, "Restart", check=False)
        if hasattr(r, "ok") and not r.ok:
            return "Restart %d right after Start: %s" % (i, r.stderr.strip())
    time.sleep(1)
    return None if prop("quick", "State") == "running" else "state %s" % prop("quick", "State")


def t_policy_persisted():
    text = sb.run(["cat", "/var/lib/containers-manager/containers/crash/config.json"]).stdout
    return None if '"Restart"' in text and '"on-failure"' in text and '"RestartMax"' in text else text


tap.check("on-failure: restarted with back-off, gives up after restart_max within a minute", t_on_failure_gives_up)
tap.check("always: a clean exit is restarted too", t_always_restarts_clean_exit)
tap.check("on-failure: a clean exit is left alone", t_on_failure_leaves_clean_exit)
tap.check("no policy (the default): never restarted; defaults shown by Inspect", t_no_policy_never_restarts)
tap.check("a Stop is not undone by restart=always", t_stop_not_undone)
tap.check("a Stop between two tries ends the tries", t_stop_between_tries)
tap.check("Start through the bus resets RestartCount and the policy starts over", t_start_resets_count)
tap.check("a daemon SIGKILLed while the payload runs: the next one restarts it", t_daemon_killed_keeps_policy)
tap.check("a daemon SIGKILLed during the back-off: the next one makes the next try", t_daemon_killed_during_backoff)
tap.check("Update: bad values change nothing; the policy applies from the next start", t_update_policy)
tap.check("Create: bad restart values are InvalidArgs and create nothing", t_bad_create)
tap.check("the policy is in config.json", t_policy_persisted)
tap.check("ephemeral: restarted by its policy, removed once the policy gives up", t_ephemeral_removed_after_giving_up)
tap.check("Stop, Start, Restart 30 times in a row: every start succeeds (machined's late stop of the old scope)",
          t_restart_right_after_start)

sb.stop()
sys.exit(tap.done())
