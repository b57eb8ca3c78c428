"""The asyncio connection shared by client and server: a thin layer over the Sans-I/O core.

Bytes go from the transport straight into the extension's frame reader: the connection is an
:class:`asyncio.BufferedProtocol` whose ``get_buffer()`` hands out the reader's own receive
buffer (or, for a large frame, the final payload object), and each read ends with one
``read_messages()`` call that returns complete messages as ``str`` or ``bytes``. No ``Frame``
object is built for a message that arrived in one frame, and nothing is copied on the way.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import struct
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from .. import speedups
from .._connection_attributes import ProtocolAttributes
from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedOK,
    ProtocolError,
    TooManyFragments,
)
from ..frames import BINARY, CLOSE, CONT, PONG, TEXT, CloseCode, Frame
from ..http11 import Request, Response
from ..protocol import OPEN, Event, Protocol, State
from ..typing import Data, LoggerLike
from .compatibility import ExceptionGroup, asyncio_timeout, asyncio_timeout_at
from .messages import Assembler

__all__ = ["Connection", "broadcast"]

# The per-message path, compiled or its pure-Python twin, as the codec switch decided. The
# twin's declarations stand for both when type checking.
if TYPE_CHECKING:
    from ._core_py import ConnectionCore
else:
    ConnectionCore = importlib.import_module(speedups.ASYNCIO_CORE).ConnectionCore


def _write_limits(write_limit: int | tuple[int, int | None]) -> tuple[int, int]:
    if isinstance(write_limit, int):
        high, low = write_limit, None
    else:
        high, low = write_limit
    if low is None:
        low = high // 4
    return high, low


class Connection(ProtocolAttributes, ConnectionCore, asyncio.BufferedProtocol):
    """:mod:`asyncio` implementation of a WebSocket connection.

    ``recv()``, ``send()``, iteration and the :class:`asyncio.BufferedProtocol` callbacks
    are inherited from ``ConnectionCore``, compiled when the extension is active; they fall
    back to :meth:`_recv` and :meth:`_send` here for everything but the common case.

    :class:`Connection` provides APIs shared between WebSocket servers and clients. You
    shouldn't use it directly: use :class:`~wsfast.asyncio.client.ClientConnection` or
    :class:`~wsfast.asyncio.server.ServerConnection`.
    """

    def __init__(
        self,
        protocol: Protocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        if isinstance(max_queue, int) or max_queue is None:
            max_queue_high, max_queue_low = max_queue, None
        else:
            max_queue_high, max_queue_low = max_queue
        self.max_queue = max_queue
        self.write_limit = write_limit
        self._write_high, self._write_low = _write_limits(write_limit)

        # Frames that come with the handshake go to receive_messages() too, which holds
        # back an error until the messages before it are taken (see _defer_failure()).
        protocol.defer_trailing_frames = True

        # Inject reference to this instance in the protocol's logger.
        self.protocol.logger = logging.LoggerAdapter(
            self.protocol.logger, {"websocket": self}
        )

        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.transport: asyncio.Transport

        self.request: Request | None = None
        """Opening handshake request."""
        self.response: Response | None = None
        """Opening handshake response."""

        self.recv_messages: Assembler = Assembler(
            max_queue_high,
            max_queue_low,
            pause=self._pause_reading,
            resume=self._resume_reading,
        )

        # The frame reader, once the handshake is done and until incoming data is discarded:
        # the fast path of buffer_updated(). Before, bytes collect in _handshake_buffer.
        self._frame_reader: Any = None

        # Deadline for the closing handshake.
        self.close_deadline: float | None = None

        # Protect sending fragmented messages.
        self.send_in_progress: asyncio.Future[None] | None = None

        # Mapping of ping IDs to pong waiters, in chronological order.
        self.pending_pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}

        self.latency: float = 0
        """Latency of the connection, in seconds: the round trip of the last ping."""

        self.keepalive_task: asyncio.Task[None] | None = None

        # Exception raised while reading from or writing to the connection, chained to
        # ConnectionClosed for debugging.
        self.recv_exc: BaseException | None = None

        self.connection_lost_waiter: asyncio.Future[None] = self.loop.create_future()

        # Flow control on writes (adapted from asyncio's FlowControlMixin). A list, not a
        # deque: it's nearly always empty, and an empty deque costs 600 bytes per connection.
        self.paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []

        self._reading_paused = False
        self._close_timer: asyncio.TimerHandle | None = None
        # Fails the connection for an error held back behind messages the application
        # hasn't taken yet, if it doesn't take them in time; see _defer_failure().
        self._failure_timer: asyncio.TimerHandle | None = None
        # How many coroutines wait in wait_closed(): they don't expect more messages.
        self._awaiting_close = 0
        self._tls = False

    # Public attributes.

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection. Useful in logs."""
        return self.protocol.id

    @property
    def logger(self) -> LoggerLike:
        """Logger for this connection."""
        return self.protocol.logger

    @property
    def local_address(self) -> Any:
        """Local address of the connection: ``(host, port)`` for IPv4, a path for Unix."""
        return self.transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection."""
        return self.transport.get_extra_info("peername")

    # Public methods.

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.close(CloseCode.INTERNAL_ERROR)

    async def _recv(self, decode: bool | None) -> Data:
        """recv(), all but its fast path (ConnectionCore.recv): waiting for a fragmented
        message, the stream's end, and the errors."""
        messages = self.recv_messages
        try:
            return await messages.get(decode)
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv while another coroutine "
                "is already running recv or recv_streaming",
                operation="recv",
            ) from None
        except UnicodeDecodeError as exc:
            async with self.send_context():
                self.protocol.fail(
                    CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}"
                )
        except TooManyFragments as exc:
            if self.recv_exc is None:
                self.recv_exc = exc
            async with self.send_context():
                self.protocol.fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
        # The connection is closing: wait until it's closed to know the close code.
        await asyncio.shield(self.connection_lost_waiter)
        raise self._closed_exc("recv")

    async def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """Receive the next message frame by frame.

        Text is decoded incrementally: a character split across frames comes out whole.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two coroutines call :meth:`recv` or
                :meth:`recv_streaming` concurrently.
        """
        try:
            async for fragment in self.recv_messages.get_iter(decode):
                yield fragment
            return
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv_streaming while another coroutine "
                "is already running recv or recv_streaming",
                operation="recv",
            ) from None
        except UnicodeDecodeError as exc:
            async with self.send_context():
                self.protocol.fail(
                    CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}"
                )
        await asyncio.shield(self.connection_lost_waiter)
        raise self._closed_exc("recv")

    async def _send(
        self,
        message: Data | Iterable[Data] | AsyncIterable[Data],
        *,
        text: bool | None = None,
    ) -> None:
        """send(), all but its fast path (ConnectionCore.send): fragments, flow control,
        a closing connection."""
        # Wait for a fragmented message sent by another coroutine to finish: frames of two
        # messages must not interleave (RFC 6455 §5.4).
        while self.send_in_progress is not None:
            await asyncio.shield(self.send_in_progress)

        # Whole messages took ConnectionCore.send()'s hot path already when they could.
        protocol = self.protocol
        if isinstance(message, str):
            data = message.encode()
            async with self.send_context():
                if text is False:
                    protocol.send_binary(data)
                else:
                    protocol.send_text(data)

        elif isinstance(message, (bytes, bytearray, memoryview)):
            async with self.send_context():
                if text:
                    protocol.send_text(message)
                else:
                    protocol.send_binary(message)

        elif isinstance(message, Mapping):
            # Iterating a dict sends its keys: almost certainly not what was meant.
            raise TypeError("data is a dict-like object")

        elif isinstance(message, Iterable):
            await self._send_fragments(iter(message), text, asynchronous=False)

        elif isinstance(message, AsyncIterable):
            await self._send_fragments(aiter(message), text, asynchronous=True)

        else:
            raise TypeError("data must be str, bytes, iterable, or async iterable")

    async def _send_fragments(self, chunks: Any, text: bool | None, *, asynchronous: bool) -> None:
        """Send a fragmented message, one frame per chunk (RFC 6455 §5.4)."""
        try:
            chunk = await anext(chunks) if asynchronous else next(chunks)
        except (StopIteration, StopAsyncIteration):
            return

        protocol = self.protocol
        kind = "async iterable" if asynchronous else "iterable"
        assert self.send_in_progress is None
        self.send_in_progress = self.loop.create_future()
        try:
            if isinstance(chunk, str):
                is_text = text is not False
                async with self.send_context():
                    if is_text:
                        protocol.send_text(chunk.encode(), fin=False)
                    else:
                        protocol.send_binary(chunk.encode(), fin=False)
                encode = True
            elif isinstance(chunk, (bytes, bytearray, memoryview)):
                is_text = bool(text)
                async with self.send_context():
                    if is_text:
                        protocol.send_text(chunk, fin=False)
                    else:
                        protocol.send_binary(chunk, fin=False)
                encode = False
            else:
                raise TypeError(f"{kind} must contain bytes or str")

            while True:
                try:
                    chunk = await anext(chunks) if asynchronous else next(chunks)
                except (StopIteration, StopAsyncIteration):
                    break
                if encode:
                    if not isinstance(chunk, str):
                        raise TypeError(f"{kind} must contain uniform types")
                    chunk = chunk.encode()
                elif not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise TypeError(f"{kind} must contain uniform types")
                async with self.send_context():
                    protocol.send_continuation(chunk, fin=False)

            async with self.send_context():
                protocol.send_continuation(b"", fin=True)

        except TypeError:
            # A message half sent can't be finished: fail the connection (RFC 6455 §7.1.7).
            async with self.send_context():
                protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise

        except Exception:
            # The connection is left unusable; same as above, unless it's closed already.
            if protocol.state is OPEN:
                async with self.send_context():
                    protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise

        finally:
            self.send_in_progress.set_result(None)
            self.send_in_progress = None

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake, then wait until the connection is closed.

        :meth:`close` is idempotent: it doesn't do anything once the connection is closed.
        It waits for the other end to complete the handshake and close the TCP connection,
        at most ``close_timeout`` seconds, then closes the TCP connection itself.
        """
        # The peer broke the protocol already: that failure is how the connection ends.
        self._fail_pending()
        try:
            async with self.send_context():
                if self.send_in_progress is not None:
                    self.protocol.fail(
                        CloseCode.INTERNAL_ERROR, "close during fragmented message"
                    )
                else:
                    self.protocol.send_close(code, reason)
        except ConnectionClosed:
            # Ignore ConnectionClosed exceptions raised from send_context(): they mean
            # that the connection is closed, which was the goal.
            pass

    async def wait_closed(self) -> None:
        """Wait until the connection is closed, without closing it."""
        # Nothing more will be received: fail now for an invalid frame held back.
        self._fail_pending()
        self._awaiting_close += 1
        try:
            await asyncio.shield(self.connection_lost_waiter)
        finally:
            self._awaiting_close -= 1

    async def ping(self, data: Data | None = None) -> Awaitable[float]:
        """Send a ping (RFC 6455 §5.5.2).

        Return an awaitable that completes with the latency, in seconds, when the matching
        pong arrives. A random payload is used when ``data`` is :obj:`None`.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If another ping was sent with the same data and the
                corresponding pong wasn't received yet.
        """
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        elif data is not None:
            raise TypeError("data must be str or bytes-like")

        async with self.send_context():
            if data in self.pending_pings:
                raise ConcurrencyError(
                    "already waiting for a pong with the same data", operation="ping"
                )
            while data is None or data in self.pending_pings:
                data = struct.pack("!I", random.getrandbits(32))
            pong_received = self.loop.create_future()
            # The event loop's default clock is time.monotonic(); its resolution is a
            # bit low on Windows (~16ms), fine for measuring latency.
            self.pending_pings[data] = (pong_received, self.loop.time())
            self.protocol.send_ping(data)
            return pong_received

    async def pong(self, data: Data = b"") -> None:
        """Send a pong (RFC 6455 §5.5.3): an unsolicited one serves as a keepalive.

        Raises:
            ConnectionClosed: When the connection is closed.
        """
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        else:
            raise TypeError("data must be str or bytes-like")
        async with self.send_context():
            self.protocol.send_pong(data)

    # Private methods.

    def _closed_exc(self, operation: str) -> ConnectionClosed:
        return self.protocol.closed_exception(operation, self.recv_exc)

    async def _write_failed(self, exc: Exception) -> None:
        """The transport refused a frame of send()'s hot path: as in send_context(), close
        the connection and raise ConnectionClosed, chained to ``exc``."""
        if self.debug:
            self.logger.debug("! error while sending data", exc_info=True)
        if self.recv_exc is None:
            self.recv_exc = exc
        self.transport.abort()
        await asyncio.shield(self.connection_lost_waiter)
        raise self._closed_exc("send")

    def _acknowledge_pings(self, data: bytes) -> None:
        """Complete the ping matching this pong and every ping sent before it."""
        if data not in self.pending_pings:
            return
        pong_timestamp = self.loop.time()
        # Pongs may answer several pings at once (RFC 6455 §5.5.3): all earlier ones are
        # acknowledged too.
        acknowledged = []
        for ping_id, (pong_received, ping_timestamp) in self.pending_pings.items():
            acknowledged.append(ping_id)
            latency = pong_timestamp - ping_timestamp
            if not pong_received.done():
                pong_received.set_result(latency)
            if ping_id == data:
                self.latency = latency
                break
        for ping_id in acknowledged:
            del self.pending_pings[ping_id]

    def _abort_pings(self) -> None:
        """Fail pending pings once the connection is closed."""
        exc = self._closed_exc("ping")
        for pong_received, _ping_timestamp in self.pending_pings.values():
            if not pong_received.done():
                pong_received.set_exception(exc)
                # Nobody may await it any more: mark the exception as retrieved, or asyncio
                # logs it when the future is collected.
                pong_received.exception()
            # A waiter cancelled by its awaiter (a timeout) needs nothing.
        self.pending_pings.clear()

    def start_keepalive(self) -> None:
        """Run :meth:`keepalive` in a task, unless keepalive is disabled."""
        if self.ping_interval is not None:
            self.keepalive_task = self.loop.create_task(self.keepalive())

    async def keepalive(self) -> None:
        """Send a ping every ``ping_interval`` seconds; fail the connection with 1011 when a
        pong doesn't come back within ``ping_timeout`` seconds."""
        assert self.ping_interval is not None
        latency = 0.0
        try:
            while True:
                # If self.ping_timeout > latency > self.ping_interval, pings are sent
                # immediately after receiving pongs: that's fine.
                await asyncio.sleep(self.ping_interval - latency)
                pong_received = await self.ping()
                if self.debug:
                    self.logger.debug("% sent keepalive ping")
                if self.ping_timeout is not None:
                    try:
                        async with asyncio_timeout(self.ping_timeout):
                            latency = await pong_received
                        if self.debug:
                            self.logger.debug("% received keepalive pong")
                    except TimeoutError:
                        if self.debug:
                            self.logger.debug("- timed out waiting for keepalive pong")
                        try:
                            async with self.send_context():
                                self.protocol.fail(
                                    CloseCode.INTERNAL_ERROR, "keepalive ping timeout"
                                )
                        except ConnectionClosed:
                            # Python 3.10: the close timeout's timer and connection_lost()
                            # cancel this task in the same loop iteration, and the shim
                            # for asyncio.timeout (no cancellation counts before 3.11)
                            # reads both as its own timeout: the connection is closed.
                            return
                        raise AssertionError(
                            "send_context() should wait for connection_lost(), "
                            "which cancels keepalive()"
                        ) from None
        except Exception:
            self.logger.error("keepalive ping failed", exc_info=True)

    @property
    def debug(self) -> bool:
        return self.protocol.debug

    def send_context(self, *, expected_state: State = OPEN) -> _SendContext:
        """Context for writing to the connection from user code.

        On entry it checks the connection's state; on exit it writes what the protocol
        queued and applies flow control. When the connection isn't in ``expected_state``,
        when it's expected to close, or when writing fails, it waits until the connection is
        closed (at most until the close deadline) and raises
        :exc:`~wsfast.exceptions.ConnectionClosed`.
        """
        return _SendContext(self, expected_state)

    def _send_pending(self) -> None:
        """Write what the protocol queued to the transport; SEND_EOF half-closes it."""
        protocol = self.protocol
        writes = protocol.data_to_send()
        transport = self.transport
        for data in writes:
            if data:
                transport.write(data)
            else:
                # Half-close the TCP connection when possible, else close it (TLS).
                if transport.can_write_eof():
                    if self.debug:
                        self.logger.debug("x half-closing TCP connection")
                    # write_eof() doesn't document which exceptions it raises; OSError
                    # is plausible, and can't happen when the transport is closing.
                    try:
                        transport.write_eof()
                    except OSError:  # pragma: no cover
                        pass
                else:
                    if self.debug:
                        self.logger.debug("x closing TCP connection")
                    transport.close()
        if writes and protocol.close_expected():
            self._set_close_deadline()
        if self._frame_reader is not None and not protocol.direct_receive:
            # The connection failed on our side (send(), close(), keepalive): incoming
            # data goes to the protocol, which discards it until EOF (RFC 6455 §7.1.7).
            self._frame_reader = None

    def _set_close_deadline(self) -> None:
        """Close the TCP connection if the peer doesn't within ``close_timeout``."""
        if self.close_deadline is None and self.close_timeout is not None:
            self.close_deadline = self.loop.time() + self.close_timeout
        if self._close_timer is None and self.close_deadline is not None:
            self._close_timer = self.loop.call_at(self.close_deadline, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if not self.connection_lost_waiter.done():
            if self.debug:
                self.logger.debug("x timed out waiting for TCP close")
            self.transport.abort()

    async def drain(self) -> None:
        """Wait until the write buffer drains below the low watermark."""
        if self.paused:
            waiter = self.loop.create_future()
            self.drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                self.drain_waiters.remove(waiter)
        # Raise the error the transport ran into, if any.
        if self.connection_lost_waiter.done() and self.recv_exc is not None:
            raise self.recv_exc

    # Receiving.

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.protocol.pending_error is None:
            self._reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _start_direct_receive(self) -> None:
        """Once the connection is open, bytes go straight to the frame reader."""
        protocol = self.protocol
        events = protocol.events_received()
        if events:
            self._process_frames(events)
        # Unless the handshake's trailing frames already closed or failed the connection.
        if protocol.state is OPEN and (protocol.frame_reader is None or protocol.direct_receive):
            self._frame_reader = protocol.start_direct_receive()
            # What came with the handshake, as ConnectionCore.buffer_updated() takes a read.
            self._receive_messages(self._frame_reader)
        self._after_receive()

    def _defer_failure(self) -> None:
        """Fail the connection for an invalid frame once the application has had the
        messages that came before it.

        RFC 6455 §7.1.7 says to fail the connection, not to lose what preceded the error:
        an application that answers each message (an echo) gets to answer those first.
        The failure happens when recv() finds nothing more to return, when the application
        calls close() or wait_closed(), or after close_timeout, whichever comes first.
        Nothing more is read meanwhile.
        """
        if self._awaiting_close:
            self._fail_pending()
            return
        self._pause_reading()
        self.recv_messages.end_valid(self._fail_pending)
        if self.close_timeout is not None and self._failure_timer is None:
            self._failure_timer = self.loop.call_later(self.close_timeout, self._fail_pending)

    def _fail_pending(self) -> None:
        if self._failure_timer is not None:
            self._failure_timer.cancel()
            self._failure_timer = None
        protocol = self.protocol
        if protocol.pending_error is None:
            return
        protocol.fail_pending()
        self._after_receive()
        # Read on, so that the protocol sees the peer close the TCP connection.
        self._resume_reading()

    def _process_frames(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Frame):
                self._process_frame(event)

    def _process_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY or opcode is CONT:
            self.recv_messages.put(frame)
        elif opcode is PONG:
            self._acknowledge_pings(bytes(frame.data))
        elif opcode is CLOSE:
            # The peer started or finished the closing handshake: the TCP connection
            # should close soon (RFC 6455 §7.1.1).
            self._set_close_deadline()

    def _after_receive(self) -> None:
        protocol = self.protocol
        if protocol.writes:
            try:
                self._send_pending()
            except Exception as exc:
                if self.debug:
                    self.logger.debug("! error while sending data", exc_info=True)
                self.recv_exc = exc
                self.transport.abort()
                return
        if self._frame_reader is not None and not protocol.direct_receive:
            # A close frame arrived or the connection failed: from now on, incoming data
            # goes to the protocol, which discards it (RFC 6455 §1.4, §7.1.7).
            self._frame_reader = None
        if protocol.close_expected():
            self._set_close_deadline()

    # asyncio.BufferedProtocol methods.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)
        self._tls = transport.get_extra_info("ssl_object") is not None
        transport.set_write_buffer_limits(self._write_high, self._write_low)
        if self.protocol.state is OPEN:
            # Built directly on an open protocol (a custom transport): there is no opening
            # handshake to wait for, so receiving starts now, as in websockets.
            self._start_direct_receive()

    def connection_lost(self, exc: Exception | None) -> None:
        # Calling protocol.receive_eof() is safe: it's idempotent.
        self.protocol.receive_eof()
        self.protocol.data_to_send()  # nothing can be written anymore
        if exc is not None and self.recv_exc is None:
            self.recv_exc = exc
        self._frame_reader = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._failure_timer is not None:
            self._failure_timer.cancel()
            self._failure_timer = None

        # Abort recv() and pending pings with a ConnectionClosed exception.
        self.recv_messages.close()
        self._abort_pings()

        if self.keepalive_task is not None:
            self.keepalive_task.cancel()

        # If self.connection_lost_waiter isn't pending, that's a bug, because:
        # - it's set only here in connection_lost() which is called only once;
        # - it must never be canceled.
        self.connection_lost_waiter.set_result(None)

        # Adapted from asyncio.streams.FlowControlMixin
        if self.paused:
            self.paused = False
            for waiter in self.drain_waiters:
                if not waiter.done():
                    if exc is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(exc)

    def pause_writing(self) -> None:
        assert not self.paused
        self.paused = True
        # The peer isn't reading: answer its pings with one pong once it does, so that a
        # ping flood can't fill the write buffer (RFC 6455 §5.5.3).
        self.protocol.hold_pongs = True

    def resume_writing(self) -> None:
        assert self.paused
        self.paused = False
        protocol = self.protocol
        protocol.release_pong()
        if protocol.writes:
            self._send_pending()
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def process_handshake_events(self) -> None:
        """Handle events from the protocol while the connection isn't receiving directly.

        Overridden by the client and the server for the opening handshake.
        """
        self._process_frames(self.protocol.events_received())
        self._after_receive()

    def eof_received(self) -> None:
        # Feed the end of the data stream to the protocol; it can only answer with EOF.
        self.protocol.receive_eof()
        self._process_frames(self.protocol.events_received())
        self._frame_reader = None
        self._send_pending()
        # Endpoints close the TCP connection after the closing handshake: never write after
        # receiving EOF. Returning None lets the transport close itself; that also works
        # for TLS, which can't half-close.


class _SendContext:
    """What :meth:`Connection.send_context` returns: an async context manager."""

    __slots__ = ("connection", "expected_state", "raise_close_exc", "wait_for_close")

    def __init__(self, connection: Connection, expected_state: State) -> None:
        self.connection = connection
        self.expected_state = expected_state
        self.wait_for_close = False
        self.raise_close_exc = False

    async def __aenter__(self) -> None:
        connection = self.connection
        if connection.protocol.state is not self.expected_state:
            # The connection is closing or closed: wait until it's closed, then raise.
            self.wait_for_close = True
            self.raise_close_exc = True
            await self._finish(None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self.connection
        if exc_value is not None:
            if isinstance(exc_value, (ProtocolError, ConcurrencyError, ConnectionClosed)):
                return
            if not isinstance(exc_value, Exception):
                return  # cancellation and friends propagate as they are
            connection.logger.error("unexpected internal error", exc_info=True)
            self.raise_close_exc = True
            if connection.recv_exc is None:
                connection.recv_exc = exc_value
            await self._finish(exc_value)
            return
        if connection.protocol.close_expected():
            self.wait_for_close = True
        try:
            connection._send_pending()
            if connection.paused:
                await connection.drain()
        except Exception as exc:
            if connection.debug:
                connection.logger.debug("! error while sending data", exc_info=True)
            self.wait_for_close = False
            self.raise_close_exc = True
            if connection.recv_exc is None:
                connection.recv_exc = exc
        await self._finish(None)

    async def _finish(self, original_exc: BaseException | None) -> None:
        connection = self.connection
        if self.wait_for_close:
            if connection.close_deadline is None and connection.close_timeout is not None:
                connection.close_deadline = connection.loop.time() + connection.close_timeout
            try:
                async with asyncio_timeout_at(connection.close_deadline):
                    await asyncio.shield(connection.connection_lost_waiter)
            except TimeoutError:
                # The peer didn't close the connection in time: close it ourselves.
                self.raise_close_exc = True
                if connection.recv_exc is None:
                    connection.recv_exc = TimeoutError("timed out while closing connection")
        if self.raise_close_exc:
            connection.transport.abort()
            await asyncio.shield(connection.connection_lost_waiter)
            # Chained to what broke the connection first (recv_exc), as in websockets: the
            # write that failed, the unexpected error, the close timeout.
            raise connection._closed_exc("send")


def broadcast(
    connections: Iterable[Connection],
    message: Data | bytearray | memoryview,
    *,
    text: bool | None = None,
    raise_exceptions: bool = False,
) -> None:
    """Broadcast a message to several WebSocket connections.

    A :class:`str` goes out as a text frame, bytes-like objects as a binary frame; ``text``
    overrides that. The message is written without waiting for any connection: a
    connection whose write buffer is over its limit is skipped rather than slowing down the
    others, and so are connections that aren't open or are sending a fragmented message.

    Raises:
        TypeError: If ``message`` doesn't have a supported type.
        ExceptionGroup: With ``raise_exceptions``, the errors from each connection.
    """
    if isinstance(message, str):
        send_method = "send_binary" if text is False else "send_text"
        message = message.encode()
    elif isinstance(message, (bytes, bytearray, memoryview)):
        send_method = "send_text" if text else "send_binary"
    else:
        raise TypeError("data must be str or bytes")

    if raise_exceptions:
        exceptions: list[Exception] = []

    for connection in connections:
        exception: Exception

        if connection.protocol.state is not OPEN:
            continue

        if connection.send_in_progress is not None:
            if raise_exceptions:
                exception = ConcurrencyError("sending a fragmented message")
                exceptions.append(exception)
            else:
                connection.logger.warning(
                    "skipped broadcast: sending a fragmented message",
                )
            continue

        if connection.paused:
            if raise_exceptions:
                exception = ConcurrencyError("write buffer is full")
                exceptions.append(exception)
            else:
                connection.logger.warning("skipped broadcast: write buffer is full")
            continue

        try:
            getattr(connection.protocol, send_method)(message)
            connection._send_pending()
        except Exception as write_exception:
            if raise_exceptions:
                exception = RuntimeError("failed to write message")
                exception.__cause__ = write_exception
                exceptions.append(exception)
            else:
                connection.logger.warning(
                    "skipped broadcast: failed to write message: %s",
                    f"{type(write_exception).__name__}: {write_exception}",
                )

    if raise_exceptions and exceptions:
        raise ExceptionGroup("skipped broadcast", exceptions)

