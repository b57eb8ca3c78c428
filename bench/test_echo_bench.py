"""A short run of the end-to-end echo benchmark (``python -m bench.echo``).

It starts server and client processes, so it only runs when asked: with
``--benchmark-only`` or with ``WSFAST_ECHO_BENCH=1`` in the environment. The full
benchmark is ``python -m bench.echo``; see bench/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBS = ("raw", "websockets", "wsfast")
TIMEOUT = 180


def _requested(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_only", default=False)) or os.environ.get(
        "WSFAST_ECHO_BENCH", ""
    ) not in ("", "0")


@pytest.mark.slow
def test_echo_round_trips(benchmark, request, tmp_path):
    if not _requested(request.config):
        pytest.skip("echo benchmark: pass --benchmark-only or set WSFAST_ECHO_BENCH=1")
    out = tmp_path / "echo.json"
    command = [
        sys.executable,
        "-m",
        "bench.echo",
        "--libs",
        ",".join(LIBS),
        "--loops",
        "asyncio",
        "--sizes",
        "256",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--repeats",
        "1",
        "--quiet",
        "--json",
        str(out),
    ]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )

    proc = benchmark.pedantic(run, rounds=1, iterations=1)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert not results["cell_errors"], results["cell_errors"]
    rates = {s["lib"]: s["median"] for s in results["summary"]}
    benchmark.extra_info["round_trips_per_s"] = rates
    benchmark.extra_info["unavailable"] = results["unavailable"]
    for lib in ("raw", "websockets"):
        assert rates.get(lib, 0) > 0, (lib, results["unavailable"])
    # wsfast either ran or says why it could not.
    assert "wsfast" in rates or "wsfast" in results["unavailable"]
