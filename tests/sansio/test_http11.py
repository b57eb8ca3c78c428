"""Tests for wsfast.http11: handshake requests and responses (RFC 9112), websockets-compatible.

websockets.http11 17.x is the reference. Hypothesis builds requests and responses, valid and
broken in the ways that matter (start-line, header syntax, body framing, limits), splits them
into random chunks and feeds the same chunks to both parsers; the results must be equal, or the
exceptions equal in type, message and cause. The one deliberate difference is the type raised
for a well-formed but unsupported HTTP version: :exc:`wsfast.http11.UnsupportedHTTPVersion`,
a :exc:`ValueError` with websockets' message that is also an :exc:`InvalidProtocol`; the
comparison treats it as the :exc:`ValueError` it is.

The limits are tested at their exact boundaries, with the default values and, through the
differential tests, with small values patched into both modules; EOF is tested at every byte
of a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http
import inspect
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module

import wsfast.http11 as http11
from wsfast.datastructures import Headers, MultipleValuesError
from wsfast.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidProtocol,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from wsfast.http11 import Request, Response, UnsupportedHTTPVersion
from wsfast.streams import StreamReader

ws_datastructures = websockets_module("websockets.datastructures")
ws_http11 = websockets_module("websockets.http11")
ws_streams = websockets_module("websockets.streams")

MAX_LINE_LENGTH = http11.MAX_LINE_LENGTH
MAX_NUM_HEADERS = http11.MAX_NUM_HEADERS
MAX_BODY_SIZE = http11.MAX_BODY_SIZE


# Driving a parser.


def describe(value: Any) -> tuple[Any, ...]:
    """What a parsed message is made of, comparable across both implementations."""
    if hasattr(value, "path"):
        return (
            "request",
            value.path,
            value.method,
            value.protocol,
            list(value.headers.raw_items()),
            value._exception,
        )
    return (
        "response",
        value.status_code,
        value.reason_phrase,
        list(value.headers.raw_items()),
        type(value.body).__name__,
        bytes(value.body),
        value._exception,
    )


def describe_exc(exc: BaseException) -> tuple[Any, ...]:
    """An exception's type name, message and cause, comparable across implementations."""
    name = type(exc).__name__
    if isinstance(exc, UnsupportedHTTPVersion):
        # The deliberate difference: websockets raises the plain ValueError it derives from.
        assert isinstance(exc, ValueError)
        name = "ValueError"
    cause = exc.__cause__
    return (
        name,
        str(exc),
        None if cause is None else (type(cause).__name__, str(cause)),
        exc.__suppress_context__,
    )


def parse(
    implementation: str,
    kind: str,
    chunks: list[bytes],
    *,
    proxy: bool = False,
    eof: bool = True,
) -> tuple[Any, ...]:
    """Feed ``chunks`` to a parser, stepping it after each as a connection would.

    Returns ``("ok", message, unread bytes)``, ``("exc", exception)`` or ``("pending",)``.
    """
    if implementation == "wsfast":
        module: Any = http11
        reader: Any = StreamReader()
    else:
        module = ws_http11
        reader = ws_streams.StreamReader()
    if kind == "request":
        gen = module.Request.parse(reader.read_line)
    else:
        gen = module.Response.parse(
            reader.read_line, reader.read_exact, reader.read_to_eof, proxy=proxy
        )
    try:
        next(gen)
        for chunk in chunks:
            reader.feed_data(chunk)
            next(gen)
        if eof:
            reader.feed_eof()
            next(gen)
    except StopIteration as exc:
        return ("ok", describe(exc.value), bytes(reader.buffer))
    except Exception as exc:  # noqa: BLE001 - the exception is the result being compared
        return ("exc", describe_exc(exc))
    return ("pending",)


def parse_wsfast(data: bytes, kind: str = "request", **kwargs: Any) -> Any:
    """Parse ``data`` with wsfast and return the message or raise its exception."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    if kind == "request":
        gen = Request.parse(reader.read_line)
    else:
        gen = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof, **kwargs)
    try:
        next(gen)
    except StopIteration as exc:
        return exc.value
    raise AssertionError("parser didn't complete")


def assert_same(kind: str, chunks: list[bytes], **kwargs: Any) -> tuple[Any, ...]:
    """wsfast's result, checked equal to websockets' where it's installed (Python 3.11+):
    without it, the fixed tests still check wsfast's result themselves."""
    ours = parse("wsfast", kind, chunks, **kwargs)
    if HAVE_WEBSOCKETS:
        theirs = parse("websockets", kind, chunks, **kwargs)
        assert ours == theirs
    return ours


@contextlib.contextmanager
def limits(line: int, num_headers: int, body: int) -> Iterator[None]:
    """Patch the same limits into both modules, which read them at call time."""
    with contextlib.ExitStack() as stack:
        for module in (http11, ws_http11) if HAVE_WEBSOCKETS else (http11,):
            stack.enter_context(mock.patch.object(module, "MAX_LINE_LENGTH", line))
            stack.enter_context(mock.patch.object(module, "MAX_NUM_HEADERS", num_headers))
            stack.enter_context(mock.patch.object(module, "MAX_BODY_SIZE", body))
        yield


# Strategies: messages that are mostly well-formed, with the defects parsers must catch.

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHAR = bytes(range(0x21, 0x7F))
# Field-value characters, plus a few that are forbidden, drawn less often.
VALUE_OK = b" \t" + VCHAR + b"\x80\xe9\xff"
VALUE_BAD = b"\x00\x01\x0b\x7f\r\n"


def bytes_from(alphabet: bytes, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(list(alphabet)), min_size=min_size, max_size=max_size).map(
        bytes
    )


def mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], odds: int = 9
) -> st.SearchStrategy[Any]:
    """``good`` ``odds`` times out of ``odds + 1``, else ``bad``.

    Each part of a message is usually valid, so that most messages get far enough for the
    later parts, and their defects, to be parsed at all.
    """
    return st.integers(0, odds).flatmap(lambda i: bad if i == odds else good)


tokens = bytes_from(TCHAR, 1, 10)
field_values = mostly(
    bytes_from(VALUE_OK, 0, 16),
    bytes_from(VALUE_OK, 0, 6).flatmap(
        lambda head: bytes_from(VALUE_BAD, 1, 2).map(lambda bad: head + bad)
    ),
)
line_ends = mostly(st.just(b"\r\n"), st.sampled_from([b"\n", b"\r", b"\r\r\n"]), odds=30)


@st.composite
def header_lines(draw: st.DrawFn) -> bytes:
    """One header field line, usually valid."""
    kind = draw(
        mostly(
            st.sampled_from(["field"] * 4 + ["special"]),
            st.sampled_from(["bad name", "bad value", "no colon", "obs-fold"]),
            odds=15,
        )
    )
    if kind == "field":
        name = draw(tokens)
        value = draw(bytes_from(VALUE_OK, 0, 16))
    elif kind == "bad value":
        name = draw(tokens)
        value = draw(field_values)
    elif kind == "special":
        name, value = draw(
            st.sampled_from(
                [
                    (b"Content-Length", b"0"),
                    (b"Content-Length", b"5"),
                    (b"Content-Length", b"00"),
                    (b"Content-Length", b"-1"),
                    (b"Content-Length", b"0, 0"),
                    (b"Content-Length", b"\xd9\xa0"),
                    (b"content-length", b"3"),
                    (b"Transfer-Encoding", b"chunked"),
                    (b"Transfer-Encoding", b"gzip"),
                    (b"Transfer-Encoding", b"Chunked"),
                    (b"transfer-encoding", b"gzip, chunked"),
                    (b"Upgrade", b"websocket"),
                    (b"Connection", b"Upgrade"),
                ]
            )
        )
    elif kind == "bad name":
        name = draw(
            st.sampled_from([b"", b"A B", b"A ", b" A", b"\tA", b"A\x00", b"\xe9t\xe9", b"A@"])
        )
        value = draw(field_values)
    elif kind == "no colon":
        return draw(bytes_from(VCHAR.replace(b":", b""), 0, 10)) + draw(line_ends)
    else:  # a continuation line: obs-fold (RFC 9112 §5.2)
        return draw(st.sampled_from([b" ", b"\t", b"  "])) + draw(field_values) + draw(line_ends)
    before = draw(st.sampled_from([b":", b": ", b":\t", b":  \t"]))
    after = draw(st.sampled_from([b"", b"", b" ", b"\t", b" \t "]))
    return name + before + value + after + draw(line_ends)


header_sections = st.lists(header_lines(), max_size=6).map(b"".join)
trailing = st.one_of(st.just(b""), st.binary(max_size=8))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=40))
    method = draw(
        mostly(
            st.sampled_from([b"GET", b"GET", b"POST"]),
            st.one_of(tokens, st.sampled_from([b"", b"get", b"G\xffT", b"G T"])),
        )
    )
    target = draw(
        mostly(
            st.one_of(st.just(b"/chat"), bytes_from(VCHAR, 1, 12)),
            st.sampled_from([b"", b"*", b"/\xe9", b"/a b", b"/\x00", b"/%20?q=1#f"]),
        )
    )
    version = draw(
        mostly(
            st.just(b"HTTP/1.1"),
            st.sampled_from(
                [
                    b"HTTP/1.0",
                    b"HTTP/2",
                    b"HTTP/2.0",
                    b"HTTP/3",
                    b"HTTP/0.9",
                    b"HTTP/1.2",
                    b"HTTP/11",
                    b"HTTP/1.12",
                    b"http/1.1",
                    b"HTTP/1.1 ",
                    b"HTTP/\xd9\xa1.1",
                    b"",
                ]
            ),
        )
    )
    separator = draw(mostly(st.just(b" "), st.sampled_from([b"  ", b"\t"]), odds=20))
    request_line = method + separator + target + b" " + version + draw(line_ends)
    end = draw(mostly(st.just(b"\r\n"), st.sampled_from([b"", b"\n", b"\r"])))
    return request_line + draw(header_sections) + end + draw(trailing)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A body in the chunked transfer coding (RFC 9112 §7.1), sometimes malformed."""
    body = b""
    for data in draw(st.lists(st.binary(min_size=1, max_size=10), min_size=1, max_size=4)):
        size = draw(st.sampled_from(["{:x}", "{:X}", "{:04x}"])).format(len(data)).encode()
        size = draw(
            mostly(st.just(size), st.sampled_from([b"", b"z", b" 5", b"5 ", b"0" * 16, b"\xe9"]))
        )
        ext = draw(st.sampled_from([b"", b"", b"", b";name=value", b";", b" ;x"]))
        end = draw(mostly(st.just(b"\r\n"), st.sampled_from([b"", b"XY", b"\n", b"\r"])))
        body += size + ext + b"\r\n" + data + end
    last = draw(st.sampled_from([b"0", b"000", b"0;ext"]))
    trailers = draw(mostly(st.just(b""), header_sections, odds=2))
    return body + last + b"\r\n" + trailers + b"\r\n"


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=40))
    version = draw(
        mostly(
            st.just(b"HTTP/1.1"),
            st.sampled_from([b"HTTP/1.0", b"HTTP/2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ", b""]),
        )
    )
    status = draw(
        mostly(
            # Statuses with a body, mostly: 1xx, 204 and 304 skip body framing altogether.
            st.sampled_from([b"200", b"200", b"400", b"426", b"101", b"204", b"304", b"199"]),
            st.one_of(
                st.integers(0, 1000).map(lambda n: str(n).encode()),
                st.sampled_from(
                    [b"", b"0200", b"+20", b"2_0", b"abc", b"\xd9\xa0", b"0" * 19 + b"1"]
                ),
            ),
        )
    )
    reason = draw(
        mostly(
            st.one_of(
                st.sampled_from([b" OK", b" Switching Protocols", b" "]),
                field_values.map(lambda value: b" " + value),
            ),
            st.just(b""),
        )
    )
    status_line = version + b" " + status + reason + draw(line_ends)
    headers = draw(header_sections)
    framing = draw(
        st.sampled_from(["none", "length", "length", "chunked", "chunked", "both", "twice"])
    )
    payload = draw(st.binary(min_size=1, max_size=20))
    if framing == "length":
        length = draw(mostly(st.just(len(payload)), st.integers(0, 25), odds=3))
        headers += b"Content-Length: " + str(length).encode() + b"\r\n"
        body = payload
    elif framing == "chunked":
        headers += b"Transfer-Encoding: chunked\r\n"
        body = draw(chunked_bodies())
    elif framing == "both":
        headers += b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"
        body = draw(chunked_bodies())
    elif framing == "twice":
        headers += draw(
            st.sampled_from(
                [
                    b"Content-Length: 3\r\nContent-Length: 3\r\n",
                    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                ]
            )
        )
        body = payload
    else:
        body = payload
    end = draw(mostly(st.just(b"\r\n"), st.sampled_from([b"", b"\n"])))
    return status_line + headers + end + body + draw(trailing)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (any order, repeats allowed: empty chunks)."""
    points = sorted(min(cut, len(data)) for cut in cuts)
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


cut_lists = st.lists(st.integers(0, 400), max_size=12)
# A proxy's response has no body; usually test the body.
proxies = mostly(st.just(False), st.just(True), odds=3)
small_limits = st.tuples(
    st.sampled_from([4, 16, 24, 40, 8192]),  # line length, CRLF included
    st.sampled_from([0, 1, 3, 128]),  # headers
    st.sampled_from([0, 5, 16, 1 << 20]),  # body
)

DIFFERENTIAL = settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@needs_websockets
class TestDifferential:
    """Same chunks in, same result out, as websockets.http11."""

    @DIFFERENTIAL
    @given(data=requests(), cuts=cut_lists)
    def test_requests(self, data: bytes, cuts: list[int]) -> None:
        assert_same("request", split(data, cuts))

    @DIFFERENTIAL
    @given(data=responses(), cuts=cut_lists, proxy=proxies)
    def test_responses(self, data: bytes, cuts: list[int], proxy: bool) -> None:
        assert_same("response", split(data, cuts), proxy=proxy)

    @DIFFERENTIAL
    @given(data=requests(), cuts=cut_lists, bounds=small_limits)
    def test_requests_under_small_limits(
        self, data: bytes, cuts: list[int], bounds: tuple[int, int, int]
    ) -> None:
        with limits(*bounds):
            assert_same("request", split(data, cuts))

    @DIFFERENTIAL
    @given(data=responses(), cuts=cut_lists, proxy=proxies, bounds=small_limits)
    def test_responses_under_small_limits(
        self, data: bytes, cuts: list[int], proxy: bool, bounds: tuple[int, int, int]
    ) -> None:
        with limits(*bounds):
            assert_same("response", split(data, cuts), proxy=proxy)

    @DIFFERENTIAL
    @given(data=st.one_of(requests(), responses()), cuts=cut_lists)
    def test_incomplete_without_eof_waits(self, data: bytes, cuts: list[int]) -> None:
        # Without EOF, both either finish, fail, or wait for more at the same point.
        for kind in ("request", "response"):
            assert_same(kind, split(data, cuts), eof=False)


# EOF at every byte of a message.

EOF_MESSAGES = [
    (
        "request",
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
    ),
    (
        "response",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    ),
    (
        "response",
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\r\n"
        b"missing Sec-WebSocket-Key header",
    ),
    (
        "response",
        b"HTTP/1.1 426 Upgrade Required\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"7;lang=en\r\nupgrade\r\n9\r\n required\r\n0\r\nExpires: never\r\n\r\n",
    ),
]


class TestEOF:
    @pytest.mark.parametrize(("kind", "message"), EOF_MESSAGES)
    def test_eof_at_every_byte(self, kind: str, message: bytes) -> None:
        assert parse("wsfast", kind, [message])[0] == "ok"
        for end in range(len(message)):
            prefix = message[:end]
            # Without EOF, any prefix is waiting for more, not an error.
            assert parse("wsfast", kind, [prefix], eof=False) == ("pending",), end
            # With EOF, any prefix is a clean EOFError, the same as websockets'.
            ours = assert_same(kind, [prefix])
            assert ours[0] == "exc" and ours[1][0] == "EOFError", (end, ours)
            # Byte by byte, the parser reaches the same state and the same error.
            assert parse("wsfast", kind, [bytes([b]) for b in prefix]) == ours

    def test_eof_messages(self) -> None:
        assert parse("wsfast", "request", []) == (
            "exc",
            (
                "EOFError",
                "connection closed while reading HTTP request line",
                ("EOFError", "stream ends after 0 bytes, before end of line"),
                True,
            ),
        )
        assert parse("wsfast", "response", [b"HTTP/1.1 200 OK\r\nA: b"])[1][:2] == (
            "EOFError",
            "connection closed while reading HTTP headers",
        )
        assert parse("wsfast", "response", [b"HTTP/1.1"])[1][:2] == (
            "EOFError",
            "connection closed while reading HTTP status line",
        )

    def test_body_until_eof(self) -> None:
        # Without framing headers, the body runs to EOF (RFC 9112 §6.3): EOF ends it cleanly.
        message = b"HTTP/1.1 200 OK\r\n\r\nhello"
        for end in range(message.index(b"hello"), len(message) + 1):
            ours = assert_same("response", [message[:end]])
            assert ours[0] == "ok" and ours[1][5] == message[message.index(b"hello") : end]


# Limits at their exact boundaries, with the default values.


def request_with_line(length: int) -> bytes:
    """A request whose request line is ``length`` bytes long, CRLF included."""
    fixed = len(b"GET / HTTP/1.1\r\n")
    return b"GET /" + b"a" * (length - fixed) + b" HTTP/1.1\r\n\r\n"


def header_line(length: int) -> bytes:
    """A header line ``length`` bytes long, CRLF included."""
    return b"X: " + b"v" * (length - 5) + b"\r\n"


def too_long(length: int) -> str:
    return f"read {length} bytes, expected no more than {MAX_LINE_LENGTH} bytes"


class TestLimits:
    @needs_websockets
    def test_defaults_match_websockets(self) -> None:
        assert (MAX_LINE_LENGTH, MAX_NUM_HEADERS, MAX_BODY_SIZE) == (
            ws_http11.MAX_LINE_LENGTH,
            ws_http11.MAX_NUM_HEADERS,
            ws_http11.MAX_BODY_SIZE,
        )

    def test_request_line(self) -> None:
        assert assert_same("request", [request_with_line(MAX_LINE_LENGTH)])[0] == "ok"
        with pytest.raises(RequestLineTooLong, match=f"^{too_long(MAX_LINE_LENGTH + 1)}$"):
            parse_wsfast(request_with_line(MAX_LINE_LENGTH + 1))
        assert assert_same("request", [request_with_line(MAX_LINE_LENGTH + 1)])[1][0] == (
            "RequestLineTooLong"
        )

    def test_request_line_without_lf(self) -> None:
        # The limit applies before the line ends, so a peer can't make us buffer more.
        ours = parse("wsfast", "request", [b"GET /" + b"a" * MAX_LINE_LENGTH], eof=False)
        assert ours[1][:2] == ("RequestLineTooLong", too_long(MAX_LINE_LENGTH + 5))

    @pytest.mark.parametrize("kind", ["request", "response"])
    def test_header_line(self, kind: str) -> None:
        start = b"GET / HTTP/1.1\r\n" if kind == "request" else b"HTTP/1.1 101 OK\r\n"
        ok = start + header_line(MAX_LINE_LENGTH) + b"\r\n"
        assert assert_same(kind, [ok])[0] == "ok"
        bad = start + header_line(MAX_LINE_LENGTH + 1) + b"\r\n"
        with pytest.raises(HeaderLineTooLong, match=f"^{too_long(MAX_LINE_LENGTH + 1)}$"):
            parse_wsfast(bad, kind)
        assert assert_same(kind, [bad])[1][0] == "HeaderLineTooLong"

    def test_status_line(self) -> None:
        fixed = len(b"HTTP/1.1 101 \r\n")
        for length, ok in [(MAX_LINE_LENGTH, True), (MAX_LINE_LENGTH + 1, False)]:
            message = b"HTTP/1.1 101 " + b"r" * (length - fixed) + b"\r\n\r\n"
            ours = assert_same("response", [message])
            if ok:
                assert ours[0] == "ok"
            else:
                assert ours[1][:2] == ("StatusLineTooLong", too_long(length))
                with pytest.raises(StatusLineTooLong):
                    parse_wsfast(message, "response")

    @pytest.mark.parametrize("kind", ["request", "response"])
    def test_number_of_headers(self, kind: str) -> None:
        start = b"GET / HTTP/1.1\r\n" if kind == "request" else b"HTTP/1.1 101 OK\r\n"
        ok = start + b"X: y\r\n" * MAX_NUM_HEADERS + b"\r\n"
        assert assert_same(kind, [ok])[0] == "ok"
        bad = start + b"X: y\r\n" * (MAX_NUM_HEADERS + 1) + b"\r\n"
        match = f"^expected no more than {MAX_NUM_HEADERS} headers$"
        with pytest.raises(TooManyHeaders, match=match):
            parse_wsfast(bad, kind)
        assert assert_same(kind, [bad])[1][0] == "TooManyHeaders"

    def test_too_many_headers_raised_without_waiting(self) -> None:
        # One header too many is enough to know: no need to wait for the end of the section.
        request = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_NUM_HEADERS + 1)
        assert parse("wsfast", "request", [request], eof=False)[1][0] == "TooManyHeaders"

    def test_number_of_trailers(self) -> None:
        start = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        ok = start + b"X: y\r\n" * MAX_NUM_HEADERS + b"\r\n"
        assert assert_same("response", [ok])[0] == "ok"
        bad = start + b"X: y\r\n" * (MAX_NUM_HEADERS + 1) + b"\r\n"
        assert assert_same("response", [bad])[1][0] == "TooManyHeaders"

    def test_content_length(self) -> None:
        start = b"HTTP/1.1 200 OK\r\nContent-Length: "
        ok = start + str(MAX_BODY_SIZE).encode() + b"\r\n\r\n" + b"x" * MAX_BODY_SIZE
        assert len(assert_same("response", [ok])[1][5]) == MAX_BODY_SIZE
        bad = start + str(MAX_BODY_SIZE + 1).encode() + b"\r\n\r\n"
        # Refused from the header alone, before any of the body is read.
        ours = assert_same("response", [bad], eof=False)
        assert ours[1][:2] == ("SecurityError", f"body too large: {MAX_BODY_SIZE + 1} bytes")

    def test_chunked(self) -> None:
        start = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        half = MAX_BODY_SIZE // 2
        ok = (
            start
            + f"{half:x}\r\n".encode() + b"x" * half + b"\r\n"
            + f"{MAX_BODY_SIZE - half:x}\r\n".encode() + b"x" * (MAX_BODY_SIZE - half) + b"\r\n"
            + b"0\r\n\r\n"
        )  # fmt: skip
        assert len(assert_same("response", [ok])[1][5]) == MAX_BODY_SIZE
        bad = start + f"{half:x}\r\n".encode() + b"x" * half + b"\r\n"
        bad += f"{MAX_BODY_SIZE - half + 1:x}\r\n".encode()
        ours = assert_same("response", [bad], eof=False)
        assert ours[1][:2] == (
            "SecurityError",
            f"chunk too large: {MAX_BODY_SIZE - half + 1} bytes after {half} bytes",
        )

    def test_body_until_eof(self) -> None:
        start = b"HTTP/1.1 200 OK\r\n\r\n"
        ok = assert_same("response", [start, b"x" * MAX_BODY_SIZE])
        assert len(ok[1][5]) == MAX_BODY_SIZE
        bad = assert_same("response", [start, b"x" * MAX_BODY_SIZE, b"x"])
        assert bad[1][:2] == (
            "SecurityError",
            f"read {MAX_BODY_SIZE + 1} bytes, expected no more than {MAX_BODY_SIZE} bytes",
        )

    def test_chunk_size_line(self) -> None:
        start = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for length, ok in [(MAX_LINE_LENGTH, True), (MAX_LINE_LENGTH + 1, False)]:
            line = b"5;" + b"e" * (length - 4) + b"\r\n"
            ours = assert_same("response", [start + line + b"hello\r\n0\r\n\r\n"])
            if ok:
                assert ours[0] == "ok"
            else:
                # Not a header line: websockets raises the generic SecurityError, and so do we.
                assert ours[1][:2] == ("SecurityError", too_long(length))

    @pytest.mark.parametrize(
        "exc_type", [RequestLineTooLong, StatusLineTooLong, HeaderLineTooLong, TooManyHeaders]
    )
    def test_precise_types_are_security_errors(self, exc_type: type[Exception]) -> None:
        assert issubclass(exc_type, SecurityError)
        assert issubclass(exc_type, InvalidHandshake)

    def test_limits_patched_at_run_time(self) -> None:
        with limits(line=20, num_headers=1, body=3):
            with pytest.raises(RequestLineTooLong):
                parse_wsfast(request_with_line(21))
            with pytest.raises(TooManyHeaders, match="^expected no more than 1 headers$"):
                parse_wsfast(b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n")
            with pytest.raises(SecurityError, match="^body too large: 4 bytes$"):
                parse_wsfast(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", "response")

    def test_environment_variables(self) -> None:
        code = (
            "import wsfast.http11 as f;"
            "print(f.MAX_NUM_HEADERS, f.MAX_LINE_LENGTH, f.MAX_BODY_SIZE)"
        )
        if HAVE_WEBSOCKETS:
            code += (
                ";import websockets.http11 as w;"
                "print(w.MAX_NUM_HEADERS, w.MAX_LINE_LENGTH, w.MAX_BODY_SIZE)"
            )
        env = dict(
            os.environ,
            WEBSOCKETS_MAX_NUM_HEADERS="7",
            WEBSOCKETS_MAX_LINE_LENGTH="333",
            WEBSOCKETS_MAX_BODY_SIZE="4_096",
        )
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout.splitlines() == ["7 333 4096"] * (2 if HAVE_WEBSOCKETS else 1)

    def test_environment_variables_take_effect(self) -> None:
        code = (
            "import wsfast.http11 as h, wsfast.streams as s\n"
            "r = s.StreamReader()\n"
            "r.feed_data(b'GET / HTTP/1.1\\r\\nA: b\\r\\nC: d\\r\\n\\r\\n')\n"
            "r.feed_eof()\n"
            "try:\n"
            "    next(h.Request.parse(r.read_line))\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, e)\n"
        )
        env = dict(os.environ, WEBSOCKETS_MAX_NUM_HEADERS="1")
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "TooManyHeaders expected no more than 1 headers"


# Start-line: methods and versions that a server answers with 405 and 505.


class TestStartLine:
    def test_handshake_request(self) -> None:
        request = parse_wsfast(EOF_MESSAGES[0][1])
        assert request.method == "GET"
        assert request.path == "/chat"
        assert request.protocol == "HTTP/1.1"
        assert request.headers["Sec-WebSocket-Version"] == "13"

    @pytest.mark.parametrize("method", ["POST", "HEAD", "get", "CONNECT"])
    def test_other_methods_parse(self, method: str) -> None:
        # As in websockets: the method is the server's decision (405 Method Not Allowed).
        request = parse_wsfast(f"{method} / HTTP/1.1\r\n\r\n".encode())
        assert request.method == method

    def test_http_1_0_parses(self) -> None:
        # As in websockets: the server answers 505 from Request.protocol.
        assert parse_wsfast(b"GET / HTTP/1.0\r\n\r\n").protocol == "HTTP/1.0"

    @pytest.mark.parametrize("version", ["HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/0.9", "HTTP/1.2"])
    def test_unsupported_version(self, version: str) -> None:
        with pytest.raises(UnsupportedHTTPVersion) as raised:
            parse_wsfast(f"GET / {version}\r\n\r\n".encode())
        exc = raised.value
        assert isinstance(exc, ValueError)  # what websockets raises and callers catch
        assert isinstance(exc, InvalidProtocol)  # what a server maps to 505
        assert exc.protocol == version
        assert str(exc) == f"unsupported protocol; expected HTTP/1.1 or HTTP/1.0: GET / {version}"
        assert exc.args == (str(exc),)

    @pytest.mark.parametrize(
        "request_line",
        [
            b"GET / http/1.1",
            b"GET / HTTP/1.1 ",
            b"GET a b HTTP/1.1",
            b"GET / HTTP/11",
            b"GET / HTTP/1.12",
        ],
    )
    def test_malformed_version_is_not_505(self, request_line: bytes) -> None:
        # A third field that isn't an HTTP-version (RFC 9112 §2.3) is a malformed request
        # line, answered with 400: a plain ValueError, exactly as websockets raises.
        with pytest.raises(ValueError, match="^unsupported protocol; ") as raised:
            parse_wsfast(request_line + b"\r\n\r\n")
        assert type(raised.value) is ValueError

    def test_unsupported_version_in_response(self) -> None:
        match = "^unsupported protocol; expected HTTP/1.1: "
        with pytest.raises(UnsupportedHTTPVersion, match=match):
            parse_wsfast(b"HTTP/1.0 200 OK\r\n\r\n", "response")
        response = parse_wsfast(b"HTTP/1.0 200 OK\r\n\r\n", "response", proxy=True)
        assert response.status_code == 200

    def test_unsupported_version_pickles(self) -> None:
        exc = UnsupportedHTTPVersion("unsupported protocol; expected HTTP/1.1: x", "HTTP/2")
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is UnsupportedHTTPVersion
        assert (str(copy), copy.protocol, copy.args) == (str(exc), exc.protocol, exc.args)

    def test_request_line_needs_three_fields(self) -> None:
        with pytest.raises(ValueError, match="^invalid HTTP request line: GET /$"):
            parse_wsfast(b"GET /\r\n\r\n")

    def test_non_ascii_request_line(self) -> None:
        with pytest.raises(UnicodeDecodeError):
            parse_wsfast(b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n")

    def test_bare_lf(self) -> None:
        # websockets rejects a bare LF as a line end (RFC 9112 §2.2 allows either choice).
        match = "^connection closed while reading HTTP request line$"
        with pytest.raises(EOFError, match=match) as raised:
            parse_wsfast(b"GET / HTTP/1.1\n\r\n")
        assert str(raised.value.__cause__) == "line without CRLF"

    @pytest.mark.parametrize(
        ("status_line", "message"),
        [
            (b"HTTP/1.1 200", "invalid HTTP status line: HTTP/1.1 200"),
            (b"HTTP/1.1 +20 OK", "invalid status code; expected integer; got +20"),
            (b"HTTP/1.1 099 OK", "invalid status code; expected 100–599; got 099"),
            (b"HTTP/1.1 600 OK", "invalid status code; expected 100–599; got 600"),
            (b"HTTP/1.1 200 O\x00K", "invalid HTTP reason phrase: O\x00K"),
        ],
    )
    def test_invalid_status_line(self, status_line: bytes, message: str) -> None:
        with pytest.raises(ValueError) as raised:
            parse_wsfast(status_line + b"\r\n\r\n", "response")
        assert str(raised.value) == message
        assert_same("response", [status_line + b"\r\n\r\n"])

    def test_reason_phrase_latin_1(self) -> None:
        response = parse_wsfast(b"HTTP/1.1 200 Tr\xe8s bien\r\n\r\n", "response")
        assert response.reason_phrase == "Très bien"


# Header fields (RFC 9110 §5, RFC 9112 §5).


class TestHeaders:
    def test_ows_is_stripped(self) -> None:
        request = parse_wsfast(b"GET / HTTP/1.1\r\nA:\t b c \t\r\nB:\r\n\r\n")
        assert list(request.headers.raw_items()) == [("A", "b c"), ("B", "")]

    def test_repeated_headers_kept(self) -> None:
        request = parse_wsfast(b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n")
        assert request.headers.get_all("A") == ["1", "2"]
        assert isinstance(request.headers, Headers)

    def test_obs_text_as_latin_1(self) -> None:
        request = parse_wsfast(b"GET / HTTP/1.1\r\nA: caf\xe9\r\n\r\n")
        assert request.headers["A"] == "café"

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            # RFC 9112 §5.2: obs-fold is rejected rather than unfolded.
            (b" folded", "invalid HTTP header line:  folded"),
            (b"\tB: c", "invalid HTTP header name: \tB"),
            # RFC 9112 §5.1: no whitespace between field name and colon.
            (b"A : b", "invalid HTTP header name: A "),
            (b"A", "invalid HTTP header line: A"),
            (b": b", "invalid HTTP header name: "),
            (b"\xe9: b", "invalid HTTP header name: \\xe9"),
            # RFC 9110 §5.5: CR, LF, NUL and other controls aren't field content.
            (b"A: b\x00", "invalid HTTP header value: b\x00"),
            (b"A: b\rc", "invalid HTTP header value: b\rc"),
            (b"A: \x7f", "invalid HTTP header value: \x7f"),
        ],
    )
    def test_invalid_field_lines(self, line: bytes, message: str) -> None:
        first = b"GET / HTTP/1.1\r\n"
        if line.startswith((b" ", b"\t")):
            first += b"A: b\r\n"  # a continuation needs a line to continue
        data = first + line + b"\r\n\r\n"
        with pytest.raises(ValueError) as raised:
            parse_wsfast(data)
        assert str(raised.value) == message
        assert_same("request", [data])

    def test_whitespace_before_first_header(self) -> None:
        # RFC 9112 §2.2: a whitespace-preceded line after the start-line is invalid.
        with pytest.raises(ValueError, match="^invalid HTTP header name:  Host$"):
            parse_wsfast(b"GET / HTTP/1.1\r\n Host: x\r\n\r\n")


# Message body framing (RFC 9112 §6).


class TestBody:
    def test_request_with_transfer_encoding(self) -> None:
        with pytest.raises(NotImplementedError, match="^transfer codings aren't supported$"):
            parse_wsfast(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")

    @pytest.mark.parametrize("values", [[b"0"], [b"0", b"0"]])
    def test_request_with_empty_body(self, values: list[bytes]) -> None:
        headers = b"".join(b"Content-Length: " + value + b"\r\n" for value in values)
        request = parse_wsfast(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
        assert request.headers.get_all("Content-Length") == [v.decode() for v in values]

    @pytest.mark.parametrize("values", [[b"5"], [b"00"], [b"0, 0"], [b"0", b"1"], [b"x"]])
    def test_request_with_body(self, values: list[bytes]) -> None:
        headers = b"".join(b"Content-Length: " + value + b"\r\n" for value in values)
        with pytest.raises(ValueError, match="^unsupported request body$"):
            parse_wsfast(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")

    def test_request_leaves_following_data(self) -> None:
        # A handshake request ends with its header section; what follows is frames.
        assert assert_same("request", [b"GET / HTTP/1.1\r\n\r\n\x81\x05hello"])[2] == (
            b"\x81\x05hello"
        )

    @pytest.mark.parametrize("status", [100, 101, 199, 204, 304])
    def test_statuses_without_body(self, status: int) -> None:
        # RFC 9112 §6.3 rule 1: these end with the header section, whatever it says.
        message = f"HTTP/1.1 {status} X\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n"
        ours = assert_same("response", [message.encode() + b"hello"])
        assert ours[1][5] == b"" and ours[2] == b"hello"

    def test_content_length(self) -> None:
        response = parse_wsfast(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "response")
        assert response.body == b"hello"

    @pytest.mark.parametrize("value", [b"-1", b"+5", b"5, 5", b"0x5", b"", b"1" * 19, b"\xd9\xa0"])
    def test_invalid_content_length(self, value: bytes) -> None:
        message = b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nhello"
        with pytest.raises(SecurityError, match="^invalid content length: "):
            parse_wsfast(message, "response")
        assert_same("response", [message])

    def test_repeated_content_length(self) -> None:
        message = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
        with pytest.raises(MultipleValuesError):
            parse_wsfast(message, "response")
        assert_same("response", [message])

    def test_chunked(self) -> None:
        message = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nTrailer: yes\r\n\r\nnext"
        )
        ours = assert_same("response", [message])
        assert ours[1][4:6] == ("bytes", b"hello, world!!!") and ours[2] == b"next"

    def test_transfer_encoding_overrides_content_length(self) -> None:
        # RFC 9112 §6.3 rule 3.
        message = (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nhi\r\n0\r\n\r\n"
        )
        assert parse_wsfast(message, "response").body == b"hi"

    @pytest.mark.parametrize("coding", [b"gzip", b"Chunked", b"gzip, chunked", b"identity"])
    def test_unsupported_transfer_coding(self, coding: bytes) -> None:
        message = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
        with pytest.raises(NotImplementedError, match="^transfer coding .* isn't supported$"):
            parse_wsfast(message, "response")
        assert_same("response", [message])

    def test_repeated_transfer_encoding(self) -> None:
        message = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        with pytest.raises(LookupError):
            parse_wsfast(message, "response")
        assert_same("response", [message])

    @pytest.mark.parametrize(
        ("chunks", "exc_type", "message"),
        [
            (b"z\r\n", SecurityError, "invalid chunk size: z"),
            (b"5 \r\nhello\r\n", SecurityError, "invalid chunk size: 5 "),
            (b"0" * 16 + b"\r\n", SecurityError, "invalid chunk size: " + "0" * 16),
            (b"5\r\nhelloXY0\r\n\r\n", ValueError, "chunk without CRLF"),
            (b"5\r\nhello\r\n0\r\nbad\r\n\r\n", ValueError, "invalid HTTP header line: bad"),
        ],
    )
    def test_invalid_chunks(self, chunks: bytes, exc_type: type[Exception], message: str) -> None:
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
        with pytest.raises(exc_type) as raised:
            parse_wsfast(data, "response")
        assert str(raised.value) == message
        assert_same("response", [data])

    def test_proxy_response_has_no_body(self) -> None:
        # A CONNECT response's tunnel starts right after the header section.
        data = b"HTTP/1.1 200 Connection established\r\nContent-Length: 5\r\n\r\nhello"
        ours = assert_same("response", [data], proxy=True)
        assert ours[1][5] == b"" and ours[2] == b"hello"


# Serialization and the dataclasses.


header_items = st.lists(
    st.tuples(
        tokens.map(bytes.decode),
        bytes_from(VALUE_OK.replace(b"\t", b""), 0, 10).map(lambda b: b.decode("latin-1").strip()),
    ),
    max_size=4,
)


class TestSerialize:
    @settings(max_examples=200, deadline=None)
    @given(
        path=bytes_from(VCHAR, 1, 20).map(bytes.decode),
        items=header_items,
        method=st.sampled_from(["GET", "POST"]),
        protocol=st.sampled_from(["HTTP/1.1", "HTTP/1.0"]),
    )
    def test_request(
        self, path: str, items: list[tuple[str, str]], method: str, protocol: str
    ) -> None:
        ours = Request(path, Headers(items), method, protocol)
        data = ours.serialize()
        if HAVE_WEBSOCKETS:
            theirs = ws_http11.Request(path, ws_datastructures.Headers(items), method, protocol)
            assert data == theirs.serialize()
        assert parse_wsfast(data) == ours

    @settings(max_examples=200, deadline=None)
    @given(
        status=st.one_of(st.integers(100, 599), st.sampled_from(list(http.HTTPStatus))),
        reason=bytes_from(VALUE_OK, 0, 20).map(lambda b: b.decode("latin-1")),
        items=header_items,
        body=st.one_of(st.binary(max_size=20), st.binary(max_size=20).map(bytearray)),
    )
    def test_response(
        self, status: int, reason: str, items: list[tuple[str, str]], body: bytes
    ) -> None:
        ours = Response(status, reason, Headers(items), body)
        data = ours.serialize()
        if HAVE_WEBSOCKETS:
            theirs = ws_http11.Response(status, reason, ws_datastructures.Headers(items), body)
            assert data == theirs.serialize()
        # Round trip, when the headers don't frame the body differently from the bytes.
        if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in items):
            parsed = parse_wsfast(data, "response")
            assert (parsed.status_code, parsed.reason_phrase, parsed.headers) == (
                status,
                reason,
                ours.headers,
            )
            if not (100 <= status < 200 or status in (204, 304)):
                assert parsed.body == body

    def test_unencodable(self) -> None:
        with pytest.raises(UnicodeEncodeError):
            Request("/café", Headers()).serialize()
        with pytest.raises(UnicodeEncodeError):
            Response(200, "€", Headers()).serialize()


class TestDataclasses:
    @needs_websockets
    @pytest.mark.parametrize("ours", [Request, Response])
    def test_fields(self, ours: type) -> None:
        def fields(cls: type) -> list[tuple[str, Any]]:
            return [(f.name, f.default) for f in dataclasses.fields(cls)]

        assert fields(ours) == fields(getattr(ws_http11, ours.__name__))

    def test_equality_and_repr(self) -> None:
        ours = Request("/", Headers([("Host", "x")]))
        assert ours == Request("/", Headers([("Host", "x")]))
        assert ours != Request("/", Headers([("Host", "x")]), method="POST")
        if not HAVE_WEBSOCKETS:
            return
        theirs = ws_http11.Request("/", ws_datastructures.Headers([("Host", "x")]))
        assert repr(ours) == repr(theirs)
        response = Response(101, "Switching Protocols", Headers())
        their_response = ws_http11.Response(
            101, "Switching Protocols", ws_datastructures.Headers()
        )
        assert repr(response) == repr(their_response)

    @pytest.mark.parametrize(
        ("message", "server_or_client"),
        [
            (Request("/", Headers()), "ServerProtocol"),
            (Response(200, "OK", Headers()), "ClientProtocol"),
        ],
    )
    def test_deprecated_exception_attribute(self, message: Any, server_or_client: str) -> None:
        exc = ValueError("spam")
        message._exception = exc
        with pytest.warns(DeprecationWarning) as record:
            assert message.exception is exc
        name = type(message).__name__
        assert str(record[0].message) == (
            f"{name}.exception is deprecated; use {server_or_client}.handshake_exc instead"
        )
        assert record[0].filename == __file__

    @needs_websockets
    def test_signatures(self) -> None:
        assert list(inspect.signature(Request.parse).parameters) == list(
            inspect.signature(ws_http11.Request.parse).parameters
        )
        assert list(inspect.signature(Response.parse).parameters) == list(
            inspect.signature(ws_http11.Response.parse).parameters
        )


# Cost: many tiny feeds stay linear.


def feed_byte_by_byte(data: bytes) -> Response:
    reader = StreamReader()
    gen = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
    view = memoryview(data)
    try:
        next(gen)
        for i in range(len(data)):
            reader.feed_data(view[i : i + 1])
            next(gen)
        reader.feed_eof()
        next(gen)
    except StopIteration as exc:
        return exc.value
    raise AssertionError("parser didn't complete")


def assert_linear(work: Callable[[int], None], small: int, factor: int = 8) -> None:
    """``work(small * factor)`` costs about ``factor`` times ``work(small)``, not its square."""

    def best(n: int) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            work(n)
            times.append(time.perf_counter() - start)
        return min(times)

    work(small)  # warm up
    ratio = best(small * factor) / best(small)
    assert ratio < factor * 3, f"{ratio:.1f}x the time for {factor}x the data"


class TestCost:
    def test_content_length_body_one_byte_feeds(self) -> None:
        def work(n: int) -> None:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n".encode()
            assert len(feed_byte_by_byte(head + b"x" * n).body) == n

        assert_linear(work, MAX_BODY_SIZE // 8)  # up to 1 MiB

    def test_body_until_eof_one_byte_feeds(self) -> None:
        def work(n: int) -> None:
            assert len(feed_byte_by_byte(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * n).body) == n

        assert_linear(work, MAX_BODY_SIZE // 8)

    def test_chunked_body_small_chunks(self) -> None:
        def work(n: int) -> None:
            chunk = b"10\r\n" + b"x" * 16 + b"\r\n"
            data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            data += chunk * (n // 16) + b"0\r\n\r\n"
            reader = StreamReader()
            gen = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
            next(gen)
            reader.feed_data(data)
            with pytest.raises(StopIteration) as stop:
                next(gen)
            assert len(stop.value.value.body) == n

        assert_linear(work, MAX_BODY_SIZE // 8)


def test_no_warnings_on_import() -> None:
    subprocess.run([sys.executable, "-W", "error", "-c", "import wsfast.http11"], check=True)
