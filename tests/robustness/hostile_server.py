"""A wsfast server in a process of its own, for tests/robustness/test_hostile_peers.py.

Run as ``python tests/robustness/hostile_server.py asyncio|sync``; set ``WSFAST_NO_EXTENSIONS=1`` in its
environment for the pure-Python implementation. It binds 127.0.0.1 only, on ephemeral ports,
prints one JSON line on stdout (``ports``, ``pid``, ``implementation``) once it listens, and
serves until its stdin reaches EOF (the test's process went away or closed the pipe); then it
closes its servers and exits. Nothing here waits without a time limit except that EOF.

Two servers share the process (the same event loop, or the same threads):

* ``main``: ``open_timeout`` 10 s, ``max_size`` 1 MiB (the default), ``write_limit`` 32 KiB
  (the default), ``close_timeout`` 1 s, keepalive off (so that no ping interferes);
* ``slow``: the same, with ``open_timeout`` ``OPEN_TIMEOUT`` (0.5 s), for slowloris peers.

What a connection does depends on its request path:

* ``/echo``: send every message back;
* ``/sink?tag=T``: receive until the connection closes, then record an *outcome* for T: the
  exception that ended ``recv()``, the close codes received and sent, the message count;
* ``/flood?tag=T&size=N&count=M[&timeout=S]``: send up to M binary messages of N bytes, as
  fast as ``send`` lets it, recording progress under T; with ``timeout``, a ``send`` that
  takes longer than S seconds ends the flood and the handler closes the connection (asyncio
  only: the threading layer has no way to bound a ``send``); the outcome says how it ended;
* ``/control``: a JSON request/response channel for the test (one text message each way):
  ``{"op": "stats"}`` (connections and handlers not counting this one, fds, RSS, outcomes),
  ``{"op": "outcome", "tag": T}`` (once it's there, then it's forgotten),
  ``{"op": "progress", "tag": T}``, ``{"op": "gc"}``
  (``gc.collect()`` then glibc's ``malloc_trim(0)``, so that RSS reflects live memory rather
  than what the allocator keeps cached; returns RSS and ``sys.getallocatedblocks()``, the
  number of memory blocks Python's allocator has handed out and not got back),
  ``{"op": "trace_start"}`` / ``{"op": "trace_stop"}``
  (tracemalloc: bytes allocated since the start and still alive after a collection, with the
  largest allocation sites).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import os
import sys
import threading
import time
import tracemalloc
import urllib.parse

import wsfast
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
)

OPEN_TIMEOUT = 0.5
CLOSE_TIMEOUT = 1.0
COMMON = {"max_size": 2**20, "ping_interval": None, "close_timeout": CLOSE_TIMEOUT}

_lock = threading.Lock()
outcomes: dict[str, dict] = {}
progress: dict[str, dict] = {}
errors: list[str] = []  # ERROR log records, which the tests expect none of


class _ErrorRecorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        with _lock:
            if len(errors) < 20:
                errors.append(f"{record.name}: {record.getMessage()}")


logging.basicConfig(
    level=logging.WARNING, format="hostile_server %(levelname)s %(name)s: %(message)s"
)
logging.getLogger().addHandler(_ErrorRecorder(logging.ERROR))

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _malloc_trim = _libc.malloc_trim
except (OSError, AttributeError):  # not glibc
    _malloc_trim = None


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def collect() -> None:
    for _ in range(3):
        gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


def parse_path(path: str) -> tuple[str, dict[str, str]]:
    parsed = urllib.parse.urlsplit(path)
    return parsed.path, dict(urllib.parse.parse_qsl(parsed.query))


def close_codes(ws) -> dict:
    protocol = ws.protocol
    return {
        "state": protocol.state.name,
        "rcvd": None if protocol.close_rcvd is None else protocol.close_rcvd.code,
        "sent": None if protocol.close_sent is None else protocol.close_sent.code,
        "sent_reason": None if protocol.close_sent is None else protocol.close_sent.reason,
    }


def describe(exc: BaseException) -> dict:
    """What the test checks of the exception that ended a handler."""
    return {
        "exc": type(exc).__name__,
        "closed_error": isinstance(exc, ConnectionClosedError),
        "closed_ok": isinstance(exc, ConnectionClosedOK),
    }


def record(tag: str | None, **details) -> None:
    if tag is None:
        return
    with _lock:
        outcomes[tag] = details


def control_reply(request: dict, counts) -> str:
    op = request.get("op")
    if op == "stats":
        connections, handlers = counts()
        with _lock:
            n_outcomes = len(outcomes)
            error_logs = list(errors)
        reply = {
            # Not counting the control connection asking.
            "connections": connections - 1,
            "handlers": handlers - 1,
            "fds": fd_count(),
            "rss_kib": rss_kib(),
            "outcomes": n_outcomes,
            "implementation": wsfast.IMPLEMENTATION,
            "threads": threading.active_count(),
            "errors": error_logs,
        }
    elif op == "outcome":
        # Handed over once, then forgotten: the bookkeeping mustn't look like a leak.
        with _lock:
            reply = outcomes.pop(request["tag"], None)
            if reply is not None:
                progress.pop(request["tag"], None)
    elif op == "progress":
        with _lock:
            reply = dict(progress.get(request["tag"], {}))
    elif op == "gc":
        collect()
        reply = {"rss_kib": rss_kib(), "blocks": sys.getallocatedblocks()}
    elif op == "trace_start":
        collect()
        tracemalloc.start(int(request.get("frames", 1)))
        reply = {"tracing": True}
    elif op == "trace_stop":
        collect()
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        top = [str(stat) for stat in snapshot.statistics("lineno")[:8]]
        reply = {"current": current, "peak": peak, "top": top}
    else:
        reply = {"error": f"unknown op {op!r}"}
    return json.dumps(reply)


# asyncio -------------------------------------------------------------------------------


async def asyncio_main() -> None:
    from wsfast.asyncio.server import serve

    servers = []

    def counts():
        connections = sum(len(server.connections) for server in servers)
        handlers = sum(len(server.handlers) for server in servers)
        return connections, handlers

    async def handler(ws):
        path, query = parse_path(ws.request.path)
        tag = query.get("tag")
        if path == "/echo":
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    await ws.send(message)
        elif path == "/control":
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    await ws.send(control_reply(json.loads(message), counts))
        elif path == "/sink":
            count = 0
            try:
                while True:
                    await ws.recv()
                    count += 1
            except ConnectionClosed as exc:
                record(tag, **describe(exc), messages=count, **close_codes(ws))
            except Exception as exc:
                record(tag, **describe(exc), messages=count, **close_codes(ws))
                raise
        elif path == "/flood":
            size, count = int(query["size"]), int(query["count"])
            timeout = float(query["timeout"]) if "timeout" in query else None
            payload = b"\x00" * size
            state = {"messages_sent": 0, "longest_send": 0.0}
            with _lock:
                progress[tag] = state
            how = {"exc": "completed"}
            try:
                for _ in range(count):
                    start = time.monotonic()
                    if timeout is None:
                        await ws.send(payload)
                    else:
                        await asyncio.wait_for(ws.send(payload), timeout)
                    elapsed = time.monotonic() - start
                    with _lock:
                        state["messages_sent"] += 1
                        state["longest_send"] = max(state["longest_send"], elapsed)
            except asyncio.TimeoutError:
                how = {"exc": "send timed out"}
                start = time.monotonic()
                await ws.close()
                how["close_duration"] = time.monotonic() - start
            except ConnectionClosed as exc:
                how = describe(exc)
            record(tag, **how, **state, **close_codes(ws))
        else:
            await ws.close(4404, "unknown path")

    main = await serve(handler, "127.0.0.1", 0, **COMMON)
    servers.append(main)
    slow = await serve(handler, "127.0.0.1", 0, open_timeout=OPEN_TIMEOUT, **COMMON)
    servers.append(slow)
    announce(main.sockets[0].getsockname()[1], slow.sockets[0].getsockname()[1])

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    for server in servers:
        server.close()
    await asyncio.wait([asyncio.ensure_future(s.wait_closed()) for s in servers], timeout=10)


# threading -----------------------------------------------------------------------------


def sync_main() -> None:
    from wsfast.sync.server import serve

    servers = []

    def counts():
        connections = sum(len(server.connections) for server in servers)
        handlers = 0
        for server in servers:
            with server.lock:
                handlers += len(server.handler_threads)
        return connections, handlers

    def handler(ws):
        path, query = parse_path(ws.request.path)
        tag = query.get("tag")
        if path == "/echo":
            with contextlib.suppress(ConnectionClosed):
                for message in ws:
                    ws.send(message)
        elif path == "/control":
            with contextlib.suppress(ConnectionClosed):
                for message in ws:
                    ws.send(control_reply(json.loads(message), counts))
        elif path == "/sink":
            count = 0
            try:
                while True:
                    ws.recv()
                    count += 1
            except ConnectionClosed as exc:
                record(tag, **describe(exc), messages=count, **close_codes(ws))
            except Exception as exc:
                record(tag, **describe(exc), messages=count, **close_codes(ws))
                raise
        elif path == "/flood":
            size, count = int(query["size"]), int(query["count"])
            payload = b"\x00" * size
            state = {"messages_sent": 0, "longest_send": 0.0}
            with _lock:
                progress[tag] = state
            how = {"exc": "completed"}
            try:
                for _ in range(count):
                    start = time.monotonic()
                    ws.send(payload)
                    elapsed = time.monotonic() - start
                    with _lock:
                        state["messages_sent"] += 1
                        state["longest_send"] = max(state["longest_send"], elapsed)
            except ConnectionClosed as exc:
                how = describe(exc)
            record(tag, **how, **state, **close_codes(ws))
        else:
            ws.close(4404, "unknown path")

    main = serve(handler, "127.0.0.1", 0, **COMMON)
    slow = serve(handler, "127.0.0.1", 0, open_timeout=OPEN_TIMEOUT, **COMMON)
    servers += [main, slow]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    announce(main.socket.getsockname()[1], slow.socket.getsockname()[1])
    sys.stdin.buffer.read()
    closers = [threading.Thread(target=s.shutdown, daemon=True) for s in servers]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(10)


def announce(main_port: int, slow_port: int) -> None:
    line = {
        "ports": {"main": main_port, "slow": slow_port},
        "pid": os.getpid(),
        "implementation": wsfast.IMPLEMENTATION,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "asyncio":
        asyncio.run(asyncio_main())
    elif kind == "sync":
        sync_main()
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    # Daemon threads may still hold connections; don't wait for them.
    sys.stdout.flush()
    os._exit(0)
