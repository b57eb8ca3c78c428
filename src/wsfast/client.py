"""Sans-I/O WebSocket client (RFC 6455 §4.1, §4.2.2), with the interface of ``websockets.client``.

:class:`ClientProtocol` builds the opening handshake request (:meth:`~ClientProtocol.connect`,
:meth:`~ClientProtocol.send_request`), parses and checks the server's response, then behaves
as :class:`~wsfast.protocol.Protocol`. The response becomes an event; when the handshake fails,
:attr:`~wsfast.protocol.Protocol.handshake_exc` holds the reason and the connection closes.

The checks, their order, the exceptions raised and their messages are websockets 17.4's.
What wsfast knows beyond them (the server's explanation in a rejection's body, the likely
cause, the header at fault) is the exception's ``diagnosis``, also a PEP 678 note: tracebacks
show it, ``str()`` stays websockets'.
"""

from __future__ import annotations

import asyncio
import os
import random
import urllib.parse
from collections.abc import Generator, Sequence
from typing import NamedTuple

from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (
    InvalidHandshake,
    add_diagnosis,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    NegotiationError,
    SecurityError,
    StatusLineTooLong,
)
from .extensions import ClientExtensionFactory, Extension
from .headers import (
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    check_upgrade,
    parse_extension,
    parse_subprotocol,
)
from .http11 import Request, Response
from .protocol import CLIENT, CONNECTING, OPEN, Protocol, State
from .typing import (
    ExtensionHeader,
    LoggerLike,
    Origin,
    Subprotocol,
)
from .uri import Proxy, WebSocketURI, parse_uri
from .utils import accept_key, generate_key

__all__ = [
    "ClientProtocol",
    "Redirect",
    "backoff",
    "follow_redirect",
    "prepare_connect_request",
    "process_exception",
]


class ClientProtocol(Protocol):
    """Sans-I/O implementation of a WebSocket client connection.

    Args:
        uri: URI of the WebSocket server, parsed with :func:`~wsfast.uri.parse_uri`.
        origin: Value of the ``Origin`` header, for servers that check it to defend against
            Cross-Site WebSocket Hijacking.
        extensions: Supported extensions, in the order in which they should be tried.
        subprotocols: Supported subprotocols, in order of decreasing preference.
        state: Initial state of the WebSocket connection.
        max_size: Maximum size of incoming messages in bytes; :obj:`None` disables the
            limit; a ``(max_message_size, max_fragment_size)`` tuple also limits frames.
        max_fragments: Maximum number of frames in one incoming message.
        logger: Logger for this connection; defaults to
            ``logging.getLogger("websockets.client")``.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        state: State = CONNECTING,
        max_size: int | None | tuple[int | None, int | None] = 2**20,
        max_fragments: int | None = None,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(
            side=CLIENT,
            state=state,
            max_size=max_size,
            max_fragments=max_fragments,
            logger=logger,
        )
        self.uri = uri
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        # RFC 6455 §4.1: a fresh random nonce per connection, which the server's
        # Sec-WebSocket-Accept must answer.
        self.key = generate_key()
        # The handshake request, for the diagnosis of a rejection.
        self._request_sent: Request | None = None

    def connect(self) -> Request:
        """Create a handshake request to open a connection (RFC 6455 §4.1).

        Send it with :meth:`send_request`; it may be modified before, e.g. to add headers.
        """
        headers = Headers()
        headers["Host"] = build_host(self.uri.host, self.uri.port, self.uri.secure)
        if self.uri.user_info:
            headers["Authorization"] = build_authorization_basic(*self.uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions is not None:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [
                    (factory.name, factory.get_request_params())
                    for factory in self.available_extensions
                ]
            )
        if self.available_subprotocols is not None:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        return Request(self.uri.resource_name, headers)

    def process_response(self, response: Response) -> None:
        """Check a handshake response (RFC 6455 §4.2.2, §4.1 "the client MUST validate").

        Raises:
            InvalidStatus: If the status isn't 101.
            InvalidUpgrade: If the Connection or Upgrade header is missing or wrong.
            InvalidHeader: If Sec-WebSocket-Accept is missing or repeated.
            InvalidHeaderValue: If Sec-WebSocket-Accept doesn't answer our key.
            NegotiationError: If the server picked an extension or subprotocol that the
                client didn't offer.
        """
        if response.status_code != 101:
            exc = InvalidStatus(response)
            self._diagnose_rejection(exc)
            raise exc

        headers = response.headers

        check_upgrade(headers)

        try:
            s_w_accept = headers["Sec-WebSocket-Accept"]
        except KeyError:
            raise InvalidHeader("Sec-WebSocket-Accept") from None
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Accept", "multiple values") from None
        if s_w_accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", s_w_accept)

        self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)

    def _diagnose_rejection(self, exc: InvalidStatus) -> None:
        """Give ``exc`` the server's explanation and the likely cause, as its diagnosis."""
        response = exc.response
        text = f"The server answered HTTP {response.status_code} {response.reason_phrase}"
        excerpt = exc.body_excerpt()
        text += "." if excerpt is None else f": {excerpt}"
        try:
            # Only on this failure path: the probe's cause catalogue is loaded once.
            from .probe import diagnose_rejection

            # The request sent, or the one connect() builds when the caller sent its own.
            request = self._request_sent or self.connect()
            cause = diagnose_rejection(self.uri, request, response)
        except Exception:  # a diagnosis must never hide the rejection itself
            cause = None
        add_diagnosis(exc, text if cause is None else f"{text}\n{cause}")

    def process_extensions(self, headers: Headers) -> list[Extension]:
        """Handle the ``Sec-WebSocket-Extensions`` response header (RFC 6455 §9.1).

        Each extension the server accepted must match one of the client's factories, by name
        and parameters; factories see the extensions accepted before them, so that each
        extension can enforce its own rules. Override to add requirements, e.g. mandatory
        extensions.

        Returns:
            The accepted extensions, in the server's order.

        Raises:
            NegotiationError: If the server accepted an extension, or parameters, that the
                client didn't offer (RFC 6455 §9.1: the server may only pick among them).
        """
        accepted: list[Extension] = []

        header_values = headers.get_all("Sec-WebSocket-Extensions")
        if not header_values:
            return accepted

        if self.available_extensions is None:
            exc = NegotiationError("no extensions supported")
            add_diagnosis(
                exc,
                "The client offered no extensions, yet the response's "
                f"Sec-WebSocket-Extensions header accepts: {', '.join(header_values)} "
                "(RFC 6455 section 9.1: a server may only accept what the client offered).",
            )
            raise exc

        parsed: list[ExtensionHeader] = []
        for value in header_values:
            parsed.extend(parse_extension(value))

        for name, response_params in parsed:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(response_params, accepted)
                except NegotiationError:
                    # Parameters this factory can't accept; another may.
                    continue
                accepted.append(extension)
                break
            else:
                exc = NegotiationError(
                    f"Unsupported extension: name = {name}, params = {response_params}"
                )
                add_diagnosis(
                    exc,
                    "The response's Sec-WebSocket-Extensions header accepts an extension or "
                    "parameters that the client did not offer (RFC 6455 section 9.1).",
                )
                raise exc

        return accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """Handle the ``Sec-WebSocket-Protocol`` response header (RFC 6455 §4.2.2).

        Returns:
            The subprotocol the server selected, if any.

        Raises:
            InvalidHeader: If the server selected more than one.
            NegotiationError: If it selected one the client didn't offer.
        """
        header_values = headers.get_all("Sec-WebSocket-Protocol")
        if not header_values:
            return None

        if self.available_subprotocols is None:
            exc = NegotiationError("no subprotocols supported")
            add_diagnosis(
                exc,
                "The client offered no subprotocols, yet the response's "
                f"Sec-WebSocket-Protocol header selects: {', '.join(header_values)} "
                "(RFC 6455 section 4.1: the server may only select one the client offered).",
            )
            raise exc

        parsed: list[Subprotocol] = []
        for value in header_values:
            parsed.extend(parse_subprotocol(value))
        if len(parsed) > 1:
            raise InvalidHeader(
                "Sec-WebSocket-Protocol",
                f"multiple values: {', '.join(parsed)}",
            )

        subprotocol = parsed[0]
        if subprotocol not in self.available_subprotocols:
            exc = NegotiationError(f"unsupported subprotocol: {subprotocol}")
            add_diagnosis(
                exc,
                f"The server selected {subprotocol}; the client offered "
                f"{', '.join(self.available_subprotocols) or 'none'} in "
                "Sec-WebSocket-Protocol (RFC 6455 section 4.1).",
            )
            raise exc
        return subprotocol

    def send_request(self, request: Request) -> None:
        """Send a handshake request to the server."""
        if self.debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
            for key, value in request.headers.raw_items():
                self.logger.debug("> %s: %s", key, value)

        self._request_sent = request
        self.writes.append(request.serialize())

    def _abort_handshake(self) -> None:
        # RFC 6455 §4.1: "the client MUST _Fail the WebSocket Connection_" when the
        # response is unacceptable; during the handshake that means closing TCP.
        self.send_eof()
        self._discard_from_now_on()

    def parse(self) -> Generator[None]:
        if self._state is CONNECTING:
            reader = self.reader
            try:
                response = yield from Response.parse(
                    reader.read_line,
                    reader.read_exact,
                    reader.read_to_eof,
                )
            except StatusLineTooLong as exc:
                self.handshake_exc = exc
                self._abort_handshake()
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")
            except Exception as exc:
                self.handshake_exc = InvalidMessage("did not receive a valid HTTP response")
                self.handshake_exc.__cause__ = exc
                self._abort_handshake()
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")

            if self.debug:
                code, phrase = response.status_code, response.reason_phrase
                self.logger.debug("< HTTP/1.1 %d %s", code, phrase)
                for key, value in response.headers.raw_items():
                    self.logger.debug("< %s: %s", key, value)
                if response.body:
                    self.logger.debug("< [body] (%d bytes)", len(response.body))

            try:
                self.process_response(response)
            except InvalidHandshake as exc:
                response._exception = exc
                self.events.append(response)
                self.handshake_exc = exc
                self._abort_handshake()
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")

            assert self._state is CONNECTING
            self.state = OPEN
            self.events.append(response)

        # Frames the server sent right behind its response are parsed in this same step.
        yield from super().parse()


# Reconnection (``async for websocket in connect(...)``) -----------------------------------

BACKOFF_INITIAL_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "5"))
BACKOFF_MIN_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MIN_DELAY", "3.1"))
BACKOFF_MAX_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MAX_DELAY", "90.0"))
BACKOFF_FACTOR = float(os.environ.get("WEBSOCKETS_BACKOFF_FACTOR", "1.618"))


def process_exception(exc: Exception) -> Exception | None:
    """Tell whether a failed connection attempt is worth retrying.

    Return :obj:`None` to retry: network errors (:exc:`OSError`, :exc:`TimeoutError`), a
    handshake cut short by EOF (:exc:`~wsfast.exceptions.InvalidMessage` caused by
    :exc:`EOFError`), and server or proxy errors (HTTP 500, 502, 503, 504). Return the
    exception to raise for anything else, which would most likely fail again the same way.
    """
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (500, 502, 503, 504):
        return None
    return exc


def backoff(
    initial_delay: float = BACKOFF_INITIAL_DELAY,
    min_delay: float = BACKOFF_MIN_DELAY,
    max_delay: float = BACKOFF_MAX_DELAY,
    factor: float = BACKOFF_FACTOR,
) -> Generator[float]:
    """Yield the delays between reconnection attempts, growing exponentially.

    The first delay is random, up to ``initial_delay``, so that clients cut off together
    don't all come back at once (RFC 6455 §7.2.3).
    """
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay


# Redirects and proxies, for the asyncio and threading clients -----------------------------

MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))

# RFC 9110 §15.4: the statuses whose Location a client may follow.
REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})

# Headers that carry credentials for one origin; they don't follow a redirect to another.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class Redirect(NamedTuple):
    """Where a redirect leads, and the headers to send there."""

    uri: str
    additional_headers: HeadersLike | None


def follow_redirect(
    uri: str,
    exc: Exception,
    additional_headers: HeadersLike | None,
    *,
    preexisting_socket: bool,
    unix: bool,
    explicit_address: str | None,
) -> Redirect | Exception:
    """Decide whether a failed handshake is a redirect that the client may follow.

    Return the :class:`Redirect` to follow, or the exception to raise: ``exc`` itself when
    it isn't a redirect, another one when following it would be unsafe or ill-defined.
    ``explicit_address`` words how the caller overrode the server's address, if it did.
    """
    if not (
        isinstance(exc, InvalidStatus)
        and exc.response.status_code in REDIRECT_STATUSES
        and "Location" in exc.response.headers
    ):
        return exc

    old_ws_uri = parse_uri(uri)
    new_uri = urllib.parse.urljoin(uri, exc.response.headers["Location"])
    new_ws_uri = parse_uri(new_uri)

    # A socket given by the caller is closed by now and cannot be reused.
    if preexisting_socket:
        return ValueError(f"cannot follow redirect to {new_uri} with a preexisting socket")

    # A TLS downgrade would expose what TLS protected.
    if old_ws_uri.secure and not new_ws_uri.secure:
        return SecurityError(f"cannot follow redirect to non-secure URI {new_uri}")

    if (
        old_ws_uri.secure != new_ws_uri.secure
        or old_ws_uri.host != new_ws_uri.host
        or old_ws_uri.port != new_ws_uri.port
    ):
        if unix:
            return ValueError(
                f"cannot follow cross-origin redirect to {new_uri} with a Unix socket"
            )
        if explicit_address is not None:
            return ValueError(
                f"cannot follow cross-origin redirect to {new_uri} with {explicit_address}"
            )
        # Credentials were meant for the first origin only.
        if additional_headers is not None:
            additional_headers = Headers(
                (key, value)
                for key, value in Headers(additional_headers).raw_items()
                if key.lower() not in _CREDENTIAL_HEADERS
            )

    return Redirect(new_uri, additional_headers)


def prepare_connect_request(
    proxy: Proxy,
    ws_uri: WebSocketURI,
    user_agent_header: str | None = None,
) -> bytes:
    """The HTTP CONNECT request that opens a tunnel to the server (RFC 9110 §9.3.6)."""
    host = build_host(ws_uri.host, ws_uri.port, ws_uri.secure, always_include_port=True)
    headers = Headers()
    headers["Host"] = build_host(ws_uri.host, ws_uri.port, ws_uri.secure)
    if user_agent_header is not None:
        headers["User-Agent"] = user_agent_header
    if proxy.username is not None:
        assert proxy.password is not None  # enforced by parse_proxy()
        headers["Proxy-Authorization"] = build_authorization_basic(
            proxy.username, proxy.password
        )
    # Not a Request: that class only does GET.
    return f"CONNECT {host} HTTP/1.1\r\n".encode() + headers.serialize()


# python-socks' proxy types and whether the proxy resolves host names, per URI scheme.
SOCKS_PROXY_SCHEMES = {
    "socks5h": ("SOCKS5", True),
    "socks5": ("SOCKS5", False),
    "socks4a": ("SOCKS4", True),
    "socks4": ("SOCKS4", False),
}


# Deprecated alias --------------------------------------------------------------------------


class ClientConnection(ClientProtocol):
    """:class:`ClientProtocol`'s former name, which websockets keeps with a warning."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        import warnings

        warnings.warn(
            "ClientConnection was renamed to ClientProtocol", DeprecationWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
