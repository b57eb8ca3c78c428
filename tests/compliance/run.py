"""Run the Autobahn testsuite against wsfast's echo agents and summarise the results.

From the repository root::

    python -m tests.compliance.run --quick            # the CI set, every agent
    python -m tests.compliance.run                    # the whole suite (1.* to 13.*)
    python -m tests.compliance.run --agents 'server-asyncio-*' --cases 6.4 7.1.5

Agents (``--list-agents``) are named ``ROLE-API-IMPL[-COMPRESSION]``:

- ``server-{asyncio,sync}-{cython,python}-{deflate,none}``: ``echo_server*.py`` tested by
  ``wstest -m fuzzingclient``. Cases 12.* and 13.* (permessage-deflate) are not run against
  the ``none`` servers, where they could only be UNIMPLEMENTED.
- ``client-{asyncio,sync}-{cython,python}``: ``echo_client*.py`` (always offering
  permessage-deflate; the fuzzingserver decides) tested by ``wstest -m fuzzingserver``.
- ``--reference`` adds the same agents on websockets (``IMPL`` = ``websockets``), to tell
  what the suite says about the library wsfast replaces.

``python`` agents run with ``WSFAST_NO_EXTENSIONS=1``; every agent prints
``wsfast.IMPLEMENTATION`` when it starts and the runner checks it. The sync agents are skipped,
with the reason, while ``wsfast.sync`` is not importable.

wstest comes from ``$WSTEST``, else ``wstest`` on PATH, else ``$WSFAST_AUTOBAHN_CACHE/venv``
(default ``~/.cache/wsfast-autobahn/venv``), which ``install.sh`` (``$AUTOBAHN_INSTALL_SH``,
default ``../shared/autobahn/install.sh`` next to the repository) builds when missing. Its
Python 2.7 interpreter lists the case ids and runs wstest with its fuzzingserver bound to
127.0.0.1 (wstest alone listens on every interface); everything binds 127.0.0.1 on free ports.
Each agent runs once per wstest process, without its web server (``-u 0``), within
``--timeout`` seconds.

The exit status is 0 when, for every agent that ran, every case has its behavior and its close
behavior OK or INFORMATIONAL, no case is missing from the report and the agent logged no
error; 1 otherwise; 3 when wstest is unavailable (no Python 2.7); 2 on usage errors. (wstest
judges the close separately: "OK / FAILED" is an echo as expected followed by a close frame
that came too late or from the wrong side; it counts as a failure here.)
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
ACCEPTED = ("OK", "INFORMATIONAL")

# Cases 1.* to 10.* (the suite has no 8.*), plus permessage-deflate cases on small messages:
# for each payload kind (12.1-12.5) and each parameter set (13.1-13.7), 1000 messages of 16
# bytes (.1), 1 KiB (.4) and 8 KiB auto-fragmented to 256-byte frames (.11).
QUICK_CASES = [f"{n}.*" for n in range(1, 11) if n != 8] + [
    f"{group}.{sub}.{size}"
    for group, subs in ((12, range(1, 6)), (13, range(1, 8)))
    for sub in subs
    for size in (1, 4, 11)
]

# Lines of an agent's log that mean something went wrong on the wsfast side. The agents log
# at WARNING with "%(levelname)s" in the format; the clients print UNEXPECTED and TIMEOUT.
LOG_ERROR_MARKERS = (
    "Traceback (most recent call last)",
    " ERROR ",
    " CRITICAL ",
    "UNEXPECTED ",
    "TIMEOUT",
)

READY_TIMEOUT = 60  # seconds for an agent or the fuzzingserver to start listening
STOP_TIMEOUT = 20  # seconds for a process to exit after SIGTERM, before SIGKILL

# Runs wstest with the fuzzingserver bound to 127.0.0.1. Python 2.7 code.
WSTEST_BOOT = r"""
import sys
from autobahntestsuite import wstest  # first: it installs the reactor
from autobahntestsuite import fuzzing
from autobahn.twisted import websocket
_listen = websocket.listenWS
def listen_local(factory, contextFactory=None, backlog=50, interface="127.0.0.1"):
    return _listen(factory, contextFactory, backlog, interface)
fuzzing.listenWS = listen_local
sys.argv[0] = "wstest"
sys.exit(wstest.run())
"""

# Prints the ids of all cases as JSON, in order. Python 2.7 code.
WSTEST_LIST_CASES = r"""
import json
from autobahntestsuite.caseset import CaseSet
from autobahntestsuite import case
cs = CaseSet(case.CaseSetname, case.CaseBasename, case.Cases, case.CaseCategories,
             case.CaseSubCategories)
ids = sorted(cs.CasesIndices, key=lambda c: [int(x) for x in c.split(".")])
print(json.dumps(ids))
"""


class WstestUnavailable(Exception):
    """wstest cannot be had here (no Python 2.7, no install script): skip, don't pass."""


# --------------------------------------------------------------------------------------------
# wstest


@dataclass
class Wstest:
    path: str
    python: str  # the Python 2.7 interpreter running it

    def command(self, mode: str, spec: Path) -> list[str]:
        return [self.python, "-c", WSTEST_BOOT, "-m", mode, "-s", str(spec), "-u", "0"]

    def case_ids(self) -> list[str]:
        out = subprocess.run(
            [self.python, "-c", WSTEST_LIST_CASES],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        return json.loads(out)


def git_describe() -> str:
    """The commit under test, and whether src/ differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "csrc"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (src/ or csrc/ modified)" if dirty else "")


def cache_dir() -> Path:
    if os.environ.get("WSFAST_AUTOBAHN_CACHE"):
        return Path(os.environ["WSFAST_AUTOBAHN_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wsfast-autobahn"


def install_script() -> Path | None:
    candidates = [
        os.environ.get("AUTOBAHN_INSTALL_SH"),
        REPO.parent / "shared/autobahn/install.sh",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def interpreter_of(script: str) -> str:
    """The interpreter named by a script's #! line, resolved through /usr/bin/env."""
    with open(script, "rb") as file:
        first = file.readline().decode("utf-8", "replace").strip()
    if not first.startswith("#!"):
        raise WstestUnavailable(f"{script} has no #! line: cannot find its Python 2.7")
    words = first[2:].split()
    if words and os.path.basename(words[0]) == "env" and len(words) > 1:
        words = [shutil.which(words[1]) or words[1]]
    return words[0]


def ensure_wstest(*, install: bool = True, log=print) -> Wstest:
    """Find wstest, installing it into the cache directory when needed."""
    path = os.environ.get("WSTEST") or shutil.which("wstest")
    if path is None:
        dest = cache_dir() / "venv"
        if (dest / "bin/wstest").is_file():
            path = str(dest / "bin/wstest")
        elif not install:
            raise WstestUnavailable(f"wstest not found and not installed in {dest}")
        else:
            script = install_script()
            if script is None:
                raise WstestUnavailable(
                    "wstest not found: set WSTEST, or AUTOBAHN_INSTALL_SH to the testsuite's "
                    "install.sh (looked for ../shared/autobahn/install.sh)"
                )
            log(f"installing wstest into {dest} with {script} (about a minute) ...")
            dest.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                ["bash", str(script), str(dest)],
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
            if proc.returncode == 3:
                raise WstestUnavailable(
                    f"{script} exited 3: {proc.stderr.strip().splitlines()[-1:] or 'no Python 2.7'}"
                )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"{script} {dest} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
                )
            path = proc.stdout.strip().splitlines()[-1]
    if not os.access(path, os.X_OK):
        raise WstestUnavailable(f"wstest at {path} is not executable")
    return Wstest(path=path, python=interpreter_of(path))


# --------------------------------------------------------------------------------------------
# Agents


@dataclass(frozen=True)
class Agent:
    role: str  # server | client
    api: str  # asyncio | sync
    impl: str  # cython | python | websockets
    compression: str | None = None  # deflate | none for servers; clients always offer deflate

    @property
    def name(self) -> str:
        parts = [self.role, self.api, self.impl] + ([self.compression] if self.compression else [])
        return "-".join(parts)

    @property
    def script(self) -> Path:
        return HERE / f"echo_{self.role}{'_sync' if self.api == 'sync' else ''}.py"

    @property
    def deflate(self) -> bool:
        return self.role == "client" or self.compression == "deflate"


def all_agents(reference: bool = False) -> list[Agent]:
    impls = ["cython", "python"] + (["websockets"] if reference else [])
    agents = []
    for role in ("server", "client"):
        for api in ("asyncio", "sync"):
            for impl in impls:
                if role == "server":
                    agents += [Agent(role, api, impl, c) for c in ("deflate", "none")]
                else:
                    agents.append(Agent(role, api, impl))
    return agents


def select_agents(patterns: list[str] | None, reference: bool) -> list[Agent]:
    agents = all_agents(reference or any("websockets" in p for p in patterns or ()))
    if not patterns:
        return [a for a in agents if reference or a.impl != "websockets"]
    return [a for a in agents if any(fnmatch.fnmatchcase(a.name, p) for p in patterns)]


def sync_unavailable() -> str | None:
    """Why the wsfast.sync agents can't run yet, or None."""
    proc = subprocess.run(
        [sys.executable, "-c", "import wsfast.sync.server, wsfast.sync.client"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return f"wsfast.sync is not importable yet ({last})"


def agent_env(agent: Agent) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WSFAST_NO_EXTENSIONS", None)
    if agent.impl == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------------------------
# Cases


def resolve_cases(patterns: list[str], all_ids: list[str]) -> list[str]:
    """Case ids matching any pattern, in suite order.

    A pattern is an fnmatch glob (``6.4.*``, ``12.[12].1``) or a case id or prefix of one
    (``9`` and ``9.1`` mean ``9.*`` and ``9.1.*``; ``2.1`` is the case 2.1).
    """
    selected = [
        case
        for case in all_ids
        if any(
            fnmatch.fnmatchcase(case, p) or fnmatch.fnmatchcase(case, p + ".*") for p in patterns
        )
    ]
    unknown = [
        p
        for p in patterns
        if not any(fnmatch.fnmatchcase(c, p) or fnmatch.fnmatchcase(c, p + ".*") for c in all_ids)
    ]
    if unknown:
        raise ValueError(f"no case matches {', '.join(unknown)}")
    return selected


def cases_for(agent: Agent, cases: list[str]) -> list[str]:
    if agent.deflate:
        return cases
    return [c for c in cases if c.split(".")[0] not in ("12", "13")]


# --------------------------------------------------------------------------------------------
# Processes


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start cmd in its own process group, stdout and stderr to log."""
    with open(log, "ab") as out:
        out.write(f"$ {shlex.join(cmd)}\n".encode())
        out.flush()
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen | None) -> int | None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT, the process group of a process we started."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(STOP_TIMEOUT)
    return proc.returncode


def wait_ready(proc: subprocess.Popen, log: Path, timeout: float = READY_TIMEOUT) -> dict:
    """Wait for the agent's ``READY {json}`` line in its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text("utf-8", "replace").splitlines():
            if line.startswith("READY "):
                return json.loads(line[len("READY ") :])
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited {proc.returncode} before it was ready; see {log}")
        time.sleep(0.1)
    raise RuntimeError(f"agent not ready after {timeout} s; see {log}")


def wait_listening(proc: subprocess.Popen, port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"wstest exited {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"wstest not listening on {port} after {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait for proc until the deadline (time.monotonic()); False if it's still running."""
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
        return True
    except subprocess.TimeoutExpired:
        return False


# --------------------------------------------------------------------------------------------
# Running an agent


@dataclass
class CaseResult:
    id: str
    behavior: str
    behaviorClose: str
    duration: int | None = None
    result: str | None = None
    resultClose: str | None = None
    description: str | None = None
    expectation: str | None = None
    wasClean: bool | None = None
    wasNotCleanReason: str | None = None
    droppedByMe: bool | None = None
    failedByMe: bool | None = None
    localCloseCode: int | None = None
    localCloseReason: str | None = None
    remoteCloseCode: int | None = None
    remoteCloseReason: str | None = None
    reportfile: str | None = None


@dataclass
class AgentResult:
    agent: str
    role: str
    api: str
    impl: str
    compression: str | None
    status: str  # ran | skipped | error
    reason: str | None = None
    implementation: str | None = None
    module: str | None = None
    cases: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    not_ok: list[CaseResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    cases_duration_ms: int = 0
    agent_exit: int | None = None
    log: str | None = None
    wstest_log: str | None = None
    reports: str | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def failed_cases(self) -> list[CaseResult]:
        """Cases whose behavior or close behavior is neither OK nor INFORMATIONAL."""
        return [
            c for c in self.not_ok if c.behavior not in ACCEPTED or c.behaviorClose not in ACCEPTED
        ]

    @property
    def close_not_ok(self) -> int:
        return sum(1 for c in self.not_ok if c.behaviorClose not in ACCEPTED)

    @property
    def ok(self) -> bool:
        if self.status == "skipped":
            return True
        return (
            self.status == "ran"
            and not self.failed_cases
            and not self.missing
            and not self.log_errors
        )


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec, indent=2))
    return path


def run_agent(
    agent: Agent,
    cases: list[str],
    wstest: Wstest,
    workdir: Path,
    *,
    timeout: float,
    sync_reason: str | None = None,
    log=print,
) -> AgentResult:
    """Run wstest against one agent; ``cases`` are resolved ids. Never raises for the agent's
    own failures: they are in the result."""
    result = AgentResult(
        agent=agent.name,
        role=agent.role,
        api=agent.api,
        impl=agent.impl,
        compression=agent.compression,
        status="ran",
    )
    if agent.api == "sync" and agent.impl != "websockets" and sync_reason:
        result.status, result.reason = "skipped", sync_reason
        return result
    cases = cases_for(agent, cases)
    if not cases:
        result.status = "skipped"
        result.reason = "no selected case applies (12.*/13.* need deflate)"
        return result
    result.cases = len(cases)

    outdir = workdir / agent.name
    outdir.mkdir(parents=True, exist_ok=True)
    agent_log = workdir / f"{agent.name}.log"
    wstest_log = workdir / f"{agent.name}.wstest.log"
    result.log, result.wstest_log, result.reports = str(agent_log), str(wstest_log), str(outdir)
    library = ["--library", "websockets"] if agent.impl == "websockets" else []
    started = time.monotonic()
    deadline = started + timeout
    proc = peer = None  # the agent and wstest
    log(f"[{agent.name}] {len(cases)} cases, log {agent_log}")
    try:
        if agent.role == "server":
            cmd = [sys.executable, str(agent.script), "--host", "127.0.0.1", "--port", "0"]
            cmd += ["--compression", agent.compression or "deflate", *library]
            result.commands.append(_describe(cmd, agent))
            proc = start(cmd, agent_log, agent_env(agent))
            ready = wait_ready(proc, agent_log)
            _check_implementation(agent, ready, result)
            spec = write_spec(
                workdir / f"{agent.name}.spec.json",
                {
                    "outdir": str(outdir),
                    "servers": [{"agent": agent.name, "url": f"ws://127.0.0.1:{ready['port']}"}],
                    "cases": cases,
                    "exclude-cases": [],
                    "exclude-agent-cases": {},
                },
            )
            cmd = wstest.command("fuzzingclient", spec)
            result.commands.append(shlex.join([wstest.path, *cmd[3:]]))
            peer = start(cmd, wstest_log)
            if not wait(peer, deadline):
                result.log_errors.append(f"TIMEOUT: wstest still running after {timeout:g} s")
            elif peer.returncode != 0:
                result.log_errors.append(f"wstest exited {peer.returncode}; see {wstest_log}")
        else:
            for attempt in range(3):  # the free port may be taken in between
                port = free_port()
                spec = write_spec(
                    workdir / f"{agent.name}.spec.json",
                    {
                        "url": f"ws://127.0.0.1:{port}",
                        "outdir": str(outdir),
                        "cases": cases,
                        "exclude-cases": [],
                        "exclude-agent-cases": {},
                    },
                )
                cmd = wstest.command("fuzzingserver", spec)
                peer = start(cmd, wstest_log)
                try:
                    wait_listening(peer, port)
                    break
                except RuntimeError:
                    stop(peer)
                    if attempt == 2:
                        raise
            result.commands.append(shlex.join([wstest.path, *cmd[3:]]))
            cmd = [sys.executable, str(agent.script), "--url", f"ws://127.0.0.1:{port}"]
            cmd += ["--agent", agent.name, *library]
            result.commands.append(_describe(cmd, agent))
            proc = start(cmd, agent_log, agent_env(agent))
            ready = wait_ready(proc, agent_log)
            _check_implementation(agent, ready, result)
            if not wait(proc, deadline):
                result.log_errors.append(f"TIMEOUT: client still running after {timeout:g} s")
            elif proc.returncode != 0:
                result.log_errors.append(f"client exited {proc.returncode}")
    except Exception as exc:  # noqa: BLE001 - the agent could not be run at all: reported
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        stop(peer)  # first: a fuzzingclient stops testing a server that is going away
        code = stop(proc)
        if agent.role == "server":
            result.agent_exit = code
            if code not in (0, None) and result.status == "ran":
                result.log_errors.append(f"server exited {code} (0 expected after SIGTERM)")
        result.elapsed = time.monotonic() - started

    if result.status == "ran":
        _read_reports(agent, cases, outdir, result)
    result.log_errors = _log_errors(agent_log) + result.log_errors
    log(f"[{agent.name}] {_one_line(result)}")
    return result


def _describe(cmd: list[str], agent: Agent) -> str:
    prefix = "WSFAST_NO_EXTENSIONS=1 " if agent.impl == "python" else ""
    return prefix + shlex.join(cmd)


def _check_implementation(agent: Agent, ready: dict, result: AgentResult) -> None:
    result.implementation = ready.get("implementation")
    result.module = ready.get("module")
    if agent.impl == "websockets":
        return
    if ready.get("implementation") != agent.impl:
        raise RuntimeError(
            f"the agent runs wsfast.IMPLEMENTATION={ready.get('implementation')!r}, "
            f"not {agent.impl!r} (FALLBACK_REASON: {ready.get('fallback_reason')})"
        )


def _read_reports(agent: Agent, cases: list[str], outdir: Path, result: AgentResult) -> None:
    index_path = outdir / "index.json"
    try:
        index = json.loads(index_path.read_text()).get(agent.name, {})
    except (OSError, ValueError) as exc:
        result.status, result.reason = "error", f"no report: {index_path}: {exc}"
        return
    result.counts = {b: 0 for b in BEHAVIORS}
    for case in cases:
        entry = index.get(case)
        if entry is None:
            result.missing.append(case)
            continue
        behavior = entry.get("behavior", "?")
        result.counts[behavior] = result.counts.get(behavior, 0) + 1
        result.cases_duration_ms += entry.get("duration") or 0
        if behavior == "OK" and entry.get("behaviorClose") in ("OK", "INFORMATIONAL"):
            continue
        detail = CaseResult(
            id=case,
            behavior=behavior,
            behaviorClose=entry.get("behaviorClose", "?"),
            duration=entry.get("duration"),
            reportfile=entry.get("reportfile"),
        )
        try:
            report = json.loads((outdir / entry["reportfile"]).read_text())
        except (KeyError, OSError, ValueError):
            report = {}
        for name in (
            "result",
            "resultClose",
            "description",
            "expectation",
            "wasClean",
            "wasNotCleanReason",
            "droppedByMe",
            "failedByMe",
            "localCloseCode",
            "localCloseReason",
            "remoteCloseCode",
            "remoteCloseReason",
        ):
            setattr(detail, name, report.get(name))
        result.not_ok.append(detail)


def _log_errors(log: Path) -> list[str]:
    try:
        lines = log.read_text("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if any(m in line for m in LOG_ERROR_MARKERS)]


# --------------------------------------------------------------------------------------------
# Output


def _one_line(r: AgentResult) -> str:
    if r.status != "ran":
        return f"{r.status.upper()}: {r.reason}"
    counts = ", ".join(f"{b} {r.counts.get(b, 0)}" for b in BEHAVIORS if r.counts.get(b))
    extra = f", MISSING {len(r.missing)}" if r.missing else ""
    extra += f", log errors {len(r.log_errors)}" if r.log_errors else ""
    return f"{counts}{extra} in {r.elapsed:.0f} s"


def _short(text: str | None, width: int = 160) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


COLUMNS = ("cases", *BEHAVIORS, "close !OK", "MISSING", "log err", "time")


def _row(r: AgentResult) -> list[str]:
    if r.status != "ran":
        elapsed = f"{r.elapsed:.0f} s" if r.elapsed else "-"
        return [r.status] + ["-"] * (len(COLUMNS) - 2) + [elapsed]
    return [
        str(r.cases),
        *(str(r.counts.get(b, 0)) for b in BEHAVIORS),
        str(r.close_not_ok),
        str(len(r.missing)),
        str(len(r.log_errors)),
        f"{r.elapsed:.0f} s",
    ]


def format_text(results: list[AgentResult]) -> str:
    width = max([len("agent"), *(len(r.agent) for r in results)])
    lines = [
        f"{'agent':<{width}}  {'impl':<7} " + " ".join(f"{c:>{max(len(c), 5)}}" for c in COLUMNS)
    ]
    for r in results:
        impl = (r.implementation or r.impl)[:7]
        lines.append(
            f"{r.agent:<{width}}  {impl:<7} "
            + " ".join(f"{v:>{max(len(c), 5)}}" for c, v in zip(COLUMNS, _row(r)))
        )
    for r in results:
        if r.status != "ran":
            lines.append(f"\n{r.agent}: {r.status.upper()}: {r.reason}")
            continue
        if not (r.not_ok or r.missing or r.log_errors):
            continue
        lines.append(
            f"\n{r.agent}: {len(r.not_ok)} cases not OK / OK, {len(r.failed_cases)} of them "
            f"failing (reports {r.reports})"
        )
        for c in r.not_ok:
            lines.append(f"  {c.id:<8} {c.behavior} / {c.behaviorClose}")
            lines.append(f"           result: {_short(c.result)}")
            if c.resultClose:
                lines.append(f"           close:  {_short(c.resultClose)}")
            lines.append(
                f"           codes: local {c.localCloseCode} remote {c.remoteCloseCode} "
                f"clean {c.wasClean} droppedByMe {c.droppedByMe} failedByMe {c.failedByMe}"
            )
        if r.missing:
            lines.append(f"  MISSING (no result): {' '.join(r.missing)}")
        if r.log_errors:
            lines.append(f"  log errors ({len(r.log_errors)}, log {r.log}):")
            lines += [f"    {_short(e, 200)}" for e in r.log_errors[:20]]
            if len(r.log_errors) > 20:
                lines.append(f"    ... {len(r.log_errors) - 20} more")
    return "\n".join(lines)


def format_markdown(results: list[AgentResult]) -> str:
    lines = [
        "| agent | implementation | " + " | ".join(COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for r in results:
        lines.append(f"| {r.agent} | {r.implementation or r.impl} | " + " | ".join(_row(r)) + " |")
    notes = []
    for r in results:
        if r.status != "ran":
            notes.append(f"- {r.agent}: {r.status}: {r.reason}")
            continue
        failed = [f"{c.id} ({c.behavior} / {c.behaviorClose})" for c in r.failed_cases]
        if r.missing:
            failed.append("missing: " + ", ".join(r.missing))
        if r.log_errors:
            failed.append(f"{len(r.log_errors)} error lines in the agent's log")
        informational = [c.id for c in r.not_ok if c not in r.failed_cases]
        if failed:
            notes.append(f"- {r.agent}: " + ", ".join(failed))
        if informational:
            notes.append(f"- {r.agent}: INFORMATIONAL only: " + ", ".join(informational))
    if notes:
        lines += ["", "Cases not OK (behavior / close behavior):", "", *notes]
    return "\n".join(lines)


def summary(results: list[AgentResult], **extra) -> dict:
    return {
        **extra,
        "ok": all(r.ok for r in results),
        "agents": [
            {**asdict(r), "ok": r.ok, "failed_cases": [c.id for c in r.failed_cases]}
            for r in results
        ],
    }


def load_summary(path: Path) -> list[AgentResult]:
    """The results in a summary written by --json."""
    names = set(AgentResult.__dataclass_fields__)
    results = []
    for data in json.loads(Path(path).read_text())["agents"]:
        r = AgentResult(**{k: v for k, v in data.items() if k in names})
        r.not_ok = [CaseResult(**c) for c in data.get("not_ok", [])]
        results.append(r)
    return results


README_BEGIN = "<!-- autobahn-summary:begin (python -m tests.compliance.run --readme README.md) -->"
README_END = "<!-- autobahn-summary:end -->"


def write_readme(path: Path, results: list[AgentResult], meta: dict) -> None:
    """Replace the summary between the README's markers with this run's table."""
    text = Path(path).read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{path} has no {README_BEGIN!r} ... {README_END!r} section")
    verdict = "every case OK or INFORMATIONAL" if all(r.ok for r in results) else "NOT all OK"
    when = time.strftime("%Y-%m-%d", time.localtime(meta.get("finished", time.time())))
    patterns = meta.get("patterns", [])
    which = (
        "the quick set: cases 1 to 10, a slice of 12 and 13"
        if patterns == QUICK_CASES
        else " ".join(patterns)
    )
    header = (
        f"Run of {when} at wsfast {meta.get('commit', '?')}: {meta.get('cases', '?')} cases "
        f"({which}), {len(results)} agents, "
        f"{meta.get('elapsed', 0) / 60:.0f} min; {verdict}."
    )
    block = f"{README_BEGIN}\n{header}\n\n{format_markdown(results)}\n{README_END}"
    Path(path).write_text(text[:begin] + block + text[end + len(README_END):])


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.compliance.run",
        description="Run the Autobahn testsuite against wsfast's echo agents.",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        metavar="GLOB",
        help="case globs or id prefixes (default: all; e.g. 1.* 6.4 12.1.1)",
    )
    parser.add_argument("--exclude-cases", nargs="+", metavar="GLOB", default=[])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="cases 1.*-10.* and a slice of 12.*/13.* (the CI set)",
    )
    parser.add_argument("--agents", nargs="+", metavar="GLOB", help="agent name globs")
    parser.add_argument(
        "--reference", action="store_true", help="also run the agents on websockets"
    )
    parser.add_argument("--list-agents", action="store_true")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per agent (default 1800 with --quick, 7200 otherwise)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        help="keep logs and reports here (default: a temporary directory, removed when "
        "everything is OK)",
    )
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", metavar="PATH", help="write a JSON summary to PATH ('-': stdout)")
    parser.add_argument("--no-install", action="store_true", help="never run install.sh")
    parser.add_argument(
        "--readme",
        metavar="PATH",
        type=Path,
        help="write the summary table into the conformance section of PATH (README.md)",
    )
    parser.add_argument(
        "--render",
        metavar="JSON",
        type=Path,
        help="run nothing: print the tables of a summary written by --json",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    agents = select_agents(args.agents, args.reference)
    if args.list_agents:
        print("\n".join(a.name for a in all_agents(reference=True)))
        return 0
    if args.render:
        results = load_summary(args.render)
        print(format_markdown(results) if args.markdown else format_text(results))
        if args.readme:
            write_readme(args.readme, results, json.loads(args.render.read_text()))
        return 0 if all(r.ok for r in results) else 1
    if not agents:
        print(f"no agent matches {args.agents}; see --list-agents", file=sys.stderr)
        return 2
    to_stdout = args.json == "-"
    log = (
        (lambda *a: print(*a, file=sys.stderr, flush=True))
        if to_stdout
        else (lambda *a: print(*a, flush=True))
    )

    try:
        wstest = ensure_wstest(install=not args.no_install, log=log)
    except WstestUnavailable as exc:
        print(f"SKIPPED: wstest unavailable: {exc}", file=sys.stderr)
        return 3
    all_ids = wstest.case_ids()
    patterns = QUICK_CASES if args.quick else (args.cases or ["*"])
    if args.quick and args.cases:
        patterns = patterns + args.cases
    try:
        cases = resolve_cases(patterns, all_ids)
        excluded = set(resolve_cases(args.exclude_cases, all_ids)) if args.exclude_cases else set()
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    cases = [c for c in cases if c not in excluded]
    timeout = args.timeout or (1800 if args.quick else 7200)

    keep = args.reports_dir is not None
    workdir = args.reports_dir or Path(tempfile.mkdtemp(prefix="wsfast-autobahn-"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    needs_sync = any(a.api == "sync" and a.impl != "websockets" for a in agents)
    sync_reason = sync_unavailable() if needs_sync else None
    commit = git_describe()
    log(f"wsfast {commit}; wstest {wstest.path} (python {wstest.python})")
    log(f"{len(cases)} cases; workdir {workdir}")

    started = time.monotonic()
    results = []
    for agent in agents:
        results.append(
            run_agent(
                agent, cases, wstest, workdir, timeout=timeout, sync_reason=sync_reason, log=log
            )
        )
    elapsed = time.monotonic() - started
    ok = all(r.ok for r in results)

    text = format_markdown(results) if args.markdown else format_text(results)
    (sys.stderr if to_stdout else sys.stdout).write(text + "\n")
    log(f"\n{'OK' if ok else 'NOT OK'}: {len(results)} agents in {elapsed:.0f} s")
    meta = {
        "commit": commit,
        "wstest": wstest.path,
        "cases": len(cases),
        "patterns": patterns,
        "elapsed": elapsed,
        "finished": time.time(),
        "workdir": str(workdir),
    }
    if args.readme:
        write_readme(args.readme, results, meta)
    if args.json:
        data = json.dumps(summary(results, **meta), indent=2)
        if to_stdout:
            print(data)
        else:
            Path(args.json).write_text(data + "\n")
    if ok and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"logs and reports kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
