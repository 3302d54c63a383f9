// The engine's own GEMM for products with a small inner dimension and few columns (the 1×1
// convolutions of MobileNets' first blocks, Winograd's per-position products); see CKernels.h and
// Sources/NN/Kernels/BLAS.swift, which decides when it runs instead of cblas_sgemm.
//
// OpenBLAS packs A and B into panels and zeroes C before every call (β = 0). When K·N is small, B
// fits in L1 and that overhead is most of the call: at K = 32, N = 64 its kernel ran at 25–45% of
// its own square-1024 speed on this project's AVX2 machine. Here B is read in place (each column
// block's K rows stay in L1), each A value is broadcast straight from memory, and C is written once.
//
// Register blocking: 6 rows × 16 columns = 12 accumulators of 8 floats, updated with one broadcast
// of A and two vectors of B per k (the classic 6×16 AVX2 micro-tile); then 8 columns, then single
// columns, and the rows left over one at a time. Each C element is one sum in k order (fused
// multiply-adds where the clone has them), whatever the blocking or the rows a thread is given.
#include "CKernels.h"
#include "Common.h"

typedef float f8 __attribute__((ext_vector_type(8), aligned(4)));

#define LOAD8(p) (*(const f8 *)(p))
#define STORE8(p, v) (*(f8 *)(p) = (v))

/// C[R rows][8·V columns] (=, or += when `accumulate`) A[R][k] · B[k][8·V]. R ≤ 6 and V ≤ 2 are
/// constants after inlining, so the accumulators live in registers.
static inline __attribute__((always_inline)) void
micro_tile(const int R, const int V, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
           int accumulate) {
    f8 acc[6][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = accumulate ? LOAD8(c + r * ldc + 8 * v) : (f8)0;
    for (long p = 0; p < k; p++) {
        f8 bv[2];
        for (int v = 0; v < V; v++) bv[v] = LOAD8(b + p * ldb + 8 * v);
        for (int r = 0; r < R; r++) {
            const f8 x = a[r * lda + p];
            for (int v = 0; v < V; v++) acc[r][v] += x * bv[v];
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) STORE8(c + r * ldc + 8 * v, acc[r][v]);
}

/// R rows of C across all n columns: 16 at a time, then 8, then one.
static inline __attribute__((always_inline)) void
row_block(const int R, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
          int accumulate) {
    long j = 0;
    for (; j + 16 <= n; j += 16) micro_tile(R, 2, k, a, lda, b + j, ldb, c + j, ldc, accumulate);
    if (j + 8 <= n) { micro_tile(R, 1, k, a, lda, b + j, ldb, c + j, ldc, accumulate); j += 8; }
    for (; j < n; j++) {
        for (int r = 0; r < R; r++) {
            float s = accumulate ? c[r * ldc + j] : 0;
            for (long p = 0; p < k; p++) s += a[r * lda + p] * b[p * ldb + j];
            c[r * ldc + j] = s;
        }
    }
}

static inline __attribute__((always_inline)) void
gemm(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int accumulate) {
    long i = 0;
    for (; i + 6 <= m; i += 6) row_block(6, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
    for (; i < m; i++) row_block(1, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
}

NN_CLONES
void nn_sgemm_small(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                    int accumulate) {
    gemm(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

NN_CLONES
void nn_sgemm_small_bt(long m, long n, long k, const float *a, long lda, const float *bt, long ldbt, float *c, long ldc,
                       int accumulate) {
    // Bᵀ's columns would be strided vector loads: transpose it once (at most 32 KB, on the stack).
    float b[NN_SMALL_GEMM_MAXIMUM_B];
    for (long p = 0; p < k; p++)
        for (long j = 0; j < n; j++) b[p * n + j] = bt[j * ldbt + p];
    gemm(m, n, k, a, lda, b, n, c, ldc, accumulate);
}
