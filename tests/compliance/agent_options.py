"""Command-line options that every Autobahn agent script (echo_server*.py, echo_client*.py) takes.

The agents are started by path (``python tests/compliance/echo_server.py``), so this module,
beside them, is importable as ``agent_options``.
"""

from __future__ import annotations

import argparse


def add_library_options(parser: argparse.ArgumentParser) -> None:
    """``--library`` and ``--max-fragments``: which library the agent runs, and how many
    frames a message may have (the agent sets WEBSOCKETS_MAX_FRAGMENTS before importing it)."""
    parser.add_argument("--library", choices=["wsfast", "websockets"], default="wsfast")
    parser.add_argument(
        "--max-fragments",
        type=int,
        default=2**17,
        help="frames per message, through WEBSOCKETS_MAX_FRAGMENTS (default 2**17: cases "
        "9.3.* and 9.4.* send 4 MiB in 64-byte frames; the library's default is 4096)",
    )
