"""Memory stays bounded in both directions: a flooding peer, and a peer that stops reading."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from picows import WSListener, WSTransport, ws_create_server
from picows.highlevel import ServerConnection, connect, serve

MESSAGE = 64 * 1024
FLOOD_MESSAGES = 2000  # 125 MiB: far more than socket buffers and our queue can hold

FLOODER = textwrap.dedent(
    """
    import sys
    from websockets.sync.client import connect

    payload = b"x" * int(sys.argv[2])
    with connect(sys.argv[1], max_size=None, compression=None) as ws:
        for _ in range(int(sys.argv[3])):
            ws.send(payload)
    print("sent everything", flush=True)
    """
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
async def test_flooding_peer_is_throttled_and_rss_stays_flat() -> None:
    pytest.importorskip("websockets")
    first = asyncio.Event()
    release = asyncio.Event()
    received = 0
    connections: list[ServerConnection] = []

    async def slow_consumer(ws: ServerConnection) -> None:
        nonlocal received
        connections.append(ws)
        await ws.recv()
        received += 1
        first.set()
        await release.wait()  # the consumer stalls; the peer keeps sending
        async for _ in ws:
            received += 1
            if received >= 50:
                return

    async with serve(slow_consumer, "127.0.0.1", 0, max_queue=4, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        peer = subprocess.Popen(
            [sys.executable, "-c", FLOODER, f"ws://127.0.0.1:{port}/", str(MESSAGE), str(FLOOD_MESSAGES)],
            stdout=subprocess.PIPE,
        )
        try:
            await asyncio.wait_for(first.wait(), 10)
            await asyncio.sleep(0.5)  # let the queue and the socket buffers fill up
            baseline = rss_bytes()
            await asyncio.sleep(2.0)
            growth = rss_bytes() - baseline
            ws = connections[0]
            assert growth < 16 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB while paused"
            assert peer.poll() is None, "the peer sent 125 MiB: nothing pushed back"
            # Reading stopped at the high-water mark: the peer is stuck in send().
            assert ws._assembler.paused
            assert len(ws._assembler) <= 4 + 16  # high mark + what one read can hold
            # Once the consumer reads again, the data flows.
            release.set()
            for _ in range(500):
                if received >= 50:
                    break
                await asyncio.sleep(0.01)
            assert received >= 50
        finally:
            peer.kill()
            peer.wait()


class NeverReads(WSListener):
    """A server-side peer that stops reading as soon as it's connected."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.underlying_transport.pause_reading()
        NeverReads.transports.append(transport)

    transports: list[WSTransport] = []


async def test_send_stalls_when_peer_stops_reading() -> None:
    NeverReads.transports = []
    raw = await ws_create_server(lambda request: NeverReads(), "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    try:
        async with connect(f"ws://127.0.0.1:{port}/", write_limit=2**16, ping_interval=None) as ws:
            payload = b"y" * MESSAGE
            sent = 0
            stalled = False
            for _ in range(2000):  # 125 MiB if nothing pushes back
                try:
                    await asyncio.wait_for(ws.send(payload), 0.5)
                except asyncio.TimeoutError:
                    stalled = True
                    break
                sent += 1
            assert stalled, "send() never waited: the write buffer grows without bound"
            # What's buffered: socket buffers (a few MiB on loopback) plus our write_limit.
            assert ws.write_buffer_size <= 2**16 + MESSAGE
            assert sent * MESSAGE < 64 * 2**20
            # The peer reads again: a pending send completes.
            NeverReads.transports[0].underlying_transport.resume_reading()
            await asyncio.wait_for(ws.send(payload), 10)
            ws.transport.disconnect()
    finally:
        raw.close()


async def test_send_returns_without_waiting_below_write_limit() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            # send() of a small message finishes without yielding to the loop.
            coro = ws.send("quick")
            with pytest.raises(StopIteration):
                coro.send(None)
            assert await ws.recv() == "quick"
