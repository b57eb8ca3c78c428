"""Orchestrates the echo benchmark: ``python -m bench.echo --help``.

For every repeat, every (library, loop, size) cell runs once, in an order shuffled with a
seeded RNG. A cell starts a fresh server process and a fresh client process of the same
library and loop; the server prints its port, the client measures and prints JSON; the
server is then stopped. The table shows the median over repeats and the min-max range.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from .common import (
    DEFLATE_LIBS,
    KINDS,
    LIBS,
    LOOPS,
    MODES,
    RAW_LIBS,
    SERVER_OF,
    TLS_LIBS,
    lib_env,
    write_tls_files,
)

ROOT = Path(__file__).resolve().parents[2]  # the repository: children run `-m bench.echo.*`

PROBE_TIMEOUT = 60.0
PORT_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
#: A client may take this long beyond warm-up + duration (start-up, handshake, close).
CLIENT_SLACK = 45.0

#: The ratio rows: wsfast against its peers, asyncio and threading clients apart.
RATIO_PAIRS = [
    (lib, base)
    for lib in ("wsfast", "wsfast-python")
    for base in ("websockets", "picows.websockets", "raw", "raw-task")
] + [
    (lib, base)
    for lib in ("wsfast.sync", "wsfast-python.sync")
    for base in ("websockets.sync", "websocket-client")
]


class CellError(Exception):
    pass


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _size(text: str) -> int:
    text = text.strip()
    units = {"kib": 1024, "k": 1024, "mib": 1024 * 1024, "m": 1024 * 1024, "b": 1}
    for suffix, factor in units.items():
        if text.lower().endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def size_label(size: int) -> str:
    for factor, unit in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


# --- child processes -------------------------------------------------------------------------


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def probe(
    lib: str, compression: bool, tls: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """(info, None) if ``lib`` can run here, else (None, reason)."""
    if compression and lib not in DEFLATE_LIBS and lib not in RAW_LIBS:
        return None, "no permessage-deflate"
    if tls and lib not in TLS_LIBS:
        return None, "no wss:// in this benchmark"
    try:
        proc = subprocess.run(
            _python("bench.echo.servers", "--probe", lib),
            check=False,
            cwd=ROOT,
            env=lib_env(lib),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return None, f"probe timed out after {PROBE_TIMEOUT:g} s"
    if proc.returncode != 0:
        return None, _first_line(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def loop_available(loop: str) -> str | None:
    """None if the loop can be used, else the reason."""
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError as exc:
            return str(exc)
    return None


def _readline(stream: Any, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise CellError(f"server printed no port within {timeout:g} s") from None


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.stdin.close()  # type: ignore[union-attr]  # the server exits on EOF
    except OSError:
        pass
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


def pinning(pin: str) -> tuple[str, str]:
    """CPU lists (server, client) for ``--pin``; empty strings mean "not pinned"."""
    if pin == "none":
        return "", ""
    if not hasattr(os, "sched_getaffinity"):
        raise SystemExit("--pin needs os.sched_setaffinity (Linux)")
    cpus = sorted(os.sched_getaffinity(0))
    if pin == "same":
        return str(cpus[0]), str(cpus[0])
    if len(cpus) < 2:
        raise SystemExit("--pin split needs two CPUs")
    return str(cpus[0]), str(cpus[1])


def run_cell(
    lib: str,
    loop: str,
    size: int,
    duration: float,
    warmup: float,
    compression: bool,
    pin: str = "none",
    mode: str = "echo",
    kind: str = "binary",
    tls_dir: str = "",
) -> dict[str, Any]:
    """One measurement in two fresh processes; returns the client's JSON or raises CellError.

    With ``tls_dir`` (see common.write_tls_files), over TLS: wss://, or TLS for raw."""
    env = lib_env(lib)
    # Threading clients have no server of their own: they share one (common.SERVER_OF).
    server_lib = SERVER_OF.get(lib, lib)
    max_size = max(4 * 1024 * 1024, 2 * size)
    extra = ["--max-size", str(max_size), "--mode", mode]
    extra += ["--compression"] if compression else []
    extra += ["--tls", tls_dir] if tls_dir else []
    server_cpus, client_cpus = pinning(pin)
    with tempfile.TemporaryFile("w+") as server_err:
        server = subprocess.Popen(
            _python("bench.echo.servers", server_lib, loop, *extra, "--cpus", server_cpus),
            cwd=ROOT,
            env=lib_env(server_lib),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=server_err,
            text=True,
        )
        try:
            line = _readline(server.stdout, PORT_TIMEOUT)
            if not line.strip().isdigit():
                server_err.seek(0)
                raise CellError(f"server failed: {_first_line(server_err.read())}")
            timeout = warmup + duration + CLIENT_SLACK
            try:
                client = subprocess.run(
                    _python(
                        "bench.echo.clients",
                        lib,
                        loop,
                        line.strip(),
                        str(size),
                        repr(duration),
                        "--warmup",
                        repr(warmup),
                        "--kind",
                        kind,
                        *extra,
                        "--cpus",
                        client_cpus,
                    ),
                    check=False,
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise CellError(f"client timed out after {timeout:g} s") from None
            if client.returncode != 0 or not client.stdout.strip():
                detail = _first_line(client.stderr)
                if server.poll() is not None:
                    server_err.seek(0)
                    detail += f"; server exited: {_first_line(server_err.read())}"
                raise CellError(f"client failed: {detail}")
            return json.loads(client.stdout.strip().splitlines()[-1])
        finally:
            _stop(server)


# --- statistics and output -------------------------------------------------------------------


def summarize(rates: list[float]) -> dict[str, Any]:
    rates = sorted(rates)
    summary: dict[str, Any] = {
        "n": len(rates),
        "median": statistics.median(rates),
        "min": rates[0],
        "max": rates[-1],
    }
    if len(rates) >= 2:
        q1, _, q3 = statistics.quantiles(rates, n=4, method="inclusive")
        summary["q1"], summary["q3"] = q1, q3
    return summary


def _k(rate: float) -> str:
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"


def _cell_text(summary: dict[str, Any] | None, reason: str | None) -> str:
    if summary is None:
        return reason or "-"
    text = _k(summary["median"])
    if summary["n"] > 1:
        text += f" ({_k(summary['min'])}-{_k(summary['max'])})"
    return text


def _print_table(header: list[str], rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(fmt.format(*row), file=out)


def report(results: dict[str, Any], out: TextIO = sys.stdout) -> None:
    config = results["config"]
    libs, loops, sizes = config["libs"], config["loops"], config["sizes"]
    summaries = {(s["lib"], s["loop"], s["size"]): s for s in results["summary"]}
    errors = results["cell_errors"]
    columns = [(size, loop) for size in sizes for loop in loops]
    mode = config.get("mode", "echo")
    unit = "round trips/s" if mode == "echo" else "messages/s"
    header = [unit] + [f"{size_label(size)} {loop}" for size, loop in columns]

    def reason(lib: str, loop: str, size: int) -> str | None:
        if lib in results["unavailable"]:
            return "n/a"
        if loop in results["unavailable_loops"]:
            return "n/a"
        if f"{lib}|{loop}|{size}" in errors:
            return "error"
        return None

    rows = []
    for lib in libs:
        cells = [_cell_text(summaries.get((lib, lo, sz)), reason(lib, lo, sz)) for sz, lo in columns]
        rows.append([lib, *cells])
    print(file=out)
    what = "Echo round trips/s" if mode == "echo" else "One-way stream, messages/s"
    title = (
        f"{what}, {config.get('kind', 'binary')} messages: median over {config['repeats']} "
        f"repeat(s) (min-max), {config['duration']:g} s each after {config['warmup']:g} s warm-up, "
        f"compression {'deflate' if config['compression'] else 'off'}, "
        f"{'TLS (wss://)' if config.get('tls') else 'no TLS'}, "
        f"pinning {config['pin']}"
    )
    print(title, file=out)
    _print_table(header, rows, out)

    ratio_rows = []
    for lib, base in RATIO_PAIRS:
        if lib in libs and base in libs:
            cells = []
            for size, loop in columns:
                a, b = summaries.get((lib, loop, size)), summaries.get((base, loop, size))
                cells.append(f"{a['median'] / b['median']:.2f}x" if a and b else "-")
            ratio_rows.append([f"{lib} / {base}", *cells])
    if ratio_rows:
        print(file=out)
        _print_table(["ratio of medians", *header[1:]], ratio_rows, out)

    notes = [
        f"  {lib}: a threading client; the server is {SERVER_OF[lib]}'s (asyncio loop as listed)"
        for lib in libs
        if lib in SERVER_OF
    ]
    notes += [f"  {lib}: unavailable: {why}" for lib, why in results["unavailable"].items()]
    notes += [f"  {loop}: unavailable: {why}" for loop, why in results["unavailable_loops"].items()]
    notes += [f"  {cell.replace('|', ' ')}: {why}" for cell, why in errors.items()]
    if notes:
        print("\nNotes:", file=out)
        print("\n".join(notes), file=out)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.echo",
        description="End-to-end WebSocket benchmark over loopback, server and client in "
        "separate processes: sequential round trips of one message (--mode echo, the default), "
        "or one-way throughput of messages streamed in batches (--mode stream).",
    )
    parser.add_argument("--mode", choices=MODES, default="echo", help="echo (default) or stream")
    parser.add_argument(
        "--kind", choices=KINDS, default="binary", help="binary (default) or text messages"
    )
    parser.add_argument("--libs", type=_csv, default=list(LIBS), help=f"default: {','.join(LIBS)}")
    parser.add_argument("--loops", type=_csv, default=list(LOOPS), help="default: asyncio,uvloop")
    parser.add_argument(
        "--sizes",
        type=lambda text: [_size(item) for item in _csv(text)],
        default=[256, 8192, 262144],
        help="message sizes in bytes (suffixes k, KiB, M, MiB allowed); default: 256,8192,262144",
    )
    parser.add_argument("--duration", type=float, default=2.0, help="timed seconds per cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per cell")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every cell, interleaved")
    parser.add_argument("--seed", type=int, default=6455, help="seed of the shuffled order")
    parser.add_argument(
        "--compression", action="store_true", help="permessage-deflate where supported"
    )
    parser.add_argument(
        "--tls", action="store_true", help="over TLS: wss:// (plain TLS for raw and raw-task)"
    )
    parser.add_argument(
        "--pin",
        choices=("none", "same", "split"),
        default="none",
        help="CPU affinity: none (default; the scheduler places both processes), same (server "
        "and client on one CPU), split (server and client on two different CPUs)",
    )
    parser.add_argument("--json", metavar="OUT", help="write every measurement to this file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-run progress")
    args = parser.parse_args(argv)
    for lib in args.libs:
        if lib not in LIBS:
            parser.error(f"unknown library {lib!r}; choose from {', '.join(LIBS)}")
    for loop in args.loops:
        if loop not in LOOPS:
            parser.error(f"unknown loop {loop!r}; choose from {', '.join(LOOPS)}")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("sizes must be positive")
    if args.repeats < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("need --repeats >= 1, --duration > 0, --warmup >= 0")
    return args


def run(args: argparse.Namespace, log: TextIO = sys.stderr) -> dict[str, Any]:
    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=log, flush=True)

    libraries: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for lib in args.libs:
        info, why = probe(lib, args.compression, args.tls)
        if info is None:
            unavailable[lib] = why or "?"
            say(f"{lib}: unavailable ({why})")
        else:
            libraries[lib] = info
    unavailable_loops = {}
    for loop in args.loops:
        why = loop_available(loop)
        if why is not None:
            unavailable_loops[loop] = why
            say(f"{loop}: unavailable ({why})")

    cells = [
        (lib, loop, size)
        for lib in args.libs
        if lib in libraries
        for loop in args.loops
        if loop not in unavailable_loops
        for size in args.sizes
    ]
    runs: list[dict[str, Any]] = []
    total = len(cells) * args.repeats
    tls_files = tempfile.TemporaryDirectory(prefix="bench-tls-") if args.tls else None
    if tls_files is not None:
        write_tls_files(tls_files.name)
    started = time.monotonic()
    for repeat in range(args.repeats):
        order = list(cells)
        random.Random(args.seed + repeat).shuffle(order)
        for position, (lib, loop, size) in enumerate(order):
            entry: dict[str, Any] = {
                "repeat": repeat,
                "position": position,
                "lib": lib,
                "loop": loop,
                "size": size,
            }
            label = f"[{len(runs) + 1}/{total}] {lib} {loop} {size_label(size)}"
            try:
                entry.update(
                    run_cell(
                        lib,
                        loop,
                        size,
                        args.duration,
                        args.warmup,
                        args.compression,
                        args.pin,
                        args.mode,
                        args.kind,
                        tls_files.name if tls_files is not None else "",
                    )
                )
                unit = "round trips/s" if args.mode == "echo" else "messages/s"
                say(f"{label}: {entry['rate']:,.0f} {unit}")
            except (CellError, json.JSONDecodeError, OSError) as exc:
                entry["error"] = str(exc)
                say(f"{label}: ERROR {exc}")
            runs.append(entry)
    say(f"{total} runs in {time.monotonic() - started:.0f} s")
    if tls_files is not None:
        tls_files.cleanup()

    summary = []
    cell_errors = {}
    for lib, loop, size in cells:
        mine = [r for r in runs if (r["lib"], r["loop"], r["size"]) == (lib, loop, size)]
        rates = [r["rate"] for r in mine if "error" not in r]
        if rates:
            summary.append({"lib": lib, "loop": loop, "size": size, **summarize(rates)})
        failures = [r["error"] for r in mine if "error" in r]
        if failures:
            cell_errors[f"{lib}|{loop}|{size}"] = (
                f"{len(failures)}/{len(mine)} runs failed: {failures[0]}"
            )
    return {
        "config": {
            "libs": args.libs,
            "loops": args.loops,
            "sizes": args.sizes,
            "duration": args.duration,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "seed": args.seed,
            "compression": args.compression,
            "tls": args.tls,
            "pin": args.pin,
            "mode": args.mode,
            "kind": args.kind,
        },
        "environment": {
            "python": sys.version,
            "executable": sys.executable,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "libraries": libraries,
        },
        "unavailable": unavailable,
        "unavailable_loops": unavailable_loops,
        "cell_errors": cell_errors,
        "runs": runs,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0
