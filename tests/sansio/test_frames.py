"""wsfast.frames.Frame.parse and Frame.serialize (RFC 6455 §5.2, §5.5), against websockets 17.4.

``Frame.parse`` reads one frame through a generator-based ``read_exact`` (a StreamReader's), as
``websockets.frames.Frame.parse`` does, and the protocol's own reader doesn't use it: this is
its only test outside bench/. The same bytes go to wsfast's parser and to websockets' (each
over its own StreamReader) and the outcomes are compared: the frame's fields and what is left
unread, or the exception's type, message and attributes. Bytes come from tests/wire.py (built
by hand), from wsfast's ``serialize()`` and from websockets' ``serialize()``.

The one deliberate difference (docs/compatibility.md, wsfast.protocol): a 64-bit length with
its most significant bit set is a ProtocolError (RFC 6455 §5.2), where websockets reports the
size or waits for the payload.

Every test runs on both codecs (conftest.active_codec): parse unmasks and serialize writes
through the codec that wsfast.speedups holds.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module
from wire import raw_frame

import wsfast.frames
import wsfast.streams
from wsfast.exceptions import PayloadTooBig, ProtocolError
from wsfast.extensions.permessage_deflate import PerMessageDeflate
from wsfast.frames import Frame, Opcode

ws_frames = websockets_module("websockets.frames")
ws_streams = websockets_module("websockets.streams")
ws_deflate = websockets_module("websockets.extensions.permessage_deflate")
ws_exceptions = websockets_module("websockets.exceptions")

pytestmark = pytest.mark.usefixtures("active_codec")

KEY = b"\x5a\x0f\xc3\x96"
DATA_OPCODES = [Opcode.CONT, Opcode.TEXT, Opcode.BINARY]
CTRL_OPCODES = [Opcode.CLOSE, Opcode.PING, Opcode.PONG]
RESERVED_OPCODES = [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]
# Each length encoding and its edges (§5.2): 7 bits, 16 bits, 64 bits.
SIZES = [0, 1, 125, 126, 65535, 65536]

# The active_codec fixture is the same for every example of a property.
fixture_settings = settings(
    suppress_health_check=[*settings().suppress_health_check, HealthCheck.function_scoped_fixture]
)


# Running a parser ---------------------------------------------------------------------------


def start(lib, data, *, eof=True, **options):
    """A StreamReader of ``lib`` fed ``data`` (then EOF unless told not to), and a Frame.parse
    generator reading from it."""
    if lib == "wsfast":
        reader, frame_class = wsfast.streams.StreamReader(), wsfast.frames.Frame
    else:
        reader, frame_class = ws_streams.StreamReader(), ws_frames.Frame
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader, frame_class.parse(reader.read_exact, **options)


def summary(reader, frame):
    return ("frame", int(frame.opcode), bytes(frame.data), frame.fin, frame.rsv1, frame.rsv2,
            frame.rsv3, bytes(reader.buffer))


def error(exc):
    """What the two libraries' exceptions must share: class name, message, and the sizes of a
    PayloadTooBig."""
    sizes = (exc.size, exc.max_size) if type(exc).__name__ == "PayloadTooBig" else None
    return ("raise", type(exc).__name__, str(exc), sizes)


def outcome(lib, data, **options):
    """Parse ``data`` (then EOF): the frame and the bytes left unread, or the exception."""
    reader, parser = start(lib, data, **options)
    try:
        while True:
            next(parser)  # pragma: no cover - at EOF, read_exact raises instead of waiting
    except StopIteration as done:
        return summary(reader, done.value)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return error(exc)


def outcomes(data, **options):
    """wsfast's outcome, checked equal to websockets' where websockets is installed."""
    ours = outcome("wsfast", data, **options)
    if HAVE_WEBSOCKETS:
        assert ours == outcome("websockets", data, **options)
    return ours


def frame_outcome(opcode, payload, fin=True, rsv1=False, rsv2=False, rsv3=False, rest=b""):
    return ("frame", int(opcode), payload, fin, rsv1, rsv2, rsv3, rest)


def ws_frame(frame):
    """websockets' Frame with the same fields as wsfast's ``frame``."""
    return ws_frames.Frame(ws_frames.Opcode(frame.opcode), frame.data, frame.fin,
                           frame.rsv1, frame.rsv2, frame.rsv3)


# Round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", DATA_OPCODES)
@pytest.mark.parametrize("fin", [True, False])
@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_data_frame_round_trip(opcode, size, fin, mask):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    data = Frame(opcode, payload, fin=fin).serialize(mask=mask)
    assert outcomes(data + b"rest", mask=mask) == frame_outcome(opcode, payload, fin, rest=b"rest")


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
@pytest.mark.parametrize("size", [0, 2, 125])
@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_control_frame_round_trip(opcode, size, mask):
    payload = b"\x03\xe8" + b"r" * (size - 2) if size else b""
    data = Frame(opcode, payload).serialize(mask=mask)
    assert outcomes(data, mask=mask) == frame_outcome(opcode, payload)


@pytest.mark.parametrize(
    "opcode, size",
    [(Opcode.TEXT, size) for size in SIZES] + [(Opcode.BINARY, 70_000), (Opcode.PING, 125)],
)
def test_unmasked_serialize_is_the_rfc_layout_and_websockets_bytes(opcode, size):
    payload = b"p" * size
    ours = Frame(opcode, payload).serialize(mask=False)
    assert ours == raw_frame(opcode, payload)
    if HAVE_WEBSOCKETS:
        assert ours == ws_frames.Frame(ws_frames.Opcode(opcode), payload).serialize(mask=False)


@pytest.mark.parametrize("size", SIZES)
def test_masked_serialize_takes_a_new_key_per_frame(monkeypatch, size):
    payload = b"\x00\xffmask me" * (size // 9) + b"!" * (size % 9)
    keys = [KEY, b"\x01\x02\x03\x04"]
    monkeypatch.setattr(wsfast.frames, "generate_mask", lambda: keys.pop(0))
    first = Frame(Opcode.BINARY, payload).serialize(mask=True)
    second = Frame(Opcode.BINARY, payload).serialize(mask=True)
    assert first == raw_frame(Opcode.BINARY, payload, mask=KEY)
    assert second == raw_frame(Opcode.BINARY, payload, mask=b"\x01\x02\x03\x04")
    assert keys == []


@needs_websockets
@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_parse_reads_what_websockets_serializes(mask):
    for opcode, payload, fin in [
        (Opcode.TEXT, "café".encode(), False),
        (Opcode.CONT, b"x" * 70_000, True),
        (Opcode.PONG, b"pong", True),
        (Opcode.CLOSE, b"\x03\xe8", True),
    ]:
        data = ws_frame(Frame(opcode, payload, fin=fin)).serialize(mask=mask)
        assert outcome("wsfast", data, mask=mask) == frame_outcome(opcode, payload, fin)


control_payloads = st.binary(max_size=125)
data_payloads = st.one_of(
    st.binary(max_size=300), st.sampled_from([126, 65535, 65536, 70_000]).map(bytes)
)
any_frames = st.one_of(
    st.builds(Frame, st.sampled_from(DATA_OPCODES), data_payloads, st.booleans()),
    st.builds(Frame, st.sampled_from(CTRL_OPCODES), control_payloads),
)


@fixture_settings
@given(frame=any_frames, mask=st.booleans(), rest=st.binary(max_size=8))
def test_random_round_trips(frame, mask, rest):
    data = frame.serialize(mask=mask)
    expected = frame_outcome(frame.opcode, frame.data, frame.fin, rest=rest)
    assert outcomes(data + rest, mask=mask) == expected
    if HAVE_WEBSOCKETS:
        theirs = ws_frame(frame).serialize(mask=mask)
        assert outcome("wsfast", theirs + rest, mask=mask) == expected


@needs_websockets
@fixture_settings
@given(data=st.binary(max_size=40), mask=st.booleans(), max_size=st.none() | st.integers(0, 20))
def test_random_bytes_parse_as_websockets_parses_them(data, mask, max_size):
    # The one deliberate difference has a test of its own (below).
    assume(not (len(data) >= 3 and data[1] & 0x7F == 127 and data[2] & 0x80))
    outcomes(data, mask=mask, max_size=max_size)


def test_parse_waits_for_the_rest_of_the_frame():
    data = Frame(Opcode.TEXT, b"x" * 300).serialize(mask=True)
    reader, parser = start("wsfast", b"", eof=False, mask=True)
    for byte in data[:-1]:
        assert next(parser) is None
        reader.feed_data(bytes([byte]))
    assert next(parser) is None
    reader.feed_data(data[-1:] + b"next")
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert summary(reader, frame) == frame_outcome(Opcode.TEXT, b"x" * 300, rest=b"next")


# Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_reserved_opcode(opcode):
    assert outcomes(raw_frame(opcode, b"abc"), mask=False) == (
        "raise", "ProtocolError", "invalid opcode", None)


@pytest.mark.parametrize("mask", [False, True], ids=["client-gets-masked", "server-gets-unmasked"])
def test_incorrect_masking(mask):
    data = raw_frame(Opcode.TEXT, b"abc", mask=None if mask else KEY)
    assert outcomes(data, mask=mask) == ("raise", "ProtocolError", "incorrect masking", None)


@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.PING])
def test_reserved_bits_without_extension(bit, opcode):
    data = raw_frame(opcode, b"abc", **{bit: True})
    assert outcomes(data, mask=False) == (
        "raise", "ProtocolError", "reserved bits must be 0", None)


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
def test_control_frame_too_long(opcode):
    for size in [126, 65536]:
        assert outcomes(raw_frame(opcode, b"c" * size, mask=KEY), mask=True) == (
            "raise", "ProtocolError", "control frame too long", None)


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
def test_fragmented_control_frame(opcode):
    assert outcomes(raw_frame(opcode, b"", fin=False), mask=False) == (
        "raise", "ProtocolError", "fragmented control frame", None)


@pytest.mark.parametrize("size", [126, 65536])
def test_max_size(size):
    data = raw_frame(Opcode.BINARY, b"b" * size, mask=KEY)
    assert outcomes(data, mask=True, max_size=size) == frame_outcome(Opcode.BINARY, b"b" * size)
    assert outcomes(data, mask=True, max_size=size - 1) == (
        "raise", "PayloadTooBig", f"frame with {size} bytes exceeds limit of {size - 1} bytes",
        (size, size - 1))


def test_max_size_is_checked_before_the_payload_arrives():
    header = raw_frame(Opcode.BINARY, b"", length=2**40)
    _, parser = start("wsfast", header, eof=False, mask=False, max_size=2**20)
    with pytest.raises(PayloadTooBig) as raised:
        next(parser)
    expected = (
        "raise", "PayloadTooBig", f"frame with {2**40} bytes exceeds limit of {2**20} bytes",
        (2**40, 2**20),
    )
    assert error(raised.value) == expected
    if HAVE_WEBSOCKETS:
        _, parser = start("websockets", header, eof=False, mask=False, max_size=2**20)
        with pytest.raises(ws_exceptions.PayloadTooBig) as theirs:
            next(parser)
        assert error(theirs.value) == expected


@pytest.mark.parametrize("max_size", [None, 2**20])
def test_64_bit_length_with_its_most_significant_bit_set(max_size):
    # RFC 6455 §5.2: "the most significant bit MUST be 0". websockets takes the length as
    # it is: PayloadTooBig with a max_size, else it waits for 2**63 + 1 bytes.
    data = raw_frame(Opcode.BINARY, b"x", length=2**63 + 1)
    _, parser = start("wsfast", data, eof=False, mask=False, max_size=max_size)
    with pytest.raises(ProtocolError) as raised:
        next(parser)
    assert str(raised.value) == (
        "invalid payload length: most significant bit of 64-bit length is set")
    if HAVE_WEBSOCKETS:
        _, parser = start("websockets", data, eof=False, mask=False, max_size=max_size)
        if max_size is None:
            assert next(parser) is None  # waiting for the payload
        else:
            with pytest.raises(ws_exceptions.PayloadTooBig):
                next(parser)
    # The bit below it is only a length: the stream ends before the payload does.
    assert outcomes(raw_frame(Opcode.BINARY, b"x", length=2**63 - 1), mask=False) == (
        "raise", "EOFError", f"stream ends after 1 bytes, expected {2**63 - 1} bytes", None)


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 5, 6, 9])
def test_stream_ends_inside_a_frame(cut):
    data = raw_frame(Opcode.TEXT, b"hello", mask=KEY)  # 2 + 4 + 5 bytes
    assert outcomes(data[:cut], mask=True)[:2] == ("raise", "EOFError")


@pytest.mark.parametrize(
    "frame, message",
    [
        (Frame(Opcode.TEXT, b"x", rsv1=True), "reserved bits must be 0"),
        (Frame(Opcode.BINARY, b"x", rsv3=True), "reserved bits must be 0"),
        (Frame(Opcode.PING, b"x" * 126), "control frame too long"),
        (Frame(Opcode.CLOSE, b"\x03\xe8" + b"x" * 124), "control frame too long"),
        (Frame(Opcode.PONG, b"", fin=False), "fragmented control frame"),
    ],
)
@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_serialize_refuses_what_parse_refuses(frame, message, mask):
    with pytest.raises(ProtocolError) as raised:
        frame.serialize(mask=mask)
    assert str(raised.value) == message
    if HAVE_WEBSOCKETS:
        with pytest.raises(ws_exceptions.ProtocolError) as theirs:
            ws_frame(frame).serialize(mask=mask)
        assert str(theirs.value) == message


# Extensions --------------------------------------------------------------------------------


class Tag:
    """An extension that appends its name to payloads, and lets RSV2 through (as a real one
    lets RSV1 through), recording the calls."""

    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def encode(self, frame):
        self.calls.append(("encode", self.name))
        return dataclasses.replace(frame, data=bytes(frame.data) + self.name, rsv2=True)

    def decode(self, frame, *, max_size=None):
        self.calls.append(("decode", self.name, max_size))
        assert frame.data.endswith(self.name), "decoded in the wrong order"
        return dataclasses.replace(frame, data=bytes(frame.data)[: -len(self.name)], rsv2=False)


def test_extensions_encode_in_order_and_decode_in_reverse():
    calls = []
    extensions = [Tag(b"A", calls), Tag(b"B", calls)]
    data = Frame(Opcode.TEXT, b"hello").serialize(mask=True, extensions=extensions)
    assert data == raw_frame(Opcode.TEXT, b"helloAB", rsv2=True, mask=data[2:6])
    assert outcomes(data, mask=True, extensions=extensions, max_size=100) == frame_outcome(
        Opcode.TEXT, b"hello")
    decodes = [("decode", b"B", 100), ("decode", b"A", 100)]
    assert calls == [("encode", b"A"), ("encode", b"B"), *decodes * (1 + HAVE_WEBSOCKETS)]


def test_extension_output_is_checked():
    # What the extensions leave must pass check(): one that doesn't clear RSV2 is refused.
    data = raw_frame(Opcode.TEXT, b"helloA", rsv2=True)
    calls = []
    assert outcomes(data, mask=False, extensions=[Tag(b"A", calls)]) == frame_outcome(
        Opcode.TEXT, b"hello")

    class Leaky(Tag):
        def decode(self, frame, *, max_size=None):
            return dataclasses.replace(super().decode(frame, max_size=max_size), rsv2=True)

    assert outcomes(data, mask=False, extensions=[Leaky(b"A", calls)]) == (
        "raise", "ProtocolError", "reserved bits must be 0", None)


@needs_websockets
@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_permessage_deflate_both_ways(mask):
    payload = "compressed café ".encode() * 200
    ours = Frame(Opcode.TEXT, payload).serialize(
        mask=mask, extensions=[PerMessageDeflate(False, False, 15, 15)])
    assert ours[0] & 0x40 and len(ours) < len(payload)  # RSV1: a compressed message
    theirs_extension = ws_deflate.PerMessageDeflate(False, False, 15, 15)
    assert outcome("websockets", ours, mask=mask, extensions=[theirs_extension]) == (
        frame_outcome(Opcode.TEXT, payload))
    theirs = ws_frames.Frame(ws_frames.Opcode.TEXT, payload).serialize(
        mask=mask, extensions=[ws_deflate.PerMessageDeflate(False, False, 15, 15)])
    assert outcome("wsfast", theirs, mask=mask,
                   extensions=[PerMessageDeflate(False, False, 15, 15)]) == (
        frame_outcome(Opcode.TEXT, payload))
