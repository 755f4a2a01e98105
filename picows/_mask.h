/* WebSocket masking kernels (RFC 6455 section 5.3) and the mask-key CSPRNG.
 *
 * Plain C, no Python.h: cimported by picows._frame and picows._kernels through _mask.pxd.
 * The kernel (AVX2, SSE2 or a portable 8-bytes-per-step loop) is chosen once, at load time,
 * from the CPU's features; PICOWS_MASK_KERNEL=scalar|sse2|avx2 in the environment forces one.
 */
#ifndef PICOWS_MASK_H
#define PICOWS_MASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XOR len bytes in place with the 4-byte key, key byte 0 applying to data[0]. */
void picows_mask_inplace(uint8_t *data, size_t len, const uint8_t key[4]);

/* dst[i] = src[i] ^ key[i % 4]; the buffers do not overlap. Used to copy a user payload into an
   outgoing frame while masking it, in one pass. */
void picows_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4]);

/* Name of the kernel in use: "avx2", "sse2" or "scalar". */
const char *picows_mask_kernel_name(void);

/* Force a kernel (for tests/benchmarks): "avx2", "sse2", "scalar" or "auto". Returns 0, or -1 if the CPU
   lacks it / unknown name. Not thread-safe against concurrent masking: call it before any traffic. */
int picows_mask_set_kernel(const char *name);

/* Fill buf with bytes from the kernel CSPRNG (getrandom(2), retrying on EINTR, falling back to
   /dev/urandom). Returns 0, or -1 with errno set. RFC 6455 5.3 requires unpredictable mask keys. */
int picows_random_bytes(uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PICOWS_MASK_H */
