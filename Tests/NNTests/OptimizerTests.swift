import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// The first steps of every optimizer on one parameter with a fixed gradient, against values worked
/// out by hand (in Double) from the Keras 3 update rules; frozen parameters; Keras defaults.
final class OptimizerTests: XCTestCase {
    /// A parameter holding `values` whose gradient is `gradient` at every step.
    private func parameter(_ values: [Float], gradient: [Float]) -> Parameter {
        let p = Parameter(name: "w", shape: [values.count])
        for i in values.indices {
            p.value[flat: i] = values[i]
            p.gradient[flat: i] = gradient[i]
        }
        return p
    }

    /// Runs `steps` updates and returns the value after each one.
    private func trajectory(_ optimizer: Optimizer, start: [Float] = [1], gradient: [Float] = [0.5], steps: Int = 3) -> [[Float]] {
        let p = parameter(start, gradient: gradient)
        return (0..<steps).map { _ in
            optimizer.update([p])
            return p.value.elements
        }
    }

    private func assertTrajectory(_ got: [[Float]], _ expected: [[Double]], tolerance: Double = 1e-6,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, expected.count, file: file, line: line)
        for (step, (g, e)) in zip(got, expected).enumerated() {
            XCTAssertEqual(g.count, e.count, file: file, line: line)
            for (a, b) in zip(g, e) {
                XCTAssertEqual(Double(a), b, accuracy: tolerance, "step \(step + 1): got \(g), expected \(e)", file: file, line: line)
            }
        }
    }

    // MARK: SGD

    /// Plain SGD: w ← w − η·g. With w₀ = 1, g = 0.5, η = 0.1: 0.95, 0.90, 0.85.
    func testPlainSGDSteps() {
        assertTrajectory(trajectory(SGD(learningRate: 0.1)), [[0.95], [0.90], [0.85]])
    }

    /// Momentum (Keras): v ← μ·v − η·g; w ← w + v. μ = 0.9, η = 0.1, g = 0.5 (η·g = 0.05):
    /// v₁ = −0.05, w₁ = 0.95; v₂ = −0.095, w₂ = 0.855; v₃ = −0.1355, w₃ = 0.7195.
    func testMomentumSGDSteps() {
        assertTrajectory(trajectory(SGD(learningRate: 0.1, momentum: 0.9)), [[0.95], [0.855], [0.7195]])
    }

    /// Nesterov (Keras 3): v ← μ·v − η·g; w ← w + μ·v − η·g.
    /// v₁ = −0.05, w₁ = 1 − 0.045 − 0.05 = 0.905; v₂ = −0.095, w₂ = 0.905 − 0.0855 − 0.05 = 0.7695;
    /// v₃ = −0.1355, w₃ = 0.7695 − 0.12195 − 0.05 = 0.59755.
    func testNesterovSGDSteps() {
        assertTrajectory(trajectory(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true)), [[0.905], [0.7695], [0.59755]])
    }

    // MARK: RMSProp

    /// RMSProp (Keras 3, keras/src/optimizers/rmsprop.py, no momentum, not centered):
    /// s ← ρ·s + (1 − ρ)·g²; w ← w − η·g / √(s + ε)   (ε inside the root, unlike Keras 2's √s + ε).
    /// η = 0.01, ρ = 0.9, g = 0.5: s₁ = 0.025, step 0.005/0.158114 = 0.0316228 → w₁ = 0.9683772;
    /// s₂ = 0.0475, step 0.005/0.217945 = 0.0229416 → w₂ = 0.9454356; s₃ = 0.06775 → w₃ = 0.9262260.
    /// (At this gradient size where ε sits makes no visible difference; see the small-gradient test.)
    func testRMSPropSteps() {
        let eta = 0.01, rho = 0.9, eps = 1e-7, g = 0.5
        var s = 0.0, w = 1.0
        var expected: [[Double]] = []
        for _ in 0..<3 {
            s = rho * s + (1 - rho) * g * g
            w -= eta * g / (s + eps).squareRoot()
            expected.append([w])
        }
        XCTAssertEqual(expected[0][0], 0.9683772, accuracy: 1e-6)
        XCTAssertEqual(expected[1][0], 0.9454356, accuracy: 1e-6)
        XCTAssertEqual(expected[2][0], 0.9262260, accuracy: 1e-6)
        assertTrajectory(trajectory(RMSProp(learningRate: 0.01)), expected)
    }

    /// Keras 3's RMSprop docstring example: var = 10, loss = var²/2 (so g = var), η = 0.1 → 9.683772.
    func testRMSPropKerasDocstringExample() {
        let p = parameter([10], gradient: [10])
        RMSProp(learningRate: 0.1).update([p])
        XCTAssertEqual(p.value[flat: 0], 9.683772, accuracy: 1e-5)
    }

    /// With a small gradient the place of ε matters. Keras 3: w ← w − η·g / √(s + ε).
    /// η = 0.01, g = 1e-4: s₁ = 0.1·1e-8 = 1e-9, √(1e-9 + 1e-7) = 3.17805e-4, step = 1e-6/3.17805e-4
    /// = 3.14658e-3 → w₁ = 0.99685342. (√s + ε would give 1e-6/3.17228e-5 = 0.0315230 → 0.968477.)
    func testRMSPropSmallGradientPutsEpsilonInsideTheRoot() {
        let eta = 0.01, rho = 0.9, eps = 1e-7, g = 1e-4
        var s = 0.0, w = 1.0
        var expected: [[Double]] = []
        for _ in 0..<2 {
            s = rho * s + (1 - rho) * g * g
            w -= eta * g / (s + eps).squareRoot()
            expected.append([w])
        }
        XCTAssertEqual(expected[0][0], 0.99685342, accuracy: 1e-7)
        assertTrajectory(trajectory(RMSProp(learningRate: 0.01), gradient: [1e-4], steps: 2), expected, tolerance: 1e-5)
    }

    // MARK: Adam

    /// Adam (Keras 3): α = η·√(1 − β₂ᵗ)/(1 − β₁ᵗ); m ← m + (g − m)(1 − β₁); v ← v + (g² − v)(1 − β₂);
    /// w ← w − α·m / (√v + ε). At t = 1, m = 0.1·g and √v = √0.001·|g|, so α·m/√v = η·sign(g):
    /// the first step moves every weight by about η against its gradient, whatever the gradient's size.
    func testAdamFirstStepIsLearningRateTimesSign() {
        let gradient: [Float] = [0.5, -2, 1e-2, -300]
        let p = parameter([1, 1, 1, 1], gradient: gradient)
        let adam = Adam(learningRate: 0.01)
        adam.update([p])
        XCTAssertEqual(adam.iterations, 1)
        for (i, g) in gradient.enumerated() {
            XCTAssertEqual(p.value[flat: i], 1 - 0.01 * (g > 0 ? 1 : -1), accuracy: 1e-5, "weight \(i) with gradient \(g)")
        }
    }

    /// Three Adam steps with a constant gradient against the same formulas in Double.
    /// With a constant g the bias-corrected m̂/√v̂ stays 1 (up to ε), so each step is ≈ η:
    /// 1 − 0.01 = 0.99, 0.98, 0.97.
    func testAdamThreeSteps() {
        let eta = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7, g = 0.5
        var m = 0.0, v = 0.0, w = 1.0
        var expected: [[Double]] = []
        for t in 1...3 {
            let alpha = eta * (1 - pow(b2, Double(t))).squareRoot() / (1 - pow(b1, Double(t)))
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            w -= alpha * m / (v.squareRoot() + eps)
            expected.append([w])
        }
        XCTAssertEqual(expected[2][0], 0.97, accuracy: 1e-5)
        assertTrajectory(trajectory(Adam(learningRate: 0.01)), expected)
    }

    /// Adam with a changing gradient: g₁ = 1, g₂ = −1. m₁ = 0.1, v₁ = 0.001, w₁ = −η;
    /// m₂ = 0.1 + (−1 − 0.1)·0.1 = −0.01, v₂ = 0.001 + (1 − 0.001)·0.001 = 0.001999.
    func testAdamWithChangingGradient() {
        let p = parameter([0], gradient: [1])
        let adam = Adam(learningRate: 0.1)
        adam.update([p])
        XCTAssertEqual(p.value[flat: 0], -0.1, accuracy: 1e-6)
        p.gradient[flat: 0] = -1
        adam.update([p])
        let alpha2 = 0.1 * (1 - 0.999 * 0.999).squareRoot() / (1 - 0.81)
        let expected = -0.1 - alpha2 * -0.01 / (0.001999.squareRoot() + 1e-7)
        XCTAssertEqual(Double(p.value[flat: 0]), expected, accuracy: 1e-6)
        let slots = adam.state(for: p)
        XCTAssertEqual(slots.count, 2)
        XCTAssertEqual(Double(slots[0][flat: 0]), -0.01, accuracy: 1e-7, "m")
        XCTAssertEqual(Double(slots[1][flat: 0]), 0.001999, accuracy: 1e-7, "v (Float32 rounding of 1 − β₂)")
    }

    /// Each parameter keeps its own slots: updating a second parameter does not disturb the first.
    func testStatePerParameter() {
        let a = parameter([1], gradient: [0.5]), b = parameter([1], gradient: [-3])
        let sgd = SGD(learningRate: 0.1, momentum: 0.9)
        sgd.update([a, b])
        sgd.update([a, b])
        XCTAssertEqual(a.value[flat: 0], 0.855, accuracy: 1e-6)
        // b: v₁ = 0.3, w₁ = 1.3; v₂ = 0.27 + 0.3 = 0.57, w₂ = 1.87.
        XCTAssertEqual(b.value[flat: 0], 1.87, accuracy: 1e-5)
        XCTAssertEqual(sgd.iterations, 2)
        sgd.reset()
        XCTAssertEqual(sgd.iterations, 0)
        XCTAssertEqual(sgd.state(for: a)[0][flat: 0], 0, "reset forgets the momentum")
    }

    // MARK: Frozen parameters

    /// A non-trainable parameter (moving statistics) is never changed by any optimizer.
    func testFrozenParameterIsNeverChanged() {
        for optimizer in [SGD(learningRate: 0.1), SGD(learningRate: 0.1, momentum: 0.9, nesterov: true),
                          RMSProp(learningRate: 0.1), Adam(learningRate: 0.1)] as [Optimizer] {
            let frozen = Parameter(name: "moving_mean", shape: [3], trainable: false)
            frozen.value.fill(0.25)
            let live = parameter([1, 1, 1], gradient: [1, 1, 1])
            for _ in 0..<3 { optimizer.update([frozen, live]) }
            XCTAssertEqual(frozen.value.elements, [0.25, 0.25, 0.25], "\(optimizer.name) changed a frozen parameter")
            XCTAssertTrue(live.value.elements.allSatisfy { $0 < 1 }, "\(optimizer.name) did not move the trainable parameter")
        }
    }

    /// A layer with `trainable = false` keeps its weights through `fit`; the others still learn.
    func testFrozenLayerKeepsWeightsDuringFit() throws {
        let frozen = Dense(units: 4, activation: .relu)
        let head = Dense(units: 2, activation: .softmax)
        let model = try Sequential(inputShape: [3], layers: [frozen, head], seed: 3)
        frozen.trainable = false
        model.compile(optimizer: Adam(learningRate: 0.05), loss: SparseCategoricalCrossentropy())
        let kernelBefore = frozen.kernel.value.elements, biasBefore = frozen.bias!.value.elements
        let headBefore = head.kernel.value.elements
        let x = Tensor(shape: [8, 3], elements: (0..<24).map { Float($0 % 7) / 7 - 0.4 })
        let y = Tensor(shape: [8], elements: (0..<8).map { Float($0 % 2) })
        try model.fit(x: x, y: y, batchSize: 4, epochs: 3, verbose: .silent)
        XCTAssertEqual(frozen.kernel.value.elements, kernelBefore)
        XCTAssertEqual(frozen.bias!.value.elements, biasBefore)
        XCTAssertNotEqual(head.kernel.value.elements, headBefore)
        XCTAssertEqual(model.trainableParameterCount, 4 * 2 + 2)
    }

    // MARK: Defaults

    /// Keras 3 defaults: SGD(0.01, momentum 0, no Nesterov); RMSProp(0.001, ρ 0.9, ε 1e-7);
    /// Adam(0.001, β₁ 0.9, β₂ 0.999, ε 1e-7).
    func testDefaultsMatchKeras() {
        let sgd = SGD()
        XCTAssertEqual(sgd.learningRate, 0.01)
        XCTAssertEqual(sgd.momentum, 0)
        XCTAssertFalse(sgd.nesterov)
        XCTAssertEqual(sgd.name, "sgd")

        let rms = RMSProp()
        XCTAssertEqual(rms.learningRate, 0.001)
        XCTAssertEqual(rms.rho, 0.9)
        XCTAssertEqual(rms.epsilon, 1e-7)
        XCTAssertEqual(rms.name, "rmsprop")

        let adam = Adam()
        XCTAssertEqual(adam.learningRate, 0.001)
        XCTAssertEqual(adam.beta1, 0.9)
        XCTAssertEqual(adam.beta2, 0.999)
        XCTAssertEqual(adam.epsilon, 1e-7)
        XCTAssertEqual(adam.name, "adam")

        XCTAssertEqual(try ModelZoo.optimizer("sgd").learningRate, 0.01)
        XCTAssertEqual(try ModelZoo.optimizer("RMSProp").learningRate, 0.001)
        XCTAssertEqual(try ModelZoo.optimizer("adam", learningRate: 0.5).learningRate, 0.5)
        XCTAssertTrue(try ModelZoo.optimizer("adagrad") is Adagrad)
        XCTAssertEqual((try ModelZoo.optimizer("AdamW") as? AdamW)?.weightDecay, 0.004)
        XCTAssertThrowsError(try ModelZoo.optimizer("lamb")) { error in
            XCTAssertTrue("\(error)".contains("lamb") && "\(error)".contains("adagrad"), "\(error)")
        }
    }
}
