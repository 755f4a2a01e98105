# cython: annotation_typing=False
"""The connection object both sides share: recv/send/ping/close and their state.

A :class:`Connection` is driven by a :class:`~picows.highlevel._listener.Listener`
(the engine's callbacks) and used by the application's coroutines.  It never
reads frames itself; the listener hands it complete messages through the
:class:`~picows.highlevel.messages.Assembler`, and close/pong events through
the ``_on_*`` methods.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Coroutine,
    Iterable,
    Mapping,
    MutableMapping,
)
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from picows import WSCloseCode, WSMsgType, WSUpgradeRequest, WSUpgradeResponse
from picows._transport import WSTransport

from ._ready import READY
from .exceptions import (
    Close,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidState,
    connection_closed,
)
from .messages import Assembler, Data, parse_limits

__all__ = ["Connection", "State", "Request", "Response", "Data", "LoggerLike"]

if TYPE_CHECKING:
    #: A logger or a logger adapter.
    LoggerLike: TypeAlias = logging.Logger | logging.LoggerAdapter[logging.Logger]
else:  # LoggerAdapter can be subscripted at run time from Python 3.11 on; the package supports 3.10
    LoggerLike = logging.Logger | logging.LoggerAdapter

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_NO_INFO = int(WSCloseCode.NO_INFO)


class State(enum.IntEnum):
    """The state of a connection, as in ``websockets.protocol.State``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


# uvloop's loop.time() has millisecond resolution: too coarse for a loopback RTT.
_now = time.perf_counter

# Compiled by Cython (pure-Python mode), or running as plain Python.
_COMPILED = not __file__.endswith(".py")

# Module constants: a global lookup is cheaper than an enum attribute on the hot path.
_OPEN = State.OPEN


@dataclass
class Request:
    """The client's HTTP upgrade request, as the server received it (or the client sent it).

    Attributes:
        path: the request target, e.g. ``"/chat?room=1"``.
        headers: the request headers (case-insensitive).
    """

    path: str
    headers: MutableMapping[str, str]

    @classmethod
    def from_upgrade(cls, request: WSUpgradeRequest) -> Request:
        """Build it from the engine's :class:`picows.WSUpgradeRequest`."""
        path: Any = request.path
        return cls(path.decode("latin-1") if isinstance(path, bytes) else str(path), request.headers)


@dataclass
class Response:
    """An HTTP response: the server's answer to the upgrade, or one from ``process_request``.

    Attributes:
        status_code: e.g. ``101``, ``200``, ``403``.
        reason_phrase: e.g. ``"Forbidden"``.
        headers: the response headers.
        body: the response body.
    """

    status_code: int
    reason_phrase: str
    headers: MutableMapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_upgrade(cls, response: WSUpgradeResponse) -> Response:
        """Build it from the engine's :class:`picows.WSUpgradeResponse`."""
        status = HTTPStatus(int(response.status))
        return cls(int(status), status.phrase, response.headers, response.body or b"")

    def to_upgrade(self) -> WSUpgradeResponse:
        """Convert to the engine's :class:`picows.WSUpgradeResponse` for sending."""
        code = self.status_code
        headers = list(self.headers.items())
        if code == 101:
            return WSUpgradeResponse.create_101_response(headers)
        if 300 <= code <= 399:
            location = self.headers.get("Location", "")
            rest = [(k, v) for k, v in headers if k.lower() != "location"]
            return WSUpgradeResponse.create_redirect_response(code, location, rest)
        if code >= 400:
            return WSUpgradeResponse.create_error_response(code, self.body or None, headers)
        if code != 200:
            raise ValueError(f"unsupported response status {code}: use 101, 200, 3xx, 4xx or 5xx")
        return WSUpgradeResponse.create_ok_response(self.body or None, headers)


def _wire_code(code: int) -> WSCloseCode:
    if code == 1005:
        return WSCloseCode.NO_INFO
    return WSCloseCode(code)


class Connection:
    """One WebSocket connection, client or server side.

    Don't create it yourself: :func:`~picows.highlevel.connect` and
    :func:`~picows.highlevel.serve` do.  It is an async iterator of messages::

        async for message in connection:
            ...

    which ends on a normal close (1000/1001) and raises
    :class:`ConnectionClosedError` on an abnormal one.
    """

    #: Whether this is the client side of the connection.
    is_client = False

    def __init__(
        self,
        *,
        max_size: int | None = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        logger: LoggerLike | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        #: A unique identifier of the connection, useful in logs.
        self.id: uuid.UUID = uuid.uuid4()
        if logger is None:
            logger = logging.getLogger("picows.highlevel.client" if self.is_client else "picows.highlevel.server")
        #: The logger of this connection.
        self.logger: LoggerLike = logger
        self.max_size = max_size
        high, low = parse_limits(max_queue, "max_queue")
        self._assembler = Assembler(high, low, self._pause_reading, self._resume_reading, max_size)
        self._write_limits = parse_limits(write_limit, "write_limit")
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        #: The state of the connection.
        self.state = State.CONNECTING
        self._transport: WSTransport | None = None
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._fragmenting: asyncio.Future[None] | None = None
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        #: The round-trip time of the last ping, in seconds (0 before the first one).
        self.latency: float = 0.0
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_timeout_handle: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_rcvd: Close | None = None
        self._close_sent: Close | None = None
        self._rcvd_then_sent: bool | None = None
        self._closed_exc: ConnectionClosed | None = None
        self._closed = self._loop.create_future()
        #: The upgrade request (the one the client sent / the server received).
        self.request: Request | None = None
        #: The upgrade response (the one the server sent / the client received).
        self.response: Response | None = None
        #: The subprotocol both sides agreed on, or ``None``.
        self.subprotocol: str | None = None

    # -- engine events (called by the listener) -----------------------------

    def _on_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self.state = State.OPEN
        high, low = self._write_limits
        underlying = transport.underlying_transport
        if high != float("inf"):
            underlying.set_write_buffer_limits(high=int(high), low=int(low))
        if self.ping_interval is not None:
            self._keepalive_handle = self._loop.call_later(self.ping_interval, self._keepalive)

    def _on_close_frame(self, code: int, reason: str) -> None:
        if code == _NO_INFO:
            code = 1005
        self._close_rcvd = Close(code, reason)
        transport = self._transport
        assert transport is not None
        if self._close_sent is None:
            # The peer started the closing handshake: echo its code.
            self._rcvd_then_sent = True
            self._close_sent = Close(code, "")
            self.state = State.CLOSING
            try:
                transport.send_close(_wire_code(code))
            except ValueError:
                transport.send_close(WSCloseCode.PROTOCOL_ERROR)
        else:
            self._rcvd_then_sent = False
        if self.is_client:
            # RFC 6455 7.1.1: the server closes TCP first; give it close_timeout.
            self._arm_close_timer()
        else:
            transport.disconnect()

    def _on_pong(self, data: bytes) -> None:
        pings = self._pings
        if data not in pings:
            return
        now = _now()
        # A pong acknowledges its ping and every ping sent before it.
        for key in list(pings):
            waiter, sent_at = pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent_at)
            if key == data:
                self.latency = now - sent_at
                break

    def _on_disconnected(self) -> None:
        self.state = State.CLOSED
        transport = self._transport
        if transport is not None and (self._close_sent is None or self._close_rcvd is None):
            # The engine may have closed on its own (protocol error, max_size, ...).
            handshake: Any = getattr(transport, "close_handshake", None)
            if handshake is not None:
                if self._close_sent is None and handshake.sent is not None:
                    self._close_sent = _close_info(handshake.sent)
                if self._close_rcvd is None and handshake.recv is not None:
                    self._close_rcvd = _close_info(handshake.recv)
                if self._rcvd_then_sent is None and self._close_sent and self._close_rcvd:
                    self._rcvd_then_sent = bool(handshake.recv_then_sent)
        exc = connection_closed(self._close_rcvd, self._close_sent, self._rcvd_then_sent)
        self._closed_exc = exc
        self._assembler.close(exc, isinstance(exc, ConnectionClosedOK))
        for handle in (self._keepalive_handle, self._keepalive_timeout_handle, self._close_timer):
            if handle is not None:
                handle.cancel()
        for waiter, _ in self._pings.values():
            if not waiter.done():
                waiter.set_exception(exc)
                # Nobody may be awaiting a ping; don't warn about it.
                waiter.exception()
        self._pings.clear()
        self._wake_drain_waiters()
        if not self._closed.done():
            self._closed.set_result(None)

    def _on_pause_writing(self) -> None:
        self._write_paused = True

    def _on_resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain_waiters()

    def _fail(self, code: int, reason: str) -> None:
        """Close with an error code and drop the TCP connection at once."""
        transport = self._transport
        if transport is None or transport.is_disconnected:
            return
        if self._close_sent is None:
            self._close_sent = Close(code, reason)
            self.state = State.CLOSING
            transport.send_close(_wire_code(code), reason.encode())
        transport.disconnect()

    # -- flow control -------------------------------------------------------

    def _pause_reading(self) -> None:
        if self._transport is not None and not self._reading_paused:
            self._reading_paused = True
            self._transport.underlying_transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._transport is not None and self._reading_paused:
            self._reading_paused = False
            if not self._transport.is_disconnected:
                self._transport.underlying_transport.resume_reading()

    def _wake_drain_waiters(self) -> None:
        waiters = self._drain_waiters
        if waiters:
            self._drain_waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _drain(self) -> None:
        while self._write_paused:
            if self.state is State.CLOSED:
                raise self._connection_closed()
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter
        if self.state is State.CLOSED:
            raise self._connection_closed()

    def _connection_closed(self) -> ConnectionClosed:
        if self._closed_exc is not None:
            return self._closed_exc
        return connection_closed(self._close_rcvd, self._close_sent, self._rcvd_then_sent)

    # -- receiving ----------------------------------------------------------

    @overload
    def recv(self, decode: Literal[True]) -> Coroutine[Any, Any, str]: ...
    @overload
    def recv(self, decode: Literal[False]) -> Coroutine[Any, Any, bytes]: ...
    @overload
    def recv(self, decode: bool | None = None) -> Coroutine[Any, Any, Data]: ...

    def recv(self, decode: bool | None = None) -> Coroutine[Any, Any, Data]:
        """Receive the next message (a coroutine: ``await ws.recv()``).

        Returns ``str`` for a text message and ``bytes`` for a binary one;
        ``decode=True`` always returns ``str``, ``decode=False`` always ``bytes``.
        Messages that arrived before the connection closed are still returned.

        Raises:
            ConnectionClosed: the connection is closed (``ConnectionClosedOK``
                after a normal close).
            ConcurrencyError: another coroutine is already in ``recv()``.
        """
        # Return the assembler's coroutine itself (a C call when compiled): one object per message, which is
        # also the future the task waits on (messages._Waiter).
        return self._assembler.get(decode)

    def recv_streaming(self, decode: bool | None = None) -> AsyncGenerator[Data, None]:
        """Yield the pieces of the next message as its frames arrive.

        Use it for large fragmented messages you can process incrementally.
        Text pieces are ``str`` (decoded incrementally), binary ones ``bytes``.
        """
        return self._assembler.get_streaming(decode)

    def __aiter__(self) -> AsyncIterator[Data]:
        return self

    def __anext__(self) -> Coroutine[Any, Any, Data]:
        # The assembler's own coroutine ends the iteration on a normal close: one coroutine per message.
        return self._assembler.get_next()

    # -- sending ------------------------------------------------------------

    def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data],
        text: bool | None = None,
    ) -> Coroutine[Any, Any, None]:
        """Send a message.

        ``str`` goes as a text message, ``bytes``/``bytearray``/``memoryview``
        as binary (``text`` overrides: ``text=True`` sends bytes holding UTF-8
        as a text frame).  An iterable or async iterable of ``str`` or
        ``bytes`` sends one message in fragments.

        Returns at once while the write buffer is below ``write_limit``;
        otherwise waits until it drains below the low-water mark.

        A ``str`` or bytes-like message is handed to the transport when
        ``send()`` is called, and what it returns only waits for the write
        buffer (it is an already finished coroutine in the common case).
        Errors are raised when the result is awaited, as with a coroutine.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``message`` has an unsupported type.
        """
        transport = self._transport
        if self.state is _OPEN and self._fragmenting is None and not self._write_paused and transport is not None:
            # Fast path: nothing to wait for before or (usually) after handing the frame over.
            # Exact type checks cost less than isinstance() with a tuple (~400 instructions per message,
            # measured with callgrind); subclasses take the general path. mypy cannot narrow on `kind`.
            kind = type(message)
            if kind is bytes or kind is bytearray or kind is memoryview:
                transport.send(_TEXT if text else _BINARY, message)  # type: ignore[arg-type]
            elif kind is str:
                transport.send(_BINARY if text is False else _TEXT, message)  # type: ignore[arg-type]
            else:
                return self._send(message, text)
            return self._drain() if self._write_paused else READY
        return self._send(message, text)

    async def _send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data],
        text: bool | None,
    ) -> None:
        if self.state is not _OPEN:
            raise self._connection_closed()
        if self._fragmenting is not None:
            await self._wait_fragmented_send()
        transport = self._transport
        assert transport is not None
        if isinstance(message, str):
            transport.send(_BINARY if text is False else _TEXT, message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            transport.send(_TEXT if text else _BINARY, message)
        elif isinstance(message, Mapping):
            raise TypeError("send() does not accept a dict; serialize it first (e.g. json.dumps)")
        elif isinstance(message, AsyncIterable):
            await self._send_fragments_async(message, text)
        elif isinstance(message, Iterable):
            await self._send_fragments(message, text)
        else:
            raise TypeError(f"send() needs str, bytes or an iterable of them, got {type(message)}")
        if self._write_paused:
            await self._drain()

    async def _wait_fragmented_send(self) -> None:
        while self._fragmenting is not None:
            await asyncio.shield(self._fragmenting)
        if self.state is not State.OPEN:
            raise self._connection_closed()

    def _fragment_type(self, first: object, text: bool | None) -> tuple[WSMsgType, type]:
        if isinstance(first, str):
            return (_BINARY if text is False else _TEXT), str
        if isinstance(first, (bytes, bytearray, memoryview)):
            return (_TEXT if text else _BINARY), bytes
        raise TypeError(f"message fragments must be str or bytes, got {type(first)}")

    async def _send_fragments(self, fragments: Iterable[Data], text: bool | None) -> None:
        iterator = iter(fragments)
        try:
            current = next(iterator)
        except StopIteration:
            return
        msg_type, kind = self._fragment_type(current, text)
        await self._run_fragmented(self._fragment_loop(iterator, current, msg_type, kind))

    async def _fragment_loop(self, iterator: Iterable[Data], current: Data, msg_type: WSMsgType, kind: type) -> None:
        transport = self._transport
        assert transport is not None
        opcode = msg_type
        for following in iterator:
            _check_fragment(following, kind)
            transport.send(opcode, current, False)
            opcode = _CONTINUATION
            current = following
            if self._write_paused:
                await self._drain()
        transport.send(opcode, current, True)

    async def _send_fragments_async(self, fragments: AsyncIterable[Data], text: bool | None) -> None:
        iterator = aiter(fragments)
        try:
            current = await anext(iterator)
        except StopAsyncIteration:
            return
        msg_type, kind = self._fragment_type(current, text)

        async def run() -> None:
            transport = self._transport
            assert transport is not None
            opcode: WSMsgType = msg_type
            prev = current
            async for following in iterator:
                _check_fragment(following, kind)
                transport.send(opcode, prev, False)
                opcode = _CONTINUATION
                prev = following
                if self._write_paused:
                    await self._drain()
            transport.send(opcode, prev, True)

        await self._run_fragmented(run())

    async def _run_fragmented(self, body: Awaitable[None]) -> None:
        self._fragmenting = self._loop.create_future()
        try:
            await body
        except BaseException:
            # A half-sent message can't be finished: the stream is broken.
            self._fail(1011, "error while sending a fragmented message")
            raise
        finally:
            done, self._fragmenting = self._fragmenting, None
            if done is not None and not done.done():
                done.set_result(None)

    # -- ping / pong --------------------------------------------------------

    async def ping(self, data: Data | None = None) -> Awaitable[float]:
        """Send a ping; return an awaitable that gives the round-trip time in seconds.

        ::

            pong_waiter = await ws.ping()
            latency = await pong_waiter

        Raises:
            ConnectionClosed: the connection is closed or closing.
            ConcurrencyError: a ping with the same ``data`` awaits its pong.
        """
        if self.state is not State.OPEN:
            raise self._connection_closed()
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        elif isinstance(data, str):
            payload = data.encode()
        else:
            payload = bytes(data)
        if payload in self._pings:
            raise ConcurrencyError("a ping with the same data is already waiting for its pong")
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, _now())
        assert self._transport is not None
        self._transport.send_ping(payload)
        return waiter

    async def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong (e.g. a unidirectional heartbeat)."""
        if self.state is not State.OPEN:
            raise self._connection_closed()
        assert self._transport is not None
        self._transport.send_pong(data.encode() if isinstance(data, str) else data)

    def _keepalive(self) -> None:
        self._keepalive_handle = None
        if self.state is not State.OPEN or self.ping_interval is None:
            return
        payload = os.urandom(4)
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, _now())
        assert self._transport is not None
        self._transport.send_ping(payload)
        if self.ping_timeout is not None:
            self._keepalive_timeout_handle = self._loop.call_later(self.ping_timeout, self._keepalive_expired, waiter)
            waiter.add_done_callback(self._keepalive_answered)
        self._keepalive_handle = self._loop.call_later(self.ping_interval, self._keepalive)

    def _keepalive_answered(self, waiter: asyncio.Future[float]) -> None:
        handle = self._keepalive_timeout_handle
        if handle is not None:
            handle.cancel()
            self._keepalive_timeout_handle = None

    def _keepalive_expired(self, waiter: asyncio.Future[float]) -> None:
        if not waiter.done():
            self.logger.info("no pong within ping_timeout=%s s: closing", self.ping_timeout)
            self._fail(1011, "keepalive ping timeout")

    # -- closing ------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Waits at most ``close_timeout`` for the peer to answer, then drops
        the TCP connection.  Calling it on a closed connection does nothing.
        """
        transport = self._transport
        if self.state is State.OPEN and transport is not None:
            self.state = State.CLOSING
            self._close_sent = Close(code, reason)
            transport.send_close(_wire_code(code), reason.encode() if reason else None)
            # The peer's close frame may sit behind a paused read: read again.
            self._resume_reading()
            self._arm_close_timer()
        elif self.state is State.CONNECTING:
            raise InvalidState("close() called before the connection opened")
        await self.wait_closed()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self.close_timeout is not None:
            assert self._transport is not None
            self._close_timer = self._loop.call_later(self.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        # The peer did not finish the closing handshake in close_timeout: drop the TCP connection.
        if self._transport is not None:
            self._transport.disconnect()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (TCP connection gone)."""
        await asyncio.shield(self._closed)

    # -- properties ---------------------------------------------------------

    @property
    def close_code(self) -> int | None:
        """The close code the peer sent; 1006 if none arrived; ``None`` while open."""
        if self.state is not State.CLOSED:
            return None
        return 1006 if self._close_rcvd is None else self._close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """The close reason the peer sent; ``""`` if none; ``None`` while open."""
        if self.state is not State.CLOSED:
            return None
        return "" if self._close_rcvd is None else self._close_rcvd.reason

    @property
    def transport(self) -> WSTransport:
        """The engine's :class:`picows.WSTransport`: drop down to the callback API's sends."""
        if self._transport is None:
            raise InvalidState("the connection is not open yet")
        return self._transport

    @property
    def local_address(self) -> Any:
        """The local socket address (``(host, port)`` for TCP, a path for Unix sockets)."""
        return self.transport.underlying_transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """The peer's socket address."""
        return self.transport.underlying_transport.get_extra_info("peername")

    @property
    def write_buffer_size(self) -> int:
        """Bytes waiting in the transport's write buffer (``broadcast`` skips full ones)."""
        if self._transport is None:
            return 0
        return self._transport.underlying_transport.get_write_buffer_size()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.state.name}>"


def _check_fragment(fragment: object, kind: type) -> None:
    if kind is str:
        if not isinstance(fragment, str):
            raise TypeError("all fragments of a message must be str, or all bytes-like")
    elif not isinstance(fragment, (bytes, bytearray, memoryview)):
        raise TypeError("all fragments of a message must be str, or all bytes-like")


def _close_info(info: Any) -> Close:
    code = int(info.code)
    return Close(1005 if code == _NO_INFO else code, str(info.reason or ""))


def _inherit_anext(cls: type[Connection]) -> None:
    """Give a Python subclass the compiled ``__anext__`` slot, unless it defines its own.

    Compiled, a Python subclass would reach ``__anext__`` through a lookup by name per message of
    ``async for`` (see ``_slots.h``). Cython does not support ``__init_subclass__`` on a C type, so the
    subclasses call this after their definition.
    """
    mro = cls.__mro__
    if _COMPILED and not any("__anext__" in vars(c) for c in mro[: mro.index(Connection)]):
        picows_inherit_am_anext(cls, Connection)  # type: ignore[name-defined]  # noqa: F821
