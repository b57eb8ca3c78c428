"""The Autobahn testsuite against wsfast's echo agents, as a pytest test.

Skipped unless ``WSFAST_AUTOBAHN`` is set: ``1`` or ``quick`` runs the quick set of run.py
(cases 1.*-10.* and a slice of 12.*/13.*, a few minutes), ``full`` every case (an hour or
more). One test per agent (see ``python -m tests.compliance.run --list-agents``); each fails
when a case's behavior or close behavior is neither OK nor INFORMATIONAL, when a case has no
result, or when the agent logged an error. Where wstest cannot be installed (no Python 2.7:
install.sh exits 3) the tests skip with that reason.

Known wsfast bugs are listed in ``KNOWN_BUGS``: ``test_autobahn`` leaves their cases to
``test_known_bug``, which is a strict xfail, so that fixing a bug makes it fail until the
entry is removed here.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import sys
from pathlib import Path

import pytest

MODE = os.environ.get("WSFAST_AUTOBAHN", "").strip().lower()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        MODE not in ("1", "quick", "full"),
        reason="the Autobahn testsuite runs only with WSFAST_AUTOBAHN=1 (or quick: the quick "
        "set) or WSFAST_AUTOBAHN=full (every case)",
    ),
]


def _load_runner():
    """run.py, imported by path: the test module's package name depends on pytest's mode."""
    name = "_wsfast_compliance_run"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("run.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


runner = _load_runner()

AGENTS = runner.all_agents()  # wsfast's own: cython and python, asyncio and sync

# Known bugs: bug name -> (agent globs, case ids, reason). Empty since 24eaa0f, which fixed
# the last ones: the NON-STRICT 3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.5 and 5.15 (a protocol error
# right after a valid message failed the connection before the message was echoed) and the
# FAILED 7.1.5 (a close between fragments answered with 1002). test_autobahn_repro.py guards
# both without wstest. A new entry makes its cases strict xfails in test_known_bug.
KNOWN_BUGS: dict[str, tuple[list[str], list[str], str]] = {}


def known_cases(agent) -> dict[str, str]:
    """Case id -> bug name, for the known bugs of this agent."""
    known = {}
    for bug, (agent_globs, cases, _) in KNOWN_BUGS.items():
        if any(fnmatch.fnmatchcase(agent.name, g) for g in agent_globs):
            known.update(dict.fromkeys(cases, bug))
    return known


@pytest.fixture(scope="module")
def autobahn(tmp_path_factory):
    """A function running wstest against an agent, once per agent in this module."""
    try:
        wstest = runner.ensure_wstest(log=lambda *a: print(*a, file=sys.stderr))
    except runner.WstestUnavailable as exc:
        pytest.skip(f"wstest unavailable: {exc}")
    patterns = ["*"] if MODE == "full" else runner.QUICK_CASES
    cases = runner.resolve_cases(patterns, wstest.case_ids())
    timeout = 7200 if MODE == "full" else 1800
    sync_reason = runner.sync_unavailable()
    workdir = tmp_path_factory.mktemp("autobahn")
    results = {}

    def run(agent):
        if agent.name not in results:
            results[agent.name] = runner.run_agent(
                agent,
                cases,
                wstest,
                workdir,
                timeout=timeout,
                sync_reason=sync_reason,
                log=lambda *a: print(*a, file=sys.stderr),
            )
        result = results[agent.name]
        if result.status == "skipped":
            pytest.skip(f"{agent.name}: {result.reason}")
        assert result.status == "ran", f"{agent.name}: {result.reason}"
        return result

    return run


@pytest.mark.parametrize("agent", AGENTS, ids=[a.name for a in AGENTS])
def test_autobahn(autobahn, agent):
    result = autobahn(agent)
    known = known_cases(agent)
    unexpected = [c for c in result.failed_cases if c.id not in known]
    problems = unexpected or result.missing or result.log_errors
    if problems:
        # Show only what isn't a known bug.
        result.not_ok = [c for c in result.not_ok if c.id not in known]
        pytest.fail(runner.format_text([result]), pytrace=False)


KNOWN = [
    pytest.param(
        agent,
        bug,
        id=f"{bug}-{agent.name}",
        marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[bug][2]),
    )
    for bug, (globs, _, _) in KNOWN_BUGS.items()
    for agent in AGENTS
    if any(fnmatch.fnmatchcase(agent.name, g) for g in globs)
]


@pytest.mark.parametrize(("agent", "bug"), KNOWN)
def test_known_bug(autobahn, agent, bug):
    result = autobahn(agent)
    cases = set(KNOWN_BUGS[bug][1])
    failing = [c for c in result.failed_cases if c.id in cases]
    assert not failing, runner.format_text(
        [runner.AgentResult(**{**vars(result), "not_ok": failing, "missing": [], "log_errors": []})]
    )
