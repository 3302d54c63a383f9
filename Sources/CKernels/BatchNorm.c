// BatchNormalization's per-element passes; see CKernels.h. Plain loops over channels with
// `restrict` pointers: the compiler vectorizes them at each clone's width. Rows are visited in
// order, so each per-channel sum has the order of the scalar loop it replaces.
#include "CKernels.h"
#include "Common.h"

NN_CLONES
void nn_batchnorm_sums(const float *restrict x, const float *restrict center, long rows, long channels,
                       float *restrict sum) {
    const long c = channels;
    if (center) {
        for (long r = 0; r < rows; r++) {
            const float *restrict xr = x + r * c;
            for (long j = 0; j < c; j++) { const float d = xr[j] - center[j]; sum[j] += d * d; }
        }
    } else {
        for (long r = 0; r < rows; r++) {
            const float *restrict xr = x + r * c;
            for (long j = 0; j < c; j++) sum[j] += xr[j];
        }
    }
}

#define NN_INLINE static inline __attribute__((always_inline))

// The activation a training pass fused into the normalization (NN_BATCHNORM_RELU, _RELU6), applied
// with the expressions of the activation layer's own loops (same bits, NaN kept): ReLU's
// `v < 0 ? 0 : v`, ReLU6's `min(max(v, 0), 6)` as Swift's min and max evaluate them.
NN_INLINE float activate(float v, int activation) {
    if (activation == NN_BATCHNORM_RELU) return v < 0 ? 0 : v;
    if (activation == NN_BATCHNORM_RELU6) { const float m = 0 >= v ? 0 : v; return 6 < m ? 6 : m; }
    return v;
}

// dLoss/d(normalized) from dLoss/d(activation) and the activation's output y: dy where the activation
// passes its input (ReLU: y > 0; ReLU6: 0 < y < 6), else +0, as the activation layer's masks.
NN_INLINE float pass_gradient(float dy, float y, int activation) {
    if (activation == NN_BATCHNORM_RELU) return y > 0 ? dy : 0.0f;
    if (activation == NN_BATCHNORM_RELU6) return y > 0 && y < 6 ? dy : 0.0f;
    return dy;
}

NN_INLINE void gradient_sums(const float *restrict dy, const float *restrict y, int activation,
                             const float *restrict x, const float *restrict mean, const float *restrict inverseStd,
                             long rows, long c, float *restrict sum, float *restrict dot) {
    for (long r = 0; r < rows; r++) {
        const float *restrict dyr = dy + r * c, *restrict xr = x + r * c, *restrict yr = y ? y + r * c : 0;
        for (long j = 0; j < c; j++) {
            const float xhat = (xr[j] - mean[j]) * inverseStd[j];
            const float g = activation ? pass_gradient(dyr[j], yr[j], activation) : dyr[j];
            sum[j] += g;
            dot[j] += g * xhat;
        }
    }
}

NN_CLONES
void nn_batchnorm_gradient_sums(const float *restrict dy, const float *restrict y, int activation,
                                const float *restrict x, const float *restrict mean,
                                const float *restrict inverseStd, long rows, long channels,
                                float *restrict sum, float *restrict dot) {
    // One loop per activation, each with a constant `activation`, so each vectorizes on its own.
    switch (activation) {
    case NN_BATCHNORM_RELU: gradient_sums(dy, y, NN_BATCHNORM_RELU, x, mean, inverseStd, rows, channels, sum, dot); break;
    case NN_BATCHNORM_RELU6: gradient_sums(dy, y, NN_BATCHNORM_RELU6, x, mean, inverseStd, rows, channels, sum, dot); break;
    default: gradient_sums(dy, 0, 0, x, mean, inverseStd, rows, channels, sum, dot);
    }
}

NN_INLINE void normalize(const float *restrict x, const float *restrict mean, const float *restrict inverseStd,
                         const float *restrict gamma, const float *restrict beta, float *restrict y,
                         long rows, long c, int activation) {
    for (long r = 0; r < rows; r++) {
        const float *restrict xr = x + r * c;
        float *restrict yr = y + r * c;
        for (long j = 0; j < c; j++) yr[j] = activate(gamma[j] * ((xr[j] - mean[j]) * inverseStd[j]) + beta[j], activation);
    }
}

NN_CLONES
void nn_batchnorm_normalize(const float *restrict x, const float *restrict mean, const float *restrict inverseStd,
                            const float *restrict gamma, const float *restrict beta, float *restrict y,
                            long rows, long channels, int activation) {
    switch (activation) {
    case NN_BATCHNORM_RELU: normalize(x, mean, inverseStd, gamma, beta, y, rows, channels, NN_BATCHNORM_RELU); break;
    case NN_BATCHNORM_RELU6: normalize(x, mean, inverseStd, gamma, beta, y, rows, channels, NN_BATCHNORM_RELU6); break;
    default: normalize(x, mean, inverseStd, gamma, beta, y, rows, channels, 0);
    }
}

// dx may be dy (a fused activation's gradient, overwritten element by element). The two cases are
// separate loops with `restrict` pointers (dy NULL: read dx through its own pointer), so both
// vectorize: a loop whose pointers only might alias is vectorized behind a runtime overlap check,
// which sends dx == dy to scalar code.
NN_INLINE void input_gradient(const float *restrict dy, const float *restrict y, int activation,
                              const float *restrict x, const float *restrict mean,
                              const float *restrict gamma, const float *restrict inverseStd,
                              const float *restrict meanGradient, const float *restrict meanDot,
                              float *restrict dx, long rows, long c) {
    for (long r = 0; r < rows; r++) {
        const float *restrict yr = y ? y + r * c : 0;
        float *restrict dr = dx + r * c;
        const float *restrict dyr = dy ? dy + r * c : 0;
        if (meanGradient) {
            const float *restrict xr = x + r * c;
            for (long j = 0; j < c; j++) {
                const float xhat = (xr[j] - mean[j]) * inverseStd[j];
                const float d = dy ? dyr[j] : dr[j];
                const float g = activation ? pass_gradient(d, yr[j], activation) : d;
                dr[j] = gamma[j] * inverseStd[j] * (g - meanGradient[j] - xhat * meanDot[j]);
            }
        } else {
            for (long j = 0; j < c; j++) {
                const float d = dy ? dyr[j] : dr[j];
                const float g = activation ? pass_gradient(d, yr[j], activation) : d;
                dr[j] = g * gamma[j] * inverseStd[j];
            }
        }
    }
}

#define INPUT_GRADIENT(DY, ACTIVATION) \
    input_gradient(DY, y, ACTIVATION, x, mean, gamma, inverseStd, meanGradient, meanDot, dx, rows, channels)

NN_CLONES
void nn_batchnorm_input_gradient(const float *dy, const float *restrict y, int activation,
                                 const float *restrict x, const float *restrict mean,
                                 const float *restrict gamma, const float *restrict inverseStd,
                                 const float *restrict meanGradient, const float *restrict meanDot,
                                 float *dx, long rows, long channels) {
    const int inPlace = dy == dx;
    switch (activation) {
    case NN_BATCHNORM_RELU:
        if (inPlace) INPUT_GRADIENT(0, NN_BATCHNORM_RELU); else INPUT_GRADIENT(dy, NN_BATCHNORM_RELU);
        break;
    case NN_BATCHNORM_RELU6:
        if (inPlace) INPUT_GRADIENT(0, NN_BATCHNORM_RELU6); else INPUT_GRADIENT(dy, NN_BATCHNORM_RELU6);
        break;
    default:
        if (inPlace) INPUT_GRADIENT(0, 0); else INPUT_GRADIENT(dy, 0);
    }
}
