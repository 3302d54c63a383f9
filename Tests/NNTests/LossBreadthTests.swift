import XCTest
@testable import NN
import NNReference
import NNKeras

/// The losses beyond the cross-entropies and MSE: numeric gradients, the reference's loops, the
/// sigmoid fused into binary cross-entropy, label smoothing, and errors that name the right loss.
final class LossBreadthTests: XCTestCase {
    let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)

    func testGradientChecks() throws {
        var data = TestData(seed: 7)
        let probabilities = data.tensor([4, 3], 0.1, 0.9), binary = Tensor(shape: [4, 3], elements: (0..<12).map { Float($0 % 2) })
        try checker.check(BinaryCrossentropy(), prediction: probabilities, target: binary, logits: false, "BinaryCrossentropy")
        try checker.check(BinaryCrossentropy(), prediction: data.tensor([4, 3], -3, 3), target: binary, logits: true, "BinaryCrossentropy logits")
        try checker.check(BinaryCrossentropy(labelSmoothing: 0.2), prediction: data.tensor([6], -2, 2), target: Tensor(shape: [6], elements: [0, 1, 1, 0, 1, 0]), logits: true, "BinaryCrossentropy smoothed")
        let targets = data.tensor([4, 3], -1, 1)
        // Away from the kinks at d = 0 (MAE) and |d| = δ (Huber).
        let away = Tensor(shape: [4, 3], elements: targets.elements.enumerated().map { $0.element + ($0.offset % 2 == 0 ? 0.3 : -0.4) })
        try checker.check(MeanAbsoluteError(), prediction: away, target: targets, logits: false, "MeanAbsoluteError")
        try checker.check(Huber(delta: 0.35), prediction: away, target: targets, logits: false, "Huber")
        let rows = data.probabilities(rows: 4, classes: 3)
        try checker.check(KLDivergence(), prediction: data.tensor([4, 3], 0.3, 0.9), target: rows, logits: false, "KLDivergence")
        try checker.check(CategoricalCrossentropy(labelSmoothing: 0.1), prediction: data.tensor([4, 3]), target: oneHotRows([0, 2, 1, 1], classes: 3),
                          logits: true, "CategoricalCrossentropy smoothed")
    }

    func testLossesMatchReference() throws {
        var data = TestData(seed: 8)
        let p = data.tensor([5, 4], 0.05, 0.95), y = Tensor(shape: [5, 4], elements: (0..<20).map { Float(($0 * 7) % 3 == 0 ? 1 : 0) })
        let x = data.tensor([5, 4], -4, 4), t = data.tensor([5, 4], -1, 1)
        let cases: [(Loss, Tensor, Tensor, Bool, (loss: Double, gradient: RefTensor<Double>))] = [
            (BinaryCrossentropy(), p, y, false, Ref.binaryCrossentropy(toRef(p), targets: toRef(y), logits: false)),
            (BinaryCrossentropy(), x, y, true, Ref.binaryCrossentropy(toRef(x), targets: toRef(y), logits: true)),
            (BinaryCrossentropy(fromLogits: true), x, y, false, Ref.binaryCrossentropy(toRef(x), targets: toRef(y), logits: true)),
            (MeanAbsoluteError(), x, t, false, Ref.meanAbsoluteError(toRef(x), targets: toRef(t))),
            (Huber(), x, t, false, Ref.huber(toRef(x), targets: toRef(t), delta: 1)),
            (Huber(delta: 0.5), x, t, false, Ref.huber(toRef(x), targets: toRef(t), delta: 0.5)),
            (KLDivergence(), data.probabilities(rows: 5, classes: 4), data.probabilities(rows: 5, classes: 4), false, (0, RefTensor(shape: [1]))),
        ]
        for (i, (loss, prediction, target, logits, reference)) in cases.enumerated() {
            let g = Tensor(shape: prediction.shape)
            let value = try loss.compute(prediction: prediction, target: target, logits: logits, gradient: g)
            let ref = i == cases.count - 1 ? Ref.klDivergence(toRef(prediction), targets: toRef(target)) : reference
            assertClose(value, ref.loss, rtol: 1e-5, "\(loss.name) loss")
            assertClose(g, ref.gradient, rtol: 1e-4, "\(loss.name) gradient")
        }
        // Label smoothing is the cross-entropy of the smoothed rows.
        let logits = data.tensor([3, 4]), hot = oneHotRows([1, 3, 0], classes: 4)
        let smoothed = Tensor(shape: [3, 4], elements: hot.elements.map { $0 * 0.8 + 0.2 / 4 })
        let g1 = Tensor(shape: [3, 4]), g2 = Tensor(shape: [3, 4])
        let a = try CategoricalCrossentropy(labelSmoothing: 0.2).compute(prediction: logits, target: hot, logits: true, gradient: g1)
        let b = try CategoricalCrossentropy().compute(prediction: logits, target: smoothed, logits: true, gradient: g2)
        XCTAssertEqual(a, b, accuracy: 1e-6)
        for i in 0..<12 { XCTAssertEqual(g1[flat: i], g2[flat: i], accuracy: 1e-7) }
    }

    /// A Dense(1, sigmoid) head hands its logits to binary cross-entropy: fused, the same loss as on
    /// probabilities, and the model learns a linearly separable rule.
    func testSigmoidFusedWithBinaryCrossentropyLearns() throws {
        var data = TestData(seed: 9)
        let x = data.tensor([64, 2])
        let y = Tensor(shape: [64, 1], elements: (0..<64).map { x[flat: 2 * $0] + 0.5 * x[flat: 2 * $0 + 1] > 0 ? 1 : 0 })
        let model = try Sequential(inputShape: [2], layers: [Dense(units: 8, activation: .tanh), Dense(units: 1, activation: .sigmoid)], seed: 3)
        model.compile(optimizer: Adam(learningRate: 0.05), loss: BinaryCrossentropy(), metrics: [.accuracy])
        XCTAssertTrue(model.activationFusedWithLoss)
        let probabilities = try model.predict(x)
        let unfused = try BinaryCrossentropy().compute(prediction: probabilities, target: y, logits: false, gradient: nil)
        XCTAssertEqual(try model.evaluate(x: x, y: y).loss, unfused, accuracy: 1e-5)
        let history = try model.fit(x: x, y: y, batchSize: 16, epochs: 30, verbose: .silent)
        XCTAssertGreaterThan(history["accuracy"].last!, 0.9)
        XCTAssertFalse(try Sequential(inputShape: [2], layers: [Dense(units: 1, activation: .sigmoid)]).then {
            $0.compile(loss: MeanSquaredError()) }.activationFusedWithLoss)
    }

    /// The losses and their options survive a Keras file (compile config) both ways.
    func testLossesRoundTripThroughKerasFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("losses-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let losses: [Loss] = [BinaryCrossentropy(labelSmoothing: 0.1), BinaryCrossentropy(fromLogits: true), MeanAbsoluteError(), Huber(delta: 0.5),
                              KLDivergence(), CategoricalCrossentropy(labelSmoothing: 0.2)]
        for (i, loss) in losses.enumerated() {
            let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .sigmoid)])
            model.compile(optimizer: Adam(), loss: loss)
            for ext in ["keras", "h5"] {
                try model.save(to: dir + "/m\(i).\(ext)")
                let read = try loadModel(from: dir + "/m\(i).\(ext)")
                XCTAssertEqual(read.loss?.name, loss.name, ext)
                XCTAssertTrue(type(of: read.loss!) == type(of: loss), "\(ext): \(String(describing: read.loss))")
                if let b = loss as? BinaryCrossentropy, let r = read.loss as? BinaryCrossentropy {
                    XCTAssertEqual([r.labelSmoothing, r.fromLogits ? 1 : 0], [b.labelSmoothing, b.fromLogits ? 1 : 0])
                }
                if let h = loss as? Huber { XCTAssertEqual((read.loss as? Huber)?.delta, h.delta) }
                if let c = loss as? CategoricalCrossentropy { XCTAssertEqual((read.loss as? CategoricalCrossentropy)?.labelSmoothing, c.labelSmoothing) }
            }
        }
    }

    func testErrorsNameTheLossThatFits() throws {
        let model = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: .softmax)])
        let x = Tensor(shape: [2, 4])
        model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        XCTAssertThrowsError(try model.fit(x: x, y: oneHotRows([0, 2], classes: 3), verbose: .silent)) {
            XCTAssertTrue("\($0)".contains("use CategoricalCrossentropy"), "\($0)")
        }
        model.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
        XCTAssertThrowsError(try model.fit(x: x, y: Tensor(shape: [2], elements: [0, 2]), verbose: .silent)) {
            XCTAssertTrue("\($0)".contains("use SparseCategoricalCrossentropy"), "\($0)")
        }
        model.compile(optimizer: SGD(), loss: BinaryCrossentropy())
        XCTAssertThrowsError(try model.fit(x: x, y: Tensor(shape: [2, 3], elements: [0, 1, 2, 0, 0, 1]), verbose: .silent)) {
            XCTAssertTrue("\($0)".contains("class ids, use SparseCategoricalCrossentropy"), "\($0)")
        }
        XCTAssertThrowsError(try Huber(delta: 0).compute(prediction: x, target: x, logits: false, gradient: nil))
        XCTAssertThrowsError(try BinaryCrossentropy(labelSmoothing: 2).compute(prediction: x, target: x, logits: false, gradient: nil))
    }
}

private extension Model {
    func then(_ body: (Model) -> Void) -> Model { body(self); return self }
}
