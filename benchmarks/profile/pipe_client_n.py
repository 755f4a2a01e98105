"""Pipelined echoes with the low-level API, for callgrind: python pipe_client_n.py URL SIZE N [WINDOW].

Keeps WINDOW messages in flight (default 64), as the pipelined benchmark does, and the first
argument to run under picows 2.3.1 as well: the listener uses only the API both share.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

BINARY = WSMsgType.BINARY


class Client(WSListener):
    def __init__(self, size: int, rounds: int, window: int) -> None:
        self.n = 0
        self.in_window = 0
        self.rounds = rounds
        self.window = window
        self.payload = b"x" * size

    def on_ws_connected(self, transport: WSTransport) -> None:
        for _ in range(self.window):
            transport.send(BINARY, self.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.n += 1
        self.in_window += 1
        if self.in_window < self.window:
            return
        self.in_window = 0
        if self.n >= self.rounds:
            transport.disconnect()
            return
        for _ in range(self.window):
            transport.send(BINARY, self.payload)


async def main(url: str, size: int, rounds: int, window: int) -> None:
    client = Client(size, rounds, window)
    transport, _ = await ws_connect(lambda: client, url, max_frame_size=2**24)
    await transport.wait_disconnected()


if __name__ == "__main__":
    uvloop.install()
    args = sys.argv
    asyncio.run(main(args[1], int(args[2]), int(args[3]), int(args[4]) if len(args) > 4 else 64))
