"""WSHeaders: a case-insensitive, ordered multi-dict with header-injection checks."""

from __future__ import annotations

import copy
from collections.abc import MutableMapping

import pytest

from picows.headers import WSHeaders


def make() -> WSHeaders:
    return WSHeaders([("Host", "a"), ("Cookie", "x=1"), ("cookie", "y=2"), ("Origin", "o")])


def test_construct() -> None:
    assert len(WSHeaders()) == 0
    assert len(WSHeaders(None)) == 0
    assert list(WSHeaders({"A": "1", "B": "2"}).items()) == [("A", "1"), ("B", "2")]
    assert list(WSHeaders([("A", "1"), ("a", "2")]).items()) == [("A", "1"), ("a", "2")]
    source = make()
    clone = WSHeaders(source)
    assert clone == source and clone is not source
    clone.add("X", "1")
    assert "X" not in source
    assert list(WSHeaders(p for p in [("G", "1")]).items()) == [("G", "1")]


@pytest.mark.parametrize("bad", ["Host: x", b"x", [("A",)], [("A", "1", "2")], [1]])
def test_construct_rejects_non_pairs(bad: object) -> None:
    with pytest.raises(TypeError):
        WSHeaders(bad)  # type: ignore[arg-type]


def test_case_insensitive_lookup() -> None:
    h = make()
    assert h["HOST"] == "a"
    assert h["cookie"] == "x=1"
    assert "COOKIE" in h and "cOoKiE" in h
    assert "Missing" not in h
    assert 3 not in h  # type: ignore[comparison-overlap]
    assert h.get("origin") == "o"
    assert h.get("nope") is None
    assert h.get("nope", "d") == "d"
    with pytest.raises(KeyError):
        h["nope"]


def test_multi_values() -> None:
    h = make()
    assert h.getall("COOKIE") == ["x=1", "y=2"]
    assert h.getall("nope", []) == []
    with pytest.raises(KeyError):
        h.getall("nope")
    assert h.getone("cookie") == "x=1"
    assert h.getone("nope", None) is None
    with pytest.raises(KeyError):
        h.getone("nope")


def test_views_keep_duplicates_order_and_case() -> None:
    h = make()
    assert len(h) == 4
    assert list(h) == ["Host", "Cookie", "cookie", "Origin"]
    assert list(h.keys()) == ["Host", "Cookie", "cookie", "Origin"]
    assert list(h.values()) == ["a", "x=1", "y=2", "o"]
    assert list(h.items()) == [("Host", "a"), ("Cookie", "x=1"), ("cookie", "y=2"), ("Origin", "o")]
    assert ("COOKIE", "y=2") in h.items()
    assert ("Cookie", "z") not in h.items()
    assert "host" in h.keys()


def test_add_setitem_delitem() -> None:
    h = make()
    h.add("Cookie", "z=3")
    assert h.getall("cookie") == ["x=1", "y=2", "z=3"]
    h["COOKIE"] = "only"
    assert h.getall("cookie") == ["only"]
    # the replacement takes the position of the first value
    assert list(h.items()) == [("Host", "a"), ("COOKIE", "only"), ("Origin", "o")]
    h["New"] = "n"
    assert list(h)[-1] == "New"
    del h["cookie"]
    assert "Cookie" not in h
    with pytest.raises(KeyError):
        del h["cookie"]
    assert h.pop("new") == "n"
    h.clear()
    assert len(h) == 0


def test_extend_and_update() -> None:
    h = WSHeaders([("A", "1")])
    h.extend([("a", "2")])
    h.extend({"B": "3"})
    h.extend(WSHeaders([("C", "4")]))
    assert list(h.items()) == [("A", "1"), ("a", "2"), ("B", "3"), ("C", "4")]
    h.update({"A": "x"})  # MutableMapping.update replaces
    assert h.getall("a") == ["x"]


def test_copy_is_independent() -> None:
    h = make()
    for c in (h.copy(), copy.copy(h)):
        c.add("Extra", "1")
        c["Host"] = "b"
        assert h["Host"] == "a" and "Extra" not in h


def test_equality() -> None:
    assert WSHeaders([("A", "1"), ("B", "2")]) == WSHeaders([("b", "2"), ("a", "1")])
    assert WSHeaders([("A", "1"), ("A", "2")]) != WSHeaders([("A", "2"), ("A", "1")])
    assert WSHeaders([("A", "1")]) == {"a": "1"}
    assert WSHeaders([("A", "1")]) != {"a": "2"}
    assert WSHeaders([("A", "1"), ("A", "2")]) != {"A": "1"}
    assert WSHeaders() != [("A", "1")]
    assert WSHeaders([("A", "1")]) != {"bad name": "1"}


def test_mutable_mapping_and_unhashable() -> None:
    h = make()
    assert isinstance(h, MutableMapping)
    with pytest.raises(TypeError):
        hash(h)


def test_repr_round_trips() -> None:
    h = make()
    assert repr(h) == (
        "WSHeaders([('Host', 'a'), ('Cookie', 'x=1'), ('cookie', 'y=2'), ('Origin', 'o')])"
    )
    assert eval(repr(h), {"WSHeaders": WSHeaders}) == h


@pytest.mark.parametrize(
    "name",
    ["X\r\nInjected", "X\nY", "X\0", "", "Bad Name", "Colon:", "Ünicode", "Tab\t"],
)
def test_rejects_bad_names(name: str) -> None:
    h = WSHeaders()
    with pytest.raises(ValueError):
        h.add(name, "v")
    with pytest.raises(ValueError):
        h[name] = "v"
    with pytest.raises(ValueError):
        WSHeaders({name: "v"})
    assert len(h) == 0


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: evil", "a\nb", "a\rb", "a\0b"])
def test_rejects_injection_in_values(value: str) -> None:
    h = WSHeaders()
    with pytest.raises(ValueError, match="injection"):
        h.add("X", value)
    with pytest.raises(ValueError):
        h["X"] = value
    with pytest.raises(ValueError):
        WSHeaders([("X", value)])
    assert len(h) == 0


def test_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        WSHeaders().add("X", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WSHeaders().add(b"X", "1")  # type: ignore[arg-type]


def test_allows_ordinary_values() -> None:
    h = WSHeaders()
    h.add("X", "")
    h.add("Y", "tab\tand spaces, ünïcode; q=0.5")
    assert h["y"] == "tab\tand spaces, ünïcode; q=0.5"
