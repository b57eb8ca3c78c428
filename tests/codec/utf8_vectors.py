"""UTF-8 test data: Markus Kuhn's decoder capability and stress test, and a reference oracle.

Kuhn's file (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt) predates RFC 3629's
restriction to U+10FFFF, so its "5-byte" and "6-byte" sequences and F5..F7 leads are simply
invalid here, and U+FFFE/U+FFFF (section 5.3) are valid: RFC 3629 allows noncharacters.

Each case is ``(id, data, expected)``. ``expected`` is ``None`` for valid text, else
``(offset, reason)`` following the codec contract: ``offset`` is the length of the longest
prefix of ``data`` that is still a prefix of some valid UTF-8 text (the first byte a validator
can reject), and ``reason`` is "invalid start byte" when that byte stands where a character
should start, "invalid continuation byte" when it breaks a sequence already begun. When the
data is a valid prefix that ends inside a sequence, the error comes from ``finish()``:
``offset`` is then where the unfinished sequence starts and ``reason`` "unexpected end of data".

These expectations were written by hand from RFC 3629 §4's table; they are *not* produced by
the code under test. ``reference_error`` below is an independent oracle (built on CPython's
encoder and decoder) that the tests check against this table before trusting it for random
inputs.
"""

from __future__ import annotations

import codecs

START = "invalid start byte"
CONT = "invalid continuation byte"
END = "unexpected end of data"


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


KUHN_CASES: list[tuple[str, bytes, tuple[int, str] | None]] = [
    # 1  Some correct UTF-8 text
    ("1-kosme", _h("ce ba e1 bd b9 cf 83 ce bc ce b5"), None),
    # 2.1  First possible sequence of a certain length
    ("2.1.1-U+0000", _h("00"), None),
    ("2.1.2-U+0080", _h("c2 80"), None),
    ("2.1.3-U+0800", _h("e0 a0 80"), None),
    ("2.1.4-U+10000", _h("f0 90 80 80"), None),
    ("2.1.5-5byte-U+200000", _h("f8 88 80 80 80"), (0, START)),
    ("2.1.6-6byte-U+4000000", _h("fc 84 80 80 80 80"), (0, START)),
    # 2.2  Last possible sequence of a certain length
    ("2.2.1-U+007F", _h("7f"), None),
    ("2.2.2-U+07FF", _h("df bf"), None),
    ("2.2.3-U+FFFF", _h("ef bf bf"), None),
    ("2.2.4-4byte-U+1FFFFF", _h("f7 bf bf bf"), (0, START)),
    ("2.2.5-5byte-U+3FFFFFF", _h("fb bf bf bf bf"), (0, START)),
    ("2.2.6-6byte-U+7FFFFFFF", _h("fd bf bf bf bf bf"), (0, START)),
    # 2.3  Other boundary conditions
    ("2.3.1-U+D7FF", _h("ed 9f bf"), None),
    ("2.3.2-U+E000", _h("ee 80 80"), None),
    ("2.3.3-U+FFFD", _h("ef bf bd"), None),
    ("2.3.4-U+10FFFF", _h("f4 8f bf bf"), None),
    ("2.3.5-U+110000", _h("f4 90 80 80"), (1, CONT)),
    # 3.1  Unexpected continuation bytes
    ("3.1.1-first-continuation", _h("80"), (0, START)),
    ("3.1.2-last-continuation", _h("bf"), (0, START)),
    ("3.1.3-2-continuations", _h("80 bf"), (0, START)),
    ("3.1.4-3-continuations", _h("80 bf 80"), (0, START)),
    ("3.1.5-4-continuations", _h("80 bf 80 bf"), (0, START)),
    ("3.1.6-5-continuations", _h("80 bf 80 bf 80"), (0, START)),
    ("3.1.7-6-continuations", _h("80 bf 80 bf 80 bf"), (0, START)),
    ("3.1.8-7-continuations", _h("80 bf 80 bf 80 bf 80"), (0, START)),
    ("3.1.9-all-64-continuations", bytes(range(0x80, 0xC0)), (0, START)),
    # 3.2  Lonely start characters, each followed by a space (the whole lines)
    ("3.2.1-2byte-leads-line", b"".join(bytes((b, 0x20)) for b in range(0xC0, 0xE0)), (0, START)),
    ("3.2.2-3byte-leads-line", b"".join(bytes((b, 0x20)) for b in range(0xE0, 0xF0)), (1, CONT)),
    ("3.2.3-4byte-leads-line", b"".join(bytes((b, 0x20)) for b in range(0xF0, 0xF8)), (1, CONT)),
    ("3.2.4-5byte-leads-line", b"".join(bytes((b, 0x20)) for b in range(0xF8, 0xFC)), (0, START)),
    ("3.2.5-6byte-leads-line", b"".join(bytes((b, 0x20)) for b in range(0xFC, 0xFE)), (0, START)),
    # 3.3  Sequences with last continuation byte missing
    ("3.3.1-2byte-U+0000-missing", _h("c0"), (0, START)),
    ("3.3.2-3byte-U+0000-missing", _h("e0 80"), (1, CONT)),
    ("3.3.3-4byte-U+0000-missing", _h("f0 80 80"), (1, CONT)),
    ("3.3.4-5byte-U+0000-missing", _h("f8 80 80 80"), (0, START)),
    ("3.3.5-6byte-U+0000-missing", _h("fc 80 80 80 80"), (0, START)),
    ("3.3.6-2byte-U+07FF-missing", _h("df"), (0, END)),
    ("3.3.7-3byte-U+FFFF-missing", _h("ef bf"), (0, END)),
    ("3.3.8-4byte-U+1FFFFF-missing", _h("f7 bf bf"), (0, START)),
    ("3.3.9-5byte-U+3FFFFFF-missing", _h("fb bf bf bf"), (0, START)),
    ("3.3.10-6byte-U+7FFFFFFF-missing", _h("fd bf bf bf bf"), (0, START)),
    # truncations that are valid prefixes under RFC 3629
    ("3.3-extra-3byte-1-missing", _h("e2 82"), (0, END)),
    ("3.3-extra-3byte-2-missing", _h("e2"), (0, END)),
    ("3.3-extra-4byte-1-missing", _h("f0 9f 98"), (0, END)),
    ("3.3-extra-4byte-2-missing", _h("f4 8f"), (0, END)),
    ("3.3-extra-4byte-3-missing", _h("f0"), (0, END)),
    ("3.3-extra-after-text", b"abc" + _h("f0 9f 98"), (3, END)),
    # 3.4  Concatenation of incomplete sequences (all ten of 3.3)
    (
        "3.4-all-incomplete-concatenated",
        _h("c0 e0 80 f0 80 80 f8 80 80 80 fc 80 80 80 80 df ef bf f7 bf bf fb bf bf bf fd bf bf bf bf"),
        (0, START),
    ),
    ("3.4-valid-leads-concatenated", _h("df ef bf f0 9f 98"), (1, CONT)),
    ("3.4-3byte-then-4byte-prefix", _h("ef bf f0 9f"), (2, CONT)),
    # 3.5  Impossible bytes
    ("3.5.1-fe", _h("fe"), (0, START)),
    ("3.5.2-ff", _h("ff"), (0, START)),
    ("3.5.3-fe-fe-ff-ff", _h("fe fe ff ff"), (0, START)),
    # 4.1  Overlong ASCII "/" (U+002F)
    ("4.1.1-overlong-2", _h("c0 af"), (0, START)),
    ("4.1.2-overlong-3", _h("e0 80 af"), (1, CONT)),
    ("4.1.3-overlong-4", _h("f0 80 80 af"), (1, CONT)),
    ("4.1.4-overlong-5", _h("f8 80 80 80 af"), (0, START)),
    ("4.1.5-overlong-6", _h("fc 80 80 80 80 af"), (0, START)),
    # 4.2  Maximum overlong sequences
    ("4.2.1-max-overlong-2-U+007F", _h("c1 bf"), (0, START)),
    ("4.2.2-max-overlong-3-U+07FF", _h("e0 9f bf"), (1, CONT)),
    ("4.2.3-max-overlong-4-U+FFFF", _h("f0 8f bf bf"), (1, CONT)),
    ("4.2.4-max-overlong-5", _h("f8 87 bf bf bf"), (0, START)),
    ("4.2.5-max-overlong-6", _h("fc 83 bf bf bf bf"), (0, START)),
    # 4.3  Overlong NUL
    ("4.3.1-overlong-nul-2", _h("c0 80"), (0, START)),
    ("4.3.2-overlong-nul-3", _h("e0 80 80"), (1, CONT)),
    ("4.3.3-overlong-nul-4", _h("f0 80 80 80"), (1, CONT)),
    ("4.3.4-overlong-nul-5", _h("f8 80 80 80 80"), (0, START)),
    ("4.3.5-overlong-nul-6", _h("fc 80 80 80 80 80"), (0, START)),
    # 5.1  Single UTF-16 surrogates
    ("5.1.1-U+D800", _h("ed a0 80"), (1, CONT)),
    ("5.1.2-U+DB7F", _h("ed ad bf"), (1, CONT)),
    ("5.1.3-U+DB80", _h("ed ae 80"), (1, CONT)),
    ("5.1.4-U+DBFF", _h("ed af bf"), (1, CONT)),
    ("5.1.5-U+DC00", _h("ed b0 80"), (1, CONT)),
    ("5.1.6-U+DF80", _h("ed be 80"), (1, CONT)),
    ("5.1.7-U+DFFF", _h("ed bf bf"), (1, CONT)),
    # 5.2  Paired UTF-16 surrogates
    ("5.2.1-U+D800-U+DC00", _h("ed a0 80 ed b0 80"), (1, CONT)),
    ("5.2.2-U+D800-U+DFFF", _h("ed a0 80 ed bf bf"), (1, CONT)),
    ("5.2.3-U+DB7F-U+DC00", _h("ed ad bf ed b0 80"), (1, CONT)),
    ("5.2.4-U+DB7F-U+DFFF", _h("ed ad bf ed bf bf"), (1, CONT)),
    ("5.2.5-U+DB80-U+DC00", _h("ed ae 80 ed b0 80"), (1, CONT)),
    ("5.2.6-U+DB80-U+DFFF", _h("ed ae 80 ed bf bf"), (1, CONT)),
    ("5.2.7-U+DBFF-U+DC00", _h("ed af bf ed b0 80"), (1, CONT)),
    ("5.2.8-U+DBFF-U+DFFF", _h("ed af bf ed bf bf"), (1, CONT)),
    # 5.3  Noncharacters: valid in RFC 3629, must be accepted
    ("5.3.1-U+FFFE", _h("ef bf be"), None),
    ("5.3.1-U+FFFF", _h("ef bf bf"), None),
    ("5.3.2-U+FDD0..U+FDEF", "".join(map(chr, range(0xFDD0, 0xFDF0))).encode(), None),
    (
        "5.3.3-U+nFFFE-U+nFFFF",
        "".join(chr((plane << 16) | low) for plane in range(1, 17) for low in (0xFFFE, 0xFFFF)).encode(),
        None,
    ),
]

# 3.1.9 / 3.2 / 3.5 byte by byte, with the reason each single start byte earns.
LONELY_CASES: list[tuple[str, bytes, tuple[int, str] | None]] = []
for _b in range(0x80, 0xC0):
    LONELY_CASES.append((f"3.1.9-continuation-{_b:02x}", bytes((_b,)), (0, START)))
for _b in range(0xC0, 0x100):
    if 0xC2 <= _b <= 0xF4:
        # A lead byte that could start a character; the space breaks its sequence.
        LONELY_CASES.append((f"3.2-lead-{_b:02x}-space", bytes((_b, 0x20)), (1, CONT)))
        LONELY_CASES.append((f"3.3-lead-{_b:02x}-alone", bytes((_b,)), (0, END)))
    else:
        # C0, C1 (always overlong), F5..FF (beyond U+10FFFF or impossible).
        LONELY_CASES.append((f"3.2-lead-{_b:02x}-space", bytes((_b, 0x20)), (0, START)))
        LONELY_CASES.append((f"3.3-lead-{_b:02x}-alone", bytes((_b,)), (0, START)))

ALL_CASES = KUHN_CASES + LONELY_CASES

# Invalid sequences by class, for injection into valid text: (name, bytes, index of the first
# invalid byte within them when placed at a character boundary, reason).
INVALID_CLASSES: list[tuple[str, bytes, int, str]] = [
    ("overlong2-c0", _h("c0 80"), 0, START),
    ("overlong2-c1", _h("c1 bf"), 0, START),
    ("overlong3", _h("e0 80 80"), 1, CONT),
    ("overlong3-max", _h("e0 9f bf"), 1, CONT),
    ("overlong4", _h("f0 80 80 80"), 1, CONT),
    ("overlong4-max", _h("f0 8f bf bf"), 1, CONT),
    ("surrogate-high", _h("ed a0 80"), 1, CONT),
    ("surrogate-low", _h("ed bf bf"), 1, CONT),
    ("above-10ffff", _h("f4 90 80 80"), 1, CONT),
    ("f5", _h("f5 80 80 80"), 0, START),
    ("f8", _h("f8 88 80 80 80"), 0, START),
    ("fe", _h("fe"), 0, START),
    ("ff", _h("ff"), 0, START),
    ("stray-80", _h("80"), 0, START),
    ("stray-bf", _h("bf"), 0, START),
    ("truncated2", _h("c3"), 1, CONT),  # followed by ASCII
    ("truncated3-1", _h("e2"), 1, CONT),
    ("truncated3-2", _h("e2 82"), 2, CONT),
    ("truncated4-1", _h("f0"), 1, CONT),
    ("truncated4-2", _h("f0 9f"), 2, CONT),
    ("truncated4-3", _h("f0 9f 98"), 3, CONT),
    ("extra-continuation", _h("c3 a9 80"), 2, START),
    ("extra-continuation-4", _h("f0 9f 98 80 80"), 4, START),
]


# Reference oracle -------------------------------------------------------------------------


def _proper_prefixes() -> frozenset[bytes]:
    """Every proper, non-empty prefix of the UTF-8 encoding of some scalar value."""
    prefixes = set()
    # A proper prefix never includes the last byte, which holds the low 6 bits: stepping by 64
    # visits every distinct prefix.
    for code_point in range(0x80, 0x110000, 64):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        encoded = chr(code_point).encode("utf-8")
        for length in range(1, len(encoded)):
            prefixes.add(encoded[:length])
    return frozenset(prefixes)


PROPER_PREFIXES = _proper_prefixes()


def reference_error(data: bytes) -> tuple[int, str] | None:
    """Expected ``(offset, reason)`` for a complete message, or ``None`` if it is valid.

    Uses CPython's strict decoder to find the last character boundary before trouble, then the
    set of proper prefixes to extend it byte by byte: the first byte that makes the data stop
    being a prefix of valid text is the invalid one.
    """
    data = bytes(data)
    try:
        _, boundary = codecs.utf_8_decode(data, "strict", False)
    except UnicodeDecodeError as exc:
        boundary = exc.start
    length = 0
    while boundary + length < len(data) and data[boundary : boundary + length + 1] in PROPER_PREFIXES:
        length += 1
    if boundary + length == len(data):
        return None if length == 0 else (boundary, END)
    return (boundary + length, START if length == 0 else CONT)


def reference_pending(data: bytes) -> int:
    """Bytes of an unfinished trailing sequence in ``data``, assumed a valid prefix."""
    for length in (3, 2, 1):
        if len(data) >= length and data[-length:] in PROPER_PREFIXES:
            # The tail could also be the end of a complete character (e.g. "é" = C3 A9 ends
            # with A9, which is no prefix); proper prefixes always begin with a lead byte.
            return length
    return 0


def split_at(data: bytes, cuts) -> list[bytes]:
    """Fragments of ``data`` cut at the sorted positions ``cuts`` (empty fragments allowed)."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


def expected_outcome(fragments: list[bytes]):
    """What feeding ``fragments`` then calling finish() must do, from the reference oracle.

    Returns ``None`` when the message is valid, else ``(call, object, start, end, offset,
    reason)``: ``call`` is the index of the feed() that must raise (``len(fragments)`` for
    finish()), and the rest are the attributes of the InvalidUTF8 it raises.
    """
    data = b"".join(fragments)
    error = reference_error(data)
    if error is None:
        return None
    offset, reason = error
    if reason == END:
        return (len(fragments), data[offset:], 0, len(data) - offset, offset, reason)
    base = 0
    for call, fragment in enumerate(fragments):
        if base <= offset < base + len(fragment):
            start = offset - base
            return (call, fragment, start, start + 1, offset, reason)
        base += len(fragment)
    raise AssertionError("unreachable: the invalid byte lies inside the data")


def run_fragments(validator, fragments):
    """Feed ``fragments`` then finish(); return ``None`` or ``(call, error)``."""
    for call, fragment in enumerate(fragments):
        try:
            validator.feed(fragment)
        except UnicodeDecodeError as error:
            return call, error
    try:
        validator.finish()
    except UnicodeDecodeError as error:
        return len(fragments), error
    return None


def describe(error) -> tuple:
    """The attributes an InvalidUTF8 is compared on."""
    return (
        type(error),
        str(error),
        error.encoding,
        bytes(error.object),
        error.start,
        error.end,
        error.offset,
        error.reason,
    )


def codec_words(obj: bytes, start: int, end: int, offset: int, reason: str) -> str:
    """str() of UnicodeDecodeError for these attributes, placed at ``offset`` in the message.

    InvalidUTF8 words its message as Python's codec does (websockets chains the codec's
    error); test_exceptions.py checks that against the codec itself.
    """
    if end - start == 1:
        return f"'utf-8' codec can't decode byte 0x{obj[start]:02x} in position {offset}: {reason}"
    return f"'utf-8' codec can't decode bytes in position {offset}-{offset + end - start - 1}: {reason}"
