#!/usr/bin/python3
"""The containers' own seccomp profile (data/containers-manager.seccomp) and capability drops:
inside an ordinary container tests/probe/seccomp-probe finds no way to a new user namespace
(unshare, clone, clone3), io_uring, packet or raw sockets, mounts old or new, keyrings, bpf,
perf_event_open, userfaultfd, address-space personalities, file handles, clock setting; CapBnd
lacks CAP_NET_RAW; ordinary programs (busybox sh and httpd, python3 with threads and
subprocesses on the host base) work. The Create option 'nesting' needs
org.containers.privileged, and a container made with it may make user namespaces (and mount in
them) while everything else stays refused."""

import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, HELPER_DIR, TEST_USER,  # noqa: E402
                     busctl_create_args, container_path, gdbus_error, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
C = CONTAINER_IFACE
U = TEST_USER
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
PROBE = HELPER_DIR + "/seccomp-probe"
CAP_NET_RAW = 13

# What the default profile answers (its own errno: for most of these a container without it
# gets something else from the kernel, e.g. ENOENT for mount, EINVAL for bpf, EBADF for
# io_uring_enter, or the call works).
EXPECT = {
    "unshare-user": "EPERM", "clone-newuser": "EPERM", "clone3-newuser": "ENOSYS",
    "userns-mount": "EPERM",
    "io_uring_setup": "ENOSYS", "io_uring_enter": "ENOSYS", "io_uring_register": "ENOSYS",
    "af_packet": "EPERM", "af_packet-dgram": "EPERM", "raw-ip": "EPERM",
    "mount": "EPERM", "umount2": "EPERM", "pivot_root": "EPERM", "open_tree": "EPERM",
    "move_mount": "EPERM", "fsopen": "EPERM", "fsconfig": "EPERM", "fsmount": "EPERM",
    "fspick": "EPERM", "mount_setattr": "EPERM",
    "keyctl": "ENOSYS", "add_key": "ENOSYS", "request_key": "ENOSYS",
    "bpf": "EPERM", "perf_event_open": "EPERM", "userfaultfd": "EPERM",
    "personality-norandom": "EPERM", "personality-query": "ok",
    "setns": "EPERM", "name_to_handle_at": "EPERM", "clock_settime": "EPERM",
    "swapon": "EPERM", "reboot": "EPERM", "acct": "EPERM",
    "ordinary": "ok",
}
# With 'nesting': user namespaces, and mounts inside them, work; the rest stays refused.
NESTING_OPEN = {"unshare-user": "ok", "clone-newuser": "ok", "clone3-newuser": "ok",
                "userns-mount": "ok"}
NESTING_STILL = ["io_uring_setup", "af_packet", "raw-ip", "keyctl", "bpf", "perf_event_open",
                 "userfaultfd", "personality-norandom", "ordinary"]


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def inspect(name):
    out = sb.call(container_path(name), C, "Inspect")[0]
    return {k: v["data"] for k, v in out.items()}


def create(image, name, **opts):
    return sb.mcall(*(["Create"] + busctl_create_args(image, name, {}, opts)), check=False)


def logs(name):
    return sb.call(container_path(name), C, "Logs", "a{sv}", "0")[0]


def wait_stopped(name, timeout=60):
    wait_for(lambda: prop(name, "State") in ("stopped", "failed"), timeout,
             what="%s to stop" % name)


def output_of(name, mark):
    """The container's stdout once it has stopped and its last line (mark) is in the journal."""
    wait_stopped(name)
    try:
        return wait_for(lambda: mark in logs(name)["stdout"] and logs(name)["stdout"], 15,
                        interval=0.2, what="%s's last line" % name)
    except TimeoutError:
        return logs(name)["stdout"]


# The probe is static; the host base shares the sandbox's /usr, where the helpers are.
dest = os.path.join(sb.root, PROBE.lstrip("/"))
os.makedirs(os.path.dirname(dest), exist_ok=True)
shutil.copy(os.path.join(sandbox.build_root(), "tests", "seccomp-probe"), dest)
os.chmod(dest, 0o755)


def run_probe(name, **opts):
    res = create("host", name, command=[PROBE], **opts)
    if not isinstance(res, list):
        raise RuntimeError("Create %s: %s" % (name, res.stderr))
    out = output_of(name, "PROBE-DONE")
    if "PROBE-DONE" not in out:
        raise RuntimeError("the probe did not finish: %r" % out[-2000:])
    got = {}
    for line in out.splitlines():
        if line.startswith("STATUS "):
            tap.diag("%s: %s" % (name, line))
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "PROBE":
            got[parts[1]] = (parts[2], parts[3] if len(parts) > 3 else "")
    return got


try:
    plain = run_probe("sc-plain")
except Exception as e:
    plain = e
# for comparison with the containers' count (a diagnostic): the filters the service runs under
tap.diag("the service (pid %d): %s" % (sb.daemon_pid(), sb.run(
    ["sh", "-c", "grep ^Seccomp_filters /proc/%d/status" % sb.daemon_pid()], check=False).stdout.strip()))

# One check per kind; each holds a call the kernel lets through (or answers otherwise) without
# the profile, so each fails on a container with LXC's five-rule profile and CAP_NET_RAW.
GROUPS = [
    ("no new user namespace (unshare, clone, clone3), hence no mount in one",
     ["unshare-user", "clone-newuser", "clone3-newuser", "userns-mount"]),
    ("no io_uring", ["io_uring_setup", "io_uring_enter", "io_uring_register"]),
    ("no packet or raw sockets", ["af_packet", "af_packet-dgram", "raw-ip"]),
    ("no mount, old API or new, refused before its arguments are read",
     ["mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig",
      "fsmount", "fspick", "mount_setattr"]),
    ("no kernel keyrings", ["keyctl", "add_key", "request_key"]),
    ("no bpf, perf_event_open, userfaultfd", ["bpf", "perf_event_open", "userfaultfd"]),
    ("personality: ADDR_NO_RANDOMIZE refused, the query allowed",
     ["personality-norandom", "personality-query"]),
    ("no file handles, setns, clock setting, swap, reboot, acct; fork, pipe, sockets work",
     ["name_to_handle_at", "setns", "clock_settime", "swapon", "reboot", "acct", "ordinary"]),
]
assert sorted(p for _, ps in GROUPS for p in ps) == sorted(EXPECT)

for title, probes in GROUPS:
    def t(probes=probes):
        if isinstance(plain, Exception):
            return "probe run failed: %s" % plain
        bad = []
        for p in probes:
            verdict, detail = plain.get(p, ("missing", ""))
            tap.diag("%s: %s %s" % (p, verdict, detail))
            if verdict != EXPECT[p]:
                bad.append("%s: got %s (%s), want %s" % (p, verdict, detail, EXPECT[p]))
        return not bad or "; ".join(bad)
    tap.check("ordinary container: " + title, t)


def t_confinement_named():
    i = inspect("sc-plain")
    return ("seccomp:containers-manager" in i["Confinement"] and i["Nesting"] is False
            or "Inspect: %s" % i)


tap.check("Inspect names the profile (seccomp:containers-manager) and Nesting false",
          t_confinement_named)


def t_capbnd():
    res = create("busybox", "sc-caps", command=["sh", "-c", "grep -E '^(CapBnd|CapEff):' /proc/self/status; echo END"])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = output_of("sc-caps", "END")
    caps = dict(line.split(":\t") for line in out.splitlines() if ":\t" in line)
    if "CapBnd" not in caps:
        return "no CapBnd in %r" % out
    bnd, eff = int(caps["CapBnd"], 16), int(caps["CapEff"], 16)
    return (not bnd & (1 << CAP_NET_RAW) and not eff & (1 << CAP_NET_RAW)) or \
        "CapBnd %x, CapEff %x hold CAP_NET_RAW" % (bnd, eff)


tap.check("CAP_NET_RAW is not in the container's bounding or effective set", t_capbnd)


PINGPY = r"""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.settimeout(5)
body = struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"cm-ping"
s.sendto(body, ("127.0.0.1", 0))
data, _ = s.recvfrom(64)
print("ICMP-REPLY" if data[0] == 0 and data.endswith(b"cm-ping") else "ICMP-OTHER %r" % data)
"""


def t_ping():
    # what ping does without CAP_NET_RAW (iputils' ping in an OCI image, not busybox's, which
    # only knows raw sockets): an ICMP datagram socket, allowed by the container's
    # net.ipv4.ping_group_range
    res = create("host", "sc-ping", command=["sh", "-c", "cat /proc/sys/net/ipv4/ping_group_range; "
                                             "python3 -c '%s'; echo END" % PINGPY.replace("'", '"')])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = output_of("sc-ping", "END")
    return "ICMP-REPLY" in out or out


tap.check("an ICMP echo over a datagram socket (unprivileged ping) works without CAP_NET_RAW",
          t_ping)


def t_busybox_programs():
    # wget retries (at most 100 times) until httpd listens
    script = ("mkdir -p /www && echo hello-from-httpd > /www/index.html && "
              "{ httpd -f -p 127.0.0.1:8080 -h /www & pid=$!; } && "
              "for i in $(seq 100); do wget -q -O - http://127.0.0.1:8080/index.html && break; "
              "sleep 0.1; done; kill $pid; "
              "echo a b c | sed s/b/x/ && sh -c 'echo sub-shell' && echo END")
    res = create("busybox", "sc-bb", command=["sh", "-c", script])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = output_of("sc-bb", "END")
    return all(w in out for w in ("hello-from-httpd", "a x c", "sub-shell", "END")) or out


tap.check("busybox sh, httpd, wget and sed work in an ordinary container", t_busybox_programs)

PY = r"""
import subprocess, threading, socket, os, tempfile
r = []
t = threading.Thread(target=lambda: r.append(sum(range(1000))))
t.start(); t.join()
out = subprocess.run(["sh", "-c", "echo from-child"], capture_output=True, text=True).stdout.strip()
a, b = socket.socketpair(); a.send(b"pong"); got = b.recv(4).decode()
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "f"), "w").write("x")
print("PY", r[0], out, got, "END")
"""


def t_python():
    res = create("host", "sc-py", command=["python3", "-c", PY])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = output_of("sc-py", "END")
    return "PY 499500 from-child pong END" in out or out


tap.check("python3 with a thread, a subprocess and sockets works on the host base (clone3 falls "
          "back to clone)", t_python)


# ---- the nesting option -----------------------------------------------------------------

def user_create(name, nesting):
    return sb.create_as(U, name, nesting=nesting)


RULES_MANAGE = sandbox.polkit_grant("org.containers.manage", U)
RULES_PRIV = sandbox.polkit_grant("org.containers.privileged", U)


def t_nesting_refused():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-manage.rules", RULES_MANAGE)
    wait_for(lambda: user_create("sc-u", False).ok, 15, interval=0.5,
             what="rules granting org.containers.manage")
    before = sb.list_containers()
    r = user_create("sc-un", True)
    if r.ok or gdbus_error(r) not in DENIED:
        return "nesting Create with only org.containers.manage: rc=%d %s %s" % (
            r.returncode, r.stdout, r.stderr)
    tap.diag("refused: %s" % r.stderr.strip())
    return sb.list_containers() == before or "List changed"


tap.check("a user granted org.containers.manage alone cannot create a nesting container",
          t_nesting_refused)


def t_nesting_granted():
    sb.write_file("/etc/polkit-1/rules.d/50-cm-priv.rules", RULES_PRIV)
    wait_for(lambda: user_create("sc-un", True).ok, 15, interval=0.5,
             what="rules granting org.containers.privileged")
    return (prop("sc-un", "Privileged") is False and inspect("sc-un")["Nesting"] is True
            and inspect("sc-u")["Nesting"] is False) or (inspect("sc-un"), inspect("sc-u"))


tap.check("with org.containers.privileged as well, the user may (Inspect: Nesting true)",
          t_nesting_granted)
sb.run(["rm", "-f", "/etc/polkit-1/rules.d/50-cm-manage.rules",
        "/etc/polkit-1/rules.d/50-cm-priv.rules"])

try:
    nested = run_probe("sc-nest", nesting=True)
except Exception as e:
    nested = e


def t_nesting_opens_userns():
    if isinstance(nested, Exception):
        return "probe run failed: %s" % nested
    bad = {p: nested.get(p) for p, want in NESTING_OPEN.items() if nested.get(p, ("?",))[0] != want}
    return not bad or "not open with nesting: %s" % bad


tap.check("nesting (as root): unshare/clone/clone3 with CLONE_NEWUSER and a mount inside work",
          t_nesting_opens_userns)


def t_nesting_keeps_rest():
    if isinstance(nested, Exception):
        return "probe run failed: %s" % nested
    bad = {p: nested.get(p) for p in NESTING_STILL if nested.get(p, ("?",))[0] != EXPECT[p]}
    return not bad or "changed by nesting: %s" % bad


tap.check("nesting leaves io_uring, packet sockets, keyrings, bpf, perf... refused",
          t_nesting_keeps_rest)


def t_nesting_unshare_cmd():
    # util-linux's unshare from the host's /usr: a user namespace with root mapped
    res = create("host", "sc-nest-cmd", nesting=True,
                 command=["sh", "-c", "unshare -U -r sh -c 'id -u; cat /proc/self/uid_map'; echo END"])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = output_of("sc-nest-cmd", "END")
    return (out.split()[0] == "0" and "END" in out) or out


tap.check("nesting: `unshare -U -r` runs a shell as root of a nested user namespace",
          t_nesting_unshare_cmd)


def t_nesting_kept():
    i = inspect("sc-nest")
    if "seccomp:nesting" not in i["Confinement"] or i["Nesting"] is not True:
        return "Inspect before the restart: %s" % i
    sb.run(["systemctl", "restart", "containers-manager.service"])
    wait_for(lambda: sb.unit_active("containers-manager.service") == "active", 20,
             what="daemon restarted")
    i = inspect("sc-nest")
    return (i["Nesting"] is True and "seccomp:nesting" in i["Confinement"]
            and inspect("sc-plain")["Nesting"] is False) or "after the restart: %s" % i


tap.check("Inspect names seccomp:nesting; Nesting survives a daemon restart", t_nesting_kept)


def t_plain_unshare_cmd():
    res = create("host", "sc-plain-cmd",
                 command=["sh", "-c", "unshare -U -r true; echo rc=$? END"])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    out = output_of("sc-plain-cmd", "END")
    return "rc=0" not in out and "END" in out or out


tap.check("ordinary container: `unshare -U -r` fails", t_plain_unshare_cmd)

for n in ("sc-plain", "sc-caps", "sc-ping", "sc-bb", "sc-py", "sc-u", "sc-un", "sc-nest", "sc-nest-cmd",
          "sc-plain-cmd"):
    sb.mcall("Remove", "s", n, check=False)
sb.stop()
sys.exit(tap.done())
