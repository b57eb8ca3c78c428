"""FrameReader's message interface: get_buffer/buffer_updated in, read_messages() out.

``read_messages()`` returns a single-frame TEXT or BINARY message as ``str`` or ``bytes`` and
every other frame (fragments, control frames) as a ``Frame``, as ``read_frame()`` would; after
a CLOSE frame nothing more comes out (RFC 6455 §1.4). Everything is checked on both
implementations, and against a reference built from ``read_frame()`` on the same stream.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire import raw_frame

from wsfast.exceptions import (
    InvalidUTF8,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from wsfast.extensions.permessage_deflate import PerMessageDeflate
from wsfast.frames import Frame, Opcode

KEY = b"\x37\xfa\x21\x3d"
EOF = None  # in a list of chunks: feed_eof() instead of bytes


def frame(opcode, payload, fin=True, rsv1=False, mask=KEY):
    return raw_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask)


# Writing and reading -------------------------------------------------------------------------


def write(reader, data, hint=-1, scribble=False):
    """Write ``data`` as asyncio's transports do: get_buffer(), recv_into(), buffer_updated().

    A chunk larger than the buffer takes several rounds. ``scribble`` fills the rest of each
    buffer with junk: only the ``nbytes`` announced are data.
    """
    data = memoryview(data)
    while data:
        buf = reader.get_buffer(hint)
        with memoryview(buf) as raw, raw.cast("B") as view:
            assert not view.readonly
            assert raw.c_contiguous
            assert len(view) > 0
            count = min(len(view), len(data))
            view[:count] = data[:count]
            if scribble:
                view[count:] = b"\xa5" * (len(view) - count)
        # Like asyncio's _read_ready__get_buffer, ``buf`` is still referenced here.
        reader.buffer_updated(count)
        del buf
        data = data[count:]


def abandon_buffer(reader, hint=-1):
    """get_buffer() whose transport write failed: junk in the buffer, no buffer_updated()."""
    buf = reader.get_buffer(hint)
    with memoryview(buf) as raw, raw.cast("B") as view:
        view[:] = b"\x5a" * len(view)
    del buf


def normalise(item):
    """("msg", str or bytes) for a whole message, (opcode, data, fin, rsv1) for a Frame."""
    if isinstance(item, Frame):
        return (int(item.opcode), bytes(item.data), item.fin, item.rsv1)
    assert type(item) in (str, bytes), f"unexpected item {item!r}"
    return ("msg", item)


def describe(exc):
    return (type(exc), str(exc), getattr(exc, "offset", None))


def messages_of(reader, chunks, modes=None):
    """Per chunk, what read_messages() returned; the exception ends the list where it came.

    ``chunks`` are bytes or ``EOF``; ``modes`` says per chunk how it is written: "feed", or
    ``(hint, scribble, abandon)`` for get_buffer()/buffer_updated().
    """
    modes = modes or ["feed"] * len(chunks)
    results = []
    for chunk, mode in zip(chunks, modes, strict=True):
        got = []
        results.append(got)
        try:
            if chunk is EOF:
                reader.feed_eof()
            elif mode == "feed":
                reader.feed_data(chunk)
            else:
                hint, scribble, abandon = mode
                if abandon:
                    abandon_buffer(reader, hint)
                write(reader, chunk, hint, scribble)
            while items := reader.read_messages():
                got.extend(normalise(item) for item in items)
        except Exception as exc:  # noqa: BLE001 - the exception is the result compared
            got.append(describe(exc))
            # Sticky: every later call raises it again.
            for _ in range(2):
                with pytest.raises(type(exc)) as again:
                    reader.read_messages()
                assert describe(again.value) == describe(exc)
            break
    return results


def expected_item(received):
    """What read_messages() returns for a frame read_frame() returned."""
    if received.fin and received.opcode is Opcode.TEXT:
        return ("msg", bytes(received.data).decode())
    if received.fin and received.opcode is Opcode.BINARY:
        return ("msg", bytes(received.data))
    return normalise(received)


def reference(reader, chunks):
    """messages_of() derived from read_frame() on a reader fed the same chunks."""
    results = []
    closed = False
    for chunk in chunks:
        got = []
        results.append(got)
        try:
            if chunk is EOF:
                reader.feed_eof()
            else:
                reader.feed_data(chunk)
            while not closed and (received := reader.read_frame()) is not None:
                got.append(expected_item(received))
                closed = received.opcode is Opcode.CLOSE
        except Exception as exc:  # noqa: BLE001 - the exception is the result compared
            got.append(describe(exc))
            break
    return results


def cut(stream, splits):
    """``stream`` cut at ``splits``, then EOF."""
    cuts = [0, *sorted({split for split in splits if 0 < split < len(stream)}), len(stream)]
    return [stream[start:end] for start, end in itertools.pairwise(cuts)] + [EOF]


def flat(results):
    return [item for got in results for item in got]


def read_all(reader_class, stream, splits=(), modes=None, **options):
    options.setdefault("mask", True)
    return flat(messages_of(reader_class(**options), cut(stream, splits), modes))


def expected(reader_class, stream, splits=(), **options):
    options.setdefault("mask", True)
    return flat(reference(reader_class(**options), cut(stream, splits)))


def text_of_length(length):
    """Text whose UTF-8 encoding has exactly ``length`` bytes, with 2-byte characters."""
    return "é" * (length // 2) + "a" * (length % 2)


# 1. Single-frame messages ---------------------------------------------------------------------


@pytest.mark.parametrize("server_side", [True, False])
@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 65537])
def test_single_frame_messages(reader_class, server_side, length):
    key = KEY if server_side else None
    text = text_of_length(length)
    binary = random.Random(length).randbytes(length)
    stream = frame(1, text.encode(), mask=key) + frame(2, binary, mask=key)
    reader = reader_class(mask=server_side)
    reader.feed_data(stream)
    items = reader.read_messages()
    assert items == [text, binary]
    assert [type(item) for item in items] == [str, bytes]
    assert reader.read_messages() == []
    assert not reader.message_in_progress


@pytest.mark.parametrize("server_side", [True, False])
def test_empty_messages_byte_by_byte(reader_class, server_side):
    key = KEY if server_side else None
    stream = frame(1, b"", mask=key) + frame(2, b"", mask=key) + frame(1, b"", mask=key)
    splits = range(len(stream))
    assert read_all(reader_class, stream, splits, mask=server_side) == [
        ("msg", ""), ("msg", b""), ("msg", ""),
    ]
    modes = [(1, False, False)] * (len(stream) + 1)
    assert read_all(reader_class, stream, splits, modes, mask=server_side) == [
        ("msg", ""), ("msg", b""), ("msg", ""),
    ]


def test_message_comes_out_with_its_last_byte(reader_class):
    stream = frame(2, b"abc") + frame(1, "dé".encode())
    results = messages_of(reader_class(mask=True), cut(stream, range(len(stream))))
    # Header 6 bytes + 3 payload bytes: the first message is complete after byte 9.
    assert [index for index, got in enumerate(results) if got] == [8, len(stream) - 1]
    assert flat(results) == [("msg", b"abc"), ("msg", "dé")]


def irregular_chunks(stream, seed, first):
    """``stream`` in chunks of irregular sizes, the first ``first`` bytes long."""
    rng = random.Random(seed)
    sizes = [1, 2, 3, 5, 13, 100, 1000, 4095, 4096, 65536, 100_000]
    chunks, position = [stream[:first]], first
    while position < len(stream):
        size = rng.choice(sizes)
        chunks.append(stream[position : position + size])
        position += size
    return chunks


@pytest.mark.parametrize("server_side", [True, False])
@pytest.mark.parametrize("first", [1, 2, 3, 5, 9, 10, 11, 12, 13, 14, 15, 1000])
def test_large_message_through_get_buffer(reader_class, server_side, first):
    """300 KiB in irregular chunks, cut inside the header and the masking key."""
    key = KEY if server_side else None
    payload = random.Random(first).randbytes(300 * 1024)
    text = text_of_length(300 * 1024 + 1)
    stream = frame(2, payload, mask=key) + frame(1, text.encode(), mask=key)
    stream += frame(2, b"tail", mask=key)
    reader = reader_class(mask=server_side, max_size=None)
    received = []
    for index, chunk in enumerate(irregular_chunks(stream, first, first)):
        write(reader, chunk, hint=[-1, 0, 1, 4096, 2**20][index % 5], scribble=index % 2 == 1)
        received += reader.read_messages()
    assert [type(item) for item in received] == [bytes, str, bytes]
    assert received == [payload, text, b"tail"]
    # What was returned stays put while more bytes go through the reader's buffers.
    for _ in range(3):
        write(reader, frame(2, bytes(70_000), mask=key), scribble=True)
        assert reader.read_messages() == [bytes(70_000)]
    assert received == [payload, text, b"tail"]


@pytest.mark.parametrize("hint", [-1, 0, 1, 64, 4096, 2**20])
def test_large_message_in_one_write(reader_class, hint):
    payload = random.Random(hint).randbytes(300 * 1024)
    stream = frame(2, b"x") + frame(2, payload) + frame(1, b"y")
    reader = reader_class(mask=True, max_size=None)
    write(reader, stream, hint)
    assert reader.read_messages() == [b"x", payload, "y"]


# 2. Fragments and control frames ------------------------------------------------------------


def test_fragmented_messages_with_interleaved_pings(reader_class):
    stream = (
        frame(1, "hé".encode()[:2], fin=False)
        + frame(9, b"ping")
        + frame(0, "hé".encode()[2:], fin=False)
        + frame(0, b"llo")
        + frame(2, b"one")
        + frame(2, b"", fin=False)
        + frame(10, b"pong")
        + frame(0, b"\x00\xff")
        + frame(1, b"ok")
    )
    want = [
        (1, b"h\xc3", False, False),
        (9, b"ping", True, False),
        (0, b"\xa9", False, False),
        (0, b"llo", True, False),
        ("msg", b"one"),
        (2, b"", False, False),
        (10, b"pong", True, False),
        (0, b"\x00\xff", True, False),
        ("msg", "ok"),
    ]
    assert read_all(reader_class, stream) == want
    assert read_all(reader_class, stream, range(len(stream))) == want
    assert read_all(reader_class, stream) == expected(reader_class, stream)


def test_message_in_progress_between_fragments(reader_class):
    reader = reader_class(mask=True)
    reader.feed_data(frame(2, b"a", fin=False))
    (first,) = reader.read_messages()
    assert isinstance(first, Frame)
    assert reader.message_in_progress
    reader.feed_data(frame(0, b"b"))
    (last,) = reader.read_messages()
    assert (last.opcode, last.data, last.fin) == (Opcode.CONT, b"b", True)
    assert not reader.message_in_progress


@pytest.mark.parametrize(
    ("opcode", "payload"),
    [(9, b""), (9, b"x" * 125), (10, b"pong"), (8, b""), (8, b"\x03\xe8bye")],
)
def test_control_frames_are_frames(reader_class, opcode, payload):
    reader = reader_class(mask=True)
    reader.feed_data(frame(opcode, payload))
    (received,) = reader.read_messages()
    assert isinstance(received, Frame)
    assert received.opcode is Opcode(opcode)
    assert bytes(received.data) == payload
    assert received.fin


# 3. Nothing after CLOSE -----------------------------------------------------------------------


def test_nothing_after_close(reader_class):
    reader = reader_class(mask=True)
    reader.feed_data(frame(2, b"a") + frame(8, b"\x03\xe8") + frame(1, b"after") + frame(9, b""))
    items = reader.read_messages()
    assert normalise(items[0]) == ("msg", b"a")
    assert normalise(items[1]) == (8, b"\x03\xe8", True, False)
    assert len(items) == 2
    assert reader.read_messages() == []
    # More frames, valid or not, by either way of writing: discarded (RFC 6455 §1.4).
    reader.feed_data(frame(2, b"more"))
    write(reader, frame(1, b"more") + frame(8, b""))
    assert reader.read_messages() == []
    reader.feed_data(frame(3, b"") + frame(1, b"\xff"))
    assert reader.read_messages() == []
    write(reader, frame(2, b"partial")[:5])
    reader.feed_eof()
    assert reader.read_messages() == []
    assert reader.read_messages() == []


def test_close_inside_a_fragmented_message(reader_class):
    stream = frame(1, b"he", fin=False) + frame(8, b"") + frame(0, b"llo") + frame(2, b"x")
    want = [(1, b"he", False, False), (8, b"", True, False)]
    assert read_all(reader_class, stream) == want
    assert read_all(reader_class, stream, range(len(stream))) == want
    modes = [(3, True, True)] * (len(stream) + 1)
    assert read_all(reader_class, stream, range(len(stream)), modes) == want


def test_eof_right_after_close(reader_class):
    assert read_all(reader_class, frame(8, b"")) == [(8, b"", True, False)]


# 4. Errors: what came before first, then the error, again and again ------------------------------


def test_message_then_invalid_frame_in_one_chunk(reader_class):
    reader = reader_class(mask=True)
    reader.feed_data(frame(2, b"ok") + frame(1, "é".encode()) + frame(3, b""))
    assert reader.read_messages() == [b"ok", "é"]
    for _ in range(3):
        with pytest.raises(ProtocolError, match="^invalid opcode$"):
            reader.read_messages()


def test_error_without_anything_before(reader_class):
    reader = reader_class(mask=True)
    reader.feed_data(frame(1, b"x", mask=None))
    with pytest.raises(ProtocolError, match="^incorrect masking$"):
        reader.read_messages()


@pytest.mark.parametrize("prefix", [b"", frame(2, b"before")])
@pytest.mark.parametrize(
    "payload",
    [b"ok\xc0\xafok", b"ok\xe2\x82", b"\xed\xa0\x80", b"a" * 70_000 + b"\xf4\x90\x80\x80"],
)
def test_invalid_utf8_in_a_single_frame_message(reader_class, prefix, payload):
    stream = prefix + frame(1, payload)
    want = expected(reader_class, stream)
    assert want[-1][0] is InvalidUTF8
    assert read_all(reader_class, stream) == want
    reader = reader_class(mask=True)
    for chunk in irregular_chunks(stream, len(payload), 7):
        write(reader, chunk)
    got = []
    with pytest.raises(InvalidUTF8) as caught:
        while True:
            got += [normalise(item) for item in reader.read_messages()]
    assert [*got, describe(caught.value)] == want


def test_invalid_utf8_across_fragments_fails_where_read_frame_does(reader_class):
    stream = frame(1, b"\xe2\x82", fin=False) + frame(9, b"") + frame(0, b"\xac\xed\xa0\x80")
    chunks = cut(stream, range(len(stream)))
    got = messages_of(reader_class(mask=True), chunks)
    assert got == reference(reader_class(mask=True), chunks)
    assert got[-1] == [(InvalidUTF8, "'utf-8' codec can't decode byte 0xa0 in position 4: "
                        "invalid continuation byte", 4)]


@pytest.mark.parametrize(
    ("stream", "options", "error"),
    [
        (frame(2, b"x" * 11), {"max_size": 10}, PayloadTooBig),
        (frame(1, b"x" * 70_000), {"max_size": 65536}, PayloadTooBig),
        (frame(2, b"x" * 6, fin=False) + frame(0, b"x" * 6), {"max_size": 10}, PayloadTooBig),
        (frame(2, b"x" * 6), {"max_size": (None, 5)}, PayloadTooBig),
        (frame(2, b"x" * 5) + frame(2, b"x" * 6), {"max_size": (None, 5)}, PayloadTooBig),
        (frame(2, b"", fin=False) + frame(0, b"", fin=False) * 3, {"max_fragments": 3},
         TooManyFragments),
        (frame(1, b"a") + frame(1, b"b", fin=False) + frame(9, b"") + frame(0, b"", fin=False),
         {"max_fragments": 1}, TooManyFragments),
        (frame(9, b"x", fin=False), {}, ProtocolError),
        (frame(0, b"x"), {}, ProtocolError),
        (frame(1, b"x", fin=False) + frame(2, b"y"), {}, ProtocolError),
        (b"\x82\xff\x80" + bytes(7) + KEY, {}, ProtocolError),
    ],
)
@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_errors_like_read_frame(reader_class, stream, options, error, byte_by_byte):
    splits = range(len(stream)) if byte_by_byte and len(stream) < 1000 else ()
    chunks = cut(stream, splits)
    want = reference(reader_class(mask=True, **options), chunks)
    assert flat(want)[-1][0] is error
    assert messages_of(reader_class(mask=True, **options), chunks) == want


@pytest.mark.parametrize("cut_at", [1, 2, 5, 9, 12])
def test_eof_inside_a_frame(reader_class, cut_at):
    reader = reader_class(mask=True)
    write(reader, frame(2, b"ok") + frame(1, b"payload")[:cut_at])
    assert reader.read_messages() == [b"ok"]
    reader.feed_eof()
    for _ in range(2):
        with pytest.raises(EOFError):
            reader.read_messages()


def test_eof_between_frames_is_quiet(reader_class):
    reader = reader_class(mask=True)
    write(reader, frame(2, b"x"))
    reader.feed_eof()
    assert reader.read_messages() == [b"x"]
    assert reader.read_messages() == []


@pytest.mark.parametrize("length", [2**31, 2**40, 2**63 - 1])
def test_huge_announced_length_without_limit(reader_class, length):
    """Nothing is allocated for the payload announced, only for the bytes that arrive."""
    header = b"\x82\xff" + length.to_bytes(8, "big") + KEY
    reader = reader_class(mask=True, max_size=None)
    write(reader, frame(2, b"ok") + header + b"abc")
    assert reader.read_messages() == [b"ok"]
    for _ in range(3):
        write(reader, b"x" * 1000, hint=-1)
        assert reader.read_messages() == []
    reader.feed_eof()
    with pytest.raises(EOFError):
        reader.read_messages()


# 5. The get_buffer() contract --------------------------------------------------------------------


@pytest.mark.parametrize("hint", [-1, 0, 1, 2, 100, 65536, 2**24])
def test_get_buffer_is_a_writable_contiguous_buffer(reader_class, hint):
    reader = reader_class(mask=True)
    for round_ in range(3):
        buf = reader.get_buffer(hint)
        with memoryview(buf) as view:
            assert not view.readonly
            assert view.c_contiguous
            assert view.nbytes > 0
            # asyncio's transports check len(buf) and pass buf to recv_into().
            assert len(buf) == view.nbytes
        data = frame(2, bytes([round_]) * 3)
        with memoryview(buf) as raw, raw.cast("B") as view:
            count = min(len(view), len(data))
            view[:count] = data[:count]
        reader.buffer_updated(count)
        del buf
        write(reader, data[count:], hint)
        assert reader.read_messages() == [bytes([round_]) * 3]


def test_get_buffer_in_the_middle_of_a_frame(reader_class):
    stream = frame(2, b"0123456789" * 50)
    reader = reader_class(mask=True)
    write(reader, stream[:100])
    assert reader.read_messages() == []
    with memoryview(reader.get_buffer(-1)) as view:
        assert not view.readonly
        assert view.nbytes > 0
    write(reader, stream[100:])
    assert reader.read_messages() == [b"0123456789" * 50]


def test_mixing_feed_data_and_get_buffer(reader_class):
    stream = (frame(1, "mixé".encode()) + frame(2, b"x" * 70_000) + frame(9, b"p")
              + frame(2, b"y", fin=False) + frame(0, b"z"))
    for seed in range(20):
        rng = random.Random(seed)
        reader = reader_class(mask=True)
        position = 0
        while position < len(stream):
            size = rng.choice([1, 2, 3, 7, 100, 5000, 40_000])
            chunk = stream[position : position + size]
            position += size
            if rng.random() < 0.5:
                reader.feed_data(chunk)
            else:
                write(reader, chunk, hint=rng.choice([-1, 1, 4096]), scribble=rng.random() < 0.5)
        assert [normalise(item) for item in reader.read_messages()] == [
            ("msg", "mixé"),
            ("msg", b"x" * 70_000),
            (9, b"p", True, False),
            (2, b"y", False, False),
            (0, b"z", True, False),
        ]


def test_abandoned_buffer_is_not_data(reader_class):
    reader = reader_class(mask=True)
    stream = frame(2, b"a" * 1000)
    write(reader, stream[:500])
    abandon_buffer(reader)
    abandon_buffer(reader, 1)
    write(reader, stream[500:])
    abandon_buffer(reader)
    assert reader.read_messages() == [b"a" * 1000]
    assert reader.read_messages() == []


STALE_BUFFER_SCRIPT = """
import sys
import wsfast._speedups_py as python_codec
codec = __import__(sys.argv[1], fromlist=["FrameReader"])
def frame(opcode, data):
    return python_codec.serialize_frame(opcode, data, True, False, False, False, b"1234")
reader = codec.FrameReader(mask=True)
if sys.argv[2] == "read":  # read_messages() drains what was buffered
    reader.feed_data(frame(2, b"first"))
    buf = reader.get_buffer(-1)
    before = reader.read_messages()
    first = b"first"
else:  # feed_data() completes a large payload, which "direct" lets get_buffer() expose
    first = b"A" * 100_000
    big = frame(2, first)
    reader.feed_data(big[:50_000])
    if sys.argv[2] == "direct":
        assert reader.read_messages() == []
    buf = reader.get_buffer(-1)
    reader.feed_data(big[50_000:])
    before = reader.read_messages()
data = frame(2, b"second")
try:
    with memoryview(buf) as view:
        view[: len(data)] = data
    reader.buffer_updated(len(data))
    after = reader.read_messages()
except Exception as exc:
    after = type(exc).__name__
print(before == [first], after)
"""


@pytest.mark.parametrize("between", ["read", "feed", "direct"])
def test_calls_between_get_buffer_and_buffer_updated(reader_class, between):
    """read_messages() or feed_data() after get_buffer() and before the bytes are written.

    The bytes then written must come out next, or the write must fail with an exception:
    never a crash, never a change to bytes already returned. In a subprocess: a reader
    writing through a stale pointer could take the test run down with it.
    """
    completed = subprocess.run(
        [sys.executable, "-c", STALE_BUFFER_SCRIPT, reader_class.__module__, between],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    kept, after = completed.stdout.split(" ", 1)
    assert kept == "True"
    assert after.strip() == "[b'second']" or after.strip().endswith("Error")


def test_recv_into_from_a_socket(reader_class):
    messages = [b"x" * 300_000, "é" * 10_000, b"", b"end"]
    stream = b"".join(
        frame(2 if isinstance(message, bytes) else 1,
              message if isinstance(message, bytes) else message.encode())
        for message in messages
    )
    left, right = socket.socketpair()
    sender = threading.Thread(target=lambda: (left.sendall(stream), left.close()))
    sender.start()
    reader = reader_class(mask=True, max_size=None)
    received = []
    with right:
        while True:
            buf = reader.get_buffer(-1)
            count = right.recv_into(buf)
            if not count:
                reader.feed_eof()
                break
            reader.buffer_updated(count)
            received += reader.read_messages()
    sender.join()
    received += reader.read_messages()
    assert received == messages


def test_asyncio_buffered_protocol(reader_class):
    messages = [b"x" * 200_000, "hello", b"z"]
    stream = b"".join(frame(2, m) if isinstance(m, bytes) else frame(1, m.encode())
                      for m in messages)

    class Protocol(asyncio.BufferedProtocol):
        def __init__(self):
            self.reader = reader_class(mask=True, max_size=None)
            self.received = []
            self.done = asyncio.get_running_loop().create_future()

        def get_buffer(self, sizehint):
            return self.reader.get_buffer(sizehint)

        def buffer_updated(self, nbytes):
            self.reader.buffer_updated(nbytes)
            self.received += self.reader.read_messages()

        def eof_received(self):
            self.reader.feed_eof()
            self.received += self.reader.read_messages()
            self.done.set_result(None)

    async def main():
        left, right = socket.socketpair()
        protocol = Protocol()
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
            lambda: protocol, right
        )
        await asyncio.to_thread(lambda: (left.sendall(stream), left.shutdown(socket.SHUT_WR)))
        await asyncio.wait_for(protocol.done, 10)
        transport.close()
        left.close()
        return protocol.received

    assert asyncio.run(main()) == messages


# 6. Random streams: read_frame() reference, and both implementations in lockstep ----------------


# Now and then a payload above 32 KiB, which the Cython reader receives straight into the
# bytes object it returns.
repeats = st.one_of(st.integers(1, 100), st.integers(1, 100), st.integers(1, 3000))


@st.composite
def payloads(draw, text):
    if text:
        return (draw(st.text(max_size=40)) * draw(repeats)).encode()
    size = draw(st.one_of(st.integers(0, 200), st.integers(0, 5000), st.just(126),
                          st.integers(32 * 1024, 80_000)))
    return random.Random(draw(st.integers(0, 2**16))).randbytes(size)


@st.composite
def messages(draw):
    """Frames ``(opcode, payload, fin)`` of valid messages, control frames between them."""
    frames = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "text", "binary", "ping", "pong",
                                     "close"]))
        if kind in ("ping", "pong", "close"):
            opcode = {"ping": 9, "pong": 10, "close": 8}[kind]
            frames.append((opcode, draw(st.binary(max_size=125)), True))
            continue
        payload = draw(payloads(kind == "text"))
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[start:end] for start, end in itertools.pairwise([0, *cuts, len(payload)])]
        for index, piece in enumerate(pieces):
            opcode = 0 if index else (1 if kind == "text" else 2)
            frames.append((opcode, piece, index == len(pieces) - 1))
            if index < len(pieces) - 1 and draw(st.booleans()):
                frames.append((draw(st.sampled_from([9, 10])), draw(st.binary(max_size=8)), True))
    return frames


def serialize(draw, frames, server_side, rsv1s=None):
    keys = st.binary(min_size=4, max_size=4) if server_side else st.none()
    rsv1s = rsv1s or [False] * len(frames)
    return b"".join(
        frame(opcode, payload, fin, rsv1, draw(keys))
        for (opcode, payload, fin), rsv1 in zip(frames, rsv1s, strict=True)
    )


modes_strategy = st.one_of(
    st.just("feed"),
    st.tuples(st.sampled_from([-1, 0, 1, 3, 100, 4096, 2**20]), st.booleans(),
              st.booleans()),
)


@st.composite
def chunking(draw, stream):
    splits = draw(st.lists(st.integers(0, len(stream)), max_size=15))
    if draw(st.booleans()):
        # Many small cuts somewhere: inside headers, masking keys and payloads.
        start = draw(st.integers(0, len(stream)))
        splits += range(start, min(start + 24, len(stream)))
    chunks = cut(stream, splits)
    return chunks, draw(st.lists(modes_strategy, min_size=len(chunks), max_size=len(chunks)))


limits = st.fixed_dictionaries({
    "max_size": st.one_of(st.none(), st.just(2**20), st.integers(0, 6000),
                          st.tuples(st.none() | st.integers(0, 6000),
                                    st.none() | st.integers(0, 6000))),
    "max_fragments": st.none() | st.integers(1, 4),
})


@st.composite
def valid_streams(draw):
    server_side = draw(st.booleans())
    stream = serialize(draw, draw(messages()), server_side)
    return stream, server_side


def sent_items(frames):
    """What read_messages() returns for valid frames ``(opcode, payload, fin)``, sent as is."""
    items = []
    for opcode, payload, fin in frames:
        if opcode == 1 and fin:
            items.append(("msg", payload.decode()))
        elif opcode == 2 and fin:
            items.append(("msg", payload))
        else:
            items.append((opcode, payload, fin, False))
        if opcode == 8:
            break
    return items


def check_against_reference(codecs, stream, chunks, modes, options, extensions=None):
    """read_messages() of each implementation (``codecs``: the conftest fixture) equals the
    read_frame() reference; returns it."""
    outcomes = []
    for codec in codecs:
        def make(codec=codec):
            extra = {"extensions": [extensions()]} if extensions else {}
            return codec.FrameReader(**options, **extra)

        got = messages_of(make(), chunks, modes)
        assert got == reference(make(), chunks)
        outcomes.append(got)
    assert all(outcome == outcomes[0] for outcome in outcomes)
    return outcomes[0]


@given(data=st.data(), stream=valid_streams(), options=limits)
def test_random_streams_match_read_frame(codecs, data, stream, options):
    stream, server_side = stream
    chunks, modes = data.draw(chunking(stream))
    check_against_reference(codecs, stream, chunks, modes, {"mask": server_side, **options})


@given(data=st.data(), frames=messages(), server_side=st.booleans())
def test_random_streams_without_limits_give_back_the_frames_sent(
    codecs, data, frames, server_side
):
    stream = serialize(data.draw, frames, server_side)
    chunks, modes = data.draw(chunking(stream))
    results = check_against_reference(codecs, stream, chunks, modes,
                                      {"mask": server_side, "max_size": None})
    assert flat(results) == sent_items(frames)


@given(
    data=st.data(),
    stream=valid_streams(),
    flips=st.lists(st.tuples(st.integers(0, 2**20), st.integers(1, 255)), min_size=1,
                   max_size=3),
    truncate=st.none() | st.integers(0, 2**20),
    options=limits,
)
def test_corrupted_streams(codecs, data, stream, flips, truncate, options):
    stream, server_side = stream
    if not stream:
        stream = frame(1, b"hello", mask=KEY if server_side else None)
    corrupted = bytearray(stream)
    for position, bits in flips:
        corrupted[position % len(corrupted)] ^= bits
    if truncate is not None:
        del corrupted[truncate % len(corrupted) :]
    stream = bytes(corrupted)
    chunks, modes = data.draw(chunking(stream))
    check_against_reference(codecs, stream, chunks, modes, {"mask": server_side, **options})


# 7. permessage-deflate -------------------------------------------------------------------------


def deflate():
    # Either half of one negotiated connection (RFC 7692 §7.1).
    return PerMessageDeflate(False, False, 15, 15)


def compressed(frames, sender=None, compress=None):
    """Frames ``(opcode, payload, fin)`` as the sender sends them: ``(..., rsv1)``."""
    sender = sender or deflate()
    out = []
    compressing = True
    for index, (opcode, payload, fin) in enumerate(frames):
        if opcode in (1, 2):
            compressing = compress[index] if compress else True
        if opcode in (8, 9, 10) or not compressing:
            out.append((opcode, payload, fin, False))
            continue
        sent = sender.encode(Frame(Opcode(opcode), payload, fin=fin))
        out.append((int(sent.opcode), sent.data, sent.fin, sent.rsv1))
    return out


@pytest.mark.parametrize("server_side", [True, False])
def test_compressed_messages(reader_class, server_side):
    key = KEY if server_side else None
    sent = compressed([
        (1, ("héllo " * 1000).encode(), True),
        (2, b"\x00\x01" * 40_000, True),
        (1, b"", True),
        (2, b"", True),
        (1, "café".encode(), True),
        (1, b"frag", False),
        (9, b"ping", True),
        (0, b"ment", True),
        (1, ("héllo " * 1000).encode(), True),  # from the window the first one left
    ])
    assert sent[0][3]
    stream = b"".join(frame(o, p, f, r, key) for o, p, f, r in sent)
    want = [
        ("msg", "héllo " * 1000),
        ("msg", b"\x00\x01" * 40_000),
        ("msg", ""),
        ("msg", b""),
        ("msg", "café"),
        (1, b"frag", False, False),
        (9, b"ping", True, False),
        (0, b"ment", True, False),
        ("msg", "héllo " * 1000),
    ]
    for splits in [(), range(0, len(stream), 7)]:
        chunks = cut(stream, splits)
        modes = [(-1, True, False)] * len(chunks)
        got = messages_of(reader_class(mask=server_side, extensions=[deflate()]), chunks, modes)
        assert flat(got) == want
        assert got == reference(reader_class(mask=server_side, extensions=[deflate()]), chunks)


def compressed_bytes(frames):
    return b"".join(frame(*sent) for sent in compressed(frames))


@pytest.mark.parametrize(
    ("frames", "max_size"),
    [
        ([(2, bytes(2**22), True)], 10_000),
        ([(1, b"a" * 2**20, True)], 2**20 - 1),
        ([(2, b"ok", True), (1, b"a" * 100_001, True)], 100_000),
        ([(2, bytes(50_000), False), (0, bytes(50_001), True)], 100_000),
    ],
)
def test_decompression_bomb(reader_class, frames, max_size):
    stream = compressed_bytes(frames)
    assert len(stream) < max_size
    options = {"mask": True, "max_size": max_size}
    want = reference(reader_class(**options, extensions=[deflate()]), [stream, EOF])
    assert flat(want)[-1][0] is PayloadTooBig
    got = messages_of(reader_class(**options, extensions=[deflate()]), [stream, EOF])
    assert got == want


def test_corrupt_compressed_data(reader_class):
    stream = frame(2, b"ok") + frame(2, b"\xff\xff\xff\xff", rsv1=True)
    got = read_all(reader_class, stream, extensions=[deflate()])
    assert got[0] == ("msg", b"ok")
    assert got[1][:2] == (ProtocolError, "decompression failed")
    assert got == expected(reader_class, stream, extensions=[deflate()])


@given(
    data=st.data(),
    frames=messages(),
    server_side=st.booleans(),
    max_size=st.none() | st.integers(0, 6000),
)
def test_random_compressed_streams_match_read_frame(codecs, data, frames, server_side, max_size):
    compress = data.draw(st.lists(st.booleans(), min_size=len(frames), max_size=len(frames)))
    sent = compressed(frames, compress=compress)
    stream = serialize(data.draw, [(o, p, f) for o, p, f, _ in sent], server_side,
                       [r for *_, r in sent])
    chunks, modes = data.draw(chunking(stream))
    results = check_against_reference(
        codecs, stream, chunks, modes, {"mask": server_side, "max_size": max_size},
        extensions=deflate,
    )
    if max_size is None:
        # Nothing to reject: the messages and frames sent come back inflated.
        assert flat(results) == sent_items(frames)


def test_feed_messages_is_feed_data_then_read_messages(reader_class):
    stream = (frame(1, "é".encode() * 3) + frame(2, b"bin") + frame(9, b"p")
              + frame(1, b"a", fin=False) + frame(0, b"b") + frame(1, b"\xff"))
    one_call, two_calls = reader_class(mask=True), reader_class(mask=True)
    got_one, got_two = [], []
    for cut in range(0, len(stream), 5):
        chunk = stream[cut : cut + 5]
        two_calls.feed_data(chunk)
        try:
            got_one += one_call.feed_messages(bytearray(chunk))
        except Exception as exc:  # noqa: BLE001 - the exception is part of what is compared
            got_one.append((type(exc), str(exc)))
            break
    while True:
        try:
            items = two_calls.read_messages()
        except Exception as exc:  # noqa: BLE001
            got_two.append((type(exc), str(exc)))
            break
        if not items:
            break
        got_two += items
    assert got_one[:3] == ["ééé", b"bin", got_two[2]]
    assert [repr(item) for item in got_one] == [repr(item) for item in got_two]
    assert got_one[-1][0] is InvalidUTF8
