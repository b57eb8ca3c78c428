"""Tests for wsfast.headers: parsers and builders of the handshake's header values.

websockets 17 is the reference: every function it has is run on the same input as wsfast's
and the outcomes compared, the value returned or the exception's type, message and arguments.
Hypothesis feeds both near-valid header values, assembled from the grammar's pieces (tokens,
quoted strings, OWS, commas, semicolons) with stray characters mixed in, so that the error
paths and their reported positions are covered as well as the results. The fixed cases below
pin the behaviour down without needing websockets to read it.
"""

from __future__ import annotations

import base64
import threading

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module

import wsfast.exceptions as exceptions
import wsfast.headers as headers
from wsfast.exceptions import InvalidHeaderFormat, InvalidHeaderValue
from wsfast.headers import (
    build_authorization_basic,
    build_extension,
    build_host,
    build_quoted_string,
    build_subprotocol,
    build_www_authenticate_basic,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_quoted_string,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)

ws_exceptions = websockets_module("websockets.exceptions")
ws_headers = websockets_module("websockets.headers")


def outcome(module, name, *args, **kwargs):
    """What calling ``module.name`` does: its result, or a comparable view of its exception.

    An exception is described by its class name, whether it's the library's own exception
    (a websockets exception for websockets, a wsfast exception for wsfast), its message and
    its arguments, so that both libraries' outcomes compare equal when they behave alike.
    """
    if module is ws_headers:
        own = ws_exceptions.WebSocketException
    else:
        own = exceptions.WebSocketException
    try:
        return ("result", getattr(module, name)(*args, **kwargs))
    except Exception as exc:
        return ("error", type(exc).__name__, isinstance(exc, own), str(exc), exc.args)


def assert_same(name, *args, **kwargs):
    """Check that wsfast.headers.name and websockets.headers.name behave the same."""
    expected = outcome(ws_headers, name, *args, **kwargs)
    actual = outcome(headers, name, *args, **kwargs)
    assert actual == expected


# Strategies: pieces of header values.

TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKENS = st.text(alphabet=TCHARS, min_size=1, max_size=8)
# Mostly the tokens of real headers, whose letters and digits are plain ones.
SIMPLE_TOKENS = st.sampled_from(
    ["websocket", "Upgrade", "keep-alive", "chat", "v2.bookings.example.net", "x", "13"]
)
OWS = st.text(alphabet=" \t", max_size=2)
# Characters of quoted strings: qdtext, obs-text, and the two that need a backslash.
QUOTED_CHARS = st.sampled_from(list('ab \t!#~"\\') + ["\x80", "\xe9", "\x7f", "\x00"])
QUOTED_STRINGS = st.builds(
    lambda parts: '"' + "".join(parts) + '"',
    st.lists(st.one_of(QUOTED_CHARS, QUOTED_CHARS.map(lambda c: "\\" + c)), max_size=6),
)
# Characters and sequences that break the grammar somewhere.
STRAY = st.sampled_from(
    [",", ";", "=", "/", '"', "\\", " ", "\t", "\r\n", "\n", "\x00", "\x7f", "\x80", "é", "Ā",
     "(", ")", ":", "@", "?", "{", "\ufeff", "\udcff"]
)
FRAGMENTS = st.one_of(
    TOKENS,
    SIMPLE_TOKENS,
    QUOTED_STRINGS,
    OWS,
    STRAY,
    st.sampled_from([", ", " , ", ",,", "; ", " ; ", "=", " = ", "/13"]),
)


def join_list(items, separators):
    """Join list elements with the separators drawn for them, cycling through them."""
    out = []
    for index, item in enumerate(items):
        if index:
            out.append(separators[index % len(separators)])
        out.append(item)
    return "".join(out)


LIST_SEPARATORS = st.lists(
    st.sampled_from([",", ", ", " ,", "\t,\t", ", ,", ",,  ", " , , "]), min_size=1, max_size=3
)


def lists_of(items):
    """Comma-separated lists of ``items``, with empty elements before and after sometimes."""
    return st.builds(
        lambda elements, separators, before, after: (
            before + join_list(elements, separators) + after
        ),
        st.lists(items, min_size=1, max_size=5),
        LIST_SEPARATORS,
        st.sampled_from(["", ",", ", ", ",,", " "]),
        st.sampled_from(["", ",", " ,", ", ,", " ", "\t"]),
    )


def mutated(values):
    """``values`` with a fragment inserted, or a character cut out, somewhere."""

    def mutate(value, fragment, index, insert):
        index %= len(value) + 1
        if insert:
            return value[:index] + fragment + value[index:]
        return value[:index] + value[index + 1 :]

    return st.builds(mutate, values, FRAGMENTS, st.integers(0, 200), st.booleans())


RANDOM_HEADERS = st.one_of(
    st.lists(FRAGMENTS, max_size=10).map("".join),
    st.text(max_size=12),
    st.text(alphabet=TCHARS + ' \t,;="\\/', max_size=16),
)

EXTENSION_PARAMS = st.builds(
    lambda name, ows1, value: name if value is None else f"{name}{ows1}={ows1}{value}",
    st.one_of(TOKENS, st.sampled_from(["client_max_window_bits", "server_no_context_takeover"])),
    OWS,
    st.one_of(st.none(), TOKENS, QUOTED_STRINGS, st.just('"15"')),
)
EXTENSIONS = st.builds(
    lambda name, params, ows: "".join([name] + [f"{ows};{ows}{param}" for param in params]),
    st.one_of(TOKENS, st.sampled_from(["permessage-deflate", "x-webkit-deflate-frame"])),
    st.lists(EXTENSION_PARAMS, max_size=4),
    OWS,
)
PROTOCOLS = st.one_of(
    TOKENS,
    SIMPLE_TOKENS,
    st.builds(lambda name, version: f"{name}/{version}", TOKENS, TOKENS),
)


BASE64_TEXT = st.builds(
    lambda raw: base64.b64encode(raw).decode(),
    st.one_of(
        st.binary(max_size=12),
        st.builds(
            lambda user, password: user + b":" + password,
            st.binary(max_size=6),
            st.binary(max_size=6),
        ),
        st.builds(
            lambda user, password: f"{user}:{password}".encode(),
            st.text(max_size=5).filter(lambda user: ":" not in user),
            st.text(max_size=5),
        ),
    ),
)
CREDENTIALS = st.one_of(
    BASE64_TEXT,
    BASE64_TEXT.map(lambda text: text.rstrip("=")),
    BASE64_TEXT.map(lambda text: text + "=="),
    BASE64_TEXT.map(lambda text: text.replace("+", "-").replace("/", "_")),
    st.text(alphabet="ABCabc0189+/-._~=", max_size=12),
)
# Well-formed: "Basic", one space, credentials.
AUTHORIZATION_HEADERS = st.builds(
    lambda scheme, credentials: f"{scheme} {credentials}",
    st.sampled_from(["Basic", "basic", "BASIC"]),
    CREDENTIALS,
)
# Broken somewhere: the scheme, the space, or what follows the credentials.
BROKEN_AUTHORIZATION_HEADERS = st.builds(
    lambda scheme, space, credentials, suffix: f"{scheme}{space}{credentials}{suffix}",
    st.sampled_from(["Basic", "Bearer", "Basic+", "", '"Basic"']),
    st.sampled_from([" ", "", "  ", "\t", ","]),
    CREDENTIALS,
    st.sampled_from(["", " ", "=", "!", ", x", "\r\n"]),
)


# Differential tests against websockets.

# For each parser, well-formed values; each is also tried mutated, and every parser gets
# random values too. Separate runs rather than one st.one_of(), so that each kind gets its
# share of examples.
WELL_FORMED = {
    "parse_connection": lists_of(st.one_of(TOKENS, SIMPLE_TOKENS)),
    "parse_upgrade": lists_of(PROTOCOLS),
    "parse_subprotocol": lists_of(st.one_of(TOKENS, SIMPLE_TOKENS)),
    "parse_extension": lists_of(EXTENSIONS),
    "parse_authorization_basic": AUTHORIZATION_HEADERS,
}
DIFFERENTIAL_CASES = [
    (name, kind, strategy)
    for name, values in WELL_FORMED.items()
    for kind, strategy in [
        ("well-formed", values),
        ("mutated", mutated(values)),
        ("random", RANDOM_HEADERS),
    ]
] + [
    ("parse_authorization_basic", "broken", BROKEN_AUTHORIZATION_HEADERS),
    ("parse_authorization_basic", "broken-mutated", mutated(BROKEN_AUTHORIZATION_HEADERS)),
]


@needs_websockets
@pytest.mark.parametrize(
    ("name", "strategy"),
    [(name, strategy) for name, _, strategy in DIFFERENTIAL_CASES],
    ids=[f"{name}-{kind}" for name, kind, _ in DIFFERENTIAL_CASES],
)
@given(data=st.data())
def test_parser_matches_websockets(name, strategy, data):
    assert_same(name, data.draw(strategy, label="header"))


@needs_websockets
@given(
    st.lists(
        st.tuples(
            st.one_of(TOKENS, st.text(max_size=5)),
            st.lists(
                st.tuples(
                    st.one_of(TOKENS, st.text(max_size=5)),
                    st.one_of(st.none(), TOKENS, st.text(max_size=5), st.integers()),
                ),
                max_size=3,
            ),
        ),
        max_size=4,
    )
)
def test_build_extension_matches_websockets(extensions):
    assert_same("build_extension", extensions)
    for name, parameters in extensions:
        assert_same("build_extension_item", name, parameters)


@needs_websockets
@given(st.lists(st.one_of(TOKENS, st.text(max_size=5)), max_size=4))
def test_build_subprotocol_matches_websockets(subprotocols):
    assert_same("build_subprotocol", subprotocols)


@needs_websockets
@given(
    st.one_of(
        st.lists(st.one_of(TOKENS, st.text(max_size=5)), max_size=4),
        st.lists(TOKENS, max_size=4).map(tuple),
        st.text(max_size=5),
        st.binary(max_size=3),
        st.sets(TOKENS, max_size=2),
        st.none(),
        st.integers(),
        st.lists(
            st.one_of(st.integers(), st.binary(max_size=3), st.none()), min_size=1, max_size=2
        ),
    )
)
def test_validate_subprotocols_matches_websockets(subprotocols):
    assert_same("validate_subprotocols", subprotocols)


HOSTS = st.one_of(
    st.sampled_from(["example.com", "LOCALHOST", "", "[::1]", "fe80::1%eth0", "1.2.3", "a:b"]),
    st.ip_addresses().map(str),
    st.builds(lambda address, scope: f"{address}%{scope}", st.ip_addresses(v=6).map(str), TOKENS),
    st.text(alphabet="abc.:%[]019", max_size=12),
)


@needs_websockets
@given(
    HOSTS,
    st.one_of(st.sampled_from([80, 443]), st.integers(0, 65535)),
    st.booleans(),
    st.booleans(),
)
def test_build_host_matches_websockets(host, port, secure, always_include_port):
    assert_same("build_host", host, port, secure)
    assert_same("build_host", host, port, secure, always_include_port=always_include_port)


@needs_websockets
@given(st.text(max_size=10))
def test_build_quoted_string_matches_websockets(value):
    assert_same("build_quoted_string", value)
    assert_same("build_www_authenticate_basic", value)


@needs_websockets
@given(st.text(max_size=8), st.text(max_size=8))
def test_build_authorization_basic_matches_websockets(username, password):
    assume(":" not in username)
    assert_same("build_authorization_basic", username, password)


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6).filter(
        lambda user: ":" not in user
    ),
    st.text(max_size=6),
)
def test_authorization_basic_round_trip(username, password):
    header = build_authorization_basic(username, password)
    assert parse_authorization_basic(header) == (username, password)


@needs_websockets
@given(
    st.builds(
        lambda head, tail: head + tail,
        st.lists(FRAGMENTS, max_size=6).map("".join),
        st.text(max_size=4),
    ),
    st.integers(-2, 30),
)
def test_building_blocks_match_websockets(header, pos):
    # The helpers take a position inside the header: compare them at any position, including
    # at and past the end, where their answers (None, an exception, a clamped index) differ.
    for name in ["parse_token", "parse_quoted_string", "parse_token68", "parse_end"]:
        assert_same(name, header, pos, "X-Header")
    for name in [
        "parse_connection_option",
        "parse_upgrade_protocol",
        "parse_subprotocol_item",
        "parse_extension_item",
        "parse_extension_item_param",
    ]:
        assert_same(name, header, pos, "X-Header")
    assert_same("parse_OWS", header, pos)
    assert_same("peek_ahead", header, pos)
    # parse_list takes the item parser: give each library its own.
    for item in ["parse_token", "parse_extension_item"]:
        expected = outcome(ws_headers, "parse_list", getattr(ws_headers, item), header, pos, "X")
        actual = outcome(headers, "parse_list", getattr(headers, item), header, pos, "X")
        assert actual == expected


def test_list_aliases():
    # websockets keeps *_list names from older versions; they are the same functions.
    assert headers.parse_extension_list is headers.parse_extension
    assert headers.build_extension_list is headers.build_extension
    assert headers.parse_subprotocol_list is headers.parse_subprotocol
    assert headers.build_subprotocol_list is headers.build_subprotocol


@needs_websockets
def test_same_public_names_as_websockets():
    assert headers.__all__ == ws_headers.__all__
    for name in dir(ws_headers):
        value = getattr(ws_headers, name)
        if callable(value) and getattr(value, "__module__", None) == "websockets.headers":
            assert callable(getattr(headers, name)), name


# Properties that don't need websockets.


@given(
    st.lists(
        st.tuples(TOKENS, st.lists(st.tuples(TOKENS, st.none() | TOKENS), max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_extension_round_trip(extensions):
    assert parse_extension(build_extension(extensions)) == extensions


@given(st.lists(TOKENS, min_size=1, max_size=4))
def test_subprotocol_round_trip(subprotocols):
    assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols
    validate_subprotocols(subprotocols)


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"),
        max_size=10,
    )
)
def test_quoted_string_round_trip(value):
    quoted = build_quoted_string(value)
    assert parse_quoted_string(quoted, 0, "X-Header") == (value, len(quoted))


# Fixed cases.


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        # RFC 7230 §7: empty list elements are accepted before, between and after.
        (",Upgrade", ["Upgrade"]),
        (", ,Upgrade", ["Upgrade"]),
        ("a ,, ,b", ["a", "b"]),
        ("Upgrade,\t", ["Upgrade"]),
        ("a\t,\tb", ["a", "b"]),
    ],
)
def test_parse_connection(header, expected):
    assert parse_connection(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected token", 0),
        (",", "expected token", 1),
        (", , ,", "expected token", 5),
        # Leading whitespace is stripped by the HTTP parser, not by the list grammar.
        (" ,x", "expected token", 0),
        ("Up grade", "expected comma", 3),
        ("Upgrade;", "expected comma", 7),
        ("Upgrade\r\n", "expected comma", 7),
        ('"Upgrade"', "expected token", 0),
        ("é", "expected token", 0),
    ],
)
def test_parse_connection_errors(header, error, pos):
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_connection(header)
    assert raised.value.args == ("Connection", error, header, pos)
    assert str(raised.value) == f"invalid Connection header: {error} at {pos} in {header}"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("websocket", ["websocket"]),
        ("h2c, WebSocket/13", ["h2c", "WebSocket/13"]),
        (", x", ["x"]),
    ],
)
def test_parse_upgrade(header, expected):
    assert parse_upgrade(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected protocol", 0),
        ("/b", "expected protocol", 0),
        ("a/", "expected comma", 1),
        ("a/b/c", "expected comma", 3),
    ],
)
def test_parse_upgrade_errors(header, error, pos):
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_upgrade(header)
    assert raised.value.args == ("Upgrade", error, header, pos)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("permessage-deflate", [("permessage-deflate", [])]),
        (
            "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
            [
                (
                    "permessage-deflate",
                    [("client_max_window_bits", "10"), ("server_no_context_takeover", None)],
                )
            ],
        ),
        # RFC 6455 §9.1: a quoted value is unescaped.
        ('a; b="c"', [("a", [("b", "c")])]),
        ('a;b="c\\d"', [("a", [("b", "cd")])]),
        ("a\t;\tb\t=\t\"c\"\t,\tf", [("a", [("b", "c")]), ("f", [])]),
        ("a, b; c, d", [("a", []), ("b", [("c", None)]), ("d", [])]),
        # Repeated parameters are the extension's business (RFC 7692 §7.1 refuses them).
        ("a; b; b", [("a", [("b", None), ("b", None)])]),
    ],
)
def test_parse_extension(header, expected):
    assert parse_extension(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected token", 0),
        ("a;", "expected token", 2),
        ("a;;b", "expected token", 2),
        ("a; b=", "expected token", 5),
        ('a; b="', "expected quoted string", 5),
        ('a;b="c\\"', "expected quoted string", 4),
        # obs-text is only accepted escaped.
        ('a; b="é"', "expected quoted string", 5),
        # RFC 6455 §9.1: once unescaped, a quoted value must be a token.
        ('a; b="c d"', "invalid quoted header content", 5),
        ('a; b=""', "invalid quoted header content", 5),
        ('a; b="\\é"', "invalid quoted header content", 5),
        ('a; b="c" d', "expected comma", 9),
        ("a; b=c=d", "expected comma", 6),
    ],
)
def test_parse_extension_errors(header, error, pos):
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_extension(header)
    assert raised.value.args == ("Sec-WebSocket-Extensions", error, header, pos)


def test_parse_subprotocol():
    assert parse_subprotocol("chat, superchat") == ["chat", "superchat"]
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_subprotocol("chat/1")
    assert raised.value.args == ("Sec-WebSocket-Protocol", "expected comma", "chat/1", 4)


def test_build_extension():
    assert build_extension([]) == ""
    assert (
        build_extension([("a", []), ("b", [("c", None), ("d", "1")])]) == "a, b; c; d=1"
    )


@pytest.mark.parametrize(
    ("subprotocols", "exc_type", "message"),
    [
        ("chat", TypeError, "subprotocols must be a list, not a str"),
        ({"chat"}, TypeError, "subprotocols must be a list"),
        (None, TypeError, "subprotocols must be a list"),
        (["a b"], ValueError, "invalid subprotocol: a b"),
        ([""], ValueError, "invalid subprotocol: "),
        (["é"], ValueError, "invalid subprotocol: é"),
    ],
)
def test_validate_subprotocols_errors(subprotocols, exc_type, message):
    with pytest.raises(exc_type) as raised:
        validate_subprotocols(subprotocols)
    assert str(raised.value) == message


def test_validate_subprotocols_accepts_sequences():
    validate_subprotocols([])
    validate_subprotocols(["chat", "v2.bookings.example.net"])
    validate_subprotocols(("chat",))


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("example.com", 80, False), {}, "example.com"),
        (("example.com", 443, False), {}, "example.com:443"),
        (("example.com", 443, True), {}, "example.com"),
        (("example.com", 80, True), {}, "example.com:80"),
        (("example.com", 80, False), {"always_include_port": True}, "example.com:80"),
        (("::1", 80, False), {}, "[::1]"),
        (("::1", 8080, False), {}, "[::1]:8080"),
        (("fe80::1%eth0", 443, True), {}, "[fe80::1%eth0]"),
        (("1.2.3.4", 81, False), {}, "1.2.3.4:81"),
        # Already bracketed: not an address to ipaddress, left as it is.
        (("[::1]", 81, False), {}, "[::1]:81"),
    ],
)
def test_build_host(args, kwargs, expected):
    assert build_host(*args, **kwargs) == expected


def test_build_host_port_is_keyword_only():
    with pytest.raises(TypeError):
        build_host("example.com", 80, False, True)  # type: ignore[misc]


def test_build_www_authenticate_basic():
    assert build_www_authenticate_basic("my realm") == 'Basic realm="my realm", charset="UTF-8"'
    assert build_www_authenticate_basic('a"b\\c') == 'Basic realm="a\\"b\\\\c", charset="UTF-8"'
    for realm in ["a\nb", "Ā", "\x7f", "\x00"]:
        with pytest.raises(ValueError, match="invalid characters for quoted-string encoding"):
            build_www_authenticate_basic(realm)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic dXNlcjpwYXNz", ("user", "pass")),
        # RFC 7235 §2.1: the scheme is case-insensitive.
        ("bAsIc dXNlcjpwYXNz", ("user", "pass")),
        ("Basic Og==", ("", "")),
        # RFC 7617 §2: the first colon separates user-id and password.
        ("Basic YTpiOmM=", ("a", "b:c")),
        ("Basic w7w6cA==", ("ü", "p")),
        # Bytes that aren't UTF-8 survive as lone surrogates.
        ("Basic /zr+", ("\udcff", "\udcfe")),
        # Extra padding, and token68 characters outside the base64 alphabet, are ignored.
        ("Basic YWI6Yw====", ("ab", "c")),
        ("Basic dXNl-cjpw_YXNz", ("user", "pass")),
    ],
)
def test_parse_authorization_basic(header, expected):
    assert parse_authorization_basic(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected token", 0),
        (" Basic dXNlcjpwYXNz", "expected token", 0),
        ("Basic", "expected space after scheme", 5),
        ("Basic\tdXNlcjpwYXNz", "expected space after scheme", 5),
        ("Basic ", "expected token68", 6),
        ("Basic  dXNlcjpwYXNz", "expected token68", 6),
        ("Basic dXNlcjpwYXNz ", "trailing data", 18),
        ("Basic YQ==YQ==", "trailing data", 10),
    ],
)
def test_parse_authorization_basic_format_errors(header, error, pos):
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_authorization_basic(header)
    assert raised.value.args == ("Authorization", error, header, pos)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer x", "unsupported scheme: Bearer"),
        ("Basic+dXNlcjpwYXNz", "unsupported scheme: Basic+dXNlcjpwYXNz"),
        ("Basic dXNlcjpwYXN", "expected base64-encoded credentials"),
        ("Basic YW.6Yg==", "expected base64-encoded credentials"),
        ("Basic dXNlcnBhc3M=", "expected username:password credentials"),
    ],
)
def test_parse_authorization_basic_value_errors(header, message):
    with pytest.raises(InvalidHeaderValue) as raised:
        parse_authorization_basic(header)
    assert raised.value.args == ("Authorization", message)


def test_build_authorization_basic():
    assert build_authorization_basic("user", "pass") == "Basic dXNlcjpwYXNz"
    assert build_authorization_basic("ü", "p") == "Basic w7w6cA=="
    assert build_authorization_basic("\udcff", "x") == "Basic /zp4"


def test_build_authorization_basic_refuses_colon_in_username():
    # RFC 7617 §2. websockets raises a bare AssertionError; wsfast's has a message and doesn't
    # depend on assertions being enabled.
    with pytest.raises(AssertionError, match="colon"):
        build_authorization_basic("a:b", "c")
    if HAVE_WEBSOCKETS:
        with pytest.raises(AssertionError):
            ws_headers.build_authorization_basic("a:b", "c")


# Hostile input: work must stay linear in the header's length.

HUGE = 100_000

HOSTILE_INPUTS = [
    ("parse_connection", "a," * (HUGE // 2)),
    ("parse_connection", "," * HUGE),
    ("parse_connection", "a" + " " * HUGE + "b"),
    ("parse_connection", "a" * HUGE + "é"),
    ("parse_connection", ", " * (HUGE // 2) + "é"),
    ("parse_upgrade", "a/" * (HUGE // 2)),
    ("parse_upgrade", "a/b," * (HUGE // 4)),
    ("parse_subprotocol", "chat, " * (HUGE // 6)),
    ("parse_extension", "x" + ";y" * (HUGE // 2)),
    ("parse_extension", 'x; y="' + "a" * HUGE),
    ("parse_extension", 'x; y="' + "\\a" * (HUGE // 2) + '"'),
    ("parse_extension", 'x; y="' + "\\" * HUGE),
    ("parse_extension", "x; y=" + '"a",' * (HUGE // 4)),
    ("parse_extension", "x" + " ;" * (HUGE // 2)),
    ("parse_extension", "a=" * (HUGE // 2)),
    ("parse_authorization_basic", "Basic " + "A" * HUGE + "=" * 10),
    ("parse_authorization_basic", "Basic A" + "=" * HUGE + "A"),
    ("parse_authorization_basic", "B" * HUGE),
]


@pytest.mark.parametrize(("name", "header"), HOSTILE_INPUTS, ids=lambda value: str(value)[:20])
def test_hostile_input_is_parsed_quickly(name, header):
    # A guard against catastrophic backtracking, not a benchmark: a linear parser takes
    # milliseconds on 100 KB, a quadratic one minutes. The parser runs in a thread so that
    # a regression fails this test after 10 seconds instead of hanging the suite.
    finished = threading.Event()
    results = []

    def parse():
        results.append(outcome(headers, name, header))
        finished.set()

    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    assert finished.wait(10), f"{name} didn't finish within 10 seconds on {len(header)} chars"
    worker.join()
    # And it parsed the same way as websockets.
    if HAVE_WEBSOCKETS:
        assert results[0] == outcome(ws_headers, name, header)


@needs_websockets
def test_typing_names_match_websockets():
    # The parsers return wsfast.typing's NewTypes; that module must offer every name
    # websockets.typing does, with the same run-time meaning.
    import typing

    import websockets.typing as ws_typing

    import wsfast.typing as wsfast_typing

    assert wsfast_typing.__all__ == ws_typing.__all__
    new_types = ["Origin", "Subprotocol", "ExtensionName", "ConnectionOption", "UpgradeProtocol"]
    for name in new_types:
        ours, theirs = getattr(wsfast_typing, name), getattr(ws_typing, name)
        assert isinstance(ours, typing.NewType)
        assert ours.__supertype__ is theirs.__supertype__ is str
    aliases = ["Data", "BytesLike", "DataLike", "LoggerLike", "StatusLike", "ExtensionParameter",
               "PathLike"]
    for name in aliases:
        assert getattr(wsfast_typing, name) == getattr(ws_typing, name), name
    # Same shape, with wsfast's ExtensionName.
    assert wsfast_typing.ExtensionHeader.__origin__ is tuple
    assert wsfast_typing.ExtensionHeader.__args__[0] is wsfast_typing.ExtensionName
