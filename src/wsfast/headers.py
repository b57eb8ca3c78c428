"""Parsers and builders for the HTTP header values of the WebSocket opening handshake.

The grammars come from RFC 7230 (tokens, quoted strings, comma-separated lists, Connection,
Upgrade), RFC 6455 §4.3 and §9.1 (Sec-WebSocket-Protocol, Sec-WebSocket-Extensions), RFC 7235
and RFC 7617 (Basic authentication). Results and errors match websockets.headers: a malformed
value raises :exc:`~wsfast.exceptions.InvalidHeaderFormat` naming what was expected and where,
a well-formed but unacceptable one :exc:`~wsfast.exceptions.InvalidHeaderValue`.

Each ``parse_*`` helper takes ``(header, pos, header_name)`` and returns the parsed value and
the position after it. Every pattern below is matched at ``pos`` only, never searched for,
and its alternatives and repetitions can't match the same characters two ways, so a match
that fails gives back what it consumed once at most: the work stays linear in the length of
the header, however hostile, and so does the list loop, which consumes at least one
character per turn.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

from .exceptions import InvalidHeaderFormat, InvalidHeaderValue, InvalidUpgrade
from .typing import (
    ConnectionOption,
    ExtensionHeader,
    ExtensionName,
    ExtensionParameter,
    Subprotocol,
    UpgradeProtocol,
)

if TYPE_CHECKING:
    from .datastructures import Headers

__all__ = [
    "build_host",
    "parse_connection",
    "parse_upgrade",
    "parse_extension",
    "build_extension",
    "parse_subprotocol",
    "build_subprotocol",
    "validate_subprotocols",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "build_authorization_basic",
]


T = TypeVar("T")


def build_host(
    host: str,
    port: int,
    secure: bool,
    *,
    always_include_port: bool = False,
) -> str:
    """Build a ``Host`` header (RFC 7230 §5.4) or the authority of a CONNECT request.

    An IPv6 address goes in brackets (RFC 3986 §3.2.2). The port is left out when it's the
    default for the scheme, 80 or 443 (RFC 7230 §5.4), unless ``always_include_port``.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A host name, or something that only looks like an address, such as one already
        # in brackets: leave it alone.
        pass
    else:
        if address.version == 6:
            host = f"[{host}]"

    if always_include_port or port != (443 if secure else 80):
        host = f"{host}:{port}"

    return host


# Building blocks of the grammars.


def peek_ahead(header: str, pos: int) -> str | None:
    """Return the character at ``pos``, or ``None`` at the end of ``header``."""
    return None if pos == len(header) else header[pos]


# OWS = *( SP / HTAB ) (RFC 7230 §3.2.3).
_OWS = re.compile(r"[\t ]*")


def parse_OWS(header: str, pos: int) -> int:
    """Skip optional whitespace; return the position of the next other character."""
    # The pattern matches the empty string, so there is always a match.
    match = _OWS.match(header, pos)
    assert match is not None
    return match.end()


# token = 1*tchar, with tchar any VCHAR except the delimiters "(),/:;<=>?@[\]{}
# (RFC 7230 §3.2.6). ASCII letters and digits only: a str pattern's ranges are code points.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_token(header: str, pos: int, header_name: str) -> tuple[str, int]:
    """Parse a token; return it and the position after it."""
    match = _TOKEN.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected token", header, pos)
    return match.group(), match.end()


# quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 7230 §3.2.6), with
# qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E and quoted-pair = "\" ( HTAB / SP / VCHAR /
# obs-text ). Like websockets, obs-text (%x80-FF) is accepted only escaped: RFC 7230 lets a
# recipient accept it in qdtext, but nothing in a WebSocket handshake needs it. qdtext
# excludes the backslash and the quote, so the two alternatives never compete.
_QUOTED_STRING = re.compile(r'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e\x80-\xff])*"')

# The escaped character of a quoted-pair.
_QUOTED_PAIR = re.compile(r"\\([\t\x20-\x7e\x80-\xff])")


def parse_quoted_string(header: str, pos: int, header_name: str) -> tuple[str, int]:
    """Parse a quoted string; return its content, unescaped, and the position after it."""
    match = _QUOTED_STRING.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected quoted string", header, pos)
    # "The backslash octet can be used as a single-octet quoting mechanism within
    # quoted-string" (RFC 7230 §3.2.6): drop the quotes, then each quoted-pair's backslash.
    return _QUOTED_PAIR.sub(r"\1", match.group()[1:-1]), match.end()


# What build_quoted_string can encode: qdtext plus the characters it escapes (RFC 7230
# §3.2.6). Other controls, and characters beyond U+00FF, have no representation.
_QUOTABLE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

# The two characters that must be escaped inside a quoted string.
_NEEDS_ESCAPE = re.compile(r'(["\\])')


def build_quoted_string(value: str) -> str:
    """Return ``value`` as a quoted string (RFC 7230 §3.2.6)."""
    if _QUOTABLE.fullmatch(value) is None:
        raise ValueError("invalid characters for quoted-string encoding")
    return '"' + _NEEDS_ESCAPE.sub(r"\\\1", value) + '"'


def parse_list(
    parse_item: Callable[[str, int, str], tuple[T, int]],
    header: str,
    pos: int,
    header_name: str,
) -> list[T]:
    """Parse a comma-separated list with at least one element (RFC 7230 §7 ``1#element``).

    ``parse_item`` parses one element at a position and returns it with the position after
    it. The whole of ``header`` from ``pos`` must be consumed.
    """
    # RFC 7230 §7: "a recipient MUST accept empty list elements", i.e. "," surrounded by
    # optional whitespace, before, between and after the elements, but there must be at
    # least one element. Nothing is skipped before the first comma: callers pass a field
    # value whose surrounding whitespace is already stripped (RFC 7230 §3.2.4).
    while peek_ahead(header, pos) == ",":
        pos = parse_OWS(header, pos + 1)

    items = []
    while True:
        item, pos = parse_item(header, pos, header_name)
        items.append(item)
        pos = parse_OWS(header, pos)

        if pos == len(header):
            break

        if header[pos] != ",":
            raise InvalidHeaderFormat(header_name, "expected comma", header, pos)
        pos = parse_OWS(header, pos + 1)

        # Empty elements after this one, then possibly the end of the header.
        while peek_ahead(header, pos) == ",":
            pos = parse_OWS(header, pos + 1)
        if pos == len(header):
            break

    return items


def parse_end(header: str, pos: int, header_name: str) -> None:
    """Check that ``pos`` is at the end of ``header``."""
    if pos < len(header):
        raise InvalidHeaderFormat(header_name, "trailing data", header, pos)


# Connection (RFC 7230 §6.1).


def parse_connection_option(
    header: str, pos: int, header_name: str
) -> tuple[ConnectionOption, int]:
    """Parse a connection-option (RFC 7230 §6.1): a token."""
    item, pos = parse_token(header, pos, header_name)
    return cast(ConnectionOption, item), pos


def parse_connection(header: str) -> list[ConnectionOption]:
    """Parse a ``Connection`` header: ``Connection = 1#connection-option`` (RFC 7230 §6.1).

    Return the list of options; raise :exc:`InvalidHeaderFormat` on invalid input.
    """
    return parse_list(parse_connection_option, header, 0, "Connection")


# Upgrade (RFC 7230 §6.7).

# protocol = protocol-name ["/" protocol-version], both tokens (RFC 7230 §6.7). The optional
# part starts with "/", which a token can't contain, so there is nothing to backtrack into.
_PROTOCOL = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?")


def parse_upgrade_protocol(
    header: str, pos: int, header_name: str
) -> tuple[UpgradeProtocol, int]:
    """Parse an upgrade protocol (RFC 7230 §6.7), e.g. ``websocket`` or ``HTTP/2.0``."""
    match = _PROTOCOL.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected protocol", header, pos)
    return cast(UpgradeProtocol, match.group()), match.end()


def parse_upgrade(header: str) -> list[UpgradeProtocol]:
    """Parse an ``Upgrade`` header: ``Upgrade = 1#protocol`` (RFC 7230 §6.7).

    Return the list of protocols; raise :exc:`InvalidHeaderFormat` on invalid input.
    """
    return parse_list(parse_upgrade_protocol, header, 0, "Upgrade")


# Sec-WebSocket-Extensions (RFC 6455 §9.1).


def parse_extension_item_param(
    header: str, pos: int, header_name: str
) -> tuple[ExtensionParameter, int]:
    """Parse an extension-param: ``token [ "=" ( token / quoted-string ) ]`` (RFC 6455 §9.1).

    Return ``(name, value)``, with ``value`` ``None`` when there is no ``=``, and the position
    after the parameter and the whitespace that follows it.
    """
    name, pos = parse_token(header, pos, header_name)
    pos = parse_OWS(header, pos)
    value: str | None = None
    if peek_ahead(header, pos) == "=":
        pos = parse_OWS(header, pos + 1)
        if peek_ahead(header, pos) == '"':
            start = pos
            value, pos = parse_quoted_string(header, pos, header_name)
            # RFC 6455 §9.1: "When using the quoted-string syntax variant, the value after
            # quoted-string unescaping MUST conform to the 'token' ABNF."
            if _TOKEN.fullmatch(value) is None:
                raise InvalidHeaderFormat(
                    header_name, "invalid quoted header content", header, start
                )
        else:
            value, pos = parse_token(header, pos, header_name)
        pos = parse_OWS(header, pos)
    return (name, value), pos


def parse_extension_item(
    header: str, pos: int, header_name: str
) -> tuple[ExtensionHeader, int]:
    """Parse an extension: ``extension-token *( ";" extension-param )`` (RFC 6455 §9.1).

    Return ``(name, parameters)`` and the position after the extension.
    """
    name, pos = parse_token(header, pos, header_name)
    pos = parse_OWS(header, pos)
    parameters = []
    while peek_ahead(header, pos) == ";":
        pos = parse_OWS(header, pos + 1)
        parameter, pos = parse_extension_item_param(header, pos, header_name)
        parameters.append(parameter)
    return (cast(ExtensionName, name), parameters), pos


def parse_extension(header: str) -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` header (RFC 6455 §9.1).

    Return a list of ``(name, parameters)`` where ``parameters`` is a list of ``(name,
    value)`` and ``value`` is ``None`` for a parameter without one::

        [
            ("permessage-deflate", [("client_max_window_bits", None)]),
            ("x-webkit-deflate-frame", []),
        ]

    Raise :exc:`InvalidHeaderFormat` on invalid input.
    """
    return parse_list(parse_extension_item, header, 0, "Sec-WebSocket-Extensions")


parse_extension_list = parse_extension  # alias kept by websockets for backwards compatibility


def build_extension_item(name: ExtensionName, parameters: Sequence[ExtensionParameter]) -> str:
    """Build an extension: its name, then ``; name`` or ``; name=value`` for each parameter."""
    parts: list[str] = [name]
    for param_name, param_value in parameters:
        parts.append(param_name if param_value is None else f"{param_name}={param_value}")
    return "; ".join(parts)


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header (RFC 6455 §9.1).

    The reverse of :func:`parse_extension`. Names and values are written as given: they come
    from extension implementations, which use tokens.
    """
    return ", ".join(build_extension_item(name, parameters) for name, parameters in extensions)


build_extension_list = build_extension  # alias kept by websockets for backwards compatibility


# Sec-WebSocket-Protocol (RFC 6455 §4.3, §11.3.4).


def parse_subprotocol_item(
    header: str, pos: int, header_name: str
) -> tuple[Subprotocol, int]:
    """Parse a subprotocol: a token (RFC 6455 §4.1, §11.3.4)."""
    item, pos = parse_token(header, pos, header_name)
    return cast(Subprotocol, item), pos


def parse_subprotocol(header: str) -> list[Subprotocol]:
    """Parse a ``Sec-WebSocket-Protocol`` header: ``1#token`` (RFC 6455 §4.3).

    Return the list of subprotocols; raise :exc:`InvalidHeaderFormat` on invalid input.
    """
    return parse_list(parse_subprotocol_item, header, 0, "Sec-WebSocket-Protocol")


parse_subprotocol_list = parse_subprotocol  # alias kept by websockets for backwards compatibility


def build_subprotocol(subprotocols: Sequence[Subprotocol]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header (RFC 6455 §4.3)."""
    return ", ".join(subprotocols)


build_subprotocol_list = build_subprotocol  # alias kept by websockets for backwards compatibility


def validate_subprotocols(subprotocols: Sequence[Subprotocol]) -> None:
    """Check that ``subprotocols`` is a list of tokens, as RFC 6455 §4.1 requires.

    Raise :exc:`TypeError` when it isn't a sequence, or is a single string (whose characters
    would pass for one-letter subprotocols), and :exc:`ValueError` on a subprotocol that
    isn't a token.
    """
    if not isinstance(subprotocols, Sequence):
        raise TypeError("subprotocols must be a list")
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list, not a str")
    for subprotocol in subprotocols:
        if not _TOKEN.fullmatch(subprotocol):
            raise ValueError(f"invalid subprotocol: {subprotocol}")


# HTTP Basic authentication (RFC 7617).


def build_www_authenticate_basic(realm: str) -> str:
    """Build a ``WWW-Authenticate`` header challenging for Basic authentication.

    RFC 7617 §2: the realm parameter is required; §2.1: the charset parameter tells the client
    to encode credentials in UTF-8.
    """
    # RFC 7235 §2.2: the realm value is a quoted-string.
    return f'Basic realm={build_quoted_string(realm)}, charset="UTF-8"'


# token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 7235 §2.1).
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def parse_token68(header: str, pos: int, header_name: str) -> tuple[str, int]:
    """Parse a token68 (RFC 7235 §2.1); return it and the position after it."""
    match = _TOKEN68.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected token68", header, pos)
    return match.group(), match.end()


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """Parse an ``Authorization`` header for HTTP Basic authentication (RFC 7617 §2).

    Return ``(username, password)``. Raise :exc:`InvalidHeaderFormat` when the header isn't
    ``<scheme> <token68>`` and :exc:`InvalidHeaderValue` when the scheme isn't Basic or the
    credentials aren't base64-encoded ``username:password``.
    """
    # credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ] (RFC 7235 §2.1); Basic uses
    # the token68 form with a single space (RFC 7617 §2).
    scheme, pos = parse_token(header, 0, "Authorization")
    # Auth schemes are case-insensitive (RFC 7235 §2.1).
    if scheme.lower() != "basic":
        raise InvalidHeaderValue("Authorization", f"unsupported scheme: {scheme}")
    if peek_ahead(header, pos) != " ":
        raise InvalidHeaderFormat("Authorization", "expected space after scheme", header, pos)
    pos += 1
    basic_credentials, pos = parse_token68(header, pos, "Authorization")
    parse_end(header, pos, "Authorization")

    try:
        # Not validate=True: like websockets, accept and ignore characters outside the base64
        # alphabet that token68 allows ("-", ".", "_", "~").
        user_pass = base64.b64decode(basic_credentials.encode()).decode(
            "utf-8", "surrogateescape"
        )
    except binascii.Error:
        raise InvalidHeaderValue(
            "Authorization", "expected base64-encoded credentials"
        ) from None
    # RFC 7617 §2: user-pass = user-id ":" password, and the user-id can't contain a colon,
    # so the first colon separates them; the password may contain more.
    username, colon, password = user_pass.partition(":")
    if not colon:
        raise InvalidHeaderValue("Authorization", "expected username:password credentials")
    return username, password


def build_authorization_basic(username: str, password: str) -> str:
    """Build an ``Authorization`` header for HTTP Basic authentication (RFC 7617 §2).

    This is the reverse of :func:`parse_authorization_basic`.
    """
    # RFC 7617 §2: "a user-id containing a colon character is invalid", since the server
    # splits at the first colon. Not an assert statement: this must hold under python -O too.
    if ":" in username:
        raise AssertionError("username must not contain a colon (RFC 7617 §2)")
    user_pass = f"{username}:{password}"
    # RFC 7617 §2.1: UTF-8, the charset announced by build_www_authenticate_basic;
    # surrogateescape gives back the bytes that parse_authorization_basic couldn't decode.
    basic_credentials = base64.b64encode(user_pass.encode("utf-8", "surrogateescape")).decode()
    return "Basic " + basic_credentials


def check_upgrade(headers: Headers) -> None:
    """Raise InvalidUpgrade unless Connection and Upgrade ask for a WebSocket upgrade.

    Both sides of the handshake check the same thing (RFC 6455 §4.1 items 5-6 for the
    client, §4.2.1 items 3-4 for the server). RFC 6455 writes "websocket", except in its
    IANA registration (§11.2), which writes "WebSocket": tokens compare without case.
    """
    connection: list[ConnectionOption] = []
    for value in headers.get_all("Connection"):
        connection.extend(parse_connection(value))
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)

    upgrade: list[UpgradeProtocol] = []
    for value in headers.get_all("Upgrade"):
        upgrade.extend(parse_upgrade(value))
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)
