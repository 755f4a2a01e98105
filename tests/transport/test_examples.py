"""The original README's echo server and client (examples/) run unchanged and talk to each other.

The server binds 127.0.0.1:9001 as the README says. If another process holds that port, the test waits for it
(bounded) rather than skipping: the examples must be shown to work.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PORT = 9001
DEADLINE = 20.0


def _port_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_readme_echo_server_and_client() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    deadline = time.monotonic() + DEADLINE
    while not _port_free(PORT):  # another run of this test (or a stray server) still holds the port
        assert time.monotonic() < deadline, f"127.0.0.1:{PORT} stayed busy; the echo example needs it"
        time.sleep(0.2)
    server = subprocess.Popen([sys.executable, str(EXAMPLES / "echo_server.py")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not _port_accepts(PORT):
            assert server.poll() is None, f"echo_server.py exited: {server.communicate()}"
            assert time.monotonic() < deadline, "echo_server.py did not start listening"
            time.sleep(0.05)
        client = subprocess.run([sys.executable, str(EXAMPLES / "echo_client.py")], env=env,
                                capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic()))
        assert client.returncode == 0, client.stderr
        assert "Echo reply: Hello world" in client.stdout
    finally:
        server.terminate()
        try:
            out, err = server.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
    assert "Server started on" in out
    assert "New client connected" in out
