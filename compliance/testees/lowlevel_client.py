"""Autobahn testee: a client on picows' low-level listener API.

Talks to ``wstest -m fuzzingserver``: reads the case count, runs every case
with the frame-by-frame echo listener of ``lowlevel_echo_server.py`` (no
validation in the listener), then asks the suite to write its reports.

    python compliance/testees/lowlevel_client.py --url ws://127.0.0.1:9001 --agent NAME
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import quote

from _common import MAX_SIZE, add_loop_option, run
from lowlevel_echo_server import EchoListener

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

#: wstest waits up to 100 s in a section 9 case; never wait longer than that per case.
CASE_TIMEOUT = 120.0


class TextCollector(WSListener):
    """Keep the text messages of a control connection (/getCaseCount)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.texts.append(frame.get_payload_as_utf8_text())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def control(url: str) -> list[str]:
    """Open a control URL, return the text messages it sent before closing."""
    transport, listener = await ws_connect(TextCollector, url)
    await asyncio.wait_for(transport.wait_disconnected(), CASE_TIMEOUT)
    assert isinstance(listener, TextCollector)
    return listener.texts


async def run_case(url: str, auto_pong: bool, deflate: bool = False) -> None:
    """Run one case: echo until the suite closes the connection."""
    transport, _ = await ws_connect(
        EchoListener, url, max_frame_size=MAX_SIZE, enable_auto_pong=auto_pong, permessage_deflate=deflate
    )
    await asyncio.wait_for(transport.wait_disconnected(), CASE_TIMEOUT)


async def run_all(base: str, agent: str, auto_pong: bool, deflate: bool = False) -> int:
    """Run every case the fuzzingserver offers; return the number of errors seen."""
    texts = await control(f"{base}/getCaseCount")
    if not texts:
        raise SystemExit(f"testee: {base}/getCaseCount sent no case count")
    count = int(texts[0])
    print(f"testee: {count} cases, agent {agent}", file=sys.stderr)
    errors = 0
    for case in range(1, count + 1):
        try:
            await run_case(f"{base}/runCase?case={case}&agent={quote(agent)}", auto_pong, deflate)
        except Exception as exc:  # a failing case must not stop the run
            # The suite provokes protocol errors on purpose; wstest judges them.
            errors += 1
            print(f"testee: case #{case}: {type(exc).__name__}: {exc}", file=sys.stderr)
    await control(f"{base}/updateReports?agent={quote(agent)}")
    return errors


def main() -> None:
    """Parse the command line and run the suite's cases."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:9001", help="fuzzingserver base URL")
    parser.add_argument("--agent", default="picows-lowlevel-client", help="agent name in the reports")
    parser.add_argument(
        "--manual-pong",
        action="store_true",
        help="turn the engine's auto-pong off and answer pings in the listener",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="negotiate permessage-deflate (RFC 7692) for sections 12 and 13",
    )
    add_loop_option(parser)
    args = parser.parse_args()
    errors = run(lambda: run_all(args.url.rstrip("/"), args.agent, not args.manual_pong, args.deflate), args.loop)
    print(
        f"testee: done, {errors} cases ended with an exception (wstest judges them)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
