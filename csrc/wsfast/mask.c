/* Masking kernels. Byte i of a payload is XORed with byte i % 4 of the key (RFC 6455 §5.3);
 * every vector width used here is a multiple of 4, so a key repeated to the vector width keeps
 * the phase from one vector to the next. Plain (temporal) loads and stores: payloads are about
 * to be read again, and non-temporal stores measured slower while data sits in cache. */
#include <string.h>

#include "cpu.h"
#include "mask.h"

/* The key for a vector that starts at payload offset `offset`, as a little-endian word:
 * byte j of it is key[(offset + j) % 4]. */
static inline uint32_t key_word_at(const unsigned char *key, size_t offset)
{
    unsigned char rotated[4];
    uint32_t word;
    size_t k;
    for (k = 0; k < 4; k++) rotated[k] = key[(k + offset) & 3];
    memcpy(&word, rotated, 4);
    return word;
}

typedef void (*mask_kernel)(const unsigned char *, unsigned char *, size_t, const unsigned char *);

/* Handles whatever a wider kernel leaves: 8 bytes at a time, then single bytes. The key passed
 * in is already rotated to the phase of src[0]. */
static void mask_word64(const unsigned char *src, unsigned char *dst, size_t n,
                        const unsigned char *key)
{
    unsigned char key8[8];
    uint64_t key_word, word;
    size_t i = 0;
    memcpy(key8, key, 4);
    memcpy(key8 + 4, key, 4);
    memcpy(&key_word, key8, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, src + i, 8);
        word ^= key_word;
        memcpy(dst + i, &word, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

#ifdef WSFAST_X86_64
static void mask_sse2(const unsigned char *src, unsigned char *dst, size_t n,
                      const unsigned char *key)
{
    uint32_t key32;
    __m128i key_vector;
    size_t i = 0;
    memcpy(&key32, key, 4);
    key_vector = _mm_set1_epi32((int)key32);
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key_vector));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, key_vector));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, key_vector));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, key_vector));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key_vector));
    }
    mask_word64(src + i, dst + i, n - i, key);
}

WSFAST_TARGET_AVX2
static void mask_avx2(const unsigned char *src, unsigned char *dst, size_t n,
                      const unsigned char *key)
{
    uint32_t key32;
    __m256i key_vector;
    unsigned char rotated[4];
    size_t i = (32 - ((uintptr_t)dst & 31)) & 31;
    /* Unaligned stores that straddle cache lines cost more than unaligned loads: mask up to
     * 31 bytes so that the stores below land on 32-byte boundaries, then rotate the key to
     * the phase of the first aligned byte. */
    if (i > n) i = n;
    mask_word64(src, dst, i, key);
    key32 = key_word_at(key, i);
    memcpy(rotated, &key32, 4);
    key = rotated;
    key_vector = _mm256_set1_epi32((int)key32);
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_store_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key_vector));
        _mm256_store_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, key_vector));
        _mm256_store_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, key_vector));
        _mm256_store_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, key_vector));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_store_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key_vector));
    }
    /* Avoid AVX-SSE transition penalties in the scalar code that follows. */
    _mm256_zeroupper();
    mask_word64(src + i, dst + i, n - i, key);
}
#endif

#ifdef WSFAST_ARM64
static void mask_neon(const unsigned char *src, unsigned char *dst, size_t n,
                      const unsigned char *key)
{
    uint32_t key32;
    uint8x16_t key_vector;
    size_t i = 0;
    memcpy(&key32, key, 4);
    key_vector = vreinterpretq_u8_u32(vdupq_n_u32(key32));
    for (; i + 64 <= n; i += 64) {
        uint8x16_t a = vld1q_u8(src + i), b = vld1q_u8(src + i + 16);
        uint8x16_t c = vld1q_u8(src + i + 32), d = vld1q_u8(src + i + 48);
        vst1q_u8(dst + i, veorq_u8(a, key_vector));
        vst1q_u8(dst + i + 16, veorq_u8(b, key_vector));
        vst1q_u8(dst + i + 32, veorq_u8(c, key_vector));
        vst1q_u8(dst + i + 48, veorq_u8(d, key_vector));
    }
    for (; i + 16 <= n; i += 16) {
        vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), key_vector));
    }
    mask_word64(src + i, dst + i, n - i, key);
}
#endif

#define SMALL_PAYLOAD 256

static mask_kernel selected_kernel = mask_word64;
static const char *selected_name = "word64";
/* Whether small payloads may use the baseline vector unit (not when scalar is forced). */
static int small_payload_simd = 0;

void wsfast_mask_init(int force_scalar)
{
    if (force_scalar) {
        selected_kernel = mask_word64;
        selected_name = "word64";
        small_payload_simd = 0;
        return;
    }
    small_payload_simd = 1;
#if defined(WSFAST_X86_64)
    if (wsfast_cpu_has_avx2()) {
        selected_kernel = mask_avx2;
        selected_name = "avx2";
    } else {
        selected_kernel = mask_sse2;
        selected_name = "sse2";
    }
#elif defined(WSFAST_ARM64)
    selected_kernel = mask_neon;
    selected_name = "neon";
#endif
}

const char *wsfast_mask_impl(void)
{
    return selected_name;
}


/* Small payloads (most WebSocket messages, and every control frame) are masked inline here:
 * below a few vectors the wide kernels' call, alignment prologue and AVX state cleanup cost
 * more than the XOR itself. The last, partial vector is covered by a full one ending at the
 * payload's end, overlapping the one before: it is loaded before anything is stored, so the
 * overlap is written twice with the same bytes even when masking in place. */
static void mask_small(const unsigned char *src, unsigned char *dst, size_t n,
                       const unsigned char *key)
{
    uint32_t key32, last32, head32, tail32;
    uint64_t key64, last64, word;
    size_t i;
    memcpy(&key32, key, 4);
#ifdef WSFAST_X86_64
    if (n >= 16 && small_payload_simd) {
        /* SSE2 is part of the x86-64 baseline. */
        __m128i key_vector = _mm_set1_epi32((int)key32);
        __m128i last = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + n - 16)),
                                     _mm_set1_epi32((int)key_word_at(key, n - 16)));
        for (i = 0; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key_vector));
        }
        _mm_storeu_si128((__m128i *)(dst + n - 16), last);
        return;
    }
#endif
    if (n >= 8) {
        key64 = ((uint64_t)key32 << 32) | key32;
        memcpy(&last64, src + n - 8, 8);
        last32 = key_word_at(key, n - 8);
        last64 ^= ((uint64_t)last32 << 32) | last32;
        for (i = 0; i + 8 <= n; i += 8) {
            memcpy(&word, src + i, 8);
            word ^= key64;
            memcpy(dst + i, &word, 8);
        }
        memcpy(dst + n - 8, &last64, 8);
    } else if (n >= 4) {
        memcpy(&head32, src, 4);
        memcpy(&tail32, src + n - 4, 4);
        head32 ^= key32;
        tail32 ^= key_word_at(key, n - 4);
        memcpy(dst, &head32, 4);
        memcpy(dst + n - 4, &tail32, 4);
    } else {
        for (i = 0; i < n; i++) dst[i] = src[i] ^ key[i];
    }
}

void wsfast_mask(const unsigned char *src, unsigned char *dst, size_t n,
                 const unsigned char key[4], size_t phase)
{
    unsigned char rotated[4];
    uint32_t rotated_word;
    if (phase & 3) {
        rotated_word = key_word_at(key, phase);
        memcpy(rotated, &rotated_word, 4);
        key = rotated;
    }
    if (n >= SMALL_PAYLOAD) {
        selected_kernel(src, dst, n, key);
    } else {
        mask_small(src, dst, n, key);
    }
}
