"""HTTP header container for the opening handshake, as websockets.datastructures has it.

:class:`Headers` is a case-insensitive multi-dict: HTTP field names are case-insensitive
(RFC 7230 §3.2) and a field may occur several times (§3.2.2), so neither a ``dict`` nor a list
of pairs fits alone. It keeps both: a ``dict`` from lower-cased name to values for lookups, and
the list of ``(name, value)`` pairs in arrival order, original case included, for
serialisation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol

from .exceptions import InvalidHeaderValue

__all__ = [
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
]


class MultipleValuesError(LookupError):
    """Raised by :class:`Headers` when a single value is asked of a repeated header."""

    def __str__(self) -> str:
        # Read like KeyError, which callers catch alongside it: a single argument, the
        # header name, shows as its repr.
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


# Characters allowed in a header value: field-content is HTAB, SP, VCHAR and obs-text
# (RFC 7230 §3.2, §3.2.6). Refusing everything else, CR, LF and NUL above all, stops a
# value that comes from user input from injecting header lines (RFC 7230 §3.2.4, §9.4).
_VALID_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def is_valid_header_value(value: str) -> bool:
    """Tell whether ``value`` may be sent as an HTTP header value."""
    return _VALID_VALUE.fullmatch(value) is not None


class Headers(MutableMapping[str, str]):
    """Case-insensitive multi-dict of HTTP headers.

    - ``headers[name]`` returns the header's value, raises :exc:`KeyError` when it's missing
      and :exc:`MultipleValuesError` when it occurs more than once;
    - ``headers[name] = value`` appends a value, keeping the earlier ones;
    - ``del headers[name]`` removes every value of the header.

    :meth:`get_all` returns every value of a header and :meth:`raw_items` every
    ``(name, value)`` pair in order. Names keep the case they were given in.

    Values are text; bytes outside ASCII read as ISO-8859-1, which maps each byte to one
    character and back, so ``value.encode("iso-8859-1")`` recovers what was on the wire.

    Assigning a value containing a character that HTTP forbids in header values (CR, LF, NUL
    and other controls, or anything above U+00FF) raises :exc:`InvalidHeaderValue`.
    :meth:`set_insecure` skips that check.
    """

    __slots__ = ["_dict", "_list"]

    _dict: dict[str, list[str]]
    _list: list[tuple[str, str]]

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._dict = {}
        self._list = []
        self.update(*args, **kwargs)

    def __str__(self) -> str:
        # An HTTP header section: one "name: value" line per field, each ended by CRLF, then
        # the empty line that ends the section (RFC 7230 §3).
        lines = [f"{name}: {value}\r\n" for name, value in self._list]
        lines.append("\r\n")
        return "".join(lines)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._list!r})"

    def copy(self) -> Headers:
        """Return an independent copy: changing either leaves the other as it was."""
        copy = self.__class__()
        # Copy each value list too: sharing them would let an append to one object show up
        # in the other's get_all() but not in its raw_items().
        copy._dict = {name: values.copy() for name, values in self._dict.items()}
        copy._list = self._list.copy()
        return copy

    def serialize(self) -> bytes:
        """Return the header section as bytes, ready to send (ISO-8859-1, RFC 7230 §3.2.4)."""
        return str(self).encode("iso-8859-1")

    # Collection methods

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    # MutableMapping methods

    def __getitem__(self, key: str) -> str:
        values = self._dict[key.lower()]
        if len(values) == 1:
            return values[0]
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        # Values that aren't str are checked as they will be written, through str().
        if not is_valid_header_value(str(value)):
            raise InvalidHeaderValue(key, value)
        self.set_insecure(key, value)

    def set_insecure(self, key: str, value: str) -> None:
        """Append a value for a header without checking it for forbidden characters.

        Only for values known to be safe, such as those just parsed from the network.
        """
        self._dict.setdefault(key.lower(), []).append(value)
        self._list.append((key, value))

    def __delitem__(self, key: str) -> None:
        lowered = key.lower()
        # Raises KeyError for a missing header, as a mapping must.
        del self._dict[lowered]
        self._list = [(name, value) for name, value in self._list if name.lower() != lowered]

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        # Names compare case-insensitively; the values of each header compare in order, but
        # different headers may come in any order (RFC 7230 §3.2.2).
        return self._dict == other._dict

    # A mutable mapping can't be hashed; defining __eq__ already implies this.
    __hash__ = None  # type: ignore[assignment]

    def clear(self) -> None:
        """Remove all headers."""
        self._dict = {}
        self._list = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """Append the headers from a mapping, an iterable of pairs, or keyword arguments.

        Like ``headers[name] = value`` for each of them: existing values stay.
        """
        if len(args) == 1 and isinstance(args[0], Headers):
            # Through raw_items(), not the Mapping protocol, which would raise
            # MultipleValuesError on repeated headers; the values are checked again, since
            # the source may hold some that were added with set_insecure().
            for name, value in args[0].raw_items():
                self[name] = value
            args = ()
        super().update(*args, **kwargs)

    # Methods for handling multiple values

    def get_all(self, key: str) -> list[str]:
        """Return the list of all values of a header, empty when it's missing."""
        return list(self._dict.get(key.lower(), ()))

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Return an iterator of all ``(name, value)`` pairs, in order."""
        return iter(self._list)


class SupportsKeysAndGetItem(Protocol):
    """Dict-like objects: ``keys()`` yields header names and ``obj[name]`` gives the value.

    This is what ``dict.update()`` and :meth:`Headers.update` accept besides mappings and
    iterables of pairs.
    """

    def keys(self) -> Iterable[str]:
        """Return the header names."""

    def __getitem__(self, key: str) -> str:
        """Return the value of header ``key``."""


# What the Headers constructor and update() accept.
HeadersLike = Headers | Mapping[str, str] | Iterable[tuple[str, str]] | SupportsKeysAndGetItem
