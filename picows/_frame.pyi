"""Frame parsing and building (RFC 6455 section 5), free of I/O."""

from picows._deflate import Inflater
from picows.enums import WSCloseCode, WSMsgType

__all__ = ["WSFrame", "FrameReader", "encode_frame", "make_test_frame"]

from typing_extensions import disjoint_base

@disjoint_base
class WSFrame:
    """A frame received from the peer: a view into the read buffer, valid only during ``on_ws_frame``."""

    @property
    def msg_type(self) -> WSMsgType:
        """The frame's opcode."""
    @property
    def opcode(self) -> int:
        """The frame's opcode as a plain int (cheaper than ``msg_type`` where speed matters)."""
    @property
    def fin(self) -> bool:
        """True for the last frame of a message."""
    @property
    def rsv1(self) -> bool:
        """The RSV1 bit (permessage-deflate: the message is compressed)."""
    @property
    def rsv2(self) -> bool:
        """Always False."""
    @property
    def rsv3(self) -> bool:
        """Always False."""
    @property
    def last_in_buffer(self) -> bool:
        """True when no further complete or partial frame follows in the current read."""
    @property
    def payload_size(self) -> int:
        """The payload length in bytes."""
    @property
    def tail_size(self) -> int:
        """Bytes received after this frame and not yet handed over."""
    def get_payload_as_bytes(self) -> bytes:
        """The payload as bytes: a copy, except for large frames, which were received into a bytes object."""
    def get_payload_as_utf8_text(self) -> str:
        """Decode the payload as UTF-8."""
    def get_payload_as_ascii_text(self) -> str:
        """Decode the payload as ASCII."""
    def get_payload_as_memoryview(self) -> memoryview:
        """A read-only view of the payload, valid only during the callback."""
    def get_close_code(self) -> WSCloseCode:
        """The close status code, NO_INFO if absent."""
    def get_close_message(self) -> bytes | None:
        """The close reason as bytes, None if empty."""
    def get_close_reason(self) -> str | None:
        """The close reason as str, None if empty."""

@disjoint_base
class FrameReader:
    """Parses frames in place out of a growable read buffer and enforces RFC 6455 (for tests and tools)."""

    @property
    def is_client(self) -> bool: ...
    @property
    def max_frame_size(self) -> int: ...
    @property
    def validate_utf8(self) -> bool: ...
    allow_rsv1: bool
    inflater: Inflater | None
    @property
    def close_received(self) -> bool: ...
    @property
    def error_code(self) -> int: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def buffer_capacity(self) -> int:
        """The read buffer's current size in bytes."""
    @property
    def offered(self) -> int:
        """How many bytes the last read was offered (free space in the read buffer, or the rest of a large frame)."""
    def __init__(
        self,
        is_client: bool,
        max_frame_size: int = ...,
        init_capacity: int = ...,
        validate_utf8: bool = ...,
    ) -> None: ...
    def feed(
        self, data: bytes | bytearray | memoryview
    ) -> list[tuple[WSMsgType, bool, bool, bytes]]:
        """Append data and return the frames it completes."""

def make_test_frame(
    msg_type: WSMsgType, payload: bytes, fin: bool = True, rsv1: bool = False
) -> WSFrame:
    """Build a WSFrame owning its payload, for testing listeners."""

def encode_frame(
    msg_type: WSMsgType,
    data: bytes | bytearray | memoryview | str = b"",
    fin: bool = True,
    rsv1: bool = False,
    mask_key: bytes | None = None,
) -> bytes:
    """Encode one frame; ``mask_key`` masks it."""
