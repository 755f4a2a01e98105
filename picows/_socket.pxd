cimport cython

# A plain-TCP asyncio transport driven by loop.add_reader/add_writer, with a C-level protocol interface:
# the transport recv()s straight into the protocol's buffer and calls it without Python calls or memoryviews.
# The protocol side (StreamProtocol) is subclassed by the engine's _WSProtocol.


cdef class StreamProtocol:
    # Where the next recv() may write, and how many bytes fit there.
    cdef char* get_read_ptr(self, Py_ssize_t* size) except NULL
    # `n` bytes were written at the pointer get_read_ptr returned.
    cdef int on_data(self, Py_ssize_t n) except -1
    cdef on_connection_made(self, transport)
    # The peer closed its side: the transport closes after this returns.
    cdef on_eof(self)
    # Called exactly once, from the loop, after the socket is gone (exc None for a clean close).
    cdef on_connection_lost(self, exc)
    cdef on_pause_writing(self)
    cdef on_resume_writing(self)


cdef enum:
    # The defaults of asyncio's transports.
    DEFAULT_HIGH_WATER = 64 * 1024
    # Writes made while the protocol handles a read are gathered and sent with one send() when it returns (a
    # batch of 100 pipelined frames echoed costs one system call, not 100). Only writes up to CORK_MAX_WRITE
    # bytes are gathered, since gathering copies; a larger one, or CORK_MAX_TOTAL bytes gathered, sends at once.
    CORK_MAX_WRITE = 16 * 1024
    CORK_MAX_TOTAL = 64 * 1024
    # The gathering buffer starts with room for any one write and doubles up to CORK_MAX_TOTAL: a C buffer,
    # because growing a bytearray in 12.5% steps and shrinking it after each flush copied the gathered bytes
    # many times over.
    CORK_INIT = 16 * 1024


cdef class SocketTransport:
    cdef:
        object _sock
        int _fd
        object _loop
        StreamProtocol _protocol
        dict _extra
        # Bytes not yet accepted by the kernel: _wbuf[_woff:].
        bytearray _wbuf
        bint _writer_added
        # True while the protocol handles a read: small writes are gathered until it returns, in
        # _cork[0:_cork_len], a C buffer that lives only while a read is handled (idle connections have none).
        bint _corked
        char* _cork
        Py_ssize_t _cork_len
        Py_ssize_t _cork_cap
        bint _reading
        bint _closing
        bint _lost_scheduled
        bint _protocol_paused
        Py_ssize_t _high
        Py_ssize_t _low
        object _on_readable_cb
        object _on_writable_cb

    cdef int write_c(self, const char* data, Py_ssize_t size) except -1
    # Nothing is gathered or buffered: send now, buffer what the kernel does not take.
    cdef int _send_now(self, const char* data, Py_ssize_t size) except -1
    @cython.final
    cdef bint _send_unpaused(self, const char* data, Py_ssize_t size) except -1
    cdef _read_eof(self)
    cdef _read_failed(self, int err)
    cdef char* reserve_c(self, Py_ssize_t size) except? NULL
    cdef int write2_c(self, const char* head, Py_ssize_t head_size, const char* body,
                      Py_ssize_t body_size) except -1
    cdef _start_reading(self)
    cdef _stop_reading(self)
    cdef _buffer(self, const char* data, Py_ssize_t size)
    cdef char* _cork_reserve(self, Py_ssize_t size) except NULL
    cdef void _cork_release(self) noexcept
    cdef _flush(self)
    cdef Py_ssize_t _sent(self, ssize_t n) except -2
    cdef _wait_writable(self)
    cdef _add_writer(self)
    cdef _maybe_pause(self)
    cdef _maybe_resume(self)
    cdef _tell_protocol_flow(self, bint pause)
    cdef _schedule_lost(self, exc)
    cdef _force_close(self, exc)
    cdef _fatal_error(self, exc, str message)
