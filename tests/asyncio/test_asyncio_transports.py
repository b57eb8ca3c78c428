"""Which transports the asyncio layer gets: aiofastnet's for clients and plain servers when it
is installed, the event loop's for TLS servers and when ``WSFAST_TRANSPORTS=asyncio`` (see
``wsfast.asyncio.transports``).

The connection suites run on whatever is chosen here (aiofastnet, with the ``test`` extra);
the event loop's plain TCP transports are covered by a second run of the connection suite
in a child process with ``WSFAST_TRANSPORTS=asyncio``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from asyncio_support import echo, pytest_in_child, run

import wsfast.asyncio.transports as transports
from wsfast.asyncio import client as wsfast_client
from wsfast.asyncio import server as wsfast_server

try:
    import aiofastnet
except ImportError:  # pragma: no cover - the test extra installs it on CPython
    aiofastnet = None

needs_aiofastnet = pytest.mark.skipif(aiofastnet is None, reason="aiofastnet isn't installed")

pytestmark = pytest.mark.usefixtures("no_error_logs")


def _is_asyncio_transport(transport):
    return type(transport).__module__.startswith("asyncio.") or type(
        transport
    ).__module__.startswith("uvloop")


def _child(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_transports_says_what_is_used():
    expected = "asyncio" if aiofastnet is None else "aiofastnet"
    if os.environ.get("WSFAST_TRANSPORTS") == "asyncio":
        expected = "asyncio"
    assert transports.TRANSPORTS == expected


def test_setting_asyncio_turns_aiofastnet_off():
    result = _child(
        "import wsfast.asyncio.transports as t; print(t.TRANSPORTS)", WSFAST_TRANSPORTS="asyncio"
    )
    assert result.stdout.strip() == "asyncio", result.stderr


def test_unknown_setting_is_a_clear_error():
    result = _child("import wsfast.asyncio.transports", WSFAST_TRANSPORTS="fast")
    assert result.returncode != 0
    assert "WSFAST_TRANSPORTS must be auto, asyncio or aiofastnet, not 'fast'" in result.stderr


@needs_aiofastnet
def test_plain_connections_use_aiofastnet_both_ends():
    async def main():
        async with wsfast_server.serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast_client.connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                assert not _is_asyncio_transport(ws.transport)
                assert type(ws.transport).__module__.startswith("aiofastnet")
                (server_side,) = server.connections
                assert type(server_side.transport).__module__.startswith("aiofastnet")

    if transports.TRANSPORTS != "aiofastnet":
        pytest.skip("WSFAST_TRANSPORTS=asyncio")
    run(main())


def test_tls_servers_keep_the_event_loops_transports():
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_context)

    async def main():
        async with wsfast_server.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast_client.connect(f"wss://127.0.0.1:{port}", ssl=client_context) as ws:
                await ws.send(b"secret")
                assert await ws.recv() == b"secret"
                # The client's TLS goes through aiofastnet when it's used; the server's not.
                assert _is_asyncio_transport(ws.transport) == (transports.TRANSPORTS == "asyncio")
                (server_side,) = server.connections
                assert _is_asyncio_transport(server_side.transport)

    run(main())


TESTS = Path(__file__).parent


@pytest.mark.slow
@needs_aiofastnet
@pytest.mark.skipif(
    os.environ.get("WSFAST_TRANSPORTS") == "asyncio", reason="this is the run it starts"
)
def test_connection_suite_passes_on_the_event_loops_transports():
    pytest_in_child(
        [
            TESTS / "test_asyncio_connection.py",
            TESTS / "test_asyncio_tls_unix.py",
            TESTS / "test_asyncio_transports.py",
        ],
        {"WSFAST_TRANSPORTS": "asyncio"},
    )
