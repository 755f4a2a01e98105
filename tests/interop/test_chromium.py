"""Headless Chromium (Debian's ``chromium``) against picows' server.

picows' own server serves the test page (the listener factory answers ``GET /`` with a 200 response and no
listener); the page's script opens WebSockets to the same server, runs its checks (text, binary, empty, 1 MiB and
4 MiB binary, 1 MiB non-ASCII text, a fragmented message and a PING from picows, a close from each side) and
reports the results on a third WebSocket. The browser gets at most BROWSER_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from picows import WSMsgType, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from tests.interop._support import (
    CLIENT_CLOSE,
    PEERS_DIR,
    PROBE,
    SERVER_CLOSE,
    CommandListener,
    Recorder,
    picows_server,
    require_chromium,
)

BROWSER_TIMEOUT = 25.0

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
    # Containers often have a small /dev/shm; Chromium falls back to /tmp with this.
    "--disable-dev-shm-usage",
]

EXPECTED_CHECKS = [
    "text", "binary", "empty", "large_1mib", "large_4mib", "non_ascii_text_1mib", "fragmented_from_us",
    "ping_from_us", "close_from_peer", "close_from_us",
]


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
async def test_chromium_to_picows_server(tmp_path: Path, deflate: bool) -> None:
    chromium = require_chromium()
    page = (PEERS_DIR / "browser_page.html").read_bytes()
    reports: list[Recorder] = []

    def route(request: WSUpgradeRequest, listeners: list[CommandListener]) -> object:
        if request.path == b"/":
            response = WSUpgradeResponse.create_ok_response(page, {"Content-Type": "text/html; charset=utf-8"})
            return WSUpgradeResponseWithListener(response, None)
        if request.path == b"/ws":
            listener = CommandListener()
            listeners.append(listener)
            return listener
        if request.path == b"/report":
            report = Recorder()
            reports.append(report)
            return report
        return None  # 404, e.g. for /favicon.ico

    async with picows_server(route, deflate=deflate) as server:
        stderr_path = tmp_path / "chromium-stderr.txt"
        with stderr_path.open("wb") as stderr:
            profile = f"--user-data-dir={tmp_path / 'profile'}"
            proc = await asyncio.create_subprocess_exec(
                chromium, *CHROMIUM_FLAGS, profile, f"http://127.0.0.1:{server.port}/",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
            try:
                result = await wait_for_report(reports, proc, stderr_path)
            finally:
                if proc.returncode is None:
                    proc.kill()
                await asyncio.wait_for(proc.wait(), 10)

        results = json.loads(result.removeprefix("result:"))
        failed = {name: outcome for name, outcome in results.items() if outcome != "ok"}
        assert not failed, f"checks failed in Chromium: {failed}"
        assert sorted(results) == sorted(EXPECTED_CHECKS)

        # picows' side of the same conversations.
        assert len(server.listeners) == 2, "the page opens two WebSockets to /ws"
        first, second = server.listeners
        assert first.transport is not None
        extensions = first.transport.response.headers.get("Sec-WebSocket-Extensions", "")
        # Chromium always offers permessage-deflate; the server takes it only when asked to.
        assert extensions.startswith("permessage-deflate") == deflate, extensions
        assert first.close_frames() == [CLIENT_CLOSE]
        assert (WSMsgType.PONG, True, PROBE) in first.frames
        assert second.transport is not None
        handshake = second.transport.close_handshake
        assert handshake is not None and handshake.sent is not None and handshake.recv is not None
        assert (handshake.sent.code, handshake.sent.reason) == SERVER_CLOSE
        assert handshake.recv.code == SERVER_CLOSE[0], "Chromium echoes the server's close code"


async def wait_for_report(reports: list[Recorder], proc: asyncio.subprocess.Process, stderr_path: Path) -> str:
    """The page's ``result:`` message, or a failure with the tail of Chromium's stderr."""
    async def first_report() -> str:
        while not reports:
            if proc.returncode is not None:
                raise AssertionError(f"chromium exited with {proc.returncode} before reporting")
            await asyncio.sleep(0.05)
        message = await reports[0].messages.get()
        assert isinstance(message, str) and message.startswith("result:"), message
        return message

    try:
        return await asyncio.wait_for(first_report(), BROWSER_TIMEOUT)
    except (asyncio.TimeoutError, AssertionError) as exc:
        tail = stderr_path.read_text(errors="replace")[-3000:]
        raise AssertionError(f"no results from Chromium within {BROWSER_TIMEOUT} s ({exc!r}); stderr:\n{tail}") \
            from None
