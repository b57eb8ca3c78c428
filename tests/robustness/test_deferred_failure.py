"""An invalid frame that follows valid messages fails the connection only once the application
has had those messages (RFC 6455 §7.1.7 fails the connection; it doesn't drop what came
before). The triggers: recv() finding nothing more, close(), wait_closed(), or close_timeout.

A raw client sends a text message and an invalid frame (RSV2 set, no extension negotiated) in
one write, so that both reach the server in one read; the tests check what the handler sees
and when the 1002 close frame leaves. Both I/O layers, both implementations.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import threading
import time

import pytest
from wire import client_frame

from wsfast.asyncio.server import serve
from wsfast.exceptions import ConnectionClosedError
from wsfast.sync.server import serve as sync_serve

pytestmark = pytest.mark.usefixtures("active_codec")

HELLO = b"Hello"
TIMEOUT = 10

# A text message, then a text frame with RSV2 set (no extension negotiated), as a client sends.
MESSAGE_THEN_ERROR = client_frame(1, HELLO) + client_frame(1, HELLO, rsv2=True)


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101"), response
    return reader, writer


async def close_frame_after(reader: asyncio.StreamReader) -> tuple[int, float, bytes]:
    """Read unmasked server frames until a close frame; its code, when, and what preceded it."""
    start = time.monotonic()
    before = b""
    while True:
        header = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
        payload = await reader.readexactly(header[1] & 0x7F)
        if header[0] & 0x0F == 8:
            return struct.unpack("!H", payload[:2])[0], time.monotonic() - start, before
        before += payload


async def run_asyncio(handler, *, release=None, **kwargs):
    """Serve handler, send MESSAGE_THEN_ERROR, and read until the close frame; then call
    ``release``, before the server waits for the handler to return."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        reader, writer = await open_raw(server.sockets[0].getsockname()[1])
        writer.write(MESSAGE_THEN_ERROR)
        try:
            return await close_frame_after(reader)
        finally:
            writer.close()
            if release is not None:
                release()


@contextlib.asynccontextmanager
async def sync_server(handler, **kwargs):
    server = sync_serve(handler, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        # In a thread: the event loop must run meanwhile, for the raw client to close.
        await asyncio.to_thread(server.shutdown)
        await asyncio.to_thread(thread.join, TIMEOUT)


async def run_sync(handler, *, release=None, **kwargs):
    async with sync_server(handler, **kwargs) as port:
        reader, writer = await open_raw(port)
        writer.write(MESSAGE_THEN_ERROR)
        try:
            return await close_frame_after(reader)
        finally:
            writer.close()
            if release is not None:
                release()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 2 * TIMEOUT))


# The application answers, then asks for more: the answer leaves before the close frame.


def test_asyncio_reply_goes_before_the_failure():
    seen = []

    async def handler(ws):
        seen.append(await ws.recv())
        await ws.send("reply")
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        seen.append(raised.value.sent.code)

    code, _, before = run(run_asyncio(handler))
    assert (code, before, seen) == (1002, b"reply", ["Hello", 1002])


def test_sync_reply_goes_before_the_failure():
    seen = []

    def handler(ws):
        seen.append(ws.recv())
        time.sleep(0.2)  # the reading thread has long seen the invalid frame
        ws.send("reply")
        with pytest.raises(ConnectionClosedError) as raised:
            ws.recv()
        seen.append(raised.value.sent.code)

    code, _, before = run(run_sync(handler))
    assert (code, before, seen) == (1002, b"reply", ["Hello", 1002])


# The application doesn't ask for more: close() and wait_closed() fail it at once.


def test_asyncio_wait_closed_fails_at_once():
    async def handler(ws):
        await ws.recv()
        await ws.wait_closed()

    code, elapsed, _ = run(run_asyncio(handler, close_timeout=TIMEOUT))
    assert code == 1002 and elapsed < TIMEOUT / 2


def test_asyncio_close_fails_with_the_peers_error():
    async def handler(ws):
        await ws.recv()
        await ws.close(1000, "bye")

    code, elapsed, _ = run(run_asyncio(handler, close_timeout=TIMEOUT))
    assert code == 1002 and elapsed < TIMEOUT / 2


def test_sync_wait_closed_fails_at_once():
    def handler(ws):
        ws.recv()
        ws.wait_closed(TIMEOUT)

    code, elapsed, _ = run(run_sync(handler, close_timeout=TIMEOUT))
    assert code == 1002 and elapsed < TIMEOUT / 2


def test_sync_close_fails_with_the_peers_error():
    def handler(ws):
        time.sleep(0.2)
        ws.close(1000, "bye")

    code, elapsed, _ = run(run_sync(handler, close_timeout=TIMEOUT))
    assert code == 1002 and elapsed < TIMEOUT / 2


# The application does something else: close_timeout bounds the wait.


def test_asyncio_close_timeout_bounds_the_wait():
    released = asyncio.Event()

    async def handler(ws):
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(released.wait(), TIMEOUT)

    code, elapsed, _ = run(run_asyncio(handler, release=released.set, close_timeout=0.5))
    assert code == 1002 and 0.3 < elapsed < TIMEOUT / 2


def test_sync_close_timeout_bounds_the_wait():
    released = threading.Event()

    def handler(ws):
        released.wait(TIMEOUT)

    code, elapsed, _ = run(run_sync(handler, release=released.set, close_timeout=0.5))
    assert code == 1002 and 0.3 < elapsed < TIMEOUT / 2


# Messages queued before the error are still delivered after the failure.


def test_asyncio_queued_message_survives_the_failure():
    seen = []

    async def handler(ws):
        await ws.wait_closed()
        seen.append(await ws.recv())
        with pytest.raises(ConnectionClosedError):
            await ws.recv()

    code, _, _ = run(run_asyncio(handler))
    assert code == 1002

    async def settle():
        for _ in range(100):
            if seen:
                return
            await asyncio.sleep(0.01)

    run(settle())
    assert seen == ["Hello"]
