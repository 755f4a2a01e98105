"""The high-level examples run and talk to each other (each in its own process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()  # the server prints its URL once it listens
    assert "ws://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_echo_server_and_client() -> None:
    port = free_port()
    server = start(str(EXAMPLES / "highlevel_echo_server.py"), str(port))
    try:
        client = subprocess.run(
            [sys.executable, str(EXAMPLES / "highlevel_client.py"), f"ws://127.0.0.1:{port}/"],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert client.returncode == 0, client.stderr
        assert "text reply: Hello world" in client.stdout
        assert "binary reply: b'\\x00\\x01\\x02'" in client.stdout
        assert "fragmented reply: fragmented" in client.stdout
        assert "round trip:" in client.stdout
        assert "closed: sent 1000 (OK); then received 1000 (OK)" in client.stdout or "closed:" in client.stdout
    finally:
        stop(server)


def test_chat_room_broadcasts() -> None:
    port = free_port()
    server = start(str(EXAMPLES / "highlevel_chat.py"), "serve", str(port))
    try:
        url = f"ws://127.0.0.1:{port}/"
        alice = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "highlevel_chat.py"), "join", "alice", url],
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert alice.stdin is not None and alice.stdout is not None
        assert "* alice joined" in alice.stdout.readline()
        bob = subprocess.run(
            [sys.executable, str(EXAMPLES / "highlevel_chat.py"), "join", "bob", url],
            env=ENV,
            input="hi all\n",
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert bob.returncode == 0, bob.stderr
        assert "bob: hi all" in bob.stdout
        deadline = time.monotonic() + 10
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = alice.stdout.readline()
            seen.append(line)
            if "bob: hi all" in line:
                break
        assert any("bob: hi all" in line for line in seen), seen
        alice.stdin.close()
        assert alice.wait(10) == 0
    finally:
        stop(server)
