"""What the interop tests share: the payloads, picows' side of each conversation, and the peer finder.

Every conversation follows one small protocol, spoken the same way by picows and by each third-party peer:

* a data message is echoed back with its type (TEXT stays TEXT, BINARY stays BINARY);
* the text ``cmd:fragment`` makes the other side send :data:`FRAGMENTS` as one fragmented TEXT message whose
  fragment boundaries cut a 3-byte UTF-8 character in two (valid as a message, not as single frames);
* ``cmd:ping`` makes it send a PING carrying :data:`PROBE`; when the matching PONG comes back it sends the text
  ``pong:probe``, so the side that asked sees that its automatic pong reached the pinger;
* ``cmd:close`` makes it start the close handshake with :data:`SERVER_CLOSE`.

A peer that is not installed fails the test with a message naming ``scripts/install-interop-peers``: the
interop matrix must never shrink silently.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import pytest

import picows
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest

#: Bound on every single wait (a message, a pong, a close); a large message on a loaded 2-core box fits in it.
WAIT = 10.0

INSTALL_HINT = "run `scripts/install-interop-peers <venv>` (as root) to install the interop peers"

PEERS_DIR = Path(__file__).parent / "peers"
CHROMIUM = "/usr/bin/chromium"

#: Generous limit for the peers whose default maximum message size is below LARGE (websockets: 1 MiB).
MAX_MESSAGE = 16 * 1024 * 1024
LARGE = 4 * 1024 * 1024

TEXT = "hello ✓ привет 😀"
BINARY = bytes(range(256)) * 4
LARGE_BINARY = random.Random(6455).randbytes(LARGE)
#: 4 MiB of text with 1-, 2-, 3- and 4-byte characters, so that UTF-8 validation has work to do everywhere.
LARGE_TEXT = ("interop ✓ é 😀 " * (LARGE // 20 + 1)).encode()[: LARGE - 64].decode("utf-8", "ignore")

FRAGMENTS = [b"fragmented \xe2", b"\x9c\x93 mess", b"age"]
FRAGMENTED_TEXT = b"".join(FRAGMENTS).decode()
assert FRAGMENTED_TEXT == "fragmented ✓ message"

PROBE = b"probe"
PONG_REPORT = "pong:probe"
CLIENT_CLOSE = (4000, "bye ✓")
SERVER_CLOSE = (4001, "server bye ✓")

Message = str | bytes


# --- finding the peers ---------------------------------------------------------------------------------------

def require_module(name: str) -> ModuleType:
    """Import a Python peer, or fail the test saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"the interop peer {name!r} is not installed ({exc}); {INSTALL_HINT}", pytrace=False)


def require_node_ws() -> str:
    """The path of the node binary, once node and the ws package are both there; fail otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH; install Node.js 18+ and then {INSTALL_HINT}", pytrace=False)
    if not (PEERS_DIR / "node_modules" / "ws" / "package.json").is_file():
        pytest.fail(f"the Node.js package ws is not installed in {PEERS_DIR}; {INSTALL_HINT}", pytrace=False)
    return node


def require_chromium() -> str:
    """The path of Debian's chromium; fail if it is missing."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing (Debian package chromium); {INSTALL_HINT}", pytrace=False)
    return CHROMIUM


# --- picows' side --------------------------------------------------------------------------------------------

class Recorder(WSListener):
    """Records every frame and reassembles data messages into a queue.

    Frames are copied out in ``on_ws_frame`` because a WSFrame is only valid during the callback.
    """

    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.frames: list[tuple[WSMsgType, bool, bytes]] = []
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self._partial_type: WSMsgType | None = None
        self._partial: list[bytes] = []
        self._changed = asyncio.Event()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        payload = frame.get_payload_as_bytes()
        msg_type = frame.msg_type
        self.frames.append((msg_type, frame.fin, payload))
        self._changed.set()
        if msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            self._partial_type, self._partial = msg_type, [payload]
        elif msg_type == WSMsgType.CONTINUATION:
            self._partial.append(payload)
        else:
            self.on_control(transport, msg_type, payload)
            return
        if frame.fin:
            data = b"".join(self._partial)
            # decode() raises on invalid UTF-8, which turns a corrupted text message into a test failure.
            message: Message = data.decode() if self._partial_type == WSMsgType.TEXT else data
            self._partial_type, self._partial = None, []
            self.messages.put_nowait(message)

    def on_control(self, transport: WSTransport, msg_type: WSMsgType, payload: bytes) -> None:
        """A PING, PONG or CLOSE frame arrived (the engine answers PING and CLOSE itself)."""

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected.set()
        self._changed.set()

    async def recv(self) -> Message:
        """The next whole message, within WAIT seconds."""
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def wait_for(self, cond: Callable[[], bool], what: str) -> None:
        """Wait until ``cond()`` holds (checked after every frame), failing after WAIT seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not cond():
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {WAIT} s waiting for {what}; frames: {self.summary()}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def close_frames(self) -> list[tuple[int, str]]:
        """(code, reason) of every CLOSE frame received."""
        out = []
        for msg_type, _, payload in self.frames:
            if msg_type == WSMsgType.CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else int(WSCloseCode.NO_INFO)
                out.append((code, payload[2:].decode()))
        return out

    def summary(self) -> list[tuple[str, bool, int]]:
        """The frames as (type, fin, size), short enough for an assertion message."""
        return [(WSMsgType(t).name, fin, len(p)) for t, fin, p in self.frames]


def assert_fragmented_text(frames: list[tuple[WSMsgType, bool, bytes]]) -> None:
    """``frames`` are exactly one TEXT message in several frames carrying :data:`FRAGMENTS`.

    Peers may cut differently (websockets ends an iterable with an empty final frame), so only the shape and
    the joined payload are fixed: TEXT without fin, CONTINUATIONs, fin on the last frame only.
    """
    shape = [(WSMsgType(t).name, fin, len(p)) for t, fin, p in frames]
    assert len(frames) >= 2, f"expected a fragmented message, got {shape}"
    assert frames[0][:2] == (WSMsgType.TEXT, False), shape
    assert all(t == WSMsgType.CONTINUATION for t, _, _ in frames[1:]), shape
    assert [fin for _, fin, _ in frames] == [False] * (len(frames) - 1) + [True], shape
    assert b"".join(p for _, _, p in frames) == b"".join(FRAGMENTS)


class CommandListener(Recorder):
    """picows' server side: echoes data frames as they come (keeping their fin bit) and obeys the commands."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.TEXT and frame.fin and frame.get_payload_as_bytes().startswith(b"cmd:"):
            command = frame.get_payload_as_bytes()
            super().on_ws_frame(transport, frame)
            run_command(transport, command)
            return
        if msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            # Echoing frame by frame also exercises our fragmented sending when the peer fragments.
            transport.send(msg_type, frame.get_payload_as_bytes(), frame.fin)
        super().on_ws_frame(transport, frame)

    def on_control(self, transport: WSTransport, msg_type: WSMsgType, payload: bytes) -> None:
        if msg_type == WSMsgType.PONG and payload == PROBE:
            transport.send(WSMsgType.TEXT, PONG_REPORT)


def run_command(transport: WSTransport, command: bytes) -> None:
    """Carry out a ``cmd:`` request on picows' side."""
    if command == b"cmd:fragment":
        transport.send(WSMsgType.TEXT, FRAGMENTS[0], fin=False)
        for fragment in FRAGMENTS[1:-1]:
            transport.send(WSMsgType.CONTINUATION, fragment, fin=False)
        transport.send(WSMsgType.CONTINUATION, FRAGMENTS[-1], fin=True)
    elif command == b"cmd:ping":
        transport.send_ping(PROBE)
    elif command == b"cmd:close":
        transport.send_close(SERVER_CLOSE[0], SERVER_CLOSE[1])
    else:
        raise AssertionError(f"unknown test command {command!r}")


class PicowsServer:
    """A running picows server and the CommandListeners it created, in connection order."""

    def __init__(self, server: asyncio.Server, listeners: list[CommandListener]) -> None:
        self.server = server
        self.listeners = listeners
        self.port: int = server.sockets[0].getsockname()[1]

    def url(self, path: str = "/") -> str:
        """The ws:// URL of ``path`` on this server."""
        return f"ws://127.0.0.1:{self.port}{path}"

    async def listener(self) -> CommandListener:
        """The listener of the first connection, once the handshake reached the factory."""
        async def poll() -> CommandListener:
            while not self.listeners:
                await asyncio.sleep(0.01)
            return self.listeners[0]
        return await asyncio.wait_for(poll(), WAIT)


ServerFactory = Callable[[WSUpgradeRequest, list[CommandListener]], object]


@asynccontextmanager
async def picows_server(factory: ServerFactory | None = None, deflate: bool = False) -> AsyncIterator[PicowsServer]:
    """Run a picows server on 127.0.0.1:0; by default every request gets a new CommandListener.

    ``factory(request, listeners)`` may route requests itself (and append the listeners it creates).
    ``deflate`` accepts permessage-deflate offers.
    """
    listeners: list[CommandListener] = []

    def default_factory(request: WSUpgradeRequest) -> object:
        if factory is not None:
            return factory(request, listeners)
        listener = CommandListener()
        listeners.append(listener)
        return listener

    server = await picows.ws_create_server(
        default_factory,  # type: ignore[arg-type]
        "127.0.0.1",
        0,
        permessage_deflate=deflate,
    )
    try:
        yield PicowsServer(server, listeners)
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), WAIT)


async def picows_client(url: str) -> tuple[WSTransport, Recorder]:
    """Connect a recording picows client to ``url``."""
    transport, listener = await asyncio.wait_for(picows.ws_connect(Recorder, url), WAIT)
    assert isinstance(listener, Recorder)
    return transport, listener
