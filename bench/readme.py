"""A Markdown section for the project README from one ``python -m bench`` run.

    python -m bench.readme bench/results/<date>-<machine>.json [OUT.md]

writes (or prints) the section: the machine, the command, the end-to-end tables, the
micro-benchmark highlights, the connection-scale figures, the targets and the charts. Chart
paths are relative to the repository root, where README.md is.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .run import ROOT, _is_sync, role, table_rows
from .targets import format_value


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _e2e_table(data: dict[str, Any], kind: str, compression: bool, tls: bool = False) -> list[str]:
    cells = [
        c
        for c in data["cells"]
        if (c["kind"], c["compression"], c.get("tls", False)) == (kind, compression, tls)
    ]
    if not cells:
        return []
    libs: list[str] = []
    for cell in cells:
        for lib in cell["results"]:
            if lib not in libs:
                libs.append(lib)
    libs.sort(key=lambda lib: (lib != "raw", _is_sync(lib), role(lib) == "wsfast", lib))
    header = ["library"] + [cell["name"].split(" ", 1)[1] for cell in cells]
    rows = []
    for lib in libs:
        row = [f"**{lib}**" if role(lib) == "wsfast" else lib]
        for cell in cells:
            figures = cell["results"].get(lib)
            row.append(format_value(figures["median"], "/s") if figures else "n/a")
        rows.append(row)
    return _md_table(header, rows)


def section(results: dict[str, Any], json_path: Path) -> str:
    m = results["meta"]
    groups = results["groups"]
    lines = ["## Benchmarks", ""]
    lines.append(
        f"Measured on {m['date']} on `{m['machine']}`: {m['cpu']}, {m['cpu_count']} CPUs, "
        f"{m['platform']}, {m['implementation']} {m['python']}; wsfast at `{m['commit']}`"
        f"{' with uncommitted changes in src/ or csrc/' if m.get('dirty') else ''} "
        f"({m['wsfast'].get('implementation', '?')} codec, mask kernel "
        f"`{m['wsfast'].get('mask_impl')}`, UTF-8 kernel `{m['wsfast'].get('utf8_impl')}`). "
        f"Command: `{m['command']}` ({m['elapsed'] / 60:.0f} min). "
        f"Full results: [`{os.path.relpath(json_path, ROOT)}`]({os.path.relpath(json_path, ROOT)})."
    )
    noise = results["noise"]
    spread = ", ".join(
        f"{group} {f['median'] * 100:.0f}%" for group, f in noise["groups"].items() if f.get("cells")
    )
    lines += [
        "",
        f"Each figure is the median of interleaved repeats. Median spread of the repeats: {spread}; "
        f"load average {noise['load']['start'][0]:.1f} at the start (the machine was shared), so "
        "treat differences under about 20% as noise. Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if k != "wsfast")
        + ".",
    ]
    if "echo" in groups and groups["echo"]["cells"]:
        cfg = groups["echo"]["config"]
        lines += ["", f"**Echo round trips per second** (one message at a time, server and client in "
                  f"separate processes, pinning `{cfg['pin']}`; higher is better):", ""]
        variants = sorted(
            {(c["kind"], c["compression"], c.get("tls", False)) for c in groups["echo"]["cells"]},
            key=lambda v: (v[2], v[1], v[0] != "binary"),
        )
        for kind, compression, tls in variants:
            lines += [
                f"*{kind} messages{', permessage-deflate' if compression else ''}"
                f"{', over TLS (wss://; plain TLS for raw)' if tls else ''}*",
                "",
            ]
            lines += _e2e_table(groups["echo"], kind, compression, tls) + [""]
    if "throughput" in groups and groups["throughput"]["cells"]:
        cfg = groups["throughput"]["config"]
        lines += [f"**One-way throughput, messages per second** (batches streamed back to back, "
                  f"pinning `{cfg['pin']}`; higher is better):", ""]
        for kind, compression in sorted({(c["kind"], c["compression"]) for c in groups["throughput"]["cells"]}):
            lines += _e2e_table(groups["throughput"], kind, compression) + [""]
    if "micro" in groups and groups["micro"]["cells"]:
        lines += ["**Micro-benchmarks** (median time per operation; x peer: speed relative to the "
                  "fastest peer, above 1 is faster):", ""]
        rows = []
        for cell in groups["micro"]["cells"]:
            for row in table_rows(cell, []):
                if row["impl"] not in _HIGHLIGHT.get(cell["name"].split(" ")[0], ()):
                    continue
                rows.append(
                    [
                        cell["name"],
                        row["impl"],
                        row["display"],
                        f"{row['best_peer']} {format_value(row['best_peer_median'], 's')}" if row["best_peer"] else "-",
                        f"{row['vs_best_peer']:.2f}x" if row["vs_best_peer"] else "-",
                    ]
                )
        lines += _md_table(["benchmark", "wsfast", "median", "fastest peer", "x peer"], rows) + [""]
    if "scale" in groups and groups["scale"].get("cells"):
        cfg = groups["scale"]["config"]
        lines += [f"**Connection scale**: {cfg['connections']} connections, one {cfg['message_size']} B "
                  "message each per second, server side (lower is better):", ""]
        cells = {c["name"]: c for c in groups["scale"]["cells"]}
        libs = list(cells["memory per connection"]["results"])
        rows = []
        for lib in libs:
            rows.append(
                [
                    f"**{lib}**" if role(lib) == "wsfast" else lib,
                    format_value(cells["memory per connection"]["results"][lib]["median"], "B"),
                    format_value(cells["CPU per message"]["results"][lib]["median"], "s"),
                    format_value(cells["echo latency p99"]["results"][lib]["median"], "s"),
                ]
            )
        lines += _md_table(["server", "memory per connection", "CPU per message", "echo latency p99"], rows) + [""]
    if results["targets"]:
        lines += ["**Targets** (bench/targets.py, from the issues):", ""]
        rows = [
            [
                f"#{o['issue']}",
                f"{o['group']}: {o['cell']}",
                f"{o['impl']} {o['goal']}",
                o["display"],
                f"{o['progress'] * 100:.0f}%",
                o["status"],
            ]
            for o in results["targets"]
        ]
        lines += _md_table(["issue", "cell", "goal", "measured", "of goal", "status"], rows) + [""]
    for chart in results.get("charts", []):
        path = os.path.relpath(json_path.parent / chart, ROOT)
        group = Path(chart).stem.rpartition("-")[2]
        lines += [f"![{group}]({path})", ""]
    lines += ["Reproduce: `pip install -e '.[bench]'`, then `python -m bench` (about 10 minutes; "
              "`--quick` for a short look). See [bench/README.md](bench/README.md)."]
    return "\n".join(lines) + "\n"


#: Micro-benchmark rows worth a README line, by family (the first word of the group).
_HIGHLIGHT = {
    "mask": ("wsfast-cython.apply_mask",),
    "utf8": ("wsfast-cython.validate_utf8", "wsfast-cython.Utf8Validator"),
    "frame": ("wsfast-cython", "wsfast-cython-messages"),
    "deflate": ("wsfast-cython-writer",),
    "inflate": ("wsfast-cython",),
    "compress": ("wsfast-cython-writer",),
    "decompress": ("wsfast-cython",),
}


def write_section(results: dict[str, Any], json_path: Path, out: Path) -> None:
    out.write_text(section(results, json_path.resolve()), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0]).resolve()
    results = json.loads(path.read_text(encoding="utf-8"))
    text = section(results, path)
    if len(argv) > 1:
        Path(argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
