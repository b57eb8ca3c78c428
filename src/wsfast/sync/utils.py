"""Deadlines that span several blocking steps, for the threading layer."""

from __future__ import annotations

import time

__all__ = ["Deadline"]


class Deadline:
    """Time left for an operation made of several blocking calls.

    Args:
        timeout: Seconds available, or :obj:`None` for no limit.
    """

    __slots__ = ("deadline",)

    def __init__(self, timeout: float | None) -> None:
        self.deadline: float | None = None if timeout is None else time.monotonic() + timeout

    def timeout(self, *, raise_if_elapsed: bool = True) -> float | None:
        """Seconds left, :obj:`None` without a limit.

        Raises:
            TimeoutError: If the deadline passed and ``raise_if_elapsed`` is true.
        """
        if self.deadline is None:
            return None
        timeout = self.deadline - time.monotonic()
        if raise_if_elapsed and timeout <= 0:
            raise TimeoutError("timed out")
        return timeout
