"""Tests for wsfast.datastructures: the Headers multi-dict and MultipleValuesError.

websockets 17 is the reference. The differential test drives a wsfast ``Headers`` and a
websockets ``Headers`` through the same random sequence of operations and compares every
outcome and the full contents after each step. The fixed cases pin the documented behaviour
down, including the one place where wsfast differs on purpose: ``copy()`` and ``get_all()``
return lists that don't alias the object's own.
"""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets_support import needs_websockets, websockets_module

import wsfast.datastructures as datastructures
import wsfast.exceptions as exceptions
from wsfast.datastructures import Headers, MultipleValuesError, SupportsKeysAndGetItem
from wsfast.exceptions import InvalidHeaderValue

ws_datastructures = websockets_module("websockets.datastructures")
ws_exceptions = websockets_module("websockets.exceptions")

# Differential test against websockets.

NAMES = st.one_of(
    st.sampled_from(["Host", "host", "HOST", "Set-Cookie", "set-cookie", "X-Y", "É", "é"]),
    st.text(max_size=3),
)
VALUES = st.one_of(
    st.sampled_from(["", "a", " a ", "é", "\t", "x=1"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=4),
    # Unsafe ones.
    st.sampled_from(["a\r\nb", "a\nb", "\x00", "\x7f", "Ā", "\udcff"]),
    st.text(max_size=4),
)
PAIRS = st.lists(st.tuples(NAMES, VALUES), max_size=4)

OPERATIONS = st.one_of(
    st.tuples(st.just("setitem"), NAMES, VALUES),
    st.tuples(st.just("set_insecure"), NAMES, VALUES),
    st.tuples(st.just("delitem"), NAMES),
    st.tuples(st.just("getitem"), NAMES),
    st.tuples(st.just("get"), NAMES),
    st.tuples(st.just("get_all"), NAMES),
    st.tuples(
        st.just("contains"), st.one_of(NAMES, st.none(), st.integers(), st.binary(max_size=2))
    ),
    st.tuples(st.just("pop"), NAMES),
    st.tuples(st.just("setdefault"), NAMES, VALUES),
    st.tuples(st.just("update"), st.sampled_from(["pairs", "dict", "headers", "kwargs"]), PAIRS),
    st.tuples(st.just("new"), st.sampled_from(["pairs", "dict", "headers", "kwargs"]), PAIRS),
    st.sampled_from(
        [
            ("len",),
            ("iter",),
            ("keys",),
            ("items",),
            ("values",),
            ("raw_items",),
            ("str",),
            ("repr",),
            ("serialize",),
            ("popitem",),
            ("clear",),
            ("copy",),
            ("equal_to_copy",),
            ("equal_to_reordered",),
        ]
    ),
)


def apply(module, headers, operation):
    """Run ``operation`` on ``headers``, an instance of ``module.Headers``.

    Return the Headers to carry on with (operations "new" and "copy" replace it) and a
    comparable description of what happened: the result, or the exception's class name,
    whether it's the library's own, its message and its arguments.
    """
    cls = module.Headers
    if module is ws_datastructures:
        own = ws_exceptions.WebSocketException
    else:
        own = exceptions.WebSocketException
    name, *args = operation

    def build(kind, pairs):
        if kind == "pairs":
            return cls(pairs)
        if kind == "dict":
            return cls(dict(pairs))
        if kind == "headers":
            return cls(cls(pairs))
        return cls(**{key: value for key, value in pairs if key.isidentifier() and key != "self"})

    try:
        if name == "new":
            headers = build(*args)
            result = None
        elif name == "update":
            kind, pairs = args
            if kind == "headers":
                headers.update(cls(pairs))
            elif kind == "kwargs":
                headers.update(**dict(pairs))
            else:
                headers.update(pairs if kind == "pairs" else dict(pairs))
            result = None
        elif name == "setitem":
            headers[args[0]] = args[1]
            result = None
        elif name == "delitem":
            del headers[args[0]]
            result = None
        elif name == "getitem":
            result = headers[args[0]]
        elif name == "contains":
            result = args[0] in headers
        elif name in ("iter", "keys"):
            result = list(headers) if name == "iter" else list(headers.keys())
        elif name in ("items", "values", "raw_items"):
            result = list(getattr(headers, name)())
        elif name == "len":
            result = len(headers)
        elif name == "str":
            result = str(headers)
        elif name == "repr":
            result = repr(headers)
        elif name == "copy":
            headers = headers.copy()
            result = type(headers) is cls
        elif name == "equal_to_copy":
            result = (headers == headers.copy(), headers != headers.copy())
        elif name == "equal_to_reordered":
            # Different headers may come in any order; one header's values may not.
            raw = list(headers.raw_items())
            result = (headers == cls(raw[::-1]), headers == cls(raw[1:] + raw[:1]))
        else:
            result = getattr(headers, name)(*args)
    except Exception as exc:
        return headers, ("error", type(exc).__name__, isinstance(exc, own), str(exc), exc.args)
    return headers, ("result", result)


def contents(headers):
    """Everything observable about ``headers``, through its public methods."""
    return (
        list(headers.raw_items()),
        {name: headers.get_all(name) for name in headers},
        len(headers),
    )


@needs_websockets
@given(st.lists(OPERATIONS, max_size=12), PAIRS)
def test_operations_match_websockets(operations, initial):
    ours = Headers()
    theirs = ws_datastructures.Headers()
    for operation in [("new", "pairs", initial), *operations]:
        ours, our_outcome = apply(datastructures, ours, operation)
        theirs, their_outcome = apply(ws_datastructures, theirs, operation)
        assert our_outcome == their_outcome, operation
        assert contents(ours) == contents(theirs), operation


@needs_websockets
def test_valid_values_match_websockets():
    # Every character up to U+2FFF and a few beyond, one at a time and surrounded by text.
    characters = [chr(code) for code in range(0x3000)]
    characters += ["\ud800", "\udfff", "\ufeff", "\U0001f600"]
    for character in characters:
        for value in [character, f"a{character}b"]:
            ours = Headers()
            theirs = ws_datastructures.Headers()
            try:
                theirs["X"] = value
            except ws_exceptions.InvalidHeaderValue:
                with pytest.raises(InvalidHeaderValue):
                    ours["X"] = value
            else:
                ours["X"] = value


@needs_websockets
def test_same_public_names_as_websockets():
    assert datastructures.__all__ == ws_datastructures.__all__
    ws_methods = {name for name in vars(ws_datastructures.Headers) if not name.startswith("_")}
    assert ws_methods <= set(dir(Headers))


# Fixed cases.


def test_lookup_is_case_insensitive_and_keeps_case():
    headers = Headers([("Server", "wsfast"), ("X-Trace", "1")])
    assert headers["server"] == headers["SERVER"] == "wsfast"
    assert "x-TRACE" in headers
    assert list(headers) == ["server", "x-trace"]
    assert list(headers.raw_items()) == [("Server", "wsfast"), ("X-Trace", "1")]


def test_repeated_header():
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    with pytest.raises(MultipleValuesError) as raised:
        headers["SET-COOKIE"]
    # Reported with the name as asked for, shown like a KeyError.
    assert raised.value.args == ("SET-COOKIE",)
    assert str(raised.value) == "'SET-COOKIE'"
    assert isinstance(raised.value, LookupError)
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert len(headers) == 1
    with pytest.raises(MultipleValuesError):
        headers.get("set-cookie")
    with pytest.raises(MultipleValuesError):
        list(headers.items())


def test_missing_header():
    headers = Headers()
    with pytest.raises(KeyError) as raised:
        headers["X-Missing"]
    # Reported lower-cased, as the key that was looked up.
    assert raised.value.args == ("x-missing",)
    assert headers.get("X-Missing") is None
    assert headers.get_all("X-Missing") == []
    with pytest.raises(KeyError):
        del headers["X-Missing"]


def test_setitem_appends():
    headers = Headers()
    headers["Vary"] = "Origin"
    headers["VARY"] = "Accept"
    assert list(headers.raw_items()) == [("Vary", "Origin"), ("VARY", "Accept")]


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "\x00", "\x7f", "Ā", "\udcff"]
)
def test_setitem_refuses_unsafe_values(value):
    headers = Headers()
    with pytest.raises(InvalidHeaderValue) as raised:
        headers["X-Value"] = value
    assert raised.value.args == ("X-Value", value)
    assert str(raised.value) == f"invalid X-Value header: {value}"
    assert len(headers) == 0
    # Also through the constructor and update().
    with pytest.raises(InvalidHeaderValue):
        Headers([("X-Value", value)])
    with pytest.raises(InvalidHeaderValue):
        Headers().update(x_value=value)


@pytest.mark.parametrize("value", ["", " padded ", "a\tb", "\x80\xff", "é", "~"])
def test_setitem_accepts_safe_values(value):
    headers = Headers()
    headers["X-Value"] = value
    assert headers["X-Value"] == value


def test_set_insecure_skips_the_check():
    headers = Headers()
    headers.set_insecure("X-Value", "a\r\nb")
    assert headers["x-value"] == "a\r\nb"
    # Copying into another Headers checks again.
    with pytest.raises(InvalidHeaderValue):
        Headers(headers)


def test_values_are_checked_as_text():
    headers = Headers()
    headers["Content-Length"] = 42  # type: ignore[assignment]
    assert str(headers) == "Content-Length: 42\r\n\r\n"

    class Sneaky:
        def __str__(self):
            return "1\r\nX-Injected: 1"

    with pytest.raises(InvalidHeaderValue):
        headers["X-Sneaky"] = Sneaky()  # type: ignore[assignment]


def test_delitem_removes_every_value():
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    del headers["a"]
    assert list(headers.raw_items()) == [("B", "2")]
    assert "a" not in headers


def test_str_and_serialize():
    headers = Headers([("Host", "example.com"), ("X-Latin-1", "é")])
    # RFC 7230 §3: CRLF after each field line, then an empty line.
    assert str(headers) == "Host: example.com\r\nX-Latin-1: é\r\n\r\n"
    assert headers.serialize() == b"Host: example.com\r\nX-Latin-1: \xe9\r\n\r\n"
    assert str(Headers()) == "\r\n"
    assert Headers().serialize() == b"\r\n"


def test_repr():
    assert repr(Headers([("A", "1"), ("a", "2")])) == "Headers([('A', '1'), ('a', '2')])"

    class MyHeaders(Headers):
        pass

    assert repr(MyHeaders(a="1")) == "MyHeaders([('a', '1')])"


def test_equality():
    assert Headers(Host="a") == Headers(host="a")
    assert Headers(Host="a") != Headers(Host="A")
    assert Headers([("a", "1"), ("b", "2")]) == Headers([("b", "2"), ("a", "1")])
    assert Headers([("a", "1"), ("a", "2")]) != Headers([("a", "2"), ("a", "1")])
    # Not equal to a dict with the same items: a Headers isn't a dict.
    assert Headers(a="1") != {"a": "1"}
    assert Headers().__eq__([]) is NotImplemented


def test_not_hashable():
    with pytest.raises(TypeError):
        hash(Headers())


def test_contains_non_strings():
    headers = Headers(a="1")
    assert None not in headers
    assert 1 not in headers
    assert b"a" not in headers


def test_constructor_and_update_forms():
    class KeysAndGetItem:
        def keys(self):
            return ["X-A", "X-B"]

        def __getitem__(self, key):
            return key.lower()

    headers = Headers([("a", "1")], b="2")
    headers.update({"c": "3"})
    headers.update([("d", "4")], e="5")
    headers.update(Headers([("f", "6"), ("F", "7")]), g="8")
    headers.update(KeysAndGetItem())
    assert list(headers.raw_items()) == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
        ("d", "4"),
        ("e", "5"),
        ("f", "6"),
        ("F", "7"),
        ("g", "8"),
        ("X-A", "x-a"),
        ("X-B", "x-b"),
    ]
    # Keyword arguments named like the parameters are headers too.
    assert Headers(args="1", kwargs="2")["args"] == "1"
    with pytest.raises(TypeError):
        Headers([("a", "1")], [("b", "2")])


def test_clear():
    headers = Headers(a="1")
    headers.clear()
    assert len(headers) == 0
    assert list(headers.raw_items()) == []
    assert str(headers) == "\r\n"


def test_copy_is_independent():
    # Deliberate divergence: websockets' copy() shares each header's list of values, so that
    # appending to the copy changes the original's get_all() but not its raw_items().
    original = Headers([("a", "1")])
    duplicate = original.copy()
    duplicate["a"] = "2"
    del duplicate["a"]
    duplicate["b"] = "3"
    assert list(original.raw_items()) == [("a", "1")]
    assert original.get_all("a") == ["1"]
    assert "b" not in original

    original = Headers([("a", "1")])
    duplicate = original.copy()
    duplicate["a"] = "2"
    assert original.get_all("a") == ["1"]
    assert duplicate.get_all("a") == ["1", "2"]


def test_copy_keeps_subclass():
    class MyHeaders(Headers):
        pass

    assert type(MyHeaders(a="1").copy()) is MyHeaders


def test_get_all_returns_a_new_list():
    # Deliberate divergence: websockets returns its own list, which a caller could corrupt.
    headers = Headers(a="1")
    headers.get_all("a").append("2")
    assert headers.get_all("a") == ["1"]


def test_pickle_and_copy_module():
    headers = Headers([("A", "1"), ("a", "2"), ("B", "3")])
    for clone in [pickle.loads(pickle.dumps(headers)), copy.copy(headers), copy.deepcopy(headers)]:
        assert clone == headers
        assert list(clone.raw_items()) == list(headers.raw_items())


def test_iteration_detects_changes():
    headers = Headers(a="1", b="2")
    iterator = iter(headers)
    next(iterator)
    headers["c"] = "3"
    with pytest.raises(RuntimeError):
        next(iterator)


def test_mutable_mapping_mixins():
    headers = Headers([("b", "3"), ("A", "1"), ("a", "2")])
    assert headers.pop("B") == "3"
    with pytest.raises(MultipleValuesError):
        headers.pop("a")
    assert headers.setdefault("c", "4") == "4"
    assert headers.setdefault("C", "5") == "4"
    assert headers.get_all("c") == ["4"]


@needs_websockets
@pytest.mark.parametrize("args", [(), ("a",), ("a", "b"), ("it's",), (1,)])
def test_multiple_values_error_str_matches_websockets(args):
    assert str(MultipleValuesError(*args)) == str(ws_datastructures.MultipleValuesError(*args))
    assert repr(MultipleValuesError(*args)) == repr(ws_datastructures.MultipleValuesError(*args))


def test_supports_keys_and_get_item_is_a_protocol():
    # Only for type checkers, like websockets': not usable with isinstance().
    with pytest.raises(TypeError):
        isinstance({}, SupportsKeysAndGetItem)
