#!/usr/bin/python3
"""The Cockpit page in a real browser: cockpit-ws runs inside the throwaway systemd without TLS
and without a login (--local-session: the bridge runs as root there, so polkit allows every
action), and Debian's headless Chromium, started inside the sandbox too (it has a network of its
own), is driven over the DevTools protocol (cdp.py).  The page loads, a container created over
the bus appears without a reload and follows its state, Stop/Start/Remove from the page act
on the service, logs are shown and followed, a build from a git URL shows its progress, a
container is created from the built image, a failed call shows the service's message, an
unprivileged user's session (a second cockpit-ws run as that user) is refused by polkit with the
message on the page, and the page goes on across a stop and re-activation of the service.

Screenshots and the browser's log go to <build>/meson-logs/cockpit/ (beside the test log)."""

import json
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
import gitserver  # noqa: E402
from gitserver import RandomBytes  # noqa: E402
import cdp  # noqa: E402
from sandbox import (CONTAINER_IFACE, LOOP, busctl_create_args, container_path,  # noqa: E402
                     wait_for)

WS = "/usr/lib/cockpit/cockpit-ws"
PORT = 9091             # inside the sandbox's own network namespace: nothing else is there
ORIGIN = "http://127.0.0.1:%d" % PORT
PAGE = ORIGIN + "/cockpit/@localhost/containers-manager/index.html"
SHELL = ORIGIN + "/containers-manager"
USER_PORT = 9092        # a second cockpit-ws whose session is the unprivileged test user's
USER_PAGE = "http://127.0.0.1:%d/cockpit/@localhost/containers-manager/index.html" % USER_PORT
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")

tap = sandbox.Tap()
for need in (WS, cdp.CHROMIUM):
    if not os.path.exists(need):
        print("1..0 # SKIP %s is not installed (tools/install-deps)" % need)
        sys.exit(0)

OUT = os.path.join(sandbox.build_root(), "meson-logs", "cockpit")
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)

sb = sandbox.setup(tap, stop_timeout=5)
browser = None


def bail(why):
    tap.bail(why)
    if browser:
        browser.close()
    sb.stop()
    sys.exit(1)


def shot(name):
    path = browser.screenshot(os.path.join(OUT, name + ".png"))
    tap.diag("screenshot: " + path)
    return path


def js_str(s):
    return json.dumps(s)


def row(name):
    return "#containers tr[data-name=%s]" % js_str(name)


def page_state(name):
    return browser.js("(() => { const r = document.querySelector(%s); "
                      "return r ? r.dataset.state : null; })()" % js_str(row(name)))


def bus_state(name):
    return sb.get_property(container_path(name), CONTAINER_IFACE, "State")


def create_over_bus(name, greeting):
    sb.mcall(*(["Create"] + busctl_create_args("busybox", name, {"GREETING": greeting},
                                                {"command": ["sh", "-c", LOOP]})))


def alerts():
    return browser.js("Array.from(document.querySelectorAll('#alerts .alert'))"
                      ".map(a => a.textContent)")


def no_alerts():
    a = alerts()
    return True if not a else "the page shows errors: %r" % a


# ---- cockpit-ws and the browser, both inside the sandbox -------------------------------------

try:
    BASE_URL = gitserver.start_git_server(sb)
    sb.run(["systemd-run", "--unit=cm-cockpit-ws", "--quiet", "--collect",
            "-p", "Description=cockpit-ws for the Cockpit page's test",
            WS, "--no-tls", "--local-session=cockpit-bridge", "--address=127.0.0.1",
            "--port=%d" % PORT])
    wait_for(lambda: sb.run(["/usr/bin/python3", "-c",
                             "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])",
                             PAGE], check=False).ok,
             timeout=30, what="cockpit-ws to serve the page")
    tap.ok(True, "cockpit-ws --no-tls --local-session=cockpit-bridge serves the page at " + PAGE)
except Exception as e:
    bail("cockpit-ws did not come up: %s\n%s" % (e, sb.journal("cm-cockpit-ws.service")))

try:
    sb.run(["mkdir", "-p", "/var/tmp/cm-chromium"])
    browser = cdp.Browser(lambda argv, **kw: sb.popen(argv, **kw), "/var/tmp/cm-chromium",
                          os.path.join(OUT, "chromium.log"))
except Exception as e:
    bail("headless Chromium did not start: %s" % e)


# ---- the page --------------------------------------------------------------------------------

def t_loads():
    browser.navigate(PAGE)
    browser.wait_js("document.getElementById('app').dataset.ready === 'true'", timeout=60,
                    what="the page to connect to the service")
    # a mark that a reload would wipe out: later checks prove the page was never reloaded
    browser.js("window.cmNoReload = 'yes'")
    title = browser.js("document.querySelector('h1').textContent")
    if title != "Containers":
        return "heading %r" % title
    images = browser.js("Array.from(document.querySelectorAll('#create-image option'))"
                        ".map(o => o.value)")
    if "busybox" not in images:
        return "the image list has no busybox: %r" % images
    shot("01-loaded")
    return no_alerts()


if not tap.check("the page loads, connects to org.containers.Manager and lists the images",
                 t_loads):
    tap.diag("\n".join(browser.console))
    bail("the page did not load")


def t_appears_live():
    create_over_bus("web", "hello-from-web")
    wait_for(lambda: page_state("web") == "running", timeout=30,
             what="the container to show as running")
    if browser.js("window.cmNoReload") != "yes":
        return "the page was reloaded"
    shot("02-created-over-bus")
    return no_alerts()


tap.check("a container created over the bus appears, running, without a reload",
          t_appears_live)


def t_stop_from_page():
    browser.click(row("web") + " button[data-action=stop]")
    wait_for(lambda: bus_state("web") == "stopped", timeout=30,
             what="the service to say stopped")
    wait_for(lambda: page_state("web") == "stopped", timeout=10,
             what="the page to say stopped")
    if browser.js("window.cmNoReload") != "yes":
        return "the page was reloaded"
    shot("03-stopped-from-page")
    return no_alerts()


tap.check("Stop on the page stops the container; the page follows its State", t_stop_from_page)


def t_start_from_page():
    browser.click(row("web") + " button[data-action=start]")
    wait_for(lambda: bus_state("web") == "running", timeout=30,
             what="the service to say running")
    wait_for(lambda: page_state("web") == "running", timeout=10, what="the page to say running")
    return no_alerts()


tap.check("Start on the page starts it again", t_start_from_page)


def t_state_from_outside():
    sb.call(container_path("web"), CONTAINER_IFACE, "Stop")
    wait_for(lambda: page_state("web") == "stopped", timeout=10, what="stopped on the page")
    sb.call(container_path("web"), CONTAINER_IFACE, "Start")
    wait_for(lambda: page_state("web") == "running", timeout=10, what="running on the page")


tap.check("a Stop and a Start by another client show on the page (PropertiesChanged)",
          t_state_from_outside)


def t_logs():
    browser.click(row("web") + " button[data-action=logs]")
    browser.wait_js("document.getElementById('logs-output').textContent"
                    ".includes('hello-from-web')", timeout=20, what="Logs() output on the page")
    return no_alerts()


tap.check("Logs shows what the container wrote (Logs())", t_logs)


def t_follow():
    browser.click("#logs-follow")
    browser.wait_js("document.getElementById('logs-source').textContent.startsWith('Following')",
                    timeout=10)
    count = ("document.getElementById('logs-output').textContent"
             ".split('hello-from-web').length - 1")
    first = browser.wait_js(count, timeout=20, what="the followed journal's first lines")
    # the container writes a line a second: more come without any click
    browser.wait_js("(%s) >= %d" % (count, first + 2), timeout=20,
                    what="new lines while following")
    shot("04-logs-followed")
    browser.click("#logs-follow")
    return no_alerts()


tap.check("Follow streams new lines as the container writes them (journalctl --follow)",
          t_follow)


def t_error_shown():
    browser.js("document.getElementById('create-image').value = 'busybox'")
    browser.fill("#create-name", "web")
    browser.click("#create-submit")
    text = browser.wait_js("Array.from(document.querySelectorAll('#alerts .alert'))"
                           ".map(a => a.textContent).join('\\n')", timeout=20,
                           what="an error on the page")
    shot("05-error-shown")
    browser.js("document.querySelectorAll('#alerts .alert').forEach(a => a.remove())")
    if "org.containers.Error.ContainerExists" not in text or "web" not in text:
        return "the alert says %r" % text


tap.check("a failed call (Create of an existing name) shows the service's message and error name",
          t_error_shown)


# ---- build with progress, then create from the built image -----------------------------------

APP_YAML = ("Base: busybox\n"
            "Command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do echo built-app-says-hi; "
            "sleep 1 & wait $!; done\"]\n")


def t_build():
    # 384 KiB at 64 kB/s through the throttled listener: a few seconds of fetching to watch
    gitserver.make_repo(sb, "webapp", {"Run.yaml": APP_YAML, "blob.bin": RandomBytes(384 << 10)})
    url = gitserver.slow_url(BASE_URL + "/webapp.git")
    browser.fill("#build-name", "webapp")
    browser.fill("#build-url", url)
    browser.click("#build-submit")
    item = "#builds li[data-name=webapp]"
    browser.wait_js("!!document.querySelector(%s)" % js_str(item), timeout=20,
                    what="the build to show up")
    seen = []
    mid_shot = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        st = browser.js("(() => { const li = document.querySelector(%s); return li && "
                        "[li.dataset.state, li.querySelector('progress').value, "
                        "li.querySelector('.percent').textContent]; })()" % js_str(item))
        if st and (not seen or seen[-1] != st):
            seen.append(st)
        if st and st[0] == "running" and 0 < st[1] < 1 and not mid_shot:
            shot("06-build-in-progress")
            mid_shot = True
        if st and st[0] != "running":
            break
        time.sleep(0.2)
    tap.diag("build states seen on the page: %s" % seen)
    if not seen or seen[-1][0] != "succeeded":
        return "the build did not succeed on the page: %r %r" % (seen, alerts())
    if seen[-1][1] != 1 or seen[-1][2] != "100 %":
        return "a succeeded build shows %r" % (seen[-1],)
    if not any(0 < s[1] < 1 for s in seen):
        return "no progress between 0 and 1 was shown: %r" % seen
    browser.wait_js("Array.from(document.querySelectorAll('#create-image option'))"
                    ".some(o => o.value === 'webapp')", timeout=10,
                    what="the new image in the Create form")
    shot("07-build-done")
    return no_alerts()


tap.check("a build from a git URL started on the page shows its progress to 100 % and the image "
          "appears", t_build)


def t_create_from_page():
    browser.js("document.getElementById('create-image').value = 'webapp'")
    browser.fill("#create-name", "app1")
    browser.click("#create-submit")
    wait_for(lambda: page_state("app1") == "running", timeout=30,
             what="app1 running on the page")
    c = sb.list_containers()
    if c.get("app1", {}).get("image") != "webapp":
        return "List() says %r" % c
    wait_for(lambda: "built-app-says-hi" in sb.journal(
        "container-app1.scope"), timeout=20, what="app1's output")
    shot("08-created-from-page")
    return no_alerts()


tap.check("Create on the page makes and starts a container from the built image",
          t_create_from_page)


def t_remove_from_page():
    browser.click(row("app1") + " button[data-action=remove]")
    browser.click(row("app1") + " button[data-action=remove-confirm]")
    wait_for(lambda: "app1" not in sb.list_containers(), timeout=30,
             what="app1 gone from List()")
    wait_for(lambda: page_state("app1") is None, timeout=10, what="app1 gone from the page")
    return no_alerts()


tap.check("Remove on the page (confirmed) removes the container", t_remove_from_page)


def t_unprivileged_session():
    # a second cockpit-ws whose session is the unprivileged test user's: the page reads
    # everything (List and properties are open) but polkit refuses its Stop, and says why
    sb.run(["systemd-run", "--unit=cm-cockpit-ws-user", "--quiet", "--collect",
            "-p", "User=" + sandbox.TEST_USER, WS, "--no-tls", "--local-session=cockpit-bridge",
            "--address=127.0.0.1", "--port=%d" % USER_PORT])
    wait_for(lambda: sb.run(["/usr/bin/python3", "-c",
                             "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])",
                             USER_PAGE], check=False).ok, timeout=30, what="the second cockpit-ws")
    browser.navigate(USER_PAGE)
    browser.wait_js("document.getElementById('app').dataset.ready === 'true'", timeout=60,
                    what="the page to connect as %s" % sandbox.TEST_USER)
    wait_for(lambda: page_state("web") == "running", timeout=10, what="web on the page")
    browser.click(row("web") + " button[data-action=stop]")
    text = browser.wait_js("Array.from(document.querySelectorAll('#alerts .alert'))"
                           ".map(a => a.textContent).join('\\n')", timeout=30,
                           what="the refusal on the page")
    shot("09-unprivileged-refused")
    if not any(e in text for e in DENIED):
        return "the page says %r" % text
    if bus_state("web") != "running":
        return "web is %s after a refused Stop" % bus_state("web")
    browser.navigate(PAGE)
    browser.wait_js("document.getElementById('app').dataset.ready === 'true'", timeout=60,
                    what="the root session's page again")
    browser.js("window.cmNoReload = 'yes'")


tap.check("in an unprivileged user's session polkit refuses Stop and the page shows the error",
          t_unprivileged_session)


def t_service_restarts():
    # the service exits when idle and comes back with the next call: an open page goes on
    sb.run(["systemctl", "stop", "containers-manager.service"])
    browser.wait_js("document.getElementById('service-status').textContent.includes('not running')",
                    timeout=20, what="the page to say the service is not running")
    if page_state("web") != "running":
        return "web shows %r while the service is away" % page_state("web")
    create_over_bus("late", "hello-from-late")     # activates a fresh instance
    wait_for(lambda: page_state("late") == "running", timeout=30,
             what="a container of the new instance on the page")
    sb.call(container_path("web"), CONTAINER_IFACE, "Stop")
    wait_for(lambda: page_state("web") == "stopped", timeout=10,
             what="a state change from the new instance on the page")
    if browser.js("window.cmNoReload") != "yes":
        return "the page was reloaded"
    shot("09b-after-service-restart")
    return no_alerts()


tap.check("the page follows the service through an exit and a new activation", t_service_restarts)


def t_shell():
    if "late" not in sb.list_containers():     # (also activates the service if it left)
        return "no container 'late' to look for"
    browser.navigate(SHELL)
    # the shell's navigation lists the page under its manifest's label
    browser.wait_js("Array.from(document.querySelectorAll('nav a, #host-apps a'))"
                    ".some(a => a.textContent.trim() === 'Containers')", timeout=60,
                    what="'Containers' in Cockpit's menu")
    frame = ("Array.from(document.querySelectorAll('iframe'))"
             ".find(f => f.src.includes('containers-manager')).contentDocument")
    try:
        browser.wait_js("(() => { try { return %s.querySelector('#containers tr[data-name=late]') "
                        "!== null; } catch (e) { return false; } })()" % frame, timeout=90,
                        what="the page inside the shell")
    except TimeoutError as e:
        # say what the shell showed instead
        shot("10-failed-cockpit-shell")
        text = browser.js("(() => { try { return %s.body.innerText.slice(0, 600); } catch (e) { "
                          "return 'no frame: ' + String(e) + ' / ' + document.body.innerText.slice(0, 600); } })()"
                          % frame)
        raise TimeoutError("%s; the shell showed: %r" % (e, text))
    # a build started by another client shows with its progress too
    gitserver.make_repo(sb, "shop", {"Run.yaml": APP_YAML, "blob.bin": RandomBytes(512 << 10)})
    sb.mcall("Build", "ssa{sv}", "shop", gitserver.slow_url(BASE_URL + "/shop.git"), "0")
    progress = "%s.querySelector('#builds li[data-name=shop] progress')" % frame
    browser.wait_js("(() => { const p = %s; return p && p.value > 0.3 && p.value < 1; })()"
                    % progress, timeout=60, what="the bus-started build's progress in the shell")
    shot("10-cockpit-shell")
    browser.wait_js("%s.value === 1" % progress, timeout=120, what="the build to finish")


tap.check("Cockpit's shell has 'Containers' in its menu and shows the page, with the progress of "
          "a build another client started", t_shell)



def t_no_exceptions():
    thrown = [c for c in browser.console if c.startswith("exception:")]
    return True if not thrown else "uncaught exceptions in the page:\n" + "\n".join(thrown)


tap.check("the page threw no uncaught JavaScript exception", t_no_exceptions)
if browser.console:
    tap.diag("browser console:\n" + "\n".join(browser.console[-40:]))
browser.close()
sb.stop()
sys.exit(tap.done())
