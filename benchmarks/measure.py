"""One measurement: start a server and a client pinned to one core, sample their CPU time
around the timed window, and return what the client counted.

Why one core: on a 2-vCPU machine, a client and a server on different cores pay a
cross-CPU wake-up for every ping-pong, which squashes every library, C++ included, to the
same 14-18k round trips per second with wide spreads. On one core each round trip is
CPU-bound and repeatable, and the CPU time of client plus server is the honest cost.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["MeasureError", "Sample", "cpu_seconds", "measure_pair", "rss_kib"]

CLK_TCK = os.sysconf("SC_CLK_TCK")

#: Given the port the server listens on, the client's command line.
ClientCmd = Callable[[int], list[str]]


class MeasureError(RuntimeError):
    """A peer failed to start, broke the harness protocol or timed out."""


@dataclass
class Sample:
    """What one client run measured, with both processes' CPU time over its window."""

    count: int
    elapsed: float
    client_cpu: float
    server_cpu: float
    server_rss_delta_kib: int
    extra: dict[str, float] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """User+sys CPU time of ``pid`` so far, in seconds.

    The scheduler's nanosecond run-time sum (``/proc/<pid>/task/*/schedstat``) when the
    kernel has it, which is the same user+sys time as ``/proc/<pid>/stat`` without its
    10 ms tick; otherwise utime+stime from ``/proc/<pid>/stat``.
    """
    total_ns = 0
    found = False
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total_ns += int(f.read().split()[0])
                    found = True
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that just ended
    except FileNotFoundError:
        found = False
    if found:
        return total_ns / 1e9
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise MeasureError(f"/proc/{pid}/status has no VmRSS line")


class _Peer:
    """A child process whose stdout lines arrive on a queue (so reads can time out)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cpu: int | None) -> None:
        self.name = name
        self.cmd = cmd
        if cpu is not None:
            if shutil.which("taskset"):
                cmd = ["taskset", "-c", str(cpu), *cmd]
            else:
                raise MeasureError("taskset not found: install util-linux, or run with --cpu -1 (unpinned)")
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """Wait for a stdout line starting with ``prefix``; return the rest of it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MeasureError(f"{self.name}: no '{prefix}' line within {timeout:.0f} s{self.tail()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(5)
                raise MeasureError(f"{self.name} exited (code {self.proc.returncode}) before '{prefix}'{self.tail()}")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise MeasureError(f"{self.name} closed its stdin{self.tail()}") from exc

    def tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().strip().splitlines()[-8:]
        return (":\n    " + "\n    ".join(lines)) if lines else ""

    def stop(self, timeout: float = 5.0) -> None:
        """Let the peer finish (client) or end it (server); never leave it running."""
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                try:
                    self.proc.stdin.close()
                except BrokenPipeError:
                    pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self.stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()


def measure_pair(
    names: tuple[str, str],
    server_cmd: list[str],
    server_env: dict[str, str],
    client_cmd_for_port: ClientCmd,
    client_env: dict[str, str],
    cpu: int | None,
    run_timeout: float,
) -> Sample:
    """Start the server, then the client against it; measure one timed window.

    ``names`` are the (client, server) row names, for error messages.
    ``client_cmd_for_port(port)`` gives the client's command once the server has said its
    port. Both are pinned to ``cpu`` (None: not pinned). The CPU and RSS snapshots are
    taken while the client waits on stdin, so neither process runs during them.
    """
    server = _Peer(f"server {names[1]}", server_cmd, server_env, cpu)
    client: _Peer | None = None
    try:
        port = int(server.expect("PORT", 30))
        cmd = client_cmd_for_port(port)
        client = _Peer(f"client {names[0]}", cmd, client_env, cpu)
        client.expect("READY", 60)
        c0, s0, r0 = cpu_seconds(client.pid), cpu_seconds(server.pid), rss_kib(server.pid)
        client.say("go")
        result = json.loads(client.expect("RESULT", run_timeout))
        c1, s1, r1 = cpu_seconds(client.pid), cpu_seconds(server.pid), rss_kib(server.pid)
        client.say("bye")
        client.stop()
        client = None
    finally:
        if client is not None:
            client.kill()
        server.kill()
    extra = {k: float(v) for k, v in result.items() if k not in ("count", "elapsed")}
    return Sample(int(result["count"]), float(result["elapsed"]), c1 - c0, s1 - s0, r1 - r0, extra)
