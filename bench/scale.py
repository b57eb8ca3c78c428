"""Connection scale: N concurrent connections, each sending one message per second.

    python -m bench.scale [--libs wsfast,websockets,...] [--connections 1000] [--duration 5]

For each library, a server process (``bench.echo.servers``, echo mode, keepalive pings off)
and a client process (this module with ``--client``) run on 127.0.0.1. The client opens the
connections in waves, with hand-written handshakes on plain sockets so that the client side
costs little, then makes every connection send one masked binary message of ``--message-size``
bytes per ``--interval`` seconds, the sends spread evenly over the interval. The server echoes
each one; the client checks the echoes and times them.

Measured on the server process, from /proc (Linux only):

* memory per connection: growth of the server's resident memory (VmRSS) from before the first
  connection to the end of the timed window, divided by N. Handshake state, buffers and
  anything the library keeps per connection count; kernel socket buffers don't.
* CPU per message: the CPU time of the server's main thread (the event loop) during the
  timed window, divided by the messages echoed in it; and the server's CPU use as a share of
  one core.

The client reports messages sent and echoed, and the echo latency (median and 99th
percentile). Every wait is bounded; the client stops by itself after warm-up + duration.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from .echo.common import HOST, lib_env, raise_fd_limit
from .echo.run import CellError, _first_line, _readline, _stop, probe, summarize

ROOT = Path(__file__).resolve().parents[1]

#: Server libraries the scale run knows (threading servers would need a thread per connection).
SCALE_LIBS = ("websockets", "aiohttp", "picows", "picows.websockets", "wsfast", "wsfast-python")

PORT_TIMEOUT = 30.0
OPEN_TIMEOUT = 120.0
WAVE = 50  # connections opened at a time: keeps the listen backlog short
DRAIN = 2.0  # seconds the client waits for the last echoes


# --- /proc ---------------------------------------------------------------------------------------


def proc_rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")  # pragma: no cover


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process's main thread, where the event loop runs.

    From /proc/PID/schedstat (nanoseconds on the CPU, user and system) where the kernel has
    it, else user + system time from /proc/PID/stat (clock ticks, 10 ms: too coarse for
    short windows).
    """
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # After the command name: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


# --- the client ----------------------------------------------------------------------------------


def _handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _masked_frame(payload: bytes) -> bytes:
    """One final binary frame, masked as a client must (RFC 6455 5.3); payload < 126 bytes."""
    key = os.urandom(4)
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )
    return bytes((0x82, 0x80 | n)) + key + masked


def _open_all(port: int, count: int, deadline: float) -> tuple[list[socket.socket], list[bytes]]:
    sockets: list[socket.socket] = []
    leftovers: list[bytes] = []
    while len(sockets) < count:
        wave = []
        for _ in range(min(WAVE, count - len(sockets))):
            sock = socket.create_connection((HOST, port), timeout=max(1.0, deadline - time.monotonic()))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(_handshake(port))
            wave.append(sock)
        for sock in wave:
            response = b""
            while b"\r\n\r\n" not in response:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk:
                    raise SystemExit(f"connection {len(sockets)} closed during the handshake")
                response += chunk
            head, _, rest = response.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                raise SystemExit(f"handshake failed: {head[:100]!r}")
            sock.setblocking(False)
            sockets.append(sock)
            leftovers.append(rest)
    return sockets, leftovers


def run_client(
    port: int, count: int, interval: float, size: int, seconds: float, out: TextIO
) -> None:
    """Open ``count`` connections, then send for ``seconds``; print progress and JSON."""
    raise_fd_limit(count + 100)
    if size < 8 or size > 125:
        raise SystemExit("--message-size must be between 8 and 125 bytes")
    started = time.monotonic()
    sockets, leftovers = _open_all(port, count, started + OPEN_TIMEOUT)
    print(f"open {time.monotonic() - started:.3f}", file=out, flush=True)

    frame_size = 2 + size  # server frames are unmasked; size < 126: 2-byte header
    selector = selectors.DefaultSelector()
    buffers = [bytearray(rest) for rest in leftovers]
    for index, sock in enumerate(sockets):
        selector.register(sock, selectors.EVENT_READ, index)
    padding = bytes(size - 8)
    latencies: list[float] = []
    sent = echoed = 0
    errors: list[str] = []
    clock = time.perf_counter
    t0 = clock()
    end = t0 + seconds
    # Connection i sends at t0 + (i / count + k) * interval, k = 0, 1, 2, ...
    step = interval / count
    next_index, next_time = 0, t0

    def read(index: int) -> None:
        nonlocal echoed
        try:
            data = sockets[index].recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            errors.append(f"connection {index}: {exc}")
            selector.unregister(sockets[index])
            return
        if not data:
            errors.append(f"connection {index}: closed by the server")
            selector.unregister(sockets[index])
            return
        buf = buffers[index]
        buf += data
        now = clock()
        while len(buf) >= frame_size:
            if buf[0] != 0x82 or buf[1] != size:
                errors.append(f"connection {index}: unexpected frame {bytes(buf[:2]).hex()}")
                selector.unregister(sockets[index])
                return
            stamp = int.from_bytes(buf[2:10], "little") / 1e9
            latencies.append(now - stamp)
            echoed += 1
            del buf[:frame_size]

    while True:
        now = clock()
        while next_time <= now and next_time < end:
            payload = int(clock() * 1e9).to_bytes(8, "little") + padding
            try:
                sockets[next_index].send(_masked_frame(payload))
                sent += 1
            except OSError as exc:
                errors.append(f"connection {next_index}: send: {exc}")
            next_index += 1
            if next_index == count:
                next_index = 0
            next_time += step
        if now >= end and (echoed >= sent or now >= end + DRAIN):
            break
        timeout = max(0.0, min(next_time, end + DRAIN) - clock())
        for key, _ in selector.select(timeout):
            read(key.data)
        if len(errors) > 100:
            break

    latencies.sort()
    result = {
        "connections": count,
        "sent": sent,
        "echoed": echoed,
        "seconds": seconds,
        "latency_p50": latencies[len(latencies) // 2] if latencies else None,
        "latency_p99": latencies[int(len(latencies) * 0.99)] if latencies else None,
        "errors": errors[:5],
        "error_count": len(errors),
        "client_cpu": time.process_time(),
    }
    print(json.dumps(result), file=out, flush=True)
    for sock in sockets:
        sock.close()


# --- the orchestrator ----------------------------------------------------------------------------


def run_scale_cell(
    lib: str,
    connections: int,
    duration: float,
    warmup: float,
    interval: float = 1.0,
    message_size: int = 64,
    loop: str = "asyncio",
) -> dict[str, Any]:
    """One run: a fresh server and client; returns the figures or raises CellError."""
    if not os.path.exists("/proc/self/stat"):
        raise CellError("the scale run reads /proc (Linux only)")
    with tempfile.TemporaryFile("w+") as server_err, tempfile.TemporaryFile("w+") as client_err:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.echo.servers", lib, loop, "--no-keepalive"],
            cwd=ROOT,
            env=lib_env(lib),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=server_err,
            text=True,
        )
        client = None
        try:
            line = _readline(server.stdout, PORT_TIMEOUT)
            if not line.strip().isdigit():
                server_err.seek(0)
                raise CellError(f"server failed: {_first_line(server_err.read())}")
            time.sleep(0.5)
            rss_before = proc_rss(server.pid)
            client = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.scale",
                    "--client",
                    line.strip(),
                    "--connections",
                    str(connections),
                    "--interval",
                    repr(interval),
                    "--message-size",
                    str(message_size),
                    "--client-seconds",
                    repr(warmup + duration),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=client_err,
                text=True,
            )
            opened = _readline(client.stdout, OPEN_TIMEOUT)
            if not opened.startswith("open"):
                client_err.seek(0)
                raise CellError(f"client failed to open: {_first_line(client_err.read())}")
            open_seconds = float(opened.split()[1])
            time.sleep(warmup)
            cpu0, t0 = proc_cpu(server.pid), time.monotonic()
            time.sleep(duration)
            cpu1, t1 = proc_cpu(server.pid), time.monotonic()
            rss_after = proc_rss(server.pid)
            line = _readline(client.stdout, DRAIN + 30)
            try:
                client_result = json.loads(line)
            except json.JSONDecodeError:
                client_err.seek(0)
                raise CellError(f"client failed: {_first_line(client_err.read())}") from None
            client.wait(30)
            if server.poll() is not None:
                server_err.seek(0)
                raise CellError(f"server exited: {_first_line(server_err.read())}")
        finally:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait(5)
            _stop(server)
    window = t1 - t0
    messages = connections * window / interval  # echoed in the window, by schedule
    if client_result["error_count"]:
        raise CellError(f"{client_result['error_count']} errors: {client_result['errors'][0]}")
    if client_result["echoed"] < 0.99 * client_result["sent"]:
        raise CellError(
            f"only {client_result['echoed']} of {client_result['sent']} messages were echoed"
        )
    cpu = cpu1 - cpu0
    return {
        "lib": lib,
        "loop": loop,
        "connections": connections,
        "interval": interval,
        "message_size": message_size,
        "open_seconds": open_seconds,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "memory_per_connection": (rss_after - rss_before) / connections,
        "server_cpu_seconds": cpu,
        "window": window,
        "server_cpu_share": cpu / window,
        "cpu_per_message": cpu / messages,
        **{f"client_{key}": value for key, value in client_result.items()},
    }


def run(args: argparse.Namespace, log: TextIO = sys.stderr) -> dict[str, Any]:
    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=log, flush=True)

    libraries, unavailable = {}, {}
    for lib in args.libs:
        info, why = probe(lib, False)
        if info is None:
            unavailable[lib] = why or "?"
            say(f"{lib}: unavailable ({why})")
        else:
            libraries[lib] = info
    runs = []
    libs = [lib for lib in args.libs if lib in libraries]
    total = len(libs) * args.repeats
    for repeat in range(args.repeats):
        order = libs if repeat % 2 == 0 else libs[::-1]
        for lib in order:
            entry: dict[str, Any] = {"repeat": repeat, "lib": lib}
            label = f"[{len(runs) + 1}/{total}] {lib} {args.connections} connections"
            try:
                entry.update(
                    run_scale_cell(
                        lib,
                        args.connections,
                        args.duration,
                        args.warmup,
                        args.interval,
                        args.message_size,
                        args.loop,
                    )
                )
                say(
                    f"{label}: {entry['memory_per_connection'] / 1024:.1f} KiB/connection, "
                    f"{entry['cpu_per_message'] * 1e6:.1f} us CPU/message, "
                    f"server CPU {entry['server_cpu_share']:.0%}"
                )
            except (CellError, OSError, subprocess.TimeoutExpired) as exc:
                entry["error"] = str(exc)
                say(f"{label}: ERROR {exc}")
            runs.append(entry)
    summary, cell_errors = [], {}
    for lib in libs:
        mine = [r for r in runs if r["lib"] == lib]
        good = [r for r in mine if "error" not in r]
        if good:
            summary.append(
                {
                    "lib": lib,
                    "memory_per_connection": summarize([r["memory_per_connection"] for r in good]),
                    "cpu_per_message": summarize([r["cpu_per_message"] for r in good]),
                    "server_cpu_share": summarize([r["server_cpu_share"] for r in good]),
                    "latency_p99": summarize(
                        [r["client_latency_p99"] for r in good if r["client_latency_p99"]]
                        or [0.0]
                    ),
                }
            )
        failures = [r["error"] for r in mine if "error" in r]
        if failures:
            cell_errors[lib] = f"{len(failures)}/{len(mine)} runs failed: {failures[0]}"
    return {
        "config": {
            "libs": args.libs,
            "connections": args.connections,
            "interval": args.interval,
            "message_size": args.message_size,
            "duration": args.duration,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "loop": args.loop,
        },
        "libraries": libraries,
        "unavailable": unavailable,
        "cell_errors": cell_errors,
        "runs": runs,
        "summary": summary,
    }


def report(results: dict[str, Any], out: TextIO = sys.stdout) -> None:
    config = results["config"]
    print(
        f"\nConnection scale: {config['connections']} connections, one {config['message_size']} B "
        f"message each per {config['interval']:g} s, {config['duration']:g} s timed, "
        f"median of {config['repeats']} repeat(s), {config['loop']}",
        file=out,
    )
    header = ["server", "KiB/connection", "us CPU/message", "server CPU", "echo p99 ms"]
    rows = []
    for s in results["summary"]:
        rows.append(
            [
                s["lib"],
                f"{s['memory_per_connection']['median'] / 1024:.1f}",
                f"{s['cpu_per_message']['median'] * 1e6:.1f}",
                f"{s['server_cpu_share']['median']:.0%}",
                f"{s['latency_p99']['median'] * 1e3:.1f}",
            ]
        )
    for lib, why in {**results["unavailable"], **results["cell_errors"]}.items():
        rows.append([lib, why, "", "", ""])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))), file=out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="N concurrent connections, each sending a message per interval: server "
        "memory per connection and CPU per message (Linux).",
    )
    parser.add_argument(
        "--libs",
        type=lambda text: [item.strip() for item in text.split(",") if item.strip()],
        default=list(SCALE_LIBS),
        help=f"default: {','.join(SCALE_LIBS)}",
    )
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a connection's messages")
    parser.add_argument("--message-size", type=int, default=64, help="bytes, 8 to 125")
    parser.add_argument("--duration", type=float, default=5.0, help="timed seconds")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds after the connections open")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--client", metavar="PORT", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for lib in args.libs:
        if lib not in SCALE_LIBS:
            parser.error(f"unknown library {lib!r}; choose from {', '.join(SCALE_LIBS)}")
    if not 1 <= args.connections <= 60000 or args.interval <= 0 or args.duration <= 0:
        parser.error("need 1 <= --connections <= 60000, --interval > 0, --duration > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client is not None:
        import faulthandler

        faulthandler.dump_traceback_later(OPEN_TIMEOUT + args.client_seconds + 60, exit=True)
        run_client(
            args.client, args.connections, args.interval, args.message_size,
            args.client_seconds, sys.stdout,
        )
        return 0
    results = run(args)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
