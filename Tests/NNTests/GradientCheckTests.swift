import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo
import NNReference

/// Central-difference gradient checks of every engine layer and loss, in Float32 as the engine runs.
///
/// Float32 central differences are noisy, so these use Caffe's float settings: step 1e-2, threshold
/// 1e-2 relative to max(|analytic|, |numeric|, 1), 20 random probes of the input and of every
/// trainable parameter; the objective is L = Σ y ⊙ R for a fixed random R (so dY = R). Inputs are of
/// moderate magnitude; where a function has kinks (ReLU, max-pool) the inputs are kept away from them
/// or the probe is skipped when the sign pattern of the output changes inside the step.
/// (The tight check, step 1e-5 and tolerance 1e-6 in Double, is ReferenceGradientTests on the oracle.)
final class GradientCheckTests: XCTestCase {
    /// Caffe's float settings: step 1e-2, threshold 1e-2, 20 probes per tensor.
    let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)

    /// A fused ReLU sits behind a linear map, so a bias probe moves every output of its filter and
    /// any preactivation within a step of 0 makes the probe a kink skip. Step 1e-3 (threshold still
    /// 1e-2) makes skips rare; Float32 noise in L then stays near 1e-4 of the difference quotient.
    func checker(for activation: Activation) -> GradientChecker {
        activation == .relu ? GradientChecker(step: 1e-3, threshold: 1e-2, probes: 20) : checker
    }

    // MARK: - Dense

    func testGradientCheckDense() throws {
        var data = TestData(seed: 1)
        let layer = Dense(units: 6)
        try layer.build(inputShape: [9], seed: 1)
        layer.bias!.value.assign(data.tensor([6], -0.5, 0.5))
        try checker.check(layer, input: data.tensor([4, 9]), "Dense 9→6")

        let noBias = Dense(units: 3, useBias: false)
        try noBias.build(inputShape: [5], seed: 2)
        try checker.check(noBias, input: data.tensor([1, 5]), "Dense 5→3 no bias, batch 1")
    }

    /// Dense on the last axis of a rank-3 sample (Keras's rule): every position shares the kernel,
    /// so the kernel and bias gradients sum over positions as well as samples.
    func testGradientCheckDenseOnLastAxis() throws {
        var data = TestData(seed: 4)
        let layer = Dense(units: 4, activation: .tanh)
        try layer.build(inputShape: [3, 2, 5], seed: 4)
        XCTAssertEqual(layer.outputShape, [3, 2, 4])
        XCTAssertEqual(layer.kernel.value.shape, [5, 4])
        layer.bias!.value.assign(data.tensor([4], -0.5, 0.5))
        try checker(for: .tanh).check(layer, input: data.tensor([2, 3, 2, 5]), "Dense [3, 2, 5]→[3, 2, 4] + tanh")
        // Each position is the flat Dense of its last axis.
        let x = data.tensor([2, 3, 2, 5])
        let y = try layer.forward(x).copy()
        let flat = Dense(units: 4, activation: .tanh)
        try flat.build(inputShape: [5], seed: 9)
        flat.kernel.value.assign(layer.kernel.value)
        flat.bias!.value.assign(layer.bias!.value)
        let yFlat = try flat.forward(x.reshaped([12, 5]))
        XCTAssertEqual(y.elements, yFlat.elements)
    }

    func testGradientCheckDenseFusedActivations() throws {
        var data = TestData(seed: 2)
        for a in [Activation.relu, .sigmoid, .tanh, .softmax] {
            let layer = Dense(units: 5, activation: a)
            try layer.build(inputShape: [7], seed: 3)
            layer.bias!.value.assign(data.tensor([5], -0.5, 0.5))
            try checker(for: a).check(layer, input: data.tensor([3, 7]), kinks: a == .relu, "Dense 7→5 + \(a)")
        }
    }

    // MARK: - Conv2D

    func checkConv(_ name: String, n: Int = 2, h: Int = 7, w: Int = 5, c: Int = 3, f: Int = 3,
                   kernel: (Int, Int) = (3, 3), strides: (Int, Int) = (1, 1), padding: Padding,
                   activation: Activation = .linear, budgetImages: Int? = nil, seed: UInt64,
                   file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = Conv2D(filters: f, kernelSize: kernel, strides: strides, padding: padding, activation: activation)
        try layer.build(inputShape: [h, w, c], seed: seed)
        layer.bias!.value.assign(data.tensor([f], -0.5, 0.5))
        if let images = budgetImages {
            let perImage = layer.geometry.outputPixels * layer.geometry.patchSize
            layer.useWorkspace(Workspace(budget: images * perImage))
            XCTAssertLessThan(layer.workspace.imagesPerChunk(floatsPerImage: perImage, batch: n), n,
                              "\(name): the batch must need more than one chunk", file: file, line: line)
        }
        try checker(for: activation).check(layer, input: data.tensor([n, h, w, c]), kinks: activation == .relu, name,
                                           file: file, line: line)
    }

    func testGradientCheckConv2DValid() throws {
        try checkConv("Conv2D 3x3 valid s1", padding: .valid, seed: 10)
    }

    func testGradientCheckConv2DSame() throws {
        try checkConv("Conv2D 3x3 same s1, 1 channel, batch 1", n: 1, c: 1, padding: .same, seed: 11)
    }

    func testGradientCheckConv2DSameStride2() throws {
        try checkConv("Conv2D 3x3 same s2", strides: (2, 2), padding: .same, seed: 12)
        try checkConv("Conv2D 3x3 same s2 on 6x6", h: 6, w: 6, strides: (2, 2), padding: .same, seed: 13)
    }

    func testGradientCheckConv2DOddKernelStride() throws {
        try checkConv("Conv2D 2x3 same s(2,1)", kernel: (2, 3), strides: (2, 1), padding: .same, seed: 14)
        try checkConv("Conv2D 2x3 valid s2", kernel: (2, 3), strides: (2, 2), padding: .valid, seed: 15)
    }

    func testGradientCheckConv2DPointwise() throws {
        try checkConv("Conv2D 1x1 s1 (no im2col)", f: 4, kernel: (1, 1), padding: .valid, seed: 16)
        try checkConv("Conv2D 1x1 s2 (im2col)", f: 2, kernel: (1, 1), strides: (2, 2), padding: .valid, seed: 17)
    }

    func testGradientCheckConv2DChunked() throws {
        try checkConv("Conv2D 3x3 same, batch 3 in chunks of 2", n: 3, padding: .same, budgetImages: 2, seed: 18)
    }

    func testGradientCheckConv2DFusedActivations() throws {
        for (i, a) in [Activation.relu, .sigmoid, .tanh, .softmax].enumerated() {
            try checkConv("Conv2D 3x3 same + \(a)", n: 1, padding: .same, activation: a, seed: 20 + UInt64(i))
        }
    }

    // MARK: - MaxPooling2D

    /// Inputs are distinct values 0.05 apart (> 2 · step), so no window's maximum changes inside a probe.
    func testGradientCheckMaxPooling2D() throws {
        var data = TestData(seed: 30)
        let cases: [(String, (Int, Int), (Int, Int)?, Padding)] = [
            ("2x2 valid", (2, 2), nil, .valid),
            ("3x3 stride 2 same", (3, 3), (2, 2), .same),
            ("2x3 stride (1,2) same", (2, 3), (1, 2), .same),
        ]
        for (name, pool, strides, padding) in cases {
            let layer = MaxPooling2D(poolSize: pool, strides: strides, padding: padding)
            try layer.build(inputShape: [7, 5, 2], seed: 1)
            try checker.check(layer, input: data.distinct([2, 7, 5, 2], spacing: 0.05), "MaxPooling2D \(name)")
        }
    }

    // MARK: - BatchNormalization

    func testGradientCheckBatchNormalization() throws {
        var data = TestData(seed: 40)
        for shape in [[6, 4], [2, 5, 3, 3]] {
            let c = shape.last!
            let layer = BatchNormalization()
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            layer.gamma.value.assign(data.tensor([c], 0.5, 1.5))
            layer.beta.value.assign(data.tensor([c], -0.5, 0.5))
            try checker.check(layer, input: data.tensor(shape, -2, 2), training: true, "BatchNormalization training \(shape)")
            try checker.check(layer, input: data.tensor(shape, -2, 2), training: false, "BatchNormalization inference \(shape)")
        }
    }

    // MARK: - Dropout

    /// Each training forward draws a new mask, so the layer's generator is restored before every
    /// forward: the analytic pass and all numeric passes see one fixed mask (Caffe fixes the seed).
    func testGradientCheckDropout() throws {
        var data = TestData(seed: 50)
        let layer = Dropout(rate: 0.4, seed: 3)
        try layer.build(inputShape: [6, 5, 2], seed: 1)
        let saved = layer.rng
        try checker.check(layer, input: data.tensor([2, 6, 5, 2]), training: true,
                          beforeForward: { layer.rng = saved }, "Dropout rate 0.4")
        let mask = try XCTUnwrap(layer.mask)
        XCTAssertTrue(mask.elements.contains(0) && mask.elements.contains { $0 != 0 }, "the mask both drops and keeps")
    }

    // MARK: - Flatten and activations

    func testGradientCheckFlatten() throws {
        var data = TestData(seed: 60)
        let layer = Flatten()
        try layer.build(inputShape: [3, 4, 2], seed: 1)
        try checker.check(layer, input: data.tensor([2, 3, 4, 2]), "Flatten")
    }

    func checkActivation(_ a: Activation, input: Tensor, kinks: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let layer = ActivationLayer(a)
        try layer.build(inputShape: Array(input.shape.dropFirst()), seed: 1)
        try checker.check(layer, input: input, kinks: kinks, "ActivationLayer \(a) \(input.shape)", file: file, line: line)
    }

    /// Inputs at least 0.1 from zero (> step), so no probe crosses the kink; the pattern check guards it too.
    func testGradientCheckReLU() throws {
        var data = TestData(seed: 61)
        try checkActivation(.relu, input: data.awayFromZero([3, 4, 4, 2], 0.1, 2), kinks: true)
    }

    func testGradientCheckReLU6() throws {
        var data = TestData(seed: 66)
        // Values in ±(0.1…5.9) and ±(6.1…8): away from both kinks.
        let x = data.awayFromZero([2, 20], 0.1, 5.9)
        for i in stride(from: 0, to: x.count, by: 3) { x[flat: i] = data.rng.uniform(6.1, 8) }
        try checkActivation(.relu6, input: x)
    }

    func testGradientCheckSigmoid() throws {
        var data = TestData(seed: 62)
        try checkActivation(.sigmoid, input: data.tensor([3, 7], -3, 3))
    }

    func testGradientCheckTanh() throws {
        var data = TestData(seed: 63)
        try checkActivation(.tanh, input: data.tensor([3, 7], -2, 2))
    }

    func testGradientCheckSoftmax() throws {
        var data = TestData(seed: 64)
        try checkActivation(.softmax, input: data.tensor([4, 6], -3, 3))
        try checkActivation(.softmax, input: data.tensor([2, 3, 2, 5], -3, 3))
    }

    // MARK: - Losses

    func testGradientCheckCategoricalCrossentropy() throws {
        var data = TestData(seed: 70)
        let logits = data.tensor([5, 6], -3, 3)
        let labels = data.labels(5, classes: 6)
        try checker.check(CategoricalCrossentropy(fromLogits: true), prediction: logits,
                          target: oneHotRows(labels, classes: 6), logits: false, "CategoricalCrossentropy from logits, one-hot")
        try checker.check(CategoricalCrossentropy(), prediction: logits,
                          target: data.probabilities(rows: 5, classes: 6), logits: true, "CategoricalCrossentropy from logits, soft targets")
    }

    /// The probability path composed with a softmax layer (how a model uses it): L(softmax(z)),
    /// differentiated with respect to z through ActivationLayer's backward.
    func testGradientCheckCategoricalCrossentropyThroughSoftmax() throws {
        var data = TestData(seed: 71)
        let softmax = ActivationLayer(.softmax)
        try softmax.build(inputShape: [6], seed: 1)
        let z = data.tensor([4, 6], -2, 2)
        let target = oneHotRows(data.labels(4, classes: 6), classes: 6)
        let loss = CategoricalCrossentropy()
        let p = try softmax.forward(z)
        let dp = Tensor(shape: p.shape)
        _ = try loss.compute(prediction: p, target: target, logits: false, gradient: dp)
        let dz = try softmax.backward(dp).copy()
        var rng = RandomGenerator(seed: 1)
        try checker.checkTensor("CategoricalCrossentropy(softmax(z)) w.r.t. z", z, analytic: dz, rng: &rng, kinks: false,
                                file: #filePath, line: #line) {
            (Double(try loss.compute(prediction: try softmax.forward(z), target: target, logits: false, gradient: nil)), [])
        }
    }

    /// The probability path on its own, on predictions that are not a softmax output (rows not summing
    /// to 1, as from a sigmoid). The loss normalizes each row (Keras: p / Σp), so
    /// dL/dp_j = (−y_j / p_j + Σ_k y_k / Σ_k p_k) / N.
    ///
    /// KNOWN ENGINE BUG (fails): CrossEntropy.swift's probability branch writes only −y_j / p_j / N and
    /// drops the normalization term Σy / Σp / N, so the gradient does not match the loss it returns
    /// whenever predictions are not fed through a softmax (it is exact only after softmax's backward,
    /// which annihilates a constant per-row term: see the ThroughSoftmax test above).
    func testGradientCheckCategoricalCrossentropyProbabilities() throws {
        var data = TestData(seed: 72)
        let p = data.tensor([3, 4], 0.2, 0.9)
        let target = oneHotRows(data.labels(3, classes: 4), classes: 4)
        try checker.check(CategoricalCrossentropy(), prediction: p, target: target, logits: false,
                          "CategoricalCrossentropy on unnormalized probabilities")
    }

    func testGradientCheckSparseCategoricalCrossentropy() throws {
        var data = TestData(seed: 73)
        let logits = data.tensor([5, 6], -3, 3)
        let labels = labelTensor(data.labels(5, classes: 6))
        try checker.check(SparseCategoricalCrossentropy(fromLogits: true), prediction: logits, target: labels, logits: false,
                          "SparseCategoricalCrossentropy from logits")
        try checker.check(SparseCategoricalCrossentropy(), prediction: logits, target: labels, logits: true,
                          "SparseCategoricalCrossentropy logits: true")
    }

    func testGradientCheckMeanSquaredError() throws {
        var data = TestData(seed: 74)
        for shape in [[4, 3], [2, 3, 3, 2]] {
            try checker.check(MeanSquaredError(), prediction: data.tensor(shape, -2, 2), target: data.tensor(shape, -2, 2),
                              logits: false, "MeanSquaredError \(shape)")
        }
    }
}
