import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// A test case that runs the built `cnn` executable as a subprocess on a tiny MNIST-format directory.
class CLITestCase: XCTestCase {
    static var dataDirectory: String?
    var work = ""

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("nn-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: work)
    }

    // MARK: Helpers

    /// The `cnn` binary in the build products directory (next to the test bundle).
    func executable() throws -> URL { try CNNProcess.executable() }

    typealias Run = CNNProcess.Run

    /// Runs `cnn` with `arguments`, failing the test if it is killed after `timeout` seconds.
    func cnn(_ arguments: [String], timeout: TimeInterval = 120, file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let run = try CNNProcess.run(arguments, timeout: timeout)
        if run.timedOut {
            XCTFail("cnn \(arguments.joined(separator: " ")) did not finish within \(timeout) s", file: file, line: line)
        }
        return run
    }

    /// 64 training and 32 test 28×28 images of 10 classes (a bright band whose row depends on the
    /// class, plus noise), written with the library's IDX writer; the test labels gzipped.
    func makeData() throws -> String {
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
    func parseTestAccuracy(in output: String) -> String? {
        guard let range = output.range(of: #"test accuracy: [0-9.]+"#, options: .regularExpression) else { return nil }
        return String(output[range].dropFirst("test accuracy: ".count))
    }

}

/// Runs the built `cnn` executable as a subprocess (with one OpenBLAS thread), for every test that
/// exercises the command line.
enum CNNProcess {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut = false
        var all: String { stdout + stderr }
    }

    /// The `cnn` binary in the build products directory (next to the test bundle).
    static func executable() throws -> URL {
        let bundle = Bundle(for: CLITestCase.self).bundleURL
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

    /// Runs `cnn` with `arguments`; after `timeout` seconds it is terminated and `timedOut` is set.
    static func run(_ arguments: [String], timeout: TimeInterval = 120) throws -> Run {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("nn-cnn-\(UUID().uuidString)").path
        let outPath = base + ".stdout", errPath = base + ".stderr"
        defer { try? FileManager.default.removeItem(atPath: outPath); try? FileManager.default.removeItem(atPath: errPath) }
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
        let timedOut = process.isRunning
        if timedOut { process.terminate() }
        process.waitUntilExit()
        try out.close()
        try err.close()
        let stdout = String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self)
        let stderr = String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self)
        return Run(status: process.terminationStatus, stdout: stdout, stderr: stderr, timedOut: timedOut)
    }
}
