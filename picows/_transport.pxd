# The user-facing half of a connection: WSListener (the user's callbacks) and WSTransport (sending, closing,
# pinging); picows._protocol drives them. Public: a Cython listener can
#     from picows._transport cimport WSListener, WSTransport
#     from picows._frame cimport WSFrame
# and call transport.send_frame() / read frame fields without Python calls.

from picows._frame cimport WSFrame, FrameReader
from picows._deflate cimport Deflater
from picows._socket cimport SocketTransport
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

# How long (seconds) to wait for the peer's part of the close handshake before dropping the TCP connection.
cdef enum:
    CLOSE_TIMEOUT_S = 5


cdef inline double _monotonic() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class WSListener:
    cpdef on_ws_connected(self, WSTransport transport)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
    cpdef on_ws_disconnected(self, WSTransport transport)
    cpdef send_user_specific_ping(self, WSTransport transport)
    cpdef bint is_user_specific_pong(self, WSFrame frame)
    cpdef pause_writing(self)
    cpdef resume_writing(self)


cdef class WSTransport:
    cdef:
        readonly object underlying_transport
        readonly object request
        readonly object response
        readonly bint is_client_side
        readonly bint is_secure
        readonly bint is_close_frame_sent
        readonly bint is_disconnected

        object _write
        # Set when the connection runs on picows' own SocketTransport: frames are sent through C, not write().
        SocketTransport _fast
        object _loop
        object _logger
        bint _debug
        bint _disconnect_requested
        object _close_sent
        object _close_received
        bint _close_received_first
        object _disconnected_future
        object _error
        object _rtt_future
        object _close_timer
        # The _WSProtocol driving this connection (typed object: _protocol cimports this module, not back).
        object _protocol
        # permessage-deflate: set once negotiated; data messages of compress_min_size bytes or more are compressed.
        Deflater _deflater
        bint _compressing
        Py_ssize_t _compress_min_size

    cpdef send(self, msg_type, message, bint fin=*, bint rsv1=*)
    cdef int send_frame(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1
    cdef bint _send_in_place(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1
    cdef int _send_small(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1
    cdef int _send_from_scratch(self, int opcode, const char* payload, Py_ssize_t size, bint fin,
                                bint rsv1) except -1
    cpdef send_reuse_external_bytearray(self, msg_type, bytearray buffer, Py_ssize_t msg_offset,
                                        bint fin=*, bint rsv1=*)
    cpdef send_ping(self, message=*)
    cpdef send_pong(self, message=*)
    cpdef send_close(self, close_code=*, close_message=*)
    cpdef disconnect(self, bint graceful=*)
    cpdef notify_user_specific_pong_received(self)


cdef WSTransport new_transport(object protocol, transport, bint is_client, loop, logger)
