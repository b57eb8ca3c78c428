"""The codec's public names: what both implementations provide and ``wsfast.speedups`` exports.

Declared here once, in a module that imports nothing, so that the Cython extension, its
pure-Python twin, the switch and the tests all read the same list without importing either
implementation.
"""

from __future__ import annotations

CODEC_NAMES: tuple[str, ...] = (
    "FrameReader",
    "FrameWriter",
    "MASK_IMPL",
    "UTF8_IMPL",
    "Utf8Validator",
    "apply_mask",
    "apply_mask_inplace",
    "parse_frame_header",
    "serialize_frame",
    "validate_utf8",
)
