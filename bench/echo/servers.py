"""Echo servers, one per library. Run as a child process by ``bench.echo.run``:

    python -m bench.echo.servers LIB LOOP [--compression] [--max-size N]

binds 127.0.0.1 on a free port, prints the port on one line of stdout, then echoes every
binary message back until stdin is closed. ``--probe LIB`` only imports the library and
prints a JSON line describing it (version, codec), or exits non-zero.
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
    SERVER_OF,
    SYNC_CLIENTS,
    WEBSOCKETS_API,
    LengthPrefixedProtocol,
    exit_when_parent_goes,
    pin_to,
    run_on_loop,
)

#: A server exits on its own after this long, whatever happens to the parent.
MAX_LIFETIME = 3600.0

_keep: list[Any] = []  # server objects, referenced until exit


# --- raw -------------------------------------------------------------------------------------


class _RawEcho(LengthPrefixedProtocol):
    def message_received(self, view: memoryview, start: int, length: int) -> None:
        # One copy, prefix included; the buffer is reused by the next read.
        self.transport.write(bytes(view[start - 4 : start + length]))  # type: ignore[union-attr]


async def _serve_raw(compression: bool, max_size: int) -> int:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_RawEcho, HOST, 0)
    _keep.append(server)
    return server.sockets[0].getsockname()[1]


# --- websockets-compatible APIs (websockets, picows.websockets, wsfast) --------------------


async def _serve_websockets_api(lib: str, compression: bool, max_size: int) -> int:
    serve = importlib.import_module(WEBSOCKETS_API[lib][1]).serve

    async def handler(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    server = await serve(
        handler,
        HOST,
        0,
        compression="deflate" if compression else None,
        max_size=max_size,
    )
    _keep.append(server)
    return server.sockets[0].getsockname()[1]


# --- aiohttp ---------------------------------------------------------------------------------


async def _serve_aiohttp(compression: bool, max_size: int) -> int:
    from aiohttp import WSMsgType, web

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compression, max_msg_size=max_size)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    _keep.append(runner)
    return runner.addresses[0][1]


# --- picows (native callback API) ----------------------------------------------------------


async def _serve_picows(compression: bool, max_size: int) -> int:
    from picows import WSListener, WSMsgType, ws_create_server

    if compression:
        raise RuntimeError("picows' callback API has no permessage-deflate")

    class Echo(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            msg_type = frame.msg_type
            if msg_type == WSMsgType.BINARY or msg_type == WSMsgType.TEXT:
                # Clients send every message as one frame; send() copies the payload.
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    server = await ws_create_server(lambda request: Echo(), HOST, 0, max_frame_size=max_size)
    _keep.append(server)
    return server.sockets[0].getsockname()[1]


# --- entry points ----------------------------------------------------------------------------


async def _main(lib: str, loop: str, compression: bool, max_size: int) -> None:
    if loop == "uvloop":
        import uvloop

        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    if lib == "raw":
        port = await _serve_raw(compression, max_size)
    elif lib == "aiohttp":
        port = await _serve_aiohttp(compression, max_size)
    elif lib == "picows":
        port = await _serve_picows(compression, max_size)
    else:
        port = await _serve_websockets_api(lib, compression, max_size)
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
    if lib == "raw":
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
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--cpus", type=str, default="", help="pin to these CPUs (Linux)")
    args = parser.parse_args(argv)
    pin_to(args.cpus)
    if args.probe:
        print(json.dumps(probe(args.probe)), flush=True)
        return
    if args.lib is None or args.loop is None:
        parser.error("LIB and LOOP are required")
    faulthandler.dump_traceback_later(MAX_LIFETIME, exit=True)
    exit_when_parent_goes()
    run_on_loop(_main(args.lib, args.loop, args.compression, args.max_size), args.loop)


if __name__ == "__main__":
    main()
