"""Base classes for WebSocket extensions (RFC 6455 §9), as ``websockets.extensions.base``.

An extension is negotiated in the opening handshake through the ``Sec-WebSocket-Extensions``
header (RFC 6455 §9.1): the client's factory offers parameters, the server's factory accepts
or declines them, and each side ends up with an :class:`Extension` instance that transforms
frames: :meth:`Extension.encode` on the way out, :meth:`Extension.decode` on the way in.

Subclasses override every method; the base implementations raise
:exc:`NotImplementedError`, as websockets' do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..typing import ExtensionName, ExtensionParameter

if TYPE_CHECKING:
    from ..frames import Frame

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]


class Extension:
    """Base class for extensions."""

    name: ExtensionName
    """Extension identifier."""

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Decode an incoming frame.

        ``max_size`` is the room left in the current message, in bytes; ``None`` means no
        limit.

        Raises:
            PayloadTooBig: if decoding the payload exceeds ``max_size``.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """Encode an outgoing frame."""
        raise NotImplementedError


class ClientExtensionFactory:
    """Base class for client-side extension factories."""

    name: ExtensionName
    """Extension identifier."""

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """Build the parameters offered to the server for this extension."""
        raise NotImplementedError

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Process the parameters the server answered with; return an extension instance.

        ``accepted_extensions`` are the extensions accepted before this one.

        Raises:
            NegotiationError: if the parameters aren't acceptable.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """Base class for server-side extension factories."""

    name: ExtensionName
    """Extension identifier."""

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Process the parameters a client offered.

        To accept the offer, return the parameters to send back and an extension instance.
        ``accepted_extensions`` are the extensions accepted before this one.

        Raises:
            NegotiationError: to decline the offer, when the parameters aren't acceptable.
        """
        raise NotImplementedError
