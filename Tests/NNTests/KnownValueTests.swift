import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo
import NNReference

/// Small cases worked out by hand, run through the engine: no oracle in between.
final class KnownValueTests: XCTestCase {

    // MARK: - Convolution by hand

    /// Input 3×3 (1…9, one channel), same padding, stride 1, two filters:
    /// f0 the Laplacian [[0,1,0],[1,−4,1],[0,1,0]] (bias 0), f1 the asymmetric [[1,2,3],[4,5,6],[7,8,9]]
    /// (bias 0.5), which catches a flipped kernel (convolution instead of cross-correlation).
    func testConv2DSamePaddingByHand() throws {
        let layer = Conv2D(filters: 2, kernelSize: 3, padding: .same)
        try layer.build(inputShape: [3, 3, 1], seed: 1)
        let laplacian: [Float] = [0, 1, 0, 1, -4, 1, 0, 1, 0]
        let ramp: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        // Kernel [kh, kw, c = 1, f = 2]: the two filters interleave.
        var k = [Float]()
        for i in 0..<9 { k += [laplacian[i], ramp[i]] }
        layer.parameters[0].value.assign(Tensor(shape: [3, 3, 1, 2], elements: k))
        layer.parameters[1].value.assign(Tensor(shape: [2], elements: [0, 0.5]))
        let x = Tensor(shape: [1, 3, 3, 1], elements: (1...9).map(Float.init))
        let y = try layer.forward(x, training: true)
        XCTAssertEqual(y.shape, [1, 3, 3, 2])
        // f0: up + down + left + right − 4·centre, zero outside.
        let f0: [Float] = [2, 1, -4, -3, 0, -7, -16, -11, -22]
        // f1 at (i, j) = Σ k[a][b] · x[i + a − 1][j + b − 1]. Worked corners and centre:
        // (0,0) = 5·1 + 6·2 + 8·4 + 9·5 = 94; (1,1) = Σ k·x = 285; (2,2) = 1·5 + 2·6 + 4·8 + 5·9 = 94;
        // (0,1) = 4·1 + 5·2 + 6·3 + 7·4 + 8·5 + 9·6 = 154; (1,0) = 2·1 + 3·2 + 5·4 + 6·5 + 8·7 + 9·8 = 186;
        // (0,2) = 4·2 + 5·3 + 7·5 + 8·6 = 106; (1,2) = 1·2 + 2·3 + 4·5 + 5·6 + 7·8 + 8·9 = 186;
        // (2,0) = 2·4 + 3·5 + 5·7 + 6·8 = 106; (2,1) = 1·4 + 2·5 + 3·6 + 4·7 + 5·8 + 6·9 = 154.
        let f1: [Float] = [94, 154, 106, 186, 285, 186, 106, 154, 94].map { $0 + 0.5 }
        for p in 0..<9 {
            XCTAssertEqual(y[flat: 2 * p], f0[p], accuracy: 1e-4, "Laplacian at pixel \(p)")
            XCTAssertEqual(y[flat: 2 * p + 1], f1[p], accuracy: 1e-3, "ramp filter at pixel \(p)")
        }

        // Backward with dY = 1 everywhere.
        let dx = try layer.backward(Tensor.ones([1, 3, 3, 2]))
        // dX(p) = Σ over outputs o whose window covers p of k[p − o + 1], summed over both filters.
        // Laplacian part: −4 + (number of in-image 4-neighbours of p). Ramp part at the corner (0,0):
        // output (0,0) sees it through tap (1,1) = 5, (0,1) through tap (1,0) = 4, (1,0) through
        // tap (0,1) = 2, (1,1) through tap (0,0) = 1: total 12.
        XCTAssertEqual(dx[0, 0, 0, 0], -2 + 12, accuracy: 1e-4, "dX corner")
        XCTAssertEqual(dx[0, 1, 1, 0], 0 + 45, accuracy: 1e-4, "dX centre (every tap of both kernels)")
        // Edge (0,1): Laplacian −4 + 3; ramp taps from outputs (0,0),(0,1),(0,2),(1,0),(1,1),(1,2):
        // 6 + 5 + 4 + 3 + 2 + 1 = 21.
        XCTAssertEqual(dx[0, 0, 1, 0], -1 + 21, accuracy: 1e-4, "dX top edge")
        // dK[a][b] = Σ_o x[o + (a − 1, b − 1)], the same for both filters.
        let dk = layer.parameters[0].gradient
        XCTAssertEqual(dk[1, 1, 0, 0], 45, accuracy: 1e-4, "dK centre tap = Σ x")
        XCTAssertEqual(dk[0, 0, 0, 1], 1 + 2 + 4 + 5, accuracy: 1e-4, "dK top-left tap")
        XCTAssertEqual(dk[0, 1, 0, 0], 1 + 2 + 3 + 4 + 5 + 6, accuracy: 1e-4, "dK top-centre tap")
        XCTAssertEqual(dk[2, 2, 0, 1], 5 + 6 + 8 + 9, accuracy: 1e-4, "dK bottom-right tap")
        XCTAssertEqual(layer.parameters[1].gradient.elements, [9, 9], "dBias = number of output pixels")
    }

    /// Keras/TensorFlow same padding puts the odd pixel after: 4×4 input, 3×3 kernel, stride 2 gives a
    /// 2×2 output with padding 0 at the top/left and 1 at the bottom/right.
    func testSamePaddingAsymmetry() throws {
        let g = ConvGeometry(inputHeight: 4, inputWidth: 4, channels: 1, kernelHeight: 3, kernelWidth: 3,
                             strideHeight: 2, strideWidth: 2, padding: .same)
        XCTAssertEqual(g.outputHeight, 2)
        XCTAssertEqual(g.outputWidth, 2)
        XCTAssertEqual(g.padTop, 0)
        XCTAssertEqual(g.padLeft, 0)
        // Total padding (2 − 1)·2 + 3 − 4 = 1, all of it after.
        XCTAssertEqual(ConvGeometry.outputSize(4, 3, 2, .same).0, 2)
        XCTAssertEqual(ConvGeometry.outputSize(5, 3, 2, .same).1, 1, "5 wide, stride 2: 2 padding, 1 before")
        XCTAssertEqual(Ref.outputSize(input: 4, kernel: 3, stride: 2, padding: .same).padBefore, 0, "engine and oracle agree")

        // Through Conv2D with a kernel of ones: each output is the sum of its window.
        // x[r][c] = 4r + c + 1. Window (0,0) = rows 0–2 × cols 0–2 = 54; (0,1) = rows 0–2 × cols 2–3 = 45;
        // (1,0) = rows 2–3 × cols 0–2 = 72; (1,1) = rows 2–3 × cols 2–3 = 54. Symmetric padding would
        // have given (0,0) = 1 + 2 + 5 + 6 = 14.
        let layer = Conv2D(filters: 1, kernelSize: 3, strides: 2, padding: .same, useBias: false, kernelInitializer: .ones)
        try layer.build(inputShape: [4, 4, 1], seed: 1)
        let y = try layer.forward(Tensor(shape: [1, 4, 4, 1], elements: (1...16).map(Float.init)))
        XCTAssertEqual(y.shape, [1, 2, 2, 1])
        XCTAssertEqual(y.elements, [54, 45, 72, 54])
    }

    // MARK: - im2col / col2im by hand

    func testIm2colAndCol2imByHand() {
        // 3×3 one-channel image 1…9, 2×2 kernel, stride 1, valid: 4 rows of 4 taps.
        let g = ConvGeometry(inputHeight: 3, inputWidth: 3, channels: 1, kernelHeight: 2, kernelWidth: 2, padding: .valid)
        XCTAssertEqual(g.patchSize, 4)
        XCTAssertEqual(g.outputPixels, 4)
        let x: [Float] = (1...9).map(Float.init)
        var col = [Float](repeating: -1, count: 16)
        x.withUnsafeBufferPointer { xp in col.withUnsafeMutableBufferPointer { Im2col.im2col(xp.baseAddress!, images: 1, geometry: g, col: $0.baseAddress!) } }
        XCTAssertEqual(col, [1, 2, 4, 5,
                             2, 3, 5, 6,
                             4, 5, 7, 8,
                             5, 6, 8, 9])
        // col2im of ones counts how many windows cover each pixel.
        let ones = [Float](repeating: 1, count: 16)
        var image = [Float](repeating: 0, count: 9)
        ones.withUnsafeBufferPointer { c in image.withUnsafeMutableBufferPointer { Im2col.col2im(c.baseAddress!, images: 1, geometry: g, output: $0.baseAddress!) } }
        XCTAssertEqual(image, [1, 2, 1,
                               2, 4, 2,
                               1, 2, 1])
        // col2im adds into what is there.
        ones.withUnsafeBufferPointer { c in image.withUnsafeMutableBufferPointer { Im2col.col2im(c.baseAddress!, images: 1, geometry: g, output: $0.baseAddress!) } }
        XCTAssertEqual(image[4], 8)

        // 2×2 image with 2 channels, 2×2 kernel, same padding (total pad 1, after): taps past the
        // bottom/right are zero, channels stay contiguous within a tap.
        let g2 = ConvGeometry(inputHeight: 2, inputWidth: 2, channels: 2, kernelHeight: 2, kernelWidth: 2, padding: .same)
        XCTAssertEqual(g2.padTop, 0)
        XCTAssertEqual(g2.patchSize, 8)
        let x2: [Float] = [1, 10, 2, 20, 3, 30, 4, 40]  // (h, w, c)
        var col2 = [Float](repeating: -1, count: 32)
        x2.withUnsafeBufferPointer { xp in col2.withUnsafeMutableBufferPointer { Im2col.im2col(xp.baseAddress!, images: 1, geometry: g2, col: $0.baseAddress!) } }
        XCTAssertEqual(col2, [1, 10, 2, 20, 3, 30, 4, 40,   // (0,0): all four taps inside
                              2, 20, 0, 0, 4, 40, 0, 0,     // (0,1): right column in the padding
                              3, 30, 4, 40, 0, 0, 0, 0,     // (1,0): bottom row in the padding
                              4, 40, 0, 0, 0, 0, 0, 0])     // (1,1): only the top-left tap
        var back = [Float](repeating: 0, count: 8)
        col2.withUnsafeBufferPointer { c in back.withUnsafeMutableBufferPointer { Im2col.col2im(c.baseAddress!, images: 1, geometry: g2, output: $0.baseAddress!) } }
        // Pixel (h, w) appears in (h + 1)·(w + 1) windows here.
        XCTAssertEqual(back, [1, 10, 4, 40, 6, 60, 16, 160])

        // Two images in one call: the second image's rows follow the first's.
        let xx = x + x.map { $0 + 100 }
        var col3 = [Float](repeating: -1, count: 32)
        xx.withUnsafeBufferPointer { xp in col3.withUnsafeMutableBufferPointer { Im2col.im2col(xp.baseAddress!, images: 2, geometry: g, col: $0.baseAddress!) } }
        XCTAssertEqual(Array(col3[16..<20]), [101, 102, 104, 105])
    }

    // MARK: - Max pooling with ties

    /// Ties go to the first maximum in scan order (row by row within the window), as in TensorFlow.
    func testMaxPoolingTiesGoToFirstMaximum() throws {
        let layer = MaxPooling2D(poolSize: 2)
        try layer.build(inputShape: [4, 4, 1], seed: 1)
        let x = Tensor(shape: [1, 4, 4, 1], elements: [
            1, 1,   0, 3,
            1, 1,   3, 1,
            -2, -5, 7, 7,
            -2, -3, 7, 7,
        ])
        let y = try layer.forward(x, training: true)
        XCTAssertEqual(y.elements, [1, 3, -2, 7])
        let dx = try layer.backward(Tensor(shape: [1, 2, 2, 1], elements: [10, 20, 30, 40]))
        XCTAssertEqual(dx.elements, [
            10, 0, 0, 20,
            0, 0, 0, 0,
            30, 0, 40, 0,
            0, 0, 0, 0,
        ])

        // Overlapping windows (3×3, stride 1) whose maxima are shared accumulate; the tie between the
        // two 9s in every window goes to the first in scan order; channels are independent.
        let overlap = MaxPooling2D(poolSize: 3, strides: 1)
        try overlap.build(inputShape: [3, 4, 2], seed: 1)
        // channel 0: 9 at (0,1) and (2,1) — first in scan order wins both windows;
        // channel 1: all equal — each window's top-left tap wins.
        var e = [Float](repeating: 0, count: 24)
        for h in 0..<3 { for w in 0..<4 { e[(h * 4 + w) * 2 + 1] = 5 } }
        e[(0 * 4 + 1) * 2] = 9
        e[(2 * 4 + 1) * 2] = 9
        let y2 = try overlap.forward(Tensor(shape: [1, 3, 4, 2], elements: e))
        XCTAssertEqual(y2.shape, [1, 1, 2, 2])
        XCTAssertEqual(y2.elements, [9, 5, 9, 5])
        let dx2 = try overlap.backward(Tensor.ones([1, 1, 2, 2]))
        XCTAssertEqual(dx2[0, 0, 1, 0], 2, "both windows route to the first 9")
        XCTAssertEqual(dx2[0, 2, 1, 0], 0, "the later tie gets nothing")
        XCTAssertEqual(dx2[0, 0, 0, 1], 1, "window 0, channel 1: top-left")
        XCTAssertEqual(dx2[0, 0, 1, 1], 1, "window 1, channel 1: its top-left")
        XCTAssertEqual(dx2.elements.reduce(0, +), 4)

        // Same padding: padded positions never win, even over negative inputs.
        let padded = MaxPooling2D(poolSize: 2, padding: .same)
        try padded.build(inputShape: [3, 3, 1], seed: 1)
        let y3 = try padded.forward(Tensor(shape: [1, 3, 3, 1], elements: [-1, -2, -3, -4, -5, -6, -7, -8, -9]))
        XCTAssertEqual(y3.elements, [-1, -3, -7, -9])
    }

    // MARK: - Softmax with large logits

    func testSoftmaxOfLargeLogitsDoesNotOverflow() throws {
        // softmax([1000, 1001, 1002]) = softmax([0, 1, 2]) = e^k / (1 + e + e²).
        let expected: [Float] = [0.090_030_57, 0.244_728_47, 0.665_240_96]
        let layer = ActivationLayer(.softmax)
        try layer.build(inputShape: [3], seed: 1)
        let y = try layer.forward(Tensor(shape: [2, 3], elements: [1000, 1001, 1002, -1000, -999, -998]))
        for i in 0..<6 {
            XCTAssertTrue(y[flat: i].isFinite)
            XCTAssertEqual(y[flat: i], expected[i % 3], accuracy: 1e-6, "softmax element \(i)")
        }

        // Fused cross-entropy from logits: loss −log p₂ = log(1 + e + e²) − 2 for target class 2,
        // −log p₀ = log(1 + e + e²) for class 0; gradient (p − y) / N.
        let logits = Tensor(shape: [2, 3], elements: [1000, 1001, 1002, 1000, 1001, 1002])
        let target = Tensor(shape: [2, 3], elements: [0, 0, 1, 1, 0, 0])
        let g = Tensor(shape: [2, 3])
        let loss = try CategoricalCrossentropy(fromLogits: true).compute(prediction: logits, target: target, logits: false, gradient: g)
        let lse = Foundation.log(1 + M_E + M_E * M_E)
        // Tolerances: the kernel forms logits − logsumexp with logsumexp ≈ 1002.4, where one Float ulp is
        // 6e-5, so loss and gradient carry about 1e-5 relative error at these logits (see the report).
        XCTAssertEqual(Double(loss), ((lse - 2) + lse) / 2, accuracy: 1e-4)
        let expectedGradient: [Float] = [expected[0], expected[1], expected[2] - 1, expected[0] - 1, expected[1], expected[2]].map { $0 / 2 }
        for i in 0..<6 {
            XCTAssertTrue(g[flat: i].isFinite)
            XCTAssertEqual(g[flat: i], expectedGradient[i], accuracy: 1e-4, "gradient element \(i)")
        }

        let sg = Tensor(shape: [2, 3])
        let sparse = try SparseCategoricalCrossentropy(fromLogits: true)
            .compute(prediction: logits, target: Tensor(shape: [2], elements: [2, 0]), logits: false, gradient: sg)
        XCTAssertEqual(sparse, loss, accuracy: 1e-6)
        XCTAssertEqual(sg.elements, g.elements)

        // Probabilities that round to 0 or 1 are clipped at 1e-7, not log(0).
        let clipped = try CategoricalCrossentropy()(Tensor(shape: [1, 2], elements: [1, 0]), Tensor(shape: [1, 2], elements: [0, 1]))
        XCTAssertEqual(Double(clipped), -Foundation.log(1e-7), accuracy: 1e-2)
    }

    // MARK: - Initializers

    func testGlorotUniformBoundsAndSpread() {
        // Kernel [3, 3, 8, 16]: fanIn = 72, fanOut = 144, limit = sqrt(6 / 216).
        let t = Tensor(shape: [3, 3, 8, 16])
        var rng = RandomGenerator(seed: 5)
        Initializer.glorotUniform.fill(t, using: &rng)
        let limit = (6.0 / 216.0).squareRoot()
        let v = t.elements.map(Double.init)
        XCTAssertTrue(v.allSatisfy { abs($0) <= limit }, "within ±sqrt(6 / (fanIn + fanOut))")
        XCTAssertGreaterThan(v.map(abs).max()!, 0.95 * limit, "reaches near the limit")
        let mean = v.reduce(0, +) / Double(v.count)
        let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05 * limit)
        XCTAssertEqual(variance, limit * limit / 3, accuracy: 0.1 * limit * limit / 3, "variance of U(−l, l) is l²/3")
        // Roughly uniform: 10 equal bins each hold about a tenth (1152 samples, ±4σ).
        var bins = [Int](repeating: 0, count: 10)
        for x in v { bins[min(9, Int((x + limit) / (2 * limit) * 10))] += 1 }
        for b in bins { XCTAssertEqual(Double(b), 115.2, accuracy: 45, "histogram \(bins)") }

        // Dense kernel [in, out]: fans are the two axes.
        let d = Tensor(shape: [30, 10])
        Initializer.glorotUniform.fill(d, using: &rng)
        XCTAssertTrue(d.elements.allSatisfy { abs(Double($0)) <= (6.0 / 40).squareRoot() })
    }

    func testHeNormalStandardDeviation() {
        // Kernel [3, 3, 16, 32]: fanIn = 144, std = sqrt(2 / 144) (after Keras's truncation correction).
        let t = Tensor(shape: [3, 3, 16, 32])
        var rng = RandomGenerator(seed: 6)
        Initializer.heNormal.fill(t, using: &rng)
        let v = t.elements.map(Double.init)
        let target = (2.0 / 144).squareRoot()
        let mean = v.reduce(0, +) / Double(v.count)
        let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.05 * target)
        XCTAssertEqual(std, target, accuracy: 0.05 * target, "He normal std is sqrt(2 / fanIn)")
        // Truncated at two (pre-correction) standard deviations.
        XCTAssertTrue(v.allSatisfy { abs($0) <= 2 * target / 0.879_625_7 + 1e-6 })
    }

    func testOrthogonalInitializer() {
        var rng = RandomGenerator(seed: 7)
        // Tall [rows ≥ cols]: orthonormal columns, WᵀW = I. Wide: orthonormal rows, WWᵀ = I.
        for (shape, gain) in [([12, 5], Float(1)), ([5, 12], 1), ([3, 3, 4, 6], 1), ([7, 7], 2)] {
            let t = Tensor(shape: shape)
            Initializer.orthogonal(gain: gain).fill(t, using: &rng)
            let cols = shape.last!, rows = t.count / cols
            let w = t.elements.map(Double.init)
            let tall = rows >= cols
            let n = tall ? cols : rows
            var worst = 0.0
            for i in 0..<n {
                for j in 0..<n {
                    var s = 0.0
                    if tall {
                        for r in 0..<rows { s += w[r * cols + i] * w[r * cols + j] }
                    } else {
                        for c in 0..<cols { s += w[i * cols + c] * w[j * cols + c] }
                    }
                    let expected = i == j ? Double(gain * gain) : 0
                    worst = max(worst, abs(s - expected))
                }
            }
            XCTAssertLessThan(worst, 1e-5, "orthogonal \(shape) gain \(gain): \(tall ? "WᵀW" : "WWᵀ") = gain²·I")
        }
        // Seeded: the same seed gives the same matrix, another seed another.
        var a = RandomGenerator(seed: 8), b = RandomGenerator(seed: 8), c = RandomGenerator(seed: 9)
        let (ta, tb, tc) = (Tensor(shape: [6, 4]), Tensor(shape: [6, 4]), Tensor(shape: [6, 4]))
        Initializer.orthogonal().fill(ta, using: &a)
        Initializer.orthogonal().fill(tb, using: &b)
        Initializer.orthogonal().fill(tc, using: &c)
        XCTAssertEqual(ta.elements, tb.elements)
        XCTAssertNotEqual(ta.elements, tc.elements)
    }

    func testConstantInitializers() {
        var rng = RandomGenerator(seed: 1)
        let t = Tensor(shape: [4])
        Initializer.constant(2.5).fill(t, using: &rng)
        XCTAssertEqual(t.elements, [2.5, 2.5, 2.5, 2.5])
        Initializer.zeros.fill(t, using: &rng)
        XCTAssertEqual(t.elements, [0, 0, 0, 0])
        Initializer.ones.fill(t, using: &rng)
        XCTAssertEqual(t.elements, [1, 1, 1, 1])
    }

    // MARK: - Random generator

    func testSeededRandomGeneratorIsReproducible() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let sa = (0..<100).map { _ in a.next() }
        let sb = (0..<100).map { _ in b.next() }
        let sc = (0..<100).map { _ in c.next() }
        XCTAssertEqual(sa, sb, "same seed, same stream")
        XCTAssertNotEqual(sa, sc, "another seed, another stream")
        XCTAssertEqual(Set(sa).count, 100)

        // Saving the state (or copying the struct) resumes bit-identically.
        var d = RandomGenerator(seed: 7)
        _ = d.next()
        let state = d.state
        let copy = d
        let after = (0..<10).map { _ in d.next() }
        var e = RandomGenerator(seed: 0)
        e.state = state
        var f = copy
        XCTAssertEqual((0..<10).map { _ in e.next() }, after)
        XCTAssertEqual((0..<10).map { _ in f.next() }, after)

        // Uniform draws lie in [0, 1) with mean 1/2; normals have mean 0 and std 1; shuffles permute.
        var g = RandomGenerator(seed: 3)
        let u = (0..<20_000).map { _ in Double(g.nextUniform()) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / 20_000, 0.5, accuracy: 0.01)
        let z = (0..<20_000).map { _ in Double(g.nextNormal()) }
        let zm = z.reduce(0, +) / 20_000
        XCTAssertEqual(zm, 0, accuracy: 0.03)
        XCTAssertEqual((z.map { ($0 - zm) * ($0 - zm) }.reduce(0, +) / 20_000).squareRoot(), 1, accuracy: 0.03)
        var p = Array(0..<50)
        g.shuffle(&p)
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))

        // Layers built with the same seed get the same weights.
        let l1 = Dense(units: 4), l2 = Dense(units: 4)
        XCTAssertNoThrow(try l1.build(inputShape: [6], seed: 11))
        XCTAssertNoThrow(try l2.build(inputShape: [6], seed: 11))
        XCTAssertEqual(l1.kernel.value.elements, l2.kernel.value.elements)
    }
}
