"""Drivers that run a peer library's frame codec without a socket, for the micro-benchmarks.

picows and aiohttp have no public frame codec: their parsers and writers live inside their
protocol and writer objects, which talk to an asyncio transport. Here they get a stand-in
transport that keeps what is written, so that one frame can be fed in or taken out per call,
as on a connection, and nothing else runs.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from typing import Any, Callable

import pytest

#: A client's opening handshake, for the server-side parsers.
HANDSHAKE_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)

_LOGGER = logging.getLogger("bench.peers")
_LOGGER.setLevel(logging.WARNING)


class FakeTransport:
    """An asyncio transport that keeps the last few writes in ``out``.

    ``get_write_buffer_size()`` says 1, so that picows never takes its shortcut of calling
    send() on the socket itself: every frame goes through ``write``.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()  # for setsockopt() / fileno(); never connected
        self.out: collections.deque[Any] = collections.deque(maxlen=4)
        self.write = self.out.append
        self.get_write_buffer_size = (1).__index__

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        extra = {"socket": self.sock, "peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}
        return extra.get(name, default)

    def writelines(self, parts: Any) -> None:
        self.out.append(b"".join(parts))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    """One event loop, never run, for the objects that want one at construction."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def _picows():
    return pytest.importorskip("picows.picows", reason="picows is not installed")


def picows_serializer(msg_type: int = 2) -> tuple[Callable[[bytes], None], FakeTransport]:
    """picows' client WSTransport: ``send(payload)`` writes one masked frame to ``out``."""
    pw = _picows()
    fake = FakeTransport()
    try:
        transport = pw.WSTransport(True, fake, _LOGGER, _loop())
    except (TypeError, AttributeError) as exc:  # picows' internals differ from 2.3
        pytest.skip(f"picows.picows.WSTransport: {exc}")
    send, kind = transport.send, pw.WSMsgType(msg_type)

    def serialize(payload: bytes) -> None:
        send(kind, payload)

    return serialize, fake


def picows_parser(on_frame: Callable[[Any], Any]) -> Callable[[bytes], None]:
    """picows' server WSProtocol after the handshake: ``feed(data)`` calls ``on_frame(frame)``.

    Feeding copies the data into picows' read buffer (get_buffer / buffer_updated), as a
    socket read would.
    """
    pw = _picows()
    from picows import WSAutoPingStrategy, WSListener

    class Listener(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            on_frame(frame)

    listener = Listener()

    async def create() -> Any:
        # (host_port, ws_path, is_client_side, listener_factory, logger,
        #  disconnect_on_exception, handshake_timeout, enable_auto_ping, auto_ping_idle_timeout,
        #  auto_ping_reply_timeout, auto_ping_strategy, enable_auto_pong, max_frame_size,
        #  extra_headers, read_buffer_init_size), as ws_create_server() passes them.
        return pw.WSProtocol(
            None, None, False, lambda request: listener, _LOGGER, True, None, False, 10, 10,
            WSAutoPingStrategy.PING_WHEN_IDLE, True, 2**31, None, 16 * 1024,
        )

    try:
        protocol = _loop().run_until_complete(create())
        protocol.connection_made(FakeTransport())
    except (TypeError, AttributeError) as exc:  # picows' internals differ from 2.3
        pytest.skip(f"picows.picows.WSProtocol: {exc}")
    get_buffer, buffer_updated = protocol.get_buffer, protocol.buffer_updated

    def feed(data: bytes) -> None:
        view = memoryview(data)
        while view:
            buf = get_buffer(-1)
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            view = view[n:]
            buffer_updated(n)

    feed(HANDSHAKE_REQUEST)
    return feed


class _AiohttpProtocol:
    """What aiohttp's WebSocketWriter asks of its protocol: never paused."""

    _paused = False


def aiohttp_writer(compress: int = 0) -> tuple[Any, FakeTransport]:
    """aiohttp's client WebSocketWriter (masking) on a FakeTransport."""
    mod = pytest.importorskip("aiohttp._websocket.writer", reason="aiohttp is not installed")
    fake = FakeTransport()
    writer = mod.WebSocketWriter(_AiohttpProtocol(), fake, use_mask=True, compress=compress)
    return writer, fake


def run_coroutine_now(coroutine: Any) -> Any:
    """Run a coroutine that finishes without awaiting anything; fail if it would wait."""
    try:
        coroutine.send(None)
    except StopIteration as exc:
        return exc.value
    coroutine.close()
    raise AssertionError("the coroutine waited")
