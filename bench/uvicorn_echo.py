"""uvicorn on websockets 17.4 against uvicorn on wsfast installed as websockets: ``python -m bench.uvicorn_echo --help``.

The same ASGI echo app runs under uvicorn's ``websockets-sansio`` WebSocket implementation
(``--ws websockets-sansio``; HTTP by h11 or httptools), once on the real websockets and once
with ``wsfast.install_as_websockets()`` called before uvicorn is imported (wsfast with its
extension, ``wsfast``, or its pure-Python twin, ``wsfast-python``). Only the server differs:
the client is always wsfast's asyncio client with the extension (bench/echo/clients.py, lib
``wsfast``), sending one binary (or text) message and awaiting its echo, over and over, as in
bench/echo. Each cell runs in a fresh server process and a fresh client process, in an order
shuffled per repeat; the table shows round trips per second, the median over the repeats
(min-max), the ratio of medians wsfast / websockets, and the server process's CPU time per
round trip (from /proc, over the client's whole run: an estimate, but one that a busy machine
disturbs less than the rate).

    python -m bench.uvicorn_echo --sizes 256,8k --repeats 5 --duration 2

Child process (what the runner starts; prints the port, serves until stdin closes):

    python -m bench.uvicorn_echo --serve SERVER [--http h11|httptools] [--loop asyncio|uvloop]
                                 [--max-size N] [--cpus LIST]

``--probe SERVER`` prints a JSON line saying what the server would run on (uvicorn, the
module that ``websockets`` resolves to, wsfast's codec), or exits non-zero. ``python -m bench``
runs this as its ``uvicorn`` group.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from .echo.common import HOST, KINDS, LOOPS, exit_when_parent_goes, lib_env, pin_to, raise_fd_limit, run_on_loop
from .echo.run import (
    CLIENT_SLACK,
    PORT_TIMEOUT,
    PROBE_TIMEOUT,
    CellError,
    _first_line,
    _readline,
    _size,
    _stop,
    loop_available,
    pinning,
    size_label,
    summarize,
)

ROOT = Path(__file__).resolve().parent.parent

#: The servers: what ``websockets`` is in uvicorn's process. ``websockets`` first: the baseline.
SERVERS = ("websockets", "wsfast", "wsfast-python")
HTTP = ("h11", "httptools")
#: The client, the same for every server: bench/echo's wsfast asyncio client, extension on.
CLIENT = "wsfast"

MAX_LIFETIME = 3600.0


# --- the server --------------------------------------------------------------------------------


def _install(server: str) -> Any:
    """Before uvicorn is imported: make ``websockets`` wsfast, unless the server is the baseline."""
    if server == "websockets":
        return None
    import wsfast

    return wsfast.install_as_websockets()


def describe(server: str, http: str) -> dict[str, Any]:
    """What a server process runs on; raises if it isn't what ``server`` names."""
    import uvicorn
    from uvicorn.protocols.websockets import websockets_sansio_impl  # imports websockets

    websockets = sys.modules["websockets"]
    info: dict[str, Any] = {
        "server": server,
        "uvicorn": uvicorn.__version__,
        "ws": "websockets-sansio",
        "http": http,
        "websockets_version": websockets.__version__,
        "websockets_module": websockets.__file__,
    }
    assert websockets_sansio_impl.WebSocketsSansIOProtocol
    if http == "httptools":
        import httptools

        info["httptools"] = httptools.__version__
    else:
        import h11

        info["h11"] = h11.__version__
    if server == "websockets":
        if "wsfast" in sys.modules:
            raise RuntimeError("wsfast got imported in the websockets server")
    else:
        import wsfast
        import wsfast.speedups

        if websockets.__file__ != wsfast.__file__:
            raise RuntimeError(f"websockets is {websockets.__file__}, not wsfast")
        codec = wsfast.speedups.IMPLEMENTATION
        wanted = "python" if server == "wsfast-python" else "cython"
        if codec != wanted:
            raise RuntimeError(f"wsfast codec is {codec!r}, not {wanted!r} ({wsfast.speedups.FALLBACK_REASON})")
        info["wsfast"] = wsfast.__version__
        info["codec"] = codec
    return info


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app: accept a WebSocket, send every message back as it came (text or bytes)."""
    if scope["type"] != "websocket":
        raise RuntimeError(f"unexpected scope {scope['type']!r}")
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect
        if message.get("bytes") is not None:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:
            await send({"type": "websocket.send", "text": message["text"]})


async def _serve(http: str, max_size: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    config = uvicorn.Config(
        echo_app,
        ws="websockets-sansio",
        http=http,
        lifespan="off",
        access_log=False,
        log_level="warning",
        ws_max_size=max_size,
        backlog=1024,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    await task  # until the parent closes stdin (exit_when_parent_goes)


def serve_main(args: argparse.Namespace) -> None:
    pin_to(args.cpus)
    _install(args.serve)
    if args.probe:
        print(json.dumps(describe(args.serve, args.http)), flush=True)
        return
    describe(args.serve, args.http)  # fail before printing a port if it isn't the right one
    faulthandler.dump_traceback_later(MAX_LIFETIME, exit=True)
    exit_when_parent_goes()
    raise_fd_limit(65536)
    run_on_loop(_serve(args.http, args.max_size), args.loop)


# --- the runner --------------------------------------------------------------------------------


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.uvicorn_echo", *args]


def probe(server: str, http: str) -> tuple[dict[str, Any] | None, str | None]:
    """(info, None) if the server can run here, else (None, reason)."""
    try:
        proc = subprocess.run(
            _python("--serve", server, "--http", http, "--probe"),
            check=False, cwd=ROOT, env=lib_env(server), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return None, f"probe timed out after {PROBE_TIMEOUT:g} s"
    if proc.returncode != 0:
        return None, _first_line(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def client_probe() -> tuple[dict[str, Any] | None, str | None]:
    from .echo.run import probe as echo_probe

    return echo_probe(CLIENT, False)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_cell(
    server: str, size: int, duration: float, warmup: float, pin: str = "same",
    http: str = "h11", loop: str = "asyncio", kind: str = "binary",
) -> dict[str, Any]:
    """One measurement: a fresh uvicorn process and a fresh client; the client's JSON."""
    max_size = max(4 * 1024 * 1024, 2 * size)
    server_cpus, client_cpus = pinning(pin)
    with tempfile.TemporaryFile("w+") as server_err:
        proc = subprocess.Popen(
            _python("--serve", server, "--http", http, "--loop", loop, "--max-size", str(max_size), "--cpus", server_cpus),
            cwd=ROOT, env=lib_env(server), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=server_err, text=True,
        )
        try:
            line = _readline(proc.stdout, PORT_TIMEOUT)
            if not line.strip().isdigit():
                server_err.seek(0)
                raise CellError(f"server failed: {_first_line(server_err.read())}")
            timeout = warmup + duration + CLIENT_SLACK
            cpu_before = _cpu_seconds(proc.pid)
            command = [
                sys.executable, "-m", "bench.echo.clients", CLIENT, loop, line.strip(), str(size),
                repr(duration), "--warmup", repr(warmup), "--kind", kind, "--max-size", str(max_size),
                "--mode", "echo", "--cpus", client_cpus,
            ]
            try:
                client = subprocess.run(
                    command, check=False, cwd=ROOT, env=lib_env(CLIENT), stdin=subprocess.DEVNULL,
                    capture_output=True, text=True, timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise CellError(f"client timed out after {timeout:g} s") from None
            if client.returncode != 0 or not client.stdout.strip():
                detail = _first_line(client.stderr)
                if proc.poll() is not None:
                    server_err.seek(0)
                    detail += f"; server exited: {_first_line(server_err.read())}"
                raise CellError(f"client failed: {detail}")
            result = json.loads(client.stdout.strip().splitlines()[-1])
            cpu_after = _cpu_seconds(proc.pid)
            if cpu_before is not None and cpu_after is not None and result["rate"] > 0:
                # The server's CPU over the whole client run (warm-up, handshake and close
                # included), per round trip at the timed rate: an estimate.
                result["server_cpu"] = cpu_after - cpu_before
                result["server_cpu_per_round_trip"] = result["server_cpu"] / (result["rate"] * (warmup + duration))
            return result
        finally:
            _stop(proc)


def cell_name(kind: str, size: int, http: str, loop: str) -> str:
    return f"{kind} {size_label(size)} {http} {loop}"


def run(
    servers: list[str], sizes: list[int], duration: float, warmup: float, repeats: int,
    pin: str = "same", http: str = "h11", loop: str = "asyncio", kind: str = "binary",
    seed: int = 6455, say: Any = None,
) -> dict[str, Any]:
    """Every (server, size) cell ``repeats`` times, interleaved; cells in bench/run.py's form."""
    say = say or (lambda text: None)
    info: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    client, why = client_probe()
    if client is None:
        unavailable[f"client {CLIENT}"] = why or "?"
        servers = []
    if loop_available(loop):
        unavailable[loop] = loop_available(loop) or "?"
        servers = []
    for server in servers:
        found, why = probe(server, http)
        if found is None:
            unavailable[server] = why or "?"
        else:
            info[server] = found
    plan = [(server, size) for server in servers if server in info for size in sizes]
    runs: list[dict[str, Any]] = []
    total = len(plan) * repeats
    started = time.monotonic()
    for repeat in range(repeats):
        order = list(plan)
        random.Random(seed + repeat + 2000).shuffle(order)
        for server, size in order:
            entry: dict[str, Any] = {"repeat": repeat, "server": server, "size": size}
            label = f"[uvicorn {len(runs) + 1}/{total}] {server} {cell_name(kind, size, http, loop)}"
            try:
                entry.update(run_cell(server, size, duration, warmup, pin, http, loop, kind))
                say(f"{label}: {entry['rate']:,.0f} round trips/s")
            except (CellError, json.JSONDecodeError, OSError) as exc:
                entry["error"] = str(exc)
                say(f"{label}: ERROR {exc}")
            runs.append(entry)
    cells = []
    errors = {}
    for size in sizes:
        cell = {
            "group": "uvicorn", "name": cell_name(kind, size, http, loop), "unit": "/s",
            "higher_is_better": True, "kind": kind, "compression": False, "size": size,
            "loop": loop, "http": http, "results": {},
        }
        for server in servers:
            mine = [r for r in runs if (r["server"], r["size"]) == (server, size)]
            rates = [r["rate"] for r in mine if "error" not in r]
            if rates:
                summary = summarize(rates)
                summary["spread"] = (summary["max"] - summary["min"]) / summary["median"] if len(rates) > 1 else None
                summary["client_cpu"] = statistics.median(r["client_cpu"] for r in mine if "error" not in r)
                per_trip = [r["server_cpu_per_round_trip"] for r in mine if "server_cpu_per_round_trip" in r]
                summary["server_cpu_per_round_trip"] = statistics.median(per_trip) if per_trip else None
                cell["results"][server] = summary
            failures = [r["error"] for r in mine if "error" in r]
            if failures:
                errors[f"{server} {cell['name']}"] = f"{len(failures)}/{len(mine)} runs failed: {failures[0]}"
        cells.append(cell)
    return {
        "config": {
            "servers": servers, "sizes": sizes, "repeats": repeats, "duration": duration,
            "warmup": warmup, "pin": pin, "http": http, "loop": loop, "kind": kind, "seed": seed,
            "ws": "websockets-sansio",
            "client": f"{CLIENT} (bench/echo/clients.py, asyncio, codec {(client or {}).get('codec', '?')}), the same for every server",
            "spread": "(max - min) / median over the repeats",
        },
        "servers": info,
        "client": client,
        "unavailable": unavailable,
        "errors": errors,
        "runs": runs,
        "elapsed": time.monotonic() - started,
        "cells": cells,
    }


def _k(rate: float) -> str:
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"


def report(results: dict[str, Any], out: TextIO = sys.stdout) -> None:
    cfg = results["config"]
    print(
        f"\nuvicorn echo, --ws websockets-sansio --http {cfg['http']} on {cfg['loop']}: round trips/s, "
        f"{cfg['kind']} messages, median over {cfg['repeats']} repeat(s) (min-max), {cfg['duration']:g} s "
        f"each after {cfg['warmup']:g} s warm-up, pinning {cfg['pin']}",
        file=out,
    )
    print(f"client: {cfg['client']}", file=out)
    header = ["server (websockets is)"] + [size_label(c["size"]) for c in results["cells"]]
    rows = []
    for server in cfg["servers"]:
        found = results["servers"].get(server, {})
        what = {
            "websockets": f"websockets {found.get('websockets_version', '?')}",
            "wsfast": f"wsfast {found.get('wsfast', '?')} ({found.get('codec', '?')})",
            "wsfast-python": f"wsfast {found.get('wsfast', '?')} ({found.get('codec', '?')})",
        }[server]
        cells = []
        for cell in results["cells"]:
            s = cell["results"].get(server)
            cells.append(f"{_k(s['median'])} ({_k(s['min'])}-{_k(s['max'])})" if s else "-")
        rows.append([what, *cells])
    for server in cfg["servers"]:
        if server == "websockets":
            continue
        cells = []
        for cell in results["cells"]:
            a, b = cell["results"].get(server), cell["results"].get("websockets")
            cells.append(f"{a['median'] / b['median']:.2f}x" if a and b else "-")
        rows.append([f"ratio {server} / websockets", *cells])
    for server in cfg["servers"]:
        cells = []
        for cell in results["cells"]:
            s = cell["results"].get(server) or {}
            cpu = s.get("server_cpu_per_round_trip")
            cells.append(f"{cpu * 1e6:.0f} us" if cpu else "-")
        rows.append([f"server CPU/round trip, {server}", *cells])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(fmt.format(*row), file=out)
    servers = results["servers"]
    if servers:
        any_info = next(iter(servers.values()))
        print(f"uvicorn {any_info['uvicorn']}, {cfg['http']} {any_info.get(cfg['http'], '?')}, Python {platform.python_version()}", file=out)
    notes = [f"  {name}: unavailable: {why}" for name, why in results["unavailable"].items()]
    notes += [f"  {name}: {why}" for name, why in results["errors"].items()]
    if notes:
        print("Notes:", file=out)
        print("\n".join(notes), file=out)


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.uvicorn_echo",
        description="uvicorn's websockets-sansio protocol echoing messages, on websockets and on "
        "wsfast installed as websockets; the same wsfast client for every server.",
    )
    parser.add_argument("--serve", choices=SERVERS, help="run one server (a child process of the runner)")
    parser.add_argument("--probe", action="store_true", help="with --serve: describe the server, don't serve")
    parser.add_argument("--servers", type=_csv, default=list(SERVERS), help=f"default: {','.join(SERVERS)}")
    parser.add_argument("--sizes", type=lambda t: [_size(i) for i in _csv(t)], default=[256, 8192], help="default: 256,8k")
    parser.add_argument("--http", choices=HTTP, default="h11", help="uvicorn's HTTP implementation (default h11)")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--kind", choices=KINDS, default="binary")
    parser.add_argument("--duration", type=float, default=2.0, help="timed seconds per cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per cell")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pin", choices=("none", "same", "split"), default="same", help="as bench/echo (default: same CPU)")
    parser.add_argument("--seed", type=int, default=6455)
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--cpus", type=str, default="", help="with --serve: pin to these CPUs")
    parser.add_argument("--json", metavar="OUT", help="write every measurement to this file")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.serve:
        serve_main(args)
        return 0
    for server in args.servers:
        if server not in SERVERS:
            parser.error(f"unknown server {server!r}; choose from {', '.join(SERVERS)}")
    if args.repeats < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("need --repeats >= 1, --duration > 0, --warmup >= 0")
    results = run(
        args.servers, args.sizes, args.duration, args.warmup, args.repeats, args.pin, args.http,
        args.loop, args.kind, args.seed,
        say=None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True)),
    )
    results["command"] = "python -m bench.uvicorn_echo " + " ".join(argv if argv is not None else sys.argv[1:])
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
