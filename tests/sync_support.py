"""What the threading-layer interop tests share: a bounded runner, servers run in threads,
and raw peers that speak WebSocket by hand.

Nothing here blocks without a time limit: pytest-timeout isn't available, so :func:`run`
runs a test body in a daemon thread and fails the test when it outlives its timeout, and
every server, socket read and join below is bounded too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import struct
import sys
import threading
import time
import traceback

from wire import raw_frame

TIMEOUT = 10
SHUTDOWN_TIMEOUT = 10

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# Bounded execution -----------------------------------------------------------------------


def run(func, timeout=TIMEOUT):
    """Call ``func()`` in a daemon thread; fail after ``timeout`` seconds instead of hanging.

    Exceptions raised by ``func`` (assertion failures and pytest outcomes included) are
    re-raised in the calling thread. On timeout, the stack of the stuck thread is part of
    the error message.
    """
    result = {}

    def target():
        try:
            result["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - pytest outcomes are BaseException
            result["exc"] = exc

    thread = threading.Thread(target=target, name="test body", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        frame = sys._current_frames().get(thread.ident)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "?"
        raise TimeoutError(f"test timed out after {timeout} s; test body at:\n{stack}")
    if "exc" in result:
        raise result["exc"]
    return result.get("value")


def start_thread(target, *args, **kwargs):
    """Start ``target`` in a daemon thread; ``join_thread`` it later."""
    thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def join_thread(thread, timeout=TIMEOUT):
    thread.join(timeout)
    assert not thread.is_alive(), f"{thread.name} still running after {timeout} s"


class Background:
    """Run a callable in a thread; ``result(timeout)`` returns its value or raises."""

    def __init__(self, func, *args, **kwargs):
        self._result = {}
        self._done = threading.Event()

        def target():
            try:
                self._result["value"] = func(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001
                self._result["exc"] = exc
            finally:
                self._done.set()

        self.thread = start_thread(target)

    def done(self):
        return self._done.is_set()

    def result(self, timeout=TIMEOUT):
        if not self._done.wait(timeout):
            raise TimeoutError(f"background call still running after {timeout} s")
        if "exc" in self._result:
            raise self._result["exc"]
        return self._result.get("value")

    def exception(self, timeout=TIMEOUT):
        if not self._done.wait(timeout):
            raise TimeoutError(f"background call still running after {timeout} s")
        return self._result.get("exc")


# Servers in threads ----------------------------------------------------------------------


def stop_server(server, thread, timeout=SHUTDOWN_TIMEOUT):
    """Call ``server.shutdown()`` and join ``serve_forever()``; True if both finished."""
    closer = start_thread(server.shutdown)
    closer.join(timeout)
    thread.join(timeout)
    return not closer.is_alive() and not thread.is_alive()


@contextlib.contextmanager
def serving_sync(serve, handler, *args, **kwargs):
    """A threading server (wsfast.sync or websockets.sync) running ``serve_forever()`` in a
    thread; yields the server and shuts it down on exit, within a time limit."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    server = serve(handler, *args, **kwargs)
    thread = start_thread(server.serve_forever)
    try:
        yield server
    finally:
        stopped = stop_server(server, thread)
    assert stopped, "server didn't shut down in time"


def port_of(server):
    return server.socket.getsockname()[1]


class LoopThread:
    """An asyncio event loop running in a thread, for asyncio servers next to sync clients."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = start_thread(self.loop.run_forever)

    def call(self, coro, timeout=TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        async def cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)

        with contextlib.suppress(Exception):
            self.call(cancel_all(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def serving_asyncio(serve, handler, **kwargs):
    """An asyncio server (wsfast.asyncio or websockets.asyncio) in a loop of its own
    thread; yields its ws:// URI."""
    loop_thread = LoopThread()

    async def start():
        return await serve(handler, "127.0.0.1", 0, **kwargs)

    try:
        server = loop_thread.call(start())
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}"
        finally:

            async def stop():
                server.close()
                await asyncio.wait_for(server.wait_closed(), SHUTDOWN_TIMEOUT)

            loop_thread.call(stop(), timeout=SHUTDOWN_TIMEOUT + 2)
    finally:
        loop_thread.close()


# Frames by hand --------------------------------------------------------------------------


def build_frame(opcode, payload=b"", *, fin=True, mask=False, rsv1=False):
    """A frame built by hand (tests/wire.py); ``mask``: with a random key, as clients send."""
    return raw_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=os.urandom(4) if mask else None)


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode()


def close_code_of(payload):
    return struct.unpack("!H", payload[:2])[0]


def parse_frames(data):
    """[(opcode, payload, masked)] for the complete frames in ``data``."""
    frames = []
    i = 0
    while i + 2 <= len(data):
        opcode = data[i] & 0x0F
        masked = bool(data[i + 1] & 0x80)
        length = data[i + 1] & 0x7F
        j = i + 2
        if length == 126:
            if j + 2 > len(data):
                break
            length = struct.unpack("!H", data[j : j + 2])[0]
            j += 2
        elif length == 127:
            if j + 8 > len(data):
                break
            length = struct.unpack("!Q", data[j : j + 8])[0]
            j += 8
        key = b""
        if masked:
            key = data[j : j + 4]
            j += 4
        payload = bytes(data[j : j + length])
        if len(payload) < length or len(key) < (4 if masked else 0):
            break
        if masked:
            payload = bytes(b ^ key[k % 4] for k, b in enumerate(payload))
        frames.append((opcode, payload, masked))
        i = j + length
    return frames


def opcodes(frames):
    return [opcode for opcode, _, _ in frames]


# Raw peers -------------------------------------------------------------------------------


def read_http_head(sock, timeout=TIMEOUT):
    """Read up to the blank line that ends an HTTP head; return (head, bytes after it)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.settimeout(None)
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def header_value(head, name):
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class Peer:
    """One end of a connection driven by hand: records what it receives, sends frames."""

    def __init__(self, sock, *, mask):
        self.sock = sock
        self.mask = mask
        self.received = bytearray()
        self.request_head = None
        self.changed = threading.Condition()
        self.eof = threading.Event()
        self.reader = None

    def start_reading(self, initial=b""):
        self.received += initial
        self.reader = start_thread(self._read_until_eof)

    def _read_until_eof(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                with self.changed:
                    self.received += chunk
                    self.changed.notify_all()
        except OSError:
            pass
        with self.changed:
            self.eof.set()
            self.changed.notify_all()

    def frames(self):
        with self.changed:
            return parse_frames(bytes(self.received))

    def wait_for(self, predicate, timeout=5):
        """Wait until ``predicate(frames)`` holds; fail after ``timeout`` seconds."""
        with self.changed:
            ok = self.changed.wait_for(
                lambda: predicate(parse_frames(bytes(self.received))), timeout
            )
        assert ok, f"timed out waiting; frames received: {self.frames()!r:.500}"

    def wait_eof(self, timeout=5):
        assert self.eof.wait(timeout), "the other side didn't close the TCP connection"

    def send(self, opcode, payload=b"", **kwargs):
        kwargs.setdefault("mask", self.mask)
        self.sock.sendall(build_frame(opcode, payload, **kwargs))

    def send_raw(self, data):
        self.sock.sendall(data)

    def close(self):
        # shutdown() wakes the reading thread, which close() alone doesn't on Linux.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.reader is not None:
            self.reader.join(5)


class RawServer:
    """A TCP server that answers the opening handshake by hand, then only records data.

    With ``respond=False``, it accepts and reads the request but never answers. ``peers``
    lists one :class:`Peer` per accepted connection.
    """

    def __init__(self, *, respond=True, response_head=None):
        self.respond = respond
        self.response_head = response_head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.uri = f"ws://127.0.0.1:{self.port}/"
        self.peers = []
        self.connected = threading.Condition()
        self.thread = start_thread(self._accept_loop)

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            peer = Peer(sock, mask=False)
            try:
                head, rest = read_http_head(sock)
                peer.request_head = head
                if self.response_head is not None:
                    sock.sendall(self.response_head(head).encode())
                elif self.respond:
                    key = header_value(head, "Sec-WebSocket-Key")
                    sock.sendall(
                        (
                            "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
                        ).encode()
                    )
                peer.start_reading(rest)
            except OSError:
                pass
            with self.connected:
                self.peers.append(peer)
                self.connected.notify_all()

    @property
    def peer(self):
        """The first connection's peer, once it's accepted."""
        with self.connected:
            assert self.connected.wait_for(lambda: self.peers, 5), "no connection accepted"
            return self.peers[0]

    def close(self):
        # shutdown() wakes accept() on Linux, which close() alone doesn't.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        self.thread.join(5)
        for peer in self.peers:
            peer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def raw_client(port, *, handshake=True, path="/", extra_headers=""):
    """Connect to a server on 127.0.0.1 and perform the opening handshake by hand (no
    extension); return a reading :class:`Peer`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.settimeout(None)
    peer = Peer(sock, mask=True)
    if not handshake:
        peer.start_reading()
        return peer
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra_headers}\r\n"
        ).encode()
    )
    head, rest = read_http_head(sock)
    assert head.startswith("HTTP/1.1 101"), head
    assert header_value(head, "Sec-WebSocket-Accept") == accept_key(key)
    peer.start_reading(rest)
    return peer


class SplittingRelay:
    """A TCP relay to ``127.0.0.1:target_port`` that splits what one side sends.

    Each chunk from the server (``split="server"``) or from the client (``split="client"``)
    goes on in two writes ``delay`` seconds apart, so that a TLS record arrives in two
    parts. Bytes in the other direction pass unchanged.
    """

    def __init__(self, target_port, *, split="server", delay=0.05):
        assert split in ("server", "client")
        self.target_port = target_port
        self.split = split
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.threads = [start_thread(self._accept_loop)]

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            self.sockets += [client, server]
            self.threads.append(
                start_thread(self._pump, client, server, split=self.split == "client")
            )
            self.threads.append(
                start_thread(self._pump, server, client, split=self.split == "server")
            )

    def _pump(self, source, destination, *, split):
        pump(source, destination, split_delay=self.delay if split else None)

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self.threads:
            thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def pump(source, destination, *, split_delay=None):
    """Copy bytes from ``source`` to ``destination`` until EOF, then half-close.

    With ``split_delay``, each chunk goes on in two writes that many seconds apart.
    """
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if split_delay is not None and len(data) > 1:
                half = len(data) // 2
                destination.sendall(data[:half])
                time.sleep(split_delay)
                destination.sendall(data[half:])
            else:
                destination.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        destination.shutdown(socket.SHUT_WR)


class ConnectProxy:
    """A tiny threaded HTTP proxy that only does CONNECT (RFC 9110 §9.3.6).

    ``requests`` records each request's head. With ``status`` other than 200, it answers
    that status (plus ``headers``, raw header lines) and closes; with ``raw_response``, it
    sends those bytes instead; with ``respond=False``, it never answers.
    """

    def __init__(self, *, status=200, headers="", raw_response=None, respond=True):
        self.status = status
        self.headers = headers
        self.raw_response = raw_response
        self.respond = respond
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = []
        self.sockets = []
        self.threads = [start_thread(self._accept_loop)]

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            self.threads.append(start_thread(self._handle, client))

    def _handle(self, client):
        try:
            head, rest = read_http_head(client)
            self.requests.append(head)
            if not self.respond:
                return
            if self.raw_response is not None:
                client.sendall(self.raw_response)
                client.shutdown(socket.SHUT_RDWR)
                return
            if self.status != 200:
                client.sendall(
                    f"HTTP/1.1 {self.status} Nope\r\n{self.headers}"
                    "Content-Length: 0\r\n\r\n".encode()
                )
                client.shutdown(socket.SHUT_RDWR)
                return
            method, target, _ = head.split("\r\n")[0].split(" ")
            assert method == "CONNECT", method
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            upstream.settimeout(None)
            self.sockets.append(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            self.threads.append(start_thread(pump, upstream, client))
            pump(client, upstream)
        except (OSError, ValueError, AssertionError):
            with contextlib.suppress(OSError):
                client.close()

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self.threads:
            thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


_TLS_CONTEXTS = []


def tls_contexts():
    """(server context, client context) for 127.0.0.1 and localhost, from a trustme CA."""
    if not _TLS_CONTEXTS:
        import ssl

        import trustme

        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
        client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ca.configure_trust(client_context)
        _TLS_CONTEXTS.extend([server_context, client_context])
    return tuple(_TLS_CONTEXTS)
