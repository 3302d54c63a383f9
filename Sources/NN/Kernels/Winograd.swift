import CKernels

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
/// `[16][C][F]`; kernels HWIO `[3][3][C][F]`. Transforms work on whole channel vectors, so they read
/// and write contiguous runs of the NHWC tensors: the per-tile ones (input, output and their
/// adjoints, once per chunk) in C at the machine's vector width (`Sources/CKernels/Winograd.c`), the
/// kernel's (once per step) here eight lanes at a time (`SIMD8<Float>`).
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

    // MARK: - Input and output transforms (C, `Sources/CKernels/Winograd.c`)
    //
    // Per tile these are additions of whole channel vectors; they run in C so that they use the
    // machine's vector width (AVX-512 or AVX2 clones) instead of Swift's baseline SSE2. They only
    // add and subtract, so every clone gives the same bits.

    /// V[ξ][t][c] = (Bᵀ d B)[ξ] for every tile t of `images` consecutive images at `input`, T = images ·
    /// tiles per image. Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]. Input taps
    /// outside the image read `zeros` (at least C zero floats).
    package static func transformInput(_ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                       zeros: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        nn_winograd_input(&window, input, images, zeros, v)
    }

    /// dX += B dV Bᵀ tile by tile (the adjoint of `transformInput`): each tile's 4×4 patch of channel
    /// vectors is added into `output` (`images` consecutive image gradients); taps in the padding are
    /// dropped. Neighbouring patches overlap, so one caller owns each image.
    /// B = [[1, 0, 0, 0], [0, 1, −1, 1], [−1, 1, 1, 0], [0, 0, 0, −1]].
    package static func scatterInputGradient(_ dv: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                             into output: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        nn_winograd_scatter_input_gradient(&window, dv, images, output)
    }

    /// Y = Aᵀ m A for every tile (Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]), written into the NHWC output
    /// `z` of `images` consecutive images; the halves of edge tiles past the output are dropped.
    package static func transformOutput(_ m: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry, filters f: Int,
                                        into z: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        nn_winograd_output(&window, m, images, f, z)
    }

    /// dM = A dY Aᵀ for every tile (the adjoint of `transformOutput`; outputs past the edge count as
    /// zero), from the NHWC gradient `dz` of `images` consecutive images into `[16][T][F]`.
    package static func transformOutputGradient(_ dz: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                                filters f: Int, into dm: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        nn_winograd_output_gradient(&window, dz, images, f, dm)
    }
}
