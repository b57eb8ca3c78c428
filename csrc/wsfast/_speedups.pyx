# cython: language_level=3, freethreading_compatible=True
# cython: boundscheck=False, wraparound=False, cdivision=True
"""wsfast's codec core in C: masking, UTF-8 validation, frame headers.

The pure-Python twin ``wsfast._speedups_py`` is the reference; this module must return the
same results and raise the same exceptions for the same input (the differential tests check).

Arguments arrive as any bytes-like object. They are read through the buffer protocol with
PyBUF_SIMPLE rather than typed memoryviews: that accepts any contiguous buffer whatever its
item format, and costs a fraction of a typed memoryview's acquisition, which dominates
below a kilobyte (see performance notes). Strided buffers are flattened once, as the twin does.
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

import os

from wsfast.exceptions import InvalidUTF8, ProtocolError

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define WSFAST_GIL_DISABLED 1
    #else
    #define WSFAST_GIL_DISABLED 0
    #endif
    """
    const bint GIL_DISABLED "WSFAST_GIL_DISABLED"

__all__ = [
    "FrameReader",
    "MASK_IMPL",
    "UTF8_IMPL",
    "Utf8Validator",
    "apply_mask",
    "apply_mask_inplace",
    "parse_frame_header",
    "serialize_frame",
    "validate_utf8",
]

# WSFAST_FORCE_SCALAR=1 selects the portable kernels, so that tests can exercise them on a CPU
# that would otherwise pick SIMD ones. Chosen once here, before any thread can use them.
_force_scalar = os.environ.get("WSFAST_FORCE_SCALAR", "") not in ("", "0")
wsfast_mask_init(_force_scalar)
wsfast_utf8_init(_force_scalar)

MASK_IMPL = wsfast_mask_impl().decode("ascii")
UTF8_IMPL = wsfast_utf8_impl().decode("ascii")

# Masking large payloads lets other threads run meanwhile. At memory speed 1 MiB takes
# ~20 µs; below that, releasing and retaking the GIL costs a noticeable share of the work.
cdef Py_ssize_t NOGIL_THRESHOLD = 1024 * 1024
cdef unsigned long long MAX_PAYLOAD_LENGTH = 0x7FFFFFFFFFFFFFFF


cdef int _get_buffer(object data, Py_buffer *view, str what) except -1:
    """Acquire a flat, C-contiguous view of ``data``'s bytes (release with PyBuffer_Release)."""
    if not PyObject_CheckBuffer(data):
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}")
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except BufferError:
        # A strided view carries the bytes it selects; they are masked or checked in order.
        PyObject_GetBuffer(memoryview(data).tobytes(), view, PyBUF_SIMPLE)
    return 0


cdef int _get_mask_key(object mask, unsigned char *key) except -1:
    cdef Py_buffer view
    _get_buffer(mask, &view, "mask")
    try:
        if view.len != 4:
            raise ValueError("mask must contain 4 bytes")
        memcpy(key, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef inline bint _is_exact_key(object mask) noexcept:
    return type(mask) is bytes and PyBytes_GET_SIZE(mask) == 4


def apply_mask(data, mask):
    """Return ``data`` XOR-ed with the 4-byte masking key ``mask`` (RFC 6455 §5.3)."""
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef bytes result
    cdef unsigned char *out
    cdef const unsigned char *src
    cdef size_t length
    cdef Py_ssize_t size
    if type(data) is bytes and _is_exact_key(mask) and PyBytes_GET_SIZE(data) < NOGIL_THRESHOLD:
        # The common case without buffer acquisition: below a kilobyte that is most of the
        # cost of a call (see performance notes).
        size = PyBytes_GET_SIZE(data)
        result = PyBytes_FromStringAndSize(NULL, size)
        wsfast_mask(<const unsigned char *>PyBytes_AS_STRING(data),
                    <unsigned char *>PyBytes_AS_STRING(result), <size_t>size,
                    <const unsigned char *>PyBytes_AS_STRING(mask), 0)
        return result
    _get_buffer(data, &view, "data")
    try:
        _get_mask_key(mask, key)
        result = PyBytes_FromStringAndSize(NULL, view.len)
        out = <unsigned char *>PyBytes_AS_STRING(result)
        src = <const unsigned char *>view.buf
        length = <size_t>view.len
        if view.len >= NOGIL_THRESHOLD:
            with nogil:
                wsfast_mask(src, out, length, key, 0)
        else:
            wsfast_mask(src, out, length, key, 0)
    finally:
        PyBuffer_Release(&view)
    return result


def apply_mask_inplace(buffer, mask):
    """XOR a writable, contiguous buffer (e.g. a bytearray) with ``mask`` in place."""
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef unsigned char *buf
    cdef size_t length
    if (not GIL_DISABLED and type(buffer) is bytearray and _is_exact_key(mask)
            and PyByteArray_GET_SIZE(buffer) < NOGIL_THRESHOLD):
        # Without a buffer export nothing stops a resize, but with the GIL held no other code
        # runs between taking the pointer and masking. Free-threaded builds take the export.
        wsfast_mask(<const unsigned char *>PyByteArray_AS_STRING(buffer),
                    <unsigned char *>PyByteArray_AS_STRING(buffer),
                    <size_t>PyByteArray_GET_SIZE(buffer),
                    <const unsigned char *>PyBytes_AS_STRING(mask), 0)
        return
    if not PyObject_CheckBuffer(buffer):
        raise TypeError(
            f"buffer must be a writable bytes-like object, not {type(buffer).__name__}"
        )
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    except BufferError:
        if memoryview(buffer).readonly:
            raise TypeError(
                f"buffer must be a writable bytes-like object, not {type(buffer).__name__}"
            ) from None
        raise ValueError("buffer must be contiguous to be masked in place") from None
    try:
        _get_mask_key(mask, key)
        buf = <unsigned char *>view.buf
        length = <size_t>view.len
        if view.len >= NOGIL_THRESHOLD:
            with nogil:
                wsfast_mask(buf, buf, length, key, 0)
        else:
            wsfast_mask(buf, buf, length, key, 0)
    finally:
        PyBuffer_Release(&view)


cdef object _utf8_error(object fragment, Py_ssize_t start, Py_ssize_t end, str reason,
                        Py_ssize_t offset):
    error = InvalidUTF8("utf-8", fragment, start, end, reason)
    error.offset = offset
    return error


@cython.final
cdef class Utf8Validator:
    """Validate one message's UTF-8 as its fragments arrive (RFC 6455 §8.1, RFC 3629).

    ``feed()`` raises :class:`~wsfast.exceptions.InvalidUTF8` as soon as a byte arrives that no
    valid text can contain; its ``offset`` is absolute within the message. ``finish()`` checks
    that the message does not end inside a sequence and makes the validator ready for the next
    message. After an error the validator stays failed until ``reset()``.
    """

    def __cinit__(self):
        self._consumed = 0
        self._state.remaining = 0
        self._state.pending = 0
        self._error = None

    @property
    def offset(self):
        """Number of bytes of the current message fed so far."""
        return self._consumed

    @property
    def pending(self):
        """Number of trailing bytes that belong to a sequence not yet complete."""
        return self._state.pending

    def reset(self):
        """Forget the current message, including a previous error."""
        with cython.critical_section(self):
            self._consumed = 0
            self._state.remaining = 0
            self._state.pending = 0
            self._error = None

    def feed(self, data):
        """Validate the next fragment of the message."""
        cdef Py_buffer view
        with cython.critical_section(self):
            if self._error is not None:
                raise self._error
            _get_buffer(data, &view, "data")
            try:
                self._feed(<const unsigned char *>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)

    def finish(self):
        """Declare the message complete; fail if it ends inside a sequence, then reset."""
        with cython.critical_section(self):
            self._finish()

    cdef int _feed(self, const unsigned char *data, Py_ssize_t n) except -1:
        cdef int is_start_error = 0
        cdef Py_ssize_t fragment_base = self._consumed
        cdef Py_ssize_t invalid
        cdef Py_ssize_t pending
        if n == 0:
            return 0
        invalid = wsfast_utf8_feed(&self._state, data, <size_t>n, &is_start_error)
        self._consumed = fragment_base + n
        if invalid >= 0:
            self._state.remaining = 0
            self._state.pending = 0
            self._error = _utf8_error(
                PyBytes_FromStringAndSize(<const char *>data, n),
                invalid,
                invalid + 1,
                "invalid start byte" if is_start_error else "invalid continuation byte",
                fragment_base + invalid,
            )
            raise self._error
        pending = self._state.pending
        if pending:
            if pending <= n:
                memcpy(self._pending_bytes, data + n - pending, pending)
            else:
                # The whole fragment continues a sequence begun earlier.
                memcpy(self._pending_bytes + (pending - n), data, n)
        return 0

    cdef int _finish(self) except -1:
        cdef Py_ssize_t pending
        if self._error is not None:
            raise self._error
        pending = self._state.pending
        if pending:
            self._error = _utf8_error(
                PyBytes_FromStringAndSize(<const char *>self._pending_bytes, pending),
                0,
                pending,
                "unexpected end of data",
                self._consumed - pending,
            )
            raise self._error
        self._consumed = 0
        return 0


def validate_utf8(data):
    """Validate a complete message; raise :class:`~wsfast.exceptions.InvalidUTF8` if invalid."""
    cdef Utf8Validator validator = Utf8Validator.__new__(Utf8Validator)
    cdef Py_buffer view
    if type(data) is bytes:
        validator._feed(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    else:
        _get_buffer(data, &view, "data")
        try:
            validator._feed(<const unsigned char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
    validator._finish()


cdef inline Py_ssize_t _extended_length_size(unsigned char second) noexcept nogil:
    """Bytes of extended payload length announced by a header's second byte (§5.2)."""
    cdef unsigned char short_length = second & 0x7F
    return 0 if short_length < 126 else (2 if short_length == 126 else 8)


cdef int _payload_length(const unsigned char *p, Py_ssize_t length_size,
                         unsigned long long *length) except -1:
    """Decode the payload length of the header at p, its bytes all present."""
    cdef Py_ssize_t k
    if not length_size:
        length[0] = p[1] & 0x7F
        return 0
    length[0] = 0
    for k in range(2, 2 + length_size):
        length[0] = (length[0] << 8) | p[k]
    if length[0] > MAX_PAYLOAD_LENGTH:
        raise ProtocolError("invalid payload length: most significant bit of 64-bit length is set")
    return 0


def parse_frame_header(data, offset=0):
    """Parse the frame header starting at ``data[offset]``.

    Returns ``None`` until the whole header (extended length and masking key included) is
    available, else ``(fin, rsv1, rsv2, rsv3, opcode, masked, length, mask, header_size)``
    where ``mask`` is the 4-byte key or ``None``. Raises ``ProtocolError`` for a 64-bit length
    with its most significant bit set, which §5.2 forbids.
    """
    cdef Py_buffer view
    cdef const unsigned char *p
    cdef Py_ssize_t available
    cdef unsigned char first, second
    cdef unsigned long long length
    cdef Py_ssize_t length_size, header_size
    _get_buffer(data, &view, "data")
    try:
        if not isinstance(offset, int):
            raise TypeError(f"offset must be an integer, not {type(offset).__name__}")
        if offset < 0:
            raise ValueError("offset must not be negative")
        # Compared as Python ints first: an offset beyond any buffer is "not enough data".
        if offset > view.len - 2:
            return None
        available = view.len - <Py_ssize_t>offset
        p = <const unsigned char *>view.buf + <Py_ssize_t>offset
        first = p[0]
        second = p[1]
        length_size = _extended_length_size(second)
        header_size = 2 + length_size + (4 if second & 0x80 else 0)
        if available < header_size:
            return None
        _payload_length(p, length_size, &length)
        return (
            (first & 0x80) != 0,
            (first & 0x40) != 0,
            (first & 0x20) != 0,
            (first & 0x10) != 0,
            first & 0x0F,
            (second & 0x80) != 0,
            length,
            PyBytes_FromStringAndSize(<const char *>p + header_size - 4, 4)
            if second & 0x80 else None,
            header_size,
        )
    finally:
        PyBuffer_Release(&view)


def serialize_frame(opcode, payload, fin=True, rsv1=False, rsv2=False, rsv3=False, mask=None):
    """Return a complete frame: header, then the payload, masked when ``mask`` is given."""
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef unsigned char *out
    cdef Py_ssize_t length, header_size
    cdef bint masked = mask is not None
    cdef bytes frame
    cdef int k
    cdef unsigned char first_byte
    # Same order of checks as the twin: opcode, payload, mask, then the flags' truth values.
    if not isinstance(opcode, int):
        raise TypeError(f"opcode must be an integer, not {type(opcode).__name__}")
    if not 0 <= opcode <= 15:
        raise ValueError("opcode must be between 0 and 15")
    _get_buffer(payload, &view, "payload")
    try:
        if masked:
            _get_mask_key(mask, key)
        first_byte = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (
            0x10 if rsv3 else 0) | <unsigned char>opcode
        length = view.len
        # §5.2: the minimal number of bytes must be used to encode the length.
        header_size = 2 if length < 126 else (4 if length < 65536 else 10)
        if masked:
            header_size += 4
        frame = PyBytes_FromStringAndSize(NULL, header_size + length)
        out = <unsigned char *>PyBytes_AS_STRING(frame)
        out[0] = first_byte
        if length < 126:
            out[1] = <unsigned char>length
        elif length < 65536:
            out[1] = 126
            out[2] = <unsigned char>(length >> 8)
            out[3] = <unsigned char>length
        else:
            out[1] = 127
            for k in range(8):
                out[2 + k] = <unsigned char>((<unsigned long long>length) >> (56 - 8 * k))
        if masked:
            out[1] |= 0x80
            memcpy(out + header_size - 4, key, 4)
            wsfast_mask(<const unsigned char *>view.buf, out + header_size, <size_t>length,
                        key, 0)
        else:
            memcpy(out + header_size, view.buf, length)
    finally:
        PyBuffer_Release(&view)
    return frame


# Receive path (RFC 6455 §5, RFC 7692 §6) ----------------------------------------------------

from wsfast.exceptions import PayloadTooBig, TooManyFragments

# Consumed bytes are dropped from the front of the buffer once they are this many and more
# than half of it: amortised O(1) per byte without shifting the buffer on every frame.
cdef Py_ssize_t COMPACT_THRESHOLD = 64 * 1024
# "No limit" for the size fields below.
cdef long long UNLIMITED = -1

_Frame = None
_OPCODES = {}


cdef _bind_frame_classes():
    # Bound on first use: wsfast.frames imports this module (through wsfast.speedups) first.
    global _Frame
    from wsfast.frames import Frame, Opcode
    for opcode in Opcode:
        _OPCODES[int(opcode)] = opcode
    _Frame = Frame


cdef inline bint _is_control(int opcode) noexcept nogil:
    return opcode >= 0x8


cdef inline bint _is_valid_opcode(int opcode) noexcept nogil:
    return opcode <= 0x2 or 0x8 <= opcode <= 0xA


cdef long long _limit(object value) except? -2:
    return UNLIMITED if value is None else <long long>value


@cython.final
cdef class FrameReader:
    """Bytes from the transport in, validated frames out.

    Everything the RFC lets a receiver check is checked here, at the earliest byte that proves
    an error: header rules (§5.2, §5.5), masking direction (§5.1), fragmentation order
    (§5.4), size and fragment limits, and UTF-8 of text messages across fragments and while a
    frame is still arriving (§8.1). Compressed messages are inflated by the negotiated
    extensions within the remaining ``max_size`` budget (RFC 7692 §6.2) before validation.
    """

    cdef bint _mask
    cdef long long _max_message
    cdef long long _max_frame
    cdef long long _max_fragments
    cdef tuple _extensions
    cdef bytearray _buffer
    cdef Py_ssize_t _position
    cdef bint _eof
    cdef object _error
    # The frame whose payload is awaited, if _have_header.
    cdef bint _have_header
    cdef bint _fin, _rsv1, _rsv2, _rsv3, _masked
    cdef int _opcode
    cdef unsigned long long _length
    cdef unsigned char _key[4]
    cdef Py_ssize_t _validated
    # The data message in progress: _message_opcode is -1 when there is none.
    cdef int _message_opcode
    cdef long long _message_size
    cdef long long _fragments
    cdef bint _compressed
    cdef Utf8Validator _validator

    def __init__(self, *, mask, max_size=2**20, max_fragments=None, extensions=()):
        self._mask = bool(mask)
        if isinstance(max_size, tuple):
            self._max_message = _limit(max_size[0])
            self._max_frame = _limit(max_size[1])
        else:
            self._max_message = self._max_frame = _limit(max_size)
        self._max_fragments = _limit(max_fragments)
        self._extensions = tuple(extensions)
        self._buffer = bytearray()
        self._position = 0
        self._eof = False
        self._error = None
        self._have_header = False
        self._validated = 0
        self._message_opcode = -1
        self._message_size = 0
        self._fragments = 0
        self._compressed = False
        self._validator = Utf8Validator.__new__(Utf8Validator)
        if _Frame is None:
            _bind_frame_classes()

    @property
    def message_in_progress(self):
        """Whether a fragmented data message has started and not finished."""
        return self._message_opcode != -1

    def feed_data(self, data):
        """Buffer more bytes received from the transport."""
        cdef Py_buffer view
        cdef Py_ssize_t size
        with cython.critical_section(self):
            if self._eof:
                raise EOFError("stream ended")
            _get_buffer(data, &view, "data")
            try:
                size = PyByteArray_GET_SIZE(self._buffer)
                # bytearray over-allocates when it grows, so appends are amortised O(1).
                PyByteArray_Resize(self._buffer, size + view.len)
                memcpy(PyByteArray_AS_STRING(self._buffer) + size, view.buf, view.len)
            finally:
                PyBuffer_Release(&view)

    def feed_eof(self):
        """Note that the transport is closed for reading."""
        self._eof = True

    def read_frame(self):
        """Return the next complete frame, or None until more bytes arrive."""
        with cython.critical_section(self):
            if self._error is not None:
                raise self._error
            try:
                return self._read_frame()
            except BaseException as exc:
                self._error = exc
                raise

    cdef object _read_frame(self):
        cdef const unsigned char *data = <const unsigned char *>PyByteArray_AS_STRING(self._buffer)
        cdef Py_ssize_t size = PyByteArray_GET_SIZE(self._buffer)
        cdef Py_ssize_t position = self._position
        cdef Py_ssize_t available
        cdef bytes payload
        if not self._have_header:
            if not self._parse_header(data + position, size - position):
                if self._eof and size > position:
                    raise EOFError("stream ends inside a frame header")
                return None
            position = self._position
        available = size - position
        if <unsigned long long>available < self._length:
            if available > self._validated and self._checks_text_as_it_arrives():
                self._validate_arrived(data + position, available)
            if self._eof:
                raise EOFError("stream ends inside a frame payload")
            return None

        payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self._length)
        if self._masked:
            wsfast_mask(data + position, <unsigned char *>PyBytes_AS_STRING(payload),
                        <size_t>self._length, self._key, 0)
        else:
            memcpy(PyBytes_AS_STRING(payload), data + position, <size_t>self._length)
        self._have_header = False
        position += <Py_ssize_t>self._length
        if position >= COMPACT_THRESHOLD and position * 2 >= size:
            del self._buffer[:position]
            position = 0
        self._position = position

        frame = _Frame(_OPCODES[self._opcode], payload, self._fin, self._rsv1, self._rsv2,
                       self._rsv3)
        if self._extensions:
            for extension in reversed(self._extensions):
                frame = extension.decode(frame, max_size=self._message_budget(self._opcode))
            frame.check()
        if _is_control(self._opcode):
            return frame
        return self._finish_data_frame(frame)

    cdef bint _parse_header(self, const unsigned char *p, Py_ssize_t available) except -1:
        """Check what the bytes so far prove; False until the header is complete."""
        cdef Py_ssize_t length_size, header_size
        cdef unsigned long long length = 0
        cdef bint have_length
        if available < 2:
            return False
        length_size = _extended_length_size(p[1])
        have_length = available >= 2 + length_size
        if have_length:
            _payload_length(p, length_size, &length)
        # Fail at the earliest byte that proves an error, not when the masking key arrives.
        self._check_header(p[0], p[1], have_length, length)
        header_size = 2 + length_size + (4 if p[1] & 0x80 else 0)
        if available < header_size:
            return False
        self._fin = (p[0] & 0x80) != 0
        self._rsv1 = (p[0] & 0x40) != 0
        self._rsv2 = (p[0] & 0x20) != 0
        self._rsv3 = (p[0] & 0x10) != 0
        self._opcode = p[0] & 0x0F
        self._masked = (p[1] & 0x80) != 0
        self._length = length
        if self._masked:
            memcpy(self._key, p + header_size - 4, 4)
        self._position += header_size
        self._have_header = True
        self._validated = 0
        if not _is_control(self._opcode):
            if self._opcode != 0:
                self._message_opcode = self._opcode
                self._message_size = 0
                self._fragments = 0
                self._compressed = self._rsv1 and bool(self._extensions)
            self._fragments += 1
        return True

    cdef int _check_header(self, unsigned char first, unsigned char second, bint have_length,
                           unsigned long long length) except -1:
        """Raise if the header is invalid; the length is only known when have_length."""
        cdef int opcode = first & 0x0F
        cdef long long fragments, message_size, remaining
        cdef bint compressed
        if not _is_valid_opcode(opcode):
            raise ProtocolError("invalid opcode")
        if ((second & 0x80) != 0) != self._mask:
            raise ProtocolError("incorrect masking")
        if first & 0x70 and not self._extensions:
            raise ProtocolError("reserved bits must be 0")
        if _is_control(opcode):
            if second & 0x7F > 125:
                raise ProtocolError("control frame too long")
            if not first & 0x80:
                raise ProtocolError("fragmented control frame")
            return 0
        if opcode == 0:
            if self._message_opcode == -1:
                raise ProtocolError("unexpected continuation frame")
            fragments = self._fragments + 1
            message_size = self._message_size
            compressed = self._compressed
        else:
            if self._message_opcode != -1:
                raise ProtocolError("expected a continuation frame")
            # RFC 7692 §6: RSV1 on the first frame marks the whole message as compressed.
            fragments = 1
            message_size = 0
            compressed = (first & 0x40) != 0 and bool(self._extensions)
        if self._max_fragments != UNLIMITED and fragments > self._max_fragments:
            raise TooManyFragments(self._max_fragments)
        if not have_length:
            return 0
        if self._max_frame != UNLIMITED and length > <unsigned long long>self._max_frame:
            raise PayloadTooBig(length, self._max_frame)
        if not compressed and self._max_message != UNLIMITED:
            remaining = self._max_message - message_size
            if length > <unsigned long long>remaining:
                raise PayloadTooBig(length, remaining, message_size)
        return 0

    cdef object _message_budget(self, int opcode):
        if self._max_message == UNLIMITED:
            return None
        if _is_control(opcode):
            return self._max_message
        return self._max_message - self._message_size

    cdef inline bint _checks_text_as_it_arrives(self) noexcept:
        # Only uncompressed text can be validated before its frame is complete; inflating
        # a partial compressed frame is left to the end of the frame.
        return self._message_opcode == 0x1 and not self._compressed and self._opcode <= 0x1

    cdef int _validate_arrived(self, const unsigned char *payload, Py_ssize_t available) except -1:
        cdef Py_ssize_t start = self._validated
        cdef Py_ssize_t count = available - start
        cdef bytes chunk
        if self._masked:
            # Byte i of the payload is masked with key[i % 4] (§5.3).
            chunk = PyBytes_FromStringAndSize(NULL, count)
            wsfast_mask(payload + start, <unsigned char *>PyBytes_AS_STRING(chunk),
                        <size_t>count, self._key, <size_t>start)
            self._validator._feed(<const unsigned char *>PyBytes_AS_STRING(chunk), count)
        else:
            self._validator._feed(payload + start, count)
        self._validated = available
        return 0

    cdef object _finish_data_frame(self, frame):
        data = frame.data
        cdef Py_ssize_t size = len(data)
        cdef Py_buffer view
        # Uncompressed sizes were checked from the header; inflated ones are bounded by the
        # budget given to the extension, checked again here in case an extension ignores it.
        budget = self._message_budget(self._opcode)
        if budget is not None and size > budget:
            raise PayloadTooBig(size, budget, self._message_size)
        self._message_size += size
        if self._message_opcode == 0x1:
            if self._compressed or self._validated < size:
                _get_buffer(data, &view, "data")
                try:
                    if self._compressed:
                        self._validator._feed(<const unsigned char *>view.buf, size)
                    else:
                        self._validator._feed(
                            <const unsigned char *>view.buf + self._validated,
                            size - self._validated)
                finally:
                    PyBuffer_Release(&view)
            if self._fin:
                self._validator._finish()
        if self._fin:
            self._message_opcode = -1
        return frame
