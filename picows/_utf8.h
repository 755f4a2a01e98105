/* Incremental UTF-8 validation for WebSocket text messages (RFC 6455 section 8.1).
 *
 * Plain C, no Python.h: cimported by picows._frame and picows._kernels through _utf8.pxd.
 */
#ifndef PICOWS_UTF8_H
#define PICOWS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At a character boundary, all bytes so far valid. Start every message in this state. */
#define PICOWS_UTF8_ACCEPT 0u
/* Invalid: sticky. Other state values mean "inside a character"; they are opaque, pass back only
   what picows_utf8_validate returned. */
#define PICOWS_UTF8_REJECT 6u

/* Validate more bytes of a stream, carrying state across calls (messages are fragmented arbitrarily,
   even in the middle of a code point). Return the new state. Fails fast: the result is REJECT as soon
   as the bytes seen so far can no longer be a prefix of valid UTF-8 (surrogates, code points above
   U+10FFFF, overlong forms, C0/C1/F5..FF, stray continuation bytes). Once REJECT, stays REJECT.
   A complete message is valid iff the final state == PICOWS_UTF8_ACCEPT. */
uint32_t picows_utf8_validate(uint32_t state, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PICOWS_UTF8_H */
