"""Client on the high-level API: send a few messages, print the replies, close.

Run:  python examples/highlevel_client.py [url]     (default ws://127.0.0.1:8765/)
"""

from __future__ import annotations

import asyncio
import sys

from picows.highlevel import ConnectionClosed, connect


async def main(url: str) -> None:
    async with connect(url) as ws:
        await ws.send("Hello world")
        print(f"text reply: {await ws.recv(decode=True)}")
        await ws.send(b"\x00\x01\x02")
        print(f"binary reply: {await ws.recv()!r}")
        # A message sent in fragments arrives as one message.
        await ws.send(["frag", "mented"])
        print(f"fragmented reply: {await ws.recv(decode=True)}")
        latency = await (await ws.ping())
        print(f"round trip: {latency * 1000:.3f} ms")
    # Leaving the block ran the closing handshake.
    try:
        await ws.recv()
    except ConnectionClosed as exc:
        print(f"closed: {exc}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"))
