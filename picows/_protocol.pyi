"""The read side of a connection: the protocol that owns the FrameReader and drives WSListener and WSTransport."""

import asyncio
import logging
from typing import Any

from typing_extensions import disjoint_base

from picows._frame import FrameReader
from picows._socket import StreamProtocol
from picows._transport import WSListener, WSTransport

__all__ = ["WSProtocol"]

@disjoint_base
class _WSProtocol(StreamProtocol):
    def __init__(
        self,
        listener_factory: Any,
        is_client: bool,
        *,
        logger: logging.Logger,
        disconnect_on_exception: bool = ...,
        handshake_timeout: float | None = ...,
        enable_auto_ping: bool = ...,
        auto_ping_idle_timeout: float = ...,
        auto_ping_reply_timeout: float = ...,
        auto_ping_strategy: Any = ...,
        enable_auto_pong: bool = ...,
        max_frame_size: int = ...,
        read_buffer_init_size: int = ...,
        validate_utf8: bool = ...,
        max_head_size: int = ...,
        extra_headers: Any = ...,
        url: Any = ...,
        request: Any = ...,
        key: Any = ...,
        deflate_options: Any = ...,
    ) -> None: ...
    @property
    def reader(self) -> FrameReader:
        """The connection's frame reader (read-only; for tests and debugging)."""
    def connection_made(self, transport: Any) -> None: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def eof_received(self) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def connection_lost(self, exc: BaseException | None) -> None: ...
    def notify_pong(self) -> None:
        """WSTransport.notify_user_specific_pong_received() lands here."""
    async def wait_handshake(self) -> tuple[WSTransport, WSListener]:
        """Client side: wait for the handshake and return (transport, listener)."""

class WSProtocol(_WSProtocol, asyncio.BufferedProtocol):
    """The asyncio protocol object for one picows connection (internal)."""

    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def connection_made(self, transport: Any) -> None: ...
    def connection_lost(self, exc: BaseException | None) -> None: ...
    def eof_received(self) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
