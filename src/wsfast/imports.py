"""Module-level lazy imports (:pep:`562`), as ``websockets.imports`` offers them.

wsfast's own packages don't use this module; it exists for code that imports
``lazy_import`` from websockets, e.g. to build a package shaped like websockets' one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

__all__ = ["lazy_import"]


def import_name(name: str, source: str, namespace: dict[str, Any]) -> Any:
    """Return ``name`` from module ``source``, relative to the package of ``namespace``.

    ``name`` may be an attribute of ``source`` or one of its submodules; ``source`` may be
    relative (leading dots), not above the package.
    """
    level = len(source) - len(source.lstrip("."))
    if level == len(source):
        raise ValueError(f"can't import {name} from {source!r}: no module name")
    module = __import__(source[level:], namespace, None, [name], level)
    return getattr(module, name)


def lazy_import(
    namespace: dict[str, Any],
    aliases: dict[str, str] | None = None,
    deprecated_aliases: dict[str, str] | None = None,
) -> None:
    """Install ``__getattr__`` and ``__dir__`` in the module whose globals are ``namespace``.

    ``aliases`` and ``deprecated_aliases`` map a name to the module it comes from; a name is
    imported on first access, a deprecated one with a :exc:`DeprecationWarning`
    ("<package>.<name> is deprecated"). The three sets of names must not overlap.
    """
    aliases = dict(aliases or {})
    deprecated = dict(deprecated_aliases or {})
    defined = set(namespace)
    for first, second in ((defined, aliases), (defined, deprecated), (aliases, deprecated)):
        if set(first) & set(second):
            raise AssertionError("namespace conflict")
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name in aliases:
            return import_name(name, aliases[name], namespace)
        if name in deprecated:
            warnings.warn(f"{package}.{name} is deprecated", DeprecationWarning, stacklevel=2)
            return import_name(name, deprecated[name], namespace)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> Iterable[str]:
        return sorted(defined | set(aliases) | set(deprecated))

    namespace["__getattr__"] = __getattr__
    namespace["__dir__"] = __dir__
