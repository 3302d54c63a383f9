import XCTest
@testable import NN

/// Keras's metrics by name, accumulated over batches as Keras does (the figures below are what
/// keras.metrics 3.15 returned for the same values, fed in the same two batches), in fit's logs,
/// evaluate and EarlyStopping's monitor.
final class MetricTests: XCTestCase {
    let p: [Float] = [0.086, 0.237, 0.801, 0.582, 0.094, 0.433, 0.479, 0.16, 0.735, 0.114, 0.391, 0.517]
    let y: [Float] = [0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0]

    private func accumulate(_ metric: Metric, _ output: Tensor, _ target: Tensor, split: Int) -> Float {
        var states = MetricStates([metric])
        let n = output.shape[0]
        states.update(output: output.rows(0..<split), target: target.rows(0..<split))
        states.update(output: output.rows(split..<n), target: target.rows(split..<n))
        return states.result(0)
    }

    func testBinaryMetricsMatchKeras() {
        let output = Tensor(shape: [12, 1], elements: p), target = Tensor(shape: [12, 1], elements: y)
        XCTAssertEqual(accumulate(.auc(), output, target, split: 5), 0.6666666269302368, accuracy: 1e-6)
        XCTAssertEqual(accumulate(.precision(), output, target, split: 5), 0.5, accuracy: 1e-7)
        XCTAssertEqual(accumulate(.recall(), output, target, split: 5), 0.3333333432674408, accuracy: 1e-7)
        XCTAssertEqual(accumulate(.binaryAccuracy(), output, target, split: 5), 0.5, accuracy: 1e-7)
        XCTAssertEqual(accumulate(.meanAbsoluteError, output, target, split: 5), zip(p, y).map { abs($0 - $1) }.reduce(0, +) / 12, accuracy: 1e-6)
        XCTAssertEqual(accumulate(.meanSquaredError, output, target, split: 7), zip(p, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 12, accuracy: 1e-6)
        // A perfect ranking has area 1, a reversed one 0.
        XCTAssertEqual(accumulate(.auc(), Tensor(shape: [4, 1], elements: [0.1, 0.2, 0.8, 0.9]), Tensor(shape: [4, 1], elements: [0, 0, 1, 1]), split: 2), 1, accuracy: 1e-6)
        XCTAssertEqual(accumulate(.auc(), Tensor(shape: [4, 1], elements: [0.9, 0.8, 0.2, 0.1]), Tensor(shape: [4, 1], elements: [0, 0, 1, 1]), split: 2), 0, accuracy: 1e-6)
    }

    func testClassMetricsMatchKeras() throws {
        let logits = Tensor(shape: [6, 4], elements: [-0.183, 0.541, 1.935, -0.27, -0.244, 1.002, -0.886, -0.292, 0.883, 0.58, 0.092, 0.67,
                                                      -2.828, 1.021, -0.96, -1.669, 0.276, 0.701, -0.445, -1.076, 0.026, -0.053, 1.406, 0.747])
        let labels = Tensor(shape: [6], elements: [0, 3, 1, 2, 2, 1]), hot = try Tensor.oneHot(labels, classes: 4)
        XCTAssertEqual(accumulate(.sparseTopKCategoricalAccuracy(k: 2), logits, labels, split: 2), 0.1666666716337204, accuracy: 1e-7)
        XCTAssertEqual(accumulate(.topKCategoricalAccuracy(k: 2), logits, hot, split: 3), 0.1666666716337204, accuracy: 1e-7)
        XCTAssertEqual(accumulate(.sparseCategoricalAccuracy, logits, labels, split: 2), 0)
        XCTAssertEqual(accumulate(.categoricalAccuracy, logits, hot, split: 4), 0)
        XCTAssertEqual(accumulate(.accuracy, logits, Tensor(shape: [6], elements: [2, 1, 0, 1, 1, 2]), split: 3), 1)
        for name in ["acc", "AUC", "mae", "mse", "precision", "recall", "top_k_categorical_accuracy", "binary_accuracy"] {
            XCTAssertNotNil(Metric.named(name), name)
        }
        XCTAssertNil(Metric.named("f1_score"))
    }

    /// Several metrics in fit's logs and history, evaluate, and an EarlyStopping that watches one.
    func testMetricsInFitEvaluateAndCallbacks() throws {
        var data = TestData(seed: 4)
        let x = data.tensor([64, 3])
        let yb = Tensor(shape: [64, 1], elements: (0..<64).map { x[flat: 3 * $0] > 0 ? 1 : 0 })
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 1, activation: .sigmoid)], seed: 2)
        model.compile(optimizer: Adam(learningRate: 0.2), loss: BinaryCrossentropy(),
                      metrics: [.binaryAccuracy(), .auc(), .precision(), .recall(), .meanAbsoluteError])
        let stop = EarlyStopping(monitor: "val_auc", patience: 2)
        let history = try model.fit(x: x, y: yb, batchSize: 16, epochs: 15, validationData: (x, yb), callbacks: [stop], verbose: .silent)
        for key in ["loss", "binary_accuracy", "auc", "precision", "recall", "mean_absolute_error", "val_auc", "val_precision"] {
            XCTAssertFalse(history[key].isEmpty, "history lacks \(key)")
        }
        XCTAssertGreaterThan(history["auc"].last!, 0.9, "\(history.epochs.map(\.logs))")
        let evaluation = try model.evaluate(x: x, y: yb)
        XCTAssertEqual(evaluation.metrics["auc"]!, history["val_auc"].last!, accuracy: 1e-6)
        XCTAssertEqual(Set(evaluation.metrics.keys), ["binary_accuracy", "auc", "precision", "recall", "mean_absolute_error"])
        XCTAssertEqual(MonitorMode.auto.resolved(for: "val_auc"), .max)
        XCTAssertEqual(MonitorMode.auto.resolved(for: "val_precision"), .max)
        XCTAssertEqual(MonitorMode.auto.resolved(for: "val_mean_absolute_error"), .min)
    }
}
