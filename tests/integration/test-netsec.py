#!/usr/bin/python3
"""Network isolation against a hostile container (DESIGN.md, "Confinement that holds against
hostile images"): from a container, nothing of the host answers but the bridge's resolver,
pings of the gateway and the published ports: not a service on the host's 127.0.0.1 (not even
with a packet crafted to 127.0.0.1 and sent to the gateway's MAC), not one on the gateway's
address or another address of the host that is not published; a container's veth sends only
its own MAC, its own IPv4 address and ARP for them (ARP and IP spoofing against a second
container and against the host fail); a published port never shadows a socket of the host
(PortInUse at Create and at Start) and, while its container runs, nothing on the host can
bind it; published ports still answer on 127.0.0.1 and the bridge's address.

The attacker is a privileged container of the host base (python3 from the host's /usr):
it keeps CAP_NET_RAW and CAP_NET_ADMIN whatever the default capability set, so what stops it
is the filter on the bridge and the host, not a missing capability.  All traffic stays inside
the sandbox (booted with --private-network)."""

import json
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
BRIDGE = "cm0"
GW = "10.89.0.1"
WEB = ["sh", "-c", "mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www"]
SLEEPER = ["sleep", "100000"]
# containers have no CAP_NET_RAW: a ping over ICMP datagram sockets (sandbox.install_ping)
PING = "/usr/local/bin/ping"
OTHER = "192.168.79.1"      # an address of the host on another interface, never published

# A TCP (or UDP) service of the host: answers every connection with its text.
SERVE = r"""
import socket, sys
proto, addr, port, text, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
if proto == "tcp":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
if proto == "tcp":
    s.listen(16)
open(ready, "w").close()
if proto == "udp":
    while True:
        s.recvfrom(2048)
while True:
    c, _ = s.accept()
    c.sendall(text.encode() + b"\n")
    c.close()
"""

# Binds a port on the host as a server would (SO_REUSEADDR); prints "bound" or the errno name.
BIND = r"""
import errno, socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(1)
    print("bound")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""

# The attacker's tool: raw frames on eth0 (AF_PACKET), built by hand.
CRAFT = r"""
import json, os, random, select, socket, struct, sys, time
IF = "eth0"
def mac(s): return bytes.fromhex(s.replace(":", ""))
def ip(s): return socket.inet_aton(s)
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.randrange(65536), 0, 64, proto, 0, ip(src), ip(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload
def l4sum(src, dst, proto, seg):
    return csum(ip(src) + ip(dst) + struct.pack("!BBH", 0, proto, len(seg)) + seg)
def tcp_syn(src, dst, sport, dport):
    seg = struct.pack("!HHIIBBHHH", sport, dport, random.randrange(1 << 32), 0, 5 << 4, 0x02, 64240, 0, 0)
    return ipv4(src, dst, 6, seg[:16] + struct.pack("!H", l4sum(src, dst, 6, seg)) + seg[18:])
def udp(src, dst, sport, dport, data):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return ipv4(src, dst, 17, seg[:6] + struct.pack("!H", l4sum(src, dst, 17, seg) or 0xffff) + seg[8:])
def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac(sha), ip(spa), mac(tha), ip(tpa))
def frame(dst, src, typ, payload):
    return mac(dst) + mac(src) + struct.pack("!H", typ) + payload
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((IF, 0))
out = []
for op in json.loads(sys.argv[1]):
    kind = op["op"]
    if kind == "syn":
        # a SYN from our own MAC and address; did anything answer with SYN|ACK?
        sport = random.randrange(40000, 60000)
        s.send(frame(op["dmac"], op["smac"], 0x0800, tcp_syn(op["sip"], op["dip"], sport, op["dport"])))
        deadline, got = time.monotonic() + op.get("wait", 3), "NONE"
        while got == "NONE" and time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
            if not r: break
            p = s.recv(65535)
            if len(p) < 54 or p[12:14] != b"\x08\x00" or p[23] != 6: continue
            ihl = (p[14] & 15) * 4
            t = p[14 + ihl:]
            sp, dp = struct.unpack("!HH", t[:4])
            if p[26:30] == ip(op["dip"]) and sp == op["dport"] and dp == sport and t[13] & 0x12 == 0x12:
                got = "SYNACK"
        out.append(got)
    elif kind == "udp":
        s.send(frame(op["dmac"], op["smac"], 0x0800, udp(op["sip"], op["dip"], 5555, op["dport"], op["data"].encode())))
        out.append("sent")
    elif kind == "arp":
        # "spa is at sha", op 2 (reply), sent count times, interval apart
        for i in range(op["count"]):
            for a in op["claims"]:
                s.send(frame(a["dmac"], op["smac"], 0x0806, arp(2, a["sha"], a["spa"], a["dmac"], a["tpa"])))
            time.sleep(op["interval"])
        out.append("sent")
print(json.dumps(out))
"""

RECV = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
while True:
    data, (a, p) = s.recvfrom(2048)
    with open("/tmp/got", "a") as f:
        f.write("%s %s\n" % (data.decode(errors="replace"), a))
"""


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def create(image, name, ports=None, **opts):
    """busctl Create; ports as [(proto, host, container)]."""
    a = ["ssa{ss}a{sv}", image, name, "0", str(len(opts) + (ports is not None))]
    for k, v in opts.items():
        a += [k] + sandbox.busctl_variant(v)
    if ports is not None:
        a += ["ports", "a(sqq)", str(len(ports))]
        for p in ports:
            a += [p[0], str(p[1]), str(p[2])]
    return sb.mcall("Create", *a, check=False)


def gdbus_create(image, name, opts):
    return sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                    image, name, "{}", opts, check=False)


def gdbus_start(name):
    return sb.gdbus("--object-path", container_path(name), "--method", C + ".Start", check=False)


def run_in(name, command, timeout=60):
    r = sb.call(container_path(name), C, "Exec", "asa{sv}", str(len(command)), *command, "0",
                check=False, timeout=timeout)
    if isinstance(r, sandbox.Result):
        return 255, "", r.stderr
    return r[0], bytes(r[1]).decode(errors="replace"), bytes(r[2]).decode(errors="replace")


def sh(cmd, check=False):
    return sb.run(["sh", "-c", cmd], check=check)


def craft(ops):
    rc, out, err = run_in("attacker", ["python3", "-c", CRAFT, json.dumps(ops)], timeout=90)
    if rc != 0:
        raise RuntimeError("the attacker's tool failed: %d %r %r" % (rc, out, err))
    return json.loads(out)


def host_bind(proto, addr, port):
    return sb.run(["python3", "-c", BIND, proto, addr, str(port)]).stdout.strip()


def serve(unit, proto, addr, port, text):
    """A service of the host, as a transient unit; returns once it has bound its port."""
    # it says when it has bound (a file), rather than a probe that binds the port meanwhile and
    # makes the service's own bind fail
    ready = "/run/%s.ready" % unit
    sb.run(["rm", "-f", ready])
    sb.run(["systemd-run", "--unit", unit, "--collect", "python3", "-c", SERVE, proto, addr, str(port), text, ready])
    try:
        wait_for(lambda: sb.run(["test", "-e", ready], check=False).ok, 20,
                 what="%s to bind %s %s:%d" % (unit, proto, addr, port))
    except TimeoutError:
        raise RuntimeError("%s did not bind %s %s:%d: %s %s" % (
            unit, proto, addr, port, host_bind(proto, addr, port),
            sb.run(["journalctl", "-q", "--no-pager", "-u", unit], check=False).stdout[-1500:]))


def unserve(unit):
    sb.run(["systemctl", "stop", unit], check=False)


def http_get(url):
    r = sb.run(["curl", "-sS", "-m", "5", url], check=False, timeout=20)
    return r.stdout if r.ok else "curl failed: " + r.stderr


def mac_of(name):
    return prop(name, "MACAddress")


# ---- the containers and the host's services -----------------------------------------------

def t_setup():
    for name, image, command, opts in (
            ("web", "busybox", WEB, {"ipv4_address": "10.89.0.20"}),
            ("victim", "busybox", SLEEPER, {"ipv4_address": "10.89.0.30"}),
            ("recv", "host", ["python3", "-c", RECV], {"ipv4_address": "10.89.0.40"}),
            ("attacker", "host", SLEEPER, {"ipv4_address": "10.89.0.50", "privileged": True})):
        res = create(image, name, ports=[("tcp", 8080, 80)] if name == "web" else None,
                     command=command, **opts)
        if not isinstance(res, list):
            return "Create %s: %s" % (name, res.stderr)
    sb.install_ping("victim")
    for c in ("ip link add cmt-other type veth peer name cmt-other-p", "ip addr add %s/24 dev cmt-other" % OTHER,
              "ip link set cmt-other up", "ip link set cmt-other-p up"):
        r = sh(c)
        if not r.ok:
            return "%s: %s" % (c, r.stderr)
    serve("cmt-lo", "tcp", "127.0.0.1", 7001, "loopback-secret")
    serve("cmt-gw", "tcp", GW, 7002, "gateway-secret")
    serve("cmt-other", "tcp", OTHER, 7003, "other-secret")
    serve("cmt-any", "tcp", "0.0.0.0", 7004, "any-secret")
    serve("cmt-udp", "udp", "127.0.0.1", 7020, "")
    return True


if not tap.check("four containers (web publishing tcp 8080, a victim, a receiver, a privileged "
                 "attacker) and host services on 127.0.0.1, the gateway's address, another "
                 "address and all addresses", t_setup):
    tap.bail("cannot set up")
    sb.stop()
    sys.exit(1)

GW_MAC = sh("cat /sys/class/net/%s/address" % BRIDGE).stdout.strip()
A_MAC = mac_of("attacker")
A_IP = "10.89.0.50"


# ---- (a) the host's services are out of reach ----------------------------------------------

def t_plain_connect():
    # an ordinary container, an ordinary connect(): nothing but refusal or silence
    got = {}
    for addr, port in ((GW, 7002), (OTHER, 7003), (GW, 7004), (OTHER, 7004)):
        rc, out, err = run_in("victim", ["nc", "-w", "2", addr, str(port)])
        if "secret" in out:
            got["%s:%d" % (addr, port)] = out.strip()
    return not got or "a container read host services that are not published: %r" % got


tap.check("a container cannot connect to a host service on the gateway's address, on another "
          "address of the host, nor to one on all addresses", t_plain_connect)


def t_crafted_loopback():
    base = {"op": "syn", "smac": A_MAC, "sip": A_IP}
    res = craft([
        # controls: the tool works, to a container and to a published port through the gateway
        dict(base, dmac=mac_of("web"), dip="10.89.0.20", dport=80),
        dict(base, dmac=GW_MAC, dip=GW, dport=8080),
        # the host's loopback, and the host's other services, through the gateway's MAC
        dict(base, dmac=GW_MAC, dip="127.0.0.1", dport=7001),
        dict(base, dmac=GW_MAC, dip=GW, dport=7002),
        dict(base, dmac=GW_MAC, dip=OTHER, dport=7003),
        dict(base, dmac=GW_MAC, dip=GW, dport=7004),
    ])
    if res[:2] != ["SYNACK", "SYNACK"]:
        return "the controls got no answer (web:80, gateway:8080): %r" % res
    names = ["127.0.0.1:7001", "%s:7002" % GW, "%s:7003" % OTHER, "%s:7004" % GW]
    answered = [n for n, r in zip(names, res[2:]) if r != "NONE"]
    return not answered or "the host answered a SYN from a container on %s" % ", ".join(answered)


tap.check("a SYN crafted to 127.0.0.1 (and to unpublished host ports) and sent to the gateway's "
          "MAC gets no answer, while one to a container or a published port does", t_crafted_loopback)


def t_still_works():
    rc, out, err = run_in("victim", [PING, "-c", "1", "-W", "3", GW])
    if rc != 0:
        return "ping the gateway: %r %r" % (out, err)
    rc, out, err = run_in("victim", ["nslookup", "web", GW])
    if "10.89.0.20" not in out:
        return "DNS on the gateway: %d %r %r" % (rc, out, err)
    rc, out, err = run_in("victim", ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 8080" % GW])
    return "hello-web" in out or "a published port from a container: %r %r" % (out, err)


tap.check("what a container may reach of the host still works: ping and DNS on the gateway, a "
          "published port at the gateway's address", t_still_works)


# ---- (b) spoofing --------------------------------------------------------------------------

def got():
    rc, out, err = run_in("recv", ["cat", "/tmp/got"])
    return out


def t_ip_mac_spoof():
    base = {"op": "udp", "dmac": mac_of("recv"), "dip": "10.89.0.40", "dport": 9999}
    # in order on the same path: once the control arrived, the others would have too
    craft([
        dict(base, smac=A_MAC, sip="10.89.0.30", data="ip-spoof"),        # the victim's address
        dict(base, smac=A_MAC, sip="10.89.0.77", data="ip-spoof-free"),   # an address nobody has
        dict(base, smac="02:de:ad:be:ef:01", sip=A_IP, data="mac-spoof"),
        dict(base, smac=mac_of("victim"), sip=A_IP, data="mac-spoof-victim"),
        dict(base, smac=A_MAC, sip=A_IP, data="control"),
    ])
    try:
        out = wait_for(lambda: "control %s" % A_IP in got() and got(), 10, what="the control datagram")
    except TimeoutError:
        return "the control datagram did not arrive: %r" % got()
    leaked = [l for l in out.splitlines() if "spoof" in l]
    return not leaked or "spoofed datagrams arrived: %r" % leaked


tap.check("IP and MAC spoofing: datagrams from the attacker with another container's (or a free) "
          "source address, or another MAC, never reach a second container", t_ip_mac_spoof)


def neigh(where, addr):
    if where == "host":
        return sh("ip neigh show %s dev %s" % (addr, BRIDGE)).stdout
    return run_in(where, ["ip", "neigh", "show", addr])[1]


def t_arp_spoof():
    # real entries first: the victim knows the gateway, the host knows the victim
    rc, out, err = run_in("victim", [PING, "-c", "1", "-W", "3", GW])
    if rc != 0:
        return "ping the gateway: %r" % out
    if not sh("busybox ping -c 1 -W 3 10.89.0.30").ok:
        return "the host cannot ping the victim"
    if GW_MAC not in neigh("victim", GW):
        return "the victim's entry for the gateway: %r" % neigh("victim", GW)
    v_mac = mac_of("victim")
    # "the gateway is at the attacker" to the victim, "the victim is at the attacker" to the
    # host; for 3 s, longer than the neighbour tables' locktime (1 s)
    craft([{"op": "arp", "smac": A_MAC, "count": 30, "interval": 0.1, "claims": [
        {"dmac": v_mac, "sha": A_MAC, "spa": GW, "tpa": "10.89.0.30"},
        {"dmac": GW_MAC, "sha": A_MAC, "spa": "10.89.0.30", "tpa": GW}]}])
    problems = []
    if A_MAC in neigh("victim", GW):
        problems.append("the victim's gateway entry: %s" % neigh("victim", GW).strip())
    if A_MAC in neigh("host", "10.89.0.30"):
        problems.append("the host's entry for the victim: %s" % neigh("host", "10.89.0.30").strip())
    if problems:
        return "ARP spoofing worked: " + "; ".join(problems)
    rc, out, err = run_in("victim", [PING, "-c", "1", "-W", "3", GW])
    return rc == 0 or "the victim lost the gateway: %r" % out


tap.check("ARP spoofing: the attacker's replies claiming the gateway's address (to a second "
          "container) and that container's address (to the host) change no neighbour entry",
          t_arp_spoof)


def t_ipv6_dropped():
    # the network has no IPv6: nothing of it leaves a container's veth, so the host's
    # link-local address on the bridge answers nothing (IPv6 services of the host stay out of reach)
    ll = sh("ip -6 -br addr show dev %s scope link" % BRIDGE).stdout.split()
    ll = [a.split("/")[0] for a in ll if a.startswith("fe80")]
    if not ll:
        return True     # no IPv6 on the bridge at all: nothing to reach
    rc, out, err = run_in("victim", [PING, "-6", "-c", "1", "-W", "2", "%s%%eth0" % ll[0]])
    return rc != 0 or "the host answered IPv6 from a container: %r" % out


tap.check("no IPv6 from a container's veth: the host's link-local address on the bridge does not "
          "answer", t_ipv6_dropped)


# ---- (c) published ports and the host's sockets --------------------------------------------

def t_port_in_use_create():
    problems = []
    for proto, port, holder in (("tcp", 7001, "127.0.0.1:7001"), ("tcp", 7004, "*:7004"),
                                ("udp", 7020, "127.0.0.1:7020")):
        r = gdbus_create("busybox", "shadow", "{'ports': <[('%s', uint16 %d, uint16 80)]>, "
                         "'command': <['true']>, 'start': <false>}" % (proto, port))
        msg = (r.stderr or r.stdout).strip()
        if r.ok:
            sb.mcall("Remove", "s", "shadow", check=False)
        if r.ok or gdbus_error(r) != E + "PortInUse":
            problems.append("%s %d: rc=%d %s" % (proto, port, r.returncode, msg))
        elif "%s/%d" % (proto, port) not in msg or "%s (uid 0)" % holder not in msg:
            problems.append("%s %d: the message names neither port nor socket: %s" % (proto, port, msg))
    if problems:
        return "; ".join(problems)
    if "shadow" in sb.list_containers():
        return "a container was created"
    # and the host's service is still the one that answers
    out = sh("curl -sS -m 5 telnet://127.0.0.1:7001 </dev/null").stdout
    return "loopback-secret" in out or "127.0.0.1:7001 answers %r" % out


tap.check("Create publishing a port a host socket holds (TCP on 127.0.0.1, TCP on all addresses, "
          "UDP) fails with PortInUse naming the port and the socket", t_port_in_use_create)


def t_port_in_use_start():
    res = create("busybox", "late", ports=[("tcp", 7030, 80)], command=WEB, start=False)
    if not isinstance(res, list):
        return "Create late: %s" % res.stderr
    serve("cmt-late", "tcp", "127.0.0.1", 7030, "late-secret")
    r = gdbus_start("late")
    unserve("cmt-late")
    if r.ok or gdbus_error(r) != E + "PortInUse" or "tcp/7030" not in r.stderr:
        return "Start while a host socket listens on 7030: rc=%d %s" % (r.returncode, r.stderr or r.stdout)
    if prop("late", "State") != "created":
        return "State %s after the refused Start" % prop("late", "State")
    wait_for(lambda: host_bind("tcp", "127.0.0.1", 7030) == "bound", 10, what="7030 to be free")
    r = gdbus_start("late")
    return r.ok or "Start once the port is free: %s" % r.stderr


tap.check("Start of a container whose port a host socket took meanwhile fails with PortInUse; "
          "it starts once the port is free", t_port_in_use_start)


def t_port_held():
    problems = []
    for proto, addr, port in (("tcp", "0.0.0.0", 8080), ("tcp", "127.0.0.1", 8080), ("tcp", GW, 8080),
                              ("tcp", "::", 8080), ("tcp", "127.0.0.1", 7030)):
        b = host_bind(proto, addr, port)
        if b != "EADDRINUSE":
            problems.append("%s %s:%d: %s" % (proto, addr, port, b))
    if problems:
        return "a host program could bind a published port: %s" % "; ".join(problems)
    if "hello-web" not in http_get("http://127.0.0.1:7030/"):
        return "late's published port 7030 does not answer"
    # held by the container's run, not forever: free once it stops
    sb.call(container_path("late"), C, "Stop")
    b = host_bind("tcp", "127.0.0.1", 7030)
    return b == "bound" or "7030 after late stopped: %s" % b


tap.check("while a container with published ports runs, no host program binds them (0.0.0.0, "
          "127.0.0.1, the gateway, [::]); free again once it stops", t_port_held)


def t_udp_held():
    res = create("busybox", "udpd", ports=[("udp", 7040, 53)], command=SLEEPER)
    if not isinstance(res, list):
        return "Create udpd: %s" % res.stderr
    b = host_bind("udp", "127.0.0.1", 7040)
    sb.mcall("Remove", "s", "udpd")
    return b == "EADDRINUSE" or "a host program bound udp 127.0.0.1:7040: %s" % b


tap.check("a published UDP port is held too", t_udp_held)


def t_port_time_wait():
    # a host service answered a connection on 7050 and ended: its side of the connection waits
    # in TIME_WAIT for a minute; the port is free to publish, and held all the same
    serve("cmt-tw", "tcp", "127.0.0.1", 7050, "tw-secret")
    out = sh("curl -sS -m 5 telnet://127.0.0.1:7050 </dev/null").stdout
    unserve("cmt-tw")
    tw = sh("ss -Htan state time-wait '( sport = :7050 )'").stdout
    if "tw-secret" not in out or not tw.strip():
        return "no TIME_WAIT on 7050 to test with: %r %r" % (out, tw)
    res = create("busybox", "tw", ports=[("tcp", 7050, 80)], command=WEB)
    if not isinstance(res, list):
        return "Create with a TIME_WAIT on the port: %s" % res.stderr
    b = host_bind("tcp", "127.0.0.1", 7050)
    web = http_get("http://127.0.0.1:7050/")
    sb.mcall("Remove", "s", "tw")
    if b != "EADDRINUSE":
        return "a host program bound 127.0.0.1:7050: %s" % b
    return "hello-web" in web or "127.0.0.1:7050 answers %r" % web


tap.check("a port with connections of an ended host service in TIME_WAIT is published and held "
          "too", t_port_time_wait)


# ---- (d) published ports still answer -------------------------------------------------------

def t_published():
    for url in ("http://127.0.0.1:8080/", "http://%s:8080/" % GW, "http://%s:8080/" % OTHER):
        out = http_get(url)
        if "hello-web" not in out:
            return "%s: %r" % (url, out)
    return True


tap.check("published port tcp 8080 answers on 127.0.0.1, the bridge's address and another "
          "address of the host", t_published)


def t_tables():
    ip = sb.run(["nft", "list", "table", "ip", "containers-manager"], check=False).stdout
    br = sb.run(["nft", "list", "table", "bridge", "containers-manager"], check=False).stdout
    if "ip daddr 127.0.0.0/8 drop" not in ip or "hook input" not in ip:
        return "table ip:\n%s" % ip
    for n in ("web", "victim", "recv", "attacker"):
        if "ether saddr != %s drop" % mac_of(n) not in br:
            return "no MAC filter for %s in table bridge:\n%s" % (n, br)
    return True


tap.check("the filters live in the service's tables (ip and bridge containers-manager)", t_tables)

for n in ("web", "victim", "recv", "attacker", "late"):
    sb.mcall("Remove", "s", n, check=False)
try:
    wait_for(lambda: not sb.run(["nft", "list", "table", "bridge", "containers-manager"], check=False).ok,
             10, what="the tables to go")
    tap.ok(True, "the last Remove deletes both tables")
except TimeoutError:
    tap.ok(False, "the last Remove deletes both tables",
           sb.run(["nft", "list", "ruleset"], check=False).stdout)
for u in ("cmt-lo", "cmt-gw", "cmt-other", "cmt-any", "cmt-udp"):
    unserve(u)
sb.stop()
tap.done()
