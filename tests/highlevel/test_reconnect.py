"""The ``async for ws in connect(...)`` reconnect loop."""

from __future__ import annotations

import asyncio
import socket

import pytest

from picows.highlevel import (
    ConnectionClosed,
    InvalidStatus,
    Request,
    Response,
    ServerConnection,
    connect,
    serve,
)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect, "BACKOFF_INITIAL_DELAY", 0.05)
    monkeypatch.setattr(connect, "BACKOFF_MIN_DELAY", 0.05)
    monkeypatch.setattr(connect, "BACKOFF_MAX_DELAY", 0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_reconnects_after_server_goes_down_and_comes_back() -> None:
    port = free_port()
    generation = 0

    async def handler(ws: ServerConnection) -> None:
        await ws.send(f"generation {generation}")
        await ws.wait_closed()

    async def run_server() -> None:
        server = await serve(handler, "127.0.0.1", port)
        await asyncio.sleep(0.3)
        server.close()
        await server.wait_closed()

    greetings: list[str] = []
    generation = 1
    first = asyncio.ensure_future(run_server())
    await asyncio.sleep(0.05)

    async def client() -> None:
        nonlocal generation
        async for ws in connect(f"ws://127.0.0.1:{port}/", open_timeout=1):
            try:
                greetings.append(str(await ws.recv()))
                if len(greetings) == 2:
                    return
                await ws.recv()  # raises when the server goes down
            except ConnectionClosed:
                continue

    task = asyncio.ensure_future(client())
    await first  # the server is down now; the client retries (connection refused)
    await asyncio.sleep(0.3)
    assert not task.done()
    generation = 2
    second = asyncio.ensure_future(run_server())
    await asyncio.wait_for(task, 5)
    await second
    assert greetings == ["generation 1", "generation 2"]


async def test_reconnect_loop_stops_on_4xx() -> None:
    def reject(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(403, "go away")

    async def handler(ws: ServerConnection) -> None:
        pass

    async with serve(handler, "127.0.0.1", 0, process_request=reject) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(InvalidStatus) as info:
            async for _ in connect(f"ws://127.0.0.1:{port}/"):
                pytest.fail("a 403 must not yield a connection")
        assert info.value.response.status_code == 403


async def test_reconnect_loop_retries_on_5xx() -> None:
    attempts = 0

    def flaky(connection: ServerConnection, request: Request) -> Response | None:
        nonlocal attempts
        attempts += 1
        return connection.respond(503, "busy") if attempts < 3 else None

    async def handler(ws: ServerConnection) -> None:
        await ws.send("finally")

    async with serve(handler, "127.0.0.1", 0, process_request=flaky) as server:
        port = server.sockets[0].getsockname()[1]
        async for ws in connect(f"ws://127.0.0.1:{port}/"):
            assert await ws.recv() == "finally"
            break
    assert attempts == 3
