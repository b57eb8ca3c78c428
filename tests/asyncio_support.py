"""What the asyncio tests share: a bounded event-loop runner and an echo handler."""

from __future__ import annotations

import asyncio

TIMEOUT = 10


def run(coro, timeout=TIMEOUT):
    """Run ``coro`` in a fresh event loop; fail after ``timeout`` seconds, even if cleanup hangs.

    Unlike ``asyncio.run``, this doesn't wait forever for tasks that ignore cancellation (a
    server's wait_closed() behind a stuck handler, for example): a hung test fails instead of
    hanging the test run.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    task = loop.create_task(coro)
    try:
        loop.run_until_complete(asyncio.wait([task], timeout=timeout))
        if not task.done():
            task.cancel()
            loop.run_until_complete(asyncio.wait([task], timeout=2))
            cause = None
            if task.done() and not task.cancelled():
                cause = task.exception()
            raise TimeoutError(f"test timed out after {timeout} s") from cause
        return task.result()
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))
        loop.run_until_complete(
            asyncio.wait([loop.create_task(loop.shutdown_asyncgens())], timeout=2)
        )
        asyncio.set_event_loop(None)
        loop.close()


async def echo(ws):
    """Connection handler that sends every message back, for any library's server."""
    async for message in ws:
        await ws.send(message)


def pytest_in_child(test_files, env, *options, timeout=900):
    """Run pytest on ``test_files`` (paths) in a child process with ``env`` added to the
    environment; fail with its output unless it ran tests and all of them passed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options,
         *[str(path) for path in test_files]],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env},
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    summary = result.stdout.strip().splitlines()[-1:] or [result.stderr[-2000:]]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary[0] and "failed" not in summary[0], summary
