#!/usr/bin/python3
"""libcontainers-manager, the GObject client library, as it is installed: the library, its
headers and pkg-config file, and the ContainersManager-1.0 typelib land where the compiler,
ld.so and gi find them without any environment; the examples in C, Python and GJS
(examples/client/) list, watch a state change, stop and start, and build with progress
against the service; errors arrive with their D-Bus names; containers come and go as objects
of the client (the issue's own snippet)."""

import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import gitserver  # noqa: E402
from sandbox import HELPER_DIR, LOOP, busctl_create_args, container_path  # noqa: E402

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)
E = "org.containers.Error."
TYPELIB = "/usr/lib/x86_64-linux-gnu/girepository-1.0/ContainersManager-1.0.typelib"
EX = HELPER_DIR + "/examples"

# The examples as a user has them: the Python and GJS ones from the source tree, the C one
# compiled inside the sandbox against the installed headers, pkg-config file and library.
src = os.path.join(sandbox.source_root(), "examples", "client")
dest = os.path.join(sb.root, EX.lstrip("/"))
os.makedirs(dest, exist_ok=True)
for f in ("containers-client.c", "containers-client.py", "containers-client.js"):
    shutil.copy(os.path.join(src, f), dest)

LANGS = {
    "c": [EX + "/containers-client"],
    "python": ["/usr/bin/python3", EX + "/containers-client.py"],
    "gjs": ["gjs", EX + "/containers-client.js"],
}


def run(lang, *args, check=False, timeout=120):
    return sb.run(LANGS[lang] + list(args), check=check, timeout=timeout)


def lines(res):
    return res.stdout.splitlines()


def create(name, start=True):
    sb.mcall(*(["Create"] + busctl_create_args("busybox", name, {"GREETING": "hi"},
                                               {"start": start, "command": ["sh", "-c", LOOP]})))


def state(name):
    return sb.get_property(container_path(name), sandbox.CONTAINER_IFACE, "State")


try:
    # ---- what meson install put where --------------------------------------------------
    tap.ok(sb.run(["test", "-f", TYPELIB], check=False).ok,
           "the typelib is installed in Debian's girepository-1.0 (" + TYPELIB + ")")
    r = sb.run(["pkg-config", "--modversion", "libcontainers-manager"], check=False)
    tap.ok(r.ok and r.stdout.strip() == "0.1", "pkg-config knows libcontainers-manager",
           r.stdout + r.stderr)
    r = sb.run("cc -o %s/containers-client %s/containers-client.c "
               "$(pkg-config --cflags --libs libcontainers-manager)" % (EX, EX), check=False)
    tap.ok(r.ok, "the C example compiles against the installed headers and library",
           r.stdout + r.stderr)
    r = sb.run(["/usr/bin/python3", "-c",
                "import gi; gi.require_version('ContainersManager', '1.0'); "
                "from gi.repository import ContainersManager as CM; print(CM.Client.__gtype__.name)"],
               check=False)
    tap.ok(r.ok and r.stdout.strip() == "ContainersManagerClient",
           "python3-gi finds ContainersManager-1.0 with no GI_TYPELIB_PATH", r.stdout + r.stderr)

    # every method that passes descriptors takes and returns a GUnixFDList (the codegen
    # annotations in libcontainers-manager/meson.build cover dbus/*.xml)
    import glob
    import re
    import xml.etree.ElementTree as ET
    fd_methods = []
    for x in sorted(glob.glob(os.path.join(sandbox.source_root(), "dbus", "*.xml"))):
        for iface in ET.parse(x).getroot().iter("interface"):
            for m in iface.iter("method"):
                if any(a.get("type") == "h" for a in m.iter("arg")):
                    fd_methods.append((iface.get("name").split(".")[-1], m.get("name")))
    script = "import gi; gi.require_version('ContainersManager', '1.0')\n" \
             "from gi.repository import ContainersManager as CM\n"
    for iface, m in fd_methods:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", m).lower()
        script += "print(%r, 'fd_list' in CM.%sProxy.call_%s_sync.__doc__)\n" % (m, iface, snake)
    r = sb.run(["/usr/bin/python3", "-c", script], check=False)
    missing = [ln for ln in lines(r) if not ln.endswith(" True")]
    tap.ok(r.ok and len(fd_methods) >= 11 and not missing,
           "all %d fd-passing methods take a GUnixFDList" % len(fd_methods), r.stdout + r.stderr)

    create("web")
    gitserver.start_git_server(sb)
    url = gitserver.make_repo(sb, "hello", {
        "Run.yaml": "Base: busybox\nCommand: [sh, -c, 'echo hello']\n",
        "README": "hello\n"})

    for lang in LANGS:
        # list
        r = run(lang, "list")
        ok = (r.returncode == 0 and "container web busybox running" in lines(r)
              and any(ln.startswith("image busybox ") for ln in lines(r)))
        tap.ok(ok, "%s: list shows the container (name, image, state) and the images" % lang,
               r.stdout + r.stderr)

        # watch a state change while the same example stops the container
        w = sb.popen(LANGS[lang] + ["watch", "web", "stopped"], stdout=sandbox.subprocess.PIPE,
                     stderr=sandbox.subprocess.PIPE)
        first = w.stdout.readline().strip()
        tap.ok(first == "watching web running", "%s: watch starts from the current state" % lang,
               first)
        t0 = time.monotonic()
        r = run(lang, "stop", "web")
        tap.ok(r.returncode == 0 and lines(r)[-1:] == ["web stopped"],
               "%s: stop replies once stopped, and the object's State says so" % lang,
               r.stdout + r.stderr)
        try:
            out, err = w.communicate(timeout=30)
        except sandbox.subprocess.TimeoutExpired:
            w.kill()
            out, err = w.communicate()
        seen = out.splitlines()
        tap.ok(w.returncode == 0 and seen[-1:] == ["state stopped"],
               "%s: watch sees the change to stopped (PropertiesChanged) and exits" % lang,
               "rc %s: %r %s" % (w.returncode, seen, err))
        tap.diag("%s: stop + watch took %.2f s" % (lang, time.monotonic() - t0))

        r = run(lang, "start", "web")
        tap.ok(r.returncode == 0 and lines(r)[-1:] == ["web running"] and state("web") == "running",
               "%s: start" % lang, r.stdout + r.stderr)

        # build with progress: log lines and Progress as they come, then Completed
        image = "hello-" + lang
        r = run(lang, "build", image, url, "main", timeout=300)
        out = lines(r)
        ok = (r.returncode == 0 and out[:1] and out[0].startswith("build /org/containers/Manager/build/_")
              and any(ln.startswith("log ") for ln in out)
              and any(ln.startswith("progress ") for ln in out)
              and out[-1].startswith("completed true"))
        tap.ok(ok, "%s: build prints its log lines, progress and completion" % lang,
               r.stdout + r.stderr)
        got = sb.mcall("GetImage", "s", image, check=False)
        tap.ok(isinstance(got, list), "%s: the built image exists" % lang, repr(got))

        # a bus error arrives with its name
        r = run(lang, "build", "no good name", url)
        tap.ok(r.returncode == 1 and lines(r)[-1:] and lines(r)[-1].startswith("error " + E + "InvalidName ")
               and "GDBus.Error" not in r.stdout,
               "%s: an error carries its D-Bus name (InvalidName) and its message" % lang,
               r.stdout + r.stderr)

    # ---- the service leaves the bus (idle exit, restart) while a client watches -------------
    watcher = r"""
import sys, gi
gi.require_version("ContainersManager", "1.0")
from gi.repository import ContainersManager as CM, GLib
client = CM.Client.new_sync(None)
client.props.reactivate = sys.argv[1] == "yes"
om = client.get_object_manager()
om.connect("object-removed", lambda om, o: o.get_object_path().endswith("/web") and print("removed web", flush=True))
def added(om, o):
    if o.get_object_path().endswith("/web"):
        print("added web", o.get_container().props.state, flush=True)
        loop.quit()
om.connect("object-added", added)
print("ready", [c.props.name for c in client.get_containers()], flush=True)
sys.stdin.readline()
loop = GLib.MainLoop()
GLib.timeout_add_seconds(int(sys.argv[2]), loop.quit)
loop.run()
print("end", [c.props.name for c in client.get_containers()], flush=True)
"""

    def service_goes(reactivate, seconds, then=None):
        p = subprocess.Popen(sb.nsenter_argv(["/usr/bin/python3", "-c", watcher, reactivate, str(seconds)]),
                             env=dict(sandbox.BASE_ENV), text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = p.stdout.readline().strip()
        t0 = time.monotonic()
        sb.run(["systemctl", "stop", "containers-manager.service"])
        p.stdin.write("\n")
        p.stdin.flush()
        if then:
            then()
        try:
            out, err = p.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        return [first] + out.splitlines(), err, time.monotonic() - t0

    out, err, took = service_goes("yes", 20)
    tap.ok(out[:1] == ["ready ['web']"] and "removed web" in out and "added web running" in out,
           "the service stops while a client watches: its objects go, the client starts the "
           "service again, and they come back (the container ran on meanwhile)", "%r %s" % (out, err))
    tap.diag("back after %.2f s" % took)
    tap.ok(state("web") == "running", "web still runs")

    def activate_later():
        time.sleep(3)
        sb.mcall("List")

    out, err, took = service_goes("no", 20, activate_later)
    tap.ok("removed web" in out and "added web running" in out and took >= 3,
           "with reactivate false the objects stay gone until something starts the service",
           "%r %s (%.1f s)" % (out, err, took))

    # ---- objects come and go (the snippet, plus Create and Remove) ------------------
    script = r"""
import gi
gi.require_version("ContainersManager", "1.0")
from gi.repository import ContainersManager as CM, GLib
client = CM.Client.new_sync(None)
for c in client.get_containers(): print("have", c.props.name, c.props.state)
m = client.get_manager()
path = m.call_create_sync("busybox", "tmp1", GLib.Variant("a{ss}", {}), GLib.Variant("a{sv}", {"start": GLib.Variant("b", False), "command": GLib.Variant("as", ["true"])}), None)
client.settle()
c = client.get_container("tmp1")
print("created", c is not None and c.props.state, c is not None and c.get_object_path() == path)
print("by path", client.get_container_for_path(path).props.name)
added = []
client.get_object_manager().connect("object-removed", lambda om, o: added.append(o.get_object_path()))
m.call_remove_sync("tmp1", None)
client.settle()
print("removed", client.get_container("tmp1") is None, added == [path])
print("images", sorted(i.props.name for i in client.get_images() if i.props.is_base))
client.get_container("web").call_stop_sync(None)
client.settle()   # PropertiesChanged came before the reply: dispatch it
print("stopped", client.get_container("web").props.state)
"""
    r = sb.run(["/usr/bin/python3", "-c", script], check=False)
    out = lines(r)
    tap.ok(r.ok and "have web running" in out, "python: the issue's snippet lists containers",
           r.stdout + r.stderr)
    tap.ok("created created True" in out and "by path tmp1" in out,
           "a container made with Create appears as an object (settle)", r.stdout + r.stderr)
    tap.ok("removed True True" in out, "a removed container goes (object-removed)", r.stdout + r.stderr)
    tap.ok(any(ln.startswith("images ") and "'busybox'" in ln for ln in out),
           "images carry their properties (IsBase)", r.stdout + r.stderr)
    tap.ok("stopped stopped" in out and state("web") == "stopped",
           "call_stop_sync on a container from get_container()", r.stdout + r.stderr)
except Exception as e:
    tap.ok(False, "unexpected exception", "%s: %s" % (type(e).__name__, e))

sys.exit(tap.done())
