/* Masking and unmasking of WebSocket payloads (RFC 6455 §5.3). */
#ifndef WSFAST_MASK_H
#define WSFAST_MASK_H

#include <stddef.h>
#include <stdint.h>

/* Pick the fastest kernel this CPU runs; `force_scalar` keeps the portable one. Call once. */
void wsfast_mask_init(int force_scalar);

/* Name of the kernel picked: "avx2", "sse2", "neon" or "word64". */
const char *wsfast_mask_impl(void);

/* dst[i] = src[i] ^ key[(i + phase) % 4] for i < n; dst may equal src. */
void wsfast_mask(const unsigned char *src, unsigned char *dst, size_t n,
                 const unsigned char key[4], size_t phase);

#endif
