"""permessage-deflate (RFC 7692) over loopback: our client and server, raw peers that check the wire, websockets.

Raw peers compress and decompress with Python's ``zlib`` (independent of the engine's ``_deflate``), read the
frame header bits themselves (RSV1 must be set on the first frame of a compressed message only) and write frames
the engine would never produce: corrupt deflate data, RSV1 on a continuation, a decompression bomb.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest

import picows
from picows import WSInvalidHeaderError, WSMsgType, WSTransport
from picows.extensions import WSDeflateOptions
from tests.utils import (
    WAIT,
    EchoListener,
    RawClient,
    RecordingListener,
    accept_for,
    apply_mask,
    bounded,
    build_frame,
    client_frame,
    raw_server,
    read_http_head,
    upgrade_request,
    ws_server,
)

ROOT = Path(__file__).resolve().parents[2]
TAIL = b"\x00\x00\xff\xff"
EXT = "sec-websocket-extensions"


def json_text(size: int, seed: int = 0) -> bytes:
    """JSON-like text of exactly ``size`` bytes: compressible, but not a single repeated byte."""
    out = bytearray(b"[")
    i = seed
    while len(out) < size:
        row = {
            "id": i,
            "sym": ("BTCUSD", "ETHUSD", "SOLUSD")[i % 3],
            "px": round(1000 + (i * 7919) % 997 / 7, 4),
            "side": "buy" if i % 2 else "sell",
        }
        out += json.dumps(row).encode() + b","
        i += 1
    return bytes(out[:size])


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """One message compressed as RFC 7692 7.2.1 says: raw deflate, sync flush, tail removed."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


async def read_raw(reader: asyncio.StreamReader, expect_masked: bool) -> tuple[int, bool, bool, bytes]:
    """Read one frame and keep the header bits: (opcode, fin, rsv1, payload as sent, unmasked)."""
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), WAIT)
    assert bool(b1 & 0x80) == expect_masked
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if expect_masked else b""
    payload = await asyncio.wait_for(reader.readexactly(n), WAIT)
    if key:
        payload = apply_mask(payload, key)
    assert not b0 & 0x30, "RSV2/RSV3 set"
    return b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), payload


async def read_raw_close(reader: asyncio.StreamReader, expect_masked: bool) -> int:
    """Skip frames until a close frame; return its code."""
    while True:
        opcode, _, _, payload = await read_raw(reader, expect_masked)
        if opcode == 8:
            return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005


async def raw_deflate_client(port: int, offer: str = "permessage-deflate") -> RawClient:
    """A raw client that offers ``offer`` and did the upgrade by hand."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    writer.write(upgrade_request(extra=f"Sec-WebSocket-Extensions: {offer}\r\n"))
    status, headers = await read_http_head(reader)
    assert status.startswith("HTTP/1.1 101"), status
    return RawClient(reader, writer, status, headers)


async def answer_101(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extensions: str | None
) -> dict[str, str]:
    """Answer a client's upgrade by hand with ``extensions`` as Sec-WebSocket-Extensions (None: no header)."""
    _, headers = await read_http_head(reader)
    ext = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions is not None else ""
    writer.write(
        (
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_for(headers['sec-websocket-key'])}\r\n{ext}\r\n"
        ).encode()
    )
    await writer.drain()
    return headers


async def connect(url: str, **kwargs: Any) -> tuple[WSTransport, RecordingListener]:
    transport, listener = await bounded(picows.ws_connect(RecordingListener, url, **kwargs))
    assert isinstance(listener, RecordingListener)
    return transport, listener


async def echo_message(transport: WSTransport, listener: RecordingListener, msg_type: WSMsgType, data: bytes) -> bytes:
    """Send one message and return the payload of the echo (one frame)."""
    before = len(listener.frames)
    transport.send(msg_type, data)
    frames = await listener.wait_frames(before + 1, timeout=3 * WAIT)
    got_type, fin, rsv1, payload = frames[before]
    assert (got_type, fin, rsv1) == (msg_type, True, False)
    return payload


# ---- our client <-> our server ------------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", [WSMsgType.TEXT, WSMsgType.BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("size", [0, 1, 100, 1024 * 1024], ids=["empty", "1B", "100B", "1MiB"])
async def test_round_trip(msg_type: WSMsgType, size: int) -> None:
    data = json_text(size) if msg_type == WSMsgType.TEXT else os.urandom(size // 2) + json_text(size - size // 2)
    async with ws_server(permessage_deflate=True) as server:
        transport, listener = await connect(server.url(), permessage_deflate=True)
        assert "permessage-deflate" in transport.response.headers.get("Sec-WebSocket-Extensions", "")
        assert await echo_message(transport, listener, msg_type, data) == data
        # The server side got it decompressed too.
        srv = await server.first_listener()
        assert isinstance(srv, RecordingListener)
        assert srv.data_frames()[0] == (msg_type, True, False, data)
        transport.disconnect()


async def test_many_messages_share_the_context() -> None:
    # With context takeover each message depends on the previous ones: a lost or reordered state breaks them.
    msgs = [json_text(200 + 37 * i, seed=i % 3) for i in range(50)]
    async with ws_server(permessage_deflate=True) as server:
        transport, listener = await connect(server.url(), permessage_deflate=True)
        for m in msgs:
            transport.send(WSMsgType.TEXT, m)
        await listener.wait_frames(len(msgs))
        assert [f[3] for f in listener.frames] == msgs
        transport.disconnect()


async def test_fragmented_send_arrives_as_the_same_frames() -> None:
    parts = [json_text(3000, seed=1), json_text(1, seed=2), b"", json_text(70000, seed=3)]
    async with ws_server(RecordingListener, permessage_deflate=True) as server:
        transport, _ = await connect(server.url(), permessage_deflate=True)
        transport.send(WSMsgType.TEXT, parts[0], fin=False)
        for p in parts[1:-1]:
            transport.send(WSMsgType.CONTINUATION, p, fin=False)
        transport.send(WSMsgType.CONTINUATION, parts[-1], fin=True)
        transport.send(WSMsgType.BINARY, b"after")
        srv = await server.first_listener()
        assert isinstance(srv, RecordingListener)
        frames = await srv.wait_frames(len(parts) + 1)
        assert [f[:3] for f in frames] == [(WSMsgType.TEXT, False, False)] + [
            (WSMsgType.CONTINUATION, False, False)
        ] * (len(parts) - 2) + [(WSMsgType.CONTINUATION, True, False), (WSMsgType.BINARY, True, False)]
        assert b"".join(f[3] for f in frames[:-1]) == b"".join(parts)
        assert frames[-1][3] == b"after"
        transport.disconnect()


# ---- the wire, seen by raw peers ----------------------------------------------------------------------------


async def test_server_wire_small_uncompressed_large_compressed() -> None:
    big = json_text(1000)
    async with ws_server(permessage_deflate=True) as server:
        raw = await raw_deflate_client(server.port)
        assert raw.headers[EXT].startswith("permessage-deflate")
        # A 1-byte message, sent uncompressed by the peer, is echoed uncompressed (under min_size): RSV1 clear.
        raw.writer.write(client_frame(1, b"x"))
        assert await read_raw(raw.reader, False) == (1, True, False, b"x")
        # A compressed 1000-byte message comes back compressed: RSV1 set, and zlib decodes it.
        raw.writer.write(client_frame(1, deflate(big), rsv1=True))
        opcode, fin, rsv1, payload = await read_raw(raw.reader, False)
        assert (opcode, fin, rsv1) == (1, True, True)
        assert len(payload) < len(big) // 2
        assert zlib.decompressobj(-15).decompress(payload + TAIL) == big
        raw.close()


async def test_client_wire_rsv1_on_first_frame_only_one_stream() -> None:
    got: asyncio.Future[list[tuple[int, bool, bool, bytes]]] = asyncio.get_running_loop().create_future()
    parts = [json_text(500, seed=4), json_text(300, seed=5), json_text(9000, seed=6)]

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_101(reader, writer, "permessage-deflate")
        frames = [await read_raw(reader, True) for _ in range(5)]
        got.set_result(frames)
        await reader.read()

    async with raw_server(peer) as port:
        transport, _ = await connect(f"ws://127.0.0.1:{port}/", permessage_deflate=True)
        transport.send(WSMsgType.TEXT, b"y")  # under min_size
        transport.send(WSMsgType.BINARY, parts[0], fin=False)
        transport.send(WSMsgType.CONTINUATION, parts[1], fin=False)
        transport.send(WSMsgType.CONTINUATION, parts[2], fin=True)
        transport.send(WSMsgType.TEXT, json_text(100))
        frames = await bounded(got)
        transport.disconnect()
    assert frames[0] == (1, True, False, b"y")
    assert [f[:3] for f in frames[1:4]] == [(2, False, True), (0, False, False), (0, True, False)]
    # One deflate stream across the fragments: each fragment alone is not a complete message.
    d = zlib.decompressobj(-15)
    assert d.decompress(b"".join(f[3] for f in frames[1:4]) + TAIL) == b"".join(parts)
    assert frames[4][:3] == (1, True, True)
    assert d.decompress(frames[4][3] + TAIL) == json_text(100)  # context carried over from the previous message


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no_takeover"])
async def test_client_context_takeover_on_the_wire(takeover: bool) -> None:
    got: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
    msg = json_text(2000)
    answer = "permessage-deflate" + ("" if takeover else "; client_no_context_takeover")

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_101(reader, writer, answer)
        got.set_result([(await read_raw(reader, True))[3] for _ in range(2)])
        await reader.read()

    async with raw_server(peer) as port:
        transport, _ = await connect(f"ws://127.0.0.1:{port}/", permessage_deflate=True)
        transport.send(WSMsgType.TEXT, msg)
        transport.send(WSMsgType.TEXT, msg)
        first, second = await bounded(got)
        transport.disconnect()
    if takeover:
        assert len(second) < len(first) // 4  # the repeat refers back into the previous message
        d = zlib.decompressobj(-15)
        assert d.decompress(first + TAIL) == msg and d.decompress(second + TAIL) == msg
    else:
        assert first == second  # each message compressed from an empty window
        assert zlib.decompressobj(-15).decompress(second + TAIL) == msg


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no_takeover"])
async def test_server_context_takeover_on_the_wire(takeover: bool) -> None:
    msg = json_text(2000)
    async with ws_server(permessage_deflate=True) as server:
        raw = await raw_deflate_client(
            server.port, "permessage-deflate" + ("" if takeover else "; server_no_context_takeover")
        )
        assert ("server_no_context_takeover" in raw.headers[EXT]) != takeover
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        for _ in range(2):
            raw.writer.write(client_frame(1, (c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH))[:-4], rsv1=True))
        first = (await read_raw(raw.reader, False))[3]
        second = (await read_raw(raw.reader, False))[3]
        raw.close()
    if takeover:
        assert len(second) < len(first) // 4
    else:
        assert first == second
        assert zlib.decompressobj(-15).decompress(second + TAIL) == msg


@pytest.mark.parametrize(("server_nct", "client_nct"), [(False, False), (True, False), (False, True), (True, True)])
async def test_no_context_takeover_options_round_trip(server_nct: bool, client_nct: bool) -> None:
    opts = WSDeflateOptions(server_no_context_takeover=server_nct, client_no_context_takeover=client_nct)
    async with ws_server(permessage_deflate=True) as server:
        transport, listener = await connect(server.url(), permessage_deflate=opts)
        ext = transport.response.headers["Sec-WebSocket-Extensions"]
        assert ("server_no_context_takeover" in ext) == server_nct
        assert ("client_no_context_takeover" in ext) == client_nct
        for i in range(6):
            msg = json_text(700 + i, seed=i % 2)
            assert await echo_message(transport, listener, WSMsgType.TEXT, msg) == msg
        transport.disconnect()


@pytest.mark.parametrize("bits", range(8, 16))
async def test_window_bits_negotiated_and_kept(bits: int) -> None:
    # 64 KiB whose repeats lie 1-3 KiB apart: beyond a small window, so an encoder that ignored the limit
    # would emit distances the raw peer's small-window inflater rejects.
    block = os.urandom(1500)
    data = b"".join(block[i % 7 :] + os.urandom(30) for i in range(45))
    async with ws_server(permessage_deflate=True) as server:
        # Our client <-> our server with both windows limited.
        opts = WSDeflateOptions(server_max_window_bits=bits, client_max_window_bits=bits)
        transport, listener = await connect(server.url(), permessage_deflate=opts)
        ext = transport.response.headers["Sec-WebSocket-Extensions"]
        assert f"server_max_window_bits={bits}" in ext
        assert f"client_max_window_bits={bits}" in ext
        assert await echo_message(transport, listener, WSMsgType.BINARY, data) == data
        transport.disconnect()
        # The server keeps to the window on the wire: zlib with exactly that window decodes its output.
        raw = await raw_deflate_client(server.port, f"permessage-deflate; server_max_window_bits={bits}")
        assert f"server_max_window_bits={bits}" in raw.headers[EXT]
        raw.writer.write(client_frame(2, data))
        opcode, _, rsv1, payload = await read_raw(raw.reader, False)
        assert (opcode, rsv1) == (2, True)
        assert zlib.decompressobj(-bits).decompress(payload + TAIL) == data
        raw.close()


# ---- negotiation outcomes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_on", "server_on"), [(True, False), (False, True)], ids=["server_off", "client_off"])
async def test_negotiation_declined_runs_plain(client_on: bool, server_on: bool) -> None:
    msg = json_text(5000)
    async with ws_server(permessage_deflate=server_on) as server:
        transport, listener = await connect(server.url(), permessage_deflate=client_on)
        assert "Sec-WebSocket-Extensions" not in transport.response.headers
        assert await echo_message(transport, listener, WSMsgType.TEXT, msg) == msg
        transport.disconnect()
        # Plain frames on the wire: a peer offering nothing gets RSV1-clear echoes, and RSV1 is a protocol error.
        if not server_on:
            raw = await raw_deflate_client(server.port)
            assert EXT not in raw.headers
            raw.writer.write(client_frame(1, msg))
            assert await read_raw(raw.reader, False) == (1, True, False, msg)
            raw.writer.write(client_frame(1, deflate(msg), rsv1=True))
            assert await read_raw_close(raw.reader, False) == 1002
            raw.close()


BAD_ANSWERS = [
    (
        "client_bits_not_offered",
        WSDeflateOptions(client_max_window_bits=None),
        "permessage-deflate; client_max_window_bits=10",
    ),
    ("unknown_param", WSDeflateOptions(), "permessage-deflate; foo=1"),
    (
        "repeated_param",
        WSDeflateOptions(),
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    ),
    ("other_extension", WSDeflateOptions(), "x-webkit-deflate-frame"),
    ("two_answers", WSDeflateOptions(), "permessage-deflate, permessage-deflate"),
    (
        "server_bits_above_offer",
        WSDeflateOptions(server_max_window_bits=10),
        "permessage-deflate; server_max_window_bits=12",
    ),
    ("server_bits_missing", WSDeflateOptions(server_max_window_bits=10), "permessage-deflate"),
    ("server_nct_missing", WSDeflateOptions(server_no_context_takeover=True), "permessage-deflate"),
    ("bits_out_of_range", WSDeflateOptions(), "permessage-deflate; client_max_window_bits=16"),
]


@pytest.mark.parametrize(("name", "opts", "answer"), BAD_ANSWERS, ids=[b[0] for b in BAD_ANSWERS])
async def test_client_fails_on_answer_not_offered(name: str, opts: WSDeflateOptions, answer: str) -> None:
    offered: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await answer_101(reader, writer, answer)
        offered.set_result(headers.get(EXT, ""))
        await reader.read()

    async with raw_server(peer) as port:
        with pytest.raises(WSInvalidHeaderError) as info:
            await bounded(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/", permessage_deflate=opts))
    assert (await bounded(offered)).startswith("permessage-deflate")
    assert "Sec-WebSocket-Extensions" in str(info.value) or "permessage-deflate" in str(info.value)


async def test_client_accepts_answer_without_extension() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_101(reader, writer, None)
        opcode, _, rsv1, payload = await read_raw(reader, True)
        writer.write(build_frame(opcode, payload))
        await reader.read()

    async with raw_server(peer) as port:
        transport, listener = await connect(f"ws://127.0.0.1:{port}/", permessage_deflate=True)
        msg = json_text(3000)
        assert await echo_message(transport, listener, WSMsgType.TEXT, msg) == msg  # sent plain, RSV1 clear
        transport.disconnect()


# ---- hostile compressed input -------------------------------------------------------------------------------


async def _server_close_code(frames: list[bytes], **server_kwargs: Any) -> int:
    async with ws_server(permessage_deflate=True, **server_kwargs) as server:
        raw = await raw_deflate_client(server.port)
        raw.writer.write(b"".join(frames))
        code = await read_raw_close(raw.reader, False)
        raw.close()
        return code


async def test_corrupt_compressed_data_closes_with_1002() -> None:
    assert await _server_close_code([client_frame(1, b"\xff\xfe\xfd\xfc garbage", rsv1=True)]) == 1002


async def test_corrupt_data_in_a_continuation_closes_with_1002() -> None:
    first = deflate(json_text(500))[:40]
    assert (
        await _server_close_code(
            [client_frame(1, first, rsv1=True, fin=False), client_frame(0, b"\x07\xff\xff\xff\xff", fin=True)]
        )
        == 1002
    )


async def test_rsv1_on_a_continuation_closes_with_1002() -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    part1 = c.compress(json_text(300)) + c.flush(zlib.Z_SYNC_FLUSH)
    part2 = (c.compress(json_text(300, seed=1)) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert (
        await _server_close_code(
            [client_frame(1, part1, rsv1=True, fin=False), client_frame(0, part2, rsv1=True, fin=True)]
        )
        == 1002
    )


async def test_decompressed_size_over_max_frame_size_closes_with_1009() -> None:
    # 64 KiB of text compresses to a few hundred bytes: under max_frame_size on the wire, over it inflated.
    assert await _server_close_code([client_frame(2, deflate(b"a" * 65536), rsv1=True)], max_frame_size=65535) == 1009


async def test_decompressed_size_at_max_frame_size_is_accepted() -> None:
    data = b"a" * 65536
    async with ws_server(RecordingListener, permessage_deflate=True, max_frame_size=65536) as server:
        raw = await raw_deflate_client(server.port)
        raw.writer.write(client_frame(2, deflate(data), rsv1=True))
        srv = await server.first_listener()
        assert isinstance(srv, RecordingListener)
        assert (await srv.wait_frames(1))[0] == (WSMsgType.BINARY, True, False, data)
        raw.close()


async def test_client_closes_with_1009_on_a_bomb_from_the_server() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_101(reader, writer, "permessage-deflate")
        writer.write(build_frame(2, deflate(b"\0" * (4 * 1024 * 1024)), rsv1=True))
        await reader.read()

    async with raw_server(peer) as port:
        transport, listener = await connect(
            f"ws://127.0.0.1:{port}/", permessage_deflate=True, max_frame_size=1024 * 1024
        )
        with pytest.raises(picows.WSError):
            await bounded(transport.wait_disconnected())
        handshake = transport.close_handshake
        assert handshake is not None and handshake.sent is not None
        assert handshake.sent.code == 1009
        assert listener.data_frames() == []


BOMB_SCRIPT = textwrap.dedent("""
    import asyncio, json, resource, struct, sys, zlib
    sys.path.insert(0, sys.argv[2])
    import picows
    from tests.utils import client_frame, upgrade_request, read_http_head, EchoListener

    def bomb(total):
        # Built in 1 MiB steps so that this process never holds the 100 MiB itself.
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(1 << 20)
        out = [c.compress(chunk) for _ in range(total >> 20)]
        out.append(c.flush(zlib.Z_SYNC_FLUSH))
        return b"".join(out)[:-4]

    async def main():
        payload = bomb(100 << 20)
        server = await picows.ws_create_server(lambda r: EchoListener(), "127.0.0.1", 0,
                                               permessage_deflate=True, max_frame_size=1 << 20)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request(extra="Sec-WebSocket-Extensions: permessage-deflate\\r\\n"))
        status, headers = await asyncio.wait_for(read_http_head(reader), 5)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        writer.write(client_frame(2, payload, rsv1=True))
        code = None
        while code is None:
            b0, b1 = await asyncio.wait_for(reader.readexactly(2), 10)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            body = await reader.readexactly(n)
            if b0 & 0x0F == 8:
                code = struct.unpack("!H", body[:2])[0]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        writer.close()
        server.close()
        print(json.dumps({"ext": headers.get("sec-websocket-extensions"), "wire": len(payload),
                          "code": code, "before_kib": before, "after_kib": after}))

    if sys.argv[1] == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(main())
""")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_decompression_bomb_closes_1009_without_allocating_it(loop: str) -> None:
    pytest.importorskip(loop)
    proc = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, loop, str(ROOT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ext"].startswith("permessage-deflate")
    assert result["wire"] < 1024 * 1024  # the bomb is under max_frame_size on the wire
    assert result["code"] == 1009
    # ru_maxrss is in KiB on Linux. Inflating the message would add ~100 MiB; the limit allows ~1 MiB of output.
    growth_kib = result["after_kib"] - result["before_kib"]
    assert growth_kib < 16 * 1024, f"RSS grew by {growth_kib} KiB while rejecting a 100 MiB bomb"


# ---- interop with websockets --------------------------------------------------------------------------------

INTEROP_SIZES = [256, 64 * 1024]


async def test_our_client_with_websockets_server() -> None:
    ws_server_mod = pytest.importorskip("websockets.asyncio.server")
    extensions_seen: list[str] = []

    async def handler(conn: Any) -> None:
        extensions_seen.append(", ".join(type(e).__name__ for e in conn.protocol.extensions))
        async for message in conn:
            await conn.send(message)

    async with ws_server_mod.serve(handler, "127.0.0.1", 0) as server:  # compression="deflate" by default
        port = server.sockets[0].getsockname()[1]
        transport, listener = await connect(f"ws://127.0.0.1:{port}/", permessage_deflate=True)
        ext = transport.response.headers["Sec-WebSocket-Extensions"]
        # websockets' defaults: it limits both windows to 12 bits.
        assert ext.startswith("permessage-deflate") and "server_max_window_bits=12" in ext
        for size in INTEROP_SIZES:
            for seed in range(3):
                msg = json_text(size, seed)
                assert await echo_message(transport, listener, WSMsgType.TEXT, msg) == msg
        transport.send_close(1000)
        await bounded(transport.wait_disconnected())
    assert extensions_seen == ["PerMessageDeflate"]


async def test_websockets_client_with_our_server() -> None:
    ws_client_mod = pytest.importorskip("websockets.asyncio.client")
    async with ws_server(permessage_deflate=True) as server:
        async with ws_client_mod.connect(server.url()) as conn:  # compression="deflate" by default
            assert conn.response is not None
            assert conn.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            assert [type(e).__name__ for e in conn.protocol.extensions] == ["PerMessageDeflate"]
            for size in INTEROP_SIZES:
                for seed in range(3):
                    msg = json_text(size, seed).decode()
                    await conn.send(msg)
                    assert await asyncio.wait_for(conn.recv(), WAIT) == msg
            # Fragmented by websockets (an iterable is sent as fragments of one compressed message).
            parts = [json_text(1000, 1).decode(), json_text(2000, 2).decode()]
            await conn.send(parts)
            srv = await server.first_listener()
            assert isinstance(srv, EchoListener)
            await srv.wait_for(lambda: any(f[0] == WSMsgType.CONTINUATION and f[1] for f in srv.frames))
            echoed = [await asyncio.wait_for(conn.recv(), WAIT)]
            assert "".join(echoed) == "".join(parts)
        srv_transport = srv.transport
        assert srv_transport is not None
        assert srv_transport.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")


async def test_min_size_zero_compresses_empty_and_one_byte_messages() -> None:
    got: asyncio.Future[list[tuple[int, bool, bool, bytes]]] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_101(reader, writer, "permessage-deflate")
        got.set_result([await read_raw(reader, True) for _ in range(2)])
        await reader.read()

    async with raw_server(peer) as port:
        transport, _ = await connect(f"ws://127.0.0.1:{port}/", permessage_deflate=WSDeflateOptions(min_size=0))
        transport.send(WSMsgType.BINARY, b"")
        transport.send(WSMsgType.TEXT, b"z")
        frames = await bounded(got)
        transport.disconnect()
    assert [f[:3] for f in frames] == [(2, True, True), (1, True, True)]
    d = zlib.decompressobj(-15)
    assert d.decompress(frames[0][3] + TAIL) == b""
    assert d.decompress(frames[1][3] + TAIL) == b"z"
