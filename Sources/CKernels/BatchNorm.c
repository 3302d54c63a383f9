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

NN_CLONES
void nn_batchnorm_gradient_sums(const float *restrict dy, const float *restrict x, const float *restrict mean,
                                const float *restrict inverseStd, long rows, long channels,
                                float *restrict sum, float *restrict dot) {
    const long c = channels;
    for (long r = 0; r < rows; r++) {
        const float *restrict dyr = dy + r * c, *restrict xr = x + r * c;
        for (long j = 0; j < c; j++) {
            const float xhat = (xr[j] - mean[j]) * inverseStd[j];
            sum[j] += dyr[j];
            dot[j] += dyr[j] * xhat;
        }
    }
}

NN_CLONES
void nn_batchnorm_normalize(const float *restrict x, const float *restrict mean, const float *restrict inverseStd,
                            const float *restrict gamma, const float *restrict beta, float *restrict y,
                            long rows, long channels) {
    const long c = channels;
    for (long r = 0; r < rows; r++) {
        const float *restrict xr = x + r * c;
        float *restrict yr = y + r * c;
        for (long j = 0; j < c; j++) yr[j] = gamma[j] * ((xr[j] - mean[j]) * inverseStd[j]) + beta[j];
    }
}

NN_CLONES
void nn_batchnorm_input_gradient(const float *restrict dy, const float *restrict x, const float *restrict mean,
                                 const float *restrict gamma, const float *restrict inverseStd,
                                 const float *restrict meanGradient, const float *restrict meanDot,
                                 float *restrict dx, long rows, long channels) {
    const long c = channels;
    for (long r = 0; r < rows; r++) {
        const float *restrict dyr = dy + r * c;
        float *restrict dr = dx + r * c;
        if (meanGradient) {
            const float *restrict xr = x + r * c;
            for (long j = 0; j < c; j++) {
                const float xhat = (xr[j] - mean[j]) * inverseStd[j];
                dr[j] = gamma[j] * inverseStd[j] * (dyr[j] - meanGradient[j] - xhat * meanDot[j]);
            }
        } else {
            for (long j = 0; j < c; j++) dr[j] = dyr[j] * gamma[j] * inverseStd[j];
        }
    }
}
