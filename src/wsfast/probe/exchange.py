"""The exchange: one attempt over a raw socket (maybe through a proxy, maybe TLS), the
checks of a ``101``, the follow-up over the other transport, and :func:`probe` itself."""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import struct
import time
from collections.abc import Sequence

from ..http11 import USER_AGENT
from ..uri import get_proxy, parse_proxy, parse_uri
from ..utils import accept_key
from .causes import CauseCatalogue, load_causes
from .evidence import (
    CREDENTIAL_HEADERS,
    MAX_BODY_EXCERPT,
    Evidence,
    Failure,
    FollowUp,
    ReceivedResponse,
    SentRequest,
)
from .report import ProbeReport
from .request import build_request_headers

DEFAULT_TIMEOUT = 10.0
# Follow-up checks only confirm a hypothesis: they needn't wait as long as the probe itself.
FOLLOW_UP_TIMEOUT = 3.0
# Once the headers are in, a body without Content-Length is read until the server pauses.
BODY_IDLE_TIMEOUT = 1.0
MAX_HEAD_SIZE = 64 * 1024
RECEIVED_PREFIX_SIZE = 32

# OpenSSL's reasons for "the peer's bytes aren't a TLS record": a plain-text server
# answered the ClientHello, typically with "HTTP/1.1 400 ...".
TLS_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
     "UNKNOWN_PROTOCOL", "RECORD_TOO_LARGE"}
)


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
