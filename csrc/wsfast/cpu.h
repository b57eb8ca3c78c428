/* Compile-time platform facts and run-time CPU feature checks for wsfast's SIMD kernels.
 *
 * Wheels are built for a baseline CPU (SSE2 on x86-64, NEON on arm64), so wider kernels are
 * compiled with per-function target attributes and chosen once, at import, by asking the CPU.
 */
#ifndef WSFAST_CPU_H
#define WSFAST_CPU_H

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#  define WSFAST_X86_64 1
#  include <immintrin.h>
#  if defined(_MSC_VER) && !defined(__clang__)
#    include <intrin.h>
     /* MSVC accepts AVX2 intrinsics in any function; no attribute needed. */
#    define WSFAST_TARGET_AVX2
#    define WSFAST_TARGET_SSSE3
#  else
#    define WSFAST_TARGET_AVX2 __attribute__((target("avx2")))
#    define WSFAST_TARGET_SSSE3 __attribute__((target("ssse3")))
#  endif
#elif defined(__aarch64__) || defined(_M_ARM64)
   /* NEON is part of the AArch64 baseline: no run-time check needed. */
#  define WSFAST_ARM64 1
#  include <arm_neon.h>
#endif

#ifdef WSFAST_X86_64
static inline int wsfast_cpu_has_avx2(void) {
#  if defined(_MSC_VER) && !defined(__clang__)
    int info[4];
    __cpuid(info, 0);
    if (info[0] < 7) return 0;
    __cpuid(info, 1);
    /* AVX needs OSXSAVE and the OS saving YMM state (XCR0 bits 1 and 2). */
    if (!(info[2] & (1 << 27)) || !(info[2] & (1 << 28))) return 0;
    if ((_xgetbv(0) & 6) != 6) return 0;
    __cpuidex(info, 7, 0);
    return (info[1] & (1 << 5)) != 0;
#  else
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#  endif
}

static inline int wsfast_cpu_has_ssse3(void) {
#  if defined(_MSC_VER) && !defined(__clang__)
    int info[4];
    __cpuid(info, 1);
    return (info[2] & (1 << 9)) != 0;
#  else
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3");
#  endif
}
#endif

#endif
