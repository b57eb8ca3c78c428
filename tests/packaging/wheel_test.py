#!/usr/bin/env python3
"""Test the installed wsfast: cibuildwheel's test command, usable by hand too.

Run it from a directory that holds a copy of ``tests/`` and ``pyproject.toml`` and no ``src/``
(cibuildwheel's ``test-sources`` makes one), so that the installed wheel is what gets imported::

    python tests/packaging/wheel_test.py --expect cython [-- extra pytest arguments]

1. Prints what runs: interpreter, free-threading, ``wsfast.IMPLEMENTATION``, kernels, and why
   it is pure Python when it is; fails if that is not the ``--expect``-ed implementation.
2. On a free-threaded interpreter, imports ``wsfast._speedups`` in a fresh process and fails if
   that turned the GIL back on (the module must declare ``Py_mod_gil``), or if the
   concurrency smoke test (tests/packaging/ft_stress.py) fails.
3. Runs the test suite with pytest in a fresh process; its exit status is this script's.

``--without MODULE,...`` names test dependencies that cannot be installed on this target (no
wheel, and no way to build one: cryptography for CPython 3.13t, say). The test files that
import one of them at top level are left out with ``--ignore``, and the script says which.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent

REPORT = """
import json, sys, wsfast, wsfast.speedups as s
print(json.dumps({
    "implementation": wsfast.IMPLEMENTATION,
    "fallback_reason": wsfast.FALLBACK_REASON,
    "mask_impl": s.MASK_IMPL,
    "utf8_impl": s.UTF8_IMPL,
    "module": getattr(s._impl, "__file__", None),
    "wsfast": wsfast.__file__,
}))
"""

GIL_PROBE = """
import sys, warnings
warnings.simplefilter("error")  # "The global interpreter lock (GIL) has been enabled..."
import wsfast._speedups
print(sys._is_gil_enabled())
"""


def child_env() -> dict[str, str]:
    # Nothing of the caller's WSFAST_* settings may steer the run, and PYTHON_GIL=0 would hide
    # a missing Py_mod_gil declaration.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    env.pop("PYTHON_GIL", None)
    return env


def _top_level_imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def files_importing(modules: set[str], root: Path) -> list[Path]:
    """Test files under ``root`` that import one of ``modules`` at their top level, directly
    or through another test module (test_a imports test_b, which imports trustme)."""
    imports = {path: _top_level_imports(path) for path in sorted(root.rglob("*.py"))}
    unwanted = set(modules)
    found: list[Path] = []
    changed = True
    while changed:
        changed = False
        for path, names in imports.items():
            if path not in found and names & unwanted:
                found.append(path)
                unwanted.add(path.stem)
                changed = True
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect", choices=["cython", "python", "any"], default="any")
    parser.add_argument("--without", default="",
                        help="comma-separated modules missing on purpose (see above)")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed on to pytest")
    args = parser.parse_args()
    without = {m for m in args.without.split(",") if m}
    ignores = []
    missing = {m for m in without if importlib.util.find_spec(m) is None}
    if missing:
        for path in files_importing(missing, Path("tests")):
            names = ", ".join(sorted(missing))
            print(f"leaving out {path}: it needs {names}, not installable here")
            ignores.append(f"--ignore={path.as_posix()}")

    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    print(f"python {sys.version} ({sys.executable}); free-threaded build: {free_threaded}")
    out = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True,
                         env=child_env(), cwd=Path.cwd(), check=False)
    if out.returncode != 0:
        print(out.stdout + out.stderr)
        print("FAIL: wsfast does not import")
        return 1
    report = json.loads(out.stdout)
    for key, value in report.items():
        print(f"  {key}: {value}")
    if args.expect != "any" and report["implementation"] != args.expect:
        print(f"FAIL: expected the {args.expect} implementation")
        return 1
    if "site-packages" not in (report["wsfast"] or ""):
        print("note: wsfast is not imported from site-packages:", report["wsfast"])

    if free_threaded and report["implementation"] == "cython":
        gil = subprocess.run([sys.executable, "-c", GIL_PROBE], capture_output=True,
                             text=True, env=child_env(), check=False)
        print(f"  GIL after importing wsfast._speedups: {gil.stdout.strip() or gil.stderr}")
        if gil.returncode != 0 or gil.stdout.strip() != "False":
            print("FAIL: importing wsfast._speedups enabled the GIL:\n" + gil.stderr)
            return 1
        stress = subprocess.run([sys.executable, str(HERE / "ft_stress.py")], env=child_env(),
                                capture_output=True, text=True, check=False)
        print(stress.stdout + stress.stderr)
        if stress.returncode != 0:
            print("FAIL: concurrency smoke test")
            return 1

    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", *ignores,
               *args.pytest_args]
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, env=child_env(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
