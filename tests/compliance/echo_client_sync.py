"""Echo client for the Autobahn fuzzingserver, on wsfast's threading API (``wsfast.sync``).

The twin of ``echo_client.py`` (same options, same output) written against the API of
``websockets.sync.client``: ``connect(uri, ...)`` used as a context manager, ``recv(timeout)``,
``send()``, iteration. ``run.py`` skips the sync agents while ``wsfast.sync`` is not
importable. ``--library websockets`` runs it on websockets.sync.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
import urllib.parse

from agent_options import add_library_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9001", help="the fuzzingserver")
    parser.add_argument("--agent", default="wsfast-sync", help="agent name in the reports")
    parser.add_argument(
        "--max-size", type=int, default=2**25, help="max_size (default 2**25, for cases 9.*)"
    )
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=600,
        help="give up a case when no message came for this many seconds (default 600)",
    )
    add_library_options(parser)
    return parser.parse_args(argv)


def load(library: str, max_fragments: int):
    """Return ``(connect, ConnectionClosedOK, WebSocketException, implementation, file)``."""
    # The sync layers (websockets' and wsfast's) read this when they are imported.
    os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(max_fragments)
    if library == "wsfast":
        import wsfast
        from wsfast.exceptions import ConnectionClosedOK, WebSocketException
        from wsfast.sync.client import connect

        implementation = wsfast.IMPLEMENTATION
        return connect, ConnectionClosedOK, WebSocketException, implementation, wsfast.__file__
    import websockets
    from websockets.exceptions import ConnectionClosedOK, WebSocketException
    from websockets.sync.client import connect

    version = websockets.__version__
    return (
        connect,
        ConnectionClosedOK,
        WebSocketException,
        f"websockets-{version}",
        websockets.__file__,
    )


def main(args: argparse.Namespace) -> int:
    connect, ConnectionClosedOK, WebSocketException, implementation, module_file = load(
        args.library, args.max_fragments
    )
    base = args.url.rstrip("/")
    agent = urllib.parse.quote(args.agent, safe="")
    ready = {
        "role": "client",
        "api": "sync",
        "library": args.library,
        "implementation": implementation,
        "fallback_reason": getattr(sys.modules.get("wsfast"), "FALLBACK_REASON", None),
        "module": module_file,
        "url": base,
        "agent": args.agent,
        "max_size": args.max_size,
        "max_fragments": args.max_fragments,
        "pid": os.getpid(),
    }
    print(f"{args.library} implementation: {implementation}", flush=True)
    print("READY " + json.dumps(ready), flush=True)

    # proxy=None: never route 127.0.0.1 through a proxy named in the environment.
    with connect(f"{base}/getCaseCount", proxy=None) as websocket:
        count = json.loads(websocket.recv())
    print(f"{count} cases", flush=True)

    for case in range(1, count + 1):
        start = time.monotonic()
        try:
            with connect(
                f"{base}/runCase?case={case}&agent={agent}", proxy=None, max_size=args.max_size
            ) as websocket:
                while True:
                    try:
                        message = websocket.recv(timeout=args.case_timeout)
                    except ConnectionClosedOK:
                        break  # a normal end, where iteration would stop too
                    websocket.send(message)
        except WebSocketException as exc:
            # Expected in many cases: the suite sends invalid data on purpose.
            outcome = f"closed: {type(exc).__name__}: {exc}"
        except TimeoutError:
            outcome = f"TIMEOUT: no message for {args.case_timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - reported, and the next case runs
            outcome = f"UNEXPECTED {type(exc).__name__}: {exc}"
            traceback.print_exc()
        else:
            outcome = "done"
        elapsed = time.monotonic() - start
        print(f"case {case}/{count} ({elapsed:.2f} s): {outcome}", flush=True)

    # The server writes the reports, then closes: wait for its close frame.
    with connect(f"{base}/updateReports?agent={agent}", proxy=None, open_timeout=120) as websocket:
        for _ in websocket:
            pass
    print("reports updated", flush=True)
    return 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.exit(main(parse_args()))
