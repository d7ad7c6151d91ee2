#!/usr/bin/python3
"""A daemon killed (SIGKILL) while Create, Start, Stop, Restart and Remove calls are in flight
loses nothing: after each restart every container's state agrees with its scope, and no scope
runs without a container (the long loop is bench/crash)."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import crashloop  # noqa: E402

ROUNDS = int(os.environ.get("CM_CRASH_ROUNDS", 12))
tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=3)


def t_crash_loop():
    try:
        n, found = crashloop.run(sb, ROUNDS, seed=7, log=tap.diag)
    except Exception:
        # Why the daemon did not answer: its own words.
        tap.diag(sb.run(["journalctl", "-b", "-u", "containers-manager.service", "-n", "40", "--no-pager"],
                        check=False).stdout)
        if os.environ.get("CM_CRASH_DEBUG"):
            tap.diag(sb.run(["sh", "-c", "ps -eo pid,ppid,stat,wchan:25,cmd; for p in $(pgrep -f containers-managerd); do "
                             "gdb -q -batch -p $p -ex bt 2>&1 | tail -25; done"], check=False, timeout=120).stdout)
        raise
    bad = [b for b in found if b]
    tap.diag("%d rounds of SIGKILL with calls in flight, %d with a disagreement" % (n, len(bad)))
    return not bad or "state and scope disagree after %d of %d rounds" % (len(bad), n)


tap.check("after each SIGKILL of the daemon with calls in flight, every container's state "
          "agrees with its scope and no scope runs without a container", t_crash_loop)

sb.stop()
sys.exit(tap.done())
