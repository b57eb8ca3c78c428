"""UTF-8 validation on both implementations (RFC 3629; RFC 6455 §5.6, §8.1).

Expected verdicts come from the hand-written table in ``utf8_vectors`` (Markus Kuhn's decoder
capability and stress test) and from ``reference_error``, an oracle independent of the code
under test, itself checked against the table first.

"First invalid byte" is the contract's definition: the length of the longest prefix of the
message that is still a prefix of some valid UTF-8 text.
"""

from __future__ import annotations

import array

import pytest

from utf8_vectors import (
    codec_words,
    ALL_CASES,
    CONT,
    END,
    INVALID_CLASSES,
    KUHN_CASES,
    START,
    expected_outcome,
    reference_error,
    reference_pending,
    run_fragments,
    split_at,
)
from wsfast.exceptions import InvalidUTF8

CASE_IDS = [case[0] for case in ALL_CASES]
KUHN_IDS = [case[0] for case in KUHN_CASES]

MULTIBYTE_TEXT = "aé€😀\U0010ffff\ufffe\uffff\ud7ff\ue000ßz\u0800\U00010000".encode()


def check_outcome(validator, fragments):
    """Feed fragments, finish, and compare with the oracle's expectation."""
    expected = expected_outcome(fragments)
    outcome = run_fragments(validator, fragments)
    if expected is None:
        assert outcome is None, (fragments, outcome)
        return
    assert outcome is not None, (fragments, expected)
    call, error = outcome
    exp_call, exp_object, exp_start, exp_end, exp_offset, exp_reason = expected
    assert isinstance(error, InvalidUTF8)
    assert (call, bytes(error.object), error.start, error.end, error.offset, error.reason) == (
        exp_call, exp_object, exp_start, exp_end, exp_offset, exp_reason
    ), fragments
    assert str(error) == codec_words(exp_object, exp_start, exp_end, exp_offset, exp_reason)


# The oracle itself -------------------------------------------------------------------------


@pytest.mark.parametrize("name, data, expected", ALL_CASES, ids=CASE_IDS)
def test_reference_oracle_agrees_with_hand_written_table(name, data, expected):
    assert reference_error(data) == expected
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert expected is not None
    else:
        assert expected is None


# Kuhn's stress test ------------------------------------------------------------------------


@pytest.mark.parametrize("name, data, expected", ALL_CASES, ids=CASE_IDS)
def test_kuhn_one_shot(codec, name, data, expected):
    if expected is None:
        assert codec.validate_utf8(data) is None
        return
    offset, reason = expected
    with pytest.raises(InvalidUTF8) as info:
        codec.validate_utf8(data)
    error = info.value
    assert isinstance(error, UnicodeDecodeError)
    assert error.encoding == "utf-8"
    assert error.offset == offset
    assert error.reason == reason
    if reason == END:
        assert (bytes(error.object), error.start, error.end) == (data[offset:], 0, len(data) - offset)
    else:
        assert (bytes(error.object), error.start, error.end) == (data, offset, offset + 1)
    assert str(error) == codec_words(bytes(error.object), error.start, error.end, offset, reason)


@pytest.mark.parametrize("name, data, expected", KUHN_CASES, ids=KUHN_IDS)
def test_kuhn_after_text_and_before_text(codec, name, data, expected):
    prefix = "ab€".encode()
    validator = codec.Utf8Validator()
    outcome = run_fragments(validator, [prefix + data])
    if expected is None:
        assert outcome is None
    else:
        assert outcome[1].offset == len(prefix) + expected[0]
        assert outcome[1].reason == expected[1]
    # Followed by ASCII, a truncated sequence becomes a broken one.
    validator = codec.Utf8Validator()
    outcome = run_fragments(validator, [data + b"xyz"])
    if expected is None:
        assert outcome is None
    elif expected[1] == END:
        assert (outcome[1].offset, outcome[1].reason) == (len(data), CONT)
    else:
        assert (outcome[1].offset, outcome[1].reason) == expected


@pytest.mark.parametrize("name, data, expected", ALL_CASES, ids=CASE_IDS)
def test_kuhn_byte_by_byte_fails_fast(codec, name, data, expected):
    validator = codec.Utf8Validator()
    for index in range(len(data)):
        byte = data[index : index + 1]
        if expected is not None and expected[1] != END and index == expected[0]:
            with pytest.raises(InvalidUTF8) as info:
                validator.feed(byte)
            error = info.value
            assert (bytes(error.object), error.start, error.end) == (byte, 0, 1)
            assert (error.offset, error.reason) == expected
            return
        validator.feed(byte)
        assert validator.offset == index + 1
        assert validator.pending == reference_pending(data[: index + 1])
    if expected is None:
        validator.finish()
        assert (validator.offset, validator.pending) == (0, 0)
    else:
        with pytest.raises(InvalidUTF8) as info:
            validator.finish()
        assert (info.value.offset, info.value.reason) == expected


@pytest.mark.parametrize("name, data, expected", KUHN_CASES, ids=KUHN_IDS)
def test_kuhn_every_two_and_three_way_split(codec, name, data, expected):
    size = len(data)
    cut_pairs = [(i, j) for i in range(size + 1) for j in range(i, size + 1)]
    if len(cut_pairs) > 600:
        cut_pairs = cut_pairs[:: len(cut_pairs) // 600 + 1]
    for cuts in cut_pairs:
        check_outcome(codec.Utf8Validator(), split_at(data, cuts))


# Exhaustive short sequences ----------------------------------------------------------------


def test_every_one_and_two_byte_message(codec):
    validator = codec.Utf8Validator()
    for first in range(256):
        for second in [None, *range(256)]:
            data = bytes((first,)) if second is None else bytes((first, second))
            expected = reference_error(data)
            try:
                codec.validate_utf8(data)
            except InvalidUTF8 as error:
                assert (error.offset, error.reason) == expected, data
            else:
                assert expected is None, data
    # Same messages, incremental, through one validator reused with reset().
    for first in range(0xC0, 0x100):
        for second in range(0x70, 0xD0):
            validator.reset()
            data = bytes((first, second))
            check_outcome(validator, [data[:1], data[1:]])


def test_three_byte_messages_around_every_range_edge(codec):
    edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xF4, 0xF5, 0xFF]
    for first in list(range(0xC0, 0x100)) + [0x41, 0x80]:
        for second in edges:
            for third in edges:
                data = bytes((first, second, third))
                expected = reference_error(data)
                try:
                    codec.validate_utf8(data)
                except InvalidUTF8 as error:
                    assert (error.offset, error.reason) == expected, data
                else:
                    assert expected is None, data


# Incremental behaviour --------------------------------------------------------------------


def test_multibyte_text_split_at_every_position(codec):
    data = MULTIBYTE_TEXT * 3
    for cut in range(len(data) + 1):
        validator = codec.Utf8Validator()
        validator.feed(data[:cut])
        assert validator.offset == cut
        assert validator.pending == reference_pending(data[:cut])
        validator.feed(data[cut:])
        assert validator.offset == len(data)
        assert validator.pending == 0
        validator.finish()
        assert validator.offset == 0


def test_multibyte_text_three_fragments_every_split(codec):
    data = MULTIBYTE_TEXT
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1):
            check_outcome(codec.Utf8Validator(), split_at(data, (first, second)))


def test_multibyte_text_byte_by_byte(codec):
    validator = codec.Utf8Validator()
    for index in range(len(MULTIBYTE_TEXT)):
        validator.feed(MULTIBYTE_TEXT[index : index + 1])
        assert validator.offset == index + 1
        assert validator.pending == reference_pending(MULTIBYTE_TEXT[: index + 1])
    validator.finish()


@pytest.mark.parametrize(
    "unfinished",
    [b"\xc3", b"\xe2", b"\xe2\x82", b"\xf0", b"\xf0\x9f", b"\xf0\x9f\x98", b"\xf4\x8f\xbf", b"\xed\x9f"],
)
def test_truncated_sequence_accepted_until_finish(codec, unfinished):
    validator = codec.Utf8Validator()
    validator.feed(b"abc")
    validator.feed(unfinished)
    assert validator.pending == len(unfinished)
    assert validator.offset == 3 + len(unfinished)
    with pytest.raises(InvalidUTF8) as info:
        validator.finish()
    error = info.value
    assert (bytes(error.object), error.start, error.end) == (unfinished, 0, len(unfinished))
    assert (error.offset, error.reason) == (3, END)
    assert str(error) == codec_words(unfinished, 0, len(unfinished), 3, END)


def test_pending_sequence_spread_over_fragments_is_reported_whole(codec):
    validator = codec.Utf8Validator()
    for fragment, pending in [(b"ab\xf0", 1), (b"", 1), (b"\x9f", 2), (b"\x98", 3)]:
        validator.feed(fragment)
        assert validator.pending == pending
    with pytest.raises(InvalidUTF8) as info:
        validator.finish()
    assert bytes(info.value.object) == b"\xf0\x9f\x98"
    assert (info.value.start, info.value.end, info.value.offset) == (0, 3, 2)


def test_pending_sequence_completed_across_fragments(codec):
    validator = codec.Utf8Validator()
    validator.feed(b"\xf0")
    validator.feed(b"\x9f")
    validator.feed(b"\x98")
    validator.feed(b"\x80")
    assert validator.pending == 0
    validator.finish()


@pytest.mark.parametrize(
    "fragments, raising_call, start, offset, reason",
    [
        # The invalid byte arrives alone: the second feed raises.
        ([b"\xed", b"\xa0"], 1, 0, 1, CONT),
        ([b"\xed", b"\xa0\x80"], 1, 0, 1, CONT),
        ([b"\xe0", b"\x9f"], 1, 0, 1, CONT),
        ([b"\xf0", b"\x8f"], 1, 0, 1, CONT),
        ([b"\xf4", b"\x90"], 1, 0, 1, CONT),
        ([b"\xe2\x82", b"A"], 1, 0, 2, CONT),
        ([b"\xf0\x9f\x98", b"\x80\x80"], 1, 1, 4, START),
        ([b"x\xf0", b"\x9f", b"\x98", b"("], 3, 0, 4, CONT),
        # Already invalid within one fragment: raised at once, before any more data.
        ([b"\xf4\x90"], 0, 1, 1, CONT),
        ([b"\xed\xa0"], 0, 1, 1, CONT),
        ([b"\xe0\x80"], 0, 1, 1, CONT),
        ([b"\xf0\x80"], 0, 1, 1, CONT),
        ([b"\xc0"], 0, 0, 0, START),
        ([b"\xc1"], 0, 0, 0, START),
        ([b"\xf5"], 0, 0, 0, START),
        ([b"\xff"], 0, 0, 0, START),
        ([b"ok", b"\x80"], 1, 0, 2, START),
    ],
)
def test_fail_fast(codec, fragments, raising_call, start, offset, reason):
    validator = codec.Utf8Validator()
    for call, fragment in enumerate(fragments):
        if call == raising_call:
            with pytest.raises(InvalidUTF8) as info:
                validator.feed(fragment)
            error = info.value
            assert (bytes(error.object), error.start, error.end) == (fragment, start, start + 1)
            assert (error.offset, error.reason) == (offset, reason)
            return
        validator.feed(fragment)
    raise AssertionError("the raising call was not reached")


def test_error_persists_until_reset(codec):
    validator = codec.Utf8Validator()
    validator.feed(b"abc")
    with pytest.raises(InvalidUTF8) as info:
        validator.feed(b"d\xffe")
    first = info.value
    assert (first.offset, first.start, first.reason) == (4, 1, START)
    offset = validator.offset
    for action in (
        lambda: validator.feed(b"valid"),
        lambda: validator.feed(b""),
        lambda: validator.feed(bytearray(b"\xc3\xa9")),
        lambda: validator.feed("not bytes"),
        validator.finish,
        validator.finish,
    ):
        with pytest.raises(InvalidUTF8) as again:
            action()
        assert again.value is first
        assert validator.offset == offset
    validator.reset()
    assert (validator.offset, validator.pending) == (0, 0)
    validator.feed(b"\xc3")
    assert (validator.offset, validator.pending) == (1, 1)
    with pytest.raises(InvalidUTF8) as info:
        validator.feed(b"\xc3")
    assert (info.value.offset, info.value.start, info.value.reason) == (1, 0, CONT)
    assert info.value is not first


def test_finish_error_persists_until_reset(codec):
    validator = codec.Utf8Validator()
    validator.feed(b"\xe2\x82")
    with pytest.raises(InvalidUTF8) as info:
        validator.finish()
    first = info.value
    for action in (lambda: validator.feed(b"\xac"), validator.finish):
        with pytest.raises(InvalidUTF8) as again:
            action()
        assert again.value is first
    validator.reset()
    validator.feed(b"\xe2\x82\xac")
    validator.finish()


def test_finish_resets_for_the_next_message(codec):
    validator = codec.Utf8Validator()
    validator.finish()
    validator.feed(b"first message \xc3\xa9")
    assert validator.offset == 16
    validator.finish()
    assert (validator.offset, validator.pending) == (0, 0)
    validator.finish()
    with pytest.raises(InvalidUTF8) as info:
        validator.feed(b"ab\x80")
    assert info.value.offset == 2


def test_reset_forgets_an_unfinished_sequence(codec):
    validator = codec.Utf8Validator()
    validator.feed(b"xy\xf0\x9f")
    assert (validator.offset, validator.pending) == (4, 2)
    validator.reset()
    assert (validator.offset, validator.pending) == (0, 0)
    validator.feed(b"a")  # would be invalid had the sequence been kept
    validator.finish()


def test_new_validator_state(codec):
    validator = codec.Utf8Validator()
    assert (validator.offset, validator.pending) == (0, 0)
    validator.feed(b"")
    assert (validator.offset, validator.pending) == (0, 0)
    validator.finish()


def test_validators_are_independent(codec):
    first, second = codec.Utf8Validator(), codec.Utf8Validator()
    first.feed(b"\xe2")
    second.feed(b"a")
    second.finish()
    first.feed(b"\x82\xac")
    first.finish()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytearray("é€".encode()), id="bytearray"),
        pytest.param(memoryview("é€".encode()), id="memoryview"),
        pytest.param(array.array("B", "é€".encode()), id="array-B"),
        pytest.param(memoryview("é€".encode() + b"x").cast("B", (2, 3)), id="2d"),
        pytest.param(memoryview(b"\xc3.\xa9.\xe2.\x82.\xac.")[::2], id="strided"),
        pytest.param(array.array("i", [0x41424344, 0x31323334]), id="array-i"),
    ],
)
def test_feed_any_bytes_like(codec, data):
    validator = codec.Utf8Validator()
    validator.feed(data)
    assert validator.offset == len(memoryview(data).tobytes())
    validator.finish()
    codec.validate_utf8(data)


def test_invalid_bytes_like_input(codec):
    strided_invalid = memoryview(b"a.\xff.b.")[::2]
    with pytest.raises(InvalidUTF8) as info:
        codec.validate_utf8(strided_invalid)
    assert bytes(info.value.object) == b"a\xffb"
    assert (info.value.start, info.value.offset) == (1, 1)
    ints = array.array("i")
    ints.frombytes(b"ab\xc0d")
    with pytest.raises(InvalidUTF8) as info:
        codec.validate_utf8(ints)
    assert (bytes(info.value.object), info.value.offset) == (b"ab\xc0d", 2)


@pytest.mark.parametrize("data, name", [("text", "str"), (None, "NoneType"), (7, "int")])
def test_feed_wrong_type(codec, data, name):
    with pytest.raises(TypeError) as info:
        codec.Utf8Validator().feed(data)
    assert str(info.value) == f"data must be a bytes-like object, not {name}"
    with pytest.raises(TypeError) as info:
        codec.validate_utf8(data)
    assert str(info.value) == f"data must be a bytes-like object, not {name}"


def test_validate_utf8_returns_none(codec):
    assert codec.validate_utf8(b"") is None
    assert codec.validate_utf8(MULTIBYTE_TEXT) is None


# Long inputs: the vector kernels and their scalar rescans ---------------------------------


def _positions(length: int, limit: int | None = None) -> list[int]:
    """Positions at and around every 16/32/64-byte block boundary (±1..3), plus the ends."""
    found = set(range(0, 8))
    for block in (16, 32, 64):
        for boundary in range(block, (limit or length) + block, block):
            found.update(boundary + delta for delta in range(-3, 4))
    found.update(length - delta for delta in range(1, 8))
    return sorted(position for position in found if 0 <= position <= length)


@pytest.mark.parametrize("name, bad, index, reason", INVALID_CLASSES, ids=[c[0] for c in INVALID_CLASSES])
def test_error_at_every_block_position_in_ascii(codec, name, bad, index, reason):
    size = 300
    for position in _positions(size):
        data = b"a" * position + bad + b"b" * (size - position)
        expected = position + index
        with pytest.raises(InvalidUTF8) as info:
            codec.validate_utf8(data)
        assert (info.value.offset, info.value.reason) == (expected, reason), position
        assert reference_error(data) == (expected, reason)


@pytest.mark.parametrize("name, bad, index, reason", INVALID_CLASSES, ids=[c[0] for c in INVALID_CLASSES])
def test_error_at_every_block_position_in_multibyte_text(codec, name, bad, index, reason):
    text = "é€😀a" * 40  # 10 bytes a round: characters straddle every block boundary
    encoded = text.encode()
    boundaries = [0]
    for char in text:
        boundaries.append(boundaries[-1] + len(char.encode()))
    wanted = set(_positions(len(encoded)))
    for position in boundaries:
        if not any(position - 3 <= p <= position + 3 for p in wanted):
            continue
        data = encoded[:position] + bad + b"z" + encoded[position:]
        expected = position + index
        with pytest.raises(InvalidUTF8) as info:
            codec.validate_utf8(data)
        assert (info.value.offset, info.value.reason) == (expected, reason), position
        assert reference_error(data) == (expected, reason)


@pytest.mark.parametrize("name, bad, index, reason", INVALID_CLASSES[::3], ids=[c[0] for c in INVALID_CLASSES[::3]])
def test_error_at_block_positions_after_a_carried_sequence(codec, name, bad, index, reason):
    # The first fragment leaves a sequence open, so the second starts mid-character: the
    # scalar machine finishes it, then the vector kernel takes over at a shifted alignment.
    for character in ("é", "€", "😀"):
        encoded = character.encode()
        for carried in range(1, len(encoded)):
            for position in _positions(200):
                second = encoded[carried:] + b"a" * position + bad + b"b" * 100
                fragments = [b"x" + encoded[:carried], second]
                check_outcome(codec.Utf8Validator(), fragments)


def test_unfinished_sequence_before_ascii_block(codec):
    leads = [b"\xc3", b"\xe2", b"\xe2\x82", b"\xf0", b"\xf0\x9f", b"\xf0\x9f\x98", b"\xf4\x8f"]
    for block in (16, 32, 64):
        for multiple in (1, 2, 3, 5):
            boundary = block * multiple
            for lead in leads:
                # The unfinished sequence ends exactly at the block boundary; ASCII follows.
                data = b"a" * (boundary - len(lead)) + lead + b"a" * (block * 3)
                with pytest.raises(InvalidUTF8) as info:
                    codec.validate_utf8(data)
                assert (info.value.offset, info.value.reason) == (boundary, CONT), (block, multiple, lead)
                # Same with a non-ASCII block before it, so the kernel takes its slow path.
                data = "é".encode() * ((boundary - len(lead)) // 2) + b"a" * ((boundary - len(lead)) % 2)
                data += lead + b"a" * (block * 3)
                with pytest.raises(InvalidUTF8) as info:
                    codec.validate_utf8(data)
                assert (info.value.offset, info.value.reason) == (boundary, CONT)
                # And straddling the boundary: lead before it, first continuation after it.
                if len(lead) < 3 and lead[0] >= 0xE0:
                    data = b"a" * (boundary - 1) + lead[:1] + b"\xa0" + b"a" * (block * 3)
                    expected = reference_error(data)
                    assert expected[0] in (boundary, boundary + 1)
                    with pytest.raises(InvalidUTF8) as info:
                        codec.validate_utf8(data)
                    assert (info.value.offset, info.value.reason) == expected


def test_unfinished_sequence_at_block_boundary_then_end_of_message(codec):
    for block in (16, 32, 64):
        for lead in (b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"):
            data = b"a" * (block * 4 - len(lead)) + lead
            with pytest.raises(InvalidUTF8) as info:
                codec.validate_utf8(data)
            assert (info.value.offset, info.value.reason) == (block * 4 - len(lead), END)
            assert bytes(info.value.object) == lead


def test_valid_multibyte_characters_straddling_every_boundary(codec):
    for char in ("é", "€", "😀", "\U0010ffff", "\ufffe"):
        encoded = char.encode()
        for shift in range(64):
            data = b"a" * shift + encoded * (300 // len(encoded))
            assert codec.validate_utf8(data) is None, (char, shift)
            mixed = b"a" * shift + (encoded + b"abc") * 40
            assert codec.validate_utf8(mixed) is None, (char, shift)


def test_long_valid_inputs(codec):
    text = ("Hello, wörld! Ελληνικά 日本語 😀🎉 " * 40000).encode()  # > 1 MiB
    assert len(text) > 1024 * 1024
    assert codec.validate_utf8(text) is None
    validator = codec.Utf8Validator()
    step = 65537
    for start in range(0, len(text), step):
        validator.feed(text[start : start + step])
    assert validator.offset == len(text)
    validator.finish()
    assert codec.validate_utf8(b"a" * (1024 * 1024 + 17)) is None


MEBI = 1024 * 1024


LONG_CLASSES = [
    case
    for case in INVALID_CLASSES
    if case[0] in ("overlong3", "surrogate-high", "above-10ffff", "stray-80", "truncated4-3", "ff")
]


@pytest.mark.parametrize("name, bad, index, reason", LONG_CLASSES, ids=[c[0] for c in LONG_CLASSES])
def test_error_in_long_inputs(codec, name, bad, index, reason):
    ascii_base = b"a" * (MEBI + 200)
    text_base = ("€é😀" * (MEBI // 9 + 30)).encode()  # 9 bytes a round
    for base in (ascii_base, text_base):
        anchors = [64, 4096, MEBI // 2, MEBI - 64, MEBI]
        for anchor in anchors:
            for delta in (-3, -2, -1, 0, 1, 2, 3):
                position = anchor + delta
                if base is text_base:
                    position -= position % 9  # a character boundary
                data = base[:position] + bad + b"z" + base[position:]
                expected = position + index
                with pytest.raises(InvalidUTF8) as info:
                    codec.validate_utf8(data)
                assert (info.value.offset, info.value.reason) == (expected, reason)
        # Once per base, check the oracle and the fragment bookkeeping on a long message.
        middle = MEBI // 2 - (MEBI // 2 % 9 if base is text_base else 0)
        data = base[:middle] + bad + b"z" + base[middle:]
        assert reference_error(data) == (middle + index, reason)
        check_outcome(codec.Utf8Validator(), split_at(data, [1000, middle - 1, middle + 2]))


def test_error_raised_by_the_fragment_that_delivers_it(codec):
    data = ("naïve café " * 200).encode()
    bad_positions = [64, 95, 96, 97, 128, 255, 256, 1000, len(data) - 1]
    for position in bad_positions:
        corrupt = data[:position] + b"\xf8" + data[position:]
        for size in (1, 3, 7, 16, 31, 32, 33, 64, 100, 4096):
            cuts = range(size, len(corrupt), size)
            check_outcome(codec.Utf8Validator(), split_at(corrupt, cuts))
