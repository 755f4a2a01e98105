# C API of the masking kernels and the mask-key CSPRNG (see _mask.h for the contracts).
# `from picows._mask cimport picows_mask_inplace`; link the extension with picows/_mask.c.
from libc.stdint cimport uint8_t


cdef extern from "_mask.h" nogil:
    void picows_mask_inplace(uint8_t *data, size_t len, const uint8_t *key)
    void picows_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key)
    const char *picows_mask_kernel_name()
    int picows_mask_set_kernel(const char *name)
    int picows_random_bytes(uint8_t *buf, size_t len)
