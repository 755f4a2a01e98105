"""A high-level echo server that serves one connection and exits, for callgrind: python hl_server_n.py PORT [CERT KEY].

With a certificate and key (PEM files) it serves TLS.

Drive it with client_n.py, as server_n.py (see cgdiff.py for the method).
"""

from __future__ import annotations

import asyncio
import ssl
import sys

import uvloop

from picows.highlevel import ServerConnection, serve


async def main(port: int, tls_files: list[str]) -> None:
    context = None
    if tls_files:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def echo(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            # client_n.py drops the connection without a closing handshake: the loop ends with an error.
            if not done.done():
                done.set_result(None)

    async with serve(
        echo, "127.0.0.1", port, ssl=context, compression=None, ping_interval=None, max_size=2**24
    ):
        await asyncio.wait_for(done, 600)


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:4]))
