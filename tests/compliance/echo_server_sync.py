"""Echo server for the Autobahn fuzzingclient, on wsfast's threading API (``wsfast.sync``).

The twin of ``echo_server.py`` (same options, same ``READY {json}`` line) written against the
API of ``websockets.sync.server``: ``serve(handler, host, port, ...)`` returns a server with
``serve_forever()``, ``shutdown()`` and ``socket``. ``run.py`` skips the sync agents while
``wsfast.sync`` is not importable. ``--library websockets`` runs it on websockets.sync.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

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
    # The sync layers (websockets' and wsfast's) read this when they are imported.
    os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(max_fragments)
    if library == "wsfast":
        import wsfast
        from wsfast.exceptions import ConnectionClosed
        from wsfast.sync.server import serve

        return serve, ConnectionClosed, wsfast.IMPLEMENTATION, wsfast.__file__
    import websockets
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import serve

    return serve, ConnectionClosed, f"websockets-{websockets.__version__}", websockets.__file__


def main(args: argparse.Namespace) -> None:
    serve, ConnectionClosed, implementation, module_file = load(args.library, args.max_fragments)

    def echo(websocket) -> None:
        try:
            for message in websocket:
                websocket.send(message)
        except ConnectionClosed:
            pass  # the suite closes and breaks connections on purpose

    compression = None if args.compression == "none" else "deflate"
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    with serve(
        echo, args.host, args.port, compression=compression, max_size=args.max_size
    ) as server:
        host, port = server.socket.getsockname()[:2]
        ready = {
            "role": "server",
            "api": "sync",
            "library": args.library,
            "implementation": implementation,
            "fallback_reason": getattr(sys.modules.get("wsfast"), "FALLBACK_REASON", None),
            "module": module_file,
            "host": host,
            "port": port,
            "compression": args.compression,
            "max_size": args.max_size,
            "max_fragments": args.max_fragments,
            "pid": os.getpid(),
        }
        # serve_forever() runs in a thread; the main thread waits for a signal and calls
        # shutdown(), which must not run on the thread that serves.
        thread = threading.Thread(target=server.serve_forever, name="serve_forever")
        thread.start()
        print(f"{args.library} implementation: {implementation}", flush=True)
        print("READY " + json.dumps(ready), flush=True)
        while not stop.wait(1):
            if not thread.is_alive():
                sys.exit("serve_forever() returned before shutdown()")
        server.shutdown()
        thread.join(30)
    print("closed", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    main(parse_args())
