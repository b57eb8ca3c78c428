"""Fuzz target ``deflate``: permessage-deflate inflation under a size budget (RFC 7692 §6.2,
§7.2.2), a decompression bomb's first line of defence.

One input describes a few messages of one or more frames: their payloads are compressed from
the input (optionally stretched into a bomb: runs of up to a few hundred KiB from a few
bytes), or raw input bytes, and damaged on request. They are inflated:

* through ``PerMessageDeflate.decompress()`` (pure Python, shared by both codecs), once per
  installed DEFLATE engine (zlib, zlib-ng, isal), each against an oracle written here with the
  standard library's zlib: the output must be the oracle's, PayloadTooBig must come exactly
  when the message inflates beyond ``max_size`` (so never more than ``max_size`` bytes out),
  ProtocolError("decompression failed") exactly when the data is corrupt before that point,
  and the engines must agree with each other;
* through the FrameReader of the Cython extension and of the pure twin, side by side, with
  the same ``max_size`` (the frames harness's checks: same items and errors, nothing beyond
  the limits, read_messages() as read_frame()).

Nothing but PayloadTooBig and ProtocolError may escape ``decompress()``.
"""

from __future__ import annotations

import zlib
from typing import Any

from wsfast.deflate_backends import available_backends, get_backend
from wsfast.exceptions import PayloadTooBig, ProtocolError
from wsfast.extensions.permessage_deflate import PerMessageDeflate

from . import fuzz_frames
from ._common import Finding, Input, codecs, require, same, split

TARGET = "deflate"

TAIL = b"\x00\x00\xff\xff"
MAX_MESSAGES = 6
MAX_FRAMES_PER_MESSAGE = 4
MAX_STRETCH = 400_000  # bytes one piece of input may expand to before compression

BACKENDS = [get_backend(name) for name in available_backends()]


def read_payload(inp: Input) -> bytes:
    """Uncompressed data: a few literal bytes, repeated to a length the input picks."""
    literal = inp.take(inp.byte() % 64)
    kind = inp.byte()
    if kind < 128 or not literal:
        return literal
    count = min(MAX_STRETCH // len(literal), 1 + ((kind & 0x7F) << 8 | inp.byte()) * 16)
    return literal * count


def build_messages(inp: Input, window_bits: int, sender_resets: bool,
                   no_context_takeover: bool) -> tuple[list[list[bytes]], list[bool]]:
    """Messages as lists of frame payloads, as a sender would put them on the wire, and for
    each message whether it and all before it are valid DEFLATE for the receiver."""
    messages: list[list[bytes]] = []
    valid: list[bool] = []
    # A 256-byte window can't be compressed for (zlib needs 9), and a sender that keeps its
    # context for a receiver that doesn't refers to data the receiver no longer has.
    clean = window_bits >= 9
    compressor = None
    for _ in range(MAX_MESSAGES):
        if inp.exhausted:
            break
        frames: list[bytes] = []
        count = 1 + inp.byte() % MAX_FRAMES_PER_MESSAGE
        if messages and no_context_takeover and not (sender_resets or compressor is None):
            clean = False
        if compressor is None or sender_resets:
            level = inp.byte() % 10
            compressor = zlib.compressobj(level, zlib.DEFLATED, -max(9, window_bits), 8)
        for index in range(count):
            how = inp.byte()
            fin = index == count - 1
            if how & 0x80:
                payload = inp.take(inp.byte())  # raw bytes, not DEFLATE at all
                clean = False
            else:
                data = read_payload(inp)
                # Z_FINISH ends the stream with a final block (RFC 7692 §7.2.3.4), which
                # senders may do; otherwise a sync flush, whose tail the last frame drops.
                mode = zlib.Z_FINISH if how & 0x40 and fin else zlib.Z_SYNC_FLUSH
                payload = compressor.compress(data) + compressor.flush(mode)
                if mode == zlib.Z_FINISH:
                    compressor = None
                elif fin:
                    payload = payload.removesuffix(TAIL)
            if how & 0x20 and payload:
                position = inp.u16() % len(payload)
                flipped = payload[position] ^ (inp.byte() | 1)
                payload = payload[:position] + bytes((flipped,)) + payload[position + 1 :]
                clean = False
            if how & 0x10:
                payload = payload[: inp.u16() % (len(payload) + 1)]
                clean = False
            frames.append(payload)
            if compressor is None and not fin:
                compressor = zlib.compressobj(6, zlib.DEFLATED, -max(9, window_bits), 8)
        messages.append(frames)
        valid.append(clean)
    return messages, valid


# The oracle --------------------------------------------------------------------------------


class Oracle:
    """The expected outcome of each decompress() call, from the standard library's zlib."""

    def __init__(self, no_context_takeover: bool, window_bits: int) -> None:
        self.no_context_takeover = no_context_takeover
        self.window_bits = window_bits
        self.decoder: Any = None

    def decompress(self, data: bytes, first: bool, fin: bool, budget: int | None) -> tuple[Any, ...]:
        if first and (self.decoder is None or self.no_context_takeover or self.decoder.eof):
            self.decoder = zlib.decompressobj(-self.window_bits)
        decoder = self.decoder
        whole = data + TAIL if fin else data
        saved = decoder.copy()
        try:
            out = decoder.decompress(whole)
            if not decoder.eof and decoder.unconsumed_tail:  # pragma: no cover - no max_length
                raise AssertionError("zlib kept input without a max_length")
        except zlib.error:
            # Corrupt: how much comes out before the corruption decides between the errors.
            pieces = []
            for index in range(len(whole)):
                try:
                    pieces.append(saved.decompress(whole[index : index + 1]))
                except zlib.error:
                    break
            out = b"".join(pieces)
            # decompress() asks for budget + 1 bytes; once it has them, zlib may still read
            # input that writes nothing (a block header) and meet the corruption there. Both
            # answers are safe when exactly budget + 1 bytes precede it.
            if budget is not None and len(out) > budget + 1:
                return ("too-big",)
            if budget is not None and len(out) == budget + 1:
                return ("too-big-or-corrupt",)
            return ("corrupt",)
        if budget is not None and len(out) > budget:
            return ("too-big",)
        return ("ok", out)


def expected_exception(exc: BaseException) -> tuple[Any, ...]:
    if isinstance(exc, PayloadTooBig):
        return ("too-big",)
    if isinstance(exc, ProtocolError) and str(exc) == "decompression failed":
        return ("corrupt",)
    raise Finding(f"decompress() raised {type(exc).__name__}: {exc}") from exc


# Engines held to the zlib oracle on any input. ISA-L is a different DEFLATE decoder: on data
# that isn't valid DEFLATE it may fail where zlib succeeds or the other way round (it doesn't
# check distances against the window, for one), so it is held to the oracle on valid streams
# only, and elsewhere to the limits and the exception types.
STRICT_ENGINES = ("zlib", "zlib-ng")


def run_extension(backend: Any, no_context_takeover: bool, window_bits: int,
                  max_size: int | None, messages: list[list[bytes]],
                  valid: list[bool]) -> list[Any]:
    extension = PerMessageDeflate(no_context_takeover, False, window_bits, 15, backend=backend)
    oracle = Oracle(no_context_takeover, window_bits)
    strict = backend.name in STRICT_ENGINES
    trace: list[Any] = []
    for frames, clean in zip(messages, valid):
        size = 0
        for index, payload in enumerate(frames):
            first, fin = index == 0, index == len(frames) - 1
            budget = None if max_size is None else max_size - size
            try:
                out = extension.decompress(payload, first, fin, budget)
            except Exception as exc:  # noqa: BLE001 - checked against the oracle
                got = expected_exception(exc)
            else:
                require(type(out) is bytes or isinstance(out, (bytes, bytearray)),
                        f"{backend.name}: decompress() returned {type(out).__name__}")
                out = bytes(out)
                got = ("ok", out)
                require(budget is None or len(out) <= budget,
                        f"{backend.name}: {len(out)} bytes inflated with a budget of {budget}")
            want = oracle.decompress(payload, first, fin, budget)
            if want == ("too-big-or-corrupt",) and got in (("too-big",), ("corrupt",)):
                # Either is right; the trace keeps the ambiguity, so engines may differ here.
                trace.append(want)
                return trace
            if got != want and not (strict or clean):
                trace.append(("lenient", got[0]))
                return trace
            if got != want:
                raise Finding(
                    f"{backend.name}: decompress(first={first}, fin={fin}, max_size={budget}) "
                    f"gave {_brief(got)}, the zlib oracle {_brief(want)} "
                    f"(frame {index} of message {len(trace)})"
                )
            if got[0] != "ok":
                # The message is lost and so is the connection: stop here.
                trace.append(got)
                return trace
            size += len(got[1])
        trace.append(("message", size))
    return trace


def _brief(result: tuple[Any, ...]) -> str:
    if result[0] == "ok":
        return f"{len(result[1])} bytes {result[1][:40]!r}"
    return result[0]


def frames_stream(messages: list[list[bytes]], server: bool) -> bytes:
    key = b"\x37\xfa\x21\x3d" if server else None
    out = []
    for frames in messages:
        for index, payload in enumerate(frames):
            fin = index == len(frames) - 1
            opcode = 2 if index == 0 else 0
            first = (0x80 if fin else 0) | (0x40 if index == 0 else 0) | opcode
            out.append(fuzz_frames.encode_header(first, len(payload), key))
            out.append(fuzz_frames.mask(payload, key) if key else payload)
    return b"".join(out)


def check(data: bytes) -> None:
    inp = Input(data)
    flags = inp.byte()
    no_context_takeover = bool(flags & 0x01)
    window_bits = 8 + (flags >> 1) % 8
    sender_resets = bool(flags & 0x10)
    through_readers = bool(flags & 0x20)
    server = bool(flags & 0x40)
    max_size = fuzz_frames.read_limit(inp)
    cut_seed = inp.byte()
    messages, valid = build_messages(inp, window_bits, sender_resets, no_context_takeover)
    if not messages:
        return

    traces = {
        backend.name: run_extension(
            backend, no_context_takeover, window_bits, max_size, messages, valid
        )
        for backend in BACKENDS
    }
    same("PerMessageDeflate.decompress across engines",
         {name: trace for name, trace in traces.items() if name in STRICT_ENGINES})

    if through_readers:
        cfg = fuzz_frames.Config(
            server=server, deflate=True, structured=True, api=fuzz_frames.APIS[cut_seed & 3],
            eof=bool(cut_seed & 4), protocol=False, max_message=max_size, max_frame=max_size,
            tuple_limits=False, max_fragments=None, no_context_takeover=no_context_takeover,
            window_bits=window_bits, sender_resets=sender_resets, level=6, hint=-1,
            direct=False,
        )
        stream = frames_stream(messages, server)
        step = max(1 + (cut_seed >> 3) * 97, len(stream) // 500)  # at most ~500 pieces
        chunks = split(stream, list(range(step, len(stream), step)))
        readers = {name: fuzz_frames.run_reader(codec, cfg, chunks) for name, codec in codecs()}
        same("FrameReader with permessage-deflate", readers)
        trace = next(iter(readers.values()))
        fuzz_frames.check_limits(cfg, trace)
        if cfg.api != "read_frame":
            flat = [entry for entry in trace if entry[0] not in ("error-pending", "in-progress")]
            for name, codec in codecs():
                expected = fuzz_frames.reference(codec, cfg, chunks)
                if flat != expected:
                    raise Finding(f"{name}: read_messages() and read_frame() differ")
        # What the extension alone says must be what the readers say.
        outcome = traces[BACKENDS[0].name]
        errors = [entry for entry in trace if entry[0] == "raise"]
        if outcome and outcome[-1][0] == "too-big":
            require(bool(errors) and errors[0][1] is PayloadTooBig,
                    f"the extension says too big, the readers {errors or 'accept'}")


# Seeds -------------------------------------------------------------------------------------


def _message(frames: list[tuple[int, bytes]], resets_level: int = 6) -> bytes:
    """A message for build_messages(): frames as (how, payload description)."""
    return bytes((len(frames) - 1, resets_level)) + b"".join(
        bytes((how,)) + body for how, body in frames
    )


def _literal(data: bytes, repeat: int = 0) -> bytes:
    if not repeat:
        return bytes((len(data),)) + data + b"\x00"
    return bytes((len(data),)) + data + bytes((0x80 | repeat >> 8, repeat & 0xFF))


def seeds() -> list[tuple[str, bytes]]:
    text = "permessage-deflate héllo ".encode()
    plain = _message([(0, _literal(text))])
    fragmented = _message([(0, _literal(b"abc")), (0, _literal(text)), (0, _literal(b"xyz"))])
    bomb = _message([(0, _literal(b"\x00", 0x3FFF))])
    final_block = _message([(0x40, _literal(text))])
    raw = _message([(0x80, bytes((8,)) + b"\xff\xff\xff\xff\x00\x01\x02\x03")])
    flipped = _message([(0x20, _literal(text * 2) + b"\x00\x05\x10")])
    truncated = _message([(0x10, _literal(text * 2) + b"\x00\x07")])
    out = []
    for name, flags, limit, body in [
        ("plain", 0x0E, 0, plain + plain),
        ("plain-readers", 0x6E, 15, plain + fragmented + plain),
        ("fragmented-no-context", 0x0F, 9, fragmented + fragmented),
        ("bomb-1000", 0x2E, 15, bomb),
        ("bomb-unlimited", 0x0E, 0, bomb),
        ("bomb-16", 0x6E, 224, bomb),
        ("final-block", 0x6E, 17, final_block + plain + plain),
        ("corrupt-raw", 0x2E, 15, plain + raw),
        ("bit-flip", 0x0E, 15, flipped + plain),
        ("truncated", 0x2E, 0, truncated + plain),
        ("window-8", 0x60, 17, plain + fragmented),
        ("window-9-resets", 0x32, 16, plain + plain + fragmented),
    ]:
        limit_bytes = bytes((limit,)) + (b"\x00\x10" if limit == 224 else b"")
        out.append((name, bytes((flags,)) + limit_bytes + bytes((0x21,)) + body))
    return out
