import XCTest
@testable import NN
import NNKeras

/// AdamW, Adagrad, learning-rate schedules and gradient clipping against figures Keras 3.15 computed
/// (within 1e-5 relative: Keras computes the bias-corrected step size in Float32, we in Double)
/// (scripts: the values below came from keras.optimizers on the same gradients; see each test).
final class OptimizerBreadthTests: XCTestCase {
    /// Three steps on two parameters with the gradients Keras was given:
    /// g₁ = [0.3, −1.5, 2.0]·(step + 1), g₂ = [2, −1]; w₁ = [1, −2, 3], w₂ = [0.5, 0.5].
    private func run(_ optimizer: Optimizer) -> ([Float], [Float]) {
        let p1 = Parameter(name: "a", shape: [3]), p2 = Parameter(name: "b", shape: [2])
        p1.value.assign(Tensor(shape: [3], elements: [1, -2, 3]))
        p2.value.assign(Tensor(shape: [2], elements: [0.5, 0.5]))
        for step in 0..<3 {
            p1.gradient.assign(Tensor(shape: [3], elements: [0.3, -1.5, 2.0].map { $0 * Float(step + 1) }))
            p2.gradient.assign(Tensor(shape: [2], elements: [2, -1]))
            optimizer.update([p1, p2])
        }
        return (p1.value.elements, p2.value.elements)
    }

    private func assertClose(_ a: [Float], _ b: [Float], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, name, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(y)), name, file: file, line: line) }
    }

    func testAdamWAdagradAndClippingMatchKeras() throws {
        let cases: [(Optimizer, [Float], [Float], String)] = [
            (AdamW(learningRate: 0.1, weightDecay: 0.05), [0.694240391254425, -1.6793138980865479, 2.664388656616211], [0.1940372884273529, 0.7910371422767639], "AdamW"),
            (Adagrad(learningRate: 0.1), [0.7730969786643982, -1.7330515384674072, 2.7318999767303467], [0.27345824241638184, 0.7211490273475647], "Adagrad"),
            (SGD(learningRate: 0.1).clipping(norm: 1), [0.9642563462257385, -1.8212822675704956, 2.761709690093994], [0.23167181015014648, 0.6341640949249268], "clipnorm"),
            (SGD(learningRate: 0.1).clipping(value: 0.5), [0.8700000047683716, -1.8500001430511475, 2.8500001430511475], [0.34999996423721313, 0.6500000357627869], "clipvalue"),
            (SGD(learningRate: 0.1).clipping(globalNorm: 1), [0.9687775373458862, -1.843887448310852, 2.7918498516082764], [0.3789231777191162, 0.5605384111404419], "global_clipnorm"),
        ]
        for (optimizer, w1, w2, name) in cases {
            let (a, b) = run(optimizer)
            assertClose(a, w1, name)
            assertClose(b, w2, name)
        }
        XCTAssertEqual(Adagrad().state(for: Parameter(name: "p", shape: [2]))[0].elements, [0.1, 0.1])
    }

    func testSchedulesMatchKeras() throws {
        let steps = [0, 3, 5, 6, 10, 15, 24, 30]
        let cases: [(LearningRateSchedule, [Float])] = [
            (try ExponentialDecay(initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5, staircase: true), [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]),
            (try ExponentialDecay(initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5), [0.1, 0.0812252, 0.0707107, 0.0659754, 0.05, 0.0353553, 0.0189465, 0.0125]),
            (try PiecewiseConstantDecay(boundaries: [5, 10], values: [1.0, 0.5, 0.1]), [1.0, 1.0, 1.0, 0.5, 0.5, 0.1, 0.1, 0.1]),
            (try CosineDecay(initialLearningRate: 0.01, decaySteps: 20, alpha: 0.1, warmupTarget: 0.1, warmupSteps: 5), [0.01, 0.064, 0.1, 0.099446, 0.0868198, 0.055, 0.010554, 0.01]),
            (try CosineDecay(initialLearningRate: 0.1, decaySteps: 20), [0.1, 0.0945503, 0.0853553, 0.0793893, 0.05, 0.0146447, 0, 0]),
        ]
        for (schedule, expected) in cases {
            for (step, value) in zip(steps, expected) {
                XCTAssertEqual(schedule.learningRate(atStep: step), value, accuracy: 1e-6, "\(schedule.className) at step \(step)")
            }
        }
        // The optimizer reads the schedule at its step count before each step.
        let sgd = SGD(learningRate: 1)
        sgd.schedule = try PiecewiseConstantDecay(boundaries: [0], values: [0.5, 0.25])
        let p = Parameter(name: "w", shape: [1])
        p.gradient.fill(1)
        sgd.update([p]); XCTAssertEqual(p.value[flat: 0], -0.5)
        sgd.update([p]); XCTAssertEqual(p.value[flat: 0], -0.75)
        XCTAssertThrowsError(try PiecewiseConstantDecay(boundaries: [5, 3], values: [1, 2, 3]))
        XCTAssertThrowsError(try ExponentialDecay(initialLearningRate: 1, decaySteps: 0, decayRate: 0.5))
    }
}

extension OptimizerBreadthTests {
    /// The new optimizers, a schedule and clipping survive a Keras file, state included.
    func testOptimizersRoundTripThroughKerasFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("optimizers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let adamw = AdamW(learningRate: 0.01, weightDecay: 0.02)
        adamw.schedule = try CosineDecay(initialLearningRate: 0.001, decaySteps: 50, alpha: 0.1, warmupTarget: 0.01, warmupSteps: 5)
        adamw.clipNorm = 1.5
        let adagrad = Adagrad(learningRate: 0.05, initialAccumulatorValue: 0.2)
        adagrad.globalClipNorm = 2
        adagrad.schedule = try PiecewiseConstantDecay(boundaries: [3], values: [0.05, 0.01])
        for (i, optimizer) in [adamw, adagrad].enumerated() {
            let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .softmax)], seed: 1)
            model.compile(optimizer: optimizer, loss: SparseCategoricalCrossentropy())
            try model.fit(x: Tensor(shape: [4, 3], repeating: 0.5), y: Tensor(shape: [4], elements: [0, 1, 0, 1]), batchSize: 2, epochs: 2, verbose: .silent)
            for ext in ["keras", "h5"] {
                try model.save(to: dir + "/o\(i).\(ext)")
                let read = try loadModel(from: dir + "/o\(i).\(ext)")
                let o = try XCTUnwrap(read.optimizer)
                XCTAssertTrue(type(of: o) == type(of: optimizer), "\(ext): \(o.name)")
                XCTAssertEqual(o.iterations, 4)
                XCTAssertEqual(o.clipNorm, optimizer.clipNorm)
                XCTAssertEqual(o.globalClipNorm, optimizer.globalClipNorm)
                XCTAssertEqual(o.schedule?.className, optimizer.schedule?.className)
                for step in [0, 2, 4, 7, 60] { XCTAssertEqual(o.schedule?.learningRate(atStep: step), optimizer.schedule?.learningRate(atStep: step)) }
                for p in model.trainableParameters {
                    let other = try XCTUnwrap(read.namedParameters.first { $0.parameter.value.shape == p.value.shape }?.parameter)
                    XCTAssertEqual(o.state(for: other).map(\.elements), optimizer.state(for: p).map(\.elements), "\(ext) \(o.name) slots")
                }
            }
        }
        XCTAssertEqual((try loadModel(from: dir + "/o0.keras").optimizer as? AdamW)?.weightDecay, 0.02)
        XCTAssertEqual((try loadModel(from: dir + "/o1.h5").optimizer as? Adagrad)?.initialAccumulatorValue, 0.2)
    }
}

private extension Optimizer {
    func clipping(norm: Float? = nil, value: Float? = nil, globalNorm: Float? = nil) -> Self {
        clipNorm = norm; clipValue = value; globalClipNorm = globalNorm
        return self
    }
}
