"""wsfast.sync over TLS (certificates from trustme) and over Unix sockets.

TLS: wss:// with ``ssl=`` contexts on both sides, wsfast.sync against itself and against
websockets.sync in both directions; the closing handshake from either side must end with the
right close codes on both ends. ``ssl.SSLSocket`` can't half-close (its ``shutdown()`` drops
the TLS layer, after which nothing more can be read through it), so wsfast defers the end of
the stream on TLS until the peer's close frame has arrived: a server-initiated close must
give 1000 on both sides, not 1006.

Unix: unix_serve/unix_connect with a path (str or Path) or a socket, in a temporary
directory. Every test runs on both codecs and is bounded in time (sync_support.run).
"""

from __future__ import annotations

import contextlib
import http
import os
import pathlib
import socket
import ssl
import tempfile
import threading
import time

import pytest
import trustme
from sync_support import Background, SplittingRelay, run, serving_sync
from websockets_support import (
    HAVE_WEBSOCKETS,
    lib_param,
    needs_websockets,
    websockets_module,
    websockets_sync_tls_connect,
)

from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
)
from wsfast.sync import client as wsfast_client
from wsfast.sync import server as wsfast_server

ws_exceptions = websockets_module("websockets.exceptions")
ws_client = websockets_module("websockets.sync.client")
ws_server = websockets_module("websockets.sync.server")

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

WAIT = 10  # generous: CI machines can be slow, and a hang still fails

CLOSED = (ConnectionClosed,)
CLOSED_OK = (ConnectionClosedOK,)
CLOSED_ERROR = (ConnectionClosedError,)

SERVE = {"wsfast": wsfast_server.serve}
CONNECT = {"wsfast": wsfast_client.connect}
UNIX_SERVE = {"wsfast": wsfast_server.unix_serve}
UNIX_CONNECT = {"wsfast": wsfast_client.unix_connect}

if HAVE_WEBSOCKETS:  # Python 3.11+ (websockets_support)
    CLOSED += (ws_exceptions.ConnectionClosed,)
    CLOSED_OK += (ws_exceptions.ConnectionClosedOK,)
    CLOSED_ERROR += (ws_exceptions.ConnectionClosedError,)
    SERVE["websockets"] = ws_server.serve
    CONNECT["websockets"] = websockets_sync_tls_connect
    UNIX_SERVE["websockets"] = ws_server.unix_serve
    UNIX_CONNECT["websockets"] = ws_client.unix_connect

SIDES = pytest.mark.parametrize(
    ("server_lib", "client_lib"),
    [
        lib_param("wsfast", "wsfast", id="wsfast-wsfast"),
        lib_param("wsfast", "websockets", id="wsfast-server-websockets-client"),
        lib_param("websockets", "wsfast", id="websockets-server-wsfast-client"),
    ],
)

MESSAGES = ["hello ☃", b"\x00\xff", "", b"", "compressible " * 20000, os.urandom(300_000)]


def echo(ws):
    with contextlib.suppress(*CLOSED):
        while True:
            ws.send(ws.recv(timeout=WAIT * 2))


def wait_closed(ws):
    with contextlib.suppress(*CLOSED, TimeoutError):
        ws.recv(timeout=WAIT * 2)


def wait_for_close(ws):
    """Ignore messages until the connection closes (bounded in time)."""
    with contextlib.suppress(*CLOSED, TimeoutError):
        deadline = time.monotonic() + WAIT * 2
        while time.monotonic() < deadline:
            ws.recv(timeout=max(deadline - time.monotonic(), 0.01))


# TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(certificate_authority):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(certificate_authority):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    certificate_authority.configure_trust(context)
    return context


@contextlib.contextmanager
def tls_serving(lib, handler, server_context, **kwargs):
    """A ``lib`` server with TLS on 127.0.0.1; yields (server, port)."""
    with serving_sync(SERVE[lib], handler, "127.0.0.1", 0, ssl=server_context, **kwargs) as server:
        yield server, server.socket.getsockname()[1]


@SIDES
def test_tls_echo_and_close(server_lib, client_lib, server_context, client_context):
    closes = []

    def handler(ws):
        assert ws.request.headers["Host"].split(":")[0] in ("127.0.0.1", "localhost")
        echo(ws)
        closes.append((ws.close_code, ws.close_reason))

    def main():
        with tls_serving(server_lib, handler, server_context) as (_, port):
            for host in ("127.0.0.1", "localhost"):
                with CONNECT[client_lib](f"wss://{host}:{port}/", ssl=client_context) as ws:
                    assert isinstance(ws.socket, ssl.SSLSocket)
                    extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
                    assert extensions.startswith("permessage-deflate")
                    for message in MESSAGES:
                        ws.send(message)
                        assert ws.recv(timeout=WAIT) == message
                    ws.send(["frag", "mented"])
                    assert ws.recv(timeout=WAIT) == "fragmented"
                    assert ws.ping().wait(WAIT)
                    assert ws.latency > 0
                    ws.close(1000, "tls bye")
                    assert (ws.close_code, ws.close_reason) == (1000, "tls bye")
                    assert ws.state.name == "CLOSED"
        assert closes == [(1000, "tls bye"), (1000, "tls bye")]

    run(main, timeout=20)


@SIDES
def test_tls_large_message(server_lib, client_lib, server_context, client_context):
    payload = os.urandom(2**20 + 1)  # many TLS records

    def main():
        with (
            tls_serving(server_lib, echo, server_context, max_size=2**22) as (_, port),
            CONNECT[client_lib](
                f"wss://localhost:{port}/", ssl=client_context, max_size=2**22
            ) as ws,
        ):
            ws.send(payload)
            assert ws.recv(timeout=WAIT) == payload
            ws.send([payload[: 2**19], payload[2**19 :]])
            assert ws.recv(timeout=WAIT) == payload

    run(main, timeout=30)


@SIDES
@pytest.mark.parametrize(("code", "reason", "ok"), [(1000, "server bye", True), (4000, "", False)])
def test_tls_server_initiated_close(
    server_lib, client_lib, server_context, client_context, code, reason, ok
):
    """Over TLS, a server-initiated close gives the close code on both sides, not 1006."""
    payload = os.urandom(100_000)  # several TLS records
    result = {}

    def handler(ws):
        ws.send(payload)
        start = time.monotonic()
        ws.close(code, reason)
        result["elapsed"] = time.monotonic() - start
        result["close"] = (ws.close_code, ws.close_reason, ws.state.name)
        result["ws"] = ws
        with pytest.raises(CLOSED) as excinfo:
            ws.recv(timeout=WAIT)
        result["exc"] = excinfo.value

    def main():
        with (
            tls_serving(server_lib, handler, server_context, close_timeout=WAIT) as (_, port),
            CONNECT[client_lib](f"wss://localhost:{port}/", ssl=client_context) as ws,
        ):
            assert ws.recv(timeout=WAIT) == payload
            with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            exc = excinfo.value
            assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)
            assert (exc.sent.code, exc.sent.reason) == (code, reason)
            assert exc.rcvd_then_sent is True
            assert ws.wait_closed(WAIT)
            assert (ws.close_code, ws.close_reason) == (code, reason)
        assert result["close"] == (code, reason, "CLOSED")
        exc = result["exc"]
        assert isinstance(exc, CLOSED_OK if ok else CLOSED_ERROR)
        assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)
        assert exc.rcvd_then_sent is False
        assert result["elapsed"] < 2  # not close_timeout

    run(main, timeout=20)


@SIDES
@pytest.mark.parametrize(("code", "reason", "ok"), [(1000, "client bye", True), (4001, "", False)])
def test_tls_client_initiated_close(
    server_lib, client_lib, server_context, client_context, code, reason, ok
):
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.send("ready")
            ws.recv(timeout=WAIT)
        except CLOSED as exc:
            result["exc"] = exc
            result["close"] = (ws.close_code, ws.close_reason)
        finally:
            done.set()

    def main():
        with tls_serving(server_lib, handler, server_context, close_timeout=WAIT) as (_, port):
            with CONNECT[client_lib](
                f"wss://localhost:{port}/", ssl=client_context, close_timeout=WAIT
            ) as ws:
                assert ws.recv(timeout=WAIT) == "ready"
                start = time.monotonic()
                ws.close(code, reason)
                assert time.monotonic() - start < 2  # not close_timeout
                assert ws.state.name == "CLOSED"
                assert (ws.close_code, ws.close_reason) == (code, reason)
                with pytest.raises(CLOSED_OK if ok else CLOSED_ERROR) as excinfo:
                    ws.recv(timeout=WAIT)
                assert excinfo.value.rcvd_then_sent is False
            assert done.wait(WAIT)
        exc = result["exc"]
        assert isinstance(exc, CLOSED_OK if ok else CLOSED_ERROR)
        assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)
        assert (exc.sent.code, exc.sent.reason) == (code, reason)
        assert result["close"] == (code, reason)

    run(main, timeout=20)


@SIDES
def test_tls_server_shutdown(server_lib, client_lib, server_context, client_context):
    def main():
        with (
            tls_serving(server_lib, wait_for_close, server_context) as (server, port),
            CONNECT[client_lib](f"wss://localhost:{port}/", ssl=client_context) as ws,
        ):
            ws.send("hi")
            shutdown = Background(server.shutdown)
            with pytest.raises(CLOSED_OK) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1001
            assert ws.close_code == 1001
            shutdown.result(WAIT)

    run(main, timeout=20)


@SIDES
def test_tls_max_size(server_lib, client_lib, server_context, client_context):
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv(timeout=WAIT)
        except CLOSED as exc:
            result["exc"] = exc
        finally:
            done.set()

    def main():
        with (
            tls_serving(server_lib, handler, server_context, max_size=1000) as (_, port),
            CONNECT[client_lib](f"wss://localhost:{port}/", ssl=client_context) as ws,
        ):
            ws.send(os.urandom(1001))
            with pytest.raises(CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1009
            assert done.wait(WAIT)
        assert isinstance(result["exc"], CLOSED_ERROR)
        assert result["exc"].sent.code == 1009

    run(main, timeout=20)


def test_tls_server_hostname(server_context, client_context):
    def main():
        with tls_serving("wsfast", echo, server_context) as (_, port):
            # Connect by address, verify the certificate against another name.
            with wsfast_client.connect(
                f"wss://127.0.0.1:{port}/", ssl=client_context, server_hostname="localhost"
            ) as ws:
                assert ws.socket.server_hostname == "localhost"
                ws.send("hi")
                assert ws.recv(timeout=WAIT) == "hi"
            with (
                pytest.raises(ssl.SSLCertVerificationError),
                wsfast_client.connect(
                    f"wss://127.0.0.1:{port}/",
                    ssl=client_context,
                    server_hostname="example.com",
                ),
            ):
                pass

    run(main)


def test_tls_untrusted_certificate(server_context, client_context):
    def main():
        with tls_serving("wsfast", echo, server_context) as (_, port):
            uri = f"wss://localhost:{port}/"
            # The default context doesn't trust the test CA.
            with (
                pytest.raises(ssl.SSLCertVerificationError),
                wsfast_client.connect(uri, open_timeout=WAIT),
            ):
                pass
            other_ca = trustme.CA()
            context = ssl.create_default_context()
            other_ca.configure_trust(context)
            with (
                pytest.raises(ssl.SSLCertVerificationError),
                wsfast_client.connect(uri, ssl=context, open_timeout=WAIT),
            ):
                pass
            # The server is still up.
            with wsfast_client.connect(uri, ssl=client_context) as ws:
                ws.send("still up")
                assert ws.recv(timeout=WAIT) == "still up"

    run(main)


def test_tls_ssl_with_ws_uri_is_refused(client_context):
    with pytest.raises(ValueError, match="ssl argument is incompatible with a ws:// URI"):
        wsfast_client.connect("ws://localhost:1/", ssl=client_context)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
def test_tls_plain_client_to_tls_server(server_lib, server_context, client_context):
    def main():
        with tls_serving(server_lib, echo, server_context, open_timeout=2) as (_, port):
            start = time.monotonic()
            # The TLS server drops the plain-text request without an HTTP response; the
            # exception's type is checked by test_tls_plain_client_error_matches_websockets.
            with (
                pytest.raises((InvalidMessage, OSError)),
                wsfast_client.connect(f"ws://localhost:{port}/", open_timeout=WAIT),
            ):
                pass
            assert time.monotonic() - start < 3
            # The server is still up.
            with wsfast_client.connect(f"wss://localhost:{port}/", ssl=client_context) as ws:
                ws.send("still up")
                assert ws.recv(timeout=WAIT) == "still up"

    run(main)


@pytest.mark.parametrize(
    "client_lib",
    [
        "wsfast",
        lib_param("websockets"),
    ],
)
def test_tls_plain_client_error_matches_websockets(client_lib, server_context):
    """The TLS server resets the connection after the plain-text request: websockets.sync
    feeds the end of the stream to the protocol and raises InvalidMessage."""

    def main():
        with tls_serving("wsfast", echo, server_context, open_timeout=2) as (_, port):
            with (
                pytest.raises(Exception) as excinfo,
                CONNECT[client_lib](f"ws://localhost:{port}/", open_timeout=WAIT),
            ):
                pass
            assert type(excinfo.value).__name__ == "InvalidMessage", repr(excinfo.value)
            assert isinstance(excinfo.value.__cause__, EOFError)

    run(main)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
@pytest.mark.parametrize("client_lib", ["wsfast", lib_param("websockets")])
def test_tls_client_close_with_split_records(
    server_lib, client_lib, server_context, client_context
):
    """The client closes; the server's close frame reaches it in two TCP segments.

    A relay splits each chunk the server sends, 50 ms apart. websockets gets 1000; wsfast's
    reading thread, whose socket got a timeout from the closing thread mid-read, fails with
    a timeout and the connection ends with 1006.
    """

    def handler(ws):
        ws.send("ready")
        wait_for_close(ws)

    def main():
        with (
            tls_serving(server_lib, handler, server_context) as (_, port),
            SplittingRelay(port, split="server") as relay,
            CONNECT[client_lib](
                f"wss://localhost:{relay.port}/", ssl=client_context, close_timeout=WAIT
            ) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "ready"
            ws.close(1000, "client bye")
            assert (ws.close_code, ws.close_reason) == (1000, "client bye"), repr(
                ws.connection_exc
            )

    run(main)


@needs_websockets  # its client is websockets'
@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
def test_tls_server_close_with_split_records(server_lib, server_context, client_context):
    """The server closes; the client's close frame reaches it in two TCP segments."""
    result = {}

    def handler(ws):
        ws.send("ready")
        ws.recv(timeout=WAIT)
        ws.close(1000, "server bye")
        result["close"] = (ws.close_code, ws.close_reason, repr(ws.connection_exc))

    def main():
        with (
            tls_serving(server_lib, handler, server_context, close_timeout=WAIT) as (_, port),
            SplittingRelay(port, split="client") as relay,
            websockets_sync_tls_connect(f"wss://localhost:{relay.port}/", ssl=client_context) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "ready"
            ws.send("close")
            with pytest.raises(ws_exceptions.ConnectionClosedOK):
                ws.recv(timeout=WAIT)
        assert result["close"][:2] == (1000, "server bye"), result["close"]

    run(main)


def test_tls_client_to_plain_server(client_context):
    def main():
        with serving_sync(wsfast_server.serve, echo, "127.0.0.1", 0) as server:
            port = server.socket.getsockname()[1]
            with pytest.raises(ssl.SSLError), wsfast_client.connect(
                f"wss://localhost:{port}/", ssl=client_context, open_timeout=WAIT
            ):
                pass
            with wsfast_client.connect(f"ws://localhost:{port}/") as ws:
                ws.send("still up")
                assert ws.recv(timeout=WAIT) == "still up"

    run(main)


def test_tls_silent_client_hits_open_timeout(server_context, client_context):
    """A client that connects but never starts TLS is dropped after open_timeout."""

    def main():
        with tls_serving("wsfast", echo, server_context, open_timeout=0.3) as (_, port):
            sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
            try:
                start = time.monotonic()
                assert sock.recv(1024) == b""  # closed by the server
                assert 0.2 <= time.monotonic() - start < 3
            finally:
                sock.close()
            with wsfast_client.connect(f"wss://localhost:{port}/", ssl=client_context) as ws:
                ws.send("still up")
                assert ws.recv(timeout=WAIT) == "still up"

    run(main)


@pytest.mark.parametrize("client_lib", ["wsfast", lib_param("websockets")])
def test_tls_client_open_timeout_in_tls_handshake(client_lib, client_context):
    """A server that accepts TCP but never answers the TLS handshake: open_timeout."""

    def main():
        listener = socket.create_server(("127.0.0.1", 0))
        try:
            port = listener.getsockname()[1]
            start = time.monotonic()
            with pytest.raises(TimeoutError), CONNECT[client_lib](
                f"wss://localhost:{port}/", ssl=client_context, open_timeout=0.3
            ):
                pass
            assert 0.25 <= time.monotonic() - start < 3
        finally:
            listener.close()

    run(main)


# Unix sockets ----------------------------------------------------------------------------


@pytest.fixture
def socket_path(tmp_path):
    path = tmp_path / "ws.sock"
    if len(os.fsencode(path)) > 100:  # sun_path is ~108 bytes
        path = pathlib.Path(tempfile.mkdtemp(prefix="wsfast-")) / "ws.sock"
    yield path
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def unix_serving(lib, handler, path, **kwargs):
    with serving_sync(UNIX_SERVE[lib], handler, path, **kwargs) as server:
        yield server


@SIDES
@pytest.mark.parametrize("path_type", [str, pathlib.Path], ids=["str", "Path"])
def test_unix_echo(server_lib, client_lib, path_type, socket_path):
    result = {}

    def handler(ws):
        result["host"] = ws.request.headers["Host"]
        result["local"] = ws.local_address
        with pytest.raises(CLOSED_ERROR):
            while True:
                ws.send(ws.recv(timeout=WAIT))
        result["close"] = (ws.close_code, ws.close_reason)

    def main():
        with unix_serving(server_lib, handler, path_type(socket_path)) as server:
            assert server.socket.family == socket.AF_UNIX
            with UNIX_CONNECT[client_lib](path_type(socket_path)) as ws:
                assert ws.request.headers["Host"] == "localhost"
                assert ws.remote_address == str(socket_path)
                for message in MESSAGES:
                    ws.send(message)
                    assert ws.recv(timeout=WAIT) == message
                ws.send([b"frag", b"mented"])
                assert ws.recv(timeout=WAIT) == b"fragmented"
                assert ws.ping().wait(WAIT)
                ws.close(4000, "unix bye")
        assert result["host"] == "localhost"
        assert result["local"] == str(socket_path)
        assert result["close"] == (4000, "unix bye")

    run(main)


def test_unix_connect_with_uri(socket_path):
    def handler(ws):
        ws.send(ws.request.path)
        wait_closed(ws)

    def main():
        with (
            unix_serving("wsfast", handler, str(socket_path)),
            wsfast_client.unix_connect(
                str(socket_path), uri="ws://example.com/some/path?q=1"
            ) as ws,
        ):
            assert ws.request.headers["Host"] == "example.com"
            assert ws.recv(timeout=WAIT) == "/some/path?q=1"

    run(main)


@pytest.mark.parametrize("client_lib", ["wsfast", lib_param("websockets")])
def test_unix_connect_with_sock(client_lib, socket_path):
    def main():
        with unix_serving("wsfast", echo, str(socket_path)):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(socket_path))
            with UNIX_CONNECT[client_lib](sock=sock) as ws:
                ws.send("through a socket")
                assert ws.recv(timeout=WAIT) == "through a socket"
            assert sock.fileno() == -1  # closed with the connection

    run(main)


@pytest.mark.parametrize("server_lib", ["wsfast", lib_param("websockets")])
def test_unix_serve_with_sock(server_lib, socket_path):
    def main():
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(socket_path))
        listener.listen()
        with (
            serving_sync(UNIX_SERVE[server_lib], echo, sock=listener),
            wsfast_client.unix_connect(str(socket_path)) as ws,
        ):
            ws.send("served on a socket")
            assert ws.recv(timeout=WAIT) == "served on a socket"

    run(main)


def test_unix_path_and_sock_are_exclusive(socket_path):
    with pytest.raises(ValueError, match="missing path argument"):
        wsfast_client.unix_connect()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with pytest.raises(ValueError, match="^path is incompatible with sock$"):
            wsfast_client.unix_connect(str(socket_path), sock=sock)
    finally:
        sock.close()
    with pytest.raises(ValueError, match="missing path argument"):
        wsfast_server.unix_serve(echo)


@SIDES
def test_unix_server_shutdown(server_lib, client_lib, socket_path):
    def main():
        with (
            unix_serving(server_lib, wait_for_close, str(socket_path)) as server,
            UNIX_CONNECT[client_lib](str(socket_path)) as ws,
        ):
            ws.send("hi")
            shutdown = Background(server.shutdown)
            with pytest.raises(CLOSED_OK) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1001
            assert ws.close_code == 1001
            shutdown.result(WAIT)

    run(main)


def test_unix_connect_refused(socket_path):
    with pytest.raises(OSError):
        wsfast_client.unix_connect(str(socket_path), open_timeout=WAIT)


@SIDES
def test_unix_max_size(server_lib, client_lib, socket_path):
    result = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv(timeout=WAIT)
        except CLOSED as exc:
            result["exc"] = exc
        finally:
            done.set()

    def main():
        with (
            unix_serving(server_lib, handler, str(socket_path), max_size=10),
            UNIX_CONNECT[client_lib](str(socket_path)) as ws,
        ):
            ws.send("x" * 10)  # fits: the handler's recv() returns, the handler ends
            with pytest.raises(CLOSED_OK):
                ws.recv(timeout=WAIT)
        result.clear()
        done.clear()
        # Servers leave their socket file behind, like websockets': use another path.
        other_path = socket_path.with_name("other.sock")
        with (
            unix_serving(server_lib, handler, str(other_path), max_size=10),
            UNIX_CONNECT[client_lib](str(other_path)) as ws,
        ):
            ws.send("x" * 11)
            with pytest.raises(CLOSED_ERROR) as excinfo:
                ws.recv(timeout=WAIT)
            assert excinfo.value.rcvd.code == 1009
            assert done.wait(WAIT)
        assert isinstance(result["exc"], CLOSED_ERROR)
        assert result["exc"].sent.code == 1009

    run(main)


@pytest.mark.parametrize("client_lib", ["wsfast", lib_param("websockets")])
def test_unix_redirects(client_lib, socket_path):
    """Same-origin redirects go through the same Unix socket; cross-origin ones can't."""

    def process_request(connection, request):
        if request.path == "/new":
            return None
        response = connection.respond(http.HTTPStatus.FOUND, "Moved\n")
        if request.path == "/old":
            response.headers["Location"] = "/new"
        else:
            response.headers["Location"] = "ws://elsewhere.invalid/"
        return response

    def handler(ws):
        ws.send(ws.request.path)
        wait_closed(ws)

    def main():
        with unix_serving("wsfast", handler, str(socket_path), process_request=process_request):
            with UNIX_CONNECT[client_lib](str(socket_path), uri="ws://localhost/old") as ws:
                assert ws.recv(timeout=WAIT) == "/new"
            with (
                pytest.raises(ValueError, match="cross-origin redirect .* Unix socket"),
                UNIX_CONNECT[client_lib](str(socket_path), uri="ws://localhost/other"),
            ):
                pass

    run(main)


@pytest.mark.parametrize(
    ("server_lib", "client_lib"),
    [lib_param("wsfast", "wsfast"), lib_param("wsfast", "websockets")],
)
def test_unix_with_tls(server_lib, client_lib, socket_path, server_context, client_context):
    def main():
        with (
            unix_serving(server_lib, echo, str(socket_path), ssl=server_context),
            UNIX_CONNECT[client_lib](
                str(socket_path), ssl=client_context, server_hostname="localhost"
            ) as ws,
        ):
            assert ws.request.headers["Host"] == "localhost"
            ws.send("unix and tls")
            assert ws.recv(timeout=WAIT) == "unix and tls"
            ws.close(1000, "bye")
            assert (ws.close_code, ws.close_reason) == (1000, "bye")

    run(main)
