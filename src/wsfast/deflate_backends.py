"""Pluggable raw-DEFLATE engines for permessage-deflate (RFC 7692).

permessage-deflate frames carry raw DEFLATE data (RFC 1951, no zlib or gzip wrapper; RFC 7692
§7.2.1), so any correct DEFLATE implementation produces frames that any peer can read. Which
engine compresses and decompresses is therefore a local choice of speed, never of
compatibility. Three engines are known:

``"zlib"``
    The standard library's :mod:`zlib`. Always available; the default without zlib-ng.
``"zlib-ng"``
    :mod:`zlib_ng.zlib_ng` from the ``zlib-ng`` package: the same API and settings, a faster
    engine; the default when installed.
``"isal"``
    :mod:`isal.isal_zlib` from the ``isal`` package (Intel ISA-L): much faster, with fewer
    knobs. ISA-L has compression levels 0 to 3 only, so zlib's levels are mapped onto them:
    -1 (zlib's default) → 2 (ISA-L's default), 0 and 1 → 0, 2 to 4 → 1, 5 and 6 → 2,
    7 to 9 → 3. ISA-L's level 0 still compresses (it has no "stored only" mode), so zlib's
    level 0 cannot be honoured exactly. ISA-L supports only the default ``strategy``; any other
    is dropped rather than passed on, because ISA-L would warn on every compressor it builds.

Pick one with :func:`get_backend`: by name, else from the ``WSFAST_DEFLATE_BACKEND``
environment variable, else the first of :data:`PREFERRED_BACKENDS` that is installed: the
fastest engine that honours every zlib setting as zlib does (so not ISA-L, whose levels and
strategies differ). :func:`default_backend_name` says which engine that is. Naming an engine whose package isn't installed raises
:class:`BackendUnavailable`, an :class:`ImportError`, which names the package to install.
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_BACKEND",
    "ENV_VAR",
    "PREFERRED_BACKENDS",
    "BackendUnavailable",
    "DeflateBackend",
    "available_backends",
    "default_backend_name",
    "get_backend",
]

ENV_VAR = "WSFAST_DEFLATE_BACKEND"
#: The engine that is always there: the standard library's.
DEFAULT_BACKEND = "zlib"
#: The engines picked by default, fastest first: those that honour zlib's settings exactly.
PREFERRED_BACKENDS = ("zlib-ng", DEFAULT_BACKEND)


class BackendUnavailable(ImportError):
    """Raised when a DEFLATE engine is requested but its package isn't installed."""


def _same_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return dict(settings)


# zlib's levels run 0..9 (and -1 for "default", which means 6); ISA-L's run 0..3. The bands
# keep each end where it belongs: zlib's fastest settings map to ISA-L's fastest, zlib's best
# to ISA-L's best, zlib's default to ISA-L's default.
_ISAL_LEVELS = {-1: 2, 0: 0, 1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 3, 8: 3, 9: 3}


def _isal_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    adapted = dict(settings)
    if "level" in adapted:
        level = adapted["level"]
        if level not in _ISAL_LEVELS:
            raise ValueError(f"invalid compression level: {level!r}; expected -1 to 9")
        adapted["level"] = _ISAL_LEVELS[level]
    # ISA-L honours only the default strategy and warns about any other on every compressor
    # it builds, i.e. once per message without context takeover: drop it here instead.
    adapted.pop("strategy", None)
    return adapted


class DeflateBackend:
    """A loaded DEFLATE engine, reduced to what permessage-deflate needs.

    ``wbits`` arguments are window sizes in bits (9 to 15 for compressors, 8 to 15 for
    decompressors); the engine is always asked for raw DEFLATE. ``error`` is the exception
    class the engine raises on corrupt input; ``Z_SYNC_FLUSH`` its sync-flush mode.
    """

    __slots__ = ("name", "module", "error", "Z_SYNC_FLUSH", "_adapt", "_compressobj",
                 "_decompressobj")

    def __init__(
        self,
        name: str,
        module: Any,
        adapt: Callable[[Mapping[str, Any]], dict[str, Any]] = _same_settings,
    ) -> None:
        self.name = name
        self.module = module
        self.error: type[Exception] = module.error
        self.Z_SYNC_FLUSH: int = module.Z_SYNC_FLUSH
        self._adapt = adapt
        self._compressobj = module.compressobj
        self._decompressobj = module.decompressobj

    def __repr__(self) -> str:
        return f"<DeflateBackend {self.name}>"

    def compressobj(self, wbits: int, settings: Mapping[str, Any] | None = None) -> Any:
        """Return a raw-DEFLATE compressor with a ``2**wbits`` window.

        ``settings`` are :func:`zlib.compressobj` keyword arguments other than ``wbits``,
        adapted to the engine.
        """
        # Negative wbits selects raw DEFLATE: RFC 7692 §7.2.1 strips every wrapper.
        if settings:
            return self._compressobj(wbits=-wbits, **self._adapt(settings))
        return self._compressobj(wbits=-wbits)

    def decompressobj(self, wbits: int) -> Any:
        """Return a raw-DEFLATE decompressor with a ``2**wbits`` window."""
        return self._decompressobj(wbits=-wbits)

    def decompressor_factory(self, wbits: int) -> Callable[[], Any]:
        """Return a callable that makes :meth:`decompressobj` ``(wbits)`` decompressors.

        A C-level partial, for the frame readers, which may start one per message: it costs
        less than half of a call to :meth:`decompressobj`.
        """
        return functools.partial(self._decompressobj, wbits=-wbits)


# name -> (module to import, package that provides it or None for the standard library,
# settings adapter)
_SPECS: dict[str, tuple[str, str | None, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "zlib": ("zlib", None, _same_settings),
    "zlib-ng": ("zlib_ng.zlib_ng", "zlib-ng", _same_settings),
    "isal": ("isal.isal_zlib", "isal", _isal_settings),
}

BACKEND_NAMES: tuple[str, ...] = tuple(_SPECS)

_loaded: dict[str, DeflateBackend] = {}
_lock = threading.Lock()


def _canonical(name: str) -> str:
    # Accept the import spelling (zlib_ng) and any case, since env vars are typed by hand.
    key = name.strip().lower().replace("_", "-")
    if key not in _SPECS:
        raise ValueError(
            f"unknown deflate backend {name!r}; expected one of: {', '.join(BACKEND_NAMES)}"
        )
    return key


def _load(name: str) -> DeflateBackend:
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    module_name, package, adapt = _SPECS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if package is None:
            message = (
                f"deflate backend {name!r} needs the standard library's {module_name!r} "
                f"module, which this Python was built without ({exc})"
            )
        else:
            message = (
                f"deflate backend {name!r} needs the {package!r} package, which isn't "
                f"installed or failed to import ({exc}); install it with: pip install {package}"
            )
        raise BackendUnavailable(message, name=module_name) from exc
    with _lock:
        return _loaded.setdefault(name, DeflateBackend(name, module, adapt))


def get_backend(name: str | DeflateBackend | None = None) -> DeflateBackend:
    """Return the DEFLATE engine called ``name``.

    With ``name=None``, the ``WSFAST_DEFLATE_BACKEND`` environment variable chooses, and
    :func:`default_backend_name` when it is unset or empty. A :class:`DeflateBackend` is
    returned as is.

    Raises:
        ValueError: if the name isn't one of :data:`BACKEND_NAMES`.
        BackendUnavailable: if the engine's package isn't installed.
    """
    if isinstance(name, DeflateBackend):
        return name
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or default_backend_name()
    return _load(_canonical(name))


def default_backend_name() -> str:
    """The engine used when neither ``backend=`` nor ``WSFAST_DEFLATE_BACKEND`` names one."""
    for name in PREFERRED_BACKENDS:
        try:
            _load(name)
        except BackendUnavailable:
            continue
        return name
    return DEFAULT_BACKEND  # its import error, if any, is then raised by _load


def available_backends() -> list[str]:
    """Names of the engines that can be loaded here, the default first."""
    default = default_backend_name()
    names = [default]
    for name in BACKEND_NAMES:
        if name == default:
            continue
        try:
            _load(name)
        except BackendUnavailable:
            continue
        names.append(name)
    return names
