# cython: freethreading_compatible = False
"""TLS on picows' own socket transport.

asyncio's and uvloop's SSL transports drive OpenSSL through ``ssl.SSLObject``: per message, Python-level
``read``/``write``/``pending`` wrappers in ``ssl.py``, each of which releases and retakes the GIL, plus the SSL
protocol's own state machine between the socket and the application's protocol. For small messages that costs
more than the WebSocket work and the encryption together.

TLSTransport keeps the ssl module for everything that must be right and is rare: ``SSLContext.wrap_bio()``
creates the connection (certificates, verification, the hostname check, SNI, ALPN) and
``SSLObject.do_handshake()`` runs the handshake, raising the ssl module's own exceptions. After the handshake it
calls OpenSSL's ``SSL_read``/``SSL_write`` on that same SSL object directly, with the GIL held (the calls take
microseconds and never block: both BIOs are in memory): ciphertext read from the socket goes into the incoming
memory BIO, plaintext comes out straight into the protocol's buffer, and writes gathered while a read is handled
are encrypted as one record and sent with one ``send()``.

OpenSSL's functions are looked up at import in the library Python's ``_ssl`` module is linked with (so both use
one OpenSSL), and the SSL object's address is read from ``_ssl._SSLSocket``, whose layout has been the same since
Python 3.7 (checked for each connection: the SSL object must belong to the context's ``SSL_CTX``). If any of
that is unavailable, :data:`AVAILABLE` is False and ``wss://`` runs on the event loop's SSL transport.
"""

cimport cython
from cpython.object cimport PyObject
from libc.errno cimport errno, EAGAIN, EINTR
from libc.limits cimport INT_MAX
from libc.string cimport memcpy

from picows._socket cimport SocketTransport, StreamProtocol, CORK_MAX_WRITE, CORK_MAX_TOTAL

import os
import ssl
import sys

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_recv "recv" (int fd, void* buf, size_t n, int flags)
    ssize_t c_send "send" (int fd, const void* buf, size_t n, int flags)
    int MSG_NOSIGNAL

cdef extern from "<errno.h>":
    int EWOULDBLOCK

cdef extern from "<dlfcn.h>" nogil:
    void* dlopen(const char* filename, int flags)
    void* dlsym(void* handle, const char* symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

__all__ = ["AVAILABLE", "TLSTransport"]

# SSL_get_error() results (openssl/ssl.h; stable across OpenSSL 1.1 and 3.x).
cdef enum:
    SSL_ERROR_WANT_READ = 2
    SSL_ERROR_SYSCALL = 5
    SSL_ERROR_ZERO_RETURN = 6

ctypedef int (*ssl_io_t)(void* ssl, void* buf, int num) noexcept nogil
ctypedef int (*ssl_get_error_t)(const void* ssl, int ret) noexcept nogil
ctypedef int (*ssl_call_t)(void* ssl) noexcept nogil
ctypedef void* (*ssl_get_t)(const void* ssl) noexcept nogil
ctypedef int (*bio_io_t)(void* bio, void* data, int size) noexcept nogil
ctypedef size_t (*bio_pending_t)(void* bio) noexcept nogil
ctypedef void (*err_clear_t)() noexcept nogil
ctypedef unsigned long (*err_get_t)() noexcept nogil
ctypedef void (*err_string_t)(unsigned long code, char* buf, size_t size) noexcept nogil

cdef ssl_io_t SSL_read = NULL
cdef ssl_io_t SSL_write = NULL
cdef ssl_get_error_t SSL_get_error = NULL
cdef ssl_call_t SSL_has_pending = NULL
cdef ssl_call_t SSL_shutdown = NULL
cdef ssl_get_t SSL_get_rbio = NULL
cdef ssl_get_t SSL_get_wbio = NULL
cdef ssl_get_t SSL_get_SSL_CTX = NULL
cdef bio_io_t BIO_write = NULL
cdef bio_io_t BIO_read = NULL
cdef bio_pending_t BIO_ctrl_pending = NULL
cdef err_clear_t ERR_clear_error = NULL
cdef err_get_t ERR_get_error = NULL
cdef err_string_t ERR_error_string_n = NULL

# Ciphertext passes through these on its way between the socket and the BIOs, within one call: no connection
# keeps ciphertext of its own between reads (an idle TLS connection holds only OpenSSL's state).
cdef enum:
    IO_BUF_SIZE = 65536
cdef char _in_buf[IO_BUF_SIZE]
cdef char _out_buf[IO_BUF_SIZE]


cdef void* _symbol(void* lib, const char* name) except NULL:
    cdef void* found = dlsym(lib, name)
    if found == NULL:
        raise ImportError(f"{name.decode()} not found in the OpenSSL library of the ssl module")
    return found


cdef bint _load() except -1:
    global SSL_read, SSL_write, SSL_get_error, SSL_has_pending, SSL_shutdown, SSL_get_rbio, SSL_get_wbio
    global SSL_get_SSL_CTX, BIO_write, BIO_read, BIO_ctrl_pending, ERR_clear_error, ERR_get_error
    global ERR_error_string_n
    # Only CPython's _ssl has the object layout read below, and only the versions it was checked against (the
    # struct heads PySSLContext and PySSLSocket have not changed from 3.7 to 3.14); a later version falls back to
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
    cdef void* lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    if lib == NULL:
        return False
    try:
        SSL_read = <ssl_io_t>_symbol(lib, b"SSL_read")
        SSL_write = <ssl_io_t>_symbol(lib, b"SSL_write")
        SSL_get_error = <ssl_get_error_t>_symbol(lib, b"SSL_get_error")
        SSL_has_pending = <ssl_call_t>_symbol(lib, b"SSL_has_pending")
        SSL_shutdown = <ssl_call_t>_symbol(lib, b"SSL_shutdown")
        SSL_get_rbio = <ssl_get_t>_symbol(lib, b"SSL_get_rbio")
        SSL_get_wbio = <ssl_get_t>_symbol(lib, b"SSL_get_wbio")
        SSL_get_SSL_CTX = <ssl_get_t>_symbol(lib, b"SSL_get_SSL_CTX")
        BIO_write = <bio_io_t>_symbol(lib, b"BIO_write")
        BIO_read = <bio_io_t>_symbol(lib, b"BIO_read")
        BIO_ctrl_pending = <bio_pending_t>_symbol(lib, b"BIO_ctrl_pending")
        ERR_clear_error = <err_clear_t>_symbol(lib, b"ERR_clear_error")
        ERR_get_error = <err_get_t>_symbol(lib, b"ERR_get_error")
        ERR_error_string_n = <err_string_t>_symbol(lib, b"ERR_error_string_n")
    except ImportError:
        return False
    return True


#: True when TLS can run on picows' own transport (CPython, with an ssl module linked to a shared OpenSSL).
AVAILABLE = _load()


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
        if self._ssl == NULL or SSL_get_SSL_CTX(self._ssl) != _field(sslcontext, 0):
            raise RuntimeError("the ssl module's objects do not have the expected layout; "
                               "pass fast_transport=False to use the event loop's TLS")
        self._rbio = SSL_get_rbio(self._ssl)
        self._wbio = SSL_get_wbio(self._ssl)
        self._handshake_timeout = handshake_timeout
        self._extra["sslcontext"] = sslcontext
        self._extra["ssl_object"] = self._sslobj

    def start(self, waiter=None):
        """Run the TLS handshake, then tell the protocol it is connected and start reading.

        ``waiter``, an optional future, gets ``None`` when the handshake succeeded or its exception.
        """
        self._waiter = waiter
        self._handshaking = True
        self._start_reading()
        if self._handshake_timeout is not None:
            self._timer = self._loop.call_later(self._handshake_timeout, self._on_handshake_timeout)
        self._handshake_step()

    # ---- the handshake, through the ssl module -----------------------------------------------------------------

    def _on_handshake_timeout(self):
        self._timer = None
        if self._handshaking:
            # ConnectionAbortedError, as asyncio's SSL transport raises: the handshake's own timeout.
            self._handshake_failed(ConnectionAbortedError(
                f"the TLS handshake did not finish within {self._handshake_timeout} s; the connection was closed"))

    cdef _handshake_step(self):
        try:
            self._sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._send_out()
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._send_out()  # the alert that tells the peer why
            self._handshake_failed(exc)
            return
        self._send_out()
        if self._handshaking:
            self._handshake_done()

    cdef _handshake_done(self):
        self._handshaking = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
        if self._reading and (BIO_ctrl_pending(self._rbio) or SSL_has_pending(self._ssl)):
            # Application data came with the handshake's last flight: no readable event will announce it.
            self._read_tls()

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

    # ---- reading -----------------------------------------------------------------------------------------------

    def _on_readable(self):
        # One reader from the first handshake message on: ciphertext goes into the incoming BIO, then to the
        # handshake or to the protocol.
        cdef ssize_t n
        if self._closing:
            return
        n = c_recv(self._fd, _in_buf, IO_BUF_SIZE, 0)
        if n > 0:
            if BIO_write(self._rbio, _in_buf, <int>n) != n:
                self._fatal_error(MemoryError("the TLS input buffer could not grow"), "fatal error on a TLS connection")
                return
            if self._handshaking:
                self._handshake_step()
            else:
                self._read_tls()
        elif n == 0:
            if self._handshaking:
                self._handshake_failed(ConnectionResetError("the peer closed the connection during the TLS handshake"))
            else:
                self._read_eof()
        else:
            self._read_failed(errno)  # during the handshake, _fatal_error() fails the handshake

    cdef _read_tls(self):
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
                    n = SSL_read(self._ssl, ptr, <int>(size if size < INT_MAX else INT_MAX))
                    if n > 0:
                        first_error = None
                        self._protocol.on_data(n)
                        if not SSL_has_pending(self._ssl) and not BIO_ctrl_pending(self._rbio):
                            break  # all decrypted: skip the SSL_read that would only say "want more"
                        continue
                    code = SSL_get_error(self._ssl, n)
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
                    # Also sends what reading produced on its own (a TLS 1.3 key update's reply).
                    self._flush()
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
        if self._reading and not self._handshaking and (BIO_ctrl_pending(self._rbio) or SSL_has_pending(self._ssl)):
            # What arrived before the pause sits in OpenSSL: the socket will not announce it again.
            self._loop.call_soon(self._read_buffered)

    def _read_buffered(self):
        if self._reading and not self._closing:
            self._read_tls()

    # ---- writing -----------------------------------------------------------------------------------------------

    cdef int write_c(self, const char* data, Py_ssize_t size) except -1:
        """Encrypt and send ``size`` bytes (while corked, gather them: they are encrypted with the next flush).

        Writes after close() are dropped: close_notify has ended the TLS stream.
        """
        if size <= 0 or self._closing or self._handshaking:
            return 0
        if self._corked and size <= CORK_MAX_WRITE and self._cork_len + size <= CORK_MAX_TOTAL:
            memcpy(self._cork_reserve(size), data, <size_t>size)
            return 0
        self._encrypt_cork()
        self._encrypt(data, size)
        if not self._corked:
            self._send_out()
        return 0

    cdef int write2_c(self, const char* head, Py_ssize_t head_size, const char* body,
                      Py_ssize_t body_size) except -1:
        """Encrypt ``head`` then ``body`` and send them together."""
        if self._closing or self._handshaking:
            return 0
        self._encrypt_cork()
        self._encrypt(head, head_size)
        self._encrypt(body, body_size)
        if not self._corked:
            self._send_out()
        return 0

    cdef _flush(self):
        self._encrypt_cork()
        self._send_out()

    cdef int _encrypt_cork(self) except -1:
        # Gathered plaintext goes first, as one record.
        cdef Py_ssize_t size = self._cork_len
        if size == 0:
            return 0
        self._cork_len = 0
        try:
            self._encrypt(self._cork, size)
        finally:
            self._cork_release()
        return 0

    cdef int _encrypt(self, const char* data, Py_ssize_t size) except -1:
        # Into the outgoing memory BIO, which grows as needed: SSL_write takes everything or fails.
        cdef int n
        first_error = None
        while size > 0 and not self._lost_scheduled:
            n = SSL_write(self._ssl, <void*>data, <int>(size if size < INT_MAX else INT_MAX))
            if n > 0:
                data += n
                size -= n
            elif first_error is None:
                # As in _read_tls: the error may be another caller's, left in the queue; clear it and retry once.
                first_error = self._ssl_error(SSL_get_error(self._ssl, n), "encrypting TLS data failed")
            else:
                self._fatal_error(first_error, "fatal error on a TLS connection")
                return 0
        return 0

    cdef _send_out(self):
        # Move the ciphertext OpenSSL produced to the kernel; what it does not take waits in the write buffer.
        cdef int n
        cdef Py_ssize_t sent
        while self._fd >= 0 and not self._lost_scheduled:
            n = BIO_read(self._wbio, _out_buf, IO_BUF_SIZE)
            if n <= 0:
                return  # empty (a memory BIO's empty read leaves no error in the queue)
            if self._writer_added:
                self._buffer(_out_buf, n)
                self._maybe_pause()
                continue
            sent = self._sent(c_send(self._fd, _out_buf, <size_t>n, MSG_NOSIGNAL))
            if sent < 0:
                return
            if sent < n:
                self._buffer(_out_buf + sent, n - sent)
                self._wait_writable()
            if n < IO_BUF_SIZE:
                return  # that was all of it

    cdef _ssl_error(self, int code, str what):
        cdef char text[256]
        cdef unsigned long err = ERR_get_error()
        ERR_clear_error()
        if err:
            ERR_error_string_n(err, text, sizeof(text))
            return ssl.SSLError(code, f"{what}: {text.decode('utf-8', 'replace')}")
        if code == SSL_ERROR_SYSCALL:
            return ssl.SSLEOFError(code, f"{what}: the peer ended the TLS stream in violation of the protocol")
        return ssl.SSLError(code, f"{what} (SSL_get_error() = {code})")

    # ---- closing -----------------------------------------------------------------------------------------------

    def close(self):
        """Send the buffered data and TLS's close_notify, then close the socket."""
        if self._closing:
            return
        if self._handshaking:
            self._handshake_failed(ConnectionAbortedError("the transport was closed during the TLS handshake"))
            return
        try:
            self._encrypt_cork()
            if not self._lost_scheduled:
                ERR_clear_error()
                SSL_shutdown(self._ssl)  # queues close_notify; the peer's reply is not awaited
                ERR_clear_error()
                self._send_out()
        finally:
            SocketTransport.close(self)

    cdef _force_close(self, exc):
        if self._handshaking:
            self._handshake_failed(exc if exc is not None else
                                   ConnectionAbortedError("the transport was aborted during the TLS handshake"))
            return
        SocketTransport._force_close(self, exc)

    cdef _fatal_error(self, exc, str message):
        if self._handshaking:
            self._handshake_failed(exc)
            return
        SocketTransport._fatal_error(self, exc, message)

    def __repr__(self):
        state = "handshaking" if self._handshaking else "closing" if self._closing else "open"
        return f"<TLSTransport fd={self._fd} {state}>"
