"""CPU per round trip of two or more builds, client plus the C++ peer, in interleaved pairs of runs.

    python ab_cpu.py client|server ws|wss SIZE N REPEATS LABEL=SOURCE [LABEL=SOURCE ...]

SOURCE is a source tree with the extension built in place (put on ``PYTHONPATH`` for the project's venv), or
``231`` for picows 2.3.1 in ``/opt/venvs/bench-picows231``. ``client`` runs ``client_n.py`` against the C++
echo server, ``server`` runs ``server_n.py`` driven by the C++ echo client; everything is pinned to one core.
Each repeat runs every label twice, for N // 10 and N round trips, and takes the difference, so start-up,
imports and the handshakes cancel out. The CPU is user + system time of both processes (the C++ server's from
``/proc``), the same quantity the benchmark suite reports; the medians and every repeat's total are printed.

The point of the pairs: on a noisy machine the rate of one build drifts by tens of percent from minute to
minute, so a difference between builds shows only when their runs alternate and enough of them are compared.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "build"
PICOWS_231 = "/opt/venvs/bench-picows231/bin/python"
PINNED = ["taskset", "-c", "1"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interpreter(source: str) -> tuple[str, dict[str, str]]:
    env = dict(os.environ)
    if source == "231":
        return PICOWS_231, env
    env["PYTHONPATH"] = source
    return sys.executable, env


class ClientSide:
    """Our client against the C++ server, which keeps running: its CPU is read from /proc."""

    def __init__(self, scheme: str, size: int) -> None:
        self.scheme, self.size, self.port = scheme, size, 9611
        tls = ["--tls", "--cert", str(BUILD / "cert.pem"), "--key", str(BUILD / "key.pem")] if scheme == "wss" else []
        self.server = subprocess.Popen(
            [*PINNED, str(BUILD / "echo_server"), "--port", str(self.port), "--lifetime", "3600", *tls],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def run(self, source: str, count: int) -> float:
        python, env = interpreter(source)
        server0, client0 = process_cpu(self.server.pid), children_cpu()
        url = f"{self.scheme}://127.0.0.1:{self.port}/"
        subprocess.run([*PINNED, python, str(HERE / "client_n.py"), url, str(self.size), str(count)],
                       env=env, check=True, timeout=600)
        return process_cpu(self.server.pid) - server0 + children_cpu() - client0

    def close(self) -> None:
        self.server.kill()
        self.server.wait()


class ServerSide:
    """Our one-connection server driven by the C++ client; both are children, so rusage counts both."""

    def __init__(self, scheme: str, size: int) -> None:
        self.scheme, self.size, self.port = scheme, size, 9700

    def run(self, source: str, count: int) -> float:
        python, env = interpreter(source)
        self.port += 1
        tls = [str(BUILD / "cert.pem"), str(BUILD / "key.pem")] if self.scheme == "wss" else []
        before = children_cpu()
        server = subprocess.Popen([*PINNED, python, str(HERE / "server_n.py"), str(self.port), *tls], env=env)
        time.sleep(0.6)
        client = subprocess.Popen(
            [*PINNED, str(BUILD / "echo_client"), "--port", str(self.port), *(["--tls"] if tls else []),
             "--mode", "rtt", "--size", str(self.size), "--duration", "600", "--max-count", str(count),
             "--warmup", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert client.stdin is not None and client.stdout is not None
        line = client.stdout.readline()
        if "READY" not in line:
            raise RuntimeError(f"the C++ client did not get ready: {line!r}")
        client.communicate("go\ngo\n", timeout=600)  # one to start, one to close after the run
        server.wait(timeout=60)
        return children_cpu() - before

    def close(self) -> None:
        pass


def main() -> None:
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    side, scheme, size, count, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    labels = [arg.split("=", 1) for arg in sys.argv[6:]]
    runner = ClientSide(scheme, size) if side == "client" else ServerSide(scheme, size)
    per_rt: dict[str, list[float]] = {label: [] for label, _ in labels}
    try:
        for _ in range(repeats):
            for label, source in labels:
                short = runner.run(source, count // 10)
                full = runner.run(source, count)
                per_rt[label].append((full - short) / (count - count // 10) * 1e6)
    finally:
        runner.close()
    for label, values in per_rt.items():
        values.sort()
        print(f"{label:8} median {values[len(values) // 2]:8.1f} us CPU per round trip; "
              f"all: {', '.join(f'{v:.0f}' for v in values)}")


if __name__ == "__main__":
    main()
