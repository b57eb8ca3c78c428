"""URL routing for the asyncio server: ``route()``, a drop-in for ``websockets.asyncio.router``.

The matching itself (a werkzeug :class:`~werkzeug.routing.Map`, 404 and 302 answered in
``process_request`` before the handshake) is shared with the threading server in
:mod:`wsfast.routing`; this module runs the matched handler as a coroutine and
composes ``process_request``. werkzeug is an optional dependency: without it this module
still imports, and :func:`route` and :func:`unix_route` raise :exc:`ImportError` when called.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from .. import routing
from ..http11 import Request, Response
from ..typing import PathLike
from .server import Server, ServerConnection, serve

if TYPE_CHECKING:
    from werkzeug.routing import Map

__all__ = ["route", "unix_route", "Router"]

ProcessRequest = Callable[
    [ServerConnection, Request], Awaitable[Response | None] | Response | None
]


class Router(routing.Router):
    """Dispatches connections to the handlers of a werkzeug URL map, for :func:`route`.

    Subclass it, or wrap it, and pass it as ``create_router`` to customize routing:
    :meth:`get_server_name`, :meth:`redirect` and :meth:`not_found` are the hooks.
    """

    async def handler(self, connection: ServerConnection) -> None:
        """The server's connection handler: run the handler that the request matched."""
        await connection.handler(connection, **connection.handler_kwargs)


def route(
    url_map: Map,
    *args: Any,
    server_name: str | None = None,
    ssl: ssl_module.SSLContext | Literal[True] | None = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server that dispatches connections with a werkzeug URL map.

    Requires werkzeug. Arguments are those of :func:`~wsfast.asyncio.server.serve` (and
    other keyword arguments go to it), except that ``url_map`` replaces the handler: its
    rules' endpoints are coroutine functions called with the connection and the values
    captured from the URL as keyword arguments::

        async def channel(websocket, channel_id): ...

        url_map = Map([Rule("/channel/<uuid:channel_id>", endpoint=channel)])
        async with route(url_map, "127.0.0.1", 8765) as server:
            await server.serve_forever()

    A request that matches no rule gets 404; one that the map redirects (a missing
    trailing slash, a rule's ``redirect_to``) gets 302 with the new URL in ``Location``.
    That URL's host is ``server_name``, or the request's Host header when it is None. Its
    scheme is ``wss`` when ``ssl`` is set: an :class:`~ssl.SSLContext` enables TLS, and
    ``True`` only says that clients connect with TLS (a proxy in front terminates it).
    A ``process_request`` runs first; when it returns None, the map routes the request.
    ``create_router`` replaces :class:`Router`: it is called with the map, ``server_name``
    and the URL scheme.
    """
    router = routing.router_for_route(
        Router, create_router, url_map, server_name, ssl, kwargs
    )

    user_process_request: ProcessRequest | None = kwargs.pop("process_request", None)
    process_request: ProcessRequest
    if user_process_request is None:
        process_request = router.route_request
    else:
        first = user_process_request

        async def process_request(
            connection: ServerConnection, request: Request
        ) -> Response | None:
            response = first(connection, request)
            if isinstance(response, Awaitable):
                response = await response
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
    :func:`~wsfast.asyncio.server.unix_serve`). Requires werkzeug."""
    routing.require_werkzeug("unix_route")
    return route(url_map, unix=True, path=path, **kwargs)
