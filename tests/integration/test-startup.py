#!/usr/bin/python3
"""Startup commands (Create and Update option startup_commands, aas): run in order inside the
container at each start, before its command, under the same confinement, user, environment and
working directory, their output in the container's logs; a failing one (exit status, signal, no
such program) fails the start with StartFailed naming it and its status, leaves the container
failed with nothing running (no scope) and its command never run; the command never holds the
helper or its report pipe; Update changes them for the next start."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE,  # noqa: E402
                     container_path, gdbus_error, gv_str, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)
C = CONTAINER_IFACE
START_FAILED = "org.containers.Error.StartFailed"
LOOP = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"
# What confines a process, as it sees itself: the same for a startup command and the command.
CONF = ("echo \"$1 uid=$(id -u) gid=$(id -g) cwd=$(pwd) FOO=$FOO " +
        "$(grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' ' | tr '\\n' ';')" +
        " cg=$(tr '\\n' ';' < /proc/self/cgroup) ns=$(stat -L -c %i /proc/self/ns/user /proc/self/ns/mnt " +
        "/proc/self/ns/pid /proc/self/ns/net | tr '\\n' ' ')\"")


def gv_aas(cmds):
    if not cmds:
        return "@aas []"
    return "@aas [" + ", ".join("[" + ", ".join(gv_str(w) for w in c) + "]" for c in cmds) + "]"


def gvopts(opts):
    parts = []
    for k, v in opts.items():
        if k == "startup_commands":
            val = gv_aas(v)
        elif isinstance(v, bool):
            val = "true" if v else "false"
        else:
            val = "@as [" + ", ".join(gv_str(x) for x in v) + "]"
        parts.append("%s: <%s>" % (gv_str(k), val))
    return "{" + ", ".join(parts) + "}" if parts else "@a{sv} {}"


def create(name, command, startup, env=None, start=True, privileged=False):
    o = {"command": command, "start": start}
    if privileged:
        o["privileged"] = True
    if startup is not None:
        o["startup_commands"] = startup
    envtext = "@a{ss} {" + ", ".join("%s: %s" % (gv_str(a), gv_str(b)) for a, b in (env or {}).items()) + "}"
    r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                 "'busybox'", gv_str(name), envtext, gvopts(o), check=False, timeout=90)
    return r.ok, gdbus_error(r), r.stdout + r.stderr


def update(name, startup):
    r = sb.gdbus("--object-path", container_path(name), "--method", C + ".Update",
                 gvopts({"startup_commands": startup}), check=False)
    return r.ok, r.stdout + r.stderr


def method(name, m):
    r = sb.gdbus("--object-path", container_path(name), "--method", C + "." + m, check=False, timeout=90)
    return r.ok, gdbus_error(r), r.stdout + r.stderr


def logs(name):
    return sb.call(container_path(name), C, "Logs", "a{sv}", "0")[0]


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def wait_state(name, states, timeout=30):
    return wait_for(lambda: prop(name, "State") in states, timeout, what="%s to be %s" % (name, "/".join(states)))


def upper(name, path):
    return "/var/lib/containers-manager/containers/%s/upper/%s" % (name, path)


def scope_gone(name):
    return sb.unit_active("container-%s.scope" % name) in ("inactive", "failed", "unknown")


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


ORDER = [["sh", "-c", "echo first >> /startup.log"],
         ["sh", "-c", "echo second >> /startup.log; echo startup-out; echo startup-err >&2"],
         ["sh", "-c", CONF, "conf", "S:"]]
MAIN = ["sh", "-c", "echo main-begin; cat /startup.log; " + CONF.replace("$1", "M:") + "; echo main-end; " + LOOP]


def t_order():
    ok, err, out = create("st", MAIN, ORDER, env={"FOO": "bar"})
    if not ok:
        return "Create: %s" % out
    if prop("st", "State") != "running":
        return "state %s after Create" % prop("st", "State")

    def seen():
        s = lines(logs("st")["stdout"])
        return "main-end" in s and s
    out = wait_for(seen, 15, what="main-end in the logs")
    want = ["startup-out", "main-begin", "first", "second"]
    got = [l for l in out if l in want]
    if got != want:
        return "stdout lines %r, expected in the order %r (all: %r)" % (got, want, out)
    if "startup-err" not in logs("st")["stderr"]:
        return "startup-err not in the stderr logs: %r" % logs("st")["stderr"]
    return True


tap.check("startup commands run in order before the command, their output in Logs (stdout and stderr)", t_order)


def t_confinement():
    out = lines(logs("st")["stdout"])
    s = [l for l in out if l.startswith("S: ")]
    m = [l for l in out if l.startswith("M: ")]
    if len(s) != 1 or len(m) != 1:
        return "confinement lines: %r" % out
    if s[0][3:] != m[0][3:]:
        return "a startup command runs otherwise than the command:\n  %s\n  %s" % (s[0], m[0])
    if "uid=0 gid=0" not in s[0] or "FOO=bar" not in s[0] or "NoNewPrivs: 1" not in s[0]:
        return "startup command: %s" % s[0]
    shift = prop("st", "UidShift")
    owner = sb.run(["stat", "-c", "%u:%g", upper("st", "startup.log")]).stdout.strip()
    if owner != "%d:%d" % (shift, shift):
        return "the file the startup commands wrote is owned by %s on the host, UidShift %d" % (owner, shift)
    tap.diag(s[0])
    return True


tap.check("they run as the command does: root of the user namespace (host owner UidShift), same environment, "
          "capabilities, no_new_privs, seccomp, cgroup and namespaces", t_confinement)


def payload_fds(name):
    pids = sb.run(["cat", "/sys/fs/cgroup/unified/containers.slice/container-%s.scope/lxc.payload.%s/cgroup.procs"
                   % (name, name)], check=False).stdout.split()
    fds = {}
    for p in pids:
        r = sb.run(["sh", "-c", "for f in /proc/%s/fd/*; do echo \"$f $(readlink $f)\"; done" % p], check=False)
        fds[p] = r.stdout.splitlines()
    return fds


def t_no_leak():
    if "first" not in sb.run(["cat", upper("st", "startup.log")], check=False).stdout:
        return "the startup commands did not run"
    fds = payload_fds("st")
    if len(fds) < 2:
        return "payload processes: %r" % fds
    for p, l in fds.items():
        for f in l:
            if "pipe:" in f or "startup" in f or "containers-manager" in f:
                return "payload process %s holds %s (all: %r)" % (p, f, fds)
    inside = sb.call(container_path("st"), C, "Exec", "asa{sv}", "3", "sh", "-c", "ls -l /proc/1/fd/", "0",
                     timeout=30)
    text = bytes(inside[1]).decode(errors="replace")
    if inside[0] != 0 or "pipe:" in text or "startup" in text:
        return "ls -l /proc/1/fd inside: %r" % inside
    return True


tap.check("the container's processes hold neither the helper nor its report pipe", t_no_leak)


def t_every_start():
    ok, err, out = method("st", "Stop")
    if not ok:
        return "Stop: %s" % out
    ok, err, out = method("st", "Start")
    if not ok:
        return "Start: %s" % out
    text = sb.run(["cat", upper("st", "startup.log")]).stdout.split()
    if text != ["first", "second", "first", "second"]:
        return "startup.log after a Stop and a Start: %r" % text
    n = wait_for(lambda: lines(logs("st")["stdout"]).count("main-end") == 2 and logs("st")["stdout"], 15,
                 what="the second main-end")
    if lines(n).count("startup-out") != 2:
        return "logs: %r" % n
    return True


tap.check("they run again at every start", t_every_start)


def t_fail_exit():
    cmds = [["true"], ["sh", "-c", "exit 3"], ["sh", "-c", "echo third > /third"]]
    ok, err, out = create("bad", ["sh", "-c", "echo MAIN-RAN > /main; echo MAIN-RAN; " + LOOP], cmds, start=False)
    if not ok:
        return "Create: %s" % out
    ok, err, out = method("bad", "Start")
    if ok or err != START_FAILED:
        return "Start: %s %s" % (err, out)
    if "Startup command 2 'sh -c exit 3' failed with exit status 3" not in out:
        return "message: %s" % out
    if prop("bad", "State") != "failed":
        return "state %s" % prop("bad", "State")
    wait_for(lambda: scope_gone("bad"), 10, what="container-bad.scope to go")
    ran = sb.run(["sh", "-c", "ls %s %s" % (upper("bad", "main"), upper("bad", "third"))], check=False)
    if ran.ok or "MAIN-RAN" in logs("bad")["stdout"]:
        return "ran after the failed startup command: %s" % ran
    tap.diag(out.strip())
    return True


tap.check("a failing startup command fails Start with StartFailed naming it and its exit status; state failed, "
          "no scope, the rest and the command never run", t_fail_exit)


def t_fail_create():
    # A Create whose start fails changes nothing: the container is taken back.
    ok, err, out = create("miss", ["sh", "-c", "echo MAIN-RAN; " + LOOP], [["nosuchprogram", "x"]])
    if ok or err != START_FAILED or "Startup command 1 'nosuchprogram x'" not in out or "No program" not in out:
        return "missing program: %s %s" % (err, out)
    if "miss" in sb.list_containers() or not scope_gone("miss"):
        return "missing program: %r, scope %s" % (sb.list_containers(), sb.unit_active("container-miss.scope"))
    tap.diag(out.strip())
    ok, err, out = create("sig", ["sh", "-c", "echo MAIN-RAN; " + LOOP], [["sh", "-c", "kill -9 $$"]])
    if ok or err != START_FAILED or "Startup command 1 'sh -c kill -9 $$' was killed by signal 9" not in out:
        return "signal: %s %s" % (err, out)
    wait_for(lambda: scope_gone("sig"), 10, what="container-sig.scope to go")
    if "sig" in sb.list_containers() or "MAIN-RAN" in sb.journal("container-sig.scope"):
        return "signal: %r, journal %r" % (sb.list_containers(), sb.journal("container-sig.scope"))
    tap.diag(out.strip())
    return True


tap.check("a missing program or a signal fails Create with StartFailed naming the command; the command never ran",
          t_fail_create)


def t_update():
    ok, out = update("st", [["sh", "-c", "echo updated >> /updated.log"], ["sh", "-c", "exit 7"]])
    if not ok:
        return "Update: %s" % out
    if prop("st", "State") != "running":
        return "Update restarted the container: %s" % prop("st", "State")
    method("st", "Stop")
    ok, err, out = method("st", "Start")
    if ok or err != START_FAILED or "Startup command 2 'sh -c exit 7' failed with exit status 7" not in out:
        return "Start after Update: %s %s" % (err, out)
    if prop("st", "State") != "failed" or not wait_for(lambda: scope_gone("st"), 10, what="the scope to go"):
        return "after the failed Start: %s" % prop("st", "State")
    if sb.run(["cat", upper("st", "updated.log")]).stdout.split() != ["updated"]:
        return "updated.log: %r" % sb.run(["cat", upper("st", "updated.log")]).stdout
    ok, out = update("st", [])
    if not ok:
        return "Update to none: %s" % out
    ok, err, out = method("st", "Start")
    if not ok:
        return "Start without startup commands: %s" % out
    if sb.run(["cat", upper("st", "startup.log")]).stdout.split() != ["first", "second"] * 2:
        return "the old startup commands ran"
    return True


tap.check("Update changes them for the next start (a failing one makes Start fail; none: as without)", t_update)

def t_stop_while_starting():
    ok, err, out = create("slow", ["sh", "-c", "echo slow-main; " + LOOP],
                          [["sleep", "3"], ["sh", "-c", "echo slow-startup-done"]], start=False)
    if not ok:
        return "Create: %s" % out
    start = sb.popen(["gdbus", "call", "--system", "--dest", sandbox.BUS, "--object-path", container_path("slow"),
                      "--method", C + ".Start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(lambda: prop("slow", "State") == "starting", 10, what="slow to be starting")
    ok, err, out = method("slow", "Stop")
    sout = start.communicate(timeout=60)[0]
    if not ok:
        return "Stop while the startup commands ran: %s" % out
    if start.returncode != 0:
        return "Start: %s" % sout
    if prop("slow", "State") != "stopped" or not scope_gone("slow"):
        return "after the Stop: %s, scope %s" % (prop("slow", "State"), sb.unit_active("container-slow.scope"))
    if "slow-startup-done" not in logs("slow")["stdout"]:
        return "the startup commands were cut short: %r" % logs("slow")
    return True


tap.check("a Stop while the startup commands run waits for the start, then stops the container", t_stop_while_starting)

def t_privileged_and_no_shell():
    # Programs that are not a shell, and a container without a user namespace.
    ok, err, out = create("priv", ["sh", "-c", "ls -d /a/b/c && echo priv-main; " + LOOP],
                          [["mkdir", "-p", "/a/b"], ["mkdir", "/a/b/c"]], start=True, privileged=True)
    if not ok:
        return "Create of a privileged container: %s" % out
    wait_for(lambda: "priv-main" in logs("priv")["stdout"], 15, what="priv-main in the logs")
    owner = sb.run(["stat", "-c", "%u", upper("priv", "a/b/c")]).stdout.strip()
    if owner != "0":
        return "/a/b/c of a privileged container is owned by %s on the host" % owner
    return True


tap.check("a privileged container runs them too; startup commands need no shell", t_privileged_and_no_shell)


def set_start_timeout(sec):
    """Restart the daemon with CONTAINERS_MANAGER_START_TIMEOUT_SEC (a drop-in), or without."""
    d = "/etc/systemd/system/containers-manager.service.d"
    if sec:
        sb.write_file(d + "/start-timeout.conf", "[Service]\nEnvironment=CONTAINERS_MANAGER_START_TIMEOUT_SEC=%d\n" % sec)
    else:
        sb.run(["rm", "-f", d + "/start-timeout.conf"])
    sb.run(["systemctl", "daemon-reload"])
    sb.run(["systemctl", "stop", "containers-manager.service"])


def t_hanging():
    set_start_timeout(4)
    try:
        ok, err, out = create("hang", ["sh", "-c", "echo MAIN-RAN; " + LOOP], [["sleep", "1000"]], start=False)
        if not ok:
            return "Create: %s" % out
        ok, err, out = method("hang", "Start")
    finally:
        set_start_timeout(0)
    if ok or err != START_FAILED or "timed out" not in out or "startup commands included" not in out:
        return "Start with a startup command that never ends: %s %s" % (err, out)
    wait_for(lambda: scope_gone("hang"), 10, what="container-hang.scope to go")
    if prop("hang", "State") != "failed" or "MAIN-RAN" in logs("hang")["stdout"]:
        return "after the timeout: %s, logs %r" % (prop("hang", "State"), logs("hang"))
    tap.diag(out.strip())
    return True


tap.check("a startup command that never ends fails the start after the start timeout, leaving nothing", t_hanging)

sb.stop()
sys.exit(tap.done())
