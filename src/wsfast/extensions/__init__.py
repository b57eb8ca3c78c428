"""WebSocket extensions (RFC 6455 §9): the base classes, as ``websockets.extensions``.

The one extension shipped, permessage-deflate (RFC 7692), lives in
:mod:`wsfast.extensions.permessage_deflate`.
"""

from __future__ import annotations

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]
