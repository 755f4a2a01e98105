"""connect/serve over loopback: messages, close codes, handshake hooks, ping, limits."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
from collections.abc import AsyncIterator

import pytest

from picows import WSError, WSInvalidURL
from picows.highlevel import (
    ClientConnection,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
    Request,
    Response,
    Server,
    ServerConnection,
    broadcast,
    connect,
    serve,
    unix_connect,
    unix_serve,
)

TIMEOUT = 5


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def url(server: Server, path: str = "/") -> str:
    port = server.sockets[0].getsockname()[1]
    return f"ws://127.0.0.1:{port}{path}"


async def test_echo_text_and_binary() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            assert isinstance(ws, ClientConnection)
            assert ws.state.name == "OPEN"
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\x01")
            assert await ws.recv() == b"\x00\x01"
            await ws.send(bytearray(b"ba"))
            assert await ws.recv() == b"ba"
            await ws.send(memoryview(b"mv"))
            assert await ws.recv() == b"mv"
            await ws.send("text")
            assert await ws.recv(decode=False) == b"text"
            await ws.send(b"bytes")
            assert await ws.recv(decode=True) == "bytes"
            await ws.send(b"as text", text=True)
            assert await ws.recv() == "as text"
        assert ws.state.name == "CLOSED"
        assert ws.close_code == 1000


async def test_await_connect_and_addresses() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        ws = await connect(url(server, "/a/path?x=1"))
        try:
            assert ws.remote_address[1] == server.sockets[0].getsockname()[1]
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.response is not None and ws.response.status_code == 101
            assert ws.request is not None and ws.request.path == "/a/path?x=1"
            assert ws.close_reason is None  # still open
        finally:
            await ws.close()
        assert ws.close_code == 1000
        assert ws.close_reason == ""


async def test_async_for_ends_on_normal_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("one")
        await ws.send("two")

    async with serve(handler, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            got = [m async for m in ws]
    assert got == ["one", "two"]
    assert ws.close_code == 1000


async def test_handler_exception_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: ServerConnection) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="picows.highlevel.server"):
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(url(server)) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                # async for raises too, not just recv()
                with pytest.raises(ConnectionClosedError):
                    async for _ in ws:
                        pass
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    assert ws.close_code == 1011
    assert "boom" in caplog.text


async def test_client_close_ends_server_iteration() -> None:
    seen: list[object] = []
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            seen.append(message)
        seen.append(ws.close_code)
        seen.append(ws.close_reason)
        done.set()

    async with serve(handler, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            await ws.send("x")
            await ws.close(1001, "bye")
            with pytest.raises(ConnectionClosedOK):
                await ws.send("after close")
        await asyncio.wait_for(done.wait(), TIMEOUT)
    assert seen == ["x", 1001, "bye"]


async def test_concurrent_recv_raises_concurrency_error() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            first = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            with pytest.raises(ConcurrencyError):
                await ws.recv()
            await ws.send("ok")
            assert await first == "ok"


async def test_process_request_response() -> None:
    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return conn.respond(200, "OK\n")
        if request.headers.get("Authorization") != "Bearer x":
            return conn.respond(403, "forbidden\n")
        return None

    async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(url(server))
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"forbidden\n"
        assert isinstance(info.value, WSError)
        with pytest.raises(InvalidStatus) as info:
            await connect(url(server, "/healthz"))
        assert info.value.response.status_code == 200
        async with connect(url(server), additional_headers={"Authorization": "Bearer x"}) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"


async def test_async_process_request_and_response() -> None:
    async def process_request(conn: ServerConnection, request: Request) -> Response | None:
        await asyncio.sleep(0.01)  # e.g. a credentials lookup
        if request.headers.get("Authorization") != "Bearer x":
            return conn.respond(401, "who are you?\n")
        return None

    async def process_response(conn: ServerConnection, request: Request, response: Response) -> Response | None:
        await asyncio.sleep(0)
        response.headers["X-Checked"] = "yes"
        return None

    async with serve(
        echo, "127.0.0.1", 0, process_request=process_request, process_response=process_response
    ) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(url(server))
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"who are you?\n"
        async with connect(url(server), additional_headers={"Authorization": "Bearer x"}) as ws:
            assert ws.response is not None
            assert ws.response.headers.get("X-Checked") == "yes"
            await ws.send("in")
            assert await ws.recv() == "in"


async def test_invalid_uri() -> None:
    for bad in ("http://example.com/", "ws://", "ws://host:notaport/"):
        with pytest.raises(InvalidURI) as info:
            await connect(bad)
        assert isinstance(info.value, WSInvalidURL)
        assert isinstance(info.value, ValueError)


async def test_ping_returns_latency() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            waiter = await ws.ping()
            latency = await asyncio.wait_for(waiter, TIMEOUT)
            assert 0 < latency < 1  # perf_counter resolution, even under uvloop
            assert ws.latency == latency
            waiter = await ws.ping("custom")
            with pytest.raises(ConcurrencyError):
                await ws.ping("custom")
            await asyncio.wait_for(waiter, TIMEOUT)
            await ws.pong(b"unsolicited")  # the server ignores it
            await ws.send("still fine")
            assert await ws.recv() == "still fine"


async def test_keepalive_measures_latency() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(url(server), ping_interval=0.05, ping_timeout=1) as ws:
            for _ in range(100):
                if ws.latency > 0:
                    break
                await asyncio.sleep(0.02)
            assert ws.latency > 0


async def test_keepalive_timeout_closes_with_1011() -> None:
    from picows import WSListener, ws_create_server

    # A server that never answers pings.
    raw = await ws_create_server(lambda request: WSListener(), "127.0.0.1", 0, enable_auto_pong=False)
    port = raw.sockets[0].getsockname()[1]
    try:
        ws = await connect(f"ws://127.0.0.1:{port}/", ping_interval=0.05, ping_timeout=0.1)
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.sent is not None and info.value.sent.code == 1011
    finally:
        raw.close()


async def test_max_size_closes_with_1009() -> None:
    async with serve(echo, "127.0.0.1", 0, max_size=1000) as server:
        async with connect(url(server)) as ws:
            await ws.send(b"a" * 1000)
            assert await ws.recv() == b"a" * 1000
            await ws.send(b"a" * 1001)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1009


async def test_max_size_counts_fragments() -> None:
    async with serve(echo, "127.0.0.1", 0, max_size=1000) as server:
        async with connect(url(server)) as ws:
            await ws.send([b"a" * 600, b"b" * 600])
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1009


async def test_fragmented_send_and_streaming_recv() -> None:
    async def agen() -> AsyncIterator[str]:
        for part in ("as", "ync"):
            yield part

    async def handler(ws: ServerConnection) -> None:
        pieces = [p async for p in ws.recv_streaming()]
        await ws.send(repr(pieces))
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            await ws.send(["a", "b", "c"])
            assert await ws.recv() in ("['a', 'b', 'c']", "['abc']")
            await ws.send([b"x", b"y"])
            assert await ws.recv() == b"xy"
            await ws.send(agen())
            assert await ws.recv() == "async"
            with pytest.raises(TypeError):
                await ws.send(["a", b"b"])


async def test_subprotocol_negotiation() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.subprotocol or "none")

    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat.v2", "chat.v1"]) as server:
        async with connect(url(server), subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await ws.recv() == "chat.v2"
        async with connect(url(server)) as ws:
            assert ws.subprotocol is None
            assert await ws.recv() == "none"


async def test_server_close_sends_1001() -> None:
    started = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        started.set()
        await ws.wait_closed()

    server = await serve(handler, "127.0.0.1", 0)
    ws = await connect(url(server))
    await asyncio.wait_for(started.wait(), TIMEOUT)
    assert len(server.connections) == 1
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    with pytest.raises(ConnectionClosedOK):
        await ws.recv()
    assert ws.close_code == 1001


async def test_broadcast_skips_closed_connections() -> None:
    clients: list[ClientConnection] = []
    started = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        if len(ws.server.connections) == 3:
            started.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        for _ in range(3):
            clients.append(await connect(url(server)))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        await clients[2].close()
        for _ in range(100):
            if len(server.connections) == 2:
                break
            await asyncio.sleep(0.01)
        conns = list(server._handlers)  # includes the closed one
        assert broadcast(conns, "news") == len(conns) - 2
        assert await clients[0].recv() == "news"
        assert await clients[1].recv() == "news"
        for c in clients[:2]:
            await c.close()


async def test_unix_socket() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ws.sock")
        async with unix_serve(echo, path) as _server:
            async with unix_connect(path) as ws:
                await ws.send("over unix")
                assert await ws.recv() == "over unix"


async def test_recv_after_close_raises_and_keeps_queued_messages() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("queued")
        await ws.close(4000, "app")

    async with serve(handler, "127.0.0.1", 0) as server:
        ws = await connect(url(server))
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert await ws.recv() == "queued"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert ws.close_code == 4000
        assert ws.close_reason == "app"
        assert info.value.rcvd is not None and info.value.rcvd.reason == "app"


async def test_tls(server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    async with serve(echo, "127.0.0.1", 0, ssl=server_ssl_context) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_ssl_context) as ws:
            assert ws.transport.is_secure
            await ws.send("secret")
            assert await ws.recv() == "secret"
            await ws.send(b"z" * 200_000)
            assert await ws.recv() == b"z" * 200_000


async def test_open_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # swallow the upgrade request, never answer
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
        assert loop.time() - start < 3
    finally:
        server.close()


async def test_server_close_without_closing_connections() -> None:
    release = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await release.wait()
        await ws.send("handler finished")

    server = await serve(handler, "127.0.0.1", 0)
    ws = await connect(url(server))
    for _ in range(100):
        if server.connections:
            break
        await asyncio.sleep(0.01)
    server.close(close_connections=False)
    await asyncio.sleep(0.05)
    assert ws.state.name == "OPEN"  # the connection outlives the listening socket
    release.set()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert await ws.recv() == "handler finished"
    await ws.close()


async def test_compression_negotiated_by_default() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            assert ws.response is not None
            assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
            text = "compressible " * 10_000
            await ws.send(text)
            assert await ws.recv() == text
        async with connect(url(server), compression=None) as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send("plain")
            assert await ws.recv() == "plain"
    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        async with connect(url(server)) as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_max_size_applies_to_decompressed_size() -> None:
    async with serve(echo, "127.0.0.1", 0, max_size=10_000) as server:
        async with connect(url(server)) as ws:
            await ws.send(b"\x00" * 20_000)  # compresses to a few dozen bytes on the wire
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1009


async def test_send_result_behaves_like_a_coroutine() -> None:
    # send() of str/bytes hands the frame over at once and returns a finished coroutine: it can be awaited,
    # wrapped in a task or gathered, and errors still surface where the result is awaited.
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            assert asyncio.iscoroutine(ws.send("probe"))  # sent even without an await
            assert await ws.recv() == "probe"
            await asyncio.create_task(ws.send("task"))
            assert await ws.recv() == "task"
            await asyncio.gather(ws.send(b"a"), ws.send(b"b"))
            assert [await ws.recv(), await ws.recv()] == [b"a", b"b"]
            await asyncio.wait_for(ws.send("timed"), TIMEOUT)
            assert await ws.recv() == "timed"
            await ws.close()
            pending = ws.send("after close")
            with pytest.raises(ConnectionClosedOK):
                await pending


@pytest.mark.parametrize("yield_in_handler", [False, True], ids=["reply-at-once", "reply-after-a-yield"])
async def test_bursts_of_messages_are_answered_in_order(yield_in_handler: bool) -> None:
    # Many messages arrive per read on both sides. A waiting recv() resumes inside the engine's read callback,
    # replies there (the replies are gathered into one write) and waits again before the next frame is parsed;
    # a handler that yields first lets the next messages queue up. Either way every message is answered, once,
    # in order, and nothing waits for a loop pass that never comes.
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            if yield_in_handler:
                await asyncio.sleep(0)
            await ws.send(message)

    messages = [f"message {i}" if i % 3 else f"message {i}".encode() for i in range(2_000)]
    async with serve(handler, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        async with connect(url(server), compression=None, max_queue=None) as ws:
            for message in messages:
                await ws.send(message)
            received = [await asyncio.wait_for(ws.recv(), 5) for _ in messages]
    assert received == messages


def test_subclass_that_defines_anext_keeps_it() -> None:
    # ServerConnection and ClientConnection get the compiled __anext__ slot (connection._inherit_anext);
    # a subclass with its own __anext__ must not.
    from picows.highlevel.client import ClientConnection
    from picows.highlevel.connection import _inherit_anext

    class Mine(ClientConnection):
        def __anext__(self) -> str:  # type: ignore[override]
            return "mine"

    _inherit_anext(Mine)
    assert anext(Mine.__new__(Mine)) == "mine"  # type: ignore[type-var]


async def test_async_for_on_subclasses_with_the_compiled_slot() -> None:
    got: list[object] = []

    async def collect(ws: ServerConnection) -> None:
        async for message in ws:
            got.append(message)

    async with serve(collect, "127.0.0.1", 0) as server:
        async with connect(url(server)) as ws:
            await ws.send("one")
            await ws.send(b"two")
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
    assert got == ["one", b"two"]
