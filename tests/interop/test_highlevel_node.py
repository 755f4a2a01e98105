"""picows.highlevel.connect against the Node.js ws 8.x server: the high-level API on a real foreign peer.

One conversation covers text, binary, empty, 4 MiB, fragmented messages both ways, a ping each way and a clean
close whose code and reason the Node server reports.
"""

from __future__ import annotations

from picows.highlevel import connect
from tests.interop._peers import bounded, node_ws_server
from tests.interop._support import (
    BINARY,
    CLIENT_CLOSE,
    FRAGMENTED_TEXT,
    FRAGMENTS,
    LARGE_BINARY,
    MAX_MESSAGE,
    PONG_REPORT,
    TEXT,
    WAIT,
)


async def test_highlevel_connect_to_node_ws_server() -> None:
    async with node_ws_server() as peer:
        async with connect(peer.url, max_size=MAX_MESSAGE, ping_interval=None, open_timeout=WAIT,
                           close_timeout=WAIT) as ws:
            for message in (TEXT, BINARY, "", b"", LARGE_BINARY):
                await bounded(ws.send(message), "highlevel send")
                assert await bounded(ws.recv(), "highlevel recv") == message
            # A list is sent as one fragmented message, one frame per item.
            await bounded(ws.send(FRAGMENTS, text=True), "highlevel fragmented send")
            assert await bounded(ws.recv(), "the reassembled echo") == FRAGMENTED_TEXT
            await bounded(ws.send("cmd:fragment"), "highlevel send")
            assert await bounded(ws.recv(), "Node's fragmented message") == FRAGMENTED_TEXT
            pong = await bounded(ws.ping(b"highlevel ping"), "highlevel ping")
            await bounded(pong, "the pong from Node")
            await bounded(ws.send("cmd:ping"), "highlevel send")
            assert await bounded(ws.recv(), "Node's pong report") == PONG_REPORT
            await bounded(ws.close(*CLIENT_CLOSE), "highlevel close")
            assert ws.close_code == CLIENT_CLOSE[0]
        assert await peer.wait_close() == CLIENT_CLOSE
