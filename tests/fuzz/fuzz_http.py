"""Fuzz target ``http``: the HTTP/1.1 parser of the opening handshake (wsfast.http11 over
wsfast.streams.StreamReader), requests and responses, with its limits; and the Sans-I/O
handshake on top of it (ServerProtocol, ClientProtocol) followed by frames.

The HTTP layer is pure Python whichever codec runs, so it has no twin to compare with: it is
fuzzed for crashes, for its limits and for consistency with itself. The protocol part (on
one flag of the input) runs the same bytes once wired to each codec and compares everything
observable, since the frames after the handshake go through the codec.

One input picks request or response (a CONNECT proxy's response too), small limits or the
defaults (MAX_LINE_LENGTH, MAX_NUM_HEADERS, MAX_BODY_SIZE, set on wsfast.http11 for the run
and restored), where the bytes are cut, and EOF. A finding is:

* an exception other than EOFError, SecurityError (line too long, too many headers, body
  too large, bad framing), ValueError, NotImplementedError and, for responses, LookupError
  (a repeated framing header);
* a parsed message that breaks a limit: a line longer than MAX_LINE_LENGTH, more than
  MAX_NUM_HEADERS headers, a body over MAX_BODY_SIZE, a status outside 100-599, a header
  name that isn't a token or a value with control characters, a request with a body;
* more than max(MAX_LINE_LENGTH, MAX_BODY_SIZE) bytes held while the parser waits;
* a different outcome when the same bytes arrive in other pieces (errors that quote how
  many bytes were buffered are compared by type);
* a message that doesn't parse back to itself once serialized;
* on the protocol path: a difference between the codecs, an error logged, a 500 answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from wsfast import http11
from wsfast.exceptions import SecurityError
from wsfast.http11 import Request, Response
from wsfast.streams import StreamReader

from . import fuzz_frames

try:  # whose parser wsfast.http11 documents as its model
    import websockets.http11 as ws_http11
    import websockets.streams as ws_streams
except ImportError:  # pragma: no cover - websockets is in the test extra
    ws_http11 = ws_streams = None
from ._common import (
    Finding,
    Input,
    codecs,
    describe_exception,
    require,
    same,
    split,
    wired,
)

TARGET = "http"

TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# The key the client protocol sends in the fuzzed runs, and the answer it expects.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


class Limits:
    """Set wsfast.http11's limits for a run (its functions read them at call time)."""

    def __init__(self, line: int, headers: int, body: int) -> None:
        self.values = {"MAX_LINE_LENGTH": line, "MAX_NUM_HEADERS": headers, "MAX_BODY_SIZE": body}

    def __enter__(self) -> Limits:  # noqa: PYI034
        self.saved = {name: getattr(http11, name) for name in self.values}
        for name, value in self.values.items():
            setattr(http11, name, value)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            setattr(http11, name, value)

    def __getattr__(self, name: str) -> int:
        return self.__dict__["values"][name]


def describe(result: Any) -> tuple[Any, ...]:
    if isinstance(result, Request):
        return ("request", result.method, result.path, result.protocol,
                list(result.headers.raw_items()))
    return ("response", result.status_code, result.reason_phrase,
            list(result.headers.raw_items()), bytes(result.body))


def comparable_exception(exc: BaseException) -> tuple[Any, ...]:
    """An exception as compared across cuttings: its message may quote a buffer size."""
    if isinstance(exc, SecurityError) and str(exc).startswith("read "):
        return (type(exc),)
    return (type(exc), str(exc))


def parse(response: bool, proxy: bool, chunks: list[bytes], eof: bool,
          limits: Limits) -> tuple[Any, ...]:
    """Feed ``chunks`` to a StreamReader under the parser; the outcome and the rest."""
    reader = StreamReader()
    if response:
        parser = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof, proxy=proxy)
    else:
        parser = Request.parse(reader.read_line)
    bound = max(limits.MAX_LINE_LENGTH, limits.MAX_BODY_SIZE)
    pending = list(chunks)
    try:
        next(parser)
        while True:
            if pending:
                reader.feed_data(pending.pop(0))
            elif eof and not reader.eof:
                reader.feed_eof()
            else:
                return ("incomplete",)
            parser.send(None)
            require(len(reader.buffer) <= bound,
                    f"{len(reader.buffer)} bytes buffered while waiting, limits {limits.values}")
    except StopIteration as stop:
        rest = bytes(reader.buffer) + b"".join(pending)
        return ("parsed", stop.value, rest)
    except Finding:
        raise
    except Exception as exc:
        allowed: tuple[type[BaseException], ...] = (EOFError, SecurityError, ValueError,
                                                    NotImplementedError)
        if response:
            allowed += (LookupError,)
        if not isinstance(exc, allowed):
            raise Finding(f"{'Response' if response else 'Request'}.parse raised "
                          f"{type(exc).__name__}: {exc}") from exc
        return ("raise", exc)


def check_message(message: Any, proxy: bool, limits: Limits) -> None:
    line_limit = limits.MAX_LINE_LENGTH
    raw_items = list(message.headers.raw_items())
    require(len(raw_items) <= limits.MAX_NUM_HEADERS,
            f"{len(raw_items)} headers parsed, limit {limits.MAX_NUM_HEADERS}")
    for name, value in raw_items:
        require(TOKEN.fullmatch(name.encode("latin-1")) is not None, f"header name {name!r}")
        require(FIELD_VALUE.fullmatch(value) is not None, f"header value {value!r}")
        require(len(name) + 1 + len(value) + 2 <= line_limit,
                f"header line of {len(name) + len(value) + 3} bytes, limit {line_limit}")
    if isinstance(message, Request):
        start = f"{message.method} {message.path} {message.protocol}\r\n"
        require(len(start) <= line_limit, f"request line of {len(start)} bytes, limit {line_limit}")
        require(message.protocol in ("HTTP/1.1", "HTTP/1.0"), f"protocol {message.protocol!r}")
        require(" " not in message.method, f"method {message.method!r}")
        require(" " not in message.path, f"path {message.path!r}")
        require("Transfer-Encoding" not in message.headers, "request with Transfer-Encoding")
        require(all(v == "0" for v in message.headers.get_all("Content-Length")),
                "request with a body")
    else:
        require(100 <= message.status_code < 600, f"status {message.status_code}")
        require(len(message.body) <= limits.MAX_BODY_SIZE,
                f"body of {len(message.body)} bytes, limit {limits.MAX_BODY_SIZE}")
        require(not proxy or message.body == b"", "a proxy response with a body")


def round_trip(message: Any, proxy: bool, limits: Limits) -> None:
    if isinstance(message, Response):
        framed = (100 <= message.status_code < 200 or message.status_code in (204, 304) or proxy
                  or ("Content-Length" in message.headers
                      and "Transfer-Encoding" not in message.headers))
        if not framed:
            return  # serialize() writes the body as is: chunked or to-EOF framing is lost
    data = message.serialize()
    again = parse(isinstance(message, Response), proxy, [data], False, limits)
    require(again[0] == "parsed" and describe(again[1]) == describe(message) and again[2] == b"",
            f"round trip: {describe(message)!r:.500} -> {data!r:.500} -> {again!r:.500}")


def compare_with_websockets(response: bool, proxy: bool, stream: bytes, eof: bool,
                            message: Any) -> None:
    """When websockets parses the same bytes too, it must find the same message.

    wsfast is stricter on purpose in places (Content-Length and status code syntax, any
    method and HTTP/1.0 parsed for the server to answer 405/505, "Content-Length: 0" on a
    request accepted): only two successful parses are compared.
    """
    reader = ws_streams.StreamReader()
    if response:
        parser = ws_http11.Response.parse(reader.read_line, reader.read_exact,
                                          reader.read_to_eof, proxy=proxy)
    else:
        parser = ws_http11.Request.parse(reader.read_line)
    reader.feed_data(stream)
    if eof:
        reader.feed_eof()
    try:
        next(parser)
    except StopIteration as stop:
        theirs = stop.value
    except Exception:  # noqa: BLE001 - websockets refusing is not compared
        return
    else:
        return  # websockets waits for more
    if response:
        mine = (message.status_code, message.reason_phrase, list(message.headers.raw_items()),
                bytes(message.body))
        other = (theirs.status_code, theirs.reason_phrase, list(theirs.headers.raw_items()),
                 bytes(theirs.body))
    else:
        mine = (message.path, list(message.headers.raw_items()))
        other = (theirs.path, list(theirs.headers.raw_items()))
    require(mine == other, f"websockets parses {stream!r:.300} otherwise: wsfast {mine!r:.400}, "
            f"websockets {other!r:.400}")


# The protocol on top, once per codec -----------------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def _normalise_writes(writes: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for data in writes:
        if data.startswith(b"HTTP/"):
            head, _, body = data.partition(b"\r\n\r\n")
            lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")]
            out.append(("http", lines, body))
        else:
            out.extend(fuzz_frames._sent_frames([data]))
    return out


def _event(event: Any) -> Any:
    if isinstance(event, (Request, Response)):
        return describe(event)
    return fuzz_frames.normalise(event)


def run_protocol(codec: Any, response: bool, config: int, chunks: list[bytes], eof: bool,
                 limits: Limits) -> list[Any]:
    from wsfast.client import ClientProtocol
    from wsfast.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )
    from wsfast.server import ServerProtocol
    from wsfast.uri import parse_uri

    handler = _Errors()
    # A logger of its own, outside the logging tree: nothing else sees or configures it.
    logger = logging.Logger(f"wsfast-fuzz-{TARGET}")  # noqa: LOG001
    logger.addHandler(handler)
    subprotocols = [None, ["chat"], ["chat", "superchat"], None][config & 3]
    extensions = bool(config & 4)
    max_size = [2**20, 10, None, 1000][(config >> 3) & 3]
    trace: list[Any] = []
    with wired(codec), limits:
        if response:
            protocol: Any = ClientProtocol(
                parse_uri("ws://127.0.0.1/"), subprotocols=subprotocols,
                extensions=[ClientPerMessageDeflateFactory()] if extensions else None,
                max_size=max_size, logger=logger,
            )
            protocol.key = KEY
            protocol.send_request(protocol.connect())
            protocol.data_to_send()
        else:
            protocol = ServerProtocol(
                subprotocols=subprotocols,
                extensions=[ServerPerMessageDeflateFactory()] if extensions else None,
                max_size=max_size, logger=logger,
            )
        for chunk in [*chunks, None]:
            if chunk is None:
                if not eof:
                    break
                protocol.receive_eof()
            else:
                protocol.receive_data(chunk)
            events = protocol.events_received()
            trace.append(("events", [_event(event) for event in events]))
            for event in events:
                if isinstance(event, Request):
                    reply = protocol.accept(event)
                    protocol.send_response(reply)
                    require(reply.status_code != 500,
                            f"{codec.__name__}: 500 for {describe(event)!r:.300}: {reply.body!r:.300}")
                    # Frames right behind the request are parsed once the response is sent.
                    trace.append(("events", [_event(e) for e in protocol.events_received()]))
            trace.append(("sent", _normalise_writes(protocol.data_to_send())))
        trace.append(("state", protocol.state.name, protocol.close_code, protocol.close_reason))
        exc = protocol.handshake_exc
        trace.append(("handshake_exc", None if exc is None else describe_exception(exc)))
        exc = protocol.parser_exc
        trace.append(("parser_exc", None if exc is None else describe_exception(exc)))
    require(not handler.records, f"{codec.__name__}: errors logged: {handler.records}")
    return trace


# The target ---------------------------------------------------------------------------------


def check(data: bytes) -> None:
    inp = Input(data)
    flags = inp.byte()
    response = bool(flags & 0x01)
    proxy = response and bool(flags & 0x02)
    eof = bool(flags & 0x04)
    if flags & 0x08:
        limits = Limits(8 + inp.byte() * 8, inp.byte() % 20, inp.u16() % 4096)
    else:
        limits = Limits(8192, 128, 1_048_576)
    cuts = fuzz_frames.read_cuts(inp)
    config = inp.byte()
    stream = inp.rest()
    chunks = split(stream, cuts(len(stream)))

    with limits:
        whole = parse(response, proxy, [stream] if stream else [], eof, limits)
        pieces = parse(response, proxy, chunks, eof, limits)
        if whole[0] == "raise" or pieces[0] == "raise":
            left = whole[:1] + (comparable_exception(whole[1]) if whole[0] == "raise" else whole[1:])
            right = pieces[:1] + (comparable_exception(pieces[1]) if pieces[0] == "raise" else pieces[1:])
            require(left == right, f"cut differently, the parser says otherwise: "
                    f"whole {left!r:.500}, in pieces {right!r:.500}")
        else:
            require(whole[0] == pieces[0] and (whole[0] == "incomplete" or (
                describe(whole[1]) == describe(pieces[1]) and whole[2] == pieces[2])),
                f"cut differently, the parser says otherwise: whole {whole!r:.500}, "
                f"in pieces {pieces!r:.500}")
        if whole[0] == "parsed":
            check_message(whole[1], proxy, limits)
            round_trip(whole[1], proxy, limits)

    if ws_http11 is not None and not flags & 0x08 and whole[0] == "parsed":
        compare_with_websockets(response, proxy, stream, eof, whole[1])

    if flags & 0x10 and not proxy:
        traces = {name: run_protocol(codec, response, config, chunks, eof, limits)
                  for name, codec in codecs()}
        same("handshake and frames", traces)


# Seeds -------------------------------------------------------------------------------------


def seeds() -> list[tuple[str, bytes]]:
    request = (
        b"GET /chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    key = b"\x37\xfa\x21\x3d"
    client_frames = (fuzz_frames.encode_header(0x81, 5, key) + fuzz_frames.mask(b"hello", key)
                     + fuzz_frames.encode_header(0x89, 1, key) + fuzz_frames.mask(b"p", key)
                     + fuzz_frames.encode_header(0x88, 2, key) + fuzz_frames.mask(b"\x03\xe8", key))
    upgrade = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n\r\n"
    )
    server_frames = b"\x81\x05hello\x89\x01p\x88\x02\x03\xe8"
    rejected = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n"
                b"forbidden")
    chunked = (b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n"
               b"0\r\nTrailer: x\r\n\r\n")
    to_eof = b"HTTP/1.1 502 Bad Gateway\r\nServer: x\r\n\r\nsome body until EOF"
    proxy = b"HTTP/1.0 200 Connection established\r\nProxy-Agent: x\r\n\r\n"
    out = []

    def add(name: str, flags: int, body: bytes, limits: bytes = b"", cuts: bytes = b"\x00",
            config: int = 0x06) -> None:
        out.append((name, bytes((flags,)) + limits + cuts + bytes((config,)) + body))

    add("request", 0x10, request + client_frames)
    add("request-bytewise", 0x14, request + client_frames, cuts=b"\x01")
    add("request-small-limits", 0x18, request, limits=b"\x08\x05\x01\x00")
    add("request-plain-server", 0x10, request + client_frames, config=0x00)
    add("request-bad-version", 0x14, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    add("request-body", 0x10, request.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\n"))
    add("request-http10", 0x10, request.replace(b"HTTP/1.1", b"HTTP/1.0"))
    add("request-bad-key", 0x10, request.replace(KEY.encode(), b"short"))
    add("response-101", 0x11, upgrade + server_frames, cuts=b"\x02\x03\x20\x80\xc0")
    add("response-101-eof", 0x15, upgrade + server_frames[:6])
    add("response-rejected", 0x15, rejected)
    add("response-chunked", 0x15, chunked, cuts=b"\x01")
    add("response-to-eof", 0x05, to_eof)
    add("response-small-limits", 0x0D, rejected, limits=b"\x04\x03\x00\x08")
    add("response-proxy", 0x03, proxy)
    add("response-bad-accept", 0x11, upgrade.replace(ACCEPT.encode(), b"wrong"))
    return out
