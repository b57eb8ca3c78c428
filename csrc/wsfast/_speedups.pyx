# cython: language_level=3, freethreading_compatible=True
# cython: boundscheck=False, wraparound=False, cdivision=True
"""wsfast's codec core in C: masking, UTF-8 validation, frame headers.

The pure-Python twin ``wsfast._speedups_py`` is the reference; this module must return the
same results and raise the same exceptions for the same input (the differential tests check).

Arguments arrive as any bytes-like object. They are read through the buffer protocol with
PyBUF_SIMPLE rather than typed memoryviews: that accepts any contiguous buffer whatever its
item format, and costs a fraction of a typed memoryview's acquisition, which dominates
below a kilobyte (see docs/architecture.md). Strided buffers are flattened once, as the twin does.
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_FORMAT,
    PyBUF_ND,
    PyBUF_SIMPLE,
    PyBUF_STRIDES,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcpy, memmove

import dataclasses
import operator
import os

from wsfast._codec_names import CODEC_NAMES
from wsfast.exceptions import InvalidUTF8, PayloadTooBig, ProtocolError, TooManyFragments
from wsfast.extensions.permessage_deflate import PerMessageDeflate
from wsfast.frames import Frame, Opcode

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define WSFAST_GIL_DISABLED 1
    #else
    #define WSFAST_GIL_DISABLED 0
    #endif
    """
    const bint GIL_DISABLED "WSFAST_GIL_DISABLED"

__all__ = list(CODEC_NAMES)

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


# Masking (RFC 6455 §5.3) ---------------------------------------------------------------------


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
        # cost of a call (see docs/architecture.md).
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


# Incremental UTF-8 validation ----------------------------------------------------------------


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


# Frame header (RFC 6455 §5.2) ----------------------------------------------------------------


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


cdef bytes _build_frame(unsigned char first_byte, const unsigned char *payload, Py_ssize_t length,
                        const unsigned char *key):
    """Header, then the payload, masked with ``key`` unless it is NULL (RFC 6455 §5.2)."""
    cdef Py_ssize_t header_size
    cdef unsigned char *out
    cdef bytes frame
    cdef int k
    # §5.2: the minimal number of bytes must be used to encode the length.
    header_size = 2 if length < 126 else (4 if length < 65536 else 10)
    if key != NULL:
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
    if key != NULL:
        out[1] |= 0x80
        memcpy(out + header_size - 4, key, 4)
        wsfast_mask(payload, out + header_size, <size_t>length, key, 0)
    else:
        memcpy(out + header_size, payload, length)
    return frame


def serialize_frame(opcode, payload, fin=True, rsv1=False, rsv2=False, rsv3=False, mask=None):
    """Return a complete frame: header, then the payload, masked when ``mask`` is given."""
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef bint masked = mask is not None
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
        return _build_frame(first_byte, <const unsigned char *>view.buf, view.len,
                            key if masked else NULL)
    finally:
        PyBuffer_Release(&view)


# Send path (RFC 6455 §5.2, §5.3, RFC 7692 §7.2.1) --------------------------------------------

# Masking keys must be unpredictable (RFC 6455 §5.3), so they come from os.urandom; asking it
# for 4 bytes per frame costs ~0.6 µs, cutting them from a pooled block a few nanoseconds.
# Guarded like the receive-buffer pool; emptied in a forked child, which must not reuse the
# keys its parent hands out.
cdef enum:
    KEY_POOL_SIZE = 4096
cdef unsigned char _keys[KEY_POOL_SIZE]
cdef Py_ssize_t _keys_position = KEY_POOL_SIZE
_keys_guard = object()


cdef int _next_mask_key(unsigned char *key) except -1:
    global _keys_position
    with cython.critical_section(_keys_guard):
        if _keys_position + 4 > KEY_POOL_SIZE:
            fresh = os.urandom(KEY_POOL_SIZE)
            memcpy(_keys, PyBytes_AS_STRING(fresh), KEY_POOL_SIZE)
            _keys_position = 0
        memcpy(key, _keys + _keys_position, 4)
        _keys_position += 4
    return 0


def _discard_mask_keys():
    global _keys_position
    with cython.critical_section(_keys_guard):
        _keys_position = KEY_POOL_SIZE


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_discard_mask_keys)


# Methods as plain C methods, not cyfunctions: a connection calls these once or more per
# message, and the cyfunction's keyword-capable calling convention costs more than the work of
# a small frame. Their signatures, which cyfunctions carry, are embedded for inspect instead.
@cython.binding(False)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
@cython.final
cdef class FrameWriter:
    """Messages in, frame bytes out, in one call: compression (RFC 7692 §7.2.1), header,
    and on the client side masking with a fresh key (RFC 6455 §5.3).

    With permessage-deflate as the only extension, payloads go to its ``compress()`` directly;
    other extensions get :class:`~wsfast.frames.Frame` objects through their ``encode()``.
    """

    cdef bint _mask
    cdef tuple _extensions
    cdef object _deflate

    def __init__(self, *, mask, extensions=()):
        self._mask = bool(mask)
        self._extensions = tuple(extensions)
        self._deflate = None
        if len(self._extensions) == 1 and type(self._extensions[0]) in _PassthroughExtensions:
            self._deflate = self._extensions[0]

    def frame(self, int opcode, data, bint fin=True):
        """Return the bytes of one frame carrying ``data`` (RFC 6455 §5.2)."""
        cdef Py_buffer view
        cdef unsigned char key[4]
        cdef unsigned char first_byte
        cdef bint rsv1 = False
        if not _is_valid_opcode(opcode):
            raise ValueError(f"invalid opcode: {opcode}")
        if self._extensions:
            if self._deflate is None:
                return self._frame_through_extensions(opcode, data, fin)
            if not _is_control(opcode):
                # RFC 7692 §6.1: RSV1 on the first frame of a compressed message only.
                rsv1 = opcode != 0
                data = self._deflate.compress(data, rsv1, fin)
        first_byte = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | <unsigned char>opcode
        if self._mask:
            _next_mask_key(key)
        if type(data) is bytes:
            return _build_frame(first_byte, <const unsigned char *>PyBytes_AS_STRING(data),
                                PyBytes_GET_SIZE(data), key if self._mask else NULL)
        _get_buffer(data, &view, "data")
        try:
            return _build_frame(first_byte, <const unsigned char *>view.buf, view.len,
                                key if self._mask else NULL)
        finally:
            PyBuffer_Release(&view)

    cdef bytes _frame_through_extensions(self, int opcode, data, bint fin):
        cdef Py_buffer view
        cdef unsigned char key[4]
        cdef unsigned char first_byte
        frame = Frame(_OPCODES[opcode], data, fin)
        for extension in self._extensions:
            frame = extension.encode(frame)
        first_byte = ((0x80 if frame.fin else 0) | (0x40 if frame.rsv1 else 0)
                      | (0x20 if frame.rsv2 else 0) | (0x10 if frame.rsv3 else 0)
                      | <unsigned char>opcode)
        if self._mask:
            _next_mask_key(key)
        _get_buffer(frame.data, &view, "data")
        try:
            return _build_frame(first_byte, <const unsigned char *>view.buf, view.len,
                                key if self._mask else NULL)
        finally:
            PyBuffer_Release(&view)


# Receive path (RFC 6455 §5, RFC 7692 §6) -----------------------------------------------------


# "No limit" for the size fields below.
cdef long long UNLIMITED = -1
# Limits from here up are no limits: no length or count reaches them (RFC 6455 §5.2 lengths
# stop at 2**63 - 1).
LIMIT_CEILING = 2**63 - 1

# The receive buffer offered to the transport. 64 KiB lets one system call bring hundreds of
# small messages; frames that cannot fit go straight into their own payload object instead.
cdef Py_ssize_t RECV_SIZE = 64 * 1024
# Below this much free room at the end, get_buffer() compacts the buffer first, so that the
# transport is never offered a sliver.
cdef Py_ssize_t RECV_MIN_FREE = 16 * 1024
# A frame of at least DIRECT_MIN bytes whose payload is still arriving is received straight into
# its final bytes object (get_buffer() exports the part still missing): large messages are then
# never copied after the kernel writes them, and never pay the page faults of a second large
# allocation (see docs/architecture.md). Above DIRECT_MAX the payload grows with what arrives
# instead, so that a header announcing a huge length cannot reserve memory before its data comes.
cdef Py_ssize_t DIRECT_MIN = 32 * 1024
cdef Py_ssize_t DIRECT_MAX = 64 * 1024 * 1024
# Masked text in a borrowed bytes object is unmasked on the stack up to this size (messages
# from clients are mostly small) rather than after copying the rest of the object.
cdef enum:
    SCRATCH_SIZE = 1024

# Drained readers give their receive buffer back to this pool, so that an idle connection holds
# none (10,000 idle connections must not hold 64 KiB each) while busy ones reuse a warm buffer
# without a fresh allocation per read. Guarded by a critical section on _pool_guard, for
# free-threaded builds; on other builds the GIL already serialises it.
cdef enum:
    POOL_CAPACITY = 32
cdef unsigned char *_pool[POOL_CAPACITY]
cdef int _pool_count = 0
_pool_guard = object()


cdef unsigned char *_pool_take() except NULL:
    global _pool_count
    cdef unsigned char *buffer = NULL
    with cython.critical_section(_pool_guard):
        if _pool_count > 0:
            _pool_count -= 1
            buffer = _pool[_pool_count]
    if buffer == NULL:
        buffer = <unsigned char *>PyMem_RawMalloc(RECV_SIZE)
        if buffer == NULL:
            raise MemoryError()
    return buffer


cdef void _pool_give(unsigned char *buffer) noexcept:
    global _pool_count
    with cython.critical_section(_pool_guard):
        if _pool_count < POOL_CAPACITY:
            _pool[_pool_count] = buffer
            _pool_count += 1
            buffer = NULL
    if buffer != NULL:
        PyMem_RawFree(buffer)


cdef void _free_receive_buffer(unsigned char *buffer, Py_ssize_t capacity) noexcept:
    if buffer != NULL:
        if capacity == RECV_SIZE:
            _pool_give(buffer)
        else:
            PyMem_RawFree(buffer)


cdef str _stream_ends_message(Py_ssize_t available, Py_ssize_t expected):
    """websockets' words for a stream that ends before ``expected`` bytes of a field arrive."""
    return f"stream ends after {available} bytes, expected {expected} bytes"


cdef str _truncated_header_message(const unsigned char *data, Py_ssize_t available):
    """websockets' words for a stream ending inside this incomplete frame header.

    websockets reads the header in fields (RFC 6455 §5.2): two bytes, then the extended
    length (2 or 8 bytes) if any, then the masking key (4 bytes) if any; it names the field
    that the stream cut, and how much of it arrived.
    """
    cdef Py_ssize_t extended, size
    if available < 2:
        return _stream_ends_message(available, 2)
    extended = 2 if data[1] & 0x7F == 126 else 8 if data[1] & 0x7F == 127 else 0
    available -= 2
    for size in (extended, 4 if data[1] & 0x80 else 0):
        if available < size:
            return _stream_ends_message(available, size)
        available -= size
    raise AssertionError("the header is complete")


cdef class FrameReader


@cython.final
@cython.freelist(8)
cdef class _ReceiveBuffer:
    """What FrameReader.get_buffer() returns: the writable region it prepared, as a buffer.

    A separate object rather than the reader itself: transports ask for len() of it, and a
    reader that exported itself would have a length that means nothing elsewhere.
    """

    cdef FrameReader _reader

    # Under the reader's critical section: on a free-threaded build, another thread may be
    # inside the reader, moving or withdrawing the region.

    def __len__(self):
        cdef FrameReader reader = self._reader
        with cython.critical_section(reader):
            return reader._export_len

    def __getbuffer__(self, Py_buffer *view, int flags):
        cdef FrameReader reader = self._reader
        with cython.critical_section(reader):
            self._export(reader, view, flags)

    cdef int _export(self, FrameReader reader, Py_buffer *view, int flags) except -1:
        if reader._export_ptr == NULL:
            raise BufferError("the buffer was used already; call get_buffer() again")
        view.buf = reader._export_ptr
        view.obj = self
        view.len = reader._export_len
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = &view.len if flags & PyBUF_ND else NULL
        view.strides = &view.itemsize if flags & PyBUF_STRIDES == PyBUF_STRIDES else NULL
        view.suboffsets = NULL
        view.internal = NULL
        reader._exports += 1
        return 0

    def __releasebuffer__(self, Py_buffer *view):
        cdef FrameReader reader = self._reader
        with cython.critical_section(reader):
            reader._exports -= 1


_OPCODES = {int(opcode): opcode for opcode in Opcode}
# The Opcode member of each value 0-15, None for the reserved ones: indexed by the 4 bits of
# a header that _check_header accepted (RFC 6455 §5.2), without a dictionary lookup.
cdef tuple _opcode_members = tuple(_OPCODES.get(value) for value in range(16))
# Extensions whose effect the reader and writer apply themselves, without Frame objects.
_PassthroughExtensions = (PerMessageDeflate,)
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


cdef extern from "frame_slots.h":
    object wsfast_bare_instance(object cls)
    object wsfast_alloc_instance(object cls)
    bint wsfast_uses_object_new(object cls)
    Py_ssize_t wsfast_slot_offset(object descr)
    void wsfast_fill_slot(object instance, Py_ssize_t offset, object value)


# Where Frame's fields live in its slots, in field order, once _frame_slotted says that
# Frame is slotted as expected; if it isn't (say, patched), frames are built through setattr.
cdef Py_ssize_t _frame_slots[6]
cdef bint _frame_slotted = False


# How the reader builds frames: "slots" or "setattr" (for the tests).
_frame_build = None


cdef _bind_frame_slots(cls):
    global _frame_slotted, _frame_build
    _frame_build = "setattr"
    names = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")
    if tuple(field.name for field in dataclasses.fields(cls)) != names:
        return
    if not wsfast_uses_object_new(cls):
        return
    for index, name in enumerate(names):
        offset = wsfast_slot_offset(cls.__dict__.get(name, None))
        if offset < 0:
            return
        _frame_slots[index] = offset
    _frame_slotted = True
    _frame_build = "slots"


_bind_frame_slots(Frame)


cdef inline object _new_frame(object opcode, object data, bint fin, bint rsv1, bint rsv2,
                              bint rsv3):
    # What Frame's dataclass __init__ does, at a fraction of its cost: a frame per control
    # frame or fragment makes that the larger part of parsing one. wsfast.frames.Frame's
    # __init__ only assigns the fields.
    if _frame_slotted:
        frame = wsfast_alloc_instance(Frame)
        wsfast_fill_slot(frame, _frame_slots[0], opcode)
        wsfast_fill_slot(frame, _frame_slots[1], data)
        wsfast_fill_slot(frame, _frame_slots[2], fin)
        wsfast_fill_slot(frame, _frame_slots[3], rsv1)
        wsfast_fill_slot(frame, _frame_slots[4], rsv2)
        wsfast_fill_slot(frame, _frame_slots[5], rsv3)
    else:
        frame = wsfast_bare_instance(Frame)
        frame.opcode = opcode
        frame.data = data
        frame.fin = fin
        frame.rsv1 = rsv1
        frame.rsv2 = rsv2
        frame.rsv3 = rsv3
    return frame


cdef inline bint _is_control(int opcode) noexcept nogil:
    return opcode >= 0x8


cdef inline bint _is_valid_opcode(int opcode) noexcept nogil:
    return opcode <= 0x2 or 0x8 <= opcode <= 0xA


cdef long long _limit(object value, str name) except? -2:
    # The same rules as the pure twin's _limit(): an integer (not a float: no silent
    # truncation), never negative (a negative limit would mean "no limit" here and "nothing
    # fits" there), and one no length can reach means no limit.
    if value is None:
        return UNLIMITED
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name} must be None or a non-negative integer, not {value}")
    if value >= LIMIT_CEILING:
        return UNLIMITED
    return <long long>value


@cython.binding(False)  # as FrameWriter
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
@cython.final
cdef class FrameReader:
    """Bytes from the transport in, validated frames or messages out.

    Everything the RFC lets a receiver check is checked here, at the earliest byte that proves
    an error: header rules (§5.2, §5.5), masking direction (§5.1), fragmentation order
    (§5.4), size and fragment limits, and UTF-8 of text messages across fragments and while a
    frame is still arriving (§8.1). Compressed messages are inflated by the negotiated
    extensions within the remaining ``max_size`` budget (RFC 7692 §6.2) before validation.

    Bytes come in through ``feed_data()``, or without a copy through ``get_buffer()`` and
    ``buffer_updated()``, the interface of :class:`asyncio.BufferedProtocol`. ``read_frame()``
    returns frames, one per call; ``read_messages()`` returns everything completed so far, with
    single-frame messages as ``str`` or ``bytes``, which is what an I/O layer wants.
    """

    cdef bint _mask
    cdef long long _max_message
    cdef long long _max_frame
    cdef long long _max_fragments
    cdef tuple _extensions
    # Uncompressed frames cross the extensions unchanged, so single-frame messages can skip
    # building a Frame for them.
    cdef bint _passthrough
    # The permessage-deflate extension when it is the only one: compressed messages in one
    # frame are inflated straight from their payload, without Frame objects.
    cdef object _deflate
    # Its settings, fixed at negotiation: read once rather than per message.
    cdef bint _inflate_fresh
    cdef object _new_decoder, _inflate_error
    # Received bytes not consumed yet are _buf[_start:_end]; _buf is NULL while drained.
    cdef unsigned char *_buf
    cdef Py_ssize_t _start, _end, _capacity
    # A bytes object fed while the reader was drained: _buf points into it, and its frames
    # are parsed where they are, without a copy. What is left of it is copied into a buffer
    # of the reader's own as soon as more bytes arrive or a byte must be written.
    cdef bytes _borrowed
    # The region handed out by get_buffer(), until buffer_updated().
    cdef unsigned char *_export_ptr
    cdef Py_ssize_t _export_len
    cdef bint _export_direct
    cdef Py_ssize_t _exports
    cdef bint _eof
    cdef object _error
    cdef bint _closed
    # The frame whose payload is awaited, if _have_header.
    cdef bint _have_header
    cdef bint _fin, _rsv1, _rsv2, _rsv3, _masked
    cdef int _opcode
    cdef unsigned long long _length
    cdef unsigned char _key[4]
    cdef Py_ssize_t _validated
    # A payload received straight into its final object: _received bytes arrived, the first
    # _unmasked of them are unmasked already.
    cdef bytes _payload
    cdef Py_ssize_t _received, _unmasked
    # The data message in progress: _message_opcode is -1 when there is none.
    cdef int _message_opcode
    cdef long long _message_size
    cdef long long _fragments
    cdef bint _compressed
    cdef Utf8Validator _validator
    # Set while a method works on the buffers. The critical section on the reader makes calls
    # from several threads take turns, but it is suspended when a call blocks (inflating a
    # large message releases the interpreter): a second thread must then be refused, not let
    # in to move the buffer that the first one is reading.
    cdef bint _busy

    def __cinit__(self):
        self._buf = NULL
        self._start = self._end = self._capacity = 0
        self._export_ptr = NULL
        self._export_len = 0
        self._exports = 0

    def __dealloc__(self):
        self._release_buffer()

    def __init__(self, *, mask, max_size=2**20, max_fragments=None, extensions=()):
        self._mask = bool(mask)
        if isinstance(max_size, tuple):
            self._max_message = _limit(max_size[0], "max_size")
            self._max_frame = _limit(max_size[1], "max_size")
        else:
            self._max_message = self._max_frame = _limit(max_size, "max_size")
        self._max_fragments = _limit(max_fragments, "max_fragments")
        self._extensions = tuple(extensions)
        self._passthrough = all(type(ext) in _PassthroughExtensions for ext in self._extensions)
        self._deflate = self._extensions[0] if self._passthrough and len(self._extensions) == 1 else None
        if self._deflate is not None:
            self._inflate_fresh = self._deflate.remote_no_context_takeover
            self._new_decoder = self._deflate.new_decoder
            self._inflate_error = self._deflate.backend.error
        self._eof = False
        self._error = None
        self._closed = False
        self._have_header = False
        self._validated = 0
        self._payload = None
        self._message_opcode = -1
        self._message_size = 0
        self._fragments = 0
        self._compressed = False
        self._validator = Utf8Validator.__new__(Utf8Validator)

    @property
    def message_in_progress(self):
        """Whether a fragmented data message has started and not finished."""
        return self._message_opcode != -1

    @property
    def error(self):
        """The error that stopped the reader, or None.

        :meth:`read_messages` returns the items completed before an error, and raises it
        on the next call; this tells, after such a call, that the next one will raise.
        """
        return self._error

    # Bytes in ---------------------------------------------------------------------------------

    def feed_data(self, data):
        """Buffer more bytes received from the transport."""
        with cython.critical_section(self):
            self._enter()
            try:
                if self._eof:
                    raise EOFError("stream ended")
                self._forget_export()
                self._append_object(data)
            finally:
                self._busy = False

    def feed_eof(self):
        """Note that the transport is closed for reading."""
        with cython.critical_section(self):
            self._eof = True

    def get_buffer(self, sizehint=-1):
        """Return a writable buffer for the next bytes; then call :meth:`buffer_updated`.

        The object returned exports the free room of the receive buffer, or the part of a
        large payload still missing, so that the transport writes where the bytes belong. It
        is valid until buffer_updated().
        """
        with cython.critical_section(self):
            self._enter()
            try:
                if self._eof:
                    raise EOFError("stream ended")
                # After a close frame nothing more is taken (RFC 6455 §1.4): not even into the
                # payload object of a frame that read_frame() started from bytes already here.
                if (self._payload is not None and not self._closed
                        and self._received < <Py_ssize_t>self._length):
                    self._export_ptr = <unsigned char *>PyBytes_AS_STRING(self._payload) + self._received
                    self._export_len = <Py_ssize_t>self._length - self._received
                    self._export_direct = True
                else:
                    self._reserve(RECV_MIN_FREE)
                    self._export_ptr = self._buf + self._end
                    self._export_len = self._capacity - self._end
                    self._export_direct = False
                exporter = <_ReceiveBuffer>_ReceiveBuffer.__new__(_ReceiveBuffer)
                exporter._reader = self
                return exporter
            finally:
                self._busy = False

    def buffer_updated(self, Py_ssize_t nbytes):
        """Take the ``nbytes`` bytes written at the start of the last :meth:`get_buffer`."""
        with cython.critical_section(self):
            self._enter()
            try:
                if self._export_ptr == NULL:
                    raise RuntimeError("buffer_updated() without get_buffer()")
                if nbytes < 0 or nbytes > self._export_len:
                    raise ValueError(f"nbytes must be between 0 and {self._export_len}")
                if self._closed:
                    pass  # after a close frame, data is discarded (RFC 6455 §1.4)
                elif self._export_direct:
                    self._received += nbytes
                else:
                    self._end += nbytes
                self._export_ptr = NULL
                self._export_len = 0
            finally:
                self._busy = False

    cdef int _enter(self) except -1:
        if self._busy:
            raise RuntimeError("FrameReader is in use by another thread")
        self._busy = True
        return 0

    cdef int _forget_export(self) except -1:
        """Withdraw a get_buffer() region not followed by buffer_updated(): the calls here
        may move the buffer or hand the payload out, so it must not be written any more."""
        if self._export_ptr != NULL:
            if self._exports:
                raise BufferError("the buffer from get_buffer() is in use")
            self._export_ptr = NULL
            self._export_len = 0
        return 0

    cdef int _append_object(self, data) except -1:
        cdef Py_buffer view
        # bytes, what transports hand over, without the cost of a buffer export, and while
        # drained without a copy: an immutable object can be read later where it is.
        if type(data) is bytes:
            if (self._buf == NULL and self._payload is None and not self._closed
                    and PyBytes_GET_SIZE(data) > 0):
                self._borrowed = <bytes>data
                self._buf = <unsigned char *>PyBytes_AS_STRING(data)
                self._start = 0
                self._end = self._capacity = PyBytes_GET_SIZE(data)
                return 0
            return self._append(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        _get_buffer(data, &view, "data")
        try:
            return self._append(<const unsigned char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef int _append(self, const unsigned char *data, Py_ssize_t n) except -1:
        cdef Py_ssize_t direct
        if self._closed:
            # RFC 6455 §1.4: data after a close frame is discarded; don't let it pile up.
            return 0
        if self._payload is not None:
            direct = min(n, <Py_ssize_t>self._length - self._received)
            memcpy(<unsigned char *>PyBytes_AS_STRING(self._payload) + self._received, data, direct)
            self._received += direct
            data += direct
            n -= direct
        if n:
            self._reserve(n)
            memcpy(self._buf + self._end, data, n)
            self._end += n
        return 0

    cdef int _reserve(self, Py_ssize_t extra) except -1:
        """Make room for ``extra`` more bytes after _end."""
        cdef Py_ssize_t used = self._end - self._start
        cdef Py_ssize_t capacity
        cdef unsigned char *buffer
        cdef unsigned char *old
        cdef Py_ssize_t old_capacity
        if self._borrowed is not None:
            return self._own_buffer(extra)
        if self._capacity - self._end >= extra:
            return 0
        if self._exports:
            raise BufferError("the receive buffer is exported")
        if self._buf == NULL and extra <= RECV_SIZE:
            buffer = _pool_take()
            if self._buf != NULL:
                # The pool's critical section let another thread in, and it reserved first.
                _pool_give(buffer)
                return self._reserve(extra)
            self._buf = buffer
            self._capacity = RECV_SIZE
        elif self._capacity - used >= extra:
            # Consumed bytes at the front make the room: shift the unconsumed ones (a partial
            # frame; large payloads don't stay here).
            memmove(self._buf, self._buf + self._start, used)
            self._start, self._end = 0, used
        else:
            capacity = max(2 * self._capacity, used + extra)
            buffer = <unsigned char *>PyMem_RawMalloc(capacity)
            if buffer == NULL:
                raise MemoryError()
            if used:
                memcpy(buffer, self._buf + self._start, used)
            old, old_capacity = self._buf, self._capacity
            self._buf, self._capacity = buffer, capacity
            self._start, self._end = 0, used
            _free_receive_buffer(old, old_capacity)
        return 0

    cdef int _own_buffer(self, Py_ssize_t extra) except -1:
        """Copy the unconsumed bytes of the borrowed object into a buffer of the reader's own,
        with room for ``extra`` more."""
        cdef Py_ssize_t used = self._end - self._start
        cdef Py_ssize_t capacity = max(RECV_SIZE, used + extra)
        cdef unsigned char *buffer
        if capacity == RECV_SIZE:
            buffer = _pool_take()
            if self._borrowed is None:
                # The pool's critical section let another thread in, and it took over first.
                _pool_give(buffer)
                return self._reserve(extra)
        else:
            buffer = <unsigned char *>PyMem_RawMalloc(capacity)
            if buffer == NULL:
                raise MemoryError()
        memcpy(buffer, self._buf + self._start, used)
        self._buf, self._capacity = buffer, capacity
        self._start, self._end = 0, used
        self._borrowed = None
        return 0

    cdef void _release_buffer(self) noexcept:
        cdef unsigned char *buffer = self._buf
        cdef Py_ssize_t capacity = self._capacity
        if self._borrowed is not None:
            self._borrowed = None
            self._buf = NULL
            self._start = self._end = self._capacity = 0
            return
        # The reader's state is consistent before the pool is entered: the pool's critical
        # section may let another thread into this reader, which must not give the same
        # buffer back a second time.
        self._buf = NULL
        self._start = self._end = self._capacity = 0
        _free_receive_buffer(buffer, capacity)

    cdef inline void _release_if_drained(self) noexcept:
        if self._start == self._end and self._buf != NULL and not self._exports:
            self._release_buffer()

    # Frames and messages out -----------------------------------------------------------------

    def read_frame(self):
        """Return the next complete frame, or None until more bytes arrive."""
        with cython.critical_section(self):
            self._enter()
            try:
                if self._error is not None:
                    raise self._error
                self._forget_export()
                try:
                    return self._read(False)
                except BaseException as exc:
                    self._error = exc
                    raise
                finally:
                    self._release_if_drained()
            finally:
                self._busy = False

    def feed_messages(self, data):
        """:meth:`feed_data` then :meth:`read_messages`, in one call."""
        with cython.critical_section(self):
            self._enter()
            try:
                if self._eof:
                    raise EOFError("stream ended")
                self._forget_export()
                self._append_object(data)
                return self._read_messages()
            finally:
                self._busy = False

    def read_messages(self):
        """Return what the bytes so far complete, in order; an empty list until then.

        A message that arrived in one frame comes as ``str`` (text) or ``bytes`` (binary);
        frames of fragmented messages and control frames come as :class:`~wsfast.frames.Frame`.
        Nothing follows a close frame (RFC 6455 §1.4). An error is raised once the items
        completed before it have been returned, and by every later call.
        """
        with cython.critical_section(self):
            self._enter()
            try:
                self._forget_export()
                return self._read_messages()
            finally:
                self._busy = False

    cdef list _read_messages(self):
        cdef list items = []
        if self._error is not None:
            raise self._error
        try:
            while not self._closed:
                item = self._read(True)
                if item is None:
                    break
                items.append(item)
        except BaseException as exc:
            self._error = exc
            if not items:
                raise
        finally:
            self._release_if_drained()
        return items

    cdef object _read(self, bint messages):
        cdef Py_ssize_t length
        cdef Py_ssize_t available
        cdef bytes payload = None
        if not self._have_header:
            if not self._parse_header(self._buf + self._start, self._end - self._start):
                if self._eof and self._end > self._start:
                    raise EOFError(_truncated_header_message(
                        self._buf + self._start, self._end - self._start))
                return None
        length = <Py_ssize_t>self._length

        if self._payload is not None:
            if self._received < length:
                self._direct_arrived(False)
                if self._eof:
                    raise EOFError(_stream_ends_message(self._received, length))
                return None
            self._direct_arrived(True)
            payload, self._payload = self._payload, None
        else:
            available = self._end - self._start
            if available < length:
                if DIRECT_MIN <= length <= DIRECT_MAX:
                    self._start_direct(available)
                    self._direct_arrived(False)
                elif available > self._validated and self._checks_text_as_it_arrives():
                    self._validate_arrived(self._buf + self._start, available)
                if self._eof:
                    raise EOFError(_stream_ends_message(available, length))
                return None

        self._have_header = False
        if (self._fin and (self._opcode == 0x1 or self._opcode == 0x2)
                and self._passthrough and not (self._rsv2 or self._rsv3)):
            if not self._rsv1:
                if messages:
                    return self._single_frame_message(payload, length)
            elif self._deflate is not None:
                if messages:
                    return self._single_compressed_message(payload, length)
                # RFC 7692 §6.2: the decoded frame no longer has RSV1 set.
                payload = self._inflate_whole_message(payload, length)
                return self._finish_data_frame(
                    _new_frame(_opcode_members[self._opcode], payload, True, False, False, False),
                    payload)

        if payload is None:
            payload = self._take_payload(length)

        frame = _new_frame(_opcode_members[self._opcode], payload, self._fin, self._rsv1,
                           self._rsv2, self._rsv3)
        if self._extensions:
            for extension in reversed(self._extensions):
                frame = extension.decode(frame, max_size=self._message_budget(self._opcode))
            frame.check()
        if _is_control(self._opcode):
            if messages and self._opcode == 0x8:
                self._closed = True
            return frame
        frame = self._finish_data_frame(frame, frame.data if self._extensions else payload)
        if messages and self._fin and self._opcode != 0x0:
            # A compressed message in one frame: deliver it as a message too.
            data = frame.data
            if type(data) is not bytes:
                data = bytes(data)
            return (<bytes>data).decode() if self._opcode == 0x1 else data
        return frame

    cdef bytes _take_payload(self, Py_ssize_t length):
        """The awaited payload, unmasked, out of the buffer."""
        cdef bytes payload = PyBytes_FromStringAndSize(NULL, length)
        if self._masked:
            wsfast_mask(self._buf + self._start, <unsigned char *>PyBytes_AS_STRING(payload),
                        <size_t>length, self._key, 0)
        else:
            memcpy(PyBytes_AS_STRING(payload), self._buf + self._start, <size_t>length)
        self._start += length
        return payload

    cdef bytes _take_payload_and_tail(self, Py_ssize_t length):
        """The awaited payload, unmasked, with the 00 00 ff ff that the sender removed put
        back (RFC 7692 §7.2.2), so that the inflater gets it in one call without a copy."""
        cdef bytes payload = PyBytes_FromStringAndSize(NULL, length + 4)
        cdef unsigned char *out = <unsigned char *>PyBytes_AS_STRING(payload)
        if self._masked:
            wsfast_mask(self._buf + self._start, out, <size_t>length, self._key, 0)
        else:
            memcpy(out, self._buf + self._start, <size_t>length)
        memcpy(out + length, b"\x00\x00\xff\xff", 4)
        self._start += length
        return payload

    cdef bytes _inflate_whole_message(self, bytes payload, Py_ssize_t length):
        """A compressed message in one frame, inflated within its budget (RFC 7692 §6.2).

        PerMessageDeflate.decompress(payload, first=True, fin=True, budget) through the
        extension's fast-path interface, step for step as the twin does it, without the
        Python call and with the tail appended while unmasking. The differential tests hold
        the two readers to decompress()'s results and errors.
        """
        cdef bint has_tail = payload is None
        cdef object limit
        ext = self._deflate
        if has_tail:
            payload = self._take_payload_and_tail(length)
        budget = self._message_budget(self._opcode)
        # ext.decode_cont_data is False already: only a fragmented compressed message sets
        # it, and its last frame, which the reader required before this one, clears it.
        # Without context takeover, what message_decoder() would return, without its Python
        # call: a new decoder per message (RFC 7692 §7.1.1).
        if self._inflate_fresh:
            decoder = self._new_decoder()
        else:
            decoder = ext.message_decoder()
        try:
            if budget is None:
                data = decoder.decompress(payload)
                if not has_tail:
                    rest = decoder.decompress(_DEFLATE_TAIL)
                    if rest:
                        data += rest
            else:
                # One byte more than the room left proves the message too big while
                # inflating at most that much, however far the input would expand.
                limit = budget + 1
                data = decoder.decompress(payload, limit)
                if not has_tail and len(data) < limit:
                    rest = decoder.decompress(_DEFLATE_TAIL, limit - len(data))
                    if rest:
                        data += rest
                if len(data) > budget:
                    raise PayloadTooBig(None, budget)
        except self._inflate_error as exc:
            raise ProtocolError("decompression failed") from exc
        if type(data) is not bytes:
            data = bytes(data)
        return data

    cdef object _single_compressed_message(self, bytes payload, Py_ssize_t length):
        """A whole compressed message in one frame (RFC 7692 §6.2), as str or bytes."""
        cdef bytes data = self._inflate_whole_message(payload, length)
        self._message_opcode = -1
        if self._opcode == 0x2:
            return data
        return self._decode_text(<const unsigned char *>PyBytes_AS_STRING(data),
                                 PyBytes_GET_SIZE(data))

    cdef str _decode_text(self, const unsigned char *data, Py_ssize_t length):
        """The text of a whole message whose first _validated bytes were validated already.

        CPython's strict UTF-8 decoder rejects exactly what RFC 3629 rejects; decoding is the
        validation. Only on failure does the validator run on the rest, to locate the first
        invalid byte with the same offset as the frame path reports.
        """
        try:
            text = PyUnicode_DecodeUTF8(<const char *>data, length, NULL)
        except UnicodeDecodeError as exc:
            self._validator._feed(data + self._validated, length - self._validated)
            self._validator._finish()
            raise exc
        if self._validated:
            self._validator.reset()
        return text

    cdef object _single_frame_message(self, bytes payload, Py_ssize_t length):
        """A whole text or binary message in one frame, as str or bytes (the hot path)."""
        cdef unsigned char *data
        cdef unsigned char scratch[SCRATCH_SIZE]
        self._message_opcode = -1
        if self._opcode == 0x2:
            return payload if payload is not None else self._take_payload(length)
        if payload is not None:
            data = <unsigned char *>PyBytes_AS_STRING(payload)
        else:
            data = self._buf + self._start
            if self._masked:
                if self._borrowed is not None and length <= SCRATCH_SIZE:
                    wsfast_mask(data, scratch, <size_t>length, self._key, 0)
                    data = scratch
                else:
                    # The bytes are consumed here: unmask them where they are, no copy
                    # (into the reader's own buffer first if they are borrowed).
                    if self._borrowed is not None:
                        self._own_buffer(0)
                        data = self._buf + self._start
                    wsfast_mask(data, data, <size_t>length, self._key, 0)
            self._start += length
        return self._decode_text(data, length)

    cdef int _start_direct(self, Py_ssize_t available) except -1:
        self._payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self._length)
        memcpy(PyBytes_AS_STRING(self._payload), self._buf + self._start, available)
        self._received = available
        self._unmasked = 0
        self._start = self._end
        return 0

    cdef int _direct_arrived(self, bint complete) except -1:
        cdef unsigned char *data = <unsigned char *>PyBytes_AS_STRING(self._payload)
        cdef Py_ssize_t received = self._received
        if received > self._unmasked:
            if self._masked:
                # Byte i of the payload is masked with key[i % 4] (§5.3).
                wsfast_mask(data + self._unmasked, data + self._unmasked,
                            <size_t>(received - self._unmasked), self._key,
                            <size_t>self._unmasked)
            self._unmasked = received
        # Like a frame in the buffer, a partial one is validated as far as it arrived; the
        # rest waits for the frame to complete.
        if not complete and received > self._validated and self._checks_text_as_it_arrives():
            self._validator._feed(data + self._validated, received - self._validated)
            self._validated = received
        return 0

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
        self._start += header_size
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
        """How many bytes the frame may inflate to: what is left of the message, and no more
        than one fragment's limit when max_size is a tuple."""
        cdef long long budget = self._max_message
        if _is_control(opcode):
            return None if budget == UNLIMITED else budget
        if budget != UNLIMITED:
            budget -= self._message_size
        if self._max_frame != UNLIMITED and (budget == UNLIMITED or self._max_frame < budget):
            budget = self._max_frame
        return None if budget == UNLIMITED else budget

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

    cdef int _validate_rest(self, const unsigned char *data, Py_ssize_t size) except -1:
        """Validate what of a complete text frame's payload wasn't validated as it arrived:
        all of it if it was compressed (it is checked once inflated), else from _validated."""
        cdef Py_ssize_t start = 0 if self._compressed else self._validated
        self._validator._feed(data + start, size - start)
        return 0

    cdef object _finish_data_frame(self, frame, data):
        """Account for a data frame whose payload, once decoded, is ``data``."""
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
                if type(data) is bytes:
                    self._validate_rest(<const unsigned char *>PyBytes_AS_STRING(data), size)
                else:
                    _get_buffer(data, &view, "data")
                    try:
                        self._validate_rest(<const unsigned char *>view.buf, size)
                    finally:
                        PyBuffer_Release(&view)
            if self._fin:
                self._validator._finish()
        if self._fin:
            self._message_opcode = -1
        return frame
