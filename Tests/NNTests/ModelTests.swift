import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Sequential end to end on tiny synthetic problems: summary, naming, learning, determinism,
/// validation split, evaluate/predict, L2, and the errors fit raises.
final class ModelTests: XCTestCase {
    // MARK: Summary and names

    func testConvnetSummaryTable() throws {
        let model = try ModelZoo.build("convnet")
        let s = model.summary()
        for text in ["Model: \"sequential\"", "Layer (type)", "Output Shape", "Param #",
                     "conv2d (Conv2D)", "max_pooling2d (MaxPooling2D)", "flatten (Flatten)", "dropout (Dropout)", "dense (Dense)",
                     "(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 5408)", "(None, 10)",
                     "320", "54,090", "Total params: 54,410", "Trainable params: 54,410", "Non-trainable params: 0"] {
            XCTAssertTrue(s.contains(text), "summary lacks \(text):\n\(s)")
        }
        // The conv row carries its own shape and count.
        let convRow = s.split(separator: "\n").first { $0.contains("conv2d (Conv2D)") } ?? ""
        XCTAssertTrue(convRow.contains("(None, 26, 26, 32)") && convRow.contains("320"), String(convRow))
        let denseRow = s.split(separator: "\n").first { $0.contains("dense (Dense)") } ?? ""
        XCTAssertTrue(denseRow.contains("54,090"), String(denseRow))
        XCTAssertEqual(model.parameterCount, 54_410)

        // BatchNormalization's moving statistics count as non-trainable, as in Keras.
        let bn = try Sequential(inputShape: [5], layers: [Dense(units: 4), BatchNormalization()])
        let t = bn.summary()
        for text in ["batch_normalization (BatchNormalization)", "(None, 4)", "Total params: 40", "Trainable params: 32", "Non-trainable params: 8"] {
            XCTAssertTrue(t.contains(text), "summary lacks \(text):\n\(t)")
        }
    }

    /// A seed given to Dropout survives `Sequential.add`; unseeded layers get the model's stream, and
    /// seeding one layer leaves the others' weights as they were (the draw is taken either way).
    func testDropoutSeedIsRespectedByTheModel() throws {
        func model(_ dropout: Dropout) throws -> Model {
            try Sequential(inputShape: [6], layers: [Dense(units: 4), dropout, Dense(units: 3)], seed: 5)
        }
        let seeded = try model(Dropout(rate: 0.5, seed: 42))
        let unseeded = try model(Dropout(rate: 0.5))
        XCTAssertEqual(seeded.layers[1].randomState, Dropout(rate: 0.5, seed: 42).rng.state)
        XCTAssertNotEqual(unseeded.layers[1].randomState, Dropout(rate: 0.5).rng.state)
        XCTAssertEqual(seeded.layers[2].parameters[0].value.elements, unseeded.layers[2].parameters[0].value.elements)
        XCTAssertNil(seeded.layers[0].randomState)
        XCTAssertTrue(seeded.layers.allSatisfy { $0.workspace === seeded.workspace })
    }

    func testAutomaticNamesAreUnique() throws {
        let model = try Sequential(inputShape: [4], layers: [Dense(units: 3), Dense(units: 3), Dense(units: 2, name: "out"), Dense(units: 2)])
        XCTAssertEqual(model.layers.map(\.name), ["dense", "dense_1", "out", "dense_2"])
        XCTAssertEqual(model.namedParameters.map(\.name),
                       ["dense.kernel", "dense.bias", "dense_1.kernel", "dense_1.bias", "out.kernel", "out.bias", "dense_2.kernel", "dense_2.bias"])
        XCTAssertThrowsError(try model.add(Dense(units: 1, name: "out"))) { error in
            XCTAssertTrue("\(error)".contains("out"), "\(error)")
        }
    }

    // MARK: Learning

    func testLossDecreasesOnSyntheticClassification() throws {
        let (x, y) = Fixtures.blobs(classes: 3, perClass: 32, dims: 6, spread: 1.0, seed: 1)
        let model = try Sequential(inputShape: [6], layers: [Dense(units: 16, activation: .relu), Dense(units: 3, activation: .softmax)], seed: 1)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let history = try model.fit(x: x, y: y, batchSize: 16, epochs: 6, verbose: .silent)
        let loss = history["loss"]
        XCTAssertEqual(loss.count, 6)
        XCTAssertLessThan(loss.last!, loss.first! * 0.8, "\(loss)")
        for i in 1..<loss.count { XCTAssertLessThan(loss[i], loss[i - 1], "loss went up at epoch \(i + 1): \(loss)") }
        XCTAssertEqual(history["accuracy"].count, 6)
    }

    func testSeparableBlobsReachFullAccuracy() throws {
        let (x, y) = Fixtures.blobs(classes: 2, perClass: 40, dims: 2, spread: 0.5, seed: 2)
        let model = try Sequential(inputShape: [2], layers: [Dense(units: 2, activation: .softmax)], seed: 2)
        model.compile(optimizer: SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let history = try model.fit(x: x, y: y, batchSize: 8, epochs: 10, verbose: .silent)
        XCTAssertEqual(history["accuracy"].last, 1.0)
        let e = try model.evaluate(x: x, y: y)
        XCTAssertEqual(e.accuracy, 1.0)
        XCTAssertEqual(try model.predictClasses(x), (0..<80).map { Int(y[flat: $0]) })
    }

    // MARK: Determinism

    private func dropoutModel(seed: UInt64) throws -> Model {
        let model = try Sequential(inputShape: [6], layers: [
            Dense(units: 12, activation: .relu), Dropout(rate: 0.3), Dense(units: 3, activation: .softmax),
        ], seed: seed)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return model
    }

    func testSameSeedGivesBitIdenticalRuns() throws {
        let (x, y) = Fixtures.blobs(classes: 3, perClass: 20, dims: 6, spread: 1.5, seed: 3)
        let a = try dropoutModel(seed: 42), b = try dropoutModel(seed: 42)
        let ha = try a.fit(x: x, y: y, batchSize: 8, epochs: 3, validationSplit: 0.2, verbose: .silent)
        let hb = try b.fit(x: x, y: y, batchSize: 8, epochs: 3, validationSplit: 0.2, verbose: .silent)
        for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
            XCTAssertEqual(ha[key].map(\.bitPattern), hb[key].map(\.bitPattern), key)
        }
        for (pa, pb) in zip(a.namedParameters, b.namedParameters) {
            XCTAssertEqual(pa.name, pb.name)
            XCTAssertEqual(pa.parameter.value.elements.map(\.bitPattern), pb.parameter.value.elements.map(\.bitPattern), pa.name)
        }
    }

    func testDifferentSeedGivesDifferentRuns() throws {
        let (x, y) = Fixtures.blobs(classes: 3, perClass: 20, dims: 6, spread: 1.5, seed: 3)
        let a = try dropoutModel(seed: 42), b = try dropoutModel(seed: 43)
        XCTAssertNotEqual(a.layers[0].parameters[0].value.elements, b.layers[0].parameters[0].value.elements, "initial weights")
        let ha = try a.fit(x: x, y: y, batchSize: 8, epochs: 2, verbose: .silent)
        let hb = try b.fit(x: x, y: y, batchSize: 8, epochs: 2, verbose: .silent)
        XCTAssertNotEqual(ha["loss"], hb["loss"])
    }

    // MARK: Validation split, evaluate, predict

    func testValidationSplitHoldsOutTheLastFraction() throws {
        let (x, y) = Fixtures.blobs(classes: 2, perClass: 25, dims: 3, spread: 1.0, seed: 4)
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .softmax)], seed: 4)
        model.compile(optimizer: SGD(learningRate: 0.05), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let history = try model.fit(x: x, y: y, batchSize: 10, epochs: 2, validationSplit: 0.2, verbose: .silent)
        XCTAssertEqual(history.epochs.map(\.samples), [40, 40], "50 samples, 20% held out")
        XCTAssertEqual(history.epochs.map(\.epoch), [1, 2])
        // The last epoch's validation numbers are those of the final weights on rows 40..<50.
        let last = try model.evaluate(x: x.rows(40..<50), y: y.rows(40..<50), batchSize: 10)
        XCTAssertEqual(history["val_loss"].last!, last.loss, accuracy: 1e-6)
        XCTAssertEqual(history["val_accuracy"].last!, last.accuracy!, accuracy: 1e-6)
        let first = try model.evaluate(x: x.rows(0..<10), y: y.rows(0..<10), batchSize: 10)
        XCTAssertNotEqual(history["val_loss"].last!, first.loss, "validation must not be the first rows")

        XCTAssertThrowsError(try model.fit(x: x, y: y, validationSplit: 1.0, verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains("validation split"), "\(error)")
        }
    }

    /// Keras 3 (`train_validation_split`): split_at = floor(N·(1 − split)); the rest is validation.
    /// 50 samples with split 0.25: floor(37.5) = 37 for training, 13 held out (as `Dataset.split`).
    func testValidationSplitCountsFollowKeras() throws {
        let (x, y) = Fixtures.blobs(classes: 2, perClass: 25, dims: 3, spread: 1.0, seed: 4)
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .softmax)], seed: 4)
        model.compile(optimizer: SGD(learningRate: 0.05), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let history = try model.fit(x: x, y: y, batchSize: 50, epochs: 1, validationSplit: 0.25, verbose: .silent)
        XCTAssertEqual(history.epochs[0].samples, 37, "Keras trains on floor(50 · 0.75) = 37 samples")
        let dataset = Dataset(images: x.reshaped([50, 3, 1, 1]), labels: y, classNames: ["a", "b"])
        XCTAssertEqual(try dataset.split(validationFraction: 0.25).train.count, 37, "Dataset.split follows Keras")
    }

    func testEvaluateAndPredictShapes() throws {
        let (x, y) = Fixtures.blobs(classes: 4, perClass: 10, dims: 5, spread: 1.0, seed: 5)
        let model = try Sequential(inputShape: [5], layers: [Dense(units: 8, activation: .tanh), Dense(units: 4, activation: .softmax)], seed: 5)
        model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let p = try model.predict(x, batchSize: 7)
        XCTAssertEqual(p.shape, [40, 4])
        for r in 0..<40 {
            let row = (0..<4).map { p[r, $0] }
            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5, "row \(r) \(row)")
            XCTAssertTrue(row.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        let classes = try model.predictClasses(x, batchSize: 7)
        XCTAssertEqual(classes.count, 40)
        XCTAssertTrue(classes.allSatisfy { (0..<4).contains($0) })
        let e = try model.evaluate(x: x, y: y, batchSize: 7)
        XCTAssertTrue(e.loss.isFinite && e.loss > 0)
        let acc = try XCTUnwrap(e.accuracy)
        let agree = zip(classes, (0..<40).map { Int(y[flat: $0]) }).filter { $0 == $1 }.count
        XCTAssertEqual(acc, Float(agree) / 40, accuracy: 1e-6)
        // Batch size does not change the predictions.
        let p1 = try model.predict(x, batchSize: 40)
        for i in 0..<p.count { XCTAssertEqual(p[flat: i], p1[flat: i], accuracy: 1e-6) }
    }

    // MARK: L2

    /// One Dense unit, kernel [2, 3], no bias, l2 = 0.1, zero inputs and targets: the data loss and
    /// its gradient are 0, so the loss is 0.1·(4 + 9) = 1.3 and one SGD step (η = 0.1) applies only
    /// the penalty gradient 2·l2·w = [0.4, 0.6]: w ← [1.96, 2.94].
    func testL2PenaltyInLossAndGradient() throws {
        let dense = Dense(units: 1, useBias: false, kernelL2: 0.1)
        let model = try Sequential(inputShape: [2], layers: [dense])
        dense.kernel.value[flat: 0] = 2
        dense.kernel.value[flat: 1] = 3
        model.compile(optimizer: SGD(learningRate: 0.1), loss: MeanSquaredError())
        XCTAssertEqual(model.regularizationLoss, 1.3, accuracy: 1e-6)
        let x = Tensor(shape: [4, 2]), y = Tensor(shape: [4, 1])
        XCTAssertEqual(try model.evaluate(x: x, y: y).loss, 1.3, accuracy: 1e-6)
        let h = try model.fit(x: x, y: y, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
        XCTAssertEqual(h["loss"][0], 1.3, accuracy: 1e-6, "the reported loss includes l2·Σw²")
        XCTAssertEqual(dense.kernel.value[flat: 0], 1.96, accuracy: 1e-6)
        XCTAssertEqual(dense.kernel.value[flat: 1], 2.94, accuracy: 1e-6)
    }

    /// With real data, a step with l2 differs from the same step without it by exactly −η·2·l2·w₀.
    func testL2StepDiffersByPenaltyGradient() throws {
        let (x, y) = Fixtures.blobs(classes: 2, perClass: 8, dims: 3, spread: 1.0, seed: 6)
        func run(_ l2: Float) throws -> (before: [Float], after: [Float], loss: Float, data: Float) {
            let dense = Dense(units: 2, activation: .softmax, kernelL2: l2)
            let model = try Sequential(inputShape: [3], layers: [dense], seed: 6)
            model.compile(optimizer: SGD(learningRate: 0.5), loss: SparseCategoricalCrossentropy())
            let before = dense.kernel.value.elements
            let h = try model.fit(x: x, y: y, batchSize: 16, epochs: 1, shuffle: false, verbose: .silent)
            return (before, dense.kernel.value.elements, h["loss"][0], model.regularizationLoss)
        }
        let plain = try run(0), l2 = try run(0.05)
        XCTAssertEqual(plain.before, l2.before)
        let penalty = 0.05 * plain.before.reduce(0) { $0 + $1 * $1 }
        XCTAssertEqual(l2.loss - plain.loss, penalty, accuracy: 1e-5)
        for i in plain.before.indices {
            XCTAssertEqual(l2.after[i] - plain.after[i], -0.5 * 2 * 0.05 * plain.before[i], accuracy: 1e-5, "kernel element \(i)")
        }
    }

    // MARK: Errors

    func testFitBeforeCompileThrows() throws {
        let model = try Sequential(inputShape: [2], layers: [Dense(units: 1)])
        XCTAssertThrowsError(try model.fit(x: Tensor(shape: [2, 2]), y: Tensor(shape: [2, 1]), verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains("compile"), "\(error)")
        }
        XCTAssertThrowsError(try model.evaluate(x: Tensor(shape: [2, 2]), y: Tensor(shape: [2, 1])))
    }

    func testWrongInputShapeNamesLayerAndShapes() throws {
        let model = try Sequential(inputShape: [4], layers: [Dense(units: 3, name: "hidden"), Dense(units: 2, activation: .softmax)])
        model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        XCTAssertThrowsError(try model.fit(x: Tensor(shape: [10, 5]), y: Tensor(shape: [10]), verbose: .silent)) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("hidden") && m.contains("[N, 4]") && m.contains("[10, 5]"), m)
        }
        XCTAssertThrowsError(try model.predict(Tensor(shape: [3, 2, 2]))) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("hidden") && m.contains("[N, 4]") && m.contains("[3, 2, 2]"), m)
        }
        XCTAssertThrowsError(try model.fit(x: Tensor(shape: [10, 4]), y: Tensor(shape: [9]), verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains("10") && "\(error)".contains("9"), "\(error)")
        }
        // A layer that cannot take the shape fails at build, naming itself.
        XCTAssertThrowsError(try Sequential(inputShape: [4], layers: [Conv2D(filters: 2, kernelSize: 3, name: "image_head")])) { error in
            XCTAssertTrue("\(error)".contains("image_head"), "\(error)")
        }
    }

    /// NaN inputs in the second batch: fit throws NonFiniteLossError for epoch 1, batch 2, and the
    /// weights are exactly those after the first batch.
    func testNonFiniteLossStopsWithWeightsOfLastGoodBatch() throws {
        let (x, y) = Fixtures.blobs(classes: 2, perClass: 6, dims: 3, spread: 1.0, seed: 7)
        for i in 4..<8 { x[flat: i * 3 + 1] = .nan }
        func build() throws -> Model {
            let m = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .relu), Dense(units: 2, activation: .softmax)], seed: 7)
            m.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            return m
        }
        let model = try build()
        XCTAssertThrowsError(try model.fit(x: x, y: y, batchSize: 4, epochs: 2, shuffle: false, verbose: .silent)) { error in
            guard let e = error as? NonFiniteLossError else { return XCTFail("expected NonFiniteLossError, got \(error)") }
            XCTAssertEqual(e.epoch, 1)
            XCTAssertEqual(e.batch, 2)
            XCTAssertTrue(e.loss.isNaN)
            XCTAssertEqual(e.history.epochs.count, 0)
            XCTAssertTrue(e.description.contains("epoch 1") && e.description.contains("batch 2"), e.description)
        }
        let reference = try build()
        try reference.fit(x: x.rows(0..<4), y: y.rows(0..<4), batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
        for (a, b) in zip(model.namedParameters, reference.namedParameters) {
            XCTAssertEqual(a.parameter.value.elements.map(\.bitPattern), b.parameter.value.elements.map(\.bitPattern), a.name)
            XCTAssertTrue(a.parameter.value.elements.allSatisfy(\.isFinite), a.name)
        }
    }

    /// A huge learning rate drives the loss to infinity or NaN: fit throws instead of returning.
    func testHugeLearningRateThrowsNonFiniteLoss() throws {
        let (x, y) = Fixtures.blobs(classes: 2, perClass: 16, dims: 3, spread: 1.0, seed: 8)
        let yr = Tensor(shape: [32, 1], elements: (0..<32).map { y[flat: $0] * 1000 })
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 8), Dense(units: 1)], seed: 8)
        model.compile(optimizer: SGD(learningRate: 1e6), loss: MeanSquaredError())
        XCTAssertThrowsError(try model.fit(x: x, y: yr, batchSize: 4, epochs: 20, verbose: .silent)) { error in
            guard let e = error as? NonFiniteLossError else { return XCTFail("expected NonFiniteLossError, got \(error)") }
            XCTAssertFalse(e.loss.isFinite)
        }
        for (name, p) in model.namedParameters { XCTAssertTrue(p.value.elements.allSatisfy(\.isFinite), name) }
    }
}

/// Seeded synthetic data for the model, callback and weight tests.
private enum Fixtures {
    /// `classes` Gaussian blobs in `dims` dimensions, centres on the axes 4 apart, `perClass`
    /// samples each, interleaved by class; labels `[N]`.
    static func blobs(classes: Int, perClass: Int, dims: Int, spread: Float, seed: UInt64) -> (Tensor, Tensor) {
        var rng = RandomGenerator(seed: seed)
        let n = classes * perClass
        let x = Tensor(shape: [n, dims]), y = Tensor(shape: [n])
        for i in 0..<n {
            let c = i % classes
            y[flat: i] = Float(c)
            for d in 0..<dims {
                let centre: Float = classes == 2 ? (c == 0 ? -2 : 2) : (d % classes == c ? 4 : 0)
                x[flat: i * dims + d] = centre + spread * rng.nextNormal()
            }
        }
        return (x, y)
    }
}
