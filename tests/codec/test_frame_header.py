"""parse_frame_header / serialize_frame on both implementations (RFC 6455 §5.2, §5.7).

Expected bytes and tuples are written out by hand from the RFC (the §5.7 examples verbatim),
or computed here from the bit layout of §5.2, never by the code under test.
"""

from __future__ import annotations

import array
import random

import pytest

from wsfast.exceptions import ProtocolError

KEY = bytes.fromhex("37fa213d")
MASKED_HELLO = bytes.fromhex("7f9f4d5158")  # "Hello" masked with KEY, from RFC 6455 §5.7


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def header(fin=True, rsv1=False, rsv2=False, rsv3=False, opcode=2, masked=False, length=0,
           mask=None, header_size=2):
    return (fin, rsv1, rsv2, rsv3, opcode, masked, length, mask, header_size)


BINARY_256 = bytes(range(256))
BINARY_64K = random.Random(6455).randbytes(65536)

# (id, frame bytes, expected parse result, serialize_frame arguments, payload)
RFC_EXAMPLES = [
    (
        "single-frame-unmasked-text",
        bytes.fromhex("810548656c6c6f"),
        header(opcode=1, length=5),
        dict(opcode=1, payload=b"Hello"),
    ),
    (
        "single-frame-masked-text",
        bytes.fromhex("818537fa213d7f9f4d5158"),
        header(opcode=1, masked=True, length=5, mask=KEY, header_size=6),
        dict(opcode=1, payload=b"Hello", mask=KEY),
    ),
    (
        "fragmented-unmasked-text-first",
        bytes.fromhex("010348656c"),
        header(fin=False, opcode=1, length=3),
        dict(opcode=1, payload=b"Hel", fin=False),
    ),
    (
        "fragmented-unmasked-text-continuation",
        bytes.fromhex("80026c6f"),
        header(opcode=0, length=2),
        dict(opcode=0, payload=b"lo"),
    ),
    (
        "unmasked-ping",
        bytes.fromhex("890548656c6c6f"),
        header(opcode=9, length=5),
        dict(opcode=9, payload=b"Hello"),
    ),
    (
        "masked-pong",
        bytes.fromhex("8a8537fa213d7f9f4d5158"),
        header(opcode=10, masked=True, length=5, mask=KEY, header_size=6),
        dict(opcode=10, payload=b"Hello", mask=KEY),
    ),
    (
        "256-bytes-binary-16-bit-length",
        bytes.fromhex("827e0100") + BINARY_256,
        header(opcode=2, length=256, header_size=4),
        dict(opcode=2, payload=BINARY_256),
    ),
    (
        "64KiB-binary-64-bit-length",
        bytes.fromhex("827f0000000000010000") + BINARY_64K,
        header(opcode=2, length=65536, header_size=10),
        dict(opcode=2, payload=BINARY_64K),
    ),
]
RFC_IDS = [example[0] for example in RFC_EXAMPLES]


@pytest.mark.parametrize("name, frame, expected, kwargs", RFC_EXAMPLES, ids=RFC_IDS)
def test_parse_rfc_6455_examples(codec, name, frame, expected, kwargs):
    result = codec.parse_frame_header(frame)
    assert result == expected
    header_size, length = result[8], result[6]
    assert header_size + length == len(frame)
    body = frame[header_size:]
    if result[5]:
        body = reference_mask(body, result[7])
    assert body == kwargs["payload"]


@pytest.mark.parametrize("name, frame, expected, kwargs", RFC_EXAMPLES, ids=RFC_IDS)
def test_serialize_rfc_6455_examples(codec, name, frame, expected, kwargs):
    kwargs = dict(kwargs)
    result = codec.serialize_frame(kwargs.pop("opcode"), kwargs.pop("payload"), **kwargs)
    assert type(result) is bytes
    assert result == frame


def test_rfc_masked_examples_payload_bytes(codec):
    assert codec.serialize_frame(1, b"Hello", mask=KEY)[6:] == MASKED_HELLO


@pytest.mark.parametrize("name, frame, expected, kwargs", RFC_EXAMPLES, ids=RFC_IDS)
def test_parse_incomplete_header_at_every_prefix(codec, name, frame, expected, kwargs):
    header_size = expected[8]
    for cut in range(header_size):
        assert codec.parse_frame_header(frame[:cut]) is None, cut
        # The same prefix after junk, reached through offset.
        assert codec.parse_frame_header(b"\xff\xff\xff" + frame[:cut], 3) is None, cut
    # The header alone is enough; the payload need not have arrived.
    assert codec.parse_frame_header(frame[:header_size]) == expected
    assert codec.parse_frame_header(b"junk" + frame[:header_size], 4) == expected


@pytest.mark.parametrize(
    "second, extended, header_size",
    [
        (0x7D, b"", 2),
        (0xFD, b"", 6),
        (0x7E, b"\x01\x00", 4),
        (0xFE, b"\x01\x00", 8),
        (0x7F, b"\x00" * 6 + b"\x01\x00", 10),
        (0xFF, b"\x00" * 6 + b"\x01\x00", 14),
    ],
)
def test_parse_incomplete_for_every_header_shape(codec, second, extended, header_size):
    full = bytes((0x82, second)) + extended + (KEY if second & 0x80 else b"")
    assert len(full) == header_size
    for cut in range(header_size):
        assert codec.parse_frame_header(full[:cut]) is None
    assert codec.parse_frame_header(full)[8] == header_size


def test_parse_with_offset(codec):
    frames = b"".join(example[1] for example in RFC_EXAMPLES)
    offset = 0
    seen = []
    while offset < len(frames):
        result = codec.parse_frame_header(frames, offset)
        seen.append(result)
        offset += result[8] + result[6]
    assert offset == len(frames)
    assert seen == [example[2] for example in RFC_EXAMPLES]
    assert codec.parse_frame_header(frames, len(frames)) is None
    assert codec.parse_frame_header(frames, len(frames) - 1) is None
    assert codec.parse_frame_header(frames, len(frames) + 100) is None


def test_parse_offset_keyword(codec):
    assert codec.parse_frame_header(b"\x00\x81\x05", offset=1) == header(opcode=1, length=5)


@pytest.mark.parametrize("offset", [-1, -2, -100])
def test_parse_negative_offset(codec, offset):
    with pytest.raises(ValueError):
        codec.parse_frame_header(b"\x81\x05Hello", offset)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytearray(b"\x81\x85" + KEY), id="bytearray"),
        pytest.param(memoryview(b"\x81\x85" + KEY), id="memoryview"),
        pytest.param(array.array("B", b"\x81\x85" + KEY), id="array-B"),
        pytest.param(memoryview(b"\x81.\x85." + b"".join(bytes((k, 0)) for k in KEY))[::2], id="strided"),
        pytest.param(memoryview(b"\x81\x85" + KEY).cast("B", (2, 3)), id="2d"),
    ],
)
def test_parse_any_bytes_like(codec, data):
    assert codec.parse_frame_header(data) == header(
        opcode=1, masked=True, length=5, mask=KEY, header_size=6
    )


@pytest.mark.parametrize("data, name", [("\x81\x05", "str"), (None, "NoneType"), ([129, 5], "list")])
def test_parse_wrong_type(codec, data, name):
    with pytest.raises(TypeError) as info:
        codec.parse_frame_header(data)
    assert str(info.value) == f"data must be a bytes-like object, not {name}"


def test_parse_result_types(codec):
    result = codec.parse_frame_header(b"\xff\xfe\x01\x00" + KEY)
    assert type(result) is tuple and len(result) == 9
    assert all(type(flag) is bool for flag in result[:4] + (result[5],))
    assert type(result[4]) is int and type(result[6]) is int and type(result[8]) is int
    assert type(result[7]) is bytes
    assert result == (True, True, True, True, 15, True, 256, KEY, 8)


def test_parse_every_first_byte(codec):
    # FIN, RSV1..3 and the opcode are the bits of the first byte; every opcode (reserved ones
    # included) is reported as is: deciding what is allowed is the protocol layer's job.
    for first in range(256):
        expected = (
            bool(first & 0x80),
            bool(first & 0x40),
            bool(first & 0x20),
            bool(first & 0x10),
            first & 0x0F,
            False,
            0,
            None,
            2,
        )
        assert codec.parse_frame_header(bytes((first, 0x00))) == expected, first


def test_parse_every_second_byte(codec):
    extended16 = b"\xab\xcd"
    extended64 = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    for second in range(256):
        masked = bool(second & 0x80)
        code = second & 0x7F
        if code < 126:
            length, size = code, 2
            data = b"\x82" + bytes((second,))
        elif code == 126:
            length, size = 0xABCD, 4
            data = b"\x82" + bytes((second,)) + extended16
        else:
            length, size = 0x0102030405060708, 10
            data = b"\x82" + bytes((second,)) + extended64
        if masked:
            data += KEY
            size += 4
        expected = (True, False, False, False, 2, masked, length, KEY if masked else None, size)
        assert codec.parse_frame_header(data + b"trailing payload") == expected, second


@pytest.mark.parametrize(
    "length, encoded",
    [
        (0, b"\x00"),
        (125, b"\x7d"),
        (126, b"\x7e\x00\x7e"),
        (127, b"\x7e\x00\x7f"),
        (65535, b"\x7e\xff\xff"),
        (65536, b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (65537, b"\x7f\x00\x00\x00\x00\x00\x01\x00\x01"),
    ],
)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_length_encodings(codec, length, encoded, masked):
    data = random.Random(length).randbytes(length)
    mask = KEY if masked else None
    frame = codec.serialize_frame(2, data, mask=mask)
    second = bytes((encoded[0] | (0x80 if masked else 0),)) + encoded[1:]
    expected_header = b"\x82" + second + (KEY if masked else b"")
    assert frame[: len(expected_header)] == expected_header
    assert frame[len(expected_header) :] == (reference_mask(data, KEY) if masked else data)
    assert codec.parse_frame_header(frame) == header(
        opcode=2, masked=masked, length=length, mask=mask, header_size=len(expected_header)
    )


@pytest.mark.parametrize(
    "data, length, size",
    [
        (b"\x82\x7e\x00\x00", 0, 4),
        (b"\x82\x7e\x00\x05", 5, 4),
        (b"\x82\x7e\x00\x7d", 125, 4),
        (b"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05", 5, 10),
        (b"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 65535, 10),
        (b"\x82\xfe\x00\x05" + KEY, 5, 8),
    ],
)
def test_parse_accepts_non_minimal_lengths(codec, data, length, size):
    result = codec.parse_frame_header(data)
    assert (result[6], result[8]) == (length, size)


@pytest.mark.parametrize(
    "extended",
    [b"\x80" + b"\x00" * 7, b"\xff" * 8, b"\x80\x00\x00\x00\x00\x00\x00\x01", b"\xc0" + b"\x00" * 7],
)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_parse_64_bit_length_with_msb_set(codec, extended, masked):
    data = bytes((0x82, 0xFF if masked else 0x7F)) + extended + (KEY if masked else b"")
    with pytest.raises(ProtocolError):
        codec.parse_frame_header(data)
    with pytest.raises(ProtocolError):
        codec.parse_frame_header(b"xyz" + data, 3)


def test_parse_64_bit_length_msb_waits_for_whole_header(codec):
    # The header is incomplete without its masking key: nothing to judge yet.
    assert codec.parse_frame_header(b"\x82\xff" + b"\xff" * 8 + KEY[:3]) is None


def test_parse_largest_64_bit_length(codec):
    result = codec.parse_frame_header(b"\x82\x7f\x7f" + b"\xff" * 7)
    assert result[6] == 2**63 - 1
    assert result[8] == 10


# serialize_frame --------------------------------------------------------------------------


def test_serialize_every_opcode_and_flag(codec):
    for opcode in range(16):
        for bits in range(16):
            fin, rsv1, rsv2, rsv3 = (bool(bits & 8), bool(bits & 4), bool(bits & 2), bool(bits & 1))
            frame = codec.serialize_frame(opcode, b"ab", fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)
            first = (bits << 4) | opcode
            assert frame == bytes((first, 2)) + b"ab", (opcode, bits)
            assert codec.parse_frame_header(frame) == (
                fin, rsv1, rsv2, rsv3, opcode, False, 2, None, 2
            )


def test_serialize_defaults(codec):
    assert codec.serialize_frame(1, b"") == b"\x81\x00"
    assert codec.serialize_frame(8, b"\x03\xe8") == b"\x88\x02\x03\xe8"


def test_serialize_flags_use_truthiness(codec):
    assert codec.serialize_frame(1, b"", fin=0) == b"\x01\x00"
    assert codec.serialize_frame(1, b"", fin=None) == b"\x01\x00"
    assert codec.serialize_frame(1, b"", fin=0, rsv1=1, rsv2="x", rsv3=[1]) == b"\x71\x00"


@pytest.mark.parametrize("opcode", [-1, 16, 17, 255, 256, -(2**31), 2**31 - 1])
def test_serialize_opcode_out_of_range(codec, opcode):
    with pytest.raises(ValueError) as info:
        codec.serialize_frame(opcode, b"")
    assert str(info.value) == "opcode must be between 0 and 15"


def test_serialize_opcode_checked_before_payload(codec):
    with pytest.raises(ValueError):
        codec.serialize_frame(16, "not bytes")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(bytearray(b"Hello"), id="bytearray"),
        pytest.param(memoryview(b"Hello"), id="memoryview"),
        pytest.param(array.array("B", b"Hello"), id="array-B"),
        pytest.param(memoryview(b"H.e.l.l.o.")[::2], id="strided"),
        pytest.param(memoryview(b"Hello!").cast("B", (2, 3)), id="2d"),
    ],
)
@pytest.mark.parametrize("mask", [None, KEY, bytearray(KEY), memoryview(KEY)], ids=["none", "bytes", "bytearray", "memoryview"])
def test_serialize_any_bytes_like(codec, payload, mask):
    data = memoryview(payload).tobytes()
    frame = codec.serialize_frame(1, payload, mask=mask)
    if mask is None:
        assert frame == bytes((0x81, len(data))) + data
    else:
        assert frame == bytes((0x81, 0x80 | len(data))) + KEY + reference_mask(data, KEY)


def test_serialize_array_i_payload(codec):
    values = array.array("i", range(100))
    raw = values.tobytes()
    assert codec.serialize_frame(2, values) == b"\x82\x7e" + len(raw).to_bytes(2, "big") + raw


@pytest.mark.parametrize("payload, name", [("Hello", "str"), (None, "NoneType"), (5, "int")])
def test_serialize_payload_wrong_type(codec, payload, name):
    with pytest.raises(TypeError) as info:
        codec.serialize_frame(1, payload)
    assert str(info.value) == f"payload must be a bytes-like object, not {name}"


@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde", bytearray(8)])
def test_serialize_mask_wrong_length(codec, mask):
    with pytest.raises(ValueError) as info:
        codec.serialize_frame(1, b"Hello", mask=mask)
    assert str(info.value) == "mask must contain 4 bytes"


@pytest.mark.parametrize("mask, name", [("abcd", "str"), (1234, "int"), ([1, 2, 3, 4], "list")])
def test_serialize_mask_wrong_type(codec, mask, name):
    with pytest.raises(TypeError) as info:
        codec.serialize_frame(1, b"Hello", mask=mask)
    assert str(info.value) == f"mask must be a bytes-like object, not {name}"


@pytest.mark.parametrize("length", [0, 1, 3, 15, 16, 17, 33, 125, 126, 127, 4096, 65535, 65536, 70001])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_round_trip(codec, length, masked):
    data = random.Random(length + 1).randbytes(length)
    mask = bytes.fromhex("0badf00d") if masked else None
    frame = codec.serialize_frame(2, data, fin=False, rsv1=True, mask=mask)
    result = codec.parse_frame_header(frame)
    assert result[:7] == (False, True, False, False, 2, masked, length)
    assert result[7] == mask
    body = frame[result[8] :]
    assert len(body) == length
    assert (reference_mask(body, mask) if masked else body) == data


# Arguments at the edges: both implementations agree (these once diverged) -----------------


@pytest.mark.parametrize("opcode", [2**31, 2**40, 2**63, 2**100, -(2**31) - 1, -(2**63) - 5])
def test_serialize_opcode_far_out_of_range(codec, opcode):
    """DIVERGENCE: the contract says any opcode outside 0..15 raises ValueError.

    The Cython extension declares ``int opcode``, so an opcode that does not fit a C int raises
    OverflowError("value too large to convert to int") before the range check; the Python twin
    raises ValueError("opcode must be between 0 and 15").
    """
    with pytest.raises(ValueError) as info:
        codec.serialize_frame(opcode, b"")
    assert str(info.value) == "opcode must be between 0 and 15"


@pytest.mark.parametrize("opcode", [1.0, 1.5, 9.99])
def test_serialize_non_integer_opcode_is_not_truncated(codec, opcode):
    """DIVERGENCE: a float opcode must not be silently truncated to an int.

    serialize_frame(1.5, b"") returns b"\\x81\\x00" from the Cython extension (``int opcode``
    coerces floats, Decimal and Fraction by truncation) but raises TypeError ("unsupported
    operand type(s) for |: 'int' and 'float'") from the Python twin. Both should raise
    TypeError.
    """
    with pytest.raises(TypeError):
        codec.serialize_frame(opcode, b"")


@pytest.mark.parametrize("offset", [2**63, 2**64, 2**100])
def test_parse_huge_offset_returns_none(codec, offset):
    """DIVERGENCE: an offset past the end means no header is available yet: None.

    The Python twin returns None; the Cython extension declares ``Py_ssize_t offset`` and
    raises OverflowError("Python int too large to convert to C ssize_t").
    """
    assert codec.parse_frame_header(b"\x81\x05Hello", offset) is None


@pytest.mark.parametrize("offset", [-(2**63) - 1, -(2**100)])
def test_parse_huge_negative_offset_is_value_error(codec, offset):
    """DIVERGENCE: the contract says a negative offset raises ValueError.

    The Python twin raises ValueError("offset must not be negative"); the Cython extension
    raises OverflowError for offsets below -2**63.
    """
    with pytest.raises(ValueError):
        codec.parse_frame_header(b"\x81\x05Hello", offset)


def test_parse_float_offset_is_type_error(codec):
    """DIVERGENCE: parse_frame_header(b"\\x81\\x00", 1.0) returns None from the Python twin
    (it compares lengths before indexing) but raises TypeError from the Cython extension
    ("'float' object cannot be interpreted as an integer"); with more data the twin raises
    TypeError("memoryview: invalid slice key") too. Both should raise TypeError always.
    """
    with pytest.raises(TypeError):
        codec.parse_frame_header(b"\x81\x00", 1.0)
    with pytest.raises(TypeError):
        codec.parse_frame_header(b"\x81\x05Hello", 1.0)


class _Untruthful:
    def __bool__(self):
        raise RuntimeError("truth value requested")


def test_serialize_checks_arguments_before_reading_flags(codec):
    """DIVERGENCE (low severity): argument checks happen in a different order.

    The Cython extension converts fin/rsv1/rsv2/rsv3 to C ``bint`` while parsing arguments,
    so a flag whose truth value raises wins over a bad opcode or payload:
    serialize_frame(16, b"", fin=obj) raises obj's RuntimeError from Cython but
    ValueError("opcode must be between 0 and 15") from the Python twin, and
    serialize_frame(1, "s", fin=obj) raises RuntimeError vs TypeError("payload must be ...").
    The twin's order (opcode, payload, then flags) is the one asserted here.
    """
    with pytest.raises(ValueError):
        codec.serialize_frame(16, b"", fin=_Untruthful())
    with pytest.raises(TypeError):
        codec.serialize_frame(1, "text", rsv2=_Untruthful())
