"""Autobahn testee: a message-level echo client on ``picows.highlevel``.

Talks to ``wstest -m fuzzingserver``: reads the case count, runs every case
(``async for message in ws: await ws.send(message)``), then asks the suite
to write its reports.

    python compliance/testees/highlevel_client.py --url ws://127.0.0.1:9001 --agent NAME
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import quote

from _common import MAX_SIZE, add_loop_option, run

from picows.highlevel import connect

#: wstest waits up to 100 s in a section 9 case; never wait longer than that per case.
CASE_TIMEOUT = 120.0


async def echo_case(url: str) -> None:
    """Run one case: echo every message until the suite closes."""
    async with connect(url, max_size=MAX_SIZE) as ws:
        async for message in ws:
            await ws.send(message)


async def run_all(base: str, agent: str) -> int:
    """Run every case the fuzzingserver offers; return the number of errors seen."""
    async with connect(f"{base}/getCaseCount") as ws:
        count = int(await ws.recv())
    print(f"testee: {count} cases, agent {agent}", file=sys.stderr)
    errors = 0
    for case in range(1, count + 1):
        try:
            await asyncio.wait_for(echo_case(f"{base}/runCase?case={case}&agent={quote(agent)}"), CASE_TIMEOUT)
        except Exception as exc:  # the suite breaks connections on purpose
            errors += 1
            print(f"testee: case #{case}: {type(exc).__name__}: {exc}", file=sys.stderr)
    async with connect(f"{base}/updateReports?agent={quote(agent)}") as ws:
        async for _ in ws:
            pass
    return errors


def main() -> None:
    """Parse the command line and run the suite's cases."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:9001", help="fuzzingserver base URL")
    parser.add_argument("--agent", default="picows-highlevel-client", help="agent name in the reports")
    add_loop_option(parser)
    args = parser.parse_args()
    errors = run(lambda: run_all(args.url.rstrip("/"), args.agent), args.loop)
    print(
        f"testee: done, {errors} cases ended with an exception (wstest judges them)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
