"""Pure-Python reference implementation of wsfast's codec core.

This module is the twin of the Cython extension ``wsfast._speedups``: same names, same
signatures, same results, same exceptions (the differential tests hold both to that). It is
what runs on PyPy, on platforms without a compiler, and under ``WSFAST_NO_EXTENSIONS=1``.

It is written for clarity first and for CPython speed second: masking XORs two big integers,
and UTF-8 validation leans on CPython's strict UTF-8 codec, which already rejects overlongs,
surrogates and code points above U+10FFFF (RFC 3629 §3); only the exact error offset is
computed here by a small state machine.

The two files read side by side: the same sections in the same order (masking, UTF-8,
frame header, send path, receive path; in FrameReader, bytes in then frames and messages
out), the same names for the same steps, and the same "no limit" value (``UNLIMITED``). What
only the extension has is its receive buffer's C memory management (``_reserve``,
``_own_buffer``, ``_release_buffer``, the direct receive into a payload object), which a
bytearray does here.
"""

from __future__ import annotations

import codecs
import operator
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from ._codec_names import CODEC_NAMES
from .exceptions import InvalidUTF8, PayloadTooBig, ProtocolError, TooManyFragments
from .extensions.permessage_deflate import PerMessageDeflate
from .frames import Frame, Opcode
from .utils import generate_mask

__all__ = list(CODEC_NAMES)

MASK_IMPL = "python"
UTF8_IMPL = "python"

_BYTEORDER = sys.byteorder
_MAX_PAYLOAD_LENGTH = 0x7FFF_FFFF_FFFF_FFFF
_OPCODES: dict[int, Opcode] = {int(opcode): opcode for opcode in Opcode}
# Extensions whose effect the reader and writer apply themselves, without Frame objects.
_PASSTHROUGH_EXTENSIONS: tuple[type, ...] = (PerMessageDeflate,)
# RFC 7692 §7.2.2: the tail that senders strip from each compressed message.
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


def _contiguous_bytes(data: object, what: str) -> memoryview:
    """Return a flat byte view of any bytes-like object, or raise TypeError."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{what} must be a bytes-like object, not {type(data).__name__}"
        ) from None
    if not view.c_contiguous:
        # A strided view carries the bytes it selects; masking applies to those, in order.
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


# Masking (RFC 6455 §5.3) ---------------------------------------------------------------------


def _mask_key(mask: object) -> bytes:
    key = bytes(_contiguous_bytes(mask, "mask"))
    if len(key) != 4:
        raise ValueError("mask must contain 4 bytes")
    return key


# XOR tables for bytes.translate(): _XOR_TABLES[k][b] == b ^ k.
_XOR_TABLES = [bytes(value ^ k for value in range(256)) for k in range(256)]
# Below this size XORing two integers is faster; above it, translating the four interleaved
# byte streams is (2-3x at 64 KiB: int.from_bytes() converts only ~300 MB/s).
_TRANSLATE_THRESHOLD = 512


def _xor_with_key(data: bytes | memoryview, key: bytes) -> bytes:
    length = len(data)
    if length == 0:
        return b""
    # RFC 6455 §5.3: octet i of the payload is XORed with octet i % 4 of the key.
    if length >= _TRANSLATE_THRESHOLD:
        out = bytearray(data)
        for phase in range(4):
            out[phase::4] = out[phase::4].translate(_XOR_TABLES[key[phase]])
        return bytes(out)
    # XORing two integers built from the whole payload does it in one C-level operation.
    repeated = key * (length >> 2) + key[: length & 3]
    return (
        int.from_bytes(data, _BYTEORDER) ^ int.from_bytes(repeated, _BYTEORDER)
    ).to_bytes(length, _BYTEORDER)


def apply_mask(data: object, mask: object) -> bytes:
    """Return ``data`` XOR-ed with the 4-byte masking key ``mask`` (RFC 6455 §5.3)."""
    view = _contiguous_bytes(data, "data")
    key = _mask_key(mask)
    return _xor_with_key(view, key)


def apply_mask_inplace(buffer: object, mask: object) -> None:
    """XOR a writable, contiguous buffer (e.g. a bytearray) with ``mask`` in place."""
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"buffer must be a writable bytes-like object, not {type(buffer).__name__}"
        ) from None
    if view.readonly:
        raise TypeError(
            f"buffer must be a writable bytes-like object, not {type(buffer).__name__}"
        )
    if not view.c_contiguous:
        raise ValueError("buffer must be contiguous to be masked in place")
    key = _mask_key(mask)
    flat = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    flat[:] = _xor_with_key(flat, key)


# Incremental UTF-8 validation ----------------------------------------------------------------
#
# The validator reports the offset of the *first invalid byte*: the length of the longest
# prefix of the message that is still a prefix of some valid UTF-8 text. That is the earliest
# point at which RFC 6455 §8.1 lets (and asks) an endpoint fail the connection. A sequence cut
# short by the end of a fragment is not an error until the message ends (§5.6, §8.1).

# Ranges allowed for the second byte after each lead byte (RFC 3629 §4, the syntax table):
# E0 forbids overlongs (A0..BF), ED forbids surrogates (80..9F), F0 forbids overlongs (90..BF),
# F4 forbids code points above U+10FFFF (80..8F).
_SECOND_BYTE_RANGE = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


def _sequence_length(lead: int) -> int:
    """Length of the sequence a valid lead byte starts; 0 when it cannot start one."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def _first_invalid_byte(data: bytes, start: int) -> int:
    """Offset of the first invalid byte of ``data``, scanning from the boundary ``start``.

    Only called once the codec has found an error at or after ``start``, so the scan covers a
    few bytes. Returns ``len(data)`` if the data from ``start`` is a valid (possibly truncated)
    prefix.
    """
    position = start
    end = len(data)
    while position < end:
        lead = data[position]
        length = _sequence_length(lead)
        if length == 0:
            return position
        low, high = _SECOND_BYTE_RANGE.get(lead, (0x80, 0xBF))
        for index in range(1, length):
            if position + index >= end:
                return end
            byte = data[position + index]
            if not low <= byte <= high:
                return position + index
            low, high = 0x80, 0xBF
        position += length
    return end


def _incomplete_tail_start(data: bytes | memoryview) -> int:
    """Start of a trailing sequence that ``data`` (valid so far) leaves unfinished."""
    end = len(data)
    for back in range(1, min(3, end) + 1):
        byte = data[end - back]
        if byte >= 0xC0:
            return end - back if _sequence_length(byte) > back else end
        if byte < 0x80:
            return end
    return end


_utf8_decode = codecs.utf_8_decode


class Utf8Validator:
    """Validate one message's UTF-8 as its fragments arrive (RFC 6455 §8.1, RFC 3629).

    ``feed()`` raises :class:`~wsfast.exceptions.InvalidUTF8` as soon as a byte arrives that no
    valid text can contain; its ``offset`` is absolute within the message. ``finish()`` checks
    that the message does not end inside a sequence and makes the validator ready for the next
    message. After an error the validator stays failed until ``reset()``.
    """

    __slots__ = ("_pending", "_consumed", "_error")

    def __init__(self) -> None:
        self._pending = b""  # the unfinished sequence carried from the previous fragment (≤ 3 bytes)
        self._consumed = 0  # bytes fed so far, pending ones included
        self._error: InvalidUTF8 | None = None

    @property
    def offset(self) -> int:
        """Number of bytes of the current message fed so far."""
        return self._consumed

    @property
    def pending(self) -> int:
        """Number of trailing bytes that belong to a sequence not yet complete."""
        return len(self._pending)

    def reset(self) -> None:
        """Forget the current message, including a previous error."""
        self._pending = b""
        self._consumed = 0
        self._error = None

    def feed(self, data: object) -> None:
        """Validate the next fragment of the message."""
        if self._error is not None:
            raise self._error
        view = _contiguous_bytes(data, "data")
        if len(view) == 0:
            return
        pending = self._pending
        fragment_base = self._consumed  # message offset of view[0]
        chunk_base = fragment_base - len(pending)  # message offset of chunk[0]
        chunk = pending + view if pending else view
        self._consumed = fragment_base + len(view)
        try:
            # final=False keeps a valid but unfinished tail unconsumed instead of failing.
            _decoded, consumed = _utf8_decode(chunk, "strict", False)
        except UnicodeDecodeError as exc:
            self._fail(view, fragment_base, bytes(chunk), chunk_base, exc.start)
        tail = bytes(chunk[consumed:])
        # CPython's codec keeps some already-invalid prefixes pending (ED A0, the start of a
        # surrogate, waits for a third byte); §8.1 wants the failure now.
        if tail and _first_invalid_byte(tail, 0) < len(tail):
            self._fail(view, fragment_base, bytes(chunk), chunk_base, consumed)
        self._pending = tail

    def finish(self) -> None:
        """Declare the message complete; fail if it ends inside a sequence, then reset."""
        if self._error is not None:
            raise self._error
        pending = self._pending
        if pending:
            error = InvalidUTF8("utf-8", pending, 0, len(pending), "unexpected end of data")
            error.offset = self._consumed - len(pending)
            self._error = error
            raise error
        self._consumed = 0

    def _fail(
        self,
        fragment: memoryview,
        fragment_base: int,
        chunk: bytes,
        chunk_base: int,
        boundary: int,
    ) -> NoReturn:
        # The codec found an error somewhere from the character boundary ``boundary`` on;
        # locate the first byte that no valid text could contain. Fail fast guarantees that
        # byte arrived in this fragment: everything fed before was a valid prefix.
        local = _first_invalid_byte(chunk, boundary)
        if _is_start_error(chunk, local):
            reason = "invalid start byte"
        else:
            reason = "invalid continuation byte"
        start = chunk_base + local - fragment_base
        error = InvalidUTF8("utf-8", bytes(fragment), start, start + 1, reason)
        error.offset = chunk_base + local
        self._error = error
        self._pending = b""
        raise error


def _is_start_error(chunk: bytes, local: int) -> bool:
    """Whether the invalid byte at ``local`` sits where a new character should start."""
    # Walk back over continuation bytes to the lead byte that owns this position, if any.
    for back in range(1, 4):
        position = local - back
        if position < 0:
            return True
        byte = chunk[position]
        if byte >= 0xC0:
            return _sequence_length(byte) <= back
        if byte < 0x80:
            return True
    return True


def validate_utf8(data: object) -> None:
    """Validate a complete message; raise :class:`~wsfast.exceptions.InvalidUTF8` if invalid."""
    validator = Utf8Validator()
    validator.feed(data)
    validator.finish()


# Frame header (RFC 6455 §5.2) ----------------------------------------------------------------


def parse_frame_header(data: object, offset: int = 0) -> tuple[Any, ...] | None:
    """Parse the frame header starting at ``data[offset]``.

    Returns ``None`` until the whole header (extended length and masking key included) is
    available, else ``(fin, rsv1, rsv2, rsv3, opcode, masked, length, mask, header_size)``
    where ``mask`` is the 4-byte key or ``None``. Raises ``ProtocolError`` for a 64-bit length
    with its most significant bit set, which §5.2 forbids.
    """
    view = _contiguous_bytes(data, "data")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be an integer, not {type(offset).__name__}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    available = len(view) - offset
    if available < 2:
        return None
    first, second = view[offset], view[offset + 1]
    length_size = _extended_length_size(second)
    header_size = 2 + length_size + (4 if second & 0x80 else 0)
    if available < header_size:
        return None
    length = _payload_length(view, offset, length_size)
    return _header(view, offset, first, second, length, header_size)


def _extended_length_size(second: int) -> int:
    """Bytes of extended payload length announced by a header's second byte (§5.2)."""
    short_length = second & 0x7F
    return 0 if short_length < 126 else (2 if short_length == 126 else 8)


def _payload_length(data: Any, offset: int, length_size: int) -> int:
    """Decode the payload length of the header at ``data[offset]``, its bytes all present."""
    if not length_size:
        return int(data[offset + 1] & 0x7F)
    length = int.from_bytes(data[offset + 2 : offset + 2 + length_size], "big")
    if length > _MAX_PAYLOAD_LENGTH:
        raise ProtocolError("invalid payload length: most significant bit of 64-bit length is set")
    return length


def _header(data: Any, offset: int, first: int, second: int, length: int, header_size: int) -> tuple[Any, ...]:
    """The tuple ``parse_frame_header`` returns, from the header at ``data[offset]``."""
    masked = bool(second & 0x80)
    mask = bytes(data[offset + header_size - 4 : offset + header_size]) if masked else None
    return (
        bool(first & 0x80),
        bool(first & 0x40),
        bool(first & 0x20),
        bool(first & 0x10),
        first & 0x0F,
        masked,
        length,
        mask,
        header_size,
    )


def serialize_frame(
    opcode: int,
    payload: object,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: object = None,
) -> bytes:
    """Return a complete frame: header, then the payload, masked when ``mask`` is given."""
    if not isinstance(opcode, int):
        raise TypeError(f"opcode must be an integer, not {type(opcode).__name__}")
    if not 0 <= opcode <= 15:
        raise ValueError("opcode must be between 0 and 15")
    view = _contiguous_bytes(payload, "payload")
    key = None if mask is None else _mask_key(mask)
    length = len(view)
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    first |= (0x10 if rsv3 else 0) | opcode
    mask_bit = 0 if mask is None else 0x80
    # §5.2: the minimal number of bytes must be used to encode the length.
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 65536:
        header = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if key is None:
        return header + view
    return header + key + _xor_with_key(view, key)


# Send path (RFC 6455 §5.2, §5.3, RFC 7692 §7.2.1) --------------------------------------------


class FrameWriter:
    """Messages in, frame bytes out, in one call: compression (RFC 7692 §7.2.1), header,
    and on the client side masking with a fresh key (RFC 6455 §5.3).

    With permessage-deflate as the only extension, payloads go to its ``compress()`` directly;
    other extensions get :class:`~wsfast.frames.Frame` objects through their ``encode()``.
    """

    __slots__ = ("_deflate", "_extensions", "_mask")

    def __init__(self, *, mask: bool, extensions: Sequence[Any] = ()) -> None:
        self._mask = bool(mask)
        self._extensions = tuple(extensions)
        self._deflate = None
        if len(self._extensions) == 1 and type(self._extensions[0]) in _PASSTHROUGH_EXTENSIONS:
            self._deflate = self._extensions[0]

    def frame(self, opcode: int, data: object, fin: bool = True) -> bytes:
        """Return the bytes of one frame carrying ``data`` (RFC 6455 §5.2)."""
        if opcode not in _VALID_OPCODES:
            raise ValueError(f"invalid opcode: {opcode}")
        rsv1 = False
        if self._extensions:
            if self._deflate is None:
                # Any buffer, as the extension's own writer accepts: Frame only carries it.
                frame = Frame(_OPCODES[opcode], data, fin)  # type: ignore[arg-type]
                for extension in self._extensions:
                    frame = extension.encode(frame)
                return serialize_frame(
                    opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3,
                    generate_mask() if self._mask else None,
                )
            if opcode not in _CONTROL_OPCODES:
                # RFC 7692 §6.1: RSV1 on the first frame of a compressed message only.
                rsv1 = opcode != 0
                data = self._deflate.compress(data, rsv1, fin)
        return serialize_frame(
            opcode, data, fin, rsv1, False, False, generate_mask() if self._mask else None
        )


_CONTROL_OPCODES = frozenset((0x8, 0x9, 0xA))
_VALID_OPCODES = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))


# Receive path (RFC 6455 §5, RFC 7692 §6) -----------------------------------------------------

# The receive buffer offered by get_buffer(): 64 KiB lets one system call bring hundreds of
# small messages.
_RECV_SIZE = 64 * 1024
_receive_buffers = threading.local()
# Consumed bytes are dropped from the front of the buffer once they are this many and more
# than half of it: amortised O(1) per byte without shifting the buffer on every frame.
_COMPACT_THRESHOLD = 64 * 1024


# "No limit" for the size fields below: the extension keeps them in C integers, and the
# twin uses the same value so that both read alike.
UNLIMITED = -1
# Limits from here up are no limits: no length or count reaches them (RFC 6455 §5.2 lengths
# stop at 2**63 - 1).
LIMIT_CEILING = 2**63 - 1


def _limit(value: Any, name: str) -> int:
    """A FrameReader limit as both implementations read it: an integer (not a float: no
    silent truncation), never negative, and one no length can reach means no limit."""
    if value is None:
        return UNLIMITED
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name} must be None or a non-negative integer, not {value}")
    if value >= LIMIT_CEILING:
        return UNLIMITED
    return int(value)


def _stream_ends_message(available: int, expected: int) -> str:
    """websockets' words for a stream that ends before ``expected`` bytes of a field arrive."""
    return f"stream ends after {available} bytes, expected {expected} bytes"


def _truncated_header_message(data: Any) -> str:
    """websockets' words for a stream ending inside this incomplete frame header.

    websockets reads the header in fields (RFC 6455 §5.2): two bytes, then the extended
    length (2 or 8 bytes) if any, then the masking key (4 bytes) if any; it names the field
    that the stream cut, and how much of it arrived.
    """
    available = len(data)
    if available < 2:
        return _stream_ends_message(available, 2)
    second = data[1]
    available -= 2
    extended = {126: 2, 127: 8}.get(second & 0x7F, 0)
    for size in (extended, 4 if second & 0x80 else 0):
        if available < size:
            return _stream_ends_message(available, size)
        available -= size
    raise AssertionError("the header is complete")


class FrameReader:
    """Bytes from the transport in, validated frames out.

    Everything the RFC lets a receiver check is checked here, at the earliest byte that proves
    an error: header rules (§5.2, §5.5), masking direction (§5.1), fragmentation order
    (§5.4), size and fragment limits, and UTF-8 of text messages across fragments and while a
    frame is still arriving (§8.1). Compressed messages are inflated by the negotiated
    extensions within the remaining ``max_size`` budget (RFC 7692 §6.2) before validation.

    Bytes come in through ``feed_data()``, or through ``get_buffer()`` and
    ``buffer_updated()``, the interface of :class:`asyncio.BufferedProtocol`. ``read_frame()``
    returns frames, one per call; ``read_messages()`` returns everything completed so far, with
    single-frame messages as ``str`` or ``bytes``, which is what an I/O layer wants.
    """

    __slots__ = (
        "_mask", "_max_message", "_max_frame", "_max_fragments", "_extensions",
        "_passthrough", "_deflate", "_pending_get_buffer", "_buffer", "_position", "_eof", "_error", "_closed", "_header",
        "_validated", "_message_opcode", "_message_size", "_fragments", "_compressed",
        "_validator", "_busy",
    )

    def __init__(
        self,
        *,
        mask: bool,
        max_size: int | None | tuple[int | None, int | None] = 2**20,
        max_fragments: int | None = None,
        extensions: Sequence[Any] = (),
    ) -> None:
        self._mask = bool(mask)
        # Set while a method runs, as in the extension, which refuses a second thread (or a
        # re-entrant call from an extension) rather than let it move the buffer it reads.
        self._busy = False
        if isinstance(max_size, tuple):
            self._max_message = _limit(max_size[0], "max_size")
            self._max_frame = _limit(max_size[1], "max_size")
        else:
            self._max_message = self._max_frame = _limit(max_size, "max_size")
        self._max_fragments = _limit(max_fragments, "max_fragments")
        self._extensions = tuple(extensions)
        # Uncompressed frames cross these extensions unchanged, so single-frame messages can
        # skip building a Frame for them.
        self._passthrough = all(type(ext) in _PASSTHROUGH_EXTENSIONS for ext in self._extensions)
        # The permessage-deflate extension when it is the only one: compressed messages in one
        # frame are inflated straight from their payload, without Frame objects.
        self._deflate = (
            self._extensions[0] if self._passthrough and len(self._extensions) == 1 else None
        )
        self._buffer = bytearray()
        self._pending_get_buffer = False  # get_buffer() called, buffer_updated() not yet
        self._position = 0
        self._eof = False
        self._error: BaseException | None = None
        self._closed = False  # a close frame was returned by read_messages()
        self._header: tuple[Any, ...] | None = None  # the frame whose payload is awaited
        self._validated = 0  # payload bytes of that frame already checked as UTF-8
        self._message_opcode: int | None = None  # TEXT or BINARY while a message is open
        self._message_size = 0
        self._fragments = 0
        self._compressed = False
        self._validator = Utf8Validator()

    @property
    def message_in_progress(self) -> bool:
        """Whether a fragmented data message has started and not finished."""
        return self._message_opcode is not None

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the reader, or None.

        :meth:`read_messages` returns the items completed before an error, and raises it
        on the next call; this tells, after such a call, that the next one will raise.
        """
        return self._error

    # Bytes in ---------------------------------------------------------------------------------

    def feed_data(self, data: object) -> None:
        """Buffer more bytes received from the transport."""
        self._enter()
        try:
            if self._eof:
                raise EOFError("stream ended")
            # Like the extension: a get_buffer() not followed by buffer_updated() is withdrawn.
            self._pending_get_buffer = False
            view = _contiguous_bytes(data, "data")
            # RFC 6455 §1.4: data after a close frame is discarded; don't let it pile up.
            if not self._closed:
                self._buffer += view
        finally:
            self._busy = False

    def feed_eof(self) -> None:
        """Note that the transport is closed for reading."""
        self._eof = True

    def get_buffer(self, sizehint: int = -1) -> bytearray:
        """Return a writable buffer for the next bytes; then call :meth:`buffer_updated`."""
        self._enter()
        try:
            if self._eof:
                raise EOFError("stream ended")
            # One receive buffer per thread, so that idle connections hold none: buffer_updated()
            # copies its bytes out, and transports call it right after filling the buffer, before
            # another connection on the thread can ask for the buffer (asyncio, uvloop and the
            # sync layer all do).
            buffer = getattr(_receive_buffers, "buffer", None)
            if buffer is None:
                buffer = _receive_buffers.buffer = bytearray(_RECV_SIZE)
            self._pending_get_buffer = True
            return buffer
        finally:
            self._busy = False

    def buffer_updated(self, nbytes: int) -> None:
        """Take the ``nbytes`` bytes written at the start of the last :meth:`get_buffer`."""
        self._enter()
        try:
            buffer = getattr(_receive_buffers, "buffer", None)
            if buffer is None or not self._pending_get_buffer:
                raise RuntimeError("buffer_updated() without get_buffer()")
            self._pending_get_buffer = False
            if not 0 <= nbytes <= len(buffer):
                raise ValueError(f"nbytes must be between 0 and {len(buffer)}")
            if not self._closed:
                with memoryview(buffer) as view:
                    self._buffer += view[:nbytes]
        finally:
            self._busy = False

    def _enter(self) -> None:
        if self._busy:
            raise RuntimeError("FrameReader is in use by another thread")
        self._busy = True

    # Frames and messages out -----------------------------------------------------------------

    def read_frame(self) -> Any:
        """Return the next complete frame, or None until more bytes arrive."""
        self._enter()
        try:
            if self._error is not None:
                raise self._error
            self._pending_get_buffer = False
            try:
                return self._read()
            except BaseException as exc:
                self._error = exc
                raise
        finally:
            self._busy = False

    def feed_messages(self, data: object) -> list[Any]:
        """:meth:`feed_data` then :meth:`read_messages`, in one call."""
        self.feed_data(data)
        return self.read_messages()

    def read_messages(self) -> list[Any]:
        """Return what the bytes so far complete, in order; an empty list until then.

        A message that arrived in one frame comes as ``str`` (text) or ``bytes`` (binary);
        frames of fragmented messages and control frames come as :class:`~wsfast.frames.Frame`.
        Nothing follows a close frame (RFC 6455 §1.4). An error is raised once the items
        completed before it have been returned, and by every later call.
        """
        self._enter()
        try:
            if self._error is not None:
                raise self._error
            self._pending_get_buffer = False
            items: list[Any] = []
            try:
                while not self._closed:
                    item = self._read(messages=True)
                    if item is None:
                        break
                    items.append(item)
            except BaseException as exc:
                self._error = exc
                if not items:
                    raise
            return items
        finally:
            self._busy = False

    def _read(self, messages: bool = False) -> Any:
        buffer = self._buffer
        position = self._position
        header = self._header
        if header is None:
            header = self._parse_header(buffer, position)
            if header is None:
                if self._eof and len(buffer) > position:
                    raise EOFError(_truncated_header_message(buffer[position:]))
                return None
            position = self._position
        fin, rsv1, rsv2, rsv3, opcode, _masked, length, key, _size = header
        available = len(buffer) - position
        if available < length:
            if available > self._validated and self._checks_text_as_it_arrives(opcode):
                self._validate_arrived(buffer, position, available, key)
            if self._eof:
                raise EOFError(_stream_ends_message(available, length))
            return None

        payload_view = memoryview(buffer)[position : position + length]
        try:
            payload = apply_mask(payload_view, key) if key is not None else bytes(payload_view)
        finally:
            payload_view.release()
        self._header = None
        position += length
        if position == len(buffer):
            # Drained: empty the buffer, so that an idle connection holds nothing.
            buffer.clear()
            position = 0
        elif position >= _COMPACT_THRESHOLD and position * 2 >= len(buffer):
            del buffer[:position]
            position = 0
        self._position = position

        if (messages and fin and (opcode == 0x1 or opcode == 0x2) and self._passthrough
                and not (rsv2 or rsv3)):
            if not rsv1:
                return self._single_frame_message(payload, opcode)
            if self._deflate is not None:
                return self._single_compressed_message(payload, opcode)

        frame = Frame(_OPCODES[opcode], payload, fin, rsv1, rsv2, rsv3)
        if self._extensions:
            for extension in reversed(self._extensions):
                frame = extension.decode(frame, max_size=self._message_budget(opcode))
            frame.check()
        if opcode in _CONTROL_OPCODES:
            if messages and opcode == 0x8:
                self._closed = True
            return frame
        frame = self._finish_data_frame(frame, opcode, fin)
        if messages and fin and opcode != 0x0:
            # A compressed message in one frame: deliver it as a message too.
            data = bytes(frame.data)
            return data.decode() if opcode == 0x1 else data
        return frame

    def _inflate_whole_message(self, payload: bytes, opcode: int) -> bytes:
        """A compressed message in one frame, inflated within its budget (RFC 7692 §6.2).

        PerMessageDeflate.decompress(payload, first=True, fin=True, budget) through the
        extension's fast-path interface, step for step as the extension's reader does it.
        """
        deflate = self._deflate
        assert deflate is not None  # only called with permessage-deflate negotiated
        budget = self._message_budget(opcode)
        # deflate.decode_cont_data is False already: only a fragmented compressed message
        # sets it, and its last frame, which the reader required before this one, clears it.
        decoder = deflate.message_decoder()
        try:
            if budget is None:
                data = decoder.decompress(payload)
                rest = decoder.decompress(_DEFLATE_TAIL)
                if rest:
                    data += rest
            else:
                # One byte more than the room left proves the message too big while
                # inflating at most that much, however far the input would expand.
                limit = budget + 1
                data = decoder.decompress(payload, limit)
                if len(data) < limit:
                    rest = decoder.decompress(_DEFLATE_TAIL, limit - len(data))
                    if rest:
                        data += rest
                if len(data) > budget:
                    raise PayloadTooBig(None, budget)
        except deflate.backend.error as exc:
            raise ProtocolError("decompression failed") from exc
        return bytes(data)

    def _single_compressed_message(self, payload: bytes, opcode: int) -> str | bytes:
        """A whole compressed message in one frame (RFC 7692 §6.2), as str or bytes."""
        data = self._inflate_whole_message(payload, opcode)
        self._message_opcode = None
        if opcode == 0x2:
            return data
        return self._decode_text(data)

    def _decode_text(self, data: bytes) -> str:
        """The text of a whole message whose first _validated bytes were validated already.

        CPython's strict UTF-8 decoder rejects exactly what RFC 3629 rejects; decoding is the
        validation. Only on failure does the validator run on the rest, to locate the first
        invalid byte with the same offset as the frame path reports.
        """
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self._validator.feed(memoryview(data)[self._validated :])
            self._validator.finish()
            raise
        if self._validated:
            self._validator.reset()
        return text

    def _single_frame_message(self, payload: bytes, opcode: int) -> str | bytes:
        """A whole text or binary message in one frame, as str or bytes (the hot path)."""
        self._message_opcode = None
        if opcode == 0x2:
            return payload
        return self._decode_text(payload)

    def _parse_header(self, buffer: bytearray, position: int) -> tuple[Any, ...] | None:
        """Check what the bytes so far prove; return the header once it is complete."""
        available = len(buffer) - position
        if available < 2:
            return None
        first, second = buffer[position], buffer[position + 1]
        length_size = _extended_length_size(second)
        length = None
        if available >= 2 + length_size:
            length = _payload_length(buffer, position, length_size)
        # Fail at the earliest byte that proves an error, not when the masking key arrives.
        self._check_header(first, second, length)
        header_size = 2 + length_size + (4 if second & 0x80 else 0)
        if available < header_size:
            return None
        assert length is not None  # the masking key comes after the length
        header = _header(buffer, position, first, second, length, header_size)
        self._start_frame(header)
        return header

    def _check_header(self, first: int, second: int, length: int | None) -> None:
        """Raise if the header is invalid; ``length`` is None until it has arrived."""
        opcode = first & 0x0F
        rsv1 = bool(first & 0x40)
        if opcode not in _VALID_OPCODES:
            raise ProtocolError("invalid opcode")
        if bool(second & 0x80) != self._mask:
            raise ProtocolError("incorrect masking")
        if first & 0x70 and not self._extensions:
            raise ProtocolError("reserved bits must be 0")
        if opcode in _CONTROL_OPCODES:
            if second & 0x7F > 125:
                raise ProtocolError("control frame too long")
            if not first & 0x80:
                raise ProtocolError("fragmented control frame")
            return
        if opcode == 0:
            if self._message_opcode is None:
                raise ProtocolError("unexpected continuation frame")
            fragments, message_size, compressed = self._fragments + 1, self._message_size, self._compressed
        else:
            if self._message_opcode is not None:
                raise ProtocolError("expected a continuation frame")
            # RFC 7692 §6: RSV1 on the first frame marks the whole message as compressed.
            fragments, message_size, compressed = 1, 0, rsv1 and bool(self._extensions)
        if self._max_fragments != UNLIMITED and fragments > self._max_fragments:
            raise TooManyFragments(self._max_fragments)
        if length is None:
            return
        if self._max_frame != UNLIMITED and length > self._max_frame:
            raise PayloadTooBig(length, self._max_frame)
        if not compressed and self._max_message != UNLIMITED:
            remaining = self._max_message - message_size
            if length > remaining:
                raise PayloadTooBig(length, remaining, message_size)

    def _start_frame(self, header: tuple[Any, ...]) -> None:
        fin, rsv1, _rsv2, _rsv3, opcode, _masked, _length, _key, header_size = header
        self._position += header_size
        self._header = header
        self._validated = 0
        if opcode in _CONTROL_OPCODES:
            return
        if opcode != 0:
            self._message_opcode = opcode
            self._message_size = 0
            self._fragments = 0
            self._compressed = bool(rsv1 and self._extensions)
        self._fragments += 1

    def _message_budget(self, opcode: int) -> int | None:
        """How many bytes the frame may inflate to: what is left of the message, and no more
        than one fragment's limit when max_size is a tuple."""
        budget = self._max_message
        if opcode in _CONTROL_OPCODES:
            return None if budget == UNLIMITED else budget
        if budget != UNLIMITED:
            budget -= self._message_size
        if self._max_frame != UNLIMITED and (budget == UNLIMITED or self._max_frame < budget):
            budget = self._max_frame
        return None if budget == UNLIMITED else budget

    def _checks_text_as_it_arrives(self, opcode: int) -> bool:
        # Only uncompressed text can be validated before its frame is complete; inflating
        # a partial compressed frame is left to the end of the frame.
        return self._message_opcode == 0x1 and not self._compressed and opcode in (0x0, 0x1)

    def _validate_arrived(self, buffer: bytearray, position: int, available: int, key: bytes | None) -> None:
        start = self._validated
        view = memoryview(buffer)[position + start : position + available]
        try:
            if key is not None:
                # Byte i of the payload is masked with key[i % 4] (§5.3): rotate the key so
                # that it lines up with the first byte not validated yet.
                phase = start & 3
                chunk: bytes | memoryview = apply_mask(view, key[phase:] + key[:phase])
            else:
                chunk = view
            self._validator.feed(chunk)
        finally:
            view.release()
        self._validated = available

    def _finish_data_frame(self, frame: Any, opcode: int, fin: bool) -> Any:
        data = frame.data
        # Uncompressed sizes were checked from the header; inflated ones are bounded by the
        # budget given to the extension, checked again here in case an extension ignores it.
        budget = self._message_budget(opcode)
        if budget is not None and len(data) > budget:
            raise PayloadTooBig(len(data), budget, self._message_size)
        self._message_size += len(data)
        if self._message_opcode == 0x1:
            if self._compressed:
                self._validator.feed(data)
            elif self._validated < len(data):
                self._validator.feed(memoryview(data)[self._validated :])
            if fin:
                self._validator.finish()
        if fin:
            self._message_opcode = None
        return frame
