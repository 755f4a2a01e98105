# cython: freethreading_compatible = False
"""The user-facing half of a connection: WSListener (the callbacks) and WSTransport (sending, closing, pinging).

WSTransport builds frames (header and masked payload in one buffer) and writes them to the connection's transport;
picows._protocol owns the read side and drives both classes.
"""

import asyncio
import logging
import typing

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t
from cpython.mem cimport PyMem_Realloc

from picows._frame cimport (WSFrame, FrameReader, build_frame, header_size, write_frame, write_header, next_mask_key,
                            OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, MAX_HEADER_SIZE)
from picows._mask cimport picows_mask_inplace
from picows._deflate cimport Deflater
from picows._socket cimport SocketTransport

from picows.enums import WSCloseCode
from picows.errors import WSError

__all__ = ["WSListener", "WSTransport", "WSCloseInfo", "WSCloseHandshake", "WSBuffer", "PICOWS_DEBUG_LL"]

#: What WSTransport.send and friends accept as a payload.
WSBuffer = typing.Union[bytes, bytearray, memoryview, str]

#: A log level below DEBUG for per-frame tracing; enable it to see every frame.
PICOWS_DEBUG_LL = 9


cdef enum:
    # Frames up to this payload size are built on the stack when the connection runs on SocketTransport.
    SMALL_FRAME = 2048
    # Masked (client) frames up to this size are built in one process-wide scratch buffer and written from there,
    # instead of in a new bytes object: a 100 KB frame's malloc and free, ~650 instructions.
    MAX_SCRATCH_FRAME = 256 * 1024

cdef char* _scratch = NULL
cdef Py_ssize_t _scratch_cap = 0
# True while a write from the scratch buffer is in progress. The write may run Python code before it is done
# with the buffer (writes gathered during a read go out first, and filling the kernel calls pause_writing()),
# and that code, or another thread's loop getting the GIL meanwhile, may send a large frame too: that one is
# built in a bytes object of its own.
cdef bint _scratch_busy = False


cdef char* _scratch_for(Py_ssize_t size) except NULL:
    global _scratch, _scratch_cap
    cdef char* buf
    if size > _scratch_cap:
        buf = <char*>PyMem_Realloc(_scratch, <size_t>size)
        if buf == NULL:
            raise MemoryError()
        _scratch = buf
        _scratch_cap = size
    return _scratch

cdef object _WSCloseCode = WSCloseCode




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
        cdef uint8_t header[MAX_HEADER_SIZE]
        cdef Py_ssize_t hlen
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
        if self._fast is not None:
            if size > SMALL_FRAME and not self.is_client_side:
                # Unmasked: the header from the stack, the payload from where it is, one sendmsg(); cheaper than
                # copying it into the gathered writes unless other writes are already waiting there.
                hlen = write_header(header, opcode, size, fin, rsv1, NULL)
                return self._fast.write2_c(<const char*>header, hlen, payload, size)
            if self._fast._corked and self._send_in_place(opcode, payload, size, fin, rsv1):
                return 0
            if size <= SMALL_FRAME:
                return self._send_small(opcode, payload, size, fin, rsv1)
            if self.is_client_side and size <= MAX_SCRATCH_FRAME - MAX_HEADER_SIZE and not _scratch_busy:
                return self._send_from_scratch(opcode, payload, size, fin, rsv1)
        frame_bytes = build_frame(opcode, payload, size, fin, rsv1, self.is_client_side)
        if self._fast is not None:
            self._fast.write_c(PyBytes_AS_STRING(frame_bytes), PyBytes_GET_SIZE(frame_bytes))
        else:
            self._write(frame_bytes)
        return 0

    cdef bint _send_in_place(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1:
        # While the socket transport gathers writes, the frame is built straight into its buffer. The mask key
        # comes first: once space is reserved, nothing may fail and leave it unfilled.
        cdef uint8_t key[4]
        cdef uint8_t* dst
        if self.is_client_side:
            next_mask_key(key)
        dst = <uint8_t*>self._fast.reserve_c(header_size(size, self.is_client_side) + size)
        if dst == NULL:
            return False
        write_frame(dst, opcode, payload, size, fin, rsv1, key if self.is_client_side else NULL)
        return True

    cdef int _send_small(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1:
        # On picows' own transport a small frame is built on the stack and send() straight from there: no bytes
        # object per frame. The transport copies only what the kernel does not take at once.
        cdef uint8_t buf[SMALL_FRAME + MAX_HEADER_SIZE]
        cdef uint8_t key[4]
        if self.is_client_side:
            next_mask_key(key)
        return self._fast.write_c(<const char*>buf,
                                  write_frame(buf, opcode, payload, size, fin, rsv1,
                                              key if self.is_client_side else NULL))

    cdef int _send_from_scratch(self, int opcode, const char* payload, Py_ssize_t size, bint fin,
                                bint rsv1) except -1:
        global _scratch_busy
        cdef uint8_t key[4]
        cdef uint8_t* buf = <uint8_t*>_scratch_for(MAX_HEADER_SIZE + size)
        next_mask_key(key)
        _scratch_busy = True
        try:
            return self._fast.write_c(<const char*>buf, write_frame(buf, opcode, payload, size, fin, rsv1, key))
        finally:
            _scratch_busy = False

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
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT_S, self._on_close_timeout)

    def _on_close_timeout(self):
        self._close_timer = None
        if not self.is_disconnected:
            self._logger.info("closing the connection: the close handshake did not complete in %.1f s",
                              CLOSE_TIMEOUT_S)
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
            self._protocol.notify_pong()

    def __repr__(self):
        side = "client" if self.is_client_side else "server"
        return f"<WSTransport {side} disconnected={bool(self.is_disconnected)}>"


cdef WSTransport new_transport(object protocol, transport, bint is_client, loop, logger):
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
