"""Peer for our low-level API with Cython listeners (``cy_listeners.pyx`` through the public .pxd).

The extension is compiled against the working tree's ``.pxd`` files by the ``versions``
subcommand, which the suite runs before it measures; it is cached under
``benchmarks/build/cython/<hash>`` and rebuilt when the listener or any engine .pxd/.h changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import inspect
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.peers import _common as c
else:
    import _common as c  # the script's own folder is on sys.path: peers run in other venvs

import picows
from picows import ws_connect, ws_create_server

HERE = Path(__file__).resolve().parent
BUILD_ROOT = HERE.parent / "build" / "cython"


def _engine_dir() -> Path:
    return Path(picows.__file__).resolve().parent


def _digest() -> str:
    h = hashlib.sha256((HERE / "cy_listeners.pyx").read_bytes())
    engine = _engine_dir()
    for path in sorted([*engine.glob("*.pxd"), *engine.glob("*.h")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def build() -> Path:
    """Compile cy_listeners.pyx against the engine's .pxd files unless a build is cached."""
    out = BUILD_ROOT / _digest()
    if any(out.glob("cy_listeners*.so")):
        return out
    # Cython.Build and setuptools ship no type hints: take what is used as untyped callables.
    cythonize: Any = importlib.import_module("Cython.Build").cythonize
    Extension: Any = importlib.import_module("setuptools").Extension
    Distribution: Any = importlib.import_module("setuptools.dist").Distribution

    engine = _engine_dir()
    tmp = out / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    ext = Extension(
        "cy_listeners",
        [str(HERE / "cy_listeners.pyx")],
        include_dirs=[str(engine)],
        extra_compile_args=["-O2"],
    )
    modules = cythonize(
        [ext],
        include_path=[str(engine.parent)],
        build_dir=str(tmp),
        quiet=True,
        compiler_directives={"language_level": 3},
    )
    dist = Distribution({"ext_modules": modules, "script_name": "setup.py"})
    cmd: Any = dist.get_command_obj("build_ext")
    cmd.build_lib = str(out)
    cmd.build_temp = str(tmp)
    # setuptools reports on stdout, which carries the harness protocol: send it to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        dist.run_command("build_ext")
    return out


def load() -> Any:
    sys.path.insert(0, str(build()))
    return importlib.import_module("cy_listeners")


async def client(o: c.ClientOptions) -> None:
    cy = load()
    listener = cy.CyClient()
    ssl_context = c.client_ssl_context() if o.tls else None
    transport, _ = await ws_connect(lambda: listener, o.url, ssl_context=ssl_context)
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    payload = o.payload
    if o.warmup:
        await listener.start(loop, payload, o.warmup, clock() + 60.0, 1)
    c.print_line("READY")
    c.wait_for_go()
    t0 = clock()
    extra: dict[str, float] | None = None
    if o.mode in ("rtt", "pipeline"):
        window = 1 if o.mode == "rtt" else o.window
        await listener.start(loop, payload, o.max_count, t0 + o.duration, window)
        count = int(listener.count)
    else:
        samples: list[float] = []
        period = 1.0 / o.rate
        count = 0
        while count < o.max_count and clock() < t0 + o.duration:
            delay = t0 + count * period - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            s = clock()
            await listener.start(loop, payload, 1, s + 60.0, 1)
            samples.append((clock() - s) * 1e6)
            count += 1
        extra = c.percentiles(samples)
    c.report(count, clock() - t0, extra)
    transport.send_close()
    await asyncio.wait_for(transport.wait_disconnected(), 5)


async def server(ns: Any) -> None:
    cy = load()
    tls: dict[str, Any] = {}
    if ns.tls:
        name = "ssl_context" if "ssl_context" in inspect.signature(ws_create_server).parameters else "ssl"
        tls[name] = c.server_ssl_context(ns.cert, ns.key)
    srv = await ws_create_server(lambda _request: cy.CyEchoServer(), "127.0.0.1", ns.port, **tls)
    c.print_line(f"PORT {srv.sockets[0].getsockname()[1]}")
    await c.serve_until_killed(ns.lifetime)


def main() -> None:
    ns = c.parse_args()
    if ns.role == "versions":
        load()
        c.print_versions({"picows": getattr(picows, "__version__", "unknown"), "cython": _cython_version()})
    elif ns.role == "server":
        c.run(server(ns), ns.loop)
    else:
        c.run(client(c.ClientOptions(ns)), ns.loop)


def _cython_version() -> str:
    return metadata.version("Cython")


if __name__ == "__main__":
    main()
