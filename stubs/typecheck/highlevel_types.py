"""Typing checks of the high-level API: `mypy --strict stubs` must accept this file. Never executed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import assert_type

import picows
from picows.highlevel import (
    ClientConnection,
    Close,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    Request,
    Response,
    Server,
    ServerConnection,
    State,
    broadcast,
    connect,
    serve,
    unix_connect,
    unix_serve,
)


async def client() -> None:
    ws = await connect("ws://127.0.0.1:8765/", max_queue=(32, 8), write_limit=2**16, ping_interval=None)
    assert_type(ws, ClientConnection)
    assert_type(await ws.recv(), str | bytes)
    assert_type(await ws.recv(decode=True), str)
    assert_type(await ws.recv(decode=False), bytes)
    assert_type(ws.recv_streaming(), AsyncGenerator[str | bytes, None])
    async for message in ws:
        assert_type(message, str | bytes)
    await ws.send("text")
    await ws.send(b"binary")
    await ws.send(bytearray(b"binary"))
    await ws.send(memoryview(b"binary"))
    await ws.send(["frag", "ments"])
    await ws.send(b"utf-8 text", text=True)
    pong_waiter = await ws.ping()
    assert_type(pong_waiter, Awaitable[float])
    assert_type(await pong_waiter, float)
    await ws.pong(b"heartbeat")
    assert_type(ws.latency, float)
    assert_type(ws.state, State)
    assert_type(ws.close_code, int | None)
    assert_type(ws.close_reason, str | None)
    assert_type(ws.subprotocol, str | None)
    assert_type(ws.request, Request | None)
    assert_type(ws.response, Response | None)
    assert_type(ws.transport, picows.WSTransport)
    await ws.close(1001, "going away")
    await ws.wait_closed()

    async with connect("wss://example.com/", subprotocols=["chat"], compression=None) as ws2:
        assert_type(ws2, ClientConnection)

    reconnecting: AsyncIterator[ClientConnection] = connect("ws://127.0.0.1/").__aiter__()
    async for ws3 in connect("ws://127.0.0.1/"):
        assert_type(ws3, ClientConnection)
    del reconnecting

    async with unix_connect("/tmp/ws.sock") as ws4:
        assert_type(ws4, ClientConnection)


def exceptions(exc: Exception) -> None:
    if isinstance(exc, ConnectionClosed):
        assert_type(exc.rcvd, Close | None)
        assert_type(exc.sent, Close | None)
        assert_type(exc.code, int)
    if isinstance(exc, InvalidStatus):
        assert_type(exc.response, Response)
        assert_type(exc.response.status_code, int)
    # Everything is also a picows.WSError; handshake errors are WSHandshakeError.
    errors: list[picows.WSError] = [
        ConnectionClosedOK(None, None),
        ConnectionClosedError(None, None),
        PayloadTooBig("too big"),
        ConcurrencyError("two readers"),
        InvalidURI("http://x", "wrong scheme"),
    ]
    handshake: picows.WSHandshakeError = InvalidHandshake("bad")
    del errors, handshake


async def handler(ws: ServerConnection) -> None:
    assert_type(ws.server, Server)
    assert_type(ws.server.connections, set[ServerConnection])
    assert_type(broadcast(ws.server.connections, "to all"), int)
    async for message in ws:
        await ws.send(message)


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    assert_type(request.path, str)
    if request.headers.get("Authorization") is None:
        return connection.respond(401, "who are you?")
    return None


async def server() -> None:
    async with serve(handler, "127.0.0.1", 8765, process_request=process_request, max_size=None) as srv:
        assert_type(srv, Server)
        srv.close(close_connections=False)
        await srv.wait_closed()
    srv2 = await serve(handler, "127.0.0.1", 0)
    assert_type(srv2, Server)
    await asyncio.wait_for(srv2.serve_forever(), 1)
    async with unix_serve(handler, "/tmp/ws.sock") as srv3:
        assert_type(srv3, Server)
