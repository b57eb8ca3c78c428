# cython: language_level=3, freethreading_compatible=True
"""C declarations shared by wsfast's Cython modules."""

cdef extern from "mask.h" nogil:
    void wsfast_mask_init(int force_scalar)
    const char *wsfast_mask_impl()
    void wsfast_mask(const unsigned char *src, unsigned char *dst, size_t n,
                     const unsigned char *key, size_t phase) noexcept

cdef extern from "utf8.h" nogil:
    ctypedef struct wsfast_utf8_state:
        unsigned char remaining
        unsigned char low
        unsigned char high
        unsigned char pending
    void wsfast_utf8_init(int force_scalar)
    const char *wsfast_utf8_impl()
    Py_ssize_t wsfast_utf8_feed(wsfast_utf8_state *state, const unsigned char *data, size_t n,
                                int *is_start_error) noexcept


cdef class Utf8Validator:
    cdef wsfast_utf8_state _state
    cdef Py_ssize_t _consumed
    # The unfinished sequence's bytes, kept to report them if the message ends there.
    cdef unsigned char _pending_bytes[4]
    cdef object _error

    cdef int _feed(self, const unsigned char *data, Py_ssize_t n) except -1
    cdef int _finish(self) except -1
