"""Type information shipped with wsfast: py.typed and the extension's stub agree with the code.

``wsfast/_speedups.pyi`` describes the Cython module; its pure-Python twin is the reference.
The stub must name the same functions, classes, methods and properties as the twin, with the
same parameters (names, kinds, defaults), and mypy's stubtest must accept it against the
compiled module where one is importable.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wsfast._speedups_py as twin

HERE = Path(__file__).resolve().parent
_SPEC = importlib.util.find_spec("wsfast")
assert _SPEC is not None and _SPEC.submodule_search_locations
PACKAGE = Path(_SPEC.submodule_search_locations[0])
STUB = PACKAGE / "_speedups.pyi"

Param = tuple[str, str, Any]  # name, kind, default (inspect.Parameter.empty if none)


def test_type_information_is_shipped() -> None:
    assert (PACKAGE / "py.typed").is_file(), f"no py.typed in {PACKAGE}"
    assert STUB.is_file(), f"no _speedups.pyi in {PACKAGE}"


def _stub_tree() -> ast.Module:
    if not STUB.is_file():
        pytest.skip(f"no stub at {STUB}")
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _ast_params(node: ast.FunctionDef) -> list[Param]:
    a = node.args
    empty = inspect.Parameter.empty
    positional = [*a.posonlyargs, *a.args]
    defaults = [empty] * (len(positional) - len(a.defaults))
    defaults += [ast.literal_eval(d) for d in a.defaults]
    params: list[Param] = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = "POSITIONAL_ONLY" if i < len(a.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        params.append((arg.arg, kind, default))
    if a.vararg:
        params.append((a.vararg.arg, "VAR_POSITIONAL", empty))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        value = empty if default is None else ast.literal_eval(default)
        params.append((arg.arg, "KEYWORD_ONLY", value))
    if a.kwarg:
        params.append((a.kwarg.arg, "VAR_KEYWORD", empty))
    return params


def _runtime_params(function: Any) -> list[Param]:
    parameters = inspect.signature(function).parameters.values()
    return [(p.name, p.kind.name, p.default) for p in parameters]


def _is_property(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)


StubApi = tuple[list[str], dict[str, ast.FunctionDef], dict[str, dict[str, ast.FunctionDef]]]


def _stub_api() -> StubApi:
    tree = _stub_tree()
    all_names: list[str] = []
    functions: dict[str, ast.FunctionDef] = {}
    classes: dict[str, dict[str, ast.FunctionDef]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            all_names = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    return all_names, functions, classes


def _public_members(cls: type) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_") or n == "__init__"}


def test_stub_exports_what_the_twin_exports() -> None:
    all_names, functions, classes = _stub_api()
    assert sorted(all_names) == sorted(twin.__all__)
    text = STUB.read_text(encoding="utf-8")
    for name in twin.__all__:
        assert name in functions or name in classes or f"\n{name}:" in text, name


@pytest.mark.parametrize("name", [n for n in twin.__all__ if inspect.isfunction(getattr(twin, n))])
def test_function_signatures_agree(name: str) -> None:
    _, functions, _ = _stub_api()
    assert _ast_params(functions[name]) == _runtime_params(getattr(twin, name))


@pytest.mark.parametrize("name", [n for n in twin.__all__ if inspect.isclass(getattr(twin, n))])
def test_class_members_agree(name: str) -> None:
    _, _, classes = _stub_api()
    stub_members = {m for m in classes[name] if not m.startswith("_") or m == "__init__"}
    twin_class = getattr(twin, name)
    assert stub_members == _public_members(twin_class)
    for member in sorted(stub_members):
        node = classes[name][member]
        runtime = vars(twin_class)[member]
        if _is_property(node):
            assert isinstance(runtime, property), f"{name}.{member} is a property in the stub"
        else:
            assert _ast_params(node) == _runtime_params(runtime), f"{name}.{member}"


def _cython() -> Any:
    try:
        return importlib.import_module("wsfast._speedups")
    except ImportError as exc:
        pytest.skip(f"wsfast._speedups is not importable: {exc}")


def _method_params(method: Any) -> list[Param]:
    """A method's parameters, with ``self`` as the stub spells it.

    The extension's hot classes have plain C methods (binding=False) whose embedded signatures
    start with ``$self``, which inspect reports as positional-only, as for any C method: the
    stub writes ``self``. Every other parameter must agree exactly.
    """
    params = _runtime_params(method)
    if params and params[0][:2] == ("self", "POSITIONAL_ONLY"):
        params[0] = ("self", "POSITIONAL_OR_KEYWORD", params[0][2])
    return params


def test_extension_signatures_agree_with_stub() -> None:
    """Cython functions and methods carry their signatures (cyfunctions, or signatures embedded
    in the docstrings of plain C methods): hold them to the stub too."""
    c = _cython()
    _, functions, classes = _stub_api()
    for name in c.__all__:
        obj = getattr(c, name)
        if name in functions:
            assert _ast_params(functions[name]) == _runtime_params(obj), name
        elif name in classes:
            public = {m for m in vars(obj) if not m.startswith("_")}
            assert public == {m for m in classes[name] if not m.startswith("_")}, name
            for member in public:
                if not _is_property(classes[name][member]):
                    assert _ast_params(classes[name][member]) == _method_params(
                        getattr(obj, member)
                    ), f"{name}.{member}"


def test_stubtest_accepts_the_stub() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    _cython()
    completed = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "wsfast._speedups",
         "--allowlist", str(HERE / "stubtest-allowlist.txt")],
        capture_output=True, text=True, cwd=HERE, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
