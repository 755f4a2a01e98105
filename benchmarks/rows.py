"""The rows of the benchmark table: which library, through which API, in which interpreter.

A row knows how to start its client and its server. The C++ row is the fixed reference
peer itself; every other row is a peer script under ``peers/`` run by the interpreter of
the row's virtualenv (or by the interpreter running the suite, for our own rows).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .envs import BENCH_DIR, REPO_ROOT, VENVS

__all__ = ["BASELINE", "CPP", "Row", "all_rows"]

PEERS = BENCH_DIR / "peers"

#: The row every ratio is taken against (same event loop as the row).
BASELINE = "picows231-ll"
CPP = "cpp"


@dataclass(frozen=True)
class Row:
    """One contender: a library and API, and the event loop its Python peer runs on."""

    name: str
    label: str
    venv: str | None  # a key of envs.VENVS; None means the interpreter running the suite
    script: str | None  # peer script under peers/; None for the C++ row
    api_args: tuple[str, ...] = ()
    loop: str = "uvloop"
    ours: bool = False
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The row's name in tables and JSON; asyncio rows carry an ``@asyncio`` suffix."""
        return self.name if self.loop == "uvloop" or self.script is None else f"{self.name}@{self.loop}"

    @property
    def is_cpp(self) -> bool:
        return self.script is None

    def python(self) -> Path:
        if self.venv is None:
            return Path(sys.executable)
        return VENVS[self.venv].python

    def command(self, role: str, args: list[str]) -> list[str]:
        """The command line that starts this row's ``role`` (client, server or versions)."""
        assert self.script is not None
        return [str(self.python()), str(PEERS / self.script), "--loop", self.loop, *self.api_args, role, *args]

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.ours:
            # Our rows import the working tree, whatever the interpreter's site-packages hold.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
        env.update(self.env)
        return env

    def with_loop(self, loop: str) -> Row:
        return Row(self.name, self.label, self.venv, self.script, self.api_args, loop, self.ours, self.env)


def all_rows() -> list[Row]:
    """Every row the suite knows, uvloop variants (asyncio variants come from ``with_loop``)."""
    return [
        Row("picows-ll", "picows (ours) low-level", None, "peer_picows_ll.py", ours=True),
        Row("picows-cy", "picows (ours) Cython listener", None, "peer_picows_cy.py", ours=True),
        Row("picows-hl", "picows (ours) high-level", None, "peer_wslike.py", ("--api", "picows.highlevel"), ours=True),
        Row(BASELINE, "picows 2.3.1 low-level", "picows231", "peer_picows_ll.py"),
        Row(
            "picows231-ws",
            "picows 2.3.1 picows.websockets",
            "picows231",
            "peer_wslike.py",
            ("--api", "picows.websockets"),
        ),
        Row("websockets", "websockets 17.4", "peers", "peer_wslike.py", ("--api", "websockets")),
        Row("aiohttp", "aiohttp 3.14.5", "peers", "peer_aiohttp.py"),
        Row(CPP, "C++ Boost.Beast (limit)", None, None),
    ]
