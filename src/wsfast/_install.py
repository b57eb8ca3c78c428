"""``install_as_websockets()``: make code that imports websockets run on wsfast.

The ``pymysql.install_as_MySQLdb()`` pattern, for libraries the user doesn't own (uvicorn,
gql, …): a finder at the front of :data:`sys.meta_path` answers every ``websockets`` and
``websockets.X`` import with wsfast's own module object, so that patching
``websockets.X.attr`` patches wsfast. A name wsfast doesn't provide is missing, as any missing
module is (:exc:`ModuleNotFoundError`, ``find_spec() is None``): the other finders only search
the parent package's ``__path__``, which never leads to the real websockets, if installed.

Two modules are not wsfast's objects but thin views of them, because they must answer one
question differently: ``websockets`` (the package) and ``websockets.version`` read the
websockets version that wsfast emulates (``websockets.__version__ == "17.4"``), since
dependents compare it to pick code paths, while ``wsfast.__version__`` stays wsfast's own.
Every other attribute read, write or deletion on them goes to the wsfast module.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from typing import Any

__all__ = ["InstallReport", "install_as_websockets"]

_ALIAS = "websockets"
_TARGET = __name__.rpartition(".")[0]  # "wsfast"


@dataclasses.dataclass(frozen=True)
class InstallReport:
    """What :func:`install_as_websockets` did."""

    #: False when an earlier call had already installed wsfast as websockets.
    newly_installed: bool
    #: The websockets version that ``websockets.__version__`` now reads.
    emulated_version: str
    #: wsfast's own version.
    wsfast_version: str
    #: ``"cython"`` or ``"python"``: the codec implementation that runs.
    implementation: str
    #: websockets modules that were imported before the call and were dropped from
    #: :data:`sys.modules` (code that imported them keeps the real objects).
    evicted: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = (
            f"websockets resolves to wsfast {self.wsfast_version} ({self.implementation}), "
            f"emulating websockets {self.emulated_version}"
        )
        if not self.newly_installed:
            text += " (already installed)"
        if self.evicted:
            text += f"; evicted, imported earlier: {', '.join(self.evicted)}"
        return text


class _VersionedView(types.ModuleType):
    """A module that reads its version attributes from ``overrides``, the rest from ``target``."""

    def __init__(self, name: str, target: types.ModuleType, overrides: dict[str, Any]) -> None:
        super().__init__(name, target.__doc__)
        vars(self).update(overrides)
        vars(self)["_wsfast_target"] = target
        vars(self)["_wsfast_overrides"] = frozenset(overrides)
        # No search path of its own: submodules come from the finder only.
        vars(self)["__path__"] = []
        vars(self)["__spec__"] = importlib.machinery.ModuleSpec(
            name, _LOADER, is_package=hasattr(target, "__path__")
        )
        vars(self)["__file__"] = getattr(target, "__file__", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(vars(self)["_wsfast_target"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        # The import system binds a submodule to its parent: a view (websockets.version)
        # stays on the parent view, never on the wsfast package.
        if (
            name in vars(self)["_wsfast_overrides"]
            or name.startswith("__")
            or isinstance(value, _VersionedView)
        ):
            vars(self)[name] = value
        else:
            setattr(vars(self)["_wsfast_target"], name, value)

    def __delattr__(self, name: str) -> None:
        if name in vars(self)["_wsfast_overrides"] or name.startswith("__"):
            del vars(self)[name]
        else:
            delattr(vars(self)["_wsfast_target"], name)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(vars(self)["_wsfast_target"])) | vars(self)["_wsfast_overrides"])

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (wsfast {vars(self)['_wsfast_target'].__name__!r})>"


def _view(alias: str, target: types.ModuleType) -> types.ModuleType:
    """The object that ``import <alias>`` gives for the wsfast module ``target``."""
    from .version import websockets_version

    if alias == _ALIAS:
        return _VersionedView(alias, target, {"__version__": websockets_version})
    if alias == f"{_ALIAS}.version":
        emulated = websockets_version
        return _VersionedView(alias, target, {"tag": emulated, "version": emulated, "commit": emulated})
    return target


class _Loader(importlib.abc.Loader):
    """Puts the wsfast module (or its view) in sys.modules under the websockets name."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        # A placeholder: the import system sets __spec__ and __loader__ on what this returns,
        # and those of wsfast's modules must stay wsfast's.
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        alias = module.__name__
        target = importlib.import_module(_TARGET + alias[len(_ALIAS) :])
        # The import system returns what sys.modules holds after exec_module.
        sys.modules[alias] = _view(alias, target)


_LOADER = _Loader()


class _WebsocketsFinder(importlib.abc.MetaPathFinder):
    """Answers ``websockets`` and ``websockets.*`` imports with wsfast's modules."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        wsfast_name = _TARGET + fullname[len(_ALIAS) :]
        try:
            wsfast_spec = importlib.util.find_spec(wsfast_name)
        except ModuleNotFoundError:
            wsfast_spec = None
        if wsfast_spec is None:
            # Missing, as importlib.util.find_spec() must say for feature detection. Later
            # finders can't reach the real websockets: they search the parent's __path__,
            # which is [] for the websockets view and wsfast's own directory below it.
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _LOADER, is_package=wsfast_spec.submodule_search_locations is not None
        )


def _installed_finder() -> _WebsocketsFinder | None:
    for finder in sys.meta_path:
        if isinstance(finder, _WebsocketsFinder):
            return finder
    return None


def _is_ours(module: object) -> bool:
    if isinstance(module, _VersionedView):
        return True
    name = getattr(module, "__name__", "")
    return isinstance(name, str) and (name == _TARGET or name.startswith(_TARGET + "."))


def install_as_websockets() -> InstallReport:
    """Make ``import websockets`` (and ``websockets.X``) give wsfast, in this process.

    Call it before the code that imports websockets is imported, e.g. at the top of the
    program, or start the program with ``python -m wsfast run …``, which calls it first.
    Idempotent. If the real websockets was imported already, its modules are dropped from
    :data:`sys.modules` (and a :exc:`RuntimeWarning` says so): later imports get wsfast, but
    code that imported websockets earlier keeps what it has.
    """
    from . import IMPLEMENTATION
    from .version import version, websockets_version

    newly = _installed_finder() is None
    evicted = tuple(
        sorted(
            name
            for name, module in list(sys.modules.items())
            if (name == _ALIAS or name.startswith(_ALIAS + ".")) and not _is_ours(module)
        )
    )
    for name in evicted:
        del sys.modules[name]
    if evicted:
        warnings.warn(
            f"websockets was imported before install_as_websockets(): {', '.join(evicted)} "
            "now resolve to wsfast, but modules that imported them earlier keep the real ones",
            RuntimeWarning,
            stacklevel=2,
        )
    if newly:
        sys.meta_path.insert(0, _WebsocketsFinder())
    return InstallReport(
        newly_installed=newly,
        emulated_version=websockets_version,
        wsfast_version=version,
        implementation=IMPLEMENTATION,
        evicted=evicted,
    )
