"""wsfast.asyncio against websockets.asyncio 17.4 in corner cases where they once differed.

Each test runs the same scenario on wsfast (on the Cython codec and on the pure-Python twin,
conftest.active_codec) and, where it's installed, on websockets, which is the reference: a
test that passes on websockets and fails on wsfast is a compatibility bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
import time

import pytest
from asyncio_support import TIMEOUT, run
from sync_support import CLOSE, close_payload, opcodes, raw_client
from websockets_support import layer_modules, lib_param

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

LIBS = pytest.mark.parametrize("lib", ["wsfast", lib_param("websockets")])


def modules(lib):
    """The asyncio modules of ``lib`` ("wsfast" or "websockets") as a namespace."""
    return layer_modules(lib, "asyncio")


@contextlib.asynccontextmanager
async def serving(lib, handler, **kwargs):
    """A server of ``lib`` on 127.0.0.1, an ephemeral port; yields (server, URI)."""
    async with modules(lib).server.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}"


async def connection_pair(lib, **kwargs):
    """Two ``Connection`` objects built directly on open protocols, over a socket pair:
    the documented base class used with a custom transport. Returns (client, server)."""
    mods = modules(lib)
    loop = asyncio.get_running_loop()
    client_sock, server_sock = socket.socketpair()
    connections = []
    for side, sock in [("CLIENT", client_sock), ("SERVER", server_sock)]:
        protocol = mods.protocol.Protocol(
            getattr(mods.protocol.Side, side), state=mods.protocol.State.OPEN
        )
        _, connection = await loop.create_connection(
            lambda protocol=protocol: mods.connection.Connection(protocol, **kwargs), sock=sock
        )
        connections.append(connection)
    return connections


def ignore_pings_answer_close(peer):
    """A raw client that answers no ping but echoes the server's close frame, then closes
    the TCP connection once the server does."""
    peer.wait_for(lambda frames: CLOSE in opcodes(frames), TIMEOUT)
    peer.send(CLOSE, close_payload(1000))
    peer.wait_eof(TIMEOUT)
    peer.close()


async def agen(items):
    for item in items:
        yield item


# 1. Connection built directly on an open protocol ------------------------------------------


@LIBS
def test_connection_on_open_protocol_receives(lib):
    async def main():
        client, server = await connection_pair(lib)
        await client.send("hello")
        assert await asyncio.wait_for(server.recv(), TIMEOUT) == "hello"
        await server.send([b"frag", b"ments"])
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == b"fragments"
        pong = await client.ping()
        await asyncio.wait_for(pong, TIMEOUT)
        await asyncio.wait_for(client.close(), TIMEOUT)
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        assert client.close_code == server.close_code == 1000

    run(main())


# 6. A fragmented send() with a chunk of the wrong type -------------------------------------

BAD_ITERABLES = [["text", b"bytes"], [b"bytes", "text"], ["text", 42], [42], [b"x", None]]


def expected_type_error(items, asynchronous):
    kind = "async iterable" if asynchronous else "iterable"
    if isinstance(items[0], (str, bytes)):
        return f"{kind} must contain uniform types"
    return f"{kind} must contain bytes or str"


@LIBS
@pytest.mark.parametrize("side", ["client", "server"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["iterable", "async_iterable"])
@pytest.mark.parametrize("items", BAD_ITERABLES, ids=repr)
def test_send_bad_iterable_raises_type_error_on_connection_pair(lib, items, asynchronous, side):
    async def main():
        client, server = await connection_pair(lib, close_timeout=TIMEOUT)
        sender, receiver = (client, server) if side == "client" else (server, client)
        message = agen(items) if asynchronous else iter(items)
        with pytest.raises(TypeError) as raised:
            await asyncio.wait_for(sender.send(message), TIMEOUT)
        assert str(raised.value) == expected_type_error(items, asynchronous)
        assert sender.protocol.close_sent.code == 1011
        await asyncio.wait_for(receiver.wait_closed(), TIMEOUT)

    run(main())


@LIBS
@pytest.mark.parametrize("asynchronous", [False, True], ids=["iterable", "async_iterable"])
def test_server_send_bad_iterable_raises_type_error_at_once(lib, asynchronous):
    # The client echoes the close frame before closing: the server, which failed the
    # connection, must discard that echo and see the end of the stream right away.
    raised = []

    async def handler(ws):
        started = time.monotonic()
        try:
            await ws.send(agen(["text", b"bytes"]) if asynchronous else ["text", b"bytes"])
        except Exception as exc:
            raised.append((exc, time.monotonic() - started))

    async def main():
        async with serving(lib, handler, close_timeout=TIMEOUT) as (server, uri):
            port = server.sockets[0].getsockname()[1]
            peer = await asyncio.to_thread(raw_client, port)
            await asyncio.to_thread(ignore_pings_answer_close, peer)

    run(main())
    [(exc, elapsed)] = raised
    assert isinstance(exc, TypeError), repr(exc)
    assert elapsed < TIMEOUT / 2


# 8. Keepalive timeout on the server ---------------------------------------------------------


@LIBS
def test_server_reaches_closed_after_keepalive_timeout(lib):
    # The client ignores pings but answers the close frame: the server failed the connection
    # and discards the answer; it is CLOSED once the client closes the TCP connection, not
    # after close_timeout, and without a close frame received (1006).
    observed = {}

    async def handler(ws):
        started = time.monotonic()
        while ws.state is not modules(lib).protocol.State.CLOSED:
            await asyncio.sleep(0.01)
        observed["elapsed"] = time.monotonic() - started
        observed["close_code"] = ws.close_code
        observed["close_sent"] = ws.protocol.close_sent.code

    async def main():
        async with serving(
            lib, handler, ping_interval=0.1, ping_timeout=0.1, close_timeout=TIMEOUT
        ) as (server, uri):
            port = server.sockets[0].getsockname()[1]
            peer = await asyncio.to_thread(raw_client, port)
            await asyncio.to_thread(ignore_pings_answer_close, peer)

    run(main())
    assert observed["close_sent"] == 1011
    assert observed["close_code"] == 1006
    assert observed["elapsed"] < TIMEOUT / 2


# 2. connect() isn't reentrant ---------------------------------------------------------------


@LIBS
def test_connect_is_not_reentrant(lib):
    requests = []

    def process_request(ws, request):
        requests.append(request)  # before the response: before connect() returns

    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with serving(lib, handler, process_request=process_request) as (_, uri):
            connecter = modules(lib).client.connect(uri)
            async with connecter as ws:
                with pytest.raises(RuntimeError, match=r"^connect\(\) isn't reentrant$"):
                    async with connecter:
                        pass  # pragma: no cover
                # The first connection is still the one in use, and the only one opened.
                await ws.send("still open")
                assert ws.state is modules(lib).protocol.State.OPEN
            assert ws.state is modules(lib).protocol.State.CLOSED
            assert len(requests) == 1
            # Once exited, it can be entered again.
            async with connecter as ws2:
                assert ws2 is not ws

    run(main())


# 3. recv_streaming() abandoned after its first fragment ------------------------------------


async def slow_fragments():
    yield "first"
    await asyncio.sleep(0.2)
    yield "second"


@LIBS
@pytest.mark.parametrize("how", ["cancel", "break"])
def test_recv_streaming_abandoned_after_first_fragment_is_unusable(lib, how):
    exceptions = modules(lib).exceptions

    async def handler(ws):
        with contextlib.suppress(exceptions.ConnectionClosed):
            await ws.send(slow_fragments())
            await ws.send("next")
        await ws.wait_closed()

    async def main():
        async with serving(lib, handler) as (_, uri), modules(lib).client.connect(uri) as ws:
            fragments = []

            async def consume():
                async for fragment in ws.recv_streaming():
                    fragments.append(fragment)
                    if how == "break":
                        break

            task = asyncio.create_task(consume())
            while not fragments:
                await asyncio.sleep(0.01)
            if how == "cancel":
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert fragments == ["first"]
            await asyncio.sleep(0.3)  # the rest of the message arrived
            with pytest.raises(exceptions.ConcurrencyError):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            with pytest.raises(exceptions.ConcurrencyError):
                await asyncio.wait_for(anext(ws.recv_streaming()), TIMEOUT)

    run(main())


@LIBS
def test_recv_streaming_cancelled_before_first_fragment_changes_nothing(lib):
    async def handler(ws):
        await ws.recv()  # once the client's recv_streaming() is cancelled
        await ws.send(["a", "b"])
        await ws.wait_closed()

    async def main():
        async with serving(lib, handler) as (_, uri), modules(lib).client.connect(uri) as ws:
            waiting = asyncio.create_task(anext(ws.recv_streaming()))
            await asyncio.sleep(0)
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await ws.send("go")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ab"

    run(main())


# 4. process_request closes the connection before the response ------------------------------


@LIBS
@pytest.mark.parametrize("hook", ["process_request", "process_response"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["function", "coroutine"])
def test_connection_closed_before_the_response_logs_no_error(lib, hook, asynchronous):
    # The autouse no_error_logs fixture fails the test on an ERROR record.
    handled = []

    def close_transport(ws, *args):
        ws.transport.close()

    async def close_transport_and_wait(ws, *args):
        ws.transport.close()
        await asyncio.sleep(0.05)  # connection_lost() runs meanwhile

    async def handler(ws):
        handled.append(ws)  # pragma: no cover - never reached

    async def main():
        hooks = {hook: close_transport_and_wait if asynchronous else close_transport}
        async with serving(lib, handler, **hooks) as (server, uri):
            with pytest.raises(modules(lib).exceptions.InvalidMessage):
                await modules(lib).client.connect(uri)
            # The server still works.
            async with serving(lib, handler) as (_, other_uri):
                pass
            await asyncio.sleep(0.05)

    run(main())
    assert handled == []


# 7. A write that fails in send() is the cause of ConnectionClosedError ---------------------

MESSAGES = ["text", b"bytes", ["frag", "ments"]]


@LIBS
@pytest.mark.parametrize("message", MESSAGES, ids=repr)
def test_failed_write_is_the_cause_of_connection_closed(lib, message):
    exceptions = modules(lib).exceptions

    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with serving(lib, handler) as (_, uri):
            ws = await modules(lib).client.connect(uri)
            failure = OSError("write failed")

            def write(data):
                raise failure

            ws.transport.write = write
            with pytest.raises(exceptions.ConnectionClosedError) as raised:
                await asyncio.wait_for(ws.send(message), TIMEOUT)
            assert raised.value.__cause__ is failure
            assert ws.state is modules(lib).protocol.State.CLOSED

    run(main())


@LIBS
def test_close_timeout_is_the_cause_of_connection_closed(lib):
    # A peer that never answers the close frame of a failed fragmented send.
    from sync_support import RawServer

    async def main():
        with RawServer() as peer:
            async with modules(lib).client.connect(
                peer.uri, close_timeout=0.2, compression=None
            ) as ws:
                with pytest.raises(modules(lib).exceptions.ConnectionClosedError) as raised:
                    await asyncio.wait_for(ws.send(["text", b"bytes"]), TIMEOUT)
                assert isinstance(raised.value.__cause__, TimeoutError)

    run(main())


# 9. close() during a fragmented send() ------------------------------------------------------


@LIBS
@pytest.mark.parametrize("side", ["client", "server"])
def test_close_during_fragmented_send_fails_at_once(lib, side):
    exceptions = modules(lib).exceptions
    observed = {}

    async def slow_fragments(started):
        yield "part"
        started.set()
        while True:
            await asyncio.sleep(0.05)
            yield "more"

    async def close_while_sending(ws):
        started = asyncio.Event()
        sending = asyncio.create_task(ws.send(slow_fragments(started)))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        t0 = time.monotonic()
        await ws.close()
        observed["close_took"] = time.monotonic() - t0
        observed["close_sent"] = ws.protocol.close_sent.code
        # The peer's answer to the close frame is discarded (RFC 6455 §7.1.7).
        observed["close_code"] = ws.close_code
        with pytest.raises(exceptions.ConnectionClosedError):
            await asyncio.wait_for(sending, TIMEOUT)

    async def handler(ws):
        if side == "server":
            await close_while_sending(ws)
        else:
            with contextlib.suppress(exceptions.ConnectionClosed):
                async for _ in ws:
                    pass

    async def main():
        async with serving(lib, handler, close_timeout=TIMEOUT) as (_, uri):
            ws = await modules(lib).client.connect(uri, close_timeout=TIMEOUT)
            if side == "client":
                await close_while_sending(ws)
            else:
                with contextlib.suppress(exceptions.ConnectionClosed):
                    async for _ in ws:
                        pass
                await ws.wait_closed()

    run(main(), timeout=3 * TIMEOUT)
    assert observed["close_sent"] == 1011
    assert observed["close_code"] == 1006
    assert observed["close_took"] < TIMEOUT / 2


# 10. unix_connect() with both path and sock -------------------------------------------------


@LIBS
def test_unix_connect_path_and_sock(lib, tmp_path):
    # websockets leaves the check to asyncio's create_unix_connection(), with its words.
    async def main():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with pytest.raises(
                ValueError, match=r"^path and sock can not be specified at the same time$"
            ):
                await modules(lib).client.unix_connect(path=str(tmp_path / "sock"), sock=sock)
        finally:
            sock.close()

    run(main())


# 12. Server(create_server, handler, logger=None) --------------------------------------------


def test_server_init_signature_is_websockets():
    import inspect

    from websockets_support import websockets_module

    ours = inspect.signature(modules("wsfast").server.Server.__init__)
    assert list(ours.parameters) == ["self", "create_server", "handler", "logger"]
    assert ours.parameters["logger"].default is None
    assert all(
        p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in ours.parameters.values()
    )
    theirs = inspect.signature(websockets_module("websockets.asyncio.server").Server.__init__)
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()
    ]


@LIBS
def test_server_built_directly(lib):
    # As with websockets: the handler runs for each connection from the handshake on.
    mods = modules(lib)
    server_module = mods.server
    server_protocol = importlib.import_module(f"{lib}.server").ServerProtocol

    async def handler(connection):
        await connection.handshake()
        message = await connection.recv()
        await connection.send(message)
        await connection.close()

    async def main():
        loop = asyncio.get_running_loop()

        def create_server():
            return loop.create_server(
                lambda: server_module.ServerConnection(server_protocol(), server),
                "127.0.0.1",
                0,
            )

        server = server_module.Server(create_server, handler)
        async with server:
            port = server.sockets[0].getsockname()[1]
            async with mods.client.connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello"

    run(main())
