"""pytest plugin for a foreign test suite: wsfast installed as websockets, and a JSON record.

Loaded with ``-p wsfast_as_websockets`` from a directory on PYTHONPATH by
tests/interop/test_uvicorn_suite.py, in uvicorn's own test run (and in every pytest-xdist worker,
which gets the same ``-p``). Environment:

* ``WSFAST_UVICORN_AS``: ``wsfast`` calls ``wsfast.install_as_websockets()`` when this module
  is imported, which is while pytest reads its command line, before any conftest or test
  module is imported; ``websockets`` (the baseline) changes nothing.
* ``WSFAST_UVICORN_REPORT``: a path. Every process writes ``PATH.<worker>.json`` at the end
  of its session (``main`` for the controller, ``gw0``… for workers): what ``websockets``
  resolved to there, the install report, and any module of the real websockets package
  that got imported all the same. The controller, which sees every test's reports, also
  writes ``PATH`` itself: one outcome per node id (passed, failed, error, skipped, xfailed,
  xpassed) with the failure text, and the collection errors.

Nothing here knows uvicorn: the harness picks the test files.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
from pathlib import Path

MODE = os.environ.get("WSFAST_UVICORN_AS", "websockets")
REPORT = os.environ.get("WSFAST_UVICORN_REPORT")

INSTALL_REPORT = None
if MODE == "wsfast":
    import wsfast

    INSTALL_REPORT = wsfast.install_as_websockets()
elif MODE != "websockets":
    raise RuntimeError(f"WSFAST_UVICORN_AS must be 'wsfast' or 'websockets', not {MODE!r}")

#: Failure text kept per test (the harness shows the first lines).
MAX_TEXT = 6000

_outcomes: dict[str, dict] = {}
_collect_errors: dict[str, str] = {}


def _text(report) -> str:
    try:
        text = report.longreprtext
    except AttributeError:  # pragma: no cover - very old pytest
        text = str(report.longrepr)
    return text[-MAX_TEXT:] if len(text) > MAX_TEXT else text


def pytest_runtest_logreport(report):
    entry = _outcomes.setdefault(report.nodeid, {"outcome": None, "duration": 0.0})
    entry["duration"] += getattr(report, "duration", 0.0) or 0.0
    bad = entry["outcome"] in ("failed", "error")
    if report.failed:
        if not bad:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["when"] = report.when
            entry["text"] = _text(report)
    elif report.skipped:
        if entry["outcome"] is None:
            entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            if entry["outcome"] == "skipped" and isinstance(report.longrepr, tuple):
                entry["text"] = str(report.longrepr[2])
    elif report.when == "call" and entry["outcome"] is None:
        entry["outcome"] = "xpassed" if hasattr(report, "wasxfail") else "passed"


def pytest_collectreport(report):
    if report.failed:
        _collect_errors[report.nodeid or "<session>"] = _text(report)


def _real_websockets_dir() -> str | None:
    """Where the real websockets package is installed, looked up on sys.path directly."""
    spec = importlib.machinery.PathFinder.find_spec("websockets")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(list(spec.submodule_search_locations)[0]).resolve())


def _process_record(config) -> dict:
    module = sys.modules.get("websockets")
    real = _real_websockets_dir()
    leaked = []
    if MODE == "wsfast" and real is not None:
        for name, mod in list(sys.modules.items()):
            path = getattr(mod, "__file__", None)
            if path and str(Path(path).resolve()).startswith(real + os.sep):
                leaked.append(name)
    record = {
        "mode": MODE,
        "pid": os.getpid(),
        "websockets_imported": module is not None,
        "websockets_file": getattr(module, "__file__", None),
        "websockets_version": getattr(module, "__version__", None),
        "real_websockets_dir": real,
        "leaked_real_modules": sorted(leaked),
        "install_report": str(INSTALL_REPORT) if INSTALL_REPORT is not None else None,
    }
    if MODE == "wsfast":
        import wsfast
        import wsfast.speedups

        record["wsfast_file"] = wsfast.__file__
        record["implementation"] = wsfast.speedups.IMPLEMENTATION
        record["websockets_is_wsfast"] = module is not None and (
            getattr(module, "__file__", None) == wsfast.__file__
        )
    return record


def pytest_sessionfinish(session, exitstatus):
    if not REPORT:
        return
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    record = _process_record(session.config)
    record["exitstatus"] = int(exitstatus)
    if worker != "main":
        record["collect_errors"] = _collect_errors
    Path(f"{REPORT}.{worker}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    if worker == "main":
        data = {
            "exitstatus": int(exitstatus),
            "outcomes": _outcomes,
            "collect_errors": _collect_errors,
        }
        Path(REPORT).write_text(json.dumps(data, indent=1), encoding="utf-8")
