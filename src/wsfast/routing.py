"""URL routing without I/O: the werkzeug matching that both servers' ``route()`` share.

A werkzeug :class:`~werkzeug.routing.Map` picks the connection handler from the request's
path; the values its converters capture become keyword arguments of the handler. The map
is matched in ``process_request``, so that a path that matches no rule is answered with
404 and a rule's redirect with 302 and a ``Location`` header, before any WebSocket
handshake. :mod:`wsfast.asyncio.router` and :mod:`wsfast.sync.router` add the handler that
runs the match (a coroutine or a function) and ``route()``/``unix_route()``.

werkzeug is an optional dependency: without it this module still imports, and the routers'
``route()`` and ``unix_route()`` raise :exc:`ImportError` when called.
"""

from __future__ import annotations

import http
import ssl as ssl_module
import urllib.parse
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from .http11 import Request, Response

if TYPE_CHECKING:
    from werkzeug.routing import Map

try:
    from werkzeug.exceptions import NotFound
    from werkzeug.routing import RequestRedirect
except ImportError as exc:  # require_werkzeug() reports it when route() is called
    _werkzeug_missing: ImportError | None = exc
else:
    _werkzeug_missing = None

__all__ = ["ServerConnection", "Router", "require_werkzeug", "router_for_route"]


class ServerConnection(Protocol):
    """What routing needs of a server connection, asyncio's or threading's.

    Named as websockets names the routers' parameter, so that the signatures read the same.
    """

    handler: Any
    handler_kwargs: Any

    def respond(self, status: http.HTTPStatus, text: str) -> Response: ...


def require_werkzeug(function: str) -> None:
    if _werkzeug_missing is not None:
        raise ImportError(f"{function}() requires werkzeug") from _werkzeug_missing


class Router:
    """Dispatches connections to the handlers of a werkzeug URL map, for ``route()``.

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

    def route_request(self, connection: ServerConnection, request: Request) -> Response | None:
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


RouterT = TypeVar("RouterT", bound=Router)


def router_for_route(
    router_class: type[RouterT],
    create_router: type[RouterT] | None,
    url_map: Map,
    server_name: str | None,
    ssl: ssl_module.SSLContext | Literal[True] | None,
    serve_kwargs: dict[str, Any],
) -> RouterT:
    """The router of a ``route()`` call; moves an SSL context into ``serve_kwargs``.

    The redirects' scheme is ``wss`` when ``ssl`` is set: a context enables TLS, and
    ``True`` only says that clients connect with TLS (a proxy in front terminates it).
    """
    require_werkzeug("route")
    url_scheme = "ws" if ssl is None else "wss"
    if ssl is not None and ssl is not True:
        serve_kwargs["ssl"] = ssl
    return (router_class if create_router is None else create_router)(
        url_map, server_name, url_scheme
    )
