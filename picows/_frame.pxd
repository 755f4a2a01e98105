# The frame layer of the engine, I/O-free: FrameReader turns bytes into WSFrame views with every
# RFC 6455 check applied; build_frame/write_header turn payloads into wire frames.
# This .pxd is public: a user's Cython listener may cimport WSFrame and read its fields at C speed.

from libc.stdint cimport uint8_t, uint32_t, uint64_t

from picows._deflate cimport Inflater

cdef enum:
    OP_CONTINUATION = 0x0
    OP_TEXT = 0x1
    OP_BINARY = 0x2
    OP_CLOSE = 0x8
    OP_PING = 0x9
    OP_PONG = 0xA

# The largest frame header: 2 bytes + 8 bytes of extended length + 4 bytes of mask key.
cdef enum:
    MAX_HEADER_SIZE = 14


cdef class WSFrame:
    """A frame received from the peer: a view into the connection's read buffer.

    Valid only during the on_ws_frame callback that received it.
    """
    cdef:
        char* payload_ptr
        readonly Py_ssize_t payload_size
        readonly Py_ssize_t tail_size
        readonly int opcode
        readonly bint fin
        readonly bint rsv1
        readonly bint last_in_buffer
        # Keeps the memory alive for frames that own their payload (test frames, decompressed frames).
        object _owner

    cpdef bytes get_payload_as_bytes(self)
    cpdef str get_payload_as_utf8_text(self)
    cpdef str get_payload_as_ascii_text(self)
    cpdef object get_payload_as_memoryview(self)
    cpdef object get_close_code(self)
    cpdef bytes get_close_message(self)
    cpdef str get_close_reason(self)
    cdef int get_close_code_int(self)


cdef class FrameReader:
    cdef:
        # Read buffer: bytes [start, end) are received but not yet consumed.
        char* buf
        Py_ssize_t capacity
        Py_ssize_t start
        Py_ssize_t end
        Py_ssize_t init_capacity
        # Bytes the incomplete frame at `start` needs in total (0 if unknown); lets the buffer grow once.
        Py_ssize_t needed
        # Shrinking back after large frames: reads since the last large frame.
        Py_ssize_t small_reads
        bint large_frame_seen
        bint read_filled

        # Configuration.
        readonly bint is_client
        readonly Py_ssize_t max_frame_size
        readonly bint validate_utf8
        public bint allow_rsv1
        # permessage-deflate: set once negotiated; frames are handed over decompressed.
        public Inflater inflater

        # Message state across frames.
        bint in_message
        bint message_is_text
        bint message_compressed
        uint32_t utf8_state
        # Payload bytes of the incomplete frame at `start` (or in `spill`) already unmasked and UTF-8 checked.
        Py_ssize_t partial_done

        # A large data frame's payload is received straight into the bytes object that get_payload_as_bytes()
        # then returns: no copy out of the read buffer, and the buffer does not grow for it.
        bytes spill
        Py_ssize_t spill_filled
        int spill_opcode
        bint spill_fin
        bint spill_masked
        bint spill_text
        uint8_t spill_key[4]
        # The last get_write_ptr() pointed into `spill`, not into `buf`.
        bint reading_spill
        # A large frame just completed in `spill`: the next read into the empty buffer is kept short (see
        # get_write_ptr).
        bint after_spill

        readonly bint close_received
        # 0 while the stream is healthy; the close code to fail the connection with otherwise.
        readonly int error_code
        readonly str error_message

        WSFrame frame

    # Free space offered by the last get_write_ptr(); a read that fills all of it says more is waiting.
    cdef readonly Py_ssize_t offered

    cdef char* get_write_ptr(self, Py_ssize_t hint, Py_ssize_t* size) except NULL
    cdef object get_buffer_view(self, Py_ssize_t hint)
    cdef void data_added(self, Py_ssize_t nbytes) noexcept
    cdef WSFrame next_frame(self)
    cdef void _spill_prefix(self, uint8_t* payload, uint8_t* key, bint masked, bint check_text) noexcept
    cdef WSFrame _next_spilled(self)
    cdef void _data_frame_done(self, int opcode, bint fin, bint compressed) noexcept
    cdef WSFrame _hand_out(self, char* payload, Py_ssize_t size, int opcode, bint fin, bint rsv1, owner)
    cdef void compact(self) noexcept
    cdef void release_if_empty(self) noexcept
    cdef void fail(self, int code, str message) noexcept
    cdef Py_ssize_t pending_size(self) noexcept
    cdef void _unmask_and_check(self, uint8_t* payload, uint8_t* key, bint masked, Py_ssize_t upto) noexcept


cdef int next_mask_key(uint8_t* key) except -1
cdef Py_ssize_t header_size(Py_ssize_t payload_size, bint masked) noexcept
cdef Py_ssize_t write_header(uint8_t* dst, int opcode, Py_ssize_t payload_size,
                             bint fin, bint rsv1, const uint8_t* mask_key) noexcept
# Writes header and payload (masked with mask_key, unless it is NULL) at dst, which has room for header_size() +
# payload_size bytes; returns how many it wrote. Cannot fail: callers read the mask key first.
cdef Py_ssize_t write_frame(uint8_t* dst, int opcode, const char* payload, Py_ssize_t payload_size,
                            bint fin, bint rsv1, const uint8_t* mask_key) noexcept
cdef bytes build_frame(int opcode, const char* payload, Py_ssize_t payload_size,
                       bint fin, bint rsv1, bint masked)
