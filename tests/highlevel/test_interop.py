"""Our client against a ``websockets`` server, and a ``websockets`` client against our server."""

from __future__ import annotations

import asyncio

import pytest

from picows.highlevel import ConnectionClosedError, ServerConnection, connect, serve

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.asyncio.server import ServerConnection as WSServerConnection  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402

pytestmark = pytest.mark.interop


async def test_our_client_with_websockets_server() -> None:
    async def handler(ws: WSServerConnection) -> None:
        async for message in ws:
            if message == "close please":
                await ws.close(4001, "as asked")
                return
            await ws.send(message)

    async with ws_serve(handler, "127.0.0.1", 0, subprotocols=["p1"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["p1"]) as ws:
            assert ws.subprotocol == "p1"
            await ws.send("text é")
            assert await ws.recv() == "text é"
            await ws.send(b"\x00" * 100_000)
            assert await ws.recv() == b"\x00" * 100_000
            await ws.send(["frag", "mented"])
            assert await ws.recv() == "fragmented"
            latency = await asyncio.wait_for(await ws.ping(), 5)
            assert latency >= 0
            await ws.send("close please")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 4001
            assert ws.close_reason == "as asked"


async def test_websockets_client_with_our_server() -> None:
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, subprotocols=["p2"]) as server:
        port = server.sockets[0].getsockname()[1]
        async with ws_connect(f"ws://127.0.0.1:{port}/", subprotocols=["p2"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "p2"
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x01" * 70_000)
            assert await ws.recv() == b"\x01" * 70_000

            async def pieces() -> object:
                for p in ("a", "b", "c"):
                    yield p

            await ws.send(pieces())  # type: ignore[arg-type]
            assert await ws.recv() == "abc"
            pong = await ws.ping()
            assert await asyncio.wait_for(pong, 5) >= 0
        assert ws.close_code == 1000


async def test_compression_interop_both_ways() -> None:
    async def ws_echo(ws: WSServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    text = "the same words again and again " * 3000
    async with ws_serve(ws_echo, "127.0.0.1", 0) as server:  # websockets compresses by default
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            assert ws.response is not None
            assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
            await ws.send(text)
            assert await ws.recv() == text

    async def our_echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(our_echo, "127.0.0.1", 0) as our_server:
        port = our_server.sockets[0].getsockname()[1]
        async with ws_connect(f"ws://127.0.0.1:{port}/") as client:
            assert client.response is not None
            assert "permessage-deflate" in client.response.headers.get("Sec-WebSocket-Extensions", "")
            await client.send(text)
            assert await client.recv() == text


async def test_websockets_client_sees_handler_error_as_1011() -> None:
    async def handler(ws: ServerConnection) -> None:
        raise ValueError("handler bug")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1011
