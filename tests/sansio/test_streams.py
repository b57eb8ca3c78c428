"""Tests for wsfast.streams.StreamReader.

websockets.streams.StreamReader is the reference: the same feeds and reads are given to both
and the results, exceptions and messages compared, rather than comparing against strings
copied here. The one deliberate difference is covered by its own test: ``read_to_eof`` keeps
its limit even when the data and the EOF were both fed before it ran.

Cost is checked by timing the same work at two sizes: a reader that copied or rescanned its
buffer on each small feed would take quadratic time and fail the ratio by a wide margin.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets_support import needs_websockets, websockets_module

from wsfast.streams import StreamReader

ws_streams = websockets_module("websockets.streams")

# Reads as (name, args): what both readers are asked to do, in turn.
Read = tuple[str, tuple[Any, ...]]


def step(gen: Generator[None, None, Any]) -> tuple[str, Any]:
    """Advance a generator-based read once: ("pending", None), ("ok", value) or ("exc", …)."""
    try:
        next(gen)
    except StopIteration as exc:
        return ("ok", exc.value)
    except Exception as exc:  # noqa: BLE001 - the exception is the result being compared
        return ("exc", (type(exc).__name__, str(exc)))
    return ("pending", None)


def run_script(
    reader: Any, chunks: list[bytes], reads: list[Read], *, eof: bool = True
) -> list[tuple[str, Any]]:
    """Run ``reads`` one after the other, feeding the next chunk whenever a read waits.

    When the chunks run out the stream ends (if ``eof``). Returns each read's outcome and,
    last, what is left in the buffer; stops after the first exception, or a read that can
    never complete.
    """
    pending = list(chunks)
    results: list[tuple[str, Any]] = []
    for name, args in reads:
        gen = getattr(reader, name)(*args)
        outcome = step(gen)
        while outcome[0] == "pending":
            if pending:
                reader.feed_data(pending.pop(0))
            elif eof and not reader.eof:
                reader.feed_eof()
            else:
                break
            outcome = step(gen)
        if outcome[0] == "ok" and isinstance(outcome[1], (bytes, bytearray)):
            outcome = ("ok", (type(outcome[1]).__name__, bytes(outcome[1])))
        results.append(outcome)
        if outcome[0] != "ok":
            break
    results.append(("buffer", bytes(reader.buffer)))
    return results


# Bytes rich in LFs, so that lines are short enough to end within the limits drawn below.
chunk_data = st.binary(max_size=12).map(lambda b: b.replace(b"a", b"\n"))
reads = st.one_of(
    st.tuples(st.just("read_line"), st.tuples(st.integers(0, 20))),
    st.tuples(st.just("read_line"), st.tuples(st.integers(0, 20), st.just(ValueError))),
    st.tuples(st.just("read_exact"), st.tuples(st.integers(0, 20))),
    st.tuples(st.just("read_to_eof"), st.tuples(st.integers(0, 40))),
    st.tuples(st.just("read_to_eof"), st.tuples(st.integers(0, 40), st.just(KeyError))),
    st.tuples(st.just("at_eof"), st.tuples()),
)


@needs_websockets
class TestDifferential:
    """Random feeds and reads give the same results as websockets' StreamReader."""

    @settings(max_examples=400, deadline=None)
    @given(
        chunks=st.lists(chunk_data, max_size=12),
        script=st.lists(reads, min_size=1, max_size=6),
        eof=st.booleans(),
    )
    def test_same_results(self, chunks: list[bytes], script: list[Read], eof: bool) -> None:
        ours = run_script(StreamReader(), chunks, script, eof=eof)
        theirs = run_script(ws_streams.StreamReader(), chunks, script, eof=eof)
        if ours != theirs:
            # The deliberate difference: websockets' read_to_eof returns more than m bytes
            # when they and the EOF are all buffered before it runs; ours raises.
            index = len(ours) - 2
            name, args = script[index]
            assert name == "read_to_eof", (ours, theirs)
            kind, (_, data) = theirs[index]
            assert kind == "ok" and len(data) > args[0], (ours, theirs)
            exc_type = args[1] if len(args) > 1 else RuntimeError
            message = f"read {len(data)} bytes, expected no more than {args[0]} bytes"
            assert ours[index] == ("exc", (exc_type.__name__, message))
            assert ours[:index] == theirs[:index]


class TestReadLine:
    def test_line_split_across_feeds(self) -> None:
        reader = StreamReader()
        gen = reader.read_line(100)
        assert step(gen) == ("pending", None)
        reader.feed_data(b"spam ")
        assert step(gen) == ("pending", None)
        reader.feed_data(b"eggs\nham")
        assert step(gen) == ("ok", bytearray(b"spam eggs\n"))
        assert reader.buffer == b"ham"

    def test_limit_counts_the_lf(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"x" * 9 + b"\n" + b"x" * 10 + b"\n")
        assert step(reader.read_line(10)) == ("ok", bytearray(b"x" * 9 + b"\n"))
        assert step(reader.read_line(10)) == (
            "exc",
            ("RuntimeError", "read 11 bytes, expected no more than 10 bytes"),
        )

    def test_limit_without_lf_raises_once_exceeded(self) -> None:
        reader = StreamReader()
        gen = reader.read_line(10)
        reader.feed_data(b"x" * 10)
        # Ten bytes without LF can't end within the limit any more, but websockets waits for
        # one more byte before raising, and so do we, for the same message.
        assert step(gen) == ("pending", None)
        reader.feed_data(b"x")
        assert step(gen) == (
            "exc",
            ("RuntimeError", "read 11 bytes, expected no more than 10 bytes"),
        )

    def test_custom_exception_type(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"x" * 20)
        with pytest.raises(KeyError):
            next(reader.read_line(10, KeyError))

    def test_eof_before_lf(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"spam")
        reader.feed_eof()
        with pytest.raises(EOFError, match=r"^stream ends after 4 bytes, before end of line$"):
            next(reader.read_line(10))

    def test_discard_while_waiting_restarts_the_search(self) -> None:
        # The reader remembers how much of the buffer holds no LF; discarding must forget
        # it, or a LF arriving early in the new data would be missed.
        reader = StreamReader()
        gen = reader.read_line(100)
        reader.feed_data(b"0123456789")
        assert step(gen) == ("pending", None)
        reader.discard()
        reader.feed_data(b"ab\ncdefghijklm")
        assert step(gen) == ("ok", bytearray(b"ab\n"))

    def test_search_restarts_after_other_reads(self) -> None:
        reader = StreamReader()
        gen = reader.read_line(100)
        reader.feed_data(b"0123456789")
        assert step(gen) == ("pending", None)
        gen.close()
        assert step(reader.read_exact(8)) == ("ok", bytearray(b"01234567"))
        reader.feed_data(b"\n")
        assert step(reader.read_line(100)) == ("ok", bytearray(b"89\n"))


class TestReadExact:
    def test_across_feeds(self) -> None:
        reader = StreamReader()
        gen = reader.read_exact(4)
        reader.feed_data(b"ab")
        assert step(gen) == ("pending", None)
        reader.feed_data(b"cde")
        assert step(gen) == ("ok", bytearray(b"abcd"))
        assert reader.buffer == b"e"

    def test_zero(self) -> None:
        assert step(StreamReader().read_exact(0)) == ("ok", bytearray())

    def test_negative_is_a_bug(self) -> None:
        with pytest.raises(AssertionError):
            next(StreamReader().read_exact(-1))

    def test_eof(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"ab")
        reader.feed_eof()
        with pytest.raises(EOFError, match=r"^stream ends after 2 bytes, expected 4 bytes$"):
            next(reader.read_exact(4))
        assert reader.buffer == b"ab"

    def test_result_is_independent_of_the_buffer(self) -> None:
        reader = StreamReader()
        data = bytearray(b"abcd")
        reader.feed_data(data)
        data[0] = 0
        result = step(reader.read_exact(4))[1]
        reader.feed_data(b"xyz")
        assert result == b"abcd"


class TestReadToEOF:
    def test_reads_everything(self) -> None:
        reader = StreamReader()
        gen = reader.read_to_eof(10)
        reader.feed_data(b"spam")
        assert step(gen) == ("pending", None)
        reader.feed_data(b"eggs")
        assert step(gen) == ("pending", None)
        reader.feed_eof()
        assert step(gen) == ("ok", bytearray(b"spameggs"))

    def test_limit_while_waiting(self) -> None:
        reader = StreamReader()
        gen = reader.read_to_eof(10, KeyError)
        reader.feed_data(b"x" * 11)
        message = "'read 11 bytes, expected no more than 10 bytes'"  # KeyError quotes its arg
        assert step(gen) == ("exc", ("KeyError", message))

    def test_limit_holds_when_eof_was_already_fed(self) -> None:
        # Deliberate difference: websockets returns all 11 bytes here.
        reader = StreamReader()
        reader.feed_data(b"x" * 11)
        reader.feed_eof()
        with pytest.raises(RuntimeError, match=r"^read 11 bytes, expected no more than 10 bytes$"):
            next(reader.read_to_eof(10))

    def test_exactly_the_limit(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"x" * 10)
        reader.feed_eof()
        assert step(reader.read_to_eof(10)) == ("ok", bytearray(b"x" * 10))


class TestAtEOF:
    def test_data_buffered(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"x")
        assert step(reader.at_eof()) == ("ok", False)

    def test_waits_for_data_or_eof(self) -> None:
        reader = StreamReader()
        gen = reader.at_eof()
        assert step(gen) == ("pending", None)
        reader.feed_data(b"")
        assert step(gen) == ("pending", None)
        reader.feed_eof()
        assert step(gen) == ("ok", True)

    def test_eof_with_data_left(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"x")
        reader.feed_eof()
        assert step(reader.at_eof()) == ("ok", False)


class TestFeeding:
    def test_feed_data_after_eof(self) -> None:
        reader = StreamReader()
        reader.feed_eof()
        with pytest.raises(EOFError, match=r"^stream ended$"):
            reader.feed_data(b"x")

    def test_feed_eof_twice(self) -> None:
        reader = StreamReader()
        reader.feed_eof()
        with pytest.raises(EOFError, match=r"^stream ended$"):
            reader.feed_eof()

    def test_discard_keeps_the_stream_open(self) -> None:
        reader = StreamReader()
        reader.feed_data(b"spam")
        reader.discard()
        assert reader.buffer == b""
        assert not reader.eof
        reader.feed_data(b"eggs\n")
        assert step(reader.read_line(10)) == ("ok", bytearray(b"eggs\n"))

    @needs_websockets
    def test_public_attributes(self) -> None:
        reader = StreamReader()
        theirs = ws_streams.StreamReader()
        assert type(reader.buffer) is type(theirs.buffer)
        assert reader.eof is theirs.eof is False

    @needs_websockets
    def test_same_signatures(self) -> None:
        for name in [
            "feed_data",
            "feed_eof",
            "discard",
            "read_line",
            "read_exact",
            "read_to_eof",
            "at_eof",
        ]:
            ours = inspect.signature(getattr(StreamReader, name))
            theirs = inspect.signature(getattr(ws_streams.StreamReader, name))
            assert str(ours) == str(theirs), name


def best_time(work: Callable[[int], None], n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work(n)
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(work: Callable[[int], None], small: int, factor: int = 8) -> None:
    """``work(small * factor)`` must cost about ``factor`` times ``work(small)``.

    Linear work gives a ratio near ``factor``; quadratic work gives ``factor ** 2``. The
    bound sits in between, far enough from both for timing noise.
    """
    work(small)  # warm up
    ratio = best_time(work, small * factor) / best_time(work, small)
    assert ratio < factor * 3, f"{ratio:.1f}x the time for {factor}x the data"


def drive_byte_by_byte(reader: StreamReader, gen: Generator[None, None, Any], data: bytes) -> Any:
    """Feed ``data`` one byte at a time, stepping ``gen`` after each, as a network would."""
    view = memoryview(data)
    try:
        next(gen)
        for i in range(len(data)):
            reader.feed_data(view[i : i + 1])
            next(gen)
        reader.feed_eof()
        next(gen)
    except StopIteration as exc:
        return exc.value
    raise AssertionError("read didn't complete")


class TestCost:
    """Many tiny feeds cost linear time, not quadratic."""

    def test_read_exact_one_byte_feeds(self) -> None:
        def work(n: int) -> None:
            reader = StreamReader()
            assert len(drive_byte_by_byte(reader, reader.read_exact(n), b"x" * n)) == n

        assert_linear(work, 1 << 17)  # up to 1 MiB

    def test_read_line_one_byte_feeds(self) -> None:
        def work(n: int) -> None:
            reader = StreamReader()
            line = b"x" * (n - 1) + b"\n"
            assert len(drive_byte_by_byte(reader, reader.read_line(n), line)) == n

        assert_linear(work, 1 << 17)

    def test_read_to_eof_one_byte_feeds(self) -> None:
        def work(n: int) -> None:
            reader = StreamReader()
            assert len(drive_byte_by_byte(reader, reader.read_to_eof(n), b"x" * n)) == n

        assert_linear(work, 1 << 17)

    def test_many_small_reads_from_a_large_buffer(self) -> None:
        # Consuming from the front must not shift the rest of the buffer each time.
        def work(n: int) -> None:
            reader = StreamReader()
            reader.feed_data(b"ab\n" * n)
            for _ in range(n // 2):
                step(reader.read_exact(2))
                step(reader.read_line(10))

        assert_linear(work, 1 << 15)

    def test_many_short_lines_one_byte_feeds(self) -> None:
        def work(n: int) -> None:
            reader = StreamReader()
            data = b"header: value\r\n" * (n // 15)
            count = 0
            for byte in data:
                reader.feed_data(bytes((byte,)))
                if byte == 0x0A:
                    step(reader.read_line(100))
                    count += 1
            assert count == n // 15 and reader.buffer == b""

        assert_linear(work, 1 << 16)
