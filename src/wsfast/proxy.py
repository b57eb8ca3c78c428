"""Proxy settings, where websockets 17 keeps them (``websockets.proxy``); defined in uri."""

from __future__ import annotations

from .http11 import USER_AGENT
from .uri import Proxy, WebSocketURI, get_proxy, parse_proxy

__all__ = ["Proxy", "get_proxy", "parse_proxy"]


def prepare_connect_request(
    proxy: Proxy,
    ws_uri: WebSocketURI,
    user_agent_header: str | None = USER_AGENT,
) -> bytes:
    """The HTTP ``CONNECT`` request that asks ``proxy`` for a tunnel to ``ws_uri``'s server.

    With Basic credentials when the proxy URI carries them; without ``User-Agent`` when
    ``user_agent_header`` is :obj:`None`.
    """
    from .client import prepare_connect_request as build_request

    return build_request(proxy, ws_uri, user_agent_header)
