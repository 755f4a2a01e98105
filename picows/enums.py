"""Protocol constants shared by the engine and both APIs: opcodes, close codes, ping strategies."""

from __future__ import annotations

import enum

__all__ = ["WSMsgType", "WSCloseCode", "WSAutoPingStrategy"]


class WSMsgType(enum.IntEnum):
    """The frame opcode (RFC 6455 section 5.2)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class WSCloseCode(enum.IntEnum):
    """A close status code (RFC 6455 section 7.4).

    Codes without a member here (e.g. the application range 3000-4999)
    still come back as ``WSCloseCode`` values whose ``name`` is
    ``CODE_<number>``, so ``frame.get_close_code()`` always returns this type.
    """

    #: No status code in the close frame (1005). Never sent on the wire:
    #: ``send_close(WSCloseCode.NO_INFO)`` sends a close frame without a payload.
    NO_INFO = 1005
    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    #: The connection closed without a close frame (1006). Never sent on the wire.
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    #: TLS handshake failure (1015). Never sent on the wire.
    TLS_HANDSHAKE = 1015

    @classmethod
    def _missing_(cls, value: object) -> WSCloseCode | None:
        if isinstance(value, int) and 0 <= value <= 0xFFFF:
            cached = _EXTRA_CODES.get(value)
            if cached is None:
                cached = int.__new__(cls, value)
                cached._name_ = f"CODE_{value}"
                cached._value_ = value
                _EXTRA_CODES[value] = cached
            return cached
        return None


_EXTRA_CODES: dict[int, WSCloseCode] = {}


class WSAutoPingStrategy(enum.IntEnum):
    """When auto-ping sends its pings."""

    #: Ping only after ``auto_ping_idle_timeout`` seconds without incoming data.
    PING_WHEN_IDLE = 1
    #: Ping every ``auto_ping_idle_timeout`` seconds, whatever the traffic.
    PING_PERIODICALLY = 2


def close_code_allowed_on_wire(code: int) -> bool:
    """Tell whether ``code`` may appear in a close frame (RFC 6455 section 7.4.1/7.4.2)."""
    if 1000 <= code <= 1003 or 1007 <= code <= 1014:
        return True
    return 3000 <= code <= 4999
