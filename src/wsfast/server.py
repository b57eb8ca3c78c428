"""Sans-I/O WebSocket server (RFC 6455 §4.2), with the interface of ``websockets.server``.

:class:`ServerProtocol` parses the client's opening handshake request (an event), checks it
and negotiates extensions and a subprotocol in :meth:`~ServerProtocol.accept`, sends the
response with :meth:`~ServerProtocol.send_response`, then behaves as
:class:`~wsfast.protocol.Protocol`.

The checks, their order, the exceptions kept in ``handshake_exc``, the responses (status,
headers, body: ``Failed to open a WebSocket connection: <reason>.``) and the INFO log lines
(``connection rejected (400 Bad Request)``, ``HTTP response sent (200 OK)``) are websockets
17.4's, byte for byte, since code, tests and proxies written for websockets read them. The
project's handshake diagnostics (docs/compatibility.md) add to them without changing them:

* each rejection is followed by a second INFO record on the same logger naming the peer, the
  request line, the status, the cause and what to change (for a missing
  ``Upgrade``/``Connection``, that a reverse proxy must forward them, with the nginx lines);
  its ``LogRecord`` carries ``wsfast_diagnosis=True``, so that a filter can drop it;
* a rejected ``Sec-WebSocket-Version`` keeps websockets' 400 and gains the
  ``Sec-WebSocket-Version: 13`` header that RFC 6455 §4.4 requires.

The other response details are websockets': ``Date``, ``Connection: close``,
``Content-Length`` and ``Content-Type: text/plain; charset=utf-8``. As in websockets' Sans-I/O
layer, the ``Server`` header is left to the I/O layer, which knows its configured value.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hmac
import http
import re
import types
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, cast

from . import http11
from .datastructures import Headers, MultipleValuesError
from .exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    TooManyHeaders,
)
from .extensions import Extension, ServerExtensionFactory
from .headers import (
    build_extension,
    build_www_authenticate_basic,
    check_upgrade,
    parse_authorization_basic,
    parse_extension,
    parse_subprotocol,
)
from .http11 import Request, Response
from .protocol import CONNECTING, OPEN, SERVER, Protocol, State
from .typing import (
    ExtensionHeader,
    LoggerLike,
    Origin,
    StatusLike,
    Subprotocol,
)
from .utils import accept_key

__all__ = ["ServerProtocol", "basic_auth_challenge", "credentials_checker", "read_basic_auth"]

# What a reverse proxy needs to pass a WebSocket upgrade through. Upgrade and Connection are
# hop-by-hop headers (RFC 9110 §7.6.1, §7.8): proxies drop them unless told otherwise, and
# nginx also speaks HTTP/1.0 to upstreams by default, which has no Upgrade mechanism.
_NGINX_LINES = (
    "    proxy_http_version 1.1;\n"
    "    proxy_set_header Upgrade $http_upgrade;\n"
    '    proxy_set_header Connection "upgrade";\n'
)

_UPGRADE_REQUIRED_HINT = (
    'A WebSocket handshake request must carry "Upgrade: websocket" and '
    '"Connection: Upgrade" (RFC 6455 section 4.1).\n'
    "\n"
    "If a reverse proxy or a load balancer runs in front of this server, it must forward "
    "the Upgrade and Connection headers: they are hop-by-hop headers, which proxies drop "
    "unless configured to pass them on. With nginx:\n"
    "\n" + _NGINX_LINES + "\n"
    "A browser can't open a WebSocket connection by visiting this URL; use a WebSocket "
    "client.\n"
)

_KEY_HINT = (
    "Sec-WebSocket-Key must be the base64 encoding of 16 random bytes, such as "
    "dGhlIHNhbXBsZSBub25jZQ== (RFC 6455 section 4.1); a client generates a new one for "
    "each connection.\n"
)

_VERSION_HINT = (
    "This server speaks version 13 of the WebSocket protocol (RFC 6455) only: the request "
    'must include "Sec-WebSocket-Version: 13".\n'
)

_INTERNAL_ERROR_TEXT = (
    "Failed to open a WebSocket connection.\nSee server log for more information.\n"
)


def _http_version_hint(protocol: str) -> str:
    """What to change when a request isn't HTTP/1.1."""
    hint = "A WebSocket handshake requires HTTP/1.1 (RFC 6455 section 4.1).\n"
    if protocol == "HTTP/1.0":
        # nginx proxies with HTTP/1.0 unless told otherwise: the usual way to get here.
        hint += (
            "A reverse proxy in front of this server may be speaking HTTP/1.0 to it "
            "(nginx's default): configure proxy_http_version 1.1; and forward the Upgrade "
            "and Connection headers.\n"
        )
    return hint


def _exception_chain(exc: BaseException) -> str:
    """The exception's message followed by its causes', as websockets words a 400."""
    text = str(exc)
    cause = exc.__cause__
    while cause is not None:
        text += f"; {cause}"
        cause = cause.__cause__
    return text


def _format_peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        if isinstance(host, str) and ":" in host:
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    return str(peer)


class ServerProtocol(Protocol):
    """Sans-I/O implementation of a WebSocket server connection.

    Args:
        origins: Acceptable values of the ``Origin`` header: :class:`str` for an exact
            match, compiled regular expressions for a full match, :obj:`None` to accept
            requests without ``Origin``. Defends against Cross-Site WebSocket Hijacking.
        extensions: Supported extensions, in the order in which they should be tried.
        subprotocols: Supported subprotocols, in order of decreasing preference.
        select_subprotocol: Callback replacing :meth:`select_subprotocol`; it receives
            this :class:`ServerProtocol` as first argument.
        state: Initial state of the WebSocket connection.
        max_size: Maximum size of incoming messages in bytes; :obj:`None` disables the
            limit; a ``(max_message_size, max_fragment_size)`` tuple also limits frames.
        max_fragments: Maximum number of frames in one incoming message.
        logger: Logger for this connection; defaults to
            ``logging.getLogger("websockets.server")``.

    The I/O layer may set :attr:`remote_address` so that rejections are logged with the
    peer's address; otherwise it is read from ``logger.extra["websocket"].remote_address``
    when the logger is a :class:`logging.LoggerAdapter` set up that way, as websockets' are.
    """

    def __init__(
        self,
        *,
        origins: Sequence[Origin | re.Pattern[str] | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        select_subprotocol: (
            Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None] | None
        ) = None,
        state: State = CONNECTING,
        max_size: int | None | tuple[int | None, int | None] = 2**20,
        max_fragments: int | None = None,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(
            side=SERVER,
            state=state,
            max_size=max_size,
            max_fragments=max_fragments,
            logger=logger,
        )
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        if select_subprotocol is not None:
            # Bound to this instance, shadowing the method, as websockets does.
            bound = types.MethodType(select_subprotocol, self)
            self.select_subprotocol = bound  # type: ignore[method-assign]
        # True once accept() attempted a WebSocket handshake; False when the response is a
        # plain HTTP response built by the application (e.g. a health check).
        self.accept_called = False
        self.remote_address: Any = None
        # For the diagnosis logged after a rejection: the request line, and the reason and
        # advice of the rejection.
        self._request_line: str | None = None
        self._rejection: tuple[str, str] | None = None
        # Which header process_request() is negotiating, to explain a NegotiationError.
        self._negotiating: str | None = None

    def accept(self, request: Request) -> Response:
        """Create a handshake response to accept the connection (RFC 6455 §4.2.2).

        Returns a 101 response if the request is a valid handshake and negotiation succeeds;
        otherwise a response rejecting the connection, as :meth:`reject` builds it, whose
        status and body explain why. Send it with :meth:`send_response`; headers may be
        added before.
        """
        self.accept_called = True
        self._request_line = f"{request.method} {request.path} {request.protocol}"
        try:
            accept_header, extensions_header, protocol_header = self.process_request(request)
        except InvalidHandshake as exc:
            request._exception = exc
            self.handshake_exc = exc
            return self._reject_handshake(exc, request)
        except Exception as exc:
            # A user-provided select_subprotocol failed, or a bug: don't leak details.
            request._exception = exc
            self.handshake_exc = exc
            self.logger.error("opening handshake failed", exc_info=True)
            return self.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL_ERROR_TEXT)

        headers = Headers()
        headers["Date"] = email.utils.formatdate(usegmt=True)
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Accept"] = accept_header
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        return Response(101, "Switching Protocols", headers)

    def _reject_handshake(self, exc: InvalidHandshake, request: Request) -> Response:
        """Build websockets' response rejecting the handshake for ``exc``; keep the advice."""
        extra_headers: list[tuple[str, str]] = []
        reason = str(exc)
        # websockets' body; the upgrade and 400 cases below word it their way.
        body = f"Failed to open a WebSocket connection: {exc}.\n"
        debug_message = "! invalid handshake"
        if isinstance(exc, InvalidOrigin):
            debug_message = "! invalid origin"
            status = http.HTTPStatus.FORBIDDEN
            if exc.origin is None:
                hint = (
                    "This server only accepts WebSocket connections that send an Origin "
                    "header. Browsers send one; other clients must set it, or the server "
                    "must include None in its origins to accept requests without one.\n"
                )
            else:
                hint = (
                    f"This server doesn't accept WebSocket connections from the origin "
                    f"{exc.origin}. If it should, add {exc.origin} to the origins that "
                    f"the server accepts.\n"
                )
        elif isinstance(exc, InvalidMethod):
            debug_message = "! invalid method"
            status = http.HTTPStatus.METHOD_NOT_ALLOWED
            extra_headers.append(("Allow", "GET"))
            hint = "A WebSocket handshake is a GET request (RFC 6455 section 4.1).\n"
        elif isinstance(exc, InvalidProtocol):
            debug_message = "! invalid protocol"
            status = http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED
            hint = _http_version_hint(exc.protocol)
        elif isinstance(exc, InvalidUpgrade):
            debug_message = "! invalid upgrade"
            # RFC 9110 §15.5.22: a 426 response names the protocol to upgrade to.
            status = http.HTTPStatus.UPGRADE_REQUIRED
            extra_headers.append(("Upgrade", "websocket"))
            missing = [name for name in ("Upgrade", "Connection") if name not in request.headers]
            if missing:
                reason = f"{exc} (missing: {' and '.join(missing)})"
            hint = _UPGRADE_REQUIRED_HINT
            body = (
                f"Failed to open a WebSocket connection: {exc}.\n"
                f"\n"
                f"You cannot access a WebSocket server directly with a browser. "
                f"You need a WebSocket client.\n"
            )
        else:
            status = http.HTTPStatus.BAD_REQUEST
            reason = _exception_chain(exc)
            if isinstance(exc, InvalidHeader) and exc.name.lower() == "sec-websocket-version":
                # RFC 6455 §4.4: a server that doesn't understand the version sends the
                # versions it does understand. websockets doesn't; the status and body stay
                # websockets'.
                extra_headers.append(("Sec-WebSocket-Version", "13"))
                hint = _VERSION_HINT
            else:
                hint = self._bad_request_hint(exc, request)
            body = f"Failed to open a WebSocket connection: {reason}.\n"

        if self.debug:
            self.logger.debug(debug_message, exc_info=True)
        response = self.reject(status, body)
        for name, value in extra_headers:
            response.headers[name] = value
        self._rejection = (reason, hint)
        return response

    def _bad_request_hint(self, exc: InvalidHandshake, request: Request) -> str:
        """What to change for a 400: depends on the header at fault."""
        if isinstance(exc, InvalidHeader):
            header = exc.name.lower()
        elif isinstance(exc, NegotiationError) and self._negotiating is not None:
            header = self._negotiating.lower()
        else:
            return ""
        if header == "sec-websocket-key":
            return _KEY_HINT
        if header in ("connection", "upgrade"):
            return _UPGRADE_REQUIRED_HINT
        if header == "origin":
            return "Send one Origin header at most (RFC 6454 section 7.3).\n"
        if header == "sec-websocket-extensions":
            if isinstance(exc, NegotiationError):
                return (
                    "The extensions offered in Sec-WebSocket-Extensions could not be "
                    "negotiated (RFC 6455 section 9.1).\n"
                )
            return (
                "Sec-WebSocket-Extensions must follow the syntax of RFC 6455 section 9.1, "
                'e.g. "permessage-deflate; client_max_window_bits"; correct it or leave '
                "it out.\n"
            )
        if header == "sec-websocket-protocol":
            offered = ", ".join(request.headers.get_all("Sec-WebSocket-Protocol")) or "none"
            if self.available_subprotocols:
                return (
                    f"This server supports these subprotocols: "
                    f"{', '.join(self.available_subprotocols)}. The client must offer at "
                    f"least one of them in Sec-WebSocket-Protocol; it offered: {offered}.\n"
                )
            return (
                f"The server refused the subprotocols offered in Sec-WebSocket-Protocol: "
                f"{offered}.\n"
            )
        return ""

    def process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        """Check a handshake request and negotiate extensions and subprotocol.

        The ``Host`` header isn't checked: the HTTP stack in front must do that.

        Returns:
            The ``Sec-WebSocket-Accept``, ``Sec-WebSocket-Extensions`` and
            ``Sec-WebSocket-Protocol`` headers of the response.

        Raises:
            InvalidMethod: If the method isn't GET (405).
            InvalidProtocol: If the protocol isn't HTTP/1.1 (505).
            InvalidUpgrade: If Upgrade or Connection doesn't ask for a WebSocket upgrade.
            InvalidOrigin: If the origin isn't acceptable (403).
            InvalidHandshake: If the request is otherwise invalid (400).
        """
        # RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP version MUST
        # be at least 1.1."
        if request.method != "GET":
            raise InvalidMethod(request.method)

        if request.protocol != "HTTP/1.1":
            raise InvalidProtocol(request.protocol)

        headers = request.headers

        check_upgrade(headers)

        try:
            key = headers["Sec-WebSocket-Key"]
        except KeyError:
            raise InvalidHeader("Sec-WebSocket-Key") from None
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Key", "multiple values") from None
        # RFC 6455 §4.1: the key is a base64-encoded 16-byte nonce.
        try:
            raw_key = base64.b64decode(key.encode(), validate=True)
        except binascii.Error as exc:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key) from exc
        if len(raw_key) != 16:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key)
        accept_header = accept_key(key)

        try:
            version = headers["Sec-WebSocket-Version"]
        except KeyError:
            raise InvalidHeader("Sec-WebSocket-Version") from None
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Version", "multiple values") from None
        if version != "13":
            raise InvalidHeaderValue("Sec-WebSocket-Version", version)

        self.origin = self.process_origin(headers)
        self._negotiating = "Sec-WebSocket-Extensions"
        extensions_header, self.extensions = self.process_extensions(headers)
        self._negotiating = "Sec-WebSocket-Protocol"
        protocol_header = self.subprotocol = self.process_subprotocol(headers)
        self._negotiating = None

        return accept_header, extensions_header, protocol_header

    def process_origin(self, headers: Headers) -> Origin | None:
        """Handle the ``Origin`` request header.

        Returns:
            The origin, if it is acceptable.

        Raises:
            InvalidHeader: If there is more than one Origin header.
            InvalidOrigin: If the origin isn't acceptable.
        """
        # RFC 6454 §7.3: "The user agent MUST NOT include more than one Origin header
        # field in any HTTP request."
        try:
            origin = headers.get("Origin")
        except MultipleValuesError:
            raise InvalidHeader("Origin", "multiple values") from None
        if self.origins is not None:
            for allowed in self.origins:
                if allowed == origin or (
                    isinstance(allowed, re.Pattern)
                    and origin is not None
                    and allowed.fullmatch(origin) is not None
                ):
                    break
            else:
                raise InvalidOrigin(origin)
        return cast("Origin | None", origin)

    def process_extensions(self, headers: Headers) -> tuple[str | None, list[Extension]]:
        """Handle the ``Sec-WebSocket-Extensions`` request header (RFC 6455 §9.1).

        Each extension the client offers is matched against the server's factories, by
        name then by parameters; factories see the extensions accepted before them. An
        offer no factory accepts is declined, not an error. The server can only select a
        subset of the offers, in the client's order. Override to add requirements.

        Returns:
            The ``Sec-WebSocket-Extensions`` response header and the accepted extensions.

        Raises:
            InvalidHandshake: If the header is malformed.
        """
        extension_headers: list[ExtensionHeader] = []
        accepted: list[Extension] = []

        header_values = headers.get_all("Sec-WebSocket-Extensions")
        if header_values and self.available_extensions:
            offers: list[ExtensionHeader] = []
            for value in header_values:
                offers.extend(parse_extension(value))

            for name, request_params in offers:
                for factory in self.available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        response_params, extension = factory.process_request_params(
                            request_params, accepted
                        )
                    except NegotiationError:
                        # This factory declines these parameters; another may accept them.
                        continue
                    extension_headers.append((name, response_params))
                    accepted.append(extension)
                    break

        response_header = build_extension(extension_headers) if extension_headers else None
        return response_header, accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """Handle the ``Sec-WebSocket-Protocol`` request header (RFC 6455 §4.2.2).

        Returns:
            The selected subprotocol, also the value of the response header, if any.

        Raises:
            InvalidHandshake: If the header is malformed or negotiation fails.
        """
        offered: list[Subprotocol] = []
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            offered.extend(parse_subprotocol(value))
        return self.select_subprotocol(offered)

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        """Pick a subprotocol among those offered by the client.

        The first of the server's subprotocols that the client offers wins. A server
        without subprotocols continues without one, whatever the client offers; a server
        with subprotocols rejects a client that offers none or none in common (400).

        Pass ``select_subprotocol`` to :class:`ServerProtocol` to change this, e.g. to
        continue without a subprotocol instead of rejecting.

        Returns:
            The selected subprotocol, or :obj:`None` to continue without one.

        Raises:
            NegotiationError: To reject the handshake with a 400 error.
        """
        if not self.available_subprotocols:
            return None

        if not subprotocols:
            raise NegotiationError("missing subprotocol")

        offered = set(subprotocols)
        for subprotocol in self.available_subprotocols:
            if subprotocol in offered:
                return subprotocol

        raise NegotiationError(
            "invalid subprotocol; expected one of " + ", ".join(self.available_subprotocols)
        )

    def reject(self, status: StatusLike, text: str) -> Response:
        """Create a response rejecting the connection, with a short plain-text body.

        Send it with :meth:`send_response`; headers may be changed before.
        """
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers(
            [
                ("Date", email.utils.formatdate(usegmt=True)),
                ("Connection", "close"),
                ("Content-Length", str(len(body))),
                ("Content-Type", "text/plain; charset=utf-8"),
            ]
        )
        return Response(status.value, status.phrase, headers, body)

    def reject_internal_error(self, exc: Exception) -> Response:
        """Record ``exc`` as the handshake's failure; return the 500 response to send.

        For I/O layers whose ``process_request`` or ``process_response`` raised: the
        client learns nothing of the details (see the server log).
        """
        self.handshake_exc = exc
        return self.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL_ERROR_TEXT)

    def send_response(self, response: Response) -> None:
        """Send a handshake response to the client.

        After a 101 response the connection is open: frames that the client sent right
        behind its request are processed at once, so call :meth:`events_received` and
        :meth:`data_to_send` afterwards. Any other response closes the connection.
        """
        if self.debug:
            code, phrase = response.status_code, response.reason_phrase
            self.logger.debug("> HTTP/1.1 %d %s", code, phrase)
            for key, value in response.headers.raw_items():
                self.logger.debug("> %s: %s", key, value)
            if response.body:
                self.logger.debug("> [body] (%d bytes)", len(response.body))

        self.writes.append(response.serialize())

        if response.status_code == 101:
            assert self._state is CONNECTING
            self.state = OPEN
            self.logger.info("connection open")
            if self.reader.buffer:
                next(self.parser)
        else:
            self._log_response(response)
            self.send_eof()
            self._discard_from_now_on()

    def _peer(self) -> str | None:
        peer = self.remote_address
        if peer is None:
            extra = getattr(self.logger, "extra", None)
            connection = extra.get("websocket") if isinstance(extra, dict) else None
            try:
                peer = getattr(connection, "remote_address", None)
            except Exception:
                # A closed transport may refuse to tell; the log line must not fail.
                peer = None
        return None if peer is None else _format_peer(peer)

    def _log_response(self, response: Response) -> None:
        """websockets' INFO line for a response that doesn't open the connection."""
        code, phrase = response.status_code, response.reason_phrase
        if self.accept_called:
            self.logger.info("connection rejected (%d %s)", code, phrase)
        else:
            self.logger.info("HTTP response sent (%d %s)", code, phrase)
        if self._rejection is not None:
            self._log_diagnosis(f"{code} {phrase}")

    def _log_diagnosis(self, outcome: str) -> None:
        """The project's second record after a rejection: who, what, why, and the fix."""
        assert self._rejection is not None
        reason, hint = self._rejection
        self.logger.info(
            "handshake from %s failed: %s -> %s: %s%s",
            self._peer() or "unknown peer",
            "unknown request" if self._request_line is None else repr(self._request_line),
            outcome,
            reason,
            f"\n{hint.rstrip()}" if hint else "",
            extra={"wsfast_diagnosis": True},
        )

    def _read_line(
        self,
        limit: int,
        too_long_exc_type: type[Exception] = RuntimeError,
    ) -> Generator[None, None, bytearray]:
        """Read a line of the request, keeping the first one for the rejection log."""
        line = yield from self.reader.read_line(limit, too_long_exc_type)
        if self._request_line is None:
            # Known even when the headers that follow make the parser reject the request.
            self._request_line = bytes(line).rstrip(b"\r\n").decode("ascii", "backslashreplace")
        return line

    def parse(self) -> Generator[None]:
        if self._state is CONNECTING:
            try:
                request = yield from Request.parse(self._read_line)
            except RequestLineTooLong as exc:
                self.handshake_exc = exc
                if self.debug:
                    self.logger.debug("! request line too long", exc_info=True)
                self._rejection = (
                    f"request line too long: {exc}",
                    f"This server accepts request lines of up to {http11.MAX_LINE_LENGTH} "
                    f"bytes; shorten the URL.\n",
                )
                self.send_response(
                    self.reject(
                        http.HTTPStatus(414),  # URI_TOO_LONG, named differently before 3.13
                        f"Failed to open a WebSocket connection: {exc}.\n",
                    )
                )
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")
            except (HeaderLineTooLong, TooManyHeaders) as exc:
                self.handshake_exc = exc
                if self.debug:
                    self.logger.debug("! header fields too large", exc_info=True)
                what = "header line too long" if isinstance(exc, HeaderLineTooLong) else (
                    "too many headers"
                )
                self._rejection = (
                    f"{what}: {exc}",
                    f"This server accepts up to {http11.MAX_NUM_HEADERS} headers of up to "
                    f"{http11.MAX_LINE_LENGTH} bytes each; large cookies are the usual "
                    f"cause.\n",
                )
                self.send_response(
                    self.reject(
                        http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                        f"Failed to open a WebSocket connection: {exc}.\n",
                    )
                )
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")
            except InvalidProtocol as exc:
                # A well-formed HTTP version other than 1.0 or 1.1: as websockets, no
                # response, only the end of the stream; the diagnosis says why.
                self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
                self.handshake_exc.__cause__ = exc
                if self.debug:
                    self.logger.debug("! no valid HTTP request", exc_info=True)
                self._rejection = (str(exc), _http_version_hint(exc.protocol))
                self._log_diagnosis("connection closed without a response")
                self.send_eof()
                self._discard_from_now_on()
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")
            except Exception as exc:
                self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
                if self.debug:
                    self.logger.debug("! no valid HTTP request", exc_info=True)
                self.handshake_exc.__cause__ = exc
                self.send_eof()
                self._discard_from_now_on()
                yield
                raise AssertionError("parse() shouldn't step after a failed handshake")

            if self.debug:
                self.logger.debug("< %s %s %s", request.method, request.path, request.protocol)
                for key, value in request.headers.raw_items():
                    self.logger.debug("< %s: %s", key, value)

            self._request_line = f"{request.method} {request.path} {request.protocol}"
            self.events.append(request)

        yield from super().parse()


# HTTP Basic Authentication (RFC 7617), for the basic_auth() of the asyncio and threading
# servers.


def is_credentials(credentials: Any) -> bool:
    """Tell whether ``credentials`` is a ``(username, password)`` pair of strings."""
    try:
        username, password = credentials
    except (TypeError, ValueError):
        return False
    return isinstance(username, str) and isinstance(password, str)


def credentials_checker(
    credentials: tuple[str, str] | Iterable[tuple[str, str]],
) -> Callable[[str, str], bool]:
    """Return a function telling whether a username and password are among ``credentials``.

    Raises:
        TypeError: If ``credentials`` isn't a pair or an iterable of pairs of strings.
    """
    if is_credentials(credentials):
        credentials_list = [cast(tuple[str, str], credentials)]
    elif isinstance(credentials, Iterable):
        credentials_list = list(cast(Iterable[tuple[str, str]], credentials))
        if not all(is_credentials(item) for item in credentials_list):
            raise TypeError(f"invalid credentials argument: {credentials}")
    else:
        raise TypeError(f"invalid credentials argument: {credentials}")

    credentials_dict = dict(credentials_list)

    def check_credentials(username: str, password: str) -> bool:
        try:
            expected_password = credentials_dict[username]
        except KeyError:
            return False
        # Constant time, so that timing doesn't reveal how much of a guess was right.
        return hmac.compare_digest(
            expected_password.encode(errors="surrogateescape"),
            password.encode(errors="surrogateescape"),
        )

    return check_credentials


def basic_auth_challenge(
    respond: Callable[[StatusLike, str], Response], realm: str, text: str
) -> Response:
    """A 401 response asking for Basic credentials for ``realm`` (RFC 7235 §3.1)."""
    response = respond(http.HTTPStatus.UNAUTHORIZED, text)
    response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
    return response


def read_basic_auth(
    respond: Callable[[StatusLike, str], Response], request: Request, realm: str
) -> tuple[str, str] | Response:
    """Return the username and password of the request, or the 401 response to send."""
    try:
        authorization = request.headers["Authorization"]
    except KeyError:
        return basic_auth_challenge(respond, realm, "Missing credentials\n")
    try:
        return parse_authorization_basic(authorization)
    except InvalidHeader:
        return basic_auth_challenge(respond, realm, "Unsupported credentials\n")


# Deprecated alias --------------------------------------------------------------------------


class ServerConnection(ServerProtocol):
    """:class:`ServerProtocol`'s former name, which websockets keeps with a warning."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import warnings

        warnings.warn(
            "ServerConnection was renamed to ServerProtocol", DeprecationWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)
