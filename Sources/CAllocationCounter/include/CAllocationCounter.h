#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Starts counting heap allocations made by the calling thread.
void sl_alloc_counting_begin(void);
/// Stops counting and returns how many allocations the calling thread made.
uint64_t sl_alloc_counting_end(void);

#endif
