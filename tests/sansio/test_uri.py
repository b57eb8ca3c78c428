"""Tests for wsfast.uri: WebSocket URIs, proxy addresses and proxy discovery.

websockets 17 is the reference (its ``websockets.uri`` for URIs, ``websockets.proxy`` for
proxies). Hypothesis assembles URIs from RFC 3986 pieces, valid and broken: schemes, user
information with percent-encoding, registered names, IDNs, IPv4 and IPv6 literals, ports,
paths, queries and fragments. Both libraries parse each one and must agree on the result, or
on the exception's type and message.

The one deliberate difference: where websockets lets urllib's ``ValueError`` escape (an
out-of-range port, a broken IPv6 literal, a host IDNA can't encode, credentials that aren't
UTF-8), wsfast raises ``InvalidURI`` or ``InvalidProxy`` that is also a ``ValueError`` and
quotes the ``ValueError``'s message as its reason.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import threading
import urllib.request
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module

import wsfast.exceptions as exceptions
from wsfast.exceptions import InvalidProxy, InvalidURI
from wsfast.uri import Proxy, WebSocketURI, get_proxy, parse_proxy, parse_uri

ws_exceptions = websockets_module("websockets.exceptions")
ws_proxy = websockets_module("websockets.proxy")
ws_uri = websockets_module("websockets.uri")


def describe(func, address, own):
    """What ``func(address)`` does: its result as plain values, or its exception."""
    try:
        result = func(address)
    except Exception as exc:
        return ("error", type(exc), isinstance(exc, own), str(exc))
    return (
        "result",
        type(result).__name__,
        dataclasses.astuple(result),
        getattr(result, "resource_name", None),
        result.user_info,
    )


def assert_same(ours, theirs, address, our_error, their_error, kind):
    """Check that wsfast's ``ours`` and websockets' ``theirs`` agree on ``address``."""
    expected = describe(theirs, address, ws_exceptions.WebSocketException)
    actual = describe(ours, address, exceptions.WebSocketException)
    if expected[0] == "error" and not expected[2] and issubclass(expected[1], ValueError):
        # websockets let urllib's ValueError (or a UnicodeError) escape: wsfast raises its
        # own exception, still a ValueError, quoting the message.
        assert actual[0] == "error", actual
        assert issubclass(actual[1], our_error) and issubclass(actual[1], ValueError), actual
        assert actual[3] == f"{address} isn't a valid {kind}: {expected[3]}"
    elif expected[0] == "error":
        assert actual[0] == "error", actual
        assert actual[1].__name__ == expected[1].__name__
        assert actual[2:] == expected[2:]
    else:
        assert actual == expected


# Strategies: pieces of URIs (RFC 3986 §3).

# Percent-encoded octets: UTF-8 sequences, bytes that aren't UTF-8, and broken escapes.
PERCENT = st.sampled_from(["%20", "%3A", "%40", "%C3%A9", "%E2%82%AC", "%90", "%C3", "%zz", "%"])
USER_TEXT = st.lists(
    st.one_of(
        st.text(alphabet="abcXYZ019-._~!$&'()*+,;=", min_size=1, max_size=4),
        PERCENT,
        st.sampled_from(["é", "€", "@", ":", " ", "\udcff"]),
    ),
    max_size=3,
).map("".join)
USER_INFO = st.one_of(
    st.just(""),
    st.builds(lambda user: f"{user}@", USER_TEXT),
    st.builds(lambda user, password: f"{user}:{password}@", USER_TEXT, USER_TEXT),
)
LABELS = st.text(alphabet="abcxyzABC019-_", min_size=1, max_size=6)
HOSTS = st.one_of(
    st.lists(LABELS, min_size=1, max_size=3).map(".".join),
    st.sampled_from(
        ["localhost", "EXAMPLE.com", "bücher.example", "ÄÖÜ", "straße.de",
         "xn--bcher-kva.example", "a..b", "", "ü..", "a" * 64, "ü" + "a" * 63, "h%41", "℀",
         "\udcff", "1.2.3.4", "[::1]",
         "[fe80::1%25eth0]", "[::1", "::1", "[v1.x]", "[]", "h]", "[::ü]", "[::1]x"]
    ),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
)
PORTS = st.one_of(
    st.just(""),
    st.integers(0, 70000).map(lambda port: f":{port}"),
    st.sampled_from([":", ":80", ":443", ":0", ":0080", ":abc", ":-1", ":+80", ": 80", ":65536",
                     ":1_0", ":80:80", ":８０"]),
)
PATH_TEXT = st.lists(
    st.one_of(
        st.text(alphabet="abcXYZ019-._~!$&'()*+,;=:@/", min_size=1, max_size=5),
        PERCENT,
        st.sampled_from(["é", "ü", "€", "😀", " ", "\t", "\n", "\x00", "\x7f", "\udcff", "[]"]),
    ),
    max_size=4,
).map("".join)
PATHS = st.one_of(st.just(""), st.builds(lambda path: "/" + path, PATH_TEXT))
QUERIES = st.one_of(st.just(""), st.just("?"), st.builds(lambda query: "?" + query, PATH_TEXT))
FRAGMENTS = st.one_of(
    st.just(""), st.just("#"), st.builds(lambda fragment: "#" + fragment, PATH_TEXT)
)


GOOD_HOSTS = st.one_of(
    st.lists(LABELS, min_size=1, max_size=3).map(".".join),
    st.sampled_from(
        ["localhost", "EXAMPLE.com", "bücher.example", "ÄÖÜ", "straße.de", "h%41"]
    ),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
)
GOOD_USER_INFO = st.one_of(
    st.just(""), st.builds(lambda user, password: f"{user}:{password}@", USER_TEXT, USER_TEXT)
)
GOOD_PORTS = st.one_of(st.just(""), st.integers(0, 65535).map(lambda port: f":{port}"))


def well_formed(schemes, paths=PATHS, queries=QUERIES):
    """Addresses that should parse, bar the odd percent-escape that isn't UTF-8."""
    return st.builds(
        lambda scheme, user_info, host, port, path, query, fragment: (
            f"{scheme}://{user_info}{host}{port}{path}{query}{fragment}"
        ),
        schemes,
        GOOD_USER_INFO,
        GOOD_HOSTS,
        GOOD_PORTS,
        paths,
        queries,
        st.sampled_from(["", "#"]),
    )


def assembled(schemes):
    """Addresses with a valid scheme and any authority, path, query and fragment."""
    return st.builds(
        lambda scheme, user_info, host, port, path, query, fragment: (
            f"{scheme}://{user_info}{host}{port}{path}{query}{fragment}"
        ),
        schemes,
        USER_INFO,
        HOSTS,
        PORTS,
        PATHS,
        QUERIES,
        FRAGMENTS,
    )


def anything(schemes):
    """A scheme followed by random text, or random text."""
    return st.one_of(
        st.builds(lambda scheme, rest: f"{scheme}{rest}", schemes, st.text(max_size=12)),
        st.text(max_size=16),
    )


GOOD_URI_SCHEMES = st.sampled_from(["ws", "wss", "WS", "wsS"])
URI_SCHEMES = st.sampled_from(["ws", "wss", "WS", "http", "", "ws:", "ws:/", "wsx"])
URI_CASES = {
    "well-formed": well_formed(GOOD_URI_SCHEMES),
    "assembled": assembled(GOOD_URI_SCHEMES),
    "anything": anything(URI_SCHEMES),
}


@needs_websockets
@pytest.mark.parametrize("strategy", URI_CASES.values(), ids=URI_CASES.keys())
@given(data=st.data())
def test_parse_uri_matches_websockets(strategy, data):
    uri = data.draw(strategy, label="uri")
    assert_same(parse_uri, ws_uri.parse_uri, uri, InvalidURI, ws_exceptions.InvalidURI, "URI")


GOOD_PROXY_SCHEMES = st.sampled_from(
    ["http", "https", "socks4", "socks4a", "socks5", "socks5h", "HTTP", "SOCKS5h"]
)
PROXY_SCHEMES = st.sampled_from(["http", "https", "socks5h", "socks", "ftp", "ws", "", "http:"])
PROXY_SUFFIXES = st.sampled_from(["", "/", "/x", "/;x", ";x", "/;", "/a;b", "?", "?q", "#", "#f"])
PROXY_CASES = {
    "well-formed": well_formed(
        GOOD_PROXY_SCHEMES,
        paths=st.sampled_from(["", "/", "/;x"]),
        queries=st.sampled_from(["", "?"]),
    ),
    "assembled": st.builds(
        lambda address, suffix: address + suffix, assembled(GOOD_PROXY_SCHEMES), PROXY_SUFFIXES
    ),
    "anything": anything(PROXY_SCHEMES),
}


@needs_websockets
@pytest.mark.parametrize("strategy", PROXY_CASES.values(), ids=PROXY_CASES.keys())
@given(data=st.data())
def test_parse_proxy_matches_websockets(strategy, data):
    proxy = data.draw(strategy, label="proxy")
    assert_same(
        parse_proxy, ws_proxy.parse_proxy, proxy, InvalidProxy, ws_exceptions.InvalidProxy, "proxy"
    )


PROXY_VARIABLES = [
    "ws_proxy", "wss_proxy", "socks_proxy", "https_proxy", "http_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "WSS_PROXY",
]
PROXY_VALUES = st.sampled_from(
    ["http://proxy:8080", "https://proxy", "socks5://socks:1080", "socks5h://socks", "http://",
     "proxy:3128", "HTTP://UPPER:1", ""]
)
NO_PROXY = st.sampled_from(
    ["", "*", "example.com", ".example.com", "example.com:443", "Example.COM", "::1", "[::1]",
     "localhost,127.0.0.1", " example.com , other ", "127.0.0.0/8"]
)
TARGETS = st.sampled_from(
    ["ws://example.com/", "wss://example.com/", "ws://sub.example.com:8080/",
     "wss://example.com:443/", "wss://[::1]/", "ws://localhost/", "ws://127.0.0.1:80/",
     "ws://bücher.example/"]
)


@needs_websockets
@given(
    st.dictionaries(st.sampled_from(PROXY_VARIABLES), PROXY_VALUES, max_size=4),
    st.one_of(st.none(), NO_PROXY),
    st.booleans(),
    TARGETS,
)
def test_get_proxy_matches_websockets(variables, no_proxy, cgi, uri):
    environment = dict(variables)
    if no_proxy is not None:
        environment["no_proxy"] = no_proxy
    if cgi:
        # In a CGI script, urllib ignores HTTP_PROXY, which the client's request could set.
        environment["REQUEST_METHOD"] = "GET"
    with mock.patch.dict(os.environ, environment, clear=True):
        expected = ws_proxy.get_proxy(ws_uri.parse_uri(uri))
        assert get_proxy(parse_uri(uri)) == expected


@needs_websockets
def test_same_public_names_as_websockets():
    import wsfast.uri as uri_module

    assert set(ws_uri.__all__) <= set(uri_module.__all__)
    assert set(ws_proxy.__all__) <= set(uri_module.__all__)
    assert [field.name for field in dataclasses.fields(WebSocketURI)] == [
        field.name for field in dataclasses.fields(ws_uri.WebSocketURI)
    ]
    assert [field.name for field in dataclasses.fields(Proxy)] == [
        field.name for field in dataclasses.fields(ws_proxy.Proxy)
    ]


# Fixed cases: parse_uri.


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/", "")),
        ("wss://localhost", WebSocketURI(True, "localhost", 443, "", "")),
        # RFC 3986 §3.1 and §3.2.2: scheme and host are case-insensitive.
        ("WS://LocalHost:8080/Path?Q=1", WebSocketURI(False, "localhost", 8080, "/Path", "Q=1")),
        ("ws://[::1]:8080/", WebSocketURI(False, "::1", 8080, "/", "")),
        ("ws://1.2.3.4", WebSocketURI(False, "1.2.3.4", 80, "", "")),
        # An empty port, or port 0, means the default.
        ("ws://h:/", WebSocketURI(False, "h", 80, "/", "")),
        ("wss://h:0/", WebSocketURI(True, "h", 443, "/", "")),
        # A bare "#" has no fragment.
        ("ws://h/#", WebSocketURI(False, "h", 80, "/", "")),
        ("ws://h/p;x?a=b&c", WebSocketURI(False, "h", 80, "/p;x", "a=b&c")),
        # RFC 3986 §3.2.1: credentials are percent-decoded; an empty password is allowed.
        ("ws://us%20er:p%3Ass@h/", WebSocketURI(False, "h", 80, "/", "", "us er", "p:ss")),
        ("ws://user:@h/", WebSocketURI(False, "h", 80, "/", "", "user", "")),
        ("ws://:pass@h/", WebSocketURI(False, "h", 80, "/", "", "", "pass")),
        ("ws://u@v:p@h/", WebSocketURI(False, "h", 80, "/", "", "u@v", "p")),
        # Invalid percent-escapes stay as they are.
        ("ws://u%zz:p@h/%zz", WebSocketURI(False, "h", 80, "/%zz", "", "u%zz", "p")),
        # IRIs: IDNA for the host, UTF-8 percent-encoding for path and query, delimiters kept,
        # and "%" escaped since the text wasn't percent-encoded yet.
        ("ws://bücher.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/", "")),
        ("ws://straße.de/", WebSocketURI(False, "strasse.de", 80, "/", "")),
        ("ws://h/päth?q=ü", WebSocketURI(False, "h", 80, "/p%C3%A4th", "q=%C3%BC")),
        ("ws://h/ü?a b%", WebSocketURI(False, "h", 80, "/%C3%BC", "a%20b%25")),
        ("ws://h/ü;x=[1]", WebSocketURI(False, "h", 80, "/%C3%BC;x=[1]", "")),
        # ASCII-only URIs are taken as they are, spaces included.
        ("ws://h/a b", WebSocketURI(False, "h", 80, "/a b", "")),
        ("ws://us€r:pä@h/", WebSocketURI(False, "h", 80, "/", "", "us€r", "pä")),
    ],
)
def test_parse_uri(uri, expected):
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://h/", "scheme isn't ws or wss"),
        ("", "scheme isn't ws or wss"),
        ("ws:/h", "hostname isn't provided"),
        ("ws://", "hostname isn't provided"),
        ("ws://:80/", "hostname isn't provided"),
        ("ws://h/#f", "fragment identifier is meaningless"),
        ("ws://user@h/", "username provided without password"),
        ("ws://@h/", "username provided without password"),
        # The checks come in this order.
        ("ws://u@:abc/#f", "hostname isn't provided"),
        ("ws://u@h:abc/#f", "fragment identifier is meaningless"),
        ("ws://u@ü../", "username provided without password"),
    ],
)
def test_parse_uri_errors(uri, reason):
    with pytest.raises(InvalidURI) as raised:
        parse_uri(uri)
    assert raised.value.args == (uri, reason)
    assert str(raised.value) == f"{uri} isn't a valid URI: {reason}"


def idna_error(host):
    """The interpreter's message for a host IDNA can't encode: it's the reason wsfast quotes,
    and its wording varies (3.12 dropped the codec's name; 3.13 raises UnicodeEncodeError)."""
    try:
        host.encode("idna")
    except UnicodeError as exc:
        return str(exc)
    raise AssertionError(f"IDNA encodes {host!r}")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("ws://h:99999/", "Port out of range 0-65535"),
        ("ws://h:abc/", "Port could not be cast to integer value as 'abc'"),
        ("ws://u@h:abc/", "Port could not be cast to integer value as 'abc'"),
        ("ws://[::1/", "Invalid IPv6 URL"),
        # Python 3.10 and 3.11: "encoding with 'idna' codec failed (UnicodeError: label empty
        # or too long)"; 3.12: "label empty or too long"; 3.13: "'idna' codec can't encode
        # character '\x2e' in position 2: label empty".
        ("ws://a..b/ü", idna_error("a..b")),
        (
            "ws://u:%90@h/",
            "'utf-8' codec can't decode byte 0x90 in position 0: invalid start byte",
        ),
        (
            "ws://h/\udcff",
            "'utf-8' codec can't encode character '\\udcff' in position 1: surrogates not allowed",
        ),
    ],
)
def test_parse_uri_errors_that_websockets_leaves_to_urllib(uri, reason):
    # Deliberate divergence: websockets raises urllib's ValueError; wsfast an InvalidURI that
    # is also a ValueError.
    with pytest.raises(InvalidURI) as raised:
        parse_uri(uri)
    assert isinstance(raised.value, ValueError)
    assert raised.value.args == (uri, reason)
    assert str(raised.value) == f"{uri} isn't a valid URI: {reason}"
    assert isinstance(raised.value.__cause__, ValueError)
    assert str(raised.value.__cause__) == reason
    clone = pickle.loads(pickle.dumps(raised.value))
    assert type(clone) is type(raised.value)
    assert clone.args == raised.value.args
    if HAVE_WEBSOCKETS:
        with pytest.raises(ValueError):
            ws_uri.parse_uri(uri)


def test_resource_name():
    assert WebSocketURI(False, "h", 80, "", "").resource_name == "/"
    assert WebSocketURI(False, "h", 80, "", "q").resource_name == "/?q"
    assert WebSocketURI(False, "h", 80, "/p", "").resource_name == "/p"
    assert WebSocketURI(False, "h", 80, "/p", "a=1").resource_name == "/p?a=1"


def test_user_info():
    assert WebSocketURI(False, "h", 80, "", "").user_info is None
    assert WebSocketURI(False, "h", 80, "", "", "u", "p").user_info == ("u", "p")
    assert WebSocketURI(False, "h", 80, "", "", "", "").user_info == ("", "")
    assert WebSocketURI(False, "h", 80, "", "", None, "p").user_info is None
    # The parsers never produce a username without a password.
    with pytest.raises(AssertionError):
        WebSocketURI(False, "h", 80, "", "", "u", None).user_info  # noqa: B018


def test_websocket_uri_is_a_mutable_dataclass():
    uri = parse_uri("ws://h/")
    assert uri == WebSocketURI(secure=False, host="h", port=80, path="/", query="")
    uri.port = 8080
    assert uri.port == 8080
    with pytest.raises(TypeError):
        hash(uri)


# Fixed cases: parse_proxy.


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("http://proxy", Proxy("http", "proxy", 80)),
        ("HTTP://Proxy:3128/", Proxy("http", "proxy", 3128)),
        ("https://proxy", Proxy("https", "proxy", 443)),
        # Like websockets, SOCKS proxies default to port 80 too.
        ("socks5h://proxy", Proxy("socks5h", "proxy", 80)),
        ("socks4a://proxy:1080", Proxy("socks4a", "proxy", 1080)),
        ("socks5://u:p%40ss@proxy:1080", Proxy("socks5", "proxy", 1080, "u", "p@ss")),
        ("http://[::1]:1080", Proxy("http", "::1", 1080)),
        ("http://ü/", Proxy("http", "xn--tda", 80)),
        # urlparse sets parameters aside for http and https, as in websockets.
        ("http://proxy/;type=x", Proxy("http", "proxy", 80)),
        ("http://proxy/?#", Proxy("http", "proxy", 80)),
    ],
)
def test_parse_proxy(proxy, expected):
    assert parse_proxy(proxy) == expected


@pytest.mark.parametrize(
    ("proxy", "reason"),
    [
        ("ftp://proxy", "scheme ftp isn't supported"),
        ("proxy:8080", "scheme proxy isn't supported"),
        ("http://", "hostname isn't provided"),
        ("http://proxy/x", "path is meaningless"),
        ("socks5://proxy/;x", "path is meaningless"),
        ("http://proxy?x", "query is meaningless"),
        ("http://proxy#x", "fragment is meaningless"),
        ("http://u@proxy", "username provided without password"),
    ],
)
def test_parse_proxy_errors(proxy, reason):
    with pytest.raises(InvalidProxy) as raised:
        parse_proxy(proxy)
    assert raised.value.args == (proxy, reason)


@pytest.mark.parametrize(
    "proxy", ["http://proxy:abc", "http://[::1", "http://ü..", "http://%90:p@proxy"]
)
def test_parse_proxy_errors_that_websockets_leaves_to_urllib(proxy):
    with pytest.raises(InvalidProxy) as raised:
        parse_proxy(proxy)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value.__cause__, ValueError)
    assert str(raised.value) == f"{proxy} isn't a valid proxy: {raised.value.__cause__}"
    if HAVE_WEBSOCKETS:
        with pytest.raises(ValueError) as expected:
            ws_proxy.parse_proxy(proxy)
        assert str(raised.value) == f"{proxy} isn't a valid proxy: {expected.value}"


def test_proxy_user_info():
    assert Proxy("http", "h", 80).user_info is None
    assert Proxy("http", "h", 80, "u", "").user_info == ("u", "")


# Fixed cases: get_proxy, with urllib's answers under control.


@pytest.fixture
def proxies(monkeypatch):
    """Set what urllib.request.getproxies() returns; proxy_bypass() exempts host "direct"."""
    configured = {}
    monkeypatch.setattr(urllib.request, "getproxies", lambda: dict(configured))
    monkeypatch.setattr(urllib.request, "proxy_bypass", lambda host: host.startswith("direct:"))
    return configured


@pytest.mark.parametrize(
    ("configured", "uri", "expected"),
    [
        ({}, "ws://h/", None),
        ({"http": "http://hp:1"}, "ws://h/", "http://hp:1"),
        # http_proxy is for plain-text traffic only.
        ({"http": "http://hp:1"}, "wss://h/", None),
        ({"https": "http://sp:1"}, "ws://h/", "http://sp:1"),
        ({"https": "http://sp:1", "http": "http://hp:1"}, "ws://h/", "http://sp:1"),
        ({"socks": "socks5://s:1", "https": "http://sp:1"}, "wss://h/", "socks5://s:1"),
        ({"ws": "http://w:1", "socks": "socks5://s:1"}, "ws://h/", "http://w:1"),
        ({"wss": "http://w:1", "ws": "http://x:1"}, "wss://h/", "http://w:1"),
        ({"ws": "http://x:1"}, "wss://h/", None),
        # all_proxy isn't used, as in websockets.
        ({"all": "socks5://a:1"}, "ws://h/", None),
        # A SOCKS proxy reported with an http:// prefix is a SOCKS5 proxy resolving names.
        ({"socks": "http://s:1080"}, "ws://h/", "socks5h://s:1080"),
        ({"socks": "HTTP://s:1080"}, "ws://h/", "HTTP://s:1080"),
        ({"http": "http://hp:1"}, "ws://direct/", None),
    ],
)
def test_get_proxy(proxies, configured, uri, expected):
    proxies.update(configured)
    assert get_proxy(parse_uri(uri)) == expected


def test_get_proxy_asks_proxy_bypass_about_host_and_port(monkeypatch):
    asked = []
    monkeypatch.setattr(urllib.request, "getproxies", lambda: {"http": "http://hp:1"})
    monkeypatch.setattr(urllib.request, "proxy_bypass", lambda host: asked.append(host))
    get_proxy(parse_uri("ws://[::1]:8080/"))
    get_proxy(parse_uri("ws://example.com/"))
    assert asked == ["::1:8080", "example.com:80"]


def test_get_proxy_from_environment():
    environment = {"http_proxy": "http://hp:3128", "no_proxy": "internal.example,.corp"}
    with mock.patch.dict(os.environ, environment, clear=True):
        assert get_proxy(parse_uri("ws://example.com/")) == "http://hp:3128"
        assert get_proxy(parse_uri("ws://internal.example/")) is None
        assert get_proxy(parse_uri("ws://a.b.corp/")) is None
        assert parse_proxy(get_proxy(parse_uri("ws://example.com/"))) == Proxy("http", "hp", 3128)


# Long input.


@pytest.mark.parametrize(
    "uri",
    [
        "ws://h/" + "a" * 100_000,
        "ws://h/?" + "a=b&" * 25_000,
        "ws://h/" + "é" * 50_000,
        "ws://" + "a." * 50_000 + "b/",
        "ws://" + "u:" * 50_000 + "@h/",
    ],
    ids=["path", "query", "iri", "host", "userinfo"],
)
def test_long_uri_is_parsed_quickly(uri):
    # A guard against a super-linear pass, not a benchmark: the parser runs in a thread so
    # that a regression fails here after 10 seconds instead of hanging the suite.
    outcomes = []
    worker = threading.Thread(
        target=lambda: outcomes.append(describe(parse_uri, uri, exceptions.WebSocketException)),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), f"parse_uri didn't finish within 10 seconds on {len(uri)} chars"
    assert outcomes
