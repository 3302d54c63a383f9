import CKernels

/// Winograd's minimal filtering F(2×2, 3×3) and F(4×4, 3×3) for 3×3 stride-1 convolutions over NHWC
/// images (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Described here
/// for F(2×2, 3×3); F(4×4, 3×3) is the same with 4×4 tiles, 6×6 patches and 36 positions (its
/// matrices are in `Sources/CKernels/Winograd.c` and `kernelMatrix`), 4× fewer multiply-adds than
/// the direct method, and a larger error (`f4x4`, `kernelGradientTiling`).
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
/// Layouts: V, M, dV, dM are `[positions][T][C or F]` (one T×C or T×F row-major matrix per ξ); U
/// and dU `[positions][C][F]`; kernels HWIO `[3][3][C][F]`. Transforms work on whole channel vectors, so they read
/// and write contiguous runs of the NHWC tensors: the per-tile ones (input, output and their
/// adjoints, once per chunk) in C at the machine's vector width (`Sources/CKernels/Winograd.c`), the
/// kernel's (once per step) here eight lanes at a time (`SIMD8<Float>`), one routine for either G.
///
/// Error of F(2×2, 3×3) (F(4×4, 3×3)'s, C + 20 roundings with its own matrices, is derived in
/// WinogradTests): the transforms only add, subtract and halve, so along any path from an input and a
/// weight to an output the computation rounds at most C + 10 times, and to first order in u = 2⁻²⁴
/// `|ŷ − y| ≤ γ(C+10) · |Aᵀ| [Σ_c (|G| |g| |G|ᵀ) ⊙ (|Bᵀ| |d| |B|)] |A|` element by element; for
/// inputs of equal magnitude the bracket is 64/9 of the direct method's Σ|g||d|, whose sum rounds 9C
/// times, so the worst-case bounds are close. WinogradTests derives it and checks it; measured
/// errors are ~1e-6 of the output scale on realistic magnitudes, a few times im2col's.
package struct Winograd: Sendable, Equatable {
    /// Outputs per tile side, m: F(m×m, 3×3) reads (m+2)×(m+2) input patches.
    package let outputTile: Int

    /// F(2×2, 3×3): 16 positions, 2.25× fewer multiply-adds than the direct method; transforms of
    /// 0 and ±1 only.
    package static let f2x2 = Winograd(outputTile: 2)
    /// F(4×4, 3×3): 36 positions per 16 outputs, 4× fewer multiply-adds than the direct method
    /// (on outputs that are a multiple of 4); transform entries up to 8 and down to 1/24, so a few
    /// times the rounding error of F(2×2, 3×3) (see the error paragraph above and WinogradTests).
    package static let f4x4 = Winograd(outputTile: 4)

    /// The tiling every Winograd backward pass computes the kernel gradient with. F(4×4, 3×3)'s
    /// kernel gradient sums products of transformed values up to ~100× (V) and ~225× (dM) the
    /// originals over every tile of the batch before Gᵀ dU G (entries down to 1/24) shrinks them
    /// back: nn-bench measured a worst element 2e-3 off the Double oracle on a 56×56×64→64 layer
    /// at batch 32, growing with the tile count, against 1e-4 with F(2×2, 3×3). So a layer run as
    /// F(4×4, 3×3) uses it for the forward pass and the input gradient, and F(2×2, 3×3) here.
    package static let kernelGradientTiling = f2x2

    /// The Winograd variant an algorithm names, or nil for im2col.
    package init?(_ algorithm: ConvAlgorithm) {
        switch algorithm {
        case .im2col: return nil
        case .winograd: self = .f2x2
        case .winograd4x4: self = .f4x4
        }
    }

    private init(outputTile: Int) { self.outputTile = outputTile }

    /// Input patch side, m + 2.
    package var patch: Int { outputTile + 2 }

    /// Transform positions ξ: one per value of an input patch.
    package var positions: Int { patch * patch }

    /// Whether Winograd computes this convolution: a 3×3 kernel at stride 1 (any padding).
    package static func applies(to g: ConvGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
    }

    /// Output tiles (m×m) per image.
    package func tiles(_ g: ConvGeometry) -> (rows: Int, columns: Int) {
        ((g.outputHeight + outputTile - 1) / outputTile, (g.outputWidth + outputTile - 1) / outputTile)
    }

    package func tilesPerImage(_ g: ConvGeometry) -> Int {
        let t = tiles(g)
        return t.rows * t.columns
    }

    /// Multiply-adds of the GEMMs for `images` images (forward; each backward product is the same size).
    package func multiplyAdds(_ g: ConvGeometry, filters: Int, images: Int) -> Int {
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

    /// G, (m+2)×3 row-major: U = G g Gᵀ. Its zero entries are skipped, so F(2×2, 3×3)'s transform
    /// only adds and halves.
    private var kernelMatrix: [Float] { outputTile == 2 ? Self.g2x2 : Self.g4x4 }
    // Stored once, so that a step's kernel transform allocates nothing.
    private static let g2x2: [Float] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1]
    private static let g4x4: [Float] = [0.25, 0, 0, -1 / 6, -1 / 6, -1 / 6, -1 / 6, 1 / 6, -1 / 6,
                                        1 / 24, 1 / 12, 1 / 6, 1 / 24, -1 / 12, 1 / 6, 0, 0, 1]

    /// Runs `body(G, t, i, n)` over `count` (c, f) pairs eight at a time: the pairs i..<i+n (n ≤ 8),
    /// with G and a scratch `t` of 3·(m+2) vectors for the transform's intermediate.
    private func overPairs(_ count: Int,
                           _ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Vector>, Int, Int) -> Void) {
        kernelMatrix.withUnsafeBufferPointer { g in
            withUnsafeTemporaryAllocation(of: Vector.self, capacity: 3 * patch) { t in
                for i in stride(from: 0, to: count, by: 8) { body(g, t, i, min(8, count - i)) }
            }
        }
    }

    /// U[ξ][c][f] = (G g Gᵀ)[ξ] for every (c, f) of an HWIO kernel `[3][3][C][F]`, eight (c, f)
    /// pairs at a time: t = G g ((m+2)×3), then U = t Gᵀ.
    package func transformKernel(_ kernel: UnsafePointer<Float>, channels c: Int, filters f: Int,
                                 into u: UnsafeMutablePointer<Float>) {
        let cf = c * f, p = patch
        overPairs(cf) { g, t, i, n in
            for r in 0..<p {
                for j in 0..<3 {
                    var sum = Vector()
                    for k in 0..<3 where g[3 * r + k] != 0 { sum += g[3 * r + k] * Self.load(kernel + (3 * k + j) * cf + i, n) }
                    t[3 * r + j] = sum
                }
            }
            for r in 0..<p {
                for s in 0..<p {
                    var sum = Vector()
                    for j in 0..<3 where g[3 * s + j] != 0 { sum += g[3 * s + j] * t[3 * r + j] }
                    Self.store(sum, u + (p * r + s) * cf + i, n)
                }
            }
        }
    }

    /// dW = Gᵀ dU G: the adjoint of `transformKernel`, from `[positions][C][F]` to an HWIO `[3][3][C][F]`.
    package func kernelGradient(_ du: UnsafePointer<Float>, channels c: Int, filters f: Int,
                                into dw: UnsafeMutablePointer<Float>) {
        let cf = c * f, p = patch
        overPairs(cf) { g, t, i, n in
            // t = Gᵀ dU (3×(m+2)).
            for j in 0..<3 {
                for s in 0..<p {
                    var sum = Vector()
                    for r in 0..<p where g[3 * r + j] != 0 { sum += g[3 * r + j] * Self.load(du + (p * r + s) * cf + i, n) }
                    t[p * j + s] = sum
                }
            }
            // dW = t G (3×3).
            for j in 0..<3 {
                for k in 0..<3 {
                    var sum = Vector()
                    for s in 0..<p where g[3 * s + k] != 0 { sum += g[3 * s + k] * t[p * j + s] }
                    Self.store(sum, dw + (3 * j + k) * cf + i, n)
                }
            }
        }
    }

    // MARK: - Input and output transforms (C, `Sources/CKernels/Winograd.c`)
    //
    // Per tile these combine whole channel vectors; they run in C so that they use the machine's
    // vector width (AVX-512 or AVX2 clones) instead of Swift's baseline SSE2. F(2×2, 3×3)'s only add
    // and subtract; F(4×4, 3×3)'s also multiply by small integers, compiled without fused
    // multiply-adds: every clone gives the same bits.

    /// V[ξ][t][c] = (Bᵀ d B)[ξ] for every tile t of `images` consecutive images at `input`, T = images ·
    /// tiles per image. F(2×2, 3×3): Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
    /// Input taps outside the image read `zeros` (at least C zero floats).
    package func transformInput(_ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                       zeros: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        if outputTile == 2 { nn_winograd_input(&window, input, images, zeros, v) }
        else { nn_winograd4x4_input(&window, input, images, zeros, v) }
    }

    /// dX += B dV Bᵀ tile by tile (the adjoint of `transformInput`): each tile's patch of channel
    /// vectors is added into `output` (`images` consecutive image gradients); taps in the padding are
    /// dropped. Neighbouring patches overlap, so one caller owns each image.
    /// F(2×2, 3×3): B = [[1, 0, 0, 0], [0, 1, −1, 1], [−1, 1, 1, 0], [0, 0, 0, −1]].
    package func scatterInputGradient(_ dv: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                             into output: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        if outputTile == 2 { nn_winograd_scatter_input_gradient(&window, dv, images, output) }
        else { nn_winograd4x4_scatter_input_gradient(&window, dv, images, output) }
    }

    /// Y = Aᵀ m A for every tile (F(2×2, 3×3): Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]), written into the
    /// NHWC output `z` of `images` consecutive images; the parts of edge tiles past the output are dropped.
    package func transformOutput(_ m: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry, filters f: Int,
                                        into z: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        if outputTile == 2 { nn_winograd_output(&window, m, images, f, z) }
        else { nn_winograd4x4_output(&window, m, images, f, z) }
    }

    /// dM = A dY Aᵀ for every tile (the adjoint of `transformOutput`; outputs past the edge count as
    /// zero), from the NHWC gradient `dz` of `images` consecutive images into `[positions][T][F]`.
    package func transformOutputGradient(_ dz: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                                filters f: Int, into dm: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        var window = g.windowGeometry
        if outputTile == 2 { nn_winograd_output_gradient(&window, dz, images, f, dm) }
        else { nn_winograd4x4_output_gradient(&window, dz, images, f, dm) }
    }
}
