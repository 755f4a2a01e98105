"""Typing checks of the low-level API: `mypy --strict stubs` must accept this file. Never executed."""

from __future__ import annotations

import asyncio
from typing import assert_type

from picows import (
    WSCloseCode,
    WSCloseHandshake,
    WSFrame,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_connect,
    ws_create_server,
)


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        assert_type(frame.msg_type, WSMsgType)
        assert_type(frame.fin, bool)
        assert_type(frame.payload_size, int)
        assert_type(frame.get_payload_as_bytes(), bytes)
        assert_type(frame.get_payload_as_memoryview(), memoryview)
        assert_type(frame.get_payload_as_utf8_text(), str)
        assert_type(frame.get_close_code(), WSCloseCode)
        assert_type(frame.get_close_reason(), str | None)
        transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)
        transport.send(WSMsgType.TEXT, "text")
        transport.send_close(WSCloseCode.OK, "bye")
        assert_type(transport.close_handshake, WSCloseHandshake | None)


async def client() -> None:
    transport, listener = await ws_connect(Echo, "ws://127.0.0.1:9001/", enable_auto_ping=True)
    assert_type(transport, WSTransport)
    assert_type(listener, WSListener)
    assert_type(transport.request, WSUpgradeRequest)
    assert_type(transport.response, WSUpgradeResponse)
    assert_type(await transport.measure_roundtrip_time(3), list[float])
    try:
        await transport.wait_disconnected()
    except WSProtocolError as exc:
        assert_type(exc.code, WSCloseCode)


async def server() -> None:
    def factory(request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener | None:
        if request.path == b"/chat":
            response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": "chat"})
            return WSUpgradeResponseWithListener(response, Echo())
        return Echo() if request.path == b"/" else None

    srv = await ws_create_server(factory, "127.0.0.1", 0)
    assert_type(srv, asyncio.Server)
