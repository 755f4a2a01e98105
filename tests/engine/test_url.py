"""parse_url: ws:// and wss:// URLs (RFC 6455 section 3)."""

from __future__ import annotations

import dataclasses

import pytest

from picows.errors import WSInvalidURL
from picows.url import WSParsedURL, parse_url


@pytest.mark.parametrize(
    ("url", "scheme", "secure", "host", "port", "resource", "netloc"),
    [
        ("ws://example.com", "ws", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com", "wss", True, "example.com", 443, "/", "example.com"),
        ("WS://Example.COM/Path", "ws", False, "example.com", 80, "/Path", "example.com"),
        ("ws://example.com:80/", "ws", False, "example.com", 80, "/", "example.com"),
        ("ws://example.com:443/", "ws", False, "example.com", 443, "/", "example.com:443"),
        ("wss://example.com:443/", "wss", True, "example.com", 443, "/", "example.com"),
        ("wss://example.com:8443/x", "wss", True, "example.com", 8443, "/x", "example.com:8443"),
        ("ws://h:/", "ws", False, "h", 80, "/", "h"),
        ("ws://127.0.0.1:9001", "ws", False, "127.0.0.1", 9001, "/", "127.0.0.1:9001"),
        ("ws://[::1]", "ws", False, "::1", 80, "/", "[::1]"),
        ("ws://[::1]:9001/chat", "ws", False, "::1", 9001, "/chat", "[::1]:9001"),
        ("wss://[2001:db8::1]:443", "wss", True, "2001:db8::1", 443, "/", "[2001:db8::1]"),
        ("ws://h/a/b?x=1&y=2", "ws", False, "h", 80, "/a/b?x=1&y=2", "h"),
        ("ws://h?x=1", "ws", False, "h", 80, "/?x=1", "h"),
        ("ws://h/p?", "ws", False, "h", 80, "/p", "h"),
        ("ws://h/a%20b?q=%2F", "ws", False, "h", 80, "/a%20b?q=%2F", "h"),
        ("ws://h/ü?v=ü", "ws", False, "h", 80, "/%C3%BC?v=%C3%BC", "h"),
        ("ws://bücher.de/", "ws", False, "xn--bcher-kva.de", 80, "/", "xn--bcher-kva.de"),
    ],
)
def test_valid(
    url: str, scheme: str, secure: bool, host: str, port: int, resource: str, netloc: str
) -> None:
    parsed = parse_url(url)
    assert parsed.url == url
    assert parsed.scheme == scheme
    assert parsed.is_secure is secure
    assert parsed.host == host
    assert parsed.port == port
    assert parsed.resource_name == resource
    assert parsed.netloc == netloc
    assert parsed.user_info is None


def test_user_info() -> None:
    parsed = parse_url("wss://alice:s%40cret@example.com/x")
    assert parsed.user_info == ("alice", "s@cret")
    assert parsed.host == "example.com"
    assert parsed.netloc == "example.com"
    assert parse_url("ws://bob@h/").user_info == ("bob", "")


def test_frozen_and_slotted() -> None:
    parsed = parse_url("ws://h/")
    assert isinstance(parsed, WSParsedURL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.host = "other"  # type: ignore[misc]
    assert not hasattr(parsed, "__dict__")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://example.com/", "use ws:// or wss://"),
        ("https://example.com/", "use ws:// or wss://"),
        ("ftp://example.com/", "not supported"),
        ("example.com:80", "not supported"),
        ("//example.com/", "no scheme"),
        ("ws://", "no host"),
        ("ws:///path", "no host"),
        ("ws://:80/", "no host"),
        ("ws://h:99999/", "port"),
        ("ws://h:abc/", "port"),
        ("ws://h:-1/", "port"),
        ("ws://h:0/", "port 0"),
        ("ws://h/#frag", "fragment"),
        ("ws://h/#", "fragment"),
        ("ws://h/a b", "whitespace"),
        (" ws://h/", "whitespace"),
        ("ws://h/\r\nX: y", "control"),
        ("ws://h/\x00", "control"),
        ("ws://h/\tx", "whitespace"),
        ("ws://[::1/", "IPv6"),
        ("ws://[not:v6]/", "IPv6"),
        ("ws://ho<st/", "invalid character"),
    ],
)
def test_invalid(url: str, fragment: str) -> None:
    with pytest.raises(WSInvalidURL) as info:
        parse_url(url)
    assert info.value.url == url
    assert fragment.lower() in str(info.value).lower()
    assert isinstance(info.value, ValueError)


def test_non_str() -> None:
    with pytest.raises(TypeError):
        parse_url(b"ws://h/")  # type: ignore[arg-type]
