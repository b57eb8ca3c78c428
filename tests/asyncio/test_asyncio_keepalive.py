"""wsfast.asyncio against hand-driven peers: keepalive, timeouts, and the closing handshake.

The peer is a raw asyncio TCP server or client that performs the opening handshake by hand
(no extension, no subprotocol), then does exactly what the test says: stays silent, answers
one ping, sends a close frame, breaks a protocol rule... Frames are built and parsed here
without wsfast. The expected behaviour is websockets 17.x's. Every test runs on both codecs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import struct
import time

import pytest
from asyncio_support import run
from wire import raw_frame

from wsfast.asyncio.client import connect
from wsfast.asyncio.server import serve
from wsfast.exceptions import ConnectionClosed, ConnectionClosedError
from wsfast.protocol import State

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

PING, PONG, CLOSE, TEXT, BINARY = 0x9, 0xA, 0x8, 0x1, 0x2



# Frames by hand ---------------------------------------------------------------------------


def build_frame(opcode, payload=b"", *, fin=True, mask=False):
    """A frame built by hand (tests/wire.py); ``mask``: with a random key, as clients send."""
    return raw_frame(opcode, payload, fin=fin, mask=os.urandom(4) if mask else None)


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode()


def parse_frames(data):
    """[(opcode, payload, masked)] for the complete frames in ``data``."""
    frames = []
    i = 0
    while i + 2 <= len(data):
        opcode = data[i] & 0x0F
        masked = bool(data[i + 1] & 0x80)
        length = data[i + 1] & 0x7F
        j = i + 2
        if length == 126:
            length = struct.unpack("!H", data[j : j + 2])[0]
            j += 2
        elif length == 127:
            length = struct.unpack("!Q", data[j : j + 8])[0]
            j += 8
        key = b""
        if masked:
            key = data[j : j + 4]
            j += 4
        payload = data[j : j + length]
        if len(payload) < length:
            break
        if masked:
            payload = bytes(b ^ key[k % 4] for k, b in enumerate(payload))
        frames.append((opcode, payload, masked))
        i = j + length
    return frames


def close_code_of(payload):
    return struct.unpack("!H", payload[:2])[0]


class Peer:
    """What a raw peer received, and its end of the TCP connection."""

    def __init__(self):
        self.received = b""
        self.reader = None
        self.writer = None
        self.handshake_done = asyncio.Event()
        self.eof = asyncio.Event()
        self.changed = asyncio.Event()

    def frames(self):
        return parse_frames(self.received)

    async def wait_for(self, predicate, timeout=5):
        async def until():
            while not predicate(self.frames()):
                self.changed.clear()
                await self.changed.wait()

        # asyncio.wait_for, as asyncio.timeout() is Python 3.11+.
        await asyncio.wait_for(until(), timeout)

    async def read_until_eof(self):
        try:
            while chunk := await self.reader.read(65536):
                self.received += chunk
                self.changed.set()
        except ConnectionError:
            pass
        self.eof.set()
        self.changed.set()

    def send(self, opcode, payload=b"", **kwargs):
        self.writer.write(build_frame(opcode, payload, **kwargs))


@contextlib.asynccontextmanager
async def raw_server(*, respond=True):
    """A TCP server that answers the opening handshake by hand then only records data."""
    peer = Peer()
    tasks = []

    async def on_connect(reader, writer):
        tasks.append(asyncio.current_task())
        peer.reader, peer.writer = reader, writer
        try:
            try:
                request = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if respond:
                key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", request).group(1)
                accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\n"
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
            peer.handshake_done.set()
            await peer.read_until_eof()
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield peer, f"ws://127.0.0.1:{port}/"
    finally:
        if peer.writer is not None:
            peer.writer.close()
        server.close()
        await asyncio.gather(*tasks)


async def raw_client(port, *, handshake=True):
    """A TCP client that sends the opening handshake by hand; returns its Peer."""
    peer = Peer()
    peer.reader, peer.writer = await asyncio.open_connection("127.0.0.1", port)
    if handshake:
        key = base64.b64encode(os.urandom(16))
        peer.writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, key)
        )
        response = await peer.reader.readuntil(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101 ")
        peer.handshake_done.set()
    return peer


@contextlib.asynccontextmanager
async def running(handler, **kwargs):
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, server.sockets[0].getsockname()[1]


def opcodes(frames):
    return [opcode for opcode, _, _ in frames]


# Keepalive -------------------------------------------------------------------------------


def test_keepalive_timeout_client_side():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.3)
            start = time.monotonic()
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            elapsed = time.monotonic() - start
            assert 0.5 <= elapsed < 5
            exc = excinfo.value
            assert exc.rcvd is None
            assert (exc.sent.code, exc.sent.reason) == (1011, "keepalive ping timeout")
            assert ws.close_code == 1006
            assert ws.state is State.CLOSED
            await asyncio.wait_for(peer.eof.wait(), 5)
            frames = peer.frames()
            assert frames[0][0] == PING
            assert all(masked for _, _, masked in frames)
            assert frames[-1][0] == CLOSE
            assert close_code_of(frames[-1][1]) == 1011
            assert set(opcodes(frames[:-1])) == {PING}

    run(main(), timeout=2.5)  # expected to take < 1 s


def test_keepalive_timeout_server_side():
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc
            result["close_code"] = ws.close_code

    async def main():
        async with running(
            handler, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.3
        ) as (server, port):
            peer = await raw_client(port)
            await asyncio.wait_for(peer.read_until_eof(), 5)
            frames = peer.frames()
            assert frames[0][0] == PING
            assert not any(masked for _, _, masked in frames)
            assert frames[-1][0] == CLOSE
            assert close_code_of(frames[-1][1]) == 1011
            peer.writer.close()
            server.close()
            await server.wait_closed()
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert exc.sent.code == 1011
        assert exc.rcvd is None
        assert result["close_code"] == 1006

    run(main(), timeout=2.5)  # expected to take < 1 s


def test_keepalive_pings_answered_keep_the_connection_open():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=0.05, ping_timeout=0.2)
            answered = 0
            deadline = time.monotonic() + 0.6
            while time.monotonic() < deadline:
                pings = [p for op, p, _ in peer.frames() if op == PING]
                for payload in pings[answered:]:
                    peer.send(PONG, payload)
                answered = len(pings)
                await asyncio.sleep(0.02)
            assert answered >= 3
            assert ws.state is State.OPEN
            assert ws.latency > 0
            peer.send(TEXT, b"still here")
            assert await ws.recv() == "still here"

    run(main())


def test_ping_timeout_none_never_closes():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=0.05, ping_timeout=None, close_timeout=0.1)
            await asyncio.sleep(0.4)
            assert ws.state is State.OPEN
            assert opcodes(peer.frames()).count(PING) >= 3
            peer.send(TEXT, b"alive")
            assert await ws.recv() == "alive"

    run(main())


def test_ping_interval_none_sends_no_pings():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None)
            await asyncio.sleep(0.3)
            assert peer.frames() == []
            assert ws.state is State.OPEN

    run(main())


# Pings and pongs on the wire -------------------------------------------------------------


def test_pong_acknowledges_earlier_pings():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None)
            p1 = await ws.ping(b"p1")
            p2 = await ws.ping(b"p2")
            p3 = await ws.ping(b"p3")
            await peer.wait_for(lambda frames: len(frames) == 3)
            assert [(op, p) for op, p, _ in peer.frames()] == [
                (PING, b"p1"),
                (PING, b"p2"),
                (PING, b"p3"),
            ]
            peer.send(PONG, b"unsolicited")
            peer.send(PONG, b"p2")  # acknowledges p1 too
            await asyncio.wait_for(asyncio.gather(p1, p2), 5)
            assert p1.result() >= 0
            assert p2.result() >= 0
            assert not p3.done()
            assert ws.latency == p2.result()
            peer.send(PONG, b"p3")
            await asyncio.wait_for(p3, 5)
            # After acknowledgement, the same payload can be used again.
            p1_again = await ws.ping(b"p1")
            peer.send(PONG, b"p1")
            await asyncio.wait_for(p1_again, 5)

    run(main())


def test_client_answers_pings():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None)
            peer.send(PING, b"hello")
            peer.send(PING, b"")
            peer.send(TEXT, b"after pings")
            assert await ws.recv() == "after pings"
            await peer.wait_for(lambda frames: len(frames) == 2)
            assert peer.frames() == [(PONG, b"hello", True), (PONG, b"", True)]
            await ws.pong(b"manual")
            await peer.wait_for(lambda frames: len(frames) == 3)
            assert peer.frames()[2] == (PONG, b"manual", True)

    run(main())


def test_server_answers_pings_between_fragments():
    async def handler(ws):
        await ws.send(await ws.recv())

    async def main():
        async with running(handler) as (server, port):
            peer = await raw_client(port)
            reading = asyncio.create_task(peer.read_until_eof())
            peer.send(TEXT, b"frag", fin=False, mask=True)
            peer.send(PING, b"in between", mask=True)
            peer.send(0x0, b"mented", mask=True)
            await peer.wait_for(lambda frames: len(frames) >= 2)
            assert peer.frames()[:2] == [
                (PONG, b"in between", False),
                (TEXT, b"fragmented", False),
            ]
            peer.send(CLOSE, close_payload(1000), mask=True)
            await asyncio.wait_for(reading, 5)
            assert peer.frames()[2] == (CLOSE, close_payload(1000), False)
            peer.writer.close()
            server.close()
            await server.wait_closed()

    run(main())


def test_pending_pings_fail_when_the_connection_closes():
    async def main():
        async with raw_server() as (_, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=0.2)
            pong_received = await ws.ping()
            await ws.close()
            with pytest.raises(ConnectionClosedError):
                await pong_received

    run(main())


def test_cancelled_pong_waiter_does_not_break_closing():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=0.2)
            pong_received = await ws.ping()
            # asyncio.TimeoutError: the built-in TimeoutError from Python 3.11 on, not on 3.10.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pong_received, 0.05)  # cancels the future
            assert pong_received.cancelled()
            await ws.close()  # the peer never answers: close_timeout applies
            assert ws.state is State.CLOSED
            await asyncio.wait_for(ws.wait_closed(), 1)
            await asyncio.wait_for(peer.eof.wait(), 5)

    run(main(), timeout=2.5)  # expected to take < 1 s


# Closing handshake and timeouts ----------------------------------------------------------


def test_close_timeout_client_side():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=0.3)
            start = time.monotonic()
            await ws.close()  # the peer never answers the close frame
            elapsed = time.monotonic() - start
            assert 0.25 <= elapsed < 3
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.sent.code == 1000
            assert excinfo.value.rcvd is None
            await asyncio.wait_for(peer.eof.wait(), 5)
            assert peer.frames() == [(CLOSE, close_payload(1000), True)]

    run(main())


def test_close_timeout_server_side():
    result = {}

    async def handler(ws):
        start = time.monotonic()
        await ws.close(4001, "server closes")
        result["elapsed"] = time.monotonic() - start
        result["close_code"] = ws.close_code

    async def main():
        async with running(handler, close_timeout=0.3) as (server, port):
            peer = await raw_client(port)
            await asyncio.wait_for(peer.read_until_eof(), 5)  # never answers
            assert peer.frames() == [(CLOSE, close_payload(4001, "server closes"), False)]
            peer.writer.close()
            server.close()
            await server.wait_closed()
        assert 0.25 <= result["elapsed"] < 3
        assert result["close_code"] == 1006

    run(main())


def test_client_waits_for_the_server_to_close_tcp():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=0.3)
            closing = asyncio.create_task(ws.close(1000, "bye"))
            await peer.wait_for(lambda frames: len(frames) == 1)
            start = time.monotonic()
            peer.send(CLOSE, close_payload(1000, "bye"))  # answer, keep TCP open
            await closing
            elapsed = time.monotonic() - start
            assert elapsed < 3
            assert (ws.close_code, ws.close_reason) == (1000, "bye")
            assert ws.state is State.CLOSED

    run(main())


def test_server_closes_tcp_after_the_closing_handshake():
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with running(handler, close_timeout=5) as (server, port):
            peer = await raw_client(port)
            reading = asyncio.create_task(peer.read_until_eof())
            start = time.monotonic()
            peer.send(CLOSE, close_payload(1000, "client"), mask=True)
            await asyncio.wait_for(reading, 5)
            assert time.monotonic() - start < 2  # not close_timeout
            assert peer.frames() == [(CLOSE, close_payload(1000, "client"), False)]
            peer.writer.close()
            server.close()
            await server.wait_closed()

    run(main())


def test_peer_sends_close_frame():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=1)
            peer.send(TEXT, b"last words")
            peer.send(CLOSE, close_payload(4005, "raw peer"))
            assert await ws.recv() == "last words"
            await peer.wait_for(lambda frames: len(frames) == 1)
            assert peer.frames() == [(CLOSE, close_payload(4005, "raw peer"), True)]
            peer.writer.close()  # the server closes TCP after the handshake
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            exc = excinfo.value
            assert (exc.rcvd.code, exc.rcvd.reason) == (4005, "raw peer")
            assert exc.rcvd_then_sent is True
            assert (ws.close_code, ws.close_reason) == (4005, "raw peer")

    run(main())


def test_close_frame_without_code():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=1)
            peer.send(CLOSE, b"")
            await peer.wait_for(lambda frames: len(frames) == 1)
            assert peer.frames() == [(CLOSE, b"", True)]
            peer.writer.close()
            await ws.wait_closed()
            assert ws.close_code == 1005
            assert ws.close_reason == ""

    run(main())


def test_abrupt_disconnect_by_server():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None)
            peer.send(TEXT, b"bye")
            peer.writer.close()
            assert await ws.recv() == "bye"
            with pytest.raises(ConnectionClosedError) as excinfo:
                await ws.recv()
            assert excinfo.value.rcvd is None
            assert excinfo.value.sent is None
            assert ws.close_code == 1006
            assert ws.close_reason == ""

    run(main())


def test_abrupt_disconnect_by_client():
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
        async with running(handler) as (server, port):
            peer = await raw_client(port)
            peer.writer.close()
            await asyncio.wait_for(result["done"].wait(), 5)
            server.close()
            await server.wait_closed()
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is None
        assert exc.sent is None
        assert result["close"] == (1006, "")

    run(main())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (build_frame(TEXT, b"not masked"), 1002),
        (build_frame(TEXT, b"\xff\xfe", mask=True), 1007),
        (build_frame(0x3, b"reserved opcode", mask=True), 1002),
        (build_frame(0x0, b"continuation first", mask=True), 1002),
        (build_frame(PING, b"fragmented ping", fin=False, mask=True), 1002),
        (build_frame(PING, b"x" * 126, mask=True), 1002),
        (build_frame(CLOSE, close_payload(999), mask=True), 1002),
        (build_frame(CLOSE, b"\x03\xe8\xff", mask=True), 1007),
        (bytes([0xC1, 0x80]) + os.urandom(4), 1002),  # RSV1 without an extension
    ],
    ids=[
        "unmasked",
        "invalid-utf8",
        "reserved-opcode",
        "orphan-continuation",
        "fragmented-control",
        "long-control",
        "bad-close-code",
        "bad-close-reason",
        "rsv1",
    ],
)
def test_protocol_errors_from_client(frame, code):
    result = {}

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result["exc"] = exc

    async def main():
        async with running(handler, close_timeout=0.5) as (server, port):
            peer = await raw_client(port)
            reading = asyncio.create_task(peer.read_until_eof())
            peer.writer.write(frame)
            await asyncio.wait_for(reading, 5)
            frames = peer.frames()
            assert frames[-1][0] == CLOSE
            assert close_code_of(frames[-1][1]) == code
            peer.writer.close()
            server.close()
            await server.wait_closed()
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert exc.sent.code == code

    run(main())


def test_protocol_error_from_server():
    async def main():
        async with raw_server() as (peer, uri):
            ws = await connect(uri, ping_interval=None, close_timeout=0.3)
            receiving = asyncio.create_task(ws.recv())
            peer.writer.write(build_frame(TEXT, b"masked by a server", mask=True))
            await peer.wait_for(lambda frames: len(frames) == 1)
            opcode, payload, _ = peer.frames()[0]
            assert opcode == CLOSE
            assert close_code_of(payload) == 1002
            peer.writer.close()  # as a server does after a close frame
            with pytest.raises(ConnectionClosedError) as excinfo:
                await receiving
            assert excinfo.value.sent.code == 1002
            assert ws.close_code == 1006

    run(main())


# Opening handshake timeouts --------------------------------------------------------------


def test_open_timeout_client_side():
    async def main():
        async with raw_server(respond=False) as (_, uri):
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                await connect(uri, open_timeout=0.3)
            assert 0.25 <= time.monotonic() - start < 3

    run(main())


def test_open_timeout_server_side():
    async def handler(ws):  # pragma: no cover - never reached
        await ws.wait_closed()

    async def main():
        async with running(handler, open_timeout=0.3) as (server, port):
            peer = await raw_client(port, handshake=False)
            start = time.monotonic()
            await asyncio.wait_for(peer.read_until_eof(), 5)
            assert 0.25 <= time.monotonic() - start < 3
            assert peer.received == b""
            peer.writer.close()
            server.close()
            await server.wait_closed()

    run(main())
