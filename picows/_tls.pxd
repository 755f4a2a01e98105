# TLS on picows' own socket transport: the ssl module sets the connection up (context, certificates, hostname
# checks, the handshake); the per-message reads and writes call OpenSSL directly on the same SSL object.

from picows._socket cimport SocketTransport


cdef class TLSTransport(SocketTransport):
    cdef:
        # The ssl.SSLObject the ssl module made with wrap_bio(): handshake, certificates, get_extra_info().
        object _sslobj
        # Its OpenSSL SSL object and memory BIOs (ciphertext in, ciphertext out).
        void* _ssl
        void* _rbio
        void* _wbio
        bint _handshaking
        object _waiter
        object _timer
        object _handshake_timeout

    cdef _handshake_step(self)
    cdef _handshake_done(self)
    cdef _handshake_failed(self, exc)
    cdef _read_tls(self)
    cdef int _encrypt(self, const char* data, Py_ssize_t size) except -1
    cdef int _encrypt_cork(self) except -1
    cdef _send_out(self)
    cdef _ssl_error(self, int code, str what)
