# cython: annotation_typing=False
"""The engine-facing half of a connection: a :class:`picows.WSListener`.

This is the only module that reads :class:`picows.WSFrame` objects.  A frame
is a view into the engine's read buffer that is valid only during
``on_ws_frame``, so everything kept beyond the callback is copied out first:
a single-frame message becomes exactly one ``str`` or ``bytes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picows import WSCloseCode, WSMsgType
from picows._frame import WSFrame
from picows._transport import WSListener, WSTransport

from .exceptions import PayloadTooBig
from .messages import Assembler

if TYPE_CHECKING:
    from .connection import Connection

# Plain ints, compared with frame.opcode: an int comparison, not an enum lookup per frame.
_TEXT = int(WSMsgType.TEXT)
_BINARY = int(WSMsgType.BINARY)
_CONTINUATION = int(WSMsgType.CONTINUATION)
_CLOSE = int(WSMsgType.CLOSE)
_PONG = int(WSMsgType.PONG)


class Listener(WSListener):
    """Forward the engine's callbacks to a :class:`Connection` and its assembler."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.connection = connection
        self.assembler: Assembler = connection._assembler

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.connection._on_connected(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type: int = frame.opcode
        assembler = self.assembler
        try:
            if msg_type == _TEXT:
                if frame.fin and assembler.fragments is None:
                    # Hot path; the engine's max_frame_size enforces max_size here.
                    assembler.put(frame.get_payload_as_utf8_text())
                else:
                    assembler.put_fragment(frame.get_payload_as_bytes(), True, frame.fin)
            elif msg_type == _BINARY:
                if frame.fin and assembler.fragments is None:
                    assembler.put(frame.get_payload_as_bytes())
                else:
                    assembler.put_fragment(frame.get_payload_as_bytes(), False, frame.fin)
            elif msg_type == _CONTINUATION:
                assembler.put_fragment(frame.get_payload_as_bytes(), None, frame.fin)
            elif msg_type == _CLOSE:
                self.connection._on_close_frame(int(frame.get_close_code()), frame.get_close_reason() or "")
            elif msg_type == _PONG:
                self.connection._on_pong(frame.get_payload_as_bytes())
        except PayloadTooBig as exc:
            self.connection.logger.info("closing: %s", exc)
            self.connection._fail(int(WSCloseCode.MESSAGE_TOO_BIG), "message too big")
        except UnicodeDecodeError:
            self.connection._fail(int(WSCloseCode.INVALID_TEXT), "invalid UTF-8 in text message")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.connection._on_disconnected()

    def pause_writing(self) -> None:
        self.connection._on_pause_writing()

    def resume_writing(self) -> None:
        self.connection._on_resume_writing()
