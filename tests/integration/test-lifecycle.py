#!/usr/bin/python3
"""Containers outlive the daemon: a restart of containers-manager.service and an idle exit
leave running containers running and listed as running; parallel Creates while List()
keeps answering; exit statuses."""

import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, LOOP,  # noqa: E402
                     busctl_create_args, container_path, wait_for)

IDLE = 3
tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=IDLE, stop_timeout=5)
C = CONTAINER_IFACE
SVC = "containers-manager.service"


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def alive(pid):
    return sb.run(["test", "-d", "/proc/%d" % pid], check=False).ok


def in_scope(name, pid):
    cg = sb.run(["cat", "/proc/%d/cgroup" % pid], check=False).stdout
    return "/containers.slice/container-%s.scope/" % name in cg


life = {}


def t_create():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "life", {"GREETING": "alive"},
                                                {"command": ["sh", "-c", LOOP]})))
    life["leader"] = prop("life", "Leader")
    life["started"] = prop("life", "StartedTimestamp")
    return alive(life["leader"]) and in_scope("life", life["leader"])


tap.check("life is running in its scope", t_create)


def still_running_and_listed():
    lst = sb.list_containers()
    if lst.get("life", {}).get("state") != "running":
        return "List: %s" % lst
    if prop("life", "Leader") != life["leader"]:
        return "Leader changed %s -> %s" % (life["leader"], prop("life", "Leader"))
    if prop("life", "StartedTimestamp") != life["started"]:
        return "StartedTimestamp changed"
    if sb.unit_active("container-life.scope") != "active":
        return "scope not active"
    return alive(life["leader"]) or "leader died"


def t_restart_daemon():
    old = sb.daemon_pid()
    assert old > 0, "daemon not running"
    sb.run(["systemctl", "restart", SVC])
    new = sb.daemon_pid()
    assert new > 0 and new != old, (old, new)
    if not alive(life["leader"]):
        return "the container died with the daemon restart"
    return still_running_and_listed()


tap.check("systemctl restart containers-manager: life still running, same leader, listed "
          "as running", t_restart_daemon)


def t_daemon_reload():
    # systemd sends UnitRemoved for every unit while it reloads: that must not end a container
    sb.run(["systemctl", "daemon-reload"])
    time.sleep(0.5)
    if not alive(life["leader"]):
        return "the container died"
    return still_running_and_listed()


tap.check("systemctl daemon-reload: life still running and listed as running", t_daemon_reload)


def t_crash_daemon():
    old = sb.daemon_pid()
    assert old > 0, "daemon not running"
    # a crash: no chance to save anything or to say goodbye to the bus
    sb.run(["systemctl", "kill", "-s", "SIGKILL", SVC])
    wait_for(lambda: not alive(old), 10, what="the daemon to die")
    if not alive(life["leader"]) or sb.unit_active("container-life.scope") != "active":
        return "the container died with the daemon"
    # the next call activates a fresh daemon, which adopts it
    return still_running_and_listed()


tap.check("SIGKILL of the daemon (a crash): life still running; the next call re-activates "
          "the service and it is listed as running with the same leader", t_crash_daemon)


def t_idle_exit():
    pid = sb.daemon_pid()
    assert pid > 0
    t = time.monotonic()
    wait_for(lambda: sb.unit_active(SVC) in ("inactive", "failed") and
             not alive(pid), IDLE + 30, 0.25, what="idle exit")
    tap.diag("daemon exited %.1fs after the last call (idle timeout %ds)" %
             (time.monotonic() - t, IDLE))
    res = sb.run(["systemctl", "show", "-P", "Result", SVC]).stdout.strip()
    assert res == "success", "service Result=%s" % res
    assert sb.unit_active("container-life.scope") == "active", "scope died with the daemon"
    assert alive(life["leader"]), "container died with the daemon"
    return True


tap.check("the daemon exits when idle (%ds) cleanly; the container keeps running" % IDLE,
          t_idle_exit)


def t_after_idle():
    r = still_running_and_listed()        # this call activates the daemon again
    if r is not True:
        return r
    return sb.daemon_pid() > 0 or "not re-activated"


tap.check("after the idle exit a call re-activates it and life is listed as running",
          t_after_idle)


def t_stop_adopted():
    sb.call(container_path("life"), C, "Stop")
    wait_for(lambda: prop("life", "State") == "stopped", 20, what="stopped")
    wait_for(lambda: sb.unit_active("container-life.scope") != "active", 10, what="scope end")
    return not alive(life["leader"]) or "leader still alive"


tap.check("Stop works on the re-adopted container and ends its scope", t_stop_adopted)


def t_exit_status():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "ex3", {},
                                                {"command": ["sh", "-c", "echo bye; exit 3"]})))
    wait_for(lambda: prop("ex3", "State") in ("stopped", "failed"), 20, what="ex3 ends")
    ex = prop("ex3", "ExitStatus")
    tap.diag("exit 3 -> State=%s ExitStatus=%s" % (prop("ex3", "State"), ex))
    return ex == 3 or "ExitStatus=%s" % ex


tap.check("a command that exits 3 ends with ExitStatus 3", t_exit_status)


def t_exit_while_daemon_gone():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "brief", {},
                                                {"command": ["sh", "-c", "sleep %d; exit 0"
                                                             % (IDLE + 3)]})))
    pid = sb.daemon_pid()
    wait_for(lambda: not alive(pid), IDLE + 30, 0.25, what="idle exit")
    wait_for(lambda: sb.unit_active("container-brief.scope") != "active", 30,
             what="brief's scope to end")
    # the daemon was not running when it ended: it must notice on re-activation
    st = sb.list_containers()["brief"]["state"]
    return st in ("stopped", "failed") or "brief listed as %s" % st


tap.check("a container that ends while the daemon is gone is not listed as running",
          t_exit_while_daemon_gone)

# ---- 10 in parallel while List() answers -----------------------------------------------------

N = 10


def t_parallel():
    stop = threading.Event()
    lat = []
    errors = []

    def lister():
        while not stop.is_set():
            t = time.monotonic()
            r = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "List", check=False)
            lat.append(time.monotonic() - t)
            if not r.ok:
                errors.append(r.stderr)
    sb.mcall("List")                       # make sure the daemon is up first
    th = threading.Thread(target=lister)
    th.start()
    t0 = time.monotonic()
    procs = []
    for i in range(N):
        argv = sb.nsenter_argv(["busctl", "--system", "--timeout=120", "--", "call", BUS,
                                MANAGER_PATH, MANAGER_IFACE, "Create"] +
                               busctl_create_args("busybox", "par%d" % i, {"GREETING": str(i)},
                                                  {"command": ["sh", "-c", LOOP]}))
        procs.append(subprocess.Popen(argv, env=sandbox.BASE_ENV, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = [p.communicate(timeout=180) for p in procs]
    total = time.monotonic() - t0
    time.sleep(0.3)
    stop.set()
    th.join()
    # busctl itself costs a few ms; this is the whole round trip through nsenter
    tap.diag("%d parallel Creates took %.2fs; List() calls: %d, max latency %.3fs, "
             "median %.3fs" % (N, total, len(lat), max(lat) if lat else -1,
                               sorted(lat)[len(lat) // 2] if lat else -1))
    bad = [(i, o) for i, (p, o) in enumerate(zip(procs, outs)) if p.returncode != 0]
    assert not bad, bad
    assert not errors, errors[:3]
    lst = sb.list_containers()
    states = {n: lst.get("par%d" % i, {}).get("state") for i, n in
              enumerate("par%d" % i for i in range(N))}
    assert all(s == "running" for s in states.values()), states
    leaders = [prop("par%d" % i, "Leader") for i in range(N)]
    assert len(set(leaders)) == N, leaders
    notin = [i for i in range(N) if not in_scope("par%d" % i, leaders[i])]
    return not notin or "not in their scopes: %s" % notin


tap.check("%d Creates in parallel all run, each in its scope, while List() answers" % N,
          t_parallel)


DEPENDENT = """[Unit]
Description=A unit that needs the container unitweb
Requires=container@unitweb.service
After=container@unitweb.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'busctl get-property org.containers.Manager /org/containers/Manager/container/unitweb org.containers.Container State > /run/cm-dependent.state'
"""


def t_container_unit():
    for n in ("unitweb", "unit-web"):
        sb.mcall(*(["Create"] + busctl_create_args("busybox", n, {}, {"start": False,
                                                                      "command": ["sh", "-c", LOOP]})))
    sb.write_file("/etc/systemd/system/cm-dependent.service", DEPENDENT)
    sb.run(["systemctl", "daemon-reload"])
    # starting the dependent starts the container first, and waits until it runs
    sb.run(["systemctl", "start", "cm-dependent.service"])
    seen = sb.run(["cat", "/run/cm-dependent.state"]).stdout.strip()
    if seen != 's "running"':
        return "the dependent unit saw State %s" % seen
    if sb.unit_active("container@unitweb.service") != "active":
        return "container@unitweb.service is not active"
    # starting it again while it runs is fine
    sb.run(["systemctl", "restart", "container@unitweb.service"])
    if prop("unitweb", "State") != "running":
        return "restart of the unit left %s" % prop("unitweb", "State")
    sb.run(["systemctl", "stop", "container@unitweb.service"])
    if prop("unitweb", "State") != "stopped":
        return "stopping the unit left the container %s" % prop("unitweb", "State")
    # names with '-' are escaped in unit names, as systemd-escape does
    unit = sb.run(["systemd-escape", "--template=container@.service", "unit-web"]).stdout.strip()
    sb.run(["systemctl", "start", unit])
    if prop("unit-web", "State") != "running":
        return "%s left unit-web %s" % (unit, prop("unit-web", "State"))
    sb.run(["systemctl", "stop", unit])
    if prop("unit-web", "State") != "stopped":
        return "stopping %s left unit-web %s" % (unit, prop("unit-web", "State"))
    # a unit for a container that does not exist fails
    if sb.run(["systemctl", "start", "container@nosuch.service"], check=False).ok:
        return "container@nosuch.service started"
    return True


tap.check("container@.service: a unit that Requires= it gets the container running first; "
          "stopping the unit stops the container; escaped names; unknown names fail",
          t_container_unit)


def t_remove_all():
    for n in list(sb.list_containers()):
        sb.mcall("Remove", "s", n)
    def active_scopes():
        return [u for u in sb.run(["systemctl", "list-units", "--no-legend", "--plain",
                                   "container-*.scope"], check=False).stdout.splitlines()
                if " active " in u]
    try:
        wait_for(lambda: not active_scopes(), 30, what="all scopes gone")
    except TimeoutError:
        return "still active: %s; List: %s; journal: %s" % (active_scopes(), sb.list_containers(), sb.run(["journalctl", "--no-pager", "-u", SVC, "-n", "40"], check=False).stdout)
    return sb.list_containers() == {}


tap.check("Remove of every container leaves no container and no scope", t_remove_all)

sb.stop()
sys.exit(tap.done())
