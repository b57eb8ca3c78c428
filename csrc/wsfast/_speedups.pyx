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
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

import os

from wsfast.exceptions import InvalidUTF8, ProtocolError

__all__ = [
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

# Masking large payloads lets other threads run meanwhile; below this the GIL round trip
# costs more than the work.
cdef Py_ssize_t NOGIL_THRESHOLD = 64 * 1024
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


def apply_mask(data, mask):
    """Return ``data`` XOR-ed with the 4-byte masking key ``mask`` (RFC 6455 §5.3)."""
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef bytes result
    cdef unsigned char *out
    cdef const unsigned char *src
    cdef size_t length
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
    validator.feed(data)
    validator._finish()


def parse_frame_header(data, Py_ssize_t offset=0):
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
    cdef Py_ssize_t header_size
    cdef int k
    _get_buffer(data, &view, "data")
    try:
        if offset < 0:
            raise ValueError("offset must not be negative")
        available = view.len - offset
        if available < 2:
            return None
        p = <const unsigned char *>view.buf + offset
        first = p[0]
        second = p[1]
        length = second & 0x7F
        header_size = 2
        if length == 126:
            header_size = 4
        elif length == 127:
            header_size = 10
        if second & 0x80:
            header_size += 4
        if available < header_size:
            return None
        if length == 126:
            length = (<unsigned long long>p[2] << 8) | p[3]
        elif length == 127:
            length = 0
            for k in range(2, 10):
                length = (length << 8) | p[k]
            if length > MAX_PAYLOAD_LENGTH:
                raise ProtocolError(
                    "invalid payload length: most significant bit of 64-bit length is set"
                )
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


def serialize_frame(int opcode, payload, bint fin=True, bint rsv1=False, bint rsv2=False,
                    bint rsv3=False, mask=None):
    """Return a complete frame: header, then the payload, masked when ``mask`` is given."""
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef unsigned char *out
    cdef Py_ssize_t length, header_size
    cdef bint masked = mask is not None
    cdef bytes frame
    cdef int k
    if not 0 <= opcode <= 15:
        raise ValueError("opcode must be between 0 and 15")
    _get_buffer(payload, &view, "payload")
    try:
        if masked:
            _get_mask_key(mask, key)
        length = view.len
        # §5.2: the minimal number of bytes must be used to encode the length.
        header_size = 2 if length < 126 else (4 if length < 65536 else 10)
        if masked:
            header_size += 4
        frame = PyBytes_FromStringAndSize(NULL, header_size + length)
        out = <unsigned char *>PyBytes_AS_STRING(frame)
        out[0] = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (
            0x10 if rsv3 else 0) | opcode
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
