"""Peer for picows's low-level listener API (ours, and picows 2.3.1 from PyPI: same API).

Which picows it is depends only on the interpreter that runs it: the project's venv
imports the working tree, ``/opt/venvs/bench-picows231`` imports picows 2.3.1.
The client is callback driven, as picows users write it: the next message goes out from
``on_ws_frame`` of the previous echo, with no coroutine per message.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.peers import _common as c
else:
    import _common as c  # the script's own folder is on sys.path: peers run in other venvs

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server


class EchoServerListener(WSListener):
    """Send every data frame back with its type; answer a CLOSE and disconnect."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        else:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview())


class ClientListener(WSListener):
    """Counts echoes and sends the next message from the callback, per the client mode."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.payload = b""
        self.expected = 0
        self.count = 0
        self.target = 0
        self.deadline = 0.0
        self.window = 1
        self.in_window = 0
        self.done: asyncio.Future[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def start(self, payload: bytes, target: int, deadline: float, window: int) -> asyncio.Future[None]:
        """Begin a run of ``target`` echoes (or until ``deadline``); resolve the future at its end."""
        assert self.transport is not None
        self.payload = payload
        self.expected = len(payload)
        self.count = 0
        self.target = target
        self.deadline = deadline
        self.window = window
        self.in_window = 0
        self.done = asyncio.get_running_loop().create_future()
        for _ in range(window):
            self.transport.send(WSMsgType.BINARY, payload)
        return self.done

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.BINARY:
            if frame.msg_type == WSMsgType.CLOSE and self.done is not None and not self.done.done():
                self.done.set_exception(RuntimeError("the server closed the connection mid-run"))
            return
        if self.done is None or self.done.done():
            return
        if frame.payload_size != self.expected and self.count == 0:
            self.done.set_exception(RuntimeError(f"echo has {frame.payload_size} bytes, sent {self.expected}"))
            return
        self.count += 1
        self.in_window += 1
        if self.in_window < self.window:
            return
        self.in_window = 0
        if self.count >= self.target or (
            # One round trip at a time: look at the clock every CLOCK_EVERY echoes only.
            (self.window > 1 or not self.count % c.CLOCK_EVERY) and time.perf_counter() >= self.deadline
        ):
            self.done.set_result(None)
            return
        for _ in range(self.window):
            transport.send(WSMsgType.BINARY, self.payload)


async def client(o: c.ClientOptions) -> None:
    ssl_context = c.client_ssl_context() if o.tls else None
    transport, listener = await ws_connect(ClientListener, o.url, ssl_context=ssl_context)
    assert isinstance(listener, ClientListener)
    clock = time.perf_counter
    if o.warmup:
        await listener.start(o.payload, o.warmup, clock() + 60.0, 1)
    c.print_line("READY")
    c.wait_for_go()
    t0 = clock()
    extra: dict[str, float] | None = None
    if o.mode == "rtt":
        await listener.start(o.payload, o.max_count, t0 + o.duration, 1)
        count = listener.count
    elif o.mode == "pipeline":
        await listener.start(o.payload, o.max_count, t0 + o.duration, o.window)
        count = listener.count
    else:
        samples: list[float] = []
        period = 1.0 / o.rate
        count = 0
        while count < o.max_count and clock() < t0 + o.duration:
            delay = t0 + count * period - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            s = clock()
            await listener.start(o.payload, 1, s + 60.0, 1)
            samples.append((clock() - s) * 1e6)
            count += 1
        extra = c.percentiles(samples)
    c.report(count, clock() - t0, extra)
    transport.send_close()
    await asyncio.wait_for(transport.wait_disconnected(), 5)


async def server(ns: Any) -> None:
    tls: dict[str, Any] = {}
    if ns.tls:
        # picows 2.3.1 passes ``ssl=`` through to loop.create_server; ours names it ssl_context.
        name = "ssl_context" if "ssl_context" in inspect.signature(ws_create_server).parameters else "ssl"
        tls[name] = c.server_ssl_context(ns.cert, ns.key)
    srv = await ws_create_server(lambda _request: EchoServerListener(), "127.0.0.1", ns.port, **tls)
    c.print_line(f"PORT {srv.sockets[0].getsockname()[1]}")
    await c.serve_until_killed(ns.lifetime)


def main() -> None:
    ns = c.parse_args()
    if ns.role == "versions":
        c.print_versions({"picows": getattr(picows, "__version__", "unknown")})
    elif ns.role == "server":
        c.run(server(ns), ns.loop)
    else:
        c.run(client(c.ClientOptions(ns)), ns.loop)


if __name__ == "__main__":
    main()
