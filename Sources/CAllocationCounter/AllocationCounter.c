// Counts heap allocations per thread, to prove that hot paths allocate nothing.
// Linked into an executable, these definitions interpose glibc's allocator for
// the whole process (the dynamic linker resolves malloc to the executable
// first) and forward to glibc's own entry points. Only the thread that called
// sl_alloc_counting_begin() counts, so test-runner threads cannot disturb it.
#define _GNU_SOURCE
#include "CAllocationCounter.h"
#include <errno.h>
#include <stddef.h>

#if defined(__linux__) && defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread uint64_t count;

static inline void note(void) { if (counting) count++; }

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t m, size_t n) { note(); return __libc_calloc(m, n); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
void *valloc(size_t n) { note(); return __libc_memalign(4096, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void sl_alloc_counting_begin(void) { count = 0; counting = 1; }
uint64_t sl_alloc_counting_end(void) { counting = 0; return count; }
#else
// Elsewhere nothing is interposed; callers see UINT64_MAX and must not trust it.
void sl_alloc_counting_begin(void) {}
uint64_t sl_alloc_counting_end(void) { return UINT64_MAX; }
#endif
