# cython: freethreading_compatible = False
"""The OpenSSL functions picows' TLS transport calls directly.

They are looked up at run time in the library Python's ``_ssl`` module is linked with, so that the ssl module,
which sets connections up, and picows, which reads and writes their records, use one OpenSSL with one set of
structures. Nothing is linked at build time: a Python whose ssl module is built in, or is linked statically,
makes :func:`load_openssl` return False and ``wss://`` runs on the event loop's SSL transport.
"""

import os
import sys

cdef extern from "<dlfcn.h>" nogil:
    void* dlopen(const char* filename, int flags)
    void* dlsym(void* handle, const char* symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

ctypedef unsigned long (*version_num_t)() noexcept nogil

__all__ = ["free_buffers_is_safe"]


cdef void* _symbol(void* lib, const char* name) except NULL:
    cdef void* found = dlsym(lib, name)
    if found == NULL:
        raise ImportError(f"{name.decode()} not found in the OpenSSL library of the ssl module")
    return found


cpdef bint free_buffers_is_safe(unsigned long version):
    """Whether ``SSL_free_buffers()`` is safe in the OpenSSL whose ``OpenSSL_version_num()`` is ``version``.

    Before OpenSSL 3.0.14, 3.1.6, 3.2.2, 3.3.1 and 1.1.1y it could free a buffer still in use (CVE-2024-4741);
    with those, TLS connections keep the ssl module's ``SSL_MODE_RELEASE_BUFFERS`` throughout.
    """
    cdef unsigned long minor, patch
    if version >= 0x30000000:
        minor = (version >> 20) & 0xff
        patch = (version >> 4) & 0xff
        return minor >= 4 or patch >= (14 if minor == 0 else 6 if minor == 1 else 2 if minor == 2 else 1)
    return version >= 0x1010119f


cdef bint load_openssl(OpenSSL* api) except -1:
    cdef OpenSSL f
    cdef void* lib
    cdef version_num_t version_num
    # The TLS transport reads the SSL object's address out of the ssl module's objects, whose layout CPython
    # has kept from 3.7 to 3.14 (the struct heads PySSLContext and PySSLSocket); a later version falls back to
    # the loop's TLS until it is checked too.
    if sys.implementation.name != "cpython" or not (3, 9) <= sys.version_info[:2] <= (3, 14):
        return False
    try:
        import _ssl
        path = os.fsencode(_ssl.__file__)
    except (ImportError, AttributeError):
        return False  # no ssl module, or one built into the interpreter
    # RTLD_NOLOAD: the _ssl module is loaded already; its handle also finds the symbols of the libssl and
    # libcrypto it was linked with.
    lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    if lib == NULL:
        return False
    try:
        f.SSL_read = <ssl_io_t>_symbol(lib, b"SSL_read")
        f.SSL_write = <ssl_io_t>_symbol(lib, b"SSL_write")
        f.SSL_get_error = <ssl_get_error_t>_symbol(lib, b"SSL_get_error")
        f.SSL_has_pending = <ssl_call_t>_symbol(lib, b"SSL_has_pending")
        f.SSL_shutdown = <ssl_call_t>_symbol(lib, b"SSL_shutdown")
        f.SSL_get_SSL_CTX = <ssl_get_t>_symbol(lib, b"SSL_get_SSL_CTX")
        f.SSL_get_rbio = <ssl_get_t>_symbol(lib, b"SSL_get_rbio")
        f.SSL_get_wbio = <ssl_get_t>_symbol(lib, b"SSL_get_wbio")
        f.SSL_ctrl = <ssl_ctrl_t>_symbol(lib, b"SSL_ctrl")
        f.SSL_set0_rbio = <ssl_set_bio_t>_symbol(lib, b"SSL_set0_rbio")
        f.SSL_set0_wbio = <ssl_set_bio_t>_symbol(lib, b"SSL_set0_wbio")
        f.ERR_clear_error = <err_clear_t>_symbol(lib, b"ERR_clear_error")
        f.ERR_get_error = <err_get_t>_symbol(lib, b"ERR_get_error")
        f.ERR_error_string_n = <err_string_t>_symbol(lib, b"ERR_error_string_n")
        f.BIO_new = <bio_new_t>_symbol(lib, b"BIO_new")
        f.BIO_up_ref = <bio_call_t>_symbol(lib, b"BIO_up_ref")
        f.BIO_set_init = <bio_set_int_t>_symbol(lib, b"BIO_set_init")
        f.BIO_set_flags = <bio_set_int_t>_symbol(lib, b"BIO_set_flags")
        f.BIO_clear_flags = <bio_set_int_t>_symbol(lib, b"BIO_clear_flags")
        f.BIO_get_new_index = <bio_get_new_index_t>_symbol(lib, b"BIO_get_new_index")
        f.BIO_meth_new = <bio_meth_new_t>_symbol(lib, b"BIO_meth_new")
        f.BIO_meth_set_write = <bio_meth_set_write_t>_symbol(lib, b"BIO_meth_set_write")
        f.BIO_meth_set_read = <bio_meth_set_read_t>_symbol(lib, b"BIO_meth_set_read")
        f.BIO_meth_set_ctrl = <bio_meth_set_ctrl_t>_symbol(lib, b"BIO_meth_set_ctrl")
        f.BIO_write = <bio_io_t>_symbol(lib, b"BIO_write")
        f.BIO_read = <bio_io_t>_symbol(lib, b"BIO_read")
        f.BIO_ctrl_pending = <bio_pending_t>_symbol(lib, b"BIO_ctrl_pending")
    except ImportError:
        return False
    version_num = <version_num_t>dlsym(lib, b"OpenSSL_version_num")
    f.SSL_free_buffers = NULL
    if version_num != NULL and free_buffers_is_safe(version_num()):
        f.SSL_free_buffers = <ssl_call_t>dlsym(lib, b"SSL_free_buffers")
    api[0] = f
    return True
