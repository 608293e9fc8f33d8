// Counts heap allocations per thread by interposing the allocator entry points
// of the process and forwarding them to glibc's internal implementations.
// Linked only into test and benchmark executables.
#define _GNU_SOURCE
#include "CAllocationCounter.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

// initial-exec: reading the counters must never call into the allocator.
static __thread int sl_counting __attribute__((tls_model("initial-exec")));
static __thread uint64_t sl_count __attribute__((tls_model("initial-exec")));
// Who made the first counted allocation: a failing test names its source.
static __thread void *sl_first_caller __attribute__((tls_model("initial-exec")));

#define sl_note()                                                                   \
    do {                                                                            \
        if (sl_counting) {                                                          \
            if (sl_count == 0) sl_first_caller = __builtin_return_address(0);       \
            sl_count += 1;                                                          \
        }                                                                           \
    } while (0)

void sl_alloc_counting_begin(void) {
    sl_count = 0;
    sl_first_caller = NULL;
    sl_counting = 1;
}

const char *sl_alloc_first_caller(void) {
    static __thread char description[512];
    if (sl_first_caller == NULL) return NULL;
    Dl_info info;
    if (dladdr(sl_first_caller, &info) && info.dli_fname != NULL) {
        uintptr_t offset = (uintptr_t)sl_first_caller - (uintptr_t)info.dli_fbase;
        snprintf(description, sizeof description, "%s+0x%lx (%s)", info.dli_fname, (unsigned long)offset,
                 info.dli_sname != NULL ? info.dli_sname : "no symbol");
    } else {
        snprintf(description, sizeof description, "%p", sl_first_caller);
    }
    return description;
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
