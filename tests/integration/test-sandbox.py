#!/usr/bin/python3
"""The throwaway systemd itself: two sandboxes booted at once each live in a cgroup of their
own, neither sees nor signals the other's units, and stop() leaves no process and no cgroup
behind, even when nspawn was killed and its guest outlived it."""

import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import wait_for  # noqa: E402

tap = sandbox.Tap()
if os.geteuid() != 0:
    print("1..0 # SKIP needs root (overlay mounts and systemd-nspawn)")
    sys.exit(0)
if sandbox.pid1_is_systemd():
    print("1..0 # SKIP PID 1 is systemd: the tests run on the host, not in sandboxes")
    sys.exit(0)

# no daemon needed: the bare host system is enough to boot
boxes = [sandbox.Sandbox(user=False), sandbox.Sandbox(user=False)]
errors = []


def boot(sb):
    try:
        sb.start()
    except Exception as e:
        errors.append(e)


threads = [threading.Thread(target=boot, args=(sb,)) for sb in boxes]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    tap.bail("sandbox setup failed: %s" % errors[0])
    sys.exit(1)
a, b = boxes


def own_cgroups(sb):
    """The guest PID 1's cgroup paths as the host sees them, by hierarchy."""
    with open("/proc/%d/cgroup" % sb.pid1) as f:
        return {l.split(":", 2)[1]: l.rstrip("\n").split(":", 2)[2] for l in f}


def t_own_cgroup():
    for sb in boxes:
        if not sb.cgroups:
            return "no cgroup made for %s" % sb.machine
        for c in sb.cgroups:
            if not os.path.isdir(c):
                return "%s does not exist" % c
    ca, cb = own_cgroups(a), own_cgroups(b)
    for h in ("name=systemd", ""):
        if h not in ca:
            continue
        if not ca[h].startswith("/" + a.machine + "/") or not cb[h].startswith("/" + b.machine + "/"):
            return "hierarchy %r: guests at %r and %r" % (h, ca[h], cb[h])


tap.check("each sandbox's PID 1 lives below a cgroup of its own, in every hierarchy", t_own_cgroup)


def probe_pids(sb):
    """PIDs in the probe unit's cgroup as the guest sees them."""
    cg = sb.run(["systemctl", "show", "-P", "ControlGroup", "probe.service"]).stdout.strip()
    out = sb.run("cat /sys/fs/cgroup/systemd%s/cgroup.procs 2>/dev/null || "
                 "cat /sys/fs/cgroup/unified%s/cgroup.procs 2>/dev/null || "
                 "cat /sys/fs/cgroup%s/cgroup.procs" % (cg, cg, cg), check=False).stdout
    return out.split()


def t_unit_not_seen():
    a.run(["systemd-run", "--unit=probe", "sleep", "100"])
    wait_for(lambda: a.unit_active("probe") == "active", 10, what="probe active in the first")
    state = b.unit_active("probe")
    if state == "active":
        return "the second sandbox sees the first's probe: %r" % state


tap.check("a unit started in one sandbox is not visible in the other", t_unit_not_seen)


def t_same_name():
    b.run(["systemd-run", "--unit=probe", "sleep", "100"])
    wait_for(lambda: b.unit_active("probe") == "active", 10, what="probe active in the second")
    for sb in boxes:
        pids = probe_pids(sb)
        if len(pids) != 1:
            return "%s: probe.service's cgroup holds %r, not one sleep" % (sb.machine, pids)


tap.check("a unit of the same name in each holds only its own process", t_same_name)


def t_kill():
    for this, other in ((a, b), (b, a)):
        r = this.run(["systemctl", "kill", "probe"], check=False)
        if not r.ok:
            return "systemctl kill in %s: %s" % (this.machine, r.stderr.strip())
        wait_for(lambda: this.unit_active("probe") in ("inactive", "failed", "unknown"), 10,
                 what="probe gone in %s" % this.machine)
        if this is a and other.unit_active("probe") != "active":
            return "systemctl kill in the first stopped the second's probe"


tap.check("systemctl kill works in each and touches only its own unit", t_kill)

# the two sandboxes go differently: the first cleanly, the second after its nspawn was
# SIGKILLed, which leaves the guest's systemd running on its own
cgroups = [list(sb.cgroups) for sb in boxes]
pid1s = [sb.pid1 for sb in boxes]


def running(pid):
    """A zombie does not count: whoever inherited the guest reaps it in its own time."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def t_stop_clean():
    a.stop()
    left = [c for c in cgroups[0] if os.path.exists(c)]
    if left:
        return "left behind: %r" % left
    if running(pid1s[0]):
        return "the guest's PID 1 %d still runs" % pid1s[0]


tap.check("stop() leaves no cgroup of the sandbox behind", t_stop_clean)


def t_stop_orphan():
    b.proc.kill()
    b.proc.wait()
    if not running(pid1s[1]):
        return "the guest died with nspawn: nothing to test"
    b.stop()
    if running(pid1s[1]):
        return "the guest's PID 1 %d outlived stop()" % pid1s[1]
    left = [c for c in cgroups[1] if os.path.exists(c)]
    if left:
        return "left behind: %r" % left


tap.check("stop() after nspawn was killed kills its guest and removes its cgroups",
          t_stop_orphan)



def t_tools_sandbox_under_tmp():
    # a checkout under /tmp (where nspawn mounts a tmpfs of its own): tools/sandbox runs the
    # command in the checkout's directory, as the README's examples do
    import shutil
    import subprocess
    import tempfile
    src = sandbox.source_root()
    clone = tempfile.mkdtemp(prefix="cm-clone.", dir="/tmp")
    try:
        for d in ("tools", os.path.join("tests", "integration")):
            shutil.copytree(os.path.join(src, d), os.path.join(clone, d))
        env = dict(os.environ, BUILD=os.path.abspath(sandbox.build_root()))
        r = subprocess.run([os.path.join(clone, "tools", "sandbox"), "sh", "-c",
                            "pwd; ls tools/sandbox; containerctl list"],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        want = "%s\ntools/sandbox\n" % clone
        return (r.returncode == 0 and r.stdout.startswith(want) and "0 containers listed." in r.stdout) or \
            "exit %d: %r" % (r.returncode, r.stdout[-2000:])
    finally:
        shutil.rmtree(clone, ignore_errors=True)


tap.check("tools/sandbox from a checkout under /tmp runs its command there", t_tools_sandbox_under_tmp)

sys.exit(tap.done())
