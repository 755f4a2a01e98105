"""picows: the fastest WebSocket client and server library for Python asyncio.

The low-level listener API lives here (``ws_connect``, ``ws_create_server``, ``WSListener``, ``WSTransport``,
``WSFrame``); the typed async API is :mod:`picows.highlevel`.
"""

from picows._frame import WSFrame
from picows._transport import (
    PICOWS_DEBUG_LL,
    WSCloseHandshake,
    WSCloseInfo,
    WSListener,
    WSTransport,
)
from picows.api import ws_connect, ws_create_server
from picows.enums import WSAutoPingStrategy, WSCloseCode, WSMsgType
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
from picows.extensions import WSDeflateOptions
from picows.headers import WSHeaders, WSHeadersLike
from picows.upgrade import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.url import WSParsedURL, parse_url

__version__ = "3.0.0.dev0"

__all__ = [
    "PICOWS_DEBUG_LL",
    "WSAutoPingStrategy",
    "WSCloseCode",
    "WSCloseHandshake",
    "WSCloseInfo",
    "WSDeflateOptions",
    "WSError",
    "WSFrame",
    "WSHandshakeError",
    "WSHandshakeTimeoutError",
    "WSHeaders",
    "WSHeadersLike",
    "WSInvalidHeaderError",
    "WSInvalidMessageError",
    "WSInvalidStatusError",
    "WSInvalidURL",
    "WSInvalidUpgradeError",
    "WSListener",
    "WSMsgType",
    "WSParsedURL",
    "WSProtocolError",
    "WSTransport",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
    "parse_url",
    "ws_connect",
    "ws_create_server",
]
