"""The exceptions picows raises.

Everything derives from :class:`WSError`, so ``except picows.WSError`` catches
any failure that comes from picows itself.  This module is pure Python and
imports nothing from picows at run time, so every other module may import it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .enums import WSCloseCode
    from .upgrade import WSUpgradeResponse

__all__ = [
    "WSError",
    "WSHandshakeError",
    "WSInvalidMessageError",
    "WSInvalidStatusError",
    "WSInvalidHeaderError",
    "WSInvalidUpgradeError",
    "WSHandshakeTimeoutError",
    "WSProtocolError",
    "WSInvalidURL",
]


def _restore(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class WSError(Exception):
    """Base class of every exception picows raises."""


class WSHandshakeError(WSError):
    """The opening handshake failed; raised by ``ws_connect``.

    Attributes:
        raw_header: the bytes of the server's response head (status line and
            headers, up to the blank line), or ``None`` if none was received.
        raw_body: the bytes of the response body, if any was read.
        response: the parsed response, or ``None`` if it could not be parsed.
    """

    raw_header: bytes | None
    raw_body: bytes | None
    response: WSUpgradeResponse | None

    def __init__(
        self,
        description: str,
        raw_header: bytes | None = None,
        raw_body: bytes | None = None,
        response: WSUpgradeResponse | None = None,
    ) -> None:
        super().__init__(description)
        self.raw_header = raw_header
        self.raw_body = raw_body
        self.response = response

    def __reduce__(self) -> tuple[Any, ...]:
        # args holds only the description; keep the attributes across pickling
        # (e.g. when the exception crosses a process boundary).
        return (_restore, (self.__class__, self.args, self.__dict__))


class WSInvalidMessageError(WSHandshakeError):
    """The peer's HTTP upgrade message was malformed (bad status line or header syntax)."""


class WSInvalidStatusError(WSHandshakeError):
    """The server answered the upgrade request with a status other than 101.

    ``response`` carries the status, headers and (when read) body.
    """


class WSInvalidHeaderError(WSHandshakeError):
    """A header in the upgrade response is missing or has a wrong value.

    Attributes:
        name: the header's name, e.g. ``"Sec-WebSocket-Accept"``.
        value: the value received, or ``None`` if the header was missing.
    """

    name: str
    value: str | None

    def __init__(
        self,
        description: str,
        name: str,
        value: str | None = None,
        raw_header: bytes | None = None,
        raw_body: bytes | None = None,
        response: WSUpgradeResponse | None = None,
    ) -> None:
        super().__init__(description, raw_header, raw_body, response)
        self.name = name
        self.value = value


class WSInvalidUpgradeError(WSInvalidHeaderError):
    """The ``Upgrade`` or ``Connection`` header of the response does not accept the upgrade."""


if sys.version_info >= (3, 11):
    _TimeoutBase = TimeoutError
else:  # Python 3.10: asyncio.TimeoutError is not yet the builtin TimeoutError; be both

    class _TimeoutBase(TimeoutError, asyncio.TimeoutError):
        pass


class WSHandshakeTimeoutError(WSHandshakeError, _TimeoutBase):
    """The opening handshake did not complete in time.

    It is also a :class:`TimeoutError` and an ``asyncio.TimeoutError`` (the
    same class since Python 3.11), so existing ``except`` clauses for either
    catch it.
    """


class WSProtocolError(WSError):
    """The peer violated the WebSocket protocol and picows failed the connection.

    Attributes:
        code: the close code picows sent to the peer, as a ``WSCloseCode``.
    """

    code: WSCloseCode
    message: str

    def __init__(self, code: int, message: str) -> None:
        # Imported here so this module stays import-cycle free whatever
        # module ends up defining the enums.
        from .enums import WSCloseCode

        super().__init__(code, message)
        self.code = WSCloseCode(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


class WSInvalidURL(WSError, ValueError):
    """A URL given to ``ws_connect`` cannot be used.

    Attributes:
        url: the URL as given.
    """

    url: str
    msg: str

    def __init__(self, url: str, msg: str) -> None:
        super().__init__(f"invalid WebSocket URL {url!r}: {msg}")
        self.url = url
        self.msg = msg

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.url, self.msg))
