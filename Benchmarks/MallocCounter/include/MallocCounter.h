// Counts heap allocations (malloc, calloc, realloc, the aligned variants) made anywhere in the
// process while counting is on, so nn-bench can measure allocations per training step instead of
// assuming them. The counter replaces glibc's allocator entry points and forwards to glibc's own.
#ifndef NN_MALLOC_COUNTER_H
#define NN_MALLOC_COUNTER_H

/// 1 when this build can count (not under a sanitizer, which owns malloc itself).
int nn_malloc_counter_available(void);
void nn_malloc_counter_set_enabled(int enabled);
unsigned long nn_malloc_counter_count(void);
void nn_malloc_counter_reset(void);

#endif
