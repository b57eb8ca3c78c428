"""Replay fuzz inputs through a harness: ``python -m tests.fuzz.replay TARGET FILE...``.

Runs each file through ``check()`` of the target (both codecs, as the fuzzer does), printing
the traceback of a finding. ``--minimize OUT`` shrinks a failing input (byte deletions, then
zeroing bytes) while it keeps failing the same way, and writes the result to OUT: that is how
the inputs of tests/fuzz/test_fuzz_regressions.py were made small.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import traceback

from ._worker import TARGETS, load


def signature(check, data: bytes) -> str | None:
    try:
        check(data)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
    return None


def minimize(check, data: bytes, budget: int = 20_000) -> bytes:
    want = signature(check, data)
    assert want is not None, "the input doesn't fail"
    calls = 0
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and calls < budget:
        position = 0
        changed = False
        while position < len(data) and calls < budget:
            candidate = data[:position] + data[position + chunk :]
            calls += 1
            if signature(check, candidate) == want:
                data, changed = candidate, True
            else:
                position += chunk
        if not changed:
            chunk //= 2
    for position in range(len(data)):
        if data[position] and calls < budget:
            candidate = data[:position] + b"\x00" + data[position + 1 :]
            calls += 1
            if signature(check, candidate) == want:
                data = candidate
    return data


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.replay")
    parser.add_argument("target", choices=list(TARGETS))
    parser.add_argument("files", nargs="+", type=pathlib.Path)
    parser.add_argument("--minimize", type=pathlib.Path, metavar="OUT")
    args = parser.parse_args()
    check = load(args.target).check
    failed = 0
    for path in args.files:
        data = path.read_bytes()
        try:
            check(data)
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"{path}: FINDING")
            traceback.print_exc()
            if args.minimize:
                small = minimize(check, data)
                args.minimize.write_bytes(small)
                print(f"minimized to {len(small)} bytes: {small!r}")
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
