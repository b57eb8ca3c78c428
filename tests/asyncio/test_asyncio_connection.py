"""wsfast.asyncio client and server against each other, over real sockets on 127.0.0.1.

Every test runs on the Cython codec and on the pure-Python twin (conftest.active_codec), in
its own event loop (``run``), bounded by a timeout. The expected behaviour is websockets
17.x's: wsfast.asyncio is meant to be a drop-in for websockets.asyncio.

Connection handlers can't raise to the test: a failing handler is logged by the server. The
autouse ``no_error_logs`` fixture turns ERROR records of the wsfast, websockets and asyncio
loggers into test failures; a test that expects an error log checks it, then clears caplog.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import http
import inspect
import os
import socket
import time
import uuid

import pytest
from asyncio_support import TIMEOUT, echo, run
from websockets_support import needs_websockets, websockets_module

import wsfast
from wsfast.asyncio import client as wsfast_client
from wsfast.asyncio import connection as wsfast_connection
from wsfast.asyncio import server as wsfast_server
from wsfast.asyncio.client import ClientConnection, connect
from wsfast.asyncio.server import ServerConnection, basic_auth, broadcast, serve
from wsfast.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
)
from wsfast.protocol import State

ws_client = websockets_module("websockets.asyncio.client")
ws_connection = websockets_module("websockets.asyncio.connection")
ws_server = websockets_module("websockets.asyncio.server")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")


@contextlib.asynccontextmanager
async def running(handler, **kwargs):
    """A wsfast server on 127.0.0.1, an ephemeral port; yields (server, base URI)."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}"


async def streaming_echo(ws):
    """Receive each message with recv_streaming() and send back repr(list of fragments)."""
    while True:
        try:
            fragments = [fragment async for fragment in ws.recv_streaming()]
        except ConnectionClosedOK:
            return
        await ws.send(repr(fragments))


async def wait_for_event(event):
    await asyncio.wait_for(event.wait(), 5)


# Messages --------------------------------------------------------------------------------


MESSAGES = [
    "hello",
    "ünïcødé ☃ 𝄞",
    "",
    b"",
    b"\x00\x01\xfe\xff" * 4,
    "x" * 125,
    "y" * 126,
    b"z" * 65535,
    b"w" * 65536,
]


def test_echo_text_binary_empty():
    async def main():
        async with running(echo) as (_, uri), connect(uri) as ws:
            for message in MESSAGES:
                await ws.send(message)
                reply = await ws.recv()
                assert type(reply) is type(message)
                assert reply == message

    run(main())


def test_send_bytes_like_and_text_override():
    async def main():
        async with running(echo) as (_, uri), connect(uri) as ws:
            await ws.send(bytearray(b"bytearray"))
            assert await ws.recv() == b"bytearray"
            await ws.send(memoryview(b"..memoryview..")[2:-2])
            assert await ws.recv() == b"memoryview"
            await ws.send("é as binary", text=False)
            assert await ws.recv() == "é as binary".encode()
            await ws.send("é as text".encode(), text=True)
            assert await ws.recv() == "é as text"

    run(main())


def test_send_wrong_types():
    async def main():
        async with running(echo) as (_, uri), connect(uri) as ws:
            with pytest.raises(TypeError):
                await ws.send(42)
            with pytest.raises(TypeError):
                await ws.send({"a": 1})
            # The connection is still usable.
            await ws.send("still open")
            assert await ws.recv() == "still open"

    run(main())


def test_recv_decode():
    async def handler(ws):
        await ws.send("text ☃")
        await ws.send(b"binary")
        await ws.send("text")
        await ws.send("☃".encode())
        await ws.send(["frag", "ment ☃"])
        await ws.wait_closed()

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            assert await ws.recv(decode=False) == "text ☃".encode()
            assert await ws.recv(decode=True) == "binary"
            assert await ws.recv(decode=None) == "text"
            assert await ws.recv(True) == "☃"
            fragments = [f async for f in ws.recv_streaming(decode=False)]
            assert all(type(f) is bytes for f in fragments)
            assert b"".join(fragments) == "fragment ☃".encode()

    run(main())


def test_large_messages_with_max_size_raised():
    random_payload = os.urandom(2**20 + 17)
    text_payload = "€ large text " * (2**20 // 15)  # ~1.3 MiB of UTF-8

    async def main():
        async with (
            running(echo, max_size=2**22) as (_, uri),
            connect(uri, max_size=2**22) as ws,
        ):
            await ws.send(random_payload)
            assert await ws.recv() == random_payload
            await ws.send(text_payload)
            assert await ws.recv() == text_payload

    run(main())


def test_default_max_size_boundary():
    payload = b"compressible " * (2**20 // 13) + b"x" * (2**20 % 13)
    closed = {}

    async def handler(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosedError as exc:
            closed["exc"] = exc

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            await ws.send(payload)  # exactly max_size: accepted
            assert await ws.recv() == payload
            await ws.send(payload + b"!")
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd.code == 1009
            assert ws.close_code == 1009
        assert closed["exc"].sent.code == 1009

    run(main())


def test_max_size_exceeded_on_server():
    closed = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosedError as exc:
            closed["exc"] = exc
            # The side that fails the connection doesn't wait for the close frame.
            closed["close_code"] = ws.close_code

    async def main():
        async with running(handler, max_size=1000) as (_, uri), connect(uri) as ws:
            await ws.send(b"x" * 1001)
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd.code == 1009
            # Sending on the closed connection raises the same kind of exception.
            with pytest.raises(ConnectionClosedError):
                await ws.send("after")
        assert closed["exc"].sent.code == 1009
        assert closed["close_code"] == 1006

    run(main())


def test_max_size_exceeded_on_client():
    async def handler(ws):
        await ws.send("y" * 101)
        await ws.wait_closed()

    async def main():
        async with running(handler) as (_, uri), connect(uri, max_size=100) as ws:
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.sent.code == 1009
            assert ws.close_code == 1006  # the failing side doesn't wait for the reply
            assert ws.state is State.CLOSED

    run(main())


def test_max_size_none():
    payload = os.urandom(2**20 + 100)

    async def main():
        async with (
            running(echo, max_size=None, compression=None) as (_, uri),
            connect(uri, max_size=None, compression=None) as ws,
        ):
            await ws.send(payload)
            assert await ws.recv() == payload

    run(main())


def test_max_size_message_and_fragment_limits():
    closed = {}

    async def handler(ws):
        try:
            async for message in ws:
                await ws.send(str(len(message)))
        except ConnectionClosedError as exc:
            closed["exc"] = exc

    async def main():
        async with (
            running(handler, max_size=(4000, 1000), compression=None) as (_, uri),
            connect(uri) as ws,
        ):
            await ws.send([b"a" * 900] * 4)  # 3600 bytes in 900-byte fragments
            assert await ws.recv() == "3600"
            await ws.send(b"b" * 1001)  # one frame bigger than the fragment limit
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd.code == 1009
        assert closed["exc"].sent.code == 1009

    run(main())


# Fragmentation ---------------------------------------------------------------------------


def test_send_iterable_fragments():
    async def main():
        async with running(streaming_echo) as (_, uri), connect(uri) as ws:
            for chunks in (
                ["frag1", "frag2", "frag3"],
                ("α", "β", "γ"),
                [b"\x00", bytearray(b"\x01"), memoryview(b"\x02")],
                [b"only one"],
            ):
                await ws.send(chunks)
                fragments = ast.literal_eval(await ws.recv())
                assert [f for f in fragments if f] == [
                    bytes(c) if not isinstance(c, str) else c for c in chunks
                ]
            await ws.send(c for c in ["gen", "erator"])
            assert "".join(ast.literal_eval(await ws.recv())) == "generator"
            await ws.send(["as", "binary"], text=False)
            assert b"".join(ast.literal_eval(await ws.recv())) == b"asbinary"
            await ws.send([b"as", b"text"], text=True)
            assert "".join(ast.literal_eval(await ws.recv())) == "astext"
            # An empty iterable sends nothing.
            await ws.send([])
            await ws.send("after")
            assert ast.literal_eval(await ws.recv()) == ["after"]

    run(main())


def test_send_async_iterable_fragments():
    async def agen(chunks):
        for chunk in chunks:
            await asyncio.sleep(0)
            yield chunk

    async def main():
        async with running(streaming_echo) as (_, uri), connect(uri) as ws:
            await ws.send(agen(["async ", "frag", "ments"]))
            fragments = ast.literal_eval(await ws.recv())
            assert [f for f in fragments if f] == ["async ", "frag", "ments"]
            await ws.send(agen([b"\xff", b"\xfe"]))
            fragments = ast.literal_eval(await ws.recv())
            assert [f for f in fragments if f] == [b"\xff", b"\xfe"]
            await ws.send(agen([]))
            await ws.send(b"after")
            assert ast.literal_eval(await ws.recv()) == [b"after"]

    run(main())


def test_send_iterable_of_mixed_types_fails_the_connection():
    async def handler(ws):
        with pytest.raises(ConnectionClosedError):
            await ws.recv()

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            with pytest.raises(TypeError):
                await ws.send(["text", b"bytes"])
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.sent.code == 1011

    run(main())


def test_recv_fragmented_from_server():
    async def handler(ws):
        await ws.send(["α", "β", "γ"])
        await ws.send([b"1", b"2"])
        await ws.send("whole")
        await ws.send([b"\xe2\x98", b"\x83"], text=True)  # a character split in two
        await ws.send([b"\xe2\x98", b"\x83"], text=True)
        await ws.wait_closed()

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            fragments = [f async for f in ws.recv_streaming()]
            assert [f for f in fragments if f] == ["α", "β", "γ"]
            fragments = [f async for f in ws.recv_streaming()]
            assert [f for f in fragments if f] == [b"1", b"2"]
            assert [f async for f in ws.recv_streaming()] == ["whole"]
            assert await ws.recv() == "☃"
            assert "".join([f async for f in ws.recv_streaming()]) == "☃"

    run(main())


def test_async_for_ends_on_normal_closure():
    async def handler(ws):
        for message in ("one", b"two", "three"):
            await ws.send(message)

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            assert [message async for message in ws] == ["one", b"two", "three"]
            assert ws.close_code == 1000

    run(main())


def test_async_for_raises_on_error_closure():
    async def handler(ws):
        await ws.send("one")
        await ws.close(4000, "custom")

    async def main():
        received = []
        async with running(handler) as (_, uri), connect(uri) as ws:
            with pytest.raises(ConnectionClosedError) as excinfo:
                async for message in ws:
                    received.append(message)
            assert received == ["one"]
            assert excinfo.value.rcvd.code == 4000
            assert excinfo.value.rcvd.reason == "custom"

    run(main())


# Concurrency -----------------------------------------------------------------------------


def test_concurrent_recv_raises_concurrency_error():
    async def handler(ws):
        assert await ws.recv() == "go"
        await ws.send("ok")
        await ws.wait_closed()

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            pending = asyncio.create_task(ws.recv())
            await asyncio.sleep(0.01)
            with pytest.raises(ConcurrencyError):
                await ws.recv()
            with pytest.raises(ConcurrencyError):
                async for _ in ws.recv_streaming():
                    pass
            # Canceling recv() is safe: the next recv() gets the next message.
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            await ws.send("go")
            assert await ws.recv() == "ok"

    run(main())


# Ping and pong ---------------------------------------------------------------------------


def test_ping_returns_awaitable_latency():
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with running(handler) as (_, uri), connect(uri, ping_interval=None) as ws:
            assert ws.latency == 0.0
            pong_received = await ws.ping()
            latency = await pong_received
            assert isinstance(latency, float)
            assert 0 <= latency < 5
            assert ws.latency == latency
            assert await (await ws.ping(b"bytes payload")) >= 0
            assert await (await ws.ping("str payload")) >= 0
            assert await (await ws.ping(bytearray(b"bytearray"))) >= 0
            with pytest.raises(TypeError):
                await ws.ping(42)
            # Two pings with the same payload can't be pending at once.
            first = await ws.ping(b"same")
            with pytest.raises(ConcurrencyError):
                await ws.ping(b"same")
            await first
            # Several pings in flight, acknowledged in order.
            waiters = [await ws.ping() for _ in range(5)]
            latencies = await asyncio.gather(*waiters)
            assert all(latency >= 0 for latency in latencies)

    run(main())


def test_server_ping():
    result = {}

    async def handler(ws):
        result["latency"] = await (await ws.ping(b"from server"))
        result["attribute"] = ws.latency
        await ws.send("done")
        await ws.wait_closed()

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            assert await ws.recv() == "done"
        assert result["latency"] >= 0
        assert result["attribute"] == result["latency"]

    run(main())


def test_pong():
    async def handler(ws):
        await ws.pong(b"unsolicited from server")
        await ws.pong()
        await ws.send("after pong")
        await echo(ws)

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            # Unsolicited pongs are ignored.
            assert await ws.recv() == "after pong"
            await ws.pong(b"unsolicited")
            await ws.pong("text payload")
            await ws.pong(memoryview(b"view"))
            with pytest.raises(TypeError):
                await ws.pong(None)
            await ws.send("still open")
            assert await ws.recv() == "still open"
            assert ws.latency == 0.0

    run(main())


def test_keepalive_pings_measure_latency():
    result = {}

    async def handler(ws):
        await asyncio.sleep(0.35)
        result["latency"] = ws.latency
        await ws.send("done")
        await ws.wait_closed()

    async def main():
        async with (
            running(handler, ping_interval=0.05, ping_timeout=1) as (_, uri),
            connect(uri, ping_interval=0.05, ping_timeout=1) as ws,
        ):
            assert await ws.recv() == "done"
            assert ws.latency > 0
            assert ws.state is State.OPEN
        assert result["latency"] > 0

    run(main())


# Closing ---------------------------------------------------------------------------------


def test_close_normal_by_client():
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc
        result["close"] = (ws.close_code, ws.close_reason)
        await ws.wait_closed()
        result["state"] = ws.state

    async def main():
        async with running(handler) as (server, uri):
            ws = await connect(uri)
            assert ws.close_code is None
            assert ws.close_reason is None
            await ws.close()
            assert ws.state is State.CLOSED
            assert (ws.close_code, ws.close_reason) == (1000, "")
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            with pytest.raises(ConnectionClosedOK):
                await ws.send("after close")
            with pytest.raises(ConnectionClosedOK):
                await ws.ping()
            await ws.close()  # idempotent
            await ws.wait_closed()
            server.close()
            await server.wait_closed()
        assert isinstance(result["exc"], ConnectionClosedOK)
        assert result["exc"].rcvd.code == 1000
        assert result["close"] == (1000, "")
        assert result["state"] is State.CLOSED

    run(main())


def test_close_with_code_and_reason_by_client():
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc
        result["close"] = (ws.close_code, ws.close_reason)

    async def main():
        async with running(handler) as (server, uri):
            ws = await connect(uri)
            await ws.close(4000, "bye ☃")
            assert (ws.close_code, ws.close_reason) == (4000, "bye ☃")
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            exc = excinfo.value
            assert (exc.sent.code, exc.sent.reason) == (4000, "bye ☃")
            assert (exc.rcvd.code, exc.rcvd.reason) == (4000, "bye ☃")
            assert exc.rcvd_then_sent is False
            server.close()
            await server.wait_closed()
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert (exc.rcvd.code, exc.rcvd.reason) == (4000, "bye ☃")
        assert exc.rcvd_then_sent is True
        assert result["close"] == (4000, "bye ☃")

    run(main())


def test_close_by_server():
    async def handler(ws):
        await ws.close(1001, "going")

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            with pytest.raises(ConnectionClosedOK) as excinfo:
                await ws.recv()
            assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (1001, "going")
            assert (ws.close_code, ws.close_reason) == (1001, "going")
            await ws.wait_closed()
            assert ws.state is State.CLOSED

    run(main())


def test_handler_return_closes_normally_and_context_manager_closes():
    result = {}

    async def quick(ws):
        pass

    async def waiting(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc

    async def main():
        async with running(quick) as (_, uri), connect(uri) as ws:
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000
        async with running(waiting) as (_, uri):
            async with connect(uri) as ws:
                pass
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000
        assert isinstance(result["exc"], ConnectionClosedOK)

    run(main())


def test_context_manager_exit_with_exception_closes_1011():
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc

    async def main():
        async with running(handler) as (_, uri):
            with pytest.raises(ZeroDivisionError):
                async with connect(uri) as ws:
                    1 / 0  # noqa: B018
            assert ws.state is State.CLOSED
            assert ws.close_code == 1011
        assert result["exc"].rcvd.code == 1011

    run(main())


def test_wait_closed():
    result = {}

    async def handler(ws):
        await ws.wait_closed()
        result["state"] = ws.state
        result["close"] = (ws.close_code, ws.close_reason)
        result["done"].set()

    async def main():
        result["done"] = asyncio.Event()
        async with running(handler) as (_, uri):
            ws = await connect(uri)
            waiter = asyncio.create_task(ws.wait_closed())
            await asyncio.sleep(0.01)
            assert not waiter.done()
            await ws.close(1000, "done")
            await waiter
            await wait_for_event(result["done"])
        assert result["state"] is State.CLOSED
        assert result["close"] == (1000, "done")

    run(main())


def test_handler_exception_closes_with_1011(caplog):
    async def handler(ws):
        raise RuntimeError("handler bug")

    async def main():
        async with running(handler) as (_, uri), connect(uri) as ws:
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd.code == 1011

    run(main())
    assert any(
        record.exc_info and isinstance(record.exc_info[1], RuntimeError)
        for record in caplog.get_records("call")
    )
    caplog.clear()


# Connection attributes -------------------------------------------------------------------


def test_connection_attributes():
    result = {}

    async def handler(ws):
        result["server"] = {
            "type": type(ws),
            "id": ws.id,
            "path": ws.request.path,
            "host": ws.request.headers["Host"],
            "upgrade": ws.request.headers["Upgrade"],
            "status": ws.response.status_code,
            "subprotocol": ws.subprotocol,
            "local": ws.local_address,
            "remote": ws.remote_address,
            "state": ws.state,
            "latency": ws.latency,
            "close": (ws.close_code, ws.close_reason),
        }
        result["ready"].set()
        await ws.wait_closed()

    async def main():
        result["ready"] = asyncio.Event()
        async with running(handler) as (server, uri):
            port = server.sockets[0].getsockname()[1]
            async with connect(f"{uri}/attrs?x=1&y=%20") as ws:
                await wait_for_event(result["ready"])
                srv = result["server"]
                assert isinstance(ws, ClientConnection)
                assert issubclass(srv["type"], ServerConnection)
                assert isinstance(ws, wsfast_connection.Connection)
                assert isinstance(ws.id, uuid.UUID)
                assert isinstance(srv["id"], uuid.UUID)
                assert ws.id != srv["id"]
                assert ws.request.path == "/attrs?x=1&y=%20"
                assert srv["path"] == "/attrs?x=1&y=%20"
                assert ws.request.headers["Host"] == f"127.0.0.1:{port}"
                assert srv["host"] == f"127.0.0.1:{port}"
                assert srv["upgrade"].lower() == "websocket"
                assert ws.response.status_code == 101
                assert srv["status"] == 101
                assert "Sec-WebSocket-Accept" in ws.response.headers
                assert ws.subprotocol is None
                assert srv["subprotocol"] is None
                assert ws.remote_address[:2] == ("127.0.0.1", port)
                assert srv["local"][:2] == ("127.0.0.1", port)
                assert tuple(ws.local_address) == tuple(srv["remote"])
                assert ws.state is State.OPEN
                assert srv["state"] is State.OPEN
                assert ws.state.name == "OPEN"
                assert ws.latency == 0.0
                assert srv["latency"] == 0.0
                assert (ws.close_code, ws.close_reason) == (None, None)
                assert srv["close"] == (None, None)
                assert ws.logger is not None
            assert ws.state is State.CLOSED

    run(main())


def test_request_headers_and_server_header():
    result = {}

    async def handler(ws):
        result["headers"] = ws.request.headers
        await ws.send("hi")
        await ws.wait_closed()

    async def main():
        async with running(handler, server_header="srv/1.0") as (_, uri):
            async with connect(
                uri,
                additional_headers={"X-Token": "abc"},
                origin="https://example.com",
                user_agent_header="agent/1.0",
            ) as ws:
                assert await ws.recv() == "hi"
                assert ws.response.headers["Server"] == "srv/1.0"
            headers = result["headers"]
            assert headers["X-Token"] == "abc"
            assert headers["Origin"] == "https://example.com"
            assert headers["User-Agent"] == "agent/1.0"
            assert ws.request.headers["X-Token"] == "abc"
        async with running(handler, server_header=None) as (_, uri):
            async with connect(
                uri, additional_headers=[("X-A", "1"), ("X-A", "2")], user_agent_header=None
            ) as ws:
                assert await ws.recv() == "hi"
                assert "Server" not in ws.response.headers
            assert "User-Agent" not in result["headers"]
            assert result["headers"].get_all("X-A") == ["1", "2"]

    run(main())


def test_origins():
    async def handler(ws):
        await ws.send("welcome")

    async def main():
        async with running(handler, origins=["https://good.example", None]) as (_, uri):
            async with connect(uri, origin="https://good.example") as ws:
                assert await ws.recv() == "welcome"
            async with connect(uri) as ws:  # no Origin header: allowed by None
                assert await ws.recv() == "welcome"
            with pytest.raises(InvalidStatus) as excinfo:
                await connect(uri, origin="https://evil.example")
            assert excinfo.value.response.status_code == 403

    run(main())


# Opening handshake hooks -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_process_request_rejects(kind):
    def reject(connection, request):
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Forbidden\n")
        if request.path == "/health":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async def reject_async(connection, request):
        await asyncio.sleep(0)
        return reject(connection, request)

    async def handler(ws):
        await ws.send("accepted")

    async def main():
        process_request = reject if kind == "sync" else reject_async
        async with running(handler, process_request=process_request) as (_, uri):
            with pytest.raises(InvalidStatus) as excinfo:
                await connect(f"{uri}/forbidden")
            assert excinfo.value.response.status_code == 403
            assert excinfo.value.response.body == b"Forbidden\n"
            with pytest.raises(InvalidStatus) as excinfo:
                await connect(f"{uri}/health")
            assert excinfo.value.response.status_code == 200
            async with connect(f"{uri}/other") as ws:
                assert await ws.recv() == "accepted"

    run(main())


def test_process_response():
    def process_response(connection, request, response):
        response.headers["X-Extra"] = request.path

    async def process_response_async(connection, request, response):
        response.headers["X-Extra-Async"] = "yes"

    async def handler(ws):
        await ws.send("hi")

    async def main():
        async with (
            running(handler, process_response=process_response) as (_, uri),
            connect(f"{uri}/p") as ws,
        ):
            assert ws.response.headers["X-Extra"] == "/p"
            assert await ws.recv() == "hi"
        async with (
            running(handler, process_response=process_response_async) as (_, uri),
            connect(uri) as ws,
        ):
            assert ws.response.headers["X-Extra-Async"] == "yes"

    run(main())


# Subprotocols and compression ------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_protocols", "client_protocols", "expected"),
    [
        (["chat", "superchat"], ["superchat", "chat"], "chat"),
        (["chat", "superchat"], ["superchat", "other"], "superchat"),
        (None, ["chat"], None),
        (None, None, None),
        (["chat"], ["other"], 400),
        (["chat"], None, 400),
    ],
)
def test_subprotocols(server_protocols, client_protocols, expected):
    result = {}

    async def handler(ws):
        result["subprotocol"] = ws.subprotocol
        await ws.send("hi")

    async def main():
        async with running(handler, subprotocols=server_protocols) as (_, uri):
            if expected == 400:
                with pytest.raises(InvalidStatus) as excinfo:
                    await connect(uri, subprotocols=client_protocols)
                assert excinfo.value.response.status_code == 400
                return
            async with connect(uri, subprotocols=client_protocols) as ws:
                assert await ws.recv() == "hi"
                assert ws.subprotocol == expected
            assert result["subprotocol"] == expected

    run(main())


def test_select_subprotocol():
    seen = {}

    def select(connection, subprotocols):
        seen["connection_type"] = type(connection)
        seen["offered"] = list(subprotocols)
        return subprotocols[-1]

    async def handler(ws):
        await ws.send(ws.subprotocol)

    async def main():
        async with (
            running(handler, select_subprotocol=select) as (_, uri),
            connect(uri, subprotocols=["a", "b", "c"]) as ws,
        ):
            assert ws.subprotocol == "c"
            assert await ws.recv() == "c"
        assert seen["offered"] == ["a", "b", "c"]
        assert issubclass(seen["connection_type"], ServerConnection)

    run(main())


@pytest.mark.parametrize(
    ("server_compression", "client_compression"),
    [("deflate", "deflate"), ("deflate", None), (None, "deflate"), (None, None)],
)
def test_compression(server_compression, client_compression):
    compressible = "compress me " * 30000
    incompressible = os.urandom(100_000)

    async def main():
        async with (
            running(echo, compression=server_compression) as (_, uri),
            connect(uri, compression=client_compression) as ws,
        ):
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            if server_compression and client_compression:
                assert extensions is not None
                assert extensions.startswith("permessage-deflate")
            else:
                assert extensions is None
            for message in (compressible, incompressible, "", b"", "short"):
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(["frag " * 1000, "mented " * 1000, ""])
            assert await ws.recv() == "frag " * 1000 + "mented " * 1000

    run(main())


def test_unsupported_compression():
    async def main():
        with pytest.raises(ValueError):
            connect("ws://127.0.0.1:1/", compression="gzip")
        with pytest.raises(ValueError):
            serve(echo, "127.0.0.1", 0, compression="gzip")

    run(main())


# Server ----------------------------------------------------------------------------------


def test_server_close_going_away():
    result = {"exceptions": []}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exceptions"].append(exc)

    async def main():
        async with running(handler) as (server, uri):
            clients = [await connect(uri) for _ in range(2)]
            await asyncio.sleep(0.05)
            assert len(server.connections) == 2
            server.close()
            for ws in clients:
                with pytest.raises(ConnectionClosedOK) as excinfo:
                    await ws.recv()
                assert excinfo.value.rcvd.code == 1001
                assert ws.close_code == 1001
            await server.wait_closed()
            assert not server.is_serving()
            assert len(result["exceptions"]) == 2
            assert all(exc.sent.code == 1001 for exc in result["exceptions"])
            with pytest.raises(OSError):
                await connect(uri, open_timeout=2)

    run(main())


def test_server_close_custom_code():
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with running(handler) as (server, uri):
            ws = await connect(uri)
            server.close(code=1012, reason="restarting")
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
            assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (1012, "restarting")
            assert isinstance(excinfo.value, ConnectionClosedError)
            await server.wait_closed()

    run(main())


def test_server_close_without_closing_connections():
    async def main():
        async with running(echo) as (server, uri):
            ws = await connect(uri)
            await asyncio.sleep(0.05)
            server.close(close_connections=False)
            await asyncio.sleep(0.05)
            assert not server.is_serving()
            await ws.send("still served")
            assert await ws.recv() == "still served"
            with pytest.raises(OSError):
                await connect(uri, open_timeout=2)
            closing = asyncio.create_task(server.wait_closed())
            await asyncio.sleep(0.05)
            assert not closing.done()  # a handler is still running
            await ws.close()
            await closing

    run(main())


def test_serve_forever_and_await_serve():
    async def main():
        server = await serve(echo, "127.0.0.1", 0)
        assert isinstance(server, wsfast_server.Server)
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        sockets = server.sockets
        assert len(sockets) >= 1
        assert sockets[0].family == socket.AF_INET
        host, port = sockets[0].getsockname()[:2]
        assert host == "127.0.0.1"
        forever = asyncio.create_task(server.serve_forever())
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            server.close()
            await forever  # returns when the server is closed
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
        await server.wait_closed()

    run(main())


def test_serve_forever_cancelled_closes_server():
    async def main():
        server = await serve(echo, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        forever = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        assert server.is_serving()
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}")
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await forever
        assert not server.is_serving()
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == 1001

    run(main())


def test_start_serving():
    async def main():
        server = await serve(echo, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        await server.start_serving()
        assert server.is_serving()
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        server.close()
        await server.wait_closed()

    run(main())


def test_server_accepts_sock_argument():
    async def main():
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with (
            serve(echo, sock=sock) as server,
            connect(f"ws://127.0.0.1:{port}") as ws,
        ):
            assert server.sockets[0].getsockname()[1] == port
            await ws.send("via sock")
            assert await ws.recv() == "via sock"

    run(main())


def test_broadcast():
    async def handler(ws):
        await ws.send("ready")
        await ws.wait_closed()

    async def main():
        async with running(handler) as (server, uri):
            clients = [await connect(uri) for _ in range(3)]
            for ws in clients:
                assert await ws.recv() == "ready"
            connections = set(server.connections)
            assert len(connections) == 3
            broadcast(connections, "hello all")
            broadcast(connections, b"\x00bytes")
            broadcast(connections, "as bytes", text=False)
            broadcast(connections, b"as text", text=True)
            for ws in clients:
                assert await ws.recv() == "hello all"
                assert await ws.recv() == b"\x00bytes"
                assert await ws.recv() == b"as bytes"
                assert await ws.recv() == "as text"
            with pytest.raises(TypeError):
                broadcast(connections, ["not", "fragmented"])
            # Closed connections are skipped.
            await clients[0].close()
            await asyncio.sleep(0.05)
            broadcast(connections, "to the others", raise_exceptions=True)
            for ws in clients[1:]:
                assert await ws.recv() == "to the others"
            # broadcast works with client connections too.
            broadcast(clients[1:], "from clients")
            for ws in clients[1:]:
                await ws.close()

    run(main())


# basic_auth ------------------------------------------------------------------------------


async def _check_password(username, password):
    await asyncio.sleep(0)
    return (username, password) == ("alice", "s3cr3t")


@pytest.mark.parametrize(
    "auth_kwargs",
    [
        {"credentials": ("alice", "s3cr3t")},
        {"credentials": [("bob", "x"), ("alice", "s3cr3t")]},
        {"check_credentials": lambda u, p: (u, p) == ("alice", "s3cr3t")},
        {"check_credentials": _check_password},
    ],
    ids=["pair", "list", "sync-check", "async-check"],
)
def test_basic_auth(auth_kwargs):
    async def handler(ws):
        await ws.send(ws.username)

    async def main():
        process_request = basic_auth(realm="wsfast test", **auth_kwargs)
        async with running(handler, process_request=process_request) as (server, uri):
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://alice:s3cr3t@127.0.0.1:{port}/") as ws:
                assert await ws.recv() == "alice"
            for bad_uri in (
                uri,
                f"ws://alice:wrong@127.0.0.1:{port}/",
                f"ws://mallory:s3cr3t@127.0.0.1:{port}/",
            ):
                with pytest.raises(InvalidStatus) as excinfo:
                    await connect(bad_uri)
                response = excinfo.value.response
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"] == (
                    'Basic realm="wsfast test", charset="UTF-8"'
                )

    run(main())


def test_basic_auth_arguments():
    with pytest.raises(ValueError):
        basic_auth()
    with pytest.raises(ValueError):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError):
        basic_auth(credentials=42)


# Client errors and connect() forms -------------------------------------------------------


def test_connect_errors():
    async def main():
        with pytest.raises(InvalidURI):
            await connect("http://127.0.0.1/")
        with pytest.raises(ValueError):
            connect("ws://127.0.0.1/", ssl=True)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there
        with pytest.raises(OSError):
            await connect(f"ws://127.0.0.1:{port}/", open_timeout=2)

    run(main())


def test_connect_forms():
    async def main():
        async with running(echo) as (_, uri):
            ws = await connect(uri)
            await ws.send("awaited")
            assert await ws.recv() == "awaited"
            await ws.close()
            async for ws in connect(uri):
                await ws.send("iterated")
                assert await ws.recv() == "iterated"
                await ws.close()
                break

    run(main())


def test_connect_custom_connection_class():
    class MyClientConnection(ClientConnection):
        marker = "client"

    class MyServerConnection(ServerConnection):
        marker = "server"

    async def handler(ws):
        await ws.send(ws.marker)

    async def main():
        async with (
            running(handler, create_connection=MyServerConnection) as (_, uri),
            connect(uri, create_connection=MyClientConnection) as ws,
        ):
            assert isinstance(ws, MyClientConnection)
            assert await ws.recv() == "server"

    run(main())


def test_many_connections_and_messages():
    async def client(uri, n):
        async with connect(uri) as ws:
            for i in range(50):
                await ws.send(f"{n}:{i}")
            return [await ws.recv() for _ in range(50)]

    async def main():
        start = time.monotonic()
        async with running(echo) as (_, uri):
            results = await asyncio.gather(*(client(uri, n) for n in range(10)))
        for n, replies in enumerate(results):
            assert replies == [f"{n}:{i}" for i in range(50)]
        assert time.monotonic() - start < TIMEOUT

    run(main())


# API surface -----------------------------------------------------------------------------


def test_top_level_names():
    for name, module in [
        ("connect", wsfast_client),
        ("unix_connect", wsfast_client),
        ("ClientConnection", wsfast_client),
        ("serve", wsfast_server),
        ("unix_serve", wsfast_server),
        ("Server", wsfast_server),
        ("ServerConnection", wsfast_server),
        ("basic_auth", wsfast_server),
        ("broadcast", wsfast_server),
    ]:
        assert getattr(wsfast, name) is getattr(module, name), name
    assert issubclass(wsfast_client.ClientConnection, wsfast_connection.Connection)
    assert issubclass(wsfast_server.ServerConnection, wsfast_connection.Connection)


# Defaults that legitimately differ (they name the library).
LIBRARY_DEFAULTS = {"user_agent_header", "server_header"}


def _comparable(parameter):
    default = parameter.default
    if parameter.name in LIBRARY_DEFAULTS:
        default = "<library>"
    elif default is not inspect.Parameter.empty and not isinstance(
        default, (type(None), bool, int, float, str, tuple)
    ):
        default = "<object>"
    return (parameter.name, parameter.kind, default)


@pytest.mark.parametrize(
    "path",
    [
        "client.connect",
        "client.unix_connect",
        "server.serve",
        "server.unix_serve",
        "server.basic_auth",
        "server.broadcast",
        "server.Server.close",
        "server.ServerConnection.respond",
        "connection.Connection.recv",
        "connection.Connection.recv_streaming",
        "connection.Connection.send",
        "connection.Connection.close",
        "connection.Connection.wait_closed",
        "connection.Connection.ping",
        "connection.Connection.pong",
    ],
)
@needs_websockets
def test_signatures_match_websockets(path):
    ours = {"client": wsfast_client, "server": wsfast_server, "connection": wsfast_connection}
    theirs = {"client": ws_client, "server": ws_server, "connection": ws_connection}
    module, *attributes = path.split(".")
    wsfast_obj, websockets_obj = ours[module], theirs[module]
    for attribute in attributes:
        wsfast_obj = getattr(wsfast_obj, attribute)
        websockets_obj = getattr(websockets_obj, attribute)
    expected = [_comparable(p) for p in inspect.signature(websockets_obj).parameters.values()]
    actual = [_comparable(p) for p in inspect.signature(wsfast_obj).parameters.values()]
    assert actual == expected
