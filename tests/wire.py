"""WebSocket frames built byte by byte (RFC 6455 §5.2), for the tests that write raw bytes.

Nothing here uses wsfast: a test that feeds these bytes to wsfast (or compares wsfast's
output with them) checks wsfast against the RFC's bit layout, not against itself.

* :func:`raw_frame`: one frame's bytes, with every header field under the caller's control:
  FIN, RSV1-3, the opcode (any 4-bit value, reserved ones too), the mask key, and the length
  written in the header (which may disagree with the payload, for truncated or lying frames).
* :func:`client_frame`: :func:`raw_frame` masked with a fresh random key, as a client sends.
* :func:`mask_bytes`: XOR with a 4-byte key repeated (§5.3), which masks and unmasks.

Lengths use the shortest encoding (§5.2): 7 bits up to 125, 16 bits up to 65535, else 64.
"""

from __future__ import annotations

import os

__all__ = ["client_frame", "mask_bytes", "raw_frame"]


def mask_bytes(data: bytes, key: bytes) -> bytes:
    """``data`` XOR ``key`` repeated (RFC 6455 §5.3); fast for large data too."""
    if not data:
        return b""
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def raw_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """The bytes of one frame: header, then the mask key and the masked payload when ``mask``
    (4 bytes) is given, else the payload as is.

    ``length`` overrides the payload length written in the header (default: the payload's);
    the payload written is still all of ``payload``.
    """
    payload = bytes(payload)
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    first |= (0x10 if rsv3 else 0) | opcode
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if size < 126:
        header = bytes((first, mask_bit | size))
    elif size < 65536:
        header = bytes((first, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + size.to_bytes(8, "big")
    if mask is None:
        return header + payload
    mask = bytes(mask)
    assert len(mask) == 4, "a mask key is 4 bytes"
    return header + mask + mask_bytes(payload, mask)


def client_frame(opcode: int, payload: bytes = b"", **options) -> bytes:
    """:func:`raw_frame` masked with a fresh random key (``options``: its keyword arguments
    but ``mask``)."""
    return raw_frame(opcode, payload, mask=os.urandom(4), **options)
