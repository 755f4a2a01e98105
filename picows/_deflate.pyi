"""permessage-deflate (RFC 7692) compression and decompression over zlib's C API.

The engine calls the C methods declared in ``_deflate.pxd``; the methods below are Python wrappers
for tests and benchmarks. ``data`` arguments accept any C-contiguous bytes-like object.
"""

from typing_extensions import Buffer, disjoint_base

__all__ = ["Deflater", "InflateError", "InflateLimitError", "Inflater", "ZLIB_RUNTIME_VERSION"]

ZLIB_RUNTIME_VERSION: str
"""The version of the zlib library loaded at run time, e.g. ``"1.2.13"``."""

class InflateError(ValueError):
    """The compressed data is corrupt (the C method returned -1)."""

class InflateLimitError(ValueError):
    """The decompressed output would exceed the limit (the C method returned -2)."""

@disjoint_base
class Inflater:
    """Decompress the peer's messages (raw DEFLATE with the 00 00 ff ff tail restored).

    ``window_bits`` (8..15) is the window the peer's compressor keeps to; 8 inflates with 9.
    ``no_context_takeover`` resets the stream after every message.
    """

    @property
    def window_bits(self) -> int:
        """The negotiated window of the peer's compressor (8..15)."""
    @property
    def no_context_takeover(self) -> bool:
        """Whether the stream is reset after every message."""
    @property
    def output_buffer_size(self) -> int:
        """Bytes currently allocated for the output buffer."""
    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None: ...
    def decompress_frame(self, data: Buffer, fin: bool = True, limit: int = 2**62) -> bytes:
        """Decompress one frame's payload; ``fin`` ends the message.

        Raises InflateError for corrupt data and InflateLimitError when the output would exceed
        ``limit`` bytes (checked while inflating: no more than ``limit + 1`` bytes are allocated).
        """
    def decompress_message(self, data: Buffer, limit: int = 2**62) -> bytes:
        """Decompress a whole message (``decompress_frame`` with ``fin=True``)."""

@disjoint_base
class Deflater:
    """Compress our messages (raw DEFLATE, sync-flushed, 00 00 ff ff tail removed at the end).

    ``window_bits`` 8..15 (8 runs zlib with 9, whose output fits a 256-byte window), ``level``
    0..9, ``mem_level`` 1..9; ``no_context_takeover`` resets the stream after every message.
    """

    @property
    def window_bits(self) -> int:
        """The window our compressor keeps to (8..15)."""
    @property
    def no_context_takeover(self) -> bool:
        """Whether the stream is reset after every message."""
    @property
    def level(self) -> int:
        """zlib compression level."""
    @property
    def mem_level(self) -> int:
        """zlib memLevel."""
    def __init__(
        self, window_bits: int = 15, no_context_takeover: bool = False, level: int = 6, mem_level: int = 8
    ) -> None: ...
    def compress_frame(self, data: Buffer, fin: bool = True) -> bytes:
        """Compress one fragment; ``fin`` ends the message (never returns an empty payload then)."""
    def compress_message(self, data: Buffer) -> bytes:
        """Compress a whole message (``compress_frame`` with ``fin=True``)."""
