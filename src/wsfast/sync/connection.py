"""The threading connection shared by client and server: a thin layer over the Sans-I/O core.

One thread per connection reads the socket, for as long as the connection lives: it answers
pings and close frames while the application isn't receiving, as RFC 6455 §5.5 expects. It
reads straight into the extension's frame reader (``recv_into`` a buffer the reader hands
out, or, for a large frame, into the final payload object) and takes complete messages out
with one ``read_messages()`` call per read, as the asyncio layer does. Threads that send hold
one mutex around the protocol and the socket, so that frames leave in the order they were
made (RFC 6455 §5.4).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import random
import select
import socket
import struct
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from ..asyncio.compatibility import ExceptionGroup
from .._connection_attributes import ProtocolAttributes
from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedOK,
    ProtocolError,
    TooManyFragments,
)
from ..frames import BINARY, CONT, PONG, TEXT, CloseCode, Frame
from ..http11 import Request, Response
from ..protocol import OPEN, Event, Protocol, State
from ..typing import Data, LoggerLike
from .messages import Assembler
from .utils import Deadline

__all__ = ["Connection", "broadcast"]

_BYTES_LIKE = (bytes, bytearray, memoryview)


class Connection(ProtocolAttributes):
    """:mod:`threading` implementation of a WebSocket connection.

    :class:`Connection` provides APIs shared between WebSocket servers and clients. You
    shouldn't use it directly: use :class:`~wsfast.sync.client.ClientConnection` or
    :class:`~wsfast.sync.server.ServerConnection`.
    """

    recv_bufsize = 65536

    def __init__(
        self,
        sock: socket.socket,
        protocol: Protocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
    ) -> None:
        self.socket = sock
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        if isinstance(max_queue, int) or max_queue is None:
            max_queue_high, max_queue_low = max_queue, None
        else:
            max_queue_high, max_queue_low = max_queue
        self.max_queue = max_queue

        # Frames that come with the handshake go to receive_messages() too, which holds
        # back an error until the messages before it are taken (see _defer_failure()).
        protocol.defer_trailing_frames = True

        # Inject reference to this instance in the protocol's logger.
        self.protocol.logger = logging.LoggerAdapter(
            self.protocol.logger, {"websocket": self}
        )
        self.id: uuid.UUID = protocol.id
        """Unique identifier of the connection. Useful in logs."""
        self.logger: LoggerLike = protocol.logger
        """Logger for this connection."""
        self.debug = protocol.debug

        self.request: Request | None = None
        """Opening handshake request."""
        self.response: Response | None = None
        """Opening handshake response."""

        # Serializes everything that touches the protocol or writes to the socket.
        self.protocol_mutex = threading.Lock()

        # Held while the queue of messages is full: the reading thread waits on it. The
        # assembler acquires it in the reading thread and a consumer releases it.
        self.recv_flow_control = threading.Lock()
        self.recv_messages = Assembler(
            max_queue_high,
            max_queue_low,
            pause=self.recv_flow_control.acquire,
            resume=self.recv_flow_control.release,
        )

        # Deadline for the closing handshake.
        self.close_deadline: Deadline | None = None

        # Set when the connection must fail for an error held back behind messages the
        # application hasn't taken yet; see _defer_failure().
        self.failure_due = threading.Event()
        # How many threads wait in wait_closed(): they don't expect more messages. A lock of
        # its own: the protocol mutex may be held by a thread blocked in a send.
        self._awaiting_close = 0
        self._awaiting_close_lock = threading.Lock()

        # Whether a fragmented message is being sent.
        self.send_in_progress = False

        # Mapping of ping IDs to pong waiters, in chronological order.
        self.pending_pings: dict[bytes, tuple[threading.Event, float, bool]] = {}

        self.latency: float = 0.0
        """Latency of the connection, in seconds: the round trip of the last ping."""

        self.keepalive_thread: threading.Thread | None = None

        # Exception that made the connection drop, chained to ConnectionClosed.
        self.connection_exc: BaseException | None = None

        # Reads the socket once the opening handshake is done. A daemon thread, so that a
        # connection left open doesn't keep the interpreter alive.
        self.recv_events_thread = threading.Thread(target=self.recv_events, daemon=True)
        if protocol.state is OPEN:
            # Built directly on an open protocol (a custom transport): there is no opening
            # handshake to read, so the reading thread starts now, as in websockets.
            self.start_receiving()

    # Public attributes.

    @property
    def local_address(self) -> Any:
        """Local address of the connection: ``(host, port)`` for IPv4, a path for Unix."""
        return self.socket.getsockname()

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection."""
        return self.socket.getpeername()

    # Public methods.

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    def __iter__(self) -> Iterator[Data]:
        """Iterate on incoming messages until the connection closes.

        Exits normally on a clean close (1000, 1001, or no code); raises
        :exc:`~wsfast.exceptions.ConnectionClosedError` otherwise.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    def recv(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Receive the next message.

        Return a :class:`str` for a text frame and :class:`bytes` for a binary frame;
        ``decode=False`` returns text as bytes, ``decode=True`` decodes binary as UTF-8.
        With a ``timeout``, wait at most that many seconds for a whole message, then raise
        :exc:`TimeoutError`; zero or less only returns a message received already.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two threads call :meth:`recv` or :meth:`recv_streaming`
                concurrently.
            TimeoutError: If ``timeout`` elapsed first.
        """
        self.maybe_raise_legacy_warning()
        try:
            return self.recv_messages.get(timeout, decode)
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv while another thread "
                "is already running recv or recv_streaming",
                operation="recv",
            ) from None
        except UnicodeDecodeError as exc:
            self._fail_invalid_utf8(exc)
        except TooManyFragments as exc:
            self._fail_for_receiving(exc, CloseCode.MESSAGE_TOO_BIG, str(exc))
        # The connection is closing: wait until it's closed to know the close code.
        self._join_recv_thread()
        raise self._closed_exc("recv")

    def recv_streaming(self, decode: bool | None = None) -> Iterator[Data]:
        """Receive the next message frame by frame.

        Text is decoded incrementally: a character split across frames comes out whole.
        The iterator must be consumed fully; else the next :meth:`recv` raises
        :exc:`~wsfast.exceptions.ConcurrencyError`.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two threads call :meth:`recv` or :meth:`recv_streaming`
                concurrently.
        """
        self.maybe_raise_legacy_warning()
        try:
            yield from self.recv_messages.get_iter(decode)
            return
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv_streaming while another thread "
                "is already running recv or recv_streaming",
                operation="recv",
            ) from None
        except UnicodeDecodeError as exc:
            self._fail_invalid_utf8(exc)
        self._join_recv_thread()
        raise self._closed_exc("recv")

    def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data | bytearray | memoryview],
        *,
        text: bool | None = None,
    ) -> None:
        """Send a message.

        A :class:`str` is sent as a text frame, bytes-like objects as a binary frame;
        ``text`` overrides that. An iterable of those is sent as a fragmented message,
        one frame per item, all of the same type. :meth:`send` returns once the frame is
        handed to the kernel: a peer that doesn't read makes it wait.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If another thread is sending a fragmented message.
            TypeError: If ``message`` doesn't have a supported type.
        """
        self.maybe_raise_legacy_warning()
        protocol = self.protocol
        data: Any
        if isinstance(message, str):
            data, as_text = message.encode(), text is not False
        elif isinstance(message, _BYTES_LIKE):
            data, as_text = message, bool(text)
        elif isinstance(message, Mapping):
            # Iterating a dict sends its keys: almost certainly not what was meant.
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            self._send_fragments(iter(message), text)
            return
        else:
            raise TypeError("data must be str, bytes, or iterable")

        # The hot path: one frame straight to the socket, as in the asyncio layer, when the
        # connection is open and nobody sends a fragmented message.
        failed: Exception | None = None
        with self.protocol_mutex:
            if not self.send_in_progress:
                frame = protocol.message_frame(TEXT if as_text else BINARY, data)
                if frame is not None:
                    try:
                        self.socket.sendall(frame)
                        return
                    except Exception as exc:
                        failed = exc
                        self.set_connection_exc(exc)
        if failed is not None:
            if self.debug:
                self.logger.debug("! error while sending data", exc_info=failed)
            self._abort_and_raise("send", failed)
        # Closing, closed, a fragmented message in progress, or debug logging: send_context()
        # and the protocol's queue.
        with self.send_context():
            self._check_no_fragmented_send()
            if as_text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)

    def _check_no_fragmented_send(self) -> None:
        if self.send_in_progress:
            raise ConcurrencyError(
                "cannot call send while another thread is already running send",
                operation="send",
            )

    def _send_fragments(self, chunks: Iterator[Any], text: bool | None) -> None:
        """Send a fragmented message, one frame per chunk (RFC 6455 §5.4)."""
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        protocol = self.protocol
        try:
            if isinstance(chunk, str):
                with self.send_context():
                    self._check_no_fragmented_send()
                    self.send_in_progress = True
                    if text is False:
                        protocol.send_binary(chunk.encode(), fin=False)
                    else:
                        protocol.send_text(chunk.encode(), fin=False)
                encode = True
            elif isinstance(chunk, _BYTES_LIKE):
                with self.send_context():
                    self._check_no_fragmented_send()
                    self.send_in_progress = True
                    if text:
                        protocol.send_text(chunk, fin=False)
                    else:
                        protocol.send_binary(chunk, fin=False)
                encode = False
            else:
                raise TypeError("iterable must contain bytes or str")

            data: Data | bytearray | memoryview
            for chunk in chunks:
                if encode and isinstance(chunk, str):
                    data = chunk.encode()
                elif not encode and isinstance(chunk, _BYTES_LIKE):
                    data = chunk
                else:
                    raise TypeError("iterable must contain uniform types")
                with self.send_context():
                    protocol.send_continuation(data, fin=False)

            with self.send_context():
                protocol.send_continuation(b"", fin=True)
                self.send_in_progress = False

        except ConcurrencyError:
            # Nothing was sent: the connection is still usable.
            raise

        except Exception:
            # A message half sent can't be finished: fail the connection (RFC 6455 §7.1.7).
            with self.send_context():
                protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake, then wait until the connection is closed.

        :meth:`close` is idempotent. It waits for the other end to complete the handshake
        and close the TCP connection, at most ``close_timeout`` seconds, then closes the
        TCP connection itself.
        """
        self.maybe_raise_legacy_warning()
        # The peer broke the protocol already: that failure is how the connection ends.
        self._fail_pending()
        try:
            with self.send_context(lock_timeout=self.close_timeout):
                if self.send_in_progress:
                    self.protocol.fail(
                        CloseCode.INTERNAL_ERROR, "close during fragmented message"
                    )
                else:
                    self.protocol.send_close(code, reason)
        except ConnectionClosed:
            # Raised by send_context() when the connection is closed: that was the goal.
            pass

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is closed; return whether it is.

        Returns :obj:`False` if ``timeout`` elapses first.
        """
        # Nothing more will be received: fail now for an invalid frame held back.
        with self._awaiting_close_lock:
            self._awaiting_close += 1
        try:
            self._fail_pending()
            self._join_recv_thread(timeout)
        finally:
            with self._awaiting_close_lock:
                self._awaiting_close -= 1
        return not self.recv_events_thread.is_alive()

    def ping(self, data: Data | None = None, *, ack_on_close: bool = False) -> threading.Event:
        """Send a ping (RFC 6455 §5.5.2).

        Return an event that is set when the matching pong arrives (and, with
        ``ack_on_close``, when the connection closes: check :attr:`state` then). A random
        payload is used when ``data`` is :obj:`None`.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If another ping was sent with the same data and the
                corresponding pong wasn't received yet.
        """
        self.maybe_raise_legacy_warning()
        if isinstance(data, _BYTES_LIKE):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        elif data is not None:
            raise TypeError("data must be str or bytes-like")

        with self.send_context():
            if data in self.pending_pings:
                raise ConcurrencyError(
                    "already waiting for a pong with the same data", operation="ping"
                )
            while data is None or data in self.pending_pings:
                data = struct.pack("!I", random.getrandbits(32))
            pong_received = threading.Event()
            self.pending_pings[data] = (pong_received, time.monotonic(), ack_on_close)
            self.protocol.send_ping(data)
            return pong_received

    def pong(self, data: Data = b"") -> None:
        """Send a pong (RFC 6455 §5.5.3): an unsolicited one serves as a keepalive.

        Raises:
            ConnectionClosed: When the connection is closed.
        """
        self.maybe_raise_legacy_warning()
        if isinstance(data, _BYTES_LIKE):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        else:
            raise TypeError("data must be str or bytes-like")
        with self.send_context():
            self.protocol.send_pong(data)

    # Private methods.

    def maybe_raise_legacy_warning(self) -> None:
        """Overridden by the client, whose ``connect()`` may be used without ``with``."""

    def _fail_invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        # decode=True on a binary message that isn't UTF-8 (RFC 6455 §8.1 asks to fail).
        self._fail_for_receiving(
            exc, CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}"
        )

    def _fail_for_receiving(self, exc: Exception, code: int, reason: str) -> None:
        """Fail the connection for what recv() found wrong in a message."""
        with self.protocol_mutex:
            self.set_connection_exc(exc)
        try:
            with self.send_context():
                self.protocol.fail(code, reason)
        except ConnectionClosed:
            pass

    def _closed_exc(self, operation: str) -> ConnectionClosed:
        return self.protocol.closed_exception(operation, self.connection_exc)

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception that says how the connection closed."""
        return self._closed_exc("recv")

    def set_connection_exc(self, exc: BaseException | None) -> None:
        """Keep the first exception that broke the connection; hold protocol_mutex."""
        if self.connection_exc is None:
            self.connection_exc = exc

    def process_event(self, event: Event) -> None:
        """Handle a frame that the reader returned as a :class:`Frame`.

        Data frames of fragmented messages go to the queue; pongs complete pings. The
        protocol answered pings and close frames already.
        """
        if not isinstance(event, Frame):
            return
        opcode = event.opcode
        if opcode is TEXT or opcode is BINARY or opcode is CONT:
            self.recv_messages.put(event)
        elif opcode is PONG:
            self.acknowledge_pings(bytes(event.data))

    def acknowledge_pings(self, data: bytes) -> None:
        """Complete the ping matching this pong and every ping sent before it."""
        with self.protocol_mutex:
            if data not in self.pending_pings:
                return
            pong_timestamp = time.monotonic()
            # A pong may answer several pings at once (RFC 6455 §5.5.3): earlier ones are
            # acknowledged too.
            acknowledged = []
            for ping_id, (pong_received, ping_timestamp, _ack_on_close) in (
                self.pending_pings.items()
            ):
                acknowledged.append(ping_id)
                pong_received.set()
                if ping_id == data:
                    self.latency = pong_timestamp - ping_timestamp
                    break
            for ping_id in acknowledged:
                del self.pending_pings[ping_id]

    def terminate_pending_pings(self) -> None:
        """Once the connection is closed, set the events of pings sent with ack_on_close."""
        for pong_received, _ping_timestamp, ack_on_close in self.pending_pings.values():
            if ack_on_close:
                pong_received.set()
        self.pending_pings.clear()

    def keepalive(self) -> None:
        """Send a ping every ``ping_interval`` seconds; fail the connection with 1011 when a
        pong doesn't come back within ``ping_timeout`` seconds."""
        assert self.ping_interval is not None
        if self.recv_events_thread.ident is None:
            return  # the connection never opened: nothing to keep alive
        try:
            while True:
                # If ping_timeout > latency > ping_interval, pings leave right after pongs.
                self.recv_events_thread.join(self.ping_interval - self.latency)
                if not self.recv_events_thread.is_alive():
                    break
                try:
                    pong_received = self.ping(ack_on_close=True)
                except ConnectionClosed:
                    break
                if self.debug:
                    self.logger.debug("% sent keepalive ping")
                if self.ping_timeout is not None:
                    if pong_received.wait(self.ping_timeout):
                        if self.debug:
                            self.logger.debug("% received keepalive pong")
                    else:
                        if self.debug:
                            self.logger.debug("- timed out waiting for keepalive pong")
                        with contextlib.suppress(ConnectionClosed):
                            with self.send_context():
                                self.protocol.fail(
                                    CloseCode.INTERNAL_ERROR, "keepalive ping timeout"
                                )
                        break
        except Exception:
            self.logger.error("keepalive ping failed", exc_info=True)

    def start_keepalive(self) -> None:
        """Run :meth:`keepalive` in a thread, unless keepalive is disabled."""
        if self.ping_interval is not None:
            self.keepalive_thread = threading.Thread(target=self.keepalive, daemon=True)
            self.keepalive_thread.start()

    def _handshake_event(self, event: Event) -> bool:
        """Take the handshake's request or response; overridden by client and server."""
        raise NotImplementedError

    def _read_handshake(self, deadline: Deadline, timeout_message: str) -> list[Event]:
        """Read until the handshake's request or response arrives; return what follows it.

        Runs in the calling thread, before the reading thread starts. Stops early when the
        protocol gives up (a message it can't parse, which it answers itself) or at EOF.

        Raises:
            TimeoutError: If the deadline passes first.
        """
        protocol = self.protocol
        sock = self.socket
        try:
            while True:
                timeout = deadline.timeout(raise_if_elapsed=False)
                if timeout is not None and timeout <= 0:
                    raise TimeoutError(timeout_message)
                sock.settimeout(timeout)
                try:
                    data = sock.recv(self.recv_bufsize)
                except socket.timeout:
                    raise TimeoutError(timeout_message) from None
                except ConnectionError:
                    # A reset is an end of stream to the handshake, as websockets reports
                    # it: InvalidMessage caused by EOFError.
                    data = b""
                with self.protocol_mutex:
                    if data:
                        protocol.receive_data(data)
                    else:
                        protocol.receive_eof()
                    events = protocol.events_received()
                    self.send_data()
                for index, event in enumerate(events):
                    if self._handshake_event(event):
                        return events[index + 1 :]
                if not data or protocol.handshake_exc is not None or protocol.close_expected():
                    return []
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(None)

    def start_receiving(self) -> None:
        """Start the thread that reads the socket, once the opening handshake is done."""
        if self.recv_events_thread.ident is None:  # not started by __init__ already
            self.recv_events_thread.start()

    def _join_recv_thread(self, timeout: float | None = None) -> None:
        thread = self.recv_events_thread
        if thread.ident is None:  # never started: the handshake failed
            return
        if thread is not threading.current_thread():
            thread.join(timeout)

    # Receiving: the reading thread.

    def recv_events(self) -> None:
        """Read the socket and process what arrives until the connection closes.

        Runs in :attr:`recv_events_thread`. Once the connection is open, bytes go straight
        to the frame reader; after a close frame or a failure, to the protocol, which
        discards them until the end of the stream (RFC 6455 §1.4, §7.1.7).
        """
        protocol = self.protocol
        sock = self.socket
        mutex = self.protocol_mutex
        messages = self.recv_messages
        deliver = self._deliver
        try:
            items: Any
            with mutex:
                reader = None
                if protocol.state is OPEN and (
                    protocol.frame_reader is None or protocol.direct_receive
                ):
                    # Frames that arrived with the handshake response come out first.
                    reader = protocol.start_direct_receive()
                    items = protocol.receive_messages(defer_error=True)
                else:
                    items = protocol.events_received()
                if not self._after_receive():
                    items = ()
            deliver(items)
            if protocol.pending_error is not None:
                self._defer_failure()

            while True:
                if messages.paused:
                    # The queue is full (max_queue): wait until the application catches up.
                    with self.recv_flow_control:
                        pass
                if reader is not None and not protocol.direct_receive:
                    # A close frame arrived or the connection failed: from now on, data
                    # only matters for finding the end of the stream.
                    reader = None
                if self.close_deadline is not None and not self._wait_readable():
                    with mutex:
                        self.set_connection_exc(
                            TimeoutError("timed out while closing connection")
                        )
                    break
                try:
                    if reader is not None:
                        nbytes = sock.recv_into(reader.get_buffer(-1))
                    else:
                        data = sock.recv(self.recv_bufsize)
                        nbytes = len(data)
                except Exception as exc:
                    if self.debug:
                        self.logger.debug("! error while receiving data", exc_info=True)
                    with mutex:
                        self.set_connection_exc(exc)
                    break
                if nbytes == 0:
                    break
                with mutex:
                    if reader is not None:
                        reader.buffer_updated(nbytes)
                        if protocol.direct_receive:
                            items = protocol.receive_messages(defer_error=True)
                        else:
                            # Failed by another thread while this one was reading.
                            items = ()
                    else:
                        protocol.receive_data(data)
                        items = protocol.events_received()
                    if not self._after_receive():
                        break
                if items:
                    # Outside the mutex, so that the application can answer meanwhile.
                    deliver(items)
                if protocol.pending_error is not None:
                    self._defer_failure()

            with mutex:
                # The end of the stream; the protocol can only answer with EOF.
                protocol.receive_eof()
                events = protocol.events_received()
                with contextlib.suppress(Exception):
                    self.send_data()
            self._deliver(events)

        except Exception as exc:
            # A safety net: nothing above is expected to raise.
            self.logger.error("unexpected internal error", exc_info=True)
            with mutex:
                self.set_connection_exc(exc)

        finally:
            self.close_socket()

    def _defer_failure(self) -> None:
        """Fail the connection for an invalid frame once the application has had the
        messages that came before it; runs in the reading thread.

        RFC 6455 §7.1.7 says to fail the connection, not to lose what preceded the error:
        an application that answers each message (an echo) gets to answer those first.
        The failure happens when recv() finds nothing more to return, when the application
        calls close() or wait_closed(), or after close_timeout, whichever comes first.
        Nothing more is read meanwhile.
        """
        if not self._awaiting_close:
            self.recv_messages.end_valid(self.failure_due.set)
            self.failure_due.wait(self.close_timeout)
        self._fail_pending()

    def _fail_pending(self) -> None:
        # Checked first without the mutex, which a thread blocked in a send may hold: only
        # the reading thread sets pending_error, and fail_pending() clears it.
        if self.protocol.pending_error is not None:
            with self.protocol_mutex:
                if self.protocol.pending_error is not None:
                    self.protocol.fail_pending()
                    self._after_receive()
        self.failure_due.set()

    def _deliver(self, items: Any) -> None:
        """Queue messages and handle frames, in the order they arrived."""
        put = self.recv_messages.put
        for item in items:
            cls = item.__class__
            if cls is str or cls is bytes:
                try:
                    put(item)
                except EOFError:  # the connection is being torn down
                    return
            else:
                self.process_event(item)

    def _after_receive(self) -> bool:
        """Write what the protocol answered and arm the close deadline; hold the mutex.

        Returns :obj:`False` if the socket broke.
        """
        protocol = self.protocol
        if protocol.writes:
            try:
                self.send_data()
            except Exception as exc:
                if self.debug:
                    self.logger.debug("! error while sending data", exc_info=True)
                self.set_connection_exc(exc)
                return False
        if protocol.close_expected() and self.close_deadline is None:
            self.close_deadline = Deadline(self.close_timeout)
        return True

    def _wait_readable(self) -> bool:
        """Once the connection is closing, wait for data until the close deadline.

        A peer that never closes the TCP connection mustn't hold the reading thread (RFC
        6455 §7.1.1 lets us close it). select() rather than a socket timeout: changing the
        timeout of a socket that another thread is using breaks that thread's TLS I/O.
        """
        deadline = self.close_deadline
        if deadline is None:
            return True
        timeout = deadline.timeout(raise_if_elapsed=False)
        if timeout is None:
            return True
        sock = self.socket
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():  # TLS bytes decrypted already
            return True
        try:
            readable, _, _ = select.select([sock], [], [], max(timeout, 0))
        except (OSError, ValueError):  # closed meanwhile: recv() will say how
            return True
        return bool(readable)

    # Sending.

    def send_data(self) -> None:
        """Write what the protocol queued; hold protocol_mutex."""
        for data in self.protocol.data_to_send():
            if data:
                self.socket.sendall(data)
            else:
                # The protocol sends EOF once nothing more is to be read but the end of the
                # stream (RFC 6455 §7.1.1); on TLS this drops the TLS layer, which is fine then.
                try:
                    self.socket.shutdown(socket.SHUT_WR)
                except OSError:  # the socket is closed already
                    pass

    @contextlib.contextmanager
    def send_context(
        self, *, expected_state: State = OPEN, lock_timeout: float | None = None
    ) -> Iterator[None]:
        """Hold the protocol mutex around protocol calls, then write what they queued.

        When the connection isn't in ``expected_state`` on entry, when it is expected to
        close on exit, or when writing fails, wait until it is closed (at most until the
        close deadline) and raise :exc:`~wsfast.exceptions.ConnectionClosed`. With a
        ``lock_timeout``, a mutex held that long by another thread (blocked writing to a
        peer that doesn't read) means: close the TCP connection and raise.
        """
        wait_for_close = False
        raise_close_exc = False
        original_exc: BaseException | None = None
        if not self.protocol_mutex.acquire(timeout=-1 if lock_timeout is None else lock_timeout):
            # RFC 6455 §7.1.1 lets an endpoint close the TCP connection when the closing
            # handshake can't complete; closing it also unblocks the writing thread.
            self._abort_and_raise("send", None)
        try:
            if self.protocol.state is expected_state:
                try:
                    yield
                except (ProtocolError, ConcurrencyError):
                    # The protocol state didn't change: nothing else to do.
                    raise
                except Exception as exc:
                    self.logger.error("unexpected internal error", exc_info=True)
                    raise_close_exc = True
                    original_exc = exc
                    self.set_connection_exc(exc)
                else:
                    if self.protocol.close_expected():
                        wait_for_close = True
                        if self.close_deadline is None:
                            self.close_deadline = Deadline(self.close_timeout)
                    try:
                        self.send_data()
                    except Exception as exc:
                        if self.debug:
                            self.logger.debug("! error while sending data", exc_info=True)
                        wait_for_close = False
                        raise_close_exc = True
                        self.set_connection_exc(exc)
            else:
                # The connection is closing or closed: wait until it's closed, then raise.
                wait_for_close = True
                if self.close_deadline is None:
                    self.close_deadline = Deadline(self.close_timeout)
                raise_close_exc = True
        finally:
            self.protocol_mutex.release()

        # Outside the mutex, or the reading thread couldn't finish the closing handshake.
        if wait_for_close:
            assert self.close_deadline is not None
            self._join_recv_thread(self.close_deadline.timeout(raise_if_elapsed=False))
            if self.recv_events_thread.is_alive():
                raise_close_exc = True
                with self.protocol_mutex:
                    self.set_connection_exc(TimeoutError("timed out while closing connection"))
        if raise_close_exc:
            self._abort_and_raise("send", original_exc)

    def _abort_and_raise(self, operation: str, original_exc: BaseException | None) -> None:
        self.close_socket()
        # Chained to what broke the connection first (connection_exc, which send_context()
        # sets to original_exc if nothing came before), as in websockets.
        raise self._closed_exc(operation)

    def close_socket(self) -> None:
        """Close the TCP connection and end the stream of messages. Idempotent.

        From another thread than the reading one, shuts the socket down, which wakes the
        reading thread, and waits for it: it closes the socket as it exits, so that no
        thread reads a file descriptor that was closed and reused meanwhile.
        """
        thread = self.recv_events_thread
        if thread.is_alive() and thread is not threading.current_thread():
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
            # Unblock the reading thread if the queue is full (max_queue) or if it waits for
            # the application before failing the connection.
            self.recv_messages.close()
            self.failure_due.set()
            thread.join()
            return
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.socket.close()
        with self.protocol_mutex:
            # Idempotent; makes the state CLOSED.
            self.protocol.receive_eof()
            self.protocol.data_to_send()  # nothing can be written anymore
            self.recv_messages.close()
            self.terminate_pending_pings()


def broadcast(
    connections: Iterable[Connection],
    message: Data | bytearray | memoryview,
    *,
    raise_exceptions: bool = False,
    text: bool | None = None,
    **kwargs: Any,
) -> None:
    """Broadcast a message to several WebSocket connections.

    A :class:`str` goes out as a text frame, bytes-like objects as a binary frame; ``text``
    overrides that. Writes run in a :class:`~concurrent.futures.ThreadPoolExecutor`
    (``kwargs`` configure it, e.g. ``max_workers``), so that one slow peer doesn't hold the
    others back. Connections that aren't open, or are sending a fragmented message, are
    skipped.

    Raises:
        TypeError: If ``message`` doesn't have a supported type.
        ExceptionGroup: With ``raise_exceptions``, the errors from each connection.
    """
    if isinstance(message, str):
        send_method = "send_binary" if text is False else "send_text"
        message = message.encode()
    elif isinstance(message, _BYTES_LIKE):
        send_method = "send_text" if text else "send_binary"
    else:
        raise TypeError("data must be str or bytes")

    exceptions: list[Exception] = []

    def send_message(connection: Connection) -> None:
        with connection.protocol_mutex:
            if connection.protocol.state is not OPEN:
                return
            if connection.send_in_progress:
                if raise_exceptions:
                    exceptions.append(ConcurrencyError("sending a fragmented message"))
                else:
                    connection.logger.warning("skipped broadcast: sending a fragmented message")
                return
            try:
                getattr(connection.protocol, send_method)(message)
                connection.send_data()
            except Exception as write_exception:
                if raise_exceptions:
                    exception = RuntimeError("failed to write message")
                    exception.__cause__ = write_exception
                    exceptions.append(exception)
                else:
                    connection.logger.warning(
                        "skipped broadcast: failed to write message: %s",
                        traceback.format_exception_only(write_exception)[0].strip(),
                    )

    with concurrent.futures.ThreadPoolExecutor(**kwargs) as executor:
        list(executor.map(send_message, connections))

    if raise_exceptions and exceptions:
        raise ExceptionGroup("skipped broadcast", exceptions)
