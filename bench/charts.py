"""PNG charts of a ``python -m bench`` run, one per group (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from .run import _is_sync, role  # noqa: E402
from .targets import format_value  # noqa: E402

COLORS = {
    "wsfast": "#d62728",
    "wsfast-cython": "#d62728",
    "wsfast-python": "#ff9896",
    "wsfast.sync": "#8c564b",
    "wsfast-python.sync": "#c49c94",
    "peer": "#1f77b4",
    "limit": "#7f7f7f",
}
PEER_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#bcbd22", "#aec7e8", "#98df8a"]


def _title(results: dict[str, Any], what: str) -> str:
    m = results["meta"]
    return (
        f"{what}\n{m['date']}, {m['machine']} ({m['cpu']}, {m['cpu_count']} CPUs), "
        f"Python {m['python']}, wsfast {m['commit'] or '?'}"
    )


def _speed(value: float, higher: bool) -> float:
    return value if higher else 1.0 / value


def micro_chart(results: dict[str, Any], cells: list[dict[str, Any]], path: Path) -> None:
    """Speed of wsfast relative to the best peer of each benchmark (log scale)."""
    rows = []
    for cell in cells:
        res = cell["results"]
        peers = [n for n in res if role(n) == "peer"]
        limits = [n for n in res if role(n) == "limit"]
        if not peers:
            continue
        best = max(peers, key=lambda n: _speed(res[n]["median"], False))
        base = _speed(res[best]["median"], False)

        # Opt-in deflate engines ("...[isal]") are not what wsfast does by default: left out.
        def fastest(prefix: str) -> tuple[str, float] | None:
            names = [n for n in res if n.startswith(prefix) and "[" not in n]
            if not names:
                return None
            name = max(names, key=lambda n: _speed(res[n]["median"], False))
            return name, _speed(res[name]["median"], False) / base

        limit = None
        if limits:
            name = max(limits, key=lambda n: _speed(res[n]["median"], False))
            limit = (name, _speed(res[name]["median"], False) / base)
        rows.append((f"{cell['name']}  vs {best}", fastest("wsfast-cython"), fastest("wsfast-python"), limit))
    if not rows:
        return
    height = 0.42 * len(rows) + 1.8
    fig, ax = plt.subplots(figsize=(11, height))
    y = range(len(rows))
    bar = 0.27
    for offset, index, label, color in (
        (-bar, 1, "wsfast Cython (fastest variant, default deflate engine)", COLORS["wsfast-cython"]),
        (0.0, 2, "wsfast pure Python (fastest variant)", COLORS["wsfast-python"]),
        (bar, 3, "limit (plain copy / raw zlib)", COLORS["limit"]),
    ):
        values = [row[index][1] if row[index] else 0 for row in rows]
        ax.barh([i + offset for i in y], values, height=bar, label=label, color=color)
    ax.axvline(1.0, color=COLORS["peer"], linewidth=1.5, label="best peer = 1")
    ax.set_xscale("log")
    ax.set_yticks(list(y))
    ax.set_yticklabels([row[0] for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("speed relative to the fastest peer (log scale; >1: faster than every peer)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(_title(results, "Micro-benchmarks: wsfast vs the fastest peer"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def e2e_chart(results: dict[str, Any], group: str, cells: list[dict[str, Any]], path: Path) -> None:
    """One panel per (variant, size): bars per library, one per loop, min-max whiskers."""
    variants = sorted(
        {(c["kind"], c["compression"], c.get("tls", False)) for c in cells},
        key=lambda v: (v[2], v[1], v[0] != "binary"),
    )
    sizes = sorted({c["size"] for c in cells})
    loops = [lp for lp in ("asyncio", "uvloop") if any(c["loop"] == lp for c in cells)]
    libs: list[str] = []
    for cell in cells:
        for lib in cell["results"]:
            if lib not in libs:
                libs.append(lib)
    order = {"raw": 0}
    libs.sort(key=lambda lib: (order.get(lib, 1), _is_sync(lib), role(lib) == "wsfast", lib))
    fig, axes = plt.subplots(
        len(variants), len(sizes), figsize=(4.6 * len(sizes), 3.4 * len(variants) + 1.2), squeeze=False
    )
    hatches = {"asyncio": "", "uvloop": "//"}
    peer_colors = {}
    for lib in libs:
        if role(lib) == "peer":
            peer_colors[lib] = PEER_COLORS[len(peer_colors) % len(PEER_COLORS)]
    for row, (kind, compression, tls) in enumerate(variants):
        for col, size in enumerate(sizes):
            ax = axes[row][col]
            width = 0.8 / max(1, len(loops))
            for li, loop in enumerate(loops):
                cell = next(
                    (
                        c
                        for c in cells
                        if (c["kind"], c["compression"], c.get("tls", False), c["size"], c["loop"])
                        == (kind, compression, tls, size, loop)
                    ),
                    None,
                )
                if cell is None:
                    continue
                xs, heights, lows, highs, colors = [], [], [], [], []
                for index, lib in enumerate(libs):
                    figures = cell["results"].get(lib)
                    if figures is None:
                        continue
                    xs.append(index + (li - (len(loops) - 1) / 2) * width)
                    heights.append(figures["median"])
                    lows.append(figures["median"] - figures["min"])
                    highs.append(figures["max"] - figures["median"])
                    colors.append(COLORS.get(lib) or (COLORS["limit"] if role(lib) == "limit" else peer_colors[lib]))
                ax.bar(xs, heights, width=width, color=colors, hatch=hatches[loop], edgecolor="white", label=loop)
                ax.errorbar(xs, heights, yerr=[lows, highs], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            # A limit far above the rest (raw TCP against compressed messages) is cut off, with
            # its value written at the top, so that the libraries stay readable.
            panel = [
                c
                for c in cells
                if (c["kind"], c["compression"], c.get("tls", False), c["size"])
                == (kind, compression, tls, size)
            ]
            others = [f["max"] for c in panel for lib, f in c["results"].items() if role(lib) != "limit"]
            limits = [(lib, f["median"]) for c in panel for lib, f in c["results"].items() if role(lib) == "limit"]
            if others and limits and max(v for _, v in limits) > 3 * max(others):
                top = 1.3 * max(others)
                ax.set_ylim(0, top)
                for lib, value in limits:
                    ax.text(libs.index(lib), top * 0.97, f"{format_value(value, '/s')} (cut)", ha="center", va="top", fontsize=6, rotation=90)
            sync_at = [i for i, lib in enumerate(libs) if _is_sync(lib)]
            if sync_at and sync_at[0] > 0:
                ax.axvline(sync_at[0] - 0.5, color="black", linewidth=0.6, linestyle=":")
            ax.set_xticks(range(len(libs)))
            ax.set_xticklabels(libs, rotation=60, ha="right", fontsize=7)
            name = f"{kind}{' + deflate' if compression else ''}{' + wss' if tls else ''}, {format_size(size)}"
            ax.set_title(name, fontsize=9)
            ax.tick_params(axis="y", labelsize=7)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: format_value(v, "/s")))
            ax.grid(axis="y", alpha=0.3)
            if row == 0 and col == 0 and len(loops) > 1:
                handles = [
                    matplotlib.patches.Patch(facecolor="#cccccc", hatch=hatches[lp], edgecolor="white", label=lp)
                    for lp in loops
                ]
                ax.legend(handles=handles, fontsize=7)
    what = {
        "echo": "Echo round trips per second (median, min-max whiskers; higher is better)",
        "throughput": "One-way throughput, messages per second (median, min-max; higher is better)",
        "uvicorn": "uvicorn (websockets-sansio) echo, round trips per second, by the websockets it runs on (median, min-max)",
    }[group]
    fig.suptitle(_title(results, what), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_size(size: int) -> str:
    for factor, unit in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def scale_chart(results: dict[str, Any], cells: list[dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells), 4.2), squeeze=False)
    scales = {"B": (1024, "KiB"), "s": (1e-6, "us")}
    for ax, cell in zip(axes[0], cells):
        libs = list(cell["results"])
        factor, unit = scales.get(cell["unit"], (1, cell["unit"]))
        if cell["name"] == "echo latency p99":
            factor, unit = 1e-3, "ms"
        values = [cell["results"][lib]["median"] / factor for lib in libs]
        colors = [COLORS.get(lib, COLORS["peer"]) for lib in libs]
        ax.bar(range(len(libs)), values, color=colors)
        for x, v in enumerate(values):
            ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(libs)))
        ax.set_xticklabels(libs, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{cell['name']} ({unit})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        if cell["name"] == "memory per connection":
            ax.axhline(16, color="black", linestyle="--", linewidth=1)
            ax.text(len(libs) - 0.5, 16, "target 16 KiB", ha="right", va="bottom", fontsize=7)
    cfg = results["groups"]["scale"]["config"]
    fig.suptitle(
        _title(
            results,
            f"Connection scale: {cfg['connections']} connections, one {cfg['message_size']} B message "
            f"each per second; server side, lower is better",
        ),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_charts(results: dict[str, Any], stem: Path) -> list[Path]:
    """Charts for every group that has figures; returns their paths (``<stem>-<group>.png``)."""
    paths = []
    for group, data in results["groups"].items():
        cells = [c for c in data.get("cells", []) if c["results"]]
        if not cells:
            continue
        path = stem.with_name(f"{stem.name}-{group}.png")
        if group == "micro":
            micro_chart(results, cells, path)
        elif group == "scale":
            scale_chart(results, cells, path)
        else:
            e2e_chart(results, group, cells, path)
        if path.exists():
            paths.append(path)
    return paths
