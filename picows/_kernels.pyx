"""Python wrappers around the C kernels, for tests and benchmarks (the engine calls the C API).

Every function takes any C-contiguous bytes-like object (bytes, bytearray, memoryview, ...).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint32_t

from picows._mask cimport (
    picows_mask_copy,
    picows_mask_inplace,
    picows_mask_kernel_name,
    picows_mask_set_kernel,
    picows_random_bytes,
)
from picows._utf8 cimport PICOWS_UTF8_ACCEPT, PICOWS_UTF8_REJECT, picows_utf8_validate

import os

__all__ = [
    "Utf8Validator",
    "apply_mask",
    "mask_inplace",
    "mask_kernel_name",
    "random_bytes",
    "set_mask_kernel",
    "validate_utf8",
]

# A zero-length buffer cannot be indexed for its address; masking or validating it is a no-op.
cdef const uint8_t EMPTY[1]


cdef inline const uint8_t *_addr(const uint8_t[::1] view) noexcept:
    return &view[0] if view.shape[0] else EMPTY


def apply_mask(const uint8_t[::1] data not None, const uint8_t[::1] key not None) -> bytes:
    """Return data XOR-ed with the repeated 4-byte key (RFC 6455 5.3)."""
    if key.shape[0] != 4:
        raise ValueError(f"the mask key must be exactly 4 bytes, got {key.shape[0]}")
    cdef Py_ssize_t n = data.shape[0]
    out = PyBytes_FromStringAndSize(NULL, n)
    cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(out)
    cdef const uint8_t *src = _addr(data)
    with nogil:
        picows_mask_copy(dst, src, <size_t>n, &key[0])
    return out


def mask_inplace(uint8_t[::1] data not None, const uint8_t[::1] key not None) -> None:
    """XOR a writable buffer in place with the repeated 4-byte key (the receive path's kernel)."""
    if key.shape[0] != 4:
        raise ValueError(f"the mask key must be exactly 4 bytes, got {key.shape[0]}")
    cdef Py_ssize_t n = data.shape[0]
    if n == 0:
        return
    cdef uint8_t *dst = &data[0]
    with nogil:
        picows_mask_inplace(dst, <size_t>n, &key[0])


def mask_kernel_name() -> str:
    """Name of the masking kernel in use: "avx2", "sse2" or "scalar"."""
    return picows_mask_kernel_name().decode("ascii")


def set_mask_kernel(str name not None) -> None:
    """Force a masking kernel ("scalar", "sse2", "avx2" or "auto"); ValueError if unavailable."""
    if picows_mask_set_kernel(name.encode("ascii", "replace")) != 0:
        raise ValueError(
            f"mask kernel {name!r} is unknown or unsupported by this CPU; "
            "use 'scalar', 'sse2', 'avx2' or 'auto'"
        )


def validate_utf8(const uint8_t[::1] data not None) -> bool:
    """True iff data is complete, well-formed UTF-8."""
    cdef uint32_t state
    cdef const uint8_t *src = _addr(data)
    with nogil:
        state = picows_utf8_validate(PICOWS_UTF8_ACCEPT, src, <size_t>data.shape[0])
    return state == PICOWS_UTF8_ACCEPT


cdef class Utf8Validator:
    """Validates UTF-8 fed in arbitrary pieces, carrying partial characters across feeds."""

    # Cython zero-fills C fields on allocation, and 0 is PICOWS_UTF8_ACCEPT: a new validator is ready.
    cdef uint32_t _state

    def feed(self, const uint8_t[::1] data not None) -> bool:
        """Validate more bytes; False as soon as the stream can no longer be valid UTF-8."""
        self._state = picows_utf8_validate(self._state, _addr(data), <size_t>data.shape[0])
        return self._state != PICOWS_UTF8_REJECT

    @property
    def is_complete(self) -> bool:
        """True iff everything fed so far is valid and ends on a character boundary."""
        return self._state == PICOWS_UTF8_ACCEPT

    def reset(self) -> None:
        """Start over, for the next message."""
        self._state = PICOWS_UTF8_ACCEPT


def random_bytes(Py_ssize_t n) -> bytes:
    """n bytes from the operating system's CSPRNG; OSError if it cannot be read."""
    if n < 0:
        raise ValueError(f"random_bytes() needs a length >= 0, got {n}")
    out = PyBytes_FromStringAndSize(NULL, n)
    cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(out)
    cdef int err = 0
    with nogil:
        if picows_random_bytes(dst, <size_t>n) != 0:
            err = errno
    if err:
        raise OSError(err, f"reading the system CSPRNG failed: {os.strerror(err)}")
    return out


def _mask_repeat(uint8_t[::1] data not None, const uint8_t[::1] key not None,
                 Py_ssize_t repeat) -> None:
    """Benchmark helper: mask data in place `repeat` times in one call, without Python overhead."""
    if key.shape[0] != 4:
        raise ValueError(f"the mask key must be exactly 4 bytes, got {key.shape[0]}")
    cdef Py_ssize_t n = data.shape[0]
    if n == 0:
        return
    cdef uint8_t *dst = &data[0]
    cdef Py_ssize_t i
    with nogil:
        for i in range(repeat):
            picows_mask_inplace(dst, <size_t>n, &key[0])


def _validate_utf8_repeat(const uint8_t[::1] data not None, Py_ssize_t repeat) -> bool:
    """Benchmark helper: validate data `repeat` times in one call; True iff it is valid UTF-8."""
    cdef const uint8_t *src = _addr(data)
    cdef uint32_t state = PICOWS_UTF8_ACCEPT
    cdef Py_ssize_t i
    with nogil:
        for i in range(repeat):
            state |= picows_utf8_validate(PICOWS_UTF8_ACCEPT, src, <size_t>data.shape[0])
    return state == PICOWS_UTF8_ACCEPT
