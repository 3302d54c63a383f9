// Winograd F(2×2, 3×3)'s and F(4×4, 3×3)'s per-tile transforms over NHWC images; see CKernels.h
// and Sources/NN/Kernels/Winograd.swift, which documents the algorithm and owns the GEMMs between them.
//
// Each transform combines whole channel vectors: the loops run across channels 16 at a time (one
// zmm with AVX-512, two ymm with AVX2), then 8, then one. F(2×2, 3×3)'s entries are 0 or ±1 (only
// additions); F(4×4, 3×3)'s are small integers (±2, ±4, ±5, ±8), and a product by 5 rounds, so
// this file is compiled without fusing multiply-adds (the pragma below): each value is computed in
// one fixed order with the same roundings on every clone and thread, the same bits everywhere.
#include "CKernels.h"
#include "Common.h"

#pragma clang fp contract(off)

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

/// Tiles of `m`×`m` outputs along a side of `outputs` values (the last may be partly outside).
static inline long tiles_along(long outputs, long m) { return (outputs + m - 1) / m; }

// Runs BODY(T) over channels [0, count) of one tile with `k` the first channel of each step: in
// vectors of 16, at most one of 8, then single floats (T = float).
#define NN_OVER_CHANNELS(count, BODY)              \
    do {                                           \
        long k = 0;                                \
        for (; k + 16 <= (count); k += 16) BODY(v16) \
        if (k + 8 <= (count)) { BODY(v8) k += 8; } \
        for (; k < (count); k++) BODY(float)       \
    } while (0)

#define LOAD(T, p) (*(const T *)(p))
#define STORE(T, p, value) (*(T *)(p) = (value))

// Runs the block given for every m×m output tile of `images` images in order — image, tile row
// `ty`, tile column `tx` — with `t` the tile's index in the chunk (its row in each plane).
#define NN_FOR_EACH_TILE(g, m, images, ...)                                     \
    do {                                                                        \
        const long tileRows_ = tiles_along((g)->outputHeight, m);               \
        const long tileColumns_ = tiles_along((g)->outputWidth, m);             \
        long t = 0;                                                             \
        for (long image = 0; image < (images); image++)                         \
            for (long ty = 0; ty < tileRows_; ty++)                             \
                for (long tx = 0; tx < tileColumns_; tx++, t++) __VA_ARGS__     \
    } while (0)

/// The (m+2)×(m+2) input patch under the m×m tile (ty, tx): its first row and column (negative in
/// the padding) and which of its rows and columns fall inside the image.
typedef struct { long row0, col0; int rowInside[6], columnInside[6]; } input_patch;

static inline input_patch patch_of_tile(const nn_window_geometry *g, long m, long ty, long tx) {
    input_patch p = { m * ty - g->padTop, m * tx - g->padLeft, {0}, {0} };
    for (int i = 0; i < m + 2; i++) {
        p.rowInside[i] = p.row0 + i >= 0 && p.row0 + i < g->inputHeight;
        p.columnInside[i] = p.col0 + i >= 0 && p.col0 + i < g->inputWidth;
    }
    return p;
}

// The drivers, one of each kind per tiling (`side` = m, the outputs per tile side): each walks the
// tiles of `images` images in order and runs its TILE(T) over the channels of each. Input and
// scatter see the tile's input patch `q` and the plane stride `plane`; output and output gradient
// see `y0`, the tile's first output value, `rows` × `columns` of its outputs inside the image
// (fewer than m at the bottom and right edges), `OW` and `F`.

/// V = Bᵀ d B for every tile; `p` holds the patch's taps row by row (`zeros` in the padding: no
/// address outside x is formed), `out` the tile's row in plane 0.
#define NN_WINOGRAD_INPUT(name, side, TILE)                                                        \
    NN_CLONES                                                                                      \
    void name(const nn_window_geometry *g, const float *x, long images, const float *zeros, float *v) { \
        const long C = g->channels, W = g->inputWidth, imageSize = g->inputHeight * W * C;         \
        const long plane = images * tiles_along(g->outputHeight, side) * tiles_along(g->outputWidth, side) * C; \
        NN_FOR_EACH_TILE(g, side, images, {                                                        \
            const input_patch q = patch_of_tile(g, side, ty, tx);                                  \
            const float *p[(side + 2) * (side + 2)];                                               \
            for (int i = 0; i < side + 2; i++) {                                                   \
                for (int j = 0; j < side + 2; j++) {                                               \
                    p[(side + 2) * i + j] = q.rowInside[i] && q.columnInside[j]                    \
                        ? x + image * imageSize + ((q.row0 + i) * W + q.col0 + j) * C : zeros;     \
                }                                                                                  \
            }                                                                                      \
            float *out = v + t * C;                                                                \
            NN_OVER_CHANNELS(C, TILE);                                                             \
        });                                                                                        \
    }

/// dX += B dV Bᵀ, tile after tile; `src` is the tile's row in plane 0, `dxImage` its image's gradient.
#define NN_WINOGRAD_SCATTER(name, side, TILE)                                                      \
    NN_CLONES                                                                                      \
    void name(const nn_window_geometry *g, const float *dv, long images, float *dx) {             \
        const long C = g->channels, W = g->inputWidth, imageSize = g->inputHeight * W * C;         \
        const long plane = images * tiles_along(g->outputHeight, side) * tiles_along(g->outputWidth, side) * C; \
        NN_FOR_EACH_TILE(g, side, images, {                                                        \
            const input_patch q = patch_of_tile(g, side, ty, tx);                                  \
            float *dxImage = dx + image * imageSize;                                               \
            const float *src = dv + t * C;                                                         \
            NN_OVER_CHANNELS(C, TILE);                                                             \
        });                                                                                        \
    }

/// The tile's outputs inside the image along one side: m, or fewer at the last tile.
static inline int outputs_inside(long outputs, long side, long tile) {
    const long left = outputs - side * tile;
    return (int)(left < side ? left : side);
}

/// Y = Aᵀ M A for every tile, into NHWC `z`; `src` is the tile's row in plane 0 of M.
#define NN_WINOGRAD_OUTPUT(name, side, TILE)                                                       \
    NN_CLONES                                                                                      \
    void name(const nn_window_geometry *g, const float *mt, long images, long filters, float *z) { \
        const long F = filters, OW = g->outputWidth, imageSize = g->outputHeight * OW * F;         \
        const long plane = images * tiles_along(g->outputHeight, side) * tiles_along(OW, side) * F; \
        NN_FOR_EACH_TILE(g, side, images, {                                                        \
            const int rows = outputs_inside(g->outputHeight, side, ty), columns = outputs_inside(OW, side, tx); \
            float *y0 = z + image * imageSize + (side * ty * OW + side * tx) * F;                  \
            const float *src = mt + t * F;                                                         \
            NN_OVER_CHANNELS(F, TILE);                                                             \
        });                                                                                        \
    }

/// dM = A dY Aᵀ for every tile, from NHWC `dz`; `out` is the tile's row in plane 0 of dM.
#define NN_WINOGRAD_OUTPUT_GRADIENT(name, side, TILE)                                              \
    NN_CLONES                                                                                      \
    void name(const nn_window_geometry *g, const float *dz, long images, long filters, float *dm) { \
        const long F = filters, OW = g->outputWidth, imageSize = g->outputHeight * OW * F;         \
        const long plane = images * tiles_along(g->outputHeight, side) * tiles_along(OW, side) * F; \
        NN_FOR_EACH_TILE(g, side, images, {                                                        \
            const int rows = outputs_inside(g->outputHeight, side, ty), columns = outputs_inside(OW, side, tx); \
            const float *y0 = dz + image * imageSize + (side * ty * OW + side * tx) * F;           \
            float *out = dm + t * F;                                                               \
            NN_OVER_CHANNELS(F, TILE);                                                             \
        });                                                                                        \
    }

// ---- V = Bᵀ d B ------------------------------------------------------------------------------

// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]: Bᵀ d by columns, then (Bᵀ d) B
// row by row, each of the 16 results to its own plane.
#define INPUT_TILE(T)                                                                              \
    {                                                                                              \
        const T d00 = LOAD(T, p[0] + k), d01 = LOAD(T, p[1] + k), d02 = LOAD(T, p[2] + k), d03 = LOAD(T, p[3] + k);     \
        const T d10 = LOAD(T, p[4] + k), d11 = LOAD(T, p[5] + k), d12 = LOAD(T, p[6] + k), d13 = LOAD(T, p[7] + k);     \
        const T d20 = LOAD(T, p[8] + k), d21 = LOAD(T, p[9] + k), d22 = LOAD(T, p[10] + k), d23 = LOAD(T, p[11] + k);   \
        const T d30 = LOAD(T, p[12] + k), d31 = LOAD(T, p[13] + k), d32 = LOAD(T, p[14] + k), d33 = LOAD(T, p[15] + k); \
        const T a0 = d00 - d20, a1 = d01 - d21, a2 = d02 - d22, a3 = d03 - d23;                      \
        const T b0 = d10 + d20, b1 = d11 + d21, b2 = d12 + d22, b3 = d13 + d23;                      \
        const T e0 = d20 - d10, e1 = d21 - d11, e2 = d22 - d12, e3 = d23 - d13;                      \
        const T f0 = d10 - d30, f1 = d11 - d31, f2 = d12 - d32, f3 = d13 - d33;                      \
        float *o = out + k;                                                                        \
        STORE(T, o + 0 * plane, a0 - a2); STORE(T, o + 1 * plane, a1 + a2);                         \
        STORE(T, o + 2 * plane, a2 - a1); STORE(T, o + 3 * plane, a1 - a3);                         \
        STORE(T, o + 4 * plane, b0 - b2); STORE(T, o + 5 * plane, b1 + b2);                         \
        STORE(T, o + 6 * plane, b2 - b1); STORE(T, o + 7 * plane, b1 - b3);                         \
        STORE(T, o + 8 * plane, e0 - e2); STORE(T, o + 9 * plane, e1 + e2);                         \
        STORE(T, o + 10 * plane, e2 - e1); STORE(T, o + 11 * plane, e1 - e3);                       \
        STORE(T, o + 12 * plane, f0 - f2); STORE(T, o + 13 * plane, f1 + f2);                       \
        STORE(T, o + 14 * plane, f2 - f1); STORE(T, o + 15 * plane, f1 - f3);                       \
    }

NN_WINOGRAD_INPUT(nn_winograd_input, 2, INPUT_TILE)

// ---- dX += B dV Bᵀ ----------------------------------------------------------------------------

// B = [[1, 0, 0, 0], [0, 1, −1, 1], [−1, 1, 1, 0], [0, 0, 0, −1]]: t = B dV by columns, then each
// row of t Bᵀ added into the image gradient where it falls inside the image.
#define SCATTER_TILE(T)                                                                            \
    {                                                                                              \
        T m[16];                                                                                   \
        for (int s = 0; s < 4; s++) {                                                              \
            const T v0 = LOAD(T, src + (0 + s) * plane + k), v1 = LOAD(T, src + (4 + s) * plane + k); \
            const T v2 = LOAD(T, src + (8 + s) * plane + k), v3 = LOAD(T, src + (12 + s) * plane + k); \
            m[0 + s] = v0;                                                                         \
            m[4 + s] = v1 - v2 + v3;                                                               \
            m[8 + s] = v1 + v2 - v0;                                                               \
            m[12 + s] = -v3;                                                                       \
        }                                                                                          \
        for (int i = 0; i < 4; i++) {                                                              \
            if (!q.rowInside[i]) continue;                                                         \
            const T x0 = m[4 * i], x1 = m[4 * i + 1], x2 = m[4 * i + 2], x3 = m[4 * i + 3];         \
            const T dd[4] = { x0, x1 - x2 + x3, x1 + x2 - x0, -x3 };                               \
            for (int j = 0; j < 4; j++) {                                                          \
                if (!q.columnInside[j]) continue;                                                  \
                float *d = dxImage + ((q.row0 + i) * W + q.col0 + j) * C + k;                      \
                STORE(T, d, LOAD(T, d) + dd[j]);                                                   \
            }                                                                                      \
        }                                                                                          \
    }

NN_WINOGRAD_SCATTER(nn_winograd_scatter_input_gradient, 2, SCATTER_TILE)

// ---- Y = Aᵀ m A ------------------------------------------------------------------------------

// Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]: rows r0 = m0 + m1 + m2, r1 = m1 − m2 − m3 by columns, then
// the same across; the outputs past the image's edge are dropped.
#define OUTPUT_TILE(T)                                                                             \
    {                                                                                              \
        const float *s = src + k;                                                                  \
        const T m00 = LOAD(T, s + 0 * plane), m01 = LOAD(T, s + 1 * plane), m02 = LOAD(T, s + 2 * plane), m03 = LOAD(T, s + 3 * plane);       \
        const T m10 = LOAD(T, s + 4 * plane), m11 = LOAD(T, s + 5 * plane), m12 = LOAD(T, s + 6 * plane), m13 = LOAD(T, s + 7 * plane);       \
        const T m20 = LOAD(T, s + 8 * plane), m21 = LOAD(T, s + 9 * plane), m22 = LOAD(T, s + 10 * plane), m23 = LOAD(T, s + 11 * plane);     \
        const T m30 = LOAD(T, s + 12 * plane), m31 = LOAD(T, s + 13 * plane), m32 = LOAD(T, s + 14 * plane), m33 = LOAD(T, s + 15 * plane);   \
        const T a0 = m00 + m10 + m20, a1 = m01 + m11 + m21, a2 = m02 + m12 + m22, a3 = m03 + m13 + m23; \
        const T b0 = m10 - m20 - m30, b1 = m11 - m21 - m31, b2 = m12 - m22 - m32, b3 = m13 - m23 - m33; \
        STORE(T, y0 + k, a0 + a1 + a2);                                                            \
        if (columns > 1) STORE(T, y0 + F + k, a1 - a2 - a3);                                       \
        if (rows > 1) {                                                                            \
            STORE(T, y0 + OW * F + k, b0 + b1 + b2);                                               \
            if (columns > 1) STORE(T, y0 + (OW + 1) * F + k, b1 - b2 - b3);                        \
        }                                                                                          \
    }

NN_WINOGRAD_OUTPUT(nn_winograd_output, 2, OUTPUT_TILE)

// ---- dM = A dY Aᵀ -----------------------------------------------------------------------------

// A = [[1, 0], [1, 1], [1, −1], [0, −1]]: t = A dY (4×2), dM = t Aᵀ; outputs past the edge are zero.
#define OUTPUT_GRADIENT_TILE(T)                                                                    \
    {                                                                                              \
        const T zero = (T){0};                                                                     \
        const T d00 = LOAD(T, y0 + k);                                                             \
        const T d01 = columns > 1 ? LOAD(T, y0 + F + k) : zero;                                    \
        const T d10 = rows > 1 ? LOAD(T, y0 + OW * F + k) : zero;                                  \
        const T d11 = rows > 1 && columns > 1 ? LOAD(T, y0 + (OW + 1) * F + k) : zero;             \
        float *dst = out + k;                                                                      \
        const T r0[2] = { d00, d01 }, r1[2] = { d00 + d10, d01 + d11 };                            \
        const T r2[2] = { d00 - d10, d01 - d11 }, r3[2] = { -d10, -d11 };                          \
        const T *r[4] = { r0, r1, r2, r3 };                                                        \
        for (int i = 0; i < 4; i++) {                                                              \
            const T x0 = r[i][0], x1 = r[i][1];                                                    \
            STORE(T, dst + (4 * i + 0) * plane, x0);                                               \
            STORE(T, dst + (4 * i + 1) * plane, x0 + x1);                                          \
            STORE(T, dst + (4 * i + 2) * plane, x0 - x1);                                          \
            STORE(T, dst + (4 * i + 3) * plane, -x1);                                              \
        }                                                                                          \
    }

NN_WINOGRAD_OUTPUT_GRADIENT(nn_winograd_output_gradient, 2, OUTPUT_GRADIENT_TILE)

// ==== F(4×4, 3×3) ================================================================================
//
// Lavin & Gray's matrices for 6×6 input patches and 4×4 output tiles (36 planes, ξ = 6r + s):
//   Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0],
//         [0, −2, −1, 2, 1, 0], [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]]
//   Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]]
// Each 2-D transform is the 1-D one below applied down the columns, then along the rows.

/// v = Bᵀ d for six values.
#define F4_BT(T, v, d0, d1, d2, d3, d4, d5)                                                   \
    do {                                                                                      \
        const T p_ = (d4) - 4.0f * (d2), q_ = (d3) - 4.0f * (d1);                             \
        const T r_ = (d4) - (d2), s_ = 2.0f * ((d3) - (d1));                                  \
        v[0] = 4.0f * (d0) - 5.0f * (d2) + (d4);                                              \
        v[1] = p_ + q_; v[2] = p_ - q_; v[3] = r_ + s_; v[4] = r_ - s_;                      \
        v[5] = 4.0f * (d1) - 5.0f * (d3) + (d5);                                              \
    } while (0)

/// d = B v for six values (the adjoint of F4_BT).
#define F4_B(T, d, v0, v1, v2, v3, v4, v5)                                                    \
    do {                                                                                      \
        d[0] = 4.0f * (v0);                                                                   \
        d[1] = 4.0f * ((v2) - (v1)) + 2.0f * ((v4) - (v3)) + 4.0f * (v5);                      \
        d[2] = -5.0f * (v0) - 4.0f * ((v1) + (v2)) - ((v3) + (v4));                           \
        d[3] = ((v1) - (v2)) + 2.0f * ((v3) - (v4)) - 5.0f * (v5);                            \
        d[4] = (v0) + (v1) + (v2) + (v3) + (v4);                                              \
        d[5] = (v5);                                                                          \
    } while (0)

/// y = Aᵀ m: four values from six.
#define F4_AT(T, y, m0, m1, m2, m3, m4, m5)                                                   \
    do {                                                                                      \
        const T a_ = (m1) + (m2), b_ = (m1) - (m2), c_ = (m3) + (m4), d_ = (m3) - (m4);      \
        y[0] = (m0) + a_ + c_; y[1] = b_ + 2.0f * d_; y[2] = a_ + 4.0f * c_; y[3] = b_ + 8.0f * d_ + (m5); \
    } while (0)

/// m = A y: six values from four (the adjoint of F4_AT).
#define F4_A(T, m, y0, y1, y2, y3)                                                            \
    do {                                                                                      \
        const T p_ = (y0) + (y2), q_ = (y1) + (y3);                                           \
        const T r_ = (y0) + 4.0f * (y2), s_ = 2.0f * (y1) + 8.0f * (y3);                      \
        m[0] = (y0); m[1] = p_ + q_; m[2] = p_ - q_; m[3] = r_ + s_; m[4] = r_ - s_; m[5] = (y3); \
    } while (0)

// V = Bᵀ d B: Bᵀ down each of the 6 columns of the patch, then along each row into planes 6i…6i+5.
#define INPUT_TILE4(T)                                                                             \
    {                                                                                              \
        T c[36];                                                                                   \
        for (int j = 0; j < 6; j++) {                                                              \
            T col[6];                                                                              \
            F4_BT(T, col, LOAD(T, p[j] + k), LOAD(T, p[6 + j] + k), LOAD(T, p[12 + j] + k),         \
                  LOAD(T, p[18 + j] + k), LOAD(T, p[24 + j] + k), LOAD(T, p[30 + j] + k));          \
            for (int i = 0; i < 6; i++) c[6 * i + j] = col[i];                                     \
        }                                                                                          \
        float *o = out + k;                                                                        \
        for (int i = 0; i < 6; i++) {                                                              \
            T row[6];                                                                              \
            const T *r = c + 6 * i;                                                                \
            F4_BT(T, row, r[0], r[1], r[2], r[3], r[4], r[5]);                                     \
            for (int s = 0; s < 6; s++) STORE(T, o + (6 * i + s) * plane, row[s]);                 \
        }                                                                                          \
    }

NN_WINOGRAD_INPUT(nn_winograd4x4_input, 4, INPUT_TILE4)

// dX += B dV Bᵀ: B down each column of the 36 planes, then along each row, added where inside.
#define SCATTER_TILE4(T)                                                                           \
    {                                                                                              \
        T c[36];                                                                                   \
        for (int s = 0; s < 6; s++) {                                                              \
            T col[6];                                                                              \
            F4_B(T, col, LOAD(T, src + s * plane + k), LOAD(T, src + (6 + s) * plane + k),         \
                 LOAD(T, src + (12 + s) * plane + k), LOAD(T, src + (18 + s) * plane + k),         \
                 LOAD(T, src + (24 + s) * plane + k), LOAD(T, src + (30 + s) * plane + k));        \
            for (int i = 0; i < 6; i++) c[6 * i + s] = col[i];                                     \
        }                                                                                          \
        for (int i = 0; i < 6; i++) {                                                              \
            if (!q.rowInside[i]) continue;                                                         \
            T dd[6];                                                                               \
            const T *r = c + 6 * i;                                                                \
            F4_B(T, dd, r[0], r[1], r[2], r[3], r[4], r[5]);                                       \
            for (int j = 0; j < 6; j++) {                                                          \
                if (!q.columnInside[j]) continue;                                                  \
                float *d = dxImage + ((q.row0 + i) * W + q.col0 + j) * C + k;                      \
                STORE(T, d, LOAD(T, d) + dd[j]);                                                   \
            }                                                                                      \
        }                                                                                          \
    }

NN_WINOGRAD_SCATTER(nn_winograd4x4_scatter_input_gradient, 4, SCATTER_TILE4)

// Y = Aᵀ M A: Aᵀ down each of the 6 columns (4 values each), then along each row; only the
// `rows` × `columns` outputs inside the image are stored.
#define OUTPUT_TILE4(T)                                                                            \
    {                                                                                              \
        T c[24];                                                                                   \
        const float *s0 = src + k;                                                                 \
        for (int s = 0; s < 6; s++) {                                                              \
            T col[4];                                                                              \
            F4_AT(T, col, LOAD(T, s0 + s * plane), LOAD(T, s0 + (6 + s) * plane), LOAD(T, s0 + (12 + s) * plane), \
                  LOAD(T, s0 + (18 + s) * plane), LOAD(T, s0 + (24 + s) * plane), LOAD(T, s0 + (30 + s) * plane)); \
            for (int i = 0; i < 4; i++) c[6 * i + s] = col[i];                                     \
        }                                                                                          \
        for (int i = 0; i < rows; i++) {                                                           \
            T yy[4];                                                                               \
            const T *r = c + 6 * i;                                                                \
            F4_AT(T, yy, r[0], r[1], r[2], r[3], r[4], r[5]);                                      \
            for (int j = 0; j < columns; j++) STORE(T, y0 + (i * OW + j) * F + k, yy[j]);          \
        }                                                                                          \
    }

NN_WINOGRAD_OUTPUT(nn_winograd4x4_output, 4, OUTPUT_TILE4)

// dM = A dY Aᵀ: A down each of the 4 columns of the tile's gradient (zero past the edge), then
// along each of the 6 rows into planes 6i…6i+5.
#define OUTPUT_GRADIENT_TILE4(T)                                                                   \
    {                                                                                              \
        const T zero = (T){0};                                                                     \
        T c[24];                                                                                   \
        for (int j = 0; j < 4; j++) {                                                              \
            T d[4], col[6];                                                                        \
            for (int i = 0; i < 4; i++) d[i] = i < rows && j < columns ? LOAD(T, y0 + (i * OW + j) * F + k) : zero; \
            F4_A(T, col, d[0], d[1], d[2], d[3]);                                                  \
            for (int i = 0; i < 6; i++) c[4 * i + j] = col[i];                                     \
        }                                                                                          \
        float *o = out + k;                                                                        \
        for (int i = 0; i < 6; i++) {                                                              \
            T row[6];                                                                              \
            const T *r = c + 4 * i;                                                                \
            F4_A(T, row, r[0], r[1], r[2], r[3]);                                                  \
            for (int s = 0; s < 6; s++) STORE(T, o + (6 * i + s) * plane, row[s]);                 \
        }                                                                                          \
    }

NN_WINOGRAD_OUTPUT_GRADIENT(nn_winograd4x4_output_gradient, 4, OUTPUT_GRADIENT_TILE4)

