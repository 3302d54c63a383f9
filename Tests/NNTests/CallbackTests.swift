import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Callbacks: EarlyStopping's Keras rules on scripted values, ThresholdStopping and ModelCheckpoint
/// in real and scripted runs, TerminateOnNaN, and the order in which fit calls the hooks.
final class CallbackTests: XCTestCase {
    private func tinyModel(seed: UInt64 = 0) throws -> Model {
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .relu), Dense(units: 2, activation: .softmax)], seed: seed)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return model
    }

    /// Feeds `values` of `monitor` to `callback` epoch by epoch as fit would, stopping when the model
    /// asks to; `beforeEpoch` runs before each epoch's end (to change the weights). Returns epochs seen.
    @discardableResult
    private func script(_ callback: Callback, _ model: Model, monitor: String, _ values: [Float],
                        beforeEpoch: (Int) -> Void = { _ in }) throws -> Int {
        model.stopTraining = false
        try callback.onTrainBegin(model: model)
        var seen = 0
        for (epoch, v) in values.enumerated() {
            try callback.onEpochBegin(epoch, model: model)
            beforeEpoch(epoch)
            var logs: Logs = ["loss": 1]
            logs[monitor] = v
            try callback.onEpochEnd(epoch, logs: logs, model: model)
            seen += 1
            if model.stopTraining { break }
        }
        return seen
    }

    // MARK: EarlyStopping

    /// patience 2 on val_loss [1.0, 0.9, 0.95, 0.92, 0.91]: epochs 2 and 3 do not improve on 0.9,
    /// so wait reaches 2 at epoch 3 (0-based) and training stops there; the best epoch is 1.
    func testEarlyStoppingPatience() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "val_loss", patience: 2)
        let seen = try script(es, model, monitor: "val_loss", [1.0, 0.9, 0.95, 0.92, 0.91, 0.5])
        XCTAssertEqual(seen, 4)
        XCTAssertTrue(model.stopTraining)
        XCTAssertEqual(es.stoppedEpoch, 3)
        XCTAssertEqual(es.bestEpoch, 1)
        XCTAssertEqual(es.best, 0.9)
    }

    /// An improvement resets the wait: [1.0, 1.1, 0.8, 0.9, 0.95] with patience 2 stops at epoch 4.
    func testEarlyStoppingImprovementResetsWait() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "val_loss", patience: 2)
        XCTAssertEqual(try script(es, model, monitor: "val_loss", [1.0, 1.1, 0.8, 0.9, 0.95, 0.7]), 5)
        XCTAssertEqual(es.stoppedEpoch, 4)
        XCTAssertEqual(es.bestEpoch, 2)
    }

    /// minDelta 0.05: 0.97 is not better than 1.0 by more than 0.05, so with patience 1 training
    /// stops at epoch 1; 0.94 would have counted.
    func testEarlyStoppingMinDelta() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "val_loss", minDelta: 0.05, patience: 1)
        XCTAssertEqual(try script(es, model, monitor: "val_loss", [1.0, 0.97, 0.5]), 2)
        XCTAssertEqual(es.stoppedEpoch, 1)
        XCTAssertEqual(es.best, 1.0)

        let es2 = EarlyStopping(monitor: "val_loss", minDelta: 0.05, patience: 1)
        XCTAssertEqual(try script(es2, model, monitor: "val_loss", [1.0, 0.94, 0.93]), 3)
        XCTAssertEqual(es2.stoppedEpoch, 2)
        XCTAssertEqual(es2.bestEpoch, 1)
    }

    /// patience 0 stops at the first epoch without improvement (never at epoch 0).
    func testEarlyStoppingPatienceZero() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "loss", patience: 0)
        XCTAssertEqual(try script(es, model, monitor: "loss", [1.0, 0.9, 0.9, 0.1]), 3)
        XCTAssertEqual(es.stoppedEpoch, 2)
    }

    /// Accuracy-like names are maximized in auto mode; `.max` can be given explicitly.
    func testEarlyStoppingModeMaxForAccuracy() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "val_accuracy", patience: 1)
        XCTAssertEqual(es.mode, .max)
        XCTAssertEqual(try script(es, model, monitor: "val_accuracy", [0.5, 0.6, 0.55, 0.9]), 3)
        XCTAssertEqual(es.stoppedEpoch, 2)
        XCTAssertEqual(es.best, 0.6)
        XCTAssertEqual(es.bestEpoch, 1)

        let explicit = EarlyStopping(monitor: "score", patience: 1, mode: .max)
        XCTAssertEqual(try script(explicit, model, monitor: "score", [1, 2, 3, 2.5]), 4)
        XCTAssertEqual(explicit.stoppedEpoch, 3)
        XCTAssertEqual(EarlyStopping(monitor: "val_loss").mode, .min)
    }

    /// restoreBestWeights puts back every parameter's value from the best epoch.
    func testEarlyStoppingRestoresBestWeights() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "val_loss", patience: 2, restoreBestWeights: true)
        // Before epoch k's end every parameter is filled with k + 1.
        let seen = try script(es, model, monitor: "val_loss", [1.0, 0.5, 0.7, 0.8, 0.1]) { epoch in
            for (_, p) in model.namedParameters { p.value.fill(Float(epoch + 1)) }
        }
        XCTAssertEqual(seen, 4)
        XCTAssertEqual(es.stoppedEpoch, 3)
        XCTAssertEqual(es.bestEpoch, 1)
        for (name, p) in model.namedParameters {
            XCTAssertTrue(p.value.elements.allSatisfy { $0 == 2 }, "\(name) not restored to epoch 1's values: \(p.value.elements)")
        }

        // Without restoreBestWeights the last values stay.
        let keep = EarlyStopping(monitor: "val_loss", patience: 2)
        try script(keep, model, monitor: "val_loss", [1.0, 0.5, 0.7, 0.8]) { epoch in
            for (_, p) in model.namedParameters { p.value.fill(Float(epoch + 1)) }
        }
        for (name, p) in model.namedParameters { XCTAssertTrue(p.value.elements.allSatisfy { $0 == 4 }, name) }
    }

    func testEarlyStoppingMissingMonitorThrows() throws {
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "val_loss")
        try es.onTrainBegin(model: model)
        XCTAssertThrowsError(try es.onEpochEnd(0, logs: ["loss": 1], model: model)) { error in
            XCTAssertTrue("\(error)".contains("val_loss"), "\(error)")
        }
    }

    /// In a real fit: with an impossible minDelta nothing after epoch 0 improves, so patience 1
    /// stops fit after 2 epochs.
    func testEarlyStoppingEndsRealFit() throws {
        let (x, y) = Fixtures.blobs(seed: 1)
        let model = try tinyModel()
        let es = EarlyStopping(monitor: "loss", minDelta: 100, patience: 1)
        let h = try model.fit(x: x, y: y, batchSize: 8, epochs: 10, callbacks: [es], verbose: .silent)
        XCTAssertEqual(h.epochs.count, 2)
        XCTAssertEqual(es.stoppedEpoch, 1)
    }

    // MARK: ThresholdStopping

    func testThresholdStoppingStopsAtFirstEpochReachingThreshold() throws {
        let (x, y) = Fixtures.blobs(seed: 2)
        let model = try tinyModel(seed: 2)
        model.compile(optimizer: SGD(learningRate: 0.02), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let stop = ThresholdStopping(monitor: "accuracy", threshold: 0.8)
        let h = try model.fit(x: x, y: y, batchSize: 8, epochs: 60, callbacks: [stop], verbose: .silent)
        let acc = h["accuracy"]
        XCTAssertLessThan(h.epochs.count, 60, "never reached 0.8: \(acc)")
        XCTAssertGreaterThanOrEqual(acc.last!, 0.8)
        XCTAssertTrue(acc.dropLast().allSatisfy { $0 < 0.8 }, "an earlier epoch already reached 0.8: \(acc)")
        XCTAssertEqual(stop.stoppedEpoch, h.epochs.count - 1)
    }

    func testThresholdStoppingOnLossStopsAtOrBelow() throws {
        let model = try tinyModel()
        let stop = ThresholdStopping(monitor: "val_loss", threshold: 0.3)
        XCTAssertEqual(stop.mode, .min)
        XCTAssertEqual(try script(stop, model, monitor: "val_loss", [0.9, 0.31, 0.3, 0.1]), 3)
        XCTAssertEqual(stop.stoppedEpoch, 2)
    }

    // MARK: ModelCheckpoint

    /// saveBestOnly: val_loss [1.0, 1.2, 0.8, 0.8, 0.9] writes after epochs 1 and 3 (1-based) only.
    func testCheckpointSaveBestOnlyAndEpochSubstitution() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModel()
        let checkpoint = ModelCheckpoint(path: dir + "/w-{epoch}.safetensors", monitor: "val_loss", saveBestOnly: true)
        try script(checkpoint, model, monitor: "val_loss", [1.0, 1.2, 0.8, 0.8, 0.9]) { epoch in
            for (_, p) in model.namedParameters { p.value.fill(Float(epoch + 1)) }
        }
        XCTAssertEqual(checkpoint.savedPaths, [dir + "/w-1.safetensors", dir + "/w-3.safetensors"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["w-1.safetensors", "w-3.safetensors"])
        XCTAssertEqual(checkpoint.best, 0.8)
        // The file of epoch 3 holds the weights of epoch 3 and loads into a fresh model.
        let fresh = try tinyModel(seed: 9)
        try fresh.loadWeights(from: dir + "/w-3.safetensors")
        for (name, p) in fresh.namedParameters { XCTAssertTrue(p.value.elements.allSatisfy { $0 == 3 }, name) }
    }

    /// Every epoch in a real fit, with `{epoch}`; the last file equals the final weights.
    func testCheckpointEveryEpochInFit() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (x, y) = Fixtures.blobs(seed: 3)
        let model = try tinyModel(seed: 3)
        let checkpoint = ModelCheckpoint(path: dir + "/e{epoch}.safetensors")
        try model.fit(x: x, y: y, batchSize: 8, epochs: 3, callbacks: [checkpoint], verbose: .silent)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["e1.safetensors", "e2.safetensors", "e3.safetensors"])
        let fresh = try tinyModel(seed: 99)
        try fresh.loadWeights(from: dir + "/e3.safetensors")
        XCTAssertEqual(try fresh.predict(x).elements, try model.predict(x).elements)
        let epoch1 = try tinyModel(seed: 99)
        try epoch1.loadWeights(from: dir + "/e1.safetensors")
        XCTAssertNotEqual(try epoch1.predict(x).elements, try model.predict(x).elements)
    }

    func testCheckpointMaxModeForAccuracy() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModel()
        let checkpoint = ModelCheckpoint(path: dir + "/best.safetensors", monitor: "val_accuracy", saveBestOnly: true)
        try script(checkpoint, model, monitor: "val_accuracy", [0.5, 0.4, 0.7, 0.6])
        XCTAssertEqual(checkpoint.savedPaths.count, 2)
        XCTAssertEqual(checkpoint.best, 0.7)
    }

    // MARK: TerminateOnNaN

    func testTerminateOnNaNRecordsEpochAndBatch() throws {
        let model = try tinyModel()
        let t = TerminateOnNaN()
        try t.onEpochBegin(3, model: model)
        try t.onBatchEnd(4, logs: ["loss": 0.5], model: model)
        XCTAssertNil(t.terminatedAt)
        XCTAssertFalse(model.stopTraining)
        try t.onBatchEnd(5, logs: ["loss": .nan], model: model)
        XCTAssertEqual(t.terminatedAt?.epoch, 3)
        XCTAssertEqual(t.terminatedAt?.batch, 5)
        XCTAssertTrue(model.stopTraining)
    }

    /// In fit, NaN inputs in the second batch: TerminateOnNaN sees epoch 0, batch 1 (0-based).
    func testTerminateOnNaNInFit() throws {
        let (x, y) = Fixtures.blobs(seed: 4)
        for i in 8..<16 { x[flat: i * 3] = .nan }
        let model = try tinyModel()
        let t = TerminateOnNaN()
        XCTAssertThrowsError(try model.fit(x: x, y: y, batchSize: 8, epochs: 2, shuffle: false, callbacks: [t], verbose: .silent)) { error in
            XCTAssertTrue(error is NonFiniteLossError, "\(error)")
        }
        XCTAssertEqual(t.terminatedAt?.epoch, 0)
        XCTAssertEqual(t.terminatedAt?.batch, 1)
    }

    // MARK: Order

    func testCallbackOrder() throws {
        let (x, y) = Fixtures.blobs(seed: 5)  // 40 samples
        let model = try tinyModel()
        let recorder = Recorder()
        // 30 training samples in batches of 12: 3 batches per epoch.
        let h = try model.fit(x: x.rows(0..<30), y: y.rows(0..<30), batchSize: 12, epochs: 2,
                              validationData: (x.rows(30..<40), y.rows(30..<40)), callbacks: [recorder], verbose: .silent)
        var expected = ["trainBegin"]
        for e in 0..<2 {
            expected.append("epochBegin \(e)")
            for b in 0..<3 { expected += ["batchBegin \(b)", "batchEnd \(b)"] }
            expected.append("epochEnd \(e)")
        }
        expected.append("trainEnd 2")
        XCTAssertEqual(recorder.events, expected)
        XCTAssertEqual(Set(recorder.epochLogs.last!.keys), ["loss", "accuracy", "val_loss", "val_accuracy"])
        XCTAssertEqual(recorder.epochLogs.last!["loss"], h["loss"].last)
        XCTAssertEqual(Set(recorder.batchLogs.last!.keys), ["loss", "accuracy"])
    }

    /// A callback that sets stopTraining in onBatchEnd ends the epoch early and then fit.
    func testStopTrainingFromBatchEnd() throws {
        let (x, y) = Fixtures.blobs(seed: 6)
        let model = try tinyModel()
        final class StopAfterFirstBatch: Callback {
            func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws { model.stopTraining = true }
        }
        let recorder = Recorder()
        let h = try model.fit(x: x, y: y, batchSize: 8, epochs: 5, callbacks: [StopAfterFirstBatch(), recorder], verbose: .silent)
        XCTAssertEqual(h.epochs.count, 1)
        XCTAssertEqual(h.epochs[0].samples, 8)
        XCTAssertEqual(recorder.events.filter { $0.hasPrefix("batchEnd") }.count, 1)
    }
}

/// Records every hook fit calls.
private final class Recorder: Callback {
    var events: [String] = []
    var epochLogs: [Logs] = []
    var batchLogs: [Logs] = []
    func onTrainBegin(model: Model) throws { events.append("trainBegin") }
    func onTrainEnd(model: Model, history: History) throws { events.append("trainEnd \(history.epochs.count)") }
    func onEpochBegin(_ epoch: Int, model: Model) throws { events.append("epochBegin \(epoch)") }
    func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        events.append("epochEnd \(epoch)")
        epochLogs.append(logs)
    }
    func onBatchBegin(_ batch: Int, model: Model) throws { events.append("batchBegin \(batch)") }
    func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws {
        events.append("batchEnd \(batch)")
        batchLogs.append(logs)
    }
}

private enum Fixtures {
    /// Two overlapping Gaussian blobs in 3 dimensions, 40 samples, labels `[40]`.
    static func blobs(seed: UInt64) -> (Tensor, Tensor) {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor(shape: [40, 3]), y = Tensor(shape: [40])
        for i in 0..<40 {
            let c = i % 2
            y[flat: i] = Float(c)
            for d in 0..<3 { x[flat: i * 3 + d] = (c == 0 ? -0.7 : 0.7) + rng.nextNormal() }
        }
        return (x, y)
    }

    static func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-callback-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
