"""Echo server for the Autobahn fuzzingclient, on wsfast's asyncio API.

Every message goes back as it came: text as text, binary as binary. Run by ``run.py``; by
hand::

    python tests/compliance/echo_server.py --port 9002 --compression deflate

``WSFAST_NO_EXTENSIONS=1`` in the environment forces the pure-Python implementation. Once
listening, the server prints one line ``READY {json}`` on stdout giving the address, the port
(useful with ``--port 0``, the default, which takes a free port) and ``wsfast.IMPLEMENTATION``.
SIGTERM or SIGINT closes it and it exits 0.

``--library websockets`` runs the same server on websockets.asyncio, as a reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from agent_options import add_library_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    parser.add_argument(
        "--max-size", type=int, default=2**25, help="max_size (default 2**25, for cases 9.*)"
    )
    add_library_options(parser)
    return parser.parse_args(argv)


def load(library: str, max_fragments: int):
    """Return ``(serve, ConnectionClosed, implementation, module file)``."""
    # recv() of both libraries reads this when they are imported.
    os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(max_fragments)
    if library == "wsfast":
        import wsfast
        from wsfast.asyncio.server import serve
        from wsfast.exceptions import ConnectionClosed

        return serve, ConnectionClosed, wsfast.IMPLEMENTATION, wsfast.__file__
    import websockets
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    return serve, ConnectionClosed, f"websockets-{websockets.__version__}", websockets.__file__


async def main(args: argparse.Namespace) -> None:
    serve, ConnectionClosed, implementation, module_file = load(args.library, args.max_fragments)

    async def echo(websocket) -> None:
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed:
            pass  # the suite closes and breaks connections on purpose

    compression = None if args.compression == "none" else "deflate"
    async with serve(
        echo, args.host, args.port, compression=compression, max_size=args.max_size
    ) as server:
        host, port = server.sockets[0].getsockname()[:2]
        ready = {
            "role": "server",
            "api": "asyncio",
            "library": args.library,
            "implementation": implementation,
            "fallback_reason": getattr(sys.modules.get("wsfast"), "FALLBACK_REASON", None),
            "module": module_file,
            "host": host,
            "port": port,
            "compression": args.compression,
            "max_size": args.max_size,
            "pid": os.getpid(),
        }
        print(f"{args.library} implementation: {implementation}", flush=True)
        print("READY " + json.dumps(ready), flush=True)

        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
        await stop
    print("closed", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(parse_args()))
