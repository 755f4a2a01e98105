# cython: freethreading_compatible = False
"""TLS on picows' own socket transport.

asyncio's and uvloop's SSL transports drive OpenSSL through ``ssl.SSLObject``: per message, Python-level
``read``/``write``/``pending`` wrappers in ``ssl.py``, each of which releases and retakes the GIL, plus the SSL
protocol's own state machine between the socket and the application's protocol. For small messages that costs
more than the WebSocket work and the encryption together.

TLSTransport keeps the ssl module for everything that must be right and is rare: ``SSLContext.wrap_bio()``
creates the connection (certificates, verification, the hostname check, SNI, ALPN) and
``SSLObject.do_handshake()`` runs the handshake over memory BIOs, raising the ssl module's own exceptions. After
the handshake the SSL object gets a BIO of this module's and OpenSSL's ``SSL_read``/``SSL_write`` are called on it
directly, with the GIL held (the calls take microseconds and never block): OpenSSL reads the ciphertext straight
from the buffer ``recv()`` filled and writes its records straight to the buffer ``send()`` sends, plaintext comes
out into the protocol's buffer, and writes gathered while a read is handled are encrypted as one record and sent
with one ``send()``. A busy connection keeps OpenSSL's record buffers between records; an idle one gives them back.

OpenSSL's functions are looked up at import (by ``picows._openssl``) in the library Python's ``_ssl`` module is
linked with, so both use one OpenSSL, and the SSL object's address is read from ``_ssl._SSLSocket``, whose layout
has been the same since Python 3.7 (checked for each connection: the SSL object must belong to the context's
``SSL_CTX``). If any of that is unavailable, :data:`AVAILABLE` is False and ``wss://`` runs on the event loop's
SSL transport.
"""

cimport cython
from cpython.object cimport PyObject
from libc.errno cimport errno
from libc.limits cimport INT_MAX
from libc.string cimport memcpy
from cpython.mem cimport PyMem_Free, PyMem_Malloc

from picows._openssl cimport (
    BIO_CTRL_FLUSH, BIO_CTRL_PENDING, BIO_FLAGS_READ, BIO_FLAGS_RWS, BIO_FLAGS_SHOULD_RETRY, BIO_FLAGS_WRITE,
    BIO_TYPE_SOURCE_SINK, OpenSSL, SSL_CTRL_CLEAR_MODE, SSL_CTRL_MODE, SSL_CTRL_SET_READ_AHEAD, SSL_ERROR_SYSCALL,
    SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE, SSL_ERROR_ZERO_RETURN, SSL_MODE_RELEASE_BUFFERS, load_openssl,
)
from picows._socket cimport SocketTransport, StreamProtocol, CORK_MAX_WRITE, CORK_MAX_TOTAL

import ssl

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_recv "recv" (int fd, void* buf, size_t n, int flags)

cdef extern from "_tls_thread.h" nogil:
    int picows_tls_thread_init()
    picows_tls_thread* picows_tls_thread_get()
    picows_tls_thread* picows_tls_thread_peek()

__all__ = ["AVAILABLE", "TLSTransport"]

# The OpenSSL functions, copied from picows._openssl's table at import.
cdef OpenSSL ossl

cdef enum:
    IO_BUF_SIZE = PICOWS_TLS_IO_BUF
    # The largest TLS record's plaintext.
    MAX_RECORD = PICOWS_TLS_RECORD
    # A connection keeps OpenSSL's record buffers from this many OpenSSL calls on (see _hold_buffers).
    BUFFERS_HOLD_AFTER = 16
cdef double BUFFERS_IDLE_SECONDS = 1.0
cdef void* _bio_method = NULL

# Ciphertext passes through the thread's buffers (picows_tls_thread, _tls_thread.h) on its way between the socket
# and OpenSSL, within one call: no connection keeps ciphertext of its own between reads unless its reading was
# paused (an idle TLS connection holds only OpenSSL's state).
#
# A connection's BIO is a window on them, open only while its transport calls OpenSSL (the memory BIOs of the ssl
# module cost ~950 instructions per round trip more: a copy into a growing buffer each way, their control calls
# and pending-byte checks). t.bio is the BIO allowed to move data; its reads take ciphertext from t.src (t.src_len
# bytes) and its writes append records to t.out_buf (t.out_len bytes), which the transport sends (or buffers)
# before it calls the protocol or returns to the loop. So a transport's ciphertext never reaches another's
# socket, whatever calls OpenSSL in between, and a BIO whose transport is not calling (the ssl object's own
# read() or write(), a transport that is gone) moves nothing.


cdef int _bio_read(void* bio, char* data, int size) noexcept nogil:
    cdef picows_tls_thread* t = picows_tls_thread_peek()
    cdef int n
    ossl.BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY)
    if t == NULL or bio != t.bio or t.src_len == 0 or size <= 0:
        # Nothing to read now: OpenSSL says "want read" and keeps what it has of a record.
        ossl.BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
        return -1
    n = size if size < t.src_len else <int>t.src_len
    memcpy(data, t.src, <size_t>n)
    t.src += n
    t.src_len -= n
    return n


cdef int _bio_write(void* bio, const char* data, int size) noexcept nogil:
    cdef picows_tls_thread* t = picows_tls_thread_peek()
    cdef Py_ssize_t room
    ossl.BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY)
    room = IO_BUF_SIZE - t.out_len if t != NULL else 0
    if t == NULL or bio != t.bio or room == 0 or size <= 0:
        # Full (or not this BIO's turn): OpenSSL keeps the record and says "want write"; the transport sends
        # what is staged and calls again.
        ossl.BIO_set_flags(bio, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY)
        return -1
    if size > room:
        size = <int>room  # OpenSSL writes the rest of a record later
    memcpy(t.out_buf + t.out_len, data, <size_t>size)
    t.out_len += size
    return size


cdef long _bio_ctrl(void* bio, int cmd, long num, void* ptr) noexcept nogil:
    cdef picows_tls_thread* t
    if cmd == BIO_CTRL_FLUSH:
        return 1  # the transport sends after each call
    if cmd == BIO_CTRL_PENDING:
        t = picows_tls_thread_peek()
        return t.src_len if t != NULL and bio == t.bio else 0
    return 0  # WPENDING, and what a memory BIO does not support either


cdef bint _load() except -1:
    global _bio_method
    cdef void* method
    if not picows_tls_thread_init() or not load_openssl(&ossl):
        return False
    method = ossl.BIO_meth_new(ossl.BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, b"picows")
    if method == NULL:
        return False
    ossl.BIO_meth_set_write(method, _bio_write)
    ossl.BIO_meth_set_read(method, _bio_read)
    ossl.BIO_meth_set_ctrl(method, _bio_ctrl)
    _bio_method = method
    return True


#: True when TLS can run on picows' own transport (CPython, with an ssl module linked to a shared OpenSSL).
AVAILABLE = _load()
# Whether busy connections keep OpenSSL's record buffers (see TLSTransport._hold_buffers).
_HOLDS_BUFFERS = AVAILABLE and ossl.SSL_free_buffers != NULL


cdef inline void* _field(obj, Py_ssize_t index) noexcept:
    # The index-th pointer after the object header: _ssl's C structs start with PySSLContext.ctx (index 0)
    # and PySSLSocket.Socket, PySSLSocket.ssl (index 1).
    return (<void**>(<char*><PyObject*>obj + sizeof(PyObject)))[index]


@cython.auto_pickle(False)
cdef class TLSTransport(SocketTransport):
    """A :class:`~picows._socket.SocketTransport` that speaks TLS.

    ``start()`` runs the TLS handshake; the protocol's ``connection_made`` follows once it succeeded. If it fails
    or times out, the socket is closed, ``waiter`` (when given) gets the exception, and the protocol is never
    called. ``close()`` sends TLS's close_notify alert after the buffered data.
    """

    def __init__(self, loop, sock, StreamProtocol protocol not None, sslcontext, *, bint server_side=False,
                 server_hostname=None, handshake_timeout=60.0):
        if not AVAILABLE:
            raise RuntimeError("TLSTransport is not available here; check picows._tls.AVAILABLE first")
        super().__init__(loop, sock, protocol)
        self._sslobj = sslcontext.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=server_side,
                                           server_hostname=server_hostname)
        sslsocket = self._sslobj._sslobj
        import _ssl
        if type(sslsocket) is not _ssl._SSLSocket or not isinstance(sslcontext, _ssl._SSLContext):
            raise TypeError(f"TLSTransport needs an ssl.SSLContext, got {type(sslcontext).__name__}")
        self._ssl = _field(sslsocket, 1)
        if self._ssl == NULL or ossl.SSL_get_SSL_CTX(self._ssl) != _field(sslcontext, 0):
            raise RuntimeError("the ssl module's objects do not have the expected layout; "
                               "pass fast_transport=False to use the event loop's TLS")
        self._rbio = ossl.SSL_get_rbio(self._ssl)
        self._wbio = ossl.SSL_get_wbio(self._ssl)
        self._handshake_timeout = handshake_timeout
        self._extra["sslcontext"] = sslcontext
        self._extra["ssl_object"] = self._sslobj

    def __dealloc__(self):
        PyMem_Free(self._kept)
        self._kept = NULL

    def start(self, waiter=None):
        """Run the TLS handshake, then tell the protocol it is connected and start reading.

        ``waiter``, an optional future, gets ``None`` when the handshake succeeded or its exception.
        """
        self._waiter = waiter
        self._handshaking = True
        self._start_reading()
        if self._handshake_timeout is not None:
            self._timer = self._loop.call_later(self._handshake_timeout, self._on_handshake_timeout)
        self._handshake_step(_thread())

    # ---- the handshake, through the ssl module and its memory BIOs ---------------------------------------------
    # The ssl module releases the GIL in do_handshake(): the handshake keeps the per-connection memory BIOs it
    # was set up with, and the transport's own BIO takes over once it is done.

    def _on_handshake_timeout(self):
        self._timer = None
        if self._handshaking:
            # ConnectionAbortedError, as asyncio's SSL transport raises: the handshake's own timeout.
            self._handshake_failed(ConnectionAbortedError(
                f"the TLS handshake did not finish within {self._handshake_timeout} s; the connection was closed"))

    cdef _handshake_step(self, picows_tls_thread* t):
        try:
            self._sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._send_handshake_out(t)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._send_handshake_out(t)  # the alert that tells the peer why
            self._handshake_failed(exc)
            return
        self._send_handshake_out(t)
        if self._handshaking:
            self._handshake_done(t)

    cdef _send_handshake_out(self, picows_tls_thread* t):
        # What OpenSSL wrote to the outgoing memory BIO goes out the way the data phase's records do.
        cdef int n
        while self._fd >= 0 and not self._lost_scheduled:
            n = ossl.BIO_read(self._wbio, t.out_buf, IO_BUF_SIZE)
            if n <= 0:
                return  # empty (a memory BIO's empty read leaves no error in the queue)
            t.out_len = n
            self._send_out(t)
            if n < IO_BUF_SIZE:
                return

    cdef int _take_over_bio(self) except -1:
        # From the handshake's memory BIOs to the transport's own BIO. Ciphertext that came after the handshake's
        # last message (application data in the same segment) moves to the kept input.
        cdef int n
        cdef size_t pending = ossl.BIO_ctrl_pending(self._rbio)
        cdef void* bio
        if pending:
            self._kept = <char*>PyMem_Malloc(pending)
            if self._kept == NULL:
                raise MemoryError()
            n = ossl.BIO_read(self._rbio, self._kept, <int>pending)
            self._src = self._kept
            self._src_len = n if n > 0 else 0
        bio = ossl.BIO_new(_bio_method)
        if bio == NULL:
            raise MemoryError()
        ossl.BIO_set_init(bio, 1)
        # Each set0 takes one reference and frees the memory BIO it replaces.
        ossl.BIO_up_ref(bio)
        ossl.SSL_set0_rbio(self._ssl, bio)
        ossl.SSL_set0_wbio(self._ssl, bio)
        self._bio = bio
        self._rbio = self._wbio = NULL
        # OpenSSL then takes all it is given in one BIO read instead of a record's header and body in two.
        ossl.SSL_ctrl(self._ssl, SSL_CTRL_SET_READ_AHEAD, 1, NULL)
        return 0

    cdef _handshake_done(self, picows_tls_thread* t):
        self._handshaking = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self._take_over_bio()
        except MemoryError as exc:
            self._handshake_failed(exc)
            return
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and waiter.done():
            # Whoever waited gave up (cancelled, timed out): nobody will use this connection.
            self._handshake_failed(ConnectionAbortedError("the TLS handshake finished after its waiter was cancelled"))
            return
        self._extra["peercert"] = self._sslobj.getpeercert()
        self._extra["cipher"] = self._sslobj.cipher()
        self._extra["compression"] = self._sslobj.compression()
        try:
            SocketTransport.start(self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # Raised into a loop callback, it would leave the waiter hanging: fail the connection and the waiter.
            self._fatal_error(exc, "fatal error in the protocol's connection_made")
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter is not None:
            waiter.set_result(None)
        if self._reading and (self._src_len or ossl.SSL_has_pending(self._ssl)):
            # Application data came with the handshake's last flight: no readable event will announce it.
            self._read_tls(t)

    cdef _handshake_failed(self, exc):
        # Before the handshake the protocol has not heard of the connection, so it is not told about its end.
        self._handshaking = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closing = True
        self._lost_scheduled = True
        if self._fd >= 0:
            self._stop_reading()
            if self._writer_added:
                self._loop.remove_writer(self._fd)
                self._writer_added = False
        self._sock.close()
        self._fd = -1
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # ---- OpenSSL calls on the transport's BIO -------------------------------------------------------------------

    cdef inline int _io_open(self, picows_tls_thread* t) except -1:
        # Give the BIO this connection's input for one OpenSSL call.
        self._io_calls += 1
        if self._io_calls == BUFFERS_HOLD_AFTER and not self._holding_buffers:
            self._hold_buffers()
        if t.bio != NULL:
            raise RuntimeError("a TLS transport was used from inside another one's OpenSSL call (a Python callback "
                               "of the ssl module); drive each transport from its event loop's callbacks")
        t.bio = self._bio
        t.src = self._src
        t.src_len = self._src_len
        return 0

    cdef inline void _io_close(self, picows_tls_thread* t) noexcept:
        self._src = t.src
        self._src_len = t.src_len
        t.bio = NULL

    # ---- OpenSSL's record buffers ------------------------------------------------------------------------------
    # The ssl module sets SSL_MODE_RELEASE_BUFFERS: OpenSSL frees its 17 KB read and write buffers after each
    # record and allocates them again for the next (~1,200 instructions per round trip), so that idle connections
    # hold none. A busy connection keeps them instead, until it has been idle for BUFFERS_IDLE_SECONDS.

    cdef _hold_buffers(self):
        if ossl.SSL_free_buffers == NULL:
            return  # an OpenSSL whose SSL_free_buffers() is unsafe: always release
        ossl.SSL_ctrl(self._ssl, SSL_CTRL_CLEAR_MODE, SSL_MODE_RELEASE_BUFFERS, NULL)
        self._holding_buffers = True
        self._idle_timer = self._loop.call_later(BUFFERS_IDLE_SECONDS, self._release_idle_buffers)

    def _release_idle_buffers(self):
        self._idle_timer = None
        if not self._holding_buffers or self._lost_scheduled:
            return
        if self._io_calls:
            self._io_calls = 0
            self._idle_timer = self._loop.call_later(BUFFERS_IDLE_SECONDS, self._release_idle_buffers)
            return
        # Frees both buffers unless a record is half read or half written; then the mode frees them after it.
        ossl.SSL_free_buffers(self._ssl)
        ossl.SSL_ctrl(self._ssl, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS, NULL)
        self._holding_buffers = False

    cdef _schedule_lost(self, exc):
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        SocketTransport._schedule_lost(self, exc)

    # ---- reading -----------------------------------------------------------------------------------------------

    def _on_readable(self):
        # One reader from the first handshake message on: ciphertext goes to the handshake's memory BIO, then to
        # the protocol through OpenSSL.
        cdef ssize_t n
        cdef picows_tls_thread* t
        if self._closing:
            return
        t = _thread()
        if self._src_len:
            # Input kept from before a pause goes first; new bytes wait in the kernel until it is read.
            self._read_kept(t)
            if self._src_len:
                return
        n = c_recv(self._fd, t.in_buf, IO_BUF_SIZE, 0)
        if n > 0:
            if self._handshaking:
                if ossl.BIO_write(self._rbio, t.in_buf, <int>n) != n:
                    self._handshake_failed(MemoryError("the TLS input buffer could not grow"))
                    return
                self._handshake_step(t)
            else:
                self._src = t.in_buf
                self._src_len = n
                self._read_tls(t)
            self._keep_rest(t)
        elif n == 0:
            if self._handshaking:
                self._handshake_failed(ConnectionResetError("the peer closed the connection during the TLS handshake"))
            else:
                self._read_eof()
        else:
            self._read_failed(errno)  # during the handshake, _fatal_error() fails the handshake

    cdef _keep_rest(self, picows_tls_thread* t):
        # After a read: input OpenSSL has not taken (reading was paused) must outlive the thread's receive buffer,
        # so it moves to a buffer of the connection's own, which goes once it has been read.
        cdef char* kept
        if self._src_len == 0 or self._closing:
            self._src_len = 0
            PyMem_Free(self._kept)
            self._kept = NULL
            return
        if not (t.in_buf <= self._src < t.in_buf + IO_BUF_SIZE):
            return  # in the kept buffer already
        kept = <char*>PyMem_Malloc(<size_t>self._src_len)
        if kept == NULL:
            self._src_len = 0
            self._fatal_error(MemoryError("no memory for the TLS input kept while reading is paused"),
                              "fatal error on a TLS connection")
            return
        memcpy(kept, self._src, <size_t>self._src_len)
        PyMem_Free(self._kept)
        self._kept = self._src = kept

    cdef _read_tls(self, picows_tls_thread* t):
        # Decrypt straight into the protocol's buffer until OpenSSL needs more ciphertext. Writes made meanwhile
        # are gathered, then encrypted and sent together.
        cdef Py_ssize_t size
        cdef char* ptr
        cdef int n, code
        cdef bint eof = False
        first_error = None
        try:
            self._corked = True
            try:
                while self._reading:
                    ptr = self._protocol.get_read_ptr(&size)
                    self._io_open(t)
                    n = ossl.SSL_read(self._ssl, ptr, <int>(size if size < INT_MAX else INT_MAX))
                    self._io_close(t)
                    if t.out_len:
                        self._send_out(t)  # what reading wrote on its own (a TLS 1.3 key update's reply)
                    if n > 0:
                        first_error = None
                        self._protocol.on_data(n)
                        if not self._src_len and not ossl.SSL_has_pending(self._ssl):
                            break  # all decrypted: skip the SSL_read that would only say "want more"
                        continue
                    code = ossl.SSL_get_error(self._ssl, n)
                    if code == SSL_ERROR_WANT_READ:
                        break
                    if code == SSL_ERROR_ZERO_RETURN:
                        eof = True  # the peer's close_notify
                        break
                    if first_error is None:
                        # The thread's error queue is not cleared before each call (that costs more than the
                        # whole read), so an error other code left there makes SSL_get_error() report a failure.
                        # Keep what it says, clear the queue and try once more: repeating SSL_read is harmless.
                        first_error = self._ssl_error(code, "reading TLS data failed")
                        continue
                    raise first_error
            finally:
                self._corked = False
                if not self._lost_scheduled:
                    self._encrypt_cork(t)
                    self._send_out(t)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "fatal error on a TLS connection")
            return
        if eof and not self._closing:
            self._read_eof()

    def resume_reading(self):
        """Undo pause_reading(); data decrypted or received before the pause is delivered first."""
        SocketTransport.resume_reading(self)
        if self._reading and not self._handshaking and (self._src_len or ossl.SSL_has_pending(self._ssl)):
            # What arrived before the pause sits in OpenSSL or the kept input: the socket will not announce it.
            self._loop.call_soon(self._read_buffered)

    def _read_buffered(self):
        self._read_kept(_thread())

    cdef _read_kept(self, picows_tls_thread* t):
        if self._reading and not self._closing:
            self._read_tls(t)
            self._keep_rest(t)

    # ---- writing -----------------------------------------------------------------------------------------------

    cdef int write_c(self, const char* data, Py_ssize_t size) except -1:
        """Encrypt and send ``size`` bytes (while corked, gather small writes: they are encrypted with the next
        flush).

        Writes after close() are dropped: close_notify has ended the TLS stream.
        """
        cdef picows_tls_thread* t
        if size <= 0 or self._closing or self._handshaking:
            return 0
        if self._corked and size <= CORK_MAX_WRITE and self._cork_len + size <= CORK_MAX_TOTAL:
            memcpy(self._cork_reserve(size), data, <size_t>size)
            return 0
        t = _thread()
        self._encrypt_cork(t)
        self._encrypt(t, data, size)
        self._send_out(t)
        return 0

    cdef int write2_c(self, const char* head, Py_ssize_t head_size, const char* body,
                      Py_ssize_t body_size) except -1:
        """Encrypt ``head`` then ``body`` and send them together; the head shares the first record with the body."""
        cdef Py_ssize_t first
        cdef picows_tls_thread* t
        if self._closing or self._handshaking:
            return 0
        t = _thread()
        self._encrypt_cork(t)
        if head_size <= MAX_RECORD:
            # A record of its own would cost as much as the body's first (up to 16 KiB), and 22 bytes on the wire.
            first = body_size if body_size < MAX_RECORD - head_size else MAX_RECORD - head_size
            memcpy(t.record_buf, head, <size_t>head_size)
            memcpy(t.record_buf + head_size, body, <size_t>first)
            self._encrypt(t, t.record_buf, head_size + first)
            self._encrypt(t, body + first, body_size - first)
        else:
            self._encrypt(t, head, head_size)
            self._encrypt(t, body, body_size)
        self._send_out(t)
        return 0

    cdef _flush(self):
        cdef picows_tls_thread* t
        if self._cork_len:
            t = _thread()
            self._encrypt_cork(t)
            self._send_out(t)

    cdef int _encrypt_cork(self, picows_tls_thread* t) except -1:
        # Gathered plaintext goes first, as one record.
        cdef Py_ssize_t size = self._cork_len
        if size == 0:
            return 0
        self._cork_len = 0
        try:
            self._encrypt(t, self._cork, size)
        finally:
            self._cork_release()
        return 0

    cdef int _encrypt(self, picows_tls_thread* t, const char* data, Py_ssize_t size) except -1:
        # Records go to the thread's output buffer; when it is full, OpenSSL says "want write" and it is sent.
        cdef int n, code
        first_error = None
        while size > 0 and not self._lost_scheduled:
            self._io_open(t)
            n = ossl.SSL_write(self._ssl, <void*>data, <int>(size if size < INT_MAX else INT_MAX))
            self._io_close(t)
            if n > 0:
                data += n
                size -= n
                continue
            code = ossl.SSL_get_error(self._ssl, n)
            if code == SSL_ERROR_WANT_WRITE and t.out_len:
                self._send_records(t)  # the output buffer is full; the rest of this write follows
            elif first_error is None:
                # As in _read_tls: the error may be another caller's, left in the queue; clear it and retry once.
                first_error = self._ssl_error(code, "encrypting TLS data failed")
            else:
                self._fatal_error(first_error, "fatal error on a TLS connection")
                return 0
        return 0

    cdef _send_out(self, picows_tls_thread* t):
        # Move the records in the thread's output buffer to the kernel, then tell the protocol if its writes
        # should pause.
        self._send_records(t)
        self._maybe_pause()

    cdef _send_records(self, picows_tls_thread* t):
        # The records to the kernel; what it does not take waits in the write buffer. The protocol is not called
        # here: _encrypt() uses this between two OpenSSL calls for one write, which a write from the protocol's
        # pause_writing() would break into.
        cdef Py_ssize_t n = t.out_len
        t.out_len = 0
        if n and self._fd >= 0 and not self._lost_scheduled:
            self._send_unpaused(t.out_buf, n)

    cdef _ssl_error(self, int code, str what):
        cdef char text[256]
        cdef unsigned long err = ossl.ERR_get_error()
        ossl.ERR_clear_error()
        if err:
            ossl.ERR_error_string_n(err, text, sizeof(text))
            return ssl.SSLError(code, f"{what}: {text.decode('utf-8', 'replace')}")
        if code == SSL_ERROR_SYSCALL:
            return ssl.SSLEOFError(code, f"{what}: the peer ended the TLS stream in violation of the protocol")
        return ssl.SSLError(code, f"{what} (SSL_get_error() = {code})")

    # ---- closing -----------------------------------------------------------------------------------------------

    def close(self):
        """Send the buffered data and TLS's close_notify, then close the socket."""
        cdef int attempt, n, code
        cdef picows_tls_thread* t
        if self._closing:
            return
        if self._handshaking:
            self._handshake_failed(ConnectionAbortedError("the transport was closed during the TLS handshake"))
            return
        try:
            t = _thread()
            self._encrypt_cork(t)
            for attempt in range(2):
                if self._lost_scheduled:
                    break
                ossl.ERR_clear_error()
                self._io_open(t)
                n = ossl.SSL_shutdown(self._ssl)  # queues close_notify; the peer's reply is not awaited
                self._io_close(t)
                code = ossl.SSL_get_error(self._ssl, n) if n < 0 else 0
                ossl.ERR_clear_error()
                self._send_out(t)
                if code != SSL_ERROR_WANT_WRITE:
                    break  # else the output buffer was full: sent now, so close_notify fits
        finally:
            SocketTransport.close(self)

    cdef _force_close(self, exc):
        if self._handshaking:
            self._handshake_failed(exc if exc is not None else
                                   ConnectionAbortedError("the transport was aborted during the TLS handshake"))
            return
        SocketTransport._force_close(self, exc)

    cdef _fatal_error(self, exc, str message):
        cdef picows_tls_thread* t = picows_tls_thread_peek()
        if t != NULL:
            t.out_len = 0  # this connection's records, if any: the connection is gone
        if self._handshaking:
            self._handshake_failed(exc)
            return
        SocketTransport._fatal_error(self, exc, message)

    def __repr__(self):
        state = "handshaking" if self._handshaking else "closing" if self._closing else "open"
        return f"<TLSTransport fd={self._fd} {state}>"


cdef inline picows_tls_thread* _thread() except NULL:
    cdef picows_tls_thread* t = picows_tls_thread_get()
    if t == NULL:
        raise MemoryError("no memory for this thread's TLS buffers")
    return t
