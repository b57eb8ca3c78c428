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
