"""Autobahn testee: a message-level echo server on ``picows.highlevel``.

Every message received is sent back whole (``async for message in ws:
await ws.send(message)``); fragments, pings and the close handshake are the
library's business.

    python compliance/testees/highlevel_echo_server.py --port 9002 [--loop asyncio]
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import MAX_SIZE, add_loop_option, run

from picows.highlevel import serve


async def echo(ws: Any) -> None:
    """Send every message back; end quietly when the peer closes or fails."""
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:  # the suite breaks connections on purpose; wstest judges them
        pass


async def main_async(host: str, port: int) -> None:
    """Serve until cancelled."""
    async with serve(echo, host, port, max_size=MAX_SIZE) as server:
        print(f"testee: high-level echo server on ws://{host}:{port}/", flush=True)
        await server.serve_forever()


def main() -> None:
    """Parse the command line and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    add_loop_option(parser)
    args = parser.parse_args()
    try:
        run(lambda: main_async(args.host, args.port), args.loop)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
