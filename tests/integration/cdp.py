"""Headless Chromium driven over the Chrome DevTools Protocol, for the Cockpit page's test.

Debian's chromium is started with --remote-debugging-pipe: the protocol runs over two pipes
(the browser reads commands on its fd 3 and writes replies and events on its fd 4, each message
JSON ending in a NUL byte), so no port, no WebSocket client and no npm package are needed.
The browser never downloads anything of its own: the flags below switch off its background
networking, component updates and sync.  Standard library only, /usr/bin/python3.
"""

import base64
import fcntl
import json
import os
import select
import subprocess
import time

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1280,900"]


class CDPError(Exception):
    pass


class Browser:
    """One headless Chromium with one page.

    popen(argv, pass_fds=..., stdout=..., stderr=...) starts the browser: subprocess.Popen
    on the host, Sandbox.popen inside the throwaway systemd."""

    def __init__(self, popen, profile_dir, log_path, width=1280, height=900):
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # above 9, so that moving them to 3 and 4 never closes one of them
        to_chrome_r = self._high(to_chrome_r)
        from_chrome_w = self._high(from_chrome_w)
        # the pipes must be the browser's fds 3 and 4: bash moves them there (dash takes no fd above 9)
        script = 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (to_chrome_r, from_chrome_w,
                                                         to_chrome_r, from_chrome_w)
        argv = ["env", "HOME=" + profile_dir, "bash", "-c", script, "bash", CHROMIUM] + FLAGS + [
            "--user-data-dir=" + profile_dir + "/profile", "about:blank"]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = popen(argv, pass_fds=(to_chrome_r, from_chrome_w),
                          stdout=self._log, stderr=subprocess.STDOUT)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events = []
        self.console = []       # console messages and uncaught exceptions of the page
        self.session = None
        targets = self.send("Target.getTargets", session=False, timeout=60)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    @staticmethod
    def _high(fd):
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return new

    # ---- the protocol ----------------------------------------------------------------

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from the browser in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise CDPError("the browser closed its pipe (exit %s); see %s" % (
                    self.proc.poll(), self.log_path))
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _event(self, m):
        method = m.get("method", "")
        p = m.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append("console.%s: %s" % (p.get("type"), " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console.append("exception: %s" % (d.get("exception", {}).get("description")
                                                   or d.get("text")))
        else:
            self.events.append(m)
            del self.events[:-200]

    def send(self, method, params=None, session=True, timeout=30):
        self._id += 1
        mid = self._id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._w, data)
            data = data[n:]
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError("%s: %s" % (method, m["error"].get("message")))
                return m.get("result", {})
            if "method" in m:
                self._event(m)

    # ---- what a test does --------------------------------------------------------------

    def navigate(self, url, timeout=30):
        self.send("Page.navigate", {"url": url})
        self.wait_js("document.readyState === 'complete'", timeout=timeout,
                     what="the page to load")

    def js(self, expression, timeout=30):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                           "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("%s: %s" % (expression[:80], d.get("exception", {}).get(
                "description") or d.get("text")))
        return r.get("result", {}).get("value")

    def wait_js(self, expression, timeout=30, what=None, interval=0.1):
        """Polls an expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                v = self.js(expression)
                if v:
                    return v
                last = v
            except CDPError as e:
                last = e
            if time.monotonic() > deadline:
                raise TimeoutError("timed out waiting for %s (last: %r)" % (
                    what or expression, last))
            time.sleep(interval)

    def click(self, selector):
        """A real mouse click (press and release) in the middle of the element."""
        box = self.js("""(() => {
            const e = document.querySelector(%s);
            if (!e) return null;
            e.scrollIntoView({block: 'center'});
            const r = e.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2];
        })()""" % json.dumps(selector))
        if not box:
            raise CDPError("nothing matches %s" % selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def fill(self, selector, text):
        """Focus a field, clear it and type text into it."""
        self.js("(() => { const e = document.querySelector(%s); e.focus(); e.select && "
                "e.select(); })()" % json.dumps(selector))
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png",
                                                    "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
