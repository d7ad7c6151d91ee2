#!/usr/bin/python3
"""containerctl, the command line, against the service in a throwaway systemd: every verb, its
output (aligned tables, --json, --no-legend, colour and the pager only on a terminal), errors
as text + name with a non-zero exit status; exec -t through a real pseudo-terminal (resize,
Ctrl-C, the command's exit status); cp both ways; build with its log; and, between two
throwaway systemds joined by a veth pair with sshd on the second, -H and migrate."""

import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import gitserver  # noqa: E402
from sandbox import HELPER_DIR, TEST_USER, wait_for  # noqa: E402

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
E = "org.containers.Error."
LOOP = "trap 'exit 0' TERM; while :; do echo $GREETING; sleep 0.3 & wait $!; done"

# Runs a command on a pseudo-terminal of its own and plays a script against it:
#   ["send", TEXT] ["expect", REGEX, TIMEOUT] ["winsize", ROWS, COLS] ["sleep", S]
# prints JSON {"ok": bool, "failed_step": N, "out": TRANSCRIPT, "status": EXIT}.
PTYRUN = r'''
import fcntl, json, os, pty, re, select, struct, sys, termios, time
script = json.loads(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
def winsize(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
winsize(24, 80)
out = b""
def pump(t):
    global out
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            d = os.read(fd, 65536)
        except OSError:
            return False
        if not d:
            return False
        out += d
    return True
ok, failed, pos = True, None, 0
for i, step in enumerate(script):
    if step[0] == "send":
        os.write(fd, step[1].encode())
    elif step[0] == "winsize":
        winsize(step[1], step[2])
    elif step[0] == "sleep":
        end = time.monotonic() + step[1]
        while time.monotonic() < end and pump(0.05):
            pass
    elif step[0] == "expect":
        end = time.monotonic() + step[2]
        rx = re.compile(step[1].encode())
        while True:
            m = rx.search(out, pos)
            if m:
                pos = m.end()
                break
            if time.monotonic() > end or not pump(0.1):
                m = rx.search(out, pos)
                if m:
                    pos = m.end()
                    break
                ok, failed = False, i
                break
        if not ok:
            break
end = time.monotonic() + 15
while time.monotonic() < end and pump(0.1):
    pass
status = None
for _ in range(100):
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        status = os.waitstatus_to_exitcode(st)
        break
    time.sleep(0.1)
if status is None:
    os.kill(pid, 9)
print(json.dumps({"ok": ok, "failed_step": failed, "out": out.decode(errors="replace"), "status": status}))
'''
sb.write_file(HELPER_DIR + "/ptyrun.py", PTYRUN, mode=0o755)


def cc(*args, user=None, input=None, env=None, timeout=120, host=None):
    """containerctl inside the sandbox; the Result (returncode, stdout, stderr)."""
    return (host or sb).run(["containerctl"] + [str(a) for a in args], user=user, check=False,
                            input=input, env=env, timeout=timeout)


def on_pty(script, *argv, env=None, user=None, host=None):
    # the sandbox's defaults turn colour off: back to automatic (on a terminal: on)
    e = {"TERM": "xterm", "SYSTEMD_COLORS": ""}
    e.update(env or {})
    r = (host or sb).run(["/usr/bin/python3", HELPER_DIR + "/ptyrun.py", json.dumps(script)] + list(argv),
                         env=e, user=user, check=False, timeout=120)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"ok": False, "out": r.stdout + r.stderr, "status": None, "failed_step": None}


def listing(host=None):
    r = cc("list", "--json=short", host=host)
    if not r.ok:
        raise RuntimeError(repr(r))
    return {c["name"]: c for c in json.loads(r.stdout)}


def state(name, host=None):
    return listing(host).get(name, {}).get("state")


def expect_ok(r, what=""):
    return r.ok or "%s: %r" % (what, r)


# ---- the core: help, usage errors, version -------------------------------------------------

def t_help():
    r = cc("--help")
    verbs = ["list", "images", "build", "pull", "create", "run", "start", "stop", "restart", "rm", "rmi", "inspect",
             "logs", "top", "exec", "shell", "cp", "freeze", "thaw", "kill", "rename", "snapshot", "commit",
             "export", "import", "migrate", "update"]
    missing = [v for v in verbs if not re.search(r"^  %s " % v, r.stdout, re.M)]
    if not r.ok or missing:
        return "verbs missing from --help: %s (%r)" % (missing, r)
    r = cc("run", "--help")
    if not r.ok or "--publish" not in r.stdout or "IMAGE NAME" not in r.stdout:
        return "run --help: %r" % r
    r = cc("--version")
    return r.ok and r.stdout.startswith("containerctl ") or repr(r)


tap.check("--help lists every verb; VERB --help shows its options; --version", t_help)


def t_usage_errors():
    for args, why in ((["frobnicate"], "unknown verb"), (["start"], "too few arguments"),
                      (["rename", "a"], "too few"), (["list", "extra"], "too many"),
                      (["list", "--bogus"], "unknown option"), (["--json=yaml", "list"], "bad --json"),
                      (["run", "busybox", "x", "-p", "99999:1"], "bad port")):
        r = cc(*args)
        if r.returncode != 2 or not r.stderr.strip():
            return "%s (%s): want exit 2 and a message, got %r" % (args, why, r)
    return True


tap.check("usage errors exit 2 with a message", t_usage_errors)

# ---- list, run, images, inspect --------------------------------------------------------------


def t_list_empty():
    r = cc("list")
    if not r.ok or "0 containers listed." not in r.stdout:
        return repr(r)
    r = cc("list", "--json=short")
    return r.ok and json.loads(r.stdout) == [] or repr(r)


tap.check("list with no container: a summary line; --json: []", t_list_empty)


def t_run():
    r = cc("run", "busybox", "web", "-e", "GREETING=hi", "-p", "8080:80", "sh", "-c", LOOP)
    if not r.ok or r.stdout.strip() != "web":
        return "run: %r" % r
    c = listing().get("web")
    if not c or c["state"] != "running" or c["image"] != "busybox":
        return "list after run: %r" % c
    if not c["address"] or not re.match(r"10\.89\.\d+\.\d+$", c["address"][0]):
        return "no bridge address: %r" % c
    if not (isinstance(c["uptime"], int) and c["uptime"] > 0):
        return "uptime: %r" % c
    info = json.loads(cc("inspect", "web", "--json=short").stdout)
    if info.get("Ports") != [["tcp", 8080, 80]]:
        return "ports: %r" % info.get("Ports")
    if "GREETING=hi" not in info.get("Environment", []):
        return "environment: %r" % info.get("Environment")
    if info.get("Command") != ["sh", "-c", LOOP]:
        return "command: %r" % info.get("Command")
    return True


tap.check("run IMAGE NAME -e -p COMMAND...: created and started, options and command as given", t_run)

r = cc("run", "busybox", "quiet", "--network=none", "sleep", "100000")
tap.ok(r.ok, "run --network=none", repr(r))


def t_list_text():
    r = cc("list")
    lines = r.stdout.splitlines()
    if not r.ok or not lines or not re.match(r"NAME +IMAGE +STATE +ADDRESS +UPTIME$", lines[0]):
        return "header: %r" % r
    rows = [l for l in lines[1:] if l.strip() and "listed" not in l]
    cols = [lines[0].index(h) for h in ("IMAGE", "STATE", "ADDRESS", "UPTIME")]
    for row in rows:
        for c in cols:
            if row[c - 1] != " ":
                return "not aligned at %d: %r" % (c, row)
    if "\x1b[" in r.stdout:
        return "colour without a terminal"
    if not lines[-1] == "2 containers listed.":
        return "summary: %r" % lines[-1]
    r = cc("list", "--no-legend")
    if not r.ok or "NAME" in r.stdout or "listed" in r.stdout or len(r.stdout.splitlines()) != 2:
        return "--no-legend: %r" % r
    if not r.stdout.splitlines()[0].startswith("quiet "):
        return "not sorted by name: %r" % r.stdout
    r = cc("list", "--json=pretty")
    if not r.ok or not r.stdout.startswith("[\n") or len(json.loads(r.stdout)) != 2:
        return "--json=pretty: %r" % r
    r = cc("--no-legend")
    if not r.ok or len(r.stdout.splitlines()) != 2:
        return "no verb: not list: %r" % r
    cc("create", "busybox", "idle", "sleep", "1")
    r = cc("list", "--running", "--no-legend")
    names = [l.split()[0] for l in r.stdout.splitlines()]
    if names != ["quiet", "web"] or not re.search(r"^idle +busybox +created +- +-$", cc("list").stdout, re.M):
        return "--running, or a created one: %r" % r
    cc("rm", "idle")
    return True


tap.check("list: aligned columns, a header and a summary, --no-legend, --json=pretty, no colour "
          "off a terminal", t_list_text)


def t_tty_colour_and_pager():
    res = on_pty([["expect", "PAGED:.*web", 20]], "containerctl", "list",
                 env={"SYSTEMD_PAGER": "sed s/^/PAGED:/"})
    if not res["ok"] or "\x1b[0;32m" not in res["out"]:
        return "on a terminal, through the pager, running in green: %r" % res
    res = on_pty([["expect", "web", 20]], "containerctl", "--no-pager", "list",
                 env={"SYSTEMD_PAGER": "sed s/^/PAGED:/"})
    if not res["ok"] or "PAGED:" in res["out"]:
        return "--no-pager: %r" % res
    res = on_pty([["expect", "web", 20]], "containerctl", "list", env={"NO_COLOR": "1", "SYSTEMD_PAGER": "cat"})
    if not res["ok"] or "\x1b[0;32m" in res["out"]:
        return "NO_COLOR: %r" % res
    return True


tap.check("on a terminal: colour and the pager ($SYSTEMD_PAGER); --no-pager; NO_COLOR", t_tty_colour_and_pager)


def t_images():
    r = cc("images")
    if not r.ok or not re.search(r"^busybox +\(base\)", r.stdout, re.M):
        return repr(r)
    j = json.loads(cc("images", "--json=short").stdout)
    names = {i["name"] for i in j}
    return {"busybox", "host"} <= names or repr(j)


tap.check("images: the bases, text and JSON", t_images)


def t_inspect():
    r = cc("inspect", "web")
    if not r.ok or not re.search(r"^State: running$", r.stdout, re.M) or not re.search(r"^Name: web$", r.stdout, re.M):
        return repr(r)
    j = json.loads(cc("--json=short", "inspect", "web", "quiet").stdout)
    if [x["Name"] for x in j] != ["web", "quiet"]:
        return "two names: %r" % j
    j = json.loads(cc("inspect", "--image", "busybox", "--json=short").stdout)
    return j.get("Name") == "busybox" and j.get("IsBase") is True or repr(j)


tap.check("inspect: Key: value lines; --json (before or after the verb), several names, --image", t_inspect)

# ---- logs, top -----------------------------------------------------------------------------


def t_logs():
    wait_for(lambda: cc("logs", "web").stdout.count("hi\n") >= 3, 20, what="three lines")
    r = cc("logs", "web", "-n", "2")
    if not r.ok or r.stdout != "hi\nhi\n":
        return "-n 2: %r" % r
    r = cc("logs", "web", "--since=%d" % (time.time() + 3600))
    if not r.ok or r.stdout != "":
        return "--since the future: %r" % r
    r = sb.run(["sh", "-c", "containerctl exec web sh -c 'echo to-err >&2' >/dev/null; containerctl logs web 2>&1 >/dev/null"],
               check=False)
    return True if r.ok else repr(r)


tap.check("logs, logs -n N", t_logs)


def t_logs_follow():
    r = sb.run(["timeout", "2.5", "containerctl", "logs", "-f", "-n", "0", "web"], check=False)
    n = r.stdout.count("hi\n")
    if r.returncode != 124 or n < 3:
        return "followed %d lines in 2.5 s: %r" % (n, r)
    # it ends by itself when the container goes
    cc("run", "busybox", "brief", "--network=none", "sh", "-c", "echo one; sleep 100")
    p = sb.popen(["containerctl", "logs", "-f", "-n", "5", "brief"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1)
    cc("rm", "brief")
    out, err = p.communicate(timeout=20)
    return (p.returncode == 0 and out == "one\n") or "after rm: %r %r %r" % (p.returncode, out, err)


tap.check("logs -f follows live (FollowLogs)", t_logs_follow)


def t_top():
    r = cc("top", "web")
    if not r.ok or not re.search(r"PID +CPID +USER +CPU +RSS +THREADS +COMMAND", r.stdout) or "sh -c" not in r.stdout:
        return repr(r)
    j = json.loads(cc("top", "web", "--json=short").stdout)
    return isinstance(j.get("processes"), list) and j["tasks"] >= 1 or repr(j)


tap.check("top: usage and processes; --json", t_top)

# ---- exec, shell ---------------------------------------------------------------------------


def t_exec():
    r = cc("exec", "web", "sh", "-c", "echo out; echo err >&2; exit 7")
    if r.returncode != 7 or r.stdout != "out\n" or r.stderr != "err\n":
        return "status and streams: %r" % r
    r = cc("exec", "-i", "web", "tr", "a-z", "A-Z", input="hello\n")
    if not r.ok or r.stdout != "HELLO\n":
        return "-i: %r" % r
    r = cc("exec", "web", "cat", input="not passed\n")
    if not r.ok or r.stdout != "":
        return "stdin without -i: %r" % r
    r = cc("exec", "-u", "1000", "-w", "/tmp", "-e", "X=y", "web", "sh", "-c", "echo $(id -u) $PWD $X")
    if not r.ok or r.stdout != "1000 /tmp y\n":
        return "-u -w -e: %r" % r
    r = cc("exec", "web", "no-such-program")
    return r.returncode == 127 or "127 for no such program: %r" % r


tap.check("exec: exit status, stdout/stderr apart, -i, -u, -w, -e", t_exec)


def t_exec_tty():
    script = [
        ["expect", r"# ", 20],
        ["send", "stty size; tty\r"], ["expect", r"24 80\r\n/dev/pts/\d+", 10],
        ["winsize", 40, 100], ["sleep", 0.5],
        ["send", "stty size\r"], ["expect", r"40 100", 10],
        ["send", "sleep 60\r"], ["sleep", 1], ["send", "\x03"],
        ["send", "echo rc=$?\r"], ["expect", r"rc=130", 10],
        ["send", "exit 3\r"],
    ]
    res = on_pty(script, "containerctl", "exec", "-it", "web", "sh")
    if not res["ok"]:
        return "step %s: %r" % (res["failed_step"], res["out"][-800:])
    if res["status"] != 3:
        return "exit status %r, want 3: %r" % (res["status"], res["out"][-300:])
    if "cm-exit" in res["out"]:
        return "the status mark leaked: %r" % res["out"][-300:]
    return True


tap.check("exec -it through a real PTY: a terminal inside, resize (SIGWINCH), Ctrl-C reaches the "
          "command, the exit status comes back", t_exec_tty)


def t_exec_tty_status():
    res = on_pty([["sleep", 1]], "containerctl", "exec", "-t", "web", "sh", "-c", "echo x; exit 42")
    return res["status"] == 42 and "x" in res["out"] or repr(res)


tap.check("exec -t of a command: its status", t_exec_tty_status)


def t_shell():
    res = on_pty([["expect", r"# ", 20], ["send", "echo shell-$((6*7))\r"], ["expect", "shell-42", 10],
                  ["send", "exit\r"]], "containerctl", "shell", "web")
    return res["ok"] and res["status"] == 0 or repr(res)


tap.check("shell: a login shell on a terminal", t_shell)

# ---- cp ------------------------------------------------------------------------------------


def t_cp():
    sb.run("rm -rf /var/tmp/site /var/tmp/back && mkdir -p /var/tmp/site/sub /var/tmp/back && "
           "echo hello > /var/tmp/site/index.html && echo deep > /var/tmp/site/sub/x")
    r = cc("exec", "web", "mkdir", "-p", "/srv")
    r = cc("cp", "/var/tmp/site", "web:/srv")
    if not r.ok:
        return "cp in: %r" % r
    r = cc("exec", "web", "sh", "-c", "cat /srv/site/index.html /srv/site/sub/x; stat -c %u /srv/site/index.html")
    if r.stdout != "hello\ndeep\n0\n":
        return "inside: %r" % r
    r = cc("cp", "/var/tmp/site/index.html", "web:/srv/renamed.html")
    if not r.ok or cc("exec", "web", "cat", "/srv/renamed.html").stdout != "hello\n":
        return "cp of a file to a new name: %r" % r
    r = cc("cp", "web:/srv/site", "/var/tmp/back")
    if not r.ok or sb.run(["cat", "/var/tmp/back/site/sub/x"], check=False).stdout != "deep\n":
        return "cp out into a directory: %r" % r
    r = cc("cp", "web:/etc/passwd", "/var/tmp/back/pw")
    if not r.ok or not sb.run(["head", "-c", "5", "/var/tmp/back/pw"], check=False).stdout.startswith("root:"):
        return "cp out of a file to a new name: %r" % r
    # names that mean something to sed and tar's --transform are taken literally
    sb.run("mkdir -p '/var/tmp/a.b,c' && echo odd > '/var/tmp/a.b,c/f' && echo near > /var/tmp/a.b,cd")
    r = cc("cp", "/var/tmp/a.b,c", "web:/srv/x&y")
    if not r.ok or cc("exec", "web", "cat", "/srv/x&y/f").stdout != "odd\n":
        return "odd names in: %r" % r
    r = cc("cp", "web:/srv/x&y", "/var/tmp/back/p.q,r")
    if not r.ok or sb.run(["cat", "/var/tmp/back/p.q,r/f"], check=False).stdout != "odd\n":
        return "odd names out: %r" % r
    r = cc("cp", "web:/nonexistent", "/var/tmp/back")
    if r.returncode != 1 or E + "NoSuchFile" not in r.stderr:
        return "missing file: %r" % r
    # the error once: not tar's complaints about the empty stream after it
    if "tar:" in r.stderr or "tar failed" in r.stderr:
        return "tar's words after the error: %r" % r.stderr
    r = cc("cp", "/var/tmp/site", "/var/tmp/x")
    return r.returncode == 2 or "two host paths: %r" % r


tap.check("cp: a tree in, a file in under a new name, a tree and a file out, errors", t_cp)

# ---- lifecycle -----------------------------------------------------------------------------


def t_stop_start():
    r = cc("stop", "web")
    if not r.ok or state("web") != "stopped":
        return "stop: %r %r" % (r, state("web"))
    r = cc("start", "web")
    if not r.ok or state("web") != "running":
        return "start: %r" % r
    r = cc("restart", "web")
    if not r.ok or state("web") != "running":
        return "restart: %r" % r
    r = cc("start", "web")
    if r.returncode != 1 or E + "AlreadyRunning" not in r.stderr or "Failed to start container web" not in r.stderr:
        return "start of a running one: %r" % r
    return True


tap.check("stop, start, restart; AlreadyRunning as text and name, exit 1", t_stop_start)


def t_freeze_kill():
    r = cc("freeze", "web")
    if not r.ok or state("web") != "frozen":
        return "freeze: %r" % r
    r = cc("thaw", "web")
    if not r.ok or state("web") != "running":
        return "thaw: %r" % r
    r = cc("kill", "-s", "nonsense", "web")
    if r.returncode != 2:
        return "bad signal: %r" % r
    r = cc("kill", "--kill-whom=leader", "-s", "KILL", "quiet")
    if not r.ok:
        return "kill: %r" % r
    wait_for(lambda: state("quiet") in ("stopped", "failed"), 20, what="quiet to end")
    r = cc("kill", "quiet")
    return (r.returncode == 1 and E + "NotRunning" in r.stderr) or "kill of a stopped one: %r" % r


tap.check("freeze, thaw, kill -s (NotRunning when it does not run)", t_freeze_kill)


def t_rename_update():
    r = cc("rename", "quiet", "calm")
    if not r.ok or "calm" not in listing() or "quiet" in listing():
        return "rename: %r" % r
    r = cc("update", "calm", "--memory=100M", "--cpu-weight=50", "-e", "A=b", "sleep", "99")
    if not r.ok:
        return "update: %r" % r
    j = json.loads(cc("inspect", "calm", "--json=short").stdout)
    if j.get("MemoryMax") != 100 << 20 or j.get("CPUWeight") != 50 or j.get("Command") != ["sleep", "99"] \
            or j.get("Environment") != ["A=b"]:
        return "after update: %r" % j
    r = cc("update", "calm", "--cpu-weight=0")
    return (r.returncode == 1 and "org.freedesktop.DBus.Error.InvalidArgs" in r.stderr) or repr(r)


tap.check("rename; update of limits, environment and command; InvalidArgs", t_rename_update)


def t_snapshot_commit():
    cc("exec", "web", "sh", "-c", "echo one > /srv/state")
    r = cc("snapshot", "create", "web", "pre")
    if not r.ok:
        return "create: %r" % r
    cc("exec", "web", "sh", "-c", "echo two > /srv/state")
    r = cc("snapshot", "list", "web")
    if not r.ok or not re.search(r"^pre +\w", r.stdout, re.M):
        return "list: %r" % r
    r = cc("snapshot", "restore", "web", "pre")
    if r.returncode != 1 or E + "AlreadyRunning" not in r.stderr:
        return "restore while running: %r" % r
    cc("stop", "web")
    r = cc("snapshot", "restore", "web", "pre")
    cc("start", "web")
    if not r.ok or cc("exec", "web", "cat", "/srv/state").stdout != "one\n":
        return "restore: %r" % r
    r = cc("snapshot", "rm", "web", "pre")
    if not r.ok or json.loads(cc("snapshot", "list", "web", "--json=short").stdout) != []:
        return "rm: %r" % r
    r = cc("commit", "web", "webimg")
    if not r.ok or "webimg" not in cc("images").stdout:
        return "commit: %r" % r
    r = cc("snapshot", "frob", "web", "x")
    return r.returncode != 0 or repr(r)


tap.check("snapshot create/list/restore/rm; commit", t_snapshot_commit)


def t_export_import():
    cc("stop", "web")
    r = sb.run("containerctl export web --no-image > /var/tmp/web.tar", check=False)
    if not r.ok or int(sb.run(["stat", "-c", "%s", "/var/tmp/web.tar"]).stdout) < 1024:
        return "export to stdout: %r" % r
    if "Exporting web" not in r.stderr:
        return "no plain progress line: %r" % r.stderr
    # its image is the busybox base, on every installation: left out without being asked
    r = cc("export", "web", "/var/tmp/web-default.tar")
    if not r.ok:
        return "export of a container of a base without --no-image: %r" % r
    r = cc("import", "/var/tmp/web-default.tar", "web4")
    if not r.ok or state("web4") != "created":
        return "import of that archive: %r" % r
    cc("rm", "web4")
    r = cc("import", "/var/tmp/web.tar", "web2")
    if not r.ok or state("web2") != "created":
        return "import: %r" % r
    cc("start", "web2")
    if cc("exec", "web2", "cat", "/srv/state").stdout != "one\n":
        return "the files did not travel"
    r = cc("export", "--image", "webimg", "/var/tmp/img.tar")
    if not r.ok:
        return "export --image: %r" % r
    r = sb.run("containerctl import --image - webimg2 < /var/tmp/img.tar", check=False)
    if not r.ok or "webimg2" not in cc("images").stdout:
        return "import --image from stdin: %r" % r
    r = sb.run("containerctl import - web3 < /var/tmp/img.tar", check=False)
    if r.returncode != 1 or E + "InvalidArchive" not in r.stderr or "web3" in listing():
        return "an image archive as a container: %r" % r
    r = cc("export", "web2", "/var/tmp/x.tar")
    if r.returncode != 1 or E + "AlreadyRunning" not in r.stderr or \
            sb.run(["test", "-e", "/var/tmp/x.tar"], check=False).ok:
        return "export of a running container: %r" % r
    cc("start", "web")
    return True


tap.check("export (stdout, file, --image), import (file, stdin, --image); errors leave no file", t_export_import)


def t_progress_tty():
    res = on_pty([["sleep", 3]], "sh", "-c", "containerctl export --image webimg > /var/tmp/img2.tar")
    out = res["out"]
    if not (res["status"] == 0 and re.search(r"Exporting webimg(\x1b\[0m)? \[", out) and "\r" in out):
        return "export: %r" % res
    res = on_pty([["sleep", 3]], "containerctl", "import", "--image", "/var/tmp/img2.tar", "webimg3")
    if res["status"] != 0 or not re.search(r"Importing webimg3(\x1b\[0m)? \[#+\] 100%", res["out"]):
        return "import: %r" % res
    return cc("rmi", "webimg3").ok


tap.check("export and import on a terminal draw a progress bar (import: of the file's size)", t_progress_tty)

# ---- build ---------------------------------------------------------------------------------


def t_build():
    base = gitserver.start_git_server(sb)
    gitserver.make_repo(sb, "app", {"Run.yaml": "Base: busybox\nCommand: sh -c 'echo built-app; sleep 1000'\n"},
                        branches={"feature": {"Run.yaml": "Base: busybox\nCommand: sh -c 'echo on-feature; sleep 1000'\n"}})
    r = cc("build", base + "/app.git", "--name", "app", "--branch", "feature", timeout=300)
    if not r.ok or r.stdout.strip() != "app":
        return "build: %r" % r
    if "Image app ready" not in r.stderr or "Building app: 100%" not in r.stderr:
        return "no log or progress: %r" % r.stderr
    r = cc("run", "app", "appc")
    if not r.ok:
        return "run: %r" % r
    wait_for(lambda: "on-feature" in cc("logs", "appc").stdout, 20, what="its output")
    r = cc("build", base + "/app.git", timeout=300)    # the name from the URL: app, taken
    if r.returncode != 1 or E + "ImageExists" not in r.stderr:
        return "ImageExists: %r" % r
    gitserver.make_repo(sb, "bad", {"Run.yaml": "Base: busybox\nBogus: 1\n"})
    r = cc("build", base + "/bad.git", timeout=300)
    if r.returncode != 1 or E + "InvalidRunFile" not in r.stderr:
        return "InvalidRunFile: %r" % r
    res = on_pty([["sleep", 8]], "containerctl", "build", base + "/app.git", "--name", "app2")
    if res["status"] != 0 or not re.search(r"Building app2(\x1b\[0m)? \[#+-*\] +\d+%", res["out"]):
        return "on a terminal: %r" % res
    # Ctrl-C cancels: a throttled fetch of 1 MiB is still under way after a second
    gitserver.make_repo(sb, "slow", {"Run.yaml": "Base: busybox\nCommand: true\n",
                                     "blob.bin": gitserver.RandomBytes(1 << 20)})
    res = on_pty([["expect", "Fetching", 20], ["sleep", 1], ["send", "\x03"], ["expect", "Cancelling", 10]],
                 "containerctl", "build", gitserver.slow_url(base + "/slow.git"))
    if not res["ok"] or res["status"] != 1 or "Failed to build image slow" not in res["out"]:
        return "Ctrl-C: %r" % res
    return "slow" not in cc("images").stdout or "a cancelled build left an image"


tap.check("build URL --name --branch: log lines, progress, errors by name; a bar on a terminal; Ctrl-C "
          "cancels", t_build)


def t_pull():
    r = cc("pull", "user:secret@127.0.0.1:5000/x:latest", "pulled")
    if r.returncode != 1 or "org.freedesktop.DBus.Error.InvalidArgs" not in r.stderr:
        return "credentials in the reference: %r" % r
    r = cc("pull", "127.0.0.1:1/nothing:latest", "pulled", timeout=300)
    if r.returncode != 1 or not re.search(r"Failed to pull image pulled: .+ \(org\.containers\.Error\.\w+\)", r.stderr):
        return "an unreachable registry: %r" % r
    # skopeo's words once, not three times (a log line, the job's log end, the error)
    said = (r.stdout + r.stderr).count("skopeo failed")
    if said != 1:
        return "skopeo's message %d times: %r" % (said, r)
    return "pulled" not in cc("images").stdout or "an image was left"


tap.check("pull: the job's failure as text and name, nothing left", t_pull)

# ---- errors, authorization, rm -----------------------------------------------------------


def t_errors():
    r = cc("start", "nosuch")
    if r.returncode != 1 or E + "NoSuchContainer" not in r.stderr:
        return "NoSuchContainer: %r" % r
    r = cc("run", "nosuchimage", "x")
    if r.returncode != 1 or E + "NoSuchImage" not in r.stderr:
        return "NoSuchImage: %r" % r
    r = cc("run", "busybox", "web", "true")
    if r.returncode != 1 or E + "ContainerExists" not in r.stderr:
        return "ContainerExists: %r" % r
    r = cc("rmi", "app")
    if r.returncode != 1 or E + "ImageInUse" not in r.stderr:
        return "ImageInUse: %r" % r
    return True


tap.check("errors: the message, the error's name, exit 1", t_errors)


def t_auth():
    r = cc("--no-ask-password", "stop", "web", user=TEST_USER)
    if r.returncode != 1 or not re.search(r"org\.freedesktop\.DBus\.Error\.(AccessDenied|InteractiveAuthorizationRequired)", r.stderr):
        return "unprivileged without asking: %r" % r
    if state("web") != "running":
        return "it stopped all the same"
    r = cc("list", user=TEST_USER)
    if not r.ok or "web" not in r.stdout:
        return "list as a user: %r" % r
    # on a terminal of a login session, polkit asks (through pkttyagent) instead of refusing
    login = ["systemd-run", "-q", "--pty", "--uid=" + TEST_USER, "-p", "PAMName=login", "-E", "SYSTEMD_COLORS="]
    res = on_pty([["expect", "(?i)password: ", 30], ["send", "\x03"]], *login, "containerctl", "stop", "web")
    if not res["ok"] or "AUTHENTICATING FOR org.containers.manage" not in res["out"]:
        return "no interactive authorization on a terminal: %r" % res
    res = on_pty([["sleep", 3]], *login, "containerctl", "--no-ask-password", "stop", "web")
    if "password" in res["out"].lower() or res["status"] != 1 or \
            not re.search(r"\(org\.freedesktop\.DBus\.Error\.(AccessDenied|InteractiveAuthorizationRequired)\)", res["out"]):
        return "--no-ask-password on a terminal: %r" % res
    return state("web") == "running" or "it stopped"


tap.check("polkit: refused with its name without a terminal or with --no-ask-password; asked "
          "interactively on a terminal", t_auth)


def t_rm():
    r = cc("rm", "web2", "calm", "appc")
    if not r.ok or {"web2", "calm", "appc"} & set(listing()):
        return "rm: %r" % r
    r = cc("rmi", "webimg2", "app2")
    return r.ok and "webimg2" not in cc("images").stdout or repr(r)


tap.check("rm of several containers (running ones stopped first), rmi", t_rm)


def t_completion():
    def complete(*words):
        script = ('. /usr/share/bash-completion/completions/containerctl; COMP_WORDS=(%s); '
                  'COMP_CWORD=%d; _containerctl 2>/dev/null; echo "${COMPREPLY[*]}"'
                  % (" ".join("'%s'" % w for w in words), len(words) - 1))
        return sb.run(["bash", "-c", script]).stdout.split()
    got = complete("containerctl", "st")
    if sorted(got) != ["start", "stop"]:
        return "verbs: %r" % got
    got = complete("containerctl", "stop", "")
    if "web" not in got:
        return "container names: %r" % got
    got = complete("containerctl", "rmi", "busy")
    if got != ["busybox"]:
        return "image names: %r" % got
    got = complete("containerctl", "run", "--pub")
    if got != ["--publish="]:
        return "a verb's options: %r" % got
    got = complete("containerctl", "snapshot", "")
    if sorted(got) != ["create", "list", "restore", "rm"]:
        return "snapshot: %r" % got
    got = complete("containerctl", "create", "--nes")
    if got != ["--nesting"]:
        return "create --nesting: %r" % got
    if not sb.run("test -e /usr/share/man/man1/containerctl.1*", check=False).ok:
        return "no man page installed"
    return True


tap.check("bash completion: verbs, container and image names, options; the man page is installed", t_completion)


def t_nesting():
    r = cc("create", "--nesting", "busybox", "nest", "true")
    if not r.ok:
        return "create --nesting: %r" % r
    info = json.loads(cc("inspect", "nest", "--json=short").stdout)
    conf = info.get("Confinement")
    cc("rm", "nest")
    return (info.get("Nesting") is True and "seccomp:nesting" in conf) or "Inspect: %r %r" % (info.get("Nesting"), conf)


tap.check("create --nesting: Inspect says Nesting and the nesting profile", t_nesting)

# ---- two hosts: -H and migrate --------------------------------------------------------------

MASK_B = [u for u in sandbox.MASK if u not in ("ssh.service", "sshd.service")]
b = sandbox.Sandbox(stage=sb.stage, idle_timeout=0, stop_timeout=5, mask=MASK_B)
LINK = "cmcli%d" % os.getpid()
ADDR = {"a": "192.168.242.1", "b": "192.168.242.2"}
HOST_B = "root@" + ADDR["b"]


def t_two_hosts():
    b.start()
    subprocess.run(["ip", "link", "add", LINK + "a", "type", "veth", "peer", "name", LINK + "b"], check=True)
    for side, s in (("a", sb), ("b", b)):
        subprocess.run(["ip", "link", "set", LINK + side, "netns", str(s.pid1)], check=True)
        s.run(["ip", "addr", "add", ADDR[side] + "/24", "dev", LINK + side])
        s.run(["ip", "link", "set", LINK + side, "up"])
    # a key of a's root, authorized for b's root; b's host key known to a
    sb.run("rm -f /root/.ssh/cm_test_key*; mkdir -p -m 0700 /root/.ssh && "
           "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/cm_test_key && "
           "printf 'Host %s\\n  IdentityFile /root/.ssh/cm_test_key\\n  StrictHostKeyChecking accept-new\\n"
           "  UserKnownHostsFile /root/.ssh/cm_test_known_hosts\\n' %s > /root/.ssh/config" % (ADDR["b"], ADDR["b"]))
    key = sb.run(["cat", "/root/.ssh/cm_test_key.pub"]).stdout
    b.write_file("/root/.ssh/authorized_keys", key, mode=0o600)
    b.run(["systemctl", "start", "ssh.service"])
    r = sb.run(["ssh", "-o", "BatchMode=yes", HOST_B, "echo", "ssh-ok"], check=False, timeout=60)
    return r.stdout.strip() == "ssh-ok" or "ssh from a to b: %r" % r


two = tap.check("a second throwaway systemd with sshd, joined to the first by a veth pair", t_two_hosts)


def t_remote():
    r = cc("-H", HOST_B, "run", "busybox", "far", "--network=none", "sh", "-c", LOOP)
    if not r.ok:
        return "run over -H: %r" % r
    if "far" not in listing(host=b) or "far" in listing():
        return "not on b"
    r = cc("-H", HOST_B, "list", "--no-legend")
    if not r.ok or not r.stdout.startswith("far "):
        return "list over -H: %r" % r
    r = cc("--host=" + HOST_B, "inspect", "far", "--json=short")
    if not r.ok or json.loads(r.stdout)["State"] != "running":
        return "inspect over -H: %r" % r
    r = cc("-H", HOST_B, "stop", "nosuch")
    if r.returncode != 1 or E + "NoSuchContainer" not in r.stderr:
        return "an error over -H: %r" % r
    # verbs that pass descriptors run containerctl over there, through ssh
    r = cc("-H", HOST_B, "exec", "far", "sh", "-c", "echo \"it's $(hostname)\"; exit 5")
    if r.returncode != 5 or r.stdout != "it's far\n":
        return "exec over -H: %r" % r
    r = cc("-H", HOST_B, "exec", "-i", "far", "cat", input="through\n")
    if r.stdout != "through\n":
        return "exec -i over -H: %r" % r
    r = cc("-H", HOST_B, "logs", "-n", "1", "far")
    if r.stdout != "\n" and not r.ok:
        return "logs over -H: %r" % r
    res = on_pty([["expect", r"# ", 20], ["send", "echo remote-$((6*7))\r"], ["expect", "remote-42", 10],
                  ["send", "exit 4\r"]], "containerctl", "-H", HOST_B, "exec", "-it", "far", "sh")
    if not res["ok"] or res["status"] != 4:
        return "exec -it over -H: %r" % res
    r = cc("-H", HOST_B, "rm", "far")
    return r.ok or repr(r)


if two:
    tap.check("-H USER@HOST: run, list, inspect, errors and rm on the other host over SSH", t_remote)
else:
    tap.skip("-H", "no second host")


def t_migrate():
    r = cc("run", "busybox", "traveller", "--network=none", "-e", "GREETING=from-a", "sh", "-c", LOOP)
    if not r.ok:
        return "run: %r" % r
    cc("exec", "traveller", "sh", "-c", "echo made-on-a > /note")
    r = cc("migrate", "traveller", HOST_B, timeout=300)
    if not r.ok:
        return "migrate: %r" % r
    saw = r
    if "traveller" in listing():
        return "still here"
    if state("traveller", host=b) != "running":
        return "not running on b: %r" % listing(host=b)
    r = cc("exec", "traveller", "sh", "-c", "cat /note; echo $GREETING", host=b)
    if r.stdout != "made-on-a\nfrom-a\n":
        return "on b: %r" % r
    if "Sending traveller to %s: " % HOST_B not in saw.stderr:
        return "no progress lines: %r" % saw.stderr
    # a failure leaves the source as it was: the name is taken on b now
    cc("run", "busybox", "traveller", "--network=none", "-e", "GREETING=again", "sh", "-c", LOOP)
    r = cc("migrate", "traveller", HOST_B, timeout=300)
    if r.returncode != 1 or state("traveller") != "running":
        return "migrate onto a taken name: %r, here %r" % (r, state("traveller"))
    # b refuses the import (a broken containerctl there): the source runs again, b keeps nothing new
    cc("rm", "traveller", host=b)
    b.run("mv /usr/bin/containerctl /usr/bin/containerctl.real && "
          "printf '#!/bin/sh\\ncat >/dev/null; echo refused >&2; exit 1\\n' > /usr/bin/containerctl && chmod 755 /usr/bin/containerctl")
    r = cc("migrate", "traveller", HOST_B, timeout=300)
    b.run("mv /usr/bin/containerctl.real /usr/bin/containerctl")
    if r.returncode != 1 or state("traveller") != "running" or "traveller" in listing(host=b):
        return "failed import: %r, here %r, there %r" % (r, state("traveller"), listing(host=b))
    out = cc("exec", "traveller", "sh", "-c", "echo $GREETING").stdout
    if out != "again\n":
        return "the source changed: %r" % out
    # Ctrl-C once it stopped here, while 100 MB stream across: undone, running here, nothing there
    cc("exec", "traveller", "sh", "-c", "head -c 100000000 /dev/urandom > /big")
    r = sb.run("""containerctl migrate traveller %s 2>/var/tmp/mig.err & p=$!
                  for i in $(seq 400); do
                      containerctl inspect traveller --json=short | grep -q '"State":"stopped"' && break
                      sleep 0.02
                  done
                  kill -INT $p; wait $p; echo rc=$?; cat /var/tmp/mig.err""" % HOST_B, check=False, timeout=300)
    if "rc=1" not in r.stdout or state("traveller") != "running" or "traveller" in listing(host=b):
        return "interrupted: %r, here %r, there %r" % (r, state("traveller"), listing(host=b))
    if "interrupted" not in r.stdout.lower():
        return "not interrupted mid-way: %r" % r.stdout
    return cc("exec", "traveller", "test", "-s", "/big").ok or "the file is gone here"


if two:
    tap.check("migrate NAME HOST: stopped here, streamed over SSH, imported and started there, removed "
              "here; a failure leaves it running here", t_migrate)
else:
    tap.skip("migrate", "no second host")

subprocess.run(["ip", "link", "del", LINK + "a"], stderr=subprocess.DEVNULL)
b.stop()
sb.stop()
sys.exit(tap.done())
