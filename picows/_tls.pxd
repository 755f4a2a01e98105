# TLS on picows' own socket transport: the ssl module sets the connection up (context, certificates, hostname
# checks, the handshake); the per-message reads and writes call OpenSSL directly on the same SSL object.

from picows._socket cimport SocketTransport


cdef extern from "_tls_thread.h":
    enum:
        PICOWS_TLS_IO_BUF
        PICOWS_TLS_RECORD
    # The thread's ciphertext buffers and BIO window (see _tls_thread.h).
    ctypedef struct picows_tls_thread:
        void* bio
        const char* src
        Py_ssize_t src_len
        Py_ssize_t out_len
        char in_buf[PICOWS_TLS_IO_BUF]
        char out_buf[PICOWS_TLS_IO_BUF]
        char record_buf[PICOWS_TLS_RECORD]


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

    cdef _handshake_step(self, picows_tls_thread* t)
    cdef _handshake_done(self, picows_tls_thread* t)
    cdef _handshake_failed(self, exc)
    cdef _send_handshake_out(self, picows_tls_thread* t)
    cdef int _take_over_bio(self) except -1
    cdef _hold_buffers(self)
    cdef _schedule_lost(self, exc)
    cdef int _io_open(self, picows_tls_thread* t) except -1
    cdef void _io_close(self, picows_tls_thread* t) noexcept
    cdef _keep_rest(self, picows_tls_thread* t)
    cdef _read_tls(self, picows_tls_thread* t)
    cdef _read_kept(self, picows_tls_thread* t)
    cdef int _encrypt(self, picows_tls_thread* t, const char* data, Py_ssize_t size) except -1
    cdef int _encrypt_cork(self, picows_tls_thread* t) except -1
    cdef _send_out(self, picows_tls_thread* t)
    cdef _send_records(self, picows_tls_thread* t)
    cdef _ssl_error(self, int code, str what)
