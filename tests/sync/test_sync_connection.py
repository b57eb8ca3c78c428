"""wsfast.sync client and server against each other, over real sockets on 127.0.0.1.

Every test runs on the Cython codec and on the pure-Python twin (conftest.active_codec). The
expected behaviour is websockets 17.x's: wsfast.sync is meant to be a drop-in for
websockets.sync. Every blocking call has a timeout, and servers are shut down by the
``running`` context manager, so that a bug fails a test instead of hanging the run.
"""

from __future__ import annotations

import contextlib
import http
import inspect
import logging
import socket
import threading
import time
import uuid
import warnings

import pytest
from websockets_support import needs_websockets, websockets_module

from wsfast.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
)
from wsfast.protocol import State
from wsfast.sync import client as wsfast_client
from wsfast.sync import connection as wsfast_connection
from wsfast.sync import server as wsfast_server
from wsfast.sync.client import ClientConnection, connect, reconnect
from wsfast.sync.server import ServerConnection, basic_auth, broadcast, serve

ws_client = websockets_module("websockets.sync.client")
ws_connection = websockets_module("websockets.sync.connection")
ws_server = websockets_module("websockets.sync.server")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

TIMEOUT = 10


@contextlib.contextmanager
def running(handler, **kwargs):
    """A wsfast.sync server on 127.0.0.1, an ephemeral port; yields (server, base URI)."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    server = serve(handler, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.socket.getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}"
    finally:
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(TIMEOUT)
        thread.join(TIMEOUT)
        assert not closer.is_alive(), "server.shutdown() hung"
        assert not thread.is_alive(), "serve_forever() didn't return"


def echo(ws):
    """Send every message back; a connection failed by the client isn't the handler's error."""
    with contextlib.suppress(ConnectionClosedError):
        for message in ws:
            ws.send(message)


def streaming_echo(ws):
    """Receive each message with recv_streaming() and send back repr(list of fragments)."""
    while True:
        try:
            fragments = list(ws.recv_streaming())
        except ConnectionClosedOK:
            return
        ws.send(repr(fragments))


# Messages --------------------------------------------------------------------------------


MESSAGES = [
    "hello",
    "ünïcødé ☃ 𝄞",
    "",
    b"",
    b"\x00\x01\xfe\xff" * 4,
    "x" * 70_000,
    bytes(range(256)) * 1000,
]


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_messages(compression):
    with running(echo, compression=compression) as (_, uri):
        with connect(uri, compression=compression) as ws:
            for message in MESSAGES:
                ws.send(message)
                assert ws.recv(timeout=TIMEOUT) == message


def test_bytes_like_messages_are_binary():
    with running(echo) as (_, uri), connect(uri) as ws:
        ws.send(bytearray(b"abc"))
        assert ws.recv(TIMEOUT) == b"abc"
        ws.send(memoryview(b"abcdef")[1:4])
        assert ws.recv(TIMEOUT) == b"bcd"


def test_text_argument_overrides_the_frame_type():
    def report(ws):
        for message in ws:
            ws.send(type(message).__name__)

    with running(report) as (_, uri), connect(uri) as ws:
        ws.send("text", text=False)
        assert ws.recv(TIMEOUT) == "bytes"
        ws.send(b"binary", text=True)
        assert ws.recv(TIMEOUT) == "str"


def test_recv_decode_argument():
    with running(echo) as (_, uri), connect(uri) as ws:
        ws.send("café")
        assert ws.recv(TIMEOUT, decode=False) == "café".encode()
        ws.send("café".encode())
        assert ws.recv(TIMEOUT, decode=True) == "café"
        ws.send(["caf", "é"])
        assert ws.recv(TIMEOUT, decode=False) == "café".encode()


def test_decode_true_on_invalid_utf8_fails_the_connection():
    with running(echo) as (_, uri), connect(uri) as ws:
        ws.send(b"\xff\xfe")
        with pytest.raises(ConnectionClosedError) as raised:
            ws.recv(TIMEOUT, decode=True)
        assert raised.value.sent.code == 1007


def test_iteration_ends_on_normal_closure():
    def send_three(ws):
        for index in range(3):
            ws.send(str(index))

    with running(send_three) as (_, uri), connect(uri) as ws:
        assert list(ws) == ["0", "1", "2"]
        assert ws.close_code == 1000


def test_iteration_raises_on_error_closure():
    def fail(ws):
        ws.send("before")
        ws.close(1011, "broken")

    with running(fail) as (_, uri), connect(uri) as ws:
        received = []
        with pytest.raises(ConnectionClosedError) as raised:
            for message in ws:
                received.append(message)
        assert received == ["before"]
        assert raised.value.rcvd.code == 1011
        assert raised.value.rcvd.reason == "broken"


# Fragmented messages ---------------------------------------------------------------------


def test_send_fragments_and_recv_streaming():
    with running(streaming_echo) as (_, uri), connect(uri) as ws:
        ws.send(["fir", "st ", "☃"])
        assert ws.recv(TIMEOUT) == repr(["fir", "st ", "☃", ""])
        ws.send([b"\x01", b"\x02\x03"])
        assert ws.recv(TIMEOUT) == repr([b"\x01", b"\x02\x03", b""])
        ws.send("single")
        assert ws.recv(TIMEOUT) == repr(["single"])


def test_recv_streaming_decodes_characters_split_across_frames():
    snowman = "☃".encode()

    def send_split(ws):
        ws.send([snowman[:1], snowman[1:]], text=True)
        ws.recv()

    with running(send_split) as (_, uri), connect(uri) as ws:
        assert list(ws.recv_streaming()) == ["", "☃", ""]
        ws.send("done")


def test_send_generator_and_empty_iterable():
    with running(echo) as (_, uri), connect(uri) as ws:
        ws.send(chunk for chunk in ["a", "b"])
        assert ws.recv(TIMEOUT) == "ab"
        ws.send([])  # nothing to send
        ws.send("after")
        assert ws.recv(TIMEOUT) == "after"


def test_send_mixed_fragments_fails_the_connection():
    with running(echo) as (_, uri), connect(uri) as ws:
        with pytest.raises(TypeError, match="uniform types"):
            ws.send(["text", b"bytes"])
        with pytest.raises(ConnectionClosedError) as raised:
            ws.recv(TIMEOUT)
        assert raised.value.sent.code == 1011


@pytest.mark.parametrize("message", [{"a": 1}, 42, None])
def test_send_unsupported_type(message):
    with running(echo) as (_, uri), connect(uri) as ws:
        with pytest.raises(TypeError):
            ws.send(message)
        ws.send("still open")
        assert ws.recv(TIMEOUT) == "still open"


def test_send_while_another_thread_sends_fragments():
    started, release = threading.Event(), threading.Event()

    def slow_fragments():
        yield "first"
        started.set()
        release.wait(TIMEOUT)
        yield "last"

    with running(echo) as (_, uri), connect(uri) as ws:
        sender = threading.Thread(target=ws.send, args=(slow_fragments(),))
        sender.start()
        assert started.wait(TIMEOUT)
        with pytest.raises(ConcurrencyError):
            ws.send("interleaved")
        release.set()
        sender.join(TIMEOUT)
        assert ws.recv(TIMEOUT) == "firstlast"


def test_close_during_fragmented_send_fails_with_1011():
    started = threading.Event()
    errors = []

    def endless():
        yield "part"
        started.set()
        while True:
            time.sleep(0.01)
            yield "more"

    def send_forever():
        try:
            ws.send(endless())
        except Exception as exc:
            errors.append(exc)

    with running(echo) as (_, uri), connect(uri) as ws:
        sender = threading.Thread(target=send_forever)
        sender.start()
        assert started.wait(TIMEOUT)
        ws.close()
        sender.join(TIMEOUT)
        assert not sender.is_alive()
        assert ws.close_code == 1011 or ws.protocol.close_sent.code == 1011
        assert errors and isinstance(errors[0], ConnectionClosed)


# recv() timeouts and concurrency ------------------------------------------------------------


def test_recv_timeout():
    with running(echo) as (_, uri), connect(uri) as ws:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0)
        ws.send("late")
        deadline = time.monotonic() + TIMEOUT
        while True:  # recv(timeout=0) returns a message that arrived already
            try:
                assert ws.recv(timeout=0) == "late"
                break
            except TimeoutError:
                assert time.monotonic() < deadline
                time.sleep(0.01)


def test_recv_timeout_keeps_a_partial_fragmented_message():
    release = threading.Event()

    def send_slowly(ws):
        ws.send(iter_with_pause())

    def iter_with_pause():
        yield "par"
        release.wait(TIMEOUT)
        yield "tial"

    with running(send_slowly) as (_, uri), connect(uri) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
        release.set()
        assert ws.recv(TIMEOUT) == "partial"


def test_concurrent_recv_raises_concurrency_error():
    with running(echo) as (_, uri), connect(uri) as ws:
        waiting = threading.Thread(target=lambda: ws.recv(timeout=2))
        waiting.start()
        deadline = time.monotonic() + TIMEOUT
        while not ws.recv_messages.get_in_progress:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        with pytest.raises(ConcurrencyError, match="another thread"):
            ws.recv(timeout=1)
        ws.send("unblock")
        waiting.join(TIMEOUT)
        assert not waiting.is_alive()


def test_recv_after_close_raises_connection_closed():
    with running(echo) as (_, uri), connect(uri) as ws:
        ws.close()
        with pytest.raises(ConnectionClosedOK):
            ws.recv(TIMEOUT)
        with pytest.raises(ConnectionClosedOK):
            ws.send("too late")
        assert ws.state is State.CLOSED


def test_messages_queued_before_close_are_still_received():
    def send_then_close(ws):
        for index in range(5):
            ws.send(f"m{index}")

    with running(send_then_close) as (_, uri), connect(uri) as ws:
        assert ws.wait_closed(TIMEOUT)
        assert [ws.recv(TIMEOUT) for _ in range(5)] == [f"m{index}" for index in range(5)]
        with pytest.raises(ConnectionClosedOK):
            ws.recv(TIMEOUT)


def test_max_queue_pauses_reading_without_losing_messages():
    # 1 KiB messages: one 64 KiB read brings at most ~64 of them, so a reader that pauses
    # holds far fewer than were sent.
    count = 1000
    payload = "x" * 1024

    def flood(ws):
        for index in range(count):
            ws.send(f"{index:04d}{payload}")
        ws.recv()

    with running(flood) as (_, uri), connect(uri, max_queue=4) as ws:
        deadline = time.monotonic() + TIMEOUT
        while not ws.recv_messages.paused:
            assert time.monotonic() < deadline, "reading never paused"
            time.sleep(0.005)
        time.sleep(0.1)
        queued = len(ws.recv_messages.queue)
        time.sleep(0.2)
        # The reading thread stopped: the queue doesn't grow while nobody receives.
        assert len(ws.recv_messages.queue) == queued < count // 4
        received = [ws.recv(TIMEOUT) for _ in range(count)]
        assert received == [f"{index:04d}{payload}" for index in range(count)]
        assert not ws.recv_messages.paused
        ws.send("done")


# Closing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "exc_type"),
    [
        (1000, "", ConnectionClosedOK),
        (1001, "bye", ConnectionClosedOK),
        (4000, "custom", ConnectionClosedError),
    ],
)
def test_close_by_client(code, reason, exc_type):
    seen = []

    def record(ws):
        try:
            ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)

    with running(record) as (_, uri):
        ws = connect(uri, legacy=True)
        ws.close(code, reason)
        assert ws.close_code == code and ws.close_reason == reason
        ws.close()  # idempotent
    assert len(seen) == 1 and isinstance(seen[0], exc_type)
    assert seen[0].rcvd.code == code and seen[0].rcvd.reason == reason


def test_close_by_server():
    with running(lambda ws: ws.close(1001, "going")) as (_, uri), connect(uri) as ws:
        with pytest.raises(ConnectionClosedOK) as raised:
            ws.recv(TIMEOUT)
        assert raised.value.rcvd.code == 1001
        assert ws.close_code == 1001 and ws.close_reason == "going"


def test_handler_exception_closes_with_1011(caplog):
    def broken(ws):
        raise RuntimeError("boom")

    with running(broken) as (_, uri), connect(uri) as ws:
        with pytest.raises(ConnectionClosedError) as raised:
            ws.recv(TIMEOUT)
        assert raised.value.rcvd.code == 1011
    assert any("connection handler failed" in r.getMessage() for r in caplog.records)
    caplog.clear()


def test_exit_with_exception_closes_with_1011():
    codes = []

    def record(ws):
        with contextlib.suppress(ConnectionClosed):
            ws.recv()
        codes.append(ws.close_code)

    with running(record) as (_, uri):
        with pytest.raises(ZeroDivisionError), connect(uri) as ws:
            1 / 0  # noqa: B018
        assert ws.state is State.CLOSED
    assert codes == [1011]


def test_wait_closed():
    with running(lambda ws: ws.recv()) as (_, uri), connect(uri) as ws:
        assert ws.wait_closed(0.1) is False
        ws.send("end")
        assert ws.wait_closed(TIMEOUT) is True


def test_abrupt_disconnect_gives_1006():
    def abort(ws):
        ws.socket.shutdown(socket.SHUT_RDWR)

    with running(abort) as (_, uri), connect(uri) as ws:
        with pytest.raises(ConnectionClosedError) as raised:
            ws.recv(TIMEOUT)
        assert raised.value.rcvd is None
        assert ws.close_code == 1006


# Ping and pong ---------------------------------------------------------------------------


def test_ping_returns_an_event_and_measures_latency():
    with running(echo) as (_, uri), connect(uri) as ws:
        assert ws.latency == 0
        assert ws.ping().wait(TIMEOUT)
        assert ws.ping(b"custom").wait(TIMEOUT)
        assert ws.ping("text").wait(TIMEOUT)
        assert 0 < ws.latency < TIMEOUT


def test_ping_with_pending_duplicate_payload():
    with running(lambda ws: ws.recv()) as (_, uri), connect(uri) as ws:
        ws.protocol_mutex.acquire()  # hold the pong back: keep the first ping pending
        try:
            ws.pending_pings[b"same"] = (threading.Event(), time.monotonic(), False)
        finally:
            ws.protocol_mutex.release()
        with pytest.raises(ConcurrencyError):
            ws.ping(b"same")
        ws.send("end")


def test_ping_ack_on_close():
    with running(lambda ws: ws.close()) as (_, uri), connect(uri) as ws:
        ws.wait_closed(TIMEOUT)
    # After close, a pending ping with ack_on_close is set; a plain one isn't.
    with running(lambda ws: ws.recv()) as (_, uri), connect(uri) as ws:
        with ws.protocol_mutex:
            ws.pending_pings[b"ack"] = (acked := threading.Event(), time.monotonic(), True)
            ws.pending_pings[b"noack"] = (plain := threading.Event(), time.monotonic(), False)
        ws.send("end")
        assert ws.wait_closed(TIMEOUT)
        assert acked.is_set() and not plain.is_set()


def test_pong_is_unsolicited_and_harmless():
    with running(echo) as (_, uri), connect(uri) as ws:
        ws.pong(b"keepalive")
        ws.pong("text")
        ws.send("still")
        assert ws.recv(TIMEOUT) == "still"
        with pytest.raises(TypeError):
            ws.pong(42)


# Attributes ------------------------------------------------------------------------------


def test_connection_attributes():
    server_side = {}
    inspected = threading.Event()

    def inspect_handler(ws):
        server_side.update(
            request_path=ws.request.path,
            response_status=ws.response.status_code,
            remote=ws.remote_address,
            local=ws.local_address,
        )
        inspected.set()
        ws.recv()

    with running(inspect_handler, subprotocols=["chat"]) as (server, uri):
        with connect(uri + "/path?x=1", subprotocols=["chat"]) as ws:
            assert isinstance(ws.id, uuid.UUID)
            assert ws.state is State.OPEN
            assert ws.subprotocol == "chat"
            assert ws.request.path == "/path?x=1"
            assert ws.response.status_code == 101
            client_address = ws.local_address
            assert client_address[0] == "127.0.0.1"
            assert ws.remote_address[1] == int(uri.rsplit(":", 1)[1])
            assert ws.close_code is None and ws.close_reason is None
            deadline = time.monotonic() + TIMEOUT
            while not server.connections:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            (server_connection,) = server.connections
            assert isinstance(server_connection, ServerConnection)
            # The handler may start after the connection is registered: let it look first.
            assert inspected.wait(TIMEOUT)
            ws.send("end")
        assert server_side["request_path"] == "/path?x=1"
        assert server_side["response_status"] == 101
        assert server_side["remote"] == client_address
        assert isinstance(ws, ClientConnection)


def test_logger_adapter_carries_the_connection(caplog):
    logger = logging.getLogger("test.sync.logger")
    with running(echo) as (_, uri), connect(uri, logger=logger) as ws:
        assert ws.logger.extra["websocket"] is ws


# Handshake -------------------------------------------------------------------------------


def test_process_request_rejects():
    def reject_path(connection, request):
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Nope.\n")
        return None

    with running(echo, process_request=reject_path) as (_, uri):
        with pytest.raises(InvalidStatus) as raised:
            connect(uri + "/forbidden", legacy=True)
        assert raised.value.response.status_code == 403
        assert raised.value.response.body == b"Nope.\n"
        with connect(uri + "/allowed") as ws:
            ws.send("ok")
            assert ws.recv(TIMEOUT) == "ok"


def test_process_request_exception_answers_500(caplog):
    def broken(connection, request):
        raise RuntimeError("bug in process_request")

    with running(echo, process_request=broken) as (_, uri):
        with pytest.raises(InvalidStatus) as raised:
            connect(uri, legacy=True)
        assert raised.value.response.status_code == 500
    assert any("process_request failed" in r.getMessage() for r in caplog.records)
    caplog.clear()


def test_process_response_modifies_headers_and_server_header():
    def add_header(connection, request, response):
        response.headers["X-Extra"] = "yes"

    with running(echo, process_response=add_header, server_header="Custom/1") as (_, uri):
        with connect(uri) as ws:
            assert ws.response.headers["X-Extra"] == "yes"
            assert ws.response.headers["Server"] == "Custom/1"


def test_select_subprotocol_receives_the_connection():
    seen = []

    def select(connection, subprotocols):
        seen.append(isinstance(connection, ServerConnection))
        return subprotocols[-1]

    with running(echo, select_subprotocol=select, subprotocols=["a", "b"]) as (_, uri):
        with connect(uri, subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"
    assert seen == [True]


def test_basic_auth():
    with running(echo, process_request=basic_auth(realm="r", credentials=("u", "p"))) as (
        _,
        uri,
    ):
        with pytest.raises(InvalidStatus) as raised:
            connect(uri, legacy=True)
        assert raised.value.response.status_code == 401
        assert raised.value.response.headers["WWW-Authenticate"] == 'Basic realm="r", charset="UTF-8"'
        with pytest.raises(InvalidStatus):
            connect(uri.replace("ws://", "ws://u:wrong@"), legacy=True)
        with connect(uri.replace("ws://", "ws://u:p@")) as ws:
            ws.send("in")
            assert ws.recv(TIMEOUT) == "in"


def test_basic_auth_check_credentials_sets_username():
    names = []

    def handler(ws):
        names.append(ws.username)

    auth = basic_auth(check_credentials=lambda user, password: password == user[::-1])
    with running(handler, process_request=auth) as (_, uri):
        with connect(uri.replace("ws://", "ws://abc:cba@")) as ws:
            ws.wait_closed(TIMEOUT)
    assert names == ["abc"]
    with pytest.raises(ValueError):
        basic_auth()
    with pytest.raises(TypeError):
        basic_auth(credentials=[("u",)])


def test_invalid_uri_and_refused_connection():
    with pytest.raises(InvalidURI):
        connect("http://127.0.0.1/", legacy=True)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(OSError):
        connect(f"ws://127.0.0.1:{port}", legacy=True, open_timeout=TIMEOUT)


def test_max_size_closes_with_1009():
    with running(echo, max_size=1000) as (_, uri), connect(uri) as ws:
        ws.send("x" * 1001)
        with pytest.raises(ConnectionClosedError) as raised:
            ws.recv(TIMEOUT)
        assert raised.value.rcvd.code == 1009


def test_connect_without_context_manager_warns_once():
    with running(echo) as (_, uri):
        ws = connect(uri)
        with pytest.warns(DeprecationWarning, match="context manager"):
            ws.send("a")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert ws.recv(TIMEOUT) == "a"
            ws.close()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            legacy = connect(uri, legacy=True)
            legacy.send("b")
            assert legacy.recv(TIMEOUT) == "b"
            legacy.close()


def test_reconnect_retries_transient_failures():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    attempts = []

    def delays():
        while True:
            attempts.append(time.monotonic())
            yield 0.05

    server_holder = {}

    def start_server_later():
        time.sleep(0.3)
        server = serve(echo, "127.0.0.1", port)
        server_holder["server"] = server
        server.serve_forever()

    starter = threading.Thread(target=start_server_later, daemon=True)
    starter.start()
    try:
        connecter = connect(f"ws://127.0.0.1:{port}", legacy=False, open_timeout=TIMEOUT)
        assert isinstance(connecter, reconnect)
        connecter.reconnect_delays = delays
        for ws in connecter:
            ws.send("back")
            assert ws.recv(TIMEOUT) == "back"
            break
        assert attempts, "connection succeeded at once: the test didn't test retries"
    finally:
        deadline = time.monotonic() + TIMEOUT
        while "server" not in server_holder and time.monotonic() < deadline:
            time.sleep(0.01)
        server_holder["server"].shutdown()
        starter.join(TIMEOUT)


def test_reconnect_raises_fatal_errors():
    with running(echo, process_request=lambda c, r: c.respond(403, "no\n")) as (_, uri):
        with pytest.raises(InvalidStatus):
            for _ws in reconnect(uri):
                pytest.fail("connected")


# Server ----------------------------------------------------------------------------------


def test_shutdown_closes_connections_with_1001():
    with running(echo) as (server, uri):
        with connect(uri) as ws:
            ws.send("hi")
            assert ws.recv(TIMEOUT) == "hi"
            closer = threading.Thread(target=server.shutdown)
            closer.start()
            with pytest.raises(ConnectionClosedOK) as raised:
                ws.recv(TIMEOUT)
            closer.join(TIMEOUT)
            assert raised.value.rcvd.code == 1001
        with pytest.raises(OSError):
            connect(uri, legacy=True, open_timeout=2)


def test_shutdown_without_closing_connections_waits_for_handlers():
    with running(echo) as (server, uri):
        ws = connect(uri, legacy=True)
        closer = threading.Thread(target=server.shutdown, kwargs={"close_connections": False})
        closer.start()
        time.sleep(0.2)
        assert closer.is_alive(), "shutdown() returned while a handler was running"
        ws.send("still served")
        assert ws.recv(TIMEOUT) == "still served"
        ws.close()
        closer.join(TIMEOUT)
        assert not closer.is_alive()


def test_server_rejects_plain_http_with_426():
    with running(echo) as (_, uri):
        host, port = uri[len("ws://") :].split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = b""
            while chunk := sock.recv(4096):
                response += chunk
        assert response.startswith(b"HTTP/1.1 426 ")


def test_server_open_timeout_drops_silent_clients():
    with running(echo, open_timeout=0.3) as (_, uri):
        host, port = uri[len("ws://") :].split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            started = time.monotonic()
            assert sock.recv(1) == b""  # the server closes the connection
            assert time.monotonic() - started < 5


def test_broadcast():
    connections = []
    ready = threading.Barrier(3, timeout=TIMEOUT)

    def register(ws):
        connections.append(ws)
        ready.wait()
        with contextlib.suppress(ConnectionClosed):
            ws.recv()

    with running(register) as (_, uri):
        clients = [connect(uri, legacy=True) for _ in range(2)]
        ready.wait()
        broadcast(connections, "to all")
        broadcast(connections, b"bytes to all")
        for client in clients:
            assert client.recv(TIMEOUT) == "to all"
            assert client.recv(TIMEOUT) == b"bytes to all"
        clients[0].close()
        connections[0].wait_closed(TIMEOUT)
        broadcast(connections, "skips closed", raise_exceptions=True)
        assert clients[1].recv(TIMEOUT) == "skips closed"
        with pytest.raises(TypeError):
            broadcast(connections, 42)
        for client in clients:
            client.close()


# Compatibility with websockets.sync ---------------------------------------------------------


LIBRARY_DEFAULTS = {"user_agent_header", "server_header"}


def _comparable(parameter):
    default = parameter.default
    if parameter.name in LIBRARY_DEFAULTS:
        default = "<library>"
    elif default is not inspect.Parameter.empty and not isinstance(
        default, (type(None), bool, int, float, str, tuple)
    ):
        default = "<object>"
    return (parameter.name, parameter.kind, default)


@needs_websockets
@pytest.mark.parametrize(
    "path",
    [
        "client.connect",
        "client.unix_connect",
        "client.reconnect.__init__",
        "client.ClientConnection.__init__",
        "client.ClientConnection.handshake",
        "server.serve",
        "server.unix_serve",
        "server.basic_auth",
        "server.Server.__init__",
        "server.Server.shutdown",
        "server.ServerConnection.__init__",
        "server.ServerConnection.respond",
        "server.ServerConnection.handshake",
        "connection.broadcast",
        "connection.Connection.__init__",
        "connection.Connection.recv",
        "connection.Connection.recv_streaming",
        "connection.Connection.send",
        "connection.Connection.close",
        "connection.Connection.wait_closed",
        "connection.Connection.ping",
        "connection.Connection.pong",
    ],
)
def test_signatures_match_websockets(path):
    ours = {"client": wsfast_client, "server": wsfast_server, "connection": wsfast_connection}
    theirs = {"client": ws_client, "server": ws_server, "connection": ws_connection}
    module, *attributes = path.split(".")
    wsfast_obj, websockets_obj = ours[module], theirs[module]
    for attribute in attributes:
        wsfast_obj = getattr(wsfast_obj, attribute)
        websockets_obj = getattr(websockets_obj, attribute)
    expected = [_comparable(p) for p in inspect.signature(websockets_obj).parameters.values()]
    actual = [_comparable(p) for p in inspect.signature(wsfast_obj).parameters.values()]
    assert actual == expected


@needs_websockets
def test_public_names_match_websockets():
    for ours, theirs in [
        (wsfast_client, ws_client),
        (wsfast_server, ws_server),
    ]:
        missing = set(theirs.__all__) - set(ours.__all__)
        assert not missing, (ours.__name__, missing)
