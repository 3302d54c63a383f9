import XCTest
import NN

/// The `cnn` executable run as a subprocess on a tiny MNIST-format directory: train, evaluate,
/// summary, flag validation and a missing data directory.
final class CLITests: XCTestCase {
    private static var dataDirectory: String?
    private var work = ""

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("nn-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: work)
    }

    // MARK: Helpers

    /// The `cnn` binary in the build products directory (next to the test bundle).
    private func executable() throws -> URL {
        let bundle = Bundle(for: Self.self).bundleURL
        // On macOS the bundle is a directory inside the products directory; on Linux the .xctest
        // is a file there and `bundleURL` may already be the products directory.
        let candidates = [bundle.deletingLastPathComponent(), bundle,
                          Bundle.main.bundleURL, Bundle.main.executableURL?.deletingLastPathComponent()].compactMap { $0 }
        for dir in candidates {
            let url = dir.appendingPathComponent("cnn")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: url.path) {
                return url
            }
        }
        throw NNError.invalidArgument("the cnn executable is not in the products directory (looked in \(candidates.map(\.path))); build it with `swift build --build-tests`")
    }

    private struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    /// Runs `cnn` with `arguments`, killing it after `timeout` seconds.
    private func cnn(_ arguments: [String], timeout: TimeInterval = 120, file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let outPath = work + "/stdout-\(UUID().uuidString)", errPath = work + "/stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("cnn \(arguments.joined(separator: " ")) did not finish within \(timeout) s", file: file, line: line)
        }
        process.waitUntilExit()
        try out.close()
        try err.close()
        let stdout = String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self)
        let stderr = String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self)
        return Run(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// 64 training and 32 test 28×28 images of 10 classes (a bright band whose row depends on the
    /// class, plus noise), written with the library's IDX writer; the test labels gzipped.
    private func makeData() throws -> String {
        if let d = Self.dataDirectory, FileManager.default.fileExists(atPath: d) { return d }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-cli-data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: 11)
        func images(_ n: Int) -> ([UInt8], [UInt8]) {
            var pixels = [UInt8](repeating: 0, count: n * 28 * 28), labels = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                let c = i % 10
                labels[i] = UInt8(c)
                for r in 0..<28 {
                    for col in 0..<28 {
                        let band = r / 2 == c + 2
                        pixels[i * 784 + r * 28 + col] = band ? 200 + UInt8(rng.next() % 56) : UInt8(rng.next() % 40)
                    }
                }
            }
            return (pixels, labels)
        }
        let (trainX, trainY) = images(64), (testX, testY) = images(32)
        try IDXFile.write(trainX, dimensions: [64, 28, 28], to: dir + "/" + DataSets.trainImagesFile)
        try IDXFile.write(trainY, dimensions: [64], to: dir + "/" + DataSets.trainLabelsFile)
        try IDXFile.write(testX, dimensions: [32, 28, 28], to: dir + "/" + DataSets.testImagesFile)
        try IDXFile.write(testY, dimensions: [32], to: dir + "/" + DataSets.testLabelsFile + ".gz", gzip: true)
        Self.dataDirectory = dir
        return dir
    }

    override class func tearDown() {
        if let d = dataDirectory { try? FileManager.default.removeItem(atPath: d) }
        dataDirectory = nil
        super.tearDown()
    }

    /// "test accuracy: 0.1234" → "0.1234".
    private func parseTestAccuracy(in output: String) -> String? {
        guard let range = output.range(of: #"test accuracy: [0-9.]+"#, options: .regularExpression) else { return nil }
        return String(output[range].dropFirst("test accuracy: ".count))
    }

    // MARK: Tests

    func testTrainThenEvaluate() throws {
        let data = try makeData()
        let weights = work + "/mlp.safetensors", historyPath = work + "/history.json"
        let train = try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--history-json", historyPath, "--save", weights])
        XCTAssertEqual(train.status, 0, train.all)
        XCTAssertTrue(train.stdout.contains("test accuracy"), train.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: weights))
        let trained = try XCTUnwrap(parseTestAccuracy(in: train.stdout), train.stdout)

        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: historyPath))) as? [String: Any])
        for key in ["model", "epochs", "test", "train_samples_per_second"] { XCTAssertNotNil(json[key], "history lacks \(key): \(json)") }
        XCTAssertEqual(json["model"] as? String, "mlp")
        let epochs = try XCTUnwrap(json["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.count, 1)
        XCTAssertEqual(Set(epochs[0].keys), ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"])
        XCTAssertEqual(epochs[0]["epoch"] as? Int, 1)
        let test = try XCTUnwrap(json["test"] as? [String: Any])
        XCTAssertEqual(Set(test.keys), ["loss", "accuracy"])
        let accuracy = try XCTUnwrap(test["accuracy"] as? Double)
        XCTAssertEqual(String(format: "%.4f", accuracy), trained)
        XCTAssertGreaterThan(try XCTUnwrap(json["train_samples_per_second"] as? Double), 0)

        let evaluate = try cnn(["evaluate", "--model", "mlp", "--weights", weights, "--data", data])
        XCTAssertEqual(evaluate.status, 0, evaluate.all)
        XCTAssertEqual(parseTestAccuracy(in: evaluate.stdout), trained, "evaluate: \(evaluate.stdout)\ntrain: \(train.stdout)")

        // Weights of the wrong model are refused with a message naming the file.
        let wrong = try cnn(["evaluate", "--model", "convnet", "--weights", weights, "--data", data])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains(weights), wrong.all)
    }

    func testSummaryPrintsTable() throws {
        let run = try cnn(["summary", "--model", "convnet"])
        XCTAssertEqual(run.status, 0, run.all)
        for text in ["conv2d (Conv2D)", "(None, 26, 26, 32)", "320", "54,090", "Total params: 54,410"] {
            XCTAssertTrue(run.stdout.contains(text), "summary lacks \(text):\n\(run.stdout)")
        }
    }

    func testBadFlagsExitNonZeroNamingTheFlag() throws {
        let cases: [([String], String)] = [
            (["--epochs", "-1"], "--epochs"),
            (["--epochs=-1"], "--epochs"),
            (["--epochs", "0"], "--epochs"),
            (["--batch-size", "0"], "--batch-size"),
            (["--learning-rate", "abc"], "--learning-rate"),
            (["--learning-rate", "-0.1"], "--learning-rate"),
            (["--validation-split", "1.5"], "--validation-split"),
            (["--model", "nope"], "--model"),
            (["--optimizer", "adagrad"], "--optimizer"),
        ]
        for (flags, name) in cases {
            let run = try cnn(["train"] + flags + ["--data", work])
            XCTAssertNotEqual(run.status, 0, "\(flags) exited 0")
            XCTAssertTrue(run.all.contains(name), "\(flags): message does not name \(name): \(run.all)")
            XCTAssertFalse(run.all.contains("Fatal error"), "\(flags) crashed: \(run.all)")
        }
    }

    func testMissingDataDirectoryIsAnError() throws {
        let missing = work + "/no-such-data"
        let run = try cnn(["train", "--model", "mlp", "--data", missing, "--epochs", "1"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(missing), run.all)
        XCTAssertFalse(run.all.contains("Fatal error"), run.all)
        // An existing directory without the files names the missing file.
        let empty = try cnn(["evaluate", "--model", "mlp", "--weights", work + "/w", "--data", work])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains(DataSets.trainImagesFile), empty.all)
    }
}
