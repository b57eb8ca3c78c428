"""Shared pieces of the echo benchmark: library names, event loops, payloads, the raw TCP framing."""

from __future__ import annotations

import asyncio
import os
import random
import struct
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

HOST = "127.0.0.1"

#: Every library the benchmark knows, in table order. The same library runs on both ends.
LIBS = (
    "raw",
    "raw-task",
    "websockets",
    "aiohttp",
    "picows",
    "picows.websockets",
    "wsfast",
    "wsfast-python",
    "websockets.sync",
    "websocket-client",
    "wsfast.sync",
    "wsfast-python.sync",
)
LOOPS = ("asyncio", "uvloop")

#: What a run measures. ``echo``: sequential round trips of one message. ``stream``: one-way
#: throughput; the client sends a batch of messages back to back, then an empty message; the
#: server counts the messages and answers the empty one with the count, as a text message.
MODES = ("echo", "stream")

#: Raw TCP limits, no WebSocket: ``raw`` echoes inside ``buffer_updated()``; ``raw-task`` hands
#: each message through a future to an application task that writes the echo, the floor cost
#: of any awaitable ``recv()`` API (the server side of bench/await_ceiling.py, across processes).
#: Their clients are the same raw client.
RAW_LIBS = frozenset({"raw", "raw-task"})

#: Message kinds: ``binary`` (seeded random bytes) or ``text`` (seeded multilingual UTF-8 text,
#: sent as text messages, so that every receiver validates UTF-8). ``raw`` sends the same bytes
#: either way: it has no message types.
KINDS = ("binary", "text")

#: Libraries with a websockets-compatible ``connect``/``serve``: (client module, server module).
WEBSOCKETS_API = {
    "websockets": ("websockets.asyncio.client", "websockets.asyncio.server"),
    "picows.websockets": ("picows.websockets.asyncio.client", "picows.websockets.asyncio.server"),
    "wsfast": ("wsfast.asyncio.client", "wsfast.asyncio.server"),
    "wsfast-python": ("wsfast.asyncio.client", "wsfast.asyncio.server"),
}

#: Threading clients (websockets.sync, websocket-client, wsfast.sync): client module. They
#: have no event loop; they all talk to the same server, wsfast's asyncio server with the
#: extension (SERVER_OF), so that their rows compare clients. The loop column is the server's.
SYNC_CLIENTS = {
    "websockets.sync": "websockets.sync.client",
    "websocket-client": "websocket",
    "wsfast.sync": "wsfast.sync.client",
    "wsfast-python.sync": "wsfast.sync.client",
}
SERVER_OF = {lib: "wsfast" for lib in SYNC_CLIENTS}

#: Libraries that negotiate permessage-deflate when ``--compression`` is given.
#: ``raw`` stays uncompressed (it is the limit); picows' callback API has no deflate.
#: Libraries whose server and client here speak wss:// (--tls); the raw ones speak plain TLS.
TLS_LIBS = frozenset(
    {"raw", "raw-task", "websockets", "aiohttp", "picows.websockets", "wsfast", "wsfast-python"}
)


def write_tls_files(directory: str) -> None:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it, as PEM files in
    ``directory``: ``server.pem`` (key and chain) and ``ca.pem`` (to trust)."""
    import trustme

    authority = trustme.CA()
    authority.issue_cert(HOST).private_key_and_cert_chain_pem.write_to_path(
        os.path.join(directory, "server.pem")
    )
    authority.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))


def server_tls_context(directory: str) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.path.join(directory, "server.pem"))
    return context


def client_tls_context(directory: str) -> Any:
    import ssl

    context = ssl.create_default_context(cafile=os.path.join(directory, "ca.pem"))
    return context


DEFLATE_LIBS = frozenset(
    {
        "websockets",
        "aiohttp",
        "picows.websockets",
        "wsfast",
        "wsfast-python",
        "websockets.sync",
        "wsfast.sync",
        "wsfast-python.sync",
    }
)


def lib_env(lib: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment both processes of ``lib`` run with."""
    env = dict(os.environ if base is None else base)
    env.pop("WSFAST_NO_EXTENSIONS", None)
    if lib.startswith("wsfast-python"):
        env["WSFAST_NO_EXTENSIONS"] = "1"
    return env


def raise_fd_limit(wanted: int) -> None:
    """Raise RLIMIT_NOFILE to ``wanted`` (at most the hard limit), for many connections."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


# --- payloads --------------------------------------------------------------------------------

# Chat-like words from several scripts: 1-, 2-, 3- and 4-byte UTF-8 sequences.
_WORDS = (
    "the quick brown fox jumps over lazy dog message server client ping pong 2024 OK "
    "{\"id\": 42, \"ok\": true} café naïve Zürich señor déjà crème brûlée Łódź São Paulo "
    "καλημέρα κόσμε Αθήνα привет мир Москва съешь ещё этих булок 日本語 東京 中文 汉字 한국어 "
    "서울 こんにちは 世界 😀 🚀 🎉 👍🏽 ❤️ 🇫🇷 👩‍💻"
).split()


def text_of_size(size: int, seed: int) -> str:
    """Seeded text whose UTF-8 encoding is exactly ``size`` bytes."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS) + (" " if rng.random() < 0.9 else "\n")
        parts.append(word)
        length += len(word.encode())
    data = "".join(parts).encode()[:size]
    text = data.decode("utf-8", "ignore")  # drops a character cut at the end
    return text + " " * (size - len(text.encode()))


#: With compression, consecutive messages differ over this many bytes, more than deflate's
#: 32 KiB window, so a message can't be sent as a back-reference to the previous one.
DISTINCT_SPAN = 64 * 1024


def payloads_of_size(size: int, compression: bool, kind: str = "binary") -> list[Any]:
    """Seeded messages: one without compression, else enough to fill DISTINCT_SPAN.

    Binary messages are random bytes (they don't compress); text messages are ``str``.
    """
    count = 1 + (-(-DISTINCT_SPAN // size) if compression else 0)
    if kind == "text":
        return [text_of_size(size, 6455 + size + index) for index in range(count)]
    rng = random.Random(6455 + size)
    return [rng.randbytes(size) for _ in range(count)]


def run_on_loop(main: Coroutine[Any, Any, Any], loop: str) -> Any:
    """Run ``main`` on a fresh event loop of the given kind and return its result."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    elif loop != "asyncio":
        raise ValueError(f"unknown loop {loop!r}")
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    if factory is not None:  # pragma: no cover - Python 3.10
        import uvloop

        uvloop.install()
    return asyncio.run(main)  # pragma: no cover - Python 3.10


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    cls = type(loop)
    return f"{cls.__module__}.{cls.__qualname__}"


def pin_to(cpus: str) -> None:
    """Pin this process to a comma-separated list of CPUs; no-op for an empty string."""
    if cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})


def exit_when_parent_goes() -> None:
    """Exit at once when stdin reaches EOF, i.e. when the parent closes it or dies."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


# --- raw TCP: messages with a 4-byte big-endian length prefix -----------------------------

_LENGTH = struct.Struct(">I")
_MIN_FREE = 64 * 1024


class ThroughApplicationTask:
    """Mixin for a raw echo protocol: each message goes through a future to an application
    task that writes the echo, as a handler running ``async for message in websocket: await
    websocket.send(message)`` must. The floor cost of an awaitable ``recv()``, with no
    WebSocket work. Call :meth:`deliver` with each message, and with None at the end."""

    transport: Any

    def start_application(self) -> None:
        self.items: list[bytes | None] = []
        self.waiter: asyncio.Future[None] | None = None
        self.task = asyncio.get_running_loop().create_task(self._application())

    def deliver(self, message: bytes | None) -> None:
        self.items.append(message)
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _recv(self) -> bytes | None:
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.items.pop(0)

    async def _application(self) -> None:
        while (message := await self._recv()) is not None:
            self.transport.write(message)


class LengthPrefixedProtocol(asyncio.BufferedProtocol):
    """Receives length-prefixed messages into one reused buffer (no per-read allocation).

    Subclasses implement ``message_received(view, start, length)``: the message occupies
    ``view[start:start + length]``, valid only during the call.
    """

    def __init__(self) -> None:
        self._buf = bytearray(_MIN_FREE * 2)
        self._view = memoryview(self._buf)
        self._start = 0  # first unconsumed byte
        self._end = 0  # end of received data
        self._need = 0  # size (prefix included) of the incomplete message at _start
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self._buf) - self._end < _MIN_FREE or self._start + self._need > len(self._buf):
            self._make_room()
        return self._view[self._end :]

    def _make_room(self) -> None:
        pending = self._end - self._start
        wanted = max(self._need, pending) + _MIN_FREE
        if wanted <= len(self._buf):
            # Same-length slice assignment: allowed while a view of the buffer is exported.
            self._buf[0:pending] = self._buf[self._start : self._end]
        else:
            buf = bytearray(max(wanted, 2 * len(self._buf)))
            buf[0:pending] = self._view[self._start : self._end]
            self._buf = buf
            self._view = memoryview(buf)
        self._start, self._end = 0, pending

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        buf, start, end = self._buf, self._start, self._end
        while end - start >= 4:
            (length,) = _LENGTH.unpack_from(buf, start)
            if end - start < 4 + length:
                self._need = 4 + length
                break
            self.message_received(self._view, start + 4, length)
            start += 4 + length
            self._need = 0
        if start == end:
            start = end = self._end = 0
        self._start = start

    def message_received(self, view: memoryview, start: int, length: int) -> None:
        raise NotImplementedError


def length_prefix(length: int) -> bytes:
    return _LENGTH.pack(length)
