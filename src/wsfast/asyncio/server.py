"""asyncio WebSocket server: ``serve()``, a drop-in for ``websockets.asyncio.server``."""

from __future__ import annotations

import asyncio
import http
import logging
import re
import socket
import sys
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any

from ..exceptions import InvalidHandshake
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..headers import (
    validate_subprotocols,
)
from ..http11 import SERVER, Request, Response
from ..protocol import CONNECTING, OPEN
from ..server import (
    ServerProtocol,
    basic_auth_challenge,
    credentials_checker,
    is_credentials,  # noqa: F401 - importable from here in websockets
    read_basic_auth,
)
from ..typing import LoggerLike, Origin, StatusLike, Subprotocol
from . import transports
from .compatibility import asyncio_timeout
from .connection import Connection, broadcast

__all__ = [
    "Server",
    "ServerConnection",
    "basic_auth",
    "broadcast",
    "serve",
    "unix_serve",
]


class ServerConnection(Connection):
    """:mod:`asyncio` implementation of a WebSocket server connection.

    Provides :meth:`recv` and :meth:`send`, and iterates on incoming messages::

        async for message in websocket:
            await process(message)
    """

    def __init__(
        self,
        protocol: ServerProtocol,
        server: Server,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        self.protocol: ServerProtocol
        super().__init__(
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.server = server
        self.request_rcvd: asyncio.Future[None] = self.loop.create_future()
        self.username: str  # see basic_auth()
        self.handler: Callable[[ServerConnection], Awaitable[None]]  # see route()
        self.handler_kwargs: Mapping[str, Any]  # see route()

    def respond(self, status: StatusLike, text: str) -> Response:
        """Create a plain text HTTP response, for ``process_request`` or
        ``process_response`` to return; modify its headers before if needed."""
        return self.protocol.reject(status, text)

    async def handshake(
        self,
        process_request: (
            Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]
            | None
        ) = None,
        process_response: (
            Callable[
                [ServerConnection, Request, Response],
                Awaitable[Response | None] | Response | None,
            ]
            | None
        ) = None,
        server_header: str | None = SERVER,
    ) -> None:
        """Perform the opening handshake (RFC 6455 §4.2)."""
        await asyncio.wait(
            [self.request_rcvd, self.connection_lost_waiter],
            return_when=asyncio.FIRST_COMPLETED,
        )

        if self.request is not None:
            async with self.send_context(expected_state=CONNECTING):
                response = None

                if process_request is not None:
                    try:
                        response = process_request(self, self.request)
                        if isinstance(response, Awaitable):
                            response = await response
                    except Exception as exc:
                        response = self.protocol.reject_internal_error(exc)

                if response is None:
                    if self.server.is_serving():
                        self.response = self.protocol.accept(self.request)
                    else:
                        self.response = self.protocol.reject(
                            http.HTTPStatus.SERVICE_UNAVAILABLE,
                            "Server is shutting down.\n",
                        )
                else:
                    assert isinstance(response, Response)  # help mypy
                    self.response = response

                if server_header:
                    self.response.headers["Server"] = server_header

                response = None

                if process_response is not None:
                    try:
                        response = process_response(self, self.request, self.response)
                        if isinstance(response, Awaitable):
                            response = await response
                    except Exception as exc:
                        response = self.protocol.reject_internal_error(exc)

                if response is not None:
                    assert isinstance(response, Response)  # help mypy
                    self.response = response

                # Don't respond if the connection was closed during the handshake, e.g.
                # by process_request, as websockets does.
                if self.protocol.state is CONNECTING:
                    self.protocol.send_response(self.response)
                    if self.transport.is_closing():
                        # Closed by process_request or process_response without a
                        # wait: let connection_lost() run before the handler would
                        # (websockets' drain() yields there too).
                        await asyncio.sleep(0)
                if self.protocol.state is OPEN:
                    # Bytes go straight to the frame reader from now on; frames that the
                    # client sent right behind its request are processed now.
                    self._start_direct_receive()

        # self.protocol.handshake_exc is set when the connection is lost before receiving
        # a request, when the request cannot be parsed, or when the handshake fails,
        # including when process_request or process_response raises an exception.

        # It isn't set when process_request or process_response sends an HTTP response
        # that rejects the handshake.

        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def process_handshake_events(self) -> None:
        if not self.request_rcvd.done():
            for event in self.protocol.events_received():
                if isinstance(event, Request):
                    self.request = event
                    self.request_rcvd.set_result(None)
                    break
            self._after_receive()
            return
        super().process_handshake_events()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.protocol.remote_address = transport.get_extra_info("peername")
        self.server.start_connection_handler(self)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            # If the connection is closed during the handshake, unblock it.
            if not self.request_rcvd.done():
                self.request_rcvd.set_result(None)


class Server:
    """WebSocket server returned by :func:`serve`.

    Mirrors the API of :class:`asyncio.Server` and keeps track of connections: closing the
    server closes them, with 1001 (going away) by default. Awaiting it (or entering it with
    ``async with``) starts listening, with ``create_server``.

    Args:
        create_server: Coroutine function that creates the :class:`asyncio.Server`, whose
            protocol factory makes :class:`ServerConnection` objects for this server.
        handler: Coroutine function run in a task for each connection, from the opening
            handshake to the end: :func:`serve` gives one that performs the handshake,
            runs the application's handler, and closes the connection.
        logger: Logger for this server; defaults to
            ``logging.getLogger("websockets.server")``.
    """

    def __init__(
        self,
        create_server: Callable[[], Awaitable[asyncio.Server]],
        handler: Callable[[ServerConnection], Coroutine[Any, Any, None]],
        logger: LoggerLike | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.create_server = create_server
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("websockets.server")
        self.logger = logger

        # Keep track of active connections.
        self.handlers: dict[ServerConnection, asyncio.Task[None]] = {}

        # Task responsible for closing the server and terminating connections.
        self.close_task: asyncio.Task[None] | None = None

        # Completed when the server is closed and connections are terminated.
        self.closed_waiter: asyncio.Future[None] = self.loop.create_future()

    @property
    def connections(self) -> set[ServerConnection]:
        """Set of active connections: those past the opening handshake and not closed."""
        return {
            connection
            for connection in self.handlers
            if connection.protocol.state is OPEN
        }

    def wrap(self, server: asyncio.Server) -> None:
        """Attach to a given :class:`asyncio.Server`."""
        self.server = server
        for sock in server.sockets:
            if sock.family == socket.AF_INET:
                name = "%s:%d" % sock.getsockname()
            elif sock.family == socket.AF_INET6:
                name = "[%s]:%d" % sock.getsockname()[:2]
            elif sock.family == socket.AF_UNIX:
                name = sock.getsockname()
            else:  # pragma: no cover
                name = str(sock.getsockname())
            self.logger.info("server listening on %s", name)

    def _handler_done(self, connection: ServerConnection, task: asyncio.Task[None]) -> None:
        del self.handlers[connection]
        if not task.cancelled() and task.exception() is not None:  # pragma: no cover
            connection.logger.error("connection handler crashed", exc_info=task.exception())

    def start_connection_handler(self, connection: ServerConnection) -> None:
        """Register a connection with this server and run its handler in a task."""
        task = self.loop.create_task(self.handler(connection))
        self.handlers[connection] = task
        task.add_done_callback(lambda task: self._handler_done(connection, task))

    def close(
        self,
        close_connections: bool = True,
        code: CloseCode | int = CloseCode.GOING_AWAY,
        reason: str = "",
    ) -> None:
        """Close the server: stop listening, then close connections with ``code`` and
        ``reason`` when ``close_connections`` is true, then wait for the handlers to finish.

        :meth:`close` is idempotent. Use :meth:`wait_closed` to wait for it to complete.
        """
        if self.close_task is None:
            self.close_task = self.get_loop().create_task(
                self._close(close_connections, code, reason)
            )

    async def _close(self, close_connections: bool, code: int, reason: str) -> None:
        self.logger.info("server closing")

        # Stop accepting new connections.
        self.server.close()

        # Let handshakes in progress see that the server is shutting down: they answer 503.
        await asyncio.sleep(0)

        if close_connections:
            # Close OPEN connections with 1001 (going away); let the handlers of connections
            # still in the handshake run into the 503 above.
            close_tasks = [
                asyncio.create_task(connection.close(code, reason))
                for connection in self.handlers
                if connection.protocol.state is not CONNECTING
            ]
            if close_tasks:
                await asyncio.wait(close_tasks)

        # Wait until all accepted connections reach connection_made() and call
        # start_connection_handler() (since Python 3.12, asyncio waits for connections).
        await self.server.wait_closed()

        # Wait until all connection handlers terminate.
        if self.handlers:
            await asyncio.wait(self.handlers.values())

        # Tell wait_closed() to return.
        self.closed_waiter.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler has returned."""
        await asyncio.shield(self.closed_waiter)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """See :meth:`asyncio.Server.get_loop`."""
        return self.server.get_loop()

    def is_serving(self) -> bool:  # pragma: no cover
        """See :meth:`asyncio.Server.is_serving`."""
        return self.server.is_serving()

    async def start_serving(self) -> None:  # pragma: no cover
        """See :meth:`asyncio.Server.start_serving`."""
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called or this coroutine is cancelled, which closes
        the server (see :meth:`asyncio.Server.serve_forever`)."""
        try:
            if not self.is_serving():
                await self.start_serving()
            await self.wait_closed()
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """See :attr:`asyncio.Server.sockets`."""
        return tuple(self.server.sockets)

    async def _await(self) -> Server:
        if not hasattr(self, "server"):
            assert self.create_server is not None, "nothing to start: give create_server"
            self.wrap(await self.create_server())
        return self

    def __await__(self) -> Generator[Any, None, Server]:
        return self._await().__await__()

    __iter__ = __await__

    async def __aenter__(self) -> Server:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


def serve(
    handler: Callable[[ServerConnection], Awaitable[None]],
    host: str | None = None,
    port: int | None = None,
    *,
    # WebSocket
    origins: Sequence[Origin | re.Pattern[str] | None] | None = None,
    extensions: Sequence[ServerExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    select_subprotocol: (
        Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None] | None
    ) = None,
    compression: str | None = "deflate",
    # HTTP
    process_request: (
        Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]
        | None
    ) = None,
    process_response: (
        Callable[
            [ServerConnection, Request, Response],
            Awaitable[Response | None] | Response | None,
        ]
        | None
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
    write_limit: int | tuple[int, int | None] = 2**15,
    # Logging
    logger: LoggerLike | None = None,
    # Escape hatch for advanced customization
    create_connection: type[ServerConnection] | None = None,
    # Other keyword arguments are passed to loop.create_server
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on ``host`` and ``port``.

    Returns a :class:`Server`: await it, or enter it with ``async with serve(...)``, which
    closes it on exit. ``handler`` is a coroutine function run with each
    :class:`ServerConnection`; the connection is closed when it returns. Arguments and
    defaults are those of ``websockets.asyncio.server.serve``; other keyword arguments go
    to :meth:`~asyncio.loop.create_server`.
    """
    if subprotocols is not None:
        validate_subprotocols(subprotocols)

    if compression == "deflate":
        extensions = enable_server_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")

    if create_connection is None:
        create_connection = ServerConnection

    if kwargs.get("ssl") is not None:
        kwargs.setdefault("ssl_handshake_timeout", open_timeout)
        if sys.version_info >= (3, 11):  # asyncio grew ssl_shutdown_timeout in 3.11
            kwargs.setdefault("ssl_shutdown_timeout", close_timeout)

    def factory() -> ServerConnection:
        connection: ServerConnection

        def protocol_select_subprotocol(
            protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]
        ) -> Subprotocol | None:
            # The application's callable receives the connection, as in websockets.
            assert select_subprotocol is not None
            assert protocol is connection.protocol
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
        connection = create_connection(
            protocol,
            server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        return connection

    def create_server() -> Awaitable[asyncio.Server]:
        loop = asyncio.get_running_loop()
        if kwargs.pop("unix", False):
            return transports.create_unix_server(loop, factory, **kwargs)
        # mypy cannot tell that kwargs must provide sock when port is None.
        return transports.create_server(loop, factory, host, port, **kwargs)

    async def protocol_handler(connection: ServerConnection) -> None:
        await _handle_connection(
            connection, handler, process_request, process_response, server_header, open_timeout
        )

    server = Server(create_server, protocol_handler, logger)
    return server


async def _handle_connection(
    connection: ServerConnection,
    handler: Callable[[ServerConnection], Awaitable[None]],
    process_request: Any,
    process_response: Any,
    server_header: str | None,
    open_timeout: float | None,
) -> None:
    """The lifecycle of a connection made by :func:`serve`: handshake, handler, close."""
    try:
        async with asyncio_timeout(open_timeout):
            try:
                await connection.handshake(
                    process_request,
                    process_response,
                    server_header,
                )
            except asyncio.CancelledError:
                connection.transport.abort()
                raise
            except InvalidHandshake:
                # The protocol logged the rejection (one INFO line, see
                # docs/compatibility.md) and sent the response.
                connection.transport.abort()
                return
            except Exception:
                connection.logger.error("opening handshake failed", exc_info=True)
                connection.transport.abort()
                return
    except TimeoutError:
        connection.logger.info("opening handshake timed out (open_timeout)")
        connection.transport.abort()
        return

    if connection.protocol.state is not OPEN:
        # process_request or process_response answered with its own HTTP response.
        connection.transport.close()
        return

    try:
        connection.start_keepalive()
        await handler(connection)
    except Exception:
        connection.logger.error("connection handler failed", exc_info=True)
        await connection.close(CloseCode.INTERNAL_ERROR)
    else:
        await connection.close()


def unix_serve(
    handler: Callable[[ServerConnection], Awaitable[None]],
    path: str | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on a Unix socket at ``path``.

    Other arguments are those of :func:`serve`.
    """
    return serve(handler, unix=True, path=path, **kwargs)


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Build a ``process_request`` function enforcing HTTP Basic Authentication
    (RFC 7617) on the opening handshake.

    Give either ``credentials`` (a ``(username, password)`` pair or a list of them) or
    ``check_credentials``, a function of ``username, password`` that returns a bool or
    an awaitable one. On success, the connection's ``username`` attribute is set; on
    failure the client gets 401 with a ``WWW-Authenticate`` challenge for ``realm``.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        check_credentials = credentials_checker(credentials)
    assert check_credentials is not None  # help mypy

    async def process_request(
        connection: ServerConnection,
        request: Request,
    ) -> Response | None:
        username_password = read_basic_auth(connection.respond, request, realm)
        if isinstance(username_password, Response):
            return username_password
        username, password = username_password
        valid_credentials = check_credentials(username, password)
        if isinstance(valid_credentials, Awaitable):
            valid_credentials = await valid_credentials
        if not valid_credentials:
            return basic_auth_challenge(connection.respond, realm, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
