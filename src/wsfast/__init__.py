"""wsfast: a fast WebSocket library (RFC 6455, RFC 7692), a drop-in for websockets."""

from __future__ import annotations

from . import exceptions as _exceptions
from .exceptions import *  # noqa: F403 - the exception API is part of the top-level namespace
from .speedups import FALLBACK_REASON, IMPLEMENTATION

__version__ = "0.1.0"

__all__ = ["FALLBACK_REASON", "IMPLEMENTATION", "__version__", *_exceptions.__all__]
