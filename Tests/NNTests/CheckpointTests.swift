import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Crash-safe checkpoints: a resumed run ends with the same weights, bit for bit, as an
/// uninterrupted one, and a process killed while saving leaves a checkpoint that still loads.
final class CheckpointTests: CLITestCase {
    /// A small model with everything that carries state across epochs: BatchNormalization moving
    /// statistics, Dropout's generator, Adam's slots and step count, the shuffling generator.
    private func model(seed: UInt64) throws -> (Model, Adam) {
        let m = try Sequential(inputShape: [6, 6, 1], layers: [
            Conv2D(filters: 4, kernelSize: 3, activation: .relu),
            BatchNormalization(),
            Flatten(),
            Dropout(rate: 0.3),
            Dense(units: 3, activation: .softmax),
        ], seed: seed)
        let adam = Adam(learningRate: 0.01)
        m.compile(optimizer: adam, loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return (m, adam)
    }

    private func data() -> (Tensor, Tensor) {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor(shape: [40, 6, 6, 1]), y = Tensor(shape: [40])
        for i in 0..<x.count { x[flat: i] = rng.nextUniform() }
        for i in 0..<40 { y[flat: i] = Float(i % 3) }
        return (x, y)
    }

    private func bits(_ m: Model) -> [[UInt32]] { m.namedParameters.map { $0.parameter.value.elements.map(\.bitPattern) } }

    func testResumedRunIsBitIdenticalToUninterruptedRun() throws {
        let (x, y) = data()
        let (straight, _) = try model(seed: 9)
        let full = try straight.fit(x: x, y: y, batchSize: 8, epochs: 4, verbose: .silent)

        let path = work + "/run.ckpt"
        let (first, firstAdam) = try model(seed: 9)
        try first.fit(x: x, y: y, batchSize: 8, epochs: 2, callbacks: [CheckpointCallback(path: path, optimizer: firstAdam)], verbose: .silent)

        let (resumed, resumedAdam) = try model(seed: 123)  // different initial state: everything must come from the file
        let done = try Checkpoint.restore(model: resumed, optimizer: resumedAdam, from: path)
        XCTAssertEqual(done, 2)
        XCTAssertEqual(resumedAdam.iterations, firstAdam.iterations)
        let rest = try resumed.fit(x: x, y: y, batchSize: 8, epochs: 4, initialEpoch: done, verbose: .silent)

        XCTAssertEqual(bits(resumed), bits(straight), "final weights differ from the uninterrupted run")
        XCTAssertEqual(rest["loss"].map(\.bitPattern), Array(full["loss"].suffix(2)).map(\.bitPattern))
        XCTAssertEqual(rest.epochs.map(\.epoch), [3, 4])
    }

    /// The same on a graph with a skip connection and a fan-out (BatchNormalization, Dropout, Adam).
    func testResumedGraphRunIsBitIdenticalToUninterruptedRun() throws {
        func graph(seed: UInt64) throws -> (Model, Adam) {
            let x = Input(shape: [6, 6, 1])
            let c = Conv2D(filters: 4, kernelSize: 3, padding: .same, activation: .relu)(x)
            let r = Add()([c, BatchNormalization()(Conv2D(filters: 4, kernelSize: 3, padding: .same)(c))])
            let y = Dense(units: 3, activation: .softmax)(Dropout(rate: 0.3)(Flatten()(Concatenate()([r, c]))))
            let m = try Model(inputs: x, outputs: y, seed: seed)
            let adam = Adam(learningRate: 0.01)
            m.compile(optimizer: adam, loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            return (m, adam)
        }
        let (x, y) = data()
        let (straight, _) = try graph(seed: 9)
        let full = try straight.fit(x: x, y: y, batchSize: 8, epochs: 4, validationSplit: 0.2, verbose: .silent)
        let path = work + "/graph.ckpt"
        let (first, firstAdam) = try graph(seed: 9)
        try first.fit(x: x, y: y, batchSize: 8, epochs: 2, validationSplit: 0.2, callbacks: [CheckpointCallback(path: path, optimizer: firstAdam)], verbose: .silent)
        let (resumed, resumedAdam) = try graph(seed: 77)
        let done = try Checkpoint.restore(model: resumed, optimizer: resumedAdam, from: path)
        let rest = try resumed.fit(x: x, y: y, batchSize: 8, epochs: 4, initialEpoch: done, validationSplit: 0.2, verbose: .silent)
        XCTAssertEqual(bits(resumed), bits(straight), "final weights differ from the uninterrupted run")
        XCTAssertEqual(rest["val_loss"].map(\.bitPattern), Array(full["val_loss"].suffix(2)).map(\.bitPattern))
    }

    func testRestoreRefusesAnotherOptimizerOrModelAndChangesNothing() throws {
        let (x, y) = data()
        let path = work + "/run.ckpt"
        let (m, adam) = try model(seed: 1)
        try m.fit(x: x, y: y, batchSize: 8, epochs: 1, callbacks: [CheckpointCallback(path: path, optimizer: adam)], verbose: .silent)

        let (other, _) = try model(seed: 2)
        let before = bits(other)
        XCTAssertThrowsError(try Checkpoint.restore(model: other, optimizer: SGD(), from: path)) { error in
            XCTAssertTrue("\(error)".contains("optimizer 'adam'"), "\(error)")
        }
        let wider = try Sequential(inputShape: [6, 6, 1], layers: [
            Conv2D(filters: 5, kernelSize: 3, activation: .relu), BatchNormalization(), Flatten(), Dropout(rate: 0.3),
            Dense(units: 3, activation: .softmax),
        ], seed: 2)
        XCTAssertThrowsError(try Checkpoint.restore(model: wider, optimizer: Adam(), from: path)) { error in
            XCTAssertTrue("\(error)".contains("conv2d.kernel"), "\(error)")
        }
        XCTAssertEqual(bits(other), before)
        try SafeTensors.save([("w", Tensor(shape: [1]))], to: work + "/plain.safetensors")
        XCTAssertThrowsError(try Checkpoint.restore(model: other, optimizer: Adam(), from: work + "/plain.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("not a training checkpoint"), "\(error)")
        }
    }

    /// `cnn train --checkpoint` then `--resume` ends with the same weights file as one straight run.
    func testCommandLineResumeMatchesStraightRun() throws {
        let data = try makeData()
        let straight = work + "/straight.safetensors", resumed = work + "/resumed.safetensors", ckpt = work + "/c.ckpt"
        let common = ["train", "--model", "convnet", "--data", data, "--seed", "4", "--batch-size", "16"]
        XCTAssertEqual(try cnn(common + ["--epochs", "3", "--save", straight]).status, 0)
        XCTAssertEqual(try cnn(common + ["--epochs", "1", "--checkpoint", ckpt]).status, 0)
        let run = try cnn(common + ["--epochs", "3", "--resume", ckpt, "--save", resumed])
        XCTAssertEqual(run.status, 0, run.all)
        XCTAssertTrue(run.stdout.contains("resumed from \(ckpt) after epoch 1"), run.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: straight)), try Data(contentsOf: URL(fileURLWithPath: resumed)),
                       "resumed weights differ from the straight run")
    }

    /// SIGKILL at random moments of a run that saves a checkpoint every few milliseconds: every
    /// time, the checkpoint on disk is complete and restores.
    func testKillDuringSaveLeavesALoadableCheckpoint() throws {
        let data = try makeData()
        let ckpt = work + "/kill.ckpt"
        var rng = RandomGenerator(seed: 77)
        var killedWhileRunning = 0
        for round in 0..<8 {
            let process = Process()
            process.executableURL = try executable()
            // 64 images in one batch: an epoch is one step, so the run is mostly saving.
            process.arguments = ["train", "--model", "mlp", "--data", data, "--epochs", "100000", "--batch-size", "64",
                                 "--checkpoint", ckpt] + (round > 0 ? ["--resume", ckpt] : [])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            var environment = ProcessInfo.processInfo.environment
            environment["OPENBLAS_NUM_THREADS"] = "1"
            process.environment = environment
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: ckpt) && process.isRunning && Date() < deadline { usleep(5_000) }
            usleep(UInt32(50_000 + rng.next() % 250_000))
            if process.isRunning { killedWhileRunning += 1 }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let (m, _) = (try ModelZoo.build("mlp"), ())
            let adam = Adam()
            XCTAssertNoThrow(try Checkpoint.restore(model: m, optimizer: adam, from: ckpt), "round \(round): checkpoint does not load")
        }
        XCTAssertGreaterThan(killedWhileRunning, 0, "the process always ended before it could be killed")
    }
}
