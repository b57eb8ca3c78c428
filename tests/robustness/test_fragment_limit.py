"""recv() assembles at most WEBSOCKETS_MAX_FRAGMENTS frames per message (4096 by default, as
websockets does); more fails the connection with 1009. recv_streaming() takes frames one by one
and has no such limit. Both I/O layers, both implementations."""

from __future__ import annotations

import asyncio
import threading

import pytest

import wsfast.asyncio.messages
import wsfast.sync.messages
from wsfast.asyncio.client import connect
from wsfast.asyncio.server import serve
from wsfast.exceptions import ConnectionClosedError
from wsfast.sync.client import connect as sync_connect
from wsfast.sync.server import serve as sync_serve

pytestmark = pytest.mark.usefixtures("active_codec")

LIMIT = 8


@pytest.fixture(autouse=True)
def low_limit(monkeypatch):
    monkeypatch.setattr(wsfast.asyncio.messages, "MAX_FRAGMENTS", LIMIT)
    monkeypatch.setattr(wsfast.sync.messages, "MAX_FRAGMENTS", LIMIT)


def fragments(count):
    """A message of ``count`` frames: send() of an iterable sends a frame per item, then an
    empty final frame, as websockets does."""
    return [b"x"] * (count - 1)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def asyncio_exchange(count, streaming):
    outcome = []

    async def handler(ws):
        try:
            if streaming:
                outcome.append(len([piece async for piece in ws.recv_streaming()]))
            else:
                outcome.append(len(await ws.recv()) + 1)
        except ConnectionClosedError as exc:
            outcome.append(exc.sent.code)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send(fragments(count))
            await ws.wait_closed()
            return outcome, ws.close_code, ws.close_reason


@pytest.mark.parametrize("streaming", [False, True], ids=["recv", "recv_streaming"])
def test_asyncio_fragment_limit(streaming):
    assert run(asyncio_exchange(LIMIT, streaming))[0] == [LIMIT]
    outcome, code, reason = run(asyncio_exchange(LIMIT + 1, streaming))
    if streaming:
        assert outcome == [LIMIT + 1]
    else:
        assert outcome == [1009] and code == 1009
        assert reason == f"fragmented message exceeds limit of {LIMIT} frames"


def sync_exchange(count, streaming):
    outcome = []

    def handler(ws):
        try:
            if streaming:
                outcome.append(len(list(ws.recv_streaming())))
            else:
                outcome.append(len(ws.recv()) + 1)
        except ConnectionClosedError as exc:
            outcome.append(exc.sent.code)

    server = sync_serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as ws:
            ws.send(fragments(count))
            ws.wait_closed(10)
            return outcome, ws.close_code, ws.close_reason
    finally:
        server.shutdown()
        thread.join(10)


@pytest.mark.parametrize("streaming", [False, True], ids=["recv", "recv_streaming"])
def test_sync_fragment_limit(streaming):
    assert sync_exchange(LIMIT, streaming)[0] == [LIMIT]
    outcome, code, reason = sync_exchange(LIMIT + 1, streaming)
    if streaming:
        assert outcome == [LIMIT + 1]
    else:
        assert outcome == [1009] and code == 1009
        assert reason == f"fragmented message exceeds limit of {LIMIT} frames"
