"""permessage-deflate (RFC 7692) compression and decompression over zlib's C API.

The engine cimports :class:`Inflater` and :class:`Deflater` and calls their ``cdef`` methods; the
``*_frame`` / ``*_message`` methods here are thin Python wrappers for tests and benchmarks.

Window bits 8. RFC 7692 allows a window of 256 bytes (8 bits), but zlib 1.2.9 and later refuse
``windowBits=-8`` for raw deflate. Both classes therefore accept 8 and run zlib with 9:

* Deflater: zlib never emits a match farther back than ``window - MIN_LOOKAHEAD`` bytes, i.e.
  512 - 262 = 250 bytes for a 9-bit window, so every back-reference fits a 256-byte window and the
  output is valid for a peer that limited us to 8 bits.
* Inflater: a larger window decodes everything a smaller one does; 9 also covers peers whose
  zlib silently turned their 8 into 9 (zlib's manual recommends inflating with 9 in that case).
  The cost is 256 bytes per connection.

Memory comes from ``PyMem_RawMalloc`` so that tracemalloc accounts for zlib's state too.
"""

from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc
from libc.string cimport memcmp

__all__ = ["Deflater", "InflateError", "InflateLimitError", "Inflater", "ZLIB_RUNTIME_VERSION"]

ZLIB_RUNTIME_VERSION = zlibVersion().decode("ascii")

# zlib counts in uInt (32 bits): longer inputs and outputs are fed in slices of this size.
cdef size_t _SLICE = 1 << 30
# The inflate output buffer starts here, doubles as needed, and is released before the next call
# once it grew past _SHRINK_ABOVE, so one large message does not pin memory for the connection's life.
cdef size_t _INITIAL_OUTPUT = 4 * 1024
cdef size_t _SHRINK_ABOVE = 256 * 1024
# RFC 7692 7.2.1 / 7.2.2: a sync flush ends with an empty stored block, 00 00 ff ff on the wire.
cdef const unsigned char* _TAIL = b"\x00\x00\xff\xff"


class InflateError(ValueError):
    """The compressed data is corrupt (``Inflater.decompress`` returned -1).

    The engine closes the connection with 1002 (invalid payload data) in that case.
    """


class InflateLimitError(ValueError):
    """The decompressed output would exceed the limit (``Inflater.decompress`` returned -2).

    The engine closes the connection with 1009 (message too big) in that case.
    """


cdef voidpf _zalloc(voidpf opaque, uInt items, uInt size) noexcept nogil:
    return PyMem_RawMalloc(<size_t>items * size)


cdef void _zfree(voidpf opaque, voidpf address) noexcept nogil:
    PyMem_RawFree(address)


cdef int _check_window_bits(int window_bits) except -1:
    if window_bits < 8 or window_bits > 15:
        raise ValueError(f"window_bits must be between 8 and 15 (RFC 7692 7.1.2), got {window_bits}")
    return 0


cdef str _zlib_message(z_stream* strm, int ret):
    if strm.msg != NULL:
        return strm.msg.decode("ascii", "replace")
    return f"zlib error {ret}"


cdef class Inflater:
    """Decompress the peer's messages.

    Args:
        window_bits: the window the peer's compressor was limited to (8..15), i.e. the
            negotiated ``*_max_window_bits`` of the peer's direction; 15 when not negotiated.
        no_context_takeover: the peer resets its compressor after each message, so we reset
            ours too (saves nothing but keeps the streams in step).
    """

    def __cinit__(self) -> None:
        self._initialized = False
        self._buf = NULL
        self._buf_cap = 0
        self._buf_len = 0
        self._error = NULL
        self._ended = False

    def __init__(self, int window_bits=15, bint no_context_takeover=False) -> None:
        cdef int ret
        _check_window_bits(window_bits)
        if self._initialized:
            inflateEnd(&self._strm)
            self._initialized = False
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self._strm.zalloc = _zalloc
        self._strm.zfree = _zfree
        self._strm.opaque = NULL
        self._strm.next_in = NULL
        self._strm.avail_in = 0
        ret = inflateInit2(&self._strm, -max(window_bits, 9))
        if ret == Z_MEM_ERROR:
            raise MemoryError("not enough memory for a zlib inflate stream")
        if ret != Z_OK:
            raise ValueError(f"inflateInit2 failed: {_zlib_message(&self._strm, ret)}")
        self._initialized = True

    def __dealloc__(self) -> None:
        if self._initialized:
            inflateEnd(&self._strm)
        if self._buf != NULL:
            PyMem_RawFree(self._buf)

    @property
    def output_buffer_size(self) -> int:
        """Bytes currently allocated for the output buffer (for tests of the size limit)."""
        return self._buf_cap

    cdef int decompress(self, const unsigned char* data, size_t size, bint fin, size_t limit,
                        unsigned char** out, size_t* out_size) except -3:
        cdef int rc
        if not self._initialized:
            raise RuntimeError("Inflater.__init__ was not called")
        if limit > (<size_t>-1) - 1:
            limit = (<size_t>-1) - 1  # keeps limit + 1 representable
        self._buf_len = 0
        if self._buf_cap > _SHRINK_ABOVE:
            PyMem_RawFree(self._buf)
            self._buf = NULL
            self._buf_cap = 0
        rc = self._feed(data, size, limit)
        if rc == 0 and fin:
            rc = self._feed(_TAIL, 4, limit)
            if rc == 0 and (self.no_context_takeover or self._ended):
                inflateReset(&self._strm)
                self._ended = False
        if rc != 0:
            self._error = self._strm.msg
            # The connection is about to fail; a reset keeps this object usable (and testable).
            inflateReset(&self._strm)
            self._ended = False
            self._buf_len = 0
        out[0] = self._buf
        out_size[0] = self._buf_len
        return rc

    cdef int _grow(self, size_t limit) except -1:
        cdef size_t new_cap = self._buf_cap * 2 if self._buf_cap else _INITIAL_OUTPUT
        cdef unsigned char* new_buf
        # Never allocate more than the limit allows: one byte past it is enough to detect excess.
        if new_cap > limit + 1 or new_cap < self._buf_cap:
            new_cap = limit + 1
        new_buf = <unsigned char*>PyMem_RawRealloc(self._buf, new_cap)
        if new_buf == NULL:
            raise MemoryError(f"cannot grow the inflate output buffer to {new_cap} bytes")
        self._buf = new_buf
        self._buf_cap = new_cap
        return 0

    cdef int _feed(self, const unsigned char* data, size_t size, size_t limit) except -3:
        cdef size_t chunk, room
        cdef int ret
        if self._ended:
            return 0  # like any DEFLATE decoder, ignore what follows the final block
        while True:
            chunk = size if size < _SLICE else _SLICE
            self._strm.next_in = <Bytef*>data
            self._strm.avail_in = <uInt>chunk
            while True:
                if self._buf_len == self._buf_cap:
                    if self._buf_cap > limit:
                        return -2
                    self._grow(limit)
                room = self._buf_cap - self._buf_len
                if room > _SLICE:
                    room = _SLICE
                self._strm.next_out = self._buf + self._buf_len
                self._strm.avail_out = <uInt>room
                ret = inflate(&self._strm, Z_SYNC_FLUSH)
                self._buf_len += room - self._strm.avail_out
                if self._buf_len > limit:
                    return -2
                if ret == Z_OK or ret == Z_BUF_ERROR:
                    # Done once inflate stopped for lack of input rather than of output space.
                    if self._strm.avail_out != 0:
                        break
                elif ret == Z_STREAM_END:
                    # The peer closed its DEFLATE stream with a BFINAL block (RFC 7692 7.2.3.3):
                    # the rest of this message (our 00 00 ff ff included) is ignored and its next
                    # message starts a new stream.
                    self._ended = True
                    return 0
                elif ret == Z_MEM_ERROR:
                    raise MemoryError("zlib ran out of memory while inflating")
                else:
                    return -1  # Z_DATA_ERROR, Z_NEED_DICT (a preset dictionary), Z_STREAM_ERROR
            data += chunk
            size -= chunk
            if size == 0:
                return 0

    def decompress_frame(self, const unsigned char[::1] data not None, bint fin=True,
                         size_t limit=2**62) -> bytes:
        """Decompress one frame's payload; ``fin`` ends the message. Python wrapper for tests.

        Raises:
            InflateError: corrupt data (the C method returned -1).
            InflateLimitError: the output would exceed ``limit`` bytes (-2).
        """
        cdef unsigned char* out
        cdef size_t out_size
        cdef const unsigned char* ptr = &data[0] if data.shape[0] else NULL
        cdef int rc = self.decompress(ptr, <size_t>data.shape[0], fin, limit, &out, &out_size)
        if rc == -1:
            reason = self._error.decode("ascii", "replace") if self._error != NULL else "zlib data error"
            raise InflateError(f"corrupt compressed data: {reason}")
        if rc == -2:
            raise InflateLimitError(f"decompressed data exceeds the limit of {limit} bytes")
        return out[:out_size]

    def decompress_message(self, const unsigned char[::1] data not None, size_t limit=2**62) -> bytes:
        """Decompress a whole message (``decompress_frame`` with ``fin=True``)."""
        return self.decompress_frame(data, True, limit)


cdef class Deflater:
    """Compress our messages.

    Args:
        window_bits: the window our compressor may use (8..15), i.e. the negotiated
            ``*_max_window_bits`` of our direction; 8 runs zlib with 9 (see the module docstring).
        no_context_takeover: reset the compressor after each message (the peer asked for it, or we
            offered it); repeated content then compresses worse.
        level: zlib compression level 0..9 (1 fastest, 9 smallest, 0 stores).
        mem_level: zlib memLevel 1..9; the compressor's hash tables take ``2 ** (mem_level + 9)``
            bytes, so smaller values save memory per connection at some cost in ratio and speed.
    """

    def __cinit__(self) -> None:
        self._initialized = False
        self._buf = NULL
        self._buf_cap = 0

    def __init__(self, int window_bits=15, bint no_context_takeover=False, int level=6,
                 int mem_level=8) -> None:
        cdef int ret
        _check_window_bits(window_bits)
        if level < 0 or level > 9:
            raise ValueError(f"level must be between 0 and 9, got {level}")
        if mem_level < 1 or mem_level > 9:
            raise ValueError(f"mem_level must be between 1 and 9, got {mem_level}")
        if self._initialized:
            deflateEnd(&self._strm)
            self._initialized = False
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.level = level
        self.mem_level = mem_level
        self._strm.zalloc = _zalloc
        self._strm.zfree = _zfree
        self._strm.opaque = NULL
        self._strm.next_in = NULL
        self._strm.avail_in = 0
        ret = deflateInit2(&self._strm, level, Z_DEFLATED, -max(window_bits, 9), mem_level,
                           Z_DEFAULT_STRATEGY)
        if ret == Z_MEM_ERROR:
            raise MemoryError("not enough memory for a zlib deflate stream")
        if ret != Z_OK:
            raise ValueError(f"deflateInit2 failed: {_zlib_message(&self._strm, ret)}")
        self._initialized = True

    def __dealloc__(self) -> None:
        if self._initialized:
            deflateEnd(&self._strm)
        if self._buf != NULL:
            PyMem_RawFree(self._buf)

    cdef int _reserve(self, size_t needed) except -1:
        cdef unsigned char* new_buf
        if needed <= self._buf_cap:
            return 0
        new_buf = <unsigned char*>PyMem_RawRealloc(self._buf, needed)
        if new_buf == NULL:
            raise MemoryError(f"cannot grow the deflate output buffer to {needed} bytes")
        self._buf = new_buf
        self._buf_cap = needed
        return 0

    cdef int compress(self, const unsigned char* data, size_t size, bint fin,
                      unsigned char** out, size_t* out_size) except -1:
        cdef size_t out_len = 0
        cdef size_t chunk, room, needed
        cdef int ret, flush
        if not self._initialized:
            raise RuntimeError("Deflater.__init__ was not called")
        # deflateBound covers the data; the sync flush marker and block headers need a few more bytes.
        needed = <size_t>deflateBound(&self._strm, <uLong>(size if size < _SLICE else _SLICE)) + 64
        if self._buf_cap > _SHRINK_ABOVE and needed <= _SHRINK_ABOVE:
            PyMem_RawFree(self._buf)  # a large message is over: do not pin its buffer
            self._buf = NULL
            self._buf_cap = 0
        self._reserve(needed)
        while True:
            chunk = size if size < _SLICE else _SLICE
            flush = Z_SYNC_FLUSH if chunk == size else Z_NO_FLUSH
            self._strm.next_in = <Bytef*>data
            self._strm.avail_in = <uInt>chunk
            while True:
                if out_len == self._buf_cap:
                    self._reserve(self._buf_cap * 2)
                room = self._buf_cap - out_len
                if room > _SLICE:
                    room = _SLICE
                self._strm.next_out = self._buf + out_len
                self._strm.avail_out = <uInt>room
                ret = deflate(&self._strm, flush)
                out_len += room - self._strm.avail_out
                if ret != Z_OK and ret != Z_BUF_ERROR:
                    raise RuntimeError(f"deflate failed: {_zlib_message(&self._strm, ret)}")
                # Z_BUF_ERROR with room left means there was nothing to do (e.g. flushing twice).
                if self._strm.avail_out != 0:
                    break
            data += chunk
            size -= chunk
            if size == 0:
                break
        if fin:
            if out_len >= 4 and memcmp(self._buf + out_len - 4, _TAIL, 4) == 0:
                out_len -= 4  # RFC 7692 7.2.1: the receiver appends these 4 octets again
            elif out_len != 0:
                raise RuntimeError("zlib's sync flush did not end with 00 00 ff ff")
            if out_len == 0:
                # Nothing new since the last flush (an empty message, or an empty last fragment):
                # a single 00 byte, which with the receiver's 00 00 ff ff forms an empty stored
                # block (RFC 7692 7.2.3.6), so the payload is never empty.
                self._reserve(1)
                self._buf[0] = 0
                out_len = 1
            if self.no_context_takeover:
                deflateReset(&self._strm)
        out[0] = self._buf
        out_size[0] = out_len
        return 0

    def compress_frame(self, const unsigned char[::1] data not None, bint fin=True) -> bytes:
        """Compress one fragment; ``fin`` ends the message. Python wrapper for tests."""
        cdef unsigned char* out
        cdef size_t out_size
        cdef const unsigned char* ptr = &data[0] if data.shape[0] else NULL
        self.compress(ptr, <size_t>data.shape[0], fin, &out, &out_size)
        return out[:out_size]

    def compress_message(self, const unsigned char[::1] data not None) -> bytes:
        """Compress a whole message (``compress_frame`` with ``fin=True``)."""
        return self.compress_frame(data, True)
