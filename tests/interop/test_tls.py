"""TLS interop: picows' own TLS transport against websockets' and aiohttp's (both on asyncio's SSL transport).

Each direction: the upgrade, small and large messages both ways, and a clean close with close_notify handled
by a library that is not ours. Every test runs under asyncio and uvloop (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
import websockets.asyncio.client
import websockets.asyncio.server
from aiohttp import web

import picows
from picows import WSMsgType
from picows._tls import AVAILABLE, TLSTransport
from tests.utils import WAIT, EchoListener, RecordingListener, bounded, ws_server

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="picows._tls is not available with this Python's ssl module")

MESSAGES: list[str | bytes] = ["hello", b"\x00\x01binary", "é" * 5000, bytes(range(256)) * 1000]


async def test_websockets_client_to_picows_tls_server(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**22) as server:
        async with websockets.asyncio.client.connect(
            server.url(secure=True), ssl=client_ssl_context, compression=None, max_size=2**22, open_timeout=WAIT
        ) as ws:
            for message in MESSAGES:
                await ws.send(message)
                assert await asyncio.wait_for(ws.recv(), WAIT) == message
        listener = await server.first_listener()
        assert isinstance(listener, EchoListener) and listener.transport is not None
        assert isinstance(listener.transport.underlying_transport, TLSTransport)
        await listener.wait_for(lambda: listener.disconnected.is_set())
        assert ws.close_code == 1000


async def test_picows_tls_client_to_websockets_server(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async def echo(connection: websockets.asyncio.server.ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with websockets.asyncio.server.serve(
        echo, "127.0.0.1", 0, ssl=server_ssl_context, compression=None, max_size=2**22
    ) as server:
        port = server.sockets[0].getsockname()[1]
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context, fast_transport=True,
            max_frame_size=2**22))
        assert isinstance(transport.underlying_transport, TLSTransport)
        assert isinstance(client, RecordingListener)
        for message in MESSAGES:
            if isinstance(message, str):
                transport.send(WSMsgType.TEXT, message.encode())
            else:
                transport.send(WSMsgType.BINARY, message)
        frames = await client.wait_frames(len(MESSAGES))
        assert [f[3] for f in frames] == [m.encode() if isinstance(m, str) else m for m in MESSAGES]
        transport.send_close(picows.WSCloseCode.OK, "done")
        await bounded(transport.wait_disconnected())
        handshake = transport.close_handshake
        assert handshake is not None and handshake.recv is not None and handshake.recv.code == 1000


async def test_aiohttp_client_to_picows_tls_server(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**22) as server:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.url(secure=True), ssl=client_ssl_context, max_msg_size=2**22) as ws:
                for message in MESSAGES:
                    if isinstance(message, str):
                        await ws.send_str(message)
                        assert (await ws.receive(WAIT)).data == message
                    else:
                        await ws.send_bytes(message)
                        assert (await ws.receive(WAIT)).data == message
                await ws.close()
            assert ws.close_code == 1000


async def test_picows_tls_client_to_aiohttp_server(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=2**22)
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context, fast_transport=True,
            max_frame_size=2**22))
        assert isinstance(transport.underlying_transport, TLSTransport)
        assert isinstance(client, RecordingListener)
        transport.send(WSMsgType.BINARY, bytes(range(256)) * 1000)
        transport.send(WSMsgType.TEXT, b"after the large one")
        frames = await client.wait_frames(2)
        assert [f[3] for f in frames] == [bytes(range(256)) * 1000, b"after the large one"]
        transport.send_close(picows.WSCloseCode.OK)
        await bounded(transport.wait_disconnected())
    finally:
        await runner.cleanup()
