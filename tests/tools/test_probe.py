"""The handshake probe (``python -m wsfast probe``) against real servers rejecting for each
reason of ``shared/spec/handshake-400.md``.

Each server is real: a wsfast asyncio server in a thread (made to reject with ``origins=``,
``subprotocols=``, ``process_request``/``process_response``), a plain HTTP server from
:mod:`http.server`, a TLS wsfast server (certificates from trustme), a proxy answering 407,
a CONNECT proxy that tunnels, and a relay that drops hop-by-hop headers as a misconfigured
reverse proxy does. The probe runs in-process (:func:`wsfast.probe.probe`) to check the
cause ranked first, and as ``python -m wsfast probe`` for the exit status, the JSON object
and the text. Every server binds 127.0.0.1 on a free port; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading

import pytest
import trustme

from wsfast.asyncio.server import basic_auth, serve
from wsfast.probe import (
    CauseCatalogue,
    CauseCatalogueError,
    build_request_headers,
    load_causes,
    parse_header_option,
    probe,
)
from wsfast.uri import parse_uri

TIMEOUT = 10
SUBPROCESS_TIMEOUT = 60

pytestmark = pytest.mark.usefixtures("no_error_logs")


# Servers -------------------------------------------------------------------------------------


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@contextlib.contextmanager
def wsfast_server(handler=echo, **serve_kwargs):
    """A wsfast asyncio server on 127.0.0.1 in its own thread; yields its port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    async def run():
        state["stop"] = asyncio.get_running_loop().create_future()
        try:
            async with serve(handler, "127.0.0.1", 0, **serve_kwargs) as server:
                state["port"] = server.sockets[0].getsockname()[1]
                ready.set()
                await state["stop"]
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT), "the server did not start"
        if "error" in state:
            raise state["error"]
        yield state["port"]
    finally:
        if "stop" in state:
            loop.call_soon_threadsafe(
                lambda: state["stop"].done() or state["stop"].set_result(None)
            )
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the server did not stop"
        loop.close()


@contextlib.contextmanager
def thread_server(server):
    """Run a socketserver-style server in a thread; yields its port."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


class PlainHTTPHandler(http.server.BaseHTTPRequestHandler):
    """An ordinary web application: a page, a redirect, and 404 elsewhere."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/":
            self.reply(200, b"<html><body>Welcome</body></html>", "text/html")
        elif self.path == "/old":
            self.reply(301, b"", "text/plain", [("Location", "https://example.invalid/new")])
        else:
            self.reply(404, b"Not Found\n", "text/plain")

    def reply(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def plain_http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PlainHTTPHandler)
    server.daemon_threads = True
    return thread_server(server)


def read_head(connection):
    """Read an HTTP request head from a socket; b"" if the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


class ForwardProxyHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP forward proxy: CONNECT tunnels with Basic Proxy-Authorization, else 407."""

    protocol_version = "HTTP/1.1"
    credentials = "user:secret"

    def do_CONNECT(self):
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if self.headers.get("Proxy-Authorization") != expected:
            body = b"Proxy authentication required\n"
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="corporate proxy"')
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            return
        host, _, port = self.path.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            relay(self.connection, upstream)
        self.close_connection = True

    def log_message(self, format, *args):
        pass


def relay(client, upstream):
    """Copy bytes both ways until either side closes (bounded by socket timeouts)."""

    def pump(source, destination):
        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            destination.shutdown(socket.SHUT_WR)

    client.settimeout(TIMEOUT)
    upstream.settimeout(TIMEOUT)
    other = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    other.start()
    pump(client, upstream)
    other.join(TIMEOUT)


def forward_proxy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxyHandler)
    server.daemon_threads = True
    return thread_server(server)


class HopByHopDroppingRelay(http.server.BaseHTTPRequestHandler):
    """A reverse proxy configured without WebSocket support: like nginx without the
    Upgrade/Connection lines, it forwards the request without the hop-by-hop headers
    (RFC 9110 §7.6.1) and with "Connection: close", then relays the response."""

    upstream_port = 0

    def do_GET(self):
        hop_by_hop = {"connection", "upgrade", "keep-alive", "proxy-connection", "te"}
        lines = [f"GET {self.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()
                  if name.lower() not in hop_by_hop]
        lines.append("Connection: close")
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=TIMEOUT) \
                as upstream:
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            response = b""
            while data := upstream.recv(65536):
                response += data
        self.wfile.write(response)
        self.close_connection = True

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def dropping_relay(upstream_port):
    handler = type("Relay", (HopByHopDroppingRelay,), {"upstream_port": upstream_port})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    with thread_server(server) as port:
        yield port


@pytest.fixture(scope="module")
def certificate_authority():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ssl_context(certificate_authority):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_ssl_context(certificate_authority):
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch):
    """The probe reads proxies from the environment, like the client: start from none."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_cause(report):
    assert report.causes, report.render_text()
    return report.causes[0].cause.id


# The catalogue -------------------------------------------------------------------------------

ISSUE_CAUSES = {
    "invalid-key", "unsupported-version", "proxy-drops-upgrade", "origin-refused",
    "subprotocol-not-offered", "extension-negotiation-failed", "plain-http-endpoint",
    "http-redirect", "tls-to-plain-port", "plain-to-tls-port", "auth-required",
    "proxy-auth-required",
}


def test_causes_file_ships_in_the_package():
    from importlib import resources

    assert resources.files("wsfast").joinpath("probe_causes.json").is_file(), (
        "probe_causes.json is missing from the installed package: list it under "
        "[tool.setuptools.package-data] in pyproject.toml"
    )


def test_catalogue_has_the_causes_of_the_issue():
    catalogue = load_causes()
    ids = {cause.id for cause in catalogue.causes}
    assert ISSUE_CAUSES <= ids
    for cause in catalogue.causes:
        assert cause.root_cause and cause.workarounds and cause.signature, cause.id
        assert 0 < cause.confidence <= 1


def test_proxy_cause_names_nginx_apache_and_haproxy():
    (cause,) = [c for c in load_causes().causes if c.id == "proxy-drops-upgrade"]
    text = "\n".join(cause.workarounds)
    for expected in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                     'proxy_set_header Connection "upgrade";', "upgrade=websocket",
                     "mod_proxy_wstunnel", "HAProxy", "timeout tunnel"):
        assert expected in text


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"when": {"field": "status", "approximately": 400}}, "one OP"),
        ({"when": {"field": "response.colour", "equals": 1}}, "unknown field"),
        ({"when": {"field": "response.body", "regex": "("}}, "bad regex"),
        ({"when": {"all": [{"field": "status", "in": 400}]}}, "takes a list"),
        ({"confidence": 3}, "between 0 and 1"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_catalogue_refuses_malformed_entries(entry, message):
    cause = {"id": "x", "title": "x", "signature": "x", "when": {"all": []},
             "confidence": 0.5, "root_cause": "x", "workarounds": [], "dead_ends": []}
    cause.update(entry)
    with pytest.raises(CauseCatalogueError, match=message):
        CauseCatalogue.from_json({"causes": [cause]})


def test_a_new_cause_is_data_only(tmp_path):
    """A cause added to a JSON file is matched, its texts filled from the evidence."""
    teapot = {
        "id": "teapot", "title": "A teapot", "signature": "418",
        "when": {"all": [{"field": "status", "equals": 418},
                         {"field": "response.header.X-Brew", "contains": "earl"}]},
        "captures": [{"field": "response.body", "regex": "kettle (?P<kettle>\\w+)"}],
        "confidence": 0.99, "root_cause": "{{host}} brews {{kettle}}, Server {{server}}.",
        "workarounds": ["Ask for coffee at {{url}}."], "dead_ends": ["{{nothing|no}} luck"],
    }
    path = tmp_path / "causes.json"
    path.write_text(json.dumps({"causes": [teapot]}))

    def process_request(connection, request):
        response = connection.respond(418, "kettle number5 is busy\n")
        response.headers["X-Brew"] = "Earl Grey"
        return response

    with wsfast_server(process_request=process_request) as port:
        url = f"ws://127.0.0.1:{port}/"
        report = probe(url, causes=load_causes(path), timeout=TIMEOUT)
    (matched,) = report.causes
    assert matched.cause.id == "teapot"
    assert matched.root_cause.startswith("127.0.0.1 brews number5, Server Python/")
    assert matched.workarounds == [f"Ask for coffee at {url}."]
    assert matched.dead_ends == ["no luck"]


# Request building ----------------------------------------------------------------------------


def test_header_overrides_replace_remove_and_add():
    uri = parse_uri("ws://user:pw@example.com:8080/chat?room=1")
    headers = build_request_headers(
        uri, origin="https://a.example",
        overrides=[("sec-websocket-version", "8"), ("Sec-WebSocket-Extensions", ""),
                   ("X-Trace", "1"), ("X-Trace", "2")],
        key="dGhlIHNhbXBsZSBub25jZQ==",
    )
    assert headers[:3] == [("Host", "example.com:8080"),
                           ("Authorization", "Basic " + base64.b64encode(b"user:pw").decode()),
                           ("Upgrade", "websocket")]
    assert ("sec-websocket-version", "8") in headers
    assert not any(name.lower() == "sec-websocket-extensions" for name, _ in headers)
    assert headers[-2:] == [("X-Trace", "1"), ("X-Trace", "2")]
    assert ("Origin", "https://a.example") in headers


@pytest.mark.parametrize("text", ["no colon", ": value", "Bad Name: x"])
def test_header_option_refuses_malformed(text):
    with pytest.raises(ValueError):
        parse_header_option(text)


def test_header_option_empty_value():
    assert parse_header_option("Sec-WebSocket-Key:") == ("Sec-WebSocket-Key", "")


# Connected -----------------------------------------------------------------------------------


def test_connected_with_subprotocol_and_compression():
    with wsfast_server(subprotocols=["chat"]) as port:
        report = probe(f"ws://127.0.0.1:{port}/", subprotocols=["chat"], timeout=TIMEOUT)
    assert report.verdict == "connected"
    assert report.exit_status == 0
    assert report.causes == []
    assert report.evidence.response.header("Sec-WebSocket-Protocol") == "chat"
    assert "permessage-deflate" in report.evidence.response.header("Sec-WebSocket-Extensions")
    assert "Verdict: CONNECTED" in report.render_text()


# Rejections by a wsfast server ---------------------------------------------------------------


def auth_bearer(connection, request):
    if request.headers.get("Authorization") is None:
        response = connection.respond(401, "missing token\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return None


def forbidden_with_challenge(connection, request):
    response = connection.respond(403, "this token may not connect\n")
    response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    return response


def unoffered_extension(connection, request, response):
    response.headers["Sec-WebSocket-Extensions"] = "x-webkit-deflate-frame"
    return response


def wrong_accept(connection, request, response):
    del response.headers["Sec-WebSocket-Accept"]
    response.headers["Sec-WebSocket-Accept"] = "c3RhbGUgY2FjaGVkIHJlc3BvbnNlIQ=="
    return response


REJECTIONS = {
    # name: (serve() arguments, probe() arguments, cause ranked first, text it must contain)
    "origin-refused": (
        {"origins": ["https://good.example"]}, {"origin": "https://evil.example"},
        "origin-refused", 'origins=["https://evil.example"]'),
    "origin-required": (
        {"origins": ["https://good.example"]}, {}, "origin-required", "--origin"),
    "subprotocol-required": (
        {"subprotocols": ["chat", "superchat"]}, {}, "subprotocol-not-offered",
        "(see the response body)"),
    "subprotocol-mismatch": (
        {"subprotocols": ["chat"]}, {"subprotocols": ["mqtt"]}, "subprotocol-mismatch",
        "The client offered mqtt; the server speaks chat"),
    "auth-401-bearer": (
        {"process_request": auth_bearer}, {}, "auth-required", "Bearer TOKEN"),
    "auth-401-basic": (
        {"process_request": basic_auth(credentials=("alice", "wonderland"))}, {},
        "auth-required", "ws://user:password@127.0.0.1"),
    "auth-403-challenge": (
        {"process_request": forbidden_with_challenge}, {}, "auth-required",
        "insufficient_scope"),
    "missing-key": (
        {}, {"headers": [("Sec-WebSocket-Key", "")]}, "invalid-key", "(none)"),
    "invalid-key": (
        {}, {"headers": [("Sec-WebSocket-Key", "not-base64!")]}, "invalid-key", "not-base64!"),
    "short-key": (
        {}, {"headers": [("Sec-WebSocket-Key", "c2hvcnQ=")]}, "invalid-key", "16 random bytes"),
    "wrong-version": (
        {}, {"headers": [("Sec-WebSocket-Version", "8")]}, "unsupported-version",
        "Sec-WebSocket-Version: 8"),
    "missing-upgrade-in-request": (
        {}, {"headers": [("Upgrade", "")]}, "request-not-upgrade", "Upgrade: (none)"),
    "malformed-extensions": (
        {}, {"headers": [("Sec-WebSocket-Extensions", "permessage-deflate;;")]},
        "extension-negotiation-failed", "--header 'Sec-WebSocket-Extensions:'"),
    "unoffered-extension-in-101": (
        {"process_response": unoffered_extension}, {}, "extension-negotiation-failed",
        "unoffered_extension"),
    "wrong-accept-in-101": (
        {"process_response": wrong_accept}, {}, "accept-mismatch", "cached response"),
}


@pytest.mark.parametrize("name", list(REJECTIONS))
def test_rejection_by_wsfast_server(name):
    serve_kwargs, probe_kwargs, expected, text = REJECTIONS[name]
    with wsfast_server(**serve_kwargs) as port:
        report = probe(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT, **probe_kwargs)
    assert report.verdict == "rejected", report.render_text()
    assert report.exit_status == 1
    assert first_cause(report) == expected, report.render_text()
    first = report.causes[0]
    assert text in "\n".join([first.root_cause, *first.workarounds]), report.render_text()
    # The spec's dead ends: a timeout is no fix, the answer was immediate.
    if report.evidence.response.status != 101:
        assert any("timeout" in dead_end for dead_end in first.dead_ends)


def test_proxy_dropping_upgrade_headers():
    """A reverse proxy that drops Upgrade/Connection: the server's 426 and its body are
    relayed, the probe sees that it sent them and blames the proxy."""
    with wsfast_server() as upstream, dropping_relay(upstream) as port:
        report = probe(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert report.evidence.response.status == 426
    assert first_cause(report) == "proxy-drops-upgrade", report.render_text()
    text = report.render_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "Adding Upgrade or Connection headers in the client" in text


# Not a WebSocket endpoint --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [("/", 200, "plain-http-endpoint"), ("/nothing", 404, "plain-http-endpoint"),
     ("/old", 301, "http-redirect")],
)
def test_plain_http_endpoint(path, status, expected):
    with plain_http_server() as port:
        report = probe(f"ws://127.0.0.1:{port}{path}", timeout=TIMEOUT)
    assert report.evidence.response.status == status
    assert report.exit_status == 1
    assert first_cause(report) == expected, report.render_text()
    if status == 301:
        assert "https://example.invalid/new" in report.causes[0].root_cause


# TLS mix-ups ---------------------------------------------------------------------------------


def test_plain_request_to_tls_port(server_ssl_context):
    with wsfast_server(ssl=server_ssl_context) as port:
        report = probe(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert report.verdict == "unreachable", report.render_text()
    assert report.exit_status == 2
    assert first_cause(report) == "plain-to-tls-port", report.render_text()
    assert report.evidence.follow_up.transport == "tls"
    assert f"wss://127.0.0.1:{port}/" in report.causes[0].workarounds[0]


def test_tls_to_plain_port():
    with wsfast_server() as port:
        report = probe(f"wss://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert report.exit_status == 2
    assert report.evidence.failure.stage == "tls"
    assert first_cause(report) == "tls-to-plain-port", report.render_text()
    assert "101 Switching Protocols" in report.evidence.follow_up.summary
    assert f"ws://127.0.0.1:{port}/" in report.causes[0].workarounds[0]


def test_tls_connected_with_trusted_ca(server_ssl_context, client_ssl_context):
    with wsfast_server(ssl=server_ssl_context) as port:
        report = probe(f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context,
                       timeout=TIMEOUT)
    assert report.verdict == "connected", report.render_text()
    assert report.evidence.tls_version.startswith("TLS")


def test_tls_rejection_is_read_over_tls(server_ssl_context, client_ssl_context):
    with wsfast_server(ssl=server_ssl_context, origins=["https://good.example"]) as port:
        report = probe(f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context,
                       origin="https://evil.example", timeout=TIMEOUT)
    assert first_cause(report) == "origin-refused", report.render_text()


def test_untrusted_certificate(server_ssl_context):
    with wsfast_server(ssl=server_ssl_context) as port:
        report = probe(f"wss://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert report.exit_status == 2
    assert first_cause(report) == "tls-certificate", report.render_text()
    assert "certificate" in report.causes[0].root_cause


# Proxies and unreachable servers -------------------------------------------------------------


def test_proxy_requires_authentication():
    with wsfast_server() as port, forward_proxy() as proxy_port:
        report = probe(f"ws://127.0.0.1:{port}/", proxy=f"http://127.0.0.1:{proxy_port}",
                       timeout=TIMEOUT)
    assert report.evidence.proxy_response.status == 407
    assert report.status == 407
    assert report.exit_status == 1
    assert first_cause(report) == "proxy-auth-required", report.render_text()
    assert 'Basic realm="corporate proxy"' in report.causes[0].root_cause


def test_proxy_from_environment(monkeypatch):
    """Like wsfast's client, the probe reads the proxy from the environment by default."""
    with wsfast_server() as port, forward_proxy() as proxy_port:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy_port}")
        report = probe(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
        assert first_cause(report) == "proxy-auth-required"
        direct = probe(f"ws://127.0.0.1:{port}/", proxy=None, timeout=TIMEOUT)
        assert direct.verdict == "connected"


def test_proxy_tunnel_with_credentials():
    with wsfast_server() as port, forward_proxy() as proxy_port:
        report = probe(f"ws://127.0.0.1:{port}/",
                       proxy=f"http://user:secret@127.0.0.1:{proxy_port}", timeout=TIMEOUT)
    assert report.verdict == "connected", report.render_text()
    assert report.evidence.proxy_response.status == 200
    # Reports get pasted into issues: no password in them.
    text, document = report.render_text(), report.to_json()
    assert f"http://user:****@127.0.0.1:{proxy_port}" in text
    assert "Proxy-Authorization: Basic [redacted]" in text
    assert "secret" not in text and "c2VjcmV0" not in text
    assert base64.b64encode(b"user:secret").decode() not in text + document


def test_credentials_are_redacted():
    with wsfast_server(process_request=basic_auth(credentials=("alice", "wonderland"))) as port:
        report = probe(f"ws://alice:wonderland@127.0.0.1:{port}/",
                       headers=[("Cookie", "session=s3cr3t")], timeout=TIMEOUT)
    assert report.verdict == "connected", report.render_text()
    text, document = report.render_text(), report.to_json()
    for secret in ("wonderland", "s3cr3t", base64.b64encode(b"alice:wonderland").decode()):
        assert secret not in text and secret not in document
    assert f"ws://alice:****@127.0.0.1:{port}/" in text
    assert "> Authorization: Basic [redacted]" in text
    assert "> Cookie: [redacted]" in text


def test_connection_refused():
    report = probe(f"ws://127.0.0.1:{free_port()}/", timeout=TIMEOUT)
    assert report.exit_status == 2
    assert first_cause(report) == "connection-refused"


def test_server_that_never_answers():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        report = probe(f"ws://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.5,
                       follow_up=False)
    assert report.exit_status == 2
    assert first_cause(report) == "no-response"


# The command line ----------------------------------------------------------------------------


def run_probe(*arguments):
    environment = {name: value for name, value in os.environ.items()
                   if not name.lower().endswith("_proxy")}
    return subprocess.run(
        [sys.executable, "-m", "wsfast", "probe", *arguments], check=False,
        capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=environment,
    )


def test_command_exit_status_and_json():
    with wsfast_server(origins=["https://good.example"]) as port:
        url = f"ws://127.0.0.1:{port}/"
        connected = run_probe(url, "--origin", "https://good.example", "--json")
        rejected = run_probe(url, "--origin", "https://evil.example", "--json",
                             "--header", "X-Request-Id: 42")
    unreachable = run_probe(f"ws://127.0.0.1:{free_port()}/", "--json", "--timeout", "5")

    assert connected.returncode == 0, connected.stderr
    assert rejected.returncode == 1, rejected.stderr
    assert unreachable.returncode == 2, unreachable.stderr

    document = json.loads(rejected.stdout)
    assert {"signature", "status", "causes", "request", "response"} <= set(document)
    assert document["status"] == 403
    assert document["signature"].startswith(
        "HTTP 403 Forbidden: Failed to open a WebSocket connection: invalid Origin"
    )
    cause = document["causes"][0]
    assert {"id", "root_cause", "workarounds", "dead_ends", "confidence"} <= set(cause)
    assert cause["id"] == "origin-refused"
    assert ["X-Request-Id", "42"] in document["request"]["headers"]
    assert ["Origin", "https://evil.example"] in document["request"]["headers"]
    assert "https://evil.example" in document["response"]["body"]

    assert json.loads(connected.stdout)["causes"] == []
    assert json.loads(unreachable.stdout)["response"] is None
    assert json.loads(unreachable.stdout)["causes"][0]["id"] == "connection-refused"


def test_command_text_output():
    with wsfast_server(subprotocols=["chat"]) as port:
        result = run_probe(f"ws://127.0.0.1:{port}/chat")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    # Request sent, response received with status line, headers and body excerpt.
    assert "Request sent:\n    > GET /chat HTTP/1.1\n" in out
    assert "    < HTTP/1.1 400 Bad Request\n" in out
    assert "    < Content-Type: text/plain; charset=utf-8\n" in out
    assert "    < Failed to open a WebSocket connection: missing subprotocol.\n" in out
    # Verdict, then the ranked causes with fixes and dead ends.
    assert (
        "Verdict: REJECTED (exit status 1): HTTP 400 Bad Request: "
        "Failed to open a WebSocket connection: missing subprotocol." in out
    )
    assert re.search(r"^1\. The server requires a subprotocol .*subprotocol-not-offered", out,
                     re.MULTILINE)
    assert "What to change:" in out and "Dead ends (these don't help):" in out
    assert "--subprotocol NAME" in out


def test_command_usage_errors():
    assert run_probe("http://127.0.0.1/").returncode == 2
    bad_header = run_probe("ws://127.0.0.1/", "--header", "no colon")
    assert bad_header.returncode == 2
    assert "Name: value" in bad_header.stderr


@contextlib.contextmanager
def raw_server(answer, close=True):
    """A TCP server that reads a request head, writes ``answer`` and maybe keeps the
    connection open (as a keep-alive server with no Content-Length would)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(TIMEOUT)
    held = []

    def serve_one():
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            connection.settimeout(TIMEOUT)
            read_head(connection)
            connection.sendall(answer)
            if close:
                connection.close()
            else:
                held.append(connection)

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(TIMEOUT)
        for connection in held:
            connection.close()


def test_another_protocol_on_the_port():
    with raw_server(b"SSH-2.0-OpenSSH_9.2\r\n") as port:
        report = probe(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT, follow_up=False)
    assert report.exit_status == 2
    assert first_cause(report) == "not-http", report.render_text()
    assert b"SSH-2.0".hex() in report.causes[0].root_cause


def test_body_without_length_on_a_kept_alive_connection():
    """No Content-Length and no close: the excerpt ends when the server pauses."""
    answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\n"
              b"upstream down\n")
    with raw_server(answer, close=False) as port:
        report = probe(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert report.evidence.response.body_text == "upstream down\n"
    assert first_cause(report) == "upstream-unavailable"


def test_chunked_body_is_decoded():
    answer = (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"4\r\nno s\r\n9\r\nuch route\r\n0\r\n\r\n")
    with raw_server(answer, close=False) as port:
        report = probe(f"ws://127.0.0.1:{port}/ws", timeout=TIMEOUT)
    assert report.evidence.response.body_text == "no such route"
    assert report.signature == "HTTP 404 Not Found: no such route"


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_literal():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")

    async def run():
        async with serve(echo, "::1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.to_thread(probe, f"ws://[::1]:{port}/", timeout=TIMEOUT)

    report = asyncio.run(asyncio.wait_for(run(), TIMEOUT))
    assert report.verdict == "connected", report.render_text()
    assert report.evidence.request.header("Host") == f"[::1]:{report.evidence.uri.port}"
