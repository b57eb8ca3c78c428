"""wsfast's public API against websockets': every module, name and signature.

For every public module of the installed websockets (every ``websockets.*`` module except
``legacy``, ``trio``, their submodules and ``__main__``), the ``wsfast`` module of the same
name must exist and provide:

* every public name: the module's ``__all__``; plus the public names the module itself
  defines (``def``, ``class`` or a top-level assignment, read from its source), which code
  imports by name even when ``__all__`` leaves them out; plus, for a module without
  ``__all__``, the names it re-imports from websockets; plus the names that it resolves
  lazily (``lazy_import``, a module ``__getattr__``). TypeVars are not names callers use and
  are left out.
* for a deprecated name (one that websockets resolves with a DeprecationWarning, or a
  module that warns when imported), the same warning: category and text, the text read
  with ``wsfast.`` for ``websockets.``;
* for a name that websockets re-exports from another of its modules, the object of
  wsfast's module of that name (``wsfast.ConnectionClosed is
  wsfast.exceptions.ConnectionClosed``);
* for a function or class defined in the module: the same ``inspect.signature`` (for a
  class, of the constructor and of each public method, including the ones it inherits from
  websockets' classes), and the presence of its public class attributes (properties, enum
  members, constants).

Signatures are compared on what callers can rely on: positional parameters by position,
name, kind and whether they have a default; keyword-only parameters by name and whether
they have a default; ``*args`` and ``**kwargs`` by presence; default values when
websockets' source writes them as a literal (``None``, ``10``, ``2**20``, ``"x"``, ...),
not when it names a constant (``USER_AGENT``) whose value may rightly differ. One general
rule, instead of an allow-list entry each: **wsfast may add keyword-only parameters that
have a default** -- no call written for websockets can break on them.

Deliberate differences are in ``api_parity_allowlist.ALLOWLIST``, keyed
``"websockets.module:name"`` (``"websockets.module:Class.method"`` for a method,
``"websockets.module:*"`` for a whole module), each with its reason. An entry whose
difference no longer exists fails :func:`test_allowlist_has_no_stale_entries`, so that the
list, which docs/compatibility.md reproduces, stays true.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import pkgutil
import re
import sys
import textwrap
import types
import typing
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api_parity_allowlist import ALLOWLIST

websockets = pytest.importorskip("websockets", reason="websockets isn't installed")

WEBSOCKETS_VERSION = "17.4"

if hasattr(websockets, "install_as_websockets") or os.path.dirname(
    getattr(websockets, "__file__", None) or ""
).endswith("wsfast"):
    pytest.skip("websockets is wsfast here (install_as_websockets)", allow_module_level=True)
if websockets.__version__ != WEBSOCKETS_VERSION:
    pytest.skip(
        f"the allow-list describes websockets {WEBSOCKETS_VERSION}, "
        f"websockets {websockets.__version__} is installed",
        allow_module_level=True,
    )

EXCLUDED_PACKAGES = {"legacy", "trio", "__main__"}


def _websockets_modules() -> list[str]:
    names = ["websockets"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # walk_packages imports websockets.legacy, which warns
        infos = list(pkgutil.walk_packages(websockets.__path__, "websockets."))
    for info in infos:
        if info.name.split(".")[1] not in EXCLUDED_PACKAGES:
            names.append(info.name)
    return names


WEBSOCKETS_MODULES = _websockets_modules()


def wsfast_name(name: str) -> str:
    return "wsfast" + name[len("websockets"):]


def _quiet_import(name: str) -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def _import_warnings(name: str) -> list[tuple[type[Warning], str]]:
    """The warnings that importing module ``name`` afresh raises."""
    saved_module = sys.modules.pop(name, None)
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules.get(parent_name)
    saved_attribute = getattr(parent, child, None) if parent is not None else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            importlib.import_module(name)
    finally:
        if saved_module is not None:
            sys.modules[name] = saved_module
            if parent is not None:
                setattr(parent, child, saved_attribute)
    return [(item.category, str(item.message)) for item in caught]


def _attribute_warnings(module: types.ModuleType, name: str) -> tuple[Any, list[Any]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(module, name)
    return value, [(item.category, str(item.message)) for item in caught]


def _as_wsfast_text(text: str) -> str:
    return re.sub(r"\bwebsockets\.", "wsfast.", text)


# What a websockets module offers --------------------------------------------------------------


def _module_tree(module: types.ModuleType) -> ast.Module | None:
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # an empty __init__.py, an extension module
        return None
    return ast.parse(source)


def _defined_names(module: types.ModuleType) -> tuple[set[str], set[str], set[str]]:
    """Names the module's top level defines, re-imports from websockets, and resolves in a
    module ``__getattr__`` (string constants that it compares ``name`` with)."""
    defined: set[str] = set()
    reimported: set[str] = set()
    getattr_names: set[str] = set()
    tree = _module_tree(module)
    if tree is None:
        return defined, reimported, getattr_names
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
            if node.name == "__getattr__":
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Compare):
                        for operand in [inner.left, *inner.comparators]:
                            if isinstance(operand, ast.Constant) and isinstance(
                                operand.value, str
                            ):
                                getattr_names.add(operand.value)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").startswith("websockets")
        ):
            reimported.update(alias.asname or alias.name for alias in node.names)
    return defined, reimported, getattr_names


def _is_public_value(value: Any) -> bool:
    return not isinstance(value, (types.ModuleType, typing.TypeVar))


@functools.cache
def public_names(module_name: str) -> dict[str, str]:
    """Public name -> how websockets provides it: "all", "defined", "reimported", "lazy"."""
    module = _quiet_import(module_name)
    defined, reimported, getattr_names = _defined_names(module)
    names: dict[str, str] = {}
    exported = getattr(module, "__all__", None)
    candidates: list[tuple[str, str]] = []
    if exported is not None:
        candidates += [(name, "all") for name in exported]
    else:
        candidates += [(name, "reimported") for name in sorted(reimported)]
    candidates += [(name, "defined") for name in sorted(defined)]
    # lazy_import() adds __getattr__ and a __dir__ that lists the names it resolves.
    candidates += [(name, "lazy") for name in sorted(set(dir(module)) - set(vars(module)))]
    candidates += [(name, "lazy") for name in sorted(getattr_names)]
    for name, how in candidates:
        if name.startswith("_") or name in names:
            continue
        if how == "lazy":
            names[name] = how
            continue
        if name not in vars(module):  # imported only when type checking, a loop variable
            continue
        if how != "all" and not _is_public_value(vars(module)[name]):
            continue
        names[name] = how
    return names


# Signatures -----------------------------------------------------------------------------------

_LITERAL_NODES = (
    ast.Constant, ast.Tuple, ast.List, ast.Set, ast.UnaryOp, ast.BinOp,
    ast.operator, ast.unaryop, ast.Load,
)


def _literal_defaults(function: Any) -> set[str] | None:
    """Parameters whose default websockets' source writes as a literal (None if unknown)."""
    function = inspect.unwrap(function)
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    definition = tree.body[0]
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    arguments = definition.args
    positional = [*arguments.posonlyargs, *arguments.args]
    pairs = list(zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults))
    pairs += [(a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d]
    return {
        argument.arg
        for argument, default in pairs
        if all(isinstance(node, _LITERAL_NODES) for node in ast.walk(default))
    }


_SIMPLE_TYPES = (type(None), bool, int, float, str, bytes, tuple)


def _signature_source(obj: Any) -> Any:
    """The function whose source holds the defaults of ``inspect.signature(obj)``."""
    if inspect.isclass(obj):
        for klass in obj.__mro__:
            if "__init__" in vars(klass):
                return vars(klass)["__init__"]
        return None
    return obj


def _describe(parameters: list[inspect.Parameter]) -> str:
    return str(inspect.Signature([p.replace(annotation=p.empty) for p in parameters]))


def signature_difference(theirs: Any, ours: Any) -> str | None:
    """How ``ours`` fails to accept the calls that ``theirs`` accepts, or None."""
    try:
        their_signature = inspect.signature(theirs)
    except (TypeError, ValueError):  # nothing to compare with
        return None
    try:
        our_signature = inspect.signature(ours)
    except (TypeError, ValueError):
        return f"no signature; websockets has {their_signature}"
    source = _signature_source(theirs)
    literal = _literal_defaults(source) if source is not None else None
    their = list(their_signature.parameters.values())
    kinds = inspect.Parameter
    their_names = {p.name for p in their}
    # The general rule: extra keyword-only parameters with a default break no caller.
    our = [
        p for p in our_signature.parameters.values()
        if p.name in their_names or p.kind is not kinds.KEYWORD_ONLY or p.default is p.empty
    ]
    problems = []

    def positional(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
        return [p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]

    def keyword(params: list[inspect.Parameter]) -> dict[str, inspect.Parameter]:
        return {p.name: p for p in params if p.kind is kinds.KEYWORD_ONLY}

    def same_default(theirs_p: inspect.Parameter, ours_p: inspect.Parameter) -> bool:
        if (theirs_p.default is theirs_p.empty) != (ours_p.default is ours_p.empty):
            return False
        if theirs_p.default is theirs_p.empty:
            return True
        if literal is None:
            compare = isinstance(theirs_p.default, _SIMPLE_TYPES)
        else:
            compare = theirs_p.name in literal
        if not compare:
            return True
        return type(theirs_p.default) is type(ours_p.default) and theirs_p.default == ours_p.default

    their_pos, our_pos = positional(their), positional(our)
    if len(their_pos) != len(our_pos) or any(
        t.kind is not o.kind
        or (t.kind is kinds.POSITIONAL_OR_KEYWORD and t.name != o.name)
        or not same_default(t, o)
        for t, o in zip(their_pos, our_pos)
    ):
        problems.append("positional parameters")
    their_kw, our_kw = keyword(their), keyword(our)
    if set(their_kw) != set(our_kw) or any(
        not same_default(their_kw[name], our_kw[name]) for name in their_kw
    ):
        problems.append("keyword-only parameters")
    for kind, label in ((kinds.VAR_POSITIONAL, "*args"), (kinds.VAR_KEYWORD, "**kwargs")):
        if any(p.kind is kind for p in their) != any(p.kind is kind for p in our):
            problems.append(label)
    if not problems:
        return None
    return (
        f"{', '.join(problems)} differ: wsfast {_describe(our)}, websockets {_describe(their)}"
    )


# The differences ------------------------------------------------------------------------------


def _home(obj: Any) -> str | None:
    """The websockets module that defines a function or class."""
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and module.startswith("websockets"):
            return module
    return None


def _public_home(klass: type) -> str | None:
    """``"module:Class"`` when ``klass`` is a public name of the module defining it."""
    module = sys.modules.get(klass.__module__)
    if klass.__module__ in WEBSOCKETS_MODULES and vars(module).get(klass.__name__) is klass:
        return f"{klass.__module__}:{klass.__name__}"
    return None


def _class_members(klass: type) -> Iterator[tuple[str, Any, bool, type]]:
    """(name, raw attribute, is a method, defining class) for the public members that
    websockets' own classes in ``klass``'s MRO define."""
    seen = set()
    for base in klass.__mro__:
        if not (base.__module__ or "").startswith("websockets"):
            continue
        for name, raw in vars(base).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            is_method = isinstance(raw, (types.FunctionType, classmethod, staticmethod))
            yield name, raw, is_method, base


def _class_differences(key: str, theirs: type, ours: Any) -> Iterator[tuple[str, str]]:
    if not inspect.isclass(ours):
        yield key, f"not a class in wsfast ({type(ours).__name__})"
        return
    difference = signature_difference(theirs, ours)
    if difference:
        yield key, f"constructor: {difference}"
    for name, raw, is_method, base in _class_members(theirs):
        # A member inherited from a public websockets class is reported under that class,
        # once, rather than under each subclass.
        base_key = _public_home(base) if base is not theirs else None
        member_key = f"{base_key or key}.{name}"
        try:
            our_member = inspect.getattr_static(ours, name)
        except AttributeError:
            yield member_key, "missing"
            continue
        if not is_method:
            continue
        their_member = getattr(theirs, name)
        try:
            our_bound = getattr(ours, name)
        except AttributeError:  # pragma: no cover - getattr_static found it
            our_bound = our_member
        if isinstance(raw, staticmethod) != isinstance(our_member, staticmethod) or isinstance(
            raw, classmethod
        ) != isinstance(our_member, classmethod):
            yield member_key, f"{type(raw).__name__} in websockets, {type(our_member).__name__} in wsfast"
            continue
        difference = signature_difference(their_member, our_bound)
        if difference:
            yield member_key, difference


def _warns_on_import(module: types.ModuleType) -> bool:
    """Whether the module's top level calls ``warnings.warn()`` (read from its source)."""
    tree = _module_tree(module)
    return tree is not None and any(
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "warn"
        for node in tree.body
    )


def _import_difference(module_name: str) -> Iterator[tuple[str, str]]:
    # Only a module that warns is imported afresh: re-running the others is needless.
    if not _warns_on_import(_quiet_import(module_name)):
        return
    their_warnings = _import_warnings(module_name)
    if not their_warnings:
        return
    our_warnings = [
        (category, text) for category, text in _import_warnings(wsfast_name(module_name))
    ]
    expected = [(category, _as_wsfast_text(text)) for category, text in their_warnings]
    if our_warnings != expected:
        yield f"{module_name}:*", f"importing warns {our_warnings!r}, expected {expected!r}"


def module_differences(module_name: str) -> dict[str, str]:
    """Key -> difference, for one websockets module."""
    differences: dict[str, str] = {}
    theirs = _quiet_import(module_name)
    try:
        ours = _quiet_import(wsfast_name(module_name))
    except ImportError as exc:
        differences[f"{module_name}:*"] = f"no module {wsfast_name(module_name)}: {exc}"
        return differences
    differences.update(_import_difference(module_name))
    for name, how in public_names(module_name).items():
        key = f"{module_name}:{name}"
        their_value, their_warnings = _attribute_warnings(theirs, name)
        try:
            our_value, our_warnings = _attribute_warnings(ours, name)
        except AttributeError:
            differences[key] = "missing"
            continue
        expected = [(category, _as_wsfast_text(text)) for category, text in their_warnings]
        if our_warnings != expected:
            differences[key] = f"warns {our_warnings!r}, expected {expected!r}"
            continue
        home = _home(their_value)
        if home is not None and home != module_name and home in WEBSOCKETS_MODULES:
            # A re-export: the same object as in the module of that name, whose check
            # compares the signature.
            home_module = _quiet_import(home)
            if vars(home_module).get(name) is their_value:
                try:
                    our_home_value = getattr(_quiet_import(wsfast_name(home)), name)
                except (ImportError, AttributeError):
                    continue  # reported under the home module
                if our_value is not our_home_value:
                    differences[key] = f"not the object {wsfast_name(home)}.{name}"
                continue
        if inspect.isclass(their_value):
            differences.update(_class_differences(key, their_value, our_value))
        elif callable(their_value) and (inspect.isfunction(their_value) or inspect.isbuiltin(their_value)):
            if not callable(our_value):
                differences[key] = f"not callable in wsfast ({type(our_value).__name__})"
                continue
            difference = signature_difference(their_value, our_value)
            if difference:
                differences[key] = difference
    return differences


@functools.cache
def all_differences() -> dict[str, str]:
    differences: dict[str, str] = {}
    for module_name in WEBSOCKETS_MODULES:
        differences.update(module_differences(module_name))
    return differences


def _allowed(key: str, differences: dict[str, str]) -> bool:
    if key in ALLOWLIST:
        return True
    # A missing module or class covers what it would have contained.
    module_name, _, name = key.partition(":")
    if f"{module_name}:*" in ALLOWLIST and differences.get(f"{module_name}:*", "").startswith(
        "no module"
    ):
        return True
    owner = name.partition(".")[0]
    return bool(owner) and owner != name and f"{module_name}:{owner}" in ALLOWLIST and (
        differences.get(f"{module_name}:{owner}") == "missing"
    )


# Tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module_name", WEBSOCKETS_MODULES)
def test_module_matches_websockets(module_name: str) -> None:
    differences = all_differences()
    unexplained = {
        key: difference
        for key, difference in differences.items()
        if key.partition(":")[0] == module_name and not _allowed(key, differences)
    }
    assert not unexplained, "\n".join(
        f"{key}: {difference}" for key, difference in sorted(unexplained.items())
    )


def test_allowlist_has_no_stale_entries() -> None:
    differences = all_differences()
    stale = sorted(key for key in ALLOWLIST if key not in differences)
    assert not stale, "allow-list entries whose difference no longer exists: " + ", ".join(
        stale
    )


def test_allowlist_entries_are_well_formed() -> None:
    for key, reason in ALLOWLIST.items():
        module_name, colon, name = key.partition(":")
        assert colon and name, key
        assert module_name in WEBSOCKETS_MODULES, key
        assert reason.strip() and "\n" not in reason, key


def test_the_rule_for_extra_keyword_only_parameters() -> None:
    def theirs(a, b=1, *, c=None): ...
    def extra_keyword_only(a, b=1, *, c=None, d=2): ...
    def extra_without_default(a, b=1, *, c=None, d): ...
    def extra_positional(a, b=1, e=3, *, c=None): ...
    def renamed(a, x=1, *, c=None): ...
    def other_literal_default(a, b=2, *, c=None): ...

    assert signature_difference(theirs, extra_keyword_only) is None
    assert signature_difference(theirs, extra_without_default)
    assert signature_difference(theirs, extra_positional)
    assert signature_difference(theirs, renamed)
    assert signature_difference(theirs, other_literal_default)


@pytest.mark.parametrize(
    ("module_name", "class_name"),
    [("client", "ClientConnection"), ("server", "ServerConnection")],
)
def test_deprecated_sans_io_connection_classes_warn_like_websockets(
    module_name: str, class_name: str
) -> None:
    """websockets warns when these are instantiated, not when they're imported."""
    messages = []
    for package in (websockets, _quiet_import("wsfast")):
        klass = getattr(_quiet_import(f"{package.__name__}.{module_name}"), class_name)
        uri = _quiet_import(f"{package.__name__}.uri").parse_uri("ws://localhost/")
        with pytest.warns(DeprecationWarning) as caught:
            klass(uri) if module_name == "client" else klass()
        messages.append([str(item.message) for item in caught])
    assert messages[0] == messages[1]
