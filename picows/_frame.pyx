# cython: freethreading_compatible = False
"""Frame parsing and building (RFC 6455 section 5), free of I/O.

FrameReader owns the connection's read buffer: the transport asks it for a buffer to read into, tells it how
many bytes arrived, and pulls frames one at a time. Frames are unmasked and validated in place and handed out as
WSFrame views without copying. The reader never looks ahead: a frame is fully checked and handed over before the
next one is parsed, so valid frames in front of a bad one are delivered and nothing after a failure is
(section 7.1.7).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ, PyBUF_WRITE, PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_DecodeASCII
from cpython.ref cimport Py_REFCNT
from libc.string cimport memcpy, memmove
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from picows._mask cimport picows_mask_inplace, picows_mask_copy, picows_random_bytes
from picows._utf8 cimport picows_utf8_validate, PICOWS_UTF8_ACCEPT, PICOWS_UTF8_REJECT

from picows.enums import WSMsgType, WSCloseCode
from picows.errors import WSProtocolError

__all__ = ["WSFrame", "FrameReader", "encode_frame", "make_test_frame"]

cdef object _CloseCode = WSCloseCode
cdef object _NO_INFO = WSCloseCode.NO_INFO

# WSMsgType members indexed by opcode, so that frame.msg_type costs a list index, not an enum lookup.
cdef list _MSG_TYPES = [None] * 16
for _t in WSMsgType:
    _MSG_TYPES[<int>_t] = _t

cdef enum:
    # How far the read buffer grows for a burst of small frames (a frame under SPILL_MIN_PAYLOAD that does not
    # fit grows it to the frame's size).
    MAX_BURST_CAPACITY = 256 * 1024
    # Data frames from this size on that do not arrive in one read are received into their own bytes object.
    SPILL_MIN_PAYLOAD = 32 * 1024
    # The first read after such a frame, into an empty buffer, takes at most this much: when another large frame
    # follows (a stream of large messages), only this prefix is copied from the read buffer into its bytes object,
    # not up to the buffer's whole capacity; small frames that follow cost at most one more read.
    AFTER_SPILL_READ = 1024

cdef enum:
    CLOSE_PROTOCOL_ERROR = 1002
    CLOSE_INVALID_TEXT = 1007
    CLOSE_MESSAGE_TOO_BIG = 1009


cdef inline void _rotate_key(const uint8_t* key, Py_ssize_t offset, uint8_t* out) noexcept:
    # The mask key as seen from payload byte `offset`, for unmasking a payload that starts there.
    cdef int k
    for k in range(4):
        out[k] = key[(offset + k) & 3]


cdef inline bint _close_code_allowed(int code) noexcept:
    # RFC 6455 7.4.1/7.4.2: 1004-1006 and 1015 are reserved, 1016-2999 unassigned; 3000-4999 for applications.
    return (1000 <= code <= 1003) or (1007 <= code <= 1014) or (3000 <= code <= 4999)


cdef class WSFrame:
    """A frame received from the peer.

    The payload is a view into the connection's read buffer, already unmasked (and, with permessage-deflate,
    decompressed). It is valid only during the ``on_ws_frame`` call that delivered it: copy what you need to keep
    (``get_payload_as_bytes()``) before returning.
    """

    def __cinit__(self):
        self.payload_ptr = NULL
        self.payload_size = 0
        self.tail_size = 0
        self.opcode = 0
        self.fin = True
        self.rsv1 = False
        self.last_in_buffer = True

    @property
    def msg_type(self):
        """The frame's opcode as a :class:`WSMsgType`."""
        return _MSG_TYPES[self.opcode]

    @property
    def rsv2(self):
        """Always False: frames with RSV2 set fail the connection."""
        return False

    @property
    def rsv3(self):
        """Always False: frames with RSV3 set fail the connection."""
        return False

    cpdef bytes get_payload_as_bytes(self):
        """The payload as bytes: a copy, except for large frames, which were received into a bytes object."""
        cdef object owner = self._owner
        if (type(owner) is bytes and PyBytes_AS_STRING(owner) == self.payload_ptr
                and PyBytes_GET_SIZE(owner) == self.payload_size):
            return <bytes>owner
        return PyBytes_FromStringAndSize(self.payload_ptr, self.payload_size)

    cpdef str get_payload_as_utf8_text(self):
        """Decode the payload as UTF-8 (text frames are already validated by the engine)."""
        return PyUnicode_DecodeUTF8(self.payload_ptr, self.payload_size, NULL)

    cpdef str get_payload_as_ascii_text(self):
        """Decode the payload as ASCII; raises UnicodeDecodeError for bytes over 127."""
        return PyUnicode_DecodeASCII(self.payload_ptr, self.payload_size, NULL)

    cpdef object get_payload_as_memoryview(self):
        """A read-only memoryview of the payload, without copying. Valid only during the callback."""
        return PyMemoryView_FromMemory(self.payload_ptr, self.payload_size, PyBUF_READ)

    cdef int get_close_code_int(self):
        if self.payload_size < 2:
            return 1005
        return ((<uint8_t>self.payload_ptr[0]) << 8) | (<uint8_t>self.payload_ptr[1])

    cpdef object get_close_code(self):
        """The close frame's status code, ``WSCloseCode.NO_INFO`` if it carries none."""
        if self.payload_size < 2:
            return _NO_INFO
        return _CloseCode(self.get_close_code_int())

    cpdef bytes get_close_message(self):
        """The close frame's reason as raw bytes (UTF-8 validated by the engine), or None if empty."""
        if self.payload_size <= 2:
            return None
        return PyBytes_FromStringAndSize(self.payload_ptr + 2, self.payload_size - 2)

    cpdef str get_close_reason(self):
        """The close frame's reason decoded from UTF-8, or None if empty."""
        if self.payload_size <= 2:
            return None
        return PyUnicode_DecodeUTF8(self.payload_ptr + 2, self.payload_size - 2, NULL)

    def __str__(self):
        return (f"WSFrame({self.msg_type.name}, fin={bool(self.fin)}, rsv1={bool(self.rsv1)}, "
                f"last_in_buffer={bool(self.last_in_buffer)}, payload_size={self.payload_size}, "
                f"tail_size={self.tail_size})")

    def __repr__(self):
        return self.__str__()


def make_test_frame(msg_type, payload, fin=True, rsv1=False):
    """Build a WSFrame that owns ``payload``: for testing listeners without a connection."""
    cdef WSFrame frame = WSFrame()
    cdef bytes data = bytes(payload)
    frame._owner = data
    frame.payload_ptr = PyBytes_AS_STRING(data)
    frame.payload_size = PyBytes_GET_SIZE(data)
    frame.opcode = <int>msg_type
    frame.fin = fin
    frame.rsv1 = rsv1
    return frame


cdef class FrameReader:
    """Parses frames in place out of a growable read buffer and enforces RFC 6455.

    ``is_client`` says which side we are: a client requires unmasked frames, a server masked ones.
    Python code (tests) drives it with ``feed()``; the transport uses the C-level methods.
    """

    def __cinit__(self):
        self.buf = NULL

    def __init__(self, bint is_client, Py_ssize_t max_frame_size=10 * 1024 * 1024,
                 Py_ssize_t init_capacity=16 * 1024, bint validate_utf8=True):
        if self.buf != NULL:
            raise RuntimeError("FrameReader is already initialised")
        if init_capacity < 256:
            init_capacity = 256
        self.buf = <char*>PyMem_Malloc(init_capacity)
        if self.buf == NULL:
            raise MemoryError()
        self.capacity = init_capacity
        self.init_capacity = init_capacity
        self.start = 0
        self.end = 0
        self.needed = 0
        self.small_reads = 0
        self.large_frame_seen = False
        self.is_client = is_client
        self.max_frame_size = max_frame_size
        self.validate_utf8 = validate_utf8
        self.allow_rsv1 = False
        self.inflater = None
        self.in_message = False
        self.message_is_text = False
        self.message_compressed = False
        self.utf8_state = PICOWS_UTF8_ACCEPT
        self.partial_done = 0
        self.close_received = False
        self.error_code = 0
        self.error_message = None
        self.frame = WSFrame()

    def __dealloc__(self):
        PyMem_Free(self.buf)
        self.buf = NULL

    # ---- buffer management -------------------------------------------------------------------------------

    cdef Py_ssize_t pending_size(self) noexcept:
        return self.end - self.start

    cdef char* get_write_ptr(self, Py_ssize_t hint, Py_ssize_t* size) except NULL:
        cdef Py_ssize_t pending = self.end - self.start
        cdef Py_ssize_t wanted = self.needed if self.needed > pending else pending + 1
        cdef Py_ssize_t new_capacity
        cdef char* new_buf
        if self.spill is not None and self.spill_filled < PyBytes_GET_SIZE(self.spill):
            # Exactly the rest of the large frame's payload: what follows it goes to the read buffer.
            self.reading_spill = True
            size[0] = self.offered = PyBytes_GET_SIZE(self.spill) - self.spill_filled
            return PyBytes_AS_STRING(self.spill) + self.spill_filled
        self.reading_spill = False
        if self.buf == NULL:
            # Released while idle (release_if_empty): allocate again for this read.
            self.buf = <char*>PyMem_Malloc(self.init_capacity)
            if self.buf == NULL:
                raise MemoryError()
            self.capacity = self.init_capacity
        if self.start > 0 and (self.capacity - self.end < 1024 or self.capacity - self.start < wanted):
            # Move the incomplete frame to the front so that the free space is one contiguous run.
            if pending:
                memmove(self.buf, self.buf + self.start, pending)
            self.start = 0
            self.end = pending
        if self.read_filled and self.capacity < MAX_BURST_CAPACITY:
            # The last read filled the buffer: frames are arriving faster than one read takes them (pipelined
            # small messages). Reading more per system call is cheaper; compact() shrinks back later.
            self.read_filled = False
            self.large_frame_seen = True
            if wanted < self.capacity * 2:
                wanted = self.capacity * 2
        if self.capacity < wanted or self.capacity - self.end < 256:
            new_capacity = self.capacity * 2
            if new_capacity < wanted:
                new_capacity = wanted
            new_buf = <char*>PyMem_Realloc(self.buf, new_capacity)
            if new_buf == NULL:
                raise MemoryError()
            self.buf = new_buf
            self.capacity = new_capacity
        size[0] = self.offered = self.capacity - self.end
        if self.after_spill:
            self.after_spill = False
            if pending == 0 and size[0] > AFTER_SPILL_READ:
                size[0] = self.offered = AFTER_SPILL_READ
        return self.buf + self.end

    cdef object get_buffer_view(self, Py_ssize_t hint):
        cdef Py_ssize_t size
        cdef char* ptr = self.get_write_ptr(hint, &size)
        return PyMemoryView_FromMemory(ptr, size, PyBUF_WRITE)

    cdef void data_added(self, Py_ssize_t nbytes) noexcept:
        if self.reading_spill:
            self.reading_spill = False
            self.spill_filled += nbytes
            return
        self.end += nbytes
        self.read_filled = nbytes == self.offered

    cdef void compact(self) noexcept:
        # Called when the transport has consumed all frames of a read. Shrinks a buffer that grew for a large
        # frame back to its initial size, so that idle connections stay small.
        cdef char* new_buf
        if self.capacity > self.init_capacity:
            # Shrink only after 32 reads in a row without a large frame, so that a stream of large messages does
            # not pay a grow/shrink pair for each of them.
            if self.large_frame_seen:
                self.small_reads = 0
                self.large_frame_seen = False
            else:
                self.small_reads += 1
        if self.start == self.end:
            self.start = 0
            self.end = 0
            if self.capacity > self.init_capacity and self.needed == 0 and self.small_reads >= 32:
                new_buf = <char*>PyMem_Realloc(self.buf, self.init_capacity)
                if new_buf != NULL:
                    self.buf = new_buf
                    self.capacity = self.init_capacity

    cdef void release_if_empty(self) noexcept:
        # Free the read buffer if it holds nothing: called once the handshake is done, so that a connection
        # that then stays idle holds no read buffer (the handshake's bytes kept its pages resident). The next
        # read allocates it again.
        if self.start == self.end and self.spill is None and self.buf != NULL:
            PyMem_Free(self.buf)
            self.buf = NULL
            self.capacity = 0
            self.start = 0
            self.end = 0
            self.needed = 0

    cdef void fail(self, int code, str message) noexcept:
        if self.error_code == 0:
            self.error_code = code
            self.error_message = message
        self.spill = None

    # ---- parsing ------------------------------------------------------------------------------------------

    cdef WSFrame next_frame(self):
        """Return the next complete, valid frame, or None if more data is needed or the stream failed."""
        cdef Py_ssize_t avail = self.end - self.start
        cdef uint8_t* p = <uint8_t*>self.buf + self.start
        cdef uint8_t b0, b1
        cdef int opcode, len7, close_code
        cdef bint fin, rsv1, masked, is_text
        cdef Py_ssize_t header_len, total, i
        cdef uint64_t payload_len
        cdef uint8_t key[4]
        cdef uint8_t* payload
        cdef uint32_t state
        cdef bint compressed
        cdef int rc
        cdef unsigned char* inflated
        cdef size_t inflated_size

        if self.error_code != 0 or self.close_received:
            return None
        if self.spill is not None:
            return self._next_spilled()
        if avail < 2:
            return None

        b0 = p[0]
        b1 = p[1]
        fin = (b0 & 0x80) != 0
        rsv1 = (b0 & 0x40) != 0
        opcode = b0 & 0x0F
        masked = (b1 & 0x80) != 0
        len7 = b1 & 0x7F

        # Everything decidable from the first two bytes is checked before waiting for the rest of the frame.
        if b0 & 0x30:
            self.fail(CLOSE_PROTOCOL_ERROR, "RSV2/RSV3 bits are set but no extension defines them")
            return None
        if opcode >= 8:
            if opcode > OP_PONG:
                self.fail(CLOSE_PROTOCOL_ERROR, f"reserved control opcode 0x{opcode:x}")
                return None
            if not fin:
                self.fail(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
                return None
            if len7 > 125:
                self.fail(CLOSE_PROTOCOL_ERROR, "control frame payload over 125 bytes")
                return None
            if rsv1:
                self.fail(CLOSE_PROTOCOL_ERROR, "RSV1 bit set on a control frame")
                return None
        elif opcode == OP_CONTINUATION:
            if not self.in_message:
                self.fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue")
                return None
            if rsv1:
                self.fail(CLOSE_PROTOCOL_ERROR, "RSV1 bit set on a continuation frame")
                return None
        elif opcode <= OP_BINARY:
            if self.in_message:
                self.fail(CLOSE_PROTOCOL_ERROR, "new data frame while a fragmented message is unfinished")
                return None
            if rsv1 and not self.allow_rsv1:
                self.fail(CLOSE_PROTOCOL_ERROR, "RSV1 bit set but no extension was negotiated")
                return None
        else:
            self.fail(CLOSE_PROTOCOL_ERROR, f"reserved data opcode 0x{opcode:x}")
            return None

        if masked == self.is_client:
            if self.is_client:
                self.fail(CLOSE_PROTOCOL_ERROR, "the server sent a masked frame")
            else:
                self.fail(CLOSE_PROTOCOL_ERROR, "the client sent an unmasked frame")
            return None

        header_len = 2
        if len7 == 126:
            header_len = 4
            if avail < 4:
                return None
            payload_len = (<uint64_t>p[2] << 8) | p[3]
        elif len7 == 127:
            header_len = 10
            if avail < 10:
                return None
            payload_len = 0
            for i in range(2, 10):
                payload_len = (payload_len << 8) | p[i]
            if payload_len >> 63:
                self.fail(CLOSE_PROTOCOL_ERROR, "64-bit payload length with the most significant bit set")
                return None
        else:
            payload_len = len7

        if payload_len > <uint64_t>self.max_frame_size:
            self.fail(CLOSE_MESSAGE_TOO_BIG,
                      f"frame payload of {payload_len} bytes exceeds max_frame_size={self.max_frame_size}")
            return None

        if masked:
            if avail < header_len + 4:
                return None
            memcpy(key, p + header_len, 4)
            header_len += 4

        if opcode == OP_CONTINUATION:
            compressed = self.message_compressed
        else:
            compressed = rsv1 and opcode < 8 and self.inflater is not None
        total = header_len + <Py_ssize_t>payload_len
        if total > self.init_capacity:
            self.large_frame_seen = True
        payload = p + header_len
        is_text = opcode == OP_TEXT or (opcode == OP_CONTINUATION and self.message_is_text)
        if opcode == OP_TEXT and self.partial_done == 0:
            self.utf8_state = PICOWS_UTF8_ACCEPT

        if avail < total:
            if payload_len >= SPILL_MIN_PAYLOAD and opcode < 8 and not (compressed or rsv1):
                # Large and incomplete: the rest of its payload is read into the bytes object the listener will
                # get, after what has arrived so far (kept as it is: masked, or unmasked up to partial_done).
                self.spill = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>payload_len)
                self.spill_filled = avail - header_len
                self._spill_prefix(payload, key, masked, is_text and self.validate_utf8)
                self.spill_opcode = opcode
                self.spill_fin = fin
                self.spill_masked = masked
                self.spill_text = is_text and self.validate_utf8
                memcpy(self.spill_key, key, 4)
                self.start = self.end
                self.needed = 0
                self.read_filled = False
                return self._next_spilled()
            # Incomplete: remember its size so the buffer grows once, and check the text received so far so that
            # invalid UTF-8 fails the connection without waiting for the end of a long frame.
            self.needed = total
            if is_text and self.validate_utf8 and not (compressed or rsv1):
                i = avail - header_len
                if i > self.partial_done:
                    self._unmask_and_check(payload, key, masked, i)
                    if self.utf8_state == PICOWS_UTF8_REJECT:
                        self.fail(CLOSE_INVALID_TEXT, "invalid UTF-8 in a text message")
            return None

        self.needed = 0
        if is_text and self.validate_utf8 and not (compressed or rsv1):
            self._unmask_and_check(payload, key, masked, <Py_ssize_t>payload_len)
            if self.utf8_state == PICOWS_UTF8_REJECT or (fin and self.utf8_state != PICOWS_UTF8_ACCEPT):
                self.fail(CLOSE_INVALID_TEXT, "invalid UTF-8 in a text message")
                return None
        elif masked and payload_len:
            picows_mask_inplace(payload, <size_t>payload_len, key)
        self.partial_done = 0
        self.start += total

        if compressed:
            # RFC 7692: the listener gets each frame's share of the decompressed message. The limit applies to
            # the decompressed size and is checked while inflating, so a decompression bomb never gets allocated.
            rc = self.inflater.decompress(payload, <size_t>payload_len, fin, <size_t>self.max_frame_size,
                                          &inflated, &inflated_size)
            if rc == -1:
                self.fail(CLOSE_PROTOCOL_ERROR, "permessage-deflate: the compressed data is corrupt")
                return None
            if rc == -2:
                self.fail(CLOSE_MESSAGE_TOO_BIG, f"a decompressed frame exceeds max_frame_size={self.max_frame_size}")
                return None
            payload = inflated
            payload_len = inflated_size
            if is_text and self.validate_utf8:
                self.utf8_state = picows_utf8_validate(self.utf8_state, payload, <size_t>payload_len)
                if self.utf8_state == PICOWS_UTF8_REJECT or (fin and self.utf8_state != PICOWS_UTF8_ACCEPT):
                    self.fail(CLOSE_INVALID_TEXT, "invalid UTF-8 in a text message")
                    return None

        if opcode == OP_CLOSE:
            if payload_len == 1:
                self.fail(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
                return None
            if payload_len >= 2:
                close_code = (payload[0] << 8) | payload[1]
                if not _close_code_allowed(close_code):
                    self.fail(CLOSE_PROTOCOL_ERROR, f"close code {close_code} is not allowed on the wire")
                    return None
                if self.validate_utf8 and picows_utf8_validate(
                        PICOWS_UTF8_ACCEPT, payload + 2, <size_t>payload_len - 2) != PICOWS_UTF8_ACCEPT:
                    self.fail(CLOSE_INVALID_TEXT, "close reason is not valid UTF-8")
                    return None
            self.close_received = True
        elif opcode < 8:
            self._data_frame_done(opcode, fin, compressed)
        # A decompressed frame is plain data: RSV1 is reported only for compressed frames nobody decompressed.
        return self._hand_out(<char*>payload, <Py_ssize_t>payload_len, opcode, fin, rsv1 and not compressed, None)

    cdef inline void _data_frame_done(self, int opcode, bint fin, bint compressed) noexcept:
        # A complete data frame: what the next frames of the stream may be.
        if opcode != OP_CONTINUATION:
            self.message_is_text = opcode == OP_TEXT
            self.message_compressed = compressed
        self.in_message = not fin

    cdef inline WSFrame _hand_out(self, char* payload, Py_ssize_t size, int opcode, bint fin, bint rsv1, owner):
        # The reused WSFrame, filled in; `owner` keeps a payload that is not in the read buffer alive.
        cdef WSFrame frame = self.frame
        if Py_REFCNT(frame) > 2:
            # The previous listener kept a reference to its frame; don't change it under its feet.
            frame = WSFrame()
            self.frame = frame
        if frame._owner is not owner:
            frame._owner = owner
        frame.payload_ptr = payload
        frame.payload_size = size
        frame.opcode = opcode
        frame.fin = fin
        frame.rsv1 = rsv1
        frame.tail_size = self.end - self.start
        frame.last_in_buffer = frame.tail_size == 0
        return frame

    cdef void _spill_prefix(self, uint8_t* payload, uint8_t* key, bint masked, bint check_text) noexcept:
        # Move the part of the frame that came with the header into `spill`. A masked one is unmasked on the way
        # (one pass, not a copy and a later unmask), so it counts as done: bytes [0, partial_done) of the
        # payload are unmasked, and UTF-8 checked for text.
        cdef uint8_t* dst = <uint8_t*>PyBytes_AS_STRING(self.spill)
        cdef Py_ssize_t done = self.partial_done
        cdef Py_ssize_t prefix = self.spill_filled
        cdef uint8_t rotated[4]
        if not masked or prefix <= done:
            memcpy(dst, payload, <size_t>prefix)
            return
        memcpy(dst, payload, <size_t>done)
        _rotate_key(key, done, rotated)
        picows_mask_copy(dst + done, payload + done, <size_t>(prefix - done), rotated)
        if check_text:
            self.utf8_state = picows_utf8_validate(self.utf8_state, dst + done, <size_t>(prefix - done))
        self.partial_done = prefix

    cdef WSFrame _next_spilled(self):
        # The large frame being received into `spill`: None until its payload is complete, then the frame.
        cdef bytes data = self.spill
        cdef uint8_t* payload = <uint8_t*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        cdef uint8_t rotated[4]
        if self.spill_filled < size:
            if self.spill_text:
                # As for frames in the read buffer: invalid UTF-8 fails before the rest of the frame arrives.
                if self.spill_filled > self.partial_done:
                    self._unmask_and_check(payload, self.spill_key, self.spill_masked, self.spill_filled)
                if self.utf8_state == PICOWS_UTF8_REJECT:
                    self.fail(CLOSE_INVALID_TEXT, "invalid UTF-8 in a text message")
            return None
        self.spill = None
        self.after_spill = True
        if self.spill_text:
            self._unmask_and_check(payload, self.spill_key, self.spill_masked, size)
            if self.utf8_state == PICOWS_UTF8_REJECT or (self.spill_fin and self.utf8_state != PICOWS_UTF8_ACCEPT):
                self.fail(CLOSE_INVALID_TEXT, "invalid UTF-8 in a text message")
                return None
        elif self.spill_masked and size > self.partial_done:
            # The prefix was unmasked as it was moved here: unmask the rest, with the key rotated to match.
            _rotate_key(self.spill_key, self.partial_done, rotated)
            picows_mask_inplace(payload + self.partial_done, <size_t>(size - self.partial_done), rotated)
        self.partial_done = 0
        self._data_frame_done(self.spill_opcode, self.spill_fin, False)
        return self._hand_out(<char*>payload, size, self.spill_opcode, self.spill_fin, False, data)

    cdef void _unmask_and_check(self, uint8_t* payload, uint8_t* key, bint masked, Py_ssize_t upto) noexcept:
        # Unmask and validate payload bytes [partial_done, upto): the part not seen by an earlier call.
        cdef Py_ssize_t done = self.partial_done
        cdef uint8_t rotated[4]
        if masked:
            _rotate_key(key, done, rotated)
            picows_mask_inplace(payload + done, <size_t>(upto - done), rotated)
        self.utf8_state = picows_utf8_validate(self.utf8_state, payload + done, <size_t>(upto - done))
        self.partial_done = upto

    # ---- Python-level driver for tests -----------------------------------------------------------------

    def feed(self, data):
        """Append ``data`` and return the frames it completes as (msg_type, fin, rsv1, payload) tuples.

        After a protocol violation the list stops before the bad frame; ``error_code`` and ``error_message``
        then say why. For tests and tools; the transport reads in place instead.
        """
        cdef const unsigned char[:] view = data
        cdef Py_ssize_t n = view.shape[0]
        cdef Py_ssize_t size
        cdef char* ptr
        cdef list out = []
        cdef WSFrame frame
        cdef Py_ssize_t pos = 0
        while pos < n:
            ptr = self.get_write_ptr(n - pos, &size)
            if size > n - pos:
                size = n - pos
            memcpy(ptr, &view[pos], size)
            self.data_added(size)
            pos += size
            while True:
                frame = self.next_frame()
                if frame is None:
                    break
                out.append((frame.msg_type, frame.fin, frame.rsv1, frame.get_payload_as_bytes()))
        self.compact()
        return out

    @property
    def buffer_capacity(self):
        """The read buffer's current size in bytes."""
        return self.capacity


cdef uint8_t _random_pool[4096]
cdef Py_ssize_t _random_pos = 4096


cdef int next_mask_key(uint8_t* key) except -1:
    # RFC 6455 5.3: mask keys must be unpredictable. Read the kernel CSPRNG 4 KiB at a time so that a frame costs
    # four bytes of the pool, not a system call.
    global _random_pos
    if _random_pos + 4 > 4096:
        if picows_random_bytes(_random_pool, 4096) != 0:
            # getrandom and /dev/urandom both failed: nothing safe is left, so stop rather than send weak masks.
            raise SystemError("picows: cannot read the system CSPRNG for WebSocket mask keys")
        _random_pos = 0
    memcpy(key, _random_pool + _random_pos, 4)
    _random_pos += 4
    return 0


cdef Py_ssize_t header_size(Py_ssize_t payload_size, bint masked) noexcept:
    cdef Py_ssize_t size = 2
    if payload_size > 65535:
        size = 10
    elif payload_size > 125:
        size = 4
    if masked:
        size += 4
    return size


cdef Py_ssize_t write_header(uint8_t* dst, int opcode, Py_ssize_t payload_size,
                             bint fin, bint rsv1, const uint8_t* mask_key) noexcept:
    cdef Py_ssize_t pos
    cdef int i
    cdef uint64_t n = <uint64_t>payload_size
    dst[0] = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    cdef uint8_t mask_bit = 0x80 if mask_key != NULL else 0
    if payload_size <= 125:
        dst[1] = mask_bit | <uint8_t>payload_size
        pos = 2
    elif payload_size <= 65535:
        dst[1] = mask_bit | 126
        dst[2] = <uint8_t>(n >> 8)
        dst[3] = <uint8_t>n
        pos = 4
    else:
        dst[1] = mask_bit | 127
        for i in range(8):
            dst[2 + i] = <uint8_t>(n >> (56 - 8 * i))
        pos = 10
    if mask_key != NULL:
        memcpy(dst + pos, mask_key, 4)
        pos += 4
    return pos


cdef Py_ssize_t write_frame(uint8_t* dst, int opcode, const char* payload, Py_ssize_t payload_size,
                            bint fin, bint rsv1, const uint8_t* mask_key) noexcept:
    cdef Py_ssize_t hlen = write_header(dst, opcode, payload_size, fin, rsv1, mask_key)
    if payload_size:
        if mask_key != NULL:
            picows_mask_copy(dst + hlen, <const uint8_t*>payload, <size_t>payload_size, mask_key)
        else:
            memcpy(dst + hlen, payload, payload_size)
    return hlen + payload_size


cdef bytes build_frame(int opcode, const char* payload, Py_ssize_t payload_size,
                       bint fin, bint rsv1, bint masked):
    cdef uint8_t key[4]
    if masked:
        next_mask_key(key)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, header_size(payload_size, masked) + payload_size)
    write_frame(<uint8_t*>PyBytes_AS_STRING(out), opcode, payload, payload_size, fin, rsv1, key if masked else NULL)
    return out


def encode_frame(msg_type, data=b"", fin=True, rsv1=False, mask_key=None):
    """Encode one frame: for tests and tools. ``mask_key`` (4 bytes) masks it; None leaves it unmasked."""
    cdef const unsigned char[:] view
    cdef const unsigned char[:] key_view
    cdef Py_ssize_t n
    cdef bytes out
    cdef uint8_t* dst
    cdef Py_ssize_t hlen
    if isinstance(data, str):
        data = (<str>data).encode()
    view = data if len(data) else b"\x00"
    n = len(data)
    if mask_key is None:
        hlen = header_size(n, False)
        out = PyBytes_FromStringAndSize(NULL, hlen + n)
        dst = <uint8_t*>PyBytes_AS_STRING(out)
        write_header(dst, <int>msg_type, n, fin, rsv1, NULL)
        if n:
            memcpy(dst + hlen, &view[0], n)
        return out
    key_view = mask_key
    if key_view.shape[0] != 4:
        raise ValueError("mask_key must be 4 bytes")
    hlen = header_size(n, True)
    out = PyBytes_FromStringAndSize(NULL, hlen + n)
    dst = <uint8_t*>PyBytes_AS_STRING(out)
    write_header(dst, <int>msg_type, n, fin, rsv1, &key_view[0])
    if n:
        picows_mask_copy(dst + hlen, &view[0], <size_t>n, &key_view[0])
    return out
