/// Winograd's minimal filtering F(2×2, 3×3) for 3×3 stride-1 convolutions over NHWC images
/// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// Each 2×2 block ("tile") of the output is computed from the 4×4 input patch under it:
/// `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ) ] A`. Summed over input channels, the element-wise product at
/// each of the 16 transform positions ξ is a matrix product, so a chunk of T tiles is 16 GEMMs
/// `M[ξ] (T×F) = V[ξ] (T×C) · U[ξ] (C×F)` through `BLAS.gemm`: 16·T·C·F multiply-adds where the
/// direct (im2col) method needs 36·T·C·F, 2.25× fewer.
///
/// The backward pass is the adjoint of the same algorithm (every step is linear):
/// `dM[ξ] = A dY Aᵀ` per tile, then `dU[ξ] += V[ξ]ᵀ · dM[ξ]` (the weight gradient, turned into dW
/// once by `dW = Gᵀ dU G`) and `dV[ξ] = dM[ξ] · U[ξ]ᵀ`, scattered back into dX by `dd = B dV Bᵀ`.
/// In exact arithmetic that is the gradient of the convolution; `dX` equals the convolution of dY
/// with the rotated, channel-transposed kernel computed by Winograd F(2×2, 3×3), and dW the
/// F(3×3, 2×2) correlation of X with dY, both with these same transforms.
///
/// Layouts: V, M, dV, dM are `[16][T][C or F]` (one T×C or T×F row-major matrix per ξ); U and dU
/// `[16][C][F]`; kernels HWIO `[3][3][C][F]`. Transforms work on whole channel vectors, eight lanes
/// at a time (`SIMD8<Float>`), so they read and write contiguous runs of the NHWC tensors.
///
/// Error: the transforms only add, subtract and halve, so along any path from an input and a weight
/// to an output the computation rounds at most C + 10 times, and to first order in u = 2⁻²⁴
/// `|ŷ − y| ≤ γ(C+10) · |Aᵀ| [Σ_c (|G| |g| |G|ᵀ) ⊙ (|Bᵀ| |d| |B|)] |A|` element by element; for
/// inputs of equal magnitude the bracket is 64/9 of the direct method's Σ|g||d|, whose sum rounds 9C
/// times, so the worst-case bounds are close. WinogradTests derives it and checks it; measured
/// errors are ~1e-6 of the output scale on realistic magnitudes, a few times im2col's.
package enum Winograd {
    /// Transform positions: a 4×4 tile.
    package static let positions = 16

    /// Whether F(2×2, 3×3) computes this convolution: a 3×3 kernel at stride 1 (any padding).
    package static func applies(to g: ConvGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
    }

    /// Output tiles (2×2) per image.
    package static func tiles(_ g: ConvGeometry) -> (rows: Int, columns: Int) {
        ((g.outputHeight + 1) / 2, (g.outputWidth + 1) / 2)
    }

    package static func tilesPerImage(_ g: ConvGeometry) -> Int {
        let t = tiles(g)
        return t.rows * t.columns
    }

    /// Multiply-adds of the 16 GEMMs for `images` images (forward; each backward product is the same size).
    package static func multiplyAdds(_ g: ConvGeometry, filters: Int, images: Int) -> Int {
        positions * images * tilesPerImage(g) * g.channels * filters
    }

    // MARK: - Vectors

    typealias Vector = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ n: Int) -> Vector {
        if n >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }
        var v = Vector()
        for i in 0..<n { v[i] = p[i] }
        return v
    }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self); return }
        for i in 0..<n { p[i] = v[i] }
    }

    // MARK: - Kernel transform

    /// U[ξ][c][f] = (G g Gᵀ)[ξ] for every (c, f) of an HWIO kernel `[3][3][C][F]`.
    /// G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
    package static func transformKernel(_ kernel: UnsafePointer<Float>, channels c: Int, filters f: Int,
                                        into u: UnsafeMutablePointer<Float>) {
        let cf = c * f
        var i = 0
        while i < cf {
            let n = min(8, cf - i)
            let g00 = load(kernel + 0 * cf + i, n), g01 = load(kernel + 1 * cf + i, n), g02 = load(kernel + 2 * cf + i, n)
            let g10 = load(kernel + 3 * cf + i, n), g11 = load(kernel + 4 * cf + i, n), g12 = load(kernel + 5 * cf + i, n)
            let g20 = load(kernel + 6 * cf + i, n), g21 = load(kernel + 7 * cf + i, n), g22 = load(kernel + 8 * cf + i, n)
            // t = G g (4×3), by columns j.
            let half: Float = 0.5
            let t00 = g00, t01 = g01, t02 = g02
            let t10 = half * (g00 + g10 + g20), t11 = half * (g01 + g11 + g21), t12 = half * (g02 + g12 + g22)
            let t20 = half * (g00 - g10 + g20), t21 = half * (g01 - g11 + g21), t22 = half * (g02 - g12 + g22)
            let t30 = g20, t31 = g21, t32 = g22
            // U = t Gᵀ (4×4), row by row.
            @inline(__always) func row(_ r: Int, _ a: Vector, _ b: Vector, _ c: Vector) {
                store(a, u + (4 * r + 0) * cf + i, n)
                store(half * (a + b + c), u + (4 * r + 1) * cf + i, n)
                store(half * (a - b + c), u + (4 * r + 2) * cf + i, n)
                store(c, u + (4 * r + 3) * cf + i, n)
            }
            row(0, t00, t01, t02)
            row(1, t10, t11, t12)
            row(2, t20, t21, t22)
            row(3, t30, t31, t32)
            i += 8
        }
    }

    /// dW = Gᵀ dU G: the adjoint of `transformKernel`, from `[16][C][F]` to an HWIO `[3][3][C][F]`.
    package static func kernelGradient(_ du: UnsafePointer<Float>, channels c: Int, filters f: Int,
                                       into dw: UnsafeMutablePointer<Float>) {
        let cf = c * f, half: Float = 0.5
        var i = 0
        while i < cf {
            let n = min(8, cf - i)
            @inline(__always) func u(_ r: Int, _ s: Int) -> Vector { load(du + (4 * r + s) * cf + i, n) }
            // t = Gᵀ dU (3×4); Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]].
            var t = (Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector())
            for s in 0..<4 {
                let u0 = u(0, s), u1 = u(1, s), u2 = u(2, s), u3 = u(3, s)
                let a = u0 + half * (u1 + u2), b = half * (u1 - u2), d = half * (u1 + u2) + u3
                switch s {
                case 0: t.0 = a; t.4 = b; t.8 = d
                case 1: t.1 = a; t.5 = b; t.9 = d
                case 2: t.2 = a; t.6 = b; t.10 = d
                default: t.3 = a; t.7 = b; t.11 = d
                }
            }
            // dW = t G (3×3).
            @inline(__always) func row(_ r: Int, _ a: Vector, _ b: Vector, _ c: Vector, _ d: Vector) {
                store(a + half * (b + c), dw + (3 * r + 0) * cf + i, n)
                store(half * (b - c), dw + (3 * r + 1) * cf + i, n)
                store(half * (b + c) + d, dw + (3 * r + 2) * cf + i, n)
            }
            row(0, t.0, t.1, t.2, t.3)
            row(1, t.4, t.5, t.6, t.7)
            row(2, t.8, t.9, t.10, t.11)
            i += 8
        }
    }

    // MARK: - Input transform and its adjoint

    /// V[ξ][t][c] = (Bᵀ d B)[ξ] for every tile t of `images` consecutive images at `input`, T = images ·
    /// tiles per image. Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]. Input taps
    /// outside the image read `zeros` (at least C zero floats).
    package static func transformInput(_ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                       zeros: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let c = g.channels, (tr, tc) = tiles(g)
        let tileCount = images * tr * tc, plane = tileCount * c
        let imageSize = g.inputPixels * c
        var t = 0
        for image in 0..<images {
            let x = input + image * imageSize
            for ty in 0..<tr {
                let row0 = 2 * ty - g.padTop
                for tx in 0..<tc {
                    let col0 = 2 * tx - g.padLeft
                    // The 16 taps' channel vectors, or the zero vector in the padding.
                    var p = (zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros,
                             zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros)
                    withUnsafeMutableBytes(of: &p) { raw in
                        let taps = raw.bindMemory(to: UnsafePointer<Float>.self)
                        for i in 0..<4 {
                            let ih = row0 + i
                            guard ih >= 0 && ih < g.inputHeight else { continue }
                            for j in 0..<4 {
                                let iw = col0 + j
                                if iw >= 0 && iw < g.inputWidth { taps[4 * i + j] = x + (ih * g.inputWidth + iw) * c }
                            }
                        }
                    }
                    let out = v + t * c
                    var k = 0
                    while k < c {
                        let n = min(8, c - k)
                        let d00 = load(p.0 + k, n), d01 = load(p.1 + k, n), d02 = load(p.2 + k, n), d03 = load(p.3 + k, n)
                        let d10 = load(p.4 + k, n), d11 = load(p.5 + k, n), d12 = load(p.6 + k, n), d13 = load(p.7 + k, n)
                        let d20 = load(p.8 + k, n), d21 = load(p.9 + k, n), d22 = load(p.10 + k, n), d23 = load(p.11 + k, n)
                        let d30 = load(p.12 + k, n), d31 = load(p.13 + k, n), d32 = load(p.14 + k, n), d33 = load(p.15 + k, n)
                        // Bᵀ d, by columns.
                        let a0 = d00 - d20, a1 = d01 - d21, a2 = d02 - d22, a3 = d03 - d23
                        let b0 = d10 + d20, b1 = d11 + d21, b2 = d12 + d22, b3 = d13 + d23
                        let e0 = d20 - d10, e1 = d21 - d11, e2 = d22 - d12, e3 = d23 - d13
                        let f0 = d10 - d30, f1 = d11 - d31, f2 = d12 - d32, f3 = d13 - d33
                        // (Bᵀ d) B, row by row.
                        let o = out + k
                        @inline(__always) func row(_ r: Int, _ x0: Vector, _ x1: Vector, _ x2: Vector, _ x3: Vector) {
                            store(x0 - x2, o + (4 * r + 0) * plane, n)
                            store(x1 + x2, o + (4 * r + 1) * plane, n)
                            store(x2 - x1, o + (4 * r + 2) * plane, n)
                            store(x1 - x3, o + (4 * r + 3) * plane, n)
                        }
                        row(0, a0, a1, a2, a3)
                        row(1, b0, b1, b2, b3)
                        row(2, e0, e1, e2, e3)
                        row(3, f0, f1, f2, f3)
                        k += 8
                    }
                    t += 1
                }
            }
        }
    }

    /// dX += B dV Bᵀ tile by tile (the adjoint of `transformInput`): each tile's 4×4 patch of channel
    /// vectors is added into `output` (`images` consecutive image gradients); taps in the padding are
    /// dropped. Neighbouring patches overlap, so one caller owns each image.
    package static func scatterInputGradient(_ dv: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                             into output: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let c = g.channels, (tr, tc) = tiles(g)
        let tileCount = images * tr * tc, plane = tileCount * c
        let imageSize = g.inputPixels * c
        var t = 0
        for image in 0..<images {
            let dx = output + image * imageSize
            for ty in 0..<tr {
                let row0 = 2 * ty - g.padTop
                for tx in 0..<tc {
                    let col0 = 2 * tx - g.padLeft
                    let interior = row0 >= 0 && row0 + 4 <= g.inputHeight && col0 >= 0 && col0 + 4 <= g.inputWidth
                    let src = dv + t * c
                    var k = 0
                    while k < c {
                        let n = min(8, c - k)
                        @inline(__always) func v(_ r: Int, _ s: Int) -> Vector { load(src + (4 * r + s) * plane + k, n) }
                        // t = B dV, B = [[1, 0, 0, 0], [0, 1, −1, 1], [−1, 1, 1, 0], [0, 0, 0, −1]], by columns.
                        var rows = (Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(),
                                    Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector())
                        withUnsafeMutableBytes(of: &rows) { raw in
                            let m = raw.bindMemory(to: Vector.self)
                            for s in 0..<4 {
                                let v0 = v(0, s), v1 = v(1, s), v2 = v(2, s), v3 = v(3, s)
                                m[0 + s] = v0
                                m[4 + s] = v1 - v2 + v3
                                m[8 + s] = v1 + v2 - v0
                                m[12 + s] = -v3
                            }
                            // dd = t Bᵀ, row by row, added into the image gradient.
                            for i in 0..<4 {
                                let x0 = m[4 * i], x1 = m[4 * i + 1], x2 = m[4 * i + 2], x3 = m[4 * i + 3]
                                let dd = (x0, x1 - x2 + x3, x1 + x2 - x0, -x3)
                                let ih = row0 + i
                                if !interior && (ih < 0 || ih >= g.inputHeight) { continue }
                                for j in 0..<4 {
                                    let iw = col0 + j
                                    if !interior && (iw < 0 || iw >= g.inputWidth) { continue }
                                    let value = j == 0 ? dd.0 : j == 1 ? dd.1 : j == 2 ? dd.2 : dd.3
                                    let p = dx + (ih * g.inputWidth + iw) * c + k
                                    store(load(p, n) + value, p, n)
                                }
                            }
                        }
                        k += 8
                    }
                    t += 1
                }
            }
        }
    }

    // MARK: - Output transform and its adjoint

    /// Y = Aᵀ m A for every tile (Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]), written into the NHWC output
    /// `z` of `images` consecutive images; the halves of edge tiles past the output are dropped.
    package static func transformOutput(_ m: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry, filters f: Int,
                                        into z: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let (tr, tc) = tiles(g)
        let tileCount = images * tr * tc, plane = tileCount * f
        let imageSize = g.outputPixels * f
        var t = 0
        for image in 0..<images {
            let y = z + image * imageSize
            for ty in 0..<tr {
                let oh = 2 * ty, twoRows = oh + 1 < g.outputHeight
                for tx in 0..<tc {
                    let ow = 2 * tx, twoColumns = ow + 1 < g.outputWidth
                    let src = m + t * f
                    let y00 = y + (oh * g.outputWidth + ow) * f
                    let y01 = y00 + f, y10 = y00 + g.outputWidth * f, y11 = y10 + f
                    var k = 0
                    while k < f {
                        let n = min(8, f - k)
                        @inline(__always) func v(_ r: Int, _ s: Int) -> Vector { load(src + (4 * r + s) * plane + k, n) }
                        // Aᵀ m, by columns: rows r0 = m0 + m1 + m2, r1 = m1 − m2 − m3.
                        let m00 = v(0, 0), m01 = v(0, 1), m02 = v(0, 2), m03 = v(0, 3)
                        let m10 = v(1, 0), m11 = v(1, 1), m12 = v(1, 2), m13 = v(1, 3)
                        let m20 = v(2, 0), m21 = v(2, 1), m22 = v(2, 2), m23 = v(2, 3)
                        let m30 = v(3, 0), m31 = v(3, 1), m32 = v(3, 2), m33 = v(3, 3)
                        let a0 = m00 + m10 + m20, a1 = m01 + m11 + m21, a2 = m02 + m12 + m22, a3 = m03 + m13 + m23
                        let b0 = m10 - m20 - m30, b1 = m11 - m21 - m31, b2 = m12 - m22 - m32, b3 = m13 - m23 - m33
                        store(a0 + a1 + a2, y00 + k, n)
                        if twoColumns { store(a1 - a2 - a3, y01 + k, n) }
                        if twoRows {
                            store(b0 + b1 + b2, y10 + k, n)
                            if twoColumns { store(b1 - b2 - b3, y11 + k, n) }
                        }
                        k += 8
                    }
                    t += 1
                }
            }
        }
    }

    /// dM = A dY Aᵀ for every tile (the adjoint of `transformOutput`; outputs past the edge count as
    /// zero), from the NHWC gradient `dz` of `images` consecutive images into `[16][T][F]`.
    package static func transformOutputGradient(_ dz: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                                filters f: Int, into dm: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let (tr, tc) = tiles(g)
        let tileCount = images * tr * tc, plane = tileCount * f
        let imageSize = g.outputPixels * f
        var t = 0
        for image in 0..<images {
            let dy = dz + image * imageSize
            for ty in 0..<tr {
                let oh = 2 * ty, twoRows = oh + 1 < g.outputHeight
                for tx in 0..<tc {
                    let ow = 2 * tx, twoColumns = ow + 1 < g.outputWidth
                    let y00 = dy + (oh * g.outputWidth + ow) * f
                    let y01 = y00 + f, y10 = y00 + g.outputWidth * f, y11 = y10 + f
                    let out = dm + t * f
                    var k = 0
                    while k < f {
                        let n = min(8, f - k)
                        let d00 = load(y00 + k, n)
                        let d01 = twoColumns ? load(y01 + k, n) : Vector()
                        let d10 = twoRows ? load(y10 + k, n) : Vector()
                        let d11 = twoRows && twoColumns ? load(y11 + k, n) : Vector()
                        // t = A dY (4×2), A = [[1, 0], [1, 1], [1, −1], [0, −1]]; dM = t Aᵀ.
                        let o = out + k
                        @inline(__always) func row(_ r: Int, _ x0: Vector, _ x1: Vector) {
                            store(x0, o + (4 * r + 0) * plane, n)
                            store(x0 + x1, o + (4 * r + 1) * plane, n)
                            store(x0 - x1, o + (4 * r + 2) * plane, n)
                            store(-x1, o + (4 * r + 3) * plane, n)
                        }
                        row(0, d00, d01)
                        row(1, d00 + d10, d01 + d11)
                        row(2, d00 - d10, d01 - d11)
                        row(3, -d10, -d11)
                        k += 8
                    }
                    t += 1
                }
            }
        }
    }
}
