"""The client side: :class:`connect` (awaitable, async context manager, reconnect loop)."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl as ssl_module
import sys
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from picows import (
    WSError,
    WSHandshakeError,
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidURL,
    ws_connect,
)

from ._listener import Listener
from .connection import Connection, LoggerLike, Request, Response, _inherit_anext
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)

__all__ = ["connect", "unix_connect", "ClientConnection", "USER_AGENT"]

#: The default ``User-Agent`` header.
USER_AGENT = f"Python/{sys.version_info.major}.{sys.version_info.minor} picows"

HeadersLike = Mapping[str, str] | Sequence[tuple[str, str]]


class ClientConnection(Connection):
    """The client side of a connection, returned by :func:`connect`."""

    is_client = True


_inherit_anext(ClientConnection)


def parse_uri(uri: str) -> tuple[bool, str, int]:
    """Check a ``ws://``/``wss://`` URI; return ``(secure, host, port)``.

    Raises:
        InvalidURI: the scheme, host or port is missing or wrong.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if not parts.hostname:
        raise InvalidURI(uri, "hostname isn't provided")
    if parts.username is not None or parts.password is not None:
        raise InvalidURI(uri, "credentials in the URI aren't supported; send a header instead")
    secure = parts.scheme == "wss"
    return secure, parts.hostname, port if port is not None else (443 if secure else 80)


def _fatal(exc: BaseException) -> bool:
    """Tell whether a connection attempt failed for good (no point retrying)."""
    if isinstance(exc, InvalidStatus):
        return exc.response.status_code < 500
    if isinstance(exc, (OSError, asyncio.TimeoutError, InvalidMessage)):
        return False
    return True


def _response(exc: WSHandshakeError) -> Response:
    assert exc.response is not None
    response = Response.from_upgrade(exc.response)
    if not response.body and exc.raw_body:
        response.body = bytes(exc.raw_body)
    return response


class connect:  # noqa: N801 - a class with a function's name, as in websockets
    """Connect to a WebSocket server.

    Three ways to use it::

        ws = await connect("ws://localhost:8765")          # a ClientConnection

        async with connect("ws://localhost:8765") as ws:   # closed on exit
            ...

        async for ws in connect("ws://localhost:8765"):     # reconnects
            try:
                ...
            except ConnectionClosed:
                continue

    The reconnect loop retries with exponential backoff and jitter after
    transient failures (connection refused/reset, timeouts, HTTP 5xx) and
    raises on fatal ones (bad URI, HTTP 4xx, handshake errors).

    Args:
        uri: ``ws://`` or ``wss://`` URI.
        additional_headers: extra headers for the upgrade request.
        user_agent_header: ``User-Agent`` value; ``None`` to send none.
        subprotocols: subprotocols to offer, in order of preference.
        compression: ``"deflate"`` (the default) offers permessage-deflate
            (RFC 7692) with the engine's defaults; ``None`` disables it.  For
            other settings pass ``permessage_deflate=picows.WSDeflateOptions(...)``,
            which takes precedence.
        open_timeout: seconds allowed for TCP, TLS and the handshake; ``None``: no limit.
        ping_interval: seconds between keepalive pings; ``None`` disables them.
        ping_timeout: seconds to wait for a keepalive pong before closing with 1011.
        close_timeout: seconds to wait for the closing handshake.
        max_size: largest incoming message in bytes (``None``: no limit); a
            bigger one closes the connection with 1009.
        max_queue: stop reading at this many queued messages; an int or a
            ``(high, low)`` pair (low defaults to high // 4); ``None``: no limit.
        write_limit: write buffer high-water mark in bytes, or ``(high, low)``.
        ssl: an :class:`ssl.SSLContext` for ``wss://`` (default: system trust).
        proxy: must be ``None``: proxies aren't supported by the high-level API yet.
        logger: logger for this connection.
        **kwargs: passed on to :func:`picows.ws_connect` (and from there to
            ``loop.create_connection``).
    """

    #: Backoff of the reconnect loop: first delay, growth factor, cap (seconds).
    BACKOFF_INITIAL_DELAY = 1.0
    BACKOFF_MIN_DELAY = 0.5
    BACKOFF_FACTOR = 1.618
    BACKOFF_MAX_DELAY = 60.0

    def __init__(
        self,
        uri: str,
        *,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        subprotocols: Sequence[str] | None = None,
        compression: Literal["deflate"] | None = "deflate",
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | None = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        ssl: ssl_module.SSLContext | None = None,
        proxy: str | Literal[True] | None = None,
        logger: LoggerLike | None = None,
        **kwargs: Any,
    ) -> None:
        if compression not in ("deflate", None):
            raise ValueError(f"unsupported compression: {compression!r}; use 'deflate' or None")
        if proxy is not None:
            raise NotImplementedError(
                "proxies aren't supported by picows.highlevel yet; pass proxy=None, "
                "or use picows.ws_connect(..., proxy=...) directly"
            )
        self.uri = uri
        self.compression = compression
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.subprotocols = list(subprotocols) if subprotocols else None
        self.open_timeout = open_timeout
        self.ssl = ssl
        self.logger = logger
        self.kwargs = kwargs
        self.connection_kwargs: dict[str, Any] = dict(
            max_size=max_size,
            max_queue=max_queue,
            write_limit=write_limit,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            logger=logger,
        )
        self.connection: ClientConnection | None = None

    def _headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        if self.additional_headers is not None:
            items = (
                self.additional_headers.items()
                if isinstance(self.additional_headers, Mapping)
                else self.additional_headers
            )
            headers.extend(items)
        if self.user_agent_header is not None:
            headers.append(("User-Agent", self.user_agent_header))
        if self.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        return headers

    async def _connect_once(self) -> ClientConnection:
        parse_uri(self.uri)
        connection = ClientConnection(**self.connection_kwargs)
        kwargs: dict[str, Any] = {"permessage_deflate": self.compression == "deflate"}
        kwargs.update(self.kwargs)
        if self.ssl is not None:
            kwargs["ssl_context"] = self.ssl
        max_size = self.connection_kwargs["max_size"]
        try:
            coro = ws_connect(
                lambda: Listener(connection),
                self.uri,
                websocket_handshake_timeout=self.open_timeout,
                max_frame_size=max_size if max_size is not None else 2**62,
                extra_headers=self._headers(),
                **kwargs,
            )
            # ws_connect enforces open_timeout itself (websocket_handshake_timeout), without an extra task.
            transport, _ = await coro
        except WSInvalidURL as exc:
            raise InvalidURI(self.uri, str(exc)) from exc
        except WSInvalidStatusError as exc:
            if exc.response is None:
                raise InvalidHandshake(str(exc)) from exc
            raise InvalidStatus(_response(exc)) from exc
        except WSInvalidHeaderError as exc:
            raise InvalidHeader(exc.name, exc.value) from exc
        except WSInvalidMessageError as exc:
            raise InvalidMessage(str(exc)) from exc
        except TimeoutError:
            raise
        except WSHandshakeError as exc:
            if exc.response is not None and int(exc.response.status) != 101:
                raise InvalidStatus(_response(exc)) from exc
            raise InvalidHandshake(str(exc)) from exc
        except WSError as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise InvalidHandshake(str(exc)) from exc
        connection.request = Request.from_upgrade(transport.request)
        connection.response = Response.from_upgrade(transport.response)
        offered = connection.response.headers.get("Sec-WebSocket-Protocol")
        if offered is not None:
            if not self.subprotocols or offered not in self.subprotocols:
                connection._fail(1002, "unexpected subprotocol")
                raise InvalidHeader("Sec-WebSocket-Protocol", offered)
            connection.subprotocol = offered
        return connection

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self.__await_impl().__await__()

    async def __await_impl(self) -> ClientConnection:
        self.connection = await self._connect_once()
        return self.connection

    async def __aenter__(self) -> ClientConnection:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.connection is not None
        await self.connection.close()

    def _backoff(self) -> Generator[float, None, None]:
        # Jitter spreads the reconnections of many clients after an outage.
        yield random.random() * self.BACKOFF_INITIAL_DELAY
        delay = self.BACKOFF_MIN_DELAY
        while delay < self.BACKOFF_MAX_DELAY:
            yield delay
            delay *= self.BACKOFF_FACTOR
        while True:
            yield self.BACKOFF_MAX_DELAY

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """Yield a new connection each time the previous one is done with.

        Transient connection failures are retried with backoff; fatal ones raise.
        """
        delays: Generator[float, None, None] | None = None
        logger = self.logger or logging.getLogger("picows.highlevel.client")
        while True:
            try:
                connection = await self
            except Exception as exc:
                if _fatal(exc):
                    raise
                if delays is None:
                    delays = self._backoff()
                delay = next(delays)
                logger.info("connect to %s failed (%s); retrying in %.1f s", self.uri, exc, delay)
                await asyncio.sleep(delay)
                continue
            delays = None
            try:
                yield connection
            finally:
                await connection.close()


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on a Unix socket.

    Args:
        path: the socket's file system path.
        uri: the URI sent in the handshake (default ``ws://localhost/``).
        **kwargs: as for :class:`connect`.
    """
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    if path is None:
        raise TypeError("unix_connect() needs the socket's path")
    socket_path = path

    async def socket_factory(_url: object) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, socket_path)
        except BaseException:
            sock.close()
            raise
        return sock

    return connect(uri, socket_factory=socket_factory, **kwargs)
