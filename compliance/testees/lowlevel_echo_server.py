"""Autobahn testee: an echo server on picows' low-level listener API.

It echoes frame by frame and validates nothing itself: RSV bits, opcodes,
fragment order, UTF-8 and close codes are the engine's job, so every case the
suite fails here is a finding about the engine.

    python compliance/testees/lowlevel_echo_server.py --port 9002 [--loop asyncio]
"""

from __future__ import annotations

import argparse

from _common import MAX_SIZE, add_loop_option, run

from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)


class EchoListener(WSListener):
    """Send every data frame back as it came (same opcode, FIN and RSV1 bits)."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.PING:
            # Only reached when auto-pong is off; the engine answers otherwise.
            transport.send_pong(frame.get_payload_as_bytes())
        elif msg_type == WSMsgType.PONG:
            pass
        elif msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        else:
            # The frame is a view into the read buffer; send() copies it out.
            transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)


async def serve(host: str, port: int, auto_pong: bool, deflate: bool = False) -> None:
    """Serve the echo listener on host:port until cancelled."""

    def factory(request: WSUpgradeRequest) -> WSListener:
        return EchoListener()

    server = await ws_create_server(
        factory,
        host,
        port,
        max_frame_size=MAX_SIZE,
        enable_auto_pong=auto_pong,
        websocket_handshake_timeout=10,
        permessage_deflate=deflate,
    )
    print(f"testee: low-level echo server on ws://{host}:{port}/", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the command line and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument(
        "--manual-pong",
        action="store_true",
        help="turn the engine's auto-pong off and answer pings in the listener",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="negotiate permessage-deflate (RFC 7692) for sections 12 and 13",
    )
    add_loop_option(parser)
    args = parser.parse_args()
    try:
        run(lambda: serve(args.host, args.port, not args.manual_pong, args.deflate), args.loop)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
