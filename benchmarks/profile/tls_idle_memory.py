"""Server RSS growth per idle TLS WebSocket connection: python tls_idle_memory.py SERVER_PYTHON [N].

Starts ``SERVER_PYTHON tls_idle_memory.py --serve PORT`` (any picows: ours, or picows 2.3.1 from its own venv;
``PICOWS_FAST_TRANSPORT=0`` in the environment puts ours on the loop's TLS), opens 50 connections to warm up,
then N more (1,000 by default), each a TLS handshake and a WebSocket upgrade written by hand, and prints the
server's ``VmRSS`` growth over those N divided by N. The benchmark suite's ``connections`` bench measures the
same over plain TCP.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import ssl
import sys
from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / "build"
PORT = 9655


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def serve(port: int) -> None:
    import uvloop  # noqa: F401 - installed by the caller's venv

    from picows import WSListener, ws_create_server

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(BUILD / "cert.pem", BUILD / "key.pem")
    # picows 2.3.1 names the TLS argument ssl, ours ssl_context.
    tls = {"ssl_context" if "ssl_context" in inspect.signature(ws_create_server).parameters else "ssl": context}
    await ws_create_server(lambda _request: WSListener(), "127.0.0.1", port, **tls)
    print("ready", flush=True)
    await asyncio.sleep(300)


async def measure(server_python: str, count: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        server_python, __file__, "--serve", str(PORT), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 30)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    writers: list[asyncio.StreamWriter] = []

    async def connect() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT, ssl=context)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writers.append(writer)

    try:
        for _ in range(50):
            await connect()
        await asyncio.sleep(0.5)
        before = rss_kib(proc.pid)
        for _ in range(count):
            await connect()
        await asyncio.sleep(0.5)
        after = rss_kib(proc.pid)
        print(f"{server_python}: {(after - before) / count:.1f} KiB per idle TLS connection ({count} connections)")
    finally:
        proc.kill()
        await proc.wait()
        for writer in writers:
            writer.transport.abort()


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        import uvloop

        uvloop.install()
        asyncio.run(serve(int(sys.argv[2])))
    else:
        asyncio.run(measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
