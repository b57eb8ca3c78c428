"""The ceiling of an awaitable ``recv()`` on asyncio: how fast any websockets-compatible API
could echo, measured beside the real libraries.

Both ends run in one process and one event loop (one CPU, no cross-CPU wake-ups), 256 B
messages, one at a time:

- ``raw``: a ``BufferedProtocol`` echo server answering inside ``buffer_updated()``; the client
  awaits a future per reply. No WebSocket, no application task on the server.
- ``raw-task``: the same, but each read goes through a future to an application task that
  writes the echo, as a handler running ``async for message in websocket`` must. No WebSocket
  work at all: this is the floor cost of the API's shape.
- ``raw+aiofastnet``, ``raw-task+aiofastnet``: the same over aiofastnet's transports (C reads
  and writes), which picows.websockets uses, and wsfast too when aiofastnet is installed.
- ``wsfast``, ``picows.websockets``, ``websockets``: ``serve()`` with an ``async for`` echo
  handler and ``connect()``, compression and keepalive off.

Usage: ``python -m bench.await_ceiling [--repeats 5] [--count 20000] [--loop uvloop]``.
Medians of interleaved repeats; every repeat is bounded by ``--count`` round trips and a 60 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import os
import statistics
import time
from typing import Any

from .echo.common import ThroughApplicationTask

HOST = "127.0.0.1"
SIZE = 256

APIS = {
    "wsfast": ("wsfast.asyncio.server", "wsfast.asyncio.client"),
    "picows.websockets": ("picows.websockets.asyncio.server", "picows.websockets.asyncio.client"),
    "websockets": ("websockets.asyncio.server", "websockets.asyncio.client"),
}


DEFAULT_LIBS = (
    "raw,raw-task,raw+aiofastnet,raw-task+aiofastnet,wsfast,picows.websockets,websockets"
)


class _Echo(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buffer = bytearray(65536)
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.transport.write(bytes(self.buffer[:nbytes]))


class _EchoThroughTask(ThroughApplicationTask, _Echo):
    """Each read is handed to an application task through a future, as recv() does."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.start_application()

    def buffer_updated(self, nbytes: int) -> None:
        self.deliver(bytes(self.buffer[:nbytes]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.deliver(None)


class _Client(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buffer = bytearray(65536)
        self.waiter: asyncio.Future[None] | None = None
        self.received = 0

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received += nbytes
        if self.received >= SIZE and self.waiter is not None and not self.waiter.done():
            self.received -= SIZE
            self.waiter.set_result(None)


async def _measure(name: str, count: int) -> float:
    loop = asyncio.get_running_loop()
    payload = os.urandom(SIZE)
    if name.startswith("raw"):
        kind, _, transports = name.partition("+")
        if transports == "aiofastnet":
            import aiofastnet

            create_server = functools.partial(aiofastnet.create_server, loop)
            create_connection = functools.partial(aiofastnet.create_connection, loop)
        else:
            create_server, create_connection = loop.create_server, loop.create_connection
        server = await create_server(_Echo if kind == "raw" else _EchoThroughTask, HOST, 0)
        transport, client = await create_connection(
            _Client, HOST, server.sockets[0].getsockname()[1]
        )

        async def round_trip() -> None:
            client.waiter = loop.create_future()
            transport.write(payload)
            await client.waiter

        async def close() -> None:
            transport.close()
            server.close()
    else:
        server_module, client_module = (importlib.import_module(m) for m in APIS[name])

        async def echo(websocket: Any) -> None:
            async for message in websocket:
                await websocket.send(message)

        options = {"compression": None, "ping_interval": None}
        server = await server_module.serve(echo, HOST, 0, **options)
        port = server.sockets[0].getsockname()[1]
        websocket = await client_module.connect(f"ws://{HOST}:{port}", **options)

        async def round_trip() -> None:
            await websocket.send(payload)
            await websocket.recv()

        async def close() -> None:
            await websocket.close()
            server.close()
            await server.wait_closed()

    for _ in range(min(1000, count)):
        await round_trip()
    start = time.perf_counter()
    for _ in range(count):
        await round_trip()
    elapsed = time.perf_counter() - start
    await close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.await_ceiling", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--libs", default=DEFAULT_LIBS)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        run = uvloop.run
    else:
        run = asyncio.run
    names = args.libs.split(",")
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:  # interleaved: drift of the machine hits every library alike
            rate = run(asyncio.wait_for(_measure(name, args.count), 60))
            results[name].append(rate)
    floor = next((name for name in ("raw-task+aiofastnet", "raw-task") if name in results), None)
    ceiling = statistics.median(results[floor]) if floor else None
    print(
        f"256 B echo on {args.loop}, both ends in one process, "
        f"medians of {args.repeats} interleaved repeats"
    )
    for name, rates in results.items():
        median = statistics.median(rates)
        spread = (max(rates) - min(rates)) / median * 100
        share = f"  {median / ceiling:5.2f}x {floor}" if ceiling else ""
        print(f"{name:20s} {median:9.0f} round trips/s  spread {spread:4.0f}%{share}")


if __name__ == "__main__":
    main()
