#!/usr/bin/env python3
"""Benchmark of Releaser: starts the real service on loopback and measures it.

Run it from the project folder (standard library only, Python 3.9+; `wrk` and `curl` optional):

    python3 bench_releaser.py            # the full benchmark, a few minutes
    python3 bench_releaser.py --quick    # a small one that shows the script still works (< 60 s)
    python3 bench_releaser.py --only git --releaser /tmp/patched/releaser.py   # one part, a copy

Options: --only service|crowd|git|skip|history (repeatable), --client auto|wrk|python,
--work-dir DIR, --releaser PATH, --pre-deploy PATH, --keep (keep the run folder with the
servers' logs), --baseline-cmd CMD (and --baseline-sha-param, --baseline-state-field,
--baseline-poll-ms): see "Side by side" below.
Figures are wall-clock times on a machine of 2 cores: other work on it shows in them, so the
load average before and after the run is printed with the table, and a comparison with another
implementation means something only when both were measured in the same run (--baseline-cmd).

It starts `python3 releaser.py` as a subprocess (HOST=127.0.0.1, PORT=0, a database in a
temporary folder) against git repositories it generates itself, served as file:// URLs so
that git speaks its pack protocol as it would to a remote. Every request goes to 127.0.0.1.

Every request carries an API key (`X-API-Key`), as in production, where the service listens
beyond loopback and needs one.

What it measures (each figure is printed as one `name: value unit` line, then all of them in
a table with their target and PASS/MISS):

  dispatch      POST /queue answered -> the release command started (its first line writes
                `date +%s%N` to a file), on an idle service; median and p95. Includes git
                bringing in the commit, checking that it is on a branch (each commit is made
                the tip of `main` before its POST, as a deploy follows a push: one `git
                ls-remote`) and laying out its tree. "Back to back": with releases queued (the
                branch at the last of them, the others older commits of it), the end of one
                release command -> the start of the next.
  completion    the release command's last line -> a client already waiting in
                `GET /release?commit-sha=<sha>&wait=60` sees `success`; and -> `pre-deploy.sh
                <sha>` (started while the release ran) exits 0. When pre-deploy.sh is missing
                or fails, that figure is reported as unavailable.
  git           on a generated repository with a long, large history (thousands of commits,
                200 MB of random blobs deleted again, so the current tree is small): the first
                release on a fresh work dir and a later release (the next commit, same work dir),
                each from POST to command start, against a full `git clone` + `git checkout`
                and a shallow fetch of that commit (`git init` + `git fetch --depth 1` +
                `git checkout`), both done by this script in the same run as yardsticks.
                Each of those two is the tip of the branch when it is queued (the benchmark
                moves the branch, as a push would). Then the branch check's other path
                (issue 10): a rollback, a commit 1,000 behind the tip and not in the cache
                (the release command fails), and its retry, now cached; the size of the
                cached clone before and after, and of allowed.git, the commits-only partial
                clone the releaser checks ancestry in; and git's part of the check as
                yardsticks: `git ls-remote --heads`, and the fetch of the branch since a day
                before the rollback commit (`--shallow-since`), commits only
                (`--filter=tree:0`) into an empty partial clone as the releaser fills
                allowed.git, again (nothing new), and with files into a depth-1 clone (the
                check before allowed.git). The served repositories allow filters
                (`uploadpack.allowFilter`), as GitHub and GitLab do.
  skip          RELEASER_WATCH_PATHS set to a path no generated commit changes, on the large
                repository (issue 12): POST /queue -> a client in `GET /release?wait=60` sees
                the final state of a release whose command is skipped, (a) when the commit
                and the base (the last release whose command ran) are both in the cache (a
                retry of a commit whose first attempt failed before the base was released),
                (b) when the commit is new (pushed, the tip; one shallow fetch, the branch
                check, a tree diff), against a shallow fetch and checkout in an empty
                repository and a depth-1 fetch into a clone holding the base, as yardsticks;
                and the idle VmRSS after those releases.
  status        requests/s and p99 latency of `GET /release` and `GET /healthcheck` with 8 and
                32 concurrent keep-alive clients: by `wrk --latency` when it is installed, else
                by a Python keep-alive client (processes of threads using http.client); the
                table says which client produced each figure.
  crowd         with a release running, 600 connections (more than the 512 served at once)
                each send a long-poll of it, one after the other from one client: the time
                to open them all (a listen backlog that overflows shows as 1 s SYN retries),
                then a `GET /healthcheck` and a `POST /queue` on new connections, timed: the
                oldest long-polls yield their places so that these still answer. Three
                rounds (one with --quick), each on a fresh server; medians.
  memory        the server's VmRSS (/proc/<pid>/status) idle, at start and after releases,
                and its peak while under the status load.
  history       `GET /metrics` (7 days, the default, and 30 days: every row) and `GET /queue`
                with 1,000,000 release records (20,000 with --quick) written straight into the
                database while the service was stopped, spread over the last 30 days; and
                `GET /releases` on them (issue 11: a page in under 50 ms): the first page
                (limit=50), a page half way down (`before=`), `state=failed` and
                `state=success` (first page and half way down), `commit-sha=` and
                `commit-prefix=` (7 digits), each 40 times on a keep-alive connection:
                median and p95.

Side by side: `--baseline-cmd '<command>'` starts a second releaser, one that speaks the seed's
API (the original Node implementation, say), and measures the service part (startup,
dispatch, completion, back to back, status load, memory) on it as well, interleaved with
releaser.py in the same run: ours, baseline, ours, baseline (two rounds, each with half the
samples; each status load run twice on each). The table then gets a baseline column and each
figure's ratio, ours / baseline (1/74: ours is 74 times lower). The command is split into
words as a shell would, but run without one (use `env NAME=value ...` to set variables); it
should start the server process itself, not a launcher such as `npm start`, whose own memory
would be counted (memory is the VmRSS of the process and its children). It runs in a folder
of its own (its working directory) with the seed's variables: RELEASER_GIT_URL (the same
generated repository), RELEASER_RELEASE_COMMAND (the same timestamping command; the baseline
sets RELEASER_GIT_COMMIT_SHA for it), SQLITE_DB_PATH (relative: db/releaser.sqlite),
HOST=127.0.0.1, PORT (a free port; it must listen on 127.0.0.1 there), and the API key as
both RELEASER_API_KEY and API_KEY. It is ready when `GET /healthcheck` answers 200.
`--baseline-sha-param` names its query parameter of `GET /release` (the original code's is
`commitSha`), `--baseline-state-field` the field of that answer holding the state, dotted
for a nested one (`release_status`, or `details.release_status`). A baseline without
long-polls (the seed has none) is polled every `--baseline-poll-ms` ms (default 20), and the
table says so; 0 long-polls it as releaser.py is (`&wait=60`). pre-deploy.sh speaks this
project's API, so its figure is ours only. With a baseline, each release is queued at a
random moment (a pause of 0.2 to 5.2 s before each POST, the same pauses for both), as deploys
arrive: a baseline that looks at its queue on a timer (the seed: every 5 s) would otherwise be
caught at the same phase of that timer every time. The crowd, git, skip and history parts
are ours only.

Generated repositories are cached in the work folder (default /tmp/bench-work, --work-dir),
so reruns skip generating them; everything else lives in a run folder inside it that is
removed at the end, also on Ctrl-C, after the servers and clients were stopped.

Exit status: 0 when every measurement ran (a missed target is reported, not a failure);
1 when a measurement could not run at all; 130 when interrupted.
"""

import argparse
import contextlib
import dataclasses
import glob
import hashlib
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Set, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
LISTENING_RE = re.compile(r"releaser: listening on http://(\S+):(\d+) ")


class BenchError(Exception):
    """A measurement could not be made (as opposed to a target being missed)."""


def note(message: str) -> None:
    """Progress for the person watching; figures go to standard output, this to stderr."""
    print("bench: " + message, file=sys.stderr, flush=True)


# --- Settings --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RepoSpec:
    commits: int
    history_mb: int  # random, incompressible blobs added and deleted again along the history


@dataclasses.dataclass(frozen=True)
class Settings:
    quick: bool
    samples: int  # dispatch / completion samples
    back_to_back: int  # releases queued at once
    release_sleep_s: float  # how long the release command runs in the completion samples
    load_seconds: float  # per status-load run
    history_rows: int
    small_repo: RepoSpec
    big_repo: RepoSpec
    git_samples: int  # fresh work dirs (first + later release each), yardstick runs

    @classmethod
    def make(cls, quick: bool) -> "Settings":
        if quick:
            return cls(quick=True, samples=5, back_to_back=4, release_sleep_s=0.3,
                       load_seconds=2.0, history_rows=20000, small_repo=RepoSpec(40, 0),
                       big_repo=RepoSpec(200, 4), git_samples=1)
        return cls(quick=False, samples=20, back_to_back=10, release_sleep_s=0.5,
                   load_seconds=10.0, history_rows=1000000, small_repo=RepoSpec(60, 0),
                   big_repo=RepoSpec(3000, 200), git_samples=3)


# --- Figures and the summary table -----------------------------------------------------------


@dataclasses.dataclass
class Target:
    text: str
    met: Callable[[float], bool]


def below(limit: float, unit: str) -> Target:
    return Target("< %s %s" % (_number(limit), unit), lambda value: value < limit)


def at_least(limit: float, unit: str) -> Target:
    return Target(">= %s %s" % (_number(limit), unit), lambda value: value >= limit)


@dataclasses.dataclass
class Figure:
    name: str
    value: Optional[float]  # None: unavailable
    unit: str
    target: Optional[Target] = None
    note: str = ""
    baseline: Optional[float] = None  # the same figure on the baseline, in the same run
    baseline_note: str = ""  # how the baseline's figure differs, or why it is unavailable

    def result(self) -> str:
        if self.value is None:
            return "n/a"
        if self.target is None:
            return "-"
        return "PASS" if self.target.met(self.value) else "MISS"

    def value_text(self) -> str:
        return _value_text(self.value, self.unit)

    def baseline_text(self) -> str:
        if self.baseline is None and not self.baseline_note:
            return "-"  # not measured on the baseline
        return _value_text(self.baseline, self.unit)

    def ratio_text(self) -> str:
        """ours / baseline: "0.96", or "1/74" when ours is 74 times lower."""
        if self.value is None or not self.baseline:
            return "-"
        ratio = self.value / self.baseline
        if ratio < 0.5:
            inverse = 1 / ratio
            return "1/" + ("{:,.0f}".format(inverse) if inverse >= 10 else "%.1f" % inverse)
        return "%.2f" % ratio

    def notes(self) -> str:
        if not self.baseline_note:
            return self.note
        return "%s; baseline: %s" % (self.note, self.baseline_note) if self.note \
            else "baseline: " + self.baseline_note


def _value_text(value: Optional[float], unit: str) -> str:
    return "unavailable" if value is None else "%s %s" % (_number(value), unit)


def _number(value: float) -> str:
    if isinstance(value, int) or value >= 100:
        return "{:,.0f}".format(value)
    if value >= 10:
        return "%.1f" % value
    return "%.2f" % value


class Report:
    """Collects figures, printing each as it is measured and all of them in a table at the end.
    With a baseline (`baseline_label`), the table has its column and the ratios."""

    def __init__(self, baseline_label: str = ""):
        self.figures: List[Figure] = []
        self.failures: List[str] = []
        self.baseline_label = baseline_label

    def add(self, name, value, unit, target=None, note_text="", baseline=None,
            baseline_note="") -> Figure:
        figure = Figure(name, value, unit, target, note_text, baseline, baseline_note)
        self.figures.append(figure)
        line = "%s: %s" % (name, figure.value_text())
        if value is None and note_text:
            line += " (%s)" % note_text
        if self.baseline_label and figure.baseline_text() != "-":
            line += "  | baseline: %s | ours/baseline: %s" % (figure.baseline_text(),
                                                              figure.ratio_text())
        print(line, flush=True)
        return figure

    def failed(self, section: str, error: BaseException) -> None:
        self.failures.append("%s: %s" % (section, error))
        note("%s could not be measured: %s" % (section, error))

    def table(self) -> str:
        if self.baseline_label:
            header = ("figure", "value", "target", "result", self.baseline_label,
                      "ours/baseline", "client / notes")
            rows = [(f.name, f.value_text(), f.target.text if f.target else "-", f.result(),
                     f.baseline_text(), f.ratio_text(), f.notes()) for f in self.figures]
        else:
            header = ("figure", "value", "target", "result", "client / notes")
            rows = [(f.name, f.value_text(), f.target.text if f.target else "-", f.result(),
                     f.notes()) for f in self.figures]
        rows.insert(0, header)
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        lines = []
        for i, row in enumerate(rows):
            cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 14)
        for failure in self.failures:
            lines.append("NOT MEASURED  " + failure)
        return "\n".join(lines)


def median(values: List[float]) -> float:
    return statistics.median(values)


def percentile(values: List[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- Processes and clean-up ------------------------------------------------------------------


class Cleanup:
    """Everything to stop or delete at the end, whatever happens (Ctrl-C included)."""

    def __init__(self):
        self.processes: List[subprocess.Popen] = []
        self.servers: List["Server"] = []
        self.dirs: List[str] = []
        self.keep = False

    def run(self) -> None:
        for server in list(self.servers):
            server.stop()
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for path in self.dirs:
            if self.keep:
                note("kept %s" % path)
            else:
                shutil.rmtree(path, ignore_errors=True)


CLEANUP = Cleanup()


def run(argv: List[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a helper command (git), failing with its output."""
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        raise BenchError("%s failed (%d): %s" % (" ".join(argv[:3]), result.returncode,
                                                 result.stdout.decode(errors="replace")[-500:]))
    return result


def proc_kib(pid: int, field: str = "VmRSS", source: str = "status") -> Optional[int]:
    """A "<field>: <n> kB" value of /proc/<pid>/<source>, or None."""
    try:
        with open("/proc/%d/%s" % (pid, source)) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def process_tree(pid: int) -> List[int]:
    """The process and its descendants."""
    pids, todo = [], [pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        for children in glob.glob("/proc/%d/task/*/children" % pid):
            try:
                with open(children) as f:
                    todo += [int(child) for child in f.read().split()]
            except (OSError, ValueError):
                pass
    return pids


def rss_kib(pid: int) -> Optional[int]:
    """VmRSS of the process and its children (a server that is not one process is counted
    whole; an idle releaser.py has no children)."""
    values = [proc_kib(p, "VmRSS") for p in process_tree(pid)]
    return sum(v for v in values if v is not None) if values[0] is not None else None


class RssSampler:
    """The highest VmRSS of a process (and its children), sampled every 20 ms while running."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak_kib = max(self.peak_kib, rss_kib(self.pid) or 0)


# --- Repositories ----------------------------------------------------------------------------


@dataclasses.dataclass
class Repo:
    path: str
    shas: List[str]  # oldest first
    pack_mb: float

    @property
    def url(self) -> str:
        return "file://" + self.path


def repo_for(spec: RepoSpec, cache_dir: str) -> Repo:
    """The generated repository for `spec`, from the cache when it is there."""
    path = os.path.join(cache_dir, "repo-%dc-%dmb-v1.git" % (spec.commits, spec.history_mb))
    if not os.path.exists(os.path.join(path, "bench-complete")):
        started = time.monotonic()
        building = "%s.tmp-%d" % (path, os.getpid())
        shutil.rmtree(building, ignore_errors=True)
        try:
            generate_repo(building, spec)
            shutil.rmtree(path, ignore_errors=True)
            os.rename(building, path)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        note("generated %s in %.1f s" % (path, time.monotonic() - started))
    shas = run(["git", "--git-dir", path, "rev-list", "--reverse", "main"]).stdout.split()
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(path, "objects", "pack", "*")))
    return Repo(path, [sha.decode() for sha in shas], size / 2 ** 20)


def generate_repo(path: str, spec: RepoSpec, small_files: int = 40) -> None:
    """A bare repository made with `git fast-import`: every commit changes one small file;
    all but the last 20 also add a random (incompressible) blob and delete the previous one,
    so the history holds `history_mb` of data while the tip tree stays small."""
    run(["git", "-c", "init.defaultBranch=main", "init", "--quiet", "--bare", path])
    proc = subprocess.Popen(["git", "--git-dir", path, "fast-import", "--quiet", "--done"],
                            stdin=subprocess.PIPE)
    CLEANUP.processes.append(proc)
    out = proc.stdin
    big_commits = max(1, spec.commits - 20)
    blob_size = spec.history_mb * 2 ** 20 // big_commits
    try:
        for i in range(spec.commits):
            out.write(b"commit refs/heads/main\n")
            out.write(b"committer Bench <bench@example.com> %d +0000\n" % (1600000000 + i * 600))
            message = b"commit %d\n" % i
            out.write(b"data %d\n%s" % (len(message), message))
            changes = [i % small_files] if i else range(small_files)
            for n in changes:
                text = b"# module %d, version %d\n" % (n, i)
                text += b"".join(b"line %d of module %d\n" % (k, n) for k in range(40))
                out.write(b"M 100644 inline src/module_%d.py\ndata %d\n%s\n" % (n, len(text), text))
            if spec.history_mb and i < big_commits:
                blob = os.urandom(blob_size)
                out.write(b"M 100644 inline history/blob-%d.bin\ndata %d\n" % (i, len(blob)))
                out.write(blob + b"\n")
            if spec.history_mb and 0 < i <= big_commits:
                out.write(b"D history/blob-%d.bin\n" % (i - 1))
            out.write(b"\n")
        out.write(b"done\n")
        out.close()
    except BrokenPipeError:
        pass
    if proc.wait() != 0:
        raise BenchError("git fast-import failed while generating %s" % path)
    with open(os.path.join(path, "bench-complete"), "w") as f:
        f.write("%r\n" % (spec,))


def remote_copy(repo: Repo, dest: str) -> Repo:
    """A bare repository in the run folder that borrows `repo`'s objects (alternates) and has
    branches of its own, which the benchmark moves as a push would (`push`): the releaser
    checks that a commit is on an allowed branch, at once for a branch's tip, by fetching the
    branch's recent history for an older commit (a rollback), so which commit is the tip
    matters. It serves partial fetches too (uploadpack.allowFilter), for a yardstick."""
    run(["git", "-c", "init.defaultBranch=main", "init", "--quiet", "--bare", dest])
    with open(os.path.join(dest, "objects", "info", "alternates"), "w") as f:
        f.write(os.path.join(repo.path, "objects") + "\n")
    run(["git", "--git-dir", dest, "config", "uploadpack.allowFilter", "true"])
    copy = Repo(dest, repo.shas, repo.pack_mb)
    push(copy, repo.shas[-1])
    return copy


def push(repo: Repo, sha: str, branch: str = "main") -> None:
    """Move the branch to `sha`, as a push to the remote would."""
    run(["git", "--git-dir", repo.path, "update-ref", "refs/heads/" + branch, sha])


def dir_mb(path: str) -> float:
    """Disk use of a folder's files, in MB (2**20 bytes)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total / 2 ** 20


def warm_page_cache(repo: Repo) -> None:
    """Read the repository's files once, so the first measurement is not the disk's."""
    for name in glob.glob(os.path.join(repo.path, "objects", "pack", "*")):
        with open(name, "rb") as f:
            while f.read(1 << 20):
                pass


# --- The service under test ------------------------------------------------------------------


class Server:
    """One `python3 releaser.py` in a folder of its own (database, work dir, log)."""

    label = "releaser.py"
    sha_param = "commit-sha"  # GET /release?<sha_param>=<sha>
    state_field = "state"  # where that answer has the state; dotted for a nested field
    poll_s = 0.0  # 0: GET /release long-polls (&wait=60); else polled every poll_s seconds
    speaks_our_api = True  # pre-deploy.sh works with it

    def __init__(self, run_dir: str, name: str, releaser: str, git_url: str, command: str,
                 api_key: str, extra_env: Optional[Dict[str, str]] = None):
        self.dir = os.path.join(run_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.db_path = os.path.join(self.dir, "db", "releaser.sqlite")
        self.log_path = os.path.join(self.dir, "server.log")
        self.releaser = releaser
        self.api_key = api_key
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RELEASER_", "RAILWAY_", "RELEASE_"))
               and k not in ("HOST", "PORT", "SQLITE_DB_PATH", "DEFAULT_CLEANUP_DAYS",
                             "API_KEY")}
        env.update(RELEASER_GIT_URL=git_url, RELEASER_RELEASE_COMMAND=command,
                   RELEASER_API_KEY=api_key, SQLITE_DB_PATH=self.db_path, HOST="127.0.0.1",
                   PORT="0", RELEASER_SHUTDOWN_GRACE_MS="2000", RELEASER_KILL_GRACE_MS="1000")
        env.update(extra_env or {})
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    @property
    def headers(self) -> Dict[str, str]:
        return {"X-API-Key": self.api_key}

    def start(self, timeout_s: float = 60.0) -> float:
        """Start and wait until it is ready; returns the seconds that took."""
        started = time.monotonic()
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as log_file:
            self.proc = self._spawn(log_file)
        CLEANUP.servers.append(self)
        while time.monotonic() - started < timeout_s:
            if self._ready(offset):
                return time.monotonic() - started
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        self.stop()
        raise BenchError("%s did not start (exit %s): %s"
                         % (self.label, self.proc.returncode, self.log_tail()))

    def _spawn(self, log_file) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, self.releaser], cwd=self.dir, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT)

    def _ready(self, log_offset: int) -> bool:
        """Ready once this start's "listening on" line is in the log, which gives the port."""
        with open(self.log_path, "rb") as f:
            f.seek(log_offset)
            match = LISTENING_RE.search(f.read().decode(errors="replace"))
        if match:
            self.port = int(match.group(2))
        return match is not None

    def _signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL after 15 s."""
        if self in CLEANUP.servers:
            CLEANUP.servers.remove(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines: int = 5) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def rss_mib(self) -> float:
        return (rss_kib(self.proc.pid) or 0) / 1024

    def pss_text(self) -> str:
        """PSS counts shared library pages in part: what the process costs the machine."""
        pss = proc_kib(self.proc.pid, "Pss", "smaps_rollup")
        return "" if pss is None else "; PSS %.1f MiB" % (pss / 1024)

    def request(self, method: str, path: str, body=None,
                timeout: float = 90.0) -> Tuple[int, dict, int]:
        """One request on a new connection: (status, JSON body, time.time_ns() when answered)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = dict(self.headers)
            if payload:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            answered_ns = time.time_ns()
        finally:
            conn.close()
        try:
            parsed = json.loads(data.decode() or "{}")
        except ValueError:
            parsed = {"raw": data[:200].decode(errors="replace")}
        return response.status, parsed, answered_ns

    def queue(self, sha: str, retry: bool = False) -> Tuple[int, int]:
        """POST /queue; (status, time the answer arrived in ns)."""
        request = {"commitSha": sha, "retry": True} if retry else {"commitSha": sha}
        status, body, answered_ns = self.request("POST", "/queue", request)
        if status not in (200, 202):
            raise BenchError("POST /queue %s answered %d %s" % (sha[:12], status, body))
        return status, answered_ns

    def release_path(self, sha: str, wait: bool = False) -> str:
        """GET /release for `sha`; `wait`: a long-poll, when the server has them."""
        path = "/release?%s=%s" % (self.sha_param, sha)
        return path + "&wait=60" if wait and not self.poll_s else path

    def state_of(self, body: dict) -> Optional[str]:
        value = body
        for key in self.state_field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def how_completion_is_seen(self) -> str:
        if self.poll_s:
            return "GET /release polled every %g ms" % (self.poll_s * 1000)
        return "GET /release?wait=60"

    def wait_final(self, sha: str, limit_s: float = 300.0) -> Tuple[str, int]:
        """Long-poll (or poll) GET /release until the release is final: (state, ns when seen)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            status, body, seen_ns = self.request("GET", self.release_path(sha, wait=True))
            if status != 200:
                raise BenchError("GET /release %s answered %d %s" % (sha[:12], status, body))
            state = self.state_of(body)
            if state in ("success", "failed", "timeout", "cancelled"):
                return state, seen_ns
            time.sleep(self.poll_s)
        raise BenchError("release %s did not end within %d s" % (sha[:12], limit_s))


class BaselineServer(Server):
    """The releaser to compare with (--baseline-cmd), in a folder of its own, given the seed's
    variables; see "Side by side" in the module docstring."""

    label = "baseline"
    speaks_our_api = False

    def __init__(self, run_dir: str, name: str, command_line: str, git_url: str, command: str,
                 api_key: str, args):
        super().__init__(run_dir, name, "", git_url, command, api_key)
        self.argv = shlex.split(command_line)
        self.sha_param = args.baseline_sha_param
        self.state_field = args.baseline_state_field
        self.poll_s = args.baseline_poll_ms / 1000
        self.env.update(SQLITE_DB_PATH=os.path.join("db", "releaser.sqlite"), API_KEY=api_key)

    def _spawn(self, log_file) -> subprocess.Popen:
        with socket.socket() as probe:  # a free port: the seed cannot be told to pick one
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.env["PORT"] = str(self.port)
        try:  # its own process group, so that stopping it stops whatever it started
            return subprocess.Popen(self.argv, cwd=self.dir, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise BenchError("--baseline-cmd could not be started: %s" % exc)

    def _ready(self, log_offset: int) -> bool:
        """Ready once GET /healthcheck answers 200."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthcheck")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return False

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


class Marks:
    """The release command's timestamps: it writes `date +%s%N` to <sha>.start first and to
    <sha>.end last. What it does in between is the shell file body.sh, set per measurement."""

    def __init__(self, run_dir: str):
        self.dir = os.path.join(run_dir, "marks")
        os.makedirs(self.dir, exist_ok=True)
        self.set_body(":")

    def command(self) -> str:
        m = shlex.quote(self.dir)
        return ('m=%s; date +%%s%%N > "$m/$RELEASER_GIT_COMMIT_SHA.start"; '
                'echo "releasing $RELEASER_GIT_COMMIT_SHA in $PWD"; . "$m/body.sh"; '
                'date +%%s%%N > "$m/$RELEASER_GIT_COMMIT_SHA.end"' % m)

    def set_body(self, shell: str) -> None:
        with open(os.path.join(self.dir, "body.sh"), "w") as f:
            f.write(shell + "\n")

    def wait_for(self, sha: str, which: str, limit_s: float = 120.0) -> None:
        path = os.path.join(self.dir, "%s.%s" % (sha, which))
        deadline = time.monotonic() + limit_s
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise BenchError("the release command of %s did not start within %d s"
                                 % (sha[:12], limit_s))
            time.sleep(0.002)

    def read(self, sha: str, which: str) -> int:
        path = os.path.join(self.dir, "%s.%s" % (sha, which))
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            raise BenchError("the release command of %s left no %s mark (did it run?)"
                             % (sha[:12], which))


def checked_final(server: Server, sha: str) -> int:
    """Wait for the release to end; it must have succeeded. Returns ns when it was seen."""
    state, seen_ns = server.wait_final(sha)
    if state != "success":
        raise BenchError("release %s ended %s: %s" % (sha[:12], state, server.log_tail()))
    return seen_ns


# --- Dispatch and completion -----------------------------------------------------------------


class Waiter(threading.Thread):
    """A client already waiting in GET /release?wait=60 (or polling) when the release ends."""

    def __init__(self, server: Server, sha: str):
        super().__init__(daemon=True)
        self.server, self.sha = server, sha
        self.sent_ns = 0
        self.seen_ns = 0
        self.state = ""
        self.error: Optional[BaseException] = None

    def run(self):
        try:
            self.sent_ns = time.time_ns()
            self.state, self.seen_ns = self.server.wait_final(self.sha)
        except BaseException as exc:  # reported by the thread that joins
            self.error = exc


class PreDeploy(threading.Thread):
    """`sh pre-deploy.sh <sha>`, started while the release runs; records when it exits."""

    def __init__(self, script: str, server: Server, sha: str, log_path: str):
        super().__init__(daemon=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RELEASER_", "RAILWAY_"))}
        env.update(RELEASER_URL=server.url, RELEASER_WAIT_TIMEOUT="30",
                   RELEASER_API_KEY=server.api_key)
        self.log_path = log_path
        with open(log_path, "wb") as log_file:
            self.proc = subprocess.Popen(["sh", script, sha], env=env, stdin=subprocess.DEVNULL,
                                         stdout=log_file, stderr=subprocess.STDOUT)
        CLEANUP.processes.append(self.proc)
        self.exit_ns = 0
        self.returncode: Optional[int] = None

    def run(self):
        try:
            self.returncode = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
        self.exit_ns = time.time_ns()

    def why_failed(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                tail = " | ".join(f.read().splitlines()[-3:])
        except OSError:
            tail = ""
        return "pre-deploy.sh exited %s: %s" % (self.returncode, tail[:300])


@dataclasses.dataclass
class Subject:
    """A service under test (releaser.py, or the baseline) and its samples, over the rounds."""
    server: Server
    marks: Marks
    startup_ms: Optional[float] = None
    dispatch: List[float] = dataclasses.field(default_factory=list)  # each in ms
    waited: List[float] = dataclasses.field(default_factory=list)
    predeployed: List[float] = dataclasses.field(default_factory=list)
    predeploy_problem: str = ""
    gaps: List[float] = dataclasses.field(default_factory=list)
    loads: Dict[Tuple[str, int], List["LoadResult"]] = dataclasses.field(default_factory=dict)
    memory: Dict[str, Tuple[float, str]] = dataclasses.field(default_factory=dict)  # MiB, PSS
    failed: Set[str] = dataclasses.field(default_factory=set)  # parts that could not run

    def remember_rss(self, name: str) -> None:
        self.memory[name] = (self.server.rss_mib(), self.server.pss_text())


def measure_dispatch_and_completion(subject: Subject, settings: Settings, predeploy_script: str,
                                    run_dir: str, remote: Repo,
                                    releases: List[Tuple[str, float]]) -> None:
    """Releases one at a time on an idle service, with a waiting client and pre-deploy.sh.
    `releases`: (sha, the pause before its POST): time for the worker to remove the last tree,
    so that the POST finds the service idle; with a baseline, a random one (see "Side by
    side"). Each commit is pushed (the branch `main` of `remote` moved to it) before its POST,
    as a deploy follows a push: the common case, a release of a branch's tip."""
    server, marks = subject.server, subject.marks
    marks.set_body("sleep %g" % settings.release_sleep_s)
    if not server.speaks_our_api:
        subject.predeploy_problem = "pre-deploy.sh speaks this project's API"
    elif not os.path.isfile(predeploy_script):
        subject.predeploy_problem = "pre-deploy.sh not found at %s" % predeploy_script
    for sha, pause in releases:
        push(remote, sha)
        time.sleep(pause)
        status, posted_ns = server.queue(sha)
        if status != 200:
            raise BenchError("POST /queue on an idle service answered %d" % status)
        # The waiting clients start once the command runs, so as not to slow its dispatch
        # down; the command runs for release_sleep_s, time enough for them to be waiting.
        marks.wait_for(sha, "start")
        waiter = Waiter(server, sha)
        waiter.start()
        pre = None
        if not subject.predeploy_problem:
            pre = PreDeploy(predeploy_script, server, sha,
                            os.path.join(run_dir, "pre-deploy-%s.log" % sha[:12]))
            pre.start()
        waiter.join(300)
        if waiter.error is not None:
            raise BenchError("waiting client: %s" % waiter.error)
        if waiter.state != "success":
            raise BenchError("release %s ended %s" % (sha[:12], waiter.state))
        start_ns, end_ns = marks.read(sha, "start"), marks.read(sha, "end")
        subject.dispatch.append((start_ns - posted_ns) / 1e6)
        if waiter.sent_ns < end_ns:
            subject.waited.append((waiter.seen_ns - end_ns) / 1e6)
        if pre is not None:
            pre.join(130)
            if pre.returncode == 0:
                subject.predeployed.append((pre.exit_ns - end_ns) / 1e6)
            else:
                subject.predeploy_problem = pre.why_failed()


def measure_back_to_back(subject: Subject, remote: Repo, shas: List[str]) -> None:
    """Queue several releases at once: the end of one command -> the start of the next.
    The branch is pushed to the last of them first, so the others are older commits of it
    (as when pushes come faster than releases): the releaser checks they are on the branch
    by fetching its recent history, once; the later checks find it in its cache."""
    server, marks = subject.server, subject.marks
    marks.set_body("sleep 0.1")
    push(remote, shas[-1])
    for sha in shas:
        server.queue(sha)
    for sha in shas:
        checked_final(server, sha)
    subject.gaps += [(marks.read(later, "start") - marks.read(earlier, "end")) / 1e6
                     for earlier, later in zip(shas, shas[1:])]


# --- Status load -----------------------------------------------------------------------------


@dataclasses.dataclass
class LoadResult:
    requests_per_s: float
    p99_ms: float
    errors: int
    client: str


def wrk_load(url: str, headers: Dict[str, str], clients: int, seconds: float) -> LoadResult:
    header_args = [arg for item in headers.items() for arg in ("-H", "%s: %s" % item)]
    proc = subprocess.Popen(["wrk", "-t", str(min(2, clients)), "-c", str(clients),
                             "-d", "%ds" % max(1, round(seconds)), "--latency"] + header_args
                            + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    CLEANUP.processes.append(proc)
    out = proc.communicate(timeout=seconds + 60)[0].decode(errors="replace")
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if proc.returncode != 0 or not rps or not p99:
        raise BenchError("wrk failed: %s" % out[-300:])
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s*(\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(float(rps.group(1)), float(p99.group(1)) * scale, errors, "wrk")


def _python_load_process(port: int, path: str, headers: Dict[str, str], threads: int,
                         start_wall: float, deadline_wall: float, results) -> None:
    """In a child process: `threads` keep-alive clients from `start_wall` to `deadline_wall`
    (time.time() values, so that every process starts and stops at the same moment)."""
    outcomes = []

    def client():
        latencies, errors = [], 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(max(0.0, start_wall - time.time()))
        while time.time() < deadline_wall:
            began = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            latencies.append(time.perf_counter() - began)
        conn.close()
        outcomes.append((latencies, errors))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(([x for lat, _ in outcomes for x in lat], sum(e for _, e in outcomes)))


def python_load(port: int, path: str, headers: Dict[str, str], clients: int,
                seconds: float) -> LoadResult:
    """Keep-alive clients with http.client: threads spread over one process per core."""
    context = multiprocessing.get_context("spawn")
    processes = max(1, min(clients, os.cpu_count() or 1))
    results = context.Queue()
    start_wall = time.time() + 1.5  # every process has started by then
    children = []
    for i in range(processes):
        threads = clients // processes + (1 if i < clients % processes else 0)
        child = context.Process(target=_python_load_process, daemon=True,
                                args=(port, path, headers, threads, start_wall,
                                      start_wall + seconds, results))
        child.start()
        children.append(child)
    latencies, errors = [], 0
    for _ in children:
        lat, err = results.get(timeout=seconds + 60)
        latencies += lat
        errors += err
    for child in children:
        child.join()
    if not latencies:
        raise BenchError("the Python load client got no answer")
    return LoadResult(len(latencies) / seconds, percentile(latencies, 99) * 1000, errors,
                      "python http.client (%d processes)" % processes)


STATUS_LOADS = (("status", 8), ("status", 32), ("healthcheck", 8), ("healthcheck", 32))


def measure_status_load(subject: Subject, settings: Settings, route: str, clients: int,
                        sha: str, use_wrk: bool) -> None:
    """Requests/s and p99 of GET /release (`route` "status") or GET /healthcheck, with
    `clients` concurrent keep-alive clients."""
    server = subject.server
    path = server.release_path(sha) if route == "status" else "/healthcheck"
    if use_wrk:
        result = wrk_load(server.url + path, server.headers, clients, settings.load_seconds)
    else:
        result = python_load(server.port, path, server.headers, clients,
                             settings.load_seconds)
    subject.loads.setdefault((route, clients), []).append(result)
    time.sleep(0.5)


# --- The service part: releaser.py, and the baseline side by side ------------------------------


ARRIVAL_SPREAD_S = 5.0  # with a baseline, each release is queued after 0.2 s + up to this


def measure_service(settings: Settings, repo: Repo, args, run_dir: str,
                    report: Report) -> None:
    """Dispatch, completion, back to back, memory and status load on releaser.py, and on the
    baseline when there is one, interleaved: each part in rounds of ours, then the baseline's."""
    rounds = 2 if args.baseline_cmd else 1
    per_round, batch = settings.samples // rounds, settings.back_to_back // rounds
    needed = (per_round + batch) * rounds
    if len(repo.shas) < needed:
        raise BenchError("the small repository has %d commits, %d needed"
                         % (len(repo.shas), needed))
    release_shas = repo.shas[:per_round * rounds]
    batch_shas = repo.shas[per_round * rounds:needed]
    repo = remote_copy(repo, os.path.join(run_dir, "service-remote.git"))  # branches to push
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if use_wrk and shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (apt-get install wrk), or use --client python")
    api_key = "bench-" + os.urandom(12).hex()
    marks = Marks(os.path.join(run_dir, "service"))
    subjects = [Subject(Server(run_dir, "service", args.releaser, repo.url, marks.command(),
                               api_key), marks)]
    if args.baseline_cmd:
        marks = Marks(os.path.join(run_dir, "baseline"))
        subjects.append(Subject(BaselineServer(run_dir, "baseline", args.baseline_cmd,
                                               repo.url, marks.command(), api_key, args),
                                marks))
    rng = random.Random(16)  # the same pauses for both
    spread = ARRIVAL_SPREAD_S if args.baseline_cmd else 0.0
    pauses = [0.2 + rng.uniform(0, spread) for _ in release_shas]

    def each_round(part: str, measure, *measure_args, samples: Optional[List] = None) -> None:
        """`measure(subject, *measure_args, [samples of this round])` for ours then the
        baseline, `rounds` times; a part that fails on one is not tried on it again."""
        for r in range(rounds):
            chunk = [] if samples is None else [samples[r * len(samples) // rounds:
                                                        (r + 1) * len(samples) // rounds]]
            for subject in subjects:
                if part in subject.failed:
                    continue
                name = "%s on %s" % (part, subject.server.label)
                if rounds > 1:
                    name += ", round %d of %d" % (r + 1, rounds)
                if not section(report, name, measure, subject, *measure_args, *chunk):
                    subject.failed.add(part)

    def start(subject: Subject) -> None:
        subject.startup_ms = subject.server.start() * 1000
        time.sleep(0.5)
        subject.remember_rss("rss_idle_at_start")

    try:
        for subject in list(subjects):
            if not section(report, "start %s" % subject.server.label, start, subject):
                if subject is subjects[0]:
                    return
                subjects.remove(subject)
        each_round("dispatch and completion", measure_dispatch_and_completion, settings,
                   args.pre_deploy, run_dir, repo, samples=list(zip(release_shas, pauses)))
        each_round("back-to-back dispatch", measure_back_to_back, repo, samples=batch_shas)
        time.sleep(1.0)
        for subject in subjects:
            subject.remember_rss("rss_idle_after_releases")
        with contextlib.ExitStack() as samplers_running:
            samplers = [samplers_running.enter_context(RssSampler(subject.server.proc.pid))
                        for subject in subjects]
            for route, clients in STATUS_LOADS:
                each_round("status load (%s, %d clients)" % (route, clients),
                           measure_status_load, settings, route, clients, repo.shas[0],
                           use_wrk)
        time.sleep(1.0)
        for subject, sampler in zip(subjects, samplers):
            subject.memory["rss_peak_under_load"] = (sampler.peak_kib / 1024, "")
            subject.remember_rss("rss_idle_after_load")
    finally:
        for subject in subjects:
            subject.server.stop()
    report_service(report, settings, subjects)


def report_service(report: Report, settings: Settings, subjects: List[Subject]) -> None:
    """The service part's figures: ours, with the baseline's beside them when there is one."""
    ours = subjects[0]
    theirs = subjects[1] if len(subjects) > 1 else None

    def add(name: str, unit: str, value_of: Callable[[Subject], Optional[float]],
            note_of: Callable[[Subject], str], target: Optional[Target]) -> None:
        """One figure: `value_of` and `note_of` give it for ours and for the baseline."""
        baseline, baseline_note = None, ""
        if theirs is not None:
            baseline, baseline_note = value_of(theirs), note_of(theirs)
            if baseline is None and not baseline_note:
                baseline_note = "not measured"
        report.add(name, value_of(ours), unit, target, note_of(ours), baseline, baseline_note)

    def samples(field: str, how: Callable[[List[float]], float], text: str = ""):
        """A statistic of a list of samples; the note: `text` for ours, then the count (the
        baseline's only when it differs from ours)."""
        def value_of(subject: Subject) -> Optional[float]:
            values = getattr(subject, field)
            return how(values) if values else None

        def note_of(subject: Subject) -> str:
            count = len(getattr(subject, field))
            if subject is ours:
                return ", ".join(filter(None, [text, "n=%d" % count]))
            return "n=%d" % count if count != len(getattr(ours, field)) else ""
        return value_of, note_of

    def memory(name: str, text: str):
        def value_of(subject: Subject) -> Optional[float]:
            return subject.memory[name][0] if name in subject.memory else None

        def note_of(subject: Subject) -> str:
            pss = subject.memory.get(name, (0, ""))[1]
            return text + pss if subject is ours else pss.lstrip("; ")
        return value_of, note_of

    def p95(values: List[float]) -> float:
        return percentile(values, 95)

    add("startup", "ms", lambda s: s.startup_ms,
        lambda s: "spawn -> listening line" if s is ours
        else "spawn -> GET /healthcheck answers", None)
    add("rss_idle_at_start", "MiB", *memory("rss_idle_at_start", "VmRSS just after start"),
        below(30, "MiB"))
    add("dispatch_median", "ms",
        *samples("dispatch", median, "POST answered -> command started, idle service, the branch's tip"),
        below(50, "ms"))
    add("dispatch_p95", "ms", *samples("dispatch", p95), None)

    def seen(how: Callable[[List[float]], float], text: str = ""):
        """Completion as a waiting client sees it: for a baseline polled, the note says so."""
        value_of, count_note = samples("waited", how, text)

        def note_of(subject: Subject) -> str:
            if subject is ours and not subject.waited:
                return "no waiting client was in place before a release ended"
            polled = subject is not ours and subject.server.poll_s
            return ", ".join(filter(None, [subject.server.how_completion_is_seen() + " sees "
                                           "success" if polled else "", count_note(subject)]))
        return value_of, note_of

    add("completion_wait_median", "ms",
        *seen(median, "last line -> %s answers success" % ours.server.how_completion_is_seen()),
        below(50, "ms"))
    add("completion_wait_p95", "ms", *seen(p95), None)

    def predeploy(how: Callable[[List[float]], float], text: str = ""):
        value_of, count_note = samples("predeployed", how, text)
        return (lambda s: None if s.predeploy_problem else value_of(s),
                lambda s: s.predeploy_problem or count_note(s))

    add("completion_predeploy_median", "ms",
        *predeploy(median, "last line -> pre-deploy.sh exits 0"), below(50, "ms"))
    add("completion_predeploy_p95", "ms", *predeploy(p95), None)
    add("dispatch_back_to_back_median", "ms",
        *samples("gaps", median, "previous command's last line -> next command started; all but "
                  "the last older commits of the branch"),
        below(50, "ms"))
    add("rss_idle_after_releases", "MiB",
        *memory("rss_idle_after_releases", "VmRSS idle, after the releases above"),
        below(30, "MiB"))

    def load(route: str, clients: int, field: str):
        """A status load figure: the median over the rounds, which the note lists."""
        def value_of(subject: Subject) -> Optional[float]:
            results = subject.loads.get((route, clients))
            return median([getattr(r, field) for r in results]) if results else None

        def note_of(subject: Subject) -> str:
            results = subject.loads.get((route, clients), [])
            notes = []
            if subject is ours and results:
                notes.append("%s, %g s" % (results[0].client, settings.load_seconds))
            if len(results) > 1:
                notes.append("median of rounds " + " / ".join(_number(getattr(r, field))
                                                               for r in results))
            errors = sum(r.errors for r in results)
            if errors:
                notes.append("%d errors" % errors)
            if subject is ours and field == "requests_per_s" and clients == 32 and results \
                    and results[0].client != "wrk":
                notes.append("the target is for wrk")
            return ", ".join(notes)
        return value_of, note_of

    for route, clients in STATUS_LOADS:
        add("%s_%d_clients_throughput" % (route, clients), "req/s",
            *load(route, clients, "requests_per_s"),
            at_least(4000, "req/s") if clients == 32 else None)
        add("%s_%d_clients_p99" % (route, clients), "ms", *load(route, clients, "p99_ms"), None)
    add("rss_peak_under_load", "MiB",
        *memory("rss_peak_under_load", "highest VmRSS sampled every 20 ms during the status load"),
        None)
    add("rss_idle_after_load", "MiB", *memory("rss_idle_after_load", "VmRSS 1 s after the load"),
        None)


# --- Git preparation on a large repository ---------------------------------------------------


def time_full_clone(repo: Repo, sha: str, dest: str) -> float:
    """Yardstick: a plain `git clone` + `git checkout` of the commit, in ms."""
    began = time.perf_counter()
    run(["git", "clone", "--quiet", "--no-checkout", repo.url, dest])
    run(["git", "-C", dest, "-c", "advice.detachedHead=false", "checkout", "--quiet",
         "--detach", sha])
    elapsed = time.perf_counter() - began
    shutil.rmtree(dest)
    return elapsed * 1000


def time_shallow_fetch(repo: Repo, sha: str, dest: str) -> float:
    """Yardstick: the least git can do for one commit (depth 1 fetch by SHA + checkout), ms."""
    began = time.perf_counter()
    run(["git", "init", "--quiet", dest])
    run(["git", "-C", dest, "fetch", "--quiet", "--no-tags", "--depth", "1", repo.url, sha])
    run(["git", "-C", dest, "-c", "advice.detachedHead=false", "checkout", "--quiet",
         "--detach", sha])
    elapsed = time.perf_counter() - began
    shutil.rmtree(dest)
    return elapsed * 1000


def time_release(server: Server, marks: Marks, sha: str, retry: bool = False,
                 expect: str = "success") -> float:
    """POST /queue -> the release command started, in ms (the release must end `expect`).
    A pause first, for the worker to remove the last tree: the POST finds the service idle."""
    time.sleep(0.2)
    _, posted_ns = server.queue(sha, retry)
    state, _ = server.wait_final(sha)
    if state != expect:
        raise BenchError("release %s ended %s, not %s: %s"
                         % (sha[:12], state, expect, server.log_tail()))
    return (marks.read(sha, "start") - posted_ns) / 1e6


def time_git(argv: List[str], runs: int) -> float:
    """Median of `runs` runs of a git command, in ms."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run(argv)
        times.append((time.perf_counter() - began) * 1000)
    return median(times)


@dataclasses.dataclass
class BranchCheck:
    """The yardsticks of the releaser's branch check (see Workspace._check_on_allowed_branch
    and _is_ancestor_of)."""
    ls_remote_ms: float
    fetch_ms: float  # the rollback's fetch, commits only, into an empty partial clone
    fetch_mb: float
    commits: int  # how many commits that fetch brought
    again_ms: float  # the same fetch once more, nothing new
    with_files_ms: float  # the same fetch with trees and files, into a depth-1 clone
    with_files_mb: float


def time_branch_check(remote: Repo, tip: str, rollback: str, dest: str, runs: int) -> BranchCheck:
    """What the branch check costs git, done by this script: `git ls-remote --heads`, and the
    fetch of the branch's history since a day before the rollback commit, commits only
    (--filter=tree:0), into an empty bare partial clone, as the releaser fills its
    allowed.git; then, for comparison, the same fetch with trees and files into a depth-1
    clone holding the tip and the rollback commit (what the releaser did before allowed.git)."""
    ls_remote = time_git(["git", "ls-remote", "--heads", "--", remote.url], runs * 5)
    fetch = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
    when = int(run(["git", "--git-dir", remote.path, "show", "-s", "--format=%ct",
                    rollback]).stdout)
    since = "--shallow-since=%d" % (when - 86400)
    refspec = "+refs/heads/main:refs/allowed/heads/main"
    results = []
    for commits_only in (True, False):
        repo = dest + ("-commits-only" if commits_only else "-with-files")
        run(["git", "init", "--quiet", "--bare", repo])
        git = ["git", "--git-dir", repo, "-c", "gc.auto=0", "-c", "maintenance.auto=false"]
        if commits_only:
            for key, value in (("core.repositoryformatversion", "1"),
                               ("extensions.partialClone", "origin"),
                               ("remote.origin.url", remote.url),
                               ("remote.origin.promisor", "true"),
                               ("remote.origin.partialclonefilter", "tree:0")):
                run(git + ["config", key, value])
            argv = git + fetch + ["--filter=tree:0", since, "origin", refspec]
        else:
            for sha in (tip, rollback):
                run(git + fetch + ["--depth=1", "--", remote.url,
                                   "+%s:refs/releases/%s" % (sha, sha)])
            argv = git + fetch + [since, "--", remote.url, refspec]
        before = dir_mb(repo)
        began = time.perf_counter()
        run(argv)
        elapsed = (time.perf_counter() - began) * 1000
        if not run(git + ["for-each-ref", "--contains", rollback, "refs/allowed/"]).stdout:
            raise BenchError("the branch's fetched history lacks the rollback commit")
        commits = len(run(git + ["rev-list", "refs/allowed/heads/main"]).stdout.split())
        again = time_git(argv, runs) if commits_only else 0.0
        results.append((elapsed, dir_mb(repo) - before, commits, again))
        shutil.rmtree(repo)
    (only_ms, only_mb, commits, again_ms), (files_ms, files_mb, _, _) = results
    return BranchCheck(ls_remote, only_ms, only_mb, commits, again_ms, files_ms, files_mb)


ROLLBACK_COMMITS = 1000  # how far back the rollback goes (a third of the history at most)


def measure_git(settings: Settings, repo: Repo, args, run_dir: str, report: Report) -> None:
    """First release (fresh work dir) and a later one (next commit), each the branch's tip,
    against git yardsticks; then a rollback (an older commit of the branch, not yet in the
    cache) and its retry, and what the branch check costs git."""
    warm_page_cache(repo)
    remote = remote_copy(repo, os.path.join(run_dir, "git-remote.git"))
    first_sha, later_sha = repo.shas[-2], repo.shas[-1]
    back = min(ROLLBACK_COMMITS, len(repo.shas) // 3)
    rollback_sha = repo.shas[-1 - back]
    n = settings.git_samples
    about = "%d commits, %.0f MB packed" % (len(repo.shas), repo.pack_mb)
    dest = os.path.join(run_dir, "yardstick")
    full = median([time_full_clone(repo, first_sha, dest) for _ in range(n)])
    shallow = median([time_shallow_fetch(repo, first_sha, dest) for _ in range(n)])
    push(remote, later_sha)
    check = time_branch_check(remote, later_sha, rollback_sha, dest, n)
    firsts, laters, rollbacks, retries = [], [], [], []
    sizes: List[Tuple[float, ...]] = []  # MB: cache before the rollback, after, retry; allowed
    for i in range(n):
        folder = os.path.join(run_dir, "git-%d" % i)
        marks = Marks(folder)
        work = os.path.join(folder, "work")
        cache = os.path.join(work, "cache.git")
        server = Server(folder, "server", args.releaser, remote.url, marks.command(),
                        "bench-" + os.urandom(12).hex(), {"RELEASER_WORK_DIR": work})
        server.start()
        try:
            push(remote, first_sha)
            firsts.append(time_release(server, marks, first_sha))
            push(remote, later_sha)
            laters.append(time_release(server, marks, later_sha))
            before = dir_mb(cache)
            marks.set_body("exit 3")  # fails, so that it can be asked again (retry)
            rollbacks.append(time_release(server, marks, rollback_sha, expect="failed"))
            after = dir_mb(cache)
            marks.set_body(":")
            retries.append(time_release(server, marks, rollback_sha, retry=True))
            sizes.append((before, after, dir_mb(cache),
                          dir_mb(os.path.join(work, "allowed.git"))))
        finally:
            server.stop()
            if not CLEANUP.keep:
                shutil.rmtree(folder, ignore_errors=True)  # its cached clone: disk space
    report.add("git_full_clone_yardstick", full, "ms", None,
               "git clone + checkout, %s, median of %d" % (about, n))
    report.add("git_shallow_fetch_yardstick", shallow, "ms", None,
               "git init + fetch --depth 1 <sha> + checkout, median of %d" % n)
    close_to_shallow = 1.5 * shallow + 100
    report.add("git_first_release", median(firsts), "ms",
               Target("<= %s ms (1.5 x shallow + 100)" % _number(close_to_shallow),
                      lambda v: v <= close_to_shallow),
               "POST -> command started, fresh work dir, the branch's tip, median of %d" % n)
    report.add("git_later_release", median(laters), "ms",
               Target("<= %s ms (full clone / 5)" % _number(full / 5), lambda v: v <= full / 5),
               "POST -> command started, a new commit at the branch's tip (pushed), same work "
               "dir, median of %d" % n)
    report.add("git_ls_remote_yardstick", check.ls_remote_ms, "ms", None,
               "git ls-remote --heads: the branch check of a tip, median of %d" % (n * 5))
    report.add("git_rollback_release", median(rollbacks), "ms", None,
               "POST -> command started, a commit %d behind the branch's tip, not in the cache, "
               "same work dir, median of %d (max %s ms)"
               % (back, n, _number(max(rollbacks))))
    report.add("git_rollback_retry", median(retries), "ms", None,
               "POST retry -> command started, the same commit again (in the cache), median "
               "of %d (max %s ms)" % (n, _number(max(retries))))
    report.add("git_rollback_fetch_yardstick", check.fetch_ms, "ms", None,
               "fetch --filter=tree:0 --shallow-since=<commit date - 1 day> of the branch "
               "into an empty partial clone, as the releaser fills allowed.git: %d commits, "
               "%.2f MB" % (check.commits, check.fetch_mb))
    report.add("git_rollback_fetch_again_yardstick", check.again_ms, "ms", None,
               "the same fetch once more (nothing new), median of %d" % n)
    report.add("git_rollback_fetch_with_files_yardstick", check.with_files_ms, "ms", None,
               "the same fetch with trees and files into a depth-1 clone (the releaser's "
               "check before allowed.git): %.1f MB" % check.with_files_mb)
    before, after, retried, allowed = (median([s[k] for s in sizes]) for k in range(4))
    report.add("git_cache_before_rollback", before, "MB", None,
               "the releaser's cached clone (cache.git) after the two releases of tips, "
               "median of %d" % n)
    report.add("git_cache_after_rollback", after, "MB", None,
               "cache.git after the rollback %d commits back, median of %d" % (back, n))
    report.add("git_cache_after_retry", retried, "MB", None,
               "cache.git after its retry, median of %d" % n)
    report.add("git_allowed_after_rollback", allowed, "MB", None,
               "allowed.git (commits only, for branch checks) after the rollback and its "
               "retry, median of %d" % n)


# --- Skipped releases (RELEASER_WATCH_PATHS) on a large repository --------------------------


WATCHED = "migrations/"  # a path no generated commit changes: every release after a base skips


def time_to_final(server: Server, sha: str, retry: bool = False) -> Tuple[float, dict]:
    """POST /queue -> a client's GET /release?wait=60 sees the final state, in ms; and the
    GET /release answer (the release must have succeeded)."""
    time.sleep(0.2)
    _, posted_ns = server.queue(sha, retry)
    state, seen_ns = server.wait_final(sha)
    if state != "success":
        raise BenchError("release %s ended %s: %s" % (sha[:12], state, server.log_tail()))
    status, body, _ = server.request("GET", server.release_path(sha))
    return (seen_ns - posted_ns) / 1e6, body


def time_incremental_fetch(repo: Repo, have: str, sha: str, dest: str) -> float:
    """Yardstick: a depth-1 fetch by SHA of `sha` into a bare clone that holds `have` at
    depth 1 (as the releaser's cache holds the last release), in ms; no checkout."""
    run(["git", "init", "--quiet", "--bare", dest])
    fetch = ["git", "--git-dir", dest, "fetch", "--quiet", "--no-tags", "--depth", "1",
             repo.url]
    run(fetch + ["+%s:refs/releases/%s" % (have, have)])
    began = time.perf_counter()
    run(fetch + ["+%s:refs/releases/%s" % (sha, sha)])
    elapsed = time.perf_counter() - began
    shutil.rmtree(dest)
    return elapsed * 1000


def measure_skip(settings: Settings, repo: Repo, args, run_dir: str, report: Report) -> None:
    """RELEASER_WATCH_PATHS (issue 12): POST -> final state of a release whose command is
    skipped (no watched path changed since the last release whose command ran), (a) when
    both commits' trees are in the cache, (b) when the commit is not (one shallow fetch +
    the branch check + a tree diff). On a fresh work dir each time: the branch at F, F
    released and failing (no base yet: its command runs), then B (F's parent) released and
    succeeding (its command runs: the base); then (a) F retried, the branch's tip, both in
    the cache; (b) the next two commits, each pushed (the tip) and released."""
    warm_page_cache(repo)
    remote = remote_copy(repo, os.path.join(run_dir, "skip-remote.git"))
    base_sha, failing_sha = repo.shas[-5], repo.shas[-4]
    new_shas = repo.shas[-3:-1]
    n = settings.git_samples
    dest = os.path.join(run_dir, "skip-yardstick")
    shallow = median([time_shallow_fetch(repo, new_shas[0], dest) for _ in range(n)])
    incremental = median([time_incremental_fetch(repo, base_sha, new_shas[0], dest)
                          for _ in range(n)])
    cached, uncached, rss = [], [], []
    for i in range(n):
        folder = os.path.join(run_dir, "skip-%d" % i)
        marks = Marks(folder)
        work = os.path.join(folder, "work")
        server = Server(folder, "server", args.releaser, remote.url, marks.command(),
                        "bench-" + os.urandom(12).hex(),
                        {"RELEASER_WORK_DIR": work, "RELEASER_WATCH_PATHS": WATCHED})
        server.start()
        try:
            push(remote, failing_sha)
            marks.set_body("exit 3")
            time_release(server, marks, failing_sha, expect="failed")
            marks.set_body(":")
            time_release(server, marks, base_sha)  # an ancestor of the tip: the base
            os.remove(os.path.join(marks.dir, failing_sha + ".start"))
            elapsed, body = time_to_final(server, failing_sha, retry=True)
            skipped_ok(body, base_sha, marks, failing_sha)
            cached.append(elapsed)
            for sha in new_shas:
                push(remote, sha)
                elapsed, body = time_to_final(server, sha)
                skipped_ok(body, base_sha, marks, sha)
                uncached.append(elapsed)
            time.sleep(1.0)
            rss.append(server.rss_mib())
        finally:
            server.stop()
            if not CLEANUP.keep:
                shutil.rmtree(folder, ignore_errors=True)
    about = "%d commits, %.0f MB packed" % (len(repo.shas), repo.pack_mb)
    report.add("skip_shallow_fetch_yardstick", shallow, "ms", None,
               "git init + fetch --depth 1 <sha> + checkout, median of %d" % n)
    report.add("skip_incremental_fetch_yardstick", incremental, "ms", None,
               "fetch --depth 1 <sha> into a bare clone holding its base at depth 1, no "
               "checkout, median of %d" % n)
    report.add("skip_cached_median", median(cached), "ms", below(50, "ms"),
               "RELEASER_WATCH_PATHS=%s, POST retry -> GET /release?wait=60 sees success "
               "(skipped), the commit and the base in the cache, the branch's tip, %s, "
               "n=%d (max %s ms)" % (WATCHED, about, len(cached), _number(max(cached))))
    close_to_shallow = 1.5 * shallow
    report.add("skip_uncached_median", median(uncached), "ms",
               Target("<= %s ms (1.5 x shallow)" % _number(close_to_shallow),
                      lambda v: v <= close_to_shallow),
               "POST -> GET /release?wait=60 sees success (skipped), a new commit pushed "
               "(the tip), not in the cache, n=%d (max %s ms)"
               % (len(uncached), _number(max(uncached))))
    report.add("skip_rss_idle", median(rss), "MiB", below(30, "MiB"),
               "VmRSS idle 1 s after those releases, RELEASER_WATCH_PATHS set, median of %d"
               % n)


def skipped_ok(body: dict, base_sha: str, marks: Marks, sha: str) -> None:
    """The release was a skip: its command did not run, GET /release names the base."""
    skipped = (body.get("details") or {}).get("skipped")
    if not skipped or skipped.get("base") != base_sha:
        raise BenchError("release %s was not skipped against %s: %s"
                         % (sha[:12], base_sha[:12], body.get("details")))
    if os.path.exists(os.path.join(marks.dir, sha + ".start")):
        raise BenchError("release %s was reported skipped but its command ran" % sha[:12])


# --- A long release history ------------------------------------------------------------------


def fill_history(db_path: str, rows: int) -> None:
    """Insert `rows` final release records spread over the last 30 days (the service stopped).

    Mostly successes, some failures, time-outs and cancellations, each with a short output
    tail; ids follow creation time, as they would in a real history."""
    now = int(time.time() * 1000)
    hour = 3600000
    span = 30 * 24 * hour - 2 * hour
    rng = random.Random(rows)

    def records():
        for i in range(rows):
            created = now - hour - span + span * i // rows
            draw = rng.random()
            if draw < 0.85:
                status, code, error = "success", 0, None
            elif draw < 0.95:
                status, code, error = "failed", 1, "release command exited with status 1"
            elif draw < 0.98:
                status, code, error = "timeout", None, "release timed out after 30 min"
            else:
                status, code, error = "cancelled", None, "cancelled"
            if status == "cancelled":
                started, ended = None, created + rng.randint(1000, 600000)
            else:
                started = created + rng.randint(0, 5000)
                ended = started + rng.randint(10000, 600000)
            tail = b"releasing\nmigrations: %d applied\nassets built\ndone\n" % rng.randint(0, 9)
            yield (hashlib.sha1(b"bench %d" % i).hexdigest(), 1, status, created, ended,
                   started, ended, code, error, tail, len(tail))

    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO release_log (git_commit_sha, attempt, release_status, created_at, "
            "updated_at, started_at, ended_at, exit_code, error, output_tail, output_bytes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records())
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def timed_gets(server: Server, path: str, count: int) -> Tuple[List[float], dict]:
    """`count` GETs on one keep-alive connection: (milliseconds each, the last JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    times, body = [], {}
    try:
        for _ in range(count):
            began = time.perf_counter()
            conn.request("GET", path, headers=server.headers)
            response = conn.getresponse()
            data = response.read()
            times.append((time.perf_counter() - began) * 1000)
            if response.status != 200:
                raise BenchError("GET %s answered %d" % (path, response.status))
            body = json.loads(data)
    finally:
        conn.close()
    return times, body


def measure_history(settings: Settings, repo: Repo, args, run_dir: str,
                    report: Report) -> None:
    """/metrics, GET /queue, GET /release and GET /releases with a long history in the
    database."""
    rows = settings.history_rows
    server = Server(run_dir, "history", args.releaser, repo.url, "true",
                    "bench-" + os.urandom(12).hex(), {"DEFAULT_CLEANUP_DAYS": "3650"})
    server.start()  # creates the database and its schema
    server.stop()
    began = time.monotonic()
    fill_history(server.db_path, rows)
    note("inserted %d release records in %.1f s" % (rows, time.monotonic() - began))
    startup = server.start(timeout_s=600)
    about = "{:,} rows".format(rows)
    try:
        report.add("history_startup", startup * 1000, "ms", None,
                   "spawn -> listening line, %s" % about)
        checks = (
            ("history_metrics_7d", "/metrics", below(200, "ms")),
            ("history_metrics_30d", "/metrics?days=30", below(200, "ms")),
            ("history_queue", "/queue", None),
            ("history_release", "/release?commit-sha=%s"
             % hashlib.sha1(b"bench %d" % (rows // 2)).hexdigest(), None),
        )
        for name, path, target in checks:
            times, body = timed_gets(server, path, 5)
            if path == "/metrics?days=30":
                counted = sum(m["count"] for m in body["metrics"])
                if counted != rows:
                    raise BenchError("/metrics?days=30 counted %d rows, %d inserted"
                                     % (counted, rows))
            report.add(name, median(times), "ms", target,
                       "GET %s, %s, median of 5 (max %s ms)"
                       % (path.split("?commit-sha=")[0], about, _number(max(times))))
        measure_releases_pages(server, rows, about, report)
        report.add("rss_after_history", server.rss_mib(), "MiB", None,
                   "VmRSS after those requests, %s" % about)
    finally:
        server.stop()


CROWD = 600  # long-polls held open at once: more than HTTPServer.MAX_CONNECTIONS (512)


def measure_crowd(settings: Settings, repo: Repo, args, run_dir: str, report: Report) -> None:
    """A crowd of waiting clients: with a release running, CROWD connections each send a
    long-poll of it (`GET /release?wait=60`), one after the other, as fast as one client can;
    then `GET /healthcheck` and a `POST /queue` on new connections, timed. Past three
    quarters of the places the oldest long-polls yield theirs (README, "HTTP"), which is
    what keeps those two answering; the time to open the crowd shows SYN retries (1 s each)
    when the listen backlog overflows. Rounds: 1 with --quick, else 3; medians."""
    remote = remote_copy(repo, os.path.join(run_dir, "crowd-remote.git"))
    rounds = 1 if settings.quick else 3
    opened_ms: List[float] = []
    healthcheck_ms: List[float] = []
    queue_ms: List[float] = []
    for r in range(rounds):
        # A server of its own each round: a stopped one would run its release again.
        server = Server(run_dir, "crowd-%d" % r, args.releaser, remote.url, "sleep 600",
                        "bench-" + os.urandom(12).hex())
        try:
            running, queued = remote.shas[2 * r], remote.shas[2 * r + 1]
            server.start()
            push(remote, running)
            server.queue(running)
            deadline = time.monotonic() + 60
            while server.state_of(server.request("GET", server.release_path(running))[1]) \
                    != "running":
                if time.monotonic() > deadline:
                    raise BenchError("the crowd's release did not start within 60 s")
                time.sleep(0.02)
            head = ("GET %s HTTP/1.1\r\nHost: bench\r\nX-API-Key: %s\r\n\r\n"
                    % (server.release_path(running, wait=True), server.api_key)).encode()
            clients: List[socket.socket] = []
            try:
                began = time.monotonic()
                for _ in range(CROWD):
                    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                    clients.append(sock)
                    sock.sendall(head)
                opened_ms.append((time.monotonic() - began) * 1000)
                began = time.monotonic()
                status, _, _ = server.request("GET", "/healthcheck", timeout=30)
                healthcheck_ms.append((time.monotonic() - began) * 1000)
                if status != 200:
                    raise BenchError("GET /healthcheck answered %d in the crowd" % status)
                push(remote, queued)
                began = time.monotonic()
                server.queue(queued)
                queue_ms.append((time.monotonic() - began) * 1000)
            finally:
                for sock in clients:
                    sock.close()
        finally:
            server.stop()
    about = "%d long-polls open, median of %d" % (CROWD, rounds)
    report.add("crowd_open", median(opened_ms), "ms", None,
               "%d connections each sending a long-poll, one client; max %s ms"
               % (CROWD, _number(max(opened_ms))))
    report.add("crowd_healthcheck", median(healthcheck_ms), "ms", below(500, "ms"),
               "GET /healthcheck on a new connection, " + about)
    report.add("crowd_queue", median(queue_ms), "ms", below(500, "ms"),
               "POST /queue on a new connection, " + about)


PAGE_SAMPLES = 40  # GETs of each GET /releases query, for its median and p95


def measure_releases_pages(server: Server, rows: int, about: str, report: Report) -> None:
    """GET /releases (history, newest first, cursor paging) on the long history: the first
    page, a page half way down (`before`), one state (a rare one and the common one), one
    commit and a SHA prefix; each answer is checked, each query timed PAGE_SAMPLES times."""
    middle_sha = hashlib.sha1(b"bench %d" % (rows // 2)).hexdigest()
    db = sqlite3.connect(server.db_path)
    try:
        middle_id = db.execute("SELECT id FROM release_log WHERE git_commit_sha = ?",
                               (middle_sha,)).fetchone()[0]
        shares = dict(db.execute("SELECT release_status, COUNT(*) FROM release_log "
                                 "GROUP BY release_status").fetchall())
    finally:
        db.close()

    def share(state: str) -> str:
        return "%.0f %% of the rows" % (100.0 * shares.get(state, 0) / rows)

    def check_page(body: dict, limit: int = 50, state: Optional[str] = None) -> None:
        found = body.get("releases")
        if not isinstance(found, list) or len(found) != limit:
            raise BenchError("GET /releases gave %s rows, %d expected"
                             % (len(found) if isinstance(found, list) else found, limit))
        if state and any(r["state"] != state for r in found):
            raise BenchError("GET /releases?state=%s gave other states" % state)
        created = [r["created_at"] for r in found]
        if created != sorted(created, reverse=True):
            raise BenchError("GET /releases is not newest first")

    def check_commit(body: dict) -> None:
        found = body.get("releases") or []
        if [r["commitSha"] for r in found] != [middle_sha]:
            raise BenchError("GET /releases for one commit gave %s" % found[:2])

    queries = (
        ("releases_first_page", "/releases?limit=50", "first page, limit=50", check_page),
        ("releases_deep_page", "/releases?limit=50&before=%d" % middle_id,
         "limit=50&before=<the id half way down>", check_page),
        ("releases_state_failed", "/releases?limit=50&state=failed",
         "state=failed, %s" % share("failed"),
         lambda body: check_page(body, state="failed")),
        ("releases_state_success", "/releases?limit=50&state=success",
         "state=success, %s" % share("success"),
         lambda body: check_page(body, state="success")),
        ("releases_state_failed_deep", "/releases?limit=50&state=failed&before=%d" % middle_id,
         "state=failed&before=<the id half way down>",
         lambda body: check_page(body, state="failed")),
        ("releases_commit_sha", "/releases?commit-sha=%s" % middle_sha,
         "commit-sha=<a commit half way down>", check_commit),
        ("releases_commit_prefix", "/releases?commit-prefix=%s" % middle_sha[:7],
         "commit-prefix=<its first 7 digits>", check_commit),
    )
    for name, path, what, check in queries:
        times, body = timed_gets(server, path, PAGE_SAMPLES)
        check(body)
        text = "GET /releases %s, %s, keep-alive, n=%d" % (what, about, PAGE_SAMPLES)
        report.add(name + "_median", median(times), "ms", below(50, "ms"), text)
        report.add(name + "_p95", percentile(times, 95), "ms", below(50, "ms"),
                   "max %s ms" % _number(max(times)))
    first = timed_gets(server, "/releases?limit=50", 1)[1]
    following = timed_gets(server, "/releases?limit=50&before=%s" % first["next"], 1)[1]
    if not first.get("next") or following["releases"][0]["created_at"] \
            > first["releases"][-1]["created_at"]:
        raise BenchError("GET /releases: the next page does not follow the first")


# --- Command line ----------------------------------------------------------------------------


def section(report: Report, name: str, measure, *args) -> bool:
    """Run one measurement; a failure is recorded and the others still run."""
    began = time.monotonic()
    note("%s ..." % name)
    try:
        measure(*args)
    except (BenchError, OSError, sqlite3.Error, subprocess.SubprocessError, ValueError,
            KeyError, http.client.HTTPException) as exc:
        report.failed(name, exc)
        return False
    note("%s done in %.1f s" % (name, time.monotonic() - began))
    return True


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    tools = []
    for argv in (["git", "--version"], ["wrk", "--version"]):
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=10).stdout.decode(errors="replace").split("\n")[0]
            tools.append(out.split(" [")[0].strip())  # wrk adds "[epoll] Copyright ..."
        except (OSError, subprocess.SubprocessError):
            pass
    return "%d CPUs (%s), Python %s, %s" % (os.cpu_count() or 0, cpu,
                                            sys.version.split()[0], ", ".join(tools))


SECTIONS = ("service", "crowd", "git", "skip", "history")


def parse_args(argv: Optional[List[str]]):
    parser = argparse.ArgumentParser(
        description="Benchmark Releaser on loopback (see the module docstring).")
    parser.add_argument("--quick", action="store_true",
                        help="small repository, few samples, short load, 20k history rows")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="status load client (auto: wrk when installed)")
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "bench-work"),
                        help="where generated repositories are cached and runs happen "
                             "(default: %(default)s)")
    parser.add_argument("--releaser", default=os.path.join(HERE, "releaser.py"))
    parser.add_argument("--pre-deploy", default=os.path.join(HERE, "pre-deploy.sh"))
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this part (may be given more than once)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run folder (server logs) for a look afterwards")
    side = parser.add_argument_group(
        "side by side", "measure another releaser speaking the seed's API in the same run "
                        "(see the module docstring)")
    side.add_argument("--baseline-cmd", metavar="COMMAND",
                      help="command line that starts it (split as a shell would, no shell)")
    side.add_argument("--baseline-sha-param", default="commit-sha", metavar="NAME",
                      help="its GET /release query parameter (default: %(default)s; the "
                           "original code's: commitSha)")
    side.add_argument("--baseline-state-field", default="state", metavar="FIELD",
                      help="where its GET /release answer has the state, dotted when nested "
                           "(default: %(default)s; the original code's: release_status)")
    side.add_argument("--baseline-poll-ms", type=int, default=20, metavar="MS",
                      help="it has no long-poll: poll GET /release every MS ms (default: "
                           "%(default)s); 0: long-poll it with &wait=60")
    return parser.parse_args(argv)


def _interrupt(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    args.releaser = os.path.abspath(args.releaser)
    args.pre_deploy = os.path.abspath(args.pre_deploy)
    settings = Settings.make(args.quick)
    os.makedirs(args.work_dir, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="run-", dir=args.work_dir)
    CLEANUP.dirs.append(run_dir)
    CLEANUP.keep = args.keep
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        signal.signal(sig, _interrupt)
    report = Report("baseline" if args.baseline_cmd else "")
    began = time.monotonic()
    print("# machine: %s" % machine_description(), flush=True)
    if args.baseline_cmd:
        print("# baseline: %s" % args.baseline_cmd, flush=True)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        note("the machine is busy (load average %.2f): figures will be noisy" % load_before)
    status = 0
    parts = args.only or SECTIONS
    try:
        small = repo_for(settings.small_repo, args.work_dir)
        if "service" in parts:
            section(report, "service (dispatch, completion, status load, memory)",
                    measure_service, settings, small, args, run_dir, report)
        if "crowd" in parts:
            section(report, "a crowd of long-polls", measure_crowd, settings, small, args,
                    run_dir, report)
        if "git" in parts:
            big = repo_for(settings.big_repo, args.work_dir)
            section(report, "git preparation", measure_git, settings, big, args, run_dir,
                    report)
        if "skip" in parts:
            big = repo_for(settings.big_repo, args.work_dir)
            section(report, "skipped releases", measure_skip, settings, big, args, run_dir,
                    report)
        if "history" in parts:
            section(report, "long history", measure_history, settings, small, args, run_dir,
                    report)
    except KeyboardInterrupt:
        note("interrupted; stopping the servers and removing %s" % run_dir)
        status = 130
    except BenchError as exc:
        report.failed("setup", exc)
    finally:
        CLEANUP.run()
    elapsed = time.monotonic() - began
    print()
    print("Summary (%s mode, %.0f s; load average %.2f before, %.2f after)"
          % ("quick" if settings.quick else "full", elapsed, load_before, os.getloadavg()[0]))
    print(report.table(), flush=True)
    if settings.quick:
        print("(quick mode: a small repository and few samples; the targets are meant for the "
              "full run)")
    if status == 0 and report.failures:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
