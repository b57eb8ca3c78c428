"""Type stubs for wsfast._speedups, the Cython twin of wsfast._speedups_py.

Names, parameters and defaults mirror the pure-Python twin, which is the reference
(tests/packaging/test_stubs.py holds the three together). Types are the twin's, made precise
where it leaves them open, plus what only the extension has: its classes are final, and
``FrameReader.get_buffer()`` returns an exporter of the receive buffer rather than a bytearray.
"""

import sys
from collections.abc import Sequence
from typing import Any, Final, final

__all__ = [
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
]

# The SIMD or portable kernels picked at import time ("avx2", "sse2", "neon", "word64";
# "avx2", "ssse3", "neon", "scalar").
MASK_IMPL: Final[str]
UTF8_IMPL: Final[str]

# (fin, rsv1, rsv2, rsv3, opcode, masked, length, mask, header_size)
_FrameHeader = tuple[bool, bool, bool, bool, int, bool, int, bytes | None, int]

def apply_mask(data: object, mask: object) -> bytes: ...
def apply_mask_inplace(buffer: object, mask: object) -> None: ...
def validate_utf8(data: object) -> None: ...
def parse_frame_header(data: object, offset: int = 0) -> _FrameHeader | None: ...
def serialize_frame(
    opcode: int,
    payload: object,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: object = None,
) -> bytes: ...
def _discard_mask_keys() -> None: ...
@final
class Utf8Validator:
    def __init__(self) -> None: ...
    @property
    def offset(self) -> int: ...
    @property
    def pending(self) -> int: ...
    def reset(self) -> None: ...
    def feed(self, data: object) -> None: ...
    def finish(self) -> None: ...

@final
class FrameWriter:
    def __init__(self, *, mask: bool, extensions: Sequence[Any] = ()) -> None: ...
    def frame(self, opcode: int, data: object, fin: bool = True) -> bytes: ...

@final
class _ReceiveBuffer:
    """The writable region returned by FrameReader.get_buffer(), valid until buffer_updated()."""

    def __len__(self) -> int: ...
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview: ...
        def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class FrameReader:
    def __init__(
        self,
        *,
        mask: bool,
        max_size: int | None | tuple[int | None, int | None] = 1048576,
        max_fragments: int | None = None,
        extensions: Sequence[Any] = (),
    ) -> None: ...
    @property
    def message_in_progress(self) -> bool: ...
    @property
    def error(self) -> BaseException | None: ...
    def feed_data(self, data: object) -> None: ...
    def feed_eof(self) -> None: ...
    def get_buffer(self, sizehint: int = -1) -> _ReceiveBuffer: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def read_frame(self) -> Any: ...
    def feed_messages(self, data: object) -> list[Any]: ...
    def read_messages(self) -> list[Any]: ...
