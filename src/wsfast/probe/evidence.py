"""What one probe observes: the request sent, the response received or how the attempt
failed, the follow-up check, and the verdict they add up to.

These are the facts that the causes' conditions read (:mod:`.causes`) and that the report
shows (:mod:`.report`); reports get pasted into issues, so credentials are masked here.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterable
from typing import Any

from ..uri import WebSocketURI

# A response's body is kept as an excerpt of at most this many bytes: enough for the
# causes and the report, whether the probe read it or the client's diagnosis did.
MAX_BODY_EXCERPT = 4096

# Headers that carry secrets: never repeated in a follow-up over another transport, which
# could be plain text where the user asked for TLS.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

VERDICT_CONNECTED = "connected"
VERDICT_REJECTED = "rejected"
VERDICT_UNREACHABLE = "unreachable"
EXIT_STATUS = {VERDICT_CONNECTED: 0, VERDICT_REJECTED: 1, VERDICT_UNREACHABLE: 2}


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
