"""The user-facing half of a connection: WSListener (the callbacks) and WSTransport (sending, closing, pinging)."""

import asyncio
from typing import Any, Final

from typing_extensions import disjoint_base

from picows._frame import WSFrame
from picows._socket import SocketTransport
from picows.enums import WSCloseCode, WSMsgType
from picows.upgrade import WSUpgradeRequest, WSUpgradeResponse

__all__ = ["WSListener", "WSTransport", "WSCloseInfo", "WSCloseHandshake", "WSBuffer", "PICOWS_DEBUG_LL"]

PICOWS_DEBUG_LL: Final[int]

WSBuffer = bytes | bytearray | memoryview | str  # noqa: UP007

class WSCloseInfo:
    """One side of a close handshake."""

    code: WSCloseCode
    reason: str
    def __init__(self, code: WSCloseCode, reason: str) -> None: ...

class WSCloseHandshake:
    """What each side said when the connection closed."""

    recv: WSCloseInfo | None
    sent: WSCloseInfo | None
    recv_then_sent: bool
    def __init__(self, recv: WSCloseInfo | None, sent: WSCloseInfo | None, recv_then_sent: bool) -> None: ...

@disjoint_base
class WSListener:
    """Base class of the user's connection handler."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        """Called once the opening handshake has completed."""
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Called for every frame the engine does not consume itself."""
    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """Called once when the connection is closed."""
    def send_user_specific_ping(self, transport: WSTransport) -> None:
        """Send the auto-ping probe."""
    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        """Tell whether a frame answers the auto-ping probe."""
    def pause_writing(self) -> None:
        """The write buffer is over its high-water mark."""
    def resume_writing(self) -> None:
        """The write buffer drained below its low-water mark."""

@disjoint_base
class WSTransport:
    """The user's handle on a WebSocket connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    @property
    def underlying_transport(self) -> asyncio.Transport | SocketTransport: ...
    @property
    def request(self) -> WSUpgradeRequest: ...
    @property
    def response(self) -> WSUpgradeResponse: ...
    @property
    def is_client_side(self) -> bool: ...
    @property
    def is_secure(self) -> bool: ...
    @property
    def is_close_frame_sent(self) -> bool: ...
    @property
    def is_disconnected(self) -> bool: ...
    @property
    def close_handshake(self) -> WSCloseHandshake | None: ...
    def send(self, msg_type: WSMsgType, message: WSBuffer | None, fin: bool = True, rsv1: bool = False) -> None:
        """Send one frame."""
    def send_reuse_external_bytearray(
        self,
        msg_type: WSMsgType,
        buffer: bytearray,
        msg_offset: int,
        fin: bool = True,
        rsv1: bool = False,
    ) -> None:
        """Send buffer[msg_offset:] as one frame, writing the header in front of it."""
    def send_ping(self, message: WSBuffer | None = None) -> None:
        """Send a PING frame."""
    def send_pong(self, message: WSBuffer | None = None) -> None:
        """Send a PONG frame."""
    def send_close(self, close_code: WSCloseCode | int = ..., close_message: WSBuffer | None = None) -> None:
        """Send a CLOSE frame, once."""
    def disconnect(self, graceful: bool = True) -> None:
        """Close the TCP connection."""
    async def wait_disconnected(self) -> None:
        """Wait until the connection is closed; raise what broke it."""
    async def measure_roundtrip_time(self, rounds: int) -> list[float]:
        """Ping ``rounds`` times and return the round trip times in seconds."""
    def notify_user_specific_pong_received(self) -> None:
        """Tell auto-ping that the application-level pong arrived."""
