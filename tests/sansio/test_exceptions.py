"""Tests for wsfast.exceptions: websockets 17.x compatibility plus the spec's additions.

websockets 17 is the reference for names, hierarchy, signatures and messages: wherever it has
the class, the same inputs are given to both and the results compared, rather than comparing
against strings copied here.
"""

from __future__ import annotations

import codecs
import enum
import http
import importlib.util
import inspect
import pickle
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module

import wsfast.exceptions as exceptions
from wsfast.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedErrorInvalidState,
    ConnectionClosedInvalidState,
    ConnectionClosedOK,
    ConnectionClosedOKInvalidState,
    InvalidHeaderFormat,
    InvalidOrigin,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidURI,
    InvalidUTF8,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
    WebSocketException,
)

ws_exceptions = websockets_module("websockets.exceptions")

# The exceptions are built from websockets' frames and responses, as in an application that
# moves from websockets. Without websockets (Python 3.10), from wsfast's: they're duck-typed.
if HAVE_WEBSOCKETS:
    from websockets.datastructures import Headers
    from websockets.frames import OK_CLOSE_CODES, Close
    from websockets.http11 import Response
else:
    from wsfast.datastructures import Headers
    from wsfast.frames import OK_CLOSE_CODES, Close
    from wsfast.http11 import Response

# Exceptions that websockets doesn't have: the "one exception, two contracts" classes and the
# UTF-8 validator's error.
WSFAST_ONLY_NAMES = [
    "ConnectionClosedInvalidState",
    "ConnectionClosedOKInvalidState",
    "ConnectionClosedErrorInvalidState",
    "InvalidUTF8",
]

EXPECTED_ALL = {
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ConnectionClosedInvalidState",
    "ConnectionClosedOKInvalidState",
    "ConnectionClosedErrorInvalidState",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "TooManyFragments",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidState",
    "ConcurrencyError",
    "InvalidUTF8",
}

# websockets' exceptions. Without websockets, the names it has in 17.x, as the tests here check
# on Python 3.11+: wsfast's less its own. The tests comparing with websockets skip then.
if HAVE_WEBSOCKETS:
    WEBSOCKETS_NAMES = list(ws_exceptions.__all__)
else:
    WEBSOCKETS_NAMES = sorted(EXPECTED_ALL - set(WSFAST_ONLY_NAMES))


class StandInClose:
    """A close frame as the exceptions see it: code, reason and str(); picklable."""

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code} {self.reason}".rstrip()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StandInClose) and (self.code, self.reason) == (
            other.code,
            other.reason,
        )

    __hash__ = None  # type: ignore[assignment]


class StandInState(enum.IntEnum):
    OPEN = 1
    CLOSED = 3


def ours(name: str) -> type[BaseException]:
    return getattr(exceptions, name)


def theirs(name: str) -> type[BaseException]:
    return getattr(ws_exceptions, name)


def response(status: int = 400, body: bytes = b"", headers=(), reason: str | None = None):
    if reason is None:
        reason = http.HTTPStatus(status).phrase
    return Response(status, reason, Headers(list(headers)), body)


TEXT_PLAIN = ("Content-Type", "text/plain; charset=utf-8")
TEXT_HTML = ("Content-Type", "text/html")


# __all__ and the module's shape ------------------------------------------------------------


def test_all_is_pinned():
    assert len(exceptions.__all__) == len(set(exceptions.__all__))
    assert set(exceptions.__all__) == EXPECTED_ALL


def test_all_names_are_exception_classes_of_this_module():
    for name in exceptions.__all__:
        cls = ours(name)
        assert isinstance(cls, type) and issubclass(cls, BaseException), name
        assert cls.__module__ == "wsfast.exceptions", name


@needs_websockets
def test_every_websockets_exception_exists():
    assert set(WEBSOCKETS_NAMES) <= set(exceptions.__all__)
    assert set(exceptions.__all__) - set(WEBSOCKETS_NAMES) == set(WSFAST_ONLY_NAMES)


def test_star_import_exports_exactly_all():
    namespace: dict = {}
    exec("from wsfast.exceptions import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == EXPECTED_ALL


def test_module_loads_standalone_without_the_rest_of_wsfast():
    # Every other wsfast module imports this one, so it must not import them back (Close and
    # Response are duck-typed). Loading the file outside its package proves it.
    path = Path(exceptions.__file__)
    spec = importlib.util.spec_from_file_location("_standalone_exceptions", path)
    module = importlib.util.module_from_spec(spec)
    before = {name for name in sys.modules if name.startswith("wsfast")}
    spec.loader.exec_module(module)
    after = {name for name in sys.modules if name.startswith("wsfast")}
    assert after == before
    assert set(module.__all__) == EXPECTED_ALL


@pytest.mark.parametrize(
    ("alias", "target"),
    [("WebSocketProtocolError", "ProtocolError"), ("InvalidStatusCode", "InvalidStatus")],
)
def test_deprecated_aliases_warn_like_websockets(alias, target):
    with pytest.warns(DeprecationWarning, match=alias):
        assert getattr(exceptions, alias) is ours(target)
    assert alias not in exceptions.__all__


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchError"):
        exceptions.NoSuchError  # noqa: B018


# Hierarchy ---------------------------------------------------------------------------------

SPEC_TREE = {
    "ConnectionClosed": "WebSocketException",
    "ConnectionClosedOK": "ConnectionClosed",
    "ConnectionClosedError": "ConnectionClosed",
    "InvalidURI": "WebSocketException",
    "InvalidProxy": "WebSocketException",
    "InvalidHandshake": "WebSocketException",
    "SecurityError": "InvalidHandshake",
    "RequestLineTooLong": "SecurityError",
    "StatusLineTooLong": "SecurityError",
    "HeaderLineTooLong": "SecurityError",
    "TooManyHeaders": "SecurityError",
    "ProxyError": "InvalidHandshake",
    "InvalidProxyMessage": "ProxyError",
    "InvalidProxyStatus": "ProxyError",
    "InvalidMessage": "InvalidHandshake",
    "InvalidMethod": "InvalidHandshake",
    "InvalidProtocol": "InvalidHandshake",
    "InvalidStatus": "InvalidHandshake",
    "InvalidHeader": "InvalidHandshake",
    "InvalidHeaderFormat": "InvalidHeader",
    "InvalidHeaderValue": "InvalidHeader",
    "InvalidOrigin": "InvalidHeader",
    "InvalidUpgrade": "InvalidHeader",
    "NegotiationError": "InvalidHandshake",
    "DuplicateParameter": "NegotiationError",
    "InvalidParameterName": "NegotiationError",
    "InvalidParameterValue": "NegotiationError",
    "ProtocolError": "WebSocketException",
    "PayloadTooBig": "WebSocketException",
    "TooManyFragments": "WebSocketException",
    "InvalidState": "WebSocketException",
    "ConcurrencyError": "WebSocketException",
}


@pytest.mark.parametrize(("child", "parent"), sorted(SPEC_TREE.items()))
def test_spec_tree(child, parent):
    assert issubclass(ours(child), ours(parent))


@needs_websockets
def test_spec_tree_covers_every_websockets_name():
    assert set(SPEC_TREE) | {"WebSocketException"} == set(WEBSOCKETS_NAMES)


@needs_websockets
def test_hierarchy_matches_websockets_pairwise():
    # Not only the spec's edges: no extra or missing subclass relation among websockets' names.
    for child in WEBSOCKETS_NAMES:
        for parent in WEBSOCKETS_NAMES:
            expected = issubclass(theirs(child), theirs(parent))
            assert issubclass(ours(child), ours(parent)) == expected, (child, parent)


@needs_websockets
@pytest.mark.parametrize("name", WEBSOCKETS_NAMES)
def test_builtin_bases_match_websockets(name):
    def builtin_bases(cls):
        return {base for base in cls.__mro__ if base.__module__ == "builtins"}

    assert builtin_bases(ours(name)) == builtin_bases(theirs(name))


def test_invalid_state_is_an_assertion_error():
    assert issubclass(InvalidState, AssertionError)
    assert issubclass(InvalidState, WebSocketException)


def test_concurrency_error_is_a_runtime_error():
    assert issubclass(ConcurrencyError, RuntimeError)
    assert issubclass(ConcurrencyError, WebSocketException)


def test_dual_contract_classes():
    for cls in (
        ConnectionClosedInvalidState,
        ConnectionClosedOKInvalidState,
        ConnectionClosedErrorInvalidState,
    ):
        assert issubclass(cls, ConnectionClosed)
        assert issubclass(cls, InvalidState)
    assert issubclass(ConnectionClosedOKInvalidState, ConnectionClosedOK)
    assert not issubclass(ConnectionClosedOKInvalidState, ConnectionClosedError)
    assert issubclass(ConnectionClosedErrorInvalidState, ConnectionClosedError)
    assert not issubclass(ConnectionClosedErrorInvalidState, ConnectionClosedOK)
    # The plain classes stay plain: `except InvalidState` must not swallow every close.
    assert not issubclass(ConnectionClosedOK, InvalidState)
    assert not issubclass(ConnectionClosedError, InvalidState)


def test_invalid_utf8_is_a_unicode_decode_error_only():
    assert issubclass(InvalidUTF8, UnicodeDecodeError)
    assert issubclass(InvalidUTF8, ValueError)
    assert not issubclass(InvalidUTF8, WebSocketException)


# Signatures --------------------------------------------------------------------------------


def _named_parameters(function):
    return [
        parameter
        for parameter in list(inspect.signature(function).parameters.values())[1:]
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.POSITIONAL_ONLY)
    ]


@needs_websockets
@pytest.mark.parametrize("name", WEBSOCKETS_NAMES)
def test_positional_parameters_match_websockets(name):
    # Same names in the same positions, so positional and keyword calls written for
    # websockets both work; ours may add optional or keyword-only parameters after them.
    their_params = _named_parameters(theirs(name).__init__)
    our_params = _named_parameters(ours(name).__init__)
    assert [p.name for p in our_params[: len(their_params)]] == [p.name for p in their_params]
    for mine, reference in zip(our_params, their_params):
        if reference.default is inspect.Parameter.empty:
            continue
        assert mine.default == reference.default, (name, mine.name)
    for extra in our_params[len(their_params) :]:
        assert extra.default is not inspect.Parameter.empty, (name, extra.name)


# Messages and attributes, compared with websockets ------------------------------------------

WS_CLOSES = [
    None,
    Close(1000, ""),
    Close(1001, "going away"),
    Close(1005, ""),
    Close(1002, "bad frame"),
    Close(4000, "é" * 3),
]


def _close_cases():
    for rcvd in WS_CLOSES:
        for sent in WS_CLOSES:
            orders = [None] if rcvd is None or sent is None else [True, False]
            for order in orders:
                yield rcvd, sent, order


CASES = [
    ("WebSocketException", ()),
    ("WebSocketException", ("something broke",)),
    ("InvalidURI", ("http://example.com/", "scheme isn't ws or wss")),
    ("InvalidURI", ("", "")),
    ("InvalidProxy", ("ftp://proxy:21", "scheme ftp isn't supported")),
    ("InvalidHandshake", ("handshake failed",)),
    ("SecurityError", ("limit exceeded",)),
    ("RequestLineTooLong", ()),
    ("RequestLineTooLong", ("request line too long",)),
    ("StatusLineTooLong", ()),
    ("HeaderLineTooLong", ()),
    ("TooManyHeaders", ()),
    ("TooManyFragments", (10,)),
    ("TooManyFragments", (0,)),
    ("ProxyError", ("proxy failed",)),
    ("InvalidProxyMessage", ("did not receive a valid HTTP response from proxy",)),
    ("InvalidProxyStatus", (response(407, b"auth required", [TEXT_PLAIN]),)),
    ("InvalidProxyStatus", (response(502),)),
    ("InvalidMessage", ("did not receive a valid HTTP request",)),
    ("InvalidMethod", ("POST",)),
    ("InvalidProtocol", ("HTTP/1.0",)),
    ("InvalidStatus", (response(403),)),
    ("InvalidStatus", (response(200, b"<html>hi</html>", [TEXT_HTML]),)),
    ("InvalidStatus", (response(404, b"\n\n  \n"),)),
    ("InvalidHeader", ("Sec-WebSocket-Key",)),
    ("InvalidHeader", ("Sec-WebSocket-Key", None)),
    ("InvalidHeader", ("Sec-WebSocket-Key", "")),
    ("InvalidHeader", ("Sec-WebSocket-Key", "not base64")),
    ("InvalidHeaderFormat", ("Sec-WebSocket-Extensions", "expected token", "a=;b", 2)),
    ("InvalidHeaderValue", ("Sec-WebSocket-Version",)),
    ("InvalidHeaderValue", ("Sec-WebSocket-Version", "8")),
    ("InvalidOrigin", (None,)),
    ("InvalidOrigin", ("",)),
    ("InvalidOrigin", ("https://evil.example",)),
    ("InvalidUpgrade", ("Upgrade",)),
    ("InvalidUpgrade", ("Connection", "keep-alive")),
    ("NegotiationError", ("unsupported extension",)),
    ("DuplicateParameter", ("server_max_window_bits",)),
    ("InvalidParameterName", ("x-unknown",)),
    ("InvalidParameterValue", ("client_max_window_bits", None)),
    ("InvalidParameterValue", ("client_max_window_bits", "")),
    ("InvalidParameterValue", ("client_max_window_bits", "16")),
    ("ProtocolError", ("reserved bits must be 0",)),
    ("PayloadTooBig", (None, 1024)),
    ("PayloadTooBig", (2000, 1024)),
    ("PayloadTooBig", (0, 0)),
    ("PayloadTooBig", (2000, 1024, 500)),
    ("PayloadTooBig", (None, 1024, 500)),
    ("PayloadTooBig", (5, 10, 0)),
    ("InvalidState", ()),
    ("InvalidState", ("connection is closed",)),
    ("ConcurrencyError", ()),
    (
        "ConcurrencyError",
        ("cannot call recv while another coroutine is already running recv or get_message",),
    ),
] + [
    (name, close_args)
    for close_args in _close_cases()
    for name in ("ConnectionClosed", "ConnectionClosedOK", "ConnectionClosedError")
]


@needs_websockets
def test_cases_cover_every_websockets_name():
    assert {name for name, _ in CASES} == set(WEBSOCKETS_NAMES)


CASE_IDS = [f"{name}-{index}" for index, (name, _) in enumerate(CASES)]


@needs_websockets
@pytest.mark.parametrize(("name", "args"), CASES, ids=CASE_IDS)
def test_same_message_and_attributes_as_websockets(name, args):
    mine = ours(name)(*args)
    reference = theirs(name)(*args)
    assert str(mine) == str(reference)
    # Every attribute websockets sets, ours sets to the same value.
    for attribute, value in vars(reference).items():
        assert getattr(mine, attribute) == value, attribute


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("InvalidURI", {"uri": "http://x/", "msg": "scheme isn't ws or wss"}),
        ("InvalidProxy", {"proxy": "ftp://p", "msg": "bad scheme"}),
        ("InvalidMethod", {"method": "PUT"}),
        ("InvalidProtocol", {"protocol": "HTTP/2"}),
        ("InvalidStatus", {"response": response(400)}),
        ("InvalidProxyStatus", {"response": response(407)}),
        ("InvalidHeader", {"name": "Upgrade", "value": "h2c"}),
        ("InvalidHeaderFormat", {"name": "X", "error": "expected token", "header": "", "pos": 0}),
        ("InvalidOrigin", {"origin": "null"}),
        ("InvalidParameterValue", {"name": "p", "value": "v"}),
        ("DuplicateParameter", {"name": "p"}),
        ("TooManyFragments", {"max_fragments": 3}),
        ("PayloadTooBig", {"size_or_message": 9, "max_size": 8, "current_size": 1}),
        ("ConnectionClosedError", {"rcvd": None, "sent": Close(1011, "oops")}),
        (
            "ConnectionClosedOK",
            {"rcvd": Close(1000, ""), "sent": Close(1000, ""), "rcvd_then_sent": True},
        ),
    ],
)
def test_keyword_calls_written_for_websockets(name, kwargs):
    mine = ours(name)(**kwargs)
    if HAVE_WEBSOCKETS:
        assert str(mine) == str(theirs(name)(**kwargs))
    # Unlike websockets, a keyword-built exception still pickles.
    assert_round_trip(mine)


@needs_websockets
@given(
    rcvd_code=st.one_of(st.none(), st.sampled_from([1000, 1001, 1002, 1005, 1011, 3000, 4999])),
    sent_code=st.one_of(st.none(), st.sampled_from([1000, 1001, 1003, 1005, 1008, 4000])),
    rcvd_reason=st.text(max_size=20),
    sent_reason=st.text(max_size=20),
    rcvd_then_sent=st.booleans(),
)
def test_connection_closed_message_matches_websockets(
    rcvd_code, sent_code, rcvd_reason, sent_reason, rcvd_then_sent
):
    rcvd = None if rcvd_code is None else Close(rcvd_code, rcvd_reason)
    sent = None if sent_code is None else Close(sent_code, sent_reason)
    order = None if rcvd is None or sent is None else rcvd_then_sent
    assert str(ConnectionClosed(rcvd, sent, order)) == str(
        ws_exceptions.ConnectionClosed(rcvd, sent, order)
    )


@needs_websockets
@given(
    size=st.one_of(st.none(), st.integers(min_value=0, max_value=2**63)),
    max_size=st.integers(min_value=0, max_value=2**63),
    current_size=st.one_of(st.none(), st.integers(min_value=0, max_value=2**63)),
)
def test_payload_too_big_matches_websockets(size, max_size, current_size):
    mine = PayloadTooBig(size, max_size, current_size)
    reference = ws_exceptions.PayloadTooBig(size, max_size, current_size)
    assert str(mine) == str(reference)
    assert (mine.size, mine.max_size, mine.current_size) == (
        reference.size,
        reference.max_size,
        reference.current_size,
    )


# ConnectionClosed ------------------------------------------------------------------------


@pytest.mark.parametrize("close", [Close, StandInClose])
def test_connection_closed_code_and_reason(close):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the spec says no deprecation warning
        received = ConnectionClosedError(close(1011, "internal"), close(1011, ""), True)
        assert (received.code, received.reason) == (1011, "internal")
        sent_only = ConnectionClosedError(None, close(1000, "bye"))
        assert (sent_only.code, sent_only.reason) == (None, None)
        nothing = ConnectionClosedError(None, None)
        assert (nothing.code, nothing.reason) == (None, None)
        assert (nothing.rcvd, nothing.sent, nothing.rcvd_then_sent) == (None, None, None)


def test_connection_closed_accepts_duck_typed_frames():
    exc = ConnectionClosedOK(StandInClose(1000, "done"), StandInClose(1000), False)
    assert str(exc) == "sent 1000; then received 1000 done"


@pytest.mark.parametrize(
    ("rcvd", "sent", "rcvd_then_sent"),
    [
        (Close(1000, ""), Close(1000, ""), None),
        (Close(1000, ""), None, True),
        (None, Close(1000, ""), False),
        (None, None, True),
    ],
)
def test_connection_closed_rejects_inconsistent_order(rcvd, sent, rcvd_then_sent):
    with pytest.raises(ValueError, match="rcvd_then_sent"):
        ConnectionClosed(rcvd, sent, rcvd_then_sent)


def _expected_ok(rcvd, sent):
    # websockets' own rule, from its frames module's constant.
    return (
        rcvd is not None
        and sent is not None
        and rcvd.code in OK_CLOSE_CODES
        and sent.code in OK_CLOSE_CODES
    )


@pytest.mark.parametrize(("rcvd", "sent", "order"), list(_close_cases()))
def test_from_frames_picks_ok_or_error(rcvd, sent, order):
    exc = ConnectionClosed.from_frames(rcvd, sent, order)
    expected = ConnectionClosedOK if _expected_ok(rcvd, sent) else ConnectionClosedError
    assert type(exc) is expected
    assert not isinstance(exc, InvalidState)
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.ConnectionClosed(rcvd, sent, order))


@pytest.mark.parametrize(("rcvd", "sent", "order"), list(_close_cases()))
def test_from_frames_with_operation_builds_the_dual_contract_class(rcvd, sent, order):
    exc = ConnectionClosed.from_frames(rcvd, sent, order, operation="send", state="CLOSED")
    if _expected_ok(rcvd, sent):
        assert type(exc) is ConnectionClosedOKInvalidState
    else:
        assert type(exc) is ConnectionClosedErrorInvalidState
    assert (exc.operation, exc.state) == ("send", "CLOSED")
    assert (exc.rcvd, exc.sent, exc.rcvd_then_sent) == (rcvd, sent, order)
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.ConnectionClosed(rcvd, sent, order))


def _raise_closed_on_send():
    raise ConnectionClosed.from_frames(
        Close(1000, "bye"), Close(1000, "bye"), True, operation="send", state="CLOSED"
    )


def test_dual_contract_caught_as_connection_closed_ok():
    with pytest.raises(ConnectionClosedOK) as info:
        _raise_closed_on_send()
    assert info.value.rcvd == Close(1000, "bye")
    assert info.value.code == 1000


def test_dual_contract_caught_as_invalid_state():
    try:
        _raise_closed_on_send()
    except InvalidState as exc:
        assert (exc.operation, exc.state) == ("send", "CLOSED")
    else:  # pragma: no cover
        pytest.fail("InvalidState not raised")


def test_dual_contract_error_caught_by_both_clauses():
    def recv():
        raise ConnectionClosed.from_frames(None, None, operation="recv", state=StandInState.CLOSED)

    with pytest.raises(ConnectionClosedError):
        recv()
    with pytest.raises(InvalidState) as info:
        recv()
    assert (info.value.operation, info.value.state) == ("recv", "CLOSED")
    assert str(info.value) == "no close frame received or sent"


def test_dual_contract_direct_construction():
    exc = ConnectionClosedErrorInvalidState(None, Close(1011, ""), operation="ping")
    assert (exc.operation, exc.state) == ("ping", None)
    assert exc.code is None
    assert str(exc) == "sent 1011 (internal error); no close frame received"
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.ConnectionClosedError(None, Close(1011, "")))


# InvalidState, ConcurrencyError ------------------------------------------------------------


def test_invalid_state_attributes():
    plain = InvalidState("connection is closing")
    assert str(plain) == "connection is closing"
    assert (plain.operation, plain.state) == (None, None)
    known = InvalidState("cannot send", operation="send", state="CONNECTING")
    assert (known.operation, known.state) == ("send", "CONNECTING")
    assert str(known) == "cannot send"


def test_invalid_state_takes_a_state_enum_member_by_name():
    assert InvalidState(state=StandInState.OPEN).state == "OPEN"


def test_invalid_state_caught_as_assertion_error():
    with pytest.raises(AssertionError):
        raise InvalidState("connection is closed", operation="send", state="CLOSED")


def test_concurrency_error():
    message = "cannot call recv while another coroutine is already running recv or get_message"
    exc = ConcurrencyError(message, operation="recv")
    assert exc.operation == "recv"
    assert str(exc) == message
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.ConcurrencyError(message))
    assert ConcurrencyError(message).operation is None
    with pytest.raises(RuntimeError):
        raise exc


# InvalidURI, InvalidHeader family ----------------------------------------------------------


def test_invalid_uri_reason_is_msg():
    exc = InvalidURI("http://example.com/", "scheme isn't ws or wss")
    assert (exc.uri, exc.msg, exc.reason) == (
        "http://example.com/",
        "scheme isn't ws or wss",
        "scheme isn't ws or wss",
    )


def test_invalid_origin_exposes_origin():
    assert InvalidOrigin("https://evil.example").origin == "https://evil.example"
    missing = InvalidOrigin(None)
    assert (missing.origin, missing.name, missing.value) == (None, "Origin", None)


def test_invalid_header_format_keeps_its_parts():
    exc = InvalidHeaderFormat("Sec-WebSocket-Extensions", "expected token", "a=;b", 2)
    assert (exc.name, exc.error, exc.header, exc.pos) == (
        "Sec-WebSocket-Extensions",
        "expected token",
        "a=;b",
        2,
    )
    assert exc.value == "expected token at 2 in a=;b"


# InvalidStatus, InvalidProxyStatus ---------------------------------------------------------


def test_invalid_status_response_form():
    reply = response(403, b"", [("Retry-After", "5")])
    exc = InvalidStatus(reply)
    assert exc.response is reply
    assert exc.status_code == 403
    assert exc.headers is reply.headers
    assert exc.headers["Retry-After"] == "5"
    assert exc.reason == "Forbidden"
    assert exc.args == (reply,)


@pytest.mark.parametrize(
    "build",
    [
        lambda: InvalidStatus(426),
        lambda: InvalidStatus(426, None),
        lambda: InvalidStatus(status_code=426),
        lambda: InvalidStatus(http.HTTPStatus.UPGRADE_REQUIRED),
    ],
)
def test_invalid_status_status_code_form(build):
    exc = build()
    assert exc.status_code == 426
    assert exc.headers == {}
    assert exc.response.status_code == 426
    assert exc.response.reason_phrase == "Upgrade Required"
    assert exc.response.body == b""
    assert str(exc) == "server rejected WebSocket connection: HTTP 426"
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.InvalidStatus(response(426)))


def test_invalid_status_status_code_form_with_headers():
    headers = Headers([("Sec-WebSocket-Version", "13")])
    exc = InvalidStatus(426, headers)
    assert exc.headers is headers
    assert exc.args == (426, headers)
    assert InvalidStatus(status_code=426, headers=headers).headers is headers
    # An unregistered status has no reason phrase.
    assert InvalidStatus(599).response.reason_phrase == ""


def test_invalid_status_rejects_ambiguous_calls():
    with pytest.raises(TypeError):
        InvalidStatus()
    with pytest.raises(TypeError):
        InvalidStatus(response(400), status_code=400)
    with pytest.raises(TypeError):
        InvalidStatus(response(400), Headers())


PREFIX = "server rejected WebSocket connection: HTTP"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            400,
            b"missing Sec-WebSocket-Key header",
            [TEXT_PLAIN],
            f"{PREFIX} 400: missing Sec-WebSocket-Key header",
        ),
        (
            426,
            b"missing Upgrade header\nA reverse proxy must forward Upgrade and Connection.\n",
            [("content-type", "TEXT/PLAIN")],
            f"{PREFIX} 426: missing Upgrade header",
        ),
        (
            403,
            b"\r\n\r\n  origin https://evil.example refused  \r\n",
            [TEXT_PLAIN],
            f"{PREFIX} 403: origin https://evil.example refused",
        ),
        # No Content-Type: valid UTF-8 text still counts as plain text.
        (400, "clé manquante\n".encode(), [], f"{PREFIX} 400: clé manquante"),
        (
            400,
            b"caf\xe9",
            [("Content-Type", "text/plain; charset=iso-8859-1")],
            f"{PREFIX} 400: café",
        ),
        # An unknown charset falls back to UTF-8 with replacement characters.
        (
            400,
            b"caf\xe9",
            [("Content-Type", "text/plain; charset=no-such-codec")],
            f"{PREFIX} 400: caf\ufffd",
        ),
        (400, b"tab\there\x1b[31m", [TEXT_PLAIN], f"{PREFIX} 400: tab\\there\\x1b[31m"),
        # Not plain text, or nothing to say: websockets' wording, unchanged.
        (400, b"<html><body>400 Bad Request</body></html>", [TEXT_HTML], f"{PREFIX} 400"),
        (400, b"<html><body>400 Bad Request</body></html>", [], f"{PREFIX} 400"),
        (400, b"{\"error\": \"bad\"}", [("Content-Type", "application/json")], f"{PREFIX} 400"),
        (400, b"\xff\xfe\x00binary", [], f"{PREFIX} 400"),
        (400, b"", [TEXT_PLAIN], f"{PREFIX} 400"),
        (400, b" \n\t\n", [TEXT_PLAIN], f"{PREFIX} 400"),
    ],
)
def test_invalid_status_excerpts_a_short_plain_text_body(status, body, headers, expected):
    # str() is websockets'; the excerpt goes into the client's diagnosis.
    exc = InvalidStatus(response(status, body, headers))
    assert str(exc) == f"{PREFIX} {status}"
    excerpt = exc.body_excerpt()
    assert (f"{PREFIX} {status}" if excerpt is None else f"{PREFIX} {status}: {excerpt}") == expected


@needs_websockets
def test_invalid_status_without_body_keeps_websockets_wording():
    for status in (101, 200, 301, 400, 403, 404, 426, 500, 503):
        reply = response(status)
        assert str(InvalidStatus(reply)) == str(ws_exceptions.InvalidStatus(reply))


def test_invalid_status_truncates_a_long_line():
    line = "x" * 500
    excerpt = InvalidStatus(response(400, line.encode(), [TEXT_PLAIN])).body_excerpt()
    assert excerpt == f"{'x' * 200}..."


def test_invalid_status_long_multibyte_body_cut_mid_character():
    # The scan limit may split a character; a body without Content-Type still qualifies.
    body = ("é" * 2000).encode()
    assert InvalidStatus(response(400, body)).body_excerpt() == f"{'é' * 200}..."


def test_invalid_status_with_repeated_content_type_headers():
    headers = [("Content-Type", "text/plain"), ("Content-Type", "text/html")]
    assert InvalidStatus(response(400, b"why", headers)).body_excerpt() == "why"


class OddResponse:
    """A response whose attributes misbehave: str() must still not raise."""

    status_code = 400
    reason_phrase = "Bad Request"

    @property
    def headers(self):
        raise RuntimeError("headers unavailable")

    body = b"explanation"


def test_invalid_status_str_never_raises_on_odd_responses():
    assert str(InvalidStatus(OddResponse())) == f"{PREFIX} 400"
    assert InvalidStatus(OddResponse()).body_excerpt() is None


@given(
    body=st.binary(max_size=3000),
    content_type=st.sampled_from([None, "text/plain", "text/plain; charset=utf-8", "text/html"]),
)
def test_invalid_status_excerpt_is_one_short_line(body, content_type):
    headers = [] if content_type is None else [("Content-Type", content_type)]
    exc = InvalidStatus(response(400, body, headers))
    assert str(exc) == f"{PREFIX} 400"
    excerpt = exc.body_excerpt()
    assert excerpt is None or (0 < len(excerpt) <= 200 + len("...") and excerpt.isprintable())


def test_invalid_proxy_status_attributes_and_message():
    reply = response(407, b"proxy auth required", [TEXT_PLAIN, ("Proxy-Authenticate", "Basic")])
    exc = InvalidProxyStatus(reply)
    assert (exc.status_code, exc.reason) == (407, "Proxy Authentication Required")
    assert exc.headers["Proxy-Authenticate"] == "Basic"
    assert exc.response is reply
    # websockets' wording exactly: the spec extends InvalidStatus only.
    assert str(exc) == "proxy rejected connection: HTTP 407"
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.InvalidProxyStatus(reply))
    bare = InvalidProxyStatus(502)
    assert (bare.status_code, bare.reason) == (502, "Bad Gateway")
    assert str(bare) == "proxy rejected connection: HTTP 502"


# PayloadTooBig, TooManyFragments -----------------------------------------------------------


def test_payload_too_big_spec_keywords():
    exc = PayloadTooBig(size=2000, max_size=1024)
    assert (exc.size, exc.max_size, exc.current_size) == (2000, 1024, None)
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.PayloadTooBig(2000, 1024))
    assert PayloadTooBig(size=None, max_size=1024).size is None


@needs_websockets
def test_payload_too_big_set_current_size_like_websockets():
    mine = PayloadTooBig(2000, 1024)
    reference = ws_exceptions.PayloadTooBig(2000, 1024)
    mine.set_current_size(500)
    reference.set_current_size(500)
    assert str(mine) == str(reference)
    assert (mine.max_size, mine.current_size) == (reference.max_size, reference.current_size)
    with pytest.raises(ValueError):
        mine.set_current_size(1)


def test_payload_too_big_argument_errors():
    with pytest.raises(TypeError):
        PayloadTooBig()
    with pytest.raises(TypeError):
        PayloadTooBig(1, 2, size=1)
    with pytest.raises(TypeError):
        PayloadTooBig(1)  # max_size is required with a size


def test_payload_too_big_deprecated_message_form():
    with pytest.warns(DeprecationWarning, match="PayloadTooBig"):
        exc = PayloadTooBig("over the limit")
    assert str(exc) == "over the limit"
    if HAVE_WEBSOCKETS:
        with pytest.warns(DeprecationWarning):
            reference = ws_exceptions.PayloadTooBig("over the limit")
        assert str(reference) == "over the limit"
    assert (exc.message, exc.size, exc.max_size, exc.current_size) == (
        "over the limit",
        None,
        None,
        None,
    )
    with pytest.raises(ValueError):
        exc.set_current_size(1)
    with pytest.raises(TypeError):
        PayloadTooBig("over the limit", 10)


def test_too_many_fragments():
    exc = TooManyFragments(64)
    assert exc.max_fragments == 64
    if HAVE_WEBSOCKETS:
        assert str(exc) == str(ws_exceptions.TooManyFragments(64))
        assert exc.args == ws_exceptions.TooManyFragments(64).args


# InvalidUTF8 -------------------------------------------------------------------------------


def test_invalid_utf8_constructed_like_unicode_decode_error():
    data = b"ab\xffcd"
    exc = InvalidUTF8("utf-8", data, 2, 3, "invalid start byte")
    assert (exc.encoding, exc.object, exc.start, exc.end, exc.reason) == (
        "utf-8",
        data,
        2,
        3,
        "invalid start byte",
    )
    assert exc.offset == 2  # never set: reads as start
    assert str(exc) == "'utf-8' codec can't decode byte 0xff in position 2: invalid start byte"


def test_invalid_utf8_offset_is_absolute():
    exc = InvalidUTF8("utf-8", b"\xc3(", 0, 1, "invalid continuation byte")
    exc.offset = 4096
    assert exc.offset == 4096
    assert exc.start == 0
    assert str(exc) == (
        "'utf-8' codec can't decode byte 0xc3 in position 4096: invalid continuation byte"
    )
    exc.offset = None
    assert exc.offset == 0


def _codec_error(data: bytes) -> UnicodeDecodeError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError(f"{data!r} is valid UTF-8")


def test_invalid_utf8_mirrors_the_codec():
    data = b"caf\xc3\xa9 \xed\xa0\x80"
    with pytest.raises(UnicodeDecodeError) as info:
        codecs.utf_8_decode(data, "strict", True)
    codec_error = info.value
    exc = InvalidUTF8(
        codec_error.encoding,
        codec_error.object,
        codec_error.start,
        codec_error.end,
        codec_error.reason,
    )
    assert exc.offset == codec_error.start
    assert str(exc) == str(codec_error)  # websockets chains the codec's error: same words
    wide = InvalidUTF8("utf-8", b"ab\xe2\x82", 2, 4, "unexpected end of data")
    assert str(wide) == str(_codec_error(b"ab\xe2\x82"))
    with pytest.raises(UnicodeDecodeError):
        raise exc


def test_invalid_utf8_pickles_with_offset():
    exc = InvalidUTF8("utf-8", b"\x80", 0, 1, "invalid start byte")
    exc.offset = 12345
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(exc, protocol=protocol))
        assert type(copy) is InvalidUTF8
        assert copy.offset == 12345
        assert str(copy) == (
            "'utf-8' codec can't decode byte 0x80 in position 12345: invalid start byte"
        )


def test_invalid_utf8_pickles_current_attribute_values():
    exc = InvalidUTF8("utf-8", b"ab\x80", 0, 1, "placeholder")
    exc.start, exc.end, exc.reason = 2, 3, "invalid start byte"
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.start, copy.end, copy.reason, copy.offset) == (2, 3, "invalid start byte", 2)


# Pickling ----------------------------------------------------------------------------------


def _public_values(exc):
    values = {}
    for attribute in dir(exc):
        if attribute.startswith("_") or attribute == "args":
            continue
        value = getattr(exc, attribute)
        if not callable(value):
            values[attribute] = value
    return values


# Protocols 0 and 1 can't pickle websockets' Headers (it has __slots__), which the response
# samples carry; the default protocol, what multiprocessing uses, is well above 2.
PROTOCOLS = range(2, pickle.HIGHEST_PROTOCOL + 1)


def assert_round_trip(exc):
    for protocol in PROTOCOLS:
        copy = pickle.loads(pickle.dumps(exc, protocol=protocol))
        assert type(copy) is type(exc)
        assert copy.args == exc.args
        assert vars(copy) == vars(exc)
        assert _public_values(copy) == _public_values(exc)
        assert str(copy) == str(exc)


def _pickle_samples():
    closes = (Close(1000, "bye"), Close(1001, "away"), True)
    return {
        "WebSocketException": [WebSocketException("boom")],
        "ConnectionClosed": [ConnectionClosed(*closes), ConnectionClosed(None, None)],
        "ConnectionClosedOK": [ConnectionClosedOK(*closes)],
        "ConnectionClosedError": [
            ConnectionClosedError(None, Close(1011, "")),
            ConnectionClosedError(StandInClose(1002, "x"), None),
        ],
        "ConnectionClosedInvalidState": [
            ConnectionClosedInvalidState(None, None, operation="recv", state="CLOSED")
        ],
        "ConnectionClosedOKInvalidState": [
            ConnectionClosed.from_frames(*closes, operation="send", state="CLOSED")
        ],
        "ConnectionClosedErrorInvalidState": [
            ConnectionClosed.from_frames(None, None, operation="ping", state="CLOSING")
        ],
        "InvalidURI": [InvalidURI("http://x/", "scheme isn't ws or wss")],
        "InvalidProxy": [exceptions.InvalidProxy("ftp://p", "bad scheme")],
        "InvalidHandshake": [exceptions.InvalidHandshake("failed")],
        "SecurityError": [exceptions.SecurityError("limit")],
        "RequestLineTooLong": [exceptions.RequestLineTooLong()],
        "StatusLineTooLong": [exceptions.StatusLineTooLong("too long")],
        "HeaderLineTooLong": [exceptions.HeaderLineTooLong()],
        "TooManyHeaders": [exceptions.TooManyHeaders()],
        "TooManyFragments": [TooManyFragments(10)],
        "ProxyError": [exceptions.ProxyError("proxy")],
        "InvalidProxyMessage": [exceptions.InvalidProxyMessage("bad response")],
        "InvalidProxyStatus": [
            InvalidProxyStatus(response(407, b"auth", [TEXT_PLAIN])),
            InvalidProxyStatus(502),
        ],
        "InvalidMessage": [exceptions.InvalidMessage("bad request")],
        "InvalidMethod": [exceptions.InvalidMethod("POST")],
        "InvalidProtocol": [exceptions.InvalidProtocol("HTTP/1.0")],
        "InvalidStatus": [
            InvalidStatus(response(400, b"missing Sec-WebSocket-Key header", [TEXT_PLAIN])),
            InvalidStatus(426),
            InvalidStatus(http.HTTPStatus.FORBIDDEN, Headers([("X", "y")])),
            InvalidStatus(status_code=404, headers={"X": "y"}),
        ],
        "InvalidHeader": [
            exceptions.InvalidHeader("Upgrade"),
            exceptions.InvalidHeader(name="A", value=""),
        ],
        "InvalidHeaderFormat": [InvalidHeaderFormat("X", "expected token", "a=;", 2)],
        "InvalidHeaderValue": [exceptions.InvalidHeaderValue("Sec-WebSocket-Version", "8")],
        "InvalidOrigin": [InvalidOrigin(None), InvalidOrigin("https://evil.example")],
        "InvalidUpgrade": [exceptions.InvalidUpgrade("Connection", "keep-alive")],
        "NegotiationError": [exceptions.NegotiationError("no extension")],
        "DuplicateParameter": [exceptions.DuplicateParameter("p")],
        "InvalidParameterName": [exceptions.InvalidParameterName("p")],
        "InvalidParameterValue": [
            exceptions.InvalidParameterValue("p", None),
            exceptions.InvalidParameterValue("p", "v"),
        ],
        "ProtocolError": [ProtocolError("bad opcode")],
        "PayloadTooBig": [
            PayloadTooBig(None, 1024),
            PayloadTooBig(2000, 1024, 500),
            PayloadTooBig(size=3, max_size=2),
            _payload_too_big_after_set_current_size(),
        ],
        "InvalidState": [InvalidState("closed", operation="send", state=StandInState.CLOSED)],
        "ConcurrencyError": [ConcurrencyError("cannot call recv twice", operation="recv")],
        "InvalidUTF8": [InvalidUTF8("utf-8", b"a\xff", 1, 2, "invalid start byte")],
    }


def _payload_too_big_after_set_current_size():
    exc = PayloadTooBig(2000, 1024)
    exc.set_current_size(100)
    return exc


PICKLE_SAMPLES = _pickle_samples()


def test_pickle_samples_cover_every_class():
    assert set(PICKLE_SAMPLES) == EXPECTED_ALL
    for name, samples in PICKLE_SAMPLES.items():
        assert all(type(sample) is ours(name) for sample in samples), name


@pytest.mark.parametrize("name", sorted(EXPECTED_ALL))
def test_pickle_round_trip(name):
    for sample in PICKLE_SAMPLES[name]:
        assert_round_trip(sample)


def test_pickle_round_trip_of_deprecated_payload_too_big():
    with pytest.warns(DeprecationWarning):
        exc = PayloadTooBig("too big")
    with pytest.warns(DeprecationWarning):
        assert_round_trip(exc)


def test_pickle_keeps_dual_contract_attributes():
    exc = ConnectionClosed.from_frames(
        Close(1000, ""), Close(1000, ""), False, operation="send", state="CLOSED"
    )
    copy = pickle.loads(pickle.dumps(exc))
    assert isinstance(copy, ConnectionClosedOK) and isinstance(copy, InvalidState)
    assert (copy.operation, copy.state, copy.code, copy.reason) == ("send", "CLOSED", 1000, "")
