# The read side of a connection: the protocol that owns the FrameReader and drives WSListener and WSTransport.

from picows._frame cimport WSFrame, FrameReader
from picows._socket cimport StreamProtocol
from picows._transport cimport WSListener, WSTransport


cdef class _WSProtocol(StreamProtocol):
    cdef:
        # Readonly from Python for tests and debugging (its buffer_capacity, error_code...).
        readonly FrameReader reader
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
