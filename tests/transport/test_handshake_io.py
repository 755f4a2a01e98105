"""The opening handshake over real sockets: server rejections seen by a raw client, client errors seen against a
raw server, listener factory results, subprotocols, timeouts and bad URLs."""

from __future__ import annotations

import asyncio
import time

import pytest

import picows
from picows import (
    WSHandshakeError,
    WSHandshakeTimeoutError,
    WSInvalidHeaderError,
    WSInvalidStatusError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from tests.utils import (
    WAIT,
    RecordingListener,
    accept_for,
    bounded,
    raw_server,
    read_http_head,
    upgrade_request,
    ws_server,
)


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` on a fresh connection and read the whole response (the server closes after it)."""
    reader, writer = await bounded(asyncio.open_connection("127.0.0.1", port))
    try:
        writer.write(request)
        status_line, headers = await read_http_head(reader)
        body = await bounded(reader.read())
        return int(status_line.split(" ")[1]), headers, body
    finally:
        writer.close()


# ---- server rejections --------------------------------------------------------------------------------------


async def test_server_accepts_handwritten_request() -> None:
    async with ws_server() as server:
        reader, writer = await bounded(asyncio.open_connection("127.0.0.1", server.port))
        writer.write(upgrade_request())
        status_line, headers = await read_http_head(reader)
        assert status_line.startswith("HTTP/1.1 101")
        assert headers["upgrade"].lower() == "websocket"
        assert "upgrade" in headers["connection"].lower()
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3 example
        writer.close()


@pytest.mark.parametrize(("request_bytes", "status", "header"), [
    (upgrade_request(method="POST"), 405, ("allow", "GET")),
    (upgrade_request(upgrade=None), 426, None),
    (upgrade_request(upgrade="h2c"), 426, None),
    (upgrade_request(version="8"), 426, ("sec-websocket-version", "13")),
    (upgrade_request(key="not-base64!"), 400, None),
    (upgrade_request(key="c2hvcnQ="), 400, None),  # base64 of 5 bytes, not 16
    (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\n\r\n", 400, None),  # no key
    (b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 400, None),
    (b"garbage\r\n\r\n", 400, None),
], ids=["post-405", "no-upgrade-426", "upgrade-h2c-426", "version-426", "bad-key-400", "short-key-400",
        "no-key-400", "http10-400", "garbage-400"])
async def test_server_rejects_bad_upgrade(request_bytes: bytes, status: int, header: tuple[str, str] | None) -> None:
    async with ws_server() as server:
        got_status, headers, body = await exchange(server.port, request_bytes)
        assert got_status == status
        if header is not None:
            assert headers[header[0]] == header[1]
        assert body, "rejections carry a short explanation"
        assert int(headers["content-length"]) == len(body)


async def test_server_rejects_head_over_16_kib_with_431() -> None:
    async with ws_server() as server:
        filler = "".join(f"X-Filler-{i}: {'a' * 100}\r\n" for i in range(170))  # ~18 KiB
        status, _, _ = await exchange(server.port, upgrade_request(extra=filler))
        assert status == 431


async def test_server_rejects_unterminated_head_over_16_kib_with_431() -> None:
    async with ws_server() as server:
        request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * (17 * 1024)  # no end of head yet
        status, _, _ = await exchange(server.port, request)
        assert status == 431


async def test_server_max_head_size_is_configurable() -> None:
    async with ws_server(max_head_size=1024) as server:
        status, _, _ = await exchange(server.port, upgrade_request(extra="X-Pad: " + "b" * 2000 + "\r\n"))
        assert status == 431


async def test_server_times_out_slow_handshake() -> None:
    async with ws_server(websocket_handshake_timeout=0.2) as server:
        reader, writer = await bounded(asyncio.open_connection("127.0.0.1", server.port))
        start = time.monotonic()
        writer.write(upgrade_request()[:20])  # and never the rest
        await bounded(reader.read(), 3)  # EOF (or an error response) once the server gives up
        elapsed = time.monotonic() - start
        assert 0.15 <= elapsed < 3
        assert server.listeners == []
        writer.close()


async def test_listener_factory_none_gives_404() -> None:
    server = await picows.ws_create_server(lambda request: None, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        status, _, body = await exchange(port, upgrade_request())
        assert status == 404
        assert body
    finally:
        server.close()


async def test_listener_factory_exception_gives_500() -> None:
    def factory(request: WSUpgradeRequest) -> WSListener:
        raise RuntimeError("factory bug")

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    try:
        status, _, _ = await exchange(server.sockets[0].getsockname()[1], upgrade_request())
        assert status == 500
    finally:
        server.close()


async def test_listener_factory_sees_request_and_routes() -> None:
    seen: list[WSUpgradeRequest] = []

    def factory(request: WSUpgradeRequest) -> WSListener | None:
        seen.append(request)
        return RecordingListener() if request.path == b"/ok" else None

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, _ = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/ok",
                                                       extra_headers={"X-Custom": "1"}))
        assert seen[0].path == b"/ok" and seen[0].headers["X-Custom"] == "1"
        transport.disconnect()
        with pytest.raises(WSInvalidStatusError) as info:
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/missing"))
        assert info.value.response is not None and int(info.value.response.status) == 404
    finally:
        server.close()


async def test_custom_error_response_reaches_client() -> None:
    def factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_error_response(403, b"go away", {"X-Reason": "banned"}), None)

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(WSInvalidStatusError) as info:
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        response = info.value.response
        assert response is not None
        assert int(response.status) == 403
        assert response.headers["X-Reason"] == "banned"
        assert response.body == b"go away"
        assert info.value.raw_body == b"go away"
        assert info.value.raw_header is not None and info.value.raw_header.startswith(b"HTTP/1.1 403")
    finally:
        server.close()


async def test_custom_101_with_subprotocol() -> None:
    def factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        assert offered == ["chat.v2", "chat.v1"]
        response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": "chat.v1", "X-Server": "t"})
        return WSUpgradeResponseWithListener(response, RecordingListener())

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, listener = await bounded(picows.ws_connect(
            RecordingListener, f"ws://127.0.0.1:{port}/",
            extra_headers={"Sec-WebSocket-Protocol": "chat.v2, chat.v1"}))
        assert transport.response.headers["Sec-WebSocket-Protocol"] == "chat.v1"
        assert transport.response.headers["X-Server"] == "t"
        assert int(transport.response.status) == 101
        transport.send(WSMsgType.TEXT, b"hi")
        transport.disconnect()
    finally:
        server.close()


async def test_client_two_argument_factory_gets_request_and_response() -> None:
    got: list[tuple[WSUpgradeRequest, WSUpgradeResponse]] = []

    def factory(request: WSUpgradeRequest, response: WSUpgradeResponse) -> WSListener:
        got.append((request, response))
        return RecordingListener()

    async with ws_server() as server:
        transport, _ = await bounded(picows.ws_connect(factory, server.url("/p")))
        assert got[0][0].path == b"/p"
        assert int(got[0][1].status) == 101
        transport.disconnect()


# ---- client errors against raw servers ----------------------------------------------------------------------


def _responder(response: bytes | None, close: bool = True):  # type: ignore[no-untyped-def]
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, headers = await read_http_head(reader)
        if response is None:
            await asyncio.sleep(WAIT)  # never answer
            return
        writer.write(response.replace(b"{ACCEPT}", accept_for(headers["sec-websocket-key"]).encode()))
        await writer.drain()
        if not close:
            await reader.read()
    return peer


async def test_client_403_with_body() -> None:
    response = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: policy\r\n"
                b"Content-Length: 12\r\n\r\nnot for you!")
    async with raw_server(_responder(response, close=False)) as port:
        with pytest.raises(WSInvalidStatusError) as info:
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
    exc = info.value
    assert isinstance(exc, WSHandshakeError)
    assert exc.response is not None
    assert int(exc.response.status) == 403
    assert exc.response.headers["x-why"] == "policy"
    assert exc.response.body == b"not for you!"
    assert exc.raw_body == b"not for you!"


async def test_client_403_body_until_eof() -> None:
    response = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nbody without length"
    async with raw_server(_responder(response)) as port:
        with pytest.raises(WSInvalidStatusError) as info:
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
    assert info.value.response is not None and int(info.value.response.status) == 403
    assert info.value.raw_body == b"body without length"


async def test_client_wrong_accept() -> None:
    response = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    async with raw_server(_responder(response, close=False)) as port:
        with pytest.raises(WSInvalidHeaderError) as info:
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
    assert info.value.name.lower() == "sec-websocket-accept"


@pytest.mark.parametrize("extra", [
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
    b"Sec-WebSocket-Protocol: chat\r\n",
], ids=["extension", "subprotocol"])
async def test_client_rejects_101_naming_what_was_not_offered(extra: bytes) -> None:
    response = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: {ACCEPT}\r\n" + extra + b"\r\n")
    async with raw_server(_responder(response, close=False)) as port:
        with pytest.raises(WSInvalidHeaderError):
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))


async def test_client_rejects_missing_upgrade_header() -> None:
    response = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
    async with raw_server(_responder(response, close=False)) as port:
        with pytest.raises(WSHandshakeError):
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))


async def test_client_handshake_timeout() -> None:
    async with raw_server(_responder(None)) as port:
        start = time.monotonic()
        with pytest.raises(WSHandshakeTimeoutError):
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/",
                                            websocket_handshake_timeout=0.2))
        assert time.monotonic() - start < 2


async def test_client_server_closes_during_handshake() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.write(b"HTTP/1.1 101 Swi")

    async with raw_server(peer) as port:
        with pytest.raises(WSHandshakeError):
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))


async def test_client_garbage_status_line() -> None:
    async with raw_server(_responder(b"SSH-2.0-OpenSSH\r\n\r\n")) as port:
        with pytest.raises(WSHandshakeError):
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))


async def test_client_connection_refused() -> None:
    async with raw_server(_responder(None)) as port:
        pass  # the port is free again
    with pytest.raises(OSError):
        await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "127.0.0.1:9000", "ws://", "ws://host:notaport/",
                                 "ws://host:99999/", "wss:///path", ""])
async def test_invalid_url(url: str) -> None:
    with pytest.raises(WSInvalidURL):
        await bounded(picows.ws_connect(RecordingListener, url))


async def test_request_has_path_query_and_host() -> None:
    heads: list[tuple[str, dict[str, str]]] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await read_http_head(reader))

    async with raw_server(peer) as port:
        with pytest.raises(WSHandshakeError):
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/a/b?x=1&y=2"))
    line, headers = heads[0]
    assert line == "GET /a/b?x=1&y=2 HTTP/1.1"
    assert headers["host"] in (f"127.0.0.1:{port}", "127.0.0.1")
    assert headers["upgrade"].lower() == "websocket"
    assert headers["sec-websocket-version"] == "13"
    assert len(headers["sec-websocket-key"]) == 24
