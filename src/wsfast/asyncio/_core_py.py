"""The per-message path of the asyncio connection, in pure Python: the reference twin.

``csrc/wsfast/asyncio/_core.pyx`` compiles the same two classes; ``wsfast.speedups``
picks one of them at import time, with the codec. They hold what runs once per message:

- :class:`AssemblerCore`, the queue between the transport and ``recv()``: ``put()`` as
  messages arrive, ``take_message()`` for ``recv()``, flow control (``max_queue``);
- :class:`ConnectionCore`, the base class of :class:`~wsfast.asyncio.connection.Connection`:
  ``get_buffer()``/``buffer_updated()`` (the transport's side), then ``recv()``, ``send()``
  and ``__aiter__()`` (the application's side), each with a fast path that takes no detour
  and a fall back to the connection's general method (``_recv()``, ``_send()``) for
  everything else: waiting after an error, closing, fragments, flow control, failures.

The twin and the extension must behave the same: the asyncio tests run on both
(``.ci/run`` runs them again with ``WSFAST_NO_EXTENSIONS=1``). The methods here call back
into the connection only through the names the connection defines: ``protocol``,
``transport``, ``loop``, ``recv_messages``, ``_frame_reader``, ``_tls``, ``paused``,
``send_in_progress``, ``process_handshake_events()``, ``_process_frame()``,
``_defer_failure()``, ``_after_receive()``, ``_recv()``, ``_send()``, ``_write_failed()``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..exceptions import ConnectionClosedOK
from ..frames import BINARY, TEXT
from ..protocol import OPEN

__all__ = ["EMPTY_QUEUE", "AssemblerCore", "ConnectionCore", "message_writer", "shared_buffer"]


class _EmptyQueue(collections.deque):  # type: ignore[type-arg]
    """The queue of every assembler that never received anything: always empty."""

    def append(self, item: Any) -> None:  # pragma: no cover - put() replaces it first
        raise AssertionError("the shared empty queue must stay empty")

    def extendleft(self, items: Any) -> None:
        if any(True for _ in items):  # pragma: no cover
            raise AssertionError("the shared empty queue must stay empty")


# An empty deque costs 600 bytes, and idle connections are many: they share this one until
# their first message.
EMPTY_QUEUE: collections.deque[Any] = _EmptyQueue()

# Returned by take_message() when recv() can't take the first item as it is.
_NOTHING: Any = object()

# Receive buffer for the opening handshake, before the frame reader takes over, and for TLS
# connections throughout. One per thread, shared by its connections: buffer_updated() copies
# the bytes out before anything else runs, and thousands of connections in their handshake
# don't each hold one. Handed out as a memoryview: asyncio's TLS transport writes into slices
# of it (buf[offset:]), which must be views, not copies.
_SHARED_BUFFER_SIZE = 64 * 1024
_shared_buffers = threading.local()


def shared_buffer() -> memoryview:
    """This thread's receive buffer for the handshake and for TLS."""
    view: memoryview | None = getattr(_shared_buffers, "view", None)
    if view is None:
        view = _shared_buffers.view = memoryview(bytearray(_SHARED_BUFFER_SIZE))
    return view


def _nothing() -> None:
    pass


def message_writer(protocol: Any) -> Any:
    """The frame writer when a whole message may go out in one frame now, else None.

    The conditions of Protocol.message_frame(), read without its call: the connection is
    open, no fragmented message is being sent, nothing is queued before the frame (it must
    follow), and debug logging, which logs each frame, is off.
    """
    if (
        protocol._state is not OPEN
        or protocol.expect_continuation_frame
        or protocol.writes
        or protocol.debug
    ):
        return None
    writer = protocol._frame_writer
    if writer is None:
        writer = protocol._new_frame_writer()
    return writer


class AssemblerCore:
    """The queue under :class:`~wsfast.asyncio.messages.Assembler`: its producer side and
    the part of its consumer side that ``recv()`` runs for every message."""

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = _nothing,
        resume: Callable[[], Any] = _nothing,
    ) -> None:
        self.high, self.low = high, low
        self.pause, self.resume = pause, resume
        self.paused = False
        # Created with the first item: an empty deque costs 600 bytes, and idle connections
        # are many.
        self.queue: collections.deque[Any] = EMPTY_QUEUE
        self.waiter: Any = None
        self.get_in_progress = False
        self.closed = False
        # Called when a getter has taken everything queued before an error; see end_valid().
        self.on_end_of_valid: Callable[[], Any] | None = None
        # The loop of the first wait, kept: on CPython 3.11 asyncio.get_running_loop() makes
        # a getpid() system call, one per message received.
        self.loop: Any = None

    def put(self, frame: Any) -> None:
        """Add a message or a frame; called by the connection as they arrive."""
        if self.closed:
            raise EOFError("stream of frames ended")
        queue = self.queue
        if queue is EMPTY_QUEUE:
            queue = self.queue = collections.deque()
        queue.append(frame)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.high is not None and not self.paused and len(queue) > self.high:
            self.paused = True
            self.pause()

    def _wake_getter(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _popleft(self) -> Any:
        item = self.queue.popleft()
        if self.paused and len(self.queue) <= self.low:  # type: ignore[operator]
            self.paused = False
            self.resume()
        return item

    def take_message(self, decode: bool | None) -> Any:
        """Pop the first item if it is a whole message that ``decode`` keeps as it is;
        else return a marker that says to take the general path."""
        queue = self.queue
        if queue:
            item = queue[0]
            cls = item.__class__
            if (cls is str and decode is not False) or (cls is bytes and not decode):
                return self._popleft()
        return _NOTHING

    def can_wait(self) -> bool:
        """Whether recv() may wait for the next item on its fast path: nothing is queued,
        nothing ends the stream, and nobody else is getting."""
        return (
            not self.queue
            and not self.closed
            and not self.get_in_progress
            and self.on_end_of_valid is None
        )


class ConnectionCore:
    """What :class:`~wsfast.asyncio.connection.Connection` runs for every message."""

    # asyncio.BufferedProtocol methods: the transport's side.

    def get_buffer(self, sizehint: int) -> Any:
        reader = self._frame_reader
        if reader is not None and not self._tls:
            # Straight into the frame reader: its buffer, or a large payload's own object.
            return reader.get_buffer(sizehint)
        return shared_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        reader = self._frame_reader
        if reader is None:
            self.protocol.receive_data(bytes(_shared_buffers.view[:nbytes]))
            self.process_handshake_events()
            return
        if self._tls:
            reader.feed_data(_shared_buffers.view[:nbytes])
        else:
            reader.buffer_updated(nbytes)
        protocol = self.protocol
        if protocol.pending_error is not None:
            # Data that follows an invalid frame, read before reading paused: the
            # connection is about to fail, and it would be discarded (RFC 6455 §7.1.7).
            return
        self._receive_messages(reader)

    def _receive_messages(self, reader: Any) -> None:
        """Queue what the reader completed; control frames and errors take the slow way."""
        protocol = self.protocol
        try:
            items = reader.read_messages()
        except Exception as exc:
            protocol.defer_failure(exc)
            items = []
        else:
            for item in items:
                cls = item.__class__
                if cls is not str and cls is not bytes:
                    # A control frame or a fragment: the protocol processes it first.
                    items = protocol.process_messages(items, True)
                    break
            else:
                if reader.error is not None:
                    items = protocol.process_messages(items, True)
        if items:
            put = self.recv_messages.put
            for item in items:
                cls = item.__class__
                if cls is str or cls is bytes:
                    put(item)
                else:
                    self._process_frame(item)
        if protocol.pending_error is not None:
            self._defer_failure()
        # Pongs to send, a close frame received, or a failure.
        if protocol.writes or not protocol._frames_direct:
            self._after_receive()

    # The application's side.

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Iterate on incoming messages until the connection closes.

        Exits normally on a clean close (1000, 1001, or no code); raises
        :exc:`~wsfast.exceptions.ConnectionClosedError` otherwise.
        """
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def recv(self, decode: bool | None = None) -> Any:
        """Receive the next message.

        Return a :class:`str` for a text frame and :class:`bytes` for a binary frame;
        ``decode=False`` returns text as bytes, ``decode=True`` decodes binary as UTF-8.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two coroutines call :meth:`recv` or
                :meth:`recv_streaming` concurrently.
        """
        messages = self.recv_messages
        if not messages.get_in_progress:
            item = messages.take_message(decode)
            if item is not _NOTHING:
                return item
            if messages.can_wait():
                # Wait as Assembler.get() would, without its layers of coroutines.
                waiter = messages.waiter = self.loop.create_future()
                messages.get_in_progress = True
                try:
                    await waiter
                finally:
                    messages.get_in_progress = False
                    if messages.waiter is waiter:
                        messages.waiter = None
                item = messages.take_message(decode)
                if item is not _NOTHING:
                    return item
        return await self._recv(decode)

    async def send(self, message: Any, *, text: bool | None = None) -> None:
        """Send a message.

        A :class:`str` is sent as a text frame, bytes-like objects as a binary frame;
        ``text`` overrides that. An iterable or async iterable of those is sent as a
        fragmented message, one frame per item, all of the same type.

        Raises:
            ConnectionClosed: When the connection is closed.
            TypeError: If ``message`` doesn't have a supported type.
        """
        # The hot path: a whole message in one frame, straight to the transport, when
        # nothing is queued before it and the transport takes more.
        if self.send_in_progress is None and not self.paused:
            writer = message_writer(self.protocol)
            cls = message.__class__
            if writer is None:
                frame = None
            elif cls is str:
                frame = writer.frame(BINARY if text is False else TEXT, message.encode(), True)
            elif cls is bytes or cls is bytearray or cls is memoryview:
                frame = writer.frame(TEXT if text else BINARY, message, True)
            else:
                frame = None
            if frame is not None:
                try:
                    self.transport.write(frame)
                except Exception as exc:
                    await self._write_failed(exc)
                return
        await self._send(message, text=text)

    # Supplied by the connection, which derives from this class.
    protocol: Any
    transport: Any
    loop: Any
    recv_messages: Any
    send_in_progress: Any
    paused: bool
    _frame_reader: Any
    _tls: bool
    process_handshake_events: Callable[[], None]
    _process_frame: Callable[[Any], None]
    _defer_failure: Callable[[], None]
    _after_receive: Callable[[], None]
    _recv: Callable[[bool | None], Awaitable[Any]]
    _send: Callable[..., Awaitable[None]]
    _write_failed: Callable[[Exception], Awaitable[None]]
