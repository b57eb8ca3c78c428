"""permessage-deflate (RFC 7692) of whole messages: wsfast vs peers, larger than 1 KiB.

* ``compress <size> text``: a client turns one text message into one masked, compressed frame,
  with context takeover (one compressor for the whole connection), cycling through distinct
  messages.
* ``decompress <size> text``: a server parses and inflates one such frame, compressed without
  context takeover, so that any frame can follow any other.

The messages are chat-like multilingual text (bench/conftest.py), 4 distinct ones per size,
seeded. The 1 KiB JSON case is in test_frame_bench.py (``deflate``/``inflate 1 KiB JSON``).

Each library compresses with its own settings, as it would on a connection; the compressed
size is recorded in ``extra_info["compressed_bytes"]``:

* zlib-raw, wsfast, websockets: zlib's default level (6), memLevel 5, 32 KiB window.
* wsproto: level 6, memLevel 8 (zlib's defaults).
* aiohttp: level 1 (``Z_BEST_SPEED``), its fixed choice for WebSocket compression. aiohttp
  sends a message over 16 KiB to a thread (``run_in_executor``) for compression; here its
  synchronous path is called for every size, which is the same work without the thread hop.

Every implementation is checked before it is timed: its frames must inflate back to the
messages, and its inflater must return every message.
"""

from __future__ import annotations

import itertools
import zlib

import pytest

import _peers
from test_frame_bench import (
    COMPRESS_SETTINGS,
    DEFLATE_TAIL,
    OP_TEXT,
    WINDOW_BITS,
    _codec,
    _websockets,
    raw_deflate,
    reference_frame,
    reference_parse,
)

SIZES = [
    pytest.param(16 * 1024, "16 KiB", id="16KiB"),
    pytest.param(256 * 1024, "256 KiB", id="256KiB"),
]
MESSAGES = 4  # distinct messages per size, cycled


@pytest.fixture(scope="module")
def messages_of(utf8_text):
    def make(size: int) -> list[bytes]:
        return [utf8_text("mixed", size, seed) for seed in range(6455, 6455 + MESSAGES)]

    return make


def _check_compressor(deflate, messages, framed=True):
    """A fresh compressor's frames, in order, inflate back to the messages; returns a size."""
    decompressor = zlib.decompressobj(wbits=-WINDOW_BITS)
    sizes = []
    for message in messages:
        data = deflate(message)
        if framed:
            first, data = reference_parse(data)
            assert first == 0xC0 | OP_TEXT, hex(first)  # FIN, RSV1, text
        sizes.append(len(data))
        assert decompressor.decompress(data + DEFLATE_TAIL) == message
    return sum(sizes) // len(sizes)


# --- compress: factory() -> deflate(message) -> frame bytes ----------------------------------


def zlib_raw_compress():
    compressor = zlib.compressobj(wbits=-WINDOW_BITS, **COMPRESS_SETTINGS)
    compress, flush, sync_flush = compressor.compress, compressor.flush, zlib.Z_SYNC_FLUSH

    def deflate(message):
        return (compress(message) + flush(sync_flush))[:-4]

    return deflate


def _wsfast_writer(name, backend=None):
    def factory():
        from wsfast.extensions.permessage_deflate import PerMessageDeflate

        options = {} if backend is None else {"backend": backend}
        try:
            extension = PerMessageDeflate(
                False, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS, **options
            )
        except ImportError as exc:  # BackendUnavailable
            pytest.skip(str(exc))
        frame = _codec(name).FrameWriter(mask=True, extensions=[extension]).frame

        def deflate(message):
            return frame(OP_TEXT, message)

        return deflate

    return factory


def websockets_compress():
    frames = _websockets("frames")
    pmd = _websockets("extensions.permessage_deflate")
    extensions = [pmd.PerMessageDeflate(False, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)]
    frame_class, text = frames.Frame, frames.Opcode.TEXT

    def deflate(message):
        return frame_class(text, message).serialize(mask=True, extensions=extensions)

    return deflate


def wsproto_compress():
    frame_protocol = pytest.importorskip("wsproto.frame_protocol", reason="wsproto is not installed")
    extensions = pytest.importorskip("wsproto.extensions", reason="wsproto is not installed")
    extension = extensions.PerMessageDeflate()
    extension.finalize("permessage-deflate")  # as after a handshake that accepted the offer
    protocol = frame_protocol.FrameProtocol(client=True, extensions=[extension])
    send_data = protocol.send_data

    def deflate(message):
        return send_data(message.decode(), fin=True)  # wsproto sends str as text

    return deflate


def aiohttp_compress():
    writer, fake = _peers.aiohttp_writer(compress=WINDOW_BITS)
    send, last = writer._send_compressed_frame_sync, fake.out

    def deflate(message):
        send(message, OP_TEXT, None)
        return last[-1]

    return deflate


COMPRESSORS = [
    pytest.param(zlib_raw_compress, False, id="zlib-raw"),
    pytest.param(_wsfast_writer("cython"), True, id="wsfast-cython-writer"),
    pytest.param(_wsfast_writer("python"), True, id="wsfast-python-writer"),
    pytest.param(_wsfast_writer("cython", "zlib-ng"), True, id="wsfast-cython-writer[zlib-ng]"),
    pytest.param(_wsfast_writer("cython", "isal"), True, id="wsfast-cython-writer[isal]"),
    pytest.param(websockets_compress, True, id="websockets"),
    pytest.param(wsproto_compress, True, id="wsproto"),
    pytest.param(aiohttp_compress, True, id="aiohttp"),
]


@pytest.mark.parametrize("impl, framed", COMPRESSORS)
@pytest.mark.parametrize("size, label", SIZES)
def test_compress(benchmark, messages_of, impl, framed, size, label):
    benchmark.group = f"compress {label} text"
    messages = messages_of(size)
    compressed = _check_compressor(impl(), messages, framed)
    deflate = impl()
    cycle = itertools.cycle(messages)
    benchmark.extra_info["bytes"] = size
    benchmark.extra_info["compressed_bytes"] = compressed
    benchmark(lambda: deflate(next(cycle)))


# --- decompress: factory(frames) -> (inflate(frame) -> result, message_of(result) -> bytes) ---


def zlib_raw_decompress():
    decompressobj = zlib.decompressobj

    def inflate(payload):
        return decompressobj(wbits=-WINDOW_BITS).decompress(payload + DEFLATE_TAIL)

    return inflate, lambda result: result, False


def _wsfast_reader(name, backend=None):
    def factory():
        from wsfast.extensions.permessage_deflate import PerMessageDeflate

        options = {} if backend is None else {"backend": backend}
        try:
            extension = PerMessageDeflate(
                True, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS, **options
            )
        except ImportError as exc:
            pytest.skip(str(exc))
        reader = _codec(name).FrameReader(mask=True, max_size=None, extensions=[extension])
        feed_data, read_frame = reader.feed_data, reader.read_frame

        def inflate(data):
            feed_data(data)
            return read_frame()

        return inflate, _frame_data, True

    return factory


def _wsfast_messages(name):
    def factory():
        from wsfast.extensions.permessage_deflate import PerMessageDeflate

        extension = PerMessageDeflate(True, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)
        reader = _codec(name).FrameReader(mask=True, max_size=None, extensions=[extension])
        feed_messages = reader.feed_messages

        # What the I/O layers call: the message comes out validated and decoded, as str.
        def inflate(data):
            (message,) = feed_messages(data)
            return message

        return inflate, lambda text: text.encode(), True

    return factory


def _frame_data(frame):
    assert frame.opcode == OP_TEXT and frame.fin and not frame.rsv1
    return frame.data


def _websockets_parser(extensions):
    frames = _websockets("frames")
    streams = _websockets("streams")
    reader = streams.StreamReader()
    parse_frame, read_exact, feed_data = frames.Frame.parse, reader.read_exact, reader.feed_data

    def parse(data):
        feed_data(data)
        parser = parse_frame(read_exact, mask=True, max_size=None, extensions=extensions)
        try:
            next(parser)
        except StopIteration as exc:
            return exc.value
        raise AssertionError("Frame.parse wants more data")

    return parse


def websockets_decompress():
    pmd = _websockets("extensions.permessage_deflate")
    extension = pmd.PerMessageDeflate(True, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)
    return _websockets_parser([extension]), _frame_data, True


def wsproto_decompress():
    frame_protocol = pytest.importorskip("wsproto.frame_protocol", reason="wsproto is not installed")
    extensions = pytest.importorskip("wsproto.extensions", reason="wsproto is not installed")
    extension = extensions.PerMessageDeflate(client_no_context_takeover=True)
    extension.finalize("permessage-deflate; client_no_context_takeover")
    protocol = frame_protocol.FrameProtocol(client=False, extensions=[extension])
    receive_bytes, received_frames = protocol.receive_bytes, protocol.received_frames

    def inflate(data):
        receive_bytes(data)
        (frame,) = received_frames()
        return frame

    def message_of(frame):
        assert frame.frame_finished and frame.message_finished
        return frame.payload.encode()  # wsproto decodes text frames to str

    return inflate, message_of, True


def aiohttp_decompress():
    from test_frame_bench import _aiohttp_parser

    parse, _ = _aiohttp_parser(compress=True)

    def message_of(message):
        assert message.type == OP_TEXT
        return message.data

    return parse, message_of, True


DECOMPRESSORS = [
    pytest.param(zlib_raw_decompress, id="zlib-raw"),
    pytest.param(_wsfast_reader("cython"), id="wsfast-cython"),
    pytest.param(_wsfast_reader("python"), id="wsfast-python"),
    pytest.param(_wsfast_messages("cython"), id="wsfast-cython-messages"),
    pytest.param(_wsfast_messages("python"), id="wsfast-python-messages"),
    pytest.param(_wsfast_reader("cython", "zlib-ng"), id="wsfast-cython[zlib-ng]"),
    pytest.param(_wsfast_reader("cython", "isal"), id="wsfast-cython[isal]"),
    pytest.param(websockets_decompress, id="websockets"),
    pytest.param(wsproto_decompress, id="wsproto"),
    pytest.param(aiohttp_decompress, id="aiohttp"),
]


@pytest.mark.parametrize("impl", DECOMPRESSORS)
@pytest.mark.parametrize("size, label", SIZES)
def test_decompress(benchmark, messages_of, impl, size, label):
    benchmark.group = f"decompress {label} text"
    messages = messages_of(size)
    payloads = [raw_deflate(message) for message in messages]
    inflate, message_of, framed = impl()
    inputs = [reference_frame(OP_TEXT, p, rsv1=True) for p in payloads] if framed else payloads
    for _ in range(2):
        for data, message in zip(inputs, messages):
            assert bytes(message_of(inflate(data))) == message
    cycle = itertools.cycle(inputs)
    benchmark.extra_info["bytes"] = size
    benchmark.extra_info["compressed_bytes"] = sum(map(len, payloads)) // len(payloads)
    benchmark(lambda: inflate(next(cycle)))
