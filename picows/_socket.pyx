# cython: freethreading_compatible = False
"""A plain-TCP transport for the engine, driven by ``loop.add_reader`` / ``loop.add_writer``.

asyncio's and uvloop's stream transports talk to a BufferedProtocol through Python calls: ``get_buffer()`` returning
a fresh memoryview and ``buffer_updated()`` for every read, and a generic write path for every send. For small
messages that machinery costs more than the WebSocket work itself. SocketTransport instead ``recv()``s straight into
the protocol's buffer and calls the protocol through C (StreamProtocol), and ``send()``s at once from write(),
buffering only what the kernel did not take. It works on any loop that implements add_reader/add_writer (asyncio's
selector loops and uvloop). It speaks plain TCP only: TLS stays on asyncio's SSL transport.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.errno cimport errno, EAGAIN, EINTR
from libc.string cimport memcpy, memset, strerror

import socket

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_recv "recv" (int fd, void* buf, size_t n, int flags)
    ssize_t c_send "send" (int fd, const void* buf, size_t n, int flags)
    struct msghdr:
        iovec* msg_iov
        size_t msg_iovlen
    ssize_t c_sendmsg "sendmsg" (int fd, const msghdr* msg, int flags)
    int MSG_NOSIGNAL

cdef extern from "<errno.h>":
    int EWOULDBLOCK

__all__ = ["SocketTransport", "StreamProtocol"]

# DEFAULT_HIGH_WATER, CORK_MAX_WRITE, CORK_MAX_TOTAL and CORK_INIT are declared (and explained) in _socket.pxd.
# One released gathering buffer kept for the next read of any connection: a busy connection then reuses it
# instead of paying malloc/free per read, and idle connections still hold none. Handing it over is a pointer
# swap with the GIL held, so threads running their own loops cannot take it twice.
cdef char* _spare_cork = NULL
cdef Py_ssize_t _spare_cork_cap = 0


cdef inline object _os_error(int err):
    # OSError(errno, msg) picks the matching subclass (ConnectionResetError, BrokenPipeError, ...).
    return OSError(err, strerror(err).decode("utf-8", "replace"))


@cython.auto_pickle(False)
cdef class StreamProtocol:
    """The C-level protocol interface SocketTransport drives; subclass it in Cython and override every method."""

    cdef char* get_read_ptr(self, Py_ssize_t* size) except NULL:
        raise NotImplementedError("StreamProtocol subclasses must implement get_read_ptr")

    cdef int on_data(self, Py_ssize_t n) except -1:
        raise NotImplementedError("StreamProtocol subclasses must implement on_data")

    cdef on_connection_made(self, transport):
        pass

    cdef on_eof(self):
        pass

    cdef on_connection_lost(self, exc):
        pass

    cdef on_pause_writing(self):
        pass

    cdef on_resume_writing(self):
        pass


@cython.auto_pickle(False)
cdef class SocketTransport:
    """An asyncio.Transport-like object over a connected, non-blocking TCP socket.

    It implements the part of asyncio.Transport that picows uses: write, writelines, close, abort, is_closing,
    get_extra_info, pause_reading/resume_reading/is_reading, the write-buffer limits and get/set_protocol.
    """

    def __init__(self, loop, sock, StreamProtocol protocol not None):
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"SocketTransport needs a stream socket, got {sock!r}")
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Like asyncio's TCP transports: small WebSocket frames must not wait for Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._protocol = protocol
        self._wbuf = bytearray()
        self._high = DEFAULT_HIGH_WATER
        self._low = DEFAULT_HIGH_WATER // 4
        self._extra = {"socket": sock, "sslcontext": None}
        for key, getter in (("sockname", sock.getsockname), ("peername", sock.getpeername)):
            try:
                self._extra[key] = getter()
            except OSError:
                self._extra[key] = None
        # Bound once: add_reader/add_writer get the same objects every time.
        self._on_readable_cb = self._on_readable
        self._on_writable_cb = self._on_writable

    def __dealloc__(self):
        PyMem_Free(self._cork)
        self._cork = NULL

    def start(self):
        """Tell the protocol it is connected (connection_made) and start reading."""
        self._protocol.on_connection_made(self)
        if not self._closing:
            self._start_reading()

    # ---- reading ---------------------------------------------------------------------------------------------

    cdef _start_reading(self):
        if not self._reading:
            self._loop.add_reader(self._fd, self._on_readable_cb)
            self._reading = True

    cdef _stop_reading(self):
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self):
        cdef Py_ssize_t size
        cdef ssize_t n
        cdef char* ptr
        if self._closing:
            return
        try:
            ptr = self._protocol.get_read_ptr(&size)
            n = c_recv(self._fd, ptr, <size_t>size, 0)
            if n > 0:
                self._corked = True
                try:
                    self._protocol.on_data(n)
                finally:
                    self._corked = False
                    if self._cork_len:
                        self._flush()
                return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "fatal error in the protocol's data callback")
            return
        if n == 0:
            self._read_eof()
        else:
            self._read_failed(errno)

    cdef _read_eof(self):
        # The peer closed its side: tell the protocol, then close ours.
        try:
            self._protocol.on_eof()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "fatal error in the protocol's eof callback")
            return
        self.close()

    cdef _read_failed(self, int err):
        if err == EAGAIN or err == EWOULDBLOCK or err == EINTR:
            return
        self._fatal_error(_os_error(err), "fatal read error on the socket")

    def pause_reading(self):
        """Stop calling the protocol with data until resume_reading()."""
        if not self._closing:
            self._stop_reading()

    def resume_reading(self):
        """Undo pause_reading()."""
        if not self._closing:
            self._start_reading()

    def is_reading(self):
        """True unless reading is paused or the transport is closing."""
        return self._reading

    # ---- writing ---------------------------------------------------------------------------------------------

    cdef int write_c(self, const char* data, Py_ssize_t size) except -1:
        """Send ``size`` bytes now (or, while corked, with the next flush); the rest is buffered."""
        cdef Py_ssize_t n
        if size <= 0 or self._lost_scheduled:
            # Like asyncio: writes after the connection was dropped are ignored.
            return 0
        if self._writer_added:
            # The kernel is full: append, the writer callback sends it.
            self._buffer(data, size)
            self._maybe_pause()
            return 0
        if self._corked and size <= CORK_MAX_WRITE and self._cork_len + size <= CORK_MAX_TOTAL:
            memcpy(self._cork_reserve(size), data, <size_t>size)
            return 0
        if self._cork_len:
            # Gathered writes go first, to keep the order.
            self._flush()
            if self._lost_scheduled:
                return 0
            if self._writer_added:
                self._buffer(data, size)
                self._maybe_pause()
                return 0
        return self._send_now(data, size)

    cdef int _send_now(self, const char* data, Py_ssize_t size) except -1:
        # Nothing is waiting to go out: hand `data` to the kernel and buffer what it does not take.
        if self._send_unpaused(data, size):
            self._maybe_pause()
        return 0

    @cython.final
    cdef bint _send_unpaused(self, const char* data, Py_ssize_t size) except -1:
        # As _send_now(), behind what already waits, without telling the protocol to pause (for a caller in the
        # middle of something a write from pause_writing() would break into; it calls _maybe_pause() after).
        # True when bytes were left in the write buffer.
        cdef Py_ssize_t n
        if self._writer_added:
            self._buffer(data, size)
            return True
        n = self._sent(c_send(self._fd, data, <size_t>size, MSG_NOSIGNAL))
        if n == size or n < 0:
            return False
        self._buffer(data + n, size - n)
        self._add_writer()
        return True

    cdef int write2_c(self, const char* head, Py_ssize_t head_size, const char* body,
                      Py_ssize_t body_size) except -1:
        """Write ``head`` then ``body`` as if they were one buffer, with one sendmsg() and no copy of ``body``.

        For a large unmasked frame (a header, then the user's payload) this saves building the frame in a
        temporary bytes object: the payload goes from where it is to the kernel.
        """
        cdef msghdr msg
        cdef iovec iov[2]
        cdef Py_ssize_t n
        cdef Py_ssize_t total = head_size + body_size
        if self._writer_added or self._lost_scheduled or self._cork_len:
            # Writes are waiting (gathered, or the kernel is full): queue behind them, in order.
            self.write_c(head, head_size)
            self.write_c(body, body_size)
            return 0
        memset(&msg, 0, sizeof(msg))
        iov[0].iov_base = <void*>head
        iov[0].iov_len = <size_t>head_size
        iov[1].iov_base = <void*>body
        iov[1].iov_len = <size_t>body_size
        msg.msg_iov = iov
        msg.msg_iovlen = 2
        n = self._sent(c_sendmsg(self._fd, &msg, MSG_NOSIGNAL))
        if n == total or n < 0:
            return 0
        if n < head_size:
            self._buffer(head + n, head_size - n)
            self._buffer(body, body_size)
        else:
            self._buffer(body + (n - head_size), total - n)
        self._wait_writable()
        return 0

    cdef char* reserve_c(self, Py_ssize_t size) except? NULL:
        """While corked, make room for ``size`` bytes at the end of the gathered writes and return where they go.

        The caller must fill all ``size`` bytes before anything else writes. Returns NULL (no exception) when this
        write should take write_c() instead: not corked, too large, closing, or the kernel is already behind. A frame
        built in place skips the temporary bytes object and the copy that write_c() would make.
        """
        if (not self._corked or self._writer_added or self._closing or size > CORK_MAX_WRITE
                or self._cork_len + size > CORK_MAX_TOTAL):
            return NULL
        return self._cork_reserve(size)

    cdef char* _cork_reserve(self, Py_ssize_t size) except NULL:
        # Room for `size` more gathered bytes (callers keep the total within CORK_MAX_TOTAL).
        global _spare_cork, _spare_cork_cap
        cdef Py_ssize_t needed = self._cork_len + size
        cdef Py_ssize_t cap = self._cork_cap
        cdef char* buf
        if cap == 0 and _spare_cork != NULL:
            self._cork = _spare_cork
            self._cork_cap = cap = _spare_cork_cap
            _spare_cork = NULL
        if needed > cap:
            if cap == 0:
                cap = CORK_INIT
            while cap < needed:
                cap *= 2
            buf = <char*>PyMem_Realloc(self._cork, <size_t>cap)
            if buf == NULL:
                raise MemoryError()
            self._cork = buf
            self._cork_cap = cap
        buf = self._cork + self._cork_len
        self._cork_len = needed
        return buf

    cdef void _cork_release(self) noexcept:
        global _spare_cork, _spare_cork_cap
        if _spare_cork == NULL:
            _spare_cork = self._cork
            _spare_cork_cap = self._cork_cap
        else:
            PyMem_Free(self._cork)
        self._cork = NULL
        self._cork_len = 0
        self._cork_cap = 0

    cdef _flush(self):
        # Send what was gathered while corked; the write buffer and the writer callback take over what the kernel
        # does not accept. The length is cleared first: a write made from a flow-control callback during the
        # send must queue behind these bytes, not flush them again.
        cdef Py_ssize_t size = self._cork_len
        if size == 0:
            return
        self._cork_len = 0
        try:
            self._send_now(self._cork, size)
        finally:
            self._cork_release()

    cdef Py_ssize_t _sent(self, ssize_t n) except -2:
        # The outcome of a send: bytes taken (0 when the kernel is full), or -1 after failing the connection.
        cdef int err
        if n >= 0:
            return n
        err = errno
        if err == EAGAIN or err == EWOULDBLOCK or err == EINTR:
            return 0
        self._fatal_error(_os_error(err), "fatal write error on the socket")
        return -1

    cdef _wait_writable(self):
        # Some bytes stay in the write buffer: let the loop say when the socket takes more.
        self._add_writer()
        self._maybe_pause()

    cdef _add_writer(self):
        if not self._writer_added:
            self._loop.add_writer(self._fd, self._on_writable_cb)
            self._writer_added = True

    cdef _buffer(self, const char* data, Py_ssize_t size):
        self._wbuf.extend((<char*>data)[:size])

    def write(self, data):
        """Write a bytes-like object: sent at once if the kernel takes it, else buffered."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self.write_c(<const char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    def writelines(self, list_of_data):
        """Write several bytes-like objects with one send()."""
        self.write(b"".join(list_of_data))

    def can_write_eof(self):
        """Half-closing is not supported: always False."""
        return False

    def write_eof(self):
        """Not supported: picows never half-closes a WebSocket connection."""
        raise NotImplementedError("SocketTransport does not support write_eof()")

    def _on_writable(self):
        cdef Py_ssize_t n
        cdef Py_ssize_t size = PyByteArray_GET_SIZE(self._wbuf)
        if self._lost_scheduled:
            return
        if size:
            n = self._sent(c_send(self._fd, PyByteArray_AS_STRING(self._wbuf), <size_t>size, MSG_NOSIGNAL))
            if n < 0:
                return
            if n:
                # bytearray drops a prefix in O(1): it only moves its start pointer.
                del self._wbuf[:n]
        if PyByteArray_GET_SIZE(self._wbuf) == 0:
            self._loop.remove_writer(self._fd)
            self._writer_added = False
        self._maybe_resume()
        if self._closing and PyByteArray_GET_SIZE(self._wbuf) == 0:
            self._schedule_lost(None)

    cdef _maybe_pause(self):
        if self._protocol_paused or PyByteArray_GET_SIZE(self._wbuf) <= self._high:
            return
        self._protocol_paused = True
        self._tell_protocol_flow(True)

    cdef _maybe_resume(self):
        if not self._protocol_paused or PyByteArray_GET_SIZE(self._wbuf) > self._low:
            return
        self._protocol_paused = False
        self._tell_protocol_flow(False)

    cdef _tell_protocol_flow(self, bint pause):
        # Like asyncio: a failing flow-control callback is reported to the loop, not raised into the writer.
        try:
            if pause:
                self._protocol.on_pause_writing()
            else:
                self._protocol.on_resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{'pause' if pause else 'resume'}_writing() failed", "exception": exc,
                "transport": self, "protocol": self._protocol})

    def set_write_buffer_limits(self, high=None, low=None):
        """Set the write buffer's high and low water marks (defaults 64 KiB and a quarter of high)."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        self._maybe_pause()

    def get_write_buffer_limits(self):
        """Return ``(low, high)``."""
        return (self._low, self._high)

    def get_write_buffer_size(self):
        """Bytes written but not yet accepted by the kernel."""
        return PyByteArray_GET_SIZE(self._wbuf) + self._cork_len

    # ---- closing ---------------------------------------------------------------------------------------------

    def is_closing(self):
        """True once close() or abort() was called or the connection broke."""
        return self._closing

    def close(self):
        """Stop reading, flush the write buffer, then close the socket and call connection_lost(None)."""
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if self._cork_len:
            self._flush()
        if PyByteArray_GET_SIZE(self._wbuf) == 0:
            self._schedule_lost(None)

    def abort(self):
        """Close at once, dropping the write buffer; connection_lost(None) follows from the loop."""
        self._force_close(None)

    cdef _force_close(self, exc):
        if self._lost_scheduled:
            return
        if self._writer_added:
            self._loop.remove_writer(self._fd)
            self._writer_added = False
        del self._wbuf[:]
        self._cork_release()
        self._closing = True
        self._stop_reading()
        self._schedule_lost(exc)

    cdef _schedule_lost(self, exc):
        if self._lost_scheduled:
            return
        self._lost_scheduled = True
        if self._writer_added:
            self._loop.remove_writer(self._fd)
            self._writer_added = False
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        protocol = self._protocol
        try:
            protocol.on_connection_lost(exc)
        finally:
            self._sock.close()
            self._fd = -1

    cdef _fatal_error(self, exc, str message):
        # A peer that vanished is routine: only other errors reach the loop's exception handler.
        if not isinstance(exc, OSError) or not isinstance(exc, (BrokenPipeError, ConnectionResetError,
                                                                 ConnectionAbortedError, TimeoutError)):
            self._loop.call_exception_handler({"message": message, "exception": exc, "transport": self,
                                               "protocol": self._protocol})
        self._force_close(exc)

    # ---- the rest of asyncio.BaseTransport -------------------------------------------------------------------

    def get_extra_info(self, name, default=None):
        """'socket', 'sockname', 'peername', 'sslcontext' (None over plain TCP); over TLS also 'ssl_object', then
        'peercert', 'cipher' and 'compression' once the handshake is done."""
        return self._extra.get(name, default)

    def get_protocol(self):
        """The StreamProtocol this transport drives."""
        return self._protocol

    def set_protocol(self, StreamProtocol protocol not None):
        """Switch to another StreamProtocol."""
        self._protocol = protocol

    def __repr__(self):
        state = "closing" if self._closing else "open"
        return f"<SocketTransport fd={self._fd} {state} buffered={PyByteArray_GET_SIZE(self._wbuf) + self._cork_len}>"
