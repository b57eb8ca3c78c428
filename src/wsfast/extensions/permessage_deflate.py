"""The permessage-deflate extension (RFC 7692), as ``websockets.extensions.permessage_deflate``.

:class:`PerMessageDeflate` compresses outgoing data messages and decompresses incoming ones;
:class:`ClientPerMessageDeflateFactory` and :class:`ServerPerMessageDeflateFactory` negotiate
its parameters in the opening handshake (RFC 7692 §7.1). Defaults, accepted values,
negotiation outcomes and error messages are websockets 17's, so that configurations and
``except`` clauses carry over unchanged.

What wsfast adds:

* ``backend=`` on the factories and on :class:`PerMessageDeflate` picks the DEFLATE engine
  (``"zlib"``, ``"zlib-ng"``, ``"isal"``; see :mod:`wsfast.deflate_backends`). Frames are raw
  DEFLATE whichever engine writes them, so peers can't tell the difference.
* Decompression is bounded by the room left in the message, plus one byte: a decompression
  bomb raises :exc:`~wsfast.exceptions.PayloadTooBig` after inflating at most that much, and
  a message of exactly ``max_size`` bytes is accepted.
* A peer that ends a message with a final DEFLATE block (BFINAL set, RFC 7692 §7.2.3.4) gets
  a fresh decompressor for its next message, which websockets would silently decode as
  empty. That next stream starts with an empty window: a back-reference into earlier
  messages fails loudly (ProtocolError) rather than decoding wrong. Within a message, bytes
  after the final block are ignored, as zlib and websockets ignore them.

Window sizes: the negotiation accepts ``*_max_window_bits`` from 8 to 15 (RFC 7692 §7.1.2),
but zlib can't produce raw DEFLATE with a 256-byte window (it rejects ``wbits=-8``, see
madler/zlib#171) and a 512-byte window may reference data that a peer holding only 256 bytes
no longer has. So, as in websockets, wsfast never agrees to compress with 8: a client that is
told ``client_max_window_bits=8``, or a server offered ``server_max_window_bits=8``, fails
the negotiation with a message suggesting 9. Decompressing with a window of 8 is fine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..deflate_backends import DeflateBackend, get_backend
from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import CONT, CTRL_OPCODES
from ..typing import BytesLike, ExtensionName, ExtensionParameter
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

if TYPE_CHECKING:
    from ..frames import Frame

__all__ = [
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "ServerPerMessageDeflateFactory",
    "enable_server_permessage_deflate",
]

# A set hashes an opcode once; the CTRL_OPCODES tuple compares it up to three times.
_CTRL_OPCODES = frozenset(CTRL_OPCODES)

# RFC 7692 §7.2.1: a sync flush ends with an empty stored block whose last four octets,
# 00 00 ff ff, the sender removes; RFC 7692 §7.2.2: the receiver appends them back.
_TAIL = b"\x00\x00\xff\xff"

# A sync flush of no input, after a previous flush, is exactly one empty stored block. Without
# its tail that is the single octet 00 (RFC 7692 §7.2.3.6). Every engine would produce a valid
# encoding, but ISA-L picks an empty fixed-Huffman block (02 00); emitting the constants keeps
# empty frames identical across engines and skips the compressor altogether.
_EMPTY_LAST_FRAGMENT = b"\x00"
_EMPTY_FRAGMENT = b"\x00" + _TAIL

# Below this size, appending the tail to the payload (one copy) and decompressing once is
# cheaper than a second decompress() call for the four bytes.
_SMALL_PAYLOAD = 2048

# RFC 7692 §7.1.2.1 and §7.1.2.2: the value is a decimal integer from 8 to 15, written without
# leading zeros or spaces; compare as strings so that "08" or " 9" are rejected.
_WINDOW_BITS_VALUES = {str(bits): bits for bits in range(8, 16)}


class PerMessageDeflate(Extension):
    """Per-Message Deflate extension: one negotiated instance per connection.

    ``remote_*`` parameters describe what the peer compresses (so how we decompress),
    ``local_*`` what we compress. ``compress_settings`` are :func:`zlib.compressobj` keyword
    arguments other than ``wbits``; ``backend`` picks the DEFLATE engine (see
    :func:`wsfast.deflate_backends.get_backend`).
    """

    name = ExtensionName("permessage-deflate")

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: dict[Any, Any] | None = None,
        *,
        backend: str | DeflateBackend | None = None,
    ) -> None:
        if compress_settings is None:
            compress_settings = {}
        if remote_no_context_takeover not in (False, True):
            raise ValueError("remote_no_context_takeover must be a bool")
        if local_no_context_takeover not in (False, True):
            raise ValueError("local_no_context_takeover must be a bool")
        if not 8 <= remote_max_window_bits <= 15:
            raise ValueError("remote_max_window_bits must be between 8 and 15")
        if not 9 <= local_max_window_bits <= 15:
            # See the module docstring: no engine here compresses with a 256-byte window.
            raise ValueError("local_max_window_bits must be between 9 and 15")
        if "wbits" in compress_settings:
            raise ValueError("compress_settings must not include wbits")

        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = compress_settings
        self.backend = get_backend(backend)
        self._error = self.backend.error
        self._sync_flush = self.backend.Z_SYNC_FLUSH

        # Built on first use: a connection that never sends doesn't pay for a compressor's
        # state (up to a few hundred KiB with zlib's defaults).
        self.decoder: Any = None
        self.encoder: Any = None
        #: Makes a decompressor for the negotiated window (see :meth:`message_decoder`).
        self.new_decoder: Callable[[], Any] = self.backend.decompressor_factory(
            remote_max_window_bits
        )

        # Whether the message being received is compressed. RFC 7692 §6 sets RSV1 on the first
        # frame only, so continuation frames learn it from here.
        self.decode_cont_data = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Decompress an incoming frame, if it belongs to a compressed message.

        ``max_size`` is the room left in the message; ``None`` means no limit.

        Raises:
            PayloadTooBig: if the decompressed payload would exceed ``max_size``.
            ProtocolError: if RSV1 is set on a continuation frame or the data is corrupt.
        """
        opcode = frame.opcode
        # RFC 7692 §6: control frames are never compressed; their RSV1 is the framing
        # layer's business.
        if opcode in _CTRL_OPCODES:
            return frame
        if opcode == CONT:
            if not self.decode_cont_data:
                return frame
            # RFC 7692 §6: RSV1 marks the first frame of a compressed message and only it.
            if frame.rsv1:
                raise ProtocolError("RSV1 bit set in continuation frame")
        elif not frame.rsv1:
            return frame
        fin = frame.fin
        out = self.decompress(frame.data, opcode != CONT, fin, max_size)
        # RFC 7692 §6.2: the decoded frame no longer has RSV1 set. Built positionally on the
        # frame's own class: dataclasses.replace() costs about a microsecond more per frame,
        # as much as inflating a small message.
        return type(frame)(opcode, out, fin, False, frame.rsv2, frame.rsv3)

    def decompress(
        self, data: BytesLike, first: bool, fin: bool, max_size: int | None = None
    ) -> bytes:
        """Inflate the payload of one frame of a compressed message.

        ``first`` and ``fin`` say where the frame sits in its message; ``max_size`` is the
        room left in the message, :obj:`None` for no limit. The frame reader calls this
        directly for messages in one frame, without building frames around it.

        Raises:
            PayloadTooBig: if the decompressed payload would exceed ``max_size``.
            ProtocolError: if the data is corrupt.
        """
        if first:
            self.decode_cont_data = not fin
            self.decoder = self.message_decoder()
        elif fin:
            self.decode_cont_data = False

        decoder = self.decoder
        out: bytes
        try:
            if max_size is None or max_size >= sys.maxsize:
                # No limit (the caller disabled max_size): inflate everything.
                if not fin:
                    out = decoder.decompress(data)
                elif len(data) < _SMALL_PAYLOAD:
                    out = decoder.decompress(b"".join((data, _TAIL)))
                else:
                    out = decoder.decompress(data)
                    rest = decoder.decompress(_TAIL)
                    if rest:
                        out += rest
            else:
                # Ask for one byte more than the room left: getting it proves the message is
                # too big while inflating at most max_size + 1 bytes, however far the input
                # would expand. Below that, the output buffer never filled, so decompress()
                # consumed all of its input (or met the end of the stream, RFC 7692 §7.2.3.4).
                budget = max_size + 1
                if fin and len(data) < _SMALL_PAYLOAD:
                    out = decoder.decompress(b"".join((data, _TAIL)), budget)
                else:
                    out = decoder.decompress(data, budget)
                    if fin and len(out) < budget:
                        rest = decoder.decompress(_TAIL, budget - len(out))
                        if rest:
                            out += rest
                if len(out) > max_size:
                    raise PayloadTooBig(None, max_size)
        except self._error as exc:
            raise ProtocolError("decompression failed") from exc

        # Without context takeover the decoder is rebuilt for the next message anyway: let
        # its window go now rather than hold it while the connection idles.
        if fin and self.remote_no_context_takeover:
            self.decoder = None
        return out

    # The frame readers' fast path. A compressed message that arrives in one frame is
    # inflated by the reader itself (wsfast._speedups, and its twin likewise), without
    # frames built around it and without the Python call to decompress(): that call adds
    # about 30% to inflating a 1 KiB message (measured with zlib-ng). The reader asks this object which
    # decoder to use, and follows decompress()'s rules for the rest: the budget (inflate
    # one byte more than the room left), the 00 00 ff ff tail (RFC 7692 §7.2.2) and
    # ``backend.error``. The differential tests hold the readers to decompress()'s results.

    def message_decoder(self) -> Any:
        """The decoder that inflates the message starting now.

        RFC 7692 §7.1.1: without context takeover each message starts from an empty
        window; that decoder isn't kept when the message fits in one frame (a reader that
        starts one per message may call :attr:`new_decoder` itself instead). With context
        takeover the connection's decoder carries on, unless it met a final block (RFC 7692
        §7.2.3.4): the next message is then a new DEFLATE stream.
        """
        if self.remote_no_context_takeover:
            return self.new_decoder()
        decoder = self.decoder
        if decoder is None or decoder.eof:
            decoder = self.decoder = self.new_decoder()
        return decoder

    def encode(self, frame: Frame) -> Frame:
        """Compress an outgoing data frame; control frames pass unchanged.

        Every data message is compressed, each frame ending on a sync flush so that it can be
        sent at once (RFC 7692 §7.2.1).
        """
        opcode = frame.opcode
        # RFC 7692 §6: control frames are never compressed.
        if opcode in _CTRL_OPCODES:
            return frame

        first = opcode != CONT
        fin = frame.fin
        out = self.compress(frame.data, first, fin)
        # RFC 7692 §6.1: RSV1 set on the first frame of a compressed message, and only there.
        return type(frame)(opcode, out, fin, first, frame.rsv2, frame.rsv3)

    def compress(self, data: BytesLike, first: bool, fin: bool) -> bytes:
        """Deflate the payload of one frame of a message.

        ``first`` and ``fin`` say where the frame sits in its message. The frame writer calls
        this directly, without building frames around it.
        """
        # RFC 7692 §7.1.1: without context takeover each message starts from an empty window.
        # The last frame already dropped the compressor; this covers a message abandoned
        # before its last frame (a send that failed halfway).
        if first and self.local_no_context_takeover:
            self.encoder = None

        if not data:
            out = _EMPTY_LAST_FRAGMENT if fin else _EMPTY_FRAGMENT
        else:
            encoder = self.encoder
            if encoder is None:
                encoder = self.encoder = self.backend.compressobj(
                    self.local_max_window_bits, self.compress_settings
                )
            out = encoder.compress(data) + encoder.flush(self._sync_flush)
            if fin:
                # RFC 7692 §7.2.1: remove the 00 00 ff ff that the sync flush ends with; the
                # receiver appends it back. An engine not ending on it would corrupt the
                # stream for the peer, so refuse rather than send.
                if not out.endswith(_TAIL):
                    raise RuntimeError(
                        f"deflate backend {self.backend.name!r} didn't end a sync flush "
                        f"with 00 00 ff ff"
                    )
                out = out[:-4]

        if fin and self.local_no_context_takeover:
            self.encoder = None
        return out


def _build_parameters(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: int | None,
    client_max_window_bits: int | Literal[True] | None,
) -> list[ExtensionParameter]:
    """Write negotiated values as ``(name, value)`` pairs, in websockets' order."""
    params: list[ExtensionParameter] = []
    if server_no_context_takeover:
        params.append(("server_no_context_takeover", None))
    if client_no_context_takeover:
        params.append(("client_no_context_takeover", None))
    if server_max_window_bits:
        params.append(("server_max_window_bits", str(server_max_window_bits)))
    # RFC 7692 §7.1.2.2: a bare client_max_window_bits ("I can limit my window") only
    # appears in offers.
    if client_max_window_bits is True:
        params.append(("client_max_window_bits", None))
    elif client_max_window_bits:
        params.append(("client_max_window_bits", str(client_max_window_bits)))
    return params


def _extract_parameters(
    params: Sequence[ExtensionParameter], *, is_server: bool
) -> tuple[bool, bool, int | None, int | Literal[True] | None]:
    """Read ``(name, value)`` pairs into the four negotiated values.

    ``is_server`` means the pairs come from an offer, where ``client_max_window_bits`` may
    have no value; it then reads as :obj:`True`.

    Raises:
        DuplicateParameter, InvalidParameterName, InvalidParameterValue: RFC 7692 §7 declines
            an offer or fails a response with a repeated, unknown or malformed parameter.
    """
    server_no_context_takeover = False
    client_no_context_takeover = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | Literal[True] | None = None

    for name, value in params:
        if name == "server_no_context_takeover":
            # RFC 7692 §7.1.1.1: a bare flag.
            if server_no_context_takeover:
                raise DuplicateParameter(name)
            if value is not None:
                raise InvalidParameterValue(name, value)
            server_no_context_takeover = True
        elif name == "client_no_context_takeover":
            # RFC 7692 §7.1.1.2: a bare flag.
            if client_no_context_takeover:
                raise DuplicateParameter(name)
            if value is not None:
                raise InvalidParameterValue(name, value)
            client_no_context_takeover = True
        elif name == "server_max_window_bits":
            # RFC 7692 §7.1.2.1: always has a value.
            if server_max_window_bits is not None:
                raise DuplicateParameter(name)
            bits = _WINDOW_BITS_VALUES.get(value) if value is not None else None
            if bits is None:
                raise InvalidParameterValue(name, value)
            server_max_window_bits = bits
        elif name == "client_max_window_bits":
            # RFC 7692 §7.1.2.2: bare in an offer, valued in a response.
            if client_max_window_bits is not None:
                raise DuplicateParameter(name)
            if value is None and is_server:
                client_max_window_bits = True
            else:
                bits = _WINDOW_BITS_VALUES.get(value) if value is not None else None
                if bits is None:
                    raise InvalidParameterValue(name, value)
                client_max_window_bits = bits
        else:
            raise InvalidParameterName(name)

    return (
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    )


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Client-side factory for the Per-Message Deflate extension.

    Parameters behave as described in RFC 7692 §7.1. Each is offered when set: the flags
    bare, the window sizes with their value, ``client_max_window_bits=True`` bare (the
    default: "the server may limit my window").

    Args:
        server_no_context_takeover: Prevent the server from using context takeover.
        client_no_context_takeover: Prevent the client from using context takeover.
        server_max_window_bits: Maximum size of the server's LZ77 sliding window in bits,
            between 8 and 15.
        client_max_window_bits: Maximum size of the client's LZ77 sliding window in bits,
            between 9 and 15, or :obj:`True` to indicate support without setting a limit.
            8 isn't supported, see the module docstring.
        compress_settings: Additional keyword arguments for :func:`zlib.compressobj`,
            excluding ``wbits``.
        backend: DEFLATE engine, see :func:`wsfast.deflate_backends.get_backend`; loaded
            now, so that a missing package fails at configuration rather than mid-handshake.
    """

    name = ExtensionName("permessage-deflate")

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | Literal[True] | None = True,
        compress_settings: dict[str, Any] | None = None,
        *,
        backend: str | DeflateBackend | None = None,
    ) -> None:
        if not (server_max_window_bits is None or 8 <= server_max_window_bits <= 15):
            raise ValueError("server_max_window_bits must be between 8 and 15")
        if not (
            client_max_window_bits is None
            or client_max_window_bits is True
            or 9 <= client_max_window_bits <= 15
        ):
            raise ValueError("client_max_window_bits must be between 9 and 15")
        if compress_settings is not None and "wbits" in compress_settings:
            raise ValueError(
                "compress_settings must not include wbits, set client_max_window_bits instead"
            )

        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self.backend = get_backend(backend)

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """Build the parameters of the offer."""
        return _build_parameters(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Check the server's response against the offer; return the extension.

        Raises:
            NegotiationError: if the response doesn't answer the offer as RFC 7692 §7.1
                requires.
        """
        # RFC 7692 §5: permessage-deflate applies once per connection.
        if any(other.name == self.name for other in accepted_extensions):
            raise NegotiationError(f"received duplicate {self.name}")

        (
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        ) = _extract_parameters(params, is_server=False)

        # RFC 7692 §7.1.1.1: a server accepting an offer with server_no_context_takeover
        # must echo it; it may add it unasked.
        if self.server_no_context_takeover and not server_no_context_takeover:
            raise NegotiationError("expected server_no_context_takeover")

        # RFC 7692 §7.1.1.2: the server may omit client_no_context_takeover; we offered to
        # drop our context, so we still do.
        if self.client_no_context_takeover:
            client_no_context_takeover = True

        # RFC 7692 §7.1.2.1: when offered, the server must answer with a value no larger
        # than ours; unasked, it may limit its window anyway.
        if self.server_max_window_bits is not None:
            if server_max_window_bits is None:
                raise NegotiationError("expected server_max_window_bits")
            if server_max_window_bits > self.server_max_window_bits:
                raise NegotiationError("unsupported server_max_window_bits")

        # RFC 7692 §7.1.2.2: the server may only limit our window if we said it could. A
        # limit we offered ourselves holds even if the server doesn't repeat it.
        if self.client_max_window_bits is None:
            if client_max_window_bits is not None:
                raise NegotiationError("unexpected client_max_window_bits")
        elif self.client_max_window_bits is not True:
            if client_max_window_bits is None:
                client_max_window_bits = self.client_max_window_bits
            elif client_max_window_bits > self.client_max_window_bits:
                raise NegotiationError("unsupported client_max_window_bits")

        if client_max_window_bits == 8:
            raise NegotiationError("unsupported client_max_window_bits = 8, use 9")

        return PerMessageDeflate(
            server_no_context_takeover,  # remote_no_context_takeover
            client_no_context_takeover,  # local_no_context_takeover
            server_max_window_bits or 15,  # remote_max_window_bits
            client_max_window_bits or 15,  # local_max_window_bits
            self.compress_settings,
            backend=self.backend,
        )


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> Sequence[ClientExtensionFactory]:
    """Add Per-Message Deflate with default settings to client extensions.

    If an extension of that name is already present, perhaps with other settings, the list is
    returned unchanged. The defaults are websockets': ``memLevel`` 5, which costs little ratio
    and saves most of zlib's per-connection memory.
    """
    if extensions is None:
        extensions = []
    if not any(factory.name == ClientPerMessageDeflateFactory.name for factory in extensions):
        extensions = [
            *extensions,
            ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}),
        ]
    return extensions


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Server-side factory for the Per-Message Deflate extension.

    Parameters behave as described in RFC 7692 §7.1.

    Args:
        server_no_context_takeover: Prevent the server from using context takeover.
        client_no_context_takeover: Prevent the client from using context takeover.
        server_max_window_bits: Maximum size of the server's LZ77 sliding window in bits,
            between 9 and 15. 8 isn't supported, see the module docstring.
        client_max_window_bits: Maximum size of the client's LZ77 sliding window in bits,
            between 8 and 15.
        compress_settings: Additional keyword arguments for :func:`zlib.compressobj`,
            excluding ``wbits``.
        require_client_max_window_bits: Decline the offer if the client doesn't advertise
            ``client_max_window_bits``; by default, compression is enabled without limiting
            the client's window in that case.
        backend: DEFLATE engine, see :func:`wsfast.deflate_backends.get_backend`; loaded
            now, so that a missing package fails at configuration rather than mid-handshake.
    """

    name = ExtensionName("permessage-deflate")

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: dict[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
        *,
        backend: str | DeflateBackend | None = None,
    ) -> None:
        if not (server_max_window_bits is None or 9 <= server_max_window_bits <= 15):
            raise ValueError("server_max_window_bits must be between 9 and 15")
        if not (client_max_window_bits is None or 8 <= client_max_window_bits <= 15):
            raise ValueError("client_max_window_bits must be between 8 and 15")
        if compress_settings is not None and "wbits" in compress_settings:
            raise ValueError(
                "compress_settings must not include wbits, set server_max_window_bits instead"
            )
        if client_max_window_bits is None and require_client_max_window_bits:
            raise ValueError(
                "require_client_max_window_bits is enabled, "
                "but client_max_window_bits isn't configured"
            )

        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self.require_client_max_window_bits = require_client_max_window_bits
        self.backend = get_backend(backend)

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Answer a client's offer; return the response parameters and the extension.

        Raises:
            NegotiationError: to decline the offer (the client may have sent others).
        """
        # RFC 7692 §5: a client may offer permessage-deflate several times, in order of
        # preference; only the first acceptable one applies.
        if any(other.name == self.name for other in accepted_extensions):
            raise NegotiationError(f"skipped duplicate {self.name}")

        (
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        ) = _extract_parameters(params, is_server=True)

        # RFC 7692 §7.1.1.1: the server may drop its context unasked.
        if self.server_no_context_takeover:
            server_no_context_takeover = True

        # RFC 7692 §7.1.1.2: the server may ask the client to drop its context unasked.
        if self.client_no_context_takeover:
            client_no_context_takeover = True

        # RFC 7692 §7.1.2.1: the server may use a window smaller than offered, or limit it
        # unasked; never larger than offered.
        if self.server_max_window_bits is not None:
            if (
                server_max_window_bits is None
                or server_max_window_bits > self.server_max_window_bits
            ):
                server_max_window_bits = self.server_max_window_bits

        # Compressing with a 256-byte window isn't possible, and answering a larger value
        # than offered is forbidden: decline (see the module docstring).
        if server_max_window_bits == 8:
            raise NegotiationError("unsupported server_max_window_bits = 8, use 9")

        # RFC 7692 §7.1.2.2: the server may limit the client's window only if the client
        # offered client_max_window_bits, and may answer a value no larger than offered.
        if self.client_max_window_bits is None:
            if client_max_window_bits is True:
                client_max_window_bits = None
        elif client_max_window_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("required client_max_window_bits")
        elif (
            client_max_window_bits is True
            or client_max_window_bits > self.client_max_window_bits
        ):
            client_max_window_bits = self.client_max_window_bits

        return (
            _build_parameters(
                server_no_context_takeover,
                client_no_context_takeover,
                server_max_window_bits,
                client_max_window_bits,
            ),
            PerMessageDeflate(
                client_no_context_takeover,  # remote_no_context_takeover
                server_no_context_takeover,  # local_no_context_takeover
                client_max_window_bits or 15,  # remote_max_window_bits
                server_max_window_bits or 15,  # local_max_window_bits
                self.compress_settings,
                backend=self.backend,
            ),
        )


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> Sequence[ServerExtensionFactory]:
    """Add Per-Message Deflate with default settings to server extensions.

    If an extension of that name is already present, perhaps with other settings, the list is
    returned unchanged. The defaults are websockets': 4 KiB windows both ways (window bits
    12) and ``memLevel`` 5, which keep a server's memory per connection low for a small loss
    of ratio.
    """
    if extensions is None:
        extensions = []
    if not any(factory.name == ServerPerMessageDeflateFactory.name for factory in extensions):
        extensions = [
            *extensions,
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            ),
        ]
    return extensions
