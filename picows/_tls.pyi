"""TLS on picows' own socket transport: the ssl module sets the connection up, OpenSSL is called directly after."""

import asyncio
import socket
import ssl

from typing_extensions import disjoint_base

from picows._socket import SocketTransport, StreamProtocol

__all__ = ["AVAILABLE", "TLSTransport"]

#: True when TLS can run on picows' own transport (CPython, with an ssl module linked to a shared OpenSSL).
AVAILABLE: bool

@disjoint_base
class TLSTransport(SocketTransport):
    """A SocketTransport that speaks TLS; ``start()`` runs the handshake before the protocol hears of it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: StreamProtocol,
        sslcontext: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        handshake_timeout: float | None = 60.0,
    ) -> None: ...
    def start(self, waiter: asyncio.Future[None] | None = None) -> None:
        """Run the TLS handshake, then call the protocol's connection_made and start reading."""
    def close(self) -> None:
        """Send the buffered data and TLS's close_notify, then close the socket."""
