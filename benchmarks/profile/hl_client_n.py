"""Ping-pong N round trips with the high-level API, for callgrind: python hl_client_n.py URL SIZE N."""

from __future__ import annotations

import asyncio
import sys

import uvloop

from picows.highlevel import connect


async def main(url: str, size: int, rounds: int) -> None:
    payload = b"x" * size
    async with connect(url, compression=None, ping_interval=None, max_size=2**24) as ws:
        for _ in range(rounds):
            await ws.send(payload)
            await ws.recv()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
