"""A chat room on the high-level API: every message goes to every participant.

Server:  python examples/highlevel_chat.py serve [port]         (default 8766)
Client:  python examples/highlevel_chat.py join NAME [url]      (reads lines from stdin)

The server uses ``broadcast()``, which never waits: a participant whose
connection can't keep up (its write buffer is over ``write_limit``) misses
messages instead of slowing the room down or growing the server's memory.
"""

from __future__ import annotations

import asyncio
import sys

from picows.highlevel import ConnectionClosed, ServerConnection, broadcast, connect, serve


async def participant(ws: ServerConnection) -> None:
    name = await ws.recv(decode=True)  # the first message is the participant's name
    room = ws.server.connections
    broadcast(room, f"* {name} joined ({len(room)} here)")
    try:
        async for message in ws:
            text = message if isinstance(message, str) else message.decode(errors="replace")
            skipped = broadcast(ws.server.connections, f"{name}: {text}")
            if skipped:
                ws.logger.info("%d slow participants missed a message", skipped)
    finally:
        broadcast(ws.server.connections - {ws}, f"* {name} left")


async def run_server(port: int) -> None:
    async with serve(participant, "127.0.0.1", port) as server:
        print(f"chat room on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
        await server.serve_forever()


async def join(name: str, url: str) -> None:
    loop = asyncio.get_running_loop()
    async with connect(url) as ws:
        await ws.send(name)

        async def show() -> None:
            try:
                async for message in ws:
                    print(message, flush=True)
            except ConnectionClosed:
                pass

        printer = asyncio.ensure_future(show())
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:  # end of input: leave the room
                break
            await ws.send(line.rstrip("\n"))
        await asyncio.sleep(0.2)  # let the last replies arrive
        printer.cancel()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        try:
            asyncio.run(run_server(int(sys.argv[2]) if len(sys.argv) > 2 else 8766))
        except KeyboardInterrupt:
            pass
    elif len(sys.argv) >= 3 and sys.argv[1] == "join":
        asyncio.run(join(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "ws://127.0.0.1:8766/"))
    else:
        sys.exit(__doc__)
