"""Threading WebSocket server: ``serve()``, a drop-in for ``websockets.sync.server``."""

from __future__ import annotations

import concurrent.futures
import http
import logging
import os
import re
import selectors
import socket
import ssl as ssl_module
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..headers import validate_subprotocols
from ..http11 import SERVER, Request, Response
from ..protocol import CONNECTING, OPEN, Event
from ..server import (
    ServerProtocol,
    basic_auth_challenge,
    credentials_checker,
    is_credentials,  # noqa: F401 - importable from here in websockets
    read_basic_auth,
)
from ..typing import LoggerLike, Origin, StatusLike, Subprotocol
from .connection import Connection, broadcast
from .utils import Deadline

__all__ = [
    "Server",
    "ServerConnection",
    "basic_auth",
    "broadcast",
    "serve",
    "unix_serve",
]


class ServerConnection(Connection):
    """:mod:`threading` implementation of a WebSocket server connection.

    Provides :meth:`recv` and :meth:`send`, and iterates on incoming messages::

        for message in websocket:
            process(message)
    """

    def __init__(
        self,
        sock: socket.socket,
        protocol: ServerProtocol,
        server: Server,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
    ) -> None:
        self.protocol: ServerProtocol
        super().__init__(
            sock,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
        self.server = server
        self.username: str  # see basic_auth()
        self.handler: Callable[[ServerConnection], None]  # see route()
        self.handler_kwargs: Mapping[str, Any]  # see route()

    def respond(self, status: StatusLike, text: str) -> Response:
        """Create a plain text HTTP response, for ``process_request`` or
        ``process_response`` to return; modify its headers before if needed."""
        return self.protocol.reject(status, text)

    def _internal_error(self, exc: Exception, stage: str) -> Response:
        self.logger.error("%s failed", stage, exc_info=True)
        return self.protocol.reject_internal_error(exc)

    def handshake(
        self,
        process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
        process_response: (
            Callable[[ServerConnection, Request, Response], Response | None] | None
        ) = None,
        server_header: str | None = SERVER,
        timeout: float | None = None,
    ) -> None:
        """Perform the opening handshake (RFC 6455 §4.2), then start receiving.

        Runs in the connection's handler thread: the reading thread starts once the
        connection is open.

        Raises:
            InvalidHandshake: If the request was invalid or rejected.
            TimeoutError: If the request didn't arrive within ``timeout`` seconds.
        """
        protocol = self.protocol
        after_request = self._read_handshake(
            Deadline(timeout), "timed out while waiting for handshake request"
        )

        if self.request is not None:
            response = None
            if process_request is not None:
                try:
                    response = process_request(self, self.request)
                except Exception as exc:
                    response = self._internal_error(exc, "process_request")

            if response is not None:
                self.response = response
            elif self.server.socket_closed.is_set():
                self.response = protocol.reject(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
                )
            else:
                self.response = protocol.accept(self.request)

            if server_header:
                self.response.headers["Server"] = server_header

            if process_response is not None:
                try:
                    response = process_response(self, self.request, self.response)
                except Exception as exc:
                    response = self._internal_error(exc, "process_response")
                if response is not None:
                    self.response = response

            if protocol.state is CONNECTING:
                with self.send_context(expected_state=CONNECTING):
                    protocol.send_response(self.response)

        # handshake_exc is set when the connection was lost before a request, when the
        # request was invalid or refused, or when process_request/process_response raised;
        # not when they chose to answer with another response.
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if protocol.state is OPEN:
            # Frames the client sent right behind its request come first.
            self._deliver(after_request)
            self.start_receiving()

    def _handshake_event(self, event: Event) -> bool:
        if isinstance(event, Request):
            self.request = event
            return True
        return False


class Server:
    """WebSocket server returned by :func:`serve`.

    Mirrors the API of :class:`socketserver.BaseServer`: :meth:`serve_forever` accepts
    connections, each handled in its own thread, until :meth:`shutdown` is called from
    another thread.

    Args:
        socket: Listening socket.
        handler: Runs in a new thread for each accepted ``(socket, address)``.
        logger: Logger for this server; defaults to ``logging.getLogger("websockets.server")``.
    """

    # How often shutdown() checks for connections still in their opening handshake.
    SHUTDOWN_POLLING_INTERVAL = 0.1

    def __init__(
        self,
        sock: socket.socket,
        handler: Callable[[socket.socket, Any], None],
        logger: LoggerLike | None = None,
    ) -> None:
        self.socket = sock
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("websockets.server")
        self.logger = logger

        # Guards all_connections and handler_threads.
        self.lock = threading.Lock()
        self.all_connections: set[ServerConnection] = set()
        self.handler_threads: set[threading.Thread] = set()

        # Wakes serve_forever() when shutdown() closes the socket: closing it doesn't wake
        # a select() on it everywhere (it does on Windows, where socketpair() is emulated).
        if sys.platform != "win32":
            self.shutdown_watcher, self.shutdown_notifier = socket.socketpair()

        # Set once serve_forever() stopped accepting connections.
        self.socket_closed = threading.Event()

    @property
    def connections(self) -> set[ServerConnection]:
        """Set of active connections: past the opening handshake and not closing."""
        with self.lock:
            return {
                connection
                for connection in self.all_connections
                if connection.protocol.state is OPEN
            }

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called; each runs in a thread.

        See :meth:`socketserver.BaseServer.serve_forever`.
        """
        poller = selectors.DefaultSelector()
        try:
            if sys.platform != "win32":
                poller.register(self.shutdown_watcher, selectors.EVENT_READ)
            try:
                socket_name = self.socket.getsockname()
                poller.register(self.socket, selectors.EVENT_READ)
            except (OSError, ValueError):  # shutdown() ran first
                return
            if self.socket.family in (socket.AF_INET, socket.AF_INET6):
                socket_name = "%s:%d" % socket_name[:2]
            self.logger.info("server listening on %s", socket_name)

            while True:
                poller.select()
                try:
                    # Once shutdown() closed the socket, this raises and the loop ends.
                    sock, addr = self.socket.accept()
                except OSError:
                    break
                thread = threading.Thread(target=self.handler, args=(sock, addr))
                # Registered before it starts, so that shutdown() can't miss it.
                with self.lock:
                    self.handler_threads.add(thread)
                thread.start()
        finally:
            self.socket_closed.set()
            poller.close()
            if sys.platform != "win32":
                self.shutdown_watcher.close()

    def shutdown(
        self,
        close_connections: bool = True,
        code: CloseCode | int = CloseCode.GOING_AWAY,
        reason: str = "",
    ) -> None:
        """Stop the server and wait until connection handlers return.

        The listening socket closes at once. With ``close_connections`` (the default),
        connections still in their opening handshake get 503 and open ones are closed with
        ``code`` (1001, going away) and ``reason``; otherwise they finish on their own.
        Idempotent; don't call it from a connection handler, which it would wait for.
        """
        self.logger.info("server closing")
        self.socket.close()
        if sys.platform != "win32":
            try:
                self.shutdown_notifier.send(b"x")
            except OSError:
                pass  # shutdown() ran already
            finally:
                self.shutdown_notifier.close()

        # From here, no handler thread starts; connections in their handshake get 503.
        self.socket_closed.wait()

        if close_connections:
            while True:
                with self.lock:
                    connections = [
                        connection
                        for connection in self.all_connections
                        if connection.protocol.state is OPEN
                    ]
                    threads = list(self.handler_threads)
                if not threads:
                    break
                if not connections:
                    # Handlers finishing, or connections still in their handshake.
                    time.sleep(self.SHUTDOWN_POLLING_INTERVAL)
                    continue
                with concurrent.futures.ThreadPoolExecutor() as executor:
                    for connection in connections:
                        executor.submit(connection.close, code, reason)
        else:
            with self.lock:
                threads = list(self.handler_threads)
            for thread in threads:
                thread.join()

        self.logger.info("server closed")

    def fileno(self) -> int:
        """See :meth:`socketserver.BaseServer.fileno`."""
        return self.socket.fileno()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve(
    handler: Callable[[ServerConnection], None],
    host: str | None = None,
    port: int | None = None,
    *,
    # TCP/TLS
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    # WebSocket
    origins: Sequence[Origin | re.Pattern[str] | None] | None = None,
    extensions: Sequence[ServerExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    select_subprotocol: (
        Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None] | None
    ) = None,
    compression: str | None = "deflate",
    # HTTP
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
    process_response: (
        Callable[[ServerConnection, Request, Response], Response | None] | None
    ) = None,
    server_header: str | None = SERVER,
    # Timeouts
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    # Limits
    max_size: int | None | tuple[int | None, int | None] = 2**20,
    max_queue: int | None | tuple[int | None, int | None] = 16,
    # Logging
    logger: LoggerLike | None = None,
    # Escape hatch for advanced customization
    create_connection: type[ServerConnection] | None = None,
    # Other keyword arguments are passed to socket.create_server
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on ``host`` and ``port``.

    Returns a :class:`Server`; call :meth:`~Server.serve_forever`, usually as
    ``with serve(handler, host, port) as server: server.serve_forever()``. Each connection
    runs ``handler(connection)`` in its own thread, then closes. Arguments and defaults are
    those of ``websockets.sync.server.serve``; other keyword arguments go to
    :func:`socket.create_server` (``reuse_port=True`` lets several processes share a port).
    """
    if ssl is None and "ssl_context" in kwargs:
        ssl = kwargs.pop("ssl_context")
        warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=2)

    if subprotocols is not None:
        validate_subprotocols(subprotocols)

    if compression == "deflate":
        extensions = enable_server_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")

    if create_connection is None:
        create_connection = ServerConnection

    unix: bool = kwargs.pop("unix", False)
    path: str | None = kwargs.pop("path", None)
    if sock is None:
        if unix:
            if path is None:
                raise ValueError("missing path argument")
            kwargs.setdefault("family", socket.AF_UNIX)
            sock = socket.create_server(os.fspath(path), **kwargs)
        else:
            sock = socket.create_server((host, port), **kwargs)
    else:
        if host is not None:
            raise ValueError("host is incompatible with sock")
        if port is not None:
            raise ValueError("port is incompatible with sock")
        if path is not None:
            raise ValueError("path is incompatible with sock")

    if ssl is not None:
        # The TLS handshake runs in the connection's thread, under open_timeout.
        sock = ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)

    def sock_handler(sock: socket.socket, addr: Any) -> None:
        """Run one connection from the TCP accept to the TCP close; log what fails."""
        # One deadline for the TLS and WebSocket handshakes together.
        deadline = Deadline(open_timeout)
        connection: ServerConnection | None = None
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Frames are written whole: Nagle's algorithm would only delay them.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if ssl is not None:
                assert isinstance(sock, ssl_module.SSLSocket)  # help mypy
                sock.settimeout(deadline.timeout())
                sock.do_handshake()
                sock.settimeout(None)

            def protocol_select_subprotocol(
                protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]
            ) -> Subprotocol | None:
                # The application's callable receives the connection, as in websockets.
                assert select_subprotocol is not None
                assert connection is not None and protocol is connection.protocol
                return select_subprotocol(connection, subprotocols)

            protocol = ServerProtocol(
                origins=origins,
                extensions=extensions,
                subprotocols=subprotocols,
                select_subprotocol=(
                    protocol_select_subprotocol if select_subprotocol is not None else None
                ),
                max_size=max_size,
                logger=logger,
            )
            protocol.remote_address = addr
            assert create_connection is not None  # help mypy
            connection = create_connection(
                sock,
                protocol,
                server,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
            )
        except Exception:
            sock.close()
            with server.lock:
                server.handler_threads.discard(threading.current_thread())
            return

        try:
            try:
                connection.handshake(
                    process_request,
                    process_response,
                    server_header,
                    deadline.timeout(raise_if_elapsed=False),
                )
            except Exception:
                # The protocol logged the rejection; a timeout or a reset needs no more.
                if connection.debug:
                    connection.logger.debug("! opening handshake failed", exc_info=True)
                connection.close_socket()
                return
            # Whether the connection was open after the handshake, which started the reading
            # thread: not the current state, as the client may have closed it already. A
            # connection closed before the response (by process_request, say) wasn't.
            if connection.recv_events_thread.ident is None:
                connection.close_socket()
                return

            with server.lock:
                server.all_connections.add(connection)
            connection.start_keepalive()
            try:
                with connection:
                    handler(connection)
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
            finally:
                with server.lock:
                    server.all_connections.discard(connection)
            connection.close_socket()

        except Exception:
            # A safety net: don't leak the socket whatever happened.
            connection.logger.error("unexpected internal error", exc_info=True)
            connection.close_socket()

        finally:
            with server.lock:
                server.handler_threads.discard(threading.current_thread())

    server = Server(sock, sock_handler, logger)
    return server


def unix_serve(
    handler: Callable[[ServerConnection], None],
    path: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on a Unix socket at ``path``.

    Other arguments are those of :func:`serve`.
    """
    return serve(handler, unix=True, path=path, **kwargs)


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], bool] | None = None,
) -> Callable[[ServerConnection, Request], Response | None]:
    """Build a ``process_request`` function enforcing HTTP Basic Authentication
    (RFC 7617) on the opening handshake.

    Give either ``credentials`` (a ``(username, password)`` pair or a list of them) or
    ``check_credentials``, a function of ``username, password`` returning a bool. On
    success, the connection's ``username`` attribute is set; on failure the client gets
    401 with a ``WWW-Authenticate`` challenge for ``realm``.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        check_credentials = credentials_checker(credentials)
    assert check_credentials is not None  # help mypy

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        username_password = read_basic_auth(connection.respond, request, realm)
        if isinstance(username_password, Response):
            return username_password
        username, password = username_password
        if not check_credentials(username, password):
            return basic_auth_challenge(connection.respond, realm, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request


def __getattr__(name: str) -> Any:
    # Deprecated alias, resolved with websockets' warning.
    if name == "WebSocketServer":
        warnings.warn("WebSocketServer was renamed to Server", DeprecationWarning, stacklevel=2)
        return Server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
