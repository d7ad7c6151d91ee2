#!/usr/bin/python3
"""The Apache libcloud driver (python/containers_manager/libcloud.py), as installed, with
Debian's python3-libcloud against the service: set_driver/get_driver find it; list_images,
install_image from an ExportImage archive (ImportImage) and from a git URL (Build),
deploy_container with environment and command, list_containers (all, by image),
get_container, start/stop/restart/destroy_container, all with libcloud's Container,
ContainerImage and ContainerState; errors are libcloud's exceptions (LibcloudError with the
D-Bus error name, InvalidCredsError when polkit refuses)."""

import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import gitserver  # noqa: E402
from sandbox import HELPER_DIR, TEST_USER  # noqa: E402

tap = sandbox.Tap()
sb = sandbox.setup(tap, idle_timeout=0, stop_timeout=10)

# Runs inside the sandbox with /usr/bin/python3; prints one "CHECK\t<0|1>\t<name>\t<diag>" per
# check (the host turns them into TAP).
DRIVER_SCRIPT = r'''
import os, sys, traceback
URL, ARCHIVE, MODE = sys.argv[1], sys.argv[2], sys.argv[3]

def check(ok, name, diag=""):
    print("CHECK\t%d\t%s\t%s" % (1 if ok else 0, name, str(diag).replace("\n", " | ")), flush=True)

def raises(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except Exception as e:
        return e
    return None

from libcloud.common.types import LibcloudError, InvalidCredsError
from libcloud.container.base import Container, ContainerImage
from libcloud.container.types import ContainerState
from libcloud.container.providers import get_driver, set_driver
set_driver("containers_manager", "containers_manager.libcloud", "ContainersManagerDriver")
drv = get_driver("containers_manager")()

if MODE == "user":
    cs = drv.list_containers()
    check(any(c.name == "lc1" for c in cs), "an unprivileged user lists containers", cs)
    c = [c for c in cs if c.name == "lc1"][0]
    e = raises(drv.stop_container, c)
    check(isinstance(e, InvalidCredsError), "polkit's refusal is InvalidCredsError", repr(e))
    e = raises(drv.destroy_container, c)
    check(isinstance(e, InvalidCredsError), "... for destroy_container too", repr(e))
    sys.exit(0)

import containers_manager.libcloud as mod
check(mod.__file__.startswith("/usr/lib/python3/dist-packages/"),
      "the driver is installed in Debian's python3 dist-packages", mod.__file__)

imgs = drv.list_images()
bb = [i for i in imgs if i.name == "busybox"]
check(bb and isinstance(bb[0], ContainerImage) and bb[0].extra["is_base"],
      "list_images: ContainerImage objects, the busybox base among them", imgs)

loop = "trap 'exit 0' TERM; echo A=$A; while :; do sleep 1; done"
c = drv.deploy_container("lc1", bb[0], parameters={"env": {"A": "1"}, "command": loop}, start=True)
check(isinstance(c, Container) and c.name == "lc1" and c.state == ContainerState.RUNNING
      and c.image.name == "busybox" and c.id,
      "deploy_container(start=True): a running Container with its image and id", vars(c))
cs = drv.list_containers()
check([x.name for x in cs] == ["lc1"] and cs[0].state == ContainerState.RUNNING,
      "list_containers", cs)
g = drv.get_container(c.id)
check(g.name == "lc1" and g.id == c.id and g.extra["environment"] == ["A"]
      and g.extra["command"] == ["sh", "-c", loop],
      "get_container by id: environment (names) and command as deployed", vars(g))
info = drv.ex_inspect(g)
check(info.get("Environment") == ["A=1"] and info.get("Name") == "lc1",
      "ex_inspect: Inspect's dictionary, environment values included for root", info)
s = drv.stop_container(c)
check(s.state == ContainerState.STOPPED and drv.get_container("lc1").state == ContainerState.STOPPED,
      "stop_container -> STOPPED", vars(s))
s = c.start()
check(s.state == ContainerState.RUNNING, "Container.start() -> RUNNING", vars(s))
leader = s.extra["leader"]
s = drv.restart_container(s)
check(s.state == ContainerState.RUNNING and s.extra["leader"] != leader,
      "restart_container: running again, a new leader", (leader, vars(s)))
c2 = drv.deploy_container("lc2", "busybox", parameters='{"command": ["sleep", "1000"]}', start=False)
check(c2.state == ContainerState.STOPPED and c2.extra["state"] == "created",
      "deploy_container(start=False), parameters as JSON: created, not running", vars(c2))

# errors
e = raises(drv.deploy_container, "lc3", "no-such-image", parameters={"command": "true"})
check(isinstance(e, LibcloudError) and getattr(e, "error_name", "") == "org.containers.Error.NoSuchImage"
      and e.value.startswith("org.containers.Error.NoSuchImage: ") and "GDBus.Error" not in e.value,
      "deploy of a missing image: LibcloudError NoSuchImage with the service's message", repr(e))
e = raises(drv.deploy_container, "lc1", bb[0], parameters={"command": "true"})
check(isinstance(e, LibcloudError) and getattr(e, "error_name", "") == "org.containers.Error.ContainerExists",
      "deploy under a taken name: ContainerExists", repr(e))
e = raises(drv.deploy_container, "lc3", bb[0], parameters={"colour": "blue"})
check(isinstance(e, LibcloudError) and "colour" in str(e) and
      not any(x.name == "lc3" for x in drv.list_containers()),
      "an unknown parameter: LibcloudError, nothing created", repr(e))
e = raises(drv.get_container, "nope")
check(isinstance(e, LibcloudError), "get_container of a missing one: LibcloudError", repr(e))
e = raises(drv.install_image, "/nonexistent/x.tar")
check(isinstance(e, LibcloudError), "install_image of a missing file: LibcloudError", repr(e))
e = raises(drv.install_image, "/etc/hostname", ex_name="junk")
check(isinstance(e, LibcloudError) and getattr(e, "error_name", "") and
      not any(i.name == "junk" for i in drv.list_images()),
      "install_image of a file that is no archive: LibcloudError, no image", repr(e))

# images from git and from an archive
img = drv.install_image(URL)
check(img.name == "app" and img.extra["url"] == URL and img.version,
      "install_image(git URL) builds the image", vars(img))
e = raises(drv.install_image, URL.replace("app.git", "nothere.git"))
check(isinstance(e, LibcloudError) and getattr(e, "error_name", "") == "org.containers.Error.BuildFailed",
      "a failed build: LibcloudError BuildFailed", repr(e))
print("EXPORT", flush=True)
sys.stdin.readline()   # the host exports image app to ARCHIVE meanwhile
img2 = drv.install_image(ARCHIVE, ex_name="app2")
check(img2.name == "app2" and img2.path == ARCHIVE and any(i.name == "app2" for i in drv.list_images()),
      "install_image(archive) imports it (ImportImage)", vars(img2))
img3 = drv.install_image(ARCHIVE)
check(img3.name == "app-export", "install_image names the image after the file", vars(img3))
check(drv.ex_remove_image(img3) is True and not any(i.name == "app-export" for i in drv.list_images()),
      "ex_remove_image", drv.list_images())
c3 = img2.deploy("lc3", parameters={"env": {"A": "2"}})
check(c3.state == ContainerState.RUNNING and c3.image.name == "app2",
      "ContainerImage.deploy() runs the imported image's own command", vars(c3))
check([x.name for x in drv.list_containers(image=img2)] == ["lc3"],
      "list_containers(image=...) filters by image", drv.list_containers(image=img2))
e = raises(drv.ex_remove_image, img2)
check(getattr(e, "error_name", "") == "org.containers.Error.ImageInUse",
      "ex_remove_image of an image in use: ImageInUse", repr(e))
print("USER", flush=True)
sys.stdin.readline()   # the host runs the unprivileged checks meanwhile

for x in ("lc2", "lc3"):
    r = drv.destroy_container(drv.get_container(x))
    check(r is True, "destroy_container(%s) -> True" % x, r)
check(c.destroy() is True and drv.list_containers() == [],
      "Container.destroy() of a running one; none left", drv.list_containers())
'''


def main():
    gitserver.start_git_server(sb)
    url = gitserver.make_repo(sb, "app", {
        "Run.yaml": "Base: busybox\nCommand: [sh, -c, 'trap \"exit 0\" TERM; "
                    "while :; do echo A=$A; sleep 1; done']\n"})
    helpers = os.path.join(sb.root, HELPER_DIR.lstrip("/"))
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageclient.py"), helpers)
    with open(os.path.join(helpers, "libcloud-driver-test.py"), "w") as f:
        f.write(DRIVER_SCRIPT)
    archive = "/srv/app-export.tar"
    # (sb.popen gives no stdin: the script waits on it while the host does its part)
    p = subprocess.Popen(sb.nsenter_argv(["/usr/bin/python3", HELPER_DIR + "/libcloud-driver-test.py",
                                          url, archive, "root"]),
                         env=dict(sandbox.BASE_ENV), text=True, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def checks_until(marker):
        for line in p.stdout:
            line = line.rstrip("\n")
            if line == marker:
                return True
            if line.startswith("CHECK\t"):
                _, ok, name, diag = (line.split("\t", 3) + [""])[:4]
                tap.ok(ok == "1", name, diag)
            else:
                tap.diag(line)
        return False

    if checks_until("EXPORT"):
        r = sb.run(["/usr/bin/python3", HELPER_DIR + "/imageclient.py", "export", "app", archive],
                   check=False)
        tap.ok(r.stdout.strip() == "ok", "the built image exports (ExportImage) to an archive",
               r.stdout + r.stderr)
        p.stdin.write("\n")
        p.stdin.flush()
    if checks_until("USER"):
        r = sb.run(["/usr/bin/python3", HELPER_DIR + "/libcloud-driver-test.py", url, archive,
                    "user"], user=TEST_USER, check=False)
        for line in r.stdout.splitlines():
            if line.startswith("CHECK\t"):
                _, ok, name, diag = (line.split("\t", 3) + [""])[:4]
                tap.ok(ok == "1", "as %s: %s" % (TEST_USER, name), diag)
        if r.returncode != 0:
            tap.ok(False, "the unprivileged run", r.stdout + r.stderr)
        p.stdin.write("\n")
        p.stdin.flush()
    checks_until(None)
    err = p.stderr.read()
    p.wait(timeout=60)
    if not tap.ok(p.returncode == 0, "the driver script ran to its end", err[-3000:]):
        tap.diag(sb.run(["journalctl", "-q", "--no-pager", "-n", "60", "-u", "containers-manager.service",
                         "-u", "container-*.scope"], check=False).stdout)


try:
    main()
except Exception as e:
    tap.ok(False, "unexpected exception", "%s: %s" % (type(e).__name__, e))
sys.exit(tap.done())
