"""One fuzzing process: ``python -m tests.fuzz._worker TARGET [--engine E] [libFuzzer args]``.

``--engine atheris`` (the default) hands the target's ``check`` to atheris, with wsfast and the
harness instrumented for coverage (Python code only: the Cython extension isn't built with
libFuzzer's instrumentation, so its branches guide nothing; the pure twin's, which mirror
them, do). The remaining arguments are libFuzzer's (-max_total_time=, -artifact_prefix=,
corpus directories, ...).

``--engine random`` is a small mutation fuzzer written here, for where atheris can't run
(an interpreter without its wheels, or under a sanitizer runtime that clashes with its
libFuzzer): it reads the same corpus directories, mutates and splices inputs, and understands
the few libFuzzer options the runner passes (-max_total_time, -max_len, -artifact_prefix,
-seed). It prints libFuzzer's ``stat::number_of_executed_units`` line at the end, like
atheris with -print_final_stats=1, and on a finding writes ``crash-<sha1>`` and exits 1.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import sys
import time
import traceback

TARGETS = {
    "frames": "fuzz_frames",
    "http": "fuzz_http",
    "headers": "fuzz_headers",
    "deflate": "fuzz_deflate",
}
PACKAGE = __package__ or "tests.fuzz"


def load(target: str):
    return importlib.import_module(f"{PACKAGE}.{TARGETS[target]}")


def run_atheris(target: str, args: list[str]) -> None:
    import atheris

    # Everything wsfast and the harness import from here on is instrumented.
    with atheris.instrument_imports(include=["wsfast", PACKAGE]):
        module = load(target)
    atheris.Setup([sys.argv[0], *args], module.check)
    atheris.Fuzz()


def _option(args: list[str], name: str, default: str) -> str:
    for arg in args:
        if arg.startswith(f"-{name}="):
            return arg.split("=", 1)[1]
    return default


def _mutate(rng: random.Random, data: bytes, others: list[bytes], max_len: int) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(8)
        position = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(position, len(out) - 1)] = rng.randrange(256)
        elif op == 1 and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 2:
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and out:
            del out[position : position + rng.randint(1, 16)]
        elif op == 4 and out:
            # Interesting values where a length or a limit may sit.
            value = rng.choice([0, 1, 0x7E, 0x7F, 0x80, 0xFF, 0xE0, 0xF0, 0xFE])
            out[min(position, len(out) - 1)] = value
        elif op == 5 and others:
            # Splice with another input.
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            out[position:] = other[cut:]
        elif op == 6 and out:
            # Duplicate a slice.
            start = rng.randrange(len(out))
            out[position:position] = out[start : start + rng.randint(1, 64)]
        elif op == 7 and len(out) > 8:
            # The front holds the options: change one of them.
            out[rng.randrange(8)] = rng.randrange(256)
    return bytes(out[:max_len])


def run_random(target: str, args: list[str]) -> None:
    module = load(target)
    seconds = float(_option(args, "max_total_time", "60"))
    max_len = int(_option(args, "max_len", "4096"))
    prefix = _option(args, "artifact_prefix", "./")
    rng = random.Random(int(_option(args, "seed", str(int(time.time())))))
    corpus: list[bytes] = []
    for directory in (arg for arg in args if not arg.startswith("-")):
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                with open(os.path.join(directory, name), "rb") as file:
                    corpus.append(file.read())
    corpus = corpus or [b""]
    executed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = corpus[executed % len(corpus)] if executed < len(corpus) else _mutate(
            rng, rng.choice(corpus), corpus, max_len
        )
        executed += 1
        try:
            module.check(data)
        except Exception:  # noqa: BLE001 - a finding: report it as libFuzzer would
            path = f"{prefix}crash-{hashlib.sha1(data).hexdigest()}"
            with open(path, "wb") as file:
                file.write(data)
            print("=== Uncaught Python exception: ===", file=sys.stderr)
            traceback.print_exc()
            print(f"Test unit written to {path}", file=sys.stderr)
            print(f"stat::number_of_executed_units: {executed}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(1)
    print(f"Done {executed} runs in {int(seconds)} second(s)", file=sys.stderr)
    print(f"stat::number_of_executed_units: {executed}", file=sys.stderr)


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] not in TARGETS:
        sys.exit(f"usage: python -m {PACKAGE}._worker TARGET [--engine atheris|random] [libFuzzer args]; "
                 f"targets: {', '.join(TARGETS)}")
    target, rest = args[0], args[1:]
    engine = "atheris"
    if rest[:1] == ["--engine"]:
        engine, rest = rest[1], rest[2:]
    if engine == "atheris":
        run_atheris(target, rest)
    else:
        run_random(target, rest)


if __name__ == "__main__":
    main()
