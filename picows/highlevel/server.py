"""The server side: :func:`serve`, :class:`Server`, :func:`broadcast`."""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, cast

from picows import (
    WSMsgType,
    WSUpgradeRequest,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from ._listener import Listener
from .connection import Connection, Data, LoggerLike, Request, Response, State, _inherit_anext
from .exceptions import ConnectionClosed

__all__ = [
    "serve",
    "unix_serve",
    "Server",
    "ServerConnection",
    "broadcast",
    "Handler",
    "ProcessRequest",
    "ProcessResponse",
    "SelectSubprotocol",
]

Handler = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[["ServerConnection", Request], "Response | None | Awaitable[Response | None]"]
ProcessResponse = Callable[["ServerConnection", Request, Response], "Response | None | Awaitable[Response | None]"]
SelectSubprotocol = Callable[["ServerConnection", Sequence[str]], "str | None"]


class ServerConnection(Connection):
    """The server side of a connection, passed to the handler given to :func:`serve`."""

    is_client = False

    def __init__(self, server: Server, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The :class:`Server` this connection belongs to.
        self.server = server

    def respond(self, status: int, text: str) -> Response:
        """Build a plain-text HTTP response.

        For example, to return from ``process_request``::

            def process_request(connection, request):
                if request.path == "/healthz":
                    return connection.respond(200, "OK\\n")
        """
        status = http.HTTPStatus(status)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        return Response(int(status), status.phrase, headers, text.encode())


_inherit_anext(ServerConnection)


class Server:
    """A running WebSocket server, returned by :func:`serve`.

    Use it as an async context manager (``async with serve(...) as server:``),
    or await ``serve(...)``.  Leaving the ``async with`` block closes it.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        process_request: ProcessRequest | None,
        process_response: ProcessResponse | None,
        subprotocols: Sequence[str] | None,
        select_subprotocol: SelectSubprotocol | None,
        connection_kwargs: dict[str, Any],
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.handler = handler
        self.process_request = process_request
        self.process_response = process_response
        self.subprotocols = list(subprotocols) if subprotocols else None
        self.select_subprotocol = select_subprotocol
        self.connection_kwargs = connection_kwargs
        self.logger = logger
        self.server: asyncio.Server | None = None
        self._handlers: dict[ServerConnection, asyncio.Task[None]] = {}
        self._pending: set[ServerConnection] = set()
        self._close_task: asyncio.Task[None] | None = None
        self._closed = asyncio.get_running_loop().create_future()

    # -- engine side --------------------------------------------------------

    def _listener_factory(
        self, request: WSUpgradeRequest
    ) -> Listener | WSUpgradeResponseWithListener | None | Awaitable[Listener | WSUpgradeResponseWithListener]:
        # The engine answers the upgrade with what this returns; when process_request or process_response is a
        # coroutine function it returns a coroutine and the engine answers once that completes.
        connection = ServerConnection(self, **self.connection_kwargs)
        hl_request = Request.from_upgrade(request)
        connection.request = hl_request
        listener = _ServerListener(connection)
        try:
            answer: object = None
            if self.process_request is not None:
                answer = self.process_request(connection, hl_request)
                if inspect.isawaitable(answer):
                    return self._finish_async(connection, hl_request, listener, answer)
            decided = self._decide(connection, hl_request, listener, answer)
            if inspect.isawaitable(decided):
                return self._finish_async(connection, hl_request, listener, None, decided)
            return decided
        except Exception:
            return self._handshake_failed(connection)

    async def _finish_async(
        self,
        connection: ServerConnection,
        hl_request: Request,
        listener: Listener,
        answer: Awaitable[object] | None,
        decided: Awaitable[Listener | WSUpgradeResponseWithListener] | None = None,
    ) -> Listener | WSUpgradeResponseWithListener:
        try:
            if decided is None:
                assert answer is not None
                result = self._decide(connection, hl_request, listener, await answer)
                if inspect.isawaitable(result):
                    return await result
                return result
            return await decided
        except Exception:
            return self._handshake_failed(connection)

    def _handshake_failed(self, connection: ServerConnection) -> WSUpgradeResponseWithListener:
        self.logger.exception("opening handshake failed")
        error = connection.respond(500, "Failed to open a WebSocket connection.\n")
        connection.response = error
        return WSUpgradeResponseWithListener(error.to_upgrade(), None)

    def _decide(
        self, connection: ServerConnection, hl_request: Request, listener: Listener, answer: object
    ) -> Listener | WSUpgradeResponseWithListener | Awaitable[Listener | WSUpgradeResponseWithListener]:
        if isinstance(answer, Response):
            connection.response = answer
            return WSUpgradeResponseWithListener(answer.to_upgrade(), None)
        if answer is not None:
            raise TypeError(f"process_request must return a Response or None, not {type(answer)}")
        headers: list[tuple[str, str]] = []
        offered = _split_header(hl_request.headers, "Sec-WebSocket-Protocol")
        chosen: str | None = None
        if self.select_subprotocol is not None:
            chosen = self.select_subprotocol(connection, offered)
        elif self.subprotocols and offered:
            chosen = next((p for p in self.subprotocols if p in offered), None)
        if chosen is not None:
            connection.subprotocol = chosen
            headers.append(("Sec-WebSocket-Protocol", chosen))
        response = Response(101, "Switching Protocols", dict(headers))
        if self.process_response is not None:
            replaced: object = self.process_response(connection, hl_request, response)
            if inspect.isawaitable(replaced):
                return self._finish_response(connection, listener, response, replaced)
            if replaced is not None:
                response = cast(Response, replaced)
        return self._respond(connection, listener, response)

    async def _finish_response(
        self, connection: ServerConnection, listener: Listener, response: Response, replaced: Awaitable[object]
    ) -> Listener | WSUpgradeResponseWithListener:
        result = await replaced
        return self._respond(connection, listener, cast(Response, result) if result is not None else response)

    def _respond(
        self, connection: ServerConnection, listener: Listener, response: Response
    ) -> Listener | WSUpgradeResponseWithListener:
        connection.response = response
        if response.status_code != 101:
            return WSUpgradeResponseWithListener(response.to_upgrade(), None)
        self._pending.add(connection)
        if not response.headers:
            return listener
        return WSUpgradeResponseWithListener(response.to_upgrade(), listener)

    def _start_handler(self, connection: ServerConnection) -> None:
        self._pending.discard(connection)
        task = asyncio.get_running_loop().create_task(self._run_handler(connection))
        self._handlers[connection] = task

    async def _run_handler(self, connection: ServerConnection) -> None:
        try:
            try:
                await self.handler(connection)
            except ConnectionClosed:
                # The peer went away while the handler used the connection: not a bug.
                await connection.close()
            except Exception:
                self.logger.error("connection handler failed", exc_info=True)
                await connection.close(1011)
            except asyncio.CancelledError:
                await asyncio.shield(connection.close(1001))
                raise
            else:
                await connection.close()
        finally:
            self._handlers.pop(connection, None)

    # -- public API ---------------------------------------------------------

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections (those whose handler is running)."""
        return {c for c in self._handlers if c.state is State.OPEN}

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        assert self.server is not None
        return tuple(self.server.sockets)

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting; with ``close_connections``, close every connection with 1001.

        Returns at once; await :meth:`wait_closed` to wait until it is done.
        """
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close(close_connections))

    async def _close(self, close_connections: bool) -> None:
        assert self.server is not None
        self.server.close()
        if close_connections:
            closing = [
                asyncio.ensure_future(c.close(1001, "server shutting down"))
                for c in list(self._handlers)
                if c.state is State.OPEN
            ]
            if closing:
                await asyncio.wait(closing)
            # Handlers that ignore the close get cancelled.
            tasks = list(self._handlers.values())
            if tasks:
                timeout = self.connection_kwargs.get("close_timeout")
                _, pending = await asyncio.wait(tasks, timeout=timeout)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
        else:
            tasks = list(self._handlers.values())
            if tasks:
                await asyncio.wait(tasks)
        await self.server.wait_closed()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has returned."""
        await asyncio.shield(self._closed)

    async def serve_forever(self) -> None:
        """Serve until cancelled (then close the server)."""
        try:
            await asyncio.shield(self._closed)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


class _ServerListener(Listener):
    connection: ServerConnection

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        self.connection.server._start_handler(self.connection)

    def on_ws_disconnected(self, transport: Any) -> None:
        self.connection.server._pending.discard(self.connection)
        super().on_ws_disconnected(transport)


def _split_header(headers: Any, name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    values: list[str] = getall(name, []) if getall is not None else [headers.get(name, "")]
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


class serve:  # noqa: N801 - awaitable and async context manager, as in websockets
    """Create a WebSocket server on ``host``:``port``.

    ::

        async def handler(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 8765) as server:
            await server.serve_forever()

    ``handler(connection)`` runs once per connection; when it returns the
    connection closes with 1000, when it raises with 1011 (the traceback is
    logged).

    Args:
        handler: coroutine function taking a :class:`ServerConnection`.
        host, port: where to listen (``port=0`` picks a free port).
        process_request: ``f(connection, request)`` called before the upgrade;
            return a :class:`Response` (e.g. ``connection.respond(403, "no")``)
            to answer with it instead of upgrading, or ``None`` to go on.
            It may be a coroutine function, as in websockets.
        process_response: ``f(connection, request, response)`` may change the
            101 response's headers, or return another :class:`Response`.
        subprotocols: subprotocols supported, in order of preference.
        select_subprotocol: ``f(connection, offered)`` returns the chosen one.
        compression: ``"deflate"`` (the default) accepts permessage-deflate
            offers; ``None`` refuses them (see :class:`connect`).
        open_timeout: as for :class:`~picows.highlevel.connect`; likewise ``ping_interval``,
            ``ping_timeout``, ``close_timeout``, ``max_size``, ``max_queue``, ``write_limit``
            and ``logger``.
        ssl: an :class:`ssl.SSLContext` to serve ``wss://``.
        **kwargs: passed on to :func:`picows.ws_create_server` (and from there
            to ``loop.create_server``).
    """

    def __init__(
        self,
        handler: Handler,
        host: str | None = None,
        port: int | None = None,
        *,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        compression: Literal["deflate"] | None = "deflate",
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | None = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        ssl: ssl_module.SSLContext | None = None,
        logger: LoggerLike | None = None,
        **kwargs: Any,
    ) -> None:
        if compression not in ("deflate", None):
            raise ValueError(f"unsupported compression: {compression!r}; use 'deflate' or None")
        self.handler = handler
        self.compression = compression
        self.host = host
        self.port = port
        self.ssl = ssl
        self.open_timeout = open_timeout
        self.max_size = max_size
        self.kwargs = kwargs
        self.logger = logger or logging.getLogger("picows.highlevel.server")
        self.server_options: dict[str, Any] = dict(
            process_request=process_request,
            process_response=process_response,
            subprotocols=subprotocols,
            select_subprotocol=select_subprotocol,
        )
        self.connection_kwargs: dict[str, Any] = dict(
            max_size=max_size,
            max_queue=max_queue,
            write_limit=write_limit,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            logger=logger,
        )
        self.server: Server | None = None

    async def _create(self) -> Server:
        server = Server(
            self.handler,
            connection_kwargs=self.connection_kwargs,
            logger=self.logger,
            **self.server_options,
        )
        kwargs: dict[str, Any] = {"permessage_deflate": self.compression == "deflate"}
        kwargs.update(self.kwargs)
        if self.ssl is not None:
            if "ssl_context" in inspect.signature(ws_create_server).parameters:
                kwargs["ssl_context"] = self.ssl
            else:
                kwargs["ssl"] = self.ssl
        server.server = await ws_create_server(
            server._listener_factory,
            self.host,
            self.port,
            websocket_handshake_timeout=self.open_timeout,
            max_frame_size=self.max_size if self.max_size is not None else 2**62,
            **kwargs,
        )
        self.server = server
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def unix_serve(handler: Handler, path: str | None = None, **kwargs: Any) -> serve:
    """Like :func:`serve`, listening on the Unix socket ``path``."""
    if path is None:
        raise TypeError("unix_serve() needs the socket's path")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(100)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return serve(handler, sock=sock, **kwargs)


def broadcast(connections: Iterable[Connection], message: Data, raise_exceptions: bool = False) -> int:
    """Send ``message`` to every open connection, without waiting; return how many were skipped.

    A connection whose write buffer is over its ``write_limit`` (a slow
    reader) is skipped instead of buffering more for it, as are closed ones.
    The frame type follows the message type (``str``: text, ``bytes``: binary).

    Args:
        raise_exceptions: raise the first send error instead of logging it.
    """
    msg_type = WSMsgType.TEXT if isinstance(message, str) else WSMsgType.BINARY
    skipped = 0
    for connection in connections:
        if connection.state is not State.OPEN or connection._write_paused:
            skipped += 1
            continue
        try:
            connection.transport.send(msg_type, message)
        except Exception:
            if raise_exceptions:
                raise
            connection.logger.warning("broadcast: send failed", exc_info=True)
            skipped += 1
    return skipped
