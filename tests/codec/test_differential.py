"""Differential tests: the Cython extension and the pure-Python twin must agree exactly.

For random inputs (Hypothesis), both implementations must return equal values, or raise the
same exception type with the same ``str()`` — and, for InvalidUTF8, the same ``offset``,
``start``, ``end``, ``reason`` and ``object``. Their common answer is also checked against
independent references: a byte-at-a-time XOR for masking, the RFC 6455 §5.2 bit layout for
frame headers, CPython's own ``bytes.decode('utf-8')`` for the validity of complete messages,
and the ``reference_error`` oracle for the exact offset.

Every test takes the ``impls`` fixture, whose id contains "cython", so that ``-k cython``
selects these tests (tests/packaging/test_implementation_switch.py runs them under
WSFAST_FORCE_SCALAR).
"""

from __future__ import annotations

import array
import codecs

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from utf8_vectors import (
    codec_words,
    END,
    describe,
    expected_outcome,
    reference_error,
    split_at,
)
from wire import raw_frame
from wsfast.exceptions import InvalidUTF8


@pytest.fixture(scope="module", params=["cython-vs-python"])
def impls(codec_pair):
    """Both implementations, from the conftest's loader (skipped without the extension)."""
    return codec_pair


def outcome(function, *args, **kwargs):
    """A comparable record of a call: its return value or its exception."""
    try:
        return ("return", function(*args, **kwargs))
    except InvalidUTF8 as error:
        return ("raise", *describe(error))
    except Exception as error:
        return ("raise", type(error), str(error), error.args)


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


# Bytes-like inputs -------------------------------------------------------------------------

READ_KINDS = [
    "bytes", "bytearray", "memoryview", "unaligned", "array-B", "array-i", "strided", "reversed", "2d",
]


def make(kind: str, data: bytes):
    """A fresh object of the given kind whose bytes, in C order, are ``data``."""
    if kind == "bytes":
        return bytes(data)
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "unaligned":
        return memoryview(bytearray(b"\x00" + data + b"\x00"))[1:-1]
    if kind == "array-B":
        return array.array("B", data)
    if kind == "array-i":
        values = array.array("i")
        if len(data) % values.itemsize:
            return bytearray(data)
        values.frombytes(data)
        return values
    if kind == "strided":
        return memoryview(bytearray(b"".join(bytes((byte, 0x55)) for byte in data)))[::2]
    if kind == "reversed":
        return memoryview(bytearray(data[::-1]))[::-1]
    if kind == "2d":
        if not data:
            return bytearray()
        columns = next(d for d in (7, 5, 4, 3, 2, 1) if len(data) % d == 0)
        return memoryview(bytearray(data)).cast("B", (len(data) // columns, columns))
    if kind == "readonly":
        return memoryview(bytes(data))
    raise AssertionError(kind)


payloads = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 65535, 65536, 65539]).flatmap(
        lambda n: st.binary(min_size=n, max_size=n) if n < 300 else st.just(bytes(range(256)) * (n // 256) + bytes(n % 256))
    ),
)
keys = st.one_of(st.binary(min_size=4, max_size=4), st.binary(max_size=8))
not_buffers = st.sampled_from(["text", None, 1234, 1.5, [1, 2, 3, 4], object()])


# Masking -----------------------------------------------------------------------------------


@given(
    data=payloads,
    kind=st.sampled_from(READ_KINDS),
    key=keys,
    key_kind=st.sampled_from(["bytes", "bytearray", "memoryview", "strided", "array-B"]),
)
@example(data=b"Hello", kind="bytes", key=bytes.fromhex("37fa213d"), key_kind="bytes")
def test_apply_mask(impls, data, kind, key, key_kind):
    cython, python = impls
    left = outcome(cython.apply_mask, make(kind, data), make(key_kind, key))
    right = outcome(python.apply_mask, make(kind, data), make(key_kind, key))
    assert left == right
    if len(key) == 4:
        assert left == ("return", reference_mask(data, key))
    else:
        assert left[:3] == ("raise", ValueError, "mask must contain 4 bytes")


@given(data=st.one_of(payloads, not_buffers), key=st.one_of(keys, not_buffers))
def test_apply_mask_bad_arguments(impls, data, key):
    cython, python = impls
    assert outcome(cython.apply_mask, data, key) == outcome(python.apply_mask, data, key)


@given(
    data=payloads,
    kind=st.sampled_from(["bytearray", "memoryview-rw", "unaligned", "array-B", "array-i", "2d", "strided", "reversed", "bytes", "readonly"]),
    key=st.one_of(keys, not_buffers),
)
def test_apply_mask_inplace(impls, data, kind, key):
    cython, python = impls
    results = []
    for module in impls:
        buffer = make("bytearray" if kind == "memoryview-rw" else kind, data)
        if kind == "memoryview-rw":
            buffer = memoryview(buffer)
        result = outcome(module.apply_mask_inplace, buffer, key)
        contents = memoryview(buffer).tobytes() if not isinstance(buffer, str) else buffer
        results.append((result, contents))
    assert results[0] == results[1]
    (result, contents) = results[0]
    if result == ("return", None):
        assert contents == reference_mask(data, bytes(key))
    else:
        assert contents == data


# UTF-8 -------------------------------------------------------------------------------------

CONTINUATION = st.integers(0x80, 0xBF)


def _seq(*parts):
    return st.tuples(*parts).map(bytes)


INVALID_SNIPPETS = {
    "overlong2": _seq(st.integers(0xC0, 0xC1), CONTINUATION),
    "overlong3": _seq(st.just(0xE0), st.integers(0x80, 0x9F), CONTINUATION),
    "overlong4": _seq(st.just(0xF0), st.integers(0x80, 0x8F), CONTINUATION, CONTINUATION),
    "surrogate": _seq(st.just(0xED), st.integers(0xA0, 0xBF), CONTINUATION),
    "above-10ffff": _seq(st.just(0xF4), st.integers(0x90, 0xBF), CONTINUATION, CONTINUATION),
    "lead-f5-f7": _seq(st.integers(0xF5, 0xF7), CONTINUATION, CONTINUATION, CONTINUATION),
    "stray-continuation": _seq(CONTINUATION),
    "c0-c1": _seq(st.integers(0xC0, 0xC1)),
    "f5-ff": _seq(st.integers(0xF5, 0xFF)),
    "truncated": st.sampled_from(["é", "€", "😀", "\U0010ffff", "\u0800", "\U00010000"]).flatmap(
        lambda c: st.integers(1, len(c.encode()) - 1).map(lambda n: c.encode()[:n])
    ),
    "random-byte": _seq(st.integers(0, 255)),
    "random-bytes": st.binary(min_size=1, max_size=5),
}


@st.composite
def utf8_messages(draw, max_injections=3):
    """Valid text, lengthened across SIMD blocks, with invalid snippets injected."""
    text = draw(st.text(max_size=60)).encode()
    text *= draw(st.sampled_from([1, 1, 2, 3, 8, 40]))
    padding = draw(st.integers(0, 70))
    data = b"a" * padding + text
    for _ in range(draw(st.integers(0, max_injections))):
        snippet = draw(st.sampled_from(sorted(INVALID_SNIPPETS)).flatmap(INVALID_SNIPPETS.__getitem__))
        near_block = draw(st.integers(0, max(0, len(data) // 32))) * 32 + draw(st.integers(-4, 4))
        position = draw(st.one_of(st.integers(0, len(data)), st.just(min(max(near_block, 0), len(data)))))
        data = data[:position] + snippet + data[position:]
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def fragmented(draw, messages=utf8_messages()):
    data = draw(messages)
    if len(data) <= 40 and draw(st.booleans()):
        cuts = list(range(1, len(data)))  # byte by byte
    else:
        cuts = draw(st.lists(st.integers(0, len(data)), max_size=6))
    return split_at(data, cuts)


def run_validator(module, fragments, kind):
    """Feed fragments and finish, recording every observable along the way."""
    validator = module.Utf8Validator()
    trace = []
    for fragment in fragments + [None]:
        if fragment is None:
            result = outcome(validator.finish)
        else:
            result = outcome(validator.feed, make(kind, fragment))
        trace.append((result, validator.offset, validator.pending))
        if result[0] == "raise":
            # The error persists: feed() and finish() raise it again.
            again = outcome(validator.feed, b"a")
            trace.append((again, validator.offset, validator.pending))
            trace.append((outcome(validator.finish), validator.offset, validator.pending))
            break
    return trace


@given(fragments=fragmented(), kind=st.sampled_from(["bytes", "bytearray", "memoryview", "strided"]))
@example(fragments=[b"\xed", b"\xa0\x80"], kind="bytes")
@example(fragments=[b"a" * 31 + b"\xe2", b"\x82" + b"a" * 64], kind="bytes")
@example(fragments=[b"a" * 30 + b"\xf0\x9f" + b"a" * 64], kind="bytes")
def test_utf8_validator(impls, fragments, kind):
    cython, python = impls
    left = run_validator(cython, fragments, kind)
    right = run_validator(python, fragments, kind)
    assert left == right

    data = b"".join(fragments)
    try:
        data.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    raised = [step for step in left if step[0][0] == "raise"]
    assert decodes == (not raised)

    expected = expected_outcome(fragments)
    if expected is None:
        assert not raised
    else:
        call, obj, start, end, offset, reason = expected
        first = left[call][0]
        assert first[0] == "raise"
        assert first[1] is InvalidUTF8
        assert first[4:] == (obj, start, end, offset, reason)
        assert first[2] == codec_words(obj, start, end, offset, reason)


@given(data=utf8_messages(max_injections=1))
def test_validate_utf8_one_shot(impls, data):
    cython, python = impls
    left = outcome(cython.validate_utf8, data)
    right = outcome(python.validate_utf8, data)
    assert left == right
    expected = reference_error(data)
    try:
        codecs.utf_8_decode(data, "strict", True)
    except UnicodeDecodeError:
        assert expected is not None
        assert left[1] is InvalidUTF8
        offset, reason = expected
        assert (left[7], left[8]) == (offset, reason)
        if reason == END:
            assert (left[4], left[5], left[6]) == (data[offset:], 0, len(data) - offset)
        else:
            assert (left[4], left[5], left[6]) == (data, offset, offset + 1)
    else:
        assert expected is None
        assert left == ("return", None)


@given(messages=st.lists(fragmented(utf8_messages(max_injections=1)), min_size=1, max_size=4))
def test_utf8_validator_reused_across_messages(impls, messages):
    traces = []
    for module in impls:
        validator = module.Utf8Validator()
        trace = []
        for fragments in messages:
            for fragment in fragments:
                trace.append((outcome(validator.feed, fragment), validator.offset, validator.pending))
            trace.append((outcome(validator.finish), validator.offset, validator.pending))
            if trace[-1][0][0] == "raise":
                validator.reset()
                trace.append(("reset", validator.offset, validator.pending))
        traces.append(trace)
    assert traces[0] == traces[1]


@given(data=st.one_of(not_buffers, st.binary(max_size=10)))
def test_utf8_bad_arguments(impls, data):
    cython, python = impls
    assert outcome(cython.validate_utf8, data) == outcome(python.validate_utf8, data)
    assert outcome(cython.Utf8Validator().feed, data) == outcome(python.Utf8Validator().feed, data)


# Frame headers ----------------------------------------------------------------------------


def reference_parse(data: bytes, offset: int):
    """RFC 6455 §5.2, spelled out; ``"msb"`` stands for the ProtocolError case."""
    data = data[offset:]
    if len(data) < 2:
        return None
    code = data[1] & 0x7F
    masked = bool(data[1] & 0x80)
    extended = {126: 2, 127: 8}.get(code, 0)
    size = 2 + extended + (4 if masked else 0)
    if len(data) < size:
        return None
    length = int.from_bytes(data[2 : 2 + extended], "big") if extended else code
    if extended == 8 and data[2] & 0x80:
        return "msb"
    first = data[0]
    return (
        bool(first & 0x80), bool(first & 0x40), bool(first & 0x20), bool(first & 0x10),
        first & 0x0F, masked, length, data[size - 4 : size] if masked else None, size,
    )


@st.composite
def header_bytes(draw):
    first = draw(st.integers(0, 255))
    masked = draw(st.booleans())
    code = draw(st.sampled_from([0, 1, 125, 126, 127]) | st.integers(0, 127))
    extended = b""
    if code == 126:
        extended = draw(st.binary(min_size=2, max_size=2))
    elif code == 127:
        extended = draw(st.one_of(
            st.binary(min_size=8, max_size=8),
            st.integers(0, 2**63 - 1).map(lambda n: n.to_bytes(8, "big")),
        ))
    key = draw(st.binary(min_size=4, max_size=4)) if masked else b""
    data = bytes((first, (0x80 if masked else 0) | code)) + extended + key
    data += draw(st.binary(max_size=6))
    junk = draw(st.binary(max_size=5))
    data = junk + data
    data = data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
    return data, len(junk)


@given(
    case=st.one_of(header_bytes(), st.tuples(st.binary(max_size=24), st.integers(-3, 26))),
    kind=st.sampled_from(READ_KINDS),
)
def test_parse_frame_header(impls, case, kind):
    data, offset = case
    cython, python = impls
    left = outcome(cython.parse_frame_header, make(kind, data), offset)
    right = outcome(python.parse_frame_header, make(kind, data), offset)
    assert left == right
    if offset < 0:
        assert left[:2] == ("raise", ValueError)
        return
    expected = reference_parse(data, offset)
    if expected == "msb":
        assert left[0] == "raise" and left[1].__name__ == "ProtocolError"
    else:
        assert left == ("return", expected)


@given(data=st.one_of(not_buffers, st.binary(max_size=12)), offset=st.integers(-2, 14))
def test_parse_frame_header_bad_arguments(impls, data, offset):
    cython, python = impls
    assert outcome(cython.parse_frame_header, data, offset) == outcome(python.parse_frame_header, data, offset)


# serialize_frame ---------------------------------------------------------------------------

flags = st.one_of(st.booleans(), st.sampled_from([0, 1, None, "", "x", [], [0]]))


@given(
    opcode=st.integers(-300, 300) | st.integers(0, 15),
    payload=payloads,
    kind=st.sampled_from(READ_KINDS),
    fin=flags, rsv1=flags, rsv2=flags, rsv3=flags,
    mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4), keys, not_buffers),
)
def test_serialize_frame(impls, opcode, payload, kind, fin, rsv1, rsv2, rsv3, mask):
    cython, python = impls
    kwargs = dict(fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=mask)
    left = outcome(cython.serialize_frame, opcode, make(kind, payload), **kwargs)
    right = outcome(python.serialize_frame, opcode, make(kind, payload), **kwargs)
    assert left == right
    if not 0 <= opcode <= 15:
        assert left[:3] == ("raise", ValueError, "opcode must be between 0 and 15")
        return
    if mask is not None and not (isinstance(mask, bytes) and len(mask) == 4):
        assert left[0] == "raise" and left[1] in (TypeError, ValueError)
        return
    # The reference: the frame built by hand (flags by truthiness, as both codecs take them).
    assert left == ("return", raw_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2,
                                        rsv3=rsv3, mask=mask))
    parsed = cython.parse_frame_header(left[1])
    assert parsed[4] == opcode and parsed[6] == len(payload)
