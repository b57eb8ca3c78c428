"""Deliberate differences from websockets 17.4's API, for tests/interop/test_api_parity.py.

Key: ``"websockets.module:name"``, ``"websockets.module:Class.method"``, or
``"websockets.module:*"`` for a whole module (its import, or its absence). Value: why, on
one line. An entry whose difference no longer exists fails the test: delete it then.
docs/compatibility.md reproduces this list.

Not listed because the test allows them in general: keyword-only parameters with a default
that wsfast adds (no call written for websockets breaks on them).
"""

_LEGACY = "legacy API: issue 21"
_INTERNAL = "internal method of websockets' implementation, not called by applications; wsfast's is built differently"

ALLOWLIST: dict[str, str] = {
    # websockets' deprecated aliases whose only target is its legacy API.
    "websockets:AbortHandshake": _LEGACY,
    "websockets:BasicAuthWebSocketServerProtocol": _LEGACY,
    "websockets:RedirectHandshake": _LEGACY,
    "websockets:WebSocketClientProtocol": _LEGACY,
    "websockets:WebSocketCommonProtocol": _LEGACY,
    "websockets:WebSocketServer": _LEGACY,
    "websockets:WebSocketServerProtocol": _LEGACY,
    "websockets:basic_auth_protocol_factory": _LEGACY,
    "websockets.auth:*": _LEGACY + " (websockets.auth is an alias of websockets.legacy.auth)",
    "websockets.client:WebSocketClientProtocol": _LEGACY,
    "websockets.client:connect": _LEGACY + " (websockets.client.connect is the legacy client)",
    "websockets.client:unix_connect": _LEGACY,
    "websockets.exceptions:AbortHandshake": _LEGACY,
    "websockets.exceptions:RedirectHandshake": _LEGACY,
    "websockets.server:WebSocketServer": _LEGACY,
    "websockets.server:WebSocketServerProtocol": _LEGACY,
    "websockets.server:broadcast": _LEGACY + " (websockets.server.broadcast is the legacy one)",
    "websockets.server:serve": _LEGACY + " (websockets.server.serve is the legacy server)",
    "websockets.server:unix_serve": _LEGACY,
    # Deprecated aliases that wsfast resolves to the current exception, not the legacy one.
    "websockets:InvalidStatusCode": "resolves to InvalidStatus (legacy InvalidStatusCode is issue 21), which also takes (status_code, headers)",
    "websockets.exceptions:InvalidStatusCode": "resolves to InvalidStatus (legacy InvalidStatusCode is issue 21), which also takes (status_code, headers)",
    # Constructors that accept more.
    "websockets.exceptions:InvalidStatus": "also accepts (status_code, headers=None) or status_code=, the form of the project's spec, so response has a default",
    "websockets.exceptions:InvalidProxyStatus": "also accepts (status_code, headers=None) or status_code=, the form of the project's spec, so response has a default",
    "websockets.exceptions:PayloadTooBig": "the first argument may also be passed as size=, so size_or_message has a (sentinel) default",
    "websockets.datastructures:is_valid_header_value": "a function of the value; websockets' is a compiled pattern's fullmatch (same positional call, returns bool not Match)",
    # Different construction.
    "websockets.cli:interactive_client": "wsfast's client takes ssl_context= and linger= (probe hint, pipe lingering) instead of passing **kwargs to connect()",
    # Internals of websockets' implementation that wsfast has no counterpart for.
    "websockets.asyncio.connection:Connection.acknowledge_pings": _INTERNAL,
    "websockets.asyncio.connection:Connection.close_exc": _INTERNAL,
    "websockets.asyncio.connection:Connection.data_received": "asyncio.Protocol callback; wsfast's connection is an asyncio.BufferedProtocol (buffer_updated)",
    "websockets.asyncio.connection:Connection.process_event": _INTERNAL,
    "websockets.asyncio.connection:Connection.send_data": _INTERNAL,
    "websockets.asyncio.connection:Connection.set_connection_exc": _INTERNAL,
    "websockets.asyncio.connection:Connection.terminate_pending_pings": _INTERNAL,
    "websockets.asyncio.client:ClientConnection.process_event": _INTERNAL,
    "websockets.asyncio.server:ServerConnection.process_event": _INTERNAL,
    "websockets.asyncio.client:connect.connect": _INTERNAL,
    "websockets.asyncio.client:connect.open_tcp_connection": _INTERNAL,
    "websockets.asyncio.messages:Assembler.maybe_pause": _INTERNAL,
    "websockets.asyncio.messages:Assembler.maybe_resume": _INTERNAL,
    "websockets.sync.messages:Assembler.get_next_frame": _INTERNAL,
    "websockets.sync.messages:Assembler.maybe_pause": _INTERNAL,
    "websockets.sync.messages:Assembler.maybe_resume": _INTERNAL,
    "websockets.sync.messages:Assembler.reset_queue": _INTERNAL,
    "websockets.http11:d": "websockets' one-letter helper for error messages (bytes to text)",
    "websockets.version:released": "websockets' release-process flag; wsfast.version has tag, version, commit and websockets_version",
}
