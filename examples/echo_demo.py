"""Start an echo server and a client in one process and report round trips per second.

Run: python examples/echo_demo.py [--seconds 2] [--size 256] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_connect, ws_create_server


class EchoServerListener(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


class PingPongClient(WSListener):
    def __init__(self, payload: bytes, deadline: float) -> None:
        self.payload = payload
        self.deadline = deadline
        self.count = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.BINARY, self.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.count += 1
        # Checking the clock every 256 replies keeps its cost out of the measurement.
        if (self.count & 255) == 0 and time.monotonic() > self.deadline:
            transport.send_close()
            transport.disconnect()
            return
        transport.send(WSMsgType.BINARY, self.payload)


async def main(seconds: float, size: int) -> None:
    def factory(request: WSUpgradeRequest) -> WSListener:
        return EchoServerListener()

    server = await ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"echo server on ws://127.0.0.1:{port}/")
    start = time.monotonic()
    client = PingPongClient(b"x" * size, start + seconds)
    transport, _ = await ws_connect(lambda: client, f"ws://127.0.0.1:{port}/")
    await transport.wait_disconnected()
    elapsed = time.monotonic() - start
    print(f"{client.count} round trips of {size} bytes in {elapsed:.2f} s: {client.count / elapsed:,.0f} per second")
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed: using asyncio's default loop (pip install 'picows[uvloop]')")
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main(args.seconds, args.size))
