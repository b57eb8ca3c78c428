"""Where the asyncio layer gets its TCP and Unix transports.

From the event loop, or from aiofastnet (aio-libs' transports in Cython, which picows uses)
when it is installed: its transports read into ``get_buffer()`` and write from C, where
asyncio's selector transports run Python for every read and write (measured: about 4% more
round trips on asyncio, 3% on uvloop; see the README's Benchmarks).
``WSFAST_TRANSPORTS=asyncio`` turns it off, ``WSFAST_TRANSPORTS=aiofastnet`` makes its
absence an error.

TLS servers keep the event loop's transports: aiofastnet 1.2 reports every failed TLS
handshake on the server side (a client refusing the certificate, say) to the loop's exception
handler, as an ERROR whose traceback can't even be formatted, where asyncio logs it at DEBUG;
wsfast must log what websockets logs. Its TLS client connections report such failures as
asyncio does, by raising, and are used. Proxied connections keep the loop's transports: the
HTTP proxy's tunnel is upgraded with ``loop.start_tls()``, which takes only the loop's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

_P = TypeVar("_P", bound=asyncio.BaseProtocol)

__all__ = [
    "TRANSPORTS",
    "create_connection",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
]


def _choose() -> Any:
    setting = os.environ.get("WSFAST_TRANSPORTS", "auto").strip().lower() or "auto"
    if setting not in ("auto", "asyncio", "aiofastnet"):
        raise ValueError(
            f"WSFAST_TRANSPORTS must be auto, asyncio or aiofastnet, not {setting!r}"
        )
    if setting == "asyncio":
        return None
    try:
        import aiofastnet
    except ImportError:
        if setting == "aiofastnet":
            raise
        return None
    return aiofastnet


_aiofastnet = _choose()

TRANSPORTS: str = "asyncio" if _aiofastnet is None else "aiofastnet"
"""Which transports new connections get: ``asyncio`` (the event loop's) or ``aiofastnet``."""


def create_connection(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], _P], *args: Any, **kwargs: Any
) -> Awaitable[tuple[asyncio.Transport, _P]]:
    if _aiofastnet is None:
        return loop.create_connection(factory, *args, **kwargs)
    return _aiofastnet.create_connection(loop, factory, *args, **kwargs)  # type: ignore[no-any-return]


def create_unix_connection(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], _P], *args: Any, **kwargs: Any
) -> Awaitable[tuple[asyncio.Transport, _P]]:
    if _aiofastnet is None:
        return loop.create_unix_connection(factory, *args, **kwargs)
    return _aiofastnet.create_unix_connection(loop, factory, *args, **kwargs)  # type: ignore[no-any-return]


def create_server(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], *args: Any, **kwargs: Any
) -> Awaitable[asyncio.Server]:
    if _aiofastnet is None or kwargs.get("ssl") is not None:
        return loop.create_server(factory, *args, **kwargs)
    return _aiofastnet.create_server(loop, factory, *args, **kwargs)  # type: ignore[no-any-return]


def create_unix_server(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], *args: Any, **kwargs: Any
) -> Awaitable[asyncio.Server]:
    if _aiofastnet is None or kwargs.get("ssl") is not None:
        return loop.create_unix_server(factory, *args, **kwargs)
    return _aiofastnet.create_unix_server(loop, factory, *args, **kwargs)  # type: ignore[no-any-return]
