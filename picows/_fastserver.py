"""The server side of picows' own socket transport: listening sockets accepted with ``loop.add_reader``.

``loop.create_server`` wraps every accepted socket in the loop's stream transport, which is what
``SocketTransport`` avoids; so ``ws_create_server(fast_transport=True)`` listens and accepts itself and returns a
:class:`WSServer`, which behaves like :class:`asyncio.Server` for the usual calls.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

from picows._socket import SocketTransport, StreamProtocol
from picows._tls import TLSTransport

__all__ = ["WSServer", "open_listening_sockets"]

# How many connections one readiness event of a listening socket accepts before yielding to the loop.
_ACCEPT_BATCH = 64
# After running out of file descriptors (EMFILE), how long to stop accepting.
_ACCEPT_RETRY_DELAY = 1.0


async def open_listening_sockets(
    loop: asyncio.AbstractEventLoop,
    host: str | list[str] | None,
    port: int | None,
    *,
    backlog: int = 100,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
) -> list[socket.socket]:
    """Bind and listen like ``loop.create_server`` does: one socket per address ``host`` resolves to."""
    hosts: Iterable[str | None] = [host] if host is None or isinstance(host, str) else host
    if reuse_address is None:
        reuse_address = True  # like asyncio on POSIX: restarts must not wait for TIME_WAIT to expire
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for h in hosts:
            infos = await loop.getaddrinfo(h or None, port or 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for family, type_, proto, _, address in infos:
                key = (family, type_, proto, address)
                if key in seen:
                    continue
                seen.add(key)
                sock = socket.socket(family, type_, proto)
                sockets.append(sock)
                if reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    # Otherwise the IPv6 socket would also claim the IPv4 port that its sibling binds.
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(address)
                except OSError as exc:
                    raise OSError(
                        exc.errno, f"error while attempting to bind on address {address!r}: {exc.strerror}"
                    ) from None
                sock.setblocking(False)
                sock.listen(backlog)
        if not sockets:
            raise OSError(f"getaddrinfo({host!r}, {port}) returned no addresses")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class WSServer(asyncio.Server):
    """A listening picows server on its own socket transport, usable wherever an asyncio.Server is.

    It subclasses asyncio.Server only for its type: asyncio.Server.__init__ is not called and every public method
    is implemented here, because asyncio's own implementation expects the loop's transports.

    ``close()`` stops listening; connections already accepted stay open (as with asyncio.Server before 3.12),
    and ``wait_closed()`` returns once the listening sockets are closed.
    """

    def __init__(  # noqa: B042 - see the class docstring
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], StreamProtocol],
        ssl_context: ssl.SSLContext | None = None,
        ssl_handshake_timeout: float | None = None,
    ) -> None:
        self._loop = loop
        self._sockets: list[socket.socket] | None = sockets
        self._protocol_factory = protocol_factory
        self._ssl_context = ssl_context
        self._ssl_handshake_timeout = 60.0 if ssl_handshake_timeout is None else ssl_handshake_timeout
        self._serving = False
        self._serving_forever: asyncio.Future[None] | None = None
        self._closed = loop.create_future()

    # ---- asyncio.Server API ---------------------------------------------------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on."""
        return self._loop

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty once closed)."""
        return tuple(self._sockets or ())

    def is_serving(self) -> bool:
        """True while the server accepts connections."""
        return self._serving

    async def start_serving(self) -> None:
        """Start accepting connections (ws_create_server already did unless start_serving=False)."""
        self._start()

    async def serve_forever(self) -> None:
        """Accept connections until cancelled; closes the server then."""
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        """Stop listening and close the listening sockets."""
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        for sock in sockets:
            if self._serving:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._serving = False
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until close() was called."""
        await asyncio.shield(self._closed)

    def close_clients(self) -> None:
        """asyncio 3.13 API; this server does not track its connections, so this does nothing."""

    def abort_clients(self) -> None:
        """asyncio 3.13 API; this server does not track its connections, so this does nothing."""

    async def __aenter__(self) -> WSServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    def __repr__(self) -> str:
        return f"<WSServer sockets={self.sockets!r}>"

    # ---- accepting ------------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                # Out of file descriptors or buffers: report it and pause accepting instead of spinning.
                self._loop.call_exception_handler(
                    {
                        "message": f"error accepting a connection; accepting again in {_ACCEPT_RETRY_DELAY} s",
                        "exception": exc,
                        "socket": listener,
                    }
                )
                if self._serving:
                    self._loop.remove_reader(listener.fileno())
                    self._loop.call_later(_ACCEPT_RETRY_DELAY, self._resume_accepting, listener)
                return
            try:
                if self._ssl_context is None:
                    SocketTransport(self._loop, conn, self._protocol_factory()).start()
                else:
                    # A failed handshake closes the socket without troubling the protocol or the loop, as
                    # asyncio's SSL transport does.
                    TLSTransport(self._loop, conn, self._protocol_factory(), self._ssl_context, server_side=True,
                                 handshake_timeout=self._ssl_handshake_timeout).start()
            except Exception as exc:
                conn.close()
                self._loop.call_exception_handler(
                    {"message": "error setting up an accepted connection", "exception": exc, "socket": listener}
                )

    def _resume_accepting(self, listener: socket.socket) -> None:
        if self._serving and self._sockets is not None and listener in self._sockets:
            self._loop.add_reader(listener.fileno(), self._accept, listener)
