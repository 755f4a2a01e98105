# C API of the incremental UTF-8 validator (see _utf8.h for the contract).
# `from picows._utf8 cimport picows_utf8_validate`; link the extension with picows/_utf8.c.
from libc.stdint cimport uint8_t, uint32_t


cdef extern from "_utf8.h" nogil:
    const uint32_t PICOWS_UTF8_ACCEPT
    const uint32_t PICOWS_UTF8_REJECT
    uint32_t picows_utf8_validate(uint32_t state, const uint8_t *data, size_t len)
