"""The public surface: every name in ``picows.__all__`` imports and is documented."""

from __future__ import annotations

import inspect

import pytest

import picows

# Names that are values, not classes or functions: they cannot carry a docstring of their own.
VALUES = {"PICOWS_DEBUG_LL", "WSHeadersLike"}


def test_all_has_no_duplicates() -> None:
    assert len(set(picows.__all__)) == len(picows.__all__)


@pytest.mark.parametrize("name", picows.__all__)
def test_name_imports(name: str) -> None:
    assert hasattr(picows, name), f"picows.__all__ lists {name!r} but picows has no such attribute"
    namespace: dict[str, object] = {}
    exec(f"from picows import {name}", namespace)
    assert namespace[name] is getattr(picows, name)


@pytest.mark.parametrize("name", sorted(set(picows.__all__) - VALUES))
def test_name_has_docstring(name: str) -> None:
    obj = getattr(picows, name)
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"picows.{name} has no docstring"
    if inspect.isclass(obj) and obj.__doc__ is not None:
        # Own docstring, not one inherited from a base class.
        assert "__doc__" in vars(obj) or obj.__doc__ != getattr(obj.__mro__[1], "__doc__", None)


@pytest.mark.parametrize("name", ["WSListener", "WSTransport", "WSFrame"])
def test_public_methods_have_docstrings(name: str) -> None:
    cls = getattr(picows, name)
    for attr, member in vars(cls).items():
        if attr.startswith("_") or not callable(member):
            continue
        assert inspect.getdoc(member), f"picows.{name}.{attr} has no docstring"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from picows import *", namespace)
    names = {n for n in namespace if n != "__builtins__"}
    assert names == set(picows.__all__)


def test_version() -> None:
    assert isinstance(picows.__version__, str) and picows.__version__
