"""Pick the codec implementation once, at import time.

The Cython extension ``wsfast._speedups`` is used when it is importable and not disabled;
otherwise its pure-Python twin ``wsfast._speedups_py``. Everything else in wsfast imports the
codec from here, so one switch decides for the whole process. ``IMPLEMENTATION`` says which
one runs and ``FALLBACK_REASON`` why it is pure Python when it is.

The module name matches ``websockets.speedups`` so that code importing
``websockets.speedups.apply_mask`` keeps working with ``import wsfast as websockets``.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from typing import TYPE_CHECKING

from ._codec_names import CODEC_NAMES

__all__ = ["ASYNCIO_CORE", "FALLBACK_REASON", "IMPLEMENTATION", *CODEC_NAMES]


def _extensions_disabled() -> bool:
    return os.environ.get("WSFAST_NO_EXTENSIONS", "") not in ("", "0")


def _build_failure() -> str | None:
    """The reason setup.py recorded when it fell back to pure Python at build time."""
    try:
        text = resources.files(__package__).joinpath("_build_failure.txt").read_text("utf-8")
    except (OSError, ValueError):
        return None
    return text.strip() or None


FALLBACK_REASON: str | None
if _extensions_disabled():
    from . import _speedups_py as _impl

    FALLBACK_REASON = "WSFAST_NO_EXTENSIONS is set"
else:
    try:
        from . import _speedups as _impl  # type: ignore[no-redef]
    except ImportError as exc:
        from . import _speedups_py as _impl

        if _build_failure() is not None:
            FALLBACK_REASON = _build_failure()
        elif importlib.util.find_spec(f"{__package__}._speedups") is None:
            # Not a failure: a pure wheel, or a build with WSFAST_BUILD_EXTENSION=no. (The
            # ImportError would only say "partially initialized module", which misleads.)
            FALLBACK_REASON = "wsfast was installed without its Cython extension"
        else:
            FALLBACK_REASON = f"the extension is not importable ({exc})"
    else:
        FALLBACK_REASON = None
        # The asyncio connection's compiled core is built with the codec; it is imported
        # later, by wsfast.asyncio only, but checked now so that IMPLEMENTATION holds for
        # both (a half-installed build runs pure Python throughout, and says why).
        if importlib.util.find_spec(f"{__package__}.asyncio._core") is None:
            from . import _speedups_py as _impl

            FALLBACK_REASON = "the extension wsfast.asyncio._core is missing"

IMPLEMENTATION: str = "python" if _impl.__name__.endswith("_speedups_py") else "cython"

if TYPE_CHECKING:
    # The twin's types stand for both implementations (the extension's stubs mirror them).
    from ._speedups_py import (
        MASK_IMPL as MASK_IMPL,
        UTF8_IMPL as UTF8_IMPL,
        FrameReader as FrameReader,
        FrameWriter as FrameWriter,
        Utf8Validator as Utf8Validator,
        apply_mask as apply_mask,
        apply_mask_inplace as apply_mask_inplace,
        parse_frame_header as parse_frame_header,
        serialize_frame as serialize_frame,
        validate_utf8 as validate_utf8,
    )
else:
    globals().update({name: getattr(_impl, name) for name in CODEC_NAMES})

# The module of the asyncio connection's per-message path (AssemblerCore, ConnectionCore):
# the compiled one with the compiled codec, else its pure-Python twin.
ASYNCIO_CORE: str = (
    f"{__package__}.asyncio._core"
    if IMPLEMENTATION == "cython"
    else f"{__package__}.asyncio._core_py"
)
