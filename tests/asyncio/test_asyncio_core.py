"""The asyncio connection's per-message core: compiled ``wsfast.asyncio._core`` and its
pure-Python twin ``wsfast.asyncio._core_py``.

The core is the base class of :class:`wsfast.asyncio.connection.Connection`, chosen once at
import time with the codec, so the ``active_codec`` fixture can't swap it per test. Here:

- the queue (``AssemblerCore``) and the send-path check (``message_writer``) of both cores,
  side by side, including against ``Protocol.message_frame()``, whose rules the check
  inlines;
- that the connection derives from the core ``wsfast.IMPLEMENTATION`` names;
- the asyncio connection suites run again in a child process with
  ``WSFAST_NO_EXTENSIONS=1``, where the twin is the base class: the pure twin is held to
  the same tests as the compiled core.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asyncio_support import pytest_in_child

import wsfast.speedups
from wsfast.frames import BINARY, TEXT
from wsfast.protocol import CLOSING, OPEN
from wsfast.server import ServerProtocol


def _load_compiled():
    try:
        return importlib.import_module("wsfast.asyncio._core"), None
    except ImportError as exc:
        return None, f"wsfast.asyncio._core is not importable: {exc}"


COMPILED, COMPILED_SKIP_REASON = _load_compiled()
PURE = importlib.import_module("wsfast.asyncio._core_py")


@pytest.fixture(params=["cython", "python"])
def core(request):
    if request.param == "cython":
        if COMPILED is None:
            pytest.skip(COMPILED_SKIP_REASON)
        return COMPILED
    return PURE


class Recorder:
    def __init__(self):
        self.calls = []

    def pause(self):
        self.calls.append("pause")

    def resume(self):
        self.calls.append("resume")


def test_queue_is_shared_and_empty_until_the_first_message(core):
    first, second = core.AssemblerCore(), core.AssemblerCore()
    assert first.queue is second.queue is core.EMPTY_QUEUE
    assert not first.queue
    first.put("hello")
    assert first.queue is not core.EMPTY_QUEUE
    assert list(first.queue) == ["hello"]
    assert not second.queue


@pytest.mark.parametrize(
    "item, decode, taken",
    [
        ("text", None, True),
        ("text", True, True),
        ("text", False, False),  # recv(decode=False) encodes: the general path
        (b"data", None, True),
        (b"data", False, True),
        (b"data", True, False),  # recv(decode=True) decodes: the general path
    ],
)
def test_take_message_takes_only_what_recv_returns_as_it_is(core, item, decode, taken):
    messages = core.AssemblerCore()
    messages.put(item)
    result = messages.take_message(decode)
    if taken:
        assert result is item
        assert not messages.queue
    else:
        assert result is not item and not isinstance(result, (str, bytes))
        assert list(messages.queue) == [item]


def test_take_message_leaves_a_fragment_for_the_general_path(core):
    from wsfast.frames import Frame

    messages = core.AssemblerCore()
    fragment = Frame(TEXT, b"he", fin=False)
    messages.put(fragment)
    assert messages.take_message(None) is not fragment
    assert list(messages.queue) == [fragment]


def test_put_after_close_raises_eof(core):
    messages = core.AssemblerCore()
    messages.closed = True
    with pytest.raises(EOFError, match="stream of frames ended"):
        messages.put(b"late")


def test_flow_control_pauses_above_high_and_resumes_at_low(core):
    recorder = Recorder()
    messages = core.AssemblerCore(2, 1, recorder.pause, recorder.resume)
    for index in range(3):
        messages.put(index)
    assert recorder.calls == ["pause"] and messages.paused
    messages.put(3)
    assert recorder.calls == ["pause"]  # once, not per message
    assert messages._popleft() == 0
    assert messages._popleft() == 1
    assert recorder.calls == ["pause"]
    assert messages._popleft() == 2
    assert recorder.calls == ["pause", "resume"] and not messages.paused


def test_put_wakes_the_waiter_once(core):
    class Waiter:
        def __init__(self):
            self.results = []

        def done(self):
            return bool(self.results)

        def set_result(self, value):
            self.results.append(value)

    messages = core.AssemblerCore()
    waiter = messages.waiter = Waiter()
    messages.put(b"one")
    messages.put(b"two")
    assert waiter.results == [None]
    assert messages.waiter is None


def test_can_wait_only_when_nothing_else_applies(core):
    messages = core.AssemblerCore()
    assert messages.can_wait()
    messages.put(b"queued")
    assert not messages.can_wait()
    messages._popleft()
    messages.get_in_progress = True
    assert not messages.can_wait()
    messages.get_in_progress = False
    messages.on_end_of_valid = lambda: None
    assert not messages.can_wait()
    messages.on_end_of_valid = None
    messages.closed = True
    assert not messages.can_wait()


def _open_server_protocol():
    protocol = ServerProtocol()
    protocol.state = OPEN
    return protocol


def _frame_or_none(core, protocol, opcode, data):
    writer = core.message_writer(protocol)
    return None if writer is None else writer.frame(opcode, data, True)


@pytest.mark.parametrize(
    "situation",
    ["open", "closing", "fragment in progress", "writes queued", "debug", "first frame"],
)
def test_message_writer_agrees_with_message_frame(core, situation):
    protocol = _open_server_protocol()
    if situation == "closing":
        protocol.state = CLOSING
    elif situation == "fragment in progress":
        protocol.send_text(b"part", fin=False)
        protocol.data_to_send()
    elif situation == "writes queued":
        protocol.send_ping(b"ping")
    elif situation == "debug":
        protocol.debug = True
    if situation != "first frame":
        protocol.message_frame(BINARY, b"warm")  # the writer exists already
    expected = protocol.message_frame(BINARY, b"payload")
    assert _frame_or_none(core, protocol, BINARY, b"payload") == expected
    if situation in ("open", "first frame"):
        assert expected == b"\x82\x07payload"
    else:
        assert expected is None


def test_connection_derives_from_the_core_that_implementation_names():
    from wsfast.asyncio.connection import Connection
    from wsfast.asyncio.messages import Assembler

    expected = COMPILED if wsfast.speedups.IMPLEMENTATION == "cython" else PURE
    assert expected is not None
    assert issubclass(Connection, expected.ConnectionCore)
    assert issubclass(Assembler, expected.AssemblerCore)
    assert wsfast.speedups.ASYNCIO_CORE == expected.__name__


TESTS = Path(__file__).parent.parent
PURE_CORE_SUITES = [
    "asyncio/test_asyncio_connection.py",
    "interop/test_asyncio_interop.py",
    "asyncio/test_asyncio_keepalive.py",
    "asyncio/test_asyncio_tls_unix.py",
    "robustness/test_deferred_failure.py",
    "robustness/test_graceful_shutdown.py",
    "interop/test_parity_asyncio.py",
    "interop/test_router.py",
]


@pytest.mark.slow
def test_asyncio_suites_pass_on_the_pure_twin():
    """The asyncio suites, pure codec and pure core, as a wheel without the extension runs."""
    check = subprocess.run(
        [sys.executable, "-c", "import wsfast.speedups as s; print(s.ASYNCIO_CORE)"],
        env={**os.environ, "WSFAST_NO_EXTENSIONS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "wsfast.asyncio._core_py", check.stderr
    pytest_in_child(
        [TESTS / name for name in PURE_CORE_SUITES],
        {"WSFAST_NO_EXTENSIONS": "1"},
        "-k",
        "not cython",
    )
