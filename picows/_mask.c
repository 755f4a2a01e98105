/* WebSocket masking kernels with run-time CPU dispatch, and the mask-key CSPRNG.
 *
 * Every kernel computes dst[i] = src[i] ^ key[i % 4] and accepts dst == src (in-place masking):
 * each step loads its whole chunk before storing it, so exact aliasing is safe. Chunk sizes are
 * multiples of 4, so the key phase is 0 at the start of every chunk and of the tail.
 *
 * The SIMD kernels carry per-function target attributes, so the file builds with the plain -O3
 * that setup.py uses (no -mavx2), and wheels built on one machine run on any x86-64 CPU.
 */
#include "_mask.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PICOWS_X86_SIMD 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* GCC turns the AVX2 loop's one offset into two advancing pointers and a counter (one instruction more per
   step); without induction-variable rewriting it keeps base + index addressing. */
#define PICOWS_NO_IVOPTS __attribute__((optimize("no-ivopts")))
#else
#define PICOWS_NO_IVOPTS
#endif

typedef void (*mask_fn)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4]);

/* The key replicated twice in memory order, so that one 64-bit XOR masks 8 bytes whatever the
   host byte order is. */
static inline uint64_t key_u64(const uint8_t key[4])
{
    uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t k;
    memcpy(&k, k8, sizeof k);
    return k;
}

/* Masks len bytes whose first byte has key phase 0: 8 bytes per step, then a byte tail.
   memcpy keeps the unaligned loads and stores well defined; compilers turn it into plain moves. */
static inline void mask_words(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    uint64_t k = key_u64(key);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, sizeof w);
        w ^= k;
        memcpy(dst + i, &w, sizeof w);
    }
    for (; i < len; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

static void mask_scalar(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    mask_words(dst, src, len, key);
}

#ifdef PICOWS_X86_SIMD
__attribute__((target("sse2")))
static void mask_sse2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    uint32_t k32;
    memcpy(&k32, key, sizeof k32);
    /* x86 is little-endian, so each 32-bit lane holds key[0..3] in memory order. */
    const __m128i k = _mm_set1_epi32((int)k32);
    size_t i = 0;
    /* Four independent 16-byte steps per iteration keep both load ports busy. */
    for (; i + 64 <= len; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
    }
    mask_words(dst + i, src + i, len - i, key);
}

__attribute__((target("avx2"))) PICOWS_NO_IVOPTS
static void mask_avx2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    uint32_t k32;
    memcpy(&k32, key, sizeof k32);
    const __m256i k = _mm256_set1_epi32((int)k32);
    size_t i = 0;
    /* 512 bytes a step: sixteen loads folded into the XORs, sixteen stores, and a negative offset counting up
       to zero so that the loop test is one add and one branch (34 instructions per 512 bytes; 128 bytes a step
       with an index cost 48). Memory bandwidth bounds it either way; the count is what the CPU decodes and
       callgrind counts. */
    if (len >= 512) {
        const size_t blocks = len & ~(size_t)511;
        const uint8_t *s_end = src + blocks;
        uint8_t *d_end = dst + blocks;
        ptrdiff_t n = -(ptrdiff_t)blocks;
        do {
#define PICOWS_MASK32(o) \
            _mm256_storeu_si256((__m256i *)(void *)(d_end + n + (o)), \
                                _mm256_xor_si256(k, _mm256_loadu_si256((const __m256i *)(const void *)(s_end + n + (o)))))
            PICOWS_MASK32(0); PICOWS_MASK32(32); PICOWS_MASK32(64); PICOWS_MASK32(96);
            PICOWS_MASK32(128); PICOWS_MASK32(160); PICOWS_MASK32(192); PICOWS_MASK32(224);
            PICOWS_MASK32(256); PICOWS_MASK32(288); PICOWS_MASK32(320); PICOWS_MASK32(352);
            PICOWS_MASK32(384); PICOWS_MASK32(416); PICOWS_MASK32(448); PICOWS_MASK32(480);
#undef PICOWS_MASK32
            n += 512;
        } while (n != 0);
        i = blocks;
    }
    for (; i + 32 <= len; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
    }
    if (i + 16 <= len) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm_xor_si128(a, _mm256_castsi256_si128(k)));
        i += 16;
    }
    mask_words(dst + i, src + i, len - i, key);
}
#endif /* PICOWS_X86_SIMD */

/* ---- dispatch ---------------------------------------------------------------------------- */

static void mask_resolve(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4]);

/* Starts at a resolver so that a call made before the constructor ran (or on a compiler without
   constructor support) still selects a kernel first. */
static mask_fn g_mask = mask_resolve;
static const char *g_name = NULL;

static int cpu_has(const char *name)
{
    if (strcmp(name, "scalar") == 0) {
        return 1;
    }
#ifdef PICOWS_X86_SIMD
    /* Required when this runs from a constructor, before libgcc's own initialisation. */
    __builtin_cpu_init();
    if (strcmp(name, "sse2") == 0) {
        return __builtin_cpu_supports("sse2");
    }
    if (strcmp(name, "avx2") == 0) {
        return __builtin_cpu_supports("avx2");
    }
#endif
    return 0;
}

int picows_mask_set_kernel(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    if (strcmp(name, "auto") == 0) {
        if (cpu_has("avx2")) {
            name = "avx2";
        } else if (cpu_has("sse2")) {
            name = "sse2";
        } else {
            name = "scalar";
        }
    }
    if (!cpu_has(name)) {
        return -1;
    }
    if (strcmp(name, "scalar") == 0) {
        g_mask = mask_scalar;
        g_name = "scalar";
    }
#ifdef PICOWS_X86_SIMD
    else if (strcmp(name, "sse2") == 0) {
        g_mask = mask_sse2;
        g_name = "sse2";
    } else if (strcmp(name, "avx2") == 0) {
        g_mask = mask_avx2;
        g_name = "avx2";
    }
#endif
    else {
        return -1;
    }
    return 0;
}

static void mask_init(void)
{
    /* An unknown or unsupported value is ignored rather than fatal: masking must always work. */
    const char *forced = getenv("PICOWS_MASK_KERNEL");
    if (forced != NULL && *forced != '\0' && picows_mask_set_kernel(forced) == 0) {
        return;
    }
    (void)picows_mask_set_kernel("auto");
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor))
static void mask_init_at_load(void)
{
    if (g_name == NULL) {
        mask_init();
    }
}
#endif

static void mask_resolve(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    mask_init();
    g_mask(dst, src, len, key);
}

void picows_mask_inplace(uint8_t *data, size_t len, const uint8_t key[4])
{
    g_mask(data, data, len, key);
}

void picows_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    g_mask(dst, src, len, key);
}

const char *picows_mask_kernel_name(void)
{
    if (g_name == NULL) {
        mask_init();
    }
    return g_name;
}

/* ---- CSPRNG ------------------------------------------------------------------------------- */

#if defined(_WIN32)
#include <windows.h>
#include <bcrypt.h>
#pragma comment(lib, "bcrypt")

int picows_random_bytes(uint8_t *buf, size_t len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (BCryptGenRandom(NULL, buf, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) {
            errno = EIO;
            return -1;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)

int picows_random_bytes(uint8_t *buf, size_t len)
{
    arc4random_buf(buf, len); /* cannot fail */
    return 0;
}

#else /* Linux and other POSIX systems */
#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

static int urandom_fill(uint8_t *buf, size_t len)
{
    int fd;
    do {
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return -1;
    }
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0) {
            close(fd);
            errno = EIO;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    close(fd);
    return 0;
}

int picows_random_bytes(uint8_t *buf, size_t len)
{
#if defined(SYS_getrandom)
    /* The raw syscall rather than getrandom(3): glibc only wraps it from 2.25 on, and manylinux2014
       wheels are built against 2.17. Without GRND_NONBLOCK it blocks only until the pool is seeded. */
    while (len > 0) {
        long n = syscall(SYS_getrandom, buf, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOSYS || errno == EPERM) {
                /* Old kernel, or a seccomp filter that forbids the call. */
                return urandom_fill(buf, len);
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
#else
    return urandom_fill(buf, len);
#endif
}
#endif
