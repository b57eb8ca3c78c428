"""Memory of idle connections: how much one open, idle WebSocket connection costs a server.

    python bench/idle_connections.py [--connections 10000] [--lib wsfast|websockets]
                                     [--compression]

The server runs in this process; a child process opens the connections (raw sockets that
send a handshake request by hand, so the client side costs little) and keeps them idle.
Once all are open, the server's Python allocations (tracemalloc) and resident memory
(VmRSS) are compared with the figures before the first connection: the difference divided
by the number of connections is the cost of one idle connection, handshake included.
Keepalive is off, so that nothing happens on an idle connection.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import resource
import subprocess
import sys
import time
import tracemalloc


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")  # pragma: no cover


CLIENT = r"""
import base64, os, socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
sockets = []
for index in range(count):
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        + sys.argv[3] + "\r\n"
    ).encode())
    sockets.append(sock)
for sock in sockets:
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit("connection closed during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        sys.exit(f"handshake failed: {response[:100]!r}")
print("open", flush=True)
sys.stdin.readline()
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--lib", default="wsfast", choices=["wsfast", "websockets"])
    parser.add_argument("--compression", action="store_true")
    parser.add_argument(
        "--tracemalloc", action="store_true",
        help="also count Python allocations (tracemalloc inflates RSS, so RSS is then moot)",
    )
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.connections + 100
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))

    server_module = importlib.import_module(f"{args.lib}.asyncio.server")

    async def handler(connection) -> None:
        await connection.wait_closed()

    gc.collect()
    if args.tracemalloc:
        tracemalloc.start()
    server = await server_module.serve(
        handler,
        "127.0.0.1",
        0,
        compression="deflate" if args.compression else None,
        ping_interval=None,
        backlog=4096,
    )
    port = server.sockets[0].getsockname()[1]
    await asyncio.sleep(0.1)
    gc.collect()
    traced_before = tracemalloc.get_traced_memory()[0]
    rss_before = rss_bytes()

    extension = (
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        if args.compression else ""
    )
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port), str(args.connections), extension],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, child.stdout.readline), 300)
    if line.strip() != "open":
        raise SystemExit(f"client failed: {line!r}")
    # Let the last handshakes finish on the server side.
    deadline = time.monotonic() + 30
    while len(server.connections) < args.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)
    gc.collect()
    traced_after = tracemalloc.get_traced_memory()[0]
    rss_after = rss_bytes()
    open_connections = len(server.connections)

    per_traced = (traced_after - traced_before) / args.connections
    per_rss = (rss_after - rss_before) / args.connections
    print(f"library: {args.lib}  compression: {'deflate' if args.compression else 'off'}")
    print(f"connections open: {open_connections} of {args.connections} in {elapsed:.1f} s")
    if args.tracemalloc:
        print(f"per idle connection: {per_traced / 1024:.1f} KiB traced by tracemalloc")
    else:
        print(f"per idle connection: {per_rss / 1024:.1f} KiB of RSS "
              "(server process, handshake state included)")

    child.stdin.write("\n")
    child.stdin.flush()
    child.wait(timeout=60)
    server.close()
    await asyncio.wait_for(server.wait_closed(), 60)
    if args.tracemalloc:
        tracemalloc.stop()


if __name__ == "__main__":
    asyncio.run(main())
