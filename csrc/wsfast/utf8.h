/* Incremental, fail-fast UTF-8 validation (RFC 3629; RFC 6455 §5.6 and §8.1). */
#ifndef WSFAST_UTF8_H
#define WSFAST_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Where a message stands between two fragments. All zero is "at a character boundary". */
typedef struct {
    uint8_t remaining;  /* continuation bytes still expected */
    uint8_t low, high;  /* the range the next byte must fall in when remaining > 0 */
    uint8_t pending;    /* bytes already seen of the unfinished sequence */
} wsfast_utf8_state;

void wsfast_utf8_init(int force_scalar);

/* Name of the bulk kernel picked: "avx2", "ssse3", "neon" or "scalar". */
const char *wsfast_utf8_impl(void);

/* Validate the next n bytes of a message. Returns -1 when everything so far can still be (or
 * is) valid text, updating *state; otherwise the index in [0, n) of the first byte that no
 * valid text can contain. With is_start_error set to 1 when that byte stands where a character
 * should start, 0 when it breaks a sequence already begun. */
ptrdiff_t wsfast_utf8_feed(wsfast_utf8_state *state, const unsigned char *data, size_t n,
                           int *is_start_error);

#endif
