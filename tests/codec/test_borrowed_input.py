"""FrameReader parses a ``bytes`` object fed while it is drained where it is, without copying it.

What is left of such an object when more bytes arrive, or when a byte must be written (masked
text is unmasked in place), is copied into the reader's own buffer first. These tests pin what
a caller can observe of that: the object fed is never written to, every frame comes out the
same as from a copy, and the reader lets go of the object once it has consumed it. Both
implementations run them (the ``reader_class`` fixture); the twin copies everything, and must
give the same results.
"""

from __future__ import annotations

import gc
import random
import sys

import pytest
from wire import raw_frame

from wsfast.frames import Opcode

KEY = b"\x37\xfa\x21\x3d"
# The Cython reader unmasks text of up to 1 KiB from a borrowed object on the stack, and
# larger text after copying the rest of the object: sizes either side of that.
TEXT_SIZES = [0, 1, 125, 1023, 1024, 1025, 5000, 40_000]


def frame(opcode, payload, fin=True, mask=KEY):
    return raw_frame(opcode, payload, fin=fin, mask=mask)


def text_of(size, seed):
    """Text whose UTF-8 encoding is exactly ``size`` bytes, multi-byte characters included, so
    that a wrong unmask shows up as invalid UTF-8 or as different text."""
    rng = random.Random(seed)
    characters, used = [], 0
    while used < size:
        character = rng.choice("aé€😀z")
        width = len(character.encode())
        if used + width > size:
            character, width = "a", 1
        characters.append(character)
        used += width
    return "".join(characters)


@pytest.mark.parametrize("size", TEXT_SIZES)
def test_masked_text_leaves_the_fed_object_unchanged(reader_class, size):
    message = text_of(size, size)
    stream = frame(1, message.encode()) + frame(2, b"after") + frame(1, message.encode())
    snapshot = bytes(bytearray(stream))
    reader = reader_class(mask=True, max_size=None)
    assert reader.feed_messages(stream) == [message, b"after", message]
    assert stream == snapshot


@pytest.mark.parametrize("size", TEXT_SIZES)
def test_masked_text_through_read_frame_leaves_the_fed_object_unchanged(reader_class, size):
    payload = text_of(size, size).encode()
    stream = frame(1, payload) + frame(1, payload, fin=False) + frame(0, payload)
    snapshot = bytes(bytearray(stream))
    reader = reader_class(mask=True, max_size=None)
    reader.feed_data(stream)
    frames = [reader.read_frame() for _ in range(3)]
    assert [(f.opcode, f.data, f.fin) for f in frames] == [
        (Opcode.TEXT, payload, True),
        (Opcode.TEXT, payload, False),
        (Opcode.CONT, payload, True),
    ]
    assert reader.read_frame() is None
    assert stream == snapshot


@pytest.mark.parametrize("cut", [1, 2, 5, 6, 7, 20, 1030])
def test_a_partial_frame_left_in_a_fed_object_completes_with_later_bytes(reader_class, cut):
    first = text_of(1024, 1).encode()
    second = text_of(2000, 2).encode()
    stream = frame(1, first) + frame(1, second) + frame(2, b"x" * 300)
    head = stream[: len(frame(1, first)) + cut]
    snapshot = bytes(bytearray(head))
    reader = reader_class(mask=True, max_size=None)
    assert reader.feed_messages(head) == [first.decode()]
    assert head == snapshot
    assert reader.feed_messages(stream[len(head) :]) == [second.decode(), b"x" * 300]


def test_get_buffer_after_a_partial_frame_in_a_fed_object(reader_class):
    stream = frame(2, b"a" * 100) + frame(2, b"b" * 200)
    reader = reader_class(mask=True, max_size=None)
    assert reader.feed_messages(stream[:150]) == [b"a" * 100]
    rest = stream[150:]
    buffer = memoryview(reader.get_buffer())
    buffer[: len(rest)] = rest
    del buffer
    reader.buffer_updated(len(rest))
    assert reader.read_messages() == [b"b" * 200]


def test_a_large_payload_started_in_a_fed_object(reader_class):
    # 40 KB is received straight into its payload object (above DIRECT_MIN): what arrived
    # with the header is taken from the fed object, the rest from later feeds.
    payload = random.Random(7).randbytes(40_000)
    stream = frame(2, payload) + frame(1, b"tail")
    reader = reader_class(mask=True, max_size=None)
    assert reader.feed_messages(stream[:10_000]) == []
    assert reader.feed_messages(stream[10_000:30_000]) == []
    assert reader.feed_messages(stream[30_000:]) == [payload, "tail"]


@pytest.mark.skipif(not hasattr(sys, "getrefcount"), reason="needs reference counts")
def test_the_reader_lets_go_of_a_consumed_object(reader_class):
    stream = frame(2, b"x" * 50) + frame(1, b"y" * 50)
    reader = reader_class(mask=True, max_size=None)
    gc.collect()
    before = sys.getrefcount(stream)
    reader.feed_data(stream)
    assert reader.read_frame().data == b"x" * 50
    # A frame is left: the reader may still hold the object.
    assert reader.read_frame().data == b"y" * 50
    assert reader.read_frame() is None
    assert sys.getrefcount(stream) == before


@pytest.mark.skipif(not hasattr(sys, "getrefcount"), reason="needs reference counts")
def test_the_reader_lets_go_of_an_object_once_later_bytes_arrive(reader_class):
    stream = frame(2, b"x" * 50) + frame(2, b"y" * 50)
    head, tail = stream[:70], stream[70:]
    reader = reader_class(mask=True, max_size=None)
    before = sys.getrefcount(head)
    assert reader.feed_messages(head) == [b"x" * 50]
    assert reader.feed_messages(tail) == [b"y" * 50]
    assert sys.getrefcount(head) == before


def test_random_splits_of_bytes_match_one_copy(reader_class):
    # Frames of every kind fed in random bytes pieces, against the same stream fed at once as
    # a bytearray (always copied).
    rng = random.Random(6455)
    stream = b""
    for index in range(300):
        kind = rng.choice([1, 2, 9, 10])
        size = rng.choice([0, 3, 125]) if kind >= 8 else rng.choice([0, 10, 500, 1024, 1500, 5000])
        data = text_of(size, index).encode() if kind == 1 else rng.randbytes(size)
        stream += frame(kind, data)
    whole = reader_class(mask=True, max_size=None)
    expected = whole.feed_messages(bytearray(stream))
    pieces = reader_class(mask=True, max_size=None)
    got = []
    position = 0
    while position < len(stream):
        step = rng.choice([1, 7, 100, 2000, 9000])
        got += pieces.feed_messages(stream[position : position + step])
        position += step
    assert got == expected
    assert len(got) == 300
