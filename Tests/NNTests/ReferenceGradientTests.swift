import XCTest
import NNReference

/// SplitMix64: a tiny seeded generator so every check sees the same numbers on every machine.
struct RefTestRNG {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    mutating func array(_ count: Int, _ low: Double = -1, _ high: Double = 1) -> [Double] {
        (0..<count).map { _ in uniform(low, high) }
    }

    mutating func tensor(_ shape: [Int], _ low: Double = -1, _ high: Double = 1) -> RefTensor<Double> {
        RefTensor(shape: shape, data: array(shape.reduce(1, *), low, high))
    }

    /// Values at least 0.1 away from zero with random sign: no relu kink within a finite-difference step.
    mutating func awayFromZero(_ shape: [Int]) -> RefTensor<Double> {
        RefTensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in
            (next() & 1 == 0 ? 1 : -1) * uniform(0.1, 1)
        })
    }

    /// Distinct values 0.01 apart in random order: no max-pool tie can flip within a step.
    mutating func distinct(_ shape: [Int]) -> RefTensor<Double> {
        var values = (0..<shape.reduce(1, *)).map { Double($0) * 0.01 - 1 }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, Int(next() % UInt64(i + 1)))
        }
        return RefTensor(shape: shape, data: values)
    }
}

/// The reference layers checked against central differences in Double, plus hand-computed values.
///
/// Each layer is turned into the scalar L = Σ y ⊙ R for a fixed random R, so its backward called
/// with dY = R must give dL/d(input) and dL/d(parameter) for every element; the error bound is
/// Caffe's, relative to max(|analytic|, |numeric|, 1).
final class ReferenceGradientTests: XCTestCase {
    let step = 1e-5
    let tolerance = 1e-6

    // MARK: - Checker

    /// Asserts `analytic` equals the central difference of `objective` at `point`, element by element.
    func assertGradient(_ name: String, at point: [Double], analytic: [Double],
                        file: StaticString = #filePath, line: UInt = #line,
                        objective: ([Double]) -> Double) {
        XCTAssertEqual(point.count, analytic.count, "\(name): gradient size", file: file, line: line)
        var probe = point
        var worst = 0.0
        for i in 0..<point.count {
            probe[i] = point[i] + step
            let plus = objective(probe)
            probe[i] = point[i] - step
            let minus = objective(probe)
            probe[i] = point[i]
            let numeric = (plus - minus) / (2 * step)
            let scale = max(abs(analytic[i]), abs(numeric), 1)
            worst = max(worst, abs(analytic[i] - numeric) / scale)
        }
        XCTAssertLessThan(worst, tolerance, "\(name): worst relative gradient error", file: file, line: line)
        XCTAssertTrue(analytic.contains { $0 != 0 } || point.isEmpty, "\(name): gradient is all zero", file: file, line: line)
    }

    func dot(_ a: RefTensor<Double>, _ r: RefTensor<Double>) -> Double {
        XCTAssertEqual(a.shape, r.shape)
        return zip(a.data, r.data).reduce(0) { $0 + $1.0 * $1.1 }
    }

    func assertClose(_ actual: [Double], _ expected: [Double], accuracy: Double = 1e-12,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "element count", file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a, e, accuracy: accuracy, file: file, line: line)
        }
    }

    // MARK: - Gradient checks

    func testConv2DGradients() {
        struct Case { var n, h, w, c, kh, kw, f, sh, sw: Int; var padding: RefPadding; var bias: Bool }
        let cases = [
            Case(n: 1, h: 5, w: 7, c: 1, kh: 3, kw: 3, f: 2, sh: 1, sw: 1, padding: .valid, bias: true),
            Case(n: 2, h: 5, w: 7, c: 3, kh: 3, kw: 3, f: 2, sh: 1, sw: 1, padding: .same, bias: true),
            Case(n: 2, h: 5, w: 7, c: 3, kh: 3, kw: 3, f: 3, sh: 2, sw: 2, padding: .same, bias: true),
            Case(n: 1, h: 5, w: 7, c: 3, kh: 2, kw: 3, f: 2, sh: 2, sw: 2, padding: .valid, bias: true),
            Case(n: 2, h: 5, w: 7, c: 1, kh: 2, kw: 3, f: 4, sh: 2, sw: 1, padding: .same, bias: false),
            Case(n: 2, h: 6, w: 6, c: 3, kh: 3, kw: 3, f: 2, sh: 2, sw: 2, padding: .same, bias: true),
            Case(n: 1, h: 5, w: 7, c: 3, kh: 1, kw: 1, f: 2, sh: 1, sw: 1, padding: .valid, bias: false),
        ]
        var rng = RefTestRNG(seed: 1)
        for (index, t) in cases.enumerated() {
            let x = rng.tensor([t.n, t.h, t.w, t.c])
            let k = rng.tensor([t.kh, t.kw, t.c, t.f])
            let b: [Double]? = t.bias ? rng.array(t.f) : nil
            let strides = (t.sh, t.sw)
            let y = Ref.conv2D(x, kernel: k, bias: b, strides: strides, padding: t.padding)
            let r = rng.tensor(y.shape)
            let g = Ref.conv2DBackward(x, kernel: k, hasBias: t.bias, strides: strides,
                                       padding: t.padding, outputGradient: r)
            let name = "conv case \(index)"
            assertGradient("\(name) input", at: x.data, analytic: g.input.data) {
                self.dot(Ref.conv2D(RefTensor(shape: x.shape, data: $0), kernel: k, bias: b,
                                    strides: strides, padding: t.padding), r)
            }
            assertGradient("\(name) kernel", at: k.data, analytic: g.kernel.data) {
                self.dot(Ref.conv2D(x, kernel: RefTensor(shape: k.shape, data: $0), bias: b,
                                    strides: strides, padding: t.padding), r)
            }
            if let b {
                assertGradient("\(name) bias", at: b, analytic: g.bias ?? []) {
                    self.dot(Ref.conv2D(x, kernel: k, bias: $0, strides: strides, padding: t.padding), r)
                }
            } else {
                XCTAssertNil(g.bias, "\(name): no bias, no bias gradient")
            }
        }
    }

    func testDepthwiseConv2DGradients() {
        var rng = RefTestRNG(seed: 2)
        for (strides, padding, m) in [((1, 1), RefPadding.same, 2), ((2, 2), .valid, 1), ((2, 1), .same, 3)] {
            let x = rng.tensor([2, 5, 7, 3])
            let k = rng.tensor([3, 2, 3, m])
            let b = rng.array(3 * m)
            let y = Ref.depthwiseConv2D(x, kernel: k, bias: b, strides: strides, padding: padding)
            let r = rng.tensor(y.shape)
            let g = Ref.depthwiseConv2DBackward(x, kernel: k, hasBias: true, strides: strides,
                                                padding: padding, outputGradient: r)
            assertGradient("depthwise input", at: x.data, analytic: g.input.data) {
                self.dot(Ref.depthwiseConv2D(RefTensor(shape: x.shape, data: $0), kernel: k, bias: b,
                                             strides: strides, padding: padding), r)
            }
            assertGradient("depthwise kernel", at: k.data, analytic: g.kernel.data) {
                self.dot(Ref.depthwiseConv2D(x, kernel: RefTensor(shape: k.shape, data: $0), bias: b,
                                             strides: strides, padding: padding), r)
            }
            assertGradient("depthwise bias", at: b, analytic: g.bias ?? []) {
                self.dot(Ref.depthwiseConv2D(x, kernel: k, bias: $0, strides: strides, padding: padding), r)
            }
        }
    }

    func testDenseGradients() {
        var rng = RefTestRNG(seed: 3)
        for (n, inputs, outputs) in [(1, 4, 3), (3, 5, 2), (2, 1, 6)] {
            let x = rng.tensor([n, inputs])
            let w = rng.tensor([inputs, outputs])
            let b = rng.array(outputs)
            let r = rng.tensor([n, outputs])
            let g = Ref.denseBackward(x, kernel: w, hasBias: true, outputGradient: r)
            assertGradient("dense input", at: x.data, analytic: g.input.data) {
                self.dot(Ref.dense(RefTensor(shape: x.shape, data: $0), kernel: w, bias: b), r)
            }
            assertGradient("dense kernel", at: w.data, analytic: g.kernel.data) {
                self.dot(Ref.dense(x, kernel: RefTensor(shape: w.shape, data: $0), bias: b), r)
            }
            assertGradient("dense bias", at: b, analytic: g.bias ?? []) {
                self.dot(Ref.dense(x, kernel: w, bias: $0), r)
            }
        }
    }

    func testMaxPool2DGradients() {
        var rng = RefTestRNG(seed: 4)
        let cases: [(shape: [Int], pool: (Int, Int), strides: (Int, Int)?, padding: RefPadding)] = [
            ([1, 5, 7, 1], (2, 2), nil, .valid),
            ([2, 5, 7, 3], (2, 2), nil, .same),
            ([2, 5, 7, 2], (3, 3), (2, 2), .same),     // overlapping windows
            ([1, 5, 7, 3], (3, 2), (1, 2), .valid),
            ([2, 6, 6, 1], (3, 3), (2, 2), .same),     // padding only after
        ]
        for (index, t) in cases.enumerated() {
            let x = rng.distinct(t.shape)
            let y = Ref.maxPool2D(x, pool: t.pool, strides: t.strides, padding: t.padding)
            let r = rng.tensor(y.shape)
            let dx = Ref.maxPool2DBackward(x, pool: t.pool, strides: t.strides, padding: t.padding, outputGradient: r)
            assertGradient("max-pool case \(index)", at: x.data, analytic: dx.data) {
                self.dot(Ref.maxPool2D(RefTensor(shape: x.shape, data: $0), pool: t.pool,
                                       strides: t.strides, padding: t.padding), r)
            }
        }
    }

    func testActivationGradients() {
        var rng = RefTestRNG(seed: 5)
        let shape = [2, 3, 4]
        let x = rng.awayFromZero(shape)
        let r = rng.tensor(shape)
        func input(_ v: [Double]) -> RefTensor<Double> { RefTensor(shape: shape, data: v) }

        assertGradient("relu", at: x.data, analytic: Ref.reluBackward(input: x, outputGradient: r).data) {
            self.dot(Ref.relu(input($0)), r)
        }
        let s = Ref.sigmoid(x)
        assertGradient("sigmoid", at: x.data, analytic: Ref.sigmoidBackward(output: s, outputGradient: r).data) {
            self.dot(Ref.sigmoid(input($0)), r)
        }
        let t = Ref.tanh(x)
        assertGradient("tanh", at: x.data, analytic: Ref.tanhBackward(output: t, outputGradient: r).data) {
            self.dot(Ref.tanh(input($0)), r)
        }
        let wide = rng.tensor(shape, -4, 4)
        let p = Ref.softmax(wide)
        assertGradient("softmax", at: wide.data, analytic: Ref.softmaxBackward(output: p, outputGradient: r).data) {
            self.dot(Ref.softmax(input($0)), r)
        }
    }

    func testBatchNormGradients() {
        var rng = RefTestRNG(seed: 6)
        for shape in [[2, 3, 4, 3], [5, 2]] {
            let c = shape.last!
            let x = rng.tensor(shape, -2, 3)
            let gamma = rng.array(c, 0.5, 1.5)
            let beta = rng.array(c)
            let r = rng.tensor(shape)
            func forward(_ x: RefTensor<Double>, _ gamma: [Double], _ beta: [Double]) -> (RefTensor<Double>, Ref.BatchNormCache<Double>) {
                var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 1, count: c)
                let result = Ref.batchNormTraining(x, gamma: gamma, beta: beta, movingMean: &mean, movingVariance: &variance)
                return (result.output, result.cache)
            }
            let (_, cache) = forward(x, gamma, beta)
            let g = Ref.batchNormBackward(cache: cache, gamma: gamma, outputGradient: r)
            assertGradient("batch-norm input \(shape)", at: x.data, analytic: g.input.data) {
                self.dot(forward(RefTensor(shape: shape, data: $0), gamma, beta).0, r)
            }
            assertGradient("batch-norm gamma \(shape)", at: gamma, analytic: g.gamma) {
                self.dot(forward(x, $0, beta).0, r)
            }
            assertGradient("batch-norm beta \(shape)", at: beta, analytic: g.beta) {
                self.dot(forward(x, gamma, $0).0, r)
            }
        }
    }

    func testDropoutAndFlattenGradients() {
        var rng = RefTestRNG(seed: 7)
        let shape = [2, 3, 3, 2]
        let x = rng.tensor(shape)
        let mask = (0..<x.count).map { _ in rng.unit() < 0.7 ? 1.0 : 0.0 }
        let r = rng.tensor(shape)
        let dx = Ref.dropoutBackward(mask: mask, rate: 0.3, outputGradient: r)
        assertGradient("dropout", at: x.data, analytic: dx.data) {
            self.dot(Ref.dropout(RefTensor(shape: shape, data: $0), mask: mask, rate: 0.3), r)
        }
        let flat = Ref.flatten(x)
        XCTAssertEqual(flat.shape, [2, 18])
        XCTAssertEqual(flat.data, x.data)
        let rf = rng.tensor([2, 18])
        assertGradient("flatten", at: x.data, analytic: Ref.flattenBackward(rf, inputShape: shape).data) {
            self.dot(Ref.flatten(RefTensor(shape: shape, data: $0)), rf)
        }
    }

    func testLossGradients() {
        var rng = RefTestRNG(seed: 8)
        let logits = rng.tensor([3, 5], -3, 3)
        func at(_ v: [Double]) -> RefTensor<Double> { RefTensor(shape: logits.shape, data: v) }

        var probabilities = rng.tensor([3, 5], 0, 1)     // rows normalized: genuine probability targets
        for row in 0..<3 {
            let sum = probabilities.data[row * 5..<row * 5 + 5].reduce(0, +)
            for j in 0..<5 { probabilities.data[row * 5 + j] /= sum }
        }
        let cce = Ref.categoricalCrossentropyFromLogits(logits, targets: probabilities)
        assertGradient("categorical cross-entropy", at: logits.data, analytic: cce.gradient.data) {
            Ref.categoricalCrossentropyFromLogits(at($0), targets: probabilities).loss
        }
        let unnormalized = rng.tensor([3, 5], 0, 1)
        let cceU = Ref.categoricalCrossentropyFromLogits(logits, targets: unnormalized)
        assertGradient("categorical cross-entropy, unnormalized targets", at: logits.data, analytic: cceU.gradient.data) {
            Ref.categoricalCrossentropyFromLogits(at($0), targets: unnormalized).loss
        }

        let labels = [4, 0, 2]
        let sparse = Ref.sparseCategoricalCrossentropyFromLogits(logits, labels: labels)
        assertGradient("sparse categorical cross-entropy", at: logits.data, analytic: sparse.gradient.data) {
            Ref.sparseCategoricalCrossentropyFromLogits(at($0), labels: labels).loss
        }

        let targets = rng.tensor([3, 5])
        let mse = Ref.meanSquaredError(logits, targets: targets)
        assertGradient("mean squared error", at: logits.data, analytic: mse.gradient.data) {
            Ref.meanSquaredError(at($0), targets: targets).loss
        }
    }

    // MARK: - Known values

    func testOutputSizeMatchesTensorFlow() {
        XCTAssertTrue(Ref.outputSize(input: 7, kernel: 3, stride: 2, padding: .valid) == (3, 0))
        XCTAssertTrue(Ref.outputSize(input: 7, kernel: 3, stride: 2, padding: .same) == (4, 1))
        XCTAssertTrue(Ref.outputSize(input: 6, kernel: 3, stride: 2, padding: .same) == (3, 0))  // pad 1, after
        XCTAssertTrue(Ref.outputSize(input: 5, kernel: 2, stride: 1, padding: .same) == (5, 0))  // pad 1, after
        XCTAssertTrue(Ref.outputSize(input: 5, kernel: 4, stride: 1, padding: .same) == (5, 1))  // pad 3: 1 + 2
        XCTAssertTrue(Ref.outputSize(input: 5, kernel: 1, stride: 3, padding: .same) == (2, 0))
    }

    /// 3×3 input 1…9, same padding, kernel with taps centre 1, right 2, below 3 (orientation-sensitive):
    /// y[i, j] = x[i, j] + 2·x[i, j+1] + 3·x[i+1, j], computed by hand, plus bias 0.5.
    func testConv2DKnownValuesSamePadding() {
        let x = RefTensor<Double>(shape: [1, 3, 3, 1], data: (1...9).map(Double.init))
        let k = RefTensor<Double>(shape: [3, 3, 1, 1], data: [0, 0, 0,
                                                              0, 1, 2,
                                                              0, 3, 0])
        let y = Ref.conv2D(x, kernel: k, bias: [0.5], padding: .same)
        XCTAssertEqual(y.shape, [1, 3, 3, 1])
        assertClose(y.data, [17, 23, 21,
                             35, 41, 33,
                             23, 26, 9].map { $0 + 0.5 })
    }

    /// 4×4 input 1…16, 3×3 ones kernel, stride 2, same: the one padded row/column goes after, so
    /// y = [[1+2+3+5+6+7+9+10+11, 3+4+7+8+11+12], [9+10+11+13+14+15, 11+12+15+16]].
    func testConv2DKnownValuesStrideTwoPadsAfter() {
        let x = RefTensor<Double>(shape: [1, 4, 4, 1], data: (1...16).map(Double.init))
        let k = RefTensor<Double>(shape: [3, 3, 1, 1], repeating: 1)
        let y = Ref.conv2D(x, kernel: k, strides: (2, 2), padding: .same)
        XCTAssertEqual(y.shape, [1, 2, 2, 1])
        assertClose(y.data, [54, 45, 72, 54])
    }

    /// Two channels into two filters at one pixel: the HWIO kernel index order [c, f].
    func testConv2DKnownValuesChannelOrder() {
        let x = RefTensor<Double>(shape: [1, 1, 1, 2], data: [1, 10])
        let k = RefTensor<Double>(shape: [1, 1, 2, 2], data: [1, 2,      // c = 0 → f = 0, 1
                                                              3, 4])     // c = 1 → f = 0, 1
        assertClose(Ref.conv2D(x, kernel: k).data, [31, 42])
        assertClose(Ref.dense(RefTensor(shape: [1, 2], data: [1, 10]),
                              kernel: RefTensor(shape: [2, 2], data: [1, 2, 3, 4]), bias: [0.5, 0]).data, [31.5, 42])
    }

    func testMaxPoolTiesGoToFirstMaximum() {
        let flat = RefTensor<Double>(shape: [1, 2, 2, 1], data: [3, 3, 3, 3])
        XCTAssertEqual(Ref.maxPool2D(flat).data, [3])
        XCTAssertEqual(Ref.maxPool2DBackward(flat, outputGradient: RefTensor(shape: [1, 1, 1, 1], data: [2])).data,
                       [2, 0, 0, 0])

        let later = RefTensor<Double>(shape: [1, 2, 2, 1], data: [1, 5, 5, 2])
        XCTAssertEqual(Ref.maxPool2DBackward(later, outputGradient: RefTensor(shape: [1, 1, 1, 1], data: [1])).data,
                       [0, 1, 0, 0])

        // Overlapping windows (stride 1) that share their maximum accumulate into it.
        let row = RefTensor<Double>(shape: [1, 1, 3, 1], data: [1, 5, 2])
        XCTAssertEqual(Ref.maxPool2D(row, pool: (1, 2), strides: (1, 1)).data, [5, 5])
        XCTAssertEqual(Ref.maxPool2DBackward(row, pool: (1, 2), strides: (1, 1),
                                             outputGradient: RefTensor(shape: [1, 1, 2, 1], data: [0.25, 0.5])).data,
                       [0, 0.75, 0])
    }

    func testMaxPoolPaddingNeverWins() {
        let x = RefTensor<Double>(shape: [1, 1, 3, 1], data: [-3, -1, -2])
        let y = Ref.maxPool2D(x, pool: (1, 2), padding: .same)
        XCTAssertEqual(y.shape, [1, 1, 2, 1])
        XCTAssertEqual(y.data, [-1, -2])
    }

    func testSoftmaxIsStableForLargeLogits() {
        let big = Ref.softmax(RefTensor<Double>(shape: [2, 3], data: [1000, 1001, 1002, -1000, -1001, -1002]))
        let small = Ref.softmax(RefTensor<Double>(shape: [1, 3], data: [0, 1, 2]))
        XCTAssertTrue(big.data.allSatisfy { $0.isFinite })
        assertClose(Array(big.data[0..<3]), small.data, accuracy: 1e-15)
        assertClose(Array(big.data[3..<6]), small.data.reversed(), accuracy: 1e-15)
        let e = [1, exp(1.0), exp(2.0)], s = e.reduce(0, +)
        assertClose(small.data, e.map { $0 / s }, accuracy: 1e-15)

        let f = Ref.softmax(RefTensor<Float>(shape: [1, 3], data: [1000, 1001, 1002]))
        XCTAssertTrue(f.data.allSatisfy { $0.isFinite })
        let loss = Ref.sparseCategoricalCrossentropyFromLogits(RefTensor<Float>(shape: [1, 3], data: [1000, 1001, 1002]),
                                                               labels: [0])
        XCTAssertEqual(loss.loss, Float(log(s) - 0), accuracy: 1e-4)
    }

    func testLossKnownValues() {
        let uniform = Ref.sparseCategoricalCrossentropyFromLogits(RefTensor<Double>(shape: [2, 4]), labels: [1, 3])
        XCTAssertEqual(uniform.loss, log(4), accuracy: 1e-15)
        assertClose(uniform.gradient.data, [0.125, -0.375, 0.125, 0.125, 0.125, 0.125, 0.125, -0.375])

        let oneHot = RefTensor<Double>(shape: [2, 4], data: [0, 1, 0, 0, 0, 0, 0, 1])
        let dense = Ref.categoricalCrossentropyFromLogits(RefTensor<Double>(shape: [2, 4]), targets: oneHot)
        XCTAssertEqual(dense.loss, uniform.loss, accuracy: 1e-15)
        assertClose(dense.gradient.data, uniform.gradient.data)

        let mse = Ref.meanSquaredError(RefTensor<Double>(shape: [2, 2], data: [1, 2, 3, 4]),
                                       targets: RefTensor(shape: [2, 2], data: [1, 0, 3, 1]))
        XCTAssertEqual(mse.loss, (0 + 4 + 0 + 9) / 4, accuracy: 1e-15)
        assertClose(mse.gradient.data, [0, 1, 0, 1.5])
    }

    func testBatchNormStatisticsAndInference() {
        // One channel, values 1, 2, 3, 6: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5.
        let x = RefTensor<Double>(shape: [2, 2, 1], data: [1, 2, 3, 6])
        var movingMean = [1.0], movingVariance = [2.0]
        let (y, cache) = Ref.batchNormTraining(x, gamma: [2], beta: [0.5], movingMean: &movingMean,
                                               movingVariance: &movingVariance, momentum: 0.9, epsilon: 0.5)
        XCTAssertEqual(cache.mean, [3])
        XCTAssertEqual(cache.variance, [3.5])
        assertClose(y.data, [-2, -1, 0, 3].map { 2 * $0 / 2 + 0.5 })            // sqrt(3.5 + 0.5) = 2
        assertClose(movingMean, [0.9 * 1 + 0.1 * 3])
        assertClose(movingVariance, [0.9 * 2 + 0.1 * 3.5])

        let inference = Ref.batchNormInference(x, gamma: [2], beta: [0.5], movingMean: [1], movingVariance: [3.5],
                                               epsilon: 0.5)
        assertClose(inference.data, [0, 1, 2, 5].map { 2 * $0 / 2 + 0.5 })
    }

    func testDropoutScalesKeptUnits() {
        let y = Ref.dropout(RefTensor<Double>(shape: [4], data: [1, 2, 3, 4]), mask: [1, 0, 1, 0], rate: 0.5)
        XCTAssertEqual(y.data, [2, 0, 6, 0])
    }

    /// Float and Double agree, and conversions round-trip, so Float engines can be compared with either.
    func testFloatMatchesDoubleAndConverts() {
        var rng = RefTestRNG(seed: 9)
        let x = rng.tensor([2, 5, 7, 3])
        let k = rng.tensor([3, 3, 3, 4])
        let b = rng.array(4)
        let yD = Ref.conv2D(x, kernel: k, bias: b, strides: (2, 2), padding: .same)
        let yF = Ref.conv2D(RefTensor<Float>(converting: x), kernel: RefTensor<Float>(converting: k),
                            bias: b.map(Float.init), strides: (2, 2), padding: .same)
        XCTAssertLessThan(RefTensor<Double>(converting: yF).maxAbsDifference(yD), 1e-5)
        let xf = x.map { Float($0) }
        XCTAssertEqual(RefTensor<Float>(converting: RefTensor<Double>(converting: xf)), xf)
    }
}
