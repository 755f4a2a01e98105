"""picows' own plain-TCP transport (picows._socket.SocketTransport), used by ws_connect(fast_transport=True).

Every test runs under the asyncio loop and under uvloop (tests/conftest.py): SocketTransport only needs
loop.add_reader / loop.add_writer, which both provide.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct

import pytest

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport
from picows._frame import encode_frame
from picows._socket import SocketTransport
from picows._tls import TLSTransport
from tests.utils import WAIT, RecordingListener, bounded, raw_server, raw_server_handshake, ws_server


async def fast_connect(
    url: str, factory: type[WSListener] = RecordingListener, **kwargs: object
) -> tuple[WSTransport, RecordingListener]:
    transport, listener = await bounded(picows.ws_connect(factory, url, fast_transport=True, **kwargs))  # type: ignore[arg-type]
    assert isinstance(listener, RecordingListener)
    assert isinstance(transport.underlying_transport, SocketTransport)
    return transport, listener


async def test_echo_and_close_handshake() -> None:
    async with ws_server() as server:
        transport, client = await fast_connect(server.url())
        for i in range(50):
            transport.send(WSMsgType.BINARY, bytes([i]) * (i * 37))
        frames = await client.wait_frames(50)
        assert [f[3] for f in frames] == [bytes([i]) * (i * 37) for i in range(50)]
        transport.send_close(picows.WSCloseCode.OK, "bye")
        await bounded(transport.wait_disconnected())
        assert client.disconnected.is_set()
        handshake = transport.close_handshake
        assert handshake is not None and handshake.recv is not None
        assert handshake.recv.code == picows.WSCloseCode.OK


async def test_large_message_in_both_directions() -> None:
    payload = bytes(range(256)) * 40_000  # ~10 MB: many partial sends and reads
    async with ws_server(max_frame_size=2**25) as server:
        transport, client = await fast_connect(server.url(), max_frame_size=2**25)
        transport.send(WSMsgType.BINARY, payload)
        frames = await client.wait_frames(1)
        assert frames[0][3] == payload
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_extra_info_and_transport_interface() -> None:
    async with ws_server() as server:
        transport, _ = await fast_connect(server.url())
        under = transport.underlying_transport
        assert isinstance(under, SocketTransport)
        assert under.get_extra_info("sslcontext") is None
        assert under.get_extra_info("peername") == ("127.0.0.1", server.port)
        assert under.get_extra_info("sockname")[0] == "127.0.0.1"
        sock = under.get_extra_info("socket")
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert under.get_extra_info("nonexistent", 42) == 42
        assert under.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        under.set_write_buffer_limits(high=1000)
        assert under.get_write_buffer_limits() == (250, 1000)
        with pytest.raises(ValueError):
            under.set_write_buffer_limits(high=10, low=20)
        assert under.get_write_buffer_size() == 0
        assert under.is_reading() and not under.is_closing()
        under.pause_reading()
        assert not under.is_reading()
        under.resume_reading()
        assert under.is_reading()
        assert under.get_protocol() is not None
        assert not transport.is_secure
        transport.disconnect()
        await bounded(transport.wait_disconnected())
        assert under.is_closing()
        assert sock.fileno() == -1  # closed once connection_lost ran


async def test_pause_and_resume_writing_reach_listener() -> None:
    events: list[str] = []

    class Flooder(RecordingListener):
        def pause_writing(self) -> None:
            events.append("pause")

        def resume_writing(self) -> None:
            events.append("resume")

    async with ws_server(max_frame_size=2**25) as server:
        transport, client = await fast_connect(server.url(), Flooder)
        peer = await server.first_listener()
        assert peer.transport is not None  # type: ignore[attr-defined]
        peer.transport.underlying_transport.pause_reading()  # type: ignore[attr-defined]
        chunk = b"f" * 65536
        for _ in range(128):  # 8 MiB to a peer that does not read
            transport.send(WSMsgType.BINARY, chunk)
        assert events == ["pause"]
        assert transport.underlying_transport.get_write_buffer_size() > 64 * 1024
        peer.transport.underlying_transport.resume_reading()  # type: ignore[attr-defined]
        await bounded(client.wait_frames(128))
        assert events == ["pause", "resume"]
        assert transport.underlying_transport.get_write_buffer_size() == 0
        transport.disconnect()


async def test_graceful_disconnect_flushes_the_write_buffer() -> None:
    async with ws_server(RecordingListener, max_frame_size=2**25) as server:
        transport, _ = await fast_connect(server.url())
        payload = b"z" * (4 * 1024 * 1024)
        transport.send(WSMsgType.BINARY, payload)
        assert transport.underlying_transport.get_write_buffer_size() > 0
        transport.disconnect()  # graceful: the buffered bytes still go out
        await bounded(transport.wait_disconnected())
        peer = await server.first_listener()
        assert isinstance(peer, RecordingListener)
        await peer.wait_frames(1)
        assert peer.frames[0][3] == payload


async def test_abort_drops_the_buffer_and_disconnects_once() -> None:
    calls: list[str] = []

    class Counting(RecordingListener):
        def on_ws_disconnected(self, transport: WSTransport) -> None:
            calls.append("disconnected")
            super().on_ws_disconnected(transport)

    async with ws_server(RecordingListener, max_frame_size=2**25) as server:
        transport, _ = await fast_connect(server.url(), Counting)
        transport.send(WSMsgType.BINARY, b"a" * (4 * 1024 * 1024))
        transport.disconnect(graceful=False)
        transport.disconnect(graceful=False)
        assert transport.underlying_transport.get_write_buffer_size() == 0
        await bounded(transport.wait_disconnected())
        await asyncio.sleep(0.05)
        assert calls == ["disconnected"]
        # Writes after the connection is gone are dropped silently, like asyncio's transports do.
        transport.underlying_transport.write(b"ignored")


async def test_peer_closing_tcp_without_close_frame() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        writer.write(b"\x82\x02hi")
        await writer.drain()
        writer.close()

    async with raw_server(handler) as port:
        transport, client = await fast_connect(f"ws://127.0.0.1:{port}/")
        await bounded(transport.wait_disconnected())
        assert client.frames == [(WSMsgType.BINARY, True, False, b"hi")]
        assert client.disconnected.is_set()
        assert transport.is_disconnected


async def test_connection_reset_by_peer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        await reader.read(10)
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with raw_server(handler) as port:
        transport, client = await fast_connect(f"ws://127.0.0.1:{port}/")
        transport.send(WSMsgType.BINARY, b"trigger")
        await bounded(transport.wait_disconnected())
        assert client.disconnected.is_set()


async def test_socket_factory_with_unconnected_socket() -> None:
    made: list[socket.socket] = []

    def factory(url: object) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        made.append(sock)
        return sock

    async with ws_server() as server:
        transport, client = await fast_connect(server.url(), socket_factory=factory)
        assert transport.underlying_transport.get_extra_info("socket") is made[0]
        transport.send(WSMsgType.TEXT, "ok")
        assert (await client.wait_frames(1))[0][3] == b"ok"
        transport.disconnect()


async def test_connect_refused_raises_and_closes_the_socket() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectionRefusedError):
        await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/", fast_transport=True))


async def test_kwargs_and_fast_transport_do_not_mix() -> None:
    with pytest.raises(TypeError, match="fast_transport"):
        await picows.ws_connect(
            RecordingListener, "ws://127.0.0.1:1/", fast_transport=True, local_addr=("127.0.0.1", 0)
        )


async def test_wss_runs_on_the_tls_transport_unless_turned_off(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context) as server:
        for fast, expected in ((True, TLSTransport), (False, None)):
            transport, client = await bounded(
                picows.ws_connect(
                    RecordingListener, server.url(secure=True), ssl_context=client_ssl_context, fast_transport=fast
                )
            )
            under = transport.underlying_transport
            assert isinstance(under, TLSTransport) if expected else not isinstance(under, SocketTransport)
            assert transport.is_secure
            transport.send(WSMsgType.TEXT, "tls")
            assert isinstance(client, RecordingListener)
            assert (await client.wait_frames(1))[0][3] == b"tls"
            transport.disconnect()
            await bounded(transport.wait_disconnected())


async def test_fast_transport_false_uses_the_loop_transport() -> None:
    async with ws_server() as server:
        transport, _ = await bounded(picows.ws_connect(RecordingListener, server.url(), fast_transport=False))
        assert not isinstance(transport.underlying_transport, SocketTransport)
        transport.disconnect()
        await bounded(transport.wait_disconnected(), WAIT)


# ---- the server side: ws_create_server(fast_transport=True) ---------------------------------------------------


async def test_fast_server_echoes_and_uses_socket_transport() -> None:
    from picows._fastserver import WSServer

    async with ws_server(fast_transport=True) as server:
        assert isinstance(server.server, WSServer)
        assert isinstance(server.server, asyncio.Server)
        assert server.server.is_serving()
        for fast_client in (False, True):
            transport, client = await bounded(
                picows.ws_connect(RecordingListener, server.url(), fast_transport=fast_client)
            )
            assert isinstance(client, RecordingListener)
            transport.send(WSMsgType.TEXT, "echo me")
            assert (await client.wait_frames(1))[0][3] == b"echo me"
            transport.disconnect()
            await bounded(transport.wait_disconnected())
        peer = server.listeners[0]
        assert isinstance(peer, RecordingListener) and peer.transport is not None
        assert isinstance(peer.transport.underlying_transport, SocketTransport)
        assert peer.transport.underlying_transport.get_extra_info("sockname") == ("127.0.0.1", server.port)


async def test_fast_server_lifecycle() -> None:
    server = await picows.ws_create_server(
        lambda request: RecordingListener(), "127.0.0.1", 0, fast_transport=True, start_serving=False
    )
    assert not server.is_serving()
    port = server.sockets[0].getsockname()[1]
    await server.start_serving()
    assert server.is_serving()
    serving = asyncio.ensure_future(server.serve_forever())
    await asyncio.sleep(0)
    transport, _ = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert not server.is_serving() and server.sockets == ()
    await bounded(server.wait_closed())
    # Accepted connections outlive the listening socket, as with asyncio.Server.
    assert not transport.is_disconnected
    transport.disconnect()
    await bounded(transport.wait_disconnected())
    with pytest.raises(OSError):
        await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/", fast_transport=True))


async def test_fast_server_async_with_and_host_list() -> None:
    server = await picows.ws_create_server(
        lambda request: RecordingListener(), ["127.0.0.1", "localhost"], 0, fast_transport=True
    )
    async with server:
        assert len(server.sockets) >= 1
        port = server.sockets[0].getsockname()[1]
        transport, _ = await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))
        transport.disconnect()
    assert server.sockets == () and not server.is_serving()


async def test_fast_server_refuses_unsupported_arguments_and_serves_tls_itself(
    server_ssl_context: ssl.SSLContext,
) -> None:
    from picows._fastserver import WSServer

    with pytest.raises(TypeError, match="fast_transport"):
        await picows.ws_create_server(
            lambda request: RecordingListener(), "127.0.0.1", 0, fast_transport=True, family=socket.AF_INET
        )
    server = await picows.ws_create_server(
        lambda request: RecordingListener(), "127.0.0.1", 0, ssl_context=server_ssl_context, fast_transport=True
    )
    assert isinstance(server, WSServer)
    server.close()
    await bounded(server.wait_closed())
    server = await picows.ws_create_server(
        lambda request: RecordingListener(), "127.0.0.1", 0, ssl_context=server_ssl_context, fast_transport=False
    )
    assert not isinstance(server, WSServer)
    server.close()
    await bounded(server.wait_closed())


async def test_fast_server_bind_conflict_raises() -> None:
    async with ws_server(fast_transport=True) as server:
        with pytest.raises(OSError, match="bind"):
            await picows.ws_create_server(
                lambda request: RecordingListener(), "127.0.0.1", server.port, fast_transport=True, reuse_address=False
            )


class _BufferProbe(WSListener):
    """Echoes data frames and records the transport's write-buffer size right after each echo."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered: list[int] = []
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            transport.send(WSMsgType.BINARY, frame.get_payload_as_bytes())
            self.buffered.append(transport.underlying_transport.get_write_buffer_size())


async def _echo_one_write(payloads: list[bytes]) -> _BufferProbe:
    """Send ``payloads`` as masked frames in one write to a _BufferProbe server; check the echoes; return the probe."""
    batch = b"".join(encode_frame(WSMsgType.BINARY, p, mask_key=b"\x01\x02\x03\x04") for p in payloads)
    async with ws_server(_BufferProbe, fast_transport=True, max_frame_size=2**20) as server:
        transport, client = await fast_connect(server.url(), max_frame_size=2**20)
        await asyncio.sleep(0.05)
        transport.underlying_transport.write(batch)
        frames = await client.wait_frames(len(payloads))
        assert [f[3] for f in frames] == payloads
        probe = server.listeners[0]
        assert isinstance(probe, _BufferProbe)
        assert len(probe.buffered) == len(payloads)
        assert probe.transport is not None
        assert isinstance(probe.transport.underlying_transport, SocketTransport)
        assert probe.transport.underlying_transport.get_write_buffer_size() == 0  # flushed when the read was done
        transport.disconnect()
        await bounded(transport.wait_disconnected())
    return probe


async def test_writes_made_while_handling_a_read_go_out_together_and_in_order() -> None:
    # 60 frames arrive in one read: the echoes are gathered and sent with one send() when the callbacks return,
    # except a frame too large to be worth copying, which flushes what was gathered and goes at once.
    probe = await _echo_one_write([bytes([i]) * (20_000 if i == 30 else 100 + i) for i in range(60)])
    # While corked the echoes accumulate: the buffer holds the 2nd echo on top of the 1st, and so on.
    assert probe.buffered[1] > probe.buffered[0] > 0
    assert probe.buffered[30] == 0  # the large echo flushed everything and went straight out


async def test_gathered_writes_past_the_buffer_growth_and_the_total_limit_keep_their_order() -> None:
    # One write of 200 frames: the echoes fill the gathering buffer past its first 16 KiB (it grows), then past
    # its 64 KiB limit (it is sent and gathering starts again); a 16 KiB + 1 echo in the middle goes straight out
    # after what was gathered. Every echo arrives whole and in order, on both sides of each boundary.
    probe = await _echo_one_write([bytes([i % 256]) * (16 * 1024 + 1 if i == 77 else 500 + 7 * i) for i in range(200)])
    assert max(probe.buffered) <= 64 * 1024 + 16 * 1024  # gathered bytes stay bounded
    assert probe.buffered[77] == 0

class _Burst(WSListener):
    """On any message, sends a burst of frames of mixed sizes from a loop callback (outside the read's callbacks)."""

    SIZES = [100, 3_000, 70_000, 50, 250_000, 2_049, 16_000, 1, 1_000_000, 9_000]

    def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            asyncio.get_running_loop().call_soon(self.burst, transport)

    def burst(self, transport: WSTransport) -> None:
        for i, size in enumerate(self.SIZES):
            transport.send(WSMsgType.BINARY, bytes([i]) * size)


async def test_large_unmasked_frames_sent_without_a_copy_arrive_whole_and_in_order() -> None:
    # Server frames over 2 KiB go out as header + payload in one sendmsg(); what the kernel does not take is
    # buffered, and the frames that follow queue behind it.
    async with ws_server(_Burst, fast_transport=True, max_frame_size=2**21) as server:
        transport, client = await fast_connect(server.url(), max_frame_size=2**21)
        transport.send(WSMsgType.BINARY, b"go")
        frames = await client.wait_frames(len(_Burst.SIZES))
        assert [f[3] for f in frames] == [bytes([i]) * size for i, size in enumerate(_Burst.SIZES)]
        transport.disconnect()
        await bounded(transport.wait_disconnected())


class _PayloadIdentityProbe(RecordingListener):
    """Records whether two get_payload_as_bytes() calls on one frame return the same object (no copy)."""

    def __init__(self) -> None:
        super().__init__()
        self.same_object: list[bool] = []

    def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
        self.same_object.append(frame.get_payload_as_bytes() is frame.get_payload_as_bytes())
        super().on_ws_frame(transport, frame)


@pytest.mark.parametrize("fast_transport", [True, False], ids=["socket-transport", "loop-transport"])
async def test_large_frames_are_received_into_the_bytes_the_listener_gets(fast_transport: bool) -> None:
    # Large frames (server -> client unmasked, client -> server masked) are read straight into their bytes
    # object; small ones are copied out of the read buffer as before. Both arrive intact and in order.
    sizes = [100_000, 10, 1_000_000, 40_000, 300]
    payloads = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    async with ws_server(_PayloadIdentityProbe, max_frame_size=2**21) as server:
        transport, client = await bounded(
            picows.ws_connect(_PayloadIdentityProbe, server.url(), fast_transport=fast_transport,
                              max_frame_size=2**21)
        )
        assert isinstance(client, _PayloadIdentityProbe)
        for payload in payloads:
            transport.send(WSMsgType.BINARY, payload)
        await bounded(server.listeners[0].wait_frames(len(payloads)))  # type: ignore[attr-defined]
        server_side = server.listeners[0]
        assert isinstance(server_side, _PayloadIdentityProbe)
        assert [f[3] for f in server_side.frames] == payloads
        assert server_side.same_object == [n >= 32 * 1024 for n in sizes]
        for payload in payloads:
            server_side.transport.send(WSMsgType.BINARY, payload)  # type: ignore[union-attr]
        frames = await client.wait_frames(len(payloads))
        assert [f[3] for f in frames] == payloads
        assert client.same_object == [n >= 32 * 1024 for n in sizes]
        transport.disconnect()
        await bounded(transport.wait_disconnected())


@pytest.mark.parametrize("fast_transport", [True, False], ids=["socket-transport", "loop-transport"])
async def test_idle_connection_holds_no_read_buffer_after_the_handshake(fast_transport: bool) -> None:
    # The handshake's bytes were read into the frame reader's buffer; once it is done the buffer is freed, so
    # an idle connection costs no read buffer. The next read allocates it again, and frames flow as before.
    async with ws_server(fast_transport=fast_transport) as server:
        transport, client = await bounded(
            picows.ws_connect(RecordingListener, server.url(), fast_transport=fast_transport)
        )
        assert isinstance(client, RecordingListener)
        protocol = transport.underlying_transport.get_protocol()
        assert protocol.reader.buffer_capacity == 0
        transport.send(WSMsgType.BINARY, b"ping")
        frames = await client.wait_frames(1)
        assert frames[0][3] == b"ping"
        assert protocol.reader.buffer_capacity > 0
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def _read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One masked client frame (no fragmentation): its opcode and unmasked payload."""
    head = await reader.readexactly(2)
    size = head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4)
    masked = await reader.readexactly(size)
    mask = (key * (size // 4 + 1))[:size]
    payload = (int.from_bytes(masked, "big") ^ int.from_bytes(mask, "big")).to_bytes(size, "big")
    return head[0] & 0x0F, payload


async def test_a_large_frame_behind_gathered_writes_keeps_its_buffer_when_pause_writing_sends() -> None:
    # A client's large masked frame is built in a buffer all connections share. When writes gathered during a read
    # go out before it and fill the kernel, pause_writing() runs while the frame still waits in that buffer; a
    # large frame sent from it on another connection must be built elsewhere.
    small = b"s" * 15_000
    big_a = bytes(range(256)) * 800
    big_b = b"B" * 150_000
    others: list[WSTransport] = []
    go = asyncio.Event()
    paused = asyncio.Event()
    release = asyncio.Event()
    received: asyncio.Future[list[tuple[int, bytes]]] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        await go.wait()
        writer.write(b"\x82\x02go")
        await writer.drain()
        await release.wait()  # not reading meanwhile: the client's gathered writes fill the kernel
        received.set_result([await _read_client_frame(reader) for _ in range(5)])

    class Client(RecordingListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            super().on_ws_frame(transport, frame)
            if self.frames[-1][3] == b"go":
                for _ in range(4):
                    transport.send(WSMsgType.BINARY, small)  # gathered: sent when the large frame is
                transport.send(WSMsgType.BINARY, big_a)

        def pause_writing(self) -> None:
            if others:
                others.pop().send(WSMsgType.BINARY, big_b)
            paused.set()

    # A small receive window on the server's side, so that the kernel takes only part of the gathered writes.
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handler, sock=listener)
    try:
        async with ws_server() as echo:
            transport_a, client_a = await fast_connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", Client)
            transport_b, client_b = await fast_connect(echo.url(), max_frame_size=2**20)
            others.append(transport_b)
            under = transport_a.underlying_transport
            under.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            under.set_write_buffer_limits(high=1024)
            go.set()
            await bounded(paused.wait())
            assert not others  # pause_writing() sent on B
            release.set()
            frames = await bounded(received)
            assert [opcode for opcode, _ in frames] == [2] * 5
            assert [payload for _, payload in frames] == [small] * 4 + [big_a]
            assert (await client_b.wait_frames(1))[0][3] == big_b
            transport_b.disconnect()
            transport_a.disconnect()
            await bounded(transport_b.wait_disconnected())
    finally:
        server.close()
