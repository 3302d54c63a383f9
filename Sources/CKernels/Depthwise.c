// Depthwise convolution (depth multiplier 1) over NHWC images; see CKernels.h.
//
// In NHWC every tap of a depthwise convolution is an element-wise product of two contiguous
// channel vectors, so the loops below run across channels in blocks of 64, 32 or 16 (up to four
// 16-float vectors held in registers: one zmm each with AVX-512, two ymm with AVX2), then 8, then
// one at a time, and keep the sum of all taps in registers, writing each output once instead of
// once per tap. The block functions are inlined with a constant block size, so their loops over
// the vectors unroll and the accumulators stay in registers.
#include "CKernels.h"
#include "Common.h"

#define NN_INLINE static inline __attribute__((always_inline))

// Unaligned 16- and 8-float vectors (GCC/Clang vector extensions, lowered to the clone's width).
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

static inline long max_l(long a, long b) { return a > b ? a : b; }
static inline long min_l(long a, long b) { return a < b ? a : b; }

/// The taps along one axis that read input position `i`: k = first, first + stride, … ≤ last, each
/// from output position (i + pad − k) / stride. Computed once per position, so the loops over
/// channel blocks need no division.
typedef struct { long first, last, output; } tap_range;

static inline tap_range taps_reading(long i, long pad, long stride, long kernel, long outputs) {
    const long t = i + pad;                                   // = o·stride + k
    long first = max_l(0, t - (outputs - 1) * stride);        // o ≤ outputs − 1
    first += ((t - first) % stride + stride) % stride;        // (t − k) divisible by the stride
    tap_range r = { first, min_l(kernel - 1, t), (t - first) / stride };
    return r;
}

// ---- forward -------------------------------------------------------------------------------

/// y[c ..< c + 16·nv] = bias + Σ taps (kh in [0, nh), kw in [0, nw), from the first tap inside the image) x·k.
NN_INLINE void forward_block16(int nv, const float *x, const float *kernel, const float *bias, float *y,
                               long W, long C, long KW, long nh, long nw) {
    v16 a[4];
    for (int i = 0; i < nv; i++) a[i] = bias ? *(const v16 *)(bias + 16 * i) : (v16){0};
    for (long kh = 0; kh < nh; kh++) {
        for (long kw = 0; kw < nw; kw++) {
            const float *xp = x + (kh * W + kw) * C, *kp = kernel + (kh * KW + kw) * C;
            for (int i = 0; i < nv; i++) a[i] += *(const v16 *)(xp + 16 * i) * *(const v16 *)(kp + 16 * i);
        }
    }
    for (int i = 0; i < nv; i++) *(v16 *)(y + 16 * i) = a[i];
}

NN_CLONES
void nn_depthwise_forward_row(const nn_window_geometry *g, const float *x, const float *kernel,
                              const float *bias, float *yRow, long image, long oh) {
    const long C = g->channels, H = g->inputHeight, W = g->inputWidth, KW = g->kernelWidth;
    const long ih0 = oh * g->strideHeight - g->padTop;
    // Taps whose input row is inside the image: padding contributes zeros, so they are skipped.
    const long khLow = max_l(0, -ih0), khHigh = min_l(g->kernelHeight, H - ih0);
    const float *xImage = x + image * H * W * C;
    for (long ow = 0; ow < g->outputWidth; ow++) {
        const long iw0 = ow * g->strideWidth - g->padLeft;
        const long kwLow = max_l(0, -iw0), kwHigh = min_l(KW, W - iw0);
        float *y = yRow + ow * C;
        // Only taps inside the image: the pointers start at the first of them (tap (khLow, kwLow))
        // so that no address outside x is ever formed; x + (kh·W + kw)·C + c is then input pixel
        // (ih0 + khLow + kh, iw0 + kwLow + kw), channel c, and k likewise.
        const long nh = khHigh - khLow, nw = kwHigh - kwLow;
        if (nh <= 0 || nw <= 0) {
            for (long c = 0; c < C; c++) y[c] = bias ? bias[c] : 0;
            continue;
        }
        const float *xFirst = xImage + ((ih0 + khLow) * W + iw0 + kwLow) * C;
        const float *kFirst = kernel + (khLow * KW + kwLow) * C;
        long c = 0;
        for (; c + 64 <= C; c += 64)
            forward_block16(4, xFirst + c, kFirst + c, bias ? bias + c : 0, y + c, W, C, KW, nh, nw);
        if (c + 32 <= C) {
            forward_block16(2, xFirst + c, kFirst + c, bias ? bias + c : 0, y + c, W, C, KW, nh, nw);
            c += 32;
        }
        if (c + 16 <= C) {
            forward_block16(1, xFirst + c, kFirst + c, bias ? bias + c : 0, y + c, W, C, KW, nh, nw);
            c += 16;
        }
        if (c + 8 <= C) {
            v8 a = bias ? *(const v8 *)(bias + c) : (v8){0};
            for (long kh = 0; kh < nh; kh++)
                for (long kw = 0; kw < nw; kw++)
                    a += *(const v8 *)(xFirst + (kh * W + kw) * C + c) * *(const v8 *)(kFirst + (kh * KW + kw) * C + c);
            *(v8 *)(y + c) = a;
            c += 8;
        }
        for (; c < C; c++) {
            float a = bias ? bias[c] : 0;
            for (long kh = 0; kh < nh; kh++)
                for (long kw = 0; kw < nw; kw++) a += xFirst[(kh * W + kw) * C + c] * kFirst[(kh * KW + kw) * C + c];
            y[c] = a;
        }
    }
}

// ---- backward ------------------------------------------------------------------------------

/// dk[c ..< c + 16·nv] += Σ_(ow in [owLow, owHigh)) x[ow·xStep]·dz[ow·C]: one tap over one output
/// row, the row's partial sum in registers, added once.
NN_INLINE void tap_gradient16(int nv, const float *x, long xStep, const float *dz, long C,
                              long owLow, long owHigh, float *dk) {
    v16 a[4];
    for (int i = 0; i < nv; i++) a[i] = (v16){0};
    for (long ow = owLow; ow < owHigh; ow++) {
        const float *xp = x + ow * xStep, *dp = dz + ow * C;
        for (int i = 0; i < nv; i++) a[i] += *(const v16 *)(xp + 16 * i) * *(const v16 *)(dp + 16 * i);
    }
    for (int i = 0; i < nv; i++) *(v16 *)(dk + 16 * i) += a[i];
}

NN_INLINE void tap_gradient(const float *x, long xStep, const float *dz, long C, long owLow, long owHigh, float *dk) {
    long c = 0;
    for (; c + 64 <= C; c += 64) tap_gradient16(4, x + c, xStep, dz + c, C, owLow, owHigh, dk + c);
    if (c + 32 <= C) { tap_gradient16(2, x + c, xStep, dz + c, C, owLow, owHigh, dk + c); c += 32; }
    if (c + 16 <= C) { tap_gradient16(1, x + c, xStep, dz + c, C, owLow, owHigh, dk + c); c += 16; }
    if (c + 8 <= C) {
        v8 a = {0};
        for (long ow = owLow; ow < owHigh; ow++) a += *(const v8 *)(x + ow * xStep + c) * *(const v8 *)(dz + ow * C + c);
        *(v8 *)(dk + c) += a;
        c += 8;
    }
    for (; c < C; c++) {
        float a = 0;
        for (long ow = owLow; ow < owHigh; ow++) a += x[ow * xStep + c] * dz[ow * C + c];
        dk[c] += a;
    }
}

/// dx[c ..< c + 16·nv] = Σ over the taps that read this pixel (rows r, columns q) of k·dz.
NN_INLINE void input_gradient_block16(int nv, const float *kernel, const float *dz, float *dx, long C, long KW,
                                      long OW, tap_range r, long sh, tap_range q, long sw) {
    v16 a[4];
    for (int i = 0; i < nv; i++) a[i] = (v16){0};
    for (long kh = r.first, oh = r.output; kh <= r.last; kh += sh, oh--) {
        for (long kw = q.first, ow = q.output; kw <= q.last; kw += sw, ow--) {
            const float *kp = kernel + (kh * KW + kw) * C, *dp = dz + (oh * OW + ow) * C;
            for (int i = 0; i < nv; i++) a[i] += *(const v16 *)(kp + 16 * i) * *(const v16 *)(dp + 16 * i);
        }
    }
    for (int i = 0; i < nv; i++) *(v16 *)(dx + 16 * i) = a[i];
}

NN_CLONES
void nn_depthwise_backward_image(const nn_window_geometry *g, const float *x, const float *kernel,
                                 const float *outputGradient, float *inputGradient,
                                 float *kernelGradient, long image) {
    const long C = g->channels, H = g->inputHeight, W = g->inputWidth;
    const long KH = g->kernelHeight, KW = g->kernelWidth, OH = g->outputHeight, OW = g->outputWidth;
    const long sh = g->strideHeight, sw = g->strideWidth;
    const float *xImage = x + image * H * W * C;
    const float *dzImage = outputGradient + image * OH * OW * C;

    // Kernel gradient: for each output row and tap, the output columns whose input column is
    // inside the image (iw = ow·sw − padLeft + kw in [0, W)).
    for (long oh = 0; oh < OH; oh++) {
        const long ih0 = oh * sh - g->padTop;
        const float *dzRow = dzImage + oh * OW * C;
        for (long kh = max_l(0, -ih0); kh < min_l(KH, H - ih0); kh++) {
            const float *xRow = xImage + (ih0 + kh) * W * C;
            for (long kw = 0; kw < KW; kw++) {
                const long shift = g->padLeft - kw;   // iw = ow·sw − shift
                const long owLow = shift <= 0 ? 0 : (shift + sw - 1) / sw;
                const long last = W - 1 + shift;
                const long owHigh = last < 0 ? 0 : min_l(OW, last / sw + 1);
                if (owHigh <= owLow) continue;
                // x at output column ow is xRow + (ow·sw − shift)·C; both pointers start at column
                // owLow (inside the image), so no address outside x is formed.
                tap_gradient(xRow + (owLow * sw - shift) * C, sw * C, dzRow + owLow * C, C, 0, owHigh - owLow,
                             kernelGradient + (kh * KW + kw) * C);
            }
        }
    }
    if (!inputGradient) return;

    // Input gradient, gathered: each input pixel sums the taps that read it, rows then columns
    // in descending output order (kh ascending), and is written once.
    float *dxImage = inputGradient + image * H * W * C;
    for (long ih = 0; ih < H; ih++) {
        const tap_range r = taps_reading(ih, g->padTop, sh, KH, OH);
        for (long iw = 0; iw < W; iw++) {
            const tap_range q = taps_reading(iw, g->padLeft, sw, KW, OW);
            float *dx = dxImage + (ih * W + iw) * C;
            long c = 0;
            for (; c + 64 <= C; c += 64) input_gradient_block16(4, kernel + c, dzImage + c, dx + c, C, KW, OW, r, sh, q, sw);
            if (c + 32 <= C) { input_gradient_block16(2, kernel + c, dzImage + c, dx + c, C, KW, OW, r, sh, q, sw); c += 32; }
            if (c + 16 <= C) { input_gradient_block16(1, kernel + c, dzImage + c, dx + c, C, KW, OW, r, sh, q, sw); c += 16; }
            if (c + 8 <= C) {
                v8 a = {0};
                for (long kh = r.first, oh = r.output; kh <= r.last; kh += sh, oh--)
                    for (long kw = q.first, ow = q.output; kw <= q.last; kw += sw, ow--)
                        a += *(const v8 *)(kernel + (kh * KW + kw) * C + c) * *(const v8 *)(dzImage + (oh * OW + ow) * C + c);
                *(v8 *)(dx + c) = a;
                c += 8;
            }
            for (; c < C; c++) {
                float a = 0;
                for (long kh = r.first, oh = r.output; kh <= r.last; kh += sh, oh--)
                    for (long kw = q.first, ow = q.output; kw <= q.last; kw += sw, ow--)
                        a += kernel[(kh * KW + kw) * C + c] * dzImage[(oh * OW + ow) * C + c];
                dx[c] = a;
            }
        }
    }
}
