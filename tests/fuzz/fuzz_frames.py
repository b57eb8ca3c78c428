"""Fuzz target ``frames``: the receive path, FrameReader and message reassembly (RFC 6455 §5,
RFC 7692 §6), on the Cython extension and the pure-Python twin side by side.

One input picks the side (masked or not), ``max_size`` (an int, ``None`` or a
``(message, fragment)`` tuple), ``max_fragments``, permessage-deflate or not, how the bytes
go in (``feed_data``, ``get_buffer``/``buffer_updated``, ``feed_messages``), how they come
out (``read_messages`` or ``read_frame``), where the stream is cut, and whether it ends with
EOF. The stream is either raw bytes or built from frame descriptions (valid frames, compressed
when asked, then damaged on request), so that both garbage and nearly valid traffic get in.

A finding is:

* any difference between the implementations: items returned, exceptions (type, message,
  UTF-8 details), the ``error`` property, ``message_in_progress``;
* an exception other than ProtocolError, PayloadTooBig, TooManyFragments, InvalidUTF8 or
  EOFError, or a limit error without that limit;
* a message or frame beyond ``max_size`` (message or fragment part), a message of more than
  ``max_fragments`` frames, a control frame over 125 bytes or fragmented, reserved bits set,
  text that isn't UTF-8, anything after a close frame from ``read_messages()``;
* ``read_messages()`` giving other items than ``read_frame()`` on the same bytes;
* on request (one flag of the input), the Sans-I/O protocol (wsfast.protocol, pure Python)
  run once wired to each codec, through ``receive_data()`` or the direct-receive path: its
  events, the frames it sends back, its close code and reason must agree, and it must never
  fail with 1011 (an unexpected exception in the reader) or log an error.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any

from wsfast.exceptions import (
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from wsfast.extensions.permessage_deflate import PerMessageDeflate
from wsfast.frames import Frame

from ._common import (
    PYTHON,
    Finding,
    Input,
    codecs,
    describe_exception,
    require,
    same,
    split,
    wired,
)

TARGET = "frames"

# Limits a byte of the input picks from; 224 and above read a 16-bit value instead.
LIMITS: list[int | None] = [
    None, 0, 1, 2, 3, 4, 5, 10, 16, 100, 125, 126, 127, 128, 200, 1000, 1024, 4096,
    65535, 65536, 65537, 100_000, 2**20, None, None, 20, 50, 300,
]
OPCODES = [1, 2, 0, 0, 8, 9, 10, None]  # None: any of the 16 opcodes, from the next byte
SPECIAL_LENGTHS = [125, 126, 127, 65535, 65536, 32767, 32768, 32769]
MAX_FRAMES = 24
MAX_LENGTH = 70_000  # beyond DIRECT_MIN (32 KiB), where the Cython reader receives in place
APIS = ("feed_data", "get_buffer", "feed_messages", "read_frame")
EXPECTED_ERRORS = (ProtocolError, PayloadTooBig, TooManyFragments, UnicodeDecodeError, EOFError)


@dataclass
class Config:
    server: bool  # the reader expects masked frames (it is the server side)
    deflate: bool
    structured: bool
    api: str
    eof: bool
    protocol: bool
    max_message: int | None
    max_frame: int | None
    tuple_limits: bool
    max_fragments: int | None
    no_context_takeover: bool
    window_bits: int
    sender_resets: bool
    level: int
    hint: int
    direct: bool
    mix: bool = False  # alternate read_frame() and read_messages() on the same reader
    abandon: bool = False  # get_buffer() without buffer_updated() before each write

    @property
    def max_size(self) -> Any:
        if self.tuple_limits:
            return (self.max_message, self.max_frame)
        return self.max_message

    def extensions(self) -> list[Any]:
        if not self.deflate:
            return []
        return [PerMessageDeflate(self.no_context_takeover, False, self.window_bits, 15)]


def read_limit(inp: Input) -> int | None:
    code = inp.byte()
    if code >= 224:
        return inp.u16()
    return LIMITS[code % len(LIMITS)]


def read_config(inp: Input) -> Config:
    flags = inp.byte()
    max_message = read_limit(inp)
    max_frame = read_limit(inp)
    fragments = inp.byte()
    deflate = inp.byte()
    extra = inp.byte()
    tuple_limits = bool(flags & 0x80)
    return Config(
        server=bool(flags & 0x01),
        deflate=bool(flags & 0x02),
        structured=bool(flags & 0x04),
        api=APIS[(flags >> 3) & 3],
        eof=bool(flags & 0x20),
        protocol=bool(flags & 0x40),
        max_message=max_message,
        max_frame=max_frame if tuple_limits else max_message,
        tuple_limits=tuple_limits,
        max_fragments=None if fragments < 128 else 1 + fragments % 8,
        no_context_takeover=bool(deflate & 1),
        window_bits=8 + (deflate >> 1) % 8,
        sender_resets=bool(deflate & 0x10),
        level=(deflate >> 5) + 1,
        hint=(-1, 0, 1, 7, 100, 4096, 65536, 1 << 20)[extra & 7],
        direct=bool(extra & 0x08),
        mix=bool(extra & 0x10) and (flags >> 3) & 3 != 3,
        abandon=bool(extra & 0x20),
    )


def read_cuts(inp: Input) -> Any:
    """Read how to cut the stream; return a function of the stream's length."""
    mode = inp.byte() % 4
    fractions = [inp.byte() for _ in range(inp.byte() % 9)] if mode >= 2 else []

    def cuts(length: int) -> list[int]:
        if length <= 1 or mode == 0:
            return []
        if mode == 1:
            if length <= 300:
                return list(range(1, length))
            return list(range(1, length, max(1, length // 300)))
        return sorted({max(1, min(length - 1, f * length // 256)) for f in fractions})

    return cuts


# Building a stream from frame descriptions ----------------------------------------------


def encode_header(first: int, length: int, key: bytes | None, nonminimal: bool = False) -> bytes:
    """RFC 6455 §5.2, written out here rather than taken from either codec."""
    bit = 0x80 if key is not None else 0
    if length < 126 and not nonminimal:
        head = bytes((first, bit | length))
    elif length < 65536 and not (nonminimal and length >= 126):
        head = bytes((first, bit | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((first, bit | 127)) + length.to_bytes(8, "big")
    return head + (key or b"")


def mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def build_stream(inp: Input, cfg: Config) -> bytes:
    """Frames described by the rest of the input, compressed and damaged as it says."""
    out = []
    compressor = None
    compressing = False  # the open message is compressed
    window = max(9, cfg.window_bits)
    for _ in range(MAX_FRAMES):
        if inp.exhausted:
            break
        head = inp.byte()
        opcode = OPCODES[head & 7]
        if opcode is None:
            opcode = inp.byte() & 0x0F
        fin = not head & 0x08
        compress = bool(head & 0x10)
        length = inp.byte()
        if 240 <= length < 254:
            length = inp.u16()
        elif length == 254:
            length = min(inp.u16() * 2, MAX_LENGTH)
        elif length == 255:
            length = SPECIAL_LENGTHS[inp.byte() % len(SPECIAL_LENGTHS)]
        payload = inp.take(min(length, inp.byte()))  # literal bytes, repeated up to length
        if len(payload) < length:
            payload = (payload or b"\x00") * (length // max(1, len(payload)) + 1)
            payload = payload[:length]
        if head & 0x20:
            # Text: valid UTF-8, of about the length asked.
            payload = payload.decode("utf-8", "replace").encode()[:length]
        rsv1 = False
        if cfg.deflate and opcode in (0, 1, 2):
            if opcode != 0:
                compressing = compress
                rsv1 = compress
                if compressor is None or cfg.sender_resets:
                    compressor = zlib.compressobj(cfg.level, zlib.DEFLATED, -window, 8)
            if compressing and compressor is not None:
                payload = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
                if fin:
                    payload = payload.removesuffix(b"\x00\x00\xff\xff")
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        key = inp.take(4).ljust(4, b"\x00") if cfg.server else None
        nonminimal = False
        if head & 0x80:
            # Break a rule: reserved bits, masking, minimal length encoding.
            damage = inp.byte()
            first ^= damage & 0x70
            if damage & 0x01:
                key = None if key is not None else b"\x5a\xa5\x0f\xf0"
            nonminimal = bool(damage & 0x02)
        data = encode_header(first, len(payload), key, nonminimal)
        data += mask(payload, key) if key is not None else payload
        if head & 0x40:
            # Flip bits somewhere in the frame.
            position = inp.u16() % len(data)
            data = data[:position] + bytes((data[position] ^ (inp.byte() | 1),)) + data[position + 1 :]
        out.append(data)
    return b"".join(out)


# Running a reader ----------------------------------------------------------------------------


def normalise(item: Any) -> tuple[Any, ...]:
    if isinstance(item, Frame):
        return ("frame", int(item.opcode), bytes(item.data), item.fin, item.rsv1, item.rsv2, item.rsv3)
    if type(item) is str:
        return ("text", item)
    if type(item) is bytes:
        return ("binary", item)
    raise Finding(f"unexpected item type {type(item).__name__}: {item!r:.200}")


def write(reader: Any, chunk: bytes, hint: int, abandon: bool = False) -> None:
    """Write ``chunk`` as asyncio's transports do: get_buffer(), fill it, buffer_updated().

    ``abandon`` first asks for a buffer, fills it with junk and drops it without
    buffer_updated(), as a transport whose read failed: none of that junk is data.
    """
    if abandon:
        junk = reader.get_buffer(hint)
        with memoryview(junk) as raw, raw.cast("B") as view:
            view[:] = b"\x5a" * len(view)
        del junk
    data = memoryview(chunk)
    while data:
        buffer = reader.get_buffer(hint)
        with memoryview(buffer) as raw, raw.cast("B") as view:
            require(not view.readonly and len(view) > 0, "get_buffer() gave no writable room")
            count = min(len(view), len(data))
            view[:count] = data[:count]
        reader.buffer_updated(count)
        del buffer
        data = data[count:]


def run_reader(codec: Any, cfg: Config, chunks: list[bytes]) -> list[Any]:
    """Everything observable while ``chunks`` (then EOF) go through a reader of ``codec``."""
    reader = codec.FrameReader(
        mask=cfg.server,
        max_size=cfg.max_size,
        max_fragments=cfg.max_fragments,
        extensions=cfg.extensions(),
    )
    trace: list[Any] = []
    read = reader.read_frame if cfg.api == "read_frame" else reader.read_messages

    def drain(index: int = 0) -> None:
        if cfg.api == "read_frame" or (cfg.mix and index % 2):
            while (frame := reader.read_frame()) is not None:
                trace.append(normalise(frame))
            return
        while items := reader.read_messages():
            trace.extend(normalise(item) for item in items)
            error = reader.error
            if error is not None:
                trace.append(("error-pending", *describe_exception(error)))

    try:
        for index, chunk in enumerate(chunks):
            if cfg.api == "get_buffer":
                write(reader, chunk, cfg.hint, cfg.abandon)
            elif cfg.api == "feed_messages":
                items = reader.feed_messages(chunk)
                trace.extend(normalise(item) for item in items)
                if reader.error is not None:
                    trace.append(("error-pending", *describe_exception(reader.error)))
            else:
                reader.feed_data(chunk)
            drain(index)
        if cfg.eof:
            reader.feed_eof()
            drain()
    except Exception as exc:  # noqa: BLE001 - the exception is part of the trace
        described = describe_exception(exc)
        trace.append(("raise", *described))
        # Sticky: later calls raise it again, and the error property tells it.
        for _ in range(2):
            try:
                read()
            except Exception as again:  # noqa: BLE001
                require(describe_exception(again) == described,
                        f"{codec.__name__}: the error changed from {described} to "
                        f"{describe_exception(again)}")
            else:
                raise Finding(f"{codec.__name__}: the error {described} isn't sticky")
        require(reader.error is not None, f"{codec.__name__}: error property unset after {described}")
        check_exception(cfg, exc)
    trace.append(("in-progress", reader.message_in_progress))
    return trace


def check_exception(cfg: Config, exc: BaseException) -> None:
    if not isinstance(exc, EXPECTED_ERRORS):
        raise Finding(f"unexpected exception {type(exc).__name__}: {exc}") from exc
    if isinstance(exc, PayloadTooBig):
        require(cfg.max_message is not None or cfg.max_frame is not None,
                f"PayloadTooBig without a size limit: {exc}")
    if isinstance(exc, TooManyFragments):
        require(cfg.max_fragments is not None, f"TooManyFragments without a limit: {exc}")
    if isinstance(exc, EOFError):
        require(cfg.eof, f"EOFError without EOF: {exc}")


def check_limits(cfg: Config, trace: list[Any]) -> None:
    """What came out respects the limits and the RFC, whatever came in."""
    limits = [limit for limit in (cfg.max_message, cfg.max_frame) if limit is not None]
    message: list[bytes] | None = None  # fragments of the open message
    size = 0
    text = False
    closed = False
    for entry in trace:
        kind = entry[0]
        if kind in ("raise", "error-pending", "in-progress"):
            continue
        require(not closed or cfg.api == "read_frame" or cfg.mix, f"item after a close frame: {entry!r:.200}")
        if kind in ("text", "binary"):
            size = len(entry[1].encode() if kind == "text" else entry[1])
            require(message is None, "whole message inside a fragmented one")
            require(all(size <= limit for limit in limits),
                    f"{kind} message of {size} bytes delivered with max_size={cfg.max_size}")
            continue
        _, opcode, data, fin, rsv1, rsv2, rsv3 = entry
        require(not (rsv1 or rsv2 or rsv3), f"frame delivered with reserved bits: {entry!r:.200}")
        require(opcode in (0, 1, 2, 8, 9, 10), f"frame with opcode {opcode} delivered")
        if opcode >= 8:
            require(len(data) <= 125 and fin, f"invalid control frame delivered: {entry!r:.200}")
            closed = closed or opcode == 8
            continue
        if opcode == 0:
            require(message is not None, "continuation frame delivered outside a message")
        else:
            require(message is None, "data frame delivered inside a fragmented message")
            message, text, size = [], opcode == 1, 0
        message.append(data)
        size += len(data)
        if cfg.max_frame is not None:
            require(len(data) <= cfg.max_frame,
                    f"frame of {len(data)} bytes delivered with max_size={cfg.max_size}")
        if cfg.max_message is not None:
            require(size <= cfg.max_message,
                    f"message of {size} bytes delivered with max_size={cfg.max_size}")
        if cfg.max_fragments is not None:
            require(len(message) <= cfg.max_fragments,
                    f"message of {len(message)} frames delivered, max_fragments={cfg.max_fragments}")
        if fin:
            if text:
                try:
                    b"".join(message).decode()
                except UnicodeDecodeError as exc:
                    raise Finding(f"invalid UTF-8 text delivered: {exc}") from None
            message = None


def reference(codec: Any, cfg: Config, chunks: list[bytes]) -> list[Any]:
    """What read_messages() must give, derived from read_frame() on the same bytes."""
    reader = codec.FrameReader(
        mask=cfg.server, max_size=cfg.max_size, max_fragments=cfg.max_fragments,
        extensions=cfg.extensions(),
    )
    items: list[Any] = []
    closed = False
    try:
        for chunk in [*chunks, None]:
            if chunk is None:
                if not cfg.eof:
                    break
                reader.feed_eof()
            else:
                reader.feed_data(chunk)
            while not closed and (frame := reader.read_frame()) is not None:
                opcode = int(frame.opcode)
                if frame.fin and opcode == 1:
                    items.append(("text", bytes(frame.data).decode()))
                elif frame.fin and opcode == 2:
                    items.append(("binary", bytes(frame.data)))
                else:
                    items.append(normalise(frame))
                closed = opcode == 8
    except Exception as exc:  # noqa: BLE001
        items.append(("raise", *describe_exception(exc)))
    return items


# An independent oracle, for streams without extensions ----------------------------------------
#
# RFC 6455 §5 written out again, byte by byte, without either codec: what the reader must
# return, and which error (type, and offset for UTF-8) ends the stream. The precedence of
# errors within one header is the readers' documented one (fail at the earliest byte that
# proves an error; within a header: 64-bit length MSB, opcode, masking, reserved bits, control
# frame rules, fragmentation order, max_fragments, then the size limits).


def utf8_error(data: bytes, final: bool) -> tuple[int | None, int]:
    """(offset of the first byte no valid text can hold, or None; start of an unfinished tail)."""
    index, end = 0, len(data)
    while index < end:
        lead = data[index]
        if lead < 0x80:
            index += 1
            continue
        if 0xC2 <= lead <= 0xDF:
            size, low, high = 2, 0x80, 0xBF
        elif 0xE0 <= lead <= 0xEF:
            size = 3
            low, high = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F)}.get(lead, (0x80, 0xBF))
        elif 0xF0 <= lead <= 0xF4:
            size = 4
            low, high = {0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}.get(lead, (0x80, 0xBF))
        else:
            return index, index
        for k in range(1, size):
            if index + k >= end:
                return (index if final else None), index
            if not low <= data[index + k] <= high:
                return index + k, index
            low, high = 0x80, 0xBF
        index += size
    return None, end


def oracle(cfg: Config, stream: bytes) -> tuple[list[Any], Any]:
    """The frames a reader must return for ``stream`` (then EOF if cfg.eof), and the error."""
    frames: list[Any] = []
    position, end = 0, len(stream)
    message: int | None = None  # opcode of the open data message
    size = fragments = 0
    text = b""  # the open text message, for UTF-8

    def fail(kind: Any, offset: int | None = None) -> tuple[list[Any], Any]:
        return frames, (kind, offset)

    while True:
        available = end - position
        if available < 2:
            return fail(EOFError) if cfg.eof and available else (frames, None)
        first, second = stream[position], stream[position + 1]
        opcode, fin, masked, short = first & 0x0F, bool(first & 0x80), bool(second & 0x80), second & 0x7F
        extended = {126: 2, 127: 8}.get(short, 0)
        length = None
        if available >= 2 + extended:
            length = int.from_bytes(stream[position + 2 : position + 2 + extended], "big") if extended else short
            if length >> 63:
                return fail(ProtocolError)
        if opcode not in (0, 1, 2, 8, 9, 10) or masked != cfg.server or first & 0x70:
            return fail(ProtocolError)
        control = opcode >= 8
        if control:
            if short > 125 or not fin:
                return fail(ProtocolError)
        else:
            if (opcode == 0) != (message is not None):
                return fail(ProtocolError)
            count = fragments + 1 if opcode == 0 else 1
            if cfg.max_fragments is not None and count > cfg.max_fragments:
                return fail(TooManyFragments)
            if length is not None:
                before = size if opcode == 0 else 0
                if cfg.max_frame is not None and length > cfg.max_frame:
                    return fail(PayloadTooBig)
                if cfg.max_message is not None and length > cfg.max_message - before:
                    return fail(PayloadTooBig)
        header = 2 + extended + (4 if masked else 0)
        if available < header:
            return fail(EOFError) if cfg.eof else (frames, None)
        assert length is not None
        key = stream[position + header - 4 : position + header] if masked else None
        payload = stream[position + header : position + header + length]
        if key is not None:
            payload = mask(payload, key)
        is_text = not control and (opcode == 1 or (opcode == 0 and message == 1))
        if is_text:
            offset, _ = utf8_error(text + payload, final=False)
            if offset is not None:
                return fail(UnicodeDecodeError, offset)
        if len(payload) < length:
            return fail(EOFError) if cfg.eof else (frames, None)
        position += header + length
        if not control:
            if opcode != 0:
                message, size, fragments, text = opcode, 0, 0, b""
            size += length
            fragments += 1
            if is_text:
                text += payload
                if fin:
                    offset, _ = utf8_error(text, final=True)
                    if offset is not None:
                        return fail(UnicodeDecodeError, offset)
            if fin:
                message, text = None, b""
        frames.append(("frame", opcode, payload, fin, False, False, False))


# The Sans-I/O protocol on top of each codec ------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def _sent_frames(writes: list[bytes]) -> list[Any]:
    """The frames a protocol sent, unmasked (client keys are random), or "EOF"."""
    out: list[Any] = []
    for data in writes:
        if data == b"":
            out.append("EOF")
            continue
        reader = PYTHON.FrameReader(mask=bool(data[1] & 0x80), max_size=None)
        reader.feed_data(data)
        while (frame := reader.read_frame()) is not None:
            out.append((int(frame.opcode), bytes(frame.data), frame.fin))
    return out


def run_protocol(codec: Any, cfg: Config, chunks: list[bytes]) -> list[Any]:
    from wsfast.client import ClientProtocol
    from wsfast.protocol import State
    from wsfast.server import ServerProtocol
    from wsfast.uri import parse_uri

    handler = _Errors()
    # A logger of its own, outside the logging tree: nothing else sees or configures it. Its
    # level is NOTSET, so the protocol logs every frame at DEBUG: formatting hostile frames
    # for the log is fuzzed too (only ERROR records are kept, and are findings).
    logger = logging.Logger(f"wsfast-fuzz-{TARGET}")  # noqa: LOG001
    logger.addHandler(handler)
    trace: list[Any] = []
    with wired(codec):
        if cfg.server:
            protocol: Any = ServerProtocol(
                state=State.OPEN, max_size=cfg.max_size, max_fragments=cfg.max_fragments,
                logger=logger,
            )
        else:
            protocol = ClientProtocol(
                parse_uri("ws://127.0.0.1/"), state=State.OPEN, max_size=cfg.max_size,
                max_fragments=cfg.max_fragments, logger=logger,
            )
        protocol.extensions = cfg.extensions()
        if cfg.direct:
            # The I/O layers' fast path: bytes straight into the frame reader, then
            # receive_messages(); back to receive_data() once the protocol stops it.
            protocol.start_direct_receive()
        for chunk in [*chunks, None]:
            if chunk is None:
                if not cfg.eof:
                    break
                protocol.receive_eof()
            elif protocol.direct_receive:
                protocol.frame_reader.feed_data(chunk)
                items = protocol.receive_messages()
                trace.append(("messages", [normalise(item) for item in items]))
            else:
                protocol.receive_data(chunk)
            trace.append(("events", [normalise(event) for event in protocol.events_received()]))
            trace.append(("sent", _sent_frames(protocol.data_to_send())))
        trace.append(("state", protocol.state.name, protocol.close_code, protocol.close_reason))
        parser_exc = protocol.parser_exc
        trace.append(("parser_exc", None if parser_exc is None else describe_exception(parser_exc)))
    require(not handler.records, f"{codec.__name__}: the protocol logged errors: {handler.records}")
    for entry in trace:
        if entry[0] == "sent":
            for frame in entry[1]:
                if frame != "EOF" and frame[0] == 8 and frame[1][:2] == b"\x03\xf3":
                    raise Finding(f"{codec.__name__}: the protocol failed with 1011: {frame!r}")
    return trace


def check_oracle(cfg: Config, stream: bytes, trace: list[Any]) -> None:
    frames, error = oracle(cfg, stream)
    if cfg.api == "read_frame" or cfg.mix:
        if cfg.mix:
            return  # which items come as messages depends on the alternation
        want = list(frames)
    else:
        want = []
        for frame in frames:
            _, opcode, payload, fin, *_ = frame
            if fin and opcode == 1:
                want.append(("text", payload.decode()))
            elif fin and opcode == 2:
                want.append(("binary", payload))
            else:
                want.append(frame)
            if opcode == 8:
                error = None  # read_messages() stops at a close frame
                break
    got = [entry for entry in trace if entry[0] not in ("raise", "error-pending", "in-progress")]
    raised = [entry for entry in trace if entry[0] == "raise"]
    got_error = None
    if raised:
        kind = raised[0][1]
        kind = UnicodeDecodeError if issubclass(kind, UnicodeDecodeError) else kind
        got_error = (kind, raised[0][-1] if kind is UnicodeDecodeError else None)
    if got != want or got_error != error:
        raise Finding(
            f"the readers and the RFC 6455 oracle differ\n"
            f"  readers: {got!r:.1500} then {got_error}\n  oracle:  {want!r:.1500} then {error}"
        )


# The target ---------------------------------------------------------------------------------


def check(data: bytes) -> None:
    inp = Input(data)
    cfg = read_config(inp)
    cuts = read_cuts(inp)
    stream = build_stream(inp, cfg) if cfg.structured else inp.rest()
    chunks = split(stream, cuts(len(stream)))
    implementations = codecs()

    traces = {name: run_reader(codec, cfg, chunks) for name, codec in implementations}
    same("FrameReader", traces)
    check_limits(cfg, next(iter(traces.values())))

    if cfg.api != "read_frame" and not cfg.mix:
        flat = [entry for entry in next(iter(traces.values()))
                if entry[0] not in ("error-pending", "in-progress")]
        for name, codec in implementations:
            expected = reference(codec, cfg, chunks)
            if flat != expected:
                raise Finding(
                    f"{name}: read_messages() and read_frame() differ\n"
                    f"  read_messages: {flat!r:.2000}\n  read_frame:    {expected!r:.2000}"
                )

    if not cfg.deflate:
        check_oracle(cfg, stream, next(iter(traces.values())))

    if cfg.protocol:
        protocols = {name: run_protocol(codec, cfg, chunks) for name, codec in implementations}
        same("protocol", protocols)


# Seeds ---------------------------------------------------------------------------------------


def config_bytes(*, server: bool = True, deflate: bool = False, structured: bool = False,
                 api: int = 0, eof: bool = False, protocol: bool = False,
                 tuple_limits: bool = False, max_message: int = 0, max_frame: int = 0,
                 fragments: int = 0, deflate_params: int = 0x0E, extra: int = 0,
                 cut_mode: int = 0, fractions: bytes = b"") -> bytes:
    """The front of an input; ``max_message``/``max_frame`` are indexes into LIMITS."""
    flags = (server * 0x01 | deflate * 0x02 | structured * 0x04 | api << 3 | eof * 0x20
             | protocol * 0x40 | tuple_limits * 0x80)
    cuts = bytes((cut_mode, len(fractions))) + fractions if cut_mode >= 2 else bytes((cut_mode,))
    return bytes((flags, max_message, max_frame, fragments, deflate_params, extra)) + cuts


def spec(opcode_index: int, payload: bytes, *, fin: bool = True, compress: bool = False,
         text: bool = False, key: bytes = b"\x37\xfa\x21\x3d", server: bool = True,
         length: int | None = None) -> bytes:
    """One frame description for build_stream(); ``length`` repeats ``payload`` up to it."""
    head = opcode_index | (0 if fin else 0x08) | (0x10 if compress else 0) | (0x20 if text else 0)
    if length is None:
        length = len(payload)
    encoded = bytes((length,)) if length < 240 else bytes((240,)) + length.to_bytes(2, "big")
    literal = payload[:255]
    return bytes((head,)) + encoded + bytes((len(literal),)) + literal + (key if server else b"")


def seeds() -> list[tuple[str, bytes]]:
    key = b"\x37\xfa\x21\x3d"
    out = []
    for server in (True, False):
        side = "server" if server else "client"
        k = key if server else None
        raw = (encode_header(0x81, 5, k) + (mask(b"hello", key) if k else b"hello")
               + encode_header(0x02, 3, k) + (mask(b"abc", key) if k else b"abc")
               + encode_header(0x89, 4, k) + (mask(b"ping", key) if k else b"ping")
               + encode_header(0x80, 3, k) + (mask(b"def", key) if k else b"def")
               + encode_header(0x88, 2, k) + (mask(b"\x03\xe8", key) if k else b"\x03\xe8"))
        for api in range(4):
            out.append((f"raw-{side}-api{api}", config_bytes(server=server, api=api) + raw))
        out.append((f"raw-{side}-bytewise", config_bytes(server=server, cut_mode=1, eof=True) + raw))
        out.append((f"raw-{side}-limits", config_bytes(server=server, tuple_limits=True,
                                                       max_message=7, max_frame=3, fragments=130)
                    + raw))
        text = "héllo wörld €".encode()
        frames = (spec(0, text, text=True, server=server) + spec(1, bytes(range(200)), server=server)
                  + spec(0, b"frag", fin=False, server=server) + spec(5, b"p", server=server)
                  + spec(2, b"ment", server=server) + spec(1, b"\x00", length=1000, server=server)
                  + spec(4, b"\x03\xe8bye", server=server))
        for deflate in (False, True):
            name = f"structured-{side}-{'deflate' if deflate else 'plain'}"
            out.append((name, config_bytes(server=server, structured=True, deflate=deflate,
                                           protocol=True) + frames))
        compressed = (spec(0, text, length=340, compress=True, text=True, server=server)
                      + spec(1, b"ab", length=5000, compress=True, server=server)
                      + spec(0, b"part one ", fin=False, compress=True, server=server)
                      + spec(2, b"part two", compress=True, server=server)
                      + spec(1, b"", compress=True, server=server)
                      + spec(0, text, length=340, compress=True, text=True, server=server))
        for limit, api in ((0, 0), (15, 1), (9, 3), (17, 2)):
            out.append((f"deflate-{side}-limit{limit}-api{api}",
                        config_bytes(server=server, structured=True, deflate=True, api=api,
                                     max_message=limit, protocol=api == 0, extra=0x08)
                        + compressed))
        out.append((f"deflate-{side}-no-context-w9",
                    config_bytes(server=server, structured=True, deflate=True,
                                 deflate_params=0x13, cut_mode=2, fractions=b"\x10\x40\x80")
                    + compressed))
        big = (spec(1, b"x", length=40_000, fin=False, server=server)
               + spec(2, b"y", length=70, server=server))
        out.append((f"large-{side}-get-buffer",
                    config_bytes(server=server, structured=True, api=1, extra=6, cut_mode=2,
                                 fractions=b"\x01\x08\x80\xf0") + big))
        bad = (spec(0, b"ok\xc0\xafok", server=server) + spec(0, b"\xe2\x82", fin=False, server=server)
               + spec(2, b"\xac\xed\xa0\x80", server=server))
        out.append((f"utf8-{side}", config_bytes(server=server, structured=True, protocol=True) + bad))
        out.append((f"abandoned-buffers-{side}",
                    config_bytes(server=server, structured=True, api=1, extra=0x25, cut_mode=2,
                                 fractions=b"\x02\x30\x90") + frames))
        out.append((f"mixed-reads-{side}",
                    config_bytes(server=server, structured=True, deflate=True, extra=0x10,
                                 cut_mode=1) + frames))
        out.append((f"eof-{side}", config_bytes(server=server, eof=True, protocol=True, extra=0x08)
                    + raw[:9]))
    return out
