"""A server listener factory may be a coroutine function: the upgrade is answered when it completes."""

from __future__ import annotations

import asyncio

import pytest

import picows
from picows import WSListener, WSMsgType, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from tests.utils import WAIT, EchoListener, RecordingListener, bounded


async def start(factory: object, **kwargs: object) -> tuple[asyncio.Server, str]:
    server = await picows.ws_create_server(factory, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def test_async_factory_accepts_and_echoes() -> None:
    seen: list[bytes] = []

    async def factory(request: WSUpgradeRequest) -> WSListener:
        await asyncio.sleep(0.05)
        seen.append(request.path)
        return EchoListener()

    server, url = await start(factory)
    async with server:
        transport, listener = await picows.ws_connect(RecordingListener, url + "x?y=1")
        assert isinstance(listener, RecordingListener)
        transport.send(WSMsgType.TEXT, b"hello")
        frames = await listener.wait_frames(1)
        assert frames[0][3] == b"hello"
        transport.send_close(picows.WSCloseCode.OK)
        await bounded(transport.wait_disconnected())
    assert seen == [b"/x?y=1"]


async def test_async_factory_can_refuse_with_a_response() -> None:
    async def factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        await asyncio.sleep(0)
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(403, b"no entry\n"), None)

    server, url = await start(factory)
    async with server:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await picows.ws_connect(RecordingListener, url)
    assert info.value.response is not None
    assert int(info.value.response.status) == 403
    assert info.value.response.body == b"no entry\n"


async def test_async_factory_returning_none_is_404() -> None:
    async def factory(request: WSUpgradeRequest) -> None:
        await asyncio.sleep(0)
        return None

    server, url = await start(factory)
    async with server:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await picows.ws_connect(RecordingListener, url)
    assert info.value.response is not None and int(info.value.response.status) == 404


async def test_async_factory_raising_is_500() -> None:
    async def factory(request: WSUpgradeRequest) -> WSListener:
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    server, url = await start(factory)
    async with server:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await picows.ws_connect(RecordingListener, url)
    assert info.value.response is not None and int(info.value.response.status) == 500


async def test_slow_async_factory_hits_the_handshake_timeout() -> None:
    async def factory(request: WSUpgradeRequest) -> WSListener:
        await asyncio.sleep(WAIT)
        return EchoListener()

    server, url = await start(factory, websocket_handshake_timeout=0.2)
    async with server:
        with pytest.raises(picows.WSHandshakeError):
            await picows.ws_connect(RecordingListener, url, websocket_handshake_timeout=WAIT)
