"""SIGKILL the daemon while Create, Start, Stop and Remove calls are in flight; after each
restart every container's state must agree with its scope, and at the end no scope may run
without a container. Shared by test-crash.py (a short loop) and bench/crash (a long one)."""

import random
import time

from sandbox import BUS, MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, LOOP, container_path, wait_for

SVC = "containers-manager.service"
ACTIVE = ("running", "starting", "stopping")


def _call_script(name, verb):
    """A shell command that makes one call and does not care how it ends."""
    if verb == "create":
        return ("busctl --system --timeout=30 -- call %s %s %s Create 'ssa{ss}a{sv}' busybox %s 0 "
                "1 command as 3 sh -c %s >/dev/null 2>&1" %
                (BUS, MANAGER_PATH, MANAGER_IFACE, name, _q(LOOP)))
    if verb == "remove":
        return ("busctl --system --timeout=30 call %s %s %s Remove s %s >/dev/null 2>&1" %
                (BUS, MANAGER_PATH, MANAGER_IFACE, name))
    return ("busctl --system --timeout=30 call %s %s %s %s >/dev/null 2>&1" %
            (BUS, container_path(name), CONTAINER_IFACE, verb.capitalize()))


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def scopes(sb):
    out = sb.run(["systemctl", "list-units", "--plain", "--no-legend", "--state=active,activating,deactivating",
                  "container-*.scope"], check=False).stdout
    return {l.split()[0][len("container-"):-len(".scope")] for l in out.splitlines() if l.strip()}


def disagreements(sb):
    """[(name, state, scope state)] where List and systemd disagree, once nothing is moving."""
    def settled():
        lst = sb.list_containers()
        return all(c["state"] not in ("starting", "stopping") for c in lst.values()) and lst
    try:
        lst = wait_for(settled, 30, interval=0.2, what="containers to settle")
    except TimeoutError:
        lst = sb.list_containers()
    running = scopes(sb)
    bad = []
    for name, c in lst.items():
        if (c["state"] in ACTIVE) != (name in running):
            bad.append((name, c["state"], "active" if name in running else "inactive"))
    for name in running - set(lst):
        bad.append((name, "(no container)", "active"))
    return bad


def run(sb, rounds, seed=1, log=None):
    """Returns (rounds run, [disagreements found after each round])."""
    rnd = random.Random(seed)
    names = ["k%d" % i for i in range(6)]
    found = []
    for r in range(rounds):
        sb.mcall("List")        # activate
        known = set(sb.list_containers())
        cmds = []
        for n in names:
            if n not in known:
                verb = "create"
            else:
                verb = rnd.choice(["start", "stop", "restart", "remove", "stop", "start"])
            cmds.append(_call_script(n, verb))
        script = " & ".join(cmds) + " & sleep %.3f; systemctl kill -s KILL %s; wait" % (
            rnd.uniform(0.0, 0.4), SVC)
        # calls still in flight after the kill activate a fresh instance, as clients would
        sb.run(["sh", "-c", script], check=False, timeout=120)
        bad = disagreements(sb)
        if log and bad:
            log("round %d: %s" % (r, bad))
            for name, _, scope in bad:
                if scope == "active":
                    log(sb.run(["systemctl", "status", "--no-pager", "-n", "5",
                                "container-%s.scope" % name], check=False).stdout)
                    log(sb.run(["journalctl", "--no-pager", "-o", "cat", "-n", "8", "CONTAINER=%s" % name],
                               check=False).stdout)
        found.append(bad)
    return rounds, found
