"""The request: the client handshake the probe sends, as wsfast's client would, with the
user's ``--header`` overrides."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import build_extension
from ..http11 import USER_AGENT
from ..uri import WebSocketURI
from ..utils import generate_key


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
