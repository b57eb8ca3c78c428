"""pyproject.toml's [tool.cibuildwheel]: the intended wheels, and test lists that follow the extra.

Some targets cannot install the whole ``test`` extra (no wheel of a dependency, and no way to
build one there), so their overrides list the test requirements themselves. Those copies must
stay equal to the extra less the packages named here; a new override with ``test-requires``
must be added to EXCLUDED with the reason in pyproject.toml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"

# override "select" -> packages of the test extra it leaves out
EXCLUDED = {
    "*-win_arm64": {"isal", "mypy", "aiofastnet"},
    "cp313t-* cp315t-*": {"trustme", "zlib-ng", "isal", "mypy", "aiofastnet"},
}

# What cibuildwheel 4 must list: CPython 3.10 to 3.15 and the free-threaded 3.14t and 3.15t.
VERSIONS = ["cp310", "cp311", "cp312", "cp313", "cp314", "cp314t", "cp315", "cp315t"]
PLATFORMS = {
    "linux": [
        f"{libc}_{arch}" for libc in ("manylinux", "musllinux") for arch in ("x86_64", "aarch64")
    ],
    "macos": ["macosx_x86_64", "macosx_arm64"],
    "windows": ["win_amd64", "win_arm64"],
}


def _load() -> dict[str, Any]:
    if not PYPROJECT.exists():
        pytest.skip(f"no pyproject.toml at {PYPROJECT}")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading TOML needs Python 3.11 or tomli")
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)  # type: ignore[no-any-return]


def _key(requirement: str) -> tuple[str, str]:
    from packaging.requirements import Requirement  # pytest depends on packaging
    from packaging.utils import canonicalize_name

    parsed = Requirement(requirement)
    return canonicalize_name(parsed.name), str(parsed.specifier)


def _python_version_markers(requirements: list[str]) -> dict[str, str]:
    """Name -> marker, for the requirements whose marker depends on the Python version
    (websockets 17 needs 3.11: the overrides must not install it on 3.10 either)."""
    from packaging.requirements import Requirement

    markers = {}
    for requirement in requirements:
        parsed = Requirement(requirement)
        if parsed.marker is not None and "python_version" in str(parsed.marker):
            markers[_key(requirement)[0]] = str(parsed.marker)
    return markers


def test_override_test_requirements_follow_the_test_extra() -> None:
    data = _load()
    extra = data["project"]["optional-dependencies"]["test"]
    overrides = data["tool"]["cibuildwheel"].get("overrides", [])
    checked = 0
    for override in overrides:
        if "test-requires" not in override:
            continue
        select = override["select"]
        assert select in EXCLUDED, f"override {select!r} lists test-requires: add it to EXCLUDED"
        expected = {_key(r) for r in extra if _key(r)[0] not in EXCLUDED[select]}
        assert {_key(r) for r in override["test-requires"]} == expected, select
        wanted = {
            name: marker
            for name, marker in _python_version_markers(extra).items()
            if name not in EXCLUDED[select]
        }
        assert _python_version_markers(override["test-requires"]) == wanted, select
        assert override.get("test-extras") == [], f"{select}: test-extras would add them back"
        if "trustme" in EXCLUDED[select]:
            assert "--without trustme" in override.get("test-command", ""), select
        checked += 1
    assert checked == len(EXCLUDED)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_print_build_identifiers(platform: str) -> None:
    cibuildwheel = shutil.which("cibuildwheel")
    if cibuildwheel is None:
        pytest.skip("cibuildwheel is not installed (pip install cibuildwheel)")
    version = subprocess.run(
        [sys.executable, "-c", "import cibuildwheel; print(cibuildwheel.__version__)"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    completed = subprocess.run(
        [cibuildwheel, "--print-build-identifiers", "--platform", platform],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    identifiers = set(completed.stdout.split())
    for identifier in identifiers:
        assert re.fullmatch(r"cp3(1\d)t?-\S+", identifier), f"not CPython 3.10+: {identifier}"
        assert identifier.split("-", 1)[1] in PLATFORMS[platform], identifier
    if version.startswith("4."):
        expected = {f"{v}-{p}" for v in VERSIONS for p in PLATFORMS[platform]}
        assert identifiers == expected
