"""wsfast's own version, and the version of websockets' API that it emulates.

``tag``, ``version`` and ``commit`` are wsfast's, named as in ``websockets.version``.
``websockets_version`` is the websockets release whose public API, messages and bytes on the
wire wsfast follows; once :func:`wsfast.install_as_websockets` is active, it is what
``websockets.__version__`` and ``websockets.version.version`` read, so that version checks in
third-party code (``websockets.__version__ >= "14.0"``, …) take the path written for that
release.
"""

from __future__ import annotations

__all__ = ["tag", "version", "commit", "websockets_version"]

# The project's version, kept equal to pyproject.toml's (tests/test_install_as_websockets.py
# checks that they agree).
tag = version = commit = "0.1.0"

websockets_version = "17.4"
