"""Fast reproductions of Autobahn cases, without wstest.

Each test plays wstest's part over a raw socket on 127.0.0.1 against wsfast's echo server
(asyncio, and wsfast.sync when importable) or asyncio client, on both implementations
(conftest.active_codec). What the testsuite grades OK / OK: the echo of every message that came
before a protocol error, then the close frame with the right code within 1 second (the suite
waits that long, then closes itself and grades the close FAILED, "the connection was failed by
the wrong endpoint").

The ``fails_promptly`` tests guard the fix of f11e23c (an error read together with a message
used to wait for the next bytes: Autobahn OK / FAILED). The ``echoes_before_failing`` tests
guard the cases the suite graded NON-STRICT (3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.5, 5.15: the
connection failed before the application echoed the message that preceded the error), and
``close_between_fragments`` case 7.1.5 (graded FAILED when a close between fragments was
answered with 1002). Unlike test_autobahn.py, these always run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
import threading
import time

import pytest
from wire import client_frame, raw_frame

from wsfast.asyncio.client import connect
from wsfast.asyncio.server import serve
from wsfast.exceptions import ConnectionClosed, WebSocketException

pytestmark = pytest.mark.usefixtures("active_codec")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE_WITHIN = 1.0  # seconds: wstest's "kill after" for these cases
HELLO = b"Hello, world!"
APIS = ["asyncio", "sync"]


def run(coro, timeout=15):
    """Run coro in a fresh event loop, bounded in time."""

    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def parse_frames(data):
    """(opcode, payload) of each complete frame in data; payloads < 126 bytes."""
    frames = []
    while len(data) >= 2:
        masked, length = data[1] & 0x80, data[1] & 0x7F
        assert length < 126
        start = 6 if masked else 2
        if len(data) < start + length:
            break
        payload = data[start : start + length]
        if masked:
            payload = bytes(b ^ data[2 + i % 4] for i, b in enumerate(payload))
        frames.append((data[0] & 0x0F, payload))
        data = data[start + length :]
    return frames


async def read_until_close(reader, timeout):
    """What the peer sent until its close frame (included) or the timeout; the time taken."""
    data = b""
    start = time.monotonic()
    while not any(op == 8 for op, _ in parse_frames(data)):
        remaining = timeout - (time.monotonic() - start)
        if remaining <= 0:
            break
        try:
            chunk = await asyncio.wait_for(reader.read(4096), remaining)
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return parse_frames(data), time.monotonic() - start


async def echo(websocket):
    try:
        async for message in websocket:
            await websocket.send(message)
    except ConnectionClosed:
        pass


def sync_echo(websocket):
    try:
        for message in websocket:
            websocket.send(message)
    except ConnectionClosed:
        pass


@contextlib.asynccontextmanager
async def echo_server(api):
    """A wsfast echo server on 127.0.0.1 with the asyncio or the sync API; yields its port."""
    if api == "asyncio":
        async with serve(echo, "127.0.0.1", 0) as server:
            yield server.sockets[0].getsockname()[1]
        return
    try:
        from wsfast.sync.server import serve as sync_serve
    except ImportError as exc:
        pytest.skip(f"wsfast.sync is not importable: {exc}")
    server = sync_serve(sync_echo, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        await asyncio.to_thread(server.shutdown)
        await asyncio.to_thread(thread.join, 10)


async def raw_client(port):
    """Open a WebSocket connection by hand; return (reader, writer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101"), response
    return reader, writer


async def exchange(api, data):
    """Send data in one write to an echo server; return what came back until its close."""
    async with echo_server(api) as port:
        reader, writer = await raw_client(port)
        writer.write(data)  # one write, as wstest's "sent in one chop"
        received, _ = await read_until_close(reader, CLOSE_WITHIN)
        writer.close()
        return received


def close_code(received):
    closes = [payload for op, payload in received if op == 8]
    assert closes, f"no close frame within {CLOSE_WITHIN} s; received {received}"
    return struct.unpack("!H", closes[0][:2])[0]


SERVER_CASES = {
    # 3.2: a text message, the same with RSV = 2, a ping: echo, then 1002.
    "3.2-rsv-after-message": (
        client_frame(1, HELLO) + client_frame(1, HELLO, rsv2=True) + client_frame(9),
        [(1, HELLO)],
        1002,
    ),
    # 4.1.3: a text message, a frame with the reserved opcode 5, a ping: echo, then 1002.
    "4.1.3-opcode-after-message": (
        client_frame(1, HELLO) + client_frame(5) + client_frame(9),
        [(1, HELLO)],
        1002,
    ),
    # 5.18: two fragments of a text message, both with the text opcode: 1002.
    "5.18-text-after-fragment": (
        client_frame(1, b"fragment1", fin=False) + client_frame(1, b"fragment2"),
        [],
        1002,
    ),
    # 6.3.2 (in two frames): invalid UTF-8 in the second fragment: 1007.
    "6.3.2-invalid-utf8-in-fragment": (
        client_frame(1, b"\xce\xba\xe1\xbd\xb9", fin=False) + client_frame(0, b"\xed\xa0\x80"),
        [],
        1007,
    ),
}
ECHO_CASES = [case for case, (_, echoes, _) in SERVER_CASES.items() if echoes]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", list(SERVER_CASES))
def test_server_fails_promptly_after_an_error_read_with_a_message(api, case):
    data, _, code = SERVER_CASES[case]
    received = run(exchange(api, data))
    assert close_code(received) == code, received


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ECHO_CASES)
def test_server_echoes_before_failing(api, case):
    data, echoes, code = SERVER_CASES[case]
    received = run(exchange(api, data))
    assert received[: len(echoes)] == echoes, f"no echo before {received}"
    assert close_code(received) == code, received


async def fake_server(frames, *, with_handshake):
    """A server answering the handshake, then sending frames, either in the same write as
    the 101 response or in a later one. Returns (server, port, future of what came back)."""
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    async def handle(reader, writer):
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        response = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        if with_handshake:
            writer.write(response + frames)
        else:
            writer.write(response)
            await writer.drain()
            await asyncio.sleep(0.2)  # the client is reading directly by now
            writer.write(frames)
        received, _ = await read_until_close(reader, CLOSE_WITHIN)
        outcome.set_result(received)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], outcome


async def client_exchange(frames, with_handshake):
    """Run wsfast's asyncio echo client against fake_server; return what it sent back."""
    server, port, outcome = await fake_server(frames, with_handshake=with_handshake)
    async with server:
        try:
            async with connect(
                f"ws://127.0.0.1:{port}", proxy=None, compression=None, close_timeout=1
            ) as websocket:
                await echo(websocket)
        except WebSocketException:
            pass
        return await outcome


CLIENT_FRAMES = raw_frame(1, HELLO) + raw_frame(1, HELLO, rsv2=True) + raw_frame(9)  # case 3.2, client
WITH_HANDSHAKE = pytest.mark.parametrize(
    "with_handshake", [False, True], ids=["after-handshake", "with-handshake"]
)


@WITH_HANDSHAKE
def test_client_fails_promptly_after_an_error_read_with_a_message(with_handshake):
    received = run(client_exchange(CLIENT_FRAMES, with_handshake))
    assert close_code(received) == 1002, received


@WITH_HANDSHAKE
def test_client_echoes_before_failing(with_handshake):
    received = run(client_exchange(CLIENT_FRAMES, with_handshake))
    assert received[:1] == [(1, HELLO)], f"no echo before {received}"
    assert close_code(received) == 1002, received


@pytest.mark.parametrize("api", APIS)
def test_close_between_fragments_is_echoed(api):
    data = (
        client_frame(1, b"fragment1", fin=False)
        + client_frame(8, struct.pack("!H", 1000))
        + client_frame(0, b"fragment2")
    )
    received = run(exchange(api, data))
    assert close_code(received) == 1000, received
