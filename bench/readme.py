"""The performance page (docs/performance.md) and the README's headline figures, from one
``python -m bench`` run, live or saved.

    python -m bench.readme bench/results/<date>-<machine>.json --out docs/performance.md --readme README.md
    python -m bench.readme bench/results/<date>-<machine>.json            # the page, on stdout

The page is generated whole: a header that says so and how to regenerate it, the machine and
the command of the run, the end-to-end tables, the micro-benchmark highlights, the
connection-scale and uvicorn figures, the targets and the charts, with links relative to the
page. One part is written by hand, between HAND_BEGIN and HAND_END: measurements made outside
the suite, with their commands and dates. It is carried over from the page being replaced (or,
when there is none at the output path, from docs/performance.md), so regenerating never loses
it. ``--readme FILE`` rewrites the few headline figures between README_BEGIN and README_END in
FILE, with a link to the page.

``python -m bench --performance-page docs/performance.md --readme README.md`` does the same at
the end of a run. The older form ``python -m bench.readme RESULTS.json OUT.md`` still works
(the page, to OUT.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .run import ROOT, _is_sync, role, table_rows
from .targets import format_value

#: Where the page lives, and where the README is.
PAGE = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"

HAND_BEGIN = "<!-- hand-written:begin (bench/readme.py keeps this part as it is) -->"
HAND_END = "<!-- hand-written:end -->"
README_BEGIN = "<!-- bench-headline:begin (python -m bench.readme RESULTS.json --readme README.md) -->"
README_END = "<!-- bench-headline:end -->"

_NO_HAND_WRITTEN = "## Measured by hand\n\nNothing yet: measurements made outside `python -m bench` go here.\n"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _rel(path: Path, base: Path) -> str:
    """``path`` as a Markdown link target from a file in ``base``, with forward slashes."""
    return os.path.relpath(path, base).replace(os.sep, "/")


def _lib(lib: str) -> str:
    return f"**{lib}**" if role(lib) == "wsfast" else lib


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
        row = [_lib(lib)]
        for cell in cells:
            figures = cell["results"].get(lib)
            row.append(format_value(figures["median"], "/s") if figures else "n/a")
        rows.append(row)
    return _md_table(header, rows)


def _run_paragraphs(results: dict[str, Any], json_path: Path, base: Path) -> list[str]:
    m = results["meta"]
    lines = [
        f"Measured on {m['date']} on `{m['machine']}`: {m['cpu']}, {m['cpu_count']} CPUs, "
        f"{m['platform']}, {m['implementation']} {m['python']}; wsfast at `{m['commit']}`"
        f"{' with uncommitted changes in src/ or csrc/' if m.get('dirty') else ''} "
        f"({m['wsfast'].get('implementation', '?')} codec, mask kernel "
        f"`{m['wsfast'].get('mask_impl')}`, UTF-8 kernel `{m['wsfast'].get('utf8_impl')}`). "
        f"Command: `{m['command']}` ({m['elapsed'] / 60:.0f} min). "
        f"Full results: [`{_rel(json_path, ROOT)}`]({_rel(json_path, base)})."
    ]
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
    return lines


def _echo_lines(groups: dict[str, Any]) -> list[str]:
    if not ("echo" in groups and groups["echo"]["cells"]):
        return []
    cfg = groups["echo"]["config"]
    lines = ["## Echo round trips per second", "",
             f"One message at a time, server and client in separate processes, pinning "
             f"`{cfg['pin']}`; higher is better.", ""]
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
    return lines


def _throughput_lines(groups: dict[str, Any]) -> list[str]:
    if not ("throughput" in groups and groups["throughput"]["cells"]):
        return []
    cfg = groups["throughput"]["config"]
    lines = ["## One-way throughput, messages per second", "",
             f"Batches streamed back to back, pinning `{cfg['pin']}`; higher is better.", ""]
    for kind, compression in sorted({(c["kind"], c["compression"]) for c in groups["throughput"]["cells"]}):
        lines += _e2e_table(groups["throughput"], kind, compression) + [""]
    return lines


def _micro_lines(groups: dict[str, Any]) -> list[str]:
    if not ("micro" in groups and groups["micro"]["cells"]):
        return []
    lines = ["## Micro-benchmarks", "",
             "Median time per operation; x peer: speed relative to the fastest peer, above 1 is "
             "faster. What each benchmark times: [bench/README.md](BENCH_README).", ""]
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
    return lines + _md_table(["benchmark", "wsfast", "median", "fastest peer", "x peer"], rows) + [""]


def _scale_lines(groups: dict[str, Any]) -> list[str]:
    if not ("scale" in groups and groups["scale"].get("cells")):
        return []
    cfg = groups["scale"]["config"]
    lines = ["## Connection scale", "",
             f"{cfg['connections']} connections, one {cfg['message_size']} B message each per "
             "second, server side (lower is better):", ""]
    cells = {c["name"]: c for c in groups["scale"]["cells"]}
    rows = []
    for lib in cells["memory per connection"]["results"]:
        figures = [cells[name]["results"].get(lib) for name in ("memory per connection", "CPU per message", "echo latency p99")]
        rows.append(
            [_lib(lib)]
            + [format_value(f["median"], unit) if f else "n/a" for f, unit in zip(figures, ("B", "s", "s"))]
        )
    return lines + _md_table(["server", "memory per connection", "CPU per message", "echo latency p99"], rows) + [""]


def _uvicorn_lines(groups: dict[str, Any]) -> list[str]:
    data = groups.get("uvicorn")
    if not (data and data.get("cells")):
        return []
    cfg = data.get("config", {})
    lines = ["## uvicorn on wsfast", "",
             f"uvicorn's `websockets-sansio` protocol echoing binary messages, its server on "
             f"websockets or on wsfast installed as websockets (`install_as_websockets()`), the "
             f"same client for all (`{cfg.get('client', 'wsfast')}`); `--http "
             f"{cfg.get('http', 'h11')}`, pinning `{cfg.get('pin', 'same')}`; round trips per "
             "second, higher is better, and the ratio to websockets:", ""]
    cells = data["cells"]
    servers: list[str] = []
    for cell in cells:
        for server in cell["results"]:
            if server not in servers:
                servers.append(server)
    rows = []
    for server in servers:
        row = [_lib(server)]
        for cell in cells:
            mine, theirs = cell["results"].get(server), cell["results"].get("websockets")
            if mine is None:
                row.append("n/a")
            elif theirs is None or server == "websockets":
                row.append(format_value(mine["median"], "/s"))
            else:
                row.append(f"{format_value(mine['median'], '/s')} ({mine['median'] / theirs['median']:.2f}x)")
        rows.append(row)
    return lines + _md_table(["server"] + [c["name"] for c in cells], rows) + [""]


def _targets_lines(results: dict[str, Any]) -> list[str]:
    if not results["targets"]:
        return []
    lines = ["## Targets", "",
             "Every target of bench/targets.py that this run measured, with the issue it comes "
             "from; a target missed by less than half the spread of the figures compared is "
             "`within noise`.", ""]
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
    return lines + _md_table(["issue", "cell", "goal", "measured", "of goal", "status"], rows) + [""]


def _chart_lines(results: dict[str, Any], json_path: Path, base: Path) -> list[str]:
    charts = results.get("charts", [])
    if not charts:
        return []
    lines = ["## Charts", ""]
    for chart in charts:
        group = Path(chart).stem.rpartition("-")[2]
        lines += [f"![{group}]({_rel(json_path.parent / chart, base)})", ""]
    return lines


def _commands(json_path: Path, out: Path | None, readme: bool = True) -> tuple[str, str]:
    """The commands that regenerate the page: from the saved run, and from a new run."""
    page = _rel((out if out is not None else PAGE).resolve(), ROOT)
    tail = f" --readme {_rel(README, ROOT)}" if readme else ""
    return (
        f"python -m bench.readme {_rel(json_path, ROOT)} --out {page}{tail}",
        f"python -m bench --performance-page {page}{tail}",
    )


def page(results: dict[str, Any], json_path: Path, out: Path | None = None, hand_written: str | None = None) -> str:
    """The whole page for the run in ``results`` (saved at ``json_path``), to be written at
    ``out`` (links are relative to it; docs/performance.md when None)."""
    json_path = json_path.resolve()
    base = (out.resolve().parent if out is not None else PAGE.parent)
    from_saved, from_new = _commands(json_path, out)
    groups = results["groups"]
    lines = [
        "# Performance",
        "",
        f"<!-- Generated by bench/readme.py; edit only the hand-written part at the end. "
        f"Regenerate with: {from_saved} -->",
        "",
        f"This page is generated from one run of the benchmark suite, `python -m bench` "
        f"(bench/run.py), saved in [`{_rel(json_path, ROOT)}`]({_rel(json_path, base)}): "
        f"`{from_saved}` writes it again from that file, `{from_new}` from a new run (about 10 "
        f"minutes; it also refreshes the README's headline figures). Only the last section, "
        f"below the generated ones, is written by hand.",
        "",
        "## The run",
        "",
    ]
    lines += _run_paragraphs(results, json_path, base) + [""]
    lines += _echo_lines(groups)
    lines += _throughput_lines(groups)
    lines += _micro_lines(groups)
    lines += _scale_lines(groups)
    lines += _uvicorn_lines(groups)
    lines += _targets_lines(results)
    lines += _chart_lines(results, json_path, base)
    lines += [
        "## Reproduce",
        "",
        "`pip install -e '.[bench]'`, then `python -m bench` (about 10 minutes; `--quick` for a "
        "short look). Every group, option and column: [bench/README.md](BENCH_README).",
        "",
    ]
    text = "\n".join(lines).replace("BENCH_README", _rel(ROOT / "bench" / "README.md", base))
    hand = hand_written if hand_written is not None else _NO_HAND_WRITTEN
    return f"{text}{HAND_BEGIN}\n\n{hand.strip()}\n\n{HAND_END}\n"


def hand_written_part(text: str) -> str | None:
    """The hand-written part of a page, between its markers, or None."""
    begin = text.find(HAND_BEGIN)
    end = text.find(HAND_END, begin + 1)
    if begin < 0 or end < 0:
        return None
    return text[begin + len(HAND_BEGIN) : end].strip() + "\n"


def _existing_hand_written(out: Path | None) -> str | None:
    for path in (out, PAGE):
        if path is not None and path.exists():
            part = hand_written_part(path.read_text(encoding="utf-8"))
            if part is not None:
                return part
    return None


def _cell(groups: dict[str, Any], group: str, **attrs: Any) -> dict[str, Any] | None:
    for cell in groups.get(group, {}).get("cells", []):
        if all(cell.get(k, False if k == "tls" else None) == v for k, v in attrs.items()):
            return cell
    return None


def _median(cell: dict[str, Any] | None, lib: str) -> float | None:
    figures = cell["results"].get(lib) if cell else None
    return figures["median"] if figures else None


def headline(results: dict[str, Any], readme: Path = README, page_path: Path = PAGE) -> str:
    """A few figures of the run for the README, with a link to the page (the block between
    README_BEGIN and README_END, markers excluded)."""
    m, groups = results["meta"], results["groups"]
    libs = ["wsfast", "wsfast-python", "websockets", "picows.websockets", "aiohttp"]
    rows = []
    for label, group, attrs in (
        ("echo, 256 B", "echo", dict(kind="binary", compression=False, tls=False, size=256, loop="asyncio")),
        ("echo, 256 KiB", "echo", dict(kind="binary", compression=False, tls=False, size=262144, loop="asyncio")),
        ("echo, 256 B, uvloop", "echo", dict(kind="binary", compression=False, tls=False, size=256, loop="uvloop")),
        ("echo, 8 KiB text, deflate", "echo", dict(kind="text", compression=True, tls=False, size=8192, loop="asyncio")),
        ("one-way, 64 B", "throughput", dict(kind="binary", compression=False, size=64, loop="asyncio")),
    ):
        cell = _cell(groups, group, **attrs)
        if cell is None:
            continue
        figures = [_median(cell, lib) for lib in libs]
        if figures[0] is None:
            continue
        rows.append([label] + [format_value(f, "/s") if f is not None else "n/a" for f in figures])
    lines = [
        f"Round trips per second of one message at a time (echo) and messages per second "
        f"streamed one way, over loopback, server and client in separate processes; binary "
        f"messages on asyncio unless told; higher is better. Measured on {m['date']}, {m['cpu_count']} CPUs, "
        f"{m['implementation']} {m['python']}, wsfast `{m['commit']}`:",
        "",
    ]
    lines += _md_table([""] + [f"**{lib}**" if role(lib) == "wsfast" else lib for lib in libs], rows)
    extras = []
    parse = _cell(groups, "micro", name="frame parse 16 B")
    reader, theirs = _median(parse, "wsfast-cython-messages"), _median(parse, "websockets")
    if reader is not None and theirs is not None:
        extras.append(
            f"a 16 B frame parsed into its message in {format_value(reader, 's')} "
            f"({theirs / reader:.0f}x websockets)"
        )
    memory = _cell(groups, "scale", name="memory per connection")
    mine, theirs = _median(memory, "wsfast"), _median(memory, "websockets")
    if mine is not None and theirs is not None:
        extras.append(
            f"{format_value(mine, 'B')} of server memory per connection (websockets "
            f"{format_value(theirs, 'B')})"
        )
    if extras:
        lines += ["", "Also " + "; ".join(extras) + "."]
    lines += [
        "",
        f"Every table, the targets and the charts: "
        f"[{_rel(page_path, ROOT)}]({_rel(page_path, readme.resolve().parent)}).",
    ]
    return "\n".join(lines) + "\n"


def update_readme(results: dict[str, Any], readme: Path, page_path: Path = PAGE) -> None:
    """Replace the headline block of ``readme`` (between its markers) with this run's."""
    text = readme.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{readme} has no {README_BEGIN!r} ... {README_END!r} block")
    block = f"{README_BEGIN}\n{headline(results, readme, page_path)}{README_END}"
    readme.write_text(text[:begin] + block + text[end + len(README_END):], encoding="utf-8")


def write_page(results: dict[str, Any], json_path: Path, out: Path, readme: Path | None = None) -> None:
    """Write the page at ``out``, keeping its hand-written part; then the README's headline
    block, if ``readme`` is given."""
    text = page(results, json_path, out, _existing_hand_written(out))
    out.write_text(text, encoding="utf-8")
    if readme is not None:
        update_readme(results, readme, out.resolve())


def write_section(results: dict[str, Any], json_path: Path, out: Path) -> None:
    """The older name of :func:`write_page`."""
    write_page(results, json_path, out)


#: Micro-benchmark rows worth a line on the page, by family (the first word of the group).
_HIGHLIGHT = {
    "mask": ("wsfast-cython.apply_mask",),
    "utf8": ("wsfast-cython.validate_utf8", "wsfast-cython.Utf8Validator"),
    "frame": ("wsfast-cython", "wsfast-cython-messages"),
    "deflate": ("wsfast-cython-writer",),
    "inflate": ("wsfast-cython",),
    "compress": ("wsfast-cython-writer",),
    "decompress": ("wsfast-cython",),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.readme",
        description="Write docs/performance.md (and the README's headline figures) from a saved run of python -m bench.",
    )
    parser.add_argument("results", type=Path, help="bench/results/<date>-<machine>.json")
    parser.add_argument("legacy_out", type=Path, nargs="?", metavar="OUT.md", help="same as --out")
    parser.add_argument("--out", type=Path, help="write the page here (docs/performance.md); default: stdout")
    parser.add_argument("--readme", type=Path, help="also rewrite the headline figures in this README (README.md)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    out = args.out or args.legacy_out
    path = args.results.resolve()
    results = json.loads(path.read_text(encoding="utf-8"))
    if out is not None:
        write_page(results, path, out, args.readme)
        print(f"wrote {os.path.relpath(out)}" + (f" and {os.path.relpath(args.readme)}" if args.readme else ""))
        return 0
    sys.stdout.write(page(results, path, None, _existing_hand_written(None)))
    if args.readme:
        update_readme(results, args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
