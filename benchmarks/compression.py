"""Echo throughput with permessage-deflate on: picows (low-level API) against websockets, in one run.

Run from the project root with the project's virtualenv (websockets 17 installed there)::

    python benchmarks/compression.py [--seconds N] [--rounds 3] [--loop uvloop|asyncio]

For each message size (256 B and 64 KiB of JSON-like text) and each library, a server and a client
run in two separate processes on 127.0.0.1, both pinned to core 0 with ``taskset -c 0`` when it
exists (so the pair shares one core and the run does not depend on how the scheduler spreads
them). The client keeps one message in flight: it sends the next message when the echo of the
previous one arrived. Cells are interleaved (round 1: picows 256, websockets 256, picows 64K,
websockets 64K; round 2: ...) and each cell reports the median of its rounds, so drift in the
machine's load hits both libraries alike.

Both libraries compress with the same zlib settings: websockets' defaults, which are level 6
(zlib's Z_DEFAULT_COMPRESSION), memLevel 5, and 12-bit windows both ways (its server answers
``server_max_window_bits=12; client_max_window_bits=12``), with context takeover. picows gets
``WSDeflateOptions(server_max_window_bits=12, client_max_window_bits=12, compress_level=6,
mem_level=5, min_size=0)`` on both sides; ``min_size=0`` because websockets compresses every
message. Each client prints the ``Sec-WebSocket-Extensions`` answer it got, and the table shows it.

Results: a table on stdout and ``benchmarks/results/compression.json``. CPU per message is the
user+system time of client and server together (from /proc) over the measured window, divided by
the number of round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "compression.json"
SIZES = [256, 64 * 1024]
LIBRARIES = ["picows", "websockets"]
#: Distinct messages per size, sent in turn: a feed changes every message, so the compressor cannot
#: just point back at an identical previous message.
POOL = 32
WARMUP_SECONDS = 0.3
#: Hard cap on round trips per cell, whatever --seconds says: every load loop stays bounded.
MAX_COUNT = 2_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def json_messages(size: int, count: int = POOL) -> list[bytes]:
    """``count`` JSON-like market data messages of exactly ``size`` bytes, similar but not identical."""
    messages = []
    for m in range(count):
        out = bytearray(b"[")
        i = m * 1000
        while len(out) < size:
            row = {
                "type": "trade",
                "symbol": ("BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD")[(i * 7 + m) % 4],
                "price": round(20000 + ((i * 7919 + m * 104729) % 100003) / 13.0, 2),
                "qty": round(((i * 31 + m) % 977) / 97.0, 4),
                "side": "buy" if (i + m) % 3 else "sell",
                "ts": 1_700_000_000_000 + i * 17 + m,
            }
            out += json.dumps(row, separators=(",", ":")).encode() + b","
            i += 1
        messages.append(bytes(out[:size]))
    return messages


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def install_loop(name: str) -> None:
    """Make ``asyncio.run`` use uvloop when asked (and available)."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# ---- picows ------------------------------------------------------------------------------------------------


def picows_options() -> Any:
    """websockets' zlib settings, expressed as picows options (see the module docstring); with
    ``--picows-settings defaults`` (PICOWS_BENCH_SETTINGS=defaults in the children) picows's own defaults."""
    from picows.extensions import WSDeflateOptions

    if os.environ.get("PICOWS_BENCH_SETTINGS") == "defaults":
        return True

    return WSDeflateOptions(
        server_max_window_bits=12, client_max_window_bits=12, compress_level=6, mem_level=5, min_size=0
    )


async def picows_server() -> None:
    """Echo server: every data frame goes back with its type, compressed again by the engine."""
    import picows

    class Echo(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            else:
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

    server = await picows.ws_create_server(lambda _request: Echo(), "127.0.0.1", 0, permessage_deflate=picows_options())
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


async def picows_client(port: int, size: int, seconds: float, server_pid: int) -> dict[str, Any]:
    """Callback-driven client, as picows users write it: the next message leaves from on_ws_frame."""
    import picows

    messages = json_messages(size)
    loop = asyncio.get_running_loop()

    class Client(picows.WSListener):
        def __init__(self) -> None:
            self.transport: picows.WSTransport | None = None
            self.count = 0
            self.limit = 0
            self.deadline = 0.0
            self.done: asyncio.Future[None] = loop.create_future()

        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.transport = transport

        def run(self, limit: int, deadline: float) -> asyncio.Future[None]:
            assert self.transport is not None
            self.count, self.limit, self.deadline = 0, limit, deadline
            self.done = loop.create_future()
            self.transport.send(picows.WSMsgType.TEXT, messages[0])
            return self.done

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type != picows.WSMsgType.TEXT or self.done.done():
                return
            expected = messages[self.count % POOL]
            if frame.payload_size != size or (self.count % 1024 == 0 and frame.get_payload_as_bytes() != expected):
                self.done.set_exception(RuntimeError("the echo differs from the message sent"))
                return
            self.count += 1
            # Look at the clock every 16 round trips only: it would be a visible part of a 256 B round trip.
            if self.count >= self.limit or (self.count % 16 == 0 and time.perf_counter() >= self.deadline):
                self.done.set_result(None)
                return
            transport.send(picows.WSMsgType.TEXT, messages[self.count % POOL])

    transport, client = await picows.ws_connect(Client, f"ws://127.0.0.1:{port}/", permessage_deflate=picows_options())
    assert isinstance(client, Client)
    await client.run(MAX_COUNT, time.perf_counter() + WARMUP_SECONDS)
    result = await measure(
        lambda limit, deadline: client.run(limit, deadline), lambda: client.count, seconds, server_pid
    )
    result["extensions"] = transport.response.headers.get("Sec-WebSocket-Extensions", "")
    transport.send_close(1000)
    transport.disconnect()
    return result


# ---- websockets --------------------------------------------------------------------------------------------


async def websockets_server() -> None:
    """Echo server with websockets' defaults (compression="deflate")."""
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            await conn.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        print(f"PORT {list(server.sockets)[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()


async def websockets_client(port: int, size: int, seconds: float, server_pid: int) -> dict[str, Any]:
    """The usual websockets loop: await send, await recv."""
    from websockets.asyncio.client import connect

    messages = [m.decode() for m in json_messages(size)]
    counter = [0]

    async def run(limit: int, deadline: float) -> None:
        n = 0
        while True:
            expected = messages[n % POOL]
            await conn.send(expected)
            echo = await conn.recv()
            if len(echo) != size or (n % 1024 == 0 and echo != expected):
                raise RuntimeError("the echo differs from the message sent")
            n += 1
            counter[0] = n
            if n >= limit or (n % 16 == 0 and time.perf_counter() >= deadline):
                return

    async with connect(f"ws://127.0.0.1:{port}/", max_size=2**20) as conn:
        await run(MAX_COUNT, time.perf_counter() + WARMUP_SECONDS)
        result = await measure(run, lambda: counter[0], seconds, server_pid)
        assert conn.response is not None
        result["extensions"] = conn.response.headers.get("Sec-WebSocket-Extensions", "")
    return result


# ---- measurement and orchestration ------------------------------------------------------------------------


async def measure(run: Any, count: Any, seconds: float, server_pid: int) -> dict[str, Any]:
    """Time one bounded run and the CPU both processes spent in it."""
    cpu0 = time.process_time() + cpu_seconds(server_pid)
    t0 = time.perf_counter()
    await run(MAX_COUNT, t0 + seconds)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() + cpu_seconds(server_pid) - cpu0
    n = count()
    return {"count": n, "seconds": elapsed, "msgs_per_s": n / elapsed, "cpu_us_per_msg": cpu / n * 1e6}


def child_main(args: argparse.Namespace) -> None:
    """Entry point of the server and client processes."""
    install_loop(args.loop)
    if args.role == "server":
        asyncio.run(picows_server() if args.lib == "picows" else websockets_server())
        return
    client = picows_client if args.lib == "picows" else websockets_client
    result = asyncio.run(client(args.port, args.size, args.seconds, args.server_pid))
    print("RESULT " + json.dumps(result), flush=True)


def pin() -> list[str]:
    """``taskset -c 0`` when available: server and client share one core."""
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def run_cell(lib: str, size: int, seconds: float, loop: str) -> dict[str, Any]:
    """Start a server, run one client against it, stop the server; return the client's result."""
    base = [*pin(), sys.executable, str(Path(__file__).resolve()), "--loop", loop, "--lib", lib]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([*base, "--role", "server"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the {lib} server did not start (it printed {line!r})")
        port = int(line.split()[1])
        client = subprocess.run(
            [
                *base,
                "--role",
                "client",
                "--port",
                str(port),
                "--size",
                str(size),
                "--seconds",
                str(seconds),
                "--server-pid",
                str(server.pid),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + 60,
            check=False,
        )
        results = [ln for ln in client.stdout.splitlines() if ln.startswith("RESULT ")]
        if client.returncode != 0 or not results:
            raise RuntimeError(f"the {lib} client failed ({size} B):\n{client.stderr[-2000:]}")
        return dict(json.loads(results[-1][len("RESULT ") :]))
    finally:
        server.terminate()
        server.wait(10)


def versions() -> dict[str, str]:
    """Library versions in this interpreter."""
    import picows

    return {
        "python": platform.python_version(),
        "picows": getattr(picows, "__version__", "working tree"),
        "websockets": importlib.metadata.version("websockets"),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }


def main() -> int:
    """Parse the command line; run the benchmark (or one child process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per cell and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each cell reports its median")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop of both sides")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--picows-settings",
        choices=["websockets", "defaults"],
        default="websockets",
        help="zlib settings for picows: websockets' (same as the peer) or picows's own defaults",
    )
    # Child process arguments (internal).
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--lib", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.picows_settings == "defaults":
        os.environ["PICOWS_BENCH_SETTINGS"] = "defaults"
    if args.role is not None:
        child_main(args)
        return 0
    if not 0 < args.seconds <= 60 or not 1 <= args.rounds <= 9:
        parser.error("--seconds must be in (0, 60] and --rounds in 1..9")

    runs: dict[str, list[dict[str, Any]]] = {f"{lib}/{size}": [] for size in SIZES for lib in LIBRARIES}
    for r in range(args.rounds):
        for size in SIZES:
            for lib in LIBRARIES:
                result = run_cell(lib, size, args.seconds, args.loop)
                runs[f"{lib}/{size}"].append(result)
                print(
                    f"round {r + 1}/{args.rounds} {lib:10} {size:>6} B: {result['msgs_per_s']:9.0f} msg/s  "
                    f"{result['cpu_us_per_msg']:7.1f} us CPU/msg",
                    file=sys.stderr,
                    flush=True,
                )

    cells: dict[str, dict[str, Any]] = {}
    for key, results in runs.items():
        cells[key] = {
            "msgs_per_s": statistics.median(x["msgs_per_s"] for x in results),
            "cpu_us_per_msg": statistics.median(x["cpu_us_per_msg"] for x in results),
            "extensions": results[0]["extensions"],
            "runs": results,
        }
    rows = []
    print(
        f"\nEcho, one message in flight, compression on, {args.loop}, "
        f"{'pinned to core 0' if pin() else 'not pinned'}, median of {args.rounds} x {args.seconds:g} s\n"
    )
    header = (
        f"{'message':>8}  {'picows msg/s':>12}  {'websockets msg/s':>16}  {'ratio':>5}  "
        f"{'picows CPU/msg':>14}  {'websockets CPU/msg':>18}"
    )
    print(header)
    print("-" * len(header))
    for size in SIZES:
        ours, theirs = cells[f"picows/{size}"], cells[f"websockets/{size}"]
        ratio = ours["msgs_per_s"] / theirs["msgs_per_s"]
        label = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
        print(
            f"{label:>8}  {ours['msgs_per_s']:12.0f}  {theirs['msgs_per_s']:16.0f}  {ratio:5.2f}  "
            f"{ours['cpu_us_per_msg']:11.1f} us  {theirs['cpu_us_per_msg']:15.1f} us"
        )
        rows.append(
            {
                "size": size,
                "picows_msgs_per_s": ours["msgs_per_s"],
                "websockets_msgs_per_s": theirs["msgs_per_s"],
                "ratio": ratio,
                "picows_cpu_us_per_msg": ours["cpu_us_per_msg"],
                "websockets_cpu_us_per_msg": theirs["cpu_us_per_msg"],
            }
        )
    print(
        f"\nnegotiated: picows {cells['picows/256']['extensions']!r}; "
        f"websockets {cells['websockets/256']['extensions']!r}"
    )

    report = {
        "benchmark": "echo throughput with permessage-deflate, one message in flight",
        "command": " ".join(["python", "benchmarks/compression.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
        "loop": args.loop,
        "pinned": bool(pin()),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "zlib_settings": {
            "level": 6,
            "memLevel": 5,
            "server_max_window_bits": 12,
            "client_max_window_bits": 12,
            "context_takeover": True,
            "picows_min_size": 0,
        },
        "rows": rows,
        "cells": cells,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
