"""Parsing of ``ws://`` and ``wss://`` URLs (RFC 6455 section 3)."""

from __future__ import annotations

import ipaddress
import string
import urllib.parse
from dataclasses import dataclass

from .errors import WSInvalidURL

__all__ = ["WSParsedURL", "parse_url"]

_DEFAULT_PORTS = {"ws": 80, "wss": 443}
# Every printable ASCII character stays as written in the resource name;
# only non-ASCII characters get percent-encoded (as UTF-8), like browsers do.
_RESOURCE_SAFE = string.punctuation
# RFC 3986 reg-name characters (unreserved, sub-delims and '%' of pct-encoded).
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=%")


@dataclass(frozen=True, slots=True)
class WSParsedURL:
    """A WebSocket URL split into what the opening handshake needs.

    Attributes:
        url: the URL as given.
        scheme: ``"ws"`` or ``"wss"``.
        is_secure: ``True`` for ``wss`` (TLS).
        host: the host to connect to: IPv6 literals without brackets,
            non-ASCII names IDNA-encoded, lower-cased.
        port: the port, 80 or 443 when the URL has none.
        resource_name: the request target: path plus ``"?query"``, ``"/"``
            when the path is empty.
        netloc: the ``Host`` header value: host (``[v6]`` for IPv6) plus
            ``":port"`` only when the port is not the scheme's default.
        user_info: ``(user, password)`` from ``user:password@``, percent-decoded,
            or ``None``; the client sends it as Basic ``Authorization``.
    """

    url: str
    scheme: str
    is_secure: bool
    host: str
    port: int
    resource_name: str
    netloc: str
    user_info: tuple[str, str] | None = None


def _encode_host(url: str, host: str) -> str:
    if ":" in host:
        # urlsplit only gives a ':' in the host for a bracketed IPv6 literal.
        address = host.split("%", 1)[0]
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise WSInvalidURL(url, f"{host!r} is not a valid IPv6 address") from None
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise WSInvalidURL(url, f"host {host!r} cannot be IDNA-encoded: {exc}") from None
    for ch in host:
        if ch not in _HOST_CHARS:
            raise WSInvalidURL(url, f"invalid character {ch!r} in host {host!r}")
    return host


def parse_url(url: str) -> WSParsedURL:
    """Parse a ``ws://`` or ``wss://`` URL.

    Raises:
        WSInvalidURL: the scheme is not ws/wss, the host is missing or invalid,
            the port is not a number in 1..65535, the URL has a fragment
            (RFC 6455 section 3 forbids them), or it contains whitespace or
            control characters.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be str, not {type(url).__name__}")
    for ch in url:
        if ch <= " " or ch == "\x7f":
            raise WSInvalidURL(
                url, f"whitespace or control character {ch!r} is not allowed; percent-encode it"
            )
    if "#" in url:
        raise WSInvalidURL(
            url, "fragments ('#...') are not allowed in WebSocket URLs (RFC 6455 section 3)"
        )

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise WSInvalidURL(url, str(exc)) from None

    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        raise WSInvalidURL(
            url, f"scheme {parts.scheme!r} is not a WebSocket scheme; use ws:// or wss:// instead"
        )
    if scheme not in _DEFAULT_PORTS:
        if not scheme:
            raise WSInvalidURL(url, "the URL has no scheme; it must start with ws:// or wss://")
        raise WSInvalidURL(url, f"scheme {parts.scheme!r} is not supported; use ws:// or wss://")

    host = parts.hostname
    if not host:
        raise WSInvalidURL(url, "the URL has no host; expected ws://host[:port]/path")
    host = _encode_host(url, host)

    try:
        explicit_port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        raise WSInvalidURL(url, f"port {port_text!r} is not a number between 1 and 65535") from None
    default_port = _DEFAULT_PORTS[scheme]
    if explicit_port == 0:
        raise WSInvalidURL(url, "port 0 is not a valid port to connect to")
    port = default_port if explicit_port is None else explicit_port

    resource_name = urllib.parse.quote(parts.path or "/", safe=_RESOURCE_SAFE)
    if parts.query:
        resource_name += "?" + urllib.parse.quote(parts.query, safe=_RESOURCE_SAFE)

    host_for_header = f"[{host}]" if ":" in host else host
    netloc = host_for_header if port == default_port else f"{host_for_header}:{port}"

    user_info: tuple[str, str] | None = None
    if parts.username is not None:
        user_info = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )

    return WSParsedURL(
        url=url,
        scheme=scheme,
        is_secure=scheme == "wss",
        host=host,
        port=port,
        resource_name=resource_name,
        netloc=netloc,
        user_info=user_info,
    )
