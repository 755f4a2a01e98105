"""Helpers shared by the Autobahn testees: command line and event loop choice."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

#: Large enough for section 9 (messages and frames of up to 16 MiB).
MAX_SIZE = 64 * 1024 * 1024


def add_loop_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--loop {auto,uvloop,asyncio}`` (auto: uvloop when it is installed)."""
    parser.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="event loop to run on (default: uvloop when importable, else asyncio)",
    )


def run(main: Callable[[], Awaitable[Any]], loop_name: str) -> Any:
    """Run ``main()`` to completion on the chosen event loop and return its result."""
    loop: asyncio.AbstractEventLoop
    if loop_name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop_name == "uvloop":
                raise SystemExit("--loop uvloop: uvloop is not installed in this interpreter") from None
            loop = asyncio.new_event_loop()
        else:
            loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    print(f"testee: event loop {type(loop).__module__}.{type(loop).__name__}", file=sys.stderr)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
