"""wsfast.sync against websockets.sync 17.4 in corner cases where they once differed.

Each test runs the same scenario on wsfast (on the Cython codec and on the pure-Python twin,
conftest.active_codec) and, where it's installed, on websockets, which is the reference: a
test that passes on websockets and fails on wsfast is a compatibility bug. Every blocking
call has a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
from sync_support import CLOSE, TIMEOUT, close_payload, opcodes, raw_client, run
from websockets_support import layer_modules, lib_param

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

LIBS = pytest.mark.parametrize("lib", ["wsfast", lib_param("websockets")])


def modules(lib):
    """The threading modules of ``lib`` ("wsfast" or "websockets") as a namespace."""
    return layer_modules(lib, "sync")


@contextlib.contextmanager
def serving(lib, handler, **kwargs):
    """A threading server of ``lib`` on 127.0.0.1, an ephemeral port; yields (server, URI)."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    server = modules(lib).server.serve(handler, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(TIMEOUT)
        thread.join(TIMEOUT)
        assert not closer.is_alive(), "server.shutdown() hung"
        assert not thread.is_alive(), "serve_forever() didn't return"


def connection_pair(lib, **kwargs):
    """Two ``Connection`` objects built directly on open protocols, over a socket pair:
    the documented base class used with a custom transport. Returns (client, server)."""
    mods = modules(lib)
    connections = []
    for side, sock in zip(["CLIENT", "SERVER"], socket.socketpair()):
        protocol = mods.protocol.Protocol(
            getattr(mods.protocol.Side, side), state=mods.protocol.State.OPEN
        )
        connections.append(mods.connection.Connection(sock, protocol, **kwargs))
    return connections


# 1. Connection built directly on an open protocol ------------------------------------------


@LIBS
def test_connection_on_open_protocol_receives(lib):
    def main():
        client, server = connection_pair(lib)
        client.send("hello")
        assert server.recv(timeout=TIMEOUT) == "hello"
        server.send([b"frag", b"ments"])
        assert client.recv(timeout=TIMEOUT) == b"fragments"
        assert client.ping().wait(TIMEOUT)
        client.close()
        assert server.wait_closed(TIMEOUT)
        assert client.close_code == server.close_code == 1000

    run(main)


# 2. connect() isn't reentrant ---------------------------------------------------------------


@LIBS
def test_connect_is_not_reentrant(lib):
    requests = []

    def process_request(ws, request):
        requests.append(request)  # before the response: before connect() returns

    def handler(ws):
        ws.wait_closed(TIMEOUT)

    def main():
        with serving(lib, handler, process_request=process_request) as (_, uri):
            connecter = modules(lib).client.connect(uri, legacy=False)
            with connecter as ws:
                with pytest.raises(RuntimeError, match=r"^connect\(\) isn't reentrant$"):
                    with connecter:
                        pass  # pragma: no cover
                ws.send("still open")
                assert ws.state is modules(lib).protocol.State.OPEN
            assert ws.state is modules(lib).protocol.State.CLOSED
            assert len(requests) == 1
            with connecter as ws2:
                assert ws2 is not ws

    run(main)


# 3. recv_streaming() abandoned after its first fragment ------------------------------------


@LIBS
def test_recv_streaming_abandoned_after_first_fragment_is_unusable(lib):
    exceptions = modules(lib).exceptions

    def handler(ws):
        def slow_fragments():
            yield "first"
            time.sleep(0.2)
            yield "second"

        with contextlib.suppress(exceptions.ConnectionClosed):
            ws.send(slow_fragments())
            ws.send("next")
        ws.wait_closed(TIMEOUT)

    def main():
        with serving(lib, handler) as (_, uri), modules(lib).client.connect(uri) as ws:
            for fragment in ws.recv_streaming():
                assert fragment == "first"
                break
            time.sleep(0.3)  # the rest of the message arrived
            with pytest.raises(exceptions.ConcurrencyError):
                ws.recv(timeout=TIMEOUT)
            with pytest.raises(exceptions.ConcurrencyError):
                next(ws.recv_streaming())

    run(main)


# 5. Connection closed before the handshake response ----------------------------------------


@LIBS
def test_connection_closed_before_the_response_logs_no_error(lib):
    # The autouse no_error_logs fixture fails the test on an ERROR record: the keepalive
    # thread used to join a reading thread that never started.
    handled = []

    def process_request(ws, request):
        ws.close_socket()

    def main():
        with serving(
            lib, handled.append, process_request=process_request, ping_interval=0.05
        ) as (_, uri):
            with pytest.raises(modules(lib).exceptions.InvalidMessage):
                modules(lib).client.connect(uri, open_timeout=TIMEOUT)
            time.sleep(0.2)  # a keepalive ping would be due by now

    run(main)
    assert handled == []


# 7. A write that fails in send() is the cause of ConnectionClosedError ---------------------


class FailingSocket:
    """A socket whose sendall() fails; everything else is the real socket's."""

    def __init__(self, sock, failure):
        self.sock, self.failure = sock, failure

    def sendall(self, data):
        raise self.failure

    def __getattr__(self, name):
        return getattr(self.sock, name)


@LIBS
@pytest.mark.parametrize("message", ["text", b"bytes", ["frag", "ments"]], ids=repr)
def test_failed_write_is_the_cause_of_connection_closed(lib, message):
    exceptions = modules(lib).exceptions

    def main():
        with serving(lib, lambda ws: ws.wait_closed(TIMEOUT)) as (_, uri):
            with modules(lib).client.connect(uri, legacy=False) as ws:
                failure = OSError("write failed")
                ws.socket = FailingSocket(ws.socket, failure)
                with pytest.raises(exceptions.ConnectionClosedError) as raised:
                    ws.send(message)
                assert raised.value.__cause__ is failure
                assert ws.state is modules(lib).protocol.State.CLOSED

    run(main)


# 9. close() during a fragmented send() ------------------------------------------------------


@LIBS
@pytest.mark.parametrize("side", ["client", "server"])
def test_close_during_fragmented_send_fails_at_once(lib, side):
    exceptions = modules(lib).exceptions
    observed = {}

    def close_while_sending(ws):
        started = threading.Event()
        errors = []

        def slow_fragments():
            yield "part"
            started.set()
            while True:
                time.sleep(0.05)
                yield "more"

        def send():
            try:
                ws.send(slow_fragments())
            except Exception as exc:
                errors.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        assert started.wait(TIMEOUT)
        t0 = time.monotonic()
        ws.close()
        observed["close_took"] = time.monotonic() - t0
        observed["close_sent"] = ws.protocol.close_sent.code
        observed["close_code"] = ws.close_code
        sender.join(TIMEOUT)
        observed["send_error"] = errors

    def handler(ws):
        if side == "server":
            close_while_sending(ws)
        else:
            with contextlib.suppress(exceptions.ConnectionClosed):
                for _ in ws:
                    pass

    def main():
        with serving(lib, handler, close_timeout=TIMEOUT) as (_, uri):
            with modules(lib).client.connect(uri, close_timeout=TIMEOUT, legacy=False) as ws:
                if side == "client":
                    close_while_sending(ws)
                else:
                    with contextlib.suppress(exceptions.ConnectionClosed):
                        for _ in ws:
                            pass
                    assert ws.wait_closed(TIMEOUT)

    run(main, timeout=3 * TIMEOUT)
    assert observed["close_sent"] == 1011
    assert observed["close_code"] == 1006
    assert observed["close_took"] < TIMEOUT / 2
    [error] = observed["send_error"]
    assert isinstance(error, exceptions.ConnectionClosedError)


# 10. unix_connect() with both path and sock -------------------------------------------------


@LIBS
@pytest.mark.parametrize("legacy", [None, False])
def test_unix_connect_path_is_incompatible_with_sock(lib, legacy, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        kwargs = {} if legacy is None else {"legacy": legacy}
        with pytest.raises(ValueError, match=r"^path is incompatible with sock$"):
            modules(lib).client.unix_connect(path=str(tmp_path / "sock"), sock=sock, **kwargs)
    finally:
        sock.close()


# 6. and 8. Failing the connection from our side --------------------------------------------


def ignore_pings_answer_close(peer):
    """A raw client that answers no ping but echoes the server's close frame, then closes
    the TCP connection once the server does."""
    peer.wait_for(lambda frames: CLOSE in opcodes(frames), TIMEOUT)
    peer.send(CLOSE, close_payload(1000))
    peer.wait_eof(TIMEOUT)
    peer.close()


@LIBS
@pytest.mark.parametrize("items", [["text", b"bytes"], [b"bytes", "text"], ["text", 42], [42]])
def test_server_send_bad_iterable_raises_type_error_at_once(lib, items):
    raised = []

    def handler(ws):
        started = time.monotonic()
        try:
            ws.send(iter(items))
        except Exception as exc:
            raised.append((exc, time.monotonic() - started))

    def main():
        with serving(lib, handler, close_timeout=TIMEOUT) as (server, _):
            ignore_pings_answer_close(raw_client(server.socket.getsockname()[1]))

    run(main, timeout=3 * TIMEOUT)
    [(exc, elapsed)] = raised
    assert isinstance(exc, TypeError), repr(exc)
    assert elapsed < TIMEOUT / 2


@LIBS
def test_server_reaches_closed_after_keepalive_timeout(lib):
    observed = {}

    def handler(ws):
        started = time.monotonic()
        while ws.state is not modules(lib).protocol.State.CLOSED:
            time.sleep(0.01)
        observed["elapsed"] = time.monotonic() - started
        observed["close_code"] = ws.close_code
        observed["close_sent"] = ws.protocol.close_sent.code

    def main():
        with serving(
            lib, handler, ping_interval=0.1, ping_timeout=0.1, close_timeout=TIMEOUT
        ) as (server, _):
            ignore_pings_answer_close(raw_client(server.socket.getsockname()[1]))

    run(main, timeout=3 * TIMEOUT)
    assert observed["close_sent"] == 1011
    assert observed["close_code"] == 1006
    assert observed["elapsed"] < TIMEOUT / 2
