"""websockets 17, the reference implementation many tests compare wsfast with, where it exists.

websockets 17 requires Python 3.11, and wsfast supports 3.10: there, the ``test`` extra leaves
it out (a ``python_version`` marker in pyproject.toml) and the tests that need it skip, saying
why, while the rest of their module still runs. On Python 3.11 and newer it is a required test
dependency: a missing (or other major) websockets fails the import, as any missing test
dependency does, instead of quietly skipping half the suite.

Use::

    from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module

    ws_exceptions = websockets_module("websockets.exceptions")  # or a stand-in on 3.10

    @needs_websockets
    def test_against_websockets(): ...

    LIBS = pytest.mark.parametrize("lib", ["wsfast", lib_param("websockets")])

The stand-in module skips the test that touches any of its attributes (a safety net: the
tests that need websockets are marked). At module level, build what needs websockets only
``if HAVE_WEBSOCKETS``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import pytest

__all__ = [
    "HAVE_WEBSOCKETS",
    "WEBSOCKETS_REASON",
    "and_reference",
    "lib_param",
    "needs_websockets",
    "websockets_module",
    "websockets_sync_tls_connect",
]

WEBSOCKETS_REASON = (
    f"needs websockets 17 (the reference implementation), which requires Python 3.11+; "
    f"this is Python {sys.version_info.major}.{sys.version_info.minor}, where the test "
    f"extra does not install it"
)


def _have_websockets() -> bool:
    if sys.version_info >= (3, 11):
        import websockets.version  # required here: a missing one is an error, not a skip

        if not websockets.version.version.startswith("17."):
            raise ImportError(
                f"the tests compare wsfast with websockets 17.x, "
                f"not {websockets.version.version}: pip install 'websockets>=17,<18'"
            )
        return True
    try:
        import websockets.version
    except ImportError:
        return False
    # An older websockets (15.x is the last for 3.10) behaves differently: not a reference.
    return websockets.version.version.startswith("17.")


HAVE_WEBSOCKETS = _have_websockets()

needs_websockets = pytest.mark.skipif(not HAVE_WEBSOCKETS, reason=WEBSOCKETS_REASON)


class _Missing(types.ModuleType):
    """Stands in for a websockets module: using any of its attributes skips the test."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # copy, pickle, inspect and pytest probe these
        pytest.skip(WEBSOCKETS_REASON)


def websockets_module(name: str) -> types.ModuleType:
    """``importlib.import_module(name)``, or a stand-in without websockets (Python 3.10)."""
    if HAVE_WEBSOCKETS:
        return importlib.import_module(name)
    return _Missing(name)


def lib_param(*values: Any, **kwargs: Any) -> Any:
    """A ``pytest.param`` that skips without websockets when any of ``values`` is
    ``"websockets"`` (a parametrized side, client or server library)."""
    marks = list(kwargs.pop("marks", ()))
    if "websockets" in values:
        marks.append(needs_websockets)
    return pytest.param(*values, marks=marks, **kwargs)


def layer_modules(lib: str, layer: str) -> types.SimpleNamespace:
    """``lib``'s (``"wsfast"`` or ``"websockets"``) client, connection and server modules of
    ``layer`` (``"asyncio"`` or ``"sync"``), with its protocol and exceptions modules."""
    return types.SimpleNamespace(
        client=importlib.import_module(f"{lib}.{layer}.client"),
        connection=importlib.import_module(f"{lib}.{layer}.connection"),
        server=importlib.import_module(f"{lib}.{layer}.server"),
        protocol=importlib.import_module(f"{lib}.protocol"),
        exceptions=importlib.import_module(f"{lib}.exceptions"),
    )


def and_reference(ours: Any, make_theirs: Any) -> list[Any]:
    """``[ours, make_theirs()]``, or ``[ours]`` without websockets: for a test that checks
    the same things of wsfast and of websockets, so that the wsfast half still runs."""
    return [ours, make_theirs()] if HAVE_WEBSOCKETS else [ours]


#: How long the first attempt of websockets' threading client over TLS may wait for the
#: handshake response before the second attempt (see websockets_sync_tls_connect).
FIRST_TLS_ATTEMPT_TIMEOUT = 2


def websockets_sync_tls_connect(uri: str, **kwargs: Any) -> Any:
    """``websockets.sync.client.connect``, with a second attempt when a ``wss://`` opening
    handshake times out.

    That client's reading thread and the thread that sends the request share one SSLSocket,
    and about once in 300 connections its request never reaches the server: the server reads
    no byte until its open_timeout, and the client times out waiting for the response. It does
    that against websockets' own asyncio server as well (5 to 9 in 3,000 connections,
    websockets 17.4), and wsfast's threading client never did (0 in 3,000): the fault is the
    client's, and a test about the server must not fail for it.
    """
    connect = importlib.import_module("websockets.sync.client").connect
    if not uri.startswith("wss://"):
        return connect(uri, **kwargs)
    try:
        return connect(uri, **{"open_timeout": FIRST_TLS_ATTEMPT_TIMEOUT, **kwargs})
    except TimeoutError:
        return connect(uri, **kwargs)
