#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Starts counting heap allocations (malloc, calloc, realloc, posix_memalign,
/// aligned_alloc, memalign, valloc) made by the calling thread; resets its count.
void sl_alloc_counting_begin(void);

/// Stops counting on the calling thread and returns the number of allocation
/// calls made by it since sl_alloc_counting_begin().
uint64_t sl_alloc_counting_end(void);
/// The caller of the first allocation counted since the last
/// sl_alloc_counting_begin() (library+offset and nearest symbol), in a
/// buffer of the calling thread valid until the next call; NULL if there was
/// none. Call after sl_alloc_counting_end().
const char *sl_alloc_first_caller(void);

#ifdef __cplusplus
}
#endif

#endif
