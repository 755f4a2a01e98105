"""Pure-Python reference implementations used as test oracles for the engine's C kernels.

They are written for obviousness, not speed: each follows the specification text directly, and
shares no code or tables with the C implementation it checks.
"""

from __future__ import annotations

__all__ = ["apply_mask", "utf8_first_error", "utf8_is_valid"]


def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """RFC 6455 section 5.3: octet i of the result is octet i of data XOR octet i MOD 4 of key."""
    if len(key) != 4:
        raise ValueError(f"the mask key must be 4 bytes, got {len(key)}")
    return bytes(b ^ key[i % 4] for i, b in enumerate(bytes(data)))


# Unicode Standard, Table 3-7 "Well-Formed UTF-8 Byte Sequences": for each range of first bytes,
# the allowed range of each following byte.
_TABLE_3_7: list[tuple[tuple[int, int], list[tuple[int, int]]]] = [
    ((0x00, 0x7F), []),
    ((0xC2, 0xDF), [(0x80, 0xBF)]),
    ((0xE0, 0xE0), [(0xA0, 0xBF), (0x80, 0xBF)]),
    ((0xE1, 0xEC), [(0x80, 0xBF), (0x80, 0xBF)]),
    ((0xED, 0xED), [(0x80, 0x9F), (0x80, 0xBF)]),
    ((0xEE, 0xEF), [(0x80, 0xBF), (0x80, 0xBF)]),
    ((0xF0, 0xF0), [(0x90, 0xBF), (0x80, 0xBF), (0x80, 0xBF)]),
    ((0xF1, 0xF3), [(0x80, 0xBF), (0x80, 0xBF), (0x80, 0xBF)]),
    ((0xF4, 0xF4), [(0x80, 0x8F), (0x80, 0xBF), (0x80, 0xBF)]),
]


def utf8_first_error(data: bytes) -> int | None:
    """Index of the first byte at which data stops being a prefix of well-formed UTF-8.

    None if every prefix is fine (data is valid, or valid but for a truncated last character).
    """
    i = 0
    n = len(data)
    while i < n:
        lead = data[i]
        for (lo, hi), trail in _TABLE_3_7:  # noqa: B007 (trail is used after the break)
            if lo <= lead <= hi:
                break
        else:
            return i
        for k, (tlo, thi) in enumerate(trail, start=1):
            if i + k >= n:
                return None  # truncated, but still a valid prefix
            if not tlo <= data[i + k] <= thi:
                return i + k
        i += 1 + len(trail)
    return None


def utf8_is_valid(data: bytes) -> bool:
    """True iff data is complete, well-formed UTF-8 per Table 3-7."""
    if utf8_first_error(data) is not None:
        return False
    # Valid prefix: complete iff no character is cut at the end.
    i = 0
    while i < len(data):
        lead = data[i]
        size = next(1 + len(t) for (lo, hi), t in _TABLE_3_7 if lo <= lead <= hi)
        i += size
    return i == len(data)
