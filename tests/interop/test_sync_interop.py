"""wsfast.sync against other implementations over real sockets on 127.0.0.1.

* websockets 17 (its threading client and server) in both directions, and wsfast.sync
  against itself: echo, large and fragmented messages, compression and its parameters,
  pings, the closing handshake from either side, server shutdown, max_size, subprotocols,
  process_request and HTTP Basic Auth.
* The wsfast.sync client against asyncio servers (wsfast.asyncio and websockets.asyncio),
  running in an event loop of their own thread.
* The ``websocket-client`` package as a client of the wsfast.sync server.

Every test runs on both codecs (conftest.active_codec) and is bounded in time
(sync_support.run); servers run ``serve_forever()`` in a thread and are shut down on exit.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import http
import os
import struct
import threading
import time

import pytest
from sync_support import Background, run, serving_asyncio, serving_sync
from websockets_support import HAVE_WEBSOCKETS, lib_param, websockets_module

from wsfast.asyncio import server as wsfast_asyncio_server
from wsfast.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
)
from wsfast.extensions import permessage_deflate as wsfast_deflate
from wsfast.sync import client as wsfast_client
from wsfast.sync import server as wsfast_server

ws_exceptions = websockets_module("websockets.exceptions")
ws_asyncio_server = websockets_module("websockets.asyncio.server")
ws_deflate = websockets_module("websockets.extensions.permessage_deflate")
ws_client = websockets_module("websockets.sync.client")
ws_server = websockets_module("websockets.sync.server")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

WAIT = 5  # seconds for any single blocking step

CLOSED = (ConnectionClosed,)
CLOSED_OK = (ConnectionClosedOK,)
CLOSED_ERROR = (ConnectionClosedError,)
INVALID_STATUS = (InvalidStatus,)
CONCURRENCY_ERROR = (ConcurrencyError,)

SERVE = {"wsfast": wsfast_server.serve}
CONNECT = {"wsfast": wsfast_client.connect}
BASIC_AUTH = {"wsfast": wsfast_server.basic_auth}
DEFLATE_MODULES = {"wsfast": wsfast_deflate}
ASYNCIO_SERVE = {"wsfast": wsfast_asyncio_server.serve}

if HAVE_WEBSOCKETS:  # Python 3.11+ (websockets_support)
    CLOSED += (ws_exceptions.ConnectionClosed,)
    CLOSED_OK += (ws_exceptions.ConnectionClosedOK,)
    CLOSED_ERROR += (ws_exceptions.ConnectionClosedError,)
    INVALID_STATUS += (ws_exceptions.InvalidStatus,)
    CONCURRENCY_ERROR += (ws_exceptions.ConcurrencyError,)
    SERVE["websockets"] = ws_server.serve
    CONNECT["websockets"] = ws_client.connect
    BASIC_AUTH["websockets"] = ws_server.basic_auth
    DEFLATE_MODULES["websockets"] = ws_deflate
    ASYNCIO_SERVE["websockets"] = ws_asyncio_server.serve

SIDES = pytest.mark.parametrize(
    ("server_lib", "client_lib"),
    [
        lib_param("wsfast", "wsfast", id="wsfast-wsfast"),
        lib_param("wsfast", "websockets", id="wsfast-server-websockets-client"),
        lib_param("websockets", "wsfast", id="websockets-server-wsfast-client"),
    ],
)


@contextlib.contextmanager
def serving(lib, handler, **kwargs):
    """A ``lib`` threading server on 127.0.0.1, an ephemeral port; yields (server, URI)."""
    with serving_sync(SERVE[lib], handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, f"ws://127.0.0.1:{server.socket.getsockname()[1]}"


def echo(ws):
    """Send every message back until the connection closes, however it closes."""
    with contextlib.suppress(*CLOSED):
        while True:
            ws.send(ws.recv(timeout=WAIT * 2))


def streaming_echo(ws):
    """Receive each message with recv_streaming() and send back repr(list of fragments)."""
    with contextlib.suppress(*CLOSED):
        while True:
            ws.send(repr(list(ws.recv_streaming())))


def wait_closed(ws):
    """Block until the peer closes, bounded in time; for handlers that only send."""
    with contextlib.suppress(*CLOSED, TimeoutError):
        ws.recv(timeout=WAIT * 2)


def slowly(chunks, delay=0.1):
    """Yield ``chunks`` with a pause before each one but the first."""
    for index, chunk in enumerate(chunks):
        if index:
            time.sleep(delay)
        yield chunk


def nonempty(fragments):
    return [fragment for fragment in fragments if fragment]


MESSAGES = [
    "hello",
    "ünïcødé ☃ 𝄞",
    "",
    b"",
    b"\x00\x01\xfe\xff",
    "y" * 125,
    "y" * 126,
    b"w" * 65535,
    b"w" * 70000,
    "compressible text " * 20000,
    os.urandom(200_000),
]


# wsfast.sync <-> websockets.sync, and wsfast.sync <-> wsfast.sync --------------------------


@SIDES
def test_echo(server_lib, client_lib):
    def main():
        with (
            serving(server_lib, echo) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert extensions.startswith("permessage-deflate")
            for message in MESSAGES:
                ws.send(message)
                reply = ws.recv(timeout=WAIT)
                assert type(reply) is type(message)
                assert reply == message
            # bytearray and memoryview go out as binary messages.
            ws.send(bytearray(b"\x01\x02"))
            assert ws.recv(timeout=WAIT) == b"\x01\x02"
            ws.send(memoryview(b"view"))
            assert ws.recv(timeout=WAIT) == b"view"

    run(main)


@SIDES
def test_large_messages(server_lib, client_lib):
    random_payload = os.urandom(2**20 + 3)
    text_payload = "€ ☃ " * (2**20 // 8)

    def main():
        with (
            serving(server_lib, echo, max_size=2**22) as (_, uri),
            CONNECT[client_lib](uri, max_size=2**22) as ws,
        ):
            ws.send(random_payload)
            assert ws.recv(timeout=WAIT) == random_payload
            ws.send(text_payload)
            assert ws.recv(timeout=WAIT) == text_payload

    run(main, timeout=30)


@SIDES
@pytest.mark.parametrize("compression", ["deflate", None])
def test_fragmented_client_to_server(server_lib, client_lib, compression):
    def gen():
        yield from (b"gene", b"rated ", b"frags")

    big = ["x" * 50_000, "é" * 30_000, "z" * 10]

    def main():
        with (
            serving(server_lib, streaming_echo, compression=compression) as (_, uri),
            CONNECT[client_lib](uri, compression=compression) as ws,
        ):
            for chunks in (["α", "β", "γ"], [b"\x00", b"\x01", b"\x02"], big):
                ws.send(chunks)
                fragments = ast.literal_eval(ws.recv(timeout=WAIT))
                assert nonempty(fragments) == chunks
                # Each library ends a fragmented message with an empty frame.
                assert fragments == [*chunks, chunks[0][:0]]
            ws.send(gen())
            assert nonempty(ast.literal_eval(ws.recv(timeout=WAIT))) == [
                b"gene",
                b"rated ",
                b"frags",
            ]
            # A text message whose character is split across fragments.
            ws.send([b"\xe2\x98", b"\x83"], text=True)
            assert "".join(ast.literal_eval(ws.recv(timeout=WAIT))) == "☃"

    run(main)


@SIDES
@pytest.mark.parametrize("compression", ["deflate", None])
def test_fragmented_server_to_client(server_lib, client_lib, compression):
    def handler(ws):
        ws.send(["α", "β", "γ"])
        ws.send([b"1", b"2", b"3"])
        ws.send(["x" * 40_000, "y" * 40_000])
        ws.send([b"\xe2\x98", b"\x83"], text=True)
        wait_closed(ws)

    def main():
        with (
            serving(server_lib, handler, compression=compression) as (_, uri),
            CONNECT[client_lib](uri, compression=compression) as ws,
        ):
            fragments = list(ws.recv_streaming())
            assert fragments == ["α", "β", "γ", ""]
            fragments = list(ws.recv_streaming())
            assert fragments == [b"1", b"2", b"3", b""]
            assert ws.recv(timeout=WAIT) == "x" * 40_000 + "y" * 40_000
            assert ws.recv(timeout=WAIT) == "☃"

    run(main)


@SIDES
@pytest.mark.parametrize(
    ("server_compression", "client_compression"),
    [("deflate", None), (None, "deflate"), (None, None)],
)
def test_compression_declined(server_lib, client_lib, server_compression, client_compression):
    def main():
        with (
            serving(server_lib, echo, compression=server_compression) as (_, uri),
            CONNECT[client_lib](uri, compression=client_compression) as ws,
        ):
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            for message in ("text " * 1000, os.urandom(1000), ["frag", "ments"]):
                ws.send(message)
                expected = "fragments" if isinstance(message, list) else message
                assert ws.recv(timeout=WAIT) == expected

    run(main)


@SIDES
@pytest.mark.parametrize("side_with_options", ["server", "client"])
def test_deflate_parameters(server_lib, client_lib, side_with_options):
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
    # Repeats 4 KiB apart: a compressor using a window larger than the negotiated one would
    # produce back-references the other side can't resolve.
    long_distance = os.urandom(4096) * 8
    messages = ["same text again " * 500] * 3 + [os.urandom(5000), long_distance, "tail " * 2000]

    def main():
        with (
            serving(server_lib, echo, **server_kwargs) as (_, uri),
            CONNECT[client_lib](uri, **client_kwargs) as ws,
        ):
            extensions = ws.response.headers["Sec-WebSocket-Extensions"]
            assert extensions.startswith("permessage-deflate")
            assert "server_no_context_takeover" in extensions
            assert "client_no_context_takeover" in extensions
            assert "server_max_window_bits=10" in extensions
            assert "client_max_window_bits=11" in extensions
            for message in messages:
                ws.send(message)
                assert ws.recv(timeout=WAIT) == message
            ws.send(["frag" * 1000, "mented" * 1000])
            assert ws.recv(timeout=WAIT) == "frag" * 1000 + "mented" * 1000

    run(main)


@SIDES
def test_default_deflate_parameters(server_lib, client_lib):
    """Both libraries' defaults agree: client_max_window_bits offered, and what comes back."""

    def main():
        with (
            serving(server_lib, echo) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            offer = ws.request.headers["Sec-WebSocket-Extensions"]
            assert offer == "permessage-deflate; client_max_window_bits"
            answer = ws.response.headers["Sec-WebSocket-Extensions"]
            assert answer == (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            )

    run(main)


@SIDES
def test_ping_pong(server_lib, client_lib):
    result = {}

    def handler(ws):
        pong_received = ws.ping(b"server ping")
        result["pong received"] = pong_received.wait(WAIT)
        result["server latency"] = ws.latency
        ws.pong(b"unsolicited")
        ws.send("pinged")
        echo(ws)

    def main():
        with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri, ping_interval=None) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "pinged"
            pong_received = ws.ping()
            assert pong_received.wait(WAIT)
            assert ws.latency > 0
            assert ws.ping("text payload").wait(WAIT)
            assert ws.ping(b"\x00" * 125).wait(WAIT)
            ws.pong(b"unsolicited")
            ws.send("still open")
            assert ws.recv(timeout=WAIT) == "still open"
        assert result["pong received"] is True
        assert result["server latency"] > 0

    run(main)


@SIDES
def test_keepalive(server_lib, client_lib):
    result = {}

    def handler(ws):
        time.sleep(0.35)
        result["latency"] = ws.latency
        ws.send("done")
        wait_closed(ws)

    def main():
        with (
            serving(server_lib, handler, ping_interval=0.05, ping_timeout=2) as (_, uri),
            CONNECT[client_lib](uri, ping_interval=0.05, ping_timeout=2) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "done"
            assert ws.latency > 0
        assert result["latency"] > 0

    run(main)


@SIDES
@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [
        (1000, "", True),
        (1001, "going", True),
        (4001, "custom ☃", False),
        (1011, "oops", False),
        (3000, "x" * 123, False),
    ],
)
def test_close_by_client(server_lib, client_lib, code, reason, ok):
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv(timeout=WAIT)
        except CLOSED as exc:
            result["exc"] = exc
            result["close"] = (ws.close_code, ws.close_reason)
        finally:
            done.set()

    def main():
        with serving(server_lib, handler) as (_, uri):
            with CONNECT[client_lib](uri) as ws:
                ws.close(code, reason)
                assert ws.state.name == "CLOSED"
                assert (ws.close_code, ws.close_reason) == (code, reason)
                with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR) as excinfo:
                    ws.recv(timeout=WAIT)
                assert excinfo.value.rcvd_then_sent is False
                with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR):
                    ws.send("after close")
            assert done.wait(WAIT)
        exc = result["exc"]
        assert isinstance(exc, CLOSED_OK if ok else CLOSED_ERROR)
        assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)
        assert (exc.sent.code, exc.sent.reason) == (code, reason)
        assert exc.rcvd_then_sent is True
        assert result["close"] == (code, reason)

    run(main)


@SIDES
@pytest.mark.parametrize(
    ("code", "reason", "ok"), [(1000, "bye", True), (4002, "server bye", False)]
)
def test_close_by_server(server_lib, client_lib, code, reason, ok):
    result = {}

    def handler(ws):
        ws.send("before close")
        ws.close(code, reason)
        result["close"] = (ws.close_code, ws.close_reason, ws.state.name)

    def main():
        with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "before close"
            with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (code, reason)
            assert (excinfo.value.sent.code, excinfo.value.sent.reason) == (code, reason)
            assert excinfo.value.rcvd_then_sent is True
            assert (ws.close_code, ws.close_reason) == (code, reason)
            assert ws.wait_closed(WAIT)
            # Iterating a closed connection ends at once after a normal closure.
            if ok:
                assert list(ws) == []
        assert result["close"] == (code, reason, "CLOSED")

    run(main)


@SIDES
def test_iteration_until_server_closes(server_lib, client_lib):
    def handler(ws):
        for i in range(5):
            ws.send(f"message {i}")
        ws.close()

    def main():
        with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            assert list(ws) == [f"message {i}" for i in range(5)]
            assert ws.close_code == 1000

    run(main)


@SIDES
@pytest.mark.parametrize(
    ("kwargs", "code", "reason", "ok"),
    [({}, 1001, "", True), ({"code": 1012, "reason": "restarting"}, 1012, "restarting", False)],
    ids=["default", "custom-code"],
)
def test_server_shutdown(server_lib, client_lib, kwargs, code, reason, ok):
    result = {}
    connected = threading.Event()

    def handler(ws):
        connected.set()
        try:
            ws.recv(timeout=WAIT * 2)
        except CLOSED as exc:
            result["exc"] = exc

    def main():
        server = SERVE[server_lib](handler, "127.0.0.1", 0)
        serving_thread = threading.Thread(target=server.serve_forever, daemon=True)
        serving_thread.start()
        port = server.socket.getsockname()[1]
        try:
            with CONNECT[client_lib](f"ws://127.0.0.1:{port}") as ws:
                assert connected.wait(WAIT)
                start = time.monotonic()
                shutdown = Background(server.shutdown, **kwargs)
                with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR) as excinfo:
                    ws.recv(timeout=WAIT)
                assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (code, reason)
                assert (ws.close_code, ws.close_reason) == (code, reason)
                shutdown.result(WAIT)
                assert time.monotonic() - start < 3
            serving_thread.join(WAIT)
            assert not serving_thread.is_alive()
            # The listening socket is closed: no new connection.
            with (
                pytest.raises(OSError),
                CONNECT[client_lib](f"ws://127.0.0.1:{port}", open_timeout=2),
            ):
                pass
        finally:
            Background(server.shutdown).result(WAIT)
        exc = result["exc"]
        assert isinstance(exc, CLOSED_OK if ok else CLOSED_ERROR)
        assert (exc.sent.code, exc.sent.reason) == (code, reason)

    run(main)


@SIDES
def test_max_size_exceeded_by_client(server_lib, client_lib):
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv(timeout=WAIT)
        except CLOSED as exc:
            result["exc"] = exc
        finally:
            done.set()

    def main():
        with (
            serving(server_lib, handler, max_size=1000) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            ws.send(b"x" * 1001)
            with pytest.raises(CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1009
            assert ws.close_code == 1009
            assert done.wait(WAIT)
        assert isinstance(result["exc"], CLOSED_ERROR)
        assert result["exc"].sent.code == 1009

    run(main)


@SIDES
def test_max_size_exceeded_by_server(server_lib, client_lib):
    result = {}
    done = threading.Event()

    def handler(ws):
        ws.send("x" * 1000)  # fits
        try:
            # Not right behind the first message: see test_sync_keepalive's
            # test_error_right_after_a_valid_message for why.
            assert ws.recv(timeout=WAIT) == "next"
            ws.send("x" * 1001)  # doesn't fit
            ws.recv(timeout=WAIT)
        except CLOSED as exc:
            result["exc"] = exc
        finally:
            done.set()

    def main():
        with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri, max_size=1000) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "x" * 1000
            ws.send("next")
            with pytest.raises(CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.sent.code == 1009
            assert done.wait(WAIT)
        assert isinstance(result["exc"], CLOSED_ERROR)
        assert result["exc"].rcvd.code == 1009

    run(main)


@SIDES
def test_max_size_none_and_fragmented_limit(server_lib, client_lib):
    """max_size=None lifts the limit; the limit applies to a whole fragmented message."""

    def main():
        with (
            serving(server_lib, echo, max_size=None) as (_, uri),
            CONNECT[client_lib](uri, max_size=None) as ws,
        ):
            payload = os.urandom(3 * 2**20)
            ws.send(payload)
            assert ws.recv(timeout=WAIT) == payload
        with (
            serving(server_lib, echo, max_size=1000) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            # Each frame fits, the message doesn't. The frames go out apart: see
            # test_sync_keepalive's test_error_right_after_a_valid_message for why.
            with contextlib.suppress(*CLOSED):
                # The server may fail the connection before the final empty frame.
                ws.send(slowly([b"x" * 600, b"x" * 600]))
            with pytest.raises(CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            # A fragment sent after the server's close frame can make the server's kernel
            # answer with a TCP reset, which discards that close frame unread on the
            # client's side: then the client only sees the connection drop (no frame).
            rcvd = excinfo.value.rcvd
            assert rcvd is None or rcvd.code == 1009, rcvd

    run(main, timeout=30)


@SIDES
def test_max_size_tuple_limits_messages_and_frames(server_lib, client_lib):
    """max_size=(max_message, max_fragment): each frame and the whole message are limited."""
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            while True:
                ws.send(ws.recv(timeout=WAIT))
        except CLOSED as exc:
            result["exc"] = exc
        finally:
            done.set()

    def main():
        with serving(server_lib, handler, max_size=(3000, 1000), compression=None) as (_, uri):
            with CONNECT[client_lib](uri, compression=None) as ws:
                ws.send([b"x" * 1000, b"y" * 1000, b"z" * 1000])  # 3 frames of 1000: fits
                assert ws.recv(timeout=WAIT) == b"x" * 1000 + b"y" * 1000 + b"z" * 1000
                ws.send(b"x" * 1001)  # one frame over the fragment limit
                with pytest.raises(CLOSED_ERROR) as excinfo:
                    ws.recv(timeout=WAIT)
                assert excinfo.value.rcvd.code == 1009
            assert done.wait(WAIT)
        assert result["exc"].sent.code == 1009

    run(main)


@SIDES
def test_concurrent_senders(server_lib, client_lib):
    """Threads sending on one connection at once: frames never interleave."""
    threads_count, per_thread = 4, 100

    def main():
        with (
            serving(server_lib, echo) as (_, uri),
            CONNECT[client_lib](uri, max_queue=None) as ws,
        ):

            def sender(thread_index):
                for index in range(per_thread):
                    size = (index * 997) % 70_000
                    if index % 3 == 0:
                        message = f"{thread_index}:{index}:" + "t" * size
                    elif index % 3 == 1:
                        message = f"{thread_index}:{index}:".encode() + b"b" * size
                    else:
                        message = [f"{thread_index}:{index}:", "f" * size]
                    # While another thread sends a fragmented message, send() raises
                    # ConcurrencyError (in both libraries): try again.
                    while True:
                        try:
                            ws.send(message)
                            break
                        except CONCURRENCY_ERROR:
                            time.sleep(0.001)

            senders = [Background(sender, n) for n in range(threads_count)]
            received = [ws.recv(timeout=WAIT) for _ in range(threads_count * per_thread)]
            for background in senders:
                background.result(WAIT)
        last = {}
        for message in received:
            head = message[:20] if isinstance(message, str) else message[:20].decode()
            thread_index, index, _ = head.split(":", 2)
            size = (int(index) * 997) % 70_000
            assert len(message) == len(f"{thread_index}:{index}:") + size
            # Each thread's messages arrive in the order it sent them.
            assert int(index) > last.get(thread_index, -1)
            last[thread_index] = int(index)
        assert len(last) == threads_count

    run(main, timeout=30)


@SIDES
def test_subprotocols(server_lib, client_lib):
    def handler(ws):
        ws.send(repr(ws.subprotocol))
        wait_closed(ws)

    def main():
        with serving(server_lib, handler, subprotocols=["chat", "superchat"]) as (_, uri):
            with CONNECT[client_lib](uri, subprotocols=["superchat", "chat"]) as ws:
                # The server picks its favourite among those the client offers.
                assert ws.subprotocol == "chat"
                assert ws.response.headers["Sec-WebSocket-Protocol"] == "chat"
                assert ws.recv(timeout=WAIT) == "'chat'"
            with CONNECT[client_lib](uri, subprotocols=["superchat"]) as ws:
                assert ws.subprotocol == "superchat"
                assert ws.recv(timeout=WAIT) == "'superchat'"
            with (
                pytest.raises(INVALID_STATUS) as excinfo,
                CONNECT[client_lib](uri, subprotocols=["unknown"]),
            ):
                pass
            assert excinfo.value.response.status_code == 400
            # A server that requires a subprotocol rejects a client that offers none.
            with (
                pytest.raises(INVALID_STATUS) as excinfo,
                CONNECT[client_lib](uri),
            ):
                pass
            assert excinfo.value.response.status_code == 400

    run(main)


@SIDES
def test_select_subprotocol(server_lib, client_lib):
    def select_subprotocol(connection, subprotocols):
        assert connection.request.path == "/"
        return subprotocols[-1] if subprotocols else None

    def main():
        with (
            serving(
                server_lib,
                wait_closed,
                subprotocols=["a", "b"],
                select_subprotocol=select_subprotocol,
            ) as (_, uri),
            CONNECT[client_lib](uri, subprotocols=["a", "b"]) as ws,
        ):
            assert ws.subprotocol == "b"

    run(main)


@SIDES
def test_process_request_and_basic_auth(server_lib, client_lib):
    def forbid(connection, request):
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Forbidden\n")
        return None

    def handler(ws):
        ws.send(getattr(ws, "username", "anonymous"))
        wait_closed(ws)

    def main():
        with serving(server_lib, handler, process_request=forbid) as (_, uri):
            with (
                pytest.raises(INVALID_STATUS) as excinfo,
                CONNECT[client_lib](f"{uri}/forbidden"),
            ):
                pass
            assert excinfo.value.response.status_code == 403
            assert excinfo.value.response.body == b"Forbidden\n"
            with CONNECT[client_lib](f"{uri}/allowed") as ws:
                assert ws.recv(timeout=WAIT) == "anonymous"

        auth = BASIC_AUTH[server_lib](realm="interop", credentials=[("user", "pass")])
        with serving(server_lib, handler, process_request=auth) as (_, uri):
            authenticated = uri.replace("ws://", "ws://user:pass@")
            with CONNECT[client_lib](authenticated) as ws:
                assert ws.request.headers["Authorization"] == "Basic " + (
                    base64.b64encode(b"user:pass").decode()
                )
                assert ws.recv(timeout=WAIT) == "user"
            # The same credentials given as a header.
            header = {"Authorization": "Basic " + base64.b64encode(b"user:pass").decode()}
            with CONNECT[client_lib](uri, additional_headers=header) as ws:
                assert ws.recv(timeout=WAIT) == "user"
            for bad_uri in (uri, uri.replace("ws://", "ws://user:wrong@")):
                with (
                    pytest.raises(INVALID_STATUS) as excinfo,
                    CONNECT[client_lib](bad_uri),
                ):
                    pass
                response = excinfo.value.response
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"] == (
                    'Basic realm="interop", charset="UTF-8"'
                )

    run(main)


@SIDES
def test_process_response_adds_a_header(server_lib, client_lib):
    def process_response(connection, request, response):
        response.headers["X-Request-Path"] = request.path

    def main():
        with (
            serving(server_lib, wait_closed, process_response=process_response) as (_, uri),
            CONNECT[client_lib](f"{uri}/some/path?q=1") as ws,
        ):
            assert ws.response.headers["X-Request-Path"] == "/some/path?q=1"

    run(main)


@SIDES
def test_handler_exception_closes_with_1011(server_lib, client_lib, caplog):
    def handler(ws):
        raise RuntimeError("handler bug")

    def main():
        with (
            serving(server_lib, handler) as (_, uri),
            CONNECT[client_lib](uri) as ws,
        ):
            with pytest.raises(CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1011

    run(main)
    # Both libraries log the handler's failure; it is expected here.
    messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert messages == ["connection handler failed"]
    caplog.clear()


# wsfast.sync client <-> asyncio servers ----------------------------------------------------




async def async_handler(ws):
    """Echo; "close" closes with 4000, "fragments" sends a fragmented message."""
    with contextlib.suppress(*CLOSED):
        await async_commands(ws)


async def async_commands(ws):
    async for message in ws:
        if message == "close":
            await ws.close(4000, "asyncio bye")
        elif message == "fragments":
            await ws.send(["frag", "ments ", "☃"])
        elif message == "ping":
            await (await ws.ping(b"asyncio ping"))
            await ws.send("pong received")
        else:
            await ws.send(message)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
@pytest.mark.parametrize("compression", ["deflate", None])
def test_sync_client_asyncio_server(server_lib, compression):
    def main():
        with serving_asyncio(
            ASYNCIO_SERVE[server_lib], async_handler, compression=compression, max_size=2**22
        ) as uri:
            with wsfast_client.connect(uri, compression=compression, max_size=2**22) as ws:
                extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
                assert (extensions is not None) is (compression is not None)
                for message in [*MESSAGES, os.urandom(2**20 + 1)]:
                    ws.send(message)
                    assert ws.recv(timeout=WAIT) == message
                ws.send([b"frag", b"ments"])
                assert ws.recv(timeout=WAIT) == b"fragments"
                ws.send("fragments")
                assert list(ws.recv_streaming()) == ["frag", "ments ", "☃", ""]
                ws.send("ping")
                assert ws.recv(timeout=WAIT) == "pong received"
                assert ws.ping(b"sync ping").wait(WAIT)
                ws.send("close")
                with pytest.raises(ConnectionClosedError) as excinfo:
                    ws.recv(timeout=WAIT)
                assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (
                    4000,
                    "asyncio bye",
                )
            # Closing from the sync client.
            with wsfast_client.connect(uri) as ws:
                ws.send("hello")
                assert ws.recv(timeout=WAIT) == "hello"
                ws.close(1000, "sync bye")
                assert (ws.close_code, ws.close_reason) == (1000, "sync bye")

    run(main, timeout=30)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
def test_sync_client_asyncio_server_closes_on_shutdown(server_lib):
    async def handler(ws):
        await ws.wait_closed()

    def main():
        with serving_asyncio(ASYNCIO_SERVE[server_lib], handler) as uri:
            ws = wsfast_client.connect(uri, legacy=True)
        # serving_asyncio closed the server, which closes connections with 1001.
        with pytest.raises(ConnectionClosedOK) as excinfo:
            ws.recv(timeout=WAIT)
        assert excinfo.value.rcvd.code == 1001
        assert ws.close_code == 1001

    run(main)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
def test_sync_client_asyncio_server_max_size(server_lib):
    def main():
        with (
            serving_asyncio(ASYNCIO_SERVE[server_lib], async_handler, max_size=1000) as uri,
            wsfast_client.connect(uri) as ws,
        ):
            ws.send("x" * 1001)
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1009

    run(main)


# websocket-client -> wsfast.sync server ----------------------------------------------------


try:
    import websocket
except ImportError:  # pragma: no cover - depends on the environment
    websocket = None

needs_websocket_client = pytest.mark.skipif(
    websocket is None, reason="websocket-client isn't installed (pip install websocket-client)"
)


@contextlib.contextmanager
def wsclient(uri, **kwargs):
    ws = websocket.create_connection(uri, timeout=WAIT, **kwargs)
    try:
        yield ws
    finally:
        ws.close(timeout=2)
        # After answering a close frame, websocket-client leaves the TCP connection open:
        # the server would wait close_timeout for it.
        ws.shutdown()


@needs_websocket_client
def test_websocket_client_echo():
    def main():
        with (
            serving("wsfast", echo, max_size=2**22) as (_, uri),
            wsclient(uri) as ws,
        ):
            # websocket-client doesn't offer permessage-deflate.
            assert "sec-websocket-extensions" not in ws.getheaders()
            for message in [*MESSAGES, os.urandom(2**20 + 1)]:
                if isinstance(message, str):
                    ws.send(message)
                else:
                    ws.send_binary(message)
                opcode, data = ws.recv_data()
                if isinstance(message, str):
                    assert opcode == websocket.ABNF.OPCODE_TEXT
                    assert data.decode() == message
                else:
                    assert opcode == websocket.ABNF.OPCODE_BINARY
                    assert data == message

    run(main, timeout=30)


@needs_websocket_client
def test_websocket_client_fragments():
    ABNF = websocket.ABNF

    def main():
        with (
            serving("wsfast", streaming_echo) as (_, uri),
            wsclient(uri) as ws,
        ):
            ws.send_frame(ABNF.create_frame("frag", ABNF.OPCODE_TEXT, fin=0))
            ws.ping(b"between fragments")  # control frames may be interleaved
            ws.send_frame(ABNF.create_frame("ments", ABNF.OPCODE_CONT, fin=0))
            ws.send_frame(ABNF.create_frame("!", ABNF.OPCODE_CONT, fin=1))
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert (opcode, frame.data) == (ABNF.OPCODE_PONG, b"between fragments")
            assert ast.literal_eval(ws.recv()) == ["frag", "ments", "!"]

        def handler(ws):
            ws.send(["frag", "ments ", "☃"])
            ws.send([b"\x00" * 30000, b"\x01" * 30000])
            wait_closed(ws)

        with serving("wsfast", handler) as (_, uri), wsclient(uri) as ws:
            # websocket-client reassembles fragmented messages.
            assert ws.recv() == "fragments ☃"
            assert ws.recv() == b"\x00" * 30000 + b"\x01" * 30000

    run(main)


@needs_websocket_client
def test_websocket_client_ping_pong():
    ABNF = websocket.ABNF
    result = {}

    def handler(ws):
        ws.pong(b"unsolicited")
        result["pong received"] = ws.ping(b"wsfast ping").wait(WAIT)
        result["latency"] = ws.latency
        ws.send("latency measured")
        echo(ws)

    def main():
        with serving("wsfast", handler) as (_, uri), wsclient(uri) as ws:
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert (opcode, frame.data) == (ABNF.OPCODE_PONG, b"unsolicited")
            # websocket-client answers the ping as it reads it.
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert (opcode, frame.data) == (ABNF.OPCODE_PING, b"wsfast ping")
            assert ws.recv() == "latency measured"
            ws.ping(b"client ping")
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert (opcode, frame.data) == (ABNF.OPCODE_PONG, b"client ping")
        assert result["pong received"] is True
        assert result["latency"] > 0

    run(main)


@needs_websocket_client
@pytest.mark.parametrize(("code", "ok"), [(1000, True), (4001, False)])
def test_websocket_client_closes(code, ok):
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv(timeout=WAIT)
        except ConnectionClosed as exc:
            result["exc"] = exc
            result["close"] = (ws.close_code, ws.close_reason)
        finally:
            done.set()

    def main():
        with serving("wsfast", handler) as (_, uri):
            ws = websocket.create_connection(uri, timeout=WAIT)
            ws.close(status=code, reason=b"client bye", timeout=WAIT)
            assert ws.close_frame is not None  # the server answered
            assert struct.unpack("!H", ws.close_frame.data[:2])[0] == code
            assert done.wait(WAIT)
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedOK if ok else ConnectionClosedError)
        assert (exc.rcvd.code, exc.rcvd.reason) == (code, "client bye")
        assert result["close"] == (code, "client bye")

    run(main)


@needs_websocket_client
def test_wsfast_server_closes_websocket_client():
    ABNF = websocket.ABNF
    result = {}

    def handler(ws):
        ws.send("hello")
        ws.close(4004, "wsfast bye")
        result["close"] = (ws.close_code, ws.close_reason, ws.state.name)

    def main():
        with serving("wsfast", handler) as (_, uri), wsclient(uri) as ws:
            assert ws.recv() == "hello"
            # websocket-client answers the close frame as it reads it.
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert opcode == ABNF.OPCODE_CLOSE
            assert frame.data == struct.pack("!H", 4004) + b"wsfast bye"
            ws.shutdown()
            deadline = time.monotonic() + WAIT
            while "close" not in result and time.monotonic() < deadline:
                time.sleep(0.01)
        # websocket-client answers with 1000 rather than echoing the code.
        assert result["close"] == (1000, "", "CLOSED")

    run(main)


@needs_websocket_client
def test_wsfast_server_shutdown_websocket_client():
    ABNF = websocket.ABNF

    def main():
        with serving("wsfast", wait_closed) as (server, uri):
            ws = websocket.create_connection(uri, timeout=WAIT)
            shutdown = Background(server.shutdown)
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert opcode == ABNF.OPCODE_CLOSE
            assert struct.unpack("!H", frame.data[:2])[0] == 1001
            ws.shutdown()
            shutdown.result(WAIT)

    run(main)


@needs_websocket_client
def test_websocket_client_exceeds_max_size():
    ABNF = websocket.ABNF
    result = {}

    def handler(ws):
        try:
            ws.recv(timeout=WAIT)
        except ConnectionClosed as exc:
            result["exc"] = exc

    def main():
        with serving("wsfast", handler, max_size=1000) as (_, uri), wsclient(uri) as ws:
            ws.send_binary(b"x" * 1001)
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert opcode == ABNF.OPCODE_CLOSE
            assert struct.unpack("!H", frame.data[:2])[0] == 1009
        assert result["exc"].sent.code == 1009

    run(main)


@needs_websocket_client
def test_websocket_client_subprotocol_and_auth():
    def handler(ws):
        ws.send(f"{ws.subprotocol} {ws.username}")
        wait_closed(ws)

    auth = wsfast_server.basic_auth(realm="wc", credentials=("user", "pass"))

    def main():
        with serving(
            "wsfast", handler, subprotocols=["chat", "superchat"], process_request=auth
        ) as (_, uri):
            header = ["Authorization: Basic " + base64.b64encode(b"user:pass").decode()]
            with wsclient(uri, subprotocols=["superchat"], header=header) as ws:
                assert ws.getsubprotocol() == "superchat"
                assert ws.recv() == "superchat user"
            with pytest.raises(websocket.WebSocketBadStatusException) as excinfo:
                websocket.create_connection(uri, timeout=WAIT)
            assert excinfo.value.status_code == 401
            assert excinfo.value.resp_headers["www-authenticate"] == (
                'Basic realm="wc", charset="UTF-8"'
            )

    run(main)
