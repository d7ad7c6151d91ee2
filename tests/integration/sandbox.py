"""Throwaway systemd for the integration tests (see DESIGN.md, "Testing in a real systemd").

An overlay of the host's / (upper layer on a tmpfs under /var/tmp, because nspawn mounts a
fresh tmpfs on /tmp inside) is booted with systemd-nspawn; commands run inside it through
nsenter into its PID 1's namespaces.  Everything is torn down on exit, on failure and on
SIGTERM/SIGINT/SIGHUP.  Standard library only, /usr/bin/python3.
"""

import atexit
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUS = "org.containers.Manager"
MANAGER_PATH = "/org/containers/Manager"
MANAGER_IFACE = "org.containers.Manager"
CONTAINER_IFACE = "org.containers.Container"
IMAGE_IFACE = "org.containers.Image"

# Units the tests never need: they slow the boot or fail inside the sandbox.
MASK = [
    "postgresql.service", "lxc-net.service", "lxc.service", "lxc-monitord.service",
    "getty@tty1.service", "getty@.service", "console-getty.service", "container-getty@.service",
    "serial-getty@.service", "getty.target",
    "cron.service", "ssh.service", "sshd.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
    "dpkg-db-backup.timer", "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
    "man-db.timer", "systemd-networkd.service", "systemd-networkd.socket",
    "systemd-networkd-wait-online.service", "systemd-resolved.service",
    "systemd-timesyncd.service", "systemd-pstore.service", "remote-fs.target",
    "machines.target", "var-lib-machines.mount", "systemd-update-utmp-runlevel.service",
]

HELPER_DIR = "/usr/local/lib/cm-tests"
TEST_USER = "cmtest"
TEST_UID = 4242

BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_LOG_COLOR": "0",
    "TERM": "dumb",
}


def log(msg):
    """Diagnostics go to stderr as TAP comments so they never break the TAP stream."""
    for line in str(msg).splitlines() or [""]:
        sys.stderr.write("# " + line + "\n")
    sys.stderr.flush()


def source_root():
    if len(sys.argv) > 2:
        return os.path.abspath(sys.argv[2])
    if os.environ.get("MESON_SOURCE_ROOT"):
        return os.environ["MESON_SOURCE_ROOT"]
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_root():
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    if os.environ.get("MESON_BUILD_ROOT"):
        return os.environ["MESON_BUILD_ROOT"]
    return os.path.join(source_root(), "build")


def stage_install(build_dir, stage_dir):
    """meson install of the build tree into stage_dir (no rebuild: meson test built it)."""
    r = subprocess.run(["meson", "install", "-C", build_dir, "--destdir", stage_dir,
                        "--no-rebuild", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("meson install failed:\n" + r.stdout)
    return stage_dir


def install_tree(src, dest):
    """Copy the files of src over dest.  Directories are merged and keep dest's modes and
    symlinks (Debian's /lib -> usr/lib: a staged lib/systemd/system lands in usr/lib)."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = os.path.normpath(os.path.join(dest, rel))
        os.makedirs(target, mode=0o755, exist_ok=True)
        for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            s, d = os.path.join(dirpath, n), os.path.join(target, n)
            if os.path.lexists(d) and not os.path.isdir(d):
                os.unlink(d)
            if os.path.islink(s):
                os.symlink(os.readlink(s), d)
            else:
                shutil.copy2(s, d)
                os.chown(d, 0, 0)


# ---- a cgroup of the sandbox's own ---------------------------------------------------------
# On a host whose PID 1 is not systemd, nspawn puts its guest below its own cgroup
# ("payload", "supervisor"): two nspawns started from the same cgroup share one, and their
# systemds see and signal each other's units.  Each nspawn therefore moves itself into a fresh
# cgroup before exec, in every hierarchy systemd uses.

def cgroup_hierarchies():
    """Mount points of the hierarchies systemd tracks processes in: the named v1 one and/or the
    unified (v2) one; a pure v2 host has only /sys/fs/cgroup."""
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup2":
                mounts.setdefault("unified", mnt)
            elif fstype == "cgroup" and "name=systemd" in opts.split(","):
                mounts.setdefault("systemd", mnt)
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _id, ctrl, path = line.rstrip("\n").split(":", 2)
            if ctrl == "":
                own["unified"] = path
            elif ctrl == "name=systemd":
                own["systemd"] = path
    # a new cgroup goes below the one we are in (the root on this kind of host)
    return [os.path.join(mnt, own.get(k, "/").lstrip("/"))
            for k, mnt in sorted(mounts.items()) if k in own]


def cgroup_pids(top):
    """Every PID in the cgroup tree below top (nspawn and the guest make sub-cgroups)."""
    pids = set()
    for dirpath, _dirs, _files in os.walk(top):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


def cgroup_kill(top, timeout=10.0):
    """SIGKILL everything in the tree until it stays empty; True if it did."""
    kill = os.path.join(top, "cgroup.kill")    # v2 (Linux 5.14): atomic, no fork race
    deadline = time.monotonic() + timeout
    while True:
        pids = cgroup_pids(top)
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        if os.path.exists(kill):
            try:
                with open(kill, "w") as f:
                    f.write("1")
            except OSError:
                pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def cgroup_remove(top, timeout=10.0):
    """rmdir the tree bottom-up, retried: a cgroup stays busy for a moment after its last
    process died.  True if nothing is left."""
    deadline = time.monotonic() + timeout
    while os.path.isdir(top):
        for dirpath, _dirs, _files in os.walk(top, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        if not os.path.isdir(top):
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Result:
    def __init__(self, cmd, rc, out, err):
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, rc, out, err

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return "<%s rc=%d out=%r err=%r>" % (self.cmd, self.returncode, self.stdout[-500:],
                                            self.stderr[-500:])


class CommandFailed(Exception):
    pass


_live = []


def _cleanup_all(*_):
    for sb in list(_live):
        try:
            sb.stop()
        except Exception as e:  # keep tearing down the others
            log("teardown: %s" % e)


def _on_signal(signum, _frame):
    _cleanup_all()
    os._exit(128 + signum)


atexit.register(_cleanup_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


class Sandbox:
    """A booted throwaway systemd.

    stage: a directory tree copied over / before boot (the daemon's meson install).
    idle_timeout / stop_timeout: written as a drop-in for containers-manager.service.
    binds: host directories bound at the same path inside (nspawn gives the sandbox a /tmp of
    its own, so a directory under /tmp is not there otherwise).
    """

    def __init__(self, stage=None, idle_timeout=None, stop_timeout=None, mask=MASK,
                 user=True, boot_timeout=60, binds=()):
        self.stage = stage
        self.binds = list(binds)
        self.idle_timeout = idle_timeout
        self.stop_timeout = stop_timeout
        self.mask = mask
        self.user = user
        self.boot_timeout = boot_timeout
        self.dir = None
        self.root = None
        self.statedir = None
        self.proc = None
        self.pid1 = None
        self.machine = None
        self.logfile = None
        self.cgroups = []
        self._mounts = []

    # ---- lifecycle -------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _mount(self, *args):
        subprocess.run(["mount"] + list(args), check=True)

    def start(self):
        _live.append(self)
        self.dir = tempfile.mkdtemp(prefix="cm-sbx.", dir="/var/tmp")
        self._mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", self.dir)
        self._mounts.append(self.dir)
        for d in ("upper", "work", "root", "state"):
            os.mkdir(os.path.join(self.dir, d))
        self.root = os.path.join(self.dir, "root")
        self.statedir = os.path.join(self.dir, "state")
        self._mount("-t", "overlay", "overlay", "-o",
                    "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (self.dir, self.dir),
                    self.root)
        self._mounts.append(self.root)
        self._prepare()
        # letters and digits only after the prefix: a machine name may not end in '-' or '_'
        self.machine = "cm-sbx-%d-%s" % (os.getpid(), os.urandom(4).hex())
        self.logfile = os.path.join(self.dir, "boot.log")
        self._boot()

    def _boot(self):
        self.pid1 = None
        for h in cgroup_hierarchies():
            os.mkdir(os.path.join(h, self.machine))
            self.cgroups.append(os.path.join(h, self.machine))
        procs = [os.path.join(c, "cgroup.procs") for c in self.cgroups]

        def enter_cgroups():
            # in the child, before exec: nspawn and all it starts live below these
            for p in procs:
                with open(p, "w") as f:
                    f.write(str(os.getpid()))

        logf = open(self.logfile, "w")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", self.root, "-b", "--register=no", "--keep-unit",
             "-M", self.machine, "--console=passive",
             # a network namespace of its own (only lo): the sandbox keeps CAP_NET_ADMIN, so
             # LXC can bring up the containers' loopback, and its servers never meet the host's
             "--private-network",
             # overlayfs cannot use a directory on overlayfs as its upper layer, and the
             # sandbox's / is one: the daemon's state gets a tmpfs-backed directory
             "--bind=%s:/var/lib/containers-manager" % self.statedir] +
            ["--bind=%s" % b for b in self.binds],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=enter_cgroups)
        logf.close()
        self._wait_boot()

    def _prepare(self):
        r = self.root
        if self.stage:
            # before boot, so that dbus and systemd see it
            install_tree(self.stage, r)
        sysdir = os.path.join(r, "etc/systemd/system")
        for unit in self.mask:
            p = os.path.join(sysdir, unit)
            if os.path.lexists(p):
                if os.path.isdir(p) and not os.path.islink(p):
                    continue
                os.unlink(p)
            os.symlink("/dev/null", p)
        drop = []
        if self.idle_timeout is not None:
            drop.append("Environment=CONTAINERS_MANAGER_IDLE_TIMEOUT_SEC=%d" % self.idle_timeout)
        if self.stop_timeout is not None:
            drop.append("Environment=CONTAINERS_MANAGER_STOP_TIMEOUT_SEC=%d" % self.stop_timeout)
        if drop:
            d = os.path.join(sysdir, "containers-manager.service.d")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "test.conf"), "w") as f:
                f.write("[Service]\n" + "\n".join(drop) + "\n")
        # start from an empty daemon state whatever the host has
        for st in ("var/lib/containers-manager", "run/containers-manager"):
            p = os.path.join(r, st)
            if os.path.isdir(p):
                shutil.rmtree(p)
        if self.user:
            self._add_user(TEST_USER, TEST_UID)
        helpers = os.path.join(r, HELPER_DIR.lstrip("/"))
        os.makedirs(helpers, exist_ok=True)
        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "rawbus.py"), helpers)

    def _add_user(self, name, uid):
        etc = os.path.join(self.root, "etc")
        with open(os.path.join(etc, "passwd")) as f:
            if any(l.startswith(name + ":") for l in f):
                return
        with open(os.path.join(etc, "passwd"), "a") as f:
            f.write("%s:x:%d:%d::/nonexistent:/bin/sh\n" % (name, uid, uid))
        with open(os.path.join(etc, "group"), "a") as f:
            f.write("%s:x:%d:\n" % (name, uid))
        with open(os.path.join(etc, "shadow"), "a") as f:
            f.write("%s:!:19000:0:99999:7:::\n" % name)

    def _wait_boot(self):
        deadline = time.monotonic() + self.boot_timeout
        while self.pid1 is None:
            if self.proc.poll() is not None:
                raise RuntimeError("systemd-nspawn exited (%d):\n%s" %
                                   (self.proc.returncode, self.boot_log()))
            try:
                kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], text=True,
                                      stdout=subprocess.PIPE).stdout.split()
            except Exception:
                kids = []
            # nspawn forks an intermediate child before the one that execs systemd:
            # only a child that already is systemd is the container's PID 1
            for k in kids:
                try:
                    with open("/proc/%s/comm" % k) as f:
                        if f.read().strip() == "systemd":
                            self.pid1 = int(k)
                            break
                except OSError:
                    pass
            if self.pid1 is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no container PID 1:\n" + self.boot_log())
            time.sleep(0.05)
        state = ""
        while time.monotonic() < deadline:
            res = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
            state = res.stdout.strip() or res.stderr.strip()
            if state in ("running", "degraded"):
                if state == "degraded":
                    log("sandbox degraded: " + self.run(
                        ["systemctl", "--failed", "--no-legend", "--plain"], check=False).stdout)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("sandbox did not boot (state %r):\n%s" % (state, self.boot_log()))

    def boot_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()[-4000:]
        except Exception:
            return ""

    def stop(self):
        if self not in _live:
            return
        _live.remove(self)
        self._halt()
        self._unmount_all()

    def reboot(self):
        """Shut the guest down cleanly and boot the same tree again: what it wrote (its /etc,
        the daemon's state in /var/lib/containers-manager) is there at the second boot; /run
        and /tmp are fresh, as after a reboot.  Used by test-autostart.py."""
        self._halt()
        self._boot()

    def _halt(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)   # nspawn: clean shutdown of the guest
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log("nspawn did not exit in time; killing")
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        # a guest systemd that hangs on shutdown outlives its nspawn: whatever is left in the
        # sandbox's cgroups goes, then the cgroups themselves
        for c in self.cgroups:
            if not cgroup_kill(c):
                log("processes left in %s: %s" % (c, sorted(cgroup_pids(c))))
        for c in self.cgroups:
            if not cgroup_remove(c):
                log("cgroup left behind: %s" % c)
        self.cgroups = []

    def _unmount_all(self):
        for m in reversed(self._mounts):
            for _ in range(50):
                r = subprocess.run(["umount", m], stderr=subprocess.PIPE, text=True)
                if r.returncode == 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.run(["umount", "-l", m])
        self._mounts = []
        if self.dir:
            try:
                os.rmdir(self.dir)
            except OSError:
                pass

    # ---- running things inside -------------------------------------------------------

    def nsenter_argv(self, argv, user=None):
        pre = ["nsenter", "-t", str(self.pid1), "-a"]
        if user:
            pre += ["runuser", "-u", user, "--"]
        return pre + list(argv)

    def run(self, cmd, user=None, check=True, timeout=120, input=None, env=None):
        """Run cmd (argv list, or a string for sh -c) inside the sandbox."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        e = dict(BASE_ENV)
        if env:
            e.update(env)
        try:
            p = subprocess.run(self.nsenter_argv(argv, user), env=e, text=True,
                               errors="replace", input=input,
                               stdin=None if input is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
            res = Result(argv, p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as ex:
            # the exception carries bytes even when the run was in text mode
            def text(v):
                return v.decode(errors="replace") if isinstance(v, bytes) else (v or "")
            res = Result(argv, 124, text(ex.stdout), text(ex.stderr) + "\n[timeout]")
        if check and res.returncode != 0:
            raise CommandFailed("%s failed (rc %d):\n%s%s" % (
                shlex.join(argv), res.returncode, res.stdout[-2000:], res.stderr[-2000:]))
        return res

    def popen(self, cmd, user=None, **kw):
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        e = dict(BASE_ENV)
        return subprocess.Popen(self.nsenter_argv(argv, user), env=e, text=True,
                                stdin=subprocess.DEVNULL, **kw)

    def write_file(self, path, content, mode=0o644):
        """Write a file inside the running sandbox (through the overlay root)."""
        self.run(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod %o "$1"'
                  % mode, "sh", path], input=content)

    # ---- bus helpers -----------------------------------------------------------------

    def busctl(self, *args, user=None, check=True, json_out=False, timeout=120):
        argv = ["busctl", "--system", "--timeout=%d" % max(timeout - 5, 5)]
        if json_out:
            argv.append("--json=short")
        # "--" so that arguments such as "-x" are not taken for options
        return self.run(argv + ["--"] + [str(a) for a in args], user=user, check=check,
                        timeout=timeout)

    def call(self, path, iface, method, sig="", *args, user=None, check=True, timeout=120):
        """busctl call; returns the decoded JSON 'data' list (or the Result if check=False
        and the call failed)."""
        a = ["call", BUS, path, iface, method]
        if sig:
            a.append(sig)
        a += list(args)
        res = self.busctl(*a, user=user, check=check, json_out=True, timeout=timeout)
        if not res.ok:
            return res
        out = res.stdout.strip()
        return json.loads(out)["data"] if out else []

    def mcall(self, method, sig="", *args, **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, method, sig, *args, **kw)

    def get_property(self, path, iface, prop, user=None):
        res = self.busctl("get-property", BUS, path, iface, prop, user=user, json_out=True)
        return json.loads(res.stdout)["data"]

    def install_ping(self, name, path="/usr/local/bin/ping"):
        """Puts the build's tests/dgram-ping into container name at path (PutFileFd): containers
        have no CAP_NET_RAW, and busybox's ping knows only raw sockets; this one sends its echo
        over an ICMP datagram socket, as iputils' ping does."""
        code = (
            "import os, sys\n"
            "from gi.repository import Gio, GLib\n"
            "path, src, dest = sys.argv[1:4]\n"
            "bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)\n"
            "fds = Gio.UnixFDList.new()\n"
            "fd = os.open(src, os.O_RDONLY)\n"
            "idx = fds.append(fd)\n"
            "os.close(fd)\n"
            "opts = {'mode': GLib.Variant('u', 0o755), 'make_parents': GLib.Variant('b', True)}\n"
            "bus.call_with_unix_fd_list_sync('org.containers.Manager', path, 'org.containers.Container',\n"
            "    'PutFileFd', GLib.Variant('(sha{sv})', (dest, idx, opts)), None, Gio.DBusCallFlags.NONE,\n"
            "    60000, fds, None)\n")
        inside = HELPER_DIR + "/dgram-ping"
        host = os.path.join(self.root, inside.lstrip("/"))
        if not os.path.exists(host):
            # through the overlay's root: a build tree under /tmp is not in the sandbox
            os.makedirs(os.path.dirname(host), exist_ok=True)
            shutil.copy(os.path.join(build_root(), "tests", "dgram-ping"), host)
        self.run(["/usr/bin/python3", "-c", code, container_path(name), inside, path])

    def create_as(self, user, name, **flags):
        """gdbus Create of a busybox container running true, not started, as user, with the
        boolean options given (e.g. privileged=True); the Result."""
        opts = "".join(", '%s': <%s>" % (k, "true" if v else "false") for k, v in flags.items())
        return self.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                          "busybox", name, "{}", "{'command': <['true']>, 'start': <false>%s}" % opts,
                          user=user, check=False)

    def gdbus(self, *args, user=None, check=True, timeout=120):
        return self.run(["gdbus", "call", "--system", "--dest", BUS,
                         "--timeout", str(max(timeout - 5, 5))] + [str(a) for a in args],
                        user=user, check=check, timeout=timeout)

    def list_containers(self, user=None):
        return {c[0]: {"image": c[1], "state": c[2], "path": c[3]}
                for c in self.mcall("List", user=user)[0]}

    def daemon_pid(self):
        r = self.run(["systemctl", "show", "-P", "MainPID", "containers-manager.service"],
                     check=False)
        try:
            return int(r.stdout.strip())
        except ValueError:
            return 0

    def unit_active(self, unit):
        return self.run(["systemctl", "is-active", unit], check=False).stdout.strip()

    def journal(self, unit, extra=()):
        return self.run(["journalctl", "--no-pager", "-q", "-o", "cat", "-u", unit] + list(extra),
                        check=False).stdout


def wait_for(pred, timeout=30.0, interval=0.1, what="condition"):
    """Poll pred() until it returns a true value; returns it or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the predicate may fail while things settle
            last_exc = e
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for %s%s" % (
                what, (": %s" % last_exc) if last_exc else ""))
        time.sleep(interval)


_ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def polkit_grant(action, user):
    """The text of a polkit rules file that grants action to user."""
    return ('polkit.addRule(function(action, subject) {\n'
            '    if (action.id == "%s" && subject.user == "%s")\n'
            '        return polkit.Result.YES;\n'
            '});\n' % (action, user))


def container_path(name):
    """sd_bus_path_encode(): [A-Za-z0-9] kept, everything else _xx, empty -> _."""
    if not name:
        return MANAGER_PATH + "/container/_"
    out = []
    for i, b in enumerate(name.encode()):
        c = chr(b)
        if c in _ALPHA or (c in "0123456789" and i > 0):
            out.append(c)
        else:
            out.append("_%02x" % b)
    return MANAGER_PATH + "/container/" + "".join(out)


class Tap:
    """Minimal TAP producer; the plan is printed at the end (meson accepts a trailing plan)."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond and diag:
            self.diag(diag)
        return bool(cond)

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def check(self, name, fn, *args, **kwargs):
        """Run fn(); ok if it returns true and raises nothing; the exception is the diag."""
        try:
            r = fn(*args, **kwargs)
        except Exception as e:
            return self.ok(False, name, "%s: %s" % (type(e).__name__, e))
        # only None or True pass: a check returns a string (or the value it saw) to fail
        good = r is None or r is True
        return self.ok(good, name, None if good else (r if isinstance(r, str) else repr(r)))

    def bail(self, why):
        print("Bail out! " + str(why).splitlines()[0], flush=True)
        for line in str(why).splitlines()[1:]:
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def setup(tap, **kw):
    """Stage the build's install and boot a sandbox with it.  Returns the Sandbox or None
    (after a Bail out!) when the daemon is not built or the sandbox cannot boot."""
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (overlay mounts and systemd-nspawn)")
        sys.exit(0)
    bdir = build_root()
    stage = None
    try:
        stage = tempfile.mkdtemp(prefix="cm-stage.", dir="/var/tmp")
        atexit.register(shutil.rmtree, stage, True)
        stage_install(bdir, stage)
        if not os.path.exists(os.path.join(stage, "usr/libexec/containers-managerd")):
            raise RuntimeError("the build's install has no usr/libexec/containers-managerd")
        sb = Sandbox(stage=stage, **kw)
        sb.start()
        return sb
    except Exception as e:
        tap.bail("sandbox setup failed: %s" % e)
        sys.exit(1)


# ---- building arguments -------------------------------------------------------------------

LOOP = "trap 'exit 0' TERM INT PWR; while :; do echo $GREETING; sleep 1 & wait $!; done"


def busctl_variant(v):
    if isinstance(v, bool):
        return ["b", "true" if v else "false"]
    if isinstance(v, int):
        return ["u", str(v)]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, (list, tuple)):
        return ["as", str(len(v))] + list(v)
    raise TypeError(v)


def busctl_create_args(image, name, env=None, opts=None):
    """Arguments for `busctl call ... Create` after the member name."""
    env = env or {}
    opts = opts or {}
    a = ["ssa{ss}a{sv}", image, name, str(len(env))]
    for k, v in env.items():
        a += [k, v]
    a.append(str(len(opts)))
    for k, v in opts.items():
        a.append(k)
        a += busctl_variant(v)
    return a


def gv_str(s):
    s = s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return "'" + s + "'"


def gv(v):
    """Python value -> GVariant text (for gdbus call)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "uint32 %d" % v
    if isinstance(v, str):
        return gv_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(gv(x) for x in v) + "]" if v else "@as []"
    raise TypeError(v)


def gv_env(env):
    if not env:
        return "@a{ss} {}"
    return "{" + ", ".join("%s: %s" % (gv_str(k), gv_str(v)) for k, v in env.items()) + "}"


def gv_opts(opts):
    if not opts:
        return "@a{sv} {}"
    return "{" + ", ".join("%s: <%s>" % (gv_str(k), gv(v)) for k, v in opts.items()) + "}"


def gdbus_error(res):
    """The D-Bus error name of a failed gdbus call, or None."""
    import re
    m = re.search(r"GDBus\.Error:([A-Za-z0-9_.]+)", res.stderr + res.stdout)
    return m.group(1) if m else None


class Host(Sandbox):
    """The same interface on the host itself, for when PID 1 already is systemd."""

    def start(self):
        self.pid1 = 1

    def stop(self):
        pass

    def nsenter_argv(self, argv, user=None):
        return (["runuser", "-u", user, "--"] if user else []) + list(argv)


def pid1_is_systemd():
    """sd_booted(): the same test systemd itself uses."""
    return os.path.isdir("/run/systemd/system")
