"""permessage-deflate costs: memory per connection, throughput, and the size threshold.

Run from a built tree: ``python benchmarks/deflate_memory.py`` (about 15 seconds, one core).

* Memory: one Deflater + one Inflater is what a connection holds (each side compresses its own
  direction and decompresses the other). zlib allocates through ``PyMem_RawMalloc`` here, so
  tracemalloc sees every byte; RSS growth over ``PAIRS`` pairs shows what is really touched after
  one 16 KiB message each way.
* Throughput: compress + decompress of a stream of JSON-like text messages, 256 B and 64 KiB.
* Threshold: compressed payload size and CPU time per message for small messages, to show where
  compression stops paying.
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc

from picows._deflate import Deflater, Inflater

PAIRS = 200
TARGET_SECONDS = 0.15


def json_messages(size: int, count: int, seed: int = 7) -> list[bytes]:
    """JSON-like market data messages of exactly ``size`` bytes (similar, not identical)."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        out = bytearray(b"[")
        while len(out) < size:
            row = {
                "type": "trade",
                "symbol": rng.choice(["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD"]),
                "price": round(rng.uniform(10, 70000), 2),
                "qty": round(rng.random() * 5, 6),
                "id": rng.randrange(10**9),
                "side": rng.choice(["buy", "sell"]),
            }
            out += json.dumps(row).encode() + b","
        result.append(bytes(out[:size]))
    return result


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def pair(bits: int, mem_level: int, no_context_takeover: bool) -> tuple[Deflater, Inflater]:
    return Deflater(bits, no_context_takeover, 6, mem_level), Inflater(bits, no_context_takeover)


def exercise(deflater: Deflater, inflater: Inflater, message: bytes) -> None:
    for _ in range(2):
        inflater.decompress_message(deflater.compress_message(message))


def tracemalloc_row(bits: int, mem_level: int, no_context_takeover: bool) -> tuple[int, int]:
    """(bytes at creation, bytes after a 16 KiB message each way) per pair, from tracemalloc."""
    message = json_messages(16 * 1024, 1)[0]
    gc.collect()
    tracemalloc.start()
    pairs = [pair(bits, mem_level, no_context_takeover) for _ in range(PAIRS)]
    created = tracemalloc.get_traced_memory()[0]
    for deflater, inflater in pairs:
        exercise(deflater, inflater, message)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return created // PAIRS, used // PAIRS


def rss_row(bits: int, mem_level: int, no_context_takeover: bool, size: int) -> int:
    """RSS growth per pair after a ``size``-byte message each way, measured in a fresh process
    (in this one, memory freed by earlier rows would be reused and hide the growth)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import deflate_memory as b; "
        "print(b.rss_in_this_process(*map(int, sys.argv[2:])))"
    )
    args = [str(bits), str(mem_level), str(int(no_context_takeover)), str(size)]
    out = subprocess.run(
        [sys.executable, "-c", code, os.path.dirname(os.path.abspath(__file__)), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(out.stdout)


def rss_in_this_process(bits: int, mem_level: int, no_context_takeover: int, size: int) -> int:
    message = json_messages(size, 1)[0]
    warm = pair(bits, mem_level, bool(no_context_takeover))
    exercise(*warm, message)
    before = rss_bytes()
    pairs = [pair(bits, mem_level, bool(no_context_takeover)) for _ in range(PAIRS)]
    for deflater, inflater in pairs:
        exercise(deflater, inflater, message)
    return (rss_bytes() - before) // PAIRS


def small_messages(size: int, count: int) -> list[bytes]:
    """Small JSON events of about ``size`` bytes: the same keys, different numbers."""
    rng = random.Random(size)
    result = []
    for _ in range(count):
        event = {"e": "t", "p": round(rng.uniform(1, 99999), 2), "q": rng.randrange(10**6), "t": rng.randrange(10**12)}
        text = json.dumps(event, separators=(",", ":")).encode()
        while len(text) < size:
            text += json.dumps({"id": rng.randrange(10**9), "s": rng.choice(["b", "s"])}).encode()
        result.append(text[:size])
    return result


def per_message_seconds(
    messages: list[bytes], no_context_takeover: bool, level: int = 6, bits: int = 15, mem_level: int = 8
) -> tuple[float, float, float]:
    """Best (compress, decompress) seconds per message over the list, and the compression ratio."""
    best_c = best_d = float("inf")
    payloads: list[bytes] = []
    deadline = time.perf_counter() + TARGET_SECONDS
    while time.perf_counter() < deadline or best_c == float("inf"):
        deflater = Deflater(bits, no_context_takeover, level, mem_level)
        inflater = Inflater(bits, no_context_takeover)
        start = time.perf_counter()
        payloads = [deflater.compress_message(m) for m in messages]
        mid = time.perf_counter()
        for p in payloads:
            inflater.decompress_message(p)
        end = time.perf_counter()
        best_c = min(best_c, (mid - start) / len(messages))
        best_d = min(best_d, (end - mid) / len(messages))
    ratio = sum(map(len, messages)) / sum(map(len, payloads))
    return best_c, best_d, ratio


def main() -> None:
    print(f"Memory per connection (Deflater + Inflater), KiB; {PAIRS} pairs per row")
    print("tracemalloc: at creation / after a 16 KiB message each way; RSS growth after 256 B / 16 KiB messages")
    print(f"{'window':>6} {'memLevel':>8} {'takeover':>9} {'created':>8} {'used':>8} {'rss256':>8} {'rss16K':>8}")
    rows = [(15, 8), (15, 9), (15, 5), (15, 1), (13, 8), (12, 5), (11, 8), (10, 4), (9, 8), (9, 1)]
    for bits, mem_level in rows:
        for no_context_takeover in (False, True):
            created, used = tracemalloc_row(bits, mem_level, no_context_takeover)
            small = rss_row(bits, mem_level, no_context_takeover, 256)
            large = rss_row(bits, mem_level, no_context_takeover, 16 * 1024)
            takeover = "no" if no_context_takeover else "yes"
            print(
                f"{bits:>6} {mem_level:>8} {takeover:>9} {created / 1024:>8.1f} {used / 1024:>8.1f} "
                f"{small / 1024:>8.1f} {large / 1024:>8.1f}"
            )

    print()
    print("Throughput, JSON-like text (compress / decompress per message, one core)")
    configs = [(6, 15, 8, "level 6, window 15, memLevel 8"), (1, 15, 8, "level 1, window 15, memLevel 8")]
    configs.append((6, 12, 5, "level 6, window 12, memLevel 5 (websockets' defaults)"))
    for level, bits, mem_level, label in configs:
        print(label)
        for size, count in ((256, 2000), (64 * 1024, 40)):
            messages = json_messages(size, count)
            for no_context_takeover in (False, True):
                c, d, ratio = per_message_seconds(messages, no_context_takeover, level, bits, mem_level)
                takeover = "no" if no_context_takeover else "yes"
                print(
                    f"  {size:>6} B takeover={takeover:<3} compress {c * 1e6:8.1f} us ({size / c / 1e6:5.0f} MB/s)"
                    f"  decompress {d * 1e6:7.1f} us ({size / d / 1e6:5.0f} MB/s)  ratio {ratio:5.2f}"
                )

    print()
    print("Threshold: small JSON events, mean compressed payload and compress+decompress time")
    for size in (8, 16, 32, 48, 64, 96, 128, 256):
        messages = small_messages(size, 500)
        cells = []
        for no_context_takeover in (False, True):
            c, d, ratio = per_message_seconds(messages, no_context_takeover)
            cells.append(f"{size / ratio:6.1f} B {(c + d) * 1e6:5.2f} us")
        print(f"{size:>4} B  takeover: {cells[0]}   no takeover: {cells[1]}")


if __name__ == "__main__":
    main()
