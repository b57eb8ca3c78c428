"""Echo clients, one per library. Run as a child process by ``bench.echo.run``:

    python -m bench.echo.clients LIB LOOP PORT SIZE DURATION [--warmup S] [--compression]

connects to the server of the same library, sends one binary message of SIZE bytes, awaits
its echo, and repeats: for WARMUP seconds untimed, then for DURATION seconds timed. Prints
one JSON line: round trips, elapsed seconds, round trips per second, client CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import importlib
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .common import (
    HOST,
    LIBS,
    LOOPS,
    SYNC_CLIENTS,
    WEBSOCKETS_API,
    LengthPrefixedProtocol,
    length_prefix,
    loop_name,
    pin_to,
    run_on_loop,
)

RoundTrip = Callable[[bytes], Awaitable[bytes]]
Close = Callable[[], Awaitable[None]]

CLOSE_TIMEOUT = 5.0


#: With compression, consecutive messages differ over this many bytes, more than deflate's
#: 32 KiB window, so a message can't be sent as a back-reference to the previous one.
DISTINCT_SPAN = 64 * 1024


def payloads_of_size(size: int, compression: bool) -> list[bytes]:
    """Seeded random messages: one without compression, else enough to fill DISTINCT_SPAN."""
    rng = random.Random(6455 + size)
    count = 1 + (-(-DISTINCT_SPAN // size) if compression else 0)
    return [rng.randbytes(size) for _ in range(count)]


# --- raw -------------------------------------------------------------------------------------


class _RawClient(LengthPrefixedProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.waiter: asyncio.Future[bytes] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def message_received(self, view: memoryview, start: int, length: int) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            raise RuntimeError("unexpected message")
        waiter.set_result(bytes(view[start : start + length]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)


async def _open_raw(port: int, compression: bool, max_size: int) -> tuple[RoundTrip, Close]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(_RawClient, HOST, port)
    write = transport.write

    async def round_trip(payload: bytes) -> bytes:
        protocol.waiter = waiter = loop.create_future()
        write(length_prefix(len(payload)) + payload)
        return await waiter

    async def close() -> None:
        transport.close()
        await protocol.lost

    return round_trip, close


# --- websockets-compatible APIs (websockets, picows.websockets, wsfast) --------------------


async def _open_websockets_api(
    lib: str, port: int, compression: bool, max_size: int
) -> tuple[RoundTrip, Close]:
    connect = importlib.import_module(WEBSOCKETS_API[lib][0]).connect
    ws = await connect(
        f"ws://{HOST}:{port}/",
        compression="deflate" if compression else None,
        max_size=max_size,
    )
    send, recv = ws.send, ws.recv

    async def round_trip(payload: bytes) -> bytes:
        await send(payload)
        return await recv()

    return round_trip, ws.close


# --- aiohttp ---------------------------------------------------------------------------------


async def _open_aiohttp(port: int, compression: bool, max_size: int) -> tuple[RoundTrip, Close]:
    import aiohttp

    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(
            f"ws://{HOST}:{port}/", compress=15 if compression else 0, max_msg_size=max_size
        )
    except BaseException:
        await session.close()
        raise
    send_bytes, receive = ws.send_bytes, ws.receive
    binary = aiohttp.WSMsgType.BINARY

    async def round_trip(payload: bytes) -> bytes:
        await send_bytes(payload)
        msg = await receive()
        if msg.type != binary:
            raise RuntimeError(f"unexpected message {msg!r}")
        return msg.data

    async def close() -> None:
        try:
            await ws.close()
        finally:
            await session.close()

    return round_trip, close


# --- picows (native callback API) ----------------------------------------------------------


async def _open_picows(port: int, compression: bool, max_size: int) -> tuple[RoundTrip, Close]:
    from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

    if compression:
        raise RuntimeError("picows' callback API has no permessage-deflate")
    loop = asyncio.get_running_loop()
    binary, close_type = WSMsgType.BINARY, WSMsgType.CLOSE

    class Client(WSListener):
        waiter: asyncio.Future[bytes] | None = None

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            waiter, self.waiter = self.waiter, None
            if waiter is None or waiter.done():
                return
            if frame.msg_type == binary:
                # The frame is only valid during this callback: copy the payload out.
                waiter.set_result(frame.get_payload_as_bytes())
            elif frame.msg_type == close_type:
                waiter.set_exception(ConnectionError("closed by the server"))
            else:
                waiter.set_exception(RuntimeError(f"unexpected frame {frame}"))

        def on_ws_disconnected(self, transport: Any) -> None:
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError("disconnected"))

    transport, listener = await ws_connect(Client, f"ws://{HOST}:{port}/", max_frame_size=max_size)
    send = transport.send

    async def round_trip(payload: bytes) -> bytes:
        listener.waiter = waiter = loop.create_future()
        send(binary, payload)
        return await waiter

    async def close() -> None:
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()
        await transport.wait_disconnected()

    return round_trip, close


# --- threading clients (websockets.sync, websocket-client, wsfast.sync) --------------------
#
# They block: the round trip runs inside a coroutine that never yields, on a loop where
# nothing else runs, so that one measuring loop serves every library.


async def _open_sync(lib: str, port: int, compression: bool, max_size: int) -> tuple[RoundTrip, Close]:
    uri = f"ws://{HOST}:{port}/"
    if lib == "websocket-client":
        import websocket

        if compression:
            raise RuntimeError("websocket-client has no permessage-deflate")
        ws = websocket.create_connection(uri, timeout=CLOSE_TIMEOUT * 4)
        send_binary, recv = ws.send_binary, ws.recv
    else:
        connect = importlib.import_module(SYNC_CLIENTS[lib]).connect
        ws = connect(uri, compression="deflate" if compression else None, max_size=max_size)
        ws.__enter__()  # websockets 17 warns when connect() isn't used with "with"
        send_binary, recv = ws.send, ws.recv

    async def round_trip(payload: bytes) -> bytes:
        send_binary(payload)
        return recv()  # type: ignore[no-any-return]

    async def close() -> None:
        ws.close()

    return round_trip, close


# --- measurement -----------------------------------------------------------------------------


async def _open(lib: str, port: int, compression: bool, max_size: int) -> tuple[RoundTrip, Close]:
    if lib == "raw":
        return await _open_raw(port, compression, max_size)
    if lib == "aiohttp":
        return await _open_aiohttp(port, compression, max_size)
    if lib == "picows":
        return await _open_picows(port, compression, max_size)
    if lib in SYNC_CLIENTS:
        return await _open_sync(lib, port, compression, max_size)
    return await _open_websockets_api(lib, port, compression, max_size)


async def measure(
    lib: str,
    loop: str,
    port: int,
    size: int,
    duration: float,
    warmup: float,
    compression: bool,
    max_size: int,
) -> dict[str, Any]:
    payloads = payloads_of_size(size, compression)
    distinct = len(payloads)
    round_trip, close = await _open(lib, port, compression, max_size)
    try:
        for payload in payloads[:2]:
            reply = await round_trip(payload)
            if reply != payload:
                raise AssertionError(f"echo differs from the message ({len(reply)}/{size} B)")

        clock = time.perf_counter
        end = clock() + warmup
        count = 0
        while clock() < end:
            await round_trip(payloads[count % distinct])
            count += 1

        count = 0
        cpu0 = time.process_time()
        t0 = clock()
        deadline = t0 + duration
        while True:
            payload = payloads[count % distinct]
            reply = await round_trip(payload)
            count += 1
            now = clock()
            if now >= deadline:
                break
        cpu = time.process_time() - cpu0
        if reply != payload:
            raise AssertionError("last echo differs from the message")
    finally:
        try:
            await asyncio.wait_for(close(), CLOSE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a failed close doesn't void the measurement
            print(f"close failed: {exc!r}", file=sys.stderr)
    elapsed = now - t0
    return {
        "lib": lib,
        "loop": loop,
        "loop_class": loop_name(asyncio.get_running_loop()),
        "size": size,
        "round_trips": count,
        "elapsed": elapsed,
        "rate": count / elapsed,
        "client_cpu": cpu,
        "client_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo.clients")
    parser.add_argument("lib", choices=LIBS)
    parser.add_argument("loop", choices=LOOPS)
    parser.add_argument("port", type=int)
    parser.add_argument("size", type=int)
    parser.add_argument("duration", type=float)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--cpus", type=str, default="", help="pin to these CPUs (Linux)")
    args = parser.parse_args(argv)
    pin_to(args.cpus)
    # Bounded even if the parent's timeout fails: dump the stacks and exit.
    faulthandler.dump_traceback_later(args.warmup + args.duration + 60, exit=True)
    result = run_on_loop(
        measure(
            args.lib,
            args.loop,
            args.port,
            args.size,
            args.duration,
            args.warmup,
            args.compression,
            args.max_size,
        ),
        args.loop,
    )
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
