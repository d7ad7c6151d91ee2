#!/usr/bin/python3
"""A daemon that never wedges (issue 8): each race forced, not hoped for.

- polkit: callers that are denied, that vanish before polkit answers, and that lose a race
  (the name is taken while polkit thinks; a rules file makes polkitd take its time) leave no
  query behind: the daemon still exits on idle;
- a Top that takes long (test hook: its worker sleeps) does not hold up List;
- systemd's signals about other units are not activity: the daemon exits on idle while
  transient units come and go;
- a call that reaches the daemon after it released its name (test hook: it waits between
  releasing and exiting) is refused with ShuttingDown and changes nothing; reads are answered;
- errors that explain: a command missing from the image, a scope systemd refuses (its own
  words), no "leader PID 0", one PATH in exis-python's environment."""

import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, LOOP, TEST_USER,  # noqa: E402
                     busctl_create_args, container_path, gdbus_error, wait_for)

IDLE = 3
TOP_DELAY = 4
DRAIN_DELAY = 3
tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=IDLE, stop_timeout=5)
C = CONTAINER_IFACE
U = TEST_USER
E = "org.containers.Error."
SVC = "containers-manager.service"


def set_env(**env):
    """Restart the daemon with extra environment (a drop-in), or none."""
    d = "/etc/systemd/system/%s.d" % SVC
    if env:
        sb.write_file(d + "/hooks.conf", "[Service]\n" + "".join(
            "Environment=%s=%s\n" % kv for kv in env.items()))
    else:
        sb.run(["rm", "-f", d + "/hooks.conf"])
    sb.run(["systemctl", "daemon-reload"])
    sb.run(["systemctl", "stop", SVC])


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def create(image, name, env=None, **opts):
    return sb.mcall(*(["Create"] + busctl_create_args(image, name, env or {}, opts)), check=False)


def gdbus_create(name, command, user=None, dest=BUS, timeout=60):
    return sb.run(["gdbus", "call", "--system", "--dest", dest, "--timeout", str(timeout),
                   "--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                   "busybox", name, "{}", "{'command': <%r>, 'start': <false>}" % (command,)],
                  user=user, check=False, timeout=timeout + 10)


def daemon_running():
    return sb.unit_active(SVC) in ("active", "activating", "deactivating")


def wait_idle_exit(timeout):
    t0 = time.monotonic()
    wait_for(lambda: not daemon_running(), timeout, interval=0.2, what="the daemon to exit on idle")
    return time.monotonic() - t0


# ---- polkit: denied, vanished, lost the race -------------------------------------------------

SLOW_RULES = """polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.manage" && subject.user == "%s") {
        var t = Date.now();
        while (Date.now() - t < 700) {}
        return polkit.Result.YES;
    }
});
""" % U


def t_polkit_races():
    sb.mcall("List")    # activate
    procs = []
    # 20 denied: the user may not manage containers (no rules yet)
    for i in range(20):
        procs.append(sb.popen(["gdbus", "call", "--system", "--dest", BUS, "--object-path",
                               MANAGER_PATH, "--method", MANAGER_IFACE + ".Create", "busybox",
                               "denied%d" % i, "{}", "{'command': <['true']>, 'start': <false>}"],
                              user=U, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    # 20 that vanish before the answer comes
    for i in range(20):
        p = sb.popen(["gdbus", "call", "--system", "--dest", BUS, "--object-path",
                      MANAGER_PATH, "--method", MANAGER_IFACE + ".Create", "busybox",
                      "gone%d" % i, "{}", "{'command': <['true']>, 'start': <false>}"],
                     user=U, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
    time.sleep(0.05)
    sb.run(["pkill", "-KILL", "-f", "gdbus call.*gone"], check=False)
    for p in procs:
        p.wait(timeout=60)
    # 10 that lose the race: polkitd thinks for 0.7 s, root takes the name meanwhile, the
    # re-dispatched call ends in ContainerExists before it would ask polkit again
    sb.write_file("/etc/polkit-1/rules.d/40-cm-slow.rules", SLOW_RULES)
    time.sleep(1.5)     # polkitd reloads rules on inotify
    results = {}

    def user_call(i):
        results[i] = gdbus_create("race%d" % i, ["true"], user=U)
    threads = [threading.Thread(target=user_call, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for i in range(10):
        r = create("busybox", "race%d" % i, start=False, command=["true"])
        if not isinstance(r, list):
            tap.diag("root's Create race%d: %s" % (i, r.stderr.strip()))
    for t in threads:
        t.join(60)
    sb.run(["rm", "-f", "/etc/polkit-1/rules.d/40-cm-slow.rules"])
    lost = sum(1 for r in results.values() if gdbus_error(r) == E + "ContainerExists")
    tap.diag("%d of 10 racing callers lost the race (ContainerExists)" % lost)
    if lost == 0:
        return "no caller lost the race: %s" % {i: r.stderr for i, r in results.items()}
    took = wait_idle_exit(IDLE + 20)
    tap.diag("idle exit %.1f s after the last caller" % took)
    for i in range(10):
        sb.mcall("Remove", "s", "race%d" % i, check=False)
    return True


tap.check("50 callers denied, vanished or beaten to the name leave no polkit query: "
          "the daemon exits on idle", t_polkit_races)


# ---- Top off the loop --------------------------------------------------------------------------

def t_top_not_on_loop():
    set_env(CONTAINERS_MANAGER_TEST_TOP_DELAY_SEC=TOP_DELAY)
    r = create("busybox", "topper", command=["sh", "-c", LOOP])
    if not isinstance(r, list):
        return "Create: %s" % r.stderr
    done = {}

    def top():
        t0 = time.monotonic()
        done["out"] = sb.call(container_path("topper"), C, "Top", check=False)
        done["t"] = time.monotonic() - t0
    th = threading.Thread(target=top)
    th.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    sb.mcall("List")
    list_t = time.monotonic() - t0
    # The helper that collects Top (exec'd, not a fork of the daemon) holds its result pipe and
    # stdin, stdout and stderr: nothing else of the daemon's (the bus, other workers' pipes).
    fds = sb.run(["sh", "-c", "for p in /proc/[0-9]*; do [ \"$(readlink $p/exe)\" = /usr/libexec/containers-manager-top ] "
                  "|| continue; for f in $p/fd/*; do echo ${f##*/} $(readlink $f); done; done"],
                 check=False).stdout.split("\n")
    th.join(60)
    set_env()
    sb.mcall("Remove", "s", "topper")
    tap.diag("List took %.2f s while a Top took %.2f s" % (list_t, done.get("t", -1)))
    fds = [f for f in fds if f]
    if sorted(int(f.split()[0]) for f in fds) != [0, 1, 2, 3] or "pipe:" not in fds[3]:
        return "descriptors of the Top helper: %r" % fds
    if not isinstance(done.get("out"), list):
        return "Top failed: %s" % done.get("out")
    if done["t"] < TOP_DELAY:
        return "the hook did not delay Top (%.2f s)" % done["t"]
    return list_t < TOP_DELAY / 2 or "List waited for Top: %.2f s" % list_t


tap.check("a slow Top (its worker held %d s) does not hold up List" % TOP_DELAY, t_top_not_on_loop)


# ---- idle on a busy host -----------------------------------------------------------------------

def t_idle_busy_host():
    sb.mcall("List")
    stop = threading.Event()

    def noise():
        i = 0
        while not stop.is_set():
            sb.run(["systemd-run", "-q", "--unit=noise-%d" % i, "true"], check=False)
            i += 1
            time.sleep(0.3)
    th = threading.Thread(target=noise)
    th.start()
    try:
        took = wait_idle_exit(IDLE + 15)
    except TimeoutError as e:
        return str(e)
    finally:
        stop.set()
        th.join(30)
    tap.diag("exited %.1f s after the last call, with a unit started every 0.3 s" % took)
    return True


tap.check("JobRemoved/UnitRemoved of other units are not activity: idle exit on a busy host",
          t_idle_busy_host)


# ---- a call in the drain window ----------------------------------------------------------------

def t_drain():
    set_env(CONTAINERS_MANAGER_TEST_DRAIN_DELAY_SEC=DRAIN_DELAY)
    sb.mcall("List")
    pid = sb.daemon_pid()

    def exiting():
        return "exiting" in sb.run(["journalctl", "--no-pager", "-o", "cat", "_PID=%d" % pid],
                                   check=False).stdout
    try:
        # the daemon decided to exit and holds still (test hook) before it releases its name:
        # a Create sent now is queued for it, and read only after the release
        wait_for(exiting, IDLE + 15, interval=0.05, what="the daemon to begin its idle exit")
        # busctl with the signature given sends the call itself (gdbus would introspect first)
        r = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "Create",
                      *busctl_create_args("busybox", "late", {}, {"command": ["sh", "-c", LOOP]}),
                      check=False, timeout=30)
    finally:
        set_env()
    if r.ok or "exiting after being idle" not in r.stderr:
        tap.diag(sb.run(["journalctl", "--no-pager", "-o", "short-precise", "-u", SVC, "-n", "30"],
                        check=False).stdout)
        return "Create in the drain window: rc=%d %s %s" % (r.returncode, r.stdout, r.stderr)
    tap.diag("refused: %s" % r.stderr.strip())
    # a fresh instance: nothing was created, no scope was started
    if sb.unit_active("container-late.scope") == "active":
        return "a scope runs for the refused Create"
    return "late" not in sb.list_containers() or "'late' was created after all"


tap.check("a Create that reaches the daemon as it exits on idle gets ShuttingDown and changes "
          "nothing", t_drain)


# ---- one container, one outcome: Stop/Remove during a start, Remove during a Restart --------

START_DELAY = 2


def leftovers(name):
    """What a removed container must not leave: its scope, a zombie, a start worker."""
    out = []
    if sb.unit_active("container-%s.scope" % name) in ("active", "activating", "deactivating"):
        out.append("scope")
    ps = sb.run(["ps", "-eo", "stat=,args="], check=False).stdout
    out += ["zombie: " + l for l in ps.splitlines() if l.strip().startswith("Z")]
    out += ["worker: " + l for l in ps.splitlines() if "containers-manager start %s" % name in l]
    return out


def t_remove_during_start():
    set_env(CONTAINERS_MANAGER_TEST_START_DELAY_SEC=START_DELAY)
    try:
        create_p = sb.popen(["busctl", "--system", "--timeout=60", "--", "call", BUS, MANAGER_PATH,
                             MANAGER_IFACE, "Create"] +
                            busctl_create_args("busybox", "early", {}, {"command": ["sh", "-c", LOOP]}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: "early" in sb.list_containers() and prop("early", "State") == "starting", 20,
                 interval=0.05, what="early to be starting")
        t0 = time.monotonic()
        r = sb.mcall("Remove", "s", "early", check=False)
        took = time.monotonic() - t0
        out, err = create_p.communicate(timeout=60)
    finally:
        set_env()
    if not isinstance(r, list):
        return "Remove during the start: %s" % r.stderr
    tap.diag("Remove during the start replied after %.1f s; Create said: %s" % (took, (out or err).strip()))
    if "early" in sb.list_containers():
        return "the container is still there"
    left = leftovers("early")
    if left:
        return "left behind: %s" % left
    return True


tap.check("Remove during a start waits for it, stops it and removes it: no scope, no worker, "
          "no zombie", t_remove_during_start)


def t_stop_during_start():
    set_env(CONTAINERS_MANAGER_TEST_START_DELAY_SEC=START_DELAY)
    try:
        r = create("busybox", "early2", start=False, command=["sh", "-c", LOOP])
        start_p = sb.popen(["busctl", "--system", "--timeout=60", "call", BUS, container_path("early2"), C,
                            "Start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: prop("early2", "State") == "starting", 20, interval=0.05,
                 what="early2 to be starting")
        stop = sb.call(container_path("early2"), C, "Stop", check=False)
        start_p.communicate(timeout=60)
    finally:
        set_env()
    if not isinstance(stop, list):
        return "Stop during the start: %s" % stop.stderr
    state = prop("early2", "State")
    scope = sb.unit_active("container-early2.scope")
    sb.mcall("Remove", "s", "early2", check=False)
    return (state == "stopped" and scope not in ("active", "activating")) or \
        "after Stop: State %s, scope %s" % (state, scope)


tap.check("Stop during a start is not refused: it waits for the start, then stops", t_stop_during_start)


STUBBORN = "trap '' TERM; while :; do sleep 1; done"


def t_remove_during_restart():
    r = create("busybox", "stubborn", command=["sh", "-c", STUBBORN])
    if not isinstance(r, list):
        return "Create: %s" % r.stderr
    # SIGTERM is ignored: the restart's stop lasts the stop timeout (5 s), long enough to race
    restart_p = sb.popen(["busctl", "--system", "--timeout=60", "call", BUS, container_path("stubborn"), C,
                          "Restart"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: prop("stubborn", "State") == "stopping", 10, interval=0.05, what="stopping")
    rm = sb.mcall("Remove", "s", "stubborn", check=False)
    out, err = restart_p.communicate(timeout=60)
    if not isinstance(rm, list):
        return "Remove during the restart: %s" % rm.stderr
    tap.diag("Restart said: %s" % (err or out).strip())
    if "stubborn" in sb.list_containers():
        return "the container is still there"
    left = leftovers("stubborn")
    return not left or "left behind: %s" % left


tap.check("Remove during a Restart wins: the restart is not completed, nothing is left",
          t_remove_during_restart)


def t_start_timeout():
    set_env(CONTAINERS_MANAGER_TEST_IGNORE_SCOPE_JOBS=1, CONTAINERS_MANAGER_START_TIMEOUT_SEC=3)
    try:
        t0 = time.monotonic()
        r = sb.run(["gdbus", "call", "--system", "--dest", BUS, "--timeout", "60", "--object-path",
                    MANAGER_PATH, "--method", MANAGER_IFACE + ".Create", "busybox", "deaf", "{}",
                    "{'command': <['sleep', '1000']>}"], check=False, timeout=70)
        took = time.monotonic() - t0
        time.sleep(1)
        left = leftovers("deaf")
    finally:
        set_env()
    if r.ok or gdbus_error(r) != E + "StartFailed" or "timed out" not in r.stderr:
        return "Create that never hears of its scope: rc=%d %s" % (r.returncode, r.stderr)
    tap.diag("StartFailed after %.1f s: %s" % (took, r.stderr.strip()))
    if "deaf" in sb.list_containers():
        return "the failed Create left the container"
    return not left or "left behind: %s" % left


tap.check("a start that never hears that its scope's job finished fails with StartFailed after "
          "the start timeout, leaving nothing", t_start_timeout)


# ---- errors that explain -----------------------------------------------------------------------

def err_of(res):
    return res.stderr.strip() if not isinstance(res, list) else None


def t_no_such_program():
    r = sb.run(["gdbus", "call", "--system", "--dest", BUS, "--object-path", MANAGER_PATH,
                "--method", MANAGER_IFACE + ".Create", "busybox", "noprog", "{}",
                "{'command': <['no-such-program', 'x']>}"], check=False)
    if r.ok or gdbus_error(r) != E + "StartFailed" or "no-such-program" not in r.stderr:
        return "Create with a missing command: rc=%d %s" % (r.returncode, r.stderr)
    tap.diag(r.stderr.strip())
    if "noprog" in sb.list_containers():
        return "the failed Create left a container"
    r2 = sb.run(["gdbus", "call", "--system", "--dest", BUS, "--object-path", MANAGER_PATH,
                 "--method", MANAGER_IFACE + ".Create", "busybox", "noprog2", "{}",
                 "{'command': <['/app/missing.sh']>}"], check=False)
    if gdbus_error(r2) != E + "StartFailed" or "/app/missing.sh" not in r2.stderr:
        return "absolute path: %s" % r2.stderr
    return True


tap.check("a command the image does not have: StartFailed naming it, nothing left", t_no_such_program)


def t_systemd_words():
    # a unit of that name already exists: systemd refuses the scope and says why
    create("busybox", "taken", start=False, command=["sh", "-c", LOOP])
    sb.run(["systemd-run", "-q", "--unit=container-taken", "--scope", "--no-block", "sleep", "100"],
           check=False)
    p = sb.popen(["systemd-run", "-q", "--unit=container-taken", "--scope", "sleep", "100"])
    wait_for(lambda: sb.unit_active("container-taken.scope") == "active", 10, what="squatter scope")
    r = sb.call(container_path("taken"), C, "Start", check=False)
    # the squatter is somebody else's unit: a failed start must not stop or kill it
    squatter = sb.unit_active("container-taken.scope")
    p.kill()
    sb.run(["systemctl", "stop", "container-taken.scope"], check=False)
    sb.mcall("Remove", "s", "taken", check=False)
    if isinstance(r, list):
        return "Start succeeded beside a squatter scope"
    tap.diag(r.stderr.strip())
    if squatter != "active":
        return "the other unit of that name was stopped: %s" % squatter
    return "already" in r.stderr or "systemd's words are lost: %s" % r.stderr


tap.check("a scope systemd refuses: StartFailed with systemd's own words", t_systemd_words)


def t_no_leader_zero():
    create("busybox", "brief", command=["true"])
    wait_for(lambda: prop("brief", "State") in ("stopped", "failed"), 20, what="brief to end")
    j = sb.run(["journalctl", "--no-pager", "-o", "cat", "CONTAINER=brief"]).stdout
    sb.mcall("Remove", "s", "brief")
    return "PID 0" not in j or j


tap.check("the lifecycle entries never say 'leader PID 0'", t_no_leader_zero)


def t_exis_env():
    # the property has the names only; Inspect gives root the values
    env = sb.call(MANAGER_PATH + "/image/exis_2dpython", "org.containers.Image",
                  "Inspect")[0].get("Environment", {}).get("data") or []
    keys = [e.split("=", 1)[0] for e in env]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        return "duplicate keys %s in %s" % (dups, env)
    path = [e for e in env if e.startswith("PATH=")][0]
    return path.startswith("PATH=/opt/exis-python/bin") or path


tap.check("exis-python's environment has one PATH (its own, python first)", t_exis_env)


# ---- adoption at start-up: no synchronous call to systemd ---------------------------------------

N_ADOPT = 50


def t_adopt_many():
    names = ["many%d" % i for i in range(N_ADOPT)]
    try:
        for n in names:
            r = create("busybox", n, command=["sleep", "100000"])
            if not isinstance(r, list):
                return "Create %s: %s" % (n, r.stderr)
        leaders = {n: prop(n, "Leader") for n in names}
        sb.run(["systemctl", "stop", SVC])
        # While the daemon is away two of them end: adoption must see that too.
        for n in names[:2]:
            sb.run(["systemctl", "stop", "container-%s.scope" % n])
        since = sb.run(["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
        t0 = time.monotonic()
        got = sb.list_containers()  # activates the daemon, which answers once all are adopted
        took = time.monotonic() - t0
        tap.diag("List activating a daemon with %d running containers to adopt: %.2f s" % (N_ADOPT, took))
        bad = ["%s %s" % (n, got.get(n, {}).get("state")) for n in names[2:]
               if got.get(n, {}).get("state") != "running"]
        bad += ["%s %s (its scope was stopped)" % (n, got.get(n, {}).get("state")) for n in names[:2]
                if got.get(n, {}).get("state") not in ("stopped", "failed")]
        if bad:
            return "states after adoption: %s" % bad
        moved = [n for n in names[2:] if prop(n, "Leader") != leaders[n]]
        if moved:
            return "leaders changed over the restart: %s" % moved
        adopted = sb.run(["journalctl", "--no-pager", "-o", "cat", "-u", SVC, "--since", since]).stdout.count(
            "Adopted running container many")
        if adopted != N_ADOPT - 2:
            return "%d adoptions logged, not %d" % (adopted, N_ADOPT - 2)
        # Generous for a loaded 2-core machine; a daemon that waited for systemd a hundred times
        # in a row on a busy systemd would not make it.
        return took < 10 or "List took %.1f s" % took
    finally:
        for n in names:
            sb.mcall("Remove", "s", n, check=False, timeout=60)


tap.check("a daemon started with %d running containers (two of them ended meanwhile) adopts them "
          "asynchronously and answers its first List with their states" % N_ADOPT, t_adopt_many)

sb.stop()
sys.exit(tap.done())
