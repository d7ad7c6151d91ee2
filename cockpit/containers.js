/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The Cockpit page of containers-manager: plain JavaScript on cockpit.dbus().
 *
 * Everything comes from the service's org.freedesktop.DBus.ObjectManager at
 * /org/containers/Manager: a watch on that path namespace makes cockpit's bridge send every
 * container, image and build with its properties, then each InterfacesAdded/Removed and
 * PropertiesChanged, as "notify" events; the page keeps its own table of them and never polls.
 * (Not cockpit's proxies: org.containers.Container has both a property and a method named
 * Image, and a cockpit proxy cannot hold both.) Actions are ordinary method calls: polkit
 * decides as for any other client.
 * Following logs: a descriptor cannot pass through cockpit.dbus(), so the page reads the
 * container's entries from the journal with `journalctl --follow` (cockpit.spawn, with the
 * session's administrative access when it has it); without Follow it calls Logs().
 */
"use strict";

(function () {
    const BUS_NAME = "org.containers.Manager";
    const ROOT = "/org/containers/Manager";
    const MANAGER = "org.containers.Manager";
    const CONTAINER = "org.containers.Container";
    const IMAGE = "org.containers.Image";
    const BUILD = "org.containers.Build";
    const LOG_LINES = 1000;

    let client = null;
    /* interface -> object path -> its properties (and .path), kept up to date by onNotify */
    const objects = { [CONTAINER]: {}, [IMAGE]: {}, [BUILD]: {} };
    const containers = objects[CONTAINER];
    const images = objects[IMAGE];
    const builds = objects[BUILD];
    const pending = new Set();         // object paths with a call under way
    const confirming = new Set();      // paths whose Remove waits for a second click
    const buildLogs = {};              // build path -> last lines (LogMessage)
    let logs = { path: null, name: null, proc: null, gen: 0 };

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false)
                continue;
            if (k === "class")
                e.className = v;
            else if (k.startsWith("on"))
                e.addEventListener(k.slice(2), v);
            else if (k in e && k !== "list")
                e[k] = v;
            else
                e.setAttribute(k, v === true ? "" : v);
        }
        for (const c of children)
            if (c !== null && c !== undefined)
                e.append(c instanceof Node ? c : String(c));
        return e;
    }

    function formatTime(usec) {
        if (!usec)
            return "";
        return new Date(usec / 1000).toLocaleString();
    }

    /* systemd's unit name escaping, for a container name (letters, digits, "-", "_", ".") */
    function unitName(name) {
        const esc = name.replace(/[^A-Za-z0-9:_.]/g, c => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
        return "container-" + esc + ".scope";
    }

    /* ---- errors: every failed call is shown with its message and D-Bus error name ---- */

    function showError(what, ex) {
        const name = ex && ex.name && ex.name !== "Error" ? ex.name : "";
        const msg = (ex && (ex.message || ex.problem)) || String(ex);
        const alert = el("div", { class: "alert alert-danger" },
                         el("strong", {}, what + ": "), msg,
                         name ? el("span", { class: "error-name" }, " (" + name + ")") : null,
                         el("button", { type: "button", class: "link close", title: "Dismiss",
                                        onclick: () => alert.remove() }, "×"));
        $("alerts").append(alert);
        console.warn(what, name, msg);
    }

    /* A call that reaches the service as it exits on idle gets ShuttingDown: the next one
     * activates a fresh instance, so it is made once more. (A native promise: a handler of
     * cockpit's own promises that throws never settles the chain.) */
    function call(path, iface, method, args, type) {
        const once = () => Promise.resolve(client.call(path, iface, method, args, type ? { type } : {}));
        return once().catch(ex => {
            if (ex && ex.name === "org.containers.Error.ShuttingDown")
                return new Promise(resolve => window.setTimeout(resolve, 200)).then(once);
            throw ex;
        });
    }

    /* Runs a call on an object, its buttons disabled meanwhile; failures become alerts. */
    function act(path, what, fn) {
        pending.add(path);
        renderContainers();
        return fn()
                .catch(ex => showError(what, ex))
                .finally(() => {
                    pending.delete(path);
                    renderContainers();
                });
    }

    /* ---- containers ---- */

    const STARTABLE = ["created", "stopped", "failed"];
    const STOPPABLE = ["running", "starting", "frozen"];

    function sortedObjects(table, key) {
        return Object.keys(table)
                .map(p => table[p])
                .filter(p => p[key] !== undefined)
                .sort((a, b) => String(a[key]).localeCompare(String(b[key])));
    }

    function containerActions(p) {
        const busy = pending.has(p.path);
        const state = p.State || "";
        const button = (action, label, enabled, fn, cls) =>
            el("button", { type: "button", "data-action": action, class: cls,
                           disabled: busy || !enabled, onclick: fn }, label);
        const name = p.Name;
        return el("div", { class: "btn-group" },
                  button("start", "Start", STARTABLE.includes(state),
                         () => act(p.path, "Start " + name, () => call(p.path, CONTAINER, "Start", [])),
                         "primary"),
                  button("stop", "Stop", STOPPABLE.includes(state),
                         () => act(p.path, "Stop " + name, () => call(p.path, CONTAINER, "Stop", []))),
                  button("restart", "Restart", state === "running",
                         () => act(p.path, "Restart " + name, () => call(p.path, CONTAINER, "Restart", []))),
                  button("logs", "Logs", true, () => openLogs(p.path)),
                  confirming.has(p.path)
                      ? button("remove-confirm", "Really remove", true, () => {
                          confirming.delete(p.path);
                          act(p.path, "Remove " + name, () => call(ROOT, MANAGER, "Remove", [name], "s"));
                      }, "danger")
                      : button("remove", "Remove", true, () => {
                          confirming.add(p.path);
                          renderContainers();
                          window.setTimeout(() => { confirming.delete(p.path); renderContainers() }, 5000);
                      }, "danger-outline"));
    }

    function renderContainers() {
        const body = $("containers").tBodies[0];
        const list = sortedObjects(containers, "Name");
        body.replaceChildren(...list.map(p =>
            el("tr", { "data-name": p.Name, "data-path": p.path, "data-state": p.State },
               el("th", { scope: "row", class: "name" }, p.Name),
               el("td", {}, p.Image),
               el("td", {}, el("span", { class: "state state-" + p.State }, p.State)),
               el("td", {}, p.State === "running" ? formatTime(p.StartedTimestamp) : ""),
               el("td", { class: "actions" }, containerActions(p)))));
        $("containers-empty").hidden = list.length > 0;
        $("containers-count").textContent = list.length ? list.length + " total" : "";
        if (logs.path && !(logs.path in containers))
            logsSource(logs.name + " was removed.");
    }

    /* ---- images ---- */

    function renderImages() {
        const list = sortedObjects(images, "Name");
        const body = $("images").tBodies[0];
        body.replaceChildren(...list.map(p =>
            el("tr", { "data-name": p.Name },
               el("th", { scope: "row" }, p.Name),
               el("td", {}, p.IsBase ? "(base)" : p.Base),
               el("td", { class: "source" }, p.Url ? p.Url + (p.Commit ? " @ " + p.Commit.slice(0, 12) : "") : ""),
               el("td", {}, formatTime(p.CreatedTimestamp)),
               el("td", { class: "actions" },
                  p.IsBase ? null
                      : el("button", { type: "button", class: "danger-outline", "data-action": "remove-image",
                                       onclick: () => call(ROOT, MANAGER, "RemoveImage", [p.Name], "s")
                                               .catch(ex => showError("Remove image " + p.Name, ex)) },
                           "Remove")))));

        const select = $("create-image");
        const chosen = select.value;
        select.replaceChildren(...list.filter(p => p.Usable !== false).map(p =>
            el("option", { value: p.Name, selected: p.Name === chosen }, p.Name)));
    }

    /* ---- builds ---- */

    function buildNumber(path) {
        return parseInt(path.replace(/.*_/, ""), 10) || 0;
    }

    function renderBuilds() {
        const list = Object.keys(builds || {}).map(p => builds[p])
                .filter(p => p.State !== undefined)
                .sort((a, b) => buildNumber(b.path) - buildNumber(a.path));
        $("builds").replaceChildren(...list.map(p => {
            const pct = Math.round((p.Progress || 0) * 100);
            const lines = buildLogs[p.path] || (p.Log || []).slice(-3);
            return el("li", { class: "build build-" + p.State, "data-name": p.Name, "data-state": p.State },
                      el("div", { class: "build-head" },
                         el("strong", {}, p.Name), " ",
                         el("span", { class: "state state-" + p.State }, p.State),
                         el("span", { class: "muted url" }, p.Url + (p.Branch ? " (" + p.Branch + ")" : "")),
                         p.State === "running"
                             ? el("button", { type: "button", class: "link", "data-action": "cancel",
                                              onclick: () => call(p.path, BUILD, "Cancel", [])
                                                      .catch(ex => showError("Cancel build " + p.Name, ex)) },
                                  "Cancel")
                             : null),
                      el("div", { class: "progress-row" },
                         el("progress", { max: 1, value: p.Progress || 0, "aria-label": "Progress of " + p.Name }),
                         el("span", { class: "percent" }, pct + " %")),
                      p.Error ? el("div", { class: "build-error" }, p.Error) : null,
                      el("pre", { class: "build-log" }, lines.join("\n")));
        }));
    }

    function onBuildLog(path, iface, signal, args) {
        const lines = buildLogs[path] || (builds && builds[path] && builds[path].Log ? builds[path].Log.slice(-3) : []);
        lines.push(args[0]);
        buildLogs[path] = lines.slice(-3);
        renderBuilds();
    }

    /* ---- logs ---- */

    function logsSource(text) {
        $("logs-source").textContent = text;
    }

    function stopFollowing() {
        logs.gen++;
        if (logs.proc) {
            const proc = logs.proc;
            logs.proc = null;
            proc.close("terminated");
        }
    }

    function appendLog(text, stream) {
        const out = $("logs-output");
        const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.append(el("span", { class: stream === "stderr" ? "stderr" : "stdout" }, text));
        if (atEnd)
            out.scrollTop = out.scrollHeight;
    }

    function loadLogs() {
        const { path, name } = logs;
        const gen = ++logs.gen;
        const out = $("logs-output");
        out.replaceChildren();
        logsSource("Logs() of " + name + ": the last " + LOG_LINES + " lines of stdout, then of stderr.");
        call(path, CONTAINER, "Logs", [{ lines: { t: "u", v: LOG_LINES } }], "a{sv}")
                .then(([res]) => {
                    if (gen !== logs.gen)
                        return;
                    if (res.truncated)
                        appendLog(res.truncated + "\n", "stderr");
                    appendLog(res.stdout || "", "stdout");
                    appendLog(res.stderr || "", "stderr");
                    if (!res.stdout && !res.stderr)
                        logsSource(name + " has written nothing yet.");
                })
                .catch(ex => {
                    if (gen === logs.gen)
                        showError("Logs of " + name, ex);
                });
    }

    /* journalctl --follow on the container's scope: its entries from its creation on (so never
     * those of an earlier container of the same name), stdout and stderr told apart by PRIORITY. */
    function followLogs() {
        const p = containers[logs.path];
        if (!p)
            return;
        stopFollowing();
        const gen = logs.gen;
        const unit = p.Unit || unitName(p.Name);
        const since = Math.floor((p.CreatedTimestamp || 0) / 1000000);
        const argv = ["journalctl", "--follow", "--quiet", "--lines=" + LOG_LINES, "--output=json",
            "--output-fields=MESSAGE,PRIORITY", "--since=@" + since, "_SYSTEMD_UNIT=" + unit];
        $("logs-output").replaceChildren();
        logsSource("Following " + unit + " in the journal (" + argv.join(" ") + ")");
        let buf = "";
        const proc = cockpit.spawn(argv, { superuser: "try", err: "message" });
        logs.proc = proc;
        proc.stream(data => {
            if (gen !== logs.gen)
                return;
            buf += data;
            const parts = buf.split("\n");
            buf = parts.pop();
            for (const line of parts) {
                if (!line)
                    continue;
                let entry;
                try {
                    entry = JSON.parse(line);
                } catch (e) {
                    continue;
                }
                let msg = entry.MESSAGE;
                if (Array.isArray(msg))   /* not UTF-8: journalctl gives the bytes */
                    msg = new TextDecoder().decode(new Uint8Array(msg));
                appendLog((msg || "") + "\n", String(entry.PRIORITY) === "3" ? "stderr" : "stdout");
            }
        });
        proc.catch(ex => {
            if (gen === logs.gen && ex.problem !== "terminated")
                showError("Following the logs of " + p.Name, ex);
        });
    }

    function refreshLogs() {
        if (!logs.path)
            return;
        stopFollowing();
        if ($("logs-follow").checked)
            followLogs();
        else
            loadLogs();
    }

    function openLogs(path) {
        const p = containers[path];
        stopFollowing();
        logs.path = path;
        logs.name = p.Name;
        $("logs-title").textContent = "Logs of " + p.Name;
        $("logs-card").hidden = false;
        refreshLogs();
        $("logs-card").scrollIntoView({ block: "nearest" });
    }

    function closeLogs() {
        stopFollowing();
        logs.path = null;
        $("logs-card").hidden = true;
    }

    /* ---- forms ---- */

    function parseEnvironment(text) {
        const env = {};
        for (const raw of text.split("\n")) {
            const line = raw.trim();
            if (!line)
                continue;
            const eq = line.indexOf("=");
            if (eq <= 0)
                throw new Error("environment line \"" + line + "\" is not NAME=value");
            env[line.slice(0, eq)] = line.slice(eq + 1);
        }
        return env;
    }

    function submitCreate(ev) {
        ev.preventDefault();
        const image = $("create-image").value;
        const name = $("create-name").value.trim();
        const command = $("create-command").value.trim();
        let env;
        try {
            env = parseEnvironment($("create-env").value);
        } catch (ex) {
            showError("Create " + name, ex);
            return;
        }
        const options = { start: { t: "b", v: $("create-start").checked } };
        if (command)
            options.command = { t: "as", v: ["/bin/sh", "-c", command] };
        const button = $("create-submit");
        button.disabled = true;
        button.textContent = "Creating…";
        call(ROOT, MANAGER, "Create", [image, name, env, options], "ssa{ss}a{sv}")
                .then(() => $("create-form").reset())
                .catch(ex => showError("Create " + name, ex))
                .finally(() => {
                    button.disabled = false;
                    button.textContent = "Create";
                });
    }

    function submitBuild(ev) {
        ev.preventDefault();
        const name = $("build-name").value.trim();
        const url = $("build-url").value.trim();
        const options = {};
        const branch = $("build-branch").value.trim();
        const subdir = $("build-subdir").value.trim();
        if (branch)
            options.branch = { t: "s", v: branch };
        if (subdir)
            options.subdir = { t: "s", v: subdir };
        call(ROOT, MANAGER, "Build", [name, url, options], "ssa{sv}")
                .then(() => $("build-form").reset())
                .catch(ex => showError("Build " + name, ex));
    }

    /* ---- the connection ---- */

    function setStatus(text) {
        $("service-status").textContent = text;
    }

    const RENDER = { [CONTAINER]: renderContainers, [IMAGE]: renderImages, [BUILD]: renderBuilds };

    /* data: { path: { interface: { property: value, ... } or null (removed) } }; the
     * properties of an update are only those that changed */
    function onNotify(ev, data) {
        const touched = new Set();
        for (const path in data) {
            for (const iface in data[path]) {
                if (!(iface in objects))
                    continue;
                const props = data[path][iface];
                if (props)
                    objects[iface][path] = Object.assign(objects[iface][path] || { path }, props);
                else
                    delete objects[iface][path];
                touched.add(iface);
            }
        }
        if ($("app").dataset.ready === "true")
            touched.forEach(iface => RENDER[iface]());
    }

    function init() {
        client = cockpit.dbus(BUS_NAME, { bus: "system", superuser: "try" });
        client.addEventListener("owner", (ev, owner) => {
            if (owner)
                setStatus("");
            else if (owner === null)
                setStatus("The service is not running; it starts again at the next action.");
        });
        client.addEventListener("close", (ev, options) => {
            setStatus("Disconnected from the system bus" + (options && options.problem ? ": " + options.problem : ""));
        });
        client.addEventListener("notify", onNotify);
        client.subscribe({ interface: BUILD, member: "LogMessage" }, onBuildLog);

        $("create-form").addEventListener("submit", submitCreate);
        $("build-form").addEventListener("submit", submitBuild);
        $("logs-follow").addEventListener("change", refreshLogs);
        $("logs-refresh").addEventListener("click", refreshLogs);
        $("logs-close").addEventListener("click", closeLogs);

        /* the service is D-Bus activated: the first call starts it; the watch then brings
         * every object below ROOT (the bridge asks the ObjectManager) before it resolves */
        call(ROOT, MANAGER, "List", [])
                .then(() => client.watch({ path_namespace: ROOT }))
                .then(() => {
                    setStatus("");
                    renderContainers();
                    renderImages();
                    renderBuilds();
                    $("app").dataset.ready = "true";
                })
                .catch(ex => {
                    setStatus("");
                    showError("Cannot reach org.containers.Manager", ex);
                });
    }

    document.addEventListener("DOMContentLoaded", init);
}());
