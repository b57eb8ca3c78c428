"""Incoming messages waiting for ``recv()``, with flow control (``max_queue``)."""

from __future__ import annotations

import asyncio
import codecs
import collections
import importlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import speedups
from ..exceptions import ConcurrencyError, TooManyFragments
from ..frames import TEXT
from ..utils import MAX_FRAGMENTS, queue_watermarks

__all__ = ["Assembler"]

_utf8_decoder = codecs.getincrementaldecoder("utf-8")
UTF8Decoder = _utf8_decoder  # websockets' name for it

T = TypeVar("T")


# The queue's per-message half, compiled or its pure-Python twin (see speedups.ASYNCIO_CORE);
# the twin's declarations stand for both when type checking.
if TYPE_CHECKING:
    from ._core_py import AssemblerCore
else:
    AssemblerCore = importlib.import_module(speedups.ASYNCIO_CORE).AssemblerCore


def _nothing() -> None:
    pass


class Assembler(AssemblerCore):
    """Queue of what the frame reader delivers, for ``recv()`` and ``recv_streaming()``.

    Items are ``str`` or ``bytes`` for messages that arrived in one frame (the common case,
    already decoded and validated by the reader), or :class:`~wsfast.frames.Frame` objects
    for the frames of fragmented messages. When more than ``high`` items wait, ``pause()``
    is called (the connection stops reading); once ``low`` or fewer remain, ``resume()``.
    """

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = _nothing,
        resume: Callable[[], Any] = _nothing,
    ) -> None:
        super().__init__(*queue_watermarks(high, low), pause, resume)

    # Producer side: the connection.

    def end_valid(self, on_reached: Callable[[], Any]) -> None:
        """Mark the end of what can be delivered: an error follows what is queued.

        ``on_reached`` is called once a getter has taken everything queued and asks for
        more, at once if one is waiting already. It fails the connection; the stream then
        closes and the getter gets :exc:`EOFError`.
        """
        self.on_end_of_valid = on_reached
        self._wake_getter()

    def close(self) -> None:
        """End the stream: waiting and later getters get :exc:`EOFError` once it's empty."""
        if self.closed:
            return
        self.closed = True
        self._wake_getter()

    # Consumer side: recv() and recv_streaming().

    async def _wait(self) -> None:
        """Wait until the queue isn't empty; raise EOFError if it never will be."""
        while not self.queue:
            if self.closed:
                raise EOFError("stream of frames ended")
            on_end_of_valid = self.on_end_of_valid
            if on_end_of_valid is not None:
                self.on_end_of_valid = None
                on_end_of_valid()
                continue
            loop = self.loop
            if loop is None:
                loop = self.loop = asyncio.get_running_loop()
            waiter = self.waiter = loop.create_future()
            try:
                await waiter
            finally:
                if self.waiter is waiter:
                    self.waiter = None

    async def get(self, decode: bool | None = None) -> str | bytes:
        """Return the next message.

        ``decode`` set to :obj:`False` returns text messages as UTF-8 bytes, :obj:`True`
        decodes binary messages; :obj:`None` returns each as it was sent.

        Raises:
            EOFError: If the stream ended.
            ConcurrencyError: If another coroutine is getting a message.
            UnicodeDecodeError: If ``decode`` is :obj:`True` and a binary message isn't UTF-8.
            TooManyFragments: If the message has more than ``MAX_FRAGMENTS`` frames.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        if not self.queue:
            self.get_in_progress = True
            try:
                await self._wait()
            finally:
                self.get_in_progress = False
        item: Any = self.queue[0]
        cls = item.__class__
        if cls is str:
            self._popleft()
            return item if decode is not False else item.encode()  # type: ignore[no-any-return]
        if cls is bytes:
            self._popleft()
            return item if not decode else item.decode()  # type: ignore[no-any-return]
        return await self._get_fragmented(decode)

    async def _get_fragmented(self, decode: bool | None) -> str | bytes:
        # Frames are taken as they arrive, so that max_queue doesn't stall a long message;
        # if this is cancelled, they go back to the queue and the next get() starts over.
        frames: list[Any] = []
        self.get_in_progress = True
        try:
            while True:
                if not self.queue:
                    await self._wait()
                frame = self._popleft()
                if len(frames) >= MAX_FRAGMENTS:
                    raise TooManyFragments(MAX_FRAGMENTS)
                frames.append(frame)
                if frame.fin:
                    break
        except TooManyFragments:
            raise  # the connection fails: the frames taken are dropped
        except BaseException:
            self.queue.extendleft(reversed(frames))
            raise
        finally:
            self.get_in_progress = False
        data = b"".join([frame.data for frame in frames])
        if decode is None:
            decode = frames[0].opcode is TEXT
        # Text was validated as it arrived (RFC 6455 §8.1); decoding can't fail then.
        return data.decode() if decode else data

    async def get_iter(self, decode: bool | None = None) -> AsyncIterator[str | bytes]:
        """Yield the next message in pieces: each fragment as it arrives.

        Text is decoded incrementally, so that a character split across fragments is
        returned whole, in the piece where it ends.

        The iterator must be consumed fully, as in websockets: once it has yielded a piece,
        abandoning it (cancelled, closed, or an error) leaves the message unusable, and later
        calls raise :exc:`ConcurrencyError`. Until then, cancelling it changes nothing.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self.get_in_progress = True
        try:
            if not self.queue:
                await self._wait()
        except BaseException:
            self.get_in_progress = False
            raise
        item = self.queue[0]
        cls = item.__class__
        if cls is str:
            self._popleft()
            yield item if decode is not False else item.encode()
            self.get_in_progress = False
            return
        if cls is bytes:
            self._popleft()
            yield item if not decode else item.decode()
            self.get_in_progress = False
            return
        frame = self._popleft()
        if decode is None:
            decode = frame.opcode is TEXT
        decoder = _utf8_decoder() if decode else None
        while True:
            if decoder is None:
                yield frame.data
            else:
                yield decoder.decode(frame.data, frame.fin)
            if frame.fin:
                self.get_in_progress = False
                return
            if not self.queue:
                try:
                    await self._wait()
                except EOFError:
                    # The connection closed: later calls say so, as before the message.
                    self.get_in_progress = False
                    raise
            frame = self._popleft()


class SimpleQueue(Generic[T]):
    """The small queue that websockets' Assembler is built on, kept for code importing it.

    Items are taken in order; :meth:`get` waits for one (only one getter at a time),
    :meth:`put_back` returns items to the front, :meth:`abort` wakes a waiting getter with
    :exc:`EOFError`. wsfast's :class:`Assembler` doesn't use it.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.get_waiter: asyncio.Future[None] | None = None
        self.queue: collections.deque[T] = collections.deque()

    def __len__(self) -> int:
        return len(self.queue)

    def put(self, item: T) -> None:
        """Append ``item``, waking the getter if one waits."""
        self.queue.append(item)
        waiter = self.get_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, block: bool = True) -> T:
        """Take the first item; wait for one if ``block``, else raise :exc:`EOFError`."""
        if not self.queue:
            if not block:
                raise EOFError("stream of frames ended")
            if self.get_waiter is not None:
                raise AssertionError("cannot call get() concurrently")
            self.get_waiter = self.loop.create_future()
            try:
                await self.get_waiter
            finally:
                self.get_waiter.cancel()
                self.get_waiter = None
        return self.queue.popleft()

    def put_back(self, items: Sequence[T]) -> None:
        """Return ``items`` to the front of the queue, in their order."""
        if self.get_waiter is not None:
            raise AssertionError("cannot put_back() while get() is running")
        self.queue.extendleft(reversed(items))

    def abort(self) -> None:
        """Wake a waiting getter with :exc:`EOFError`."""
        waiter = self.get_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(EOFError("stream of frames ended"))
