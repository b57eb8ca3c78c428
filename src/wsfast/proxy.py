"""Proxy settings, where websockets 17 keeps them (``websockets.proxy``); defined in uri."""

from __future__ import annotations

from .uri import Proxy, get_proxy, parse_proxy

__all__ = ["Proxy", "get_proxy", "parse_proxy"]
