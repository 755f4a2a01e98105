"""The OpenSSL functions picows' TLS transport calls directly, looked up in the ssl module's OpenSSL.

Its interface is C-level (``_openssl.pxd``), but for the version check below.
"""

__all__ = ["free_buffers_is_safe"]

def free_buffers_is_safe(version: int) -> bool:
    """Whether ``SSL_free_buffers()`` is safe in the OpenSSL whose ``OpenSSL_version_num()`` is ``version``."""
