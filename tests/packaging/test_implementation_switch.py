"""The implementation switch: which codec a fresh interpreter picks, and why.

Each check runs in a subprocess, since the choice is made once, at import time, from the
environment. WSFAST_* variables of the calling environment are removed first so that the
outcome depends only on what each test sets.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

PROBE = """
import json
import wsfast, wsfast.speedups as s
report = {
    "implementation": wsfast.IMPLEMENTATION,
    "speedups_implementation": s.IMPLEMENTATION,
    "fallback_reason": s.FALLBACK_REASON,
    "package_fallback_reason": wsfast.FALLBACK_REASON,
    "mask_impl": s.MASK_IMPL,
    "utf8_impl": s.UTF8_IMPL,
    "apply_mask_module": getattr(s.apply_mask, "__module__", None),
    "validator_module": s.Utf8Validator.__module__,
}
try:
    import wsfast._speedups as c
except ImportError as exc:
    report["cython"] = None
    report["cython_error"] = str(exc)
else:
    report["cython"] = {"mask_impl": c.MASK_IMPL, "utf8_impl": c.UTF8_IMPL}
print(json.dumps(report))
"""


def clean_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WSFAST_")}
    env.update(overrides)
    return env


def probe(**overrides: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean_env(**overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def default_report():
    report = probe()
    if report["cython"] is None:
        pytest.skip(
            f"the Cython extension is not built here: {report['cython_error']} "
            f"(FALLBACK_REASON: {report['fallback_reason']})"
        )
    return report


def test_default_import_uses_cython_when_built(default_report):
    assert default_report["implementation"] == "cython"
    assert default_report["speedups_implementation"] == "cython"
    assert default_report["fallback_reason"] is None
    assert default_report["package_fallback_reason"] is None
    assert default_report["validator_module"] == "wsfast._speedups"
    assert default_report["mask_impl"] == default_report["cython"]["mask_impl"]
    assert default_report["utf8_impl"] == default_report["cython"]["utf8_impl"]


def test_default_kernels_are_simd_on_known_platforms(default_report):
    import platform

    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        assert default_report["mask_impl"] in {"avx2", "sse2"}
        assert default_report["utf8_impl"] in {"avx2", "ssse3", "scalar"}
    elif machine in ("aarch64", "arm64"):
        assert (default_report["mask_impl"], default_report["utf8_impl"]) == ("neon", "neon")
    else:
        pytest.skip(f"no SIMD kernels for {machine}")


def test_no_extensions_forces_python():
    report = probe(WSFAST_NO_EXTENSIONS="1")
    assert report["implementation"] == "python"
    assert report["speedups_implementation"] == "python"
    assert "WSFAST_NO_EXTENSIONS" in report["fallback_reason"]
    assert report["package_fallback_reason"] == report["fallback_reason"]
    assert (report["mask_impl"], report["utf8_impl"]) == ("python", "python")
    assert report["apply_mask_module"] == "wsfast._speedups_py"
    assert report["validator_module"] == "wsfast._speedups_py"


def test_no_extensions_zero_or_empty_does_not_disable(default_report):
    for value in ("0", ""):
        report = probe(WSFAST_NO_EXTENSIONS=value)
        assert report["implementation"] == "cython", value
        assert report["fallback_reason"] is None


def test_force_scalar_selects_portable_kernels(default_report):
    report = probe(WSFAST_FORCE_SCALAR="1")
    assert report["cython"] == {"mask_impl": "word64", "utf8_impl": "scalar"}
    assert report["implementation"] == "cython"
    assert (report["mask_impl"], report["utf8_impl"]) == ("word64", "scalar")


def test_force_scalar_zero_keeps_default_kernels(default_report):
    report = probe(WSFAST_FORCE_SCALAR="0")
    assert report["cython"] == default_report["cython"]


def test_codec_tests_pass_with_portable_kernels(default_report):
    """Run the Cython half of the codec tests again on the scalar kernels."""
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest",
            "tests/codec/test_mask.py", "tests/codec/test_utf8.py",
            "tests/codec/test_differential.py",
            "-k", "cython", "-q", "-p", "no:cacheprovider", "-x",
        ],
        env=clean_env(WSFAST_FORCE_SCALAR="1"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-5000:]
    assert " passed" in output and "skipped" not in output.splitlines()[-1], output[-2000:]


FIRST_IMPORT = """
import importlib, json, sys
first = importlib.import_module(sys.argv[1])
import wsfast.speedups as s
from wsfast._codec_names import CODEC_NAMES
from wsfast.frames import Frame, Opcode
codec = importlib.import_module(
    "wsfast._speedups" if s.IMPLEMENTATION == "cython" else "wsfast._speedups_py"
)
writer = codec.FrameWriter(mask=False)
reader = codec.FrameReader(mask=False)
reader.feed_data(writer.frame(0x9, b"ping"))
frame = reader.read_frame()
print(json.dumps({
    "implementation": s.IMPLEMENTATION,
    "frame_class": type(frame) is Frame,
    "opcode": frame.opcode is Opcode.PING,
    "exported": [name for name in CODEC_NAMES if getattr(s, name) is not getattr(codec, name)],
}))
"""


@pytest.mark.parametrize("no_extensions", ["", "1"], ids=["default", "no-extensions"])
@pytest.mark.parametrize(
    "module",
    ["wsfast._speedups_py", "wsfast._speedups", "wsfast.frames", "wsfast.utils",
     "wsfast.extensions.permessage_deflate", "wsfast.protocol"],
)
def test_codec_imports_its_frame_classes_whatever_is_imported_first(module, no_extensions):
    # The codec is the bottom layer: it imports Frame, Opcode and PerMessageDeflate when it
    # loads, and the modules above reach it through wsfast.speedups when they call it, so no
    # import order can find a name that isn't bound yet.
    if module == "wsfast._speedups" and no_extensions:
        pytest.skip("the extension itself is what WSFAST_NO_EXTENSIONS leaves out")
    env = clean_env(**({"WSFAST_NO_EXTENSIONS": no_extensions} if no_extensions else {}))
    completed = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORT, module],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    if completed.returncode != 0 and "No module named 'wsfast._speedups'" in completed.stderr:
        pytest.skip("the Cython extension is not built here")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["frame_class"] and report["opcode"]
    assert report["exported"] == []
    if no_extensions:
        assert report["implementation"] == "python"
