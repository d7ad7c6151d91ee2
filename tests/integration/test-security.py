#!/usr/bin/python3
"""Containers that contain: every container runs in a user namespace of its own, on a slot of
host ids no other container has, with the image layers idmapped (not copied or chowned) and
host binds read-only and locked. From inside, tests/probe/escape-probe tries what a container
must not do to its host, from the busybox base and the host base alike; a privileged container
shows the probe would notice. Slots survive a daemon restart, are freed by Remove, run out
with a named error; containers of the previous release keep their files; the privileged
option needs its own polkit action; environment values are for managers only."""

import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, BUS, LOOP, TEST_USER,  # noqa: E402
                     busctl_create_args, container_path, gdbus_error, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
C = CONTAINER_IFACE
U = TEST_USER
E = "org.containers.Error."
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
SLOT = 65536
CONF = "/etc/containers-manager/containers-manager.conf"
PROBES = ["remount-ro-binds", "mknod", "extra-devices", "mount-proc", "mount-sysfs",
          "write-proc-sys", "write-sysrq", "write-sys", "write-sys-module", "init_module",
          "finit_module", "delete_module", "kexec_load", "kexec_file_load",
          "open_by_handle_at", "kmsg", "signal-host", "ptrace-host"]


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def inspect(name, user=None):
    out = sb.call(container_path(name), C, "Inspect", user=user)[0]
    return {k: v["data"] for k, v in out.items()}


def create(image, name, env=None, **opts):
    return sb.mcall(*(["Create"] + busctl_create_args(image, name, env or {}, opts)),
                    check=False)


def restart_daemon():
    sb.run(["systemctl", "restart", "containers-manager.service"])
    wait_for(lambda: sb.unit_active("containers-manager.service") == "active", 20,
             what="daemon restarted")


def wait_stopped(name, timeout=60):
    wait_for(lambda: prop(name, "State") in ("stopped", "failed"), timeout,
             what="%s to stop" % name)


def logs(name):
    return sb.call(container_path(name), C, "Logs", "a{sv}", "0")[0]


# ---- the probe, built into an image per base from a local git repository --------------------

def make_probe_repo(base):
    work = "/srv/cm-probe-%s" % base
    host_dir = os.path.join(sb.root, work.lstrip("/"))
    if os.path.exists(host_dir):
        shutil.rmtree(host_dir)
    os.makedirs(host_dir)
    shutil.copy(os.path.join(sandbox.build_root(), "tests", "escape-probe"),
                os.path.join(host_dir, "escape-probe"))
    os.chmod(os.path.join(host_dir, "escape-probe"), 0o755)
    with open(os.path.join(host_dir, "Run.yaml"), "w") as f:
        f.write("Base: %s\nCommand: [/app/escape-probe]\n" % base)
    env = ["env", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid", "GIT_COMMITTER_NAME=t",
           "GIT_COMMITTER_EMAIL=t@t.invalid", "HOME=/nonexistent"]
    sb.run(env + ["git", "-c", "init.defaultBranch=main", "-C", work, "init", "-q"])
    sb.run(env + ["git", "-C", work, "add", "-A"])
    sb.run(env + ["git", "-C", work, "commit", "-q", "-m", "probe"])
    return "file://" + work


def build_probe(base):
    url = make_probe_repo(base)
    b = sb.mcall("Build", "ssa{sv}", "probe-" + base, url, "1", "branch", "s", "main")[0]
    ok, log = sb.call(b, "org.containers.Build", "Wait", timeout=300)
    if not ok:
        raise RuntimeError("building probe-%s: %s" % (base, log))


def t_build_probes():
    build_probe("busybox")
    build_probe("host")
    return True


if not tap.check("escape-probe built into images on the busybox and the host base",
                 t_build_probes):
    tap.bail("cannot run the escape probes")
    sb.stop()
    sys.exit(1)

# a host process the containers must not be able to reach
victim = sb.popen(["sleep", "1001"])
victim_pid = int(wait_for(lambda: sb.run(["pgrep", "-n", "-f", "^sleep 1001$"], check=False).stdout.split()[0],
                          10, what="the host's victim process"))


def run_probe(base, name, privileged=False):
    opts = {"command": ["/app/escape-probe", str(sb.daemon_pid()), str(victim_pid)]}
    if privileged:
        opts["privileged"] = True
    res = create("probe-" + base, name, **opts)
    if not isinstance(res, list):
        raise RuntimeError("Create %s: %s" % (name, res.stderr))
    wait_stopped(name)
    # journald may still be reading the stream when the scope is gone: wait for the last line
    try:
        out = wait_for(lambda: "PROBE-DONE" in logs(name)["stdout"] and logs(name)["stdout"], 15,
                       interval=0.2, what="the probe's last line")
    except TimeoutError:
        out = logs(name)["stdout"]
    got = {}
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "PROBE":
            got.setdefault(parts[1], []).append((parts[2], parts[3] if len(parts) > 3 else ""))
    if "PROBE-DONE" not in out:
        raise RuntimeError("the probe did not finish: %r" % out[-2000:])
    return got


results = {}
for base in ("busybox", "host"):
    try:
        results[base] = run_probe(base, "esc-" + base)
    except Exception as e:
        results[base] = e

for base in ("busybox", "host"):
    for probe in PROBES:
        def t(base=base, probe=probe):
            got = results[base]
            if isinstance(got, Exception):
                return "probe run failed: %s" % got
            if probe not in got:
                return "no result for %s: %s" % (probe, sorted(got))
            bad = [d for verdict, d in got[probe] if verdict != "blocked"]
            for verdict, d in got[probe]:
                tap.diag("%s %s: %s %s" % (base, probe, verdict, d))
            return not bad or "ESCAPED: %s" % bad
        tap.check("%s base: %s is blocked" % (base, probe), t)


def t_host_untouched():
    for p in ("/usr/.cm-escape-probe", "/.cm-probe-block-sda", "/etc/.cm-escape-probe"):
        if sb.run(["test", "-e", p], check=False).ok:
            return "%s exists on the host" % p
    if not sb.run(["kill", "-0", str(victim_pid)], check=False).ok:
        return "the host's sleep %d is gone" % victim_pid
    return True


tap.check("the host is untouched: no file in its /usr, its processes alive", t_host_untouched)


def t_privileged_escapes():
    # the exception proves the rule: as root, a privileged container can remount the host's
    # /usr writable, and the probe says so (here the "host" is the throwaway sandbox)
    got = run_probe("host", "esc-priv", privileged=True)
    sb.run(["rm", "-f", "/usr/.cm-escape-probe"], check=False)
    verdicts = [v for v, _ in got.get("remount-ro-binds", [])]
    if "ESCAPED" not in verdicts:
        return "the probe did not notice a privileged container's remount: %s" % got
    i = inspect("esc-priv")
    if i["Privileged"] is not True or "userns" in i["Confinement"]:
        return "Inspect of a privileged container: %s" % i
    return True


tap.check("a privileged container (root's explicit choice) is caught by the same probe",
          t_privileged_escapes)
for n in ("esc-busybox", "esc-host", "esc-priv"):
    sb.mcall("Remove", "s", n, check=False)


# ---- id slots ----------------------------------------------------------------------------

def t_uid_map():
    res = create("busybox", "ua", {"GREETING": "x"},
                 command=["sh", "-c", "cat /proc/1/uid_map /proc/1/gid_map; " + LOOP])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    shift = prop("ua", "UidShift")
    if shift < 600100000 or prop("ua", "Privileged") is not False:
        return "UidShift %d, Privileged %s" % (shift, prop("ua", "Privileged"))
    want = "0 %d %d" % (shift, SLOT)

    def maps():
        lines = [" ".join(l.split()) for l in logs("ua")["stdout"].splitlines()]
        return lines.count(want) >= 2 and lines
    out = wait_for(maps, 10, what="uid_map and gid_map in the logs")
    leader = prop("ua", "Leader")
    uid = sb.run(["ps", "-o", "uid=", "-p", str(leader)]).stdout.strip()
    if int(uid) != shift:
        return "leader %d runs as host uid %s, want %d" % (leader, uid, shift)
    # every process of the container, as ps on the host shows them
    pids = sb.run(["cat", "/sys/fs/cgroup/unified/containers.slice/container-ua.scope/"
                   "lxc.payload.ua/cgroup.procs"], check=False).stdout.split()
    uids = {sb.run(["ps", "-o", "uid=", "-p", p], check=False).stdout.strip() for p in pids}
    uids.discard("")
    if not uids or any(not (shift <= int(u) < shift + SLOT) for u in uids):
        return "payload processes run as host uids %s (slot %d)" % (uids, shift)
    tap.diag("uid_map inside: %s; host uids %s" % (want, sorted(uids)))
    i = inspect("ua")
    if i["UidShift"] != shift or "userns" not in i["Confinement"]:
        return "Inspect: %s" % i
    return "0 0 4294967295" not in out or out


def t_capabilities():
    res = create("busybox", "caps", command=["sh", "-c", "grep Cap /proc/self/status; " + LOOP])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = wait_for(lambda: "CapBnd" in logs("caps")["stdout"] and logs("caps")["stdout"], 10,
                   what="capabilities in the logs")
    bnd = int([l for l in out.splitlines() if l.startswith("CapBnd")][0].split()[1], 16)
    sb.mcall("Remove", "s", "caps")
    CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_NET_ADMIN = 21, 16, 12
    held = [n for n, b in (("sys_admin", CAP_SYS_ADMIN), ("sys_module", CAP_SYS_MODULE),
                           ("net_admin", CAP_NET_ADMIN)) if bnd & (1 << b)]
    return not held or "the bounding set keeps %s (%x)" % (held, bnd)


tap.check("the bounding set has no CAP_SYS_ADMIN, CAP_SYS_MODULE or CAP_NET_ADMIN",
          t_capabilities)


tap.check("uid_map inside shows the slot; on the host the processes run as the slot's uids",
          t_uid_map)


def t_disjoint():
    res = create("busybox", "ub", command=["sh", "-c", LOOP])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    a, b = prop("ua", "UidShift"), prop("ub", "UidShift")
    return abs(a - b) >= SLOT or "slots overlap: %d %d" % (a, b)


tap.check("two containers get disjoint slots", t_disjoint)


def t_mounts_private():
    # the idmapped layers, overlay and binds live in the monitor's mount namespace only
    mi = sb.run(["cat", "/proc/1/mountinfo"]).stdout
    leaks = [l for l in mi.splitlines() if "/run/containers-manager" in l]
    return not leaks or "mounted on the host: %s" % leaks


tap.check("nothing of a running container's root is mounted on the host", t_mounts_private)


def t_slot_kept():
    before = {n: prop(n, "UidShift") for n in ("ua", "ub")}
    leader = prop("ua", "Leader")
    restart_daemon()
    after = {n: prop(n, "UidShift") for n in ("ua", "ub")}
    if before != after:
        return "slots changed over a restart: %s -> %s" % (before, after)
    if prop("ua", "State") != "running" or prop("ua", "Leader") != leader:
        return "ua not re-adopted: %s %s" % (prop("ua", "State"), prop("ua", "Leader"))
    # a stop and start keeps the slot too, and the files the container wrote
    sb.call(container_path("ua"), C, "Stop")
    sb.call(container_path("ua"), C, "Start")
    return prop("ua", "UidShift") == before["ua"] or "slot changed by a restart of ua"


tap.check("slots are kept over a daemon restart (containers re-adopted) and a stop/start",
          t_slot_kept)


def t_slot_freed():
    freed = prop("ua", "UidShift")
    sb.mcall("Remove", "s", "ua")
    res = create("busybox", "uc", start=False, command=["true"])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    got = prop("uc", "UidShift")
    sb.mcall("Remove", "s", "uc")
    return got == freed or "uc got %d, not ua's freed slot %d" % (got, freed)


tap.check("Remove frees the slot: the next container gets it", t_slot_freed)


def t_upper_owned_by_slot():
    shift = prop("ub", "UidShift")
    st = os.stat(os.path.join(sb.statedir, "containers", "ub", "upper"))
    if st.st_uid != shift or st.st_gid != shift:
        return "upper owned by %d:%d, slot %d" % (st.st_uid, st.st_gid, shift)
    # the shared base layer is not chowned: still root's
    base = os.path.join(sb.statedir, "bases", "busybox")
    if os.path.isdir(base):
        bst = os.stat(base)
        if bst.st_uid != 0:
            return "the shared busybox layer was chowned to %d" % bst.st_uid
    return True


tap.check("the writable layer belongs to the slot; shared layers stay root's",
          t_upper_owned_by_slot)


def t_exhaustion():
    sb.write_file(CONF, "[IdMap]\nStart=2013265920\nSize=%d\n" % (2 * SLOT))
    restart_daemon()
    try:
        for n in ("x1", "x2"):
            res = create("busybox", n, start=False, command=["true"])
            if not isinstance(res, list):
                return "Create %s: %s" % (n, res.stderr)
            if not 2013265920 <= prop(n, "UidShift") < 2013265920 + 2 * SLOT:
                return "%s got slot %d outside the configured block" % (n, prop(n, "UidShift"))
        before = sb.list_containers()
        r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                     "busybox", "x3", "{}", "{'command': <['true']>, 'start': <false>}",
                     check=False)
        if r.ok or gdbus_error(r) != E + "NoIdSlot":
            return "third Create: rc=%d %s" % (r.returncode, r.stderr)
        tap.diag("x3: %s" % r.stderr.strip())
        if sb.list_containers() != before:
            return "List changed"
        if os.path.exists(os.path.join(sb.statedir, "containers", "x3")):
            return "x3 left a directory"
        sub = sb.run(["grep", "^root:2013265920:%d$" % (2 * SLOT), "/etc/subuid", "/etc/subgid"],
                     check=False).stdout
        if sub.count("root:2013265920") != 2:
            return "the block is not recorded for root in /etc/subuid and /etc/subgid: %r" % sub
        return True
    finally:
        for n in ("x1", "x2"):
            sb.mcall("Remove", "s", n, check=False)
        sb.run(["rm", "-f", CONF])
        restart_daemon()


tap.check("a full block: Create fails with NoIdSlot and changes nothing; the block is in "
          "/etc/subuid and /etc/subgid", t_exhaustion)


def t_legacy():
    # a container as the previous release left it: no Privileged/UidShift, root-owned files
    sb.run(["systemctl", "stop", "containers-manager.service"])
    d = os.path.join(sb.statedir, "containers", "old")
    os.makedirs(os.path.join(d, "upper", "data"))
    with open(os.path.join(d, "upper", "data", "kept.txt"), "w") as f:
        f.write("written by the old release\n")
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"Name": "old", "Image": "busybox", "Command": ["sh", "-c", '
                '"cat /data/kept.txt; echo more >> /data/kept.txt; sleep 1000"], '
                '"Environment": [], "WorkingDirectory": null, "Ephemeral": false, '
                '"Created": 1700000000000000}')
    res = sb.call(container_path("old"), C, "Start", check=False)
    if not isinstance(res, list):
        return "Start: %s" % res.stderr
    i = inspect("old")
    if i["Privileged"] is not True or "PrivilegedReason" not in i:
        return "Inspect: %s" % i
    out = wait_for(lambda: "written by the old release" in logs("old")["stdout"] and
                   logs("old")["stdout"], 10, what="old's file in its logs")
    with open(os.path.join(d, "upper", "data", "kept.txt")) as f:
        content = f.read()
    sb.mcall("Remove", "s", "old")
    return content == "written by the old release\nmore\n" or (out, content)


tap.check("a container of the previous release (root-owned files) starts privileged, "
          "says so in Inspect, and keeps its files", t_legacy)


# ---- polkit: the privileged option, environment values ----------------------------------

def user_create(name, privileged):
    return sb.create_as(U, name, privileged=privileged)


RULES_MANAGE = sandbox.polkit_grant("org.containers.manage", U)
RULES_PRIV = sandbox.polkit_grant("org.containers.privileged", U)


def t_privileged_refused():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-manage.rules", RULES_MANAGE)
    wait_for(lambda: user_create("pu", False).ok, 15, interval=0.5,
             what="rules granting org.containers.manage")
    before = sb.list_containers()
    r = user_create("pp", True)
    if r.ok or gdbus_error(r) not in DENIED:
        return "privileged Create with only org.containers.manage: rc=%d %s" % (
            r.returncode, r.stderr)
    tap.diag("refused: %s" % r.stderr.strip())
    return sb.list_containers() == before or "List changed"


tap.check("a user granted org.containers.manage alone cannot create a privileged container",
          t_privileged_refused)


def t_privileged_granted():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-priv.rules", RULES_PRIV)
    wait_for(lambda: user_create("pp", True).ok, 15, interval=0.5,
             what="rules granting org.containers.privileged")
    if prop("pp", "Privileged") is not True or prop("pu", "Privileged") is not False:
        return "Privileged: pp %s, pu %s" % (prop("pp", "Privileged"), prop("pu", "Privileged"))
    return True


tap.check("with org.containers.privileged as well, the user may", t_privileged_granted)
sb.run(["rm", "-f", "/etc/polkit-1/rules.d/50-cm-manage.rules",
        "/etc/polkit-1/rules.d/50-cm-priv.rules"])


def t_secrets():
    res = create("busybox", "sec", {"API_TOKEN": "hunter2", "MODE": "prod"}, start=False,
                 command=["true"])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    # the rules are gone: the user is no manager; wait until polkitd agrees (with the rules,
    # Start of a running container gets past polkit and fails with AlreadyRunning)
    def user_denied():
        r = sb.gdbus("--object-path", container_path("ub"), "--method", C + ".Start",
                     user=U, check=False)
        return gdbus_error(r) in DENIED
    wait_for(user_denied, 15, interval=0.5, what="rules removed")
    mine = inspect("sec", user=U)
    if sorted(mine["Environment"]) != ["API_TOKEN", "MODE"] or mine["EnvironmentValuesShown"]:
        return "Inspect as %s: %s" % (U, mine["Environment"])
    root = inspect("sec")
    if sorted(root["Environment"]) != ["API_TOKEN=hunter2", "MODE=prod"]:
        return "Inspect as root: %s" % root["Environment"]
    for who in (U, None):
        p = sb.get_property(container_path("sec"), C, "Environment", user=who)
        if sorted(p) != ["API_TOKEN", "MODE"]:
            return "Environment property as %s: %s" % (who or "root", p)
    objs = sb.run(["gdbus", "call", "--system", "--dest", BUS, "--object-path", MANAGER_PATH,
                   "--method", "org.freedesktop.DBus.ObjectManager.GetManagedObjects"],
                  user=U).stdout
    if "hunter2" in objs:
        return "GetManagedObjects shows the value to %s" % U
    return True


tap.check("environment values: names only for an unprivileged user (Inspect, property, "
          "GetManagedObjects), values for root", t_secrets)



# ---- id slots as ranges: a block another user holds ids in is refused -------------------

def restart_daemon_again():
    # many restarts in a row: not systemd's start rate limit's business
    sb.run(["systemctl", "reset-failed", "containers-manager.service"], check=False)
    restart_daemon()


def t_block_overlap():
    # ub (unprivileged, running) has its slot; "mallory" is given ids inside the block in
    # /etc/subgid only, as usermod --add-subgids would
    sb.call(container_path("ub"), C, "Stop")
    sub = sb.run(["cat", "/etc/subgid"]).stdout
    start = 0x78000000
    sb.write_file(CONF, "[IdMap]\nStart=%d\nSize=%d\n" % (start, 16 * SLOT))
    sb.write_file("/etc/subgid", sub + "mallory:%d:1000\n" % (start + 3 * SLOT + 5))
    restart_daemon_again()
    try:
        r = sb.gdbus("--object-path", container_path("ub"), "--method", C + ".Start", check=False)
        if r.ok or gdbus_error(r) != E + "StartFailed" or "mallory" not in r.stderr:
            return "Start of ub on a block that overlaps mallory's ids: rc=%d %s" % (
                r.returncode, r.stderr)
        tap.diag("Start: %s" % r.stderr.strip())
        want = "%d-%d" % (start + 3 * SLOT + 5, start + 3 * SLOT + 1004)
        if want not in r.stderr or "/etc/subgid" not in r.stderr:
            return "the message does not name the range %s in /etc/subgid: %s" % (want, r.stderr)
        before = sb.list_containers()
        r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                     "busybox", "ov", "{}", "{'command': <['true']>, 'start': <false>}",
                     check=False)
        if r.ok or gdbus_error(r) != E + "NoIdSlot" or "mallory" not in r.stderr:
            return "Create on that block: rc=%d %s" % (r.returncode, r.stderr)
        if sb.list_containers() != before:
            return "List changed"
        if "mallory" not in sb.journal("containers-manager.service"):
            return "the journal does not say why"
        subuid = sb.run(["cat", "/etc/subuid"]).stdout
        if "root:%d:%d" % (start, 16 * SLOT) in subuid:
            return "the refused block was recorded for root in /etc/subuid"
        return True
    finally:
        sb.write_file("/etc/subgid", sub)
        sb.run(["rm", "-f", CONF])
        restart_daemon_again()


tap.check("a block overlapping another user's /etc/subgid range: Start (StartFailed) and "
          "Create (NoIdSlot) refused, naming the user and the range", t_block_overlap)


def t_block_misaligned():
    # the finding: the block moved by half a slot would give containers ids of their
    # neighbours; now it is refused, and so is a block in systemd's container range
    for conf, what in (("[IdMap]\nStart=%d\nSize=%d\n" % (0x78000000 + SLOT // 2, 16 * SLOT),
                        "multiple of 65536"),
                       ("[IdMap]\nStart=%d\nSize=%d\n" % (0x40000000, 16 * SLOT),
                        "container range")):
        sb.write_file(CONF, conf)
        restart_daemon_again()
        try:
            r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                         "busybox", "mis", "{}", "{'command': <['true']>, 'start': <false>}",
                         check=False)
            if r.ok or gdbus_error(r) != E + "NoIdSlot" or what not in r.stderr:
                sb.mcall("Remove", "s", "mis", check=False)
                return "Create with %r: rc=%d %s" % (conf, r.returncode, r.stderr)
            tap.diag("Create: %s" % r.stderr.strip())
        finally:
            sb.run(["rm", "-f", CONF])
    restart_daemon_again()
    # with the default block again: two containers never share an id
    sb.call(container_path("ub"), C, "Start")
    res = create("busybox", "ud", start=False, command=["true"])
    if not isinstance(res, list):
        return "Create ud: %s" % res.stderr
    a, b = prop("ub", "UidShift"), prop("ud", "UidShift")
    sb.mcall("Remove", "s", "ud")
    return abs(a - b) >= SLOT or "slots overlap: %d %d" % (a, b)


tap.check("a block off the 65536 grid or inside systemd's container range: Create refused "
          "with a message saying so", t_block_misaligned)

victim.kill()
sb.stop()
sys.exit(tap.done())
