"""The OpenSSL version check that decides whether idle TLS connections free their record buffers."""

import pytest

from picows._openssl import free_buffers_is_safe


def v3(minor: int, patch: int) -> int:
    """OpenSSL 3's OPENSSL_VERSION_NUMBER: 0xMNN00PP0L."""
    return 0x30000000 | minor << 20 | patch << 4


@pytest.mark.parametrize(
    ("version", "safe"),
    [
        (v3(0, 13), False),
        (v3(0, 14), True),
        (v3(0, 15), True),
        (v3(1, 5), False),
        (v3(1, 6), True),
        (v3(2, 1), False),
        (v3(2, 2), True),
        (v3(3, 0), False),
        (v3(3, 1), True),
        (v3(4, 0), True),
        (v3(5, 0), True),
        (0x1010118F, False),  # 1.1.1x
        (0x1010119F, True),  # 1.1.1y, the CVE-2024-4741 fix
        (0x1010107F, False),  # 1.1.1g
        (0, False),  # unknown
    ],
)
def test_ssl_free_buffers_is_used_only_where_cve_2024_4741_is_fixed(version: int, safe: bool) -> None:
    assert free_buffers_is_safe(version) is safe


def test_this_pythons_openssl_is_classified_as_the_tls_module_uses_it() -> None:
    import ssl

    from picows import _tls

    if not _tls.AVAILABLE:
        pytest.skip("picows' TLS transport is not available with this Python")
    assert _tls._HOLDS_BUFFERS == free_buffers_is_safe(ssl.OPENSSL_VERSION_NUMBER)
