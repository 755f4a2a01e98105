"""Run the Cython listener against an echo server: python run.py [url] (default: starts its own server)."""

from __future__ import annotations

import asyncio
import sys
import time

from echo_listener import EchoCountingClient  # type: ignore[import-not-found]

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_connect, ws_create_server


class EchoServer(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            transport.send(WSMsgType.BINARY, frame.get_payload_as_memoryview())


async def main(url: str | None, rounds: int) -> None:
    server = None
    if url is None:

        def factory(request: WSUpgradeRequest) -> WSListener:
            return EchoServer()

        server = await ws_create_server(factory, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    client = EchoCountingClient(rounds, b"x" * 256)
    start = time.monotonic()
    transport, _ = await ws_connect(lambda: client, url)
    await transport.wait_disconnected()
    elapsed = time.monotonic() - start
    print(f"Cython listener: {client.received} round trips in {elapsed:.2f} s")
    if server is not None:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None, 20000))
