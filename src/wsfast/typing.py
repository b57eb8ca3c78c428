"""Type aliases shared by wsfast's modules, under the names websockets.typing gives them.

The ``NewType`` names (:data:`Origin`, :data:`Subprotocol`, …) are plain ``str`` at run time;
they only tell a type checker which header a string came from. The unions are ordinary
``X | Y`` objects, usable in ``isinstance`` checks.
"""

from __future__ import annotations

import http
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NewType

__all__ = [
    "Data",
    "LoggerLike",
    "StatusLike",
    "Origin",
    "Subprotocol",
    "ExtensionName",
    "ExtensionParameter",
]

# Payload of a WebSocket message: text frames carry str, binary frames carry bytes
# (RFC 6455 §5.6).
Data = str | bytes

# Buffers that sending accepts for binary messages without copying first.
BytesLike = bytes | bytearray | memoryview

# What sending accepts: Data, plus the bytes-like buffers.
DataLike = str | bytes | bytearray | memoryview

# logging.LoggerAdapter only became subscriptable in Python 3.11.
if sys.version_info >= (3, 11):
    LoggerLike = logging.Logger | logging.LoggerAdapter[Any]
else:  # pragma: no cover - exercised on Python 3.10 only
    LoggerLike = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]

# HTTP status as an int or as its http.HTTPStatus member.
StatusLike = http.HTTPStatus | int

# Value of an Origin header (RFC 6454 §7).
Origin = NewType("Origin", str)

# Subprotocol named in a Sec-WebSocket-Protocol header (RFC 6455 §11.3.4).
Subprotocol = NewType("Subprotocol", str)

# Extension token named in a Sec-WebSocket-Extensions header (RFC 6455 §9.1).
ExtensionName = NewType("ExtensionName", str)

# Extension parameter: its name and its value, None when the parameter has no value
# (RFC 6455 §9.1, e.g. "server_no_context_takeover").
ExtensionParameter = tuple[str, str | None]

# One parsed extension of a Sec-WebSocket-Extensions header: its name and its parameters.
ExtensionHeader = tuple[ExtensionName, Sequence[ExtensionParameter]]

# Option named in a Connection header (RFC 7230 §6.1).
ConnectionOption = NewType("ConnectionOption", str)

# Protocol named in an Upgrade header (RFC 7230 §6.7).
UpgradeProtocol = NewType("UpgradeProtocol", str)

# Filesystem paths accepted where a file is read, such as a TLS certificate.
PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]
