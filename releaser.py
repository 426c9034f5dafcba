#!/usr/bin/env python3
"""Releaser: run a project's shared release step once per git commit, one at a time.

Several services deploy the same commit. Each one's pre-deploy command asks Releaser for
"the release of commit X" (POST /queue) and waits for it (GET /release?wait=). Releaser runs
the release command (migrations, asset builds, ...) once per commit, one release at a time,
in a clean checkout of that commit, and tells every waiting service whether it succeeded, so
that no service deploys past a release that did not succeed.

Run it:   RELEASER_GIT_URL=... RELEASER_RELEASE_COMMAND=... python3 releaser.py
Standard library only, Python 3.9+. README.md documents every variable and route; in brief:

    RELEASER_GIT_URL, RELEASER_RELEASE_COMMAND   required: the repository, the command
    RELEASER_API_KEY      required beyond loopback (Bearer / X-API-Key), unless
                          RELEASER_INSECURE_NO_AUTH=1
    PORT (8080), HOST (:: dual stack), SQLITE_DB_PATH (database.sqlite), RELEASER_WORK_DIR,
    RELEASE_TIMEOUT_MS, DEFAULT_CLEANUP_DAYS, RELEASER_GIT_TOKEN, RELEASER_GIT_SSH_KEY,
    RELEASER_GIT_DEPTH, RELEASER_KILL_GRACE_MS, RELEASER_SHUTDOWN_GRACE_MS,
    RELEASER_LOG_TAIL_BYTES, RELEASER_REQUEST_TIMEOUT_MS, RELEASER_GIT_BRANCHES,
    RELEASER_RUN_AS, RELEASER_PUBLIC_URL, RELEASER_WATCH_PATHS,
    RELEASER_NOTIFY_URL (_TIMEOUT_MS, _MAX_AGE_MS),
    and from Railway
    RAILWAY_VOLUME_MOUNT_PATH, RAILWAY_DEPLOYMENT_DRAINING_SECONDS: see Config.from_env

Ask a running one (its address from --url, RELEASER_URL or PORT/HOST; RELEASER_API_KEY):

    python3 releaser.py status | history [-n N] [--state S] | show <sha> | retry <sha>
                        | cancel <sha> | logs <sha> [--follow] | cleanup [--days N]  [--json]

    GET /healthcheck          POST /queue {"commitSha", "retry"}    DELETE /queue/<sha>
    GET /queue                GET /release?commit-sha=&wait=        GET /metrics?days=
    GET /release/logs?commit-sha=&attempt=&offset=&wait=           POST /cleanup {"days"}
    GET /releases?limit=&before=&state=&commit-sha=&commit-prefix=
    GET / (the web page, with /app.js and /app.css)

JSON keeps the original's mixed names where clients already read them (commitSha,
queueLength, isReleaseRunning next to git_commit_sha, release_status): see ROUTES.

States of one release attempt:

    queued --> running --> success | failed | timeout | cancelled (aborted)
      |           +------> success, its command skipped (RELEASER_WATCH_PATHS)
      +------> cancelled

A commit's attempts are numbered 1, 2, ...; a new attempt of a commit whose latest attempt
failed is made only on an explicit {"retry": true}.

The file reads top to bottom the way a release flows: configuration, storage, processes,
git workspace, running releases (the worker), notifications, the HTTP API, the application's
life cycle, the command line, and last the web page's files.

Threads (Application.start starts them, Application._close joins them):

    main             reads signals (written to a socket by the handlers, so no work runs in
                     a handler); starts the shutdown thread
    release-worker   Worker.run: one release at a time
    tree-cleaner     Workspace._clean_up: removes finished trees, git gc of the cache
    attempt-events   AttemptEvents._deliver: the listeners of an attempt's start and end
    notify-<id>      Notifier._deliver, one per RELEASER_NOTIFY_URL
    http             serve_forever, and one thread per connection (at most 512)
    daily-cleanup    deletes old records once a day
    shutdown         Application.shutdown, on the first SIGTERM or SIGINT

Locks, what each guards, and who takes it:

    Store._write_lock        the one writer connection (BEGIN IMMEDIATE ... COMMIT): every
                             thread that writes (worker, http, notify, daily-cleanup, main at
                             start-up, attempt-events never)
    Store._readers           a queue of 4 reader connections, one per reading thread at a
                             time (http, worker, notify)
    Store._changed           the Condition long-polls wait on; Store.version, which it
                             guards, is also read without it as a hint (re-checked under it)
    LiveOutput.changed       the running attempt's output tail: worker writes, http reads
    LongPolls._lock          the waiting long-polls: http threads, and HTTPServer's accept
    HTTPServer._connections_lock   the count of open connections (accept and http threads)
    Workspace._cache_lock    tree-cleaner's git gc against the worker re-creating the cache
    ReleaseMetrics._lock     the Prometheus counters: attempt-events writes, http reads
    _started_children_lock   "fork, then register" as one step (start_process), for the
                             scan of an attempt's orphans (worker, tree-cleaner, shutdown)
    _ssl_lock                the first import of ssl, by two notify threads at once
    _log_lock                one log line (or chunk of release output) at a time

Shared without a lock, because each is one reference written whole (atomic in CPython) and
read once by its readers: Worker.live (the running attempt's LiveOutput: http threads then
use its Condition), Worker._cancel_id and _current_id (cancel from http, re-checked by the
worker after each claim), Workspace.remote_status (worker writes, /healthcheck reads),
LongPoll.yielded (set under LongPolls._lock, read by its own http thread). Every other
object belongs to one thread.
"""

import base64
import calendar
import dataclasses
import errno
import fcntl
import fnmatch
import os
import sys

if __name__ == "__main__" and sys.argv[1:] in ([], ["serve"]):
    # http.client would import ssl for HTTPS clients the service rarely makes (git does its
    # own TLS): about 1.2 MiB of resident memory. What breaks with it: http.client's
    # HTTPSConnection. https_connection() loads ssl when an https notification is first
    # sent instead; the client subcommands keep it. Not when imported (tests, tools).
    sys.modules.setdefault("ssl", None)

import http.client  # noqa: E402
import http.server  # noqa: E402
import io
import ipaddress
import json
import pwd
import queue
import re
import selectors
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import traceback
import types
import urllib.parse
import uuid
import zlib
from contextlib import contextmanager
from http import HTTPStatus
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

try:  # hmac.compare_digest itself, without importing hmac: that loads OpenSSL (~3.7 MiB)
    from _operator import _compare_digest as compare_digest
except ImportError:  # an interpreter without it
    from hmac import compare_digest

__version__ = "1.0.0"

_log_lock = threading.Lock()  # one line (or chunk of release output) at a time


def log(message: str) -> None:
    """Write one line to the service's log (standard output), whole, even across threads."""
    with _log_lock:
        try:
            sys.stdout.write("releaser: " + message + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass  # a closed or broken log must not stop the service


def _write_log_bytes(data: bytes) -> None:
    """Write release output (already tagged) to the service's log."""
    with _log_lock:
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except (OSError, ValueError):
            pass  # a closed or broken log must not stop the service


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_time(ms: Optional[int]) -> Optional[str]:
    """2024-01-01T12:00:00.000Z for a time in milliseconds since the epoch."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def human_duration(ms: int) -> str:
    """A duration for people: "30 min", "1.5 s", "250 ms"."""
    if ms < 1000:
        return "%d ms" % ms
    if ms < 60000:
        return "%g s" % round(ms / 1000, 1)
    if ms < 3600000:
        return "%g min" % round(ms / 60000, 1)
    return "%g h" % round(ms / 3600000, 2)


# --- Configuration ---------------------------------------------------------------------------


class ReleaserError(Exception):
    """The root of this file's own exceptions."""


class ConfigError(ReleaserError):
    """A setting is missing or malformed; the message names the variable."""


#: Variables whose values are secrets: never logged, stored, answered or given to a release.
SECRET_VARIABLES = ("RELEASER_API_KEY", "RELEASER_GIT_TOKEN", "RELEASER_GIT_SSH_KEY",
                    "RELEASER_NOTIFY_URL")  # a webhook URL is its own secret


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting, read once from the environment at start-up; nothing else reads it.

    `git_url` may carry credentials: use `public_git_url` for anything a person or a release
    can see. `release_env` is the environment a release command starts from: the service's
    own minus the secret variables, RELEASER_RELEASE_COMMAND and any variable whose value
    holds a secret, with RELEASER_GIT_URL replaced by the public URL.
    """

    git_url: str
    release_command: str
    release_timeout_ms: int
    cleanup_days: int
    db_path: str
    port: int
    host: Optional[str]  # None: "::" dual stack, falling back to 0.0.0.0
    api_key: Optional[str]
    insecure_no_auth: bool
    work_dir: str
    kill_grace_ms: int
    shutdown_grace_ms: int
    log_tail_bytes: int
    git_token: Optional[str]
    git_depth: int  # 0: the commit's whole history
    git_ssh_key: Optional[str]
    git_branches: Tuple[str, ...]  # glob patterns over branch names, or full refs (refs/...)
    request_timeout_ms: int
    on_railway: bool
    railway_volume: Optional[str]
    draining_seconds: Optional[int]
    run_as: Optional["RunAs"]  # the user release commands run as (root only)
    public_url: Optional[str]  # how people reach the releaser (behind a TLS proxy), if set
    notify_urls: Tuple[str, ...]  # webhooks told of every attempt's start and end (secrets)
    watch_paths: Tuple[str, ...]  # git pathspecs: a commit changing none of them is skipped
    notify_timeout_ms: int
    notify_max_age_ms: int
    release_env: Mapping[str, str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Config":
        """Read and validate the settings; raise ConfigError naming the first bad variable."""
        env = {k: v for k, v in environ.items() if v != ""}  # empty means unset

        def number(name, default, minimum=0, maximum=None):
            raw = env.get(name)
            if raw is None:
                return default
            if not re.fullmatch(r"[0-9]+", raw):
                raise ConfigError("%s must be a whole number written in digits, not %r"
                                  % (name, raw[:40]))
            value = int(raw)
            if value < minimum or (maximum is not None and value > maximum):
                limit = ("from %d to %d" % (minimum, maximum)) if maximum is not None \
                    else ("at least %d" % minimum)
                raise ConfigError("%s must be %s, not %d" % (name, limit, value))
            return value

        examples = {"RELEASER_GIT_URL": "https://github.com/you/app.git",
                    "RELEASER_RELEASE_COMMAND": "./scripts/release.sh"}
        missing = [name for name in examples if name not in env]
        if missing:  # all of them at once: one start to learn what to set
            raise ConfigError(" and ".join(missing) + (" is" if len(missing) == 1 else " are")
                              + " required (for example %s)" % ", ".join(
                                  "%s=%s" % (name, examples[name]) for name in missing))
        git_url = env["RELEASER_GIT_URL"]
        if git_url.startswith("-") or any(c in git_url for c in "\r\n\0"):
            raise ConfigError("RELEASER_GIT_URL is not a repository URL or path")
        if "://" not in git_url and not re.match(r"[^/]*:", git_url):
            git_url = os.path.abspath(git_url)  # a local path: git runs in other folders
            if not is_git_repository(git_url):
                raise ConfigError("RELEASER_GIT_URL is a local path, and %s is not a git "
                                  "repository" % git_url)
        release_command = env["RELEASER_RELEASE_COMMAND"]

        volume = env.get("RAILWAY_VOLUME_MOUNT_PATH")
        default_db = os.path.join(volume, "database.sqlite") if volume else "database.sqlite"
        db_path = os.path.abspath(env.get("SQLITE_DB_PATH", default_db))
        work_dir = os.path.abspath(env.get(
            "RELEASER_WORK_DIR", os.path.join(os.path.dirname(db_path), "releaser-work")))

        host = env.get("HOST")
        api_key = env.get("RELEASER_API_KEY")
        insecure = env.get("RELEASER_INSECURE_NO_AUTH")
        if insecure not in (None, "0", "1"):
            raise ConfigError("RELEASER_INSECURE_NO_AUTH must be 1 or 0, not %r" % insecure[:40])
        if api_key is not None and (len(api_key) < 8 or any(ord(c) < 33 or ord(c) > 126
                                                            for c in api_key)):
            raise ConfigError("RELEASER_API_KEY must be at least 8 printable ASCII characters "
                              "without spaces")
        if api_key is None and insecure != "1" and not is_loopback(host):
            raise ConfigError(
                "RELEASER_API_KEY is required when listening beyond loopback (HOST is %s); "
                "set it, or set HOST=127.0.0.1, or RELEASER_INSECURE_NO_AUTH=1 to run without "
                "authentication" % (host or "::, all interfaces"))

        ssh_key = env.get("RELEASER_GIT_SSH_KEY")
        if ssh_key is not None and "PRIVATE KEY" not in ssh_key:
            raise ConfigError("RELEASER_GIT_SSH_KEY must hold a private key (the text of the "
                              "key file, -----BEGIN ... PRIVATE KEY-----)")

        branches = tuple(p.strip() for p in env.get("RELEASER_GIT_BRANCHES", "*").split(","))
        for pattern in branches:
            if not pattern or re.search(r"[\s\x00-\x1f\x7f]", pattern) \
                    or pattern.startswith("-") or pattern in ("refs/", "refs"):
                raise ConfigError("RELEASER_GIT_BRANCHES must be comma-separated branch name "
                                  "patterns (main, release/*) or full refs (refs/tags/v*), "
                                  "not %r" % pattern[:60])

        run_as = None
        if "RELEASER_RUN_AS" in env:
            run_as = RunAs.named(env["RELEASER_RUN_AS"])
        public_url = env.get("RELEASER_PUBLIC_URL")
        if public_url is not None:
            parts = urllib.parse.urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or "@" in \
                    parts.netloc or any(c in public_url for c in "\r\n\0 "):
                raise ConfigError("RELEASER_PUBLIC_URL must be the releaser's http(s)://host"
                                  "[:port] as people reach it, without credentials, not %r"
                                  % public_url[:80])
            public_url = public_url.rstrip("/")
        watch_paths = tuple(path.strip() for path in re.split(r"[,\n]",
                                                              env.get("RELEASER_WATCH_PATHS", ""))
                            if path.strip())
        for path in watch_paths:
            if path.startswith("-") or any(ord(c) < 32 for c in path):
                raise ConfigError("RELEASER_WATCH_PATHS must be git pathspecs separated by "
                                  "commas or line breaks, not %r" % path[:60])
        notify_urls = tuple(url.strip() for url in env.get("RELEASER_NOTIFY_URL", "").split(",")
                            if url.strip())
        for url in notify_urls:
            parts = urllib.parse.urlsplit(url)
            try:
                valid_port = parts.port is None or parts.port > 0
            except ValueError:
                valid_port = False
            if parts.scheme not in ("http", "https") or not parts.hostname or not valid_port \
                    or any(c in url for c in "\r\n\0 "):
                raise ConfigError("RELEASER_NOTIFY_URL must be comma-separated http(s) URLs "
                                  "with a host (and a port from 1 to 65535); one is not (%s)"
                                  % (parts.scheme or "no scheme"))

        config = cls(
            git_url=git_url,
            release_command=release_command,
            release_timeout_ms=number("RELEASE_TIMEOUT_MS", 1800000, minimum=1),
            cleanup_days=number("DEFAULT_CLEANUP_DAYS", 30, minimum=1, maximum=3650),
            db_path=db_path,
            port=number("PORT", 8080, minimum=0, maximum=65535),
            host=host,
            api_key=api_key,
            insecure_no_auth=insecure == "1",
            work_dir=work_dir,
            kill_grace_ms=number("RELEASER_KILL_GRACE_MS", 10000, minimum=1),
            shutdown_grace_ms=number("RELEASER_SHUTDOWN_GRACE_MS", 30000, minimum=1),
            log_tail_bytes=number("RELEASER_LOG_TAIL_BYTES", 1048576, minimum=1024),
            git_token=env.get("RELEASER_GIT_TOKEN"),
            git_depth=number("RELEASER_GIT_DEPTH", 1),
            git_ssh_key=ssh_key,
            git_branches=branches,
            request_timeout_ms=number("RELEASER_REQUEST_TIMEOUT_MS", 15000, minimum=1),
            on_railway="RAILWAY_ENVIRONMENT" in env or "RAILWAY_ENVIRONMENT_NAME" in env,
            railway_volume=volume,
            draining_seconds=number("RAILWAY_DEPLOYMENT_DRAINING_SECONDS", None),
            run_as=run_as,
            public_url=public_url,
            notify_urls=notify_urls,
            watch_paths=watch_paths,
            notify_timeout_ms=number("RELEASER_NOTIFY_TIMEOUT_MS", 10000, minimum=1),
            notify_max_age_ms=number("RELEASER_NOTIFY_MAX_AGE_MS", 3600000, minimum=1),
            release_env=types.MappingProxyType({}),
        )
        # release_env comes second: it needs secrets(), which needs the config.
        secrets = config.secrets()
        release_env = {
            k: v for k, v in environ.items()
            if k not in SECRET_VARIABLES and k != "RELEASER_RELEASE_COMMAND"
            and not any(s in v for s in secrets)
        }
        release_env["RELEASER_GIT_URL"] = config.public_git_url
        return dataclasses.replace(config, release_env=types.MappingProxyType(release_env))

    def secrets(self) -> List[str]:
        """Secret values to keep out of everything a person or a release can see."""
        values = [self.api_key, self.git_token, url_password(self.git_url),
                  url_password(self.git_url, decode=False)] + list(self.notify_urls)
        if self.git_ssh_key:  # the key, and each line of it, should one be printed alone
            values += [self.git_ssh_key.strip()] + [
                line.strip() for line in self.git_ssh_key.splitlines() if "-----" not in line]
        return sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    @property
    def public_git_url(self) -> str:
        """The repository URL without credentials: safe to log, answer and store."""
        return strip_credentials(self.git_url)

    @property
    def commit_url_prefix(self) -> Optional[str]:
        """https://<host>/<owner>/<repo>/commit/ (the web page of a commit, SHA appended) when
        the repository is on GitHub, GitLab or Bitbucket; never with credentials."""
        match = re.match(r"(?:https?://(?:[^@/]*@)?|ssh://(?:[^@/]*@)?|[^@/:]+@)"
                         r"(github\.com|gitlab\.com|bitbucket\.org)[:/]+([\w.-]+(?:/[\w.-]+)+?)"
                         r"(?:\.git)?/*$", self.git_url)
        if not match:
            return None
        host, path = match.group(1), re.sub(r"\.git$", "", match.group(2))
        kind = {"github.com": "/commit/", "gitlab.com": "/-/commit/",
                "bitbucket.org": "/commits/"}[host]
        return "https://%s/%s%s" % (host, path, kind)

    def shutdown_grace_s(self) -> float:
        """How long SIGTERM lets a running release finish: ends 2 s before Railway's kill."""
        grace_ms = self.shutdown_grace_ms
        if self.draining_seconds is not None:
            grace_ms = min(grace_ms, self.draining_seconds * 1000 - 2000)
        elif self.on_railway:
            grace_ms = min(grace_ms, 1000)  # Railway kills about 3 s after SIGTERM
        return max(0, grace_ms) / 1000


@dataclasses.dataclass(frozen=True)
class RunAs:
    """RELEASER_RUN_AS: the user release commands run as, so that they can read neither the
    releaser's database and credentials nor the environment of PID 1 (which holds them)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> "RunAs":
        try:
            entry = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
        except KeyError:
            raise ConfigError("RELEASER_RUN_AS names no user of this system: %r" % name[:40])
        if entry.pw_uid == 0:
            raise ConfigError("RELEASER_RUN_AS must name a user other than root")
        if os.geteuid() != 0:
            raise ConfigError("RELEASER_RUN_AS needs the releaser to run as root (it runs as "
                              "user %d), which alone can start commands as another user"
                              % os.geteuid())
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)


#: Set by the releaser for itself only: the descriptor its secrets are handed over on.
SECRETS_FD_VARIABLE = "RELEASER_SECRETS_FD"


#: How the service runs this file again: loaded as the module `releaser` (see below). It
#: marks `ssl` absent first, as the top of this file does for `python3 releaser.py`: the
#: re-executed service is not `__main__`, so that line does not run there (what it saves,
#: and what breaks without ssl, is said at the top of the file).
_REEXEC_PROGRAM = ("import sys, importlib.util as u; sys.modules.setdefault('ssl', None); "
                   "s = u.spec_from_file_location('releaser', sys.argv[1]); "
                   "m = u.module_from_spec(s); sys.modules['releaser'] = m; "
                   "s.loader.exec_module(m); sys.exit(m.main(sys.argv[2:]))")


def reexec_in_place(environ: Mapping[str, str], argv: List[str]) -> None:
    """Execute this file again in place (same PID, no wrapper process), for two reasons:

    - the secrets: /proc/<pid>/environ shows the environment a process started with to any
      process of the same user (a release command reads its parent's), so they are removed
      from it and handed over on an inherited file descriptor instead;
    - memory: while `python3 releaser.py` runs a file as a script, Python keeps the whole
      file's syntax tree (some 8 MiB); loaded as a module, it is freed after compiling.

    Returns only when neither applies (no secret, and already loaded as a module)."""
    secrets = {name: environ[name] for name in SECRET_VARIABLES if environ.get(name)}
    url = environ.get("RELEASER_GIT_URL", "")
    if url_password(url):
        secrets["RELEASER_GIT_URL"] = url
    as_script = __name__ == "__main__"
    if not secrets and not as_script:
        return
    env = {k: v for k, v in environ.items() if k not in secrets}
    if secrets:
        if "RELEASER_GIT_URL" in secrets:
            env["RELEASER_GIT_URL"] = strip_credentials(url)
        env[SECRETS_FD_VARIABLE] = str(_secrets_file(secrets))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable,
              [sys.executable, "-c", _REEXEC_PROGRAM, os.path.abspath(__file__)] + argv, env)


def _secrets_file(secrets: Dict[str, str]) -> int:
    """An inheritable descriptor to read the secrets from, as JSON."""
    data = json.dumps(secrets).encode()
    try:  # an anonymous file in memory: no size limit, nothing on disk
        fd = os.memfd_create("releaser-secrets")
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    except (AttributeError, OSError):  # not Linux: a pipe holds 64 KiB without a reader
        fd, writer = os.pipe()
        os.write(writer, data)
        os.close(writer)
    os.set_inheritable(fd, True)
    return fd


def take_handed_over_secrets(environ: Dict[str, str]) -> bool:
    """Put the secrets reexec_in_place() passed on back into `environ`; False
    when there was no hand-over."""
    fd = environ.pop(SECRETS_FD_VARIABLE, None)
    if fd is None:
        return False
    try:
        with os.fdopen(int(fd), "rb") as f:
            environ.update(json.loads(f.read().decode()))
    except (ValueError, OSError):
        raise ConfigError("%s is set by the releaser for itself; unset it" % SECRETS_FD_VARIABLE)
    return True


def is_git_repository(path: str) -> bool:
    """A folder holding a repository: bare (HEAD, objects/) or with a work tree (.git)."""
    return os.path.exists(os.path.join(path, ".git")) or (
        os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects")))


def is_loopback(host: Optional[str]) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_url_userinfo(url: str):
    """The parts of a URL with user info (user@ or user:password@) in a scheme that can
    carry credentials; None for any other URL or form (scp-like git@host:path, paths)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "ssh", "git+ssh", "ftp", "ftps") \
            or "@" not in parts.netloc:
        return None
    return parts


def url_password(url: str, decode: bool = True) -> Optional[str]:
    """The secret in a URL's user info: the password, or for http(s) a lone user (a token);
    percent-decoded unless `decode` is False."""
    parts = _split_url_userinfo(url)
    if parts is None:
        return None
    userinfo = parts.netloc.rsplit("@", 1)[0]
    user, sep, password = userinfo.partition(":")
    secret = password if sep else (user if parts.scheme.lower() in ("http", "https") else None)
    return urllib.parse.unquote(secret) if secret is not None and decode else secret


def url_user(url: str) -> Optional[str]:
    """The user of a user:password URL; None for a lone user (that is a token) or none."""
    parts = _split_url_userinfo(url)
    if parts is None:
        return None
    user, sep, _ = parts.netloc.rsplit("@", 1)[0].partition(":")
    return urllib.parse.unquote(user) if sep else None


def strip_credentials(url: str) -> str:
    """Remove a password (and an http(s) user) from a URL; other forms pass unchanged."""
    parts = _split_url_userinfo(url)
    if parts is None:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.partition(":")[0]
    keep_user = parts.scheme.lower() not in ("http", "https")
    netloc = (user + "@" + host) if keep_user and user else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def mask_secrets(text: str, secrets: List[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# --- Storage ---------------------------------------------------------------------------------
#
# Store is the only place with SQL. The schema itself keeps the invariants (one running
# attempt, a commit queued once, final states with an end time), so no code path above it
# can break them; every change is one BEGIN IMMEDIATE transaction.


class Status:
    """The states of a release attempt (see the diagram at the top of the file)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    FINAL = (SUCCESS, FAILED, TIMEOUT, CANCELLED)
    ALL = (QUEUED, RUNNING) + FINAL


def _sql_strings(values) -> str:
    """'a', 'b', ...: SQL string literals of fixed words (the states, never request data)."""
    assert all(re.fullmatch(r"[a-z_]+", value) for value in values)
    return ", ".join("'%s'" % value for value in values)


#: Not a state: a success whose command never ran (RELEASER_WATCH_PATHS found nothing
#: changed). /metrics and the history show it apart; every waiting client sees `success`.
SKIPPED = "skipped"

#: The states as SQL, derived from Status: the schema's CHECKs, /metrics and cleanup use these.
STATES_SQL = _sql_strings(Status.ALL)
FINAL_STATES_SQL = _sql_strings(Status.FINAL)

SCHEMA_VERSION = 5

#: Version 1, as created before any upgrade existed; SCHEMA_UPGRADES takes it further.
SCHEMA = """
CREATE TABLE release_log (
    id INTEGER PRIMARY KEY,
    git_commit_sha TEXT NOT NULL CHECK (length(git_commit_sha) IN (40, 64)
                                        AND git_commit_sha NOT GLOB '*[^0-9a-f]*'),
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    release_status TEXT NOT NULL CHECK (release_status IN (%(states)s)),
    created_at INTEGER NOT NULL,              -- milliseconds since the epoch, UTC
    updated_at INTEGER NOT NULL,
    started_at INTEGER,                       -- when the attempt began (git included)
    ended_at INTEGER,
    exit_code INTEGER,
    error TEXT,
    pgid INTEGER,                             -- the command's process group, for people
    attempt_marker TEXT,                      -- RELEASER_ATTEMPT_ID, set just before the command starts
    output_tail BLOB NOT NULL DEFAULT x'',    -- the last RELEASER_LOG_TAIL_BYTES of output
    output_bytes INTEGER NOT NULL DEFAULT 0,  -- all output ever produced, in bytes
    UNIQUE (git_commit_sha, attempt),
    CHECK ((release_status IN (%(final)s)) = (ended_at IS NOT NULL)),
    CHECK (release_status <> 'running' OR started_at IS NOT NULL)
);
-- At most one attempt runs, whatever the code above the database does.
CREATE UNIQUE INDEX release_log_one_running ON release_log (release_status)
    WHERE release_status = 'running';
-- /metrics reads one range of it per status, however long the history (covering).
CREATE INDEX release_log_by_status ON release_log (release_status, created_at, started_at, ended_at);
CREATE INDEX release_log_by_ended ON release_log (ended_at);

-- Pending attempts, first in, first out (by position). A commit is queued at most once.
CREATE TABLE release_queue (
    position INTEGER PRIMARY KEY,
    release_id INTEGER NOT NULL UNIQUE REFERENCES release_log (id) ON DELETE CASCADE,
    git_commit_sha TEXT NOT NULL UNIQUE,
    queued_at INTEGER NOT NULL
);
""" % {"states": STATES_SQL, "final": FINAL_STATES_SQL}

#: The changes of each version after the first: a database of any older version (a Node one
#: too, converted to version 1 first) is brought up to date in place at start-up, every step
#: in one transaction with the new user_version (Store._upgrade_schema). Changes are
#: additive only.
SCHEMA_UPGRADES = {
    # 2: who asked for each attempt (X-Requested-By, X-Deployment-Id of POST /queue).
    2: """
CREATE TABLE release_requester (
    release_id INTEGER NOT NULL REFERENCES release_log (id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    deployment_id TEXT,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (release_id, requested_by)
)
""",
    # 3: GET /releases?state= pages newest first through one status (id order).
    3: """
CREATE INDEX release_log_by_status_id ON release_log (release_status, id)
""",
    # 4: notifications not yet delivered (an outbox), written in the transaction that
    # starts or ends the attempt. `destination` names a RELEASER_NOTIFY_URL by a checksum:
    # a webhook URL is a secret, and never stored.
    4: """
CREATE TABLE notification_outbox (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL
);
CREATE INDEX notification_outbox_by_destination ON notification_outbox (destination, id)
""",
    # 5: RELEASER_WATCH_PATHS: how each attempt's path check went, the base a skipped one
    # matched, and retries that must run their command; /metrics tells skips apart.
    5: """
ALTER TABLE release_log ADD COLUMN path_check TEXT;
ALTER TABLE release_log ADD COLUMN skipped_base TEXT;
ALTER TABLE release_log ADD COLUMN force_run INTEGER NOT NULL DEFAULT 0;
CREATE INDEX release_log_by_status_skipped ON release_log
    (release_status, created_at, started_at, ended_at, skipped_base);
DROP INDEX release_log_by_status
""",
}

#: GET /metrics: per status, the count and the average of (ended - started) in minutes (AVG
#: skips attempts without both), of attempts created since :since.
METRICS_SQL = "\nUNION ALL ".join(
    "SELECT '%s', COUNT(*), AVG(ended_at - started_at) / 60000.0 FROM release_log "
    "WHERE release_status = '%s' AND created_at >= :since%s" % (
        row, Status.SUCCESS if row == SKIPPED else row,
        {Status.SUCCESS: " AND skipped_base IS NULL",
         SKIPPED: " AND skipped_base IS NOT NULL"}.get(row, ""))
    for row in sorted(Status.ALL + (SKIPPED,)))

#: The columns of a release's record that status answers need (never the output tail), each
#: named as Release's field: Store._release builds one from a row by those names.
RELEASE_COLUMNS = """r.id AS id, r.git_commit_sha AS sha, r.attempt AS attempt,
    r.release_status AS status, r.created_at AS created_at, r.updated_at AS updated_at,
    r.started_at AS started_at, r.ended_at AS ended_at, r.exit_code AS exit_code,
    r.error AS error, r.attempt_marker AS marker, r.output_bytes AS output_bytes,
    r.path_check AS path_check, r.skipped_base AS skipped_base, r.force_run AS force_run,
    CASE WHEN q.position IS NULL THEN NULL
         ELSE (SELECT COUNT(*) FROM release_queue q2 WHERE q2.position <= q.position) END
         AS queue_position"""
RELEASE_FROM = "release_log r LEFT JOIN release_queue q ON q.release_id = r.id"
#: Who asked for an attempt (GET /releases), one name a line.
REQUESTERS_COLUMN = """, (SELECT group_concat(requested_by, char(10)) FROM release_requester
    WHERE release_id = r.id) AS requesters"""


def _create_schema(db: sqlite3.Connection, script: str = SCHEMA) -> None:
    # Statement by statement: executescript() would commit the surrounding transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


class StartupError(ReleaserError):
    """The service cannot start (database held by another releaser, unknown schema, ...)."""


@dataclasses.dataclass(frozen=True)
class Release:
    """One release attempt, as read from the database (without its output)."""

    id: int
    sha: str
    attempt: int
    status: str
    created_at: int
    updated_at: int
    started_at: Optional[int]
    ended_at: Optional[int]
    exit_code: Optional[int]
    error: Optional[str]
    marker: Optional[str]
    output_bytes: int
    path_check: Optional[str]  # RELEASER_WATCH_PATHS: why the command ran, or "skipped"
    skipped_base: Optional[str]  # a skipped attempt: the release its watched paths matched
    force_run: int  # a retry of a skipped attempt: run the command, no path check
    queue_position: Optional[int]

    @property
    def is_final(self) -> bool:
        return self.status in Status.FINAL

    @property
    def duration_ms(self) -> Optional[int]:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def summary(self) -> dict:
        """The attempt as GET /releases lists it."""
        return {"commitSha": self.sha, "attempt": self.attempt, "state": self.status,
                "created_at": iso_time(self.created_at), "started_at": iso_time(self.started_at),
                "ended_at": iso_time(self.ended_at), "duration_ms": self.duration_ms,
                "exit_code": self.exit_code, "error": self.error,
                "output_bytes": self.output_bytes, "skipped_base": self.skipped_base}

    def details(self, watch_paths: Tuple[str, ...] = ()) -> dict:
        """The attempt as GET /release answers it; `watch_paths` (RELEASER_WATCH_PATHS) are
        named in `skipped` when its command was skipped."""
        duration = self.duration_ms
        skipped = None
        if self.skipped_base is not None:
            skipped = {"base": self.skipped_base, "paths": list(watch_paths)}
        return {
            "release_status": self.status,
            "attempt": self.attempt,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "started_at": iso_time(self.started_at),
            "ended_at": iso_time(self.ended_at),
            "exit_code": self.exit_code,
            "error": self.error,
            "queue_position": self.queue_position,
            "duration_ms": duration,
            "output_bytes": self.output_bytes,
            "path_check": self.path_check,
            "skipped": skipped,
        }


class SavedOutput(NamedTuple):
    """What the database keeps of an attempt's output (Store.release_output)."""

    status: str
    tail: bytes  # the last RELEASER_LOG_TAIL_BYTES
    total: int  # all output ever produced, in bytes


class Notification(NamedTuple):
    """One undelivered notification of the outbox (Store.next_notification)."""

    id: int
    body: str  # the JSON posted
    tries: int
    created_at: int
    next_try_at: int


@dataclasses.dataclass(frozen=True)
class Decision:
    """What POST /queue or DELETE /queue/<sha> did, and the attempt's state after it.

    `outcome` of request_release: "created" (a new attempt), "exists" (the latest attempt is
    queued, running or succeeded), "needs_retry" (it ended badly and retry was not asked),
    "shutting_down" (nothing made). Of Application.cancel_release: "cancelled"
    (`previous_status` says whether it was queued or running), "not_found" (no attempt),
    "not_queued" (the latest attempt ended: `status`), "shutting_down" (the service began
    to stop while the running attempt was being stopped). The answers call both "state".
    """

    outcome: str
    status: Optional[str] = None
    previous_status: Optional[str] = None


class AttemptEvents:
    """Reactions to an attempt starting ("started") and ending ("ended"): functions
    (event, release) added with add(), which the Store calls through emit() from the one
    place each happens (claim_next_release, end_attempt).

    They run in order on a thread of their own, never the worker's or a request's, so a
    slow one delays nothing; one that fails is logged, never fatal (huey's _emit). Anything
    that must survive a crash is written by the Store in the transaction itself, never by a
    listener: a listener only reacts (logs, wakes a thread). Events emitted before start()
    wait for it. (Long-polls need no listener: the Store wakes them after every commit.)
    """

    def __init__(self):
        self._listeners: List[Callable[[str, "Release"], None]] = []
        self._pending: "queue.SimpleQueue[Optional[tuple]]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._deliver, name="attempt-events",
                                        daemon=True)

    def add(self, listener: Callable[[str, "Release"], None]) -> None:
        self._listeners.append(listener)

    def emit(self, event: str, release: "Release") -> None:
        self._pending.put((event, release))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Deliver what is pending, then end the thread."""
        self._pending.put(None)
        if self._thread.is_alive():
            self._thread.join(5)

    def _deliver(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            for listener in self._listeners:
                try:
                    listener(*item)
                except Exception as exc:
                    log("a reaction to a release %s failed (%s: %s); the others still run"
                        % (item[0], type(exc).__name__, exc))


#: How often a waiting long-poll asks whether it should give up (its client went away).
GIVE_UP_CHECK_S = 1.0


class Store:
    """The SQLite database: the only place that holds SQL.

    One writer connection behind a lock; every change runs in a BEGIN IMMEDIATE transaction,
    so the schema's invariants (one running attempt, a commit queued at most once, an attempt
    leaving the queue in the transaction that runs or cancels it) hold across threads and
    processes. Reads use a small pool of their own connections (WAL lets them run beside a
    write), at most READERS at a time. Every committed change bumps `version` and wakes the
    threads waiting in `wait_for_change`, which is how long-polls learn of news without
    reading in a loop.
    """

    BUSY_TIMEOUT_MS = 2000
    # More readers at once only contend for SQLite's shared-memory locks and the GIL: with 32
    # keep-alive clients under wrk, 4 served 5,600-6,300 status reads a second where one
    # connection per client served 2,600-3,600 (side by side; README has a full run).
    READERS = 4

    def __init__(self, path: str, events: Optional["AttemptEvents"] = None,
                 outbox_rows: Optional[Callable[[str, "Release", bytes],
                                                List[Tuple[str, str]]]] = None):
        self.path = path
        self.events = events or AttemptEvents()
        # (event, release, output tail) -> [(destination, body)]: the notifications to write
        # in the transaction that starts or ends an attempt (see Notifier).
        self.outbox_rows = outbox_rows
        self._write_lock = threading.Lock()
        # The reader pool: READERS slots, each a connection or None until first used. A
        # SimpleQueue blocks and wakes in C, where a Semaphore runs Python code under the GIL.
        self._readers: "queue.SimpleQueue[Optional[sqlite3.Connection]]" = queue.SimpleQueue()
        for _ in range(self.READERS):
            self._readers.put(None)
        self._closed = False
        self._changed = threading.Condition()
        self.version = 0
        for file in (path, path + "-wal"):  # SQLite would open it, and fail at the first write
            if os.path.exists(file) and not os.access(file, os.W_OK):
                raise StartupError("the database %s is read-only: the releaser must be able "
                                   "to write it, its WAL and its folder (SQLITE_DB_PATH)" % file)
        try:
            self._db = self._connect()
            self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            if "readonly" in str(exc):
                raise StartupError("the database %s is read-only: the releaser must be able "
                                   "to write it, its WAL and its folder (SQLITE_DB_PATH)" % path)
            raise StartupError("%s is not a SQLite database this releaser can use (%s)"
                               % (path, exc))
        self._upgrade_schema()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = %d" % self.BUSY_TIMEOUT_MS)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = FULL")
        return db

    def close(self) -> None:
        """Close every connection: those in the pool now, and those in use as they come
        back. A straggling request still reads, on a connection of its own for that read."""
        with self._write_lock:
            self._closed = True
            idle = []
            for _ in range(self.READERS):
                try:
                    idle.append(self._readers.get_nowait())
                except queue.Empty:
                    break
            for db in idle:
                if db is not None:
                    db.close()
                self._readers.put(None)
            self._db.close()

    # -- transactions and change notification

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT on the writer connection; waiters wake after commit."""
        with self._write_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        self.wake_waiters()

    @contextmanager
    def reading(self):
        """A connection for reads only, from the pool. Each statement sees its own snapshot:
        BEGIN explicitly where several reads must agree (queue_snapshot)."""
        db = self._readers.get()
        try:
            if db is None:
                db = self._connect()
            yield db
        finally:
            if db is not None and db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    db.close()
                    db = None  # the slot opens a fresh connection next time
            if db is not None and self._closed:
                db.close()  # the store was closed meanwhile: nothing is left open
                db = None
            self._readers.put(db)

    def wake_waiters(self, changed: bool = True) -> None:
        """Wake the threads in wait_for_change: after a change, or (`changed` False) so that
        they ask their `give_up` again."""
        with self._changed:
            self.version += changed
            self._changed.notify_all()

    def wait_for_change(self, seen_version: int, timeout: float,
                        give_up: Callable[[], bool] = lambda: False) -> None:
        """Block until a change after `seen_version` was committed, `timeout` seconds passed
        or `give_up()` is true (asked when woken, and at least every GIVE_UP_CHECK_S)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                remaining = deadline - time.monotonic()
                if self.version != seen_version or remaining <= 0:
                    return
                self._changed.wait(min(remaining, GIVE_UP_CHECK_S))
            if give_up():
                return

    # -- schema

    def _upgrade_schema(self) -> None:
        """Create the schema, or upgrade an older one (the original Node releaser's too)."""
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION or version < 0:
            raise StartupError("%s has schema version %d, newer than this releaser knows (%d); "
                               "use a newer releaser.py" % (self.path, version, SCHEMA_VERSION))
        columns = set()
        if "release_log" in tables:
            columns = {row[1] for row in db.execute("PRAGMA table_info(release_log)")}
        from_node = version == 0 and {"git_commit_sha", "release_status"} <= columns \
            and "attempt" not in columns
        if version == 0 and tables and not from_node:
            raise StartupError("%s holds tables this releaser does not know (%s); point "
                               "SQLITE_DB_PATH at a new file"
                               % (self.path, ", ".join(sorted(tables))))
        # One transaction from whatever is there to the current schema, the attempts a Node
        # releaser left running ended with it: a crash leaves the old database, never half
        # of an upgrade (an attempt `queued` but in no queue would never run, nor end).
        ended, kept = [], 0
        with self.transaction() as db:
            interrupted: List[int] = []
            if version == 0 and not tables:
                _create_schema(db)
            elif from_node:
                kept, interrupted = self._convert_node_database(db, tables, columns)
            for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                _create_schema(db, SCHEMA_UPGRADES[step])
            db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
            for release_id in interrupted:
                ended.append(self._end_attempt(
                    db, release_id, Status.FAILED, None, "interrupted: the releaser was "
                    "upgraded", None, None, from_status=Status.QUEUED))
        if from_node:
            log("upgraded the original releaser's database %s (%d records kept)"
                % (self.path, kept))
        elif tables:
            log("upgraded the database %s to schema version %d (from %d)"
                % (self.path, SCHEMA_VERSION, version))
        for release in ended:
            if release is not None:
                self.events.emit("ended", release)

    def _convert_node_database(self, db, tables, columns) -> Tuple[int, List[int]]:
        """Convert the original Node implementation's database in place, keeping its history.

        Final rows become attempt 1 (2, ... for repeats), queued rows keep their queue order,
        a row left running is returned, to be failed (interrupted) once the schema is whole.
        Rows with short SHAs, which that version accepted, are left out: releases here are
        keyed by the full SHA. Runs inside the upgrade's transaction, into schema version 1;
        returns (records kept, ids of the attempts left running).
        """
        def col(name):
            return name if name in columns else "NULL"

        legacy_order = "rowid"
        if "release_queue" in tables:
            queue_cols = {row[1] for row in db.execute("PRAGMA table_info(release_queue)")}
            if "git_commit_sha" in queue_cols:
                legacy_order = ("(SELECT MIN(lq.rowid) FROM legacy_release_queue lq "
                                "WHERE lq.git_commit_sha = l.git_commit_sha)")
            db.execute("ALTER TABLE release_queue RENAME TO legacy_release_queue")
        db.execute("ALTER TABLE release_log RENAME TO legacy_release_log")
        for index, in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                 "AND sql IS NOT NULL").fetchall():
            db.execute('DROP INDEX "%s"' % index.replace('"', '""'))
        _create_schema(db)
        rows = db.execute(
            "SELECT lower(trim(git_commit_sha)), lower(trim(release_status)), %s, %s, %s, %s, "
            "%s, CASE WHEN lower(release_status) IN ('queued', 'pending') THEN %s END "
            "FROM legacy_release_log l ORDER BY rowid"
            % (col("created_at"), col("queued_at"), col("started_at"), col("ended_at"),
               col("updated_at"), legacy_order)).fetchall()
        attempts: Dict[str, int] = {}
        queued: Dict[str, tuple] = {}
        interrupted: List[int] = []  # left running: the caller ends them
        for sha, status, created, queued_at, started, ended, updated, order in rows:
            if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha or ""):
                continue  # a short SHA cannot be stored as a release; see docstring
            created_ms = parse_legacy_time(created) or parse_legacy_time(queued_at) \
                or now_ms()
            started_ms, ended_ms = parse_legacy_time(started), parse_legacy_time(ended)
            error = None
            if status in ("queued", "pending"):
                if sha in queued:
                    continue  # queued twice by the old version: once is enough
                status, started_ms, ended_ms = Status.QUEUED, None, None
            elif status == "running":
                status, ended_ms = "interrupted", None
            elif status not in Status.FINAL:
                status, error = Status.FAILED, "unknown status %r in the original " \
                                               "releaser's database" % status
            if status in Status.FINAL:
                ended_ms = ended_ms or started_ms or created_ms
            attempts[sha] = attempts.get(sha, 0) + 1
            cur = db.execute(
                "INSERT INTO release_log (git_commit_sha, attempt, release_status, created_at,"
                " updated_at, started_at, ended_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sha, attempts[sha], Status.QUEUED if status == "interrupted" else status,
                 created_ms, parse_legacy_time(updated) or ended_ms or created_ms,
                 started_ms, ended_ms, error))
            if status == "interrupted":
                interrupted.append(cur.lastrowid)
            elif status == Status.QUEUED:
                queued[sha] = (order if order is not None else created_ms, cur.lastrowid,
                               created_ms)
        for sha, (_, release_id, created_ms) in sorted(queued.items(),
                                                       key=lambda item: item[1][0]):
            db.execute("INSERT INTO release_queue (release_id, git_commit_sha, queued_at) "
                       "VALUES (?, ?, ?)", (release_id, sha, created_ms))
        # The queue first: it may hold a foreign key to the log.
        db.execute("DROP TABLE IF EXISTS legacy_release_queue")
        db.execute("DROP TABLE legacy_release_log")
        db.execute("DROP TABLE IF EXISTS migrations")  # the Node version's migration list
        return sum(attempts.values()), interrupted

    # -- reads

    @staticmethod
    def _release(cursor: sqlite3.Cursor) -> Optional[Release]:
        """The Release of a cursor's next row, mapped by column name (RELEASE_COLUMNS)."""
        return Store._row(cursor, Release)

    @staticmethod
    def _row(cursor: sqlite3.Cursor, kind):
        """A cursor's next row as `kind`, each column given to the field of its name (the
        SELECT names them with AS), or None: never by position."""
        row = cursor.fetchone()
        if row is None:
            return None
        return kind(**{column[0]: value for column, value in zip(cursor.description, row)})

    def latest_release(self, sha: str) -> Optional[Release]:
        """The commit's latest attempt, or None."""
        with self.reading() as db:
            return self._release(db.execute(
                "SELECT %s FROM %s WHERE r.git_commit_sha = ? ORDER BY r.attempt DESC LIMIT 1"
                % (RELEASE_COLUMNS, RELEASE_FROM), (sha,)))

    def release_attempt(self, sha: str, attempt: int) -> Optional[Release]:
        with self.reading() as db:
            return self._release(db.execute(
                "SELECT %s FROM %s WHERE r.git_commit_sha = ? AND r.attempt = ?"
                % (RELEASE_COLUMNS, RELEASE_FROM), (sha, attempt)))

    def release_by_id(self, release_id: int) -> Optional[Release]:
        with self.reading() as db:
            return self._release(db.execute(
                "SELECT %s FROM %s WHERE r.id = ?" % (RELEASE_COLUMNS, RELEASE_FROM),
                (release_id,)))

    def release_output(self, release_id: int) -> Optional["SavedOutput"]:
        """An attempt's saved output and status, or None."""
        with self.reading() as db:
            return self._row(db.execute(
                "SELECT release_status AS status, output_tail AS tail, output_bytes AS total "
                "FROM release_log WHERE id = ?", (release_id,)), SavedOutput)

    def health(self) -> Tuple[bool, int]:
        """(is a release running, queue length), in one query."""
        with self.reading() as db:
            running, queued = db.execute(
                "SELECT EXISTS (SELECT 1 FROM release_log WHERE release_status = 'running'), "
                "(SELECT COUNT(*) FROM release_queue)").fetchone()
        return bool(running), queued

    def queue_snapshot(self) -> Tuple[Optional[Release], List[Tuple[str, int, int]]]:
        """The running attempt and the queue [(sha, attempt, queued_at)], in running order."""
        with self.reading() as db:
            db.execute("BEGIN")
            running = self._release(db.execute(
                "SELECT %s FROM %s WHERE r.release_status = 'running'"
                % (RELEASE_COLUMNS, RELEASE_FROM)))
            queue = db.execute(
                "SELECT q.git_commit_sha, r.attempt, q.queued_at FROM release_queue q "
                "JOIN release_log r ON r.id = q.release_id ORDER BY q.position").fetchall()
            db.execute("COMMIT")
        return running, queue

    def running_release(self) -> Optional[Release]:
        with self.reading() as db:
            return self._release(db.execute(
                "SELECT %s FROM %s WHERE r.release_status = 'running'"
                % (RELEASE_COLUMNS, RELEASE_FROM)))

    def history(self, limit: int, before_id: Optional[int] = None,
                state: Optional[str] = None, sha: Optional[str] = None,
                prefix: Optional[str] = None) -> List[Tuple[Release, List[str]]]:
        """Attempts newest first (by id), at most `limit`, with who asked for each: all,
        those before `before_id`, in one `state`, of one commit `sha`, or of the commits
        whose SHA starts with `prefix`. Each filter is its own statement, so that an index
        serves it (the primary key; release_log_by_status_id; the (sha, attempt) key)."""
        before = before_id if before_id is not None else 2 ** 62
        with self.reading() as db:
            # (By commit, `state` may filter too: the commit's few rows, read by its index;
            # "+r.id" keeps SQLite from walking the whole table in id order instead.)
            if sha is not None:
                cursor = db.execute(
                    "SELECT %s FROM %s WHERE r.git_commit_sha = ? AND r.id < ? AND "
                    "(? IS NULL OR r.release_status = ?) ORDER BY +r.id DESC LIMIT ?"
                    % (RELEASE_COLUMNS + REQUESTERS_COLUMN, RELEASE_FROM),
                    (sha, before, state, state, limit))
            elif prefix is not None:
                cursor = db.execute(
                    "SELECT %s FROM %s WHERE r.git_commit_sha >= ? AND r.git_commit_sha < ? "
                    "AND r.id < ? AND (? IS NULL OR r.release_status = ?) "
                    "ORDER BY +r.id DESC LIMIT ?" % (RELEASE_COLUMNS + REQUESTERS_COLUMN,
                                                     RELEASE_FROM),
                    (prefix, prefix + "g", before, state, state, limit))
            elif state is not None:
                cursor = db.execute(
                    "SELECT %s FROM %s WHERE r.release_status = ? AND r.id < ? "
                    "ORDER BY r.id DESC LIMIT ?" % (RELEASE_COLUMNS + REQUESTERS_COLUMN,
                                                    RELEASE_FROM), (state, before, limit))
            else:
                cursor = db.execute(
                    "SELECT %s FROM %s WHERE r.id < ? ORDER BY r.id DESC LIMIT ?"
                    % (RELEASE_COLUMNS + REQUESTERS_COLUMN, RELEASE_FROM), (before, limit))
            names = [column[0] for column in cursor.description]
            rows = []
            for row in cursor.fetchall():
                fields = dict(zip(names, row))
                requesters = fields.pop("requesters")
                rows.append((Release(**fields), sorted(requesters.split("\n"))
                             if requesters else []))
        return rows

    def metrics(self, since_ms: int) -> List[Tuple[str, int, Optional[float]]]:
        """[(status, count, average minutes from start to end)] of attempts created since,
        for the statuses that occur. One index range per status: a GROUP BY would read the
        whole period's rows in created order and sort them (seconds on a million rows)."""
        with self.reading() as db:
            rows = db.execute(METRICS_SQL, {"since": since_ms}).fetchall()
        return [row for row in rows if row[1]]

    # -- changes

    def request_release(self, sha: str, retry: bool, may_create: bool,
                        requester: Optional[Tuple[str, Optional[str]]] = None) -> Decision:
        """Atomically look at the commit's latest attempt and, where due, create a new one.

        A new attempt is inserted `running` when nothing runs and nothing waits (the worker
        takes it at once), else `queued` at the tail. `may_create` is False while shutting down.
        `requester` (service name, deployment id) is recorded with the attempt asked about.
        """
        with self.transaction() as db:
            latest = db.execute(
                "SELECT id, attempt, release_status, skipped_base FROM release_log "
                "WHERE git_commit_sha = ? ORDER BY attempt DESC LIMIT 1", (sha,)).fetchone()
            force_run = False
            if latest is not None:
                release_id, attempt, status, skipped_base = latest
                # A retry of a skipped success is how an operator makes its command run.
                force_run = retry and status == Status.SUCCESS and skipped_base is not None
                if (status in (Status.QUEUED, Status.RUNNING, Status.SUCCESS) or not retry) \
                        and not force_run:
                    self._record_requester(db, release_id, requester)
                    return Decision("exists" if status in (
                        Status.QUEUED, Status.RUNNING, Status.SUCCESS) else "needs_retry",
                        status)
            if not may_create:
                return Decision("shutting_down")
            busy = db.execute(
                "SELECT EXISTS (SELECT 1 FROM release_log WHERE release_status = 'running') "
                "OR EXISTS (SELECT 1 FROM release_queue)").fetchone()[0]
            now = now_ms()
            status = Status.QUEUED if busy else Status.RUNNING
            cur = db.execute(
                "INSERT INTO release_log (git_commit_sha, attempt, release_status, created_at, "
                "updated_at, started_at, force_run) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sha, latest[1] + 1 if latest else 1, status, now, now,
                 None if busy else now, int(force_run)))
            if busy:
                db.execute("INSERT INTO release_queue (release_id, git_commit_sha, queued_at) "
                           "VALUES (?, ?, ?)", (cur.lastrowid, sha, now))
            self._record_requester(db, cur.lastrowid, requester)
            return Decision("created", status)

    @staticmethod
    def _record_requester(db, release_id: int, requester) -> None:
        if requester is None:
            return
        name, deployment = requester
        now = now_ms()
        db.execute("INSERT INTO release_requester (release_id, requested_by, deployment_id, "
                   "first_at, last_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (release_id, "
                   "requested_by) DO UPDATE SET deployment_id = excluded.deployment_id, "
                   "last_at = excluded.last_at", (release_id, name, deployment, now, now))

    def claim_next_release(self) -> Optional[Release]:
        """The attempt the worker should run now: one already marked running by POST /queue,
        else the head of the queue, marked running as it leaves the queue. None when idle."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM release_log WHERE release_status = 'running'"
                             ).fetchone()
            if row is None:
                head = db.execute("SELECT position, release_id FROM release_queue "
                                  "ORDER BY position LIMIT 1").fetchone()
                if head is None:
                    return None
                now = now_ms()
                db.execute("UPDATE release_log SET release_status = 'running', started_at = ?, "
                           "updated_at = ? WHERE id = ?", (now, now, head[1]))
                db.execute("DELETE FROM release_queue WHERE position = ?", (head[0],))
                row = (head[1],)
            release = self._release(db.execute(
                "SELECT %s FROM %s WHERE r.id = ?" % (RELEASE_COLUMNS, RELEASE_FROM),
                row))
            self._write_outbox(db, "started", release)
        self.events.emit("started", release)
        return release

    def _write_outbox(self, db, event: str, release: Release) -> None:
        if self.outbox_rows is None:
            return
        tail = db.execute("SELECT output_tail FROM release_log WHERE id = ?",
                          (release.id,)).fetchone()[0]
        now = now_ms()
        for destination, body in self.outbox_rows(event, release, bytes(tail)):
            db.execute("INSERT INTO notification_outbox (destination, body, created_at, "
                       "next_try_at) VALUES (?, ?, ?, ?)", (destination, body, now, now))

    # -- notifications (the outbox)

    def next_notification(self, destination: str) -> Optional["Notification"]:
        """The oldest undelivered notification for a destination, or None. Notifications go
        out in order, one at a time."""
        with self.reading() as db:
            return self._row(db.execute(
                "SELECT id, body, tries, created_at, next_try_at FROM notification_outbox "
                "WHERE destination = ? ORDER BY id LIMIT 1", (destination,)), Notification)

    def notification_done(self, notification_id: int) -> None:
        """Delivered, or given up: it leaves the outbox."""
        with self.transaction() as db:
            db.execute("DELETE FROM notification_outbox WHERE id = ?", (notification_id,))

    def notification_failed(self, notification_id: int, next_try_at: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE notification_outbox SET tries = tries + 1, next_try_at = ? "
                       "WHERE id = ?", (next_try_at, notification_id))

    def forget_notifications_except(self, destinations: List[str]) -> int:
        """Drop the notifications of destinations no longer configured."""
        with self.transaction() as db:
            rows = db.execute("SELECT id, destination FROM notification_outbox").fetchall()
            stale = [row_id for row_id, destination in rows if destination not in destinations]
            for row_id in stale:
                db.execute("DELETE FROM notification_outbox WHERE id = ?", (row_id,))
        return len(stale)

    def last_ran_success(self) -> Tuple[Optional[str], bool]:
        """For RELEASER_WATCH_PATHS: (the commit of the latest attempt whose command ran and
        succeeded, whether any command that ran after it failed, timed out, was cancelled
        or interrupted). A half-applied migration must run again, whatever the paths say.

        "After" goes by id, not by the clock (which may step back): attempts run one at a
        time in the order they were made (the queue is first in, first out, and one put
        back goes to its head), so a later id ran later. Both reads are index ranges
        (release_log_by_status_id backwards; the primary key from the base on)."""
        with self.reading() as db:
            base = db.execute(
                "SELECT id, git_commit_sha FROM release_log WHERE release_status = 'success' "
                "AND attempt_marker IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
            if base is None:
                return None, False
            # (A marker means the command started; none but this attempt runs now, and its
            # command has not started.)
            failed_since = db.execute(
                "SELECT EXISTS (SELECT 1 FROM release_log WHERE id > ? AND attempt_marker IS "
                "NOT NULL AND release_status <> 'success')", (base[0],)).fetchone()[0]
        return base[1], bool(failed_since)

    def record_path_check(self, release_id: int, check: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE release_log SET path_check = ? WHERE id = ?", (check, release_id))

    def mark_command_starting(self, release_id: int, marker: str) -> None:
        """Record the attempt's marker before its command starts: from here on, a crash
        means the command may have run, so recovery fails the attempt instead of re-running."""
        with self.transaction() as db:
            db.execute("UPDATE release_log SET attempt_marker = ?, updated_at = ? WHERE id = ?",
                       (marker, now_ms(), release_id))

    def record_process_group(self, release_id: int, pgid: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE release_log SET pgid = ? WHERE id = ?", (pgid, release_id))

    def save_output(self, release_id: int, tail: bytes, total: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE release_log SET output_tail = ?, output_bytes = ? WHERE id = ?",
                       (tail, total, release_id))

    def end_attempt(self, release_id: int, status: str, exit_code: Optional[int] = None,
                    error: Optional[str] = None, tail: Optional[bytes] = None,
                    total: Optional[int] = None, from_status: str = Status.RUNNING,
                    skipped_base: Optional[str] = None) -> Optional[Release]:
        """Make an attempt final: the one way every attempt ends (the worker's outcome, a
        cancel, the settling of one a crash interrupted, an upgraded Node database). One
        transaction records the final state (only if the attempt is still `from_status`) and
        its output's last tail, and takes it out of the queue; then AttemptEvents tells the
        listeners. None, and nothing changed, if it was no longer `from_status`."""
        with self.transaction() as db:
            release = self._end_attempt(db, release_id, status, exit_code, error, tail, total,
                                        from_status, skipped_base)
        if release is not None:
            self.events.emit("ended", release)
        return release

    def _end_attempt(self, db, release_id, status, exit_code, error, tail, total,
                     from_status, skipped_base=None) -> Optional[Release]:
        assert status in Status.FINAL
        now = now_ms()
        changed = db.execute(
            "UPDATE release_log SET release_status = ?, exit_code = ?, error = ?, "
            "ended_at = ?, updated_at = ?, output_tail = COALESCE(?, output_tail), "
            "output_bytes = COALESCE(?, output_bytes), skipped_base = ? "
            "WHERE id = ? AND release_status = ?",
            (status, exit_code, error, now, now, tail, total, skipped_base, release_id,
             from_status)).rowcount
        if not changed:
            return None
        db.execute("DELETE FROM release_queue WHERE release_id = ?", (release_id,))
        release = self._release(db.execute(
            "SELECT %s FROM %s WHERE r.id = ?" % (RELEASE_COLUMNS, RELEASE_FROM), (release_id,)))
        self._write_outbox(db, "ended", release)
        return release

    def requeue_at_head(self, release_id: int) -> None:
        """Put an attempt whose command never started back at the head of the queue."""
        with self.transaction() as db:
            db.execute("UPDATE release_log SET release_status = 'queued', started_at = NULL, "
                       "pgid = NULL, attempt_marker = NULL, updated_at = ? WHERE id = ?",
                       (now_ms(), release_id))
            db.execute(
                "INSERT INTO release_queue (position, release_id, git_commit_sha, queued_at) "
                "SELECT (SELECT COALESCE(MIN(position), 1) - 1 FROM release_queue), id, "
                "git_commit_sha, created_at FROM release_log WHERE id = ?", (release_id,))

    def delete_finished_before(self, cutoff_ms: int) -> int:
        """Delete final attempts that ended before the cutoff; never queued or running ones."""
        with self.transaction() as db:
            return db.execute(
                "DELETE FROM release_log WHERE ended_at < ? AND release_status IN (%s)"
                % FINAL_STATES_SQL, (cutoff_ms,)).rowcount


def is_database_busy(exc: Exception) -> bool:
    """Locked by another connection or process: worth trying again soon."""
    return "locked" in str(exc) or "busy" in str(exc)


def describe_database_error(exc: Exception) -> str:
    """A sentence for a database failure, without a stack trace."""
    text = str(exc)
    if is_database_busy(exc):
        return "the database is locked by another process"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    if "full" in text:
        return "the disk holding the database is full"
    if isinstance(exc, sqlite3.Error):
        return "database error: %s" % text
    return "%s: %s" % (type(exc).__name__, text)


def restrict_database_files(db_path: str) -> None:
    """With RELEASER_RUN_AS: the database's folder may be passed through (0711) but not
    listed, and the database, its WAL, shared memory and lock files are the releaser's alone
    (0600), so a release command cannot read the history, nor change it."""
    os.chmod(os.path.dirname(db_path), 0o711)
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        if os.path.exists(db_path + suffix):
            os.chmod(db_path + suffix, 0o600)


def parse_legacy_time(value) -> Optional[int]:
    """Milliseconds from the Node version's timestamps: SQLite's "2024-01-01 12:00:00" (UTC),
    JavaScript's "2024-01-01T12:00:00.000Z", or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value if value > 1e11 else value * 1000)
    match = re.match(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?"
                     r"\s*(Z|[+-]\d\d:?\d\d)?$", str(value).strip())
    if not match:
        return None
    y, mo, d, h, mi, s, frac, zone = match.groups()
    seconds = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s or 0)))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return seconds * 1000 + int((frac or "0")[:3].ljust(3, "0"))


# --- Processes -------------------------------------------------------------------------------
#
# Every process of a release attempt is stopped when the attempt ends, whatever group or
# session it moved to. Three ways find them:
#  - descendants: the command's process tree, read from /proc (parent links);
#  - orphans: on Linux the releaser is a child subreaper (main() sets it), so a process whose
#    parent exited (a double fork, a daemon, `setsid`, `timeout`) becomes the releaser's own
#    child instead of init's. Any child of the releaser that it did not start itself (see
#    start_process) is such an orphan, and only the running attempt can have made it;
#  - the marker: each attempt's processes carry RELEASER_ATTEMPT_ID=<marker> in their
#    environment, which lets a restarted releaser find what a crashed one left behind.
# git processes carry RELEASER_GIT_FOR=<database path> the same way, so that a git a crash
# orphaned is stopped at the next start (and another releaser's git is not ours).
# Children are reaped by PID only, never with waitpid(-1): that could take a release shell's
# exit status from subprocess, which would then report 0 for a failed command.

ATTEMPT_MARKER_VARIABLE = "RELEASER_ATTEMPT_ID"
GIT_MARKER_VARIABLE = "RELEASER_GIT_FOR"
PR_SET_CHILD_SUBREAPER = 36

# The children this releaser started and still waits for (git, release commands). The lock
# makes "fork, then register" one step for a scan looking for orphans.
_started_children: set = set()
_started_children_lock = threading.Lock()
# Children this process had before it started anything (a wrapper that exec'd into the
# releaser may have left some): never taken for an attempt's orphans.
_inherited_children: set = set()


# Whether main() made this process a subreaper: then every orphan of an attempt is a child,
# and finding an attempt's processes needs no scan of every process's environment.
_adopting_orphans = False


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux prctl PR_SET_CHILD_SUBREAPER); False elsewhere."""
    global _adopting_orphans
    _inherited_children.update(_children_of(os.getpid()))
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        _adopting_orphans = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        _adopting_orphans = False
    return _adopting_orphans


def return_free_memory() -> None:
    """Hand the heap that start-up freed back to the system (glibc's malloc_trim): compiling
    this file and opening the database leave about 6 MiB that would stay resident all the
    service's life otherwise. A no-op elsewhere."""
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (ImportError, OSError, AttributeError):
        pass


def start_process(argv: List[str], **popen_args) -> subprocess.Popen:
    """subprocess.Popen, registered as the releaser's own child until finish_process()."""
    with _started_children_lock:
        proc = subprocess.Popen(argv, **popen_args)
        _started_children.add(proc.pid)
    return proc


def finish_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Wait for a started process (already stopped or exited) and forget it. One the kernel
    keeps from dying (stuck on a hung mount) is left after `timeout`, with a log line: it
    must not hold up the releaser (its returncode stays None)."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log("process %d did not die; going on without it" % proc.pid)
        return
    with _started_children_lock:
        _started_children.discard(proc.pid)


def _process_exit_fd(pid: int) -> Optional[int]:
    """A file descriptor that becomes readable when the process exits (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _children_of(pid: int) -> List[int]:
    """The direct children of a process, from /proc/<pid>/task/*/children (each thread
    lists those it forked or adopted); empty where /proc has no such file."""
    children: List[int] = []
    try:
        threads = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return children
    for thread in threads:
        try:
            with open("/proc/%d/task/%s/children" % (pid, thread), "rb") as f:
                children += [int(child) for child in f.read().split()]
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return children


def _process_state(pid: int) -> Optional[bytes]:
    """The one-letter state of a process (b"Z" for a zombie), or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive_tree(roots: List[int], adopted: set) -> List[int]:
    """The live processes among `roots` and all their descendants; the zombies among
    `adopted` (orphans this process adopted) are reaped on the way, by PID."""
    found: set = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        state = _process_state(pid)
        if state is None:
            continue
        if state == b"Z":
            if pid in adopted:
                _reap(pid)
            continue
        found.add(pid)
        todo += _children_of(pid)
    return sorted(found)


def processes_with_env(name: str, value: str) -> List[int]:
    """Pids whose environment holds name=value (Linux /proc; else none), this one excepted."""
    needle = ("\0%s=%s\0" % (name, value)).encode("utf-8", "surrogateescape")
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                environ = b"\0" + f.read() + b"\0"
        except OSError:
            continue
        if needle in environ:
            pids.append(int(entry))
    return pids


def attempt_processes(leader: Optional[int], marker: Optional[str]) -> List[int]:
    """The live processes of the running attempt and all their descendants: the command's
    tree, the orphans this releaser adopted (its children it did not start), and, where
    orphans are not adopted or the releaser that started them is gone (leader None), those
    carrying the marker (a scan of every process's environment). Reaps the adopted orphans
    that already exited, by PID."""
    adopted: set = set()
    if _adopting_orphans:  # else a child we did not start is the embedding program's own
        with _started_children_lock:  # no child is between its fork and its registration
            adopted = {pid for pid in _children_of(os.getpid())
                       if pid not in _started_children and pid not in _inherited_children}
    roots = list(adopted)
    if leader is not None:
        roots.append(leader)
    if marker and (leader is None or not _adopting_orphans):
        roots += processes_with_env(ATTEMPT_MARKER_VARIABLE, marker)
    return _alive_tree(roots, adopted)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_processes(find, grace_s: float, hurry: Optional[threading.Event] = None,
                   pgid: Optional[int] = None) -> int:
    """Stop every process `find()` returns, and those it finds later (a process may fork
    while being stopped): SIGTERM, then SIGKILL after `grace_s` seconds, or at most 1 s after
    `hurry` is set (the service must stop now). `pgid`, a process group, is signalled too.
    Returns how many processes were found; returns once none is left (or, should the kernel
    keep one from dying, 5 s after SIGKILL, with a log line)."""
    deadline = time.monotonic() + grace_s
    termed: set = set()
    killing_since = None
    while True:
        pids = find()
        if not pids:
            return len(termed)
        now = time.monotonic()
        if hurry is not None and hurry.is_set() and grace_s > 1.0:
            deadline = min(deadline, now + 1.0)
        if now < deadline:
            sig, targets = signal.SIGTERM, [pid for pid in pids if pid not in termed]
        else:
            sig, targets = signal.SIGKILL, pids
            killing_since = killing_since or now
            if now - killing_since > 5.0:
                log("processes %s would not die; going on without them"
                    % ", ".join(map(str, pids)))
                return len(termed)
        if pgid is not None:
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass
        for pid in targets:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        termed.update(pids)
        time.sleep(0.02)


def stop_attempt(leader: Optional[subprocess.Popen], marker: Optional[str], grace_s: float,
                 hurry: Optional[threading.Event] = None) -> int:
    """Stop everything of an attempt (see attempt_processes) and reap its command's shell.

    The shell's exit status is taken by subprocess itself (poll), before anything else could
    see it; it is waited for once every other process of the attempt is gone."""
    def find():
        alive = leader is not None and leader.poll() is None
        return attempt_processes(leader.pid if alive else None, marker)

    try:
        return stop_processes(find, grace_s, hurry,
                              pgid=leader.pid if leader is not None else None)
    finally:
        if leader is not None:
            finish_process(leader)


def stop_git_processes(db_path: str, grace_s: float) -> int:
    """Stop git processes of this releaser's database left by an earlier run (or this one,
    at shutdown)."""
    def find():
        with _started_children_lock:  # those subprocess waits for itself
            pids = [pid for pid in processes_with_env(GIT_MARKER_VARIABLE, db_path)
                    if pid not in _started_children]
        for pid in pids:  # adopted ones die as our children: reap them
            _reap(pid)
        return [pid for pid in pids if _process_state(pid) not in (None, b"Z")]

    return stop_processes(find, grace_s)


RAN_OUT_OF_TIME = "did not finish within the release timeout"
CANCELLED_WHILE_RUNNING = "cancelled while running"


class Interrupted(ReleaserError):
    """This attempt's command has not started and must not start now (the service is
    stopping, or its start could not be recorded): it goes back to the head of the queue."""


def run_command(argv: List[str], cwd: Optional[str], env: Mapping[str, str], deadline: float,
                interrupt: threading.Event, max_output: int = 65536) -> Tuple[int, str]:
    """Run a short command (git) in its own process group: (exit status, its output).

    Standard input is empty; the command and its descendants are stopped when `deadline`
    (monotonic) passes, giving status -1, or when `interrupt` is set, raising Interrupted.
    """
    proc = start_process(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        while True:
            try:
                out, _ = proc.communicate(timeout=max(0.0, min(deadline - time.monotonic(),
                                                               0.25)))
                return proc.returncode, out[-max_output:].decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                if interrupt.is_set():
                    raise Interrupted()
                if time.monotonic() >= deadline:
                    return -1, RAN_OUT_OF_TIME
    finally:
        if proc.returncode is None:
            stop_processes(lambda: _descendants_of(proc), 1.0, pgid=proc.pid)
        finish_process(proc)


def _descendants_of(proc: subprocess.Popen) -> List[int]:
    """A started process and its descendants, while it lives (its exit status is kept)."""
    if proc.poll() is not None:
        return []
    return _alive_tree([proc.pid], set())


# --- Git workspace ---------------------------------------------------------------------------


class GitError(ReleaserError):
    """git could not produce the commit. `final` means retrying cannot help."""

    def __init__(self, message: str, final: bool = False):
        super().__init__(message)
        self.final = final


class Workspace:
    """The cached clone and the release trees under RELEASER_WORK_DIR.

    `cache.git` is a bare repository (`cache-sha256.git` for SHA-256 repositories): each
    release fetches just its commit into it (shallow, RELEASER_GIT_DEPTH deep, by SHA; a full
    fetch when the server refuses that) and keeps it under refs/releases/<sha>, so that git's
    housekeeping never takes it for garbage. Each attempt then gets a fresh tree in `trees/`:
    a new repository that borrows the cache's objects (git alternates) and checks the commit
    out detached, with `origin` set to the URL without credentials. A release can do
    anything to its tree without touching the cache. A cache that git cannot use is deleted
    and made again. Credentials reach git only through its environment, never its command
    line or config.
    """

    def __init__(self, config: Config):
        self.config = config
        # The cache of the commit being prepared: prepare() points it at the cache for the
        # commit's kind of names; the tree-cleaner thread reads it once per tidy_cache().
        self.cache = self._cache_path("sha1")
        self.trees = os.path.join(config.work_dir, "trees")
        self._secrets = config.secrets()
        self._cache_lock = threading.Lock()  # housekeeping vs. re-creating the cache
        # What the remote said last: None until known, "ok", or git's reason for refusing
        # (no such repository, credentials refused), shown by /healthcheck.
        self.remote_status: Optional[str] = None
        self._finished_trees: "queue.SimpleQueue[Optional[str]]" = queue.SimpleQueue()
        self._cleaner = threading.Thread(target=self._clean_up, name="tree-cleaner",
                                         daemon=True)

    def start(self) -> None:
        self._cleaner.start()

    def stop(self, timeout: float) -> None:
        """Let the cleaner finish the tree it is removing; the rest waits for the next start."""
        self._finished_trees.put(None)
        if self._cleaner.is_alive():
            self._cleaner.join(timeout)

    def discard_tree(self, tree: str) -> None:
        """Hand a finished tree (and its home, if any) to the cleaner thread, which removes
        it (a node_modules can take seconds) and then runs git's housekeeping on the cache,
        so that neither delays the next release. Trees it had no time for are removed at the
        next start."""
        self._finished_trees.put(tree)
        self._finished_trees.put(tree + ".home")

    def hand_over_tree(self, tree: str, user: RunAs) -> str:
        """Give the tree to the user the command runs as, with a fresh home of its own
        (0700) beside it; return the home's path."""
        for folder, names, files in os.walk(tree):
            for name in [folder] + [os.path.join(folder, n) for n in names + files]:
                os.lchown(name, user.uid, user.gid)
        home = tree + ".home"
        remove_tree(home)
        os.mkdir(home, 0o700)
        os.chown(home, user.uid, user.gid)
        return home

    def _clean_up(self) -> None:
        while True:
            tree = self._finished_trees.get()
            if tree is None:
                return
            try:
                remove_tree(tree)
                if self._finished_trees.empty():
                    self.tidy_cache()
            except Exception as exc:  # never let this thread die
                log("cleaning up after a release failed: %s" % exc)

    def tidy_cache(self) -> None:
        """git's own housekeeping of the cache (packing loose objects when there are many),
        kept off the path from POST /queue to the command's start: the tree-cleaner thread
        runs it after a release (git's own locks keep it safe beside the next fetch)."""
        cache = self.cache
        with self._cache_lock:
            if os.path.isdir(cache):
                self._git(["--git-dir", cache, "-c", "gc.autoDetach=false", "gc", "--auto",
                           "--quiet"], time.monotonic() + 600, threading.Event())

    def check_remote(self, interrupt: threading.Event) -> None:
        """Ask the remote once (the worker does, as it starts): a definite refusal is logged
        with git's reason and kept in remote_status; a network error only logged."""
        url = self.config.public_git_url
        rc, out = self._git(["ls-remote", "--heads", "--", url], time.monotonic() + 20,
                            interrupt, max_output=64 << 20)
        if rc == 0:
            self.remote_status = "ok"
        elif _is_definite_git_error(out):
            self.remote_status = _git_failure_reason(out)
            log("the repository %s refuses the releaser: %s; releases will fail until this is "
                "fixed" % (url, self.remote_status))
        else:
            log("could not reach the repository %s at start-up (%s); releases will retry"
                % (url, _git_failure_reason(out)))

    def check_writable(self) -> None:
        """RELEASER_WORK_DIR must take the cache and the trees: found at start-up, not as an
        internal error at the first release."""
        probe = os.path.join(self.config.work_dir, ".releaser-write-check")
        try:
            os.makedirs(self.config.work_dir, exist_ok=True)
            with open(probe, "w"):
                pass
            os.unlink(probe)
        except OSError as exc:
            raise StartupError("RELEASER_WORK_DIR %s is not writable: %s"
                               % (self.config.work_dir, exc.strerror or exc))

    def remove_leftover_trees(self) -> None:
        if os.path.isdir(self.trees):
            for name in os.listdir(self.trees):
                remove_tree(os.path.join(self.trees, name))

    def prepare(self, sha: str, marker: str, deadline: float, interrupt: threading.Event,
                skip_if: Optional[Callable[[], bool]] = None) -> Optional[str]:
        """Bring the commit into the cache, check it (a commit, on an allowed branch), then
        lay out its tree and return the tree's path; or None, with no tree, when `skip_if`
        (asked after the checks) says the command need not run.

        git failures are retried with backoff until `deadline`; a commit the repository does
        not have fails at once (GitError with final=True).
        """
        backoff, rebuild, earlier = 1.0, False, None
        names = object_format(sha)
        self.cache = self._cache_path(names)
        while True:
            try:
                self._ensure_cache(rebuild, names)
                if not self._has_release_ref(sha) or self._history_missing():
                    self._fetch(sha, deadline, interrupt)
                    self._check_is_commit(sha, deadline, interrupt)
                # Every attempt, not just the first fetch: a force push may have removed it.
                self._check_on_allowed_branch(sha, deadline, interrupt)
                self.remote_status = "ok"
                if interrupt.is_set():  # stopping or cancelled while git was quick
                    raise Interrupted()
                if skip_if is not None and skip_if():
                    return None
                skip_if = None  # decided: a retry of the tree does not ask again
                return self._lay_out_tree(sha, marker, deadline, interrupt)
            except GitError as exc:
                if exc.final and _is_definite_git_error(str(exc)):
                    self.remote_status = str(exc).rsplit(": ", 1)[-1]
                if exc.final or time.monotonic() + backoff >= deadline:
                    # A last try cut short by the timeout says less than the one before it.
                    if earlier is not None and RAN_OUT_OF_TIME in str(exc):
                        raise earlier
                    raise
                earlier = exc
                log("%s; retrying in %g s" % (exc, backoff))
                # A cache git cannot read is rebuilt; an unreachable remote is not its fault.
                rebuild = not _is_connection_error(str(exc))
            if interrupt.wait(backoff):
                raise Interrupted()
            backoff = min(backoff * 2, 30.0)

    def _git(self, args: List[str], deadline: float, interrupt: threading.Event,
             cwd: Optional[str] = None, max_output: int = 65536) -> Tuple[int, str]:
        rc, output = run_command(["git"] + args, cwd, self._git_env(), deadline, interrupt,
                                 max_output)
        return rc, mask_secrets(output.strip(), self._secrets)

    def _git_env(self) -> Dict[str, str]:
        env = dict(self.config.release_env)
        env.update({"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never", "LC_ALL": "C",
                    "GIT_ASKPASS": "", "SSH_ASKPASS": "", GIT_MARKER_VARIABLE: self.config.db_path})
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)
        ssh = "ssh -o BatchMode=yes"
        if self.config.git_ssh_key:
            ssh += " -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new " \
                   "-o UserKnownHostsFile=%s" % (
                       shlex.quote(self._ssh_key_file()),
                       shlex.quote(os.path.join(self.config.work_dir, "known_hosts")))
        if self.config.git_ssh_key or "GIT_SSH_COMMAND" not in env:
            env["GIT_SSH_COMMAND"] = ssh  # a GIT_SSH_COMMAND of your own wins without a key
        secret = self._http_secret()
        if secret:
            user = url_user(self.config.git_url) or "x-access-token"
            token = base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()
            count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
            env.update({"GIT_CONFIG_COUNT": str(count + 1),
                        "GIT_CONFIG_KEY_%d" % count: "http.extraHeader",
                        "GIT_CONFIG_VALUE_%d" % count: "Authorization: Basic " + token})
        return env

    def _http_secret(self) -> Optional[str]:
        """The token or password git sends to an http(s) repository, if any."""
        if not self.config.git_url.lower().startswith(("http://", "https://")):
            return None
        return self.config.git_token or url_password(self.config.git_url)

    def _ssh_key_file(self) -> str:
        """git's copy of RELEASER_GIT_SSH_KEY (mode 0600), rewritten when the setting changed."""
        path = os.path.join(self.config.work_dir, "ssh_key")
        key = self.config.git_ssh_key.replace("\r\n", "\n").rstrip("\n") + "\n"
        try:
            with open(path) as f:
                if f.read() == key:
                    return path
        except OSError:
            pass
        building = path + ".new"
        remove_tree(building)
        fd = os.open(building, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        os.replace(building, path)
        return path

    def _cache_path(self, names: str) -> str:
        # A repository holds object names of one kind: a cache for each, so that a SHA of
        # the wrong kind (a typo) fails its fetch without costing the other cache anything.
        return os.path.join(self.config.work_dir,
                            "cache.git" if names == "sha1" else "cache-%s.git" % names)

    def _ensure_cache(self, rebuild: bool, names: str) -> None:
        """A usable cache (of `names`, sha1 or sha256, object names) at self.cache."""
        usable = os.path.isfile(os.path.join(self.cache, "HEAD")) and os.path.isdir(
            os.path.join(self.cache, "objects"))
        if rebuild or not usable:
            if os.path.exists(self.cache):
                log("re-creating the cached clone in %s" % self.cache)
                with self._cache_lock:
                    remove_tree(self.cache)
            os.makedirs(self.config.work_dir, exist_ok=True)
            building = self.cache + ".new"
            remove_tree(building)
            kind = ["--object-format=sha256"] if names == "sha256" else []
            rc, out = self._git(["init", "--quiet", "--bare"] + kind + [building],
                                time.monotonic() + 60, threading.Event())
            if rc != 0:
                raise GitError("could not create the cached clone in %s: %s"
                               % (self.cache, out))
            os.rename(building, self.cache)  # whole or absent: a crash leaves only ".new"

    def _has_commit(self, sha: str, interrupt: threading.Event) -> bool:
        rc, _ = self._git(["--git-dir", self.cache, "cat-file", "-e", sha + "^{commit}"],
                          time.monotonic() + 60, interrupt)
        return rc == 0

    def _has_release_ref(self, sha: str) -> bool:
        """Whether an earlier release fetched this commit (read from the files, sparing a git
        process on the way to the command's start)."""
        ref = "refs/releases/" + sha
        if os.path.exists(os.path.join(self.cache, ref)):
            return True
        try:
            with open(os.path.join(self.cache, "packed-refs")) as f:
                return "%s %s\n" % (sha, ref) in f.read()
        except OSError:
            return False

    def _history_missing(self) -> bool:
        """RELEASER_GIT_DEPTH=0 asks for whole histories, but earlier fetches were shallow."""
        return self.config.git_depth == 0 and os.path.exists(os.path.join(self.cache, "shallow"))

    def _fetch(self, sha: str, deadline: float, interrupt: threading.Event) -> None:
        url = self.config.public_git_url
        if self.config.git_depth:
            depth = ["--depth=%d" % self.config.git_depth]
        else:
            depth = ["--unshallow"] if self._history_missing() else []
        # Housekeeping (gc, maintenance) is left to tidy_cache(), after the release.
        base = ["--git-dir", self.cache, "-c", "gc.auto=0", "-c", "maintenance.auto=false",
                "fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
        ref = "refs/releases/" + sha
        # With whole histories come the tags, for `git describe` in the tree; with shallow
        # ones they would each bring a commit and its tree of their own.
        tags = ["+refs/tags/*:refs/tags/*"] if self.config.git_depth == 0 else []
        rc, by_sha = self._git(base + depth + ["--", url, "+%s:%s" % (sha, ref)] + tags,
                               deadline, interrupt)
        if rc == 0:
            return
        if "dumb http transport" in by_sha:  # remembered: it cannot serve partial clones
            with open(self._dumb_remote_file, "w") as f:
                f.write(self.config.public_git_url)
        if "mismatched algorithms" in by_sha:  # a SHA-1 name for a SHA-256 repository or back
            raise GitError("commit %s cannot be in the repository %s: %s"
                           % (sha, url, _git_failure_reason(by_sha)), final=True)
        # The server would not send a commit by SHA: fetch every branch and tag instead.
        rc, everything = self._git(base + ["--", url, "+refs/heads/*:refs/heads/*",
                                           "+refs/tags/*:refs/tags/*"], deadline, interrupt)
        if rc == 0:
            if self._has_commit(sha, interrupt):
                self._git(["--git-dir", self.cache, "update-ref", ref, sha], deadline, interrupt)
                return
            raise GitError("commit %s not found in the repository %s" % (sha, url), final=True)
        reason = _git_failure_reason(everything or by_sha)
        if self._http_secret() and re.search(r"could not read (Username|Password)", reason):
            # git sent the credentials as a header, so it saw a 401 as "no credentials"
            reason = ("the server refused the credentials (HTTP 401): the token is wrong, "
                      "expired or has no access to the repository")
        raise GitError("could not fetch commit %s from %s: %s" % (sha, url, reason),
                       final=_is_definite_git_error(everything or by_sha))

    def paths_unchanged(self, base: str, sha: str, paths: Tuple[str, ...], deadline: float,
                        interrupt: threading.Event) -> Optional[bool]:
        """Whether the two commits' trees are the same at `paths` (git pathspecs), compared
        as trees, not history (right after force pushes, rollbacks and merges); None when
        the base cannot be had (fetched by SHA when the cache lacks it) or compared."""
        if object_format(base) != object_format(sha):
            return None
        if not self._has_release_ref(base):
            try:
                self._fetch(base, deadline, interrupt)
            except GitError as exc:
                log("the base %s of the path check is unavailable: %s" % (base[:12], exc))
                return None
        rc, out = self._git(["--git-dir", self.cache, "diff", "--quiet", base, sha, "--"]
                            + list(paths), deadline, interrupt)
        if rc in (0, 1):
            return rc == 0
        log("could not compare %s with %s: %s" % (base[:12], sha[:12], out))
        return None

    def _check_is_commit(self, sha: str, deadline: float, interrupt: threading.Event) -> None:
        """A SHA may name any object a server sends: an annotated tag would release its
        commit under another name (and that commit again under its own), a tree or blob
        cannot be checked out. Anything but a commit fails at once and leaves no ref."""
        rc, kind = self._git(["--git-dir", self.cache, "cat-file", "-t", sha], deadline, interrupt)
        if rc == 0 and kind != "commit":
            self._git(["--git-dir", self.cache, "update-ref", "-d", "refs/releases/" + sha],
                      deadline, interrupt)
            raise GitError("%s is a %s, not a commit: ask for the SHA of a commit" % (sha, kind),
                           final=True)

    def _check_on_allowed_branch(self, sha: str, deadline: float,
                                 interrupt: threading.Event) -> None:
        """The commit must be on a branch (or ref) of the remote that RELEASER_GIT_BRANCHES
        allows: a tip costs one `git ls-remote`; an older commit (a rollback) also a fetch of
        the allowed refs' recent history (since a day before the commit), kept under
        refs/allowed/ so that the next such check fetches little. Pull request heads, commits
        on no ref and commits a force push removed fail at once (GitError, final)."""
        patterns = self.config.git_branches
        flags = []
        if all(not p.startswith("refs/") or p.startswith("refs/heads/") for p in patterns):
            flags = ["--heads"]
        elif all(not p.startswith("refs/") or p.startswith(("refs/heads/", "refs/tags/"))
                 for p in patterns):
            flags = ["--heads", "--tags"]
        url = self.config.public_git_url
        rc, out = self._git(["ls-remote"] + flags + ["--", url], deadline, interrupt,
                            max_output=64 << 20)
        if rc != 0:
            raise GitError("could not list the branches of %s: %s"
                           % (url, _git_failure_reason(out)), final=_is_definite_git_error(out))
        tips: Dict[str, str] = {}
        for line in out.splitlines():
            target, _, ref = line.partition("\t")
            ref = ref[:-3] if ref.endswith("^{}") else ref  # an annotated tag's commit
            if ref_allowed(ref, patterns):
                tips[ref] = target
        if sha in tips.values() or (tips and self._is_ancestor_of(sha, tips, deadline, interrupt)):
            return
        raise GitError("commit %s is on no branch of %s that RELEASER_GIT_BRANCHES allows "
                       "(%s): a pull request's commit, a commit only on a tag, or one a force "
                       "push removed is not released" % (sha, url, ",".join(patterns)),
                       final=True)

    def _is_ancestor_of(self, sha: str, tips: Dict[str, str], deadline: float,
                        interrupt: threading.Event) -> bool:
        """Whether the commit is in the history of one of `tips` ({ref: object}).

        Asked of a second bare repository beside the cache, `allowed*.git`, that holds
        commits only (a partial clone, --filter=tree:0: no trees or files, a few hundred KB
        for thousands of commits where a fetch with files took tens of MB), fetched since
        a day before the commit's date. A tip it already holds that contains the commit
        answers without fetching (a retry, a second service's rollback)."""
        # A dumb HTTP server can send neither partial nor shallow histories (and a partial
        # clone of one fetches each missing object lazily, without end): the cache, then.
        dumb = self._is_dumb_remote()
        ancestry = self.cache if dumb else self._ancestry_repository(object_format(sha),
                                                                     deadline, interrupt)
        if self._held_tip_contains(ancestry, sha, tips, deadline, interrupt):
            return True
        rc, when = self._git(["--git-dir", self.cache, "show", "-s", "--format=%ct", sha],
                             deadline, interrupt)
        if rc != 0 or not when.isdigit():
            raise GitError("could not read commit %s in the cached clone: %s" % (sha, when))
        # Commit dates may be a little out of order (rebases, clocks): a day of margin.
        since = ["--shallow-since=%d" % (int(when) - 86400)] \
            if self.config.git_depth and not dumb else []
        refspecs = ["+%s:refs/allowed/%s" % (ref, ref[len("refs/"):]) for ref in tips
                    if ref.startswith("refs/")]
        fetch = ["--git-dir", ancestry, "-c", "gc.auto=0", "-c", "maintenance.auto=false",
                 "fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
        tail = [self.config.public_git_url if dumb else "origin"] + refspecs
        rc, out = self._git(fetch + ([] if dumb else ["--filter=tree:0"]) + since + tail,
                            deadline, interrupt)
        if rc != 0 and since and not _is_connection_error(out):
            # Every allowed ref older than the day before: their whole histories, then.
            rc, out = self._git(fetch + ["--filter=tree:0"] + tail, deadline, interrupt)
        if rc != 0:
            raise GitError("could not fetch the allowed branches of %s: %s"
                           % (self.config.public_git_url, _git_failure_reason(out)))
        return self._held_tip_contains(ancestry, sha, tips, deadline, interrupt)

    def _held_tip_contains(self, ancestry: str, sha: str, tips: Dict[str, str],
                           deadline: float, interrupt: threading.Event) -> bool:
        """Whether a ref of the ancestry repository that is still an allowed tip contains
        the commit (false where the commit is not there at all)."""
        rc, out = self._git(["--git-dir", ancestry, "for-each-ref", "--contains", sha,
                             "--format=%(objectname) %(refname)", "refs/allowed/"],
                            deadline, interrupt, max_output=64 << 20)
        current = {"%s refs/allowed/%s" % (target, ref[len("refs/"):])
                   for ref, target in tips.items()}
        return rc == 0 and any(line in current for line in out.splitlines())

    @property
    def _dumb_remote_file(self) -> str:
        return os.path.join(self.config.work_dir, "dumb-remote")

    def _is_dumb_remote(self) -> bool:
        """Whether a fetch found the remote to be a dumb HTTP server (remembered on disk)."""
        try:
            with open(self._dumb_remote_file) as f:
                return f.read() == self.config.public_git_url
        except OSError:
            return False

    def _ancestry_repository(self, names: str, deadline: float,
                             interrupt: threading.Event) -> str:
        """The commits-only repository for branch checks (see _is_ancestor_of), made on
        first use: bare, a partial clone of the remote (named origin, without credentials)."""
        path = os.path.join(self.config.work_dir, "allowed.git" if names == "sha1"
                            else "allowed-%s.git" % names)
        url_file = os.path.join(path, "releaser-url")  # its origin, as written in its config
        try:
            with open(url_file) as f:
                if f.read() == self.config.public_git_url:
                    return path
        except OSError:
            pass
        remove_tree(path)  # none yet, or of another RELEASER_GIT_URL: made anew
        building = path + ".new"
        remove_tree(building)
        kind = ["--object-format=sha256"] if names == "sha256" else []
        rc, out = self._git(["init", "--quiet", "--bare"] + kind + [building], deadline, interrupt)
        settings = [("core.repositoryformatversion", "1"),
                    ("extensions.partialClone", "origin"),
                    ("remote.origin.url", self.config.public_git_url),
                    ("remote.origin.promisor", "true"),
                    ("remote.origin.partialclonefilter", "tree:0")]
        for key, value in settings:
            if rc == 0:
                rc, out = self._git(["--git-dir", building, "config", key, value],
                                    deadline, interrupt)
        if rc != 0:
            raise GitError("could not create %s: %s" % (path, out))
        with open(os.path.join(building, "releaser-url"), "w") as f:
            f.write(self.config.public_git_url)
        os.rename(building, path)  # whole or absent
        return path

    def _lay_out_tree(self, sha: str, marker: str, deadline: float,
                      interrupt: threading.Event) -> str:
        os.makedirs(self.trees, exist_ok=True)
        tree = os.path.join(self.trees, "%s-%s" % (sha[:12], marker[:8]))
        remove_tree(tree)
        try:
            self._make_tree_repository(tree, object_format(sha))
        except OSError as exc:
            remove_tree(tree)
            raise GitError("could not create the release tree %s: %s" % (tree, exc))
        rc, out = self._git(["-c", "advice.detachedHead=false", "checkout", "--quiet",
                             "--detach", sha], deadline, interrupt, cwd=tree)
        if rc != 0:
            remove_tree(tree)
            raise GitError("could not check out commit %s: %s" % (sha, _git_failure_reason(out)))
        return tree


    def _make_tree_repository(self, tree: str, names: str) -> None:
        """What `git init` and `git remote add origin <url>` write (see gitrepository-layout),
        without two git processes: an empty repository whose objects are the cache's
        (alternates), shallow where the cache is, with `origin` free of credentials."""
        git_dir = os.path.join(tree, ".git")
        for folder in ("objects/info", "refs/heads", "refs/tags"):
            os.makedirs(os.path.join(git_dir, folder))
        with open(os.path.join(git_dir, "HEAD"), "w") as f:
            f.write("ref: refs/heads/release\n")  # unborn until the detached checkout
        with open(os.path.join(git_dir, "config"), "w") as f:
            f.write("[core]\n\trepositoryformatversion = %d\n\tbare = false\n"
                    % (1 if names == "sha256" else 0))
            if names == "sha256":
                f.write("[extensions]\n\tobjectformat = sha256\n")
            f.write('[remote "origin"]\n\turl = %s\n\tfetch = '
                    '+refs/heads/*:refs/remotes/origin/*\n'
                    % _git_config_value(self.config.public_git_url))
        with open(os.path.join(git_dir, "objects", "info", "alternates"), "w") as f:
            f.write(os.path.join(os.path.abspath(self.cache), "objects") + "\n")
        shallow = os.path.join(self.cache, "shallow")
        if os.path.exists(shallow):
            shutil.copyfile(shallow, os.path.join(git_dir, "shallow"))
        tags = self._cache_tags()
        if tags:  # alternates share objects, not refs: the tree gets the tags' refs itself
            with open(os.path.join(git_dir, "packed-refs"), "w") as f:
                f.writelines("%s %s\n" % (target, ref) for ref, target in sorted(tags.items()))

    def _cache_tags(self) -> Dict[str, str]:
        """{refs/tags/<name>: object} of the cache's tags, packed and loose (loose win)."""
        tags: Dict[str, str] = {}
        try:
            with open(os.path.join(self.cache, "packed-refs")) as f:
                for line in f:
                    target, _, ref = line.rstrip("\n").partition(" ")
                    if ref.startswith("refs/tags/"):
                        tags[ref] = target
        except FileNotFoundError:
            pass
        loose = os.path.join(self.cache, "refs", "tags")
        for folder, _, names in os.walk(loose):
            for name in names:
                path = os.path.join(folder, name)
                with open(path) as f:
                    target = f.read().strip()
                if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", target):
                    tags["refs/tags/" + os.path.relpath(path, loose).replace(os.sep, "/")] = \
                        target
        return tags


def ref_allowed(ref: str, patterns: Tuple[str, ...]) -> bool:
    """Whether a remote ref matches RELEASER_GIT_BRANCHES: a pattern without "refs/" is a
    glob over branch names (`*` crosses "/": every branch), one with it over full refs."""
    for pattern in patterns:
        if pattern.startswith("refs/"):
            if fnmatch.fnmatchcase(ref, pattern):
                return True
        elif ref.startswith("refs/heads/") and fnmatch.fnmatchcase(ref[11:], pattern):
            return True
    return False


def object_format(sha: str) -> str:
    """The kind of object names a commit SHA is: sha1 (40 digits) or sha256 (64)."""
    return "sha256" if len(sha) == 64 else "sha1"


#: What git prints after "Could not read from remote repository.": advice, not a reason.
_GIT_ADVICE = ("Please make sure you have the correct access rights",
               "and the repository exists.")


def _git_config_value(value: str) -> str:
    """A value as git writes it in a config file (RELEASER_GIT_URL holds no line breaks):
    quoted only where a character would otherwise end or change it."""
    if not re.search(r'["\\;#]|^\s|\s$', value):
        return value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def _git_failure_reason(text: str) -> str:
    """git's reason for a failure: its last line, without git's closing advice, and with the
    line before a "fatal:" when that is the remote's own word (ssh: "Permission denied")."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and line.strip() not in _GIT_ADVICE]
    if len(lines) > 1 and lines[-1] == "fatal: Could not read from remote repository.":
        lines.pop()  # what git adds to every failure of the remote: the line before says why
    if not lines:
        return "git gave no reason"
    if len(lines) > 1 and lines[-1].startswith("fatal:") and not lines[-2].startswith(
            ("fatal:", "error:", "warning:", "hint:", "Warning:")):
        return "%s %s" % (lines[-2], lines[-1])
    return lines[-1]


def _is_definite_git_error(output: str) -> bool:
    """git's answer says the repository is missing or refuses us: retrying cannot help (a
    network error, a 5xx, a timeout can, and are retried)."""
    return bool(re.search(r"does not appear to be a git repository|Repository not found|"
                          r"repository '[^']*' not found|Authentication failed|"
                          r"could not read (Username|Password)|terminal prompts disabled|"
                          r"returned error: 40[134]\b|Permission denied \(|"
                          r"Host key verification failed|No such device or address",
                          output, re.IGNORECASE))


def _is_connection_error(message: str) -> bool:
    return bool(re.search(r"resolve host|Connection refused|timed out|unable to access|"
                          r"Could not read from remote|did not finish|Connection reset|"
                          r"not found in the repository|does not appear to be a git|"
                          r"Authentication failed|could not read Username|\b40[134]\b",
                          message, re.IGNORECASE))


def remove_tree(path: str) -> None:
    """Delete a folder and everything in it, read-only parts included; absent is fine."""
    def make_writable_and_retry(func, target, _exc_info):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            if sys.version_info >= (3, 12):  # onerror is deprecated there
                shutil.rmtree(path, onexc=make_writable_and_retry)  # novm (3.12+ only)
            else:
                shutil.rmtree(path, onerror=make_writable_and_retry)
        else:
            os.unlink(path)


# --- Running releases ------------------------------------------------------------------------
#
# One Worker thread runs one release at a time: claim the next attempt, prepare its tree,
# run the command in its own process group while relaying its output, record the outcome.
# An attempt whose command has started is never run again by itself: after a crash it is
# failed ("interrupted"), and its leftover processes are found by RELEASER_ATTEMPT_ID.


class LiveOutput:
    """The output of the attempt that is running now: its bounded tail, for log readers.

    Positions count bytes from the start of the output; the first one still kept is
    `total - len(tail)`.
    Readers wait on `changed`, which is notified on new bytes and when the attempt ends.
    """

    def __init__(self, release_id: int, limit: int):
        self.release_id = release_id
        self.limit = limit
        self.tail = bytearray()
        self.total = 0
        self.status = Status.RUNNING
        self.changed = threading.Condition()

    def append(self, data: bytes) -> None:
        with self.changed:
            self.tail += data
            if len(self.tail) > self.limit:
                del self.tail[:len(self.tail) - self.limit]
            self.total += len(data)
            self.changed.notify_all()

    def snapshot(self) -> Tuple[bytes, int]:
        with self.changed:
            return bytes(self.tail), self.total

    def read_after(self, offset: int, deadline: float,
                   give_up: Callable[[], bool]) -> Optional[Tuple[bytes, int]]:
        """(kept tail, total) once there are bytes past `offset`, or `deadline` (monotonic)
        passed, or `give_up()` (asked when woken and every GIVE_UP_CHECK_S); None if the
        attempt ended, after which its record holds the final state and all that was kept."""
        stop = False
        while True:
            with self.changed:
                if self.status != Status.RUNNING:
                    return None
                remaining = deadline - time.monotonic()
                if self.total > offset or remaining <= 0 or stop:
                    return bytes(self.tail), self.total
            stop = give_up()  # asked outside the lock: it may look at a socket
            if not stop:
                with self.changed:
                    if self.status == Status.RUNNING and self.total <= offset:
                        self.changed.wait(min(remaining, GIVE_UP_CHECK_S))

    def end(self, status: str) -> None:
        with self.changed:
            self.status = status
            self.changed.notify_all()

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()


class OutputRelay:
    """Turns raw command output into what is kept and shown.

    Masks known secrets (holding back only an ending that could begin a secret, so that one
    split across two reads is still caught and quiet output is not delayed), appends to the
    live tail, and writes the service's log with each line tagged by the short SHA. Never
    holds a whole line: a 100 MB line passes through in pieces.
    """

    def __init__(self, sha: str, live: LiveOutput, secrets: List[str]):
        self.live = live
        self.tag = ("[%s] " % sha[:7]).encode()
        self.secrets = [s.encode() for s in secrets]
        self.max_held_back = max((len(s) for s in self.secrets), default=1) - 1
        self.pending = b""
        self.at_line_start = True

    def feed(self, data: bytes) -> None:
        data = self.pending + data
        for secret in self.secrets:
            data = data.replace(secret, b"***")
        cut = len(data) - self._held_back_length(data)
        self.pending = data[cut:]
        if cut > 0:
            self._emit(data[:cut])

    def _held_back_length(self, data: bytes) -> int:
        """The length of the longest end of `data` that begins a secret (at most
        `max_held_back`):
        only those bytes wait for the next read; the rest is shown at once."""
        for n in range(min(self.max_held_back, len(data)), 0, -1):
            tail = data[-n:]
            if any(secret.startswith(tail) for secret in self.secrets):
                return n
        return 0

    def close(self) -> None:
        if self.pending:
            self._emit(self.pending)
            self.pending = b""
        if not self.at_line_start:
            _write_log_bytes(b"\n")
            self.at_line_start = True

    def _emit(self, data: bytes) -> None:
        self.live.append(data)
        body = data[:-1].replace(b"\n", b"\n" + self.tag) + data[-1:]
        _write_log_bytes((self.tag if self.at_line_start else b"") + body)
        self.at_line_start = data.endswith(b"\n")


@dataclasses.dataclass
class Outcome:
    status: str
    exit_code: Optional[int] = None
    error: Optional[str] = None
    skipped_base: Optional[str] = None  # a success whose command never ran


class Worker:
    """Runs releases one at a time, in a thread of its own, the moment they are due.

    `run()` loops around `run_next_release()`: claim the running or next queued attempt,
    prepare its tree, run its command, record the outcome, discard the tree. It sleeps on an
    Event that POST /queue sets, never on a timer. An exception in one release fails that
    release and the loop goes on; the thread never dies silently.
    """

    OUTPUT_SAVE_INTERVAL_S = 1.0
    READ_CHUNK = 65536

    def __init__(self, config: Config, store: Store, workspace: Workspace):
        self.config = config
        self.store = store
        self.workspace = workspace
        # The running attempt's output: set and cleared whole by this thread; HTTP threads
        # read the reference once (atomic) and then only use the LiveOutput's own lock.
        self.live: Optional[LiveOutput] = None
        self._wake = threading.Event()
        self._stopping = threading.Event()  # take no new work
        self._hurry = threading.Event()  # stop the running release now: shutting down
        # Set to end the current attempt early (shutdown or cancel): git and the command
        # watch it. A new one per attempt; _cancel_id names the attempt DELETE asked to stop.
        self._interrupt = threading.Event()
        self._current_id: Optional[int] = None
        self._cancel_id: Optional[int] = None
        self._kill_grace_s = config.kill_grace_ms / 1000
        # _interrupt_attempt() sends a byte here, so the select in _follow_command wakes at
        # once. A socket pair, not a pipe: an HTTP thread may still cancel after close(),
        # and a closed socket object refuses (EBADF) where os.write on a closed pipe's
        # number would write into whatever file has reused it.
        self._interrupt_r, self._interrupt_w = socket.socketpair()
        self._interrupt_r.setblocking(False)
        self._interrupt_w.setblocking(False)
        self.thread = threading.Thread(target=self.run, name="release-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def close(self) -> None:
        """Close the wake-up sockets, once the thread has ended (Application._close)."""
        self._interrupt_r.close()
        self._interrupt_w.close()

    def wake(self) -> None:
        self._wake.set()

    def stop_taking_work(self) -> None:
        self._stopping.set()
        self._wake.set()

    def hurry(self) -> None:
        """End the running release now (its grace is over): a command that started is
        stopped and its attempt fails ("interrupted"); one still in git goes back to the
        queue."""
        self._kill_grace_s = min(self._kill_grace_s, 1.0)
        self._hurry.set()
        self._stopping.set()
        self._wake.set()
        self._interrupt_attempt()

    def cancel(self, release_id: int) -> None:
        """Stop the running attempt `release_id` (DELETE /queue/<sha>): every process of it,
        as on timeout; it ends `cancelled`. One still in its git step ends at once."""
        self._cancel_id = release_id
        if self._current_id == release_id:  # else run_next_release sees _cancel_id
            self._interrupt_attempt()

    def _drain_interrupts(self) -> None:
        """Empty the wake-up socket, so that a byte left by one attempt's interruption does
        not keep the next one's select awake."""
        try:
            while self._interrupt_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _interrupt_attempt(self) -> None:
        self._interrupt.set()
        try:
            self._interrupt_w.send(b"x")  # wakes the select in _follow_command
        except OSError:
            pass

    def run(self) -> None:
        try:  # first, once: is the repository there, and will it let us in?
            self.workspace.check_remote(self._hurry)
        except Interrupted:
            return
        except Exception as exc:  # a check only: never a reason to stop releasing
            log("could not check the repository at start-up: %s" % exc)
        while not self._stopping.is_set():
            try:
                if not self.run_next_release():
                    self._wake.wait()
            except Exception as exc:  # the database failed; keep the loop alive
                log("worker: %s; trying again in 1 s" % describe_database_error(exc))
                self._stopping.wait(1.0)

    def run_next_release(self) -> bool:
        """Run one due release to its end; False when there was nothing to run."""
        self._wake.clear()
        release = self.store.claim_next_release()
        if release is None:
            return False
        if self._stopping.is_set():  # claimed just as shutdown began: leave it for next start
            self.store.requeue_at_head(release.id)
            return True
        self._drain_interrupts()
        self._interrupt = threading.Event()
        if self._hurry.is_set():
            self._interrupt.set()
        self._current_id = release.id
        if self._cancel_id == release.id:  # cancelled between claim and here
            self._interrupt.set()
        live = LiveOutput(release.id, self.config.log_tail_bytes)
        self.live = live
        self.store.wake_waiters()  # log readers waiting on this attempt switch to `live`
        # Logged here, not by a listener (which runs later, on its own thread): this line
        # must come before the command's first line of output in the log.
        log("release %s attempt %d started" % (release.sha, release.attempt))
        tree = None
        try:
            try:
                tree, outcome = self._run_release(release, live)
            except Interrupted:
                outcome = None
                if self._cancel_id == release.id:  # nothing ran: cancelled, even if hurried
                    outcome = Outcome(Status.CANCELLED, error=CANCELLED_WHILE_RUNNING)
            except Exception as exc:
                log("release %s: internal error: %s" % (release.sha, exc))
                traceback.print_exc()
                outcome = Outcome(Status.FAILED, error="internal error in the releaser: %s"
                                  % type(exc).__name__)
            if outcome is None:
                self._retry_database(self.store.requeue_at_head, release.id)
                log("release %s interrupted before its command started; it stays queued"
                    % release.sha)
                live.end(Status.QUEUED)
                return True
            tail, total = live.snapshot()
            try:
                self._retry_database(self.store.end_attempt, release.id, outcome.status,
                                     outcome.exit_code, outcome.error, tail, total,
                                     Status.RUNNING, outcome.skipped_base)
            except sqlite3.Error:
                log("release %s attempt %d ended %s, but the database could not record it "
                    "before shutdown; the next start marks it failed (interrupted)"
                    % (release.sha, release.attempt, outcome.status))
                raise
            live.end(outcome.status)
        finally:
            self.live = None
            self._current_id = None
            if tree is not None:
                self.workspace.discard_tree(tree)
        return True

    def _retry_database(self, write, *args) -> None:
        """A final state must reach the database: retry on any database error (locked,
        full, read-only), backing off to 5 s; give up only once hurried into shutdown."""
        delay = 0.1
        while True:
            try:
                return write(*args)
            except sqlite3.Error as exc:
                if self._hurry.is_set() and delay > 1:
                    raise  # shutting down: the next start settles it as interrupted
                log("could not record a release's state (%s); retrying"
                    % describe_database_error(exc))
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _run_release(self, release: Release, live: LiveOutput):
        """Prepare the tree and run the command: (tree, Outcome). Raises Interrupted if
        shutdown ends the attempt before its command started."""
        elapsed_s = max(0, now_ms() - release.started_at) / 1000
        timeout_s = self.config.release_timeout_ms / 1000
        deadline = time.monotonic() + timeout_s - elapsed_s
        marker = uuid.uuid4().hex
        base: List[str] = []

        def unchanged() -> bool:
            base[:] = [self._unchanged_since(release, deadline)]
            return base[0] is not None

        try:
            tree = self.workspace.prepare(release.sha, marker, deadline, self._interrupt,
                                          unchanged if self.config.watch_paths else None)
        except GitError as exc:
            return None, Outcome(Status.FAILED, error=str(exc))
        if tree is None:
            return None, Outcome(Status.SUCCESS, skipped_base=base[0])
        try:
            return tree, self._run_command(release, tree, marker, live, deadline)
        except BaseException:
            self.workspace.discard_tree(tree)
            raise

    def _unchanged_since(self, release: Release, deadline: float) -> Optional[str]:
        """RELEASER_WATCH_PATHS: the base whose watched paths this commit's equal, so that its
        command need not run; None when it must (recorded as the attempt's path_check)."""
        base = None
        if release.force_run:
            check = "forced by retry"
        else:
            base, failed_since = self.store.last_ran_success()
            if base is None:
                check = "no base"
            elif failed_since:
                check = "a command that ran after the base did not succeed"
            else:
                same = self.workspace.paths_unchanged(base, release.sha,
                                                      self.config.watch_paths, deadline,
                                                      self._interrupt)
                check = {True: "skipped", False: "changed", None: "base unavailable"}[same]
                if not same:
                    base = None
        try:
            self.store.record_path_check(release.id, check)
        except sqlite3.Error as exc:
            log("could not record the path check of %s (%s); its command runs"
                % (release.sha, describe_database_error(exc)))
            return None
        return base if check == "skipped" else None

    def _run_command(self, release: Release, tree: str, marker: str, live: LiveOutput,
                     deadline: float) -> Outcome:
        if self._stopping.is_set() or self._interrupt.is_set():
            raise Interrupted()  # SIGTERM or cancel came during the git step: nothing ran
        try:
            self.store.mark_command_starting(release.id, marker)
        except sqlite3.Error as exc:
            log("could not record the start of release %s (%s): it goes back to the queue"
                % (release.sha, describe_database_error(exc)))
            raise Interrupted()
        env = dict(self.config.release_env)
        env.update({"RELEASER_GIT_COMMIT_SHA": release.sha,
                    "RAILWAY_GIT_COMMIT_SHA": release.sha, ATTEMPT_MARKER_VARIABLE: marker})
        user = self.config.run_as
        as_user = {}
        if user is not None:
            home = self.workspace.hand_over_tree(tree, user)
            env.update(HOME=home, USER=user.name, LOGNAME=user.name)
            as_user = dict(user=user.uid, group=user.gid, extra_groups=[])
        try:
            proc = start_process(
                ["/bin/sh", "-c", self.config.release_command], cwd=tree, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True, **as_user)
        except OSError as exc:
            return Outcome(Status.FAILED, error="could not start the release command: %s"
                           % exc.strerror)
        try:
            self.store.record_process_group(release.id, proc.pid)
        except sqlite3.Error as exc:  # only informative: recovery goes by the marker
            log("could not record the process group of release %s (%s)"
                % (release.sha, describe_database_error(exc)))
        return self._follow_command(release, proc, marker, live, deadline)

    def _follow_command(self, release: Release, proc: subprocess.Popen, marker: str,
                        live: LiveOutput, deadline: float) -> Outcome:
        """Relay the command's output until it exits, the timeout passes or shutdown hurries;
        then stop every process of the attempt and drain the output with a deadline."""
        relay = OutputRelay(release.sha, live, self.config.secrets())
        stdout = proc.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(stdout, selectors.EVENT_READ)
        selector.register(self._interrupt_r, selectors.EVENT_READ)
        exit_fd = _process_exit_fd(proc.pid)
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ)
        timed_out = shut_down = cancelled = False
        next_save = time.monotonic() + self.OUTPUT_SAVE_INTERVAL_S
        saved_total = 0
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if self._hurry.is_set():
                    shut_down = True
                    break
                if self._interrupt.is_set():
                    cancelled = True
                    break
                wait = min(deadline, next_save) - now
                if exit_fd is None:
                    wait = min(wait, 0.05)
                for key, _ in selector.select(max(0.0, wait)):
                    if key.fd == stdout:
                        data = os.read(stdout, self.READ_CHUNK)
                        if data:
                            relay.feed(data)
                        else:  # output closed; the command may still be running
                            selector.unregister(stdout)
                    elif key.fileobj is self._interrupt_r:
                        self._drain_interrupts()  # the flags say what to do
                if time.monotonic() >= next_save:
                    saved_total = self._save_output(release.id, live, saved_total)
                    next_save = time.monotonic() + self.OUTPUT_SAVE_INTERVAL_S
        finally:
            # The command ended, or must end: nothing of the attempt may outlive it, whatever
            # went wrong above, and the next release starts only once all of it is gone.
            stop_attempt(proc, marker, self._kill_grace_s, hurry=self._hurry)
        try:
            self._drain(stdout, relay, time.monotonic() + 2.0)
        finally:
            relay.close()
            selector.close()
            proc.stdout.close()
            if exit_fd is not None:
                os.close(exit_fd)
        if timed_out:
            return Outcome(Status.TIMEOUT, error="release timed out after %s"
                           % human_duration(self.config.release_timeout_ms))
        if shut_down:
            return Outcome(Status.FAILED, error="interrupted by shutdown: the releaser stopped "
                                                "before the release command finished")
        if cancelled:
            return Outcome(Status.CANCELLED, error=CANCELLED_WHILE_RUNNING)
        code = proc.returncode
        if code is None:
            return Outcome(Status.FAILED, error="the release command could not be stopped "
                                                "(stuck in the kernel); see the releaser's log")
        if code == 0:
            return Outcome(Status.SUCCESS, exit_code=0)
        if code > 0:
            return Outcome(Status.FAILED, exit_code=code,
                           error="release command exited with status %d" % code)
        return Outcome(Status.FAILED, error="release command was killed by signal %d" % -code)

    def _drain(self, fd: int, relay: OutputRelay, deadline: float) -> None:
        """Read what is left in the pipe; a process that escaped the group (setsid) and
        still holds it open cannot delay the end past `deadline`."""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return
                data = os.read(fd, self.READ_CHUNK)
                if not data:
                    return
                relay.feed(data)

    def _save_output(self, release_id: int, live: LiveOutput, saved_total: int) -> int:
        tail, total = live.snapshot()
        if total == saved_total:
            return saved_total
        try:
            self.store.save_output(release_id, tail, total)
        except sqlite3.Error as exc:
            log("could not save release output (%s)" % describe_database_error(exc))
            return saved_total
        return total


# --- Notifications ---------------------------------------------------------------------------
#
# RELEASER_NOTIFY_URL: each attempt's start and end is POSTed as JSON to every URL. Nothing
# is lost: the Store writes each notification into its outbox table in the transaction that
# starts or ends the attempt (Notifier.outbox_rows says what), so a crash at any moment
# leaves it there; the Notifier's threads, one per URL, deliver them in order, retrying with
# backoff for up to RELEASER_NOTIFY_MAX_AGE_MS, then drop one with a log line. Delivery runs
# beside releases and never delays one, nor a queue answer, nor a shutdown.

NOTIFY_OUTPUT_LINES = 20


def destination_id(url: str) -> str:
    """What the outbox stores to name a URL: a checksum, since the URL is a secret."""
    return "%08x" % zlib.crc32(url.encode("utf-8"))


def url_origin(url: str) -> str:
    """scheme://host[:port] of a URL: enough to name it in the log (a webhook's path and
    query hold its secret)."""
    parts = urllib.parse.urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.hostname if parts.port is None
                        else "%s:%d" % (parts.hostname, parts.port))


_ssl_lock = threading.Lock()  # two notification threads may want ssl at once


def https_connection(host: str, port: Optional[int], timeout: float):
    """An HTTPS connection, loading ssl now if the service left it out (see the top)."""
    with _ssl_lock:
        if sys.modules.get("ssl", False) is None:
            del sys.modules["ssl"]
        import ssl

    class HTTPSConnection(http.client.HTTPConnection):
        default_port = 443

        def connect(self):
            super().connect()
            self.sock = ssl.create_default_context().wrap_socket(self.sock,
                                                                 server_hostname=self.host)

    return HTTPSConnection(host, port, timeout=timeout)


def post_json(url: str, body: bytes, timeout_s: float) -> Optional[str]:
    """POST a JSON body; None when the receiver took it (2xx), else why not."""
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    if parts.scheme == "https":
        conn = https_connection(parts.hostname, parts.port, timeout_s)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "releaser/" + __version__})
        resp = conn.getresponse()
        resp.read(65536)
        return None if 200 <= resp.status < 300 else "HTTP %d" % resp.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return "%s: %s" % (type(exc).__name__, exc)
    finally:
        conn.close()


class Notifier:
    """Writes (outbox_rows, called by the Store inside its transactions) and delivers
    (one thread per URL, woken by AttemptEvents through wake()) the notifications."""

    BACKOFF_MAX_S = 300

    def __init__(self, config: Config):
        self.config = config
        self.store: Optional[Store] = None  # from start(): where the outbox is
        self._secrets = config.secrets()
        self._urls = {destination_id(url): url for url in config.notify_urls}
        self._wake = {destination: threading.Event() for destination in self._urls}
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._deliver, args=(destination,),
                                          name="notify-%s" % destination, daemon=True)
                         for destination in self._urls]

    def outbox_rows(self, event: str, release: Release, tail: bytes) -> List[Tuple[str, str]]:
        """The notification of an attempt's start or end, once per URL (no I/O: this runs
        inside the Store's transaction)."""
        if not self._urls:
            return []
        lines = tail.decode("utf-8", "replace").splitlines()[-NOTIFY_OUTPUT_LINES:]
        output = mask_secrets("\n".join(lines), self._secrets)
        error = mask_secrets(release.error, self._secrets) if release.error else None
        link = self.config.public_url + "/" if self.config.public_url else None
        if event == "started":
            text = "Release of %s (attempt %d) started" % (release.sha[:12], release.attempt)
        else:
            text = "Release of %s (attempt %d) %s%s" % (
                release.sha[:12], release.attempt, release.status,
                (": " + error) if error else "")
        text += (" " + link) if link else ""
        body = json.dumps({
            "event": event, "commitSha": release.sha, "attempt": release.attempt,
            "state": release.status, "exit_code": release.exit_code, "error": error,
            "duration_ms": release.duration_ms, "output": output, "link": link,
            "text": text,  # what a Slack incoming webhook shows
            "content": text,  # and a Discord webhook
        })
        return [(destination, body) for destination in self._urls]

    def wake(self, event: str, release: Release) -> None:
        """An AttemptEvents listener: new notifications are in the outbox."""
        for flag in self._wake.values():
            flag.set()

    def start(self, store: Store) -> None:
        """Deliver what `store`'s outbox holds, and what it is given from now on."""
        self.store = store
        dropped = store.forget_notifications_except(list(self._urls))
        if dropped:
            log("dropped %d notifications for URLs no longer in RELEASER_NOTIFY_URL" % dropped)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop delivering; what is undelivered stays in the outbox for the next start."""
        self._stopping.set()
        for flag in self._wake.values():
            flag.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(0.5)

    def _deliver(self, destination: str) -> None:
        url, wake = self._urls[destination], self._wake[destination]
        while not self._stopping.is_set():
            wake.clear()  # before reading: a notification written after is not missed
            try:
                notification = self.store.next_notification(destination)
            except sqlite3.Error as exc:
                log("notifications: %s" % describe_database_error(exc))
                self._stopping.wait(1.0)
                continue
            if notification is None:
                wake.wait()
                continue
            now = now_ms()
            if now - notification.created_at > self.config.notify_max_age_ms:
                self._record(self.store.notification_done, notification.id)
                log("notification to %s dropped after %d tries over %s"
                    % (url_origin(url), notification.tries,
                       human_duration(now - notification.created_at)))
                continue
            if notification.next_try_at > now:
                wake.wait((notification.next_try_at - now) / 1000)
                continue
            try:
                problem = post_json(url, notification.body.encode(),
                                    self.config.notify_timeout_ms / 1000)
            except Exception as exc:  # never let this URL's thread die
                problem = "%s: %s" % (type(exc).__name__, exc)
            if problem is None:
                self._record(self.store.notification_done, notification.id)
                continue
            delay_s = min(2 ** notification.tries, self.BACKOFF_MAX_S)
            log("notification to %s failed (%s); trying again in %s"
                % (url_origin(url), mask_secrets(problem, self._secrets),
                   human_duration(delay_s * 1000)))
            self._record(self.store.notification_failed, notification.id,
                         now_ms() + delay_s * 1000)

    def _record(self, write, *args) -> None:
        """Write a delivery's outcome. At shutdown the store may close under a delivery
        that outlived stop()'s wait: the row stays, and the next start sends it again."""
        try:
            write(*args)
        except sqlite3.Error as exc:
            if not self._stopping.is_set():
                log("notifications: %s" % describe_database_error(exc))
                self._stopping.wait(1.0)


# --- HTTP API --------------------------------------------------------------------------------
#
# ROUTES maps (method, path) to a route function taking (app, Request) and returning a
# Reply (status, body, headers); errors are ApiError. RequestHandler does all HTTP parsing, the
# API key check (before routing) and writes every answer, errors included, as JSON.


class Reply(NamedTuple):
    """What a route returns: the status, the body (a dict is sent as JSON, bytes as they
    are) and any headers of its own."""

    status: int
    body: object
    headers: Mapping[str, str] = types.MappingProxyType({})

    def encoded(self) -> Tuple[bytes, Dict[str, str]]:
        """The body as it is sent, and the headers with it: a dict goes as JSON."""
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode(), dict(
                {"Content-Type": "application/json"}, **self.headers)
        return self.body, dict(self.headers)


class ApiError(ReleaserError):
    """An HTTP error answer: {"error": message, **extra} with `status`."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None,
                 **extra):
        super().__init__(message)
        self.status = status
        self.body = dict({"error": message}, **extra)
        self.headers = headers or {}


MAX_BODY_BYTES = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024  # all header lines together (http.client allows 100 x 64 KiB)
TOO_SLOW = ("The request was not sent in time (RELEASER_REQUEST_TIMEOUT_MS for all of it, "
            "30 s of silence at most)")
MAX_WAIT_S = 60
SHA_RE = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


class LongPoll:
    """A request's leave to wait (`wait=`): it ends early when LongPolls asks it to yield
    its place, or when its client closed the connection."""

    def __init__(self, connection: Optional[socket.socket]):
        self.connection = connection
        self.yielded = False  # set by LongPolls.yield_oldest; the answer says Retry-After

    def must_end(self) -> bool:
        return self.yielded or self.client_gone()

    def client_gone(self) -> bool:
        """Whether the client closed its side (nothing more to read, ever)."""
        if self.connection is None:
            return False
        timeout = self.connection.gettimeout()
        try:
            self.connection.settimeout(0)
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # open, and quiet
        except OSError:
            return True
        finally:
            try:
                self.connection.settimeout(timeout)
            except OSError:
                pass


class LongPolls:
    """The long-polls waiting now, oldest first. A long-poll holds a connection (a place
    of HTTPServer.MAX_CONNECTIONS) for up to a minute; when places run short, the oldest
    (a batch: HTTPServer.LONG_POLL_BATCH more than needed) are answered at once with the
    current state, `Retry-After: 1` and `Connection: close`, so that a crowd of waiting
    clients never locks out /healthcheck or a new POST /queue, and each waiting client
    pauses before it asks again."""

    def __init__(self, wake: Callable[[], None]):
        self._wake = wake  # makes every waiting long-poll look at its flags
        self._lock = threading.Lock()
        self._waiting: Dict[int, LongPoll] = {}  # insertion order: oldest first

    @contextmanager
    def holding(self, poll: LongPoll):
        with self._lock:
            self._waiting[id(poll)] = poll
        try:
            yield
        finally:
            with self._lock:
                self._waiting.pop(id(poll), None)

    def yield_oldest(self, count: int) -> None:
        """Make `count` places free: those already yielding count towards it."""
        with self._lock:
            yielding = sum(poll.yielded for poll in self._waiting.values())
            oldest = [poll for poll in self._waiting.values()
                      if not poll.yielded][:max(0, count - yielding)]
            for poll in oldest:
                poll.yielded = True
        if oldest:
            self._wake()


class Request:
    """One request as the route handlers see it: query parameters, body, path argument, and
    the long-poll a route that waits must pass on."""

    def __init__(self, query: str, body: bytes, path_arg: str,
                 long_poll: Optional[LongPoll] = None, headers: Optional[Mapping] = None):
        self.body = body
        self.path_arg = path_arg
        self.long_poll = long_poll or LongPoll(None)
        self.headers = headers or {}
        self._query = query

    def header_text(self, name: str, limit: int = 200) -> Optional[str]:
        """A header meant for people (a service name), printable and at most `limit`
        characters; absent or empty is None, anything else 400."""
        value = (self.headers.get(name) or "").strip()
        if not value:
            return None
        if len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ApiError(400, "%s must be at most %d printable characters" % (name, limit))
        return value

    def params(self, *allowed: str) -> Dict[str, str]:
        """The query parameters; unknown or repeated ones are 400."""
        try:
            pairs = urllib.parse.parse_qsl(self._query, keep_blank_values=True,
                                           errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "The query string is not valid")
        params: Dict[str, str] = {}
        for name, value in pairs:
            if name not in allowed:
                raise ApiError(400, "Unknown query parameter %r; this route takes %s"
                               % (name[:40], ", ".join(allowed) or "none"))
            if name in params:
                raise ApiError(400, "Query parameter %r is given more than once" % name)
            params[name] = value
        return params

    def json_object(self, *allowed: str, empty_is_object: bool = False) -> dict:
        """The body as a JSON object with only the `allowed` fields, else 400."""
        if not self.body.strip() and empty_is_object:
            return {}
        try:
            value = json.loads(self.body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(400, "The request body must be a JSON object, such as "
                                '{"commitSha": "<40 hex digits>"}')
        if not isinstance(value, dict):
            raise ApiError(400, "The request body must be a JSON object, not %s"
                           % type(value).__name__)
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ApiError(400, "Unknown field %r; this route takes %s"
                           % (unknown[0][:40], ", ".join(allowed)))
        return value


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def parse_sha(value, name: str) -> str:
    if value is None:
        raise ApiError(400, "%s is required: the full 40- or 64-digit commit SHA" % name)
    if not isinstance(value, str) or not SHA_RE.fullmatch(value):
        raise ApiError(400, "%s must be a full 40- or 64-digit hexadecimal commit SHA (short "
                            "SHAs are ambiguous; Railway's RAILWAY_GIT_COMMIT_SHA is a full "
                            "one)" % name)
    return value.lower()


def parse_whole_number(value, name: str, minimum: int, maximum: Optional[int] = None) -> int:
    """A JSON integer (not a bool, not 30.0) within bounds; else 400."""
    if type(value) is not int or value < minimum or (maximum is not None and value > maximum):
        bounds = "from %d to %d" % (minimum, maximum) if maximum is not None \
            else "of at least %d" % minimum
        raise ApiError(400, "%s must be a whole number %s" % (name, bounds))
    return value


def query_number(params: Dict[str, str], name: str, default: int, minimum: int,
                 maximum: Optional[int] = None) -> int:
    """A query parameter of ASCII digits within bounds, or `default` when absent; else 400."""
    text = params.get(name)
    if text is None:
        return default
    value = int(text) if re.fullmatch(r"[0-9]{1,12}", text) else None
    return parse_whole_number(value, name, minimum, maximum)


def _sha_param(params: Dict[str, str]) -> str:
    if "commit-sha" in params and "commitSha" in params:
        raise ApiError(400, "Give commit-sha or commitSha, not both")
    name = "commit-sha" if "commit-sha" in params else "commitSha"
    return parse_sha(params.get(name), "commit-sha")


def _not_found(sha: str):
    return ApiError(404, "No release found for commit %s" % sha, commitSha=sha,
                    state="not_found")


def _wait_seconds(params: Dict[str, str]) -> int:
    return min(query_number(params, "wait", 0, 0), MAX_WAIT_S)


# Route handlers: (app, request) -> Reply. A dict body is sent as JSON.

def route_healthcheck(app: "Application", req: Request):
    req.params()
    try:
        running, queue_length = app.store.health()
    except sqlite3.Error as exc:
        return Reply(500, {"status": "ERROR", "error": describe_database_error(exc)})
    body = {"status": "OK", "isReleaseRunning": running, "queueLength": queue_length,
            "git": app.workspace.remote_status}
    if app.stopping.is_set():
        return Reply(503, dict(body, status="SHUTTING_DOWN"))
    if not app.worker.is_alive():
        return Reply(500, {"status": "ERROR",
                           "error": "the release worker has stopped; restart the releaser"})
    return Reply(200, body)


def route_queue_release(app: "Application", req: Request):
    req.params()
    body = req.json_object("commitSha", "retry")
    sha = parse_sha(body.get("commitSha"), "commitSha")
    retry = body.get("retry", False)
    if not isinstance(retry, bool):
        raise ApiError(400, 'retry must be true or false')
    name = req.header_text("X-Requested-By")
    requester = (name, req.header_text("X-Deployment-Id")) if name else None
    decision = app.store.request_release(sha, retry, may_create=not app.stopping.is_set(),
                                         requester=requester)
    status = decision.status
    if decision.outcome == "shutting_down":
        raise ApiError(503, "The releaser is shutting down; ask again when it is back")
    if decision.outcome == "created":
        app.worker.wake()
        if status == Status.RUNNING:
            return Reply(200, {"message": "Release triggered for commit %s" % sha,
                               "state": status})
    if status == Status.QUEUED:
        return Reply(202, {"message": "Release for commit %s has been queued" % sha,
                           "state": status})
    if status == Status.RUNNING:
        raise ApiError(409, "Release for commit %s is already running" % sha, state=status)
    if status == Status.SUCCESS:
        return Reply(200, {"message": "Release for commit %s already succeeded" % sha,
                           "state": status})
    ended = {Status.FAILED: "failed", Status.TIMEOUT: "timed out",
             Status.CANCELLED: "was cancelled"}[status]
    raise ApiError(409, 'Release for commit %s %s; send "retry": true to run it again'
                   % (sha, ended), state=status)


def route_cancel_release(app: "Application", req: Request):
    req.params()
    sha = parse_sha(req.path_arg or None, "The commit SHA in DELETE /queue/<sha>")
    decision = app.cancel_release(sha)
    if decision.outcome == "not_found":
        raise ApiError(404, "No release found for commit %s" % sha)
    if decision.outcome == "shutting_down":
        raise ApiError(503, "The releaser is shutting down; the running release is being "
                            "stopped with it", state=decision.status)
    if decision.outcome == "not_queued":
        raise ApiError(409, "Release for commit %s already ended (%s); nothing to cancel"
                       % (sha, decision.status), state=decision.status)
    if decision.previous_status == Status.RUNNING:
        return Reply(200, {"message": "Release for commit %s stopped and cancelled" % sha,
                           "state": decision.status,
                           "previous_state": decision.previous_status})
    return Reply(200, {"message": "Release for commit %s removed from queue" % sha,
                       "state": decision.status, "previous_state": decision.previous_status})


def route_list_queue(app: "Application", req: Request):
    req.params()
    running, queue = app.store.queue_snapshot()
    return Reply(200, {
        "isRunning": running is not None,
        "running": None if running is None else {
            "git_commit_sha": running.sha, "attempt": running.attempt,
            "started_at": iso_time(running.started_at)},
        "queueLength": len(queue),
        "queue": [{"git_commit_sha": sha, "attempt": attempt, "queued_at": iso_time(at)}
                  for sha, attempt, at in queue],
    })


def route_release_state(app: "Application", req: Request):
    params = req.params("commit-sha", "commitSha", "wait")
    sha = _sha_param(params)
    wait = _wait_seconds(params)
    release = app.store.latest_release(sha)
    if release is not None and wait:
        release = app.wait_until_final(release, wait, req.long_poll)
    if release is None:
        raise _not_found(sha)
    # timeout_ms with queue_position lets a waiting client say how long it may wait at most.
    details = dict(release.details(app.config.watch_paths),
                   timeout_ms=app.config.release_timeout_ms)
    return Reply(200, {"commitSha": sha, "state": release.status, "details": details})


def route_release_logs(app: "Application", req: Request):
    params = req.params("commit-sha", "commitSha", "attempt", "offset", "wait")
    sha = _sha_param(params)
    offset = query_number(params, "offset", 0, 0)
    wait = _wait_seconds(params)
    if "attempt" in params:
        release = app.store.release_attempt(sha, query_number(params, "attempt", 1, 1))
        if release is None:
            raise ApiError(404, "Commit %s has no attempt %s" % (sha, params["attempt"]),
                           commitSha=sha)
    else:
        release = app.store.latest_release(sha)
        if release is None:
            raise _not_found(sha)
    output = app.read_output(release, offset, wait, req.long_poll)
    if output is None:
        raise _not_found(sha)
    headers = {"Content-Type": "text/plain; charset=utf-8",
               "X-Log-Offset": str(output.total), "X-Log-Start": str(output.start),
               "X-Release-State": output.status, "X-Release-Attempt": str(release.attempt)}
    if output.status == Status.SUCCESS:  # a skipped command says so: the base its paths matched
        final = app.store.release_by_id(release.id)
        if final is not None and final.skipped_base:
            headers["X-Release-Skipped"] = final.skipped_base
    return Reply(200, output.data, headers)


def route_history(app: "Application", req: Request):
    params = req.params("limit", "before", "state", "commit-sha", "commit-prefix")
    limit = query_number(params, "limit", 50, 1, 500)
    before = query_number(params, "before", 0, 1) if "before" in params else None
    state = params.get("state")
    if state is not None and state not in Status.ALL:
        raise ApiError(400, "state must be one of %s" % ", ".join(Status.ALL))
    if "commit-sha" in params and "commit-prefix" in params:
        raise ApiError(400, "Give commit-sha or commit-prefix, not both")
    sha = parse_sha(params["commit-sha"], "commit-sha") if "commit-sha" in params else None
    prefix = params.get("commit-prefix")
    if prefix is not None:
        if not re.fullmatch(r"[0-9a-fA-F]{7,64}", prefix):
            raise ApiError(400, "commit-prefix must be 7 to 64 hexadecimal digits")
        prefix = prefix.lower()
    rows = app.store.history(limit, before, state, sha, prefix)
    return Reply(200, {
        "releases": [dict(release.summary(), requested_by=asked) for release, asked in rows],
        "next": str(rows[-1][0].id) if len(rows) == limit else None})


def route_metrics(app: "Application", req: Request):
    params = req.params("days", "format")
    fmt = params.get("format")
    if fmt not in (None, "json", "prometheus"):
        raise ApiError(400, "format must be json or prometheus")
    if fmt == "prometheus" or (fmt is None and prefers_prometheus(req.headers.get("Accept"))):
        if "days" in params:
            raise ApiError(400, "days applies to the JSON answer only: Prometheus counts "
                                "since the releaser started")
        running, queue_length = app.store.health()
        return Reply(200, app.release_metrics.exposition(running, queue_length).encode(), {
            "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
    days = query_number(params, "days", 7, 1, 3650)
    rows = app.store.metrics(now_ms() - days * 86400000)
    return Reply(200, {"period": "%d day%s" % (days, "" if days == 1 else "s"), "metrics": [
        {"release_status": status, "count": count,
         "avg_duration_minutes": None if avg is None else round(avg, 2)}
        for status, count, avg in rows]})


def prefers_prometheus(accept: Optional[str]) -> bool:
    """Whether an Accept header ranks text/plain or OpenMetrics strictly above JSON (what
    a Prometheus scraper sends); a tie, */* or no header means JSON, as before."""
    if not accept:
        return False
    best = {"text": 0.0, "json": 0.0}
    for item in accept.split(","):
        kind, *options = [part.strip() for part in item.split(";")]
        quality = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kind.lower()
        group = "text" if kind in ("text/plain", "application/openmetrics-text") else \
            "json" if kind in ("application/json", "application/*", "*/*") else None
        if group:
            best[group] = max(best[group], quality)
    return best["text"] > best["json"]


def route_cleanup(app: "Application", req: Request):
    req.params()
    body = req.json_object("days", empty_is_object=True)
    days = body.get("days")
    days = app.config.cleanup_days if days is None else parse_whole_number(
        days, "days", 1, 3650)
    deleted = app.store.delete_finished_before(now_ms() - days * 86400000)
    return Reply(200, {"message": "Cleanup completed for releases older than %d days" % days,
                 "deleted": deleted})


def route_page(app: "Application", req: Request):
    req.params()
    commit_url = app.config.commit_url_prefix or ""
    html = PAGE_HTML.replace("{commit_url}", html_escape(commit_url))
    return Reply(200, html.encode(),
                 dict(PAGE_HEADERS, **{"Content-Type": "text/html; charset=utf-8"}))


def route_page_script(app: "Application", req: Request):
    req.params()
    return Reply(200, PAGE_JS.encode(), dict(PAGE_HEADERS, **{
        "Content-Type": "text/javascript; charset=utf-8"}))


def route_page_style(app: "Application", req: Request):
    req.params()
    return Reply(200, PAGE_CSS.encode(), dict(PAGE_HEADERS, **{
        "Content-Type": "text/css; charset=utf-8"}))


#: (method, path) -> handler. A path ending in "/<sha>" matches that prefix plus anything.
#: The JSON keeps the names of the original Node releaser and of SPEC where clients already
#: read them, so styles mix on purpose: camelCase (commitSha, queueLength, isReleaseRunning)
#: beside snake_case (git_commit_sha, release_status, queue_position). New fields follow the
#: style of the answer they join.
ROUTES = {
    ("GET", "/healthcheck"): route_healthcheck,
    ("POST", "/queue"): route_queue_release,
    ("GET", "/queue"): route_list_queue,
    ("DELETE", "/queue/<sha>"): route_cancel_release,
    ("GET", "/release"): route_release_state,
    ("GET", "/release/logs"): route_release_logs,
    ("GET", "/releases"): route_history,
    ("GET", "/metrics"): route_metrics,
    ("POST", "/cleanup"): route_cleanup,
    ("GET", "/"): route_page,
    ("GET", "/app.js"): route_page_script,
    ("GET", "/app.css"): route_page_style,
}
#: The web page's own paths: a browser without the key is asked to log in (Basic).
PAGE_PATHS = ("/", "/app.js", "/app.css")


def find_route(method: str, path: str):
    """(handler, path argument) for the request, or raise 404 / 405 with Allow."""
    allowed = []
    for (route_method, pattern), handler in ROUTES.items():
        if pattern.endswith("/<sha>"):
            prefix = pattern[:-len("<sha>")]
            if not path.startswith(prefix):
                continue
            arg = path[len(prefix):]
        elif path == pattern:
            arg = ""
        else:
            continue
        if route_method == method or (method == "HEAD" and route_method == "GET"):
            return handler, arg
        allowed.append(route_method)
    if not allowed:
        raise ApiError(404, "Not found: %s is not a route of this service" % path[:100])
    if "GET" in allowed:
        allowed.append("HEAD")
    raise ApiError(405, "Method %s is not allowed on %s" % (method, path[:100]),
                   headers={"Allow": ", ".join(sorted(allowed))})


def answer_request(app: "Application", method: str, target: str, headers: Mapping[str, str],
                   read_body: Optional[Callable[[], bytes]] = None,
                   long_poll: Optional[LongPoll] = None) -> Reply:
    """The whole API without sockets: check the Origin and the API key, route, read the body
    (`read_body`, called only for an allowed request to a known route), run the handler.
    Every failure becomes an answer: ApiError its own, a database error 503 (locked) or 500,
    anything else 500 with the traceback in the log. RequestHandler speaks HTTP around it;
    tests call it directly."""
    try:
        split = urllib.parse.urlsplit(target)
        check_origin(app.config, method, headers)
        check_api_key(app.config, method, split.path, headers)
        handler, path_arg = find_route(method, split.path)
        body = read_body() if read_body is not None else b""
        return handler(app, Request(split.query, body, path_arg, long_poll, headers))
    except ApiError as exc:
        return Reply(exc.status, exc.body, exc.headers)
    except sqlite3.Error as exc:
        locked = is_database_busy(exc)
        return Reply(503 if locked else 500, {
            "error": describe_database_error(exc) + ("; try again" if locked else "")})
    except Exception:
        log("internal error answering %s %s:\n%s"
            % (method, escape_controls(target[:200]), traceback.format_exc()))
        return Reply(500, {"error": "Internal error; the releaser's log has details"})


def check_origin(config: Config, method: str, headers: Mapping[str, str]) -> None:
    """Browsers send Basic credentials by themselves, so a form on another site could
    use them: a POST or DELETE that a page of another origin sent is refused, whatever
    its credentials (and with no key at all). Clients that send no Origin (curl,
    pre-deploy.sh, the command line) are not concerned. No CORS headers are ever sent."""
    origin = headers.get("Origin")
    if method not in ("POST", "DELETE") or origin is None:
        return
    if not any(same_site(origin, allowed) for allowed in (
            "//" + (headers.get("Host") or ""), config.public_url or "")):
        raise ApiError(403, "A request from a page of another site (Origin %s) is refused"
                       % escape_controls(origin[:100]))


def check_api_key(config: Config, method: str, path: str, headers: Mapping[str, str]) -> None:
    """With RELEASER_API_KEY set, every request but GET /healthcheck carries the key:
    Authorization: Bearer, X-API-Key, or (a browser) as the password of Basic credentials."""
    key = config.api_key
    if key is None or (method in ("GET", "HEAD") and path == "/healthcheck"):
        return
    given = headers.get("X-API-Key")
    authorization = headers.get("Authorization") or ""
    if given is None and authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    elif given is None and authorization[:6].lower() == "basic ":
        given = basic_password(authorization[6:])  # a browser: the key is the password
    # Constant time, and over the key's length whatever was sent, so that the time
    # taken tells nothing of the key's bytes or its length.
    expected = key.encode()
    actual = (given or "").encode("utf-8", "surrogateescape")
    same = compare_digest(actual.ljust(len(expected), b"\0")[:len(expected)], expected)
    if given is None or not same or len(actual) != len(expected):
        # A browser opening the page gets a login prompt (any user, the key as the
        # password); API clients the Bearer challenge.
        challenge = 'Basic realm="releaser"' if path in PAGE_PATHS else "Bearer"
        raise ApiError(401, "A valid API key is required: send Authorization: Bearer "
                            "<RELEASER_API_KEY> or X-API-Key (a browser: any user name, "
                            "the key as the password)",
                       headers={"WWW-Authenticate": challenge})


#: C0 and C1 control characters and DEL as \xNN, as http.server escapes them in its log.
_CONTROLS = {c: "\\x%02x" % c for c in list(range(0x20)) + list(range(0x7f, 0xa0))}


def same_site(origin: str, allowed: str) -> bool:
    """Whether an Origin names the host and port of `allowed` (a URL, or //host[:port] from
    a Host header, whose missing port stands for the scheme's default)."""
    theirs, ours = urllib.parse.urlsplit(origin), urllib.parse.urlsplit(allowed)
    try:
        their_port = theirs.port or {"http": 80, "https": 443}.get(theirs.scheme)
        our_port = ours.port or {"http": 80, "https": 443}.get(ours.scheme)
    except ValueError:
        return False
    if not theirs.hostname or theirs.hostname != ours.hostname:
        return False
    return their_port == our_port or (our_port is None and their_port in (80, 443))


def basic_password(encoded: str) -> Optional[str]:
    """The password of HTTP Basic credentials (base64 of user:password), or None."""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] if ":" in decoded else None


def escape_controls(text: str) -> str:
    """Text a request brought, safe for the log: no escape sequences, bells or line breaks
    that could rewrite or fake log lines on a terminal."""
    return text.translate(_CONTROLS)


class _RequestReader(io.RawIOBase):
    """A connection's input, with a deadline for the whole request (headers and body).

    A per-read socket timeout cannot stop a client that sends one byte a second; here each
    read may only wait until `deadline`, after which the input looks closed (`timed_out`
    says why). Without a deadline (a request being answered) reads wait `idle_s`. Each
    connection has its own, so the hot path takes no lock shared with other connections.
    """

    def __init__(self, sock: socket.socket, idle_s: float):
        super().__init__()
        self._sock = sock
        self._idle_s = idle_s
        self.deadline: Optional[float] = None
        self.timed_out = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wait = self._idle_s
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
        if wait <= 0:
            self.timed_out = True
            return 0
        self._sock.settimeout(wait)
        try:
            return self._sock.recv_into(buffer)
        except socket.timeout:
            self.timed_out = True
            return 0


class _BoundedHeaderReader:
    """The request's input while http.client reads the header lines: at most `limit` bytes
    in all, then LineTooLong (which http.server answers 431). `complete` tells whether the
    block ended with its empty line, not with the end of the input."""

    def __init__(self, rfile, limit: int):
        self._rfile = rfile
        self._left = limit
        self.complete = False

    def readline(self, size: int = -1) -> bytes:
        line = self._rfile.readline(self._left + 1 if size < 0 else min(size, self._left + 1))
        self._left -= len(line)
        if self._left < 0:
            raise http.client.LineTooLong("request header block")
        self.complete = line in (b"\r\n", b"\n")
        return line


class RequestHandler(http.server.BaseHTTPRequestHandler):
    """Speaks HTTP around answer_request: parses each request, reads its body when
    answer_request asks for it, and writes every answer, errors as JSON.

    Each answer goes out in one write (headers and body together) with TCP_NODELAY, so a
    keep-alive client never waits on delayed acknowledgements.

    What it borrows from, or overrides in, CPython's http.server (a change there must fail
    CI, which runs the suite on the oldest and the newest Python supported):
      - setup(): replaces `rfile` with a reader that has a deadline (_RequestReader);
      - handle_one_request(): sets that deadline, and treats an OSError as the client gone;
      - parse_request() (internal in CPython): refuses a request line cut short, and swaps
        `rfile` for _BoundedHeaderReader while http.client reads the headers;
      - __getattr__("do_<METHOD>"): every method goes to _handle (answer_request), so
        the key is checked before a 405;
      - send_error(): http.server's own errors, as JSON;
      - _send() writes the status line and headers by hand (not send_response), in one piece;
      - log_message(): through log(), with control characters escaped;
      - relies on handle()'s keep-alive loop (calling handle_one_request until
        `close_connection`), on `protocol_version` = HTTP/1.1 and `timeout` (applied to the
        socket by StreamRequestHandler.setup), and uses `raw_requestline`, `requestline`,
        `command`, `path`, `headers`, `connection`, `wfile`, `date_time_string()`,
        `address_string()`, `log_request()`.
    """

    protocol_version = "HTTP/1.1"
    server_version = "Releaser/" + __version__
    timeout = 30  # seconds a connection may stay silent while we read or write
    app: "Application"

    def setup(self):
        super().setup()
        self.app = self.server.app
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile.close()
        self._input = _RequestReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._input)

    def handle_one_request(self):
        # From the first byte of a request (or the wait for it on a kept-alive connection)
        # to the end of its body; _handle lifts the deadline once the body is read.
        self._input.deadline = time.monotonic() + self.app.config.request_timeout_ms / 1000
        self._input.timed_out = False
        try:
            super().handle_one_request()
        except OSError:
            self.close_connection = True  # the client went away mid-request

    def parse_request(self):
        if not self.raw_requestline.endswith(b"\n"):  # before http.server judges a fragment
            self.command, self.requestline = None, ""
            return self._refuse_cut_short()
        rfile = self.rfile
        self.rfile = head = _BoundedHeaderReader(rfile, MAX_HEADER_BYTES)
        try:
            if not super().parse_request():
                return False
        finally:
            self.rfile = rfile
        # http.server would act on a request whose head the input cut short (the client
        # went away, or ran out of time): a DELETE without its headers is still a DELETE.
        if not head.complete:
            return self._refuse_cut_short()
        # http.client ends the header block at a line it cannot parse (no colon, a space
        # before the colon) and folds continuation lines into the previous value, silently
        # dropping what follows, Content-Length included: the body would then be read as a
        # second request. Refuse such a request, and close the connection.
        if self.headers.defects or any("\n" in value for value in self.headers.values()):
            self.send_error(HTTPStatus.BAD_REQUEST, "The request headers are malformed")
            return False
        return True

    def _refuse_cut_short(self) -> bool:
        if self._input.timed_out:
            self.send_error(HTTPStatus.REQUEST_TIMEOUT, TOO_SLOW)
        else:
            self.send_error(HTTPStatus.BAD_REQUEST, "The request ended inside its head")
        return False

    def __getattr__(self, name):
        # http.server looks up do_<METHOD>: every method is ours to answer, so that the API
        # key is checked first and a known path answers 405 with Allow, whatever the method.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self):
        self._body_read = False
        poll = LongPoll(self.connection)
        reply = answer_request(self.app, self.command, self.path, self.headers,
                               self._read_body, poll)
        if poll.yielded:  # answered early to free its place: ask again in a second
            reply = reply._replace(headers=dict(reply.headers, **{"Retry-After": "1"}))
            self.close_connection = True
        self._send(reply)

    def _read_body(self) -> bytes:
        """The request body (at most 64 KiB, announced by Content-Length), else 4xx; once
        it is read, the request deadline is lifted."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise ApiError(411, "Chunked request bodies are not supported; send "
                                "Content-Length")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            self._body_read = True
            self._input.deadline = None  # a long-poll may now wait in peace
            return b""
        if len(lengths) > 1 or not re.fullmatch(r"[0-9]{1,12}", lengths[0].strip()):
            self.close_connection = True
            raise ApiError(400, "Content-Length must be one whole number")
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "The request body is larger than %d bytes" % MAX_BODY_BYTES)
        try:
            body = self.rfile.read(length)
        except OSError:  # the client went away
            body = b""
        self._body_read = True
        if len(body) != length:
            self.close_connection = True
            if self._input.timed_out:
                raise ApiError(408, TOO_SLOW)
            raise ApiError(400, "The request body ended before Content-Length bytes")
        self._input.deadline = None
        return body

    def _send(self, reply: Reply) -> None:
        status = reply.status
        payload, headers = reply.encoded()
        if not getattr(self, "_body_read", True) and (
                self.headers.get("Content-Length", "0").strip() not in ("0", "")
                or "Transfer-Encoding" in self.headers):
            self.close_connection = True  # the body is left unread: the stream is unusable
        lines = ["HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase),
                 "Server: " + self.server_version,
                 "Date: " + self.date_time_string(),
                 "Content-Length: %d" % len(payload),
                 "X-Content-Type-Options: nosniff"]  # output is untrusted: never sniffed
        lines += ["%s: %s" % item for item in headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.connection.settimeout(self.timeout)  # reads may have left a shorter one
        self.wfile.write(head if self.command == "HEAD" else head + payload)
        if status >= 500 or self.command in ("POST", "DELETE"):
            # Status polls come many times a second: logging them would bury the releases.
            self.log_request(status)

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, huge headers, unknown method), as JSON."""
        self.close_connection = True
        if not hasattr(self, "headers"):
            self.headers = http.client.HTTPMessage()
        text = {HTTPStatus.NOT_IMPLEMENTED: "Method not supported",
                HTTPStatus.REQUEST_URI_TOO_LONG: "The request line is too long",
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "The request headers are too large",
                }.get(code, message or HTTPStatus(code).phrase)
        try:
            self._send(Reply(code, {"error": text}))
        except OSError:
            pass

    def log_message(self, format, *args):
        log("%s %s" % (self.address_string(), escape_controls(format % args)))


class HTTPServer(http.server.ThreadingHTTPServer):
    """The threading server, bounded: at most MAX_CONNECTIONS open connections (one thread
    each); past that a new connection gets a short 503 and is closed at once."""

    MAX_CONNECTIONS = 512
    LONG_POLL_PLACES = MAX_CONNECTIONS * 3 // 4  # past this, the oldest long-polls yield
    LONG_POLL_BATCH = MAX_CONNECTIONS // 8  # ... this many more at once
    request_queue_size = MAX_CONNECTIONS  # the listen backlog: less stalls bursts in SYN retries
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, family, app: "Application"):
        self.address_family = family
        self.app = app
        self._connections = 0
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler, bind_and_activate=False)
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def server_bind(self):
        # Skip HTTPServer.server_bind's getfqdn(): a reverse DNS lookup can stall start-up.
        socketserver_bind = http.server.socketserver.TCPServer.server_bind
        socketserver_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        with self._connections_lock:
            full = self._connections >= self.MAX_CONNECTIONS
            if not full:
                self._connections += 1
            crowd = self._connections - self.LONG_POLL_PLACES
        if crowd > 0:
            # Free a batch at once: each yield wakes every waiting thread, so one per
            # connection would make a crowd cost a wake-up of hundreds of threads per client.
            self.app.long_polls.yield_oldest(crowd + self.LONG_POLL_BATCH)
        if full:
            try:
                request.setblocking(False)
                body = b'{"error": "Too many connections; try again shortly"}'
                request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                             b"application/json\r\nConnection: close\r\nContent-Length: %d"
                             b"\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections -= 1

    def handle_error(self, request, client_address):
        log("connection from %s failed: %s" % (client_address[0], sys.exc_info()[1]))


# --- Application -----------------------------------------------------------------------------


class Application:
    """The running service: owns the store, the worker and the HTTP server.

    start(): lock the database, stop git processes a crashed run left, open the database
    (schema and upgrades), settle attempts a crash interrupted (stopping their leftover
    processes), delete leftover trees, clean old records, start the threads (tree cleaner,
    attempt events, notifications, worker, daily cleanup), listen, then log one line.
    shutdown() follows SIGTERM's: refuse new attempts, answer long-polls, give the running
    release its grace, stop it, close the port.

    The reactions to an attempt's start and end (AttemptEvents listeners) are all added in
    __init__: the log line, the Prometheus counters, the wake-up of notification delivery.
    """

    def __init__(self, config: Config):
        self.config = config
        self.stopping = threading.Event()
        self.long_polls = LongPolls(self.wake_long_polls)
        self.release_metrics = ReleaseMetrics()
        self.notifier = Notifier(config)
        self.events = AttemptEvents()
        for listener in (log_attempt_end, self.release_metrics.observe, self.notifier.wake):
            self.events.add(listener)
        self.store: Optional[Store] = None
        self.workspace: Optional[Workspace] = None
        self.worker: Optional[Worker] = None
        self.server: Optional[HTTPServer] = None
        self._lock_file = None
        self._threads: List[threading.Thread] = []

    # -- start

    def start(self, listen: bool = True) -> None:
        """Start the service; with listen=False, everything but the HTTP server (tests
        then call answer_request). On a failure (StartupError, sqlite3.Error, OSError) what
        had started is stopped again, whatever the worker claimed is left to the next start,
        and the error is raised."""
        config = self.config
        self._take_database_lock()
        try:
            stopped = stop_git_processes(config.db_path, config.kill_grace_ms / 1000)
            if stopped:
                log("stopped %d git processes an earlier run of this releaser left behind"
                    % stopped)
            self.store = Store(config.db_path, self.events, self.notifier.outbox_rows)
            if config.run_as is not None:
                restrict_database_files(config.db_path)
            self.workspace = workspace = Workspace(config)
            workspace.check_writable()
            self._settle_interrupted_attempts()
            workspace.remove_leftover_trees()
            self.clean_old_records()
            workspace.start()
            self.events.start()
            self.notifier.start(self.store)
            self.worker = Worker(config, self.store, workspace)
            self.worker.start()
            self._start_thread(self._clean_daily, "daily-cleanup")
            if listen:
                self.server = self._listen()
                self._start_thread(self.server.serve_forever, "http")
        except BaseException:
            self._close()
            raise
        if listen:
            host, port = self.server.server_address[:2]
            log("listening on http://%s:%d (repository %s, database %s, work dir %s, release "
                "timeout %s, git depth %s, API key %s)" % (
                    "[%s]" % host if ":" in host else host, port, config.public_git_url,
                    config.db_path, config.work_dir,
                    human_duration(config.release_timeout_ms), config.git_depth or "full",
                    "required" if config.api_key else "not required"))
            if config.api_key is None and not is_loopback(host):
                log("WARNING: listening beyond loopback without an API key "
                    "(RELEASER_INSECURE_NO_AUTH=1): anyone who can reach this port can run "
                    "releases")
        if config.on_railway and not config.railway_volume:
            log("WARNING: on Railway without a volume: the release history and the queue will "
                "be lost on every redeploy; attach a volume to this service")

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _take_database_lock(self) -> None:
        folder = os.path.dirname(self.config.db_path)
        try:
            os.makedirs(folder, exist_ok=True)
            self._lock_file = open(self.config.db_path + ".lock", "a")
        except OSError as exc:
            raise StartupError("cannot use the database folder %s: %s"
                               % (folder, exc.strerror))
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StartupError("another releaser is using the database %s (it holds %s.lock); "
                               "stop it or set SQLITE_DB_PATH" % (self.config.db_path,
                                                                  self.config.db_path))

    def _settle_interrupted_attempts(self) -> None:
        """An attempt left running by a crash: stop its processes, then fail it if its
        command had started, or put it back at the head of the queue if not."""
        release = self.store.running_release()
        if release is None:
            return
        if release.marker is None:
            self.store.requeue_at_head(release.id)
            log("release %s was interrupted before its command started; queued again"
                % release.sha)
            return
        stopped = stop_attempt(None, release.marker, self.config.kill_grace_ms / 1000)
        self.store.end_attempt(
            release.id, Status.FAILED,
            error="interrupted: the releaser stopped while the release command was running")
        log("release %s was interrupted by a stop of the releaser; marked failed (%d leftover "
            "processes stopped)" % (release.sha, stopped))

    def clean_old_records(self) -> None:
        deleted = self.store.delete_finished_before(
            now_ms() - self.config.cleanup_days * 86400000)
        if deleted:
            log("deleted %d release records older than %d days"
                % (deleted, self.config.cleanup_days))

    def _clean_daily(self) -> None:
        while not self.stopping.wait(86400):
            try:
                self.clean_old_records()
            except sqlite3.Error as exc:
                log("daily cleanup failed: %s" % describe_database_error(exc))

    def _listen(self) -> HTTPServer:
        port = self.config.port
        host = self.config.host
        candidates = [(host, None)] if host else \
            [("::", socket.AF_INET6), ("0.0.0.0", socket.AF_INET)]
        for i, (address, family) in enumerate(candidates):
            try:
                family = family or _address_family(address)
                return HTTPServer((address.strip("[]"), port), family, self)
            except OSError as exc:
                ipv6_missing = exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)
                if i + 1 < len(candidates) and ipv6_missing:
                    continue
                raise StartupError("cannot listen on %s port %d: %s"
                                   % (address, port, exc.strerror or exc))
        raise AssertionError("unreachable")

    # -- cancelling

    def cancel_release(self, sha: str) -> Decision:
        """Cancel the commit's queued attempt, or stop its running one and answer once it is
        final: `cancelled`, or its own outcome if the command ended before the stop took
        effect (outcome "not_queued" with that state)."""
        release = self.store.latest_release(sha)
        if release is None:
            return Decision("not_found")
        if release.status == Status.QUEUED:
            if self.store.end_attempt(release.id, Status.CANCELLED, error="cancelled",
                                      from_status=Status.QUEUED):
                return Decision("cancelled", Status.CANCELLED, previous_status=Status.QUEUED)
            release = self.store.release_by_id(release.id)  # it started meanwhile
        if release.status != Status.RUNNING:
            return Decision("not_queued", release.status)
        self.worker.cancel(release.id)
        final = self.wait_until_final(release, self.config.kill_grace_ms / 1000 + 60,
                                      LongPoll(None))
        if final is None or not final.is_final:
            return Decision("shutting_down", Status.RUNNING)
        if final.status == Status.CANCELLED and final.error == CANCELLED_WHILE_RUNNING:
            return Decision("cancelled", final.status, previous_status=Status.RUNNING)
        return Decision("not_queued", final.status)

    # -- waiting for news (long-polls)

    def wait_until_final(self, release: Release, seconds: float,
                         poll: "LongPoll") -> Optional[Release]:
        """The attempt once it is final, or as it is after `seconds`, or at once when the
        service begins to stop or the long-poll must yield. None if its record vanished."""
        deadline = time.monotonic() + seconds
        give_up = self._give_up(poll)
        with self.long_polls.holding(poll):
            while True:
                seen = self.store.version
                current = self.store.release_by_id(release.id)
                remaining = deadline - time.monotonic()
                if current is None or current.is_final or remaining <= 0 or give_up():
                    return current
                self.store.wait_for_change(seen, remaining, give_up)

    def read_output(self, release: Release, offset: int, wait: float,
                    poll: "LongPoll") -> Optional["Output"]:
        """An attempt's output after `offset`; with `wait`, as soon as there are new bytes
        or the attempt is final.

        The running attempt is read from memory (the worker's LiveOutput), others from the
        database. None if the attempt's record vanished.
        """
        deadline = time.monotonic() + wait
        give_up = self._give_up(poll)
        with self.long_polls.holding(poll):
            return self._read_output(release, offset, deadline, give_up)

    def _read_output(self, release: Release, offset: int, deadline: float, give_up):
        while True:
            seen = self.store.version
            live = self.worker.live
            if live is not None and live.release_id == release.id:
                kept = live.read_after(offset, deadline, give_up)
                if kept is not None:
                    return _output_after(Status.RUNNING, kept[0], kept[1], offset)
                # It ended meanwhile: its record already holds the final state and output.
            saved = self.store.release_output(release.id)
            if saved is None:
                return None
            remaining = deadline - time.monotonic()
            if saved.total > offset or saved.status in Status.FINAL or remaining <= 0 \
                    or give_up():
                return _output_after(saved.status, saved.tail, saved.total, offset)
            self.store.wait_for_change(seen, remaining, give_up)

    def _give_up(self, poll: "LongPoll") -> Callable[[], bool]:
        """When a long-poll answers early: the service stops, or the poll yields its place
        (connections run short) or lost its client."""
        return lambda: self.stopping.is_set() or poll.must_end()

    def wake_long_polls(self) -> None:
        """Make every waiting long-poll ask again whether it must end (see LongPolls)."""
        self.store.wake_waiters(changed=False)
        live = self.worker.live
        if live is not None:
            live.wake()

    # -- stop

    def shutdown(self, grace_s: float, hurry: threading.Event) -> None:
        """Stop as SIGTERM asks: see the class docstring. `hurry` (a second signal) skips
        what is left of the grace."""
        self.stopping.set()
        self.store.wake_waiters()
        live = self.worker.live
        if live is not None:
            live.wake()
        self.worker.stop_taking_work()
        running = self.worker.live is not None
        if running:
            log("shutting down: the running release has %s to finish" % human_duration(
                int(grace_s * 1000)))
        deadline = time.monotonic() + grace_s
        while self.worker.is_alive() and not hurry.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.worker.thread.join(min(remaining, 0.1))
        self._close()
        log("stopped")

    def _close(self) -> None:
        """Stop what start() started, in an order where nothing is used after it stops:
        the worker (now), the port, the tree cleaner and git housekeeping, the attempt
        events (delivering what is pending), notification delivery, the other threads; then
        close the database and release its lock. Parts start() never reached are skipped."""
        self.stopping.set()
        if self.worker is not None:
            self.worker.hurry()
            if self.worker.is_alive():
                self.worker.thread.join()
            self.worker.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.workspace is not None:
            self.workspace.stop(1.0)
        stop_git_processes(self.config.db_path, 1.0)  # housekeeping in the tree cleaner
        self.events.stop()
        self.notifier.stop()
        for thread in self._threads:  # daily-cleanup (stopping), http (ended by shutdown)
            thread.join(1.0)
        if self.store is not None:
            self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()  # lets another releaser (a test's next one) take it


class ReleaseMetrics:
    """Prometheus figures since this process started (counters never go down, whatever
    cleanup deletes): an AttemptEvents listener counts each attempt that ends, by state,
    and its duration; the gauges are read from the database at each scrape."""

    BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)

    def __init__(self):
        self._lock = threading.Lock()
        self._ended = {state: 0 for state in Status.FINAL}
        self._last_ended_s: Dict[str, float] = {}
        self._buckets = [0] * len(self.BUCKETS_S)
        self._durations = 0
        self._duration_sum_s = 0.0

    def observe(self, event: str, release: Release) -> None:
        if event != "ended":
            return
        with self._lock:
            self._ended[release.status] += 1
            self._last_ended_s[release.status] = release.ended_at / 1000
            if release.duration_ms is not None:
                seconds = release.duration_ms / 1000
                self._durations += 1
                self._duration_sum_s += seconds
                for i, bound in enumerate(self.BUCKETS_S):
                    if seconds <= bound:
                        self._buckets[i] += 1

    def exposition(self, running: bool, queue_length: int) -> str:
        """The text exposition format (version 0.0.4)."""
        with self._lock:
            ended, last = dict(self._ended), dict(self._last_ended_s)
            buckets, count, total = list(self._buckets), self._durations, self._duration_sum_s
        lines = []

        def family(name, kind, text, samples):
            # A sample's `labels` may start with the name's suffix (a histogram's _bucket).
            lines.extend(["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind)])
            lines.extend("%s%s %s" % (name, labels, _number(value))
                         for labels, value in samples)

        family("releaser_releases_total", "counter",
               "Release attempts that reached a final state since the releaser started.",
               [('{state="%s"}' % state, ended[state]) for state in Status.FINAL])
        family("releaser_release_duration_seconds", "histogram",
               "Time from an attempt's start (git included) to its end.",
               [('_bucket{le="%s"}' % _number(bound), buckets[i])
                for i, bound in enumerate(self.BUCKETS_S)]
               + [('_bucket{le="+Inf"}', count), ("_sum", total), ("_count", count)])
        family("releaser_queue_length", "gauge", "Attempts waiting in the queue.",
               [("", queue_length)])
        family("releaser_release_running", "gauge", "1 while a release runs, else 0.",
               [("", int(running))])
        family("releaser_last_release_timestamp_seconds", "gauge",
               "When the last attempt that ended in each state ended (since the start).",
               [('{state="%s"}' % state, last[state]) for state in Status.FINAL
                if state in last])
        family("releaser_build_info", "gauge", "The releaser's version.",
               [('{version="%s",python="%s"}' % (__version__, sys.version.split()[0]), 1)])
        return "\n".join(lines) + "\n"


def _number(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def log_attempt_end(event: str, release: Release) -> None:
    """The log line of every attempt's end (an AttemptEvents listener)."""
    if event == "ended":
        why = "" if release.error is None else " (%s)" % release.error
        if release.skipped_base:
            why = " (skipped: no change in the watched paths since %s)" % release.skipped_base
        log("release %s attempt %d ended: %s%s" % (release.sha, release.attempt,
                                                   release.status, why))


class Output(NamedTuple):
    """A piece of an attempt's output, as GET /release/logs answers it."""

    status: str
    data: bytes  # the kept bytes after the asked position
    start: int  # the first position still kept
    total: int  # the next position: all output ever produced


def _output_after(status: str, tail: bytes, total: int, offset: int) -> Output:
    start = total - len(tail)
    first = min(max(offset, start), total)
    return Output(status, tail[first - start:], start, total)


def _address_family(host: str) -> int:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host.strip("[]")).version == 6 \
            else socket.AF_INET
    except ValueError:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return infos[0][0] if infos else socket.AF_INET


# --- Command line ----------------------------------------------------------------------------
#
# `python3 releaser.py` (or `serve`) runs the service. The other subcommands are a client of a
# running service, for operators where no curl is (the image, `railway ssh`): they take its
# address from --url, RELEASER_URL, or PORT/HOST of the service's own variables, and its key
# from RELEASER_API_KEY, and speak only the HTTP API.

CLIENT_COMMANDS = ("status", "history", "show", "logs", "retry", "cancel", "cleanup")

#: Exit statuses of the client subcommands (`logs --follow` exits like pre-deploy.sh).
EXIT_OK, EXIT_RELEASE_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class ClientError(ReleaserError):
    """A client subcommand cannot go on: the message for the operator, and the exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE):
        super().__init__(message)
        self.status = status


class Client:
    """The HTTP API of a running releaser, for the subcommands: JSON in, JSON out."""

    def __init__(self, url: str, api_key: Optional[str], timeout: float = 90):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError("the releaser's URL must be http(s)://host[:port], not %r"
                              % strip_credentials(url))
        self.url = url.rstrip("/")
        self._parts = parts
        self._api_key = api_key
        self._timeout = timeout

    def request(self, method: str, path: str, body=None):
        """(status, headers, parsed JSON or raw bytes) of one request."""
        if self._parts.scheme == "https":
            conn = http.client.HTTPSConnection(self._parts.hostname, self._parts.port,
                                               timeout=self._timeout)
        else:
            conn = http.client.HTTPConnection(self._parts.hostname, self._parts.port,
                                              timeout=self._timeout)
        headers = {"User-Agent": "releaser-cli/" + __version__}
        if self._api_key:
            headers["Authorization"] = "Bearer " + self._api_key
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, self._parts.path.rstrip("/") + path, body=data,
                         headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ClientError("cannot reach the releaser at %s: %s"
                              % (strip_credentials(self.url), exc), EXIT_UNREACHABLE)
        finally:
            conn.close()
        if resp.getheader("Content-Type", "").startswith("application/json"):
            try:
                return resp.status, resp, json.loads(raw.decode("utf-8"))
            except ValueError:
                pass
        return resp.status, resp, raw

    def get_json(self, path: str) -> dict:
        status, _, body = self.request("GET", path)
        if status != 200 or not isinstance(body, dict):
            raise _answer_error(status, body)
        return body

    def resolve(self, sha: str) -> str:
        """A full SHA from a unique prefix of at least 7 hex digits (asked of the history)."""
        if SHA_RE.fullmatch(sha):
            return sha.lower()
        if not re.fullmatch(r"[0-9a-fA-F]{7,63}", sha):
            raise ClientError("%r is not a commit SHA or a prefix of one (7 or more hex "
                              "digits)" % sha[:80])
        rows = self.get_json("/releases?limit=500&commit-prefix=" + sha)["releases"]
        found = sorted({row["commitSha"] for row in rows})
        if not found:
            raise ClientError("no release of a commit starting with %s" % sha)
        if len(found) > 1:
            raise ClientError("%s is ambiguous: %s" % (sha, ", ".join(found)))
        return found[0]


def _answer_error(status: int, body) -> ClientError:
    message = body.get("error") if isinstance(body, dict) else None
    if message is None:
        return ClientError("the answer (HTTP %d) is not the releaser's: is the URL right?"
                           % status)
    return ClientError("HTTP %d: %s" % (status, message),
                       EXIT_UNREACHABLE if status >= 500 else EXIT_USAGE)


def _when(iso: Optional[str]) -> str:
    return iso.replace("T", " ")[:19] if iso else "-"


def _took(ms: Optional[int]) -> str:
    return human_duration(ms) if ms is not None else "-"


def _history_line(row: dict) -> str:
    outcome = row["error"] or ("exit %s" % row["exit_code"] if row["exit_code"] is not None
                               else "")
    asked = (" (asked by %s)" % ", ".join(row["requested_by"])) if row.get("requested_by") \
        else ""
    return "%s  #%-2d %-9s %s  %7s  %s%s" % (row["commitSha"][:12], row["attempt"],
                                             row["state"], _when(row["created_at"]),
                                             _took(row["duration_ms"]), outcome, asked)


def command_status(client: Client, args) -> int:
    queue_body = client.get_json("/queue")
    recent = client.get_json("/releases?limit=%d" % args.n)
    if args.json:
        print(json.dumps({"queue": queue_body, "recent": recent}, indent=2))
        return EXIT_OK
    running = queue_body["running"]
    print("running: %s" % ("nothing" if running is None else "%s attempt %d, since %s" % (
        running["git_commit_sha"], running["attempt"], _when(running["started_at"]))))
    print("queue: %s" % ("empty" if not queue_body["queue"] else ""))
    for position, item in enumerate(queue_body["queue"], 1):
        print("  %d. %s attempt %d, queued %s" % (position, item["git_commit_sha"],
                                                  item["attempt"], _when(item["queued_at"])))
    print("last attempts:")
    for row in recent["releases"]:
        print("  " + _history_line(row))
    return EXIT_OK


def command_history(client: Client, args) -> int:
    query = "/releases?limit=%d" % args.n
    if args.state:
        query += "&state=" + urllib.parse.quote(args.state)
    body = client.get_json(query)
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        for row in body["releases"]:
            print(_history_line(row))
    return EXIT_OK


def command_show(client: Client, args) -> int:
    sha = client.resolve(args.sha)
    body = client.get_json("/release?commit-sha=" + sha)
    if args.json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    details = body["details"]
    print("commit   %s\nstate    %s (attempt %d)" % (sha, body["state"], details["attempt"]))
    for label, key in (("created", "created_at"), ("started", "started_at"),
                       ("ended", "ended_at")):
        print("%-8s %s" % (label, _when(details[key])))
    print("took     %s" % _took(details["duration_ms"]))
    if details["queue_position"] is not None:
        print("queued   position %d" % details["queue_position"])
    if details["exit_code"] is not None:
        print("exit     %d" % details["exit_code"])
    if details["error"]:
        print("error    %s" % details["error"])
    print("output   %d bytes (releaser.py logs %s)" % (details["output_bytes"], sha[:12]))
    return EXIT_OK


def command_logs(client: Client, args) -> int:
    """Print the output; with --follow, long-poll until the attempt is final, and exit 0 for
    success, 1 for failed/timeout/cancelled, as pre-deploy.sh does."""
    sha = client.resolve(args.sha)
    attempt, offset, unreachable_since = args.attempt, 0, None
    out = sys.stdout.buffer
    while True:
        query = "/release/logs?commit-sha=%s&offset=%d" % (sha, offset)
        if attempt is not None:
            query += "&attempt=%d" % attempt
        if args.follow:
            query += "&wait=30"
        try:
            status, resp, body = client.request("GET", query)
        except ClientError as exc:
            if not args.follow or exc.status != EXIT_UNREACHABLE:
                raise
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > 600:
                raise
            time.sleep(2)  # a restart of the releaser: wait for it, as pre-deploy.sh does
            continue
        unreachable_since = None
        state = resp.getheader("X-Release-State")
        if status != 200 or state is None:
            raise _answer_error(status, body)
        out.write(body)
        out.flush()
        offset = int(resp.getheader("X-Log-Offset", offset))
        attempt = int(resp.getheader("X-Release-Attempt", attempt or 1))
        if not args.follow:
            return EXIT_OK
        if state in Status.FINAL:
            summary = client.get_json("/release?commit-sha=" + sha)["details"]
            print("[releaser] %s attempt %d ended: %s%s" % (
                sha[:12], attempt, state, "" if not summary["error"] else " (%s)"
                % summary["error"]), file=sys.stderr)
            return EXIT_OK if state == Status.SUCCESS else EXIT_RELEASE_FAILED
        retry_after = resp.getheader("Retry-After")
        if retry_after and retry_after.isdigit():
            time.sleep(min(int(retry_after), 10))


def command_retry(client: Client, args) -> int:
    sha = client.resolve(args.sha)
    status, _, body = client.request("POST", "/queue", {"commitSha": sha, "retry": True})
    if args.json and isinstance(body, dict):
        print(json.dumps(body, indent=2))
    if status in (200, 202):
        if not args.json:
            print(body["message"])
        return EXIT_OK
    raise _answer_error(status, body)


def command_cancel(client: Client, args) -> int:
    sha = client.resolve(args.sha)
    status, _, body = client.request("DELETE", "/queue/" + sha)
    if args.json and isinstance(body, dict):
        print(json.dumps(body, indent=2))
    if status == 200:
        if not args.json:
            print(body["message"])
        return EXIT_OK
    raise _answer_error(status, body)


def command_cleanup(client: Client, args) -> int:
    status, _, body = client.request("POST", "/cleanup",
                                     {} if args.days is None else {"days": args.days})
    if status != 200:
        raise _answer_error(status, body)
    print(json.dumps(body, indent=2) if args.json else "%s (%d deleted)"
          % (body["message"], body["deleted"]))
    return EXIT_OK


def client_url(environ: Mapping[str, str], url: Optional[str]) -> str:
    """--url, else RELEASER_URL, else the service's own address from PORT and HOST."""
    url = url or environ.get("RELEASER_URL")
    if url:
        return url
    host = environ.get("HOST") or "127.0.0.1"
    if host in ("::", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "http://%s:%s" % (host, environ.get("PORT") or "8080")


def run_client(argv: List[str], environ: Mapping[str, str]) -> int:
    """A client subcommand (CLIENT_COMMANDS); its exit status."""
    import argparse  # only here: the service itself need not load it

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the releaser's URL (default RELEASER_URL, else "
                                      "http://127.0.0.1:$PORT)")
    common.add_argument("--json", action="store_true", help="print the raw JSON answer")
    parser = argparse.ArgumentParser(
        prog="releaser.py", description="Ask a running releaser. Exit: 0 done, 1 the release "
        "failed (logs --follow), 2 refused or bad usage, 3 releaser unreachable.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, text):
        return commands.add_parser(name, help=text, parents=[common])

    command("status", "what runs, the queue, the last attempts").add_argument(
        "-n", type=int, default=5, help="how many recent attempts (5)")
    history = command("history", "attempts, newest first")
    history.add_argument("-n", type=int, default=20, help="how many (20, at most 500)")
    history.add_argument("--state", choices=Status.ALL)
    for name, text in (("show", "one commit's latest attempt"),
                       ("retry", "run a failed, timed-out or cancelled commit again"),
                       ("cancel", "cancel a queued attempt, or abort a running one")):
        command(name, text).add_argument("sha", help="full SHA or a unique prefix (7+ hex "
                                                     "digits)")
    logs = command("logs", "a commit's output")
    logs.add_argument("sha", help="full SHA or a unique prefix (7+ hex digits)")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="until the attempt ends; exit 0 success, 1 failed")
    logs.add_argument("--attempt", type=int)
    command("cleanup", "delete final attempts older than N days").add_argument(
        "--days", type=int)
    args = parser.parse_args(argv)
    handlers = {"status": command_status, "history": command_history, "show": command_show,
                "logs": command_logs, "retry": command_retry, "cancel": command_cancel,
                "cleanup": command_cleanup}
    try:
        client = Client(client_url(environ, args.url), environ.get("RELEASER_API_KEY") or None)
        return handlers[args.command](client, args)
    except ClientError as exc:
        print("releaser: %s" % exc, file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


def main(argv: Optional[List[str]] = None) -> int:
    """Run the service until SIGTERM or SIGINT, or a client subcommand. Exit status of the
    service: 0 stopped cleanly; 2 could not start (a bad setting or argument, the database
    held by another releaser, read-only or of unknown schema)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if argv and argv[0] == "--version":
        print(__version__)
        return 0
    if argv and argv[0] in CLIENT_COMMANDS:
        return run_client(argv, os.environ)
    if argv and argv != ["serve"]:
        print("releaser: unknown argument %r; run the service with no argument (or `serve`), "
              "or one of: %s (--help lists them)" % (argv[0][:80], ", ".join(CLIENT_COMMANDS)),
              file=sys.stderr)
        return 2
    environ = dict(os.environ)
    try:
        handed_over = take_handed_over_secrets(environ)
        config = Config.from_env(environ)
    except ConfigError as exc:
        print("releaser: cannot start: %s" % exc, file=sys.stderr, flush=True)
        return 2
    if not handed_over:
        reexec_in_place(environ, argv)
    # Signals are only written to a socket here; the main thread reads them, so no work (and
    # no lock) ever runs inside a signal handler.
    signal_r, signal_w = socket.socketpair()
    signal_w.setblocking(False)
    signal.set_wakeup_fd(signal_w.fileno(), warn_on_full_buffer=False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    if not become_subreaper():
        log("note: this system cannot adopt orphaned processes (prctl); a release's processes "
            "that leave its process tree are found only by RELEASER_ATTEMPT_ID")
    app = Application(config)
    try:
        app.start()
    except (StartupError, sqlite3.Error, OSError) as exc:
        print("releaser: cannot start: %s" % exc, file=sys.stderr, flush=True)
        return 2
    return_free_memory()
    hurry = threading.Event()
    done = threading.Event()
    stopper = None
    while not done.is_set():
        received = signal_r.recv(1)
        if received == b"\0":
            break
        if stopper is None:
            log("received %s: shutting down" % signal.Signals(received[0]).name)
            grace = config.shutdown_grace_s()

            def stop():
                try:
                    app.shutdown(grace, hurry)
                finally:
                    done.set()
                    signal_w.send(b"\0")

            stopper = threading.Thread(target=stop, name="shutdown")
            stopper.start()
        else:
            log("second signal: stopping the running release now")
            hurry.set()
            app.worker.hurry()
    stopper.join()
    return 0


# --- The web page ----------------------------------------------------------------------------
#
# One page, served from this file: no external assets, no build step. Its script and style
# are routes of their own, so a Content-Security-Policy of default-src 'self' holds without
# hashes (hashing would load OpenSSL). It reads the same JSON routes as every other client.

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="commit-url" content="{commit_url}">
<title>Releaser</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Releaser</h1>
  <p id="status" class="status" role="status" aria-live="polite"></p>
</header>
<main>
  <section id="now" class="card" aria-labelledby="now-title">
    <div class="card-head">
      <h2 id="now-title">Running now</h2>
      <button type="button" id="abort" class="danger" hidden>Abort</button>
    </div>
    <p id="now-summary" class="summary" aria-live="polite">Loading…</p>
    <pre id="now-log" class="log" tabindex="0" aria-label="Output of the running release" hidden></pre>
  </section>

  <section id="queue" class="card" aria-labelledby="queue-title">
    <h2 id="queue-title">Queue</h2>
    <p id="queue-empty" class="muted">Nothing is waiting.</p>
    <ol id="queue-list" class="queue-list"></ol>
  </section>

  <section id="metrics" class="card" aria-labelledby="metrics-title">
    <h2 id="metrics-title">Last 7 days</h2>
    <p id="metrics-empty" class="muted" hidden>No releases in this period.</p>
    <ul id="metrics-list" class="tiles"></ul>
  </section>

  <section id="history" class="card wide" aria-labelledby="history-title">
    <div class="card-head">
      <h2 id="history-title">History</h2>
      <div class="tools">
        <label for="state-filter">State</label>
        <select id="state-filter">
          <option value="">all</option>
          <option value="queued">queued</option>
          <option value="running">running</option>
          <option value="success">success</option>
          <option value="failed">failed</option>
          <option value="timeout">timeout</option>
          <option value="cancelled">cancelled</option>
        </select>
      </div>
    </div>
    <p class="muted hint">Newest first. Choose a row to read its output.</p>
    <div class="table-wrap">
      <table id="history-table">
        <caption class="visually-hidden">Release attempts, newest first</caption>
        <thead>
          <tr>
            <th scope="col">State</th>
            <th scope="col">Commit</th>
            <th scope="col">Attempt</th>
            <th scope="col">When</th>
            <th scope="col">How long</th>
            <th scope="col">Exit code or error</th>
            <th scope="col">Requested by</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody id="history-rows"></tbody>
      </table>
    </div>
    <p id="history-empty" class="muted" hidden>No release attempts here.</p>
    <nav class="pager" aria-label="History pages">
      <button type="button" id="newer" disabled>Newer</button>
      <span id="page-info" class="muted"></span>
      <button type="button" id="older" disabled>Older</button>
    </nav>
  </section>
</main>

<dialog id="log-dialog" aria-labelledby="log-title">
  <div class="card-head">
    <h2 id="log-title">Output</h2>
    <button type="button" id="log-close">Close</button>
  </div>
  <p id="log-meta" class="summary"></p>
  <pre id="log-text" class="log" tabindex="0"></pre>
</dialog>
</body>
</html>
"""

PAGE_JS = """'use strict';
// Releaser's web page: reads the same JSON routes as every other client. Everything shown
// is built with createElement and textContent (a release's output is untrusted text).
// Loops: `watch` refreshes queue, history and summary, then long-polls the running release
// until it ends (or waits IDLE_MS when idle); `follow` long-polls the running output.
// Every loop pauses after an error, longer each time, and honours Retry-After.
(function () {
  const FINAL = ['success', 'failed', 'timeout', 'cancelled'];
  const RETRYABLE = ['failed', 'timeout', 'cancelled'];
  const PAGE_SIZE = 20;
  const WAIT_S = 30;              // long-poll length, as pre-deploy.sh asks
  const IDLE_MS = 15000;          // refresh when nothing runs
  const HIDDEN_IDLE_MS = 60000;   // ... and when the tab is hidden
  const MAX_LOG_CHARS = 2000000;  // a live log keeps its newest part only

  const el = (id) => document.getElementById(id);
  const meta = document.querySelector('meta[name=commit-url]');
  const prefix = meta ? meta.content : '';
  const commitUrl = prefix.startsWith('https://') || prefix.startsWith('http://') ? prefix : '';

  // --- HTTP ---

  class HttpError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function retryAfter(resp) {
    const seconds = parseInt(resp.headers.get('Retry-After') || '', 10);
    return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) : 0;
  }

  async function call(method, path, body, signal) {
    const init = {method: method, credentials: 'same-origin', cache: 'no-store',
                  headers: {}, signal: signal};
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      // location.origin: a page opened as http://user:key@host/ must not put them in fetch
      return await fetch(location.origin + path, init);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new HttpError(0, 'Cannot reach the releaser (network error)', 0);
    }
  }

  async function failure(resp) {
    let message = 'HTTP ' + resp.status;
    try {
      const data = await resp.json();
      if (data && typeof data.error === 'string') message = data.error;
    } catch (err) { /* not JSON */ }
    return new HttpError(resp.status, message, retryAfter(resp));
  }

  async function json(method, path, body) {
    const resp = await call(method, path, body);
    if (!resp.ok) throw await failure(resp);
    return resp.json();
  }

  function describe(err) {
    if (err.status === 401) {
      return 'Not signed in: the releaser refused the key (401). Reload the page and give ' +
             'the API key as the password (any user name).';
    }
    if (err.status === 0) return err.message;
    return err.message + ' (HTTP ' + err.status + ')';
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function pauseAfter(failures, err) {
    const backoff = Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5)));
    return Math.max(backoff, (err && err.retryAfter ? err.retryAfter : 0) * 1000);
  }

  // --- Status line: loop errors come and go by themselves; a message about an action stays
  // until the next one.

  const statusLine = el('status');
  let loopError = false;

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = 'status' + (kind ? ' ' + kind : '');
    loopError = kind === 'error loop';
  }

  function loopFailed(err, pauseMs) {
    say(describe(err) + '; trying again in ' + Math.round(pauseMs / 1000) + ' s.', 'error loop');
  }

  function loopRecovered() {
    if (loopError) say('', '');
  }

  // --- Formatting ---

  function node(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function commit(sha) {
    const short = sha.slice(0, 12);
    let e;
    if (commitUrl) {
      e = node('a', 'sha', short);
      e.href = commitUrl + sha;
      e.rel = 'noopener noreferrer';
    } else {
      e = node('code', 'sha', short);
    }
    e.title = sha;
    return e;
  }

  function badge(state) {
    return node('span', 'badge state-' + state, state);
  }

  function when(iso) {
    if (!iso) return node('span', 'muted', '–');
    const date = new Date(iso);
    const today = new Date().toDateString() === date.toDateString();
    const text = today
      ? date.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'})
      : date.toLocaleString([], {month: 'short', day: 'numeric', hour: '2-digit',
                                 minute: '2-digit'});
    const e = node('time', null, text);
    e.dateTime = iso;
    e.title = date.toString();
    return e;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return ms + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.floor(s % 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }

  function button(text, className, label, onClick) {
    const b = node('button', className, text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  // --- Actions ---

  async function act(buttonEl, busyText, method, path, body) {
    const label = buttonEl.textContent;
    buttonEl.disabled = true;
    buttonEl.textContent = busyText;
    try {
      const data = await json(method, path, body);
      say(data.message || 'Done.', 'ok');
    } catch (err) {
      say(describe(err), 'error');
    } finally {
      buttonEl.disabled = false;
      buttonEl.textContent = label;
      nudge();
    }
  }

  const cancel = (b, sha) => act(b, 'Cancelling…', 'DELETE', '/queue/' + sha);
  const retry = (b, sha) => act(b, 'Retrying…', 'POST', '/queue', {commitSha: sha, retry: true});

  // --- Running now: the followed attempt and its live output ---

  const nowSummary = el('now-summary');
  const nowLog = el('now-log');
  const abortButton = el('abort');
  let followed = null;  // {sha, attempt, offset, state, controller, decoder, chars}
  let abortArmed = null;

  function renderNow(running) {
    nowSummary.replaceChildren();
    if (followed && !FINAL.includes(followed.state)) {
      nowSummary.append(badge('running'), ' ', commit(followed.sha),
                        ' attempt ' + followed.attempt);
      if (running && running.started_at) nowSummary.append(', since ', when(running.started_at));
      abortButton.hidden = false;
    } else {
      abortButton.hidden = true;
      disarmAbort();
      nowSummary.append('Nothing is running.');
      if (followed) {
        nowSummary.append(' Last: ', commit(followed.sha), ' attempt ' + followed.attempt + ' ',
                          badge(followed.state));
      }
    }
  }

  function disarmAbort() {
    if (abortArmed) clearTimeout(abortArmed);
    abortArmed = null;
    if (!abortButton.disabled) abortButton.textContent = 'Abort';
  }

  abortButton.addEventListener('click', () => {
    if (!followed) return;
    if (!abortArmed) {  // a second click within 5 s confirms: stopping a release is final
      abortButton.textContent = 'Confirm abort';
      abortArmed = setTimeout(disarmAbort, 5000);
      return;
    }
    disarmAbort();
    say('Stopping the release of ' + followed.sha.slice(0, 12) + '…', '');
    act(abortButton, 'Aborting…', 'DELETE', '/queue/' + followed.sha);
  });

  function appendOutput(pre, tracker, text) {
    if (!text) return;
    const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    pre.append(document.createTextNode(text));
    tracker.chars += text.length;
    while (tracker.chars > MAX_LOG_CHARS && pre.firstChild && pre.firstChild !== pre.lastChild) {
      tracker.chars -= pre.firstChild.textContent.length;
      pre.firstChild.remove();
    }
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  function number(resp, name) {
    const value = parseInt(resp.headers.get(name) || '', 10);
    return Number.isFinite(value) ? value : null;
  }

  function follow(running) {
    if (followed) followed.controller.abort();
    followed = {sha: running.git_commit_sha, attempt: running.attempt, offset: 0,
                state: 'running', controller: new AbortController(),
                decoder: new TextDecoder('utf-8'), chars: 0};
    nowLog.replaceChildren();
    nowLog.hidden = false;
    followLoop(followed);
  }

  async function followLoop(f) {
    let failures = 0;
    while (followed === f && !FINAL.includes(f.state)) {
      const started = Date.now();
      try {
        const resp = await call('GET', '/release/logs?commit-sha=' + f.sha + '&attempt=' +
                                f.attempt + '&offset=' + f.offset + '&wait=' + WAIT_S,
                                undefined, f.controller.signal);
        if (!resp.ok) throw await failure(resp);
        const bytes = await resp.arrayBuffer();
        if (followed !== f) return;
        failures = 0;
        const state = resp.headers.get('X-Release-State') || f.state;
        const start = number(resp, 'X-Log-Start');
        const next = number(resp, 'X-Log-Offset');
        if (start !== null && start > f.offset) {
          appendOutput(nowLog, f, '[output before byte ' + start + ' was dropped]' +
                       String.fromCharCode(10));
        }
        appendOutput(nowLog, f, f.decoder.decode(bytes, {stream: !FINAL.includes(state)}));
        f.offset = next !== null ? next : f.offset + bytes.byteLength;
        if (state !== f.state) {
          f.state = state;
          renderNow(null);
          if (FINAL.includes(state)) nudge();
        }
        const pause = retryAfter(resp) * 1000;
        if (pause) await sleep(pause);
        else if (bytes.byteLength === 0 && Date.now() - started < 2000) await sleep(1000);
      } catch (err) {
        if (err.name === 'AbortError' || followed !== f) return;
        failures += 1;
        const pause = pauseAfter(failures, err);
        loopFailed(err, pause);
        await sleep(pause);
      }
    }
  }

  // --- Queue ---

  const queueList = el('queue-list');

  function renderQueue(data) {
    queueList.replaceChildren();
    for (const item of data.queue) {
      const li = node('li', 'queue-item');
      const what = node('span', 'what');
      what.append(commit(item.git_commit_sha));
      if (item.attempt > 1) what.append(' attempt ' + item.attempt);
      what.append(node('span', 'muted', ' queued '), when(item.queued_at));
      li.append(what, button('Cancel', 'small', 'Cancel the release of ' +
                             item.git_commit_sha.slice(0, 12),
                             (ev) => cancel(ev.currentTarget, item.git_commit_sha)));
      li.dataset.sha = item.git_commit_sha;
      queueList.append(li);
    }
    el('queue-empty').hidden = data.queue.length > 0;
    el('queue-title').textContent = data.queue.length ? 'Queue (' + data.queue.length +
                                                        ' waiting)' : 'Queue';
  }

  // --- History: cursor paging (a stack of `before` cursors) and a state filter ---

  const historyRows = el('history-rows');
  const stateFilter = el('state-filter');
  const cursors = [];       // the `before` of each page shown before this one
  let cursor = null;        // this page's `before`
  let nextCursor = null;
  let historySeq = 0;
  const latestAttempt = new Map();  // sha -> highest attempt seen (queue, running, history)

  function historyPath() {
    let path = '/releases?limit=' + PAGE_SIZE;
    if (cursor) path += '&before=' + encodeURIComponent(cursor);
    if (stateFilter.value) path += '&state=' + encodeURIComponent(stateFilter.value);
    return path;
  }

  function noteAttempt(sha, attempt) {
    if ((latestAttempt.get(sha) || 0) < attempt) latestAttempt.set(sha, attempt);
  }

  function renderHistory(data) {
    historyRows.replaceChildren();
    for (const r of data.releases) noteAttempt(r.commitSha, r.attempt);
    for (const r of data.releases) {
      const tr = node('tr');
      tr.dataset.sha = r.commitSha;
      tr.dataset.attempt = String(r.attempt);
      tr.dataset.state = r.state;
      const cells = [badge(r.state), commit(r.commitSha), String(r.attempt),
                     when(r.started_at || r.created_at), duration(r.duration_ms)];
      const result = [];
      if (r.skipped_base) result.push('skipped: nothing watched changed since ' + r.skipped_base.slice(0, 12));
      if (r.exit_code !== null && r.exit_code !== undefined) result.push('exit ' + r.exit_code);
      if (r.error && r.error !== 'release command exited with status ' + r.exit_code) {
        result.push(r.error);
      }
      cells.push(node('span', 'result', result.join(' · ') || '–'));
      cells.push((r.requested_by || []).join(', ') || '–');
      for (const c of cells) {
        const td = node('td');
        td.append(c);
        tr.append(td);
      }
      const actions = node('td', 'actions');
      actions.append(button('Output', 'small', 'Output of ' + r.commitSha.slice(0, 12) +
                            ' attempt ' + r.attempt, () => openLog(r)));
      if (RETRYABLE.includes(r.state) && latestAttempt.get(r.commitSha) === r.attempt) {
        actions.append(' ', button('Retry', 'small', 'Retry ' + r.commitSha.slice(0, 12),
                                   (ev) => retry(ev.currentTarget, r.commitSha)));
      }
      tr.append(actions);
      tr.addEventListener('click', (ev) => {
        if (!ev.target.closest('a, button')) openLog(r);
      });
      historyRows.append(tr);
    }
    el('history-empty').hidden = data.releases.length > 0;
    nextCursor = data.next;
    el('older').disabled = !nextCursor;
    el('newer').disabled = cursors.length === 0;
    const first = cursors.length * PAGE_SIZE + 1;
    el('page-info').textContent = data.releases.length
      ? 'Page ' + (cursors.length + 1) + ' · ' + first + '–' + (first + data.releases.length - 1)
      : '';
  }

  async function loadHistory() {
    const seq = ++historySeq;
    try {
      const data = await json('GET', historyPath());
      if (seq === historySeq) renderHistory(data);
    } catch (err) {
      say(describe(err), 'error');
    }
  }

  el('older').addEventListener('click', () => {
    if (!nextCursor) return;
    cursors.push(cursor);
    cursor = nextCursor;
    loadHistory();
  });
  el('newer').addEventListener('click', () => {
    if (!cursors.length) return;
    cursor = cursors.pop();
    loadHistory();
  });
  stateFilter.addEventListener('change', () => {
    cursors.length = 0;
    cursor = null;
    loadHistory();
  });

  // --- One attempt's output, in a dialog ---

  const dialog = el('log-dialog');
  const dialogText = el('log-text');
  let dialogSeq = 0;

  async function openLog(r) {
    const seq = ++dialogSeq;
    el('log-title').textContent = 'Output of ' + r.commitSha.slice(0, 12) + ', attempt ' +
                                  r.attempt;
    const metaLine = el('log-meta');
    metaLine.replaceChildren(badge(r.state), ' ', commit(r.commitSha), ' · loading…');
    dialogText.replaceChildren();
    if (!dialog.open) dialog.showModal();
    try {
      const resp = await call('GET', '/release/logs?commit-sha=' + r.commitSha + '&attempt=' +
                              r.attempt);
      if (!resp.ok) throw await failure(resp);
      const text = new TextDecoder('utf-8').decode(await resp.arrayBuffer());
      if (seq !== dialogSeq) return;
      const state = resp.headers.get('X-Release-State') || r.state;
      const start = number(resp, 'X-Log-Start');
      metaLine.replaceChildren(badge(state), ' ', commit(r.commitSha), ' · ' +
                               (number(resp, 'X-Log-Offset') || 0) + ' bytes');
      if (start) metaLine.append(' (the first ' + start + ' were dropped)');
      if (!FINAL.includes(state)) metaLine.append(' · still ' + state);
      dialogText.textContent = text || '(no output)';
    } catch (err) {
      if (seq === dialogSeq) metaLine.replaceChildren(describe(err));
    }
  }

  el('log-close').addEventListener('click', () => dialog.close());

  // --- 7-day summary ---

  function renderMetrics(data) {
    const list = el('metrics-list');
    list.replaceChildren();
    el('metrics-title').textContent = 'Last ' + data.period;
    const order = ['success', 'failed', 'timeout', 'cancelled', 'running', 'queued'];
    const metrics = data.metrics.slice().sort((a, b) =>
      order.indexOf(a.release_status) - order.indexOf(b.release_status));
    for (const m of metrics) {
      const li = node('li', 'tile');
      li.append(badge(m.release_status), node('strong', 'count', m.count),
                node('span', 'muted', m.avg_duration_minutes === null ? 'no duration'
                  : m.avg_duration_minutes === 0 ? 'avg < 1 s'
                  : 'avg ' + duration(Math.round(m.avg_duration_minutes * 60000))));
      list.append(li);
    }
    el('metrics-empty').hidden = data.metrics.length > 0;
  }

  // --- Refreshing: one refresh at a time; asks made meanwhile coalesce into one more ---

  let refreshing = null;
  let refreshAgain = false;
  let lastRefresh = 0;

  async function refreshOnce() {
    const seq = ++historySeq;
    const [queue, history, metrics] = await Promise.all([
      json('GET', '/queue'), json('GET', historyPath()), json('GET', '/metrics')]);
    for (const item of queue.queue) noteAttempt(item.git_commit_sha, item.attempt);
    if (queue.running) noteAttempt(queue.running.git_commit_sha, queue.running.attempt);
    renderQueue(queue);
    if (seq === historySeq) renderHistory(history);
    renderMetrics(metrics);
    const running = queue.running;
    if (running && (!followed || followed.sha !== running.git_commit_sha ||
                    followed.attempt !== running.attempt)) {
      follow(running);
    }
    renderNow(running);
    return queue;
  }

  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        let queue;
        do {
          refreshAgain = false;
          queue = await refreshOnce();
        } while (refreshAgain);
        return queue;
      } finally {
        refreshing = null;
        lastRefresh = Date.now();
      }
    })();
    return refreshing;
  }

  function refreshQuietly() {
    refresh().then(loopRecovered, (err) => say(describe(err), 'error'));
  }

  // After an action or an attempt's end: the watch loop looks at once (and, if something
  // runs now, long-polls it), or, when it is busy long-polling, a refresh runs beside it.
  function nudge() {
    if (wakeIdle) wakeIdle();
    else refreshQuietly();
  }

  // --- The watch loop ---

  let wakeIdle = null;

  function idle(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (wakeIdle === done) wakeIdle = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeIdle = done;
    });
  }

  async function waitForTheRunningOne(queue) {  // answers when it is final, or after WAIT_S
    const resp = await call('GET', '/release?commit-sha=' + queue.running.git_commit_sha +
                            '&wait=' + WAIT_S);
    if (!resp.ok && resp.status !== 404) throw await failure(resp);
    await resp.arrayBuffer();
    const pause = retryAfter(resp) * 1000;
    if (pause) await sleep(pause);
  }

  async function watch() {
    let failures = 0;
    for (;;) {
      const started = Date.now();
      try {
        const queue = await refresh();
        failures = 0;
        loopRecovered();
        if (queue.running) await waitForTheRunningOne(queue);
        else await idle(document.hidden ? HIDDEN_IDLE_MS : IDLE_MS);
      } catch (err) {
        failures += 1;
        const pause = pauseAfter(failures, err);
        loopFailed(err, pause);
        await idle(pause);
        continue;
      }
      const spent = Date.now() - started;
      if (spent < 1000) await sleep(1000 - spent);  // never more than one round a second
    }
  }

  function onReturn() {
    if (document.hidden || Date.now() - lastRefresh < 2000) return;
    nudge();
  }

  document.addEventListener('visibilitychange', onReturn);
  window.addEventListener('focus', onReturn);
  watch();
})();
"""

PAGE_CSS = """:root {
  color-scheme: light dark;
  --bg: #f4f5f7;
  --fg: #1d2127;
  --muted: #5d6570;
  --card: #ffffff;
  --line: #d9dde3;
  --accent: #1f5fbf;
  --log-bg: #10141a;
  --log-fg: #e3e7ec;
  --ok: #17703a;
  --ok-bg: #dcf3e4;
  --bad: #b3261e;
  --bad-bg: #fbe1de;
  --warn: #8a5200;
  --warn-bg: #fdecc8;
  --run: #1f5fbf;
  --run-bg: #dde8fb;
  --wait: #6a3fb5;
  --wait-bg: #ebe2fa;
  --off: #4f5661;
  --off-bg: #e6e8eb;
}

@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151a;
    --fg: #e4e7eb;
    --muted: #9aa3ae;
    --card: #1b1f26;
    --line: #2f3540;
    --accent: #7fb0ff;
    --log-bg: #0b0d11;
    --log-fg: #d8dde4;
    --ok: #7ddc9c;
    --ok-bg: #173322;
    --bad: #ff9a90;
    --bad-bg: #3d1b19;
    --warn: #ffc46b;
    --warn-bg: #3a2a10;
    --run: #9cc2ff;
    --run-bg: #1a2a45;
    --wait: #c9afff;
    --wait-bg: #2c2145;
    --off: #b4bbc4;
    --off-bg: #2a2f37;
  }
}

[hidden] { display: none !important; }

* { box-sizing: border-box; }

html { -webkit-text-size-adjust: 100%; }

body {
  margin: 0;
  background: var(--bg);
  color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}

a { color: var(--accent); }

code, pre, .sha { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }

.sha { font-size: 0.92em; white-space: nowrap; }

.top {
  display: flex;
  flex-wrap: wrap;
  align-items: baseline;
  gap: 0.25rem 1rem;
  max-width: 76rem;
  margin: 0 auto;
  padding: 1rem 1rem 0;
}

h1 { font-size: 1.4rem; margin: 0; }

h2 { font-size: 1.05rem; margin: 0 0 0.6rem; }

.status { margin: 0; min-height: 1.45em; color: var(--muted); flex: 1 1 16rem; }
.status.error { color: var(--bad); }
.status.ok { color: var(--ok); }

main {
  display: grid;
  grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
  gap: 1rem;
  max-width: 76rem;
  margin: 0 auto;
  padding: 1rem;
}

#now, .wide { grid-column: 1 / -1; }

.card {
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: 10px;
  padding: 0.9rem 1rem;
  min-width: 0;
}

.card-head {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  justify-content: space-between;
  gap: 0.5rem;
  margin-bottom: 0.6rem;
}
.card-head h2 { margin: 0; }

.summary { margin: 0 0 0.6rem; overflow-wrap: anywhere; }

.muted { color: var(--muted); }

.log {
  margin: 0;
  padding: 0.75rem;
  max-height: 24rem;
  overflow: auto;
  background: var(--log-bg);
  color: var(--log-fg);
  border: 1px solid var(--line);
  border-radius: 8px;
  font-size: 13px;
  line-height: 1.4;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

button, select {
  font: inherit;
  color: inherit;
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: 7px;
  padding: 0.35rem 0.8rem;
  cursor: pointer;
}
button:hover:not(:disabled) { border-color: var(--accent); }
button:focus-visible, select:focus-visible, a:focus-visible, .log:focus-visible {
  outline: 2px solid var(--accent);
  outline-offset: 2px;
}
button:disabled { opacity: 0.5; cursor: default; }
button.small { padding: 0.15rem 0.6rem; font-size: 0.9em; }
button.danger { color: var(--bad); border-color: var(--bad); }

.badge {
  display: inline-block;
  padding: 0.05rem 0.5rem;
  border-radius: 999px;
  font-size: 0.85em;
  font-weight: 600;
  white-space: nowrap;
}
.state-success { color: var(--ok); background: var(--ok-bg); }
.state-failed { color: var(--bad); background: var(--bad-bg); }
.state-timeout { color: var(--warn); background: var(--warn-bg); }
.state-cancelled { color: var(--off); background: var(--off-bg); }
.state-running { color: var(--run); background: var(--run-bg); }
.state-queued { color: var(--wait); background: var(--wait-bg); }

.queue-list { margin: 0; padding: 0 0 0 1.5rem; }
.queue-item { padding: 0.3rem 0; border-bottom: 1px solid var(--line); }
.queue-item:last-child { border-bottom: 0; }
.queue-item .what { margin-right: 0.5rem; }

.tiles {
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(6.5rem, 1fr));
  gap: 0.5rem;
  margin: 0;
  padding: 0;
  list-style: none;
}
.tile {
  display: flex;
  flex-direction: column;
  align-items: flex-start;
  gap: 0.15rem;
  padding: 0.5rem 0.7rem;
  border: 1px solid var(--line);
  border-radius: 8px;
}
.tile .count { font-size: 1.4rem; line-height: 1.1; }
.tile .muted { font-size: 0.85em; }

.tools { display: flex; align-items: center; gap: 0.5rem; }

.table-wrap {
  position: relative;  /* holds the visually hidden header inside the scrolling box */
  overflow-x: auto;
  border: 1px solid var(--line);
  border-radius: 8px;
}

table { width: 100%; border-collapse: collapse; font-size: 0.93em; }
.hint { margin: 0 0 0.5rem; font-size: 0.9em; }
th, td {
  padding: 0.45rem 0.6rem;
  text-align: left;
  vertical-align: top;
}
tbody td { border-top: 1px solid var(--line); }
th { font-weight: 600; white-space: nowrap; }
td { white-space: nowrap; }
td .result {
  display: inline-block;
  max-width: 22rem;
  white-space: normal;
  overflow-wrap: anywhere;
}
td.actions { text-align: right; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: var(--bg); }

.pager {
  display: flex;
  align-items: center;
  justify-content: space-between;
  gap: 0.5rem;
  margin-top: 0.6rem;
}

dialog {
  width: min(60rem, calc(100vw - 2rem));
  max-height: calc(100vh - 2rem);
  padding: 1rem;
  background: var(--card);
  color: var(--fg);
  border: 1px solid var(--line);
  border-radius: 10px;
}
dialog::backdrop { background: rgba(0, 0, 0, 0.5); }
dialog .log { max-height: 65vh; }

.visually-hidden {
  position: absolute;
  width: 1px;
  height: 1px;
  margin: -1px;
  padding: 0;
  border: 0;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
}

@media (max-width: 700px) {
  main { grid-template-columns: minmax(0, 1fr); padding: 0.75rem; gap: 0.75rem; }
  .top { padding: 0.75rem 0.75rem 0; }
  .card { padding: 0.75rem; }
  .log { max-height: 16rem; }
}
"""


def html_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


if __name__ == "__main__":
    sys.exit(main())
