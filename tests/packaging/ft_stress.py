#!/usr/bin/env python3
"""Concurrency smoke test for wsfast._speedups' process-wide state.

Many threads at once, each with its own FrameWriter(mask=True) and FrameReader, send frames of
every length class through the reader's get_buffer()/buffer_updated() path: the masking-key
pool (_next_mask_key) and the receive-buffer pool (_pool_take/_pool_give) are then used from
all threads together. A shared FrameWriter hands out keys to all threads too; a pool position
handed out twice would show as many repeated keys (by chance, 4-byte keys repeat about once in
five runs of this size, hence the small allowance).

On a free-threaded interpreter the threads really run in parallel; on others this is a plain
functional test. Exit status 0 on success. Usage: python ft_stress.py [threads] [rounds]
"""

from __future__ import annotations

import random
import sys
import sysconfig
import threading
from collections import Counter

import wsfast._speedups as c

SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 70_000, 200_000]


def round_trips(rounds: int, seed: int, errors: list[str], barrier: threading.Barrier) -> None:
    rng = random.Random(seed)
    writer = c.FrameWriter(mask=True)
    reader = c.FrameReader(mask=True, max_size=None)
    barrier.wait()
    try:
        for n in range(rounds):
            size = SIZES[n % len(SIZES)]
            text = n % 2 == 0
            payload = ("é" * (size // 2)) if text else rng.randbytes(size)
            data = writer.frame(0x1 if text else 0x2, payload.encode() if text else payload)
            got = []
            position = 0
            while position < len(data):
                target = reader.get_buffer()
                count = min(len(target), len(data) - position, rng.choice((7, 4096, 1 << 20)))
                with memoryview(target) as view:
                    view[:count] = data[position:position + count]
                reader.buffer_updated(count)
                position += count
                got.extend(reader.read_messages())
            if got != [payload]:
                errors.append(f"thread {seed}: round {n} ({size} bytes) came back wrong")
                return
    except BaseException as exc:  # noqa: BLE001 - reported to the main thread
        errors.append(f"thread {seed}: {type(exc).__name__}: {exc}")


def shared_keys(writer: object, count: int, out: list[bytes], barrier: threading.Barrier) -> None:
    barrier.wait()
    frames = [writer.frame(0x2, b"") for _ in range(count)]  # type: ignore[attr-defined]
    out.extend(frame[2:6] for frame in frames)


def main() -> int:
    threads_count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    errors: list[str] = []
    barrier = threading.Barrier(threads_count)
    threads = [
        threading.Thread(target=round_trips, args=(rounds, seed, errors, barrier))
        for seed in range(threads_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    writer = c.FrameWriter(mask=True)
    keys: list[bytes] = []
    per_thread = 5000
    barrier = threading.Barrier(threads_count)
    threads = [
        threading.Thread(target=shared_keys, args=(writer, per_thread, keys, barrier))
        for _ in range(threads_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    repeats = sum(n - 1 for n in Counter(keys).values() if n > 1)
    if len(keys) != threads_count * per_thread:
        errors.append(f"expected {threads_count * per_thread} keys, got {len(keys)}")
    if repeats > 3:
        errors.append(f"{repeats} repeated masking keys among {len(keys)}: a pool race")

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"ft_stress: {threads_count} threads x {rounds} round trips, {len(keys)} shared keys "
        f"({repeats} repeats); free-threaded build: "
        f"{bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}, GIL enabled: {gil}"
    )
    for error in errors:
        print("ERROR", error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
