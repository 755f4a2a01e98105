"""Peer for the websockets-shaped APIs: ``connect(url)``, ``serve(handler, host, port)``,
``await ws.send(m)``, ``await ws.recv()``.

``--api`` picks the library:

* ``websockets``: websockets (``websockets.asyncio``), the reference of this API shape;
* ``picows.websockets``: picows 2.3.1's websockets-compatible API;
* ``picows.highlevel``: our high-level API.

permessage-deflate is switched off where the API has it on by default: every row of the
suite sends uncompressed frames, so the suite compares framing and I/O, not zlib.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.peers import _common as c
else:
    import _common as c  # the script's own folder is on sys.path: peers run in other venvs


def load(api: str) -> tuple[Callable[..., Any], Callable[..., Any], dict[str, str]]:
    """Return ``(connect, serve, versions)`` for ``api``; ImportError if it is not installed."""
    if api == "websockets":
        from websockets.asyncio.client import connect
        from websockets.asyncio.server import serve

        return connect, serve, {"websockets": metadata.version("websockets")}
    # picows.websockets exists in picows 2.3.1 only, picows.highlevel in ours only: import by name.
    if api in ("picows.websockets", "picows.highlevel"):
        picows = importlib.import_module("picows")
        mod = importlib.import_module(api)
        return mod.connect, mod.serve, {"picows": getattr(picows, "__version__", "unknown")}
    raise SystemExit(f"unknown --api {api!r}: use websockets, picows.websockets or picows.highlevel")


def options_for(fn: Callable[..., Any], tls_context: Any, tls_name: str = "ssl") -> dict[str, Any]:
    """Keyword options that make every websockets-like API behave alike, if it takes them."""
    try:
        params: Mapping[str, inspect.Parameter] = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    opts: dict[str, Any] = {}
    if "compression" in params:
        opts["compression"] = None
    if "max_size" in params:
        opts["max_size"] = 16 * 1024 * 1024
    if tls_context is not None:
        opts[tls_name] = tls_context
    return opts


async def client(connect: Callable[..., Any], o: c.ClientOptions) -> None:
    tls = c.client_ssl_context() if o.tls else None
    ws = await connect(o.url, **options_for(connect, tls))
    try:
        await c.drive_send_recv(ws.send, ws.recv, o)
    finally:
        await ws.close()


async def server(serve: Callable[..., Any], ns: Any) -> None:
    async def echo(ws: Any) -> None:
        # The loop a user writes; ConnectionClosed ends it when the client leaves.
        send = ws.send
        async for message in ws:
            await send(message)

    tls = c.server_ssl_context(ns.cert, ns.key) if ns.tls else None
    srv = await serve(echo, "127.0.0.1", ns.port, **options_for(serve, tls))
    sockets = getattr(srv, "sockets", None) or srv.server.sockets
    c.print_line(f"PORT {list(sockets)[0].getsockname()[1]}")
    await c.serve_until_killed(ns.lifetime)


def main() -> None:
    ns = c.parse_args()
    connect, serve, versions = load(ns.api)
    if ns.role == "versions":
        c.print_versions(versions)
    elif ns.role == "server":
        c.run(server(serve, ns), ns.loop)
    else:
        c.run(client(connect, c.ClientOptions(ns)), ns.loop)


if __name__ == "__main__":
    main()
