# The OpenSSL functions picows calls directly, found at run time in the library Python's ssl module uses (see
# _openssl.pyx): one table, filled once, that the TLS transport copies into a module global of its own.

# Constants of openssl/ssl.h and openssl/bio.h, stable across OpenSSL 1.1 and 3.x.
cdef enum:
    SSL_ERROR_WANT_READ = 2
    SSL_ERROR_WANT_WRITE = 3
    SSL_ERROR_SYSCALL = 5
    SSL_ERROR_ZERO_RETURN = 6
    SSL_CTRL_MODE = 33
    SSL_CTRL_SET_READ_AHEAD = 41
    SSL_CTRL_CLEAR_MODE = 78
    SSL_MODE_RELEASE_BUFFERS = 0x10
    BIO_TYPE_SOURCE_SINK = 0x0400
    BIO_FLAGS_READ = 0x01
    BIO_FLAGS_WRITE = 0x02
    BIO_FLAGS_RWS = 0x07
    BIO_FLAGS_SHOULD_RETRY = 0x08
    BIO_CTRL_PENDING = 10
    BIO_CTRL_FLUSH = 11
    BIO_CTRL_WPENDING = 13

ctypedef int (*ssl_io_t)(void* ssl, void* buf, int num) noexcept nogil
ctypedef int (*ssl_get_error_t)(const void* ssl, int ret) noexcept nogil
ctypedef int (*ssl_call_t)(void* ssl) noexcept nogil
ctypedef void* (*ssl_get_t)(const void* ssl) noexcept nogil
ctypedef long (*ssl_ctrl_t)(void* ssl, int cmd, long larg, void* parg) noexcept nogil
ctypedef void (*ssl_set_bio_t)(void* ssl, void* bio) noexcept nogil
ctypedef void (*err_clear_t)() noexcept nogil
ctypedef unsigned long (*err_get_t)() noexcept nogil
ctypedef void (*err_string_t)(unsigned long code, char* buf, size_t size) noexcept nogil
# The BIO callbacks OpenSSL calls, and the functions that make a BIO type of them.
ctypedef int (*bio_write_cb)(void* bio, const char* data, int size) noexcept nogil
ctypedef int (*bio_read_cb)(void* bio, char* data, int size) noexcept nogil
ctypedef long (*bio_ctrl_cb)(void* bio, int cmd, long num, void* ptr) noexcept nogil
ctypedef int (*bio_get_new_index_t)() noexcept nogil
ctypedef void* (*bio_meth_new_t)(int type, const char* name) noexcept nogil
ctypedef int (*bio_meth_set_write_t)(void* method, bio_write_cb write) noexcept nogil
ctypedef int (*bio_meth_set_read_t)(void* method, bio_read_cb read) noexcept nogil
ctypedef int (*bio_meth_set_ctrl_t)(void* method, bio_ctrl_cb ctrl) noexcept nogil
ctypedef void* (*bio_new_t)(const void* method) noexcept nogil
ctypedef int (*bio_call_t)(void* bio) noexcept nogil
ctypedef void (*bio_set_int_t)(void* bio, int value) noexcept nogil
ctypedef int (*bio_io_t)(void* bio, void* data, int size) noexcept nogil
ctypedef size_t (*bio_pending_t)(void* bio) noexcept nogil


cdef struct OpenSSL:
    ssl_io_t SSL_read
    ssl_io_t SSL_write
    ssl_get_error_t SSL_get_error
    ssl_call_t SSL_has_pending
    ssl_call_t SSL_shutdown
    ssl_get_t SSL_get_SSL_CTX
    ssl_get_t SSL_get_rbio
    ssl_get_t SSL_get_wbio
    ssl_ctrl_t SSL_ctrl
    ssl_set_bio_t SSL_set0_rbio
    ssl_set_bio_t SSL_set0_wbio
    # NULL when this OpenSSL's SSL_free_buffers() may free a buffer still in use (CVE-2024-4741).
    ssl_call_t SSL_free_buffers
    err_clear_t ERR_clear_error
    err_get_t ERR_get_error
    err_string_t ERR_error_string_n
    bio_new_t BIO_new
    bio_call_t BIO_up_ref
    bio_set_int_t BIO_set_init
    bio_set_int_t BIO_set_flags
    bio_set_int_t BIO_clear_flags
    bio_get_new_index_t BIO_get_new_index
    bio_meth_new_t BIO_meth_new
    bio_meth_set_write_t BIO_meth_set_write
    bio_meth_set_read_t BIO_meth_set_read
    bio_meth_set_ctrl_t BIO_meth_set_ctrl
    # For the memory BIOs of the handshake.
    bio_io_t BIO_write
    bio_io_t BIO_read
    bio_pending_t BIO_ctrl_pending


# Fill ``api`` from the ssl module's OpenSSL; False (``api`` untouched) where that cannot be done.
cdef bint load_openssl(OpenSSL* api) except -1
