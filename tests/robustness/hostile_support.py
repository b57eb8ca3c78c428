"""What the hostile-peer and graceful-shutdown tests share.

* :class:`ServerProcess`: a wsfast server (asyncio or threading, Cython or pure Python) running
  ``tests/robustness/hostile_server.py`` in a subprocess, with its RSS, peak RSS and open file descriptors
  read from ``/proc/<pid>`` and a control connection for what only the server knows
  (``server.connections``, what a handler saw, tracemalloc).
* Raw peers: blocking sockets with timeouts that speak HTTP and WebSocket by hand
  (:func:`open_raw`, :func:`frame`, :func:`read_until_closed`), so that they can send what no
  well-behaved client would.
* :class:`Canary`: a well-behaved client (wsfast.sync's) doing echo round
  trips against the server in a thread while a test attacks it.

Every wait here is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

from wire import raw_frame

from wsfast.sync.client import connect as ws_connect

TESTS = Path(__file__).resolve().parent
SERVER_SCRIPT = TESTS / "hostile_server.py"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# Timeouts: generous, for a loaded 2-core CI machine; they bound waits, they aren't expected.
TIMEOUT = 10


# The server process ---------------------------------------------------------------------


def proc_status(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in kiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class ServerProcess:
    """``tests/robustness/hostile_server.py <kind>`` with ``implementation`` ("cython" or "python")."""

    def __init__(self, kind: str, implementation: str):
        self.kind = kind
        self.implementation = implementation
        env = dict(os.environ)
        env.pop("WSFAST_NO_EXTENSIONS", None)
        if implementation == "python":
            env["WSFAST_NO_EXTENSIONS"] = "1"
        # The same interpreter and environment as the tests: the server imports the wsfast
        # under test (an editable install or a wheel), the way the tests do.
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.pid = self.process.pid
        self.can_reset_peak = True
        self._control = None
        self._control_lock = threading.Lock()
        try:
            line = self._read_line(TIMEOUT * 3)
            info = json.loads(line)
        except BaseException:
            self.kill()
            raise
        self.port = info["ports"]["main"]
        self.slow_port = info["ports"]["slow"]
        self.reported_implementation = info["implementation"]

    def _read_line(self, timeout: float) -> bytes:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while not data.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError(f"server didn't start in {timeout} s")
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"server exited: {self.process.wait(5)}")
                data += chunk
        finally:
            selector.close()
        return data

    # What /proc says.

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_kib(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def peak_rss_kib(self) -> int:
        """Peak RSS since :meth:`reset_peak_rss` (VmHWM); where the peak can't be reset,
        the current RSS, a lower bound."""
        if not self.can_reset_peak:
            return self.rss_kib()
        return proc_status(self.pid, "VmHWM")

    def reset_peak_rss(self) -> None:
        """Reset VmHWM to the current RSS (``5`` to clear_refs, Linux 4.0+)."""
        if self.can_reset_peak:
            try:
                with open(f"/proc/{self.pid}/clear_refs", "w") as clear_refs:
                    clear_refs.write("5")
            except OSError:  # not allowed here (a container's /proc, an old kernel)
                self.can_reset_peak = False

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    # The control connection.

    def uri(self, path: str, *, slow: bool = False) -> str:
        return f"ws://127.0.0.1:{self.slow_port if slow else self.port}{path}"

    def control(self, op: str, **args):
        with self._control_lock:
            if self._control is None:
                self._control = ws_connect(
                    self.uri("/control"),
                    legacy=True,  # kept open across calls, closed by stop()
                    open_timeout=TIMEOUT,
                    close_timeout=2,
                    compression=None,
                    max_size=None,
                )
            self._control.send(json.dumps({"op": op, **args}))
            return json.loads(self._control.recv(timeout=TIMEOUT * 3))

    def stats(self) -> dict:
        return self.control("stats")

    def outcome(self, tag: str, timeout: float = TIMEOUT) -> dict:
        """What the /sink or /flood handler for ``tag`` saw, once it returned."""
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.control("outcome", tag=tag)
            if outcome is not None:
                return outcome
            if time.monotonic() > deadline:
                raise AssertionError(f"no outcome for {tag!r} after {timeout} s")
            time.sleep(0.02)

    def wait_idle(
        self, *, fds: int | None = None, allow: int = 0, timeout: float = TIMEOUT
    ) -> dict:
        """Wait until no connection and no handler is left but the control connection and
        ``allow`` others (a canary's), and, given ``fds``, until the fd count is back to it;
        return the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            idle = stats["connections"] <= allow and stats["handlers"] <= allow
            if idle and (fds is None or self.fd_count() <= fds):
                return stats
            if time.monotonic() > deadline:
                stats["fd_count_now"] = self.fd_count()
                raise AssertionError(f"server not idle after {timeout} s: {stats}")
            time.sleep(0.05)

    def settle(self) -> dict:
        """Collect garbage and give freed memory back (malloc_trim); return ``rss_kib`` and
        ``blocks`` (``sys.getallocatedblocks()``) then."""
        return self.control("gc")

    def settled_rss_kib(self) -> int:
        return self.settle()["rss_kib"]

    # Stopping.

    def stop(self) -> None:
        if self._control is not None:
            with contextlib.suppress(Exception):
                self._control.close()
            self._control = None
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.stdout.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


# Frames and handshakes by hand -----------------------------------------------------------


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = True,
    length: int | None = None,
) -> bytes:
    """A frame as a client sends it (tests/wire.py), with a random key unless ``mask`` is
    false; ``length`` overrides the length in the header (the payload then is whatever is
    given, possibly less)."""
    key = os.urandom(4) if mask else None
    return raw_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=key, length=length)


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(CLOSE, payload)


def parse_frames(data: bytes) -> tuple[list[tuple[int, bool, bytes]], int]:
    """(frames as (opcode, fin, payload), bytes consumed) for the complete frames in
    ``data``, as a server sends them (unmasked)."""
    frames = []
    i = 0
    while i + 2 <= len(data):
        fin = bool(data[i] & 0x80)
        opcode = data[i] & 0x0F
        length = data[i + 1] & 0x7F
        j = i + 2
        if length == 126:
            if j + 2 > len(data):
                break
            length = struct.unpack("!H", data[j : j + 2])[0]
            j += 2
        elif length == 127:
            if j + 8 > len(data):
                break
            length = struct.unpack("!Q", data[j : j + 8])[0]
            j += 8
        if j + length > len(data):
            break
        frames.append((opcode, fin, bytes(data[j : j + length])))
        i = j + length
    return frames, i


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def request_bytes(
    path: str = "/sink",
    *,
    deflate: bool = False,
    extra_headers: str = "",
    key: str | None = None,
) -> bytes:
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:
        # No context takeover either way: each message inflates on its own.
        lines.append(
            "Sec-WebSocket-Extensions: permessage-deflate; "
            "client_no_context_takeover; server_no_context_takeover"
        )
    return ("\r\n".join(lines) + "\r\n" + extra_headers + "\r\n").encode()


def connect_tcp(port: int, timeout: float = TIMEOUT) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock: socket.socket, timeout: float = TIMEOUT) -> tuple[int, dict, bytes]:
    """Read an HTTP response head: (status, headers with lowercase names, bytes after it)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no complete response head in {timeout} s: {data!r:.300}")
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed before a response head: {data!r:.300}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def open_raw(
    port: int, path: str = "/sink", *, deflate: bool = False
) -> tuple[socket.socket, bytes]:
    """A raw TCP connection past the opening handshake: (socket, bytes after the 101)."""
    sock = connect_tcp(port)
    try:
        sock.sendall(request_bytes(path, deflate=deflate))
        status, headers, rest = read_response(sock)
        assert status == 101, (status, headers)
        if deflate:
            assert "permessage-deflate" in headers.get("sec-websocket-extensions", ""), headers
    except BaseException:
        sock.close()
        raise
    return sock, rest


def read_all(
    sock: socket.socket, initial: bytes = b"", timeout: float = TIMEOUT
) -> tuple[bytes, bool]:
    """Read until the server closes the TCP connection (EOF or RST) or ``timeout`` elapses:
    (the bytes, whether the connection closed)."""
    data = bytearray(initial)
    closed = False
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return bytes(data), closed


def read_until_closed(
    sock: socket.socket, initial: bytes = b"", timeout: float = TIMEOUT
) -> tuple[list[tuple[int, bool, bytes]], bool, bytes]:
    """:func:`read_all`, as (frames received, whether the connection closed, bytes after
    the last complete frame)."""
    data, closed = read_all(sock, initial, timeout)
    frames, consumed = parse_frames(data)
    return frames, closed, data[consumed:]


def received_close_code(frames) -> int | None:
    """The code of the first close frame among ``frames``, 1005 for an empty one."""
    for opcode, _fin, payload in frames:
        if opcode == CLOSE:
            return close_code(payload) or 1005
    return None


def close_reason(frames) -> str | None:
    for opcode, _fin, payload in frames:
        if opcode == CLOSE:
            return payload[2:].decode(errors="replace")
    return None


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST rather than a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def deflate_payload(data_chunks, *, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    """A permessage-deflate payload (RFC 7692 §7.2.1: raw DEFLATE, sync flush, the final
    ``00 00 ff ff`` removed) of the concatenation of ``data_chunks``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, strategy)
    parts = [compressor.compress(chunk) for chunk in data_chunks]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    payload = b"".join(parts)
    assert payload.endswith(b"\x00\x00\xff\xff")
    return payload[:-4]


_BOMBS: dict[int, bytes] = {}


def zeros_bomb(inflated_size: int) -> bytes:
    """A compressed payload that inflates to ``inflated_size`` zero bytes (cached)."""
    if inflated_size not in _BOMBS:
        block = bytes(1 << 20)
        full, rest = divmod(inflated_size, len(block))
        chunks = [block] * full + ([bytes(rest)] if rest else [])
        # Run-length matches only: as small as the default strategy on zeros, 2.5x faster.
        _BOMBS[inflated_size] = deflate_payload(chunks, strategy=zlib.Z_RLE)
    return _BOMBS[inflated_size]


# A well-behaved client meanwhile ---------------------------------------------------------


class Canary:
    """Echo round trips against ``/echo`` in a thread until :meth:`stop`; a fresh connection
    every ``reconnect_every`` round trips, so that new handshakes are exercised too."""

    def __init__(self, server: ServerProcess, *, reconnect_every: int = 50, pause: float = 0.01):
        self.server = server
        self.reconnect_every = reconnect_every
        self.pause = pause
        self.round_trips = 0
        self.connections = 0
        self.errors: list[str] = []
        self.max_latency = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary", daemon=True)

    def __enter__(self) -> Canary:  # noqa: PYI034 - not subclassed
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with ws_connect(
                    self.server.uri("/echo"), open_timeout=TIMEOUT, close_timeout=TIMEOUT
                ) as ws:
                    self.connections += 1
                    for i in range(self.reconnect_every):
                        if self._stop.is_set():
                            break
                        message = f"canary {self.round_trips} {i}"
                        start = time.monotonic()
                        ws.send(message)
                        reply = ws.recv(timeout=TIMEOUT)
                        self.max_latency = max(self.max_latency, time.monotonic() - start)
                        if reply != message:
                            self.errors.append(f"echo mismatch: {reply!r} != {message!r}")
                            return
                        self.round_trips += 1
                        self._stop.wait(self.pause)
            except Exception as exc:  # noqa: BLE001 - reported by check()
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return

    def wait_round_trips(self, more: int = 1, timeout: float = TIMEOUT) -> None:
        """Wait until ``more`` round trips complete from now (or the canary fails)."""
        target = self.round_trips + more
        deadline = time.monotonic() + timeout
        while self.round_trips < target and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"canary made no round trip in {timeout} s")
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT * 2)

    def check(self, *, min_round_trips: int = 1, max_latency: float = 5.0) -> None:
        """The canary ran, never failed and was never stalled for ``max_latency`` s."""
        self.stop()
        assert not self._thread.is_alive(), "canary stuck"
        assert not self.errors, self.errors
        assert self.round_trips >= min_round_trips, (
            f"only {self.round_trips} round trips in the meantime"
        )
        assert self.max_latency < max_latency, f"canary stalled {self.max_latency:.2f} s"


def echo_once(server: ServerProcess, message: str = "still there?") -> None:
    """A fresh well-behaved connection that gets its echo: the server is up and serving."""
    with ws_connect(server.uri("/echo"), open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message
