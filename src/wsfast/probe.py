"""The handshake probe behind ``python -m wsfast probe``: one opening handshake, explained.

A failed WebSocket handshake usually surfaces as a bare "400 Bad Request" or "did not
receive a valid HTTP response". The probe performs one handshake over a raw socket (TLS
from :mod:`ssl` for ``wss://``), so that it can show exactly what was sent and what came
back, then matches that evidence against the known causes in ``probe_causes.json`` and
ranks them. The causes are data: a new one is a new entry in that file, never new code.

What the probe collects (the fields the causes' conditions read, see the file's ``about``):

* the request as sent, the response as received (status line, headers, a body excerpt)
  or how the attempt failed (stage and kind: DNS, connect, proxy, TLS, receive);
* for a ``101``, what a client must check (RFC 6455 §4.1, client steps 1-6): ``Upgrade``,
  ``Connection``, ``Sec-WebSocket-Accept``, and that the extensions and subprotocol
  selected were offered;
* when the attempt got no HTTP answer, or a ``400`` to a ``ws://`` request, the same
  request over the other transport (plain TCP after a failed TLS handshake, TLS after a
  plain request got nothing): that tells "wss:// to a plain port" from "ws:// to a TLS
  port" without guessing from OpenSSL's error strings alone.

:func:`probe` returns a :class:`ProbeReport`, which renders as text for a person
(:meth:`ProbeReport.render_text`) or as one JSON object (:meth:`ProbeReport.to_dict`).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
import re
import socket
import ssl
import struct
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from .extensions.permessage_deflate import enable_client_permessage_deflate
from .headers import build_extension
from .http11 import USER_AGENT
from .uri import WebSocketURI, get_proxy, parse_proxy, parse_uri
from .utils import accept_key, generate_key

__all__ = [
    "CauseCatalogue",
    "Evidence",
    "ProbeReport",
    "build_request_headers",
    "load_causes",
    "parse_header_option",
    "probe",
]

DEFAULT_TIMEOUT = 10.0
# Follow-up checks only confirm a hypothesis: they needn't wait as long as the probe itself.
FOLLOW_UP_TIMEOUT = 3.0
# Once the headers are in, a body without Content-Length is read until the server pauses.
BODY_IDLE_TIMEOUT = 1.0
MAX_HEAD_SIZE = 64 * 1024
MAX_BODY_EXCERPT = 4096
RECEIVED_PREFIX_SIZE = 32

# Headers that carry secrets: never repeated in a follow-up over another transport, which
# could be plain text where the user asked for TLS.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

# OpenSSL's reasons for "the peer's bytes aren't a TLS record": a plain-text server
# answered the ClientHello, typically with "HTTP/1.1 400 ...".
TLS_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
     "UNKNOWN_PROTOCOL", "RECORD_TOO_LARGE"}
)

VERDICT_CONNECTED = "connected"
VERDICT_REJECTED = "rejected"
VERDICT_UNREACHABLE = "unreachable"
EXIT_STATUS = {VERDICT_CONNECTED: 0, VERDICT_REJECTED: 1, VERDICT_UNREACHABLE: 2}


# Evidence ------------------------------------------------------------------------------------


@dataclasses.dataclass
class SentRequest:
    """A request line and headers, as they went on the wire."""

    request_line: str
    headers: list[tuple[str, str]]

    @property
    def http_version(self) -> str:
        return self.request_line.rsplit(" ", 1)[-1]

    def header(self, name: str) -> str | None:
        return _joined_header(self.headers, name)

    def serialize(self) -> bytes:
        lines = [self.request_line] + [f"{name}: {value}" for name, value in self.headers]
        # RFC 9110 §5.5: field values are ISO-8859-1 at most; latin-1 keeps any byte a
        # user typed in --header rather than failing the probe.
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def display_headers(self) -> list[tuple[str, str]]:
        """The headers with credentials masked: reports get pasted into issues."""
        return [(name, _mask_credentials(value) if name.lower() in CREDENTIAL_HEADERS else value)
                for name, value in self.headers]

    def to_dict(self) -> dict[str, Any]:
        return {"request_line": self.request_line,
                "headers": [list(h) for h in self.display_headers()]}


@dataclasses.dataclass
class ReceivedResponse:
    """An HTTP response as received: status line, headers, and an excerpt of the body."""

    status_line: str
    http_version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    body_truncated: bool = False
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        return _joined_header(self.headers, name)

    @property
    def body_text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status_line": self.status_line,
            "http_version": self.http_version,
            "status": self.status,
            "reason": self.reason,
            "headers": [list(h) for h in self.headers],
            "body": self.body_text,
            "body_truncated": self.body_truncated,
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }


@dataclasses.dataclass
class Failure:
    """Why no (complete) HTTP response came back: where it failed and how."""

    stage: str  # resolve, connect, proxy, tls, send, receive
    kind: str  # dns, refused, timeout, reset, eof, not_http, tls_*, os_error, ...
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FollowUp:
    """The same request over the other transport (plain TCP or TLS), on the same port."""

    transport: str  # "plain" or "tls"
    answered: bool
    summary: str
    status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Evidence:
    """Everything observed during one probe: what the causes are matched against."""

    url: str
    uri: WebSocketURI
    timeout: float
    request: SentRequest
    proxy: str | None = None
    proxy_request: SentRequest | None = None
    proxy_response: ReceivedResponse | None = None
    response: ReceivedResponse | None = None
    failure: Failure | None = None
    handshake_problems: list[str] = dataclasses.field(default_factory=list)
    follow_up: FollowUp | None = None
    received_prefix: bytes = b""
    tls_version: str | None = None
    connect_elapsed: float | None = None
    elapsed: float = 0.0

    @property
    def scheme(self) -> str:
        return "wss" if self.uri.secure else "ws"

    @property
    def verdict(self) -> str:
        if self.response is not None:
            if self.response.status == 101 and not self.handshake_problems:
                return VERDICT_CONNECTED
            return VERDICT_REJECTED
        if self.proxy_response is not None and self.proxy_response.status != 200:
            return VERDICT_REJECTED
        return VERDICT_UNREACHABLE


def _mask_credentials(value: str) -> str:
    """Keep the authentication scheme ("Basic", "Bearer"), hide the credentials."""
    scheme, space, _ = value.partition(" ")
    return f"{scheme} [redacted]" if space else "[redacted]"


def redact_url(url: str) -> str:
    """The URL with its password, if any, masked."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:****@{netloc[2]}"))


def _joined_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """All values of a header, comma-joined (RFC 9110 §5.3), or None when absent."""
    values = [value for key, value in headers if key.lower() == name.lower()]
    return ", ".join(values) if values else None


# The request ---------------------------------------------------------------------------------


def parse_header_option(text: str) -> tuple[str, str]:
    """Parse a ``--header 'Name: value'`` option; an empty value removes the header."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        raise ValueError(f"expected 'Name: value', got {text!r}")
    return name, value.strip()


def _host_header(uri: WebSocketURI) -> str:
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    default_port = 443 if uri.secure else 80
    return host if uri.port == default_port else f"{host}:{uri.port}"


def client_extensions_offer() -> str:
    """The Sec-WebSocket-Extensions that wsfast's client offers by default (RFC 7692 §7.1):
    the probe sends what the client would, so that it sees what the client would see."""
    factories = enable_client_permessage_deflate(None)
    return build_extension([(factory.name, factory.get_request_params())
                            for factory in factories])


def build_request_headers(
    uri: WebSocketURI,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    overrides: Sequence[tuple[str, str]] = (),
    key: str | None = None,
) -> list[tuple[str, str]]:
    """The headers of a client handshake (RFC 6455 §4.1), with the user's overrides.

    The defaults are what wsfast's client sends. An override replaces every default
    header of that name, in place; several overrides of one name send that header several
    times; an override with an empty value removes the header. This is how the probe
    provokes a broken key or version: ``--header 'Sec-WebSocket-Version: 8'``.
    """
    defaults: list[tuple[str, str]] = [("Host", _host_header(uri))]
    if uri.user_info is not None:
        # RFC 7617: credentials in the URI become Basic authorization, as in wsfast's client.
        credentials = ":".join(uri.user_info).encode()
        defaults.append(("Authorization", "Basic " + base64.b64encode(credentials).decode()))
    defaults += [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key or generate_key()),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        defaults.append(("Origin", origin))
    defaults.append(("Sec-WebSocket-Extensions", client_extensions_offer()))
    if subprotocols:
        defaults.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    defaults.append(("User-Agent", USER_AGENT))

    overridden: dict[str, list[tuple[str, str]]] = {}
    for name, value in overrides:
        overridden.setdefault(name.lower(), []).append((name, value))

    headers: list[tuple[str, str]] = []
    placed: set[str] = set()
    for name, value in defaults:
        lower = name.lower()
        if lower not in overridden:
            headers.append((name, value))
        elif lower not in placed:
            placed.add(lower)
            headers.extend((n, v) for n, v in overridden[lower] if v)
    for lower, entries in overridden.items():
        if lower not in placed:
            headers.extend((n, v) for n, v in entries if v)
    return headers


# The exchange --------------------------------------------------------------------------------


class _ProbeError(Exception):
    """An attempt that ended without a complete HTTP response."""

    def __init__(self, failure: Failure, received: bytes = b"") -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.received = received


def _classify_os_error(exc: BaseException, stage: str) -> Failure:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return Failure("resolve", "dns", message)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Failure(stage, "timeout", f"timed out ({stage})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Failure(stage, "tls_certificate", exc.verify_message or message)
    if isinstance(exc, ssl.SSLEOFError):
        return Failure(stage, "tls_eof", message)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in TLS_NOT_TLS_REASONS:
            kind = "tls_not_tls"
        elif reason == "UNEXPECTED_EOF_WHILE_READING":
            kind = "tls_eof"
        elif "ALERT" in reason:
            kind = "tls_alert"
        else:
            kind = "tls_other"
        return Failure(stage, kind, message)
    if isinstance(exc, ConnectionRefusedError):
        return Failure(stage, "refused", message)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return Failure(stage, "reset", message)
    return Failure(stage, "os_error", message)


class _Exchange:
    """One connection: connect (maybe through a proxy), maybe TLS, send, receive."""

    def __init__(self, timeout: float) -> None:
        # One deadline for the whole attempt: connect, TLS, request and response.
        self.deadline = time.monotonic() + timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def connect(self, address: tuple[str, int], stage: str = "connect") -> None:
        try:
            self.sock = socket.create_connection(address, timeout=self.remaining())
        except OSError as exc:
            raise _ProbeError(_classify_os_error(exc, stage)) from exc

    def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> str | None:
        assert self.sock is not None
        try:
            self.sock.settimeout(self.remaining())
            self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        except OSError as exc:
            raise _ProbeError(_classify_os_error(exc, "tls")) from exc
        return self.sock.version()

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.settimeout(self.remaining())
            self.sock.sendall(data)
        except OSError as exc:
            raise _ProbeError(_classify_os_error(exc, "send")) from exc

    def _recv(self, timeout: float | None = None) -> bytes:
        """Read some bytes; b"" at EOF. Raises socket.timeout / OSError."""
        assert self.sock is not None
        self.sock.settimeout(self.remaining() if timeout is None else timeout)
        return self.sock.recv(65536)

    def receive_response(self, *, stage: str = "receive", head_only: bool = False,
                         started: float | None = None) -> ReceivedResponse:
        """Read one HTTP response leniently: status line, headers, an excerpt of the body."""
        started = time.monotonic() if started is None else started
        while b"\r\n\r\n" not in self.buffer:
            if self.buffer and not b"HTTP/".startswith(self.buffer[:5]):
                break  # not HTTP: no point waiting for a blank line
            if len(self.buffer) > MAX_HEAD_SIZE:
                break
            try:
                data = self._recv()
            except OSError as exc:
                if self.buffer:
                    break
                raise _ProbeError(_classify_os_error(exc, stage)) from exc
            if not data:
                if not self.buffer:
                    raise _ProbeError(Failure(
                        stage, "eof", "the server closed the connection without a response"))
                break
            self.buffer += data

        if not self.buffer.startswith(b"HTTP/"):
            prefix = self.buffer[:RECEIVED_PREFIX_SIZE]
            # RFC 8446 §5.1: a TLS record starts with its content type (21 alert, 22
            # handshake) and the legacy version 3.x.
            kind = "tls_record" if prefix[:1] in (b"\x15", b"\x16") and prefix[1:2] == b"\x03" \
                else "not_http"
            raise _ProbeError(Failure(stage, kind, f"received {len(self.buffer)} bytes that "
                                      f"are not an HTTP response"), self.buffer)

        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        match = re.match(r"(HTTP/\d(?:\.\d)?) (\d{3})(?: (.*))?$", status_line)
        if match is None:
            raise _ProbeError(Failure(stage, "not_http", f"malformed status line: "
                                      f"{status_line!r}"), self.buffer)
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip(), value.strip()))
        response = ReceivedResponse(
            status_line=status_line,
            http_version=match.group(1),
            status=int(match.group(2)),
            reason=match.group(3) or "",
            headers=headers,
            elapsed=time.monotonic() - started,
        )
        self.buffer = rest
        if not head_only and response.status != 101:
            response.body, response.body_truncated = self._read_body(response)
        return response

    def _read_body(self, response: ReceivedResponse) -> tuple[bytes, bool]:
        """An excerpt of the body, within the deadline; never fails the probe."""
        length_header = response.header("Content-Length")
        chunked = "chunked" in (response.header("Transfer-Encoding") or "").lower()
        length = None
        if length_header is not None and not chunked:
            try:
                length = int(length_header.split(",")[0])
            except ValueError:
                length = None
        wanted = MAX_BODY_EXCERPT if length is None else min(length, MAX_BODY_EXCERPT)
        body = self.buffer
        while len(body) < wanted + (64 if chunked else 0):
            if chunked and b"\r\n0\r\n" in b"\r\n" + body:
                break
            try:
                # With a Content-Length, wait for it (within the deadline); without, the
                # body ends at EOF, and a keep-alive server pauses instead.
                data = self._recv(None if length is not None
                                  else min(BODY_IDLE_TIMEOUT, self.remaining()))
            except OSError:
                break
            if not data:
                break
            body += data
        if chunked:
            body = _dechunk(body)
        truncated = len(body) > wanted or (length is not None and len(body) < length)
        return body[:wanted], truncated

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def _dechunk(data: bytes) -> bytes:
    """Best-effort decoding of a chunked body (RFC 9112 §7.1), for the excerpt."""
    body = b""
    while data:
        size_line, sep, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            return body + size_line + sep + data
        if size == 0 or not sep:
            break
        body += data[:size]
        data = data[size + 2:]
    return body


def _close_frame() -> bytes:
    """A masked Close frame with status 1000 (RFC 6455 §5.5.1; clients mask, §5.3)."""
    mask = os.urandom(4)
    payload = struct.pack("!H", 1000)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x88, 0x80 | len(payload)]) + mask + masked


def _tokens(value: str | None) -> list[str]:
    return [token.strip().lower() for token in (value or "").split(",") if token.strip()]


def _extension_names(value: str | None) -> list[str]:
    return [item.split(";")[0].strip().lower() for item in (value or "").split(",")
            if item.strip()]


def check_switching_protocols(request: SentRequest, response: ReceivedResponse) -> list[str]:
    """What a client must refuse in a 101 response (RFC 6455 §4.1, client steps 1-6)."""
    problems = []
    if "websocket" not in _tokens(response.header("Upgrade")):
        problems.append("missing_upgrade")
    if "upgrade" not in _tokens(response.header("Connection")):
        problems.append("missing_connection")
    accept = response.header("Sec-WebSocket-Accept")
    key = request.header("Sec-WebSocket-Key")
    if accept is None:
        problems.append("missing_accept")
    elif key is None or accept != accept_key(key):
        problems.append("bad_accept")
    offered_extensions = _extension_names(request.header("Sec-WebSocket-Extensions"))
    if any(name not in offered_extensions
           for name in _extension_names(response.header("Sec-WebSocket-Extensions"))):
        problems.append("unoffered_extension")
    selected = response.header("Sec-WebSocket-Protocol")
    if selected is not None and selected.strip().lower() not in _tokens(
        request.header("Sec-WebSocket-Protocol")
    ):
        problems.append("unoffered_subprotocol")
    return problems


def _say_goodbye(exchange: _Exchange) -> None:
    """Close an opened connection properly: Close frame, then wait for the server's close
    and its end of the TCP connection (RFC 6455 §7.1.1, the server closes first)."""
    try:
        exchange.send(_close_frame())
        wait_until = time.monotonic() + min(2.0, exchange.remaining())
        while time.monotonic() < wait_until:
            if not exchange._recv(max(wait_until - time.monotonic(), 0.001)):
                break
    except (OSError, _ProbeError):
        pass


def _open_tunnel(exchange: _Exchange, evidence: Evidence, proxy_url: str) -> None:
    """CONNECT through an HTTP proxy (RFC 9110 §9.3.6), as wsfast's client does."""
    proxy = parse_proxy(proxy_url)
    if proxy.scheme != "http":
        raise _ProbeError(Failure("proxy", "unsupported_proxy",
                                  f"the probe supports http:// proxies only, not {proxy_url}"))
    exchange.connect((proxy.host, proxy.port), stage="proxy")
    uri = evidence.uri
    authority = f"[{uri.host}]:{uri.port}" if ":" in uri.host else f"{uri.host}:{uri.port}"
    headers = [("Host", authority), ("User-Agent", USER_AGENT)]
    if proxy.username is not None:
        credentials = f"{proxy.username}:{proxy.password or ''}".encode()
        headers.append(("Proxy-Authorization",
                        "Basic " + base64.b64encode(credentials).decode()))
    evidence.proxy_request = SentRequest(f"CONNECT {authority} HTTP/1.1", headers)
    exchange.send(evidence.proxy_request.serialize())
    # A CONNECT answer's body (if any) isn't part of the tunnel only when it's not a 2xx.
    response = exchange.receive_response(stage="proxy", head_only=True)
    evidence.proxy_response = response
    if response.status // 100 != 2:
        response.body, response.body_truncated = exchange._read_body(response)
        raise _ProbeError(Failure("proxy", "proxy_refused",
                                  f"the proxy answered {response.status_line}"))


def _handshake(evidence: Evidence, exchange: _Exchange, *, secure: bool,
               ssl_context: ssl.SSLContext | None, request: SentRequest,
               proxy_url: str | None) -> ReceivedResponse:
    uri = evidence.uri
    if proxy_url is not None:
        _open_tunnel(exchange, evidence, proxy_url)
    else:
        exchange.connect((uri.host, uri.port))
    if secure:
        assert ssl_context is not None
        evidence.tls_version = exchange.start_tls(ssl_context, uri.host)
    started = time.monotonic()
    exchange.send(request.serialize())
    return exchange.receive_response(started=started)


def _other_transport(evidence: Evidence) -> FollowUp:
    """Repeat the request over the other transport: does the port speak TLS, or not?"""
    uri = evidence.uri
    use_tls = not uri.secure
    # Secrets stay out of a repetition that may travel in plain text.
    request = SentRequest(
        evidence.request.request_line,
        [(n, v) for n, v in evidence.request.headers if n.lower() not in CREDENTIAL_HEADERS],
    )
    timeout = min(evidence.timeout, FOLLOW_UP_TIMEOUT)
    exchange = _Exchange(timeout)
    transport = "tls" if use_tls else "plain"
    context = None
    if use_tls:
        # Only whether the port speaks TLS matters here, not whom the certificate names.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        exchange.connect((uri.host, uri.port))
        if use_tls:
            assert context is not None
            version = exchange.start_tls(context, uri.host)
            summary = f"a TLS handshake on {uri.host}:{uri.port} succeeded ({version})"
        else:
            summary = f"plain TCP to {uri.host}:{uri.port}"
        exchange.send(request.serialize())
        response = exchange.receive_response()
        if response.status == 101:
            _say_goodbye(exchange)
        scheme = "wss" if use_tls else "ws"
        return FollowUp(transport, True, f"Over {scheme}:// instead, {summary}, and the "
                        f"same request got: {response.status_line}.", response.status)
    except _ProbeError as exc:
        if use_tls and exc.failure.stage != "tls" and exc.failure.stage != "connect":
            return FollowUp(transport, True, f"Over wss:// instead, a TLS handshake on "
                            f"{uri.host}:{uri.port} succeeded, then: {exc.failure.message}.")
        return FollowUp(transport, False, f"Over {transport} instead: "
                        f"{exc.failure.message}.")
    finally:
        exchange.close()


def _needs_follow_up(evidence: Evidence) -> bool:
    if evidence.proxy is not None:
        return False  # through a tunnel, the other transport says nothing about the port
    failure = evidence.failure
    if evidence.uri.secure:
        return failure is not None and failure.stage == "tls" and failure.kind in (
            "tls_not_tls", "tls_eof", "reset", "timeout", "tls_other"
        )
    if evidence.response is not None:
        # A TLS server may answer plain HTTP with a 400 that says so, as nginx does ("The
        # plain HTTP request was sent to HTTPS port"); other 400s aren't about TLS.
        return evidence.response.status == 400 and re.search(
            r"\b(https|tls|ssl)\b", evidence.response.body_text, re.IGNORECASE
        ) is not None
    return failure is not None and failure.stage == "receive"


def probe(
    url: str,
    *,
    origin: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    proxy: str | bool | None = True,
    ssl_context: ssl.SSLContext | None = None,
    follow_up: bool = True,
    causes: CauseCatalogue | None = None,
) -> ProbeReport:
    """Perform one opening handshake with ``url`` and explain the outcome.

    Args:
        url: ``ws://`` or ``wss://`` URI; ``user:password@`` adds Basic authorization.
        origin: ``Origin`` header to send.
        headers: ``(name, value)`` overrides of the request headers; an empty value
            removes the header (see :func:`build_request_headers`).
        subprotocols: Subprotocols to offer in ``Sec-WebSocket-Protocol``.
        timeout: Bound on the attempt (connect, proxy, TLS, request and response), in
            seconds.
        proxy: An ``http://`` proxy URL; :obj:`True` to read it from the environment,
            as wsfast's client does; :obj:`None` or :obj:`False` to connect directly.
        ssl_context: TLS settings for ``wss://``; default: the system's trusted CAs.
        follow_up: Repeat the request over the other transport when that can tell a
            TLS/plain mix-up.
        causes: The catalogue to match; default: the package's ``probe_causes.json``.

    Raises:
        InvalidURI: If ``url`` isn't a valid ``ws://`` or ``wss://`` URI.
    """
    uri = parse_uri(url)
    request = SentRequest(
        f"GET {uri.resource_name} HTTP/1.1",
        build_request_headers(uri, origin=origin, subprotocols=subprotocols, overrides=headers),
    )
    proxy_url: str | None
    if proxy is True:
        proxy_url = get_proxy(uri)
    elif proxy:
        proxy_url = str(proxy)
    else:
        proxy_url = None
    evidence = Evidence(url=url, uri=uri, timeout=timeout, request=request, proxy=proxy_url)
    if uri.secure and ssl_context is None:
        ssl_context = ssl.create_default_context()

    started = time.monotonic()
    exchange = _Exchange(timeout)
    try:
        evidence.response = _handshake(evidence, exchange, secure=uri.secure,
                                       ssl_context=ssl_context, request=request,
                                       proxy_url=proxy_url)
        if evidence.response.status == 101:
            evidence.handshake_problems = check_switching_protocols(request,
                                                                    evidence.response)
            _say_goodbye(exchange)
    except _ProbeError as exc:
        evidence.failure = exc.failure
        evidence.received_prefix = exc.received[:RECEIVED_PREFIX_SIZE]
    finally:
        exchange.close()
        evidence.elapsed = time.monotonic() - started

    if follow_up and _needs_follow_up(evidence):
        evidence.follow_up = _other_transport(evidence)

    catalogue = causes if causes is not None else load_causes()
    return ProbeReport(evidence, catalogue.rank(evidence))


# Causes --------------------------------------------------------------------------------------

OPERATORS = ("equals", "in", "in_any", "present", "contains", "regex", "gte", "lt")
FIELD_PATTERN = re.compile(
    r"verdict|scheme|status|reason|request\.http_version|response\.http_version"
    r"|response\.body|proxy\.status|proxy\.body|failure\.(?:stage|kind|message)"
    r"|follow_up\.(?:transport|status)|handshake\.problems|received\.prefix"
    r"|(?:response|request|proxy)\.header\.[!#$%&'*+.^_`|~0-9A-Za-z-]+"
)
TEMPLATE_PATTERN = re.compile(r"\{\{(\w+)(?:\|([^}]*))?\}\}")


class CauseCatalogueError(ValueError):
    """The causes file is malformed: says which entry and why."""


def field_value(evidence: Evidence, field: str) -> Any:
    """The value of one evidence field named in a condition, or None when unknown."""
    response, failure, proxy_response = evidence.response, evidence.failure, \
        evidence.proxy_response
    if field == "verdict":
        return evidence.verdict
    if field == "scheme":
        return evidence.scheme
    if field == "status":
        return None if response is None else response.status
    if field == "reason":
        return None if response is None else response.reason
    if field == "response.http_version":
        return None if response is None else response.http_version
    if field == "response.body":
        return None if response is None else response.body_text
    if field.startswith("response.header."):
        return None if response is None else response.header(field[16:])
    if field == "request.http_version":
        return evidence.request.http_version
    if field.startswith("request.header."):
        return evidence.request.header(field[15:])
    if field == "proxy.status":
        return None if proxy_response is None else proxy_response.status
    if field == "proxy.body":
        return None if proxy_response is None else proxy_response.body_text
    if field.startswith("proxy.header."):
        return None if proxy_response is None else proxy_response.header(field[13:])
    if field.startswith("failure."):
        return None if failure is None else getattr(failure, field[8:])
    if field == "follow_up.transport":
        follow_up = evidence.follow_up
        return None if follow_up is None or not follow_up.answered else follow_up.transport
    if field == "follow_up.status":
        return None if evidence.follow_up is None else evidence.follow_up.status
    if field == "handshake.problems":
        return list(evidence.handshake_problems)
    if field == "received.prefix":
        return evidence.received_prefix.hex() or None
    raise CauseCatalogueError(f"unknown evidence field: {field}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


def _leaf_holds(value: Any, operator: str, expected: Any) -> tuple[bool, dict[str, str]]:
    if operator == "present":
        present = value is not None and value != []
        return present == bool(expected), {}
    if value is None:
        return False, {}
    if operator == "equals":
        return _same(value, expected), {}
    if operator == "in":
        return any(_same(value, item) for item in expected), {}
    if operator == "in_any":
        values = value if isinstance(value, list) else [value]
        return any(_same(v, item) for v in values for item in expected), {}
    if operator == "contains":
        if isinstance(value, list):
            return any(_same(v, expected) for v in value), {}
        return str(expected).lower() in str(value).lower(), {}
    if operator == "regex":
        match = re.search(expected, str(value), re.IGNORECASE | re.MULTILINE)
        if match is None:
            return False, {}
        return True, {k: v for k, v in match.groupdict().items() if v is not None}
    if operator in ("gte", "lt"):
        if not isinstance(value, (int, float)):
            return False, {}
        return (value >= expected) if operator == "gte" else (value < expected), {}
    raise CauseCatalogueError(f"unknown operator: {operator}")


def _describe_leaf(field: str, operator: str, expected: Any) -> str:
    words = {"equals": "is", "in": "is one of", "in_any": "includes one of",
             "contains": "contains", "regex": "matches", "gte": ">=", "lt": "<"}
    if operator == "present":
        return f"{field} is {'present' if expected else 'absent'}"
    return f"{field} {words[operator]} {json.dumps(expected)}"


def evaluate(condition: Mapping[str, Any], evidence: Evidence) -> tuple[bool, list[str]]:
    """Whether a condition holds, and the leaves that made it hold (for the report)."""
    if "all" in condition:
        reasons: list[str] = []
        for part in condition["all"]:
            holds, why = evaluate(part, evidence)
            if not holds:
                return False, []
            reasons += why
        return True, reasons
    if "any" in condition:
        for part in condition["any"]:
            holds, why = evaluate(part, evidence)
            if holds:
                return True, why
        return False, []
    if "not" in condition:
        holds, _ = evaluate(condition["not"], evidence)
        if holds:
            return False, []
        return True, [f"not ({_describe_condition(condition['not'])})"]
    field = condition["field"]
    operator = next(op for op in OPERATORS if op in condition)
    holds, _ = _leaf_holds(field_value(evidence, field), operator, condition[operator])
    return holds, [_describe_leaf(field, operator, condition[operator])] if holds else []


def _describe_condition(condition: Mapping[str, Any]) -> str:
    for key, joiner in (("all", " and "), ("any", " or ")):
        if key in condition:
            return joiner.join(f"({_describe_condition(c)})" for c in condition[key])
    if "not" in condition:
        return f"not ({_describe_condition(condition['not'])})"
    operator = next(op for op in OPERATORS if op in condition)
    return _describe_leaf(condition["field"], operator, condition[operator])


def _validate_condition(condition: Any, where: str) -> None:
    if not isinstance(condition, dict):
        raise CauseCatalogueError(f"{where}: a condition must be an object")
    combinators = [key for key in ("all", "any", "not") if key in condition]
    if combinators:
        if len(condition) != 1:
            raise CauseCatalogueError(f"{where}: {combinators[0]} stands alone in its object")
        inner = condition[combinators[0]]
        for i, part in enumerate(inner if combinators[0] != "not" else [inner]):
            _validate_condition(part, f"{where}.{combinators[0]}[{i}]")
        return
    operators = [op for op in OPERATORS if op in condition]
    if set(condition) != {"field", *operators} or len(operators) != 1:
        raise CauseCatalogueError(
            f"{where}: a leaf is {{\"field\": ..., OP: ...}} with one OP among {OPERATORS}"
        )
    if not isinstance(condition["field"], str) or not FIELD_PATTERN.fullmatch(
        condition["field"]
    ):
        raise CauseCatalogueError(f"{where}: unknown field {condition['field']!r}")
    if operators[0] == "regex":
        try:
            re.compile(condition["regex"])
        except re.error as exc:
            raise CauseCatalogueError(f"{where}: bad regex: {exc}") from None
    if operators[0] in ("in", "in_any") and not isinstance(condition[operators[0]], list):
        raise CauseCatalogueError(f"{where}: {operators[0]} takes a list")


@dataclasses.dataclass
class Cause:
    id: str
    title: str
    signature: str
    when: dict[str, Any]
    confidence: float
    root_cause: str
    workarounds: list[str]
    dead_ends: list[str]
    captures: list[dict[str, str]] = dataclasses.field(default_factory=list)
    fallback: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Cause:
        required = {"id", "title", "signature", "when", "confidence", "root_cause",
                    "workarounds", "dead_ends"}
        missing = required - set(data)
        unknown = set(data) - required - {"captures", "fallback"}
        if missing or unknown:
            raise CauseCatalogueError(
                f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}"
            )
        if not 0 <= data["confidence"] <= 1:
            raise CauseCatalogueError(f"{where}: confidence is between 0 and 1")
        _validate_condition(data["when"], f"{where}.when")
        for i, capture in enumerate(data.get("captures", [])):
            _validate_condition(capture, f"{where}.captures[{i}]")
            if "regex" not in capture:
                raise CauseCatalogueError(f"{where}.captures[{i}]: a capture is a regex")
        return cls(**data)


@dataclasses.dataclass
class MatchedCause:
    """A cause that matched the evidence, its texts filled in."""

    cause: Cause
    evidence: list[str]
    root_cause: str
    workarounds: list[str]
    dead_ends: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.cause.id,
            "title": self.cause.title,
            "signature": self.cause.signature,
            "confidence": self.cause.confidence,
            "root_cause": self.root_cause,
            "workarounds": self.workarounds,
            "dead_ends": self.dead_ends,
            "evidence": self.evidence,
        }


def template_variables(evidence: Evidence) -> dict[str, str]:
    """The values that cause texts may quote with {{name}}; absent ones are left out."""
    uri, request, response = evidence.uri, evidence.request, evidence.response
    other_scheme = "ws" if uri.secure else "wss"
    variables: dict[str, Any] = {
        "url": redact_url(evidence.url),
        "other_url": urllib.parse.urlunsplit((other_scheme,) + urllib.parse.urlsplit(
            redact_url(evidence.url))[1:]),
        "scheme": evidence.scheme,
        "other_scheme": other_scheme,
        "host": uri.host,
        "port": uri.port,
        "path": uri.resource_name,
        "timeout": f"{evidence.timeout:g}",
        "origin": request.header("Origin"),
        "sent_key": request.header("Sec-WebSocket-Key"),
        "sent_version": request.header("Sec-WebSocket-Version"),
        "sent_upgrade": request.header("Upgrade"),
        "sent_connection": request.header("Connection"),
        "sent_subprotocols": request.header("Sec-WebSocket-Protocol"),
        "sent_extensions": request.header("Sec-WebSocket-Extensions"),
        "proxy": None if evidence.proxy is None else redact_url(evidence.proxy),
        "problems": ", ".join(evidence.handshake_problems) or None,
        "received_prefix": evidence.received_prefix.hex() or None,
    }
    if evidence.proxy_response is not None:
        variables["proxy_status"] = evidence.proxy_response.status_line
        variables["proxy_authenticate"] = evidence.proxy_response.header("Proxy-Authenticate")
    if response is not None:
        first_line = response.body_text.strip().split("\n", 1)[0].strip()
        variables.update({
            "status": response.status,
            "reason": response.reason,
            "server": response.header("Server"),
            "location": response.header("Location"),
            "www_authenticate": response.header("WWW-Authenticate"),
            "server_versions": response.header("Sec-WebSocket-Version"),
            "allow": response.header("Allow"),
            "retry_after": response.header("Retry-After"),
            "body_first_line": first_line[:200] or None,
            "elapsed_ms": f"{response.elapsed * 1000:.1f}",
        })
        if variables.get("proxy_authenticate") is None:
            variables["proxy_authenticate"] = response.header("Proxy-Authenticate")
    else:
        variables["elapsed_ms"] = f"{evidence.elapsed * 1000:.1f}"
    if evidence.failure is not None:
        variables["failure_message"] = evidence.failure.message
    if evidence.follow_up is not None:
        variables["follow_up"] = evidence.follow_up.summary
    return {key: str(value) for key, value in variables.items() if value is not None}


def fill_template(text: str, variables: Mapping[str, str]) -> str:
    """Replace {{name}} and {{name|fallback}}; an unknown name without fallback stays."""

    def replace(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name in variables:
            return variables[name]
        return fallback if fallback is not None else match.group(0)

    return TEMPLATE_PATTERN.sub(replace, text)


class CauseCatalogue:
    """The known causes, loaded from JSON, matched against the evidence of a probe."""

    def __init__(self, causes: Sequence[Cause]) -> None:
        ids = [cause.id for cause in causes]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise CauseCatalogueError(f"duplicate cause ids: {sorted(duplicates)}")
        self.causes = list(causes)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CauseCatalogue:
        if not isinstance(data.get("causes"), list):
            raise CauseCatalogueError("the file has no \"causes\" list")
        return cls([Cause.from_dict(entry, f"causes[{i}] ({entry.get('id', '?')})")
                    for i, entry in enumerate(data["causes"])])

    def rank(self, evidence: Evidence) -> list[MatchedCause]:
        """The causes matching the evidence, most likely first; none when connected."""
        if evidence.verdict == VERDICT_CONNECTED:
            return []
        base = template_variables(evidence)
        matched: list[MatchedCause] = []
        fallbacks: list[MatchedCause] = []
        for cause in self.causes:
            holds, why = evaluate(cause.when, evidence)
            if not holds:
                continue
            variables = dict(base)
            for capture in cause.captures:
                _, groups = _leaf_holds(field_value(evidence, capture["field"]), "regex",
                                        capture["regex"])
                variables.update(groups)
            entry = MatchedCause(
                cause=cause,
                evidence=why,
                root_cause=fill_template(cause.root_cause, variables),
                workarounds=[fill_template(text, variables) for text in cause.workarounds],
                dead_ends=[fill_template(text, variables) for text in cause.dead_ends],
            )
            (fallbacks if cause.fallback else matched).append(entry)
        # sorted() is stable: equal confidences keep the file's order.
        ranked = sorted(matched, key=lambda entry: -entry.cause.confidence)
        return ranked or fallbacks


def load_causes(path: str | os.PathLike[str] | None = None) -> CauseCatalogue:
    """Load the causes shipped in the package, or those of another file."""
    if path is None:
        text = resources.files("wsfast").joinpath("probe_causes.json").read_text("utf-8")
    else:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    return CauseCatalogue.from_json(json.loads(text))


@functools.lru_cache(maxsize=1)
def _shipped_causes() -> CauseCatalogue:
    return load_causes()


def diagnose_rejection(uri: WebSocketURI, request: Any, response: Any) -> str | None:
    """The likely cause of a handshake rejected with ``response``, for a person to read.

    For the PEP 678 note of the client's :exc:`~wsfast.exceptions.InvalidStatus`: the same
    causes as ``python -m wsfast probe``, matched against the request the client sent and the
    response it received (:class:`~wsfast.http11.Request` and
    :class:`~wsfast.http11.Response`). :obj:`None` when no known cause matches.
    """
    scheme = "wss" if uri.secure else "ws"
    url = f"{scheme}://{uri.host}:{uri.port}{uri.resource_name}"
    headers = [] if request is None else list(request.headers.raw_items())
    path = uri.resource_name if request is None else request.path
    body = bytes(response.body or b"")
    evidence = Evidence(
        url=url,
        uri=uri,
        timeout=0.0,
        request=SentRequest(f"GET {path} HTTP/1.1", headers),
        response=ReceivedResponse(
            status_line=f"HTTP/1.1 {response.status_code} {response.reason_phrase}",
            http_version="HTTP/1.1",
            status=response.status_code,
            reason=response.reason_phrase,
            headers=list(response.headers.raw_items()),
            body=body[:MAX_BODY_EXCERPT],
            body_truncated=len(body) > MAX_BODY_EXCERPT,
        ),
    )
    causes = _shipped_causes().rank(evidence)
    if not causes or causes[0].cause.fallback:
        return None
    cause = causes[0]
    lines = [f"Likely cause: {cause.root_cause}"]
    lines += [f"What to change: {text}" for text in cause.workarounds[:2]]
    lines.append(f"More: python -m wsfast probe {redact_url(url)}")
    return "\n".join(lines)


# The report ----------------------------------------------------------------------------------


class ProbeReport:
    """The evidence of one probe and the causes it matched, for a person or a program."""

    def __init__(self, evidence: Evidence, causes: list[MatchedCause]) -> None:
        self.evidence = evidence
        self.causes = causes

    @property
    def verdict(self) -> str:
        return self.evidence.verdict

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.verdict]

    @property
    def status(self) -> int | None:
        """The status of the response that decided: the server's, or a refusing proxy's."""
        if self.evidence.response is not None:
            return self.evidence.response.status
        proxy_response = self.evidence.proxy_response
        if proxy_response is not None and proxy_response.status != 200:
            return proxy_response.status
        return None

    @property
    def signature(self) -> str:
        """One line that names what happened, e.g. "HTTP 403 Forbidden: invalid Origin ..."."""
        evidence = self.evidence
        response, proxy_response = evidence.response, evidence.proxy_response
        if response is not None:
            text = f"HTTP {response.status} {response.reason}".rstrip()
            if response.status == 101:
                if evidence.handshake_problems:
                    text += ", invalid: " + ", ".join(evidence.handshake_problems)
                return text
            first_line = response.body_text.strip().split("\n", 1)[0].strip()
            if first_line and "text/html" not in (response.header("Content-Type") or ""):
                text += f": {first_line[:160]}"
            return text
        if proxy_response is not None and proxy_response.status != 200:
            return f"proxy answered HTTP {proxy_response.status} {proxy_response.reason}"
        assert evidence.failure is not None
        failure = evidence.failure
        return f"{failure.stage} failed ({failure.kind}): {failure.message}"

    def to_dict(self) -> dict[str, Any]:
        evidence = self.evidence
        return {
            "url": redact_url(evidence.url),
            "verdict": self.verdict,
            "exit_status": self.exit_status,
            "signature": self.signature,
            "status": self.status,
            "causes": [cause.to_dict() for cause in self.causes],
            "request": evidence.request.to_dict(),
            "response": None if evidence.response is None else evidence.response.to_dict(),
            "proxy": None if evidence.proxy is None else {
                "url": redact_url(evidence.proxy),
                "request": None if evidence.proxy_request is None
                else evidence.proxy_request.to_dict(),
                "response": None if evidence.proxy_response is None
                else evidence.proxy_response.to_dict(),
            },
            "failure": None if evidence.failure is None else evidence.failure.to_dict(),
            "follow_up": None if evidence.follow_up is None else evidence.follow_up.to_dict(),
            "handshake_problems": list(evidence.handshake_problems),
            "tls_version": evidence.tls_version,
            "elapsed_ms": round(evidence.elapsed * 1000, 1),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def render_text(self) -> str:
        evidence = self.evidence
        out: list[str] = []
        uri = evidence.uri
        route = f"through the proxy {redact_url(evidence.proxy)}" if evidence.proxy \
            else "directly"
        tls = ", TLS" if uri.secure else ""
        out.append(f"Probing {redact_url(evidence.url)} ({uri.host}:{uri.port}{tls}, {route}, "
                   f"timeout {evidence.timeout:g} s)")
        out.append("")
        if evidence.proxy_request is not None:
            out.append("Proxy request sent:")
            out += _quoted(evidence.proxy_request.request_line,
                           evidence.proxy_request.display_headers(), "> ")
            if evidence.proxy_response is not None:
                out.append("Proxy response received:")
                out += _quoted_response(evidence.proxy_response)
            out.append("")
        sent = evidence.response is not None or (
            evidence.failure is not None and evidence.failure.stage in ("receive",)
        )
        out.append("Request sent:" if sent else "Request prepared (not sent):")
        out += _quoted(evidence.request.request_line, evidence.request.display_headers(), "> ")
        out.append("")
        if evidence.tls_version:
            out.append(f"TLS: {evidence.tls_version}")
            out.append("")
        if evidence.response is not None:
            response = evidence.response
            out.append(f"Response received after {response.elapsed * 1000:.1f} ms:")
            out += _quoted_response(response)
            out.append("")
        elif evidence.failure is not None:
            out.append(f"No response: {evidence.failure.stage} failed "
                       f"({evidence.failure.kind}): {evidence.failure.message}")
            if evidence.received_prefix:
                out.append(f"    first bytes received: {evidence.received_prefix.hex()}")
            out.append("")
        if evidence.follow_up is not None:
            out.append(f"Follow-up check: {evidence.follow_up.summary}")
            out.append("")
        verdict = self.verdict.upper()
        out.append(f"Verdict: {verdict} (exit status {self.exit_status}): {self.signature}")
        if self.verdict == VERDICT_CONNECTED:
            connected = evidence.response
            assert connected is not None
            details = [
                f"subprotocol {connected.header('Sec-WebSocket-Protocol') or 'none'}",
                f"extensions {connected.header('Sec-WebSocket-Extensions') or 'none'}",
            ]
            out.append("The server accepted the WebSocket handshake (" + "; ".join(details)
                       + "); the probe then closed the connection with 1000.")
            return "\n".join(out) + "\n"
        out.append("")
        if not self.causes:
            out.append("No known cause matches.")
            return "\n".join(out) + "\n"
        out.append("Likely causes, most likely first:")
        for rank, matched in enumerate(self.causes, 1):
            cause = matched.cause
            out.append("")
            out.append(f"{rank}. {cause.title} [{cause.id}, confidence "
                       f"{cause.confidence:.2f}]")
            out += _wrapped("Why: " + matched.root_cause, "   ")
            out.append("   What to change:")
            for text in matched.workarounds:
                out += _bullet(text)
            if matched.dead_ends:
                out.append("   Dead ends (these don't help):")
                for text in matched.dead_ends:
                    out += _bullet(text)
            out += _wrapped("Evidence: " + "; ".join(matched.evidence), "   ")
        return "\n".join(out) + "\n"


def _quoted(first_line: str, headers: Sequence[tuple[str, str]], mark: str) -> list[str]:
    return [f"    {mark}{first_line}"] + [f"    {mark}{n}: {v}" for n, v in headers]


def _quoted_response(response: ReceivedResponse) -> list[str]:
    lines = _quoted(response.status_line, response.headers, "< ")
    body = response.body_text
    if body:
        lines.append("    <")
        excerpt = body.splitlines()
        for line in excerpt[:40]:
            lines.append(f"    < {line}")
        if len(excerpt) > 40 or response.body_truncated:
            lines.append("    < [... body truncated]")
    return lines


def _wrapped(text: str, indent: str, width: int = 96) -> list[str]:
    """Wrap prose; lines that start with spaces (config snippets) stay as written."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        if paragraph.startswith(" ") or len(indent) + len(paragraph) <= width:
            lines.append(indent + paragraph)
            continue
        current = ""
        for word in paragraph.split(" "):
            if current and len(indent) + len(current) + 1 + len(word) > width:
                lines.append(indent + current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        lines.append(indent + current)
    return lines


def _bullet(text: str) -> list[str]:
    lines = _wrapped(text, "       ")
    lines[0] = "     - " + lines[0][7:]
    return lines
