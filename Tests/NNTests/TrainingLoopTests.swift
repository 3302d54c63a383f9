import Foundation
import XCTest
@testable import NN

/// The training loop's reporting (History and ProgressBar as callbacks, output through a sink), the
/// one data path (any SampleSource, batch buffers no larger than the data), the targets checked once,
/// and the compile/fit contract.
final class TrainingLoopTests: XCTestCase {
    /// Collects what a ProgressBar writes.
    private final class Text: @unchecked Sendable {
        private let lock = NSLock()
        private var parts: [String] = []
        func append(_ s: String) { lock.lock(); parts.append(s); lock.unlock() }
        var all: String { lock.lock(); defer { lock.unlock() }; return parts.joined() }
    }

    private func data(_ n: Int, seed: UInt64 = 1) -> (x: Tensor, y: Tensor) {
        var rng = TestData(seed: seed)
        return (rng.tensor([n, 3]), labelTensor(rng.labels(n, classes: 2)))
    }

    private func model(seed: UInt64 = 0) throws -> Model {
        let m = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .relu), Dense(units: 2, activation: .softmax)], seed: seed)
        m.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return m
    }

    /// A ProgressBar given in `callbacks` replaces the default one (Keras's rule): its sink receives
    /// one header and one finished line per epoch, with the epoch's logged values, and nothing else.
    func testProgressBarWritesThroughItsSinkOnce() throws {
        let text = Text()
        let (x, y) = data(20)
        let m = try model()
        let bar = ProgressBar(verbosity: .epochLines, output: OutputSink { text.append($0) })
        let history = try m.fit(x: x, y: y, batchSize: 8, epochs: 2, validationSplit: 0.25, callbacks: [bar], verbose: .progressBar)
        let lines = text.all.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, text.all)
        XCTAssertEqual(lines[0], "Epoch 1/2")
        XCTAssertEqual(lines[2], "Epoch 2/2")
        XCTAssertTrue(lines[1].hasPrefix("2/2 ━━━━━━━━━━━━━━━━━━━━"), lines[1])
        XCTAssertTrue(lines[3].hasSuffix(String(format: " - val_loss: %.4f", history["val_loss"][1])), lines[3])
        XCTAssertFalse(text.all.contains("\r"), "epoch lines never redraw")
    }

    /// The terminal form redraws in place and ends each epoch with a newline.
    func testProgressBarRedrawsOnATerminalSink() throws {
        let text = Text()
        let (x, y) = data(12)
        let m = try model()
        try m.fit(x: x, y: y, batchSize: 4, epochs: 1, callbacks: [ProgressBar(output: OutputSink(isTerminal: true) { text.append($0) })])
        XCTAssertTrue(text.all.hasPrefix("Epoch 1/1\n\r\u{1B}[K"), text.all)
        XCTAssertTrue(text.all.hasSuffix("\n"))
        XCTAssertTrue(text.all.contains("3/3 ━━━━━━━━━━━━━━━━━━━━"), text.all)
    }

    /// `fit` records into a History passed as a callback and returns that one; its JSON keeps the
    /// sample counts, so a history read back gives the same samples per second.
    func testHistoryIsACallbackAndItsJSONKeepsSamples() throws {
        let (x, y) = data(20)
        let m = try model()
        let mine = History()
        let returned = try m.fit(x: x, y: y, batchSize: 8, epochs: 3, callbacks: [mine], verbose: .silent)
        XCTAssertTrue(returned === mine)
        XCTAssertEqual(mine.epochs.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(mine.epochs.map(\.samples), [20, 20, 20])
        let json = try JSONSerialization.data(withJSONObject: mine.jsonObject)
        let back = try History(jsonObject: XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [[String: Any]]))
        XCTAssertEqual(back.epochs.map(\.samples), [20, 20, 20])
        XCTAssertEqual(back.samplesPerSecond, mine.samplesPerSecond, accuracy: mine.samplesPerSecond * 1e-9)
        XCTAssertGreaterThan(back.samplesPerSecond, 0)
    }

    /// A model compiled without an optimizer evaluates and predicts; fit says what is missing.
    func testEvaluateNeedsNoOptimizerButFitDoes() throws {
        let (x, y) = data(10)
        let m = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .softmax)])
        m.compile(loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let e = try m.evaluate(x: x, y: y)
        XCTAssertTrue(e.loss.isFinite)
        XCTAssertNotNil(e.accuracy)
        XCTAssertThrowsError(try m.fit(x: x, y: y, verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains("optimizer"), "\(error)")
        }
    }

    /// A batch size far beyond the data allocates buffers for the data only, and the results equal
    /// those of a batch that fits exactly.
    func testHugeBatchSizeAllocatesOnlyTheData() throws {
        let (x, y) = data(5)
        let most = try Batcher(x: x, y: y, batchSize: .max)  // (count + batchSize − 1) overflowed
        XCTAssertEqual(most.batchCount, 1)
        XCTAssertEqual(most.batch(0).images.shape, [5, 3])
        let batcher = try Batcher(x: x, y: y, batchSize: 1 << 40)
        XCTAssertEqual(batcher.images.shape, [5, 3])
        XCTAssertEqual(batcher.batchCount, 1)
        let m = try model()
        XCTAssertEqual(try m.predict(x, batchSize: 1 << 40).elements, try m.predict(x, batchSize: 5).elements)
        XCTAssertEqual(try m.predict(x, batchSize: .max).elements, try m.predict(x, batchSize: 5).elements)
        try m.fit(x: x, y: y, batchSize: .max, verbose: .silent)
        XCTAssertEqual(try m.evaluate(x: x, y: y, batchSize: 1 << 40).loss, try m.evaluate(x: x, y: y, batchSize: 5).loss)
    }

    /// A new head of another width on the same model trains at the same batch size: the reused
    /// output-gradient buffer must not hand back the old head's shape (it kept rank and batch only).
    func testANewHeadOfAnotherWidthTrainsAtTheSameBatchSize() throws {
        var data = TestData(seed: 4)
        let x = data.tensor([16, 3])
        let m = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .relu), Dense(units: 3, activation: .softmax)])
        m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        try m.fit(x: x, y: labelTensor(data.labels(16, classes: 3)), batchSize: 8, verbose: .silent)
        try m.pop()
        try m.add(Dense(units: 5, activation: .softmax))
        m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        let h = try m.fit(x: x, y: labelTensor(data.labels(16, classes: 5)), batchSize: 8, verbose: .silent)
        XCTAssertTrue(h["loss"][0].isFinite)
        XCTAssertEqual(try m.predict(x).shape, [16, 5])
        XCTAssertThrowsError(try m.predict(Tensor(shape: [2, 4]))) { error in
            XCTAssertTrue("\(error)".contains("layer 'dense' (Dense)"), "\(error)")
        }
    }

    /// A wrong input shape is the first layer's error, naming it and its type (not the model).
    func testInputShapeErrorNamesTheFirstLayer() throws {
        let m = try Sequential(inputShape: [6, 6, 1], layers: [Conv2D(filters: 2, kernelSize: 3), Flatten(), Dense(units: 2, activation: .softmax)])
        m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        let x = Tensor(shape: [4, 5, 5, 1])
        for error in [Result { try m.fit(x: x, y: labelTensor([0, 1, 0, 1]), verbose: .silent) }.error,
                      Result { try m.predict(x) }.error, Result { try m.forward(x) }.error] {
            let text = "\(error.map { "\($0)" } ?? "no error")"
            XCTAssertTrue(text.contains("layer 'conv2d' (Conv2D)"), text)
        }
    }

    /// Labels are checked once for the whole data (the error names the sample), and the loss
    /// itself refuses a bad label of a batch (NaN, out of range, fractional) instead of indexing with it.
    func testBadLabelsAreNamedBySampleAndRefusedByTheLoss() throws {
        let (x, _) = data(6)
        let m = try model()
        XCTAssertThrowsError(try m.fit(x: x, y: labelTensor([0, 1, 0, 1, 2, 0]), verbose: .silent)) { error in
            XCTAssertTrue("\(error)".hasPrefix("training label 2 of sample 4 is not a class in 0..<2"), "\(error)")
        }
        XCTAssertThrowsError(try m.evaluate(x: x, y: Tensor(shape: [6], elements: [0, 1, .nan, 1, 0, 0]))) { error in
            XCTAssertTrue("\(error)".hasPrefix("evaluation label nan of sample 2"), "\(error)")
        }
        let loss = SparseCategoricalCrossentropy()
        for bad: Float in [.nan, -1, 2, 0.5] {
            XCTAssertThrowsError(try loss(Tensor(shape: [2, 2], elements: [0.5, 0.5, 0.5, 0.5]), Tensor(shape: [2], elements: [0, bad]))) { error in
                XCTAssertTrue("\(error)".contains("at index 1 is not a class in 0..<2"), "\(error)")
            }
        }
    }
}

private extension Result where Failure == Error {
    init(_ body: () throws -> Success) {
        do { self = .success(try body()) } catch { self = .failure(error) }
    }
    var error: Error? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
