"""Echo server on the high-level API: every message comes back to its sender.

Run:  python examples/highlevel_echo_server.py [port]     (default 8765)
"""

from __future__ import annotations

import asyncio
import sys

from picows.highlevel import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    # The loop ends when the client closes normally; returning closes with 1000.
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port) as server:
        print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(main(port))
        else:
            uvloop.run(main(port))
    except KeyboardInterrupt:
        pass
