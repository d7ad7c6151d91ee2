#!/usr/bin/python3
"""Exec, ExecWithFds and OpenShell: commands run inside the container (its cgroup, user
namespace and confinement), as the user asked for (resolved in the container's /etc/passwd);
exit status as a shell reports it; stdin, environment, working directory, timeout, the output
cap; named errors for bad input; polkit org.containers.exec; a command dies with the caller
that leaves, with a Stop, and when its PTY's master is closed."""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, BUS, HELPER_DIR, LOOP, TEST_USER,  # noqa: E402
                     busctl_create_args, container_path, gdbus_error, wait_for)

tap = sandbox.Tap()
# A short idle timeout: a running Exec must keep the daemon from exiting.
sb = sandbox.setup(tap, idle_timeout=3, stop_timeout=5)
C = CONTAINER_IFACE
E = "org.containers.Error."
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
MiB = 1024 * 1024

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "execclient.py")) as f:
    sb.write_file(HELPER_DIR + "/execclient.py", f.read(), mode=0o755)
CLIENT = ["/usr/bin/python3", HELPER_DIR + "/execclient.py"]


def exec_args(command, **opts):
    """busctl arguments for Exec after the member name."""
    a = ["asa{sv}", str(len(command))] + list(command) + [str(len(opts))]
    for k, v in opts.items():
        if k == "environment":
            a += [k, "a{ss}", str(len(v))]
            for ek, ev in v.items():
                a += [ek, ev]
        elif k == "stdin":
            a += [k, "ay", str(len(v))] + [str(b) for b in v]
        elif k == "timeout":
            a += [k, "t", str(v)]
        elif isinstance(v, tuple):      # (type, value...) as busctl wants them
            a += [k] + [str(x) for x in v]
        else:
            a += [k, "s", v]
    return a


def run_exec(name, command, caller=None, check=True, call_timeout=120, **opts):
    """(exit status, stdout bytes, stderr bytes), or the failed Result when check=False."""
    r = sb.call(container_path(name), C, "Exec", *exec_args(command, **opts), user=caller,
                check=check, timeout=call_timeout)
    if isinstance(r, sandbox.Result):
        return r
    return r[0], bytes(r[1]), bytes(r[2])


def gdbus_exec(name, command, opts="@a{sv} {}", user=None):
    args = "[" + ", ".join(sandbox.gv_str(c) for c in command) + "]" if command else "@as []"
    return sb.gdbus("--object-path", container_path(name), "--method", C + ".Exec", args, opts,
                    user=user, check=False)


def state(name):
    return sb.get_property(container_path(name), C, "State")


def pids_of(pattern):
    """Processes whose command line starts with pattern (not the clients that carry it)."""
    out = sb.run(["pgrep", "-f", "^" + pattern], check=False).stdout
    return [int(p) for p in out.split()]


def proc_status(pid):
    return sb.run(["cat", "/proc/%d/status" % pid], check=False).stdout


def workers():
    out = sb.run(["pgrep", "-x", "cm-exec"], check=False).stdout
    return [int(p) for p in out.split()]


def client(*args, user=None):
    return sb.run(CLIENT + list(args), user=user, check=False, timeout=90)


# ---- containers -------------------------------------------------------------------------------

def t_setup():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "e1", {"GREETING": "hi"},
                                                {"command": ["sh", "-c", LOOP]})))
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "e2", {},
                                                {"start": False, "command": ["sh", "-c", LOOP]})))
    return state("e1") == "running" and state("e2") == "created"


if not tap.check("setup: e1 running, e2 created", t_setup):
    tap.bail("cannot continue without containers")
    sb.stop()
    sys.exit(1)
SHIFT = sb.get_property(container_path("e1"), C, "UidShift")


def t_add_user():
    """A user of the container's own (never in the host's /etc/passwd), made through Exec."""
    st, out, err = run_exec("e1", ["sh", "-c",
                                   "echo 'alice:x:1001:1002:Alice:/home/alice:/bin/sh' >> /etc/passwd; "
                                   "echo 'staff2:x:1002:' >> /etc/group; echo 'extra:x:1003:alice' >> /etc/group; "
                                   "mkdir -p /home/alice && chown 1001:1002 /home/alice"])
    return st == 0 or repr((st, out, err))


if not tap.check("Exec works at all (adds a user inside e1)", t_add_user):
    tap.bail("Exec does not work")
    sb.stop()
    sys.exit(1)


# ---- Exec --------------------------------------------------------------------------------------

def t_status_streams():
    st, out, err = run_exec("e1", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    return (st, out, err) == (3, b"out\n", b"err\n") or repr((st, out, err))


tap.check("Exec: exit status 3, stdout and stderr apart", t_status_streams)


def t_127():
    st, out, err = run_exec("e1", ["no-such-program"])
    return (st == 127 and b"no-such-program" in err) or repr((st, out, err))


tap.check("Exec: 127 for a program that is not there", t_127)


def t_126():
    st, out, err = run_exec("e1", ["/etc/passwd"])
    return st == 126 or repr((st, out, err))


tap.check("Exec: 126 for a file that is not executable", t_126)


def t_signal():
    st, _, _ = run_exec("e1", ["sh", "-c", "kill -TERM $$"])
    st9, _, _ = run_exec("e1", ["sh", "-c", "kill -KILL $$"])
    return (st, st9) == (143, 137) or repr((st, st9))


tap.check("Exec: killed by signal N is 128+N (143, 137)", t_signal)


def t_env_cwd():
    st, out, _ = run_exec("e1", ["sh", "-c", "echo $FOO; echo $GREETING; echo $CONTAINER_NAME; pwd"],
                          environment={"FOO": "bar baz", "GREETING": "over"},
                          working_directory="/tmp")
    return (st, out) == (0, b"bar baz\nover\ne1\n/tmp\n") or repr((st, out))


tap.check("Exec: environment (over the container's) and working_directory", t_env_cwd)


def t_container_env():
    st, out, _ = run_exec("e1", ["sh", "-c", "echo $GREETING; echo $HOME; echo $PATH"])
    lines = out.decode().splitlines()
    return (st == 0 and lines[0] == "hi" and lines[1] == "/root" and "/bin" in lines[2]) or repr(out)


tap.check("Exec: the container's environment, HOME and PATH by default", t_container_env)


def t_user_name():
    st, out, _ = run_exec("e1", ["sh", "-c", "id -u; id -g; id -G; echo $HOME $USER"], user="alice")
    return (st, out) == (0, b"1001\n1002\n1002 1003\n/home/alice alice\n") or repr((st, out))


tap.check("Exec: user by name, from the container's /etc/passwd and /etc/group", t_user_name)


def t_user_number():
    st, out, _ = run_exec("e1", ["id", "-u"], user="1234")
    st2, out2, _ = run_exec("e1", ["id", "-u"], user="1001")
    return (st, out, st2, out2) == (0, b"1234\n", 0, b"1001\n") or repr((st, out, st2, out2))


tap.check("Exec: user by number (with and without an entry)", t_user_number)


def t_no_such_user():
    r = gdbus_exec("e1", ["true"], "{'user': <'nosuchuser'>}")
    # root exists on the host, daemon must not use the host's passwd for e.g. 'messagebus'
    r2 = gdbus_exec("e1", ["true"], "{'user': <'messagebus'>}")
    r3 = gdbus_exec("e1", ["true"], "{'user': <'70000'>}")
    names = [gdbus_error(x) for x in (r, r2, r3)]
    return names == [E + "NoSuchUser"] * 3 or repr((names, r.stderr, r2.stderr, r3.stderr))


tap.check("Exec: NoSuchUser (unknown in the container, even if the host has it; out of range)",
          t_no_such_user)


def t_stdin():
    data = b"line one\nline two\x00\xff\n"
    st, out, _ = run_exec("e1", ["cat"], stdin=data)
    big = bytes(range(256)) * 400      # more than a pipe holds (busctl takes it as arguments)
    st2, out2, _ = run_exec("e1", ["wc", "-c"], stdin=big)
    return ((st, out) == (0, data) and st2 == 0 and out2.strip() == b"102400") or repr((st, out, out2))


tap.check("Exec: stdin (binary; 100 KiB, more than a pipe buffer)", t_stdin)


def t_timeout():
    t = time.monotonic()
    st, _, _ = run_exec("e1", ["sh", "-c", "sleep 30; echo never"], call_timeout=60, timeout=1000000)
    took = time.monotonic() - t
    left = pids_of("sleep 30")
    return (st == 137 and took < 10 and not left) or repr((st, took, left))


tap.check("Exec: timeout kills the command and its children (137)", t_timeout)


def t_too_large():
    r = gdbus_exec("e1", ["head", "-c", str(16 * MiB + 1), "/dev/zero"])
    r2 = gdbus_exec("e1", ["sh", "-c", "head -c %d /dev/zero >&2" % (16 * MiB + 1)])
    return ((gdbus_error(r), gdbus_error(r2)) == (E + "OutputTooLarge", E + "OutputTooLarge")
            or repr((r.stderr, r2.stderr)))


tap.check("Exec: more than 16 MiB on stdout or stderr is OutputTooLarge", t_too_large)


def t_both_streams_full():
    pid = sb.daemon_pid()
    r = gdbus_exec("e1", ["sh", "-c", "head -c %d /dev/zero; head -c %d /dev/zero >&2" % (16 * MiB, 16 * MiB)])
    # 32 MiB in one reply is over the bus's message limit: refused, and the service lives on
    return ((gdbus_error(r), sb.daemon_pid()) == (E + "OutputTooLarge", pid)
            or repr((r.stderr[-300:], pid, sb.daemon_pid())))


tap.check("Exec: 16 MiB on both streams (over the bus's message limit) is OutputTooLarge too",
          t_both_streams_full)


def t_below_cap():
    st, out, err = run_exec("e1", ["sh", "-c", "head -c %d /dev/zero; head -c %d /dev/zero >&2"
                                   % (2 * MiB, MiB)])
    return (st, len(out), len(err)) == (0, 2 * MiB, MiB) or repr((st, len(out), len(err)))


tap.check("Exec: 2 MiB of stdout and 1 MiB of stderr come back whole", t_below_cap)


def t_confinement():
    st, out, _ = run_exec("e1", ["cat", "/proc/self/status", "/proc/self/cgroup"])
    text = out.decode()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line and "\t" in line)
    nnp = fields.get("NoNewPrivs", "").strip()
    sec = fields.get("Seccomp", "").strip()
    capbnd = int(fields.get("CapBnd", "0").strip(), 16)
    CAP_SYS_ADMIN = 21
    return ((nnp, sec) == ("1", "2") and not capbnd & (1 << CAP_SYS_ADMIN)
            and ":/.lxc" in text) or text


tap.check("Exec: NoNewPrivs, seccomp filter, no CAP_SYS_ADMIN, the container's cgroup",
          t_confinement)


def t_host_view():
    """From the host: the process runs as uid_shift+N, in the container's payload cgroup; then
    the caller goes away mid-Exec and the command goes with it."""
    args = ["busctl", "--system", "--", "call", BUS, container_path("e1"), C, "Exec"] + \
        exec_args(["sh", "-c", "exec sleep 2345"], user="1001")
    p = sb.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pids = wait_for(lambda: pids_of("sleep 2345"), 20, what="the command to run")
        pid = pids[0]
        status = proc_status(pid)
        uid = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")][0]
        cg = sb.run(["cat", "/proc/%d/cgroup" % pid]).stdout
        if int(uid) != SHIFT + 1001:
            return "host uid %s, want %d" % (uid, SHIFT + 1001)
        if "container-e1.scope/lxc.payload.e1" not in cg:
            return "cgroup: " + cg
    finally:
        # busctl itself (killing nsenter would leave it running inside)
        sb.run(["pkill", "-KILL", "-f", "^busctl .*sleep 2345"], check=False)
        p.kill()
        p.wait()
    try:
        wait_for(lambda: not pids_of("sleep 2345"), 15, what="the command to end")
    except TimeoutError as e:
        return "the command outlived its caller: %s" % e
    return not workers() or "workers left: %s" % workers()


tap.check("Exec: seen from the host, uid_shift+N in the payload cgroup; killed when the "
          "caller leaves the bus", t_host_view)


def t_not_running():
    r = gdbus_exec("e2", ["true"])
    return ((gdbus_error(r) == E + "NotRunning" and "'e2' is not running (created)" in r.stderr)
            or r.stderr)


tap.check("Exec on a container that does not run: NotRunning", t_not_running)


def t_invalid():
    cases = [
        ("empty command", [], "@a{sv} {}"),
        ("empty program name", [""], "@a{sv} {}"),
        ("unknown option", ["true"], "{'bogus': <'x'>}"),
        ("timeout as string", ["true"], "{'timeout': <'10'>}"),
        ("user as number", ["true"], "{'user': <uint32 0>}"),
        ("relative working_directory", ["true"], "{'working_directory': <'tmp'>}"),
        ("bad environment name", ["true"], "{'environment': <{'A=B': 'c'}>}"),
        ("stdin as string", ["cat"], "{'stdin': <'x'>}"),
    ]
    bad = []
    for what, cmd, opts in cases:
        r = gdbus_exec("e1", cmd, opts)
        if gdbus_error(r) != INVALID:
            bad.append("%s: %s" % (what, r.stderr.strip() or r.stdout.strip()))
    r = gdbus_exec("e1", ["true"], "{'working_directory': <'/nonexistent'>}")
    if gdbus_error(r) != INVALID:
        bad.append("missing working_directory: " + r.stderr.strip())
    return not bad or "\n".join(bad)


tap.check("Exec: InvalidArgs (empty command, unknown option, bad types, bad directory)", t_invalid)


# ---- ExecWithFds -------------------------------------------------------------------------------

def events(res):
    """execclient lines -> [(kind, rest, time)]"""
    out = []
    for line in res.stdout.splitlines():
        words, _, at = line.rpartition(" @")
        kind, _, rest = words.partition(" ")
        out.append((kind, rest, float(at) if at else 0.0))
    return out


def t_fds_stream():
    r = client("fds", container_path("e1"), "--",
               "sh", "-c", "echo first; echo oops >&2; sleep 2; echo second; exit 5")
    ev = events(r)
    got = [(k, v) for k, v, _ in ev]
    want = [("out", "first"), ("err", "oops"), ("out", "second"), ("status", "5")]
    if sorted(got) != sorted(want):
        return "got %r\n%s" % (got, r.stderr)
    t_first = [t for k, v, t in ev if (k, v) == ("out", "first")][0]
    t_status = [t for k, v, t in ev if k == "status"][0]
    # "first" reached the caller's pipe while the call still ran
    return t_status - t_first > 1.5 or "first @%.2f, status @%.2f" % (t_first, t_status)


tap.check("ExecWithFds: output streams into the caller's pipes; the reply when it ends",
          t_fds_stream)


def t_fds_stdin_user():
    r = client("fds", container_path("e1"), "--stdin", "from the caller\n", "--",
               "sh", "-c", "cat; id -u")
    got = [(k, v) for k, v, _ in events(r)]
    return got == [("out", "from the caller"), ("out", "0"), ("status", "0")] or repr(got)


tap.check("ExecWithFds: stdin from the caller's descriptor", t_fds_stdin_user)


def t_fds_ctty():
    r = client("fds", container_path("e1"), "--stdin-ctty", "--",
               "sh", "-c", "[ -t 0 ] && echo stdin-is-a-tty; echo done")
    got = [(k, v) for k, v, _ in events(r)]
    return got == [("out", "stdin-is-a-tty"), ("out", "done"), ("status", "0")] or repr(got) + r.stderr


tap.check("ExecWithFds: stdin may be the caller's own controlling terminal", t_fds_ctty)


def t_fds_bad():
    r = client("fds", container_path("e1"), "--read-end", "--", "true")
    r2 = client("fds", container_path("e2"), "--", "true")
    ok = ("error " + INVALID) in r.stdout and ("error " + E + "NotRunning") in r2.stdout
    return ok or r.stdout + r2.stdout


tap.check("ExecWithFds: a read-only stdout is InvalidArgs; a stopped container NotRunning", t_fds_bad)


def t_fds_timeout():
    r = client("fds", container_path("e1"), "--timeout", "1000000", "--", "sleep", "30")
    got = [(k, v) for k, v, _ in events(r)]
    return got == [("status", "137")] or repr(got)


tap.check("ExecWithFds: timeout (137)", t_fds_timeout)


# ---- OpenShell ---------------------------------------------------------------------------------

def t_shell_root():
    r = client("shell", container_path("e1"), "", "--input", "echo hi; id -u; tty; exit\\n")
    got = [(k, v) for k, v, _ in events(r)]
    lines = [v for k, v in got if k == "tty"]
    ok = (got and got[0][0] == "pty" and got[0][1].startswith("/dev/pts/") and got[0][1].endswith(" tty")
          and "hi" in lines and "0" in lines and got[-1][0] == "eof")
    # the path is the container's own: tty(1) inside says the same
    ok = ok and got[0][1].split()[0] in lines
    return ok or repr(got) + r.stderr


tap.check("OpenShell: a working root shell on a PTY of the container's own", t_shell_root)


def t_shell_user():
    r = client("shell", container_path("e1"), "alice", "--input", "id -u; echo $HOME; echo $0; exit\\n")
    lines = [v for k, v, _ in events(r) if k == "tty"]
    return ("1001" in lines and "/home/alice" in lines and "-sh" in lines) or repr(lines)


tap.check("OpenShell: the user's login shell, as that user, in its home", t_shell_user)


def t_shell_command():
    r = client("shell", container_path("e1"), "1001", "--", "sh", "-c", "echo cmd-$(id -u)")
    lines = [v for k, v, _ in events(r) if k == "tty"]
    return "cmd-1001" in lines or repr(lines)


tap.check("OpenShell: a given command instead of the login shell", t_shell_command)


def t_shell_close():
    p = sb.popen(CLIENT + ["shell", container_path("e1"), "", "--close-after", "ready", "--",
                           "sh", "-c", "echo ready; exec sleep 3456"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: pids_of("sleep 3456"), 20, what="the shell's command")
        # the client closed the master but is still connected: the hangup alone ends it
        wait_for(lambda: not pids_of("sleep 3456"), 15, what="the command to end")
        return p.poll() is None or "the client is gone already"
    finally:
        p.kill()
        p.wait()


tap.check("OpenShell: closing the master ends the shell (SIGHUP)", t_shell_close)


def t_shell_errors():
    r = client("shell", container_path("e1"), "nosuchuser")
    r2 = client("shell", container_path("e2"), "")
    ok = ("error " + E + "NoSuchUser") in r.stdout and ("error " + E + "NotRunning") in r2.stdout
    return ok or r.stdout + r2.stdout


tap.check("OpenShell: NoSuchUser, NotRunning", t_shell_errors)


def t_shell_client_gone():
    p = sb.popen(CLIENT + ["shell", container_path("e1"), "", "--", "sh", "-c", "exec sleep 5678"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: pids_of("sleep 5678"), 20, what="the shell's command")
        # the client (inside the sandbox; killing nsenter would leave it running) goes away
        # without closing anything itself: its descriptors and bus connection go with it
        sb.run(["pkill", "-KILL", "-f", "^/usr/bin/python3 .*sleep 5678"], check=False)
        wait_for(lambda: not pids_of("sleep 5678"), 15, what="the command to end")
        return True
    finally:
        p.kill()
        p.wait()


tap.check("OpenShell: the shell dies with a client that is killed", t_shell_client_gone)


# ---- a hostile container -------------------------------------------------------------------

def t_hostile_passwd():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "e3", {}, {"command": ["sh", "-c", LOOP]})))
    run_exec("e3", ["sh", "-c", "rm /etc/passwd /etc/group; mkfifo /etc/passwd /etc/group"])
    t = time.monotonic()
    r = gdbus_exec("e3", ["id", "-u"], "{'user': <'root'>}")
    # (not id(1): it would read the FIFO itself)
    st, out, _ = run_exec("e3", ["sh", "-c", "grep ^Uid: /proc/self/status | cut -f2"], user="7")
    took = time.monotonic() - t
    return ((gdbus_error(r), st, out) == (E + "NoSuchUser", 0, b"7\n") and took < 10
            or repr((r.stderr, st, out, took)))


tap.check("Exec: a container's /etc/passwd that is a FIFO blocks nothing (names unknown, numbers work)",
          t_hostile_passwd)


def t_huge_timeout():
    st, _, _ = run_exec("e1", ["true"], timeout=2**64 - 1)
    return st == 0 or st


tap.check("Exec: the largest timeout is no timeout", t_huge_timeout)


# ---- lifetime ------------------------------------------------------------------------------

def t_idle():
    before = sb.daemon_pid()
    st, _, _ = run_exec("e1", ["sleep", "6"])
    after = sb.daemon_pid()
    return (st == 0 and before == after and before > 0) or repr((st, before, after))


tap.check("the daemon does not exit as idle while an Exec runs", t_idle)


def t_stop_ends_exec():
    args = ["busctl", "--system", "--", "call", BUS, container_path("e1"), C, "Exec"] + \
        exec_args(["sleep", "4567"])
    p = sb.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: pids_of("sleep 4567"), 20, what="the command to run")
    sb.call(container_path("e1"), C, "Stop", timeout=60)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        return "Exec did not return after the Stop"
    left = pids_of("sleep 4567") + workers()
    # killed by the stop: SIGTERM (systemd stopping the scope) or SIGKILL (the namespace's end)
    return (not left and out.split()[:2] in (["iayay", "143"], ["iayay", "137"])) or repr((out, err, left))


tap.check("Stop ends a running Exec (the caller gets 128+signal), nothing left", t_stop_ends_exec)

def t_remove_ends_exec():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "e4", {}, {"command": ["sh", "-c", LOOP]})))
    args = ["busctl", "--system", "--", "call", BUS, container_path("e4"), C, "Exec"] + \
        exec_args(["sleep", "6789"])
    p = sb.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: pids_of("sleep 6789"), 20, what="the command to run")
    sb.mcall("Remove", "s", "e4", timeout=60)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        return "Exec did not return after the Remove"
    left = pids_of("sleep 6789") + workers()
    return (not left and out.split()[:2] in (["iayay", "143"], ["iayay", "137"])) or repr((out, err, left))


tap.check("Remove ends a running Exec (the caller gets 128+signal), nothing left", t_remove_ends_exec)

# ---- polkit ------------------------------------------------------------------------------------

sb.call(container_path("e1"), C, "Start", timeout=60)


def t_denied():
    r = gdbus_exec("e1", ["true"], user=TEST_USER)
    r2 = client("fds", container_path("e1"), "--", "true", user=TEST_USER)
    r3 = client("shell", container_path("e1"), "", user=TEST_USER)
    bad = []
    if gdbus_error(r) not in DENIED:
        bad.append("Exec: " + r.stderr)
    if not any(("error " + d) in r2.stdout for d in DENIED):
        bad.append("ExecWithFds: " + r2.stdout)
    if not any(("error " + d) in r3.stdout for d in DENIED):
        bad.append("OpenShell: " + r3.stdout)
    # denied before anything else: even a stopped container says nothing more
    r4 = gdbus_exec("e2", ["true"], user=TEST_USER)
    if gdbus_error(r4) not in DENIED:
        bad.append("Exec on e2: " + r4.stderr)
    return not bad or "\n".join(bad)


tap.check("polkit: the unprivileged user may not Exec, ExecWithFds, OpenShell", t_denied)

RULES = """polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.exec" && subject.user == "%s") {
        return polkit.Result.YES;
    }
});
""" % TEST_USER


def t_granted():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-exec-test.rules", RULES)

    def allowed():
        r = gdbus_exec("e1", ["id", "-u"], user=TEST_USER)
        if r.ok:
            return r
        if gdbus_error(r) not in DENIED:
            raise RuntimeError(r.stderr)
        time.sleep(0.5)
        return None
    r = wait_for(allowed, 15, what="the rules file to take effect")
    r2 = client("fds", container_path("e1"), "--", "echo", "granted", user=TEST_USER)
    ok = r.stdout.startswith("(0, [byte 0x30, 0x0a]") and "out granted" in r2.stdout
    return ok or r.stdout + r2.stdout


tap.check("polkit: granted by a rule for org.containers.exec", t_granted)

sb.stop()
sys.exit(tap.done())
