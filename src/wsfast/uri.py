"""Parsing of WebSocket URIs (RFC 6455 §3) and proxy addresses, as websockets does it.

:func:`parse_uri` checks a ``ws://`` or ``wss://`` URI and splits it into what the opening
handshake needs: where to connect, the Request-URI of the GET request (RFC 6455 §4.1) and any
credentials for HTTP Basic authentication. :func:`parse_proxy` does the same for a proxy
address, and :func:`get_proxy` finds which proxy, if any, the environment asks for.

Splitting is left to :mod:`urllib.parse`, as in websockets, so that both accept and normalise
the same URIs on a given Python version.

One difference: where websockets lets a ``ValueError`` from urllib or a codec escape (an
out-of-range port, a malformed IPv6 literal, a host name IDNA can't encode, percent-encoded
credentials that aren't UTF-8), wsfast raises :exc:`~wsfast.exceptions.InvalidURI` (or
:exc:`~wsfast.exceptions.InvalidProxy`) with the ``ValueError``'s message as the reason. That
exception is also a ``ValueError``, so code written for either behaviour catches it.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Union

from .exceptions import InvalidProxy, InvalidURI

__all__ = ["parse_uri", "WebSocketURI", "parse_proxy", "get_proxy", "Proxy"]


# The gen-delims and sub-delims of RFC 3986 §2.2. They keep their meaning in a path or query,
# so percent-encoding non-ASCII text must leave them alone.
DELIMS = ":/?#[]@!$&'()*+,;="


class _MalformedURI(InvalidURI, ValueError):
    """A URI that urllib refused to split, or whose host or credentials can't be decoded.

    websockets lets the underlying ``ValueError`` escape in these cases; this is an
    :exc:`InvalidURI` that still satisfies ``except ValueError``.
    """


class _MalformedProxy(InvalidProxy, ValueError):
    """A proxy that urllib refused to split, or whose host or credentials can't be decoded."""


# The exception a helper raises: parse_uri's or parse_proxy's.
_Error = Union[type[InvalidURI], type[InvalidProxy]]

# What urlsplit or urlparse return.
_Split = Union[urllib.parse.SplitResult, urllib.parse.ParseResult]


@dataclasses.dataclass
class WebSocketURI:
    """WebSocket URI.

    Attributes:
        secure: :obj:`True` for a ``wss`` URI, :obj:`False` for a ``ws`` URI.
        host: Normalized to lower case; IDNA-encoded when it isn't ASCII.
        port: Always set, even when it's the default (80 for ``ws``, 443 for ``wss``).
        path: May be empty.
        query: May be empty if the URI has no query component.
        username: Available when the URI contains user information (RFC 3986 §3.2.1).
        password: Available when the URI contains user information (RFC 3986 §3.2.1).
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        """The Request-URI of the opening handshake's GET request (RFC 6455 §3)."""
        # An empty path is sent as "/" (RFC 6455 §3, RFC 7230 §5.3.1).
        resource_name = self.path or "/"
        if self.query:
            resource_name += "?" + self.query
        return resource_name

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` when the URI contains credentials, else ``None``."""
        return _user_info(self.username, self.password)


@dataclasses.dataclass
class Proxy:
    """Proxy address.

    Attributes:
        scheme: ``"socks5h"``, ``"socks5"``, ``"socks4a"``, ``"socks4"``, ``"https"``, or
            ``"http"``.
        host: Normalized to lower case; IDNA-encoded when it isn't ASCII.
        port: Always set, even when it's the default (443 for ``https``, else 80).
        username: Available when the address contains user information (RFC 3986 §3.2.1).
        password: Available when the address contains user information (RFC 3986 §3.2.1).
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` when the address contains credentials, else ``None``."""
        return _user_info(self.username, self.password)


def _user_info(username: str | None, password: str | None) -> tuple[str, str] | None:
    if username is None:
        return None
    # The parsers refuse a username without a password, since HTTP Basic authentication
    # needs both (RFC 7617 §2); an object built by hand that breaks this is a bug.
    assert password is not None, "username without password"
    return (username, password)


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI.

    Args:
        uri: WebSocket URI.

    Returns:
        Parsed WebSocket URI.

    Raises:
        InvalidURI: If ``uri`` isn't a valid WebSocket URI.
    """
    parsed = _split(uri, _MalformedURI)
    # RFC 6455 §3: ws-URI and wss-URI are the only schemes.
    if parsed.scheme not in ["ws", "wss"]:
        raise InvalidURI(uri, "scheme isn't ws or wss")
    # The host is required: there is nothing to connect to otherwise (RFC 6455 §3).
    if parsed.hostname is None:
        raise InvalidURI(uri, "hostname isn't provided")
    # RFC 6455 §3: "Fragment identifiers are meaningless in the context of WebSocket URIs
    # and MUST NOT be used on these URIs". A bare "#" carries no fragment and passes.
    if parsed.fragment != "":
        raise InvalidURI(uri, "fragment identifier is meaningless")

    secure = parsed.scheme == "wss"
    host = parsed.hostname
    # RFC 6455 §3: the port defaults to 80 for ws and 443 for wss. An explicit port 0 also
    # means the default, as in websockets.
    port = _port(parsed, uri, _MalformedURI) or (443 if secure else 80)
    path = parsed.path
    query = parsed.query
    username, password = _credentials(parsed, uri, InvalidURI, _MalformedURI)

    if not uri.isascii():
        # An IRI rather than a URI: convert it to a URI (RFC 3987 §3.1). The host becomes
        # IDNA ASCII-compatible encoding (RFC 3490 §4.1), the path and query UTF-8
        # percent-encoding (RFC 3986 §2.1), leaving the delimiters of §2.2 as they are.
        # As in websockets, everything else outside the unreserved set is encoded too, "%"
        # and spaces included: the text is taken as not percent-encoded yet.
        host = _idna(host, uri, _MalformedURI)
        try:
            path = urllib.parse.quote(path, safe=DELIMS)
            query = urllib.parse.quote(query, safe=DELIMS)
        except UnicodeEncodeError as exc:
            # A lone surrogate has no UTF-8 encoding.
            raise _MalformedURI(uri, str(exc)) from exc

    return WebSocketURI(secure, host, port, path, query, username, password)


# Proxy schemes understood by the client: HTTP CONNECT proxies (RFC 9110 §9.3.6), plain or
# over TLS, and SOCKS proxies. The "a"/"h" variants let the proxy resolve the host name.
_PROXY_SCHEMES = ["socks5h", "socks5", "socks4a", "socks4", "https", "http"]


def parse_proxy(proxy: str) -> Proxy:
    """Parse and validate a proxy.

    Args:
        proxy: proxy.

    Returns:
        Parsed proxy.

    Raises:
        InvalidProxy: If ``proxy`` isn't a valid proxy.
    """
    # urlparse rather than urlsplit, as websockets: for http and https it sets aside
    # parameters after the last path segment ("http://proxy/;type=x"), which the path check
    # below then doesn't see.
    parsed = _split(proxy, _MalformedProxy, urllib.parse.urlparse)
    if parsed.scheme not in _PROXY_SCHEMES:
        raise InvalidProxy(proxy, f"scheme {parsed.scheme} isn't supported")
    if parsed.hostname is None:
        raise InvalidProxy(proxy, "hostname isn't provided")
    # A proxy is a host and a port: a path, query or fragment would be silently ignored,
    # which hides a mistake such as a pasted endpoint URL.
    if parsed.path not in ["", "/"]:
        raise InvalidProxy(proxy, "path is meaningless")
    if parsed.query != "":
        raise InvalidProxy(proxy, "query is meaningless")
    if parsed.fragment != "":
        raise InvalidProxy(proxy, "fragment is meaningless")

    scheme = parsed.scheme
    host = parsed.hostname
    # Defaults follow websockets: 443 for https, 80 for every other scheme, SOCKS included.
    port = _port(parsed, proxy, _MalformedProxy) or (443 if scheme == "https" else 80)
    username, password = _credentials(parsed, proxy, InvalidProxy, _MalformedProxy)

    if not proxy.isascii():
        # IDNA ASCII-compatible encoding of an internationalised host (RFC 3490 §4.1).
        host = _idna(host, proxy, _MalformedProxy)

    return Proxy(scheme, host, port, username, password)


def get_proxy(uri: WebSocketURI) -> str | None:
    """Return the proxy to use for connecting to the given WebSocket URI, if any.

    The proxy comes from the environment through :func:`urllib.request.getproxies`
    (``ws_proxy``/``wss_proxy``, ``socks_proxy``, ``https_proxy``, ``http_proxy``, in that
    order of preference; ``http_proxy`` only for ``ws`` URIs), unless
    :func:`urllib.request.proxy_bypass` exempts the host, from ``no_proxy`` for instance.
    """
    # Looked up on the module at each call, so that tests and applications that patch
    # urllib.request see their patch honoured. The port goes along with the host because
    # no_proxy entries may name one ("example.com:8080"); urllib tries with and without it.
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None

    proxies = urllib.request.getproxies()
    # The variables are named after the scheme of the URL being fetched, not of the proxy:
    # http_proxy serves plain-text http:// URLs, so a wss:// connection, the TLS kind, never
    # uses it. ws:// falls back from https_proxy to http_proxy, as in websockets.
    if uri.secure:
        candidates = ["wss", "socks", "https"]
    else:
        candidates = ["ws", "socks", "https", "http"]
    for scheme in candidates:
        proxy = proxies.get(scheme)
        if proxy is None:
            continue
        # System settings (macOS's, as urllib reads them) report every proxy with an http://
        # prefix, SOCKS ones included; a SOCKS proxy can't be spoken to in HTTP, so read it
        # as SOCKS5 with the host name resolved by the proxy.
        if scheme == "socks" and proxy.startswith("http://"):
            proxy = "socks5h://" + proxy[len("http://") :]
        return proxy
    return None


def _split(
    address: str,
    error: _Error,
    splitter: Callable[[str], _Split] = urllib.parse.urlsplit,
) -> _Split:
    """Split ``address`` into its RFC 3986 §3 components; urllib's refusals raise ``error``."""
    try:
        return splitter(address)
    except ValueError as exc:
        # A bracketed host that isn't an IP literal (RFC 3986 §3.2.2), or a host that NFKC
        # normalisation would change into one containing delimiters.
        raise error(address, str(exc)) from exc


def _port(
    parsed: _Split,
    address: str,
    error: _Error,
) -> int | None:
    """Port of a split address, ``None`` when absent; refuse one that isn't 0-65535."""
    try:
        return parsed.port
    except ValueError as exc:
        # RFC 3986 §3.2.3 allows only digits, and TCP only 0-65535.
        raise error(address, str(exc)) from exc


def _credentials(
    parsed: _Split,
    address: str,
    invalid: _Error,
    malformed: _Error,
) -> tuple[str | None, str | None]:
    """Percent-decoded username and password (RFC 3986 §3.2.1), both ``None`` if absent."""
    username = parsed.username
    password = parsed.password
    # The credentials serve HTTP Basic authentication, which needs both parts (RFC 7617 §2).
    # An empty password ("user:@host") is allowed; a missing one ("user@host") isn't.
    if username is not None and password is None:
        raise invalid(address, "username provided without password")
    if username is not None:
        assert password is not None
        try:
            # Percent-encoded octets are UTF-8 (RFC 3986 §2.5, RFC 7617 §2.1). Strict, as in
            # websockets: octets that aren't UTF-8 are refused rather than replaced by U+FFFD,
            # which would send other credentials than the ones written.
            username = urllib.parse.unquote(username, errors="strict")
            password = urllib.parse.unquote(password, errors="strict")
        except UnicodeDecodeError as exc:
            raise malformed(address, str(exc)) from exc
    return username, password


def _idna(host: str, address: str, error: _Error) -> str:
    """ASCII form of ``host`` (RFC 3490 §4.1), refusing one IDNA can't encode."""
    try:
        return host.encode("idna").decode()
    except UnicodeError as exc:
        # An empty label ("a..b"), a label over 63 characters, a lone surrogate, …
        raise error(address, str(exc)) from exc
