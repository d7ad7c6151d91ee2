"""A smart-HTTP git server inside the integration sandbox, for the build tests.

git's own `git http-backend` (a CGI) behind lighttpd (mod_alias + mod_setenv + mod_cgi),
started inside the sandbox as a transient service (`systemd-run --unit=cm-git-http`), so it
lives and dies with the sandbox.  It listens on 127.0.0.1 only:

  PORT            full speed
  SLOW_PORT       the same repositories, throttled (connection.kbytes-per-second), for
                  builds that must still be fetching when a test cancels them

Repositories are bare repositories under GIT_ROOT, served as <base_url>/<name>.git.  They
and the server's configuration live under /srv, not /tmp: nspawn mounts a fresh tmpfs on /tmp
inside the sandbox.  Standard library only.
"""

import json
import socket
import time

GIT_ROOT = "/srv/git"
WORK_ROOT = "/srv/git-work"
CONF_DIR = "/srv/git-http"
UNIT = "cm-git-http"
# Chosen free at start: the sandbox shares the host's network, so two sandboxes (or anything
# else on this machine) must not be given the same fixed port.
PORT = None
SLOW_PORT = None
SLOW_KBPS = 64
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"

LIGHTTPD_CONF = """\
server.modules = ("mod_alias", "mod_setenv", "mod_cgi", "mod_accesslog")
server.document-root = "{conf}/htdocs"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{conf}/error.log"
accesslog.filename = "{conf}/access.log"
server.upload-dirs = ("{conf}/upload")
# a slow second listener: same repositories, at most {kbps} kB/s per connection
$SERVER["socket"] == "127.0.0.1:{slow_port}" {{
    connection.kbytes-per-second = {kbps}
}}
alias.url = ("/git" => "{backend}")
$HTTP["url"] =~ "^/git" {{
    cgi.assign = ("" => "")
    setenv.set-environment = (
        "GIT_PROJECT_ROOT" => "{root}",
        "GIT_HTTP_EXPORT_ALL" => "1",
        "GIT_CONFIG_COUNT" => "1",
        "GIT_CONFIG_KEY_0" => "safe.directory",
        "GIT_CONFIG_VALUE_0" => "*",
        "PATH" => "/usr/bin:/bin"
    )
}}
"""


class Symlink:
    """A file value in make_repo(): a symbolic link to target instead of a regular file."""

    def __init__(self, target):
        self.target = target

    def __repr__(self):
        return "Symlink(%r)" % self.target


class Executable:
    """A file value in make_repo(): a regular file with mode 0755."""

    def __init__(self, content):
        self.content = content


# Runs inside the sandbox: makes one commit per branch from a JSON description on stdin.
_MAKE_REPO = r"""
import json, os, shutil, subprocess, sys
spec = json.load(sys.stdin)
work, bare = spec["work"], spec["bare"]
for d in (work, bare):
    if os.path.lexists(d):
        shutil.rmtree(d)
env = dict(os.environ, GIT_AUTHOR_NAME="cm test", GIT_AUTHOR_EMAIL="cm@test.invalid",
           GIT_COMMITTER_NAME="cm test", GIT_COMMITTER_EMAIL="cm@test.invalid",
           GIT_CONFIG_NOSYSTEM="1", HOME="/nonexistent")
def git(*a, cwd=work):
    subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"] +
                   list(a), cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
def apply(files):
    for path, v in files.items():
        p = os.path.join(work, path)
        if v is None:
            if os.path.lexists(p):
                os.unlink(p)
            continue
        os.makedirs(os.path.dirname(p) or work, exist_ok=True)
        if os.path.lexists(p):
            os.unlink(p)
        kind, data = v
        if kind == "link":
            os.symlink(data, p)
        elif kind == "random":
            with open(p, "wb") as f:
                f.write(os.urandom(int(data)))
        else:
            with open(p, "w") as f:
                f.write(data)
            os.chmod(p, 0o755 if kind == "exec" else 0o644)
    for path, n in spec.get("many", {}).items():
        d = os.path.join(work, path)
        os.makedirs(d, exist_ok=True)
        for i in range(int(n)):
            with open(os.path.join(d, "f%06d.txt" % i), "w") as f:
                f.write("file %d of %s\n" % (i, path))
os.makedirs(work)
git("init", "-q")
apply(spec["files"])
git("add", "-A")
git("commit", "-q", "--allow-empty", "-m", "main")
for branch, files in spec["branches"].items():
    git("checkout", "-q", "-b", branch, "main")
    spec["many"] = {}
    apply(files)
    git("add", "-A")
    git("commit", "-q", "--allow-empty", "-m", branch)
git("checkout", "-q", "main")
os.makedirs(os.path.dirname(bare), exist_ok=True)
git("clone", "-q", "--bare", work, bare, cwd="/")
shutil.rmtree(work)
"""


def _encode(files):
    out = {}
    for path, v in (files or {}).items():
        if v is None:
            out[path] = None
        elif isinstance(v, Symlink):
            out[path] = ["link", v.target]
        elif isinstance(v, Executable):
            out[path] = ["exec", v.content]
        elif isinstance(v, RandomBytes):
            out[path] = ["random", v.size]
        else:
            out[path] = ["file", v]
    return out


class RandomBytes:
    """A file value in make_repo(): size incompressible bytes (a repository slow to fetch)."""

    def __init__(self, size):
        self.size = size


def _free_ports(n):
    """n distinct ports nothing listens on now (on 127.0.0.1, which the sandbox shares)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _http_ok(sb, url):
    return sb.run(["git", "ls-remote", url], check=False, timeout=30,
                  env={"GIT_TERMINAL_PROMPT": "0"}).ok


def start_git_server(sb, timeout=20):
    """Start lighttpd + git http-backend inside the sandbox; returns the base URL
    ("http://127.0.0.1:PORT/git").  slow_url(base) gives the throttled twin."""
    global PORT, SLOW_PORT
    PORT, SLOW_PORT = _free_ports(2)
    # Debian's package enables lighttpd.service (port 80, /var/www): not ours, keep it out
    sb.run(["systemctl", "stop", "lighttpd.service"], check=False)
    sb.run(["mkdir", "-p", GIT_ROOT, CONF_DIR + "/htdocs", CONF_DIR + "/upload"])
    conf = CONF_DIR + "/lighttpd.conf"
    sb.write_file(conf, LIGHTTPD_CONF.format(conf=CONF_DIR, port=PORT, slow_port=SLOW_PORT,
                                             kbps=SLOW_KBPS, backend=HTTP_BACKEND,
                                             root=GIT_ROOT))
    sb.run(["lighttpd", "-tt", "-f", conf])
    sb.run(["systemd-run", "--unit=" + UNIT, "--quiet", "--collect",
            "-p", "Description=git smart-HTTP server for the build tests",
            "/usr/sbin/lighttpd", "-D", "-f", conf])
    base = "http://127.0.0.1:%d/git" % PORT
    # a probe repository tells us when the server answers git's smart protocol
    make_repo(sb, "cm-probe", {"README": "probe\n"})
    deadline = time.monotonic() + timeout
    while not _http_ok(sb, base + "/cm-probe.git"):
        if time.monotonic() > deadline:
            raise RuntimeError("git server did not come up: %s\n%s" % (
                sb.run(["systemctl", "status", "--no-pager", UNIT], check=False).stdout,
                sb.run(["cat", CONF_DIR + "/error.log"], check=False).stdout))
        time.sleep(0.1)
    return base


def stop_git_server(sb):
    """Stop the server and remove its repositories (needed where the "sandbox" is the host)."""
    sb.run(["systemctl", "stop", UNIT], check=False)
    sb.run(["rm", "-rf", GIT_ROOT, WORK_ROOT, CONF_DIR], check=False)


def slow_url(url):
    """The same URL on the throttled listener."""
    return url.replace(":%d/" % PORT, ":%d/" % SLOW_PORT)


def make_repo(sb, name, files, branches=None, many=None, base=None):
    """Create (or replace) the bare repository GIT_ROOT/<name>.git with one commit on `main`
    holding `files` ({path: str | Symlink | Executable | RandomBytes}), plus one commit per
    entry of `branches` ({branch: {path: value or None to delete}}), each on top of main.
    many: {folder: n} adds n small files in that folder (a repository with many objects).
    Returns its URL."""
    spec = {"work": "%s/%s" % (WORK_ROOT, name), "bare": "%s/%s.git" % (GIT_ROOT, name),
            "files": _encode(files),
            "branches": {b: _encode(f) for b, f in (branches or {}).items()},
            "many": many or {}}
    sb.run(["/usr/bin/python3", "-c", _MAKE_REPO], input=json.dumps(spec), timeout=300)
    return "%s/%s.git" % (base or "http://127.0.0.1:%s/git" % PORT, name)


def repo_dir(name):
    return "%s/%s.git" % (GIT_ROOT, name)


def rev_parse(sb, name, ref="main"):
    """The commit a ref of a served repository points at."""
    return sb.run(["git", "--git-dir", repo_dir(name), "rev-parse", ref]).stdout.strip()


def access_log(sb):
    return sb.run(["cat", CONF_DIR + "/access.log"], check=False).stdout
