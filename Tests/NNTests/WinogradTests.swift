import XCTest
import NN
import NNReference

/// Winograd F(2×2, 3×3) and F(4×4, 3×3) Conv2D (`Kernels/Winograd.swift`): forward, input and kernel
/// gradients against the Double reference and the im2col path, the forward rounding error against the
/// stated bound, central-difference gradient checks, determinism, and how the algorithm is chosen.
///
/// The error bound. Every transform entry is 0, ±1 or ±½, so each transform step rounds once per
/// addition; along any path from an input d and a weight g to an output the computation rounds at
/// most 2 (Bᵀ d B: two 2-term sums) + 4 (G g Gᵀ: two 3-term sums) + C (the GEMM's C products and
/// sums, with or without FMA) + 4 (Aᵀ m A: two 3-term sums) = C + 10 times. The standard forward
/// analysis of sums and products (Higham, ch. 3) then gives, to first order in u = 2⁻²⁴, element by element:
///
///     |ŷ − y| ≤ γ(C+10) · |Aᵀ| [ Σ_c (|G| |g_c| |G|ᵀ) ⊙ (|Bᵀ| |d_c| |B|) ] |A|,   γ(n) = n·u / (1 − n·u)
///
/// (the error analysis of Barabasz et al., "Error analysis and improving the accuracy of Winograd
/// convolution for deep neural networks", ACM TOMS 2020, in componentwise form). For g and d of
/// equal magnitude the bracket is 64/9 ≈ 7.1× the direct method's Σ|g||d| per output (every one of
/// the 16·9 input-weight pairs of a tile contributes, each with a coefficient of at most 4), while
/// the direct (im2col) sum rounds 9C times instead of C + 10: the two worst-case bounds are within a
/// factor of about 0.8 of each other for C ≥ 32. Measured: ~1e-6 of the output's scale on uniform
/// inputs and Glorot kernels, a few times im2col's.
///
/// F(4×4, 3×3) has the same form with its own |Bᵀ|, |G|, |Aᵀ| and C + 20 roundings: Bᵀ d B and
/// Aᵀ m A round at most 3 times per side (one product by 5, two additions; the factors 2, 4 and 8
/// are exact), G g Gᵀ at most 4 per side (the coefficient 1/6 or 1/12 itself, its product, two
/// additions). Its entries reach 5 (Bᵀ) and 8 (Aᵀ), so the bracket and the measured error are
/// larger: ~1e-5 of the output's scale. Its kernel gradient is computed by F(2×2, 3×3)
/// (`Winograd.kernelGradientTiling`), so the gradient tolerances are the same for both.
final class WinogradTests: XCTestCase {
    override func tearDown() {
        ConvAlgorithm.policy = .auto
        ConvAlgorithm.forgetMeasurements()
        super.tearDown()
    }

    /// A layer forced to `algorithm`, with a random bias.
    func layer(_ h: Int, _ w: Int, _ c: Int, _ f: Int, _ padding: Padding, activation: Activation = .linear,
               algorithm: ConvAlgorithm, seed: UInt64, data: inout TestData) throws -> Conv2D {
        let layer = Conv2D(filters: f, kernelSize: 3, padding: padding, activation: activation)
        try layer.build(inputShape: [h, w, c], seed: seed)
        layer.bias!.value.assign(data.tensor([f], -0.5, 0.5))
        layer.algorithmOverride = algorithm
        return layer
    }

    static let tilings: [ConvAlgorithm] = [.winograd, .winograd4x4]

    /// Forward and all three gradients against the Double reference (1e-4, the Conv2D tests' tolerance)
    /// and against the im2col path on the same weights (1e-5; F(4×4, 3×3)'s forward and input
    /// gradient 1e-4), over two steps, for each Winograd tiling. The backward pass gets a fresh
    /// workspace, so that its buffers are sized by itself (not left larger by the forward pass) and
    /// an undersized one overflows where the address sanitizer sees it.
    func check(_ label: String, n: Int, h: Int, w: Int, c: Int, f: Int, padding: Padding, activation: Activation = .linear,
               budgetImages: Int? = nil, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        for algorithm in Self.tilings {
            try check("\(label) [\(algorithm)]", algorithm: algorithm, n: n, h: h, w: w, c: c, f: f, padding: padding,
                      activation: activation, budgetImages: budgetImages, seed: seed, file: file, line: line)
        }
    }

    func check(_ label: String, algorithm: ConvAlgorithm, n: Int, h: Int, w: Int, c: Int, f: Int, padding: Padding,
               activation: Activation, budgetImages: Int?, seed: UInt64, file: StaticString, line: UInt) throws {
        var data = TestData(seed: seed)
        let wino = try layer(h, w, c, f, padding, activation: activation, algorithm: algorithm, seed: seed, data: &data)
        let direct = try layer(h, w, c, f, padding, activation: activation, algorithm: .im2col, seed: seed, data: &data)
        direct.kernel.value.assign(wino.kernel.value)
        direct.bias!.value.assign(wino.bias!.value)
        if let budgetImages {
            // The larger of the tilings' buffers per image (a backward pass holds both).
            let perImage = [Winograd.f2x2, Winograd(algorithm)!].map { $0.positions * $0.tilesPerImage(wino.geometry) }.max()!
                * max(c, f)
            wino.useWorkspace(Workspace(budget: budgetImages * perImage))
        }
        for step in 0..<2 {
            let x = data.tensor([n, h, w, c])
            let y = try wino.forward(x, training: true).copy()
            XCTAssertEqual(wino.lastAlgorithm, algorithm, file: file, line: line)
            let rx = toRef(x), rk = toRef(wino.kernel.value), rb = toDoubles(wino.bias!.value)
            var reference = Ref.conv2D(rx, kernel: rk, bias: rb, padding: padding.ref)
            if activation == .relu { reference = RefTensor(shape: reference.shape, data: reference.data.map { max(0, $0) }) }
            assertClose(y, reference, rtol: 1e-4, "\(label) step \(step): forward", file: file, line: line)
            let yDirect = try direct.forward(x, training: true).copy()
            assertClose(y.elements, yDirect.elements.map(Double.init), rtol: algorithm == .winograd ? 1e-5 : 1e-4,
                        "\(label) step \(step): forward vs im2col",
                        file: file, line: line)

            let dy = data.tensor(y.shape)
            wino.useWorkspace(Workspace(budget: wino.workspace.budget))
            let dx = try wino.backward(dy).copy()
            let dxDirect = try direct.backward(dy).copy()
            var dz = RefTensor(shape: dy.shape, data: toDoubles(dy))
            if activation == .relu { dz = RefTensor(shape: dz.shape, data: zip(dz.data, y.elements).map { $1 > 0 ? $0 : 0 }) }
            let r = Ref.conv2DBackward(rx, kernel: rk, hasBias: true, padding: padding.ref, outputGradient: dz)
            assertClose(dx, r.input, rtol: 1e-4, "\(label) step \(step): input gradient", file: file, line: line)
            assertClose(wino.kernel.gradient, r.kernel, rtol: 1e-4, "\(label) step \(step): kernel gradient", file: file, line: line)
            assertClose(wino.bias!.gradient.elements, r.bias ?? [], rtol: 1e-4, "\(label) step \(step): bias gradient",
                        file: file, line: line)
            assertClose(dx.elements, dxDirect.elements.map(Double.init), rtol: algorithm == .winograd ? 1e-5 : 1e-4,
                        "\(label): input gradient vs im2col",
                        file: file, line: line)
            // The kernel gradient sums N·OH·OW products per weight (1,568 here at most) in both
            // algorithms, in different orders: the two differ by up to ~2e-5, each within 1e-4 of the oracle.
            assertClose(wino.kernel.gradient.elements, direct.kernel.gradient.elements.map(Double.init), rtol: 5e-5,
                        "\(label): kernel gradient vs im2col", file: file, line: line)
        }
    }

    func testSamePaddingOddSizesAndChannels() throws {
        // Odd output sizes (edge tiles half used), channels not a multiple of the vector width.
        try check("9x7x20->12 same", n: 3, h: 9, w: 7, c: 20, f: 12, padding: .same, seed: 1)
        try check("5x5x3->2 same, batch 1", n: 1, h: 5, w: 5, c: 3, f: 2, padding: .same, seed: 2)
        // Every channel step of the C transforms at once: 16-wide, 8-wide and single (29 = 16 + 8 + 5,
        // 27 = 16 + 8 + 3), for the input (channels) and output (filters) sides.
        try check("6x5x29->27 same", n: 2, h: 6, w: 5, c: 29, f: 27, padding: .same, seed: 8)
        // F(4×4, 3×3)'s edge tiles with 3 rows and 2 columns, then 1 row and 3 columns, inside.
        try check("11x10x9->7 same", n: 2, h: 11, w: 10, c: 9, f: 7, padding: .same, seed: 14)
        try check("13x7x5->6 same", n: 1, h: 13, w: 7, c: 5, f: 6, padding: .same, seed: 15)
    }

    func testValidPadding() throws {
        try check("8x8x8->5 valid", n: 2, h: 8, w: 8, c: 8, f: 5, padding: .valid, seed: 3)
        try check("7x10x17->9 valid", n: 3, h: 7, w: 10, c: 17, f: 9, padding: .valid, seed: 4)
        try check("3x3x4->4 valid (one output)", n: 2, h: 3, w: 3, c: 4, f: 4, padding: .valid, seed: 5)
    }

    func testReLUAndChunkedBatch() throws {
        try check("14x14x33->17 same + relu, chunks of 2", n: 5, h: 14, w: 14, c: 33, f: 17, padding: .same,
                  activation: .relu, budgetImages: 2, seed: 6)
        // The deep-convnet shape at a batch split over the engine's threads.
        try check("14x14x32->64 same + relu", n: 8, h: 14, w: 14, c: 32, f: 64, padding: .same, activation: .relu, seed: 7)
    }

    /// A first layer (no input gradient wanted): the kernel and bias gradients alone, the input
    /// gradient's transforms and GEMMs skipped, for each tiling.
    func testKernelGradientWithoutInputGradient() throws {
        for algorithm in Self.tilings {
            var data = TestData(seed: 16)
            let l = try layer(10, 9, 18, 12, .same, activation: .relu, algorithm: algorithm, seed: 16, data: &data)
            l.computesInputGradient = false
            let x = data.tensor([3, 10, 9, 18])
            let y = try l.forward(x, training: true).copy()
            let dy = data.tensor(y.shape)
            _ = try l.backward(dy)
            let dz = RefTensor(shape: dy.shape, data: zip(toDoubles(dy), y.elements).map { $1 > 0 ? $0 : 0 })
            let r = Ref.conv2DBackward(toRef(x), kernel: toRef(l.kernel.value), hasBias: true, padding: .same, outputGradient: dz)
            assertClose(l.kernel.gradient, r.kernel, rtol: 1e-4, "\(algorithm): kernel gradient")
            assertClose(l.bias!.gradient.elements, r.bias ?? [], rtol: 1e-4, "\(algorithm): bias gradient")
        }
    }

    /// Central differences (Caffe's float settings, as GradientCheckTests) through the Winograd path.
    func testGradientCheck() throws {
        for algorithm in Self.tilings {
            var data = TestData(seed: 8)
            let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)
            for (i, padding) in [Padding.same, .valid].enumerated() {
                let l = try layer(7, 5, 3, 4, padding, algorithm: algorithm, seed: 8 + UInt64(i), data: &data)
                try checker.check(l, input: data.tensor([2, 7, 5, 3]), "\(algorithm) Conv2D 7x5x3->4 \(padding)")
            }
            let relu = try layer(6, 6, 16, 16, .same, activation: .relu, algorithm: algorithm, seed: 10, data: &data)
            try GradientChecker(step: 1e-3, threshold: 1e-2, probes: 20)
                .check(relu, input: data.tensor([2, 6, 6, 16]), kinks: true, "\(algorithm) Conv2D 6x6x16->16 same + relu")
        }
    }

    /// Every output within the componentwise bound above (no bias), for each tiling, on realistic
    /// magnitudes: inputs uniform in [−1, 1], a Glorot-uniform kernel, 64 channels; 14 × 14 outputs
    /// leave F(4×4, 3×3) edge tiles half outside.
    func testRoundingErrorWithinBound() throws {
        let n = 2, h = 14, w = 14, c = 64, f = 16
        var data = TestData(seed: 11)
        let conv = Conv2D(filters: f, kernelSize: 3, padding: .same, useBias: false)
        try conv.build(inputShape: [h, w, c], seed: 11)
        let x = data.tensor([n, h, w, c])
        let exact = Ref.conv2D(toRef(x), kernel: toRef(conv.kernel.value), padding: .same)
        conv.algorithmOverride = .im2col
        let yDirect = try conv.forward(x).copy()
        var directError = 0.0
        for i in 0..<yDirect.count { directError = max(directError, abs(Double(yDirect[flat: i]) - exact.data[i])) }
        for (tiling, roundings, realistic) in [(Self.f2x2, 10, 1e-5), (Self.f4x4, 20, 1e-4)] {
            conv.algorithmOverride = tiling.algorithm
            let y = try conv.forward(x).copy()
            let majorant = Self.majorant(tiling, x: x, kernel: conv.kernel.value, geometry: conv.geometry, filters: f)
            let u = pow(2.0, -24.0), paths = Double(c + roundings), gamma = paths * u / (1 - paths * u)
            var worstRatio = 0.0, worstError = 0.0, scale = 0.0
            for i in 0..<y.count {
                let e = abs(Double(y[flat: i]) - exact.data[i])
                worstRatio = max(worstRatio, e / (gamma * majorant[i]))
                worstError = max(worstError, e)
                scale = max(scale, abs(exact.data[i]))
            }
            XCTAssertLessThanOrEqual(worstRatio, 1, "\(tiling.algorithm): an output exceeds the componentwise bound")
            // Realistic magnitudes: far inside the bound.
            XCTAssertLessThan(worstError / scale, realistic, "\(tiling.algorithm)")
            print(String(format: "%@ 14x14x64->16: max error %.2e (%.2e of max |y|, %.3f of the bound); im2col %.2e",
                         tiling.algorithm.rawValue, worstError, worstError / scale, worstRatio, directError))
        }
    }

    /// A tiling's transforms in absolute value, written out here independently of the engine's:
    /// |Bᵀ| (p×p), |G| (p×3), |Aᵀ| (m×p), p = m + 2.
    struct Tiling {
        let algorithm: ConvAlgorithm, m: Int
        let bt: [[Double]], g: [[Double]], at: [[Double]]
        var p: Int { m + 2 }
    }

    static let f2x2 = Tiling(algorithm: .winograd, m: 2,
                             bt: [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]],
                             g: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]],
                             at: [[1, 1, 1, 0], [0, 1, 1, 1]])
    static let f4x4 = Tiling(algorithm: .winograd4x4, m: 4,
                             bt: [[4, 0, 5, 0, 1, 0], [0, 4, 4, 1, 1, 0], [0, 4, 4, 1, 1, 0],
                                  [0, 2, 1, 2, 1, 0], [0, 2, 1, 2, 1, 0], [0, 4, 0, 5, 0, 1]],
                             g: [[1.0 / 4, 0, 0], [1.0 / 6, 1.0 / 6, 1.0 / 6], [1.0 / 6, 1.0 / 6, 1.0 / 6],
                                 [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, 1.0 / 12, 1.0 / 6], [0, 0, 1]],
                             at: [[1, 1, 1, 1, 1, 0], [0, 1, 1, 2, 2, 0], [0, 1, 1, 4, 4, 0], [0, 1, 1, 8, 8, 1]])

    /// |Aᵀ| [Σ_c (|G| |g| |G|ᵀ) ⊙ (|Bᵀ| |d| |B|)] |A| for every output, in Double.
    static func majorant(_ tiling: Tiling, x: Tensor, kernel: Tensor, geometry g: ConvGeometry, filters f: Int) -> [Double] {
        let bt = tiling.bt, gm = tiling.g, at = tiling.at, m = tiling.m, p = tiling.p, pp = p * p
        let n = x.shape[0], c = g.channels
        let tr = (g.outputHeight + m - 1) / m, tc = (g.outputWidth + m - 1) / m
        var out = [Double](repeating: 0, count: n * g.outputPixels * f)
        // |G| |g| |G|ᵀ per (c, f), once.
        var u = [Double](repeating: 0, count: c * f * pp)
        for ci in 0..<c {
            for fi in 0..<f {
                for r in 0..<p {
                    for s in 0..<p {
                        var sum = 0.0
                        for i in 0..<3 { for j in 0..<3 {
                            sum += gm[r][i] * abs(Double(kernel[flat: ((i * 3 + j) * c + ci) * f + fi])) * gm[s][j]
                        } }
                        u[(ci * f + fi) * pp + r * p + s] = sum
                    }
                }
            }
        }
        for image in 0..<n {
            for ty in 0..<tr {
                for tx in 0..<tc {
                    var mm = [Double](repeating: 0, count: f * pp)
                    for ci in 0..<c {
                        var d = [Double](repeating: 0, count: pp)
                        for i in 0..<p { for j in 0..<p {
                            let ih = m * ty - g.padTop + i, iw = m * tx - g.padLeft + j
                            if ih >= 0, ih < g.inputHeight, iw >= 0, iw < g.inputWidth {
                                d[i * p + j] = abs(Double(x[flat: ((image * g.inputHeight + ih) * g.inputWidth + iw) * c + ci]))
                            }
                        } }
                        var v = [Double](repeating: 0, count: pp)
                        for r in 0..<p { for s in 0..<p {
                            var sum = 0.0
                            for i in 0..<p { for j in 0..<p { sum += bt[r][i] * d[i * p + j] * bt[s][j] } }
                            v[r * p + s] = sum
                        } }
                        for fi in 0..<f { for xi in 0..<pp { mm[fi * pp + xi] += u[(ci * f + fi) * pp + xi] * v[xi] } }
                    }
                    for fi in 0..<f {
                        for a in 0..<m { for b in 0..<m {
                            let oh = m * ty + a, ow = m * tx + b
                            guard oh < g.outputHeight, ow < g.outputWidth else { continue }
                            var sum = 0.0
                            for r in 0..<p { for s in 0..<p { sum += at[a][r] * mm[fi * pp + r * p + s] * at[b][s] } }
                            out[((image * g.outputHeight + oh) * g.outputWidth + ow) * f + fi] = sum
                        } }
                    }
                }
            }
        }
        return out
    }

    /// The same input, weights and thread count give the same bits, forward and backward.
    func testDeterministic() throws {
        for algorithm in Self.tilings {
            var data = TestData(seed: 12)
            let l = try layer(14, 14, 32, 32, .same, activation: .relu, algorithm: algorithm, seed: 12, data: &data)
            let x = data.tensor([6, 14, 14, 32]), dy = data.tensor([6, 14, 14, 32])
            var results: [[Float]] = []
            for _ in 0..<2 {
                let y = try l.forward(x, training: true).elements
                let dx = try l.backward(dy).elements
                results.append(y + dx + l.kernel.gradient.elements + l.bias!.gradient.elements)
            }
            XCTAssertEqual(results[0], results[1], "\(algorithm)")
        }
    }

    func testPolicy() throws {
        func geometry(_ c: Int, kernel: Int = 3, stride: Int = 1, side: Int = 14) -> ConvGeometry {
            ConvGeometry(inputHeight: side, inputWidth: side, channels: c, kernelHeight: kernel, kernelWidth: kernel,
                         strideHeight: stride, strideWidth: stride, padding: .same)
        }
        ConvAlgorithm.policy = .auto
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32), filters: 64, batch: 32), .winograd)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(1), filters: 32, batch: 32), .im2col)
        // Too few output pixels in the batch for Winograd: 3 × 14 × 14 = 588 is enough, 2 × 14 × 14 not.
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32), filters: 64, batch: 3), .winograd)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32), filters: 64, batch: 2), .im2col)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, side: 24), filters: 64, batch: 1), .winograd)
        // F(4×4, 3×3) on whole 4×4 tiles from 2,048 output pixels (8 × 16 × 16).
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, side: 16), filters: 64, batch: 8), .winograd4x4)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, side: 16), filters: 64, batch: 7), .winograd)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, side: 18), filters: 64, batch: 32), .winograd)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(8, side: 16), filters: 64, batch: 32), .im2col)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, stride: 2), filters: 64, batch: 32), .im2col)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, kernel: 1), filters: 64, batch: 32), .im2col)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, kernel: 5), filters: 64, batch: 32), .im2col)
        ConvAlgorithm.policy = .im2col
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32), filters: 64, batch: 32), .im2col)
        ConvAlgorithm.policy = .winograd
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(1), filters: 2, batch: 32), .winograd)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, stride: 2), filters: 2, batch: 32), .im2col)
        ConvAlgorithm.policy = .winograd4x4
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(1), filters: 2, batch: 32), .winograd4x4)
        XCTAssertEqual(ConvAlgorithm.chosen(for: geometry(32, kernel: 5), filters: 64, batch: 32), .im2col)

        // Measured: nothing known until a layer of that shape runs; then the choice is kept.
        ConvAlgorithm.policy = .measure
        ConvAlgorithm.forgetMeasurements()
        XCTAssertNil(ConvAlgorithm.chosen(for: geometry(32), filters: 32, batch: 4))
        var data = TestData(seed: 13)
        let conv = Conv2D(filters: 32, kernelSize: 3, padding: .same, activation: .relu)
        try conv.build(inputShape: [14, 14, 32], seed: 13)
        let x = data.tensor([4, 14, 14, 32])
        let y = try conv.forward(x, training: true).copy()
        let chosen = try XCTUnwrap(ConvAlgorithm.chosen(for: geometry(32), filters: 32, batch: 4))
        XCTAssertEqual(conv.lastAlgorithm, chosen)
        // The measuring pass leaves the right output and a usable backward.
        let reference = Ref.conv2D(toRef(x), kernel: toRef(conv.kernel.value), bias: toDoubles(conv.bias!.value), padding: .same)
        assertClose(y, RefTensor(shape: reference.shape, data: reference.data.map { max(0, $0) }), rtol: 1e-4, "measured forward")
        let dx = try conv.backward(data.tensor(y.shape))
        XCTAssertEqual(dx.shape, [4, 14, 14, 32])
        XCTAssertEqual(ConvAlgorithm.measurements.count, 1)
    }
}
