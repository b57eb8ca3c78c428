/* UTF-8 validation.
 *
 * The scalar state machine below is the definition: it follows the table of RFC 3629 §4
 * (no overlongs, no surrogates U+D800..DFFF, nothing above U+10FFFF) one byte at a time and
 * so knows the exact first invalid byte. Long runs are checked by the vectorised "lookup"
 * algorithm of Keiser & Lemire ("Validating UTF-8 in less than one instruction per byte",
 * Software: Practice and Experience, 2021): three 16-entry table lookups on the high and low
 * nibbles of each byte and of its predecessor classify every two-byte pair, and a saturating
 * subtraction checks the third and fourth bytes of long sequences. Vector kernels only say
 * whether a block is valid; when one is not, the scalar machine rescans it to find the byte.
 */
#include <string.h>

#include "cpu.h"
#include "utf8.h"

/* --- scalar definition ------------------------------------------------------------------ */

/* Returns 0 if byte b is invalid in this state. */
static inline int utf8_step(wsfast_utf8_state *st, unsigned char b)
{
    if (st->remaining) {
        if (b < st->low || b > st->high) return 0;
        st->remaining--;
        st->low = 0x80;
        st->high = 0xBF;
        st->pending = st->remaining ? (uint8_t)(st->pending + 1) : 0;
        return 1;
    }
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0;           /* continuation byte, or C0/C1 (always overlong) */
    if (b < 0xE0) {
        st->remaining = 1;
        st->low = 0x80;
        st->high = 0xBF;
    } else if (b < 0xF0) {
        st->remaining = 2;
        st->low = b == 0xE0 ? 0xA0 : 0x80;   /* E0 80..9F would be overlong */
        st->high = b == 0xED ? 0x9F : 0xBF;  /* ED A0..BF would be a surrogate */
    } else if (b < 0xF5) {
        st->remaining = 3;
        st->low = b == 0xF0 ? 0x90 : 0x80;   /* F0 80..8F would be overlong */
        st->high = b == 0xF4 ? 0x8F : 0xBF;  /* F4 90.. would exceed U+10FFFF */
    } else {
        return 0;
    }
    st->pending = 1;
    return 1;
}

/* Runs the state machine over [data, data+n), skipping ASCII eight bytes at a time between
 * characters. Returns -1 or the index of the first invalid byte. */
static ptrdiff_t utf8_scalar(wsfast_utf8_state *st, const unsigned char *data, size_t n,
                             int *is_start_error)
{
    size_t i = 0;
    while (i < n) {
        if (!st->remaining) {
            while (i + 8 <= n) {
                uint64_t word;
                memcpy(&word, data + i, 8);
                if (word & UINT64_C(0x8080808080808080)) break;
                i += 8;
            }
            if (i == n) break;
        }
        *is_start_error = st->remaining == 0;
        if (!utf8_step(st, data[i])) return (ptrdiff_t)i;
        i++;
    }
    return -1;
}

/* --- vector kernels ---------------------------------------------------------------------- */

/* Each kernel checks whole blocks of [data, data+n), which starts at a character boundary, and
 * returns how many bytes it found valid: a multiple of its block size, stopping before the first
 * invalid block. A sequence left unfinished at the end is not its concern. */
typedef size_t (*utf8_kernel)(const unsigned char *, size_t);

/* Error classes of a byte pair (the first byte's high and low nibbles, the second's high). */
#define TOO_SHORT   (1 << 0)  /* lead byte not followed by a continuation */
#define TOO_LONG    (1 << 1)  /* ASCII followed by a continuation */
#define OVERLONG_3  (1 << 2)  /* E0 80..9F */
#define TOO_LARGE   (1 << 3)  /* F4 90..BF, F5.. */
#define SURROGATE   (1 << 4)  /* ED A0..BF */
#define OVERLONG_2  (1 << 5)  /* C0, C1 */
#define TOO_LARGE_1000 (1 << 6)  /* F5..FF 80..8F */
#define OVERLONG_4  (1 << 6)  /* F0 80..8F */
#define TWO_CONTS   (1 << 7)  /* continuation after continuation: only valid in a sequence */
#define CARRY (TOO_SHORT | TOO_LONG | TWO_CONTS)

#define FIRST_HIGH_TABLE \
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, \
    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS, \
    TOO_SHORT | OVERLONG_2, \
    TOO_SHORT, \
    TOO_SHORT | OVERLONG_3 | SURROGATE, \
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4

#define FIRST_LOW_TABLE \
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, \
    CARRY | OVERLONG_2, \
    CARRY, CARRY, \
    CARRY | TOO_LARGE, \
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, \
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, \
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, \
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, \
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, \
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000

#define SECOND_HIGH_TABLE \
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, \
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4, \
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE, \
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE, \
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE, \
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT

/* A block ending in the first 1, 2 or 3 bytes of a sequence leaves the next block in debt:
 * subtracting these thresholds (saturating) is non-zero exactly there. */
#define INCOMPLETE_THRESHOLDS_TAIL 0xEF, 0xDF, 0xBF

#ifdef WSFAST_X86_64
WSFAST_TARGET_AVX2
static size_t utf8_avx2(const unsigned char *data, size_t n)
{
    const __m256i first_high = _mm256_setr_epi8(FIRST_HIGH_TABLE, FIRST_HIGH_TABLE);
    const __m256i first_low = _mm256_setr_epi8(FIRST_LOW_TABLE, FIRST_LOW_TABLE);
    const __m256i second_high = _mm256_setr_epi8(SECOND_HIGH_TABLE, SECOND_HIGH_TABLE);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i incomplete_thresholds = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)0xEF, (char)0xDF, (char)0xBF);
    __m256i previous = _mm256_setzero_si256();
    __m256i previous_incomplete = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i input, error;
        if (i + 128 <= n) {
            /* Text is mostly ASCII: test 128 bytes with one OR and one movemask. */
            __m256i a = _mm256_loadu_si256((const __m256i *)(data + i));
            __m256i b = _mm256_loadu_si256((const __m256i *)(data + i + 32));
            __m256i c = _mm256_loadu_si256((const __m256i *)(data + i + 64));
            __m256i d = _mm256_loadu_si256((const __m256i *)(data + i + 96));
            __m256i any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
            if (_mm256_movemask_epi8(any) == 0) {
                if (!_mm256_testz_si256(previous_incomplete, previous_incomplete)) break;
                previous = d;
                i += 96; /* plus the loop's 32 */
                continue;
            }
        }
        input = _mm256_loadu_si256((const __m256i *)(data + i));
        if (_mm256_movemask_epi8(input) == 0) {
            /* ASCII block: valid unless the previous block left a sequence unfinished. */
            error = previous_incomplete;
            previous_incomplete = _mm256_setzero_si256();
        } else {
            /* The bytes 1, 2 and 3 positions earlier, across the block boundary. */
            __m256i carried = _mm256_permute2x128_si256(previous, input, 0x21);
            __m256i prev1 = _mm256_alignr_epi8(input, carried, 15);
            __m256i prev2 = _mm256_alignr_epi8(input, carried, 14);
            __m256i prev3 = _mm256_alignr_epi8(input, carried, 13);
            __m256i special = _mm256_and_si256(
                _mm256_and_si256(
                    _mm256_shuffle_epi8(first_high,
                                        _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble)),
                    _mm256_shuffle_epi8(first_low, _mm256_and_si256(prev1, nibble))),
                _mm256_shuffle_epi8(second_high,
                                    _mm256_and_si256(_mm256_srli_epi16(input, 4), nibble)));
            /* Third and fourth bytes of 3- and 4-byte sequences must be continuations. */
            __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xE0 - 0x80)));
            __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xF0 - 0x80)));
            __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth),
                                                     _mm256_set1_epi8((char)0x80));
            error = _mm256_xor_si256(must_continue, special);
            previous_incomplete = _mm256_subs_epu8(input, incomplete_thresholds);
        }
        if (!_mm256_testz_si256(error, error)) {
            break;
        }
        previous = input;
    }
    _mm256_zeroupper();
    return i;
}

WSFAST_TARGET_SSSE3
static size_t utf8_ssse3(const unsigned char *data, size_t n)
{
    const __m128i first_high = _mm_setr_epi8(FIRST_HIGH_TABLE);
    const __m128i first_low = _mm_setr_epi8(FIRST_LOW_TABLE);
    const __m128i second_high = _mm_setr_epi8(SECOND_HIGH_TABLE);
    const __m128i nibble = _mm_set1_epi8(0x0F);
    const __m128i incomplete_thresholds = _mm_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)0xEF, (char)0xDF, (char)0xBF);
    __m128i previous = _mm_setzero_si128();
    __m128i previous_incomplete = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i input, error;
        if (i + 64 <= n) {
            /* Text is mostly ASCII: test 64 bytes with one OR and one movemask. */
            __m128i a = _mm_loadu_si128((const __m128i *)(data + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(data + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(data + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(data + i + 48));
            __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
            if (_mm_movemask_epi8(any) == 0) {
                if (_mm_movemask_epi8(_mm_cmpeq_epi8(previous_incomplete, _mm_setzero_si128())) != 0xFFFF) break;
                previous = d;
                i += 48; /* plus the loop's 16 */
                continue;
            }
        }
        input = _mm_loadu_si128((const __m128i *)(data + i));
        if (_mm_movemask_epi8(input) == 0) {
            error = previous_incomplete;
            previous_incomplete = _mm_setzero_si128();
        } else {
            __m128i prev1 = _mm_alignr_epi8(input, previous, 15);
            __m128i prev2 = _mm_alignr_epi8(input, previous, 14);
            __m128i prev3 = _mm_alignr_epi8(input, previous, 13);
            __m128i special = _mm_and_si128(
                _mm_and_si128(
                    _mm_shuffle_epi8(first_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), nibble)),
                    _mm_shuffle_epi8(first_low, _mm_and_si128(prev1, nibble))),
                _mm_shuffle_epi8(second_high, _mm_and_si128(_mm_srli_epi16(input, 4), nibble)));
            __m128i third = _mm_subs_epu8(prev2, _mm_set1_epi8((char)(0xE0 - 0x80)));
            __m128i fourth = _mm_subs_epu8(prev3, _mm_set1_epi8((char)(0xF0 - 0x80)));
            __m128i must_continue = _mm_and_si128(_mm_or_si128(third, fourth),
                                                  _mm_set1_epi8((char)0x80));
            error = _mm_xor_si128(must_continue, special);
            previous_incomplete = _mm_subs_epu8(input, incomplete_thresholds);
        }
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(error, _mm_setzero_si128())) != 0xFFFF) {
            break;
        }
        previous = input;
    }
    return i;
}
#endif

#ifdef WSFAST_ARM64
static size_t utf8_neon(const unsigned char *data, size_t n)
{
    static const uint8_t first_high_values[16] = {FIRST_HIGH_TABLE};
    static const uint8_t first_low_values[16] = {FIRST_LOW_TABLE};
    static const uint8_t second_high_values[16] = {SECOND_HIGH_TABLE};
    static const uint8_t threshold_values[16] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF};
    const uint8x16_t first_high = vld1q_u8(first_high_values);
    const uint8x16_t first_low = vld1q_u8(first_low_values);
    const uint8x16_t second_high = vld1q_u8(second_high_values);
    const uint8x16_t incomplete_thresholds = vld1q_u8(threshold_values);
    const uint8x16_t nibble = vdupq_n_u8(0x0F);
    uint8x16_t previous = vdupq_n_u8(0);
    uint8x16_t previous_incomplete = vdupq_n_u8(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16_t input = vld1q_u8(data + i);
        uint8x16_t error;
        if (vmaxvq_u8(input) < 0x80) {
            error = previous_incomplete;
            previous_incomplete = vdupq_n_u8(0);
        } else {
            uint8x16_t prev1 = vextq_u8(previous, input, 15);
            uint8x16_t prev2 = vextq_u8(previous, input, 14);
            uint8x16_t prev3 = vextq_u8(previous, input, 13);
            uint8x16_t special = vandq_u8(
                vandq_u8(vqtbl1q_u8(first_high, vshrq_n_u8(prev1, 4)),
                         vqtbl1q_u8(first_low, vandq_u8(prev1, nibble))),
                vqtbl1q_u8(second_high, vshrq_n_u8(input, 4)));
            uint8x16_t third = vqsubq_u8(prev2, vdupq_n_u8(0xE0 - 0x80));
            uint8x16_t fourth = vqsubq_u8(prev3, vdupq_n_u8(0xF0 - 0x80));
            uint8x16_t must_continue = vandq_u8(vorrq_u8(third, fourth), vdupq_n_u8(0x80));
            error = veorq_u8(must_continue, special);
            previous_incomplete = vqsubq_u8(input, incomplete_thresholds);
        }
        if (vmaxvq_u8(error) != 0) {
            break;
        }
        previous = input;
    }
    return i;
}
#endif

static utf8_kernel selected_kernel = NULL;
static const char *selected_name = "scalar";

void wsfast_utf8_init(int force_scalar)
{
    selected_kernel = NULL;
    selected_name = "scalar";
    if (force_scalar) return;
#if defined(WSFAST_X86_64)
    if (wsfast_cpu_has_avx2()) {
        selected_kernel = utf8_avx2;
        selected_name = "avx2";
    } else if (wsfast_cpu_has_ssse3()) {
        selected_kernel = utf8_ssse3;
        selected_name = "ssse3";
    }
#elif defined(WSFAST_ARM64)
    selected_kernel = utf8_neon;
    selected_name = "neon";
#endif
}

const char *wsfast_utf8_impl(void)
{
    return selected_name;
}

/* Below this many bytes, the vector kernel's set-up costs more than the scalar loop. */
#define VECTOR_THRESHOLD 64

ptrdiff_t wsfast_utf8_feed(wsfast_utf8_state *state, const unsigned char *data, size_t n,
                           int *is_start_error)
{
    size_t i = 0;
    /* Finish the sequence the previous fragment left open (at most 3 bytes). */
    while (state->remaining && i < n) {
        *is_start_error = 0;
        if (!utf8_step(state, data[i])) return (ptrdiff_t)i;
        i++;
    }
    if (selected_kernel != NULL && n - i >= VECTOR_THRESHOLD) {
        size_t resume = i + selected_kernel(data + i, n - i);
        /* Step back to the character boundary at or before `resume`: everything before it is
         * known valid, and the scalar machine takes over from there (a failed block is then
         * rescanned to name its first invalid byte; an unfinished tail gets its state). */
        size_t back;
        for (back = 1; back <= 3 && back <= resume - i; back++) {
            unsigned char byte = data[resume - back];
            if (byte >= 0xC0) {
                resume -= back;
                break;
            }
            if (byte < 0x80) break;
        }
        i = resume;
    }
    {
        ptrdiff_t error = utf8_scalar(state, data + i, n - i, is_start_error);
        return error < 0 ? -1 : (ptrdiff_t)i + error;
    }
}
