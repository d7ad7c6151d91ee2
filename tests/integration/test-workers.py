#!/usr/bin/python3
"""Workers that parse untrusted data run confined (daemon/confine.c): an ImportImage worker,
while it waits for its archive, has no_new_privs, a seccomp filter and only the capabilities
writing the store takes (no CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE...);
its helper that marks opaque directories keeps CAP_SYS_ADMIN alone, behind the same filter.
That builds, imports and pulls still work through confined workers is test-build's and
test-snapshot's part."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import HELPER_DIR, wait_for  # noqa: E402

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py")) as f:
    sb.write_file(HELPER_DIR + "/imageclient.py", f.read(), mode=0o755)

FIFO = "/var/tmp/held-archive"
CAPS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "SETUID": 7,
        "NET_ADMIN": 12, "NET_RAW": 13, "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_PTRACE": 19,
        "SYS_ADMIN": 21, "MKNOD": 27, "BPF": 39}
STORE = {CAPS[c] for c in ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "MKNOD")}


def status(pid):
    text = sb.run(["cat", "/proc/%s/status" % pid], check=False).stdout
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def caps(st, key):
    mask = int(st[key].strip(), 16)
    return {c for c in range(64) if mask & (1 << c)}


def children(pid):
    return sb.run(["pgrep", "-P", str(pid)], check=False).stdout.split()


def t_import_confined():
    sb.mcall("List")    # the daemon runs: its children are the workers
    sb.run(["rm", "-f", FIFO])
    sb.run(["mkfifo", "-m", "0600", FIFO])
    # the client opens the FIFO and passes it; the worker then waits for the archive until
    # the shell closes its end on our word
    p = subprocess.Popen(sb.nsenter_argv(["sh", "-c", "/usr/bin/python3 %s/imageclient.py import held %s & "
                                          "exec 3>%s; read x; exec 3>&-; wait" % (HELPER_DIR, FIFO, FIFO)]),
                         env=sandbox.BASE_ENV, text=True, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    found = {}
    try:
        def confined():
            daemon = sb.daemon_pid()
            found.clear()
            for pid in children(daemon) if daemon > 0 else []:
                st = status(pid)
                found[pid] = st
                if st.get("NoNewPrivs", "").strip() == "1":
                    found["worker"] = pid
                    return True
            return False
        try:
            wait_for(confined, 30, what="a confined import worker")
        except TimeoutError:
            return "no import worker with no_new_privs: %s" % {
                pid: {k: st.get(k, "").strip() for k in ("Name", "NoNewPrivs", "Seccomp", "CapEff")}
                for pid, st in found.items()}
        worker = found["worker"]
        st = status(worker)
        problems = []
        # the service may have a filter of its own (SystemCallFilter=): one more than it has
        ds = status(sb.daemon_pid())
        if st["Seccomp"].strip() != "2" or int(st["Seccomp_filters"]) <= int(ds["Seccomp_filters"]):
            problems.append("Seccomp %s, %s filters (the daemon %s)" % (
                st["Seccomp"].strip(), st["Seccomp_filters"].strip(), ds["Seccomp_filters"].strip()))
        for key in ("CapEff", "CapPrm", "CapBnd"):
            extra = caps(st, key) - STORE
            if extra:
                problems.append("%s has %s" % (key, sorted(extra)))
        for key in ("CapInh", "CapAmb"):
            if caps(st, key):
                problems.append("%s %s" % (key, st[key].strip()))
        # the helper that marks opaque directories: CAP_SYS_ADMIN and nothing else
        helpers = children(worker)
        if len(helpers) != 1:
            problems.append("the worker's children: %s" % helpers)
        for h in helpers:
            hs = status(h)
            if caps(hs, "CapEff") != {CAPS["SYS_ADMIN"]} or caps(hs, "CapBnd") != {CAPS["SYS_ADMIN"]}:
                problems.append("helper CapEff %s CapBnd %s" % (hs["CapEff"].strip(), hs["CapBnd"].strip()))
            if hs["NoNewPrivs"].strip() != "1" or hs["Seccomp"].strip() != "2":
                problems.append("helper NoNewPrivs %s Seccomp %s" % (hs["NoNewPrivs"].strip(), hs["Seccomp"].strip()))
        out, _ = p.communicate("\n", timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # an empty archive: refused, as before
    if "error org.containers.Error.InvalidArchive" not in out:
        problems.append("the import of nothing: %s" % out.strip())
    wait_for(lambda: not children(sb.daemon_pid()), 30, what="the worker and its helper to end")
    return not problems or "; ".join(problems)


tap.check("an ImportImage worker reads its archive with no_new_privs, seccomp and only the "
          "store's capabilities; its opaque helper keeps CAP_SYS_ADMIN alone", t_import_confined)

sb.stop()
sys.exit(tap.done())
