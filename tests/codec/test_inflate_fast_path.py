"""The extension's shortcuts on the receive path, held to the pure twin's results.

* A compressed message in one frame is inflated by the reader itself rather than through
  ``PerMessageDeflate.decompress()`` (RFC 7692 §6.2): with and without context takeover, with
  small windows, from the buffer or from a payload received straight into its object
  (>= 32 KiB), after a sender's final block (§7.2.3.4), and from corrupt data.
* Frames are built straight into ``Frame``'s slots: they must still be ordinary ``Frame``
  dataclass instances.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire import raw_frame

from wsfast.exceptions import ProtocolError
from wsfast.extensions.permessage_deflate import PerMessageDeflate
from wsfast.frames import Frame, Opcode

KEY = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, rsv1=False):
    return raw_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=KEY)


def compressed_message(compressor, payload, *, final_block=False):
    """One message in one frame, as a sender would write it (RFC 7692 §7.2.1)."""
    if final_block:
        data = compressor.compress(payload) + compressor.flush(zlib.Z_FINISH)
    else:
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        data = data[:-4]
    return data


def read_all(reader_class, stream, splits, mode, **options):
    """Everything the reader returns for ``stream`` cut at ``splits``, then its error."""
    reader = reader_class(**options)
    results = []
    cuts = [0, *sorted(set(cut for cut in splits if cut < len(stream))), len(stream)]
    try:
        for start, end in zip(cuts, cuts[1:]):
            reader.feed_data(stream[start:end])
            if mode == "read_frame":
                while (received := reader.read_frame()) is not None:
                    results.append((int(received.opcode), bytes(received.data), received.fin,
                                    received.rsv1, received.rsv2, received.rsv3))
            else:
                results.extend(_message_items(reader.read_messages()))
        if mode == "read_messages":
            # An error comes once the items before it have been returned: one more call.
            results.extend(_message_items(reader.read_messages()))
    except Exception as exc:  # noqa: BLE001 - the exception is the result compared
        cause = exc.__cause__
        results.append((type(exc), str(exc), type(cause) if cause is not None else None))
    return results


def _message_items(items):
    return [
        (int(item.opcode), bytes(item.data), item.fin, item.rsv1)
        if isinstance(item, Frame) else item
        for item in items
    ]


message_strategy = st.tuples(
    st.sampled_from([1, 2]),
    st.one_of(
        st.text(max_size=300).map(str.encode),
        st.binary(max_size=300),
        st.sampled_from([b"a" * 40_000, ("\u00e9t\u00e9 " * 9000).encode(), b"\xff\xfe" * 10]),
    ),
    st.booleans(),  # ends with a final DEFLATE block
)


@settings(max_examples=120, deadline=None)
@given(
    messages=st.lists(message_strategy, min_size=1, max_size=5),
    splits=st.lists(st.integers(min_value=0, max_value=50_000), max_size=8),
    no_context_takeover=st.booleans(),
    window_bits=st.sampled_from([9, 12, 15]),
    max_size=st.none() | st.integers(0, 60_000),
    mode=st.sampled_from(["read_frame", "read_messages"]),
)
def test_implementations_agree_on_single_frame_compressed_messages(
    codec_pair, messages, splits, no_context_takeover, window_bits, max_size, mode
):
    compressor = zlib.compressobj(wbits=-window_bits)
    stream = b""
    for opcode, payload, final_block in messages:
        if no_context_takeover or final_block:
            compressor = zlib.compressobj(wbits=-window_bits)
        stream += frame(opcode, compressed_message(compressor, payload, final_block=final_block),
                        rsv1=True)
        if final_block:
            compressor = zlib.compressobj(wbits=-window_bits)

    def extension():
        return PerMessageDeflate(no_context_takeover, False, window_bits, 15)

    results = [
        read_all(codec.FrameReader, stream, splits, mode, mask=True, max_size=max_size,
                 extensions=[extension()])
        for codec in codec_pair
    ]
    assert results[0] == results[1]


@pytest.mark.parametrize("mode", ["read_frame", "read_messages"])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_messages_come_out_inflated(codec, mode, no_context_takeover):
    payloads = [b"hello " * 10, b"hello " * 10, b"x" * 70_000, b""]
    compressor = zlib.compressobj(wbits=-15)
    stream = b""
    for payload in payloads:
        if no_context_takeover:
            compressor = zlib.compressobj(wbits=-15)
        stream += frame(2, compressed_message(compressor, payload), rsv1=True)
    extension = PerMessageDeflate(no_context_takeover, False, 15, 15)
    results = read_all(codec.FrameReader, stream, [5, 40, 1000], mode, mask=True,
                       max_size=None, extensions=[extension])
    if mode == "read_frame":
        assert results == [(2, payload, True, False, False, False) for payload in payloads]
    else:
        assert results == payloads
    # RFC 7692 §7.1.1: without context takeover no decoder outlives its message.
    assert (extension.decoder is None) == no_context_takeover


@pytest.mark.parametrize("mode", ["read_frame", "read_messages"])
def test_back_reference_across_messages_without_context_takeover_fails(codec, mode):
    # The sender kept its context although the receiver's side was negotiated without: the
    # second message refers to the first one's window, which the receiver dropped.
    compressor = zlib.compressobj(wbits=-15)
    payload = b"a reasonably long sentence that repeats " * 4
    stream = b"".join(frame(2, compressed_message(compressor, payload), rsv1=True)
                      for _ in range(2))
    extension = PerMessageDeflate(True, False, 15, 15)
    results = read_all(codec.FrameReader, stream, [], mode, mask=True, max_size=None,
                       extensions=[extension])
    first = (2, payload, True, False, False, False) if mode == "read_frame" else payload
    assert results[0] == first
    assert results[1][:2] == (ProtocolError, "decompression failed")
    assert results[1][2] is extension.backend.error  # the engine's: zlib.error with zlib


def test_frames_are_built_into_slots(cython_codec):
    # The extension's own way of building frames: no twin to run this on.
    cython_codec.FrameReader(mask=False)
    assert cython_codec._frame_build == "slots"


def test_read_frames_are_ordinary_frames(codec):
    reader = codec.FrameReader(mask=True)
    reader.feed_data(frame(1, b"caf\xc3\xa9", fin=False) + frame(9, b"ping"))
    first, ping = reader.read_frame(), reader.read_frame()
    assert type(first) is Frame and type(ping) is Frame
    assert first == Frame(Opcode.TEXT, b"caf\xc3\xa9", fin=False)
    assert ping == Frame(Opcode.PING, b"ping")
    assert [field.name for field in dataclasses.fields(first)] == [
        "opcode", "data", "fin", "rsv1", "rsv2", "rsv3"]
    assert dataclasses.replace(first, fin=True) == Frame(Opcode.TEXT, b"caf\xc3\xa9")
    assert copy.copy(ping) == ping
    assert pickle.loads(pickle.dumps(first)) == first
    assert str(ping) == "PING 'ping' [text, 4 bytes]"
    first.data = b"changed"  # websockets' frames are mutable too
    assert first.data == b"changed"
