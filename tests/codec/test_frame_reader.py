"""FrameReader, the receive path: rules of RFC 6455 §5 and both implementations in lockstep."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire import raw_frame

from wsfast.exceptions import InvalidUTF8, PayloadTooBig, ProtocolError, TooManyFragments

KEY = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, rsv1=False, mask=KEY):
    return raw_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask)


def run(reader_class, stream, splits, **options):
    """Feed ``stream`` cut at ``splits``; return what came out, ending with the exception."""
    reader = reader_class(**options)
    results = []
    cuts = [0, *sorted(set(splits)), len(stream)]
    try:
        for start, end in zip(cuts, cuts[1:]):
            reader.feed_data(stream[start:end])
            while (received := reader.read_frame()) is not None:
                results.append(
                    (int(received.opcode), bytes(received.data), received.fin,
                     received.rsv1, received.rsv2, received.rsv3)
                )
        reader.feed_eof()
        while (received := reader.read_frame()) is not None:  # pragma: no cover
            results.append(received)
    except Exception as exc:  # noqa: BLE001 - the exception is the result compared
        results.append((type(exc), str(exc), getattr(exc, "offset", None)))
    return results


# Rules, on each implementation ---------------------------------------------------------------


def test_fragmented_text_with_interleaved_ping(reader_class):
    stream = frame(1, "hé".encode(), fin=False) + frame(9, b"ping") + frame(0, "llo".encode())
    assert run(reader_class, stream, range(len(stream)), mask=True) == [
        (1, "hé".encode(), False, False, False, False),
        (9, b"ping", True, False, False, False),
        (0, b"llo", True, False, False, False),
    ]


@pytest.mark.parametrize(
    ("stream", "options", "error", "message"),
    [
        (frame(3, b""), {}, ProtocolError, "invalid opcode"),
        (frame(1, b"x", mask=None), {}, ProtocolError, "incorrect masking"),
        (frame(1, b"x", rsv1=True), {}, ProtocolError, "reserved bits must be 0"),
        (frame(9, b"x" * 126), {}, ProtocolError, "control frame too long"),
        (frame(9, b"x", fin=False), {}, ProtocolError, "fragmented control frame"),
        (frame(0, b"x"), {}, ProtocolError, "unexpected continuation frame"),
        (frame(1, b"x", fin=False) + frame(2, b"y"), {}, ProtocolError,
         "expected a continuation frame"),
        (b"\x82\xff\x80" + bytes(7) + KEY, {}, ProtocolError,
         "invalid payload length: most significant bit of 64-bit length is set"),
        (frame(2, b"x" * 11), {"max_size": 10}, PayloadTooBig,
         "frame with 11 bytes exceeds limit of 10 bytes"),
        (frame(2, b"x" * 6, fin=False) + frame(0, b"x" * 6), {"max_size": 10}, PayloadTooBig,
         "frame with 6 bytes after reading 6 bytes exceeds limit of 10 bytes"),
        (frame(2, b"x" * 6), {"max_size": (None, 5)}, PayloadTooBig,
         "frame with 6 bytes exceeds limit of 5 bytes"),
        (frame(2, b"", fin=False) * 1 + frame(0, b"", fin=False) * 3, {"max_fragments": 3},
         TooManyFragments, "fragmented message exceeds limit of 3 frames"),
        (frame(1, b"ok\xc0\xafok"), {}, InvalidUTF8,
         "'utf-8' codec can't decode byte 0xc0 in position 2: invalid start byte"),
        (frame(1, b"\xe2\x82", fin=False) + frame(0, b"\xac\xed\xa0\x80"), {}, InvalidUTF8,
         "'utf-8' codec can't decode byte 0xa0 in position 4: invalid continuation byte"),
        (frame(1, b"ok\xe2\x82"), {}, InvalidUTF8,
         "'utf-8' codec can't decode bytes in position 2-3: unexpected end of data"),
    ],
)
def test_violations(reader_class, stream, options, error, message):
    results = run(reader_class, stream, [], mask=True, **options)
    assert results[-1][:2] == (error, message)


def test_server_side_rejects_unmasked_and_client_side_masked(reader_class):
    assert run(reader_class, frame(2, b"x", mask=None), [], mask=True)[-1][1] == (
        "incorrect masking"
    )
    assert run(reader_class, frame(2, b"x"), [], mask=False)[-1][1] == "incorrect masking"


def test_invalid_utf8_fails_before_the_frame_is_complete(reader_class):
    """§8.1 fail fast: the byte that breaks the text is enough, the rest need not arrive."""
    payload = b"a" * 1000 + b"\xf4\x90" + b"b" * 100_000
    stream = frame(1, payload)
    reader = reader_class(mask=True)
    reader.feed_data(stream[: 14 + 1002])  # header, key, and up to the 0x90 after F4
    with pytest.raises(InvalidUTF8) as caught:
        reader.read_frame()
    assert caught.value.offset == 1001


def test_truncated_character_at_fragment_end_is_not_an_error(reader_class):
    stream = frame(1, b"\xf0\x9f", fin=False) + frame(0, b"\x98\x80")
    results = run(reader_class, stream, [3, 7, 9], mask=True)
    assert [data for _, data, *_ in results] == [b"\xf0\x9f", b"\x98\x80"]


def test_error_is_sticky(reader_class):
    reader = reader_class(mask=True)
    reader.feed_data(frame(3, b""))
    with pytest.raises(ProtocolError) as first:
        reader.read_frame()
    with pytest.raises(ProtocolError) as second:
        reader.read_frame()
    assert first.value is second.value


@pytest.mark.parametrize("cut", [1, 2, 5, 9])
def test_eof_inside_a_frame(reader_class, cut):
    reader = reader_class(mask=True)
    reader.feed_data(frame(2, b"payload")[:cut])
    assert reader.read_frame() is None
    reader.feed_eof()
    with pytest.raises(EOFError):
        reader.read_frame()


def test_eof_between_frames_is_quiet(reader_class):
    reader = reader_class(mask=True)
    reader.feed_data(frame(2, b"x"))
    assert reader.read_frame() is not None
    reader.feed_eof()
    assert reader.read_frame() is None
    assert not reader.message_in_progress


def test_large_stream_keeps_buffer_bounded(reader_class):
    reader = reader_class(mask=True)
    message = os.urandom(70_000)
    for _ in range(20):
        reader.feed_data(frame(2, message))
        received = reader.read_frame()
        assert received.data == message
    assert reader.read_frame() is None


# Both implementations, same input, same output ---------------------------------------------

frames_strategy = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2, 3, 8, 9, 10]),
        st.one_of(
            st.binary(max_size=300),
            st.text(max_size=100).map(str.encode),
            st.sampled_from([b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
                             b"\x80", b"\xf0\x9f\x98"]),
        ),
        st.booleans(),  # fin
        st.booleans(),  # rsv1
        st.booleans(),  # masked
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    frames=frames_strategy,
    splits=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    server_side=st.booleans(),
    max_size=st.one_of(st.none(), st.integers(0, 400),
                       st.tuples(st.none() | st.integers(0, 400), st.none() | st.integers(0, 200))),
    max_fragments=st.none() | st.integers(1, 4),
)
def test_implementations_agree(codec_pair, frames, splits, server_side, max_size, max_fragments):
    stream = b"".join(
        frame(opcode, payload, fin, rsv1, KEY if masked else None)
        for opcode, payload, fin, rsv1, masked in frames
    )
    options = {"mask": server_side, "max_size": max_size, "max_fragments": max_fragments}
    splits = [cut for cut in splits if cut < len(stream)]
    cython, python = codec_pair
    assert run(cython.FrameReader, stream, splits, **options) == run(
        python.FrameReader, stream, splits, **options
    )


def deflate_pair():
    from wsfast.extensions.permessage_deflate import PerMessageDeflate

    # Sender and receiver halves of one negotiated connection (RFC 7692 §7.1).
    return PerMessageDeflate(False, False, 15, 15), PerMessageDeflate(False, False, 15, 15)


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from([1, 2]),
            st.one_of(st.text(max_size=400).map(str.encode), st.binary(max_size=400),
                      st.just(b"a" * 5000)),
            st.integers(1, 3),  # fragments
        ),
        min_size=1,
        max_size=5,
    ),
    splits=st.lists(st.integers(min_value=0, max_value=3000), max_size=10),
    max_size=st.none() | st.integers(0, 3000),
)
def test_implementations_agree_on_compressed_messages(codec_pair, messages, splits, max_size):
    from wsfast.frames import Frame, Opcode

    sender, _ = deflate_pair()
    stream = b""
    for opcode, payload, fragments in messages:
        step = max(1, len(payload) // fragments)
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        for index, piece in enumerate(pieces):
            sent = sender.encode(Frame(Opcode(0 if index else opcode), piece,
                                       fin=index == len(pieces) - 1))
            stream += frame(sent.opcode, sent.data, sent.fin, sent.rsv1)
    splits = [cut for cut in splits if cut < len(stream)]
    results = [
        run(codec.FrameReader, stream, splits, mask=True, max_size=max_size,
            extensions=[deflate_pair()[1]])
        for codec in codec_pair
    ]
    assert results[0] == results[1]
    if max_size is None and all(opcode == 2 or payload.decode("utf-8", "ignore").encode() == payload
                                for opcode, payload, _ in messages):
        # Nothing to reject: the inflated payloads are the messages sent.
        assert b"".join(data for _, data, *_ in results[1]) == b"".join(p for _, p, _ in messages)


@pytest.mark.parametrize("read", ["read_frame", "read_messages"])
def test_tuple_max_size_bounds_each_inflated_fragment(reader_class, read):
    """A (message, fragment) max_size bounds what one compressed frame inflates to, too."""
    from wsfast.frames import Frame, Opcode

    sender, receiver = deflate_pair()
    sent = sender.encode(Frame(Opcode.BINARY, b"a" * 5000))
    assert len(sent.data) < 100  # small on the wire: only inflating shows the size
    reader = reader_class(mask=True, max_size=(10_000, 1000), extensions=[receiver])
    reader.feed_data(frame(sent.opcode, sent.data, sent.fin, sent.rsv1))
    with pytest.raises(PayloadTooBig) as raised:
        getattr(reader, read)()
    assert raised.value.max_size == 1000


@pytest.mark.parametrize("read", ["read_frame", "read_messages"])
def test_tuple_max_size_allows_a_message_within_both_limits(reader_class, read):
    from wsfast.frames import Frame, Opcode

    sender, receiver = deflate_pair()
    sent = sender.encode(Frame(Opcode.BINARY, b"a" * 900))
    reader = reader_class(mask=True, max_size=(10_000, 1000), extensions=[receiver])
    reader.feed_data(frame(sent.opcode, sent.data, sent.fin, sent.rsv1))
    result = getattr(reader, read)()
    data = result[0] if read == "read_messages" else result.data
    assert data == b"a" * 900


class _ReenteringExtension:
    """An extension whose decode() calls back into the reader that is decoding."""

    name = "x-reenter"

    def __init__(self, call):
        self.call = call
        self.reader = None

    def decode(self, frame, *, max_size=None):
        self.call(self.reader)
        return frame

    def encode(self, frame):  # pragma: no cover - the reader only decodes
        return frame


@pytest.mark.parametrize(
    "call",
    [
        lambda reader: reader.feed_data(b"\x81\x00"),
        lambda reader: reader.get_buffer(),
        lambda reader: reader.read_messages(),
        lambda reader: reader.read_frame(),
    ],
    ids=["feed_data", "get_buffer", "read_messages", "read_frame"],
)
def test_a_call_into_a_busy_reader_is_refused(codec, call):
    # On a free-threaded build, a second thread can enter the reader while the first one is
    # suspended inside it (inflating releases the interpreter). The reader refuses it rather
    # than let it move the buffer being read; a re-entrant call shows the same guard here.
    extension = _ReenteringExtension(call)
    reader = codec.FrameReader(mask=False, extensions=[extension])
    extension.reader = reader
    with pytest.raises(RuntimeError, match="in use by another thread"):
        reader.feed_messages(b"\x82\x03abc")
    # The reader failed for good, with that error, as after any other error.
    with pytest.raises(RuntimeError, match="in use by another thread"):
        reader.read_messages()


@pytest.mark.parametrize(
    "options",
    [{"max_size": -1}, {"max_size": (None, -2)}, {"max_size": (-3, 10)}, {"max_fragments": -1}],
    ids=["max_size", "max_frame", "max_message", "max_fragments"],
)
def test_a_negative_limit_is_refused(codec, options):
    with pytest.raises(ValueError, match="must be None or a non-negative integer"):
        codec.FrameReader(mask=False, **options)


def test_a_float_limit_is_refused(codec):
    with pytest.raises(TypeError):
        codec.FrameReader(mask=False, max_size=1.5)


def test_a_limit_no_length_reaches_is_no_limit(codec):
    reader = codec.FrameReader(mask=False, max_size=2**64, max_fragments=2**63)
    frames = reader.feed_messages(b"\x02\x01a\x80\x01b")
    assert [(frame.data, frame.fin) for frame in frames] == [(b"a", False), (b"b", True)]
    reader = codec.FrameReader(mask=False, max_size=2**63 - 1)
    assert reader.feed_messages(b"\x82\x05hello") == [b"hello"]
