"""Echo servers, one per library. Run as a child process by ``bench.echo.run``:

    python -m bench.echo.servers LIB LOOP [--mode echo|stream] [--compression] [--max-size N]
                                 [--no-keepalive] [--cpus LIST]

binds 127.0.0.1 on a free port, prints the port on one line of stdout, then serves until
stdin is closed. In ``echo`` mode (the default) it sends every message back, text as text and
binary as binary. In ``stream`` mode it counts the messages it receives and answers each empty
message with the count since the previous one, as a text message (see common.MODES).
``--probe LIB`` only imports the library and prints a JSON line describing it (version,
codec), or exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import importlib
import json
import sys
from typing import Any

from .common import (
    HOST,
    LIBS,
    LOOPS,
    MODES,
    RAW_LIBS,
    SERVER_OF,
    SYNC_CLIENTS,
    TLS_LIBS,
    WEBSOCKETS_API,
    LengthPrefixedProtocol,
    ThroughApplicationTask,
    exit_when_parent_goes,
    length_prefix,
    pin_to,
    raise_fd_limit,
    run_on_loop,
    server_tls_context,
)

#: A server exits on its own after this long, whatever happens to the parent.
MAX_LIFETIME = 3600.0

_keep: list[Any] = []  # server objects, referenced until exit

#: The server's TLS context with --tls (wss://), else None.
_tls_context: Any = None


# --- raw -------------------------------------------------------------------------------------


class _RawEcho(LengthPrefixedProtocol):
    def message_received(self, view: memoryview, start: int, length: int) -> None:
        # One copy, prefix included; the buffer is reused by the next read.
        self.transport.write(bytes(view[start - 4 : start + length]))  # type: ignore[union-attr]


class _RawCount(LengthPrefixedProtocol):
    count = 0

    def message_received(self, view: memoryview, start: int, length: int) -> None:
        if length:
            bytes(view[start : start + length])  # the same one copy per message as the echo
            self.count += 1
        else:
            ack = str(self.count).encode()
            self.count = 0
            self.transport.write(length_prefix(len(ack)) + ack)  # type: ignore[union-attr]


class _RawEchoThroughTask(ThroughApplicationTask, LengthPrefixedProtocol):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.start_application()

    def message_received(self, view: memoryview, start: int, length: int) -> None:
        self.deliver(bytes(view[start - 4 : start + length]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.deliver(None)


async def _serve_raw(
    lib: str, mode: str, compression: bool, max_size: int, keepalive: bool
) -> int:
    loop = asyncio.get_running_loop()
    if mode != "echo":
        protocol: type[LengthPrefixedProtocol] = _RawCount
    elif lib == "raw-task":
        protocol = _RawEchoThroughTask
    else:
        protocol = _RawEcho
    server = await loop.create_server(protocol, HOST, 0, backlog=1024, ssl=_tls_context)
    _keep.append(server)
    return server.sockets[0].getsockname()[1]


# --- websockets-compatible APIs (websockets, picows.websockets, wsfast) --------------------


async def _serve_websockets_api(
    lib: str, mode: str, compression: bool, max_size: int, keepalive: bool
) -> int:
    serve = importlib.import_module(WEBSOCKETS_API[lib][1]).serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def count(ws: Any) -> None:
        received = 0
        async for message in ws:
            if message:
                received += 1
            else:
                await ws.send(str(received))
                received = 0

    options: dict[str, Any] = {}
    if not keepalive:
        options["ping_interval"] = None
    if _tls_context is not None:
        options["ssl"] = _tls_context
    server = await serve(
        echo if mode == "echo" else count,
        HOST,
        0,
        compression="deflate" if compression else None,
        max_size=max_size,
        backlog=1024,
        **options,
    )
    _keep.append(server)
    return server.sockets[0].getsockname()[1]


# --- aiohttp ---------------------------------------------------------------------------------


async def _serve_aiohttp(mode: str, compression: bool, max_size: int, keepalive: bool) -> int:
    from aiohttp import WSMsgType, web

    # aiohttp's server sends no heartbeat pings unless asked (heartbeat=None): keepalive off.
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compression, max_msg_size=max_size)
        await ws.prepare(request)
        received = 0
        async for msg in ws:
            if msg.type == WSMsgType.BINARY or msg.type == WSMsgType.TEXT:
                if mode == "stream":
                    if msg.data:
                        received += 1
                    else:
                        await ws.send_str(str(received))
                        received = 0
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                else:
                    await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024, ssl_context=_tls_context)
    await site.start()
    _keep.append(runner)
    return runner.addresses[0][1]


# --- picows (native callback API) ----------------------------------------------------------


async def _serve_picows(mode: str, compression: bool, max_size: int, keepalive: bool) -> int:
    from picows import WSListener, WSMsgType, ws_create_server

    if compression:
        raise RuntimeError("picows' callback API has no permessage-deflate")
    binary, text, close = WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CLOSE

    # picows sends no pings unless asked (enable_auto_ping=False): keepalive off.
    class Echo(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            msg_type = frame.msg_type
            if msg_type == binary:
                # Clients send every message as one frame; send() copies the payload.
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif msg_type == text:
                # Decoded, so that picows validates UTF-8 as the other libraries do.
                transport.send(msg_type, frame.get_payload_as_utf8_text(), frame.fin)
            elif msg_type == close:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    class Count(WSListener):
        received = 0

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            msg_type = frame.msg_type
            if msg_type == binary or msg_type == text:
                if frame.payload_size:
                    # Take the message out, as a receiver would.
                    if msg_type == text:
                        frame.get_payload_as_utf8_text()
                    else:
                        frame.get_payload_as_bytes()
                    self.received += 1
                else:
                    transport.send(text, str(self.received).encode())
                    self.received = 0
            elif msg_type == close:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    listener = Echo if mode == "echo" else Count
    server = await ws_create_server(
        lambda request: listener(), HOST, 0, max_frame_size=max_size, backlog=1024
    )
    _keep.append(server)
    return server.sockets[0].getsockname()[1]


# --- entry points ----------------------------------------------------------------------------


async def _main(
    lib: str, loop: str, mode: str, compression: bool, max_size: int, keepalive: bool
) -> None:
    if loop == "uvloop":
        import uvloop

        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    if lib in RAW_LIBS:
        port = await _serve_raw(lib, mode, compression, max_size, keepalive)
    elif lib == "aiohttp":
        port = await _serve_aiohttp(mode, compression, max_size, keepalive)
    elif lib == "picows":
        port = await _serve_picows(mode, compression, max_size, keepalive)
    else:
        port = await _serve_websockets_api(lib, mode, compression, max_size, keepalive)
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().create_future()  # until the parent closes stdin


def _wsfast_codec(lib: str) -> dict[str, Any]:
    """The codec wsfast runs with in this process; raise if it isn't the one ``lib`` names."""
    import wsfast.speedups

    codec = wsfast.speedups.IMPLEMENTATION
    wanted = "python" if lib.startswith("wsfast-python") else "cython"
    if codec != wanted:
        reason = wsfast.speedups.FALLBACK_REASON or "?"
        raise RuntimeError(f"wsfast codec is {codec!r}, not {wanted!r} ({reason})")
    return {"codec": codec, "version": getattr(wsfast, "__version__", "?")}


def probe(lib: str) -> dict[str, Any]:
    """Import what ``lib`` needs in this process; describe it or raise."""
    info: dict[str, Any] = {"lib": lib}
    if lib in RAW_LIBS:
        info["version"] = f"python {sys.version.split()[0]}"
    elif lib == "aiohttp":
        import aiohttp

        info["version"] = aiohttp.__version__
    elif lib == "picows":
        import picows

        info["version"] = picows.__version__
    elif lib in SYNC_CLIENTS:
        importlib.import_module(SYNC_CLIENTS[lib])
        if lib.startswith("wsfast"):
            info.update(_wsfast_codec(lib))
        else:
            package = importlib.import_module(SYNC_CLIENTS[lib].partition(".")[0])
            info["version"] = getattr(package, "__version__", "?")
        info["server"] = SERVER_OF[lib]
    else:
        for name in WEBSOCKETS_API[lib]:
            importlib.import_module(name)
        if lib.startswith("wsfast"):
            info.update(_wsfast_codec(lib))
        else:
            top = importlib.import_module(lib.partition(".")[0])
            info["version"] = getattr(top, "__version__", "?")
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo.servers")
    parser.add_argument("--probe", metavar="LIB", choices=LIBS)
    parser.add_argument("lib", nargs="?", choices=LIBS)
    parser.add_argument("loop", nargs="?", choices=LOOPS)
    parser.add_argument("--mode", choices=MODES, default="echo")
    parser.add_argument("--compression", action="store_true")
    parser.add_argument(
        "--no-keepalive",
        action="store_true",
        help="no keepalive pings (ping_interval=None); aiohttp and picows send none anyway",
    )
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--cpus", type=str, default="", help="pin to these CPUs (Linux)")
    parser.add_argument("--tls", metavar="DIR", default="", help="wss://: server.pem in DIR")
    args = parser.parse_args(argv)
    pin_to(args.cpus)
    if args.tls:
        if args.lib not in TLS_LIBS:
            parser.error(f"{args.lib} has no TLS server here")
        global _tls_context
        _tls_context = server_tls_context(args.tls)
    if args.probe:
        print(json.dumps(probe(args.probe)), flush=True)
        return
    if args.lib is None or args.loop is None:
        parser.error("LIB and LOOP are required")
    faulthandler.dump_traceback_later(MAX_LIFETIME, exit=True)
    exit_when_parent_goes()
    raise_fd_limit(65536)
    run_on_loop(
        _main(
            args.lib,
            args.loop,
            args.mode,
            args.compression,
            args.max_size,
            not args.no_keepalive,
        ),
        args.loop,
    )


if __name__ == "__main__":
    main()
