"""Peer for aiohttp's WebSocket client (``ClientSession.ws_connect``) and server
(``web.WebSocketResponse``), written as aiohttp's documentation shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.peers import _common as c
else:
    import _common as c  # the script's own folder is on sys.path: peers run in other venvs
import aiohttp  # type: ignore[import-not-found, unused-ignore]
from aiohttp import web  # type: ignore[import-not-found, unused-ignore]


async def client(o: c.ClientOptions) -> None:
    tls = c.client_ssl_context() if o.tls else None
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(o.url, ssl=tls if tls else True, compress=0, max_msg_size=0) as ws:
            await c.drive_send_recv(ws.send_bytes, ws.receive_bytes, o)


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def server(ns: Any) -> None:
    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = c.server_ssl_context(ns.cert, ns.key) if ns.tls else None
    site = web.TCPSite(runner, "127.0.0.1", ns.port, ssl_context=tls)
    await site.start()
    c.print_line(f"PORT {runner.addresses[0][1]}")
    await c.serve_until_killed(ns.lifetime)


def main() -> None:
    ns = c.parse_args()
    if ns.role == "versions":
        c.print_versions({"aiohttp": aiohttp.__version__})
    elif ns.role == "server":
        c.run(server(ns), ns.loop)
    else:
        c.run(client(c.ClientOptions(ns)), ns.loop)


if __name__ == "__main__":
    main()
