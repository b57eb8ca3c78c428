"""wsfast.asyncio over TLS (certificates from trustme) and over Unix sockets.

TLS: wss:// with ``ssl=`` contexts on both sides, wsfast against wsfast, websockets and
aiohttp. Unix: unix_serve/unix_connect in a temporary directory, wsfast against wsfast and
websockets. Every test runs on both codecs (conftest.active_codec), bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import ssl

import aiohttp
import pytest
import trustme
from asyncio_support import echo, run
from websockets_support import HAVE_WEBSOCKETS, lib_param, websockets_module

from wsfast.asyncio import client as wsfast_client
from wsfast.asyncio import server as wsfast_server
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
)
from wsfast.protocol import State

ws_exceptions = websockets_module("websockets.exceptions")
ws_client = websockets_module("websockets.asyncio.client")
ws_server = websockets_module("websockets.asyncio.server")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")


CLOSED = (ConnectionClosed,)
CLOSED_OK = (ConnectionClosedOK,)
CLOSED_ERROR = (ConnectionClosedError,)

SERVE = {"wsfast": wsfast_server.serve}
CONNECT = {"wsfast": wsfast_client.connect}
UNIX_SERVE = {"wsfast": wsfast_server.unix_serve}
UNIX_CONNECT = {"wsfast": wsfast_client.unix_connect}

if HAVE_WEBSOCKETS:  # Python 3.11+ (websockets_support)
    CLOSED += (ws_exceptions.ConnectionClosed,)
    CLOSED_OK += (ws_exceptions.ConnectionClosedOK,)
    CLOSED_ERROR += (ws_exceptions.ConnectionClosedError,)
    SERVE["websockets"] = ws_server.serve
    CONNECT["websockets"] = ws_client.connect
    UNIX_SERVE["websockets"] = ws_server.unix_serve
    UNIX_CONNECT["websockets"] = ws_client.unix_connect

SIDES = pytest.mark.parametrize(
    ("server_lib", "client_lib"),
    [
        lib_param("wsfast", "wsfast", id="wsfast-wsfast"),
        lib_param("wsfast", "websockets", id="wsfast-server-websockets-client"),
        lib_param("websockets", "wsfast", id="websockets-server-wsfast-client"),
    ],
)


MESSAGES = ["hello ☃", b"\x00\xff", "", b"", "compressible " * 20000, os.urandom(300_000)]


# TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(certificate_authority):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(certificate_authority):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    certificate_authority.configure_trust(context)
    return context


@contextlib.asynccontextmanager
async def tls_serving(lib, handler, server_context, **kwargs):
    async with SERVE[lib](handler, "127.0.0.1", 0, ssl=server_context, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield server, port


@SIDES
def test_tls_echo_and_close(server_lib, client_lib, server_context, client_context):
    result = {}

    async def handler(ws):
        result["secure"] = ws.request.headers["Host"]
        await echo(ws)
        result["close"] = (ws.close_code, ws.close_reason)

    async def main():
        async with tls_serving(server_lib, handler, server_context) as (server, port):
            for host in ("127.0.0.1", "localhost"):
                async with CONNECT[client_lib](f"wss://{host}:{port}/", ssl=client_context) as ws:
                    extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
                    assert extensions.startswith("permessage-deflate")
                    for message in MESSAGES:
                        await ws.send(message)
                        assert await ws.recv() == message
                    await ws.send(["frag", "mented"])
                    assert await ws.recv() == "fragmented"
                    latency = await (await ws.ping())
                    assert latency >= 0
                    await ws.close(1000, "tls bye")
                    assert (ws.close_code, ws.close_reason) == (1000, "tls bye")
                    assert ws.state is State.CLOSED or ws.state.name == "CLOSED"
            server.close()
            await server.wait_closed()
        assert result["close"] == (1000, "tls bye")

    run(main())


@SIDES
def test_tls_server_close(server_lib, client_lib, server_context, client_context):
    payload = os.urandom(100_000)  # several TLS records

    async def handler(ws):
        await ws.send("hi")
        await ws.send(await ws.recv())
        await ws.wait_closed()

    async def main():
        async with tls_serving(server_lib, handler, server_context) as (server, port):
            ws = await CONNECT[client_lib](f"wss://localhost:{port}/", ssl=client_context)
            assert await ws.recv() == "hi"
            await ws.send(payload)
            assert await ws.recv() == payload
            server.close()
            with pytest.raises(CLOSED_OK):
                await ws.recv()
            assert ws.close_code == 1001
            await server.wait_closed()

    run(main())

def test_tls_large_message(server_context, client_context):
    payload = os.urandom(2**20 + 1)

    async def main():
        async with (
            tls_serving("wsfast", echo, server_context, max_size=2**22) as (_, port),
            wsfast_client.connect(
                f"wss://localhost:{port}/", ssl=client_context, max_size=2**22
            ) as ws,
        ):
            await ws.send(payload)
            assert await ws.recv() == payload

    run(main())


def test_tls_untrusted_certificate(server_context):
    async def main():
        async with tls_serving("wsfast", echo, server_context) as (_, port):
            # The default context doesn't trust the test CA.
            with pytest.raises(ssl.SSLCertVerificationError):
                await wsfast_client.connect(f"wss://localhost:{port}/")
            other_ca = trustme.CA()
            context = ssl.create_default_context()
            other_ca.configure_trust(context)
            with pytest.raises(ssl.SSLCertVerificationError):
                await wsfast_client.connect(f"wss://localhost:{port}/", ssl=context)

    run(main())


def test_tls_plain_client_to_tls_server(server_context):
    async def main():
        async with tls_serving("wsfast", echo, server_context, open_timeout=1) as (_, port):
            # The TLS server drops the plain-text request without an HTTP response.
            with pytest.raises(InvalidMessage) as excinfo:
                await wsfast_client.connect(f"ws://localhost:{port}/", open_timeout=2)
            assert isinstance(excinfo.value.__cause__, EOFError)

    run(main())

def test_tls_aiohttp_client(server_context, client_context):
    async def main():
        async with (
            tls_serving("wsfast", echo, server_context) as (_, port),
            aiohttp.ClientSession() as session,
            session.ws_connect(f"wss://localhost:{port}/", ssl=client_context, compress=15) as ws,
        ):
            await ws.send_str("over tls")
            assert await ws.receive_str() == "over tls"
            await ws.send_bytes(b"\x00" * 100_000)
            assert await ws.receive_bytes() == b"\x00" * 100_000
            payload = os.urandom(100_000)  # incompressible: several TLS records
            await ws.send_bytes(payload)
            assert await ws.receive_bytes() == payload

    run(main())


# Unix sockets ----------------------------------------------------------------------------


@pytest.fixture
def socket_path(tmp_path):
    path = tmp_path / "ws.sock"
    if len(os.fsencode(path)) > 100:  # sun_path is ~108 bytes
        pytest.skip("temporary path too long for a Unix socket")
    return path


UNIX_SIDES = SIDES


@UNIX_SIDES
@pytest.mark.parametrize("path_type", [str, pathlib.Path], ids=["str", "Path"])
def test_unix_echo(server_lib, client_lib, path_type, socket_path):
    result = {}

    async def handler(ws):
        result["host"] = ws.request.headers["Host"]
        result["remote"] = ws.remote_address
        with pytest.raises(CLOSED_ERROR):
            await echo(ws)
        result["close"] = (ws.close_code, ws.close_reason)

    async def main():
        async with UNIX_SERVE[server_lib](handler, path_type(socket_path)) as server:
            assert server.sockets[0].family == socket.AF_UNIX
            async with UNIX_CONNECT[client_lib](path_type(socket_path)) as ws:
                assert ws.request.headers["Host"] == "localhost"
                assert ws.remote_address == str(socket_path)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send([b"frag", b"mented"])
                assert await ws.recv() == b"fragmented"
                assert await (await ws.ping()) >= 0
                await ws.close(4000, "unix bye")
            server.close()
            await server.wait_closed()
        assert result["host"] == "localhost"
        assert result["close"] == (4000, "unix bye")

    run(main())


def test_unix_connect_with_uri(socket_path):
    async def handler(ws):
        await ws.send(ws.request.path)

    async def main():
        async with (
            wsfast_server.unix_serve(handler, path=str(socket_path)),
            wsfast_client.unix_connect(
                str(socket_path), uri="ws://example.com/some/path?q=1"
            ) as ws,
        ):
            assert ws.request.headers["Host"] == "example.com"
            assert await ws.recv() == "/some/path?q=1"

    run(main())


def test_unix_server_close(socket_path):
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with wsfast_server.unix_serve(handler, str(socket_path)) as server:
            ws = await wsfast_client.unix_connect(str(socket_path))
            server.close()
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
            await server.wait_closed()

    run(main())


def test_unix_connect_refused(socket_path):
    async def main():
        with pytest.raises(OSError):
            await wsfast_client.unix_connect(str(socket_path))

    run(main())


def test_unix_max_size(socket_path):
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc

    async def main():
        async with (
            wsfast_server.unix_serve(handler, str(socket_path), max_size=10),
            wsfast_client.unix_connect(str(socket_path)) as ws,
        ):
            await ws.send("x" * 11)
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd.code == 1009
        assert result["exc"].sent.code == 1009

    run(main())
