"""wsfast: a fast WebSocket library (RFC 6455, RFC 7692), a drop-in for websockets.

``import wsfast as websockets`` gives the names ``websockets`` has at its top level. The
asyncio API and the protocol classes are imported on first use, so that ``import wsfast``
stays cheap for programs that only need part of it.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import exceptions as _exceptions
from .exceptions import *  # noqa: F403 - the exception API is part of the top-level namespace
from .speedups import FALLBACK_REASON, IMPLEMENTATION
from .version import version as __version__

# Name -> module that defines it, relative to this package.
_LAZY = {
    # Standing in for websockets in third-party code
    "install_as_websockets": "._install",
    # asyncio client and server
    "connect": ".asyncio.client",
    "unix_connect": ".asyncio.client",
    "ClientConnection": ".asyncio.client",
    # asyncio router (werkzeug URL maps)
    "route": ".asyncio.router",
    "unix_route": ".asyncio.router",
    "Router": ".asyncio.router",
    "basic_auth": ".asyncio.server",
    "broadcast": ".asyncio.server",
    "serve": ".asyncio.server",
    "unix_serve": ".asyncio.server",
    "ServerConnection": ".asyncio.server",
    "Server": ".asyncio.server",
    # Sans-I/O
    "ClientProtocol": ".client",
    "ServerProtocol": ".server",
    "Protocol": ".protocol",
    "Side": ".protocol",
    "State": ".protocol",
    "Headers": ".datastructures",
    "HeadersLike": ".datastructures",
    "MultipleValuesError": ".datastructures",
    "Close": ".frames",
    "CloseCode": ".frames",
    "Frame": ".frames",
    "Opcode": ".frames",
    "Request": ".http11",
    "Response": ".http11",
    # Types
    "Data": ".typing",
    "ExtensionName": ".typing",
    "ExtensionParameter": ".typing",
    "LoggerLike": ".typing",
    "StatusLike": ".typing",
    "Origin": ".typing",
    "Subprotocol": ".typing",
}

__all__ = [
    "FALLBACK_REASON",
    "IMPLEMENTATION",
    "__version__",
    *_exceptions.__all__,
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Deprecated top-level aliases -----------------------------------------------------------------
# websockets 17 still resolves these with a DeprecationWarning ("websockets.<name> is
# deprecated"). As wsfast.exceptions does, they resolve to the current exceptions; websockets'
# other deprecated top-level names belong to its legacy API (issue 21) and stay absent. This
# block wraps the module __getattr__ and __dir__ above: keep it after them.

_DEPRECATED_ALIASES = {
    "InvalidStatusCode": "InvalidStatus",
    "WebSocketProtocolError": "ProtocolError",
}
_lazy_getattr = __getattr__
_lazy_dir = __dir__


def __getattr__(name: str) -> Any:  # type: ignore[no-redef]  # noqa: F811 - wraps the above
    target = _DEPRECATED_ALIASES.get(name)
    if target is None:
        return _lazy_getattr(name)
    import warnings

    warnings.warn(f"{__name__}.{name} is deprecated", DeprecationWarning, stacklevel=2)
    return getattr(_exceptions, target)


def __dir__() -> list[str]:  # type: ignore[no-redef]  # noqa: F811 - wraps the above
    return sorted(set(_lazy_dir()) | set(_DEPRECATED_ALIASES))
