"""Fuzz target ``headers``: the handshake header parsers of wsfast.headers and the
negotiation built on them (Sec-WebSocket-Extensions, Sec-WebSocket-Protocol, Connection,
Upgrade, Authorization; permessage-deflate parameters, RFC 6455 §9.1, RFC 7692 §7).

This layer is pure Python on both codecs: there is no Cython twin to compare with, so it is
fuzzed once per input, for crashes and invariants, and against websockets 17's
``websockets.headers`` and permessage-deflate factories, whose results and error messages
wsfast documents as its own (when websockets is importable; without it those comparisons are
skipped). A finding is:

* an exception other than InvalidHeaderFormat / InvalidHeaderValue from a parser, or other
  than NegotiationError (and its subclasses) from a negotiation;
* a result that isn't made of tokens, or that doesn't parse back to itself once built
  (``parse(build(parse(x))) == parse(x)``);
* a server answer to an offer that the client making that offer refuses, or extensions on
  the two sides that don't mirror each other (what one compresses with, the other inflates
  with);
* a different result or error message than websockets gives for the same value;
* (libFuzzer's -timeout) a value that takes long to parse: the module promises linear time.
"""

from __future__ import annotations

import re
from typing import Any

from wsfast import headers as wsheaders
from wsfast.datastructures import Headers
from wsfast.exceptions import InvalidHeaderFormat, InvalidHeaderValue, NegotiationError
from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

from ._common import Finding, Input, require

try:  # the reference whose behaviour wsfast.headers documents as its own
    import websockets.extensions.permessage_deflate as ws_deflate
    import websockets.headers as ws_headers
except ImportError:  # pragma: no cover - websockets is in the test extra
    ws_headers = ws_deflate = None

TARGET = "headers"

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

PARSERS = {
    "Sec-WebSocket-Extensions": ("parse_extension", "build_extension"),
    "Sec-WebSocket-Protocol": ("parse_subprotocol", "build_subprotocol"),
    "Connection": ("parse_connection", None),
    "Upgrade": ("parse_upgrade", None),
    "Authorization": ("parse_authorization_basic", None),
}
MODES = [*PARSERS, "server-negotiation", "client-negotiation", "protocol-negotiation"]


def outcome(function: Any, *args: Any) -> tuple[Any, ...]:
    try:
        return ("return", function(*args))
    except Exception as exc:  # noqa: BLE001 - compared by name and message
        return ("raise", type(exc).__name__, str(exc))


def check_parser(name: str, value: str) -> None:
    parse_name, build_name = PARSERS[name]
    parse = getattr(wsheaders, parse_name)
    try:
        result = parse(value)
    except (InvalidHeaderFormat, InvalidHeaderValue):
        result = None
    except Exception as exc:
        raise Finding(f"{parse_name}({value!r:.300}) raised {type(exc).__name__}: {exc}") from exc

    if ws_headers is not None:
        mine, theirs = outcome(parse, value), outcome(getattr(ws_headers, parse_name), value)
        if mine != theirs:
            raise Finding(f"{parse_name}({value!r:.300}): wsfast {mine!r:.500}, websockets {theirs!r:.500}")

    if result is None:
        return
    if parse_name == "parse_extension":
        for ext_name, params in result:
            require(TOKEN.fullmatch(ext_name) is not None, f"extension name {ext_name!r} isn't a token")
            for param, param_value in params:
                require(TOKEN.fullmatch(param) is not None, f"parameter {param!r} isn't a token")
                require(param_value is None or TOKEN.fullmatch(param_value) is not None,
                        f"parameter value {param_value!r} isn't a token")
    elif parse_name == "parse_authorization_basic":
        username, _password = result
        require(":" not in username, f"username {username!r} contains a colon")
        return
    else:
        for item in result:
            require(item and (TOKEN.fullmatch(item.split("/")[0]) is not None),
                    f"{parse_name} gave {item!r}")
    if build_name is not None:
        rebuilt = getattr(wsheaders, build_name)(result)
        again = parse(rebuilt)
        require(again == result, f"{build_name}/{parse_name} round trip: {result!r} -> "
                f"{rebuilt!r} -> {again!r}")
    else:
        again = parse(", ".join(result))
        require(again == result, f"{parse_name} round trip: {result!r} -> {again!r}")


# Negotiation ----------------------------------------------------------------------------------

BITS = [None, 9, 10, 11, 12, 13, 14, 15]


def server_settings(inp: Input) -> dict[str, Any]:
    flags = inp.byte()
    settings: dict[str, Any] = {
        "server_no_context_takeover": bool(flags & 1),
        "client_no_context_takeover": bool(flags & 2),
        "server_max_window_bits": BITS[(flags >> 2) & 7],
        "client_max_window_bits": [None, 8, 9, 10, 12, 15, 11, 14][flags >> 5],
    }
    settings["require_client_max_window_bits"] = (
        settings["client_max_window_bits"] is not None and bool(inp.byte() & 1)
    )
    return settings


def client_settings(inp: Input) -> dict[str, Any]:
    flags = inp.byte()
    return {
        "server_no_context_takeover": bool(flags & 1),
        "client_no_context_takeover": bool(flags & 2),
        "server_max_window_bits": [None, 8, 9, 10, 12, 15, 11, 14][(flags >> 2) & 7],
        "client_max_window_bits": [True, None, 9, 10, 12, 15, 11, 14][flags >> 5],
    }


def describe_extension(extension: Any) -> tuple[Any, ...]:
    return (
        extension.remote_no_context_takeover, extension.local_no_context_takeover,
        extension.remote_max_window_bits, extension.local_max_window_bits,
    )


def negotiate_server(settings: dict[str, Any], params: list[Any], module: Any) -> tuple[Any, ...]:
    factory = module.ServerPerMessageDeflateFactory(**settings)
    try:
        response, extension = factory.process_request_params(params, [])
    except Exception as exc:  # noqa: BLE001 - compared by name and message
        return ("raise", type(exc).__name__, str(exc))
    return ("return", list(response), describe_extension(extension))


def negotiate_client(settings: dict[str, Any], params: list[Any], module: Any) -> tuple[Any, ...]:
    factory = module.ClientPerMessageDeflateFactory(**settings)
    try:
        extension = factory.process_response_params(params, [])
    except Exception as exc:  # noqa: BLE001 - compared by name and message
        return ("raise", type(exc).__name__, str(exc))
    return ("return", describe_extension(extension))


def offer_as_client_settings(params: list[Any]) -> dict[str, Any] | None:
    """The client factory settings that would send these offer parameters, if any."""
    settings: dict[str, Any] = {"client_max_window_bits": None}
    for name, value in params:
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            settings[name] = True
        elif name == "server_max_window_bits":
            settings[name] = int(value)
        elif name == "client_max_window_bits":
            settings[name] = True if value is None else int(value)
    try:
        ClientPerMessageDeflateFactory(**settings)
    except ValueError:
        return None
    return settings


def check_server_negotiation(inp: Input, value: str) -> None:
    settings = server_settings(inp)
    try:
        offers = wsheaders.parse_extension(value)
    except InvalidHeaderFormat:
        return
    for name, params in offers[:4]:
        if name != "permessage-deflate":
            continue
        factory = ServerPerMessageDeflateFactory(**settings)
        try:
            response, server_side = factory.process_request_params(params, [])
        except NegotiationError:
            response = None
        except Exception as exc:
            raise Finding(f"process_request_params({params!r}) raised {type(exc).__name__}: {exc}") from exc
        if ws_deflate is not None and _comparable(settings, params):
            mine = negotiate_server(settings, params, _wsfast_deflate())
            theirs = negotiate_server(settings, params, ws_deflate)
            require(mine == theirs, f"server negotiation of {params!r} with {settings}: "
                    f"wsfast {mine!r}, websockets {theirs!r}")
        if response is None:
            continue
        require(isinstance(server_side, PerMessageDeflate), "the server factory built no extension")
        # The answer must go through the header syntax and satisfy the client that offered.
        header = wsheaders.build_extension([(name, response)])
        require(wsheaders.parse_extension(header) == [(name, response)],
                f"the server's answer {header!r} doesn't parse back")
        client = offer_as_client_settings(params)
        if client is None or ("client_max_window_bits", "8") in response:
            # A client told to compress with 8 refuses, as documented (and as websockets).
            continue
        try:
            client_side = ClientPerMessageDeflateFactory(**client).process_response_params(response, [])
        except NegotiationError as exc:
            raise Finding(f"the server answered {header!r} to the offer {params!r} "
                          f"(server {settings}), which the client refuses: {exc}") from None
        require(
            (client_side.remote_no_context_takeover, client_side.remote_max_window_bits)
            == (server_side.local_no_context_takeover, server_side.local_max_window_bits)
            and (client_side.local_no_context_takeover, client_side.local_max_window_bits)
            == (server_side.remote_no_context_takeover, server_side.remote_max_window_bits),
            f"sides don't mirror: server {server_side!r}, client {client_side!r}",
        )


def check_client_negotiation(inp: Input, value: str) -> None:
    settings = client_settings(inp)
    try:
        answers = wsheaders.parse_extension(value)
    except InvalidHeaderFormat:
        return
    for name, params in answers[:4]:
        if name != "permessage-deflate":
            continue
        try:
            extension = ClientPerMessageDeflateFactory(**settings).process_response_params(params, [])
        except NegotiationError:
            extension = None
        except Exception as exc:
            raise Finding(f"process_response_params({params!r}) raised {type(exc).__name__}: {exc}") from exc
        if ws_deflate is not None and _comparable(settings, params):
            mine = negotiate_client(settings, params, _wsfast_deflate())
            theirs = negotiate_client(settings, params, ws_deflate)
            require(mine == theirs, f"client negotiation of {params!r} with {settings}: "
                    f"wsfast {mine!r}, websockets {theirs!r}")
        if extension is not None:
            # What the client accepted stays within what it offered.
            if settings["server_max_window_bits"] is not None:
                require(extension.remote_max_window_bits <= settings["server_max_window_bits"],
                        f"accepted a server window above the offer: {extension!r}")
            if settings["client_max_window_bits"] not in (None, True):
                require(extension.local_max_window_bits <= settings["client_max_window_bits"],
                        f"accepted a client window above the offer: {extension!r}")
            if settings["client_no_context_takeover"]:
                require(extension.local_no_context_takeover, "dropped client_no_context_takeover")


def _wsfast_deflate() -> Any:
    import wsfast.extensions.permessage_deflate as module

    return module


def _comparable(settings: dict[str, Any], params: list[Any]) -> bool:
    """Whether websockets is a fair reference: wsfast deliberately never compresses with a
    256-byte window (see wsfast.extensions.permessage_deflate), so leave 8 out."""
    if 8 in settings.values():
        return False
    return all(value != "8" for _, value in params)


def check_protocol_negotiation(inp: Input, values: list[str]) -> None:
    """ServerProtocol.process_extensions/process_subprotocol on several header lines."""
    from wsfast.exceptions import InvalidHandshake
    from wsfast.server import ServerProtocol

    settings = server_settings(inp)
    subprotocols = [None, ["chat"], ["chat", "superchat"], ["v2.proto", "v1.proto"]][inp.byte() & 3]
    headers = Headers()
    for index, value in enumerate(values):
        name = "Sec-WebSocket-Extensions" if index % 2 == 0 else "Sec-WebSocket-Protocol"
        try:
            headers[name] = value
        except InvalidHeaderValue:
            continue  # characters that http11 rejects before negotiation starts
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory(**settings)], subprotocols=subprotocols
    )
    try:
        response_header, accepted = server.process_extensions(headers)
    except InvalidHandshake:
        pass
    except Exception as exc:
        raise Finding(f"process_extensions raised {type(exc).__name__}: {exc}") from exc
    else:
        require(len(accepted) <= 1, f"permessage-deflate accepted twice: {accepted}")
        if response_header is not None:
            require(len(wsheaders.parse_extension(response_header)) == len(accepted),
                    f"response header {response_header!r} for {accepted}")
    try:
        selected = server.process_subprotocol(headers)
    except InvalidHandshake:
        pass
    except Exception as exc:
        raise Finding(f"process_subprotocol raised {type(exc).__name__}: {exc}") from exc
    else:
        require(selected is None or (subprotocols is not None and selected in subprotocols),
                f"selected {selected!r} among {subprotocols}")


def check(data: bytes) -> None:
    inp = Input(data)
    mode = MODES[inp.byte() % len(MODES)]
    strip = inp.flag()
    if mode == "protocol-negotiation":
        settings_bytes = inp.take(3)
        values = inp.rest().decode("latin-1").split("\n")[:6]
        check_protocol_negotiation(Input(settings_bytes), [v.strip(" \t") for v in values])
        return
    settings = Input(inp.take(2))
    value = inp.rest().decode("latin-1")
    if strip:
        # As http11 hands values over: without surrounding whitespace (RFC 9112 §5.1).
        value = value.strip(" \t")
    if mode == "server-negotiation":
        check_server_negotiation(settings, value)
    elif mode == "client-negotiation":
        check_client_negotiation(settings, value)
    else:
        check_parser(mode, value)


# Seeds -------------------------------------------------------------------------------------


def seeds() -> list[tuple[str, bytes]]:
    out = []

    def add(name: str, mode: str, value: str, settings: bytes = b"\x00\x00") -> None:
        index = MODES.index(mode)
        body = settings + value.encode("latin-1") if mode != "protocol-negotiation" else (
            settings.ljust(3, b"\x00") + value.encode("latin-1"))
        out.append((name, bytes((index, 1)) + body))

    deflate_offer = ("permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
                     "permessage-deflate; client_no_context_takeover")
    add("ext-offer", "Sec-WebSocket-Extensions", deflate_offer)
    add("ext-quoted", "Sec-WebSocket-Extensions", 'x-ext; a="token"; b=1, , y ;c ; d = e')
    add("ext-bad-quote", "Sec-WebSocket-Extensions", 'foo; bar="baz qux"')
    add("proto", "Sec-WebSocket-Protocol", "chat, superchat,, v2.proto")
    add("connection", "Connection", "keep-alive, Upgrade")
    add("upgrade", "Upgrade", "websocket, HTTP/2.0")
    add("auth", "Authorization", "Basic dXNlcjpwYXNz")
    add("auth-bad", "Authorization", "Basic !!!")
    add("server-offer", "server-negotiation", deflate_offer, b"\x2d\x01")
    add("server-offer-8", "server-negotiation",
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", b"\x24\x00")
    add("server-dup", "server-negotiation",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover", b"\x00")
    add("client-answer", "client-negotiation",
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10", b"\x48")
    add("client-answer-unasked", "client-negotiation",
        "permessage-deflate; client_max_window_bits=9; server_no_context_takeover", b"\x21")
    add("protocol", "protocol-negotiation",
        deflate_offer + "\nchat, superchat\npermessage-deflate; x=1\nv1.proto", b"\x0c\x00\x02")
    return out
