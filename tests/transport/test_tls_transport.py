"""TLS on picows' own transport (picows._tls.TLSTransport): the handshake and its failures, data both ways, flow
control with decrypted data held back, close_notify, and a peer that is not picows.

Every test runs under the asyncio loop and under uvloop (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

import pytest

import picows
from picows import WSMsgType, WSTransport
from picows._tls import AVAILABLE, TLSTransport
from picows.highlevel import connect
from tests.utils import (
    RAW_KEY,
    WAIT,
    EchoListener,
    RecordingListener,
    accept_for,
    bounded,
    client_frame,
    close_payload,
    read_http_head,
    upgrade_request,
    ws_server,
)

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="picows._tls is not available with this Python's ssl module")


async def tls_connect(url: str, ctx: ssl.SSLContext, **kwargs: object) -> tuple[WSTransport, RecordingListener]:
    transport, listener = await bounded(
        picows.ws_connect(RecordingListener, url, ssl_context=ctx, fast_transport=True, **kwargs)  # type: ignore[arg-type]
    )
    assert isinstance(transport.underlying_transport, TLSTransport)
    assert isinstance(listener, RecordingListener)
    return transport, listener


async def test_both_sides_on_the_tls_transport_small_and_large_messages(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    big = bytes(range(256)) * 40_000  # ~10 MB: many records, partial sends, the kernel's buffer full both ways
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**25) as server:
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context, max_frame_size=2**25)
        listener = await server.first_listener()
        assert isinstance(listener, EchoListener) and listener.transport is not None
        assert isinstance(listener.transport.underlying_transport, TLSTransport)
        for i in range(200):
            transport.send(WSMsgType.BINARY, bytes([i % 256]) * i)
        transport.send(WSMsgType.BINARY, big)
        frames = await client.wait_frames(201)
        assert [f[3] for f in frames[:200]] == [bytes([i % 256]) * i for i in range(200)]
        assert frames[200][3] == big
        transport.send_close(picows.WSCloseCode.OK, "bye")
        await bounded(transport.wait_disconnected())
        assert transport.close_handshake is not None and transport.close_handshake.recv is not None
        assert transport.close_handshake.recv.code == picows.WSCloseCode.OK


async def test_extra_info_after_the_handshake(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        transport, _ = await tls_connect(server.url(secure=True), client_ssl_context)
        under = transport.underlying_transport
        assert under.get_extra_info("sslcontext") is client_ssl_context
        sslobj = under.get_extra_info("ssl_object")
        assert isinstance(sslobj, ssl.SSLObject) and sslobj.version() in ("TLSv1.2", "TLSv1.3")
        assert under.get_extra_info("peercert")["subjectAltName"]
        assert under.get_extra_info("cipher")[0]
        assert transport.is_secure
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_untrusted_certificate_and_wrong_hostname_fail_and_the_server_goes_on(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await bounded(picows.ws_connect(RecordingListener, server.url(secure=True), fast_transport=True,
                                            ssl_context=ssl.create_default_context()))
        with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
            await bounded(picows.ws_connect(RecordingListener, server.url(secure=True), fast_transport=True,
                                            ssl_context=client_ssl_context, server_hostname="wrong.example"))
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context)
        transport.send(WSMsgType.TEXT, "still serving")
        assert (await client.wait_frames(1))[0][3] == b"still serving"
        transport.disconnect()
        await bounded(transport.wait_disconnected())
        assert server.listeners == [server.listeners[0]]  # the failed handshakes never reached the factory


async def test_client_handshake_timeout(client_ssl_context: ssl.SSLContext) -> None:
    # A TCP server that accepts and never answers the ClientHello.
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(ConnectionAbortedError, match="TLS handshake"):
            await bounded(picows.ws_connect(RecordingListener, f"wss://127.0.0.1:{port}/", fast_transport=True,
                                            ssl_context=client_ssl_context, ssl_handshake_timeout=0.3))
        assert loop.time() - start < 2
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_server_drops_silent_and_plain_text_clients(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, ssl_handshake_timeout=0.3) as server:
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", server.port)
        plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", server.port)
        plain_writer.write(upgrade_request())  # HTTP where a ClientHello belongs
        # The plain-text client is dropped at once (perhaps after an alert), the silent one after the timeout.
        await bounded(plain_reader.read())
        assert await bounded(silent_reader.read()) == b""
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context)
        transport.send(WSMsgType.TEXT, "fine")
        assert (await client.wait_frames(1))[0][3] == b"fine"
        transport.disconnect()
        await bounded(transport.wait_disconnected())
        silent_writer.close()
        plain_writer.close()
        assert len(server.listeners) == 1


async def test_flow_control_delivers_what_was_decrypted_before_a_pause(
    server_ssl_context: ssl.SSLContext, tls_files: tuple[object, object]
) -> None:
    # The high-level client pauses reading when its queue holds max_queue messages. A burst of small
    # messages arrives in a few reads, so a pause leaves records in OpenSSL's buffers, which no readable event
    # announces again: resume_reading() must deliver them.
    count = 2000

    class Burst(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            for i in range(count):
                transport.send(WSMsgType.TEXT, f"message {i}")

    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    async with ws_server(Burst, ssl_context=server_ssl_context, fast_transport=True) as server:
        async with connect(server.url(secure=True), ssl=ctx, max_queue=4, compression=None, fast_transport=True) as ws:
            assert isinstance(ws._transport.underlying_transport, TLSTransport)
            received = []
            for _ in range(count):
                received.append(await bounded(ws.recv()))
                if len(received) % 100 == 0:
                    await asyncio.sleep(0.001)  # a slow consumer: the queue fills, reading pauses
            assert received == [f"message {i}" for i in range(count)]


def _blocking_tls_client(port: int, ctx: ssl.SSLContext, result: list[object]) -> None:
    # A plain ssl-module client, with ragged EOFs reported: after the close handshake, the server's
    # close_notify must end the stream (recv() returns b""), not a bare TCP FIN (SSLEOFError).
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as tls:
            tls.sendall(upgrade_request())
            head = b""
            while b"\r\n\r\n" not in head:
                head += tls.recv(4096)
            result.append(head)
            tls.sendall(client_frame(8, close_payload(1000)))
            data = b""
            try:
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                result.append(data)
            except ssl.SSLEOFError as exc:
                result.append(exc)


async def test_server_sends_close_notify_after_the_close_handshake(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        result: list[object] = []
        thread = threading.Thread(target=_blocking_tls_client, args=(server.port, client_ssl_context, result))
        thread.start()
        await bounded(asyncio.to_thread(thread.join))
        head, rest = result
        assert isinstance(head, bytes) and head.startswith(b"HTTP/1.1 101")
        assert accept_for(RAW_KEY).encode() in head
        assert isinstance(rest, bytes), rest  # not SSLEOFError: close_notify came
        assert rest[:2] == b"\x88\x02" and rest[2:4] == (1000).to_bytes(2, "big")


async def test_client_interoperates_with_asyncio_ssl_server(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # The peer is asyncio's own SSL transport (fast_transport=False), with a raw handshake check on top.
    async with ws_server(ssl_context=server_ssl_context, fast_transport=False) as server:
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context)
        payloads = [b"x" * n for n in (0, 1, 125, 126, 65535, 65536, 300_000)]
        for payload in payloads:
            transport.send(WSMsgType.BINARY, payload)
        frames = await client.wait_frames(len(payloads))
        assert [f[3] for f in frames] == payloads
        transport.send_close(picows.WSCloseCode.OK)
        await bounded(transport.wait_disconnected())


async def test_raw_http_head_over_tls(server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    # asyncio's SSL client against our TLS server: the upgrade and a first frame that arrive in one record.
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client_ssl_context)
        writer.write(upgrade_request() + client_frame(1, b"together"))
        status, headers = await bounded(read_http_head(reader))
        assert status.startswith("HTTP/1.1 101") and headers["sec-websocket-accept"] == accept_for(RAW_KEY)
        first = await bounded(reader.readexactly(2 + len(b"together")))
        assert first == b"\x81\x08together"
        writer.close()


async def test_disconnect_from_a_frame_callback_sends_the_replies_then_close_notify(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # The server answers and closes inside one read's callbacks: the gathered replies go out before close_notify,
    # a send after disconnect() is dropped, and nothing reaches the loop's exception handler.
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))

    class ReplyAndClose(RecordingListener):
        def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
            super().on_ws_frame(transport, frame)
            for i in range(3):
                transport.send(WSMsgType.TEXT, f"reply {i}")
            transport.disconnect()
            transport.send(WSMsgType.TEXT, "after disconnect")

    async with ws_server(ReplyAndClose, ssl_context=server_ssl_context, fast_transport=True) as server:
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context)
        transport.send(WSMsgType.TEXT, "go")
        await bounded(transport.wait_disconnected())
        assert [f[3] for f in client.data_frames()] == [b"reply 0", b"reply 1", b"reply 2"]
    assert errors == []


async def test_permessage_deflate_over_tls(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    text = ("compressible " * 20_000).encode()
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, permessage_deflate=True) as server:
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context, permessage_deflate=True)
        assert transport.response is not None
        assert "permessage-deflate" in (transport.response.headers.get("Sec-WebSocket-Extensions") or "")
        for _ in range(3):
            transport.send(WSMsgType.TEXT, text)
        frames = await client.wait_frames(3)
        assert [f[3] for f in frames] == [text] * 3
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_wss_falls_back_to_the_loop_transport_where_tls_is_unavailable(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picows import api
    from picows._fastserver import WSServer
    from picows._socket import SocketTransport

    monkeypatch.setattr(api, "_TLS_ON_FAST_TRANSPORT", False)
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        assert not isinstance(server.server, WSServer)
        transport, client = await bounded(picows.ws_connect(
            RecordingListener, server.url(secure=True), ssl_context=client_ssl_context, fast_transport=True))
        assert not isinstance(transport.underlying_transport, SocketTransport)
        transport.send(WSMsgType.TEXT, "on the loop's TLS")
        assert isinstance(client, RecordingListener)
        assert (await client.wait_frames(1))[0][3] == b"on the loop's TLS"
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_many_connections_share_the_ciphertext_buffers_without_mixing(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # Every TLS connection passes its ciphertext through the same two static buffers: interleaved traffic on
    # many connections must still reach each one intact.
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**20) as server:

        async def one(k: int) -> None:
            transport, client = await tls_connect(server.url(secure=True), client_ssl_context, max_frame_size=2**20)
            expected = [bytes([k]) * ((k * 7919 + i * 104729) % 70_000) for i in range(30)]
            for payload in expected:
                transport.send(WSMsgType.BINARY, payload)
                await asyncio.sleep(0)
            frames = await client.wait_frames(len(expected))
            assert [f[3] for f in frames] == expected
            transport.disconnect()
            await bounded(transport.wait_disconnected())

        await bounded(asyncio.gather(*(one(k) for k in range(20))), 30)


async def test_a_large_frame_from_the_server_shares_its_first_record_with_the_header(
    server_ssl_context: ssl.SSLContext, tls_files: tuple[object, object]
) -> None:
    # An unmasked frame above the small-frame size goes out as header + payload; over TLS the header must not be
    # a record of its own (22 bytes more on the wire and a record's cost of CPU at both ends).
    record_headers: list[bytes] = []

    def on_message(conn: object, direction: str, version: object, content_type: object, msg_type: object,
                   data: bytes) -> None:
        if direction == "read" and content_type == ssl._TLSContentType.HEADER:  # type: ignore[attr-defined]
            record_headers.append(data)

    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    ctx._msg_callback = on_message  # type: ignore[attr-defined]
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**20) as server:
        transport, client = await tls_connect(server.url(secure=True), ctx, max_frame_size=2**20)
        transport.send(WSMsgType.BINARY, b"warm up")
        await client.wait_frames(1)
        for i, size in enumerate((10_000, 16_370, 100_000)):
            before = len(record_headers)
            transport.send(WSMsgType.BINARY, bytes([i]) * size)
            frames = await client.wait_frames(i + 2)
            assert frames[-1][3] == bytes([i]) * size
            header = 4 if size < 65536 else 10
            assert len(record_headers) - before == -(-(size + header) // 16384), size  # full records only
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_a_busy_connection_keeps_openssls_buffers_until_it_is_idle(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # The ssl module has OpenSSL free its read and write buffers after every record; a busy connection keeps
    # them (fewer instructions per message), and gives them back once idle for a second.
    from picows import _tls

    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context)
        under = transport.underlying_transport
        assert isinstance(under, TLSTransport)
        assert not under._holding_buffers  # the upgrade alone is not busy
        for i in range(20):
            transport.send(WSMsgType.BINARY, b"%d" % i)
            await client.wait_frames(i + 1)
        assert under._holding_buffers is _tls._HOLDS_BUFFERS
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while under._holding_buffers and loop.time() < deadline:
            await asyncio.sleep(0.1)
        assert not under._holding_buffers
        transport.send(WSMsgType.BINARY, b"after the release")
        assert (await client.wait_frames(21))[20][3] == b"after the release"
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_the_ssl_object_cannot_take_the_transports_ciphertext(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # get_extra_info("ssl_object") is for inspection: reading from it outside the transport finds nothing (the
    # transport's BIO gives OpenSSL input only during its own calls), and the connection goes on.
    async with ws_server(ssl_context=server_ssl_context, fast_transport=True) as server:
        transport, client = await tls_connect(server.url(secure=True), client_ssl_context)
        sslobj = transport.underlying_transport.get_extra_info("ssl_object")
        transport.send(WSMsgType.TEXT, "one")
        await client.wait_frames(1)
        with pytest.raises(ssl.SSLWantReadError):
            sslobj.read(100)
        transport.send(WSMsgType.TEXT, "two")
        assert [f[3] for f in await client.wait_frames(2)] == [b"one", b"two"]
        transport.disconnect()
        await bounded(transport.wait_disconnected())


def test_event_loops_in_two_threads_keep_their_ciphertext_apart(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # The ciphertext buffers are per thread: a connection's unread input stays in its thread's receive buffer
    # while its listener runs Python code, and the GIL may pass to another thread's loop meanwhile (forced here
    # by a tiny switch interval), whose reads must not overwrite it.
    import sys

    async def scenario(k: int) -> None:
        async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**20) as server:
            transport, client = await tls_connect(server.url(secure=True), client_ssl_context,
                                                  max_frame_size=2**20)
            expected = [bytes([k, i % 256]) * ((i * 7919) % 3000 + 1) for i in range(400)]
            for burst in range(0, len(expected), 50):
                for payload in expected[burst:burst + 50]:
                    transport.send(WSMsgType.BINARY, payload)
                await client.wait_frames(burst + 50)
            assert [f[3] for f in client.frames] == expected
            transport.disconnect()
            await bounded(transport.wait_disconnected())

    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            asyncio.run(scenario(k))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


async def test_input_kept_over_a_pause_goes_before_new_input(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # A burst arrives in one read; the listener pauses reading after the first frame, so the rest of that
    # ciphertext is kept by the connection. If the socket becomes readable again before the kept input was read
    # (here: a readable event handled right after resume_reading()), the kept input still comes first.
    count = 3000

    class Burst(RecordingListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            # From a loop callback, not from the read that completed the upgrade: each frame its own record.
            asyncio.get_running_loop().call_soon(self.burst, transport)

        def burst(self, transport: WSTransport) -> None:
            for i in range(count):
                transport.send(WSMsgType.TEXT, f"first {i}")

    class PauseOnce(RecordingListener):
        paused = False

        def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
            super().on_ws_frame(transport, frame)
            if not self.paused:
                self.paused = True
                transport.underlying_transport.pause_reading()

    async with ws_server(Burst, ssl_context=server_ssl_context, fast_transport=True) as server:
        transport, client = await bounded(
            picows.ws_connect(PauseOnce, server.url(secure=True), ssl_context=client_ssl_context,
                              fast_transport=True)  # type: ignore[arg-type]
        )
        assert isinstance(client, PauseOnce)
        under = transport.underlying_transport
        assert isinstance(under, TLSTransport)
        await client.wait_for(lambda: client.paused)
        await asyncio.sleep(0.05)  # the rest of the burst is kept, or waits in the kernel
        assert len(client.data_frames()) < count
        listener = await server.first_listener()
        assert listener.transport is not None
        listener.transport.send(WSMsgType.TEXT, "after")
        await asyncio.sleep(0.05)
        under.resume_reading()
        under._on_readable()  # before the loop runs the read that resume_reading() scheduled
        await client.wait_frames(count + 1)
        assert [f[3] for f in client.data_frames()] == [f"first {i}".encode() for i in range(count)] + [b"after"]
        transport.disconnect()
        await bounded(transport.wait_disconnected())


async def test_a_frame_sent_from_pause_writing_leaves_the_one_being_encrypted_intact(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # A client builds a large masked frame in a shared scratch buffer; over TLS, encrypting it stops halfway to
    # send what is ready, and the kernel is full, so pause_writing() is due. It must come after the frame is
    # encrypted: a write from it would break into OpenSSL's unfinished one. (That the scratch buffer is not
    # reused meanwhile is tested over TCP, in test_socket_transport.py.)
    # The largest frame built in the scratch buffer (256 KiB with its header): its TLS records' overhead makes its
    # ciphertext larger than the 256 KiB output buffer, so encrypting it needs a send() halfway.
    big_a = bytes(range(256)) * 1024
    big_a = big_a[: len(big_a) - 14]
    big_b = b"B" * 150_000
    others: list[WSTransport] = []

    class SendsOnPause(RecordingListener):
        def pause_writing(self) -> None:
            if others:
                others.pop().send(WSMsgType.BINARY, big_b)
                # And on this connection: after the frame being written, never inside it.
                assert self.transport is not None
                self.transport.send(WSMsgType.TEXT, "after")

    async with ws_server(ssl_context=server_ssl_context, fast_transport=True, max_frame_size=2**20) as server:
        transport_a, client_a = await bounded(
            picows.ws_connect(SendsOnPause, server.url(secure=True), ssl_context=client_ssl_context,
                              fast_transport=True, max_frame_size=2**20)  # type: ignore[arg-type]
        )
        assert isinstance(client_a, SendsOnPause)
        transport_b, client_b = await tls_connect(server.url(secure=True), client_ssl_context, max_frame_size=2**20)
        others.append(transport_b)
        under = transport_a.underlying_transport
        under.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        under.set_write_buffer_limits(high=1024)
        transport_a.send(WSMsgType.BINARY, big_a)
        assert others == []  # pause_writing() ran while the frame was being written, and sent on B
        assert [f[3] for f in await client_a.wait_frames(2)] == [big_a, b"after"]
        assert (await client_b.wait_frames(1))[0][3] == big_b
        for transport in (transport_a, transport_b):
            transport.disconnect()
            await bounded(transport.wait_disconnected())
