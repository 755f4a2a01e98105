"""What the suite builds or installs before it measures: virtualenvs, the C++ peer, a TLS cert.

Everything is created on demand and cached: a virtualenv is reused while its requirement
list is unchanged, the C++ binaries while their sources and flags are unchanged, the
certificate once made.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BENCH_DIR",
    "BUILD_DIR",
    "REPO_ROOT",
    "Venv",
    "VENVS",
    "build_cpp",
    "ensure_cert",
    "ensure_venv",
    "SetupError",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
BUILD_DIR = BENCH_DIR / "build"
CPP_DIR = BENCH_DIR / "cpp"
CXXFLAGS = ["-O2", "-std=c++17"]
CXXLIBS = ["-lssl", "-lcrypto", "-lpthread"]


class SetupError(RuntimeError):
    """A prerequisite of the suite could not be built or installed."""


@dataclass(frozen=True)
class Venv:
    """A virtualenv of the suite: where it lives and what it must contain."""

    name: str
    requirements: tuple[str, ...]

    @property
    def path(self) -> Path:
        root = Path(os.environ.get("PICOWS_BENCH_VENVS", "/opt/venvs"))
        return root / f"bench-{self.name}"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


#: picows 2.3.1 is also called ``picows``, so it cannot share a venv with the working tree.
VENVS = {
    "picows231": Venv("picows231", ("picows==2.3.1", "uvloop")),
    "peers": Venv("peers", ("websockets==17.4", "aiohttp==3.14.5", "uvloop", "matplotlib")),
}


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what} took more than {timeout:.0f} s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_venv(venv: Venv, log: bool = True) -> Path:
    """Create ``venv`` or bring it to its requirement list; return its interpreter."""
    marker = venv.path / ".bench-requirements"
    wanted = "\n".join(venv.requirements) + "\n"
    if venv.python.exists() and marker.exists() and marker.read_text() == wanted:
        return venv.python
    if log:
        print(f"[setup] virtualenv {venv.path}: installing {' '.join(venv.requirements)}", flush=True)
    if not venv.python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(venv.path)], f"creating {venv.path}", 300)
    _run(
        [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *venv.requirements],
        f"pip install into {venv.path}",
        900,
    )
    marker.write_text(wanted)
    return venv.python


def _cpp_hash(source: Path) -> str:
    h = hashlib.sha256()
    for part in (source, CPP_DIR / "common.hpp"):
        h.update(part.read_bytes())
    h.update(" ".join(CXXFLAGS + CXXLIBS).encode())
    return h.hexdigest()


def build_cpp(log: bool = True) -> dict[str, Path]:
    """Build the Beast echo server and client with g++ -O2 (cached); return their paths."""
    if shutil.which("g++") is None:
        raise SetupError("g++ not found: install it (apt-get install -y g++)")
    if not Path("/usr/include/boost/beast.hpp").exists():
        raise SetupError("Boost.Beast headers not found: apt-get install -y libboost-dev libssl-dev")
    BUILD_DIR.mkdir(exist_ok=True)
    out: dict[str, Path] = {}
    todo: list[tuple[Path, Path, str]] = []
    for name in ("echo_server", "echo_client"):
        source = CPP_DIR / f"{name}.cpp"
        binary = BUILD_DIR / name
        stamp = BUILD_DIR / f"{name}.sha256"
        digest = _cpp_hash(source)
        out[name] = binary
        if binary.exists() and stamp.exists() and stamp.read_text() == digest:
            continue
        todo.append((source, binary, digest))
    if todo and log:
        print(f"[setup] compiling {', '.join(t[1].name for t in todo)} (about a minute)", flush=True)

    def compile_one(item: tuple[Path, Path, str]) -> None:
        source, binary, digest = item
        tmp = binary.with_suffix(".tmp")
        _run(["g++", *CXXFLAGS, "-o", str(tmp), str(source), *CXXLIBS], f"compiling {source.name}", 600)
        tmp.replace(binary)
        (BUILD_DIR / f"{binary.name}.sha256").write_text(digest)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(compile_one, todo))
    return out


def ensure_cert() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made once with the openssl command)."""
    cert, key = BUILD_DIR / "cert.pem", BUILD_DIR / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    if shutil.which("openssl") is None:
        raise SetupError("openssl not found: the TLS rows need it to make a test certificate")
    BUILD_DIR.mkdir(exist_ok=True)
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        "making the test certificate",
        60,
    )
    return cert, key
