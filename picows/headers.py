"""A case-insensitive multi-dict for HTTP headers.

:class:`WSHeaders` plays the role ``multidict.CIMultiDict`` played in picows
2.x without the dependency: names compare case-insensitively, a name may
appear several times, insertion order and the original spelling of names are
kept, and ``headers[name]`` returns the first value.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, MutableMapping, ValuesView
from typing import Union, overload

__all__ = ["WSHeaders", "WSHeadersLike"]

# RFC 9110 5.6.2 token characters: what a header name may consist of.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_FORBIDDEN_VALUE_CHARS = ("\r", "\n", "\0")

_MISSING: object = object()


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"header name must be str, not {type(name).__name__}")
    if not name:
        raise ValueError("header name must not be empty")
    for ch in name:
        if ch not in _TOKEN_CHARS:
            # Covers CR/LF/NUL (header injection), ':' and whitespace.
            raise ValueError(
                f"invalid character {ch!r} in header name {name!r}: "
                "a header name must be an RFC 9110 token (letters, digits, !#$%&'*+-.^_`|~)"
            )
    return name


def _check_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"value of header {name!r} must be str, not {type(value).__name__}")
    for ch in _FORBIDDEN_VALUE_CHARS:
        if ch in value:
            raise ValueError(
                f"invalid character {ch!r} in the value of header {name!r}: "
                "CR, LF and NUL are not allowed (they would allow header injection)"
            )
    return value


class _ItemsView(ItemsView[str, str]):
    """All (name, value) pairs, duplicates included, in insertion order."""

    _mapping: WSHeaders

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._mapping._entries:
            yield (name, value)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        name, value = item
        if not isinstance(name, str):
            return False
        return value in self._mapping.getall(name, [])


class _ValuesView(ValuesView[str]):
    """All values, duplicates included, in insertion order."""

    _mapping: WSHeaders

    def __iter__(self) -> Iterator[str]:
        for _, _, value in self._mapping._entries:
            yield value


class WSHeaders(MutableMapping[str, str]):
    """HTTP headers: a case-insensitive, ordered multi-dict of ``str`` to ``str``.

    ``len()``, iteration, ``keys()``, ``values()`` and ``items()`` see every
    entry, so a name added twice appears twice.  ``headers[name]`` and
    ``get()`` return the first value; ``getall()`` returns all of them.
    Assigning ``headers[name] = value`` replaces every value of ``name``;
    ``add()`` appends one more.

    Names must be RFC 9110 tokens and values must not contain CR, LF or NUL;
    anything else raises :class:`ValueError`, which stops header injection.
    """

    __slots__ = ("_entries",)

    # (lower-cased name, name as given, value)
    _entries: list[tuple[str, str, str]]

    def __init__(self, headers: WSHeadersLike | None = None, /) -> None:
        self._entries = []
        if headers is not None:
            self.extend(headers)

    @classmethod
    def _from_trusted(cls, pairs: Iterable[tuple[str, str]]) -> WSHeaders:
        # For parsers that have already validated names and values.
        self = cls.__new__(cls)
        self._entries = [(name.lower(), name, value) for name, value in pairs]
        return self

    # -- reading -----------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        if isinstance(name, str):
            key = name.lower()
            for k, _, value in self._entries:
                if k == key:
                    return value
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(k == key for k, _, _ in self._entries)

    def __iter__(self) -> Iterator[str]:
        for _, name, _ in self._entries:
            yield name

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def getall(self, name: str) -> list[str]: ...

    @overload
    def getall(self, name: str, default: list[str]) -> list[str]: ...

    def getall(self, name: str, default: object = _MISSING) -> list[str]:
        """Return every value of ``name`` in order.

        Raises :class:`KeyError` if there is none and no ``default`` is given.
        """
        key = name.lower()
        values = [value for k, _, value in self._entries if k == key]
        if values:
            return values
        if default is _MISSING:
            raise KeyError(name)
        return default  # type: ignore[return-value]

    @overload
    def getone(self, name: str) -> str: ...

    @overload
    def getone(self, name: str, default: str) -> str: ...

    @overload
    def getone(self, name: str, default: None) -> str | None: ...

    def getone(self, name: str, default: object = _MISSING) -> str | None:
        """Return the first value of ``name``.

        Raises :class:`KeyError` if there is none and no ``default`` is given.
        """
        try:
            return self[name]
        except KeyError:
            if default is _MISSING:
                raise
            return default  # type: ignore[return-value]

    def items(self) -> ItemsView[str, str]:
        """Return a view of every (name, value) pair, duplicates included."""
        return _ItemsView(self)

    def values(self) -> ValuesView[str]:
        """Return a view of every value, duplicates included."""
        return _ValuesView(self)

    # -- writing -----------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a value for ``name``, keeping the existing ones."""
        _check_name(name)
        _check_value(name, value)
        self._entries.append((name.lower(), name, value))

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every value of ``name`` by ``value``, at the position of the first one."""
        _check_name(name)
        _check_value(name, value)
        key = name.lower()
        new_entries: list[tuple[str, str, str]] = []
        placed = False
        for entry in self._entries:
            if entry[0] == key:
                if not placed:
                    new_entries.append((key, name, value))
                    placed = True
            else:
                new_entries.append(entry)
        if not placed:
            new_entries.append((key, name, value))
        self._entries = new_entries

    def __delitem__(self, name: str) -> None:
        """Remove every value of ``name``; :class:`KeyError` if there is none."""
        if not isinstance(name, str):
            raise KeyError(name)
        key = name.lower()
        kept = [entry for entry in self._entries if entry[0] != key]
        if len(kept) == len(self._entries):
            raise KeyError(name)
        self._entries = kept

    def clear(self) -> None:
        """Remove every header."""
        self._entries = []

    def extend(self, headers: WSHeadersLike, /) -> None:
        """Add every (name, value) of ``headers``, keeping existing values."""
        if isinstance(headers, WSHeaders):
            # Already validated.
            self._entries.extend(headers._entries)
            return
        untyped: object = headers  # callers without type checking may pass anything
        if isinstance(untyped, (str, bytes)):
            raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
        pairs: Iterable[object]
        if isinstance(headers, Mapping):
            pairs = headers.items()
        else:
            pairs = headers
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"headers must be (name, value) pairs, got {pair!r}")
            self.add(pair[0], pair[1])

    def copy(self) -> WSHeaders:
        """Return a shallow copy."""
        new = WSHeaders()
        new._entries = list(self._entries)
        return new

    __copy__ = copy

    # -- comparison and display ---------------------------------------------

    def _grouped(self) -> dict[str, list[str]]:
        # Order between different names carries no meaning in HTTP; order of
        # the values of one name does.
        grouped: dict[str, list[str]] = {}
        for key, _, value in self._entries:
            grouped.setdefault(key, []).append(value)
        return grouped

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WSHeaders):
            return self._grouped() == other._grouped()
        if isinstance(other, Mapping):
            try:
                other_headers = WSHeaders(other)
            except (TypeError, ValueError):
                return False
            return self._grouped() == other_headers._grouped()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        pairs = ", ".join(f"({name!r}, {value!r})" for _, name, value in self._entries)
        return f"WSHeaders([{pairs}])"


#: Anything :class:`WSHeaders` can be built from.
WSHeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]], WSHeaders]
