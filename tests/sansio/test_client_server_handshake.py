"""Opening handshake of wsfast's ClientProtocol and ServerProtocol, against websockets 17.4.

* Requests and 101 responses are byte-for-byte websockets' (modulo the random key and Date).
* wsfast and websockets clients and servers complete handshakes with each other, negotiate the
  same subprotocols and extensions, then exchange (compressed) messages and close cleanly.
* The client raises the same exceptions as websockets for every malformed or unacceptable
  response; where websockets' message doesn't name the header at fault, wsfast's starts with
  websockets' words and then names it.
* Every rejection reason of the spec (``shared/spec/handshake-400.md``) gets its status, its
  headers, a body whose first line names the problem, a hint, and one INFO log line; the
  ``handshake_exc`` has websockets' type.

The autouse ``active_codec`` fixture runs everything on both codecs (Cython and pure Python).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re

import pytest
from websockets_support import (
    HAVE_WEBSOCKETS,
    and_reference,
    needs_websockets,
    websockets_module,
)
from wire import raw_frame

from wsfast.client import ClientProtocol
from wsfast.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    NegotiationError,
    RequestLineTooLong,
    StatusLineTooLong,
    TooManyHeaders,
)
from wsfast.extensions import permessage_deflate as our_deflate
from wsfast.http11 import Request, Response
from wsfast.protocol import CLOSED, CONNECTING, OPEN, SEND_EOF
from wsfast.server import ServerProtocol
from wsfast.uri import parse_uri
from wsfast.utils import accept_key

ws_client = websockets_module("websockets.client")
ws_exceptions = websockets_module("websockets.exceptions")
ws_server = websockets_module("websockets.server")
ws_uri = websockets_module("websockets.uri")
ws_deflate = websockets_module("websockets.extensions.permessage_deflate")

# Every test here runs on both implementations (conftest.active_codec).
pytestmark = pytest.mark.usefixtures("active_codec")


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = accept_key(KEY)
LOGGER_NAME = "test.wsfast.handshake.server"


def server_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    return logger


# Requests and responses, as bytes -------------------------------------------------------------


def request_bytes(
    *,
    method: str = "GET",
    path: str = "/chat",
    protocol: str = "HTTP/1.1",
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    headers = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
    replace = replace or {}
    lines = [f"{method} {path} {protocol}"]
    lines += [f"{name}: {replace.get(name, value)}" for name, value in headers if name not in drop]
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response_bytes(
    *,
    status: str = "101 Switching Protocols",
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> bytes:
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    ]
    replace = replace or {}
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name}: {replace.get(name, value)}" for name, value in headers if name not in drop]
    lines += [f"{name}: {value}" for name, value in extra]
    if body or not status.startswith("101"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# The mask key of the frames a test client sends by hand (tests/wire.py builds them).
MASK = b"\x01\x02\x03\x04"


def without_date(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", data)


# Clients ---------------------------------------------------------------------------------------


def our_client(uri: str = "ws://example.com/chat", **kwargs) -> ClientProtocol:
    client = ClientProtocol(parse_uri(uri), **kwargs)
    client.key = KEY
    return client


def their_client(uri: str = "ws://example.com/chat", **kwargs):
    client = ws_client.ClientProtocol(ws_uri.parse_uri(uri), **kwargs)
    client.key = KEY
    return client


@needs_websockets
@pytest.mark.parametrize(
    "uri, options",
    [
        ("ws://example.com/chat", {}),
        ("wss://example.com/", {}),
        ("ws://example.com:8080/path?query=1", {}),
        ("wss://example.com:443", {}),
        ("ws://[::1]:9000/", {}),
        ("ws://user:p%40ss@example.com/", {}),
        ("ws://example.com/", {"origin": "https://example.com"}),
        ("ws://example.com/", {"subprotocols": ["chat", "superchat"]}),
        ("ws://example.com/", {"subprotocols": []}),
        ("ws://example.com/", {"extensions": "deflate"}),
        ("ws://example.com/", {"extensions": []}),
    ],
)
def test_connect_builds_websockets_request(uri, options):
    ours_options, theirs_options = dict(options), dict(options)
    if options.get("extensions") == "deflate":
        ours_options["extensions"] = our_deflate.enable_client_permessage_deflate(None)
        theirs_options["extensions"] = ws_deflate.enable_client_permessage_deflate(None)
    ours, theirs = our_client(uri, **ours_options), their_client(uri, **theirs_options)
    request = ours.connect()
    assert isinstance(request, Request)
    assert request.serialize() == theirs.connect().serialize()
    ours.send_request(request)
    assert ours.data_to_send() == [request.serialize()]
    assert ours.state is CONNECTING


def test_each_client_has_a_fresh_key():
    first = ClientProtocol(parse_uri("ws://example.com/"))
    second = ClientProtocol(parse_uri("ws://example.com/"))
    assert first.key != second.key
    assert len(base64.b64decode(first.key)) == 16


def feed_client(client, data: bytes):
    client.receive_data(data)
    return client.events_received(), client.data_to_send()


EXTENSIONS = "Sec-WebSocket-Extensions"
PROTOCOL = "Sec-WebSocket-Protocol"
DEFLATE = {"extensions": "deflate"}
CHAT = {"subprotocols": ["superchat", "chat"]}

RESPONSES = [
    ("accepted", response_bytes(), {}),
    ("lowercase upgrade", response_bytes(replace={"Upgrade": "WebSocket"}), {}),
    ("connection list", response_bytes(replace={"Connection": "keep-alive, Upgrade"}), {}),
    (
        "200",
        response_bytes(
            status="200 OK", drop=("Upgrade", "Connection", "Sec-WebSocket-Accept"), body=b"hi"
        ),
        {},
    ),
    (
        "400 plain text",
        response_bytes(
            status="400 Bad Request",
            extra=(("Content-Type", "text/plain"),),
            body=b"missing Sec-WebSocket-Key header\n",
        ),
        {},
    ),
    ("403", response_bytes(status="403 Forbidden"), {}),
    ("500", response_bytes(status="500 Internal Server Error"), {}),
    ("missing connection", response_bytes(drop=("Connection",)), {}),
    ("connection keep-alive", response_bytes(replace={"Connection": "keep-alive"}), {}),
    ("missing upgrade", response_bytes(drop=("Upgrade",)), {}),
    ("upgrade h2c", response_bytes(replace={"Upgrade": "h2c"}), {}),
    ("two upgrades", response_bytes(replace={"Upgrade": "websocket, h2c"}), {}),
    ("malformed connection", response_bytes(replace={"Connection": ","}), {}),
    ("missing accept", response_bytes(drop=("Sec-WebSocket-Accept",)), {}),
    ("wrong accept", response_bytes(replace={"Sec-WebSocket-Accept": accept_key("x" * 24)}), {}),
    ("two accepts", response_bytes(extra=(("Sec-WebSocket-Accept", ACCEPT),)), {}),
    ("extension not offered", response_bytes(extra=((EXTENSIONS, "permessage-deflate"),)), {}),
    ("unknown extension", response_bytes(extra=((EXTENSIONS, "x-unknown"),)), DEFLATE),
    ("deflate accepted", response_bytes(extra=((EXTENSIONS, "permessage-deflate"),)), DEFLATE),
    (
        "deflate bad params",
        response_bytes(extra=((EXTENSIONS, "permessage-deflate; server_max_window_bits=99"),)),
        DEFLATE,
    ),
    (
        "malformed extensions",
        response_bytes(extra=((EXTENSIONS, "permessage-deflate;;"),)),
        DEFLATE,
    ),
    ("subprotocol not offered", response_bytes(extra=((PROTOCOL, "chat"),)), {}),
    ("subprotocol selected", response_bytes(extra=((PROTOCOL, "chat"),)), CHAT),
    ("two subprotocols", response_bytes(extra=((PROTOCOL, "chat, superchat"),)), CHAT),
    ("unsupported subprotocol", response_bytes(extra=((PROTOCOL, "other"),)), CHAT),
    ("not http", b"SSH-2.0-OpenSSH_9.0\r\n\r\n", {}),
    ("http/1.0", b"HTTP/1.0 101 Switching Protocols\r\n\r\n", {}),
    ("status line too long", b"HTTP/1.1 101 " + b"x" * 9000 + b"\r\n", {}),
]


@needs_websockets
@pytest.mark.parametrize("name, data, options", RESPONSES, ids=[case[0] for case in RESPONSES])
def test_client_processes_response_like_websockets(name, data, options):
    ours_options, theirs_options = dict(options), dict(options)
    if options.get("extensions") == "deflate":
        ours_options["extensions"] = our_deflate.enable_client_permessage_deflate(None)
        theirs_options["extensions"] = ws_deflate.enable_client_permessage_deflate(None)
    ours, theirs = our_client(**ours_options), their_client(**theirs_options)
    our_events, our_writes = feed_client(ours, data)
    their_events, their_writes = feed_client(theirs, data)
    assert our_writes == their_writes
    assert [(e.status_code, e.reason_phrase, e.body) for e in our_events] == [
        (e.status_code, e.reason_phrase, e.body) for e in their_events
    ]
    assert int(ours.state) == int(theirs.state)
    assert ours.close_expected() == theirs.close_expected()
    if theirs.handshake_exc is None:
        assert ours.handshake_exc is None
        assert ours.subprotocol == theirs.subprotocol
        assert [e.name for e in ours.extensions] == [e.name for e in theirs.extensions]
        return
    ours_exc, theirs_exc = ours.handshake_exc, theirs.handshake_exc
    assert type(ours_exc).__name__ == type(theirs_exc).__name__
    assert isinstance(ours_exc, InvalidHandshake)
    # websockets' message; what wsfast knows beyond it is the diagnosis, a PEP 678 note.
    assert str(ours_exc) == str(theirs_exc)
    if isinstance(ours_exc, NegotiationError):
        assert "Sec-WebSocket-" in ours_exc.diagnosis
        assert ours_exc.__notes__ == [ours_exc.diagnosis]
    their_cause = theirs_exc.__cause__
    if their_cause is not None:
        if type(their_cause).__module__ == "builtins":
            # wsfast may raise a subclass, e.g. UnsupportedHTTPVersion for ValueError.
            assert isinstance(ours_exc.__cause__, type(their_cause))
        else:
            assert type(ours_exc.__cause__).__name__ == type(their_cause).__name__
    if our_events:
        assert our_events[0]._exception is ours_exc
    # The connection is dropped: EOF sent, incoming data discarded until EOF.
    assert our_writes[-1] == SEND_EOF
    ours.receive_data(b"more garbage")
    assert ours.events_received() == []
    ours.receive_eof()
    assert ours.state is CLOSED


def test_client_invalid_status_is_websockets_and_notes_the_body():
    client = our_client()
    client.receive_data(
        response_bytes(
            status="400 Bad Request",
            extra=(("Content-Type", "text/plain; charset=utf-8"),),
            body=b"missing Sec-WebSocket-Key header\n\nmore explanation\n",
        )
    )
    exc = client.handshake_exc
    assert isinstance(exc, InvalidStatus)
    assert str(exc) == "server rejected WebSocket connection: HTTP 400"
    assert exc.status_code == 400
    assert exc.headers["Content-Type"] == "text/plain; charset=utf-8"
    # The body's first line and the likely cause (the probe's catalogue) are the note.
    assert exc.diagnosis.startswith(
        "The server answered HTTP 400 Bad Request: missing Sec-WebSocket-Key header\n"
        "Likely cause: "
    )
    assert "Sec-WebSocket-Key" in exc.diagnosis.split("\n")[1]
    assert "python -m wsfast probe ws://" in exc.diagnosis
    assert exc.__notes__ == [exc.diagnosis]
    assert exc.diagnosis not in str(exc)


def test_client_invalid_status_note_without_body_or_known_cause():
    client = our_client()
    client.receive_data(response_bytes(status="418 I'm a teapot"))
    exc = client.handshake_exc
    assert str(exc) == "server rejected WebSocket connection: HTTP 418"
    assert exc.diagnosis.startswith("The server answered HTTP 418 I'm a teapot.")


def test_client_eof_during_response():
    client = our_client()
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: web")
    assert client.handshake_exc is None
    client.receive_eof()
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert str(client.handshake_exc) == "did not receive a valid HTTP response"
    assert isinstance(client.handshake_exc.__cause__, EOFError)
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is CLOSED


@needs_websockets
def test_client_eof_at_every_byte_of_the_response():
    data = response_bytes() + raw_frame(0x1, b"hi")
    for cut in range(len(data) + 1):
        ours, theirs = our_client(), their_client()
        for client in (ours, theirs):
            client.receive_data(data[:cut])
            client.receive_eof()
        assert int(ours.state) == int(theirs.state) == int(CLOSED)
        assert type(ours.handshake_exc).__name__ == type(theirs.handshake_exc).__name__
        assert [type(e).__name__ for e in ours.events_received()] == [
            type(e).__name__ for e in theirs.events_received()
        ]
        assert ours.data_to_send() == theirs.data_to_send()
        assert ours.close_code == theirs.close_code


def test_client_status_line_too_long_is_kept():
    client = our_client()
    client.receive_data(b"HTTP/1.1 101 " + b"x" * 9000)
    assert isinstance(client.handshake_exc, StatusLineTooLong)


def test_client_parses_frames_right_behind_the_response():
    data = response_bytes() + raw_frame(0x1, b"hello") + raw_frame(0x9, b"ping")
    clients = and_reference(our_client(), their_client)
    results = [feed_client(client, data) for client in clients]
    assert clients[0].state is OPEN
    assert isinstance(results[0][0][0], Response)
    for events, writes in results:  # wsfast's, then websockets' (Python 3.11+)
        assert [(int(e.opcode), e.data) for e in events[1:]] == [(1, b"hello"), (9, b"ping")]
        assert len(writes) == 1  # the pong, masked with a random key


def test_client_frames_split_across_the_response():
    client = our_client()
    data = response_bytes() + raw_frame(0x2, b"\x00" * 50)
    for index in range(len(data)):
        client.receive_data(data[index : index + 1])
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert [(int(e.opcode), bytes(e.data)) for e in events[1:]] == [(2, b"\x00" * 50)]


@needs_websockets
def test_client_debug_logs_match_websockets(caplog):
    logs = {}
    for name, factory in [("ours", our_client), ("theirs", their_client)]:
        logger = logging.getLogger(f"test.handshake.debug.{name}")
        logger.setLevel(logging.DEBUG)
        client = factory(logger=logger)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            client.send_request(client.connect())
            client.receive_data(response_bytes(status="400 Bad Request", body=b"nope"))
        logs[name] = [record.getMessage() for record in caplog.records]
    assert logs["ours"] == logs["theirs"]


# Servers ---------------------------------------------------------------------------------------


def feed_server(server, data: bytes):
    server.receive_data(data)
    return server.events_received()


def handshake(server, data: bytes) -> Response:
    [request] = feed_server(server, data)
    response = server.accept(request)
    server.send_response(response)
    return response


def test_server_accepts_like_websockets():
    ours = ServerProtocol()
    our_response = handshake(ours, request_bytes())
    assert our_response.status_code == 101
    if HAVE_WEBSOCKETS:
        their_response = handshake(ws_server.ServerProtocol(), request_bytes())
        assert without_date(our_response.serialize()) == without_date(their_response.serialize())
    assert our_response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert ours.data_to_send() == [our_response.serialize()]
    assert ours.state is OPEN
    assert ours.handshake_exc is None
    assert ours.accept_called is True


@needs_websockets
def test_server_reject_builds_websockets_response():
    ours, theirs = ServerProtocol(), ws_server.ServerProtocol()
    for status, text in [(401, "Unauthorized.\n"), (404, "nothing here"), (503, "é")]:
        our_response = ours.reject(status, text)
        their_response = theirs.reject(status, text)
        assert without_date(our_response.serialize()) == without_date(their_response.serialize())
        assert our_response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert "Date" in our_response.headers


def test_server_processes_frames_sent_behind_the_request():
    server = ServerProtocol()
    [request] = feed_server(
        server,
        request_bytes() + raw_frame(0x1, b"early", mask=MASK) + raw_frame(0x9, b"p", mask=MASK),
    )
    assert isinstance(request, Request)
    assert server.events_received() == []
    server.send_response(server.accept(request))
    events = server.events_received()
    assert [(int(e.opcode), bytes(e.data)) for e in events] == [(1, b"early"), (9, b"p")]
    writes = server.data_to_send()
    assert writes[-1] == bytes((0x8A, 1)) + b"p"


def test_server_eof_before_request_matches_websockets():
    for server in and_reference(ServerProtocol(), lambda: ws_server.ServerProtocol()):
        server.receive_data(b"GET / HTTP/1.1\r\nHost: exa")
        server.receive_eof()
        assert type(server.handshake_exc).__name__ == "InvalidMessage"
        assert str(server.handshake_exc) == "did not receive a valid HTTP request"
        assert isinstance(server.handshake_exc.__cause__, EOFError)
        assert server.data_to_send() == [SEND_EOF]
        assert int(server.state) == int(CLOSED)


@needs_websockets
def test_server_eof_at_every_byte_of_the_request():
    data = request_bytes() + raw_frame(0x1, b"hi", mask=MASK)
    for cut in range(len(data) + 1):
        ours, theirs = ServerProtocol(), ws_server.ServerProtocol()
        for server in (ours, theirs):
            server.receive_data(data[:cut])
        assert [type(e).__name__ for e in ours.events_received()] == [
            type(e).__name__ for e in theirs.events_received()
        ][:1]
        for server in (ours, theirs):
            server.receive_eof()
        assert int(ours.state) == int(theirs.state) == int(CLOSED)
        assert type(ours.handshake_exc).__name__ == type(theirs.handshake_exc).__name__
        assert ours.data_to_send() == theirs.data_to_send()


def test_server_malformed_request_closes_without_response():
    for server in and_reference(ServerProtocol(), lambda: ws_server.ServerProtocol()):
        server.receive_data(b"NONSENSE\r\n\r\n")
        assert type(server.handshake_exc).__name__ == "InvalidMessage"
        assert server.data_to_send() == [SEND_EOF]
        assert server.close_expected() is True


# Rejections: status, headers, body, log line ---------------------------------------------------


def base64_error(data: bytes) -> str:
    """The interpreter's words for invalid base64 (Python 3.11 changed them)."""
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        return str(exc)
    raise AssertionError(f"{data!r} is valid base64")


REJECTIONS = [
    # name, request, server options, status, reason and text of the advice (the diagnosis
    # logged after websockets' line), headers beyond websockets' (or checked by value)
    ("missing key", request_bytes(drop=("Sec-WebSocket-Key",)), {}, 400,
     "missing Sec-WebSocket-Key header", "base64 encoding of 16 random bytes", {}),
    ("malformed key", request_bytes(replace={"Sec-WebSocket-Key": "not base64!"}), {}, 400,
     f"invalid Sec-WebSocket-Key header: not base64!; {base64_error(b'not base64!')}",
     "base64 encoding of 16 random bytes", {}),
    ("short key", request_bytes(replace={"Sec-WebSocket-Key": "OCBieXRlcyE="}), {}, 400,
     "invalid Sec-WebSocket-Key header: OCBieXRlcyE=", "16 random bytes", {}),
    ("two keys", request_bytes(extra=(("Sec-WebSocket-Key", KEY),)), {}, 400,
     "invalid Sec-WebSocket-Key header: multiple values", "16 random bytes", {}),
    ("version 8", request_bytes(replace={"Sec-WebSocket-Version": "8"}), {}, 400,
     "invalid Sec-WebSocket-Version header: 8", "Sec-WebSocket-Version: 13",
     {"Sec-WebSocket-Version": "13"}),
    ("missing version", request_bytes(drop=("Sec-WebSocket-Version",)), {}, 400,
     "missing Sec-WebSocket-Version header", "version 13", {"Sec-WebSocket-Version": "13"}),
    ("two versions", request_bytes(extra=(("Sec-WebSocket-Version", "13"),)), {}, 400,
     "invalid Sec-WebSocket-Version header: multiple values", "version 13",
     {"Sec-WebSocket-Version": "13"}),
    ("missing upgrade", request_bytes(drop=("Upgrade",)), {}, 426,
     "missing Upgrade header (missing: Upgrade)", "proxy_set_header Upgrade $http_upgrade;",
     {"Upgrade": "websocket"}),
    ("missing connection", request_bytes(drop=("Connection",)), {}, 426,
     "missing Connection header (missing: Connection)", "reverse proxy",
     {"Upgrade": "websocket"}),
    ("browser visit", request_bytes(drop=("Connection", "Upgrade")), {}, 426,
     "missing Connection header (missing: Upgrade and Connection)", "use a WebSocket client",
     {"Upgrade": "websocket"}),
    ("proxy dropped hop-by-hop",
     request_bytes(drop=("Upgrade",), replace={"Connection": "close"}), {}, 426,
     "invalid Connection header: close (missing: Upgrade)",
     'proxy_set_header Connection "upgrade";',
     {"Upgrade": "websocket"}),
    ("upgrade h2c", request_bytes(replace={"Upgrade": "h2c"}), {}, 426,
     "invalid Upgrade header: h2c", "Upgrade: websocket", {"Upgrade": "websocket"}),
    ("malformed connection", request_bytes(replace={"Connection": "Upgrade;x"}), {}, 400,
     "invalid Connection header: expected comma at 7 in Upgrade;x", "Connection: Upgrade", {}),
    ("refused origin", request_bytes(extra=(("Origin", "https://evil.example"),)),
     {"origins": ["https://good.example"]}, 403,
     "invalid Origin header: https://evil.example",
     "doesn't accept WebSocket connections from the origin https://evil.example", {}),
    ("missing origin", request_bytes(), {"origins": ["https://good.example"]}, 403,
     "missing Origin header", "include None in its origins", {}),
    ("two origins", request_bytes(extra=(("Origin", "https://a"), ("Origin", "https://b"))),
     {"origins": ["https://a"]}, 400,
     "invalid Origin header: multiple values", "one Origin header", {}),
    ("post", request_bytes(method="POST"), {}, 405,
     "unsupported HTTP method: POST", "GET request", {"Allow": "GET"}),
    ("http/1.0", request_bytes(protocol="HTTP/1.0"), {}, 505,
     "unsupported HTTP version: HTTP/1.0", "requires HTTP/1.1", {}),
    ("missing subprotocol", request_bytes(), {"subprotocols": ["chat", "superchat"]}, 400,
     "missing subprotocol", "supports these subprotocols: chat, superchat", {}),
    ("no common subprotocol", request_bytes(extra=(("Sec-WebSocket-Protocol", "v1.other"),)),
     {"subprotocols": ["chat", "superchat"]}, 400,
     "invalid subprotocol; expected one of chat, superchat", "it offered: v1.other", {}),
    ("malformed subprotocol", request_bytes(extra=(("Sec-WebSocket-Protocol", "chat;"),)),
     {"subprotocols": ["chat"]}, 400,
     "invalid Sec-WebSocket-Protocol header: expected comma at 4 in chat;",
     "Sec-WebSocket-Protocol", {}),
    ("malformed extensions",
     request_bytes(extra=(("Sec-WebSocket-Extensions", "permessage-deflate; =x"),)),
     {"extensions": "deflate"}, 400,
     "invalid Sec-WebSocket-Extensions header: expected token at 20 in permessage-deflate; =x",
     "RFC 6455 section 9.1", {}),
    ("custom selection refuses", request_bytes(extra=(("Sec-WebSocket-Protocol", "chat"),)),
     {"select_subprotocol": "refuse"}, 400, "chat is not welcome",
     "refused the subprotocols offered in Sec-WebSocket-Protocol: chat", {}),
]


def make_servers(options):
    ours_options, theirs_options = dict(options), dict(options)
    if options.get("extensions") == "deflate":
        ours_options["extensions"] = our_deflate.enable_server_permessage_deflate(None)
        if HAVE_WEBSOCKETS:
            theirs_options["extensions"] = ws_deflate.enable_server_permessage_deflate(None)
    if options.get("select_subprotocol") == "refuse":

        def refuse(protocol, subprotocols):
            raise NegotiationError(f"{', '.join(subprotocols)} is not welcome")

        def their_refuse(protocol, subprotocols):
            raise ws_exceptions.NegotiationError(f"{', '.join(subprotocols)} is not welcome")

        ours_options["select_subprotocol"] = refuse
        theirs_options["select_subprotocol"] = their_refuse
    return (
        ServerProtocol(logger=server_logger(), **ours_options),
        ws_server.ServerProtocol(**theirs_options) if HAVE_WEBSOCKETS else None,
    )


def rejection_records(caplog):
    """INFO records of the test server's logger, except the end of the TCP connection."""
    return [
        record for record in caplog.records
        if record.name == LOGGER_NAME
        and record.levelno == logging.INFO
        and record.getMessage() != "connection closed"
    ]


def headers_but_date(response):
    return [(name, value) for name, value in response.headers.raw_items() if name != "Date"]


@pytest.mark.parametrize(
    "name, data, options, status, reason, hint, headers",
    REJECTIONS,
    ids=[case[0] for case in REJECTIONS],
)
def test_server_rejection(caplog, name, data, options, status, reason, hint, headers):
    ours, theirs = make_servers(options)
    ours.remote_address = ("192.0.2.7", 50123)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        response = handshake(ours, data)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Connection"] == "close"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert "Date" in response.headers
    for header, value in headers.items():
        assert response.headers[header] == value
    assert response.body.decode().startswith("Failed to open a WebSocket connection: ")

    # websockets' response byte for byte (but the clock), plus Sec-WebSocket-Version: 13
    # where RFC 6455 §4.4 requires it; websockets' exception.
    if theirs is not None:  # Python 3.11+ (websockets_support)
        their_response = handshake(theirs, data)
        assert type(ours.handshake_exc).__name__ == type(theirs.handshake_exc).__name__
        assert str(ours.handshake_exc) == str(theirs.handshake_exc)
        assert (response.status_code, response.reason_phrase, response.body) == (
            their_response.status_code, their_response.reason_phrase, their_response.body
        )
        extra = [("Sec-WebSocket-Version", "13")] if "version" in name else []
        assert headers_but_date(response) == headers_but_date(their_response) + extra

    # The response is sent, then EOF; the connection then waits for the client's EOF.
    assert ours.data_to_send() == [response.serialize(), SEND_EOF]
    assert ours.state is CONNECTING and ours.close_expected() is True
    ours.receive_data(b"ignored")
    ours.receive_eof()
    assert ours.state is CLOSED

    # websockets' line, then the diagnosis: peer, request line, status, reason, advice.
    line, diagnosis = rejection_records(caplog)
    assert line.getMessage() == f"connection rejected ({status} {response.reason_phrase})"
    assert not hasattr(line, "wsfast_diagnosis")
    assert diagnosis.wsfast_diagnosis is True
    message = diagnosis.getMessage()
    request_line = data.split(b"\r\n")[0].decode()
    assert message.startswith(
        f"handshake from 192.0.2.7:50123 failed: {request_line!r} -> "
        f"{status} {response.reason_phrase}: {reason}\n"
    )
    assert hint in message

    # A wsfast client: websockets' message, the body's first line in the diagnosis.
    client = our_client()
    client.receive_data(response.serialize())
    assert str(client.handshake_exc) == f"server rejected WebSocket connection: HTTP {status}"
    assert response.body.decode().splitlines()[0] in client.handshake_exc.diagnosis


PARSER_REJECTIONS = [
    # name, request, status (None: no response, as websockets), reason in the diagnosis,
    # handshake_exc type, text of the advice, request line in the diagnosis
    ("request line too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414,
     "request line too long: read ", RequestLineTooLong, "shorten the URL", "unknown request"),
    ("header line too long", b"GET /x HTTP/1.1\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n", 431,
     "header line too long", HeaderLineTooLong, "large cookies", "'GET /x HTTP/1.1'"),
    ("too many headers", b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431,
     "too many headers: expected no more than 128 headers", TooManyHeaders, "up to 128 headers", "'GET / HTTP/1.1'"),
    ("http/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", None,
     "unsupported protocol; expected HTTP/1.1 or HTTP/1.0", InvalidMessage, "requires HTTP/1.1",
     "'GET / HTTP/2.0'"),
]


@pytest.mark.parametrize(
    "name, data, status, reason, exc_type, hint, logged_request",
    PARSER_REJECTIONS,
    ids=[case[0] for case in PARSER_REJECTIONS],
)
def test_server_rejects_what_the_http_parser_refuses(
    caplog, name, data, status, reason, exc_type, hint, logged_request
):
    server = ServerProtocol(logger=server_logger())
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        server.receive_data(data)
    assert server.events_received() == []
    writes = server.data_to_send()
    assert writes[-1] == SEND_EOF
    assert isinstance(server.handshake_exc, exc_type)
    if status is None:
        assert writes == [SEND_EOF]
        [diagnosis] = rejection_records(caplog)
        outcome = "connection closed without a response"
    else:
        head, _, body = writes[0].partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode())
        assert b"Content-Type: text/plain; charset=utf-8" in head
        assert body == f"Failed to open a WebSocket connection: {server.handshake_exc}.\n".encode()
        # websockets' words: accept() never ran, so not "connection rejected".
        line, diagnosis = rejection_records(caplog)
        outcome = line.getMessage()[len("HTTP response sent ("):-1]
        assert line.getMessage() == f"HTTP response sent ({outcome})"
        assert outcome.startswith(f"{status} ")
    message = diagnosis.getMessage()
    assert message.startswith(f"handshake from unknown peer failed: {logged_request} -> {outcome}: ")
    assert reason in message
    assert hint in message

    # websockets: the same handshake_exc type and the same bytes (a response, or none).
    if HAVE_WEBSOCKETS:
        theirs = ws_server.ServerProtocol()
        theirs.receive_data(data)
        assert type(theirs.handshake_exc).__name__ == exc_type.__name__
        their_writes = theirs.data_to_send()
        strip_date = lambda chunk: re.sub(rb"Date: [^\r]*\r\n", b"", chunk)  # noqa: E731
        assert [strip_date(w) for w in writes] == [strip_date(w) for w in their_writes]


def test_server_internal_error_in_select_subprotocol(caplog):
    def broken(protocol, subprotocols):
        raise RuntimeError("bug in application")

    server = ServerProtocol(select_subprotocol=broken, logger=server_logger())
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        response = handshake(server, request_bytes())
    assert response.status_code == 500
    assert response.body == (
        b"Failed to open a WebSocket connection.\nSee server log for more information.\n"
    )
    assert isinstance(server.handshake_exc, RuntimeError)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0].getMessage() == "opening handshake failed"
    assert [r.getMessage() for r in rejection_records(caplog)] == [
        "connection rejected (500 Internal Server Error)"
    ]


@needs_websockets
@pytest.mark.parametrize(
    "data, options",
    [
        (request_bytes(), {}),
        (request_bytes(extra=(("Origin", "https://evil"),)), {"origins": ["https://good"]}),
        (request_bytes(method="PUT"), {}),
        (request_bytes(protocol="HTTP/1.0"), {}),
        (request_bytes(drop=("Upgrade",)), {}),
        (request_bytes(drop=("Sec-WebSocket-Key",)), {}),
        (b"GET /" + b"a" * 9000, {}),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", {}),
    ],
)
def test_server_debug_logs_match_websockets(caplog, data, options):
    logs = {}
    for name, factory in [("ours", ServerProtocol), ("theirs", ws_server.ServerProtocol)]:
        logger = logging.getLogger(f"test.handshake.server-debug.{name}")
        logger.setLevel(logging.DEBUG)
        server = factory(logger=logger, **options)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            server.receive_data(data)
            requests = server.events_received()
            if requests:
                response = server.accept(requests[0])
                response.headers["Date"] = "fixed"
                server.send_response(response)
        logs[name] = [
            # A rejection's Date is the clock's: the two servers may log either side of a
            # second's boundary.
            ("> Date: <now>" if record.getMessage().startswith("> Date: ") else record.getMessage(),
             record.exc_info is not None)
            for record in caplog.records
            if record.levelno == logging.DEBUG and not record.getMessage().startswith("> [body]")
            and not record.getMessage().startswith("> Content-Length")
        ]
    assert logs["ours"] == logs["theirs"]


def test_rejection_log_uses_logger_adapter_peer(caplog):
    class Connection:
        remote_address = ("2001:db8::1", 443, 0, 0)

    adapter = logging.LoggerAdapter(server_logger(), {"websocket": Connection()})
    server = ServerProtocol(logger=adapter)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        handshake(server, request_bytes(drop=("Sec-WebSocket-Key",)))
    _, diagnosis = rejection_records(caplog)
    assert diagnosis.getMessage().startswith("handshake from [2001:db8::1]:443 failed: ")


def test_application_responses_are_logged_once(caplog):
    # websockets' line only: an application's own response has nothing to diagnose.
    server = ServerProtocol(logger=server_logger())
    feed_server(server, request_bytes(path="/health"))
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        server.send_response(server.reject(200, "OK\n"))
    assert [r.getMessage() for r in rejection_records(caplog)] == ["HTTP response sent (200 OK)"]

    server = ServerProtocol(logger=server_logger())
    [request] = feed_server(server, request_bytes())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        server.accept(request)
        server.send_response(server.reject(401, "Unauthorized\n"))
    assert [r.getMessage() for r in rejection_records(caplog)] == [
        "connection rejected (401 Unauthorized)"
    ]


def test_accepted_connection_logs_open(caplog):
    server = ServerProtocol(logger=server_logger())
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        handshake(server, request_bytes())
    assert [r.getMessage() for r in rejection_records(caplog)] == ["connection open"]


def test_request_exception_is_recorded():
    server = ServerProtocol()
    [request] = feed_server(server, request_bytes(drop=("Sec-WebSocket-Key",)))
    server.accept(request)
    assert isinstance(server.handshake_exc, InvalidHeader)
    assert request._exception is server.handshake_exc


# Origins, subprotocols, extensions -------------------------------------------------------------

ORIGINS = [
    (None, None, True),
    (None, "https://any.example", True),
    (["https://good.example"], "https://good.example", True),
    (["https://good.example"], "https://GOOD.example", False),
    ([re.compile(r"https://[a-z]+\.good\.example")], "https://app.good.example", True),
    ([re.compile(r"https://[a-z]+\.good\.example")], "https://app.good.example.evil", False),
    (["https://good.example", None], None, True),
    (["https://good.example"], None, False),
    ([], "https://good.example", False),
]


@pytest.mark.parametrize("origins, origin, accepted", ORIGINS)
def test_origins(origins, origin, accepted):
    extra = () if origin is None else (("Origin", origin),)
    data = request_bytes(extra=extra)
    ours = ServerProtocol(origins=origins)
    response = handshake(ours, data)
    if HAVE_WEBSOCKETS:
        theirs = ws_server.ServerProtocol(origins=origins)
        assert response.status_code == handshake(theirs, data).status_code
    assert (response.status_code == 101) is accepted
    if accepted:
        assert ours.origin == origin
    else:
        assert response.status_code == 403
        assert str(origin) in response.body.decode().splitlines()[0] or origin is None


def test_client_sends_origin_that_server_accepts():
    client = our_client(origin="https://good.example")
    server = ServerProtocol(origins=["https://good.example"])
    assert connect(client, server).status_code == 101


SUBPROTOCOLS = [
    # server subprotocols, client subprotocols, selected (or status)
    (None, None, None),
    (None, ["chat"], None),
    ([], ["chat"], None),
    (["chat"], ["chat"], "chat"),
    (["superchat", "chat"], ["chat", "superchat"], "superchat"),
    (["chat"], ["v2", "chat"], "chat"),
    (["chat"], None, 400),
    (["chat"], ["other"], 400),
]


@pytest.mark.parametrize("server_subprotocols, client_subprotocols, expected", SUBPROTOCOLS)
def test_subprotocol_negotiation(server_subprotocols, client_subprotocols, expected):
    outcomes = []
    pairs = [(our_client, ServerProtocol)]
    if HAVE_WEBSOCKETS:
        pairs += [(their_client, ServerProtocol), (our_client, ws_server.ServerProtocol)]
    for client_class, server_class in pairs:
        client = client_class(subprotocols=client_subprotocols)
        server = server_class(subprotocols=server_subprotocols)
        response = connect(client, server)
        if response.status_code == 101:
            assert client.subprotocol == server.subprotocol
            outcomes.append(client.subprotocol)
        else:
            outcomes.append(response.status_code)
    assert outcomes == [expected] * len(pairs)


def test_custom_select_subprotocol():
    def select(protocol, subprotocols):
        assert isinstance(protocol, ServerProtocol)
        return "chat" if "chat" in subprotocols else None

    server = ServerProtocol(subprotocols=["unused"], select_subprotocol=select)
    response = connect(our_client(subprotocols=["x", "chat"]), server)
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"
    server = ServerProtocol(subprotocols=["unused"], select_subprotocol=select)
    response = connect(our_client(subprotocols=["x"]), server)
    assert response.status_code == 101
    assert "Sec-WebSocket-Protocol" not in response.headers


EXTENSION_OFFERS = [
    ("permessage-deflate", True),
    ("permessage-deflate; client_max_window_bits", True),
    ("x-unknown, permessage-deflate; server_no_context_takeover", True),
    ("x-unknown", False),
    ("permessage-deflate; server_max_window_bits=7", False),
    ("permessage-deflate; unknown_param", False),
]


@pytest.mark.parametrize("offer, accepted", EXTENSION_OFFERS)
def test_server_extension_negotiation(offer, accepted):
    data = request_bytes(extra=(("Sec-WebSocket-Extensions", offer),))
    ours = ServerProtocol(extensions=our_deflate.enable_server_permessage_deflate(None))
    response = handshake(ours, data)
    assert response.status_code == 101
    assert bool(ours.extensions) is accepted
    if HAVE_WEBSOCKETS:
        extensions = ws_deflate.enable_server_permessage_deflate(None)
        their_response = handshake(ws_server.ServerProtocol(extensions=extensions), data)
        assert response.headers.get("Sec-WebSocket-Extensions") == their_response.headers.get(
            "Sec-WebSocket-Extensions"
        )


def test_server_without_extensions_ignores_offers():
    response = handshake(
        ServerProtocol(), request_bytes(extra=(("Sec-WebSocket-Extensions", "permessage-deflate"),))
    )
    assert "Sec-WebSocket-Extensions" not in response.headers


# Whole connections between implementations -----------------------------------------------------


def connect(client, server) -> Response:
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    response = server.accept(request)
    server.send_response(response)
    for data in server.data_to_send():
        if data:
            client.receive_data(data)
    events = client.events_received()
    assert events[0].status_code == response.status_code
    return response


def pump(sender, receiver) -> list:
    for data in sender.data_to_send():
        if data == SEND_EOF:
            receiver.receive_eof()
        else:
            receiver.receive_data(data)
    return receiver.events_received()


IMPLEMENTATIONS = {"ours": (our_client, ServerProtocol, our_deflate)}
if HAVE_WEBSOCKETS:  # Python 3.11+ (websockets_support)
    IMPLEMENTATIONS["theirs"] = (their_client, ws_server.ServerProtocol, ws_deflate)


@pytest.mark.parametrize(
    "client_impl, server_impl",
    [
        ("ours", "ours"),
        pytest.param("ours", "theirs", marks=needs_websockets),
        pytest.param("theirs", "ours", marks=needs_websockets),
    ],
)
@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("subprotocols", [None, ["chat"]])
def test_connection_between_implementations(client_impl, server_impl, deflate, subprotocols):
    client_factory, _, client_deflate = IMPLEMENTATIONS[client_impl]
    _, server_factory, server_deflate = IMPLEMENTATIONS[server_impl]
    client = client_factory(
        extensions=client_deflate.enable_client_permessage_deflate(None) if deflate else None,
        subprotocols=subprotocols,
    )
    server = server_factory(
        extensions=server_deflate.enable_server_permessage_deflate(None) if deflate else None,
        subprotocols=subprotocols,
    )
    response = connect(client, server)
    assert response.status_code == 101
    assert int(client.state) == int(server.state) == int(OPEN)
    assert client.subprotocol == server.subprotocol == (subprotocols[0] if subprotocols else None)
    assert len(client.extensions) == len(server.extensions) == (1 if deflate else 0)

    text = "ünïcödé and repetition " * 40
    client.send_text(text.encode())
    client.send_binary(b"\x00\x01" * 3000, fin=False)
    client.send_ping(b"ping")
    client.send_continuation(b"\x02" * 100, fin=True)
    events = pump(client, server)
    assert [int(e.opcode) for e in events] == [1, 2, 9, 0]
    assert bytes(events[0].data).decode() == text
    assert [int(e.opcode) for e in pump(server, client)] == [10]

    server.send_text("réponse ".encode() * 100)
    server.send_binary(bytes(range(256)) * 20)
    events = pump(server, client)
    assert [bytes(e.data) for e in events] == ["réponse ".encode() * 100, bytes(range(256)) * 20]

    client.send_close(1000, "bye")
    events = pump(client, server)
    assert [int(e.opcode) for e in events] == [8]
    assert [int(e.opcode) for e in pump(server, client)] == [8]  # echo, then EOF
    pump(client, server)
    assert int(client.state) == int(server.state) == int(CLOSED)
    assert client.close_code == server.close_code == 1000
    assert client.close_exc.__class__.__name__.startswith("ConnectionClosedOK")


def test_server_frame_reader_uses_negotiated_extensions():
    client = our_client(extensions=our_deflate.enable_client_permessage_deflate(None))
    server = ServerProtocol(extensions=our_deflate.enable_server_permessage_deflate(None))
    connect(client, server)
    client.send_text(b"compressed " * 100)
    [event] = pump(client, server)
    assert bytes(event.data) == b"compressed " * 100 and event.rsv1 is False
    assert server.frame_reader is not None


def test_size_and_fragment_limits_reach_the_frame_reader():
    client = our_client(max_size=(1000, 100), max_fragments=2)
    server = ServerProtocol(max_size=(1000, 100), max_fragments=2)
    connect(client, server)
    assert (server.max_message_size, server.max_fragment_size) == (1000, 100)
    assert (client.max_message_size, client.max_fragment_size) == (1000, 100)
    client.send_binary(b"a", fin=False)
    client.send_continuation(b"b", fin=False)
    client.send_continuation(b"c", fin=True)
    pump(client, server)
    [close] = [data for data in server.data_to_send() if data]
    reason = b"fragmented message exceeds limit of 2 frames"
    assert close == bytes((0x88, 2 + len(reason))) + b"\x03\xf1" + reason

    server = ServerProtocol(max_size=(1000, 100))
    client = our_client()
    connect(client, server)
    client.send_binary(b"x" * 101)
    pump(client, server)
    [close] = [data for data in server.data_to_send() if data]
    assert close.endswith(b"\x03\xf1frame with 101 bytes exceeds limit of 100 bytes")
