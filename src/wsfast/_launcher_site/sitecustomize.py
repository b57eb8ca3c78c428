"""Runs at start-up in Python processes started under ``python -m wsfast run``.

``python -m wsfast run`` puts this directory on ``PYTHONPATH`` and sets
``WSFAST_AS_WEBSOCKETS=1``, so that the processes a program starts (uvicorn's ``--workers`` and
``--reload`` children, multiprocessing's spawn, subprocesses running Python) also import
wsfast when they import websockets. The ``sitecustomize`` this one hides, if any, still runs.
"""

import os
import sys


def _run_hidden_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    this = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401 - the next one, if any
    except ImportError:
        if this is not None:
            sys.modules["sitecustomize"] = this
    finally:
        sys.path[:] = saved


_run_hidden_sitecustomize()

if os.environ.get("WSFAST_AS_WEBSOCKETS") == "1":
    try:
        import wsfast
    except ImportError as exc:  # a Python without wsfast: say so, don't break start-up
        sys.stderr.write(f"WSFAST_AS_WEBSOCKETS=1 but wsfast can't be imported: {exc}\n")
    else:
        wsfast.install_as_websockets()
