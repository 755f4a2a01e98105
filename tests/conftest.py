"""Suite-wide fixtures: both event loops, a per-test timeout guard, and a TLS test certificate.

* Every async test runs twice, under the stdlib asyncio loop and under uvloop (pytest-asyncio's
  ``pytest_asyncio_loop_factories`` hook parametrises them; the ids are ``[asyncio]`` and ``[uvloop]``).
* A test that runs longer than ``PICOWS_TEST_TIMEOUT`` seconds (default 30) fails with a timeout instead of
  hanging the suite. pytest-timeout, if installed and given ``--timeout``, does the same job; without it this
  file arms a SIGALRM guard of its own, so no extra dependency is needed.
* ``tls_files`` / ``server_ssl_context`` / ``client_ssl_context`` give a self-signed certificate for
  127.0.0.1 and localhost, generated once per session with the ``openssl`` command-line tool (or the
  ``cryptography`` package when that is installed instead).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test extras
    uvloop = None  # type: ignore[assignment]

TEST_TIMEOUT = float(os.environ.get("PICOWS_TEST_TIMEOUT", "30"))


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every async test under the stdlib loop and under uvloop."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    return factories


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Bound every async test with asyncio.wait_for.

    A SIGALRM raised inside an event loop callback is caught and logged by the loop, so async tests get their
    timeout from inside the loop instead: the test task is cancelled and fails with TimeoutError.
    """
    if _pytest_timeout_active(config):
        return
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        func = item.obj
        if not inspect.iscoroutinefunction(func) or getattr(func, "_picows_timeout", False):
            continue
        item.obj = _with_timeout(func, item.nodeid)


def _with_timeout(
    func: Callable[..., Coroutine[Any, Any, Any]], nodeid: str
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(func)
    async def bounded_test(*args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(func(*args, **kwargs), TEST_TIMEOUT)
        except asyncio.TimeoutError as exc:
            if isinstance(exc.__context__, asyncio.CancelledError):
                raise TestTimeoutError(f"{nodeid} ran over {TEST_TIMEOUT} s (PICOWS_TEST_TIMEOUT)") from exc
            raise

    bounded_test._picows_timeout = True  # type: ignore[attr-defined]
    return bounded_test


class TestTimeoutError(Exception):
    """A test ran past PICOWS_TEST_TIMEOUT."""

    __test__ = False  # not a test class, despite the name


def _pytest_timeout_active(config: pytest.Config) -> bool:
    if not config.pluginmanager.hasplugin("timeout"):
        return False
    value = config.getoption("timeout", None)
    return bool(value)


@pytest.fixture(autouse=True)
def _timeout_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a hanging test via SIGALRM (a backstop: async tests are bounded inside the loop, see above)."""
    if _pytest_timeout_active(request.config) or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TestTimeoutError(f"{request.node.nodeid} ran over {TEST_TIMEOUT} s (PICOWS_TEST_TIMEOUT)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT + 5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _make_cert_openssl(openssl: str, cert: Path, key: Path) -> None:
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)


def _make_cert_cryptography(cert: Path, key: Path) -> None:
    from cryptography import x509  # type: ignore[import-not-found, unused-ignore]
    from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found, unused-ignore]
    from cryptography.hazmat.primitives.asymmetric import ec  # type: ignore[import-not-found, unused-ignore]
    from cryptography.x509.oid import NameOID  # type: ignore[import-not-found, unused-ignore]

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, private key) PEM files of a self-signed certificate for 127.0.0.1 and localhost."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is not None:
        _make_cert_openssl(openssl, cert, key)
    else:
        try:
            _make_cert_cryptography(cert, key)
        except ImportError as exc:
            raise RuntimeError(
                "the TLS tests need a test certificate: install the openssl command-line tool "
                "(apt-get install openssl) or the cryptography package") from exc
    return cert, key


@pytest.fixture
def server_ssl_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A server-side context with the test certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*tls_files)
    return ctx


@pytest.fixture
def client_ssl_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A client-side context that trusts the test certificate (and verifies it, hostname included)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(tls_files[0]))
    return ctx
