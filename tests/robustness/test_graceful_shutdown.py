"""Graceful shutdown: closing a server closes every connection with 1001 (going away) and loses
no message that ``send`` accepted, in wsfast.asyncio (``Server.close()``) and wsfast.sync
(``Server.shutdown()``), on the Cython codec and on the pure-Python twin
(``conftest.active_codec``).

The servers run in this process (the asyncio one in an event loop of its own thread); the
clients are raw sockets (``hostile_support``) that record every frame, so that a message lost,
duplicated or reordered shows, and that can hold off reading: in the "buffered" tests each
handler sends until ``send`` blocks, with megabytes still in the socket buffers and in the
server's write buffer when the server closes; the clients start reading only then. Every
message whose ``send`` returned must arrive, in order, before the close frame; the close code
is 1001; the handler's next ``send`` raises ``ConnectionClosedOK``.

A client that never reads can't receive anything; closing the server must still end within
``close_timeout`` instead of waiting for it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time

import pytest
from hostile_support import (
    BINARY,
    CLOSE,
    PONG,
    TEXT,
    close_frame,
    open_raw,
    parse_frames,
    reset,
)
from sync_support import LoopThread

from wsfast.asyncio.server import serve as asyncio_serve
from wsfast.exceptions import ConnectionClosed, ConnectionClosedOK
from wsfast.sync.server import serve as sync_serve

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

TIMEOUT = 10
CLOSE_TIMEOUT = 1
CLIENTS = 5


def message(index: int, size: int) -> bytes:
    """Message ``index``: its number, then filler up to ``size`` bytes."""
    return struct.pack("!I", index) + bytes([index % 251]) * (size - 4)


def small_size(index: int) -> int:
    return 4 + (index % 7) * 300


class Record:
    """What a handler did: how many sends returned, and the exception that stopped it."""

    def __init__(self):
        self.accepted = 0
        self.exc: BaseException | None = None
        self.done = threading.Event()


# Raw clients --------------------------------------------------------------------------------


class Reader:
    """A raw client that, once started, reads everything until EOF: data messages (by
    number), the close frame's code (answered with a close frame, as a client must), EOF."""

    def __init__(self, port: int, path: str):
        self.sock, self.rest = open_raw(port, path)
        self.indexes: list[int] = []
        self.sizes: list[int] = []
        self.close_code: int | None = None
        self.after_close: list[int] = []
        self.eof = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        buffer = bytearray(self.rest)
        deadline = time.monotonic() + TIMEOUT * 3
        try:
            while True:
                frames, used = parse_frames(bytes(buffer))
                del buffer[:used]
                for opcode, fin, payload in frames:
                    if self.close_code is not None:
                        self.after_close.append(opcode)
                    elif opcode in (TEXT, BINARY):
                        assert fin
                        self.indexes.append(struct.unpack("!I", payload[:4])[0])
                        self.sizes.append(len(payload))
                    elif opcode == CLOSE:
                        self.close_code = struct.unpack("!H", payload[:2])[0]
                        self.sock.sendall(close_frame(self.close_code))
                    elif opcode != PONG:
                        raise AssertionError(f"unexpected opcode {opcode}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no EOF in time")
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self.eof = True
                    # The server closed its side: close ours, as a client does (RFC 6455
                    # §7.1.1), which ends the server's closing handshake.
                    self.sock.close()
                    return
                buffer += chunk
        except Exception as exc:  # noqa: BLE001 - checked by the test
            self.error = f"{type(exc).__name__}: {exc}"

    def join(self) -> None:
        self._thread.join(TIMEOUT * 3 + 1)
        assert not self._thread.is_alive(), "reader stuck"
        self.sock.close()

    def check(self, record: Record, size_of) -> None:
        """Every message accepted by send arrived, in order, none twice, then 1001, EOF."""
        assert self.error is None, self.error
        assert self.eof
        assert self.close_code == 1001, self.close_code
        assert self.after_close == []
        # A send that was in progress when the server closed may have got its frame out
        # before raising: one message more than accepted may arrive, never one fewer.
        assert record.accepted <= len(self.indexes) <= record.accepted + 1, (
            record.accepted,
            len(self.indexes),
        )
        assert self.indexes == list(range(len(self.indexes)))
        assert self.sizes == [size_of(i) for i in self.indexes]


# Servers in this process --------------------------------------------------------------------


@contextlib.contextmanager
def asyncio_server(handler, **kwargs):
    """A wsfast.asyncio server in an event loop of its own thread: yields (loop thread,
    server, port). Closed on exit if the test didn't."""
    loop_thread = LoopThread()

    async def start():
        return await asyncio_serve(
            handler, "127.0.0.1", 0, ping_interval=None, close_timeout=CLOSE_TIMEOUT, **kwargs
        )

    try:
        server = loop_thread.call(start())
        try:
            yield loop_thread, server, server.sockets[0].getsockname()[1]
        finally:
            loop_thread.call(close_asyncio(server), timeout=TIMEOUT + 5)
    finally:
        loop_thread.close()


async def close_asyncio(server):
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


@contextlib.contextmanager
def sync_server(handler, **kwargs):
    """A wsfast.sync server running serve_forever() in a thread: yields (server, port).
    Shut down on exit if the test didn't."""
    server = sync_serve(
        handler, "127.0.0.1", 0, ping_interval=None, close_timeout=CLOSE_TIMEOUT, **kwargs
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, server.socket.getsockname()[1]
    finally:
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(TIMEOUT + 5)
        thread.join(TIMEOUT)
    assert not closer.is_alive(), "shutdown() stuck"


def asyncio_handler(records, count, size_of):
    async def handler(ws):
        record = records[ws.request.path]
        try:
            for index in range(count):
                await ws.send(message(index, size_of(index)))
                record.accepted = index + 1
            await ws.wait_closed()
            await ws.send(b"after close")  # raises
        except ConnectionClosed as exc:
            record.exc = exc
        finally:
            record.done.set()

    return handler


def sync_handler(records, count, size_of):
    def handler(ws):
        record = records[ws.request.path]
        try:
            for index in range(count):
                ws.send(message(index, size_of(index)))
                record.accepted = index + 1
            with contextlib.suppress(ConnectionClosed):
                while True:
                    ws.recv()
            ws.send(b"after close")  # raises
        except ConnectionClosed as exc:
            record.exc = exc
        finally:
            record.done.set()

    return handler


def wait_for(predicate, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def wait_stalled(records, quiet=0.3, timeout=TIMEOUT):
    """Wait until no handler's accepted count moved for ``quiet`` s: their sends block."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        counts = [record.accepted for record in records.values()]
        if counts != last:
            last, since = counts, time.monotonic()
        elif time.monotonic() - since >= quiet and all(counts):
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"sends never blocked: {counts}")
        time.sleep(0.02)


def check_handlers(records):
    for record in records.values():
        assert record.done.wait(TIMEOUT)
        assert isinstance(record.exc, ConnectionClosedOK), repr(record.exc)
        assert record.exc.rcvd is not None and record.exc.rcvd.code == 1001
        assert record.exc.sent is not None and record.exc.sent.code == 1001


# Clients that read all along ----------------------------------------------------------------


SMALL_COUNT = 300


def test_asyncio_close_delivers_every_message_then_1001():
    """Handlers send 300 messages each, then wait; the server closes: each client gets the
    300 messages, in order, then 1001; server.connections is empty; wait_closed() returns."""
    records = {f"/c{i}": Record() for i in range(CLIENTS)}
    handler = asyncio_handler(records, SMALL_COUNT, small_size)
    with asyncio_server(handler) as (loop_thread, server, port):
        readers = [Reader(port, path) for path in records]
        for reader in readers:
            reader.start()
        wait_for(lambda: all(r.accepted == SMALL_COUNT for r in records.values()))
        started = time.monotonic()
        loop_thread.call(close_asyncio(server), timeout=TIMEOUT + 5)
        assert time.monotonic() - started < CLOSE_TIMEOUT
        for reader in readers:
            reader.join()
        assert not server.connections
    for reader, record in zip(readers, records.values()):
        reader.check(record, small_size)
        assert len(reader.indexes) == SMALL_COUNT
    check_handlers(records)


def test_sync_shutdown_delivers_every_message_then_1001():
    records = {f"/c{i}": Record() for i in range(CLIENTS)}
    handler = sync_handler(records, SMALL_COUNT, small_size)
    with sync_server(handler) as (server, port):
        readers = [Reader(port, path) for path in records]
        for reader in readers:
            reader.start()
        wait_for(lambda: all(r.accepted == SMALL_COUNT for r in records.values()))
        started = time.monotonic()
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(TIMEOUT)
        assert not closer.is_alive(), "shutdown() stuck"
        assert time.monotonic() - started < CLOSE_TIMEOUT
        for reader in readers:
            reader.join()
        assert not server.connections
    for reader, record in zip(readers, records.values()):
        reader.check(record, small_size)
        assert len(reader.indexes) == SMALL_COUNT
    check_handlers(records)


# Clients that read only once the server is closing -----------------------------------------


LARGE = 64 * 1024
LARGE_COUNT = 200  # 12.5 MiB per client: send blocks long before (~4 MiB)


def large_size(index: int) -> int:
    return LARGE


def test_asyncio_close_with_buffered_messages():
    """Clients don't read until the server closes: each handler's send blocks with megabytes
    buffered. Server.close() then: every message accepted arrives before the 1001."""
    records = {f"/c{i}": Record() for i in range(CLIENTS)}
    handler = asyncio_handler(records, LARGE_COUNT, large_size)
    with asyncio_server(handler) as (loop_thread, server, port):
        readers = [Reader(port, path) for path in records]
        counts = wait_stalled(records)
        assert max(counts) < LARGE_COUNT
        closing = asyncio.run_coroutine_threadsafe(close_asyncio(server), loop_thread.loop)
        time.sleep(0.2)  # the close frames are queued behind the buffered messages
        for reader in readers:
            reader.start()
        closing.result(TIMEOUT + 5)
        for reader in readers:
            reader.join()
    for reader, record in zip(readers, records.values()):
        reader.check(record, large_size)
    check_handlers(records)


def test_sync_shutdown_with_buffered_messages():
    records = {f"/c{i}": Record() for i in range(CLIENTS)}
    handler = sync_handler(records, LARGE_COUNT, large_size)
    with sync_server(handler) as (server, port):
        readers = [Reader(port, path) for path in records]
        counts = wait_stalled(records)
        assert max(counts) < LARGE_COUNT
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        time.sleep(0.2)
        for reader in readers:
            reader.start()
        closer.join(TIMEOUT + 5)
        assert not closer.is_alive(), "shutdown() stuck"
        for reader in readers:
            reader.join()
    for reader, record in zip(readers, records.values()):
        reader.check(record, large_size)
    check_handlers(records)


# A client that never reads ------------------------------------------------------------------


def test_asyncio_close_with_a_client_that_never_reads():
    """One client never reads: Server.close() still returns within close_timeout (the
    connection is dropped), and the well-behaved clients get everything, then 1001."""
    records = {f"/c{i}": Record() for i in range(3)}
    handler = asyncio_handler(records, LARGE_COUNT, large_size)
    with asyncio_server(handler) as (loop_thread, server, port):
        deaf = Reader(port, "/c0")  # never started
        readers = [Reader(port, path) for path in list(records)[1:]]
        for reader in readers:
            reader.start()
        wait_for(lambda: all(records[p].accepted == LARGE_COUNT for p in list(records)[1:]))
        wait_stalled({"/c0": records["/c0"]})
        started = time.monotonic()
        loop_thread.call(close_asyncio(server), timeout=TIMEOUT + 5)
        elapsed = time.monotonic() - started
        assert elapsed < CLOSE_TIMEOUT + 2, elapsed
        for reader in readers:
            reader.join()
        reset(deaf.sock)
    assert records["/c0"].done.wait(TIMEOUT)
    assert records["/c0"].exc is not None  # the connection was dropped: ConnectionClosedError
    for reader, path in zip(readers, list(records)[1:]):
        reader.check(records[path], large_size)
        assert len(reader.indexes) == LARGE_COUNT


def test_sync_shutdown_with_a_client_that_never_reads():
    """A handler sends 64 KiB messages to a client that never reads until send() blocks;
    Server.shutdown() should close that connection within close_timeout (1 s here) and
    return; it blocks until the client goes away (here: reset after 2 s)."""
    records = {"/deaf": Record()}
    handler = sync_handler(records, LARGE_COUNT, large_size)
    with sync_server(handler) as (server, port):
        deaf = Reader(port, "/deaf")  # never started
        try:
            wait_stalled(records)
            started = time.monotonic()
            closer = threading.Thread(target=server.shutdown, daemon=True)
            closer.start()
            closer.join(CLOSE_TIMEOUT + 1)
            elapsed = time.monotonic() - started
            assert not closer.is_alive(), f"shutdown() still running after {elapsed:.1f} s"
        finally:
            reset(deaf.sock)
            closer.join(TIMEOUT)


def test_sync_shutdown_with_a_client_that_reads_nothing_while_idle():
    """The same client, but no send in progress: shutdown() sends the close frame (it fits
    in the socket buffer), waits close_timeout for an answer that never comes, and drops
    the connection."""
    records = {"/deaf": Record()}
    handler = sync_handler(records, 3, small_size)
    with sync_server(handler) as (server, port):
        deaf = Reader(port, "/deaf")  # never started
        wait_for(lambda: records["/deaf"].accepted == 3)
        started = time.monotonic()
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(TIMEOUT)
        elapsed = time.monotonic() - started
        assert not closer.is_alive()
        assert CLOSE_TIMEOUT - 0.2 < elapsed < CLOSE_TIMEOUT + 2, elapsed
        reset(deaf.sock)
    assert records["/deaf"].done.wait(TIMEOUT)
