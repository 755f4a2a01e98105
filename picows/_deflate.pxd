# permessage-deflate (RFC 7692) over zlib's C API: one Deflater and one Inflater per connection.
# The engine cimports these classes and calls the cdef methods, so no Python call happens per message.
# Raw DEFLATE streams only (negative windowBits): RFC 7692 carries no zlib header or checksum.

cdef extern from "zlib.h" nogil:
    ctypedef unsigned char Bytef
    ctypedef unsigned int uInt
    ctypedef unsigned long uLong
    ctypedef void* voidpf
    ctypedef voidpf (*alloc_func)(voidpf opaque, uInt items, uInt size)
    ctypedef void (*free_func)(voidpf opaque, voidpf address)

    ctypedef struct z_stream:
        Bytef* next_in  # z_const in zlib.h only with ZLIB_CONST; we cast
        uInt avail_in
        uLong total_in
        Bytef* next_out
        uInt avail_out
        uLong total_out
        const char* msg
        alloc_func zalloc
        free_func zfree
        voidpf opaque
        int data_type
        uLong adler
        uLong reserved

    ctypedef z_stream* z_streamp

    const char* ZLIB_VERSION
    const char* zlibVersion()

    int Z_OK, Z_STREAM_END, Z_NEED_DICT, Z_ERRNO, Z_STREAM_ERROR, Z_DATA_ERROR, Z_MEM_ERROR, Z_BUF_ERROR
    int Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_FINISH
    int Z_DEFLATED, Z_DEFAULT_STRATEGY

    int deflateInit2(z_streamp strm, int level, int method, int windowBits, int memLevel, int strategy)
    int deflate(z_streamp strm, int flush)
    int deflateReset(z_streamp strm)
    int deflateEnd(z_streamp strm)
    uLong deflateBound(z_streamp strm, uLong sourceLen)

    int inflateInit2(z_streamp strm, int windowBits)
    int inflate(z_streamp strm, int flush)
    int inflateReset(z_streamp strm)
    int inflateEnd(z_streamp strm)


cdef class Inflater:
    """Decompressor for the messages the peer sends (its compressor's window_bits)."""
    cdef:
        z_stream _strm
        bint _initialized
        readonly int window_bits
        readonly bint no_context_takeover
        unsigned char* _buf
        size_t _buf_cap
        size_t _buf_len
        const char* _error  # zlib's static message for the last -1, kept across the reset
        bint _ended  # the peer closed the DEFLATE stream (BFINAL) inside the current message

    # Decompress one frame's payload of a compressed message into the internal buffer.
    # fin: the message ends with this frame (the 00 00 ff ff tail is fed, then the stream is reset
    # if no_context_takeover). limit: the most output bytes allowed for this call; the buffer never
    # grows past limit + 1. *out / *out_size stay valid until the next call.
    # Returns 0 on success, -1 on corrupt data (the stream is reset), -2 when the output would
    # exceed `limit` (the stream is reset); -3 with a Python exception set (MemoryError).
    cdef int decompress(self, const unsigned char* data, size_t size, bint fin, size_t limit,
                        unsigned char** out, size_t* out_size) except -3

    cdef int _feed(self, const unsigned char* data, size_t size, size_t limit) except -3
    cdef int _grow(self, size_t limit) except -1


cdef class Deflater:
    """Compressor for the messages we send (our compressor's negotiated window_bits)."""
    cdef:
        z_stream _strm
        bint _initialized
        readonly int window_bits
        readonly bint no_context_takeover
        readonly int level
        readonly int mem_level
        unsigned char* _buf
        size_t _buf_cap

    # Compress one fragment of an outgoing message (Z_SYNC_FLUSH). fin: the message ends here;
    # the trailing 00 00 ff ff is removed (an empty result becomes the single byte 00) and the
    # stream is reset if no_context_takeover. *out / *out_size stay valid until the next call.
    # Returns 0, or -1 with a Python exception set (MemoryError, RuntimeError).
    cdef int compress(self, const unsigned char* data, size_t size, bint fin,
                      unsigned char** out, size_t* out_size) except -1

    cdef int _reserve(self, size_t needed) except -1
