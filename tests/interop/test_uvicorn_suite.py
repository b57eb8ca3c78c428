"""uvicorn's own WebSocket tests, run with wsfast installed as websockets: what websockets passes, wsfast passes.

uvicorn (https://github.com/Kludex/uvicorn) imports websockets for its ``websockets-sansio``
protocol and for the client side of its tests. This module runs uvicorn's test files that
import websockets (directly or through that protocol), from uvicorn's sdist, three times in
one go:

* ``websockets``: the baseline, the real websockets 17.4;
* ``wsfast-cython``: ``wsfast.install_as_websockets()`` active, with the Cython extension;
* ``wsfast-python``: the same with ``WSFAST_NO_EXTENSIONS=1`` (the pure-Python twin).

The activation is a pytest plugin (tests/interop/uvicorn_suite/wsfast_as_websockets.py, loaded with
``-p`` in the controller and every pytest-xdist worker) that calls ``install_as_websockets()``
before uvicorn's conftest is imported, and records every test's outcome. Each wsfast run must
pass every test that the baseline passes; a test that doesn't is run once more on its own
(``-n 0``), and it fails here only if it fails again (one that passes is reported as flaky).
The failure message lists the node ids with the first lines of each failure. EXPECTED lists
the differences that are by design, with the text their failure must show.

Set-up, by the session fixture: a venv in a cache directory (``$WSFAST_UVICORN_CACHE``,
default ``$XDG_CACHE_HOME/wsfast-tests/uvicorn-0.54.0`` or ``~/.cache/...``), reused while
tests/interop/uvicorn_suite/requirements.txt and the Python build are unchanged, holding uvicorn
from its sdist (``pip download --no-binary :all: --no-deps``, the sdist has tests/) with its
test dependencies, websockets 17.4, and zttp where it has a wheel (else its cases skip). The
wsfast under test is not installed there: it is the one this test session imports (the
installed build in CI, the editable checkout in a dev venv), exposed by a symlink on
PYTHONPATH, so its extension is the one built for this run. Without a network (pip fails),
the tests skip, saying why; with ``WSFAST_REQUIRE_PEERS=1`` they fail instead.

uvicorn's pytest configuration applies (its ``filterwarnings = error`` included), less its
``-n 8``: ``-n $WSFAST_UVICORN_WORKERS`` (2). The three runs go in parallel (its tests mostly
wait on sockets and timers: about 50 s together on 2 CPUs, 45 s each alone);
``WSFAST_UVICORN_SERIAL=1`` runs them one after another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

import wsfast

pytestmark = pytest.mark.slow

UVICORN_VERSION = "0.54.0"
HERE = Path(__file__).parent / "uvicorn_suite"
PLUGIN = HERE / "wsfast_as_websockets.py"
REQUIREMENTS = HERE / "requirements.txt"
#: An optional HTTP implementation that uvicorn's tests parametrize over; binary wheels only.
OPTIONAL = ["zttp==0.0.35"]

#: uvicorn's test files that import websockets, directly or through its websockets-sansio
#: protocol (``grep -rl websockets tests/``), less none: 1,122 tests in 0.54.0.
TEST_FILES = [
    "tests/protocols/test_websocket.py",
    "tests/protocols/test_http.py",
    "tests/middleware/test_logging.py",
    "tests/middleware/test_proxy_headers.py",
    "tests/test_auto_detection.py",
    "tests/test_config.py",
    "tests/benchmarks/test_ws.py",
]

#: A floor for the baseline, so that a broken set-up (everything skipped) can't pass:
#: 1,111 of the 1,122 pass with websockets 17.4, 871 without zttp.
MIN_BASELINE_PASSED = 800

#: Differences by design: node id -> (text the failure must contain, why).
EXPECTED = {
    "tests/test_config.py::test_ws_websockets_emits_deprecation_warning": (
        "No module named 'websockets.legacy'",
        "uvicorn's deprecated ws='websockets' protocol imports websockets.legacy, the API that "
        "websockets deprecated and wsfast doesn't provide (install_as_websockets() raises "
        "ModuleNotFoundError for it, by design)",
    ),
}

RUNS = {
    "websockets": {"as": "websockets", "no_extensions": False},
    "wsfast-cython": {"as": "wsfast", "no_extensions": False},
    "wsfast-python": {"as": "wsfast", "no_extensions": True},
}

WORKERS = int(os.environ.get("WSFAST_UVICORN_WORKERS", "2"))
SERIAL = os.environ.get("WSFAST_UVICORN_SERIAL", "") not in ("", "0")
REQUIRE_PEERS = os.environ.get("WSFAST_REQUIRE_PEERS", "") not in ("", "0")
SETUP_TIMEOUT = 900  # seconds for the whole install
RUN_TIMEOUT = 900  # seconds for one run of the suite
PIP_OPTIONS = ["--disable-pip-version-check", "--no-input", "--retries", "1", "--timeout", "30"]

# Variables of ours or of pytest that mustn't leak into uvicorn's test run.
DROPPED_ENV = (
    "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "WSFAST_NO_EXTENSIONS",
    "WSFAST_AS_WEBSOCKETS", "VIRTUAL_ENV", "COVERAGE_PROCESS_START", "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST",
)


def unavailable(reason):
    """Skip, saying why; or fail when WSFAST_REQUIRE_PEERS asks for every peer."""
    if REQUIRE_PEERS:
        pytest.fail(f"{reason} (and WSFAST_REQUIRE_PEERS is set)", pytrace=False)
    pytest.skip(reason)


def cython_skip_reason():
    """None if wsfast's extension imports here, else why not (as conftest._load_cython)."""
    try:
        import wsfast._speedups  # noqa: F401
    except ImportError as exc:
        return f"wsfast._speedups is not importable: {exc}"
    return None


# Installing uvicorn ---------------------------------------------------------------------------


def cache_dir():
    explicit = os.environ.get("WSFAST_UVICORN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wsfast-tests" / f"uvicorn-{UVICORN_VERSION}"


def cache_key():
    """What the venv depends on: the pins, uvicorn's version, this Python build."""
    text = "\n".join(
        [
            REQUIREMENTS.read_text(encoding="utf-8"),
            UVICORN_VERSION,
            " ".join(OPTIONAL),
            sys.version,
            getattr(sys, "_base_executable", sys.executable),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def pip_error(output):
    """The gist of pip's output: its error lines, else its last lines, less config warnings."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not line.startswith("WARNING: Location")
    ]
    errors = [line for line in lines if line.startswith("ERROR")]
    return " / ".join((errors or lines[-4:])[:4])[:800] or "no output"


def _step(command, timeout, cwd=None):
    """Run a set-up command; return None, or why it failed."""
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"{Path(command[0]).name} {' '.join(command[1:4])} took over {timeout} s"
    except OSError as exc:
        return f"{command[0]}: {exc}"
    if result.returncode != 0:
        return f"exit {result.returncode}: {pip_error(result.stderr + result.stdout)}"
    return None


def venv_python(venv):
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_uvicorn(directory):
    """The venv and uvicorn's unpacked sdist under ``directory``, made unless they are there
    for the current pins; returns (python, sdist root, notes) or (None, why not, None)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return None, f"can't make the cache directory ({exc}); set WSFAST_UVICORN_CACHE", None
    venv = directory / "venv"
    python = venv_python(venv)
    source = directory / f"uvicorn-{UVICORN_VERSION}"
    marker = directory / "ready.json"
    key = cache_key()
    with open(directory / ".lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be installing right now
        if marker.exists() and python.exists() and (source / "tests").is_dir():
            with contextlib.suppress(ValueError, OSError):
                ready = json.loads(marker.read_text(encoding="utf-8"))
                if ready.get("key") == key:
                    return python, source, ready.get("notes", [])
        marker.unlink(missing_ok=True)
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(source, ignore_errors=True)
        deadline = time.monotonic() + SETUP_TIMEOUT

        def left():
            return max(30, int(deadline - time.monotonic()))

        why = _step([sys.executable, "-m", "venv", str(venv)], 120)
        if why:
            return None, f"can't make a venv in {venv}: {why}", None
        downloads = directory / "downloads"
        shutil.rmtree(downloads, ignore_errors=True)
        why = _step(
            [str(python), "-m", "pip", "download", *PIP_OPTIONS, "--no-binary", ":all:",
             "--no-deps", "-d", str(downloads), f"uvicorn=={UVICORN_VERSION}"],
            min(300, left()),
        )
        if why:
            return None, f"pip download of uvicorn {UVICORN_VERSION}'s sdist failed ({why})", None
        sdists = sorted(downloads.glob(f"uvicorn-{UVICORN_VERSION}.tar.gz"))
        if not sdists:
            return None, f"pip download left no uvicorn-{UVICORN_VERSION}.tar.gz in {downloads}", None
        with tarfile.open(sdists[0]) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(directory, filter="data")
            else:  # pragma: no cover - Python before 3.10.12 / 3.11.4
                archive.extractall(directory)  # noqa: S202 - a pinned sdist from PyPI
        if not (source / "tests").is_dir():
            return None, f"uvicorn's sdist has no tests/ ({sdists[0].name})", None
        why = _step(
            [str(python), "-m", "pip", "install", *PIP_OPTIONS, "-r", str(REQUIREMENTS),
             f"uvicorn[standard] @ {sdists[0].resolve().as_uri()}"],
            left(),
        )
        if why:
            return None, f"pip install of uvicorn's test dependencies failed ({why})", None
        notes = []
        for requirement in OPTIONAL:
            name = requirement.partition("=")[0]
            why = _step(
                [str(python), "-m", "pip", "install", *PIP_OPTIONS, "--only-binary", name,
                 requirement],
                min(300, left()),
            )
            if why:
                notes.append(f"{requirement} not installed, its cases skip: {why}")
        marker.write_text(json.dumps({"key": key, "notes": notes}), encoding="utf-8")
        return python, source, notes


# Running uvicorn's tests -----------------------------------------------------------------------


def wsfast_shim(directory):
    """A directory holding only ``wsfast``: this session's package, by symlink (else a copy)."""
    package = Path(wsfast.__file__).resolve().parent
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "wsfast"
    try:
        link.symlink_to(package, target_is_directory=True)
    except OSError:  # pragma: no cover - no symlinks
        shutil.copytree(package, link)
    return directory


def child_env(run, report, shim):
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    path = [str(HERE)]
    if RUNS[run]["as"] == "wsfast":
        path.append(str(shim))
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["WSFAST_UVICORN_AS"] = RUNS[run]["as"]
    env["WSFAST_UVICORN_REPORT"] = str(report)
    if RUNS[run]["no_extensions"]:
        env["WSFAST_NO_EXTENSIONS"] = "1"
    return env


def pytest_command(python, tests, workers):
    return [
        str(python), "-m", "pytest", *tests,
        "-p", "wsfast_as_websockets", "-p", "no:cacheprovider",
        "-n", str(workers), "-q",
    ]


class Run:
    """One run of uvicorn's tests: its outcomes, per-process records and log."""

    def __init__(self, name, report, log, command, env, cwd):
        self.name, self.report, self.log = name, report, log
        self.command, self.env, self.cwd = command, env, cwd
        self.proc = None
        self.started = self.elapsed = 0.0
        self.returncode = None
        self.timed_out = False

    def start(self):
        self.started = time.monotonic()
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def wait(self, deadline):
        try:
            self.returncode = self.proc.wait(max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.returncode = self.proc.wait(30)
        self.elapsed = time.monotonic() - self.started

    def load(self):
        try:
            data = json.loads(self.report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {"outcomes": {}, "collect_errors": {}, "exitstatus": None}
        self.outcomes = data["outcomes"]
        self.collect_errors = dict(data.get("collect_errors", {}))
        self.processes = {}
        for path in self.report.parent.glob(self.report.name + ".*.json"):
            worker = path.name[len(self.report.name) + 1 : -len(".json")]
            record = json.loads(path.read_text(encoding="utf-8"))
            self.collect_errors.update(record.pop("collect_errors", {}))
            self.processes[worker] = record
        return self

    def count(self, outcome):
        return sum(1 for entry in self.outcomes.values() if entry["outcome"] == outcome)

    def summary(self):
        counts = {}
        for entry in self.outcomes.values():
            counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        return f"{self.name}: {len(self.outcomes)} tests, {text or 'none'} in {self.elapsed:.0f} s"

    def log_tail(self, lines=15):
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def run_all(runs, timeout):
    if SERIAL:
        for run in runs:
            run.start()
            run.wait(time.monotonic() + timeout)
    else:
        for run in runs:
            run.start()
        deadline = time.monotonic() + timeout
        for run in runs:
            run.wait(deadline)
    return [run.load() for run in runs]


class Suite:
    def __init__(self, python, source, notes, directory, runs, wall):
        self.python, self.source, self.notes = python, source, notes
        self.directory = directory
        self.runs = runs
        self.wall = wall
        self.shim = directory / "shim"

    def make_run(self, name, tests, workers, tag):
        report = self.directory / f"{name}{tag}.json"
        return Run(
            name + tag, report, self.directory / f"{name}{tag}.log",
            pytest_command(self.python, tests, workers),
            child_env(name, report, self.shim), self.source,
        )


@pytest.fixture(scope="session")
def uvicorn_suite(tmp_path_factory):
    python, source, notes = install_uvicorn(cache_dir())
    if python is None:
        unavailable(source)
    directory = tmp_path_factory.mktemp("uvicorn-suite")
    suite = Suite(python, source, notes, directory, {}, 0.0)
    wsfast_shim(suite.shim)
    names = [name for name in RUNS if name != "wsfast-cython" or cython_skip_reason() is None]
    started = time.monotonic()
    runs = run_all([suite.make_run(name, TEST_FILES, WORKERS, "") for name in names], RUN_TIMEOUT)
    suite.wall = time.monotonic() - started
    suite.runs = {run.name: run for run in runs}
    print(
        f"\nuvicorn {UVICORN_VERSION}'s websocket tests, {len(runs)} runs "
        f"({'one after another' if SERIAL else 'in parallel'}, -n {WORKERS}) in {suite.wall:.0f} s:"
    )
    for run in runs:
        print(f"  {run.summary()}")
    for note in notes:
        print(f"  note: {note}")
    return suite


# Reporting ---------------------------------------------------------------------------------------


def first_lines(text, count=4):
    """The gist of a failure: its ``E`` lines (else its last lines), then where it was raised."""
    lines = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    picked = errors[:count] or lines[-count:]
    where = [line for line in lines if re.match(r"^\S+\.py:\d+: \w", line)]
    if where:
        picked.append(where[-1])
    return [line[:300] for line in picked]


def good(entry):
    return entry is not None and entry["outcome"] in ("passed", "xfailed")


def check_processes(run, implementation):
    """Every process of a wsfast run loaded the plugin and resolved websockets to wsfast."""
    problems = []
    expected = {"main"} | {f"gw{i}" for i in range(WORKERS)} if WORKERS else {"main"}
    missing = expected - set(run.processes)
    if missing:
        problems.append(f"no record from {sorted(missing)}: the plugin didn't run there")
    for worker, record in sorted(run.processes.items()):
        if worker == "main" and WORKERS:
            continue  # the xdist controller imports no test module
        if not record.get("websockets_is_wsfast"):
            problems.append(f"{worker}: websockets is {record.get('websockets_file')}, not wsfast")
        if record.get("implementation") != implementation:
            problems.append(f"{worker}: wsfast ran its {record.get('implementation')!r} codec")
        if record.get("leaked_real_modules"):
            problems.append(f"{worker}: the real websockets was imported: {record['leaked_real_modules']}")
        if record.get("websockets_version") != "17.4":
            problems.append(f"{worker}: websockets.__version__ is {record.get('websockets_version')!r}")
    return problems


# Tests ---------------------------------------------------------------------------------------------


def test_baseline_runs_uvicorns_websocket_tests(uvicorn_suite):
    """The real websockets 17.4 passes uvicorn's tests: the set-up and the plugin work."""
    run = uvicorn_suite.runs["websockets"]
    assert not run.timed_out, f"the baseline took over {RUN_TIMEOUT} s:\n{run.log_tail()}"
    assert not run.collect_errors, f"collection errors: {run.collect_errors}"
    for worker, record in run.processes.items():
        if worker != "main":
            assert record["websockets_file"] and record["websockets_file"].startswith(
                record["real_websockets_dir"] or "?"
            ), record
            assert record["websockets_version"] == "17.4", record
    for path in TEST_FILES:
        passed = [n for n, e in run.outcomes.items() if n.startswith(path + "::") and good(e)]
        assert passed, f"no test of {path} passed with websockets:\n{run.log_tail()}"
    assert run.count("passed") >= MIN_BASELINE_PASSED, f"{run.summary()}\n{run.log_tail()}"


@pytest.mark.parametrize("implementation", ["cython", "python"])
def test_wsfast_passes_what_websockets_passes(uvicorn_suite, implementation):
    name = f"wsfast-{implementation}"
    if name not in uvicorn_suite.runs:
        pytest.skip(cython_skip_reason())
    baseline, run = uvicorn_suite.runs["websockets"], uvicorn_suite.runs[name]
    assert not run.timed_out, f"{name} took over {RUN_TIMEOUT} s:\n{run.log_tail()}"
    problems = check_processes(run, implementation)
    assert not problems, "\n".join(problems)

    regressions = {
        nodeid: entry["outcome"]
        for nodeid, entry in baseline.outcomes.items()
        if good(entry) and not (good(run.outcomes.get(nodeid)) and run.outcomes[nodeid]["outcome"] == entry["outcome"])
    }
    # Once more, each on its own, the suspects that didn't fail by design.
    suspects = sorted(
        nodeid for nodeid in regressions
        if not (nodeid in EXPECTED and EXPECTED[nodeid][0] in (run.outcomes.get(nodeid) or {}).get("text", ""))
    )
    rerun = None
    if suspects:
        rerun = uvicorn_suite.make_run(name, suspects, 0, "-rerun")
        run_all([rerun], RUN_TIMEOUT)

    failures, flaky, expected = [], [], []
    for nodeid in sorted(regressions):
        entry = run.outcomes.get(nodeid)
        outcome = entry["outcome"] if entry else "not run"
        if nodeid in EXPECTED and EXPECTED[nodeid][0] in (entry or {}).get("text", ""):
            expected.append(f"{nodeid}: {outcome}, by design: {EXPECTED[nodeid][1]}")
            continue
        again = rerun.outcomes.get(nodeid) if rerun else None
        if good(again):
            flaky.append(f"{nodeid}: {outcome}, then {again['outcome']} on its own")
            continue
        text = (entry or {}).get("text") or (again or {}).get("text") or ""
        detail = "\n      ".join(first_lines(text)) or "(no failure text)"
        failures.append(
            f"  {nodeid}\n    websockets: {baseline.outcomes[nodeid]['outcome']}; {name}: {outcome}"
            f"{', and ' + again['outcome'] + ' again' if again else ''}\n      {detail}"
        )
    stale = [n for n in EXPECTED if good(run.outcomes.get(n))]
    print(f"\n{run.summary()}")
    for line in expected:
        print(f"  expected: {line}")
    for line in flaky:
        print(f"  flaky: {line}")
    for nodeid in stale:
        print(f"  {nodeid} passes now: drop it from EXPECTED")
    if run.collect_errors:
        print(f"  collection errors: {sorted(run.collect_errors)}")
    assert not failures, (
        f"{len(failures)} of uvicorn {UVICORN_VERSION}'s tests pass with websockets 17.4 but not "
        f"with wsfast installed as websockets ({implementation}); logs in {uvicorn_suite.directory}\n"
        + "\n".join(failures)
    )
