// Counts heap allocations per thread by interposing the allocator entry points
// of the process and forwarding them to glibc's internal implementations.
// Linked only into test and benchmark executables.
#include "CAllocationCounter.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

// initial-exec: reading the counters must never call into the allocator.
static __thread int sl_counting __attribute__((tls_model("initial-exec")));
static __thread uint64_t sl_count __attribute__((tls_model("initial-exec")));

static inline void sl_note(void) {
    if (sl_counting) sl_count += 1;
}

void sl_alloc_counting_begin(void) {
    sl_count = 0;
    sl_counting = 1;
}

uint64_t sl_alloc_counting_end(void) {
    sl_counting = 0;
    return sl_count;
}

void *malloc(size_t size) {
    sl_note();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    sl_note();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    sl_note();
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    sl_note();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    sl_note();
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    sl_note();
    return __libc_memalign(4096, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    sl_note();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}
