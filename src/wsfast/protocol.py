"""Sans-I/O WebSocket connection (RFC 6455), with the interface of ``websockets.protocol`` 17.x.

:class:`Protocol` turns bytes received from the network into events (:class:`~wsfast.frames.Frame`
objects, plus the handshake :class:`~wsfast.http11.Request` / :class:`~wsfast.http11.Response`
in the client and server subclasses) and calls to ``send_*()`` into bytes to write. It does no
I/O and keeps no timers: the I/O layer feeds :meth:`~Protocol.receive_data` /
:meth:`~Protocol.receive_eof`, drains :meth:`~Protocol.events_received` and
:meth:`~Protocol.data_to_send`, and applies its own close timeout when
:meth:`~Protocol.close_expected` says so.

Events, bytes written, close codes and reasons, state transitions and exceptions are those of
websockets 17.4, with these differences (docs/compatibility.md gives their reasons):

* Frames are read by :class:`wsfast.speedups.FrameReader`, which validates as the bytes arrive
  (header rules, masking direction, fragmentation order, size and fragment limits, and the
  UTF-8 of text messages across fragments). Invalid UTF-8 in a text message therefore fails the
  connection with 1007 as soon as the offending byte arrives (RFC 6455 §8.1), where websockets'
  Sans-I/O layer passes the frame on and leaves decoding to the I/O layer. The protocol never
  decodes text again.
* ``max_fragments`` limits the number of frames in one message (close code 1009).
* A 1007 close reason gives the absolute offset of the first invalid byte in the message
  (``InvalidUTF8.offset``), not the start of the sequence that contains it.
* Control frames are not charged to ``max_size``: RFC 6455 §5.5 bounds them at 125 bytes,
  whereas websockets rejects a ping larger than what is left of the message being received.
* A 64-bit payload length with its most significant bit set is a protocol error (1002, RFC
  6455 §5.2), where websockets reports the size (1009) or waits for the payload.
* Frames are parsed once the opening handshake completes: on the server, frames that the
  client sent right behind its request are processed by :meth:`send_response` (101), not
  while the request is still being considered.
* :attr:`Protocol.close_exc` is also an :exc:`~wsfast.exceptions.InvalidState` whose ``state`` is
  ``"CLOSED"`` (see :meth:`~wsfast.exceptions.ConnectionClosed.from_frames`), and
  :exc:`~wsfast.exceptions.InvalidState` raised by ``send_*()`` carries ``operation`` and
  ``state``.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Generator
from typing import Any

from . import speedups
from .exceptions import (
    ConnectionClosed,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from .extensions import Extension
from .frames import (
    BINARY,
    CLOSE,
    CONT,
    OK_CLOSE_CODES,  # noqa: F401 - importable from here, as from websockets.protocol
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
)
from .http11 import Request, Response
from .streams import StreamReader
from .typing import BytesLike, LoggerLike, Origin, Subprotocol

__all__ = [
    "Protocol",
    "Side",
    "State",
    "SEND_EOF",
]

Event = Request | Response | Frame
"""Events that :meth:`~Protocol.events_received` may return."""

# A close frame's payload is at most 125 bytes (RFC 6455 §5.5), two of which hold the code.
_MAX_CLOSE_REASON = 123


class Side(enum.IntEnum):
    """A WebSocket connection is either a server or a client."""

    SERVER, CLIENT = range(2)


SERVER = Side.SERVER
CLIENT = Side.CLIENT


class State(enum.IntEnum):
    """A WebSocket connection is in one of these four states (RFC 6455 §4.1, §7.1)."""

    CONNECTING, OPEN, CLOSING, CLOSED = range(4)


CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED


SEND_EOF = b""
"""Sentinel signaling that the TCP connection must be half-closed."""


def _truncate_reason(reason: str) -> str:
    """Shorten a close reason so that it fits in a close frame (RFC 6455 §5.5), on a
    character boundary."""
    encoded = reason.encode()
    if len(encoded) <= _MAX_CLOSE_REASON:
        return reason
    return encoded[:_MAX_CLOSE_REASON].decode(errors="ignore")


class Protocol:
    """Sans-I/O implementation of a WebSocket connection.

    Args:
        side: :attr:`~Side.CLIENT` or :attr:`~Side.SERVER`.
        state: Initial state of the WebSocket connection.
        max_size: Maximum size of incoming messages in bytes (after decompression).
            :obj:`None` disables the limit. A ``(max_message_size, max_fragment_size)``
            tuple also limits each frame, for long messages sent in short fragments.
        max_fragments: Maximum number of frames in one incoming message; :obj:`None`
            disables the limit.
        logger: Logger for this connection; depending on ``side``, defaults to
            ``logging.getLogger("websockets.client")`` or
            ``logging.getLogger("websockets.server")``, the names websockets uses, so that
            logging configured for websockets applies unchanged.
    """

    def __init__(
        self,
        side: Side,
        *,
        state: State = OPEN,
        max_size: tuple[int | None, int | None] | int | None = 2**20,
        max_fragments: int | None = None,
        logger: LoggerLike | None = None,
    ) -> None:
        self.id: uuid.UUID = uuid.uuid4()
        """Unique identifier of the connection. Useful in logs."""

        if logger is None:
            logger = logging.getLogger(f"websockets.{side.name.lower()}")
        self.logger: LoggerLike = logger
        """Logger for this connection."""

        # Checked once: formatting frames for DEBUG logs costs more than parsing them.
        self.debug = logger.isEnabledFor(logging.DEBUG)

        self.side = side

        # The subclasses start in CONNECTING and handle the opening handshake.
        self.state = state

        if max_size is None or isinstance(max_size, int):
            self.max_message_size, self.max_fragment_size = max_size, None
        else:
            self.max_message_size, self.max_fragment_size = max_size
        self.max_fragments = max_fragments

        # Size of the fragmented message being received, None between messages, as in
        # websockets. The frame reader enforces the limits; this only words the 1009 reason.
        self.current_size: int | None = None

        # True while sending a fragmented message, i.e. after a data frame without FIN.
        self.expect_continuation_frame = False

        # Parameters negotiated in the opening handshake.
        self.origin: Origin | None = None
        self._frame_writer: Any = None
        self.extensions = []
        self.subprotocol: Subprotocol | None = None

        # Close frames sent and received (RFC 6455 §7.1.5, §7.1.6) and their order.
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None

        self.handshake_exc: Exception | None = None
        """Exception to raise if the opening handshake failed; :obj:`None` if it succeeded."""

        self.eof_sent = False

        # Bytes received go to `reader` during the opening handshake and after the
        # connection is failed or closed; in between they go straight to `frame_reader`.
        self.reader = StreamReader()
        self.frame_reader: Any = None
        self._frames_direct = False

        self.events: list[Event] = []
        self.writes: list[bytes] = []
        self.parser = self.parse()
        next(self.parser)  # start the coroutine

        # Exception that stopped the parser; chained to close_exc.
        self.parser_exc: Exception | None = None

        # Set by an I/O layer while its peer isn't reading what it writes: pings are then
        # answered with one pong, for the latest, once release_pong() is called.
        self.hold_pongs = False
        self.held_pong: bytes | None = None

        # I/O layers that use start_direct_receive() set this: frames that arrive with the
        # opening handshake then wait in the frame reader for receive_messages(), which can
        # defer errors, instead of being parsed by receive_data().
        self.defer_trailing_frames = False

        # An error found after valid messages, held back by receive_messages(defer_error=True)
        # until the I/O layer calls fail_pending().
        self.pending_error: Exception | None = None

    @property
    def extensions(self) -> list[Extension]:
        """Extensions in use, negotiated in the opening handshake."""
        return self._extensions

    @extensions.setter
    def extensions(self, extensions: list[Extension]) -> None:
        self._extensions = extensions
        self._frame_writer = None  # built again, for the new extensions, at the next send

    @property
    def state(self) -> State:
        """State of the WebSocket connection (RFC 6455 §4.1, §4.2, §7.1.3, §7.1.4)."""
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        if self.debug:
            self.logger.debug("= connection is %s", state.name)
        self._state = state

    @property
    def close_code(self) -> int | None:
        """Close code received from the peer (RFC 6455 §7.1.5).

        :obj:`None` while the connection isn't closed; 1006 if it closed without a close
        frame from the peer.
        """
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """Close reason received from the peer (RFC 6455 §7.1.6).

        :obj:`None` while the connection isn't closed; ``""`` if it closed without a close
        frame from the peer.
        """
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """Exception to raise when trying to interact with a closed connection.

        :exc:`~wsfast.exceptions.ConnectionClosedOK` when both close frames were exchanged
        with 1000, 1001 or 1005, else :exc:`~wsfast.exceptions.ConnectionClosedError`; either
        way also an :exc:`~wsfast.exceptions.InvalidState` with ``state == "CLOSED"``. It is
        chained to the exception that stopped the parser, if any.

        Raises:
            AssertionError: If the connection isn't closed yet: the close code and reason
                aren't known before.
        """
        assert self._state is CLOSED, "connection isn't closed yet"
        return self.closed_exception()

    def closed_exception(
        self, operation: str | None = None, cause: BaseException | None = None
    ) -> ConnectionClosed:
        """:attr:`close_exc` for an I/O layer: naming the ``operation`` that found the
        connection closed, chained to ``cause`` (what broke the I/O) if any, else to the
        exception that stopped the parser."""
        exc = ConnectionClosed.from_frames(
            self.close_rcvd,
            self.close_sent,
            self.close_rcvd_then_sent,
            operation=operation,
            state=CLOSED,
        )
        exc.__cause__ = cause if cause is not None else self.parser_exc
        return exc

    # Receiving data.

    def receive_data(self, data: BytesLike) -> None:
        """Receive data from the network.

        Then call :meth:`data_to_send` and send its result, and :meth:`events_received` and
        process the events.

        Raises:
            EOFError: If :meth:`receive_eof` was called earlier.
        """
        if self._frames_direct:
            if self.reader.eof:
                raise EOFError("stream ended")
            self.frame_reader.feed_data(data)
        else:
            # Typed as websockets' StreamReader, but any bytes-like object appends: no copy.
            self.reader.feed_data(data)  # type: ignore[arg-type]
        next(self.parser)

    def receive_eof(self) -> None:
        """Receive the end of the data stream from the network.

        Then call :meth:`data_to_send` and send its result: ``[b""]``, signaling the end of
        the stream, or ``[]``. No new events arrive. Idempotent.
        """
        if self.reader.eof:
            return
        self.reader.feed_eof()
        if self._frames_direct:
            self.frame_reader.feed_eof()
        next(self.parser)

    # Sending events.

    def _invalid_state(self, operation: str) -> InvalidState:
        return InvalidState(
            f"connection is {self._state.name.lower()}",
            operation=operation,
            state=self._state,
        )

    def send_continuation(self, data: BytesLike, fin: bool) -> None:
        """Send a continuation frame (RFC 6455 §5.4).

        Raises:
            ProtocolError: If a fragmented message isn't in progress.
            InvalidState: If the connection isn't open.
        """
        if not self.expect_continuation_frame:
            raise ProtocolError("unexpected continuation frame")
        if self._state is not OPEN:
            raise self._invalid_state("send")
        self.expect_continuation_frame = not fin
        self._send_data(CONT, data, fin)

    def send_text(self, data: BytesLike, fin: bool = True) -> None:
        """Send a text frame (RFC 6455 §5.6); ``data`` is UTF-8 encoded text.

        Set ``fin`` to :obj:`False` for the first frame of a fragmented message.

        Raises:
            ProtocolError: If a fragmented message is in progress.
            InvalidState: If the connection isn't open.
        """
        if self.expect_continuation_frame:
            raise ProtocolError("expected a continuation frame")
        if self._state is not OPEN:
            raise self._invalid_state("send")
        self.expect_continuation_frame = not fin
        self._send_data(TEXT, data, fin)

    def send_binary(self, data: BytesLike, fin: bool = True) -> None:
        """Send a binary frame (RFC 6455 §5.6).

        Set ``fin`` to :obj:`False` for the first frame of a fragmented message.

        Raises:
            ProtocolError: If a fragmented message is in progress.
            InvalidState: If the connection isn't open.
        """
        if self.expect_continuation_frame:
            raise ProtocolError("expected a continuation frame")
        if self._state is not OPEN:
            raise self._invalid_state("send")
        self.expect_continuation_frame = not fin
        self._send_data(BINARY, data, fin)

    def send_close(self, code: CloseCode | int | None = None, reason: str = "") -> None:
        """Send a close frame (RFC 6455 §5.5.1) and start the closing handshake (§7.1.2).

        Without a code, the close frame is empty and counts as 1005 (§7.1.5).

        Raises:
            ProtocolError: If the code isn't valid or if a reason is given without a code.
            InvalidState: If the connection isn't open.
        """
        # RFC 6455 doesn't forbid a second close frame, but nothing good comes of one: like
        # websockets, refuse it.
        if self._state is not OPEN:
            raise self._invalid_state("close")
        if code is None:
            if reason != "":
                raise ProtocolError("cannot send a reason without a code")
            close = Close(CloseCode.NO_STATUS_RCVD, "")
            data = b""
        else:
            close = Close(code, reason)
            data = close.serialize()
        self.send_frame(Frame(CLOSE, data))
        # In OPEN no close frame was received yet, so the order stays unknown (None).
        self.close_sent = close
        self.state = CLOSING

    def send_ping(self, data: BytesLike) -> None:
        """Send a ping frame (RFC 6455 §5.5.2).

        Raises:
            InvalidState: If the connection is neither open nor closing.
        """
        # Control frames may follow our close frame (RFC 6455 §5.5.1).
        if self._state is not OPEN and self._state is not CLOSING:
            raise self._invalid_state("ping")
        self.send_frame(Frame(PING, data))

    def release_pong(self) -> None:
        """Stop holding pongs back; answer the latest ping held, if any (RFC 6455 §5.5.3).

        Call :meth:`data_to_send` afterwards.
        """
        self.hold_pongs = False
        data, self.held_pong = self.held_pong, None
        if data is not None and self._state is OPEN:
            self.send_frame(Frame(PONG, data))

    def send_pong(self, data: BytesLike) -> None:
        """Send a pong frame (RFC 6455 §5.5.3).

        Raises:
            InvalidState: If the connection is neither open nor closing.
        """
        if self._state is not OPEN and self._state is not CLOSING:
            raise self._invalid_state("pong")
        self.send_frame(Frame(PONG, data))

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455 §7.1.7).

        Sends a close frame with ``code`` and ``reason`` if none was sent yet, except with
        1006, which means the network failed; a server then closes the TCP connection.
        Incoming data is discarded from then on.

        Raises:
            ProtocolError: If the code isn't valid.
        """
        if self._state is OPEN:
            if code != CloseCode.ABNORMAL_CLOSURE:
                close = Close(code, reason)
                data = close.serialize()
                self.send_frame(Frame(CLOSE, data))
                self.close_sent = close
                # A close frame received in the middle of a fragmented message fails the
                # connection before it is echoed: it was received first.
                if self.close_rcvd is not None:
                    self.close_rcvd_then_sent = True
                self.state = CLOSING

        # The server closes the TCP connection first (RFC 6455 §7.1.1); a client waits for
        # it, possibly after the server's close frame, which it will ignore.
        if self.side is SERVER and not self.eof_sent:
            self.send_eof()

        # RFC 6455 §7.1.7: "An endpoint MUST NOT continue to attempt to process data
        # (including a responding Close frame) from the remote endpoint after being
        # instructed to _Fail the WebSocket Connection_."
        self._discard_from_now_on()

    # Incoming events.

    def events_received(self) -> list[Event]:
        """Fetch the events generated from data received from the network.

        Call this method right after any of the ``receive_*()`` methods.
        """
        events, self.events = self.events, []
        return events

    # Outgoing data.

    def data_to_send(self) -> list[bytes]:
        """Obtain the data to send to the network.

        Call this method right after any of the ``receive_*()``, ``send_*()`` or
        :meth:`fail` methods, and write the result to the connection. The empty bytestring
        :data:`SEND_EOF` means: half-close the TCP connection.
        """
        writes, self.writes = self.writes, []
        return writes

    def close_expected(self) -> bool:
        """Tell whether the TCP connection is expected to close soon.

        Call it right after any of the ``receive_*()``, ``send_close()`` or :meth:`fail`
        methods; if it returns :obj:`True`, close the TCP connection after a short timeout
        unless the peer closes it first.
        """
        # After the handshake, the TCP connection closes once we sent a close frame (we are
        # CLOSING): the server closes it, the client waits for the server (RFC 6455 §7.1.1).
        # In CLOSED it is closed already. During the handshake, it closes when the handshake
        # failed, which is when we sent EOF.
        state = self._state
        if state is OPEN:
            return False
        if state is CLOSING:
            return True
        if state is CLOSED:
            return False
        return self.eof_sent

    # Parsing incoming data.

    def _new_frame_reader(self) -> Any:
        # Looked up on the module at each connection, not bound at import, so that the codec
        # switch (and tests that swap implementations) take effect.
        if self.max_fragment_size is None:
            max_size: Any = self.max_message_size
        else:
            max_size = (self.max_message_size, self.max_fragment_size)
        return speedups.FrameReader(
            mask=self.side is SERVER,  # clients mask, servers don't (RFC 6455 §5.1, §5.3)
            max_size=max_size,
            max_fragments=self.max_fragments,
            extensions=self.extensions,
        )

    def parse(self) -> Generator[None]:
        """Parse incoming data into frames.

        :meth:`receive_data` and :meth:`receive_eof` step this generator until it needs
        more data. It never raises: errors fail the connection and are kept in
        :attr:`parser_exc`.
        """
        reader = self.reader
        try:
            # Frames follow a completed opening handshake (RFC 6455 §4.1, §4.2.2). The frame
            # reader is created with the first bytes after it, so that it gets the extensions
            # negotiated or configured up to then, unless an I/O layer started it already
            # (start_direct_receive). EOF before the handshake completes means it never
            # will: fail now, as websockets does.
            while self.frame_reader is None:
                if self._state is not CONNECTING and reader.buffer:
                    self._start_frame_reader()
                    if self.defer_trailing_frames:
                        yield
                    break
                if reader.eof:
                    if self.debug:
                        self.logger.debug("< EOF")
                    raise EOFError("unexpected end of stream")
                yield

            frame_reader: Any = self.frame_reader
            read_frame = frame_reader.read_frame
            while True:
                frame = read_frame()
                if frame is None:
                    if reader.eof:
                        # A clean closure replaces this parser before EOF arrives: an EOF
                        # seen here comes without a closing handshake (RFC 6455 §7.1.5).
                        if self.debug:
                            self.logger.debug("< EOF")
                        raise EOFError("unexpected end of stream")
                    yield
                    continue
                if self.debug:
                    self.logger.debug("< %s", frame)
                self.recv_frame(frame)
                if not self._frames_direct:
                    # A close frame was received: discard() took over (RFC 6455 §1.4).
                    # This generator is never stepped again.
                    yield
                    raise AssertionError("parse() shouldn't step after a close frame")

        except Exception as exc:
            self._fail_for(exc)

        # fail() replaced this parser with discard(); it is never stepped again.
        yield
        raise AssertionError("parse() shouldn't step after error")

    def _fail_for(self, exc: Exception) -> None:
        """Fail the connection with the close code that fits what the frame reader raised."""
        if isinstance(exc, ProtocolError):
            self.fail(CloseCode.PROTOCOL_ERROR, _truncate_reason(str(exc)))
        elif isinstance(exc, EOFError):
            self.fail(CloseCode.ABNORMAL_CLOSURE, str(exc))
        elif isinstance(exc, UnicodeDecodeError):
            # InvalidUTF8 knows the offset in the whole message; a plain UnicodeDecodeError,
            # e.g. from an extension, only its start in the data it decoded.
            position = getattr(exc, "offset", exc.start)
            self.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {position}")
        elif isinstance(exc, PayloadTooBig):
            self.fail(CloseCode.MESSAGE_TOO_BIG, _truncate_reason(self._too_big_reason(exc)))
        elif isinstance(exc, TooManyFragments):
            self.fail(CloseCode.MESSAGE_TOO_BIG, _truncate_reason(str(exc)))
        else:
            self.logger.error("parser failed", exc_info=exc)
            # The details may be security-sensitive: don't send them to the peer.
            self.fail(CloseCode.INTERNAL_ERROR)
        self.parser_exc = exc

    def _start_frame_reader(self) -> Any:
        reader = self.reader
        frame_reader = self.frame_reader = self._new_frame_reader()
        if reader.buffer:
            # A copy: the frame reader may keep what it is fed, and the buffer is reused.
            frame_reader.feed_data(bytes(reader.buffer))
            reader.discard()
        if reader.eof:
            frame_reader.feed_eof()
        self._frames_direct = True
        return frame_reader

    # Receiving messages: the fast path of I/O layers.

    @property
    def direct_receive(self) -> bool:
        """Whether incoming bytes go straight to :attr:`frame_reader`.

        True from :meth:`start_direct_receive` until a close frame arrives or the connection
        fails; from then on, give incoming bytes to :meth:`receive_data` again.
        """
        return self._frames_direct

    def start_direct_receive(self) -> Any:
        """Return the frame reader, for an I/O layer to feed it directly once the connection
        is open; then call :meth:`receive_messages` after each read.

        The reader takes bytes with ``feed_data(data)``, or without a copy with
        ``get_buffer(sizehint)`` and ``buffer_updated(nbytes)`` as an
        :class:`asyncio.BufferedProtocol` does. Bytes already received after the handshake
        are in it already.
        """
        if self._state is CONNECTING:
            raise InvalidState("the opening handshake isn't complete")
        if self.frame_reader is None:
            self._start_frame_reader()
        elif not self._frames_direct:
            raise InvalidState("incoming data is discarded")
        return self.frame_reader

    def receive_messages(self, defer_error: bool = False) -> list[Any]:
        """Return what the bytes fed to the frame reader complete, in order.

        Messages that arrived in one frame come as ``str`` or ``bytes``; control frames and
        frames of fragmented messages come as :class:`~wsfast.frames.Frame`, and are processed
        as :meth:`receive_data` would (pings answered, close frames echoed): call
        :meth:`data_to_send` afterwards. Errors fail the connection as with
        :meth:`receive_data`. :attr:`events` is left alone.

        With ``defer_error``, an error doesn't fail the connection: it is kept in
        :attr:`pending_error`, the items before it are returned, and the I/O layer calls
        :meth:`fail_pending` once the application has had the chance to act on them (an
        echo of the messages that preceded the error, for example). Meanwhile, feed the
        frame reader nothing more.
        """
        items: list[Any]
        try:
            items = self.frame_reader.read_messages()
        except Exception as exc:
            self._fail_or_defer(exc, defer_error)
            return []
        return self.process_messages(items, defer_error)

    def process_messages(self, items: list[Any], defer_error: bool = False) -> list[Any]:
        """The second half of :meth:`receive_messages`, for an I/O layer that calls the
        frame reader's ``read_messages()`` itself: process the frames among ``items`` and
        the reader's error, if any; return the items that stand.

        Needed only when ``items`` holds something other than ``str`` and ``bytes`` or
        the reader's ``error`` is set: otherwise it returns ``items`` as they are.
        """
        for index, item in enumerate(items):
            if item.__class__ is not str and item.__class__ is not bytes:
                if self.debug:
                    self.logger.debug("< %s", item)
                try:
                    self._process_frame(item)
                except Exception as exc:
                    # E.g. a close frame with an invalid code: what came before it stands,
                    # nothing after it does.
                    self._fail_or_defer(exc, defer_error)
                    return items[:index]
        error = self.frame_reader.error
        if error is not None and self._frames_direct:
            # The bytes held an error after these items: fail now, not at the next read,
            # which may never come (RFC 6455 §7.1.7).
            self._fail_or_defer(error, defer_error)
        return items

    def defer_failure(self, exc: Exception) -> None:
        """Hold ``exc``, raised by the frame reader's ``read_messages()``, in
        :attr:`pending_error`, as :meth:`receive_messages` does with ``defer_error``."""
        self._fail_or_defer(exc, True)

    def _fail_or_defer(self, exc: Exception, defer_error: bool) -> None:
        if defer_error:
            if self.pending_error is None:
                self.pending_error = exc
        else:
            self._fail_for(exc)

    def fail_pending(self) -> None:
        """Fail the connection for the error held in :attr:`pending_error`, if any.

        Call :meth:`data_to_send` afterwards. Nothing happens if the connection was closed
        or failed meanwhile for another reason.
        """
        exc = self.pending_error
        if exc is not None:
            self.pending_error = None
            if self._frames_direct:
                self._fail_for(exc)

    def _too_big_reason(self, exc: PayloadTooBig) -> str:
        """Word a size violation as websockets does, for the same close reason.

        websockets limits each frame to what is left of the message, capped by the
        fragment limit, and reports the size read before the frame; the frame reader
        detects the same violations but may word them from another limit.
        """
        current = self.current_size
        limit: int | None = None
        if self.max_message_size is not None:
            limit = self.max_message_size
            if current is not None:
                limit -= current
        if self.max_fragment_size is not None:
            limit = self.max_fragment_size if limit is None else min(limit, self.max_fragment_size)
        if limit is None or getattr(exc, "message", None) is not None:
            # No configured limit was crossed: an extension enforced its own.
            return str(exc)
        reworded = PayloadTooBig(exc.size, limit)
        if current is not None:
            reworded.set_current_size(current)
        return str(reworded)

    def _discard_from_now_on(self) -> None:
        """Replace the parser with :meth:`discard`."""
        self._frames_direct = False
        self.parser = self.discard()
        next(self.parser)  # start the coroutine

    def discard(self) -> Generator[None]:
        """Discard incoming data until EOF, then mark the connection as closed.

        Replaces :meth:`parse` after a close frame is received during a normal closure
        (RFC 6455 §1.4) and when the connection is failed (§7.1.7).
        """
        # The server closes the TCP connection in the same circumstances where discard()
        # replaces parse(); so does either side when the opening handshake fails.
        assert (self.side is SERVER or self._state is CONNECTING) == self.eof_sent
        reader = self.reader
        while not (yield from reader.at_eof()):
            reader.discard()
        # The client closes its side once the server closed the TCP connection (§7.1.1).
        if self.side is CLIENT and self._state is not CONNECTING:
            self.send_eof()
        self.state = CLOSED
        if self.side is SERVER:
            self.logger.info("connection closed")
        yield
        # After EOF, receive_data() raises and receive_eof() returns early: nothing steps
        # this generator again.
        raise AssertionError("discard() shouldn't step after EOF")

    def recv_frame(self, frame: Frame) -> None:
        """Process an incoming frame and add it to the events.

        The frame reader already enforced the framing rules, including the order of
        fragments; data frames only update :attr:`current_size`.
        """
        self._process_frame(frame)
        self.events.append(frame)

    def _process_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode == TEXT or opcode == BINARY:
            if not frame.fin:
                self.current_size = len(frame.data)

        elif opcode == CONT:
            if frame.fin:
                self.current_size = None
            else:
                self.current_size = (self.current_size or 0) + len(frame.data)

        elif opcode == PING:
            # RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
            # frame in response", with the same application data.
            if self.hold_pongs:
                # §5.5.3: an endpoint that hasn't answered previous pings yet "MAY elect to
                # send a Pong frame for only the most recently processed Ping frame". A peer
                # that pings without reading then can't make pongs pile up.
                self.held_pong = bytes(frame.data)
            else:
                self.send_frame(Frame(PONG, frame.data))

        elif opcode == CLOSE:
            # RFC 6455 §7.1.5, §7.1.6: the close code and reason. Close.parse() rejects
            # codes that may not appear on the wire and a reason that isn't UTF-8.
            self.close_rcvd = Close.parse(frame.data)
            if self._state is CLOSING:
                self.close_rcvd_then_sent = False

            # RFC 6455 §5.4: control frames, a close frame included, may come between the
            # fragments of a message. The closing handshake goes on as usual; the message
            # that it cuts short is never delivered (Autobahn case 7.1.5 expects 1000).

            # RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
            # previously send a Close frame, the endpoint MUST send a Close frame in
            # response." Echo the payload as received: re-serializing fails for an empty
            # close frame, which parses as 1005.
            if self._state is OPEN:
                self.send_frame(Frame(CLOSE, frame.data))
                self.close_sent = self.close_rcvd
                self.close_rcvd_then_sent = True
                self.state = CLOSING

            # RFC 6455 §7.1.1: the server closes the TCP connection first; the client
            # waits for it.
            if self.side is SERVER:
                self.send_eof()

            # RFC 6455 §1.4: "after receiving a control frame indicating the connection
            # should be closed, a peer discards any further data received." Pings and pongs
            # after a close frame are allowed but useless; they are discarded too.
            self._discard_from_now_on()

        # RFC 6455 §5.5.3: an unsolicited pong needs no answer; data frames go to the
        # application as they are.

    # Sending frames.

    def send_frame(self, frame: Frame) -> None:
        """Serialize a frame, masked on the client side (RFC 6455 §5.3), and queue it."""
        if self.debug:
            self.logger.debug("> %s", frame)
        self.writes.append(
            frame.serialize(mask=self.side is CLIENT, extensions=self.extensions)
        )

    def _send_data(self, opcode: Opcode, data: BytesLike, fin: bool) -> None:
        """Queue a data frame."""
        if self.debug:
            self.logger.debug("> %s", Frame(opcode, data, fin))
        writer = self._frame_writer
        if writer is None:
            writer = self._new_frame_writer()
        self.writes.append(writer.frame(opcode, data, fin))

    def _new_frame_writer(self) -> Any:
        # Looked up on the module, not bound at import, so that the codec switch (and tests
        # that swap implementations) take effect.
        writer = self._frame_writer = speedups.FrameWriter(
            mask=self.side is CLIENT,  # clients mask, servers don't (RFC 6455 §5.1, §5.3)
            extensions=self._extensions,
        )
        return writer

    def message_frame(self, opcode: Opcode, data: BytesLike) -> bytes | None:
        """Return the frame of a whole message, for the I/O layer to write at once: the send
        hot path, which skips :attr:`writes`.

        Returns :obj:`None` where the general path must be taken: the connection isn't open,
        a fragmented message is being sent, writes are queued (the frame must follow them),
        or debug logging is on. Then call :meth:`send_text` or :meth:`send_binary`.

        The asyncio connection's core reads the same conditions inline, without this call
        (``message_writer()`` in ``wsfast.asyncio._core_py`` and its compiled twin); a test
        holds the two to the same answers.
        """
        if (
            self._state is not OPEN
            or self.expect_continuation_frame
            or self.writes
            or self.debug
        ):
            return None
        writer = self._frame_writer
        if writer is None:
            writer = self._new_frame_writer()
        return writer.frame(opcode, data, True)  # type: ignore[no-any-return]

    def send_eof(self) -> None:
        """Queue the end of the stream: the TCP connection must be half-closed."""
        assert not self.eof_sent
        self.eof_sent = True
        if self.debug:
            self.logger.debug("> EOF")
        self.writes.append(SEND_EOF)
