"""Shared setup for the codec micro-benchmarks (pytest-benchmark).

* Bounded timing: unless the command line sets them, every benchmark gets
  ``max_time`` = 0.75 s, ``min_rounds`` = 10 and ``min_time`` = 20 us per round, so the
  whole suite stays well under three minutes even on a small, noisy machine.
* Groups are listed in size order (16 B, 125 B, 1 KiB, ...), not alphabetically.
* Payloads are deterministic: seeded random bytes for masking, and generated ASCII
  or mixed-script UTF-8 text for validation.
"""

from __future__ import annotations

import functools
import os
import random
import re

import pytest

# Timing defaults that apply when the option was left at pytest-benchmark's default.
# (option dest, pytest-benchmark default, our default, marker keyword)
_BOUNDED_TIMING = (
    ("benchmark_max_time", 1.0, 0.75, "max_time"),
    ("benchmark_min_rounds", 5, 10, "min_rounds"),
    ("benchmark_min_time", 0.000005, 0.00002, "min_time"),
)


def _timing_overrides(config: pytest.Config) -> dict[str, float]:
    overrides = {}
    for dest, plugin_default, ours, keyword in _BOUNDED_TIMING:
        value = config.getoption(dest, default=None)
        if value is None or float(value) == float(plugin_default):
            overrides[keyword] = ours
    return overrides


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    overrides = _timing_overrides(config)
    if not overrides:
        return
    for item in items:
        if "benchmark" not in getattr(item, "fixturenames", ()):
            continue
        marker = item.get_closest_marker("benchmark")
        kwargs = dict(overrides, **(marker.kwargs if marker else {}))
        # Prepended, so it is the closest "benchmark" marker that pytest-benchmark reads.
        item.add_marker(pytest.mark.benchmark(**kwargs), append=False)


_SIZE = re.compile(r"^(.*?)(\d+) (B|KiB|MiB)(.*)$")
_UNIT = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}


def _group_sort_key(name: str | None) -> tuple:
    match = _SIZE.match(name or "")
    if match is None:
        return (name or "", 0, "")
    prefix, number, unit, suffix = match.groups()
    return (prefix, int(number) * _UNIT[unit], suffix)


@pytest.hookimpl(wrapper=True)
def pytest_benchmark_group_stats(config, benchmarks, group_by):
    groups = yield
    return sorted(groups, key=lambda pair: _group_sort_key(pair[0]))


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    try:
        from wsfast import _speedups as cy

        lines.append(f"wsfast-cython kernels: mask={cy.MASK_IMPL} utf8={cy.UTF8_IMPL}")
    except ImportError as exc:
        lines.append(f"wsfast-cython: not importable ({exc})")
    lines.append(f"WSFAST_FORCE_SCALAR={os.environ.get('WSFAST_FORCE_SCALAR', '')!r}")
    overrides = _timing_overrides(config)
    if overrides:
        lines.append(f"bench timing defaults (bench/conftest.py): {overrides}")
    return lines


# --- deterministic payloads -------------------------------------------------------------

SEED = 6455  # RFC 6455

_ASCII_WORDS = (
    "the quick brown fox jumps over lazy dog WebSocket frame payload message "
    "server client ping pong close handshake 2024 OK, JSON {\"id\": 42} ; - ."
).split()

# A realistic multilingual chat/log mix. Weights are per word, not per byte.
_MIXED_WORDS = (
    (30, _ASCII_WORDS),
    # Latin with diacritics (2-byte sequences among ASCII)
    (20, "café naïve façade Zürich señor déjà über crème brûlée Ærøskøbing Łódź São Paulo "
         "Kraków".split()),
    # Greek (2-byte)
    (10, "καλημέρα κόσμε Αθήνα ελληνικά γράμματα".split()),
    # Cyrillic (2-byte)
    (15, "привет мир Москва съешь ещё этих мягких французских булок".split()),
    # CJK and Hangul (3-byte)
    (15, "日本語 東京 中文 汉字 漢字 한국어 서울 こんにちは 世界".split()),
    # Emoji, incl. modifiers, ZWJ sequences and flags (4-byte, with some 3-byte)
    (10, "😀 🚀 🎉 👍🏽 ❤️ 🇫🇷 👩‍💻 🤖".split()),
)


def _text_of_size(words_with_weights, size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    weights = [weight for weight, _ in words_with_weights]
    pools = [words for _, words in words_with_weights]
    parts: list[str] = []
    length = 0
    while length < size:
        pool = rng.choices(pools, weights)[0]
        word = rng.choice(pool) + (" " if rng.random() < 0.9 else "\n")
        parts.append(word)
        length += len(word.encode("utf-8"))
    data = "".join(parts).encode("utf-8")[:size]
    # Cut back to a character boundary, then pad with ASCII to the exact size.
    end = size
    while end and data[end - 1] & 0xC0 == 0x80:
        end -= 1
    if end and data[end - 1] >= 0xC0:
        end -= 1
    data = data[:end] + b" " * (size - end)
    data.decode("utf-8")  # must be valid
    assert len(data) == size
    return data


@functools.lru_cache(maxsize=None)
def random_payload(size: int) -> bytes:
    return random.Random(SEED + size).randbytes(size)


@functools.lru_cache(maxsize=None)
def text_payload(kind: str, size: int, seed: int = SEED) -> bytes:
    if kind == "ascii":
        return _text_of_size(((1, _ASCII_WORDS),), size, seed)
    if kind == "mixed":
        return _text_of_size(_MIXED_WORDS, size, seed)
    raise ValueError(kind)


@pytest.fixture(scope="session")
def random_bytes():
    """random_bytes(size) -> deterministic random bytes of that size."""
    return random_payload


@pytest.fixture(scope="session")
def utf8_text():
    """utf8_text(kind, size[, seed]) -> valid UTF-8 of exactly size bytes; kind 'ascii' or 'mixed'."""
    return text_payload


# --- the implementation's name, for `python -m bench` ----------------------------------------


def _implementation_id(item: pytest.Item) -> str | None:
    """The test ID of the parameter set that holds the implementation ("impl" in its argnames)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "impl" not in callspec.params:
        return None
    for marker in item.iter_markers("parametrize"):
        argnames = marker.args[0]
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        if "impl" not in names:
            continue
        ids = marker.kwargs.get("ids")
        for index, value in enumerate(marker.args[1]):
            values = getattr(value, "values", value if len(names) > 1 else (value,))
            if all(v is callspec.params[n] or v == callspec.params[n] for n, v in zip(names, values)):
                if getattr(value, "id", None):
                    return value.id
                if isinstance(ids, (list, tuple)) and index < len(ids):
                    return str(ids[index])
                return None
    return None


@pytest.fixture(autouse=True)
def _record_implementation(request: pytest.FixtureRequest) -> None:
    """extra_info["impl"]: which implementation a benchmark timed (read by bench/run.py)."""
    if "benchmark" not in request.fixturenames:
        return
    impl = _implementation_id(request.node)
    if impl is not None:
        request.getfixturevalue("benchmark").extra_info["impl"] = impl
