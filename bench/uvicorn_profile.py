"""What share of a uvicorn server's time is websockets' (or wsfast's) code: ``python -m bench.uvicorn_profile``.

The ceiling of any websockets replacement under uvicorn: if the library's code takes a share
``s`` of the server's samples, removing it entirely speeds the server up by at most
``1 / (1 - s)``. The server is bench/uvicorn_echo's (``--serve SERVER``, pinned to CPU 0
with the client, as that benchmark's default); the client is wsfast's asyncio client echoing
one message at a time; py-spy (``pip install py-spy``) samples the server's Python stacks.
A sample counts for the library when any frame of its stack is in a ``websockets/`` or
``wsfast/`` file (C extension time shows under the Python frame that called it).

    python -m bench.uvicorn_profile --sizes 256,8k --seconds 6
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .echo.run import _size

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_FRAME = re.compile(r"\((?:websockets|wsfast)/")


def library_share(raw_profile: Path) -> tuple[int, int]:
    """(samples in the library's code, all samples) of a py-spy ``--format raw`` profile."""
    total = library = 0
    for line in raw_profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        if LIBRARY_FRAME.search(stack):
            library += int(count)
    return library, total


async def echo_for(port: int, size: int, seconds: float) -> int:
    from wsfast.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/", max_size=None) as websocket:
        message, count = b"x" * size, 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await websocket.send(message)
            await websocket.recv()
            count += 1
    return count


def measure(server: str, size: int, seconds: float, directory: Path) -> tuple[float, int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.uvicorn_echo", "--serve", server, "--cpus", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        port = int(process.stdout.readline().split()[-1])
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {0})
        output = directory / f"{server}-{size}.txt"

        async def run() -> int:
            load = asyncio.ensure_future(echo_for(port, size, seconds + 2))
            await asyncio.sleep(1)  # warm-up, then sample the steady state
            spy = await asyncio.create_subprocess_exec(
                "py-spy", "record", "--pid", str(process.pid), "-d", str(int(seconds)),
                "-r", "400", "--format", "raw", "--nonblocking", "-o", str(output),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            count = await load
            await spy.wait()
            return count

        count = asyncio.run(run())
        library, total = library_share(output)
        return count / (seconds + 2), library, total
    finally:
        process.stdin.close()
        process.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.uvicorn_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="websockets,wsfast")
    parser.add_argument("--sizes", type=lambda text: [_size(item) for item in text.split(",")], default=[256, 8192])
    parser.add_argument("--seconds", type=float, default=6.0, help="sampled seconds per cell")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    print("| server | size | round trips/s | library share of server samples | ceiling 1/(1-share) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as directory:
        for size in args.sizes:
            for server in args.servers.split(","):
                rate, library, total = measure(server, size, args.seconds, Path(directory))
                share = library / total if total else 0.0
                print(f"| {server} | {size} | {rate:,.0f} | {share:.1%} ({library}/{total}) "
                      f"| {1 / (1 - share):.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
