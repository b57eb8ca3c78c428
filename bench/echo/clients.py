"""Clients, one per library. Run as a child process by ``bench.echo.run``:

    python -m bench.echo.clients LIB LOOP PORT SIZE DURATION [--warmup S] [--mode echo|stream]
                                 [--kind binary|text] [--compression] [--cpus LIST]

connects to the server of the same library (``--mode`` must match the server's) and measures
for WARMUP seconds untimed, then for DURATION seconds timed:

* ``echo``: send one message of SIZE bytes, await its echo, repeat. The rate is round trips
  per second.
* ``stream``: send a batch of messages back to back (as many as fit in STREAM_BATCH_BYTES,
  at most STREAM_BATCH_MESSAGES), then an empty message, and await the server's count; repeat.
  The rate is messages per second delivered to the server, acknowledgements included in the
  time.

Prints one JSON line: count, elapsed seconds, rate, bytes per second, client CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import faulthandler
import importlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from .common import (
    HOST,
    KINDS,
    LIBS,
    LOOPS,
    MODES,
    RAW_LIBS,
    SYNC_CLIENTS,
    TLS_LIBS,
    WEBSOCKETS_API,
    LengthPrefixedProtocol,
    client_tls_context,
    length_prefix,
    loop_name,
    payloads_of_size,
    pin_to,
    run_on_loop,
)

CLOSE_TIMEOUT = 5.0

#: stream mode: a batch is at most this many bytes and this many messages.
STREAM_BATCH_BYTES = 4 * 1024 * 1024
STREAM_BATCH_MESSAGES = 1000

#: The client's TLS context with --tls (wss://), else None.
_tls_context: Any = None


class Conn(NamedTuple):
    """One open connection: send(message), recv() -> message, close()."""

    send: Callable[[Any], Awaitable[None]]
    recv: Callable[[], Awaitable[Any]]
    close: Callable[[], Awaitable[None]]
    #: send then recv, where a library has a shorter way than the two awaits
    round_trip: Callable[[Any], Awaitable[Any]] | None = None


class _Inbox:
    """Messages delivered by callbacks, handed to ``recv()`` in order."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.messages: collections.deque[Any] = collections.deque()
        self.waiter: asyncio.Future[Any] | None = None
        self.error: Exception | None = None

    def put(self, message: Any) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        else:
            self.messages.append(message)

    def fail(self, exc: Exception) -> None:
        self.error = exc
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def get(self) -> Any:
        if self.messages:
            return self.messages.popleft()
        if self.error is not None:
            raise self.error
        self.waiter = waiter = self.loop.create_future()
        return await waiter


# --- raw ---------------------------------------------------------------------------------------


class _RawClient(LengthPrefixedProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.inbox = _Inbox()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def message_received(self, view: memoryview, start: int, length: int) -> None:
        self.inbox.put(bytes(view[start : start + length]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.inbox.fail(ConnectionError(f"connection lost: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)


async def _open_raw(port: int, kind: str, compression: bool, max_size: int) -> Conn:
    # raw has no message types: text payloads arrive here already encoded (see measure()).
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(
        _RawClient, HOST, port, ssl=_tls_context
    )
    write, inbox = transport.write, protocol.inbox

    async def send(payload: bytes) -> None:
        write(length_prefix(len(payload)) + payload)

    async def round_trip(payload: bytes) -> bytes:
        inbox.waiter = waiter = loop.create_future()
        write(length_prefix(len(payload)) + payload)
        return await waiter

    async def close() -> None:
        transport.close()
        await protocol.lost

    return Conn(send, inbox.get, close, round_trip)


# --- websockets-compatible APIs (websockets, picows.websockets, wsfast) --------------------


async def _open_websockets_api(lib: str, port: int, kind: str, compression: bool, max_size: int) -> Conn:
    connect = importlib.import_module(WEBSOCKETS_API[lib][0]).connect
    options: dict[str, Any] = {} if _tls_context is None else {"ssl": _tls_context}
    ws = await connect(
        f"{'ws' if _tls_context is None else 'wss'}://{HOST}:{port}/",
        compression="deflate" if compression else None,
        max_size=max_size,
        **options,
    )
    send, recv = ws.send, ws.recv

    async def round_trip(payload: Any) -> Any:
        await send(payload)
        return await recv()

    return Conn(send, recv, ws.close, round_trip)


# --- aiohttp ---------------------------------------------------------------------------------


async def _open_aiohttp(port: int, kind: str, compression: bool, max_size: int) -> Conn:
    import aiohttp

    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(
            f"{'ws' if _tls_context is None else 'wss'}://{HOST}:{port}/",
            compress=15 if compression else 0,
            max_msg_size=max_size,
            ssl=_tls_context if _tls_context is not None else True,
        )
    except BaseException:
        await session.close()
        raise
    send = ws.send_str if kind == "text" else ws.send_bytes
    receive = ws.receive
    data_types = (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)

    async def recv() -> Any:
        msg = await receive()
        if msg.type not in data_types:
            raise RuntimeError(f"unexpected message {msg!r}")
        return msg.data

    async def round_trip(payload: Any) -> Any:
        await send(payload)
        return await recv()

    async def close() -> None:
        try:
            await ws.close()
        finally:
            await session.close()

    return Conn(send, recv, close, round_trip)


# --- picows (native callback API) ----------------------------------------------------------


async def _open_picows(port: int, kind: str, compression: bool, max_size: int) -> Conn:
    from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

    if compression:
        raise RuntimeError("picows' callback API has no permessage-deflate")
    loop = asyncio.get_running_loop()
    binary, text, close_type = WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CLOSE
    inbox = _Inbox()

    class Client(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            # The frame is only valid during this callback: copy (or decode) the payload out.
            if frame.msg_type == binary:
                inbox.put(frame.get_payload_as_bytes())
            elif frame.msg_type == text:
                inbox.put(frame.get_payload_as_utf8_text())
            elif frame.msg_type == close_type:
                inbox.fail(ConnectionError("closed by the server"))
            else:
                inbox.fail(RuntimeError(f"unexpected frame {frame}"))

        def on_ws_disconnected(self, transport: Any) -> None:
            inbox.fail(ConnectionError("disconnected"))

    transport, listener = await ws_connect(Client, f"ws://{HOST}:{port}/", max_frame_size=max_size)
    transport_send = transport.send
    msg_type = text if kind == "text" else binary

    async def send(payload: Any) -> None:
        transport_send(msg_type, payload)  # str is sent as its UTF-8 encoding

    async def round_trip(payload: Any) -> Any:
        inbox.waiter = waiter = loop.create_future()
        transport_send(msg_type, payload)
        return await waiter

    async def close() -> None:
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()
        await transport.wait_disconnected()

    return Conn(send, inbox.get, close, round_trip)


# --- threading clients (websockets.sync, websocket-client, wsfast.sync) --------------------
#
# They block: each call runs inside a coroutine that never yields, on a loop where nothing
# else runs, so that one measuring loop serves every library.


async def _open_sync(lib: str, port: int, kind: str, compression: bool, max_size: int) -> Conn:
    uri = f"ws://{HOST}:{port}/"
    if lib == "websocket-client":
        import websocket

        if compression:
            raise RuntimeError("websocket-client has no permessage-deflate")
        ws = websocket.create_connection(uri, timeout=CLOSE_TIMEOUT * 4)
        # send() sends str as text; send_binary() sends bytes as binary.
        send_message = ws.send if kind == "text" else ws.send_binary
        recv_message = ws.recv
    else:
        connect = importlib.import_module(SYNC_CLIENTS[lib]).connect
        ws = connect(uri, compression="deflate" if compression else None, max_size=max_size)
        ws.__enter__()  # websockets 17 warns when connect() isn't used with "with"
        send_message, recv_message = ws.send, ws.recv

    async def send(payload: Any) -> None:
        send_message(payload)

    async def recv() -> Any:
        return recv_message()

    async def round_trip(payload: Any) -> Any:
        send_message(payload)
        return recv_message()

    async def close() -> None:
        ws.close()

    return Conn(send, recv, close, round_trip)


# --- measurement -----------------------------------------------------------------------------


async def _open(lib: str, port: int, kind: str, compression: bool, max_size: int) -> Conn:
    if lib in RAW_LIBS:
        return await _open_raw(port, kind, compression, max_size)
    if lib == "aiohttp":
        return await _open_aiohttp(port, kind, compression, max_size)
    if lib == "picows":
        return await _open_picows(port, kind, compression, max_size)
    if lib in SYNC_CLIENTS:
        return await _open_sync(lib, port, kind, compression, max_size)
    return await _open_websockets_api(lib, port, kind, compression, max_size)


def stream_batch(size: int) -> int:
    """How many messages of ``size`` bytes one batch of the stream mode sends."""
    return max(1, min(STREAM_BATCH_MESSAGES, STREAM_BATCH_BYTES // size))


async def _measure_echo(
    conn: Conn, payloads: list[Any], duration: float, warmup: float
) -> tuple[int, float, float]:
    round_trip = conn.round_trip
    if round_trip is None:  # pragma: no cover - every library has one
        send, recv = conn.send, conn.recv

        async def round_trip(payload: Any) -> Any:
            await send(payload)
            return await recv()

    distinct = len(payloads)
    for payload in payloads[:2]:
        reply = await round_trip(payload)
        if reply != payload:
            raise AssertionError(f"echo differs from the message ({len(reply)}/{len(payload)})")

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
    return count, now - t0, cpu


async def _measure_stream(
    conn: Conn, payloads: list[Any], size: int, duration: float, warmup: float
) -> tuple[int, float, float]:
    send, recv = conn.send, conn.recv
    distinct = len(payloads)
    batch = stream_batch(size)
    marker = payloads[0][:0]  # an empty message of the same type

    async def one_batch(first: int) -> None:
        for index in range(first, first + batch):
            await send(payloads[index % distinct])
        await send(marker)
        ack = await recv()
        if int(ack) != batch:
            raise AssertionError(f"server counted {ack!r} messages, not {batch}")

    clock = time.perf_counter
    sent = 0
    await one_batch(sent)  # also checks the count
    sent += batch
    end = clock() + warmup
    while clock() < end:
        await one_batch(sent)
        sent += batch

    count = 0
    cpu0 = time.process_time()
    t0 = clock()
    deadline = t0 + duration
    while True:
        await one_batch(sent)
        sent += batch
        count += batch
        now = clock()
        if now >= deadline:
            break
    return count, now - t0, time.process_time() - cpu0


async def measure(
    lib: str,
    loop: str,
    port: int,
    size: int,
    duration: float,
    warmup: float,
    compression: bool,
    max_size: int,
    mode: str = "echo",
    kind: str = "binary",
) -> dict[str, Any]:
    payloads = payloads_of_size(size, compression, kind)
    if lib in RAW_LIBS and kind == "text":
        payloads = [payload.encode() for payload in payloads]
    conn = await _open(lib, port, kind, compression, max_size)
    try:
        if mode == "echo":
            count, elapsed, cpu = await _measure_echo(conn, payloads, duration, warmup)
        else:
            count, elapsed, cpu = await _measure_stream(conn, payloads, size, duration, warmup)
    finally:
        try:
            await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a failed close doesn't void the measurement
            print(f"close failed: {exc!r}", file=sys.stderr)
    result = {
        "lib": lib,
        "loop": loop,
        "loop_class": loop_name(asyncio.get_running_loop()),
        "mode": mode,
        "kind": kind,
        "size": size,
        "count": count,
        "elapsed": elapsed,
        "rate": count / elapsed,
        "bytes_per_s": count * size / elapsed,
        "client_cpu": cpu,
        "client_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    if mode == "echo":
        result["round_trips"] = count
    else:
        result["batch"] = stream_batch(size)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo.clients")
    parser.add_argument("lib", choices=LIBS)
    parser.add_argument("loop", choices=LOOPS)
    parser.add_argument("port", type=int)
    parser.add_argument("size", type=int)
    parser.add_argument("duration", type=float)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--mode", choices=MODES, default="echo")
    parser.add_argument("--kind", choices=KINDS, default="binary")
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--cpus", type=str, default="", help="pin to these CPUs (Linux)")
    parser.add_argument("--tls", metavar="DIR", default="", help="wss://: trust ca.pem in DIR")
    args = parser.parse_args(argv)
    pin_to(args.cpus)
    if args.tls:
        if args.lib not in TLS_LIBS:
            parser.error(f"{args.lib} has no TLS client here")
        global _tls_context
        _tls_context = client_tls_context(args.tls)
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
            args.mode,
            args.kind,
        ),
        args.loop,
    )
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
