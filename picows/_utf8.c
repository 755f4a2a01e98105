/* Incremental UTF-8 validator: a shift-based DFA built from the Unicode Standard's Table 3-7
 * (well-formed byte sequences), with an ASCII fast path.
 *
 * Why a shift DFA: in a classic table DFA every byte costs a dependent load (state -> table ->
 * state), about 5 cycles. Here the row for a byte does not depend on the state, so the loads run
 * ahead; the only serial work per byte is one shift. Each state is a bit offset (a multiple of 6)
 * and a row packs, for every state s, the next state in bits [s, s + 6):
 *     next = row[class[byte]] >> (state & 63)    (then & 63 to read it)
 * The & 63 on the shift count is free on x86-64 and aarch64, whose shifts mask the count anyway.
 */
#include "_utf8.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* States: the bit offset of their 6-bit field in a row. */
#define S_ACCEPT 0  /* == PICOWS_UTF8_ACCEPT */
#define S_REJECT 6  /* == PICOWS_UTF8_REJECT */
#define S_C1 12     /* one 80..BF continuation byte to go */
#define S_C2 18     /* two 80..BF to go */
#define S_C3 24     /* three 80..BF to go */
#define S_E0 30     /* after E0: A0..BF, then one more (no overlong 3-byte forms) */
#define S_ED 36     /* after ED: 80..9F, then one more (no surrogates D800..DFFF) */
#define S_F0 42     /* after F0: 90..BF, then two more (no overlong 4-byte forms) */
#define S_F4 48     /* after F4: 80..8F, then two more (nothing above U+10FFFF) */

#if PICOWS_UTF8_ACCEPT != S_ACCEPT || PICOWS_UTF8_REJECT != S_REJECT
#error "_utf8.h state values disagree with the DFA"
#endif

/* A row: where each state goes on one byte class. REJECT always stays REJECT. */
#define ROW(acc, c1, c2, c3, e0, ed, f0, f4)                                                   \
    ((uint64_t)(acc) << S_ACCEPT | (uint64_t)S_REJECT << S_REJECT | (uint64_t)(c1) << S_C1 | \
     (uint64_t)(c2) << S_C2 | (uint64_t)(c3) << S_C3 | (uint64_t)(e0) << S_E0 |              \
     (uint64_t)(ed) << S_ED | (uint64_t)(f0) << S_F0 | (uint64_t)(f4) << S_F4)
#define R S_REJECT

/* The row of every byte value, spelled out by ranges (a direct table saves a load per byte). */
#define ASC ROW(S_ACCEPT, R, R, R, R, R, R, R)             /* 00..7F ASCII */
#define C80 ROW(R, S_ACCEPT, S_C1, S_C2, R, S_C1, R, S_C2) /* 80..8F continuation */
#define C90 ROW(R, S_ACCEPT, S_C1, S_C2, R, S_C1, S_C2, R) /* 90..9F continuation */
#define CA0 ROW(R, S_ACCEPT, S_C1, S_C2, S_C1, R, S_C2, R) /* A0..BF continuation */
#define BAD ROW(R, R, R, R, R, R, R, R)                    /* C0 C1 F5..FF: never in UTF-8 */
#define L2 ROW(S_C1, R, R, R, R, R, R, R)                  /* C2..DF */
#define LE0 ROW(S_E0, R, R, R, R, R, R, R)                 /* E0 */
#define L3 ROW(S_C2, R, R, R, R, R, R, R)                  /* E1..EC EE EF */
#define LED ROW(S_ED, R, R, R, R, R, R, R)                 /* ED */
#define LF0 ROW(S_F0, R, R, R, R, R, R, R)                 /* F0 */
#define L4 ROW(S_C3, R, R, R, R, R, R, R)                  /* F1..F3 */
#define LF4 ROW(S_F4, R, R, R, R, R, R, R)                 /* F4 */
#define X2(r) r, r
#define X4(r) X2(r), X2(r)
#define X8(r) X4(r), X4(r)
#define X16(r) X8(r), X8(r)

static const uint64_t utf8_table[] = {
    X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), /* 00..7F */
    X16(C80),                                                                       /* 80..8F */
    X16(C90),                                                                       /* 90..9F */
    X16(CA0), X16(CA0),                                                             /* A0..BF */
    X2(BAD), X2(L2), X4(L2), X8(L2),                                                /* C0..CF */
    X16(L2),                                                                        /* D0..DF */
    LE0, L3, X2(L3), X8(L3), L3, LED, X2(L3),                                       /* E0..EF */
    LF0, L4, X2(L4), LF4, BAD, X2(BAD), X8(BAD),                                    /* F0..FF */
};

/* A miscounted range would shift every later byte (or zero-fill, i.e. accept, the end). */
_Static_assert(sizeof utf8_table / sizeof utf8_table[0] == 256, "utf8_table needs 256 rows");

#undef X16
#undef X8
#undef X4
#undef X2
#undef LF4
#undef L4
#undef LF0
#undef LED
#undef L3
#undef LE0
#undef L2
#undef BAD
#undef CA0
#undef C90
#undef C80
#undef ASC
#undef R
#undef ROW

#define STEP(s, byte) (utf8_table[(byte)] >> ((s) & 63))

/* How many of the 16 bytes at p are ASCII before the first that is not (16: all of them). */
static inline unsigned ascii_prefix16(const uint8_t *p)
{
#if defined(PICOWS_UTF8_NO_ASCII_FAST_PATH)
    (void)p;
    return 0;
#elif defined(__SSE2__)
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p));
    return m ? (unsigned)__builtin_ctz(m) : 16u;
#else
    const uint64_t hi = 0x8080808080808080ull;
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    if (((a | b) & hi) == 0) {
        return 16;
    }
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (a & hi) {
        return (unsigned)__builtin_ctzll(a & hi) >> 3;
    }
    return 8u + ((unsigned)__builtin_ctzll(b & hi) >> 3);
#else
    return 0; /* the DFA handles the ASCII bytes too, only slower */
#endif
#endif
}

/* Whether all 64 bytes at p are ASCII: OR first, then test the top bits once. */
static inline int all_ascii64(const uint8_t *p)
{
#if defined(PICOWS_UTF8_NO_ASCII_FAST_PATH)
    (void)p;
    return 0;
#elif defined(__SSE2__)
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
    return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) == 0;
#else
    uint64_t w[8];
    memcpy(w, p, sizeof w);
    return ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) & 0x8080808080808080ull) == 0;
#endif
}

uint32_t picows_utf8_validate(uint32_t state, const uint8_t *data, size_t len)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    uint64_t s = state;

    if (state == S_REJECT) {
        return S_REJECT;
    }
    /* Try the ASCII fast path only where the text looks ASCII: at the start, and after a block
       that ended in an ASCII byte (which, unless the block was rejected, leaves the DFA in ACCEPT).
       Testing the DFA state instead costs CJK text ~40%: at a block boundary it is in ACCEPT one
       time in three, at random, and the branch mispredicts. */
    int try_ascii = (state == S_ACCEPT);
    while ((size_t)(end - p) >= 16) {
        if (try_ascii) {
            while ((size_t)(end - p) >= 64 && all_ascii64(p)) {
                p += 64;
            }
            if ((size_t)(end - p) < 16) {
                break;
            }
            unsigned n = ascii_prefix16(p);
            p += n;
            if (n == 16) {
                continue;
            }
            if ((size_t)(end - p) < 16) {
                break;
            }
        }
        for (int i = 0; i < 16; i++) {
            s = STEP(s, p[i]);
        }
        p += 16;
        /* REJECT is sticky, so checking once per block still fails fast at the call level. */
        if ((s & 63) == S_REJECT) {
            return S_REJECT;
        }
        try_ascii = p[-1] < 0x80;
    }
    for (; p < end; p++) {
        s = STEP(s, *p);
    }
    return (uint32_t)(s & 63);
}
