"""A short, bounded fuzz run of every target, for CI: only when WSFAST_FUZZ_SECONDS is set.

``WSFAST_FUZZ_SECONDS`` is the time per target (4 targets; 35 makes a run of about 2.5
minutes with the start-up of each process). Each target runs in its own process with atheris,
from the seed corpus, as ``python -m tests.fuzz.run`` does; a finding fails the test with the
runner's report (error, saved input, log). Skipped, saying why, where atheris isn't
installed or can't be imported on this interpreter.
"""

from __future__ import annotations

import os

import pytest

from . import run

SECONDS = os.environ.get("WSFAST_FUZZ_SECONDS", "").strip()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SECONDS, reason="short fuzz runs only with WSFAST_FUZZ_SECONDS=<seconds per target>"),
]


@pytest.mark.parametrize("target", run.TARGETS)
def test_fuzz_short(target, tmp_path, record_property):
    reason = run.atheris_available()
    if reason:
        pytest.skip(reason)
    result = run.run_target(
        target, float(SECONDS), "atheris", tmp_path / "corpus", tmp_path / "findings",
        tmp_path / "logs", [],
    )
    text = run.report([result])
    print(text)
    record_property("inputs_executed", result.executed)
    record_property("seconds", result.seconds)
    assert result.error is None, text
    assert not result.findings, text
    assert result.executed > 0, text
