#!/usr/bin/python3
"""Bounded replies and secrets (issue 19, items 5 and 6): Top against processes with huge
command lines is bounded and says so, and the service stays on the bus; an image's
environment values are hidden from an unprivileged user (a Commit does not publish a
container's DB_PASSWORD); Commit and ImportContainer of a stream that carries an image need
org.containers.build, not just manage; a terminal passed to ExecWithFds is never the
container's: the command gets a PTY of its own and the service relays."""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, MANAGER_PATH, HELPER_DIR, LOOP, TEST_USER,  # noqa: E402
                     busctl_create_args, container_path, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, stop_timeout=5)
C = CONTAINER_IFACE
IMAGE_IFACE = "org.containers.Image"
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
    sb.write_file(HELPER_DIR + "/imageclient.py", f.read(), mode=0o755)
IMAGE_CLIENT = ["/usr/bin/python3", HELPER_DIR + "/imageclient.py"]

# ExecWithFds with a PTY's slave as stdin, stdout and stderr (as a terminal is), which is
# nobody's controlling terminal. Prints one JSON line: the status, what came out of the master,
# what the slave holds as input afterwards (what was typed into it), and whether its settings
# are as they were.
TTY_CLIENT = r'''
import fcntl, json, os, sys, termios, threading, time
from gi.repository import Gio, GLib

path, command = sys.argv[1], sys.argv[2:]
typed_ahead = None
if path == "--type":
    typed_ahead, path, command = sys.argv[2].encode(), sys.argv[3], sys.argv[4:]
master, slave = os.openpty()
before = termios.tcgetattr(slave)
if typed_ahead:
    os.write(master, typed_ahead)   # typed before the command starts: waits in the terminal
out = bytearray()

def pump():
    while True:
        try:
            d = os.read(master, 65536)
        except OSError:
            break
        if not d:
            break
        out.extend(d)

threading.Thread(target=pump, daemon=True).start()
fds = Gio.UnixFDList.new()
idx = [fds.append(slave) for _ in range(3)]
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
try:
    reply, _ = bus.call_with_unix_fd_list_sync(
        "org.containers.Manager", path, "org.containers.Container", "ExecWithFds",
        GLib.Variant("(ashhha{sv})", (command, idx[0], idx[1], idx[2], {})),
        GLib.VariantType("(i)"), Gio.DBusCallFlags.NONE, 60000, fds, None)
    status = reply.unpack()[0]
except GLib.Error as e:
    status = "error " + e.message
for fd in fds.steal_fds():
    os.close(fd)
deadline = time.monotonic() + 10
while b"END" not in out and time.monotonic() < deadline:
    time.sleep(0.05)
after = termios.tcgetattr(slave)
fcntl.fcntl(slave, fcntl.F_SETFL, fcntl.fcntl(slave, fcntl.F_GETFL) | os.O_NONBLOCK)
try:
    typed = os.read(slave, 4096)
except BlockingIOError:
    typed = b""
print(json.dumps({"status": status, "output": out.decode(errors="replace"),
                  "typed": typed.decode(errors="replace"), "settings_kept": before == after,
                  "slave": os.ttyname(slave)}), flush=True)
'''
sb.write_file(HELPER_DIR + "/ttyclient.py", TTY_CLIENT, mode=0o755)

# Run inside the container (the host base has python3): makes fd 0 its controlling terminal
# and types a command line into it with TIOCSTI, as an attacker in the container would.
ATTACK = r'''
import fcntl, os, termios
r = []
try:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    r.append("ctty=ok")
except OSError as e:
    r.append("ctty=%d" % e.errno)
try:
    for ch in b"echo INJECTED\n":
        fcntl.ioctl(0, termios.TIOCSTI, bytes([ch]))
    r.append("sti=ok")
except OSError as e:
    r.append("sti=%d" % e.errno)
try:
    name = os.ttyname(0)
except OSError as e:
    name = "?%d" % e.errno
print("REPORT tty=%s isatty=%d %s END" % (name, os.isatty(0), " ".join(r)), flush=True)
'''


def create(image, name, env=None, command=None):
    sb.mcall(*(["Create"] + busctl_create_args(image, name, env or {},
                                                {"command": command or ["sh", "-c", LOOP]})))


def images():
    return [i[0] for i in sb.mcall("Images")[0]]


def daemon_alive(pid_before):
    """The same process answers as before (a service that lost the bus would be started anew
    by the Ping)."""
    r = sb.call(MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping", check=False)
    if isinstance(r, sandbox.Result):
        return "Ping failed: %r" % r
    pid = sb.daemon_pid()
    return pid == pid_before or "the service's MainPID went from %s to %s" % (pid_before, pid)


# ---- Top -----------------------------------------------------------------------------------

# 24 processes with about 1.6 MB of arguments each: about 38 MB of command lines, over the bus's
# 32 MiB message limit (an argument may be 128 KiB, all of them a quarter of the stack limit).
BIG = ("a=$(head -c 100000 /dev/zero | tr '\\0' a); "
       "i=0; while [ $i -lt 24 ]; do "
       "sh -c 'while :; do sleep 1; done' big $a $a $a $a $a $a $a $a $a $a $a $a $a $a $a $a & "
       "i=$((i+1)); done; " + LOOP)


def t_top_bounded():
    create("busybox", "big", command=["sh", "-c", BIG])
    pid_before = sb.daemon_pid()

    # Root waits for them (a first call of the user's while machined is still being started
    # can stall the bus: dbus-daemon looks the user up through NSS, nss-mymachines asks machined).
    def all_there():
        if sum(1 for p in sb.call(container_path("big"), C, "Top")[0]["processes"]["data"]
               if p[6].startswith("sh -c while")) >= 24:
            return True
        time.sleep(0.3)
        return False
    wait_for(all_there, 60, what="the 24 big processes")
    r = sb.call(container_path("big"), C, "Top", user=TEST_USER, check=False, timeout=60)
    alive = daemon_alive(pid_before)
    if isinstance(r, sandbox.Result):
        tap.diag(sb.run("journalctl -b --no-pager -n 60 -t dbus-daemon -t containers-managerd",
                        check=False).stdout)
        return "Top as %s failed: %s; %s" % (TEST_USER, r.stderr[-300:], alive)
    info = r[0]
    procs = info["processes"]["data"]
    if alive is not True:
        return alive
    if info.get("truncated", {}).get("data") is not True:
        return "no truncated=true in %s" % sorted(info)
    big = [p for p in procs if p[6].startswith("sh -c while")]
    longest = max(len(p[6].encode()) for p in procs)
    if longest > 4096 + 3:
        return "a command line of %d bytes" % longest
    if not all(p[6].endswith("...") for p in big):
        return "a cut command line without its mark: %r" % [p[6][-20:] for p in big]
    out = sb.run(["containerctl", "top", "big"], user=TEST_USER, env={"SYSTEMD_PAGER": "cat"}).stdout
    if "Command lines cut" not in out:
        return "containerctl top does not say it was cut: %r" % out[-300:]
    total = sum(len(p[6].encode()) for p in procs)
    tap.diag("Top: %d processes, %d bytes of command lines, longest %d" % (len(procs), total, longest))
    return total <= 1024 * 1024 + 4096 or "%d bytes of command lines" % total


tap.check("Top as %s of processes with huge command lines: each cut at 4 KiB with '...', "
          "truncated=true, the service still on the bus" % TEST_USER, t_top_bounded)


def t_top_small():
    create("busybox", "small")
    info = sb.call(container_path("small"), C, "Top", user=TEST_USER)[0]
    procs = info["processes"]["data"]
    loop = [p for p in procs if "trap" in p[6]]
    if not loop or loop[0][6].endswith("..."):
        return "the payload's command line: %r" % [p[6] for p in procs]
    return info.get("truncated", {}).get("data") is False or "truncated: %r" % info.get("truncated")


tap.check("Top of a container with short command lines: nothing cut, truncated=false", t_top_small)
sb.call(container_path("big"), C, "Kill", "si", "all", "9", check=False)

# ---- an image's environment -------------------------------------------------------------------


def t_commit_hides_values():
    create("busybox", "sec", env={"DB_PASSWORD": "hunter2", "MODE": "prod"})
    r = sb.call(container_path("sec"), C, "Commit", "sa{sv}", "sec-image", "0")
    path = r[0]
    prop = sb.get_property(path, IMAGE_IFACE, "Environment", user=TEST_USER)
    if any("hunter2" in e for e in prop) or "DB_PASSWORD" not in prop:
        return "Environment property as %s: %r" % (TEST_USER, prop)
    root_prop = sb.get_property(path, IMAGE_IFACE, "Environment")
    if any("=" in e for e in root_prop):
        return "Environment property as root: %r" % root_prop
    mine = sb.call(path, IMAGE_IFACE, "Inspect", user=TEST_USER, check=False)
    if isinstance(mine, sandbox.Result):
        return "Inspect as %s: %s" % (TEST_USER, mine.stderr)
    env = mine[0]["Environment"]["data"]
    if any("hunter2" in e for e in env) or "DB_PASSWORD" not in env or mine[0]["EnvironmentValuesShown"]["data"]:
        return "Inspect as %s: %r" % (TEST_USER, mine[0])
    root = sb.call(path, IMAGE_IFACE, "Inspect")[0]
    if "DB_PASSWORD=hunter2" not in root["Environment"]["data"] or not root["EnvironmentValuesShown"]["data"]:
        return "Inspect as root: %r" % root["Environment"]
    # containerctl inspect --image goes through Inspect
    j = json.loads(sb.run(["containerctl", "inspect", "--image", "sec-image", "--json=short"],
                          user=TEST_USER).stdout)
    if "DB_PASSWORD" not in j.get("Environment", []) or "hunter2" in json.dumps(j):
        return "containerctl inspect --image as %s: %r" % (TEST_USER, j)
    j = json.loads(sb.run(["containerctl", "inspect", "--image", "sec-image", "--json=short"]).stdout)
    if "DB_PASSWORD=hunter2" not in j.get("Environment", []):
        return "containerctl inspect --image as root: %r" % j
    # GetManagedObjects reaches everyone too
    objs = sb.busctl("call", sandbox.BUS, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                     "GetManagedObjects", user=TEST_USER, json_out=True).stdout
    return "hunter2" not in objs or "GetManagedObjects shows the value to %s" % TEST_USER


tap.check("Commit of a container with DB_PASSWORD: the image's Environment (property, "
          "GetManagedObjects, Inspect, containerctl inspect --image) has names only for %s; Inspect as root has the values"
          % TEST_USER, t_commit_hides_values)

# ---- Commit and ImportContainer need build -----------------------------------------------------

RULES = """polkit.addRule(function(action, subject) {
    if (action.id == "org.containers.manage" && subject.user == "%s") {
        return polkit.Result.YES;
    }
});
""" % TEST_USER


def user_may_manage():
    r = sb.call(container_path("sec"), C, "Inspect", user=TEST_USER)
    if r[0]["EnvironmentValuesShown"]["data"]:
        return True
    time.sleep(0.3)
    return False


def t_commit_needs_build():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-replies.rules", RULES)
    wait_for(user_may_manage, 20, what="the rules file granting manage")
    r = sb.call(container_path("sec"), C, "Commit", "sa{sv}", "user-image", "0", user=TEST_USER,
                check=False)
    if not isinstance(r, sandbox.Result):
        return "Commit with manage alone succeeded: %r" % r
    if not any(w in r.stderr for w in ("Access denied", "Not authorized", "Interactive authentication is required")):
        return "Commit: %s" % r.stderr
    return "user-image" not in images() or "the image was made"


tap.check("Commit by a user with org.containers.manage but not build: AccessDenied, no image",
          t_commit_needs_build)


def t_import_container_needs_build():
    create("sec-image", "carrier")
    sb.call(container_path("carrier"), C, "Stop")
    for args, f in ((["--no-image"], "/var/tmp/noimage.tar"), ([], "/var/tmp/withimage.tar")):
        r = sb.run(IMAGE_CLIENT + ["export-container", "carrier", f] + args).stdout.split()
        assert r and r[0] == "ok", r
        sb.run(["chmod", "644", f])
    before = images()
    r = sb.run(IMAGE_CLIENT + ["import-container", "u-carried", "/var/tmp/withimage.tar", "--image", "u-image"],
               user=TEST_USER).stdout.split(None, 2)
    if not r or r[0] != "error" or r[1] not in DENIED:
        return "ImportContainer of a stream with an image, manage alone: %r" % r
    if "u-carried" in sb.list_containers() or images() != before:
        return "something was installed: %r %r" % (sorted(sb.list_containers()), images())
    # a stream without an image needs manage alone, as before
    r = sb.run(IMAGE_CLIENT + ["import-container", "u-plain", "/var/tmp/noimage.tar"],
               user=TEST_USER).stdout.split(None, 2)
    if not r or r[0] != "ok":
        return "ImportContainer of a stream without an image, manage: %r" % r
    # and root may import the one with the image
    r = sb.run(IMAGE_CLIENT + ["import-container", "r-carried", "/var/tmp/withimage.tar", "--image",
                               "r-image"]).stdout.split(None, 2)
    return (r and r[0] == "ok" and "r-image" in images()) or "root's import: %r" % r


tap.check("ImportContainer of a stream carrying an image by a user with manage but not build: "
          "AccessDenied, nothing installed; without an image it works; root's works",
          t_import_container_needs_build)
sb.run(["rm", "-f", "/etc/polkit-1/rules.d/50-cm-replies.rules"])

# ---- ExecWithFds and terminals -------------------------------------------------------------------


def t_exec_tty():
    create("host", "term", command=["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"])
    r = sb.run(["/usr/bin/python3", HELPER_DIR + "/ttyclient.py", container_path("term"),
                "python3", "-c", ATTACK], timeout=90)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    tap.diag("ExecWithFds on %s: %r" % (res["slave"], {k: res[k] for k in ("status", "output", "typed")}))
    if "INJECTED" in res["typed"]:
        return "the command typed into the caller's terminal: %r" % res["typed"]
    if res["status"] != 0:
        return "status %r" % res["status"]
    if "REPORT" not in res["output"] or "isatty=1" not in res["output"]:
        return "the command's output did not come through the caller's terminal: %r" % res["output"]
    if not res["settings_kept"]:
        return "the caller's terminal settings were not put back"
    return True


def t_exec_tty_input():
    r = sb.run(["/usr/bin/python3", HELPER_DIR + "/ttyclient.py", "--type", "hello\n", container_path("term"),
                "python3", "-c", "import os; print('REPORT got', input(), os.isatty(0), 'END')"], timeout=90)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["status"] != 0 or "REPORT got hello True END" not in res["output"]:
        return "status %r, output %r" % (res["status"], res["output"])
    return res["settings_kept"] or "the caller's terminal settings were not put back"


tap.check("ExecWithFds with a PTY that is nobody's controlling terminal: the command's stdin is a "
          "terminal, its output arrives, but TIOCSCTTY+TIOCSTI there types nothing into the "
          "caller's terminal", t_exec_tty)


tap.check("ExecWithFds with a PTY: what the caller typed reaches the command through its own PTY",
          t_exec_tty_input)

sb.stop()
sys.exit(tap.done())
