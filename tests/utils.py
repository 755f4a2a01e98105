"""Shared helpers for the engine and transport tests.

``build_frame`` is a pure-Python frame builder written from RFC 6455 section 5.2, independent of the engine's
encoder, so tests can craft frames the engine would never produce (reserved bits, bad opcodes, lying lengths).
The loopback helpers start a picows server on 127.0.0.1 with port 0 and bound every wait with a timeout, so a
hung engine fails the test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport

T = TypeVar("T")

#: Upper bound for any single wait in a test: generous for a loaded 2-core CI box, small enough to fail fast.
WAIT = 5.0

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def apply_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 5.3: byte i XOR key[i % 4]."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: bytes | None = None,
    length: int | None = None,
    length_form: int | None = None,
) -> bytes:
    """Build one frame by hand.

    ``length`` overrides the length written in the header (the payload is still appended as given), and
    ``length_form`` forces the 7-bit (0), 16-bit (126) or 64-bit (127) length encoding.
    """
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    form = length_form
    if form is None:
        form = 0 if n <= 125 else (126 if n <= 0xFFFF else 127)
    if form == 0:
        head = bytes([b0, mask_bit | n])
    elif form == 126:
        head = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", n)
    if mask_key is not None:
        return head + mask_key + apply_mask(payload, mask_key)
    return head + payload


def client_frame(opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """A frame as a client sends it (masked with a fixed key)."""
    kwargs.setdefault("mask_key", b"\x37\xfa\x21\x3d")
    return build_frame(opcode, payload, **kwargs)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The payload of a close frame."""
    return struct.pack("!H", code) + reason


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


async def bounded(aw: Awaitable[T], timeout: float = WAIT) -> T:
    """Await with a timeout so that an engine that never answers fails the test."""
    return await asyncio.wait_for(aw, timeout)


class RecordingListener(WSListener):
    """Records every frame (copied out of the read buffer) and the callbacks it got."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.frames: list[tuple[WSMsgType, bool, bool, bytes]] = []
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.frames.append((frame.msg_type, frame.fin, frame.rsv1, frame.get_payload_as_bytes()))
        self._check_waiters()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected.set()
        self._check_waiters()

    def _check_waiters(self) -> None:
        for cond, fut in list(self._waiters):
            if not fut.done() and cond():
                fut.set_result(None)

    async def wait_for(self, cond: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait until ``cond()`` is true (checked after every frame)."""
        if cond():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((cond, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove((cond, fut))

    async def wait_frames(self, n: int, timeout: float = WAIT) -> list[tuple[WSMsgType, bool, bool, bytes]]:
        """Wait until at least ``n`` frames arrived and return them."""
        await self.wait_for(lambda: len(self.frames) >= n, timeout)
        return self.frames

    def data_frames(self) -> list[tuple[WSMsgType, bool, bool, bytes]]:
        """Frames other than control frames."""
        return [f for f in self.frames if f[0] < 8]


class EchoListener(RecordingListener):
    """Echoes data frames back (keeping fin), records everything."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin)


class Server:
    """A running picows server and the listeners it created."""

    def __init__(self, server: asyncio.Server) -> None:
        self.server = server
        self.listeners: list[WSListener] = []
        self.port: int = server.sockets[0].getsockname()[1]

    def url(self, path: str = "/", secure: bool = False) -> str:
        """The server's URL for ``path``."""
        return f"{'wss' if secure else 'ws'}://127.0.0.1:{self.port}{path}"

    async def first_listener(self, timeout: float = WAIT) -> WSListener:
        """The listener of the first accepted connection, once it exists."""
        async def poll() -> WSListener:
            while not self.listeners:
                await asyncio.sleep(0.005)
            return self.listeners[0]
        return await asyncio.wait_for(poll(), timeout)


@asynccontextmanager
async def ws_server(
    listener_cls: Callable[[], WSListener] = EchoListener, **kwargs: Any
) -> AsyncIterator[Server]:
    """Run a picows server on 127.0.0.1:0 whose factory builds ``listener_cls()`` and records it."""
    holder: list[Server] = []

    def factory(request: picows.WSUpgradeRequest) -> WSListener:
        listener = listener_cls()
        holder[0].listeners.append(listener)
        return listener

    server = await picows.ws_create_server(factory, "127.0.0.1", 0, **kwargs)
    wrapped = Server(server)
    holder.append(wrapped)
    try:
        yield wrapped
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), WAIT)


@asynccontextmanager
async def raw_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> AsyncIterator[int]:
    """Run a plain TCP server on 127.0.0.1:0 with ``handler``; yields its port."""
    tasks: list[asyncio.Task[None]] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(server.wait_closed(), WAIT)


async def read_http_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """Read an HTTP head; return its first line and its headers (names lower-cased)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def raw_server_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, str]:
    """Answer a client's upgrade request with a correct 101 by hand; returns the request headers."""
    _, headers = await read_http_head(reader)
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_for(headers["sec-websocket-key"]).encode() + b"\r\n\r\n")
    await writer.drain()
    return headers


RAW_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(path: str = "/", *, key: str = RAW_KEY, extra: str = "", method: str = "GET",
                    version: str = "13", upgrade: str | None = "websocket") -> bytes:
    """A client upgrade request written by hand."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


class RawClient:
    """A raw TCP client that did the upgrade by hand: read frames and write arbitrary bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 status_line: str, headers: dict[str, str]) -> None:
        self.reader = reader
        self.writer = writer
        self.status_line = status_line
        self.headers = headers

    async def read_frame(self, timeout: float = WAIT) -> tuple[int, bool, bytes]:
        """Read one (unmasked, server-sent) frame: (opcode, fin, payload)."""
        return await asyncio.wait_for(read_frame(self.reader, expect_masked=False), timeout)

    async def read_close(self, timeout: float = WAIT) -> tuple[int, bytes]:
        """Skip frames until a close frame; return its code (1005 when empty) and reason."""
        while True:
            opcode, _, payload = await self.read_frame(timeout)
            if opcode == 8:
                if len(payload) >= 2:
                    return struct.unpack("!H", payload[:2])[0], payload[2:]
                return 1005, b""

    async def wait_eof(self, timeout: float = WAIT) -> bytes:
        """Read until the server closes TCP; return what came."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    def close(self) -> None:
        """Drop the connection."""
        self.writer.close()


async def raw_client(port: int, path: str = "/") -> RawClient:
    """Connect to a picows server and do the upgrade by hand."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    writer.write(upgrade_request(path))
    status, headers = await read_http_head(reader)
    assert status.startswith("HTTP/1.1 101"), status
    assert headers["sec-websocket-accept"] == accept_for(RAW_KEY)
    return RawClient(reader, writer, status, headers)


async def read_frame(reader: asyncio.StreamReader, expect_masked: bool) -> tuple[int, bool, bytes]:
    """Parse one frame from a stream (for raw peers)."""
    b0, b1 = await reader.readexactly(2)
    masked = bool(b1 & 0x80)
    assert masked == expect_masked, f"frame masked={masked}, expected {expect_masked}"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if masked else None
    payload = await reader.readexactly(n)
    if key is not None:
        payload = apply_mask(payload, key)
    return b0 & 0x0F, bool(b0 & 0x80), payload
