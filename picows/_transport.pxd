# The connection layer: WSListener (the user's callbacks), WSTransport (sending, closing, pinging) and the
# asyncio protocol that owns the read buffer and drives FrameReader. Public: a Cython listener can
#     from picows._transport cimport WSListener, WSTransport
#     from picows._frame cimport WSFrame
# and call transport.send_frame() / read frame fields without Python calls.

from picows._frame cimport WSFrame, FrameReader
from picows._deflate cimport Deflater
from picows._socket cimport StreamProtocol, SocketTransport


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
        _WSProtocol _protocol
        # permessage-deflate: set once negotiated; data messages of compress_min_size bytes or more are compressed.
        Deflater _deflater
        bint _compressing
        Py_ssize_t _compress_min_size

    cpdef send(self, msg_type, message, bint fin=*, bint rsv1=*)
    cdef int send_frame(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1
    cdef int _send_small(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1) except -1
    cpdef send_reuse_external_bytearray(self, msg_type, bytearray buffer, Py_ssize_t msg_offset,
                                        bint fin=*, bint rsv1=*)
    cpdef send_ping(self, message=*)
    cpdef send_pong(self, message=*)
    cpdef send_close(self, close_code=*, close_message=*)
    cpdef disconnect(self, bint graceful=*)
    cpdef notify_user_specific_pong_received(self)


cdef class _WSProtocol(StreamProtocol):
    cdef:
        FrameReader reader
        WSTransport transport
        WSListener listener
        object on_frame_func
        object listener_factory
        bint is_client
        int state
        object loop
        object logger

        bint disconnect_on_exception
        bint enable_auto_pong
        bint enable_auto_ping
        int auto_ping_strategy
        double handshake_timeout
        double auto_ping_idle_timeout
        double auto_ping_reply_timeout
        Py_ssize_t max_head_size
        object extra_headers
        object deflate_options

        # Handshake.
        object handshake_timer
        object handshake_future
        object url
        object key
        object client_request
        object pending_response
        Py_ssize_t head_size
        Py_ssize_t scanned
        bint factory_pending

        # Auto-ping: the monotonic time of the last read, and the timers.
        double last_read_time
        bint waiting_pong
        object ping_timer
        object pong_timer
        bint failure_scheduled

    cdef _process_frames(self)
    cdef bint _handle_control_frame(self, WSFrame frame) except -1
    cdef _deliver(self, WSFrame frame)
    cdef _on_close_frame(self, WSFrame frame)
    cdef _fail_connection(self, int code, str message)
    cdef _on_listener_exception(self, exc)
    cdef _pong_received(self)
    cdef _start_auto_ping(self)
    cdef bint _is_pong(self, WSFrame frame) except -1
    cdef _find_head(self)
    cdef _reject(self, rejection)
    cdef _send_and_close(self, response)
    cdef _collect_error_body(self, bint eof)
    cdef _fail_client_handshake(self, exc)
    cdef _fail_client_handshake_on_eof(self, exc)
    cdef _open(self, listener)
    cdef _enable_deflate(self, params)
