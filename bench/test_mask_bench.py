"""Masking (RFC 6455 §5.3) throughput: wsfast vs peers, one benchmark group per payload size.

Out-of-place implementations take ``bytes`` and return new ``bytes``; in-place ones XOR a
``bytearray`` (masking twice restores it, so repeated rounds on one buffer are fine).
``baseline.bytes(bytearray(x))`` only copies (twice), as a memory-bandwidth reference;
``baseline.bytes(x)`` copies a bytearray once into new bytes: the allocation and the writes
that any out-of-place mask does, without the XOR, so the floor for ``apply_mask``.
"""

from __future__ import annotations

import pytest

MASK = b"\x37\xfa\x21\x3d"

SIZES = [
    pytest.param(16, "16 B", id="16B"),
    pytest.param(125, "125 B", id="125B"),
    pytest.param(1024, "1 KiB", id="1KiB"),
    pytest.param(64 * 1024, "64 KiB", id="64KiB"),
    pytest.param(1024 * 1024, "1 MiB", id="1MiB"),
]


def reference_mask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


# Each factory returns (callable, args, verify) or skips with a reason.
# verify(data) returns the result of masking a fresh copy of data once (None = nothing to check).


def _out_of_place(func):
    def make(data):
        return func, (data, MASK), lambda: func(data, MASK)

    return make


def wsfast_cython_apply_mask(data):
    mod = pytest.importorskip("wsfast._speedups", reason="wsfast Cython extension is not built")
    return _out_of_place(mod.apply_mask)(data)


def wsfast_cython_apply_mask_inplace(data):
    mod = pytest.importorskip("wsfast._speedups", reason="wsfast Cython extension is not built")

    def verify():
        buf = bytearray(data)
        mod.apply_mask_inplace(buf, MASK)
        return bytes(buf)

    return mod.apply_mask_inplace, (bytearray(data), MASK), verify


def wsfast_python_apply_mask(data):
    from wsfast import _speedups_py

    return _out_of_place(_speedups_py.apply_mask)(data)


def websockets_apply_mask(data):
    mod = pytest.importorskip(
        "websockets.speedups", reason="websockets' C extension (websockets.speedups) is not installed"
    )
    return _out_of_place(mod.apply_mask)(data)


def _aiohttp_mask():
    """aiohttp's in-place mask: the Cython one if built, else its pure-Python fallback."""
    try:
        from aiohttp._websocket.mask import _websocket_mask_cython as func

        return func, "aiohttp._websocket_mask_cython(inplace)"
    except ImportError:
        pass
    try:
        from aiohttp._websocket.helpers import _websocket_mask_python as func

        return func, "aiohttp._websocket_mask_python(inplace)"
    except ImportError:
        return None, "aiohttp.websocket_mask(inplace)"


_AIOHTTP_MASK, _AIOHTTP_ID = _aiohttp_mask()


def aiohttp_mask_inplace(data):
    if _AIOHTTP_MASK is None:
        pytest.skip("aiohttp (aiohttp._websocket.helpers / .mask) is not installed")
    func = _AIOHTTP_MASK  # signature: (mask: bytes, data: bytearray) -> None

    def verify():
        buf = bytearray(data)
        func(MASK, buf)
        return bytes(buf)

    return func, (MASK, bytearray(data)), verify


def wsaccel_xormask(data):
    mod = pytest.importorskip("wsaccel.xormask", reason="wsaccel is not installed")
    masker_class = mod.XorMaskerSimple

    # The masker keeps its position in the key between calls, so each frame needs a new one;
    # construction is part of the per-frame cost.
    def mask_frame(payload, mask):
        return masker_class(mask).process(payload)

    return _out_of_place(mask_frame)(data)


def baseline_copy(data):
    def copy(payload):
        return bytes(bytearray(payload))

    return copy, (data,), None


def baseline_single_copy(data):
    source = bytearray(data)

    def copy(payload):
        return bytes(payload)

    return copy, (source,), None


IMPLEMENTATIONS = [
    pytest.param(wsfast_cython_apply_mask, id="wsfast-cython.apply_mask"),
    pytest.param(wsfast_cython_apply_mask_inplace, id="wsfast-cython.apply_mask_inplace"),
    pytest.param(wsfast_python_apply_mask, id="wsfast-python.apply_mask"),
    pytest.param(websockets_apply_mask, id="websockets.speedups.apply_mask"),
    pytest.param(aiohttp_mask_inplace, id=_AIOHTTP_ID),
    pytest.param(wsaccel_xormask, id="wsaccel.XorMaskerSimple.process"),
    pytest.param(baseline_copy, id="baseline.bytes(bytearray(x))"),
    pytest.param(baseline_single_copy, id="baseline.bytes(x)"),
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("size, label", SIZES)
def test_mask(benchmark, random_bytes, impl, size, label):
    benchmark.group = f"mask {label}"
    data = random_bytes(size)
    func, args, verify = impl(data)
    if verify is not None:
        assert verify() == reference_mask(data, MASK)
    benchmark.extra_info["bytes"] = size
    if impl.__name__.startswith("wsfast_cython"):
        from wsfast import _speedups

        benchmark.extra_info["kernel"] = _speedups.MASK_IMPL
    benchmark(func, *args)
