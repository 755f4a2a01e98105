"""Helpers shared by the peer scripts (each runs in its own virtualenv, stdlib only here).

A peer script is started by the harness as ``python peer_x.py server ...`` or
``python peer_x.py client ...``. This module holds what every script needs: the command
line, the event loop choice, TLS contexts, the harness handshake on stdin/stdout, and the
generic client driver for libraries whose API is ``await send(data)`` / ``await recv()``.

The handshake: a server prints ``PORT <n>`` once it listens. A client connects and warms
up, prints ``READY``, waits for a line on stdin, measures, prints ``RESULT <json>``, waits
for another line, then closes. The harness samples both processes' CPU time while they
wait, so the measured window holds nothing but the benchmark loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from importlib import metadata
from typing import Any

__all__ = [
    "ClientOptions",
    "client_ssl_context",
    "drive_send_recv",
    "parse_args",
    "percentiles",
    "print_line",
    "print_versions",
    "report",
    "run",
    "serve_until_killed",
    "server_ssl_context",
    "wait_for_go",
]

#: How often the timed loops look at the clock: every 16 round trips keeps the clock
#: out of the cost of a 256 B round trip and overshoots a 100 KB run by a few ms at most.
CLOCK_EVERY = 16


class ClientOptions:
    """The client's command line, typed."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.host: str = ns.host
        self.port: int = ns.port
        self.path: str = ns.path
        self.tls: bool = ns.tls
        self.mode: str = ns.mode
        self.size: int = ns.size
        self.duration: float = ns.duration
        self.max_count: int = ns.max_count
        self.warmup: int = ns.warmup
        self.window: int = max(1, ns.window)
        self.rate: float = ns.rate

    @property
    def url(self) -> str:
        """The ws:// or wss:// URL of the server under the options."""
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    @property
    def payload(self) -> bytes:
        """The binary message the client sends, ``size`` bytes."""
        return b"x" * self.size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``server`` / ``client`` / ``versions`` command lines shared by every peer."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--api", default="", help="which API of the library (peer specific)")
    sub = parser.add_subparsers(dest="role", required=True)
    srv = sub.add_parser("server")
    srv.add_argument("--port", type=int, default=0)
    srv.add_argument("--tls", action="store_true")
    srv.add_argument("--cert", default="")
    srv.add_argument("--key", default="")
    srv.add_argument("--lifetime", type=float, default=3600.0)
    cli = sub.add_parser("client")
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--path", default="/")
    cli.add_argument("--tls", action="store_true")
    cli.add_argument("--mode", choices=["rtt", "pipeline", "latency"], default="rtt")
    cli.add_argument("--size", type=int, default=256)
    cli.add_argument("--duration", type=float, default=2.0)
    cli.add_argument("--max-count", type=int, default=10_000_000)
    cli.add_argument("--warmup", type=int, default=200)
    cli.add_argument("--window", type=int, default=64)
    cli.add_argument("--rate", type=float, default=1000.0)
    sub.add_parser("versions")
    return parser.parse_args(argv)


def run(main: Coroutine[Any, Any, None], loop_name: str) -> None:
    """Run ``main`` on uvloop or on the stdlib asyncio loop."""
    if loop_name == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        with asyncio.Runner() as runner:
            runner.run(main)


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context from the suite's self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_ssl_context() -> ssl.SSLContext:
    """A client TLS context that accepts the suite's self-signed certificate on loopback."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def print_line(line: str) -> None:
    """Write one protocol line to the harness and flush it."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for_go() -> None:
    """Block until the harness writes a line; blocking the loop is fine, nothing else runs.

    End of input counts as go, so a peer also runs by hand (``< /dev/null``); its loops are
    bounded in count and time either way.
    """
    sys.stdin.readline()


def percentiles(samples_us: list[float]) -> dict[str, float]:
    """p50, p99 and p99.9 of round-trip samples in microseconds (nearest rank)."""
    if not samples_us:
        return {"p50_us": 0.0, "p99_us": 0.0, "p999_us": 0.0}
    s = sorted(samples_us)
    n = len(s)

    def rank(p: float) -> float:
        # Nearest rank: the smallest sample with at least p of all samples at or below it.
        return s[max(0, math.ceil(p * n) - 1)]

    return {"p50_us": rank(0.50), "p99_us": rank(0.99), "p999_us": rank(0.999)}


def report(count: int, elapsed: float, extra: dict[str, float] | None = None) -> None:
    """Print the RESULT line, then wait until the harness has read both processes' CPU."""
    result: dict[str, float] = {"count": count, "elapsed": elapsed}
    if extra:
        result.update(extra)
    print_line("RESULT " + json.dumps(result))
    wait_for_go()


def print_versions(modules: dict[str, str]) -> None:
    """Print ``{name: version}`` for the imported modules, plus Python's, as JSON."""
    out = dict(modules)
    out["python"] = sys.version.split()[0]
    try:
        out["uvloop"] = metadata.version("uvloop")
    except metadata.PackageNotFoundError:
        pass  # the row can still run on plain asyncio
    print_line(json.dumps(out))


def serve_until_killed(lifetime: float) -> Coroutine[Any, Any, None]:
    """Sleep until the harness kills the server; ``lifetime`` bounds an orphaned server."""
    return asyncio.sleep(lifetime)


async def drive_send_recv(
    send: Callable[[bytes], Awaitable[Any]],
    recv: Callable[[], Awaitable[Any]],
    o: ClientOptions,
) -> None:
    """Run the timed client loop for APIs shaped like ``await send(m)`` / ``await recv()``.

    The loop is written as an application would write it: one ``await`` per call, the
    bound methods looked up once.
    """
    payload = o.payload
    for _ in range(o.warmup):
        await send(payload)
        echo = await recv()
        if len(echo) != o.size:
            raise RuntimeError(f"echo has {len(echo)} bytes, sent {o.size}: the server is not an echo server")
    print_line("READY")
    wait_for_go()
    count = 0
    clock = time.perf_counter
    t0 = clock()
    deadline = t0 + o.duration
    extra: dict[str, float] | None = None
    if o.mode == "rtt":
        while count < o.max_count:
            await send(payload)
            await recv()
            count += 1
            if not count % CLOCK_EVERY and clock() >= deadline:
                break
    elif o.mode == "pipeline":
        window = o.window
        while count < o.max_count and clock() < deadline:
            for _ in range(window):
                await send(payload)
            for _ in range(window):
                await recv()
            count += window
    else:
        samples: list[float] = []
        period = 1.0 / o.rate
        while count < o.max_count and clock() < deadline:
            delay = t0 + count * period - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            s = clock()
            await send(payload)
            await recv()
            samples.append((clock() - s) * 1e6)
            count += 1
        extra = percentiles(samples)
    report(count, clock() - t0, extra)
