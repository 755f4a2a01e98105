"""picows' plain-TCP transport, driven by loop.add_reader/add_writer, with a C-level protocol interface."""

import asyncio
import socket
from typing import Any

from typing_extensions import disjoint_base

__all__ = ["SocketTransport", "StreamProtocol"]

@disjoint_base
class StreamProtocol:
    """The C-level protocol interface SocketTransport drives (subclass it in Cython)."""

@disjoint_base
class SocketTransport:
    """An asyncio.Transport-like object over a connected, non-blocking TCP socket."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: StreamProtocol) -> None: ...
    def start(self) -> None:
        """Call the protocol's connection_made and start reading."""
    def pause_reading(self) -> None:
        """Stop delivering data until resume_reading()."""
    def resume_reading(self) -> None:
        """Undo pause_reading()."""
    def is_reading(self) -> bool:
        """True unless reading is paused or the transport is closing."""
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send now; buffer what the kernel does not take."""
    def writelines(self, list_of_data: list[bytes | bytearray | memoryview]) -> None:
        """Write several buffers with one send()."""
    def can_write_eof(self) -> bool:
        """Always False."""
    def write_eof(self) -> None:
        """Not supported: raises NotImplementedError."""
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the write buffer's high and low water marks."""
    def get_write_buffer_limits(self) -> tuple[int, int]:
        """Return ``(low, high)``."""
    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet accepted by the kernel."""
    def is_closing(self) -> bool:
        """True once close() or abort() was called or the connection broke."""
    def close(self) -> None:
        """Flush, then close and call connection_lost(None)."""
    def abort(self) -> None:
        """Close at once, dropping the write buffer."""
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """'socket', 'sockname', 'peername', 'sslcontext' (None over plain TCP); TLS adds 'ssl_object', 'peercert',
        'cipher', 'compression'."""
    def get_protocol(self) -> StreamProtocol:
        """The protocol this transport drives."""
    def set_protocol(self, protocol: StreamProtocol) -> None:
        """Switch to another StreamProtocol."""
