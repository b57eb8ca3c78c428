"""Threading WebSocket client: ``connect()``, a drop-in for ``websockets.sync.client``."""

from __future__ import annotations

import logging
import os
import socket
import ssl as ssl_module
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

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
from ..exceptions import InvalidProxyMessage, InvalidProxyStatus, ProxyError, SecurityError
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Response
from ..protocol import CONNECTING, Event
from ..streams import StreamReader
from ..typing import BytesLike, LoggerLike, Origin, Subprotocol
from ..uri import Proxy, WebSocketURI, get_proxy, parse_proxy, parse_uri
from .connection import Connection
from .utils import Deadline

__all__ = ["ClientConnection", "connect", "reconnect", "unix_connect", "unix_reconnect"]


class ClientConnection(Connection):
    """:mod:`threading` implementation of a WebSocket client connection.

    Provides :meth:`recv` and :meth:`send`, and iterates on incoming messages::

        for message in websocket:
            process(message)
    """

    def __init__(
        self,
        sock: socket.socket,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
    ) -> None:
        self.protocol: ClientProtocol
        # Set by connect() unless it's used as a context manager or with legacy=True.
        self.pending_legacy_warning = False
        super().__init__(
            sock,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )

    def __enter__(self) -> ClientConnection:
        self.pending_legacy_warning = False
        return self

    def maybe_raise_legacy_warning(self) -> None:
        if self.pending_legacy_warning:
            self.pending_legacy_warning = False
            # websockets 17.1 deprecated using connect()'s result without "with".
            warnings.warn(
                "connect() must be used as a context manager: "
                "with connect(...) as websocket: ...; alternatively, use "
                "websocket = connect(..., legacy=True) to connect directly",
                DeprecationWarning,
                stacklevel=3,
            )

    def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        timeout: float | None = None,
    ) -> None:
        """Perform the opening handshake (RFC 6455 §4.1), then start receiving.

        Runs in the calling thread: the reading thread starts once the connection is open.

        Raises:
            InvalidHandshake: If the server rejected the handshake or answered wrongly.
            TimeoutError: If the response didn't arrive within ``timeout`` seconds.
        """
        protocol = self.protocol
        self.request = protocol.connect()
        if additional_headers is not None:
            self.request.headers.update(additional_headers)
        if user_agent_header is not None:
            self.request.headers.setdefault("User-Agent", user_agent_header)
        with self.send_context(expected_state=CONNECTING):
            protocol.send_request(self.request)

        after_response = self._read_handshake(
            Deadline(timeout), "timed out while waiting for handshake response"
        )
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        self._deliver(after_response)
        self.start_receiving()

    def _handshake_event(self, event: Event) -> bool:
        if isinstance(event, Response):
            self.response = event
            return True
        return False


class reconnect:  # noqa: N801 - websockets' name
    """Connect to the WebSocket server at ``uri``, and reconnect after transient errors.

    ``with reconnect(...) as websocket`` opens one connection; ``for websocket in
    reconnect(...)`` opens a new one at each iteration, waiting with exponential backoff
    after transient failures (``process_exception`` tells which). Arguments are those of
    :func:`connect`, plus ``process_exception`` and ``reconnect_delays``.
    """

    def __init__(
        self,
        uri: str,
        *,
        # TCP/TLS
        sock: socket.socket | None = None,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        # WebSocket
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        compression: str | None = "deflate",
        # HTTP
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | Literal[True] | None = True,
        proxy_ssl: ssl_module.SSLContext | None = None,
        proxy_server_hostname: str | None = None,
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
        # Logging
        logger: LoggerLike | None = None,
        # Escape hatch for advanced customization
        create_connection: type[ClientConnection] | None = None,
        # Other keyword arguments are passed to socket.create_connection
        **kwargs: Any,
    ) -> None:
        if ssl is None and "ssl_context" in kwargs:
            ssl = kwargs.pop("ssl_context")
            warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=2)

        self.uri = uri
        self.ws_uri = parse_uri(uri)
        if not self.ws_uri.secure and ssl is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")

        if subprotocols is not None:
            validate_subprotocols(subprotocols)

        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")

        if logger is None:
            logger = logging.getLogger("websockets.client")

        self.sock = sock
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.proxy_server_hostname = proxy_server_hostname
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.reconnect_delays = reconnect_delays
        self.logger = logger
        self.create_connection = ClientConnection if create_connection is None else create_connection
        self.open_socket_kwargs = kwargs
        self.protocol_kwargs: dict[str, Any] = dict(
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            max_size=max_size,
            logger=logger,
        )
        self.connection_kwargs: dict[str, Any] = dict(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )

    def open_socket(self, deadline: Deadline) -> socket.socket:
        """Open a TCP or Unix connection to the server, possibly through a proxy."""
        kwargs = self.open_socket_kwargs.copy()
        unix = kwargs.pop("unix", False)
        proxy = None if unix else self.proxy
        if proxy is True:
            proxy = get_proxy(self.ws_uri)

        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(deadline.timeout())
                sock.connect(os.fspath(kwargs.pop("path")))
            except Exception:
                sock.close()
                raise
        elif proxy is not None:
            proxy_parsed = parse_proxy(proxy)
            if proxy_parsed.scheme[:5] == "socks":
                sock = connect_socks_proxy(
                    proxy_parsed,
                    self.ws_uri,
                    deadline,
                    local_addr=kwargs.pop("source_address", None),
                )
            elif proxy_parsed.scheme[:4] == "http":
                if proxy_parsed.scheme != "https" and self.proxy_ssl is not None:
                    raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
                sock = connect_http_proxy(
                    proxy_parsed,
                    self.ws_uri,
                    deadline,
                    user_agent_header=self.user_agent_header,
                    ssl=self.proxy_ssl,
                    server_hostname=self.proxy_server_hostname,
                    **kwargs,
                )
            else:  # pragma: no cover - parse_proxy() accepts nothing else
                raise AssertionError("unsupported proxy")
        else:
            kwargs.setdefault("address", (self.ws_uri.host, self.ws_uri.port))
            kwargs.setdefault("timeout", deadline.timeout())
            sock = socket.create_connection(**kwargs)
        sock.settimeout(None)
        return sock

    def enable_tls(self, sock: socket.socket, deadline: Deadline) -> socket.socket:
        """Wrap the connection in TLS: inside the proxy's TLS, if the proxy uses TLS too."""
        ssl = ssl_module.create_default_context() if self.ssl is None else self.ssl
        server_hostname = (
            self.ws_uri.host if self.server_hostname is None else self.server_hostname
        )
        sock.settimeout(deadline.timeout())
        if isinstance(sock, ssl_module.SSLSocket):
            sock = SSLSSLSocket(sock, ssl, server_hostname=server_hostname)  # type: ignore[assignment]
        else:
            sock = ssl.wrap_socket(sock, server_hostname=server_hostname)
        sock.settimeout(None)
        return sock

    def open_connection(self, deadline: Deadline) -> ClientConnection:
        """Open the socket, then perform the opening handshake."""
        sock = self.open_socket(deadline) if self.sock is None else self.sock
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Frames are written whole: Nagle's algorithm would only delay them.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if self.ws_uri.secure:
                sock = self.enable_tls(sock, deadline)
            protocol = ClientProtocol(self.ws_uri, **self.protocol_kwargs)
            connection = self.create_connection(sock, protocol, **self.connection_kwargs)
        except Exception:
            sock.close()
            raise
        try:
            connection.handshake(
                self.additional_headers,
                self.user_agent_header,
                deadline.timeout(),
            )
        except Exception:
            connection.close_socket()
            raise
        return connection

    def process_redirect(self, exc: Exception) -> Exception | str:
        """Return the URI to follow if ``exc`` is a redirect that may be followed, else the
        exception to raise."""
        redirect = follow_redirect(
            self.uri,
            exc,
            self.additional_headers,
            preexisting_socket=self.sock is not None,
            unix=self.open_socket_kwargs.get("unix", False),
            explicit_address=(
                "an explicit host and port"
                if self.open_socket_kwargs.get("address") is not None
                else None
            ),
        )
        if isinstance(redirect, Exception):
            return redirect
        self.additional_headers = redirect.additional_headers
        return redirect.uri

    def connect(self) -> ClientConnection:
        """Connect, following redirects, within ``open_timeout`` in all."""
        deadline = Deadline(self.open_timeout)
        for _ in range(MAX_REDIRECTS):
            try:
                connection = self.open_connection(deadline)
            except Exception as exc:
                uri_or_exc = self.process_redirect(exc)
                if isinstance(uri_or_exc, Exception):
                    if uri_or_exc is exc:
                        raise
                    raise uri_or_exc from exc
                self.uri = uri_or_exc
                self.ws_uri = parse_uri(uri_or_exc)
                continue
            connection.start_keepalive()
            return connection
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    def __enter__(self) -> ClientConnection:
        if hasattr(self, "connection"):
            raise RuntimeError("connect() isn't reentrant")
        self.connection = self.connect()
        return self.connection.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.connection.__exit__(exc_type, exc_value, traceback)
        finally:
            del self.connection

    def __iter__(self) -> Iterator[ClientConnection]:
        delays: Generator[float] | None = None
        while True:
            try:
                with self as connection:
                    yield connection
            except Exception as exc:
                # process_exception() returns None to retry or the exception to raise; one
                # that raises instead is taken at its word too.
                try:
                    new_exc = self.process_exception(exc)
                except Exception as raised_exc:
                    new_exc = raised_exc
                if new_exc is exc:
                    raise
                if new_exc is not None:
                    raise new_exc from exc
                if delays is None:
                    delays = self.reconnect_delays()
                delay = next(delays)
                self.logger.info(
                    "connect failed; reconnecting in %.1f seconds: %s",
                    delay,
                    traceback.format_exception_only(exc)[0].strip(),
                )
                time.sleep(delay)
            else:
                delays = None  # a connection succeeded: the next failure starts over


def connect(
    uri: str,
    *,
    # TCP/TLS
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    # WebSocket
    origin: Origin | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    compression: str | None = "deflate",
    # HTTP
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = USER_AGENT,
    proxy: str | Literal[True] | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    proxy_server_hostname: str | None = None,
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
    create_connection: type[ClientConnection] | None = None,
    legacy: bool | None = None,
    # Other keyword arguments are passed to socket.create_connection
    **kwargs: Any,
) -> Any:
    """Connect to the WebSocket server at ``uri``.

    Use it as a context manager, ``with connect(uri) as websocket: ...``, which closes the
    connection on exit. Called directly, it returns a connected :class:`ClientConnection`
    that you close yourself (``legacy=True`` says that's what you mean; otherwise the first
    use warns, as websockets 17 does); ``legacy=False`` returns a :class:`reconnect` object
    to iterate on for automatic reconnection.

    Keyword arguments are those of ``websockets.sync.client.connect``: ``sock``, ``ssl``,
    ``server_hostname``, ``origin``, ``extensions``, ``subprotocols``, ``compression``,
    ``additional_headers``, ``user_agent_header``, ``proxy``, ``proxy_ssl``,
    ``proxy_server_hostname``, ``open_timeout``, ``ping_interval``, ``ping_timeout``,
    ``close_timeout``, ``max_size``, ``max_queue``, ``logger``, ``create_connection``;
    others go to :func:`socket.create_connection`.

    Raises:
        InvalidURI: If ``uri`` isn't a valid WebSocket URI.
        OSError: If the TCP connection fails.
        InvalidHandshake: If the opening handshake fails.
        TimeoutError: If the opening handshake times out.
    """
    connecter = reconnect(
        uri,
        sock=sock,
        ssl=ssl,
        server_hostname=server_hostname,
        origin=origin,
        extensions=extensions,
        subprotocols=subprotocols,
        compression=compression,
        additional_headers=additional_headers,
        user_agent_header=user_agent_header,
        proxy=proxy,
        proxy_ssl=proxy_ssl,
        proxy_server_hostname=proxy_server_hostname,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        logger=logger,
        create_connection=create_connection,
        **kwargs,
    )
    if legacy is False:
        return connecter
    connection = connecter.connect()
    if legacy is None:
        connection.pending_legacy_warning = True
    return connection


def unix_reconnect(
    path: str | os.PathLike[str] | None = None,
    uri: str | None = None,
    **kwargs: Any,
) -> reconnect:
    """Like :func:`unix_connect`, reconnecting automatically when iterated."""
    sock = kwargs.get("sock")
    if path is None and sock is None:
        raise ValueError("missing path argument")
    if path is not None and sock is not None:
        raise ValueError("path is incompatible with sock")
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    if sock is not None:
        return reconnect(uri, **kwargs)
    return reconnect(uri, unix=True, path=path, **kwargs)


def unix_connect(
    path: str | os.PathLike[str] | None = None,
    uri: str | None = None,
    *,
    legacy: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Connect to a WebSocket server listening on a Unix socket.

    ``uri`` defaults to ``ws://localhost/``, or ``wss://localhost/`` when ``ssl`` is given;
    other arguments are those of :func:`connect`.
    """
    connecter = unix_reconnect(path, uri, **kwargs)
    if legacy is False:
        return connecter
    connection = connecter.connect()
    if legacy is None:
        connection.pending_legacy_warning = True
    return connection


# Proxies ---------------------------------------------------------------------------------

try:
    from python_socks import ProxyType
    from python_socks.sync import Proxy as SocksProxy

    def connect_socks_proxy(
        proxy: Proxy,
        ws_uri: WebSocketURI,
        deadline: Deadline,
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
        kwargs.setdefault("timeout", deadline.timeout())
        # connect() is documented to raise OSError and TimeoutError; wrap anything else
        # in ProxyError, a subclass of InvalidHandshake.
        try:
            sock: socket.socket = socks_proxy.connect(ws_uri.host, ws_uri.port, **kwargs)
            return sock
        except (OSError, TimeoutError):
            raise
        except Exception as exc:
            raise ProxyError("failed to connect to SOCKS proxy") from exc

except ImportError:

    def connect_socks_proxy(
        proxy: Proxy,
        ws_uri: WebSocketURI,
        deadline: Deadline,
        **kwargs: Any,
    ) -> socket.socket:
        raise ImportError("connecting through a SOCKS proxy requires python-socks")


def read_connect_response(sock: socket.socket, deadline: Deadline) -> Response:
    """Read the proxy's answer to CONNECT (RFC 9110 §9.3.6): a 2xx opens the tunnel."""
    reader = StreamReader()
    parser = Response.parse(
        reader.read_line,
        reader.read_exact,
        reader.read_to_eof,
        proxy=True,
    )
    try:
        while True:
            sock.settimeout(deadline.timeout())
            # Small reads: bytes after the response belong to the tunnel, and there are
            # none until the request goes through it.
            data = sock.recv(4096)
            if data:
                reader.feed_data(data)
            else:
                reader.feed_eof()
            next(parser)
    except StopIteration as exc:
        assert isinstance(exc.value, Response)  # help mypy
        response = exc.value
        if 200 <= response.status_code < 300:
            return response
        raise InvalidProxyStatus(response) from None
    except socket.timeout:
        raise TimeoutError("timed out while connecting to HTTP proxy") from None
    except Exception as exc:
        raise InvalidProxyMessage("did not receive a valid HTTP response from proxy") from exc
    finally:
        sock.settimeout(None)


def connect_http_proxy(
    proxy: Proxy,
    ws_uri: WebSocketURI,
    deadline: Deadline,
    *,
    user_agent_header: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    **kwargs: Any,
) -> socket.socket:
    """Open a tunnel through an HTTP proxy and return the socket."""
    kwargs.setdefault("timeout", deadline.timeout())
    sock = socket.create_connection((proxy.host, proxy.port), **kwargs)
    try:
        if proxy.scheme == "https":
            if ssl is None:
                ssl = ssl_module.create_default_context()
            if server_hostname is None:
                server_hostname = proxy.host
            sock.settimeout(deadline.timeout())
            sock = ssl.wrap_socket(sock, server_hostname=server_hostname)
            sock.settimeout(None)
        sock.sendall(prepare_connect_request(proxy, ws_uri, user_agent_header))
        read_connect_response(sock, deadline)
    except Exception:
        sock.close()
        raise
    return sock


T = TypeVar("T")


class SSLSSLSocket:
    """TLS to the server inside the TLS connection to an https:// proxy.

    :class:`ssl.SSLSocket` can't wrap another one, so the inner TLS runs on an
    :class:`ssl.SSLObject` over memory buffers. Provides what the connection uses.
    """

    recv_bufsize = 65536

    def __init__(
        self,
        sock: ssl_module.SSLSocket,
        ssl_context: ssl_module.SSLContext,
        server_hostname: str | None = None,
    ) -> None:
        self.incoming = ssl_module.MemoryBIO()
        self.outgoing = ssl_module.MemoryBIO()
        self.ssl_socket = sock
        self.ssl_object = ssl_context.wrap_bio(
            self.incoming, self.outgoing, server_hostname=server_hostname
        )
        # Reads and writes both move records through the BIOs: one at a time.
        self._io_lock = threading.Lock()
        self.run_io(self.ssl_object.do_handshake)

    def run_io(self, func: Callable[..., T], *args: Any) -> T:
        while True:
            want_read = False
            with self._io_lock:
                try:
                    result = func(*args)
                except ssl_module.SSLWantReadError:
                    want_read = True
                data = self.outgoing.read()
            if data:
                self.ssl_socket.sendall(data)
            if want_read:
                data = self.ssl_socket.recv(self.recv_bufsize)
                with self._io_lock:
                    if data:
                        self.incoming.write(data)
                    else:
                        self.incoming.write_eof()
                continue
            return result

    def recv(self, buflen: int) -> bytes:
        try:
            return self.run_io(self.ssl_object.read, buflen)
        except ssl_module.SSLEOFError:
            return b""  # a peer closing without close_notify is common: treat as EOF

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        if not nbytes:
            nbytes = len(buffer)
        try:
            read: Callable[..., Any] = self.ssl_object.read  # returns a count, given a buffer
            return int(self.run_io(read, nbytes, buffer))
        except ssl_module.SSLEOFError:
            return 0

    def send(self, data: BytesLike) -> int:
        return self.run_io(self.ssl_object.write, data)

    def sendall(self, data: BytesLike) -> None:
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            sent += self.send(view[sent:])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ssl_socket, name)
