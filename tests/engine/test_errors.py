"""The exception tree of picows.errors: hierarchy, attributes, messages, pickling."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from picows.enums import WSCloseCode
from picows.errors import (
    WSError,
    WSHandshakeError,
    WSHandshakeTimeoutError,
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
    WSInvalidURL,
    WSProtocolError,
)
from picows.upgrade import WSUpgradeResponse


def test_hierarchy() -> None:
    for cls in (
        WSHandshakeError,
        WSInvalidMessageError,
        WSInvalidStatusError,
        WSInvalidHeaderError,
        WSInvalidUpgradeError,
        WSHandshakeTimeoutError,
        WSProtocolError,
        WSInvalidURL,
    ):
        assert issubclass(cls, WSError)
    for cls in (WSInvalidMessageError, WSInvalidStatusError, WSInvalidHeaderError):
        assert issubclass(cls, WSHandshakeError)
    assert issubclass(WSInvalidUpgradeError, WSInvalidHeaderError)
    assert issubclass(WSHandshakeTimeoutError, TimeoutError)
    assert issubclass(WSHandshakeTimeoutError, asyncio.TimeoutError)
    assert issubclass(WSInvalidURL, ValueError)
    assert not issubclass(WSProtocolError, WSHandshakeError)


def test_handshake_error_attributes() -> None:
    response = WSUpgradeResponse(b"HTTP/1.1", 403, [("X", "y")], b"go away")
    exc = WSInvalidStatusError("rejected", b"HTTP/1.1 403 Forbidden\r\n\r\n", b"go away", response)
    assert str(exc) == "rejected"
    assert exc.raw_header == b"HTTP/1.1 403 Forbidden\r\n\r\n"
    assert exc.raw_body == b"go away"
    assert exc.response is response

    bare = WSHandshakeError("boom")
    assert (bare.raw_header, bare.raw_body, bare.response) == (None, None, None)


def test_invalid_header_attributes() -> None:
    exc = WSInvalidUpgradeError("bad upgrade", "Upgrade", "h2c", raw_header=b"x")
    assert exc.name == "Upgrade"
    assert exc.value == "h2c"
    assert exc.raw_header == b"x"
    assert str(exc) == "bad upgrade"
    missing = WSInvalidHeaderError("missing", "Sec-WebSocket-Accept")
    assert missing.value is None


def test_protocol_error() -> None:
    exc = WSProtocolError(1002, "reserved bits set")
    assert exc.code is WSCloseCode.PROTOCOL_ERROR
    assert isinstance(exc.code, WSCloseCode)
    assert str(exc) == "reserved bits set"
    assert WSProtocolError(4001, "app").code == 4001


def test_invalid_url() -> None:
    exc = WSInvalidURL("http://x", "use ws://")
    assert exc.url == "http://x"
    assert "http://x" in str(exc) and "use ws://" in str(exc)


def test_pickle_round_trip() -> None:
    response = WSUpgradeResponse(b"HTTP/1.1", 599, [("A", "b")], b"body")
    header_exc = WSInvalidHeaderError("d", "Name", "v", b"head", b"body", response)
    copy = pickle.loads(pickle.dumps(header_exc))
    assert type(copy) is WSInvalidHeaderError
    assert (copy.name, copy.value, copy.raw_header, copy.raw_body) == (
        "Name",
        "v",
        b"head",
        b"body",
    )
    assert copy.response is not None and int(copy.response.status) == 599
    assert str(copy) == "d"

    url_exc = pickle.loads(pickle.dumps(WSInvalidURL("u", "m")))
    assert (url_exc.url, str(url_exc)) == ("u", str(WSInvalidURL("u", "m")))

    proto = pickle.loads(pickle.dumps(WSProtocolError(1007, "bad utf-8")))
    assert proto.code is WSCloseCode.INVALID_TEXT and str(proto) == "bad utf-8"


def test_catchable_as_base() -> None:
    with pytest.raises(WSError):
        raise WSHandshakeTimeoutError("timed out")
