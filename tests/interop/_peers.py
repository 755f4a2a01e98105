"""Drivers for the third-party peers: each speaks the interop protocol of ``_support`` through its own library.

A peer *client* is driven by the test (send, recv, ping, close) against picows' server; a peer *server* answers
picows' client by itself and records what it received, so that the test can check both sides. Every wait is
bounded by ``WAIT``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tests.interop._support import (
    FRAGMENTS,
    MAX_MESSAGE,
    PEERS_DIR,
    PONG_REPORT,
    PROBE,
    SERVER_CLOSE,
    WAIT,
    Message,
    require_module,
    require_node_ws,
)

T = TypeVar("T")

#: Node's JSON lines carry whole 4 MiB messages in base64.
PIPE_LIMIT = 64 * 1024 * 1024


async def bounded(aw: Any, what: str, timeout: float = WAIT) -> Any:
    """Await ``aw`` for at most ``timeout`` seconds, failing with a message that names the wait."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


# --- peer clients ----------------------------------------------------------------------------------------------

class PeerClient:
    """A third-party client connected to picows' server.

    Attributes:
        can_fragment: the library can send a message in several frames.
        close_reply_code: the code this peer answers a server's close with (RFC 6455 only says it typically
            echoes the received one).
    """

    can_fragment = True
    close_reply_code = SERVER_CLOSE[0]

    async def connect(self, url: str, *, observe_pongs: bool = False) -> None:
        """Open the connection; ``observe_pongs`` asks peers that hide PONGs by default to report them."""
        raise NotImplementedError

    async def send(self, message: Message) -> None:
        """Send a TEXT (str) or BINARY (bytes) message."""
        raise NotImplementedError

    async def send_fragments(self, fragments: list[bytes]) -> None:
        """Send ``fragments`` as one TEXT message, one frame each."""
        raise NotImplementedError

    async def recv(self) -> Message:
        """The next data message (str for TEXT, bytes for BINARY)."""
        raise NotImplementedError

    async def ping(self, payload: bytes) -> bytes:
        """Send a PING and return the payload of the PONG that answers it."""
        raise NotImplementedError

    async def close(self, code: int, reason: str) -> tuple[int, str | None]:
        """Start the close handshake; return (code, reason) of the server's answer (reason None if hidden)."""
        raise NotImplementedError

    async def wait_closed_by_server(self) -> tuple[int, str | None]:
        """After ``cmd:close``: the (code, reason) of the server's CLOSE frame, answered the library's way."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release everything, whatever state the connection is in."""


class WebsocketsClient(PeerClient):
    """websockets 17.x, asyncio API."""

    def __init__(self) -> None:
        self.ws: Any = None

    async def connect(self, url: str, *, observe_pongs: bool = False) -> None:
        client = require_module("websockets.asyncio.client")
        # Keepalive pings off: only the test's pings go on the wire.
        self.ws = await bounded(client.connect(url, max_size=MAX_MESSAGE, ping_interval=None, open_timeout=WAIT,
                                               close_timeout=WAIT), "websockets to connect")

    async def send(self, message: Message) -> None:
        await bounded(self.ws.send(message), "websockets send")

    async def send_fragments(self, fragments: list[bytes]) -> None:
        # An iterable is sent as a fragmented message, one frame per item.
        await bounded(self.ws.send(fragments, text=True), "websockets fragmented send")

    async def recv(self) -> Message:
        message: Message = await bounded(self.ws.recv(), "a message on the websockets client")
        return message

    async def ping(self, payload: bytes) -> bytes:
        # websockets matches the pong to the ping by payload and resolves the waiter only then.
        waiter = await bounded(self.ws.ping(payload), "websockets ping")
        await bounded(waiter, "the pong to websockets' ping")
        return payload

    async def close(self, code: int, reason: str) -> tuple[int, str | None]:
        await bounded(self.ws.close(code, reason), "websockets close")
        rcvd = self.ws.protocol.close_rcvd
        assert rcvd is not None, "websockets got no CLOSE frame back"
        return int(rcvd.code), str(rcvd.reason)

    async def wait_closed_by_server(self) -> tuple[int, str | None]:
        exceptions = require_module("websockets.exceptions")
        try:
            message = await bounded(self.ws.recv(), "the server's close on the websockets client")
        except exceptions.ConnectionClosed as exc:  # ...Error, not ...OK: 4001 is neither 1000 nor 1001
            assert exc.rcvd is not None
            return int(exc.rcvd.code), str(exc.rcvd.reason)
        raise AssertionError(f"websockets got {message!r} instead of the server's close")

    async def aclose(self) -> None:
        if self.ws is not None:
            await bounded(self.ws.close(), "websockets close")


class AiohttpClient(PeerClient):
    """aiohttp 3.x ClientSession.ws_connect.

    aiohttp cannot send fragmented messages, and answers a server's close with 1000 whatever code it got.
    """

    can_fragment = False
    close_reply_code = 1000

    def __init__(self) -> None:
        self.session: Any = None
        self.ws: Any = None

    async def connect(self, url: str, *, observe_pongs: bool = False) -> None:
        aiohttp = require_module("aiohttp")
        self.aiohttp = aiohttp
        self.session = aiohttp.ClientSession()
        # With autoping on (its default) aiohttp answers PINGs and swallows PONGs; the ping test turns it off to
        # see the PONG.
        self.autoping = not observe_pongs
        self.ws = await bounded(self.session.ws_connect(url, autoping=self.autoping, max_msg_size=MAX_MESSAGE),
                                "aiohttp to connect")

    async def send(self, message: Message) -> None:
        if isinstance(message, str):
            await bounded(self.ws.send_str(message), "aiohttp send_str")
        else:
            await bounded(self.ws.send_bytes(message), "aiohttp send_bytes")

    async def _receive(self) -> Any:
        return await bounded(self.ws.receive(), "a message on the aiohttp client")

    async def recv(self) -> Message:
        kinds = self.aiohttp.WSMsgType
        msg = await self._receive()
        if msg.type == kinds.TEXT:
            return str(msg.data)
        if msg.type == kinds.BINARY:
            return bytes(msg.data)
        raise AssertionError(f"aiohttp received {msg.type!r} ({msg.data!r}, {msg.extra!r}) instead of a message")

    async def ping(self, payload: bytes) -> bytes:
        assert not self.autoping, "connect with observe_pongs=True to see aiohttp's PONGs"
        await bounded(self.ws.ping(payload), "aiohttp ping")
        msg = await self._receive()
        assert msg.type == self.aiohttp.WSMsgType.PONG, f"aiohttp expected a PONG, got {msg.type!r}"
        return bytes(msg.data)

    async def close(self, code: int, reason: str) -> tuple[int, str | None]:
        closed = await bounded(self.ws.close(code=code, message=reason.encode()), "aiohttp close")
        assert closed, "aiohttp's close() reported the connection already closed"
        # aiohttp keeps the code of the server's CLOSE frame but not its reason.
        return int(self.ws.close_code), None

    async def wait_closed_by_server(self) -> tuple[int, str | None]:
        msg = await self._receive()
        assert msg.type == self.aiohttp.WSMsgType.CLOSE, f"aiohttp expected a CLOSE, got {msg.type!r}"
        return int(msg.data), str(msg.extra)

    async def aclose(self) -> None:
        if self.ws is not None:
            await bounded(self.ws.close(), "aiohttp close")
        if self.session is not None:
            await bounded(self.session.close(), "aiohttp session close")


class WebsocketClientSync(PeerClient):
    """websocket-client (the synchronous ``websocket`` package), each call run in a worker thread.

    It answers a server's close with 1000.
    """

    close_reply_code = 1000

    def __init__(self) -> None:
        self.ws: Any = None

    async def _call(self, fn: Callable[[], T], what: str) -> T:
        result: T = await bounded(asyncio.to_thread(fn), what)
        return result

    async def connect(self, url: str, *, observe_pongs: bool = False) -> None:
        self.lib = require_module("websocket")
        # The socket timeout bounds every blocking call in the worker thread too.
        self.ws = await self._call(lambda: self.lib.create_connection(url, timeout=WAIT), "websocket-client connect")

    async def send(self, message: Message) -> None:
        if isinstance(message, str):
            await self._call(lambda: self.ws.send(message), "websocket-client send")
        else:
            await self._call(lambda: self.ws.send_binary(message), "websocket-client send_binary")

    async def send_fragments(self, fragments: list[bytes]) -> None:
        abnf = self.lib.ABNF

        def send_all() -> None:
            for i, fragment in enumerate(fragments):
                opcode = abnf.OPCODE_TEXT if i == 0 else abnf.OPCODE_CONT
                self.ws.send_frame(abnf.create_frame(fragment, opcode, fin=int(i == len(fragments) - 1)))

        await self._call(send_all, "websocket-client fragmented send")

    async def recv(self) -> Message:
        abnf = self.lib.ABNF
        # recv_data answers PINGs itself and reassembles continuation frames.
        opcode, data = await self._call(lambda: self.ws.recv_data(), "a message on websocket-client")
        if opcode == abnf.OPCODE_TEXT:
            return bytes(data).decode()
        if opcode == abnf.OPCODE_BINARY:
            return bytes(data)
        raise AssertionError(f"websocket-client received opcode {opcode} instead of a message")

    async def ping(self, payload: bytes) -> bytes:
        abnf = self.lib.ABNF

        def ping_and_wait() -> bytes:
            self.ws.ping(payload)
            opcode, frame = self.ws.recv_data_frame(control_frame=True)
            assert opcode == abnf.OPCODE_PONG, f"websocket-client expected a PONG, got opcode {opcode}"
            return bytes(frame.data)

        return await self._call(ping_and_wait, "the pong to websocket-client's ping")

    async def close(self, code: int, reason: str) -> tuple[int, str | None]:
        abnf = self.lib.ABNF

        def close_and_wait() -> tuple[int, str | None]:
            self.ws.send_close(code, reason.encode())
            # recv_frame, unlike recv_data_frame, does not answer the CLOSE a second time.
            while True:
                frame = self.ws.recv_frame()
                if frame.opcode == abnf.OPCODE_CLOSE:
                    data = bytes(frame.data)
                    return int.from_bytes(data[:2], "big"), data[2:].decode()

        result = await self._call(close_and_wait, "the server's answer to websocket-client's close")
        await self._call(lambda: self.ws.shutdown(), "websocket-client shutdown")
        return result

    async def wait_closed_by_server(self) -> tuple[int, str | None]:
        abnf = self.lib.ABNF

        def wait_close() -> tuple[int, str | None]:
            # recv_data_frame answers the CLOSE (with 1000) the way the library does for its users.
            opcode, frame = self.ws.recv_data_frame(control_frame=True)
            assert opcode == abnf.OPCODE_CLOSE, f"websocket-client expected a CLOSE, got opcode {opcode}"
            data = bytes(frame.data)
            return int.from_bytes(data[:2], "big"), data[2:].decode()

        return await self._call(wait_close, "the server's close on websocket-client")

    async def aclose(self) -> None:
        if self.ws is not None:
            await self._call(lambda: self.ws.shutdown(), "websocket-client shutdown")


class NodeProcess:
    """A node script whose stdout carries JSON events; the events are sorted into queues by name."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._stderr: asyncio.Task[bytes] | None = None

    def queue(self, event: str) -> asyncio.Queue[dict[str, Any]]:
        """The queue of the events named ``event``."""
        return self.queues.setdefault(event, asyncio.Queue())

    async def start(self, script: str, *args: str) -> None:
        """Start ``node script args...`` in the peers folder (where node_modules is)."""
        node = require_node_ws()
        self.proc = await asyncio.create_subprocess_exec(
            node, str(PEERS_DIR / script), *args, cwd=str(PEERS_DIR), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=PIPE_LIMIT)
        self._reader = asyncio.ensure_future(self._read())
        assert self.proc.stderr is not None
        self._stderr = asyncio.ensure_future(self.proc.stderr.read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            event = json.loads(line)
            if event["event"] == "error":
                self.errors.append(event["message"])
            self.queue(event["event"]).put_nowait(event)

    async def next(self, event: str) -> dict[str, Any]:
        """The next event named ``event``, failing with node's stderr if the process died first."""
        get = asyncio.ensure_future(self.queue(event).get())
        assert self._reader is not None
        done, _ = await asyncio.wait({get, self._reader}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()
        get.cancel()
        if self._reader in done:
            stderr = await bounded(self._stderr, "node's stderr") if self._stderr is not None else b""
            raise AssertionError(f"node exited before the {event!r} event; errors {self.errors}; "
                                 f"stderr: {stderr.decode(errors='replace')[-2000:]}")
        raise AssertionError(f"timed out after {WAIT} s waiting for the node {event!r} event; errors {self.errors}")

    async def command(self, **cmd: Any) -> None:
        """Write one JSON command line to node's stdin."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        await bounded(self.proc.stdin.drain(), "node's stdin")

    async def stop(self) -> None:
        """Close stdin (the scripts exit on EOF), then make sure the process is gone."""
        if self.proc is None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), WAIT)
        except asyncio.TimeoutError:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), WAIT)
        for task in (self._reader, self._stderr):
            if task is not None:
                await asyncio.wait_for(task, WAIT)


def b64(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode()


class NodeWsClient(PeerClient):
    """Node.js ws 8.x, remote-controlled through peers/ws_client.js."""

    def __init__(self) -> None:
        self.node = NodeProcess()

    async def connect(self, url: str, *, observe_pongs: bool = False) -> None:
        await self.node.start("ws_client.js", url)
        await self.node.next("open")

    async def send(self, message: Message) -> None:
        binary = isinstance(message, bytes)
        data = message if isinstance(message, bytes) else message.encode()
        await self.node.command(op="send", data=b64(data), binary=binary)

    async def send_fragments(self, fragments: list[bytes]) -> None:
        for i, fragment in enumerate(fragments):
            await self.node.command(op="send", data=b64(fragment), binary=False, fin=i == len(fragments) - 1)

    async def recv(self) -> Message:
        event = await self.node.next("message")
        data = base64.b64decode(event["data"])
        return data if event["binary"] else data.decode()

    async def ping(self, payload: bytes) -> bytes:
        await self.node.command(op="ping", data=b64(payload))
        event = await self.node.next("pong")
        return base64.b64decode(event["data"])

    async def close(self, code: int, reason: str) -> tuple[int, str | None]:
        await self.node.command(op="close", code=code, reason=reason)
        event = await self.node.next("close")
        return int(event["code"]), str(event["reason"])

    async def wait_closed_by_server(self) -> tuple[int, str | None]:
        event = await self.node.next("close")
        return int(event["code"]), str(event["reason"])

    async def aclose(self) -> None:
        await self.node.stop()
        assert not self.node.errors, f"the node ws client reported errors: {self.node.errors}"


PEER_CLIENTS: dict[str, type[PeerClient]] = {
    "websockets": WebsocketsClient,
    "aiohttp": AiohttpClient,
    "websocket-client": WebsocketClientSync,
    "node-ws": NodeWsClient,
}


# --- peer servers ----------------------------------------------------------------------------------------------

class PeerServer:
    """A third-party server speaking the interop protocol, recording the CLOSE frames it received.

    Attributes:
        url: where picows' client connects.
        can_fragment: the library can send a message in several frames.
        close_reply_code: the code this server answers a client's close with.
        closes: (code, reason) of each CLOSE frame received from the client (reason None if the library
            hides it).
    """

    can_fragment = True
    close_reply_code = 4000

    def __init__(self) -> None:
        self.url = ""
        self.closes: list[tuple[int, str | None]] = []
        self._closed = asyncio.Event()

    def record_close(self, code: int, reason: str | None) -> None:
        """Note a CLOSE frame the server received."""
        self.closes.append((code, reason))
        self._closed.set()

    async def wait_close(self) -> tuple[int, str | None]:
        """The first CLOSE frame the server received, once it arrived."""
        await bounded(self._closed.wait(), "the peer server to see the client's close")
        return self.closes[0]


@asynccontextmanager
async def websockets_server() -> AsyncIterator[PeerServer]:
    """websockets 17.x asyncio server."""
    server_mod = require_module("websockets.asyncio.server")
    peer = PeerServer()

    async def handler(ws: Any) -> None:
        try:
            async for message in ws:
                if message == "cmd:fragment":
                    await ws.send(FRAGMENTS, text=True)
                elif message == "cmd:ping":
                    await bounded(await ws.ping(PROBE), "the pong to websockets server's ping")
                    await ws.send(PONG_REPORT)
                elif message == "cmd:close":
                    await ws.close(*SERVER_CLOSE)
                else:
                    await ws.send(message)
        finally:
            rcvd = ws.protocol.close_rcvd
            if rcvd is not None:
                peer.record_close(int(rcvd.code), str(rcvd.reason))

    server = await bounded(server_mod.serve(handler, "127.0.0.1", 0, max_size=MAX_MESSAGE, ping_interval=None,
                                            close_timeout=WAIT), "the websockets server to start")
    peer.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        yield peer
    finally:
        server.close()
        await bounded(server.wait_closed(), "the websockets server to close")


@asynccontextmanager
async def aiohttp_server() -> AsyncIterator[PeerServer]:
    """aiohttp 3.x web server with a WebSocketResponse handler.

    It cannot send fragmented messages and answers a client's close with 1000. autoping is off so that the
    handler sees the PONG to its own ping; it then answers PINGs itself (with ``ws.pong``).
    """
    aiohttp = require_module("aiohttp")
    web = require_module("aiohttp.web")
    kinds = aiohttp.WSMsgType
    peer = PeerServer()
    peer.can_fragment = False
    peer.close_reply_code = 1000

    async def handler(request: Any) -> Any:
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        while True:
            msg = await ws.receive()
            if msg.type == kinds.TEXT and msg.data == "cmd:ping":
                await ws.ping(PROBE)
            elif msg.type == kinds.TEXT and msg.data == "cmd:close":
                await ws.close(code=SERVER_CLOSE[0], message=SERVER_CLOSE[1].encode())
                # aiohttp keeps the code of the client's answering CLOSE, not its reason.
                peer.record_close(int(ws.close_code), None)
                break
            elif msg.type == kinds.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == kinds.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == kinds.PING:
                await ws.pong(msg.data)
            elif msg.type == kinds.PONG:
                if msg.data == PROBE:
                    await ws.send_str(PONG_REPORT)
            elif msg.type == kinds.CLOSE:
                peer.record_close(int(msg.data), str(msg.extra))
                break
            else:
                break
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await bounded(runner.setup(), "the aiohttp runner")
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await bounded(site.start(), "the aiohttp server to start")
    peer.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield peer
    finally:
        await bounded(runner.cleanup(), "the aiohttp server to stop")


@asynccontextmanager
async def node_ws_server() -> AsyncIterator[PeerServer]:
    """Node.js ws 8.x server (peers/ws_server.js)."""
    node = NodeProcess()
    config = {"fragments": [b64(f) for f in FRAGMENTS], "probe": b64(PROBE), "close_code": SERVER_CLOSE[0],
              "close_reason": SERVER_CLOSE[1]}
    await node.start("ws_server.js", json.dumps(config))
    peer = PeerServer()

    async def forward_closes() -> None:
        while True:
            event = await node.queue("close").get()
            peer.record_close(int(event["code"]), str(event["reason"]))

    forwarder = asyncio.ensure_future(forward_closes())
    try:
        listening = await node.next("listening")
        peer.url = f"ws://127.0.0.1:{listening['port']}/"
        yield peer
    finally:
        forwarder.cancel()
        await node.stop()
        assert not node.errors, f"the node ws server reported errors: {node.errors}"


PEER_SERVERS: dict[str, Callable[[], Any]] = {
    "websockets": websockets_server,
    "aiohttp": aiohttp_server,
    "node-ws": node_ws_server,
}

#: Which peer servers can send fragmented messages (aiohttp has no API for it).
SERVER_CAN_FRAGMENT = {"websockets": True, "aiohttp": False, "node-ws": True}
