"""The HTTP upgrade request and response types of the public API.

A server's listener factory receives a :class:`WSUpgradeRequest` and may
answer with a :class:`WSUpgradeResponseWithListener` to choose the response;
``ws_connect`` reports the server's :class:`WSUpgradeResponse` on failure
(in :class:`picows.errors.WSHandshakeError`) and on success.
"""

from __future__ import annotations

import http

from .headers import WSHeaders, WSHeadersLike

__all__ = ["WSUpgradeRequest", "WSUpgradeResponse", "WSUpgradeResponseWithListener"]

_CRLF = b"\r\n"
# Header text round-trips any byte: UTF-8 where it is valid, otherwise the
# raw bytes survive as lone surrogates.
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"

_UNKNOWN_STATUSES: dict[int, http.HTTPStatus] = {}


def http_status(code: int) -> http.HTTPStatus:
    """Return the :class:`http.HTTPStatus` for ``code``, even one the enum doesn't list.

    Servers answer with codes such as 499 or 520 that ``HTTPStatus`` lacks;
    those get a pseudo-member named ``CODE_<n>`` with an empty phrase, so
    ``response.status`` always has the same type.

    Raises:
        ValueError: ``code`` is not a three-digit number (100..999).
    """
    try:
        return http.HTTPStatus(code)
    except ValueError:
        pass
    if not 100 <= code <= 999:
        raise ValueError(f"HTTP status code must be between 100 and 999, got {code}")
    status = _UNKNOWN_STATUSES.get(code)
    if status is None:
        status = int.__new__(http.HTTPStatus, code)
        status._name_ = f"CODE_{code}"
        status._value_ = code
        status.phrase = ""  # type: ignore[misc]
        status.description = ""  # type: ignore[misc]
        _UNKNOWN_STATUSES[code] = status
    return status


def _serialize_headers(out: list[bytes], headers: WSHeaders) -> None:
    for name, value in headers.items():
        out.append(f"{name}: {value}\r\n".encode(_ENCODING, _ERRORS))


class WSUpgradeRequest:
    """An HTTP/1.1 upgrade request: request line and headers.

    Attributes:
        method: e.g. ``b"GET"``.
        path: the request target, e.g. ``b"/chat?room=1"``.
        version: e.g. ``b"HTTP/1.1"``.
        headers: the request headers.
    """

    __slots__ = ("method", "path", "version", "headers")

    method: bytes
    path: bytes
    version: bytes
    headers: WSHeaders

    def __init__(
        self, method: bytes, path: bytes, version: bytes, headers: WSHeadersLike | None = None
    ) -> None:
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers if isinstance(headers, WSHeaders) else WSHeaders(headers)

    def __repr__(self) -> str:
        return (
            f"WSUpgradeRequest(method={self.method!r}, path={self.path!r}, "
            f"version={self.version!r}, headers={self.headers!r})"
        )

    def to_bytes(self) -> bytes:
        """Serialize the request head, blank line included."""
        for part in (self.method, self.path, self.version):
            if any(b in part for b in b" \r\n\0"):
                raise ValueError(
                    f"request line part {part!r} must not contain spaces, CR, LF or NUL"
                )
        out = [self.method, b" ", self.path, b" ", self.version, _CRLF]
        _serialize_headers(out, self.headers)
        out.append(_CRLF)
        return b"".join(out)


class WSUpgradeResponse:
    """An HTTP response to an upgrade request.

    Attributes:
        version: e.g. ``b"HTTP/1.1"``.
        status: the status code as :class:`http.HTTPStatus` (codes the enum
            lacks get a ``CODE_<n>`` pseudo-member).
        headers: the response headers.
        body: the body, or ``None`` if there is none (or it was not read).
    """

    __slots__ = ("version", "status", "headers", "body")

    version: bytes
    status: http.HTTPStatus
    headers: WSHeaders
    body: bytes | None

    def __init__(
        self,
        version: bytes,
        status: int,
        headers: WSHeadersLike | None = None,
        body: bytes | None = None,
    ) -> None:
        self.version = version
        self.status = http_status(status)
        self.headers = headers if isinstance(headers, WSHeaders) else WSHeaders(headers)
        self.body = body

    def __reduce__(self) -> tuple[type[WSUpgradeResponse], tuple[object, ...]]:
        # Pickle the status as int: pseudo-members of HTTPStatus don't unpickle.
        return (WSUpgradeResponse, (self.version, int(self.status), self.headers, self.body))

    def __repr__(self) -> str:
        return (
            f"WSUpgradeResponse(version={self.version!r}, status={int(self.status)}, "
            f"headers={self.headers!r}, body={self.body!r})"
        )

    @staticmethod
    def create_101_response(extra_headers: WSHeadersLike | None = None) -> WSUpgradeResponse:
        """Create a ``101 Switching Protocols`` response.

        ``Upgrade``, ``Connection`` and ``Sec-WebSocket-Accept`` are added by
        the server when it sends the response; put only your own headers
        (e.g. ``Sec-WebSocket-Protocol``) in ``extra_headers``.
        """
        return WSUpgradeResponse(
            b"HTTP/1.1", http.HTTPStatus.SWITCHING_PROTOCOLS, WSHeaders(extra_headers)
        )

    @staticmethod
    def create_error_response(
        status: int, body: bytes | None = None, extra_headers: WSHeadersLike | None = None
    ) -> WSUpgradeResponse:
        """Create an error response (status 400..599) that rejects the upgrade.

        Raises:
            ValueError: ``status`` is below 400.
        """
        code = http_status(status)
        if code < 400:
            raise ValueError(
                f"an error response needs a status of 400 or more, got {int(code)}; "
                "use create_ok_response() or create_redirect_response() for other statuses"
            )
        return WSUpgradeResponse(b"HTTP/1.1", code, WSHeaders(extra_headers), body)

    @staticmethod
    def create_ok_response(
        body: bytes | None = None, extra_headers: WSHeadersLike | None = None
    ) -> WSUpgradeResponse:
        """Create a ``200 OK`` response, e.g. for a health check on the WebSocket port."""
        return WSUpgradeResponse(b"HTTP/1.1", http.HTTPStatus.OK, WSHeaders(extra_headers), body)

    @staticmethod
    def create_redirect_response(
        status: int, location: str, extra_headers: WSHeadersLike | None = None
    ) -> WSUpgradeResponse:
        """Create a redirect (3xx) response pointing the client at ``location``.

        Raises:
            ValueError: ``status`` is not 3xx, or ``location`` holds CR/LF/NUL.
        """
        code = http_status(status)
        if not 300 <= code <= 399:
            raise ValueError(f"a redirect response needs a 3xx status, got {int(code)}")
        headers = WSHeaders(extra_headers)
        headers["Location"] = location
        return WSUpgradeResponse(b"HTTP/1.1", code, headers)

    def to_bytes(self) -> bytes:
        """Serialize the response: status line, headers, blank line and body.

        With a body, ``Content-Length`` is set and ``Content-Type`` defaults to
        ``text/plain; charset=utf-8``.  Every response but 101 gets
        ``Connection: close``: the server closes the connection after it.
        """
        headers = self.headers
        is_upgrade = self.status == http.HTTPStatus.SWITCHING_PROTOCOLS
        if self.body is not None or not is_upgrade:
            headers = headers.copy()
            if self.body is not None:
                headers["Content-Length"] = str(len(self.body))
                if "Content-Type" not in headers:
                    headers["Content-Type"] = "text/plain; charset=utf-8"
            elif "Content-Length" not in headers:
                # Tell the client there is no body instead of making it read to EOF.
                headers["Content-Length"] = "0"
            if not is_upgrade:
                headers["Connection"] = "close"
        phrase = self.status.phrase
        out = [f"{self.version.decode('ascii')} {int(self.status)} {phrase}\r\n".encode("ascii")]
        _serialize_headers(out, headers)
        out.append(_CRLF)
        if self.body is not None:
            out.append(self.body)
        return b"".join(out)


class WSUpgradeResponseWithListener:
    """A response chosen by a server's listener factory, and the listener to use.

    Return it from the factory to send a custom response: a 101 with a
    listener accepts the connection (with your extra headers); an error
    response without a listener rejects it.

    Raises:
        ValueError: a 101 response without a listener, or an error response
            (status 400 or more) with one.
    """

    __slots__ = ("response", "listener")

    response: WSUpgradeResponse
    listener: object | None

    def __init__(self, response: WSUpgradeResponse, listener: object | None) -> None:
        if response.status == http.HTTPStatus.SWITCHING_PROTOCOLS and listener is None:
            raise ValueError("a 101 response accepts the connection, so it needs a listener")
        if response.status >= 400 and listener is not None:
            raise ValueError(
                f"a {int(response.status)} response rejects the connection, "
                "so it must not come with a listener; pass listener=None"
            )
        self.response = response
        self.listener = listener

    def __repr__(self) -> str:
        return (
            f"WSUpgradeResponseWithListener(response={self.response!r}, listener={self.listener!r})"
        )
