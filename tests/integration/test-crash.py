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
    n, found = crashloop.run(sb, ROUNDS, seed=7, log=tap.diag)
    bad = [b for b in found if b]
    tap.diag("%d rounds of SIGKILL with calls in flight, %d with a disagreement" % (n, len(bad)))
    return not bad or "state and scope disagree after %d of %d rounds" % (len(bad), n)


tap.check("after each SIGKILL of the daemon with calls in flight, every container's state "
          "agrees with its scope and no scope runs without a container", t_crash_loop)

sb.stop()
sys.exit(tap.done())
