"""The whole benchmark suite in one command: ``python -m bench --help``.

Groups:

* ``micro``: the pytest-benchmark micro-benchmarks (bench/test_*_bench.py), run by pytest in
  a child process; one cell per benchmark group (``mask 64 KiB`` ...), time per operation.
* ``echo``: sequential round trips (bench/echo), per message kind, compression, size and loop.
* ``throughput``: one-way streams of messages (bench/echo ``--mode stream``), messages/s.
* ``scale``: N concurrent connections, a message per second each (bench/scale.py): server
  memory per connection and CPU per message.
* ``uvicorn``: uvicorn's websockets-sansio protocol echoing messages, on websockets and on
  wsfast installed as websockets, the same wsfast client for both (bench/uvicorn_echo.py).

End-to-end runs are interleaved: every repeat runs each cell of a group once, in an order
shuffled with a seeded RNG, each in a fresh server and client process. The report shows
medians, the spread of the repeats, ratios to the best peer and to the limit, and how far
each wsfast figure is from its target (bench/targets.py). Results go to
bench/results/<date>-<machine>.json with one PNG chart per group beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from .echo.common import DEFLATE_LIBS, LIBS, LOOPS, RAW_LIBS, SYNC_CLIENTS, TLS_LIBS, write_tls_files
from .echo.run import CellError, loop_available, probe, run_cell, size_label, summarize
from .targets import TARGETS, evaluate, format_value

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
GROUPS = ("micro", "echo", "throughput", "scale", "uvicorn")

#: The micro-benchmark files (test_echo_bench.py is an end-to-end smoke test: not here).
MICRO_FILES = (
    "test_mask_bench.py",
    "test_utf8_bench.py",
    "test_frame_bench.py",
    "test_deflate_bench.py",
)

#: Implementations that are limits, not peers: a plain copy, raw zlib, raw TCP.
LIMIT_PREFIXES = ("baseline", "zlib-raw", "raw")


def role(impl: str) -> str:
    """``wsfast``, ``limit`` or ``peer``."""
    if impl.startswith("wsfast"):
        return "wsfast"
    if impl == "raw" or impl.startswith(LIMIT_PREFIXES):
        return "limit"
    return "peer"


def _is_sync(lib: str) -> bool:
    return lib in SYNC_CLIENTS


# --- profiles ---------------------------------------------------------------------------------

#: (kind, compression, loops or None for --loops[, tls]): the echo variants of each profile;
#: tls (wss://) is False where left out.
ECHO_VARIANTS = {
    "quick": [("binary", False, ("asyncio",)), ("text", True, ("asyncio",))],
    "standard": [
        ("binary", False, None),
        ("text", True, ("asyncio",)),
        ("binary", False, ("asyncio",), True),
    ],
    "full": [
        ("binary", False, None),
        ("text", False, None),
        ("binary", True, None),
        ("text", True, None),
        ("binary", False, None, True),
    ],
}

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "micro_max_time": 0.02,
        "micro_min_rounds": 3,
        "echo_sizes": [256, 262144],
        "throughput_sizes": [64, 1024 * 1024],
        "loops": ["asyncio"],
        "sync_loops": ["asyncio"],
        "repeats": 2,
        "duration": 0.3,
        "warmup": 0.1,
        "connections": 200,
        "scale_duration": 2.0,
        "scale_warmup": 1.0,
    },
    "standard": {
        "micro_max_time": 0.15,
        "micro_min_rounds": 5,
        "echo_sizes": [256, 8192, 262144],
        "throughput_sizes": [64, 1024 * 1024],
        "loops": ["asyncio", "uvloop"],
        "sync_loops": ["asyncio"],
        "repeats": 3,
        "duration": 0.4,
        "warmup": 0.1,
        "connections": 1000,
        "scale_duration": 5.0,
        "scale_warmup": 1.5,
    },
    "full": {
        "micro_max_time": 0.75,
        "micro_min_rounds": 10,
        "echo_sizes": [256, 8192, 262144],
        "throughput_sizes": [64, 1024 * 1024],
        "loops": ["asyncio", "uvloop"],
        "sync_loops": ["asyncio", "uvloop"],
        "repeats": 5,
        "duration": 1.0,
        "warmup": 0.3,
        "connections": 2000,
        "scale_duration": 8.0,
        "scale_warmup": 2.0,
    },
}

#: Seconds a process pair costs beyond warm-up + duration (start-up, handshake, close):
#: about 0.4 s on an idle 2-CPU machine, 0.7 s on a busy one.
CELL_OVERHEAD = 0.5


# --- progress -----------------------------------------------------------------------------------


class Progress:
    """One updating status line on a terminal; plain lines otherwise."""

    def __init__(self, out: TextIO, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty()
        self._open = False

    def status(self, text: str) -> None:
        """A transient line (overwritten on a terminal, dropped otherwise)."""
        if self.tty and not self.quiet:
            self.out.write("\r\x1b[K" + text[:200])
            self.out.flush()
            self._open = True

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self._open:
            self.out.write("\r\x1b[K")
            self._open = False
        print(text, file=self.out, flush=True)


def _eta(started: float, done: int, total: int) -> str:
    if not done:
        return ""
    left = (time.monotonic() - started) / done * (total - done)
    return f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"


# --- micro --------------------------------------------------------------------------------------


def run_micro(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """pytest-benchmark in a child process; one cell per benchmark group."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "micro.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            *[str(BENCH / name) for name in MICRO_FILES],
            "--benchmark-only",
            "--benchmark-quiet",
            f"--benchmark-json={out}",
            f"--benchmark-max-time={args.micro_max_time}",
            f"--benchmark-min-rounds={args.micro_min_rounds}",
            "-p",
            "no:cacheprovider",
            "-v",
            "-rs",
        ]
        if args.micro_k:
            command += ["-k", args.micro_k]
        progress.line(f"[micro] {shlex.join(command[2:])}")
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        log: list[str] = []
        percent_re = re.compile(r"\[\s*(\d+)%\]\s*$")
        last_decile = -1
        deadline = started + args.micro_timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line.rstrip("\n"))
            match = percent_re.search(line)
            if match:
                percent = int(match.group(1))
                name = line.split(" ")[0].rpartition("::")[2]
                progress.status(f"[micro] {percent:3d}% {name}")
                if percent // 10 > last_decile and not progress.tty:
                    last_decile = percent // 10
                    progress.line(f"[micro] {percent}%{_eta(started, percent, 100)}")
            if time.monotonic() > deadline:
                proc.kill()
                raise CellError(f"pytest took more than {args.micro_timeout:g} s")
        code = proc.wait(60)
        elapsed = time.monotonic() - started
        skipped = [line for line in log if line.startswith("SKIPPED")]
        if not out.exists():
            tail = "\n".join(log[-20:])
            raise CellError(f"pytest exited {code} without results:\n{tail}")
        data = json.loads(out.read_text(encoding="utf-8"))
    failures = [line for line in log if " FAILED" in line or line.startswith("FAILED")]
    progress.line(
        f"[micro] {len(data['benchmarks'])} benchmarks in {elapsed:.0f} s"
        + (f", {len(failures)} FAILED" if failures else "")
    )
    cells: dict[str, dict[str, Any]] = {}
    for bench in data["benchmarks"]:
        group = bench["group"] or bench["name"]
        impl = bench["extra_info"].get("impl") or bench["param"] or bench["name"]
        stats = bench["stats"]
        cell = cells.setdefault(
            group,
            {"group": "micro", "name": group, "unit": "s", "higher_is_better": False, "results": {}},
        )
        cell["results"][impl] = {
            "median": stats["median"],
            "spread": stats["iqr"] / stats["median"] if stats["median"] else None,
            "n": stats["rounds"],
            "min": stats["min"],
            "max": stats["max"],
            "iqr": stats["iqr"],
            "iterations": stats["iterations"],
            "extra_info": {k: v for k, v in bench["extra_info"].items() if k != "impl"},
        }
    return {
        "config": {
            "files": list(MICRO_FILES),
            "max_time": args.micro_max_time,
            "min_rounds": args.micro_min_rounds,
            "k": args.micro_k,
            "spread": "interquartile range of the rounds / median",
        },
        "machine_info": data.get("machine_info", {}),
        "pytest_exit_code": code,
        "failures": failures,
        "skipped": skipped,
        "elapsed": elapsed,
        "cells": _sorted_micro(list(cells.values())),
    }


_SIZE = re.compile(r"^(.*?)(\d+) (B|KiB|MiB)(.*)$")
_UNIT = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}
_MICRO_ORDER = ("mask", "utf8", "frame parse", "frame serialize", "deflate", "inflate", "compress", "decompress")


def _sorted_micro(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(cell: dict[str, Any]) -> tuple:
        name = cell["name"]
        family = next((i for i, p in enumerate(_MICRO_ORDER) if name.startswith(p)), 99)
        match = _SIZE.match(name)
        if match is None:
            return (family, name, 0, "")
        prefix, number, unit, suffix = match.groups()
        return (family, prefix, int(number) * _UNIT[unit], suffix)

    return sorted(cells, key=key)


# --- echo and throughput --------------------------------------------------------------------------


def _e2e_plan(args: argparse.Namespace, group: str) -> list[dict[str, Any]]:
    """Every cell of an end-to-end group: lib, loop, size, kind, compression."""
    if group == "echo":
        variants = ECHO_VARIANTS[args.profile]
        if args.kinds or args.compression is not None:
            kinds = args.kinds or ["binary"]
            compressions = [args.compression] if args.compression is not None else [False]
            variants = [(k, c, None) for k in kinds for c in compressions]
        sizes = args.echo_sizes
    else:
        variants = [(kind, False, None) for kind in (args.kinds or ["binary"])]
        if args.compression:
            variants = [(kind, True, None) for kind, _, _ in variants]
        sizes = args.throughput_sizes
    plan = []
    for variant in variants:
        kind, compression, variant_loops = variant[:3]
        tls = bool(variant[3]) if len(variant) > 3 else False
        for lib in args.libs:
            if compression and lib not in DEFLATE_LIBS and lib not in RAW_LIBS:
                continue
            if tls and lib not in TLS_LIBS:
                continue
            loops = [lp for lp in (variant_loops or args.loops) if lp in args.loops]
            if _is_sync(lib):
                loops = [lp for lp in loops if lp in args.sync_loops]
            for loop in loops:
                for size in sizes:
                    plan.append(
                        {
                            "lib": lib,
                            "loop": loop,
                            "size": size,
                            "kind": kind,
                            "compression": compression,
                            "tls": tls,
                        }
                    )
    return plan


def e2e_cell_name(kind: str, compression: bool, size: int, loop: str, tls: bool = False) -> str:
    return f"{kind}{'+deflate' if compression else ''}{'+wss' if tls else ''} {size_label(size)} {loop}"


def run_e2e(
    args: argparse.Namespace, group: str, progress: Progress, libraries: dict[str, Any]
) -> dict[str, Any]:
    mode = "echo" if group == "echo" else "stream"
    pin = args.pin if args.pin is not None else ("same" if group == "echo" else "split")
    plan = _e2e_plan(args, group)
    unavailable: dict[str, str] = {}
    for compression, tls in sorted({(entry["compression"], entry["tls"]) for entry in plan}):
        for lib in sorted(
            {e["lib"] for e in plan if (e["compression"], e["tls"]) == (compression, tls)}
        ):
            key = (lib, compression, tls)
            if key not in libraries:
                libraries[key] = probe(lib, compression, tls)
            info, why = libraries[key]
            if info is None:
                name = f"{lib}{' +deflate' if compression else ''}{' +wss' if tls else ''}"
                unavailable[name] = why or "?"
    unavailable_loops = {loop: why for loop in args.loops if (why := loop_available(loop))}
    plan = [
        entry
        for entry in plan
        if libraries[(entry["lib"], entry["compression"], entry["tls"])][0] is not None
        and entry["loop"] not in unavailable_loops
    ]
    total = len(plan) * args.repeats
    progress.line(
        f"[{group}] {len(plan)} cells x {args.repeats} repeats, {args.duration:g} s each "
        f"after {args.warmup:g} s warm-up, pinning {pin}; "
        f"about {total * (args.duration + args.warmup + CELL_OVERHEAD) / 60:.1f} min"
    )
    for name, why in unavailable.items():
        progress.line(f"[{group}] {name}: unavailable ({why})")
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    tls_files = tempfile.TemporaryDirectory(prefix="bench-tls-")
    if any(entry["tls"] for entry in plan):
        write_tls_files(tls_files.name)
    for repeat in range(args.repeats):
        order = list(plan)
        random.Random(args.seed + repeat + (1000 if mode == "stream" else 0)).shuffle(order)
        for entry in order:
            run: dict[str, Any] = {"repeat": repeat, **entry}
            label = (
                f"[{group} {len(runs) + 1}/{total}] {entry['lib']} "
                f"{e2e_cell_name(entry['kind'], entry['compression'], entry['size'], entry['loop'], entry['tls'])}"
            )
            progress.status(label)
            try:
                run.update(
                    run_cell(
                        entry["lib"],
                        entry["loop"],
                        entry["size"],
                        args.duration,
                        args.warmup,
                        entry["compression"],
                        pin,
                        mode,
                        entry["kind"],
                        tls_files.name if entry["tls"] else "",
                    )
                )
                text = f"{label}: {format_value(run['rate'], '/s')}"
            except (CellError, json.JSONDecodeError, OSError) as exc:
                run["error"] = str(exc)
                text = f"{label}: ERROR {exc}"
            runs.append(run)
            if progress.tty:
                progress.status(text + _eta(started, len(runs), total))
            else:
                progress.line(text + _eta(started, len(runs), total))
    progress.line(f"[{group}] {total} runs in {time.monotonic() - started:.0f} s")
    tls_files.cleanup()

    cells: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for entry in plan:
        name = e2e_cell_name(
            entry["kind"], entry["compression"], entry["size"], entry["loop"], entry["tls"]
        )
        cell = cells.setdefault(
            name,
            {
                "group": group,
                "name": name,
                "unit": "/s",
                "higher_is_better": True,
                "kind": entry["kind"],
                "compression": entry["compression"],
                "tls": entry["tls"],
                "size": entry["size"],
                "loop": entry["loop"],
                "results": {},
            },
        )
        mine = [
            r for r in runs if all(r[k] == entry[k] for k in ("lib", "loop", "size", "kind", "compression", "tls"))
        ]
        rates = [r["rate"] for r in mine if "error" not in r]
        if rates:
            summary = summarize(rates)
            summary["spread"] = (summary["max"] - summary["min"]) / summary["median"] if len(rates) > 1 else None
            summary["client_cpu"] = statistics.median(r["client_cpu"] for r in mine if "error" not in r)
            summary["bytes_per_s"] = summary["median"] * entry["size"]
            cell["results"][entry["lib"]] = summary
        failures = [r["error"] for r in mine if "error" in r]
        if failures:
            errors[f"{entry['lib']} {name}"] = f"{len(failures)}/{len(mine)} runs failed: {failures[0]}"
    return {
        "config": {
            "mode": mode,
            "libs": args.libs,
            "loops": args.loops,
            "sync_loops": args.sync_loops,
            "sizes": args.echo_sizes if group == "echo" else args.throughput_sizes,
            "repeats": args.repeats,
            "duration": args.duration,
            "warmup": args.warmup,
            "pin": pin,
            "seed": args.seed,
            "spread": "(max - min) / median over the repeats",
        },
        "unavailable": unavailable,
        "unavailable_loops": unavailable_loops,
        "errors": errors,
        "runs": runs,
        "cells": list(cells.values()),
    }


# --- scale --------------------------------------------------------------------------------------


def run_scale_group(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from . import scale

    libs = [lib for lib in args.libs if lib in scale.SCALE_LIBS]
    scale_args = argparse.Namespace(
        libs=libs,
        connections=args.connections,
        interval=1.0,
        message_size=64,
        duration=args.scale_duration,
        warmup=args.scale_warmup,
        repeats=args.scale_repeats,
        loop="asyncio",
        quiet=False,
    )
    estimate = len(libs) * args.scale_repeats * (args.scale_duration + args.scale_warmup + 4)
    progress.line(
        f"[scale] {len(libs)} servers x {args.scale_repeats} repeat(s), {args.connections} "
        f"connections, a 64 B message per second each; about {estimate / 60:.1f} min"
    )

    class _Log:
        def write(self, text: str) -> None:
            if text.strip():
                progress.line(f"[scale] {text.strip()}")

        def flush(self) -> None:
            pass

    results = scale.run(scale_args, log=_Log())  # type: ignore[arg-type]
    memory = {"group": "scale", "name": "memory per connection", "unit": "B", "higher_is_better": False, "results": {}}
    cpu = {"group": "scale", "name": "CPU per message", "unit": "s", "higher_is_better": False, "results": {}}
    latency = {"group": "scale", "name": "echo latency p99", "unit": "s", "higher_is_better": False, "results": {}}
    for summary in results["summary"]:
        for cell, key in ((memory, "memory_per_connection"), (cpu, "cpu_per_message"), (latency, "latency_p99")):
            figures = dict(summary[key])
            figures["spread"] = (
                (figures["max"] - figures["min"]) / figures["median"]
                if figures["median"] and figures["n"] > 1
                else None
            )
            cell["results"][summary["lib"]] = figures
    results["cells"] = [memory, cpu, latency]
    return results


# --- uvicorn ------------------------------------------------------------------------------------


def run_uvicorn_group(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """uvicorn's echo on each websockets (bench/uvicorn_echo.py), interleaved like the others."""
    from . import uvicorn_echo

    servers = [s for s in uvicorn_echo.SERVERS if s == "websockets" or s in args.libs]
    sizes = args.uvicorn_sizes
    progress.line(
        f"[uvicorn] {len(servers)} servers x {len(sizes)} sizes x {args.repeats} repeats, "
        f"{args.duration:g} s each after {args.warmup:g} s warm-up, --http {args.uvicorn_http}, "
        f"client {uvicorn_echo.CLIENT}; about "
        f"{len(servers) * len(sizes) * args.repeats * (args.duration + args.warmup + 1.0) / 60:.1f} min"
    )
    data = uvicorn_echo.run(
        servers, sizes, args.duration, args.warmup, args.repeats, args.pin or "same",
        args.uvicorn_http, "asyncio", "binary", args.seed, say=progress.line,
    )
    progress.line(f"[uvicorn] {len(data['runs'])} runs in {data['elapsed']:.0f} s")
    # uvicorn_echo keys a summary by the server; the report's roles read websockets as the peer.
    return data


# --- report -------------------------------------------------------------------------------------


def _best(results: dict[str, Any], names: list[str], higher: bool) -> str | None:
    if not names:
        return None
    return max(names, key=lambda n: results[n]["median"] if higher else -results[n]["median"])


def _ratio(mine: float, theirs: float, higher: bool) -> float:
    return mine / theirs if higher else theirs / mine


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def table_rows(cell: dict[str, Any], outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per wsfast implementation of a cell, with its best peer and limit."""
    results, higher, unit = cell["results"], cell["higher_is_better"], cell["unit"]
    rows = []
    for impl, mine in results.items():
        if role(impl) != "wsfast":
            continue
        peers = [n for n in results if role(n) == "peer" and _is_sync(n) == _is_sync(impl)]
        limits = [n for n in results if role(n) == "limit"]
        best, limit = _best(results, peers, higher), _best(results, limits, higher)
        row = {
            "cell": cell["name"],
            "impl": impl,
            "median": mine["median"],
            "display": format_value(mine["median"], unit),
            "spread": mine.get("spread"),
            "best_peer": best,
            "best_peer_median": results[best]["median"] if best else None,
            "vs_best_peer": _ratio(mine["median"], results[best]["median"], higher) if best else None,
            "limit": limit,
            "limit_median": results[limit]["median"] if limit else None,
            "vs_limit": _ratio(mine["median"], results[limit]["median"], higher) if limit else None,
            "targets": [
                o for o in outcomes if o["group"] == cell["group"] and o["cell"] == cell["name"] and o["impl"] == impl
            ],
        }
        rows.append(row)
    return rows


def _target_text(outcomes: list[dict[str, Any]]) -> str:
    parts = []
    for o in outcomes:
        mark = {"met": "ok", "missed": "MISS", "within noise": "~"}[o["status"]]
        parts.append(f"{o['goal']}: {o['display']} {mark} ({o['progress'] * 100:.0f}%)")
    return "; ".join(parts)


def _print_table(header: list[str], rows: list[list[str]], out: TextIO, right: tuple[int, ...] = ()) -> None:
    """A plain-text table; the columns numbered in ``right`` are right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.rjust(w) if i in right else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths))).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=out)


GROUP_TITLES = {
    "micro": "Micro-benchmarks: median time per operation (lower is better)",
    "echo": "Echo: median round trips per second (higher is better)",
    "throughput": "One-way throughput: median messages per second (higher is better)",
    "scale": "Connection scale: per connection and per message, server side (lower is better)",
    "uvicorn": "uvicorn (--ws websockets-sansio): median round trips per second, server on websockets or on wsfast installed as websockets (higher is better)",
}


def report(results: dict[str, Any], out: TextIO = sys.stdout) -> None:
    outcomes = results["targets"]
    for group in GROUPS:
        data = results["groups"].get(group)
        if not data:
            continue
        print(f"\n{GROUP_TITLES[group]}", file=out)
        if group == "scale":
            cfg = data["config"]
            print(
                f"{cfg['connections']} connections, one {cfg['message_size']} B message each per "
                f"{cfg['interval']:g} s, {cfg['duration']:g} s timed, {cfg['repeats']} repeat(s)",
                file=out,
            )
        elif group == "uvicorn":
            cfg = data["config"]
            print(
                f"{cfg['repeats']} repeats of {cfg['duration']:g} s, pinning {cfg['pin']}, --http "
                f"{cfg['http']}; client: {cfg['client']}; x peer: wsfast's server / websockets'",
                file=out,
            )
        elif group != "micro":
            cfg = data["config"]
            print(
                f"{cfg['repeats']} repeats of {cfg['duration']:g} s, pinning {cfg['pin']}; "
                "x peer / x limit: speed relative to the best peer / to the limit",
                file=out,
            )
        else:
            print("x peer / x limit: speed relative to the best peer / to the limit (>1: wsfast faster)", file=out)
        header = ["cell", "wsfast", "median", "spread", "best peer", "x peer", "limit", "x limit", "target"]
        rows = []
        for cell in data["cells"]:
            for row in table_rows(cell, outcomes):
                unit = cell["unit"]
                rows.append(
                    [
                        row["cell"],
                        row["impl"],
                        row["display"],
                        _pct(row["spread"]),
                        f"{row['best_peer']} {format_value(row['best_peer_median'], unit)}" if row["best_peer"] else "-",
                        f"{row['vs_best_peer']:.2f}x" if row["vs_best_peer"] else "-",
                        f"{row['limit']} {format_value(row['limit_median'], unit)}" if row["limit"] else "-",
                        f"{row['vs_limit']:.2f}x" if row["vs_limit"] else "-",
                        _target_text(row["targets"]),
                    ]
                )
        if rows:
            _print_table(header, rows, out, right=(2, 3, 5, 7))
        else:
            print("(no wsfast figures)", file=out)
        notes = []
        for name, why in data.get("unavailable", {}).items():
            notes.append(f"  {name}: unavailable: {why}")
        for name, why in data.get("unavailable_loops", {}).items():
            notes.append(f"  {name}: unavailable: {why}")
        for name, why in {**data.get("errors", {}), **data.get("cell_errors", {})}.items():
            notes.append(f"  {name}: {why}")
        for line in data.get("failures", []):
            notes.append(f"  {line}")
        if notes:
            print("Notes:", file=out)
            print("\n".join(notes), file=out)

    if outcomes:
        print("\nTargets (bench/targets.py): measured / goal", file=out)
        rows = []
        for o in outcomes:
            rows.append(
                [
                    f"#{o['issue']}",
                    f"{o['group']}: {o['cell']}",
                    f"{o['impl']} {o['goal']}",
                    o["display"],
                    f"{o['progress'] * 100:.0f}%",
                    o["status"],
                ]
            )
        _print_table(["issue", "cell", "goal", "measured", "of goal", "status"], rows, out, right=(3, 4))
        met = sum(o["status"] == "met" for o in outcomes)
        noise = sum(o["status"] == "within noise" for o in outcomes)
        print(f"{met} of {len(outcomes)} met, {noise} within noise, {len(outcomes) - met - noise} missed", file=out)
        measured = {(o["text"], o["impl"]) for o in outcomes}
        missing = [t for t in TARGETS if (t.text, t.impl) not in measured and t.group in results["groups"]]
        for t in missing:
            print(f"  not measured in this run: #{t.issue} {t.group}, {t.impl}: {t.text}", file=out)

    noise = results["noise"]
    print("\nNoise (spread: micro, interquartile range of the rounds / median; end-to-end, "
          "(max - min) / median of the repeats)", file=out)
    for group, figures in noise["groups"].items():
        if figures["cells"]:
            print(
                f"  {group}: spread median {_pct(figures['median'])}, "
                f"90th percentile {_pct(figures['p90'])} over {figures['cells']} figures; "
                f"noisiest: {figures['worst']} ({_pct(figures['worst_spread'])})",
                file=out,
            )
        else:
            print(f"  {group}: one repeat, no spread", file=out)
    load = noise["load"]
    print(
        f"  load average (1 min) at start {load['start'][0]:.2f}, at end {load['end'][0]:.2f}, "
        f"on {results['meta']['cpu_count']} CPUs",
        file=out,
    )


def noise_summary(groups: dict[str, Any], load_start: tuple, load_end: tuple) -> dict[str, Any]:
    summary: dict[str, Any] = {"groups": {}, "load": {"start": load_start, "end": load_end}}
    for group, data in groups.items():
        spreads = []
        for cell in data["cells"]:
            for impl, figures in cell["results"].items():
                if figures.get("spread") is not None:
                    spreads.append((figures["spread"], f"{cell['name']} {impl}"))
        spreads.sort()
        if spreads:
            values = [s for s, _ in spreads]
            summary["groups"][group] = {
                "cells": len(values),
                "median": statistics.median(values),
                "p90": values[min(len(values) - 1, int(len(values) * 0.9))],
                "worst": spreads[-1][1],
                "worst_spread": spreads[-1][0],
            }
        else:
            summary["groups"][group] = {"cells": 0}
    return summary


# --- machine ------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*command: str) -> str | None:
    try:
        proc = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def machine_name() -> str:
    name = os.environ.get("WSFAST_BENCH_MACHINE") or platform.node() or "machine"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "machine"


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("wsfast", "websockets", "aiohttp", "picows", "wsproto", "wsaccel", "websocket-client", "uvloop", "pytest-benchmark", "zlib-ng", "isal", "uvicorn", "h11", "httptools"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _wsfast_info() -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        import wsfast.speedups as speedups

        info["implementation"] = speedups.IMPLEMENTATION
        from wsfast import _speedups

        info["mask_impl"] = getattr(_speedups, "MASK_IMPL", None)
        info["utf8_impl"] = getattr(_speedups, "UTF8_IMPL", None)
    except ImportError as exc:
        info["error"] = str(exc)
    return info


def meta(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "date": now.strftime("%Y-%m-%d"),
        "started": now.isoformat(timespec="seconds"),
        "machine": machine_name(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": _versions(),
        "wsfast": _wsfast_info(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "src", "csrc")),
        "command": "python -m bench " + shlex.join(argv),
        "profile": args.profile,
    }


# --- main ---------------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _sizes(text: str) -> list[int]:
    from .echo.run import _size

    return [_size(item) for item in _csv(text)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="wsfast's benchmark suite against its peers: micro-benchmarks, echo round "
        "trips, one-way throughput and connection scale, with a report, a JSON file and charts "
        "in bench/results/.",
    )
    parser.add_argument("--groups", type=_csv, default=list(GROUPS), help=f"default: {','.join(GROUPS)}")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", action="store_const", dest="profile", const="quick", help="a short look (a few minutes): fewer cells, short runs, 2 repeats")
    profile.add_argument("--full", action="store_const", dest="profile", const="full", help="every variant on both loops, 5 repeats (long)")
    parser.set_defaults(profile="standard")
    parser.add_argument("--libs", type=_csv, help=f"end-to-end libraries (default: all of {','.join(LIBS)})")
    parser.add_argument("--loops", type=_csv, help="event loops for asyncio libraries")
    parser.add_argument("--sync-loops", type=_csv, help="server loops for the threading clients")
    parser.add_argument("--echo-sizes", type=_sizes, help="echo message sizes (256,8k,256k)")
    parser.add_argument("--throughput-sizes", type=_sizes, help="stream message sizes (64,1M)")
    parser.add_argument("--uvicorn-sizes", type=_sizes, default=[256, 8192], help="uvicorn echo message sizes (256,8k)")
    parser.add_argument("--uvicorn-http", choices=("h11", "httptools"), default="h11", help="uvicorn's HTTP implementation (h11)")
    parser.add_argument("--kinds", type=_csv, help="message kinds (binary,text); overrides the profile's echo variants")
    parser.add_argument("--compression", action=argparse.BooleanOptionalAction, default=None, help="with --kinds: permessage-deflate on or off")
    parser.add_argument("--repeats", type=int, help="repeats of every end-to-end cell")
    parser.add_argument("--duration", type=float, help="timed seconds per end-to-end run")
    parser.add_argument("--warmup", type=float, help="untimed seconds per end-to-end run")
    parser.add_argument("--pin", choices=("none", "same", "split"), help="CPU affinity of server and client (default: same for echo, split for throughput)")
    parser.add_argument("--seed", type=int, default=6455)
    parser.add_argument("--connections", type=int, help="scale: concurrent connections")
    parser.add_argument("--scale-duration", type=float, help="scale: timed seconds")
    parser.add_argument("--scale-repeats", type=int, default=None, help="scale: repeats (default 1; 2 with --full)")
    parser.add_argument("--micro-max-time", type=float, help="pytest-benchmark --benchmark-max-time")
    parser.add_argument("-k", dest="micro_k", help="pytest -k expression for the micro group")
    parser.add_argument("--micro-timeout", type=float, default=1200.0, help="give up on pytest after this many seconds")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/<date>-<machine>.json)")
    parser.add_argument("--no-charts", action="store_true", help="no PNG charts")
    parser.add_argument("--performance-page", type=Path, metavar="PAGE", help="also write the performance page (docs/performance.md) from this run, keeping its hand-written part")
    parser.add_argument("--readme-section", type=Path, dest="performance_page", help=argparse.SUPPRESS)  # the older name
    parser.add_argument("--readme", type=Path, metavar="README", help="with --performance-page: also rewrite the headline figures in this README (README.md)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress")
    args = parser.parse_args(argv)

    settings = PROFILES[args.profile]
    for name in ("loops", "sync_loops", "echo_sizes", "throughput_sizes", "repeats", "duration", "warmup", "connections", "scale_duration"):
        if getattr(args, name) is None:
            setattr(args, name, settings[name])
    args.scale_warmup = settings["scale_warmup"]
    if args.micro_max_time is None:
        args.micro_max_time = settings["micro_max_time"]
    args.micro_min_rounds = settings["micro_min_rounds"]
    if args.scale_repeats is None:
        args.scale_repeats = 2 if args.profile == "full" else 1
    if args.libs is None:
        args.libs = list(LIBS)
    for group in args.groups:
        if group not in GROUPS:
            parser.error(f"unknown group {group!r}; choose from {', '.join(GROUPS)}")
    for lib in args.libs:
        if lib not in LIBS:
            parser.error(f"unknown library {lib!r}; choose from {', '.join(LIBS)}")
    for loop in args.loops + args.sync_loops:
        if loop not in LOOPS:
            parser.error(f"unknown loop {loop!r}; choose from {', '.join(LOOPS)}")
    for kind in args.kinds or []:
        if kind not in ("binary", "text"):
            parser.error(f"unknown kind {kind!r}; choose from binary, text")
    if args.repeats < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("need --repeats >= 1, --duration > 0, --warmup >= 0")
    if args.readme and not args.performance_page:
        parser.error("--readme needs --performance-page")
    return args


def run(args: argparse.Namespace, argv: list[str], progress: Progress) -> dict[str, Any]:
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    started = time.monotonic()
    results: dict[str, Any] = {"meta": meta(args, argv), "groups": {}}
    libraries: dict[Any, Any] = {}
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "micro": lambda: run_micro(args, progress),
        "echo": lambda: run_e2e(args, "echo", progress, libraries),
        "throughput": lambda: run_e2e(args, "throughput", progress, libraries),
        "scale": lambda: run_scale_group(args, progress),
        "uvicorn": lambda: run_uvicorn_group(args, progress),
    }
    for group in GROUPS:
        if group not in args.groups:
            continue
        try:
            results["groups"][group] = runners[group]()
        except CellError as exc:
            progress.line(f"[{group}] FAILED: {exc}")
            results["groups"][group] = {"error": str(exc), "cells": []}
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    results["meta"]["elapsed"] = time.monotonic() - started
    results["meta"]["libraries"] = {
        f"{lib}{' +deflate' if compression else ''}{' +tls' if tls else ''}": info
        for (lib, compression, tls), (info, _) in libraries.items()
        if info is not None
    }
    cells = [cell for data in results["groups"].values() for cell in data["cells"]]
    results["targets"] = evaluate(cells)
    results["noise"] = noise_summary(results["groups"], load_start, load_end)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    progress = Progress(sys.stderr, args.quiet)
    results = run(args, argv, progress)
    report(results)
    m = results["meta"]
    out = args.out or RESULTS / f"{m['date']}-{m['machine']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    charts: list[str] = []
    if not args.no_charts:
        try:
            from .charts import write_charts

            charts = [str(path) for path in write_charts(results, out.with_suffix(""))]
        except ImportError as exc:
            print(f"\nno charts: {exc} (pip install matplotlib)")
    results["charts"] = [os.path.relpath(c, out.parent) for c in charts]
    out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {os.path.relpath(out)}" + "".join(f"\nwrote {os.path.relpath(c)}" for c in charts))
    if args.performance_page:
        from .readme import write_page

        write_page(results, out, args.performance_page, args.readme)
        print(f"wrote {os.path.relpath(args.performance_page)}" + (f" and {os.path.relpath(args.readme)}" if args.readme else ""))
    print(f"{m['elapsed'] / 60:.1f} min in all")
    return 0
