"""HTTP/1.1 messages of the WebSocket opening handshake (RFC 6455 §4, RFC 9112).

:class:`Request` and :class:`Response` have the interface and the behaviour of
``websockets.http11`` 17.x: same fields, same generator-based ``parse()`` classmethods fed by a
:class:`~wsfast.streams.StreamReader`, same ``serialize()``, same limits and environment
variables, same exception types and messages. Parsing is strict where RFC 9112 lets a
recipient choose between rejecting and repairing a message: a handshake has no reason to use
obsolete syntax, and lenient parsing is how request smuggling starts.

Rejections that a server answers with a specific status are told apart by type, so that
``except ValueError`` / ``except SecurityError`` written for websockets keeps working:

* request line too long: :exc:`~wsfast.exceptions.RequestLineTooLong` (414);
* header line too long, too many headers: :exc:`~wsfast.exceptions.HeaderLineTooLong`,
  :exc:`~wsfast.exceptions.TooManyHeaders` (431);
* a well-formed HTTP version that isn't supported: :exc:`UnsupportedHTTPVersion`, a
  :exc:`ValueError` with websockets' message that is also an
  :exc:`~wsfast.exceptions.InvalidProtocol` (505);
* a method other than GET and HTTP/1.0 parse successfully, as in websockets; the server reads
  :attr:`Request.method` (405) and :attr:`Request.protocol` (505).

Limits, read from the environment when this module is imported, as in websockets:

* ``WEBSOCKETS_MAX_NUM_HEADERS`` (default 128): fields per header (or trailer) section;
* ``WEBSOCKETS_MAX_LINE_LENGTH`` (default 8192): bytes per line, CRLF included;
* ``WEBSOCKETS_MAX_BODY_SIZE`` (default 1 MiB): bytes of response body.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import warnings
from collections.abc import Callable, Generator
from importlib import metadata

from .datastructures import Headers
from .exceptions import (
    HeaderLineTooLong,
    InvalidProtocol,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "SERVER",
    "USER_AGENT",
    "Request",
    "Response",
    "UnsupportedHTTPVersion",
    "parse_headers",
    "parse_line",
    "read_body",
]

PYTHON_VERSION = "{}.{}".format(*sys.version_info)

try:
    _WSFAST_VERSION = metadata.version("wsfast")
except metadata.PackageNotFoundError:  # running from a source tree that isn't installed
    _WSFAST_VERSION = "unknown"

# Default values of the User-Agent request header and the Server response header.
USER_AGENT = f"Python/{PYTHON_VERSION} wsfast/{_WSFAST_VERSION}"
SERVER = f"Python/{PYTHON_VERSION} wsfast/{_WSFAST_VERSION}"

# Security limits. The functions below read these globals at call time, so that assigning a
# new value to the module attribute takes effect, as in websockets.

# Fields in a header section (a trailer section counts on its own). A legitimate handshake
# needs a dozen or two; the bound keeps a peer from making us build an unbounded Headers.
MAX_NUM_HEADERS = int(os.environ.get("WEBSOCKETS_MAX_NUM_HEADERS", "128"))

# Bytes in any line, CRLF included. Large enough for long cookies and URLs, small enough that
# a line without LF can't pin much memory (RFC 9112 §2.3 leaves the limit to the recipient).
MAX_LINE_LENGTH = int(os.environ.get("WEBSOCKETS_MAX_LINE_LENGTH", "8192"))

# Bytes in a response body. Only rejections carry a body, meant for a person to read.
MAX_BODY_SIZE = int(os.environ.get("WEBSOCKETS_MAX_BODY_SIZE", "1_048_576"))  # 1 MiB

# token = 1*tchar (RFC 9110 §5.6.2): the syntax of a field name and of a method.
_TOKEN_RE = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")

# field-value = *field-content (RFC 9110 §5.5): visible ASCII, SP, HTAB and obs-text (0x80-0xFF).
# CR, LF, NUL and other controls are excluded, as RFC 9110 §5.5 requires of a recipient
# that doesn't replace them. reason-phrase (RFC 9112 §4) uses the same characters.
_FIELD_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

# A start-line's protocol field that is a syntactically valid HTTP-version, "HTTP/" DIGIT "."
# DIGIT (RFC 9112 §2.3), or the "HTTP/" DIGIT that HTTP/2 and HTTP/3 use in prose. Only such a
# field earns 505 (RFC 9110 §15.6.6); anything else is a malformed start-line, hence 400.
_HTTP_VERSION_RE = re.compile(rb"HTTP/[0-9](?:\.[0-9])?")

# Content-Length = 1*DIGIT (RFC 9110 §8.6), at most 18 of them. ASCII digits only: int() would
# also take signs, underscores, surrounding spaces and non-ASCII digits, which two parsers
# may read differently; that disagreement is what response smuggling exploits.
_CONTENT_LENGTH_RE = re.compile(r"[0-9]{1,18}")

# status-code = 3DIGIT (RFC 9112 §4), read with the same leniency as websockets: leading zeros
# pass, the range is checked after int().
_DIGITS_RE = re.compile(rb"[0-9]{1,18}")

# chunk-size = 1*HEXDIG (RFC 9112 §7.1), at most 15 of them, for the same reason.
_CHUNK_SIZE_RE = re.compile(rb"[0-9a-fA-F]{1,15}")

_ReadLine = Callable[[int, type[Exception]], Generator[None, None, bytes | bytearray]]
_ReadExact = Callable[[int], Generator[None, None, bytes | bytearray]]
_ReadToEOF = Callable[[int, type[Exception]], Generator[None, None, bytes | bytearray]]


class UnsupportedHTTPVersion(ValueError, InvalidProtocol):
    """Raised when a start-line has a well-formed HTTP version other than those supported.

    websockets raises a plain :exc:`ValueError` here, with the same message; this is one, so
    ``except ValueError`` keeps catching it. It is also an
    :exc:`~wsfast.exceptions.InvalidProtocol`, which is what a server answers with
    505 (HTTP Version Not Supported). ``protocol`` is the version received, e.g. ``"HTTP/2.0"``.
    """

    def __init__(self, message: str, protocol: str) -> None:
        # ValueError's constructor, not InvalidProtocol's: args and str() are websockets'
        # message, not InvalidProtocol's "unsupported HTTP version: ...".
        ValueError.__init__(self, message)
        self.protocol = protocol

    def __str__(self) -> str:
        # InvalidProtocol.__str__ would come before BaseException.__str__ in the MRO.
        return str(self.args[0])

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.args[0], self.protocol), self.__dict__)


def _text(value: bytes | bytearray) -> str:
    """Render bytes from the wire in an error message, as websockets does."""
    return value.decode(errors="backslashreplace")


def _unsupported_protocol(message: str, protocol: bytes | bytearray) -> ValueError:
    """The exception for a start-line whose protocol field isn't a supported version."""
    if _HTTP_VERSION_RE.fullmatch(protocol):
        return UnsupportedHTTPVersion(message, protocol.decode("ascii"))
    return ValueError(message)


@dataclasses.dataclass
class Request:
    """WebSocket handshake request.

    ``method`` and ``path`` must contain only ASCII characters. ``headers`` should contain
    only ASCII characters; however, non-ASCII header values are tolerated and encoded as
    ISO-8859-1.

    Attributes:
        path: Request path, including optional query.
        headers: Request headers.
        method: Request method; WebSocket handshake requests use GET.
        protocol: Request protocol; WebSocket handshake requests use HTTP/1.1.
    """

    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"
    # For backwards compatibility: websockets' legacy attribute, read through `exception`.
    _exception: Exception | None = None

    @property
    def exception(self) -> Exception | None:
        """Deprecated since websockets 10.3: read ``ServerProtocol.handshake_exc``."""
        warnings.warn(
            "Request.exception is deprecated; use ServerProtocol.handshake_exc instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._exception

    @classmethod
    def parse(cls, read_line: _ReadLine) -> Generator[None, None, Request]:
        """Parse a WebSocket handshake request.

        This is a generator-based coroutine.

        The request method and path must contain only ASCII characters. The path isn't
        URL-decoded or validated in any way. Header values should contain only ASCII
        characters; however, non-ASCII values are tolerated and decoded as ISO-8859-1.

        Any method is accepted, and so are HTTP/1.1 and HTTP/1.0: the caller decides what to
        do with ``method`` and ``protocol``.

        :meth:`parse` doesn't read a request body: handshake requests don't have one, and a
        request announcing one is rejected.

        Args:
            read_line: Generator-based coroutine that reads a LF-terminated line or raises an
                exception if there isn't enough data.

        Raises:
            EOFError: If the connection is closed without a full HTTP request.
            RequestLineTooLong: If the request line is too long.
            HeaderLineTooLong: If a header line is too long.
            TooManyHeaders: If there are too many headers.
            UnicodeDecodeError: If the request method or path isn't ASCII.
            UnsupportedHTTPVersion: If the HTTP version is well-formed but not supported; a
                :exc:`ValueError`.
            ValueError: If the request isn't well formatted.
            NotImplementedError: If the request uses Transfer-Encoding.
        """
        try:
            request_line = yield from parse_line(read_line, RequestLineTooLong)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP request line") from exc

        # request-line = method SP request-target SP HTTP-version (RFC 9112 §3). A request
        # target contains no SP, so anything else in the third field, including a second SP,
        # makes the protocol check fail below.
        try:
            raw_method, raw_path, protocol = request_line.split(b" ", 2)
        except ValueError:
            raise ValueError(f"invalid HTTP request line: {_text(request_line)}") from None
        if protocol != b"HTTP/1.1" and protocol != b"HTTP/1.0":
            raise _unsupported_protocol(
                f"unsupported protocol; expected HTTP/1.1 or HTTP/1.0: {_text(request_line)}",
                protocol,
            )
        method = raw_method.decode("ascii")
        path = raw_path.decode("ascii")

        headers = yield from parse_headers(read_line)

        # A handshake request has no body (RFC 6455 §4.1). Framing one anyway, with
        # Transfer-Encoding or a non-zero Content-Length (RFC 9112 §6.3), is either a broken
        # client or an attempt to smuggle a second request past an intermediary: refuse it
        # rather than guess where the request ends.
        if "Transfer-Encoding" in headers:
            raise NotImplementedError("transfer codings aren't supported")
        # Some clients send "Content-Length: 0"; that is the only value allowed, and it may
        # be repeated (RFC 9110 §8.6 lets a recipient accept identical duplicates).
        if "Content-Length" in headers:
            if any(value != "0" for value in headers.get_all("Content-Length")):
                raise ValueError("unsupported request body")

        return cls(path, headers, method, protocol.decode("ascii"))

    def serialize(self) -> bytes:
        """Serialize a WebSocket handshake request."""
        # The start-line is ASCII only (RFC 9112 §3); header values may be ISO-8859-1.
        request = f"{self.method} {self.path} {self.protocol}\r\n".encode("ascii")
        request += self.headers.serialize()
        return request


@dataclasses.dataclass
class Response:
    """WebSocket handshake response.

    ``reason_phrase`` and ``headers`` should contain only ASCII characters; however,
    non-ASCII reason phrases and header values are tolerated and encoded as ISO-8859-1.

    Attributes:
        status_code: Response code.
        reason_phrase: Response reason.
        headers: Response headers.
        body: Response body.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes | bytearray = b""
    # For backwards compatibility: websockets' legacy attribute, read through `exception`.
    _exception: Exception | None = None

    @property
    def exception(self) -> Exception | None:
        """Deprecated since websockets 10.3: read ``ClientProtocol.handshake_exc``."""
        warnings.warn(
            "Response.exception is deprecated; use ClientProtocol.handshake_exc instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._exception

    @classmethod
    def parse(
        cls,
        read_line: _ReadLine,
        read_exact: _ReadExact,
        read_to_eof: _ReadToEOF,
        proxy: bool = False,
    ) -> Generator[None, None, Response]:
        """Parse a WebSocket handshake response.

        This is a generator-based coroutine.

        The reason phrase and headers should contain only ASCII characters; however,
        non-ASCII reason phrases and header values are tolerated and decoded as ISO-8859-1.

        Args:
            read_line: Generator-based coroutine that reads a LF-terminated line or raises an
                exception if there isn't enough data.
            read_exact: Generator-based coroutine that reads the requested bytes or raises an
                exception if there isn't enough data.
            read_to_eof: Generator-based coroutine that reads until the end of the stream.
            proxy: Whether this is the response of a proxy to CONNECT: HTTP/1.0 is accepted
                and the body isn't read, since the tunnel starts right after the headers
                (RFC 9110 §9.3.6).

        Raises:
            EOFError: If the connection is closed without a full HTTP response.
            StatusLineTooLong: If the status line is too long.
            HeaderLineTooLong: If a header line is too long.
            TooManyHeaders: If there are too many headers.
            SecurityError: If the response body exceeds a security limit.
            LookupError: If the response isn't well formatted.
            UnsupportedHTTPVersion: If the HTTP version is well-formed but not supported; a
                :exc:`ValueError`.
            ValueError: If the response isn't well formatted.
            NotImplementedError: If the response uses Transfer-Encoding, and it isn't
                "chunked".
        """
        try:
            status_line = yield from parse_line(read_line, StatusLineTooLong)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP status line") from exc

        # status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4): the
        # second SP is required even when the reason phrase is empty.
        try:
            protocol, raw_status_code, raw_reason = status_line.split(b" ", 2)
        except ValueError:
            raise ValueError(f"invalid HTTP status line: {_text(status_line)}") from None
        if proxy:
            if protocol != b"HTTP/1.1" and protocol != b"HTTP/1.0":
                raise _unsupported_protocol(
                    "unsupported protocol; expected HTTP/1.1 or HTTP/1.0: "
                    f"{_text(status_line)}",
                    protocol,
                )
        elif protocol != b"HTTP/1.1":
            raise _unsupported_protocol(
                f"unsupported protocol; expected HTTP/1.1: {_text(status_line)}",
                protocol,
            )
        # status-code = 3DIGIT (RFC 9112 §4). Leading zeros are tolerated, as in websockets,
        # but not signs, underscores or non-ASCII digits, which int() would accept.
        if not _DIGITS_RE.fullmatch(raw_status_code):
            raise ValueError(
                f"invalid status code; expected integer; got {_text(raw_status_code)}"
            )
        status_code = int(raw_status_code)
        if not 100 <= status_code < 600:
            raise ValueError(
                f"invalid status code; expected 100–599; got {_text(raw_status_code)}"
            )
        if not _FIELD_VALUE_RE.fullmatch(raw_reason):
            raise ValueError(f"invalid HTTP reason phrase: {_text(raw_reason)}")
        reason = raw_reason.decode("iso-8859-1")

        headers = yield from parse_headers(read_line)

        body: bytes | bytearray
        if proxy:
            body = b""
        else:
            body = yield from read_body(status_code, headers, read_line, read_exact, read_to_eof)

        return cls(status_code, reason, headers, body)

    def serialize(self) -> bytes:
        """Serialize a WebSocket handshake response."""
        # A non-ASCII reason phrase is tolerated as ISO-8859-1, the encoding of obs-text.
        response = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode("iso-8859-1")
        response += self.headers.serialize()
        response += self.body
        return response


def parse_line(
    read_line: _ReadLine,
    too_long_exc_type: type[Exception] = SecurityError,
) -> Generator[None, None, bytes | bytearray]:
    """Parse a single line.

    CRLF is stripped from the return value.

    Args:
        read_line: Generator-based coroutine that reads a LF-terminated line or raises an
            exception if there isn't enough data.
        too_long_exc_type: Exception to raise if the line is too long; defaults to
            :exc:`~wsfast.exceptions.SecurityError`.

    Raises:
        EOFError: If the connection is closed without a CRLF.
        SecurityError: If the line exceeds a security limit.
    """
    line = yield from read_line(MAX_LINE_LENGTH, too_long_exc_type)
    # RFC 9112 §2.2 allows accepting a bare LF as a line terminator; websockets doesn't, and
    # neither do we: a CR that a front-end and a back-end read differently splits messages.
    if not line.endswith(b"\r\n"):
        raise EOFError("line without CRLF")
    return line[:-2]


def parse_headers(read_line: _ReadLine) -> Generator[None, None, Headers]:
    """Parse HTTP headers (or trailers), up to and including the empty line that ends them.

    Headers should contain only ASCII characters; however, non-ASCII values are tolerated and
    decoded as ISO-8859-1.

    Args:
        read_line: Generator-based coroutine that reads a LF-terminated line or raises an
            exception if there isn't enough data.

    Raises:
        EOFError: If the connection is closed without complete headers.
        HeaderLineTooLong: If a header line is too long.
        TooManyHeaders: If there are too many headers.
        ValueError: If the request isn't well formatted.
    """
    headers = Headers()
    count = 0
    while True:
        try:
            line = yield from parse_line(read_line, HeaderLineTooLong)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP headers") from exc
        if not line:
            return headers

        # field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). A line without a
        # colon is invalid; so is one starting with SP or HTAB, which is obs-fold (RFC 9112
        # §5.2) or whitespace before the first field (§2.2): both end up here, either as a
        # line without a colon or as a field name that isn't a token.
        try:
            raw_name, raw_value = line.split(b":", 1)
        except ValueError:
            raise ValueError(f"invalid HTTP header line: {_text(line)}") from None
        # No whitespace between the field name and the colon (RFC 9112 §5.1): the token
        # check rejects it, as the RFC requires, rather than trimming it.
        if not _TOKEN_RE.fullmatch(raw_name):
            raise ValueError(f"invalid HTTP header name: {_text(raw_name)}")
        # OWS around the value isn't part of it (RFC 9112 §5.1).
        raw_value = raw_value.strip(b" \t")
        if not _FIELD_VALUE_RE.fullmatch(raw_value):
            raise ValueError(f"invalid HTTP header value: {_text(raw_value)}")

        # The value was just checked against the same characters that Headers checks on
        # assignment, so skip the second check.
        headers.set_insecure(raw_name.decode("ascii"), raw_value.decode("iso-8859-1"))
        count += 1
        # Raised as soon as one field too many is parsed, without waiting for more input.
        if count > MAX_NUM_HEADERS:
            raise TooManyHeaders(f"expected no more than {MAX_NUM_HEADERS} headers")


def read_body(
    status_code: int,
    headers: Headers,
    read_line: _ReadLine,
    read_exact: _ReadExact,
    read_to_eof: _ReadToEOF,
) -> Generator[None, None, bytes | bytearray]:
    """Read the body of a response, as its status and headers frame it (RFC 9112 §6.3).

    Raises:
        EOFError: If the connection is closed before the end of the body.
        SecurityError: If the body exceeds a security limit or its framing is invalid.
        LookupError: If Transfer-Encoding or Content-Length is repeated.
        NotImplementedError: If the transfer coding isn't "chunked".
        ValueError: If a chunk isn't followed by CRLF, or trailers aren't well formatted.
    """
    # 1xx, 204 and 304 responses end with the header section, whatever the headers say
    # (RFC 9112 §6.3 rule 1). This includes 101, after which the WebSocket frames follow.
    if 100 <= status_code < 200 or status_code == 204 or status_code == 304:
        return b""

    # Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 rule 3). Only "chunked" alone
    # is supported: no server has a reason to compress a handshake rejection. A repeated
    # header raises MultipleValuesError rather than being combined.
    if "Transfer-Encoding" in headers:
        coding = headers["Transfer-Encoding"]
        if coding != "chunked":
            raise NotImplementedError(f"transfer coding {coding} isn't supported")
        return (yield from _read_chunked_body(read_line, read_exact))

    # Content-Length frames the body (RFC 9112 §6.3 rule 6). Repeated values raise
    # MultipleValuesError, and a list "n, n" fails the syntax check: a recipient may reject
    # either (RFC 9110 §8.6), and accepting them is how responses get desynchronized.
    if "Content-Length" in headers:
        raw_content_length = headers["Content-Length"]
        if not _CONTENT_LENGTH_RE.fullmatch(raw_content_length):
            raise SecurityError(f"invalid content length: {raw_content_length}")
        content_length = int(raw_content_length)
        # Checked before reading: the peer can't make us wait for, or buffer, more.
        if content_length > MAX_BODY_SIZE:
            raise SecurityError(f"body too large: {content_length} bytes")
        return (yield from read_exact(content_length))

    # Otherwise the body runs until the connection closes (RFC 9112 §6.3 rule 8).
    return (yield from read_to_eof(MAX_BODY_SIZE, SecurityError))


def _read_chunked_body(
    read_line: _ReadLine,
    read_exact: _ReadExact,
) -> Generator[None, None, bytes]:
    """Read a body in the chunked transfer coding (RFC 9112 §7.1)."""
    # Chunks are collected and joined once, so a body in many small chunks is copied once.
    chunks: list[bytes | bytearray] = []
    size = 0
    while True:
        # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF. Extensions carry nothing we
        # use; they are skipped (RFC 9112 §7.1.1 lets a recipient ignore them) but bounded
        # by the line length limit like everything else.
        line = yield from parse_line(read_line)
        raw_chunk_size = line.split(b";", 1)[0]
        if not _CHUNK_SIZE_RE.fullmatch(raw_chunk_size):
            raise SecurityError(f"invalid chunk size: {_text(raw_chunk_size)}")
        chunk_size = int(raw_chunk_size, 16)
        if chunk_size == 0:
            break
        # Checked before reading the chunk, so the limit bounds what we buffer.
        if size + chunk_size > MAX_BODY_SIZE:
            raise SecurityError(f"chunk too large: {chunk_size} bytes after {size} bytes")
        chunks.append((yield from read_exact(chunk_size)))
        size += chunk_size
        if (yield from read_exact(2)) != b"\r\n":
            raise ValueError("chunk without CRLF")
    # The trailer section (RFC 9112 §7.1.2) is parsed with the same rules and limits as
    # headers, then dropped: nothing in a handshake is allowed to come from trailers.
    yield from parse_headers(read_line)
    return b"".join(chunks)
