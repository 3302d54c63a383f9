// See include/MallocCounter.h. Sanitizers interpose malloc themselves, so under one the counter
// defines nothing and reports that it is unavailable.
#include "MallocCounter.h"
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#    define NN_MALLOC_COUNTER_DISABLED 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(__linux__)
#  define NN_MALLOC_COUNTER_DISABLED 1
#endif

static atomic_int counting;
static atomic_ulong allocations;

void nn_malloc_counter_set_enabled(int enabled) { atomic_store(&counting, enabled); }
unsigned long nn_malloc_counter_count(void) { return atomic_load(&allocations); }
void nn_malloc_counter_reset(void) { atomic_store(&allocations, 0); }

#ifdef NN_MALLOC_COUNTER_DISABLED
int nn_malloc_counter_available(void) { return 0; }
#else
int nn_malloc_counter_available(void) { return 1; }

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static inline void count(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif
