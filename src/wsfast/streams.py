"""A buffer between incoming bytes and the generator-based parsers of the Sans-I/O layer.

:class:`StreamReader` has the interface of ``websockets.streams.StreamReader``: the I/O layer
calls :meth:`~StreamReader.feed_data` and :meth:`~StreamReader.feed_eof`; parsers written as
generators ``yield from`` :meth:`~StreamReader.read_line`, :meth:`~StreamReader.read_exact`
and :meth:`~StreamReader.read_to_eof`, which yield (return control to the I/O layer) until
enough data is buffered. The exceptions and their messages are websockets' too.

Cost stays linear in the bytes received however finely they are split:

* bytes accumulate in one ``bytearray``: appending is amortised O(len(data)), and consuming
  from the front is O(1) amortised in CPython, which moves the start of a bytearray instead
  of shifting its contents;
* :meth:`~StreamReader.read_line` remembers how much of the buffer it already searched for
  LF, so a line arriving one byte at a time is scanned once, not once per byte;
* when a read takes the whole buffer, the buffer object is handed over instead of copied.
"""

from __future__ import annotations

from collections.abc import Generator

__all__ = ["StreamReader"]


class StreamReader:
    """Generator-based stream reader.

    ``buffer`` holds the bytes received and not read yet; ``eof`` tells whether
    :meth:`feed_eof` was called. Both are public, as in websockets.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        # Length of the prefix of `buffer` known to contain no LF. Data is only ever appended
        # behind it, so read_line resumes its search there; anything that removes bytes from
        # the front resets it.
        self._no_lf = 0

    def _take(self, n: int) -> bytearray:
        """Remove the first ``n`` bytes from the buffer and return them."""
        self._no_lf = 0
        buffer = self.buffer
        if n == len(buffer):
            # Hand the whole buffer over rather than copy it: a large body or frame that
            # is read in one go is then never duplicated.
            self.buffer = bytearray()
            return buffer
        data = buffer[:n]
        del buffer[:n]
        return data

    def read_line(
        self,
        m: int,
        too_long_exc_type: type[Exception] = RuntimeError,
    ) -> Generator[None, None, bytearray]:
        """Read a LF-terminated line from the stream.

        This is a generator-based coroutine. The return value includes the LF.

        Args:
            m: Maximum number of bytes to read, LF included; this is a security limit.
            too_long_exc_type: Exception to raise if the line ends in more than ``m`` bytes;
                defaults to :exc:`RuntimeError`.

        Raises:
            EOFError: If the stream ends without a LF.
            RuntimeError: If the line ends in more than ``m`` bytes.
        """
        while True:
            buffer = self.buffer
            end = buffer.find(b"\n", self._no_lf)
            if end != -1:
                n = end + 1
                if n > m:
                    raise too_long_exc_type(f"read {n} bytes, expected no more than {m} bytes")
                return self._take(n)
            self._no_lf = len(buffer)
            # Fail as soon as the limit is crossed, without waiting for a LF that may never
            # come: this bounds the memory a peer can make us buffer.
            if len(buffer) > m:
                raise too_long_exc_type(
                    f"read {len(buffer)} bytes, expected no more than {m} bytes"
                )
            if self.eof:
                raise EOFError(f"stream ends after {len(buffer)} bytes, before end of line")
            yield

    def read_exact(self, n: int) -> Generator[None, None, bytearray]:
        """Read a given number of bytes from the stream.

        This is a generator-based coroutine.

        Args:
            n: How many bytes to read.

        Raises:
            EOFError: If the stream ends in less than ``n`` bytes.
        """
        assert n >= 0
        while len(self.buffer) < n:
            if self.eof:
                raise EOFError(f"stream ends after {len(self.buffer)} bytes, expected {n} bytes")
            yield
        return self._take(n)

    def read_to_eof(
        self,
        m: int,
        too_long_exc_type: type[Exception] = RuntimeError,
    ) -> Generator[None, None, bytearray]:
        """Read all bytes from the stream.

        This is a generator-based coroutine.

        Args:
            m: Maximum number of bytes to read; this is a security limit.
            too_long_exc_type: Exception to raise if the stream ends in more than ``m``
                bytes; defaults to :exc:`RuntimeError`.

        Raises:
            RuntimeError: If the stream ends in more than ``m`` bytes.
        """
        while True:
            # Checked before EOF too, so that the limit holds however feeds and steps
            # interleave (websockets skips it when the data and the EOF were both fed before
            # the generator ran).
            if len(self.buffer) > m:
                raise too_long_exc_type(
                    f"read {len(self.buffer)} bytes, expected no more than {m} bytes"
                )
            if self.eof:
                return self._take(len(self.buffer))
            yield

    def at_eof(self) -> Generator[None, None, bool]:
        """Tell whether the stream has ended and all data was read.

        This is a generator-based coroutine.
        """
        while True:
            if self.buffer:
                return False
            if self.eof:
                return True
            # No data and no EOF yet: only the next event can tell.
            yield

    def feed_data(self, data: bytes | bytearray) -> None:
        """Write data to the stream.

        :meth:`feed_data` cannot be called after :meth:`feed_eof`.

        Args:
            data: Data to write.

        Raises:
            EOFError: If the stream has ended.
        """
        if self.eof:
            raise EOFError("stream ended")
        self.buffer += data

    def feed_eof(self) -> None:
        """End the stream.

        :meth:`feed_eof` cannot be called more than once.

        Raises:
            EOFError: If the stream has ended.
        """
        if self.eof:
            raise EOFError("stream ended")
        self.eof = True

    def discard(self) -> None:
        """Discard all buffered data, but don't end the stream."""
        # Clear in place rather than rebind: the memory is released either way, and a
        # reference to `buffer` held elsewhere sees the same object as in websockets.
        del self.buffer[:]
        self._no_lf = 0
