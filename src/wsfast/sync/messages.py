"""Incoming messages waiting for ``recv()`` in the threading layer, with flow control."""

from __future__ import annotations

import codecs
import collections
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import ConcurrencyError, TooManyFragments
from ..frames import TEXT
from ..utils import MAX_FRAGMENTS, queue_watermarks
from .utils import Deadline

__all__ = ["Assembler"]

_utf8_decoder = codecs.getincrementaldecoder("utf-8")
UTF8Decoder = _utf8_decoder  # websockets' name for it
_allocate_lock = threading.Lock


def _nothing() -> None:
    pass


class Assembler:
    """Queue between the thread that reads the socket and the thread that calls ``recv()``.

    Items are ``str`` or ``bytes`` for messages that arrived in one frame (already decoded
    and validated by the frame reader) or :class:`~wsfast.frames.Frame` objects for the
    frames of fragmented messages. When more than ``high`` items wait, ``pause()`` is
    called; once ``low`` or fewer remain, ``resume()``. Both are called with the
    assembler's mutex held, so they must not block.

    A getter that finds the queue empty waits on a lock of its own that :meth:`put`
    releases: one futex wake-up per message, which is what a round trip costs.
    """

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = _nothing,
        resume: Callable[[], Any] = _nothing,
    ) -> None:
        self.high, self.low = queue_watermarks(high, low)
        self.pause, self.resume = pause, resume
        self.paused = False
        self.mutex = threading.Lock()
        self.queue: collections.deque[Any] = collections.deque()
        # Held (acquired) by nobody but put() may release it: a getter blocks on it.
        self._waiter: threading.Lock | None = None
        self.get_in_progress = False
        self.closed = False
        # Called when a getter has taken everything queued before an error; see end_valid().
        self.on_end_of_valid: Callable[[], Any] | None = None

    # Producer side: the thread that reads the socket.

    def put(self, frame: Any) -> None:
        """Add a message or a frame.

        Raises:
            EOFError: If the stream was closed.
        """
        with self.mutex:
            if self.closed:
                raise EOFError("stream of frames ended")
            queue = self.queue
            queue.append(frame)
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                waiter.release()
            if self.high is not None and not self.paused and len(queue) > self.high:
                self.paused = True
                self.pause()

    def end_valid(self, on_reached: Callable[[], Any]) -> None:
        """Mark the end of what can be delivered: an error follows what is queued.

        ``on_reached`` is called, with the mutex held (so it must not block), once a getter
        has taken everything queued and asks for more, at once if one is waiting already.
        It leads to the connection failing; the stream then closes and the getter gets
        :exc:`EOFError`.
        """
        with self.mutex:
            if self.queue or self._waiter is None:
                self.on_end_of_valid = on_reached
                return
        on_reached()

    def close(self) -> None:
        """End the stream: getters get what is queued, then :exc:`EOFError`."""
        with self.mutex:
            if self.closed:
                return
            self.closed = True
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                waiter.release()
            # Unblock the reading thread so that it can see the socket closing.
            if self.paused:
                self.paused = False
                self.resume()

    # Consumer side: recv() and recv_streaming().

    def _take(self) -> Any:
        """Pop the first item; the mutex is held."""
        queue = self.queue
        item = queue.popleft()
        if self.paused and len(queue) <= self.low:  # type: ignore[operator]
            self.paused = False
            self.resume()
        return item

    def _next(self, deadline: Deadline | None) -> Any:
        """Wait for the next item until the deadline.

        Raises:
            EOFError: If the stream ended and nothing is left.
            TimeoutError: If the deadline passed first.
        """
        while True:
            with self.mutex:
                if self.queue:
                    return self._take()
                if self.closed:
                    raise EOFError("stream of frames ended")
                on_end_of_valid = self.on_end_of_valid
                if on_end_of_valid is not None:
                    self.on_end_of_valid = None
                    on_end_of_valid()
                timeout = None if deadline is None else deadline.timeout(raise_if_elapsed=False)
                if timeout is not None and timeout <= 0:
                    raise TimeoutError("timed out while waiting for a message")
                waiter = self._waiter = _allocate_lock()
                waiter.acquire()
            if timeout is None:
                waiter.acquire()
            elif not waiter.acquire(True, timeout):
                with self.mutex:
                    if self._waiter is waiter:
                        self._waiter = None
                # Loop: an item may have arrived just as the wait ended.

    def _requeue(self, items: list[Any]) -> None:
        """Put back items taken for a message that couldn't be completed in time."""
        with self.mutex:
            self.queue.extendleft(reversed(items))

    def _start_get(self) -> None:
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self.get_in_progress = True

    def get(self, timeout: float | None = None, decode: bool | None = None) -> str | bytes:
        """Return the next message, waiting at most ``timeout`` seconds for all of it.

        ``decode`` set to :obj:`False` returns text messages as UTF-8 bytes, :obj:`True`
        decodes binary messages; :obj:`None` returns each as it was sent. A ``timeout`` of
        zero or less only returns a message that is complete already.

        Raises:
            EOFError: If the stream ended.
            TimeoutError: If the message isn't complete in time; its frames stay queued.
            ConcurrencyError: If another thread is getting a message.
            UnicodeDecodeError: If ``decode`` is :obj:`True` and a binary message isn't UTF-8.
            TooManyFragments: If the message has more than ``MAX_FRAGMENTS`` frames.
        """
        with self.mutex:
            self._start_get()
            queue = self.queue
            # The hot path: a whole message is waiting.
            if queue and (queue[0].__class__ is str or queue[0].__class__ is bytes):
                item = self._take()
                self.get_in_progress = False
                if item.__class__ is str:
                    return item if decode is not False else item.encode()
                return item if not decode else item.decode()  # type: ignore[no-any-return]
        try:
            deadline = None if timeout is None else Deadline(timeout)
            item = self._next(deadline)
            cls = item.__class__
            if cls is str:
                return item if decode is not False else item.encode()  # type: ignore[no-any-return]
            if cls is bytes:
                return item if not decode else item.decode()  # type: ignore[no-any-return]
            # Frames are taken as they arrive, so that max_queue doesn't stall a long
            # message; if time runs out, they go back and the next get() starts over.
            frames = [item]
            frame = item
            while not frame.fin:
                try:
                    frame = self._next(deadline)
                except TimeoutError:
                    self._requeue(frames)
                    raise
                if len(frames) >= MAX_FRAGMENTS:
                    raise TooManyFragments(MAX_FRAGMENTS)  # the connection fails
                frames.append(frame)
        finally:
            self.get_in_progress = False
        data = b"".join([frame.data for frame in frames])
        if decode is None:
            decode = frames[0].opcode is TEXT
        # Text was validated as it arrived (RFC 6455 §8.1): decoding can't fail then.
        return data.decode() if decode else data

    def get_iter(self, decode: bool | None = None) -> Iterator[str | bytes]:
        """Yield the next message in pieces: each fragment as it arrives.

        Text is decoded incrementally, so that a character split across fragments is
        returned whole, in the piece where it ends. The iterator must be consumed fully.

        Raises:
            EOFError: If the stream ended.
            ConcurrencyError: If another thread is getting a message.
        """
        with self.mutex:
            self._start_get()
        try:
            item = self._next(None)
        except BaseException:
            self.get_in_progress = False
            raise
        # Once a piece is out, the iterator must be consumed fully, as in websockets:
        # abandoned (closed, or an error), it leaves the message unusable, and later calls
        # raise ConcurrencyError.
        cls = item.__class__
        if cls is str:
            yield item if decode is not False else item.encode()
            self.get_in_progress = False
            return
        if cls is bytes:
            yield item if not decode else item.decode()
            self.get_in_progress = False
            return
        frame = item
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
            try:
                frame = self._next(None)
            except EOFError:
                # The connection closed: later calls say so, as before the message.
                self.get_in_progress = False
                raise
