"""asyncio WebSocket client: ``connect()``, a drop-in for ``websockets.asyncio.client``."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as ssl_module
import traceback
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Literal, cast

from ..client import (
    MAX_REDIRECTS,
    SOCKS_PROXY_SCHEMES,
    ClientProtocol,
    backoff,
    follow_redirect,
    prepare_connect_request,
    process_exception,
)
from ..datastructures import HeadersLike
from ..exceptions import (
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
    SecurityError,
)
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Response
from ..protocol import OPEN
from ..streams import StreamReader
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import Proxy, WebSocketURI, get_proxy, parse_proxy, parse_uri
from . import transports
from .compatibility import asyncio_timeout
from .connection import Connection

__all__ = ["ClientConnection", "connect", "unix_connect"]

class ClientConnection(Connection):
    """:mod:`asyncio` implementation of a WebSocket client connection.

    Provides :meth:`recv` and :meth:`send`, and iterates on incoming messages::

        async for message in websocket:
            await process(message)
    """

    def __init__(
        self,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        self.protocol: ClientProtocol
        super().__init__(
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.response_rcvd: asyncio.Future[None] = self.loop.create_future()

    async def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        """Perform the opening handshake (RFC 6455 §4.1)."""
        self.request = self.protocol.connect()
        if additional_headers is not None:
            self.request.headers.update(additional_headers)
        if user_agent_header is not None:
            self.request.headers.setdefault("User-Agent", user_agent_header)
        self.protocol.send_request(self.request)
        self._send_pending()

        # The response, or the connection closing, ends the wait.
        await asyncio.wait(
            [self.response_rcvd, self.connection_lost_waiter],
            return_when=asyncio.FIRST_COMPLETED,
        )

        # Raise the handshake error if any; EOF before the response becomes one too.
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def process_handshake_events(self) -> None:
        protocol = self.protocol
        if not self.response_rcvd.done():
            events = protocol.events_received()
            for index, event in enumerate(events):
                if isinstance(event, Response):
                    self.response = event
                    self.response_rcvd.set_result(None)
                    # Frames that came in the same read as the response follow it.
                    self._process_frames(events[index + 1 :])
                    break
            if self.response is not None and protocol.state is OPEN:
                # The handshake succeeded: bytes go straight to the frame reader now.
                self._start_direct_receive()
            else:
                self._after_receive()
            return
        super().process_handshake_events()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            # If the connection is closed during the handshake, unblock it.
            if not self.response_rcvd.done():
                self.response_rcvd.set_result(None)


class connect:
    """Connect to the WebSocket server at ``uri``.

    Awaiting it returns a :class:`ClientConnection`; ``async with connect(...)`` closes
    the connection on exit; ``async for websocket in connect(...)`` reconnects with
    exponential backoff after transient errors. Arguments and defaults are those of
    ``websockets.asyncio.client.connect``; other keyword arguments go to
    :meth:`~asyncio.loop.create_connection`.
    """

    def __init__(
        self,
        uri: str,
        *,
        # WebSocket
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        compression: str | None = "deflate",
        # HTTP
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | Literal[True] | None = True,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        # Timeouts
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        reconnect_delays: Callable[[], Generator[float]] = backoff,
        # Limits
        max_size: int | None | tuple[int | None, int | None] = 2**20,
        max_queue: int | None | tuple[int | None, int | None] = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        # Logging
        logger: LoggerLike | None = None,
        # Escape hatch for advanced customization
        create_connection: type[ClientConnection] | None = None,
        # Other keyword arguments are passed to loop.create_connection
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        # Fail here, not when awaited, on what can't work whatever the server does.
        ws_uri = parse_uri(uri)
        if not ws_uri.secure and kwargs.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        if ws_uri.secure and "ssl" in kwargs and kwargs["ssl"] is None:
            raise ValueError("ssl=None is incompatible with a wss:// URI")

        if subprotocols is not None:
            validate_subprotocols(subprotocols)

        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")

        if logger is None:
            logger = logging.getLogger("websockets.client")

        if create_connection is None:
            create_connection = ClientConnection

        def protocol_factory(uri: WebSocketURI) -> ClientConnection:
            protocol = ClientProtocol(
                uri,
                origin=origin,
                extensions=extensions,
                subprotocols=subprotocols,
                max_size=max_size,
                logger=logger,
            )
            connection = create_connection(
                protocol,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
                write_limit=write_limit,
            )
            return connection

        self.proxy = proxy
        self.protocol_factory = protocol_factory
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.open_timeout = open_timeout
        self.logger = logger
        self.connection_kwargs = kwargs

    async def create_connection(self) -> ClientConnection:
        """Create TCP or Unix connection."""
        loop = asyncio.get_running_loop()
        kwargs = self.connection_kwargs.copy()

        ws_uri = parse_uri(self.uri)

        proxy = self.proxy
        if kwargs.get("unix", False):
            proxy = None
        if kwargs.get("sock") is not None:
            proxy = None
        if proxy is True:
            proxy = get_proxy(ws_uri)

        def factory() -> ClientConnection:
            return self.protocol_factory(ws_uri)

        if ws_uri.secure:
            kwargs.setdefault("ssl", True)
            kwargs.setdefault("server_hostname", ws_uri.host)
            if kwargs.get("ssl") is None:
                raise ValueError("ssl=None is incompatible with a wss:// URI")
        else:
            if kwargs.get("ssl") is not None:
                raise ValueError("ssl argument is incompatible with a ws:// URI")

        if kwargs.pop("unix", False):
            _, connection = await transports.create_unix_connection(loop, factory, **kwargs)
        elif proxy is not None:
            proxy_parsed = parse_proxy(proxy)
            if proxy_parsed.scheme[:5] == "socks":
                # Connect to the server through the proxy.
                sock = await connect_socks_proxy(
                    proxy_parsed,
                    ws_uri,
                    local_addr=kwargs.pop("local_addr", None),
                )
                # Initialize WebSocket connection via the proxy.
                _, connection = await transports.create_connection(
                    loop, factory, sock=sock, **kwargs
                )
            elif proxy_parsed.scheme[:4] == "http":
                # Split keyword arguments between the proxy and the server.
                all_kwargs, proxy_kwargs, kwargs = kwargs, {}, {}
                for key, value in all_kwargs.items():
                    if key.startswith("ssl") or key == "server_hostname":
                        kwargs[key] = value
                    elif key.startswith("proxy_"):
                        proxy_kwargs[key[6:]] = value
                    else:
                        proxy_kwargs[key] = value
                # Validate the proxy_ssl argument.
                if proxy_parsed.scheme == "https":
                    proxy_kwargs.setdefault("ssl", True)
                    if proxy_kwargs.get("ssl") is None:
                        raise ValueError("proxy_ssl=None is incompatible with an https:// proxy")
                else:
                    if proxy_kwargs.get("ssl") is not None:
                        raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
                # Connect to the server through the proxy.
                transport = await connect_http_proxy(
                    proxy_parsed,
                    ws_uri,
                    user_agent_header=self.user_agent_header,
                    **proxy_kwargs,
                )
                # Initialize WebSocket connection via the proxy.
                connection = factory()
                transport.set_protocol(connection)
                ssl = kwargs.pop("ssl", None)
                if ssl is True:
                    ssl = ssl_module.create_default_context()
                if ssl is not None:
                    new_transport = await loop.start_tls(
                        transport, connection, ssl, **kwargs
                    )
                    assert new_transport is not None  # help mypy
                    transport = new_transport
                connection.connection_made(transport)
            else:
                raise AssertionError("unsupported proxy")
        else:
            # Connect to the server directly.
            if kwargs.get("sock") is None:
                kwargs.setdefault("host", ws_uri.host)
                kwargs.setdefault("port", ws_uri.port)
            # Initialize WebSocket connection.
            _, connection = await transports.create_connection(loop, factory, **kwargs)
        return connection

    def process_redirect(self, exc: Exception) -> Exception | str:
        """Determine whether a connection error is a redirect that can be followed.

        Return the new URI if it's a valid redirect. Else, return an exception.
        """
        kwargs = self.connection_kwargs
        explicit = kwargs.get("host") is not None or kwargs.get("port") is not None
        redirect = follow_redirect(
            self.uri,
            exc,
            self.additional_headers,
            preexisting_socket=kwargs.get("sock") is not None,
            unix=kwargs.get("unix", False),
            explicit_address="an explicit host or port" if explicit else None,
        )
        if isinstance(redirect, Exception):
            return redirect
        self.additional_headers = redirect.additional_headers
        return redirect.uri

    # ... = await connect(...)

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        # Create a suitable iterator by calling __await__ on a coroutine.
        return self.__await_impl__().__await__()

    async def __await_impl__(self) -> ClientConnection:
        try:
            async with asyncio_timeout(self.open_timeout):
                for _ in range(MAX_REDIRECTS):
                    connection = await self.create_connection()
                    try:
                        await connection.handshake(
                            self.additional_headers,
                            self.user_agent_header,
                        )
                    except asyncio.CancelledError:
                        connection.transport.abort()
                        raise
                    except Exception as exc:
                        # A connection is made for one protocol object: even to follow
                        # a redirect to the same server, start over on a new one.
                        connection.transport.abort()
                        uri_or_exc = self.process_redirect(exc)
                        if isinstance(uri_or_exc, str):
                            self.uri = uri_or_exc
                            continue
                        if uri_or_exc is exc:
                            raise
                        raise uri_or_exc from exc

                    else:
                        connection.start_keepalive()
                        return connection
                else:
                    raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

        except TimeoutError as exc:
            raise TimeoutError("timed out during opening handshake") from exc

    __iter__ = __await__

    # async with connect(...) as websocket: ...

    async def __aenter__(self) -> ClientConnection:
        # self.connection is what __aexit__ closes: a second one would replace it.
        if hasattr(self, "connection"):
            raise RuntimeError("connect() isn't reentrant")
        self.connection = await self
        return self.connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.connection.__aexit__(exc_type, exc_value, traceback)
        finally:
            del self.connection

    # async for ... in connect(...):

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        delays: Generator[float] | None = None
        while True:
            try:
                async with self as protocol:
                    yield protocol
            except Exception as exc:
                # process_exception() returns None to retry or the exception to raise;
                # one that raises instead is taken at its word too.
                try:
                    new_exc = self.process_exception(exc)
                except Exception as raised_exc:
                    new_exc = raised_exc
                if new_exc is exc:
                    raise
                if new_exc is not None:
                    raise new_exc from exc
                # Transient: wait, longer each time, then try again.
                if delays is None:
                    delays = self.reconnect_delays()
                delay = next(delays)
                self.logger.info(
                    "connect failed; reconnecting in %.1f seconds: %s",
                    delay,
                    traceback.format_exception_only(exc)[0].strip(),
                )
                await asyncio.sleep(delay)
                continue

            else:
                delays = None  # a connection succeeded: the next failure starts over


def unix_connect(
    path: str | None = None,
    uri: str | None = None,
    **kwargs: Any,
) -> connect:
    """Connect to a WebSocket server listening on a Unix socket.

    ``uri`` defaults to ``ws://localhost/``, or ``wss://localhost/`` when ``ssl`` is given;
    other arguments are those of :func:`connect`.
    """
    if uri is None:
        if kwargs.get("ssl") is None:
            uri = "ws://localhost/"
        else:
            uri = "wss://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)


# Proxies ---------------------------------------------------------------------------------


try:
    from python_socks import ProxyType
    from python_socks.async_.asyncio import Proxy as SocksProxy

    async def connect_socks_proxy(
        proxy: Proxy,
        ws_uri: WebSocketURI,
        **kwargs: Any,
    ) -> socket.socket:
        """Connect via a SOCKS proxy and return the socket."""
        proxy_type, remote_dns = SOCKS_PROXY_SCHEMES[proxy.scheme]
        socks_proxy = SocksProxy(
            ProxyType[proxy_type],
            proxy.host,
            proxy.port,
            proxy.username,
            proxy.password,
            remote_dns,
        )
        # connect() is documented to raise OSError.
        # socks_proxy.connect() doesn't raise TimeoutError; it gets canceled.
        # Wrap other exceptions in ProxyError, a subclass of InvalidHandshake.
        try:
            sock: socket.socket = await socks_proxy.connect(ws_uri.host, ws_uri.port, **kwargs)
            return sock
        except OSError:
            raise
        except Exception as exc:
            raise ProxyError("failed to connect to SOCKS proxy") from exc

except ImportError:

    async def connect_socks_proxy(
        proxy: Proxy,
        ws_uri: WebSocketURI,
        **kwargs: Any,
    ) -> socket.socket:
        raise ImportError("connecting through a SOCKS proxy requires python-socks")


class HTTPProxyConnection(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT; the WebSocket connection takes over after."""

    def __init__(
        self,
        ws_uri: WebSocketURI,
        proxy: Proxy,
        user_agent_header: str | None = None,
    ):
        self.ws_uri = ws_uri
        self.proxy = proxy
        self.user_agent_header = user_agent_header

        self.reader = StreamReader()
        self.parser = Response.parse(
            self.reader.read_line,
            self.reader.read_exact,
            self.reader.read_to_eof,
            proxy=True,
        )

        loop = asyncio.get_running_loop()
        self.response: asyncio.Future[Response] = loop.create_future()

    def run_parser(self) -> None:
        try:
            next(self.parser)
        except StopIteration as exc:
            response = exc.value
            if 200 <= response.status_code < 300:
                self.response.set_result(response)
            else:
                self.response.set_exception(InvalidProxyStatus(response))
        except Exception as exc:
            proxy_exc = InvalidProxyMessage(
                "did not receive a valid HTTP response from proxy"
            )
            proxy_exc.__cause__ = exc
            self.response.set_exception(proxy_exc)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            prepare_connect_request(self.proxy, self.ws_uri, self.user_agent_header)
        )

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)
        self.run_parser()

    def eof_received(self) -> None:
        self.reader.feed_eof()
        self.run_parser()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.feed_eof()
        if exc is not None:
            self.response.set_exception(exc)


async def connect_http_proxy(
    proxy: Proxy,
    ws_uri: WebSocketURI,
    *,
    user_agent_header: str | None = None,
    **kwargs: Any,
) -> asyncio.Transport:
    """Open a tunnel through an HTTP proxy and return its transport."""
    transport, protocol = await asyncio.get_running_loop().create_connection(
        lambda: HTTPProxyConnection(ws_uri, proxy, user_agent_header),
        proxy.host,
        proxy.port,
        **kwargs,
    )

    try:
        # This raises exceptions if the connection to the proxy fails.
        await protocol.response
    except Exception:
        transport.close()
        raise

    return transport

