"""apply_mask / apply_mask_inplace on both implementations (RFC 6455 §5.3).

Expected results come from ``reference_mask``, a byte-at-a-time XOR written here, never from
the code under test. Lengths are chosen around every vector width the C kernels use (8-byte
words, 16-byte SSE2/NEON, 32-byte AVX2, 64- and 128-byte unrolled loops) and around the 64 KiB
threshold above which the extension releases the GIL.
"""

from __future__ import annotations

import array
import os
import random

import pytest

KEY = bytes.fromhex("37fa213d")  # the RFC 6455 §5.7 example key

VECTOR_LENGTHS = [15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257]
LARGE_LENGTHS = [64 * 1024 - 1, 64 * 1024, 64 * 1024 + 3, 1024 * 1024 + 5]


def reference_mask(data: bytes, key: bytes) -> bytes:
    """Octet i of the payload XOR octet i % 4 of the key, one byte at a time."""
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def payload(length: int, seed: int = 0) -> bytes:
    return random.Random(length * 7919 + seed).randbytes(length)


def as_kind(kind: str, data: bytes):
    """An object whose bytes, in C order, are ``data``."""
    if kind == "bytes":
        return bytes(data)
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "memoryview-unaligned":
        # Starts one byte into its buffer: vector loads must not assume alignment.
        return memoryview(b"\xaa" + data + b"\xbb")[1:-1]
    if kind == "array-B":
        return array.array("B", data)
    if kind == "strided":
        junk = bytes((~byte) & 0xFF for byte in data)
        interleaved = bytes(b for pair in zip(data, junk) for b in pair)
        view = memoryview(interleaved)[::2]
        assert not view.c_contiguous or len(data) <= 1
        return view
    raise AssertionError(kind)


KINDS = ["bytes", "bytearray", "memoryview", "memoryview-unaligned", "array-B", "strided"]


@pytest.mark.parametrize("kind", KINDS)
def test_apply_mask_all_small_lengths(codec, kind):
    for length in range(0, 301):
        data = payload(length)
        result = codec.apply_mask(as_kind(kind, data), KEY)
        assert type(result) is bytes
        assert result == reference_mask(data, KEY), length


@pytest.mark.parametrize("length", VECTOR_LENGTHS + LARGE_LENGTHS)
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview-unaligned", "strided"])
def test_apply_mask_vector_widths(codec, kind, length):
    data = payload(length)
    key = bytes.fromhex("a1b2c3d4")
    assert codec.apply_mask(as_kind(kind, data), key) == reference_mask(data, key)


@pytest.mark.parametrize("length", VECTOR_LENGTHS)
def test_apply_mask_every_start_alignment(codec, length):
    base = payload(length + 16)
    for start in range(16):
        data = base[start : start + length]
        view = memoryview(base)[start : start + length]
        assert codec.apply_mask(view, KEY) == reference_mask(data, KEY), start


def test_apply_mask_rfc_6455_example(codec):
    # §5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
    assert codec.apply_mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
    assert codec.apply_mask(bytes.fromhex("7f9f4d5158"), KEY) == b"Hello"


def test_apply_mask_is_an_involution_and_leaves_input_alone(codec):
    data = payload(1000)
    buffer = bytearray(data)
    once = codec.apply_mask(buffer, KEY)
    assert buffer == data
    assert once != data
    assert codec.apply_mask(once, KEY) == data


def test_apply_mask_phase_restarts_at_zero_each_call(codec):
    data = payload(37)
    assert codec.apply_mask(data[:5], KEY) + codec.apply_mask(data[5:], KEY) == (
        reference_mask(data[:5], KEY) + reference_mask(data[5:], KEY)
    )
    assert codec.apply_mask(data[5:], KEY) != reference_mask(data, KEY)[5:]


@pytest.mark.parametrize("key", [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x04\x08"])
def test_apply_mask_special_keys(codec, key):
    data = payload(200)
    assert codec.apply_mask(data, key) == reference_mask(data, key)


@pytest.mark.parametrize("typecode", ["h", "i", "l", "q", "f", "d"])
def test_apply_mask_array_of_wider_items(codec, typecode):
    items = array.array(typecode, range(1, 41))
    raw = items.tobytes()
    assert codec.apply_mask(items, KEY) == reference_mask(raw, KEY)


def test_apply_mask_array_i(codec):
    values = array.array("i", [0, 1, -1, 2**31 - 1, -(2**31), 123456789] * 11)
    assert codec.apply_mask(values, KEY) == reference_mask(values.tobytes(), KEY)
    assert codec.apply_mask(array.array("i"), KEY) == b""


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (4, 16), (16, 4), (5, 33), (64, 65)])
def test_apply_mask_2d_memoryview(codec, shape):
    rows, cols = shape
    data = payload(rows * cols)
    view = memoryview(data).cast("B", shape)
    assert view.ndim == 2
    assert codec.apply_mask(view, KEY) == reference_mask(data, KEY)


def test_apply_mask_2d_memoryview_of_ints(codec):
    values = array.array("i", range(24))
    view = memoryview(values).cast("B").cast("i", (4, 6))
    assert codec.apply_mask(view, KEY) == reference_mask(values.tobytes(), KEY)


@pytest.mark.parametrize("step", [2, 3, -1, -2])
def test_apply_mask_non_contiguous_memoryview(codec, step):
    base = payload(301)
    view = memoryview(base)[::step]
    expected_data = base[::step]
    assert codec.apply_mask(view, KEY) == reference_mask(expected_data, KEY)


def test_apply_mask_non_contiguous_array_view(codec):
    values = array.array("i", range(50))
    view = memoryview(values)[::2]
    assert codec.apply_mask(view, KEY) == reference_mask(view.tobytes(), KEY)


def _array_i_key():
    """array('i') whose native bytes are KEY (one 4-byte item on every supported platform)."""
    key = array.array("i")
    key.frombytes(KEY)
    return key


@pytest.mark.parametrize(
    "mask",
    [
        pytest.param(bytearray(KEY), id="bytearray"),
        pytest.param(memoryview(KEY), id="memoryview"),
        pytest.param(array.array("B", KEY), id="array-B"),
        pytest.param(_array_i_key(), id="array-i"),
        pytest.param(memoryview(b"\x37?\xfa?\x21?\x3d?")[::2], id="strided"),
        pytest.param(memoryview(KEY).cast("B", (2, 2)), id="2d"),
    ],
)
def test_mask_key_any_bytes_like(codec, mask):
    data = payload(100)
    expected = reference_mask(data, bytes(memoryview(mask).tobytes()))
    assert codec.apply_mask(data, mask) == expected
    buffer = bytearray(data)
    assert codec.apply_mask_inplace(buffer, mask) is None
    assert buffer == expected


def test_array_i_mask_rfc_example(codec):
    mask = _array_i_key()
    assert len(mask) == 1
    assert codec.apply_mask(b"Hello", mask) == bytes.fromhex("7f9f4d5158")


@pytest.mark.parametrize("length", [0, 1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_mask_of_wrong_length(codec, length, wrap):
    mask = wrap(b"k" * length)
    with pytest.raises(ValueError) as info:
        codec.apply_mask(b"payload", mask)
    assert str(info.value) == "mask must contain 4 bytes"
    buffer = bytearray(b"payload")
    with pytest.raises(ValueError) as info:
        codec.apply_mask_inplace(buffer, mask)
    assert str(info.value) == "mask must contain 4 bytes"
    assert buffer == b"payload"


def test_mask_of_wrong_length_by_item_count(codec):
    # One array('h') item is 2 bytes: two items are the 4 bytes a key needs, one is not.
    assert codec.apply_mask(b"\x00" * 4, array.array("h", [0x0102, 0x0304])) == (
        array.array("h", [0x0102, 0x0304]).tobytes()
    )
    with pytest.raises(ValueError, match="^mask must contain 4 bytes$"):
        codec.apply_mask(b"\x00" * 4, array.array("h", [1]))
    with pytest.raises(ValueError, match="^mask must contain 4 bytes$"):
        codec.apply_mask(b"\x00" * 4, array.array("i", [1, 2]))


@pytest.mark.parametrize(
    "mask, name",
    [("abcd", "str"), (1234, "int"), (None, "NoneType"), ([1, 2, 3, 4], "list"), (1.5, "float")],
)
def test_mask_of_wrong_type(codec, mask, name):
    with pytest.raises(TypeError) as info:
        codec.apply_mask(b"payload", mask)
    assert str(info.value) == f"mask must be a bytes-like object, not {name}"
    buffer = bytearray(b"payload")
    with pytest.raises(TypeError) as info:
        codec.apply_mask_inplace(buffer, mask)
    assert str(info.value) == f"mask must be a bytes-like object, not {name}"
    assert buffer == b"payload"


@pytest.mark.parametrize(
    "data, name",
    [("Hello", "str"), (42, "int"), (None, "NoneType"), ([72, 101], "list"), (object(), "object")],
)
def test_apply_mask_data_of_wrong_type(codec, data, name):
    with pytest.raises(TypeError) as info:
        codec.apply_mask(data, KEY)
    assert str(info.value) == f"data must be a bytes-like object, not {name}"


def test_apply_mask_data_error_takes_precedence_over_mask_error(codec):
    with pytest.raises(TypeError, match="^data must be a bytes-like object, not str$"):
        codec.apply_mask("Hello", b"xx")


# In place ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", list(range(0, 70)) + VECTOR_LENGTHS + LARGE_LENGTHS)
def test_apply_mask_inplace_bytearray(codec, length):
    data = payload(length, seed=1)
    buffer = bytearray(data)
    assert codec.apply_mask_inplace(buffer, KEY) is None
    assert buffer == reference_mask(data, KEY)
    codec.apply_mask_inplace(buffer, KEY)
    assert buffer == data


@pytest.mark.parametrize("length", VECTOR_LENGTHS + [64 * 1024 + 3])
def test_apply_mask_inplace_slice_touches_only_the_slice(codec, length):
    data = payload(length + 10, seed=2)
    buffer = bytearray(data)
    view = memoryview(buffer)[3 : 3 + length]  # unaligned, surrounded by untouched bytes
    codec.apply_mask_inplace(view, KEY)
    assert buffer[:3] == data[:3]
    assert buffer[3 : 3 + length] == reference_mask(data[3 : 3 + length], KEY)
    assert buffer[3 + length :] == data[3 + length :]


def test_apply_mask_inplace_array_i(codec):
    values = array.array("i", range(-50, 51))
    raw = values.tobytes()
    codec.apply_mask_inplace(values, KEY)
    assert values.tobytes() == reference_mask(raw, KEY)


def test_apply_mask_inplace_2d_writable_view(codec):
    data = payload(6 * 7)
    buffer = bytearray(data)
    view = memoryview(buffer).cast("B", (6, 7))
    codec.apply_mask_inplace(view, KEY)
    assert buffer == reference_mask(data, KEY)


def test_apply_mask_inplace_with_masks_of_any_type(codec):
    data = payload(50)
    for mask in (KEY, bytearray(KEY), memoryview(KEY), memoryview(b"\x37.\xfa.\x21.\x3d.")[::2]):
        buffer = bytearray(data)
        codec.apply_mask_inplace(buffer, mask)
        assert buffer == reference_mask(data, KEY)


@pytest.mark.parametrize(
    "buffer, name",
    [
        (b"read-only bytes", "bytes"),
        (memoryview(b"read-only view"), "memoryview"),
        (memoryview(b"read-only strided view")[::2], "memoryview"),
        ("text", "str"),
        (12, "int"),
        (None, "NoneType"),
        ([1, 2, 3], "list"),
    ],
)
def test_apply_mask_inplace_refuses_read_only_and_non_buffers(codec, buffer, name):
    with pytest.raises(TypeError) as info:
        codec.apply_mask_inplace(buffer, KEY)
    assert str(info.value) == f"buffer must be a writable bytes-like object, not {name}"


def test_apply_mask_inplace_refuses_read_only_before_checking_mask(codec):
    with pytest.raises(TypeError, match="^buffer must be a writable bytes-like object, not bytes$"):
        codec.apply_mask_inplace(b"abc", b"bad")


@pytest.mark.parametrize("step", [2, -1])
def test_apply_mask_inplace_refuses_non_contiguous(codec, step):
    buffer = bytearray(payload(64))
    before = bytes(buffer)
    with pytest.raises(ValueError) as info:
        codec.apply_mask_inplace(memoryview(buffer)[::step], KEY)
    assert str(info.value) == "buffer must be contiguous to be masked in place"
    assert buffer == before


def test_kernel_names(codec):
    if codec.__name__ == "wsfast._speedups_py":
        assert (codec.MASK_IMPL, codec.UTF8_IMPL) == ("python", "python")
    elif os.environ.get("WSFAST_FORCE_SCALAR", "") not in ("", "0"):
        assert (codec.MASK_IMPL, codec.UTF8_IMPL) == ("word64", "scalar")
    else:
        assert codec.MASK_IMPL in {"avx2", "sse2", "neon", "word64"}
        assert codec.UTF8_IMPL in {"avx2", "ssse3", "neon", "scalar"}
