"""Small helpers for the handshake (RFC 6455 §4) and for masking keys (RFC 6455 §5.3)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading

from .typing import BytesLike

__all__ = [
    "accept_key",
    "apply_mask",
    "generate_key",
    "generate_mask",
    "get_socket_name",
    "queue_watermarks",
]

# RFC 6455 §1.3: the fixed GUID concatenated to the client's key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def apply_mask(data: BytesLike, mask: bytes) -> bytes:
    """Apply or remove a masking key (RFC 6455 §5.3), with the active codec's kernel."""
    from . import speedups  # the codec imports this module: reached at call time

    return speedups.apply_mask(data, mask)


def generate_key() -> str:
    """Return a random ``Sec-WebSocket-Key``: base64 of 16 random bytes (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value answering ``key`` (RFC 6455 §4.2.2)."""
    sha1 = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(sha1).decode()


class _MaskKeyPool:
    """Masking keys cut from a buffer of ``os.urandom`` bytes.

    RFC 6455 §5.3 requires keys that a peer cannot predict, so they come from the OS CSPRNG;
    asking it for 4 bytes per frame costs ~0.6 µs, asking for 4 KiB at a time costs a few
    nanoseconds per key. A lock keeps two threads from being handed the same key.
    """

    _POOL_SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._position = 0

    def __call__(self) -> bytes:
        with self._lock:
            position = self._position
            if position + 4 > len(self._pool):
                self._pool = os.urandom(self._POOL_SIZE)
                position = 0
            self._position = position + 4
            return self._pool[position : position + 4]

    def _discard(self) -> None:
        # A forked child must not hand out the keys its parent may also use.
        self._lock = threading.Lock()
        self._pool = b""
        self._position = 0


generate_mask = _MaskKeyPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=generate_mask._discard)


# Frames per message that recv() assembles, as websockets reads it: RFC 6455 sets no limit, but
# a message of countless empty frames would hold memory while max_size sees no bytes.
# recv_streaming() takes frames one by one and needs none.
MAX_FRAGMENTS = int(os.environ.get("WEBSOCKETS_MAX_FRAGMENTS", "4096"))


def queue_watermarks(high: int | None, low: int | None) -> tuple[int | None, int | None]:
    """Complete and check the ``max_queue`` watermarks of a message queue.

    A missing low mark is a quarter of the high one, a missing high mark four times the low
    one, as in websockets; :obj:`None` for both disables flow control.

    Raises:
        ValueError: If a mark is negative or the low mark is above the high one.
    """
    if high is not None and low is None:
        low = high // 4
    if high is None and low is not None:
        high = low * 4
    if high is not None and low is not None and not 0 <= low <= high:
        raise ValueError("max_queue must be >= 0 and the low watermark <= the high one")
    return high, low


def get_socket_name(sock: socket.socket) -> str:
    """The local address of ``sock`` as a server logs it: ``host:port``, ``[host]:port``
    for IPv6, the path for a Unix socket."""
    address = sock.getsockname()
    if sock.family == socket.AF_INET:
        return f"{address[0]}:{address[1]}"
    if sock.family == socket.AF_INET6:
        return f"[{address[0]}]:{address[1]}"
    if getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
        return str(address)
    raise AssertionError("unsupported socket family")
