"""Shared test set-up: run every codec test on both implementations, and Hypothesis profiles.

The ``codec`` fixture yields the Cython extension (id ``cython``) and its pure-Python twin (id
``python``), like multidict's fixture that runs each test on the C and the Python
implementation. The Cython variant is skipped only when the extension cannot be imported at
all; the import is done directly, so ``WSFAST_NO_EXTENSIONS`` (which only steers
``wsfast.speedups``) does not hide it from the tests. Tests that need both at once take
``codec_pair`` (lockstep comparisons) or ``codecs`` (whatever imports); a test of what only
the extension has takes ``cython_codec``. The codec tests get their implementations from
these fixtures only.

Layout: one folder per layer (codec/, sansio/, asyncio/, sync/, interop/, robustness/,
tools/, compliance/, fuzz/, packaging/). The helpers several folders share (asyncio_support,
sync_support, websockets_support, wire) sit here, beside this file: pytest's default import
mode puts this directory on sys.path when it loads this conftest, before any test module, so
they import by their plain names from any folder (``from wire import raw_frame``). A helper
of one folder sits in it (hostile_support, utf8_vectors, api_parity_allowlist), importable
the same way since each test module's own directory is put on sys.path too. Folders without
``__init__.py`` import their modules by basename: test module names must stay unique.

Hypothesis profiles: ``ci`` (default) runs 200 examples per property without deadlines and
without the example database (nothing is written into the source tree); ``dev`` runs 50 and
keeps the database; ``thorough`` runs 2000. Pick one with ``HYPOTHESIS_PROFILE=name``.
"""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=False,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    derandomize=False,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _load_cython():
    """Return ``(module, None)`` or ``(None, reason)`` for the Cython extension."""
    try:
        module = importlib.import_module("wsfast._speedups")
    except ImportError as exc:
        try:
            import wsfast.speedups

            fallback = wsfast.speedups.FALLBACK_REASON
        except Exception as inner:  # pragma: no cover - the package itself is broken
            fallback = f"wsfast.speedups failed to import: {inner!r}"
        return None, (
            f"wsfast._speedups is not importable: {exc} "
            f"(wsfast.speedups.FALLBACK_REASON: {fallback})"
        )
    return module, None


CYTHON, CYTHON_SKIP_REASON = _load_cython()
PYTHON = importlib.import_module("wsfast._speedups_py")


@pytest.fixture(scope="session", params=["cython", "python"], ids=["cython", "python"])
def codec(request):
    """The codec module under test: wsfast._speedups or wsfast._speedups_py."""
    if request.param == "cython":
        if CYTHON is None:
            pytest.skip(CYTHON_SKIP_REASON)
        return CYTHON
    return PYTHON


@pytest.fixture(scope="session")
def cython_codec():
    """wsfast._speedups alone, for a test of what only the extension has (skipped without it)."""
    if CYTHON is None:
        pytest.skip(CYTHON_SKIP_REASON)
    return CYTHON


@pytest.fixture(scope="session")
def codec_pair(cython_codec):
    """``(wsfast._speedups, wsfast._speedups_py)``, for tests that run both in lockstep and
    compare them (skipped without the extension)."""
    return cython_codec, PYTHON


@pytest.fixture(scope="session")
def codecs():
    """Every codec that imports: both, or the twin alone without the extension; for tests
    that hold each to a reference and compare them when there are two."""
    return (PYTHON,) if CYTHON is None else (CYTHON, PYTHON)


@pytest.fixture
def reader_class(codec):
    """The FrameReader under test, of each implementation."""
    return codec.FrameReader


def pytest_report_header(config):
    if CYTHON is None:
        return [f"wsfast codec: cython unavailable ({CYTHON_SKIP_REASON})"]
    return [
        f"wsfast codec: cython MASK_IMPL={CYTHON.MASK_IMPL} UTF8_IMPL={CYTHON.UTF8_IMPL}; "
        f"hypothesis profile {os.environ.get('HYPOTHESIS_PROFILE', 'ci')}"
    ]


@pytest.fixture
def active_codec(codec, monkeypatch):
    """Make ``codec`` the implementation the whole of wsfast uses, for protocol-level tests.

    The rest of wsfast looks the codec up on wsfast.speedups when it calls it, so that
    module is the one switch.
    """
    import wsfast.speedups
    from wsfast._codec_names import CODEC_NAMES

    for name in CODEC_NAMES:
        monkeypatch.setattr(wsfast.speedups, name, getattr(codec, name))
    implementation = "python" if codec.__name__.endswith("_speedups_py") else "cython"
    monkeypatch.setattr(wsfast.speedups, "IMPLEMENTATION", implementation)
    return codec


@pytest.fixture
def no_error_logs(caplog, request):
    """Fail a test that logs an ERROR from wsfast, its peers or asyncio (unless xfailed)."""
    import logging

    caplog.set_level(logging.WARNING)
    yield
    if request.node.get_closest_marker("xfail"):
        return  # a known bug: its logs aren't a second failure
    errors = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR
        and record.name.split(".")[0] in {"wsfast", "websockets", "asyncio", "aiohttp"}
    ]
    assert not errors, errors
