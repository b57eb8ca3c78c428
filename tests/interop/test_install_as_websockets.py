"""wsfast.install_as_websockets() and ``python -m wsfast run``: websockets code runs on wsfast.

Each check runs in a fresh interpreter (the install changes the import system of the process
it runs in), on both implementations. The real websockets is installed next to wsfast here,
which is the case that matters: nothing of it may be mixed in once wsfast stands in for it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wsfast
from wsfast.version import websockets_version

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


@pytest.fixture(params=["cython", "python"])
def implementation(request):
    if request.param == "cython" and wsfast.IMPLEMENTATION != "cython":
        pytest.skip(f"the extension isn't active: {wsfast.FALLBACK_REASON}")
    return request.param


def run_python(code: str, implementation: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment.pop("WSFAST_AS_WEBSOCKETS", None)
    if implementation == "python":
        environment["WSFAST_NO_EXTENSIONS"] = "1"
    else:
        environment.pop("WSFAST_NO_EXTENSIONS", None)
    return subprocess.run(
        [sys.executable, *args, *(["-c", textwrap.dedent(code)] if code else [])],
        capture_output=True, text=True, timeout=TIMEOUT, env=environment, check=False,
        **kwargs,
    )


def run_checks(code: str, implementation: str) -> dict:
    """Run ``code``, which prints one JSON object as its last line; return that object."""
    result = run_python(code, implementation)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_modules_are_wsfast_s_own(implementation):
    checks = run_checks(
        """
        import json, sys, wsfast
        report = wsfast.install_as_websockets()
        import websockets
        import websockets.asyncio.client
        import websockets.exceptions
        from websockets.frames import Frame
        from websockets import __version__
        import wsfast.asyncio.client, wsfast.frames

        real = [name for name, module in sys.modules.items()
                if "site-packages/websockets" in (getattr(module, "__file__", "") or "")]
        print(json.dumps({
            "version": __version__,
            "wsfast_version": wsfast.__version__,
            "client_is_wsfast": websockets.asyncio.client is wsfast.asyncio.client,
            "exceptions_is_wsfast": websockets.exceptions is sys.modules["wsfast.exceptions"],
            "frame_is_wsfast": Frame is wsfast.frames.Frame,
            "connect_is_wsfast": websockets.connect is wsfast.asyncio.client.connect,
            "spec_kept": wsfast.asyncio.client.__spec__.name,
            "real_modules_loaded": real,
            "report": str(report),
            "implementation": report.implementation,
            "newly": report.newly_installed,
        }))
        """,
        implementation,
    )
    assert checks["version"] == websockets_version == "17.4"
    assert checks["wsfast_version"] == wsfast.__version__ != "17.4"
    assert checks["client_is_wsfast"] and checks["exceptions_is_wsfast"]
    assert checks["frame_is_wsfast"] and checks["connect_is_wsfast"]
    assert checks["spec_kept"] == "wsfast.asyncio.client"
    assert checks["real_modules_loaded"] == []
    assert checks["implementation"] == implementation
    assert checks["newly"] is True
    assert checks["report"].startswith(f"websockets resolves to wsfast {wsfast.__version__} ")


def test_patching_websockets_patches_wsfast(implementation):
    checks = run_checks(
        """
        import json, wsfast
        from unittest import mock
        wsfast.install_as_websockets()
        import websockets, websockets.asyncio.client
        import wsfast.asyncio.client
        original = wsfast.asyncio.client.connect
        with mock.patch("websockets.asyncio.client.connect", "patched"):
            submodule = wsfast.asyncio.client.connect
        websockets.some_setting = 42
        with mock.patch("websockets.serve", "patched too"):
            top = wsfast.serve
        print(json.dumps({
            "submodule": submodule,
            "restored": wsfast.asyncio.client.connect is original,
            "setattr": getattr(wsfast, "some_setting", None),
            "top": top,
            "top_restored": wsfast.serve is wsfast.asyncio.server.serve,
        }))
        """,
        implementation,
    )
    assert checks == {
        "submodule": "patched", "restored": True, "setattr": 42,
        "top": "patched too", "top_restored": True,
    }


def test_missing_modules_fail_as_missing_ones_do(implementation):
    checks = run_checks(
        """
        import json, sys, wsfast
        wsfast.install_as_websockets()
        import websockets
        outcomes = {}
        for name in ["websockets.legacy", "websockets.legacy.server", "websockets.no_such"]:
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                outcomes[name] = [type(exc).__name__, exc.name, str(exc)]
        try:
            from websockets import legacy
        except ImportError as exc:
            outcomes["from"] = type(exc).__name__
        import importlib.util
        outcomes["find_spec"] = importlib.util.find_spec("websockets.no_such") is None
        outcomes["loaded"] = sorted(n for n in sys.modules if n.startswith("websockets.legacy"))
        print(json.dumps(outcomes))
        """,
        implementation,
    )
    assert checks["websockets.legacy"] == [
        "ModuleNotFoundError", "websockets.legacy", "No module named 'websockets.legacy'"
    ]
    assert checks["websockets.legacy.server"][:2] == ["ModuleNotFoundError", "websockets.legacy"]
    assert checks["websockets.no_such"][1] == "websockets.no_such"
    assert checks["from"] == "ImportError"
    assert checks["loaded"] == []


def test_idempotent_and_versions(implementation):
    checks = run_checks(
        """
        import json, sys, importlib.util, wsfast
        first = wsfast.install_as_websockets()
        second = wsfast.install_as_websockets()
        import websockets, websockets.version, wsfast.version
        finders = [f for f in sys.meta_path if type(f).__name__ == "_WebsocketsFinder"]
        print(json.dumps({
            "newly": [first.newly_installed, second.newly_installed],
            "second": str(second),
            "finders": len(finders),
            "websockets_version_module": [websockets.version.version, websockets.version.tag],
            "wsfast_version_module": wsfast.version.version,
            "spec": importlib.util.find_spec("websockets").name,
            "repr": repr(websockets),
        }))
        """,
        implementation,
    )
    assert checks["newly"] == [True, False]
    assert checks["second"].endswith("(already installed)")
    assert checks["finders"] == 1
    assert checks["websockets_version_module"] == ["17.4", "17.4"]
    assert checks["wsfast_version_module"] == wsfast.__version__
    assert checks["spec"] == "websockets"
    assert checks["repr"] == "<module 'websockets' (wsfast 'wsfast')>"


def test_websockets_imported_earlier_is_evicted_with_a_warning(implementation):
    pytest.importorskip("websockets")
    checks = run_checks(
        """
        import json, warnings, sys
        import websockets.exceptions as real
        import wsfast
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = wsfast.install_as_websockets()
        import websockets.exceptions
        print(json.dumps({
            "evicted": list(report.evicted),
            "warning": [str(w.message) for w in caught if w.category is RuntimeWarning],
            "now_wsfast": websockets.exceptions is sys.modules["wsfast.exceptions"],
            "old_kept": real.__name__,
        }))
        """,
        implementation,
    )
    assert "websockets" in checks["evicted"] and "websockets.exceptions" in checks["evicted"]
    assert checks["warning"] and "imported before install_as_websockets()" in checks["warning"][0]
    assert checks["now_wsfast"] is True
    assert checks["old_kept"] == "websockets.exceptions"


def test_emulated_version_is_the_websockets_tested_against():
    websockets = pytest.importorskip("websockets")
    if getattr(websockets, "__file__", "").startswith(str(ROOT / "src")):
        pytest.skip("websockets is wsfast in this process")
    assert websockets.__version__ == websockets_version


def test_version_matches_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1) == wsfast.__version__


# python -m wsfast run ------------------------------------------------------------------------

PROGRAM = """\
import json, multiprocessing, sys


def describe():
    import websockets
    import websockets.asyncio.server as server
    return {"version": websockets.__version__, "server": server.__name__}


def child(queue):
    queue.put(describe())


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    spawned = queue.get(timeout=30)
    process.join(30)
    print(json.dumps({"argv": sys.argv[1:], "main": describe(), "spawned": spawned}))
"""


@pytest.mark.parametrize("form", ["file", "module"])
def test_run_launches_a_program_and_its_children_on_wsfast(tmp_path, implementation, form):
    (tmp_path / "wsprogram.py").write_text(PROGRAM)
    target = ["wsprogram.py"] if form == "file" else ["-m", "wsprogram"]
    result = run_python("", implementation, "-m", "wsfast", "run", *target, "--flag", "x",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout.strip().splitlines()[-1])
    assert checks["argv"] == ["--flag", "x"]
    expected = {"version": "17.4", "server": "wsfast.asyncio.server"}
    assert checks["main"] == expected
    # A spawned child (uvicorn's --workers and --reload) stands in too.
    assert checks["spawned"] == expected
    assert result.stderr.startswith("wsfast: websockets resolves to wsfast ")


def test_run_a_console_script(implementation):
    # The "wsfast" console script is installed with the package; it runs with sys.argv set.
    result = run_python("", implementation, "-m", "wsfast", "run", "--quiet", "wsfast",
                        "--version")
    if "neither a console script" in result.stderr:
        pytest.skip("the wsfast console script isn't installed in this environment")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wsfast {wsfast.__version__}"
    assert result.stderr == ""


def test_run_usage_and_unknown_program():
    result = run_python("", "python", "-m", "wsfast", "run")
    assert result.returncode == 2
    assert result.stdout.startswith("usage: python -m wsfast run ")
    result = run_python("", "python", "-m", "wsfast", "run", "no-such-program-here")
    assert result.returncode == 2
    assert "'no-such-program-here' is neither a console script" in result.stderr
