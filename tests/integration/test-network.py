#!/usr/bin/python3
"""Networking: the bridge made on first need, addresses (static and allocated) and MACs as
state (kept over a daemon restart, freed by Remove), published ports reached from the host's
127.0.0.1 and its bridge address, container to container and container to host across the
bridge, outbound NAT towards a namespace standing in for the outside, the service's own
nftables table, network "none", and the errors for bad or taken addresses and ports. All
traffic stays inside the sandbox (booted with --private-network)."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, container_path,  # noqa: E402
                     gdbus_error, wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=5)
C = CONTAINER_IFACE
E = "org.containers.Error."
TABLE = "containers-manager"
BRIDGE = "cm0"
WEB = ["sh", "-c", "mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www"]
SLEEPER = ["sleep", "100000"]
PING = "/usr/local/bin/ping"


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def inspect(name):
    out = sb.call(container_path(name), C, "Inspect")[0]
    return {k: v["data"] for k, v in out.items()}


def create(name, command, ports=None, **opts):
    """busctl Create with the network options; ports as [(proto, host, container)]."""
    opts = dict(opts, command=command)
    a = ["ssa{ss}a{sv}", "busybox", name, "0", str(len(opts) + (ports is not None))]
    for k, v in opts.items():
        a += [k] + sandbox.busctl_variant(v)
    if ports is not None:
        a += ["ports", "a(sqq)", str(len(ports))]
        for p in ports:
            a += [p[0], str(p[1]), str(p[2])]
    return sb.mcall("Create", *a, check=False)


def gdbus_create(name, opts):
    """Create through gdbus, which names the error; opts as GVariant text."""
    return sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                    "busybox", name, "{}", opts, check=False)


def run_in(name, command):
    r = sb.call(container_path(name), C, "Exec", "asa{sv}", str(len(command)), *command, "0",
                check=False, timeout=60)
    if isinstance(r, sandbox.Result):
        return 255, "", r.stderr
    return r[0], bytes(r[1]).decode(errors="replace"), bytes(r[2]).decode(errors="replace")


def sh(cmd, check=False):
    return sb.run(["sh", "-c", cmd], check=check)


def nft_table():
    r = sb.run(["nft", "list", "table", "ip", TABLE], check=False)
    return r.stdout if r.ok else None


def restart_daemon():
    sb.run(["systemctl", "restart", "containers-manager.service"])
    wait_for(lambda: sb.unit_active("containers-manager.service") == "active", 20,
             what="daemon restarted")


def http_get(url):
    r = sb.run(["curl", "-sS", "-m", "5", url], check=False, timeout=20)
    return r.stdout if r.ok else "curl failed: " + r.stderr


tables_before = sb.run(["nft", "list", "tables"]).stdout.split("\n")


# ---- network none and the bridge on first need ------------------------------------------------

def t_none():
    res = create("lonely", ["sh", "-c", "echo ifaces: $(ls /sys/class/net); exec sleep 100000"],
                 network="none")
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    rc, out, _ = run_in("lonely", ["ls", "/sys/class/net"])
    if out.split() != ["lo"]:
        return "interfaces inside: %r" % out
    if prop("lonely", "Addresses") != [] or prop("lonely", "MACAddress") != "":
        return "Addresses %r MACAddress %r" % (prop("lonely", "Addresses"), prop("lonely", "MACAddress"))
    if sb.run(["ip", "link", "show", BRIDGE], check=False).ok:
        return "bridge %s exists though no container asked for one" % BRIDGE
    if nft_table() is not None:
        return "table %s exists though no container is on a bridge" % TABLE
    return inspect("lonely").get("Network") == "none" or "Inspect: %r" % inspect("lonely")


tap.check("network none: loopback only, no bridge and no table made for it", t_none)


def t_web():
    res = create("web", WEB, ipv4_address="10.89.0.20", ports=[("tcp", 8080, 80)])
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    if prop("web", "Addresses") != ["10.89.0.20"]:
        return "Addresses: %r" % prop("web", "Addresses")
    link = sb.run(["ip", "-4", "addr", "show", BRIDGE], check=False).stdout
    if "10.89.0.1/16" not in link:
        return "bridge: %r" % link
    fwd = sh("cat /proc/sys/net/ipv4/ip_forward").stdout.strip()
    if fwd != "1":
        return "ip_forward is %r" % fwd
    rc, out, _ = run_in("web", ["ip", "-4", "addr", "show", "eth0"])
    if "inet 10.89.0.20/16 brd 10.89.255.255" not in out:
        return "eth0 inside: %r" % out
    rc, out, _ = run_in("web", ["ip", "route"])
    return "default via 10.89.0.1" in out or "routes inside: %r" % out


tap.check("bridge %s made on first need (10.89.0.1/16, forwarding on); static address and "
          "explicit broadcast inside" % BRIDGE, t_web)


def t_mac():
    mac = prop("web", "MACAddress")
    first = int(mac.split(":")[0], 16)
    if not first & 2 or first & 1:
        return "MAC %s is not locally administered unicast" % mac
    rc, out, _ = run_in("web", ["cat", "/sys/class/net/eth0/address"])
    if out.strip() != mac:
        return "eth0 has %r, MACAddress says %s" % (out, mac)
    res = create("cli", SLEEPER)
    if not isinstance(res, list):
        return "Create cli: %s" % res.stderr
    # no CAP_NET_RAW in a container: a ping over ICMP datagram sockets (sandbox.install_ping)
    sb.install_ping("cli")
    if prop("cli", "MACAddress") == mac:
        return "two containers got MAC %s" % mac
    host_macs = sh("cat /sys/class/net/*/address").stdout.split()
    if host_macs.count(prop("cli", "MACAddress")) > 0:
        return "cli's MAC is also an interface of the host: %r" % host_macs
    return True


tap.check("random MAC: locally administered, unicast, on eth0, different per container", t_mac)


def t_allocated():
    a = prop("cli", "Addresses")
    if a != ["10.89.0.2"]:
        return "allocated %r, expected the lowest free one 10.89.0.2" % a
    ga = sb.call(container_path("cli"), C, "GetAddresses")[0]
    if ga != [[2, [10, 89, 0, 2]]]:
        return "GetAddresses: %r" % ga
    i = inspect("web")
    if i.get("Network") != "bridge" or i.get("Ports") != [["tcp", 8080, 80]] or \
            i.get("Addresses") != ["10.89.0.20"] or i.get("Bridge") != BRIDGE:
        return "Inspect: %r" % {k: i.get(k) for k in ("Network", "Ports", "Addresses", "Bridge")}
    return True


tap.check("allocated address, GetAddresses as machined's, Inspect shows network and ports",
          t_allocated)


# ---- traffic --------------------------------------------------------------------------------

def t_bridge_mac():
    # the bridge keeps a MAC of its own while ports come and go (else containers' neighbour
    # entries for the gateway go stale)
    before = sh("cat /sys/class/net/%s/address" % BRIDGE).stdout.strip()
    kind = sh("cat /sys/class/net/%s/addr_assign_type" % BRIDGE).stdout.strip()
    res = create("extra", SLEEPER)
    if not isinstance(res, list):
        return "Create extra: %s" % res.stderr
    after = sh("cat /sys/class/net/%s/address" % BRIDGE).stdout.strip()
    sb.mcall("Remove", "s", "extra")
    if kind != "3":     # NET_ADDR_SET
        return "bridge MAC %s not set explicitly (addr_assign_type %s)" % (before, kind)
    return before == after or "bridge MAC changed from %s to %s" % (before, after)


tap.check("the bridge has a MAC of its own, unchanged when a port joins", t_bridge_mac)


def t_c2c():
    rc, out, err = run_in("cli", [PING, "-c", "1", "-W", "3", "10.89.0.20"])
    if rc != 0:
        return "ping cli -> web: %d %s %s" % (rc, out, err)
    rc, out, err = run_in("cli", ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 10.89.0.20 80"])
    return "hello-web" in out or "nc cli -> web:80: %d %r %r" % (rc, out, err)


tap.check("container to container across the bridge (ping, TCP)", t_c2c)


def t_c2host():
    rc, out, err = run_in("cli", [PING, "-c", "1", "-W", "3", "10.89.0.1"])
    if rc != 0:
        return "ping cli -> host: %d %s %s" % (rc, out, err)
    out = http_get("http://10.89.0.20/")
    return "hello-web" in out or "host -> web:80: %r" % out


tap.check("container to host (ping the gateway) and host to container (TCP)", t_c2host)


def t_published():
    out = http_get("http://127.0.0.1:8080/")
    if "hello-web" not in out:
        return "127.0.0.1:8080: %r" % out
    out = http_get("http://10.89.0.1:8080/")
    if "hello-web" not in out:
        return "10.89.0.1:8080: %r" % out
    # another container through the host's address: the hairpin rule
    rc, out, err = run_in("cli", ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 10.89.0.1 8080"])
    return "hello-web" in out or "cli -> 10.89.0.1:8080: %d %r %r" % (rc, out, err)


tap.check("published port tcp 8080 -> 80 answers on 127.0.0.1, the host's bridge address, and "
          "to another container", t_published)


def t_outside():
    # a namespace standing in for the outside world: no route back to 10.89.0.0/16, so only
    # masqueraded packets get an answer
    cmds = ["ip netns add outside",
            "ip link add cmt-out type veth peer name eth0 netns outside",
            "ip addr add 192.168.77.1/24 dev cmt-out", "ip link set cmt-out up",
            "ip -n outside addr add 192.168.77.2/24 dev eth0", "ip -n outside link set eth0 up",
            "ip -n outside link set lo up"]
    for c in cmds:
        r = sh(c)
        if not r.ok:
            return "%s: %s" % (c, r.stderr)
    if "10.89." in sh("ip -n outside route").stdout:
        return "the outside has a route to the containers"
    rc, out, err = run_in("cli", [PING, "-c", "1", "-W", "3", "192.168.77.2"])
    if rc != 0:
        return "ping cli -> outside: %d %s %s" % (rc, out, err)
    # and the other way: the outside reaches a published port at the host's address there
    r = sb.run(["ip", "netns", "exec", "outside", "curl", "-sS", "-m", "5", "http://192.168.77.1:8080/"],
               check=False, timeout=20)
    return "hello-web" in r.stdout or "outside -> 192.168.77.1:8080: %r %r" % (r.stdout, r.stderr)


def t_names():
    rc, out, err = run_in("cli", ["cat", "/etc/resolv.conf"])
    if "nameserver 10.89.0.1" not in out:
        return "resolv.conf inside: %r" % out
    rc, out, err = run_in("cli", ["nslookup", "web"])
    if rc != 0 or "10.89.0.20" not in out:
        return "nslookup web from cli: %d %r %r" % (rc, out, err)
    rc, out, err = run_in("cli", ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80"])
    if "hello-web" not in out:
        return "nc web 80 from cli: %d %r %r" % (rc, out, err)
    res = create("gone", SLEEPER, start=False)
    if not isinstance(res, list):
        return "Create gone: %s" % res.stderr
    addr = prop("gone", "Addresses")[0]
    try:
        wait_for(lambda: addr in run_in("cli", ["nslookup", "gone"])[1], 10, what="gone to resolve")
    except TimeoutError:
        return "a new container's name does not resolve: %r" % (run_in("cli", ["nslookup", "gone"]),)
    sb.mcall("Remove", "s", "gone")
    try:
        wait_for(lambda: addr not in run_in("cli", ["nslookup", "gone"])[1], 10, what="gone to stop resolving")
    except TimeoutError:
        return "a removed container's name still resolves: %r" % (run_in("cli", ["nslookup", "gone"]),)
    return True


tap.check("names: resolv.conf points at the bridge's resolver; containers' names resolve between "
          "containers, a new one at once, a removed one no more", t_names)


tap.check("outbound NAT: a container reaches a namespace that has no route back (masquerade); "
          "that namespace reaches a published port at the host's address on its side",
          t_outside)


def t_table():
    t = nft_table()
    if t is None:
        return "no table ip %s" % TABLE
    if "dport 8080 dnat to 10.89.0.20:80" not in t:
        return "no forward for 8080 in:\n%s" % t
    if "masquerade" not in t:
        return "no masquerade in:\n%s" % t
    after = sb.run(["nft", "list", "tables"]).stdout.split("\n")
    new = sorted(set(after) - set(tables_before))
    return new == ["table bridge %s" % TABLE, "table ip %s" % TABLE] or "tables added: %r" % new


tap.check("nftables: the rules live in tables ip and bridge %s, the only tables the service adds" % TABLE,
          t_table)


# ---- bad input ------------------------------------------------------------------------------

BAD = [
    ("taken address", "{'ipv4_address': <'10.89.0.20'>}", E + "AddressInUse"),
    ("outside the subnet", "{'ipv4_address': <'10.90.0.5'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("the gateway", "{'ipv4_address': <'10.89.0.1'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("the broadcast", "{'ipv4_address': <'10.89.255.255'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("malformed address", "{'ipv4_address': <'10.89.0'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("multicast MAC", "{'mac_address': <'01:00:5e:00:00:01'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("malformed MAC", "{'mac_address': <'02:00:5e:00:00'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("unknown network", "{'network': <'host'>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("address with network none", "{'network': <'none'>, 'ipv4_address': <'10.89.0.30'>}",
     "org.freedesktop.DBus.Error.InvalidArgs"),
    ("port 0", "{'ports': <[('tcp', uint16 0, uint16 80)]>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("unknown protocol", "{'ports': <[('sctp', uint16 9000, uint16 80)]>}", "org.freedesktop.DBus.Error.InvalidArgs"),
    ("port twice", "{'ports': <[('tcp', uint16 9000, uint16 80), ('tcp', uint16 9000, uint16 81)]>}",
     "org.freedesktop.DBus.Error.InvalidArgs"),
    ("taken port", "{'ports': <[('tcp', uint16 8080, uint16 80)]>}", E + "PortInUse"),
]


def t_bad():
    before = sb.list_containers()
    problems = []
    for what, opts, want in BAD:
        o = opts[:-1] + ", 'command': <['true']>, 'start': <false>}"
        r = gdbus_create("bad", o)
        if r.ok or gdbus_error(r) != want:
            problems.append("%s: rc=%d %s" % (what, r.returncode, (r.stderr or r.stdout).strip()))
    if problems:
        return "; ".join(problems)
    if sb.list_containers() != before:
        return "List changed"
    # the same host port over udp is another port
    r = gdbus_create("udp", "{'ports': <[('udp', uint16 8080, uint16 80)]>, 'command': <['true']>, "
                     "'start': <false>}")
    if not r.ok:
        return "udp 8080: %s" % r.stderr
    sb.mcall("Remove", "s", "udp")
    return True


tap.check("InvalidArgs, AddressInUse, PortInUse name what is wrong and create nothing", t_bad)


# ---- state ----------------------------------------------------------------------------------

def t_restart():
    macs = {n: prop(n, "MACAddress") for n in ("web", "cli")}
    restart_daemon()
    for n, a in (("web", ["10.89.0.20"]), ("cli", ["10.89.0.2"])):
        if prop(n, "Addresses") != a or prop(n, "MACAddress") != macs[n]:
            return "%s after restart: %r %r" % (n, prop(n, "Addresses"), prop(n, "MACAddress"))
    r = gdbus_create("again", "{'ipv4_address': <'10.89.0.2'>, 'start': <false>, 'command': <['true']>}")
    if r.ok or gdbus_error(r) != E + "AddressInUse":
        return "10.89.0.2 after restart: %s" % (r.stderr or r.stdout)
    r = gdbus_create("again", "{'mac_address': <'%s'>, 'start': <false>, 'command': <['true']>}" % macs["web"])
    if r.ok or gdbus_error(r) != E + "AddressInUse":
        return "web's MAC after restart: %s" % (r.stderr or r.stdout)
    r = gdbus_create("again", "{'ports': <[('tcp', uint16 8080, uint16 80)]>, 'start': <false>, "
                     "'command': <['true']>}")
    if r.ok or gdbus_error(r) != E + "PortInUse":
        return "port 8080 after restart: %s" % (r.stderr or r.stdout)
    res = create("third", SLEEPER, start=False)
    if not isinstance(res, list):
        return "Create third: %s" % res.stderr
    if prop("third", "Addresses") != ["10.89.0.3"]:
        return "third got %r" % prop("third", "Addresses")
    if "hello-web" not in http_get("http://127.0.0.1:8080/"):
        return "published port lost"
    return True


tap.check("addresses, MACs and ports kept over a daemon restart; the next one allocated after them",
          t_restart)


def t_reboot():
    # what a reboot leaves: no bridge, no table, no forwarding, an empty /run; the state stays
    for n in ("web", "cli"):
        sb.call(container_path(n), C, "Stop")
    for c in ("ip link del %s" % BRIDGE, "nft delete table ip %s" % TABLE,
              "rm -f /run/containers-manager/network.nft*", "echo 0 > /proc/sys/net/ipv4/ip_forward"):
        r = sh(c)
        if not r.ok:
            return "%s: %s" % (c, r.stderr)
    restart_daemon()
    for n in ("web", "cli"):
        sb.call(container_path(n), C, "Start")
    if "10.89.0.1/16" not in sb.run(["ip", "-4", "addr", "show", BRIDGE], check=False).stdout:
        return "bridge not made again"
    if sh("cat /proc/sys/net/ipv4/ip_forward").stdout.strip() != "1":
        return "forwarding not on again"
    if "dnat to 10.89.0.20:80" not in (nft_table() or ""):
        return "table not loaded again: %r" % nft_table()
    if prop("web", "Addresses") != ["10.89.0.20"]:
        return "web's address: %r" % prop("web", "Addresses")
    if "hello-web" not in http_get("http://127.0.0.1:8080/"):
        return "published port not answered"
    rc, out, err = run_in("cli", [PING, "-c", "1", "-W", "3", "10.89.0.20"])
    return rc == 0 or "cli -> web: %s %s" % (out, err)


tap.check("after what a reboot leaves (no bridge, table or forwarding), the next start makes them "
          "again with the same addresses", t_reboot)


# ---- machined --------------------------------------------------------------------------------

def machines():
    r = sb.run(["machinectl", "list", "--no-legend"], check=False)
    return {l.split()[0]: l.split() for l in r.stdout.splitlines() if l.strip()}


def t_machined():
    res = create("mach", SLEEPER, ipv4_address="10.89.0.40")
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    try:
        got = wait_for(lambda: machines().get("mach"), 10, what="mach in machinectl list")
    except TimeoutError:
        return "machinectl list: %r" % machines()
    if got[1:3] != ["container", "containers-manager"]:
        return "machinectl list: %r" % got
    st = sb.run(["machinectl", "status", "mach"], check=False).stdout
    leader = prop("mach", "Leader")
    for want in ("Leader: %d" % leader, "class container", "Address: 10.89.0.40", "container-mach.scope"):
        if want not in st:
            return "%r not in machinectl status:\n%s" % (want, st)
    # Its name on the host, through machined and nss-mymachines (Debian's libnss-mymachines; the
    # sandbox's own nsswitch.conf is made to ask it, whatever the host's says).
    sb.run(["sh", "-c", "grep -q '^hosts:.*mymachines' /etc/nsswitch.conf || "
                        "sed -i 's/^hosts:\\(.*\\)$/hosts:\\1 mymachines/' /etc/nsswitch.conf"])
    r = sb.run(["getent", "ahostsv4", "mach"], check=False)
    if not r.stdout.startswith("10.89.0.40 "):
        return "getent ahostsv4 mach on the host: %r" % r
    sb.run(["machinectl", "terminate", "mach"])
    try:
        wait_for(lambda: prop("mach", "State") in ("stopped", "failed"), 15, what="mach to stop")
    except TimeoutError:
        return "State after terminate: %s" % prop("mach", "State")
    if prop("mach", "State") != "stopped":
        return "terminate left State %s (ExitStatus %d)" % (prop("mach", "State"), prop("mach", "ExitStatus"))
    try:
        wait_for(lambda: "mach" not in machines(), 10, what="mach to leave machinectl list")
    except TimeoutError:
        return "still registered after it stopped: %r" % machines()
    r = sb.run(["getent", "hosts", "mach"], check=False)
    if r.ok:
        return "the name still resolves after the container stopped: %r" % r.stdout
    sb.mcall("Remove", "s", "mach")
    return True


tap.check("machined: a running container in machinectl list and status (leader, class, address, "
          "scope) and its name resolving on the host (getent ahostsv4); machinectl terminate is an ordinary stop; unregistered when it stops", t_machined)


def t_machined_refused():
    # machined takes host names only: a name with "_" is refused, the start is not
    res = create("not_a_hostname", SLEEPER)
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    state = prop("not_a_hostname", "State")
    listed = "not_a_hostname" in machines()
    try:
        logged = wait_for(lambda: "not_a_hostname: systemd-machined did not register it" in
                          sb.journal("containers-manager.service"), 10, what="the refusal logged")
    except TimeoutError:
        logged = False
    sb.mcall("Remove", "s", "not_a_hostname")
    if state != "running":
        return "State %s" % state
    if listed:
        return "machined took the name after all"
    return logged or "no warning in the journal: %r" % sb.journal("containers-manager.service")[-800:]


tap.check("a registration machined refuses is logged and does not fail the start", t_machined_refused)


def t_remove():
    sb.mcall("Remove", "s", "web")
    # the table is rewritten by a worker after the reply
    try:
        wait_for(lambda: "8080" not in (nft_table() or ""), 10, what="the forward to go")
    except TimeoutError:
        return "forward still in the table:\n%s" % nft_table()
    if sb.run(["sh", "-c", "ip -br link | grep -c ^vcm"], check=False).stdout.strip() != "1":
        return "veths: %s" % sb.run(["ip", "-br", "link"]).stdout
    res = create("web2", WEB, ipv4_address="10.89.0.20", ports=[("tcp", 8080, 80)])
    if not isinstance(res, list):
        return "10.89.0.20 and 8080 not free after Remove: %s" % res.stderr
    if "hello-web" not in http_get("http://127.0.0.1:8080/"):
        return "web2 not reached"
    for n in ("web2", "cli", "third"):
        sb.mcall("Remove", "s", n)
    try:
        wait_for(lambda: nft_table() is None, 10, what="the table to go")
    except TimeoutError:
        return "table still there with no bridged container:\n%s" % nft_table()
    return True


tap.check("Remove frees the address and the port and updates the table; the last one deletes it",
          t_remove)


def t_config():
    sb.write_file("/etc/containers-manager/containers-manager.conf",
                  "[Network]\nBridge=cmtest1\nSubnet=10.77.0.0/24\n")
    restart_daemon()
    res = create("conf", SLEEPER)
    if not isinstance(res, list):
        return "Create: %s" % res.stderr
    sb.install_ping("conf")
    if prop("conf", "Addresses") != ["10.77.0.2"]:
        return "Addresses %r" % prop("conf", "Addresses")
    link = sb.run(["ip", "-4", "addr", "show", "cmtest1"], check=False).stdout
    if "10.77.0.1/24 brd 10.77.0.255" not in link:
        return "bridge cmtest1: %r" % link
    rc, out, _ = run_in("conf", [PING, "-c", "1", "-W", "3", "10.77.0.1"])
    sb.mcall("Remove", "s", "conf")
    return rc == 0 or "ping the gateway: %r" % out


tap.check("[Network] Bridge= and Subnet= of containers-manager.conf are used", t_config)

sb.mcall("Remove", "s", "lonely", check=False)
sb.stop()
tap.done()
