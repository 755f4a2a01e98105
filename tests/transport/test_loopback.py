"""Client and server over 127.0.0.1: sending, control frames, the close handshake, properties, TLS, big messages.

Every test runs under the asyncio loop and under uvloop (tests/conftest.py).
"""

from __future__ import annotations

import ssl

import pytest

import picows
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from tests.utils import WAIT, EchoListener, RecordingListener, bounded, ws_server


async def connect(url: str, factory: type[WSListener] = RecordingListener,
                  **kwargs: object) -> tuple[WSTransport, RecordingListener]:
    transport, listener = await bounded(picows.ws_connect(factory, url, **kwargs))  # type: ignore[arg-type]
    assert isinstance(listener, RecordingListener)
    return transport, listener


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "str", "memoryview-slice"])
async def test_send_payload_types(kind: str) -> None:
    payloads: dict[str, bytes | bytearray | memoryview | str] = {
        "bytes": b"hello \xff",
        "bytearray": bytearray(b"hello \xff"),
        "memoryview": memoryview(b"hello \xff"),
        "str": "héllo €",
        "memoryview-slice": memoryview(b"__hello \xff__")[2:-2],
    }
    expected = "héllo €".encode() if kind == "str" else b"hello \xff"
    msg_type = WSMsgType.TEXT if kind == "str" else WSMsgType.BINARY
    async with ws_server() as server:
        transport, client = await connect(server.url())
        transport.send(msg_type, payloads[kind])
        frames = await client.wait_frames(1)
        assert frames == [(msg_type, True, False, expected)]
        echo = await server.first_listener()
        assert isinstance(echo, RecordingListener)
        assert echo.frames == [(msg_type, True, False, expected)]
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_send_empty_and_none() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        transport.send(WSMsgType.BINARY, b"")
        transport.send(WSMsgType.TEXT, None)
        assert await client.wait_frames(2) == [(WSMsgType.BINARY, True, False, b""),
                                               (WSMsgType.TEXT, True, False, b"")]
        transport.disconnect()


async def test_fragmented_send_arrives_as_fragments() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        transport.send(WSMsgType.TEXT, b"frag", fin=False)
        transport.send(WSMsgType.CONTINUATION, b"men", fin=False)
        transport.send(WSMsgType.CONTINUATION, "ted €".encode(), fin=True)
        frames = await client.wait_frames(3)
        assert frames == [(WSMsgType.TEXT, False, False, b"frag"),
                          (WSMsgType.CONTINUATION, False, False, b"men"),
                          (WSMsgType.CONTINUATION, True, False, "ted €".encode())]
        transport.disconnect()


async def test_fragmented_one_mib_message() -> None:
    payload = bytes(range(256)) * 4096
    chunk = 64 * 1024
    async with ws_server() as server:
        transport, client = await connect(server.url())
        for i in range(0, len(payload), chunk):
            first, last = i == 0, i + chunk >= len(payload)
            transport.send(WSMsgType.BINARY if first else WSMsgType.CONTINUATION, payload[i:i + chunk], fin=last)
        frames = await client.wait_frames(len(payload) // chunk)
        assert b"".join(f[3] for f in frames) == payload
        assert frames[0][0] == WSMsgType.BINARY and not frames[0][1]
        assert all(f[0] == WSMsgType.CONTINUATION for f in frames[1:])
        assert frames[-1][1] and not any(f[1] for f in frames[:-1])
        transport.disconnect()


@pytest.mark.parametrize("direction", ["client_to_server", "server_to_client"])
async def test_sixteen_mib_message(direction: str) -> None:
    payload = bytes(range(251)) * (16 * 1024 * 1024 // 251 + 1)
    payload = payload[:16 * 1024 * 1024]

    class Sender(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            if direction == "server_to_client":
                transport.send(WSMsgType.BINARY, payload)

    async with ws_server(Sender, max_frame_size=32 * 1024 * 1024) as server:
        transport, client = await connect(server.url(), max_frame_size=32 * 1024 * 1024)
        if direction == "client_to_server":
            transport.send(WSMsgType.BINARY, payload)
            listener = await server.first_listener()
            assert isinstance(listener, RecordingListener)
            frames = await listener.wait_frames(1, timeout=15)
        else:
            frames = await client.wait_frames(1, timeout=15)
        assert len(frames) == 1
        assert frames[0][3] == payload
        transport.disconnect()


async def test_default_max_frame_size_rejects_over_10_mib() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        transport.send(WSMsgType.BINARY, b"\0" * (10 * 1024 * 1024 + 1))
        await bounded(transport.wait_disconnected(), 10)
        handshake = transport.close_handshake
        assert handshake is not None and handshake.recv is not None
        assert handshake.recv.code == WSCloseCode.MESSAGE_TOO_BIG


async def test_ping_auto_pong_and_pong_delivery() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        transport.send_ping(b"abc")
        # The server answers on its own (auto-pong on by default) and does not show the ping to its listener.
        assert await client.wait_frames(1) == [(WSMsgType.PONG, True, False, b"abc")]
        server_listener = await server.first_listener()
        assert isinstance(server_listener, RecordingListener)
        transport.send(WSMsgType.TEXT, b"marker")
        await server_listener.wait_frames(1)
        assert server_listener.frames == [(WSMsgType.TEXT, True, False, b"marker")]
        transport.send_pong(b"unsolicited")
        await server_listener.wait_frames(2)
        assert server_listener.frames[1] == (WSMsgType.PONG, True, False, b"unsolicited")
        transport.disconnect()


async def test_auto_pong_off_passes_ping_to_listener() -> None:
    async with ws_server(enable_auto_pong=False) as server:
        transport, client = await connect(server.url())
        transport.send_ping(b"p1")
        transport.send_ping()
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert await listener.wait_frames(2) == [(WSMsgType.PING, True, False, b"p1"),
                                                 (WSMsgType.PING, True, False, b"")]
        transport.send(WSMsgType.TEXT, b"x")
        await listener.wait_frames(3)
        # The echo of "x" comes after anything the server could have sent for the pings: no pong came back.
        assert await client.wait_frames(1) == [(WSMsgType.TEXT, True, False, b"x")]
        transport.disconnect()


async def test_client_auto_pong_answers_server_ping() -> None:
    class Pinger(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            transport.send_ping(b"from-server")

    async with ws_server(Pinger) as server:
        transport, client = await connect(server.url())
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert await listener.wait_frames(1) == [(WSMsgType.PONG, True, False, b"from-server")]
        assert client.frames == []
        transport.disconnect()


async def test_control_frame_limits_on_send() -> None:
    async with ws_server() as server:
        transport, _ = await connect(server.url())
        with pytest.raises(ValueError):
            transport.send_ping(b"x" * 126)
        with pytest.raises(ValueError):
            transport.send(WSMsgType.PING, b"x", fin=False)
        transport.send_ping(b"x" * 125)
        transport.disconnect()


async def test_client_initiated_close_handshake() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        server_listener = await server.first_listener()
        assert isinstance(server_listener, RecordingListener)
        transport.send_close(WSCloseCode.GOING_AWAY, "see you")
        assert transport.is_close_frame_sent
        await bounded(transport.wait_disconnected())
        assert transport.is_disconnected
        assert client.disconnected.is_set()
        hs = transport.close_handshake
        assert hs is not None
        assert hs.sent is not None and hs.sent.code == WSCloseCode.GOING_AWAY and hs.sent.reason == "see you"
        assert hs.recv is not None and hs.recv.code == WSCloseCode.GOING_AWAY
        assert hs.recv_then_sent is False
        # The server's listener saw the close frame with code and reason.
        assert (WSMsgType.CLOSE, True, False, b"\x03\xe9see you") in server_listener.frames
        assert server_listener.transport is not None
        await bounded(server_listener.transport.wait_disconnected())
        shs = server_listener.transport.close_handshake
        assert shs is not None and shs.recv_then_sent is True
        assert shs.recv is not None and shs.recv.code == WSCloseCode.GOING_AWAY and shs.recv.reason == "see you"


async def test_server_initiated_close_handshake() -> None:
    class Closer(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            transport.send_close(4001, "custom")

    async with ws_server(Closer) as server:
        transport, client = await connect(server.url())
        await bounded(transport.wait_disconnected())
        hs = transport.close_handshake
        assert hs is not None and hs.recv_then_sent is True
        assert hs.recv is not None and hs.recv.code == 4001 and hs.recv.reason == "custom"
        assert isinstance(hs.recv.code, WSCloseCode)
        assert hs.sent is not None and hs.sent.code == 4001
        assert client.frames[-1] == (WSMsgType.CLOSE, True, False, (4001).to_bytes(2, "big") + b"custom")
        listener = await server.first_listener()
        assert listener.transport is not None  # type: ignore[attr-defined]
        shs = listener.transport.close_handshake  # type: ignore[attr-defined]
        assert shs.recv_then_sent is False and shs.recv is not None and shs.recv.code == 4001


async def test_close_handshake_none_before_close() -> None:
    async with ws_server() as server:
        transport, _ = await connect(server.url())
        assert transport.close_handshake is None
        assert not transport.is_close_frame_sent
        assert not transport.is_disconnected
        transport.disconnect()
        await bounded(transport.wait_disconnected())
        assert transport.is_disconnected


async def test_send_close_without_code_sends_empty_close() -> None:
    async with ws_server() as server:
        transport, _ = await connect(server.url())
        transport.send_close()
        await bounded(transport.wait_disconnected())
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert (WSMsgType.CLOSE, True, False, b"") in listener.frames
        hs = transport.close_handshake
        assert hs is not None and hs.recv is not None and hs.recv.code == WSCloseCode.NO_INFO


async def test_send_after_close_is_dropped() -> None:
    async with ws_server() as server:
        transport, _ = await connect(server.url())
        transport.send_close(WSCloseCode.OK)
        transport.send(WSMsgType.TEXT, b"after close")
        await bounded(transport.wait_disconnected())
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert all(f[0] == WSMsgType.CLOSE for f in listener.frames)


@pytest.mark.parametrize("graceful", [True, False])
async def test_disconnect(graceful: bool) -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        transport.send(WSMsgType.TEXT, b"before")
        transport.disconnect(graceful)
        await bounded(transport.wait_disconnected())
        assert transport.is_disconnected
        assert client.disconnected.is_set()
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        await bounded(listener.disconnected.wait())
        if graceful:
            # A graceful disconnect flushes what was written before it.
            assert listener.frames == [(WSMsgType.TEXT, True, False, b"before")]
        transport.disconnect()  # idempotent


async def test_server_disconnect_is_seen_by_client() -> None:
    class Dropper(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            transport.disconnect()

    async with ws_server(Dropper) as server:
        transport, client = await connect(server.url())
        await bounded(transport.wait_disconnected())
        assert client.disconnected.is_set()
        assert transport.close_handshake is None


async def test_measure_roundtrip_time() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        rtts = await bounded(transport.measure_roundtrip_time(5))
        assert len(rtts) == 5
        assert all(isinstance(x, float) and 0 <= x < WAIT for x in rtts)
        assert client.frames == []  # the pongs answering the probes are not passed on
        transport.disconnect()


async def test_properties_both_sides() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url("/chat?room=1"))
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        await bounded(listener.connected.wait())
        st = listener.transport
        assert st is not None and client.transport is transport
        assert transport.is_client_side and not st.is_client_side
        assert not transport.is_secure and not st.is_secure
        assert transport.request.path == b"/chat?room=1"
        assert st.request.path == b"/chat?room=1"
        assert st.request.method == b"GET"
        assert int(transport.response.status) == 101
        assert int(st.response.status) == 101
        assert "sec-websocket-accept" in transport.response.headers
        # uvloop's transports do not subclass asyncio.BaseTransport: check the interface instead.
        assert callable(transport.underlying_transport.write)
        peer = transport.underlying_transport.get_extra_info("peername")
        assert peer[1] == server.port
        assert not transport.is_close_frame_sent and not transport.is_disconnected
        transport.disconnect()


async def test_extra_headers_reach_server() -> None:
    async with ws_server() as server:
        transport, _ = await connect(server.url(), extra_headers={"X-Test": "yes"})
        listener = await server.first_listener()
        assert listener.transport.request.headers["x-test"] == "yes"  # type: ignore[attr-defined]
        transport.disconnect()


@pytest.mark.parametrize("side", ["client", "server"])
async def test_send_reuse_external_bytearray(side: str) -> None:
    payload = b"zero-copy payload " * 100
    offset = 14

    class Sender(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            if side == "server":
                buf = bytearray(offset) + bytearray(payload)
                transport.send_reuse_external_bytearray(WSMsgType.BINARY, buf, offset)
                small = bytearray(b"\0" * 20) + bytearray(b"small")
                transport.send_reuse_external_bytearray(WSMsgType.TEXT, small, 20)

    async with ws_server(Sender) as server:
        transport, client = await connect(server.url())
        if side == "client":
            buf = bytearray(offset) + bytearray(payload)
            transport.send_reuse_external_bytearray(WSMsgType.BINARY, buf, offset)
            small = bytearray(b"\0" * 20) + bytearray(b"small")
            transport.send_reuse_external_bytearray(WSMsgType.TEXT, small, 20)
            receiver = await server.first_listener()
            assert isinstance(receiver, RecordingListener)
        else:
            receiver = client
        frames = await receiver.wait_frames(2)
        assert frames == [(WSMsgType.BINARY, True, False, payload), (WSMsgType.TEXT, True, False, b"small")]
        with pytest.raises(ValueError):
            transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(b"ab"), 1)
        transport.disconnect()


async def test_frame_last_in_buffer_and_tail_size() -> None:
    seen: list[tuple[bool, int]] = []

    class Burst(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            # One write, three frames: they arrive in one read on loopback.
            transport.underlying_transport.write(
                b"".join(bytes([0x82, 1, i]) for i in range(3)))

    class Client(RecordingListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            seen.append((frame.last_in_buffer, frame.tail_size))
            super().on_ws_frame(transport, frame)

    async with ws_server(Burst) as server:
        transport, client = await connect(server.url(), Client)
        await client.wait_frames(3)
        assert seen == [(False, 6), (False, 3), (True, 0)]
        transport.disconnect()


async def test_tls_both_sides(server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    async with ws_server(ssl_context=server_ssl_context) as server:
        transport, client = await connect(server.url(secure=True), ssl_context=client_ssl_context)
        assert transport.is_secure
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        await bounded(listener.connected.wait())
        assert listener.transport is not None and listener.transport.is_secure
        big = bytes(range(256)) * 1024
        transport.send(WSMsgType.BINARY, big)
        transport.send(WSMsgType.TEXT, "tls ✓")
        assert await client.wait_frames(2) == [(WSMsgType.BINARY, True, False, big),
                                               (WSMsgType.TEXT, True, False, "tls ✓".encode())]
        transport.send_close(WSCloseCode.OK)
        await bounded(transport.wait_disconnected())
        hs = transport.close_handshake
        assert hs is not None and hs.recv is not None and hs.recv.code == WSCloseCode.OK


async def test_tls_localhost_name(server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    async with ws_server(ssl_context=server_ssl_context) as server:
        transport, _ = await connect(f"wss://localhost:{server.port}/", ssl_context=client_ssl_context)
        assert transport.is_secure
        transport.disconnect()


async def test_tls_untrusted_certificate_fails(server_ssl_context: ssl.SSLContext) -> None:
    async with ws_server(ssl_context=server_ssl_context) as server:
        with pytest.raises(ssl.SSLError):
            await bounded(picows.ws_connect(RecordingListener, server.url(secure=True)))


async def test_many_echo_roundtrips() -> None:
    async with ws_server() as server:
        transport, client = await connect(server.url())
        for i in range(200):
            transport.send(WSMsgType.BINARY, i.to_bytes(4, "big") * (i % 50))
        frames = await client.wait_frames(200)
        assert [f[3] for f in frames] == [i.to_bytes(4, "big") * (i % 50) for i in range(200)]
        transport.disconnect()


async def test_echo_listener_type() -> None:
    # The helper echo server itself answers as expected (guards the other tests' oracle).
    async with ws_server(EchoListener) as server:
        transport, client = await connect(server.url())
        transport.send(WSMsgType.TEXT, b"x")
        assert await client.wait_frames(1) == [(WSMsgType.TEXT, True, False, b"x")]
        transport.disconnect()
