#!/usr/bin/python3
"""Logs() bounded (1000 lines by default, a size cap that says when it cut), FollowLogs()
streaming a container's output into a descriptor, and journald's rate limit per container
(held to journald's by default, lifted or set by a Create option)."""

import os
import queue
import re
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (CONTAINER_IFACE, HELPER_DIR, TEST_USER, busctl_create_args,  # noqa: E402
                     container_path, gdbus_error, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, stop_timeout=5)
C = CONTAINER_IFACE

# A reply cap the suite can fill quickly; the daemon is started by the first call below, after
# this drop-in is in place.
CAP = 100000
OVERHEAD = 4096
sb.write_file("/etc/systemd/system/containers-manager.service.d/50-logs-cap.conf",
              "[Service]\nEnvironment=CONTAINERS_MANAGER_LOGS_MAX_BYTES=%d\n" % CAP)
sb.run(["systemctl", "daemon-reload"])
# journald scales its burst with free space (up to 6x), so the "held to journald's limit" test
# sets journald's own limit to a value no flood of FLOOD lines fits in on any host.
JOURNALD_BURST = 1000
sb.write_file("/etc/systemd/journald.conf.d/50-cm-test.conf",
              "[Journal]\nRateLimitIntervalSec=30s\nRateLimitBurst=%d\n" % JOURNALD_BURST)
sb.run(["systemctl", "restart", "systemd-journald.service"])
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "followlogs.py")) as f:
    sb.write_file(HELPER_DIR + "/followlogs.py", f.read(), mode=0o755)
FOLLOW = ["/usr/bin/python3", HELPER_DIR + "/followlogs.py"]

TICKER = ("i=0; while :; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); "
          "usleep 200000; done")
UNITS = "/run/systemd/units"


def create(name, command, **opts):
    o = {"command": command}
    o.update(opts)
    return sb.mcall(*(["Create"] + busctl_create_args("busybox", name, {}, o)))


def logs(name, **opts):
    args = [str(len(opts))]
    for k, v in opts.items():
        args += [k, "u" if k == "lines" else "t", str(v)]
    return sb.call(container_path(name), C, "Logs", "a{sv}", *args)[0]


def followers():
    """PIDs of the service's follower processes in the sandbox."""
    out = sb.run(["pgrep", "-x", "cm-follow-logs"], check=False).stdout
    return [int(p) for p in out.split()]


class Follower:
    """followlogs.py inside the sandbox; its output lines arrive on a queue."""

    def __init__(self, name, *args, user=None):
        self.p = sb.popen(FOLLOW + [container_path(name)] + list(args), user=user,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.q = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.first = self.get(30)
        self.pid = int(self.first.split()[1]) if self.first and self.first.startswith("reply") else None

    def _pump(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def get(self, timeout):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def kill(self):
        if self.pid:
            sb.run(["kill", "-9", str(self.pid)], check=False)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def max_index(text, word):
    n = [int(m) for m in re.findall(r"^%s (\d+)$" % word, text, re.M)]
    return max(n) if n else -1


def t_follow_before_and_after():
    create("ticker", ["sh", "-c", TICKER])
    wait_for(lambda: max_index(logs("ticker", lines=0)["stdout"], "out") >= 5, 20, what="out 5")
    before = max_index(logs("ticker", lines=0)["stdout"], "out")
    # The history is the last N lines when the follower reads them, not at the call: a wide
    # margin (N/2 ticks) for a loaded machine where the follower starts late.
    f = Follower("ticker", "--lines", "40")
    if not f.first or not f.first.startswith("reply"):
        return "FollowLogs: %r %r" % (f.first, f.p.stderr.read() if f.p.poll() is not None else "")
    at_reply = max_index(logs("ticker", lines=0)["stdout"], "out")
    got = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = f.get(1)
        if line is None:
            continue
        got.append(line)
        if max_index("\n".join(l[7:] for l in got if l.startswith("stdout ")), "out") > at_reply + 3:
            break
    f.kill()
    outs, errs = [], []
    for l in got:
        kind, _, text = l.partition(" ")
        if kind == "stdout" and text.startswith("out "):
            outs.append(int(text[4:]))
        elif kind == "stderr" and text.startswith("err "):
            errs.append(int(text[4:]))
        else:
            return "a line marked wrong or unframed: %r" % l
    for what, seq in (("stdout", outs), ("stderr", errs)):
        if not seq or seq != list(range(seq[0], seq[0] + len(seq))):
            return "%s lines not contiguous: %r" % (what, seq)
    if outs[0] > before:
        return "no history: first stdout line %d, %d were there before the call" % (outs[0], before)
    if outs[-1] <= at_reply:
        return "no line written after the call arrived (last %d, %d at the reply)" % (outs[-1], at_reply)
    if len(got) < 6:
        return "lines=40 gave only %r" % got
    tap.diag("followed %d lines: out %d..%d (out %d written before the call, %d at the reply)"
             % (len(got), outs[0], outs[-1], before, at_reply))
    return True


tap.check("FollowLogs(lines=40): lines written before and after the call arrive, in order, "
          "each marked 'stdout ' or 'stderr '", t_follow_before_and_after)


def t_follow_reader_closes():
    create("quiet", ["sleep", "100000"])
    if followers():
        return "followers before the test: %r" % followers()
    f = Follower("quiet")
    if not f.first or not f.first.startswith("reply"):
        return "FollowLogs: %r" % f.first
    pids = wait_for(followers, 10, what="a follower process")
    if len(pids) != 1:
        return "followers: %r" % pids
    fds = sb.run(["sh", "-c", "for f in /proc/%d/fd/*; do echo ${f##*/} $(readlink $f); done" % pids[0]]).stdout
    table = dict(l.split(" ", 1) for l in fds.splitlines() if " " in l)
    if not table.get("3", "").startswith("pipe:"):
        return "fd 3 of the follower is not the caller's pipe: %r" % table
    others = {k: v for k, v in table.items() if int(k) > 3 and ("socket:" in v or "pipe:" in v)}
    if others:
        return "the follower holds descriptors it does not need: %r" % others
    f.kill()
    # the container is silent: only the hangup of the pipe can end the follower
    wait_for(lambda: not followers(), 10, what="the follower to exit")
    return True


tap.check("closing the read end ends the follower (it holds only the caller's pipe and the "
          "journal), even when the container writes nothing", t_follow_reader_closes)


def t_follow_remove():
    f = Follower("ticker")
    if not f.first or not f.first.startswith("reply"):
        return "FollowLogs: %r" % f.first
    if f.get(10) is None:
        return "no live line arrived"
    sb.mcall("Remove", "s", "ticker")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = f.get(1)
        if line == "EOF" or line is None and f.p.poll() is not None:
            break
    else:
        f.kill()
        return "the stream did not end when the container was removed"
    wait_for(lambda: not followers(), 10, what="no follower left")
    return True


tap.check("Remove of the container ends the stream (the reader sees EOF), no follower left",
          t_follow_remove)


def t_follow_denied():
    f = Follower("quiet", user=TEST_USER)
    f.p.wait(timeout=30)
    if not f.first or f.first.split()[:2] != ["error", "org.freedesktop.DBus.Error.AccessDenied"]:
        return "unprivileged FollowLogs: %r" % f.first
    return not followers() or "a follower runs: %r" % followers()


tap.check("FollowLogs as an unprivileged user: AccessDenied, no follower started", t_follow_denied)


def t_follow_bad_input():
    for args, what in ((["--bogus-option"], "an unknown option"), (["--read-end"], "a read-only fd")):
        f = Follower("quiet", *args)
        f.p.wait(timeout=30)
        if not f.first or f.first.split()[:2] != ["error", "org.freedesktop.DBus.Error.InvalidArgs"]:
            return "%s: %r" % (what, f.first)
    return not followers() or "a follower runs: %r" % followers()


tap.check("FollowLogs with an unknown option or a descriptor not open for writing: InvalidArgs",
          t_follow_bad_input)

N = 5000
FIVE = ("i=0; while [ $i -lt %d ]; do printf 'line %%05d of the output, padded to 40\\n' $i; "
        "i=$((i+1)); done; echo done >&2; exec sleep 100000" % N)
LINE = "line %05d of the output, padded to 40"


def stdout_tail(text):
    """The stdout lines of FIVE, checked to be the newest ones in order: their count."""
    lines = text.splitlines()
    if lines != [LINE % i for i in range(N - len(lines), N)]:
        raise AssertionError("not the newest lines in order: %r..%r" % (lines[:1], lines[-1:]))
    return len(lines)


def t_logs_default_1000():
    create("five", ["sh", "-c", FIVE], log_rate_limit_burst=0)
    # stdout and stderr are two streams journald reads in its own order: "done" on stderr can be
    # stored before the last stdout lines are, so wait for both
    # so wait for both; "done" may be stored before many stdout lines, so look for it in the
    # journal itself (a Logs reply is capped in this test)
    def stored():
        if (LINE % (N - 1)) not in logs("five", lines=5)["stdout"]:
            return False
        return sb.run(["sh", "-c", "journalctl -q -u container-five.scope -o cat --no-pager | grep -qx done"],
                      check=False).ok
    wait_for(stored, 60, interval=0.5, what="the last lines")
    out = logs("five")
    # both streams together: "done" on stderr may be among the last 1000 or not (journald
    # orders the two streams as it reads them)
    n = stdout_tail(out["stdout"]) + len(out["stderr"].splitlines())
    if n != 1000:
        return "Logs() gave %d lines" % n
    if "truncated" in out:
        return "a reply within the cap says truncated: %r" % out["truncated"]
    return True


tap.check("Logs() without 'lines' of a container that wrote %d lines returns the last 1000" % N,
          t_logs_default_1000)


def t_logs_cut():
    out = logs("five", lines=0)
    if "truncated" not in out:
        return "no 'truncated' key; %d bytes" % (len(out["stdout"]) + len(out["stderr"]))
    size = len(out["stdout"].encode()) + len(out["stderr"].encode())
    if size > CAP - OVERHEAD:
        return "%d bytes, the cap is %d" % (size, CAP)
    kept = stdout_tail(out["stdout"]) + len(out["stderr"].splitlines())
    m = re.match(r"(\d+) earlier lines left out", out["truncated"])
    if not m or int(m.group(1)) + kept != N + 1:
        return "truncated says %r; %d of %d lines were kept" % (out["truncated"], kept, N + 1)
    tap.diag("cap %d: %d bytes, %d lines kept; truncated: %s" % (CAP, size, kept, out["truncated"]))
    # a request that fits is not cut
    out = logs("five", lines=10)
    return "truncated" not in out or "lines=10 says truncated"


tap.check("Logs(lines=0) of more than the cap: the newest lines that fit, and 'truncated' "
          "says how many were left out", t_logs_cut)

FLOOD = 30000
FLOODER = ("i=0; while [ $i -lt %d ]; do echo \"flood $i\"; i=$((i+1)); done; "
           "echo done >&2; exec sleep 100000" % FLOOD)


def leftovers(name):
    """Our rate-limit files for the container's scope (PID 1 keeps others there, e.g. invocation:)."""
    return sb.run("ls %s | grep '^log-rate-limit-.*:container-%s.scope$' || true"
                  % (UNITS, name)).stdout.split()


def journal_count(name):
    return int(sb.run("journalctl -q -o cat -u container-%s.scope _TRANSPORT=stdout PRIORITY=6 "
                      "| wc -l" % name).stdout)


def settled_count(name, timeout=90):
    wait_for(lambda: "done" in sb.journal("container-%s.scope" % name), timeout, interval=0.5,
             what="the last line of %s" % name)
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 2:
        n = journal_count(name)
        if n != last:
            last, since = n, time.monotonic()
        time.sleep(0.5)
    return last


def t_rate_limit_default():
    create("flooddefault", ["sh", "-c", FLOODER])
    n = settled_count("flooddefault")
    tap.diag("by default journald kept %d of %d lines" % (n, FLOOD))
    if leftovers("flooddefault"):
        return "a container without the option has rate-limit files: %r" % leftovers("flooddefault")
    sb.mcall("Remove", "s", "flooddefault")
    return n < FLOOD or "all %d lines kept: no limit applied" % n


tap.check("by default a container is held to journald's rate limit: of %d lines at once "
          "fewer than all are kept" % FLOOD, t_rate_limit_default)


def t_rate_limit_lifted():
    create("floodlifted", ["sh", "-c", FLOODER], log_rate_limit_burst=0)
    n = settled_count("floodlifted")
    sb.mcall("Remove", "s", "floodlifted")
    return n == FLOOD or "with log_rate_limit_burst=0 journald kept %d of %d" % (n, FLOOD)


tap.check("log_rate_limit_burst=0 lifts the limit: all %d lines kept" % FLOOD, t_rate_limit_lifted)


def link(unit, what):
    r = sb.run(["readlink", "%s/log-rate-limit-%s:%s" % (UNITS, what, unit)], check=False)
    return r.stdout.strip() if r.ok else None




def t_rate_limit_files():
    sb.gdbus("--object-path", sandbox.MANAGER_PATH, "--method", sandbox.MANAGER_IFACE + ".Create",
             "busybox", "limited", "@a{ss} {}",
             "{'command': <['sleep', '100000']>, 'log_rate_limit_interval_usec': <uint64 5000000>, "
             "'log_rate_limit_burst': <uint32 77>}")
    unit = "container-limited.scope"
    if (link(unit, "interval"), link(unit, "burst")) != ("5000000", "77"):
        return "files while running: %r %r" % (link(unit, "interval"), link(unit, "burst"))
    info = sb.call(container_path("limited"), C, "Inspect")[0]
    if info.get("LogRateLimitIntervalUSec", {}).get("data") != 5000000 or \
            info.get("LogRateLimitBurst", {}).get("data") != 77:
        return "Inspect: %r" % {k: v for k, v in info.items() if k.startswith("Log")}
    config = sb.run(["cat", "/var/lib/containers-manager/containers/limited/config.json"]).stdout
    if '"LogRateLimitBurst" : 77' not in config:
        return "not stored: %s" % config
    sb.call(container_path("limited"), C, "Stop")
    if leftovers("limited"):
        return "left after Stop: %r" % leftovers("limited")
    sb.call(container_path("limited"), C, "Start")
    if link(unit, "burst") != "77":
        return "not set again at Start"
    sb.mcall("Remove", "s", "limited")
    if leftovers("limited"):
        return "left after Remove: %r" % leftovers("limited")
    # a payload that cannot be run: the start (and so the Create) fails, and takes it all back
    res = sb.mcall(*(["Create"] + busctl_create_args("busybox", "broken", {}, {
        "command": ["/no/such/program"], "log_rate_limit_burst": 0})), check=False)
    if isinstance(res, list) or "StartFailed" not in res.stderr and "failed to start" not in res.stderr:
        return "Create with a missing program: %r" % (res,)
    if leftovers("broken"):
        return "left after a failed start: %r" % leftovers("broken")
    return True


tap.check("the rate-limit options are stored, shown by Inspect, written to /run/systemd/units "
          "while it runs and nothing is left after Stop, Remove or a failed start",
          t_rate_limit_files)


def t_rate_limit_bad():
    res = sb.gdbus("--object-path", sandbox.MANAGER_PATH, "--method", sandbox.MANAGER_IFACE + ".Create",
                   "busybox", "badlimit", "@a{ss} {}",
                   "{'command': <['true']>, 'log_rate_limit_burst': <'many'>}", check=False)
    if gdbus_error(res) != "org.freedesktop.DBus.Error.InvalidArgs":
        return "burst as a string: %s %s" % (gdbus_error(res), res.stderr)
    return "badlimit" not in sb.list_containers() or "the failed Create left a container"


tap.check("Create with a rate-limit option of the wrong type: InvalidArgs, nothing created",
          t_rate_limit_bad)

def t_followers_do_not_starve_workers():
    # More followers than the daemon runs workers at once (16): Logs and Top must still answer.
    create("crowd", ["sh", "-c", TICKER])
    fs = [Follower("crowd") for _ in range(18)]
    try:
        bad = [f.first for f in fs if not f.first or not f.first.startswith("reply")]
        if bad:
            return "FollowLogs refused: %r" % bad[:3]
        t = time.monotonic()
        out = logs("crowd", lines=3)
        took = time.monotonic() - t
        if "out" not in out["stdout"] or took > 10:
            return "Logs with 18 followers: %.1f s, %r" % (took, out)
        top = sb.call(container_path("crowd"), C, "Top", timeout=30)
        if not top:
            return "Top with 18 followers: %r" % top
    finally:
        for f in fs:
            f.kill()
    return True


tap.check("18 FollowLogs streams (more than the 16 workers at once) leave Logs and Top answering",
          t_followers_do_not_starve_workers)


def t_stop_leaves_only_payload_output():
    # init.lxc, the container's PID 1, writes to its stderr when it passes SIGTERM on (it tries
    # to write pids.max of a cgroup v1 hierarchy the container does not have): none of that may
    # show up as the container's output.
    name = "hushed"
    create(name, ["sh", "-c", "trap 'exit 0' TERM; echo said-out; echo said-err >&2; "
                  "while :; do sleep 1 & wait $!; done"])
    wait_for(lambda: "said-err" in logs(name).get("stderr", ""), what="the payload's lines")
    sb.call(container_path(name), C, "Stop", timeout=60)
    time.sleep(1)  # whatever init.lxc and LXC write on the way out reaches the journal
    out = logs(name)
    try:
        if out.get("stdout", "").splitlines() != ["said-out"] or out.get("stderr", "").splitlines() != ["said-err"]:
            return "Logs after Stop: %r" % out
        # Everything any process of its scope wrote to the journal (the monitor included).
        j = sb.run(["journalctl", "-q", "-o", "cat", "_SYSTEMD_UNIT=container-%s.scope" % name],
                   check=False).stdout
        if sorted(j.splitlines()) != ["said-err", "said-out"]:
            return "journal of the scope: %r" % j
    finally:
        sb.mcall("Remove", "s", name, check=False)
    return True


tap.check("A stopped container's output is what its payload wrote, nothing of LXC or init.lxc",
          t_stop_leaves_only_payload_output)

sb.stop()
sys.exit(tap.done())
