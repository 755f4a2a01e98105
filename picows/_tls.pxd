# TLS on picows' own socket transport: the ssl module sets the connection up (context, certificates, hostname
# checks, the handshake); the per-message reads and writes call OpenSSL directly on the same SSL object.

from picows._socket cimport SocketTransport


cdef class TLSTransport(SocketTransport):
    cdef:
        # The ssl.SSLObject the ssl module made with wrap_bio(): handshake, certificates, get_extra_info().
        object _sslobj
        # Its OpenSSL SSL object; the memory BIOs of the handshake (ciphertext in, ciphertext out), then the
        # transport's own BIO (see _tls.pyx).
        void* _ssl
        void* _rbio
        void* _wbio
        void* _bio
        # Ciphertext for OpenSSL to read: in the shared receive buffer during a read, else in _kept (input left
        # when reading was paused, or after the handshake; PyMem).
        const char* _src
        Py_ssize_t _src_len
        char* _kept
        # OpenSSL calls since the last idle check, and the check's timer (see _hold_buffers).
        Py_ssize_t _io_calls
        object _idle_timer
        bint _handshaking
        object _waiter
        object _timer
        object _handshake_timeout

    # Whether OpenSSL keeps its record buffers between records (a busy connection).
    cdef readonly bint _holding_buffers

    cdef _handshake_step(self)
    cdef _handshake_done(self)
    cdef _handshake_failed(self, exc)
    cdef _send_handshake_out(self)
    cdef int _take_over_bio(self) except -1
    cdef _hold_buffers(self)
    cdef _schedule_lost(self, exc)
    cdef int _io_open(self) except -1
    cdef void _io_close(self) noexcept
    cdef _keep_rest(self)
    cdef _read_tls(self)
    cdef int _encrypt(self, const char* data, Py_ssize_t size) except -1
    cdef int _encrypt_cork(self) except -1
    cdef _send_out(self)
    cdef _ssl_error(self, int code, str what)
