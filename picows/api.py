"""ws_connect and ws_create_server: open WebSocket connections over asyncio with the picows engine."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Union

from picows import _handshake
from picows._fastserver import WSServer, open_listening_sockets
from picows._protocol import WSProtocol
from picows._socket import SocketTransport
from picows._tls import AVAILABLE as _TLS_ON_FAST_TRANSPORT
from picows._tls import TLSTransport
from picows._transport import WSListener, WSTransport
from picows.enums import WSAutoPingStrategy
from picows.errors import WSHandshakeTimeoutError
from picows.extensions import WSDeflateOptions, client_offer
from picows.headers import WSHeadersLike
from picows.upgrade import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.url import WSParsedURL, parse_url

__all__ = ["ws_connect", "ws_create_server", "WSListenerFactory", "WSServerListenerFactory", "WSSocketFactory"]

#: Client listener factory: ``factory()`` or ``factory(request, response)``.
WSListenerFactory = Union[Callable[[], WSListener], Callable[[WSUpgradeRequest, WSUpgradeResponse], WSListener]]
#: Server listener factory: returns a listener, None (404) or a WSUpgradeResponseWithListener.
WSServerListenerFactory = Callable[
    [WSUpgradeRequest],
    Union[
        WSListener,
        WSUpgradeResponseWithListener,
        None,
        Awaitable[Union[WSListener, WSUpgradeResponseWithListener, None]],
    ],
]
#: Returns a socket (connected or not) for a URL, or None to connect the usual way; may be a coroutine function.
WSSocketFactory = Callable[[WSParsedURL], Union[socket.socket, None, Awaitable[Union[socket.socket, None]]]]

WSLoggerLike = Union[str, logging.Logger, None]

# What fast_transport=None means: on (it passes the same test suites and Autobahn runs as the asyncio transports and
# costs about a third fewer instructions per message); PICOWS_FAST_TRANSPORT=0 turns it off for a whole process
# (to run a test suite or a benchmark on the loop's own transports without changing code).
_FAST_TRANSPORT_DEFAULT = os.environ.get("PICOWS_FAST_TRANSPORT", "1") != "0"


def _use_fast_transport(
    fast_transport: bool | None, tls: bool, kwargs: dict[str, Any], supported: set[str], loop_method: str
) -> bool:
    # Whether a connection runs on picows' own transport: asked for (or the default), possible for this
    # connection (TLS needs picows._tls), and no loop.<loop_method> argument it cannot honour was given.
    use_fast = (_FAST_TRANSPORT_DEFAULT if fast_transport is None else fast_transport) and (
        not tls or _TLS_ON_FAST_TRANSPORT
    )
    unsupported = set(kwargs) - supported
    if use_fast and unsupported:
        if fast_transport:
            raise TypeError(
                f"fast_transport=True cannot be combined with {loop_method} arguments {sorted(unsupported)}"
            )
        return False
    return use_fast


async def _open_socket(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    # The plain-TCP part of loop.create_connection: try every address getaddrinfo gives, in order.
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}, {port}) returned no addresses")
    errors: list[OSError] = []
    for family, type_, proto, _, address in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if len(errors) == 1:
        raise errors[0]
    raise OSError(f"could not connect to {host}:{port}: " + "; ".join(str(exc) for exc in errors))


def _resolve_logger(logger_name: WSLoggerLike, side: str) -> logging.Logger:
    # Loggers come from logging's registry, so a name costs one shared object, not one per connection.
    if isinstance(logger_name, logging.Logger):
        return logger_name
    if logger_name is None:
        return logging.getLogger(f"picows.{side}")
    if logger_name.startswith("picows.") or logger_name == "picows":
        return logging.getLogger(logger_name)
    return logging.getLogger(f"picows.{logger_name}")


def _check_common(auto_ping_strategy: WSAutoPingStrategy, max_frame_size: int, read_buffer_init_size: int) -> None:
    if auto_ping_strategy not in (WSAutoPingStrategy.PING_WHEN_IDLE, WSAutoPingStrategy.PING_PERIODICALLY):
        raise ValueError(f"auto_ping_strategy must be a WSAutoPingStrategy, not {auto_ping_strategy!r}")
    if max_frame_size <= 0:
        raise ValueError(f"max_frame_size must be positive, not {max_frame_size}")
    if read_buffer_init_size <= 0:
        raise ValueError(f"read_buffer_init_size must be positive, not {read_buffer_init_size}")


def _deflate_options(value: bool | WSDeflateOptions) -> WSDeflateOptions | None:
    if isinstance(value, WSDeflateOptions):
        return value
    return WSDeflateOptions() if value else None


def _two_arg_factory(factory: WSListenerFactory) -> Callable[[WSUpgradeRequest, WSUpgradeResponse], WSListener]:
    # The engine always passes (request, response); adapt the zero-argument form once, at connect time.
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        params = []
    required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    if len(required) >= 2:
        return factory  # type: ignore[return-value]
    zero_arg: Callable[[], WSListener] = factory  # type: ignore[assignment]
    return lambda request, response: zero_arg()


async def ws_connect(
    ws_listener_factory: WSListenerFactory,
    url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    disconnect_on_exception: bool = True,
    websocket_handshake_timeout: float | None = 5,
    logger_name: WSLoggerLike = None,
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 10,
    auto_ping_reply_timeout: float = 10,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = 10 * 1024 * 1024,
    extra_headers: WSHeadersLike | None = None,
    read_buffer_init_size: int = 16 * 1024,
    socket_factory: WSSocketFactory | None = None,
    validate_utf8: bool = True,
    max_head_size: int = _handshake.DEFAULT_MAX_HEAD_SIZE,
    permessage_deflate: bool | WSDeflateOptions = False,
    fast_transport: bool | None = None,
    **kwargs: Any,
) -> tuple[WSTransport, WSListener]:
    """Open a WebSocket connection to ``url`` (``ws://`` or ``wss://``).

    Args:
        ws_listener_factory: returns the connection's :class:`WSListener`; called with no arguments, or with the
            upgrade request and response if it takes two.
        url: ``ws://host[:port]/path?query`` or ``wss://...``; raises :class:`WSInvalidURL` otherwise.
        ssl_context: TLS context for ``wss://`` (default: ``ssl.create_default_context()``).
        disconnect_on_exception: fail the connection with 1011 when a listener callback raises.
        websocket_handshake_timeout: seconds for the opening handshake (None: no limit).
        logger_name: a logger, or a name under ``picows.`` (default ``picows.client``).
        enable_auto_ping: ping the server when it goes quiet and disconnect if no pong comes.
        auto_ping_idle_timeout: seconds of silence before a ping (PING_WHEN_IDLE), or the ping period.
        auto_ping_reply_timeout: seconds to wait for the pong.
        auto_ping_strategy: :class:`WSAutoPingStrategy`.
        enable_auto_pong: answer PINGs in the engine (they are then not passed to the listener).
        max_frame_size: larger frames fail the connection with 1009.
        extra_headers: headers added to the upgrade request (``Host`` replaces the generated one).
        read_buffer_init_size: initial read buffer size; it grows for large frames and shrinks back.
        socket_factory: returns a pre-made socket for the URL (or None); may be a coroutine function.
        validate_utf8: check text messages are UTF-8 (1007 otherwise); turn off only for trusted peers.
        max_head_size: the largest response head accepted.
        permessage_deflate: offer permessage-deflate (RFC 7692); True for the defaults or a
            :class:`WSDeflateOptions`. When the server agrees, frames reach the listener decompressed (``rsv1``
            False) and ``send`` compresses messages of ``min_size`` bytes or more.
        fast_transport: run the connection on picows' own socket transport (reads and writes in C, no asyncio
            stream transport) instead of ``loop.create_connection``; None picks the default: on, unless
            ``**kwargs`` other than ``server_hostname`` and ``ssl_handshake_timeout`` are given or the environment
            variable ``PICOWS_FAST_TRANSPORT=0`` is set. ``wss://`` runs on it too (OpenSSL driven directly, see
            :doc:`/topics/performance`) where ``picows._tls.AVAILABLE`` is true (CPython with a shared OpenSSL).
        **kwargs: passed to ``loop.create_connection``.

    Returns:
        The :class:`WSTransport` and the listener the factory returned.
    """
    for name in ("ssl", "sock"):
        if name in kwargs:
            raise TypeError(f"ws_connect does not take {name!r}; use ssl_context / socket_factory")
    _check_common(auto_ping_strategy, max_frame_size, read_buffer_init_size)
    parsed = parse_url(url)
    loop = asyncio.get_running_loop()
    logger = _resolve_logger(logger_name, "client")

    ssl_arg: ssl.SSLContext | None = None
    if parsed.is_secure:
        ssl_arg = ssl_context if ssl_context is not None else ssl.create_default_context()
        kwargs.setdefault("server_hostname", parsed.host)
    elif ssl_context is not None:
        raise ValueError(f"ssl_context was given for a {parsed.scheme}:// URL; use wss:// for TLS")

    key = _handshake.generate_key()
    request = _handshake.build_request(parsed, key, extra_headers)
    deflate_options = _deflate_options(permessage_deflate)
    if deflate_options is not None:
        if "Sec-WebSocket-Extensions" in request.headers:
            raise ValueError("permessage_deflate cannot be combined with a Sec-WebSocket-Extensions extra header")
        request.headers.add("Sec-WebSocket-Extensions", client_offer(deflate_options))
    factory = _two_arg_factory(ws_listener_factory)
    use_fast = _use_fast_transport(
        fast_transport, parsed.is_secure, kwargs, {"server_hostname", "ssl_handshake_timeout"}, "create_connection"
    )

    def protocol_factory() -> WSProtocol:
        return WSProtocol(
            factory,
            True,
            logger=logger,
            disconnect_on_exception=disconnect_on_exception,
            handshake_timeout=websocket_handshake_timeout,
            enable_auto_ping=enable_auto_ping,
            auto_ping_idle_timeout=auto_ping_idle_timeout,
            auto_ping_reply_timeout=auto_ping_reply_timeout,
            auto_ping_strategy=auto_ping_strategy,
            enable_auto_pong=enable_auto_pong,
            max_frame_size=max_frame_size,
            read_buffer_init_size=read_buffer_init_size,
            validate_utf8=validate_utf8,
            max_head_size=max_head_size,
            url=parsed,
            request=request,
            key=key,
            deflate_options=deflate_options,
        )

    sock: socket.socket | None = None
    if socket_factory is not None:
        made = socket_factory(parsed)
        if inspect.isawaitable(made):
            made = await made
        sock = made

    async def connect_fast() -> WSProtocol:
        conn = sock
        if conn is None:
            conn = await _open_socket(loop, parsed.host, parsed.port)
        else:
            conn.setblocking(False)
            try:
                conn.getpeername()
            except OSError:
                await loop.sock_connect(conn, (parsed.host, parsed.port))
        try:
            protocol = protocol_factory()
            if ssl_arg is None:
                SocketTransport(loop, conn, protocol).start()
                return protocol
            transport = TLSTransport(
                loop,
                conn,
                protocol,
                ssl_arg,
                server_hostname=kwargs.get("server_hostname"),
                handshake_timeout=kwargs.get("ssl_handshake_timeout") or 60.0,
            )
        except BaseException:
            conn.close()
            raise
        handshake: asyncio.Future[None] = loop.create_future()
        transport.start(handshake)
        try:
            await handshake
        except BaseException:
            transport.abort()  # closes the socket if the handshake is still running (cancelled, timed out)
            raise
        return protocol

    async def connect() -> tuple[WSTransport, WSListener]:
        if use_fast:
            protocol = await connect_fast()
        elif sock is not None:
            try:
                sock.getpeername()
            except OSError:
                sock.setblocking(False)
                await loop.sock_connect(sock, (parsed.host, parsed.port))
            _, protocol = await loop.create_connection(protocol_factory, sock=sock, ssl=ssl_arg, **kwargs)
        else:
            _, protocol = await loop.create_connection(
                protocol_factory, parsed.host, parsed.port, ssl=ssl_arg, **kwargs
            )
        result: tuple[WSTransport, WSListener] = await protocol.wait_handshake()
        return result

    if websocket_handshake_timeout is None:
        return await connect()
    try:
        if sys.version_info >= (3, 11):
            # asyncio.timeout runs connect() in the caller's task; wait_for would wrap it in a task of its own, and
            # the extra hops let frames that came with the 101 be failed before the caller could answer them.
            async with asyncio.timeout(websocket_handshake_timeout):
                return await connect()
        else:  # pragma: no cover - Python 3.10
            return await asyncio.wait_for(connect(), websocket_handshake_timeout)
    except asyncio.TimeoutError as exc:
        if isinstance(exc, WSHandshakeTimeoutError):
            raise
        raise WSHandshakeTimeoutError(
            f"connecting to {url} and completing the WebSocket handshake took over {websocket_handshake_timeout} s"
        ) from exc


async def ws_create_server(
    ws_listener_factory: WSServerListenerFactory,
    host: str | list[str] | None = None,
    port: int | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    disconnect_on_exception: bool = True,
    websocket_handshake_timeout: float | None = 5,
    logger_name: WSLoggerLike = None,
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 20,
    auto_ping_reply_timeout: float = 20,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = 10 * 1024 * 1024,
    read_buffer_init_size: int = 16 * 1024,
    validate_utf8: bool = True,
    max_head_size: int = _handshake.DEFAULT_MAX_HEAD_SIZE,
    permessage_deflate: bool | WSDeflateOptions = False,
    fast_transport: bool | None = None,
    **kwargs: Any,
) -> asyncio.Server:
    """Start a WebSocket server on ``host``:``port`` (``ssl_context`` for TLS).

    ``ws_listener_factory(request)`` is called for every upgrade request (before its WebSocket headers are
    checked; it may be a coroutine function, e.g. to check credentials in a database) and returns a
    :class:`WSListener` (101 Switching Protocols), None (404 Not Found), or a
    :class:`WSUpgradeResponseWithListener` to answer with a custom status, headers (e.g. the chosen
    ``Sec-WebSocket-Protocol``) or an error page. Malformed upgrades get 400/405/426, heads over
    ``max_head_size`` get 431. ``permessage_deflate`` (True or a :class:`WSDeflateOptions`) accepts the
    first permessage-deflate offer it can honour. The other options are those of :func:`ws_connect`;
    ``**kwargs`` go to ``loop.create_server``.

    ``fast_transport`` (None picks the default, see :func:`ws_connect`; TLS included where
    ``picows._tls.AVAILABLE``) runs the connections on picows' own socket transport: the server then listens and
    accepts itself and returns a ``WSServer``, an asyncio.Server subclass; of ``**kwargs`` it accepts only
    ``backlog``, ``reuse_address``, ``reuse_port``, ``start_serving`` and ``ssl_handshake_timeout``.
    """
    if "ssl" in kwargs:
        raise TypeError("ws_create_server does not take 'ssl'; use ssl_context")
    _check_common(auto_ping_strategy, max_frame_size, read_buffer_init_size)
    loop = asyncio.get_running_loop()
    logger = _resolve_logger(logger_name, "server")
    deflate_options = _deflate_options(permessage_deflate)

    def protocol_factory() -> WSProtocol:
        return WSProtocol(
            ws_listener_factory,
            False,
            logger=logger,
            disconnect_on_exception=disconnect_on_exception,
            handshake_timeout=websocket_handshake_timeout,
            enable_auto_ping=enable_auto_ping,
            auto_ping_idle_timeout=auto_ping_idle_timeout,
            auto_ping_reply_timeout=auto_ping_reply_timeout,
            auto_ping_strategy=auto_ping_strategy,
            enable_auto_pong=enable_auto_pong,
            max_frame_size=max_frame_size,
            read_buffer_init_size=read_buffer_init_size,
            validate_utf8=validate_utf8,
            max_head_size=max_head_size,
            deflate_options=deflate_options,
        )

    use_fast = _use_fast_transport(
        fast_transport,
        ssl_context is not None,
        kwargs,
        {"backlog", "reuse_address", "reuse_port", "start_serving", "ssl_handshake_timeout"},
        "create_server",
    )
    if use_fast:
        start_serving = kwargs.pop("start_serving", True)
        handshake_timeout = kwargs.pop("ssl_handshake_timeout", None)
        sockets = await open_listening_sockets(loop, host, port, **kwargs)
        server = WSServer(loop, sockets, protocol_factory, ssl_context, handshake_timeout)
        if start_serving:
            await server.start_serving()
        return server
    return await loop.create_server(protocol_factory, host, port, ssl=ssl_context, **kwargs)
