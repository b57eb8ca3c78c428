"""wsfast.asyncio against other implementations over real sockets on 127.0.0.1.

* websockets 17 (its asyncio client and server), in both directions: wsfast server with a
  websockets client, websockets server with a wsfast client.
* aiohttp, in both directions: an aiohttp ``WebSocketResponse`` handler with a wsfast client,
  a wsfast server with aiohttp's ``ClientSession.ws_connect``; with permessage-deflate on and
  off.

Every test runs on both codecs (conftest.active_codec), bounded by a timeout.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import http
import os

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from asyncio_support import echo, run
from websockets_support import HAVE_WEBSOCKETS, lib_param, websockets_module

from wsfast.asyncio import client as wsfast_client
from wsfast.asyncio import server as wsfast_server
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
)
from wsfast.extensions import permessage_deflate as wsfast_deflate

ws_exceptions = websockets_module("websockets.exceptions")
ws_client = websockets_module("websockets.asyncio.client")
ws_server = websockets_module("websockets.asyncio.server")
ws_deflate = websockets_module("websockets.extensions.permessage_deflate")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")


CLOSED = (ConnectionClosed,)
CLOSED_OK = (ConnectionClosedOK,)
CLOSED_ERROR = (ConnectionClosedError,)
INVALID_STATUS = (InvalidStatus,)

SERVE = {"wsfast": wsfast_server.serve}
CONNECT = {"wsfast": wsfast_client.connect}
BASIC_AUTH = {"wsfast": wsfast_server.basic_auth}
DEFLATE_MODULES = {"wsfast": wsfast_deflate}

if HAVE_WEBSOCKETS:  # Python 3.11+ (websockets_support)
    CLOSED += (ws_exceptions.ConnectionClosed,)
    CLOSED_OK += (ws_exceptions.ConnectionClosedOK,)
    CLOSED_ERROR += (ws_exceptions.ConnectionClosedError,)
    INVALID_STATUS += (ws_exceptions.InvalidStatus,)
    SERVE["websockets"] = ws_server.serve
    CONNECT["websockets"] = ws_client.connect
    BASIC_AUTH["websockets"] = ws_server.basic_auth
    DEFLATE_MODULES["websockets"] = ws_deflate

SIDES = pytest.mark.parametrize(
    ("server_lib", "client_lib"),
    [
        lib_param("wsfast", "websockets", id="wsfast-server-websockets-client"),
        lib_param("websockets", "wsfast", id="websockets-server-wsfast-client"),
    ],
)


@contextlib.asynccontextmanager
async def serving(lib, handler, **kwargs):
    """A ``lib`` server on 127.0.0.1, an ephemeral port; yields (server, base URI)."""
    async with SERVE[lib](handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}"


async def streaming_echo(ws):
    """Receive each message with recv_streaming() and send back repr(list of fragments)."""
    while True:
        try:
            fragments = [fragment async for fragment in ws.recv_streaming()]
        except CLOSED_OK:
            return
        await ws.send(repr(fragments))


def nonempty(fragments):
    return [fragment for fragment in fragments if fragment]


# websockets <-> wsfast -------------------------------------------------------------------


MESSAGES = [
    "hello",
    "ünïcødé ☃ 𝄞",
    "",
    b"",
    b"\x00\x01\xfe\xff",
    "y" * 126,
    b"w" * 70000,
    "compressible text " * 20000,
    os.urandom(200_000),
]


@SIDES
def test_websockets_echo(server_lib, client_lib):
    async def main():
        async with (
            serving(server_lib, echo) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert extensions.startswith("permessage-deflate")
            for message in MESSAGES:
                await ws.send(message)
                reply = await ws.recv()
                assert type(reply) is type(message)
                assert reply == message

    run(main())


@SIDES
def test_websockets_large_messages(server_lib, client_lib):
    random_payload = os.urandom(2**20 + 3)
    text_payload = "€ ☃ " * (2**20 // 8)

    async def main():
        async with (
            serving(server_lib, echo, max_size=2**22) as (_, uri),
            CONNECT[client_lib](uri, max_size=2**22) as ws,
        ):
            await ws.send(random_payload)
            assert await ws.recv() == random_payload
            await ws.send(text_payload)
            assert await ws.recv() == text_payload

    run(main())


@SIDES
@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_fragmented_client_to_server(server_lib, client_lib, compression):
    async def agen():
        for chunk in (b"async ", b"frag", b"ments"):
            await asyncio.sleep(0)
            yield chunk

    big = ["x" * 50_000, "é" * 30_000, "z" * 10]

    async def main():
        async with (
            serving(server_lib, streaming_echo, compression=compression) as (_, uri),
            CONNECT[client_lib](uri, compression=compression) as ws,
        ):
            for chunks in (["α", "β", "γ"], [b"\x00", b"\x01", b"\x02"], big):
                await ws.send(chunks)
                fragments = ast.literal_eval(await ws.recv())
                assert nonempty(fragments) == chunks
                if client_lib == "websockets":
                    # websockets ends a fragmented message with an empty frame.
                    assert fragments == [*chunks, chunks[0][:0]]
            await ws.send(agen())
            assert nonempty(ast.literal_eval(await ws.recv())) == [b"async ", b"frag", b"ments"]

    run(main())


@SIDES
@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_fragmented_server_to_client(server_lib, client_lib, compression):
    async def handler(ws):
        await ws.send(["α", "β", "γ"])
        await ws.send([b"1", b"2", b"3"])
        await ws.send(["x" * 40_000, "y" * 40_000])
        await ws.send([b"\xe2\x98", b"\x83"], text=True)
        await ws.wait_closed()

    async def main():
        async with (
            serving(server_lib, handler, compression=compression) as (_, uri),
            CONNECT[client_lib](uri, compression=compression) as ws,
        ):
            fragments = [f async for f in ws.recv_streaming()]
            assert nonempty(fragments) == ["α", "β", "γ"]
            if server_lib == "websockets":
                assert fragments == ["α", "β", "γ", ""]
            fragments = [f async for f in ws.recv_streaming()]
            assert nonempty(fragments) == [b"1", b"2", b"3"]
            assert await ws.recv() == "x" * 40_000 + "y" * 40_000
            assert await ws.recv() == "☃"

    run(main())


@SIDES
@pytest.mark.parametrize(
    ("server_compression", "client_compression"), [("deflate", None), (None, "deflate")]
)
def test_websockets_compression_declined(
    server_lib, client_lib, server_compression, client_compression
):
    async def main():
        async with (
            serving(server_lib, echo, compression=server_compression) as (_, uri),
            CONNECT[client_lib](uri, compression=client_compression) as ws,
        ):
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            for message in ("text " * 1000, os.urandom(1000)):
                await ws.send(message)
                assert await ws.recv() == message

    run(main())


@SIDES
@pytest.mark.parametrize("side_with_options", ["server", "client"])
def test_websockets_deflate_parameters(server_lib, client_lib, side_with_options):
    """Window sizes and no-context-takeover negotiated in either direction."""
    options = {
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
        "server_max_window_bits": 10,
        "client_max_window_bits": 11,
    }
    server_kwargs, client_kwargs = {}, {}
    if side_with_options == "server":
        factory = DEFLATE_MODULES[server_lib].ServerPerMessageDeflateFactory(**options)
        server_kwargs["extensions"] = [factory]
    else:
        factory = DEFLATE_MODULES[client_lib].ClientPerMessageDeflateFactory(**options)
        client_kwargs["extensions"] = [factory]
    messages = ["same text again " * 500] * 3 + [os.urandom(5000), "tail " * 2000]

    async def main():
        async with (
            serving(server_lib, echo, **server_kwargs) as (_, uri),
            CONNECT[client_lib](uri, **client_kwargs) as ws,
        ):
            extensions = ws.response.headers["Sec-WebSocket-Extensions"]
            assert "server_no_context_takeover" in extensions
            assert "client_no_context_takeover" in extensions
            assert "server_max_window_bits=10" in extensions
            assert "client_max_window_bits=11" in extensions
            for message in messages:
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(["frag" * 1000, "mented" * 1000])
            assert await ws.recv() == "frag" * 1000 + "mented" * 1000

    run(main())


@SIDES
def test_websockets_ping_pong(server_lib, client_lib):
    result = {}

    async def handler(ws):
        result["server latency"] = await (await ws.ping(b"server ping"))
        await ws.pong(b"unsolicited")
        await ws.send("pinged")
        await echo(ws)

    async def main():
        async with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri, ping_interval=None) as ws,
        ):
            assert await ws.recv() == "pinged"
            latency = await (await ws.ping())
            assert latency >= 0
            assert ws.latency == latency
            await (await ws.ping("text payload"))
            await ws.pong(b"unsolicited")
            await ws.send("still open")
            assert await ws.recv() == "still open"
        assert result["server latency"] >= 0

    run(main())


@SIDES
def test_websockets_keepalive(server_lib, client_lib):
    result = {}

    async def handler(ws):
        await asyncio.sleep(0.35)
        result["latency"] = ws.latency
        await ws.send("done")
        await ws.wait_closed()

    async def main():
        async with (
            serving(server_lib, handler, ping_interval=0.05, ping_timeout=1) as (_, uri),
            CONNECT[client_lib](uri, ping_interval=0.05, ping_timeout=1) as ws,
        ):
            assert await ws.recv() == "done"
            assert ws.latency > 0
        assert result["latency"] > 0

    run(main())


@SIDES
@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "", True), (1001, "going", True), (4001, "custom ☃", False), (1011, "oops", False)],
)
def test_websockets_close_by_client(server_lib, client_lib, code, reason, ok):
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except CLOSED as exc:
            result["exc"] = exc
            result["close"] = (ws.close_code, ws.close_reason)
        result["done"].set()

    async def main():
        result["done"] = asyncio.Event()
        async with serving(server_lib, handler) as (_, uri):
            ws = await CONNECT[client_lib](uri)
            await ws.close(code, reason)
            assert (ws.close_code, ws.close_reason) == (code, reason)
            with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR):
                await ws.recv()
            await asyncio.wait_for(result["done"].wait(), 5)
        exc = result["exc"]
        assert isinstance(exc, CLOSED_OK if ok else CLOSED_ERROR)
        assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)
        assert (exc.sent.code, exc.sent.reason) == (code, reason)
        assert result["close"] == (code, reason)

    run(main())


@SIDES
@pytest.mark.parametrize(
    ("code", "reason", "ok"), [(1000, "bye", True), (4002, "server bye", False)]
)
def test_websockets_close_by_server(server_lib, client_lib, code, reason, ok):
    async def handler(ws):
        await ws.send("before close")
        await ws.close(code, reason)

    async def main():
        async with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            assert await ws.recv() == "before close"
            with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR) as excinfo:
                await ws.recv()
            assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (code, reason)
            assert (ws.close_code, ws.close_reason) == (code, reason)
            await ws.wait_closed()

    run(main())


@SIDES
def test_websockets_server_shutdown(server_lib, client_lib):
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with serving(server_lib, handler) as (server, uri):
            ws = await CONNECT[client_lib](uri)
            await asyncio.sleep(0.05)
            server.close()
            with pytest.raises(CLOSED_OK):
                await ws.recv()
            assert ws.close_code == 1001
            await server.wait_closed()

    run(main())


@SIDES
def test_websockets_max_size(server_lib, client_lib):
    async def handler(ws):
        with contextlib.suppress(*CLOSED):
            await ws.recv()

    async def main():
        async with (
            serving(server_lib, handler, max_size=1000) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            await ws.send(b"x" * 1001)
            with pytest.raises(CLOSED_ERROR) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd.code == 1009

    run(main())


@SIDES
def test_websockets_subprotocols(server_lib, client_lib):
    async def handler(ws):
        await ws.send(ws.subprotocol)

    async def main():
        async with serving(server_lib, handler, subprotocols=["chat", "superchat"]) as (_, uri):
            async with CONNECT[client_lib](uri, subprotocols=["superchat"]) as ws:
                assert ws.subprotocol == "superchat"
                assert await ws.recv() == "superchat"
            with pytest.raises(INVALID_STATUS) as excinfo:
                await CONNECT[client_lib](uri, subprotocols=["unknown"])
            assert excinfo.value.response.status_code == 400

    run(main())


@SIDES
def test_websockets_process_request_and_basic_auth(server_lib, client_lib):
    def forbid(connection, request):
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Forbidden\n")
        return None

    async def handler(ws):
        await ws.send(getattr(ws, "username", "anonymous"))

    async def main():
        async with serving(server_lib, handler, process_request=forbid) as (_, uri):
            with pytest.raises(INVALID_STATUS) as excinfo:
                await CONNECT[client_lib](f"{uri}/forbidden")
            assert excinfo.value.response.status_code == 403
            async with CONNECT[client_lib](f"{uri}/allowed") as ws:
                assert await ws.recv() == "anonymous"
        auth = BASIC_AUTH[server_lib](realm="interop", credentials=("user", "pass"))
        async with serving(server_lib, handler, process_request=auth) as (_, uri):
            authenticated = uri.replace("ws://", "ws://user:pass@")
            async with CONNECT[client_lib](authenticated) as ws:
                assert await ws.recv() == "user"
            with pytest.raises(INVALID_STATUS) as excinfo:
                await CONNECT[client_lib](uri.replace("ws://", "ws://user:wrong@"))
            assert excinfo.value.response.status_code == 401

    run(main())


# aiohttp server <-> wsfast client ----------------------------------------------------------


OPTIONS = web.AppKey("options", dict)
RECORD = web.AppKey("record", dict)


async def aiohttp_handler(request):
    """Echo, plus commands: "close" closes with 4000, "ping" pings and awaits the pong."""
    options = request.app[OPTIONS]
    ws = web.WebSocketResponse(
        compress=options.get("compress", True),
        autoping=options.get("autoping", True),
        heartbeat=options.get("heartbeat"),
        protocols=options.get("protocols", ()),
        max_msg_size=options.get("max_msg_size", 4 * 2**20),
    )
    await ws.prepare(request)
    record = request.app[RECORD]
    record["compress"] = ws.compress
    async for msg in ws:
        if msg.type == WSMsgType.TEXT and msg.data == "close":
            await ws.close(code=4000, message=b"aiohttp bye")
        elif msg.type == WSMsgType.TEXT and msg.data == "ping":
            await ws.ping(b"aiohttp ping")
        elif msg.type == WSMsgType.PONG:
            await ws.send_str(f"pong:{msg.data.decode()}")
        elif msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    record["close_code"] = ws.close_code
    record["done"].set()
    return ws


@contextlib.asynccontextmanager
async def aiohttp_server(**options):
    app = web.Application()
    app[OPTIONS] = options
    app[RECORD] = {"done": asyncio.Event()}
    app.router.add_get("/", aiohttp_handler)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/", app[RECORD]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("compress", [True, False], ids=["deflate", "no-deflate"])
def test_aiohttp_server_echo(compress):
    messages = [*MESSAGES, "ünïcødé " * 10000]

    async def main():
        async with aiohttp_server(compress=compress) as (uri, record):
            async with wsfast_client.connect(uri) as ws:
                extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
                if compress:
                    assert extensions.startswith("permessage-deflate")
                else:
                    assert extensions is None
                for message in messages:
                    await ws.send(message)
                    reply = await ws.recv()
                    assert type(reply) is type(message)
                    assert reply == message
                # aiohttp reassembles fragmented messages.
                await ws.send(["frag", "mented ", "☃" * 5000])
                assert await ws.recv() == "fragmented " + "☃" * 5000
                await ws.send([b"\x00" * 30000, b"\x01" * 30000])
                assert await ws.recv() == b"\x00" * 30000 + b"\x01" * 30000
            await asyncio.wait_for(record["done"].wait(), 5)
            assert record["close_code"] == 1000
            assert bool(record["compress"]) is compress

    run(main())


def test_aiohttp_server_wsfast_client_without_compression():
    async def main():
        async with aiohttp_server(compress=True) as (uri, record):
            async with wsfast_client.connect(uri, compression=None) as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                await ws.send("plain " * 1000)
                assert await ws.recv() == "plain " * 1000
            await asyncio.wait_for(record["done"].wait(), 5)
            assert record["compress"] == 0

    run(main())


def test_aiohttp_server_large_message():
    payload = os.urandom(2**20 + 5)

    async def main():
        async with (
            aiohttp_server() as (uri, _),
            wsfast_client.connect(uri, max_size=2**22) as ws,
        ):
            await ws.send(payload)
            assert await ws.recv() == payload

    run(main())


def test_aiohttp_server_closes():
    async def main():
        async with aiohttp_server() as (uri, record):
            async with wsfast_client.connect(uri) as ws:
                await ws.send("close")
                with pytest.raises(ConnectionClosedError) as excinfo:
                    await ws.recv()
                assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (
                    4000,
                    "aiohttp bye",
                )
                assert (ws.close_code, ws.close_reason) == (4000, "aiohttp bye")
            await asyncio.wait_for(record["done"].wait(), 5)
            assert record["close_code"] == 4000

    run(main())


def test_wsfast_client_closes_aiohttp_server():
    async def main():
        async with aiohttp_server() as (uri, record):
            ws = await wsfast_client.connect(uri)
            await ws.close(4001, "wsfast bye")
            assert ws.state.name == "CLOSED"
            # close_code is what aiohttp answered: it replies 1000 rather than echoing.
            assert ws.close_code in (1000, 4001)
            await asyncio.wait_for(record["done"].wait(), 5)
            assert record["close_code"] == 4001

    run(main())


def test_aiohttp_server_ping_pong():
    async def main():
        async with (
            aiohttp_server(autoping=False) as (uri, _),
            wsfast_client.connect(uri, ping_interval=None) as ws,
        ):
            # wsfast answers aiohttp's ping; aiohttp reports the pong.
            await ws.send("ping")
            assert await ws.recv() == "pong:aiohttp ping"
            # An unsolicited pong reaches aiohttp too.
            await ws.pong(b"unsolicited")
            assert await ws.recv() == "pong:unsolicited"
        async with (
            aiohttp_server() as (uri, _),
            wsfast_client.connect(uri, ping_interval=None) as ws,
        ):
            # aiohttp answers wsfast's ping.
            latency = await (await ws.ping(b"wsfast ping"))
            assert latency >= 0

    run(main())


def test_aiohttp_server_heartbeat():
    async def main():
        async with (
            aiohttp_server(heartbeat=0.1) as (uri, _),
            wsfast_client.connect(uri, ping_interval=0.05, ping_timeout=1) as ws,
        ):
            await asyncio.sleep(0.5)  # aiohttp closes if its pings go unanswered
            await ws.send("alive")
            assert await ws.recv() == "alive"
            assert ws.latency > 0

    run(main())


def test_aiohttp_server_subprotocol():
    async def main():
        async with (
            aiohttp_server(protocols=("chat", "superchat")) as (uri, _),
            wsfast_client.connect(uri, subprotocols=["superchat"]) as ws,
        ):
            assert ws.subprotocol == "superchat"
            await ws.send("hi")
            assert await ws.recv() == "hi"

    run(main())


def test_aiohttp_server_max_size_on_wsfast_client():
    async def main():
        async with aiohttp_server() as (uri, record):
            async with wsfast_client.connect(uri, max_size=1000) as ws:
                await ws.send("x" * 1001)  # aiohttp echoes it
                with pytest.raises(ConnectionClosedError) as excinfo:
                    await ws.recv()
                assert excinfo.value.sent.code == 1009
            await asyncio.wait_for(record["done"].wait(), 5)
            assert record["close_code"] == 1009

    run(main())


# wsfast server <-> aiohttp client ----------------------------------------------------------


@contextlib.asynccontextmanager
async def aiohttp_client(uri, **kwargs):
    async with aiohttp.ClientSession() as session, session.ws_connect(uri, **kwargs) as ws:
        yield ws


@pytest.mark.parametrize("compress", [0, 15, 10])
def test_aiohttp_client_echo(compress):
    # Repeats 4 KiB apart: a compressor using a window larger than the negotiated
    # server_max_window_bits=10 would produce back-references that aiohttp can't resolve.
    long_distance = os.urandom(4096) * 8
    messages = [*MESSAGES, "ünïcødé " * 10000, long_distance]

    async def main():
        async with (
            serving("wsfast", echo) as (_, uri),
            aiohttp_client(uri, compress=compress) as ws,
        ):
            # aiohttp reports the negotiated client_max_window_bits, 0 without deflate.
            assert (ws.compress > 0) is (compress > 0)
            for message in messages:
                if isinstance(message, str):
                    await ws.send_str(message)
                else:
                    await ws.send_bytes(message)
                msg = await ws.receive()
                assert msg.type == (WSMsgType.TEXT if isinstance(message, str) else WSMsgType.BINARY)
                assert msg.data == message

    run(main())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_aiohttp_client_receives_fragmented(compression):
    async def handler(ws):
        await ws.send(["frag", "mented ", "☃" * 5000])
        await ws.send([b"\x00" * 30000, b"\x01" * 30000])
        await ws.send([b"\xe2\x98", b"\x83"], text=True)
        await ws.wait_closed()

    async def main():
        async with (
            serving("wsfast", handler, compression=compression) as (_, uri),
            aiohttp_client(uri, compress=15) as ws,
        ):
            assert (ws.compress > 0) is (compression is not None)
            assert await ws.receive_str() == "fragmented " + "☃" * 5000
            assert await ws.receive_bytes() == b"\x00" * 30000 + b"\x01" * 30000
            assert await ws.receive_str() == "☃"

    run(main())


def test_aiohttp_client_large_message():
    payload = os.urandom(2**20 + 5)

    async def main():
        async with (
            serving("wsfast", echo, max_size=2**22) as (_, uri),
            aiohttp_client(uri, compress=15) as ws,
        ):
            await ws.send_bytes(payload)
            assert await ws.receive_bytes() == payload

    run(main())


def test_aiohttp_client_closes():
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc
            result["close"] = (ws.close_code, ws.close_reason)
        result["done"].set()

    async def main():
        result["done"] = asyncio.Event()
        async with serving("wsfast", handler) as (_, uri), aiohttp_client(uri) as ws:
            assert await ws.close(code=4003, message=b"aiohttp client bye")
            assert ws.close_code == 4003
            await asyncio.wait_for(result["done"].wait(), 5)
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert (exc.rcvd.code, exc.rcvd.reason) == (4003, "aiohttp client bye")
        assert result["close"] == (4003, "aiohttp client bye")

    run(main())


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4004, "wsfast bye")])
def test_wsfast_server_closes_aiohttp_client(code, reason):
    async def handler(ws):
        await ws.send("hello")
        await ws.close(code, reason)

    async def main():
        async with serving("wsfast", handler) as (_, uri), aiohttp_client(uri) as ws:
            assert await ws.receive_str() == "hello"
            msg = await ws.receive()
            assert msg.type == WSMsgType.CLOSE
            assert msg.data == code
            assert msg.extra == reason
            assert ws.close_code == code
            assert ws.closed

    run(main())


def test_wsfast_server_shutdown_aiohttp_client():
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with serving("wsfast", handler) as (server, uri), aiohttp_client(uri) as ws:
            await asyncio.sleep(0.05)
            server.close()
            msg = await ws.receive()
            assert msg.type == WSMsgType.CLOSE
            assert msg.data == 1001
            await server.wait_closed()

    run(main())


def test_aiohttp_client_ping_pong():
    result = {}

    async def handler(ws):
        await ws.pong(b"unsolicited")
        result["latency"] = await (await ws.ping(b"wsfast ping"))
        await ws.send("latency measured")
        await echo(ws)

    async def main():
        async with (
            serving("wsfast", handler) as (_, uri),
            aiohttp_client(uri, autoping=False) as ws,
        ):
            msg = await ws.receive()
            assert (msg.type, msg.data) == (WSMsgType.PONG, b"unsolicited")
            msg = await ws.receive()
            assert (msg.type, msg.data) == (WSMsgType.PING, b"wsfast ping")
            await ws.pong(msg.data)
            assert await ws.receive_str() == "latency measured"
            await ws.ping(b"aiohttp ping")
            msg = await ws.receive()
            assert (msg.type, msg.data) == (WSMsgType.PONG, b"aiohttp ping")
        assert result["latency"] >= 0

    run(main())


def test_aiohttp_client_heartbeat():
    async def main():
        async with (
            serving("wsfast", echo, ping_interval=0.05, ping_timeout=1) as (_, uri),
            aiohttp_client(uri, heartbeat=0.1) as ws,
        ):
            await asyncio.sleep(0.5)
            await ws.send_str("alive")
            assert await ws.receive_str() == "alive"

    run(main())


def test_aiohttp_client_subprotocol():
    async def handler(ws):
        await ws.send(ws.subprotocol)
        await ws.wait_closed()

    async def main():
        async with (
            serving("wsfast", handler, subprotocols=["chat", "superchat"]) as (_, uri),
            aiohttp_client(uri, protocols=("superchat",)) as ws,
        ):
            assert ws.protocol == "superchat"
            assert await ws.receive_str() == "superchat"

    run(main())


def test_aiohttp_client_exceeds_max_size():
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc

    async def main():
        async with (
            serving("wsfast", handler, max_size=1000) as (_, uri),
            aiohttp_client(uri) as ws,
        ):
            await ws.send_bytes(b"x" * 1001)
            msg = await ws.receive()
            assert msg.type == WSMsgType.CLOSE
            assert msg.data == 1009
        assert result["exc"].sent.code == 1009

    run(main())


def test_aiohttp_client_rejected_by_process_request():
    def reject(connection, request):
        return connection.respond(http.HTTPStatus.FORBIDDEN, "Forbidden\n")

    async def main():
        async with serving("wsfast", echo, process_request=reject) as (_, uri):
            with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
                async with aiohttp_client(uri):
                    pass
            assert excinfo.value.status == 403

    run(main())
