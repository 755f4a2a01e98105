"""picows' client (low-level API) against third-party servers: websockets, aiohttp, Node ws.

Each peer server echoes messages and obeys the ``cmd:`` requests (see ``_support``) with its own library, and
records the CLOSE frames it received, so each check looks at both sides. Every test runs under asyncio and
uvloop (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from picows import WSMsgType, WSTransport
from tests.interop._peers import PEER_SERVERS, SERVER_CAN_FRAGMENT, PeerServer, bounded
from tests.interop._support import (
    BINARY,
    CLIENT_CLOSE,
    FRAGMENTED_TEXT,
    FRAGMENTS,
    LARGE_BINARY,
    LARGE_TEXT,
    PONG_REPORT,
    SERVER_CLOSE,
    TEXT,
    Recorder,
    assert_fragmented_text,
    picows_client,
)

Check = Callable[[WSTransport, Recorder, PeerServer], Awaitable[None]]


async def check_text(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.TEXT, TEXT)
    assert await client.recv() == TEXT


async def check_binary(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.BINARY, BINARY)
    assert await client.recv() == BINARY
    assert client.frames == [(WSMsgType.BINARY, True, BINARY)]


async def check_empty(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.TEXT, b"")
    assert await client.recv() == ""
    transport.send(WSMsgType.BINARY, b"")
    assert await client.recv() == b""


async def check_large(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.BINARY, LARGE_BINARY)
    received = await client.recv()
    assert isinstance(received, bytes) and len(received) == len(LARGE_BINARY)
    assert received == LARGE_BINARY
    transport.send(WSMsgType.TEXT, LARGE_TEXT)
    assert await client.recv() == LARGE_TEXT


async def check_fragmented_from_us(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.TEXT, FRAGMENTS[0], fin=False)
    transport.send(WSMsgType.CONTINUATION, FRAGMENTS[1], fin=False)
    transport.send(WSMsgType.CONTINUATION, FRAGMENTS[2], fin=True)
    assert await client.recv() == FRAGMENTED_TEXT


async def check_fragmented_from_peer(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.TEXT, "cmd:fragment")
    assert await client.recv() == FRAGMENTED_TEXT
    assert_fragmented_text(client.frames)


async def check_ping_from_us(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send_ping(b"client ping")
    await client.wait_for(lambda: (WSMsgType.PONG, True, b"client ping") in client.frames, "the peer's PONG")


async def check_ping_from_peer(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.TEXT, "cmd:ping")
    # The peer sends "pong:probe" only once picows' automatic PONG with the probe reached it.
    assert await client.recv() == PONG_REPORT
    assert all(t != WSMsgType.PING for t, _, _ in client.frames), "auto-pong should consume the PING"


async def check_close_from_us(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send_close(*CLIENT_CLOSE)
    await bounded(transport.wait_disconnected(), "picows' client to disconnect")
    assert await peer.wait_close() in (CLIENT_CLOSE, (CLIENT_CLOSE[0], None))
    handshake = transport.close_handshake
    assert handshake is not None and handshake.recv is not None and handshake.sent is not None
    assert (handshake.sent.code, handshake.sent.reason) == CLIENT_CLOSE
    assert handshake.recv.code == peer.close_reply_code
    assert not handshake.recv_then_sent


async def check_close_from_peer(transport: WSTransport, client: Recorder, peer: PeerServer) -> None:
    transport.send(WSMsgType.TEXT, "cmd:close")
    await bounded(transport.wait_disconnected(), "picows' client to disconnect")
    assert client.close_frames() == [SERVER_CLOSE]
    handshake = transport.close_handshake
    assert handshake is not None and handshake.recv is not None and handshake.sent is not None
    assert (handshake.recv.code, handshake.recv.reason) == SERVER_CLOSE
    assert handshake.sent.code == SERVER_CLOSE[0]
    assert handshake.recv_then_sent
    code, _ = await peer.wait_close()
    assert code == SERVER_CLOSE[0]


CHECKS: dict[str, Check] = {
    "text": check_text,
    "binary": check_binary,
    "empty": check_empty,
    "large": check_large,
    "fragmented_from_peer": check_fragmented_from_peer,
    "fragmented_from_us": check_fragmented_from_us,
    "ping_from_peer": check_ping_from_peer,
    "ping_from_us": check_ping_from_us,
    "close_from_peer": check_close_from_peer,
    "close_from_us": check_close_from_us,
}

CASES = [pytest.param(peer, check, id=f"{peer}-{check}")
         for peer in PEER_SERVERS
         for check in CHECKS
         # aiohttp has no API to send a message in fragments; the matrix in docs/interop.rst says n/a.
         if SERVER_CAN_FRAGMENT[peer] or check != "fragmented_from_peer"]


@pytest.mark.parametrize(("peer_name", "check"), CASES)
async def test_picows_client_to_peer_server(peer_name: str, check: str) -> None:
    async with PEER_SERVERS[peer_name]() as peer:
        transport, client = await picows_client(peer.url)
        try:
            await CHECKS[check](transport, client, peer)
        finally:
            transport.disconnect()
            await bounded(transport.wait_disconnected(), "picows' client to disconnect")
