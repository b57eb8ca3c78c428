"""What the asyncio and threading connections expose of their Sans-I/O protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol import Protocol, State
    from .typing import Subprotocol

__all__ = ["ProtocolAttributes"]


class ProtocolAttributes:
    """Read-only attributes of a connection that its :attr:`protocol` holds."""

    protocol: Protocol

    @property
    def state(self) -> State:
        """State of the WebSocket connection, defined in RFC 6455."""
        return self.protocol.state

    @property
    def subprotocol(self) -> Subprotocol | None:
        """Subprotocol negotiated during the opening handshake, :obj:`None` if none."""
        return self.protocol.subprotocol

    @property
    def close_code(self) -> int | None:
        """Close code of the connection, once it's closed (RFC 6455 §7.1.5)."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """Close reason of the connection, once it's closed (RFC 6455 §7.1.6)."""
        return self.protocol.close_reason
