"""``websockets.connection``'s former names for :mod:`wsfast.protocol`, kept with a warning.

websockets 11 renamed the module to ``protocol`` and its ``Connection`` class to
``Protocol``; importing this module warns as websockets does.
"""

from __future__ import annotations

import warnings

from .protocol import SEND_EOF, Protocol as Connection, Side, State  # noqa: F401

warnings.warn(
    f"{__name__} was renamed to {__package__}.protocol "
    "and Connection was renamed to Protocol",
    DeprecationWarning,
    stacklevel=2,
)
