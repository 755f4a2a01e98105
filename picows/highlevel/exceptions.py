"""Exceptions of the high-level API, named as in the ``websockets`` library.

Every exception here derives from :class:`WebSocketException`, which derives
from :class:`picows.WSError`, so ``except picows.WSError`` keeps catching
everything picows raises.  Handshake failures are also
:class:`picows.WSHandshakeError` and a bad URI is also a
:class:`picows.WSInvalidURL` (hence a :class:`ValueError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from picows import WSError, WSHandshakeError, WSInvalidURL

if TYPE_CHECKING:
    from .connection import Response

__all__ = [
    "Close",
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidMessage",
    "InvalidState",
    "PayloadTooBig",
    "ProtocolError",
    "ConcurrencyError",
]

#: Close codes that mean "the connection ended normally".
OK_CLOSE_CODES = frozenset((1000, 1001, 1005))


@dataclass(frozen=True)
class Close:
    """The content of a close frame: a status ``code`` and a ``reason`` text."""

    code: int
    reason: str

    def __str__(self) -> str:
        if self.code == 1005:
            return "no status code [internal]"
        if self.code == 1006:
            return "connection closed abnormally [internal]"
        return f"{self.code} ({self.reason})" if self.reason else str(self.code)


class WebSocketException(WSError):
    """Base class of every exception the high-level API raises."""


class ConnectionClosed(WebSocketException):
    """Raised when using a connection that is closed or closing.

    Attributes:
        rcvd: the close frame received from the peer, or ``None`` if none arrived.
        sent: the close frame sent to the peer, or ``None`` if none was sent.
        rcvd_then_sent: ``True`` if the peer started the closing handshake,
            ``False`` if we did, ``None`` if the handshake did not complete.
    """

    def __init__(self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None = None) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.rcvd, self.sent, self.rcvd_then_sent))

    @property
    def code(self) -> int:
        """The close code received from the peer (1006 if no close frame arrived)."""
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """The close reason received from the peer (empty if none)."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection ended with a normal close (1000, 1001 or no status code)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection ended with an error close code, or without a closing handshake."""


def connection_closed(rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None) -> ConnectionClosed:
    """Build the right :class:`ConnectionClosed` subclass for a finished closing handshake."""
    if rcvd is not None and sent is not None and rcvd.code in OK_CLOSE_CODES and sent.code in OK_CLOSE_CODES:
        return ConnectionClosedOK(rcvd, sent, rcvd_then_sent)
    return ConnectionClosedError(rcvd, sent, rcvd_then_sent)


class InvalidURI(WebSocketException, WSInvalidURL):
    """The URI given to :func:`~picows.highlevel.connect` is not a valid WebSocket URI.

    Attributes:
        uri: the URI as given.
        msg: what is wrong with it.
    """

    def __init__(self, uri: str, msg: str) -> None:
        WSInvalidURL.__init__(self, uri, msg)
        self.uri = uri

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.uri, self.msg))


class InvalidHandshake(WebSocketException, WSHandshakeError):
    """The opening handshake failed."""

    def __init__(self, description: str) -> None:
        WSHandshakeError.__init__(self, description)

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, self.args)


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with a status other than 101.

    Attributes:
        response: the server's HTTP response (status, headers and body).
    """

    # websockets users read ``exc.response.status_code``: this is the
    # high-level Response, not the engine's WSUpgradeResponse.
    response: Response  # type: ignore[assignment]

    def __init__(self, response: Response) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status_code:d}")
        self.response = response

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.response,))


class InvalidHeader(InvalidHandshake):
    """A header of the handshake is missing or has a wrong value.

    Attributes:
        name: the header's name.
        value: the value received, or ``None`` if the header was missing.
    """

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        if value is None:
            text = f"missing {name} header"
        elif value == "":
            text = f"empty {name} header"
        else:
            text = f"invalid {name} header: {value}"
        super().__init__(text)

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.name, self.value))


class InvalidMessage(InvalidHandshake):
    """The peer's handshake message was not valid HTTP."""


class InvalidState(WebSocketException, AssertionError):
    """An operation is not allowed in the connection's current state.

    This is a bug in the calling code (e.g. sending before the connection opened).
    """


class PayloadTooBig(WebSocketException):
    """A message exceeded ``max_size``; the connection is closed with 1009."""


class ProtocolError(WebSocketException):
    """The peer violated the WebSocket protocol."""


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines tried to receive (or send fragments) on one connection at once.

    Only one coroutine may ``recv()`` at a time; share the messages through an
    :class:`asyncio.Queue` if several consumers need them.
    """
