"""An echo server that serves one connection and exits, for callgrind: python server_n.py PORT [CERT KEY].

With a certificate and key (PEM files) it serves TLS.

Runs under any picows (ours, or picows 2.3.1 from its own venv). Drive it with client_n.py; the
difference between runs of N1 and N2 round trips is the server's cost per round trip (cgdiff.py).
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
import sys

import uvloop

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

BINARY = WSMsgType.BINARY


class Echo(WSListener):
    def __init__(self, done: asyncio.Future[None]) -> None:
        super().__init__()
        self.done = done

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == BINARY:
            transport.send(BINARY, frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            # picows 2.3.1 leaves the close handshake's reply to the listener (ours sends it by itself).
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def main(port: int, tls_files: list[str]) -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    context = None
    if tls_files:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
    # picows 2.3.1 names the TLS argument ssl, ours ssl_context.
    tls = {"ssl_context" if "ssl_context" in inspect.signature(ws_create_server).parameters else "ssl": context}
    server = await ws_create_server(lambda _request: Echo(done), "127.0.0.1", port, max_frame_size=2**24, **tls)
    await asyncio.wait_for(done, 600)
    server.close()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:4]))
