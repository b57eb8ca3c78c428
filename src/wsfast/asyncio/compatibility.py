"""What asyncio lacks on Python 3.10: timeouts as context managers, exception groups."""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from typing import Any

__all__ = ["ExceptionGroup", "asyncio_timeout", "asyncio_timeout_at"]

if sys.version_info >= (3, 11):
    from asyncio import timeout as asyncio_timeout
    from asyncio import timeout_at as asyncio_timeout_at
    from builtins import ExceptionGroup

else:  # pragma: no cover - exercised on Python 3.10 only

    class ExceptionGroup(Exception):  # noqa: N818 - the name of the built-in it stands for
        """Minimal stand-in for the built-in of Python 3.11: a message and exceptions."""

        def __init__(self, message: str, exceptions: list[Exception]) -> None:
            super().__init__(message, exceptions)
            self.message = message
            self.exceptions = tuple(exceptions)

    class _Timeout:
        """Cancel the current task at ``deadline`` and turn that into TimeoutError."""

        def __init__(self, deadline: float | None) -> None:
            self._deadline = deadline
            self._handle: asyncio.TimerHandle | None = None
            self._expired = False

        def _expire(self, task: asyncio.Task[Any]) -> None:
            self._expired = True
            task.cancel()

        async def __aenter__(self) -> _Timeout:
            if self._deadline is not None:
                task = asyncio.current_task()
                assert task is not None
                loop = asyncio.get_running_loop()
                self._handle = loop.call_at(self._deadline, self._expire, task)
            return self

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc_value: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            if self._handle is not None:
                self._handle.cancel()
            if self._expired and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc_value

    def asyncio_timeout_at(deadline: float | None) -> _Timeout:
        return _Timeout(deadline)

    def asyncio_timeout(delay: float | None) -> _Timeout:
        if delay is None:
            return _Timeout(None)
        return _Timeout(asyncio.get_running_loop().time() + delay)
