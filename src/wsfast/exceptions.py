"""Exceptions raised by wsfast.

The API is a superset of two contracts that must both hold (see ``docs/compatibility.md``):

* websockets 17.x: the same class names, hierarchy, constructor signatures, attributes and
  ``str()`` wording, so that ``import wsfast as websockets`` needs no other change;
* wsfast's documented error-handling API: extra attributes (``ConnectionClosed.code``,
  ``InvalidStatus.status_code``, ``InvalidState.operation``, …) and extra constructor forms
  (``InvalidStatus(status_code, headers=None)``).

Where the two name different exceptions for the same event, wsfast raises one object that is
both: a closed connection raises a :class:`ConnectionClosed` subclass that is also an
:class:`InvalidState` (see :meth:`ConnectionClosed.from_frames`).

Every exception survives ``pickle.loads(pickle.dumps(exc))`` with its type and attributes, so
that errors cross process boundaries (multiprocessing, concurrent.futures) intact.

This module imports nothing from the rest of wsfast: every other module imports it, so it must
load first and alone. Close frames and HTTP responses are therefore duck-typed (``.code``,
``.reason``; ``.status_code``, ``.reason_phrase``, ``.headers``, ``.body``).

Hierarchy::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   ├── ConnectionClosedError
    │   └── ConnectionClosedInvalidState (also an InvalidState)
    │       ├── ConnectionClosedOKInvalidState (also a ConnectionClosedOK)
    │       └── ConnectionClosedErrorInvalidState (also a ConnectionClosedError)
    ├── InvalidURI
    ├── InvalidProxy
    ├── InvalidHandshake
    │   ├── SecurityError
    │   │   ├── RequestLineTooLong
    │   │   ├── StatusLineTooLong
    │   │   ├── HeaderLineTooLong
    │   │   └── TooManyHeaders
    │   ├── ProxyError
    │   │   ├── InvalidProxyMessage
    │   │   └── InvalidProxyStatus
    │   ├── InvalidMessage
    │   ├── InvalidMethod
    │   ├── InvalidProtocol
    │   ├── InvalidStatus
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   └── NegotiationError
    │       ├── DuplicateParameter
    │       ├── InvalidParameterName
    │       └── InvalidParameterValue
    ├── ProtocolError
    ├── PayloadTooBig
    ├── TooManyFragments
    ├── InvalidState (also an AssertionError)
    └── ConcurrencyError (also a RuntimeError)

    InvalidUTF8 (a UnicodeDecodeError, raised by the UTF-8 validator)
"""

from __future__ import annotations

import codecs
import http
import types
import warnings
from typing import Any

__all__ = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ConnectionClosedInvalidState",
    "ConnectionClosedOKInvalidState",
    "ConnectionClosedErrorInvalidState",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "TooManyFragments",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidState",
    "ConcurrencyError",
    "InvalidUTF8",
]

# Close codes after which a closing handshake counts as clean (RFC 6455 §7.4.1); kept here
# rather than imported from wsfast.frames so that this module stays dependency-free.
_OK_CLOSE_CODES = frozenset({1000, 1001, 1005})

# How much of a rejecting response's body InvalidStatus quotes: enough for a one-line
# explanation such as "missing Sec-WebSocket-Key header", not enough to flood a log.
_BODY_EXCERPT_CHARS = 200
_BODY_SCAN_BYTES = 1024


class WebSocketException(Exception):
    """Base class for all exceptions defined by wsfast."""


class ConnectionClosed(WebSocketException):
    """Raised when trying to interact with a closed connection.

    ``rcvd`` and ``sent`` are the close frames received and sent, or ``None``;
    ``rcvd_then_sent`` tells their order when both exist. ``code`` and ``reason`` are the close
    code and reason received from the peer, ``None`` when no close frame was received.
    """

    def __init__(
        self,
        rcvd: Any | None,
        sent: Any | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        # The order only means something when both frames exist; anything else is a bug in
        # the caller, better caught here than rendered as a misleading message later.
        if (rcvd_then_sent is None) != (rcvd is None or sent is None):
            raise ValueError(
                "rcvd_then_sent must be a bool when both close frames exist, else None"
            )
        args = (rcvd, sent) if rcvd_then_sent is None else (rcvd, sent, rcvd_then_sent)
        super().__init__(*args)
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    # websockets deprecated these two (and returns 1006 and "" without a close frame); the
    # spec keeps them, warning-free, with None meaning "nothing was received".
    @property
    def code(self) -> int | None:
        """Close code received from the peer, or ``None`` if no close frame was received."""
        return None if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str | None:
        """Close reason received from the peer, or ``None`` if no close frame was received."""
        return None if self.rcvd is None else self.rcvd.reason

    @classmethod
    def from_frames(
        cls,
        rcvd: Any | None,
        sent: Any | None,
        rcvd_then_sent: bool | None = None,
        *,
        operation: str | None = None,
        state: Any = None,
    ) -> ConnectionClosed:
        """Build the exception that a closed connection raises.

        Returns :class:`ConnectionClosedOK` when both close frames exist and both codes are
        1000, 1001 or 1005, else :class:`ConnectionClosedError`. When ``operation`` or
        ``state`` is given, the result is the matching ``…InvalidState`` subclass, which
        ``except InvalidState`` catches as well.
        """
        clean = (
            rcvd is not None
            and sent is not None
            and rcvd.code in _OK_CLOSE_CODES
            and sent.code in _OK_CLOSE_CODES
        )
        if operation is None and state is None:
            plain = ConnectionClosedOK if clean else ConnectionClosedError
            return plain(rcvd, sent, rcvd_then_sent)
        dual = ConnectionClosedOKInvalidState if clean else ConnectionClosedErrorInvalidState
        return dual(rcvd, sent, rcvd_then_sent, operation=operation, state=state)


class ConnectionClosedOK(ConnectionClosed):
    """Like :class:`ConnectionClosed`, when the connection terminated properly.

    Both close frames were exchanged with code 1000 (OK), 1001 (going away) or 1005 (no status).
    """


class ConnectionClosedError(ConnectionClosed):
    """Like :class:`ConnectionClosed`, when the connection terminated with an error.

    A close frame with a code other than 1000, 1001 or 1005 was exchanged, or the closing
    handshake did not complete (1006).
    """


class InvalidURI(WebSocketException):
    """Raised when connecting to a URI that isn't a valid WebSocket URI."""

    def __init__(self, uri: str, msg: str) -> None:
        super().__init__(uri, msg)
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"

    @property
    def reason(self) -> str:
        """Why the URI is invalid; the same text as ``msg``."""
        return self.msg


class InvalidProxy(WebSocketException):
    """Raised when connecting via a proxy that isn't valid."""

    def __init__(self, proxy: str, msg: str) -> None:
        super().__init__(proxy, msg)
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException):
    """Base class for exceptions raised when the opening handshake fails.

    ``diagnosis``: what went wrong and what to change, for a person, when wsfast's client
    could tell (the project's handshake diagnostics); also a PEP 678 note, so tracebacks show
    it while ``str()`` stays websockets'. :obj:`None` otherwise.
    """

    diagnosis: str | None = None


def add_diagnosis(exc: BaseException, text: str) -> None:
    """Attach ``text`` to ``exc`` as its ``diagnosis`` and as a PEP 678 note."""
    setattr(exc, "diagnosis", text)
    if hasattr(exc, "add_note"):
        exc.add_note(text)
    else:  # Python 3.10: the attribute PEP 678 defines, which 3.11+ tracebacks print
        setattr(exc, "__notes__", [*getattr(exc, "__notes__", ()), text])


class SecurityError(InvalidHandshake):
    """Raised when a handshake request or response breaks a security rule.

    Security limits are hard coded.
    """


class RequestLineTooLong(SecurityError):
    """Raised when the HTTP request line is too long."""


class StatusLineTooLong(SecurityError):
    """Raised when the HTTP status line is too long."""


class HeaderLineTooLong(SecurityError):
    """Raised when an HTTP header line is too long."""


class TooManyHeaders(SecurityError):
    """Raised when an HTTP request or response has too many headers."""


class ProxyError(InvalidHandshake):
    """Raised when failing to connect to a proxy."""


class InvalidProxyMessage(ProxyError):
    """Raised when an HTTP proxy response is malformed."""


def _status_response(status_code: int, headers: Any) -> types.SimpleNamespace:
    """Stand in for an HTTP response when an exception is built from a bare status code.

    A namespace rather than ``wsfast.http11.Response``: this module must not import the rest
    of wsfast, and a namespace pickles and compares by value on its own.
    """
    try:
        reason_phrase = http.HTTPStatus(status_code).phrase
    except ValueError:
        reason_phrase = ""
    return types.SimpleNamespace(
        status_code=status_code,
        reason_phrase=reason_phrase,
        # An empty mapping rather than None keeps `exc.headers.get(...)` working.
        headers={} if headers is None else headers,
        body=b"",
    )


class _CarriesResponse:
    """Shared constructor and accessors of the exceptions that carry an HTTP response.

    Accepts ``(response)``, as websockets does, and ``(status_code, headers=None)``, as the
    spec does; an ``int`` first argument (``http.HTTPStatus`` included) selects the latter.
    """

    def __init__(
        self,
        response: Any = None,
        headers: Any = None,
        *,
        status_code: int | None = None,
    ) -> None:
        if status_code is not None:
            if response is not None:
                raise TypeError("pass either a response or a status_code, not both")
            response = status_code
        elif response is None:
            raise TypeError(f"{type(self).__name__}() needs a response or a status_code")
        if isinstance(response, int):
            args = (response,) if headers is None else (response, headers)
            super().__init__(*args)
            self.response = _status_response(response, headers)
        else:
            if headers is not None:
                raise TypeError("headers only go with a status code; a response has its own")
            super().__init__(response)  # type: ignore[call-arg]
            self.response = response

    @property
    def status_code(self) -> int:
        """HTTP status code of the response."""
        return int(self.response.status_code)

    @property
    def headers(self) -> Any:
        """HTTP headers of the response."""
        return self.response.headers

    @property
    def reason(self) -> str:
        """HTTP reason phrase of the response."""
        return str(self.response.reason_phrase)

    @property
    def body(self) -> bytes | None:
        """Body of the response."""
        return getattr(self.response, "body", None)


class InvalidProxyStatus(_CarriesResponse, ProxyError):
    """Raised when an HTTP proxy rejects the connection.

    ``InvalidProxyStatus(response)`` or ``InvalidProxyStatus(status_code, headers=None)``;
    ``status_code``, ``headers`` and ``reason`` read from the response.
    """

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code}"


class InvalidMessage(InvalidHandshake):
    """Raised when a handshake request or response is malformed."""


class InvalidMethod(InvalidHandshake):
    """Raised when the HTTP method isn't GET."""

    def __init__(self, method: str) -> None:
        super().__init__(method)
        self.method = method

    def __str__(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake):
    """Raised when the HTTP version isn't HTTP/1.1."""

    def __init__(self, protocol: str) -> None:
        super().__init__(protocol)
        self.protocol = protocol

    def __str__(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(_CarriesResponse, InvalidHandshake):
    """Raised when a handshake response rejects the WebSocket upgrade.

    ``InvalidStatus(response)`` or ``InvalidStatus(status_code, headers=None)``;
    ``status_code``, ``headers``, ``reason`` and ``body`` read from the response. The message
    is websockets'; wsfast's client adds the first line of a short plain-text body, where
    servers explain why, and the likely cause as its ``diagnosis`` (a PEP 678 note).
    """

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"

    def body_excerpt(self) -> str | None:
        """The first line of the response's body if it is short plain text, else None."""
        return _body_excerpt(self.response)


def _body_excerpt(response: Any) -> str | None:
    """First line of a response's plain-text body, shortened; ``None`` if there is none."""
    # str() runs inside logging and traceback printing, where raising would hide the original
    # error: any surprise in a duck-typed response means "no excerpt".
    try:
        return _plain_text_first_line(response)
    except Exception:
        return None


def _plain_text_first_line(response: Any) -> str | None:
    body = getattr(response, "body", None)
    if not body:
        return None
    if isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(body)
    truncated = len(raw) > _BODY_SCAN_BYTES
    raw = raw[:_BODY_SCAN_BYTES]

    content_type = _header_value(getattr(response, "headers", None), "Content-Type")
    if content_type is None:
        # Without a declared type, only text that is valid UTF-8 passes for plain text; a cut
        # at the scan limit may split a character, which final=False tolerates.
        try:
            text, _ = codecs.utf_8_decode(raw, "strict", not truncated)
        except UnicodeDecodeError:
            return None
    else:
        media_type, *params = content_type.split(";")
        # HTML error pages (nginx, load balancers) would quote markup, not an explanation.
        if media_type.strip().lower() != "text/plain":
            return None
        charset = "utf-8"
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            text = raw.decode(charset, "replace")
        except LookupError:
            text = raw.decode("utf-8", "replace")

    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if not line or (content_type is None and line.startswith("<")):
        return None
    line = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in line
    )
    if len(line) > _BODY_EXCERPT_CHARS:
        line = line[:_BODY_EXCERPT_CHARS].rstrip() + "..."
    return line


def _header_value(headers: Any, name: str) -> str | None:
    """Value of a header in a Headers object, a mapping or a list of pairs, ignoring case."""
    if headers is None:
        return None
    # raw_items() is websockets' Headers' view of repeated headers; items() would raise on them.
    if hasattr(headers, "raw_items"):
        items = headers.raw_items()
    elif hasattr(headers, "items"):
        items = headers.items()
    else:
        items = headers
    lowered = name.lower()
    for key, value in items:
        if str(key).lower() == lowered:
            return str(value)
    return None


class InvalidHeader(InvalidHandshake):
    """Raised when an HTTP header doesn't have a valid format or value.

    ``value`` is ``None`` when the header is missing.
    """

    def __init__(self, name: str, value: str | None = None) -> None:
        # args always rebuild the exception, even after a keyword call, so that pickling works.
        super().__init__(*((name,) if value is None else (name, value)))
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """Raised when an HTTP header cannot be parsed.

    The format of the header doesn't match the grammar for that header; ``error`` says what was
    expected, at index ``pos`` of ``header``.
    """

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")
        self.error = error
        self.header = header
        self.pos = pos
        self.args = (name, error, header, pos)


class InvalidHeaderValue(InvalidHeader):
    """Raised when an HTTP header has a wrong value.

    The format of the header is correct but the value isn't acceptable.
    """


class InvalidOrigin(InvalidHeader):
    """Raised when the Origin header in a request isn't allowed.

    ``origin`` is the refused Origin, ``None`` when the header is missing.
    """

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)
        self.args = (origin,)

    @property
    def origin(self) -> str | None:
        """The refused Origin, or ``None`` when the request had none."""
        return self.value


class InvalidUpgrade(InvalidHeader):
    """Raised when the Upgrade or Connection header isn't correct."""


class NegotiationError(InvalidHandshake):
    """Raised when negotiating an extension or a subprotocol fails."""


class DuplicateParameter(NegotiationError):
    """Raised when a parameter name is repeated in an extension header."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """Raised when a parameter name in an extension header is invalid."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """Raised when a parameter value in an extension header is invalid.

    ``value`` is ``None`` when the parameter has no value.
    """

    def __init__(self, name: str, value: str | None) -> None:
        super().__init__(name, value)
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class ProtocolError(WebSocketException):
    """Raised when receiving or sending a frame that breaks the protocol (RFC 6455).

    The connection is then failed with close code 1002.
    """


_UNSET: Any = object()


class PayloadTooBig(WebSocketException):
    """Raised when parsing a frame whose payload exceeds the maximum size.

    ``PayloadTooBig(size, max_size, current_size=None)``: ``size`` is the frame's payload size
    (``None`` when not known yet), ``current_size`` what the message held before this frame,
    and ``max_size`` the message's limit. The connection is then failed with close code 1009.

    The form ``PayloadTooBig(message)`` is deprecated, as in websockets.
    """

    def __init__(
        self,
        size_or_message: int | None | str = _UNSET,
        max_size: int | None = None,
        current_size: int | None = None,
        *,
        size: int | None = _UNSET,
    ) -> None:
        # websockets names the first parameter size_or_message, the spec names it size: a
        # keyword call may use either.
        if size is not _UNSET:
            if size_or_message is not _UNSET:
                raise TypeError("PayloadTooBig() got multiple values for argument 'size'")
            size_or_message = size
        elif size_or_message is _UNSET:
            raise TypeError("PayloadTooBig() missing required argument: 'size'")

        self.message: str | None
        self.size: int | None
        self.max_size: int | None
        self.current_size: int | None
        if isinstance(size_or_message, str):
            if max_size is not None or current_size is not None:
                raise TypeError("PayloadTooBig(message) takes no max_size or current_size")
            warnings.warn(
                "PayloadTooBig(message) is deprecated; change to PayloadTooBig(size, max_size)",
                DeprecationWarning,
                stacklevel=2,
            )
            super().__init__(size_or_message)
            self.message = size_or_message
            self.size = self.max_size = self.current_size = None
            return

        if max_size is None:
            raise TypeError("PayloadTooBig() requires max_size")
        args = (size_or_message, max_size)
        super().__init__(*(args if current_size is None else (*args, current_size)))
        self.message = None
        self.size = size_or_message
        self.max_size = max_size
        self.current_size = None
        if current_size is not None:
            self.set_current_size(current_size)

    def __str__(self) -> str:
        if self.message is not None:
            return self.message
        text = "frame"
        if self.size is not None:
            text += f" with {self.size} bytes"
        if self.current_size is not None:
            text += f" after reading {self.current_size} bytes"
        return text + f" exceeds limit of {self.max_size} bytes"

    def set_current_size(self, current_size: int) -> None:
        """Record how much of the message was read before the frame that broke the limit.

        The frame parser only knows the room left in the message, so ``max_size`` grows by
        ``current_size`` back to the message's limit. Call it at most once.
        """
        if self.current_size is not None:
            raise ValueError("current size is already set")
        if self.max_size is None:
            raise ValueError("cannot set the current size of PayloadTooBig(message)")
        self.current_size = current_size
        self.max_size += current_size


class TooManyFragments(WebSocketException):
    """Raised when a fragmented message exceeds the maximum number of frames."""

    def __init__(self, max_fragments: int) -> None:
        # websockets passes the message, not the limit, to Exception: args[0] stays the text.
        super().__init__(f"fragmented message exceeds limit of {max_fragments} frames")
        self.max_fragments = max_fragments

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce would call TooManyFragments(message) and nest the text in itself.
        return (type(self), (self.max_fragments,), self.__dict__)


def _state_name(state: Any) -> str | None:
    # The spec's users compare with strings ("CLOSED"); callers may hold a State enum member.
    if state is None or isinstance(state, str):
        return state
    return getattr(state, "name", str(state))


class InvalidState(WebSocketException, AssertionError):
    """Raised when sending a frame is forbidden in the current state.

    Specifically, the Sans-I/O layer performs this check. ``operation`` (``"send"``,
    ``"recv"``, ``"ping"``, …) and ``state`` (``"CLOSED"``, …) are set when known, else
    ``None``. It is also an :class:`AssertionError`, as in websockets.
    """

    def __init__(self, *args: Any, operation: str | None = None, state: Any = None) -> None:
        super().__init__(*args)
        self.operation = operation
        self.state = _state_name(state)


class ConnectionClosedInvalidState(ConnectionClosed, InvalidState):
    """A closed connection refusing an operation, under both contracts.

    websockets' users catch :class:`ConnectionClosed`; the spec's users catch
    :class:`InvalidState` and read ``operation`` and ``state``. The message is websockets'.
    Build instances with :meth:`ConnectionClosed.from_frames`, which picks the OK or Error
    subclass from the close codes.
    """

    def __init__(
        self,
        rcvd: Any | None,
        sent: Any | None,
        rcvd_then_sent: bool | None = None,
        *,
        operation: str | None = None,
        state: Any = None,
    ) -> None:
        super().__init__(rcvd, sent, rcvd_then_sent)
        self.operation = operation
        self.state = _state_name(state)


    def __reduce__(self) -> tuple[Any, ...]:
        # The class shows itself under websockets' name (below), which names another class
        # in this module: pickle must not look it up by that name.
        return (
            _rebuild_closed_invalid_state,
            (_MODULE_NAMES[type(self)], self.args),
            self.__dict__,
        )


class ConnectionClosedOKInvalidState(ConnectionClosedInvalidState, ConnectionClosedOK):
    """A :class:`ConnectionClosedOK` that is also an :class:`InvalidState`."""


class ConnectionClosedErrorInvalidState(ConnectionClosedInvalidState, ConnectionClosedError):
    """A :class:`ConnectionClosedError` that is also an :class:`InvalidState`."""


# The module attribute of each class, since __qualname__ of the last two is websockets'.
_MODULE_NAMES = {
    ConnectionClosedInvalidState: "ConnectionClosedInvalidState",
    ConnectionClosedOKInvalidState: "ConnectionClosedOKInvalidState",
    ConnectionClosedErrorInvalidState: "ConnectionClosedErrorInvalidState",
}


# Libraries print the exception's class name to their users (gql, uvicorn's logs): these show
# themselves as websockets' classes in type(e).__name__, repr() and tracebacks, while keeping
# their own module attributes, so that both contracts stay importable.
for _dual, _shown in (
    (ConnectionClosedOKInvalidState, "ConnectionClosedOK"),
    (ConnectionClosedErrorInvalidState, "ConnectionClosedError"),
):
    _dual.__name__ = _dual.__qualname__ = _shown
del _dual, _shown


def _rebuild_closed_invalid_state(name: str, args: tuple[Any, ...]) -> ConnectionClosed:
    """Unpickle a ConnectionClosed…InvalidState; the state then restores the attributes."""
    cls = {module_name: cls for cls, module_name in _MODULE_NAMES.items()}[name]
    return cls.__new__(cls, *args)


class ConcurrencyError(WebSocketException, RuntimeError):
    """Raised when receiving or sending messages concurrently.

    WebSocket is a connection-oriented protocol: reads must be serialized, and so must writes;
    reading and writing concurrently is possible. ``operation`` names what two coroutines or
    threads attempted at once (``"recv"``, …) when known, else ``None``. It is also a
    :class:`RuntimeError`, as in websockets.
    """

    def __init__(self, *args: Any, operation: str | None = None) -> None:
        super().__init__(*args)
        self.operation = operation


class InvalidUTF8(UnicodeDecodeError):
    """Raised by wsfast's UTF-8 validator on invalid text (RFC 6455 §8.1, RFC 3629).

    Constructed like :class:`UnicodeDecodeError`: ``InvalidUTF8("utf-8", data, start, end,
    reason)``, where ``data`` is the chunk being validated. ``offset`` is the absolute offset
    of the first invalid byte in the whole message; the validator sets it after construction,
    since a chunk doesn't know where it sits in the message. Until then it reads as ``start``.
    """

    @property
    def offset(self) -> int:
        """Offset of the first invalid byte within the whole message."""
        offset = self.__dict__.get("_offset")
        return self.start if offset is None else offset

    @offset.setter
    def offset(self, value: int | None) -> None:
        self.__dict__["_offset"] = value

    def __str__(self) -> str:
        # UnicodeDecodeError's words, as websockets chains them, with the position in the
        # whole message rather than in the chunk.
        start = self.offset
        width = self.end - self.start
        if width == 1:
            return (
                f"'{self.encoding}' codec can't decode byte 0x{self.object[self.start]:02x} "
                f"in position {start}: {self.reason}"
            )
        return (
            f"'{self.encoding}' codec can't decode bytes in position "
            f"{start}-{start + width - 1}: {self.reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # UnicodeDecodeError's attributes are writable and live apart from args, which keeps
        # the constructor's values; rebuild from the current ones.
        return (
            type(self),
            (self.encoding, self.object, self.start, self.end, self.reason),
            self.__dict__,
        )


# Names that websockets 17 still resolves with a DeprecationWarning. InvalidStatusCode was the
# legacy client's InvalidStatus(status_code, headers); code that supports old and new
# websockets names both in one except clause, which must not fail with AttributeError.
_DEPRECATED_ALIASES = {
    "WebSocketProtocolError": "ProtocolError",
    "InvalidStatusCode": "InvalidStatus",
}


def __getattr__(name: str) -> Any:
    target = _DEPRECATED_ALIASES.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} is deprecated",  # websockets' words; the target is legacy there
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[target]
