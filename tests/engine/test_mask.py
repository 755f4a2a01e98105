"""The masking kernels and the CSPRNG of picows._mask, checked against tests/reference.py.

Every kernel this CPU can run is tested, not only the one auto-selected, so a bug in a kernel that
CI machines happen not to pick still shows up.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from picows import _kernels
from tests.reference import apply_mask as reference_mask

KERNELS = ["scalar", "sse2", "avx2"]
X86 = os.uname().machine in ("x86_64", "AMD64", "i686", "i386")


@pytest.fixture(params=KERNELS)
def kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    """Force each kernel in turn, skipping those this CPU lacks; restore auto-selection after."""
    name: str = request.param
    try:
        _kernels.set_mask_kernel(name)
    except ValueError:
        pytest.skip(f"this CPU has no {name} kernel")
    try:
        yield name
    finally:
        _kernels.set_mask_kernel("auto")


def test_forced_kernel_is_reported(kernel: str) -> None:
    assert _kernels.mask_kernel_name() == kernel


def test_scalar_always_available_and_simd_on_x86() -> None:
    _kernels.set_mask_kernel("scalar")
    _kernels.set_mask_kernel("auto")
    if X86:
        # SSE2 is part of the x86-64 baseline, so the auto choice is never the scalar loop there.
        assert _kernels.mask_kernel_name() in ("sse2", "avx2")


@pytest.mark.parametrize("name", ["", "AVX2", "neon", "avx512", "sse2 "])
def test_unknown_kernel_rejected(name: str) -> None:
    before = _kernels.mask_kernel_name()
    with pytest.raises(ValueError, match="unknown or unsupported"):
        _kernels.set_mask_kernel(name)
    assert _kernels.mask_kernel_name() == before


def test_rfc6455_example(kernel: str) -> None:
    # RFC 6455 section 5.7: a masked "Hello" with key 37 fa 21 3d.
    key = bytes.fromhex("37fa213d")
    masked = bytes.fromhex("7f9f4d5158")
    assert _kernels.apply_mask(b"Hello", key) == masked
    assert _kernels.apply_mask(masked, key) == b"Hello"
    buf = bytearray(b"Hello")
    _kernels.mask_inplace(buf, key)
    assert buf == masked


def test_every_length_and_offset(kernel: str) -> None:
    """Lengths 0..300 starting at offsets 0..31, so each SIMD width meets every misalignment."""
    rng = random.Random(6455)
    data = rng.randbytes(300 + 32)
    view = memoryview(data)
    for offset in range(32):
        key = rng.randbytes(4)
        # The reference of a prefix is the prefix of the reference: one oracle call per offset.
        expected = reference_mask(data[offset : offset + 300], key)
        for length in range(301):
            chunk = view[offset : offset + length]
            assert _kernels.apply_mask(chunk, key) == expected[:length], (offset, length)


def test_inplace_every_length_and_offset(kernel: str) -> None:
    rng = random.Random(5)
    for offset in range(32):
        key = rng.randbytes(4)
        original = rng.randbytes(300 + 32)
        expected = reference_mask(original[offset : offset + 300], key)
        for length in range(0, 301, 7):
            buf = bytearray(original)
            _kernels.mask_inplace(memoryview(buf)[offset : offset + length], key)
            # Bytes outside the slice must be untouched: a kernel overrunning its tail would fail.
            assert buf[:offset] == original[:offset]
            assert buf[offset : offset + length] == expected[:length], (offset, length)
            assert buf[offset + length :] == original[offset + length :]


def test_lengths_around_the_widest_step(kernel: str) -> None:
    """The AVX2 kernel's main loop takes 512 bytes a step: lengths on both sides of one, two and three steps,
    misaligned, copying and in place, with the bytes after the slice untouched."""
    rng = random.Random(512)
    data = rng.randbytes(1600 + 32)
    for offset in (0, 1, 3, 17, 31):
        key = rng.randbytes(4)
        expected = reference_mask(data[offset : offset + 1600], key)
        for length in (*range(480, 560), *range(1000, 1060), *range(1500, 1601)):
            assert _kernels.apply_mask(memoryview(data)[offset : offset + length], key) == expected[:length], (
                offset,
                length,
            )
            buf = bytearray(data)
            _kernels.mask_inplace(memoryview(buf)[offset : offset + length], key)
            assert buf[offset : offset + length] == expected[:length], (offset, length)
            assert buf[offset + length :] == data[offset + length :] and buf[:offset] == data[:offset]


def test_all_key_bytes_matter(kernel: str) -> None:
    data = bytes(range(256)) * 3
    for key in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x04\x08", b"\x80\x00\x00\x7f"):
        assert _kernels.apply_mask(data, key) == reference_mask(data, key)


def test_large_buffer(kernel: str) -> None:
    rng = random.Random(1)
    data = rng.randbytes(1 << 20)
    key = rng.randbytes(4)
    masked = _kernels.apply_mask(data, key)
    assert masked == reference_mask(data, key)
    buf = bytearray(masked)
    _kernels.mask_inplace(buf, key)
    assert buf == data


def test_accepts_bytes_like_types() -> None:
    key = bytes.fromhex("37fa213d")
    expected = bytes.fromhex("7f9f4d5158")
    assert _kernels.apply_mask(bytearray(b"Hello"), key) == expected
    assert _kernels.apply_mask(memoryview(b"Hello"), bytearray(key)) == expected
    assert _kernels.apply_mask(b"Hello", memoryview(key)) == expected


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_key_must_be_four_bytes(key: bytes) -> None:
    with pytest.raises(ValueError, match="exactly 4 bytes"):
        _kernels.apply_mask(b"payload", key)
    with pytest.raises(ValueError, match="exactly 4 bytes"):
        _kernels.mask_inplace(bytearray(b"payload"), key)


def test_inplace_refuses_read_only_buffer() -> None:
    with pytest.raises((BufferError, TypeError, ValueError)):
        _kernels.mask_inplace(b"read-only", b"1234")


@pytest.mark.parametrize("forced", ["scalar", "sse2", "avx2"])
def test_environment_variable_forces_kernel(forced: str) -> None:
    """PICOWS_MASK_KERNEL is read once, when the library loads, in a fresh interpreter."""
    package_root = Path(_kernels.__file__).resolve().parent.parent
    env = {**os.environ, "PICOWS_MASK_KERNEL": forced, "PYTHONPATH": str(package_root)}
    code = "from picows import _kernels; print(_kernels.__file__, _kernels.mask_kernel_name())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(out[0]).resolve() == Path(_kernels.__file__).resolve()
    try:
        _kernels.set_mask_kernel(forced)
        supported = True
    except ValueError:
        supported = False
    finally:
        _kernels.set_mask_kernel("auto")
    # An unsupported forced kernel falls back to the automatic choice instead of failing.
    assert out[1] == (forced if supported else _kernels.mask_kernel_name())


@pytest.mark.parametrize("n", [0, 1, 4, 17, 4096, 100_000])
def test_random_bytes_length(n: int) -> None:
    assert len(_kernels.random_bytes(n)) == n


def test_random_bytes_look_random() -> None:
    a = _kernels.random_bytes(4096)
    b = _kernels.random_bytes(4096)
    assert a != b
    assert a.count(0) < 64  # ~16 expected; all-zero output would mean the buffer was never filled
    # Every byte value appears in 8 KiB of uniform bytes, except with probability ~3e-12.
    assert len(set(a + b)) == 256


def test_random_bytes_negative_length() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        _kernels.random_bytes(-1)
