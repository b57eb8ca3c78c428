"""Frame codec throughput: wsfast vs peers, one benchmark group per workload and size.

* ``frame parse <size>``: a server receives ONE masked binary frame (bytes in, payload out).
  Readers are created once and reused, as on a connection: each round feeds one complete
  frame and takes it out.
* ``frame serialize <size>``: a client writes ONE masked binary frame (payload in, bytes out).
* ``deflate 1 KiB JSON``: a client compresses one ~1 KiB JSON text message into one masked
  permessage-deflate frame, with context takeover, cycling through distinct documents.
* ``inflate 1 KiB JSON``: a server parses and inflates one such frame, compressed without
  context takeover so that any frame can follow any other.

Every implementation is checked against an independent reference before it is timed.
"""

from __future__ import annotations

import itertools
import json
import random
import zlib

import pytest

import _peers

MASK = b"\x37\xfa\x21\x3d"
OP_TEXT, OP_BINARY = 0x1, 0x2

SIZES = [
    pytest.param(16, "16 B", id="16B"),
    pytest.param(125, "125 B", id="125B"),
    pytest.param(1024, "1 KiB", id="1KiB"),
    pytest.param(64 * 1024, "64 KiB", id="64KiB"),
]

# permessage-deflate settings, the same for every implementation: a 32 KiB window (wbits 15),
# zlib's default level (6) and memLevel 5, the compress_settings that websockets' and wsfast's
# enable_*_permessage_deflate() use by default.
WINDOW_BITS = 15
COMPRESS_SETTINGS = {"level": zlib.Z_DEFAULT_COMPRESSION, "memLevel": 5}
DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: removed by the sender, re-added on receipt

JSON_DOCUMENTS = 64  # distinct documents, cycled; 64 KiB is more than the 32 KiB window
JSON_SIZE = 1024


# --- reference frame codec (independent of every implementation under test) --------------


def reference_mask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def reference_frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> bytes:
    """One final frame, masked with MASK (RFC 6455 §5.2)."""
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, 0x80 | 127)) + length.to_bytes(8, "big")
    return header + MASK + reference_mask(payload, MASK)


def reference_parse(frame: bytes) -> tuple[int, bytes]:
    """(first header byte, unmasked payload) of one complete masked frame; checks the length."""
    frame = bytes(frame)
    assert frame[1] & 0x80, "frame is not masked"
    length = frame[1] & 0x7F
    offset = 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    key, payload = frame[offset : offset + 4], frame[offset + 4 :]
    assert len(payload) == length, f"payload length {len(payload)} != header length {length}"
    return frame[0], reference_mask(payload, key)


# --- deterministic JSON documents ----------------------------------------------------------

_EVENTS = ("login", "logout", "message", "typing", "presence", "reaction", "upload")
_TAGS = ("red", "green", "blue", "urgent", "muted", "beta", "eu-west", "us-east", "mobile")


def json_document(index: int) -> bytes:
    """A JSON array of event records, as large as fits in JSON_SIZE bytes; seeded by index."""
    rng = random.Random(6455 + index)
    records: list[dict] = []
    document = b"[]"
    while True:
        record = {
            "id": rng.randrange(10**9),
            "user": f"user{rng.randrange(100000):05d}",
            "event": rng.choice(_EVENTS),
            "ts": 1_700_000_000 + rng.randrange(10**7),
            "value": round(rng.uniform(-1000, 1000), 3),
            "ok": rng.random() < 0.8,
            "tags": rng.sample(_TAGS, rng.randrange(4)),
        }
        candidate = json.dumps([*records, record]).encode()
        if len(candidate) > JSON_SIZE:
            return document
        records.append(record)
        document = candidate


DOCUMENTS = [json_document(index) for index in range(JSON_DOCUMENTS)]


def raw_deflate(message: bytes) -> bytes:
    """message as the payload of a frame compressed without context takeover (RFC 7692)."""
    compressor = zlib.compressobj(wbits=-WINDOW_BITS, **COMPRESS_SETTINGS)
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(DEFLATE_TAIL)
    return data[:-4]


# --- helpers for implementations ---------------------------------------------------------

CYTHON_REASON = "wsfast Cython extension is not built"


def _named(factory, name):
    """A parameter (factory, name) whose test ID is the implementation's name."""
    return pytest.param(factory, name, id=name)


def _codec(name):
    if name == "cython":
        return pytest.importorskip("wsfast._speedups", reason=CYTHON_REASON)
    from wsfast import _speedups_py

    return _speedups_py


def _websockets(module):
    return pytest.importorskip(f"websockets.{module}", reason="websockets is not installed")


def _websockets_parser(extensions):
    """Frame.parse driven by a StreamReader as websockets' Protocol does: feed, then step."""
    frames = _websockets("frames")
    streams = _websockets("streams")
    reader = streams.StreamReader()
    parse_frame = frames.Frame.parse
    read_exact = reader.read_exact
    feed_data = reader.feed_data

    def parse(data):
        feed_data(data)
        parser = parse_frame(read_exact, mask=True, max_size=None, extensions=extensions)
        try:
            next(parser)
        except StopIteration as exc:
            return exc.value
        raise AssertionError("Frame.parse wants more data")

    return parse


class _AiohttpProtocol:
    """The flow-control side of aiohttp's protocol that WebSocketDataQueue calls."""

    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


def _aiohttp_parser(compress):
    """aiohttp's WebSocketReader (a message reader), without an event loop.

    ``queue.read()`` returns without awaiting when a message is queued, so one ``send(None)``
    runs it to completion: that is the fast path of ``ClientWebSocketResponse.receive()``.
    """
    mod = pytest.importorskip("aiohttp._websocket.reader", reason="aiohttp is not installed")
    # aiohttp's web and client responses size the queue at 2**16; max_msg_size 0 = no limit.
    queue = mod.WebSocketDataQueue(_AiohttpProtocol(), 2**16, loop=None)
    reader = mod.WebSocketReader(queue, 0, compress=compress, decode_text=False)
    feed_data = reader.feed_data
    read = queue.read

    def parse(data):
        feed_data(data)
        coroutine = read()
        try:
            coroutine.send(None)
        except StopIteration as exc:
            return exc.value
        raise AssertionError("aiohttp's queue has no message")

    return parse, mod.WebSocketReader.__module__.rpartition(".")[2]


# --- frame parse: factory(frame) -> (callable, payload_of(result) -> bytes) ---------------


def _wsfast_reader(name):
    def factory(frame):
        reader = _codec(name).FrameReader(mask=True, max_size=None)
        feed_data, read_frame = reader.feed_data, reader.read_frame

        def parse(data):
            feed_data(data)
            return read_frame()

        def payload_of(result):
            assert result.opcode == OP_BINARY and result.fin
            return result.data

        return parse, payload_of

    return factory


def _wsfast_messages(name):
    def factory(frame):
        reader = _codec(name).FrameReader(mask=True, max_size=None)
        # feed_data() then read_messages(), in one call: what a transport's data callback does.
        parse = reader.feed_messages

        def payload_of(result):
            assert len(result) == 1 and isinstance(result[0], bytes)
            return result[0]

        return parse, payload_of

    return factory


def websockets_parse(frame):
    def payload_of(result):
        assert result.opcode == OP_BINARY and result.fin
        return result.data

    return _websockets_parser(None), payload_of


def wsproto_parse(frame):
    mod = pytest.importorskip("wsproto.frame_protocol", reason="wsproto is not installed")
    protocol = mod.FrameProtocol(client=False, extensions=[])
    receive_bytes, received_frames = protocol.receive_bytes, protocol.received_frames

    # As wsproto's Connection does: feed, then drain received_frames().
    def parse(data):
        receive_bytes(data)
        return list(received_frames())

    def payload_of(result):
        assert len(result) == 1
        (parsed,) = result
        assert parsed.opcode == OP_BINARY and parsed.frame_finished and parsed.message_finished
        return parsed.payload

    return parse, payload_of


def aiohttp_parse(frame):
    parse, _ = _aiohttp_parser(compress=False)

    def payload_of(result):
        assert result.type == OP_BINARY
        return result.data

    return parse, payload_of


def picows_parse(frame):
    received = []

    # What a listener that needs the message does: copy it out during the callback.
    def on_frame(parsed):
        received.append(parsed.get_payload_as_bytes())

    feed = _peers.picows_parser(on_frame)
    pop = received.pop

    def parse(data):
        feed(data)
        return pop()

    def payload_of(result):
        return result

    return parse, payload_of


PARSERS = [
    _named(_wsfast_reader("cython"), "wsfast-cython"),
    _named(_wsfast_messages("cython"), "wsfast-cython-messages"),
    _named(_wsfast_reader("python"), "wsfast-python"),
    _named(_wsfast_messages("python"), "wsfast-python-messages"),
    _named(websockets_parse, "websockets"),
    _named(wsproto_parse, "wsproto"),
    _named(aiohttp_parse, "aiohttp"),
    _named(picows_parse, "picows"),
]


def _record_kernel(benchmark, impl_id):
    if impl_id.startswith("wsfast-cython"):
        from wsfast import _speedups

        benchmark.extra_info["kernel"] = _speedups.MASK_IMPL


@pytest.mark.parametrize("impl, impl_id", PARSERS)
@pytest.mark.parametrize("size, label", SIZES)
def test_frame_parse(benchmark, random_bytes, impl, impl_id, size, label):
    benchmark.group = f"frame parse {label}"
    payload = random_bytes(size)
    frame = reference_frame(OP_BINARY, payload)
    parse, payload_of = impl(frame)
    for _ in range(2):  # the reader keeps working across frames
        assert bytes(payload_of(parse(frame))) == payload
    benchmark.extra_info["bytes"] = size
    _record_kernel(benchmark, impl_id)
    benchmark(parse, frame)


# --- frame serialize: factory(payload) -> (callable, args) -------------------------------


def _wsfast_serialize_frame(name):
    def factory(payload):
        return _codec(name).serialize_frame, (OP_BINARY, payload, True, False, False, False, MASK)

    return factory


def wsfast_frame_serialize(payload):
    from wsfast.frames import Frame, Opcode

    def serialize(data):
        return Frame(Opcode.BINARY, data).serialize(mask=True)

    return serialize, (payload,)


def websockets_serialize(payload):
    frames = _websockets("frames")
    frame_class, binary = frames.Frame, frames.Opcode.BINARY

    def serialize(data):
        return frame_class(binary, data).serialize(mask=True)

    return serialize, (payload,)


def wsproto_serialize(payload):
    mod = pytest.importorskip("wsproto.frame_protocol", reason="wsproto is not installed")
    return mod.FrameProtocol(client=True, extensions=[]).send_data, (payload, True)


def picows_serialize(payload):
    send, fake = _peers.picows_serializer()
    last = fake.out

    # WSTransport.send() writes the frame to the transport; take it back out.
    def serialize(data):
        send(data)
        return last[-1]

    return serialize, (payload,)


def aiohttp_serialize(payload):
    writer, fake = _peers.aiohttp_writer()
    send_frame, last = writer.send_frame, fake.out

    # ClientWebSocketResponse.send_bytes() awaits this; it returns without waiting here.
    def serialize(data):
        coroutine = send_frame(data, OP_BINARY)
        try:
            coroutine.send(None)
        except StopIteration:
            return last[-1]
        raise AssertionError("send_frame waited")

    return serialize, (payload,)


SERIALIZERS = [
    _named(_wsfast_serialize_frame("cython"), "wsfast-cython"),
    _named(_wsfast_serialize_frame("python"), "wsfast-python"),
    _named(wsfast_frame_serialize, "wsfast-Frame"),
    _named(websockets_serialize, "websockets"),
    _named(wsproto_serialize, "wsproto"),
    _named(aiohttp_serialize, "aiohttp"),
    _named(picows_serialize, "picows"),
]


def _active_codec() -> str:
    from wsfast import speedups

    return speedups.IMPLEMENTATION


@pytest.mark.parametrize("impl, impl_id", SERIALIZERS)
@pytest.mark.parametrize("size, label", SIZES)
def test_frame_serialize(benchmark, random_bytes, impl, impl_id, size, label):
    benchmark.group = f"frame serialize {label}"
    payload = random_bytes(size)
    serialize, args = impl(payload)
    assert reference_parse(serialize(*args)) == (0x80 | OP_BINARY, payload)
    benchmark.extra_info["bytes"] = size
    if impl_id == "wsfast-Frame":
        benchmark.extra_info["codec"] = _active_codec()
    _record_kernel(benchmark, impl_id)
    benchmark(serialize, *args)


# --- deflate: factory() -> compress(message) -> frame bytes ------------------------------


def zlib_raw_deflate():
    compressor = zlib.compressobj(wbits=-WINDOW_BITS, **COMPRESS_SETTINGS)
    compress, flush, sync_flush = compressor.compress, compressor.flush, zlib.Z_SYNC_FLUSH

    # The compression alone, with the tail removal RFC 7692 asks for: no framing, no masking.
    def deflate(message):
        data = compress(message) + flush(sync_flush)
        return data[:-4]

    return deflate


def wsfast_deflate():
    from wsfast.extensions.permessage_deflate import PerMessageDeflate
    from wsfast.frames import Frame, Opcode

    # A client's negotiated extension: remote = server, local = client; context takeover.
    extensions = [PerMessageDeflate(False, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)]

    def deflate(message):
        return Frame(Opcode.TEXT, message).serialize(mask=True, extensions=extensions)

    return deflate


def _wsfast_writer_deflate(name):
    def factory():
        from wsfast.extensions.permessage_deflate import PerMessageDeflate

        extension = PerMessageDeflate(False, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)
        writer = _codec(name).FrameWriter(mask=True, extensions=[extension])
        frame = writer.frame

        # What the I/O layers call per message: one frame, compressed, header, masked.
        def deflate(message):
            return frame(OP_TEXT, message)

        return deflate

    return factory


def websockets_deflate():
    frames = _websockets("frames")
    pmd = _websockets("extensions.permessage_deflate")
    extensions = [pmd.PerMessageDeflate(False, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)]
    frame_class, text = frames.Frame, frames.Opcode.TEXT

    def deflate(message):
        return frame_class(text, message).serialize(mask=True, extensions=extensions)

    return deflate


DEFLATERS = [
    pytest.param(zlib_raw_deflate, False, id="zlib-raw"),
    pytest.param(wsfast_deflate, True, id=f"wsfast-Frame-{_active_codec()}"),
    pytest.param(_wsfast_writer_deflate("cython"), True, id="wsfast-cython-writer"),
    pytest.param(_wsfast_writer_deflate("python"), True, id="wsfast-python-writer"),
    pytest.param(websockets_deflate, True, id="websockets"),
]


@pytest.mark.parametrize("impl, framed", DEFLATERS)
def test_deflate(benchmark, impl, framed):
    benchmark.group = "deflate 1 KiB JSON"
    # Check: a fresh compressor's output for a run of documents inflates back, in order.
    deflate = impl()
    decompressor = zlib.decompressobj(wbits=-WINDOW_BITS)
    for message in DOCUMENTS[:3]:
        data = deflate(message)
        if framed:
            first, data = reference_parse(data)
            assert first == 0xC0 | OP_TEXT  # FIN, RSV1, text
        assert decompressor.decompress(data + DEFLATE_TAIL) == message
    # Timed: a new compressor, each round the next document on the same stream.
    deflate = impl()
    documents = itertools.cycle(DOCUMENTS)
    benchmark.extra_info["bytes"] = sum(map(len, DOCUMENTS)) // len(DOCUMENTS)
    if impl is wsfast_deflate:
        benchmark.extra_info["codec"] = _active_codec()
    benchmark(lambda: deflate(next(documents)))


# --- inflate: factory() -> inflate(frame bytes) -> message -------------------------------

INFLATE_FRAMES = [reference_frame(OP_TEXT, raw_deflate(doc), rsv1=True) for doc in DOCUMENTS]
INFLATE_PAYLOADS = [reference_parse(frame)[1] for frame in INFLATE_FRAMES]


def zlib_raw_inflate():
    decompressobj = zlib.decompressobj

    # The decompression alone, of the unmasked payload: no framing, no unmasking.
    def inflate(data):
        return decompressobj(wbits=-WINDOW_BITS).decompress(data + DEFLATE_TAIL)

    return inflate, INFLATE_PAYLOADS, lambda result: result


def _wsfast_inflate(name):
    def factory():
        from wsfast.extensions.permessage_deflate import PerMessageDeflate

        # A server's negotiated extension: remote = client, which drops its context.
        extension = PerMessageDeflate(True, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)
        reader = _codec(name).FrameReader(mask=True, max_size=None, extensions=[extension])
        feed_data, read_frame = reader.feed_data, reader.read_frame

        def inflate(data):
            feed_data(data)
            return read_frame()

        return inflate, INFLATE_FRAMES, _text_data

    return factory


def _wsfast_inflate_messages(name):
    def factory():
        from wsfast.extensions.permessage_deflate import PerMessageDeflate

        extension = PerMessageDeflate(True, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)
        reader = _codec(name).FrameReader(mask=True, max_size=None, extensions=[extension])
        feed_messages = reader.feed_messages

        # What the I/O layers call: the message comes out decoded, as str.
        def inflate(data):
            (message,) = feed_messages(data)
            return message

        return inflate, INFLATE_FRAMES, lambda text: text.encode()

    return factory


def _text_data(frame):
    assert frame.opcode == OP_TEXT and frame.fin and not frame.rsv1
    return frame.data


def websockets_inflate():
    pmd = _websockets("extensions.permessage_deflate")
    extension = pmd.PerMessageDeflate(True, False, WINDOW_BITS, WINDOW_BITS, COMPRESS_SETTINGS)
    return _websockets_parser([extension]), INFLATE_FRAMES, _text_data


def aiohttp_inflate():
    parse, _ = _aiohttp_parser(compress=True)

    def message_data(message):
        assert message.type == OP_TEXT
        return message.data

    return parse, INFLATE_FRAMES, message_data


INFLATERS = [
    _named(zlib_raw_inflate, "zlib-raw"),
    _named(_wsfast_inflate("cython"), "wsfast-cython"),
    _named(_wsfast_inflate("python"), "wsfast-python"),
    _named(_wsfast_inflate_messages("cython"), "wsfast-cython-messages"),
    _named(_wsfast_inflate_messages("python"), "wsfast-python-messages"),
    _named(websockets_inflate, "websockets"),
    _named(aiohttp_inflate, "aiohttp"),
]


@pytest.mark.parametrize("impl, impl_id", INFLATERS)
def test_inflate(benchmark, impl, impl_id):
    benchmark.group = "inflate 1 KiB JSON"
    inflate, inputs, message_of = impl()
    for data, message in zip(inputs, DOCUMENTS):
        assert bytes(message_of(inflate(data))) == message
    frames = itertools.cycle(inputs)
    benchmark.extra_info["bytes"] = sum(map(len, DOCUMENTS)) // len(DOCUMENTS)
    _record_kernel(benchmark, impl_id)
    benchmark(lambda: inflate(next(frames)))
