import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Issue 13, the command's side: output paths checked before any work, a locked checkpoint that a
/// fresh run does not clobber, resumes that refuse different flags, tampered checkpoints refused by
/// field, the last finite epoch saved after divergence, signals that say where the checkpoint is,
/// and clear messages for a few bad flags.
final class CLIHardeningTests: CLITestCase {
    private func assertRefused(_ run: Run, naming texts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(run.status, 0, "exited 0: \(run.all)", file: file, line: line)
        for text in texts { XCTAssertTrue(run.stderr.contains(text), "stderr does not name \(text): \(run.all)", file: file, line: line) }
        XCTAssertFalse(run.all.contains("Fatal error"), run.all, file: file, line: line)
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    // MARK: 1. Output paths, before any data is read

    /// The data directory does not exist: each run must fail on the output path, not on the data.
    func testOutputPathsAreCheckedBeforeTheData() throws {
        let noData = work + "/no-such-data"
        let file = work + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let target = work + "/target.json", link = work + "/link.json"
        try Data().write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let x = work + "/x.out"
        let cases: [([String], [String])] = [
            (["--save", work + "/missing/w.safetensors"], ["--save", "does not exist"]),
            (["--save", file + "/w.safetensors"], ["--save", "is not a directory"]),
            (["--history-json", work], ["--history-json", "is a directory"]),
            (["--checkpoint", work + "/missing/c.ckpt"], ["--checkpoint", "does not exist"]),
            (["--report", file], ["--report", "is a file, not a directory"]),
            (["--save", x, "--history-json", x], ["--save", "--history-json", "name the same file"]),
            (["--checkpoint", x, "--save", x], ["--checkpoint", "--save", "name the same file"]),
            (["--save", link, "--history-json", target], ["--save", "--history-json", "name the same file"]),
            (["--save", work + "/./x.out", "--report", work + "/../" + URL(fileURLWithPath: work).lastPathComponent + "/x.out"],
             ["--save", "--report"]),
        ]
        for (flags, texts) in cases {
            let run = try cnn(["train", "--model", "mlp", "--data", noData, "--epochs", "1"] + flags)
            assertRefused(run, naming: texts)
            XCTAssertFalse(run.stderr.contains(noData), "\(flags): checked the data before the outputs: \(run.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: x))
        // A checkpoint must be a file; two outputs to /dev/null lose nothing, so are allowed.
        assertRefused(try cnn(["train", "--data", noData, "--checkpoint", "/dev/null"]), naming: ["--checkpoint /dev/null is not a regular file"])
        let devNull = try cnn(["train", "--model", "mlp", "--data", noData, "--save", "/dev/null", "--history-json", "/dev/null"])
        assertRefused(devNull, naming: [noData])

        let report = try cnn(["report", "--model", "mlp", "--weights", work + "/w", "--data", noData, "--out", file])
        assertRefused(report, naming: ["--out", file])
        let transfer = try cnn(["transfer", "--data", noData, "--json", x, "--save-base", x])
        assertRefused(transfer, naming: ["--json", "--save-base"])
    }

    /// `cnn report --history-json` given a FIFO with no writer fails at once naming the file (it
    /// blocked forever), and a history whose facts are out of range still makes a report's facts
    /// without trapping.
    func testReportHistoryJSONIsARegularFileReadWithoutBlocking() throws {
        let fifo = work + "/history.fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let started = Date()
        let run = try cnn(["report", "--model", "mlp", "--weights", work + "/w.safetensors", "--data", work,
                           "--history-json", fifo, "--out", work + "/report"])
        assertRefused(run, naming: [fifo, "FIFO"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }

    /// Found by a hostile review: a one-character relative output path trapped; outputs could
    /// replace the input data files; a planted PATH.lock symlink had its target truncated; a file
    /// under another process's lock could be replaced (defeating the checkpoint lock); and --save
    /// replaced a training checkpoint without --overwrite.
    func testReviewFindingsOnOutputsAndTheLock() throws {
        let data = try makeData()
        let noData = work + "/no-such-data"
        let bare = try cnn(["train", "--model", "mlp", "--data", noData, "--epochs", "1", "--save", "x"])
        assertRefused(bare, naming: [noData])

        let labels = data + "/t10k-labels-idx1-ubyte.gz"
        let before = try bytes(labels)
        for flag in ["--save", "--history-json", "--checkpoint"] {
            assertRefused(try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", flag, labels, "--overwrite"]),
                          naming: [flag, "input data file"])
        }
        assertRefused(try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--report", data]),
                      naming: ["--report", "input data file"])
        XCTAssertEqual(try bytes(labels), before)

        let victim = work + "/victim.txt"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: work + "/v.ckpt.lock", withDestinationPath: victim)
        assertRefused(try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--checkpoint", work + "/v.ckpt"]),
                      naming: ["--checkpoint", "lock file"])
        XCTAssertEqual(String(decoding: try bytes(victim), as: UTF8.self), "keep me")

        let locked = work + "/held.json"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: locked))
        let fd = open(locked, O_RDONLY)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        assertRefused(try cnn(["train", "--model", "mlp", "--data", noData, "--history-json", locked]), naming: ["lock", locked])
        close(fd)

        // A report directory holding other files, or outputs inside the report directory: refused before training.
        let rep = work + "/rep"
        try FileManager.default.createDirectory(atPath: rep, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: rep + "/.keep"))
        assertRefused(try cnn(["train", "--model", "mlp", "--data", noData, "--report", rep]), naming: ["--report", ".keep"])
        let rr = work + "/rr"
        try FileManager.default.createDirectory(atPath: rr, withIntermediateDirectories: true)
        assertRefused(try cnn(["train", "--model", "mlp", "--data", noData, "--report", rr, "--save", rr + "/w.st"]),
                      naming: ["--save", "inside --report"])

        let ckpt = work + "/c.ckpt"
        XCTAssertEqual(try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--checkpoint", ckpt]).status, 0)
        let saved = try bytes(ckpt)
        assertRefused(try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--save", ckpt]),
                      naming: ["--save", "training checkpoint", "--overwrite"])
        XCTAssertEqual(try bytes(ckpt), saved)
    }

    // MARK: 2. The checkpoint's lock and --overwrite

    func testASecondRunOnALockedCheckpointIsRefusedNamingTheHolder() throws {
        let data = try makeData()
        let ckpt = work + "/c.ckpt"
        // This test process holds the lock, as another run would.
        let fd = open(ckpt + ".lock", O_RDWR | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let holder = "pid 4242, started 2026-01-01T00:00:00Z\n"
        _ = holder.withCString { pwrite(fd, $0, strlen($0), 0) }
        let refused = try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--checkpoint", ckpt])
        assertRefused(refused, naming: ["--checkpoint", "in use", "pid 4242"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: ckpt))
        close(fd)

        let run = try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--checkpoint", ckpt])
        XCTAssertEqual(run.status, 0, run.all)
        let lockText = String(decoding: try bytes(ckpt + ".lock"), as: UTF8.self)
        XCTAssertTrue(lockText.hasPrefix("pid "), lockText)
        XCTAssertFalse(lockText.contains("4242"), lockText)
    }

    func testAFreshRunDoesNotReplaceACheckpointWithoutOverwrite() throws {
        let data = try makeData()
        let ckpt = work + "/c.ckpt"
        let common = ["train", "--model", "mlp", "--data", data, "--epochs", "1", "--checkpoint", ckpt]
        XCTAssertEqual(try cnn(common).status, 0)
        let before = try bytes(ckpt)
        let refused = try cnn(common + ["--seed", "3"])
        assertRefused(refused, naming: ["--checkpoint", ckpt, "--overwrite", "--resume"])
        XCTAssertEqual(try bytes(ckpt), before)
        let replaced = try cnn(common + ["--seed", "3", "--overwrite"])
        XCTAssertEqual(replaced.status, 0, replaced.all)
        XCTAssertNotEqual(try bytes(ckpt), before)
    }

    // MARK: 3. --resume compares flags

    func testResumeRefusesDifferentFlagsListingEach() throws {
        let data = try makeData()
        let ckpt = work + "/c.ckpt"
        let common = ["train", "--data", data, "--optimizer", "adam"]
        XCTAssertEqual(try cnn(common + ["--model", "mlp", "--epochs", "1", "--seed", "4", "--batch-size", "16", "--learning-rate", "0.001",
                                         "--checkpoint", ckpt]).status, 0)
        let different = try cnn(common + ["--model", "mlp", "--epochs", "2", "--seed", "5", "--batch-size", "32", "--learning-rate", "0.01",
                                          "--limit", "40", "--resume", ckpt])
        assertRefused(different, naming: ["--seed: checkpoint 4, given 5", "--batch-size: checkpoint 16, given 32",
                                          "--learning-rate: checkpoint 0.001, given 0.01", "--limit: checkpoint none, given 40",
                                          "--override-learning-rate"])
        XCTAssertFalse(different.stdout.contains("Epoch"), "trained anyway: \(different.stdout)")
        let model = try cnn(common + ["--model", "convnet", "--epochs", "2", "--seed", "4", "--batch-size", "16",
                                      "--learning-rate", "0.001", "--resume", ckpt])
        assertRefused(model, naming: ["--model: checkpoint mlp, given convnet"])
        let fewer = try cnn(common + ["--model", "mlp", "--epochs", "1", "--seed", "4", "--batch-size", "16", "--learning-rate", "0.001",
                                      "--resume", ckpt, "--checkpoint", ckpt])
        XCTAssertEqual(fewer.status, 0, fewer.all)  // 1 epoch planned, 1 done: nothing left, but allowed
        let overridden = try cnn(common + ["--model", "mlp", "--epochs", "2", "--seed", "4", "--batch-size", "16", "--learning-rate", "0.01",
                                           "--override-learning-rate", "--resume", ckpt])
        XCTAssertEqual(overridden.status, 0, overridden.all)
        XCTAssertTrue(overridden.stdout.contains("resumed from \(ckpt) after epoch 1"), overridden.stdout)
        // Fewer epochs than the checkpoint has done is refused; a checkpoint written before flags
        // were recorded still resumes, with a warning.
        let two = work + "/two.ckpt"
        let same = ["--model", "mlp", "--seed", "4", "--batch-size", "16", "--learning-rate", "0.001"]
        XCTAssertEqual(try cnn(common + same + ["--epochs", "2", "--checkpoint", two]).status, 0)
        assertRefused(try cnn(common + same + ["--epochs", "1", "--resume", two]), naming: ["has 2 epochs done, more than --epochs 1"])
        let file = try SafeTensors.load(two)
        let old = work + "/old.ckpt"
        try SafeTensors.save(file.tensors.map { ($0.name, $0.tensor) }, metadata: file.metadata.filter { !$0.key.hasPrefix("run/") }, to: old)
        let resumedOld = try cnn(common + same + ["--epochs", "3", "--resume", old])
        XCTAssertEqual(resumedOld.status, 0, resumedOld.all)
        XCTAssertTrue(resumedOld.stderr.contains("predates recorded flags"), resumedOld.all)
        let lonely = try cnn(common + ["--model", "mlp", "--override-learning-rate", "--epochs", "1"])
        assertRefused(lonely, naming: ["--override-learning-rate"])
    }

    // MARK: 4. Tampered checkpoint fields

    func testTamperedCheckpointFieldsAreRefusedByName() throws {
        func model() throws -> (Model, Adam) {
            let m = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: .relu), Dropout(rate: 0.2),
                                                            Dense(units: 2, activation: .softmax)], seed: 1)
            let adam = Adam(learningRate: 0.01)
            m.compile(optimizer: adam, loss: SparseCategoricalCrossentropy())
            return (m, adam)
        }
        let (m, adam) = try model()
        let x = Tensor(shape: [8, 4], elements: (0..<32).map { Float($0 % 7) / 7 }), y = Tensor(shape: [8], elements: (0..<8).map { Float($0 % 2) })
        let path = work + "/good.ckpt"
        try m.fit(x: x, y: y, batchSize: 4, epochs: 1, callbacks: [CheckpointCallback(path: path, optimizer: adam, run: ["epochs": "3"])],
                  verbose: .silent)
        let good = try SafeTensors.load(path)
        let cases: [(String, String?, String)] = [
            ("learning_rate", String((-0.5 as Float).bitPattern), "learning_rate"),
            ("learning_rate", String(Float.nan.bitPattern), "learning_rate"),
            ("learning_rate", String(Float.infinity.bitPattern), "learning_rate"),
            ("learning_rate", "0", "learning_rate"),
            ("rng", "0,0,0,0", "rng"),
            ("rng/dropout", "0,0,0,0", "rng/dropout"),
            ("epochs_done", String(Int.max), "epochs_done"),
            ("epochs_done", "2147483648", "epochs_done"),
            ("epochs_done", "4", "epochs_done"),
            ("epochs_done", "-1", "epochs_done"),
            ("epochs_done", "99999999999999999999999", "epochs_done"),
            ("optimizer_iterations", String(Int.max), "optimizer_iterations"),
            ("optimizer_iterations", String((1 << 53) + 1), "optimizer_iterations"),
            ("optimizer_iterations", nil, "optimizer_iterations"),
        ]
        XCTAssertNotNil(good.metadata["rng/dropout"], "layer name changed: \(good.metadata.keys.sorted())")
        for (key, value, field) in cases {
            var metadata = good.metadata
            metadata[key] = value
            let bad = work + "/bad.ckpt"
            try SafeTensors.save(good.tensors.map { ($0.name, $0.tensor) }, metadata: metadata, to: bad)
            let (fresh, freshAdam) = try model()
            let before = fresh.namedParameters.map { $0.parameter.value.elements }
            XCTAssertThrowsError(try Checkpoint.restore(model: fresh, optimizer: freshAdam, from: bad), "\(key)=\(value ?? "nil")") { error in
                XCTAssertTrue("\(error)".contains("'\(field)'"), "\(key)=\(value ?? "nil"): \(error)")
            }
            XCTAssertEqual(fresh.namedParameters.map { $0.parameter.value.elements }, before)
        }
        let (fresh, freshAdam) = try model()
        XCTAssertEqual(try Checkpoint.restore(model: fresh, optimizer: freshAdam, from: path), 1)
    }

    // MARK: 5. Divergence

    func testDivergenceWithoutAFiniteEpochSavesNothing() throws {
        let data = try makeData()
        let weights = work + "/w.safetensors"
        let run = try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "20", "--optimizer", "sgd",
                           "--learning-rate", "3e38", "--batch-size", "8", "--save", weights])
        assertRefused(run, naming: ["loss became"])
        XCTAssertTrue(run.stdout.contains("no epoch ended with a finite loss; nothing saved to \(weights)"), run.all)
        XCTAssertFalse(FileManager.default.fileExists(atPath: weights))
    }

    func testDivergenceAfterAFiniteEpochSavesThatEpochsWeights() throws {
        let data = try makeData()
        let ckpt = work + "/c.ckpt", weights = work + "/w.safetensors", good = work + "/good.safetensors"
        let common = ["train", "--model", "mlp", "--data", data, "--optimizer", "sgd", "--batch-size", "8", "--seed", "2"]
        XCTAssertEqual(try cnn(common + ["--epochs", "1", "--learning-rate", "0.01", "--checkpoint", ckpt, "--save", good]).status, 0)
        let run = try cnn(common + ["--epochs", "20", "--learning-rate", "3e38", "--override-learning-rate", "--resume", ckpt,
                                    "--save", weights])
        assertRefused(run, naming: ["loss became"])
        XCTAssertTrue(run.stdout.contains("saved the weights of epoch 1, the last epoch end with a finite loss, to \(weights)"), run.all)
        let saved = try SafeTensors.load(weights)
        for t in saved.tensors { XCTAssertTrue(t.tensor.elements.allSatisfy(\.isFinite), "\(t.name) is not finite") }
        XCTAssertEqual(try SafeTensors.load(good).tensors.map { $0.tensor.elements }, saved.tensors.map { $0.tensor.elements })
    }

    // MARK: 6. Signals

    /// Starts `cnn`, waits until `ready` holds for its stdout (or 60 s), sends `sig`, waits for it.
    private func interrupt(_ arguments: [String], signal sig: Int32, when ready: (String) -> Bool) throws -> Run {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let outPath = work + "/sig.stdout", errPath = work + "/sig.stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline && !ready(String(decoding: (try? bytes(outPath)) ?? Data(), as: UTF8.self)) {
            usleep(10_000)
        }
        usleep(100_000)
        kill(process.processIdentifier, sig)
        let stop = Date().addingTimeInterval(30)
        while process.isRunning && Date() < stop { usleep(10_000) }
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: try bytes(outPath), as: UTF8.self),
                   stderr: String(decoding: try bytes(errPath), as: UTF8.self), timedOut: timedOut)
    }

    func testSigintNamesTheLastCheckpointAndExits130() throws {
        let data = try makeData()
        let ckpt = work + "/c.ckpt"
        let run = try interrupt(["train", "--model", "mlp", "--data", data, "--epochs", "100000", "--batch-size", "64",
                                 "--checkpoint", ckpt], signal: SIGINT) { _ in FileManager.default.fileExists(atPath: ckpt) }
        XCTAssertFalse(run.timedOut)
        XCTAssertEqual(run.status, 130, run.all)
        XCTAssertTrue(run.stderr.contains("interrupted by SIGINT; the last checkpoint is \(ckpt) (after epoch"), run.stderr)
        XCTAssertTrue(run.stderr.contains("--resume \(ckpt)"), run.stderr)
    }

    func testSigtermWithoutACheckpointSaysSoAndExits143() throws {
        let data = try makeData()
        let run = try interrupt(["train", "--model", "mlp", "--data", data, "--epochs", "100000", "--batch-size", "64"],
                                signal: SIGTERM) { $0.contains("Epoch 2/") }
        XCTAssertFalse(run.timedOut)
        XCTAssertEqual(run.status, 143, run.all)
        XCTAssertTrue(run.stderr.contains("interrupted by SIGTERM; there is no checkpoint"), run.stderr)
    }

    // MARK: 7. Small messages

    func testSmallFlagMessages() throws {
        let data = try makeData()
        let tiny = try cnn(["train", "--data", data, "--learning-rate", "1e-50"])
        assertRefused(tiny, naming: ["--learning-rate 1e-50 is too small for Float32"])
        let huge = try cnn(["train", "--data", data, "--learning-rate", "1e50"])
        assertRefused(huge, naming: ["--learning-rate 1e50 is too large for Float32"])
        let threads = try cnn(["train", "--data", data, "--threads", "100000"])
        assertRefused(threads, naming: ["--threads must be at most \(256), got 100000"])
        for command in ["transfer", "celsius"] {
            let run = try cnn([command, "--learning-rate", "1e-50"])
            assertRefused(run, naming: ["--learning-rate 1e-50 is too small for Float32"])
        }
        let alpha = try cnn(["transfer", "--base", "mobilenet", "--alpha", "1e30", "--data", data])
        assertRefused(alpha, naming: ["--alpha must be in (0, 4.0], got 1e+30"])
        let file = work + "/not-a-dir"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let dataFile = try cnn(["train", "--model", "mlp", "--epochs", "1", "--data", file])
        assertRefused(dataFile, naming: ["--data \(file) is a file, not a directory"])
    }

    /// These overflowed or aborted allocating (issue 13); now refused by validate().
    func testSummaryRefusesHugeShapesAndClassCounts() throws {
        assertRefused(try cnn(["summary", "--classes", "2000000000"]), naming: ["--classes must be at most 65536"])
        assertRefused(try cnn(["summary", "--input-shape", "9999999999x9999999999x9999999999"]), naming: ["--input-shape", "too large"])
        assertRefused(try cnn(["summary", "--input-shape", "4096x4096x3"]), naming: ["--input-shape 4096x4096x3 is too large"])
        let largest = try cnn(["summary", "--model", "mobilenet", "--input-shape", "224x224x3", "--classes", "1000"])
        XCTAssertEqual(largest.status, 0, largest.all)
    }

    func testATestSetOfAnotherShapeNamesTheTestFile() throws {
        let data = try makeData()
        let dir = work + "/mixed"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in [DataSets.trainImagesFile, DataSets.trainLabelsFile, DataSets.testLabelsFile + ".gz"] {
            try FileManager.default.copyItem(atPath: data + "/" + name, toPath: dir + "/" + name)
        }
        try IDXFile.write([UInt8](repeating: 7, count: 32 * 32 * 32), dimensions: [32, 32, 32], to: dir + "/" + DataSets.testImagesFile)
        let run = try cnn(["train", "--model", "mlp", "--epochs", "1", "--data", dir])
        assertRefused(run, naming: [DataSets.testImagesFile + " has images of 32×32", "training images are 28×28"])
    }

    // MARK: 8. Flush order

    func testProgressLinesDoNotLandInsideTheSummaryTable() throws {
        let data = try makeData()
        let run = try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "2"])
        XCTAssertEqual(run.status, 0, run.all)
        let out = run.stdout
        let total = try XCTUnwrap(out.range(of: "Total params"), out)
        let firstEpoch = try XCTUnwrap(out.range(of: "Epoch 1/"), out)
        XCTAssertLessThan(total.lowerBound, firstEpoch.lowerBound, out)
        let test = try XCTUnwrap(out.range(of: "test loss:"), out)
        let lastEpoch = try XCTUnwrap(out.range(of: "Epoch 2/"), out)
        XCTAssertLessThan(lastEpoch.lowerBound, test.lowerBound, out)
    }
}
