"""wsfast's speed and memory goals, as the issues state them, and how a run measures up.

Every target names its source issue and quotes it. ``python -m bench`` evaluates each one on
the cells it applies to: a ratio target compares the speed of one wsfast implementation with
one reference in the same cell (speed = 1 / time for micro-benchmarks, rate for end-to-end
runs); an absolute target bounds the figure itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    group: str  # micro, echo, throughput, scale
    cell: str  # regular expression, matched against the whole cell name
    impl: str  # the wsfast implementation (exact name)
    issue: int
    text: str  # what the issue says
    ref: str | None = None  # the reference implementation (regular expression, whole name)
    ratio: float | None = None  # impl at least this many times as fast as ref
    at_most: float | None = None  # or: the figure at most this (in the cell's unit)

    @property
    def goal(self) -> str:
        if self.ratio is not None:
            return f">={self.ratio:.3g}x {self.ref_label}"
        return f"<={format_value(self.at_most or 0.0, self.unit)}"

    @property
    def ref_label(self) -> str:
        return (self.ref or "").replace("\\", "").replace(".*", "").rstrip("(").rstrip(".")

    @property
    def unit(self) -> str:
        return {"micro": "s", "scale": "B"}.get(self.group, "/s")


#: The goals of issues 2, 3, 4 and 19. Issue 5 (threading) and issue 8 set no figures.
TARGETS: tuple[Target, ...] = (
    # Issue 2: the codec core.
    Target(
        "micro", r"mask 125 B", "wsfast-cython.apply_mask_inplace", 2,
        "unmask 125 B no slower than aiohttp's in-place mask",
        ref=r"aiohttp\._websocket_mask.*", ratio=1.0,
    ),
    Target(
        "micro", r"mask 64 KiB", "wsfast-cython.apply_mask", 2,
        "64 KiB >= 1.5x websockets.speedups.apply_mask",
        ref=r"websockets\.speedups\.apply_mask", ratio=1.5,
    ),
    Target(
        "micro", r"utf8 mixed 64 KiB", "wsfast-cython.validate_utf8", 2,
        "UTF-8 on mixed multibyte text at 64 KiB >= 15x bytes.decode",
        ref=r"bytes\.decode", ratio=15.0,
    ),
    Target(
        "micro", r"utf8 ascii 64 KiB", "wsfast-cython.validate_utf8", 2,
        "UTF-8 ASCII at 64 KiB >= 2x bytes.decode",
        ref=r"bytes\.decode", ratio=2.0,
    ),
    # Issue 3: the Sans-I/O core and permessage-deflate.
    Target(
        "micro", r"frame parse (16|125) B", "wsfast-cython", 3,
        "small-frame parse >= 20x faster than websockets",
        ref=r"websockets", ratio=20.0,
    ),
    Target(
        "micro", r"deflate 1 KiB JSON", "wsfast-cython-writer", 3,
        "deflate framing within 10% of raw zlib on the same data",
        ref=r"zlib-raw", ratio=1 / 1.1,
    ),
    Target(
        "micro", r"inflate 1 KiB JSON", "wsfast-cython", 3,
        "deflate framing within 10% of raw zlib on the same data (receiving side)",
        ref=r"zlib-raw", ratio=1 / 1.1,
    ),
    Target(
        "micro", r"frame parse (16|125) B", "wsfast-cython-messages", 3,
        "small-frame parse >= 20x faster than websockets (message-level reader)",
        ref=r"websockets", ratio=20.0,
    ),
    Target(
        "micro", r"frame parse 16 B", "wsfast-cython-messages", 3,
        "per small message the Cython path should cost well under 1 us (receive)",
        at_most=1e-6,
    ),
    Target(
        "micro", r"frame serialize 16 B", "wsfast-cython", 3,
        "per small message the Cython path should cost well under 1 us (send)",
        at_most=1e-6,
    ),
    # Issue 4: the asyncio client and server.
    Target(
        "echo", r"binary 256 B asyncio", "wsfast", 4,
        "256 B on asyncio >= 1.5x picows.websockets",
        ref=r"picows\.websockets", ratio=1.5,
    ),
    Target(
        "echo", r"binary 256 B asyncio", "wsfast", 4,
        "256 B on asyncio >= 3.5x websockets",
        ref=r"websockets", ratio=3.5,
    ),
    Target(
        "echo", r"binary 256 KiB \w+", "wsfast", 4,
        "256 KiB >= 2x websockets",
        ref=r"websockets", ratio=2.0,
    ),
    Target(
        "echo", r".*", "wsfast-python", 4,
        "the pure-Python fallback never slower than websockets",
        ref=r"websockets", ratio=1.0,
    ),
    # Issue 19: the compiled connection path.
    Target(
        "echo", r"binary (256 B|8 KiB) (asyncio|uvloop)", "wsfast", 19,
        "256 B and 8 KiB echo, pinned to one CPU: >= 1.1x picows.websockets on both loops",
        ref=r"picows\.websockets", ratio=1.1,
    ),
    Target(
        "throughput", r"binary 64 B (asyncio|uvloop)", "wsfast", 19,
        "64 B one-way throughput >= 1.1x picows.websockets on both loops",
        ref=r"picows\.websockets", ratio=1.1,
    ),
    Target(
        "echo", r"text\+deflate (8|256) KiB \w+", "wsfast", 19,
        "text + deflate echo at 8 KiB and 256 KiB >= 1.3x aiohttp",
        ref=r"aiohttp", ratio=1.3,
    ),
    Target(
        "echo", r"binary\+wss 256 B \w+", "wsfast", 19,
        "wss:// echo 256 B >= 1.1x picows.websockets",
        ref=r"picows\.websockets", ratio=1.1,
    ),
    Target(
        "echo", r"binary (256 B|8 KiB) \w+", "wsfast-python", 19,
        "the pure-Python fallback stays >= websockets at 256 B and 8 KiB",
        ref=r"websockets", ratio=1.0,
    ),
    Target(
        "scale", r"memory per connection", "wsfast", 4,
        "an idle connection without compression <= 16 KiB (measured here at 1 message/s)",
        at_most=16 * 1024,
    ),
    Target(
        "scale", r"memory per connection", "wsfast-python", 4,
        "an idle connection without compression <= 16 KiB (measured here at 1 message/s)",
        at_most=16 * 1024,
    ),
)


def format_value(value: float, unit: str) -> str:
    """A figure with a readable unit: times in ns/us/ms, rates in k/s, bytes in KiB."""
    if unit == "s":
        for scale, name in ((1e-6, "ns"), (1e-3, "us"), (1.0, "ms")):
            if value < scale:
                return f"{value / scale * 1e3:.3g} {name}"
        return f"{value:.3g} s"
    if unit == "B":
        return f"{value / 1024:.1f} KiB"
    if unit == "/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M/s"
        if value >= 1e3:
            return f"{value / 1e3:.1f}k/s"
        return f"{value:.0f}/s"
    return f"{value:.3g} {unit}"


def speed(value: float, higher_is_better: bool) -> float:
    return value if higher_is_better else 1.0 / value


def evaluate(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (target, cell) pair that a run measured, with its outcome.

    ``achieved`` is the measured ratio (or figure); ``progress`` the share of the target
    reached (1.0 = just met); ``status`` is ``met``, ``missed``, or ``within noise`` when the
    target was missed by less than half the larger spread of the two figures compared (the
    spread is a range around the median, so half of it is how far the median could move).
    """
    outcomes = []
    for target in TARGETS:
        pattern = re.compile(target.cell)
        for cell in cells:
            if cell["group"] != target.group or not pattern.fullmatch(cell["name"]):
                continue
            results = cell["results"]
            mine = results.get(target.impl)
            outcome: dict[str, Any] = {
                "issue": target.issue,
                "text": target.text,
                "goal": target.goal,
                "group": target.group,
                "cell": cell["name"],
                "impl": target.impl,
            }
            if mine is None:
                continue
            higher = cell["higher_is_better"]
            spread = mine.get("spread") or 0.0
            if target.ratio is not None:
                ref_pattern = re.compile(target.ref or "")
                refs = [name for name in results if ref_pattern.fullmatch(name)]
                if not refs:
                    continue
                ref = refs[0]
                theirs = results[ref]
                achieved = speed(mine["median"], higher) / speed(theirs["median"], higher)
                progress = achieved / target.ratio
                spread = max(spread, theirs.get("spread") or 0.0)
                outcome.update(ref=ref, achieved=achieved, display=f"{achieved:.2f}x")
            else:
                value = mine["median"]
                progress = (target.at_most or 0.0) / value
                outcome.update(
                    achieved=value, display=format_value(value, cell["unit"])
                )
            outcome["progress"] = progress
            if progress >= 1.0:
                outcome["status"] = "met"
            elif abs(progress - 1.0) <= spread / 2:
                outcome["status"] = "within noise"
            else:
                outcome["status"] = "missed"
            outcomes.append(outcome)
    return outcomes
