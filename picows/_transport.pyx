# cython: freethreading_compatible = False
"""The asyncio side of the engine: the only engine module that touches asyncio and logging.

_WSProtocol is an asyncio BufferedProtocol: asyncio reads straight into FrameReader's buffer, and the frames parsed
there are handed to the user's WSListener as views, without copying. WSTransport is the user's handle for sending
frames, closing and pinging.
"""

import asyncio
import logging
import typing
from inspect import isawaitable as _isawaitable
from types import FunctionType as _FunctionType

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from picows._frame cimport (WSFrame, FrameReader, build_frame, header_size, write_header, next_mask_key,
                            OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, MAX_HEADER_SIZE)
from picows._mask cimport picows_mask_inplace, picows_mask_copy
from libc.string cimport memcpy
from picows._deflate cimport Deflater, Inflater
from picows._socket cimport StreamProtocol, SocketTransport

from picows.enums import WSCloseCode, WSAutoPingStrategy
from picows.errors import WSError, WSHandshakeError, WSInvalidStatusError, WSProtocolError
from picows.upgrade import WSUpgradeResponse, WSUpgradeResponseWithListener
from picows import _handshake
from picows import extensions as _extensions

__all__ = ["WSListener", "WSTransport", "WSCloseInfo", "WSCloseHandshake", "WSProtocol", "WSBuffer", "PICOWS_DEBUG_LL"]

#: What WSTransport.send and friends accept as a payload.
WSBuffer = typing.Union[bytes, bytearray, memoryview, str]

#: A log level below DEBUG for per-frame tracing; enable it to see every frame.
PICOWS_DEBUG_LL = 9

# How long to wait for the peer's part of the close handshake before dropping the TCP connection.
cdef double CLOSE_TIMEOUT = 5.0
# The largest response body kept from a refused handshake.
cdef Py_ssize_t MAX_ERROR_BODY = 64 * 1024

cdef enum:
    # Frames up to this payload size are built on the stack when the connection runs on SocketTransport.
    SMALL_FRAME = 2048

cdef enum:
    STATE_HANDSHAKE = 0
    STATE_OPEN = 1
    STATE_CLOSED = 2

cdef object _WSCloseCode = WSCloseCode


cdef inline double _monotonic() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


class WSCloseInfo:
    """One side of a close handshake: the code and reason of a close frame."""

    __slots__ = ("code", "reason")

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason

    def __repr__(self):
        return f"WSCloseInfo(code={self.code!r}, reason={self.reason!r})"


class WSCloseHandshake:
    """What each side said when the connection closed.

    ``recv`` and ``sent`` are the received and sent close frames (None if there was none);
    ``recv_then_sent`` is True when the peer started the close handshake.
    """

    __slots__ = ("recv", "sent", "recv_then_sent")

    def __init__(self, recv, sent, recv_then_sent):
        self.recv = recv
        self.sent = sent
        self.recv_then_sent = recv_then_sent

    def __repr__(self):
        return f"WSCloseHandshake(recv={self.recv!r}, sent={self.sent!r}, recv_then_sent={self.recv_then_sent})"


cdef class WSListener:
    """Base class of the user's connection handler: override the callbacks you need.

    The engine calls them from the event loop. Exceptions escaping ``on_ws_frame`` fail the connection with 1011
    when ``disconnect_on_exception`` is on (the default) and are raised by ``wait_disconnected()``.
    """

    cpdef on_ws_connected(self, WSTransport transport):
        """Called once the opening handshake has completed."""

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        """Called for every data frame, and for control frames the engine does not answer itself.

        ``frame`` is a view into the read buffer, valid only during this call.
        """

    cpdef on_ws_disconnected(self, WSTransport transport):
        """Called once when the TCP connection is closed, after a successful handshake."""

    cpdef send_user_specific_ping(self, WSTransport transport):
        """Send the auto-ping probe. Override for application-level pings; the default sends a PING frame."""
        transport.send_ping()

    cpdef bint is_user_specific_pong(self, WSFrame frame):
        """Tell whether ``frame`` answers the auto-ping probe; matching frames are not passed to on_ws_frame."""
        return frame.opcode == OP_PONG

    cpdef pause_writing(self):
        """The transport's write buffer went over its high-water mark: stop sending for a while."""

    cpdef resume_writing(self):
        """The transport's write buffer drained below its low-water mark: sending may resume."""


# CPython 3.11+ keeps the attributes of plain Python objects inline ("managed dict") and specialises `self.x` on
# them, but only when the object was created through object.__new__. Cython's tp_new allocates with tp_alloc
# instead, so a Python subclass of WSListener (the usual listener) gets a materialised __dict__ and every
# `self.x` in its on_ws_frame goes the slow, unspecialised way: about 3x the cost of a plain class's attribute
# access (measured with callgrind: ~2000 instructions per round trip in a small echo client). For Python
# subclasses whose only compiled base is WSListener itself, allocate through object.__new__ and set the vtable
# pointer that Cython's tp_new would have set; everything else takes Cython's tp_new unchanged.
cdef extern from *:
    """
    static newfunc picows_listener_orig_new = NULL;
    static void* picows_listener_vtab = NULL;
    static PyTypeObject* picows_listener_type = NULL;

    static PyObject* picows_listener_new(PyTypeObject* t, PyObject* a, PyObject* k) {
    #if defined(Py_TPFLAGS_MANAGED_DICT) && !defined(Py_GIL_DISABLED)
        if (PyType_HasFeature(t, Py_TPFLAGS_MANAGED_DICT)) {
            PyTypeObject* x = t;
            /* Only heap types that inherited this tp_new may sit between t and WSListener: a compiled subclass
               has fields (and a vtable) of its own that only its own tp_new initialises. */
            while (x != NULL && x != picows_listener_type && x->tp_new == picows_listener_new
                   && PyType_HasFeature(x, Py_TPFLAGS_HEAPTYPE)) {
                x = x->tp_base;
            }
            if (x == picows_listener_type) {
                PyObject* empty = PyTuple_New(0);
                PyObject* o;
                if (empty == NULL) return NULL;
                o = PyBaseObject_Type.tp_new(t, empty, NULL);
                Py_DECREF(empty);
                if (o != NULL) *(void**)((char*)o + sizeof(PyObject)) = picows_listener_vtab;
                return o;
            }
        }
    #endif
        return picows_listener_orig_new(t, a, k);
    }

    static int picows_patch_listener_new(PyObject* type, PyObject* proto) {
        PyTypeObject* tp = (PyTypeObject*)type;
        if (tp->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + sizeof(void*))) return 0;  /* layout changed */
        picows_listener_type = tp;
        picows_listener_vtab = *(void**)((char*)proto + sizeof(PyObject));
        picows_listener_orig_new = tp->tp_new;
        tp->tp_new = picows_listener_new;
        PyType_Modified(tp);
        return 1;
    }
    """
    int picows_patch_listener_new(object type, object proto)


picows_patch_listener_new(WSListener, WSListener.__new__(WSListener))


cdef inline int _get_payload(object message, Py_buffer* view, const char** ptr, Py_ssize_t* size) except -1:
    # Returns 1 if `view` holds a buffer that the caller must release.
    if message is None:
        ptr[0] = NULL
        size[0] = 0
        return 0
    if type(message) is bytes:
        ptr[0] = PyBytes_AS_STRING(message)
        size[0] = PyBytes_GET_SIZE(message)
        return 0
    if isinstance(message, str):
        # The UTF-8 form is cached inside the str object: no copy for ASCII text.
        ptr[0] = PyUnicode_AsUTF8AndSize(message, size)
        return 0
    PyObject_GetBuffer(message, view, PyBUF_SIMPLE)
    ptr[0] = <const char*>view.buf
    size[0] = view.len
    return 1


cdef class WSTransport:
    """The user's handle on a WebSocket connection: send frames, ping, close, disconnect."""

    def __init__(self, *args, **kwargs):
        raise TypeError("WSTransport objects are created by ws_connect / ws_create_server")

    @property
    def close_handshake(self):
        """A :class:`WSCloseHandshake` once a close frame was sent or received, else None."""
        if self._close_sent is None and self._close_received is None:
            return None
        return WSCloseHandshake(self._close_received, self._close_sent, self._close_received_first)

    cpdef send(self, msg_type, message, bint fin=True, bint rsv1=False):
        """Send one frame. ``message`` may be bytes, bytearray, memoryview, str (sent as UTF-8) or None."""
        cdef Py_buffer view
        cdef const char* ptr
        cdef Py_ssize_t size
        cdef int opcode = msg_type
        cdef int release = _get_payload(message, &view, &ptr, &size)
        try:
            self.send_frame(opcode, ptr, size, fin, rsv1)
        finally:
            if release:
                PyBuffer_Release(&view)

    cdef int send_frame(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1:
        """Send one frame from C: for Cython listeners."""
        cdef unsigned char* compressed
        cdef size_t compressed_size
        if opcode >= 8:
            if opcode > OP_PONG:
                raise ValueError(f"invalid opcode 0x{opcode:x}")
            if size > 125:
                raise ValueError(f"control frame payload is {size} bytes; RFC 6455 allows at most 125")
            if not fin:
                raise ValueError("control frames cannot be fragmented (fin must be True)")
        elif opcode > OP_BINARY:
            raise ValueError(f"invalid opcode 0x{opcode:x}")
        if self.is_close_frame_sent or self.is_disconnected:
            if self._debug:
                self._logger.log(PICOWS_DEBUG_LL, "frame dropped: the connection is closing")
            return 0
        if self._deflater is not None and opcode <= OP_BINARY:
            # With permessage-deflate the engine owns RSV1: a message is compressed as a whole (one deflate
            # stream across its fragments) when its first fragment is big enough or more fragments follow.
            if opcode != OP_CONTINUATION:
                self._compressing = (not fin) or size >= self._compress_min_size
            if self._compressing:
                self._deflater.compress(<const unsigned char*>payload, <size_t>size, fin, &compressed,
                                        &compressed_size)
                self._write(build_frame(opcode, <const char*>compressed, <Py_ssize_t>compressed_size, fin,
                                        opcode != OP_CONTINUATION, self.is_client_side))
                return 0
            rsv1 = False
        if self._fast is not None and size <= SMALL_FRAME:
            return self._send_small(opcode, payload, size, fin, rsv1)
        frame_bytes = build_frame(opcode, payload, size, fin, rsv1, self.is_client_side)
        if self._fast is not None:
            self._fast.write_c(PyBytes_AS_STRING(frame_bytes), PyBytes_GET_SIZE(frame_bytes))
        else:
            self._write(frame_bytes)
        return 0

    cdef int _send_small(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1:
        # On picows' own transport a small frame is built on the stack and send() straight from there: no bytes
        # object per frame. The transport copies only what the kernel does not take at once.
        cdef uint8_t buf[SMALL_FRAME + MAX_HEADER_SIZE]
        cdef uint8_t key[4]
        cdef Py_ssize_t hlen
        if self.is_client_side:
            next_mask_key(key)
            hlen = write_header(buf, opcode, size, fin, rsv1, key)
            if size:
                picows_mask_copy(buf + hlen, <const uint8_t*>payload, <size_t>size, key)
        else:
            hlen = write_header(buf, opcode, size, fin, rsv1, NULL)
            if size:
                memcpy(buf + hlen, payload, <size_t>size)
        return self._fast.write_c(<const char*>buf, hlen + size)

    cpdef send_reuse_external_bytearray(self, msg_type, bytearray buffer, Py_ssize_t msg_offset,
                                        bint fin=True, bint rsv1=False):
        """Send ``buffer[msg_offset:]`` as one frame, writing the header into the bytes just before it.

        Zero-copy: reserve at least 14 bytes in front of the payload (``msg_offset >= 14``). On the client side the
        payload is masked in place, so the buffer's content changes. Don't modify the buffer until the transport
        has sent it (asyncio copies what it cannot send at once).
        """
        cdef int opcode = msg_type
        cdef Py_ssize_t total = len(buffer)
        cdef Py_ssize_t size = total - msg_offset
        cdef Py_ssize_t hlen = header_size(size, self.is_client_side)
        cdef uint8_t key[4]
        cdef uint8_t* base
        if msg_offset < hlen or msg_offset > total:
            raise ValueError(f"msg_offset={msg_offset} leaves no room for the {hlen}-byte frame header; "
                             "reserve at least 14 bytes in front of the payload")
        if opcode > OP_BINARY:
            raise ValueError("send_reuse_external_bytearray sends data frames only")
        if self.is_close_frame_sent or self.is_disconnected:
            return
        if self._deflater is not None:
            # Compression rewrites the payload anyway, so there is nothing to reuse.
            self.send_frame(opcode, (<char*>buffer) + msg_offset, size, fin, rsv1)
            return
        base = <uint8_t*>(<char*>buffer) + msg_offset - hlen
        if self.is_client_side:
            next_mask_key(key)
            write_header(base, opcode, size, fin, rsv1, key)
            if size:
                picows_mask_inplace(base + hlen, <size_t>size, key)
        else:
            write_header(base, opcode, size, fin, rsv1, NULL)
        self._write(memoryview(buffer)[msg_offset - hlen:])

    cpdef send_ping(self, message=None):
        """Send a PING frame (payload at most 125 bytes)."""
        self.send(OP_PING, message)

    cpdef send_pong(self, message=None):
        """Send a PONG frame (payload at most 125 bytes)."""
        self.send(OP_PONG, message)

    cpdef send_close(self, close_code=WSCloseCode.NO_INFO, close_message=None):
        """Send a CLOSE frame, once; later calls are ignored.

        Codes that may not appear on the wire (NO_INFO 1005, ABNORMAL_CLOSURE 1006, 1015) send a close frame
        without a payload. ``close_message`` (str or bytes) is truncated to fit the 125-byte control frame limit.
        """
        cdef int code = close_code if close_code is not None else 1005
        cdef bytes payload
        cdef bytes reason
        if self.is_close_frame_sent or self.is_disconnected:
            return
        if code in (0, 1005, 1006, 1015):
            payload = b""
            code = 1005
            reason = b""
        else:
            if not (1000 <= code <= 4999):
                raise ValueError(f"close code {code} is outside 1000-4999")
            if close_message is None:
                reason = b""
            elif isinstance(close_message, str):
                reason = (<str>close_message).encode()
            else:
                reason = bytes(close_message)
            if len(reason) > 123:
                # Cut at a character boundary so the peer does not fail us for invalid UTF-8.
                reason = reason[:123].decode("utf-8", "ignore").encode()
            payload = code.to_bytes(2, "big") + reason
        self._close_sent = WSCloseInfo(_WSCloseCode(code), reason.decode("utf-8", "replace"))
        self.send_frame(OP_CLOSE, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), True, False)
        self.is_close_frame_sent = True
        if self._close_received is None and self._close_timer is None:
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self._on_close_timeout)

    def _on_close_timeout(self):
        self._close_timer = None
        if not self.is_disconnected:
            self._logger.info("closing the connection: the close handshake did not complete in %.1f s",
                              CLOSE_TIMEOUT)
            self.underlying_transport.abort()

    cpdef disconnect(self, bint graceful=True):
        """Close the TCP connection; with ``graceful`` after flushing what is buffered, else at once."""
        if self.is_disconnected:
            return
        self._disconnect_requested = True
        if graceful:
            self.underlying_transport.close()
        else:
            self.underlying_transport.abort()

    async def wait_disconnected(self):
        """Wait until the connection is closed.

        Raises what broke the connection: a :class:`WSProtocolError` when the engine failed it, or the exception a
        listener callback raised.
        """
        await asyncio.shield(self._disconnected_future)
        if self._error is not None:
            raise self._error

    async def measure_roundtrip_time(self, int rounds):
        """Send ``rounds`` pings one after another and return each round trip time in seconds.

        PONG frames answering these pings are not passed to the listener.
        """
        cdef list results = []
        cdef double t0
        for _ in range(rounds):
            if self.is_disconnected:
                raise WSError("the connection is closed")
            fut = self._loop.create_future()
            self._rtt_future = fut
            t0 = _monotonic()
            self.send_ping(b"picows-rtt")
            await fut
            results.append(_monotonic() - t0)
        return results

    cpdef notify_user_specific_pong_received(self):
        """Tell auto-ping that the application received the answer to its user-specific ping."""
        if self._protocol is not None:
            self._protocol._pong_received()

    def __repr__(self):
        side = "client" if self.is_client_side else "server"
        return f"<WSTransport {side} disconnected={bool(self.is_disconnected)}>"


cdef WSTransport _new_transport(_WSProtocol protocol, transport, bint is_client, loop, logger):
    cdef WSTransport t = WSTransport.__new__(WSTransport)
    t.underlying_transport = transport
    t._write = transport.write
    if isinstance(transport, SocketTransport):
        t._fast = <SocketTransport>transport
    t._loop = loop
    t._logger = logger
    t._debug = logger.isEnabledFor(PICOWS_DEBUG_LL)
    t.is_client_side = is_client
    t.is_secure = transport.get_extra_info("sslcontext") is not None
    t._disconnected_future = loop.create_future()
    t._protocol = protocol
    return t


cdef class _WSProtocol(StreamProtocol):
    """The engine's asyncio protocol for one connection (client or server side)."""

    def __init__(self, listener_factory, bint is_client, *, logger, bint disconnect_on_exception=True,
                 handshake_timeout=5.0, bint enable_auto_ping=False, double auto_ping_idle_timeout=10.0,
                 double auto_ping_reply_timeout=10.0, auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
                 bint enable_auto_pong=True, Py_ssize_t max_frame_size=10 * 1024 * 1024,
                 Py_ssize_t read_buffer_init_size=16 * 1024, bint validate_utf8=True,
                 Py_ssize_t max_head_size=16 * 1024, extra_headers=None, url=None, request=None, key=None,
                 deflate_options=None):
        self.listener_factory = listener_factory
        self.is_client = is_client
        self.logger = logger
        self.disconnect_on_exception = disconnect_on_exception
        self.handshake_timeout = handshake_timeout if handshake_timeout is not None else -1.0
        self.enable_auto_ping = enable_auto_ping
        self.auto_ping_idle_timeout = auto_ping_idle_timeout
        self.auto_ping_reply_timeout = auto_ping_reply_timeout
        self.auto_ping_strategy = auto_ping_strategy
        self.enable_auto_pong = enable_auto_pong
        self.max_head_size = max_head_size
        self.extra_headers = extra_headers
        self.deflate_options = deflate_options
        self.url = url
        self.client_request = request
        self.key = key
        self.reader = FrameReader(is_client, max_frame_size, read_buffer_init_size, validate_utf8)
        self.state = STATE_HANDSHAKE
        self.loop = asyncio.get_running_loop()
        if is_client:
            self.handshake_future = self.loop.create_future()

    # ---- asyncio.BufferedProtocol -----------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = _new_transport(self, transport, self.is_client, self.loop, self.logger)
        if self.handshake_timeout > 0:
            self.handshake_timer = self.loop.call_later(self.handshake_timeout, self._on_handshake_timeout)
        if self.is_client:
            transport.write(self.client_request.to_bytes())

    def get_buffer(self, Py_ssize_t sizehint):
        return self.reader.get_buffer_view(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        self.on_data(nbytes)

    # ---- StreamProtocol: the C-level interface of picows' SocketTransport -------------------------------------

    cdef char* get_read_ptr(self, Py_ssize_t* size) except NULL:
        return self.reader.get_write_ptr(0, size)

    cdef on_connection_made(self, transport):
        self.connection_made(transport)

    cdef on_eof(self):
        pass

    cdef on_connection_lost(self, exc):
        self.connection_lost(exc)

    cdef on_pause_writing(self):
        self.pause_writing()

    cdef on_resume_writing(self):
        self.resume_writing()

    cdef int on_data(self, Py_ssize_t nbytes) except -1:
        self.reader.data_added(nbytes)
        if self.state == STATE_OPEN:
            if self.enable_auto_ping:
                self.last_read_time = _monotonic()
            self._process_frames()
        elif self.state == STATE_HANDSHAKE:
            if self.is_client:
                self._client_handshake_data()
            else:
                self._server_handshake_data()
        else:
            # Data after we failed or closed the connection is dropped unread.
            self.reader.start = self.reader.end
            self.reader.compact()

    def eof_received(self):
        # Returning a false value lets asyncio close the transport: a peer that half-closes is gone for us.
        return None

    def pause_writing(self):
        if self.listener is not None:
            try:
                self.listener.pause_writing()
            except Exception as exc:
                self._on_listener_exception(exc)

    def resume_writing(self):
        if self.listener is not None:
            try:
                self.listener.resume_writing()
            except Exception as exc:
                self._on_listener_exception(exc)

    def connection_lost(self, exc):
        cdef WSTransport t = self.transport
        cdef bint was_open = self.listener is not None
        self.state = STATE_CLOSED
        for timer in (self.handshake_timer, self.ping_timer, self.pong_timer, t._close_timer):
            if timer is not None:
                timer.cancel()
        self.handshake_timer = self.ping_timer = self.pong_timer = t._close_timer = None
        t.is_disconnected = True
        if self.handshake_future is not None and not self.handshake_future.done():
            self._fail_client_handshake_on_eof(exc)
        if t._rtt_future is not None and not t._rtt_future.done():
            t._rtt_future.set_exception(WSError("the connection closed before the pong arrived"))
        if was_open and self.listener is not None:
            try:
                self.listener.on_ws_disconnected(t)
            except Exception as cb_exc:
                self.logger.exception("exception in on_ws_disconnected")
                if t._error is None:
                    t._error = cb_exc
        if not t._disconnected_future.done():
            t._disconnected_future.set_result(None)
        # Break the listener <-> transport cycles early; the frame reader's buffer goes with the protocol.
        t._protocol = None

    # ---- opening handshake ------------------------------------------------------------------------------

    def _on_handshake_timeout(self):
        self.handshake_timer = None
        if self.state != STATE_HANDSHAKE:
            return
        msg = f"the WebSocket handshake did not complete within {self.handshake_timeout} s"
        self.logger.info(msg)
        if self.is_client and not self.handshake_future.done():
            self.handshake_future.set_exception(_handshake_timeout_error(msg))
        self.state = STATE_CLOSED
        self.transport.underlying_transport.abort()

    cdef _find_head(self):
        # Returns the head as bytes once the blank line has arrived, else None. Scans only new bytes.
        cdef FrameReader r = self.reader
        cdef bytes data = PyBytes_FromStringAndSize(r.buf, r.end)
        cdef Py_ssize_t idx = _handshake.find_head_end(data, self.scanned)
        if idx < 0:
            self.scanned = r.end
            return None
        self.head_size = idx
        return data

    def _server_handshake_data(self):
        cdef FrameReader r = self.reader
        if self.factory_pending:
            return
        data = self._find_head()
        if data is None:
            if r.end > self.max_head_size:
                self._reject(_handshake.HandshakeRejection(
                    431, f"the request head is over {self.max_head_size} bytes"))
            return
        if self.head_size > self.max_head_size:
            self._reject(_handshake.HandshakeRejection(431, f"the request head is over {self.max_head_size} bytes"))
            return
        head = data[:self.head_size]
        try:
            request = _handshake.parse_request(head)
        except _handshake.HandshakeRejection as rejection:
            self._reject(rejection)
            return
        self.transport.request = request

        try:
            result = self.listener_factory(request)
        except Exception:
            self.logger.exception("exception in the listener factory")
            self._send_and_close(WSUpgradeResponse.create_error_response(
                500, b"500 Internal Server Error: the server failed to handle the request\n"))
            return
        if _isawaitable(result):
            # An async factory (an auth check against a database, say): answer once it is done. The handshake
            # timeout keeps running meanwhile.
            self.factory_pending = True
            task = asyncio.ensure_future(result)
            task.add_done_callback(self._on_factory_done)
            return
        self._answer_upgrade(request, result)

    def _on_factory_done(self, task):
        if self.state != STATE_HANDSHAKE:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
            return
        try:
            result = task.result()
        except BaseException:
            self.logger.exception("exception in the listener factory")
            self._send_and_close(WSUpgradeResponse.create_error_response(
                500, b"500 Internal Server Error: the server failed to handle the request\n"))
            return
        self._answer_upgrade(self.transport.request, result)

    def _answer_upgrade(self, request, result):
        cdef FrameReader r = self.reader
        if result is None:
            self._send_and_close(WSUpgradeResponse.create_error_response(
                404, b"404 Not Found: no WebSocket endpoint at this path\n"))
            return
        if isinstance(result, WSUpgradeResponseWithListener):
            response = result.response
            listener = result.listener
            if int(response.status) != 101:
                self._send_and_close(response)
                return
        else:
            response = None
            listener = result
        if not isinstance(listener, WSListener):
            self.logger.error("the listener factory returned %s, expected a WSListener", type(listener).__name__)
            self._send_and_close(WSUpgradeResponse.create_error_response(
                500, b"500 Internal Server Error: the server failed to handle the request\n"))
            return

        try:
            key = _handshake.check_upgrade_request(request)
        except _handshake.HandshakeRejection as rejection:
            self._reject(rejection)
            return
        deflate_params = None
        if self.deflate_options is not None and (
                response is None or "Sec-WebSocket-Extensions" not in response.headers):
            negotiated = _extensions.server_negotiate(
                request.headers.getall("Sec-WebSocket-Extensions", []), self.deflate_options)
            if negotiated is not None:
                ext_value, deflate_params = negotiated
        if response is None:
            response = _handshake.build_101_response(key)
        else:
            _handshake.complete_101_response(response, key)
        if deflate_params is not None:
            response.headers["Sec-WebSocket-Extensions"] = ext_value
            self._enable_deflate(deflate_params)

        self.transport.response = response
        self.transport.underlying_transport.write(response.to_bytes())
        r.start = self.head_size
        self._open(listener)

    cdef _reject(self, rejection):
        self.logger.info("rejected a WebSocket handshake: %s %s", rejection.status, rejection.reason)
        self._send_and_close(rejection.to_response())

    cdef _send_and_close(self, response):
        self.transport.response = response
        self.state = STATE_CLOSED
        self.transport.underlying_transport.write(response.to_bytes())
        self.transport.underlying_transport.close()

    def _client_handshake_data(self):
        cdef FrameReader r = self.reader
        cdef Py_ssize_t body_len
        if self.pending_response is not None:
            self._collect_error_body(False)
            return
        data = self._find_head()
        if data is None:
            if r.end > self.max_head_size:
                self._fail_client_handshake(WSHandshakeError(
                    f"the server's response head is over {self.max_head_size} bytes",
                    raw_header=PyBytes_FromStringAndSize(r.buf, r.end)))
            return
        head = data[:self.head_size]
        try:
            response = _handshake.parse_response(head)
        except WSHandshakeError as exc:
            self._fail_client_handshake(exc)
            return
        self.transport.request = self.client_request
        self.transport.response = response
        if int(response.status) != 101:
            self.pending_response = (response, head)
            self._collect_error_body(False)
            return
        try:
            _handshake.check_upgrade_response(self.client_request, response, self.key, head)
            ext_value = response.headers.get("Sec-WebSocket-Extensions")
            if ext_value is not None and self.deflate_options is not None:
                self._enable_deflate(_extensions.client_accept(ext_value, self.deflate_options))
            listener = self.listener_factory(self.client_request, response)
            if not isinstance(listener, WSListener):
                raise TypeError(f"the listener factory returned {type(listener).__name__}, expected a WSListener")
        except Exception as exc:
            self._fail_client_handshake(exc)
            return
        r.start = self.head_size
        # The handshake succeeded: ws_connect returns the transport even if the first frames already failed the
        # connection (wait_disconnected() then says why).
        self.handshake_future.set_result((self.transport, listener))
        self._open(listener)

    cdef _collect_error_body(self, bint eof):
        # A refused upgrade: keep the body (up to Content-Length) so the error can show what the server said.
        cdef FrameReader r = self.reader
        response, head = self.pending_response
        length = _handshake.response_body_length(response)
        body_bytes = PyBytes_FromStringAndSize(r.buf + self.head_size, r.end - self.head_size)
        if not eof:
            if length is None or len(body_bytes) < min(length, MAX_ERROR_BODY):
                if len(body_bytes) < MAX_ERROR_BODY:
                    return
        if length is not None:
            body_bytes = body_bytes[:length]
        response.body = body_bytes[:MAX_ERROR_BODY]
        try:
            _handshake.check_upgrade_response(self.client_request, response, self.key, head)
            exc = WSInvalidStatusError(f"server rejected WebSocket connection: HTTP {int(response.status)}",
                                       raw_header=head, raw_body=response.body, response=response)
        except WSHandshakeError as err:
            exc = err
        self._fail_client_handshake(exc)

    cdef _fail_client_handshake(self, exc):
        self.state = STATE_CLOSED
        if not self.handshake_future.done():
            self.handshake_future.set_exception(exc)
        self.transport.underlying_transport.close()

    cdef _fail_client_handshake_on_eof(self, exc):
        cdef FrameReader r = self.reader
        if self.pending_response is not None:
            self._collect_error_body(True)
            return
        err = WSHandshakeError(
            "the connection closed during the WebSocket handshake" + (f": {exc}" if exc is not None else ""),
            raw_header=PyBytes_FromStringAndSize(r.buf, r.end) if r.end else None)
        if exc is not None:
            err.__cause__ = exc
        self.handshake_future.set_exception(err)

    async def wait_handshake(self):
        """Client side: wait for the handshake and return (transport, listener)."""
        return await self.handshake_future

    cdef _enable_deflate(self, params):
        self.reader.inflater = Inflater(params.remote_max_window_bits, params.remote_no_context_takeover)
        self.reader.allow_rsv1 = True
        self.transport._deflater = Deflater(params.local_max_window_bits, params.local_no_context_takeover,
                                            params.compress_level, params.mem_level)
        self.transport._compress_min_size = params.min_size

    cdef _open(self, listener):
        cdef WSTransport t = self.transport
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        self.listener = listener
        # A listener written in Python overrides on_ws_frame with a plain function: calling that function directly
        # skips the attribute lookup and bound-method object that cpdef dispatch would pay for on every frame.
        # Cython listeners (cdef classes) keep the C-level call.
        on_frame = getattr(type(listener), "on_ws_frame", None)
        self.on_frame_func = on_frame if isinstance(on_frame, _FunctionType) else None
        self.state = STATE_OPEN
        try:
            self.listener.on_ws_connected(t)
        except Exception as exc:
            self._on_listener_exception(exc)
        if self.state != STATE_OPEN:
            return
        if self.enable_auto_ping:
            self._start_auto_ping()
        self._process_frames()

    # ---- frames --------------------------------------------------------------------------------------------

    cdef _process_frames(self):
        cdef FrameReader reader = self.reader
        cdef WSTransport t = self.transport
        cdef WSFrame frame
        while not t._disconnect_requested:
            frame = reader.next_frame()
            if frame is None:
                break
            if frame.opcode >= 8:
                if self._handle_control_frame(frame):
                    continue
            elif self.waiting_pong and self._is_pong(frame):
                continue
            self._deliver(frame)
        if reader.error_code != 0 and self.state == STATE_OPEN and not self.failure_scheduled:
            # Fail on the next loop iteration: coroutines woken by the valid frames that came before the bad one
            # (high-level recv()) then get to answer them first. The reader delivers nothing more meanwhile.
            self.failure_scheduled = True
            self.loop.call_soon(self._fail_from_reader)
        reader.compact()

    def _fail_from_reader(self):
        if self.state == STATE_OPEN:
            self._fail_connection(self.reader.error_code, self.reader.error_message)

    cdef bint _is_pong(self, WSFrame frame) except -1:
        try:
            matched = self.listener.is_user_specific_pong(frame)
        except Exception as exc:
            self._on_listener_exception(exc)
            return True
        if matched:
            self._pong_received()
            return True
        return False

    cdef _deliver(self, WSFrame frame):
        try:
            if self.on_frame_func is not None:
                self.on_frame_func(self.listener, self.transport, frame)
            else:
                self.listener.on_ws_frame(self.transport, frame)
        except Exception as exc:
            self._on_listener_exception(exc)

    cdef bint _handle_control_frame(self, WSFrame frame) except -1:
        # Returns True when the engine consumed the frame, False to pass it to the listener.
        cdef WSTransport t = self.transport
        if frame.opcode == OP_PING:
            if self.enable_auto_pong:
                t.send_frame(OP_PONG, frame.payload_ptr, frame.payload_size, True, False)
                return True
            return False
        if frame.opcode == OP_PONG:
            if t._rtt_future is not None:
                if not t._rtt_future.done():
                    t._rtt_future.set_result(None)
                t._rtt_future = None
                self._pong_received()
                return True
            return self.waiting_pong and self._is_pong(frame)
        # CLOSE: the listener sees it first (it may answer with its own code), then the engine completes the
        # close handshake.
        self._on_close_frame(frame)
        return True

    cdef _on_close_frame(self, WSFrame frame):
        cdef WSTransport t = self.transport
        cdef int code = frame.get_close_code_int()
        reason = frame.get_close_reason() or ""
        t._close_received = WSCloseInfo(_WSCloseCode(code), reason)
        t._close_received_first = not t.is_close_frame_sent
        self._deliver(frame)
        if self.state != STATE_OPEN:
            return
        if not t.is_close_frame_sent:
            t.send_close(code)
        if t._close_timer is not None:
            t._close_timer.cancel()
            t._close_timer = None
        if not self.is_client:
            # RFC 6455 7.1.1: the server closes the TCP connection first.
            t.disconnect()
        elif not t._disconnect_requested:
            # The client waits for the server to close TCP, but not forever.
            t._close_timer = self.loop.call_later(CLOSE_TIMEOUT, t._on_close_timeout)

    cdef _fail_connection(self, int code, str message):
        cdef WSTransport t = self.transport
        self.logger.info("failing the WebSocket connection with %d: %s", code, message)
        if t._error is None:
            t._error = WSProtocolError(_WSCloseCode(code), message)
        t.send_close(code, message)
        self.state = STATE_CLOSED
        t.disconnect()
        # A peer that stopped reading would keep a graceful close waiting forever.
        if t._close_timer is None:
            t._close_timer = self.loop.call_later(CLOSE_TIMEOUT, t._on_close_timeout)

    cdef _on_listener_exception(self, exc):
        cdef WSTransport t = self.transport
        self.logger.error("exception in a WSListener callback", exc_info=exc)
        if not self.disconnect_on_exception or self.state != STATE_OPEN:
            return
        if t._error is None:
            t._error = exc
        t.send_close(1011, "internal error")
        self.state = STATE_CLOSED
        t.disconnect()

    # ---- auto-ping -----------------------------------------------------------------------------------------

    cdef _start_auto_ping(self):
        self.last_read_time = _monotonic()
        self.ping_timer = self.loop.call_later(self.auto_ping_idle_timeout, self._on_ping_timer)

    def _on_ping_timer(self):
        cdef double idle
        self.ping_timer = None
        if self.state != STATE_OPEN or self.transport.is_close_frame_sent:
            return
        if self.auto_ping_strategy == WSAutoPingStrategy.PING_WHEN_IDLE:
            idle = _monotonic() - self.last_read_time
            if idle < self.auto_ping_idle_timeout:
                self.ping_timer = self.loop.call_later(self.auto_ping_idle_timeout - idle, self._on_ping_timer)
                return
        if self.waiting_pong:
            return
        self.waiting_pong = True
        self.pong_timer = self.loop.call_later(self.auto_ping_reply_timeout, self._on_pong_timeout)
        try:
            self.listener.send_user_specific_ping(self.transport)
        except Exception as exc:
            self._on_listener_exception(exc)

    def _on_pong_timeout(self):
        cdef WSTransport t = self.transport
        self.pong_timer = None
        if self.state != STATE_OPEN:
            return
        self.logger.info("no pong within %.1f s of the auto-ping: closing the connection",
                         self.auto_ping_reply_timeout)
        if t._error is None:
            t._error = WSError(f"no pong received within auto_ping_reply_timeout={self.auto_ping_reply_timeout} s")
        t.send_close(1011, "keepalive ping timeout")
        self.state = STATE_CLOSED
        t.disconnect(False)

    cdef _pong_received(self):
        if not self.waiting_pong:
            return
        self.waiting_pong = False
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
        if self.enable_auto_ping and self.ping_timer is None and self.state == STATE_OPEN:
            self.last_read_time = _monotonic()
            self.ping_timer = self.loop.call_later(self.auto_ping_idle_timeout, self._on_ping_timer)


def _handshake_timeout_error(msg):
    from picows.errors import WSHandshakeTimeoutError
    return WSHandshakeTimeoutError(msg)


class WSProtocol(_WSProtocol, asyncio.BufferedProtocol):
    """The asyncio protocol object asyncio drives for each picows connection (internal)."""

    __slots__ = ()
