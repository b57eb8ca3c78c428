"""The ceiling of a threading ``recv()``: how fast any websockets.sync-compatible client could
echo, measured beside the real ones.

The server is wsfast's asyncio echo server in its own process; client and server are pinned to
one CPU (CPU per round trip, as ``bench.echo --pin same``). 256 B binary messages, one at a time:

- ``raw-thread``: a client with the shape of the threading API and no WebSocket work: a
  reading thread that ``recv_into()``s the socket and hands each read to the caller under a
  mutex, waking it with a lock, as a threading connection must; the caller ``sendall()``s a
  frame built (and masked) once, ahead of time. This is the floor of the API's shape.
- ``wsfast.sync``, ``wsfast-python.sync`` (``WSFAST_NO_EXTENSIONS=1``), ``websockets.sync``:
  ``connect()`` then ``send()``/``recv()``, compression off.

What wsfast.sync loses against ``raw-thread`` bounds what compiling the threading layer could
win: the rest is the threads' hand-off, which no implementation avoids.

Usage: ``python -m bench.thread_ceiling [--repeats 5] [--count 20000]``. Each client runs in
its own process; medians of interleaved repeats, every repeat bounded by ``--count`` round
trips and a 60 s timeout.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

HOST = "127.0.0.1"
SIZE = 256
CPU = 0
TIMEOUT = 60.0

DEFAULT_LIBS = "raw-thread,wsfast.sync,wsfast-python.sync,websockets.sync"

SERVER = """
import asyncio, sys
from wsfast.asyncio.server import serve

async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)

async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def raw_thread_round_trip(port: int) -> Callable[[], None]:
    """A threading client without WebSocket work: see the module docstring."""
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response.split(b"\r\n", 1)[0].decode())

    received: collections.deque[int] = collections.deque()
    mutex = threading.Lock()
    waiter: list[threading.Lock | None] = [None]

    def read() -> None:
        buffer = bytearray(65536)
        while True:
            nbytes = sock.recv_into(buffer)
            if nbytes == 0:
                return
            with mutex:
                received.append(nbytes)
                lock = waiter[0]
                if lock is not None:
                    waiter[0] = None
                    lock.release()

    threading.Thread(target=read, daemon=True).start()
    # A masked binary frame (RFC 6455 §5.2): 0x82, the 16-bit length form, a zero key.
    frame = bytes([0x82, 0x80 | 126]) + SIZE.to_bytes(2, "big") + bytes(4) + bytes(SIZE)
    expected = 4 + SIZE  # the server's unmasked reply

    def round_trip() -> None:
        sock.sendall(frame)
        got = 0
        while got < expected:
            with mutex:
                if received:
                    got += received.popleft()
                    continue
                lock = waiter[0] = threading.Lock()
                lock.acquire()
            lock.acquire()

    return round_trip


def api_round_trip(lib: str, port: int) -> Callable[[], None]:
    if lib.startswith("websockets"):
        from websockets.sync.client import connect
    else:
        from wsfast.sync.client import connect  # type: ignore[assignment]
    websocket = connect(f"ws://{HOST}:{port}", compression=None)
    message = bytes(SIZE)

    def round_trip() -> None:
        websocket.send(message)
        websocket.recv()

    return round_trip


def client(lib: str, port: int, count: int) -> float:
    """Round trips per second of ``count`` round trips after a warm-up (in this process)."""
    os.sched_setaffinity(0, {CPU})
    round_trip = raw_thread_round_trip(port) if lib == "raw-thread" else api_round_trip(lib, port)
    for _ in range(min(2000, count)):
        round_trip()
    started = time.perf_counter()
    done = 0
    while done < count and time.perf_counter() - started < TIMEOUT:
        round_trip()
        done += 1
    return done / (time.perf_counter() - started)


def run_client(lib: str, port: int, count: int) -> float:
    env = dict(os.environ)
    if lib == "wsfast-python.sync":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.thread_ceiling", "--client", lib, "--port", str(port),
         "--count", str(count)],
        env=env, capture_output=True, text=True, timeout=TIMEOUT + 30, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{lib} failed: {completed.stderr.strip()[-2000:]}")
    return float(json.loads(completed.stdout)["rate"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libs", default=DEFAULT_LIBS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        print(json.dumps({"rate": client(args.client, args.port, args.count)}))
        return 0
    if not hasattr(os, "sched_setaffinity"):
        parser.error("needs os.sched_setaffinity (Linux) to pin both processes to one CPU")

    libs = [lib for lib in args.libs.split(",") if lib]
    server = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{CPU}}})\n{SERVER}"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        rates: dict[str, list[float]] = {lib: [] for lib in libs}
        for repeat in range(args.repeats):
            for lib in libs:
                rates[lib].append(run_client(lib, port, args.count))
                print(f"[{repeat + 1}/{args.repeats}] {lib}: {rates[lib][-1]:,.0f}/s",
                      file=sys.stderr, flush=True)
    finally:
        server.kill()
        server.wait()

    floor = statistics.median(rates["raw-thread"]) if "raw-thread" in rates else None
    print(f"\n256 B echo round trips/s, threading clients, one CPU; median of {args.repeats}")
    for lib in libs:
        median = statistics.median(rates[lib])
        share = f"  {median / floor:.2f}x raw-thread" if floor and lib != "raw-thread" else ""
        spread = f"{min(rates[lib]):,.0f}-{max(rates[lib]):,.0f}"
        print(f"  {lib:<20} {median:>9,.0f}  ({spread}){share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
