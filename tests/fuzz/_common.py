"""What the fuzz harnesses share: reading a fuzz input, loading both codecs, comparing outcomes.

Every harness is a plain function ``check(data: bytes) -> None`` that raises
:class:`Finding` (or lets any other exception escape) when the input shows a bug. Nothing
here needs atheris: the regression tests replay saved inputs through the same ``check``
functions, and atheris only calls them with the inputs it invents.

A fuzz input is read front to back by :class:`Input`, which turns its bytes into choices
(options, limits, where to cut the stream) and gives what is left as data. It never fails:
an exhausted input reads as zeros, so every byte string is a valid input.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

PYTHON = importlib.import_module("wsfast._speedups_py")
try:
    CYTHON: Any = importlib.import_module("wsfast._speedups")
    CYTHON_SKIP_REASON: str | None = None
except ImportError as exc:  # pragma: no cover - depends on the build
    CYTHON = None
    CYTHON_SKIP_REASON = f"wsfast._speedups is not importable: {exc}"


def codecs() -> list[tuple[str, Any]]:
    """The implementations to compare: Cython first when it is built, then pure Python."""
    found = [("python", PYTHON)]
    if CYTHON is not None:
        found.insert(0, ("cython", CYTHON))
    return found


class Finding(AssertionError):
    """A bug shown by a fuzz input: a divergence between implementations or a broken limit."""


class Input:
    """Choices read from the front of a fuzz input; reads past its end give zeros."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self) -> int:
        return self.byte() << 8 | self.byte()

    def below(self, n: int) -> int:
        """An integer in ``range(n)``; one byte when ``n`` <= 256, two otherwise."""
        if n <= 1:
            return 0
        return (self.byte() if n <= 256 else self.u16()) % n

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def choice(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[self.below(len(options))]

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.data)


def describe_exception(exc: BaseException) -> tuple[Any, ...]:
    """What must be equal between implementations when they raise: type, message, details."""
    details: tuple[Any, ...] = (type(exc), str(exc))
    if isinstance(exc, UnicodeDecodeError):
        details += (exc.object, exc.start, exc.end, exc.reason, getattr(exc, "offset", None))
    return details


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        return ("return", function(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("raise", *describe_exception(exc))


def cut_points(inp: Input, length: int, max_cuts: int = 8) -> list[int]:
    """Where to cut a stream of ``length`` bytes: a few positions, or every byte."""
    if length <= 1:
        return []
    mode = inp.below(4)
    if mode == 0:
        return []
    if mode == 1 and length <= 256:
        return list(range(1, length))
    count = inp.below(max_cuts + 1)
    return sorted({1 + inp.below(length - 1) for _ in range(count)})


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def require(condition: bool, message: str) -> None:
    if not condition:
        raise Finding(message)


def same(label: str, results: dict[str, Any]) -> None:
    """Raise a Finding unless every implementation's result is equal to the first one's."""
    items = list(results.items())
    first_name, first = items[0]
    for name, result in items[1:]:
        if result != first:
            raise Finding(
                f"{label}: {first_name} and {name} differ\n"
                f"  {first_name}: {_short(first)}\n  {name}: {_short(result)}"
            )


def _short(value: Any, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@contextlib.contextmanager
def wired(codec: Any) -> Iterator[None]:
    """Run the Sans-I/O layer (protocol, frames) on ``codec``, then restore what was there.

    The same switch as the ``active_codec`` fixture of tests/conftest.py: the rest of
    wsfast looks the codec up on wsfast.speedups when it calls it.
    """
    import wsfast.speedups
    from wsfast._codec_names import CODEC_NAMES

    saved = [(name, getattr(wsfast.speedups, name)) for name in CODEC_NAMES]
    for name in CODEC_NAMES:
        setattr(wsfast.speedups, name, getattr(codec, name))
    try:
        yield
    finally:
        for name, value in saved:
            setattr(wsfast.speedups, name, value)
