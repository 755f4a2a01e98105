"""Micro-benchmark of the C kernels: masking and UTF-8 validation throughput in GB/s.

Run from a built tree: ``python benchmarks/micro_kernels.py``. Takes a few seconds; each figure
is the best of several timed batches (the least disturbed by other processes).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial

from picows import _kernels

TARGET_SECONDS = 0.12  # per measurement; ~25 measurements in all


def gbps(fn: Callable[[], object], nbytes: int) -> float:
    """Best throughput of fn over a few batches, in GB/s (1e9 bytes per second)."""
    calls = 1
    while True:  # size a batch to ~1/5 of the target time
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > TARGET_SECONDS / 5 or calls >= 1 << 24:
            break
        calls *= 4
    best = elapsed
    for _ in range(4):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
    return nbytes * calls / best / 1e9


def bench_mask() -> None:
    print("masking in place, kernel loop in C (no per-call Python overhead), GB/s")
    sizes = {"1 KiB": 1 << 10, "64 KiB": 1 << 16, "1 MiB": 1 << 20}
    print(f"  {'kernel':8}" + "".join(f"{label:>10}" for label in sizes))
    key = b"\x37\xfa\x21\x3d"
    original = _kernels.mask_kernel_name()
    try:
        for kernel in ("scalar", "sse2", "avx2"):
            try:
                _kernels.set_mask_kernel(kernel)
            except ValueError:
                print(f"  {kernel:8}  (not available on this CPU)")
                continue
            row = []
            for size in sizes.values():
                data = bytearray(random.Random(size).randbytes(size))
                reps = max(1, (4 << 20) // size)
                row.append(gbps(partial(_kernels._mask_repeat, data, key, reps), size * reps))
            print(f"  {kernel:8}" + "".join(f"{v:10.2f}" for v in row))
    finally:
        _kernels.set_mask_kernel("auto")
    print(f"  (in place; auto-selected kernel: {original})")


def sample_texts() -> dict[str, bytes]:
    rng = random.Random(42)
    size = 64 * 1024
    ascii_text = bytes(rng.randrange(0x20, 0x7F) for _ in range(size))
    accented = "éèàüößçñ"
    mixed_chars = [rng.choice(accented) if rng.random() < 0.1 else chr(rng.randrange(0x61, 0x7B)) for _ in range(size)]
    mixed = "".join(mixed_chars).encode()[:size]
    cjk = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(size // 3)).encode()
    # Cut at a character boundary so that every sample is valid.
    return {
        "ascii": ascii_text,
        "mixed 10%": mixed.decode("utf-8", "ignore").encode(),
        "cjk": cjk,
    }


def bench_utf8() -> None:
    print("utf-8 validation of 64 KiB, GB/s (kernel: loop in C; call: one Python call each)")
    print(f"  {'text':10}{'kernel':>10}{'call':>10}{'decode()':>10}")
    for name, data in sample_texts().items():
        assert _kernels.validate_utf8(data)
        kernel = gbps(partial(_kernels._validate_utf8_repeat, data, 64), len(data) * 64)
        call = gbps(partial(_kernels.validate_utf8, data), len(data))
        stdlib = gbps(partial(data.decode, "utf-8"), len(data))
        print(f"  {name:10}{kernel:10.2f}{call:10.2f}{stdlib:10.2f}")


def main() -> None:
    bench_mask()
    bench_utf8()


if __name__ == "__main__":
    main()
