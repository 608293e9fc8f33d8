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

#ifdef __cplusplus
}
#endif

#endif
