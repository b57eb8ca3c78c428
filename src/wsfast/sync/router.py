"""URL routing for the threading server: ``route()``, a drop-in for ``websockets.sync.router``.

A werkzeug :class:`~werkzeug.routing.Map` picks the connection handler from the request's
path; the values its converters capture become keyword arguments of the handler. The map
is matched in ``process_request``, so that a path that matches no rule is answered with
404 and a rule's redirect with 302 and a ``Location`` header, before any WebSocket
handshake. werkzeug is an optional dependency: without it this module still imports, and
:func:`route` and :func:`unix_route` raise :exc:`ImportError` when called.
"""

from __future__ import annotations

import http
import ssl as ssl_module
import urllib.parse
from collections.abc import Callable
from typing import Any, Literal

from ..http11 import Request, Response
from ..typing import PathLike
from .server import Server, ServerConnection, serve

try:
    from werkzeug.exceptions import NotFound
    from werkzeug.routing import Map, RequestRedirect
except ImportError as exc:  # route() and unix_route() report it when they're called
    _werkzeug_missing: ImportError | None = exc
else:
    _werkzeug_missing = None

__all__ = ["route", "unix_route", "Router"]

ProcessRequest = Callable[[ServerConnection, Request], Response | None]


def _require_werkzeug(function: str) -> None:
    if _werkzeug_missing is not None:
        raise ImportError(f"{function}() requires werkzeug") from _werkzeug_missing


class Router:
    """Dispatches connections to the handlers of a werkzeug URL map, for :func:`route`.

    Subclass it, or wrap it, and pass it as ``create_router`` to customize routing:
    :meth:`get_server_name`, :meth:`redirect` and :meth:`not_found` are the hooks.
    """

    def __init__(
        self,
        url_map: Map,
        server_name: str | None = None,
        url_scheme: str = "ws",
    ) -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        # Bound with a ws:// or wss:// scheme, a map only matches WebSocket rules: every
        # rule of this map is one, without the user having to say websocket=True.
        for rule in url_map.iter_rules():
            rule.websocket = True

    def get_server_name(self, connection: ServerConnection, request: Request) -> str:
        """The host that redirects point to: ``server_name`` if set, else the Host header."""
        if self.server_name is not None:
            return self.server_name
        return request.headers["Host"]

    def redirect(self, connection: ServerConnection, url: str) -> Response:
        """The response to a request that the map redirects to ``url``: 302 Found."""
        response = connection.respond(http.HTTPStatus.FOUND, f"Found at {url}")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: ServerConnection) -> Response:
        """The response to a request that no rule matches: 404 Not Found."""
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found")

    def route_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Match the request's path; remember the handler and its arguments on the
        connection, or return the response (redirect or 404) that rejects the handshake."""
        adapter = self.url_map.bind(
            self.get_server_name(connection, request),
            url_scheme=self.url_scheme,
        )
        # urlparse, as websockets does: a ";params" suffix of the last segment isn't matched.
        target = urllib.parse.urlparse(request.path)
        try:
            endpoint, arguments = adapter.match(target.path, query_args=target.query)
        except RequestRedirect as redirect:
            return self.redirect(connection, redirect.new_url)
        except NotFound:
            return self.not_found(connection)
        connection.handler = endpoint
        connection.handler_kwargs = arguments
        return None

    def handler(self, connection: ServerConnection) -> None:
        """The server's connection handler: run the handler that the request matched."""
        connection.handler(connection, **connection.handler_kwargs)


def route(
    url_map: Map,
    *args: Any,
    server_name: str | None = None,
    ssl: ssl_module.SSLContext | Literal[True] | None = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server that dispatches connections with a werkzeug URL map.

    Requires werkzeug. Arguments are those of :func:`~wsfast.sync.server.serve` (and
    other keyword arguments go to it), except that ``url_map`` replaces the handler: its
    rules' endpoints are functions called, in the connection's thread, with the connection
    and the values captured from the URL as keyword arguments::

        def channel(websocket, channel_id): ...

        url_map = Map([Rule("/channel/<uuid:channel_id>", endpoint=channel)])
        with route(url_map, "127.0.0.1", 8765) as server:
            server.serve_forever()

    A request that matches no rule gets 404; one that the map redirects (a missing
    trailing slash, a rule's ``redirect_to``) gets 302 with the new URL in ``Location``.
    That URL's host is ``server_name``, or the request's Host header when it is None. Its
    scheme is ``wss`` when ``ssl`` is set: an :class:`~ssl.SSLContext` enables TLS, and
    ``True`` only says that clients connect with TLS (a proxy in front terminates it).
    A ``process_request`` runs first; when it returns None, the map routes the request.
    ``create_router`` replaces :class:`Router`: it is called with the map, ``server_name``
    and the URL scheme.
    """
    _require_werkzeug("route")
    url_scheme = "ws" if ssl is None else "wss"
    if ssl is not None and ssl is not True:
        kwargs["ssl"] = ssl
    router = (Router if create_router is None else create_router)(
        url_map, server_name, url_scheme
    )

    user_process_request: ProcessRequest | None = kwargs.pop("process_request", None)
    process_request: ProcessRequest
    if user_process_request is None:
        process_request = router.route_request
    else:
        first = user_process_request

        def process_request(connection: ServerConnection, request: Request) -> Response | None:
            response = first(connection, request)
            if response is None:
                response = router.route_request(connection, request)
            return response

    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(
    url_map: Map,
    path: PathLike | None = None,
    **kwargs: Any,
) -> Server:
    """Like :func:`route`, listening on a Unix socket at ``path`` (see
    :func:`~wsfast.sync.server.unix_serve`). Requires werkzeug."""
    _require_werkzeug("unix_route")
    return route(url_map, unix=True, path=path, **kwargs)
