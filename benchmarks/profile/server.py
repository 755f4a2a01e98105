"""An echo server on 127.0.0.1:PORT for the profiles: python server.py [PORT] (runs under any picows)."""

from __future__ import annotations

import asyncio
import sys

import uvloop

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            transport.send(WSMsgType.BINARY, frame.get_payload_as_bytes())


async def main(port: int) -> None:
    def factory(request: WSUpgradeRequest) -> WSListener:
        return Echo()

    server = await ws_create_server(factory, "127.0.0.1", port, max_frame_size=2**24)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9555))
