// Shared by the CKernels sources: the clone set every kernel is built for.
#ifndef NN_CKERNELS_COMMON_H
#define NN_CKERNELS_COMMON_H
#if defined(__x86_64__)
/// AVX-512, AVX2+FMA and baseline versions of a function; the loader picks one for the CPU.
#define NN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_CLONES
#endif
#endif
