"""How connections fail: protocol errors from raw peers, listener exceptions, auto-ping timeouts, user pings.

Raw peers do the opening handshake by hand and then write bytes picows would never send, so each test checks
both the exception ``wait_disconnected()`` raises and the close code the peer receives.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import picows
from picows import WSAutoPingStrategy, WSCloseCode, WSFrame, WSMsgType, WSProtocolError, WSTransport
from tests.utils import (
    WAIT,
    RecordingListener,
    bounded,
    build_frame,
    client_frame,
    close_payload,
    raw_client,
    raw_server,
    raw_server_handshake,
    read_frame,
    ws_server,
)

BAD_SERVER_FRAMES = [
    ("rsv2", build_frame(2, b"x", rsv2=True), 1002),
    ("reserved_opcode", build_frame(3, b""), 1002),
    ("masked_from_server", build_frame(2, b"x", mask_key=b"abcd"), 1002),
    ("long_ping", build_frame(9, b"x" * 126), 1002),
    ("continuation_first", build_frame(0, b"x"), 1002),
    ("bad_utf8", build_frame(1, b"\xff"), 1007),
    ("bad_close_code", build_frame(8, close_payload(1005)), 1002),
    ("one_byte_close", build_frame(8, b"\x03"), 1002),
    ("too_big", build_frame(2, b"", length=11 * 1024 * 1024), 1009),
]


async def _bad_server_peer(bad: bytes, received: asyncio.Future[tuple[int, bytes]], wait_ready: bool,
                           reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await raw_server_handshake(reader, writer)
    if wait_ready:
        # Wait for the client's first message so the bad bytes come in a later read than the 101.
        opcode, _, payload = await read_frame(reader, expect_masked=True)
        assert (opcode, payload) == (1, b"ready")
    writer.write(build_frame(1, b"good") + bad + build_frame(1, b"never delivered"))
    opcode, _, payload = await read_frame(reader, expect_masked=True)
    received.set_result((opcode, payload))
    await reader.read()  # until the client closes TCP


@pytest.mark.parametrize(("name", "bad", "code"), BAD_SERVER_FRAMES, ids=[b[0] for b in BAD_SERVER_FRAMES])
async def test_client_fails_on_bad_server_frame(name: str, bad: bytes, code: int) -> None:
    received: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _bad_server_peer(bad, received, True, reader, writer)

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        assert isinstance(client, RecordingListener)
        transport.send(WSMsgType.TEXT, b"ready")
        with pytest.raises(WSProtocolError) as info:
            await bounded(transport.wait_disconnected())
        assert info.value.code == code
        assert isinstance(info.value.code, WSCloseCode)
        opcode, payload = await bounded(received)
        assert opcode == 8
        assert int.from_bytes(payload[:2], "big") == code
        # The frame before the bad one was delivered; nothing after it was (RFC 6455 7.1.7).
        assert client.frames == [(WSMsgType.TEXT, True, False, b"good")]
        assert transport.is_disconnected


async def test_bad_frame_right_after_101_still_returns_transport() -> None:
    """The handshake succeeded (on_ws_connected ran, a frame was delivered): ws_connect must return the
    transport, and the protocol error must come from wait_disconnected(), not from ws_connect()."""
    received: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _bad_server_peer(build_frame(3, b""), received, False, reader, writer)

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        assert isinstance(client, RecordingListener)
        with pytest.raises(WSProtocolError) as info:
            await bounded(transport.wait_disconnected())
        assert info.value.code == 1002
        assert client.frames == [(WSMsgType.TEXT, True, False, b"good")]


BAD_CLIENT_FRAMES = [
    ("unmasked", build_frame(2, b"x"), 1002),
    ("rsv1", client_frame(1, b"x", rsv1=True), 1002),
    ("reserved_opcode", client_frame(0xB, b""), 1002),
    ("fragmented_ping", client_frame(9, b"", fin=False), 1002),
    ("bad_utf8", client_frame(1, b"ok\xc0\x80"), 1007),
    ("bad_close_reason", client_frame(8, close_payload(1000, b"\xff")), 1007),
    ("top_bit_length", bytes([0x82, 0xFF]) + (1 << 63 | 1).to_bytes(8, "big"), 1002),
]


@pytest.mark.parametrize(("name", "bad", "code"), BAD_CLIENT_FRAMES, ids=[b[0] for b in BAD_CLIENT_FRAMES])
async def test_server_fails_on_bad_client_frame(name: str, bad: bytes, code: int) -> None:
    async with ws_server(RecordingListener) as server:
        raw = await raw_client(server.port)
        raw.writer.write(client_frame(2, b"good") + bad + client_frame(2, b"never"))
        close_code, _ = await raw.read_close()
        assert close_code == code
        assert await raw.wait_eof() == b""  # the server closes TCP
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert listener.transport is not None
        with pytest.raises(WSProtocolError) as info:
            await bounded(listener.transport.wait_disconnected())
        assert info.value.code == code
        assert listener.frames == [(WSMsgType.BINARY, True, False, b"good")]
        raw.close()


async def test_utf8_fail_fast_before_frame_completes() -> None:
    async with ws_server(RecordingListener) as server:
        raw = await raw_client(server.port)
        frame = client_frame(1, b"\xff" + b"a" * 100_000)
        raw.writer.write(frame[:200])  # the rest of the frame never comes
        close_code, _ = await raw.read_close()
        assert close_code == 1007
        raw.close()


async def test_two_close_frames_in_one_read_is_a_normal_close() -> None:
    async with ws_server(RecordingListener) as server:
        raw = await raw_client(server.port)
        raw.writer.write(client_frame(8, close_payload(1000, b"a")) + client_frame(8, close_payload(1001, b"b")))
        close_code, reason = await raw.read_close()
        assert close_code == 1000
        await raw.wait_eof()
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert listener.transport is not None
        await bounded(listener.transport.wait_disconnected())  # no error raised
        assert [f for f in listener.frames if f[0] == WSMsgType.CLOSE] == [
            (WSMsgType.CLOSE, True, False, close_payload(1000, b"a"))]
        raw.close()


async def test_server_echoes_close_code_and_closes_tcp_first() -> None:
    async with ws_server(RecordingListener) as server:
        raw = await raw_client(server.port)
        raw.writer.write(client_frame(8, close_payload(3001, b"app")))
        assert await raw.read_close() == (3001, b"")
        assert await raw.wait_eof() == b""
        raw.close()


class Raiser(RecordingListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        raise RuntimeError("listener bug")


async def test_server_listener_exception_sends_1011_and_is_raised() -> None:
    async with ws_server(Raiser) as server:
        transport, client = await bounded(picows.ws_connect(RecordingListener, server.url()))
        transport.send(WSMsgType.TEXT, b"boom")
        await bounded(transport.wait_disconnected())
        hs = transport.close_handshake
        assert hs is not None and hs.recv is not None
        assert hs.recv.code == WSCloseCode.INTERNAL_ERROR
        listener = await server.first_listener()
        assert listener.transport is not None  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="listener bug"):
            await bounded(listener.transport.wait_disconnected())  # type: ignore[attr-defined]


async def test_client_listener_exception_sends_1011_and_is_raised() -> None:
    async with ws_server() as server:
        transport, _ = await bounded(picows.ws_connect(Raiser, server.url()))
        transport.send(WSMsgType.TEXT, b"echo me")
        with pytest.raises(RuntimeError, match="listener bug"):
            await bounded(transport.wait_disconnected())
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        assert (WSMsgType.CLOSE, True, False, close_payload(1011, b"internal error")) in listener.frames


async def test_listener_exception_ignored_when_disconnect_on_exception_off() -> None:
    async with ws_server() as server:
        transport, listener = await bounded(picows.ws_connect(Raiser, server.url(), disconnect_on_exception=False))
        assert isinstance(listener, RecordingListener)
        transport.send(WSMsgType.TEXT, b"1")
        transport.send(WSMsgType.TEXT, b"2")
        await listener.wait_frames(2)
        assert not transport.is_disconnected
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_exception_in_on_ws_connected_fails_connection() -> None:
    class BadConnect(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            raise ValueError("connect bug")

    async with ws_server(BadConnect) as server:
        transport, _ = await bounded(picows.ws_connect(RecordingListener, server.url()))
        await bounded(transport.wait_disconnected())
        hs = transport.close_handshake
        assert hs is not None and hs.recv is not None and hs.recv.code == WSCloseCode.INTERNAL_ERROR


# ---- auto-ping -----------------------------------------------------------------------------------------------




@pytest.mark.parametrize("strategy", [WSAutoPingStrategy.PING_WHEN_IDLE, WSAutoPingStrategy.PING_PERIODICALLY])
async def test_auto_ping_disconnects_when_no_pong(strategy: WSAutoPingStrategy) -> None:
    pings: list[float] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        while True:
            opcode, _, _ = await read_frame(reader, expect_masked=True)
            if opcode == 9:
                pings.append(time.monotonic())

    async with raw_server(peer) as port:
        start = time.monotonic()
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, f"ws://127.0.0.1:{port}/", enable_auto_ping=True, auto_ping_idle_timeout=0.2,
            auto_ping_reply_timeout=0.2, auto_ping_strategy=strategy))
        with pytest.raises(picows.WSError):
            await bounded(transport.wait_disconnected())
        elapsed = time.monotonic() - start
        assert len(pings) == 1
        assert 0.15 <= pings[0] - start < 1.5
        assert 0.3 <= elapsed < 3
        assert transport.is_disconnected


@pytest.mark.parametrize("strategy", [WSAutoPingStrategy.PING_WHEN_IDLE, WSAutoPingStrategy.PING_PERIODICALLY])
async def test_auto_ping_keeps_connection_alive_when_pongs_come(strategy: WSAutoPingStrategy) -> None:
    async with ws_server(RecordingListener) as server:
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, server.url(), enable_auto_ping=True, auto_ping_idle_timeout=0.1,
            auto_ping_reply_timeout=0.3, auto_ping_strategy=strategy))
        await asyncio.sleep(0.8)
        assert not transport.is_disconnected
        assert isinstance(client, RecordingListener)
        assert client.frames == []  # auto-ping pongs are consumed by the engine
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_ping_when_idle_does_not_ping_a_chatty_peer() -> None:
    pings: list[float] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)

        async def chatter() -> None:
            for _ in range(40):
                writer.write(build_frame(2, b"."))
                await asyncio.sleep(0.02)

        task = asyncio.ensure_future(chatter())
        try:
            while True:
                opcode, _, _ = await read_frame(reader, expect_masked=True)
                if opcode == 9:
                    pings.append(time.monotonic())
        finally:
            task.cancel()

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, f"ws://127.0.0.1:{port}/", enable_auto_ping=True, auto_ping_idle_timeout=0.2,
            auto_ping_reply_timeout=0.2, auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE))
        assert isinstance(client, RecordingListener)
        await client.wait_frames(30)
        assert pings == []
        assert not transport.is_disconnected
        transport.disconnect()


async def test_ping_periodically_pings_a_chatty_peer() -> None:
    pings: list[float] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)

        async def chatter() -> None:
            for _ in range(40):
                writer.write(build_frame(2, b"."))
                await asyncio.sleep(0.02)

        task = asyncio.ensure_future(chatter())
        try:
            while True:
                opcode, _, payload = await read_frame(reader, expect_masked=True)
                if opcode == 9:
                    pings.append(time.monotonic())
                    writer.write(build_frame(10, payload))
        finally:
            task.cancel()

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, f"ws://127.0.0.1:{port}/", enable_auto_ping=True, auto_ping_idle_timeout=0.2,
            auto_ping_reply_timeout=0.5, auto_ping_strategy=WSAutoPingStrategy.PING_PERIODICALLY))
        assert isinstance(client, RecordingListener)
        await client.wait_frames(30)
        assert len(pings) >= 1
        assert not transport.is_disconnected
        transport.disconnect()


async def test_server_auto_ping_disconnects_silent_client() -> None:
    async with ws_server(RecordingListener, enable_auto_ping=True, auto_ping_idle_timeout=0.2,
                         auto_ping_reply_timeout=0.2) as server:
        raw = await raw_client(server.port)
        opcode, _, _ = await raw.read_frame()
        assert opcode == 9
        # We never answer: the server gives up, sends a close and drops TCP.
        data = await raw.wait_eof()
        assert data[:1] in (b"", b"\x88")
        listener = await server.first_listener()
        assert listener.transport is not None  # type: ignore[attr-defined]
        with pytest.raises(picows.WSError):
            await bounded(listener.transport.wait_disconnected())  # type: ignore[attr-defined]
        raw.close()


async def test_user_specific_ping_pong() -> None:
    pongs_seen: list[bytes] = []

    class AppPing(RecordingListener):
        def send_user_specific_ping(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, b"app-ping")

        def is_user_specific_pong(self, frame: WSFrame) -> bool:
            if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"app-ping":
                pongs_seen.append(frame.get_payload_as_bytes())
                return True
            return False

    async with ws_server() as server:  # the echo server answers the app-level ping with the same text
        transport, client = await bounded(picows.ws_connect(
            AppPing, server.url(), enable_auto_ping=True, auto_ping_idle_timeout=0.1, auto_ping_reply_timeout=0.3))
        await asyncio.sleep(0.7)
        assert not transport.is_disconnected
        assert len(pongs_seen) >= 2
        assert isinstance(client, RecordingListener)
        assert all(f[3] != b"app-ping" for f in client.frames)  # consumed by is_user_specific_pong
        transport.send(WSMsgType.TEXT, b"regular")
        await client.wait_for(lambda: (WSMsgType.TEXT, True, False, b"regular") in client.frames)
        transport.disconnect()


async def test_notify_user_specific_pong_received() -> None:
    class NotifyPing(RecordingListener):
        def send_user_specific_ping(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.BINARY, b"hb")

        def is_user_specific_pong(self, frame: WSFrame) -> bool:
            return False

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            super().on_ws_frame(transport, frame)
            if frame.get_payload_as_bytes() == b"hb":
                transport.notify_user_specific_pong_received()

    async with ws_server() as server:
        transport, client = await bounded(picows.ws_connect(
            NotifyPing, server.url(), enable_auto_ping=True, auto_ping_idle_timeout=0.1,
            auto_ping_reply_timeout=0.3))
        await asyncio.sleep(0.8)
        assert not transport.is_disconnected
        assert isinstance(client, RecordingListener)
        assert len([f for f in client.frames if f[3] == b"hb"]) >= 2
        transport.disconnect()


async def test_user_specific_ping_without_answer_disconnects() -> None:
    class NoAnswer(RecordingListener):
        def send_user_specific_ping(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.BINARY, b"hb")

        def is_user_specific_pong(self, frame: WSFrame) -> bool:
            return False

    async with ws_server() as server:
        transport, _ = await bounded(picows.ws_connect(
            NoAnswer, server.url(), enable_auto_ping=True, auto_ping_idle_timeout=0.1,
            auto_ping_reply_timeout=0.2))
        with pytest.raises(picows.WSError):
            await bounded(transport.wait_disconnected())


async def test_measure_roundtrip_time_against_raw_peer_pong_payload() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        while True:
            opcode, _, payload = await read_frame(reader, expect_masked=True)
            if opcode == 9:
                await asyncio.sleep(0.05)
                writer.write(build_frame(10, payload))

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        rtts = await bounded(transport.measure_roundtrip_time(3))
        assert len(rtts) == 3 and all(0.04 <= x < WAIT for x in rtts)
        assert isinstance(client, RecordingListener) and client.frames == []
        transport.disconnect()


# ---- on_ws_disconnected after a failure -------------------------------------------------------------------


async def test_on_ws_disconnected_called_after_protocol_error() -> None:
    """on_ws_disconnected runs once for every connection that completed the handshake, failed ones included."""
    received: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _bad_server_peer(build_frame(3, b""), received, True, reader, writer)

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        assert isinstance(client, RecordingListener)
        transport.send(WSMsgType.TEXT, b"ready")
        with pytest.raises(WSProtocolError):
            await bounded(transport.wait_disconnected())
        assert client.disconnected.is_set(), "on_ws_disconnected was not called after the protocol error"


async def test_on_ws_disconnected_called_after_listener_exception() -> None:
    async with ws_server() as server:
        transport, listener = await bounded(picows.ws_connect(Raiser, server.url()))
        assert isinstance(listener, RecordingListener)
        transport.send(WSMsgType.TEXT, b"echo me")
        with pytest.raises(RuntimeError):
            await bounded(transport.wait_disconnected())
        assert listener.disconnected.is_set(), "on_ws_disconnected was not called after the listener raised"


async def test_on_ws_disconnected_called_on_server_after_protocol_error() -> None:
    async with ws_server(RecordingListener) as server:
        raw = await raw_client(server.port)
        raw.writer.write(build_frame(2, b"unmasked"))
        await raw.read_close()
        await raw.wait_eof()
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        await asyncio.sleep(0.05)
        assert listener.disconnected.is_set(), "on_ws_disconnected was not called after the protocol error"
        raw.close()


async def test_on_ws_disconnected_called_after_auto_ping_timeout() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        await reader.read()

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, f"ws://127.0.0.1:{port}/", enable_auto_ping=True, auto_ping_idle_timeout=0.1,
            auto_ping_reply_timeout=0.1))
        assert isinstance(client, RecordingListener)
        with pytest.raises(picows.WSError):
            await bounded(transport.wait_disconnected())
        assert client.disconnected.is_set()


# ---- close edge cases ---------------------------------------------------------------------------------------


async def test_data_after_close_in_same_read_is_not_delivered() -> None:
    async with ws_server(RecordingListener) as server:
        raw = await raw_client(server.port)
        raw.writer.write(client_frame(2, b"before") + client_frame(8, close_payload(1000))
                         + client_frame(2, b"after"))
        assert (await raw.read_close())[0] == 1000
        await raw.wait_eof()
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        await bounded(listener.disconnected.wait())
        assert [f[3] for f in listener.frames if f[0] == WSMsgType.BINARY] == [b"before"]
        raw.close()


async def test_client_two_close_frames_in_one_read() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        await read_frame(reader, expect_masked=True)  # "ready"
        writer.write(build_frame(8, close_payload(1000, b"one")) + build_frame(8, close_payload(1001, b"two")))
        opcode, _, payload = await read_frame(reader, expect_masked=True)
        assert opcode == 8 and payload[:2] == b"\x03\xe8"
        writer.close()

    async with raw_server(peer) as port:
        transport, client = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        transport.send(WSMsgType.TEXT, b"ready")
        await bounded(transport.wait_disconnected())  # a normal close: nothing raised
        hs = transport.close_handshake
        assert hs is not None and hs.recv is not None and hs.recv.code == 1000 and hs.recv.reason == "one"
        assert hs.recv_then_sent


async def test_send_close_truncates_long_reason_on_character_boundary() -> None:
    async with ws_server(RecordingListener) as server:
        transport, _ = await bounded(picows.ws_connect(RecordingListener, server.url()))
        transport.send_close(WSCloseCode.GOING_AWAY, "€" * 60)  # 180 bytes of UTF-8
        await bounded(transport.wait_disconnected())  # the server did not fail us for a bad close frame
        listener = await server.first_listener()
        assert isinstance(listener, RecordingListener)
        closes = [f[3] for f in listener.frames if f[0] == WSMsgType.CLOSE]
        assert len(closes) == 1
        payload = closes[0]
        assert len(payload) <= 125
        assert payload[:2] == (1001).to_bytes(2, "big")
        assert payload[2:].decode() == "€" * 41


async def test_send_close_rejects_invalid_codes() -> None:
    async with ws_server() as server:
        transport, _ = await bounded(picows.ws_connect(RecordingListener, server.url()))
        for code in (999, 5000, 70000):
            with pytest.raises((ValueError, OverflowError)):
                transport.send_close(code)
        assert not transport.is_close_frame_sent
        transport.disconnect()


async def test_send_rejects_invalid_opcode() -> None:
    async with ws_server() as server:
        transport, _ = await bounded(picows.ws_connect(RecordingListener, server.url()))
        for opcode in (3, 7, 0xB, 0xF):
            with pytest.raises(ValueError):
                transport.send(opcode, b"x")  # type: ignore[arg-type]
        transport.disconnect()


# ---- flow control -----------------------------------------------------------------------------------------


async def test_pause_and_resume_writing_reach_listener() -> None:
    events: list[str] = []

    class Flooder(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            chunk = b"f" * 65536
            for _ in range(128):  # 8 MiB to a peer that does not read yet
                transport.send(WSMsgType.BINARY, chunk)

        def pause_writing(self) -> None:
            events.append("pause")

        def resume_writing(self) -> None:
            events.append("resume")

    async with ws_server(Flooder) as server:
        raw = await raw_client(server.port)
        await asyncio.sleep(0.1)
        assert events[:1] == ["pause"]
        total = 0
        while total < 128 * (65536 + 4):
            data = await bounded(raw.reader.read(1 << 20))
            assert data
            total += len(data)
        await asyncio.sleep(0.05)
        assert events == ["pause", "resume"]
        raw.close()
