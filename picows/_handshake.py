"""The WebSocket opening handshake (RFC 6455 section 4) without I/O.

Everything here takes and returns bytes or parsed objects; the transport
reads the head from the socket (:func:`find_head_end`), then calls these
functions.  Server side: :func:`parse_request`, :func:`check_upgrade_request`
and :func:`build_101_response` (or :meth:`HandshakeRejection.to_response`).
Client side: :func:`build_request`, :func:`parse_response`,
:func:`response_body_length` and :func:`check_upgrade_response`.

HTTP parsing is deliberately strict: bare LF line ends, obs-fold
continuation lines, whitespace before the colon and control characters
are all refused (RFC 9112 allows or requires refusing each of them, and
accepting them is how request-smuggling bugs start).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import os
import re
from collections.abc import Callable

from .errors import (
    WSHandshakeError,
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
)
from .headers import WSHeaders, WSHeadersLike
from .upgrade import WSUpgradeRequest, WSUpgradeResponse, http_status
from .url import WSParsedURL

__all__ = [
    "DEFAULT_MAX_HEAD_SIZE",
    "GUID",
    "HandshakeRejection",
    "accept_key",
    "build_101_response",
    "build_request",
    "check_upgrade_request",
    "check_upgrade_response",
    "complete_101_response",
    "find_head_end",
    "generate_key",
    "parse_extension_header",
    "parse_header_tokens",
    "parse_request",
    "parse_response",
    "response_body_length",
]

#: The largest request or response head (request/status line plus headers)
#: the transport accepts by default.
DEFAULT_MAX_HEAD_SIZE = 16 * 1024
#: The magic string of RFC 6455 section 1.3, appended to the key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_HEAD_END = b"\r\n\r\n"
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than HTAB; obs-text (0x80-0xFF) is allowed.
_BAD_VALUE_CHAR_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET_RE = re.compile(rb"[\x21-\x7e]+")
_VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])")
_STATUS_CODE_RE = re.compile(rb"[0-9]{3}")
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


# -- keys -------------------------------------------------------------------


def generate_key() -> str:
    """Return a fresh ``Sec-WebSocket-Key``: base64 of 16 random bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value for ``key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def find_head_end(buf: bytes | bytearray | memoryview, start: int = 0) -> int:
    """Return the index just past the blank line ending an HTTP head, or -1.

    ``start`` is how many bytes were already searched: the search restarts
    three bytes earlier, so a ``\\r\\n\\r\\n`` split across reads is found
    when calling this again after each read.
    """
    if isinstance(buf, memoryview):
        buf = buf.tobytes()
    index = buf.find(_HEAD_END, max(0, start - 3))
    return -1 if index < 0 else index + len(_HEAD_END)


# -- header helpers -----------------------------------------------------------


def parse_header_tokens(value: str) -> list[str]:
    """Split a comma-separated token list into stripped, lower-cased tokens.

    Empty elements (``"a, , b"``) are dropped, as RFC 9110 5.6.1 asks.
    """
    return [token for token in (part.strip().lower() for part in value.split(",")) if token]


def _all_tokens(headers: WSHeaders, name: str) -> list[str]:
    tokens: list[str] = []
    for value in headers.getall(name, []):
        tokens.extend(parse_header_tokens(value))
    return tokens


def _split_list(values: list[str]) -> list[str]:
    # Like parse_header_tokens but keeps the case (subprotocols are case-sensitive).
    items: list[str] = []
    for value in values:
        items.extend(item for item in (part.strip() for part in value.split(",")) if item)
    return items


def parse_extension_header(value: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse a ``Sec-WebSocket-Extensions`` value (RFC 6455 section 9.1).

    Returns ``[(name, [(param, value_or_None), ...]), ...]``; names and
    parameter names are lower-cased, quotes around values removed.  For
    example ``"permessage-deflate; client_max_window_bits"`` gives
    ``[("permessage-deflate", [("client_max_window_bits", None)])]``.

    Raises:
        ValueError: an extension or parameter name is not a token.
    """
    result: list[tuple[str, list[tuple[str, str | None]]]] = []
    for element in value.split(","):
        parts = [part.strip() for part in element.split(";")]
        if not parts[0]:
            if len(parts) == 1:
                continue  # empty list element
            raise ValueError(f"missing extension name in {element.strip()!r}")
        name = parts[0].lower()
        if not _TOKEN_RE.fullmatch(name.encode(_ENCODING, _ERRORS)):
            raise ValueError(f"invalid extension name {parts[0]!r}")
        params: list[tuple[str, str | None]] = []
        for part in parts[1:]:
            pname, eq, pvalue = part.partition("=")
            pname = pname.strip().lower()
            if not _TOKEN_RE.fullmatch(pname.encode(_ENCODING, _ERRORS)):
                raise ValueError(f"invalid parameter {part!r} of extension {name!r}")
            if not eq:
                params.append((pname, None))
                continue
            pvalue = pvalue.strip()
            if len(pvalue) >= 2 and pvalue[0] == pvalue[-1] == '"':
                pvalue = pvalue[1:-1]
            params.append((pname, pvalue))
        result.append((name, params))
    return result


def _extension_names(headers: WSHeaders) -> list[str]:
    names: list[str] = []
    for value in headers.getall("Sec-WebSocket-Extensions", []):
        names.extend(name for name, _ in parse_extension_header(value))
    return names


def _merge_headers(base: WSHeaders, extra: WSHeadersLike | None) -> WSHeaders:
    # Extra headers replace the defaults of the same name (in place, so the
    # head keeps its conventional order) and are appended otherwise.
    if extra is None:
        return base
    replaced: set[str] = set()
    for name, value in WSHeaders(extra).items():
        key = name.lower()
        if key in base and key not in replaced:
            base[name] = value
            replaced.add(key)
        else:
            base.add(name, value)
    return base


# -- HTTP head parsing ----------------------------------------------------------


def _split_head(head: bytes, error: Callable[[str], Exception]) -> list[bytes]:
    if not head.endswith(_HEAD_END):
        raise error("the HTTP head does not end with an empty line (CRLF CRLF)")
    lines = head[: -len(_HEAD_END)].split(b"\r\n")
    for line in lines:
        if b"\n" in line or b"\r" in line:
            raise error(
                "a line of the HTTP head ends with a bare LF or CR; lines must end with CRLF"
            )
    return lines


def _parse_fields(lines: list[bytes], error: Callable[[str], Exception]) -> WSHeaders:
    pairs: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise error(
                f"obsolete line folding (a header line starting with whitespace) in {line!r}; "
                "send each header on one line"
            )
        raw_name, colon, raw_value = line.partition(b":")
        if not colon:
            raise error(f"header line {line!r} has no colon")
        if not _TOKEN_RE.fullmatch(raw_name):
            if raw_name.rstrip(b" \t") != raw_name:
                raise error(f"whitespace before the colon in header line {line!r}")
            raise error(f"invalid header name {raw_name!r}: a name must be an RFC 9110 token")
        value = raw_value.strip(b" \t")
        if _BAD_VALUE_CHAR_RE.search(value):
            raise error(f"control character in the value of header {raw_name!r}")
        pairs.append((raw_name.decode("ascii"), value.decode(_ENCODING, _ERRORS)))
    return WSHeaders._from_trusted(pairs)


# -- server side ----------------------------------------------------------------


class HandshakeRejection(Exception):
    """Why the server refuses an upgrade request, and what it answers.

    Attributes:
        status: the HTTP status to answer with.
        reason: what was wrong and what the client should do (also ``str(exc)``).
        headers: extra response headers, e.g. ``Allow: GET`` for a 405.
    """

    status: int
    reason: str
    headers: list[tuple[str, str]]

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = list(headers) if headers else []

    def __reduce__(self) -> tuple[type[HandshakeRejection], tuple[object, ...]]:
        return (self.__class__, (self.status, self.reason, self.headers))

    def to_response(self) -> WSUpgradeResponse:
        """Return the error response to send: a short text/plain explanation."""
        status = http_status(self.status)
        body = f"{int(status)} {status.phrase}: {self.reason}\n".encode(_ENCODING, "replace")
        return WSUpgradeResponse.create_error_response(status, body, self.headers)


def _bad_request(message: str) -> HandshakeRejection:
    return HandshakeRejection(400, f"malformed HTTP request: {message}")


def parse_request(head: bytes) -> WSUpgradeRequest:
    """Parse an HTTP request head (up to and including the blank line).

    Only the syntax is checked here (and the ``Host`` header, which
    HTTP/1.1 requires); :func:`check_upgrade_request` checks the WebSocket
    rules, so a listener factory can still answer plain HTTP requests.

    Raises:
        HandshakeRejection: 400 for a malformed request line or header,
            HTTP/1.0 (WebSocket needs HTTP/1.1), or a missing or repeated
            ``Host``; 505 for an HTTP major version other than 1.
    """
    lines = _split_head(head, _bad_request)
    request_line = lines[0]
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise _bad_request(f"request line {request_line!r} is not 'METHOD SP TARGET SP HTTP/1.1'")
    method, target, version = parts
    if not _TOKEN_RE.fullmatch(method):
        raise _bad_request(f"invalid method {method!r}")
    if not _TARGET_RE.fullmatch(target):
        raise _bad_request(f"invalid request target {target!r}")
    match = _VERSION_RE.fullmatch(version)
    if match is None:
        raise _bad_request(f"invalid HTTP version {version!r}")
    if match.group(1) != b"1":
        raise HandshakeRejection(
            505,
            f"HTTP version {version.decode('ascii')} is not supported; "
            "the WebSocket handshake uses HTTP/1.1",
        )
    if match.group(2) == b"0":
        raise HandshakeRejection(
            400, "WebSocket needs HTTP/1.1 or later (RFC 6455 section 4.1); got HTTP/1.0"
        )
    headers = _parse_fields(lines[1:], _bad_request)
    hosts = headers.getall("Host", [])
    if len(hosts) != 1:
        raise _bad_request(
            "the Host header is missing" if not hosts else "the Host header is repeated"
        )
    return WSUpgradeRequest(method, target, version, headers)


def check_upgrade_request(request: WSUpgradeRequest) -> str:
    """Check that ``request`` is a valid WebSocket upgrade; return its ``Sec-WebSocket-Key``.

    Raises:
        HandshakeRejection: 405 (with ``Allow: GET``) for another method; 426
            (with ``Upgrade: websocket``) without ``Upgrade: websocket``; 400
            when ``Connection`` lacks ``upgrade``, the request has a body, or
            ``Sec-WebSocket-Key`` is missing, repeated or not base64 of 16
            bytes; 426 (with ``Sec-WebSocket-Version: 13``) for a version
            other than 13.
    """
    headers = request.headers
    if request.method != b"GET":
        raise HandshakeRejection(
            405,
            f"method {request.method.decode('ascii', 'replace')} is not allowed; "
            "a WebSocket upgrade request must use GET",
            [("Allow", "GET")],
        )
    if "websocket" not in _all_tokens(headers, "Upgrade"):
        raise HandshakeRejection(
            426,
            "this endpoint only serves WebSocket connections; "
            "send 'Upgrade: websocket' and 'Connection: Upgrade' headers",
            [("Upgrade", "websocket"), ("Connection", "Upgrade")],
        )
    if "upgrade" not in _all_tokens(headers, "Connection"):
        raise HandshakeRejection(
            400,
            "the Connection header must contain the 'Upgrade' token "
            f"(got {', '.join(headers.getall('Connection', [])) or 'none'})",
        )
    if "Transfer-Encoding" in headers or headers.get("Content-Length", "0").strip() != "0":
        raise HandshakeRejection(400, "a WebSocket upgrade request must not have a body")
    keys = headers.getall("Sec-WebSocket-Key", [])
    if not keys:
        raise HandshakeRejection(400, "the Sec-WebSocket-Key header is missing")
    if len(keys) > 1:
        raise HandshakeRejection(400, "the Sec-WebSocket-Key header is repeated; send it once")
    key = keys[0]
    try:
        raw_key = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw_key = b""
    if len(raw_key) != 16:
        raise HandshakeRejection(
            400, f"Sec-WebSocket-Key {key!r} is not the base64 encoding of 16 bytes"
        )
    versions = headers.getall("Sec-WebSocket-Version", [])
    if versions != ["13"]:
        raise HandshakeRejection(
            426,
            "unsupported Sec-WebSocket-Version "
            f"{', '.join(versions) if versions else '(missing)'}; this server speaks version 13",
            [("Sec-WebSocket-Version", "13")],
        )
    return key


def build_101_response(key: str, extra_headers: WSHeadersLike | None = None) -> WSUpgradeResponse:
    """Build the ``101 Switching Protocols`` answer to a request with ``key``.

    ``extra_headers`` (e.g. ``Sec-WebSocket-Protocol``) are appended;
    one named like a default header replaces it.
    """
    headers = WSHeaders(
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)),
        ]
    )
    return WSUpgradeResponse(
        b"HTTP/1.1", http.HTTPStatus.SWITCHING_PROTOCOLS, _merge_headers(headers, extra_headers)
    )


def complete_101_response(response: WSUpgradeResponse, key: str) -> None:
    """Add ``Upgrade``, ``Connection`` and ``Sec-WebSocket-Accept`` to a user-made 101 if absent."""
    headers = response.headers
    if "Upgrade" not in headers:
        headers.add("Upgrade", "websocket")
    if "Connection" not in headers:
        headers.add("Connection", "Upgrade")
    if "Sec-WebSocket-Accept" not in headers:
        headers.add("Sec-WebSocket-Accept", accept_key(key))


# -- client side ----------------------------------------------------------------


def build_request(
    url: WSParsedURL,
    key: str,
    extra_headers: WSHeadersLike | None = None,
    user_agent: str | None = None,
) -> WSUpgradeRequest:
    """Build the client's upgrade request for ``url``; serialize it with ``to_bytes()``.

    ``extra_headers`` (``Origin``, ``Cookie``, ``Sec-WebSocket-Protocol``
    offers...) are appended; one named like a default header (``Host``,
    ``Authorization``, ``User-Agent``...) replaces it.

    Raises:
        ValueError: ``extra_headers`` sets ``Sec-WebSocket-Key`` (the
            response check uses ``key``), or holds invalid names/values.
    """
    extra = WSHeaders(extra_headers)
    if "Sec-WebSocket-Key" in extra:
        raise ValueError(
            "extra_headers must not contain Sec-WebSocket-Key: picows generates the key "
            "and checks the server's Sec-WebSocket-Accept against it"
        )
    headers = WSHeaders(
        [
            ("Host", url.netloc),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    if url.user_info is not None:
        credentials = ":".join(url.user_info).encode("utf-8")
        headers.add("Authorization", "Basic " + base64.b64encode(credentials).decode("ascii"))
    if user_agent is not None:
        headers.add("User-Agent", user_agent)
    return WSUpgradeRequest(
        b"GET", url.resource_name.encode("ascii"), b"HTTP/1.1", _merge_headers(headers, extra)
    )


def parse_response(head: bytes) -> WSUpgradeResponse:
    """Parse an HTTP response head (up to and including the blank line).

    The returned response has ``body=None``; the transport reads the body
    (see :func:`response_body_length`) and sets it.

    Raises:
        WSInvalidMessageError: malformed status line or header (carries
            ``raw_header=head``).
    """

    def error(message: str) -> WSInvalidMessageError:
        return WSInvalidMessageError(
            f"malformed HTTP response to the WebSocket upgrade request: {message}",
            raw_header=head,
        )

    lines = _split_head(head, error)
    status_line = lines[0]
    parts = status_line.split(b" ", 2)
    if len(parts) < 2:
        raise error(f"status line {status_line!r} is not 'HTTP/1.1 SP CODE SP REASON'")
    version, code = parts[0], parts[1]
    if not _VERSION_RE.fullmatch(version):
        raise error(f"invalid HTTP version {version!r} in status line {status_line!r}")
    if not _STATUS_CODE_RE.fullmatch(code) or code.startswith(b"0"):
        raise error(f"invalid status code {code!r} in status line {status_line!r}")
    if len(parts) == 3 and _BAD_VALUE_CHAR_RE.search(parts[2]):
        raise error(f"control character in the reason phrase of {status_line!r}")
    headers = _parse_fields(lines[1:], error)
    return WSUpgradeResponse(version, int(code), headers)


def response_body_length(response: WSUpgradeResponse) -> int | None:
    """Return the body length from ``Content-Length``, or ``None`` if absent or invalid.

    Repeated identical values count as one (RFC 9110 8.6); differing ones,
    non-digits, or a ``Transfer-Encoding`` (which overrides it) give ``None``.
    """
    if "Transfer-Encoding" in response.headers:
        return None
    values = {
        value.strip()
        for raw in response.headers.getall("Content-Length", [])
        for value in raw.split(",")
    }
    if len(values) != 1:
        return None
    value = values.pop()
    if not value.isascii() or not value.isdigit():
        return None
    return int(value)


def check_upgrade_response(
    request: WSUpgradeRequest,
    response: WSUpgradeResponse,
    key: str,
    raw_header: bytes | None = None,
) -> None:
    """Check that ``response`` accepts the upgrade ``request`` sent with ``key``.

    Raises:
        WSInvalidStatusError: the status is not 101.
        WSInvalidUpgradeError: ``Upgrade`` lacks ``websocket`` or
            ``Connection`` lacks ``upgrade``.
        WSInvalidHeaderError: ``Sec-WebSocket-Accept`` is missing or wrong;
            ``Sec-WebSocket-Extensions`` names an extension the request did
            not offer; ``Sec-WebSocket-Protocol`` names a subprotocol the
            request did not offer, or more than one.
    """
    headers = response.headers
    raw_body = response.body

    def invalid_header(
        cls: type[WSInvalidHeaderError], message: str, name: str
    ) -> WSHandshakeError:
        values = headers.getall(name, [])
        value = ", ".join(values) if values else None
        return cls(message, name, value, raw_header, raw_body, response)

    status = response.status
    if status != http.HTTPStatus.SWITCHING_PROTOCOLS:
        description = f"HTTP {int(status)} {status.phrase}".rstrip()
        raise WSInvalidStatusError(
            f"server rejected WebSocket connection: {description}",
            raw_header,
            raw_body,
            response,
        )
    if "websocket" not in _all_tokens(headers, "Upgrade"):
        raise invalid_header(
            WSInvalidUpgradeError,
            "the server's 101 response lacks 'Upgrade: websocket' "
            f"(got {headers.get('Upgrade')!r})",
            "Upgrade",
        )
    if "upgrade" not in _all_tokens(headers, "Connection"):
        raise invalid_header(
            WSInvalidUpgradeError,
            "the server's 101 response lacks 'Connection: Upgrade' "
            f"(got {headers.get('Connection')!r})",
            "Connection",
        )

    accepts = headers.getall("Sec-WebSocket-Accept", [])
    if not accepts:
        raise invalid_header(
            WSInvalidHeaderError,
            "the server's 101 response has no Sec-WebSocket-Accept header",
            "Sec-WebSocket-Accept",
        )
    expected = accept_key(key)
    if accepts != [expected]:
        raise invalid_header(
            WSInvalidHeaderError,
            f"Sec-WebSocket-Accept {', '.join(accepts)!r} does not match the key sent "
            f"(expected {expected!r}); the server or a proxy broke the handshake",
            "Sec-WebSocket-Accept",
        )

    if "Sec-WebSocket-Extensions" in headers:
        try:
            accepted = _extension_names(headers)
        except ValueError as exc:
            raise invalid_header(
                WSInvalidHeaderError,
                f"malformed Sec-WebSocket-Extensions in the response: {exc}",
                "Sec-WebSocket-Extensions",
            ) from None
        try:
            offered = set(_extension_names(request.headers))
        except ValueError:
            offered = set()
        if not offered:
            raise invalid_header(
                WSInvalidHeaderError,
                "the server accepted extensions although the request offered none",
                "Sec-WebSocket-Extensions",
            )
        unknown = [name for name in accepted if name not in offered]
        if unknown:
            raise invalid_header(
                WSInvalidHeaderError,
                f"the server accepted extension(s) {', '.join(unknown)} "
                f"that the request did not offer (offered: {', '.join(sorted(offered))})",
                "Sec-WebSocket-Extensions",
            )

    protocols = headers.getall("Sec-WebSocket-Protocol", [])
    if protocols:
        chosen = _split_list(protocols)
        if len(chosen) != 1:
            raise invalid_header(
                WSInvalidHeaderError,
                "the server selected more than one subprotocol; it must select at most one",
                "Sec-WebSocket-Protocol",
            )
        offered_protocols = _split_list(request.headers.getall("Sec-WebSocket-Protocol", []))
        if chosen[0] not in offered_protocols:
            offered_text = ", ".join(offered_protocols) if offered_protocols else "none"
            raise invalid_header(
                WSInvalidHeaderError,
                f"the server selected subprotocol {chosen[0]!r}, which the request did not "
                f"offer (offered: {offered_text})",
                "Sec-WebSocket-Protocol",
            )
