"""``mypy --strict src`` accepts the package (issue 9: type information users can rely on).

Runs only where mypy is installed (the ``test`` extra installs it on CPython) and the source
tree is there (a clone, not an installed wheel); the version range is pinned in pyproject.toml,
since each mypy release finds new things.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_strict_accepts_src() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    if not (ROOT / "src" / "wsfast").is_dir():
        pytest.skip("no source tree next to the tests")
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "src"],
        capture_output=True, text=True, cwd=ROOT, timeout=900, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
