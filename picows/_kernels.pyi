"""Python wrappers around the engine's C kernels (masking, UTF-8 validation, CSPRNG).

They exist for tests and benchmarks; the engine itself calls the C API through ``_mask.pxd`` and
``_utf8.pxd``. Every ``data`` argument accepts any C-contiguous bytes-like object.
"""

from typing_extensions import Buffer, disjoint_base

__all__ = [
    "Utf8Validator",
    "apply_mask",
    "mask_inplace",
    "mask_kernel_name",
    "random_bytes",
    "set_mask_kernel",
    "validate_utf8",
]

def apply_mask(data: Buffer, key: Buffer) -> bytes:
    """Return ``data`` XOR-ed with the repeated 4-byte ``key`` (RFC 6455 section 5.3).

    Masking is its own inverse, so the same call unmasks. Raises ValueError if ``key`` is not
    exactly 4 bytes long.
    """

def mask_inplace(data: Buffer, key: Buffer) -> None:
    """XOR the writable buffer ``data`` in place with the repeated 4-byte ``key``.

    The kernel the receive path uses to unmask a frame inside the read buffer. Raises ValueError
    if ``key`` is not exactly 4 bytes long, and BufferError/TypeError if ``data`` is read-only.
    """

def mask_kernel_name() -> str:
    """Name of the masking kernel in use: ``"avx2"``, ``"sse2"`` or ``"scalar"``."""

def set_mask_kernel(name: str) -> None:
    """Force a masking kernel: ``"scalar"``, ``"sse2"``, ``"avx2"`` or ``"auto"``.

    For tests and benchmarks; it switches the kernel for the whole process. Raises ValueError
    if the name is unknown or this CPU lacks the instructions.
    """

def validate_utf8(data: Buffer) -> bool:
    """True iff ``data`` is complete, well-formed UTF-8 (Unicode Table 3-7)."""

@disjoint_base
class Utf8Validator:
    """Validates a UTF-8 stream fed in arbitrary pieces (e.g. WebSocket continuation frames).

    A character may be split across feeds; the validator carries the partial character over.
    """

    def feed(self, data: Buffer) -> bool:
        """Validate more bytes.

        Returns False as soon as the bytes fed so far can no longer be the start of valid UTF-8,
        and keeps returning False until :meth:`reset`.
        """

    @property
    def is_complete(self) -> bool:
        """True iff everything fed so far is valid and ends on a character boundary."""

    def reset(self) -> None:
        """Forget all state, ready for the next message."""

def random_bytes(n: int) -> bytes:
    """Return ``n`` bytes from the operating system's CSPRNG (``getrandom(2)`` on Linux).

    Raises ValueError if ``n`` is negative and OSError if the CSPRNG cannot be read.
    """

def _mask_repeat(data: Buffer, key: Buffer, repeat: int) -> None:
    """Benchmark helper: mask ``data`` in place ``repeat`` times within one call."""

def _validate_utf8_repeat(data: Buffer, repeat: int) -> bool:
    """Benchmark helper: validate ``data`` ``repeat`` times within one call."""
