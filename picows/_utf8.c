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

static const uint64_t utf8_rows[12] = {
    /*  0: 00..7F ASCII       */ ROW(S_ACCEPT, R, R, R, R, R, R, R),
    /*  1: 80..8F continuation*/ ROW(R, S_ACCEPT, S_C1, S_C2, R, S_C1, R, S_C2),
    /*  2: 90..9F continuation*/ ROW(R, S_ACCEPT, S_C1, S_C2, R, S_C1, S_C2, R),
    /*  3: A0..BF continuation*/ ROW(R, S_ACCEPT, S_C1, S_C2, S_C1, R, S_C2, R),
    /*  4: C0 C1 F5..FF never */ ROW(R, R, R, R, R, R, R, R),
    /*  5: C2..DF 2-byte lead */ ROW(S_C1, R, R, R, R, R, R, R),
    /*  6: E0                 */ ROW(S_E0, R, R, R, R, R, R, R),
    /*  7: E1..EC EE EF       */ ROW(S_C2, R, R, R, R, R, R, R),
    /*  8: ED                 */ ROW(S_ED, R, R, R, R, R, R, R),
    /*  9: F0                 */ ROW(S_F0, R, R, R, R, R, R, R),
    /* 10: F1..F3             */ ROW(S_C3, R, R, R, R, R, R, R),
    /* 11: F4                 */ ROW(S_F4, R, R, R, R, R, R, R),
};
#undef R
#undef ROW

/* Byte -> row index above. */
static const uint8_t utf8_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 00..0F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10..1F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 20..2F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 30..3F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 40..4F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 50..5F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 60..6F */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 70..7F */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  /* 80..8F */
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 90..9F */
     3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* A0..AF */
     3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* B0..BF */
     4,  4,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  /* C0..CF */
     5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  /* D0..DF */
     6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  7,  /* E0..EF */
     9, 10, 10, 10, 11,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* F0..FF */
};

#define STEP(s, byte) (utf8_rows[utf8_class[(byte)]] >> ((s) & 63))

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

uint32_t picows_utf8_validate(uint32_t state, const uint8_t *data, size_t len)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    uint64_t s = state;

    if (state == S_REJECT) {
        return S_REJECT;
    }
    while ((size_t)(end - p) >= 16) {
        if ((s & 63) == S_ACCEPT) {
            /* Only at a character boundary can ASCII bytes be skipped without running the DFA. */
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
    }
    for (; p < end; p++) {
        s = STEP(s, *p);
    }
    return (uint32_t)(s & 63);
}
