"""picows.highlevel: a typed async WebSocket API in the style of ``websockets``.

::

    from picows.highlevel import connect, serve

    async with connect("ws://127.0.0.1:8765") as ws:
        await ws.send("hello")
        print(await ws.recv())

It is built on the callback API (``picows.ws_connect``/``ws_create_server``)
and uses only what ``picows`` exports.  Names and meanings follow the
``websockets`` asyncio API (version 14 and later), so moving an application
over is mostly an import change; see the "Migrating from websockets" section
of the documentation for the differences.
"""

from __future__ import annotations

from .client import USER_AGENT, ClientConnection, connect, unix_connect
from .connection import Connection, Data, Request, Response, State
from .exceptions import (
    Close,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    ProtocolError,
    WebSocketException,
)
from .server import Server, ServerConnection, broadcast, serve, unix_serve

__all__ = [
    "connect",
    "unix_connect",
    "serve",
    "unix_serve",
    "broadcast",
    "Connection",
    "ClientConnection",
    "ServerConnection",
    "Server",
    "State",
    "Request",
    "Response",
    "Data",
    "Close",
    "USER_AGENT",
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
