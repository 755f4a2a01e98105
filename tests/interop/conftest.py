"""Interop tests: picows against real third-party peers (websockets, aiohttp, websocket-client, Node.js ws,
headless Chromium).

Every test in this folder carries the ``interop`` marker (``pytest -m "not interop"`` leaves them out). The
peers are installed by ``scripts/install-interop-peers``; a missing peer fails its tests with that hint instead
of skipping them, so CI shows the gap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from this folder with ``interop``."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.interop)
