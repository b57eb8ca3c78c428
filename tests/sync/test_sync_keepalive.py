"""wsfast.sync against hand-driven peers: keepalive, timeouts, the closing handshake,
protocol errors, flow control, HTTP proxies and redirects.

The peer is a raw TCP server or client (sync_support.RawServer, raw_client) that performs
the opening handshake by hand (no extension, no subprotocol), then does exactly what the
test says: stays silent, answers pings, sends a close frame, breaks a protocol rule, floods.
Frames are built and parsed without wsfast. The expected behaviour is websockets 17.x's.
Every test runs on both codecs and is bounded in time (sync_support.run).
"""

from __future__ import annotations

import base64
import contextlib
import http
import os
import socket
import threading
import time

import pytest
from sync_support import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Background,
    ConnectProxy,
    RawServer,
    accept_key,
    build_frame,
    close_code_of,
    close_payload,
    header_value,
    opcodes,
    raw_client,
    run,
    serving_sync,
    tls_contexts,
)
from websockets_support import HAVE_WEBSOCKETS, lib_param, websockets_module

from wsfast.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    SecurityError,
)
from wsfast.protocol import State
from wsfast.sync import client as wsfast_client
from wsfast.sync.client import connect
from wsfast.sync.server import serve

ws_exceptions = websockets_module("websockets.exceptions")
ws_client = websockets_module("websockets.sync.client")
ws_server = websockets_module("websockets.sync.server")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

WAIT = 5

CONNECT = {"wsfast": wsfast_client.connect}
INVALID_STATUS = (InvalidStatus,)
INVALID_PROXY_STATUS = (InvalidProxyStatus,)
SECURITY_ERROR = (SecurityError,)
if HAVE_WEBSOCKETS:  # Python 3.11+ (websockets_support)
    CONNECT["websockets"] = ws_client.connect
    INVALID_STATUS += (ws_exceptions.InvalidStatus,)
    INVALID_PROXY_STATUS += (ws_exceptions.InvalidProxyStatus,)
    SECURITY_ERROR += (ws_exceptions.SecurityError,)
CLIENT_LIBS = pytest.mark.parametrize("client_lib", ["wsfast", lib_param("websockets")])


def raw_connect(server, **kwargs):
    """A wsfast client connected to a RawServer, without keepalive unless asked."""
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("close_timeout", 1)
    return connect(server.uri, legacy=True, **kwargs)


@contextlib.contextmanager
def running(handler, **kwargs):
    """A wsfast.sync server on 127.0.0.1; yields (server, port)."""
    with serving_sync(serve, handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, server.socket.getsockname()[1]


@contextlib.contextmanager
def closing(peer):
    try:
        yield peer
    finally:
        peer.close()


def echo(ws):
    with contextlib.suppress(ConnectionClosed):
        while True:
            ws.send(ws.recv(timeout=WAIT * 2))


def record_close(result, done=None):
    """A handler that waits for the connection to close and records the exception."""

    def handler(ws):
        try:
            while True:
                ws.recv(timeout=WAIT * 2)
        except ConnectionClosed as exc:
            result["exc"] = exc
            result["close"] = (ws.close_code, ws.close_reason)
        except TimeoutError as exc:  # pragma: no cover - a failure
            result["exc"] = exc
        finally:
            if done is not None:
                done.set()

    return handler


# Keepalive -------------------------------------------------------------------------------


def test_keepalive_ping_timeout_client_side():
    def main():
        with RawServer() as server:
            start = time.monotonic()
            ws = raw_connect(server, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.3)
            peer = server.peer
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            elapsed = time.monotonic() - start
            # ping_interval + ping_timeout + close_timeout: the peer answers nothing.
            assert 0.5 <= elapsed < 3
            exc = excinfo.value
            assert (exc.sent.code, exc.sent.reason) == (1011, "keepalive ping timeout")
            assert exc.rcvd is None
            assert ws.close_code == 1006
            peer.wait_eof()
            frames = peer.frames()
            assert opcodes(frames) == [PING, CLOSE]
            assert frames[0][2] is True  # masked
            assert frames[1][1] == close_payload(1011, "keepalive ping timeout")

    run(main)


def test_keepalive_ping_timeout_server_side():
    result = {}
    done = threading.Event()

    def main():
        with running(
            record_close(result, done), ping_interval=0.1, ping_timeout=0.2, close_timeout=0.3
        ) as (_, port):
            start = time.monotonic()
            with closing(raw_client(port)) as peer:
                # The server fails the connection and closes TCP at once (RFC 6455 §7.1.7).
                peer.wait_eof()
                assert 0.25 <= time.monotonic() - start < 3
                frames = peer.frames()
                assert opcodes(frames) == [PING, CLOSE]
                assert frames[0][2] is False  # not masked
                assert frames[1][1] == close_payload(1011, "keepalive ping timeout")
            assert done.wait(WAIT)
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert (exc.sent.code, exc.sent.reason) == (1011, "keepalive ping timeout")
        assert result["close"] == (1006, "")

    run(main)


def test_keepalive_pings_answered_keep_the_connection_open():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, ping_interval=0.05, ping_timeout=0.2)
            peer = server.peer
            answered = 0
            deadline = time.monotonic() + 0.7
            while time.monotonic() < deadline:
                pings = [payload for op, payload, _ in peer.frames() if op == PING]
                for payload in pings[answered:]:
                    peer.send(PONG, payload)
                answered = len(pings)
                time.sleep(0.01)
            assert answered >= 3
            assert ws.state is State.OPEN
            assert ws.latency > 0
            peer.send(TEXT, b"still here")
            assert ws.recv(timeout=WAIT) == "still here"

    run(main)


def test_keepalive_server_side_pings_answered_by_client():
    """The wsfast server pings a raw client that answers: the connection stays open."""
    result = {}

    def handler(ws):
        time.sleep(0.5)
        result["latency"] = ws.latency
        result["state"] = ws.state
        ws.send("done")
        echo(ws)

    def main():
        with (
            running(handler, ping_interval=0.05, ping_timeout=0.3) as (_, port),
            closing(raw_client(port)) as peer,
        ):
            answered = 0
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                frames = peer.frames()
                if (TEXT, b"done", False) in frames:
                    break
                pings = [payload for op, payload, _ in frames if op == PING]
                for payload in pings[answered:]:
                    peer.send(PONG, payload)
                answered = len(pings)
                time.sleep(0.01)
            assert (TEXT, b"done", False) in peer.frames()
            assert answered >= 3
            peer.send(CLOSE, close_payload(1000))
            peer.wait_eof()
        assert result["state"] is State.OPEN
        assert result["latency"] > 0

    run(main)


def test_ping_timeout_none_never_closes():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, ping_interval=0.05, ping_timeout=None)
            time.sleep(0.4)
            assert ws.state is State.OPEN
            assert opcodes(server.peer.frames()).count(PING) >= 3
            server.peer.send(TEXT, b"alive")
            assert ws.recv(timeout=WAIT) == "alive"

    run(main)


def test_ping_interval_none_sends_no_pings():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, ping_interval=None)
            time.sleep(0.3)
            assert server.peer.frames() == []
            assert ws.state is State.OPEN

    run(main)


# Pings and pongs on the wire -------------------------------------------------------------


def test_pong_acknowledges_earlier_pings():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            p1 = ws.ping(b"p1")
            p2 = ws.ping("p2")
            p3 = ws.ping(b"p3")
            with pytest.raises(ConcurrencyError):
                ws.ping(b"p2")  # already waiting for that pong
            peer.wait_for(lambda frames: len(frames) == 3)
            assert [(op, p) for op, p, _ in peer.frames()] == [
                (PING, b"p1"),
                (PING, b"p2"),
                (PING, b"p3"),
            ]
            peer.send(PONG, b"unsolicited")
            peer.send(PONG, b"p2")  # acknowledges p1 too
            assert p2.wait(WAIT)
            assert p1.is_set()
            assert not p3.is_set()
            latency = ws.latency
            assert latency > 0
            peer.send(PONG, b"p3")
            assert p3.wait(WAIT)
            # Once acknowledged, the same payload can be used again.
            p1_again = ws.ping(b"p1")
            peer.send(PONG, b"p1")
            assert p1_again.wait(WAIT)
            # A random payload when none is given.
            p4 = ws.ping()
            peer.wait_for(lambda frames: len(frames) == 5)
            payload = peer.frames()[4][1]
            assert len(payload) == 4
            peer.send(PONG, payload)
            assert p4.wait(WAIT)

    run(main)


def test_client_answers_pings_and_sends_pongs():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            peer.send(PING, b"hello")
            peer.send(PING, b"")
            peer.send(TEXT, b"after pings")
            assert ws.recv(timeout=WAIT) == "after pings"
            peer.wait_for(lambda frames: len(frames) == 2)
            assert peer.frames() == [(PONG, b"hello", True), (PONG, b"", True)]
            ws.pong(b"manual")
            ws.pong("text")
            peer.wait_for(lambda frames: len(frames) == 4)
            assert peer.frames()[2:] == [(PONG, b"manual", True), (PONG, b"text", True)]

    run(main)


def test_server_answers_pings_between_fragments():
    def handler(ws):
        ws.send(ws.recv(timeout=WAIT))
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=WAIT)

    def main():
        with running(handler) as (_, port), closing(raw_client(port)) as peer:
            peer.send(TEXT, b"frag", fin=False)
            peer.send(PING, b"in between")
            peer.send(CONT, b"mented")
            peer.wait_for(lambda frames: len(frames) >= 2)
            assert peer.frames()[:2] == [
                (PONG, b"in between", False),
                (TEXT, b"fragmented", False),
            ]
            peer.send(CLOSE, close_payload(1000))
            peer.wait_eof()
            assert peer.frames()[2] == (CLOSE, close_payload(1000), False)

    run(main)


def test_ping_ack_on_close():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, close_timeout=0.3)
            peer = server.peer
            acked_on_close = ws.ping(b"ack on close", ack_on_close=True)
            plain = ws.ping(b"plain")
            peer.wait_for(lambda frames: len(frames) == 2)
            assert not acked_on_close.is_set()
            peer.send(CLOSE, close_payload(1000))
            peer.wait_for(lambda frames: len(frames) == 3)
            peer.close()  # the server closes TCP after the closing handshake
            assert ws.wait_closed(WAIT)
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000
            # Only the ping sent with ack_on_close=True is acknowledged by the close.
            assert acked_on_close.is_set()
            assert not plain.is_set()
            with pytest.raises(ConnectionClosedOK):
                ws.ping()

    run(main)


def test_ping_ack_on_close_after_an_abrupt_disconnect():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            acked_on_close = ws.ping(b"ack on close", ack_on_close=True)
            plain = ws.ping(b"plain")
            server.peer.wait_for(lambda frames: len(frames) == 2)
            server.peer.close()
            assert acked_on_close.wait(WAIT)
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006
            assert not plain.is_set()

    run(main)


# Closing handshake and timeouts ----------------------------------------------------------


def test_close_timeout_client_side():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, close_timeout=0.3)
            peer = server.peer
            start = time.monotonic()
            ws.close()  # the peer never answers the close frame nor closes TCP
            elapsed = time.monotonic() - start
            assert 0.25 <= elapsed < 3
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.sent.code == 1000
            assert excinfo.value.rcvd is None
            peer.wait_eof()  # the client closed TCP itself
            assert peer.frames() == [(CLOSE, close_payload(1000), True)]

    run(main)


def test_close_timeout_server_side():
    result = {}

    def handler(ws):
        start = time.monotonic()
        ws.close(4001, "server closes")
        result["elapsed"] = time.monotonic() - start
        result["close_code"] = ws.close_code

    def main():
        with (
            running(handler, close_timeout=0.3) as (_, port),
            closing(raw_client(port)) as peer,
        ):
            start = time.monotonic()
            peer.wait_eof()  # never answers, never closes TCP
            assert 0.25 <= time.monotonic() - start < 3
            assert peer.frames() == [(CLOSE, close_payload(4001, "server closes"), False)]
        assert 0.25 <= result["elapsed"] < 3
        assert result["close_code"] == 1006

    run(main)


def test_close_timeout_when_the_peer_answers_but_keeps_tcp_open_server_side():
    """The server closes TCP first after the handshake; a client that never closes its
    side doesn't hold the server longer than close_timeout."""
    result = {}

    def handler(ws):
        start = time.monotonic()
        ws.close(1000, "bye")
        result["elapsed"] = time.monotonic() - start
        result["close"] = (ws.close_code, ws.close_reason)

    def main():
        with (
            running(handler, close_timeout=0.5) as (_, port),
            closing(raw_client(port)) as peer,
        ):
            peer.wait_for(lambda frames: len(frames) == 1)
            peer.send(CLOSE, close_payload(1000, "bye"))  # answer, keep TCP open
            peer.wait_eof()  # the server closes its side right away
            time.sleep(1)  # let close_timeout elapse before closing ours
        assert result["elapsed"] < 3
        assert result["close"] == (1000, "bye")

    run(main)


@pytest.mark.parametrize("tcp_close_after", [None, 0.1], ids=["never", "soon"])
def test_client_waits_for_the_server_to_close_tcp(tcp_close_after):
    def main():
        with RawServer() as server:
            close_timeout = 0.5 if tcp_close_after is None else 3
            ws = raw_connect(server, close_timeout=close_timeout)
            peer = server.peer
            closing_call = Background(ws.close, 1000, "bye")
            peer.wait_for(lambda frames: len(frames) == 1)
            start = time.monotonic()
            peer.send(CLOSE, close_payload(1000, "bye"))  # answer, keep TCP open...
            if tcp_close_after is not None:
                time.sleep(tcp_close_after)
                peer.close()  # ... for a while
            closing_call.result(WAIT)
            elapsed = time.monotonic() - start
            if tcp_close_after is None:
                assert elapsed < 3  # close_timeout, then the client closes TCP
            else:
                assert elapsed < 1.5  # not close_timeout
            assert (ws.close_code, ws.close_reason) == (1000, "bye")
            assert ws.state is State.CLOSED
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=WAIT)
            peer.wait_eof()

    run(main)


def test_server_closes_tcp_after_the_closing_handshake():
    def main():
        with (
            running(record_close({}), close_timeout=5) as (_, port),
            closing(raw_client(port)) as peer,
        ):
            start = time.monotonic()
            peer.send(CLOSE, close_payload(1000, "client"))
            peer.wait_eof()
            assert time.monotonic() - start < 2  # not close_timeout
            assert peer.frames() == [(CLOSE, close_payload(1000, "client"), False)]

    run(main)


def test_peer_sends_close_frame():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            peer.send(TEXT, b"last words")
            peer.send(CLOSE, close_payload(4005, "raw peer"))
            assert ws.recv(timeout=WAIT) == "last words"
            peer.wait_for(lambda frames: len(frames) == 1)
            assert peer.frames() == [(CLOSE, close_payload(4005, "raw peer"), True)]
            peer.close()  # the server closes TCP after the handshake
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            exc = excinfo.value
            assert (exc.rcvd.code, exc.rcvd.reason) == (4005, "raw peer")
            assert (exc.sent.code, exc.sent.reason) == (4005, "raw peer")
            assert exc.rcvd_then_sent is True
            assert (ws.close_code, ws.close_reason) == (4005, "raw peer")
            with pytest.raises(ConnectionClosedError):
                ws.send("too late")

    run(main)


def test_close_frame_without_code():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            peer.send(CLOSE, b"")
            peer.wait_for(lambda frames: len(frames) == 1)
            assert peer.frames() == [(CLOSE, b"", True)]
            peer.close()
            assert ws.wait_closed(WAIT)
            assert ws.close_code == 1005
            assert ws.close_reason == ""
            with pytest.raises(ConnectionClosedOK):  # 1005 counts as a normal closure
                ws.recv(timeout=WAIT)

    run(main)


def test_abrupt_disconnect_by_server():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            peer.send(TEXT, b"bye")
            peer.close()
            assert ws.recv(timeout=WAIT) == "bye"  # what arrived before stays readable
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd is None
            assert excinfo.value.sent is None
            assert ws.close_code == 1006
            assert ws.close_reason == ""
            with pytest.raises(ConnectionClosedError):
                ws.send("after")
            ws.close()  # no error

    run(main)


def test_abrupt_disconnect_by_client():
    result = {}
    done = threading.Event()

    def main():
        with running(record_close(result, done)) as (_, port):
            peer = raw_client(port)
            peer.close()
            assert done.wait(WAIT)
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is None
        assert exc.sent is None
        assert result["close"] == (1006, "")

    run(main)


def test_abrupt_disconnect_in_the_middle_of_a_frame():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            peer.send_raw(build_frame(BINARY, b"x" * 1000)[:500])
            time.sleep(0.05)
            peer.close()
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd is None
            assert ws.close_code == 1006

    run(main)


# Protocol errors --------------------------------------------------------------------------


PROTOCOL_ERRORS = {
    "unmasked": ([build_frame(TEXT, b"not masked")], 1002),
    "invalid-utf8": ([build_frame(TEXT, b"\xff\xfe", mask=True)], 1007),
    "invalid-utf8-across-fragments": (
        [
            build_frame(TEXT, b"\xe2\x98", fin=False, mask=True),
            build_frame(CONT, b"\x00", mask=True),
        ],
        1007,
    ),
    "reserved-opcode": ([build_frame(0x3, b"reserved opcode", mask=True)], 1002),
    "reserved-control-opcode": ([build_frame(0xB, b"", mask=True)], 1002),
    "orphan-continuation": ([build_frame(CONT, b"continuation first", mask=True)], 1002),
    "data-frame-inside-fragmented-message": (
        [
            build_frame(TEXT, b"first", fin=False, mask=True),
            build_frame(TEXT, b"second", mask=True),
        ],
        1002,
    ),
    "fragmented-control": ([build_frame(PING, b"fragmented", fin=False, mask=True)], 1002),
    "long-control": ([build_frame(PING, b"x" * 126, mask=True)], 1002),
    "long-close": ([build_frame(CLOSE, close_payload(1000, "x" * 124), mask=True)], 1002),
    "close-too-short": ([build_frame(CLOSE, b"\x03", mask=True)], 1002),
    "bad-close-code": ([build_frame(CLOSE, close_payload(999), mask=True)], 1002),
    "reserved-close-code": ([build_frame(CLOSE, close_payload(1005), mask=True)], 1002),
    "bad-close-reason": ([build_frame(CLOSE, b"\x03\xe8\xff", mask=True)], 1007),
    "rsv1-without-extension": ([bytes([0xC1, 0x80]) + os.urandom(4)], 1002),
    "rsv2": ([bytes([0xA1, 0x80]) + os.urandom(4)], 1002),
    "too-big": ([build_frame(BINARY, b"x" * 1001, mask=True)], 1009),
}


@pytest.mark.parametrize(
    ("frames", "code"), list(PROTOCOL_ERRORS.values()), ids=list(PROTOCOL_ERRORS)
)
def test_protocol_errors_from_client(frames, code):
    result = {}
    done = threading.Event()

    def main():
        with running(record_close(result, done), close_timeout=0.5, max_size=1000) as (_, port):
            with closing(raw_client(port)) as peer:
                for index, frame in enumerate(frames):
                    if index:
                        # Apart: see test_error_right_after_a_valid_message.
                        time.sleep(0.1)
                    peer.send_raw(frame)
                peer.wait_eof()  # the server fails the connection and closes TCP
                received = peer.frames()
                assert received[-1][0] == CLOSE
                assert close_code_of(received[-1][1]) == code
            assert done.wait(WAIT)
        exc = result["exc"]
        assert isinstance(exc, ConnectionClosedError)
        assert exc.sent.code == code

    run(main)


def test_protocol_error_from_server():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, close_timeout=0.3)
            peer = server.peer
            receiving = Background(ws.recv, timeout=WAIT)
            peer.send(TEXT, b"masked by a server", mask=True)
            peer.wait_for(lambda frames: len(frames) == 1)
            opcode, payload, _ = peer.frames()[0]
            assert opcode == CLOSE
            assert close_code_of(payload) == 1002
            peer.close()  # as a server does after a close frame
            with pytest.raises(ConnectionClosedError) as excinfo:
                receiving.result(WAIT)
            assert excinfo.value.sent.code == 1002
            assert ws.close_code == 1006

    run(main)


def test_oversized_message_from_server():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, max_size=1000)
            peer = server.peer
            peer.send(BINARY, b"x" * 1000)
            assert ws.recv(timeout=WAIT) == b"x" * 1000
            peer.send(BINARY, b"x" * 1001)
            peer.wait_for(lambda frames: len(frames) == 1)
            assert peer.frames()[0][0] == CLOSE
            assert close_code_of(peer.frames()[0][1]) == 1009
            peer.close()
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.sent.code == 1009

    run(main)


# When a valid message and an invalid frame arrive in the same read, the connection fails
# at once, as websockets' does, not at the next read, which may never come.


def test_error_right_after_a_valid_message():
    """A valid message followed by a reserved opcode, in one TCP segment, to a server."""
    result = {}
    done = threading.Event()

    def handler(ws):
        result["first"] = ws.recv(timeout=WAIT)
        record_close(result, done)(ws)

    def main():
        with running(handler, close_timeout=0.5) as (_, port):
            with closing(raw_client(port)) as peer:
                peer.send_raw(
                    build_frame(TEXT, b"hello", mask=True)
                    + build_frame(0x3, b"reserved opcode", mask=True)
                )
                # websockets answers at once with a close frame (1002) and closes TCP.
                peer.wait_for(lambda frames: CLOSE in opcodes(frames), timeout=2)
                assert close_code_of(peer.frames()[-1][1]) == 1002
            assert done.wait(WAIT)
        assert result["first"] == "hello"
        assert result["exc"].sent.code == 1002

    run(main)


def test_oversized_message_right_after_a_valid_message():
    """A valid message followed by one over max_size, in one TCP segment, to a client."""

    def main():
        with RawServer() as server:
            ws = raw_connect(server, max_size=1000)
            peer = server.peer
            peer.send_raw(build_frame(TEXT, b"hello") + build_frame(BINARY, b"x" * 1001))
            assert ws.recv(timeout=WAIT) == "hello"
            # websockets answers at once with a close frame (1009).
            peer.wait_for(lambda frames: CLOSE in opcodes(frames), timeout=2)
            assert close_code_of(peer.frames()[0][1]) == 1009

    run(main)


# Opening handshake timeouts --------------------------------------------------------------


def test_open_timeout_client_side():
    def main():
        with RawServer(respond=False) as server:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                connect(server.uri, open_timeout=0.3, legacy=True)
            assert 0.25 <= time.monotonic() - start < 3

    run(main)


def test_open_timeout_client_side_with_a_slow_response():
    """The deadline covers the whole handshake, not each read: a server that drips its
    response byte by byte doesn't keep the client waiting past open_timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip():
        sock, _ = listener.accept()
        with sock:
            sock.recv(65536)
            for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" * 10:
                if stop.wait(0.02):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

    def main():
        dripping = Background(drip)
        try:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                connect(f"ws://127.0.0.1:{port}/", open_timeout=0.5, legacy=True)
            assert 0.45 <= time.monotonic() - start < 3
        finally:
            stop.set()
            dripping.exception(WAIT)
            listener.close()

    run(main)


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "dripping"])
def test_open_timeout_server_side(drip):
    """A slowloris client: connects, then sends nothing, or its request a byte at a time."""

    def handler(ws):  # only for the last connection
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=WAIT)

    def main():
        with running(handler, open_timeout=0.5) as (_, port):
            with closing(raw_client(port, handshake=False)) as peer:
                start = time.monotonic()
                request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" * 20
                for byte in request if drip else b"":
                    if peer.eof.is_set():
                        break
                    with contextlib.suppress(OSError):
                        peer.send_raw(bytes([byte]))
                    time.sleep(0.02)
                peer.wait_eof()
                assert 0.45 <= time.monotonic() - start < 3
                assert bytes(peer.received) == b""  # no response at all
            # The server is still up.
            with connect(f"ws://127.0.0.1:{port}/") as ws:
                assert ws.state is State.OPEN

    run(main)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
def test_shutdown_rejects_connections_in_their_opening_handshake(server_lib):
    """shutdown() answers 503 to a connection accepted before it whose request comes after."""
    serve_function = serve if server_lib == "wsfast" else ws_server.serve

    def handler(ws):  # pragma: no cover - never reached
        ws.recv(timeout=WAIT)

    def main():
        server = serve_function(handler, "127.0.0.1", 0, open_timeout=WAIT)
        serving = Background(server.serve_forever)
        port = server.socket.getsockname()[1]
        try:
            with closing(raw_client(port, handshake=False)) as peer:
                time.sleep(0.2)  # accepted, waiting for the request
                shutdown = Background(server.shutdown)
                time.sleep(0.2)
                assert not shutdown.done()  # it waits for the opening handshake
                key = base64.b64encode(os.urandom(16)).decode()
                peer.send_raw(
                    (
                        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    ).encode()
                )
                peer.wait_eof()
                assert bytes(peer.received).startswith(b"HTTP/1.1 503 ")
            shutdown.result(WAIT)
            serving.result(WAIT)
        finally:
            Background(server.shutdown).result(WAIT)

    run(main)


def handshake_response(status_line, *headers, body=""):
    def response_head(head):
        key = header_value(head, "Sec-WebSocket-Key")
        lines = [status_line]
        for header in headers:
            lines.append(header.format(accept=accept_key(key)))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    return response_head


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade")
ACCEPT = "Sec-WebSocket-Accept: {accept}"

INVALID_RESPONSES = {
    "404-with-body": (
        handshake_response("HTTP/1.1 404 Not Found", "Content-Length: 5", body="nope!"),
        "InvalidStatus",
        (404, b"nope!"),
    ),
    "500-body-until-eof": (
        handshake_response("HTTP/1.1 500 Oops", "Connection: close", body="until eof"),
        "InvalidStatus",
        (500, b"until eof"),
    ),
    "not-http": (handshake_response("garbage"), "InvalidMessage", None),
    "wrong-accept": (
        handshake_response("HTTP/1.1 101 Switching", *UPGRADE, "Sec-WebSocket-Accept: xxx"),
        "InvalidHeaderValue",
        None,
    ),
    "missing-upgrade": (
        handshake_response("HTTP/1.1 101 Switching", "Connection: Upgrade", ACCEPT),
        "InvalidUpgrade",
        None,
    ),
    "unrequested-extension": (
        handshake_response(
            "HTTP/1.1 101 Switching", *UPGRADE, ACCEPT, "Sec-WebSocket-Extensions: x-unknown"
        ),
        "NegotiationError",
        None,
    ),
    "unrequested-subprotocol": (
        handshake_response(
            "HTTP/1.1 101 Switching", *UPGRADE, ACCEPT, "Sec-WebSocket-Protocol: chat"
        ),
        "NegotiationError",
        None,
    ),
}


@CLIENT_LIBS
@pytest.mark.parametrize(
    ("response_head", "exc_name", "status"),
    list(INVALID_RESPONSES.values()),
    ids=list(INVALID_RESPONSES),
)
def test_invalid_handshake_responses(client_lib, response_head, exc_name, status):
    def main():
        with RawServer(response_head=response_head) as server:
            # The server closes TCP after its response: "until eof" bodies end there.
            closer = threading.Timer(0.2, lambda: server.peer.close())
            closer.start()
            try:
                with (
                    pytest.raises(Exception) as excinfo,
                    CONNECT[client_lib](server.uri, open_timeout=WAIT),
                ):
                    pass
            finally:
                closer.cancel()
            exc = excinfo.value
            assert type(exc).__name__ == exc_name, repr(exc)
            if status is not None:
                assert (exc.response.status_code, bytes(exc.response.body)) == status

    run(main)


# recv() timeouts --------------------------------------------------------------------------


def poll(func, timeout=WAIT):
    """Call ``func`` until it returns something else than None without raising
    TimeoutError; return that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = func()
        except TimeoutError:
            value = None
        if value is not None:
            return value
        assert time.monotonic() < deadline, "timed out polling"
        time.sleep(0.005)


def test_recv_timeout():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            for timeout in (0, -1):
                start = time.monotonic()
                with pytest.raises(TimeoutError):
                    ws.recv(timeout=timeout)  # nothing received: fails at once
                assert time.monotonic() - start < 0.1
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.2)
            assert 0.15 <= time.monotonic() - start < 2
            # The connection is still usable.
            assert ws.state is State.OPEN
            # A message already received is returned even with a zero timeout.
            peer.send(TEXT, b"queued")
            assert poll(lambda: ws.recv(timeout=0)) == "queued"
            # A message that arrives while waiting.
            timer = threading.Timer(0.1, peer.send, (BINARY, b"later"))
            timer.start()
            assert ws.recv(timeout=WAIT) == b"later"
            timer.join()

    run(main)


def test_recv_timeout_with_a_partial_fragmented_message():
    def main():
        with RawServer() as server:
            ws = raw_connect(server)
            peer = server.peer
            peer.send(TEXT, b"first ", fin=False)
            peer.send(PING, b"barrier")
            peer.wait_for(lambda frames: (PONG, b"barrier", True) in frames)
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0)
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.1)
            peer.send(CONT, b"second")
            # The frames received before the timeouts aren't lost.
            assert ws.recv(timeout=WAIT) == "first second"

    run(main)


# Flow control (max_queue) -----------------------------------------------------------------


FLOOD_COUNT = 800
FLOOD_SIZE = 64 * 1024  # 50 MiB in all: more than the kernel's socket buffers


def flood_payload(index):
    return index.to_bytes(4, "big") * (FLOOD_SIZE // 4)


def check_paused(ws, sender, high):
    """The reading thread stops reading once more than ``high`` messages wait; the peer
    then blocks, because nothing drains the TCP connection."""
    deadline = time.monotonic() + WAIT
    while not ws.recv_messages.paused and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ws.recv_messages.paused
    time.sleep(0.3)  # the reading thread stays paused; the peer stays blocked
    assert ws.recv_messages.paused
    assert len(ws.recv_messages.queue) <= high + 1
    assert not sender.done(), "the whole flood was buffered: flow control didn't apply"


def test_max_queue_pauses_reading_client_side():
    def main():
        with RawServer() as server:
            ws = raw_connect(server, max_queue=4)
            peer = server.peer

            def flood():
                for index in range(FLOOD_COUNT):
                    peer.send(BINARY, flood_payload(index))

            sender = Background(flood)
            check_paused(ws, sender, high=4)
            # Draining resumes reading; nothing is lost or reordered.
            for index in range(FLOOD_COUNT):
                assert ws.recv(timeout=WAIT) == flood_payload(index), index
            sender.result(WAIT)
            assert not ws.recv_messages.paused
            peer.send(TEXT, b"after the flood")
            assert ws.recv(timeout=WAIT) == "after the flood"
            assert ws.ping().wait(0.1) is False  # the raw peer doesn't answer pings
            assert opcodes(peer.frames()) == [PING]

    run(main, timeout=60)


def test_max_queue_pauses_reading_server_side():
    result = {}
    go = threading.Event()
    paused = threading.Event()

    def handler(ws):
        deadline = time.monotonic() + WAIT
        while not ws.recv_messages.paused and time.monotonic() < deadline:
            time.sleep(0.01)
        result["paused"] = ws.recv_messages.paused
        time.sleep(0.3)
        result["queued"] = len(ws.recv_messages.queue)
        paused.set()
        go.wait(WAIT)
        result["messages"] = [ws.recv(timeout=WAIT) for _ in range(FLOOD_COUNT)]
        result["paused after"] = ws.recv_messages.paused
        ws.send("drained")
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=WAIT)

    def main():
        with (
            running(handler, max_queue=(8, 2), close_timeout=1) as (_, port),
            closing(raw_client(port)) as peer,
        ):

            def flood():
                for index in range(FLOOD_COUNT):
                    peer.send(BINARY, flood_payload(index))

            sender = Background(flood)
            assert paused.wait(WAIT)
            assert not sender.done(), "the whole flood was buffered"
            go.set()
            # 50 MiB through the pure-Python codec (and Python 3.10's slower interpreter) on
            # a busy machine: seconds more than 2 * WAIT, sometimes. The point is that it ends.
            sender.result(WAIT * 8)
            peer.wait_for(lambda frames: (TEXT, b"drained", False) in frames, timeout=WAIT * 2)
            peer.send(CLOSE, close_payload(1000))
            peer.wait_eof()
        assert result["paused"] is True
        assert result["queued"] <= 9
        assert result["paused after"] is False
        messages = result["messages"]
        assert len(messages) == FLOOD_COUNT
        for index, message in enumerate(messages):
            assert message == flood_payload(index), index

    run(main, timeout=60)


def test_max_queue_none_buffers_everything():
    count = 200

    def main():
        with RawServer() as server:
            ws = raw_connect(server, max_queue=None)
            peer = server.peer
            for index in range(count):
                peer.send(BINARY, index.to_bytes(4, "big"))
            # All messages are read without the application receiving any.
            poll(lambda: len(ws.recv_messages.queue) == count or None)
            assert [ws.recv(timeout=0) for _ in range(count)] == [
                index.to_bytes(4, "big") for index in range(count)
            ]

    run(main)


# HTTP CONNECT proxy -----------------------------------------------------------------------


@CLIENT_LIBS
def test_http_proxy(client_lib):
    def main():
        with running(echo) as (_, port), ConnectProxy() as proxy:
            for host in ("127.0.0.1", "localhost"):
                uri = f"ws://{host}:{port}/path"
                with CONNECT[client_lib](uri, proxy=proxy.url) as ws:
                    ws.send("through the proxy")
                    assert ws.recv(timeout=WAIT) == "through the proxy"
                    assert ws.request.path == "/path"
                    assert ws.request.headers["Host"] == f"{host}:{port}"
            assert len(proxy.requests) == 2
            for host, head in zip(("127.0.0.1", "localhost"), proxy.requests):
                assert head.split("\r\n")[0] == f"CONNECT {host}:{port} HTTP/1.1"
                assert header_value(head, "Host") == f"{host}:{port}"
                assert header_value(head, "User-Agent") is not None
                assert header_value(head, "Proxy-Authorization") is None

    run(main)


@CLIENT_LIBS
def test_http_proxy_credentials(client_lib):
    def main():
        with running(echo) as (_, port), ConnectProxy() as proxy:
            proxy_url = proxy.url.replace("http://", "http://user:p%40ss@")
            with CONNECT[client_lib](f"ws://127.0.0.1:{port}/", proxy=proxy_url) as ws:
                ws.send("hi")
                assert ws.recv(timeout=WAIT) == "hi"
            credentials = base64.b64encode(b"user:p@ss").decode()
            assert header_value(proxy.requests[0], "Proxy-Authorization") == (
                f"Basic {credentials}"
            )

    run(main)


@CLIENT_LIBS
def test_http_proxy_rejects_with_407(client_lib):
    def main():
        with ConnectProxy(
            status=407, headers='Proxy-Authenticate: Basic realm="proxy"\r\n'
        ) as proxy:
            with (
                pytest.raises(INVALID_PROXY_STATUS) as excinfo,
                CONNECT[client_lib]("ws://127.0.0.1:1/", proxy=proxy.url),
            ):
                pass
            response = excinfo.value.response
            assert response.status_code == 407
            assert response.headers["Proxy-Authenticate"] == 'Basic realm="proxy"'

    run(main)


def test_http_proxy_invalid_response():
    def main():
        with (
            ConnectProxy(raw_response=b"not HTTP at all\r\n\r\n") as proxy,
            pytest.raises(InvalidProxyMessage),
            connect("ws://127.0.0.1:1/", proxy=proxy.url, open_timeout=WAIT),
        ):
            pass

    run(main)


def test_http_proxy_silent_hits_open_timeout():
    def main():
        with ConnectProxy(respond=False) as proxy:
            start = time.monotonic()
            with (
                pytest.raises(TimeoutError),
                connect("ws://127.0.0.1:1/", proxy=proxy.url, open_timeout=0.3),
            ):
                pass
            assert 0.25 <= time.monotonic() - start < 3

    run(main)


def test_http_proxy_with_tls_to_the_server():
    server_context, client_context = tls_contexts()

    def main():
        with running(echo, ssl=server_context) as (_, port), ConnectProxy() as proxy:
            with connect(f"wss://localhost:{port}/", proxy=proxy.url, ssl=client_context) as ws:
                ws.send("tls through the proxy")
                assert ws.recv(timeout=WAIT) == "tls through the proxy"
            assert proxy.requests[0].split("\r\n")[0] == f"CONNECT localhost:{port} HTTP/1.1"

    run(main)


def test_proxy_from_environment(monkeypatch):
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)

    def main():
        with running(echo) as (_, port), ConnectProxy() as proxy:
            uri = f"ws://127.0.0.1:{port}/"
            monkeypatch.setenv("ws_proxy", proxy.url)
            with connect(uri) as ws:  # proxy=True by default: from the environment
                ws.send("env")
                assert ws.recv(timeout=WAIT) == "env"
            assert len(proxy.requests) == 1
            with connect(uri, proxy=None) as ws:  # never a proxy
                ws.send("direct")
                assert ws.recv(timeout=WAIT) == "direct"
            monkeypatch.setenv("no_proxy", "127.0.0.1")
            with connect(uri) as ws:  # no_proxy exempts the host
                ws.send("exempt")
                assert ws.recv(timeout=WAIT) == "exempt"
            assert len(proxy.requests) == 1

    run(main)


# Redirects --------------------------------------------------------------------------------


def redirect_to(location, status=302):
    def response_head(head):
        return (
            f"HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\n"
            "Content-Length: 0\r\n\r\n"
        )

    return response_head


def recording_handler(requests):
    def handler(ws):
        requests.append(ws.request)
        ws.send(ws.request.path)
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            ws.recv(timeout=WAIT)

    return handler


@CLIENT_LIBS
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_followed(client_lib, status):
    requests = []

    def main():
        with running(recording_handler(requests)) as (_, port):
            target = f"ws://127.0.0.1:{port}/target?q=1"
            with RawServer(response_head=redirect_to(target, status)) as redirector:
                with CONNECT[client_lib](redirector.uri) as ws:
                    assert ws.recv(timeout=WAIT) == "/target?q=1"
                assert redirector.peer.request_head.startswith("GET / HTTP/1.1")
        assert len(requests) == 1

    run(main)


@CLIENT_LIBS
def test_same_origin_redirect_keeps_credentials(client_lib):
    requests = []

    def process_request(connection, request):
        if request.path == "/old":
            response = connection.respond(http.HTTPStatus.FOUND, "Moved\n")
            response.headers["Location"] = "/new"
            return response
        return None

    def main():
        with running(recording_handler(requests), process_request=process_request) as (_, port):
            headers = {"Authorization": "Bearer token", "X-Custom": "kept"}
            uri = f"ws://127.0.0.1:{port}/old"
            with CONNECT[client_lib](uri, additional_headers=headers) as ws:
                assert ws.recv(timeout=WAIT) == "/new"
        assert requests[0].headers["Authorization"] == "Bearer token"
        assert requests[0].headers["X-Custom"] == "kept"

    run(main)


@CLIENT_LIBS
def test_cross_origin_redirect_strips_credentials(client_lib):
    requests = []

    def main():
        with running(recording_handler(requests)) as (_, port):
            # Another host (localhost rather than 127.0.0.1) and another port.
            target = f"ws://localhost:{port}/final"
            with RawServer(response_head=redirect_to(target)) as redirector:
                headers = {
                    "Authorization": "Bearer secret",
                    "Cookie": "session=1",
                    "X-Custom": "kept",
                }
                with CONNECT[client_lib](redirector.uri, additional_headers=headers) as ws:
                    assert ws.recv(timeout=WAIT) == "/final"
                first = redirector.peer.request_head
                assert header_value(first, "Authorization") == "Bearer secret"
                assert header_value(first, "Cookie") == "session=1"
        final = requests[0].headers
        assert "Authorization" not in final
        assert "Cookie" not in final
        assert final["X-Custom"] == "kept"
        assert final["Host"] == f"localhost:{port}"

    run(main)


@CLIENT_LIBS
def test_cross_origin_redirect_drops_credentials_from_the_uri(client_lib):
    requests = []

    def main():
        with running(recording_handler(requests)) as (_, port):
            target = f"ws://localhost:{port}/final"
            with RawServer(response_head=redirect_to(target)) as redirector:
                uri = redirector.uri.replace("ws://", "ws://user:pass@")
                with CONNECT[client_lib](uri) as ws:
                    assert ws.recv(timeout=WAIT) == "/final"
                assert header_value(redirector.peer.request_head, "Authorization") == (
                    "Basic " + base64.b64encode(b"user:pass").decode()
                )
        assert "Authorization" not in requests[0].headers

    run(main)


@CLIENT_LIBS
def test_redirect_from_wss_to_ws_is_refused(client_lib):
    server_context, client_context = tls_contexts()
    requests = []

    def main():
        with running(recording_handler(requests)) as (_, plain_port):

            def downgrade(connection, request):
                response = connection.respond(http.HTTPStatus.FOUND, "Moved\n")
                response.headers["Location"] = f"ws://localhost:{plain_port}/"
                return response

            with (
                running(echo, ssl=server_context, process_request=downgrade) as (_, port),
                pytest.raises(SECURITY_ERROR, match="non-secure"),
                CONNECT[client_lib](f"wss://localhost:{port}/", ssl=client_context),
            ):
                pass
        assert requests == []  # the plain server was never contacted

    run(main)


@CLIENT_LIBS
def test_too_many_redirects(client_lib):
    def main():
        with RawServer(response_head=redirect_to("/again")) as redirector:
            with (
                pytest.raises(SECURITY_ERROR, match="more than 10 redirects"),
                CONNECT[client_lib](redirector.uri, open_timeout=WAIT),
            ):
                pass
            with redirector.connected:
                assert redirector.connected.wait_for(lambda: len(redirector.peers) == 10, WAIT)

    run(main)


def test_redirect_with_a_preexisting_socket_is_refused():
    def main():
        with RawServer(response_head=redirect_to("/elsewhere")) as redirector:
            sock = socket.create_connection(("127.0.0.1", redirector.port), timeout=WAIT)
            with (
                pytest.raises(ValueError, match="preexisting socket"),
                connect(redirector.uri, sock=sock),
            ):
                pass

    run(main)


def test_redirect_without_location_is_an_error():
    def response_head(head):
        return "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"

    def main():
        with RawServer(response_head=response_head) as server:
            with (
                pytest.raises(InvalidStatus) as excinfo,
                connect(server.uri),
            ):
                pass
            assert excinfo.value.response.status_code == 302

    run(main)
