"""Echo client for the Autobahn fuzzingserver, on wsfast's asyncio API.

Follows the fuzzingserver protocol: ``/getCaseCount`` gives the number of cases N; for each
case 1..N the client connects to ``/runCase?case=i&agent=NAME`` and echoes every message
(text as text) until the server closes; then ``/updateReports?agent=NAME`` makes the server
write its reports. Run by ``run.py``; by hand, with ``wstest -m fuzzingserver`` listening::

    python tests/compliance/echo_client.py --url ws://127.0.0.1:9001 --agent wsfast

The client always offers permessage-deflate (the default of ``connect``): the fuzzingserver
decides per case whether to accept it. ``WSFAST_NO_EXTENSIONS=1`` forces the pure-Python
implementation. At start the client prints one line ``READY {json}`` with
``wsfast.IMPLEMENTATION``, then one line per case. It exits 0 when it got through the
protocol (whatever each case did), 1 when ``getCaseCount`` or ``updateReports`` failed.

``--library websockets`` runs the same client on websockets.asyncio, as a reference.
"""

from __future__ import annotations

import argparse
import asyncio
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
    parser.add_argument("--agent", default="wsfast", help="agent name in the reports")
    parser.add_argument(
        "--max-size", type=int, default=2**25, help="max_size (default 2**25, for cases 9.*)"
    )
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=600,
        help="give up a case after this many seconds (default 600; the suite's own limit is 480)",
    )
    add_library_options(parser)
    return parser.parse_args(argv)


def load(library: str, max_fragments: int):
    """Return ``(connect, WebSocketException, implementation, module file)``."""
    # recv() of both libraries reads this when they are imported.
    os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(max_fragments)
    if library == "wsfast":
        import wsfast
        from wsfast.asyncio.client import connect
        from wsfast.exceptions import WebSocketException

        return connect, WebSocketException, wsfast.IMPLEMENTATION, wsfast.__file__
    import websockets
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    version = websockets.__version__
    return connect, WebSocketException, f"websockets-{version}", websockets.__file__


async def main(args: argparse.Namespace) -> int:
    connect, WebSocketException, implementation, module_file = load(args.library, args.max_fragments)
    base = args.url.rstrip("/")
    agent = urllib.parse.quote(args.agent, safe="")
    ready = {
        "role": "client",
        "api": "asyncio",
        "library": args.library,
        "implementation": implementation,
        "fallback_reason": getattr(sys.modules.get("wsfast"), "FALLBACK_REASON", None),
        "module": module_file,
        "url": base,
        "agent": args.agent,
        "max_size": args.max_size,
        "pid": os.getpid(),
    }
    print(f"{args.library} implementation: {implementation}", flush=True)
    print("READY " + json.dumps(ready), flush=True)

    # proxy=None: never route 127.0.0.1 through a proxy named in the environment.
    async with connect(f"{base}/getCaseCount", proxy=None) as websocket:
        count = json.loads(await websocket.recv())
    print(f"{count} cases", flush=True)

    async def run_case(case: int) -> None:
        async with connect(
            f"{base}/runCase?case={case}&agent={agent}", proxy=None, max_size=args.max_size
        ) as websocket:
            async for message in websocket:
                await websocket.send(message)

    for case in range(1, count + 1):
        start = time.monotonic()
        try:
            await asyncio.wait_for(run_case(case), args.case_timeout)
        except WebSocketException as exc:
            # Expected in many cases: the suite sends invalid data on purpose.
            outcome = f"closed: {type(exc).__name__}: {exc}"
        except asyncio.TimeoutError:
            outcome = f"TIMEOUT after {args.case_timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - reported, and the next case runs
            outcome = f"UNEXPECTED {type(exc).__name__}: {exc}"
            traceback.print_exc()
        else:
            outcome = "done"
        elapsed = time.monotonic() - start
        print(f"case {case}/{count} ({elapsed:.2f} s): {outcome}", flush=True)

    # The server writes the reports, then closes: wait for its close frame.
    async with connect(
        f"{base}/updateReports?agent={agent}", proxy=None, open_timeout=120
    ) as websocket:
        async for _ in websocket:
            pass
    print("reports updated", flush=True)
    return 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.exit(asyncio.run(main(parse_args())))
