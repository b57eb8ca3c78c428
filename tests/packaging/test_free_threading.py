"""The extension on free-threaded CPython: it keeps the GIL off, and its shared pools hold up.

``wsfast._speedups`` declares ``freethreading_compatible`` (Py_mod_gil = Py_MOD_GIL_NOT_USED).
Importing a module without that declaration turns the GIL back on with a RuntimeWarning, so the
probe runs in a fresh process with warnings as errors and checks ``sys._is_gil_enabled()``.

Which free-threaded interpreter: the running one if it is free-threaded (cibuildwheel's cp314t
and cp315t test runs, with the wheel installed); else the first one found among
$WSFAST_FREE_THREADED_PYTHON, python3.13t/3.14t/3.15t on PATH and pyenv's versions, into which
the extension is built from this checkout (slow: only with WSFAST_PACKAGING_TESTS=1). With none
on the machine the test skips and says where it looked.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STRESS = HERE / "ft_stress.py"

GIL_PROBE = """
import sys, warnings
warnings.simplefilter("error")
import wsfast, wsfast._speedups
assert wsfast.IMPLEMENTATION == "cython", wsfast.FALLBACK_REASON
print(sys._is_gil_enabled())
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    env.pop("PYTHON_GIL", None)  # PYTHON_GIL=0 would hide a missing declaration
    return env


def _is_free_threaded(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c",
             "import sysconfig; print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"],
            capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_free_threaded() -> tuple[str | None, list[str]]:
    """A free-threaded interpreter other than the running one, and the places looked at."""
    looked: list[str] = []
    candidates: list[str] = []
    if os.environ.get("WSFAST_FREE_THREADED_PYTHON"):
        candidates.append(os.environ["WSFAST_FREE_THREADED_PYTHON"])
    looked.append("$WSFAST_FREE_THREADED_PYTHON")
    for name in ("python3.13t", "python3.14t", "python3.15t", "python3t"):
        looked.append(name)
        found = shutil.which(name)
        if found:
            candidates.append(found)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    pattern = os.path.join(pyenv_root, "versions", "*", "bin", "python3*t")
    looked.append(pattern)
    candidates.extend(sorted(glob.glob(pattern)))
    # pyenv installs free-threaded builds as e.g. "3.13.1t", each with a plain python3 too
    for prefix in sorted(glob.glob(os.path.join(pyenv_root, "versions", "*t"))):
        candidates.append(os.path.join(prefix, "bin", "python3"))
    for candidate in candidates:
        if os.path.exists(candidate) and _is_free_threaded(candidate):
            return candidate, looked
    return None, looked


def _check_gil_probe(python: str) -> None:
    probe = subprocess.run([python, "-c", GIL_PROBE], capture_output=True, text=True,
                           env=_env(), cwd=HERE, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "False", (
        "importing wsfast._speedups enabled the GIL\n" + probe.stdout + probe.stderr
    )


def _check_stress(python: str) -> None:
    stress = subprocess.run([python, str(STRESS)], capture_output=True, text=True,
                            env=_env(), cwd=HERE, timeout=600, check=False)
    assert stress.returncode == 0, stress.stdout + stress.stderr


def _cython_importable() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import wsfast._speedups"],
                           capture_output=True, env=_env(), cwd=HERE, check=False)
    return probe.returncode == 0


RUNNING_FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def test_shared_pools_under_threads() -> None:
    """The masking-key and receive-buffer pools from many threads, on this interpreter."""
    if not _cython_importable():
        pytest.skip("wsfast._speedups is not importable on this interpreter")
    _check_stress(sys.executable)


@pytest.mark.skipif(not RUNNING_FREE_THREADED, reason="this interpreter has a GIL")
def test_running_interpreter_keeps_gil_disabled() -> None:
    if not _cython_importable():
        pytest.fail("free-threaded interpreter, but wsfast._speedups is not importable")
    _check_gil_probe(sys.executable)


def test_build_and_import_on_free_threaded_interpreter(tmp_path: Path) -> None:
    """Build the extension from this checkout for a free-threaded interpreter and import it."""
    if RUNNING_FREE_THREADED:
        pytest.skip("the running interpreter is free-threaded: see the test above")
    python, looked = find_free_threaded()
    if python is None:
        pytest.skip(
            "no free-threaded CPython on this machine (looked at: " + ", ".join(looked) + "); "
            "cibuildwheel's cp314t/cp315t wheel tests run this check in CI"
        )
    if os.environ.get("WSFAST_PACKAGING_TESTS") != "1":
        pytest.skip(f"found {python}, but building there is slow: set WSFAST_PACKAGING_TESTS=1")
    if not (ROOT / "setup.py").exists():
        pytest.skip(f"no source tree at {ROOT} to build from")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    venv_python = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    env = _env()
    env["WSFAST_BUILD_EXTENSION"] = "required"
    build = subprocess.run(
        [venv_python, "-m", "pip", "install", "--no-cache-dir", str(ROOT)],
        capture_output=True, text=True, env=env, timeout=1800, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    _check_gil_probe(venv_python)
    _check_stress(venv_python)
