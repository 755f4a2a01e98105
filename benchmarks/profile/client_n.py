"""Ping-pong N round trips with the low-level API, for callgrind: python client_n.py URL SIZE N.

A wss:// URL runs over TLS without verifying the certificate (the benchmark's self-signed one).
"""

from __future__ import annotations

import asyncio
import ssl
import sys

import uvloop

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

BINARY = WSMsgType.BINARY


class Client(WSListener):
    def __init__(self, size: int, rounds: int) -> None:
        self.n = 0
        self.rounds = rounds
        self.payload = b"x" * size

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(BINARY, self.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.n += 1
        if self.n >= self.rounds:
            transport.disconnect()
            return
        transport.send(BINARY, self.payload)


async def main(url: str, size: int, rounds: int) -> None:
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client = Client(size, rounds)
    transport, _ = await ws_connect(lambda: client, url, ssl_context=context, max_frame_size=2**24)
    await transport.wait_disconnected()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
