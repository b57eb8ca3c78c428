"""Run the fuzz targets for a bounded time and report: ``python -m tests.fuzz.run``.

    python -m tests.fuzz.run [--seconds N] [--target NAME ...] [--engine atheris|random]
                             [--jobs J] [--findings DIR] [--corpus-out DIR] [--json FILE]

Each target runs in its own process (atheris wants one: libFuzzer owns the process and exits
it), for ``--seconds`` seconds (default 60), starting from the seed corpus in
``tests/fuzz/corpus/<target>/``; new interesting inputs go to ``--corpus-out/<target>``
(default: a temporary directory, so the committed seeds stay small). A finding (an uncaught
exception in the harness, a libFuzzer timeout, out-of-memory or a crash of the process) is
copied to ``--findings/<target>/`` with the first line of its error; the target then goes on
for the rest of its time, stopping early when a finding repeats. The report gives, per
target, the inputs executed, the time, and the findings; the exit status is 1 when there is
any finding, 2 when a target could not run at all.

``--engine random`` uses the small mutation fuzzer of tests/fuzz/_worker.py instead of
atheris (for interpreters without atheris, and for sanitizer runs where atheris's libFuzzer
and the compiler's sanitizer runtime don't mix). Targets: frames, http, headers, deflate.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"
TARGETS = ("frames", "http", "headers", "deflate")
MAX_LEN = {"frames": 8192, "http": 8192, "headers": 2048, "deflate": 4096}
# Seconds one input may take before libFuzzer calls it a hang (each input is small: the
# header parsers promise linear time, the deflate harness inflates a few MiB at most).
UNIT_TIMEOUT = 20
RSS_LIMIT_MB = 2048
MAX_FINDINGS = 5
ARTIFACT = re.compile(r"^(crash|timeout|oom|leak|slow-unit)-[0-9a-f]+$")


@dataclass
class Result:
    target: str
    engine: str
    seconds: float = 0.0
    executed: int = 0
    runs: int = 0
    findings: list[dict] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    error: str | None = None


def atheris_available() -> str | None:
    """None when atheris imports in this interpreter, else why not."""
    try:
        import atheris  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure means no atheris here
        return f"atheris is not importable on {sys.version.split()[0]}: {exc} (pip install atheris)"
    return None


def summarise(output: str) -> str:
    """The first line that says what went wrong, from libFuzzer's or the harness's output."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if "Uncaught Python exception" in line:
            for following in lines[index + 1 :]:
                if following.strip() and not following.startswith("Traceback"):
                    return following.strip()
    for pattern in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: libFuzzer",
                    "SUMMARY:", "Fatal Python error"):
        for line in lines:
            if pattern in line:
                return line.strip()
    return "unknown failure (see the log)"


def run_target(target: str, seconds: float, engine: str, corpus_out: pathlib.Path,
               findings_dir: pathlib.Path, logs: pathlib.Path, extra: list[str]) -> Result:
    result = Result(target, engine)
    work = corpus_out / target
    work.mkdir(parents=True, exist_ok=True)
    artifacts = logs / f"{target}-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    started = time.monotonic()
    seen: set[str] = set()
    while True:
        left = seconds - (time.monotonic() - started)
        if left < 2 or len(result.findings) >= MAX_FINDINGS:
            break
        command = [
            sys.executable, "-m", "tests.fuzz._worker", target, "--engine", engine,
            f"-max_total_time={max(1, int(left))}", f"-max_len={MAX_LEN[target]}",
            f"-timeout={UNIT_TIMEOUT}", f"-rss_limit_mb={RSS_LIMIT_MB}",
            "-print_final_stats=1", f"-artifact_prefix={artifacts}/", *extra,
            str(work), str(CORPUS / target),
        ]
        before = set(os.listdir(artifacts))
        log = logs / f"{target}-{result.runs}.log"
        with open(log, "w", encoding="utf-8", errors="replace") as output:
            try:
                process = subprocess.run(
                    command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                    timeout=left + 120, check=False,
                )
                code = process.returncode
            except subprocess.TimeoutExpired:
                code = None
        result.runs += 1
        text = log.read_text(encoding="utf-8", errors="replace")
        executed = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
        if executed:
            result.executed += int(executed[-1])
        else:
            # No final stats (a signal or a sanitizer abort): take libFuzzer's last status line.
            status = re.findall(r"^#(\d+)\s", text, re.MULTILINE)
            result.executed += int(status[-1]) if status else 0
        new = sorted(name for name in set(os.listdir(artifacts)) - before if ARTIFACT.match(name))
        # libFuzzer keeps inputs slower than 10 s (-report_slow_units) without failing: note
        # them, they aren't findings unless -timeout= stopped the run.
        slow = [name for name in new if name.startswith("slow-unit-")]
        result.slow.extend(str(artifacts / name) for name in slow)
        new = [name for name in new if name not in slow]
        if code == 0 and not new:
            break  # ran its time out
        if code is None:
            result.findings.append({"kind": "hang", "summary": "the worker did not stop",
                                    "log": str(log)})
            break
        if not new and code != 0 and result.executed == 0:
            result.error = f"the worker failed (exit {code}): {summarise(text)}; log {log}"
            break
        summary = summarise(text)
        target_dir = findings_dir / target
        target_dir.mkdir(parents=True, exist_ok=True)
        saved = []
        for name in new:
            shutil.copy(artifacts / name, target_dir / name)
            saved.append(str(target_dir / name))
        result.findings.append({"kind": (new[0].split("-")[0] if new else f"exit {code}"),
                                "summary": summary, "inputs": saved, "log": str(log)})
        if summary in seen:
            break  # the same bug again: the rest of the time would find it again
        seen.add(summary)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def report(results: list[Result]) -> str:
    lines = [f"{'target':<9} {'engine':<8} {'seconds':>8} {'inputs':>10} {'inputs/s':>9} findings"]
    for r in results:
        rate = r.executed / r.seconds if r.seconds else 0
        status = r.error or (f"{len(r.findings)}" if r.findings else "0")
        lines.append(f"{r.target:<9} {r.engine:<8} {r.seconds:>8.1f} {r.executed:>10} {rate:>9.0f} {status}")
        for finding in r.findings:
            lines.append(f"    {finding['kind']}: {finding['summary']}")
            for path in finding.get("inputs", []):
                lines.append(f"      input: {path}")
            lines.append(f"      log:   {finding['log']}")
        for path in r.slow:
            lines.append(f"    slow input (not a finding): {path}")
    total = sum(r.executed for r in results)
    found = sum(len(r.findings) for r in results)
    lines.append(f"total: {total} inputs, {found} finding(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time per target (default 60)")
    parser.add_argument("--target", action="append", choices=TARGETS,
                        help="a target to run (repeatable; default: all)")
    parser.add_argument("--engine", choices=("atheris", "random"), default="atheris")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once (default 1)")
    parser.add_argument("--findings", type=pathlib.Path, help="where findings are copied")
    parser.add_argument("--corpus-out", type=pathlib.Path, help="where new inputs are kept")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results as JSON")
    parser.add_argument("extra", nargs="*", help="more libFuzzer options, after --")
    args = parser.parse_args(argv)

    if args.engine == "atheris" and (reason := atheris_available()):
        print(f"cannot fuzz with atheris: {reason}; use --engine random", file=sys.stderr)
        return 2
    targets = args.target or list(TARGETS)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="wsfast-fuzz-"))
    corpus_out = args.corpus_out or scratch / "corpus"
    findings = args.findings or scratch / "findings"
    logs = scratch / "logs"
    logs.mkdir(parents=True)
    print(f"fuzzing {', '.join(targets)} for {args.seconds:g} s each with {args.engine}; "
          f"logs in {logs}", flush=True)

    results: list[Result] = []
    if args.jobs <= 1:
        for target in targets:
            results.append(run_target(target, args.seconds, args.engine, corpus_out, findings,
                                      logs, args.extra))
            print(report(results[-1:]).rsplit("\n", 1)[0], flush=True)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_target, target, args.seconds, args.engine, corpus_out,
                                   findings, logs, args.extra) for target in targets]
            results = [future.result() for future in futures]
    print()
    print(report(results))
    if any(r.findings for r in results):
        print(f"findings copied to {findings}; replay one with "
              f"python -m tests.fuzz.replay TARGET FILE")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    if any(r.error for r in results):
        return 2
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
