# cython: language_level=3, freethreading_compatible=True
"""The per-message path of the asyncio connection, compiled.

The pure-Python twin ``wsfast.asyncio._core_py`` is the reference: same classes, same
methods, same behaviour, and its docstrings explain each one. What compiling buys is the
time between the transport and the application: the ``BufferedProtocol`` callbacks, the
queue, ``recv()`` and ``send()`` run as C with typed state instead of interpreted bytecode
over instance dictionaries (compiling the Python connection unchanged was measured to gain
nothing: see the README's Benchmarks). Everything that isn't the common case calls back into the
connection's Python methods, so there is one copy of the rules.
"""

cimport cython

import asyncio
import collections
import threading

from wsfast.exceptions import ConnectionClosedOK
from wsfast.frames import BINARY, TEXT
from wsfast.protocol import OPEN

__all__ = ["EMPTY_QUEUE", "AssemblerCore", "ConnectionCore", "message_writer", "shared_buffer"]


class _EmptyQueue(collections.deque):
    """The queue of every assembler that never received anything: always empty."""

    def append(self, item):
        raise AssertionError("the shared empty queue must stay empty")

    def extendleft(self, items):
        if any(True for _ in items):
            raise AssertionError("the shared empty queue must stay empty")


EMPTY_QUEUE = _EmptyQueue()
cdef object _EMPTY = EMPTY_QUEUE
cdef object _deque = collections.deque
cdef object _NOTHING = object()
cdef object _TEXT = TEXT
cdef object _BINARY = BINARY
cdef object _OPEN = OPEN
# What loop.create_future() returns on asyncio's loops and uvloop, without the method call.
cdef object _Future = asyncio.Future

cdef Py_ssize_t _SHARED_BUFFER_SIZE = 64 * 1024
_shared_buffers = threading.local()
cdef object _shared_buffers_c = _shared_buffers


def shared_buffer():
    view = getattr(_shared_buffers_c, "view", None)
    if view is None:
        view = _shared_buffers_c.view = memoryview(bytearray(_SHARED_BUFFER_SIZE))
    return view


def _nothing():
    pass


cpdef object message_writer(protocol):
    # Protocol.message_frame()'s conditions, read without the method call.
    if (
        protocol._state is not _OPEN
        or protocol.expect_continuation_frame
        or protocol.writes
        or protocol.debug
    ):
        return None
    writer = protocol._frame_writer
    if writer is None:
        writer = protocol._new_frame_writer()
    return writer


cdef class AssemblerCore:
    cdef public object high, low, pause, resume, queue, waiter, on_end_of_valid, loop
    cdef public bint paused, get_in_progress, closed

    def __init__(self, high=None, low=None, pause=_nothing, resume=_nothing):
        self.high = high
        self.low = low
        self.pause = pause
        self.resume = resume
        self.paused = False
        self.queue = _EMPTY
        self.waiter = None
        self.get_in_progress = False
        self.closed = False
        self.on_end_of_valid = None
        self.loop = None

    cpdef put(self, frame):
        if self.closed:
            raise EOFError("stream of frames ended")
        queue = self.queue
        if queue is _EMPTY:
            queue = self.queue = _deque()
        queue.append(frame)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.high is not None and not self.paused and len(queue) > self.high:
            self.paused = True
            self.pause()

    cpdef _wake_getter(self):
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    cpdef _popleft(self):
        item = self.queue.popleft()
        if self.paused and len(self.queue) <= self.low:
            self.paused = False
            self.resume()
        return item

    cpdef take_message(self, decode):
        queue = self.queue
        if queue:
            item = queue[0]
            cls = type(item)
            if (cls is str and decode is not False) or (cls is bytes and not decode):
                return self._popleft()
        return _NOTHING

    cpdef bint can_wait(self):
        return (
            not self.queue
            and not self.closed
            and not self.get_in_progress
            and self.on_end_of_valid is None
        )


cdef class ConnectionCore:
    cdef public object protocol, transport, loop, send_in_progress, _frame_reader
    cdef public AssemblerCore recv_messages
    cdef public bint paused, _tls

    # asyncio.BufferedProtocol methods: the transport's side.

    # Called by the event loop for every read: plain C methods, not cyfunctions, whose
    # keyword-capable calling convention costs more than their work.
    @cython.binding(False)
    def get_buffer(self, Py_ssize_t sizehint):
        reader = self._frame_reader
        if reader is not None and not self._tls:
            return reader.get_buffer(sizehint)
        return shared_buffer()

    @cython.binding(False)
    def buffer_updated(self, Py_ssize_t nbytes):
        reader = self._frame_reader
        if reader is None:
            self.protocol.receive_data(bytes(_shared_buffers_c.view[:nbytes]))
            self.process_handshake_events()
            return
        if self._tls:
            reader.feed_data(_shared_buffers_c.view[:nbytes])
        else:
            reader.buffer_updated(nbytes)
        if self.protocol.pending_error is not None:
            # Data after an invalid frame: it would be discarded (RFC 6455 §7.1.7).
            return
        self._receive_messages(reader)

    cpdef _receive_messages(self, reader):
        cdef list items
        protocol = self.protocol
        try:
            items = reader.read_messages()
        except Exception as exc:
            protocol.defer_failure(exc)
            items = []
        else:
            for item in items:
                cls = type(item)
                if cls is not str and cls is not bytes:
                    items = protocol.process_messages(items, True)
                    break
            else:
                if reader.error is not None:
                    items = protocol.process_messages(items, True)
        if items:
            messages = self.recv_messages
            for item in items:
                cls = type(item)
                if cls is str or cls is bytes:
                    messages.put(item)
                else:
                    self._process_frame(item)
        if protocol.pending_error is not None:
            self._defer_failure()
        if protocol.writes or not protocol._frames_direct:
            self._after_receive()

    # The application's side.

    async def __aiter__(self):
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def recv(self, decode=None):
        cdef AssemblerCore messages = self.recv_messages
        if not messages.get_in_progress:
            item = messages.take_message(decode)
            if item is not _NOTHING:
                return item
            if messages.can_wait():
                waiter = messages.waiter = _Future(loop=self.loop)
                messages.get_in_progress = True
                try:
                    await waiter
                finally:
                    messages.get_in_progress = False
                    if messages.waiter is waiter:
                        messages.waiter = None
                item = messages.take_message(decode)
                if item is not _NOTHING:
                    return item
        return await self._recv(decode)

    async def send(self, message, *, text=None):
        if self.send_in_progress is None and not self.paused:
            writer = message_writer(self.protocol)
            cls = type(message)
            if writer is None:
                frame = None
            elif cls is str:
                frame = writer.frame(
                    _BINARY if text is False else _TEXT, (<str>message).encode(), True
                )
            elif cls is bytes or cls is bytearray or cls is memoryview:
                frame = writer.frame(_TEXT if text else _BINARY, message, True)
            else:
                frame = None
            if frame is not None:
                try:
                    self.transport.write(frame)
                except Exception as exc:
                    await self._write_failed(exc)
                return
        await self._send(message, text=text)
