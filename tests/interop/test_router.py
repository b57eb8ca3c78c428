"""wsfast.asyncio.router and wsfast.sync.router: route() and unix_route() with werkzeug URL maps.

Real servers on 127.0.0.1 (and on Unix sockets), real clients: wsfast's and websockets'
clients, asyncio and threading. Servers run in threads of their own (asyncio servers in an
event loop of their own thread), so the same test body drives both layers. Where websockets
is installed, the same requests go to websockets 17's router too and the answers are
compared: wsfast is meant to be a drop-in for ``websockets.asyncio.router`` and
``websockets.sync.router``.

Every test runs on the Cython codec and on the pure-Python twin (conftest.active_codec);
every wait is bounded (sync_support.run, socket timeouts, open/close timeouts).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import inspect
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import pytest
from asyncio_support import run as run_async
from sync_support import LoopThread, run, start_thread, stop_server
from websockets_support import FIRST_TLS_ATTEMPT_TIMEOUT

import wsfast
from wsfast.asyncio import client as wsfast_asyncio_client
from wsfast.asyncio import router as wsfast_asyncio_router
from wsfast.exceptions import InvalidStatus
from wsfast.http11 import Response
from wsfast.sync import client as wsfast_sync_client
from wsfast.sync import router as wsfast_sync_router

try:
    from werkzeug.routing import Map, Rule
except ImportError:  # the test extra installs it; only test_route_without_werkzeug runs
    Map = Rule = None

try:
    import websockets
    from websockets import exceptions as ws_exceptions
    from websockets.asyncio import client as ws_asyncio_client
    from websockets.asyncio import router as ws_asyncio_router
    from websockets.sync import client as ws_sync_client
    from websockets.sync import router as ws_sync_router
except ImportError:  # websockets is in the test extra for Python 3.11+ only
    websockets = None

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

needs_werkzeug = pytest.mark.skipif(Map is None, reason="werkzeug is not installed")
needs_websockets = pytest.mark.skipif(websockets is None, reason="websockets is not installed")

WAIT = 5  # seconds for any single blocking step

MODES = ["asyncio", "sync"]
LIBS = ["wsfast", "websockets"]
CLIENTS = ["wsfast-asyncio", "wsfast-sync", "websockets-asyncio", "websockets-sync"]

INVALID_STATUS = (InvalidStatus,) + ((ws_exceptions.InvalidStatus,) if websockets else ())


def routers(mode, lib):
    if lib == "websockets":
        if websockets is None:
            pytest.skip("websockets is not installed")
        return ws_asyncio_router if mode == "asyncio" else ws_sync_router
    return wsfast_asyncio_router if mode == "asyncio" else wsfast_sync_router


# Handlers and URL maps -------------------------------------------------------------------


def describe(ws, endpoint, kwargs):
    """What a handler reports to the client: its name, the path, its arguments and types."""
    arguments = {name: [type(value).__name__, str(value)] for name, value in kwargs.items()}
    return json.dumps({"endpoint": endpoint, "path": ws.request.path, "kwargs": arguments})


def reporter(mode, endpoint):
    """A handler that sends describe(...) and returns (the server closes the connection)."""
    if mode == "asyncio":

        async def handler(ws, **kwargs):
            await ws.send(describe(ws, endpoint, kwargs))

    else:

        def handler(ws, **kwargs):
            ws.send(describe(ws, endpoint, kwargs))

    return handler


def make_map(mode):
    """A fresh map (route() marks its rules as WebSocket rules: no sharing between servers)."""
    return Map(
        [
            Rule("/", endpoint=reporter(mode, "index")),
            Rule("/rooms/", endpoint=reporter(mode, "rooms")),
            Rule("/rooms/<int:room>", endpoint=reporter(mode, "room")),
            Rule("/channels/<uuid:channel>", endpoint=reporter(mode, "channel")),
            Rule("/names/<name>", endpoint=reporter(mode, "name")),
            Rule("/files/<path:path>", endpoint=reporter(mode, "file")),
            Rule("/old/<int:room>", redirect_to="/rooms/<room>"),
            Rule("/post-only", endpoint=reporter(mode, "post"), methods=["POST"]),
        ]
    )


# Servers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(mode, lib, url_map, *, unix_path=None, **kwargs):
    """``route()`` (or ``unix_route()`` with ``unix_path``) of ``lib`` for ``mode``, running
    in a thread; yields the TCP port (None for a Unix socket). Stopped on exit, in time."""
    module = routers(mode, lib)
    kwargs.setdefault("open_timeout", WAIT)
    kwargs.setdefault("close_timeout", WAIT)
    if unix_path is None:

        def create():
            return module.route(url_map, "127.0.0.1", 0, **kwargs)

    else:

        def create():
            return module.unix_route(url_map, unix_path, **kwargs)

    if mode == "sync":
        server = create()
        thread = start_thread(server.serve_forever)
        try:
            yield None if unix_path is not None else server.socket.getsockname()[1]
        finally:
            assert stop_server(server, thread), "server didn't shut down in time"
        return

    loop_thread = LoopThread()

    async def start():
        return await create()

    try:
        server = loop_thread.call(start(), timeout=WAIT)
        try:
            yield None if unix_path is not None else server.sockets[0].getsockname()[1]
        finally:

            async def stop():
                server.close()
                await asyncio.wait_for(server.wait_closed(), WAIT)

            loop_thread.call(stop(), timeout=WAIT + 2)
    finally:
        loop_thread.close()


@pytest.fixture
def socket_path(tmp_path):
    path = tmp_path / "router.sock"
    if len(os.fsencode(path)) > 100:  # sun_path is ~108 bytes
        path = pathlib.Path(tempfile.mkdtemp(prefix="wsfast-")) / "router.sock"
    yield path
    with contextlib.suppress(OSError):
        path.unlink()


# Clients ---------------------------------------------------------------------------------


def _connect(client, uri, unix_path=None, **kwargs):
    """(layer, a function that returns the client's connect() object)."""
    lib, layer = client.split("-")
    if lib == "websockets" and websockets is None:
        pytest.skip("websockets is not installed")
    module = {
        ("wsfast", "asyncio"): wsfast_asyncio_client,
        ("wsfast", "sync"): wsfast_sync_client,
        ("websockets", "asyncio"): ws_asyncio_client if websockets else None,
        ("websockets", "sync"): ws_sync_client if websockets else None,
    }[lib, layer]
    kwargs.setdefault("open_timeout", WAIT)
    kwargs.setdefault("close_timeout", WAIT)
    if unix_path is None:
        return layer, lambda: module.connect(uri, **kwargs)
    return layer, lambda: module.unix_connect(str(unix_path), uri, **kwargs)


def fetch(client, uri, unix_path=None, **kwargs):
    """Connect with ``client``; return the handler's report (see describe)."""
    layer, connect = _connect(client, uri, unix_path, **kwargs)
    if layer == "sync":
        with connect() as ws:
            return json.loads(ws.recv(timeout=WAIT))

    async def main():
        async with connect() as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), WAIT))

    return run_async(main())


def rejection(client, uri, unix_path=None, **kwargs):
    """Connect with ``client``, expecting the handshake to be refused; return the response."""
    layer, connect = _connect(client, uri, unix_path, **kwargs)
    if layer == "sync":
        with pytest.raises(INVALID_STATUS) as excinfo, connect():
            pass
        return excinfo.value.response

    async def main():
        with pytest.raises(INVALID_STATUS) as excinfo:
            async with connect():
                pass
        return excinfo.value.response

    return run_async(main())


def raw_request(port, path, host="default", headers=(), ssl_context=None, unix_path=None):
    """Send an opening handshake by hand; return (status, {lowercase name: value}, body).

    For refused handshakes: the body is read up to Content-Length.
    """
    lines = [f"GET {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {f'127.0.0.1:{port}' if host == 'default' else host}")
    key = base64.b64encode(os.urandom(16)).decode()
    lines += [
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    deadline = time.monotonic() + WAIT
    with contextlib.ExitStack() as stack:
        if unix_path is None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        else:
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(WAIT)
            sock.connect(str(unix_path))
        stack.enter_context(sock)
        if ssl_context is not None:
            sock = stack.enter_context(ssl_context.wrap_socket(sock, server_hostname="127.0.0.1"))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            assert time.monotonic() < deadline, data
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the response's end: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
        status = int(status_line.split()[1])
        response_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        length = int(response_headers.get("content-length", "0"))
        while len(body) < length:
            assert time.monotonic() < deadline, body
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, response_headers, body


def summary(status, headers, body):
    """What must be the same from wsfast and websockets (not Server, Date)."""
    return {
        "status": status,
        "location": headers.get("location"),
        "content-type": headers.get("content-type"),
        "content-length": headers.get("content-length"),
        "body": body.decode("utf-8", "replace"),
    }


# Dispatch --------------------------------------------------------------------------------

CHANNEL = uuid.UUID("12345678-1234-5678-1234-567812345678")


@needs_werkzeug
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("mode", MODES)
def test_dispatch_with_url_parameters(mode, client):
    def body():
        with serving(mode, "wsfast", make_map(mode)) as port:
            base = f"ws://127.0.0.1:{port}"
            assert fetch(client, f"{base}/") == {"endpoint": "index", "path": "/", "kwargs": {}}
            assert fetch(client, f"{base}/rooms/42") == {
                "endpoint": "room",
                "path": "/rooms/42",
                "kwargs": {"room": ["int", "42"]},
            }
            assert fetch(client, f"{base}/channels/{CHANNEL}?since=3") == {
                "endpoint": "channel",
                "path": f"/channels/{CHANNEL}?since=3",
                "kwargs": {"channel": ["UUID", str(CHANNEL)]},
            }
            assert fetch(client, f"{base}/files/a/b/c.txt") == {
                "endpoint": "file",
                "path": "/files/a/b/c.txt",
                "kwargs": {"path": ["str", "a/b/c.txt"]},
            }

    run(body, timeout=30)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_handler_gets_the_connection_and_can_talk(mode):
    # The handler is the connection's handler for its whole life, with its arguments.
    if mode == "asyncio":

        async def chat(ws, room):
            async for message in ws:
                await ws.send(f"{room}:{message}")

    else:

        def chat(ws, room):
            for message in ws:
                ws.send(f"{room}:{message}")

    def body():
        url_map = Map([Rule("/chat/<int:room>", endpoint=chat)])
        with (
            serving(mode, "wsfast", url_map) as port,
            wsfast_sync_client.connect(
                f"ws://127.0.0.1:{port}/chat/9", open_timeout=WAIT, close_timeout=WAIT
            ) as ws,
        ):
            for text in ["a", "b", "c"]:
                ws.send(text)
                assert ws.recv(timeout=WAIT) == f"9:{text}"

    run(body)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_rules_need_not_say_websocket(mode):
    url_map = Map([Rule("/a", endpoint=reporter(mode, "a"))])
    assert not any(rule.websocket for rule in url_map.iter_rules())
    routers(mode, "wsfast").Router(url_map)
    assert all(rule.websocket for rule in url_map.iter_rules())


# 404, redirects and the rest, compared with websockets ------------------------------------

REFUSED_PATHS = [
    "/nowhere",
    "/rooms/abc",  # the int converter doesn't match
    "/rooms/-1",  # nor a negative number
    "/rooms/3/",  # no trailing slash on this rule
    "/rooms",  # strict_slashes: redirect to /rooms/
    "/rooms?sort=asc&page=2",  # ... keeping the query string
    "/old/7",  # redirect_to
    "/old/7?x=1",
    "/channels/not-a-uuid",
    "/%2e%2e/rooms/",
]


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_not_found(mode):
    def body():
        with serving(mode, "wsfast", make_map(mode)) as port:
            status, headers, content = raw_request(port, "/nowhere")
            assert status == 404
            assert content == b"Not Found"
            assert headers["content-type"] == "text/plain; charset=utf-8"
            assert headers["content-length"] == "9"
            assert "location" not in headers
            for client in CLIENTS:
                response = rejection(client, f"ws://127.0.0.1:{port}/rooms/abc")
                assert response.status_code == 404, client
                assert response.body == b"Not Found", client

    run(body, timeout=30)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_redirect_strict_slashes(mode):
    def body():
        with serving(mode, "wsfast", make_map(mode)) as port:
            base = f"ws://127.0.0.1:{port}"
            status, headers, content = raw_request(port, "/rooms")
            # websockets answers werkzeug's RequestRedirect with 302, not werkzeug's 308.
            assert status == 302
            assert headers["location"] == f"{base}/rooms/"
            assert content == f"Found at {base}/rooms/".encode()

            status, headers, _ = raw_request(port, "/rooms?sort=asc")
            assert (status, headers["location"]) == (302, f"{base}/rooms/?sort=asc")

            status, headers, _ = raw_request(port, "/old/7")
            assert (status, headers["location"]) == (302, f"{base}/rooms/7")

            # Clients follow redirects: they land on the rule's handler.
            for client in CLIENTS:
                report = fetch(client, f"{base}/rooms")
                assert (report["endpoint"], report["path"]) == ("rooms", "/rooms/"), client
                report = fetch(client, f"{base}/old/5")
                assert report["kwargs"] == {"room": ["int", "5"]}, client

    run(body, timeout=30)


@needs_werkzeug
@needs_websockets
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "options",
    [{}, {"server_name": "example.com"}, {"ssl": True}, {"server_name": "x.test:8443", "ssl": True}],
    ids=["host", "server_name", "ssl_true", "both"],
)
def test_refusals_match_websockets(mode, options):
    def answers(lib):
        with serving(mode, lib, make_map(mode), **options) as port:
            out = {}
            for path in REFUSED_PATHS:
                status, headers, content = raw_request(port, path, host="localhost:1234")
                out[path] = summary(status, headers, content)
            return out

    def body():
        ours, theirs = answers("wsfast"), answers("websockets")
        assert ours == theirs
        assert {path: answer["status"] for path, answer in ours.items()} == {
            path: 302 if path.startswith(("/rooms?", "/old/")) or path == "/rooms" else 404
            for path in REFUSED_PATHS
        }
        scheme = "wss" if options.get("ssl") else "ws"
        host = options.get("server_name", "localhost:1234")
        assert ours["/rooms"]["location"] == f"{scheme}://{host}/rooms/"

    run(body, timeout=30)


SUCCESS_PATHS = [
    "/",
    "/rooms/",
    "/rooms/3",
    "/rooms/007",
    "/rooms/3?x=1",
    f"/channels/{CHANNEL}",
    f"/channels/{str(CHANNEL).upper()}",
    "/names/caf%C3%A9",  # the raw path is matched: the handler gets the escapes
    "/names/a;b",  # urlparse takes ";b" as the last segment's parameters
    "/files/x/../y",
]


@needs_werkzeug
@needs_websockets
@pytest.mark.parametrize("mode", MODES)
def test_handler_arguments_match_websockets(mode):
    def reports(lib):
        with serving(mode, lib, make_map(mode)) as port:
            return {
                path: fetch("wsfast-sync", f"ws://127.0.0.1:{port}{path}")
                for path in SUCCESS_PATHS
            }

    def body():
        ours, theirs = reports("wsfast"), reports("websockets")
        assert ours == theirs
        assert ours["/names/caf%C3%A9"]["kwargs"] == {"name": ["str", "caf%C3%A9"]}
        assert ours["/names/a;b"]["kwargs"] == {"name": ["str", "a"]}

    run(body, timeout=30)


@needs_werkzeug
@needs_websockets
@pytest.mark.parametrize("mode", MODES)
def test_method_not_allowed_is_a_500_like_websockets(mode, caplog):
    # websockets lets werkzeug's MethodNotAllowed (a rule for POST only) escape from its
    # process_request: 500, and the server logs the error. wsfast does the same.
    def status(lib):
        with serving(mode, lib, make_map(mode)) as port:
            return raw_request(port, "/post-only")[0]

    assert run(lambda: (status("wsfast"), status("websockets"))) == (500, 500)
    assert any("MethodNotAllowed" in repr(record.exc_info) for record in caplog.records)
    caplog.clear()


@needs_werkzeug
@needs_websockets
@pytest.mark.parametrize("mode", MODES)
def test_missing_host_header_matches_websockets(mode, caplog):
    def answers(path, **options):
        def answer(lib):
            with serving(mode, lib, make_map(mode), **options) as port:
                return raw_request(port, path, host=None)[::2]

        return run(lambda: [answer(lib) for lib in LIBS])

    # Without server_name, routing reads the Host header: its absence is an error (500).
    ours, theirs = answers("/rooms/")
    assert ours == theirs
    assert ours[0] == 500
    assert any("KeyError" in repr(record.exc_info) for record in caplog.records)
    caplog.clear()
    # With server_name, it isn't needed to route.
    ours, theirs = answers("/nowhere", server_name="example.com")
    assert ours == theirs == (404, b"Not Found")


# server_name and ssl ---------------------------------------------------------------------


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_server_name_and_ssl_true(mode):
    def body():
        with serving(mode, "wsfast", make_map(mode), server_name="chat.example") as port:
            status, headers, _ = raw_request(port, "/rooms")
            assert (status, headers["location"]) == (302, "ws://chat.example/rooms/")
        # ssl=True: wss:// URLs, but no TLS here (a proxy in front terminates it).
        with serving(mode, "wsfast", make_map(mode), ssl=True) as port:
            status, headers, _ = raw_request(port, "/rooms")
            assert (status, headers["location"]) == (302, f"wss://127.0.0.1:{port}/rooms/")
            report = fetch("wsfast-sync", f"ws://127.0.0.1:{port}/rooms/1")
            assert report["kwargs"] == {"room": ["int", "1"]}

    run(body, timeout=20)


def fetch_over_tls(client, uri, client_context):
    """fetch(), with one more attempt for websockets' threading client, whose opening
    handshake over TLS sometimes never reaches the server (websockets_sync_tls_connect)."""
    if client != "websockets-sync":
        return fetch(client, uri, ssl=client_context)
    try:
        return fetch(client, uri, ssl=client_context, open_timeout=FIRST_TLS_ATTEMPT_TIMEOUT)
    except (TimeoutError, ws_exceptions.ConnectionClosed):
        return fetch(client, uri, ssl=client_context)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_ssl_context_enables_tls(mode):
    trustme = pytest.importorskip("trustme")
    import ssl

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    def body():
        with serving(mode, "wsfast", make_map(mode), ssl=server_context) as port:
            base = f"wss://127.0.0.1:{port}"
            for client in CLIENTS:
                report = fetch_over_tls(client, f"{base}/rooms/8", client_context)
                assert report["kwargs"] == {"room": ["int", "8"]}, client
            # The redirect points to wss://, and clients follow it over TLS. Not websockets'
            # threading client: following a redirect over TLS, it now and then times out or
            # logs an EOFError from its reading thread, against websockets' own asyncio
            # server as well (websockets 17.4).
            status, headers, _ = raw_request(port, "/rooms", ssl_context=client_context)
            assert (status, headers["location"]) == (302, f"{base}/rooms/")
            for client in ["wsfast-asyncio", "wsfast-sync", "websockets-asyncio"]:
                report = fetch(client, f"{base}/rooms", ssl=client_context)
                assert report["path"] == "/rooms/", client

    run(body, timeout=20)


# process_request and create_router --------------------------------------------------------


@needs_werkzeug
@pytest.mark.parametrize(
    ("mode", "flavour"),
    [("asyncio", "function"), ("asyncio", "coroutine"), ("sync", "function")],
)
def test_process_request_runs_first(mode, flavour):
    seen = []

    def decide(connection, request):
        seen.append(request.path)
        if request.path.startswith("/forbidden"):
            return connection.respond(http.HTTPStatus.FORBIDDEN, "No.\n")
        connection.seen_by_process_request = True
        return None

    if flavour == "coroutine":

        async def process_request(connection, request):
            await asyncio.sleep(0)
            return decide(connection, request)

    else:
        process_request = decide

    def body():
        with serving(mode, "wsfast", make_map(mode), process_request=process_request) as port:
            base = f"ws://127.0.0.1:{port}"
            # Its response wins, even where the map has no rule.
            status, _, content = raw_request(port, "/forbidden/rooms/")
            assert (status, content) == (403, b"No.\n")
            # None: the map routes the request (handler, 404, redirect).
            assert fetch("wsfast-sync", f"{base}/rooms/2")["kwargs"] == {"room": ["int", "2"]}
            assert raw_request(port, "/nowhere")[0] == 404
            assert raw_request(port, "/rooms")[0] == 302
        assert seen == ["/forbidden/rooms/", "/rooms/2", "/nowhere", "/rooms"]

    run(body, timeout=20)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_process_request_state_reaches_the_handler(mode):
    # Both run on the same connection: what process_request stores, the handler sees.
    def process_request(connection, request):
        connection.user = request.headers.get("X-User", "anonymous")

    if mode == "asyncio":

        async def whoami(ws, room):
            await ws.send(f"{ws.user}@{room}")

    else:

        def whoami(ws, room):
            ws.send(f"{ws.user}@{room}")

    def body():
        url_map = Map([Rule("/rooms/<int:room>", endpoint=whoami)])
        with (
            serving(mode, "wsfast", url_map, process_request=process_request) as port,
            wsfast_sync_client.connect(
                f"ws://127.0.0.1:{port}/rooms/4",
                additional_headers={"X-User": "ada"},
                open_timeout=WAIT,
                close_timeout=WAIT,
            ) as ws,
        ):
            assert ws.recv(timeout=WAIT) == "ada@4"

    run(body)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_create_router(mode):
    module = routers(mode, "wsfast")
    calls = []

    class GoneRouter(module.Router):
        def __init__(self, url_map, server_name=None, url_scheme="ws"):
            calls.append((url_map, server_name, url_scheme))
            super().__init__(url_map, server_name, url_scheme)

        def not_found(self, connection):
            return connection.respond(http.HTTPStatus.GONE, "Gone for good")

        def redirect(self, connection, url):
            response = connection.respond(http.HTTPStatus.PERMANENT_REDIRECT, "")
            response.headers["Location"] = url
            return response

        def get_server_name(self, connection, request):
            return "routed.example"

    def body():
        url_map = make_map(mode)
        with serving(mode, "wsfast", url_map, ssl=True, create_router=GoneRouter) as port:
            assert raw_request(port, "/nowhere")[::2] == (410, b"Gone for good")
            status, headers, _ = raw_request(port, "/rooms")
            assert (status, headers["location"]) == (308, "wss://routed.example/rooms/")
            assert fetch("wsfast-sync", f"ws://127.0.0.1:{port}/rooms/6")["endpoint"] == "room"
        assert calls == [(url_map, None, "wss")]

    run(body, timeout=20)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_router_methods_directly(mode):
    # Router on its own: route_request sets handler and handler_kwargs, as websockets does.
    module = routers(mode, "wsfast")
    handler = reporter(mode, "room")
    router = module.Router(Map([Rule("/rooms/<int:room>", endpoint=handler)]), "h.example")
    assert (router.server_name, router.url_scheme) == ("h.example", "ws")

    class FakeConnection:
        def respond(self, status, text):
            return Response(int(status), http.HTTPStatus(status).phrase, wsfast.Headers(),
                            text.encode())

    class FakeRequest:
        def __init__(self, path):
            self.path = path
            self.headers = wsfast.Headers({"Host": "ignored"})

    connection = FakeConnection()
    assert router.route_request(connection, FakeRequest("/rooms/5?a=b")) is None
    assert connection.handler is handler
    assert dict(connection.handler_kwargs) == {"room": 5}
    response = router.route_request(connection, FakeRequest("/rooms"))
    assert (response.status_code, response.body) == (404, b"Not Found")
    assert inspect.iscoroutinefunction(module.Router.handler) == (mode == "asyncio")


# unix_route ------------------------------------------------------------------------------


@needs_werkzeug
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("mode", MODES)
def test_unix_route(mode, lib, socket_path):
    def body():
        with serving(mode, "wsfast", make_map(mode), unix_path=socket_path):
            client = f"{lib}-{mode}"
            report = fetch(client, "ws://localhost/rooms/12", unix_path=socket_path)
            assert report["kwargs"] == {"room": ["int", "12"]}
            report = fetch(client, f"ws://localhost/channels/{CHANNEL}", unix_path=socket_path)
            assert report["kwargs"] == {"channel": ["UUID", str(CHANNEL)]}
            response = rejection(client, "ws://localhost/nowhere", unix_path=socket_path)
            assert (response.status_code, response.body) == (404, b"Not Found")

    run(body, timeout=20)


@needs_werkzeug
@pytest.mark.parametrize("mode", MODES)
def test_unix_route_redirect_uses_the_host_header(mode, socket_path):
    def body():
        with serving(mode, "wsfast", make_map(mode), unix_path=socket_path):
            status, headers, _ = raw_request(None, "/rooms", "localhost", unix_path=socket_path)
            assert (status, headers["location"]) == (302, "ws://localhost/rooms/")
            # A same-origin redirect is followed over the same Unix socket.
            for lib in LIBS:
                client = f"{lib}-{mode}"
                report = fetch(client, "ws://localhost/rooms", unix_path=socket_path)
                assert report["path"] == "/rooms/", client

    run(body, timeout=20)


# API -------------------------------------------------------------------------------------


def _shape(function):
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in inspect.signature(function).parameters.values()
    ]


@needs_websockets
@pytest.mark.parametrize("mode", MODES)
def test_signatures_match_websockets(mode):
    ours, theirs = routers(mode, "wsfast"), routers(mode, "websockets")
    assert ours.__all__ == theirs.__all__ == ["route", "unix_route", "Router"]
    for name in ["route", "unix_route"]:
        assert _shape(getattr(ours, name)) == _shape(getattr(theirs, name)), name
        assert inspect.signature(getattr(ours, name)).return_annotation == "Server"
    for name in ["__init__", "get_server_name", "redirect", "not_found", "route_request",
                 "handler"]:
        ours_method, theirs_method = getattr(ours.Router, name), getattr(theirs.Router, name)
        assert _shape(ours_method) == _shape(theirs_method), name
        assert inspect.iscoroutinefunction(ours_method) == inspect.iscoroutinefunction(
            theirs_method
        ), name


def test_top_level_exports():
    for name in ["route", "unix_route", "Router"]:
        assert name in wsfast.__all__
        assert name in dir(wsfast)
        assert getattr(wsfast, name) is getattr(wsfast_asyncio_router, name)
    assert wsfast_sync_router.Router is not wsfast.Router
    if websockets is not None:
        assert {"route", "unix_route", "Router"} <= set(websockets.__all__)
        assert set(websockets.__all__) <= set(wsfast.__all__)


WITHOUT_WERKZEUG = textwrap.dedent(
    """
    import importlib, json, sys

    class BlockWerkzeug:
        def find_spec(self, name, path=None, target=None):
            if name == "werkzeug" or name.startswith("werkzeug."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, BlockWerkzeug())
    results = {}
    libs = ["wsfast"]
    try:
        import websockets
        libs.append("websockets")
    except ImportError:
        pass
    for lib in libs:
        top = importlib.import_module(lib)
        for layer in ["asyncio", "sync"]:
            module = importlib.import_module(f"{lib}.{layer}.router")
            for name, call in [
                ("route", lambda: module.route(None, "127.0.0.1", 0)),
                ("unix_route", lambda: module.unix_route(None, "/nonexistent/socket")),
            ]:
                try:
                    call()
                except ImportError as exc:
                    outcome = [type(exc).__name__, str(exc)]
                else:
                    outcome = "no error"
                results[f"{lib}.{layer}.{name}"] = outcome
            results[f"{lib}.{layer}.Router"] = isinstance(module.Router, type)
        results[f"{lib}.route"] = top.route is importlib.import_module(
            f"{lib}.asyncio.router").route
    results["werkzeug imported"] = any(m.startswith("werkzeug") for m in sys.modules)
    print(json.dumps(results))
    """
)


def test_route_without_werkzeug(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_WERKZEUG],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(completed.stdout)
    for layer in ["asyncio", "sync"]:
        assert results[f"wsfast.{layer}.route"] == ["ImportError", "route() requires werkzeug"]
        assert results[f"wsfast.{layer}.unix_route"] == [
            "ImportError",
            "unix_route() requires werkzeug",
        ]
        assert results[f"wsfast.{layer}.Router"] is True
        if f"websockets.{layer}.route" in results:
            for name in ["route", "unix_route", "Router"]:
                key = f"{layer}.{name}"
                assert results[f"wsfast.{key}"] == results[f"websockets.{key}"], key
    assert results["wsfast.route"] is True
    assert results["werkzeug imported"] is False
