#ifndef NN_CKERNELS_H
#define NN_CKERNELS_H
/// Inner loops the engine keeps in C so that they can be compiled for several instruction sets at
/// once. Swift code is built for baseline x86-64 (SSE2: 4 floats per instruction, no FMA); these
/// functions carry AVX-512 and AVX2+FMA clones that the loader picks for the CPU it runs on
/// (`target_clones`, an ifunc), so one binary uses the machine's full vector width.
/// Every function sums each output in one fixed order, so a call's results depend on the machine's
/// clone (the AVX2/AVX-512 clones fuse multiply-adds) and not on which thread makes it. Where the
/// caller adds partial sums of several calls (the depthwise kernel gradient per batch part,
/// BatchNormalization's per-part statistics), it adds them in part order: deterministic for a given
/// thread count, as the rest of the engine.

/// A sliding window over NHWC images, as `ConvGeometry` describes it.
typedef struct {
    long inputHeight, inputWidth, channels;
    long outputHeight, outputWidth;
    long kernelHeight, kernelWidth;
    long strideHeight, strideWidth;
    long padTop, padLeft;
} nn_window_geometry;

/// One output row (image `image`, row `oh`) of a depthwise convolution with depth multiplier 1:
/// y[ow][c] = bias[c] + Σ over the taps inside the image, rows then columns, of x[ih][iw][c]·k[kh][kw][c].
/// `bias` may be NULL (0). `yRow` points at the row's first value.
void nn_depthwise_forward_row(const nn_window_geometry *g, const float *x, const float *kernel,
                              const float *bias, float *yRow, long image, long oh);

/// A depthwise convolution's (depth multiplier 1) backward pass for one image:
/// kernelGradient[kh][kw][c] += Σ_(oh, ow) x[ih][iw][c]·dz[oh][ow][c], summed one output row at a
/// time, and, when `inputGradient` is not NULL, the image's input gradient
/// dx[ih][iw][c] = Σ over the taps that read it of k[kh][kw][c]·dz[oh][ow][c] (written, not added).
void nn_depthwise_backward_image(const nn_window_geometry *g, const float *x, const float *kernel,
                                 const float *outputGradient, float *inputGradient,
                                 float *kernelGradient, long image);

/// BatchNormalization's passes over `rows` rows of `channels` values (NHWC flattened), each row in
/// order, so every per-channel sum is added in row order as a plain loop would.
/// sum[j] += Σ_rows x[r][j], or Σ_rows (x[r][j] − center[j])² when `center` is not NULL.
void nn_batchnorm_sums(const float *x, const float *center, long rows, long channels, float *sum);

/// The activation a training pass fuses into BatchNormalization when it runs in place on the
/// normalization's output: none (0), ReLU or ReLU6.
enum { NN_BATCHNORM_RELU = 1, NN_BATCHNORM_RELU6 = 2 };

/// sum[j] += Σ_rows g[r][j];  dot[j] += Σ_rows g[r][j]·x̂[r][j] with x̂ = (x − mean)·inverseStd, where g is
/// dy, or with an `activation` dy masked where the activation's output `y` did not pass its input.
void nn_batchnorm_gradient_sums(const float *dy, const float *y, int activation, const float *x, const float *mean,
                                const float *inverseStd, long rows, long channels, float *sum, float *dot);

/// y = activation(gamma·(x − mean)·inverseStd + beta).
void nn_batchnorm_normalize(const float *x, const float *mean, const float *inverseStd, const float *gamma,
                            const float *beta, float *y, long rows, long channels, int activation);

/// dx = gamma·inverseStd·(g − meanGradient − x̂·meanDot) when `meanGradient` is not NULL (batch
/// statistics), else gamma·inverseStd·g (the statistics were constants); g as for the gradient sums.
/// `dx` may be `dy` (written over it).
void nn_batchnorm_input_gradient(const float *dy, const float *y, int activation, const float *x, const float *mean,
                                 const float *gamma, const float *inverseStd, const float *meanGradient,
                                 const float *meanDot, float *dx, long rows, long channels);

/// Winograd F(2×2, 3×3)'s transforms (`Sources/NN/Kernels/Winograd.swift` documents the algorithm
/// and the `[16][T][channels]` layouts) over `images` consecutive NHWC images, T = images · tiles.
/// V = Bᵀ d B for every 4×4 input patch; taps in the padding read `zeros` (at least C floats).
void nn_winograd_input(const nn_window_geometry *g, const float *x, long images, const float *zeros, float *v);

/// dX += B dV Bᵀ, tile after tile in order (neighbouring patches overlap: one caller per image);
/// taps in the padding are dropped.
void nn_winograd_scatter_input_gradient(const nn_window_geometry *g, const float *dv, long images, float *dx);

/// Y = Aᵀ M A for every tile, written into NHWC `z`; the halves of edge tiles past the output are dropped.
void nn_winograd_output(const nn_window_geometry *g, const float *m, long images, long filters, float *z);

/// dM = A dY Aᵀ for every tile (outputs past the edge count as zero).
void nn_winograd_output_gradient(const nn_window_geometry *g, const float *dz, long images, long filters, float *dm);

/// The same four transforms for Winograd F(4×4, 3×3): 6×6 input patches, 4×4 output tiles, `[36][T][channels]`.
void nn_winograd4x4_input(const nn_window_geometry *g, const float *x, long images, const float *zeros, float *v);
void nn_winograd4x4_scatter_input_gradient(const nn_window_geometry *g, const float *dv, long images, float *dx);
void nn_winograd4x4_output(const nn_window_geometry *g, const float *m, long images, long filters, float *z);
void nn_winograd4x4_output_gradient(const nn_window_geometry *g, const float *dz, long images, long filters, float *dm);

/// The most floats of B (k·n) `nn_sgemm_small` and `nn_sgemm_small_bt` take: 32 KB, L1's size.
#define NN_SMALL_GEMM_MAXIMUM_B 8192

/// C (m×n) = A (m×k) · B (k×n), or C += A · B when `accumulate` is nonzero; row-major with row
/// strides lda, ldb, ldc; k·n ≤ NN_SMALL_GEMM_MAXIMUM_B (see SmallGEMM.c). Each C element is one
/// sum in k order.
void nn_sgemm_small(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                    int accumulate);

/// The same with B given transposed: `bt` is n×k with row stride ldbt.
void nn_sgemm_small_bt(long m, long n, long k, const float *a, long lda, const float *bt, long ldbt, float *c, long ldc,
                       int accumulate);
#endif
