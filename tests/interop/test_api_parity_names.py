"""Behaviour of the names wsfast provides for websockets compatibility only.

tests/interop/test_api_parity.py checks that they exist, with websockets' signatures and
deprecation warnings; here they are run, against websockets' own where it is installed.
"""

from __future__ import annotations

import asyncio
import io
import socket
import sys
import types
import warnings

import pytest

import wsfast
from wsfast import cli, frames, imports, proxy, utils
from wsfast.asyncio.messages import SimpleQueue
from wsfast.uri import parse_proxy, parse_uri

try:
    import websockets
    import websockets.cli
    import websockets.proxy
    import websockets.utils
except ImportError:  # pragma: no cover - websockets is a test dependency
    websockets = None

needs_websockets = pytest.mark.skipif(websockets is None, reason="websockets isn't installed")


# imports.lazy_import ----------------------------------------------------------------------------


def _namespace() -> dict[str, object]:
    return {"__name__": "wsfast", "__package__": "wsfast", "existing": 1}


def test_lazy_import_resolves_aliases_and_warns_for_deprecated_ones() -> None:
    namespace = _namespace()
    imports.lazy_import(
        namespace,
        aliases={"Frame": ".frames"},
        deprecated_aliases={"Opcode": ".frames", "messages": ".asyncio"},
    )
    getattr_, dir_ = namespace["__getattr__"], namespace["__dir__"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr_("Frame") is frames.Frame
    with pytest.warns(DeprecationWarning) as caught:
        assert getattr_("Opcode") is frames.Opcode
    assert [str(item.message) for item in caught] == ["wsfast.Opcode is deprecated"]
    with pytest.warns(DeprecationWarning):
        assert isinstance(getattr_("messages"), types.ModuleType)  # a submodule
    with pytest.raises(AttributeError, match="module 'wsfast' has no attribute 'nothing'"):
        getattr_("nothing")
    assert list(dir_()) == ["Frame", "Opcode", "__name__", "__package__", "existing", "messages"]


@pytest.mark.parametrize(
    ("aliases", "deprecated"),
    [({"existing": ".frames"}, None), (None, {"existing": ".frames"}), ({"a": "."}, {"a": "."})],
)
def test_lazy_import_refuses_overlapping_names(aliases, deprecated) -> None:
    with pytest.raises(AssertionError, match="namespace conflict"):
        imports.lazy_import(_namespace(), aliases=aliases, deprecated_aliases=deprecated)


# Deprecated aliases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "target"),
    [("InvalidStatusCode", "InvalidStatus"), ("WebSocketProtocolError", "ProtocolError")],
)
def test_top_level_deprecated_aliases(alias: str, target: str) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        assert getattr(wsfast, alias) is getattr(wsfast.exceptions, target)
    assert [str(item.message) for item in caught] == [f"wsfast.{alias} is deprecated"]
    assert alias in dir(wsfast)
    assert alias not in wsfast.__all__


def test_sync_server_websocket_server_alias() -> None:
    import wsfast.sync.server

    with pytest.warns(DeprecationWarning, match="^WebSocketServer was renamed to Server$"):
        assert wsfast.sync.server.WebSocketServer is wsfast.sync.server.Server


def test_deprecated_connection_module_is_protocol() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import wsfast.connection
    assert wsfast.connection.Connection is wsfast.protocol.Protocol
    assert wsfast.connection.SEND_EOF is wsfast.protocol.SEND_EOF


# utils.get_socket_name --------------------------------------------------------------------------


def _families() -> list[tuple[int, str]]:
    families = [(socket.AF_INET, "127.0.0.1")]
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::1"))
    return families


@pytest.mark.parametrize(("family", "host"), _families())
def test_get_socket_name_ip(family: int, host: str) -> None:
    with socket.socket(family) as sock:
        try:
            sock.bind((host, 0))
        except OSError:  # pragma: no cover - no IPv6 loopback here
            pytest.skip(f"can't bind {host}")
        port = sock.getsockname()[1]
        expected = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        assert utils.get_socket_name(sock) == expected
        if websockets is not None:
            assert websockets.utils.get_socket_name(sock) == expected


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_get_socket_name_unix(tmp_path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)
        assert utils.get_socket_name(sock) == path


# proxy.prepare_connect_request ------------------------------------------------------------------


@needs_websockets
@pytest.mark.parametrize("proxy_uri", ["http://proxy:8080", "http://user:p%40ss@proxy:8080"])
@pytest.mark.parametrize("ws_uri", ["ws://example.com/chat", "wss://example.com:8443/"])
@pytest.mark.parametrize("user_agent", ["agent/1", None])
def test_prepare_connect_request_like_websockets(proxy_uri, ws_uri, user_agent) -> None:
    ours = proxy.prepare_connect_request(parse_proxy(proxy_uri), parse_uri(ws_uri), user_agent)
    theirs = websockets.proxy.prepare_connect_request(
        websockets.proxy.parse_proxy(proxy_uri), websockets.uri.parse_uri(ws_uri), user_agent
    )
    assert ours == theirs


def test_prepare_connect_request_sends_wsfast_user_agent_by_default() -> None:
    request = proxy.prepare_connect_request(
        parse_proxy("http://proxy:8080"), parse_uri("ws://example.com/")
    )
    assert request.startswith(b"CONNECT example.com:80 HTTP/1.1\r\n")
    assert f"User-Agent: {wsfast.http11.USER_AGENT}\r\n".encode() in request


# asyncio.messages.SimpleQueue -------------------------------------------------------------------


def test_simple_queue() -> None:
    async def main() -> None:
        queue: SimpleQueue[int] = SimpleQueue()
        queue.put(1)
        queue.put_back([-1, 0])
        assert len(queue) == 3
        assert [await queue.get() for _ in range(3)] == [-1, 0, 1]
        with pytest.raises(EOFError):
            await queue.get(block=False)
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        with pytest.raises(AssertionError):
            await queue.get()
        with pytest.raises(AssertionError):
            queue.put_back([5])
        queue.put(2)
        assert await getter == 2
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        queue.abort()
        with pytest.raises(EOFError, match="stream of frames ended"):
            await getter

    asyncio.run(main())


# frames helpers ---------------------------------------------------------------------------------


@needs_websockets
@pytest.mark.parametrize(
    "data", [b"", b"abc", b"\x80\x80abc", b"caf\xc3", b"caf\xc3\xa9", b"\xff", b"\x00a", b"\xe2\x82"]
)
def test_frame_helpers_like_websockets(data: bytes) -> None:
    import websockets.frames

    for start in (False, True):
        for end in (False, True):
            assert frames.is_utf8_fragment(data, start, end) == (
                websockets.frames.is_utf8_fragment(data, start, end)
            )
    assert bool(frames.is_space_or_printable_ascii(data)) == bool(
        websockets.frames.is_space_or_printable_ascii(data)
    )


# cli helpers ------------------------------------------------------------------------------------


@needs_websockets
def test_cli_printing_helpers_like_websockets(capsys) -> None:
    text = "".join(map(chr, range(256)))
    assert cli.escape(text) == websockets.cli.escape(text)
    for ours, theirs in [
        (cli.print_during_input, websockets.cli.print_during_input),
        (cli.print_over_input, websockets.cli.print_over_input),
    ]:
        ours("< hello")
        our_output = capsys.readouterr().out
        theirs("< hello")
        assert our_output == capsys.readouterr().out


def test_cli_read_outgoing_messages(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("one\r\ntwo\n"))
    sent, ended = [], []
    cli.read_outgoing_messages(sent.append, lambda: ended.append(True))
    assert sent == ["one", "two"]
    assert ended == [True]
    assert capsys.readouterr().out == "> > > "


def test_cli_send_and_print_messages(capsys) -> None:
    class FakeConnection:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, message: str) -> None:
            if message == "closed":
                raise wsfast.ConnectionClosed(None, None)
            self.sent.append(message)

        def __aiter__(self):
            async def messages():
                yield "hi\x1b"
                yield b"\x01\x02"

            return messages()

    async def main() -> FakeConnection:
        connection = FakeConnection()
        queue: asyncio.Queue[str] = asyncio.Queue()
        for message in ("a", "b", "closed"):
            queue.put_nowait(message)
        await cli.send_outgoing_messages(connection, queue)  # returns once closed
        await cli.print_incoming_messages(connection)
        return connection

    connection = asyncio.run(main())
    assert connection.sent == ["a", "b"]
    output = capsys.readouterr().out
    assert "< hi\\x1b\n" in output
    assert "< (binary) 0102\n" in output
