#!/usr/bin/python3
"""Every Manager and Container method over the real bus, with busctl and with gdbus, in a
throwaway systemd: scopes, cgroups, journal, signals, ObjectManager, tree, introspection."""

import json
import os
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from sandbox import (MANAGER_PATH, MANAGER_IFACE, CONTAINER_IFACE, IMAGE_IFACE, BUS,  # noqa: E402
                     LOOP, busctl_create_args, gv_env, gv_opts, gdbus_error, container_path,
                     wait_for)

tap = sandbox.Tap()
sb = sandbox.setup(tap, stop_timeout=5)
C = CONTAINER_IFACE


def prop(name, p):
    return sb.get_property(container_path(name), C, p)


def state(name):
    return prop(name, "State")


def leader_cgroup(name):
    pid = prop(name, "Leader")
    return pid, sb.run(["cat", "/proc/%d/cgroup" % pid]).stdout


def start_monitor():
    sb.run("rm -f /run/cm-mon.log /run/cm-mon.pid")
    p = sb.popen("echo $$ > /run/cm-mon.pid; exec stdbuf -oL gdbus monitor --system "
                 "--dest %s > /run/cm-mon.log 2>&1" % BUS)
    wait_for(lambda: "owned by" in sb.run("cat /run/cm-mon.log", check=False).stdout
             or "activatable" in sb.run("cat /run/cm-mon.log", check=False).stdout
             or sb.run("test -s /run/cm-mon.log", check=False).ok, 10, what="gdbus monitor")
    return p


def stop_monitor(p):
    sb.run("kill $(cat /run/cm-mon.pid)", check=False)
    p.wait(timeout=10)
    return sb.run("cat /run/cm-mon.log", check=False).stdout


# ---- images ------------------------------------------------------------------------------

def t_images_busctl():
    imgs = sb.mcall("Images")[0]
    names = {i[0]: i for i in imgs}
    assert {"busybox", "host"} <= set(names), imgs
    for i in imgs:
        assert len(i) == 6 and i[5].startswith(MANAGER_PATH + "/image/"), i
    return True


tap.check("Images() over busctl lists the busybox and host bases", t_images_busctl)


def t_images_gdbus():
    out = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Images").stdout
    return "'busybox'" in out and "'host'" in out or out


tap.check("Images() over gdbus lists busybox and host", t_images_gdbus)


def t_getimage():
    p = sb.mcall("GetImage", "s", "busybox")[0]
    assert p.startswith(MANAGER_PATH + "/image/"), p
    out = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".GetImage",
                   "host").stdout
    return "objectpath '%s/image/" % MANAGER_PATH in out or out


tap.check("GetImage() returns the image object (busctl and gdbus)", t_getimage)

# ---- create / list / properties -------------------------------------------------------

mon = None
try:
    mon = start_monitor()
except Exception as e:
    tap.diag("monitor not started: %s" % e)

t0 = time.monotonic()
res = sb.busctl("call", BUS, MANAGER_PATH, MANAGER_IFACE, "Create",
                *busctl_create_args("busybox", "web", {"GREETING": "hello"},
                                    {"command": ["sh", "-c", LOOP]}),
                check=False, json_out=True)
tap.diag("Create(start=true) took %.2fs" % (time.monotonic() - t0))
tap.ok(res.ok and json.loads(res.stdout)["data"][0] == container_path("web"),
       "Create over busctl returns the container's object path", res)
tap.check("Create with start=true replies once the container is running",
          lambda: state("web") == "running" or state("web"))


def t_list_busctl():
    lst = sb.list_containers()
    return lst.get("web") == {"image": "busybox", "state": "running",
                              "path": container_path("web")} or lst


tap.check("List() over busctl shows web running", t_list_busctl)


def t_list_gdbus():
    out = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".List").stdout
    return ("('web', 'busybox', 'running', objectpath '%s')" % container_path("web")) in out \
        or out


tap.check("List() over gdbus shows web running", t_list_gdbus)


def t_getcontainer():
    p = sb.mcall("GetContainer", "s", "web")[0]
    out = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".GetContainer",
                   "web").stdout
    return p == container_path("web") and container_path("web") in out or (p, out)


tap.check("GetContainer() (busctl and gdbus) returns the encoded path", t_getcontainer)


def t_properties():
    p = container_path("web")
    got = {k: sb.get_property(p, C, k) for k in
           ("Name", "Image", "State", "Unit", "Leader", "CreatedTimestamp",
            "StartedTimestamp", "ExitStatus", "Environment")}
    assert got["Name"] == "web" and got["Image"] == "busybox", got
    assert got["Unit"] == "container-web.scope", got
    assert got["Leader"] > 1, got
    now = time.time() * 1e6
    assert 0 < got["CreatedTimestamp"] <= got["StartedTimestamp"] <= now + 5e6, got
    # values can be secrets: the property (open to everyone) carries names only
    assert got["Environment"] == ["GREETING"], got
    return True


tap.check("properties Name/Image/State/Unit/Leader/timestamps/Environment (names only) are right",
          t_properties)


def t_getall_gdbus():
    out = sb.gdbus("--object-path", container_path("web"), "--method",
                   "org.freedesktop.DBus.Properties.GetAll", C).stdout
    return all("'%s'" % k in out for k in ("Name", "Image", "State", "Unit", "Leader",
                                           "CreatedTimestamp", "StartedTimestamp",
                                           "ExitStatus", "Environment")) or out


tap.check("Properties.GetAll over gdbus has every property", t_getall_gdbus)


def t_inspect():
    d = sb.call(container_path("web"), C, "Inspect")[0]
    assert isinstance(d, dict) and d, d
    out = sb.gdbus("--object-path", container_path("web"), "--method", C + ".Inspect").stdout
    return out.startswith("({") or out


tap.check("Inspect() returns a non-empty a{sv} (busctl and gdbus)", t_inspect)


def t_image_method():
    a = sb.call(container_path("web"), C, "Image")[0]
    b = sb.gdbus("--object-path", container_path("web"), "--method", C + ".Image").stdout
    return a == "busybox" and "'busybox'" in b or (a, b)


tap.check("Image() returns busybox (busctl and gdbus)", t_image_method)

# ---- the scope ---------------------------------------------------------------------------


def t_cgroup():
    pid, cg = leader_cgroup("web")
    want = "/containers.slice/container-web.scope/lxc.payload.web"
    return any(want in line for line in cg.splitlines()) or (pid, cg)


tap.check("the Leader runs in containers.slice/container-web.scope/lxc.payload.web",
          t_cgroup)


def t_status():
    st = sb.run(["systemctl", "status", "--no-pager", "-l", "container-web.scope"],
                check=False).stdout
    assert "active (running)" in st and "containers.slice" in st, st
    assert "sleep" in st or "sh -c" in st, st
    return True


tap.check("systemctl status container-web.scope is active and shows the payload", t_status)


def t_journal():
    return wait_for(lambda: "hello" in sb.journal("container-web.scope"), 15,
                    what="'hello' in the scope's journal")


tap.check("the container's stdout reaches journalctl -u container-web.scope", t_journal)


def t_tree():
    out = sb.run(["busctl", "--system", "--list", "tree", BUS]).stdout
    return container_path("web") in out and MANAGER_PATH + "/image/" in out or out


tap.check("busctl tree shows the container and the images", t_tree)


def t_objectmanager():
    d = sb.call(MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]
    p = container_path("web")
    return (p in d and C in d[p] and d[p][C]["State"]["data"] == "running") or d


tap.check("ObjectManager.GetManagedObjects has the container with its properties",
          t_objectmanager)

# ---- stop / start / restart --------------------------------------------------------------


def t_stop():
    pid = prop("web", "Leader")
    t = time.monotonic()
    sb.call(container_path("web"), C, "Stop")
    tap.diag("Stop took %.2fs" % (time.monotonic() - t))
    wait_for(lambda: state("web") == "stopped", 20, what="state stopped")
    wait_for(lambda: sb.unit_active("container-web.scope") != "active", 10, what="scope gone")
    assert not sb.run(["test", "-e", "/proc/%d" % pid], check=False).ok, "leader still alive"
    return sb.list_containers()["web"]["state"] == "stopped"


tap.check("Stop() over busctl stops it and ends the scope", t_stop)


def t_start_gdbus():
    sb.gdbus("--object-path", container_path("web"), "--method", C + ".Start")
    assert state("web") == "running", state("web")
    assert sb.unit_active("container-web.scope") == "active"
    pid, cg = leader_cgroup("web")
    return "container-web.scope" in cg or cg


tap.check("Start() over gdbus runs it again in a new scope", t_start_gdbus)


def t_restart():
    before = (prop("web", "Leader"), prop("web", "StartedTimestamp"))
    sb.call(container_path("web"), C, "Restart")
    wait_for(lambda: state("web") == "running", 20, what="running after Restart")
    after = (prop("web", "Leader"), prop("web", "StartedTimestamp"))
    assert after[0] != before[0] and after[1] > before[1], (before, after)
    sb.gdbus("--object-path", container_path("web"), "--method", C + ".Restart")
    wait_for(lambda: state("web") == "running", 20, what="running after 2nd Restart")
    return prop("web", "Leader") != after[0]


tap.check("Restart() (busctl and gdbus) gives a new leader and StartedTimestamp", t_restart)


def t_stop_gdbus():
    sb.gdbus("--object-path", container_path("web"), "--method", C + ".Stop")
    wait_for(lambda: state("web") == "stopped", 20, what="stopped")
    return sb.unit_active("container-web.scope") != "active"


tap.check("Stop() over gdbus", t_stop_gdbus)

# ---- create over gdbus, start=false --------------------------------------------------------


def t_create_gdbus_nostart():
    out = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Create",
                   "busybox", "idle", gv_env({"GREETING": "hi"}),
                   gv_opts({"start": False, "command": ["sh", "-c", LOOP]})).stdout
    assert container_path("idle") in out, out
    assert state("idle") == "created", state("idle")
    assert sb.unit_active("container-idle.scope") != "active"
    sb.call(container_path("idle"), C, "Start")
    return state("idle") == "running" or state("idle")


tap.check("Create over gdbus with start=false leaves it created; Start runs it",
          t_create_gdbus_nostart)


def t_ephemeral():
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "eph", {},
                                                {"ephemeral": True, "start": False,
                                                 "command": ["sh", "-c", LOOP]})))
    if sb.list_containers().get("eph", {}).get("state") != "created":
        return "eph is not created: %s" % sb.list_containers().get("eph")
    # once started and stopped, an ephemeral container removes itself (podman run --rm)
    sb.call(container_path("eph"), C, "Start")
    sb.call(container_path("eph"), C, "Stop")
    wait_for(lambda: "eph" not in sb.list_containers(), 10, what="eph to go away")
    if sb.run(["test", "-e", "/var/lib/containers-manager/containers/eph"], check=False).ok:
        return "eph's directory is left"
    # and one whose command ends by itself too
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "eph2", {},
                                                {"ephemeral": True, "command": ["true"]})))
    wait_for(lambda: "eph2" not in sb.list_containers(), 10, what="eph2 to go away")
    return True


tap.check("Create accepts the ephemeral option; an ephemeral container is removed when it "
          "stops, by Stop or by itself", t_ephemeral)

# ---- host base -----------------------------------------------------------------------------


def t_loopback_only():
    # no network beyond loopback: the container's network namespace has lo, up, and nothing else
    sb.mcall(*(["Create"] + busctl_create_args(
        "busybox", "net", {}, {"network": "none",
                               "command": ["sh", "-c", "echo ifaces: $(ls /sys/class/net); "
                                           "mkdir -p /w && echo ok > /w/i && httpd -p 127.0.0.1:81 -h /w && "
                                           "wget -q -O - http://127.0.0.1:81/i | grep -q ok && echo lo-ok; "
                                           "echo end; exec sleep 1000"]})))
    out = wait_for(lambda: (lambda o: o if "end" in o else None)(
        sb.journal("container-net.scope")), 10, what="the container's report")
    sb.mcall("Remove", "s", "net")
    if "ifaces: lo\n" not in out + "\n":
        return "interfaces: %r" % out
    return "lo-ok" in out or "loopback does not work inside: %r" % out


tap.check("network none: a container has loopback (up) and no other network interface", t_loopback_only)


def t_host():
    sb.mcall(*(["Create"] + busctl_create_args(
        "host", "py", {}, {"command": ["/usr/bin/python3", "-c", "print(6*7*1001)"]})))
    wait_for(lambda: state("py") in ("stopped", "failed"), 30, what="python container ends")
    st, ex = state("py"), prop("py", "ExitStatus")
    assert st == "stopped" and ex == 0, (st, ex)
    return wait_for(lambda: "42042" in sb.journal("container-py.scope"), 10,
                    what="python output in journal")


tap.check("host base runs the host's /usr/bin/python3, exit 0, output in the journal",
          t_host)

# ---- remove, signals --------------------------------------------------------------------------


def t_remove():
    sb.mcall("Remove", "s", "idle")       # running: Remove stops it
    assert "idle" not in sb.list_containers()
    wait_for(lambda: sb.unit_active("container-idle.scope") != "active", 20, what="scope end")
    r = sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".GetContainer",
                 "idle", check=False)
    assert gdbus_error(r) == "org.containers.Error.NoSuchContainer", r
    sb.gdbus("--object-path", MANAGER_PATH, "--method", MANAGER_IFACE + ".Remove", "py")
    lst = sb.list_containers()
    return set(lst) == {"web"} or lst


tap.check("Remove() (busctl on a running one, gdbus) removes containers and scopes",
          t_remove)


def t_signals():
    if mon is None:
        raise RuntimeError("no monitor")
    log = stop_monitor(mon)
    need = [
        "org.containers.Manager.ContainerNew ('web', objectpath '%s')" % container_path("web"),
        "org.containers.Manager.ContainerRemoved ('idle', objectpath '%s')"
        % container_path("idle"),
        "'State': <'running'>", "'State': <'stopped'>",
        "org.freedesktop.DBus.ObjectManager.InterfacesAdded",
        "org.freedesktop.DBus.ObjectManager.InterfacesRemoved",
    ]
    missing = [n for n in need if n not in log]
    return not missing or ("missing %s in:\n%s" % (missing, log[-3000:]))


tap.check("signals: ContainerNew/Removed, PropertiesChanged State, InterfacesAdded/Removed",
          t_signals)

# ---- introspection == dbus/*.xml --------------------------------------------------------------


def members(xml_text, iface):
    root = ET.fromstring(xml_text)
    for i in root.iter("interface"):
        if i.get("name") == iface:
            def args(el, want_dir=None):
                return [(a.get("direction") or ("in" if el.tag == "method" else "out"),
                         a.get("type")) for a in el.findall("arg")]
            return {
                "methods": {m.get("name"): args(m) for m in i.findall("method")},
                "signals": {s.get("name"): [a.get("type") for a in s.findall("arg")]
                            for s in i.findall("signal")},
                "properties": {p.get("name"): (p.get("type"), p.get("access"))
                               for p in i.findall("property")},
            }
    return None


def t_introspect(iface, path):
    src = os.path.join(sandbox.source_root(), "dbus", iface + ".xml")
    with open(src) as f:
        ref = members(f.read(), iface)
    assert ref is not None, "%s has no interface %s" % (src, iface)
    live_xml = sb.call(path, "org.freedesktop.DBus.Introspectable", "Introspect")[0]
    live = members(live_xml, iface)
    assert live is not None, "live object %s has no %s" % (path, iface)
    diffs = []
    for kind in ("methods", "signals", "properties"):
        for n in sorted(set(ref[kind]) | set(live[kind])):
            if ref[kind].get(n) != live[kind].get(n):
                diffs.append("%s %s: xml=%s live=%s" % (kind, n, ref[kind].get(n),
                                                        live[kind].get(n)))
    return not diffs or "\n".join(diffs)


img_path = None
try:
    img_path = sb.mcall("GetImage", "s", "busybox")[0]
except Exception as e:
    tap.diag("GetImage failed: %s" % e)
try:   # a container object of its own, so this does not depend on the tests above
    sb.mcall(*(["Create"] + busctl_create_args("busybox", "intro", {},
                                                {"start": False, "command": ["true"]})))
except Exception as e:
    tap.diag("Create intro failed: %s" % e)
build_path = None
try:   # a build object: root may build from a local repository
    sb.run("mkdir -p /srv/intro && cd /srv/intro && git init -q -b main . && "
           "printf 'Base: busybox\\nCommand: true\\n' > Run.yaml && git add Run.yaml && "
           "git -c user.name=t -c user.email=t@t.invalid commit -q -m intro")
    build_path = sb.mcall("Build", "ssa{sv}", "intro", "/srv/intro", "0")[0]
    sb.call(build_path, "org.containers.Build", "Wait")
except Exception as e:
    tap.diag("Build intro failed: %s" % e)
for iface, path in ((MANAGER_IFACE, MANAGER_PATH), (C, container_path("intro")),
                    (IMAGE_IFACE, img_path), ("org.containers.Build", build_path)):
    if path is None:
        tap.ok(False, "live Introspect() of %s matches dbus/%s.xml" % (iface, iface),
               "no object")
        continue
    tap.check("live Introspect() of %s matches dbus/%s.xml" % (iface, iface),
              t_introspect, iface, path)

for n in ("web", "intro"):
    sb.mcall("Remove", "s", n, check=False)
sb.stop()
sys.exit(tap.done())
