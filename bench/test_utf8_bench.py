"""UTF-8 validation throughput: wsfast vs peers, per text kind and size.

Whole messages: one-shot validation of ASCII or mixed multibyte text.
Fragmented: one 64 KiB message fed as 16 fragments of 4 KiB to an incremental validator
(fragment edges fall inside multibyte sequences in the mixed text), then finished.
``bytes.decode`` / the codecs incremental decoder also build a ``str``: they are the
stdlib way to check UTF-8, not a pure validator.
"""

from __future__ import annotations

import codecs

import pytest

KINDS = [pytest.param("ascii", id="ascii"), pytest.param("mixed", id="mixed")]

SIZES = [
    pytest.param(125, "125 B", id="125B"),
    pytest.param(1024, "1 KiB", id="1KiB"),
    pytest.param(64 * 1024, "64 KiB", id="64KiB"),
    pytest.param(1024 * 1024, "1 MiB", id="1MiB"),
]

FRAGMENTED_SIZE = 64 * 1024
FRAGMENTS = 16


def _invalid_variant(data: bytes) -> bytes:
    """data with a byte that never occurs in UTF-8 near the end: every validator must reject it."""
    return data[:-2] + b"\xff "


# --- whole-message implementations: factory(data) -> (callable, args, rejects(bad) -> bool) ---


def _raises(func, *args) -> bool:
    try:
        func(*args)
    except UnicodeDecodeError:  # wsfast's InvalidUTF8 subclasses it
        return True
    return False


def _wsfast_whole(modname, reason):
    def factory(data):
        mod = pytest.importorskip(modname, reason=reason)
        return mod.validate_utf8, (data,), lambda bad: _raises(mod.validate_utf8, bad)

    return factory


def bytes_decode_whole(data):
    return bytes.decode, (data, "utf-8"), lambda bad: _raises(bytes.decode, bad, "utf-8")


def _wsaccel_validator():
    mod = pytest.importorskip("wsaccel.utf8validator", reason="wsaccel is not installed")
    return mod.Utf8Validator()


def wsaccel_whole(data):
    validator = _wsaccel_validator()

    def validate(payload):
        validator.reset()
        valid, ends_on_code_point, _, _ = validator.validate(payload)
        if not (valid and ends_on_code_point):
            raise UnicodeDecodeError("utf-8", payload, 0, 1, "invalid")

    return validate, (data,), lambda bad: _raises(validate, bad)


WHOLE = [
    pytest.param(
        _wsfast_whole("wsfast._speedups", "wsfast Cython extension is not built"),
        id="wsfast-cython.validate_utf8",
    ),
    pytest.param(_wsfast_whole("wsfast._speedups_py", "wsfast is not importable"),
                 id="wsfast-python.validate_utf8"),
    pytest.param(bytes_decode_whole, id="bytes.decode"),
    pytest.param(wsaccel_whole, id="wsaccel.Utf8Validator.validate"),
]


# --- fragmented implementations: factory() -> (run(fragments), rejects(bad_fragments) -> bool) ---


def _wsfast_incremental(modname, reason):
    def factory():
        mod = pytest.importorskip(modname, reason=reason)
        validator = mod.Utf8Validator()  # finish() resets it for the next message

        def run(fragments):
            feed = validator.feed
            for fragment in fragments:
                feed(fragment)
            validator.finish()

        def rejects(fragments):
            fresh = mod.Utf8Validator()
            try:
                for fragment in fragments:
                    fresh.feed(fragment)
                fresh.finish()
            except UnicodeDecodeError:
                return True
            return False

        return run, rejects

    return factory


def codecs_incremental():
    decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def run(fragments):
        decode = decoder.decode
        for fragment in fragments:
            decode(fragment)
        decode(b"", True)

    def rejects(fragments):
        fresh = codecs.getincrementaldecoder("utf-8")("strict")
        return _raises(lambda: [fresh.decode(f) for f in fragments] + [fresh.decode(b"", True)])

    return run, rejects


def wsaccel_incremental():
    validator = _wsaccel_validator()

    def run(fragments):
        validator.reset()
        validate = validator.validate
        for fragment in fragments:
            valid, ends_on_code_point, _, _ = validate(fragment)
            if not valid:
                raise UnicodeDecodeError("utf-8", fragment, 0, 1, "invalid")
        if not ends_on_code_point:
            raise UnicodeDecodeError("utf-8", fragment, 0, 1, "unexpected end of data")

    return run, lambda fragments: _raises(run, fragments)


INCREMENTAL = [
    pytest.param(
        _wsfast_incremental("wsfast._speedups", "wsfast Cython extension is not built"),
        id="wsfast-cython.Utf8Validator",
    ),
    pytest.param(_wsfast_incremental("wsfast._speedups_py", "wsfast is not importable"),
                 id="wsfast-python.Utf8Validator"),
    pytest.param(codecs_incremental, id="codecs.utf_8.IncrementalDecoder"),
    pytest.param(wsaccel_incremental, id="wsaccel.Utf8Validator.validate"),
]


def _kernel_info(benchmark, request):
    if "wsfast-cython" in request.node.name:
        from wsfast import _speedups

        benchmark.extra_info["kernel"] = _speedups.UTF8_IMPL


@pytest.mark.parametrize("impl", WHOLE)
@pytest.mark.parametrize("size, label", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_utf8(benchmark, request, utf8_text, impl, kind, size, label):
    benchmark.group = f"utf8 {kind} {label}"
    data = utf8_text(kind, size)
    func, args, rejects = impl(data)
    func(*args)  # valid text passes ...
    assert rejects(_invalid_variant(data))  # ... and the validator really validates
    benchmark.extra_info["bytes"] = size
    _kernel_info(benchmark, request)
    benchmark(func, *args)


def _split(data: bytes, parts: int) -> list[bytes]:
    step = len(data) // parts
    return [data[i : i + step] for i in range(0, len(data), step)]


@pytest.mark.parametrize("impl", INCREMENTAL)
@pytest.mark.parametrize("kind", KINDS)
def test_utf8_fragmented(benchmark, request, utf8_text, impl, kind):
    benchmark.group = f"utf8 {kind} 64 KiB in {FRAGMENTS} fragments"
    data = utf8_text(kind, FRAGMENTED_SIZE)
    fragments = _split(data, FRAGMENTS)
    assert len(fragments) == FRAGMENTS and b"".join(fragments) == data
    run, rejects = impl()
    run(fragments)
    assert rejects(_split(_invalid_variant(data), FRAGMENTS))
    benchmark.extra_info["bytes"] = FRAGMENTED_SIZE
    benchmark.extra_info["fragments"] = FRAGMENTS
    _kernel_info(benchmark, request)
    benchmark(run, fragments)
