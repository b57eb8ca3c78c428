"""``python -m wsfast run PROGRAM [ARGS...]``: run a program with wsfast as websockets.

For programs started from the command line whose websockets import happens before any user
code could call :func:`wsfast.install_as_websockets` (``uvicorn app:app`` imports its
WebSocket implementation before the app module). PROGRAM is a console script (``uvicorn``),
``-m MODULE``, or a path to a Python file; it runs in this process, after the install, with
``sys.argv`` as if started directly. Child Python processes get the install too, through
``WSFAST_AS_WEBSOCKETS=1`` and the ``sitecustomize`` beside this module.
"""

from __future__ import annotations

import importlib.metadata
import os
import runpy
import sys
from collections.abc import Sequence

__all__ = ["run_main"]

USAGE = "usage: python -m wsfast run [--quiet] (CONSOLE_SCRIPT | -m MODULE | FILE) [ARGS...]\n"

_SITE_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_launcher_site")


def _propagate_to_children() -> None:
    os.environ["WSFAST_AS_WEBSOCKETS"] = "1"
    path = os.environ.get("PYTHONPATH", "")
    entries = path.split(os.pathsep) if path else []
    if _SITE_DIRECTORY not in entries:
        os.environ["PYTHONPATH"] = os.pathsep.join([_SITE_DIRECTORY, *entries])


def _console_script(name: str) -> importlib.metadata.EntryPoint | None:
    for entry_point in importlib.metadata.entry_points(group="console_scripts"):
        if entry_point.name == name:
            return entry_point
    return None


def _exit_status(result: object) -> int:
    """The status sys.exit(result) would give, as a console script's wrapper calls it."""
    if result is None or isinstance(result, int):
        return result or 0
    sys.stderr.write(f"{result}\n")
    return 1


def run_main(argv: Sequence[str]) -> int:
    arguments = list(argv)
    quiet = arguments[:1] == ["--quiet"]
    if quiet:
        arguments = arguments[1:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments or arguments[0] in {"-h", "--help"} or arguments == ["-m"]:
        sys.stdout.write(USAGE + __doc__.split("\n\n", 1)[1])
        return 0 if arguments[:1] in (["-h"], ["--help"]) else 2

    from ._install import install_as_websockets

    _propagate_to_children()
    report = install_as_websockets()
    if not quiet:
        sys.stderr.write(f"wsfast: {report}\n")

    if arguments[0] == "-m":
        sys.argv = [arguments[1], *arguments[2:]]
        runpy.run_module(arguments[1], run_name="__main__", alter_sys=True)
        return 0
    entry_point = _console_script(arguments[0])
    if entry_point is not None:
        sys.argv = arguments
        return _exit_status(entry_point.load()())
    if os.path.exists(arguments[0]):
        sys.argv = arguments
        runpy.run_path(arguments[0], run_name="__main__")
        return 0
    sys.stderr.write(
        f"python -m wsfast run: {arguments[0]!r} is neither a console script, "
        "-m MODULE, nor a file\n"
    )
    return 2
